//! The typed HTTP client for the MIST API: the only code that speaks HTTP to
//! the server (docs/architecture.md, "Bird's-eye view"). The CLI, the TUI and the server's own
//! integration tests all go through it, so the wire types in [`crate::api`]
//! are exercised from both ends.
//!
//! Each endpoint is one short method over the private [`Client::get_json`] /
//! [`Client::post_json`]; [`Client::request`] and [`Client::send`] are the
//! escape hatch for anything the typed methods do not cover yet.
//!
//! Invariant (docs/architecture.md, "Invariants"): the bearer token goes only to API routes under
//! the base URL (`{base}/api/...`, same scheme, host and port). Playlists,
//! segments and presigned storage URLs never see it (S3 refuses presigned
//! requests that also carry `Authorization`), and a redirect from an API route
//! to anywhere else is refused rather than followed with the token attached.

mod error;

use std::fmt;
use std::time::Duration;

use reqwest::redirect;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::ClientError;
pub use reqwest::{Method, RequestBuilder, Response, StatusCode};
pub use url::Url;

use crate::api::{
    AuthResponse, CompleteSessionRequest, CompleteUploadRequest, CompleteUploadResponse, CreateUploadRequest,
    HealthStatus, HeartbeatRequest, HeartbeatResponse, HistoryEntry, Job, LoginRequest, OpenSessionRequest, Page,
    PlaybackSession, Quota, RegisterRequest, Track, UpdateUserRequest, UploadTicket, User,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 10;

/// A connection to one MIST server, optionally logged in.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Normalised: `http` or `https`, a host, no query, path ending in `/`.
    base: Url,
    token: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client for the server at `base_url`, e.g. `http://127.0.0.1:8080` or
    /// `https://example.org/mist` (served under a path prefix).
    pub fn new(base_url: &str) -> Result<Client, ClientError> {
        let base = parse_base(base_url)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("mist/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirect_policy(base.clone()))
            .build()
            .map_err(ClientError::Http)?;
        Ok(Client {
            http,
            base,
            token: None,
        })
    }

    /// The same client, sending `token` as `Authorization: Bearer` to API routes.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The normalised base URL (its path always ends in `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    // --- endpoints: one line each ------------------------------------------

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<HealthStatus, ClientError> {
        self.get_json("/healthz").await
    }

    /// `POST /api/v1/auth/register` (201).
    pub async fn register(&self, request: &RegisterRequest) -> Result<AuthResponse, ClientError> {
        self.post_json("/api/v1/auth/register", request).await
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(&self, request: &LoginRequest) -> Result<AuthResponse, ClientError> {
        self.post_json("/api/v1/auth/login", request).await
    }

    /// `GET /api/v1/me` (needs a token).
    pub async fn me(&self) -> Result<User, ClientError> {
        self.get_json("/api/v1/me").await
    }

    /// `POST /api/v1/uploads` (201): where to send the bytes.
    pub async fn create_upload(&self, request: &CreateUploadRequest) -> Result<UploadTicket, ClientError> {
        self.post_json("/api/v1/uploads", request).await
    }

    /// Sends an upload's bytes as the ticket says: a presigned storage URL
    /// (no token) or the API's own upload route (with the token).
    pub async fn put_upload(&self, ticket: &UploadTicket, body: impl Into<reqwest::Body>) -> Result<(), ClientError> {
        let url = Url::parse(&ticket.url).map_err(|e| ClientError::InvalidUrl {
            url: ticket.url.clone(),
            reason: e.to_string(),
        })?;
        let method = Method::from_bytes(ticket.method.as_bytes()).map_err(|_| ClientError::InvalidUrl {
            url: ticket.url.clone(),
            reason: format!("unsupported method {:?}", ticket.method),
        })?;
        let mut request = self.request_url(method, url);
        for (name, value) in &ticket.headers {
            request = request.header(name, value);
        }
        self.send(request.body(body)).await.map(|_| ())
    }

    /// `POST /api/v1/uploads/{id}/complete` (202): the job that makes the track.
    pub async fn complete_upload(
        &self,
        upload_id: &str,
        request: &CompleteUploadRequest,
    ) -> Result<CompleteUploadResponse, ClientError> {
        self.post_json(&api_path(&["uploads", upload_id, "complete"])?, request)
            .await
    }

    /// `GET /api/v1/jobs/{id}`.
    pub async fn job(&self, job_id: &str) -> Result<Job, ClientError> {
        self.get_json(&api_path(&["jobs", job_id])?).await
    }

    /// `GET /api/v1/tracks/{id}`.
    pub async fn track(&self, track_id: &str) -> Result<Track, ClientError> {
        self.get_json(&api_path(&["tracks", track_id])?).await
    }

    /// `POST /api/v1/playback/sessions` (201).
    pub async fn open_session(&self, track_id: &str) -> Result<PlaybackSession, ClientError> {
        self.post_json(
            "/api/v1/playback/sessions",
            &OpenSessionRequest {
                track_id: track_id.to_owned(),
            },
        )
        .await
    }

    /// `POST /api/v1/playback/sessions/{id}/heartbeat`.
    pub async fn heartbeat(
        &self,
        session_id: &str,
        report: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ClientError> {
        self.post_json(&api_path(&["playback", "sessions", session_id, "heartbeat"])?, report)
            .await
    }

    /// `POST /api/v1/playback/sessions/{id}/complete`.
    pub async fn complete_session(
        &self,
        session_id: &str,
        report: &CompleteSessionRequest,
    ) -> Result<HeartbeatResponse, ClientError> {
        self.post_json(&api_path(&["playback", "sessions", session_id, "complete"])?, report)
            .await
    }

    /// `GET /api/v1/me/quota`.
    pub async fn quota(&self) -> Result<Quota, ClientError> {
        self.get_json("/api/v1/me/quota").await
    }

    /// `GET /api/v1/me/history`.
    pub async fn history(&self, cursor: Option<&str>) -> Result<Page<HistoryEntry>, ClientError> {
        let mut request = self.request(Method::GET, "/api/v1/me/history")?;
        if let Some(cursor) = cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        self.json(request).await
    }

    /// `GET /api/v1/tracks/{id}/keys/{k}`: a content key (16 bytes).
    pub async fn key(&self, track_id: &str, k: u64) -> Result<Vec<u8>, ClientError> {
        Ok(self.key_grant(track_id, k).await?.key)
    }

    /// `GET /api/v1/tracks/{id}/keys/{k}`: a content key and the quota after it.
    pub async fn key_grant(&self, track_id: &str, k: u64) -> Result<KeyGrant, ClientError> {
        let path = api_path(&["tracks", track_id, "keys", &k.to_string()])?;
        let response = self.send(self.request(Method::GET, &path)?).await?;
        let quota = quota_header(&response);
        let key = response.bytes().await.map_err(ClientError::Http)?.to_vec();
        Ok(KeyGrant { key, quota })
    }

    /// `PATCH /api/v1/admin/users/{id}` (admins).
    pub async fn update_user(&self, user_id: &str, update: &UpdateUserRequest) -> Result<User, ClientError> {
        self.json(
            self.request(Method::PATCH, &api_path(&["admin", "users", user_id])?)?
                .json(update),
        )
        .await
    }

    /// `GET /api/v1/tracks/{id}/similar?limit=`: ready tracks nearest in sound,
    /// nearest first (the server's default limit is 10, at most 100).
    pub async fn similar(
        &self,
        track_id: &str,
        limit: Option<u32>,
    ) -> Result<crate::api::Page<crate::api::SimilarTrack>, ClientError> {
        let mut request = self.request(Method::GET, &api_path(&["tracks", track_id, "similar"])?)?;
        if let Some(limit) = limit {
            request = request.query(&[("limit", limit)]);
        }
        self.json(request).await
    }

    /// `GET /api/v1/tracks/{id}/features`: the named feature values and the embedding.
    pub async fn features(&self, track_id: &str) -> Result<crate::api::TrackFeatures, ClientError> {
        self.get_json(&api_path(&["tracks", track_id, "features"])?).await
    }

    /// `GET /api/v1/me/feed`: tracks that sound like what the user liked and heard.
    pub async fn feed(&self) -> Result<crate::api::Page<crate::api::FeedItem>, ClientError> {
        self.get_json("/api/v1/me/feed").await
    }

    /// `GET /api/v1/tracks?q=&genre=&artist=&album=&sort=&limit=&cursor=`: ready tracks.
    pub async fn tracks(&self, query: &crate::api::TrackQuery) -> Result<Page<Track>, ClientError> {
        self.json(self.request(Method::GET, "/api/v1/tracks")?.query(query))
            .await
    }

    /// `GET /api/v1/tracks/popular?days=7|30`: most completed listens first.
    pub async fn popular(
        &self,
        days: u32,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<crate::api::PopularTrack>, ClientError> {
        let request = self
            .request(Method::GET, "/api/v1/tracks/popular")?
            .query(&[("days", days)]);
        self.json(page_query(request, limit, cursor)).await
    }

    /// `GET /api/v1/genres`: genres with their track counts, A–Z.
    pub async fn genres(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<crate::api::NameCount>, ClientError> {
        self.json(page_query(self.request(Method::GET, "/api/v1/genres")?, limit, cursor))
            .await
    }

    /// `GET /api/v1/artists`: artists with their track and album counts, A–Z.
    pub async fn artists(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<crate::api::Artist>, ClientError> {
        self.json(page_query(self.request(Method::GET, "/api/v1/artists")?, limit, cursor))
            .await
    }

    /// `PATCH /api/v1/tracks/{id}` (uploader or admin).
    pub async fn update_track(
        &self,
        track_id: &str,
        update: &crate::api::UpdateTrackRequest,
    ) -> Result<Track, ClientError> {
        self.json(
            self.request(Method::PATCH, &api_path(&["tracks", track_id])?)?
                .json(update),
        )
        .await
    }

    /// `PUT /api/v1/tracks/{id}/cover` (uploader or admin; 204): the
    /// picture's bytes (JPEG, PNG, …) become the track's and its album's cover.
    pub async fn put_track_cover(&self, track_id: &str, picture: Vec<u8>) -> Result<(), ClientError> {
        self.send(
            self.request(Method::PUT, &api_path(&["tracks", track_id, "cover"])?)?
                .body(picture),
        )
        .await
        .map(|_| ())
    }

    /// `DELETE /api/v1/tracks/{id}` (uploader or admin; 204).
    pub async fn delete_track(&self, track_id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &api_path(&["tracks", track_id])?)?)
            .await
            .map(|_| ())
    }

    /// `PUT /api/v1/me/likes/{track_id}` (204; idempotent).
    pub async fn like(&self, track_id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::PUT, &api_path(&["me", "likes", track_id])?)?)
            .await
            .map(|_| ())
    }

    /// `DELETE /api/v1/me/likes/{track_id}` (204; idempotent).
    pub async fn unlike(&self, track_id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &api_path(&["me", "likes", track_id])?)?)
            .await
            .map(|_| ())
    }

    /// `GET /api/v1/me/likes`: liked tracks, most recent first.
    pub async fn likes(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<Page<Track>, ClientError> {
        self.json(page_query(
            self.request(Method::GET, "/api/v1/me/likes")?,
            limit,
            cursor,
        ))
        .await
    }

    /// `POST /api/v1/playlists` (201).
    pub async fn create_playlist(
        &self,
        request: &crate::api::CreatePlaylistRequest,
    ) -> Result<crate::api::Playlist, ClientError> {
        self.post_json("/api/v1/playlists", request).await
    }

    /// `GET /api/v1/me/playlists`: the caller's playlists, newest first.
    pub async fn my_playlists(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<crate::api::Playlist>, ClientError> {
        self.json(page_query(
            self.request(Method::GET, "/api/v1/me/playlists")?,
            limit,
            cursor,
        ))
        .await
    }

    /// `GET /api/v1/playlists/{id}`.
    pub async fn playlist(&self, playlist_id: &str) -> Result<crate::api::Playlist, ClientError> {
        self.get_json(&api_path(&["playlists", playlist_id])?).await
    }

    /// `PATCH /api/v1/playlists/{id}` (owner only).
    pub async fn update_playlist(
        &self,
        playlist_id: &str,
        update: &crate::api::UpdatePlaylistRequest,
    ) -> Result<crate::api::Playlist, ClientError> {
        self.json(
            self.request(Method::PATCH, &api_path(&["playlists", playlist_id])?)?
                .json(update),
        )
        .await
    }

    /// `DELETE /api/v1/playlists/{id}` (owner only; 204).
    pub async fn delete_playlist(&self, playlist_id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &api_path(&["playlists", playlist_id])?)?)
            .await
            .map(|_| ())
    }

    /// `GET /api/v1/playlists/{id}/tracks`: entries in order.
    pub async fn playlist_tracks(
        &self,
        playlist_id: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<crate::api::PlaylistEntry>, ClientError> {
        let request = self.request(Method::GET, &api_path(&["playlists", playlist_id, "tracks"])?)?;
        self.json(page_query(request, limit, cursor)).await
    }

    /// `POST /api/v1/playlists/{id}/tracks` (201; owner only): appends a track.
    pub async fn add_to_playlist(
        &self,
        playlist_id: &str,
        track_id: &str,
    ) -> Result<crate::api::PlaylistEntry, ClientError> {
        let body = crate::api::AddPlaylistTrackRequest {
            track_id: track_id.to_owned(),
        };
        self.post_json(&api_path(&["playlists", playlist_id, "tracks"])?, &body)
            .await
    }

    /// `PATCH /api/v1/playlists/{id}/tracks/{track_id}` (owner only): moves a track.
    pub async fn move_in_playlist(
        &self,
        playlist_id: &str,
        track_id: &str,
        position: i64,
    ) -> Result<crate::api::PlaylistEntry, ClientError> {
        let body = crate::api::MovePlaylistTrackRequest { position };
        let path = api_path(&["playlists", playlist_id, "tracks", track_id])?;
        self.json(self.request(Method::PATCH, &path)?.json(&body)).await
    }

    /// `DELETE /api/v1/playlists/{id}/tracks/{track_id}` (owner only; 204).
    pub async fn remove_from_playlist(&self, playlist_id: &str, track_id: &str) -> Result<(), ClientError> {
        let path = api_path(&["playlists", playlist_id, "tracks", track_id])?;
        self.send(self.request(Method::DELETE, &path)?).await.map(|_| ())
    }

    /// `POST /api/v1/auth/register` with an invite code (servers whose
    /// registration is `invite`).
    pub async fn register_with_invite(
        &self,
        request: &RegisterRequest,
        invite: &str,
    ) -> Result<AuthResponse, ClientError> {
        let body = crate::api::RegisterBody {
            account: request.clone(),
            invite: Some(invite.to_owned()),
        };
        self.post_json("/api/v1/auth/register", &body).await
    }

    /// `POST /api/v1/auth/logout` (204): the server refuses this token from now on.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.send(self.request(Method::POST, "/api/v1/auth/logout")?)
            .await
            .map(|_| ())
    }

    /// `POST /api/v1/me/password`: every older token stops working; the
    /// answer holds a new one.
    pub async fn change_password(
        &self,
        request: &crate::api::ChangePasswordRequest,
    ) -> Result<AuthResponse, ClientError> {
        self.post_json("/api/v1/me/password", request).await
    }

    /// `GET /api/v1/admin/users` (admins): users, oldest first.
    pub async fn admin_users(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<Page<User>, ClientError> {
        self.json(page_query(
            self.request(Method::GET, "/api/v1/admin/users")?,
            limit,
            cursor,
        ))
        .await
    }

    /// `POST /api/v1/admin/users/{id}/disable` or `…/enable` (admins).
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<User, ClientError> {
        let action = if disabled { "disable" } else { "enable" };
        self.json(self.request(Method::POST, &api_path(&["admin", "users", user_id, action])?)?)
            .await
    }

    /// `DELETE /api/v1/admin/users/{id}` (admins; 204).
    pub async fn delete_user(&self, user_id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &api_path(&["admin", "users", user_id])?)?)
            .await
            .map(|_| ())
    }

    /// `POST /api/v1/admin/users/{id}/password` (admins; 204).
    pub async fn set_user_password(&self, user_id: &str, password: &str) -> Result<(), ClientError> {
        let body = crate::api::SetPasswordRequest {
            password: password.to_owned(),
        };
        let request = self.request(Method::POST, &api_path(&["admin", "users", user_id, "password"])?)?;
        self.send(request.json(&body)).await.map(|_| ())
    }

    /// `POST /api/v1/admin/invites` (admins; 201): a single-use invite code.
    pub async fn create_invite(
        &self,
        request: &crate::api::CreateInviteRequest,
    ) -> Result<crate::api::Invite, ClientError> {
        self.post_json("/api/v1/admin/invites", request).await
    }

    /// `GET /api/v1/admin/invites` (admins): the codes that could still be spent.
    pub async fn list_invites(&self) -> Result<crate::api::Page<crate::api::Invite>, ClientError> {
        self.json(self.request(Method::GET, "/api/v1/admin/invites")?).await
    }

    /// `DELETE /api/v1/admin/invites/{code}` (admins; 204, 404 if not unspent).
    pub async fn revoke_invite(&self, code: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &api_path(&["admin", "invites", code])?)?)
            .await
            .map(|_| ())
    }

    // --- music library ------------------------------------------------------

    /// `GET /api/v1/albums?sort=&artist=&genre=&year=&limit=&cursor=`.
    pub async fn albums(&self, query: &crate::api::AlbumQuery) -> Result<Page<crate::api::Album>, ClientError> {
        self.json(self.request(Method::GET, "/api/v1/albums")?.query(query))
            .await
    }

    /// `GET /api/v1/albums/{id}`: the album and its tracks in disc/track order.
    pub async fn album(&self, album_id: &str) -> Result<crate::api::AlbumDetail, ClientError> {
        self.get_json(&api_path(&["albums", album_id])?).await
    }

    /// `GET /api/v1/artists/{id}`: the artist record, its albums and top tracks.
    pub async fn artist(&self, artist_id: &str) -> Result<crate::api::ArtistDetail, ClientError> {
        self.get_json(&api_path(&["artists", artist_id])?).await
    }

    /// `GET /api/v1/search?q=&limit=`: tracks, albums and artists.
    pub async fn search(&self, q: &str, limit: Option<u32>) -> Result<crate::api::SearchResults, ClientError> {
        let request = self.request(Method::GET, "/api/v1/search")?.query(&[("q", q)]);
        self.json(page_query(request, limit, None)).await
    }

    // --- escape hatch -------------------------------------------------------

    /// A request to `path` under the base URL (`/api/v1/...`, may carry a
    /// query), with the bearer token when it is an API route.
    pub fn request(&self, method: Method, path: &str) -> Result<RequestBuilder, ClientError> {
        Ok(self.request_url(method, self.url(path)?))
    }

    /// A request to an absolute URL, e.g. a `master_url` or a presigned upload
    /// URL the server handed out. The bearer token is attached only when `url`
    /// is an API route under the base URL.
    pub fn request_url(&self, method: Method, url: Url) -> RequestBuilder {
        let with_token = self.is_api_url(&url);
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) if with_token => request.bearer_auth(token),
            _ => request,
        }
    }

    /// Sends a request built by [`Client::request`] or [`Client::request_url`];
    /// any non-2xx answer becomes [`ClientError::Api`].
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let response = request.send().await.map_err(ClientError::Http)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(ClientError::from_response(response).await)
        }
    }

    /// `path` (`/api/v1/me`, `healthz?x=1`) resolved under the base URL. Build
    /// paths holding ids or user input with [`api_path`].
    pub fn url(&self, path: &str) -> Result<Url, ClientError> {
        // Concatenating after the base's trailing slash keeps the result on the
        // base's host whatever `path` holds (`//evil`, `http://evil`, ...).
        let joined = format!("{}{}", self.base, path.trim_start_matches('/'));
        let url = Url::parse(&joined).map_err(|e| ClientError::InvalidUrl {
            url: joined.clone(),
            reason: e.to_string(),
        })?;
        if !url.path().starts_with(self.base.path()) {
            return Err(ClientError::InvalidUrl {
                url: joined,
                reason: "the path leaves the server's base URL".into(),
            });
        }
        Ok(url)
    }

    /// Whether `url` is an API route of this server, the only place the
    /// bearer token may go.
    pub fn is_api_url(&self, url: &Url) -> bool {
        is_api_url(&self.base, url)
    }

    // --- plumbing -----------------------------------------------------------

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(self.request(Method::GET, path)?).await
    }

    async fn post_json<B, T>(&self, path: &str, body: &B) -> Result<T, ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.json(self.request(Method::POST, path)?.json(body)).await
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let response = self.send(request).await?;
        let what = response.url().path().to_string();
        let body = response.bytes().await.map_err(ClientError::Http)?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { what, source })
    }
}

/// A content key as the server gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGrant {
    pub key: Vec<u8>,
    /// The quota after this key (the `Mist-Quota` header), when the server sent it.
    pub quota: Option<Quota>,
}

/// The quota a key response carries in its [`QUOTA_HEADER`](crate::api::QUOTA_HEADER).
pub fn quota_header(response: &Response) -> Option<Quota> {
    let value = response.headers().get(crate::api::QUOTA_HEADER)?;
    serde_json::from_slice(value.as_bytes()).ok()
}

/// Adds the `limit` and `cursor` of a paginated listing to a request.
fn page_query(request: RequestBuilder, limit: Option<u32>, cursor: Option<&str>) -> RequestBuilder {
    let request = match limit {
        Some(limit) => request.query(&[("limit", limit)]),
        None => request,
    };
    match cursor {
        Some(cursor) => request.query(&[("cursor", cursor)]),
        None => request,
    }
}

/// `/api/v1/` followed by `segments`, each percent-encoded, so ids and user
/// input cannot add path segments or a query: `api_path(&["tracks", id])?`.
/// Empty, `.` and `..` segments are refused: URL parsing would fold them away
/// (even percent-encoded) and the request would reach another route.
pub fn api_path(segments: &[&str]) -> Result<String, ClientError> {
    let mut path = String::from("/api/v1");
    for segment in segments {
        if matches!(*segment, "" | "." | "..") {
            return Err(ClientError::InvalidUrl {
                url: format!("{path}/{segment}"),
                reason: format!("{segment:?} cannot be used as a path segment"),
            });
        }
        path.push('/');
        for byte in segment.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                path.push(char::from(byte));
            } else {
                path.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Ok(path)
}

fn parse_base(input: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: input.to_string(),
        reason: reason.to_string(),
    };
    const NEEDS_SCHEME: &str = "it must start with http:// or https://";
    let mut url = match Url::parse(input.trim()) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(invalid(NEEDS_SCHEME)),
        Err(e) => return Err(invalid(&e.to_string())),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(NEEDS_SCHEME));
    }
    if url.host().is_none() {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the URL are not supported"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn is_api_url(base: &Url, url: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
        && url
            .path()
            .strip_prefix(base.path())
            .is_some_and(|rest| rest.starts_with("api/"))
}

/// Follows redirects, except one that would take a request which started at
/// an API route (and so may carry the token) anywhere but another API route.
/// reqwest strips `Authorization` only across hosts; this also covers a
/// same-host redirect to storage.
fn redirect_policy(base: Url) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        // `previous` starts with the original URL.
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        let from_api = attempt.previous().first().is_some_and(|url| is_api_url(&base, url));
        if from_api && !is_api_url(&base, attempt.url()) {
            attempt.error("refusing to follow a redirect from the API to another place")
        } else {
            attempt.follow()
        }
    })
}

/// OpenSubsonic sign-in and the shared play queue (docs/subsonic.md).
impl Client {
    /// `POST /api/v1/me/api-keys` (201): the key is in the answer this once.
    pub async fn create_api_key(&self, name: &str) -> Result<crate::api::CreatedApiKey, ClientError> {
        let body = crate::api::CreateApiKeyRequest { name: name.to_owned() };
        self.post_json("/api/v1/me/api-keys", &body).await
    }

    /// `GET /api/v1/me/api-keys`: without their secrets.
    pub async fn api_keys(&self) -> Result<Vec<crate::api::ApiKey>, ClientError> {
        self.get_json("/api/v1/me/api-keys").await
    }

    /// `DELETE /api/v1/me/api-keys/{id}` (204).
    pub async fn delete_api_key(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &api_path(&["me", "api-keys", id])?)?)
            .await
            .map(|_| ())
    }

    /// `POST /api/v1/me/app-password` (201): a new app password, shown once.
    pub async fn create_app_password(&self) -> Result<crate::api::AppPassword, ClientError> {
        self.json(self.request(Method::POST, "/api/v1/me/app-password")?).await
    }

    /// `GET /api/v1/me/play-queue` (404 when none was saved).
    pub async fn play_queue(&self) -> Result<crate::api::PlayQueue, ClientError> {
        self.get_json("/api/v1/me/play-queue").await
    }

    /// `PUT /api/v1/me/play-queue`.
    pub async fn save_play_queue(
        &self,
        request: &crate::api::SavePlayQueueRequest,
    ) -> Result<crate::api::PlayQueue, ClientError> {
        self.json(self.request(Method::PUT, "/api/v1/me/play-queue")?.json(request))
            .await
    }

    /// `GET /api/v1/tracks/{id}/lyrics` (404 when the track has none).
    pub async fn lyrics(&self, track_id: &str) -> Result<crate::api::Lyrics, ClientError> {
        self.get_json(&api_path(&["tracks", track_id, "lyrics"])?).await
    }

    /// `GET /api/v1/tracks/{id}/cover?size=`: the track's cover (else its
    /// album's) as the server encoded it, fitted in a `size` box (404 without one).
    pub async fn track_cover(&self, track_id: &str, size: u32) -> Result<Vec<u8>, ClientError> {
        let request = self
            .request(Method::GET, &api_path(&["tracks", track_id, "cover"])?)?
            .query(&[("size", size.to_string()), ("format", "jpeg".into())]);
        let response = self.send(request).await?;
        Ok(response.bytes().await.map_err(ClientError::Http)?.to_vec())
    }

    /// `GET /api/v1/albums/{id}/cover?size=` (404 without one).
    pub async fn album_cover(&self, album_id: &str, size: u32) -> Result<Vec<u8>, ClientError> {
        let request = self
            .request(Method::GET, &api_path(&["albums", album_id, "cover"])?)?
            .query(&[("size", size.to_string()), ("format", "jpeg".into())]);
        let response = self.send(request).await?;
        Ok(response.bytes().await.map_err(ClientError::Http)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::AUTHORIZATION;

    fn client(base: &str) -> Client {
        Client::new(base).expect("valid base")
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("valid url")
    }

    #[test]
    fn base_urls_are_normalised() {
        let check = |input: &str, expected: &str| {
            assert_eq!(client(input).base_url().as_str(), expected, "{input}");
        };
        check("http://127.0.0.1:8080", "http://127.0.0.1:8080/");
        check("http://127.0.0.1:8080/", "http://127.0.0.1:8080/");
        check("  https://example.org/mist ", "https://example.org/mist/");
        check("https://example.org/mist/", "https://example.org/mist/");
        check("HTTP://Example.ORG:443", "http://example.org:443/");
    }

    #[test]
    fn unusable_base_urls_are_refused() {
        let check = |input: &str, reason: &str| match Client::new(input) {
            Err(ClientError::InvalidUrl { reason: got, .. }) => {
                assert!(got.contains(reason), "{input}: {got}")
            }
            other => panic!("{input}: expected InvalidUrl, got {other:?}"),
        };
        check("127.0.0.1:8080", "http://");
        check("localhost:8080", "http://");
        check("example.org", "http://");
        check("ftp://example.org", "http://");
        check("", "http://");
        check("http://user:pw@example.org", "credentials");
        check("http://example.org/?a=b", "query");
        check("http://example.org/#top", "fragment");
        check("http://", "empty host");
    }

    #[test]
    fn paths_join_under_the_base() {
        let check = |base: &str, path: &str, expected: &str| {
            let got = client(base).url(path).expect("joins");
            assert_eq!(got.as_str(), expected, "{base} + {path}");
        };
        check("http://h:1", "/api/v1/me", "http://h:1/api/v1/me");
        check("http://h:1", "api/v1/me", "http://h:1/api/v1/me");
        check("http://h:1/mist", "/api/v1/me", "http://h:1/mist/api/v1/me");
        check("http://h:1/mist/", "healthz", "http://h:1/mist/healthz");
        check("http://h:1", "/api/v1/tracks?q=a b", "http://h:1/api/v1/tracks?q=a%20b");
        // Things that look like other hosts stay paths on this one.
        check("http://h:1", "//evil.example/x", "http://h:1/evil.example/x");
        check(
            "http://h:1",
            "http://evil.example/x",
            "http://h:1/http://evil.example/x",
        );
    }

    #[test]
    fn paths_cannot_climb_out_of_the_base() {
        let client = client("http://h:1/mist");
        assert!(matches!(
            client.url("/../storage/x"),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            client.url("/api/%2e%2e/%2e%2e/x"),
            Err(ClientError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn api_paths_encode_their_segments() {
        let check = |segments: &[&str], expected: &str| {
            assert_eq!(api_path(segments).expect("valid"), expected, "{segments:?}");
        };
        check(&["me"], "/api/v1/me");
        check(&["tracks", "abc-1.2_3~"], "/api/v1/tracks/abc-1.2_3~");
        check(
            &["tracks", "../x?y#z", "similar"],
            "/api/v1/tracks/..%2Fx%3Fy%23z/similar",
        );
        check(&["tracks", "a b/é"], "/api/v1/tracks/a%20b%2F%C3%A9");
        for bad in ["", ".", ".."] {
            assert!(
                matches!(api_path(&["tracks", bad]), Err(ClientError::InvalidUrl { .. })),
                "{bad:?}"
            );
        }
        let path = api_path(&["tracks", "../x"]).expect("valid");
        let joined = client("http://h:1").url(&path).expect("joins");
        assert_eq!(joined.as_str(), "http://h:1/api/v1/tracks/..%2Fx");
    }

    #[test]
    fn only_api_routes_under_the_base_are_api_urls() {
        let check = |base: &str, candidate: &str, expected: bool| {
            assert_eq!(
                client(base).is_api_url(&url(candidate)),
                expected,
                "{base} vs {candidate}"
            );
        };
        check("http://h:8080", "http://h:8080/api/v1/me", true);
        check("http://h:8080", "http://h:8080/api/v1/tracks/1/keys/0", true);
        check("http://h:8080", "http://h:8080/healthz", false);
        check("http://h:8080", "http://h:8080/storage/tracks/1/hls/master.m3u8", false);
        check("http://h:8080", "http://h:8080/apix/v1", false);
        check("http://h:8080", "http://h:9090/api/v1/me", false);
        check("http://h:8080", "https://h:8080/api/v1/me", false);
        check("http://h:8080", "http://other:8080/api/v1/me", false);
        check(
            "http://h:8080",
            "http://bucket.s3.example/api/v1/x?X-Amz-Signature=1",
            false,
        );
        check("https://h", "https://h:443/api/v1/me", true);
        check("http://h/mist", "http://h/mist/api/v1/me", true);
        check("http://h/mist", "http://h/api/v1/me", false);
    }

    fn authorization(request: RequestBuilder) -> Option<String> {
        let request = request.build().expect("builds");
        request
            .headers()
            .get(AUTHORIZATION)
            .map(|value| value.to_str().expect("ascii").to_string())
    }

    #[test]
    fn the_token_goes_to_api_routes_only() {
        let client = client("http://h:8080").with_token("t0k3n");
        assert_eq!(client.token(), Some("t0k3n"));
        let api = client.request(Method::GET, "/api/v1/me").expect("joins");
        assert_eq!(authorization(api).as_deref(), Some("Bearer t0k3n"));

        let health = client.request(Method::GET, "/healthz").expect("joins");
        assert_eq!(authorization(health), None);

        for elsewhere in [
            "http://h:8080/storage/tracks/1/hls/128k/seg_00000.mp3",
            "http://bucket.s3.example/tracks/1/original.mp3?X-Amz-Signature=abc",
            "http://h:9999/api/v1/me",
        ] {
            let request = client.request_url(Method::PUT, url(elsewhere));
            assert_eq!(authorization(request), None, "{elsewhere}");
        }

        let anonymous = Client::new("http://h:8080").expect("valid");
        let request = anonymous.request(Method::GET, "/api/v1/me").expect("joins");
        assert_eq!(authorization(request), None);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let client = client("http://h:8080").with_token("s3cret-token");
        let shown = format!("{client:?}");
        assert!(!shown.contains("s3cret-token"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    /// A one-shot-per-connection HTTP server on loopback that answers every
    /// request with `answer(request_head)` and records the heads it saw.
    mod loopback {
        use std::sync::{Arc, Mutex};

        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpListener;

        pub type Seen = Arc<Mutex<Vec<String>>>;

        pub async fn serve(answer: fn(&str, u16) -> String) -> (u16, Seen) {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
            let port = listener.local_addr().expect("addr").port();
            let seen = Seen::default();
            let record = seen.clone();
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    // The body may arrive in the same read as the head.
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let reply = answer(&head, port);
                    record.lock().expect("lock").push(head);
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
            (port, seen)
        }

        pub fn reply(status: &str, extra_headers: &str, body: &str) -> String {
            format!(
                "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\n{extra_headers}content-length: {}\r\n\r\n{body}",
                body.len()
            )
        }
    }

    #[tokio::test]
    async fn api_errors_and_success_bodies_are_decoded() {
        let (port, seen) = loopback::serve(|head, _| {
            if head.starts_with("GET /api/v1/me ") {
                loopback::reply(
                    "401 Unauthorized",
                    "",
                    r#"{"error":{"code":"unauthorized","message":"token expired"}}"#,
                )
            } else if head.starts_with("GET /healthz ") {
                loopback::reply("200 OK", "", r#"{"status":"ok"}"#)
            } else {
                loopback::reply("200 OK", "", "not json")
            }
        })
        .await;
        let client = client(&format!("http://127.0.0.1:{port}")).with_token("tok");

        let error = client.me().await.expect_err("401");
        assert!(error.is_unauthorized());
        assert_eq!(error.to_string(), "token expired");

        assert_eq!(client.health().await.expect("healthy").status, "ok");

        let error = client
            .login(&LoginRequest {
                email: "a@b.c".into(),
                password: "pw".into(),
            })
            .await
            .expect_err("not json");
        assert!(matches!(error, ClientError::Decode { .. }), "{error:?}");
        assert!(error.to_string().contains("/api/v1/auth/login"), "{error}");

        let seen = seen.lock().expect("lock");
        assert!(seen[0].to_ascii_lowercase().contains("authorization: bearer tok"));
        assert!(!seen[1].to_ascii_lowercase().contains("authorization"));
    }

    #[tokio::test]
    async fn uploads_carry_the_token_only_to_the_api() {
        let (api_port, api_seen) = loopback::serve(|_, _| loopback::reply("200 OK", "", "{}")).await;
        let (storage_port, storage_seen) = loopback::serve(|_, _| loopback::reply("200 OK", "", "")).await;
        let client = client(&format!("http://127.0.0.1:{api_port}")).with_token("tok");
        let ticket = |url: String| UploadTicket {
            upload_id: "u1".into(),
            url,
            method: "PUT".into(),
            headers: [("x-amz-meta-test".to_string(), "yes".to_string())].into(),
            expires_at: chrono::DateTime::UNIX_EPOCH,
        };

        let presigned = ticket(format!(
            "http://127.0.0.1:{storage_port}/bucket/tracks/1/original.wav?X-Amz-Signature=abc"
        ));
        client.put_upload(&presigned, b"RIFF".to_vec()).await.expect("stored");
        let own_route = ticket(format!("http://127.0.0.1:{api_port}/api/v1/uploads/u1/data"));
        client.put_upload(&own_route, b"RIFF".to_vec()).await.expect("stored");

        let storage = storage_seen.lock().expect("lock")[0].to_ascii_lowercase();
        assert!(storage.starts_with("put /bucket/tracks/1/original.wav?"), "{storage}");
        assert!(storage.contains("x-amz-meta-test: yes"), "{storage}");
        assert!(!storage.contains("authorization"), "{storage}");
        let api = api_seen.lock().expect("lock")[0].to_ascii_lowercase();
        assert!(api.starts_with("put /api/v1/uploads/u1/data "), "{api}");
        assert!(api.contains("authorization: bearer tok"), "{api}");
    }

    #[tokio::test]
    async fn redirects_from_the_api_elsewhere_are_refused() {
        let (port, seen) = loopback::serve(|head, port| {
            if head.starts_with("GET /api/v1/me ") {
                let location = format!("location: http://127.0.0.1:{port}/storage/x\r\n");
                loopback::reply("302 Found", &location, "")
            } else {
                loopback::reply("200 OK", "", "{}")
            }
        })
        .await;
        let client = client(&format!("http://127.0.0.1:{port}")).with_token("tok");
        let error = client.me().await.expect_err("refused");
        assert!(matches!(error, ClientError::Http(_)), "{error:?}");
        assert!(error.to_string().contains("refusing to follow"), "{error}");
        assert_eq!(seen.lock().expect("lock").len(), 1, "storage was contacted");
    }

    #[tokio::test]
    async fn unreachable_servers_are_reported_in_one_line() {
        // Bind then drop, so nothing listens on the port.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
            listener.local_addr().expect("addr").port()
        };
        let error = client(&format!("http://127.0.0.1:{port}"))
            .health()
            .await
            .expect_err("refused");
        let shown = error.to_string();
        assert!(
            shown.starts_with(&format!("cannot connect to http://127.0.0.1:{port}: ")),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "{shown}");
    }
}
