//! `signalbox admin-key create NAME --local`: the way back in when no admin key works any more
//! (revoked, lost, or `admin.key` deleted). The key is written straight into the node's
//! database with the node's own code ([`crate::admin_keys::create`]), on the machine that holds
//! the data directory — its master key is needed to store the key's digest — whether the node is
//! stopped or running: a running node reads admin keys from the database on every request.

use std::path::Path;

use serde_json::Value;

use super::ClientError;
use crate::admin_keys::{self, new_key_json, KeyError};

/// Makes an admin key in the database of the node whose data directory is `data_dir`; answers
/// it as the admin API would (the key shown once).
pub fn create_admin_key(
    data_dir: &Path,
    database_url: Option<&str>,
    name: &str,
    role: &str,
) -> Result<Value, ClientError> {
    admin_keys::check(name, role).map_err(|e| ClientError::Usage(e.to_string()))?;
    let (store, master_key) =
        crate::startup::open_existing(data_dir, database_url).map_err(ClientError::Transport)?;
    let made = admin_keys::create(&store, &master_key, name, role).map_err(|e| match e {
        KeyError::Store(signalbox_schema::StoreError::Conflict(_)) => ClientError::Refused {
            status: 409,
            details: format!("an admin key named `{name}` already exists"),
        },
        other => ClientError::Transport(other.to_string()),
    })?;
    Ok(new_key_json(&made))
}
