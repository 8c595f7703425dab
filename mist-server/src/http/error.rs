//! The one error type of the HTTP API. Every failure, including a rejected
//! extractor and an unknown route, answers `{"error": {"code", "message"}}`
//! with the right status. Internal errors are logged with their cause and
//! answered with a generic message: nothing internal leaks.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mist_core::api::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{0}")]
    Forbidden(String),
    /// A refusal with its own machine-readable code.
    #[error("{message}")]
    Forbidden403 { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The uploader already has a track made from these bytes.
    #[error("you already uploaded this file as track {existing_track_id}")]
    Duplicate { existing_track_id: String },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Gone(String),
    #[error("today's listening quota is used up; it resets at {resets_at}")]
    QuotaExceeded { resets_at: chrono::DateTime<chrono::Utc> },
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    #[error("service unavailable")]
    Unavailable,
    /// The client stopped sending the request body.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Forbidden403 { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Duplicate { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Forbidden403 { code, .. } => code,
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Duplicate { .. } => "duplicate",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Gone(_) => "gone",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Unavailable => "unavailable",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(err) = &self {
            tracing::error!(error = ?err, "internal error");
        }
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                resets_at: match &self {
                    ApiError::QuotaExceeded { resets_at } => Some(*resets_at),
                    _ => None,
                },
                existing_track_id: match &self {
                    ApiError::Duplicate { existing_track_id } => Some(existing_track_id.clone()),
                    _ => None,
                },
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let extra = match self {
            ApiError::TooManyRequests { retry_after_s } => Some((header::RETRY_AFTER, retry_after_s.to_string())),
            ApiError::RangeNotSatisfiable { size } => Some((header::CONTENT_RANGE, format!("bytes */{size}"))),
            _ => None,
        };
        if let Some((name, value)) = extra
            && let Ok(v) = HeaderValue::from_str(&value)
        {
            response.headers_mut().insert(name, v);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(err: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match err {
            StorageError::NotFound(_) => ApiError::NotFound("object"),
            StorageError::TooLarge { limit } => ApiError::PayloadTooLarge(format!("body larger than {limit} bytes")),
            StorageError::InvalidKey(_) => ApiError::bad_request("invalid_key", "invalid object key"),
            StorageError::RangeNotSatisfiable { size } => ApiError::RangeNotSatisfiable { size },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::text::FieldError> for ApiError {
    fn from(err: crate::text::FieldError) -> Self {
        ApiError::unprocessable("invalid_field", err.0)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                // serde's message names the field and the expected type; it
                // says nothing about the server.
                ApiError::unprocessable("invalid_field", format!("invalid request body: {}", e.body_text()))
            }
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("invalid_json", "request body is not valid JSON")
            }
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("request body too large".into())
            }
            JsonRejection::BytesRejection(e) if crate::serve::is_body_timeout(&e) => {
                ApiError::RequestTimeout("the request body stopped arriving".into())
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
