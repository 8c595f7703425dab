//! Liveness, readiness and Prometheus metrics.
//!
//! Metrics say how busy the server is and who is refused: not for anyone.
//! On the public listener `/metrics` wants `Authorization: Bearer
//! <MIST_METRICS_TOKEN>`, and without a token set it is not served there at
//! all (404); [`metrics_router`] serves it without a token on the separate
//! `MIST_METRICS_LISTEN` address, which an operator binds privately.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mist_core::api::{HealthStatus, JobStatus};
use secrecy::ExposeSecret;

use super::error::ApiError;
use super::extract::ApiJson;
use crate::app::AppState;
use crate::db::jobs;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = HealthStatus)))]
pub async fn healthz() -> ApiJson<HealthStatus> {
    ApiJson(HealthStatus {
        status: "ok".into(),
        database: None,
        storage: None,
    })
}

/// The database and the object store answer.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, ApiJson<HealthStatus>) {
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            "unavailable".to_string()
        }
    };
    let storage = match state.store.check().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: storage check failed");
            "unavailable".to_string()
        }
    };
    let ready = database == "ok" && storage == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthStatus {
        status: if ready { "ok" } else { "unavailable" }.into(),
        database: Some(database),
        storage: Some(storage),
    };
    (status, ApiJson(body))
}

/// Prometheus text exposition; needs `Authorization: Bearer
/// <MIST_METRICS_TOKEN>` (404 when no token is configured).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/plain"),
        (status = 401, description = "missing or wrong metrics token", body = mist_core::api::ErrorBody),
        (status = 404, description = "no MIST_METRICS_TOKEN: not served on this listener", body = mist_core::api::ErrorBody),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.settings.metrics_token else {
        return ApiError::NotFound("route").into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), expected.expose_secret().as_bytes()) {
        return ApiError::unauthorized(
            "invalid_token",
            "/metrics needs Authorization: Bearer <MIST_METRICS_TOKEN>",
        )
        .into_response();
    }
    render(&state).await
}

/// `/metrics` alone, without a token, for the private `MIST_METRICS_LISTEN`
/// listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { render(&state).await }),
        )
        .fallback(|| async { ApiError::NotFound("route") })
        .with_state(state)
}

async fn render(state: &AppState) -> Response {
    // Job counts live in the database (any node's worker may change them),
    // so they are read when scraped rather than tracked in this process.
    for status in [JobStatus::Queued, JobStatus::Processing, JobStatus::Failed] {
        match jobs::count_by_status(&state.db, status).await {
            Ok(n) => metrics::gauge!("mist_jobs", "status" => status.as_str()).set(n as f64),
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count jobs"),
        }
    }
    let mut text = state.metrics.render();
    // The supervised worker process records the job series; show them too.
    if let Some(worker) = state.worker_metrics.text().await {
        text.push_str(&worker);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokeN"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
