//! Bearer tokens: JWT, HS256 only, with `sub` (user id), `iat`, `exp`,
//! `role`, `jti` (this token's id) and `ver` (the user's token version when
//! it was issued). The algorithm is pinned when verifying, so `alg: none`
//! and algorithm-confusion tokens are refused; a token issued in the future
//! (beyond [`MAX_CLOCK_SKEW`]) is refused too.
//!
//! Revocation is checked by the extractor against the database
//! ([`super::extract`]): logout revokes one `jti`; a password change, a
//! reset or disabling the account bumps the user's version, which ends
//! every token issued before.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mist_core::api::Role;
use serde::{Deserialize, Serialize};

/// How long a token lives.
pub const TOKEN_LIFETIME: Duration = Duration::days(7);

/// How far ahead of this server's clock a token's `iat` may be (another
/// node's clock may run a little fast).
pub const MAX_CLOCK_SKEW: Duration = Duration::seconds(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub role: Role,
    /// Empty in tokens issued before revocation existed.
    #[serde(default)]
    pub jti: String,
    /// 0 in tokens issued before revocation existed (and users start at 0).
    #[serde(default)]
    pub ver: i64,
}

/// Signs and verifies tokens with the server's secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
    #[error("token signing failed")]
    Sign,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `user_id` at token version `version`, valid from `now`
    /// for [`TOKEN_LIFETIME`], with a new random id.
    pub fn issue(
        &self,
        user_id: &str,
        role: Role,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        let expires_at = now + TOKEN_LIFETIME;
        let claims = Claims {
            sub: user_id.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            role,
            jti: hex::encode(rand::random::<[u8; 16]>()),
            ver: version,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Sign)?;
        Ok((token, expires_at))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        // jsonwebtoken checks `exp` but not an `iat` from the future.
        if claims.iat > (Utc::now() + MAX_CLOCK_SKEW).timestamp() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn issued_token_verifies() {
        let (token, exp) = keys().issue("u1", Role::Admin, 3, Utc::now()).unwrap();
        let claims = keys().verify(&token).unwrap();
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.role, Role::Admin);
        assert_eq!(claims.exp, exp.timestamp());
        assert_eq!(claims.exp - claims.iat, 7 * 24 * 3600);
        assert_eq!(claims.ver, 3);
        assert_eq!(claims.jti.len(), 32);
        let (again, _) = keys().issue("u1", Role::Admin, 3, Utc::now()).unwrap();
        assert_ne!(
            keys().verify(&again).unwrap().jti,
            claims.jti,
            "every token has its own id"
        );
    }

    #[test]
    fn a_token_from_the_future_is_refused_beyond_the_skew() {
        let (soon, _) = keys()
            .issue("u1", Role::User, 0, Utc::now() + Duration::seconds(30))
            .unwrap();
        assert!(keys().verify(&soon).is_ok(), "within the skew");
        let (future, _) = keys()
            .issue("u1", Role::User, 0, Utc::now() + Duration::hours(1))
            .unwrap();
        assert!(matches!(keys().verify(&future), Err(TokenError::Invalid)));
    }

    #[test]
    fn expired_token_is_refused() {
        let (token, _) = keys()
            .issue("u1", Role::User, 0, Utc::now() - Duration::days(8))
            .unwrap();
        assert!(matches!(keys().verify(&token), Err(TokenError::Expired)));
    }

    #[test]
    fn other_secret_is_refused() {
        let (token, _) = TokenKeys::new(b"another secret of thirty-two bytes!")
            .issue("u1", Role::User, 0, Utc::now())
            .unwrap();
        assert!(matches!(keys().verify(&token), Err(TokenError::Invalid)));
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let now = Utc::now().timestamp();
        let payload = b64.encode(format!(
            r#"{{"sub":"u1","iat":{now},"exp":{},"role":"admin"}}"#,
            now + 3600
        ));
        let token = format!("{header}.{payload}.");
        assert!(matches!(keys().verify(&token), Err(TokenError::Invalid)));
    }
}
