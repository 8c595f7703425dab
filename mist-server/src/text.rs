//! The one gate for text a user or a file puts in the catalogue: track
//! fields given at upload `complete` and by `PATCH`, tags read from files at
//! ingest, playlist names and descriptions, upload file names and content
//! types. What counts as unsafe is [`mist_core::text`]'s rule (control and
//! bidi-override characters); this module holds the server's limits and
//! says what is wrong ([`FieldError`], which the API answers with a 422).
//!
//! The API refuses (the sender can fix their request); ingest strips (a
//! file's tags are nobody's request to answer). Usernames are ASCII by
//! their own rule (`accounts::Username`) and emails go through
//! `accounts::Email`, which applies [`mist_core::text::is_unsafe`] too.

use mist_core::text::{self, Lines, TextError};

/// A refused field: the message names the field and says what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

type FieldResult<T> = Result<T, FieldError>;

/// Longest title, artist, album or genre, in characters.
pub const MAX_TRACK_FIELD_CHARS: usize = 200;
/// Longest playlist name.
pub const MAX_PLAYLIST_NAME_CHARS: usize = 200;
/// Longest playlist description (the one multi-line field).
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Longest upload file name.
pub const MAX_FILENAME_CHARS: usize = 255;

/// A trimmed one-line field of at most `max_chars`, or a 422 naming it.
/// Emptiness is the caller's rule.
pub fn line<'a>(name: &str, value: &'a str, max_chars: usize) -> FieldResult<&'a str> {
    text::check(value, max_chars, Lines::One).map_err(|e| refusal(name, e))
}

/// As [`line`], for a field where line breaks are allowed.
pub fn multi_line<'a>(name: &str, value: &'a str, max_chars: usize) -> FieldResult<&'a str> {
    text::check(value, max_chars, Lines::Many).map_err(|e| refusal(name, e))
}

/// An optional track field (`title`, `artist`, …) as given by a client:
/// `None` when absent or blank, else checked.
pub fn track_field<'a>(name: &str, value: Option<&'a str>) -> FieldResult<Option<&'a str>> {
    match value {
        None => Ok(None),
        Some(v) => Ok(Some(line(name, v, MAX_TRACK_FIELD_CHARS)?).filter(|v| !v.is_empty())),
    }
}

/// A tag read from a file, cleaned for the catalogue (see [`text::strip`]).
pub fn tag(value: Option<&str>) -> Option<String> {
    value.and_then(|v| text::strip(v, MAX_TRACK_FIELD_CHARS))
}

fn refusal(name: &str, err: TextError) -> FieldError {
    FieldError(format!("{name} {err}"))
}

/// An upload's declared media type, normalised: `type/subtype` of RFC 9110
/// token characters, lower-cased, no parameters; empty means
/// `application/octet-stream`. It is signed into the S3 PUT and stored, so
/// anything else is refused rather than repaired.
pub fn content_type(raw: &str) -> FieldResult<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok("application/octet-stream".to_owned());
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    match value.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) => Ok(value.to_ascii_lowercase()),
        _ => Err(FieldError(
            "content_type must be a media type such as audio/mpeg (type/subtype, no parameters)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let ok = |raw: &str, want: &str| assert_eq!(content_type(raw).expect(raw), want, "{raw:?}");
        ok("audio/mpeg", "audio/mpeg");
        ok(" Audio/FLAC ", "audio/flac");
        ok("audio/x-m4a", "audio/x-m4a");
        ok("application/vnd.some+thing", "application/vnd.some+thing");
        ok("", "application/octet-stream");
        for bad in [
            "audio",
            "audio/",
            "/mpeg",
            "audio/mpeg; codecs=mp3",
            "audio/mp\u{1b}eg",
            "audio/mpeg\r\nx-amz-acl: public-read",
            "audio/mpég",
            "a/b/c",
            &format!("audio/{}", "x".repeat(200)),
        ] {
            assert!(content_type(bad).is_err(), "{bad:?} refused");
        }
    }

    #[test]
    fn track_fields() {
        assert_eq!(track_field("title", None).ok(), Some(None));
        assert_eq!(track_field("title", Some("  ")).ok(), Some(None));
        assert_eq!(track_field("title", Some(" So What ")).ok(), Some(Some("So What")));
        let err = track_field("artist", Some("\u{1b}]52;c;eA==\u{7}")).unwrap_err();
        let answer = crate::http::error::ApiError::from(err.clone());
        assert_eq!(answer.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.to_string().starts_with("artist "), "{err}");
        assert!(track_field("album", Some(&"x".repeat(201))).is_err());
    }

    #[test]
    fn tags_are_stripped_and_cut() {
        assert_eq!(tag(Some("\u{1b}[2JTitle")).as_deref(), Some("[2JTitle"));
        assert_eq!(tag(Some(&"a".repeat(300_000))).map(|t| t.len()), Some(200));
        assert_eq!(tag(Some("\u{202E}")), None);
        assert_eq!(tag(None), None);
    }
}
