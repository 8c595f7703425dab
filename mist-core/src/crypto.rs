//! Segment encryption and content-key wrapping.
//!
//! Owns the two pieces of cryptography in the HLS pipeline (design §3.5):
//!
//! - **Segments** are HLS `METHOD=AES-128`: AES-128-CBC with PKCS#7 padding over
//!   the whole segment, with the IV written in the playlist. Every HLS player
//!   (hls.js, Safari, ffmpeg) implements exactly this, so nothing else will do.
//! - **Content keys** are stored wrapped with the server's 256-bit master key
//!   using AES Key Wrap (RFC 3394). Key wrap carries its own integrity check,
//!   so unwrapping with the wrong master key is an error and never yields a
//!   plausible-looking wrong key.
//!
//! This module works on bytes only: where keys are stored and who may fetch
//! them is the server's business.

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit, block_padding::Pkcs7};
use rand::RngCore;

/// A 16-byte AES-128 content key, as served by `GET /api/v1/tracks/{id}/keys/{k}`.
pub type ContentKey = [u8; 16];

/// Length of a wrapped [`ContentKey`]: the key plus the 8-byte integrity block.
pub const WRAPPED_KEY_LEN: usize = 24;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// Why a decryption or unwrap failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The ciphertext cannot be a CBC/PKCS#7 message: empty or not whole blocks.
    #[error("encrypted segment is {0} bytes, not a positive multiple of the 16-byte AES block")]
    BadLength(usize),
    /// Decryption produced invalid PKCS#7 padding: wrong key, wrong IV or damaged data.
    #[error("segment did not decrypt to valid padding (wrong key or IV, or damaged data)")]
    BadPadding,
    /// A wrapped key of the wrong size.
    #[error("wrapped key is {0} bytes, expected {WRAPPED_KEY_LEN}")]
    BadWrappedLength(usize),
    /// The key-wrap integrity check failed: wrong master key or damaged wrapped key.
    #[error("wrapped key failed its integrity check (wrong master key or damaged data)")]
    WrongMasterKey,
}

/// Encrypts one clear segment as HLS AES-128: AES-128-CBC, PKCS#7 over the whole segment.
///
/// The output is always 1–16 bytes longer than the input (PKCS#7 always pads).
pub fn encrypt_segment(key: &ContentKey, iv: &[u8; 16], clear: &[u8]) -> Vec<u8> {
    Aes128CbcEnc::new(&(*key).into(), &(*iv).into()).encrypt_padded_vec::<Pkcs7>(clear)
}

/// Decrypts one HLS AES-128 segment.
///
/// A wrong key or IV is reported as [`CryptoError::BadPadding`] in about 255 of
/// 256 cases; CBC has no integrity check, so callers that must be sure (tests)
/// should also check the clear text's structure (segments start with `ID3`).
pub fn decrypt_segment(key: &ContentKey, iv: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(CryptoError::BadLength(data.len()));
    }
    Aes128CbcDec::new(&(*key).into(), &(*iv).into())
        .decrypt_padded_vec::<Pkcs7>(data)
        .map_err(|_| CryptoError::BadPadding)
}

/// Wraps a content key with the 256-bit master key (AES-256 key wrap, RFC 3394): 24 bytes.
pub fn wrap_key(master: &[u8; 32], key: &ContentKey) -> Vec<u8> {
    let kw = aes_kw::KwAes256::new(&(*master).into());
    // The fixed-size variant checks the sizes at compile time, so it cannot fail.
    let key: aes::cipher::Array<u8, aes::cipher::consts::U16> = (*key).into();
    kw.wrap_fixed_key(&key).to_vec()
}

/// Unwraps a content key. A wrong master key or damaged input is an error, never a wrong key.
pub fn unwrap_key(master: &[u8; 32], wrapped: &[u8]) -> Result<ContentKey, CryptoError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(CryptoError::BadWrappedLength(wrapped.len()));
    }
    let kw = aes_kw::KwAes256::new(&(*master).into());
    let mut out = [0u8; 16];
    kw.unwrap_key(wrapped, &mut out)
        .map_err(|_| CryptoError::WrongMasterKey)?;
    Ok(out)
}

/// A fresh random content key from the thread-local CSPRNG (ChaCha, seeded by the OS).
pub fn random_key() -> ContentKey {
    let mut key = [0u8; 16];
    rand::rng().fill_bytes(&mut key);
    key
}

/// A fresh random IV. HLS allows any IV; a random one per key period costs nothing.
pub fn random_iv() -> [u8; 16] {
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut iv);
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: ContentKey = [0x42; 16];
    const IV: [u8; 16] = [0x24; 16];

    #[test]
    fn known_answer_matches_cbc_reference() {
        // Vector from the cbc crate's documentation (AES-128-CBC, PKCS#7).
        let ct = encrypt_segment(&KEY, &IV, b"hello world! this is my plaintext.");
        let expected = "c7fe247ef97b21f07cbdd26cb5d346bf\
                        d27867cb00d9486723e159978fb9a5f9\
                        14cfb228a710de4171e396e7b6cf859e";
        let hex: String = ct.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn encrypt_decrypt_roundtrip_at_every_padding_length() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 1000] {
            let clear: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let ct = encrypt_segment(&KEY, &IV, &clear);
            assert_eq!(ct.len(), (len / 16 + 1) * 16, "PKCS#7 always adds 1..=16 bytes");
            if len > 0 {
                let n = len.min(16);
                assert_ne!(&ct[..n], &clear[..n], "ciphertext must differ");
            }
            assert_eq!(decrypt_segment(&KEY, &IV, &ct).unwrap(), clear);
        }
    }

    #[test]
    fn wrong_key_or_iv_never_returns_the_clear_text() {
        let clear = b"ID3\x04\x00 some segment bytes that are long enough".to_vec();
        let ct = encrypt_segment(&KEY, &IV, &clear);
        let mut bad_padding = 0;
        for i in 0..64u8 {
            let mut wrong = KEY;
            wrong[0] ^= i + 1;
            match decrypt_segment(&wrong, &IV, &ct) {
                Err(CryptoError::BadPadding) => bad_padding += 1,
                Err(other) => panic!("unexpected error {other}"),
                Ok(garbage) => assert_ne!(garbage, clear),
            }
        }
        // With 64 random wrong keys essentially all fail the padding check.
        assert!(bad_padding >= 56, "only {bad_padding}/64 wrong keys were detected");

        // A wrong IV flips the same bits of the first block and nothing else,
        // which padding cannot detect: that is why callers check the "ID3" magic.
        let mut wrong_iv = IV;
        wrong_iv[1] ^= 0xff;
        let out = decrypt_segment(&KEY, &wrong_iv, &ct).unwrap();
        assert_ne!(&out[..3], b"ID3");
        assert_eq!(out[1], clear[1] ^ 0xff);
        assert_eq!(&out[16..], &clear[16..]);
    }

    #[test]
    fn decrypt_rejects_lengths_that_are_not_whole_blocks() {
        assert_eq!(decrypt_segment(&KEY, &IV, &[]), Err(CryptoError::BadLength(0)));
        assert_eq!(decrypt_segment(&KEY, &IV, &[0; 17]), Err(CryptoError::BadLength(17)));
    }

    #[test]
    fn rfc3394_known_answer_256_bit_kek() {
        // RFC 3394 §4.3: wrap 128 bits of key data with a 256-bit KEK.
        let kek: [u8; 32] = core::array::from_fn(|i| i as u8);
        let key: ContentKey = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF,
        ];
        let wrapped = wrap_key(&kek, &key);
        let hex: String = wrapped.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex, "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7");
        assert_eq!(unwrap_key(&kek, &wrapped).unwrap(), key);
    }

    #[test]
    fn wrap_unwrap_roundtrip_and_wrong_master_key_is_an_error() {
        let master = [7u8; 32];
        let key = random_key();
        let wrapped = wrap_key(&master, &key);
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        assert_ne!(&wrapped[..16], &key[..], "the key must not be stored in clear");
        assert_eq!(unwrap_key(&master, &wrapped).unwrap(), key);

        let mut other = master;
        other[31] ^= 1;
        assert_eq!(unwrap_key(&other, &wrapped), Err(CryptoError::WrongMasterKey));

        let mut damaged = wrapped.clone();
        damaged[10] ^= 0x80;
        assert_eq!(unwrap_key(&master, &damaged), Err(CryptoError::WrongMasterKey));
        assert_eq!(
            unwrap_key(&master, &wrapped[..16]),
            Err(CryptoError::BadWrappedLength(16))
        );
    }

    #[test]
    fn random_keys_and_ivs_differ() {
        assert_ne!(random_key(), random_key());
        assert_ne!(random_iv(), random_iv());
    }
}
