//! Test helpers: real Signalbox nodes started as processes on port 0, each with a fresh data
//! directory and, for PostgreSQL, a fresh database.
//!
//! PostgreSQL runs are enabled by `SIGNALBOX_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1/test`,
//! a database used only to create the per-test ones). With `SIGNALBOX_TEST_REQUIRE_PG=1`, a test
//! that would skip PostgreSQL fails instead.

pub mod cluster;
mod db;
mod metrics;

pub use db::Db;
pub use metrics::{metric, Metrics, Sample};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use std::time::Duration as Wait;

use diesel::{Connection, PgConnection, RunQueryDsl};

pub mod browser;

pub use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends every storage test runs on: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if pg_admin_url().is_some() {
        out.push(Backend::Postgres);
    } else if std::env::var("SIGNALBOX_TEST_REQUIRE_PG").is_ok_and(|v| v == "1") {
        panic!("SIGNALBOX_TEST_REQUIRE_PG=1 but SIGNALBOX_TEST_PG_URL is not set");
    }
    out
}

fn pg_admin_url() -> Option<String> {
    std::env::var("SIGNALBOX_TEST_PG_URL").ok().filter(|u| !u.is_empty())
}

/// Whether a service on this machine that some tests need (RabbitMQ, Chromium) is here. When it
/// is not, the test is skipped with one line saying why — unless `require_var` is `1` (as
/// `.ci/run` sets it), and then it fails, so CI never skips.
pub fn needs(what: &str, require_var: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var(require_var).is_ok_and(|v| v == "1") {
        panic!("{what}: required ({require_var}=1) but missing");
    }
    // Straight to the terminal: the test harness would swallow `eprintln!` of a passing test.
    use std::io::Write;
    let line =
        format!("skipped: {what} missing (set {require_var}=1 to fail instead; .ci/run installs it)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// RabbitMQ on 127.0.0.1:5672, for the AMQP push tests.
pub fn rabbitmq_here() -> bool {
    let addr = "127.0.0.1:5672".parse().expect("address");
    let up = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok();
    needs("RabbitMQ on 127.0.0.1:5672", "SIGNALBOX_TEST_REQUIRE_RABBITMQ", up)
}

/// The node binary, built once per test process so the tests always run the current code.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("SIGNALBOX_BIN") {
            return PathBuf::from(path);
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        // The variables cargo sets for a test run would make this nested build look different
        // from the one that built the tests, and compile everything again.
        for (key, _) in std::env::vars() {
            if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
                build.env_remove(key);
            }
        }
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test> → target/<profile>/signalbox, built in the same profile
        // (`cargo test --release` tests a release binary, not a stale debug one).
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
        build.args(["build", "-q", "--workspace", "--bins", "--manifest-path"]).arg(&manifest);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build for the signalbox binary");
        assert!(status.success(), "building the signalbox binary failed");
        profile_dir.join("signalbox")
    })
}

/// A fresh, empty PostgreSQL database on the configured server, its URL; dropped with the
/// [`Node`] that uses it.
pub fn fresh_pg_database() -> String {
    let admin = pg_admin_url().expect("PostgreSQL configured");
    let name = format!("sbt_{}_{}", std::process::id(), random_suffix());
    let mut conn = PgConnection::establish(&admin).expect("connect to SIGNALBOX_TEST_PG_URL");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create database");
    let (base, _) = admin.rsplit_once('/').expect("database URL with a path");
    format!("{base}/{name}")
}

pub(crate) fn drop_pg_database(url: &str) {
    let url = url.split('?').next().unwrap_or(url);
    if let (Some(admin), Some((_, name))) = (pg_admin_url(), url.rsplit_once('/')) {
        if let Ok(mut conn) = PgConnection::establish(&admin) {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
    }
}

pub fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// How to start a node; `Default` is a fresh SQLite node.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

/// A running node process. Killed (and its PostgreSQL database dropped) when dropped.
pub struct Node {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub admin_key: String,
    pub backend: Backend,
    _tmp: Option<tempfile::TempDir>,
    opts: NodeOptions,
}

impl Node {
    pub fn start(backend: Backend) -> Node {
        let database_url = match backend {
            Backend::Postgres => Some(fresh_pg_database()),
            Backend::Sqlite => None,
        };
        Node::start_with(NodeOptions { database_url, ..NodeOptions::default() })
    }

    pub fn start_with(mut opts: NodeOptions) -> Node {
        let tmp = match &opts.data_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("temp dir")),
        };
        let data_dir = opts.data_dir.clone().unwrap_or_else(|| tmp.as_ref().unwrap().path().to_path_buf());
        opts.data_dir = Some(data_dir.clone());
        let backend = match &opts.database_url {
            Some(u) if u.starts_with("postgres") => Backend::Postgres,
            _ => Backend::Sqlite,
        };
        let (child, url) = spawn(&opts).unwrap_or_else(|e| panic!("node did not start: {e}"));
        // The key the node itself was given (the test process's own variable never reaches it),
        // else the one it wrote.
        let admin_key =
            opts.env.iter().find(|(k, _)| k == "SIGNALBOX_ADMIN_KEY").map(|(_, v)| v.clone()).unwrap_or_else(
                || std::fs::read_to_string(data_dir.join("admin.key")).expect("admin.key").trim().to_owned(),
            );
        Node {
            child: Some(child),
            url,
            data_dir,
            database_url: opts.database_url.clone(),
            admin_key,
            backend,
            _tmp: tmp,
            opts,
        }
    }

    /// The options that start another node on the same data directory and database (and on the
    /// same address, when one was chosen).
    pub fn same_storage(&self) -> NodeOptions {
        self.opts.clone()
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("node.log")
    }

    /// Everything the node logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// The process is still there (it did not crash or exit).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; answers the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("node running");
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("node did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the node again on the same data directory and database (a new port).
    pub fn restart(&mut self) {
        self.kill9();
        let (child, url) = spawn(&self.same_storage()).unwrap_or_else(|e| panic!("restart failed: {e}"));
        self.child = Some(child);
        self.url = url;
    }

    pub fn admin(&self) -> Http {
        Http::new(&self.url).bearer(&self.admin_key)
    }

    pub fn http(&self) -> Http {
        Http::new(&self.url)
    }

    /// Runs the CLI against this node; answers (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        self.cli_with_env(args, &[])
    }

    /// Runs the CLI with variables set for its process only (never the test process's own,
    /// which tests running in parallel share).
    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = Command::new(binary())
            .args(["--url", &self.url])
            .args(args)
            .env("SIGNALBOX_ADMIN_KEY", &self.admin_key)
            .envs(env.iter().copied())
            .output()
            .expect("run the CLI");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if self.backend == Backend::Postgres && self._tmp.is_some() {
            if let Some(url) = &self.database_url {
                drop_pg_database(url);
            }
        }
    }
}

/// Starts `signalbox serve` and waits for its "listening on" line.
pub fn spawn(opts: &NodeOptions) -> Result<(Child, String), String> {
    let data_dir = opts.data_dir.clone().expect("data dir chosen");
    std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("node.log"))
        .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .args(["--listen", opts.listen.as_deref().unwrap_or("127.0.0.1:0")])
        .arg("--data-dir")
        .arg(&data_dir)
        .args(&opts.args)
        .env("RUST_LOG", std::env::var("SIGNALBOX_TEST_LOG").unwrap_or_else(|_| "info".into()))
        .env_remove("SIGNALBOX_SECRET_KEY")
        .env_remove("SIGNALBOX_ADMIN_KEY")
        .env_remove("SIGNALBOX_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(log);
    if let Some(url) = &opts.database_url {
        cmd.args(["--database-url", url]);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("signalbox listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => Ok((child, url)),
        Err(_) => {
            let status = child.try_wait().ok().flatten();
            let _ = child.kill();
            let log = std::fs::read_to_string(data_dir.join("node.log")).unwrap_or_default();
            Err(format!("no listening line (exit {status:?}); log:\n{log}"))
        }
    }
}

/// Runs `signalbox serve` to completion with a deadline; answers (exit code, stderr). For
/// start-up refusals, which must exit by themselves.
pub fn serve_expecting_exit(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(binary());
    cmd.arg("serve").args(args).env_remove("SIGNALBOX_SECRET_KEY").env_remove("SIGNALBOX_ADMIN_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not exit by itself");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small blocking HTTP client that answers (status, JSON body) whatever the status.
#[derive(Clone)]
pub struct Http {
    base: String,
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
}

impl Http {
    pub fn new(base: &str) -> Http {
        Http {
            base: base.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build(),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Http {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn bearer(self, key: &str) -> Http {
        self.header("Authorization", &format!("Bearer {key}"))
    }

    pub fn basic(self, user: &str, password: &str) -> Http {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header("Authorization", &format!("Basic {token}"))
    }

    /// Sends `body` as raw text (to test malformed JSON) or nothing.
    pub fn raw(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value, Vec<(String, String)>) {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        for (k, v) in &self.headers {
            req = req.set(k, v);
        }
        let res = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let res = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = res.status();
        let headers = res
            .headers_names()
            .into_iter()
            .map(|h| {
                let v = res.header(&h).unwrap_or_default().to_owned();
                (h, v)
            })
            .collect();
        let text = res.into_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let text = body.map(|b| b.to_string());
        let (status, value, _) = self.raw(method, path, text.as_deref());
        (status, value)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("PATCH", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None)
    }

    /// A POST that sets something up: asserts it succeeded (200 or 201) and answers the body,
    /// so a test never goes on from a refused setup.
    #[track_caller]
    pub fn post_ok(&self, path: &str, body: &Value) -> Value {
        let (status, answer) = self.post(path, body);
        assert!(status == 200 || status == 201, "POST {path} {body}: {status} {answer}");
        answer
    }

    /// A PATCH that sets something up: asserts 200 and answers the body.
    #[track_caller]
    pub fn patch_ok(&self, path: &str, body: &Value) -> Value {
        let (status, answer) = self.patch(path, body);
        assert_eq!(status, 200, "PATCH {path} {body}: {answer}");
        answer
    }
}

/// Asserts an error answer: the status and the Zato envelope.
#[track_caller]
pub fn assert_error(answer: &(u16, Value), status: u16) {
    assert_eq!(answer.0, status, "expected {status}, got {answer:?}");
    assert_eq!(answer.1["result"], "Error", "not the error envelope: {answer:?}");
    assert!(answer.1["cid"].as_str().is_some_and(|c| !c.is_empty()), "no cid: {answer:?}");
    assert!(answer.1["details"].as_str().is_some_and(|d| !d.is_empty()), "no details: {answer:?}");
}

/// [`assert_error`], with exactly these `details`.
#[track_caller]
pub fn assert_refused(answer: &(u16, Value), status: u16, details: &str) {
    assert_error(answer, status);
    assert_eq!(answer.1["details"], details, "{answer:?}");
}

/// A topic, an endpoint allowed to publish and subscribe to it, and a client logged in as that
/// endpoint — the usual start of a pub/sub test.
pub struct PubSub {
    pub topic: String,
    pub topic_id: i64,
    pub endpoint: String,
    pub endpoint_id: i64,
    pub password: String,
    pub client: Http,
}

impl PubSub {
    /// Creates `topic` with `topic_fields` and an endpoint `<name>` with `pub=`/`sub=` for it.
    pub fn setup(node: &Node, topic: &str, topic_fields: Value, endpoint: &str) -> PubSub {
        let mut body = topic_fields;
        body["name"] = json!(topic);
        let (status, t) = node.admin().post("/admin/v1/topics", &body);
        assert_eq!(status, 201, "{t}");
        let (status, e) = node.admin().post(
            "/admin/v1/endpoints",
            &json!({"name": endpoint, "role": "pub-sub", "topic_patterns": [format!("pub={topic}"), format!("sub={topic}")]}),
        );
        assert_eq!(status, 201, "{e}");
        let password = e["password"].as_str().unwrap().to_owned();
        PubSub {
            topic: topic.to_owned(),
            topic_id: t["id"].as_i64().unwrap(),
            endpoint: endpoint.to_owned(),
            endpoint_id: e["id"].as_i64().unwrap(),
            client: node.http().basic(endpoint, &password),
            password,
        }
    }

    pub fn topic_path(&self) -> String {
        format!("/zato/pubsub/topic/{}", self.topic)
    }

    pub fn publish(&self, body: Value) -> (u16, Value) {
        self.client.post(&self.topic_path(), &body)
    }

    /// Publishes and asserts 200; answers the msg_id.
    pub fn publish_ok(&self, body: Value) -> String {
        let (status, answer) = self.publish(body);
        assert_eq!(status, 200, "{answer}");
        answer["msg_id"].as_str().unwrap().to_owned()
    }

    pub fn subscribe(&self, options: Value) -> String {
        let (status, body) =
            self.client.post(&format!("/zato/pubsub/subscribe/topic/{}", self.topic), &options);
        assert_eq!(status, 200, "{body}");
        body["sub_key"].as_str().unwrap().to_owned()
    }

    pub fn pull(&self, max: Option<usize>) -> Vec<Value> {
        let path = match max {
            Some(m) => format!("{}?max={m}", self.topic_path()),
            None => self.topic_path(),
        };
        let (status, body) = self.client.call("PATCH", &path, None);
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    }

    /// Pulls until something comes (a lease running out, a message on its way), within `secs`.
    pub fn pull_when_ready(&self, secs: u64) -> Vec<Value> {
        let mut got = Vec::new();
        eventually("messages to pull", secs, || {
            got = self.pull(None);
            !got.is_empty()
        });
        got
    }

    pub fn ack(&self, ids: &[&str]) -> (u16, Value) {
        self.client.post(&format!("/zato/pubsub/ack/topic/{}", self.topic), &json!({"msg_id_list": ids}))
    }
}

/// The `data` of each message, as strings where they are strings.
pub fn datas(messages: &[Value]) -> Vec<Value> {
    messages.iter().map(|m| m["data"].clone()).collect()
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status the receiver answered with: a request answered 2xx is a delivery, any other
    /// is a refused push the node must make again.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Answered 2xx: the push was delivered.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How a [`Receiver`] answers a request: status, body, and a delay before answering.
pub type Responder = Box<dyn Fn(&Received) -> (u16, String, Duration) + Send + Sync>;

/// A real HTTP server on a loopback port for tests: records every request and answers as told.
pub struct Receiver {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub fn start(respond: Responder) -> Receiver {
        Receiver::start_on("127.0.0.1:0", respond)
    }

    /// On a given address, e.g. one a subscription already pushes to while nothing listened.
    pub fn start_on(addr: &str, respond: Responder) -> Receiver {
        Receiver::serve(addr, None, respond)
    }

    /// Over HTTPS with `cert` (made by rcgen, e.g. for `localhost`), at `https://localhost:PORT`.
    pub fn start_tls(cert: &rcgen::CertifiedKey<rcgen::KeyPair>, respond: Responder) -> Receiver {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .expect("TLS server config");
        Receiver::serve("127.0.0.1:0", Some(std::sync::Arc::new(config)), respond)
    }

    fn serve(addr: &str, tls: Option<std::sync::Arc<rustls::ServerConfig>>, respond: Responder) -> Receiver {
        let listener = std::net::TcpListener::bind(addr).expect("bind receiver");
        let local = listener.local_addr().unwrap();
        let url = match tls {
            Some(_) => format!("https://localhost:{}", local.port()),
            None => format!("http://{local}"),
        };
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let respond = std::sync::Arc::new(respond);
        let (reqs, stopped) = (requests.clone(), stop.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || loop {
            if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let (stream, _) = match listener.accept() {
                Ok(s) => s,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            };
            let (reqs, respond, tls) = (reqs.clone(), respond.clone(), tls.clone());
            std::thread::spawn(move || {
                stream.set_nonblocking(false).ok();
                stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                match tls {
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                        answer_requests(rustls::StreamOwned::new(conn, stream), &reqs, &respond)
                    }
                    None => answer_requests(stream, &reqs, &respond),
                }
            });
        });
        Receiver { url, requests, stop }
    }

    pub fn received(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Reads HTTP/1.1 requests off one connection, records them and answers each as told.
fn answer_requests(
    mut stream: impl std::io::Read + std::io::Write,
    reqs: &std::sync::Mutex<Vec<Received>>,
    respond: &Responder,
) {
    loop {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => buf.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let mut lines = head.lines();
        let first: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        let received = Received {
            at: Instant::now(),
            method: first.first().unwrap_or(&"").to_string(),
            path: first.get(1).unwrap_or(&"").to_string(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            status: 0,
        };
        let (status, text, delay) = respond(&received);
        reqs.lock().unwrap().push(Received { status, ..received });
        std::thread::sleep(delay);
        let answer = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if stream.write_all(answer.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}

/// A loopback port nothing listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A real WebSocket client speaking WSX frames, over a real socket.
pub struct WsxClient {
    pub socket: tungstenite::WebSocket<std::net::TcpStream>,
    pub token: Option<String>,
    next_id: u64,
}

impl WsxClient {
    /// Connects to `path` on the node (e.g. `/wsx/gateway`).
    pub fn connect(node: &Node, path: &str) -> WsxClient {
        let addr = node.url.trim_start_matches("http://").to_owned();
        let stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (socket, _) =
            tungstenite::client(format!("ws://{addr}{path}"), stream).expect("WebSocket handshake");
        WsxClient::over(socket)
    }

    /// A client on a WebSocket made elsewhere (from another source address, say).
    pub fn over(socket: tungstenite::WebSocket<std::net::TcpStream>) -> WsxClient {
        WsxClient { socket, token: None, next_id: 0 }
    }

    pub fn send_text(&mut self, text: &str) {
        self.socket.send(tungstenite::Message::Text(text.into())).expect("send");
    }

    pub fn send(&mut self, frame: &Value) {
        self.send_text(&frame.to_string());
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("client.{}", self.next_id)
    }

    /// The next text frame as JSON; pings are answered by tungstenite. Panics on close.
    pub fn recv(&mut self) -> Value {
        loop {
            match self.socket.read().expect("read a frame") {
                tungstenite::Message::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
                tungstenite::Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next text frame as JSON if one comes within `wait`; `None` when none came. Panics on
    /// a close or any other error: only silence counts as "nothing came".
    pub fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        self.socket.get_ref().set_read_timeout(Some(wait)).expect("read timeout");
        let frame = loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    break Some(serde_json::from_str(&t).expect("JSON frame"))
                }
                Ok(tungstenite::Message::Close(c)) => panic!("closed: {c:?}"),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    break None
                }
                Err(e) => panic!("read a frame: {e}"),
            }
        };
        self.socket.get_ref().set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        frame
    }

    /// Reads until the node closes the connection; answers its close code (`None`: a close
    /// frame without one). Text frames before the close are skipped; a connection that ends
    /// without a close frame (reset, timeout) fails the test.
    pub fn recv_close(&mut self) -> Option<u16> {
        self.frames_until_close().1
    }

    /// The text frames until the node closes the connection, and the close code; panics when
    /// the connection ends without a close frame.
    pub fn frames_until_close(&mut self) -> (Vec<Value>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    frames.push(serde_json::from_str(&t).expect("JSON frame"))
                }
                Ok(tungstenite::Message::Close(close)) => return (frames, close.map(|c| u16::from(c.code))),
                Ok(_) => continue,
                Err(e) => panic!("no close frame (after {frames:?}): {e}"),
            }
        }
    }

    /// `create-session` that must succeed: asserts the `zwsx.rspa` with status 200 and a token,
    /// keeps the token, and answers the reply.
    #[track_caller]
    pub fn login(&mut self, username: &str, secret: &str) -> Value {
        let reply = self.try_login(username, secret);
        assert_eq!(
            (&reply["meta"]["msg_type"], &reply["meta"]["status"]),
            (&json!("zwsx.rspa"), &json!(200)),
            "login as {username}: {reply}"
        );
        assert!(self.token.is_some(), "login as {username} answered no token: {reply}");
        reply
    }

    /// `create-session` whatever it answers (for the refusals); keeps the token of a success.
    pub fn try_login(&mut self, username: &str, secret: &str) -> Value {
        let id = self.id();
        self.send(&json!({"meta": {"action": "create-session", "id": id, "timestamp": "2026-01-01T00:00:00",
            "username": username, "secret": secret, "client_id": "test-client", "client_name": "tests"}}));
        let reply = self.recv();
        if let Some(t) = reply["data"]["token"].as_str() {
            self.token = Some(t.to_owned());
        }
        reply
    }

    /// `invoke-service` through the gateway; answers the reply frame (pushes that arrive first
    /// are skipped and returned in the second element).
    pub fn invoke(&mut self, service: &str, request: Value) -> (Value, Vec<Value>) {
        let id = self.id();
        self.send(&json!({"meta": {"action": "invoke-service", "id": id, "token": self.token,
            "timestamp": "2026-01-01T00:00:00"}, "data": {"service": service, "request": request}}));
        let mut pushes = Vec::new();
        loop {
            let frame = self.recv();
            if frame["meta"]["in_reply_to"] == id.as_str() {
                return (frame, pushes);
            }
            pushes.push(frame);
        }
    }

    /// A `client-response` to a server frame.
    pub fn respond(&mut self, in_reply_to: &str, response: Value) {
        let id = self.id();
        self.send(&json!({"meta": {"action": "client-response", "id": id, "token": self.token,
            "in_reply_to": in_reply_to}, "data": {"response": response}}));
    }
}

/// What [`wsx_setup`] made: a channel and the one endpoint that logs in there.
#[derive(Debug, Clone)]
pub struct WsxChannel {
    /// The channel's id, for `/admin/v1/channels/{id}/…`.
    pub channel_id: i64,
    /// `/wsx/<name>`.
    pub path: String,
    /// `<name>-client`.
    pub endpoint: String,
    pub password: String,
}

impl WsxChannel {
    /// `/admin/v1/channels/{id}`, for edits of the channel.
    pub fn admin_path(&self) -> String {
        format!("/admin/v1/channels/{}", self.channel_id)
    }

    /// A client connected to this channel and logged in as its endpoint.
    pub fn logged_in(&self, node: &Node) -> WsxClient {
        let mut ws = WsxClient::connect(node, &self.path);
        ws.login(&self.endpoint, &self.password);
        ws
    }
}

/// A channel reads as its endpoint's password where a `&str` is taken (`ws.login(name, &channel)`).
impl std::ops::Deref for WsxChannel {
    type Target = str;

    fn deref(&self) -> &str {
        &self.password
    }
}

/// A WSX channel at `/wsx/<name>` and an endpoint `<name>-client` that may log in there with
/// pub/sub on `pattern`.
pub fn wsx_setup(node: &Node, name: &str, pattern: &str) -> WsxChannel {
    let patterns = json!({"topic_patterns": [format!("pub={pattern}"), format!("sub={pattern}")]});
    wsx_setup_with(node, name, json!({}), patterns)
}

/// [`wsx_setup`] with more fields: `channel` over `{"name", "path": "/wsx/<name>"}`, `endpoint`
/// over a `pub-sub` WSX endpoint `<name>-client` of that channel (its `name`, `topic_patterns`,
/// … as given).
pub fn wsx_setup_with(node: &Node, name: &str, channel: Value, endpoint: Value) -> WsxChannel {
    let mut channel_body = json!({"name": name, "path": format!("/wsx/{name}")});
    merge(&mut channel_body, channel);
    let made = node.admin().post_ok("/admin/v1/channels", &channel_body);
    let path = made["path"].as_str().unwrap_or_else(|| panic!("channel path: {made}")).to_owned();
    let channel = WsxChannel {
        channel_id: made["id"].as_i64().unwrap_or_else(|| panic!("channel id: {made}")),
        path,
        endpoint: String::new(),
        password: String::new(),
    };
    let mut endpoint_body = json!({"name": format!("{name}-client")});
    merge(&mut endpoint_body, endpoint);
    let endpoint_name = endpoint_body["name"].as_str().expect("endpoint name").to_owned();
    channel.another_endpoint(node, &endpoint_name, endpoint_body)
}

impl WsxChannel {
    /// Another `pub-sub` WSX endpoint of this channel, `fields` over the defaults (e.g.
    /// `{"topic_patterns": […]}`); answers the channel as that endpoint sees it.
    pub fn another_endpoint(&self, node: &Node, name: &str, fields: Value) -> WsxChannel {
        let (_, channel) = node.admin().get(&self.admin_path());
        let mut body =
            json!({"name": name, "role": "pub-sub", "endpoint_type": "wsx", "wsx_channel": channel["name"]});
        merge(&mut body, fields);
        let e = node.admin().post_ok("/admin/v1/endpoints", &body);
        WsxChannel {
            endpoint: name.to_owned(),
            password: e["password"].as_str().unwrap_or_else(|| panic!("password: {e}")).to_owned(),
            ..self.clone()
        }
    }
}

/// `extra`'s fields set over `body`'s.
fn merge(body: &mut Value, extra: Value) {
    if let Value::Object(fields) = extra {
        for (k, v) in fields {
            body[k] = v;
        }
    }
}

/// A loopback address nothing listens on yet, for a node that must keep its port over restarts.
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Joins a group of tests that must not overlap; the guard keeps the others of the group
/// waiting until it is dropped. Test binaries already run one after another; this keeps the
/// tests of one binary apart too (the cluster tests, whose failover bounds are heartbeat
/// timeouts; the console tests, each a Chromium). A test that failed while in the group
/// poisoned the lock; the next one still runs.
pub fn serialized(group: &'static std::sync::Mutex<()>) -> std::sync::MutexGuard<'static, ()> {
    group.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `check` every 100 ms until it is true; panics after `secs` seconds naming `what`.
#[track_caller]
pub fn eventually(what: &str, secs: u64, check: impl FnMut() -> bool) {
    eventually_with(what, secs, check, String::new)
}

/// [`eventually`], and when the time is up the panic also says what `diagnostics` answers then
/// (the node's state, its log lines, what came so far).
#[track_caller]
pub fn eventually_with(
    what: &str,
    secs: u64,
    mut check: impl FnMut() -> bool,
    diagnostics: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        if Instant::now() >= deadline {
            let more = diagnostics();
            let more = if more.is_empty() { more } else { format!("\n{more}") };
            panic!("timed out after {secs} s waiting for {what}{more}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `probe` every 100 ms until it answers `Some`, and answers that; panics after `secs`
/// seconds naming `what`.
#[track_caller]
pub fn poll_until<T>(what: &str, secs: u64, mut probe: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    eventually(what, secs, || {
        found = probe();
        found.is_some()
    });
    found.expect("checked above")
}
