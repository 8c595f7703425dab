//! The HTTP API against a real server on an ephemeral port, on both
//! databases. Each test body is an `async fn(Backend)`; `on_both!` makes a
//! `sqlite_…` and a `postgres_…` test of it, so the output shows both ran.

use base64::Engine;
use mist_core::api::{ErrorBody, LoginRequest, Plan, RegisterRequest, Role};
use mist_server::testing::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, TestOptions, spawn_app, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

mist_server::on_both!(
    register_login_and_me,
    admin_exists_on_first_start,
    malformed_json_is_400_in_the_error_shape,
    wrong_types_and_missing_fields_are_422,
    wrong_content_type_is_415_and_oversize_is_413,
    invalid_registrations_are_422,
    duplicate_email_or_username_is_409,
    concurrent_registrations_of_one_email_make_one_user,
    wrong_password_and_unknown_email_answer_alike,
    eleventh_auth_request_in_a_minute_is_429,
    bad_tokens_are_401,
    unknown_routes_and_methods_answer_json,
    health_ready_metrics_and_openapi,
    restart_keeps_users,
);

fn register_request(n: &str) -> RegisterRequest {
    RegisterRequest {
        email: format!("{n}@example.com"),
        username: n.to_owned(),
        password: format!("{n}-password"),
    }
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("every answer is JSON");
    (status, body)
}

/// Asserts the body is exactly `{"error": {"code", "message"}}` and returns the code.
fn error_code(body: &Value) -> String {
    let parsed: ErrorBody = serde_json::from_value(body.clone()).expect("error shape");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "only `error` at the top: {body}"
    );
    assert!(!parsed.error.message.is_empty());
    parsed.error.code
}

async fn register_login_and_me(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let registered = client.register(&register_request("ann")).await.expect("register");
    assert_eq!(registered.user.username, "ann");
    assert_eq!(registered.user.email, "ann@example.com");
    assert_eq!(registered.user.role, Role::User);
    assert_eq!(registered.user.plan, Plan::Free);
    let week = registered.expires_at - chrono::Utc::now();
    assert!(week > chrono::Duration::days(7) - chrono::Duration::minutes(1) && week <= chrono::Duration::days(7));

    // Email is matched case-insensitively.
    let login = LoginRequest {
        email: "ANN@Example.com".into(),
        password: "ann-password".into(),
    };
    let logged_in = client.login(&login).await.expect("login");
    assert_eq!(logged_in.user.id, registered.user.id);

    let me = client.clone().with_token(logged_in.token).me().await.expect("me");
    assert_eq!(me, registered.user);
    let me = client
        .clone()
        .with_token(registered.token)
        .me()
        .await
        .expect("me with the register token");
    assert_eq!(me.id, registered.user.id);
}

async fn admin_exists_on_first_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = LoginRequest {
        email: ADMIN_EMAIL.into(),
        password: ADMIN_PASSWORD.into(),
    };
    let admin = app.client().login(&login).await.expect("admin logs in");
    assert_eq!(admin.user.role, Role::Admin);
    assert_eq!(admin.user.username, "admin");
}

async fn malformed_json_is_400_in_the_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in ["{", "not json", r#"{"email": "a@b.c",}"#, ""] {
        let (status, json) = post_raw(&app, "/api/v1/auth/register", "application/json", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?} → {json}");
        assert_eq!(error_code(&json), "invalid_json");
    }
}

async fn wrong_types_and_missing_fields_are_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        json!({"email": 5, "username": "bob", "password": "bob-password"}),
        json!({"email": "bob@example.com", "username": ["bob"], "password": "bob-password"}),
        json!({"email": "bob@example.com", "password": "bob-password"}),
        json!({"email": null, "username": "bob", "password": "bob-password"}),
    ];
    for case in cases {
        let (status, body) = post_raw(&app, "/api/v1/auth/register", "application/json", case.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case} → {body}");
        assert_eq!(error_code(&body), "invalid_field");
    }
    // Nothing was created by any of them.
    assert_eq!(
        mist_server::db::users::count(&app.state.db).await.expect("count"),
        1,
        "only the admin"
    );
}

async fn wrong_content_type_is_415_and_oversize_is_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = serde_json::to_string(&register_request("cat")).expect("json");
    let (status, json) = post_raw(&app, "/api/v1/auth/register", "text/plain", body).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&json), "unsupported_media_type");

    let huge = json!({"email": "cat@example.com", "username": "cat", "password": "x".repeat(2 * 1024 * 1024)});
    let (status, json) = post_raw(&app, "/api/v1/auth/register", "application/json", huge.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&json), "payload_too_large");
}

async fn invalid_registrations_are_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("not-an-email", "dan", "dan-password"),
        ("dan@example.com", "d", "dan-password"),
        ("dan@example.com", "dan with spaces", "dan-password"),
        ("dan@example.com", "dan", "short"),
    ];
    for (email, username, password) in cases {
        let body = json!({"email": email, "username": username, "password": password});
        let (status, json) = post_raw(&app, "/api/v1/auth/register", "application/json", body.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {json}");
        assert_eq!(error_code(&json), "invalid_field");
    }
}

async fn duplicate_email_or_username_is_409(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    client.register(&register_request("eve")).await.expect("first");
    let same_email = RegisterRequest {
        username: "eve2".into(),
        email: "EVE@example.com".into(),
        ..register_request("eve")
    };
    let err = client.register(&same_email).await.expect_err("duplicate email");
    assert_eq!((err.status(), err.code()), (Some(409), Some("email_taken")));
    let same_name = RegisterRequest {
        email: "other@example.com".into(),
        username: "EVE".into(),
        ..register_request("eve")
    };
    let err = client.register(&same_name).await.expect_err("duplicate username");
    assert_eq!((err.status(), err.code()), (Some(409), Some("username_taken")));
}

async fn concurrent_registrations_of_one_email_make_one_user(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| s.auth_rate_limit_per_minute = 1000,
        ..TestOptions::new(backend)
    })
    .await;
    let attempts = (0..8).map(|i| {
        let client = app.client();
        async move {
            let req = RegisterRequest {
                email: "race@example.com".into(),
                username: format!("racer{i}"),
                password: "race-password".into(),
            };
            client.register(&req).await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1, "exactly one registration wins");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), Some("email_taken"), "{r}");
    }
    assert_eq!(
        mist_server::db::users::count(&app.state.db).await.expect("count"),
        2,
        "admin + one"
    );
}

async fn wrong_password_and_unknown_email_answer_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.client().register(&register_request("fay")).await.expect("register");
    let wrong = json!({"email": "fay@example.com", "password": "not-fays-password"});
    let unknown = json!({"email": "nobody@example.com", "password": "not-fays-password"});
    let (s1, b1) = post_raw(&app, "/api/v1/auth/login", "application/json", wrong.to_string()).await;
    let (s2, b2) = post_raw(&app, "/api/v1/auth/login", "application/json", unknown.to_string()).await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(b1, b2, "identical bodies");
    assert_eq!(error_code(&b1), "invalid_credentials");
}

async fn eleventh_auth_request_in_a_minute_is_429(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempt = json!({"email": "guess@example.com", "password": "guess-password"}).to_string();
    for i in 0..10 {
        let (status, _) = post_raw(&app, "/api/v1/auth/login", "application/json", attempt.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "guess@example.com", "password": "guess-password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header in seconds");
    assert!((1..=60).contains(&retry_after));
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "rate_limited");
    // Registration shares the limit; /me does not.
    let (status, _) = post_raw(&app, "/api/v1/auth/register", "application/json", "{}").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let status = reqwest::get(app.url("/api/v1/me")).await.expect("request").status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bad_tokens_are_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app
        .client()
        .register(&register_request("gus"))
        .await
        .expect("register")
        .user;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = chrono::Utc::now().timestamp();
    let claims =
        |iat: i64, exp: i64| b64.encode(json!({"sub": user.id, "iat": iat, "exp": exp, "role": "admin"}).to_string());

    let forged = mist_server::auth::token::TokenKeys::new(b"some other secret, 32 bytes long!!")
        .issue(&user.id, Role::Admin, chrono::Utc::now())
        .expect("sign")
        .0;
    let expired = app
        .state
        .tokens
        .issue(&user.id, Role::User, chrono::Utc::now() - chrono::Duration::days(8))
        .expect("sign")
        .0;
    let alg_none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        claims(now, now + 3600)
    );
    let valid = app
        .state
        .tokens
        .issue(&user.id, Role::User, chrono::Utc::now())
        .expect("sign")
        .0;
    // A valid token's header and signature around claims that say "admin".
    let header = valid.split('.').next().unwrap_or_default();
    let signature = valid.rsplit('.').next().unwrap_or_default();
    let tampered = format!("{header}.{}.{signature}", claims(now, now + 3600));

    let cases = [
        ("forged", format!("Bearer {forged}"), "invalid_token"),
        ("expired", format!("Bearer {expired}"), "token_expired"),
        ("alg none", format!("Bearer {alg_none}"), "invalid_token"),
        ("tampered claims", format!("Bearer {tampered}"), "invalid_token"),
        ("garbage", "Bearer abc.def.ghi".to_owned(), "invalid_token"),
        ("not bearer", format!("Basic {valid}"), "invalid_token"),
    ];
    for (what, header, code) in cases {
        let response = reqwest::Client::new()
            .get(app.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(error_code(&body), code, "{what}");
    }
    let response = reqwest::get(app.url("/api/v1/me")).await.expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&response.json().await.expect("json")), "missing_token");
    // And the valid one works, so the failures above are about the tokens.
    app.client().with_token(valid).me().await.expect("valid token");
}

async fn unknown_routes_and_methods_answer_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = reqwest::get(app.url("/api/v1/no-such-thing")).await.expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(&response.json().await.expect("json")), "not_found");
    let response = reqwest::Client::new()
        .delete(app.url("/api/v1/auth/login"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&response.json().await.expect("json")), "method_not_allowed");
}

async fn health_ready_metrics_and_openapi(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.client().health().await.expect("healthz");
    assert_eq!(health.status, "ok");

    let response = reqwest::get(app.url("/readyz")).await.expect("readyz");
    assert_eq!(response.status(), StatusCode::OK);
    let ready: Value = response.json().await.expect("json");
    assert_eq!(ready, json!({"status": "ok", "database": "ok", "storage": "ok"}));

    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("mist_http_requests_total"), "{metrics}");
    assert!(metrics.contains(r#"route="/readyz""#), "{metrics}");

    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/me",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("AuthResponse").is_some());

    if backend == Backend::Postgres {
        let db = &app.state.db;
        let mist_server::db::Db::Postgres(pool) = db else {
            panic!("postgres backend")
        };
        let version: String = sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            .fetch_one(pool)
            .await
            .expect("pgvector is installed by the migrations");
        assert!(!version.is_empty());
    }
}

async fn restart_keeps_users(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = app.client().register(&register_request("hal")).await.expect("register");
    let app = app.restart().await;
    let login = LoginRequest {
        email: "hal@example.com".into(),
        password: "hal-password".into(),
    };
    let again = app.client().login(&login).await.expect("login after restart");
    assert_eq!(again.user.id, registered.user.id);
    // Tokens issued before the restart stay valid: the secret is kept.
    let me = app.client().with_token(registered.token).me().await.expect("old token");
    assert_eq!(me.id, registered.user.id);
}

/// docs/api.md names every route of the OpenAPI document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_doc_covers_the_openapi_document() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).expect("docs/api.md");
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            let route = format!("{} {path}", method.to_uppercase());
            if !text.contains(&route) {
                missing.push(route);
            }
        }
    }
    assert!(missing.is_empty(), "docs/api.md does not describe: {missing:#?}");
}
