//! The media pipeline end to end: upload formats → decode → three MP3
//! renditions → segments → (encrypted) HLS that symphonia and ffmpeg play.
//!
//! Test audio is generated here (tones, a chirp and noise bursts) and converted
//! to the upload formats with ffmpeg at run time, in a temporary directory.
//! Needs the `encode` feature and `ffmpeg` on the PATH.
#![cfg(feature = "encode")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use mist_core::audio::{
    AudioError, BITRATES_KBPS, DecodedAudio, SAMPLE_RATE, decode_bytes, decode_file, encode_mp3_frames,
    encode_renditions,
};
use mist_core::crypto::{encrypt_segment, random_iv, random_key};
use mist_core::hls::segment::{MAX_BOUNDARY_SHIFT, main_data_begin, reservoir_underflows, split_frames};
use mist_core::hls::{
    KeyRef, MediaSegmentRef, SEGMENT_FRAMES, SEGMENTS_PER_KEY, Segment, key_index, key_segments, media_playlist,
    parse_id3_timestamp, segment_frames, segment_renditions,
};

const SECONDS: f64 = 20.0;

/// 20 s of stereo test signal: a different tone on each side, a shared
/// exponential chirp (100 Hz → 8 kHz) and short noise bursts twice a second
/// (transients make LAME lean on its bit reservoir, which the segmenter must undo).
fn test_signal() -> Vec<f32> {
    let rate = f64::from(SAMPLE_RATE);
    let n = (SECONDS * rate) as usize;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f64 / (1u64 << 23) as f64 - 1.0
    };
    let (f0, f1) = (100.0f64, 8000.0f64);
    let k = (f1 / f0).ln() / SECONDS;
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = i as f64 / rate;
        let tau = std::f64::consts::TAU;
        let chirp = 0.2 * (tau * f0 * ((k * t).exp() - 1.0) / k).sin();
        let burst = if t % 0.5 < 0.02 { 0.25 * noise() } else { 0.0 };
        let left = 0.3 * (tau * 440.0 * t).sin() + chirp + burst;
        let right = 0.3 * (tau * 660.0 * t).sin() + chirp - burst;
        out.push(left as f32);
        out.push(right as f32);
    }
    out
}

fn write_wav(path: &Path, samples: &[f32]) {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    std::fs::write(path, out).expect("write the test WAV");
}

/// Runs ffmpeg quietly and fails the test with its error output.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed to run the pipeline tests");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Fixture {
    dir: tempfile::TempDir,
    signal: Vec<f32>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let signal = test_signal();
        write_wav(&dir.path().join("source.wav"), &signal);
        Fixture { dir, signal }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Converts the source WAV with extra ffmpeg arguments.
    fn convert(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = self.path(name);
        let src = self.path("source.wav");
        let mut all = vec!["-i", src.to_str().expect("UTF-8 temp path")];
        all.extend_from_slice(args);
        all.push(out.to_str().expect("UTF-8 temp path"));
        ffmpeg(&all);
        out
    }
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f32]| x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-12)
}

fn mono(interleaved: &[f32]) -> Vec<f32> {
    interleaved.chunks_exact(2).map(|lr| (lr[0] + lr[1]) * 0.5).collect()
}

/// The lag (in samples, within ±`max_lag`) at which `decoded` best matches
/// `reference` over a window in the middle, and the correlation there.
fn best_alignment(reference: &[f32], decoded: &[f32], max_lag: usize) -> (isize, f64) {
    let start = reference.len() / 3;
    let window = &reference[start..start + 22_050];
    (-(max_lag as isize)..=max_lag as isize)
        .map(|lag| {
            let from = (start as isize + lag) as usize;
            (lag, correlation(window, &decoded[from..from + window.len()]))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one lag")
}

#[test]
fn every_upload_format_decodes_to_the_source() {
    let fx = Fixture::new();
    let reference = mono(&fx.signal);
    // (name, file, source rate, duration tolerance in s, allowed lag in samples)
    // symphonia 0.6 does not apply an MP4 edit list, so AAC in M4A keeps its
    // 1024-sample encoder priming (941 samples at 44.1 kHz): allow it.
    let cases = [
        ("source.wav", fx.path("source.wav"), 44_100, 0.01, 0),
        ("flac", fx.convert("s.flac", &["-c:a", "flac"]), 44_100, 0.01, 0),
        ("mp3", fx.convert("s.mp3", &["-b:a", "192k"]), 44_100, 0.01, 2),
        (
            "ogg vorbis 48k",
            fx.convert("s.ogg", &["-ar", "48000", "-c:a", "libvorbis"]),
            48_000,
            0.01,
            2,
        ),
        (
            "m4a aac 48k",
            fx.convert("s.m4a", &["-ar", "48000", "-c:a", "aac"]),
            48_000,
            0.05,
            1000,
        ),
        (
            "m4a alac mono 22k",
            fx.convert("m.m4a", &["-ac", "1", "-ar", "22050", "-c:a", "alac"]),
            22_050,
            0.01,
            2,
        ),
    ];
    for (name, path, rate, tolerance_s, max_lag) in cases {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        let audio = decode_file(&path, ext.as_deref()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(audio.source_sample_rate, rate, "{name}");
        assert!(audio.truncated.is_none(), "{name}: {:?}", audio.truncated);
        assert!(!audio.is_silent(), "{name}");
        let duration = audio.duration_s();
        assert!(
            (duration - SECONDS).abs() <= tolerance_s,
            "{name}: decoded {duration:.4} s of {SECONDS} s"
        );
        let (lag, corr) = best_alignment(&reference, &audio.mono(), 3000);
        println!("{name}: {duration:.4} s, best lag {lag} samples, correlation {corr:.4}");
        assert!(corr >= 0.9, "{name}: correlation {corr:.3} at lag {lag}");
        assert!(
            lag.abs() <= max_lag,
            "{name}: decoded audio is shifted by {lag} samples"
        );
    }
}

/// Splits a segment into its timestamp and MP3 frames.
fn segment_frames_of(segment: &Segment) -> (u64, Vec<Vec<u8>>) {
    let (pts, header_len) = parse_id3_timestamp(&segment.data).expect("segment starts with ID3");
    (
        pts,
        split_frames(&segment.data[header_len..]).expect("segment holds whole frames"),
    )
}

#[test]
fn renditions_segment_identically_and_every_segment_stands_alone() {
    let fx = Fixture::new();
    let audio = decode_file(&fx.path("source.wav"), Some("wav")).unwrap();
    assert_eq!(audio.frames(), (SECONDS * 44_100.0) as usize);

    // Timing: three renditions one after another, then in parallel.
    let t = Instant::now();
    for kbps in BITRATES_KBPS {
        encode_mp3_frames(&audio, kbps).unwrap();
    }
    let serial = t.elapsed();
    let t = Instant::now();
    let renditions = encode_renditions(&audio).unwrap();
    let parallel = t.elapsed();
    println!(
        "encoding 3 renditions of {SECONDS} s: serial {serial:.2?}, parallel {parallel:.2?} ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let frame_lists: Vec<&Vec<Vec<u8>>> = renditions.iter().map(|(_, f)| f).collect();
    let all_segments = segment_renditions(&frame_lists, SAMPLE_RATE);
    let segmented: Vec<(u32, Vec<Vec<u8>>, Vec<Segment>)> = renditions
        .iter()
        .zip(all_segments)
        .map(|((kbps, frames), segments)| (*kbps, frames.clone(), segments))
        .collect();

    // Identical boundaries in every rendition.
    let layout =
        |segments: &[Segment]| -> Vec<(usize, usize)> { segments.iter().map(|s| (s.first_frame, s.frames)).collect() };
    let reference_layout = layout(&segmented[0].2);
    assert_eq!(reference_layout.len(), 4, "20 s is three 6 s segments and a short one");
    for (kbps, frames, segments) in &segmented {
        assert_eq!(layout(segments), reference_layout, "{kbps}k boundaries differ");
        assert_eq!(frames.len(), segmented[0].1.len(), "{kbps}k frame count differs");
        assert_eq!(segments.iter().map(|s| s.frames).sum::<usize>(), frames.len());
    }

    for (kbps, frames, segments) in &segmented {
        // Rendition-level reservoir use before segmenting, for the report.
        let borrowing = frames.iter().filter(|f| main_data_begin(f).unwrap_or(0) > 0).count();
        let raw_bytes: usize = frames.iter().map(Vec::len).sum();
        let mut seg_frame_bytes = 0;
        let mut grown = 0;

        let last = segments.len() - 1;
        for (i, segment) in segments.iter().enumerate() {
            assert_eq!(segment.index, i);
            if i < last {
                assert!((SEGMENT_FRAMES..=SEGMENT_FRAMES + MAX_BOUNDARY_SHIFT).contains(&segment.frames));
                assert!((5.0..=7.0).contains(&segment.duration_s), "{}", segment.duration_s);
            } else {
                assert!(segment.duration_s > 0.0 && segment.duration_s <= 7.0);
            }

            let (pts, seg_frames) = segment_frames_of(segment);
            let first_sample = (segment.first_frame * 1152) as u64;
            assert_eq!(pts, first_sample * 90_000 / 44_100, "{kbps}k segment {i} timestamp");
            assert_eq!(seg_frames.len(), segment.frames, "{kbps}k segment {i} frame count");
            // The proof that no frame needs bytes from the previous segment.
            assert_eq!(reservoir_underflows(&seg_frames), 0, "{kbps}k segment {i} borrows");
            seg_frame_bytes += seg_frames.iter().map(Vec::len).sum::<usize>();
            grown += seg_frames
                .iter()
                .zip(&frames[segment.first_frame..])
                .filter(|(new, old)| new.len() > old.len())
                .count();
        }
        println!(
            "{kbps}k: {} frames, {borrowing} use the reservoir; repacking grew {grown} frames, +{} bytes ({:.2}%)",
            frames.len(),
            seg_frame_bytes - raw_bytes,
            (seg_frame_bytes - raw_bytes) as f64 * 100.0 / raw_bytes as f64
        );
    }

    // The 128k rendition, concatenated with its ID3 tags, plays in ffmpeg for the whole duration.
    let (_, _, segments_128) = segmented.iter().find(|(k, _, _)| *k == 128).unwrap();
    let concat: Vec<u8> = segments_128.iter().flat_map(|s| s.data.iter().copied()).collect();
    let path = fx.path("concat.mp3");
    std::fs::write(&path, &concat).unwrap();
    let (pcm, stderr) = ffmpeg_decode(&path, &[]);
    // A raw .mp3 file has no place for the segments' ID3 tags after the first:
    // ffmpeg's MP3 demuxer hands each one to the decoder, which says "Header
    // missing" once per segment boundary. Nothing else may go wrong. (Played
    // through a playlist, as below, ffmpeg strips the tags and says nothing.)
    let complaints = stderr.matches("Header missing").count();
    assert_eq!(complaints, segments_128.len() - 1, "ffmpeg: {stderr}");
    let other = stderr
        .lines()
        .filter(|l| !l.contains("Header missing") && !l.contains("Invalid data found"))
        .count();
    assert_eq!(other, 0, "ffmpeg: {stderr}");
    let ffmpeg_s = pcm.len() as f64 / 2.0 / 44_100.0;
    println!("ffmpeg decodes the concatenated 128k segments to {ffmpeg_s:.4} s");
    assert!((ffmpeg_s - SECONDS).abs() <= 0.2, "ffmpeg decoded {ffmpeg_s} s");

    // Every segment decodes on its own with symphonia, without a single
    // decode error, and matches the same span of the continuous decode.
    for (kbps, frames, segments) in &segmented {
        let continuous: Vec<u8> = segments.iter().flat_map(|s| segment_frames_of(s).1).flatten().collect();
        let full = strict_symphonia_decode(&continuous);
        assert_eq!(full.len(), 2 * frames.len() * 1152, "{kbps}k continuous decode");
        for segment in segments {
            let alone = strict_symphonia_decode(&segment.data);
            assert_eq!(
                alone.len(),
                2 * segment.frames * 1152,
                "{kbps}k segment {}",
                segment.index
            );
            let start = 2 * segment.first_frame * 1152;
            let span = &full[start..start + alone.len()];
            let whole = correlation(&mono(&alone), &mono(span));
            let head = head_correlation(&alone, span);
            println!(
                "{kbps}k segment {}: correlation {whole:.4}, first frames {head:.4}",
                segment.index
            );
            assert!(
                whole >= 0.9,
                "{kbps}k segment {}: correlation {whole:.3}",
                segment.index
            );
            assert!(
                head >= 0.9,
                "{kbps}k segment {}: first frames correlate {head:.3}",
                segment.index
            );
        }

        // Control: the same cut without repacking starts with frames that need
        // the previous segment's bytes, and their audio is visibly wrong alone.
        let cut = &frames[SEGMENT_FRAMES..2 * SEGMENT_FRAMES];
        assert!(
            reservoir_underflows(cut) > 0,
            "{kbps}k: LAME output should use the reservoir"
        );
        let raw: Vec<u8> = cut.iter().flatten().copied().collect();
        let alone = strict_symphonia_decode(&raw);
        let start = 2 * SEGMENT_FRAMES * 1152;
        let head = head_correlation(&alone, &full[start..start + alone.len()]);
        println!("{kbps}k segment 1 without repacking: first frames {head:.4}");
        assert!(
            head < 0.9,
            "{kbps}k: the control should show the missing reservoir ({head:.3})"
        );
    }
}

/// Correlation over the first two frames after the first granule: where
/// missing reservoir bytes would show. (The first granule's overlap-add
/// partner is in the previous segment, so it differs in any cut.)
fn head_correlation(alone: &[f32], reference: &[f32]) -> f64 {
    let range = 2 * 576..2 * (576 + 2304);
    correlation(&mono(&alone[range.clone()]), &mono(&reference[range]))
}

/// Decodes an MP3 stream (optionally led by an ID3 tag) with symphonia,
/// failing on any error, without gapless trimming: every frame's 1152 samples.
fn strict_symphonia_decode(bytes: &[u8]) -> Vec<f32> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes.to_vec())), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(
            Hint::new().with_extension("mp3"),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("symphonia recognises the segment");
    let track = format.default_track(TrackType::Audio).expect("an audio track");
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .expect("audio")
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default().gapless(false))
        .expect("an MP3 decoder");
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    while let Some(packet) = format.next_packet().expect("no container error") {
        let buf = decoder.decode(&packet).expect("every frame decodes");
        buf.copy_to_vec_interleaved::<f32>(&mut scratch);
        out.extend_from_slice(&scratch);
    }
    out
}

/// Decodes with ffmpeg to interleaved stereo 44.1 kHz samples; also returns
/// what ffmpeg reported at `error` level.
fn ffmpeg_decode(input: &Path, input_args: &[&str]) -> (Vec<f32>, String) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(input_args)
        .arg("-i")
        .arg(input)
        .args(["-f", "f32le", "-ac", "2", "-ar", "44100", "pipe:1"])
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "ffmpeg could not decode {}: {stderr}",
        input.display()
    );
    let pcm = out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (pcm, stderr)
}

#[test]
fn encrypted_hls_plays_in_ffmpeg() {
    let fx = Fixture::new();
    let audio = DecodedAudio {
        samples: fx.signal.clone(),
        tags: Default::default(),
        source_sample_rate: SAMPLE_RATE,
        source_channels: 2,
        truncated: None,
    };
    let frames = encode_mp3_frames(&audio, 64).unwrap();
    let segments = segment_frames(&frames, SAMPLE_RATE);
    let hls = fx.path("hls");
    std::fs::create_dir(&hls).unwrap();

    let mut keys = Vec::new();
    let mut refs = Vec::new();
    for segment in &segments {
        let k = key_index(segment.index);
        if keys.len() == k {
            let (key, iv) = (random_key(), random_iv());
            std::fs::write(hls.join(format!("key{k}.bin")), key).unwrap();
            keys.push((key, iv));
        }
        let (key, iv) = keys[k];
        let name = format!("seg_{:05}.mp3", segment.index);
        let encrypted = encrypt_segment(&key, &iv, &segment.data);
        assert_ne!(&encrypted[..3], b"ID3");
        std::fs::write(hls.join(&name), encrypted).unwrap();
        refs.push(MediaSegmentRef {
            uri: name,
            duration_s: segment.duration_s,
            key: (key_segments(k, segments.len()).start == segment.index).then(|| KeyRef {
                uri: format!("key{k}.bin"),
                iv,
            }),
        });
    }
    let playlist = media_playlist(&refs);
    assert_eq!(
        playlist.matches("#EXT-X-KEY").count(),
        segments.len().div_ceil(SEGMENTS_PER_KEY),
        "a key per key period"
    );
    std::fs::write(hls.join("index.m3u8"), &playlist).unwrap();

    let (pcm, stderr) = ffmpeg_decode(&hls.join("index.m3u8"), &["-allowed_extensions", "ALL"]);
    assert!(stderr.trim().is_empty(), "ffmpeg reported errors: {stderr}");
    let seconds = pcm.len() as f64 / 2.0 / 44_100.0;
    println!("ffmpeg plays the encrypted HLS rendition for {seconds:.4} s");
    assert!((seconds - SECONDS).abs() <= 0.2, "ffmpeg played {seconds} s");
    let (lag, corr) = best_alignment(&mono(&fx.signal), &mono(&pcm), 3000);
    println!("HLS playback vs source: lag {lag} samples, correlation {corr:.4}");
    assert!(corr >= 0.9, "correlation {corr:.3}");
}

#[test]
fn what_is_not_audio_is_refused_with_a_readable_reason() {
    let fx = Fixture::new();
    let text = fx.path("notes.mp3");
    std::fs::write(&text, "These are my notes, not a song.\n".repeat(100)).unwrap();
    let err = decode_file(&text, Some("mp3")).unwrap_err();
    assert!(matches!(err, AudioError::NotAudio(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the file is not audio: no known container format found"
    );

    let empty = fx.path("empty.flac");
    std::fs::write(&empty, b"").unwrap();
    let err = decode_file(&empty, Some("flac")).unwrap_err();
    assert!(matches!(err, AudioError::Empty), "{err:?}");
    assert_eq!(err.to_string(), "the file contains no audio");

    // Random bytes must not pass as a track even if they contain sync-like patterns.
    let mut seed = 7u32;
    let noise: Vec<u8> = (0..200_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 24) as u8
        })
        .collect();
    let err = decode_bytes(noise, Some("mp3")).unwrap_err();
    println!("random bytes: {err}");
    assert!(
        matches!(err, AudioError::NotAudio(_) | AudioError::Decode(_)),
        "{err:?}"
    );
}

#[test]
fn tags_from_the_file_are_returned() {
    let fx = Fixture::new();
    let meta = [
        "-metadata",
        "title=Test Tone Nº1",
        "-metadata",
        "artist=Ünit Tester",
        "-metadata",
        "album=Pipeline",
        "-metadata",
        "genre=Electronic",
    ];
    let mut mp3_args = vec!["-t", "2", "-c:a", "libmp3lame", "-id3v2_version", "3"];
    mp3_args.extend_from_slice(&meta);
    let mut flac_args = vec!["-t", "2", "-c:a", "flac"];
    flac_args.extend_from_slice(&meta);
    let mut m4a_args = vec!["-t", "2", "-c:a", "aac"];
    m4a_args.extend_from_slice(&meta);
    for path in [
        fx.convert("tagged.mp3", &mp3_args),
        fx.convert("tagged.flac", &flac_args),
        fx.convert("tagged.m4a", &m4a_args),
    ] {
        let audio = decode_file(&path, None).unwrap();
        let tags = &audio.tags;
        assert_eq!(tags.title.as_deref(), Some("Test Tone Nº1"), "{}", path.display());
        assert_eq!(tags.artist.as_deref(), Some("Ünit Tester"), "{}", path.display());
        assert_eq!(tags.album.as_deref(), Some("Pipeline"), "{}", path.display());
        assert_eq!(tags.genre.as_deref(), Some("Electronic"), "{}", path.display());
    }
    let untagged = decode_file(&fx.path("source.wav"), None).unwrap();
    assert_eq!(untagged.tags, Default::default());
}

#[test]
fn truncated_uploads_decode_what_is_there_and_say_so() {
    let fx = Fixture::new();
    for (name, args) in [
        ("cut.mp3", vec!["-c:a", "libmp3lame", "-b:a", "128k"]),
        ("cut.flac", vec!["-c:a", "flac"]),
    ] {
        let path = fx.convert(name, &args);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() * 2 / 5);
        let cut = fx.path(&format!("short-{name}"));
        std::fs::write(&cut, &bytes).unwrap();
        let audio = decode_file(&cut, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("{name} cut at 40%: {:.2} s, {:?}", audio.duration_s(), audio.truncated);
        assert!(
            (4.0..=12.0).contains(&audio.duration_s()),
            "{name}: {}",
            audio.duration_s()
        );
        let err = audio.require_complete().unwrap_err();
        assert!(matches!(err, AudioError::Truncated(_)), "{name}: {err:?}");
        assert!(
            err.to_string().starts_with("the file is truncated: it ends after"),
            "{err}"
        );

        // Cut inside the header: nothing to decode.
        let head = fx.path(&format!("head-{name}"));
        std::fs::write(&head, &std::fs::read(&path).unwrap()[..20]).unwrap();
        let err = decode_file(&head, None).unwrap_err();
        println!("{name} cut at 20 bytes: {err}");
        assert!(
            matches!(
                err,
                AudioError::Truncated(_) | AudioError::NotAudio(_) | AudioError::Empty
            ),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn dense_noise_segments_stand_alone_at_every_bitrate() {
    // Full-scale noise with silent gaps: LAME saves bits in the gaps and spends
    // the whole reservoir on the noise, the worst case for the repacking.
    let mut seed = 0x9E37_79B9u32;
    let samples: Vec<f32> = (0..(30.0 * 44_100.0) as usize)
        .flat_map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = if (i / 11_025) % 2 == 0 {
                (seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            } else {
                0.0
            };
            [v * 0.9, -v * 0.9]
        })
        .collect();
    let audio = DecodedAudio {
        samples,
        tags: Default::default(),
        source_sample_rate: SAMPLE_RATE,
        source_channels: 2,
        truncated: None,
    };
    let renditions = encode_renditions(&audio).unwrap();
    let frame_lists: Vec<&Vec<Vec<u8>>> = renditions.iter().map(|(_, f)| f).collect();
    let all_segments = segment_renditions(&frame_lists, SAMPLE_RATE);
    for ((kbps, frames), segments) in renditions.iter().zip(all_segments) {
        let mut grown = 0;
        for segment in &segments {
            let (_, seg_frames) = segment_frames_of(segment);
            assert_eq!(
                reservoir_underflows(&seg_frames),
                0,
                "{kbps}k segment {}",
                segment.index
            );
            grown += seg_frames
                .iter()
                .zip(&frames[segment.first_frame..])
                .filter(|(new, old)| new.len() > old.len())
                .count();
        }
        println!("noise {kbps}k: {} segments, {grown} frames grown", segments.len());
    }
}
