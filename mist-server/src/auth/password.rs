//! argon2id password hashing, always on a blocking thread: a hash takes tens
//! of milliseconds of CPU, which must not stall the async executor.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join(#[from] tokio::task::JoinError),
}

/// Hashes with argon2id and the crate's recommended parameters; the PHC
/// string carries them, so they can change later without breaking logins.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    // Generates a random salt itself.
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Verifies `password` against `stored`, or against a fixed dummy hash when
/// there is no such user, so an unknown email costs the same time as a wrong
/// password and the two cannot be told apart.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        // The dummy never verifies, even for a password that happens to match it.
        let (stored, real) = match &stored {
            Some(s) => (s.as_str(), true),
            None => (dummy_hash()?, false),
        };
        let ok = match PasswordHash::new(stored) {
            Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        };
        Ok(ok && real)
    })
    .await?
}

static DUMMY: OnceLock<String> = OnceLock::new();

fn dummy_hash() -> Result<&'static str, PasswordError> {
    if let Some(d) = DUMMY.get() {
        return Ok(d);
    }
    let h = hash_blocking("mist-dummy-password-for-timing")?;
    Ok(DUMMY.get_or_init(|| h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify("mist-dummy-password-for-timing".into(), None).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn garbage_hash_does_not_verify() {
        assert!(!verify("x".into(), Some("not a phc string".into())).await.unwrap());
    }
}
