//! The HTTP API and the web player's page: one router per feature module,
//! merged here with the layers every request passes through (tracing,
//! metrics, timeout, body limit, panic catching) and JSON answers for unknown
//! routes and methods.

pub mod admin;
pub mod albums;
pub mod auth;
pub mod caller;
pub mod catalogue;
pub mod error;
pub mod extract;
pub mod health;
pub mod library;
pub mod media;
pub mod openapi;
pub mod page;
pub mod playback;
pub mod rate_limit;
pub mod similar;
pub mod subsonic;
pub mod tracks;
pub mod uploads;
pub mod web;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use error::ApiError;

/// JSON bodies of API requests are small; uploads have their own route and limit.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);
    Router::new()
        .merge(auth::router(state.clone()))
        .merge(uploads::router(state.clone()))
        .merge(tracks::router())
        .merge(catalogue::router())
        .merge(library::router())
        .merge(albums::router())
        .merge(similar::router())
        .merge(playback::router())
        .merge(admin::router())
        .merge(media::router())
        .merge(health::router())
        .merge(openapi::router())
        .merge(web::router())
        .merge(subsonic::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn(move |request: Request, next: Next| async move {
            time_limit(timeout, request, next).await
        }))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// A handler that runs past `request_timeout_secs` is dropped and the client
/// gets a 408 in the same JSON shape as every other error. The local upload
/// route has no total limit: a large file over a slow link takes minutes, and
/// its body is bounded by its declared size and the body timeout (a body
/// that stops arriving still ends in 408, `serve.rs`).
async fn time_limit(limit: Duration, request: Request, next: Next) -> Response {
    let streams_a_body = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| path.as_str() == uploads::DATA_ROUTE);
    if streams_a_body {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::RequestTimeout(format!("the request took longer than {} s", limit.as_secs())).into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> Response {
    let mut response = ApiError::bad_request("method_not_allowed", "method not allowed on this route").into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// `mist_http_requests_total` and `mist_http_request_duration_seconds`, by
/// route template (not raw path, which would explode the label set).
async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("mist_http_requests_total", &labels).increment(1);
    metrics::histogram!("mist_http_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    response
}
