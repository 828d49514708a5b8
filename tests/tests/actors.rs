//! Actor control over HTTP and the CLI.

use std::time::{Duration, Instant};

use signalbox_tests::*;

#[test]
fn every_actor_is_listed_from_the_actors_themselves() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/a", json!({}), "app");
    let key = ps.subscribe(json!({"ack_mode": "explicit"}));
    ps.publish_ok(json!({"data": 1}));
    ps.publish_ok(json!({"data": 2, "has_gd": true}));
    ps.pull(Some(1));
    let (status, actors) = node.admin().get("/admin/v1/actors");
    assert_eq!(status, 200, "{actors}");
    let rows = actors.as_array().unwrap();
    // One of each: the supervisor, the topic's actor, the subscription's delivery actor.
    let mut kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["delivery", "supervisor", "topic"], "{actors}");
    for field in [
        "id",
        "kind",
        "node",
        "state",
        "mailbox",
        "queue_depth_ram",
        "queue_depth_gd",
        "in_flight",
        "delivered",
        "failed",
        "last_error",
        "since",
    ] {
        assert!(rows.iter().all(|r| r.get(field).is_some()), "{field} missing");
    }
    let (status, delivery) = node.admin().get(&format!("/admin/v1/actors/delivery:{key}"));
    assert_eq!(status, 200, "{delivery}");
    assert_eq!(delivery["id"], format!("delivery:{key}"));
    assert_eq!(delivery["in_flight"], 1);
    assert_eq!(delivery["delivered"], 1);
    assert_eq!(delivery["state"], "running");
    let (_, topics) = node.admin().get("/admin/v1/actors?kind=topic");
    assert_eq!(topics.as_array().map(Vec::len), Some(1), "{topics}");
    assert_eq!(topics[0]["id"], format!("topic:{}", ps.topic_id));
    assert_eq!(topics[0]["subscribers"], 1);
    assert_eq!(node.admin().get("/admin/v1/actors?node=elsewhere").1, json!([]));
    assert_refused(
        &node.admin().get("/admin/v1/actors?kind=robot"),
        400,
        "`kind` must be one of topic, delivery, peer, session, supervisor",
    );
    assert_refused(
        &node.admin().get("/admin/v1/actors/delivery:zpsk.none"),
        404,
        "no actor `delivery:zpsk.none`",
    );
}

#[test]
fn a_paused_delivery_actor_queues_and_resume_delivers_everything_in_order() {
    for backend in backends() {
        let node = Node::start(backend);
        let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        let ps = PubSub::setup(&node, "/p", json!({"has_gd": true}), "app");
        node.admin().post_ok(
            "/admin/v1/endpoints",
            &json!({"name": "hook", "role": "sub-only", "auth": "none", "topic_patterns": ["sub=/p"]}),
        );
        let sub = node.admin().post_ok(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/p", "endpoint": "hook", "delivery_method": "notify",
                    "push": {"url": receiver.url.clone()}}),
        );
        let actor = format!("delivery:{}", sub["sub_key"].as_str().unwrap());
        let (status, paused) = node.admin().post(&format!("/admin/v1/actors/{actor}/pause"), &json!({}));
        assert_eq!(status, 200, "{paused}");
        assert_eq!(paused["state"], "paused");
        for n in 0..20 {
            ps.publish_ok(json!({"data": n, "has_gd": n % 3 != 0}));
        }
        // The actor has queued all seven in-RAM ones (its status is answered after them), and
        // pushed none.
        eventually("the paused actor to queue the in-RAM messages", 10, || {
            node.admin().get(&format!("/admin/v1/actors/{actor}")).1["queue_depth_ram"] == 7
        });
        assert_eq!(node.admin().get(&format!("/admin/v1/actors/{actor}")).1["delivered"], 0);
        assert!(receiver.received().is_empty(), "a paused actor delivered");
        let restarted = node.admin().post_ok(&format!("/admin/v1/actors/{actor}/restart"), &json!({}));
        assert_eq!(restarted["state"], "paused", "restart keeps the pause");
        assert!(receiver.received().is_empty(), "a restarted paused actor delivered");
        let resumed = node.admin().post_ok(&format!("/admin/v1/actors/{actor}/resume"), &json!({}));
        assert_eq!(resumed["state"], "running", "{resumed}");
        let got = || -> Vec<Value> {
            receiver
                .received()
                .iter()
                .flat_map(|r| serde_json::from_str::<Value>(&r.body).unwrap().as_array().unwrap().clone())
                .map(|m| m["data"].clone())
                .collect()
        };
        eventually_with("all 20 delivered after resume", 10, || got().len() >= 20, || format!("{:?}", got()));
        assert_eq!(got(), (0..20).map(|n| json!(n)).collect::<Vec<_>>());
        assert_eq!(metric(&node, "signalbox_actor_restarts_total{kind=\"delivery\"}"), Some(1.0));
        assert_eq!(
            metric(&node, "signalbox_publish_to_deliver_seconds_count"),
            Some(20.0),
            "latency histogram counts deliveries"
        );
    }
}

#[test]
fn restart_mid_backlog_loses_and_reorders_nothing() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/r", json!({"has_gd": true, "max_depth_gd": 5000}), "app");
    let key = ps.subscribe(json!({}));
    for chunk in 0..3 {
        let items: Vec<Value> = (0..1000).map(|i| json!({"data": chunk * 1000 + i})).collect();
        assert_eq!(ps.publish(json!({"data_list": items})).0, 200);
    }
    let mut got: Vec<i64> = ps.pull(Some(700)).iter().map(|m| m["data"].as_i64().unwrap()).collect();
    assert_eq!(got.len(), 700);
    let restarted = node.admin().post_ok(&format!("/admin/v1/actors/delivery:{key}/restart"), &json!({}));
    assert_eq!(restarted["state"], "running", "{restarted}");
    assert_eq!(metric(&node, "signalbox_actor_restarts_total{kind=\"delivery\"}"), Some(1.0));
    loop {
        let batch = ps.pull(Some(900));
        if batch.is_empty() {
            break;
        }
        got.extend(batch.iter().map(|m| m["data"].as_i64().unwrap()));
    }
    assert!(got == (0..3000).collect::<Vec<i64>>(), "lost or reordered: {} received", got.len());
}

#[test]
fn commands_that_do_not_fit_are_refused_and_read_only_keys_cannot_send_them() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/c", json!({}), "app");
    let key = ps.subscribe(json!({}));
    assert_refused(
        &node.admin().post(&format!("/admin/v1/actors/topic:{}/pause", ps.topic_id), &json!({})),
        400,
        "`pause` does not apply to a topic actor (allowed: clear)",
    );
    assert_refused(
        &node.admin().post(&format!("/admin/v1/actors/delivery:{key}/reconnect"), &json!({})),
        400,
        "`reconnect` does not apply to a delivery actor (allowed: pause, resume, restart, clear, move)",
    );
    assert_refused(
        &node.admin().post(&format!("/admin/v1/actors/delivery:{key}/move"), &json!({"node": "n2"})),
        409,
        "cannot move to `n2`: this node runs alone (no cluster)",
    );
    assert_refused(
        &node.admin().post("/admin/v1/actors/delivery:zpsk.none/pause", &json!({})),
        404,
        "no actor `delivery:zpsk.none`",
    );
    assert_refused(
        &node.admin().post("/admin/v1/actors/peer:none/stop", &json!({})),
        404,
        "no actor `peer:none`",
    );
    let viewer =
        node.admin().post_ok("/admin/v1/admin-keys", &json!({"name": "viewer", "role": "read-only"}));
    let viewer = node.http().bearer(viewer["key"].as_str().unwrap());
    assert_refused(
        &viewer.post(&format!("/admin/v1/actors/delivery:{key}/pause"), &json!({})),
        403,
        "admin key `viewer` is read-only: only GET is allowed",
    );
    ps.publish_ok(json!({"data": "x"}));
    let (status, cleared) =
        node.admin().post(&format!("/admin/v1/actors/topic:{}/clear", ps.topic_id), &json!({}));
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(ps.pull(None), Vec::<Value>::new());
    let audit = format!("admin_key=admin action=actor.clear object=\"topic:{}\"", ps.topic_id);
    assert_eq!(node.log().lines().filter(|l| l.contains(&audit)).count(), 1, "one audit line: {audit}");

    let (code, out, err) = node.cli(&["actors", "--kind", "delivery"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.contains(&format!("delivery:{key}"))), "{out}");
    let (code, out, err) = node.cli(&["--json", "actor", &format!("delivery:{key}"), "pause"]);
    assert_eq!(code, 0, "{err}");
    let paused: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((&paused["id"], &paused["state"]), (&json!(format!("delivery:{key}")), &json!("paused")));
    let (code, _, err) = node.cli(&["actor", &format!("delivery:{key}"), "move", "--node", "n2"]);
    assert_eq!(
        (code, err.as_str()),
        (1, "signalbox: 409: cannot move to `n2`: this node runs alone (no cluster)\n")
    );
}

#[test]
fn the_actor_list_of_a_node_with_1000_subscriptions_answers_within_two_seconds() {
    let node = Node::start(Backend::Sqlite);
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/many"}));
    for i in 0..1000 {
        let name = format!("e{i}");
        node.admin().post_ok(
            "/admin/v1/endpoints",
            &json!({"name": name, "role": "sub-only", "auth": "none", "topic_patterns": ["sub=/many"]}),
        );
        node.admin().post_ok("/admin/v1/subscriptions", &json!({"topic_name": "/many", "endpoint": name}));
    }
    // The best of three answers: what the list costs, not what a busy machine adds to one of them.
    // It takes milliseconds; the bound (2 s, for a debug build on a loaded machine) is what
    // asking 1,002 actors one after another, or reading the database per row, would exceed.
    let took = (0..3)
        .map(|_| {
            let started = Instant::now();
            let (status, rows) = node.admin().get("/admin/v1/actors");
            let took = started.elapsed();
            assert_eq!(status, 200, "{rows}");
            assert_eq!(rows.as_array().unwrap().len(), 1002);
            took
        })
        .min()
        .unwrap();
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn a_delivery_actor_that_panics_is_respawned_counted_and_loses_nothing() {
    let node = Node::start_with(NodeOptions {
        env: vec![("SIGNALBOX_FAULT_INJECTION".into(), "1".into())],
        ..NodeOptions::default()
    });
    let ps = PubSub::setup(&node, "/crash", json!({"has_gd": true}), "app");
    let key = ps.subscribe(json!({}));
    ps.publish_ok(json!({"data": 1}));
    node.admin().post_ok(&format!("/admin/v1/actors/delivery:{key}/crash"), &json!({}));
    eventually("the crashed actor to be respawned and counted", 10, || {
        metric(&node, "signalbox_actor_restarts_total{kind=\"delivery\"}") == Some(1.0)
    });
    ps.publish_ok(json!({"data": 2}));
    assert_eq!(datas(&ps.pull(None)), vec![json!(1), json!(2)]);
    assert_eq!(node.admin().get(&format!("/admin/v1/actors/delivery:{key}")).1["state"], "running");
}
