//! What can go wrong talking to the server, as one enum callers can match on.
//!
//! The server answers every failure with `{"error": {"code", "message"}}`
//! (docs/api.md); anything else in front of it (a proxy's HTML page, an empty
//! body) still becomes [`ClientError::Api`], named after the status. Every
//! variant displays as one line a person can act on, so the CLI can print it
//! as it is.

use chrono::{DateTime, Utc};
use reqwest::{Response, StatusCode};

use crate::api::ErrorBody;

/// Longest error body we read; the server's own are a few hundred bytes.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-success status; `resets_at` is when a
    /// spent quota (`429 quota_exceeded`) comes back. It displays as the
    /// server's own message (written for people: "wrong email or password");
    /// the status and code are for programs, not for the person reading it.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        resets_at: Option<DateTime<Utc>>,
        /// With `409 duplicate`: the caller's track made from the same bytes.
        existing_track_id: Option<String>,
    },
    /// The request never got an answer: connection refused, timeout, TLS, a
    /// refused redirect, or the body broke off.
    #[error("{}", describe_transport(.0))]
    Http(#[source] reqwest::Error),
    /// A server URL or API path that cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A success answer whose body is not the JSON the endpoint promises.
    #[error("unexpected answer from the server to {what}: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The token is missing, expired or revoked (HTTP 401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// The HTTP status, when the server answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's machine-readable code (`invalid_credentials`,
    /// `quota_exceeded`, ...), when the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// When the quota that a `quota_exceeded` answer refused comes back.
    pub fn resets_at(&self) -> Option<DateTime<Utc>> {
        match self {
            ClientError::Api { resets_at, .. } => *resets_at,
            _ => None,
        }
    }

    /// With `409 duplicate`: the caller's track made from the same bytes.
    pub fn existing_track_id(&self) -> Option<&str> {
        match self {
            ClientError::Api { existing_track_id, .. } => existing_track_id.as_deref(),
            _ => None,
        }
    }

    /// Reads a failed response's body (bounded) and turns it into an error.
    pub(crate) async fn from_response(mut response: Response) -> ClientError {
        let status = response.status();
        let mut body = Vec::new();
        // A body that breaks off still leaves the status worth reporting.
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = MAX_ERROR_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_ERROR_BODY {
                break;
            }
        }
        ClientError::from_status_and_body(status, &body)
    }

    pub(crate) fn from_status_and_body(status: StatusCode, body: &[u8]) -> ClientError {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { error }) => ClientError::Api {
                status: status.as_u16(),
                code: one_line(&error.code),
                // A refusal is the server's to explain; a failure is not the
                // user's doing, and says so.
                message: if status.is_server_error() {
                    format!("the server failed: {}", one_line(&error.message))
                } else {
                    one_line(&error.message)
                },
                resets_at: error.resets_at,
                existing_track_id: error.existing_track_id.map(|id| one_line(&id)),
            },
            Err(_) => {
                // Not MIST's answer (a proxy's page, an empty body): the status is all there is.
                let reason = status.canonical_reason();
                ClientError::Api {
                    status: status.as_u16(),
                    code: match reason {
                        Some(reason) => reason.to_ascii_lowercase().replace([' ', '-'], "_"),
                        None => format!("http_{}", status.as_u16()),
                    },
                    message: format!(
                        "the server answered {} {}",
                        status.as_u16(),
                        reason.unwrap_or("(an unknown status)")
                    ),
                    resets_at: None,
                    existing_track_id: None,
                }
            }
        }
    }
}

/// Keeps a server-supplied string on one line and free of terminal control
/// sequences: it ends up printed to someone's terminal.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// `cannot connect to http://127.0.0.1:8080: Connection refused (os error 111)`
/// rather than reqwest's nested "error sending request for url (...)".
fn describe_transport(error: &reqwest::Error) -> String {
    let target = error
        .url()
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|| "the server".to_string());
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    if error.is_timeout() {
        format!("request to {target} timed out")
    } else if error.is_connect() {
        format!("cannot connect to {target}: {root}")
    } else {
        format!("request to {target} failed: {root}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(status: u16, body: &str) -> ClientError {
        let status = StatusCode::from_u16(status).expect("valid status");
        ClientError::from_status_and_body(status, body.as_bytes())
    }

    fn check(status: u16, body: &str, expected: &str) {
        assert_eq!(parsed(status, body).to_string(), expected, "body {body:?}");
    }

    #[test]
    fn server_error_bodies_are_shown_as_one_line() {
        check(
            401,
            r#"{"error":{"code":"invalid_credentials","message":"wrong email or password"}}"#,
            "wrong email or password",
        );
        check(
            429,
            r#"{"error":{"code":"rate_limited","message":"too many requests"},"extra":1}"#,
            "too many requests",
        );
        check(
            400,
            r#"{"error":{"code":"invalid_json","message":"line one\nline two\u001b[31m"}}"#,
            "line one line two [31m",
        );
    }

    #[test]
    fn a_spent_quota_keeps_its_reset_time() {
        let error = parsed(
            429,
            r#"{"error":{"code":"quota_exceeded","message":"used up","resets_at":"2026-11-26T00:00:00Z"}}"#,
        );
        assert_eq!(error.code(), Some("quota_exceeded"));
        assert_eq!(error.resets_at(), "2026-11-26T00:00:00Z".parse().ok());
        assert_eq!(
            parsed(429, r#"{"error":{"code":"rate_limited","message":"slow"}}"#).resets_at(),
            None
        );
    }

    #[test]
    fn other_bodies_fall_back_to_the_status() {
        check(502, "<html>bad gateway</html>", "the server answered 502 Bad Gateway");
        check(404, "", "the server answered 404 Not Found");
        check(
            500,
            r#"{"error":"boom"}"#,
            "the server answered 500 Internal Server Error",
        );
        check(599, "", "the server answered 599 (an unknown status)");
        check(
            500,
            r#"{"error":{"code":"internal","message":"internal error"}}"#,
            "the server failed: internal error",
        );
    }

    #[test]
    fn accessors_see_the_api_status_and_code() {
        let error = parsed(401, r#"{"error":{"code":"unauthorized","message":"no"}}"#);
        assert!(error.is_unauthorized());
        assert_eq!(error.status(), Some(401));
        assert_eq!(error.code(), Some("unauthorized"));

        let error = parsed(403, "");
        assert!(!error.is_unauthorized());
        assert_eq!(error.code(), Some("forbidden"));

        let error = ClientError::InvalidUrl {
            url: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(error.status(), None);
        assert_eq!(error.code(), None);
    }
}
