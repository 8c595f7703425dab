//! Accounts: who may register (the registration mode and invite codes),
//! creating users, logging in, passwords, and what an admin does to an
//! account (plan, role, disable, delete, reset the password). The register
//! route, the admin API, `mist-server user …` / `mist-server invite …` and
//! the first-start admin all come here, so they apply the same rules; the
//! last active admin is never demoted, disabled or deleted.

use std::str::FromStr;

use mist_core::api::{Plan, Role};

use crate::auth::password;
use crate::db::users::{self, AdminChange, Changed, NewUser, UserRow};
use crate::db::{self, Db};
use crate::storage::ObjectStore;

/// Why an account cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("that email is already registered")]
    EmailTaken,
    #[error("that username is taken")]
    UsernameTaken,
    #[error("registration is closed on this server; ask an admin for an account")]
    RegistrationClosed,
    #[error("registration on this server needs an invite code from an admin")]
    InviteRequired,
    #[error("that invite code is unknown, used or expired")]
    InvalidInvite,
    #[error("no such user")]
    NotFound,
    #[error("this is the last active admin; make another admin first")]
    LastAdmin,
    #[error("this account is disabled")]
    Disabled,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    #[error("cannot delete the user's stored tracks: {0}")]
    Storage(#[from] crate::storage::StorageError),
}

/// Who may create an account (`registration` setting, `MIST_REGISTRATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    /// Anyone (the default).
    #[default]
    Open,
    /// Holders of a single-use code an admin made.
    Invite,
    /// Nobody: admins create accounts (`mist-server user create`).
    Closed,
}

impl FromStr for Registration {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Registration::Open),
            "invite" => Ok(Registration::Invite),
            "closed" => Ok(Registration::Closed),
            _ => anyhow::bail!("MIST_REGISTRATION {s:?} must be open, invite or closed"),
        }
    }
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::Invite => "invite",
            Registration::Closed => "closed",
        }
    }
}

/// A syntactically plausible email, trimmed and lower-cased (emails are
/// compared case-insensitively in practice, and stored normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let email = raw.trim().to_lowercase();
        let invalid = || AccountError::Invalid(format!("{:?} is not a valid email address", raw.trim()));
        if email.len() > 254
            || email
                .chars()
                .any(|c| c.is_whitespace() || mist_core::text::is_unsafe(c))
        {
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

/// Validates and creates a user on `plan`. A race between two registrations
/// of the same email is settled by the unique index.
pub async fn create_user(
    db: &Db,
    email: &str,
    username: &str,
    password: &str,
    role: Role,
    plan: Plan,
) -> Result<UserRow, AccountError> {
    create(db, email, username, password, role, plan, None).await
}

/// Self-service registration under the server's mode. With invites, the
/// code is checked before anything about the email or username is looked
/// up, so without a valid code registration reveals nothing; the code is
/// spent in the same transaction that creates the account.
pub async fn register(
    db: &Db,
    mode: Registration,
    plan: Plan,
    email: &str,
    username: &str,
    password: &str,
    invite: Option<&str>,
) -> Result<UserRow, AccountError> {
    let code = match mode {
        Registration::Open => None,
        Registration::Closed => return Err(AccountError::RegistrationClosed),
        Registration::Invite => {
            let code = invite.map(str::trim).filter(|c| !c.is_empty());
            let code = code.ok_or(AccountError::InviteRequired)?;
            if !users::invite_usable(db, code).await? {
                return Err(AccountError::InvalidInvite);
            }
            Some(code)
        }
    };
    create(db, email, username, password, Role::User, plan, code).await
}

async fn create(
    db: &Db,
    email: &str,
    username: &str,
    password: &str,
    role: Role,
    plan: Plan,
    invite: Option<&str>,
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
        plan,
    };
    let inserted = match invite {
        None => users::insert(db, &new).await.map(Some),
        Some(code) => users::insert_with_invite(db, &new, code).await,
    };
    match inserted {
        Ok(Some(row)) => Ok(row),
        // Spent or expired between the check and the insert.
        Ok(None) => Err(AccountError::InvalidInvite),
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
/// password alike, after the same amount of hashing work. A disabled account
/// says so, but only to someone who knows its password.
pub async fn authenticate(db: &Db, email: &str, password: &str) -> Result<Option<UserRow>, AccountError> {
    let user = match Email::parse(email) {
        Ok(email) => users::find_by_email(db, email.as_str()).await?,
        Err(_) => None,
    };
    let ok = password::verify(password.to_owned(), user.as_ref().map(|u| u.password_hash.clone())).await?;
    match user {
        Some(user) if ok && user.is_disabled() => Err(AccountError::Disabled),
        user if ok => Ok(user),
        _ => Ok(None),
    }
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
        None => Some(generate_password()),
    };
    let pw = password.or(generated.as_deref()).unwrap_or_default();
    match create_user(db, email, username, pw, Role::Admin, Plan::Free).await {
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

/// Changes the caller's own password after checking the current one;
/// every token issued before stops working. Returns the updated row (its
/// new token version is what a fresh token must carry).
pub async fn change_password(
    db: &Db,
    user: &UserRow,
    current: &str,
    new_password: &str,
) -> Result<UserRow, AccountError> {
    check_password(new_password)?;
    if !password::verify(current.to_owned(), Some(user.password_hash.clone())).await? {
        return Err(AccountError::WrongPassword);
    }
    set_password(db, &user.id, new_password).await
}

/// Sets a password without the old one (an admin's reset); every token of
/// the account stops working.
pub async fn set_password(db: &Db, user_id: &str, new_password: &str) -> Result<UserRow, AccountError> {
    check_password(new_password)?;
    let hash = password::hash(new_password.to_owned()).await?;
    users::set_password(db, user_id, &hash)
        .await?
        .ok_or(AccountError::NotFound)
}

/// A random password for a reset, printed once to the admin who asked.
pub fn generate_password() -> String {
    hex::encode(rand::random::<[u8; 12]>())
}

/// A user by id, email or username (what an operator types).
pub async fn find_user(db: &Db, who: &str) -> Result<UserRow, AccountError> {
    let who = who.trim();
    if let Some(user) = users::find_by_id(db, who).await? {
        return Ok(user);
    }
    if let Ok(email) = Email::parse(who)
        && let Some(user) = users::find_by_email(db, email.as_str()).await?
    {
        return Ok(user);
    }
    users::find_by_username(db, who).await?.ok_or(AccountError::NotFound)
}

pub async fn set_plan(db: &Db, user_id: &str, plan: Plan) -> Result<UserRow, AccountError> {
    users::set_plan(db, user_id, plan).await?.ok_or(AccountError::NotFound)
}

/// Sets the role; demoting the last active admin is refused.
pub async fn set_role(db: &Db, user_id: &str, role: Role) -> Result<UserRow, AccountError> {
    changed(users::change_guarded(db, user_id, AdminChange::Role(role)).await?)
}

/// Disables (revoking every token) or enables an account; disabling the
/// last active admin is refused.
pub async fn set_disabled(db: &Db, user_id: &str, disabled: bool) -> Result<UserRow, AccountError> {
    changed(users::change_guarded(db, user_id, AdminChange::Disabled(disabled)).await?)
}

/// Deletes an account and everything it owns: its tracks (rows, then
/// stored objects, as deleting a track does), then the user row, whose
/// sessions, likes, playlists and uploads go with it. The last active admin
/// is refused before anything is deleted.
pub async fn delete_user(db: &Db, store: &ObjectStore, user_id: &str) -> Result<(), AccountError> {
    let user = users::find_by_id(db, user_id).await?.ok_or(AccountError::NotFound)?;
    if user.role() == Role::Admin && !user.is_disabled() && !users::other_active_admin(db, user_id).await? {
        return Err(AccountError::LastAdmin);
    }
    for track_id in users::track_ids(db, user_id).await? {
        let row = db::tracks::find(db, &track_id).await?;
        db::tracks::delete(db, &track_id).await?;
        // The id came from the database, so the prefix is safe to use.
        store.delete_prefix(&format!("tracks/{track_id}/")).await?;
        // As when the owner deletes it: an emptied album and unshown covers go too.
        if let Some(row) = row {
            crate::ingest::library::track_deleted(db, store, &row).await?;
        }
    }
    match users::change_guarded(db, user_id, AdminChange::Delete).await? {
        Changed::Done(_) => Ok(()),
        Changed::NotFound => Err(AccountError::NotFound),
        Changed::LastAdmin => Err(AccountError::LastAdmin),
    }
}

fn changed(result: Changed) -> Result<UserRow, AccountError> {
    match result {
        Changed::Done(Some(row)) => Ok(row),
        Changed::Done(None) | Changed::NotFound => Err(AccountError::NotFound),
        Changed::LastAdmin => Err(AccountError::LastAdmin),
    }
}

/// Default and longest life of an invite code, in hours.
pub const INVITE_DEFAULT_HOURS: u32 = 7 * 24;
pub const INVITE_MAX_HOURS: u32 = 365 * 24;

/// A new single-use invite code valid for `hours` (clamped to 1..=a year).
pub async fn create_invite(
    db: &Db,
    created_by: Option<&str>,
    hours: Option<u32>,
) -> Result<(String, chrono::DateTime<chrono::Utc>), AccountError> {
    let hours = hours.unwrap_or(INVITE_DEFAULT_HOURS).clamp(1, INVITE_MAX_HOURS);
    // 128 random bits: unguessable, and short enough to paste.
    let code = hex::encode(rand::random::<[u8; 16]>());
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(i64::from(hours));
    users::insert_invite(db, &code, created_by, expires_at.timestamp_millis()).await?;
    Ok((code, expires_at))
}

/// Open invite codes shown at most (more than anyone hands out by hand).
pub const OPEN_INVITES_SHOWN: i64 = 200;

/// The codes that could still be spent, newest first (at most
/// [`OPEN_INVITES_SHOWN`]), with when each expires.
pub async fn open_invites(db: &Db) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, AccountError> {
    let rows = users::open_invites(db, db::now_ms(), OPEN_INVITES_SHOWN).await?;
    Ok(rows
        .into_iter()
        .map(|(code, expires)| {
            (
                code,
                chrono::DateTime::from_timestamp_millis(expires).unwrap_or_default(),
            )
        })
        .collect())
}

/// Takes back an unspent code. False when there is no such code (or it was
/// spent already: the account it made stays).
pub async fn revoke_invite(db: &Db, code: &str) -> Result<bool, AccountError> {
    Ok(users::revoke_invite(db, code.trim()).await?)
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
    fn registration_modes() {
        for (raw, mode) in [
            ("open", Registration::Open),
            ("Invite", Registration::Invite),
            (" closed ", Registration::Closed),
        ] {
            assert_eq!(raw.parse::<Registration>().unwrap(), mode);
            assert_eq!(mode.as_str().parse::<Registration>().unwrap(), mode);
        }
        assert!("invites".parse::<Registration>().is_err());
        assert!("".parse::<Registration>().is_err());
    }

    #[test]
    fn emails_with_bidi_controls_are_refused() {
        assert!(Email::parse("a\u{202E}b@example.com").is_err());
        assert!(Email::parse("a@exa\u{9b}mple.com").is_err());
    }

    #[test]
    fn passwords() {
        assert!(check_password("short").is_err());
        assert!(check_password("longenough").is_ok());
        assert!(check_password(&"p".repeat(1025)).is_err());
    }
}
