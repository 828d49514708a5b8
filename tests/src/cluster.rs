//! Several nodes on one fresh PostgreSQL database, sharing a master key and an admin key.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::{drop_pg_database, fresh_pg_database, random_suffix, Http, Node, NodeOptions};

/// Heartbeats fast enough for tests to see failover within seconds.
pub const HEARTBEAT: &str = "0.25";
pub const HEARTBEAT_TIMEOUT: &str = "2";

pub struct TestCluster {
    pub nodes: Vec<Node>,
    pub database_url: String,
    secret_key: String,
    pub admin_key: String,
}

impl TestCluster {
    /// `n` nodes named `n1`…; `None` when PostgreSQL is not configured (the test is skipped),
    /// unless `SIGNALBOX_TEST_REQUIRE_PG=1`.
    pub fn start(n: usize) -> Option<TestCluster> {
        if !crate::backends().contains(&crate::Backend::Postgres) {
            return None;
        }
        let bytes = || -> Vec<u8> {
            (0..4).flat_map(|_| u64::from_str_radix(&random_suffix(), 16).unwrap().to_le_bytes()).collect()
        };
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            database_url: fresh_pg_database(),
            secret_key: base64::engine::general_purpose::STANDARD.encode(bytes()),
            admin_key: format!("sba_{}", engine.encode(bytes())),
        };
        for i in 1..=n {
            cluster.add(&format!("n{i}"));
        }
        Some(cluster)
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
        std::thread::sleep(Duration::from_millis(50));
        drop_pg_database(&self.database_url);
    }
}

/// The body of a message the tests publish: a sequence number to check order, loss and repeats.
pub fn seq_message(seq: usize) -> Value {
    json!({"data": {"seq": seq}})
}
