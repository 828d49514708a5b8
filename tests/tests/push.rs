//! Push delivery against real receivers: an HTTP server started by the test (REST and SOAP),
//! the RabbitMQ server on this machine, temporary directories, and services.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signalbox_tests::*;

/// A topic `/push`, a publisher, and a push endpoint of `endpoint_type` subscribed with `sub`.
fn setup(node: &Node, endpoint_type: &str, sub: Value) -> (PubSub, String) {
    let ps = PubSub::setup(node, "/push", json!({"has_gd": true}), "publisher");
    let (status, e) = node.admin().post(
        "/admin/v1/endpoints",
        &json!({"name": "target", "role": "sub-only", "auth": "none", "endpoint_type": endpoint_type, "topic_patterns": ["sub=/push"]}),
    );
    assert_eq!(status, 201, "{e}");
    let mut body = sub;
    body["topic_name"] = json!("/push");
    body["endpoint"] = json!("target");
    body["delivery_method"] = json!("notify");
    let (status, created) = node.admin().post("/admin/v1/subscriptions", &body);
    assert_eq!(status, 201, "{created}");
    (ps, created["sub_key"].as_str().unwrap().to_owned())
}

/// Every message the receiver accepted (answered 2xx) in the requests `wanted` picks, flattened,
/// by `data`.
fn delivered(receiver: &Receiver, wanted: impl Fn(&Received) -> bool) -> Vec<Value> {
    receiver
        .received()
        .iter()
        .filter(|r| r.accepted() && wanted(r))
        .flat_map(|r| match serde_json::from_str::<Value>(&r.body).unwrap() {
            Value::Array(items) => items,
            one => vec![one],
        })
        .map(|m| m["data"].clone())
        .collect()
}

#[test]
fn rest_targets_get_json_batches_with_auth_and_single_objects_when_unwrapped() {
    for backend in backends() {
        let node = Node::start(backend);
        let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        let (ps, _) = setup(
            &node,
            "rest",
            json!({"delivery_batch_size": 2, "push": {"url": format!("{}/hook", receiver.url), "auth": {"type": "basic", "username": "hook", "password": "hook-pw"}}}),
        );
        for n in 0..5 {
            ps.publish_ok(json!({"data": n}));
        }
        eventually("5 pushed messages", 10, || delivered(&receiver, |_| true).len() == 5);
        assert_eq!(delivered(&receiver, |_| true), (0..5).map(|n| json!(n)).collect::<Vec<_>>());
        // Every push a JSON list of at most `delivery_batch_size` messages, with the target's
        // credentials.
        for request in receiver.received() {
            assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hook"));
            assert_eq!(request.header("authorization"), Some("Basic aG9vazpob29rLXB3"));
            let body: Value = serde_json::from_str(&request.body).unwrap();
            let batch = body.as_array().unwrap_or_else(|| panic!("not a list: {body}"));
            assert!((1..=2).contains(&batch.len()), "{body}");
        }
        assert!(!node.log().contains("hook-pw"));

        let single = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        let other = PubSub::setup(&node, "/single", json!({}), "pub2");
        node.admin().post_ok(
            "/admin/v1/endpoints",
            &json!({"name": "t2", "role": "sub-only", "auth": "none", "topic_patterns": ["sub=/single"]}),
        );
        node.admin().post_ok(
            "/admin/v1/subscriptions",
            &json!({
            "topic_name": "/single", "endpoint": "t2", "delivery_method": "notify", "delivery_batch_size": 1,
            "wrap_one_msg_in_list": false, "push": {"url": single.url.clone(), "http_method": "PUT"}}),
        );
        other.publish_ok(json!({"data": "one"}));
        eventually("a single object", 10, || !single.received().is_empty());
        let got = single.received();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].method, "PUT");
        let body: Value = serde_json::from_str(&got[0].body).unwrap();
        assert!(body.is_object(), "one message unwrapped, not a list: {body}");
        assert_eq!(body["data"], "one");
    }
}

#[test]
fn a_failing_target_is_retried_after_wait_non_sock_err_in_strict_order() {
    let node = Node::start(Backend::Sqlite);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let receiver = Receiver::start(Box::new(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < 3 {
            (500, "{}".into(), Duration::ZERO)
        } else {
            (200, "{}".into(), Duration::ZERO)
        }
    }));
    let (ps, key) = setup(
        &node,
        "rest",
        json!({"delivery_batch_size": 1, "wait_non_sock_err": 0.4, "wait_sock_err": 5, "push": {"url": receiver.url.clone()}}),
    );
    for n in 0..4 {
        ps.publish_ok(json!({"data": n}));
    }
    eventually("all four delivered", 20, || delivered(&receiver, |_| true).len() == 4);
    let requests = receiver.received();
    let datas: Vec<Value> =
        requests.iter().map(|r| serde_json::from_str::<Value>(&r.body).unwrap()[0]["data"].clone()).collect();
    assert_eq!(
        datas,
        vec![json!(0), json!(0), json!(0), json!(0), json!(1), json!(2), json!(3)],
        "strict order"
    );
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200, 200, 200, 200]);
    for pair in requests[..4].windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(350) && gap < Duration::from_secs(3),
            "wait_non_sock_err not applied: {gap:?}"
        );
    }
    let failures = format!("signalbox_push_failures_total{{kind=\"other\",sub_key=\"{key}\"}}");
    assert_eq!(metric(&node, &failures), Some(3.0));
}

#[test]
fn a_receiver_that_is_down_then_comes_back_gets_every_gd_message_in_order() {
    for backend in backends() {
        let node = Node::start(backend);
        let url = closed_port_url();
        let (ps, key) = setup(
            &node,
            "rest",
            json!({"delivery_batch_size": 10, "wait_sock_err": 0.5, "wait_non_sock_err": 5, "push": {"url": url.clone()}}),
        );
        for n in 0..30 {
            ps.publish_ok(json!({"data": n}));
        }
        let socket_failures = format!("signalbox_push_failures_total{{kind=\"socket\",sub_key=\"{key}\"}}");
        eventually("connection refused to count as a socket error", 10, || {
            metric(&node, &socket_failures).is_some_and(|n| n >= 1.0)
        });
        let receiver = Receiver::start_on(
            url.trim_start_matches("http://"),
            Box::new(|_| (200, "{}".into(), Duration::ZERO)),
        );
        eventually("30 messages after the receiver came back", 20, || {
            delivered(&receiver, |_| true).len() >= 30
        });
        assert_eq!(delivered(&receiver, |_| true), (0..30).map(|n| json!(n)).collect::<Vec<_>>());
        let (_, queue) = node.admin().get(&format!("/admin/v1/subscriptions/{key}/queue"));
        assert_eq!(queue, json!([]));
    }
}

/// A receiver that refuses every push holding "poison"; "a", "poison", 0..4 published to a
/// subscription with `delivery_err_should_block = blocking` and 3 attempts. Answers when `0` (the
/// first message after the poison) was delivered and when the poison was last tried, once the
/// good messages went out in order, the poison was tried 3 times and is the one dead letter.
fn poison_run(backend: Backend, blocking: bool) -> (Instant, Instant) {
    let node = Node::start(backend);
    let receiver = Receiver::start(Box::new(|r: &Received| {
        let status = if r.body.contains("poison") { 500 } else { 200 };
        (status, "{}".into(), Duration::ZERO)
    }));
    let (ps, key) = setup(
        &node,
        "rest",
        json!({"delivery_batch_size": 1, "delivery_err_should_block": blocking, "delivery_max_retry": 3,
               "wait_non_sock_err": 0.2, "push": {"url": receiver.url.clone()}}),
    );
    ps.publish_ok(json!({"data": "a"}));
    ps.publish_ok(json!({"data": "poison"}));
    for n in 0..5 {
        ps.publish_ok(json!({"data": n}));
    }
    eventually("the good messages", 10, || delivered(&receiver, |r| !r.body.contains("poison")).len() == 6);
    assert_eq!(
        delivered(&receiver, |r| !r.body.contains("poison")),
        vec![json!("a"), json!(0), json!(1), json!(2), json!(3), json!(4)]
    );
    let dead_letters = || node.admin().get(&format!("/admin/v1/subscriptions/{key}/dead-letters")).1;
    eventually("the dead letter", 10, || dead_letters().as_array().is_some_and(|d| d.len() == 1));
    assert_eq!(datas(dead_letters().as_array().unwrap()), vec![json!("poison")]);
    let received = receiver.received();
    let poison: Vec<Instant> = received.iter().filter(|r| r.body.contains("poison")).map(|r| r.at).collect();
    assert_eq!(poison.len(), 3, "delivery_max_retry attempts, then dead-lettered");
    let first_good = received.iter().find(|r| r.body.contains("\"data\":0")).expect("0 delivered").at;
    (first_good, poison.into_iter().max().unwrap())
}

#[test]
fn a_poison_message_is_dead_lettered_and_does_not_hold_back_the_rest_when_not_blocking() {
    for backend in backends() {
        let (first_good, last_poison) = poison_run(backend, false);
        assert!(first_good < last_poison, "0 went out only after the poison's last attempt");
    }
}

#[test]
fn a_poison_message_holds_back_the_rest_until_dead_lettered_when_blocking() {
    let (first_good, last_poison) = poison_run(Backend::Sqlite, true);
    // Strict order: nothing after the poison until it was dead-lettered.
    assert!(first_good > last_poison, "0 went out while the poison was still being retried");
}

#[test]
fn soap_targets_get_an_envelope_and_a_fault_counts_as_failure() {
    let node = Node::start(Backend::Sqlite);
    let faults = Arc::new(AtomicUsize::new(0));
    let f = faults.clone();
    let receiver = Receiver::start(Box::new(move |_| {
        if f.fetch_add(1, Ordering::SeqCst) == 0 {
            (200, "<soap:Envelope><soap:Body><soap:Fault><faultcode>x</faultcode></soap:Fault></soap:Body></soap:Envelope>".into(), Duration::ZERO)
        } else {
            (200, "<ok/>".into(), Duration::ZERO)
        }
    }));
    let (ps, key) = setup(
        &node,
        "soap",
        json!({"wait_non_sock_err": 0.2, "push": {"url": receiver.url.clone(), "soap_action": "urn:notify"}}),
    );
    ps.publish_ok(json!({"data": {"order": "<1&2>"}}));
    // Answered with a fault (and 200) the first time: a failure, so the same message comes again.
    let failures = format!("signalbox_push_failures_total{{kind=\"other\",sub_key=\"{key}\"}}");
    eventually("the SOAP push to succeed on its second try", 10, || {
        metric(&node, &format!("signalbox_deliveries_total{{sub_key=\"{key}\"}}")) == Some(1.0)
    });
    assert_eq!(metric(&node, &failures), Some(1.0), "the fault did not count as a failure");
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one fault, one success: {received:?}");
    // The same message both times, its delivery_count one higher the second.
    let first = received[0].body.replace("delivery_count&quot;:1,", "delivery_count&quot;:2,");
    assert_eq!(first, received[1].body, "the retry is the same message");
    for got in &received {
        assert!(got.header("content-type").unwrap().starts_with("text/xml"));
        assert_eq!(got.header("soapaction"), Some("\"urn:notify\""));
        assert!(got.body.contains("soap:Envelope") && got.body.contains("&lt;1&amp;2&gt;"), "{}", got.body);
    }
}

#[test]
fn files_targets_get_one_complete_file_per_message() {
    let node = Node::start(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let (ps, _) = setup(&node, "files", json!({"push": {"directory": dir.path().to_str().unwrap()}}));
    let ids: Vec<String> = (0..3).map(|n| ps.publish_ok(json!({"data": {"n": n}}))).collect();
    let complete = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name().to_string_lossy().ends_with(".json")
                    && !e.file_name().to_string_lossy().starts_with('.')
            })
            .count()
    };
    eventually("three files", 10, || complete() == 3);
    for (n, id) in ids.iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join(format!("{id}.json"))).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["data"]["n"], n);
    }
}

#[test]
fn srv_targets_invoke_a_service_that_can_bridge_into_another_topic() {
    let node = Node::start(Backend::Sqlite);
    let out = PubSub::setup(&node, "/bridged", json!({}), "bridge");
    out.subscribe(json!({}));
    node.admin().post_ok(
        "/admin/v1/services",
        &json!({"name": "bridge", "kind": "publish", "topic_name": "/bridged", "endpoint": "bridge"}),
    );
    let (ps, _) = setup(&node, "srv", json!({"delivery_batch_size": 10, "push": {"service": "bridge"}}));
    for n in 0..4 {
        ps.publish_ok(json!({"data": n, "priority": 7}));
    }
    let mut got = Vec::new();
    eventually("bridged messages", 10, || {
        got.extend(out.pull(None));
        got.len() == 4
    });
    assert_eq!(datas(&got), (0..4).map(|n| json!(n)).collect::<Vec<_>>());
    assert!(got.iter().all(|m| m["priority"] == 7));
}

#[test]
fn malformed_targets_are_refused_and_unreachable_ones_accepted() {
    let node = Node::start(Backend::Sqlite);
    PubSub::setup(&node, "/push", json!({}), "publisher");
    for (t, push, details) in [
        (
            "rest",
            json!({"url": "not-a-url"}),
            "`push.url` must be an http:// or https:// URL, not `not-a-url`",
        ),
        (
            "rest",
            json!({"url": "http://h/x", "http_method": "GET"}),
            "`push.http_method` must be POST, PUT or PATCH",
        ),
        (
            "amqp",
            json!({"url": "amqp://guest:guest@127.0.0.1:5672/%2f"}),
            "`push.exchange` is required for a `amqp` target",
        ),
        (
            "amqp",
            json!({"url": "http://x", "exchange": "e"}),
            "`push.url` must be an amqp:// or amqps:// URL",
        ),
        ("files", json!({}), "`push.directory` is required for a `files` target"),
        ("srv", json!({"service": ""}), "`push.service` must be a non-empty string"),
        (
            "soap",
            json!({"url": "http://h/x", "auth": {"type": "basic"}}),
            "`push.auth.username` is required for `basic` auth",
        ),
    ] {
        let name = format!("t-{t}-{}", random_suffix());
        let (status, endpoint) = node.admin().post("/admin/v1/endpoints", &json!({"name": name, "role": "sub-only", "auth": "none", "endpoint_type": t, "topic_patterns": ["sub=/push"]}));
        assert_eq!(status, 201, "{endpoint}");
        let answer = node.admin().post(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/push", "endpoint": name, "delivery_method": "notify", "push": push}),
        );
        assert_refused(&answer, 400, details);
    }
    node.admin().post_ok(
        "/admin/v1/endpoints",
        &json!({"name": "far", "role": "sub-only", "auth": "none", "topic_patterns": ["sub=/push"]}),
    );
    let url = closed_port_url();
    let (status, created) = node.admin().post(
        "/admin/v1/subscriptions",
        &json!({"topic_name": "/push", "endpoint": "far", "delivery_method": "notify", "push": {"url": url}}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["push"], json!({"type": "rest", "url": url}));
}

#[test]
fn amqp_targets_publish_to_rabbitmq_with_confirms_in_order() {
    if !rabbitmq_here() {
        return;
    }
    let node = Node::start(Backend::Sqlite);
    let suffix = random_suffix();
    let (exchange, queue) = (format!("sb-test-{suffix}"), format!("sb-test-q-{suffix}"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let amqp = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let channel = runtime.block_on(async {
        use lapin::options::*;
        let conn = lapin::Connection::connect(amqp, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 5672");
        let ch = conn.create_channel().await.unwrap();
        ch.exchange_declare(
            exchange.as_str().into(),
            lapin::ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            Default::default(),
        )
        .await
        .unwrap();
        ch.queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions { auto_delete: true, ..Default::default() },
            Default::default(),
        )
        .await
        .unwrap();
        ch.queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "orders".into(),
            QueueBindOptions::default(),
            Default::default(),
        )
        .await
        .unwrap();
        (conn, ch)
    });
    let (ps, _) = setup(
        &node,
        "amqp",
        json!({"delivery_batch_size": 5, "push": {"url": amqp, "exchange": exchange, "routing_key": "orders"}}),
    );
    for n in 0..20 {
        ps.publish_ok(json!({"data": n}));
    }
    let got: Vec<Value> = runtime.block_on(async {
        use lapin::options::*;
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while out.len() < 20 && Instant::now() < deadline {
            match channel.1.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap()
            {
                Some(msg) => {
                    out.push(serde_json::from_slice::<Value>(&msg.delivery.data).unwrap()["data"].clone())
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        out
    });
    assert_eq!(got, (0..20).map(|n| json!(n)).collect::<Vec<_>>());
    assert!(!node.log().contains("guest:guest"), "the AMQP URL with its password was logged");
}

#[test]
fn a_target_that_answers_too_slowly_counts_as_a_socket_error_and_is_retried() {
    let node = Node::start(Backend::Sqlite);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let receiver = Receiver::start(Box::new(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            (200, "{}".into(), Duration::from_secs(2))
        } else {
            (200, "{}".into(), Duration::ZERO)
        }
    }));
    let (ps, key) = setup(
        &node,
        "rest",
        json!({"wait_sock_err": 0.3, "wait_non_sock_err": 5, "push": {"url": receiver.url.clone(), "timeout": 0.3}}),
    );
    ps.publish_ok(json!({"data": "slow"}));
    eventually("the retry after a timeout", 10, || receiver.received().len() >= 2);
    let received = receiver.received();
    let tries: Vec<(Value, Value)> = received
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .map(|b| (b[0]["msg_id"].clone(), b[0]["delivery_count"].clone()))
        .collect();
    let msg_id = tries[0].0.clone();
    assert_eq!(tries[..2], [(msg_id.clone(), json!(1)), (msg_id, json!(2))], "the same message, tried again");
    // Timed out at 0.3 s, tried again wait_sock_err (0.3 s) later: well before the 5 s of
    // wait_non_sock_err.
    let gap = received[1].at - received[0].at;
    assert!(gap < Duration::from_secs(4), "wait_sock_err (not wait_non_sock_err) must apply: {gap:?}");
    let failures = format!("signalbox_push_failures_total{{kind=\"socket\",sub_key=\"{key}\"}}");
    assert_eq!(metric(&node, &failures), Some(1.0));
}

#[test]
fn https_targets_with_a_trusted_ca_get_every_message_and_untrusted_ones_fail_as_socket_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let receiver = Receiver::start_tls(&cert, Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let node = Node::start_with(NodeOptions {
        args: vec!["--tls-ca".into(), ca.to_str().unwrap().into()],
        ..NodeOptions::default()
    });
    let (ps, _) = setup(
        &node,
        "rest",
        json!({"delivery_batch_size": 3, "push": {"url": format!("{}/hook", receiver.url)}}),
    );
    for n in 0..10 {
        ps.publish_ok(json!({"data": n}));
    }
    eventually("10 messages over HTTPS", 20, || delivered(&receiver, |_| true).len() >= 10);
    assert_eq!(delivered(&receiver, |_| true), (0..10).map(|n| json!(n)).collect::<Vec<_>>());
    assert!(receiver.received().iter().all(|r| r.path == "/hook" && r.method == "POST"));

    // Without the CA the certificate is not trusted: a socket error, retried, nothing delivered.
    let other = Node::start(Backend::Sqlite);
    let untrusted = Receiver::start_tls(&cert, Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let (ps, sub_key) =
        setup(&other, "rest", json!({"push": {"url": untrusted.url.clone()}, "wait_sock_err": 30}));
    ps.publish_ok(json!({"data": "x"}));
    eventually("the push to fail", 20, || {
        metric(&other, &format!("signalbox_push_failures_total{{kind=\"socket\",sub_key=\"{sub_key}\"}}"))
            == Some(1.0)
    });
    assert!(untrusted.received().is_empty());
    let (_, status) = other.admin().get(&format!("/admin/v1/actors/delivery:{sub_key}"));
    let last_error = status["last_error"].as_str().unwrap_or_default().to_lowercase();
    assert!(last_error.contains("certificate"), "last_error names the certificate problem: {status}");
}

#[test]
fn a_push_target_may_name_its_own_ca_file_which_is_checked_when_it_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca = dir.path().join("target-ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let receiver = Receiver::start_tls(&cert, Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let node = Node::start(Backend::Sqlite);
    let (ps, _) =
        setup(&node, "rest", json!({"push": {"url": receiver.url.clone(), "ca_file": ca.to_str().unwrap()}}));
    ps.publish_ok(json!({"data": "trusted by its own CA"}));
    eventually("the push over HTTPS", 20, || delivered(&receiver, |_| true).len() == 1);

    let missing = json!({"topic_name": "/push", "endpoint": "target", "delivery_method": "notify",
        "push": {"url": receiver.url.clone(), "ca_file": "/no/such/ca.pem"}});
    let (status, body) = node.admin().post("/admin/v1/subscriptions", &missing);
    assert_eq!(status, 400, "{body}");
    let details = body["details"].as_str().unwrap();
    assert!(
        details.starts_with("`push.ca_file`: cannot read certificates from /no/such/ca.pem"),
        "{details}"
    );
    let plain = json!({"topic_name": "/push", "endpoint": "target", "delivery_method": "notify",
        "push": {"url": "http://127.0.0.1:9/hook", "ca_file": ca.to_str().unwrap()}});
    let (status, body) = node.admin().post("/admin/v1/subscriptions", &plain);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"], "`push.ca_file` applies to https:// URLs only");
}
