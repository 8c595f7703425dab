//! Playback sessions, key gating, the daily quota and media capabilities,
//! against a real server on both databases. The server's clock is moved
//! forward instead of waiting (`state.clock.advance`), so five minutes of
//! listening take milliseconds.
//!
//! The quota's promise (docs/quota.md): a free account can decrypt at most
//! its daily limit plus one key period of audio a day, whatever its client
//! does. The attacks a modified client can try are written out here, each
//! checked with a [`Ledger`] of the keys it actually obtained.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use mist_core::api::{CompleteSessionRequest, HeartbeatRequest, Plan, Quota, Role, UpdateUserRequest};
use mist_core::client::{Client, ClientError};
use mist_core::hls::{KeyRef, MP3_CODECS, MediaSegmentRef, Variant, master_playlist, media_playlist};
use mist_server::quota::{SESSION_IDLE_MS, key_period_ms, new_key_period_ms};
use mist_server::testing::catalogue::{FakeTrack, insert_ready_track, rekey_track};
use mist_server::testing::upload::{admin_client, user_client};
use mist_server::testing::{Backend, Store, TestApp, TestOptions, spawn_app, spawn_with};

mist_server::on_both!(
    an_honest_listener_is_charged_what_it_heard_then_refused,
    skipping_after_five_seconds_costs_about_five_seconds,
    seeking_across_three_tracks_with_six_sessions_is_charged,
    a_client_that_never_reports_gets_two_keys_then_nothing,
    a_session_per_pair_of_keys_is_charged,
    fifty_sessions_taking_keys_zero_and_one_are_charged,
    refetching_a_key_or_another_renditions_is_free,
    a_hundred_parallel_keys_with_two_periods_left_give_exactly_two,
    three_users_racing_keys_and_reports_each_get_exactly_their_quota,
    tracks_stored_with_thirty_second_keys_are_charged_by_them,
    the_session_cap_closes_the_oldest,
    the_day_boundary_resets_the_limit,
    premium_and_admin_are_never_charged_or_refused,
    forty_completions_without_unlocked_audio_add_no_play,
    a_real_listen_counts_one_play_an_hour,
    concurrent_reports_neither_lose_nor_double_time,
    stale_reports_count_nothing_and_sessions_are_private,
    bad_reports_are_refused,
    opens_reports_and_keys_are_rate_limited_per_user,
    media_urls_are_capabilities,
    the_hot_path_cache_never_serves_a_stale_plan_token_user_or_track,
);

const LIMIT_MS: i64 = 300_000;

fn period() -> i64 {
    new_key_period_ms()
}

async fn admin_id(app: &TestApp) -> String {
    mist_server::db::users::find_by_email(&app.state.db, mist_server::testing::ADMIN_EMAIL)
        .await
        .expect("db")
        .expect("admin")
        .id
}

/// A made-up ready track of `seconds` (keys in the database, no audio).
async fn track(app: &TestApp, seconds: f64) -> String {
    track_with(app, seconds, None).await
}

async fn track_with(app: &TestApp, seconds: f64, segments_per_key: Option<i64>) -> String {
    let fake = FakeTrack {
        title: "Long Song".into(),
        duration_s: seconds,
        segments_per_key,
        ..Default::default()
    };
    insert_ready_track(&app.state, &admin_id(app).await, &fake).await
}

fn beat(seq: u64, position_s: f64) -> HeartbeatRequest {
    HeartbeatRequest {
        seq,
        position_s,
        playing: true,
    }
}

fn done(seq: u64, position_s: f64) -> CompleteSessionRequest {
    CompleteSessionRequest { seq, position_s }
}

fn at_key(k: u64) -> f64 {
    (k as i64 * period()) as f64 / 1000.0
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, ClientError>, status: u16, code: &str) {
    let err = result.expect_err("refused");
    assert_eq!((err.status(), err.code()), (Some(status), Some(code)), "{err}");
}

fn used_ms(quota: &Quota) -> i64 {
    (quota.used_s * 1000.0).round() as i64
}

/// The keys a client actually obtained today, and the audio they decrypt.
#[derive(Default)]
struct Ledger {
    /// Track → (duration, segments per key).
    tracks: HashMap<String, (i64, i64)>,
    keys: BTreeSet<(String, u64)>,
}

impl Ledger {
    fn track(&mut self, id: &str, seconds: f64, segments_per_key: i64) {
        self.tracks
            .insert(id.to_owned(), ((seconds * 1000.0).round() as i64, segments_per_key));
    }

    /// Asks for key `k` of `track`; records it when given.
    async fn take(&mut self, client: &Client, track: &str, k: u64) -> Result<(), ClientError> {
        let key = client.key(track, k).await?;
        assert_eq!(key.len(), 16);
        self.keys.insert((track.to_owned(), k));
        Ok(())
    }

    /// Milliseconds of audio the obtained keys decrypt.
    fn unlocked_ms(&self) -> i64 {
        self.keys
            .iter()
            .map(|(track, k)| {
                let (duration, spk) = self.tracks[track];
                let p = key_period_ms(spk);
                let count = (duration + p - 1) / p;
                mist_server::quota::key_charge_ms(*k as i64, count, p, duration)
            })
            .sum()
    }

    /// The promise: what was unlocked is what was charged, and it is at most
    /// the limit plus one key period.
    #[track_caller]
    fn check(&self, quota: &Quota, largest_period_ms: i64) {
        let unlocked = self.unlocked_ms();
        assert!(
            unlocked <= LIMIT_MS + largest_period_ms,
            "unlocked {unlocked} ms with a {LIMIT_MS} ms limit"
        );
        assert_eq!(used_ms(quota), unlocked, "what was unlocked was charged: {quota:?}");
    }
}

async fn an_honest_listener_is_charged_what_it_heard_then_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 400.0).await;
    let ann = user_client(&app, "ann").await;
    let mut ledger = Ledger::default();
    ledger.track(&id, 400.0, 1);
    let session = ann.open_session(&id).await.expect("open");
    assert_eq!(session.quota.limit_s, Some(300.0));
    assert!((session.key_period_s - 6.008).abs() < 0.01, "{}", session.key_period_s);
    // The player: a key about a second before its segment plays, reports
    // every 10 s and before each key.
    ledger.take(&ann, &id, 0).await.expect("first key");
    let (mut heard_ms, mut seq, mut next) = (0i64, 0u64, 1u64);
    let refused = loop {
        app.state.clock.advance(Duration::from_millis(500));
        heard_ms += 500;
        // The playhead reaches the end of what was unlocked: the player stops.
        if heard_ms >= next as i64 * period() {
            break None;
        }
        if heard_ms % 10_000 == 0 || heard_ms + 1_000 >= next as i64 * period() {
            seq += 1;
            ann.heartbeat(&session.session_id, &beat(seq, heard_ms as f64 / 1000.0))
                .await
                .expect("heartbeat");
        }
        if heard_ms + 1_000 >= next as i64 * period() {
            match ledger.take(&ann, &id, next).await {
                Ok(()) => next += 1,
                Err(e) => break Some(e),
            }
        }
    };
    let refused = refused.expect("keys were refused once the quota was used");
    assert_eq!(refused.code(), Some("quota_exceeded"), "{refused}");
    // It plays out what it holds.
    let heard_ms = next as i64 * period();
    let quota = ann.quota().await.expect("quota");
    ledger.check(&quota, period());
    let charged = used_ms(&quota);
    assert!(
        charged >= heard_ms && charged <= heard_ms + period(),
        "charged {charged} ms for {heard_ms} ms heard"
    );
    assert!(charged >= LIMIT_MS, "refused before the limit: {charged} ms");
    assert_eq!(quota.remaining_s, Some(0.0));
    assert_code(ann.open_session(&id).await, 429, "quota_exceeded");
    assert_code(ann.key(&id, next).await, 429, "quota_exceeded");
}

async fn skipping_after_five_seconds_costs_about_five_seconds(backend: Backend) {
    let app = spawn_app(backend).await;
    let bob = user_client(&app, "bob").await;
    let mut ledger = Ledger::default();
    for _ in 0..10 {
        let id = track(&app, 200.0).await;
        ledger.track(&id, 200.0, 1);
        let session = bob.open_session(&id).await.expect("open");
        ledger.take(&bob, &id, 0).await.expect("key 0");
        // Five seconds in, a key lead of a second short of key 1: skip.
        app.state.clock.advance(Duration::from_secs(5));
        bob.complete_session(&session.session_id, &done(1, 5.0))
            .await
            .expect("complete");
    }
    let quota = bob.quota().await.expect("quota");
    ledger.check(&quota, period());
    assert!(
        used_ms(&quota) <= 10 * (5_000 + period()),
        "charged {} ms for ten 5 s listens",
        used_ms(&quota)
    );
}

async fn seeking_across_three_tracks_with_six_sessions_is_charged(backend: Backend) {
    let app = spawn_app(backend).await;
    let cat = user_client(&app, "cat").await;
    let mut ledger = Ledger::default();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let id = track(&app, 600.0).await;
        ledger.track(&id, 600.0, 1);
        for _ in 0..2 {
            sessions.push((id.clone(), cat.open_session(&id).await.expect("open").session_id));
        }
    }
    // Each session walks its playhead across the track two key periods per
    // report, as fast as the server answers, taking every key in reach.
    let mut refused = 0;
    let mut seq = 0;
    for step in 0..15u64 {
        for (n, (id, session)) in sessions.iter().enumerate() {
            seq += 1;
            let k = step * 2 + (n as u64 % 2);
            if cat.heartbeat(session, &beat(seq, at_key(k))).await.is_err() {
                continue; // closed by the cap
            }
            for k in k.saturating_sub(1)..=k + 1 {
                match ledger.take(&cat, id, k).await {
                    Ok(()) => {}
                    Err(e) if e.code() == Some("quota_exceeded") => refused += 1,
                    Err(e) => assert!(matches!(e.code(), Some("key_out_of_range" | "not_found")), "{e}"),
                }
            }
        }
        app.state.clock.advance(Duration::from_secs(1));
    }
    assert!(refused > 0, "the quota never ran out");
    ledger.check(&cat.quota().await.expect("quota"), period());
}

async fn a_client_that_never_reports_gets_two_keys_then_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 300.0).await;
    let dan = user_client(&app, "dan").await;
    let mut ledger = Ledger::default();
    ledger.track(&id, 300.0, 1);
    assert_code(dan.key(&id, 0).await, 403, "no_session");
    let session = dan.open_session(&id).await.expect("open");
    ledger.take(&dan, &id, 0).await.expect("key 0");
    ledger.take(&dan, &id, 1).await.expect("key 1");
    for k in 2..10 {
        assert_code(dan.key(&id, k).await, 403, "key_out_of_range");
    }
    assert_code(dan.key(&id, 99).await, 404, "not_found");
    ledger.check(&dan.quota().await.expect("quota"), period());
    // Silence ends the session: no keys, no reports.
    app.state
        .clock
        .advance(Duration::from_millis(SESSION_IDLE_MS as u64 + 1_000));
    assert_code(dan.key(&id, 0).await, 403, "no_session");
    assert_code(
        dan.heartbeat(&session.session_id, &beat(1, 6.0)).await,
        409,
        "session_expired",
    );
    ledger.check(&dan.quota().await.expect("quota"), period());
}

async fn a_session_per_pair_of_keys_is_charged(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 900.0).await;
    let eve = user_client(&app, "eve").await;
    let mut ledger = Ledger::default();
    ledger.track(&id, 900.0, 1);
    let mut k = 0;
    let mut sessions = 0;
    loop {
        let session = match eve.open_session(&id).await {
            Ok(session) => session,
            Err(e) => {
                assert_eq!(e.code(), Some("quota_exceeded"), "{e}");
                break;
            }
        };
        sessions += 1;
        // One false report (a seek), then the pair of keys it reaches.
        app.state.clock.advance(Duration::from_secs(1));
        eve.heartbeat(&session.session_id, &beat(1, at_key(k)))
            .await
            .expect("seek");
        let first = ledger.take(&eve, &id, k).await;
        let second = ledger.take(&eve, &id, k + 1).await;
        if first.is_err() || second.is_err() {
            break;
        }
        k += 2;
        app.state.clock.advance(Duration::from_secs(2));
    }
    assert!(sessions > 10, "only {sessions} sessions");
    ledger.check(&eve.quota().await.expect("quota"), period());
}

async fn fifty_sessions_taking_keys_zero_and_one_are_charged(backend: Backend) {
    let app = spawn_app(backend).await;
    let fay = user_client(&app, "fay").await;
    let mut ledger = Ledger::default();
    let mut refused = 0;
    for _ in 0..50 {
        let id = track(&app, 180.0).await;
        ledger.track(&id, 180.0, 1);
        // Openings are rate limited per minute of the server's clock.
        app.state.clock.advance(Duration::from_secs(3));
        if fay.open_session(&id).await.is_err() {
            refused += 1;
            continue;
        }
        for k in 0..2 {
            if ledger.take(&fay, &id, k).await.is_err() {
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "fifty tracks' first keys fit in the quota?");
    ledger.check(&fay.quota().await.expect("quota"), period());
}

async fn refetching_a_key_or_another_renditions_is_free(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 60.0).await;
    store_hls(&app, &id, 10).await;
    let gus = user_client(&app, "gus").await;
    let session = gus.open_session(&id).await.expect("open");
    let first = gus.key_grant(&id, 0).await.expect("key");
    let charged = first.quota.clone().expect("the key answer carries the quota");
    assert_eq!(used_ms(&charged), period());
    assert_eq!(charged, gus.quota().await.expect("quota"), "the header is /me/quota");
    // Rebuffering, seeking back: the same key again, free.
    for _ in 0..3 {
        let again = gus.key_grant(&id, 0).await.expect("again");
        assert_eq!(again.key, first.key);
        assert_eq!(used_ms(&again.quota.expect("quota")), period());
    }
    // Another rendition names the very same key.
    let master = reqwest::get(&session.master_url).await.expect("master");
    assert_eq!(master.status(), 200);
    let text = master.text().await.expect("text");
    let base = session.master_url.rsplit_once('/').expect("url").0.to_owned();
    let mut key_uris = Vec::new();
    for variant in text.lines().filter(|l| l.ends_with("index.m3u8")) {
        let media = reqwest::get(format!("{base}/{variant}"))
            .await
            .expect("media")
            .text()
            .await
            .expect("text");
        let parsed = mist_core::hls::parse_media(media.as_bytes()).expect("valid playlist");
        key_uris.push(parsed.segments[0].key.clone().expect("key").uri.expect("uri"));
    }
    assert_eq!(key_uris.len(), 3);
    assert!(key_uris.windows(2).all(|w| w[0] == w[1]), "{key_uris:?}");
    assert_eq!(key_uris[0], format!("{}/api/v1/tracks/{id}/keys/0", app.base_url));
    assert_eq!(used_ms(&gus.quota().await.expect("quota")), period());
    // Key 1 is charged once, whichever rendition asks.
    gus.key(&id, 1).await.expect("key 1");
    gus.key(&id, 1).await.expect("key 1 again");
    assert_eq!(used_ms(&gus.quota().await.expect("quota")), 2 * period());
    // A re-fetch's header is read fresh (on PostgreSQL with the token's
    // user), never what the first fetch of that key saw.
    let again = gus.key_grant(&id, 0).await.expect("key 0 after key 1");
    assert_eq!(used_ms(&again.quota.expect("quota")), 2 * period());
}

/// A server whose free plan has two 6 s keys' worth a day (12 s: the second
/// ends just past it) and whose rate limits let a hundred requests race.
async fn two_keys_a_day_app(backend: Backend) -> TestApp {
    spawn_with(TestOptions {
        tweak: |s| {
            s.free_daily_seconds = 12;
            s.max_open_sessions = 100;
            s.session_opens_per_minute = 1_000;
            s.key_requests_per_minute = 1_000;
            s.heartbeats_per_minute = 1_000;
        },
        ..TestOptions::new(backend)
    })
    .await
}

async fn a_hundred_parallel_keys_with_two_periods_left_give_exactly_two(backend: Backend) {
    let app = two_keys_a_day_app(backend).await;
    let hal = user_client(&app, "hal").await;
    // Fifty tracks, a session on each: keys 0 and 1 of each are in reach.
    let mut ids = Vec::new();
    for _ in 0..50 {
        let id = track(&app, 60.0).await;
        hal.open_session(&id).await.expect("open");
        ids.push(id);
    }
    let requests = ids
        .iter()
        .flat_map(|id| [0u64, 1].map(|k| (id.clone(), k)))
        .map(|(id, k)| {
            let hal = hal.clone();
            async move { hal.key(&id, k).await }
        });
    let answers = futures::future::join_all(requests).await;
    let given = answers.iter().filter(|a| a.is_ok()).count();
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!((refused.status(), refused.code()), (Some(429), Some("quota_exceeded")));
    }
    assert_eq!(given, 2, "of 100 concurrent keys");
    assert_eq!(used_ms(&hal.quota().await.expect("quota")), 2 * period());
}

/// Keys and reports of several users at once: on SQLite they share
/// transactions (db/sessions.rs batches the hot-path writes), so one user's
/// refusal must neither undo another's charge nor leave a key recorded as
/// given (a later request for it would then be free); on PostgreSQL each is
/// one statement. Three free users with two keys' worth left each ask for
/// forty keys at once while reporting on every session.
async fn three_users_racing_keys_and_reports_each_get_exactly_their_quota(backend: Backend) {
    let app = two_keys_a_day_app(backend).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(track(&app, 60.0).await);
    }
    let mut users = Vec::new();
    for name in ["ada", "bea", "cai"] {
        let client = user_client(&app, name).await;
        let mut sessions = Vec::new();
        for id in &ids {
            sessions.push(client.open_session(id).await.expect("open").session_id);
        }
        users.push((client, sessions));
    }
    // Interleaved: key k of track t for every user, then the next.
    let mut keys = Vec::new();
    let mut reports = Vec::new();
    for (t, id) in ids.iter().enumerate() {
        for k in [0u64, 1] {
            for (u, (client, sessions)) in users.iter().enumerate() {
                if k == 0 {
                    let client = client.clone();
                    let session = sessions[t].clone();
                    reports.push(async move { client.heartbeat(&session, &beat(1, 0.5)).await });
                }
                let client = client.clone();
                let id = id.clone();
                keys.push(async move { (u, id.clone(), k, client.key(&id, k).await) });
            }
        }
    }
    let (answers, reported) =
        futures::future::join(futures::future::join_all(keys), futures::future::join_all(reports)).await;
    for report in reported {
        report.expect("every report is applied");
    }
    let mut given: Vec<Vec<(String, u64)>> = vec![Vec::new(); users.len()];
    for (u, id, k, answer) in answers {
        match answer {
            Ok(key) => {
                assert_eq!(key.len(), 16);
                given[u].push((id, k));
            }
            Err(refused) => assert_eq!(
                (refused.status(), refused.code()),
                (Some(429), Some("quota_exceeded")),
                "{refused}"
            ),
        }
    }
    for (u, (client, _)) in users.iter().enumerate() {
        assert_eq!(given[u].len(), 2, "user {u} of 40 concurrent keys");
        assert_eq!(used_ms(&client.quota().await.expect("quota")), 2 * period());
        // Asked again: the two given are free, no refused one was kept.
        for id in &ids {
            for k in [0u64, 1] {
                let again = client.key(id, k).await;
                if given[u].contains(&(id.clone(), k)) {
                    again.expect("a key given today is free again");
                } else {
                    assert_code(again, 429, "quota_exceeded");
                }
            }
        }
        assert_eq!(used_ms(&client.quota().await.expect("quota")), 2 * period());
    }
}

async fn tracks_stored_with_thirty_second_keys_are_charged_by_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track_with(&app, 100.0, Some(5)).await;
    let ivy = user_client(&app, "ivy").await;
    let session = ivy.open_session(&id).await.expect("open");
    let legacy = key_period_ms(5);
    assert!((session.key_period_s * 1000.0 - legacy as f64).abs() < 1.0);
    let mut ledger = Ledger::default();
    ledger.track(&id, 100.0, 5);
    ledger.take(&ivy, &id, 0).await.expect("key 0");
    ledger.take(&ivy, &id, 1).await.expect("key 1");
    assert_code(ivy.key(&id, 2).await, 403, "key_out_of_range");
    ivy.heartbeat(&session.session_id, &beat(1, 61.0)).await.expect("seek");
    ledger.take(&ivy, &id, 3).await.expect("the last key");
    let quota = ivy.quota().await.expect("quota");
    ledger.check(&quota, legacy);
    assert_eq!(used_ms(&quota), 2 * legacy + (100_000 - 3 * legacy));
}

async fn the_session_cap_closes_the_oldest(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 300.0).await;
    let joe = user_client(&app, "joe").await;
    let mut opened = Vec::new();
    for _ in 0..3 {
        opened.push(joe.open_session(&id).await.expect("open").session_id);
        app.state.clock.advance(Duration::from_millis(10));
    }
    for (seq, session) in opened.iter().enumerate() {
        joe.heartbeat(session, &beat(seq as u64 + 1, 1.0)).await.expect("open");
    }
    // A fourth device: the first session is closed, the others go on.
    let fourth = joe.open_session(&id).await.expect("open").session_id;
    assert_code(joe.heartbeat(&opened[0], &beat(9, 2.0)).await, 409, "session_closed");
    for session in [&opened[1], &opened[2], &fourth] {
        joe.heartbeat(session, &beat(10, 2.0)).await.expect("still open");
    }
    let history = joe.history(None).await.expect("history");
    assert_eq!(history.items.len(), 4);
    // Another user's sessions are not touched.
    let kim = user_client(&app, "kim").await;
    let theirs = kim.open_session(&id).await.expect("open").session_id;
    for _ in 0..3 {
        joe.open_session(&id).await.expect("open");
    }
    kim.heartbeat(&theirs, &beat(1, 1.0))
        .await
        .expect("kim's session is hers");
}

async fn the_day_boundary_resets_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track_with(&app, 600.0, Some(5)).await;
    let lea = user_client(&app, "lea").await;
    let (_, spent) = mist_server::testing::catalogue::spend_the_days_quota(&app, &lea).await;
    assert_eq!(spent.remaining_s, Some(0.0));
    assert_code(lea.open_session(&id).await, 429, "quota_exceeded");
    // Move to just after the reset time the server announced.
    let wait = (spent.resets_at - app.state.clock.now())
        .to_std()
        .expect("reset is ahead")
        + Duration::from_secs(1);
    app.state.clock.advance(wait);
    let fresh = lea.quota().await.expect("quota");
    assert_eq!((fresh.used_s, fresh.remaining_s), (0.0, Some(300.0)));
    assert!(fresh.resets_at > spent.resets_at);
    lea.open_session(&id).await.expect("a new day, a new session");
    // Keys unlocked yesterday are charged again today.
    lea.key(&id, 0).await.expect("key 0");
    assert_eq!(used_ms(&lea.quota().await.expect("quota")), key_period_ms(5));
}

async fn premium_and_admin_are_never_charged_or_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 900.0).await;
    let max = user_client(&app, "max").await;
    let me = max.me().await.expect("me");
    let admin = admin_client(&app).await;
    // Only admins may change plans.
    let premium = UpdateUserRequest {
        plan: Some(Plan::Premium),
        role: None,
    };
    assert_code(max.update_user(&me.id, &premium).await, 403, "forbidden");
    assert_eq!(
        admin.update_user(&me.id, &premium).await.expect("admin").plan,
        Plan::Premium
    );
    // Keys with the token alone, every one, as a standard HLS player asks:
    // far more than a free day's worth.
    for k in 0..150 {
        let grant = max.key_grant(&id, k).await.expect("premium key");
        assert_eq!(grant.key.len(), 16);
        assert_eq!(grant.quota.expect("quota").remaining_s, None);
    }
    let session = max.open_session(&id).await.expect("open");
    assert_eq!(session.quota.limit_s, None);
    for seq in 1..=40u64 {
        app.state.clock.advance(Duration::from_secs(10));
        max.heartbeat(&session.session_id, &beat(seq, (seq * 10) as f64))
            .await
            .expect("hb");
    }
    max.open_session(&id).await.expect("never refused for quota");
    let quota = max.quota().await.expect("quota");
    assert_eq!((quota.limit_s, quota.remaining_s), (None, None));
    // The admin, on the free plan by default, is unlimited by role.
    let admin_me = admin.me().await.expect("me");
    assert_eq!((admin_me.role, admin_me.plan), (Role::Admin, Plan::Free));
    for k in 0..150 {
        admin.key(&id, k).await.expect("admin key");
    }
    assert_eq!(admin.quota().await.expect("quota").remaining_s, None);
    assert_code(
        admin.update_user("no-such-user", &UpdateUserRequest::default()).await,
        404,
        "not_found",
    );
}

async fn forty_completions_without_unlocked_audio_add_no_play(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.max_open_sessions = 100;
            s.session_opens_per_minute = 1_000;
            s.heartbeats_per_minute = 10_000;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let id = track(&app, 60.0).await;
    let ned = user_client(&app, "ned").await;
    let admin = admin_client(&app).await;
    admin
        .update_user(
            &ned.me().await.expect("me").id,
            &UpdateUserRequest {
                plan: Some(Plan::Premium),
                role: None,
            },
        )
        .await
        .expect("premium");
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(ned.open_session(&id).await.expect("open").session_id);
    }
    // 31 s pass; every session claims 30 s heard and completes, keyless.
    app.state.clock.advance(Duration::from_secs(31));
    let completions = ids.iter().map(|sid| {
        let ned = ned.clone();
        async move { ned.complete_session(sid, &done(1, 30.0)).await }
    });
    for answer in futures::future::join_all(completions).await {
        answer.expect("complete");
    }
    assert_eq!(ned.track(&id).await.expect("track").play_count, 0);
    let popular = ned.popular(7, None, None).await.expect("popular");
    assert!(popular.items.is_empty(), "{popular:?}");
}

/// Listens to `seconds` of a track as the player does, then completes.
async fn listen(app: &TestApp, client: &Client, id: &str, seconds: u64) {
    let session = client.open_session(id).await.expect("open");
    let key_count = (60_000 + period() - 1) / period();
    let (mut seq, mut next) = (0u64, 0i64);
    for second in 0..=seconds {
        let at_ms = second as i64 * 1000;
        if second % 10 == 0 || (next < key_count && next * period() <= at_ms + 1_000) {
            seq += 1;
            client
                .heartbeat(&session.session_id, &beat(seq, second as f64))
                .await
                .expect("hb");
        }
        while next < key_count && next * period() <= at_ms + 1_000 {
            client.key(id, next as u64).await.expect("key");
            next += 1;
        }
        if second < seconds {
            app.state.clock.advance(Duration::from_secs(1));
        }
    }
    client
        .complete_session(&session.session_id, &done(seq + 1, seconds as f64))
        .await
        .expect("complete");
}

async fn a_real_listen_counts_one_play_an_hour(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 60.0).await;
    let ora = user_client(&app, "ora").await;
    listen(&app, &ora, &id, 60).await;
    assert_eq!(ora.track(&id).await.expect("track").play_count, 1);
    // Again within the hour: heard, in the history, not another play.
    listen(&app, &ora, &id, 60).await;
    assert_eq!(ora.track(&id).await.expect("track").play_count, 1);
    let history = ora.history(None).await.expect("history");
    assert_eq!(history.items.len(), 2);
    assert!(
        history.items.iter().all(|h| h.completed && h.listened_s >= 59.0),
        "{history:?}"
    );
    // The second listen re-fetched keys already unlocked today: free.
    assert_eq!(used_ms(&ora.quota().await.expect("quota")), 60_000);
    // A skip (2 s) is not a play, even an hour later.
    app.state.clock.advance(Duration::from_secs(3_600));
    listen(&app, &ora, &id, 2).await;
    assert_eq!(ora.track(&id).await.expect("track").play_count, 1);
    listen(&app, &ora, &id, 60).await;
    assert_eq!(ora.track(&id).await.expect("track").play_count, 2);
    let popular = ora.popular(7, None, None).await.expect("popular");
    assert_eq!(popular.items.len(), 1);
    assert_eq!(
        (popular.items[0].track.id.as_str(), popular.items[0].plays),
        (id.as_str(), 2)
    );
}

async fn concurrent_reports_neither_lose_nor_double_time(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| s.heartbeats_per_minute = 10_000,
        ..TestOptions::new(backend)
    })
    .await;
    let id = track(&app, 600.0).await;
    let pam = user_client(&app, "pam").await;
    let session = pam.open_session(&id).await.expect("open");
    app.state.clock.advance(Duration::from_secs(20));
    // 100 heartbeats at once, positions growing with seq by 10 ms (each step
    // well inside the wall-clock allowance): whatever order they land in, the
    // applied ones telescope to the last position, exactly 1 s.
    let reports = (1..=100u64).map(|seq| {
        let pam = pam.clone();
        let sid = session.session_id.clone();
        async move { pam.heartbeat(&sid, &beat(seq, seq as f64 * 0.01)).await }
    });
    let answers = futures::future::join_all(reports).await;
    let counted: f64 = answers.iter().map(|a| a.as_ref().expect("heartbeat").counted_s).sum();
    assert!((counted - 1.0).abs() < 1e-6, "counted {counted} s in total");
    let history = pam.history(None).await.expect("history");
    assert!((history.items[0].listened_s - 1.0).abs() < 1e-6, "{history:?}");
    // Reports are not charged: keys are.
    assert_eq!(pam.quota().await.expect("quota").used_s, 0.0);
}

async fn stale_reports_count_nothing_and_sessions_are_private(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 300.0).await;
    let quinn = user_client(&app, "quinn").await;
    let session = quinn.open_session(&id).await.expect("open");
    app.state.clock.advance(Duration::from_secs(10));
    let counted = |r: Result<mist_core::api::HeartbeatResponse, ClientError>| r.expect("hb").counted_s;
    assert!((counted(quinn.heartbeat(&session.session_id, &beat(2, 10.0)).await) - 10.0).abs() < 1e-6);
    app.state.clock.advance(Duration::from_secs(10));
    // Replayed, duplicated and out-of-order reports add nothing.
    assert_eq!(counted(quinn.heartbeat(&session.session_id, &beat(2, 20.0)).await), 0.0);
    assert_eq!(counted(quinn.heartbeat(&session.session_id, &beat(1, 20.0)).await), 0.0);
    // Someone else's session does not exist for them.
    let rex = user_client(&app, "rex").await;
    assert_code(
        rex.heartbeat(&session.session_id, &beat(9, 30.0)).await,
        404,
        "not_found",
    );
    assert_code(
        rex.complete_session(&session.session_id, &done(9, 30.0)).await,
        404,
        "not_found",
    );
    assert_code(
        quinn
            .heartbeat("0123456789abcdef0123456789abcdef", &beat(9, 30.0))
            .await,
        404,
        "not_found",
    );
    // Nor do its keys: rex has no session on the track.
    assert_code(rex.key(&id, 0).await, 403, "no_session");
    // A completed session accepts nothing more and unlocks nothing.
    quinn
        .complete_session(&session.session_id, &done(3, 20.0))
        .await
        .expect("complete");
    app.state.clock.advance(Duration::from_secs(10));
    assert_code(
        quinn.heartbeat(&session.session_id, &beat(4, 30.0)).await,
        409,
        "session_completed",
    );
    assert_eq!(
        quinn
            .complete_session(&session.session_id, &done(5, 30.0))
            .await
            .expect("completing twice is harmless")
            .counted_s,
        0.0
    );
    let history = quinn.history(None).await.expect("history");
    assert!((history.items[0].listened_s - 20.0).abs() < 1e-6, "{history:?}");
    assert_code(quinn.key(&id, 0).await, 403, "no_session");
}

async fn bad_reports_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 60.0).await;
    let sam = user_client(&app, "sam").await;
    let session = sam.open_session(&id).await.expect("open");
    assert_code(
        sam.heartbeat(&session.session_id, &beat(1, -5.0)).await,
        422,
        "invalid_field",
    );
    assert_code(
        sam.heartbeat(&session.session_id, &beat(0, 5.0)).await,
        422,
        "invalid_field",
    );
    assert_code(sam.open_session("nope").await, 404, "not_found");
    assert_code(sam.key(&id, 99).await, 404, "not_found");
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/playback/sessions/{}/heartbeat",
            app.base_url, session.session_id
        ))
        .bearer_auth(sam.token().expect("token"))
        .header("content-type", "application/json")
        .body(r#"{"seq": "one", "position_s": 1, "playing": true}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(raw.status(), 422);
    let anonymous = Client::new(&app.base_url).expect("client");
    assert_code(anonymous.open_session(&id).await, 401, "missing_token");
    assert_code(anonymous.key(&id, 0).await, 401, "missing_token");
}

async fn opens_reports_and_keys_are_rate_limited_per_user(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.session_opens_per_minute = 5;
            s.heartbeats_per_minute = 5;
            s.key_requests_per_minute = 5;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let id = track(&app, 120.0).await;
    let tom = user_client(&app, "tom").await;
    let raw = |path: String, body: Option<String>| {
        let token = tom.token().expect("token").to_owned();
        let url = format!("{}{path}", app.base_url);
        async move {
            let client = reqwest::Client::new();
            let request = match body {
                Some(body) => client.post(url).header("content-type", "application/json").body(body),
                None => client.get(url),
            };
            request.bearer_auth(token).send().await.expect("send")
        }
    };
    let mut session = String::new();
    for _ in 0..5 {
        session = tom.open_session(&id).await.expect("open").session_id;
    }
    let open = raw(
        "/api/v1/playback/sessions".into(),
        Some(format!(r#"{{"track_id": "{id}"}}"#)),
    )
    .await;
    assert_eq!(open.status(), 429);
    let wait: u64 = open.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    for seq in 1..=5 {
        tom.heartbeat(&session, &beat(seq, 0.0)).await.expect("hb");
    }
    let hb = raw(
        format!("/api/v1/playback/sessions/{session}/heartbeat"),
        Some(r#"{"seq": 6, "position_s": 0, "playing": true}"#.into()),
    )
    .await;
    assert_eq!(hb.status(), 429);
    assert!(hb.headers().contains_key("retry-after"));
    for _ in 0..5 {
        tom.key(&id, 0).await.expect("key");
    }
    let key = raw(format!("/api/v1/tracks/{id}/keys/0"), None).await;
    assert_eq!(key.status(), 429);
    assert!(key.headers().contains_key("retry-after"));
    // Another user is not affected; a minute later, neither is this one.
    let uma = user_client(&app, "uma").await;
    uma.open_session(&id).await.expect("open");
    app.state.clock.advance(Duration::from_secs(61));
    tom.open_session(&id).await.expect("open after the window");
    tom.key(&id, 0).await.expect("key after the window");
}

/// Writes a track's HLS files as ingest would, with made-up segment bytes:
/// `segments` segments of ~6 s in three renditions, one key per segment.
async fn store_hls(app: &TestApp, track_id: &str, segments: usize) {
    let prefix = format!("tracks/{track_id}/hls/");
    let mut variants = Vec::new();
    for kbps in [64u64, 128, 192] {
        let refs: Vec<MediaSegmentRef> = (0..segments)
            .map(|i| MediaSegmentRef {
                uri: format!("seg_{i:05}.mp3"),
                duration_s: 6.008,
                key: Some(KeyRef {
                    uri: format!("http://old.example/api/v1/tracks/{track_id}/keys/{i}"),
                    iv: [i as u8; 16],
                }),
            })
            .collect();
        let dir = format!("{prefix}{kbps}k/");
        app.state
            .store
            .put_bytes(
                &format!("{dir}index.m3u8"),
                media_playlist(&refs).into(),
                "application/vnd.apple.mpegurl",
            )
            .await
            .expect("put playlist");
        for i in 0..segments {
            let body = format!("segment {kbps}k {i}").into_bytes();
            app.state
                .store
                .put_bytes(&format!("{dir}seg_{i:05}.mp3"), body.into(), "audio/mpeg")
                .await
                .expect("put segment");
        }
        variants.push(Variant {
            uri: format!("{kbps}k/index.m3u8"),
            bandwidth: kbps * 1100,
            average_bandwidth: kbps * 1000,
            codecs: MP3_CODECS.into(),
        });
    }
    app.state
        .store
        .put_bytes(
            &format!("{prefix}master.m3u8"),
            master_playlist(&variants).into(),
            "application/vnd.apple.mpegurl",
        )
        .await
        .expect("put master");
}

async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    let code = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, code, response.text().await.unwrap_or_default())
}

#[track_caller]
fn assert_refused(answer: &(u16, String, String), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert!(answer.2.contains(&format!("\"code\":\"{code}\"")), "{answer:?}");
}

async fn media_urls_are_capabilities(backend: Backend) {
    let app = spawn_app(backend).await;
    check_media_capabilities(&app).await;
}

async fn check_media_capabilities(app: &TestApp) {
    let id = track(app, 60.0).await;
    let other = track(app, 60.0).await;
    store_hls(app, &id, 10).await;
    store_hls(app, &other, 10).await;
    let vic = user_client(app, "vic").await;
    let track = vic.track(&id).await.expect("track");
    let master_url = track.master_url.expect("a ready track has a master URL");
    assert!(
        master_url.starts_with(&format!("{}/media/", app.base_url)),
        "{master_url}"
    );
    // The signed URL plays: master, media playlists, segments, no token.
    let (status, content_type, master) = get(&master_url).await;
    assert_eq!((status, content_type.as_str()), (200, "application/vnd.apple.mpegurl"));
    let base = master_url.rsplit_once('/').expect("url").0.to_owned();
    let (status, _, media) = get(&format!("{base}/128k/index.m3u8")).await;
    assert_eq!(status, 200, "{media}");
    let parsed = mist_core::hls::parse_media(media.as_bytes()).expect("a valid playlist");
    assert_eq!(parsed.segments.len(), 10);
    // Key URIs follow today's public URL, not what was stored.
    let key = parsed.segments[3].key.clone().expect("key");
    assert_eq!(
        key.uri.as_deref(),
        Some(format!("{}/api/v1/tracks/{id}/keys/3", app.base_url).as_str())
    );
    assert_eq!(key.iv.as_deref(), Some(format!("0x{}", "03".repeat(16)).as_str()));
    let segment_url = if parsed.segments[0].uri.starts_with("http") {
        parsed.segments[0].uri.clone()
    } else {
        format!("{base}/128k/{}", parsed.segments[0].uri)
    };
    let (status, _, body) = get(&segment_url).await;
    assert_eq!((status, body.as_str()), (200, "segment 128k 0"));
    assert!(master.contains("64k/index.m3u8"), "{master}");

    // Without a capability, with a forged or borrowed one: refused.
    let capability = master_url
        .split("/media/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("capability")
        .to_owned();
    let old_style = format!("{}/media/tracks/{id}/hls/master.m3u8", app.base_url);
    assert_eq!(get(&old_style).await.0, 404);
    let with = |cap: &str, track: &str, file: &str| format!("{}/media/{cap}/tracks/{track}/hls/{file}", app.base_url);
    assert_refused(
        &get(&with("nothing", &id, "master.m3u8")).await,
        403,
        "invalid_media_url",
    );
    let (user, rest) = capability.split_once('.').expect("user.expiry.mac");
    let (expires, mac) = rest.split_once('.').expect("expiry.mac");
    let later: i64 = expires.parse::<i64>().expect("expiry") + 86_400;
    let forged = [
        format!("{user}.{later}.{mac}"),
        format!("someone-else.{expires}.{mac}"),
        format!("{user}.{expires}.{}", "0".repeat(mac.len())),
        format!("{user}.{expires}.{}", &mac[..mac.len() - 2]),
    ];
    for cap in &forged {
        assert_refused(&get(&with(cap, &id, "master.m3u8")).await, 403, "invalid_media_url");
        assert_refused(
            &get(&with(cap, &id, "64k/seg_00000.mp3")).await,
            403,
            "invalid_media_url",
        );
    }
    // A capability names its track.
    assert_refused(
        &get(&with(&capability, &other, "master.m3u8")).await,
        403,
        "invalid_media_url",
    );
    assert_refused(
        &get(&with(&capability, &other, "64k/seg_00000.mp3")).await,
        403,
        "invalid_media_url",
    );
    // It expires.
    let ttl = app.state.settings.media_url_ttl_secs;
    app.state.clock.advance(Duration::from_secs(ttl + 1));
    assert_refused(&get(&master_url).await, 403, "media_url_expired");
    assert_refused(&get(&format!("{base}/128k/index.m3u8")).await, 403, "media_url_expired");
    assert_refused(
        &get(&format!("{base}/128k/seg_00001.mp3")).await,
        403,
        "media_url_expired",
    );
    // A fresh one from the API works again.
    let fresh = vic.track(&id).await.expect("track").master_url.expect("url");
    assert_ne!(fresh, master_url);
    assert_eq!(get(&fresh).await.0, 200);
}

/// On S3 the media playlist's segments are presigned GETs straight to the
/// bucket, expiring no later than the capability; the capability still guards
/// the playlists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_segments_are_presigned_under_a_capability() {
    let app = spawn_with(TestOptions {
        store: Store::S3,
        tweak: |s| s.media_url_ttl_secs = 600,
        ..TestOptions::new(Backend::Postgres)
    })
    .await;
    let id = track(&app, 60.0).await;
    store_hls(&app, &id, 4).await;
    let wes = user_client(&app, "wes").await;
    let session = wes.open_session(&id).await.expect("open");
    let base = session.master_url.rsplit_once('/').expect("url").0.to_owned();
    let (status, _, media) = get(&format!("{base}/192k/index.m3u8")).await;
    assert_eq!(status, 200, "{media}");
    let parsed = mist_core::hls::parse_media(media.as_bytes()).expect("a valid playlist");
    for (i, segment) in parsed.segments.iter().enumerate() {
        let url = url::Url::parse(&segment.uri).expect("an absolute presigned URL");
        let expires: u64 = url
            .query_pairs()
            .find(|(k, _)| k == "X-Amz-Expires")
            .map(|(_, v)| v.parse().expect("seconds"))
            .expect("presigned");
        assert!(expires <= 600, "a segment URL outlives its capability: {expires} s");
        let (status, _, body) = get(url.as_str()).await;
        assert_eq!((status, body), (200, format!("segment 192k {i}")));
    }
    let forged = session.master_url.replacen("/media/", "/media/x", 1);
    assert_eq!(get(&forged).await.0, 403);
}

/// Polls `check` until it holds: on PostgreSQL another node hears a change
/// by NOTIFY, a moment after it commits. Fails after a generous bound.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never saw: {what}");
}

fn code_of<T>(result: Result<T, ClientError>) -> Option<(u16, String)> {
    result
        .err()
        .map(|e| (e.status().unwrap_or(0), e.code().unwrap_or_default().to_owned()))
}

/// The cache behind keys, heartbeats and media (src/cache.rs) is dropped on
/// every change: the next request sees a new plan, a revoked token, a
/// disabled user, new keys of a track and a deleted track, also when the change is made in the
/// database by another process (the worker, `mist-server user …`), which
/// triggers announce (on PostgreSQL by NOTIFY, heard a moment later).
async fn the_hot_path_cache_never_serves_a_stale_plan_token_user_or_track(backend: Backend) {
    let app = spawn_app(backend).await;
    if backend == Backend::Postgres {
        eventually("the LISTEN connection", || async { app.state.cache.is_live() }).await;
    }
    let id = track(&app, 60.0).await;
    store_hls(&app, &id, 3).await;
    let admin = admin_client(&app).await;
    let max = user_client(&app, "max").await;
    let max_id = max.me().await.expect("me").id;
    // Free: no key without a session (twice: the second from the cache).
    for _ in 0..2 {
        assert_code(max.key(&id, 0).await, 403, "no_session");
    }
    assert!(app.state.cache.playable(&id).is_some(), "the track is cached");
    let plan = |plan| UpdateUserRequest {
        plan: Some(plan),
        role: None,
    };
    admin.update_user(&max_id, &plan(Plan::Premium)).await.expect("premium");
    assert_eq!(max.key(&id, 0).await.expect("premium key").len(), 16);
    admin.update_user(&max_id, &plan(Plan::Free)).await.expect("free");
    assert_code(max.key(&id, 1).await, 403, "no_session");

    // The same change made in the database by another process.
    sqlx_execute(&app, "UPDATE users SET plan = 'premium' WHERE id = $1", &max_id).await;
    if backend == Backend::Sqlite {
        assert_eq!(max.key(&id, 1).await.expect("premium at once").len(), 16);
    }
    eventually("the plan changed by another process", || async {
        max.key(&id, 1).await.is_ok()
    })
    .await;

    // Media: served from the cache, then not once the track is gone.
    let master_url = max.track(&id).await.expect("track").master_url.expect("url");
    let base = master_url.rsplit_once('/').expect("url").0.to_owned();
    for _ in 0..2 {
        assert_eq!(get(&format!("{base}/128k/seg_00001.mp3")).await.0, 200);
    }

    // A second device logs out: that token is refused, the first still works.
    let login = mist_core::api::LoginRequest {
        email: "max@example.com".into(),
        password: "max-password".into(),
    };
    let second = app
        .client()
        .with_token(app.client().login(&login).await.expect("login").token);
    second.me().await.expect("second device");
    second.logout().await.expect("logout");
    assert_eq!(code_of(second.me().await), Some((401, "token_revoked".into())));
    max.me().await.expect("the first device stays signed in");

    // Disabled (through the API, then by a direct write after re-enabling).
    admin.set_user_disabled(&max_id, true).await.expect("disable");
    assert_eq!(code_of(max.key(&id, 1).await), Some((401, "account_disabled".into())));
    admin.set_user_disabled(&max_id, false).await.expect("enable");
    let max = app
        .client()
        .with_token(app.client().login(&login).await.expect("login").token);
    max.key(&id, 1).await.expect("enabled again");
    sqlx_execute(&app, "UPDATE users SET disabled_at = 1 WHERE id = $1", &max_id).await;
    eventually("disabled by another process", || async {
        code_of(max.me().await) == Some((401, "account_disabled".into()))
    })
    .await;
    sqlx_execute(&app, "UPDATE users SET disabled_at = NULL WHERE id = $1", &max_id).await;
    eventually("enabled by another process", || async { max.me().await.is_ok() }).await;

    // New keys for the track (a new ready attempt of its ingest, here
    // written straight to the database): never the cached key again.
    let cached = max.key(&id, 2).await.expect("cached again");
    assert!(app.state.cache.key(&id, 2).is_some(), "the key is cached");
    let new_keys = rekey_track(&app.state, &id).await;
    assert_ne!(cached, new_keys[2].to_vec());
    if backend == Backend::Sqlite {
        assert_eq!(max.key(&id, 2).await.expect("new key"), new_keys[2].to_vec());
    }
    eventually("the new key", || async {
        max.key(&id, 2).await.ok() == Some(new_keys[2].to_vec())
    })
    .await;

    // The track deleted: its keys and segments are gone at once.
    admin.delete_track(&id).await.expect("delete");
    assert_eq!(code_of(max.key(&id, 2).await).map(|c| c.0), Some(404));
    assert_eq!(get(&format!("{base}/128k/seg_00001.mp3")).await.0, 404);
    assert_eq!(get(&master_url).await.0, 404);

    // A track deleted by another process (`mist-server user delete`, the
    // worker's sweep: its rows, then its files), its segments served from
    // memory before: neither its keys nor its segments are served after.
    let other = track(&app, 60.0).await;
    store_hls(&app, &other, 3).await;
    max.key(&other, 0).await.expect("key");
    let other_master = max.track(&other).await.expect("track").master_url.expect("url");
    let other_segment = format!("{}/64k/seg_00002.mp3", other_master.rsplit_once('/').expect("url").0);
    for _ in 0..2 {
        assert_eq!(
            get(&other_segment).await,
            (200, "audio/mpeg".into(), "segment 64k 2".into())
        );
    }
    assert!(
        app.state
            .cache
            .segment(&other, &format!("tracks/{other}/hls/64k/seg_00002.mp3"))
            .is_some()
    );
    sqlx_execute(&app, "DELETE FROM tracks WHERE id = $1", &other).await;
    let other_files = app
        .state
        .store
        .delete_prefix(&format!("tracks/{other}/"))
        .await
        .expect("delete files");
    assert!(other_files >= 9, "segments and playlists deleted: {other_files}");
    // Its delete has returned: the segment held in memory is not served,
    // at once (on SQLite nothing has read `cache_events` since: segment
    // requests do not), nor its keys.
    assert_eq!(get(&other_segment).await.0, 404);
    if backend == Backend::Sqlite {
        assert_eq!(code_of(max.key(&other, 0).await).map(|c| c.0), Some(404));
    }
    eventually("the track deleted by another process", || async {
        code_of(max.key(&other, 0).await).map(|c| c.0) == Some(404) && get(&other_segment).await.0 == 404
    })
    .await;
}

/// One statement on the test's database, as another process would run it
/// (nothing in this server's process hears of it but through the database).
async fn sqlx_execute(app: &TestApp, sql: &'static str, id: &str) {
    match &app.state.db {
        mist_server::db::Db::Sqlite(pool) => {
            sqlx::query(sql).bind(id).execute(pool).await.expect("execute");
        }
        mist_server::db::Db::Postgres(pool) => {
            sqlx::query(sql).bind(id).execute(pool).await.expect("execute");
        }
    }
}

/// Two API nodes on one PostgreSQL database: a change made through one is
/// seen by the other (NOTIFY), whose cache held the old state: a plan, a
/// revoked token, a disabled user, new keys of a track, a deleted track.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_never_serve_a_stale_plan_token_user_or_track() {
    let a = spawn_app(Backend::Postgres).await;
    let mut settings = a.settings.clone();
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.run_worker = false;
    let b = mist_server::testing::spawn_settings(settings).await;
    for node in [&a, &b] {
        eventually("the LISTEN connection", || async { node.state.cache.is_live() }).await;
    }
    let id = track(&a, 60.0).await;
    let admin = admin_client(&a).await;
    let on_a = user_client(&a, "ada").await;
    let ada_id = on_a.me().await.expect("me").id;
    let token = on_a.token().expect("token").to_owned();
    let on_b = b.client().with_token(token);
    // B caches the track (users are read from PostgreSQL on every request).
    for _ in 0..2 {
        assert_code(on_b.key(&id, 0).await, 403, "no_session");
    }
    assert!(b.state.cache.playable(&id).is_some(), "B cached the track");

    // Plan changed on A: B gives keys without a session.
    let premium = UpdateUserRequest {
        plan: Some(Plan::Premium),
        role: None,
    };
    admin.update_user(&ada_id, &premium).await.expect("premium");
    eventually("B sees the premium plan", || async { on_b.key(&id, 0).await.is_ok() }).await;
    // A key read while an invalidation is in flight is served but not
    // stored (the cache's epoch moved): the next one is.
    eventually("B cached the key", || async {
        on_b.key(&id, 0).await.is_ok() && b.state.cache.key(&id, 0).is_some()
    })
    .await;

    // Logout on A (the same token): B refuses it.
    on_a.logout().await.expect("logout");
    eventually("B refuses the revoked token", || async {
        code_of(on_b.me().await) == Some((401, "token_revoked".into()))
    })
    .await;

    // A new token; disabled on A: B refuses it.
    let login = mist_core::api::LoginRequest {
        email: "ada@example.com".into(),
        password: "ada-password".into(),
    };
    let on_b = b
        .client()
        .with_token(b.client().login(&login).await.expect("login").token);
    on_b.key(&id, 1).await.expect("key on B");
    admin.set_user_disabled(&ada_id, true).await.expect("disable");
    eventually("B refuses the disabled user", || async {
        code_of(on_b.me().await) == Some((401, "account_disabled".into()))
    })
    .await;
    admin.set_user_disabled(&ada_id, false).await.expect("enable");
    let on_b = b
        .client()
        .with_token(b.client().login(&login).await.expect("login").token);

    // New keys for the track, written through A's database: B stops
    // serving the key it cached.
    let cached = on_b.key(&id, 2).await.expect("key on B");
    eventually("B cached key 2", || async {
        on_b.key(&id, 2).await.is_ok() && b.state.cache.key(&id, 2).is_some()
    })
    .await;
    let new_keys = rekey_track(&a.state, &id).await;
    assert_ne!(cached, new_keys[2].to_vec());
    eventually("B serves the new key", || async {
        on_b.key(&id, 2).await.ok() == Some(new_keys[2].to_vec())
    })
    .await;

    // Deleted on A: B answers 404 for its keys.
    on_b.key(&id, 2).await.expect("key on B");
    admin.delete_track(&id).await.expect("delete");
    eventually("B forgets the deleted track", || async {
        code_of(on_b.key(&id, 2).await).map(|c| c.0) == Some(404)
    })
    .await;
    assert!(b.state.cache.playable(&id).is_none());
}

/// `mist-server user …` run by another process (here the real binary) on
/// the PostgreSQL database two API nodes share: the very next request on
/// either node sees the new plan, role or disabled account (users are read
/// from the database on every PostgreSQL request: NOTIFY would come a
/// moment after the command returned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_see_the_cli_change_a_plan_or_role_on_the_next_request() {
    let a = spawn_app(Backend::Postgres).await;
    let mut settings = a.settings.clone();
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.run_worker = false;
    let b = mist_server::testing::spawn_settings(settings).await;
    for node in [&a, &b] {
        eventually("the LISTEN connection", || async { node.state.cache.is_live() }).await;
    }
    let id = track(&a, 60.0).await;
    let on_a = user_client(&a, "uma").await;
    let on_b = b.client().with_token(on_a.token().expect("token").to_owned());
    for _ in 0..2 {
        assert_code(on_b.key(&id, 0).await, 403, "no_session");
    }
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mist-server"));
        command
            .args(args)
            .env("MIST_DATA_DIR", &a.settings.data_dir)
            .env("MIST_JWT_SECRET", "test-jwt-secret-that-is-long-enough-0123")
            .env(
                "MIST_MASTER_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            )
            .env("RUST_LOG", "error")
            .env("DATABASE_URL", a.settings.database_url_exposed().expect("postgres"));
        let output = command.output().expect("mist-server runs");
        assert!(
            output.status.success(),
            "mist-server {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    cli(&["user", "set-plan", "uma", "premium"]);
    assert_eq!(on_b.key(&id, 0).await.expect("premium on B at once").len(), 16);
    assert_eq!(on_a.me().await.expect("me").plan, Plan::Premium);
    cli(&["user", "set-plan", "uma", "free"]);
    assert_code(on_b.key(&id, 1).await, 403, "no_session");
    cli(&["user", "set-role", "uma", "admin"]);
    assert_eq!(on_b.me().await.expect("me").role, Role::Admin);
    assert_eq!(on_b.key(&id, 1).await.expect("an admin's key").len(), 16);
    cli(&["user", "set-role", "uma", "user"]);
    assert_eq!(on_b.me().await.expect("me").role, Role::User);
    assert_code(on_b.key(&id, 2).await, 403, "no_session");
    cli(&["user", "disable", "uma"]);
    assert_eq!(code_of(on_b.me().await), Some((401, "account_disabled".into())));
    assert_eq!(code_of(on_a.key(&id, 2).await), Some((401, "account_disabled".into())));
}
