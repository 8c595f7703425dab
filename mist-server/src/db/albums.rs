//! Albums and artists: the `albums` and `artists` tables, and the library
//! columns of `tracks` they are made from.
//!
//! An album is its album artist and title folded for case and accents
//! ([`album_key`]), so "Kind of Blue" by "Miles Davis" and "KIND OF BLUE" by
//! "miles davis" are one album whoever uploaded them; a compilation without
//! an album artist groups under "Various Artists". Keys are made here in Rust
//! (the search's [`fold`]), so both engines agree on them without a
//! collation, and a unique index on the key makes find-or-create safe under
//! concurrent ingests (`INSERT … ON CONFLICT DO NOTHING`, then read).
//!
//! Tracks join their album and artist in the transaction that makes them
//! ready (see `tracks::mark_ready`), and the album's loudness is recomputed
//! there from its ready tracks' gating blocks (`mist_core::library::loudness`
//! merges them exactly as if the album had been measured whole). The album
//! row is updated first, so on Postgres concurrent joins of one album queue
//! on its row lock and the last one sees every track. An album goes when its
//! last track does ([`track_removed`]).

use crate::db::BeginWrite;
use const_format::concatcp;
use mist_core::library::loudness::{GatingBlocks, Loudness};

use super::catalogue::fold;
use super::tracks::TRACK_COLUMNS;
use super::tracks::TrackRow;
use super::{Db, now_ms};
use crate::with_pool;

/// The album artist of compilations that name none.
pub const VARIOUS_ARTISTS: &str = "Various Artists";

/// What a file's tags and the ingest add to a ready track, beyond the
/// catalogue's title, artist, album and genre.
#[derive(Debug, Clone, Default)]
pub struct LibraryFields {
    pub album_artist: Option<String>,
    pub track_number: Option<i64>,
    pub disc_number: Option<i64>,
    pub year: Option<i64>,
    pub composer: Option<String>,
    /// The compilation flag: no album artist means "Various Artists".
    pub compilation: bool,
    /// SHA-256 (hex) of the original.
    pub sha256: Option<String>,
    pub loudness: Option<Loudness>,
    pub lyrics_text: Option<String>,
    /// Timed lines as JSON (`[{"time_ms", "text"}]`).
    pub lyrics_lines: Option<String>,
    /// SHA-256 (hex) of the cover picture, whose thumbnails are stored.
    pub cover_hash: Option<String>,
}

/// A name folded for matching: lower case, no accents, single spaces.
pub fn fold_key(name: &str) -> String {
    fold(name).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key an album is found by: its album artist and title, folded.
pub fn album_key(album_artist: Option<&str>, title: &str) -> String {
    format!("{}\u{1f}{}", fold_key(album_artist.unwrap_or("")), fold_key(title))
}

/// The first track to know an album's year, genre or cover gives it:
/// `$1` album, `$2` year, `$3` genre, `$4` cover hash, `$5` now.
pub(crate) const FILL_ALBUM: &str = "UPDATE albums SET year = COALESCE(year, $2), genre = COALESCE(genre, $3), \
     cover_hash = COALESCE(cover_hash, $4), updated_at = $5 WHERE id = $1";

/// In transaction `$tx`: the id of the artist named `$name`, made if new.
macro_rules! upsert_artist {
    ($tx:ident, $name:expr, $now:expr) => {{
        let name: &str = $name;
        let key = $crate::db::albums::fold_key(name);
        sqlx::query(
            "INSERT INTO artists (id, key, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
        )
        .bind($crate::db::new_id())
        .bind(&key)
        .bind(name)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
        sqlx::query_scalar::<_, String>("SELECT id FROM artists WHERE key = $1")
            .bind(&key)
            .fetch_one(&mut *$tx)
            .await?
    }};
}
pub(crate) use upsert_artist;

/// In transaction `$tx`: recomputes album `$album`'s loudness from its ready
/// tracks, after taking its row lock.
macro_rules! recompute_album {
    ($tx:ident, $album:expr, $now:expr) => {{
        let album: &str = $album;
        sqlx::query("UPDATE albums SET updated_at = $2 WHERE id = $1")
            .bind(album)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        let rows: Vec<(Option<Vec<u8>>, Option<f64>)> =
            sqlx::query_as("SELECT loudness_blocks, true_peak FROM tracks WHERE album_id = $1 AND status = 'ready'")
                .bind(album)
                .fetch_all(&mut *$tx)
                .await?;
        let (lufs, peak) = $crate::db::albums::album_loudness(&rows);
        sqlx::query("UPDATE albums SET loudness_lufs = $2, true_peak = $3 WHERE id = $1")
            .bind(album)
            .bind(lufs)
            .bind(peak)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use recompute_album;

/// In transaction `$tx`: album `$album` lost a track; it goes when it has
/// none left, else its loudness is recomputed.
macro_rules! album_left {
    ($tx:ident, $album:expr, $now:expr) => {{
        let album: &str = $album;
        let gone =
            sqlx::query("DELETE FROM albums WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM tracks WHERE album_id = $1)")
                .bind(album)
                .execute(&mut *$tx)
                .await?
                .rows_affected()
                > 0;
        if !gone {
            $crate::db::albums::recompute_album!($tx, album, $now);
        }
    }};
}
pub(crate) use album_left;

/// In transaction `$tx`: the id of the album `$title` by `$album_artist`
/// (folded), made if new.
macro_rules! link_album {
    ($tx:ident, $title:expr, $album_artist:expr, $now:expr) => {{
        let title: &str = $title;
        let album_artist: Option<&str> = $album_artist;
        let key = $crate::db::albums::album_key(album_artist, title);
        let album_artist_id: Option<String> = match album_artist {
            Some(name) => Some($crate::db::albums::upsert_artist!($tx, name, $now)),
            None => None,
        };
        sqlx::query(
            "INSERT INTO albums (id, key, title, artist, artist_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (key) DO NOTHING",
        )
        .bind($crate::db::new_id())
        .bind(&key)
        .bind(title)
        .bind(album_artist)
        .bind(album_artist_id)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
        sqlx::query_scalar::<_, String>("SELECT id FROM albums WHERE key = $1")
            .bind(&key)
            .fetch_one(&mut *$tx)
            .await?
    }};
}
pub(crate) use link_album;

/// In transaction `$tx`, after track `$id` was made ready with `$track` (a
/// `tracks::ReadyTrack`): finds or makes its artist and album, stores the
/// library columns and recomputes the album's loudness (and the old album's,
/// when a new attempt moved the track).
macro_rules! attach {
    ($tx:ident, $id:expr, $track:expr, $now:expr) => {{
        let id: &str = $id;
        let lib = &$track.library;
        let artist_id: Option<String> = match $track.artist {
            Some(name) => Some($crate::db::albums::upsert_artist!($tx, name, $now)),
            None => None,
        };
        let album_artist: Option<String> = lib
            .album_artist
            .clone()
            .or_else(|| lib.compilation.then(|| $crate::db::albums::VARIOUS_ARTISTS.to_owned()))
            .or_else(|| $track.artist.map(str::to_owned));
        let old_album: Option<String> = sqlx::query_scalar("SELECT album_id FROM tracks WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *$tx)
            .await?;
        let album_id: Option<String> = match $track.album {
            Some(title) => {
                let album = $crate::db::albums::link_album!($tx, title, album_artist.as_deref(), $now);
                sqlx::query($crate::db::albums::FILL_ALBUM)
                    .bind(&album)
                    .bind(lib.year)
                    .bind($track.genre)
                    .bind(lib.cover_hash.as_deref())
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
                Some(album)
            }
            None => None,
        };
        let loudness = lib.loudness.as_ref();
        sqlx::query(
            "UPDATE tracks SET album_id = $2, artist_id = $3, album_artist = $4, track_number = $5, \
             disc_number = $6, year = $7, composer = $8, sha256 = $9, loudness_lufs = $10, true_peak = $11, \
             loudness_blocks = $12, lyrics_text = $13, lyrics_lines = $14, cover_hash = $15 WHERE id = $1",
        )
        .bind(id)
        .bind(album_id.as_deref())
        .bind(artist_id)
        .bind(lib.album_artist.as_deref())
        .bind(lib.track_number)
        .bind(lib.disc_number)
        .bind(lib.year)
        .bind(lib.composer.as_deref())
        .bind(lib.sha256.as_deref())
        .bind(loudness.and_then(|l| l.integrated_lufs))
        .bind(loudness.map(|l| l.true_peak))
        .bind(loudness.map(|l| l.blocks.to_bytes()))
        .bind(lib.lyrics_text.as_deref())
        .bind(lib.lyrics_lines.as_deref())
        .bind(lib.cover_hash.as_deref())
        .execute(&mut *$tx)
        .await?;
        if let Some(album) = album_id.as_deref() {
            $crate::db::albums::recompute_album!($tx, album, $now);
        }
        if let Some(old) = old_album.as_deref().filter(|old| Some(*old) != album_id.as_deref()) {
            $crate::db::albums::album_left!($tx, old, $now);
        }
    }};
}
pub(crate) use attach;

/// Ready tracks whose artist or album is named but not linked to its record:
/// tracks made before albums and artists existed. Linked by [`link_unlinked`].
/// Walked in id order from `$1`, so each batch starts where the last ended
/// instead of scanning past the rows already linked. The condition is word
/// for word that of the partial index `tracks_unlinked` (migration
/// `20261205000400`), so the walk reads that index, which holds only the
/// tracks left to link: a start with every track linked is one index probe.
const UNLINKED_WHERE: &str = " WHERE id > $1 \
     AND status = 'ready' AND ((artist IS NOT NULL AND artist <> '' AND artist_id IS NULL) \
     OR (album IS NOT NULL AND album <> '' AND album_id IS NULL)) ORDER BY id LIMIT $2";
const UNLINKED_COLUMNS: &str = "SELECT id, artist, album, album_artist, genre, year FROM tracks";

/// [`UNLINKED_WHERE`] as each engine runs it. SQLite is told the index
/// (`INDEXED BY`, an error if it could not be used): with statistics it
/// preferred looking up `artist_id IS NULL` and `album_id IS NULL` in their
/// own indexes, which also hold every track without an artist or album
/// tag and every track not ready, read again at each start.
pub fn unlinked_query(db: &Db) -> &'static str {
    match db {
        Db::Sqlite(_) => concatcp!(UNLINKED_COLUMNS, " INDEXED BY tracks_unlinked", UNLINKED_WHERE),
        Db::Postgres(_) => concatcp!(UNLINKED_COLUMNS, UNLINKED_WHERE),
    }
}

/// Links up to `batch` unlinked ready tracks (see [`UNLINKED_WHERE`]) with ids
/// after `after` to their artist and album, made if new, as ingest would
/// have; returns how many and the last id. Idempotent and safe beside
/// ingest (records are upserted by key).
pub async fn link_unlinked(db: &Db, after: &str, batch: i64) -> Result<(usize, Option<String>), sqlx::Error> {
    type Unlinked = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let now = now_ms();
    let sql = unlinked_query(db);
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let rows: Vec<Unlinked> = sqlx::query_as(sql).bind(after).bind(batch).fetch_all(&mut *tx).await?;
        for (id, artist, album, album_artist, genre, year) in &rows {
            let artist = artist.as_deref().filter(|a| !a.is_empty());
            let artist_id: Option<String> = match artist {
                Some(name) => Some(upsert_artist!(tx, name, now)),
                None => None,
            };
            let album_id: Option<String> = match album.as_deref().filter(|a| !a.is_empty()) {
                Some(title) => {
                    let album_artist = album_artist.as_deref().or(artist);
                    let album = link_album!(tx, title, album_artist, now);
                    sqlx::query(FILL_ALBUM)
                        .bind(&album)
                        .bind(year)
                        .bind(genre)
                        .bind(None::<&str>)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    Some(album)
                }
                None => None,
            };
            sqlx::query("UPDATE tracks SET artist_id = COALESCE(artist_id, $2), album_id = COALESCE(album_id, $3) WHERE id = $1")
                .bind(id)
                .bind(artist_id)
                .bind(album_id.as_deref())
                .execute(&mut *tx)
                .await?;
        }
        // No album loudness to recompute: these tracks were never measured
        // (loudness came with the library), and album loudness leaves out
        // tracks without gating blocks.
        tx.commit().await?;
        Ok((rows.len(), rows.last().map(|row| row.0.clone())))
    })
}

/// Links every unlinked ready track, a batch per transaction, until none is
/// left or `stop` says so; returns how many. Run at start-up, so a library
/// from before albums and artists gains them.
pub async fn link_all_unlinked(db: &Db, stop: impl Fn() -> bool) -> Result<usize, sqlx::Error> {
    const BATCH: i64 = 500;
    let (mut total, mut after) = (0, String::new());
    while !stop() {
        let (linked, last) = link_unlinked(db, &after, BATCH).await?;
        total += linked;
        match last {
            Some(last) if linked == BATCH as usize => after = last,
            _ => break,
        }
    }
    if total > 0
        && let Db::Sqlite(pool) = db
    {
        // The album and artist columns went from all empty to filled:
        // statistics taken before would steer the planner off their indexes.
        sqlx::query("ANALYZE tracks").execute(pool).await?;
    }
    Ok(total)
}

/// An album's integrated loudness and true peak from its tracks' stored
/// gating blocks and peaks (tracks measured before loudness existed are left
/// out).
pub fn album_loudness(tracks: &[(Option<Vec<u8>>, Option<f64>)]) -> (Option<f64>, Option<f64>) {
    let measured: Vec<Loudness> = tracks
        .iter()
        .filter_map(|(blocks, peak)| {
            Some(Loudness {
                integrated_lufs: None,
                true_peak: peak.unwrap_or(0.0),
                blocks: GatingBlocks::from_bytes(blocks.as_deref()?)?,
            })
        })
        .collect();
    if measured.is_empty() {
        return (None, None);
    }
    let album = Loudness::album(&measured);
    (album.integrated_lufs, Some(album.true_peak))
}

/// After a track of `album` was deleted: the album goes when it was the
/// last, else its loudness is recomputed.
pub async fn track_removed(db: &Db, album: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        album_left!(tx, album, now);
        tx.commit().await
    })
}

/// True while a track or an album still shows the cover `hash`.
pub async fn cover_in_use(db: &Db, hash: &str) -> Result<bool, sqlx::Error> {
    let sql = "SELECT EXISTS (SELECT 1 FROM tracks WHERE cover_hash = $1) OR EXISTS (SELECT 1 FROM albums WHERE cover_hash = $1)";
    with_pool!(db, pool => sqlx::query_scalar::<_, bool>(sql).bind(hash).fetch_one(pool).await)
}

/// An album with what its ready tracks add up to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlbumRow {
    pub id: String,
    pub title: String,
    pub artist: Option<String>,
    pub artist_id: Option<String>,
    pub year: Option<i64>,
    pub genre: Option<String>,
    pub cover_hash: Option<String>,
    pub created_at: i64,
    pub track_count: i64,
    pub duration_ms: i64,
    pub plays: i64,
}

/// How `GET /api/v1/albums` is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlbumOrder {
    Newest,
    Name,
    Year,
    Artist,
    MostPlayed,
    RecentlyPlayed,
}

impl AlbumOrder {
    /// Over the columns of [`ALBUM_SELECT`], as `x`.
    fn order_by(self) -> &'static str {
        match self {
            AlbumOrder::Newest => "x.created_at DESC, x.id",
            AlbumOrder::Name => "lower(x.title), x.id",
            AlbumOrder::Year => "COALESCE(x.year, -1) DESC, lower(x.title), x.id",
            AlbumOrder::Artist => "lower(COALESCE(x.artist, '')), lower(x.title), x.id",
            AlbumOrder::MostPlayed => "x.plays DESC, x.id",
            AlbumOrder::RecentlyPlayed => "COALESCE(x.last_played, -1) DESC, x.id",
        }
    }
}

/// What `GET /api/v1/albums` asks for.
#[derive(Debug, Clone)]
pub struct AlbumQuery {
    pub order: AlbumOrder,
    /// An artist's id or name (case-insensitive).
    pub artist: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i64>,
    /// For `recently_played`: whose listening counts.
    pub user_id: String,
    pub limit: i64,
    pub offset: i64,
}

/// Albums with at least one ready track, and what those add up to.
const ALBUM_SELECT: &str = "SELECT a.id, a.title, a.artist, a.artist_id, a.year, a.genre, a.cover_hash, a.created_at, \
         s.track_count, s.duration_ms, s.plays, \
         (SELECT MAX(p.started_at) FROM playback_sessions p JOIN tracks t2 ON t2.id = p.track_id \
          WHERE t2.album_id = a.id AND p.user_id = $1) AS last_played \
         FROM albums a JOIN (SELECT album_id, COUNT(*) AS track_count, CAST(SUM(duration_ms) AS BIGINT) AS duration_ms, \
         CAST(SUM(play_count) AS BIGINT) AS plays FROM tracks WHERE status = 'ready' AND album_id IS NOT NULL \
         GROUP BY album_id) s ON s.album_id = a.id";

#[derive(sqlx::FromRow)]
struct ListedAlbum {
    #[sqlx(flatten)]
    album: AlbumRow,
    #[allow(dead_code)]
    last_played: Option<i64>,
}

/// One page of albums and whether there are more.
pub async fn list(db: &Db, query: &AlbumQuery) -> Result<(Vec<AlbumRow>, bool), sqlx::Error> {
    // Only the fixed ORDER BY of the enum is spliced in; values are bound.
    let sql = format!(
        "SELECT * FROM ({ALBUM_SELECT}) x WHERE ($2 IS NULL OR x.artist_id = $2 OR lower(x.artist) = lower($2)) \
         AND ($3 IS NULL OR lower(x.genre) = lower($3)) AND ($4 IS NULL OR x.year = $4) \
         ORDER BY {} LIMIT $5 OFFSET $6",
        query.order.order_by()
    );
    let mut rows: Vec<ListedAlbum> = with_pool!(db, pool => {
        sqlx::query_as::<_, ListedAlbum>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&query.user_id)
            .bind(query.artist.as_deref())
            .bind(query.genre.as_deref())
            .bind(query.year)
            .bind(query.limit + 1)
            .bind(query.offset)
            .fetch_all(pool)
            .await
    })?;
    let more = rows.len() as i64 > query.limit;
    rows.truncate(query.limit as usize);
    Ok((rows.into_iter().map(|r| r.album).collect(), more))
}

/// The album, if it has a ready track.
pub async fn find(db: &Db, id: &str) -> Result<Option<AlbumRow>, sqlx::Error> {
    let sql = concatcp!(ALBUM_SELECT, " WHERE a.id = $2");
    let row: Option<ListedAlbum> = with_pool!(db, pool => {
        sqlx::query_as::<_, ListedAlbum>(sql).bind("").bind(id).fetch_optional(pool).await
    })?;
    Ok(row.map(|r| r.album))
}

/// The album's cover hash, whether or not it has ready tracks.
pub async fn cover_hash(db: &Db, id: &str) -> Result<Option<String>, sqlx::Error> {
    let sql = "SELECT cover_hash FROM albums WHERE id = $1";
    let row: Option<Option<String>> =
        with_pool!(db, pool => sqlx::query_scalar(sql).bind(id).fetch_optional(pool).await)?;
    Ok(row.flatten())
}

/// An album's ready tracks in disc and track order (unnumbered last, by title).
pub async fn tracks(db: &Db, album_id: &str) -> Result<Vec<TrackRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        TRACK_COLUMNS,
        " FROM tracks t WHERE t.album_id = $1 AND t.status = 'ready' \
         ORDER BY COALESCE(t.disc_number, 1), COALESCE(t.track_number, 1000000), lower(t.title), t.id"
    );
    with_pool!(db, pool => sqlx::query_as::<_, TrackRow>(sql).bind(album_id).fetch_all(pool).await)
}

/// An artist with the ready tracks and albums that name it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArtistRow {
    pub id: String,
    /// The name folded ([`fold_key`]): unique, the listing's order.
    pub key: String,
    pub name: String,
    pub track_count: i64,
    pub album_count: i64,
}

const ARTIST_SELECT: &str = "SELECT r.id, r.key, r.name, \
         (SELECT COUNT(*) FROM tracks t WHERE t.artist_id = r.id AND t.status = 'ready') AS track_count, \
         (SELECT COUNT(*) FROM albums a WHERE a.artist_id = r.id \
          AND EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = a.id AND t.status = 'ready')) AS album_count \
         FROM artists r";

pub async fn find_artist(db: &Db, id: &str) -> Result<Option<ArtistRow>, sqlx::Error> {
    let sql = concatcp!(ARTIST_SELECT, " WHERE r.id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, ArtistRow>(sql).bind(id).fetch_optional(pool).await)
}

/// One page of artists with a ready track or album, in [`fold_key`] order
/// after `after`, and whether there are more.
pub async fn list_artists(db: &Db, after: Option<&str>, limit: i64) -> Result<(Vec<ArtistRow>, bool), sqlx::Error> {
    // Walks the unique index on `key` and stops at the page: the counts are
    // made only for the rows returned.
    let sql = concatcp!(
        ARTIST_SELECT,
        " WHERE ($1 IS NULL OR r.key > $1) \
         AND (EXISTS (SELECT 1 FROM tracks t WHERE t.artist_id = r.id AND t.status = 'ready') \
         OR EXISTS (SELECT 1 FROM albums a JOIN tracks t ON t.album_id = a.id \
         WHERE a.artist_id = r.id AND t.status = 'ready')) ORDER BY r.key LIMIT $2"
    );
    let mut rows: Vec<ArtistRow> = with_pool!(db, pool => {
        sqlx::query_as::<_, ArtistRow>(sql).bind(after).bind(limit + 1).fetch_all(pool).await
    })?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// An artist's most played ready tracks.
pub async fn top_tracks(db: &Db, artist_id: &str, limit: i64) -> Result<Vec<TrackRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        TRACK_COLUMNS,
        " FROM tracks t WHERE t.artist_id = $1 AND t.status = 'ready' \
         ORDER BY t.play_count DESC, lower(t.title), t.id LIMIT $2"
    );
    with_pool!(db, pool => sqlx::query_as::<_, TrackRow>(sql).bind(artist_id).bind(limit).fetch_all(pool).await)
}

/// `q` folded as a `LIKE` pattern that matches it anywhere in a key.
fn contains_pattern(q: &str) -> String {
    let folded = fold_key(q);
    let escaped: String = folded
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// Albums (with a ready track) whose title or album artist contains `q`,
/// folded.
pub async fn search_albums(db: &Db, q: &str, limit: i64) -> Result<Vec<AlbumRow>, sqlx::Error> {
    let sql = concatcp!(
        ALBUM_SELECT,
        " WHERE $2 <> '%%' AND a.key LIKE $2 ESCAPE '\\' ORDER BY lower(a.title), a.id LIMIT $3"
    );
    let rows: Vec<ListedAlbum> = with_pool!(db, pool => {
        sqlx::query_as::<_, ListedAlbum>(sql).bind("").bind(contains_pattern(q)).bind(limit).fetch_all(pool).await
    })?;
    Ok(rows.into_iter().map(|r| r.album).collect())
}

/// Artists (with a ready track or album) whose name contains `q`, folded.
pub async fn search_artists(db: &Db, q: &str, limit: i64) -> Result<Vec<ArtistRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT * FROM (",
        ARTIST_SELECT,
        " WHERE $1 <> '%%' AND r.key LIKE $1 ESCAPE '\\') x WHERE x.track_count > 0 OR x.album_count > 0 \
         ORDER BY lower(x.name), x.id LIMIT $2"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, ArtistRow>(sql).bind(contains_pattern(q)).bind(limit).fetch_all(pool).await
    })
}

/// An edit of a track's library fields (`PATCH /api/v1/tracks/{id}`):
/// `None` leaves a field alone, an empty text or a 0 clears it.
#[derive(Debug, Default)]
pub struct LibraryEdit<'a> {
    pub album_artist: Option<&'a str>,
    pub track_number: Option<i64>,
    pub disc_number: Option<i64>,
    pub year: Option<i64>,
    pub composer: Option<&'a str>,
    /// Applies to the album.
    pub genre: Option<&'a str>,
    /// The artist or album title changed too: the track's album and artist
    /// are found again.
    pub relink: bool,
}

/// Applies `edit` to track `id` (already updated for title, artist, album
/// and genre) in one transaction: the track's own fields, then, for a ready
/// track, its artist and album found again when they may have changed (an
/// album left empty goes), and the year and genre applied to the album.
pub async fn apply_edit(db: &Db, id: &str, edit: &LibraryEdit<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "UPDATE tracks SET album_artist = CASE WHEN $2 IS NULL THEN album_artist ELSE NULLIF($2, '') END, \
             track_number = CASE WHEN $3 IS NULL THEN track_number ELSE NULLIF($3, 0) END, \
             disc_number = CASE WHEN $4 IS NULL THEN disc_number ELSE NULLIF($4, 0) END, \
             year = CASE WHEN $5 IS NULL THEN year ELSE NULLIF($5, 0) END, \
             composer = CASE WHEN $6 IS NULL THEN composer ELSE NULLIF($6, '') END, updated_at = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(edit.album_artist)
        .bind(edit.track_number)
        .bind(edit.disc_number)
        .bind(edit.year)
        .bind(edit.composer)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        #[derive(sqlx::FromRow)]
        struct Linked {
            artist: Option<String>,
            album: Option<String>,
            album_artist: Option<String>,
            album_id: Option<String>,
            status: String,
        }
        let row: Option<Linked> =
            sqlx::query_as("SELECT artist, album, album_artist, album_id, status FROM tracks WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(Linked {
            artist,
            album,
            album_artist,
            album_id: old_album,
            status,
        }) = row
        else {
            return Ok(());
        };
        let mut album_id = old_album.clone();
        if status == "ready" && (edit.relink || edit.album_artist.is_some()) {
            let artist_id: Option<String> = match artist.as_deref() {
                Some(name) => Some(upsert_artist!(tx, name, now)),
                None => None,
            };
            let album_artist = album_artist.or(artist);
            album_id = match album.as_deref() {
                Some(title) => Some(link_album!(tx, title, album_artist.as_deref(), now)),
                None => None,
            };
            sqlx::query("UPDATE tracks SET album_id = $2, artist_id = $3 WHERE id = $1")
                .bind(id)
                .bind(album_id.as_deref())
                .bind(artist_id)
                .execute(&mut *tx)
                .await?;
            if let Some(new) = album_id.as_deref() {
                recompute_album!(tx, new, now);
            }
            if let Some(old) = old_album.as_deref().filter(|old| Some(*old) != album_id.as_deref()) {
                album_left!(tx, old, now);
            }
        }
        if let Some(album) = album_id.as_deref() {
            sqlx::query(
                "UPDATE albums SET year = CASE WHEN $2 IS NULL THEN year ELSE NULLIF($2, 0) END, \
                 genre = CASE WHEN $3 IS NULL THEN genre ELSE NULLIF($3, '') END, updated_at = $4 WHERE id = $1",
            )
            .bind(album)
            .bind(edit.year)
            .bind(edit.genre)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    })
}

/// Sets album `id`'s cover.
pub async fn set_cover(db: &Db, id: &str, hash: &str) -> Result<(), sqlx::Error> {
    let sql = "UPDATE albums SET cover_hash = $2, updated_at = $3 WHERE id = $1";
    with_pool!(db, pool => sqlx::query(sql).bind(id).bind(hash).bind(now_ms()).execute(pool).await.map(|_| ()))
}

/// Sets track `id`'s own cover.
pub async fn set_track_cover(db: &Db, id: &str, hash: &str) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tracks SET cover_hash = $2 WHERE id = $1";
    with_pool!(db, pool => sqlx::query(sql).bind(id).bind(hash).execute(pool).await.map(|_| ()))
}

/// A track's lyrics: plain text and timed lines as JSON.
pub async fn lyrics(db: &Db, track_id: &str) -> Result<(Option<String>, Option<String>), sqlx::Error> {
    let sql = "SELECT lyrics_text, lyrics_lines FROM tracks WHERE id = $1";
    let row: Option<(Option<String>, Option<String>)> =
        with_pool!(db, pool => sqlx::query_as(sql).bind(track_id).fetch_optional(pool).await)?;
    Ok(row.unwrap_or_default())
}

/// The track of `uploader_id` whose original has this SHA-256, if any.
pub async fn track_with_hash(db: &Db, uploader_id: &str, sha256: &str) -> Result<Option<String>, sqlx::Error> {
    let sql = "SELECT id FROM tracks WHERE uploader_id = $1 AND sha256 = $2";
    with_pool!(db, pool => sqlx::query_scalar(sql).bind(uploader_id).bind(sha256).fetch_optional(pool).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn album_keys_fold_case_accents_and_spaces() {
        assert_eq!(
            album_key(Some("Beyoncé"), "  Lemonade "),
            album_key(Some("BEYONCE"), "lemonade")
        );
        assert_ne!(album_key(Some("A"), "B"), album_key(None, "A B"));
    }

    #[test]
    fn album_loudness_leaves_out_tracks_without_blocks() {
        assert_eq!(album_loudness(&[]), (None, None));
        assert_eq!(
            album_loudness(&[(None, Some(0.5)), (Some(b"junk".to_vec()), Some(0.9))]),
            (None, None)
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("50% Off_"), "%50\\% off\\_%");
    }
}
