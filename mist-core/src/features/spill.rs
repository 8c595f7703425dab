//! Per-frame values the analysis needs again once the whole track has gone by,
//! kept out of memory.
//!
//! A few of librosa's whole-track features look at every frame twice: the dB
//! floors of the mel spectrogram and of spectral contrast sit 80 dB below the
//! loudest value *of the track*, the tuning estimate takes the median of every
//! spectral peak, and chroma is computed with that tuning from the signal
//! again. Holding those values costs about 0.45 GB per hour of audio, so a
//! [`Spill`] keeps the first few megabytes in memory (short clips never touch
//! the disk) and writes the rest to an anonymous temporary file, read back in
//! order as often as needed. Values round-trip bit for bit, so the features
//! are exactly what the in-memory computation gives.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};

/// Bytes kept in memory before a spill moves to a temporary file.
const IN_MEMORY_BYTES: usize = 4 << 20;

/// An append-only sequence of fixed-size little-endian values.
pub(crate) struct Spill {
    memory: Vec<u8>,
    file: Option<BufWriter<File>>,
    bytes: u64,
}

impl Spill {
    pub(crate) fn new() -> Self {
        Spill {
            memory: Vec::new(),
            file: None,
            bytes: 0,
        }
    }

    pub(crate) fn push_f32(&mut self, value: f32) -> io::Result<()> {
        self.write(&value.to_le_bytes())
    }

    pub(crate) fn push_f32s(&mut self, values: &[f32]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(values.len().min(1 << 14) * 4);
        for chunk in values.chunks(1 << 14) {
            bytes.clear();
            bytes.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
            self.write(&bytes)?;
        }
        Ok(())
    }

    pub(crate) fn push_f64(&mut self, value: f64) -> io::Result<()> {
        self.write(&value.to_le_bytes())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.bytes += bytes.len() as u64;
        if let Some(file) = self.file.as_mut() {
            return file.write_all(bytes);
        }
        self.memory.extend_from_slice(bytes);
        if self.memory.len() > IN_MEMORY_BYTES {
            let mut file = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        Ok(())
    }

    /// Reads everything written so far from the start.
    pub(crate) fn reader(&mut self) -> io::Result<SpillReader<'_>> {
        let source: Box<dyn Read + '_> = match self.file.as_mut() {
            Some(writer) => {
                writer.flush()?;
                let file = writer.get_mut();
                file.seek(SeekFrom::Start(0))?;
                Box::new(BufReader::with_capacity(1 << 16, file))
            }
            None => Box::new(Cursor::new(self.memory.as_slice())),
        };
        Ok(SpillReader {
            source,
            left: self.bytes,
            scratch: Vec::new(),
        })
    }
}

/// Reads a [`Spill`] back in the order it was written.
pub(crate) struct SpillReader<'a> {
    source: Box<dyn Read + 'a>,
    left: u64,
    scratch: Vec<u8>,
}

impl SpillReader<'_> {
    /// The next value, or `None` at the end.
    pub(crate) fn f32(&mut self) -> io::Result<Option<f32>> {
        let mut bytes = [0u8; 4];
        Ok(self.fill(&mut bytes)?.then(|| f32::from_le_bytes(bytes)))
    }

    /// The next value, or `None` at the end.
    pub(crate) fn f64(&mut self) -> io::Result<Option<f64>> {
        let mut bytes = [0u8; 8];
        Ok(self.fill(&mut bytes)?.then(|| f64::from_le_bytes(bytes)))
    }

    /// Fills the start of `out` with the next values; returns how many
    /// (fewer than `out.len()` only at the end).
    pub(crate) fn f32s(&mut self, out: &mut [f32]) -> io::Result<usize> {
        let n = out.len().min((self.left / 4) as usize);
        self.scratch.resize(n * 4, 0);
        self.source.read_exact(&mut self.scratch)?;
        self.left -= (n * 4) as u64;
        for (v, b) in out.iter_mut().zip(self.scratch.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(n)
    }

    fn fill(&mut self, bytes: &mut [u8]) -> io::Result<bool> {
        if self.left < bytes.len() as u64 {
            return Ok(false);
        }
        self.source.read_exact(bytes)?;
        self.left -= bytes.len() as u64;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_in_order_from_memory_and_from_disk() {
        for n in [0usize, 10, IN_MEMORY_BYTES / 4 + 1000] {
            let mut spill = Spill::new();
            for i in 0..n {
                spill.push_f32(i as f32 * 0.5 - 3.0).unwrap();
            }
            assert_eq!(spill.file.is_some(), n * 4 > IN_MEMORY_BYTES, "{n}");
            // Twice: a spill is read as often as needed.
            for _ in 0..2 {
                let mut reader = spill.reader().unwrap();
                for i in 0..n.min(7) {
                    assert_eq!(reader.f32().unwrap(), Some(i as f32 * 0.5 - 3.0));
                }
                let mut rest = vec![0.0f32; 1000];
                let mut i = n.min(7);
                loop {
                    let got = reader.f32s(&mut rest).unwrap();
                    for v in &rest[..got] {
                        assert_eq!(*v, i as f32 * 0.5 - 3.0);
                        i += 1;
                    }
                    if got < rest.len() {
                        break;
                    }
                }
                assert_eq!(i, n);
                assert_eq!(reader.f32().unwrap(), None);
            }
        }
        let mut spill = Spill::new();
        spill.push_f64(-0.0).unwrap();
        spill.push_f64(f64::MIN_POSITIVE).unwrap();
        let mut reader = spill.reader().unwrap();
        assert_eq!(reader.f64().unwrap().map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert_eq!(reader.f64().unwrap(), Some(f64::MIN_POSITIVE));
        assert_eq!(reader.f64().unwrap(), None);
    }
}
