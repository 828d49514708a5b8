//! Three node processes on loopback sharing one fresh PostgreSQL database (ISSUE: cluster).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use signalbox_tests::cluster::{seq_message, TestCluster};
use signalbox_tests::{eventually, Receiver};

const SUBSCRIBERS: usize = 10;

/// Topics `/c/gd` (GD, pushed to a receiver) and `/c/ram` (in-RAM, pulled), a publisher, and
/// `SUBSCRIBERS` endpoints each subscribed to both: 20 subscriptions. Answers each subscriber's
/// (name, password, sub_key on /c/gd, sub_key on /c/ram).
fn twenty_subscriptions(cluster: &TestCluster, receiver: &Receiver) -> Vec<(String, String, String, String)> {
    let admin = cluster.admin(0);
    for (name, gd) in [("/c/gd", true), ("/c/ram", false)] {
        let (status, body) = admin.post("/admin/v1/topics", &json!({"name": name, "has_gd": gd}));
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "publisher", "role": "pub-only", "topic_patterns": ["pub=/c/*"]}),
    );
    assert_eq!(status, 201, "{body}");
    let mut subs = Vec::new();
    for i in 0..SUBSCRIBERS {
        let name = format!("sub{i}");
        // Each subscriber is created through a different node: any node takes changes.
        let admin = cluster.admin(i % cluster.nodes.len());
        let (status, e) = admin.post(
            "/admin/v1/endpoints",
            &json!({"name": name, "role": "sub-only", "topic_patterns": ["sub=/c/*"]}),
        );
        assert_eq!(status, 201, "{e}");
        let (status, gd) = admin.post(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/c/gd", "endpoint": name, "delivery_method": "notify",
                    "delivery_batch_size": 50, "push": {"url": format!("{}/{name}", receiver.url)}}),
        );
        assert_eq!(status, 201, "{gd}");
        let (status, ram) =
            admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/c/ram", "endpoint": name}));
        assert_eq!(status, 201, "{ram}");
        subs.push((
            name,
            e["password"].as_str().unwrap().to_owned(),
            gd["sub_key"].as_str().unwrap().to_owned(),
            ram["sub_key"].as_str().unwrap().to_owned(),
        ));
    }
    subs
}

/// Sequence numbers pushed to each receiver path, in arrival order.
fn pushed(receiver: &Receiver) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for request in receiver.received() {
        let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
        let seqs = body.as_array().cloned().unwrap_or_default();
        let entry = out.entry(request.path.trim_start_matches('/').to_owned()).or_default();
        entry.extend(seqs.iter().filter_map(|m| m["data"]["seq"].as_i64()));
    }
    out
}

/// Publishes `count` messages to `topic`, one request each, round robin over the nodes.
fn publish_round_robin(cluster: &TestCluster, password: &str, topic: &str, from: usize, count: usize) {
    for seq in from..from + count {
        let node = cluster.node(seq % cluster.nodes.len());
        let (status, body) = node
            .http()
            .basic("publisher", password)
            .post(&format!("/zato/pubsub/topic/{topic}"), &seq_message(seq));
        assert_eq!(status, 200, "publishing {seq} to {topic} on node {}: {body}", seq % cluster.nodes.len());
    }
}

fn publisher_password(cluster: &TestCluster) -> String {
    let admin = cluster.admin(0);
    let (_, endpoints) = admin.get("/admin/v1/endpoints");
    let id = endpoints.as_array().unwrap().iter().find(|e| e["name"] == "publisher").unwrap()["id"].clone();
    let (status, rotated) = admin.post(&format!("/admin/v1/endpoints/{id}/credentials"), &json!({}));
    assert_eq!(status, 200, "{rotated}");
    rotated["password"].as_str().unwrap().to_owned()
}

#[test]
fn twenty_subscriptions_spread_over_three_nodes_are_each_delivered_once_in_order_by_their_owner() {
    let Some(cluster) = TestCluster::start(3) else { return };
    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let subs = twenty_subscriptions(&cluster, &receiver);
    let password = publisher_password(&cluster);

    // Every node lists the same three members, one leader, and 20 subscriptions among them.
    eventually("three live nodes sharing the 20 subscriptions", 10, || {
        let members = cluster.members(1);
        members.len() == 3
            && members.iter().all(|m| m["state"] == "up")
            && members.iter().filter(|m| m["leader"] == true).count() == 1
            && members.iter().map(|m| m["subscriptions"].as_u64().unwrap()).sum::<u64>() == 20
    });
    // Balanced: with 20 subscriptions on 3 nodes, each runs 6 or 7.
    eventually("a balanced assignment", 15, || {
        cluster.members(2).iter().all(|m| (6..=7).contains(&m["subscriptions"].as_u64().unwrap()))
    });
    // One delivery actor per subscription in the whole cluster, on the node that owns it.
    let actors = cluster.delivery_actors(0);
    assert_eq!(actors.len(), 20, "one delivery actor per subscription: {actors:?}");
    let mut per_sub: HashMap<String, usize> = HashMap::new();
    for a in &actors {
        *per_sub.entry(a["sub_key"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(per_sub.values().all(|n| *n == 1), "{per_sub:?}");
    let owners = cluster.owners(1);
    for (_, _, gd, ram) in &subs {
        for key in [gd, ram] {
            let (status, sub) = cluster.admin(2).get(&format!("/admin/v1/subscriptions/{key}"));
            assert_eq!(status, 200, "{sub}");
            assert_eq!(sub["node"].as_str(), owners.get(key.as_str()).map(String::as_str), "owner of {key}");
        }
    }

    const N: usize = 150;
    publish_round_robin(&cluster, &password, "/c/gd", 0, N);
    publish_round_robin(&cluster, &password, "/c/ram", 0, N);

    // GD: every subscriber's receiver gets 0..N once, in order.
    let expected: Vec<i64> = (0..N as i64).collect();
    eventually("every GD message pushed to every subscriber", 30, || {
        let got = pushed(&receiver);
        subs.iter().all(|(name, ..)| got.get(name).is_some_and(|s| s.len() >= N))
    });
    let got = pushed(&receiver);
    for (name, ..) in &subs {
        assert_eq!(got[name], expected, "pushes to {name}");
    }
    // In-RAM: pulled through every node in turn (pulls reach the owner wherever they land).
    for (i, (name, pw, _, _)) in subs.iter().enumerate() {
        let mut seqs: Vec<i64> = Vec::new();
        let mut turn = i;
        eventually("every in-RAM message pulled", 20, || {
            let node = cluster.node(turn % 3);
            turn += 1;
            let (status, body) =
                node.http().basic(name, pw).call("PATCH", "/zato/pubsub/topic//c/ram?max=40", None);
            assert_eq!(status, 200, "pull as {name} on node {}: {body}", turn % 3);
            seqs.extend(body.as_array().unwrap().iter().filter_map(|m| m["data"]["seq"].as_i64()));
            seqs.len() >= N
        });
        assert_eq!(seqs, expected, "pulled by {name}");
    }
    // Delivered by the owners only: each delivery actor counts exactly N.
    for a in cluster.delivery_actors(2) {
        assert_eq!(a["delivered"], json!(N), "{a}");
    }
}
