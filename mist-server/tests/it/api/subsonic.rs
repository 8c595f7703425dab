//! OpenSubsonic (`/rest`, docs/subsonic.md) against a real server on both
//! databases, driven by a real Subsonic client library (the `opensubsonic`
//! crate: JSON, typed) and by raw requests where the shape itself is the
//! point (XML attributes, JSON types, hostile parameters, binary answers).
//! Hostile cases come first in each test.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use mist_core::api::{CompleteUploadRequest, JobStatus, Plan, SavePlayQueueRequest, UpdateUserRequest};
use mist_core::client::Client;
use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
use mist_server::testing::upload::{admin_client, upload_file, user_client, wait_for_job};
use mist_server::testing::{Backend, TestApp, TestOptions, spawn_app, spawn_with};
use opensubsonic::{Auth, Client as Subsonic};
use serde_json::Value;

mist_server::on_both!(
    subsonic_envelope_formats_and_hostile_requests,
    subsonic_sign_in_by_key_token_and_password_and_refusals,
    subsonic_library_search_stars_playlists_and_queue,
    subsonic_stream_range_offset_quota_scrobble_and_similarity,
);

/// Query parameters of a request.
type Params<'a> = Vec<(&'a str, &'a str)>;

/// A raw `/rest` request; returns status, content type and body.
async fn rest(app: &TestApp, method: &str, params: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let url = app.url(&format!("/rest/{method}"));
    let response = reqwest::Client::new()
        .get(url)
        .query(params)
        .send()
        .await
        .expect("GET /rest");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.bytes().await.expect("body").to_vec())
}

/// `subsonic-response` of a JSON answer, checked for the envelope fields.
async fn json(app: &TestApp, method: &str, params: &[(&str, &str)]) -> Value {
    let mut all = params.to_vec();
    all.push(("f", "json"));
    let (status, content_type, body) = rest(app, method, &all).await;
    assert_eq!(status, 200, "{method}: {}", String::from_utf8_lossy(&body));
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let value: Value = serde_json::from_slice(&body).expect("JSON");
    let root = value["subsonic-response"].clone();
    assert_eq!(root["version"], "1.16.1");
    assert_eq!(root["type"], "mist");
    assert!(root["serverVersion"].is_string());
    assert_eq!(root["openSubsonic"], true);
    assert!(root["status"] == "ok" || root["status"] == "failed", "{root}");
    root
}

/// The XML answer as text (parsed by the caller with roxmltree).
async fn xml(app: &TestApp, method: &str, params: &[(&str, &str)]) -> String {
    let (status, content_type, body) = rest(app, method, params).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    String::from_utf8(body).expect("UTF-8")
}

fn error_code(root: &Value) -> i64 {
    assert_eq!(root["status"], "failed", "{root}");
    root["error"]["code"].as_i64().expect("error code")
}

/// A client with an API key of `client`'s user.
async fn api_key(client: &Client) -> String {
    client.create_api_key("tests").await.expect("api key").key
}

fn subsonic(app: &TestApp, auth: Auth) -> Subsonic {
    Subsonic::new(&app.base_url, auth).expect("subsonic client")
}

async fn subsonic_envelope_formats_and_hostile_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_client(&app).await;
    let key = api_key(&admin).await;
    let k = key.as_str();

    // JSONP callbacks are identifiers only: anything else is refused as plain JSON.
    for hostile in ["alert(1);x", "x</script>", "a b", "1x", ""] {
        let (status, content_type, body) =
            rest(&app, "ping", &[("apiKey", k), ("f", "jsonp"), ("callback", hostile)]).await;
        let body = String::from_utf8(body).expect("utf-8");
        assert_eq!(status, 200);
        assert!(content_type.starts_with("application/json"), "{content_type}");
        assert!(!body.contains("alert") && !body.contains("script"), "{body}");
        let root: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(error_code(&root["subsonic-response"]), 10, "{hostile:?}");
    }
    let (_, content_type, body) = rest(
        &app,
        "ping",
        &[("apiKey", k), ("f", "jsonp"), ("callback", "jQuery_1.cb")],
    )
    .await;
    let body = String::from_utf8(body).expect("utf-8");
    assert!(content_type.starts_with("application/javascript"), "{content_type}");
    let inner = body
        .strip_prefix("jQuery_1.cb(")
        .and_then(|b| b.strip_suffix(");"))
        .expect("callback(json);");
    let root: Value = serde_json::from_str(inner).expect("JSON inside");
    assert_eq!(root["subsonic-response"]["status"], "ok");

    // Huge counts are clamped, negative offsets and non-numbers refused, bogus ids not found.
    let root = json(&app, "getRandomSongs", &[("apiKey", k), ("size", "99999999999")]).await;
    assert_eq!(root["status"], "ok", "{root}");
    for (method, params) in [
        ("getAlbumList2", vec![("type", "newest"), ("offset", "-1")]),
        ("search3", vec![("query", ""), ("songOffset", "-5")]),
        ("getRandomSongs", vec![("size", "ten")]),
        ("getAlbumList2", vec![("type", "sideways")]),
    ] {
        let mut p = params.clone();
        p.push(("apiKey", k));
        let root = json(&app, method, &p).await;
        assert_eq!(error_code(&root), 10, "{method} {params:?}: {root}");
    }
    for (method, id) in [
        ("getSong", "nope"),
        ("getAlbum", "../../etc"),
        ("getArtist", "x'; DROP TABLE users; --"),
        ("getPlaylist", "0"),
        ("stream", "nope"),
        ("getCoverArt", "al-nope"),
        ("getLyricsBySongId", "nope"),
    ] {
        let root = json(&app, method, &[("apiKey", k), ("id", id)]).await;
        assert_eq!(error_code(&root), 70, "{method}: {root}");
    }
    // Missing parameters: 10; missing credentials: 10.
    assert_eq!(error_code(&json(&app, "getSong", &[("apiKey", k)]).await), 10);
    assert_eq!(error_code(&json(&app, "ping", &[]).await), 10);
    // Methods not built: HTTP 501 with a Subsonic error, in the format asked.
    let (status, _, body) = rest(&app, "getPodcasts", &[("apiKey", k), ("f", "json")]).await;
    assert_eq!(status, 501);
    let root: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(error_code(&root["subsonic-response"]), 0);
    // A method name full of junk is not echoed at length.
    let long = "x".repeat(5000);
    let (status, _, body) = rest(&app, &long, &[("apiKey", k)]).await;
    assert_eq!(status, 501);
    assert!(body.len() < 1000, "{}", body.len());

    // The extensions list needs no sign-in; XML and JSON name the same things.
    let root = json(&app, "getOpenSubsonicExtensions", &[]).await;
    assert_eq!(root["status"], "ok");
    let names: HashSet<&str> = root["openSubsonicExtensions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            assert_eq!(e["versions"], serde_json::json!([1]), "{e}");
            e["name"].as_str().expect("name")
        })
        .collect();
    for needed in [
        "apiKeyAuthentication",
        "formPost",
        "songLyrics",
        "sonicSimilarity",
        "transcodeOffset",
    ] {
        assert!(names.contains(needed), "{needed} in {names:?}");
    }
    let text = xml(&app, "getOpenSubsonicExtensions.view", &[]).await;
    let doc = roxmltree::Document::parse(&text).expect("XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "subsonic-response");
    assert_eq!(root.tag_name().namespace(), Some("http://subsonic.org/restapi"));
    for (attr, value) in [
        ("status", "ok"),
        ("version", "1.16.1"),
        ("type", "mist"),
        ("openSubsonic", "true"),
    ] {
        assert_eq!(root.attribute(attr), Some(value), "{attr}");
    }
    let xml_names: HashSet<&str> = root
        .children()
        .filter(|n| n.has_tag_name("openSubsonicExtensions"))
        .map(|n| {
            let versions: Vec<&str> = n
                .children()
                .filter(|v| v.has_tag_name("versions"))
                .filter_map(|v| v.text())
                .collect();
            assert_eq!(versions, ["1"]);
            n.attribute("name").expect("name")
        })
        .collect();
    assert_eq!(xml_names, names);

    // Form POST (formPost) and `.view` answer as GET does.
    let response = reqwest::Client::new()
        .post(app.url("/rest/ping.view"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("apiKey", k), ("f", "json"), ("c", "tests"), ("v", "1.16.1")])
                .finish(),
        )
        .send()
        .await
        .expect("POST");
    let root: Value = response.json().await.expect("JSON");
    assert_eq!(root["subsonic-response"]["status"], "ok", "{root}");
    // Errors are XML by default, HTTP 200.
    let text = xml(&app, "getSong", &[("apiKey", k), ("id", "nope")]).await;
    let doc = roxmltree::Document::parse(&text).expect("XML");
    assert_eq!(doc.root_element().attribute("status"), Some("failed"));
    let error = doc.root_element().first_element_child().expect("error");
    assert_eq!(error.tag_name().name(), "error");
    assert_eq!(error.attribute("code"), Some("70"));
}

async fn subsonic_sign_in_by_key_token_and_password_and_refusals(backend: Backend) {
    // Room for the sign-ups and refusals below before the limit is tested.
    let app = spawn_with(TestOptions {
        tweak: |raw| raw.auth_rate_limit_per_minute = 20,
        ..TestOptions::new(backend)
    })
    .await;
    let ann = user_client(&app, "ann").await;
    let key = ann.create_api_key("phone").await.expect("key");
    // Listed without the secret; the secret is not stored in the clear.
    let listed = ann.api_keys().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].name.as_str()),
        (key.id.as_str(), "phone")
    );
    let listed_json = serde_json::to_string(&listed).expect("json");
    assert!(!listed_json.contains(&key.key));
    let stored: Vec<String> = match &app.state.db {
        mist_server::db::Db::Sqlite(pool) => sqlx::query_scalar("SELECT key_hash FROM api_keys")
            .fetch_all(pool)
            .await
            .expect("db"),
        mist_server::db::Db::Postgres(pool) => sqlx::query_scalar("SELECT key_hash FROM api_keys")
            .fetch_all(pool)
            .await
            .expect("db"),
    };
    assert!(stored.iter().all(|h| !h.contains(&key.key[5..])), "{stored:?}");

    // Conflicting mechanisms: 43; wrong key: 44; no app password yet: 40.
    let k = key.key.as_str();
    assert_eq!(
        error_code(&json(&app, "ping", &[("apiKey", k), ("u", "ann")]).await),
        43
    );
    assert_eq!(error_code(&json(&app, "ping", &[("apiKey", "mist_00")]).await), 44);
    assert_eq!(
        error_code(&json(&app, "ping", &[("u", "ann"), ("p", "x"), ("t", "y"), ("s", "z")]).await),
        43
    );
    // The account password is never accepted, in any form.
    let account = "ann-password";
    let hex = hex::encode(account);
    let enc = format!("enc:{hex}");
    assert_eq!(
        error_code(&json(&app, "ping", &[("u", "ann"), ("p", account)]).await),
        40
    );
    assert_eq!(error_code(&json(&app, "ping", &[("u", "ann"), ("p", &enc)]).await), 40);
    let account_client = subsonic(&app, Auth::token("ann", account));
    assert!(matches!(account_client.ping().await, Err(opensubsonic::Error::Api(e)) if e.code == 40));

    // With a key, and with the app password by token, plain and enc:.
    assert_eq!(listed[0].last_used_at, None);
    subsonic(&app, Auth::api_key(k)).ping().await.expect("api key ping");
    let used = ann.api_keys().await.expect("list");
    assert!(used[0].last_used_at.is_some(), "{used:?}");
    let app_password = ann.create_app_password().await.expect("app password");
    assert_eq!(app_password.username, "ann");
    subsonic(&app, Auth::token("ann", &app_password.password))
        .ping()
        .await
        .expect("token ping");
    subsonic(&app, Auth::plain("ann", &app_password.password))
        .ping()
        .await
        .expect("enc: password ping");
    let root = json(&app, "ping", &[("u", "ann"), ("p", &app_password.password)]).await;
    assert_eq!(root["status"], "ok", "{root}");
    let user = subsonic(&app, Auth::api_key(k)).get_user("ann").await.expect("getUser");
    assert_eq!(user.username, "ann");
    // A wrong token, an old app password after a new one, a revoked key: refused.
    let wrong = subsonic(&app, Auth::token("ann", "not-the-password"));
    assert!(matches!(wrong.ping().await, Err(opensubsonic::Error::Api(e)) if e.code == 40));
    let newer = ann.create_app_password().await.expect("new app password");
    assert_ne!(newer.password, app_password.password);
    let old = subsonic(&app, Auth::token("ann", &app_password.password));
    assert!(matches!(old.ping().await, Err(opensubsonic::Error::Api(e)) if e.code == 40));
    ann.delete_api_key(&key.id).await.expect("revoke");
    assert_eq!(error_code(&json(&app, "ping", &[("apiKey", k)]).await), 44);
    // Another user's key id cannot be revoked by ann.
    let bob = user_client(&app, "bob").await;
    let bobs = bob.create_api_key("car").await.expect("bob key");
    assert!(ann.delete_api_key(&bobs.id).await.is_err());
    subsonic(&app, Auth::api_key(&bobs.key))
        .ping()
        .await
        .expect("bob still in");
    // A disabled account's key stops at once.
    let admin = admin_client(&app).await;
    let bob_id = bob.me().await.expect("me").id;
    admin.set_user_disabled(&bob_id, true).await.expect("disable");
    assert_eq!(error_code(&json(&app, "ping", &[("apiKey", &bobs.key)]).await), 44);

    // Failures count as login attempts do: past the limit even the right
    // password is refused (HTTP 429, code 40) until the window turns.
    for _ in 0..20 {
        let _ = rest(&app, "ping", &[("u", "ann"), ("p", "guess")]).await;
    }
    let (status, _, body) = rest(&app, "ping", &[("u", "ann"), ("p", &newer.password), ("f", "json")]).await;
    assert_eq!(status, 429);
    let root: Value = serde_json::from_slice(&body).expect("json");
    let root = root["subsonic-response"].clone();
    assert_eq!(error_code(&root), 40, "{root}");
    assert!(
        root["error"]["message"].as_str().unwrap_or_default().contains("retry"),
        "{root}"
    );
}

/// `n` made-up ready tracks on two albums of one artist.
async fn fake_library(app: &TestApp, uploader: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let track = FakeTrack {
            title: format!("Song {i:02}"),
            artist: Some("The Testers".into()),
            album: Some(if i % 2 == 0 { "Even" } else { "Odd" }.into()),
            genre: Some(if i % 3 == 0 { "Rock" } else { "Jazz" }.into()),
            duration_s: 30.0 + i as f64,
            segments_per_key: None,
        };
        ids.push(insert_ready_track(&app.state, uploader, &track).await);
    }
    ids
}

async fn subsonic_library_search_stars_playlists_and_queue(backend: Backend) {
    let app = spawn_app(backend).await;
    let ann = user_client(&app, "ann").await;
    let me = ann.me().await.expect("me");
    let ids = fake_library(&app, &me.id, 25).await;
    let key = api_key(&ann).await;
    let k = key.as_str();
    let sub = subsonic(&app, Auth::api_key(k));

    // search3 with an empty query ("" too) pages through the whole library.
    for query in ["", "\"\""] {
        let mut seen = HashSet::new();
        for page in 0..4 {
            let offset = (page * 10).to_string();
            let root = json(
                &app,
                "search3",
                &[
                    ("apiKey", k),
                    ("query", query),
                    ("songCount", "10"),
                    ("songOffset", &offset),
                ],
            )
            .await;
            let songs = root["searchResult3"]["song"].as_array().expect("songs").clone();
            assert_eq!(songs.len(), [10, 10, 5, 0][page], "{query} page {page}");
            for s in songs {
                assert!(seen.insert(s["id"].as_str().expect("id").to_owned()), "a song twice");
            }
        }
        assert_eq!(seen, ids.iter().cloned().collect::<HashSet<_>>());
    }
    let found = sub
        .search3("Song 07", &opensubsonic::Search3Options::default())
        .await
        .expect("search3");
    assert_eq!(found.song.first().map(|s| s.title.as_str()), Some("Song 07"));
    let found = sub
        .search3("testers", &opensubsonic::Search3Options::default())
        .await
        .expect("search3");
    assert_eq!(found.artist.first().map(|a| a.name.as_str()), Some("The Testers"));

    // Artists, albums, songs: typed by the client, then field by field in XML and JSON.
    let artists = sub.get_artists(None).await.expect("getArtists");
    let artist = &artists.index[0].artist[0];
    assert_eq!(
        (artists.index[0].name.as_str(), artist.name.as_str()),
        ("T", "The Testers")
    );
    let with_albums = sub.get_artist(&artist.id).await.expect("getArtist");
    assert_eq!(with_albums.album.len(), 2);
    let even = with_albums.album.iter().find(|a| a.name == "Even").expect("Even");
    let album = sub.get_album(&even.id).await.expect("getAlbum");
    assert_eq!(album.song.len(), 13);
    assert_eq!(album.song_count, Some(13));
    let song_id = album.song[0].id.clone();
    let root = json(&app, "getSong", &[("apiKey", k), ("id", &song_id)]).await;
    let song = &root["song"];
    for (field, kind) in [
        ("id", "string"),
        ("title", "string"),
        ("album", "string"),
        ("artist", "string"),
        ("isDir", "bool"),
        ("duration", "int"),
        ("bitRate", "int"),
        ("playCount", "int"),
        ("created", "string"),
        ("albumId", "string"),
        ("artistId", "string"),
        ("type", "string"),
        ("mediaType", "string"),
        ("suffix", "string"),
        ("contentType", "string"),
    ] {
        let v = &song[field];
        let ok = match kind {
            "string" => v.is_string(),
            "bool" => v.is_boolean(),
            _ => v.is_i64(),
        };
        assert!(ok, "song.{field} should be {kind}: {song}");
    }
    assert!(song["replayGain"].is_object(), "replayGain is always there: {song}");
    assert_eq!(song["genres"][0]["name"], song["genre"]);
    let text = xml(&app, "getSong", &[("apiKey", k), ("id", &song_id)]).await;
    let doc = roxmltree::Document::parse(&text).expect("XML");
    let node = doc.root_element().first_element_child().expect("song");
    assert_eq!(node.tag_name().name(), "song");
    for field in [
        "id", "title", "album", "artist", "isDir", "duration", "created", "albumId", "type",
    ] {
        let json_text = match &song[field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(node.attribute(field), Some(json_text.as_str()), "{field}");
    }
    assert!(node.children().any(|c| c.has_tag_name("replayGain")));
    let lists = [
        "newest",
        "random",
        "frequent",
        "recent",
        "alphabeticalByName",
        "alphabeticalByArtist",
    ];
    for kind in lists {
        let root = json(&app, "getAlbumList2", &[("apiKey", k), ("type", kind), ("size", "5")]).await;
        assert_eq!(
            root["albumList2"]["album"].as_array().map(Vec::len),
            Some(2),
            "{kind}: {root}"
        );
    }
    let root = json(
        &app,
        "getAlbumList2",
        &[("apiKey", k), ("type", "byGenre"), ("genre", "rock")],
    )
    .await;
    assert!(
        root["albumList2"]["album"].as_array().is_some_and(|a| !a.is_empty()),
        "{root}"
    );
    let genres = sub.get_genres().await.expect("getGenres");
    let rock = genres.iter().find(|g| g.name == "Rock").expect("Rock");
    assert_eq!(rock.song_count, 9);
    let random = json(
        &app,
        "getRandomSongs",
        &[("apiKey", k), ("size", "7"), ("genre", "Jazz")],
    )
    .await;
    let random = random["randomSongs"]["song"].as_array().expect("songs").clone();
    assert_eq!(random.len(), 7);
    assert!(random.iter().all(|s| s["genre"] == "Jazz"));

    // star is a like: visible through /api/v1 and in getStarred2, with `starred` on the song.
    sub.star(&[&ids[3], &ids[4]], &[], &[]).await.expect("star");
    let likes = ann.likes(None, None).await.expect("likes");
    let liked: HashSet<&str> = likes.items.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(liked, HashSet::from([ids[3].as_str(), ids[4].as_str()]));
    let starred = json(&app, "getStarred2", &[("apiKey", k)]).await;
    assert_eq!(starred["starred2"]["song"].as_array().map(Vec::len), Some(2));
    assert!(starred["starred2"]["song"][0]["starred"].is_string());
    ann.unlike(&ids[3]).await.expect("unlike");
    let starred = json(&app, "getStarred2", &[("apiKey", k)]).await;
    assert_eq!(starred["starred2"]["song"][0]["id"], ids[4].as_str());
    assert_eq!(
        error_code(&json(&app, "star", &[("apiKey", k), ("id", "nope")]).await),
        70
    );

    // A playlist made through Subsonic is the user's playlist in /api/v1.
    let made = sub
        .create_playlist(None, Some("Road trip"), &[&ids[0], &ids[1], &ids[2]])
        .await
        .expect("createPlaylist");
    assert_eq!(made.song_count, Some(3));
    let mine = ann.my_playlists(None, None).await.expect("playlists");
    assert_eq!(mine.items.len(), 1);
    assert_eq!(
        (mine.items[0].name.as_str(), mine.items[0].track_count),
        ("Road trip", 3)
    );
    let root = json(
        &app,
        "updatePlaylist",
        &[
            ("apiKey", k),
            ("playlistId", &made.id),
            ("songIndexToRemove", "0"),
            ("songIdToAdd", &ids[9]),
        ],
    )
    .await;
    assert_eq!(root["status"], "ok", "{root}");
    let entries = ann.playlist_tracks(&made.id, None, None).await.expect("entries");
    let order: Vec<&str> = entries.items.iter().map(|e| e.track.id.as_str()).collect();
    assert_eq!(order, [ids[1].as_str(), ids[2].as_str(), ids[9].as_str()]);
    // Someone else's private playlist is not found; they cannot change it.
    let bob_key = api_key(&user_client(&app, "bob").await).await;
    assert_eq!(
        error_code(&json(&app, "getPlaylist", &[("apiKey", &bob_key), ("id", &made.id)]).await),
        70
    );
    assert_eq!(
        error_code(&json(&app, "deletePlaylist", &[("apiKey", &bob_key), ("id", &made.id)]).await),
        70
    );
    sub.delete_playlist(&made.id).await.expect("delete");
    assert!(ann.my_playlists(None, None).await.expect("playlists").items.is_empty());

    // The play queue: saved by Subsonic, read by REST, and the other way round.
    let root = json(
        &app,
        "savePlayQueue",
        &[
            ("apiKey", k),
            ("id", &ids[5]),
            ("id", &ids[6]),
            ("current", &ids[6]),
            ("position", "4200"),
            ("c", "DSub"),
        ],
    )
    .await;
    assert_eq!(root["status"], "ok", "{root}");
    let queue = ann.play_queue().await.expect("queue");
    assert_eq!(queue.track_ids, [ids[5].clone(), ids[6].clone()]);
    assert_eq!(
        (queue.current_index, queue.position_ms, queue.changed_by.as_str()),
        (Some(1), 4200, "DSub")
    );
    ann.save_play_queue(&SavePlayQueueRequest {
        track_ids: vec![ids[7].clone(), ids[8].clone(), ids[9].clone()],
        current_index: Some(2),
        position_ms: 1500,
        changed_by: None,
    })
    .await
    .expect("PUT queue");
    let queue = sub.get_play_queue().await.expect("getPlayQueue");
    assert_eq!(queue.current.as_deref(), Some(ids[9].as_str()));
    assert_eq!((queue.position, queue.changed_by.as_str()), (Some(1500), "mist"));
    let root = json(&app, "getPlayQueue", &[("apiKey", k)]).await;
    assert_eq!(root["playQueue"]["entry"].as_array().map(Vec::len), Some(3));
    // A queue naming a missing track, or a current index outside it, is refused.
    let bad = SavePlayQueueRequest {
        track_ids: vec!["nope".into()],
        current_index: None,
        position_ms: 0,
        changed_by: None,
    };
    assert!(ann.save_play_queue(&bad).await.is_err());
    let root = json(
        &app,
        "savePlayQueue",
        &[("apiKey", k), ("id", &ids[1]), ("current", &ids[2])],
    )
    .await;
    assert_eq!(error_code(&root), 10);

    // Every browsing method answers in both formats with the element the spec
    // names: the XML element is the JSON field, the XML attributes its fields.
    let artist_id = artist.id.as_str();
    let album_id = even.id.as_str();
    let song = ids[0].as_str();
    let sweep: Vec<(&str, Params<'_>, &str)> = vec![
        ("getLicense", vec![], "license"),
        ("getMusicFolders", vec![], "musicFolders"),
        ("getUser", vec![("username", "ann")], "user"),
        ("getArtists", vec![], "artists"),
        ("getIndexes", vec![], "indexes"),
        ("getArtist", vec![("id", artist_id)], "artist"),
        ("getMusicDirectory", vec![("id", album_id)], "directory"),
        ("getMusicDirectory", vec![("id", artist_id)], "directory"),
        ("getAlbum", vec![("id", album_id)], "album"),
        ("getSong", vec![("id", song)], "song"),
        ("getAlbumList", vec![("type", "newest")], "albumList"),
        (
            "getAlbumList2",
            vec![("type", "byYear"), ("fromYear", "2030"), ("toYear", "1990")],
            "albumList2",
        ),
        ("getAlbumList2", vec![("type", "starred")], "albumList2"),
        ("getRandomSongs", vec![], "randomSongs"),
        ("getSongsByGenre", vec![("genre", "Jazz")], "songsByGenre"),
        ("getGenres", vec![], "genres"),
        ("search2", vec![("query", "song")], "searchResult2"),
        ("search3", vec![("query", "song")], "searchResult3"),
        ("getStarred", vec![], "starred"),
        ("getStarred2", vec![], "starred2"),
        ("getPlaylists", vec![], "playlists"),
        ("getPlayQueue", vec![], "playQueue"),
        ("getNowPlaying", vec![], "nowPlaying"),
        ("getSimilarSongs", vec![("id", song)], "similarSongs"),
        ("getSimilarSongs2", vec![("id", artist_id)], "similarSongs2"),
        ("getTopSongs", vec![("artist", "The Testers")], "topSongs"),
        ("getLyricsBySongId", vec![("id", song)], "lyricsList"),
    ];
    for (method, params, element) in sweep {
        let mut p = params.clone();
        p.push(("apiKey", k));
        let root = json(&app, method, &p).await;
        assert_eq!(root["status"], "ok", "{method}: {root}");
        let payload = root[element]
            .as_object()
            .unwrap_or_else(|| panic!("{method}: no {element} in {root}"));
        let text = xml(&app, method, &p).await;
        let doc = roxmltree::Document::parse(&text).expect("XML");
        assert_eq!(doc.root_element().attribute("status"), Some("ok"), "{method}");
        let node = doc.root_element().first_element_child().expect("payload");
        assert_eq!(node.tag_name().name(), element, "{method}");
        for attr in node.attributes() {
            let field = &payload[attr.name()];
            let json_text = match field {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => field.to_string(),
                other => panic!("{method}: attribute {} is {other} in JSON", attr.name()),
            };
            assert_eq!(attr.value(), json_text, "{method}.{}", attr.name());
        }
    }
    let top = json(
        &app,
        "getTopSongs",
        &[("apiKey", k), ("artist", "the testers"), ("count", "3")],
    )
    .await;
    assert_eq!(top["topSongs"]["song"].as_array().map(Vec::len), Some(3), "{top}");

    // Covers: the song's own (`mf-`), its album's (`al-`), its artist's (`ar-`),
    // each at the stored size for `size`, whatever number a client sends.
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("cover.png");
    mist_server::testing::audio::run(
        std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "color=red:s=400x300",
                "-frames:v",
                "1",
            ])
            .arg(&png),
    );
    let put = ann
        .request(
            mist_core::client::Method::PUT,
            &format!("/api/v1/tracks/{}/cover", ids[0]),
        )
        .expect("request")
        .header("content-type", "image/png")
        .body(std::fs::read(&png).expect("png"))
        .send()
        .await
        .expect("PUT cover");
    assert_eq!(put.status().as_u16(), 204);
    let song = json(&app, "getSong", &[("apiKey", k), ("id", &ids[0])]).await;
    let cover_id = format!("mf-{}", ids[0]);
    assert_eq!(song["song"]["coverArt"], cover_id.as_str());
    let album_cover = format!("al-{album_id}");
    let album = json(&app, "getAlbum", &[("apiKey", k), ("id", album_id)]).await;
    assert_eq!(album["album"]["coverArt"], album_cover.as_str());
    let artist_cover = format!("ar-{artist_id}");
    for (id, size, width) in [
        (cover_id.as_str(), "64", 64),
        (album_cover.as_str(), "-5", 64),
        (artist_cover.as_str(), "99999999999", 400),
        (ids[0].as_str(), "300", 300),
    ] {
        let (status, content_type, body) =
            rest(&app, "getCoverArt", &[("apiKey", k), ("id", id), ("size", size)]).await;
        assert_eq!((status, content_type.as_str()), (200, "image/jpeg"), "{id} {size}");
        let file = dir.path().join("got.jpg");
        std::fs::write(&file, &body).expect("write");
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=width", "-of", "csv=p=0"])
            .arg(&file)
            .output()
            .expect("ffprobe");
        let got: u32 = String::from_utf8_lossy(&probe.stdout).trim().parse().expect("width");
        assert_eq!(got, width, "{id} size {size}");
    }
}

/// Generates, uploads and waits for a track of `seconds` with tags.
async fn ingest(client: &Client, dir: &Path, name: &str, seconds: f64, freq: u32) -> String {
    let wav = dir.join(format!("{name}.wav"));
    mist_server::testing::audio::run(
        std::process::Command::new("sox")
            .args(["-n", "-r", "44100", "-b", "16", "-c", "2"])
            .arg(&wav)
            .args(["synth", &seconds.to_string(), "sine", &freq.to_string(), "gain", "-6"]),
    );
    let meta = CompleteUploadRequest {
        title: Some(name.to_owned()),
        artist: Some("Sines".into()),
        album: Some("Tones".into()),
        ..CompleteUploadRequest::default()
    };
    let job = upload_file(client, &wav, meta).await;
    let job = wait_for_job(client, &job, Duration::from_secs(300)).await;
    assert_eq!(job.status, JobStatus::Ready, "{job:?}");
    job.track_id
}

/// The duration ffprobe reads from MP3 bytes, decoding every frame (so a
/// broken stream shows as a short one or an error).
fn decoded_seconds(dir: &Path, bytes: &[u8]) -> f64 {
    let file = dir.join("stream.mp3");
    std::fs::write(&file, bytes).expect("write");
    let output = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "s16le", "-ac", "1", "-ar", "8000", "-"])
        .output()
        .expect("ffmpeg");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output.stdout.len() as f64 / 2.0 / 8000.0
}

async fn subsonic_stream_range_offset_quota_scrobble_and_similarity(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |raw| raw.free_daily_seconds = 10,
        ..TestOptions::new(backend)
    })
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let admin = admin_client(&app).await;
    let admin_key = api_key(&admin).await;
    let ak = admin_key.as_str();
    let a = ingest(&admin, dir.path(), "low", 14.0, 220).await;
    let b = ingest(&admin, dir.path(), "mid", 8.0, 440).await;
    let c = ingest(&admin, dir.path(), "high", 8.0, 3000).await;
    let track = admin.track(&a).await.expect("track");

    // Each rendition decodes to the track's length, at about its bit rate.
    for (max, kbps) in [("64", 64.0), ("128", 128.0), ("192", 192.0), ("0", 192.0)] {
        let (status, content_type, body) =
            rest(&app, "stream", &[("apiKey", ak), ("id", &a), ("maxBitRate", max)]).await;
        assert_eq!((status, content_type.as_str()), (200, "audio/mpeg"), "{max}");
        let seconds = decoded_seconds(dir.path(), &body);
        assert!(
            (seconds - track.duration_s).abs() < 0.15,
            "{max}: {seconds} vs {}",
            track.duration_s
        );
        let rate = body.len() as f64 * 8.0 / 1000.0 / track.duration_s;
        assert!((rate - kbps).abs() < kbps * 0.1, "{max}: {rate} kbps");
    }
    // Range: the bytes of the whole answer, 206 with Content-Range.
    let (_, _, whole) = rest(&app, "stream", &[("apiKey", ak), ("id", &a), ("maxBitRate", "128")]).await;
    let response = reqwest::Client::new()
        .get(app.url("/rest/stream"))
        .query(&[("apiKey", ak), ("id", &a), ("maxBitRate", "128")])
        .header("range", "bytes=100000-150000")
        .send()
        .await
        .expect("range");
    assert_eq!(response.status().as_u16(), 206);
    let expected_range = format!("bytes 100000-150000/{}", whole.len());
    assert_eq!(
        response.headers().get("content-range").and_then(|v| v.to_str().ok()),
        Some(expected_range.as_str())
    );
    assert_eq!(
        response.headers().get("content-length").and_then(|v| v.to_str().ok()),
        Some("50001")
    );
    let part = response.bytes().await.expect("body");
    assert_eq!(&part[..], &whole[100_000..=150_000]);
    // A range past the end is refused as HTTP does for a binary answer: 416
    // with the length, so a player can ask again.
    let past = format!("bytes={}-", whole.len() + 10);
    let response = reqwest::Client::new()
        .get(app.url("/rest/stream"))
        .query(&[("apiKey", ak), ("id", &a), ("maxBitRate", "128"), ("f", "json")])
        .header("range", past)
        .send()
        .await
        .expect("range");
    assert_eq!(response.status().as_u16(), 416);
    let expected_range = format!("bytes */{}", whole.len());
    assert_eq!(
        response.headers().get("content-range").and_then(|v| v.to_str().ok()),
        Some(expected_range.as_str())
    );
    // timeOffset: from the frame holding that second.
    let (_, _, tail) = rest(&app, "stream", &[("apiKey", ak), ("id", &a), ("timeOffset", "7")]).await;
    let seconds = decoded_seconds(dir.path(), &tail);
    let expected = track.duration_s - 7.0;
    assert!((seconds - expected).abs() < 0.15, "{seconds} vs {expected}");

    // A free account is charged key period by key period and cut off at its
    // limit (10 s here: two 6 s keys, the second started under the limit).
    let ann = user_client(&app, "ann").await;
    let ann_key = api_key(&ann).await;
    let mut response = reqwest::Client::new()
        .get(app.url("/rest/stream"))
        .query(&[("apiKey", ann_key.as_str()), ("id", a.as_str()), ("maxBitRate", "64")])
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status().as_u16(), 200);
    // Sent chunked, so the body ends cleanly where the quota refused a key.
    assert!(response.headers().get("content-length").is_none());
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
    }
    let heard = decoded_seconds(dir.path(), &body);
    assert!((heard - 12.0).abs() < 0.2, "{heard}");
    let quota = ann.quota().await.expect("quota");
    assert!((quota.used_s - 12.016).abs() < 0.1, "{quota:?}");
    let (status, content_type, body) = rest(&app, "stream", &[("apiKey", &ann_key), ("id", &b), ("f", "json")]).await;
    assert_eq!(status, 429);
    assert!(content_type.starts_with("application/json"));
    let root: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(error_code(&root["subsonic-response"]), 0);
    // Keys of the same day were charged by the same ledger: HLS gets nothing more.
    assert!(ann.open_session(&b).await.is_err(), "the HLS side sees the spent day");
    // Three streams at once by a fresh free account: the shared ledger lets
    // through at most the limit plus one key period, and nothing is sent
    // that was not charged.
    let cat = user_client(&app, "cat").await;
    let cat_key = api_key(&cat).await;
    let fetch_all = |id: String| {
        let url = app.url("/rest/stream");
        let key = cat_key.clone();
        async move {
            let mut response = reqwest::Client::new()
                .get(url)
                .query(&[("apiKey", key.as_str()), ("id", id.as_str())])
                .send()
                .await
                .expect("stream");
            let mut body = Vec::new();
            if response.status().as_u16() == 200 {
                while let Ok(Some(chunk)) = response.chunk().await {
                    body.extend_from_slice(&chunk);
                }
            }
            body
        }
    };
    let bodies = futures::future::join_all([a.clone(), b.clone(), c.clone()].map(fetch_all)).await;
    let sent: f64 = bodies
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| decoded_seconds(dir.path(), b))
        .sum();
    let used = cat.quota().await.expect("quota").used_s;
    assert!(used <= 10.0 + 6.1, "overdrawn: {used}");
    assert!(sent <= used + 0.2, "sent {sent} s, charged {used} s");
    assert!(sent >= 6.0, "something was sent: {sent}");

    // The original: premium and admin, or the uploader by download; nobody else.
    let raw = json(&app, "stream", &[("apiKey", &ann_key), ("id", &a), ("format", "raw")]).await;
    assert_eq!(error_code(&raw), 50);
    assert_eq!(
        error_code(&json(&app, "download", &[("apiKey", &ann_key), ("id", &a)]).await),
        50
    );
    let (status, _, original) = rest(&app, "download", &[("apiKey", ak), ("id", &a)]).await;
    assert_eq!(status, 200);
    assert_eq!(original, std::fs::read(dir.path().join("low.wav")).expect("wav"));

    // Scrobbles: "now playing" shows; a submission after a full stream counts
    // a play and lands in the history; without the audio unlocked, no play.
    let sub = subsonic(&app, Auth::api_key(ak));
    sub.scrobble(&b, None, Some(false)).await.expect("now playing");
    let playing = json(&app, "getNowPlaying", &[("apiKey", ak)]).await;
    assert_eq!(playing["nowPlaying"]["entry"][0]["id"], b.as_str(), "{playing}");
    assert_eq!(playing["nowPlaying"]["entry"][0]["username"], "admin");
    let before = admin.track(&a).await.expect("track").play_count;
    sub.scrobble(&a, None, Some(true)).await.expect("scrobble");
    assert_eq!(admin.track(&a).await.expect("track").play_count, before + 1);
    let history = admin.history(None).await.expect("history");
    let listen = history.items.iter().find(|h| h.track.id == a).expect("in the history");
    assert!(listen.completed && listen.listened_s > 10.0, "{listen:?}");
    let bob = user_client(&app, "bob").await;
    let bob_key = api_key(&bob).await;
    subsonic(&app, Auth::api_key(&bob_key))
        .scrobble(&c, None, Some(true))
        .await
        .expect("scrobble without listening");
    assert_eq!(admin.track(&c).await.expect("track").play_count, 0);
    let song = json(&app, "getSong", &[("apiKey", ak), ("id", &a)]).await;
    assert_eq!(song["song"]["playCount"], before + 1);
    assert!(song["song"]["played"].is_string());

    // getSonicSimilarTracks: the order of /api/v1/tracks/{id}/similar.
    let similar = admin.similar(&a, Some(10)).await.expect("similar");
    let expected: Vec<&str> = similar.items.iter().map(|s| s.track.id.as_str()).collect();
    assert_eq!(expected.len(), 2);
    let root = json(
        &app,
        "getSonicSimilarTracks",
        &[("apiKey", ak), ("id", &a), ("count", "10")],
    )
    .await;
    let matches = root["sonicMatch"]
        .as_array()
        .expect("top-level sonicMatch array")
        .clone();
    let got: Vec<&str> = matches.iter().map(|m| m["entry"]["id"].as_str().expect("id")).collect();
    assert_eq!(got, expected);
    let sims: Vec<f64> = matches
        .iter()
        .map(|m| m["similarity"].as_f64().expect("number"))
        .collect();
    assert!(
        sims.windows(2).all(|w| w[0] >= w[1]) && sims.iter().all(|s| (0.0..=1.0).contains(s)),
        "{sims:?}"
    );
    let root = json(
        &app,
        "findSonicPath",
        &[("apiKey", ak), ("startSongId", &a), ("endSongId", &c), ("count", "3")],
    )
    .await;
    let path: Vec<&str> = root["sonicMatch"]
        .as_array()
        .expect("path")
        .iter()
        .map(|m| m["entry"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(path, [a.as_str(), b.as_str(), c.as_str()]);

    // Premium: never charged or cut off; the original with format=raw.
    let ann_id = ann.me().await.expect("me").id;
    admin
        .update_user(
            &ann_id,
            &UpdateUserRequest {
                plan: Some(Plan::Premium),
                ..Default::default()
            },
        )
        .await
        .expect("premium");
    let (status, _, body) = rest(&app, "stream", &[("apiKey", &ann_key), ("id", &b)]).await;
    assert_eq!(status, 200);
    assert!((decoded_seconds(dir.path(), &body) - 8.0).abs() < 0.15);
    let (status, _, raw) = rest(&app, "stream", &[("apiKey", &ann_key), ("id", &b), ("format", "raw")]).await;
    assert_eq!(status, 200);
    assert_eq!(raw, std::fs::read(dir.path().join("mid.wav")).expect("wav"));
    // No cover was in these files; no lyrics either.
    assert_eq!(
        error_code(&json(&app, "getCoverArt", &[("apiKey", ak), ("id", &format!("mf-{a}"))]).await),
        70
    );
    let lyrics = json(&app, "getLyricsBySongId", &[("apiKey", ak), ("id", &a)]).await;
    assert_eq!(lyrics["lyricsList"]["structuredLyrics"], serde_json::json!([]));
}
