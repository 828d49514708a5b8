//! Several nodes on one fresh PostgreSQL database, sharing a master key and an admin key.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

#[path = "proxy.rs"]
pub mod proxy;

use crate::{drop_pg_database, fresh_pg_database, random_suffix, Http, Node, NodeOptions};

/// Heartbeats fast enough for tests to see failover within seconds.
pub const HEARTBEAT: &str = "0.25";
pub const HEARTBEAT_TIMEOUT: &str = "2";

pub struct TestCluster {
    pub nodes: Vec<Node>,
    pub database_url: String,
    /// The database was made for this cluster on the shared server (dropped at the end).
    own_database: bool,
    secret_key: String,
    pub admin_key: String,
    /// Cluster tests run one at a time (dropped last, after the nodes).
    _serial: std::sync::MutexGuard<'static, ()>,
}

static CLUSTER_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl TestCluster {
    /// `n` nodes named `n1`…; `None` when PostgreSQL is not configured (the test is skipped),
    /// unless `SIGNALBOX_TEST_REQUIRE_PG=1`.
    pub fn start(n: usize) -> Option<TestCluster> {
        TestCluster::start_customized(n, |_, _| {})
    }

    /// The same, `customize` changing each node's options (by its name) before it starts.
    pub fn start_customized(n: usize, customize: impl FnMut(&str, &mut NodeOptions)) -> Option<TestCluster> {
        if !crate::backends().contains(&crate::Backend::Postgres) {
            return None;
        }
        let mut cluster = TestCluster::on_customized(n, fresh_pg_database(), customize);
        cluster.own_database = true;
        Some(cluster)
    }

    /// `n` nodes on a database that someone else made (and drops).
    pub fn on(n: usize, database_url: String) -> TestCluster {
        TestCluster::on_customized(n, database_url, |_, _| {})
    }

    fn on_customized(
        n: usize,
        database_url: String,
        mut customize: impl FnMut(&str, &mut NodeOptions),
    ) -> TestCluster {
        let bytes = || -> Vec<u8> {
            (0..4).flat_map(|_| u64::from_str_radix(&random_suffix(), 16).unwrap().to_le_bytes()).collect()
        };
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let serial = crate::serialized(&CLUSTER_TESTS);
        let mut cluster = TestCluster {
            _serial: serial,
            nodes: Vec::new(),
            database_url,
            own_database: false,
            secret_key: base64::engine::general_purpose::STANDARD.encode(bytes()),
            admin_key: format!("sba_{}", engine.encode(bytes())),
        };
        for i in 1..=n {
            let name = format!("n{i}");
            let mut options = cluster.options(&name);
            customize(&name, &mut options);
            cluster.nodes.push(Node::start_with(options));
        }
        cluster
    }

    pub fn options(&self, name: &str) -> NodeOptions {
        NodeOptions {
            database_url: Some(self.database_url.clone()),
            env: vec![
                ("SIGNALBOX_SECRET_KEY".into(), self.secret_key.clone()),
                ("SIGNALBOX_ADMIN_KEY".into(), self.admin_key.clone()),
            ],
            args: [
                "--node-name",
                name,
                "--heartbeat-interval",
                HEARTBEAT,
                "--heartbeat-timeout",
                HEARTBEAT_TIMEOUT,
                "--pool-size",
                "6",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ..NodeOptions::default()
        }
    }

    /// Starts another node of this cluster.
    pub fn add(&mut self, name: &str) -> &Node {
        let node = Node::start_with(self.options(name));
        self.nodes.push(node);
        self.nodes.last().unwrap()
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn admin(&self, i: usize) -> Http {
        self.nodes[i].admin()
    }

    /// `GET /cluster/nodes` as node `i` sees it.
    pub fn members(&self, i: usize) -> Vec<Value> {
        let (status, body) = self.admin(i).get("/admin/v1/cluster/nodes");
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Delivery actors of the whole cluster, as node `i` lists them.
    pub fn delivery_actors(&self, i: usize) -> Vec<Value> {
        let (status, body) = self.admin(i).get("/admin/v1/actors?kind=delivery");
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// sub_key → the node that runs its delivery actor, from the actors themselves.
    pub fn owners(&self, i: usize) -> std::collections::BTreeMap<String, String> {
        self.delivery_actors(i)
            .into_iter()
            .map(|a| {
                (
                    a["sub_key"].as_str().unwrap_or_default().to_owned(),
                    a["node"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill9();
        }
        if self.own_database {
            // `WITH (FORCE)` ends the killed nodes' backends that PostgreSQL has not reaped yet.
            drop_pg_database(&self.database_url);
        }
    }
}

/// The body of a message the tests publish: a sequence number to check order, loss and repeats.
pub fn seq_message(seq: usize) -> Value {
    json!({"data": {"seq": seq}})
}

/// A publisher that publishes numbered GD messages one at a time, round robin over the nodes
/// whose addresses `urls` holds (a restarted node's new address can be swapped in), and keeps
/// which ones were acknowledged and which answers were errors.
pub struct PublishLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub urls: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    acked: std::sync::Arc<std::sync::Mutex<Vec<i64>>>,
    statuses: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u16, usize>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PublishLoad {
    pub fn start(urls: Vec<String>, user: &str, password: &str, topic: &str) -> PublishLoad {
        PublishLoad::paced(urls, user, password, topic, Duration::ZERO)
    }

    /// The same, waiting `pause` after each publication (a steady rate instead of flat out).
    pub fn paced(urls: Vec<String>, user: &str, password: &str, topic: &str, pause: Duration) -> PublishLoad {
        use std::sync::atomic::Ordering;
        let load = PublishLoad {
            stop: Default::default(),
            urls: std::sync::Arc::new(std::sync::Mutex::new(urls)),
            acked: Default::default(),
            statuses: Default::default(),
            handle: None,
        };
        let (stop, urls, acked, statuses) =
            (load.stop.clone(), load.urls.clone(), load.acked.clone(), load.statuses.clone());
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let path = format!("/zato/pubsub/topic/{topic}");
        let handle = std::thread::spawn(move || {
            // Longer than the node's wait for a database connection, so a refusal is seen as such.
            let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(20)).build();
            let mut seq = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let url = {
                    let urls = urls.lock().unwrap();
                    urls[seq % urls.len()].clone()
                };
                let body = seq_message(seq).to_string();
                let status = match agent
                    .post(&format!("{url}{path}"))
                    .set("Authorization", &auth)
                    .set("Content-Type", "application/json")
                    .send_string(&body)
                {
                    Ok(r) => r.status(),
                    Err(ureq::Error::Status(code, _)) => code,
                    Err(_) => 0,
                };
                *statuses.lock().unwrap().entry(status).or_default() += 1;
                if status == 200 {
                    acked.lock().unwrap().push(seq as i64);
                }
                if status != 200 {
                    std::thread::sleep(Duration::from_millis(20));
                }
                std::thread::sleep(pause);
                seq += 1;
            }
        });
        PublishLoad { handle: Some(handle), ..load }
    }

    /// Stops publishing; answers the acknowledged sequence numbers and the count of each
    /// answer status (0: no answer — connection refused or cut).
    pub fn stop(mut self) -> (Vec<i64>, std::collections::BTreeMap<u16, usize>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        let statuses = self.statuses.lock().unwrap().clone();
        (acked, statuses)
    }

    pub fn acked_so_far(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// How many publications were answered with `status` so far (0: no answer).
    pub fn answered_so_far(&self, status: u16) -> usize {
        self.statuses.lock().unwrap().get(&status).copied().unwrap_or(0)
    }
}

/// What a subscriber received, checked: every acknowledged message arrived, first deliveries
/// are in order; answers the number of repeats (a message pushed again).
pub fn check_deliveries(name: &str, received: &[i64], acked: &[i64]) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut firsts = Vec::new();
    let mut repeats = 0;
    for seq in received {
        if seen.insert(*seq) {
            firsts.push(*seq);
        } else {
            repeats += 1;
        }
    }
    let missing: Vec<&i64> = acked.iter().filter(|s| !seen.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "{name}: {} acknowledged messages never delivered, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let out_of_order = firsts.windows(2).filter(|w| w[0] > w[1]).count();
    assert_eq!(out_of_order, 0, "{name}: first deliveries out of order");
    repeats
}

/// A PostgreSQL server of the test's own (initdb in a temporary directory, a free port), so a
/// test can stop and start it without disturbing anything else.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    /// None when the server binaries are not installed.
    pub fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = crate::free_addr().rsplit_once(':').unwrap().1.parse().unwrap();
        let pg = PrivatePostgres { dir, port, bin };
        let data = pg.data_dir();
        std::fs::create_dir_all(&data).unwrap();
        pg.chown(pg.dir.path());
        pg.chown(&data);
        pg.run("initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        pg.up();
        pg.run("createdb", &["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "postgres", "signalbox"]);
        Some(pg)
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/signalbox", self.port)
    }

    fn is_root() -> bool {
        unsafe { libc::geteuid() == 0 }
    }

    /// PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
    fn chown(&self, path: &std::path::Path) {
        if Self::is_root() {
            let status =
                std::process::Command::new("chown").args(["postgres:postgres"]).arg(path).status().unwrap();
            assert!(status.success(), "chown {}", path.display());
        }
    }

    /// A command running one of the server's tools (as `postgres` when this is root).
    fn command(&self, tool: &str) -> std::process::Command {
        let exe = self.bin.join(tool);
        let mut cmd = if Self::is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data_dir().to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once (`immediate`: connections are cut as a crash would cut them).
    pub fn down(&self) {
        self.run("pg_ctl", &["-D", self.data_dir().to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.command("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "stop"]).output();
    }
}
