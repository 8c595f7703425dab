//! `--audio wav:PATH`: what would have been heard, as a 16-bit stereo
//! 44.1 kHz WAV. The header's sizes are written last, so a file cut off by a
//! crash still reads up to where it stopped in most tools.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result};
use mist_core::audio::SAMPLE_RATE;

pub struct WavWriter {
    file: BufWriter<File>,
    data_bytes: u32,
}

impl WavWriter {
    pub fn create(path: &Path) -> Result<WavWriter> {
        let mut file = BufWriter::new(File::create(path)?);
        file.write_all(&header(0))?;
        Ok(WavWriter { file, data_bytes: 0 })
    }

    /// Appends interleaved stereo samples, clipped to 16 bits.
    pub fn write(&mut self, samples: &[f32]) -> Result<()> {
        let mut bytes = Vec::with_capacity(samples.len() * 2);
        for sample in samples {
            let value = (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        self.file.write_all(&bytes).context("cannot write the WAV file")?;
        self.data_bytes = self.data_bytes.saturating_add(bytes.len() as u32);
        Ok(())
    }

    /// Writes the final sizes into the header.
    pub fn finish(mut self) -> Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header(self.data_bytes))?;
        self.file.flush().context("cannot write the WAV file")?;
        Ok(())
    }
}

fn header(data_bytes: u32) -> [u8; 44] {
    const CHANNELS: u16 = 2;
    const BITS: u16 = 16;
    let block_align = CHANNELS * BITS / 8;
    let byte_rate = SAMPLE_RATE * u32::from(block_align);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&CHANNELS.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&BITS.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_decodes_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.wav");
        let mut writer = WavWriter::create(&path).expect("creates");
        let samples: Vec<f32> = (0..44_100 * 2).map(|i| ((i / 2) as f32 * 0.01).sin() * 0.5).collect();
        writer.write(&samples).expect("writes");
        writer.finish().expect("finishes");
        let decoded = mist_core::audio::decode_file(&path, Some("wav")).expect("decodes");
        assert_eq!(decoded.frames(), 44_100);
        assert!((decoded.samples[200] - samples[200]).abs() < 1e-3);
    }
}
