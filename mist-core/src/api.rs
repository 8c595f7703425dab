//! JSON wire types of the MIST HTTP API (`/api/v1`).
//!
//! Field names here are the public contract (docs/api.md): renaming one is a
//! breaking change for every client. Ids are opaque strings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A user's role: what they may administer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A user's plan: how much they may listen each day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Premium,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Premium => "premium",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Plan::Free),
            "premium" => Some(Plan::Premium),
            _ => None,
        }
    }
}

/// A user as the API shows them (never includes the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct User {
    pub id: String,
    pub email: String,
    pub username: String,
    pub role: Role,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
    /// An admin disabled the account: it cannot log in and its tokens fail.
    #[serde(default)]
    pub disabled: bool,
}

/// `POST /api/v1/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterRequest {
    pub email: String,
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Answer to register and login: a bearer token and who it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuthResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// Every failure answers `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `code` is stable and machine-readable (`not_found`, `invalid_json`,
/// `quota_exceeded`, ...); `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// With `quota_exceeded`: when listening is possible again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<DateTime<Utc>>,
    /// With `duplicate`: the uploader's track made from the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_track_id: Option<String>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthStatus {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// `POST /api/v1/uploads`: announce a file before sending it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateUploadRequest {
    pub filename: String,
    /// Bytes the client will send; refused up front when over the limit.
    pub size: u64,
    pub content_type: String,
    /// SHA-256 of the file (64 hex digits), when the client knows it: bytes
    /// the uploader already has are refused here, 409 `duplicate` with
    /// `existing_track_id`, before anything is sent. Without it the ingest
    /// job finds the duplicate after the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Where and how to send the bytes: a presigned S3 PUT, or the API's own
/// upload route (which then needs the bearer token, like any API route).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UploadTicket {
    pub upload_id: String,
    pub url: String,
    pub method: String,
    /// Headers the PUT must carry exactly (they are part of the signature).
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/uploads/{id}/complete`: what the uploader says about the
/// track. Anything left out is taken from the file's tags, then its name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CompleteUploadRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub artist: Option<String>,
    #[serde(default)]
    pub album: Option<String>,
    #[serde(default)]
    pub genre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album_artist: Option<String>,
    /// 1–999 (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_number: Option<i64>,
    /// 1–99 (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disc_number: Option<i64>,
    /// 1000–2999 (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CompleteUploadResponse {
    pub job_id: String,
}

/// Where a job is: `queued → processing → ready | failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Processing,
    Ready,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Processing => "processing",
            JobStatus::Ready => "ready",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(JobStatus::Queued),
            "processing" => Some(JobStatus::Processing),
            "ready" => Some(JobStatus::Ready),
            "failed" => Some(JobStatus::Failed),
            _ => None,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Ready | JobStatus::Failed)
    }
}

/// `GET /api/v1/jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Job {
    pub id: String,
    pub status: JobStatus,
    /// 0–100.
    pub progress: u8,
    /// Why it failed, for a person.
    pub error: Option<String>,
    pub track_id: String,
    /// Why it failed, for a program: `duplicate` when the uploader already
    /// has a track made from the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// With `duplicate`: that track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_track_id: Option<String>,
}

/// A track's processing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TrackStatus {
    Processing,
    Ready,
    Failed,
}

impl TrackStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackStatus::Processing => "processing",
            TrackStatus::Ready => "ready",
            TrackStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "processing" => Some(TrackStatus::Processing),
            "ready" => Some(TrackStatus::Ready),
            "failed" => Some(TrackStatus::Failed),
            _ => None,
        }
    }
}

/// A track as listed and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Track {
    pub id: String,
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
    pub duration_s: f64,
    pub status: TrackStatus,
    /// Absolute URL of the master playlist, signed for the user who asked and
    /// expiring; `None` until the track is ready.
    pub master_url: Option<String>,
    pub uploader_id: String,
    pub play_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The album record the track belongs to (`GET /api/v1/albums/{id}`).
    #[serde(default)]
    pub album_id: Option<String>,
    #[serde(default)]
    pub album_artist: Option<String>,
    #[serde(default)]
    pub track_number: Option<i64>,
    #[serde(default)]
    pub disc_number: Option<i64>,
    #[serde(default)]
    pub year: Option<i64>,
    #[serde(default)]
    pub composer: Option<String>,
    /// ReplayGain 2.0 (reference −18 LUFS, EBU R128): the gain in dB that
    /// brings the track to the reference; `None` when silent or not measured.
    #[serde(default)]
    pub track_gain_db: Option<f64>,
    /// Linear true peak (1.0 = full scale).
    #[serde(default)]
    pub track_peak: Option<f64>,
    /// The same over the album's tracks gated together.
    #[serde(default)]
    pub album_gain_db: Option<f64>,
    #[serde(default)]
    pub album_peak: Option<f64>,
}

/// A page of a list endpoint. `next_cursor` is opaque; pass it back as
/// `cursor` for the next page. `None`: this was the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/me/quota`: today's listening allowance (UTC days).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Quota {
    pub plan: Plan,
    /// Seconds a day; `None` on an unlimited plan.
    pub limit_s: Option<f64>,
    /// Seconds of audio unlocked (keys given) today.
    pub used_s: f64,
    /// `None` on an unlimited plan.
    pub remaining_s: Option<f64>,
    pub resets_at: DateTime<Utc>,
}

/// `POST /api/v1/playback/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OpenSessionRequest {
    pub track_id: String,
}

/// An open playback session: report progress to it, fetch keys under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PlaybackSession {
    pub session_id: String,
    pub track_id: String,
    /// The master playlist, signed for this user and expiring (docs/quota.md).
    pub master_url: String,
    /// Seconds of audio each key covers: the unit the quota charges.
    pub key_period_s: f64,
    pub duration_s: f64,
    pub quota: Quota,
}

/// `POST /api/v1/playback/sessions/{id}/heartbeat`. `seq` must grow with
/// every report; `position_s` is the playhead in the track.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeartbeatRequest {
    pub seq: u64,
    pub position_s: f64,
    pub playing: bool,
}

/// `POST /api/v1/playback/sessions/{id}/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CompleteSessionRequest {
    pub seq: u64,
    pub position_s: f64,
}

/// What a heartbeat or completion answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeartbeatResponse {
    /// Seconds of listening this report counted for the session (history and
    /// plays; the quota charges unlocked keys, not reports).
    pub counted_s: f64,
    pub quota: Quota,
}

/// One entry of `GET /api/v1/me/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HistoryEntry {
    pub session_id: String,
    pub track: Track,
    pub listened_s: f64,
    pub completed: bool,
    pub started_at: DateTime<Utc>,
}

/// `PATCH /api/v1/admin/users/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub plan: Option<Plan>,
    #[serde(default)]
    pub role: Option<Role>,
}

/// One entry of `GET /api/v1/tracks/{id}/similar`: a ready track and its cosine
/// distance (0 = the same sound, up to 2) to the track asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SimilarTrack {
    pub track: Track,
    pub distance: f32,
}

impl SimilarTrack {
    /// Players show only tracks closer than this cosine distance: further
    /// ones do not sound alike to a listener (the web page mirrors it as
    /// `SIMILAR_WITHIN` in `web/src/format.js`).
    pub const SHOWN_WITHIN: f32 = 0.5;

    /// Whether a player should offer it as "sounds like".
    pub fn sounds_alike(&self) -> bool {
        self.distance <= Self::SHOWN_WITHIN
    }
}

/// `GET /api/v1/tracks/{id}/features`: what the analysis found in a track's audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TrackFeatures {
    pub track_id: String,
    /// Version of the feature set that computed these values (see
    /// `mist-server reindex-features`).
    pub feature_version: i64,
    pub computed_at: DateTime<Utc>,
    /// Named values over the whole track (`mfcc_mean`, `centroid_mean`,
    /// `tempo_bpm`, …): [`crate::features::Features`].
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub features: crate::features::Features,
    /// The unit-length 40-dimensional embedding that similarity ranks by.
    pub embedding: Vec<f32>,
}

/// Why a track is in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FeedReason {
    /// Sounds like what the user liked and listened to.
    Similar,
    /// Popular (then newest) ready tracks: the user has no history yet, or the
    /// similar ones ran out.
    Popular,
}

/// One entry of `GET /api/v1/me/feed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FeedItem {
    pub track: Track,
    pub reason: FeedReason,
    /// Cosine distance to the user's taste (reason `similar` only).
    pub distance: Option<f32>,
}

/// How `GET /api/v1/tracks` orders its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TrackSort {
    /// Best match first (the default with `q`).
    Relevance,
    /// A–Z, case-insensitively (the default without `q`).
    Title,
    Artist,
    Newest,
    /// Most played (all time) first.
    Popular,
}

/// The query of `GET /api/v1/tracks`: every field optional. `q` is full-text
/// over title, artist, album and genre (prefixes, any case or accents, one
/// typo forgiven); `genre`, `artist` and `album` filter exactly (any case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TrackQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, example = "relevance"))]
    pub sort: Option<TrackSort>,
    /// 1–100, default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `PATCH /api/v1/tracks/{id}`: fields left out stay as they are; an empty
/// artist, album or genre clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateTrackRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genre: Option<String>,
    /// Applies to the album: the track moves to the album of this album
    /// artist and its album title (made if new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album_artist: Option<String>,
    /// 1–999; 0 clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_number: Option<i64>,
    /// 1–99; 0 clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disc_number: Option<i64>,
    /// 1000–2999; 0 clears. Applies to the track and its album.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composer: Option<String>,
}

/// An entry of `GET /api/v1/genres`: a name and
/// how many ready tracks carry it (names that differ only in case count as one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NameCount {
    pub name: String,
    pub track_count: i64,
}

/// An entry of `GET /api/v1/tracks/popular`: plays are completed listens
/// in the window asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PopularTrack {
    pub track: Track,
    pub plays: i64,
}

/// A playlist. A private one is visible to its owner only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Playlist {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub public: bool,
    pub track_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/playlists`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatePlaylistRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Private unless `true`.
    #[serde(default)]
    pub public: Option<bool>,
}

/// `PATCH /api/v1/playlists/{id}`: fields left out stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdatePlaylistRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
}

/// `POST /api/v1/playlists/{id}/tracks`: append a track (a track already in
/// the playlist keeps its place).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AddPlaylistTrackRequest {
    pub track_id: String,
}

/// `PATCH /api/v1/playlists/{id}/tracks/{track_id}`: move a track to
/// `position` (0-based; past the end means last).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MovePlaylistTrackRequest {
    pub position: i64,
}

/// A track in a playlist. Positions run 0, 1, 2, … without gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PlaylistEntry {
    pub position: i64,
    pub track: Track,
}

/// How every client writes a number of seconds (`duration_s`, a playhead, a
/// quota): `m:ss`, or `h:mm:ss` from an hour. Whole seconds are counted down
/// (floor), as a playhead is, so a track's length and the playhead at its end
/// read the same and no second is shown before it has been heard. The web
/// player's `format.duration` follows the same rule (mist-server/tests/web.rs
/// checks that they agree); negative and non-finite values read `0:00`.
pub fn clock(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds.floor() as u64
    } else {
        0
    };
    let (hours, minutes, rest) = (total / 3600, total % 3600 / 60, total % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{rest:02}")
    } else {
        format!("{minutes}:{rest:02}")
    }
}

#[cfg(test)]
mod clock_tests {
    use super::clock;

    #[test]
    fn durations_count_whole_seconds_down() {
        let check = |seconds: f64, expected: &str| assert_eq!(clock(seconds), expected, "{seconds}");
        check(0.0, "0:00");
        check(0.99, "0:00");
        check(20.4, "0:20");
        // The track a new user saw as 2:42 on the web and 2:43 in the terminal.
        check(162.6, "2:42");
        check(301.0, "5:01");
        check(3599.999, "59:59");
        check(3600.0, "1:00:00");
        check(7322.5, "2:02:02");
        check(-3.0, "0:00");
        check(f64::NAN, "0:00");
        check(f64::INFINITY, "0:00");
    }
}

/// What `POST /api/v1/auth/register` reads: a [`RegisterRequest`], plus the
/// invite code when the server's registration is by invite.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterBody {
    #[serde(flatten)]
    pub account: RegisterRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// `POST /api/v1/me/password`: every older token of the account stops working.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/v1/admin/users/{id}/password`: an admin sets a new password
/// (and every token of the account stops working).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SetPasswordRequest {
    pub password: String,
}

/// `POST /api/v1/admin/invites`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateInviteRequest {
    /// How long the code stays usable; default 168 (a week), at most 8760.
    #[serde(default)]
    pub expires_in_hours: Option<u32>,
}

/// A single-use invite code, to pass as `invite` when registering.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Invite {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}
/// The header on a key response (`GET /api/v1/tracks/{id}/keys/{k}`) that
/// carries the user's [`Quota`] after the key was given, as the same JSON
/// object `GET /api/v1/me/quota` returns, so players show "left today" the
/// moment it changes instead of polling.
pub const QUOTA_HEADER: &str = "mist-quota";

/// An album: its album artist and title (matched folding case and accents),
/// and what its ready tracks add up to. `cover_url` is absent without a cover;
/// add `?size=64|300|600` (default 300).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Album {
    pub id: String,
    pub title: String,
    /// The album artist ("Various Artists" for compilations without one).
    pub artist: Option<String>,
    #[serde(default)]
    pub artist_id: Option<String>,
    pub year: Option<i64>,
    pub genre: Option<String>,
    pub track_count: i64,
    pub duration_s: f64,
    pub cover_url: Option<String>,
}

/// `GET /api/v1/albums/{id}`: the album and its tracks in disc and track order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AlbumDetail {
    #[serde(flatten)]
    pub album: Album,
    pub tracks: Vec<Track>,
}

/// How `GET /api/v1/albums` orders its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlbumSort {
    /// Most recently added first (the default).
    Newest,
    /// By title, A–Z.
    Name,
    /// Most recent release year first.
    Year,
    /// By album artist, A–Z.
    Artist,
    /// Most plays of its tracks (all time) first.
    MostPlayed,
    /// Most recently played by the caller first.
    RecentlyPlayed,
}

/// `GET /api/v1/albums`: sort, filters, paging (as `GET /api/v1/tracks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AlbumQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, example = "newest"))]
    pub sort: Option<AlbumSort>,
    /// An artist's id, or name (any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i64>,
    /// 1–100, default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// An artist record: the ready tracks it performs and the albums it is the
/// album artist of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Artist {
    pub id: String,
    pub name: String,
    pub track_count: i64,
    pub album_count: i64,
}

/// `GET /api/v1/artists/{id}`: the artist, its albums and its most played tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArtistDetail {
    #[serde(flatten)]
    pub artist: Artist,
    pub albums: Vec<Album>,
    pub top_tracks: Vec<Track>,
}

/// `GET /api/v1/search`: tracks (as `GET /api/v1/tracks?q=`, first page),
/// albums and artists matching `q`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SearchResults {
    pub tracks: Vec<Track>,
    pub albums: Vec<Album>,
    pub artists: Vec<Artist>,
}

/// `GET /api/v1/tracks/{id}/lyrics`: the words, and timed lines when known
/// (empty when the lyrics are unsynchronised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Lyrics {
    pub plain: String,
    pub lines: Vec<LyricLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LyricLine {
    pub time_ms: u64,
    pub text: String,
}

/// `POST /api/v1/me/api-keys`: a key for OpenSubsonic apps (`apiKey=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateApiKeyRequest {
    /// What the key is for ("phone", "car"), 1–100 characters.
    pub name: String,
}

/// A new API key: `key` is shown this once (the server keeps only a hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatedApiKey {
    pub id: String,
    pub name: String,
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/me/api-keys`: a key as listed, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/me/app-password`: the password Subsonic apps that only
/// know `u` + `p` or `u` + `t` + `s` sign in with (never the account's).
/// Shown once; making a new one replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AppPassword {
    pub username: String,
    pub password: String,
}

/// `GET`/`PUT /api/v1/me/play-queue`: what a user was playing, where, so
/// any client (the TUI, a Subsonic app) resumes it. `current_index` is the
/// position in `track_ids` of the track playing (`None`: none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PlayQueue {
    pub track_ids: Vec<String>,
    pub current_index: Option<u64>,
    pub position_ms: u64,
    pub changed_at: DateTime<Utc>,
    /// The client that saved it (`mist`, a Subsonic app's `c`).
    pub changed_by: String,
}

/// `PUT /api/v1/me/play-queue`: at most 1,000 ready track ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SavePlayQueueRequest {
    pub track_ids: Vec<String>,
    pub current_index: Option<u64>,
    #[serde(default)]
    pub position_ms: u64,
    /// Defaults to `mist`.
    #[serde(default)]
    pub changed_by: Option<String>,
}

/// An entry of `GET /api/v1/admin/users`: the user and their listening today
/// (UTC day), so an admin sees who uses what before changing a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminUserEntry {
    #[serde(flatten)]
    pub user: User,
    pub today: Quota,
}
