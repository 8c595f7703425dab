//! The catalogue as users browse it: full-text search, filters, sorts and
//! keyset pagination over ready tracks; genre counts; popular tracks.
//! (Track edits and deletion are writes of `db/tracks.rs`.)
//!
//! # Search, per engine
//!
//! A query is split into terms (runs of letters and digits, at most
//! [`MAX_TERMS`]). Every term must match (AND), as a prefix ("metal" finds
//! "Metallica"), regardless of case and accents ("beyonce" finds "Beyoncé").
//! A term of four characters or more that matches nothing is forgiven one
//! typo (an insertion, deletion, substitution or swap of neighbours).
//!
//! - **SQLite**: an FTS5 table `tracks_fts` (tokenizer `unicode61
//!   remove_diacritics 2`) that triggers on `tracks` keep in step, so edits
//!   are searchable at once and no other code path has to remember the
//!   index. Terms become `"term"*` prefix queries. Ranked by `bm25`
//!   with column weights title 10, artist 5, album 2, genre 1. The table
//!   has prefix indexes of one to three characters (`prefix = '1 2 3'`,
//!   about a tenth more index), so a short prefix reads one doclist
//!   instead of merging those of every word it starts. The vocabulary
//!   `search_words` (below) is a plain table that triggers on `tracks` keep
//!   in step, splitting the text with the same tokenizer (migration
//!   `20261205000500_search_words`); `fts5vocab` gave the same words but
//!   walks every doclist of a slice to count tracks (a typo's p99 was 46 ms
//!   at 100k tracks).
//! - **Postgres**: a generated, weighted `tsvector` (`simple` configuration
//!   over `mist_unaccent`, an IMMUTABLE wrapper of `unaccent`; title A,
//!   artist B, album C, genre D) with a GIN index, and the vocabulary
//!   `search_words`: every distinct lexeme of those vectors, with how many
//!   tracks carry it, kept in step by triggers on `tracks` (migration
//!   `20261204000400_search_words`). A term matches as a `term:*` prefix;
//!   corrected, as exact lexemes. Ranked by `ts_rank` against every term's
//!   words, as typed or corrected.
//!   The search statement is not kept prepared: a cached "generic" plan
//!   ignores how many rows a term matches, which is what decides between
//!   ranking the matches and walking an index in order.
//!
//! Typos, the same way on both engines: whether a term of four characters
//! or more is any word's prefix is a range of `search_words`' primary key.
//! When it is none, the words starting with its first or second letter and
//! of the right second or third letter are read ([`CANDIDATES`]: two ranges
//! of the primary key, so the first letter cannot be wrong), those within
//! one edit of the term, or whose prefix is ([`is_correction`]), are its
//! corrections, and [`best_corrections`] keeps the likeliest under a budget
//! of tracks. So a typo is corrected among the words of the catalogue,
//! never by rechecking the text of thousands of tracks. The likeliest
//! correction is always kept: when it alone carries more tracks than the
//! budget (a typo of a common word), the term stands for it and rarer
//! corrections of its kind, and the query's relevance is popularity, as
//! for short prefixes below: ranking every track of a common word is what
//! the budget is there to avoid.
//!
//! On both engines a misspelt term with no correction ends the search before
//! the track query: no track can match every term.
//!
//! A query made only of short terms (fewer than four characters: "ber",
//! "ab c") matches a good part of the catalogue, and ranking every match
//! cost 30–300 ms at 100k tracks. Its relevance is popularity instead (most
//! played first, ties by id; [`TrackQuery::sort`], and likewise a typo of a
//! common word, where the key of the relevance sort holds the plays): the index
//! `(status, play_count DESC, id)` is walked and each row checked against
//! the match (Postgres, whose planner weighs how many rows a term matches),
//! or, on SQLite, the matching ids are taken as a set and the index walked
//! against it when they are at least [`WALK_MATCHES`], else the set is
//! read and sorted. Both give the same order. For a common word's typo
//! both engines choose between the walk and the sort alike
//! ([`walk_plays_index`]: the word's tracks against the catalogue's size),
//! because Postgres's planner walked where sorting was ten times cheaper.
//!
//! Pagination is by keyset: the cursor is the last row's sort key and id,
//! opaque to clients, so every row is listed exactly once however many
//! pages are read. Limits are bounded ([`MAX_LIMIT`](super::page::MAX_LIMIT)).

use super::tracks::TrackRow;
use const_format::concatcp;
use mist_core::api::TrackSort as Sort;

use super::Db;
use super::page::{Cursor, KeyKind, SortKey, split_page};
use crate::with_pool;

/// Terms of a query beyond this many are ignored.
pub const MAX_TERMS: usize = 8;
/// Terms shorter than this are matched as prefixes only, never corrected.
const MIN_TYPO_LEN: usize = 4;

use super::tracks::TRACK_COLUMNS;

/// What `GET /api/v1/tracks` asks for; the cursor is already decoded.
#[derive(Debug, Clone, Default)]
pub struct TrackQuery {
    pub q: Option<String>,
    pub genre: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub sort: Option<Sort>,
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl TrackQuery {
    /// The effective sort: relevance when there is a query, else title.
    /// Relevance over short prefixes only ("ber", "ab c") is popularity: they
    /// match a tenth of a catalogue, too many to rank each, and the most
    /// played of them is what someone still typing most likely wants.
    pub fn sort(&self) -> Sort {
        let terms = self.terms();
        match (self.sort, terms.is_empty()) {
            (Some(Sort::Relevance) | None, true) => Sort::Title,
            (Some(Sort::Relevance) | None, false) if short_only(&terms) => Sort::Popular,
            (None, false) => Sort::Relevance,
            (Some(sort), _) => sort,
        }
    }

    pub fn terms(&self) -> Vec<String> {
        self.q.as_deref().map(terms).unwrap_or_default()
    }

    /// The cursor scope: a cursor is valid only for the same query and sort.
    pub fn scope(&self) -> String {
        let fold = |s: &Option<String>| s.as_deref().map(fold).unwrap_or_default();
        format!(
            "tracks|{:?}|{}|{}|{}|{}",
            self.sort(),
            self.terms().join(" "),
            fold(&self.genre),
            fold(&self.artist),
            fold(&self.album)
        )
    }
}

/// Whether every term is too short to be corrected: a query still being typed.
fn short_only(terms: &[String]) -> bool {
    terms.iter().all(|t| t.chars().count() < MIN_TYPO_LEN)
}

/// A listed track and the key it was sorted by.
#[derive(Debug, sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    track: TrackRow,
    key_text: Option<String>,
    key_int: Option<i64>,
    key_float: Option<f64>,
}

impl ListedRow {
    fn key(&self) -> SortKey {
        match (&self.key_text, self.key_int, self.key_float) {
            (Some(t), _, _) => SortKey::Text(t.clone()),
            (_, Some(i), _) => SortKey::Int(i),
            (_, _, Some(f)) => SortKey::Float(f.to_bits()),
            _ => SortKey::Text(String::new()),
        }
    }
}

/// A value bound to a built query.
#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Int(i64),
    Float(f64),
}

/// Builds SQL with numbered placeholders and the values they stand for.
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Appends a placeholder for `p`.
    fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        let n = self.params.len();
        self.text.push_str(&format!("${n}"));
        self
    }
}

/// Binds every parameter of `$sql` to the query `$q`.
macro_rules! bind_all {
    ($q:expr, $sql:expr) => {{
        let mut q = $q;
        for p in &$sql.params {
            q = match p {
                Param::Text(s) => q.bind(s.clone()),
                Param::Int(i) => q.bind(*i),
                Param::Float(f) => q.bind(*f),
            };
        }
        q
    }};
}

/// The column of the listing's sort key, by its type.
fn key_column(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Text => "key_text",
        KeyKind::Int => "key_int",
        KeyKind::Float => "key_float",
    }
}

/// A sort's key type, and whether it sorts descending (ties: id ascending).
pub fn sort_key(sort: Sort) -> (KeyKind, bool) {
    match sort {
        Sort::Relevance => (KeyKind::Float, true),
        Sort::Title | Sort::Artist => (KeyKind::Text, false),
        Sort::Newest | Sort::Popular => (KeyKind::Int, true),
    }
}

/// One page of ready tracks matching `query`, and the cursor of the next.
/// The cursor's key must be of the sort's [`KeyKind`] (the caller checks).
pub async fn list_tracks(db: &Db, query: &TrackQuery) -> Result<(Vec<TrackRow>, Option<Cursor>), sqlx::Error> {
    let sort = query.sort();
    let terms = query.terms();
    let (kind, descending) = sort_key(sort);
    let postgres_terms = match db {
        Db::Postgres(pool) => postgres_terms(pool, &terms).await?,
        Db::Sqlite(_) => Vec::new(),
    };
    let sqlite_match = match db {
        Db::Sqlite(pool) if !terms.is_empty() => match sqlite_match_expression(pool, &terms).await? {
            Some(m) => Some(m),
            None => return Ok((Vec::new(), None)),
        },
        _ => None,
    };
    // A misspelt term that no word of the catalogue is one edit from: no
    // track can match all the terms.
    if postgres_terms
        .iter()
        .any(|t| t.corrections.as_ref().is_some_and(|c| c.words.is_empty()))
    {
        return Ok((Vec::new(), None));
    }
    // A term corrected to a word too common to rank every track of
    // ([`Corrections::common`]): relevance is popularity, as for short
    // prefixes, a page at a time. Other sorts rank nothing and list the
    // matches as for the word typed right. `by_plays` holds how many tracks
    // the least common such word carries: the query matches at most that many.
    let common = sqlite_match.as_ref().and_then(|m| m.common).into_iter().chain(
        postgres_terms
            .iter()
            .filter_map(|t| t.corrections.as_ref().and_then(|c| c.common)),
    );
    let by_plays = match sort {
        Sort::Relevance => common.min(),
        _ => None,
    };
    let mut sql = Sql::default();

    // The sort key goes in the one column of its type; the others are NULL.
    sql.push(concatcp!("SELECT * FROM (SELECT ", TRACK_COLUMNS, ", "));
    sql.push(match kind {
        KeyKind::Text => "",
        _ => "CAST(NULL AS TEXT) AS key_text, ",
    });
    sql.push(match kind {
        KeyKind::Int => "",
        _ => "CAST(NULL AS BIGINT) AS key_int, ",
    });
    match sort {
        // The key stays a float (what a relevance cursor holds); the plays
        // are exact in it.
        Sort::Relevance if by_plays.is_some() => {
            sql.push("CAST(t.play_count AS DOUBLE PRECISION) AS key_float");
        }
        Sort::Relevance => {
            sql.push("CAST(");
            match db {
                Db::Sqlite(_) => {
                    sql.push("-bm25(tracks_fts, 10.0, 5.0, 2.0, 1.0)");
                }
                Db::Postgres(_) => {
                    // Ranked against every term's words, as typed or corrected.
                    sql.push("ts_rank(t.search_vector, ");
                    let mut first = true;
                    for term in &postgres_terms {
                        if !first {
                            sql.push(" || ");
                        }
                        first = false;
                        term.push_tsquery(&mut sql);
                    }
                    sql.push(")");
                }
            }
            sql.push(" AS DOUBLE PRECISION) AS key_float");
        }
        Sort::Title => {
            sql.push("lower(t.title) AS key_text, CAST(NULL AS DOUBLE PRECISION) AS key_float");
        }
        Sort::Artist => {
            sql.push("lower(coalesce(t.artist, '')) AS key_text, CAST(NULL AS DOUBLE PRECISION) AS key_float");
        }
        Sort::Newest => {
            sql.push("t.created_at AS key_int, CAST(NULL AS DOUBLE PRECISION) AS key_float");
        }
        Sort::Popular => {
            sql.push("t.play_count AS key_int, CAST(NULL AS DOUBLE PRECISION) AS key_float");
        }
    }

    match (db, sqlite_match) {
        (db, m) if let Some(matches) = by_plays => {
            // A page of the matches, most played first, after the cursor,
            // as a set of ids: the outer query's key is an expression of
            // `play_count`, which no index order serves.
            let walk = walk_plays_index(db, matches, query.limit + 1).await?;
            sql.push(" FROM tracks t WHERE t.id IN (SELECT t.id");
            match (db, m) {
                (Db::Sqlite(_), Some(m)) => push_sqlite_matches(&mut sql, &m.expr, walk),
                _ => {
                    sql.push(" FROM tracks t WHERE TRUE");
                    push_postgres_match(&mut sql, &terms, &postgres_terms);
                }
            }
            push_filters(&mut sql, query);
            if let Some(after) = &query.after {
                let plays = key_param(&after.key);
                sql.push(" AND (t.play_count < ")
                    .bind(plays.clone())
                    .push(" OR (t.play_count = ")
                    .bind(plays)
                    .push(" AND t.id > ")
                    .bind(Param::Text(after.id.clone()))
                    .push("))");
            }
            // `+ 0`: no index serves the order, so Postgres sorts the
            // matches; its planner otherwise walks the plays index whenever
            // it expects a page soon, which at 1M tracks and 2,000 matches
            // (10,000 rows read and rechecked) took 50–120 ms against 5.
            sql.push(if walk {
                " ORDER BY t.play_count DESC, t.id ASC LIMIT "
            } else {
                " ORDER BY t.play_count + 0 DESC, t.id ASC LIMIT "
            })
            .bind(Param::Int(query.limit + 1))
            .push(")");
        }
        (Db::Sqlite(_), Some(m)) if sort == Sort::Relevance => {
            sql.push(
                // CROSS JOIN fixes the join order: the full-text index drives,
                // instead of the planner running the MATCH once per track.
                " FROM tracks_fts CROSS JOIN track_search_ids m ON m.rowid = tracks_fts.rowid \
                 CROSS JOIN tracks t ON t.id = m.track_id WHERE tracks_fts MATCH ",
            )
            .bind(Param::Text(m.expr));
        }
        (Db::Sqlite(pool), Some(m)) => {
            // No rank to read from the index: the matches as a set.
            let walk = short_only(&terms) && sqlite_matches_at_least(pool, &m.expr, WALK_MATCHES).await?;
            push_sqlite_matches(&mut sql, &m.expr, walk);
        }
        (Db::Postgres(_), _) if !terms.is_empty() => {
            sql.push(" FROM tracks t WHERE TRUE");
            push_postgres_match(&mut sql, &terms, &postgres_terms);
        }
        _ => {
            sql.push(" FROM tracks t WHERE TRUE");
        }
    }
    push_filters(&mut sql, query);
    sql.push(") s");
    let column = key_column(kind);
    if let Some(after) = &query.after {
        let cmp = if descending { "<" } else { ">" };
        let at = sql.params.len() + 1;
        sql.params.push(key_param(&after.key));
        sql.push(&format!(" WHERE ({column} {cmp} ${at} OR ({column} = ${at} AND id > "))
            .bind(Param::Text(after.id.clone()))
            .push("))");
    }
    let direction = if descending { "DESC" } else { "ASC" };
    sql.push(&format!(" ORDER BY {column} {direction}, id ASC LIMIT "))
        .bind(Param::Int(query.limit + 1));

    let rows: Vec<ListedRow> = with_pool!(db, pool => {
        // A search is not a prepared statement kept for reuse: Postgres
        // would soon plan it once for any term ("generic"), where how many
        // rows a term matches decides between walking an index in order
        // and ranking.
        bind_all!(sqlx::query_as::<_, ListedRow>(sqlx::AssertSqlSafe(sql.text.clone())), sql)
            .persistent(terms.is_empty())
            .fetch_all(pool)
            .await
    })?;
    Ok(page(rows, query.limit, &query.scope()))
}

/// A cursor's sort key as a parameter.
fn key_param(key: &SortKey) -> Param {
    match key {
        SortKey::Text(t) => Param::Text(t.clone()),
        SortKey::Int(i) => Param::Int(*i),
        SortKey::Float(bits) => Param::Float(f64::from_bits(*bits)),
    }
}

fn page(rows: Vec<ListedRow>, limit: i64, scope: &str) -> (Vec<TrackRow>, Option<Cursor>) {
    let (rows, next) = split_page(rows, limit, |r| Cursor {
        scope: scope.to_owned(),
        key: r.key(),
        id: r.track.id.clone(),
    });
    (rows.into_iter().map(|r| r.track).collect(), next)
}

/// Appends ` FROM tracks t … WHERE …`, the tracks matching the FTS5
/// expression `expr` (`t`, with `m` their full-text rowids), for an order
/// read off `t`. `walk`: walk the plays index, checking each track against
/// the set of matching rowids (many matches: a page is found soon); else
/// the matches drive and are sorted after.
fn push_sqlite_matches(sql: &mut Sql, expr: &str, walk: bool) {
    if walk {
        // The set is of full-text rowids, read straight off the index (a
        // prefix index since 20261204000400), not of track ids joined row
        // by row; `+` keeps it from being used as an index key (one probe
        // per member per row walked).
        sql.push(
            " FROM tracks t CROSS JOIN track_search_ids m ON m.track_id = t.id \
             WHERE +m.rowid IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ",
        )
        .bind(Param::Text(expr.to_owned()))
        .push(")");
    } else {
        // CROSS JOIN: the matches drive; the planner would otherwise walk
        // the plays index for an ORDER BY on `t` whatever the set's size.
        sql.push(
            " FROM tracks_fts CROSS JOIN track_search_ids m ON m.rowid = tracks_fts.rowid \
             CROSS JOIN tracks t ON t.id = m.track_id WHERE tracks_fts MATCH ",
        )
        .bind(Param::Text(expr.to_owned()));
    }
}

/// Appends every term's condition on `t` ([`PgTerm::push_tsquery`]).
fn push_postgres_match(sql: &mut Sql, terms: &[String], postgres_terms: &[PgTerm]) {
    let any_long = !short_only(terms);
    for term in postgres_terms {
        // A short prefix beside a longer term is checked on the rows
        // the longer one finds (`IS TRUE` is no index condition),
        // never looked up in the index: merging its posting lists (a
        // tenth of the catalogue) cost more than the rows to check
        // (at 1M tracks, "maror ma": 28 ms in the index, 0.9 without).
        let filter_only = any_long && term.folded.chars().count() < MIN_TYPO_LEN;
        sql.push(" AND (t.search_vector @@ (");
        term.push_tsquery(sql);
        sql.push(if filter_only { ")) IS TRUE" } else { "))" });
    }
}

/// Appends the conditions every listed track meets besides the terms: ready,
/// and the genre, artist and album filters (case-insensitive).
fn push_filters(sql: &mut Sql, query: &TrackQuery) {
    sql.push(" AND t.status = 'ready'");
    for (column, value) in [
        ("genre", &query.genre),
        ("artist", &query.artist),
        ("album", &query.album),
    ] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            sql.push(&format!(" AND lower(t.{column}) = lower("))
                .bind(Param::Text(v.to_owned()))
                .push(")");
        }
    }
}

/// Whether the first `rows` of `matches` tracks by plays are found sooner by
/// walking the plays index, checking each track, than by sorting every
/// match: a walk reads about `rows × catalogue / matches` tracks, the sort
/// `matches`, so walk when `matches² ≥ rows × catalogue` (at a million
/// tracks and a page of 21, about 4,600 matches). The catalogue's size is
/// an estimate: SQLite's largest full-text rowid (never below the number of
/// tracks), Postgres's row estimate (none before the table was first
/// analysed: then walk, where the planner may still choose to sort).
async fn walk_plays_index(db: &Db, matches: i64, rows: i64) -> Result<bool, sqlx::Error> {
    let catalogue: Option<i64> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT max(rowid) FROM track_search_ids")
                .fetch_one(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = 'tracks'::regclass")
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(match catalogue.filter(|n| *n > 0) {
        Some(n) => matches.saturating_mul(matches) >= rows.saturating_mul(n),
        None => true,
    })
}

/// A short-prefix query on SQLite walks the plays index only when it matches
/// at least this many tracks; fewer are read as a set and sorted. A walk
/// reads tracks / matches index entries per row of a page, so for a prefix
/// that matches few tracks or none (a typo of a four-letter word leaves
/// three letters) it read the whole index: 30-80 ms at 100k tracks, against
/// 1 ms for the set.
const WALK_MATCHES: i64 = 2000;

/// Whether the FTS5 expression `expr` matches at least `n` tracks (reads at
/// most `n` rowids off the index).
async fn sqlite_matches_at_least(pool: &sqlx::SqlitePool, expr: &str, n: i64) -> Result<bool, sqlx::Error> {
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM tracks_fts WHERE tracks_fts MATCH $1 LIMIT $2)")
            .bind(expr)
            .bind(n)
            .fetch_one(pool)
            .await?;
    Ok(count >= n)
}

/// The FTS5 expression of a query's terms, and whether a term stands for a
/// word too common to rank every track of ([`Corrections::common`]): the
/// fewest tracks such a word carries.
struct SqliteMatch {
    expr: String,
    common: Option<i64>,
}

/// The FTS5 expression for `terms`: each a quoted prefix query, or, when it
/// is no word's prefix, the vocabulary terms one edit away. `None` when a
/// term is neither: nothing can match.
async fn sqlite_match_expression(
    pool: &sqlx::SqlitePool,
    terms: &[String],
) -> Result<Option<SqliteMatch>, sqlx::Error> {
    let mut parts = Vec::new();
    let mut common: Option<i64> = None;
    for term in terms {
        let folded = fold(term);
        let mut alternatives = vec![format!("\"{folded}\"*")];
        if folded.chars().count() >= MIN_TYPO_LEN {
            let upper = format!("{folded}\u{10FFFF}");
            let known: Option<String> =
                sqlx::query_scalar("SELECT word FROM search_words WHERE word >= $1 AND word < $2 LIMIT 1")
                    .bind(&folded)
                    .bind(&upper)
                    .fetch_optional(pool)
                    .await?;
            if known.is_none() {
                let corrections = typo_candidates(pool, &folded).await?;
                if let Some(tracks) = corrections.common {
                    common = Some(common.map_or(tracks, |c| c.min(tracks)));
                }
                alternatives = corrections
                    .words
                    .into_iter()
                    .map(|candidate| format!("\"{candidate}\""))
                    .collect();
                if alternatives.is_empty() {
                    return Ok(None);
                }
            }
        }
        parts.push(format!("({})", alternatives.join(" OR ")));
    }
    Ok(Some(SqliteMatch {
        expr: parts.join(" AND "),
        common,
    }))
}

/// A query term on Postgres, folded, and the vocabulary words it stands for
/// when it is no word's prefix (a typo); `None` when it matches as typed.
struct PgTerm {
    folded: String,
    corrections: Option<Corrections>,
}

impl PgTerm {
    /// Appends the tsquery this term matches: `term:*` as typed, else its
    /// corrections as exact words.
    fn push_tsquery(&self, sql: &mut Sql) {
        match &self.corrections {
            // The terms are runs of letters and digits (see `terms`), so
            // `term:*` is always a valid tsquery.
            None => sql
                .push("to_tsquery('simple', mist_unaccent(")
                .bind(Param::Text(format!("{}:*", self.folded)))
                .push("))"),
            // Vocabulary words are lexemes already: quoted, cast as they
            // are, never parsed again (a lexeme may hold `-` or `/`).
            Some(corrections) => sql
                .push("CAST(")
                .bind(Param::Text(tsquery_any(&corrections.words)))
                .push(" AS tsquery)"),
        };
    }
}

/// A tsquery literal matching any of `words`, each quoted as a lexeme.
fn tsquery_any(words: &[String]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''")))
        .collect();
    quoted.join(" | ")
}

/// Folds `terms` and finds, in one round trip, which of those long enough
/// to be corrected are no word's prefix (a range of the vocabulary's
/// primary key each), then the corrections of those.
async fn postgres_terms(pool: &sqlx::PgPool, terms: &[String]) -> Result<Vec<PgTerm>, sqlx::Error> {
    let folded: Vec<String> = terms.iter().map(|t| fold(t)).collect();
    let long: Vec<String> = folded
        .iter()
        .filter(|t| t.chars().count() >= MIN_TYPO_LEN)
        .cloned()
        .collect();
    let mut unknown = Vec::new();
    if !long.is_empty() {
        // Folded as the lexemes are (`simple` lower-cases): U+10FFFF sorts
        // after every character in byte order.
        let sql = "SELECT p FROM unnest($1::text[]) AS p WHERE NOT EXISTS \
                   (SELECT 1 FROM search_words WHERE word >= lower(mist_unaccent(p)) \
                    AND word < lower(mist_unaccent(p)) || chr(1114111))";
        unknown = sqlx::query_scalar::<_, String>(sql).bind(&long).fetch_all(pool).await?;
    }
    let mut out = Vec::with_capacity(folded.len());
    for term in folded {
        let corrections = match unknown.contains(&term) {
            true => Some(match candidate_binds(&term) {
                Some(binds) => best_corrections(
                    &term,
                    binds
                        .iter()
                        .fold(sqlx::query_as(CANDIDATES), |q, b| q.bind(b))
                        .fetch_all(pool)
                        .await?,
                ),
                None => Corrections::default(),
            }),
            false => None,
        };
        out.push(PgTerm {
            folded: term,
            corrections,
        });
    }
    Ok(out)
}

/// Corrections kept for a misspelt term at most: a four-letter term can
/// have a hundred.
const MAX_CORRECTIONS: usize = 16;
/// Tracks the corrections of a misspelt term may carry together: every
/// track they match is ranked, and ranking a thousand took ~9 ms on SQLite
/// at 100k tracks (16 alternatives per row), thousands 15–45 ms; with 500
/// a typo's p50 was 14 ms there, with 200 9 ms (bench/RESULTS.md).
const CORRECTION_TRACKS: i64 = 200;

/// The words a misspelt term stands for ([`best_corrections`]).
#[derive(Debug, Default, PartialEq)]
struct Corrections {
    words: Vec<String>,
    /// The one word kept carries more than [`CORRECTION_TRACKS`] tracks
    /// (this many), too many to rank: a query with this term sorted by
    /// relevance lists its matches most played first (ties by id), a page at
    /// a time, as a query of short prefixes does.
    common: Option<i64>,
}

/// How `word` corrects the typed term: `Some(true)` within one edit of it,
/// `Some(false)` when only its prefix of the term's length is (a typo in a
/// word still being typed), `None` when it is no correction.
fn is_correction(typed: &[char], word: &str) -> Option<bool> {
    let word: Vec<char> = word.chars().collect();
    if within_one_edit(typed, &word) {
        Some(true)
    } else if word.len() > typed.len() && within_one_edit(typed, &word[..typed.len()]) {
        Some(false)
    } else {
        None
    }
}

/// The corrections of `folded` among vocabulary words and how many tracks
/// carry each, likeliest first: whole-word corrections before those of a
/// prefix, then the most used. The likeliest is always kept; the next
/// likeliest follow while the tracks they carry together stay within
/// [`CORRECTION_TRACKS`] (those that would take it over are skipped), at
/// most [`MAX_CORRECTIONS`] in all.
///
/// When the likeliest alone carries more than the budget, the term is a
/// typo of a common word ("maor" at a million tracks, where "moor" carries
/// 1,899 tracks): it is kept, marked [`common`](Corrections::common), and
/// only corrections of its kind follow it (whole words one edit away, as
/// plausible: "drakwen" is "drawen" or "drakewen"), never the rarer kind
/// ("moormar", "moorya", whose beginning only is one edit away, which
/// main's budget kept instead). Their tracks are then listed most played
/// first instead of ranked, which costs a page of the plays index or a
/// sort of the matches, however many (see `list_tracks`). (Weighing the
/// budget by the catalogue's size instead would still leave the likeliest
/// word out wherever it carries more than its share, and rank all of a
/// larger budget.) The same choice on both engines.
fn best_corrections(folded: &str, words: impl IntoIterator<Item = (String, i64)>) -> Corrections {
    let typed: Vec<char> = folded.chars().collect();
    let mut found: Vec<(bool, i64, String)> = words
        .into_iter()
        .filter_map(|(word, tracks)| is_correction(&typed, &word).map(|whole| (whole, tracks, word)))
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then_with(|| a.2.cmp(&b.2)));
    let mut found = found.into_iter();
    let Some((whole, tracks, likeliest)) = found.next() else {
        return Corrections::default();
    };
    let common = (tracks > CORRECTION_TRACKS).then_some(tracks);
    let mut carried = if common.is_some() { 0 } else { tracks };
    let mut kept = vec![likeliest];
    for (other_whole, tracks, word) in found {
        if kept.len() == MAX_CORRECTIONS || (common.is_some() && other_whole != whole) {
            break;
        }
        if carried + tracks <= CORRECTION_TRACKS {
            carried += tracks;
            kept.push(word);
        }
    }
    Corrections { words: kept, common }
}

/// The vocabulary words that may correct a misspelt term, and how many
/// tracks carry each (`$1`..`$5` from [`candidate_binds`]; the same on both
/// engines): those starting with its first or second letter, two ranges of
/// `search_words`' primary key, and of those only the ones whose second
/// letter is one of the term's first three, or whose third is its second or
/// third. Every correction ([`is_correction`]) has that shape: a word
/// starting with the first letter has the edit after it (at the second
/// letter, the word's second or third letter is the term's second or
/// third; later, its second is the term's second); one starting with the
/// second letter has the edit at the first (an extra first letter typed,
/// or the first two swapped), and its second letter is the term's first,
/// second or third. So the first letter cannot be wrong, which keeps the
/// read to a slice of the vocabulary, and about half of the slice is left
/// in the database. At most [`CORRECTION_CANDIDATES`] (a flood of
/// look-alike words stays bounded).
const CANDIDATES: &str = concatcp!(
    "SELECT word, tracks FROM search_words \
     WHERE ((word >= $1 AND word < $2) OR (word >= $3 AND word < $4)) \
     AND (substr(word, 2, 1) IN ($1, $3, $5) OR substr(word, 3, 1) IN ($3, $5)) LIMIT ",
    CORRECTION_CANDIDATES
);
/// Candidate words read for a misspelt term at most.
const CORRECTION_CANDIDATES: i64 = 20_000;

/// The parameters of [`CANDIDATES`] for `folded`: its first letter and the
/// one after it, its second and the one after, its third. `None` for a term
/// too short to be corrected ([`MIN_TYPO_LEN`]).
fn candidate_binds(folded: &str) -> Option<[String; 5]> {
    let chars: Vec<char> = folded.chars().collect();
    let [first, second, third, _, ..] = chars[..] else {
        return None;
    };
    let next = |c: char| char::from_u32(c as u32 + 1).unwrap_or(char::MAX).to_string();
    Some([
        first.to_string(),
        next(first),
        second.to_string(),
        next(second),
        third.to_string(),
    ])
}

/// Vocabulary words `folded` is a typo of ([`best_corrections`] among
/// [`CANDIDATES`]).
async fn typo_candidates(pool: &sqlx::SqlitePool, folded: &str) -> Result<Corrections, sqlx::Error> {
    let Some(binds) = candidate_binds(folded) else {
        return Ok(Corrections::default());
    };
    let words = binds
        .iter()
        .fold(sqlx::query_as(CANDIDATES), |q, b| q.bind(b))
        .fetch_all(pool)
        .await?;
    Ok(best_corrections(folded, words))
}

/// Splits a query into terms: runs of letters and digits, at most
/// [`MAX_TERMS`] of at most 64 characters.
pub fn terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(MAX_TERMS)
        .map(|t| t.chars().take(64).collect())
        .collect()
}

/// Lower case without diacritics, as the search indexes store terms
/// (unicode61 `remove_diacritics 2`, `unaccent`), for the Latin letters
/// that carry them; other characters are only lower-cased.
pub fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).map(strip_diacritic).collect()
}

fn strip_diacritic(c: char) -> char {
    const TABLE: &[(&str, char)] = &[
        ("àáâãäåāăą", 'a'),
        ("çćĉċč", 'c'),
        ("ďđ", 'd'),
        ("èéêëēĕėęě", 'e'),
        ("ĝğġģ", 'g'),
        ("ĥħ", 'h'),
        ("ìíîïĩīĭįı", 'i'),
        ("ĵ", 'j'),
        ("ķ", 'k'),
        ("ĺļľŀł", 'l'),
        ("ñńņňŉ", 'n'),
        ("òóôõöøōŏő", 'o'),
        ("ŕŗř", 'r'),
        ("śŝşšș", 's'),
        ("ţťŧț", 't'),
        ("ùúûüũūŭůűų", 'u'),
        ("ŵ", 'w'),
        ("ýÿŷ", 'y'),
        ("źżž", 'z'),
    ];
    if c.is_ascii() {
        return c;
    }
    TABLE.iter().find(|(from, _)| from.contains(c)).map_or(c, |(_, to)| *to)
}

/// True when `a` and `b` differ by at most one insertion, deletion,
/// substitution or swap of neighbouring characters.
pub fn within_one_edit(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        if prefix == short.len() {
            return true;
        }
        // One substitution, or a swap of neighbours.
        let substituted = short[prefix + 1..] == long[prefix + 1..];
        let swapped = prefix + 1 < short.len()
            && short[prefix] == long[prefix + 1]
            && short[prefix + 1] == long[prefix]
            && short[prefix + 2..] == long[prefix + 2..];
        substituted || swapped
    } else {
        // One character of `long` dropped at the first difference.
        short[prefix..] == long[prefix + 1..]
    }
}

/// `GET /api/v1/genres`: a name and how many ready tracks carry it
/// (case-insensitively grouped), in name order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NameCount {
    pub name: String,
    pub key: String,
    pub track_count: i64,
}

/// One page of genres, after the key `after` (the lower-cased name).
pub async fn list_genres(
    db: &Db,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<NameCount>, Option<String>), sqlx::Error> {
    let sql = "SELECT MIN(genre) AS name, lower(genre) AS key, COUNT(*) AS track_count FROM tracks \
               WHERE status = 'ready' AND genre IS NOT NULL AND genre <> '' AND ($1 IS NULL OR lower(genre) > $1) \
               GROUP BY lower(genre) ORDER BY lower(genre) LIMIT $2";
    let rows: Vec<NameCount> = with_pool!(db, pool => {
        sqlx::query_as::<_, NameCount>(sql).bind(after).bind(limit + 1).fetch_all(pool).await
    })?;
    Ok(split_page(rows, limit, |r| r.key.clone()))
}

/// One page of the tracks with the most completed plays since `since_ms`.
pub async fn popular(
    db: &Db,
    since_ms: i64,
    after: Option<&Cursor>,
    limit: i64,
    scope: &str,
) -> Result<(Vec<(TrackRow, i64)>, Option<Cursor>), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        track: TrackRow,
        plays: i64,
    }
    let sql = concatcp!(
        "SELECT ",
        TRACK_COLUMNS,
        ", p.plays FROM (SELECT track_id, COUNT(*) AS plays FROM playback_sessions \
         WHERE play_counted = TRUE AND completed_at >= $1 GROUP BY track_id) p \
         JOIN tracks t ON t.id = p.track_id WHERE t.status = 'ready' \
         AND ($2 IS NULL OR p.plays < $2 OR (p.plays = $2 AND t.id > $3)) \
         ORDER BY p.plays DESC, t.id ASC LIMIT $4"
    );
    let (key, id) = match after {
        Some(Cursor {
            key: SortKey::Int(k),
            id,
            ..
        }) => (Some(*k), Some(id.clone())),
        _ => (None, None),
    };
    let rows: Vec<Row> = with_pool!(db, pool => {
        sqlx::query_as::<_, Row>(sql).bind(since_ms).bind(key).bind(id).bind(limit + 1).fetch_all(pool).await
    })?;
    let (rows, next) = split_page(rows, limit, |r| Cursor {
        scope: scope.to_owned(),
        key: SortKey::Int(r.plays),
        id: r.track.id.clone(),
    });
    Ok((rows.into_iter().map(|r| (r.track, r.plays)).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_edit(a: &str, b: &str, expected: bool) {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        assert_eq!(within_one_edit(&a, &b), expected, "{a:?} {b:?}");
        assert_eq!(within_one_edit(&b, &a), expected, "{b:?} {a:?}");
    }

    #[test]
    fn one_edit() {
        check_edit("metalica", "metallica", true);
        check_edit("metallica", "metallica", true);
        check_edit("metallcia", "metallica", true);
        check_edit("metellica", "metallica", true);
        check_edit("metalic", "metallica", false);
        check_edit("mteallica", "metallica", true);
        check_edit("abcd", "badc", false);
        check_edit("", "a", true);
    }

    #[test]
    fn corrections_prefer_whole_words_the_most_used_and_stay_in_budget() {
        let words =
            |list: &[(&str, i64)]| -> Vec<(String, i64)> { list.iter().map(|(w, n)| (w.to_string(), *n)).collect() };
        let kept = |words: &[&str]| Corrections {
            words: words.iter().map(|w| w.to_string()).collect(),
            common: None,
        };
        // Whole-word corrections before corrections of a prefix, then the most used.
        let found = best_corrections(
            "maor",
            words(&[("marorka", 90), ("mayor", 5), ("major", 40), ("zzzz", 1)]),
        );
        assert_eq!(found, kept(&["major", "mayor", "marorka"]));
        // Over the budget together: the ones that still fit are kept.
        let budget = CORRECTION_TRACKS;
        let found = best_corrections(
            "maor",
            words(&[
                ("major", budget * 4 / 5),
                ("manor", budget * 3 / 5),
                ("mayor", budget / 10),
            ]),
        );
        assert_eq!(found, kept(&["major", "mayor"]));
        // The likeliest carries more than the budget alone: it is kept, and
        // common, never traded for rare look-alikes that would fit.
        let found = best_corrections(
            "maor",
            words(&[
                ("major", budget * 8),
                ("manor", budget * 6),
                ("moorya", 1),
                ("mairuk", 2),
            ]),
        );
        assert_eq!(
            found,
            Corrections {
                words: vec!["major".into()],
                common: Some(budget * 8)
            }
        );
        // Rarer whole words follow it within the budget; look-alikes of a
        // prefix do not.
        let found = best_corrections(
            "maor",
            words(&[("major", budget * 8), ("moorya", 1), ("mayor", 5), ("manor", budget)]),
        );
        assert_eq!(
            found,
            Corrections {
                words: vec!["major".into(), "manor".into()],
                common: Some(budget * 8)
            }
        );
        // Among prefix corrections alone, the most used too.
        let found = best_corrections("maor", words(&[("moorya", budget * 2), ("mairuk", 2)]));
        assert_eq!(
            found,
            Corrections {
                words: vec!["moorya".into(), "mairuk".into()],
                common: Some(budget * 2)
            }
        );
        assert_eq!(best_corrections("maor", words(&[("zzzz", 1)])), kept(&[]));
    }

    #[test]
    fn folding_and_terms() {
        assert_eq!(fold("Beyoncé"), "beyonce");
        assert_eq!(fold("ŁÓDŹ"), "lodz");
        assert_eq!(terms("  AC/DC — Back in Black!"), ["AC", "DC", "Back", "in", "Black"]);
        assert_eq!(terms("a b c d e f g h i j").len(), MAX_TERMS);
    }
}
