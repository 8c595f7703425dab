//! `mist register`, `mist login`, `mist logout`, `mist password` and
//! `mist whoami`: getting a token, keeping it, ending it (on the server too),
//! and the one way every other command gets a logged-in client
//! ([`logged_in_client`]).
//!
//! A saved token belongs to the server that issued it (`server` in
//! `config.toml`, written before the token). Pointing a later command at
//! another server with `--server` or `MIST_SERVER` is refused rather than
//! sending that server the token.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use mist_core::api::{LoginRequest, RegisterRequest, User};
use mist_core::client::Client;
use mist_core::text::{json_safe, neutralise};

use crate::session::login::{logged_in_client, save_login, stale_login};
use crate::session::{Settings, server_string};

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// The new account's email address
    #[arg(long)]
    pub email: String,
    /// 3–32 letters, digits, `_`, `.` or `-`
    #[arg(long)]
    pub username: String,
    /// At least 8 characters; asked for when omitted (read as one line from
    /// standard input when that is not a terminal)
    #[arg(long)]
    pub password: Option<String>,
    /// The invite code an admin gave you (servers with invite-only registration)
    #[arg(long)]
    pub invite: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct PasswordArgs {
    /// The current password; asked for when omitted (first line of standard
    /// input when that is not a terminal)
    #[arg(long)]
    pub current: Option<String>,
    /// The new password, at least 8 characters; asked for when omitted
    /// (second line of standard input when that is not a terminal)
    #[arg(long)]
    pub new: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The account's email address
    #[arg(long)]
    pub email: String,
    /// Asked for when omitted (read as one line from standard input when that
    /// is not a terminal)
    #[arg(long)]
    pub password: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct WhoamiArgs {
    /// Print the API's user object as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn register(settings: &Settings, args: RegisterArgs) -> Result<()> {
    let client = Client::new(settings.server())?;
    let password = match args.password {
        Some(password) => password,
        None => read_password(Confirm::Yes)?,
    };
    let request = RegisterRequest {
        email: args.email,
        username: args.username,
        password,
    };
    let auth = match &args.invite {
        Some(code) => client.register_with_invite(&request, code).await?,
        None => client.register(&request).await?,
    };
    save_login(&settings.paths, &client, &auth)?;
    println!(
        "registered and logged in to {} as {}",
        server_string(&client),
        describe(&auth.user)
    );
    Ok(())
}

pub async fn login(settings: &Settings, args: LoginArgs) -> Result<()> {
    let client = Client::new(settings.server())?;
    let password = match args.password {
        Some(password) => password,
        None => read_password(Confirm::No)?,
    };
    let request = LoginRequest {
        email: args.email,
        password,
    };
    let auth = client.login(&request).await?;
    save_login(&settings.paths, &client, &auth)?;
    println!("logged in to {} as {}", server_string(&client), describe(&auth.user));
    Ok(())
}

/// Ends the token on the server, then forgets it here. The local token goes
/// whatever the server says: an unreachable server must not keep someone
/// logged in on this machine; the message says when the server did not
/// hear of it.
pub async fn logout(settings: &Settings) -> Result<()> {
    let Some(token) = settings.paths.read_token()? else {
        println!("not logged in");
        return Ok(());
    };
    // The token goes only to the server that issued it, whatever `--server` says.
    let issuer = settings.saved_server.as_deref().unwrap_or(settings.server());
    let client = Client::new(issuer)?.with_token(token);
    let revoked = client.logout().await;
    settings.paths.remove_token()?;
    match revoked {
        Ok(()) => println!("logged out (the token no longer works anywhere)"),
        // Already dead on the server: nothing left to end.
        Err(e) if e.is_unauthorized() => println!("logged out"),
        Err(e) => println!(
            "logged out here; the server did not confirm ending the token ({}), which stays valid until it expires",
            neutralise(&e.to_string())
        ),
    }
    Ok(())
}

/// Changes the password; the server ends every older token, so the new one
/// it answers with replaces the saved token.
pub async fn change_password(settings: &Settings, args: PasswordArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let (current, new) = match (args.current, args.new) {
        (Some(current), Some(new)) => (current, new),
        (current, new) => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                let current = match current {
                    Some(c) => c,
                    None => rpassword::prompt_password("Current password: ").context("cannot read the password")?,
                };
                let new = match new {
                    Some(n) => n,
                    None => read_password(Confirm::Yes)?,
                };
                (current, new)
            } else {
                let mut lines = stdin.lock().lines();
                let mut next = |what: &str| -> Result<String> {
                    match lines.next() {
                        Some(line) => Ok(strip_line_ending(&line.context("cannot read standard input")?).to_string()),
                        None => bail!("no {what} given: pass it as a flag or a line on standard input"),
                    }
                };
                let current = match current {
                    Some(c) => c,
                    None => next("current password")?,
                };
                let new = match new {
                    Some(n) => n,
                    None => next("new password")?,
                };
                (current, new)
            }
        }
    };
    let request = mist_core::api::ChangePasswordRequest {
        current_password: current,
        new_password: new,
    };
    let auth = client.change_password(&request).await.map_err(stale_login)?;
    save_login(&settings.paths, &client, &auth)?;
    println!(
        "password changed; every other login of {} is ended",
        describe(&auth.user)
    );
    Ok(())
}

pub async fn whoami(settings: &Settings, args: WhoamiArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let user = client.me().await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&user)?));
    } else {
        println!("{}", describe(&user));
    }
    Ok(())
}

/// `alice <alice@example.org> user free`, neutralised for the terminal.
fn describe(user: &User) -> String {
    let line = format!(
        "{} <{}> {} {}",
        user.username,
        user.email,
        user.role.as_str(),
        user.plan.as_str()
    );
    neutralise(&line).into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Yes,
    No,
}

/// Asks on the terminal without echo or, when standard input is not a
/// terminal, reads one line from it, so scripts can pipe the password in.
fn read_password(confirm: Confirm) -> Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let password = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        if confirm == Confirm::Yes {
            let again = rpassword::prompt_password("Password again: ").context("cannot read the password")?;
            if again != password {
                bail!("the passwords do not match");
            }
        }
        password
    } else {
        let mut line = String::new();
        let read = stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        if read == 0 {
            bail!("no password given: pass --password or write it to standard input");
        }
        strip_line_ending(&line).to_string()
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

fn strip_line_ending(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_ending_is_stripped_from_piped_passwords() {
        let check = |line: &str, expected: &str| assert_eq!(strip_line_ending(line), expected);
        check("secret\n", "secret");
        check("secret\r\n", "secret");
        check("secret", "secret");
        check(" spaced pass \n", " spaced pass ");
        check("\n", "");
    }

    #[test]
    fn users_are_described_on_one_line() {
        let user: User = serde_json::from_str(
            r#"{"id":"u1","email":"alice@example.org","username":"alice",
                "role":"user","plan":"free","created_at":"2024-01-01T00:00:00Z"}"#,
        )
        .expect("a user");
        assert_eq!(describe(&user), "alice <alice@example.org> user free");
        let hostile = User {
            username: "eve\u{1b}]0;pwned\u{7}".into(),
            ..user
        };
        assert!(!describe(&hostile).contains('\u{1b}'), "{}", describe(&hostile));
    }
}
