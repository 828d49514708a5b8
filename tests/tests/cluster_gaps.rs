//! Dedup of a publisher's msg_id across the nodes of a cluster: the GD check is made in the
//! database, so a repeat on another node, or a race on two, stores the message once.

use serde_json::{json, Value};
use signalbox_tests::cluster::TestCluster;
use signalbox_tests::{eventually, Http};

/// Two nodes, GD topics `/dd` and `/dd-other`, an endpoint `app` subscribed (pull) to `/dd`;
/// answers a client of `app` on each node.
fn two_nodes_and_a_subscriber(cluster: &TestCluster) -> Vec<Http> {
    let admin = cluster.admin(0);
    for name in ["/dd", "/dd-other"] {
        let (status, body) = admin.post("/admin/v1/topics", &json!({"name": name, "has_gd": true}));
        assert_eq!(status, 201, "{body}");
    }
    let (status, e) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "app", "role": "pub-sub", "topic_patterns": ["pub=/dd*", "sub=/dd*"]}),
    );
    assert_eq!(status, 201, "{e}");
    let password = e["password"].as_str().unwrap();
    let clients: Vec<Http> = cluster.nodes.iter().map(|n| n.http().basic("app", password)).collect();
    let (status, sub) = clients[0].post("/zato/pubsub/subscribe/topic//dd", &json!({}));
    assert_eq!(status, 200, "{sub}");
    clients
}

/// Pulls `/dd` through both nodes until `count` messages came, then checks nothing more is
/// there; answers them.
fn pull_exactly(clients: &[Http], count: usize) -> Vec<Value> {
    let mut got: Vec<Value> = Vec::new();
    eventually(&format!("{count} messages to pull"), 15, || {
        for c in clients {
            let (status, body) = c.call("PATCH", "/zato/pubsub/topic//dd?max=100", None);
            assert_eq!(status, 200, "{body}");
            got.extend(body.as_array().unwrap().iter().cloned());
        }
        got.len() >= count
    });
    for c in clients {
        let (status, body) = c.call("PATCH", "/zato/pubsub/topic//dd?max=100", None);
        assert_eq!((status, &body), (200, &json!([])), "more than stored once");
    }
    assert_eq!(got.len(), count, "{got:?}");
    got
}

/// README: a publisher's msg_id repeated on the same topic within `dedup_window` answers the
/// same id and stores nothing; on another topic it is a 409. The GD check is made in the
/// database, so it holds across nodes.
#[test]
fn a_gd_msg_id_repeated_on_another_node_within_the_window_is_answered_alike_and_stored_once() {
    let Some(cluster) = TestCluster::start(2) else { return };
    let clients = two_nodes_and_a_subscriber(&cluster);
    let publish = |i: usize, body: Value| clients[i].post("/zato/pubsub/topic//dd", &body);

    assert_eq!(
        publish(0, json!({"data": "first", "msg_id": "order-1"})),
        (200, json!({"msg_id": "order-1"}))
    );
    assert_eq!(
        publish(1, json!({"data": "again", "msg_id": "order-1"})),
        (200, json!({"msg_id": "order-1"}))
    );
    assert_eq!(
        publish(0, json!({"data": "third", "msg_id": "order-1"})),
        (200, json!({"msg_id": "order-1"}))
    );
    let other = clients[1].post("/zato/pubsub/topic//dd-other", &json!({"data": "x", "msg_id": "order-1"}));
    assert_eq!(other.0, 409, "{other:?}");
    assert_eq!(other.1["details"], "msg_id `order-1` is already used by another message");

    let got = pull_exactly(&clients, 1);
    assert_eq!((&got[0]["msg_id"], &got[0]["data"]), (&json!("order-1"), &json!("first")));
}

/// The same id published on both nodes at the same moment: both answer 200 with that id and
/// it is stored once (20 ids, each raced on both nodes).
#[test]
fn a_gd_msg_id_published_on_two_nodes_at_the_same_moment_is_answered_alike_and_stored_once() {
    let Some(cluster) = TestCluster::start(2) else { return };
    let clients = two_nodes_and_a_subscriber(&cluster);
    // Both nodes past their first login (a password check is slow), then each id sent on
    // both at the same moment.
    for c in &clients {
        assert_eq!(c.call("PATCH", "/zato/pubsub/topic//dd", None), (200, json!([])));
    }
    let barrier = std::sync::Barrier::new(2);
    let answers: Vec<Vec<(u16, Value)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let (client, barrier) = (clients[i].clone(), &barrier);
                s.spawn(move || {
                    (0..20)
                        .map(|n| {
                            barrier.wait();
                            client.post(
                                "/zato/pubsub/topic//dd",
                                &json!({"data": format!("n{i}-{n}"), "msg_id": format!("race-{n}")}),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, node_answers) in answers.iter().enumerate() {
        for (n, answer) in node_answers.iter().enumerate() {
            assert_eq!(answer, &(200, json!({"msg_id": format!("race-{n}")})), "n{} publication {n}", i + 1);
        }
    }
    let got = pull_exactly(&clients, 20);
    let mut ids: Vec<&str> = got.iter().map(|m| m["msg_id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected: Vec<String> = (0..20).map(|n| format!("race-{n}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
}
