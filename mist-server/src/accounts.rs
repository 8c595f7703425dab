//! Accounts: validating who may register and creating users. Used by the
//! register route, `mist-server user create` and the first-start admin, so
//! all three apply the same rules.

use mist_core::api::Role;

use crate::auth::password;
use crate::db::users::{self, NewUser, UserRow};
use crate::db::{self, Db};

/// Why an account cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("that email is already registered")]
    EmailTaken,
    #[error("that username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
}

/// A syntactically plausible email, trimmed and lower-cased (emails are
/// compared case-insensitively in practice, and stored normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let email = raw.trim().to_lowercase();
        let invalid = || AccountError::Invalid(format!("{:?} is not a valid email address", raw.trim()));
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 3–32 characters of ASCII letters, digits, `_`, `.` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let name = raw.trim();
        let ok = (3..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(AccountError::Invalid(
                "username must be 3-32 characters of letters, digits, '_', '.' or '-'".into(),
            ));
        }
        Ok(Username(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8–1024 characters. The upper bound keeps hashing cost bounded.
pub fn check_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if n < 8 {
        return Err(AccountError::Invalid("password must be at least 8 characters".into()));
    }
    if n > 1024 {
        return Err(AccountError::Invalid("password must be at most 1024 characters".into()));
    }
    Ok(())
}

/// Validates and creates a user. A race between two registrations of the
/// same email is settled by the unique index.
pub async fn create_user(
    db: &Db,
    email: &str,
    username: &str,
    password: &str,
    role: Role,
) -> Result<UserRow, AccountError> {
    let email = Email::parse(email)?;
    let username = Username::parse(username)?;
    check_password(password)?;
    match users::taken(db, email.as_str(), username.as_str()).await? {
        (true, _) => return Err(AccountError::EmailTaken),
        (_, true) => return Err(AccountError::UsernameTaken),
        _ => {}
    }
    let hash = password::hash(password.to_owned()).await?;
    let id = db::new_id();
    let new = NewUser {
        id: &id,
        email: email.as_str(),
        username: username.as_str(),
        password_hash: &hash,
        role,
    };
    match users::insert(db, &new).await {
        Ok(row) => Ok(row),
        Err(e) if db::is_unique_violation(&e) => {
            // Lost a race: say which one, as the pre-check would have.
            match users::taken(db, email.as_str(), username.as_str()).await? {
                (true, _) => Err(AccountError::EmailTaken),
                _ => Err(AccountError::UsernameTaken),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Checks an email and password. `None` for an unknown email and for a wrong
/// password alike, after the same amount of hashing work.
pub async fn authenticate(db: &Db, email: &str, password: &str) -> Result<Option<UserRow>, AccountError> {
    let user = match Email::parse(email) {
        Ok(email) => users::find_by_email(db, email.as_str()).await?,
        Err(_) => None,
    };
    let ok = password::verify(password.to_owned(), user.as_ref().map(|u| u.password_hash.clone())).await?;
    Ok(if ok { user } else { None })
}

/// What happened when the server made sure an admin exists.
pub enum AdminBootstrap {
    AlreadyPresent,
    Created {
        email: String,
        generated_password: Option<String>,
    },
}

/// On first start, creates the admin (password from the settings, or a
/// random one that the caller prints once).
pub async fn ensure_admin(
    db: &Db,
    email: &str,
    username: &str,
    password: Option<&str>,
) -> Result<AdminBootstrap, AccountError> {
    if users::admin_exists(db).await? {
        return Ok(AdminBootstrap::AlreadyPresent);
    }
    let generated = match password {
        Some(_) => None,
        None => Some(hex::encode(rand::random::<[u8; 12]>())),
    };
    let pw = password.or(generated.as_deref()).unwrap_or_default();
    match create_user(db, email, username, pw, Role::Admin).await {
        Ok(row) => Ok(AdminBootstrap::Created {
            email: row.email,
            generated_password: generated,
        }),
        // Another node created it at the same moment.
        Err(AccountError::EmailTaken | AccountError::UsernameTaken) if users::admin_exists(db).await? => {
            Ok(AdminBootstrap::AlreadyPresent)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let ok = |s: &str, want: &str| assert_eq!(Email::parse(s).unwrap().as_str(), want, "{s}");
        let bad = |s: &str| assert!(Email::parse(s).is_err(), "{s} should be refused");
        ok("Ann@Example.COM", "ann@example.com");
        ok("  bob@localhost ", "bob@localhost");
        bad("");
        bad("no-at-sign");
        bad("@example.com");
        bad("a@");
        bad("a@b@c");
        bad("a b@example.com");
        bad("a@.example.com");
        bad("a@example..com");
        bad(&format!("{}@example.com", "x".repeat(65)));
    }

    #[test]
    fn usernames() {
        for good in ["ann", "Ann_B.c-9", &"x".repeat(32)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "ab", "has space", "émile", "semi;colon", &"x".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("short").is_err());
        assert!(check_password("longenough").is_ok());
        assert!(check_password(&"p".repeat(1025)).is_err());
    }
}
