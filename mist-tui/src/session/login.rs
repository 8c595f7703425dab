//! The saved login: the one way every command and the player get a
//! logged-in client ([`logged_in_client`]), and how a new token is kept
//! ([`save_login`]).

use anyhow::{Context, Result, bail};
use mist_core::api::AuthResponse;
use mist_core::client::{Client, ClientError};

use super::{Settings, server_string};
use crate::config::Paths;

/// A client carrying the saved token, for the server that issued it.
pub fn logged_in_client(settings: &Settings) -> Result<Client> {
    let Some(token) = settings.paths.read_token()? else {
        bail!("not logged in; run `mist login`");
    };
    let client = Client::new(settings.server())?;
    if let Some(saved) = &settings.saved_server {
        let issuer = Client::new(saved)
            .with_context(|| format!("bad `server` in {}", settings.paths.config_file().display()))?;
        if issuer.base_url() != client.base_url() {
            bail!(
                "logged in to {}, not {}; run `mist login --server {}` first",
                server_string(&issuer),
                server_string(&client),
                server_string(&client)
            );
        }
    }
    Ok(client.with_token(token))
}

/// Says what to do when the server no longer accepts the saved token.
pub fn stale_login(error: ClientError) -> anyhow::Error {
    if error.is_unauthorized() {
        anyhow::Error::new(error).context("the saved login is no longer valid; run `mist login`")
    } else {
        error.into()
    }
}

/// Records which server the token is for, then the token. The old token goes
/// first, so a failure half-way never pairs it with the new server.
pub fn save_login(paths: &Paths, client: &Client, auth: &AuthResponse) -> Result<()> {
    paths.remove_token()?;
    let mut config = paths.load_config()?;
    config.server = Some(server_string(client));
    paths.save_config(&config)?;
    paths.write_token(&auth.token)
}
