//! Every limit of the pub/sub REST API at its edge: the largest body, the bounds of each numeric
//! publish, pull, ack and subscribe field (at the bound accepted, one past it refused with the
//! field named), and deduplication of publisher-chosen msg_ids inside one request, with a window
//! of 0, and just inside and just past the window.

use std::time::{Duration, Instant};

use signalbox_tests::*;

const MAX_I64: i64 = i64::MAX;

/// A publication whose body is exactly `bytes` long: `{"data":"xxx…"}`.
fn body_of(bytes: usize) -> String {
    let overhead = r#"{"data":""}"#.len();
    format!(r#"{{"data":"{}"}}"#, "x".repeat(bytes - overhead))
}

#[test]
fn a_body_of_exactly_max_message_size_is_published_and_one_byte_more_is_refused_with_413() {
    // The smallest size a node takes, one in between, and the default (1 MiB).
    for max in [1024usize, 65_536, 1_048_576] {
        let mut options = NodeOptions::default();
        if max != 1_048_576 {
            options.args = vec!["--max-message-size".into(), max.to_string()];
        }
        let node = Node::start_with(options);
        let ps = PubSub::setup(&node, "/size", json!({}), "app");
        ps.subscribe(json!({}));
        let publish = |body: &str| {
            let (status, answer, _) = ps.client.raw("POST", &ps.topic_path(), Some(body));
            (status, answer)
        };

        let exactly = body_of(max);
        assert_eq!(exactly.len(), max);
        let (status, answer) = publish(&exactly);
        assert_eq!(status, 200, "{max}: {answer}");
        assert_refused(&publish(&body_of(max + 1)), 413, "Payload Too Large");
        // A data_list is one body too.
        let list_of = |bytes: usize| {
            let overhead = r#"{"data_list":[{"data":""}]}"#.len();
            format!(r#"{{"data_list":[{{"data":"{}"}}]}}"#, "y".repeat(bytes - overhead))
        };
        assert_eq!(list_of(max).len(), max);
        assert_eq!(publish(&list_of(max)).0, 200, "{max}");
        assert_refused(&publish(&list_of(max + 1)), 413, "Payload Too Large");

        // The two accepted, and nothing of the refused ones; `size` counts the data alone.
        let held = ps.pull(Some(10));
        let sizes: Vec<&Value> = held.iter().map(|m| &m["size"]).collect();
        assert_eq!(sizes, vec![&json!(max - 11), &json!(max - 27)], "{max}");
    }
}

/// Asserts a REST answer is a 400 in the envelope with exactly these details.
#[track_caller]
fn refused_400(answer: (u16, Value), details: &str) {
    assert_refused(&answer, 400, details);
}

#[test]
fn each_numeric_publish_field_is_accepted_at_its_bounds_and_refused_one_past_them() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/bounds", json!({"limit_message_expiry": 2_147_483_647}), "app");
    ps.subscribe(json!({}));
    let max_seconds = 2_147_483_647i64;

    // priority 1–9
    for priority in [1, 9] {
        ps.publish_ok(json!({"data": "p", "priority": priority}));
    }
    for priority in [0, 10] {
        refused_400(
            ps.publish(json!({"data": "p", "priority": priority})),
            &format!("priority `{priority}` outside of allowed range 1-9"),
        );
    }
    // expiration 0–2147483647 seconds
    for expiration in [0, max_seconds] {
        ps.publish_ok(json!({"data": "e", "expiration": expiration}));
    }
    for expiration in [-1, max_seconds + 1] {
        refused_400(
            ps.publish(json!({"data": "e", "expiration": expiration})),
            "`expiration` must be 0–2147483647 seconds",
        );
    }
    // position_in_group: any i64, and nothing past it.
    ps.publish_ok(json!({"data": "g", "group_id": "g", "position_in_group": MAX_I64}));
    let past = r#"{"data": "g", "position_in_group": 9223372036854775808}"#;
    let (status, answer, _) = ps.client.raw("POST", &ps.topic_path(), Some(past));
    refused_400(
        (status, answer),
        &format!(
            "invalid request body: invalid value: integer `9223372036854775808`, expected i64 at line 1 column {}",
            past.len() - 1
        ),
    );
    // The ids and names a message carries: 200 characters, not 201.
    for field in ["msg_id", "correl_id", "in_reply_to", "ext_client_id", "group_id", "mime_type"] {
        let (at, past) = ("a".repeat(200), "b".repeat(201));
        ps.publish_ok(json!({"data": field, field: at}));
        let details = match field {
            "msg_id" => "`msg_id` must be 1–200 printable ASCII characters".to_owned(),
            _ => format!("`{field}` is longer than 200 characters"),
        };
        refused_400(ps.publish(json!({"data": field, field: past})), &details);
    }

    // Everything accepted is held, with its values as given; nothing refused is.
    // Priority 9 first, 1 last, the others (5) in publication order.
    let held = ps.pull(Some(100));
    let order: Vec<(&str, i64)> =
        held.iter().map(|m| (m["data"].as_str().unwrap(), m["priority"].as_i64().unwrap())).collect();
    let mut expected = vec![("p", 9), ("e", 5), ("e", 5), ("g", 5)];
    expected.extend(
        ["msg_id", "correl_id", "in_reply_to", "ext_client_id", "group_id", "mime_type"].map(|f| (f, 5)),
    );
    expected.push(("p", 1));
    assert_eq!(order, expected);
    for field in ["msg_id", "correl_id", "in_reply_to", "ext_client_id", "group_id", "mime_type"] {
        let message = held.iter().find(|m| m["data"] == field).unwrap();
        assert_eq!(message[field], "a".repeat(200), "{field}: {message}");
    }
    let expirations: Vec<&Value> =
        held.iter().filter(|m| m["data"] == "e").map(|m| &m["expiration"]).collect();
    // 0 is the topic's limit, which here is the largest there is.
    assert_eq!(expirations, vec![&json!(max_seconds), &json!(max_seconds)]);
    let grouped = held.iter().find(|m| m["data"] == "g").unwrap();
    assert_eq!(grouped["position_in_group"], json!(MAX_I64));
}

#[test]
fn pull_max_and_ack_lists_are_accepted_at_their_bounds_and_refused_one_past_them() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/pull", json!({}), "app");
    ps.subscribe(json!({"ack_mode": "explicit"}));
    let data_list: Vec<Value> = (0..3).map(|n| json!({"data": n})).collect();
    assert_eq!(ps.publish(json!({"data_list": data_list})).0, 200);

    let pull = |query: &str| ps.client.call("PATCH", &format!("{}?max={query}", ps.topic_path()), None);
    for past in ["0", "10001"] {
        refused_400(pull(past), "`max` must be 1–10000");
    }
    let (status, one) = pull("1");
    assert_eq!((status, one.as_array().map(Vec::len)), (200, Some(1)), "{one}");
    let (status, rest) = pull("10000");
    assert_eq!((status, rest.as_array().map(Vec::len)), (200, Some(2)), "{rest}");

    let ids: Vec<String> = (0..10_001).map(|n| format!("id-{n}")).collect();
    let ack = |ids: &[String]| {
        ps.client.post(&format!("/zato/pubsub/ack/topic/{}", ps.topic), &json!({"msg_id_list": ids}))
    };
    refused_400(ack(&ids), "at most 10000 msg_ids per ack");
    let mut at_bound = ids[..9_998].to_vec();
    at_bound.push(one[0]["msg_id"].as_str().unwrap().to_owned());
    at_bound.push(rest[0]["msg_id"].as_str().unwrap().to_owned());
    assert_eq!(at_bound.len(), 10_000);
    let (status, acked) = ack(&at_bound);
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acked"], 2);
    assert_eq!(acked["unknown"].as_array().map(Vec::len), Some(9_998));
}

#[test]
fn each_numeric_subscribe_field_is_accepted_at_its_bounds_and_refused_one_past_them() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/subs", json!({}), "app");
    let path = format!("/zato/pubsub/subscribe/topic/{}", ps.topic);
    // (field, lowest, highest, details past either, one past the highest when it is not i64's)
    let fields: [(&str, i64, i64, &str); 3] = [
        ("delivery_batch_size", 1, 10_000, "`delivery_batch_size` must be 1–10000"),
        ("max_in_flight", 1, 1_000, "`max_in_flight` must be 1–1000"),
        ("delivery_max_retry", 1, MAX_I64, "`delivery_max_retry` must be at least 1"),
    ];
    for (field, low, high, details) in fields {
        for at in [low, high] {
            let (status, sub) = ps.client.post(&path, &json!({ field: at }));
            assert_eq!(status, 200, "{field} = {at}: {sub}");
            let key = sub["sub_key"].as_str().unwrap();
            let (_, stored) = node.admin().get(&format!("/admin/v1/subscriptions/{key}"));
            assert_eq!(stored[field], json!(at), "{field}: {stored}");
            assert_eq!(ps.client.delete(&path).0, 200);
        }
        refused_400(ps.client.post(&path, &json!({ field: low - 1 })), details);
        if high < MAX_I64 {
            refused_400(ps.client.post(&path, &json!({ field: high + 1 })), details);
        } else {
            let body = format!(r#"{{"{field}": 9223372036854775808}}"#);
            let (status, answer, _) = ps.client.raw("POST", &path, Some(&body));
            refused_400(
                (status, answer),
                &format!(
                    "invalid `{field}`: invalid value: integer `9223372036854775808`, expected i64 at line 1 column {}",
                    body.len() - 1
                ),
            );
        }
    }
    assert_eq!(
        node.admin().get("/admin/v1/subscriptions"),
        (200, json!([])),
        "a refused subscription was stored"
    );
}

/// How a repeated msg_id was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// 200 with the first message's id; nothing new to pull.
    Deduplicated,
    /// 200, and a second message with that id to pull.
    StoredAgain,
    /// 409: the id belongs to a message still held.
    Conflict,
}

/// Publishes `msg_id` again and tells what came of it; `ps` is subscribed with explicit acks and
/// everything before was pulled, so a pull shows exactly what this publication stored.
fn repeat(ps: &PubSub, msg_id: &str, gd: bool) -> Repeat {
    let answer = ps.publish(json!({"data": "repeat", "msg_id": msg_id, "has_gd": gd}));
    match answer.0 {
        409 => {
            assert_refused(&answer, 409, &format!("msg_id `{msg_id}` is already used by another message"));
            assert_eq!(ps.pull(None), Vec::<Value>::new(), "a refused repeat was stored");
            Repeat::Conflict
        }
        200 => {
            assert_eq!(answer.1, json!({"msg_id": msg_id}));
            match ps.pull(None).as_slice() {
                [] => Repeat::Deduplicated,
                [again] => {
                    assert_eq!((&again["msg_id"], &again["data"]), (&json!(msg_id), &json!("repeat")));
                    Repeat::StoredAgain
                }
                more => panic!("one publication stored {}: {more:?}", more.len()),
            }
        }
        _ => panic!("repeat of {msg_id}: {answer:?}"),
    }
}

#[test]
fn a_msg_id_repeated_within_one_data_list_is_stored_once_in_ram_and_gd_alike() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/list", json!({}), "app");
        ps.subscribe(json!({}));
        let (status, answer) = ps.publish(json!({"data_list": [
            {"data": "ram-1", "msg_id": "ram"}, {"data": "gd-1", "msg_id": "gd", "has_gd": true},
            {"data": "ram-2", "msg_id": "ram"}, {"data": "plain"}, {"data": "gd-2", "msg_id": "gd", "has_gd": true},
            {"data": "ram-3", "msg_id": "ram"}, {"data": "mixed-gd", "msg_id": "mixed", "has_gd": true},
            {"data": "mixed-ram", "msg_id": "mixed"},
        ]}));
        assert_eq!(status, 200, "{backend:?}: {answer}");
        let ids = answer["msg_id_list"].as_array().expect("msg_id_list");
        let plain = ids[3].as_str().unwrap();
        assert!(plain.starts_with("zpsm"), "{answer}");
        assert_eq!(
            answer["msg_id_list"],
            json!(["ram", "gd", "ram", plain, "gd", "ram", "mixed", "mixed"]),
            "{backend:?}: one answer per item, in input order"
        );
        let held = ps.pull(Some(100));
        assert_eq!(
            datas(&held),
            vec![json!("ram-1"), json!("gd-1"), json!("plain"), json!("mixed-gd")],
            "{backend:?}: the first of each id, once"
        );
        // A later publication within the window repeats nothing either.
        assert_eq!(ps.publish_ok(json!({"data": "ram-4", "msg_id": "ram"})), "ram");
        assert_eq!(ps.pull(None), Vec::<Value>::new(), "{backend:?}");
    }
}

#[test]
fn a_dedup_window_of_0_deduplicates_nothing_and_a_gd_msg_id_stays_unique() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/zero", json!({"dedup_window": 0}), "app");
        ps.subscribe(json!({"ack_mode": "explicit"}));
        // In RAM, a repeat of a message no longer held is a new message (the id is remembered
        // for the window only). While the first is held, see the last test below.
        assert_eq!(ps.publish_ok(json!({"data": "first", "msg_id": "ram"})), "ram");
        assert_eq!(datas(&ps.pull(None)), vec![json!("first")]);
        assert_eq!(ps.ack(&["ram"]).1["acked"], 1);
        assert_eq!(repeat(&ps, "ram", false), Repeat::StoredAgain, "{backend:?}");
        // GD: the database holds the id while its message is held, so a repeat is a conflict —
        // in a later publication and within one alike, and nothing of it is stored.
        assert_eq!(ps.publish_ok(json!({"data": "first", "msg_id": "gd", "has_gd": true})), "gd");
        assert_eq!(datas(&ps.pull(None)), vec![json!("first")]);
        assert_eq!(repeat(&ps, "gd", true), Repeat::Conflict, "{backend:?}");
        assert_refused(
            &ps.publish(json!({"data_list": [{"data": 1, "msg_id": "both", "has_gd": true},
                                             {"data": 2, "msg_id": "both", "has_gd": true}]})),
            409,
            "msg_id `both` is already used by another message",
        );
        assert_eq!(ps.pull(None), Vec::<Value>::new(), "{backend:?}: a refused publication was stored");
    }
}

/// Publishes `msg_id` at a time `t0`..`t1`, then repeats it every 100 ms until a repeat is not
/// deduplicated. Every repeat answered before `t0 + window` must be deduplicated, and every one
/// sent after `t1 + window` must not: answers what the first one past the window got. The first
/// message stays leased when it is GD (its id held in the database); in RAM it is acknowledged,
/// so a repeat past the window is free to be a new message.
fn repeat_across_the_window(ps: &PubSub, msg_id: &str, gd: bool, window: Duration) -> Repeat {
    let t0 = Instant::now();
    assert_eq!(ps.publish_ok(json!({"data": "first", "msg_id": msg_id, "has_gd": gd})), msg_id);
    let t1 = Instant::now();
    assert_eq!(datas(&ps.pull(None)), vec![json!("first")]);
    if !gd {
        assert_eq!(ps.ack(&[msg_id]).1["acked"], 1);
    }
    let mut inside = 0;
    loop {
        let sent = Instant::now();
        let outcome = repeat(ps, msg_id, gd);
        let answered = Instant::now();
        if outcome == Repeat::Deduplicated {
            assert!(sent <= t1 + window, "gd={gd}: deduplicated {:?} after the first", sent - t1);
            inside += 1;
        } else {
            assert!(answered >= t0 + window, "gd={gd}: not deduplicated {:?} after the first", answered - t0);
            assert!(inside >= 3, "gd={gd}: only {inside} repeats inside the window");
            return outcome;
        }
        assert!(sent < t1 + window * 3, "gd={gd}: still deduplicated long past the window");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_repeat_just_inside_the_dedup_window_is_deduplicated_and_just_past_it_is_not() {
    let node = Node::start(Backend::Sqlite);
    // Three seconds: room for several repeats inside the window however busy the machine.
    let ram = PubSub::setup(&node, "/window-ram", json!({"dedup_window": 3}), "ram-app");
    let gd = PubSub::setup(&node, "/window-gd", json!({"dedup_window": 3, "has_gd": true}), "gd-app");
    for ps in [&ram, &gd] {
        ps.subscribe(json!({"ack_mode": "explicit"}));
    }
    let window = Duration::from_secs(3);
    let (ram_past, gd_past) = std::thread::scope(|s| {
        let ram = s.spawn(|| repeat_across_the_window(&ram, "ram-order", false, window));
        let gd = s.spawn(|| repeat_across_the_window(&gd, "gd-order", true, window));
        (ram.join().unwrap(), gd.join().unwrap())
    });
    // Past the window an in-RAM id is free again; a GD one is still its held message's.
    assert_eq!(ram_past, Repeat::StoredAgain);
    assert_eq!(gd_past, Repeat::Conflict);
}

/// An in-RAM repeat of a msg_id whose first message is still leased, once dedup no longer covers
/// it (window 0 here; any window once it has passed): answered 200, so it must be delivered once
/// the first is acknowledged — or refused, as a GD one is with 409. (The delivery actor once
/// dropped it on arrival: `Enqueue` skipped a msg_id in flight, a guard meant for GD reloads.)
#[test]
fn an_in_ram_repeat_of_a_leased_msg_id_is_delivered_or_refused_never_lost() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/lost", json!({"dedup_window": 0}), "app");
    ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 0.5}));
    ps.publish_ok(json!({"data": "first", "msg_id": "X"}));
    assert_eq!(datas(&ps.pull(None)), vec![json!("first")]);
    let answer = ps.publish(json!({"data": "second", "msg_id": "X"}));
    if answer.0 == 409 {
        assert_refused(&answer, 409, "msg_id `X` is already used by another message");
        assert_eq!(ps.ack(&["X"]).1["acked"], 1);
        assert_eq!(ps.pull(None), Vec::<Value>::new(), "a refused repeat was stored");
        return;
    }
    assert_eq!(answer, (200, json!({"msg_id": "X"})));
    assert_eq!(ps.ack(&["X"]).1["acked"], 1);
    assert_eq!(datas(&ps.pull_when_ready(5)), vec![json!("second")]);
}
