//! The OpenAPI document, generated from the handlers' annotations and the
//! wire types, served at `/api/v1/openapi.json`.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::extract::ApiJson;
use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "MIST API", description = "Self-hosted music streaming: encrypted HLS, metered listening."),
    paths(
        super::auth::register,
        super::auth::login,
        super::auth::me,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::uploads::create,
        super::uploads::receive,
        super::uploads::complete,
        super::uploads::job,
        super::tracks::track,
        super::tracks::key,
    ),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "uploads"), (name = "tracks"), (name = "operations"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(|| async { ApiJson(ApiDoc::openapi()) }))
}
