//! `mist apikey create NAME | list | revoke ID` and `mist app-password`: the
//! credentials Subsonic apps sign in with (docs/subsonic.md). A key or app
//! password is printed once, when made; the server keeps only what it needs
//! to check it.

use anyhow::Result;
use mist_core::text::{json_safe, neutralise};

use super::search::aligned;
use crate::session::Settings;
use crate::session::login::{logged_in_client, stale_login};

#[derive(Debug, clap::Args)]
pub struct ApiKeyArgs {
    #[command(subcommand)]
    pub command: ApiKeyCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key for an app ("phone", "car"); it is shown this once
    Create {
        name: String,
        /// Print the API's JSON object
        #[arg(long)]
        json: bool,
    },
    /// Your keys, without their secrets
    List {
        /// Print the API's JSON list
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once
    Revoke { id: String },
}

#[derive(Debug, clap::Args)]
pub struct AppPasswordArgs {
    /// Print the API's JSON object
    #[arg(long)]
    pub json: bool,
}

pub async fn apikey(settings: &Settings, args: ApiKeyArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    match args.command {
        ApiKeyCommand::Create { name, json } => {
            let created = client.create_api_key(&name).await.map_err(stale_login)?;
            if json {
                println!("{}", json_safe(&serde_json::to_string_pretty(&created)?));
            } else {
                println!("{}", neutralise(&created.key));
                eprintln!(
                    "API key {} for {:?}: give it to the app as its API key; it is not shown again",
                    neutralise(&created.id),
                    neutralise(&created.name)
                );
            }
        }
        ApiKeyCommand::List { json } => {
            let keys = client.api_keys().await.map_err(stale_login)?;
            if json {
                println!("{}", json_safe(&serde_json::to_string_pretty(&keys)?));
            } else if keys.is_empty() {
                eprintln!("no API keys");
            } else {
                let mut rows = vec![vec![
                    "ID".to_string(),
                    "NAME".into(),
                    "CREATED".into(),
                    "LAST USED".into(),
                ]];
                for key in &keys {
                    rows.push(vec![
                        neutralise(&key.id).into_owned(),
                        neutralise(&key.name).into_owned(),
                        key.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        key.last_used_at
                            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "never".into()),
                    ]);
                }
                print!("{}", aligned(&rows));
            }
        }
        ApiKeyCommand::Revoke { id } => {
            client.delete_api_key(&id).await.map_err(stale_login)?;
            println!("{}  revoked", neutralise(&id));
        }
    }
    Ok(())
}

pub async fn app_password(settings: &Settings, args: AppPasswordArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let made = client.create_app_password().await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&made)?));
    } else {
        println!("{}", neutralise(&made.password));
        eprintln!(
            "app password for {}: for Subsonic apps that ask for a username and password; \
             it replaces the previous one and is not shown again",
            neutralise(&made.username)
        );
    }
    Ok(())
}
