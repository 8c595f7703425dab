//! Sign-in for `/rest`: an API key (`apiKey=`, the `apiKeyAuthentication`
//! extension), or the user's app password, by token (`u` + `t` + `s`,
//! `t = md5(password + salt)`) or in the clear (`u` + `p`, plain or
//! `enc:`-hex).
//!
//! The account password is never accepted here: it is stored only as an
//! argon2id hash, and token sign-in needs the password itself on the server.
//! So apps get a password of their own, made by the server, shown once, and
//! kept wrapped with the master key (the same RFC 3394 wrapping as content
//! keys, `mist_core::crypto`); revoking it or a key cuts that app off
//! without touching the account. API keys are kept as SHA-256 hashes only.
//!
//! Failures count against the same per-IP limiter as `/api/v1/auth/login`,
//! and past it every sign-in from that address is refused until the window
//! turns, right credentials or not.

use std::net::IpAddr;
use std::time::Instant;

use md5::Digest as _;
use mist_core::crypto;

use super::Params;
use super::response::SubsonicError;
use crate::app::AppState;
use crate::db::subsonic as db;
use crate::db::users::{self, UserRow};

/// An app password is 128 random bits (one AES block, so the content-key
/// wrapping serves it unchanged), shown as 32 hex digits.
pub fn new_app_password() -> crypto::ContentKey {
    crypto::random_key()
}

pub fn app_password_text(key: &crypto::ContentKey) -> String {
    hex::encode(key.as_ref())
}

/// An API key: 256 random bits, as 64 hex digits with a `mist_` prefix (so
/// a leaked one is recognisable in a log or a paste).
pub fn new_api_key() -> String {
    format!("mist_{}", hex::encode(rand::random::<[u8; 32]>()))
}

pub fn api_key_hash(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// Equal in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The caller of a `/rest` request, or the Subsonic error that refuses it.
pub async fn authenticate(state: &AppState, params: &Params, ip: IpAddr) -> Result<UserRow, SubsonicError> {
    if let Err(retry_after_s) = state.auth_limiter.blocked(ip, Instant::now()) {
        metrics::counter!("mist_rate_limited_total", "scope" => "subsonic_auth").increment(1);
        return Err(SubsonicError::RateLimited(retry_after_s));
    }
    let result = check(state, params).await;
    if let Err(SubsonicError::WrongCredentials | SubsonicError::InvalidApiKey | SubsonicError::Unsupported(_)) = &result
    {
        // Counted; the answer stays the same until the limit is reached.
        let _ = state.auth_limiter.check(ip, Instant::now());
    }
    result
}

async fn check(state: &AppState, params: &Params) -> Result<UserRow, SubsonicError> {
    let api_key = params.get("apiKey");
    let username = params.get("u");
    let token = params.get("t");
    let password = params.get("p");
    if let Some(key) = api_key {
        if username.is_some() || token.is_some() || password.is_some() {
            return Err(SubsonicError::Conflicting);
        }
        let now = state.clock.now_ms();
        let user_id = db::api_key_user(&state.db, &api_key_hash(key), now)
            .await?
            .ok_or(SubsonicError::InvalidApiKey)?;
        return active(users::find_by_id(&state.db, &user_id).await?).ok_or(SubsonicError::InvalidApiKey);
    }
    let username = username.ok_or(SubsonicError::Missing("u"))?;
    if token.is_some() && password.is_some() {
        return Err(SubsonicError::Conflicting);
    }
    let presented = match (token, password) {
        (Some(token), None) => Presented::Token {
            token: token.to_ascii_lowercase(),
            salt: params.get("s").ok_or(SubsonicError::Missing("s"))?,
        },
        (None, Some(password)) => Presented::Password(decode_password(password)?),
        _ => return Err(SubsonicError::Missing("t")),
    };
    let user = users::find_by_username(&state.db, username).await?;
    let stored = match &user {
        Some(user) => db::app_password(&state.db, &user.id).await?,
        None => None,
    };
    let secret = match stored {
        Some(wrapped) => crypto::unwrap_key(&state.settings.master_key.0, &wrapped)
            .map(|k| app_password_text(&k))
            .map_err(|e| SubsonicError::internal(anyhow::anyhow!("cannot unwrap an app password: {e}")))?,
        // No such user, or no app password yet: compared against nothing
        // that can match, in the same time.
        None => String::from("\u{0}"),
    };
    let matches = match presented {
        Presented::Token { token, salt } => {
            let expected = hex::encode(md5::Md5::digest(format!("{secret}{salt}").as_bytes()));
            same(expected.as_bytes(), token.as_bytes())
        }
        Presented::Password(password) => same(secret.as_bytes(), password.as_bytes()),
    };
    if !matches {
        return Err(SubsonicError::WrongCredentials);
    }
    active(user).ok_or(SubsonicError::WrongCredentials)
}

enum Presented<'a> {
    Token { token: String, salt: &'a str },
    Password(String),
}

/// `p=secret` or `p=enc:<hex of the UTF-8 bytes>`.
fn decode_password(p: &str) -> Result<String, SubsonicError> {
    match p.strip_prefix("enc:") {
        Some(hex_text) => hex::decode(hex_text)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(SubsonicError::WrongCredentials),
        None => Ok(p.to_owned()),
    }
}

fn active(user: Option<UserRow>) -> Option<UserRow> {
    user.filter(|u| !u.is_disabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_decode_plain_and_hex() {
        assert_eq!(decode_password("sesame").ok().as_deref(), Some("sesame"));
        assert_eq!(decode_password("enc:736573616d65").ok().as_deref(), Some("sesame"));
        assert!(decode_password("enc:zz").is_err());
        assert!(decode_password("enc:ff").is_err(), "not UTF-8");
    }

    #[test]
    fn the_token_is_md5_of_password_and_salt() {
        // The spec's example: password "sesame", salt "c19b2d".
        let token = hex::encode(md5::Md5::digest(b"sesamec19b2d"));
        assert_eq!(token, "26719a1196d2a940705a59634eb18eab");
    }

    #[test]
    fn keys_are_long_and_hashes_stable() {
        let key = new_api_key();
        assert_eq!(key.len(), 5 + 64);
        assert_eq!(api_key_hash(&key), api_key_hash(&key));
        assert_ne!(api_key_hash(&key), api_key_hash(&new_api_key()));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}
