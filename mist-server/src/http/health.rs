//! Liveness, readiness and Prometheus metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use mist_core::api::{HealthStatus, JobStatus};

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

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
