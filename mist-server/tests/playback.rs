//! Playback sessions, key gating and the daily quota, against a real server
//! on both databases. The server's clock is moved forward instead of waiting
//! (`state.clock.advance`), so five minutes of listening take milliseconds.

use std::time::Duration;

use mist_core::api::{CompleteSessionRequest, HeartbeatRequest, Plan, UpdateUserRequest};
use mist_core::client::{Client, ClientError};
use mist_server::quota::key_period_ms;
use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
use mist_server::testing::upload::{admin_client, user_client};
use mist_server::testing::{Backend, TestApp, spawn_app};

mist_server::on_both!(
    normal_listening_is_charged_and_refused_after_the_quota,
    silent_clients_get_at_most_two_key_periods,
    seeking_is_not_listening_and_keys_come_slowly,
    concurrent_reports_neither_lose_nor_double_time,
    stale_reports_count_nothing_and_sessions_are_private,
    the_day_boundary_resets_the_quota,
    unlimited_plans_need_no_session,
    completion_counts_one_play_and_shows_in_history,
    bad_reports_are_refused,
);

async fn track(app: &TestApp, seconds: f64) -> String {
    let admin = mist_server::db::users::find_by_email(&app.state.db, mist_server::testing::ADMIN_EMAIL)
        .await
        .expect("db")
        .expect("admin");
    let fake = FakeTrack {
        title: "Long Song".into(),
        duration_s: seconds,
        ..Default::default()
    };
    insert_ready_track(&app.state, &admin.id, &fake).await
}

fn beat(seq: u64, position_s: f64) -> HeartbeatRequest {
    HeartbeatRequest {
        seq,
        position_s,
        playing: true,
    }
}

fn key_of(position_s: f64) -> u64 {
    (position_s * 1000.0) as u64 / key_period_ms() as u64
}

fn assert_code(result: Result<impl std::fmt::Debug, ClientError>, status: u16, code: &str) {
    let err = result.expect_err("refused");
    assert_eq!((err.status(), err.code()), (Some(status), Some(code)), "{err}");
}

async fn normal_listening_is_charged_and_refused_after_the_quota(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 400.0).await;
    let ann = user_client(&app, "ann").await;
    let session = ann.open_session(&id).await.expect("open");
    assert_eq!(session.quota.limit_s, Some(300.0));
    assert!((session.key_period_s - 30.0).abs() < 0.5);
    ann.key(&id, 0).await.expect("first key");
    let mut position = 0.0;
    let mut seq = 0;
    let mut refused_at = None;
    while position < 390.0 {
        app.state.clock.advance(Duration::from_secs(10));
        position += 10.0;
        seq += 1;
        let answer = ann
            .heartbeat(&session.session_id, &beat(seq, position))
            .await
            .expect("heartbeat");
        assert!((answer.counted_s - 10.0).abs() < 0.01, "counted {}", answer.counted_s);
        match ann.key(&id, key_of(position)).await {
            Ok(key) => assert_eq!(key.len(), 16),
            Err(e) => {
                assert_eq!(e.code(), Some("quota_exceeded"), "{e}");
                refused_at = Some(answer.quota.used_s);
                break;
            }
        }
    }
    let used = refused_at.expect("keys were refused once the quota was used");
    assert!((used - 300.0).abs() <= 2.0, "refused at {used} s");
    let quota = ann.quota().await.expect("quota");
    assert!(
        (quota.used_s - 300.0).abs() <= 2.0 && quota.remaining_s == Some(0.0),
        "{quota:?}"
    );
    let err = ann.open_session(&id).await.expect_err("no new sessions");
    assert_eq!((err.status(), err.code()), (Some(429), Some("quota_exceeded")));
}

async fn silent_clients_get_at_most_two_key_periods(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 300.0).await;
    let bob = user_client(&app, "bob").await;
    assert_code(bob.key(&id, 0).await, 403, "no_session");
    bob.open_session(&id).await.expect("open");
    bob.key(&id, 0).await.expect("key 0");
    bob.key(&id, 1).await.expect("key 1");
    for k in 2..10 {
        assert_code(bob.key(&id, k).await, 403, "key_out_of_range");
    }
    // Time alone does not move the playhead: without reports, still nothing.
    app.state.clock.advance(Duration::from_secs(120));
    assert_code(bob.key(&id, 2).await, 403, "key_out_of_range");
    assert_eq!(bob.quota().await.expect("quota").used_s, 0.0);
    // Past the end is not found.
    assert_code(bob.key(&id, 99).await, 404, "not_found");
}

async fn seeking_is_not_listening_and_keys_come_slowly(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 600.0).await;
    let cat = user_client(&app, "cat").await;
    let opened = std::time::Instant::now();
    let session = cat.open_session(&id).await.expect("open");
    // What the rules allow: the session's age on the server's clock (one
    // second moved by the test, plus the real time the test takes) + 2 s.
    let allowed = |moved_s: f64| moved_s + 2.0 + opened.elapsed().as_secs_f64();
    // One second in, the client claims to be at the end.
    app.state.clock.advance(Duration::from_secs(1));
    let answer = cat.heartbeat(&session.session_id, &beat(1, 599.0)).await.expect("seek");
    assert!(
        answer.counted_s <= allowed(1.0),
        "a seek counted {} s",
        answer.counted_s
    );
    // Walk the playhead across the whole track as fast as the server lets it:
    // one new key a second at most, beyond the first two.
    let mut got = std::collections::BTreeSet::new();
    let periods = (600_000 / key_period_ms() + 1) as u64;
    let mut seq = 1;
    for k in 0..periods {
        seq += 1;
        let position = (k * key_period_ms() as u64) as f64 / 1000.0;
        cat.heartbeat(&session.session_id, &beat(seq, position))
            .await
            .expect("seek");
        if cat.key(&id, k).await.is_ok() {
            got.insert(k);
        }
    }
    // The session is a second old (clock moved once): 2 + 1 keys at most.
    assert!(got.len() <= 3, "collected {} keys in one second: {got:?}", got.len());
    let quota = cat.quota().await.expect("quota");
    assert!(quota.used_s <= allowed(1.0), "charged {} s for seeking", quota.used_s);
    // Waiting earns one key a second, no more.
    app.state.clock.advance(Duration::from_secs(2));
    let before = got.len();
    for k in 0..periods {
        seq += 1;
        let position = (k * key_period_ms() as u64) as f64 / 1000.0;
        cat.heartbeat(&session.session_id, &beat(seq, position))
            .await
            .expect("seek");
        if cat.key(&id, k).await.is_ok() {
            got.insert(k);
        }
    }
    assert!(got.len() <= before + 2, "{} keys after 3 s", got.len());
}

async fn concurrent_reports_neither_lose_nor_double_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 600.0).await;
    let dan = user_client(&app, "dan").await;
    let session = dan.open_session(&id).await.expect("open");
    app.state.clock.advance(Duration::from_secs(20));
    // 100 heartbeats at once, positions growing with seq by 10 ms (each step
    // well inside the wall-clock allowance): whatever order they land in, the
    // applied ones telescope to the last position, exactly 1 s, and what the
    // answers say was counted is what the quota holds.
    let reports = (1..=100u64).map(|seq| {
        let dan = dan.clone();
        let sid = session.session_id.clone();
        async move { dan.heartbeat(&sid, &beat(seq, seq as f64 * 0.01)).await }
    });
    let answers = futures::future::join_all(reports).await;
    let counted: f64 = answers.iter().map(|a| a.as_ref().expect("heartbeat").counted_s).sum();
    assert!((counted - 1.0).abs() < 1e-6, "counted {counted} s in total");
    assert!((dan.quota().await.expect("quota").used_s - 1.0).abs() < 1e-6);

    // 50 sessions of one user in parallel, 5 s each.
    let eve = user_client(&app, "eve").await;
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(eve.open_session(&id).await.expect("open").session_id);
    }
    app.state.clock.advance(Duration::from_secs(10));
    let reports = ids.iter().map(|sid| {
        let eve = eve.clone();
        async move { eve.heartbeat(sid, &beat(1, 5.0)).await }
    });
    for answer in futures::future::join_all(reports).await {
        assert!((answer.expect("heartbeat").counted_s - 5.0).abs() < 1e-6);
    }
    assert!((eve.quota().await.expect("quota").used_s - 250.0).abs() < 1e-6);
}

async fn stale_reports_count_nothing_and_sessions_are_private(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 300.0).await;
    let fay = user_client(&app, "fay").await;
    let session = fay.open_session(&id).await.expect("open");
    app.state.clock.advance(Duration::from_secs(10));
    assert!(
        (fay.heartbeat(&session.session_id, &beat(2, 10.0))
            .await
            .expect("hb")
            .counted_s
            - 10.0)
            .abs()
            < 1e-6
    );
    app.state.clock.advance(Duration::from_secs(10));
    // Replayed, duplicated and out-of-order reports add nothing.
    assert_eq!(
        fay.heartbeat(&session.session_id, &beat(2, 20.0))
            .await
            .expect("dup")
            .counted_s,
        0.0
    );
    assert_eq!(
        fay.heartbeat(&session.session_id, &beat(1, 20.0))
            .await
            .expect("old")
            .counted_s,
        0.0
    );
    assert!((fay.quota().await.expect("quota").used_s - 10.0).abs() < 1e-6);
    // Someone else's session does not exist for them.
    let gus = user_client(&app, "gus").await;
    assert_code(
        gus.heartbeat(&session.session_id, &beat(9, 30.0)).await,
        404,
        "not_found",
    );
    assert_code(
        gus.complete_session(
            &session.session_id,
            &CompleteSessionRequest {
                seq: 9,
                position_s: 30.0,
            },
        )
        .await,
        404,
        "not_found",
    );
    assert_code(
        fay.heartbeat("0123456789abcdef0123456789abcdef", &beat(9, 30.0)).await,
        404,
        "not_found",
    );
    // A completed session accepts nothing more.
    fay.complete_session(
        &session.session_id,
        &CompleteSessionRequest {
            seq: 3,
            position_s: 20.0,
        },
    )
    .await
    .expect("complete");
    app.state.clock.advance(Duration::from_secs(10));
    assert_code(
        fay.heartbeat(&session.session_id, &beat(4, 30.0)).await,
        409,
        "session_completed",
    );
    assert!((fay.quota().await.expect("quota").used_s - 20.0).abs() < 1e-6);
    // And its keys are gone with it: a completed session is not open.
    assert_code(fay.key(&id, 0).await, 403, "no_session");
}

async fn the_day_boundary_resets_the_quota(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 400.0).await;
    let hal = user_client(&app, "hal").await;
    let session = hal.open_session(&id).await.expect("open");
    for seq in 1..=31u64 {
        app.state.clock.advance(Duration::from_secs(10));
        hal.heartbeat(&session.session_id, &beat(seq, seq as f64 * 10.0))
            .await
            .expect("hb");
    }
    let spent = hal.quota().await.expect("quota");
    assert_eq!(spent.remaining_s, Some(0.0));
    assert_code(hal.open_session(&id).await, 429, "quota_exceeded");
    // Move to just after the reset time the server announced.
    let wait = (spent.resets_at - app.state.clock.now())
        .to_std()
        .expect("reset is ahead")
        + Duration::from_secs(1);
    app.state.clock.advance(wait);
    let fresh = hal.quota().await.expect("quota");
    assert_eq!((fresh.used_s, fresh.remaining_s), (0.0, Some(300.0)));
    assert!(fresh.resets_at > spent.resets_at);
    hal.open_session(&id).await.expect("a new day, a new session");
}

async fn unlimited_plans_need_no_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 300.0).await;
    let ivy = user_client(&app, "ivy").await;
    let me = ivy.me().await.expect("me");
    let admin = admin_client(&app).await;
    // Only admins may change plans.
    assert_code(
        ivy.update_user(
            &me.id,
            &UpdateUserRequest {
                plan: Some(Plan::Premium),
                role: None,
            },
        )
        .await,
        403,
        "forbidden",
    );
    let updated = admin
        .update_user(
            &me.id,
            &UpdateUserRequest {
                plan: Some(Plan::Premium),
                role: None,
            },
        )
        .await
        .expect("admin");
    assert_eq!(updated.plan, Plan::Premium);
    // Keys with the token alone, any of them, as a standard HLS player asks.
    for k in 0..10 {
        assert_eq!(ivy.key(&id, k).await.expect("premium key").len(), 16);
    }
    let session = ivy.open_session(&id).await.expect("open");
    assert_eq!(session.quota.limit_s, None);
    for seq in 1..=40u64 {
        app.state.clock.advance(Duration::from_secs(10));
        ivy.heartbeat(&session.session_id, &beat(seq, (seq * 10).min(300) as f64))
            .await
            .expect("hb");
    }
    ivy.open_session(&id).await.expect("never refused for quota");
    let quota = ivy.quota().await.expect("quota");
    assert_eq!(quota.remaining_s, None);
    assert!(quota.used_s >= 299.0, "{quota:?}");
    let err = admin_client(&app)
        .await
        .update_user("no-such-user", &UpdateUserRequest::default())
        .await
        .expect_err("404");
    assert_eq!(err.status(), Some(404));
}

async fn completion_counts_one_play_and_shows_in_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 60.0).await;
    let joe = user_client(&app, "joe").await;
    let session = joe.open_session(&id).await.expect("open");
    for seq in 1..=6u64 {
        app.state.clock.advance(Duration::from_secs(10));
        joe.heartbeat(&session.session_id, &beat(seq, seq as f64 * 10.0))
            .await
            .expect("hb");
    }
    let done = CompleteSessionRequest {
        seq: 7,
        position_s: 60.0,
    };
    joe.complete_session(&session.session_id, &done)
        .await
        .expect("complete");
    let again = joe
        .complete_session(
            &session.session_id,
            &CompleteSessionRequest {
                seq: 8,
                position_s: 60.0,
            },
        )
        .await;
    assert_eq!(again.expect("repeat is harmless").counted_s, 0.0);
    let track = joe.track(&id).await.expect("track");
    assert_eq!(track.play_count, 1, "a completion counts once");
    // A skip (opened, completed after 2 s) is not a play.
    let skip = joe.open_session(&id).await.expect("open");
    app.state.clock.advance(Duration::from_secs(2));
    joe.complete_session(
        &skip.session_id,
        &CompleteSessionRequest {
            seq: 1,
            position_s: 2.0,
        },
    )
    .await
    .expect("skip");
    assert_eq!(joe.track(&id).await.expect("track").play_count, 1);

    let history = joe.history(None).await.expect("history");
    assert_eq!(history.items.len(), 2);
    assert_eq!(history.items[0].session_id, skip.session_id, "newest first");
    assert!(history.items[1].completed && (history.items[1].listened_s - 60.0).abs() < 1e-6);
    assert!(history.next_cursor.is_none());
}

async fn bad_reports_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = track(&app, 60.0).await;
    let kim = user_client(&app, "kim").await;
    let session = kim.open_session(&id).await.expect("open");
    assert_code(
        kim.heartbeat(&session.session_id, &beat(1, -5.0)).await,
        422,
        "invalid_field",
    );
    assert_code(
        kim.heartbeat(&session.session_id, &beat(0, 5.0)).await,
        422,
        "invalid_field",
    );
    assert_code(kim.open_session("nope").await, 404, "not_found");
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/playback/sessions/{}/heartbeat",
            app.base_url, session.session_id
        ))
        .bearer_auth(kim.token().expect("token"))
        .header("content-type", "application/json")
        .body(r#"{"seq": "one", "position_s": 1, "playing": true}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(raw.status(), 422);
    let anonymous = Client::new(&app.base_url).expect("client");
    assert_code(anonymous.open_session(&id).await, 401, "missing_token");
}
