//! Bringing a node up: data directory and its lock, the master key, the database, the re-seal of
//! old sealed values, the bootstrap admin key, the HTTP listener. Each step fails with one line
//! that names the problem.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use signalbox_actors::secrets::{self, MasterKey, SealedAt};
use signalbox_schema::models::NewAdminKey;
use signalbox_schema::{now_micros, Backend, SealedCell, SealedRow, Store};

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
    reseal_unbound_values(&store, &master_key)?;
    bootstrap_admin_key(&store, &master_key, &config.data_dir)?;
    Ok(Prepared { store, master_key, listener, _lock: lock })
}

/// Seals again, bound to its row and field, every stored secret that an older node sealed in the
/// format bound to nothing (which would open wherever it was pasted, and which nothing else
/// reads any more). Runs at every start, before anything opens a sealed value; each value is
/// replaced on its own, only if unchanged since read, so nodes of a cluster starting together do
/// the work once between them. A value that does not open is named in the log and left as it
/// is: whatever uses it fails with the same clear error.
fn reseal_unbound_values(store: &Store, master_key: &MasterKey) -> Result<(), String> {
    let cells = store.sealed_cells().map_err(|e| format!("cannot read the sealed values: {e}"))?;
    let (mut resealed, mut failed) = (0usize, 0usize);
    for cell in cells {
        match resealed_value(&cell, master_key) {
            Ok(None) => {}
            Ok(Some((count, value))) => {
                if store.sealed_cell_replace(&cell, &value).map_err(|e| format!("cannot re-seal: {e}"))? {
                    resealed += count;
                }
            }
            Err(e) => {
                failed += 1;
                log::warn!("event=sealed_value_unusable error={e}");
            }
        }
    }
    log::info!("event=unbound_secrets_resealed count={resealed} failed={failed}");
    Ok(())
}

/// The value to store in place of `cell`'s, with how many secrets in it were re-sealed; `None`
/// when every one is bound already.
fn resealed_value(
    cell: &SealedCell,
    key: &MasterKey,
) -> Result<Option<(usize, String)>, secrets::SecretError> {
    let json_at = match &cell.row {
        SealedRow::Link(id) => {
            return Ok(key.reseal_unbound(&cell.value, &SealedAt::link_secret(*id))?.map(|v| (1, v)));
        }
        SealedRow::Subscription(sub_key) => SealedAt::subscription_push(sub_key),
        SealedRow::Service(name) => SealedAt::service_config(name),
    };
    let Ok(mut value) = serde_json::from_str(&cell.value) else { return Ok(None) };
    match signalbox_actors::targets::reseal_unbound(&mut value, key, &json_at)? {
        0 => Ok(None),
        count => Ok(Some((count, value.to_string()))),
    }
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
/// else the key already in `<data_dir>/admin.key` (a database that lost its keys takes that key
/// back, so whoever holds the file keeps access), else a new one written there (0600).
///
/// `admin.key` is never overwritten: a file that holds no usable key is set aside under another
/// name before a new one is written, and a file whose key the database does not know (revoked)
/// is named in the log with the way back. The log names files, never keys.
fn bootstrap_admin_key(store: &Store, master_key: &MasterKey, data_dir: &Path) -> Result<(), String> {
    let given = given_admin_key()?;
    let path = data_dir.join(ADMIN_KEY_FILE);
    let in_file = KeyFile::read(&path);
    let key = match (&given, &in_file) {
        (Some(k), _) | (None, KeyFile::Key(k)) => k.clone(),
        (None, _) => secrets::new_token("sba_").map_err(|e| e.to_string())?,
    };
    let created = store
        .admin_key_bootstrap(NewAdminKey {
            name: "admin",
            role: "admin",
            key_digest: &master_key.digest(&key),
            created_at: now_micros(),
        })
        .map_err(|e| e.to_string())?;
    if !created {
        return check_key_file(store, master_key, &path, &in_file);
    }
    match (&given, in_file) {
        (Some(_), _) => log::info!("event=admin_key_created name=admin source=SIGNALBOX_ADMIN_KEY"),
        (None, KeyFile::Key(_)) => log::warn!(
            "event=admin_key_restored name=admin path={} reason=\"the database had no admin key; the key \
             in this file is the admin key again\"",
            path.display()
        ),
        (None, unusable) => {
            if let KeyFile::Unusable(why) = unusable {
                let aside =
                    path.with_file_name(format!("{ADMIN_KEY_FILE}.unusable-{}", now_micros() / 1_000_000));
                std::fs::rename(&path, &aside).map_err(|e| {
                    format!("{} holds no admin key ({why}) and cannot be set aside: {e}", path.display())
                })?;
                log::warn!(
                    "event=admin_key_file_set_aside path={} moved_to={} reason={why:?}",
                    path.display(),
                    aside.display()
                );
            }
            write_secret_file(&path, &key)?;
            log::info!("event=admin_key_created name=admin path={}", path.display());
        }
    }
    Ok(())
}

/// What `<data_dir>/admin.key` holds.
enum KeyFile {
    Missing,
    Key(String),
    /// Something that is not an admin key, or a file that cannot be read: why.
    Unusable(String),
}

impl KeyFile {
    fn read(path: &Path) -> KeyFile {
        match std::fs::read_to_string(path) {
            Ok(text) if secrets::is_token("sba_", text.trim()) => KeyFile::Key(text.trim().to_owned()),
            Ok(_) => KeyFile::Unusable("not an admin key (sba_…)".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyFile::Missing,
            Err(e) => KeyFile::Unusable(format!("unreadable: {e}")),
        }
    }
}

/// Warns, without changing anything, when `admin.key` holds a key this database does not know
/// (it was revoked, or the file belongs to another database).
fn check_key_file(
    store: &Store,
    master_key: &MasterKey,
    path: &Path,
    in_file: &KeyFile,
) -> Result<(), String> {
    let hint = "an admin key can be made on this machine with `signalbox admin-key create NAME --local` \
                (docs/CLI.md)";
    match in_file {
        KeyFile::Key(key) => {
            if store.admin_key_by_digest(&master_key.digest(key)).map_err(|e| e.to_string())?.is_none() {
                log::warn!(
                    "event=admin_key_file_unknown path={} reason=\"this database has no such admin key \
                     (revoked?)\" hint=\"{hint}\"",
                    path.display()
                );
            }
        }
        KeyFile::Unusable(why) => {
            log::warn!("event=admin_key_file_unusable path={} reason={why:?} hint=\"{hint}\"", path.display())
        }
        KeyFile::Missing => {}
    }
    Ok(())
}

/// The store and master key of a node that has run here before, for a tool run beside it
/// (`signalbox admin-key create --local`) while the node is stopped or running. Nothing is
/// created: not the data directory, not the master key, not the database.
pub fn open_existing(data_dir: &Path, database_url: Option<&str>) -> Result<(Store, MasterKey), String> {
    let config = Config {
        data_dir: data_dir.to_path_buf(),
        database_url: database_url.map(str::to_owned),
        ..Config::default()
    };
    let url = config.database_url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        if !Path::new(path).is_file() {
            return Err(format!(
                "no Signalbox database at {path}: give the node's --data-dir, or its --database-url"
            ));
        }
    }
    let master_key = match std::env::var("SIGNALBOX_SECRET_KEY") {
        Ok(text) => MasterKey::from_base64(&text).map_err(|e| format!("SIGNALBOX_SECRET_KEY: {e}"))?,
        Err(_) => {
            let path = data_dir.join(MASTER_KEY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!("cannot read the master key {} ({e}); or set SIGNALBOX_SECRET_KEY", path.display())
            })?;
            MasterKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    // One connection: the command does a few statements and exits; with two, the second was
    // sometimes still being set up by the pool's thread as the process exited, and libpq
    // crashed it (SIGSEGV, one run in three).
    let store = Store::open(&url, 1).map_err(|e| e.to_string())?;
    match store.meta_get(MASTER_KEY_CHECK).map_err(|e| e.to_string())? {
        Some(check) if check == master_key.check_value() => Ok((store, master_key)),
        Some(_) => Err("the master key does not match this database: it was created with another key \
                        (SIGNALBOX_SECRET_KEY or the data directory's secret.key)"
            .into()),
        None => Err(format!("{url} is not the database of a Signalbox node that has started")),
    }
}

/// Writes one line to a new file readable by its owner only.
fn write_secret_file(path: &PathBuf, value: &str) -> Result<(), String> {
    // `create_new`: a secret file that exists already is never replaced.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // `mode` passes through the umask; the bits are set exactly.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|_| writeln!(file, "{value}"))
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
