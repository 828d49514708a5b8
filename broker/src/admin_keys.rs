//! Admin keys: their names and roles, making one (shown once, stored only as its digest under
//! the master key), and how one reads. The admin API and the CLI's local recovery
//! (`signalbox admin-key create NAME --local`) both make keys here, so both store the same thing.
//!
//! The rule that a node always keeps a key with role `admin` lives in the store
//! (`Store::admin_key_delete`, `Store::admin_key_set_role`), inside the transaction that would
//! break it.

use serde_json::{json, Value};
use signalbox_actors::secrets::{self, MasterKey};
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{AdminKey, NewAdminKey};
use signalbox_schema::{Store, StoreError};

/// `admin` may do everything; `read-only` may only GET.
pub const ROLES: &[&str] = &["admin", "read-only"];

/// The longest name a key may have.
pub const MAX_NAME: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The name or role is not one a key may have (the message says which).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No random bytes for the key.
    #[error("cannot make a key: {0}")]
    Random(String),
}

/// Checks a key's name (1–200 characters, not only spaces) and role.
pub fn check(name: &str, role: &str) -> Result<(), KeyError> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        return Err(KeyError::Invalid(format!("`name` must be 1–{MAX_NAME} characters")));
    }
    check_role(role)
}

pub fn check_role(role: &str) -> Result<(), KeyError> {
    if ROLES.contains(&role) {
        Ok(())
    } else {
        Err(KeyError::Invalid(format!("`role` must be one of {}, not `{role}`", ROLES.join(", "))))
    }
}

/// A key just made: the stored row, and the key itself, which is shown this once.
#[derive(Debug)]
pub struct NewKey {
    pub stored: AdminKey,
    pub key: String,
}

/// Makes a key named `name` with `role` and stores its digest (blocking: a store call).
pub fn create(store: &Store, master_key: &MasterKey, name: &str, role: &str) -> Result<NewKey, KeyError> {
    check(name, role)?;
    let key = secrets::new_token("sba_").map_err(|e| KeyError::Random(e.to_string()))?;
    let digest = master_key.digest(&key);
    let stored =
        store.admin_key_create(NewAdminKey { name, role, key_digest: &digest, created_at: now_micros() })?;
    Ok(NewKey { stored, key })
}

/// A key as the admin API shows it: never the key or its digest.
pub fn key_json(k: &AdminKey) -> Value {
    json!({"id": k.id, "name": k.name, "role": k.role, "created_at": iso(k.created_at)})
}

/// A new key as shown once: [`key_json`] and `key`.
pub fn new_key_json(new: &NewKey) -> Value {
    let mut body = key_json(&new.stored);
    body["key"] = json!(new.key);
    body
}
