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
        super::auth::logout,
        super::auth::change_password,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::uploads::create,
        super::uploads::receive,
        super::uploads::complete,
        super::uploads::job,
        super::tracks::track,
        super::tracks::key,
        super::catalogue::list,
        super::catalogue::popular,
        super::catalogue::genres,
        super::catalogue::update,
        super::catalogue::delete,
        super::library::like,
        super::library::unlike,
        super::library::likes,
        super::library::create_playlist,
        super::library::my_playlists,
        super::library::playlist,
        super::library::update_playlist,
        super::library::delete_playlist,
        super::library::playlist_tracks,
        super::library::add_track,
        super::library::move_track,
        super::library::remove_track,
        super::similar::similar,
        super::similar::features,
        super::similar::feed,
        super::playback::open,
        super::playback::heartbeat,
        super::playback::complete,
        super::playback::my_quota,
        super::playback::history,
        super::admin::update_user,
        super::admin::list_users,
        super::admin::disable_user,
        super::admin::enable_user,
        super::admin::delete_user,
        super::admin::set_password,
        super::admin::create_invite,
        super::admin::list_invites,
        super::admin::revoke_invite,
        super::albums::list,
        super::albums::album,
        super::albums::artists,
        super::albums::artist,
        super::albums::search,
        super::albums::album_cover,
        super::albums::track_cover,
        super::albums::put_cover,
        super::albums::lyrics,
        super::subsonic::keys::create_api_key,
        super::subsonic::keys::list_api_keys,
        super::subsonic::keys::delete_api_key,
        super::subsonic::keys::create_app_password,
        super::subsonic::keys::delete_app_password,
        super::subsonic::keys::get_play_queue,
        super::subsonic::keys::put_play_queue,
    ),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "uploads"), (name = "tracks"), (name = "playback"), (name = "admin"), (name = "operations"), (name = "library"), (name = "subsonic"))
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
