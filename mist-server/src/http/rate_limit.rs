//! The middleware that applies the per-IP [`RateLimiter`]s to the auth and
//! upload routes (the limiter itself is `crate::limiter`'s).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::app::AppState;
use crate::limiter::{RateLimiter, client_ip};

/// Middleware for the auth routes.
pub async fn limit_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    limit(&state, &state.auth_limiter, "auth", request, next).await
}

/// Middleware for announcing uploads.
pub async fn limit_uploads(State(state): State<AppState>, request: Request, next: Next) -> Response {
    limit(&state, &state.upload_limiter, "uploads", request, next).await
}

async fn limit(state: &AppState, limiter: &RateLimiter, scope: &'static str, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let ip = client_ip(peer, request.headers(), &state.settings.trusted_proxies);
    match limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after_s) => {
            metrics::counter!("mist_rate_limited_total", "scope" => scope).increment(1);
            ApiError::TooManyRequests { retry_after_s }.into_response()
        }
    }
}
