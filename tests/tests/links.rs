//! WSX peer links between two independent nodes (separate data directories, real sockets):
//! cluster A links to cluster B's channel.

use std::time::{Duration, Instant};

use signalbox_tests::*;

/// B: a channel `/wsx/peers`, an endpoint A logs in as, a topic `/b/news`, and a local publisher.
/// Answers B's password for A.
fn remote(b: &Node) -> String {
    remote_channel(b).1
}

/// [`remote`], answering the channel's id too.
fn remote_channel(b: &Node) -> (i64, String) {
    let channel = wsx_setup_with(
        b,
        "peers",
        json!({}),
        json!({"name": "cluster-a", "topic_patterns": ["sub=/b/**", "pub=/b/**"]}),
    );
    let news = b.admin().post_ok("/admin/v1/topics", &json!({"name": "/b/news", "has_gd": true}));
    assert_eq!(news["id"], 1, "publish_on_b publishes to topic 1");
    b.admin().post_ok(
        "/admin/v1/endpoints",
        &json!({"name": "b-pub", "role": "pub-only", "topic_patterns": ["pub=/b/news"]}),
    );
    (channel.channel_id, channel.password)
}

/// A: a local topic `/a/news` with a subscriber, a `publish` service bridging into it, hooks
/// recording connect/close into `/a/events`, and the link.
fn local(a: &Node, b_addr: &str, password: &str) -> (PubSub, PubSub, i64) {
    let news = PubSub::setup(a, "/a/news", json!({"has_gd": true}), "bridge");
    news.subscribe(json!({}));
    let events = PubSub::setup(a, "/a/events", json!({"has_gd": true}), "events");
    events.subscribe(json!({}));
    a.admin().post_ok(
        "/admin/v1/services",
        &json!({"name": "into.news", "kind": "publish", "topic_name": "/a/news", "endpoint": "bridge"}),
    );
    a.admin().post_ok(
        "/admin/v1/services",
        &json!({"name": "into.events", "kind": "publish", "topic_name": "/a/events", "endpoint": "events"}),
    );
    let (s, link) = a.admin().post("/admin/v1/links", &json!({
        "name": "to-b", "address": format!("ws://{b_addr}/wsx/peers"), "username": "cluster-a", "secret": password,
        "subscription_list": ["/b/news"], "on_message": "into.news", "on_connect": "into.events", "on_close": "into.events",
        "ping_interval": 1, "invoke_timeout": 2}));
    assert_eq!(s, 201, "{link}");
    assert!(link.get("secret").is_none() && !link.to_string().contains(password), "the secret was returned");
    let id = link["id"].as_i64().unwrap();
    eventually("the link to connect", 20, || {
        a.admin().get(&format!("/admin/v1/links/{id}")).1["state"] == "connected"
    });
    (news, events, id)
}

fn publish_on_b(b: &Node, data: Value) {
    let (s, body) = b.admin().post("/admin/v1/topics/1/publish", &json!({"endpoint": "b-pub", "data": data}));
    assert_eq!(s, 200, "{body}");
}

/// Pulls what `ps`'s topic holds for it (through `client`, on the node as it is now) into `into`.
fn drain(ps: &PubSub, client: &Http, into: &mut Vec<Value>) {
    let (status, batch) = client.call("PATCH", &ps.topic_path(), None);
    assert_eq!(status, 200, "{batch}");
    into.extend(
        batch.as_array().unwrap_or_else(|| panic!("not a list: {batch}")).iter().map(|m| m["data"].clone()),
    );
}

/// The hook events (`connect`, `close`) that came since the last look.
fn event_types(a: &Node, events: &PubSub) -> Vec<String> {
    let client = a.http().basic(&events.endpoint, &events.password);
    let mut got = Vec::new();
    drain(events, &client, &mut got);
    got.iter()
        .map(|d| d["type"].as_str().unwrap_or_else(|| panic!("an event without a type: {d}")).to_owned())
        .collect()
}

/// The hook events that come until there are `count` of them (each look takes what came so
/// far: a hook runs after the link reports its state, so the last one may still be on its way).
fn events_until(a: &Node, events: &PubSub, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    eventually_with(
        &format!("{count} hook events"),
        10,
        || {
            seen.extend(event_types(a, events));
            seen.len() >= count
        },
        || format!("A log:\n{}", link_log(a)),
    );
    seen
}

/// A's log lines about links, failures and warnings, for a failure message.
fn link_log(a: &Node) -> String {
    let log = a.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("link") || l.contains("panic") || l.contains("ERROR") || l.contains("WARN"))
        .collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn a_invokes_services_on_b_and_every_message_on_b_reaches_a_local_subscriber_in_order() {
    let b_addr = free_addr();
    let b = Node::start_with(NodeOptions { listen: Some(b_addr.clone()), ..NodeOptions::default() });
    let password = remote(&b);
    let a = Node::start(Backend::Sqlite);
    let (news, events, id) = local(&a, &b_addr, &password);
    assert_eq!(events_until(&a, &events, 1), vec!["connect"]);

    let request = json!({"nested": {"list": [1, 2, 3]}, "text": "żółw"});
    let (s, reply) = a.admin().post(
        &format!("/admin/v1/links/{id}/invoke"),
        &json!({"service": "helpers.echo", "request": request}),
    );
    assert_eq!(s, 200, "{reply}");
    assert_eq!(reply, request);
    let (code, out, err) = a.cli(&["--json", "link", "invoke", "to-b", "zato.ping", "{}"]);
    assert_eq!(code, 0, "{err}");
    let pong: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(pong["pong"].as_str().is_some_and(|p| !p.is_empty()), "{pong}");

    for n in 0..50 {
        publish_on_b(&b, json!(n));
    }
    let mut got = Vec::new();
    let client = a.http().basic(&news.endpoint, &news.password);
    eventually("50 bridged messages", 20, || {
        drain(&news, &client, &mut got);
        got.len() >= 50
    });
    let (_, link) = a.admin().get(&format!("/admin/v1/links/{id}"));
    assert!(
        got == (0..50).map(|n| json!(n)).collect::<Vec<_>>(),
        "got {got:?}; link {link}; A log {}",
        link_log(&a)
    );
    assert!(link["sub_keys"]["/b/news"].as_str().unwrap().starts_with("zpsk.wsx."), "{link}");
    assert_eq!(link["duplicates"], 0);
    let (_, peers) = a.admin().get("/admin/v1/actors?kind=peer");
    assert_eq!(peers.as_array().map(Vec::len), Some(1), "{peers}");
    assert_eq!(peers[0]["id"], "peer:to-b");
    assert_eq!(peers[0]["state"], "connected");
    assert_eq!(metric(&a, "signalbox_link_connected{link=\"to-b\"}"), Some(1.0));
}

#[test]
fn messages_published_while_a_is_down_arrive_after_a_restarts() {
    for backend in backends() {
        let b_addr = free_addr();
        let b = Node::start_with(NodeOptions { listen: Some(b_addr.clone()), ..NodeOptions::default() });
        let password = remote(&b);
        let mut a = Node::start(backend);
        let (news, _, _) = local(&a, &b_addr, &password);
        publish_on_b(&b, json!("before"));
        a.kill9();
        for n in 0..10 {
            publish_on_b(&b, json!(n));
        }
        a.restart();
        let client = a.http().basic(&news.endpoint, &news.password);
        let got = std::cell::RefCell::new(Vec::new());
        eventually_with(
            "the messages published while A was down",
            30,
            || {
                // The last one published: nothing comes after it, in order.
                drain(&news, &client, &mut got.borrow_mut());
                got.borrow().contains(&json!(9))
            },
            || {
                let subs = b.admin().get("/admin/v1/subscriptions").1;
                format!("got {:?}\nB subs: {subs}\nA log:\n{}", got.borrow(), link_log(&a))
            },
        );
        let mut got = got.into_inner();
        let mut expected = vec![json!("before")];
        expected.extend((0..10).map(|n| json!(n)));
        // "before" may come again if its ack was lost in the kill — that one, and nothing else.
        while got.len() > 1 && got[0] == json!("before") && got[1] == json!("before") {
            got.remove(0);
        }
        assert_eq!(got, expected);
    }
}

#[test]
fn when_b_goes_away_a_reports_it_fires_on_close_reconnects_by_itself_and_fires_on_connect() {
    let b_addr = free_addr();
    let mut b = Node::start_with(NodeOptions { listen: Some(b_addr.clone()), ..NodeOptions::default() });
    let password = remote(&b);
    let a = Node::start(Backend::Sqlite);
    let (news, events, id) = local(&a, &b_addr, &password);
    b.kill9();
    let link = || a.admin().get(&format!("/admin/v1/links/{id}")).1;
    eventually_with(
        "the outage to be reported",
        20,
        || {
            let l = link();
            l["state"] == "backing-off" && l["last_error"].is_string() && l["next_attempt"].is_string()
        },
        || format!("link: {}\nA log:\n{}", link(), link_log(&a)),
    );
    let started = Instant::now();
    let (s, body) = a
        .admin()
        .post(&format!("/admin/v1/links/{id}/invoke"), &json!({"service": "helpers.echo", "request": 1}));
    assert_refused(&(s, body), 503, "link `to-b` is not connected");
    // Refused at once, not after the link's invoke_timeout (2 s) as a lost request would be.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a down link must fail fast: {:?}",
        started.elapsed()
    );
    b.restart();
    eventually("the link to come back", 40, || {
        a.admin().get(&format!("/admin/v1/links/{id}")).1["state"] == "connected"
    });
    publish_on_b(&b, json!("after"));
    let client = a.http().basic(&news.endpoint, &news.password);
    let mut got = Vec::new();
    eventually("delivery to resume", 20, || {
        drain(&news, &client, &mut got);
        got.contains(&json!("after"))
    });
    assert_eq!(events_until(&a, &events, 3), vec!["connect", "close", "connect"]);
}

#[test]
fn wrong_credentials_back_off_with_a_reason_and_invocations_report_remote_errors_and_timeouts() {
    let b_addr = free_addr();
    let b = Node::start_with(NodeOptions { listen: Some(b_addr.clone()), ..NodeOptions::default() });
    let (channel_id, password) = remote_channel(&b);
    let slow = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::from_secs(4))));
    b.admin().post_ok(
        "/admin/v1/services",
        &json!({"name": "slow", "kind": "http", "url": slow.url.clone(), "timeout": 10}),
    );
    b.admin().patch_ok(
        &format!("/admin/v1/channels/{channel_id}"),
        &json!({"allowed_services": ["helpers.echo", "slow", "nope",
        "zato.pubsub.subscription.create-wsx-subscription", "zato.pubsub.resume-wsx-subscription"]}),
    );
    let a = Node::start(Backend::Sqlite);
    let created = Instant::now();
    let bad = a.admin().post_ok(
        "/admin/v1/links",
        &json!({"name": "bad", "address": format!("ws://{b_addr}/wsx/peers"),
        "username": "cluster-a", "secret": "wrong"}),
    );
    let bad_id = bad["id"].as_i64().unwrap();
    eventually("the refusal to show", 20, || {
        a.admin().get(&format!("/admin/v1/links/{bad_id}")).1["last_error"]
            == "authentication refused by remote"
    });
    // No tight loop: the third attempt comes only after the backoff of the first two (0.5 s,
    // then 1 s); a link retrying at once would make three in a few milliseconds.
    let mut status = Value::Null;
    eventually("three refused attempts", 20, || {
        status = a.admin().get(&format!("/admin/v1/links/{bad_id}")).1;
        status["attempts"].as_u64().is_some_and(|n| n >= 3)
    });
    let third_after = created.elapsed();
    assert!(
        third_after >= Duration::from_millis(1500),
        "3 attempts {third_after:?} after the link was made: {status}"
    );
    assert_eq!(
        (&status["state"], &status["last_error"]),
        (&json!("backing-off"), &json!("authentication refused by remote"))
    );

    let good = a.admin().post_ok(
        "/admin/v1/links",
        &json!({"name": "good", "address": format!("ws://{b_addr}/wsx/peers"),
        "username": "cluster-a", "secret": password, "invoke_timeout": 1}),
    );
    let id = good["id"].as_i64().unwrap();
    eventually("connected", 20, || a.admin().get(&format!("/admin/v1/links/{id}")).1["state"] == "connected");
    let (s, body) =
        a.admin().post(&format!("/admin/v1/links/{id}/invoke"), &json!({"service": "nope", "request": {}}));
    assert_refused(&(s, body), 502, "remote service failed with status 404: no service named `nope`");
    let (s, body) = a
        .admin()
        .post(&format!("/admin/v1/links/{id}/invoke"), &json!({"service": "not.allowed", "request": {}}));
    assert_refused(
        &(s, body),
        502,
        "remote service failed with status 403: service `not.allowed` is not allowed on this channel",
    );
    let (s, body) =
        a.admin().post(&format!("/admin/v1/links/{id}/invoke"), &json!({"service": "slow", "request": {}}));
    assert_refused(&(s, body), 504, "no reply over `good` in time");
    let (_, l) = a.admin().get(&format!("/admin/v1/links/{id}"));
    assert_eq!(l["in_flight_invocations"], 0, "a timed-out invocation left something behind");
    assert!(!a.log().contains(&password), "a link secret was logged");
}

#[test]
fn links_are_stopped_started_and_reconnected_by_actor_commands_and_validated() {
    let b_addr = free_addr();
    let b = Node::start_with(NodeOptions { listen: Some(b_addr.clone()), ..NodeOptions::default() });
    let password = remote(&b);
    let a = Node::start(Backend::Sqlite);
    let (_, events, id) = local(&a, &b_addr, &password);
    let (s, stopped) = a.admin().post("/admin/v1/actors/peer:to-b/stop", &json!({}));
    assert_eq!(s, 200, "{stopped}");
    assert_eq!(stopped["state"], "stopped");
    let (s, started) = a.admin().post("/admin/v1/actors/peer:to-b/start", &json!({}));
    assert_eq!(s, 200, "{started}");
    eventually("connected again", 20, || {
        a.admin().get(&format!("/admin/v1/links/{id}")).1["state"] == "connected"
    });
    a.admin().post_ok("/admin/v1/actors/peer:to-b/reconnect", &json!({}));
    eventually("connected after reconnect", 20, || {
        a.admin().get(&format!("/admin/v1/links/{id}")).1["state"] == "connected"
    });
    assert_eq!(events_until(&a, &events, 5), vec!["connect", "close", "connect", "close", "connect"]);
    assert_refused(
        &a.admin().post("/admin/v1/actors/peer:to-b/pause", &json!({})),
        400,
        "`pause` does not apply to a peer actor (allowed: reconnect, stop, start)",
    );

    for (bad, details) in [
        (
            json!({"name": "x", "address": "http://h/wsx/p", "username": "u", "secret": "s"}),
            "`address` must be a ws:// or wss:// URL, not `http://h/wsx/p`",
        ),
        (json!({"name": "x", "address": "ws://h/wsx/p", "username": "u"}), "`secret` is required"),
        (
            json!({"name": "x", "address": "ws://h/wsx/p", "username": "u", "secret": "s", "invoke_timeout": 0}),
            "`ping_interval` 0.1–3600 s, `invoke_timeout` 0.001–3600 s, `max_connect_attempts` at least 1",
        ),
    ] {
        assert_refused(&a.admin().post("/admin/v1/links", &bad), 400, details);
    }
    let colour = json!({"name": "x", "address": "ws://h/wsx/p", "username": "u", "secret": "s", "colour": 1});
    let (status, body) = a.admin().post("/admin/v1/links", &colour);
    assert_error(&(status, body.clone()), 400);
    assert!(
        body["details"].as_str().unwrap().starts_with("invalid request body: unknown field `colour`"),
        "{body}"
    );
    assert_refused(
        &a.admin().post(
            "/admin/v1/links",
            &json!({"name": "to-b", "address": "ws://h/wsx/p", "username": "u", "secret": "s"}),
        ),
        409,
        "a link named `to-b` already exists",
    );
    let (code, out, err) = a.cli(&["link", "list"]);
    assert_eq!(code, 0, "{err}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == "to-b"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(row.contains(&"connected"), "{out}");
}

/// B serving TLS with a certificate made here for `host`; A's link trusts it through `ca_file`.
fn tls_pair(host: &str) -> (Node, Node, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    // Configure B over plain HTTP, then serve it over TLS only.
    let mut b = Node::start(Backend::Sqlite);
    let password = remote(&b);
    b.kill9();
    let addr = free_addr();
    let mut opts = b.same_storage();
    opts.listen = Some(addr.clone());
    opts.args = vec![
        "--tls-cert".into(),
        cert_path.to_str().unwrap().into(),
        "--tls-key".into(),
        key_path.to_str().unwrap().into(),
    ];
    let b = Node::start_with(opts);
    assert!(b.url.starts_with("https://"), "{}", b.url);
    let a = Node::start(Backend::Sqlite);
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let (s, link) = a.admin().post(
        "/admin/v1/links",
        &json!({"name": "tls", "address": format!("wss://localhost:{port}/wsx/peers"),
        "username": "cluster-a", "secret": password, "ca_file": cert_path.to_str().unwrap()}),
    );
    assert_eq!(s, 201, "{link}");
    let id = link["id"].as_i64().unwrap();
    (a, b, dir, format!("/admin/v1/links/{id}"))
}

#[test]
fn a_wss_link_to_a_node_serving_a_trusted_certificate_works() {
    let (a, _b, _dir, path) = tls_pair("localhost");
    eventually("the wss link to connect", 20, || a.admin().get(&path).1["state"] == "connected");
    let (s, reply) = a
        .admin()
        .post(&format!("{path}/invoke"), &json!({"service": "helpers.echo", "request": {"over": "tls"}}));
    assert_eq!((s, reply), (200, json!({"over": "tls"})));
}

#[test]
fn a_certificate_for_another_host_name_is_refused_with_a_clear_last_error() {
    let (a, _b, _dir, path) = tls_pair("other.example");
    eventually("the refusal", 20, || {
        let (_, l) = a.admin().get(&path);
        l["state"] == "backing-off"
            && l["last_error"].as_str().is_some_and(|e| e.to_lowercase().contains("certificate"))
    });
    assert_refused(&a.admin().post("/admin/v1/links", &json!({"name": "x", "address": "wss://h/wsx/p", "username": "u", "secret": "s", "ca_file": "/no/such.pem"})), 400, "cannot read certificates from /no/such.pem: I/O error: No such file or directory (os error 2)");
}
