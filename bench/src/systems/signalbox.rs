//! Signalbox: the node the bench starts for itself, and its WSX and REST clients.
//!
//! The node runs the release binary on a fresh temporary data directory (SQLite with the
//! product's settings: WAL, `synchronous = FULL`), or with `--postgres` on a fresh database of
//! that PostgreSQL server. Every run gets its own topic; clients log in as endpoints made once
//! per node.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{confirmed, Cleanup, Confirm, Prepared, Publisher, Scenario, SubscriberContext, System};

/// Clients per node: the most publishers plus subscribers any scenario uses.
const CLIENTS: usize = 16;
/// Messages in one WSX push or one REST pull, at most.
const BATCH: usize = 100;
/// Payload bytes in one WSX push, about (the node shrinks the push window to what its
/// per-connection output budget holds anyway).
const PUSH_BYTES: usize = 128 * 1024;
/// WSX pushes that may be unanswered at once (explicit ack), unless `--push-window` says.
pub const PUSH_WINDOW: usize = 8;
/// Depth limits far above what a run leaves queued, so a run measures throughput, not the
/// back-pressure policy.
const DEPTH: i64 = 10_000_000;

/// A running node, killed when dropped.
pub struct Node {
    child: Child,
    pub url: String,
    /// The node's data directory, removed when the node is dropped.
    data_dir: tempfile::TempDir,
    key: String,
    agent: ureq::Agent,
    /// Password of each of the [`CLIENTS`] WSX endpoints `bench-wsx-N` and REST endpoints `bench-rest-N`.
    passwords: HashMap<String, String>,
    /// WSX pushes a subscriber may leave unanswered (`max_in_flight`).
    pub push_window: usize,
    /// The PostgreSQL database made for this node, dropped with it.
    database: Option<FreshDatabase>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(db) = self.database.take() {
            db.drop_it();
        }
    }
}

/// A database made on a PostgreSQL server for one node.
struct FreshDatabase {
    /// A URL of the server to make and drop databases through.
    admin: String,
    name: String,
    /// The new database's URL.
    url: String,
}

impl FreshDatabase {
    fn create(admin: &str) -> Result<FreshDatabase> {
        use diesel::{Connection, RunQueryDsl};
        let name = format!("sb_bench_{}", std::process::id());
        let (server, _) = admin.rsplit_once('/').context("--postgres: a URL with a database path")?;
        let mut conn =
            diesel::PgConnection::establish(admin).with_context(|| format!("connect to {admin}"))?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut conn)?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
        Ok(FreshDatabase { admin: admin.to_owned(), url: format!("{server}/{name}"), name })
    }

    fn drop_it(self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin) {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = diesel::sql_query(drop).execute(&mut conn) {
                eprintln!("could not drop database {}: {e}", self.name);
            }
        }
    }
}

/// The `signalbox` binary: `--signalbox` if given, else the one next to this executable.
pub fn binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let me = std::env::current_exe()?;
    let path = me.parent().context("executable directory")?.join("signalbox");
    if !path.exists() {
        bail!("no signalbox binary at {} (build it, or pass --signalbox PATH)", path.display());
    }
    Ok(path)
}

impl Node {
    /// Starts a node on a fresh data directory; on a fresh database of the PostgreSQL server
    /// `postgres` names (any database of it) if given, else on SQLite.
    pub fn start(binary: &Path, postgres: Option<&str>) -> Result<Node> {
        let data_dir = tempfile::Builder::new().prefix("signalbox-bench-").tempdir()?;
        let log = std::fs::File::create(data_dir.path().join("node.log"))?;
        let database = postgres.map(FreshDatabase::create).transpose()?;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .env("RUST_LOG", std::env::var("SIGNALBOX_BENCH_LOG").unwrap_or_else(|_| "info".into()))
            .env_remove("SIGNALBOX_DATABASE_URL")
            .env_remove("SIGNALBOX_ADMIN_KEY");
        if let Some(db) = &database {
            command.env("SIGNALBOX_DATABASE_URL", &db.url);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("signalbox listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| anyhow!("the node did not start"))?;
        let key = std::fs::read_to_string(data_dir.path().join("admin.key"))?.trim().to_owned();
        let agent =
            ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).max_idle_connections(64).build();
        let mut node = Node {
            child,
            url,
            data_dir,
            key,
            agent,
            passwords: HashMap::new(),
            push_window: PUSH_WINDOW,
            database,
        };
        node.admin("POST", "/channels", json!({"name": "bench", "path": "/wsx/bench"}))?;
        for n in 0..CLIENTS {
            let patterns = ["pub=/bench/**", "sub=/bench/**"];
            let wsx = node.admin(
                "POST",
                "/endpoints",
                json!({"name": format!("bench-wsx-{n}"), "role": "pub-sub", "endpoint_type": "wsx",
                       "wsx_channel": "bench", "topic_patterns": patterns}),
            )?;
            let rest = node.admin(
                "POST",
                "/endpoints",
                json!({"name": format!("bench-rest-{n}"), "role": "pub-sub", "topic_patterns": patterns}),
            )?;
            for e in [wsx, rest] {
                let (name, pw) = (e["name"].as_str(), e["password"].as_str());
                node.passwords.insert(name.context("name")?.into(), pw.context("password")?.into());
            }
        }
        Ok(node)
    }

    /// The last lines the node logged, for when a run fails.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.data_dir.path().join("node.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An admin API call under `/admin/v1`.
    pub fn admin(&self, method: &str, path: &str, body: Value) -> Result<Value> {
        let req = self
            .agent
            .request(method, &format!("{}/admin/v1{path}", self.url))
            .set("Authorization", &format!("Bearer {}", self.key));
        let res = if method == "GET" || method == "DELETE" { req.call() } else { req.send_json(body) };
        match res {
            Ok(r) => Ok(r.into_json().unwrap_or(Value::Null)),
            Err(ureq::Error::Status(code, r)) => {
                bail!("{method} {path}: {code} {}", r.into_string().unwrap_or_default())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn password(&self, endpoint: &str) -> &str {
        self.passwords.get(endpoint).map(String::as_str).unwrap_or_default()
    }

    /// Sets the node up for one run: a fresh topic, subscribers connected and subscribed,
    /// publishers connected.
    pub async fn prepare(
        &self,
        system: System,
        run: &str,
        scenario: &Scenario,
        cx: SubscriberContext,
    ) -> Result<Prepared> {
        let gd = system.durable();
        let topic = format!("/bench/{run}");
        let created = tokio::task::block_in_place(|| {
            self.admin(
                "POST",
                "/topics",
                json!({"name": topic, "has_gd": gd, "max_depth_gd": DEPTH, "max_depth_non_gd": DEPTH}),
            )
        })?;
        let id = created["id"].as_i64().context("topic id")?;
        let wsx = matches!(system, System::SignalboxWsxRam | System::SignalboxWsxGd);
        // WSX subscribers ack explicitly whatever the topic: the push window (`max_in_flight`
        // pushes unanswered) is then their flow control, as the socket is with auto ack.
        let ack_mode = if gd || wsx { "explicit" } else { "auto" };
        let push_batch = (PUSH_BYTES / scenario.size.max(1)).clamp(1, BATCH);
        let mut subscribers = Vec::new();
        let mut publishers = Vec::new();
        for n in 0..scenario.subscribers {
            let cx = cx.clone();
            if wsx {
                let name = format!("bench-wsx-{n}");
                let mut ws = Wsx::connect(&self.url, &name, self.password(&name)).await?;
                let sub = ws
                    .call(
                        "zato.pubsub.pubapi.subscribe-wsx",
                        json!({"topic_name": topic, "ack_mode": ack_mode, "delivery_batch_size": push_batch,
                               "max_in_flight": self.push_window, "ack_timeout": 30}),
                    )
                    .await?;
                if sub["meta"]["msg_type"] != "zwsx.rspok" {
                    bail!("subscribe-wsx: {sub}");
                }
                subscribers.push(tokio::spawn(ws.receive(ack_mode == "explicit", cx)));
            } else {
                let name = format!("bench-rest-{n}");
                let rest = Rest::new(&self.url, &topic, &name, self.password(&name));
                let r = rest.agent.post(&rest.url("subscribe/topic")).set("Authorization", &rest.auth);
                tokio::task::block_in_place(|| r.send_json(json!({"ack_mode": ack_mode})).map_err(Box::new))
                    .context("REST subscribe")?;
                subscribers.push(tokio::task::spawn_blocking(move || rest.receive(gd, cx)));
            }
        }
        for n in 0..scenario.publishers {
            // Publishers log in as the endpoints after the subscribers'.
            let n = CLIENTS - 1 - n;
            if wsx {
                let name = format!("bench-wsx-{n}");
                let ws = Wsx::connect(&self.url, &name, self.password(&name)).await?;
                publishers.push(Publisher::Wsx(WsxPublisher::start(ws, topic.clone())));
            } else {
                let name = format!("bench-rest-{n}");
                publishers.push(Publisher::Rest(RestPublisher {
                    rest: Arc::new(Rest::new(&self.url, &topic, &name, self.password(&name))),
                }));
            }
        }
        Ok(Prepared { publishers, subscribers, cleanup: Cleanup::SignalboxTopic { id } })
    }

    pub fn delete_topic(&self, id: i64) -> Result<()> {
        self.admin("DELETE", &format!("/topics/{id}"), Value::Null).map(|_| ())
    }

    /// Resident set size of the node process, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmRSS in /proc/PID/status")
    }
}

type WsWrite = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type WsRead = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// A logged-in WSX connection.
struct Wsx {
    write: WsWrite,
    read: WsRead,
    token: String,
    next_id: u64,
}

impl Wsx {
    async fn connect(base: &str, username: &str, secret: &str) -> Result<Wsx> {
        let url = format!("{}/wsx/bench", base.replacen("http://", "ws://", 1));
        let (stream, _) = tokio_tungstenite::connect_async(url).await.context("WSX connect")?;
        let (write, read) = stream.split();
        let mut ws = Wsx { write, read, token: String::new(), next_id: 0 };
        ws.send(json!({"meta": {"action": "create-session", "id": "login", "timestamp": "2026-01-01T00:00:00",
            "username": username, "secret": secret, "client_id": username, "client_name": "signalbox-bench"}}))
            .await?;
        let reply = ws.next_frame().await?;
        ws.token = reply["data"]["token"].as_str().with_context(|| format!("WSX login: {reply}"))?.to_owned();
        Ok(ws)
    }

    async fn send(&mut self, frame: Value) -> Result<()> {
        self.write.send(Message::Text(frame.to_string().into())).await?;
        Ok(())
    }

    async fn next_frame(&mut self) -> Result<Value> {
        loop {
            match self.read.next().await {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t)?),
                Some(Ok(Message::Close(c))) => bail!("WSX closed: {c:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("WSX connection ended"),
            }
        }
    }

    fn invoke_frame(&mut self, service: &str, request: Value) -> (String, Value) {
        self.next_id += 1;
        let id = format!("c.{}", self.next_id);
        let frame = json!({"meta": {"action": "invoke-service", "id": id, "token": self.token,
            "timestamp": "2026-01-01T00:00:00"}, "data": {"service": service, "request": request}});
        (id, frame)
    }

    /// Invokes a service and waits for its reply (nothing else may be arriving).
    async fn call(&mut self, service: &str, request: Value) -> Result<Value> {
        let (id, frame) = self.invoke_frame(service, request);
        self.send(frame).await?;
        loop {
            let reply = self.next_frame().await?;
            if reply["meta"]["in_reply_to"] == id.as_str() {
                return Ok(reply);
            }
        }
    }

    /// Receives pushes until told to stop; with `explicit` acks, answers each push.
    async fn receive(mut self, explicit: bool, mut cx: SubscriberContext) -> Result<crate::check::Tracker> {
        let mut tracker = cx.tracker();
        loop {
            let frame = tokio::select! {
                f = self.next_frame() => f?,
                _ = cx.stop.changed() => break,
            };
            if frame["meta"]["msg_type"] != "zwsx.psrq" {
                continue;
            }
            match &frame["data"] {
                Value::Array(list) => list.iter().for_each(|m| record(&mut tracker, m)),
                one => record(&mut tracker, one),
            }
            if explicit {
                self.next_id += 1;
                let ack = json!({"meta": {"action": "client-response", "id": format!("c.{}", self.next_id),
                    "token": self.token, "in_reply_to": frame["meta"]["id"]}, "data": {"response": "ok"}});
                self.send(ack).await?;
            }
        }
        let _ = self.write.close().await;
        Ok(tracker)
    }
}

fn record(tracker: &mut crate::check::Tracker, message: &Value) {
    tracker.record(message["data"].as_str().unwrap_or_default().as_bytes());
}

/// Publishes over one WSX connection, many invocations in flight; a reader task matches replies.
pub struct WsxPublisher {
    ws_write: WsWrite,
    token: String,
    topic: String,
    next_id: u64,
    waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Result<()>>>>>,
}

impl WsxPublisher {
    fn start(ws: Wsx, topic: String) -> WsxPublisher {
        let waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Result<()>>>>> = Arc::default();
        let replies = waiting.clone();
        let mut read = ws.read;
        tokio::spawn(async move {
            while let Some(Ok(frame)) = read.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(reply) = serde_json::from_str::<Value>(&text) else { continue };
                let id =
                    reply["meta"]["in_reply_to"].as_str().and_then(|i| i.strip_prefix("p.")?.parse().ok());
                let Some(tx) = id.and_then(|id: u64| replies.lock().expect("replies").remove(&id)) else {
                    continue;
                };
                let answer = if reply["meta"]["msg_type"] == "zwsx.rspok" {
                    Ok(())
                } else {
                    Err(anyhow!("publish refused: {reply}"))
                };
                let _ = tx.send(answer);
            }
        });
        WsxPublisher { ws_write: ws.write, token: ws.token, topic, next_id: 0, waiting }
    }

    pub async fn send(&mut self, payload: String) -> Result<Confirm> {
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("replies").insert(self.next_id, tx);
        let frame = json!({"meta": {"action": "invoke-service", "id": format!("p.{}", self.next_id),
            "token": self.token, "timestamp": "2026-01-01T00:00:00"},
            "data": {"service": "zato.pubsub.pubapi.publish-message",
                     "request": {"topic_name": self.topic, "data": payload}}});
        self.ws_write.send(Message::Text(frame.to_string().into())).await?;
        Ok(Box::pin(async move { rx.await.map_err(|_| anyhow!("WSX connection lost before the reply"))? }))
    }
}

/// One endpoint's REST client for one topic (blocking, keep-alive).
struct Rest {
    agent: ureq::Agent,
    base: String,
    topic: String,
    auth: String,
}

impl Rest {
    fn new(base: &str, topic: &str, user: &str, password: &str) -> Rest {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Rest {
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build(),
            base: base.to_owned(),
            topic: topic.to_owned(),
            auth: format!("Basic {token}"),
        }
    }

    fn url(&self, what: &str) -> String {
        format!("{}/zato/pubsub/{what}/{}", self.base, self.topic)
    }

    /// Pulls until told to stop; with `explicit` acks, acknowledges each batch.
    fn receive(self, explicit: bool, cx: SubscriberContext) -> Result<crate::check::Tracker> {
        let mut tracker = cx.tracker();
        let pull = format!("{}?max={BATCH}", self.url("topic"));
        while !*cx.stop.borrow() {
            let batch: Vec<Value> =
                self.agent.request("PATCH", &pull).set("Authorization", &self.auth).call()?.into_json()?;
            if batch.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            batch.iter().for_each(|m| record(&mut tracker, m));
            if explicit {
                let ids: Vec<&Value> = batch.iter().map(|m| &m["msg_id"]).collect();
                self.agent
                    .post(&self.url("ack/topic"))
                    .set("Authorization", &self.auth)
                    .send_json(json!({"msg_id_list": ids}))?;
            }
        }
        Ok(tracker)
    }
}

/// Publishes over REST: one request per message on a keep-alive connection. HTTP/1.1 has one
/// request in flight per connection, so `send` returns only after the answer.
pub struct RestPublisher {
    rest: Arc<Rest>,
}

impl RestPublisher {
    pub async fn send(&mut self, payload: String) -> Result<Confirm> {
        let rest = self.rest.clone();
        tokio::task::spawn_blocking(move || {
            rest.agent
                .post(&rest.url("topic"))
                .set("Authorization", &rest.auth)
                .send_json(json!({"data": payload}))
                .map_err(Box::new)
        })
        .await??;
        Ok(confirmed())
    }
}
