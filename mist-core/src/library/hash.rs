//! SHA-256 content hashes: of an upload's original bytes (the same audio
//! uploaded twice by one owner is found by it), of a cover picture (stored
//! once per album) and of each encoded thumbnail (its ETag).
//!
//! One way to hash: [`ContentHash::of`] for bytes in memory, [`Hasher`] for
//! bytes that stream past (it is an [`std::io::Write`], so `io::copy` feeds
//! it), [`hash_reader`] for a reader. Hex is lower-case, 64 characters, the
//! form stored and compared.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Parses 64 hex digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            *byte = u8::try_from(high << 4 | low).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// SHA-256 over bytes given piece by piece.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> ContentHash {
        ContentHash(self.0.finalize().into())
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes everything `reader` yields, in bounded memory.
pub fn hash_reader(mut reader: impl Read) -> io::Result<ContentHash> {
    let mut hasher = Hasher::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    // FIPS 180-2 test vectors.
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn known_vectors() {
        assert_eq!(ContentHash::of(b"").to_hex(), EMPTY);
        assert_eq!(ContentHash::of(b"abc").to_hex(), ABC);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut hasher = Hasher::new();
        for chunk in data.chunks(4093) {
            hasher.update(chunk);
        }
        let streamed = hasher.finish();
        assert_eq!(streamed, ContentHash::of(&data));
        assert_eq!(hash_reader(&data[..]).expect("reading a slice"), streamed);
    }

    #[test]
    fn hex_round_trip_and_refusals() {
        let hash = ContentHash::of(b"abc");
        assert_eq!(ContentHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(ContentHash::from_hex(&ABC.to_uppercase()), Some(hash));
        for bad in [
            "",
            "abc",
            &ABC[..63],
            &format!("{ABC}0"),
            &ABC.replace('a', "g"),
            &"é".repeat(32),
        ] {
            assert_eq!(ContentHash::from_hex(bad), None, "{bad:?}");
        }
    }
}
