//! The catalogue (search, filters, pagination, genres and artists, popular),
//! track edits and deletion, likes and playlists, against a real server on
//! both databases. Catalogues of a few hundred tracks are inserted straight
//! into the database as ready tracks; only the deletion tests upload and
//! transcode real audio, to have real objects and keys to remove.

use std::collections::HashSet;
use std::time::Duration;

use mist_core::api::{
    CompleteUploadRequest, CreatePlaylistRequest, Track, TrackQuery, TrackSort, UpdatePlaylistRequest,
    UpdateTrackRequest,
};
use mist_core::client::{Client, ClientError};
use mist_server::db::tracks::{self, TrackRow};
use mist_server::db::{library, new_id, now_ms};
use mist_server::testing::audio::generate_wav;
use mist_server::testing::upload::{admin_client, upload_file, user_client, wait_for_job};
use mist_server::testing::{Backend, Store, TestApp, TestOptions, spawn_app, spawn_with};
use mist_server::with_pool;

mist_server::on_both!(
    search_forgives_case_accents_prefixes_and_a_typo,
    title_matches_rank_above_album_matches,
    filters_combine_with_search,
    pagination_lists_every_track_exactly_once,
    genres_and_artists_are_counted_and_paginated,
    edits_are_searchable_at_once_and_only_by_the_uploader_or_an_admin,
    delete_removes_objects_keys_and_rows,
    private_playlists_are_visible_to_their_owner_only,
    playlist_moves_and_removals_keep_positions_contiguous,
    concurrent_likes_and_playlist_adds_stay_consistent,
    popular_counts_completed_listens_in_the_window,
    limits_are_bounded_and_bad_cursors_refused,
    every_metadata_path_refuses_control_and_bidi_characters,
    typo_corrections_follow_writes_and_hostile_terms_stay_cheap,
    typo_of_a_common_word_lists_that_word_most_played_first,
);

const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// A user client and its id.
async fn user(app: &TestApp, name: &str) -> (Client, String) {
    let client = user_client(app, name).await;
    let id = client.me().await.expect("me").id;
    (client, id)
}

fn row(uploader: &str, title: &str, artist: &str, album: &str, genre: &str, n: i64) -> TrackRow {
    let now = now_ms();
    let id = new_id();
    TrackRow {
        original_key: format!("tracks/{id}/original.wav"),
        id,
        uploader_id: uploader.to_owned(),
        title: title.to_owned(),
        artist: Some(artist.to_owned()).filter(|s| !s.is_empty()),
        album: Some(album.to_owned()).filter(|s| !s.is_empty()),
        genre: Some(genre.to_owned()).filter(|s| !s.is_empty()),
        duration_ms: 180_000 + n,
        status: "ready".into(),
        error: None,
        segment_count: 30,
        key_count: 6,
        play_count: n % 17,
        created_at: now - n * 1000,
        updated_at: now,
        ..Default::default()
    }
}

const WORDS: &[&str] = &[
    "river", "stone", "light", "ember", "harbor", "willow", "cobalt", "velvet", "north", "paper", "silver", "quiet",
    "garden", "thunder", "orchid", "lantern", "meadow", "copper", "winter", "hollow",
];
const GENRES: &[&str] = &["Jazz", "Rock", "Folk", "Ambient", "Soul"];

/// `n` generated ready tracks ("Velvet Lantern", by "Cobalt Hollow", …)
/// plus the named ones the search tests look for. Returns every id.
async fn catalogue(app: &TestApp, uploader: &str, n: usize) -> Vec<String> {
    let mut rows = Vec::new();
    for i in 0..n {
        let w = |k: usize| WORDS[(i * 7 + k * 13 + i / 20) % WORDS.len()];
        let title = format!("{} {} {i}", capitalise(w(0)), capitalise(w(1)));
        let artist = format!("{} {}", capitalise(w(2)), capitalise(w(3)));
        let album = format!("{} {}", capitalise(w(4)), capitalise(w(5)));
        rows.push(row(
            uploader,
            &title,
            &artist,
            &album,
            GENRES[i % GENRES.len()],
            i as i64,
        ));
    }
    let named = [
        ("Halo", "Beyoncé", "I Am... Sasha Fierce", "Pop"),
        ("Crazy in Love", "Beyoncé", "Dangerously in Love", "Pop"),
        ("Master of Puppets", "Metallica", "Master of Puppets", "Metal"),
        ("Enter Sandman", "Metallica", "Metallica", "Metal"),
        ("Ça plane pour moi", "Plastic Bertrand", "An 1", "Punk"),
    ];
    for (k, (title, artist, album, genre)) in named.into_iter().enumerate() {
        rows.push(row(uploader, title, artist, album, genre, (n + k) as i64));
    }
    for r in &rows {
        tracks::insert_ready_track(&app.state.db, r)
            .await
            .expect("insert track");
    }
    rows.into_iter().map(|r| r.id).collect()
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn search(q: &str) -> TrackQuery {
    TrackQuery {
        q: Some(q.into()),
        ..TrackQuery::default()
    }
}

async fn titles(client: &Client, query: &TrackQuery) -> Vec<String> {
    let page = client.tracks(query).await.expect("search");
    page.items.into_iter().map(|t| t.title).collect()
}

/// Every page of a listing, in order.
async fn all_pages(client: &Client, query: &TrackQuery) -> Vec<Track> {
    let mut query = query.clone();
    let mut all = Vec::new();
    for _ in 0..1000 {
        let page = client.tracks(&query).await.expect("page");
        assert!(page.items.len() as i64 <= query.limit.unwrap_or(20));
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return all,
        }
    }
    panic!("pagination does not end")
}

async fn search_forgives_case_accents_prefixes_and_a_typo(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, me) = user(&app, "ann").await;
    catalogue(&app, &me, 300).await;

    let check = |q: &'static str, expected: &'static str| {
        let client = client.clone();
        async move {
            let found = titles(&client, &search(q)).await;
            assert!(
                found.iter().any(|t| t == expected),
                "{q:?} should find {expected:?}: {found:?}"
            );
            found
        }
    };
    // Accents and case.
    let found = check("beyonce", "Halo").await;
    assert!(found.contains(&"Crazy in Love".to_string()));
    check("BEYONCÉ", "Halo").await;
    check("ca plane", "Ça plane pour moi").await;
    // Prefix, as typed.
    check("metal", "Enter Sandman").await;
    check("metallica", "Master of Puppets").await;
    check("puppe", "Master of Puppets").await;
    // One typo: dropped, swapped, substituted letters; and in a word still being typed.
    for q in ["metalica", "mettallica", "metlalica", "metallicq", "metali"] {
        check(q, "Enter Sandman").await;
    }
    check("beyonse", "Halo").await;
    check("sandmen", "Enter Sandman").await;
    // Several terms must all match, typo or not.
    assert_eq!(titles(&client, &search("metalica sandman")).await, ["Enter Sandman"]);
    assert_eq!(titles(&client, &search("halo beyonce")).await, ["Halo"]);
    // Two typos are too many; nonsense finds nothing.
    assert!(titles(&client, &search("mtalicaa")).await.is_empty());
    assert!(titles(&client, &search("zzyzx")).await.is_empty());
    // Punctuation and operators are not syntax: "OR" is a word like any other.
    assert!(
        titles(&client, &search("\"metal* (\""))
            .await
            .contains(&"Enter Sandman".to_string())
    );
    assert!(titles(&client, &search("metal OR halo")).await.is_empty());
    assert_eq!(titles(&client, &search("NOT halo")).await, Vec::<String>::new());
    // Odd input is never an error: symbols unaccent expands, ligatures,
    // combining marks, other scripts, FTS and tsquery syntax.
    for q in [
        "½",
        "x²",
        "ﬁre",
        "Æon",
        "'",
        "*",
        "\"",
        "日本語",
        "e\u{301}",
        "NEAR(a b)",
        "a:* & !b",
        "---",
        "ǅ",
    ] {
        client.tracks(&search(q)).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }
}

async fn title_matches_rank_above_album_matches(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, me) = user(&app, "ann").await;
    catalogue(&app, &me, 200).await;
    let rows = [
        row(&me, "Moonlit Things", "Aa Band", "Nocturne", "Jazz", 1),
        row(&me, "Nocturne", "Bb Band", "Moonlit Things", "Jazz", 2),
        row(&me, "Other Things", "Nocturne", "Moonlit", "Jazz", 3),
    ];
    for r in &rows {
        tracks::insert_ready_track(&app.state.db, r).await.expect("insert");
    }
    assert_eq!(
        titles(&client, &search("nocturne")).await,
        ["Nocturne", "Other Things", "Moonlit Things"],
        "title, then artist, then album"
    );
    // Relevance is the default with a query; an explicit sort wins.
    let by_title = TrackQuery {
        sort: Some(TrackSort::Title),
        ..search("nocturne")
    };
    assert_eq!(
        titles(&client, &by_title).await,
        ["Moonlit Things", "Nocturne", "Other Things"]
    );
}

async fn filters_combine_with_search(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, me) = user(&app, "ann").await;
    let ids = catalogue(&app, &me, 300).await;
    let rows = [
        row(&me, "Blue River", "Quiet Harbor", "Deep", "Jazz", 1),
        row(&me, "Blue River", "Quiet Harbor", "Deep", "Rock", 2),
    ];
    for r in &rows {
        tracks::insert_ready_track(&app.state.db, r).await.expect("insert");
    }
    let query = TrackQuery {
        q: Some("blue".into()),
        genre: Some("jazz".into()),
        ..TrackQuery::default()
    };
    let found = client.tracks(&query).await.expect("search").items;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].genre.as_deref(), Some("Jazz"));

    // A genre alone: every ready jazz track, in title order.
    let jazz = TrackQuery {
        genre: Some("JAZZ".into()),
        limit: Some(100),
        ..TrackQuery::default()
    };
    let all = all_pages(&client, &jazz).await;
    assert_eq!(all.len(), 60 + 1);
    assert!(all.iter().all(|t| t.genre.as_deref() == Some("Jazz")));
    let sorted: Vec<String> = all.iter().map(|t| t.title.to_lowercase()).collect();
    assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "title order");

    // Artist and album filters, with and without a query.
    let artist = TrackQuery {
        artist: Some("metallica".into()),
        ..TrackQuery::default()
    };
    assert_eq!(titles(&client, &artist).await, ["Enter Sandman", "Master of Puppets"]);
    let album = TrackQuery {
        album: Some("master of puppets".into()),
        q: Some("metallica".into()),
        ..TrackQuery::default()
    };
    assert_eq!(titles(&client, &album).await, ["Master of Puppets"]);
    assert!(ids.len() > 300);
}

async fn pagination_lists_every_track_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, me) = user(&app, "ann").await;
    let ids: HashSet<String> = catalogue(&app, &me, 300).await.into_iter().collect();
    // Tracks that are not ready are never listed.
    let mut hidden = row(&me, "Velvet Hidden", "Cobalt", "", "Jazz", 0);
    hidden.status = "processing".into();
    mist_server::with_pool!(&app.state.db, pool => {
        sqlx::query(
            "INSERT INTO tracks (id, uploader_id, title, artist, status, original_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'processing', $5, $6, $6)",
        )
        .bind(&hidden.id)
        .bind(&me)
        .bind(&hidden.title)
        .bind(&hidden.artist)
        .bind(&hidden.original_key)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ())
    })
    .expect("insert processing track");

    for sort in [
        TrackSort::Title,
        TrackSort::Artist,
        TrackSort::Newest,
        TrackSort::Popular,
    ] {
        let query = TrackQuery {
            sort: Some(sort),
            limit: Some(23),
            ..TrackQuery::default()
        };
        let all = all_pages(&client, &query).await;
        let seen: Vec<&String> = all.iter().map(|t| &t.id).collect();
        let unique: HashSet<String> = seen.iter().map(|s| s.to_string()).collect();
        assert_eq!(seen.len(), unique.len(), "{sort:?}: a track was listed twice");
        assert_eq!(unique, ids, "{sort:?}: every ready track, once");
    }
    // Relevance over a query matching many tracks with equal scores.
    let query = TrackQuery {
        q: Some("river".into()),
        limit: Some(9),
        ..TrackQuery::default()
    };
    let all = all_pages(&client, &query).await;
    let unique: HashSet<&String> = all.iter().map(|t| &t.id).collect();
    assert_eq!(all.len(), unique.len(), "a track was listed twice");
    let expected = all_pages(
        &client,
        &TrackQuery {
            limit: Some(100),
            ..query.clone()
        },
    )
    .await;
    assert_eq!(all.len(), expected.len());
    assert!(all.len() > 50, "{}", all.len());
    // Only short prefixes (someone still typing): the same tracks, most
    // played first, every one once across pages.
    let short = all_pages(
        &client,
        &TrackQuery {
            q: Some("riv".into()),
            limit: Some(7),
            ..TrackQuery::default()
        },
    )
    .await;
    let short_ids: Vec<&String> = short.iter().map(|t| &t.id).collect();
    let popular = all_pages(
        &client,
        &TrackQuery {
            q: Some("riv".into()),
            sort: Some(TrackSort::Popular),
            limit: Some(100),
            ..TrackQuery::default()
        },
    )
    .await;
    assert_eq!(short_ids, popular.iter().map(|t| &t.id).collect::<Vec<_>>());
    assert_eq!(short_ids.iter().copied().collect::<HashSet<_>>(), unique);
    let mut counts = Vec::new();
    for id in &short_ids {
        counts.push(ids_plays(&app, id).await);
    }
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most played first: {counts:?}");
    assert!(counts.first() > counts.last(), "{counts:?}");
    // Newest first really is newest first.
    let newest = client
        .tracks(&TrackQuery {
            sort: Some(TrackSort::Newest),
            ..TrackQuery::default()
        })
        .await
        .expect("newest");
    assert!(newest.items.windows(2).all(|w| w[0].created_at >= w[1].created_at));
}

/// A track's play count, read from the database (the API does not show it).
async fn ids_plays(app: &TestApp, id: &str) -> i64 {
    with_pool!(&app.state.db, pool => {
        sqlx::query_scalar::<_, i64>("SELECT play_count FROM tracks WHERE id = $1").bind(id).fetch_one(pool).await
    })
    .expect("play count")
}

async fn genres_and_artists_are_counted_and_paginated(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, me) = user(&app, "ann").await;
    catalogue(&app, &me, 100).await;
    tracks::insert_ready_track(&app.state.db, &row(&me, "Loud", "METALLICA", "", "Metal", 0))
        .await
        .expect("insert");
    let mut genres = Vec::new();
    let mut cursor = None;
    loop {
        let page = client.genres(Some(3), cursor.as_deref()).await.expect("genres");
        assert!(page.items.len() <= 3);
        genres.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let names: Vec<(&str, i64)> = genres.iter().map(|g| (g.name.as_str(), g.track_count)).collect();
    assert_eq!(
        names,
        [
            ("Ambient", 20),
            ("Folk", 20),
            ("Jazz", 20),
            ("Metal", 3),
            ("Pop", 2),
            ("Punk", 1),
            ("Rock", 20),
            ("Soul", 20)
        ]
    );
    // Tracks inserted as they were before the library existed have no
    // artist records until a start links them in the background (as after
    // an upgrade); then a pass finds nothing left.
    let app = app.restart().await;
    let (client, _) = user(&app, "bob").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = client.artists(Some(100), None).await.expect("artists");
        if page.items.iter().map(|a| a.track_count).sum::<i64>() == 106 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not linked after a restart: {page:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        mist_server::db::albums::link_all_unlinked(&app.state.db, || false)
            .await
            .expect("link"),
        0
    );
    // With every track linked, a start reads the partial index of the
    // tracks left to link (empty) and never walks `tracks`.
    let plan = unlinked_plan(&app).await;
    assert!(
        plan.contains("tracks_unlinked") && !plan.contains("Seq Scan") && !plan.contains("SCAN tracks"),
        "{plan}"
    );
    // A–Z by folded name, three at a time, every artist once.
    let mut artists = Vec::new();
    let mut cursor = None;
    loop {
        let page = client.artists(Some(3), cursor.as_deref()).await.expect("artists");
        assert!(page.items.len() <= 3);
        artists.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let names: Vec<String> = artists
        .iter()
        .map(|a| mist_server::db::albums::fold_key(&a.name))
        .collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    let metallica = artists
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case("metallica"))
        .expect("metallica");
    assert_eq!(metallica.track_count, 3, "counted regardless of case");
    assert_eq!(artists.iter().map(|a| a.track_count).sum::<i64>(), 106);
    // Its albums were made from the tracks' album names.
    assert!(metallica.album_count >= 1, "{metallica:?}");
    let page = client.artist(&metallica.id).await.expect("artist");
    assert_eq!(page.top_tracks.len(), 3);
    assert_eq!(page.albums.len() as i64, metallica.album_count);
    // A cursor from another listing is refused.
    let genres = client.genres(Some(1), None).await.expect("genres");
    let err = client
        .artists(Some(3), genres.next_cursor.as_deref())
        .await
        .expect_err("foreign cursor");
    assert_eq!((err.status(), err.code()), (Some(400), Some("invalid_cursor")));
}

/// The plan of the start-up pass's query for unlinked tracks, as text.
async fn unlinked_plan(app: &TestApp) -> String {
    let query = mist_server::db::albums::unlinked_query(&app.state.db);
    let lines: Vec<String> = match &app.state.db {
        mist_server::db::Db::Sqlite(pool) => {
            sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}")))
                .bind("")
                .bind(500_i64)
                .fetch_all(pool)
                .await
                .expect("plan")
                .into_iter()
                .map(|row| row.3)
                .collect()
        }
        mist_server::db::Db::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {query}")))
            .bind("")
            .bind(500_i64)
            .fetch_all(pool)
            .await
            .expect("plan"),
    };
    lines.join("\n")
}

async fn edits_are_searchable_at_once_and_only_by_the_uploader_or_an_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    let (bob, _) = user(&app, "bob").await;
    let admin = admin_client(&app).await;
    catalogue(&app, &ann_id, 50).await;
    let target = row(&ann_id, "Untitled 1", "Someone", "Demo", "Jazz", 0);
    tracks::insert_ready_track(&app.state.db, &target)
        .await
        .expect("insert");

    let edit = UpdateTrackRequest {
        title: Some("Sunrise Over Kraków".into()),
        artist: Some("Zoë Keating".into()),
        album: Some(String::new()),
        genre: None,
        ..UpdateTrackRequest::default()
    };
    let err = bob.update_track(&target.id, &edit).await.expect_err("not his");
    assert_eq!(err.status(), Some(403));
    let err = bob.delete_track(&target.id).await.expect_err("not his");
    assert_eq!(err.status(), Some(403));
    let err = bob.update_track("no-such-track", &edit).await.expect_err("unknown");
    assert_eq!(err.status(), Some(404));
    let err = bob.delete_track("no-such-track").await.expect_err("unknown");
    assert_eq!(err.status(), Some(404));

    let updated = ann.update_track(&target.id, &edit).await.expect("uploader edits");
    assert_eq!(updated.title, "Sunrise Over Kraków");
    assert_eq!(updated.artist.as_deref(), Some("Zoë Keating"));
    assert_eq!(updated.album, None, "an empty field clears it");
    assert_eq!(updated.genre.as_deref(), Some("Jazz"), "a missing field stays");
    // The index follows at once: new words are found, old ones are not.
    for q in ["krakow", "zoe keat", "sunrise"] {
        assert_eq!(titles(&bob, &search(q)).await, ["Sunrise Over Kraków"], "{q}");
    }
    assert!(titles(&bob, &search("untitled")).await.is_empty());
    assert!(titles(&bob, &search("demo")).await.is_empty());

    let by_admin = admin
        .update_track(
            &target.id,
            &UpdateTrackRequest {
                genre: Some("Classical".into()),
                ..UpdateTrackRequest::default()
            },
        )
        .await
        .expect("admins edit anything");
    assert_eq!(by_admin.genre.as_deref(), Some("Classical"));
    let err = ann
        .update_track(
            &target.id,
            &UpdateTrackRequest {
                title: Some("  ".into()),
                ..UpdateTrackRequest::default()
            },
        )
        .await
        .expect_err("empty title");
    assert_eq!(err.status(), Some(422));

    admin.delete_track(&target.id).await.expect("admins delete anything");
    assert!(titles(&bob, &search("sunrise")).await.is_empty());
    assert_eq!(ann.track(&target.id).await.expect_err("gone").status(), Some(404));
}

/// Uploads and transcodes a short file; returns the ready track's id.
async fn real_track(app: &TestApp, client: &Client) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("tone.wav");
    generate_wav(&wav, 8.0);
    let meta = CompleteUploadRequest {
        title: Some("Doomed Tone".into()),
        ..CompleteUploadRequest::default()
    };
    let job_id = upload_file(client, &wav, meta).await;
    let job = wait_for_job(client, &job_id, JOB_TIMEOUT).await;
    assert_eq!(job.status, mist_core::api::JobStatus::Ready, "{job:?}");
    let _ = app;
    job.track_id
}

async fn delete_removes_objects_keys_and_rows(backend: Backend) {
    let app = spawn_app(backend).await;
    check_delete(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_delete_removes_objects_keys_and_rows() {
    let app = spawn_with(TestOptions {
        store: Store::S3,
        ..TestOptions::new(Backend::Postgres)
    })
    .await;
    check_delete(&app).await;
}

async fn check_delete(app: &TestApp) {
    let (ann, ann_id) = user(app, "ann").await;
    let id = real_track(app, &ann).await;
    let prefix = format!("tracks/{id}/");
    let objects = app.state.store.list(&prefix).await.expect("list");
    assert!(objects.len() > 5, "original, playlists and segments: {objects:?}");
    assert!(
        mist_server::db::tracks::count_keys(&app.state.db, &id)
            .await
            .expect("keys")
            > 0
    );
    // Point a like and a playlist entry at it, after another track.
    let other = row(&ann_id, "Stays", "", "", "", 0);
    tracks::insert_ready_track(&app.state.db, &other).await.expect("insert");
    ann.like(&id).await.expect("like");
    let playlist = ann
        .create_playlist(&CreatePlaylistRequest {
            name: "mix".into(),
            ..CreatePlaylistRequest::default()
        })
        .await
        .expect("playlist");
    ann.add_to_playlist(&playlist.id, &id).await.expect("add");
    ann.add_to_playlist(&playlist.id, &other.id).await.expect("add");

    ann.delete_track(&id).await.expect("delete");

    assert!(
        app.state.store.list(&prefix).await.expect("list").is_empty(),
        "objects left"
    );
    assert_eq!(
        mist_server::db::tracks::count_keys(&app.state.db, &id)
            .await
            .expect("keys"),
        0
    );
    assert!(
        mist_server::db::tracks::find(&app.state.db, &id)
            .await
            .expect("find")
            .is_none()
    );
    let pointing: i64 = with_pool!(&app.state.db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT COUNT(*) FROM likes WHERE track_id = $1) + \
             (SELECT COUNT(*) FROM playlist_tracks WHERE track_id = $1) + \
             (SELECT COUNT(*) FROM ingest_jobs WHERE track_id = $1) + \
             (SELECT COUNT(*) FROM uploads WHERE track_id = $1)",
        )
        .bind(&id)
        .fetch_one(pool)
        .await
    })
    .expect("count");
    assert_eq!(pointing, 0, "rows still point at the deleted track");
    assert!(ann.likes(None, None).await.expect("likes").items.is_empty());
    let entries = ann.playlist_tracks(&playlist.id, None, None).await.expect("entries");
    assert_eq!(entries.items.len(), 1);
    assert_eq!(
        (entries.items[0].position, entries.items[0].track.id.as_str()),
        (0, other.id.as_str())
    );
    assert_eq!(ann.delete_track(&id).await.expect_err("gone").status(), Some(404));
}

async fn private_playlists_are_visible_to_their_owner_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    let (bob, _) = user(&app, "bob").await;
    let ids = catalogue(&app, &ann_id, 10).await;
    let private = ann
        .create_playlist(&CreatePlaylistRequest {
            name: "  Secret mix ".into(),
            description: Some("for me".into()),
            public: None,
        })
        .await
        .expect("create");
    assert_eq!((private.name.as_str(), private.public), ("Secret mix", false));
    ann.add_to_playlist(&private.id, &ids[0]).await.expect("add");

    // Bob cannot tell it exists.
    assert_eq!(
        bob.playlist(&private.id).await.expect_err("private").status(),
        Some(404)
    );
    assert_eq!(
        bob.playlist_tracks(&private.id, None, None)
            .await
            .expect_err("private")
            .status(),
        Some(404)
    );
    assert_eq!(
        bob.add_to_playlist(&private.id, &ids[1])
            .await
            .expect_err("private")
            .status(),
        Some(404)
    );
    assert_eq!(
        bob.delete_playlist(&private.id).await.expect_err("private").status(),
        Some(404)
    );
    // Ann always can.
    assert_eq!(ann.playlist(&private.id).await.expect("own").track_count, 1);
    assert_eq!(ann.my_playlists(None, None).await.expect("mine").items.len(), 1);
    assert!(bob.my_playlists(None, None).await.expect("his").items.is_empty());

    // Public: Bob reads but cannot change it.
    let public = ann
        .update_playlist(
            &private.id,
            &UpdatePlaylistRequest {
                public: Some(true),
                name: Some("Shared mix".into()),
                ..UpdatePlaylistRequest::default()
            },
        )
        .await
        .expect("publish");
    assert!(public.public);
    assert_eq!(public.description, "for me");
    assert_eq!(bob.playlist(&private.id).await.expect("public").name, "Shared mix");
    assert_eq!(
        bob.playlist_tracks(&private.id, None, None)
            .await
            .expect("public")
            .items
            .len(),
        1
    );
    assert_eq!(
        bob.add_to_playlist(&private.id, &ids[1])
            .await
            .expect_err("not his")
            .status(),
        Some(403)
    );
    assert_eq!(
        bob.update_playlist(&private.id, &UpdatePlaylistRequest::default())
            .await
            .expect_err("not his")
            .status(),
        Some(403)
    );
    assert_eq!(
        bob.delete_playlist(&private.id).await.expect_err("not his").status(),
        Some(403)
    );
    // Private again, then gone.
    ann.update_playlist(
        &private.id,
        &UpdatePlaylistRequest {
            public: Some(false),
            ..UpdatePlaylistRequest::default()
        },
    )
    .await
    .expect("unpublish");
    assert_eq!(
        bob.playlist(&private.id).await.expect_err("private").status(),
        Some(404)
    );
    ann.delete_playlist(&private.id).await.expect("delete");
    assert_eq!(ann.playlist(&private.id).await.expect_err("gone").status(), Some(404));
    let err = ann
        .create_playlist(&CreatePlaylistRequest {
            name: " ".into(),
            ..CreatePlaylistRequest::default()
        })
        .await
        .expect_err("no name");
    assert_eq!(err.status(), Some(422));
}

async fn order(client: &Client, playlist: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = client
            .playlist_tracks(playlist, Some(3), cursor.as_deref())
            .await
            .expect("entries");
        for entry in page.items {
            assert_eq!(entry.position, all.len() as i64, "positions are contiguous");
            all.push(entry.track.id);
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            return all;
        }
    }
}

async fn playlist_moves_and_removals_keep_positions_contiguous(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    let ids = catalogue(&app, &ann_id, 10).await;
    let p = ann
        .create_playlist(&CreatePlaylistRequest {
            name: "order".into(),
            ..CreatePlaylistRequest::default()
        })
        .await
        .expect("create")
        .id;
    for id in &ids[..6] {
        ann.add_to_playlist(&p, id).await.expect("add");
    }
    // Adding again keeps the first place.
    assert_eq!(ann.add_to_playlist(&p, &ids[2]).await.expect("again").position, 2);
    let mut expected: Vec<String> = ids[..6].to_vec();
    assert_eq!(order(&ann, &p).await, expected);

    ann.move_in_playlist(&p, &ids[0], 4).await.expect("move down");
    let moved = expected.remove(0);
    expected.insert(4, moved);
    assert_eq!(order(&ann, &p).await, expected);

    ann.move_in_playlist(&p, &ids[5], 0).await.expect("move up");
    let moved = expected.remove(5);
    expected.insert(0, moved);
    assert_eq!(order(&ann, &p).await, expected);

    let last = ann.move_in_playlist(&p, &ids[3], 99).await.expect("past the end");
    assert_eq!(last.position, 5);
    let at = expected.iter().position(|x| x == &ids[3]).expect("there");
    let moved = expected.remove(at);
    expected.push(moved);
    assert_eq!(order(&ann, &p).await, expected);

    ann.remove_from_playlist(&p, &ids[1]).await.expect("remove");
    expected.retain(|x| x != &ids[1]);
    assert_eq!(order(&ann, &p).await, expected);
    assert_eq!(
        ann.remove_from_playlist(&p, &ids[1])
            .await
            .expect_err("not there")
            .status(),
        Some(404)
    );
    assert_eq!(
        ann.move_in_playlist(&p, &ids[9], 0)
            .await
            .expect_err("not there")
            .status(),
        Some(404)
    );
    assert_eq!(
        ann.add_to_playlist(&p, "no-such-track")
            .await
            .expect_err("unknown")
            .status(),
        Some(404)
    );
    assert_eq!(ann.playlist(&p).await.expect("get").track_count, 5);
}

async fn concurrent_likes_and_playlist_adds_stay_consistent(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    let ids = catalogue(&app, &ann_id, 40).await;

    // Many clients like and unlike the same tracks at once: in the end
    // exactly the tracks whose last operation was a like are liked, once.
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().take(20).enumerate() {
        for round in 0..4 {
            let (client, id) = (ann.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                if round < 3 || i % 2 == 0 {
                    client.like(&id).await
                } else {
                    // Odd tracks: liked three times at once, then unliked.
                    Ok(())
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("like");
    }
    let unlikes: Vec<_> = ids
        .iter()
        .take(20)
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .flat_map(|(_, id)| {
            (0..3).map(|_| {
                let (client, id) = (ann.clone(), id.clone());
                tokio::spawn(async move { client.unlike(&id).await })
            })
        })
        .collect();
    for t in unlikes {
        t.await.expect("task").expect("unlike");
    }
    let liked = ann.likes(Some(100), None).await.expect("likes").items;
    let liked_ids: HashSet<String> = liked.iter().map(|t| t.id.clone()).collect();
    assert_eq!(liked.len(), liked_ids.len(), "no duplicates");
    let expected: HashSet<String> = ids.iter().take(20).step_by(2).cloned().collect();
    assert_eq!(liked_ids, expected);
    assert_eq!(library::count_likes(&app.state.db, &ann_id).await.expect("count"), 10);

    // Many clients append to one playlist at once, some the same track.
    let p = ann
        .create_playlist(&CreatePlaylistRequest {
            name: "party".into(),
            ..CreatePlaylistRequest::default()
        })
        .await
        .expect("create")
        .id;
    let adds: Vec<_> = (0..60)
        .map(|k| {
            let (client, p, id) = (ann.clone(), p.clone(), ids[k % 30].clone());
            tokio::spawn(async move { client.add_to_playlist(&p, &id).await })
        })
        .collect();
    for t in adds {
        t.await.expect("task").expect("add");
    }
    let positions = library::positions(&app.state.db, &p).await.expect("positions");
    assert_eq!(positions.len(), 30, "each track once");
    for (k, (position, _)) in positions.iter().enumerate() {
        assert_eq!(*position, k as i64, "contiguous");
    }
    let tracks: HashSet<&String> = positions.iter().map(|(_, t)| t).collect();
    assert_eq!(tracks.len(), 30);

    // Concurrent removals and moves keep them contiguous too.
    let changes: Vec<_> = (0..30)
        .map(|k| {
            let (client, p, id) = (ann.clone(), p.clone(), ids[k].clone());
            tokio::spawn(async move {
                if k % 3 == 0 {
                    client.remove_from_playlist(&p, &id).await
                } else {
                    client.move_in_playlist(&p, &id, (k as i64 * 7) % 30).await.map(|_| ())
                }
            })
        })
        .collect();
    for t in changes {
        t.await.expect("task").expect("change");
    }
    let positions = library::positions(&app.state.db, &p).await.expect("positions");
    assert_eq!(positions.len(), 20);
    for (k, (position, _)) in positions.iter().enumerate() {
        assert_eq!(*position, k as i64, "contiguous after removals and moves");
    }
}

async fn popular_counts_completed_listens_in_the_window(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    let ids = catalogue(&app, &ann_id, 10).await;
    let day = 24 * 3600 * 1000;
    let now = now_ms();
    // (track, completed, days ago)
    let mut plays = Vec::new();
    plays.extend((0..3).map(|_| (0, true, 1)));
    plays.extend((0..2).map(|_| (1, true, 2)));
    plays.extend((0..5).map(|_| (1, false, 2)));
    plays.extend((0..4).map(|_| (2, true, 20)));
    plays.push((3, true, 40));
    for (track, completed, days_ago) in plays {
        let at = now - days_ago * day;
        with_pool!(&app.state.db, pool => {
            sqlx::query(
                "INSERT INTO playback_sessions (id, user_id, track_id, duration_ms, last_report_at, listened_ms, \
                 completed, completed_at, started_at, play_counted) VALUES ($1, $2, $3, 180000, $4, 180000, $5, $6, $4, $5)",
            )
            .bind(new_id())
            .bind(&ann_id)
            .bind(&ids[track])
            .bind(at)
            .bind(completed)
            .bind(completed.then_some(at))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .expect("insert session");
    }
    let week = ann.popular(7, None, None).await.expect("week");
    let got: Vec<(&str, i64)> = week.items.iter().map(|p| (p.track.id.as_str(), p.plays)).collect();
    assert_eq!(got, [(ids[0].as_str(), 3), (ids[1].as_str(), 2)]);
    let month = ann.popular(30, Some(1), None).await.expect("month");
    assert_eq!(month.items[0].track.id, ids[2]);
    assert_eq!(month.items[0].plays, 4);
    let rest = ann
        .popular(30, Some(1), month.next_cursor.as_deref())
        .await
        .expect("next");
    assert_eq!(rest.items[0].track.id, ids[0]);
    let err = ann.popular(5, None, None).await.expect_err("7 or 30");
    assert_eq!(err.status(), Some(400));
}

async fn limits_are_bounded_and_bad_cursors_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    catalogue(&app, &ann_id, 150).await;
    let huge = TrackQuery {
        limit: Some(10_000),
        ..TrackQuery::default()
    };
    assert_eq!(ann.tracks(&huge).await.expect("clamped").items.len(), 100);
    assert_eq!(
        ann.tracks(&TrackQuery::default()).await.expect("default").items.len(),
        20
    );
    let bad = TrackQuery {
        cursor: Some("not-a-cursor".into()),
        ..TrackQuery::default()
    };
    let err: ClientError = ann.tracks(&bad).await.expect_err("bad cursor");
    assert_eq!((err.status(), err.code()), (Some(400), Some("invalid_cursor")));
    // A cursor from one listing is refused by another.
    let first = ann
        .tracks(&TrackQuery {
            sort: Some(TrackSort::Newest),
            ..TrackQuery::default()
        })
        .await
        .expect("page");
    let replayed = TrackQuery {
        cursor: first.next_cursor,
        ..TrackQuery::default()
    };
    assert_eq!(
        ann.tracks(&replayed).await.expect_err("other listing").status(),
        Some(400)
    );
    let response = ann
        .send(
            ann.request(mist_core::client::Method::GET, "/api/v1/tracks?sort=loudest")
                .expect("request"),
        )
        .await
        .expect_err("unknown sort");
    assert_eq!(response.status(), Some(400));
    // The endpoints are in the OpenAPI document.
    let doc: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for path in [
        "/api/v1/tracks",
        "/api/v1/tracks/popular",
        "/api/v1/genres",
        "/api/v1/artists",
        "/api/v1/me/likes/{track_id}",
        "/api/v1/playlists/{id}/tracks/{track_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert!(doc["paths"]["/api/v1/tracks/{id}"]["patch"].is_object());
    assert!(doc["paths"]["/api/v1/tracks/{id}"]["delete"].is_object());
    // Anonymous callers are refused.
    assert_eq!(
        app.client()
            .tracks(&TrackQuery::default())
            .await
            .expect_err("no token")
            .status(),
        Some(401)
    );
}

/// Search latency at 100k tracks on both engines, through the HTTP API.
/// Not a test: `bench/search.sh` runs it and prints the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run bench/search.sh"]
async fn search_latency_at_100k_tracks() {
    let n: usize = std::env::var("MIST_BENCH_TRACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("MIST_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        bench_backend(backend, n, rounds).await;
    }
}

/// A pseudo-word from syllables: a vocabulary of tens of thousands of
/// distinct terms, like a real catalogue's.
fn bench_word(seed: u64) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ra", "ven", "tor", "sil", "mar", "del", "no", "qui", "ber", "sha", "lu", "den", "fa", "gro",
        "hel", "ix", "jor", "ke", "lan", "mo", "nes", "or", "pa", "ris", "sto", "tu", "ul", "vi", "wen", "ya", "zel",
        "cor", "dra", "el", "fin", "gal", "har",
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (seed >> 7);
    let count = 2 + (x % 2) as usize;
    let mut word = String::new();
    for _ in 0..count {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        word.push_str(SYLLABLES[((x >> 33) % SYLLABLES.len() as u64) as usize]);
    }
    word
}

/// Makes one kind of benchmark query from a word of the catalogue.
type QueryMaker = Box<dyn Fn(&str) -> TrackQuery>;

async fn bench_backend(backend: Backend, n: usize, rounds: usize) {
    let app = spawn_app(backend).await;
    let (client, me) = user(&app, "bench").await;
    let started = std::time::Instant::now();
    let genres: Vec<String> = (0..30).map(|g| capitalise(&bench_word(1_000_000 + g))).collect();
    let mut rows = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let title = format!(
            "{} {}",
            capitalise(&bench_word(i % 40_000)),
            capitalise(&bench_word(i * 7 + 3))
        );
        let artist = format!(
            "{} {}",
            capitalise(&bench_word(200_000 + i % 5_000)),
            capitalise(&bench_word(300_000 + i % 3_000))
        );
        let album = capitalise(&bench_word(400_000 + i % 10_000));
        rows.push(row(&me, &title, &artist, &album, &genres[(i % 30) as usize], i as i64));
    }
    tracks::insert_ready_tracks(&app.state.db, &rows)
        .await
        .expect("bulk insert");
    // Statistics, as a database in service has them (autovacuum; SQLite's `PRAGMA optimize`).
    with_pool!(&app.state.db, pool => sqlx::query("ANALYZE").execute(pool).await.map(|_| ())).expect("analyze");
    eprintln!("{backend:?}: inserted {n} tracks in {:.1?}", started.elapsed());

    let words: Vec<String> = (0..rounds as u64).map(|r| bench_word(r * 977 % 40_000)).collect();
    let genre = genres[0].clone();
    let cases: Vec<(&str, QueryMaker)> = vec![
        ("word", Box::new(|w: &str| search(w))),
        ("prefix", Box::new(|w: &str| search(&w[..3.min(w.len())]))),
        (
            "typo",
            Box::new(|w: &str| {
                let mut c: Vec<char> = w.chars().collect();
                c.remove(c.len() / 2);
                search(&c.into_iter().collect::<String>())
            }),
        ),
        ("two words", Box::new(|w: &str| search(&format!("{w} {}", &w[..2])))),
        (
            "word+genre",
            Box::new(move |w: &str| TrackQuery {
                genre: Some(genre.clone()),
                ..search(w)
            }),
        ),
        ("browse", Box::new(|_: &str| TrackQuery::default())),
    ];
    let mut all = Vec::new();
    for (name, make) in &cases {
        let mut times = Vec::new();
        for w in &words {
            let query = make(w);
            let t = std::time::Instant::now();
            let page = client.tracks(&query).await.expect("search");
            times.push(t.elapsed());
            // The second page too: keyset pagination must stay cheap.
            if let Some(cursor) = page.next_cursor {
                let t = std::time::Instant::now();
                client
                    .tracks(&TrackQuery {
                        cursor: Some(cursor),
                        ..query
                    })
                    .await
                    .expect("page 2");
                times.push(t.elapsed());
            }
        }
        print_percentiles(backend, name, &mut times);
        all.extend(times);
    }
    print_percentiles(backend, "all", &mut all);
}

fn print_percentiles(backend: Backend, name: &str, times: &mut [Duration]) {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "search {backend:?} {name:<11} n={:<4} p50={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        times.len(),
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    );
}

/// Text an attacker would put in the catalogue for someone else's terminal,
/// and whether a multi-line field (a playlist description) may take it.
const HOSTILE: &[(&str, &str, bool)] = &[
    ("ESC clear screen", "Title\u{1b}[2J\u{1b}[H", false),
    ("OSC 52 clipboard", "\u{1b}]52;c;cm0gLXJmIH4=\u{7}Song", false),
    ("OSC window title", "\u{1b}]0;pwned\u{7}Song", false),
    ("NUL", "So\u{0}ng", false),
    ("BEL", "Song\u{7}", false),
    ("DEL", "Song\u{7f}", false),
    ("C1 CSI", "Song\u{9b}2J", false),
    ("C1 OSC", "\u{9d}0;pwned\u{9c}Song", false),
    ("RLO override", "Song\u{202E}3pm.exe", false),
    ("LRE embedding", "\u{202A}Song", false),
    ("RLI isolate", "\u{2067}Song\u{2069}", false),
    ("carriage return", "Fake\rSong", false),
    ("newline", "Two\nLines", true),
];

/// Every way text reaches the catalogue through the API refuses control and
/// bidi-override characters (and over-long values) with 422 and stores
/// nothing; tags read from a file are stripped and cut instead.
async fn every_metadata_path_refuses_control_and_bidi_characters(backend: Backend) {
    use serde_json::json;
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.auth_rate_limit_per_minute = 10_000;
            s.upload_rate_limit_per_minute = 10_000;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let (ann, ann_id) = user(&app, "ann").await;
    let target = row(&ann_id, "Clean Title", "Clean Artist", "Clean Album", "Jazz", 0);
    tracks::insert_ready_track(&app.state.db, &target)
        .await
        .expect("insert");
    let playlist = ann
        .create_playlist(&CreatePlaylistRequest {
            name: "Clean".into(),
            description: Some("clean".into()),
            public: Some(true),
        })
        .await
        .expect("playlist");
    // An upload whose bytes are there, so `complete` reaches its checks.
    let ticket = ann
        .create_upload(&mist_core::api::CreateUploadRequest {
            filename: "x.wav".into(),
            size: 4,
            content_type: "audio/wav".into(),
            sha256: None,
        })
        .await
        .expect("ticket");
    ann.put_upload(&ticket, b"RIFF".to_vec()).await.expect("bytes");

    let long = "x".repeat(300_000);
    let mut samples: Vec<(&str, &str, bool)> = HOSTILE.to_vec();
    samples.push(("300,000 characters", &long, false));
    // (path, JSON body for the value); every one must answer 422 invalid_field.
    type Path = (
        &'static str,
        reqwest::Method,
        String,
        fn(&str) -> serde_json::Value,
        bool,
    );
    let paths: Vec<Path> = vec![
        (
            "upload filename",
            reqwest::Method::POST,
            "/api/v1/uploads".into(),
            |v| json!({"filename": format!("{v}.wav"), "size": 10, "content_type": "audio/wav"}),
            false,
        ),
        (
            "upload content_type",
            reqwest::Method::POST,
            "/api/v1/uploads".into(),
            |v| json!({"filename": "a.wav", "size": 10, "content_type": format!("audio/{v}")}),
            false,
        ),
        (
            "complete title",
            reqwest::Method::POST,
            format!("/api/v1/uploads/{}/complete", ticket.upload_id),
            |v| json!({"title": v}),
            false,
        ),
        (
            "complete artist",
            reqwest::Method::POST,
            format!("/api/v1/uploads/{}/complete", ticket.upload_id),
            |v| json!({"artist": v}),
            false,
        ),
        (
            "complete album",
            reqwest::Method::POST,
            format!("/api/v1/uploads/{}/complete", ticket.upload_id),
            |v| json!({"album": v}),
            false,
        ),
        (
            "complete genre",
            reqwest::Method::POST,
            format!("/api/v1/uploads/{}/complete", ticket.upload_id),
            |v| json!({"genre": v}),
            false,
        ),
        (
            "PATCH title",
            reqwest::Method::PATCH,
            format!("/api/v1/tracks/{}", target.id),
            |v| json!({"title": v}),
            false,
        ),
        (
            "PATCH artist",
            reqwest::Method::PATCH,
            format!("/api/v1/tracks/{}", target.id),
            |v| json!({"artist": v}),
            false,
        ),
        (
            "PATCH album",
            reqwest::Method::PATCH,
            format!("/api/v1/tracks/{}", target.id),
            |v| json!({"album": v}),
            false,
        ),
        (
            "PATCH genre",
            reqwest::Method::PATCH,
            format!("/api/v1/tracks/{}", target.id),
            |v| json!({"genre": v}),
            false,
        ),
        (
            "playlist name",
            reqwest::Method::POST,
            "/api/v1/playlists".into(),
            |v| json!({"name": v}),
            false,
        ),
        (
            "playlist description",
            reqwest::Method::POST,
            "/api/v1/playlists".into(),
            |v| json!({"name": "ok", "description": v}),
            true,
        ),
        (
            "playlist rename",
            reqwest::Method::PATCH,
            format!("/api/v1/playlists/{}", playlist.id),
            |v| json!({"name": v}),
            false,
        ),
        (
            "playlist redescribe",
            reqwest::Method::PATCH,
            format!("/api/v1/playlists/{}", playlist.id),
            |v| json!({"description": v}),
            true,
        ),
        (
            "register username",
            reqwest::Method::POST,
            "/api/v1/auth/register".into(),
            |v| json!({"email": "new@example.com", "username": v, "password": "new-password"}),
            false,
        ),
        (
            "register email",
            reqwest::Method::POST,
            "/api/v1/auth/register".into(),
            |v| json!({"email": format!("n{v}@example.com"), "username": "newbie", "password": "new-password"}),
            false,
        ),
    ];
    let http = reqwest::Client::new();
    let token = ann.token().expect("token").to_owned();
    for (path_name, method, path, body, multi_line) in &paths {
        for (sample_name, sample, newline_ok) in &samples {
            if *multi_line && *newline_ok {
                continue; // a line break is a description's to keep
            }
            let response = http
                .request(method.clone(), app.url(path))
                .bearer_auth(&token)
                .json(&body(sample))
                .send()
                .await
                .expect("request");
            let status = response.status();
            let answer: serde_json::Value = response.json().await.expect("json");
            assert_eq!(status.as_u16(), 422, "{path_name} took {sample_name}: {answer}");
            assert_eq!(answer["error"]["code"], "invalid_field", "{path_name} / {sample_name}");
        }
    }
    // Nothing was stored by any of them.
    let track = ann.track(&target.id).await.expect("track");
    assert_eq!(
        (
            track.title.as_str(),
            track.artist.as_deref(),
            track.album.as_deref(),
            track.genre.as_deref()
        ),
        ("Clean Title", Some("Clean Artist"), Some("Clean Album"), Some("Jazz"))
    );
    let kept = ann.playlist(&playlist.id).await.expect("playlist");
    assert_eq!((kept.name.as_str(), kept.description.as_str()), ("Clean", "clean"));
    assert_eq!(ann.my_playlists(None, None).await.expect("mine").items.len(), 1);
    assert_eq!(mist_server::db::users::count(&app.state.db).await.expect("count"), 2);
    let err = ann.job("none").await.expect_err("no job");
    assert_eq!(err.status(), Some(404));
    // The valid upload still completes: the refusals spent nothing.
    ann.complete_upload(&ticket.upload_id, &CompleteUploadRequest::default())
        .await
        .expect("a clean completion");

    // Tags in a file are stripped and cut, not refused: the track is made.
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("tone.wav");
    generate_wav(&wav, 3.0);
    let flac = dir.path().join("tagged.flac");
    let long_artist = "A".repeat(5_000);
    mist_server::testing::audio::convert(
        &wav,
        &flac,
        &[
            ("title", "\u{1b}]0;pwned\u{7}Tagged\u{202E}Title\u{9b}"),
            ("artist", long_artist.as_str()),
            ("album", "\u{1b}[2JAlbum"),
            ("genre", "\u{2066}Jazz\u{2069}"),
        ],
    );
    let job_id = upload_file(&ann, &flac, CompleteUploadRequest::default()).await;
    let job = wait_for_job(&ann, &job_id, JOB_TIMEOUT).await;
    assert_eq!(job.status, mist_core::api::JobStatus::Ready, "{job:?}");
    let tagged = ann.track(&job.track_id).await.expect("track");
    assert_eq!(tagged.title, "]0;pwnedTaggedTitle");
    assert_eq!(tagged.artist.as_deref().map(str::len), Some(200));
    assert_eq!(tagged.album.as_deref(), Some("[2JAlbum"));
    assert_eq!(tagged.genre.as_deref(), Some("Jazz"));
}

/// The words a typo is corrected to follow every write at once (insert,
/// edit, delete), and hostile terms stay cheap answers, never errors: a
/// word of 10,000 characters, a query of thousands of terms, one of only
/// wildcards, quotes and operators, a flood of look-alike words in the
/// catalogue (the candidates read per misspelt term are bounded), a typo
/// of a word thousands of tracks carry. On both engines the vocabulary
/// table holds exactly the words of the tracks, each counted once per
/// track, after all of it.
async fn typo_corrections_follow_writes_and_hostile_terms_stay_cheap(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    catalogue(&app, &ann_id, 50).await;
    let target = row(&ann_id, "Zorblax Anthem", "Quentin Vask", "Night", "Jazz", 0);
    tracks::insert_ready_track(&app.state.db, &target)
        .await
        .expect("insert");
    assert_eq!(titles(&ann, &search("zorblx")).await, ["Zorblax Anthem"]);
    // One edit anywhere but a changed or dropped first letter: swapped,
    // replaced or added at the first two letters (where the vocabulary
    // read narrows by letter), later, and in a word still being typed.
    for typo in [
        "ozrblax", "azorblax", "zrblax", "zroblax", "zarblax", "zxorblax", "zorbax", "zorblaxx", "zarbl",
    ] {
        assert_eq!(titles(&ann, &search(typo)).await, ["Zorblax Anthem"], "{typo}");
    }

    let edit = UpdateTrackRequest {
        title: Some("Quuxity Anthem".into()),
        ..UpdateTrackRequest::default()
    };
    ann.update_track(&target.id, &edit).await.expect("edit");
    assert!(titles(&ann, &search("zorblx")).await.is_empty(), "the old word is gone");
    assert_eq!(titles(&ann, &search("quuxty")).await, ["Quuxity Anthem"]);
    ann.delete_track(&target.id).await.expect("delete");
    assert!(
        titles(&ann, &search("quuxty")).await.is_empty(),
        "and so is the new one"
    );

    // A flood of look-alike words: 3,000 tracks named "Mabo0".."Mabo2999",
    // all within reach of the trigram lookup of a typo of "mabo".
    let flood: Vec<TrackRow> = (0..3000)
        .map(|i| row(&ann_id, &format!("Mabo{i} Mabo{i}x"), "Flood", "Flood", "Noise", i))
        .collect();
    tracks::insert_ready_tracks(&app.state.db, &flood).await.expect("flood");
    let page = ann.tracks(&search("mabp1")).await.expect("typo among a flood");
    assert!(
        !page.items.is_empty() && page.items.len() <= 20,
        "{:?}",
        page.items.len()
    );
    assert!(
        page.items.iter().all(|t| t.title.starts_with("Mabo1")),
        "{:?}",
        page.items[0].title
    );

    // "Flood" is in every track of the flood: its typo is corrected to it
    // though it carries more than the correction budget, and answers a page.
    let page = ann.tracks(&search("floood")).await.expect("typo of a common word");
    assert_eq!(page.items.len(), 20);
    assert!(page.next_cursor.is_some());
    assert!(page.items.iter().all(|t| t.artist.as_deref() == Some("Flood")));

    let long_word = "metallica".repeat(1_200);
    let many_terms = "metalica sandman ".repeat(2_000);
    for q in [long_word.as_str(), many_terms.as_str(), &format!("{long_word}x")] {
        let started = std::time::Instant::now();
        ann.tracks(&search(q))
            .await
            .unwrap_or_else(|e| panic!("{} characters: {e}", q.len()));
        eprintln!("{} characters: {:?}", q.len(), started.elapsed());
    }
    assert_eq!(titles(&ann, &search(&many_terms)).await, ["Enter Sandman"]);
    for q in [
        "\"*\" ** '' ^ :* -",
        "\"\"\"",
        "* OR * AND NEAR(*)",
        "metallica\" OR \"*",
    ] {
        ann.tracks(&search(q)).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }

    if let mist_server::db::Db::Postgres(pool) = &app.state.db {
        let drift: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT word, tracks FROM search_words) v FULL JOIN \
             (SELECT w, count(*) AS n FROM tracks, unnest(tsvector_to_array(search_vector)) AS w GROUP BY w) c \
             ON c.w = v.word WHERE v.tracks IS DISTINCT FROM c.n",
        )
        .fetch_one(pool)
        .await
        .expect("vocabulary");
        assert_eq!(drift, 0, "words counted wrong or left behind");
    }
    if let mist_server::db::Db::Sqlite(pool) = &app.state.db {
        // `tracks_fts` is what searches match, so its vocabulary is the truth.
        // (Two anti-joins: a FULL JOIN with the fts5vocab table miscounts.)
        let (words, drift): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM search_words), \
             (SELECT count(*) FROM search_words v LEFT JOIN tracks_fts_vocab c ON c.term = v.word \
              WHERE c.doc IS NOT v.tracks) \
             + (SELECT count(*) FROM tracks_fts_vocab c WHERE NOT EXISTS \
                (SELECT 1 FROM search_words v WHERE v.word = c.term))",
        )
        .fetch_one(pool)
        .await
        .expect("vocabulary");
        assert!(words > 3000, "{words}");
        assert_eq!(drift, 0, "words counted wrong or left behind");
        let scratch: i64 = sqlx::query_scalar("SELECT count(*) FROM search_words_scratch_vocab")
            .fetch_one(pool)
            .await
            .expect("scratch");
        assert_eq!(scratch, 0, "the scratch table is emptied after each write");
    }
}

/// A typo of a common word ("maor" for "major", which carries more tracks
/// than the typo correction ranks: 200) means that word, not rare words
/// that look like it in their first letters ("moorya", also one edit from
/// "maor" there) however much those are played; and its tracks come most
/// played first, every one of them page by page, filters applied before
/// the order (the least played genre of them is still found), a rarer
/// whole word one edit away ("mayor") among them by its plays. Other sorts
/// list every track of those words in their order.
async fn typo_of_a_common_word_lists_that_word_most_played_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ann, ann_id) = user(&app, "ann").await;
    catalogue(&app, &ann_id, 30).await;
    const COMMON: i64 = 260;
    // Plays are a permutation of the ids' order (37 and 260 are coprime), so
    // an order by id or by insertion is not mistaken for one by plays; the
    // 50 least played are the only Rock ones.
    let mut rows: Vec<TrackRow> = (0..COMMON)
        .map(|i| {
            let plays = 1000 + i * 37 % COMMON;
            let genre = if plays < 1050 { "Rock" } else { "Jazz" };
            let mut r = row(&ann_id, &format!("Major {i}"), "Ann Band", "Live", genre, i);
            r.play_count = plays;
            r
        })
        .collect();
    let mut major = rows.clone();
    major.sort_by_key(|r| std::cmp::Reverse(r.play_count));
    let mut major: Vec<String> = major.into_iter().map(|r| r.title).collect();
    let mut mayor = row(&ann_id, "Mayor Song", "Ann Band", "Live", "Jazz", 0);
    mayor.play_count = 1;
    rows.push(mayor);
    major.push("Mayor Song".into());
    for title in ["Moorya Dawn", "Mairuk", "Mabrisk"] {
        let mut r = row(&ann_id, title, "Ann Band", "Live", "Rock", 0);
        r.play_count = 100_000;
        rows.push(r);
    }
    tracks::insert_ready_tracks(&app.state.db, &rows).await.expect("insert");

    assert_eq!(titles(&ann, &search("maor")).await, major[..20], "the first page");
    let every = |query: TrackQuery| {
        let ann = ann.clone();
        async move {
            let query = TrackQuery {
                limit: Some(100),
                ..query
            };
            let all = all_pages(&ann, &query).await;
            all.into_iter().map(|t| t.title).collect::<Vec<_>>()
        }
    };
    assert_eq!(every(search("maor")).await, major, "every page");
    let rock = TrackQuery {
        genre: Some("rock".into()),
        ..search("maor")
    };
    assert_eq!(
        every(rock).await,
        major[COMMON as usize - 50..COMMON as usize],
        "the least played genre"
    );
    let by_title = TrackQuery {
        sort: Some(TrackSort::Title),
        ..search("maor")
    };
    let mut listed = every(by_title).await;
    assert_eq!(listed.len(), COMMON as usize + 1);
    listed.sort();
    let mut expected = major.clone();
    expected.sort();
    assert_eq!(listed, expected, "by title: every track of the word");
    // Typed right, the word is ranked as before: every track of it.
    assert_eq!(every(search("major")).await.len(), COMMON as usize);

    // In a catalogue where the word is rarer, its matches are sorted rather
    // than found by walking the plays index: the same order.
    let others: Vec<TrackRow> = (0..3000)
        .map(|i| row(&ann_id, &format!("Other {i}"), "Ann Band", "Live", "Jazz", i))
        .collect();
    tracks::insert_ready_tracks(&app.state.db, &others)
        .await
        .expect("others");
    if let mist_server::db::Db::Postgres(pool) = &app.state.db {
        // Postgres estimates the catalogue's size from its statistics.
        sqlx::query("ANALYZE tracks").execute(pool).await.expect("analyze");
    }
    assert_eq!(
        titles(&ann, &search("maor")).await,
        major[..20],
        "the first page, sorted"
    );
    assert_eq!(every(search("maor")).await, major, "every page, sorted");
}
