//! Audio analysis on the server: features and the similarity embedding of
//! decoded samples (the signal processing itself is `mist_core::features`),
//! storing them, the taste vector behind the feed, and the two commands
//! `mist-server analyze FILE [--json]` and `mist-server reindex-features`.
//!
//! The ingest worker calls [`features_of`] on the samples it already decoded
//! for transcoding (one decode feeds everything: docs/architecture.md, `ingest/`) and [`save`]s
//! the result just before the track becomes ready. SQL stays in
//! `db::embeddings`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use mist_core::audio;
use mist_core::features::{self, FeatureError, Features};
use serde::Serialize;

use crate::app::AppState;
use crate::db::Db;
use crate::db::embeddings::{self, Embedding, TasteSeed};

/// The version of the feature set and embedding that this build computes.
/// Bump it when `mist_core::features` changes what it computes or how the
/// embedding is scaled; `mist-server reindex-features` then recomputes every
/// track stored with another version.
pub const FEATURE_VERSION: i64 = 1;

/// What the analysis of one track yields.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackAnalysis {
    pub features: Features,
    pub embedding: Embedding,
}

/// Analyses a whole decoded track: interleaved 44.1 kHz stereo, as
/// `mist_core::audio` decodes it. CPU-bound (about 0.5 s for five minutes in
/// a release build): call it on a blocking thread.
pub fn features_of(stereo_44100: &[f32]) -> Result<TrackAnalysis, FeatureError> {
    let features = features::analyze(&features::prepare(stereo_44100))?;
    let embedding = features.embedding();
    Ok(TrackAnalysis { features, embedding })
}

/// Stores a track's analysis (replacing an earlier one). Returns false when
/// the track was deleted in the meantime.
pub async fn save(db: &Db, track_id: &str, analysis: &TrackAnalysis) -> Result<bool, sqlx::Error> {
    let json = serde_json::to_string(&analysis.features).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    embeddings::upsert(db, track_id, FEATURE_VERSION, &json, &analysis.embedding).await
}

/// The direction of a user's taste: the average of the embeddings of what
/// they liked and heard, weighted, then normalised. `None` when there is
/// nothing to go on.
///
/// A like weighs 1; a listen weighs 1 when it was played to the end, else the
/// share heard of the track's first minute (a track skipped after three
/// seconds says little). A liked track that was also heard adds both.
pub fn taste_vector(seeds: &[TasteSeed]) -> Option<Embedding> {
    let mut sum = [0.0f64; features::EMBEDDING_DIM];
    let mut total = 0.0f64;
    for seed in seeds {
        let weight = seed_weight(seed);
        if weight <= 0.0 {
            continue;
        }
        total += weight;
        for (s, &v) in sum.iter_mut().zip(&seed.embedding) {
            *s += weight * f64::from(v);
        }
    }
    let norm = sum.iter().map(|v| v * v).sum::<f64>().sqrt();
    // Opposite tastes can cancel out exactly; then there is no direction.
    if total == 0.0 || norm < 1e-9 {
        return None;
    }
    Some(sum.map(|v| (v / norm) as f32))
}

fn seed_weight(seed: &TasteSeed) -> f64 {
    let like = if seed.liked { 1.0 } else { 0.0 };
    let listen = if seed.completions > 0 {
        1.0
    } else {
        let first_minute = seed.duration_ms.clamp(1, 60_000) as f64;
        (seed.listened_ms as f64 / first_minute).clamp(0.0, 1.0)
    };
    like + listen
}

/// `mist-server analyze FILE --json`: the JSON printed.
#[derive(Debug, Serialize)]
pub struct FileAnalysis {
    pub file: PathBuf,
    pub feature_version: i64,
    pub features: Features,
    pub embedding: Vec<f32>,
}

/// Decodes and analyses a local file, with no server or database.
pub fn analyze_file(path: &Path) -> anyhow::Result<TrackAnalysis> {
    let ext = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(crate::storage::extension);
    let decoded =
        audio::decode_file(path, ext.as_deref()).with_context(|| format!("cannot decode {}", path.display()))?;
    if decoded.frames() == 0 {
        anyhow::bail!("{} contains no audio", path.display());
    }
    features_of(&decoded.samples).with_context(|| format!("cannot analyse {}", path.display()))
}

/// Runs `mist-server analyze`: prints the features and embedding of `path`,
/// as JSON or as a short summary.
pub fn print_file_analysis(path: &Path, json: bool) -> anyhow::Result<()> {
    let analysis = analyze_file(path)?;
    if json {
        let out = FileAnalysis {
            file: path.to_path_buf(),
            feature_version: FEATURE_VERSION,
            embedding: analysis.embedding.to_vec(),
            features: analysis.features,
        };
        println!("{}", serde_json::to_string_pretty(&out).context("cannot write JSON")?);
        return Ok(());
    }
    let f = &analysis.features;
    println!("{}", path.display());
    println!("  duration         {:.2} s", f.duration_s);
    println!("  tempo            {:.1} BPM", f.tempo_bpm);
    println!(
        "  centroid         {:.0} Hz (std {:.0})",
        f.centroid_mean, f.centroid_std
    );
    println!("  bandwidth        {:.0} Hz", f.bandwidth_mean);
    println!("  rolloff          {:.0} Hz", f.rolloff_mean);
    println!("  flatness         {:.4}", f.flatness_mean);
    println!("  zero crossings   {:.4}", f.zcr_mean);
    println!("  rms              {:.4}", f.rms_mean);
    println!("  onset strength   {:.3}", f.onset_mean);
    println!("  mfcc means       {}", join(&f.mfcc_mean, 1));
    println!("  chroma           {}", join(&f.chroma_mean, 2));
    println!("  embedding        {}", join(&analysis.embedding, 3));
    Ok(())
}

fn join(values: &[f32], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a re-index did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReindexSummary {
    pub analysed: usize,
    pub failed: usize,
    /// Deleted while being analysed.
    pub vanished: usize,
}

/// Runs `mist-server reindex-features`: recomputes the features of ready
/// tracks from their stored originals (decoding them again), one at a time,
/// printing progress. Without `all`, only tracks with no features or features
/// of another [`FEATURE_VERSION`]; so running it twice does the work once.
/// A track that fails is reported and skipped.
pub async fn reindex(state: &AppState, all: bool) -> anyhow::Result<ReindexSummary> {
    let candidates = embeddings::reindex_candidates(&state.db, FEATURE_VERSION, all)
        .await
        .context("cannot list tracks")?;
    let total = candidates.len();
    println!(
        "{total} track(s) to analyse (feature version {FEATURE_VERSION}{})",
        if all { ", all ready tracks" } else { "" }
    );
    let mut summary = ReindexSummary::default();
    for (i, track) in candidates.into_iter().enumerate() {
        let started = Instant::now();
        let prefix = format!("[{}/{total}] {} {:?}", i + 1, track.id, track.title);
        match reindex_one(state, &track.id, &track.original_key).await {
            Ok(true) => {
                summary.analysed += 1;
                println!("{prefix}: ok ({:.1} s)", started.elapsed().as_secs_f64());
            }
            Ok(false) => {
                summary.vanished += 1;
                println!("{prefix}: deleted meanwhile, skipped");
            }
            Err(e) => {
                summary.failed += 1;
                println!("{prefix}: failed: {e:#}");
            }
        }
    }
    println!(
        "done: {} analysed, {} failed, {} deleted meanwhile",
        summary.analysed, summary.failed, summary.vanished
    );
    Ok(summary)
}

async fn reindex_one(state: &AppState, track_id: &str, original_key: &str) -> anyhow::Result<bool> {
    let bytes = state
        .store
        .get_bytes(original_key)
        .await
        .with_context(|| format!("cannot read {original_key}"))?;
    let ext = crate::storage::extension(original_key);
    let analysis = tokio::task::spawn_blocking(move || -> anyhow::Result<TrackAnalysis> {
        let decoded = audio::decode_bytes(bytes.to_vec(), ext.as_deref())?;
        Ok(features_of(&decoded.samples)?)
    })
    .await
    .context("analysis task failed")??;
    Ok(save(&state.db, track_id, &analysis).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(direction: usize, liked: bool, listened_ms: i64, completions: i64) -> TasteSeed {
        let mut embedding = [0.0; features::EMBEDDING_DIM];
        embedding[direction] = 1.0;
        TasteSeed {
            track_id: format!("t{direction}"),
            embedding,
            duration_ms: 200_000,
            liked,
            listened_ms,
            completions,
        }
    }

    #[test]
    fn taste_weighs_likes_and_listens() {
        // A like and a full listen pull equally; the result is unit length.
        let taste = taste_vector(&[seed(0, true, 0, 0), seed(1, false, 200_000, 1)]).expect("taste");
        assert!((taste[0] - taste[1]).abs() < 1e-6);
        assert!((taste.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
        // Three seconds of a track barely count next to a like.
        let taste = taste_vector(&[seed(0, true, 0, 0), seed(1, false, 3_000, 0)]).expect("taste");
        assert!(taste[0] > 0.99 && taste[1] < 0.06, "{taste:?}");
        // Half a minute of a long track counts half.
        let taste = taste_vector(&[seed(0, false, 60_000, 0), seed(1, false, 30_000, 0)]).expect("taste");
        assert!((taste[0] / taste[1] - 2.0).abs() < 1e-4, "{taste:?}");
    }

    #[test]
    fn no_history_means_no_taste() {
        assert_eq!(taste_vector(&[]), None);
        assert_eq!(taste_vector(&[seed(3, false, 0, 0)]), None);
    }

    #[test]
    fn features_of_a_tone() {
        let stereo: Vec<f32> = (0..44_100 * 2)
            .flat_map(|i| {
                let s = (i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin() * 0.5;
                [s, s]
            })
            .collect();
        let analysis = features_of(&stereo).expect("analysis");
        assert!((analysis.features.duration_s - 2.0).abs() < 0.01);
        assert!((analysis.embedding.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!(features_of(&[]), Err(FeatureError::Empty));
    }
}
