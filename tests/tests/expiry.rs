//! Expiration as the contract states it: 0 or absent is the topic's `limit_message_expiry`,
//! longer is capped to it; and a message that expires while it is out — leased to a puller or
//! pushed to a WSX client, unanswered — is not handed over again when its lease runs out, GD and
//! in RAM alike. A long-lived message published beside the short ones marks when the lease has
//! run out, so no test guesses at the time with a sleep.

use std::time::Duration;

use signalbox_actors::time::parse_iso;
use signalbox_tests::*;

/// Seconds from a message's publication to its expiration, as it says.
fn lifetime_secs(message: &Value) -> f64 {
    let time = |key: &str| parse_iso(message[key].as_str().expect(key)).expect(key);
    (time("expiration_time_iso") - time("pub_time_iso")) as f64 / 1e6
}

#[test]
fn expiration_0_or_absent_is_the_topics_limit_and_a_longer_one_is_capped_to_it() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/limited", json!({"limit_message_expiry": 7}), "app");
        ps.subscribe(json!({}));
        // (expiration asked for, expiration the message gets)
        let cases: [(Option<i64>, i64); 7] = [
            (None, 7),
            (Some(0), 7),
            (Some(1), 1),
            (Some(6), 6),
            (Some(7), 7),
            (Some(8), 7),
            (Some(2_147_483_647), 7),
        ];
        for gd in [false, true] {
            let data_list: Vec<Value> = cases
                .iter()
                .map(|(asked, _)| {
                    let mut item = json!({"data": format!("{asked:?}"), "has_gd": gd});
                    if let Some(secs) = asked {
                        item["expiration"] = json!(secs);
                    }
                    item
                })
                .collect();
            let (status, answer) = ps.publish(json!({"data_list": data_list}));
            assert_eq!(status, 200, "{answer}");
            let held = ps.pull(Some(100));
            assert_eq!(held.len(), cases.len(), "{backend:?} gd={gd}: {held:?}");
            for ((asked, expected), message) in cases.iter().zip(&held) {
                let what = format!("{backend:?} gd={gd} expiration {asked:?}");
                assert_eq!(message["data"], format!("{asked:?}"), "{what}: out of order");
                assert_eq!(message["expiration"], json!(expected), "{what}: {message}");
                assert_eq!(lifetime_secs(message), *expected as f64, "{what}: {message}");
            }
        }
    }
}

#[test]
fn a_pulled_message_that_expires_while_leased_is_not_handed_over_again() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/leased", json!({}), "app");
        // The lease (1.5 s) outlives the short messages (1 s): they expire while leased.
        ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 1.5}));
        let (status, answer) = ps.publish(json!({"data_list": [
            {"data": "short-gd", "expiration": 1, "has_gd": true},
            {"data": "short-ram", "expiration": 1, "has_gd": false},
            {"data": "long", "expiration": 3600},
        ]}));
        assert_eq!(status, 200, "{answer}");
        let first = ps.pull(None);
        assert_eq!(
            datas(&first),
            vec![json!("short-gd"), json!("short-ram"), json!("long")],
            "{backend:?}: all three leased before the short ones expired"
        );
        // Once the lease runs out the long one comes again — alone.
        let again = ps.pull_when_ready(15);
        assert_eq!(datas(&again), vec![json!("long")], "{backend:?}: an expired message came back");
        assert_eq!(again[0]["delivery_count"], 2);
        let long = again[0]["msg_id"].as_str().unwrap();
        assert_eq!(ps.ack(&[long]), (200, json!({"acked": 1, "unknown": []})));
        assert_eq!(ps.pull(None), Vec::<Value>::new(), "{backend:?}");
        // Not dead letters either: they expired, they were not given up on.
        let key = ps.subscribe(json!({}));
        let dead = node.admin().get(&format!("/admin/v1/subscriptions/{key}/dead-letters"));
        assert_eq!(dead, (200, json!([])), "{backend:?}");
    }
}

#[test]
fn a_pushed_message_that_expires_unanswered_is_not_pushed_again() {
    for backend in backends() {
        let node = Node::start(backend);
        let channel = wsx_setup(&node, "pushed", "/pushed");
        node.admin().post_ok("/admin/v1/topics", &json!({"name": "/pushed"}));
        let mut ws = channel.logged_in(&node);
        // One message a push, two pushes out at once; each waits 1.5 s for its answer, and
        // the short messages (1 s) expire while they wait. (An unanswered push is tried again
        // `wait_non_sock_err`, 3 s, after its ack_timeout.)
        let (sub, _) = ws.invoke(
            "zato.pubsub.pubapi.subscribe-wsx",
            json!({"topic_name": "/pushed", "ack_mode": "explicit", "ack_timeout": 1.5,
                   "delivery_batch_size": 1, "max_in_flight": 2}),
        );
        assert_eq!(sub["meta"]["status"], 200, "{sub}");
        let (published, mut pushes) = ws.invoke(
            "zato.pubsub.pubapi.publish-message",
            json!({"topic_name": "/pushed", "data_list": [
                {"data": "short-gd", "expiration": 1, "has_gd": true},
                {"data": "short-ram", "expiration": 1, "has_gd": false},
                {"data": "long", "expiration": 3600},
            ]}),
        );
        assert_eq!(published["meta"]["status"], 200, "{published}");
        while pushes.len() < 2 {
            pushes.push(ws.recv());
        }
        let pushed: Vec<Value> = pushes.iter().map(|p| p["data"]["data"].clone()).collect();
        assert_eq!(pushed, vec![json!("short-gd"), json!("short-ram")], "{backend:?}");
        assert!(pushes.iter().all(|p| p["meta"]["msg_type"] == "zwsx.psrq"), "{pushes:?}");

        // Neither is answered. Their time runs out while they wait: the next push is the long
        // message, for the first time, and nothing after it.
        let next = ws.recv();
        assert_eq!(next["meta"]["msg_type"], "zwsx.psrq", "{next}");
        assert_eq!(
            (&next["data"]["data"], &next["data"]["delivery_count"]),
            (&json!("long"), &json!(1)),
            "{backend:?}"
        );
        ws.respond(next["meta"]["id"].as_str().unwrap(), json!("ok"));
        let after = ws.recv_within(Duration::from_secs(1));
        assert_eq!(after, None, "{backend:?}: pushed again after the long message");
    }
}
