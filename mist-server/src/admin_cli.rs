//! `mist-server user …` and `mist-server invite …`: the operator's account
//! commands, run against the database directly (no running server needed).
//! The rules are [`crate::accounts`]'s, the same the admin API applies; this
//! module only finds the user named on the command line and prints for
//! people (or JSON with `--json`).

use anyhow::Context;
use mist_core::api::Role;

use crate::accounts;
use crate::app::AppState;
use crate::cli::{InviteCommand, UserCommand};
use crate::config::Settings;
use crate::db::users::{self, UserRow};

pub async fn user(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let state = AppState::connect(settings).await?;
    let db = &state.db;
    match command {
        UserCommand::Create(args) => {
            let role = if args.admin { Role::Admin } else { Role::User };
            let plan = state.settings.default_plan;
            let user = accounts::create_user(db, &args.email, &args.username, &args.password, role, plan)
                .await
                .context("cannot create user")?;
            println!(
                "created {} {} <{}> ({})",
                role.as_str(),
                user.username,
                user.email,
                user.id
            );
        }
        UserCommand::List { json } => {
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let (page, next) = users::list(db, after.as_deref(), 100).await?;
                all.extend(page);
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            if json {
                let api: Vec<_> = all.iter().map(UserRow::to_api).collect();
                println!("{}", serde_json::to_string_pretty(&api)?);
            } else {
                print!("{}", user_table(&all));
            }
        }
        UserCommand::SetPlan { user, plan } => {
            let found = find(&state, &user).await?;
            let updated = accounts::set_plan(db, &found.id, plan).await?;
            println!("{} is now on the {} plan", describe(&updated), plan.as_str());
        }
        UserCommand::SetRole { user, role } => {
            let found = find(&state, &user).await?;
            let updated = accounts::set_role(db, &found.id, role)
                .await
                .with_context(|| format!("cannot change the role of {}", describe(&found)))?;
            println!("{} is now {}", describe(&updated), role.as_str());
        }
        UserCommand::Disable { user } => {
            let found = find(&state, &user).await?;
            let updated = accounts::set_disabled(db, &found.id, true)
                .await
                .with_context(|| format!("cannot disable {}", describe(&found)))?;
            println!("disabled {} (its tokens no longer work)", describe(&updated));
        }
        UserCommand::Enable { user } => {
            let found = find(&state, &user).await?;
            let updated = accounts::set_disabled(db, &found.id, false).await?;
            println!("enabled {}", describe(&updated));
        }
        UserCommand::Delete { user } => {
            let found = find(&state, &user).await?;
            accounts::delete_user(db, &state.store, &found.id)
                .await
                .with_context(|| format!("cannot delete {}", describe(&found)))?;
            println!("deleted {} and everything it owned", describe(&found));
        }
        UserCommand::ResetPassword { user, password } => {
            let found = find(&state, &user).await?;
            let generated = password.is_none();
            let password = password.unwrap_or_else(accounts::generate_password);
            accounts::set_password(db, &found.id, &password)
                .await
                .with_context(|| format!("cannot set the password of {}", describe(&found)))?;
            if generated {
                println!("new password for {}: {password}", describe(&found));
            } else {
                println!("password of {} changed", describe(&found));
            }
            println!("(every token it held no longer works)");
        }
    }
    state.db.close().await;
    Ok(())
}

pub async fn invite(settings: Settings, command: InviteCommand) -> anyhow::Result<()> {
    let state = AppState::connect(settings).await?;
    match command {
        InviteCommand::Create { expires_in_hours } => {
            let (code, expires_at) = accounts::create_invite(&state.db, None, expires_in_hours).await?;
            println!("{code}");
            eprintln!(
                "single use, valid until {} (registration is {} on this server)",
                expires_at.format("%Y-%m-%d %H:%M UTC"),
                state.settings.registration.as_str()
            );
        }
        InviteCommand::List => {
            for (code, expires_at) in accounts::open_invites(&state.db).await? {
                println!("{code}  valid until {}", expires_at.format("%Y-%m-%d %H:%M UTC"));
            }
        }
        InviteCommand::Revoke { code } => {
            if !accounts::revoke_invite(&state.db, &code).await? {
                anyhow::bail!("no unspent invite code {code:?}");
            }
            eprintln!("revoked");
        }
    }
    state.db.close().await;
    Ok(())
}

async fn find(state: &AppState, who: &str) -> anyhow::Result<UserRow> {
    accounts::find_user(&state.db, who)
        .await
        .with_context(|| format!("no user {who:?} (give an id, email or username)"))
}

/// `alice <alice@example.org>`
fn describe(user: &UserRow) -> String {
    format!("{} <{}>", user.username, user.email)
}

fn user_table(users: &[UserRow]) -> String {
    let mut rows = vec![["ID", "USERNAME", "EMAIL", "ROLE", "PLAN", "STATUS", "CREATED"].map(String::from)];
    for u in users {
        rows.push([
            u.id.clone(),
            u.username.clone(),
            u.email.clone(),
            u.role().as_str().to_owned(),
            u.plan().as_str().to_owned(),
            if u.is_disabled() { "disabled" } else { "active" }.to_owned(),
            crate::db::ms_to_datetime(u.created_at).format("%Y-%m-%d").to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
