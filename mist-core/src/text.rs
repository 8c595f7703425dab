//! Text that crosses a trust boundary: catalogue fields a user or a file
//! wrote, shown later on someone else's terminal.
//!
//! One definition of "unsafe" serves both ends. The server refuses it
//! ([`check`], a 422 from the API) or removes it from tags read out of files
//! ([`strip`]); clients neutralise it wherever they print or draw something
//! that came from the server ([`neutralise`], [`json_safe`]), so a hostile
//! title already in a database, or a server that does not check, still
//! cannot drive the terminal.
//!
//! Unsafe characters are the control characters (Unicode `Cc`: C0, DEL and
//! C1, so ESC, CSI, OSC and BEL are all in) and the bidirectional
//! embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
//! reorder what is shown around them ("Trojan Source"). Everything else,
//! accents, CJK, emoji, zero-width joiners, is ordinary text.

use std::borrow::Cow;

/// True for a character that must never reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The explicit bidirectional formatting characters that override or
/// isolate the direction of the text around them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Why a piece of text was refused by [`check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is longer than {max_chars} characters")]
    TooLong { max_chars: usize },
    /// The character, written as `U+XXXX` by the message.
    #[error("contains a control or bidirectional-override character (U+{:04X})", *.0 as u32)]
    Unsafe(char),
}

/// Whether a field may span lines: `\n` is then its one allowed control
/// character (a playlist description). Titles and names are one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// The value trimmed, if it has no unsafe character and at most `max_chars`
/// characters (counted after trimming). Emptiness is the caller's rule.
pub fn check(value: &str, max_chars: usize, lines: Lines) -> Result<&str, TextError> {
    let value = value.trim();
    if let Some(c) = value
        .chars()
        .find(|&c| is_unsafe(c) && !(lines == Lines::Many && c == '\n'))
    {
        return Err(TextError::Unsafe(c));
    }
    if value.chars().count() > max_chars {
        return Err(TextError::TooLong { max_chars });
    }
    Ok(value)
}

/// What a tag read from a file becomes: unsafe characters removed (a tab or
/// a line break becomes a space, so words stay apart), trimmed and cut to
/// `max_chars`. `None` when nothing is left. Tags are the file's, not the
/// uploader's words, so they are cleaned rather than refused.
pub fn strip(value: &str, max_chars: usize) -> Option<String> {
    let cleaned: String = value
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if is_unsafe(c) => None,
            c => Some(c),
        })
        .collect();
    let cut: String = cleaned.trim().chars().take(max_chars).collect();
    let cut = cut.trim_end();
    (!cut.is_empty()).then(|| cut.to_owned())
}

/// The text with every unsafe character made visible and harmless, for a
/// terminal: C0 controls and DEL become their Unicode control pictures
/// (ESC is shown as `␛`), C1 controls and bidi controls become `�`. Nothing
/// is removed, so what was sent stays recognisable; nothing is allocated for
/// text that is already safe.
pub fn neutralise(value: &str) -> Cow<'_, str> {
    if !value.chars().any(is_unsafe) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(value.chars().map(shown).collect())
}

fn shown(c: char) -> char {
    match c {
        // U+2400..U+241F are the pictures of U+0000..U+001F, U+2421 of DEL.
        '\0'..='\u{1F}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'),
        '\u{7F}' => '\u{2421}',
        c if is_unsafe(c) => '\u{FFFD}',
        c => c,
    }
}

/// Serialised JSON made safe to print: serde_json escapes C0 controls inside
/// strings, but writes DEL, C1 and bidi controls raw. Those can only occur
/// inside strings, so escaping each as `\uXXXX` keeps the document valid and
/// its values unchanged (`--json` still prints the API's own objects). The
/// whitespace between tokens (a pretty-printed document's line breaks) stays.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    let raw = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of character the module is about, with a name for messages.
    const HOSTILE: &[(&str, &str)] = &[
        ("NUL", "a\u{0}b"),
        ("ESC clear screen", "\u{1b}[2J\u{1b}[H"),
        ("OSC 52 clipboard", "\u{1b}]52;c;aGk=\u{7}"),
        ("OSC window title", "\u{1b}]0;pwned\u{7}"),
        ("BEL", "x\u{7}"),
        ("newline", "line\nbreak"),
        ("carriage return", "over\rwrite"),
        ("tab", "a\tb"),
        ("DEL", "a\u{7f}"),
        ("C1 CSI", "\u{9b}2J"),
        ("C1 OSC", "\u{9d}0;t\u{9c}"),
        ("RLO", "evil\u{202E}3pm.exe"),
        ("LRE", "\u{202A}x"),
        ("PDF", "x\u{202C}"),
        ("LRI", "\u{2066}x\u{2069}"),
        ("FSI", "\u{2068}x"),
    ];

    #[test]
    fn every_hostile_sample_is_refused_stripped_and_neutralised() {
        for (name, sample) in HOSTILE {
            assert!(check(sample, 100, Lines::One).is_err(), "{name} refused");
            let stripped = strip(sample, 100).unwrap_or_default();
            assert!(!stripped.chars().any(is_unsafe), "{name} stripped: {stripped:?}");
            let shown = neutralise(sample);
            assert!(!shown.chars().any(is_unsafe), "{name} neutralised: {shown:?}");
            assert!(!shown.contains('\u{1b}'), "{name}");
            let json = serde_json::to_string(sample).expect("json");
            let safe = json_safe(&json);
            assert!(!safe.chars().any(is_unsafe), "{name} json: {safe}");
            let back: String = serde_json::from_str(&safe).expect("still JSON");
            assert_eq!(&back, sample, "{name}: json_safe keeps the value");
            // Pretty-printed: the line breaks between tokens stay, the value too.
            let pretty = serde_json::to_string_pretty(&serde_json::json!({"title": sample})).expect("json");
            let safe = json_safe(&pretty);
            assert!(safe.contains('\n'), "{name}");
            let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
            assert_eq!(back["title"], *sample, "{name}");
            let inside_strings = safe
                .lines()
                .map(|l| l.chars().filter(|&c| is_unsafe(c)).count())
                .sum::<usize>();
            assert_eq!(inside_strings, 0, "{name}: {safe}");
        }
    }

    #[test]
    fn ordinary_text_passes_unchanged() {
        for ok in [
            "Blue in Green",
            "Sigur Rós — Ágætis byrjun",
            "坂本龍一",
            "مرحبا",
            "👩‍🎤 emoji with ZWJ",
            "AC/DC: \"Back in Black\" (1980) [Remaster] & more",
        ] {
            assert_eq!(check(ok, 200, Lines::One), Ok(ok));
            assert_eq!(strip(ok, 200).as_deref(), Some(ok));
            assert!(matches!(neutralise(ok), Cow::Borrowed(_)), "{ok}");
            assert!(matches!(json_safe(ok), Cow::Borrowed(_)), "{ok}");
        }
    }

    #[test]
    fn check_trims_and_bounds_length_in_characters() {
        assert_eq!(check("  padded  ", 10, Lines::One), Ok("padded"));
        assert_eq!(check(&"é".repeat(10), 10, Lines::One), Ok("é".repeat(10).as_str()));
        assert_eq!(
            check(&"é".repeat(11), 10, Lines::One),
            Err(TextError::TooLong { max_chars: 10 })
        );
        assert_eq!(check("", 10, Lines::One), Ok(""));
    }

    #[test]
    fn newlines_are_allowed_only_in_multi_line_fields() {
        assert!(check("two\nlines", 50, Lines::One).is_err());
        assert_eq!(check("two\nlines", 50, Lines::Many), Ok("two\nlines"));
        assert!(check("two\r\nlines", 50, Lines::Many).is_err(), "CR is still refused");
        assert!(check("x\u{1b}", 50, Lines::Many).is_err());
    }

    #[test]
    fn the_refusal_names_the_character() {
        let err = check("x\u{202E}y", 50, Lines::One).unwrap_err();
        assert_eq!(err, TextError::Unsafe('\u{202E}'));
        assert!(err.to_string().contains("U+202E"), "{err}");
        assert!(
            check("a\u{1b}", 50, Lines::One)
                .unwrap_err()
                .to_string()
                .contains("U+001B")
        );
    }

    #[test]
    fn strip_keeps_words_apart_and_cuts_long_tags() {
        assert_eq!(strip("Artist\tName\r\n", 100).as_deref(), Some("Artist Name"));
        assert_eq!(strip("\u{1b}[31mRed\u{1b}[0m", 100).as_deref(), Some("[31mRed[0m"));
        assert_eq!(strip("\u{0}\u{202E}", 100), None);
        assert_eq!(strip("   ", 100), None);
        let long = "x".repeat(300_000);
        assert_eq!(strip(&long, 200).map(|s| s.chars().count()), Some(200));
        assert_eq!(
            strip("abc   def", 4).as_deref(),
            Some("abc"),
            "no trailing space after the cut"
        );
    }

    #[test]
    fn neutralise_shows_control_pictures() {
        assert_eq!(neutralise("a\u{1b}[2Jb"), "a\u{241b}[2Jb");
        assert_eq!(neutralise("x\u{7f}"), "x\u{2421}");
        assert_eq!(neutralise("\u{9b}"), "\u{FFFD}");
        assert_eq!(neutralise("a\u{202E}b"), "a\u{FFFD}b");
        assert_eq!(neutralise("l1\nl2"), "l1\u{240a}l2");
    }
}
