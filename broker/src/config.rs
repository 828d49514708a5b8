//! Node configuration: built-in defaults, then the TOML file, then `SIGNALBOX_*` environment
//! variables, then command-line flags (clap reads the last two; a flag beats its variable).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:17010";

/// Everything a node needs to start. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP listener binds (REST, WSX channels, admin API, metrics). Port 0 picks one.
    pub listen: String,
    /// How other nodes reach this one; derived from `listen` when not set.
    pub advertise_url: Option<String>,
    /// Where the SQLite database, `secret.key`, `admin.key` and the overflow log live.
    pub data_dir: PathBuf,
    /// `sqlite://path` or `postgres://user@host/db`; default `sqlite://<data_dir>/signalbox.db`.
    pub database_url: Option<String>,
    /// This node's name in the cluster; default the host name.
    pub node_name: Option<String>,
    /// Nodes sharing one PostgreSQL database and this name form one cluster.
    pub cluster_name: String,
    /// Largest accepted request body and WSX frame, in bytes.
    pub max_message_size: usize,
    /// Database connections in the pool (SQLite uses at most 8).
    pub pool_size: u32,
    /// Default log filter (env_logger syntax) when `RUST_LOG` is not set.
    pub log: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds a verified pub/sub credential stays cached in memory.
    pub auth_cache_ttl: u64,
    /// PEM certificate chain: with `tls_key`, the listener serves HTTPS and `wss://` only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates trusted, besides the system's, by HTTPS push targets and `http`
    /// services (a private CA or a self-signed target).
    pub tls_ca: Option<PathBuf>,
    /// `/metrics` answers only requests with an admin key (`Authorization: Bearer`).
    pub metrics_auth: bool,
    /// Seconds between a cluster node's heartbeats (PostgreSQL only).
    pub heartbeat_interval: f64,
    /// Seconds without a heartbeat after which the leader declares a node dead and gives its
    /// subscriptions to live nodes.
    pub heartbeat_timeout: f64,
    /// Delivery actors take the `crash` command (a test hook): set by
    /// `SIGNALBOX_FAULT_INJECTION=1` when the node starts, never by the file or a flag.
    #[serde(skip)]
    pub fault_injection: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.into(),
            advertise_url: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            node_name: None,
            cluster_name: "signalbox".into(),
            max_message_size: 1024 * 1024,
            pool_size: 16,
            log: "info".into(),
            workers: 0,
            auth_cache_ttl: 60,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            metrics_auth: false,
            heartbeat_interval: 1.0,
            heartbeat_timeout: 10.0,
            fault_injection: false,
        }
    }
}

/// The `serve` flags; each also reads its `SIGNALBOX_*` variable.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = "Secrets are read from the environment only, never from flags:\n  \
    SIGNALBOX_SECRET_KEY   the master key (32 bytes, standard base64); else <data_dir>/secret.key\n  \
    SIGNALBOX_ADMIN_KEY    the bootstrap admin key on first start; else one is made into <data_dir>/admin.key\n  \
    RUST_LOG               log filter, overriding the `log` setting\n\
    For tests only, from the environment at start-up:\n  \
    SIGNALBOX_FAULT_INJECTION=1  delivery actors take the `crash` command (they panic, to test the respawn)")]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "SIGNALBOX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:17010].
    #[arg(long, env = "SIGNALBOX_LISTEN")]
    pub listen: Option<String>,
    /// URL other nodes use to reach this one.
    #[arg(long, env = "SIGNALBOX_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Data directory [default: ./data].
    #[arg(long, env = "SIGNALBOX_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, env = "SIGNALBOX_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Node name [default: the host name].
    #[arg(long, env = "SIGNALBOX_NODE_NAME")]
    pub node_name: Option<String>,
    /// Cluster name [default: signalbox].
    #[arg(long, env = "SIGNALBOX_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// Largest message or request body in bytes [default: 1048576].
    #[arg(long, env = "SIGNALBOX_MAX_MESSAGE_SIZE")]
    pub max_message_size: Option<usize>,
    /// Database pool size [default: 16].
    #[arg(long, env = "SIGNALBOX_POOL_SIZE")]
    pub pool_size: Option<u32>,
    /// Log filter when RUST_LOG is unset [default: info].
    #[arg(long, env = "SIGNALBOX_LOG")]
    pub log: Option<String>,
    /// HTTP worker threads, 0 = one per core [default: 0].
    #[arg(long, env = "SIGNALBOX_WORKERS")]
    pub workers: Option<usize>,
    /// Seconds verified credentials stay cached [default: 60].
    #[arg(long, env = "SIGNALBOX_AUTH_CACHE_TTL")]
    pub auth_cache_ttl: Option<u64>,
    /// PEM certificate chain; with --tls-key the listener serves HTTPS / wss:// only.
    #[arg(long, env = "SIGNALBOX_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SIGNALBOX_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates trusted, besides the system's, by HTTPS push targets and services.
    #[arg(long, env = "SIGNALBOX_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// `/metrics` needs an admin key [default: false].
    #[arg(long, env = "SIGNALBOX_METRICS_AUTH")]
    pub metrics_auth: Option<bool>,
    /// Seconds between cluster heartbeats [default: 1].
    #[arg(long, env = "SIGNALBOX_HEARTBEAT_INTERVAL")]
    pub heartbeat_interval: Option<f64>,
    /// Seconds without a heartbeat before a node is declared dead [default: 10].
    #[arg(long, env = "SIGNALBOX_HEARTBEAT_TIMEOUT")]
    pub heartbeat_timeout: Option<f64>,
}

impl Config {
    /// Defaults, then the file named by `--config`, then variables and flags.
    pub fn load(args: &ServeArgs) -> Result<Config, String> {
        let mut config = match &args.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        let ServeArgs {
            config: _,
            listen,
            advertise_url,
            data_dir,
            database_url,
            node_name,
            cluster_name,
            max_message_size,
            pool_size,
            log,
            workers,
            auth_cache_ttl,
            tls_cert,
            tls_key,
            tls_ca,
            metrics_auth,
            heartbeat_interval,
            heartbeat_timeout,
        } = args.clone();
        if let Some(v) = listen {
            config.listen = v;
        }
        if advertise_url.is_some() {
            config.advertise_url = advertise_url;
        }
        if let Some(v) = data_dir {
            config.data_dir = v;
        }
        if database_url.is_some() {
            config.database_url = database_url;
        }
        if node_name.is_some() {
            config.node_name = node_name;
        }
        if let Some(v) = cluster_name {
            config.cluster_name = v;
        }
        if let Some(v) = max_message_size {
            config.max_message_size = v;
        }
        if let Some(v) = pool_size {
            config.pool_size = v;
        }
        if let Some(v) = log {
            config.log = v;
        }
        if let Some(v) = workers {
            config.workers = v;
        }
        if let Some(v) = auth_cache_ttl {
            config.auth_cache_ttl = v;
        }
        if tls_cert.is_some() {
            config.tls_cert = tls_cert;
        }
        if tls_key.is_some() {
            config.tls_key = tls_key;
        }
        if tls_ca.is_some() {
            config.tls_ca = tls_ca;
        }
        if let Some(v) = metrics_auth {
            config.metrics_auth = v;
        }
        if let Some(v) = heartbeat_interval {
            config.heartbeat_interval = v;
        }
        if let Some(v) = heartbeat_timeout {
            config.heartbeat_timeout = v;
        }
        config.fault_injection = std::env::var("SIGNALBOX_FAULT_INJECTION").is_ok_and(|v| v == "1");
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read configuration file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| format!("bad configuration file {}: {}", path.display(), e.message()))
    }

    fn validate(&self) -> Result<(), String> {
        self.listen.parse::<SocketAddr>().map_err(|_| {
            format!("bad listen address `{}`: expected HOST:PORT, e.g. 127.0.0.1:17010", self.listen)
        })?;
        if let Some(url) = &self.database_url {
            let ok = ["sqlite://", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
            if !ok {
                return Err("bad database_url: expected sqlite://PATH or postgres://USER@HOST/DB".into());
            }
        }
        if let Some(url) = &self.advertise_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("bad advertise_url `{url}`: expected http:// or https://"));
            }
        }
        if self.max_message_size < 1024 {
            return Err("max_message_size must be at least 1024 bytes".into());
        }
        if self.pool_size == 0 {
            return Err("pool_size must be at least 1".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("tls_cert and tls_key go together: give both or neither".into());
        }
        if !(0.05..=60.0).contains(&self.heartbeat_interval) {
            return Err("heartbeat_interval must be between 0.05 and 60 seconds".into());
        }
        if self.heartbeat_timeout < 2.0 * self.heartbeat_interval {
            return Err("heartbeat_timeout must be at least twice heartbeat_interval".into());
        }
        if self.cluster_name.trim().is_empty() {
            return Err("cluster_name must not be empty".into());
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("signalbox.db").display()))
    }

    /// How other nodes reach this one: `advertise_url`, else `http(s)://<listen>` (with the
    /// port actually bound when `listen` asked for port 0).
    pub fn advertise_url(&self, bound: SocketAddr) -> String {
        self.advertise_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls_cert.is_some() { "https" } else { "http" };
            format!("{scheme}://{bound}")
        })
    }

    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "signalbox".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(toml::from_str::<Config>("").unwrap(), Config::default());
    }

    #[test]
    fn fault_injection_cannot_be_set_by_the_file() {
        let err = toml::from_str::<Config>("fault_injection = true").unwrap_err();
        assert!(err.to_string().contains("unknown field `fault_injection`"), "{err}");
        assert!(!Config::default().fault_injection);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Config>("listne = \"x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile_dir();
        let path = dir.join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\ncluster_name = \"file\"\n").unwrap();
        let args =
            ServeArgs { config: Some(path), listen: Some("127.0.0.1:2".into()), ..ServeArgs::default() };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.listen, "127.0.0.1:2");
        assert_eq!(config.cluster_name, "file");
    }

    #[test]
    fn a_bad_database_url_is_refused() {
        let args = ServeArgs { database_url: Some("mysql://x".into()), ..ServeArgs::default() };
        assert!(Config::load(&args).unwrap_err().contains("database_url"));
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
