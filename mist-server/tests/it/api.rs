//! The HTTP API against a real server on an ephemeral port, on both
//! databases. Each test body is an `async fn(Backend)`; `on_both!` makes a
//! `sqlite_…` and a `postgres_…` test of it, so the output shows both ran.

use base64::Engine;
use mist_core::api::{ChangePasswordRequest, ErrorBody, LoginRequest, Plan, RegisterRequest, Role, UpdateUserRequest};
use mist_core::client::{Client, ClientError};
use mist_server::testing::upload::admin_client;
use mist_server::testing::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, METRICS_TOKEN, TestApp, TestOptions, spawn_app, spawn_with,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[path = "api/subsonic.rs"]
mod subsonic;

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
    logout_password_change_and_disable_each_end_old_tokens,
    invite_only_registration_needs_a_code_used_once,
    closed_registration_refuses_everyone,
    the_last_admin_cannot_be_demoted_disabled_or_deleted,
    admin_api_lists_disables_resets_and_deletes_users,
    metrics_need_the_token_or_the_private_listener,
    new_accounts_get_the_default_plan,
    user_and_invite_commands_work_end_to_end,
    admin_user_list_shows_plan_role_and_todays_listening,
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
        .issue(&user.id, Role::Admin, 0, chrono::Utc::now())
        .expect("sign")
        .0;
    let expired = app
        .state
        .tokens
        .issue(&user.id, Role::User, 0, chrono::Utc::now() - chrono::Duration::days(8))
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
        .issue(&user.id, Role::User, 0, chrono::Utc::now())
        .expect("sign")
        .0;
    // Signed with the right secret, but issued an hour from now.
    let from_the_future = app
        .state
        .tokens
        .issue(&user.id, Role::User, 0, chrono::Utc::now() + chrono::Duration::hours(1))
        .expect("sign")
        .0;
    // A valid token's header and signature around claims that say "admin".
    let header = valid.split('.').next().unwrap_or_default();
    let signature = valid.rsplit('.').next().unwrap_or_default();
    let tampered = format!("{header}.{}.{signature}", claims(now, now + 3600));

    let cases = [
        ("forged", format!("Bearer {forged}"), "invalid_token"),
        ("expired", format!("Bearer {expired}"), "token_expired"),
        (
            "issued in the future",
            format!("Bearer {from_the_future}"),
            "invalid_token",
        ),
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

    let metrics = app.metrics().await;
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

/// The status and code of a refused call.
fn refusal<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (Option<u16>, String) {
    let err = result.expect_err("refused");
    (err.status(), err.code().unwrap_or_default().to_owned())
}

async fn registered(app: &TestApp, name: &str) -> (Client, String) {
    let auth = app.client().register(&register_request(name)).await.expect("register");
    (app.client().with_token(auth.token.clone()), auth.token)
}

async fn logout_password_change_and_disable_each_end_old_tokens(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| s.auth_rate_limit_per_minute = 1000,
        ..TestOptions::new(backend)
    })
    .await;
    let login = |password: &str| LoginRequest {
        email: "ivy@example.com".into(),
        password: password.into(),
    };

    // Logout ends this token only: another device's token keeps working.
    let (phone, _) = registered(&app, "ivy").await;
    let laptop = app
        .client()
        .with_token(app.client().login(&login("ivy-password")).await.expect("login").token);
    phone.logout().await.expect("logout");
    assert_eq!(refusal(phone.me().await), (Some(401), "token_revoked".into()));
    assert_eq!(refusal(phone.quota().await), (Some(401), "token_revoked".into()));
    laptop.me().await.expect("the other login still works");
    // Logging out twice is refused like any dead token, and changes nothing.
    assert_eq!(refusal(phone.logout().await).0, Some(401));

    // A password change ends every older token, and answers a new one.
    let tablet = app
        .client()
        .with_token(app.client().login(&login("ivy-password")).await.expect("login").token);
    let wrong = ChangePasswordRequest {
        current_password: "not-the-password".into(),
        new_password: "ivy-new-password".into(),
    };
    assert_eq!(
        refusal(laptop.change_password(&wrong).await),
        (Some(403), "wrong_password".into())
    );
    laptop.me().await.expect("a refused change ends nothing");
    let change = ChangePasswordRequest {
        current_password: "ivy-password".into(),
        new_password: "ivy-new-password".into(),
    };
    let fresh = laptop.change_password(&change).await.expect("change");
    assert_eq!(refusal(laptop.me().await), (Some(401), "token_revoked".into()));
    assert_eq!(refusal(tablet.me().await), (Some(401), "token_revoked".into()));
    let after = app.client().with_token(fresh.token);
    after.me().await.expect("the answered token works");
    assert_eq!(refusal(app.client().login(&login("ivy-password")).await).0, Some(401));
    app.client()
        .login(&login("ivy-new-password"))
        .await
        .expect("new password");

    // Disabling ends every token at once, and login says why (to the password's owner only).
    let admin = admin_client(&app).await;
    let ivy = after.me().await.expect("me");
    let disabled = admin.set_user_disabled(&ivy.id, true).await.expect("disable");
    assert!(disabled.disabled);
    assert_eq!(refusal(after.me().await), (Some(401), "account_disabled".into()));
    assert_eq!(
        refusal(app.client().login(&login("ivy-new-password")).await),
        (Some(403), "account_disabled".into())
    );
    assert_eq!(
        refusal(app.client().login(&login("a-wrong-password")).await),
        (Some(401), "invalid_credentials".into())
    );
    // Enabled again: a new login works, the old tokens stay dead.
    admin.set_user_disabled(&ivy.id, false).await.expect("enable");
    assert_eq!(refusal(after.me().await), (Some(401), "token_revoked".into()));
    let back = app
        .client()
        .login(&login("ivy-new-password"))
        .await
        .expect("login again");
    assert!(!back.user.disabled);
}

async fn invite_only_registration_needs_a_code_used_once(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.registration = "invite".into();
            s.auth_rate_limit_per_minute = 1000;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let guest = register_request("jon");
    assert_eq!(
        refusal(app.client().register(&guest).await),
        (Some(403), "invite_required".into())
    );
    assert_eq!(
        refusal(app.client().register_with_invite(&guest, "made-up-code").await),
        (Some(403), "invalid_invite".into())
    );
    // Without a valid code nothing about existing emails is revealed.
    let admins_email = RegisterRequest {
        email: ADMIN_EMAIL.into(),
        ..register_request("kim")
    };
    assert_eq!(
        refusal(app.client().register_with_invite(&admins_email, "made-up-code").await),
        (Some(403), "invalid_invite".into())
    );
    assert_eq!(refusal(app.client().register(&admins_email).await).0, Some(403));

    let admin = admin_client(&app).await;
    let invite = admin.create_invite(&Default::default()).await.expect("invite");
    assert!(invite.expires_at > chrono::Utc::now() + chrono::Duration::days(6));
    // A failed registration (taken email) does not spend the code.
    assert_eq!(
        refusal(app.client().register_with_invite(&admins_email, &invite.code).await),
        (Some(409), "email_taken".into())
    );
    let jon = app
        .client()
        .register_with_invite(&guest, &invite.code)
        .await
        .expect("the code works once");
    assert_eq!(jon.user.username, "jon");
    assert_eq!(
        refusal(
            app.client()
                .register_with_invite(&register_request("lea"), &invite.code)
                .await
        ),
        (Some(403), "invalid_invite".into())
    );
    // Only admins make codes.
    let jons = app.client().with_token(jon.token);
    assert_eq!(refusal(jons.create_invite(&Default::default()).await).0, Some(403));

    // Two registrations racing for one code: one account.
    let code = admin.create_invite(&Default::default()).await.expect("invite").code;
    let racers = (0..6).map(|i| {
        let client = app.client();
        let code = code.clone();
        async move {
            client
                .register_with_invite(&register_request(&format!("racer{i}")), &code)
                .await
        }
    });
    let results = futures::future::join_all(racers).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert_eq!(
        mist_server::db::users::count(&app.state.db).await.expect("count"),
        3,
        "admin, jon and one racer"
    );

    // Admins see the codes that could still be spent and take one back.
    let kept = admin.create_invite(&Default::default()).await.expect("invite").code;
    let taken_back = admin.create_invite(&Default::default()).await.expect("invite").code;
    let open: Vec<String> = admin
        .list_invites()
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|i| i.code)
        .collect();
    assert!(open.contains(&kept) && open.contains(&taken_back), "{open:?}");
    assert!(!open.contains(&code), "a spent code is not open: {open:?}");
    assert_eq!(refusal(jons.list_invites().await).0, Some(403));
    assert_eq!(refusal(jons.revoke_invite(&kept).await).0, Some(403));
    admin.revoke_invite(&taken_back).await.expect("revoke");
    assert_eq!(refusal(admin.revoke_invite(&taken_back).await).0, Some(404));
    assert_eq!(
        refusal(admin.revoke_invite(&code).await).0,
        Some(404),
        "a spent code stays spent"
    );
    assert_eq!(
        refusal(
            app.client()
                .register_with_invite(&register_request("late"), &taken_back)
                .await
        ),
        (Some(403), "invalid_invite".into())
    );
    app.client()
        .register_with_invite(&register_request("punctual"), &kept)
        .await
        .expect("the other code still works");
}

async fn closed_registration_refuses_everyone(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| s.registration = "closed".into(),
        ..TestOptions::new(backend)
    })
    .await;
    assert_eq!(
        refusal(app.client().register(&register_request("max")).await),
        (Some(403), "registration_closed".into())
    );
    let admin = admin_client(&app).await;
    let code = admin.create_invite(&Default::default()).await.expect("invite").code;
    assert_eq!(
        refusal(app.client().register_with_invite(&register_request("max"), &code).await),
        (Some(403), "registration_closed".into())
    );
    assert_eq!(mist_server::db::users::count(&app.state.db).await.expect("count"), 1);
}

async fn the_last_admin_cannot_be_demoted_disabled_or_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_client(&app).await;
    let me = admin.me().await.expect("me");
    let demote = UpdateUserRequest {
        role: Some(Role::User),
        plan: None,
    };
    assert_eq!(
        refusal(admin.update_user(&me.id, &demote).await),
        (Some(409), "last_admin".into())
    );
    assert_eq!(
        refusal(admin.set_user_disabled(&me.id, true).await),
        (Some(409), "last_admin".into())
    );
    assert_eq!(
        refusal(admin.delete_user(&me.id).await),
        (Some(409), "last_admin".into())
    );
    assert_eq!(admin.me().await.expect("still here").role, Role::Admin);

    // With a second admin, either may go, but not both.
    let (_, _) = registered(&app, "nia").await;
    let nia = mist_server::accounts::find_user(&app.state.db, "nia")
        .await
        .expect("nia");
    let promote = UpdateUserRequest {
        role: Some(Role::Admin),
        plan: None,
    };
    admin.update_user(&nia.id, &promote).await.expect("promote");
    // Both demoted at once: exactly one demotion wins.
    let nias_admin = app.client().with_token(
        app.client()
            .login(&LoginRequest {
                email: "nia@example.com".into(),
                password: "nia-password".into(),
            })
            .await
            .expect("login")
            .token,
    );
    let (a, b) = tokio::join!(
        admin.update_user(&nia.id, &demote),
        nias_admin.update_user(&me.id, &demote)
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    let admins = admins_among(&app, &[&me.id, &nia.id]).await;
    assert_eq!(admins, 1, "one admin remains");
}

/// How many of `ids` are admins.
async fn admins_among(app: &TestApp, ids: &[&str]) -> usize {
    let mut n = 0;
    for id in ids {
        let user = mist_server::db::users::find_by_id(&app.state.db, id)
            .await
            .expect("db")
            .expect("user");
        n += usize::from(user.role() == Role::Admin);
    }
    n
}

async fn admin_api_lists_disables_resets_and_deletes_users(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| s.auth_rate_limit_per_minute = 1000,
        ..TestOptions::new(backend)
    })
    .await;
    let admin = admin_client(&app).await;
    let (oli, _) = registered(&app, "oli").await;
    let (pam, _) = registered(&app, "pam").await;
    let oli_id = oli.me().await.expect("me").id;
    assert_eq!(refusal(oli.admin_users(None, None).await).0, Some(403));

    let first = admin.admin_users(Some(2), None).await.expect("page 1");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].role, Role::Admin, "oldest first");
    let rest = admin
        .admin_users(Some(2), first.next_cursor.as_deref())
        .await
        .expect("page 2");
    let names: Vec<_> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|u| u.username.as_str())
        .collect();
    assert_eq!(names, ["admin", "oli", "pam"]);
    assert!(rest.next_cursor.is_none());

    // A password reset ends the user's tokens; the new password logs in.
    admin.set_user_password(&oli_id, "reset-by-admin").await.expect("reset");
    assert_eq!(refusal(oli.me().await), (Some(401), "token_revoked".into()));
    let login = LoginRequest {
        email: "oli@example.com".into(),
        password: "reset-by-admin".into(),
    };
    app.client().login(&login).await.expect("new password");
    assert_eq!(refusal(admin.set_user_password(&oli_id, "short").await).0, Some(422));

    // Deleting takes the account with its tracks, rows and stored objects.
    let track = mist_server::testing::catalogue::insert_ready_track(
        &app.state,
        &oli_id,
        &mist_server::testing::catalogue::FakeTrack::default(),
    )
    .await;
    app.state
        .store
        .put_bytes(
            &format!("tracks/{track}/original.wav"),
            bytes::Bytes::from_static(b"RIFF"),
            "audio/wav",
        )
        .await
        .expect("an object of the track");
    let pam_sees = pam.track(&track).await.expect("visible to others");
    assert_eq!(pam_sees.id, track);
    admin.delete_user(&oli_id).await.expect("delete");
    assert_eq!(refusal(admin.delete_user(&oli_id).await).0, Some(404));
    assert_eq!(refusal(app.client().login(&login).await).0, Some(401));
    assert_eq!(refusal(pam.track(&track).await).0, Some(404));
    assert!(
        app.state
            .store
            .list(&format!("tracks/{track}/"))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        refusal(admin.set_user_disabled("no-such-user", true).await).0,
        Some(404)
    );
}

async fn metrics_need_the_token_or_the_private_listener(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = |auth: Option<&'static str>| {
        let mut request = reqwest::Client::new().get(app.url("/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for (what, auth) in [
        ("no token", None),
        ("wrong token", Some("Bearer not-the-metrics-token")),
        ("a prefix of it", Some("Bearer metrics-token")),
        ("not bearer", Some("Basic bWV0cmljcw==")),
    ] {
        let response = get(auth).await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(error_code(&body), "invalid_token", "{what}");
    }
    let ok = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
    // A user's token is not the metrics token.
    let (_, user_token) = registered(&app, "quin").await;
    let as_user = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(user_token)
        .send()
        .await
        .expect("request");
    assert_eq!(as_user.status(), StatusCode::UNAUTHORIZED);

    // Neither a token nor a private listener: not served at all; with the
    // private listener, served there without a token.
    let private = spawn_with(TestOptions {
        tweak: |s| {
            s.metrics_token = None;
            s.metrics_listen = Some("127.0.0.1:0".into());
        },
        ..TestOptions::new(backend)
    })
    .await;
    let response = reqwest::get(private.url("/metrics")).await.expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let addr = private.metrics_addr.expect("a metrics listener");
    assert_ne!(addr, private.addr);
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(text.contains("mist_jobs"), "{text}");
    let other = reqwest::get(format!("http://{addr}/api/v1/me")).await.expect("request");
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");
}

async fn new_accounts_get_the_default_plan(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| s.default_plan = "premium".into(),
        ..TestOptions::new(backend)
    })
    .await;
    let auth = app.client().register(&register_request("rae")).await.expect("register");
    assert_eq!(auth.user.plan, Plan::Premium);
    let quota = app.client().with_token(auth.token).quota().await.expect("quota");
    assert_eq!(quota.limit_s, None, "unlimited");
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

/// A connection the test holds open, sending `prefix` and then nothing.
async fn stalled(addr: std::net::SocketAddr, prefix: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(prefix).await.expect("write");
    stream
}

/// Waits until the server closes `stream` (EOF or reset), reading whatever
/// it says first (hyper may answer 408); false if still open after `within`.
async fn closed_within(mut stream: tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut sink = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

/// Still open: no EOF (whatever the server said first, such as its HTTP/2
/// settings, is read and skipped).
async fn still_open(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(std::time::Duration::from_millis(20), stream.read(&mut buf)).await {
            Err(_) => return true,
            Ok(Ok(0) | Err(_)) => return false,
            Ok(Ok(_)) => {}
        }
    }
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Slowloris: 1,000 connections that trickle half a request head (HTTP/1),
/// send only the HTTP/2 preface, or send nothing at all. A normal client is
/// served while they are held, and every one of them is closed once the
/// header timeout (4 s here) is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_others_are_served_meanwhile() {
    let app = spawn_with(TestOptions {
        tweak: |s| s.header_read_timeout_secs = 4,
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let prefixes: [&[u8]; 3] = [b"GET /healthz HTTP/1.1\r\nHost: mist\r\nX-Slow: ", H2_PREFACE, b""];
    let mut held = Vec::new();
    for i in 0..1000 {
        held.push(stalled(app.addr, prefixes[i % 3]).await);
    }
    let health = app.client().health().await.expect("served while 1,000 are held");
    assert_eq!(health.status, "ok");
    let me = app.client().me().await.expect_err("an API answer too");
    assert_eq!(me.status(), Some(401));
    let mut open = 0;
    // The last ones opened, just before the client came, are surely within their time.
    for stream in held.iter_mut().rev().take(21) {
        open += usize::from(still_open(stream).await);
    }
    assert_eq!(
        open, 21,
        "the slow connections were still held while the client was served"
    );

    let closing = held
        .into_iter()
        .map(|stream| closed_within(stream, std::time::Duration::from_secs(12)));
    let closed = futures::future::join_all(closing).await;
    let still = closed.iter().filter(|c| !**c).count();
    assert_eq!(still, 0, "{still} of 1000 slow connections were never closed");
    app.client().health().await.expect("and the server is still fine");
}

/// With the connection limit reached, the next connection waits (it is not
/// served, nor refused) until a held one is closed; then it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_connection_table_makes_new_clients_wait_not_fail() {
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.header_read_timeout_secs = 2;
            s.max_connections = 20;
        },
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(stalled(app.addr, b"").await);
    }
    // Give the accept loop time to take all twenty.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let waiting = tokio::spawn(reqwest::get(app.url("/healthz")));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the 21st connection was served past the limit");
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("served once the silent ones were closed")
        .expect("task")
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    drop(held);
}

/// Idle connections close on both protocols: HTTP/1.1 keep-alive after its
/// request, and an HTTP/2 connection (prior knowledge, as h2c) that served
/// a request and then only stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_on_http1_and_http2() {
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.header_read_timeout_secs = 2;
            s.idle_timeout_secs = 2;
        },
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;

    let mut h1 = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    h1.write_all(b"GET /healthz HTTP/1.1\r\nHost: mist\r\n\r\n")
        .await
        .expect("write");
    let mut head = [0u8; 12];
    h1.read_exact(&mut head).await.expect("response");
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(
        closed_within(h1, std::time::Duration::from_secs(6)).await,
        "idle HTTP/1.1 keep-alive connection left open"
    );

    let stream = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(format!("http://{}/healthz", app.addr))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("h2 request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let body = response.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("ok"));
    let ended = tokio::time::timeout(std::time::Duration::from_secs(8), driver).await;
    assert!(ended.is_ok(), "idle HTTP/2 connection left open");
}

/// Writes `head` on a raw connection, then each of `pieces` with `gap`
/// before the next (stopping if the server closed), and reads the whole
/// answer (the server must answer and close within 10 s).
async fn raw_exchange(app: &TestApp, head: &str, pieces: &[&[u8]], gap: std::time::Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    for piece in pieces {
        if stream.write_all(piece).await.is_err() {
            break;
        }
        tokio::time::sleep(gap).await;
    }
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A 1000-byte upload ticket for `client`; the head of a raw PUT of it.
async fn raw_upload_head(client: &Client, token: &str) -> String {
    let ticket = client
        .create_upload(&mist_core::api::CreateUploadRequest {
            filename: "slow.wav".into(),
            size: 1000,
            content_type: "audio/wav".into(),
            sha256: None,
        })
        .await
        .expect("ticket");
    format!(
        "PUT /api/v1/uploads/{}/data HTTP/1.1\r\nHost: mist\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: audio/wav\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n",
        ticket.upload_id
    )
}

const LOGIN_HEAD: &str =
    "POST /api/v1/auth/login HTTP/1.1\r\nHost: mist\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";

/// A body that stops arriving ends in 408 after the body timeout, on a JSON
/// route and on the local upload route (where nothing is kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_times_out() {
    let app = spawn_with(TestOptions {
        tweak: |s| s.body_timeout_secs = 1,
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let no_gap = std::time::Duration::ZERO;
    let answer = raw_exchange(&app, LOGIN_HEAD, &[b"{\"email\":"], no_gap).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    let (client, token) = registered(&app, "sal").await;
    let head = raw_upload_head(&client, &token).await;
    let answer = raw_exchange(&app, &head, &[b"RIFF"], no_gap).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        app.state.store.list("").await.expect("list").is_empty(),
        "nothing of the stalled upload is kept"
    );
}

/// A slow but steady upload is not cut off by the request time limit (a
/// large file over a slow link takes minutes); only a body that stops
/// arriving is (above). A slow JSON request still ends in a JSON 408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_steady_upload_outlasts_the_request_time_limit() {
    let app = spawn_with(TestOptions {
        worker: false,
        tweak: |s| {
            s.request_timeout_secs = 1;
            s.body_timeout_secs = 2;
        },
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let (client, token) = registered(&app, "slowpoke").await;
    let head = raw_upload_head(&client, &token).await;
    // 1000 bytes over ~3 s: three times the request time limit.
    let pieces = [&[b'x'; 100][..]; 10];
    let answer = raw_exchange(&app, &head, &pieces, std::time::Duration::from_millis(300)).await;
    assert!(answer.starts_with("HTTP/1.1 20"), "{answer}");

    // A JSON body dribbled past the limit (each piece within the body
    // timeout) gets the JSON error shape.
    let answer = raw_exchange(&app, LOGIN_HEAD, &[&b" "[..]; 4], std::time::Duration::from_millis(500)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}

/// An upload ticket is dead once its upload is completed: the local route
/// refuses it (410), and on S3, where a presigned PUT cannot be recalled,
/// it can only write to a staging key nothing reads: the track's original,
/// moved to a key no ticket names, keeps the bytes that were completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_local_a_used_upload_ticket_is_dead() {
    let app = spawn_with(TestOptions {
        worker: false,
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    used_ticket_is_dead(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_a_used_upload_ticket_is_dead() {
    let app = spawn_with(TestOptions {
        worker: false,
        store: mist_server::testing::Store::S3,
        ..TestOptions::new(Backend::Postgres)
    })
    .await;
    used_ticket_is_dead(&app).await;
}

async fn used_ticket_is_dead(app: &TestApp) {
    let (client, _) = registered(app, "tess").await;
    let original = b"RIFF-the-bytes-that-were-completed".to_vec();
    let ticket = client
        .create_upload(&mist_core::api::CreateUploadRequest {
            filename: "take.wav".into(),
            size: original.len() as u64,
            content_type: "audio/wav".into(),
            sha256: None,
        })
        .await
        .expect("ticket");
    client.put_upload(&ticket, original.clone()).await.expect("send");
    let done = client
        .complete_upload(&ticket.upload_id, &Default::default())
        .await
        .expect("complete");
    let job = client.job(&done.job_id).await.expect("job");
    let key = format!("tracks/{}/original.wav", job.track_id);
    assert_eq!(
        app.state.store.get_bytes(&key).await.expect("original").as_ref(),
        original
    );

    // The same URL again, same size, other bytes.
    let forged = b"RIFF-bytes-sent-after-completing!!".to_vec();
    assert_eq!(forged.len(), original.len());
    let reused = client.put_upload(&ticket, forged).await;
    match app.state.store.kind() {
        "local" => {
            let err = reused.expect_err("the local route refuses a spent ticket");
            assert_eq!((err.status(), err.code()), (Some(410), Some("gone")));
        }
        // S3 cannot refuse a presigned PUT before it expires; it lands on the
        // staging key, which nothing reads any more.
        _ => reused.expect("S3 takes it"),
    }
    assert_eq!(
        app.state.store.get_bytes(&key).await.expect("original").as_ref(),
        original,
        "the track's original is untouched"
    );
    // Completing again answers the same job and moves nothing.
    let again = client
        .complete_upload(&ticket.upload_id, &Default::default())
        .await
        .expect("complete again");
    assert_eq!(again.job_id, done.job_id);
    assert_eq!(
        app.state.store.get_bytes(&key).await.expect("original").as_ref(),
        original
    );
    assert!(
        !ticket.url.contains(&key),
        "the ticket never named the track's key: {}",
        ticket.url
    );
}

/// Runs the real `mist-server` binary against `app`'s database and data dir.
fn mist_server(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mist-server"));
    command
        .args(args)
        .env("MIST_DATA_DIR", &app.settings.data_dir)
        .env("MIST_JWT_SECRET", "test-jwt-secret-that-is-long-enough-0123")
        .env(
            "MIST_MASTER_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .env("MIST_REGISTRATION", app.settings.registration.as_str())
        .env("RUST_LOG", "error")
        .env_remove("DATABASE_URL");
    if let Some(url) = app.settings.database_url_exposed() {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("mist-server runs")
}

#[track_caller]
fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "mist-server failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn refused_with(output: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} in {stderr}");
}

async fn user_and_invite_commands_work_end_to_end(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.registration = "invite".into();
            s.auth_rate_limit_per_minute = 1000;
        },
        ..TestOptions::new(backend)
    })
    .await;
    // Invite codes from the command line register people, once each.
    let mut clients = Vec::new();
    for name in ["uma", "vic"] {
        let code = stdout_of(&mist_server(&app, &["invite", "create", "--expires-in-hours", "2"]));
        let code = code.trim();
        assert_eq!(code.len(), 32, "{code:?}");
        let auth = app
            .client()
            .register_with_invite(&register_request(name), code)
            .await
            .expect("the code registers");
        clients.push(app.client().with_token(auth.token));
    }
    let (uma, vic) = (&clients[0], &clients[1]);
    // An unspent code is listed and can be taken back; then it registers nobody.
    let spare = stdout_of(&mist_server(&app, &["invite", "create"])).trim().to_owned();
    let open = stdout_of(&mist_server(&app, &["invite", "list"]));
    assert_eq!(open.lines().count(), 1, "only the unspent code: {open}");
    assert!(open.starts_with(&spare), "{open}");
    stdout_of(&mist_server(&app, &["invite", "revoke", &spare]));
    assert!(stdout_of(&mist_server(&app, &["invite", "list"])).is_empty());
    assert!(!mist_server(&app, &["invite", "revoke", &spare]).status.success());

    let listed = stdout_of(&mist_server(&app, &["user", "list"]));
    for needle in ["USERNAME", "admin", "uma@example.com", "vic", "active", "free"] {
        assert!(listed.contains(needle), "{needle} in {listed}");
    }
    let json: Value = serde_json::from_str(&stdout_of(&mist_server(&app, &["user", "list", "--json"]))).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(3), "{json}");

    // Users are named by username, email or id.
    stdout_of(&mist_server(&app, &["user", "set-plan", "uma", "premium"]));
    assert_eq!(uma.me().await.expect("me").plan, Plan::Premium);
    stdout_of(&mist_server(&app, &["user", "set-role", "UMA@example.com", "admin"]));
    assert_eq!(uma.me().await.expect("me").role, Role::Admin);
    let uma_id = uma.me().await.expect("me").id;
    stdout_of(&mist_server(&app, &["user", "set-role", &uma_id, "user"]));
    refused_with(
        &mist_server(&app, &["user", "set-role", "admin", "user"]),
        "last active admin",
    );
    refused_with(&mist_server(&app, &["user", "disable", "admin"]), "last active admin");
    refused_with(&mist_server(&app, &["user", "delete", "admin"]), "last active admin");
    refused_with(&mist_server(&app, &["user", "disable", "nobody"]), "no user");

    // Disable ends the running server's tokens at once; enable lets the user log in again.
    stdout_of(&mist_server(&app, &["user", "disable", "uma"]));
    assert_eq!(refusal(uma.me().await), (Some(401), "account_disabled".into()));
    stdout_of(&mist_server(&app, &["user", "enable", "uma"]));
    assert_eq!(refusal(uma.me().await), (Some(401), "token_revoked".into()));

    // A reset password is printed once and works; the old one does not.
    let reset = stdout_of(&mist_server(&app, &["user", "reset-password", "uma"]));
    let password = reset
        .lines()
        .find_map(|l| l.rsplit_once(": ").map(|(_, p)| p.trim().to_owned()))
        .expect("the new password is printed");
    let login = |password: String| LoginRequest {
        email: "uma@example.com".into(),
        password,
    };
    app.client()
        .login(&login(password))
        .await
        .expect("the printed password");
    assert_eq!(
        refusal(app.client().login(&login("uma-password".into())).await).0,
        Some(401)
    );
    stdout_of(&mist_server(
        &app,
        &["user", "reset-password", "uma", "--password", "chosen-password"],
    ));
    app.client()
        .login(&login("chosen-password".into()))
        .await
        .expect("the chosen password");

    // Delete takes the account away.
    stdout_of(&mist_server(&app, &["user", "delete", "vic@example.com"]));
    assert_eq!(refusal(vic.me().await).0, Some(401));
    let json: Value = serde_json::from_str(&stdout_of(&mist_server(&app, &["user", "list", "--json"]))).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
}

/// The admin's user list (the web page's admin screen) shows each user's plan,
/// role and today's listening: what the user's own quota says, counting only
/// today (UTC), from one query per page whatever the page's size.
async fn admin_user_list_shows_plan_role_and_todays_listening(backend: Backend) {
    let app = spawn_with(TestOptions {
        tweak: |s| {
            s.auth_rate_limit_per_minute = 1000;
            s.free_daily_seconds = 600;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let (oli, _) = registered(&app, "oli").await;
    let (_pam, _) = registered(&app, "pam").await;
    let oli_id = oli.me().await.expect("me").id;
    let now = app.state.clock.now_ms();
    let today = mist_server::quota::day_of(now);
    let yesterday = mist_server::quota::day_of(now - 86_400_000);
    let insert = "INSERT INTO daily_usage (user_id, day, used_ms) VALUES ($1, $2, $3)";
    for (day, used_ms) in [(&today, 125_500_i64), (&yesterday, 400_000)] {
        match &app.state.db {
            mist_server::db::Db::Sqlite(pool) => {
                let q = sqlx::query(insert).bind(&oli_id).bind(day).bind(used_ms);
                q.execute(pool).await.map(|_| ())
            }
            mist_server::db::Db::Postgres(pool) => {
                let q = sqlx::query(insert).bind(&oli_id).bind(day).bind(used_ms);
                q.execute(pool).await.map(|_| ())
            }
        }
        .expect("usage row");
    }

    let token = app
        .client()
        .login(&LoginRequest {
            email: ADMIN_EMAIL.into(),
            password: ADMIN_PASSWORD.into(),
        })
        .await
        .expect("admin login")
        .token;
    let list = |cursor: Option<String>| {
        let url = app.url(&format!(
            "/api/v1/admin/users?limit=2{}",
            cursor.map(|c| format!("&cursor={c}")).unwrap_or_default()
        ));
        let token = token.clone();
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("list");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.expect("JSON")
        }
    };
    let first = list(None).await;
    let second = list(first["next_cursor"].as_str().map(str::to_owned)).await;
    let items: Vec<&Value> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .chain(second["items"].as_array().expect("items"))
        .collect();
    let by_name = |name: &str| {
        *items
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed: {items:?}"))
    };
    let admin = by_name("admin");
    assert_eq!(admin["role"], "admin");
    assert_eq!(
        admin["today"]["remaining_s"],
        Value::Null,
        "admins listen without a limit"
    );
    let oli_entry = by_name("oli");
    assert_eq!(
        oli_entry["id"],
        oli_id.as_str(),
        "the user's fields stay at the top level"
    );
    assert_eq!(oli_entry["plan"], "free");
    assert_eq!(oli_entry["today"]["used_s"], 125.5, "today's only: {oli_entry}");
    assert_eq!(oli_entry["today"]["limit_s"], 600.0);
    assert_eq!(oli_entry["today"]["remaining_s"], 474.5);
    assert_eq!(
        oli_entry["today"],
        serde_json::to_value(oli.quota().await.expect("quota")).expect("quota JSON")
    );
    assert_eq!(by_name("pam")["today"]["used_s"], 0.0);

    // The existing client still reads the list as users.
    let admin_client = admin_client(&app).await;
    let users = admin_client.admin_users(None, None).await.expect("users");
    assert_eq!(users.items.len(), 3);
}
