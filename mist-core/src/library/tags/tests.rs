//! Tag reading on real files made by ffmpeg, and on hostile ones made here
//! byte by byte.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use super::id3v2::{self, MAX_KEPT_FRAMES, MAX_TAGS};
use super::*;
use crate::library::cover::Cover;
use crate::library::test_support::{child_case, ffmpeg, peak_rss_kb, report_field, run_child};

// ---- building files -------------------------------------------------------

fn syncsafe(n: u32) -> [u8; 4] {
    [
        (n >> 21) as u8 & 0x7F,
        (n >> 14) as u8 & 0x7F,
        (n >> 7) as u8 & 0x7F,
        n as u8 & 0x7F,
    ]
}

/// An ID3v2.3 or 2.4 frame.
fn frame(version: u8, id: &str, flags: u16, content: &[u8]) -> Vec<u8> {
    let mut out = id.as_bytes().to_vec();
    let size = content.len() as u32;
    out.extend_from_slice(&if version == 4 {
        syncsafe(size)
    } else {
        size.to_be_bytes()
    });
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(content);
    out
}

/// A text frame's content in UTF-8 (2.4) or Latin-1 (2.3).
fn text(version: u8, value: &str) -> Vec<u8> {
    if version == 4 {
        [&[3u8][..], value.as_bytes()].concat()
    } else {
        [&[0u8][..], value.as_bytes()].concat()
    }
}

fn tag(version: u8, flags: u8, frames: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = frames.concat();
    let mut out = vec![b'I', b'D', b'3', version, 0, flags];
    out.extend_from_slice(&syncsafe(body.len() as u32));
    out.extend_from_slice(&body);
    out
}

/// A second of MPEG audio with no tags, made once per test binary.
fn bare_mp3() -> Vec<u8> {
    static MP3: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MP3.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bare.mp3");
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=1",
                "-c:a",
                "libmp3lame",
                "-id3v2_version",
                "0",
            ],
            &path,
        );
        std::fs::read(&path).expect("read")
    })
    .clone()
}

fn read_bytes(bytes: Vec<u8>) -> Result<TrackTags, TagError> {
    read(&mut Cursor::new(bytes))
}

/// A 64 × 48 PNG cover made by ffmpeg.
fn cover_png(dir: &Path) -> PathBuf {
    let path = dir.join("cover.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1"], &path);
    path
}

const LRC: &str = "[ar:Artist]\n[00:01.00]First line\n[00:02.50]Second line";

/// `front`: whether the format says which picture is the front cover (MP4 does not).
fn assert_common(tags: &TrackTags, what: &str, front: bool) {
    assert_eq!(tags.title.as_deref(), Some("Title é"), "{what}");
    assert_eq!(tags.artist.as_deref(), Some("Artist"), "{what}");
    assert_eq!(tags.album_artist.as_deref(), Some("Album Artist"), "{what}");
    assert_eq!(tags.album.as_deref(), Some("Album"), "{what}");
    assert_eq!((tags.track_number, tags.track_total), (Some(3), Some(12)), "{what}");
    assert_eq!((tags.disc_number, tags.disc_total), (Some(1), Some(2)), "{what}");
    assert_eq!(tags.year, Some(2001), "{what}");
    assert_eq!(tags.genre.as_deref(), Some("Rock"), "{what}");
    assert_eq!(tags.composer.as_deref(), Some("Composer"), "{what}");
    let cover = tags.cover.as_ref().unwrap_or_else(|| panic!("{what}: a cover"));
    assert_eq!(cover.front, front, "{what}: the front cover");
    let decoded = Cover::decode(&cover.data).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((decoded.width(), decoded.height()), (64, 48), "{what}");
}

/// ffmpeg's `-metadata` arguments for the fields every format is tested on,
/// plus `extra` ones.
fn metadata<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let fields = [
        "title=Title é",
        "artist=Artist",
        "album_artist=Album Artist",
        "album=Album",
        "track=3/12",
        "disc=1/2",
        "genre=Rock",
        "composer=Composer",
    ];
    fields.iter().chain(extra).flat_map(|f| ["-metadata", f]).collect()
}

// ---- real files -----------------------------------------------------------

#[test]
fn mp3_with_id3v23_and_apic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cover = cover_png(dir.path());
    let path = dir.path().join("a.mp3");
    let mut args = vec!["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-i"];
    let cover = cover.to_string_lossy().into_owned();
    args.push(&cover);
    args.extend([
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:a",
        "libmp3lame",
        "-c:v",
        "copy",
        "-id3v2_version",
        "3",
    ]);
    args.extend([
        "-disposition:v",
        "attached_pic",
        "-metadata:s:v",
        "comment=Cover (front)",
    ]);
    args.extend(metadata(&["date=2001"]));
    ffmpeg(&args, &path);
    let tags = read_file(&path).expect("tags");
    assert_common(&tags, "mp3", true);
    assert_eq!(tags.date.as_deref(), Some("2001"));
}

#[test]
fn flac_with_picture_block_and_vorbis_comments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cover = cover_png(dir.path()).to_string_lossy().into_owned();
    let path = dir.path().join("a.flac");
    let mut args = vec!["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-i", &cover];
    args.extend([
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:a",
        "flac",
        "-c:v",
        "copy",
        "-disposition:v",
        "attached_pic",
    ]);
    args.extend(["-metadata:s:v", "comment=Cover (front)"]);
    let lyrics = format!("LYRICS={LRC}");
    args.extend(metadata(&["date=2001-05-03", &lyrics]));
    ffmpeg(&args, &path);
    let tags = read_file(&path).expect("tags");
    assert_common(&tags, "flac", true);
    assert_eq!(tags.date.as_deref(), Some("2001-05-03"));
    let lyrics = tags.lyrics.expect("lyrics");
    assert_eq!(lyrics.lines.len(), 2);
    assert_eq!(lyrics.lines[1].start_ms, 2_500);
}

#[test]
fn m4a_with_covr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cover = cover_png(dir.path()).to_string_lossy().into_owned();
    let path = dir.path().join("a.m4a");
    let mut args = vec!["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-i", &cover];
    args.extend([
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:a",
        "aac",
        "-c:v",
        "copy",
        "-disposition:v",
        "attached_pic",
    ]);
    let lyrics = format!("lyrics={LRC}");
    args.extend(metadata(&["date=2001", &lyrics]));
    ffmpeg(&args, &path);
    let tags = read_file(&path).expect("tags");
    assert_common(&tags, "m4a", false);
    assert_eq!(tags.lyrics.expect("lyrics").lines.len(), 2);
}

/// A FLAC PICTURE block (the form Ogg carries base64 in METADATA_BLOCK_PICTURE).
fn flac_picture_block(picture_type: u32, mime: &str, data: &[u8]) -> Vec<u8> {
    let mut out = picture_type.to_be_bytes().to_vec();
    out.extend_from_slice(&(mime.len() as u32).to_be_bytes());
    out.extend_from_slice(mime.as_bytes());
    out.extend_from_slice(&0u32.to_be_bytes()); // description
    for n in [64u32, 48, 24, 0] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn ogg_with_metadata_block_picture() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let png = std::fs::read(cover_png(dir.path())).expect("png");
    let block = base64::engine::general_purpose::STANDARD.encode(flac_picture_block(3, "image/png", &png));
    let picture = format!("METADATA_BLOCK_PICTURE={block}");
    let path = dir.path().join("a.ogg");
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-c:a",
        "libvorbis",
    ];
    args.extend(metadata(&["date=2001", &picture]));
    ffmpeg(&args, &path);
    let tags = read_file(&path).expect("tags");
    assert_common(&tags, "ogg", true);
}

#[test]
fn wav_info_tags_survive_the_id3_chunk_blinding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.wav");
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-c:a",
        "pcm_s16le",
    ];
    args.extend(["-metadata", "title=Wave", "-metadata", "artist=Someone"]);
    ffmpeg(&args, &path);
    let mut bytes = std::fs::read(&path).expect("read");
    // An `id3 ` chunk after the audio: blinded, so its title is not read.
    let id3 = tag(4, 0, &[frame(4, "TIT2", 0, &text(4, "from id3"))]);
    let chunk = [&b"id3 "[..], &(id3.len() as u32).to_le_bytes(), &id3].concat();
    bytes.extend_from_slice(&chunk);
    let riff_len = (bytes.len() - 8) as u32;
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let tags = read_bytes(bytes).expect("tags");
    assert_eq!(
        (tags.title.as_deref(), tags.artist.as_deref()),
        (Some("Wave"), Some("Someone"))
    );
}

// ---- ID3v2 details, written by hand ---------------------------------------

fn sylt(format: u8, lines: &[(&str, u32)]) -> Vec<u8> {
    let mut out = vec![3, b'e', b'n', b'g', format, 1, 0]; // UTF-8, eng, format, lyrics, no description
    for (text, time) in lines {
        out.extend_from_slice(text.as_bytes());
        out.push(0);
        out.extend_from_slice(&time.to_be_bytes());
    }
    out
}

fn uslt(value: &str) -> Vec<u8> {
    [&[3u8, b'e', b'n', b'g', 0][..], value.as_bytes()].concat()
}

fn mp3_with(tag_bytes: Vec<u8>) -> Vec<u8> {
    [tag_bytes, bare_mp3()].concat()
}

#[test]
fn synced_lyrics_from_sylt_win_over_uslt() {
    let frames = [
        frame(4, "TIT2", 0, &text(4, "Song")),
        frame(4, "USLT", 0, &uslt("plain words")),
        frame(4, "SYLT", 0, &sylt(2, &[("Second", 2_000), ("First", 1_000)])),
    ];
    let tags = read_bytes(mp3_with(tag(4, 0, &frames))).expect("tags");
    assert_eq!(tags.title.as_deref(), Some("Song"));
    let lyrics = tags.lyrics.expect("lyrics");
    assert_eq!(
        lyrics.lines,
        vec![
            TimedLine {
                start_ms: 1_000,
                text: "First".into()
            },
            TimedLine {
                start_ms: 2_000,
                text: "Second".into()
            }
        ]
    );
    // MPEG-frame stamps: 38.28 frames of 1152 samples a second at 44.1 kHz.
    let frames = [frame(4, "SYLT", 0, &sylt(1, &[("x", 383)]))];
    let lyrics = read_bytes(mp3_with(tag(4, 0, &frames)))
        .expect("tags")
        .lyrics
        .expect("lyrics");
    assert_eq!(lyrics.lines[0].start_ms, 383 * 1152 * 1000 / 44_100);
}

#[test]
fn lrc_inside_uslt_is_timed_and_plain_uslt_is_not() {
    let tags = read_bytes(mp3_with(tag(
        3,
        0,
        &[frame(
            3,
            "USLT",
            0,
            &[&[0u8, b'e', b'n', b'g', 0][..], LRC.as_bytes()].concat(),
        )],
    )))
    .expect("tags");
    assert_eq!(tags.lyrics.expect("lyrics").lines.len(), 2);
    let tags = read_bytes(mp3_with(tag(4, 0, &[frame(4, "USLT", 0, &uslt("la la\nla"))]))).expect("tags");
    let lyrics = tags.lyrics.expect("lyrics");
    assert!(!lyrics.is_synced());
    assert_eq!(lyrics.text, "la la\nla");
}

#[test]
fn numbers_dates_and_genres_in_their_odd_forms() {
    let cases: [(&[(&str, &str)], TrackTags); 5] = [
        (
            &[
                ("TRCK", "4294967296/99999"),
                ("TPOS", "0"),
                ("TDRC", "99999"),
                ("TCON", "(17)"),
            ],
            TrackTags {
                genre: Some("Rock".into()),
                ..TrackTags::default()
            },
        ),
        (
            // lofty drops a TDRC it cannot parse whole.
            &[
                ("TRCK", " 07 / 9 "),
                ("TPOS", "2/1"),
                ("TDRC", "1999-13-40"),
                ("TCON", "17"),
            ],
            TrackTags {
                track_number: Some(7),
                track_total: Some(9),
                disc_number: Some(2),
                genre: Some("Rock".into()),
                ..TrackTags::default()
            },
        ),
        (
            &[("TRCK", "-1"), ("TDRC", "0000"), ("TCON", "(999)"), ("TCMP", "1")],
            TrackTags {
                compilation: true,
                ..TrackTags::default()
            },
        ),
        (
            &[("TRCK", "1000"), ("TDRC", "2020-02-29T10:00"), ("TCON", "(13)Pop-ish")],
            TrackTags {
                year: Some(2020),
                date: Some("2020-02-29".into()),
                genre: Some("Pop".into()),
                ..TrackTags::default()
            },
        ),
        (&[("TIT2", "  \0\0 "), ("TPE1", "")], TrackTags::default()),
    ];
    for (frames, expected) in cases {
        let frames: Vec<Vec<u8>> = frames.iter().map(|(id, v)| frame(4, id, 0, &text(4, v))).collect();
        let tags = read_bytes(mp3_with(tag(4, 0, &frames))).expect("tags");
        assert_eq!(tags, expected, "{frames:?}");
    }
}

#[test]
fn invalid_utf8_and_huge_text_are_contained() {
    let long = "x".repeat(10_000);
    let frames = [
        frame(4, "TIT2", 0, &[&[3u8][..], b"caf\xE9 \xFF ok"].concat()),
        frame(4, "TPE1", 0, &text(4, &long)),
        frame(
            4,
            "TALB",
            0,
            &[&[1u8, 0xFF, 0xFE][..], &[0x00, 0xD8, 0x41, 0x00]].concat(),
        ), // lone surrogate
    ];
    let tags = read_bytes(mp3_with(tag(4, 0, &frames))).expect("tags");
    let title = tags.title.expect("a title, repaired");
    assert!(title.starts_with("caf") && title.ends_with("ok"), "{title:?}");
    assert_eq!(tags.artist.expect("artist").chars().count(), MAX_FIELD_CHARS);
}

#[test]
fn not_a_tagged_file() {
    for bytes in [Vec::new(), b"hello world".to_vec(), vec![0u8; 10_000]] {
        assert!(matches!(read_bytes(bytes), Err(TagError::Unreadable(_))));
    }
}

// ---- hostile ID3v2 --------------------------------------------------------

/// zlib of `n` zero bytes.
fn zlib_zeros(n: usize) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        encoder.write_all(&chunk[..k]).expect("compress");
        left -= k;
    }
    encoder.finish().expect("compress")
}

/// What each zlib bomb inflates to: far more than any limit, little to compress.
const BOMB: usize = 128 << 20;

/// The hostile files the child test reads, by name.
fn hostile(case: &str, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{case}.mp3"));
    let title = frame(4, "TIT2", 0, &text(4, "Survivor"));
    let bytes = match case {
        // 128 MB of zeros in 128 KB: a compressed title (2.4 sets the
        // data-length indicator with compression) and a compressed picture (2.3).
        "zlib_v4" => {
            let bomb = zlib_zeros(BOMB);
            let content = [&syncsafe(BOMB as u32)[..], &[3u8], &bomb].concat();
            mp3_with(tag(4, 0, &[frame(4, "TPE1", 0x0009, &content), title]))
        }
        "zlib_v3" => {
            let bomb = zlib_zeros(BOMB);
            let content = [&(BOMB as u32).to_be_bytes()[..], &bomb].concat();
            mp3_with(tag(
                3,
                0,
                &[
                    frame(3, "APIC", 0x0080, &content),
                    frame(3, "TIT2", 0, &text(3, "Survivor")),
                ],
            ))
        }
        // A compressed frame inside a chapter, and in a WAV's ID3 chunk.
        "zlib_chapter" => {
            let bomb = frame(
                4,
                "TIT2",
                0x0009,
                &[&syncsafe(BOMB as u32)[..], &zlib_zeros(BOMB)].concat(),
            );
            let chap = frame(4, "CHAP", 0, &[b"c1\0".as_slice(), &[0; 16], &bomb].concat());
            mp3_with(tag(4, 0, &[chap, title]))
        }
        "zlib_wav" => {
            let bomb = frame(
                4,
                "TIT2",
                0x0009,
                &[&syncsafe(BOMB as u32)[..], &zlib_zeros(BOMB)].concat(),
            );
            let id3 = tag(4, 0, &[bomb]);
            wav_with_chunk(b"id3 ", &id3)
        }
        // Chapters in chapters, 50,000 deep: lofty recurses once per level.
        "deep_chapters" => {
            // Written outside in: each level is a header, an element ID and
            // times, then the level below it.
            let levels = 50_000;
            let prefix = [b"c\0".as_slice(), &[0; 16]].concat();
            let mut lengths = vec![title.len()]; // frame lengths, innermost first
            for _ in 0..levels {
                lengths.push(10 + prefix.len() + lengths[lengths.len() - 1]);
            }
            let mut nested = Vec::with_capacity(lengths[levels]);
            for level in (1..=levels).rev() {
                let content_len = (prefix.len() + lengths[level - 1]) as u32;
                nested.extend_from_slice(b"CHAP");
                nested.extend_from_slice(&syncsafe(content_len));
                nested.extend_from_slice(&[0, 0]);
                nested.extend_from_slice(&prefix);
            }
            nested.extend_from_slice(&title);
            mp3_with(tag(4, 0, &[nested, title]))
        }
        // A 100 MB picture (sparse on disk), then the title.
        "huge_apic" => {
            let size = 100u32 << 20;
            let mut head = tag(3, 0, &[frame(3, "TIT2", 0, &text(3, "Survivor"))]);
            let picture_header = frame(3, "APIC", 0, &[]);
            let body_len = (head.len() - 10) + picture_header.len() + size as usize;
            head[6..10].copy_from_slice(&syncsafe(body_len as u32));
            let mut apic = picture_header;
            apic[4..8].copy_from_slice(&size.to_be_bytes());
            head.extend_from_slice(&apic);
            head.extend_from_slice(&[0, b'i', b'm', b'a', b'g', b'e', b'/', b'p', b'n', b'g', 0, 3, 0]);
            let file = std::fs::File::create(&path).expect("create");
            let mut file = std::io::BufWriter::new(file);
            file.write_all(&head).expect("write");
            let mut file = file.into_inner().expect("flush");
            let end = (10 + body_len) as u64;
            file.set_len(end).expect("a sparse hole");
            use std::io::Seek as _;
            file.seek(std::io::SeekFrom::End(0)).expect("seek");
            file.write_all(&bare_mp3()).expect("write");
            return path;
        }
        // A FLAC whose Vorbis comment block (16 MB, the most a block holds)
        // is millions of tiny comments.
        "vorbis_flood" => {
            let flac_path = dir.join("bare.flac");
            ffmpeg(
                &["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "flac"],
                &flac_path,
            );
            return flac_with_comments(&flac_path, &path, |block| {
                let count = ((1 << 24) - 64) / 6;
                block.extend_from_slice(&(count as u32).to_le_bytes());
                for _ in 0..count {
                    block.extend_from_slice(&2u32.to_le_bytes());
                    block.extend_from_slice(b"A=");
                }
            });
        }
        // An M4A whose `ilst` holds 200,000 tag atoms (5 MB).
        "mp4_flood" => {
            let m4a = dir.join("bare.m4a");
            ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:duration=1",
                    "-c:a",
                    "aac",
                    "-metadata",
                    "title=x",
                ],
                &m4a,
            );
            let mut atoms = Vec::new();
            for i in 0..200_000u32 {
                let name = format!("k{i}");
                // A freeform atom: mean, name, data.
                let mean = [&28u32.to_be_bytes()[..], b"mean", &[0; 4], b"com.apple.iTunes"].concat();
                let name = [
                    &(12 + name.len() as u32).to_be_bytes()[..],
                    b"name",
                    &[0; 4],
                    name.as_bytes(),
                ]
                .concat();
                let data = [&17u32.to_be_bytes()[..], b"data", &[0, 0, 0, 1], &[0; 4], b"v"].concat();
                let body = [mean, name, data].concat();
                atoms.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
                atoms.extend_from_slice(b"----");
                atoms.extend_from_slice(&body);
            }
            return m4a_with_ilst_atoms(&m4a, &path, &atoms);
        }
        // An MP3 with an APE tag of 5,000 items at its end.
        "ape_flood" => {
            let mut items = Vec::new();
            for i in 0..5_000 {
                let value = b"v";
                items.extend_from_slice(&(value.len() as u32).to_le_bytes());
                items.extend_from_slice(&0u32.to_le_bytes());
                items.extend_from_slice(format!("Key{i}\0").as_bytes());
                items.extend_from_slice(value);
            }
            let mut footer = b"APETAGEX".to_vec();
            footer.extend_from_slice(&2000u32.to_le_bytes());
            footer.extend_from_slice(&((items.len() + 32) as u32).to_le_bytes());
            footer.extend_from_slice(&5_000u32.to_le_bytes());
            footer.extend_from_slice(&[0; 12]);
            [mp3_with(tag(4, 0, &[title])), items, footer].concat()
        }
        // An Ogg Vorbis file with 5,000 comments, written by ffmpeg.
        "ogg_flood" => {
            let ogg = dir.join("flood.ogg");
            let fields: Vec<String> = (0..5_000).map(|i| format!("k{i}=v")).collect();
            let mut args = vec![
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=1",
                "-c:a",
                "libvorbis",
            ];
            args.extend(fields.iter().flat_map(|f| ["-metadata", f.as_str()]));
            ffmpeg(&args, &ogg);
            return ogg;
        }
        other => panic!("no hostile case {other}"),
    };
    std::fs::write(&path, bytes).expect("write");
    path
}

/// `flac` with its metadata blocks after STREAMINFO replaced by one
/// VORBIS_COMMENT block (vendor "x", then what `comments` writes), at `out`.
fn flac_with_comments(flac: &Path, out: &Path, comments: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let bytes = std::fs::read(flac).expect("read");
    assert_eq!(&bytes[..4], b"fLaC");
    let mut at = 4;
    let mut streaminfo = Vec::new();
    loop {
        let last = bytes[at] & 0x80 != 0;
        let len = u32::from_be_bytes([0, bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if bytes[at] & 0x7F == 0 {
            streaminfo = bytes[at..at + 4 + len].to_vec();
            streaminfo[0] &= 0x7F;
        }
        at += 4 + len;
        if last {
            break;
        }
    }
    let mut block = 1u32.to_le_bytes().to_vec();
    block.push(b'x');
    comments(&mut block);
    let mut file = b"fLaC".to_vec();
    file.extend_from_slice(&streaminfo);
    file.push(0x80 | 4);
    file.extend_from_slice(&(block.len() as u32).to_be_bytes()[1..]);
    file.extend_from_slice(&block);
    file.extend_from_slice(&bytes[at..]);
    std::fs::write(out, file).expect("write");
    out.to_path_buf()
}

/// `m4a` (ffmpeg's layout: `moov` last, `udta` last in it, `meta` in that,
/// `ilst` last in `meta`) with `atoms` appended to its `ilst`, at `out`.
fn m4a_with_ilst_atoms(m4a: &Path, out: &Path, atoms: &[u8]) -> PathBuf {
    let mut bytes = std::fs::read(m4a).expect("read");
    let find = |bytes: &[u8], name: &[u8; 4], from: usize| -> usize {
        from + bytes[from..].windows(4).position(|w| w == name).expect("atom") - 4
    };
    let moov = find(&bytes, b"moov", 0);
    let udta = find(&bytes, b"udta", moov);
    let meta = find(&bytes, b"meta", udta);
    let ilst = find(&bytes, b"ilst", meta);
    for at in [moov, udta, meta, ilst] {
        let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        assert_eq!(at + size as usize, bytes.len(), "atom at {at} ends the file");
        bytes[at..at + 4].copy_from_slice(&(size + atoms.len() as u32).to_be_bytes());
    }
    bytes.extend_from_slice(atoms);
    std::fs::write(out, bytes).expect("write");
    out.to_path_buf()
}

fn wav_with_chunk(fourcc: &[u8; 4], content: &[u8]) -> Vec<u8> {
    let pcm = vec![0u8; 44_100 * 4 / 10];
    let mut body = b"WAVEfmt ".to_vec();
    body.extend_from_slice(&16u32.to_le_bytes());
    body.extend_from_slice(&[1, 0, 2, 0]); // PCM, stereo
    body.extend_from_slice(&44_100u32.to_le_bytes());
    body.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    body.extend_from_slice(&[4, 0, 16, 0]);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    body.extend_from_slice(&pcm);
    body.extend_from_slice(fourcc);
    body.extend_from_slice(&(content.len() as u32).to_le_bytes());
    body.extend_from_slice(content);
    if content.len() % 2 == 1 {
        body.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

const HOSTILE_CHILD: &str = "library::tags::tests::hostile_child";

/// Reads one hostile file (named by `MIST_CHILD_CASE`) and reports the
/// result and the peak memory it cost. Run by `hostile_files_cost_little`.
#[test]
#[ignore = "run by hostile_files_cost_little in its own process"]
fn hostile_child() {
    let Some(case) = child_case() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = hostile(&case, dir.path());
    let before = peak_rss_kb();
    let result = read_file(&path);
    let after = peak_rss_kb();
    let title = result.as_ref().ok().and_then(|t| t.title.clone());
    println!(
        "REPORT before_kb={before} after_kb={after} title={title:?} result={:?}",
        result.as_ref().map(|_| ())
    );
}

#[test]
fn hostile_files_cost_little() {
    for (case, title) in [
        ("zlib_v4", Some("Survivor")),
        ("zlib_v3", Some("Survivor")),
        ("zlib_chapter", Some("Survivor")),
        ("zlib_wav", None),
        ("deep_chapters", Some("Survivor")),
        ("huge_apic", Some("Survivor")),
        // Floods in the other formats are refused whole.
        ("vorbis_flood", None),
        ("ogg_flood", None),
        ("mp4_flood", None),
        ("ape_flood", None),
    ] {
        let (clean_exit, report) = run_child(HOSTILE_CHILD, case);
        let report = report.unwrap_or_else(|| panic!("{case}: the child crashed"));
        assert!(clean_exit, "{case}: {report}");
        let grew_mb = (report_field(&report, "after_kb") - report_field(&report, "before_kb")) / 1024;
        assert!(
            grew_mb < 24,
            "{case}: reading the tags grew peak memory by {grew_mb} MB: {report}"
        );
        let expected = format!("title={:?}", title.map(str::to_owned));
        assert!(report.contains(&expected), "{case}: {report}");
        if case.ends_with("_flood") {
            assert!(report.contains("Refused"), "{case}: {report}");
        }
    }
}

#[test]
fn floods_of_frames_and_tags() {
    // 200,000 distinct frames: lofty compares each new frame with all before.
    let frames: Vec<Vec<u8>> = (0..200_000)
        .map(|i| frame(4, "TXXX", 0, &[&[3u8][..], format!("k{i}\0v").as_bytes()].concat()))
        .collect();
    let file = mp3_with(tag(
        4,
        0,
        &[vec![frame(4, "TIT2", 0, &text(4, "First"))], frames].concat(),
    ));
    let guarded = id3v2::guard(&mut Cursor::new(&file)).expect("guard");
    let kept = &guarded.patches[0].data[10..];
    let mut count = 0;
    let mut at = 0;
    while at + 10 <= kept.len() && kept[at] != 0 {
        let size = u32::from_be_bytes([kept[at + 4], kept[at + 5], kept[at + 6], kept[at + 7]]);
        at += 10 + size as usize;
        count += 1;
    }
    assert_eq!(count, MAX_KEPT_FRAMES);
    assert_eq!(read_bytes(file).expect("tags").title.as_deref(), Some("First"));

    // Tag after tag after tag.
    let many: Vec<u8> = std::iter::repeat_n(tag(4, 0, &[frame(4, "TIT2", 0, &text(4, "x"))]), MAX_TAGS + 1)
        .flatten()
        .collect();
    assert!(matches!(read_bytes(mp3_with(many)), Err(TagError::Refused(_))));
    let two: Vec<u8> = [
        tag(4, 0, &[frame(4, "TIT2", 0, &text(4, "x"))]),
        tag(3, 0, &[frame(3, "TALB", 0, &text(3, "y"))]),
    ]
    .concat();
    let tags = read_bytes(mp3_with(two)).expect("two tags");
    assert_eq!((tags.title.as_deref(), tags.album.as_deref()), (Some("x"), Some("y")));
}

#[test]
fn unsynchronised_and_flagged_frames_are_undone() {
    // 2.3 whole-tag unsynchronisation: every FF in the tag is stored as FF 00.
    let body = frame(3, "TIT2", 0, &[0, b'a', 0xFF, b'b']); // Latin-1 ÿ is 0xFF
    let stuffed: Vec<u8> = body
        .iter()
        .flat_map(|&b| if b == 0xFF { vec![0xFF, 0] } else { vec![b] })
        .collect();
    let tags = read_bytes(mp3_with(tag(3, 0x80, &[stuffed]))).expect("tags");
    assert_eq!(tags.title.as_deref(), Some("aÿb"));
    // 2.4 frame flags: grouping byte, data length indicator, unsynchronised content.
    let content = [&[7u8][..], &syncsafe(4), &[3, b'a', 0xFF, 0x00, b'b']].concat();
    let tags = read_bytes(mp3_with(tag(4, 0, &[frame(4, "TIT2", 0x0043, &content)]))).expect("tags");
    assert_eq!(tags.title.as_deref(), Some("a\u{fffd}b"), "0xFF alone is not UTF-8");
    // An extended header is skipped.
    let ext = [&syncsafe(6)[..], &[1, 0]].concat();
    let mut tagged = tag(4, 0x40, &[ext, frame(4, "TIT2", 0, &text(4, "ext"))]);
    tagged[5] = 0x40;
    assert_eq!(
        read_bytes(mp3_with(tagged)).expect("tags").title.as_deref(),
        Some("ext")
    );
}

#[test]
fn junk_before_the_tag_hides_it() {
    // lofty would look for a tag after junk; the guard blinds it rather than read an unchecked tag.
    let file = [
        vec![0x13u8; 100],
        tag(4, 0, &[frame(4, "TIT2", 0, &text(4, "hidden"))]),
        bare_mp3(),
    ]
    .concat();
    if let Ok(tags) = read_bytes(file) {
        assert_eq!(tags.title, None);
    }
}
