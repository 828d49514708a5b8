//! Bringing a node up: data directory and its lock, the master key, the database, the bootstrap
//! admin key, the HTTP listener. Each step fails with one line that names the problem.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use signalbox_actors::secrets::{self, MasterKey};
use signalbox_schema::models::NewAdminKey;
use signalbox_schema::{now_micros, Backend, Store};

use crate::config::Config;

pub const MASTER_KEY_FILE: &str = "secret.key";
pub const ADMIN_KEY_FILE: &str = "admin.key";
pub const LOCK_FILE: &str = "signalbox.lock";
const MASTER_KEY_CHECK: &str = "master_key_check";

/// What start-up prepared before the HTTP server runs.
pub struct Prepared {
    pub store: Store,
    pub master_key: MasterKey,
    pub listener: TcpListener,
    /// Held for the life of the process: the exclusive lock on the SQLite data directory.
    pub _lock: Option<File>,
}

/// Everything up to a bound listener, in the order that gives the clearest refusal first.
pub fn prepare(config: &Config) -> Result<Prepared, String> {
    let url = config.database_url();
    let backend = Backend::of_url(&url);
    given_admin_key()?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", config.data_dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        // The directory holds the master key: its owner's only, whoever made it.
        let private = std::fs::Permissions::from_mode(0o700);
        if let Err(e) = std::fs::set_permissions(&config.data_dir, private) {
            log::warn!("event=data_dir_permissions_unchanged path={} error={e}", config.data_dir.display());
        }
    }
    let lock = match backend {
        Backend::Sqlite => Some(lock_data_dir(&config.data_dir)?),
        Backend::Postgres => None,
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        private_database_file(Path::new(path))?;
    }
    let listener =
        TcpListener::bind(&config.listen).map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let master_key = load_master_key(&config.data_dir)?;
    let store = Store::open(&url, config.pool_size).map_err(|e| e.to_string())?;
    let stored_check =
        store.meta_init(MASTER_KEY_CHECK, &master_key.check_value()).map_err(|e| e.to_string())?;
    if stored_check != master_key.check_value() {
        return Err("the master key does not match this database: it was created with another key \
                    (every node of a cluster needs the same SIGNALBOX_SECRET_KEY or secret.key)"
            .into());
    }
    bootstrap_admin_key(&store, &master_key, &config.data_dir)?;
    Ok(Prepared { store, master_key, listener, _lock: lock })
}

/// `SIGNALBOX_ADMIN_KEY`, if set, checked for the admin-key shape before anything is created.
fn given_admin_key() -> Result<Option<String>, String> {
    let given = std::env::var("SIGNALBOX_ADMIN_KEY").ok().filter(|k| !k.is_empty());
    if given.as_deref().is_some_and(|k| !secrets::is_token("sba_", k)) {
        return Err("SIGNALBOX_ADMIN_KEY must be an admin key: `sba_` and 43 base64url characters \
                    (32 random bytes), e.g. sba_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
            .into());
    }
    Ok(given)
}

/// The SQLite file is its owner's only (0600); SQLite gives its WAL and shared-memory files the
/// database file's mode, so they are too.
fn private_database_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let cannot = |e: std::io::Error| format!("cannot prepare the database file {}: {e}", path.display());
    OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path).map_err(cannot)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(cannot)
}

fn lock_data_dir(data_dir: &Path) -> Result<File, String> {
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "data directory {} is in use by another Signalbox node (lock {})",
            data_dir.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// `SIGNALBOX_SECRET_KEY`, else `<data_dir>/secret.key`, else a new key written there (0600).
fn load_master_key(data_dir: &Path) -> Result<MasterKey, String> {
    if let Ok(text) = std::env::var("SIGNALBOX_SECRET_KEY") {
        return MasterKey::from_base64(&text).map_err(|e| format!("SIGNALBOX_SECRET_KEY: {e}"));
    }
    let path = data_dir.join(MASTER_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate().map_err(|e| e.to_string())?;
            write_secret_file(&path, &key.to_base64())?;
            log::info!("event=master_key_created path={}", path.display());
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The first admin key, made only when the database has none: `SIGNALBOX_ADMIN_KEY` if set,
/// else a new one written to `<data_dir>/admin.key` (0600). The log names the file, never the key.
fn bootstrap_admin_key(store: &Store, master_key: &MasterKey, data_dir: &Path) -> Result<(), String> {
    let given = given_admin_key()?;
    let key = match &given {
        Some(k) => k.clone(),
        None => secrets::new_token("sba_").map_err(|e| e.to_string())?,
    };
    let digest = master_key.digest(&key);
    let created = store
        .admin_key_bootstrap(NewAdminKey {
            name: "admin",
            role: "admin",
            key_digest: &digest,
            created_at: now_micros(),
        })
        .map_err(|e| e.to_string())?;
    if created && given.is_none() {
        let path = data_dir.join(ADMIN_KEY_FILE);
        write_secret_file(&path, &key)?;
        log::info!("event=admin_key_created name=admin path={}", path.display());
    } else if created {
        log::info!("event=admin_key_created name=admin source=SIGNALBOX_ADMIN_KEY");
    }
    Ok(())
}

/// Writes one line to a new file readable by its owner only.
fn write_secret_file(path: &PathBuf, value: &str) -> Result<(), String> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // `mode` applies only to a new file; an old one keeps its bits unless we set them.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|_| writeln!(file, "{value}"))
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
