//! The web player: the single page built from `mist-server/web/` (docs/web.md),
//! served at `/` and `/assets/{file}`.
//!
//! The built files are committed under `web/dist/` and embedded here at
//! compile time, so `cargo build` and `cargo run` need no Node and the binary
//! is the whole deployment. Their names are fixed, so they are sent with an
//! ETag and `no-cache` (revalidated on every load) rather than cached for good.
//!
//! The page is same-origin with the API, so no CORS headers are sent. Its
//! Content-Security-Policy allows scripts and styles from this server only
//! (no inline code), connections to this server and, with S3 storage, to the
//! bucket's origin (segments and uploads go there directly), and media from
//! `blob:` (hls.js plays through Media Source Extensions). Images may also be
//! `blob:`: covers need the bearer token, so the page fetches them and shows
//! them by object URLs, which only the page's own scripts can make.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error::{ApiError, ApiResult};
use super::extract::ApiPath;
use crate::app::AppState;
use crate::storage::ObjectStore;

/// A built file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../../web/dist/index.html"),
};

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../web/dist/assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../web/dist/assets/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../web/dist/assets/icon.svg"),
    },
];

/// ETags of `INDEX` and then `ASSETS`, in order: a hash of the bytes, which
/// only change with a new build of the server.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    std::iter::once(&INDEX)
        .chain(ASSETS)
        .map(|asset| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            asset.bytes.hash(&mut hasher);
            HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish())).expect("hex is a valid header value")
        })
        .collect()
});

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/assets/{file}", get(asset))
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let csp = content_security_policy(&state).await?;
    let mut response = file_response(&INDEX, &ETAGS[0], &headers);
    let value = HeaderValue::from_str(&csp).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    response
        .headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(response)
}

async fn asset(ApiPath(file): ApiPath<String>, headers: HeaderMap) -> ApiResult<Response> {
    let (at, asset) = ASSETS
        .iter()
        .enumerate()
        .find(|(_, a)| a.name == file)
        .ok_or(ApiError::NotFound("asset"))?;
    Ok(file_response(asset, &ETAGS[at + 1], &headers))
}

/// The file, or `304 Not Modified` when the browser's copy is current.
fn file_response(asset: &Asset, etag: &HeaderValue, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag.to_str().unwrap_or_default()));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
            asset.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The page's URL is nobody's business: not the bucket's, not a link's.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The page's policy. Connections may go to this server (also under its
/// public URL, which key URIs use) and to the object store's origins: the
/// presigned URLs' endpoint and the public segment base, when configured.
async fn content_security_policy(state: &AppState) -> ApiResult<String> {
    let mut connect = vec![
        "'self'".to_owned(),
        state.settings.public_url.origin().ascii_serialization(),
    ];
    if matches!(state.store, ObjectStore::S3(_)) {
        // Signing is local: this asks the SDK which origin its URLs use
        // (path-style endpoint, virtual-hosted bucket or AWS), without a request.
        let probe = state
            .store
            .presign_get("tracks/csp-probe/hls/master.m3u8", std::time::Duration::from_secs(60))
            .await?;
        connect.extend(probe.as_deref().and_then(origin_of));
    }
    connect.extend(state.settings.s3_public_url.as_deref().and_then(origin_of));
    connect.sort();
    connect.dedup();
    Ok(format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
         connect-src {}; media-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        connect.join(" ")
    ))
}

fn origin_of(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://127.0.0.1:9000/bucket/tracks/x?X-Amz-Signature=1").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            origin_of("https://b.s3.eu-west-1.amazonaws.com/k").as_deref(),
            Some("https://b.s3.eu-west-1.amazonaws.com")
        );
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn the_page_names_only_embedded_assets() {
        let page = std::str::from_utf8(INDEX.bytes).expect("index.html is UTF-8");
        for reference in page.split("\"/assets/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html uses unembedded /assets/{name}"
            );
        }
        assert!(
            !page.contains("<script>") && !page.contains("style="),
            "inline code breaks the CSP"
        );
    }
}
