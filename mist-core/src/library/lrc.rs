//! Lyrics: LRC (an `.lrc` beside a file, or LRC text inside a tag) to timed
//! lines, and anything else to plain, unsynchronised text. [`Lyrics`] is the
//! one shape lyrics take in MIST, whatever they came from (see also
//! `tags`, which turns ID3 SYLT frames into the same lines).
//!
//! LRC as found in the wild: `[mm:ss.xx]text`, with one to three fraction
//! digits, `:` instead of `.`, or none; several stamps before one line
//! (`[00:12.00][01:40.00]chorus`); `[hh:mm:ss.xx]` for long pieces;
//! metadata tags (`[ar:…]`, `[ti:…]`, `[offset:+250]`…); enhanced LRC's word
//! stamps (`<00:12.34>`), which are dropped; lines in any order.
//!
//! Bounds, for a file or tag anyone can write: at most [`MAX_LYRICS_BYTES`]
//! of input are read (the longest real lyrics are a few tens of KiB), at
//! most [`MAX_TIMED_LINES`] timed lines and [`MAX_TIMED_TEXT_BYTES`] of their
//! words are kept (a line's words repeat for each of its stamps), and no stamp
//! past [`MAX_TIME_MS`] is believed. Text is not cleaned of control characters
//! here: that is the catalogue's text gate, as for every other tag.

/// Input past this many bytes is ignored.
pub const MAX_LYRICS_BYTES: usize = 256 * 1024;
/// Timed lines kept, at most.
pub const MAX_TIMED_LINES: usize = 5_000;
/// Stamps later than this (24 h) are not believed.
pub const MAX_TIME_MS: u64 = 24 * 3600 * 1000;
/// The words of all timed lines together, at most: one line can carry
/// thousands of stamps, and each repeats its words.
pub const MAX_TIMED_TEXT_BYTES: usize = 1024 * 1024;

/// Lyrics as MIST keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lyrics {
    /// The words as plain text, one line per line (for timed lyrics: the
    /// timed lines' text in time order).
    pub text: String,
    /// Timed lines in time order; empty when the lyrics are unsynchronised.
    pub lines: Vec<TimedLine>,
}

impl Lyrics {
    /// True when there are timed lines.
    pub fn is_synced(&self) -> bool {
        !self.lines.is_empty()
    }

    /// Lyrics from timed lines (sorted here), with the text made from them.
    /// Lines past [`MAX_TIME_MS`], [`MAX_TIMED_LINES`] or
    /// [`MAX_TIMED_TEXT_BYTES`] are dropped.
    pub fn from_timed(mut lines: Vec<TimedLine>) -> Self {
        lines.retain(|l| u64::from(l.start_ms) <= MAX_TIME_MS);
        lines.sort_by_key(|l| l.start_ms); // stable: equal stamps keep file order
        lines.truncate(MAX_TIMED_LINES);
        let mut total = 0usize;
        let fits = lines
            .iter()
            .take_while(|l| {
                total += l.text.len() + 1;
                total <= MAX_TIMED_TEXT_BYTES
            })
            .count();
        lines.truncate(fits);
        let text = lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
        Lyrics {
            text: text.trim().to_owned(),
            lines,
        }
    }
}

/// One line and when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedLine {
    /// Milliseconds from the start of the track.
    pub start_ms: u32,
    /// The words (may be empty: an instrumental gap).
    pub text: String,
}

/// Lyrics from a reader (an `.lrc` file beside the music): at most
/// [`MAX_LYRICS_BYTES`] are read. See [`parse_bytes`].
pub fn read(reader: impl std::io::Read) -> std::io::Result<Option<Lyrics>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader.take(MAX_LYRICS_BYTES as u64), &mut bytes)?;
    Ok(parse_bytes(&bytes))
}

/// Lyrics from bytes: an `.lrc` file or a tag's raw value. UTF-8 (with or
/// without a BOM) and UTF-16 with a BOM are read; invalid sequences become
/// U+FFFD. `None` when there are no words at all.
pub fn parse_bytes(bytes: &[u8]) -> Option<Lyrics> {
    let text = decode_text(&bytes[..bytes.len().min(MAX_LYRICS_BYTES)]);
    parse(&text)
}

/// Lyrics from text: timed lines when it is LRC, else the text itself as
/// unsynchronised lyrics. `None` when there are no words at all.
///
/// It counts as LRC when at least half of its lines (blank lines and metadata
/// tags aside) carry a time stamp; a few stamp-less lines in LRC are dropped,
/// and plain lyrics that merely contain `[Chorus]` stay plain.
pub fn parse(text: &str) -> Option<Lyrics> {
    let text = truncate_to(text, MAX_LYRICS_BYTES);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut offset_ms: i64 = 0;
    let mut timed: Vec<(u64, String)> = Vec::new();
    let mut untimed_lines = 0usize;
    let mut timed_lines = 0usize;
    let mut timed_bytes = 0usize;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let (stamps, rest) = leading_stamps(line);
        if stamps.is_empty() {
            match metadata(line) {
                Some(("offset", value)) => offset_ms = parse_offset(value).unwrap_or(offset_ms),
                Some(_) => {}
                None => untimed_lines += 1,
            }
            continue;
        }
        timed_lines += 1;
        let words = strip_word_stamps(rest);
        for stamp in stamps {
            timed_bytes += words.len() + 1;
            if timed.len() >= MAX_TIMED_LINES || timed_bytes > MAX_TIMED_TEXT_BYTES {
                break;
            }
            timed.push((stamp, words.clone()));
        }
    }

    if timed_lines > 0 && timed_lines >= untimed_lines {
        // A positive offset makes lyrics appear sooner.
        let lines = timed
            .into_iter()
            .filter_map(|(ms, text)| {
                let shifted = i64::try_from(ms).ok()?.saturating_sub(offset_ms).max(0);
                let start_ms = u32::try_from(shifted).ok()?;
                Some(TimedLine { start_ms, text })
            })
            .collect();
        let lyrics = Lyrics::from_timed(lines);
        return (!lyrics.text.is_empty()).then_some(lyrics);
    }
    if untimed_lines == 0 {
        return None; // blank lines and metadata only
    }
    let plain = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned();
    (!plain.is_empty()).then(|| Lyrics {
        text: plain,
        lines: Vec::new(),
    })
}

fn decode_text(bytes: &[u8]) -> String {
    let utf16 = |bytes: &[u8], from: fn([u8; 2]) -> u16| {
        let units = bytes.chunks_exact(2).map(|p| from([p[0], p[1]]));
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn truncate_to(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The time stamps at the start of a line (`[00:12.00][00:40.00]…`) and the rest.
fn leading_stamps(line: &str) -> (Vec<u64>, &str) {
    let mut stamps = Vec::new();
    let mut rest = line;
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(end) = inner.find(']') else { break };
        match parse_stamp(&inner[..end]) {
            Some(ms) => stamps.push(ms),
            None => break,
        }
        rest = inner[end + 1..].trim_start();
    }
    // A stamp-like prefix that was only partly stamps is not a timed line.
    (stamps, rest)
}

/// `mm:ss`, `mm:ss.f`, `mm:ss.ff`, `mm:ss.fff`, `mm:ss:ff`, `h:mm:ss.ff` →
/// milliseconds, or `None` (also past [`MAX_TIME_MS`]).
fn parse_stamp(stamp: &str) -> Option<u64> {
    let digits = |s: &str, max_len: usize| -> Option<u64> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let parts: Vec<&str> = stamp.trim().split(':').collect();
    let (hours, minutes, seconds_part, colon_fraction) = match parts.as_slice() {
        [m, s] => (0, digits(m, 4)?, *s, None),
        // `mm:ss:xx` (a fraction after a colon) or `h:mm:ss(.xx)`. Without a
        // dot both readings fit; LRC files mean the first far more often, so
        // `01:02:03` is 1 min 2.03 s.
        [m, s, f] if !f.contains('.') && f.len() <= 2 => (0, digits(m, 4)?, *s, Some(*f)),
        [h, m, s] => (digits(h, 2)?, digits(m, 2)?, *s, None),
        _ => return None,
    };
    let (whole, fraction) = match (seconds_part.split_once('.'), colon_fraction) {
        (Some((whole, fraction)), None) => (whole, Some(fraction)),
        (None, fraction) => (seconds_part, fraction),
        (Some(_), Some(_)) => return None,
    };
    let seconds = digits(whole, 2)?;
    if seconds >= 60 || (hours > 0 && minutes >= 60) {
        return None;
    }
    let fraction_ms = match fraction {
        None => 0,
        Some(f) => {
            let value = digits(f, 3)?;
            match f.len() {
                1 => value * 100,
                2 => value * 10,
                _ => value,
            }
        }
    };
    let ms = ((hours * 60 + minutes) * 60 + seconds) * 1000 + fraction_ms;
    (ms <= MAX_TIME_MS).then_some(ms)
}

/// `[key:value]` where key is letters (or `#`, a comment): the LRC metadata
/// tags. Returns the lower-cased key and the value.
fn metadata(line: &str) -> Option<(&str, &str)> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let (key, value) = inner.split_once(':')?;
    let key = key.trim();
    let is_key = !key.is_empty() && key.len() <= 16 && (key == "#" || key.bytes().all(|b| b.is_ascii_alphabetic()));
    is_key.then(|| {
        (
            if key.eq_ignore_ascii_case("offset") {
                "offset"
            } else {
                key
            },
            value.trim(),
        )
    })
}

/// `+250`, `-100`, `300` (milliseconds), within ±[`MAX_TIME_MS`].
fn parse_offset(value: &str) -> Option<i64> {
    let (sign, digits) = match value.as_bytes().first()? {
        b'+' => (1, &value[1..]),
        b'-' => (-1, &value[1..]),
        _ => (1, value),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: i64 = digits.parse().ok()?;
    (ms <= MAX_TIME_MS as i64).then_some(sign * ms)
}

/// Enhanced LRC's per-word stamps (`<00:12.34>`) removed; spaces tidied.
fn strip_word_stamps(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close) if parse_stamp(&after[..close]).is_some() => {
                out.push_str(&rest[..open]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ms: u32, text: &str) -> TimedLine {
        TimedLine {
            start_ms: ms,
            text: text.to_owned(),
        }
    }

    fn timed(text: &str) -> Vec<TimedLine> {
        parse(text).expect("lyrics").lines
    }

    #[test]
    fn stamps_in_their_common_forms() {
        let cases = [
            ("00:12.34", Some(12_340)),
            ("00:12.3", Some(12_300)),
            ("00:12.345", Some(12_345)),
            ("00:12", Some(12_000)),
            ("01:02:50", Some(62_500)), // mm:ss:xx
            ("1:02:03.50", Some(3_723_500)),
            ("125:00.00", Some(7_500_000)),
            (" 00:05.00 ", Some(5_000)),
            ("00:60.00", None),
            ("00:-1.00", None),
            ("-00:01.00", None),
            ("00:1a.00", None),
            ("00:12.3456", None),
            ("ar:someone", None),
            ("", None),
            ("99999999999999999999:00", None),
            ("9999:00.00", None), // 166 h, past MAX_TIME_MS
            ("1:60:00.00", None),
        ];
        for (stamp, expected) in cases {
            assert_eq!(parse_stamp(stamp), expected, "{stamp:?}");
        }
    }

    #[test]
    fn lrc_with_metadata_multiple_stamps_and_disorder() {
        let text = "\u{feff}[ti:Song]\n[ar:Someone]\n[by:me]\n[length: 03:20]\n\n\
                    [00:20.00][01:10.50]Chorus line\r\n\
                    [00:05.00]First line\n\
                    [00:40.00]\n\
                    [00:30.10]Second <00:31.00>line with <00:32.00>word stamps\n";
        let lyrics = parse(text).expect("lyrics");
        assert_eq!(
            lyrics.lines,
            vec![
                line(5_000, "First line"),
                line(20_000, "Chorus line"),
                line(30_100, "Second line with word stamps"),
                line(40_000, ""),
                line(70_500, "Chorus line"),
            ]
        );
        assert_eq!(
            lyrics.text,
            "First line\nChorus line\nSecond line with word stamps\n\nChorus line"
        );
        assert!(lyrics.is_synced());
    }

    #[test]
    fn offset_shifts_every_line() {
        // Positive: sooner; negative: later; never before zero.
        assert_eq!(
            timed("[offset:+500]\n[00:01.00]a\n[00:00.20]b"),
            vec![line(0, "b"), line(500, "a")]
        );
        assert_eq!(timed("[offset:-250]\n[00:01.00]a"), vec![line(1_250, "a")]);
        assert_eq!(timed("[offset: junk]\n[00:01.00]a"), vec![line(1_000, "a")]);
        assert_eq!(timed("[offset:+99999999999999]\n[00:01.00]a"), vec![line(1_000, "a")]);
    }

    #[test]
    fn plain_text_stays_plain() {
        let text = "[Verse 1]\nSomething in the way\n  she moves  \n\n[Chorus]\nLa la la\n";
        let lyrics = parse(text).expect("lyrics");
        assert!(!lyrics.is_synced());
        assert_eq!(
            lyrics.text,
            "[Verse 1]\nSomething in the way\n  she moves\n\n[Chorus]\nLa la la"
        );
        // One stray stamp in many plain lines is still plain text.
        let lyrics = parse("a\nb\nc\n[00:01.00]d").expect("lyrics");
        assert!(!lyrics.is_synced());
        // Nothing but blanks and metadata: no lyrics.
        assert_eq!(parse(""), None);
        assert_eq!(parse(" \n\n\t"), None);
        assert_eq!(parse("[ar:x]\n[ti:y]"), None);
        assert_eq!(parse("[00:01.00]\n[00:02.00]  "), None);
    }

    #[test]
    fn encodings() {
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("[00:01.00]Grüße".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(parse_bytes(&utf16le).expect("lyrics").lines, vec![line(1_000, "Grüße")]);
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("[00:01.00]日本".encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        assert_eq!(parse_bytes(&utf16be).expect("lyrics").lines, vec![line(1_000, "日本")]);
        let bom_utf8 = [b"\xEF\xBB\xBF".as_slice(), "[00:02.00]ok".as_bytes()].concat();
        assert_eq!(parse_bytes(&bom_utf8).expect("lyrics").lines, vec![line(2_000, "ok")]);
        // Invalid UTF-8 is replaced, not refused.
        let lyrics = parse_bytes(b"[00:01.00]caf\xE9 \xFF\xFEok").expect("lyrics");
        assert_eq!(lyrics.lines, vec![line(1_000, "caf\u{fffd} \u{fffd}\u{fffd}ok")]);
    }

    #[test]
    fn hostile_input_is_bounded() {
        // Megabytes of stamps: the input is cut and the lines capped.
        let huge = "[00:01.00]".repeat(2_000_000);
        let lyrics = parse(&huge).expect("the cut leaves `[00:` as words");
        assert_eq!(lyrics.lines.len(), MAX_TIMED_LINES);
        assert!(lyrics.lines.iter().all(|l| l.text == "[00:"));
        // Thousands of stamps in front of long words: the words are not
        // repeated past the text limit.
        let repeated = format!("{}{}", "[00:01.00]".repeat(5_000), "la ".repeat(60_000));
        let lyrics = parse(&repeated).expect("lyrics");
        assert!(lyrics.text.len() <= MAX_TIMED_TEXT_BYTES, "{}", lyrics.text.len());
        assert_eq!(lyrics.lines.len(), MAX_TIMED_TEXT_BYTES / 180_000);
        let from_tag = Lyrics::from_timed(vec![line(0, &"x".repeat(600_000)), line(1, &"y".repeat(600_000))]);
        assert_eq!(from_tag.lines.len(), 1);
        let many: String = (0..100_000)
            .map(|i| format!("[{:02}:{:02}.00]w{i}\n", i / 60 % 100, i % 60))
            .collect();
        let lyrics = parse(&many).expect("lyrics");
        assert_eq!(lyrics.lines.len(), MAX_TIMED_LINES);
        assert!(lyrics.lines.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
        // One line with a million stamps in front of it.
        let one = format!("{}x", "[00:01.00]".repeat(1_000_000));
        let lyrics = parse(&one).expect("lyrics");
        assert!(lyrics.lines.len() <= MAX_TIMED_LINES);
        // A reader is read no further than the limit.
        let endless = std::io::Read::chain(&b"[00:01.00]a\n"[..], std::io::repeat(b'x'));
        let lyrics = read(endless).expect("reading").expect("lyrics");
        assert_eq!(lyrics.lines.len(), 1);
        assert_eq!(lyrics.text, "a", "the endless tail is one stamp-less line, outvoted");
        // Truncation never splits a character.
        let wide = "[00:01.00]".to_owned() + &"é".repeat(MAX_LYRICS_BYTES);
        assert!(parse(&wide).expect("lyrics").text.len() <= MAX_LYRICS_BYTES);
        // Unclosed brackets, nested brackets, brackets alone.
        for junk in [
            "[",
            "[[[[",
            "[00:01.00",
            "[00:01.00]]]",
            "]][[",
            "<00:01.00>",
            "[00:01.00]<",
        ] {
            let _ = parse(junk); // must not panic
        }
        assert_eq!(timed("[00:01.00]<00:01.50"), vec![line(1_000, "<00:01.50")]);
    }

    #[test]
    fn from_timed_sorts_and_bounds() {
        let lyrics = Lyrics::from_timed(vec![line(2_000, "b"), line(1_000, "a"), line(u32::MAX, "late")]);
        assert_eq!(lyrics.lines, vec![line(1_000, "a"), line(2_000, "b")]);
        assert_eq!(lyrics.text, "a\nb");
    }
}
