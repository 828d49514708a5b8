//! The REST pub/sub API end to end on both backends: publish, pull, ack, subscribe, and the
//! semantics of INTERFACES §3.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signalbox_actors::time::parse_iso;
use signalbox_tests::*;

/// Sleeps until the wall clock is past `iso` (an expiration time a message states): the passing
/// of that time is what the caller tests, so it is waited for exactly, not guessed.
fn sleep_until_past(iso: &str) {
    let at = parse_iso(iso).unwrap_or_else(|| panic!("not an ISO time: {iso}"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64;
    std::thread::sleep(Duration::from_micros((at - now).max(0) as u64 + 50_000));
}

#[test]
fn messages_are_pulled_in_priority_then_time_order_in_ram_and_gd_alike() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/orders", json!({}), "app");
        let key = ps.subscribe(json!({}));
        assert!(key.starts_with("zpsk.rest."));
        ps.publish_ok(json!({"data": "ram-5a"}));
        ps.publish_ok(json!({"data": "gd-5b", "has_gd": true}));
        ps.publish_ok(json!({"data": {"n": 9}, "priority": 9}));
        ps.publish_ok(json!({"data": "gd-1", "priority": 1, "has_gd": true}));
        ps.publish_ok(json!({"data": "gd-9", "priority": 9, "has_gd": true}));
        let (status, list) =
            ps.publish(json!({"data_list": [{"data": "list-a"}, {"data": "list-b", "has_gd": true}]}));
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["msg_id_list"].as_array().unwrap().len(), 2);

        let got = ps.pull(None);
        assert_eq!(
            datas(&got),
            vec![
                json!({"n": 9}),
                json!("gd-9"),
                json!("ram-5a"),
                json!("gd-5b"),
                json!("list-a"),
                json!("list-b"),
                json!("gd-1")
            ]
        );
        let first = &got[0];
        for field in [
            "msg_id",
            "data",
            "mime_type",
            "priority",
            "expiration",
            "size",
            "topic_name",
            "sub_key",
            "delivery_count",
            "pub_time_iso",
            "expiration_time_iso",
            "recv_time_iso",
        ] {
            assert!(first.get(field).is_some(), "{field} missing from {first}");
        }
        assert!(first.get("correl_id").is_none(), "null fields must be left out: {first}");
        assert_eq!(first["sub_key"], key.as_str());
        assert_eq!(first["delivery_count"], 1);
        assert!(first["msg_id"].as_str().unwrap().starts_with("zpsm"));
        assert_eq!(first["msg_id"].as_str().unwrap().len(), 28);
        assert!(ps.pull(None).is_empty(), "auto ack: nothing comes twice");
    }
}

#[test]
fn pull_takes_at_most_max_and_publisher_time_orders_within_a_priority() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/t", json!({"has_gd": true}), "app");
    ps.subscribe(json!({}));
    ps.publish_ok(json!({"data": "later", "ext_pub_time": "2030-01-01T00:00:02Z"}));
    ps.publish_ok(json!({"data": "earlier", "ext_pub_time": "2030-01-01T00:00:01Z"}));
    ps.publish_ok(json!({"data": "now"}));
    assert_eq!(datas(&ps.pull(Some(2))), vec![json!("now"), json!("earlier")]);
    assert_eq!(datas(&ps.pull(Some(2))), vec![json!("later")]);
    assert_refused(
        &ps.client.call("PATCH", &format!("{}?max=0", ps.topic_path()), None),
        400,
        "`max` must be 1–10000",
    );
}

#[test]
fn a_thousand_gd_messages_survive_sigkill_and_come_back_once_in_order() {
    for backend in backends() {
        let mut node = Node::start(backend);
        let ps = PubSub::setup(&node, "/durable", json!({"has_gd": true}), "app");
        ps.subscribe(json!({}));
        let mut expected: Vec<(i64, usize)> = Vec::new();
        for chunk in 0..10 {
            let items: Vec<Value> = (0..100)
                .map(|i| {
                    let n = chunk * 100 + i;
                    let priority = 1 + (n * 7 % 9) as i64;
                    expected.push((priority, n));
                    json!({"data": {"n": n}, "priority": priority})
                })
                .collect();
            let (status, body) = ps.publish(json!({"data_list": items}));
            assert_eq!(status, 200, "{body}");
        }
        node.kill9();
        node.restart();
        let client = node.http().basic(&ps.endpoint, &ps.password);
        let mut got = Vec::new();
        loop {
            let (status, batch) = client.call("PATCH", &format!("{}?max=300", ps.topic_path()), None);
            assert_eq!(status, 200, "{batch}");
            let batch = batch.as_array().unwrap().clone();
            if batch.is_empty() {
                break;
            }
            got.extend(
                batch
                    .iter()
                    .map(|m| (m["priority"].as_i64().unwrap(), m["data"]["n"].as_u64().unwrap() as usize)),
            );
        }
        // Priority first (9 down to 1), publication order within a priority.
        expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        assert_eq!(got.len(), 1000, "{backend:?}: messages lost or repeated");
        assert_eq!(got, expected, "{backend:?}: wrong order");
    }
}

#[test]
fn messages_published_before_the_first_subscription_are_kept_for_it() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/early", json!({}), "app");
        ps.publish_ok(json!({"data": "one"}));
        ps.publish_ok(json!({"data": "two", "has_gd": false}));
        let (status, retained) = node.admin().get(&format!("/admin/v1/topics/{}/messages", ps.topic_id));
        assert_eq!(status, 200, "{retained}");
        assert_eq!(datas(retained.as_array().unwrap()), vec![json!("one"), json!("two")]);
        let (status, body) =
            ps.client.post(&format!("/zato/pubsub/subscribe/topic/{}", ps.topic), &json!({}));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["queue_depth"], 2);
        assert_eq!(datas(&ps.pull(None)), vec![json!("one"), json!("two")]);

        let dropper = PubSub::setup(&node, "/dropped", json!({"on_no_subs_pub": "drop"}), "app2");
        dropper.publish_ok(json!({"data": "gone"}));
        let (_, retained) = node.admin().get(&format!("/admin/v1/topics/{}/messages", dropper.topic_id));
        assert_eq!(retained, json!([]), "`drop` kept a publication without subscribers");
        dropper.subscribe(json!({}));
        assert_eq!(dropper.pull(None), Vec::<Value>::new());
    }
}

#[test]
fn a_repeat_subscribe_answers_the_same_key_and_unsubscribe_ends_it() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/s", json!({}), "app");
    let key = ps.subscribe(json!({"ack_mode": "explicit"}));
    assert_eq!(ps.subscribe(json!({})), key);
    let (status, body) = ps.client.delete(&format!("/zato/pubsub/subscribe/topic/{}", ps.topic));
    assert_eq!(status, 200, "{body}");
    assert_refused(
        &ps.client.call("PATCH", &ps.topic_path(), None),
        400,
        "You are not subscribed to topic `/s`",
    );
    assert_refused(
        &node.admin().get(&format!("/admin/v1/subscriptions/{key}")),
        404,
        &format!("no subscription `{key}`"),
    );
    assert_eq!(ps.client.delete(&format!("/zato/pubsub/subscribe/topic/{}", ps.topic)).0, 200);
}

#[test]
fn over_depth_gd_is_refused_with_503_and_in_ram_overflows_to_the_log_or_is_refused() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/deep", json!({"max_depth_gd": 2, "max_depth_non_gd": 1}), "app");
        ps.subscribe(json!({}));
        ps.publish_ok(json!({"data": "a", "has_gd": true}));
        ps.publish_ok(json!({"data": "b", "has_gd": true}));
        let (status, body, headers) =
            ps.client.raw("POST", &ps.topic_path(), Some(&json!({"data": "c", "has_gd": true}).to_string()));
        assert_refused(&(status, body), 503, "topic `/deep` is at its GD depth limit of 2");
        assert!(headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("retry-after")));

        ps.publish_ok(json!({"data": "r1"}));
        let (status, over) = ps.publish(json!({"data": "r2"}));
        assert_eq!(status, 200, "{over}");
        assert_eq!(over["overflow"], true);
        let log = std::fs::read_to_string(node.data_dir.join("pubsub-overflow.log")).unwrap();
        assert!(log.contains("r2") && log.lines().count() == 1, "{log}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(node.data_dir.join("pubsub-overflow.log")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(datas(&ps.pull(None)), vec![json!("a"), json!("b"), json!("r1")]);

        node.admin()
            .patch_ok(&format!("/admin/v1/topics/{}", ps.topic_id), &json!({"on_overflow_non_gd": "reject"}));
        ps.publish_ok(json!({"data": "r3"}));
        assert_refused(
            &ps.publish(json!({"data": "r4"})),
            503,
            "topic `/deep` is at its in-RAM depth limit of 1",
        );
        // After the pull the depth is free again.
        assert_eq!(datas(&ps.pull(None)), vec![json!("r3")]);
        ps.publish_ok(json!({"data": "r5"}));
    }
}

#[test]
fn an_inactive_topic_refuses_publications_with_503() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/off", json!({"is_active": false}), "app");
    assert_refused(&ps.publish(json!({"data": "x"})), 503, "topic `/off` is inactive");
    node.admin().patch_ok(&format!("/admin/v1/topics/{}", ps.topic_id), &json!({"is_active": true}));
    ps.publish_ok(json!({"data": "x"}));
}

#[test]
fn expired_messages_are_never_delivered_and_expired_rows_are_cleaned_up() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/exp", json!({}), "app");
        let key = ps.subscribe(json!({}));
        ps.publish_ok(json!({"data": "short-gd", "expiration": 1, "has_gd": true}));
        ps.publish_ok(json!({"data": "short-ram", "expiration": 1}));
        ps.publish_ok(json!({"data": "long", "expiration": 3600}));
        let queue = format!("/admin/v1/subscriptions/{key}/queue");
        let (status, queued) = node.admin().get(&queue);
        assert_eq!(status, 200, "{queued}");
        assert_eq!(
            datas(queued.as_array().unwrap()),
            vec![json!("short-gd"), json!("short-ram"), json!("long")]
        );
        // Until the later of the two short expiration times has passed.
        sleep_until_past(queued[1]["expiration_time_iso"].as_str().expect("expiration_time_iso"));
        assert_eq!(datas(&ps.pull(None)), vec![json!("long")]);
        // An expired GD row nobody pulls is removed by the node itself (its janitor, every 5 s).
        ps.publish_ok(json!({"data": "short-gd-2", "expiration": 1, "has_gd": true}));
        eventually_with(
            "the expired row to be cleaned up",
            15,
            || node.admin().get(&queue).1 == json!([]),
            || format!("{}", node.admin().get(&queue).1),
        );
        assert_eq!(ps.pull(None), Vec::<Value>::new());
    }
}

#[test]
fn explicit_acks_lease_messages_and_unacked_ones_come_back_in_order() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/acked", json!({"has_gd": true}), "app");
        ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 1}));
        let a = ps.publish_ok(json!({"data": "a"}));
        let b = ps.publish_ok(json!({"data": "b", "has_gd": false}));
        let c = ps.publish_ok(json!({"data": "c"}));
        let first = ps.pull(None);
        assert_eq!(datas(&first), vec![json!("a"), json!("b"), json!("c")]);
        assert!(ps.pull(None).is_empty(), "leased messages are not handed out again before their time");
        let (status, acked) = ps.ack(&[&b, "zpsm-not-a-message"]);
        assert_eq!(status, 200);
        assert_eq!(acked, json!({"acked": 1, "unknown": ["zpsm-not-a-message"]}));
        // Back once their 1 s lease runs out (not before: the pull above found nothing).
        let again = ps.pull_when_ready(10);
        assert_eq!(datas(&again), vec![json!("a"), json!("c")]);
        assert!(again.iter().all(|m| m["delivery_count"] == 2), "{again:?}");
        // A marker leased after `a` and `c` were (and not acknowledged): once it comes back, their
        // leases would have run out too.
        ps.publish_ok(json!({"data": "marker"}));
        assert_eq!(datas(&ps.pull(None)), vec![json!("marker")]);
        assert_eq!(ps.ack(&[&a, &c]), (200, json!({"acked": 2, "unknown": []})));
        let after = ps.pull_when_ready(10);
        assert_eq!(datas(&after), vec![json!("marker")], "acknowledged messages came back");
    }
}

#[test]
fn messages_past_delivery_max_retry_become_dead_letters_that_can_be_requeued_or_purged() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/poison", json!({}), "app");
        let key = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 0.3, "delivery_max_retry": 2}));
        ps.publish_ok(json!({"data": "gd", "has_gd": true}));
        ps.publish_ok(json!({"data": "ram"}));
        assert_eq!(ps.pull(None).len(), 2);
        assert_eq!(ps.pull_when_ready(10).len(), 2, "the second attempt, once the lease ran out");
        let dead_letters = format!("/admin/v1/subscriptions/{key}/dead-letters");
        // A pull finds the leases run out: past delivery_max_retry they leave the queue.
        eventually("both to be dead letters once their second lease ran out", 10, || {
            assert_eq!(ps.pull(None), Vec::<Value>::new(), "a message past delivery_max_retry came again");
            node.admin().get(&dead_letters).1.as_array().is_some_and(|d| d.len() == 2)
        });
        let (_, dead) = node.admin().get(&dead_letters);
        // In queue order (both priority 5: publication order), GD and in-RAM alike.
        assert_eq!(datas(dead.as_array().unwrap()), vec![json!("gd"), json!("ram")]);

        let (status, requeued) =
            node.admin().post(&format!("/admin/v1/subscriptions/{key}/dead-letters/requeue"), &json!({}));
        assert_eq!(status, 200);
        assert_eq!(requeued["requeued"], 2);
        let back = ps.pull(None);
        assert_eq!(back.len(), 2);
        assert_eq!(ps.pull_when_ready(10).len(), 2);
        // A pull finds the leases run out: past delivery_max_retry they leave the queue.
        eventually("both to be dead letters again", 10, || {
            assert_eq!(ps.pull(None), Vec::<Value>::new(), "a message past delivery_max_retry came again");
            node.admin().get(&dead_letters).1.as_array().is_some_and(|d| d.len() == 2)
        });
        assert_eq!(node.admin().delete(&format!("/admin/v1/subscriptions/{key}/dead-letters")).0, 200);
        assert_eq!(node.admin().get(&format!("/admin/v1/subscriptions/{key}/dead-letters")).1, json!([]));
    }
}

#[test]
fn a_publisher_chosen_msg_id_is_deduplicated_and_conflicts_across_topics() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/dedup", json!({"has_gd": true}), "app");
        ps.subscribe(json!({}));
        assert_eq!(ps.publish_ok(json!({"data": "first", "msg_id": "order-42"})), "order-42");
        assert_eq!(ps.publish_ok(json!({"data": "again", "msg_id": "order-42"})), "order-42");
        ps.publish_ok(json!({"data": "ram", "msg_id": "ram-1", "has_gd": false}));
        ps.publish_ok(json!({"data": "ram again", "msg_id": "ram-1", "has_gd": false}));
        assert_eq!(datas(&ps.pull(None)), vec![json!("first"), json!("ram")]);

        let other = PubSub::setup(&node, "/other", json!({"has_gd": true}), "app2");
        other.subscribe(json!({}));
        other.publish_ok(json!({"data": "x", "msg_id": "shared-id"}));
        assert_refused(
            &ps.publish(json!({"data": "y", "msg_id": "shared-id"})),
            409,
            "msg_id `shared-id` is already used by another message",
        );
        assert_refused(
            &ps.publish(json!({"data": "y", "msg_id": "x".repeat(201)})),
            400,
            "`msg_id` must be 1–200 printable ASCII characters",
        );
    }
}

#[test]
fn bad_publications_are_refused_in_the_envelope_and_store_nothing() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/strict", json!({}), "app");
        let key = ps.subscribe(json!({}));
        let path = ps.topic_path();
        let raw = |body: &str| {
            let (s, v, _) = ps.client.raw("POST", &path, Some(body));
            (s, v)
        };
        assert_refused(
            &raw("{\"data\": "),
            400,
            "invalid request body: EOF while parsing a value at line 1 column 9",
        );
        assert_refused(&raw(""), 400, "a JSON body with `data` is required");
        assert_refused(&ps.publish(json!({})), 400, "`data` is required");
        assert_refused(&ps.publish(json!({"data": ""})), 400, "`data` must not be empty");
        assert_refused(&ps.publish(json!({"data": null})), 400, "`data` is required");
        assert_refused(
            &ps.publish(json!({"data": "x", "priority": 0})),
            400,
            "priority `0` outside of allowed range 1-9",
        );
        assert_refused(
            &ps.publish(json!({"data": "x", "priority": 10})),
            400,
            "priority `10` outside of allowed range 1-9",
        );
        assert_refused(
            &ps.publish(json!({"data": "x", "expiration": -1})),
            400,
            "`expiration` must be 0–2147483647 seconds",
        );
        assert_refused(
            &ps.publish(json!({"data": "x", "priority": "high"})),
            400,
            "invalid request body: invalid type: string \"high\", expected i64 at line 1 column 29",
        );
        let (status, body) = ps.publish(json!({"data": "x", "colour": "red"}));
        assert_error(&(status, body.clone()), 400);
        assert!(
            body["details"].as_str().unwrap().starts_with("invalid request body: unknown field `colour`"),
            "{body}"
        );
        assert_refused(
            &ps.publish(json!({"data": "x", "ext_pub_time": "yesterday"})),
            400,
            "`ext_pub_time` `yesterday` is not an ISO 8601 time",
        );
        assert_refused(&ps.publish(json!({"data_list": []})), 400, "`data_list` must not be empty");
        assert_refused(
            &ps.publish(json!({"data_list": [{"data": "ok"}, {"data": ""}]})),
            400,
            "data_list[1]: `data` must not be empty",
        );
        let big = "x".repeat(1024 * 1024 + 10);
        assert_refused(&ps.publish(json!({"data": big})), 413, "Payload Too Large");

        assert_refused(
            &node.http().basic("app", "wrong").post(&path, &json!({"data": "x"})),
            401,
            "missing or invalid credentials",
        );
        assert_refused(
            &node.http().post(&path, &json!({"data": "x"})),
            401,
            "missing or invalid credentials",
        );
        assert_refused(
            &node.http().header("X-API-Key", "sbk_nope").post(&path, &json!({"data": "x"})),
            401,
            "missing or invalid credentials",
        );
        assert_refused(
            &ps.client.post("/zato/pubsub/topic//no/such/topic", &json!({"data": "x"})),
            403,
            "You are not allowed to access this resource",
        );
        node.admin().post_ok("/admin/v1/topics", &json!({"name": "/forbidden"}));
        assert_refused(
            &ps.client.post("/zato/pubsub/topic//forbidden", &json!({"data": "x"})),
            403,
            "You are not allowed to access this resource",
        );
        assert_refused(
            &ps.client.call("PATCH", "/zato/pubsub/topic//forbidden", None),
            403,
            "You are not allowed to access this resource",
        );

        let (_, queue) = node.admin().get(&format!("/admin/v1/subscriptions/{key}/queue"));
        assert_eq!(queue, json!([]), "a refused publication was stored");
        assert_eq!(node.http().get("/health").0, 200);
        ps.publish_ok(json!({"data": "still fine"}));
        assert_eq!(ps.pull(None).len(), 1);
    }
}

#[test]
fn pull_and_ack_need_a_subscription_and_a_well_formed_body() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/nosub", json!({}), "app");
    assert_refused(
        &ps.client.call("PATCH", &ps.topic_path(), None),
        400,
        "You are not subscribed to topic `/nosub`",
    );
    assert_refused(&ps.ack(&["x"]), 400, "You are not subscribed to topic `/nosub`");
    ps.subscribe(json!({}));
    let (s, v, _) = ps.client.raw("POST", "/zato/pubsub/ack/topic//nosub", Some("{\"msg_id_list\": 5}"));
    assert_refused(
        &(s, v),
        400,
        "invalid request body: invalid type: integer `5`, expected a sequence at line 1 column 17",
    );
    assert_eq!(ps.ack(&["zpsm1"]).1, json!({"acked": 0, "unknown": ["zpsm1"]}));
}

#[test]
fn failed_logins_are_throttled_with_429() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/t", json!({}), "app");
    let bad = node.http().basic("app", "wrong");
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(bad.post(&ps.topic_path(), &json!({"data": "x"})).0);
    }
    // Ten refusals, then the address is throttled.
    let expected: Vec<u16> = [401; 10].into_iter().chain([429; 5]).collect();
    assert_eq!(statuses, expected);
    let (s, body, headers) = bad.raw("POST", &ps.topic_path(), Some("{\"data\": 1}"));
    assert_refused(&(s, body), 429, "too many failed logins, try again later");
    assert!(headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("retry-after")));
}

#[test]
fn api_keys_authenticate_and_rotation_drops_the_old_credentials_at_once() {
    let node = Node::start(Backend::Sqlite);
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/k"}));
    let e = node.admin().post_ok(
        "/admin/v1/endpoints",
        &json!({"name": "keyed", "role": "pub-only", "auth": "api_key", "topic_patterns": ["pub=/k"]}),
    );
    let key = e["api_key"].as_str().unwrap().to_owned();
    let client = node.http().header("X-API-Key", &key);
    assert_eq!(client.post("/zato/pubsub/topic//k", &json!({"data": 1})).0, 200);
    assert_refused(
        &client.call("PATCH", "/zato/pubsub/topic//k", None),
        403,
        "You are not allowed to access this resource",
    );
    let rotated = node.admin().post_ok(&format!("/admin/v1/endpoints/{}/credentials", e["id"]), &json!({}));
    let new_key = rotated["api_key"].as_str().unwrap_or_else(|| panic!("a new API key: {rotated}"));
    assert_ne!(new_key, key);
    assert_refused(
        &client.post("/zato/pubsub/topic//k", &json!({"data": 1})),
        401,
        "missing or invalid credentials",
    );
    let (status, body) =
        node.http().header("X-API-Key", new_key).post("/zato/pubsub/topic//k", &json!({"data": 2}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn every_publication_writes_one_audit_line() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/audited", json!({}), "app");
    ps.subscribe(json!({}));
    let gd = ps.publish_ok(json!({"data": "x", "has_gd": true}));
    let ram = ps.publish_ok(json!({"data": "y"}));
    let log = node.log();
    for (id, gd_flag) in [(gd, "gd=true"), (ram, "gd=false")] {
        let lines: Vec<&str> =
            log.lines().filter(|l| l.contains("signalbox::audit") && l.contains(&id)).collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = lines[0];
        for part in [
            "event=publish",
            "cid=",
            "topic=/audited",
            "endpoint=app",
            "pattern=\"pub=/audited\"",
            gd_flag,
            "depth_gd=",
        ] {
            assert!(line.contains(part), "{part} missing: {line}");
        }
    }
    assert!(!log.contains(&ps.password));
}

#[test]
fn metrics_count_publications_deliveries_and_acks() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/m", json!({}), "app");
    let key = ps.subscribe(json!({"ack_mode": "explicit"}));
    let id = ps.publish_ok(json!({"data": "x", "has_gd": true}));
    ps.publish_ok(json!({"data": "y"}));
    assert_eq!(ps.pull(None).len(), 2);
    assert_eq!(ps.ack(&[&id]).1["acked"], 1);
    // Every sample line parses as Prometheus reads it (`Metrics` fails the test otherwise).
    let m = Metrics::of(&node);
    let value = |series: &str| m.metric(series).unwrap_or_else(|| panic!("{series} missing"));
    assert_eq!(value("signalbox_publications_total{gd=\"true\",topic=\"/m\"}"), 1.0);
    assert_eq!(value("signalbox_publications_total{gd=\"false\",topic=\"/m\"}"), 1.0);
    assert_eq!(value(&format!("signalbox_deliveries_total{{sub_key=\"{key}\"}}")), 2.0);
    assert_eq!(value(&format!("signalbox_acks_total{{sub_key=\"{key}\"}}")), 1.0);
    // One GD publication: one commit of one (PubSub::setup made nothing else GD).
    assert_eq!(value("signalbox_gd_commit_batch_size_count"), 1.0);
    assert_eq!(value("signalbox_gd_commit_batch_size_sum"), 1.0);
    assert_eq!(value("signalbox_publish_to_deliver_seconds_count"), 2.0);
    assert_eq!(m.type_of("signalbox_publish_to_deliver_seconds"), Some("histogram"));
    // Per-subscription depths come from the janitor (every 5 s): one GD message is still queued.
    ps.publish_ok(json!({"data": "queued", "has_gd": true}));
    eventually("the subscription depth gauge", 12, || {
        metric(&node, &format!("signalbox_subscription_depth{{kind=\"gd\",sub_key=\"{key}\"}}")) == Some(1.0)
    });
}

/// The answer refuses `field` with 400 and details that name it and its bounds in seconds.
#[track_caller]
fn assert_wait_refused(answer: &(u16, Value), field: &str, min: &str) {
    assert_error(answer, 400);
    assert_eq!(
        answer.1["details"],
        format!("`{field}` must be a number of seconds from {min} to 2592000"),
        "{answer:?}"
    );
}

#[test]
fn waits_outside_their_bounds_are_refused_naming_the_field_on_admin_and_rest_subscribe() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/waits", json!({}), "app");
    let admin = node.admin();
    let admin_create = |mut options: Value| {
        options["topic_name"] = json!(ps.topic);
        options["endpoint"] = json!(ps.endpoint);
        admin.post("/admin/v1/subscriptions", &options)
    };
    let rest_subscribe =
        |options: Value| ps.client.post(&format!("/zato/pubsub/subscribe/topic/{}", ps.topic), &options);

    // ack_timeout: 0.001 s to 30 days, on both paths that create a subscription.
    for bad in [json!(1e300), json!(f64::MAX), json!(2_592_000.001), json!(-1), json!(0), json!(0.0009)] {
        assert_wait_refused(&admin_create(json!({"ack_timeout": bad})), "ack_timeout", "0.001");
        assert_wait_refused(
            &rest_subscribe(json!({"ack_mode": "explicit", "ack_timeout": bad})),
            "ack_timeout",
            "0.001",
        );
    }
    // The error waits: 0 to 30 days, on the admin API.
    for field in ["wait_sock_err", "wait_non_sock_err"] {
        for bad in [json!(1e300), json!(2_592_000.5), json!(-0.001), json!(-1e300)] {
            assert_wait_refused(&admin_create(json!({ field: bad })), field, "0");
        }
    }
    let (status, list) = admin.get("/admin/v1/subscriptions");
    assert_eq!((status, list), (200, json!([])), "a refused subscription was stored");

    // The bounds themselves are accepted, on an edit as on a create.
    let (status, sub) =
        admin_create(json!({"ack_timeout": 0.001, "wait_sock_err": 0, "wait_non_sock_err": 0}));
    assert_eq!(status, 201, "{sub}");
    let edit_path = format!("/admin/v1/subscriptions/{}", sub["sub_key"].as_str().unwrap());
    let (status, edited) = admin.patch(
        &edit_path,
        &json!({"ack_timeout": 2_592_000, "wait_sock_err": 2_592_000, "wait_non_sock_err": 2_592_000}),
    );
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (&edited["ack_timeout"], &edited["wait_sock_err"], &edited["wait_non_sock_err"]),
        (&json!(2_592_000.0), &json!(2_592_000.0), &json!(2_592_000.0))
    );
    assert_wait_refused(&admin.patch(&edit_path, &json!({"ack_timeout": 1e300})), "ack_timeout", "0.001");
    assert_wait_refused(&admin.patch(&edit_path, &json!({"wait_sock_err": 1e300})), "wait_sock_err", "0");
    assert_eq!(admin.delete(&edit_path).0, 200);

    // A pull subscription leasing for 30 days: the message is handed out once and stays leased
    // (its lease end, now + 30 days, is far in the future, not wrapped into the past).
    let key = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 2_592_000}));
    let (_, stored) = admin.get(&format!("/admin/v1/subscriptions/{key}"));
    assert_eq!(stored["ack_timeout"], json!(2_592_000.0), "{stored}");
    let id = ps.publish_ok(json!({"data": "leased"}));
    let first = ps.pull(None);
    assert_eq!(datas(&first), vec![json!("leased")]);
    assert_eq!(first[0]["delivery_count"], 1);
    assert_eq!(ps.pull(None), Vec::<Value>::new(), "a 30-day lease expired at once");
    assert_eq!(ps.ack(&[&id]), (200, json!({"acked": 1, "unknown": []})));
}

/// JSON allows numbers past f64 and a field of the wrong type; the refusal names the field
/// there too, as it does for any other bad value.
#[test]
fn an_ack_timeout_beyond_f64_or_not_a_number_is_refused_naming_the_field() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/huge", json!({}), "app");
    let rest = format!("/zato/pubsub/subscribe/topic/{}", ps.topic);
    for value in ["1e400", "-1e400", "\"NaN\"", "\"Infinity\""] {
        let admin_body = format!(r#"{{"topic_name": "/huge", "endpoint": "app", "ack_timeout": {value}}}"#);
        let (s, body, _) = node.admin().raw("POST", "/admin/v1/subscriptions", Some(&admin_body));
        assert_error(&(s, body.clone()), 400);
        assert!(
            body["details"].as_str().unwrap().starts_with("invalid `ack_timeout`: "),
            "admin, {value}: {body}"
        );
        let rest_body = format!(r#"{{"ack_timeout": {value}}}"#);
        let (s, body, _) = ps.client.raw("POST", &rest, Some(&rest_body));
        assert_error(&(s, body.clone()), 400);
        assert!(
            body["details"].as_str().unwrap().starts_with("invalid `ack_timeout`: "),
            "REST, {value}: {body}"
        );
    }
    assert_eq!(node.admin().get("/admin/v1/subscriptions"), (200, json!([])));
}

#[test]
fn concurrent_gd_publications_never_pass_max_depth_gd() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/gd5", json!({"has_gd": true, "max_depth_gd": 5}), "app");
    ps.subscribe(json!({}));
    // What one publication past the depth answers.
    const REFUSAL: &str = "topic `/gd5` is at its GD depth limit of 5";

    const PUBLISHERS: usize = 40;
    let start = std::sync::Arc::new(std::sync::Barrier::new(PUBLISHERS));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|n| {
            let (client, path, start) = (ps.client.clone(), ps.topic_path(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                client.post(&path, &json!({"data": n}))
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = publishers.into_iter().map(|p| p.join().unwrap()).collect();

    let accepted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    let refused: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert_eq!(accepted.len(), 5, "accepted past max_depth_gd: {answers:?}");
    assert_eq!(refused.len(), PUBLISHERS - 5);
    for answer in &refused {
        assert_refused(answer, 503, REFUSAL);
    }
    // The subscription holds exactly the five accepted, nothing else.
    let mut accepted_ids: Vec<&str> = accepted.iter().map(|b| b["msg_id"].as_str().unwrap()).collect();
    let held = ps.pull(Some(100));
    let mut held_ids: Vec<&str> = held.iter().map(|m| m["msg_id"].as_str().unwrap()).collect();
    accepted_ids.sort_unstable();
    held_ids.sort_unstable();
    assert_eq!(held_ids, accepted_ids);
    assert_eq!(ps.pull(Some(100)), Vec::<Value>::new());
    // Depth is free again once they are delivered.
    ps.publish_ok(json!({"data": "after", "has_gd": true}));
}
