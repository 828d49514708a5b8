//! What an attacker tries: frames that break the protocol, password guessing over WSX and REST.
//! Each test failed before the fix it guards.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use signalbox_actors::time::parse_iso;
use signalbox_tests::*;

/// A WSX client whose connection comes from `source` (any 127.0.0.0/8 address is this machine).
fn connect_from(node: &Node, source: &str, path: &str) -> WsxClient {
    let addr: SocketAddr = node.url.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&format!("{source}:0").parse::<SocketAddr>().unwrap().into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (socket, _) = tungstenite::client(format!("ws://{addr}{path}"), stream).expect("WebSocket handshake");
    WsxClient::over(socket)
}

#[test]
fn a_frame_with_a_reserved_bit_closes_the_connection_with_1002_instead_of_a_flood_of_errors() {
    let node = Node::start(Backend::Sqlite);
    let mut ws = wsx_setup(&node, "rsv", "/rsv").logged_in(&node);
    // FIN + RSV1 + text, masked, 12 bytes of payload: 18 bytes on the wire.
    let payload = b"{\"meta\": {}}";
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0xC1, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    ws.socket.get_mut().write_all(&frame).unwrap();
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1002), "after {frames:?}");
    assert_eq!(frames, Vec::<Value>::new(), "frames answered one bad frame");
    assert_eq!(node.http().get("/health").0, 200);
}

#[test]
fn wsx_logins_are_throttled_per_address_and_username_without_locking_the_user_out() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "guess", "/guess").password;
    // The real user logs in once from 127.0.0.3: the credential is verified and cached.
    let mut user = connect_from(&node, "127.0.0.3", "/wsx/guess");
    user.login("guess-client", &password);

    // An attacker on 127.0.0.1 guesses on one connection: ten refusals, then 429 and a close.
    let mut attacker = connect_from(&node, "127.0.0.1", "/wsx/guess");
    for n in 0..10 {
        let reply = attacker.try_login("guess-client", &format!("wrong-{n}"));
        assert_eq!(reply["meta"]["msg_type"], "zwsx.merr", "guess {n}: {reply}");
        assert_eq!(reply["meta"]["status"], 403, "guess {n}: {reply}");
        assert_eq!(reply["data"], "You are not authorized to access this resource", "guess {n}");
    }
    let reply = attacker.try_login("guess-client", "wrong-again");
    assert_eq!(reply["meta"]["msg_type"], "zwsx.rsperr", "{reply}");
    assert_eq!(reply["meta"]["status"], 429, "{reply}");
    assert_eq!(reply["meta"]["error_message"], "too many failed logins, try again later");
    assert_eq!(attacker.recv_close(), Some(1008));
    assert_eq!(metric(&node, "signalbox_auth_failures_total{method=\"basic\"}"), Some(10.0));

    // The user is not locked out: from another address, and over REST with the cached password
    // from the attacker's own address too.
    let mut other = connect_from(&node, "127.0.0.2", "/wsx/guess");
    other.login("guess-client", &password);
    let mut again = connect_from(&node, "127.0.0.1", "/wsx/guess");
    again.login("guess-client", &password);
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/guess"}));
    let (status, body) =
        node.http().basic("guess-client", &password).post("/zato/pubsub/topic//guess", &json!({"data": 1}));
    assert_eq!(status, 200, "{body}");
    drop(user);
}

#[test]
fn rest_failures_from_one_address_do_not_lock_the_user_out_elsewhere() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "victim", "/locked").password;
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/locked"}));
    let user = node.http().basic("victim-client", &password);
    // Verified (and cached) before the attack, from 127.0.0.1.
    assert_eq!(user.post("/zato/pubsub/topic//locked", &json!({"data": 0})).0, 200);
    for n in 0..12 {
        let (status, body) = node
            .http()
            .basic("victim-client", &format!("wrong-{n}"))
            .post("/zato/pubsub/topic//locked", &json!({"data": 1}));
        let expected = if n < 10 {
            (401, "missing or invalid credentials")
        } else {
            (429, "too many failed logins, try again later")
        };
        assert_eq!((status, body["details"].as_str().unwrap_or_default()), expected, "attempt {n}: {body}");
    }
    // The cached credential answers first, even from the address that is throttled now.
    let (status, body) = user.post("/zato/pubsub/topic//locked", &json!({"data": 2}));
    assert_eq!(status, 200, "{body}");
    // From another address, the right password (not cached for WSX's channel check) logs in:
    // the attacker's failures count against the attacker's address.
    let mut elsewhere = connect_from(&node, "127.0.0.2", "/wsx/victim");
    elsewhere.login("victim-client", &password);
}

#[test]
fn unknown_usernames_cost_the_time_known_ones_do() {
    let node = Node::start(Backend::Sqlite);
    wsx_setup(&node, "timing", "/timing");
    let time = |user: &str| {
        let started = Instant::now();
        let (status, _) =
            node.http().basic(user, "not-the-password").post("/zato/pubsub/topic/x", &json!({}));
        assert_eq!(status, 401);
        started.elapsed()
    };
    let mut known: Vec<Duration> = (0..4).map(|_| time("timing-client")).collect();
    let mut unknown: Vec<Duration> = (0..4).map(|n| time(&format!("nobody-{n}"))).collect();
    known.sort();
    unknown.sort();
    let (k, u) = (known[1], unknown[1]);
    // Without a decoy PBKDF2 an unknown name answers in well under a tenth of the time.
    assert!(u * 3 >= k, "unknown {u:?} vs known {k:?}: names can be told apart by timing");
}

#[test]
fn revoking_an_endpoint_reaches_its_live_wsx_sessions() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "rev", "/rev").password;
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/rev"}));
    let (status, endpoints) = node.admin().get("/admin/v1/endpoints?q=rev-client");
    assert_eq!(status, 200, "{endpoints}");
    let listed = endpoints.as_array().unwrap_or_else(|| panic!("not a list: {endpoints}"));
    let id =
        listed.iter().find(|e| e["name"] == "rev-client").expect("endpoint listed")["id"].as_i64().unwrap();
    let publish = |ws: &mut WsxClient| {
        let (reply, _) =
            ws.invoke("zato.pubsub.pubapi.publish-message", json!({"topic_name": "/rev", "data": 1}));
        reply["meta"]["status"].as_u64().unwrap()
    };

    // Patterns edited: the live session has the new permissions at once.
    let mut ws = WsxClient::connect(&node, "/wsx/rev");
    ws.login("rev-client", &password);
    assert_eq!(publish(&mut ws), 200);
    let (s, body) =
        node.admin().patch(&format!("/admin/v1/endpoints/{id}"), &json!({"topic_patterns": ["sub=/rev"]}));
    assert_eq!(s, 200, "{body}");
    eventually("the session to lose pub=", 10, || publish(&mut ws) == 403);

    // Credentials rotated: the session is told and closed.
    let (s, body) = node.admin().post(&format!("/admin/v1/endpoints/{id}/credentials"), &json!({}));
    assert_eq!(s, 200, "{body}");
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1008), "{frames:?}");
    let last = frames.last().expect("an error frame before the close");
    assert_eq!(
        (&last["meta"]["msg_type"], &last["meta"]["status"], &last["meta"]["error_message"]),
        (&json!("zwsx.rsperr"), &json!(401), &json!("the endpoint's credentials or channel changed")),
        "{last}"
    );
    let password = body["password"].as_str().unwrap().to_owned();

    // Deleted: likewise.
    let mut ws = WsxClient::connect(&node, "/wsx/rev");
    ws.login("rev-client", &password);
    let (s, body) = node.admin().delete(&format!("/admin/v1/endpoints/{id}"));
    assert_eq!(s, 200, "{body}");
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1008), "{frames:?}");
    let last = frames.last().expect("an error frame before the close");
    assert_eq!(
        (&last["meta"]["status"], &last["meta"]["error_message"]),
        (&json!(401), &json!("the endpoint was deleted")),
        "{last}"
    );
}

#[test]
fn a_subscriber_cannot_choose_where_the_node_pushes() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/ssrf", json!({}), "sneaky");
    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    const ADMINS_ONLY: &str =
        "`push` targets are set by an admin (admin API, CLI or apply), not by a subscriber";
    for push in [json!({"url": format!("{}/internal/admin", receiver.url)}), json!({"directory": "/tmp"})] {
        assert_refused(
            &ps.client.post(
                "/zato/pubsub/subscribe/topic//ssrf",
                &json!({"delivery_method": "notify", "push": push}),
            ),
            403,
            ADMINS_ONLY,
        );
    }
    ps.publish_ok(json!({"data": 1}));
    assert_eq!(node.admin().get("/admin/v1/subscriptions"), (200, json!([])));
    assert!(receiver.received().is_empty());
}

#[test]
fn numeric_fields_are_bounded_with_a_400_naming_the_field() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/bounds", json!({"limit_message_expiry": 2_147_483_647}), "bounded");
    for expiration in [json!(-1), json!(2_147_483_648i64), json!(9_223_372_036_854_775_807i64)] {
        let (status, body) = ps.publish(json!({"data": 1, "expiration": expiration}));
        assert_eq!(status, 400, "{expiration}: {body}");
        assert_eq!(body["details"], "`expiration` must be 0–2147483647 seconds", "{body}");
    }
    // The longest allowed expiration is answered as a real time, not the epoch.
    ps.publish_ok(json!({"data": 1, "expiration": 2_147_483_647}));
    ps.subscribe(json!({}));
    ps.publish_ok(json!({"data": 2, "expiration": 2_147_483_647}));
    let pulled = ps.pull(None);
    assert_eq!(datas(&pulled), vec![json!(1), json!(2)]);
    for message in &pulled {
        let time = |key: &str| parse_iso(message[key].as_str().expect(key)).expect(key);
        let lifetime = time("expiration_time_iso") - time("pub_time_iso");
        assert_eq!(lifetime, 2_147_483_647 * 1_000_000, "{message}");
    }
    for (field, value, details) in [
        ("dedup_window", json!(9_223_372_036_854_775_807i64), "`dedup_window` must be 0–2147483647"),
        ("limit_message_expiry", json!(2_147_483_648i64), "`limit_message_expiry` must be 1–2147483647"),
        ("max_depth_gd", json!(1_000_000_001), "`max_depth_gd` must be 1–1000000000"),
        ("max_depth_non_gd", json!(0), "`max_depth_non_gd` must be 1–1000000000"),
    ] {
        assert_refused(
            &node.admin().post("/admin/v1/topics", &json!({"name": "/big", field: value})),
            400,
            details,
        );
    }
    assert_eq!(node.admin().get("/admin/v1/topics?name=/big"), (200, json!([])));
}

#[test]
fn one_connection_has_bounded_calls_in_flight_and_topic_lists() {
    let node = Node::start(Backend::Sqlite);
    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::from_secs(4))));
    let (s, body) = node
        .admin()
        .post("/admin/v1/services", &json!({"name": "slow", "kind": "http", "url": receiver.url.clone()}));
    assert_eq!(s, 201, "{body}");
    let channel = wsx_setup_with(
        &node,
        "calls",
        json!({"allowed_services": ["slow", "zato.pubsub.subscription.create-wsx-subscription"]}),
        json!({"name": "caller", "topic_patterns": ["sub=/**"]}),
    );
    let mut ws = channel.logged_in(&node);

    // 1,000 calls unanswered at once, then the next is refused at once with 429.
    for n in 0..1001 {
        ws.send(&json!({"meta": {"action": "invoke-service", "id": format!("slow-{n}"), "token": ws.token},
            "data": {"service": "slow", "request": {}}}));
    }
    let refused = ws.recv();
    assert_eq!(refused["meta"]["in_reply_to"], "slow-1000", "{refused}");
    assert_eq!(refused["meta"]["status"], 429, "{refused}");
    assert_eq!(refused["meta"]["error_message"], "more than 1000 calls unanswered on this connection");

    let mut other = channel.logged_in(&node);
    let names: Vec<String> = (0..101).map(|n| format!("/t{n}")).collect();
    let (reply, _) =
        other.invoke("zato.pubsub.subscription.create-wsx-subscription", json!({"topic_name_list": names}));
    assert_eq!(reply["meta"]["status"], 400, "{reply}");
    assert_eq!(reply["meta"]["error_message"], "`topic_name_list` names at most 100 topics");
}

#[test]
fn the_data_directory_and_database_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let node = Node::start(Backend::Sqlite);
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/perm", "has_gd": true}));
    let mode = |name: &str| {
        let path = if name.is_empty() { node.data_dir.clone() } else { node.data_dir.join(name) };
        std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    for file in ["signalbox.db", "signalbox.db-wal", "secret.key", "admin.key"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

#[test]
fn a_bootstrap_admin_key_without_the_admin_key_shape_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()];
    let (code, stderr) = serve_expecting_exit(&args, &[("SIGNALBOX_ADMIN_KEY", "admin")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("SIGNALBOX_ADMIN_KEY must be an admin key"), "{stderr}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "files made before the refusal");
}

#[test]
fn a_cluster_login_is_bound_to_its_connection_and_cannot_be_replayed() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let node = Node::start(Backend::Postgres);
    let (status, nodes) = node.admin().get("/admin/v1/cluster/nodes");
    assert_eq!(status, 200, "{nodes}");
    let list = nodes.as_array().unwrap_or_else(|| panic!("cluster nodes: {nodes}")).clone();
    assert_eq!(list.len(), 1, "{nodes}");
    let name = list[0]["name"].as_str().expect("node name").to_owned();
    let key_text = std::fs::read_to_string(node.data_dir.join("secret.key")).unwrap();
    let master = signalbox_actors::secrets::MasterKey::from_base64(key_text.trim()).unwrap();
    let timestamp = || {
        // Zato's naive UTC ISO time, as the nodes send it.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        signalbox_actors::time::iso(now.as_micros() as i64).trim_end_matches('Z').to_owned()
    };
    let challenge = |ws: &mut WsxClient| {
        let frame = ws.recv();
        assert_eq!(frame["meta"]["msg_type"], "signalbox.cluster.challenge", "{frame}");
        frame["data"]["nonce"].as_str().unwrap().to_owned()
    };
    let login = |ws: &mut WsxClient, secret: &str, ts: &str| {
        ws.send(&json!({"meta": {"action": "create-session", "id": "n1", "timestamp": ts,
            "username": name, "secret": secret}}));
        ws.recv()
    };
    let refused = |reply: Value| {
        assert_eq!(
            (&reply["meta"]["msg_type"], &reply["meta"]["status"], &reply["data"]),
            (&json!("zwsx.merr"), &json!(403), &json!("You are not authorized to access this resource")),
            "{reply}"
        );
    };

    // The right answer to this connection's nonce logs in.
    let mut first = WsxClient::connect(&node, "/wsx/_cluster");
    let nonce = challenge(&mut first);
    let ts = timestamp();
    let proof = master.cluster_proof(&name, &nonce, &ts);
    assert_eq!(login(&mut first, &proof, &ts)["meta"]["msg_type"], "zwsx.rspa");

    // The same answer on another connection (another nonce) does not; nor the old static secret.
    let mut replay = WsxClient::connect(&node, "/wsx/_cluster");
    challenge(&mut replay);
    refused(login(&mut replay, &proof, &ts));
    let mut old = WsxClient::connect(&node, "/wsx/_cluster");
    challenge(&mut old);
    let static_secret = master.digest(&format!("signalbox-cluster-node:{name}"));
    refused(login(&mut old, &static_secret, &timestamp()));
    // An answer to the right nonce but from long ago does not either.
    let mut stale = WsxClient::connect(&node, "/wsx/_cluster");
    let nonce = challenge(&mut stale);
    let long_ago = "2026-01-01T00:00:00.000000";
    let proof = master.cluster_proof(&name, &nonce, long_ago);
    refused(login(&mut stale, &proof, long_ago));
}

#[test]
fn metrics_can_require_an_admin_key_and_forget_deleted_subscriptions() {
    let node = Node::start_with(NodeOptions {
        args: vec!["--metrics-auth".into(), "true".into()],
        ..NodeOptions::default()
    });
    let (status, body, _) = node.http().raw("GET", "/metrics", None);
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = node.admin().raw("GET", "/metrics", None);
    assert_eq!(status, 200);

    let open = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&open, "/gone", json!({}), "app");
    let key = ps.subscribe(json!({}));
    ps.publish_ok(json!({"data": 1}));
    assert_eq!(ps.pull(None).len(), 1);
    let deliveries = format!("signalbox_deliveries_total{{sub_key=\"{key}\"}}");
    assert_eq!(metric(&open, &deliveries), Some(1.0));
    assert_eq!(open.admin().delete(&format!("/admin/v1/subscriptions/{key}")).0, 200);
    eventually("the deleted subscription's series to go", 10, || metric(&open, &deliveries).is_none());
}

#[test]
fn a_request_body_that_stalls_is_given_up_on() {
    use std::io::Read;
    let node = Node::start(Backend::Sqlite);
    let addr = node.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /admin/v1/topics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": ",
        node.admin_key
    );
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).expect("an answer, not a hang");
    let waited = started.elapsed();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("the request body stalled"), "{text}");
    assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(25), "{waited:?}");
    assert_eq!(node.http().get("/health").0, 200);
}

#[test]
fn a_files_target_never_writes_into_the_data_directory_nor_through_a_planted_link() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/files", json!({}), "publisher");
    let (s, e) = node.admin().post(
        "/admin/v1/endpoints",
        &json!({"name": "drop", "role": "sub-only", "auth": "none", "endpoint_type": "files", "topic_patterns": ["sub=/files"]}),
    );
    assert_eq!(s, 201, "{e}");
    let subscribe = |directory: &str| {
        node.admin().post(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/files", "endpoint": "drop", "delivery_method": "notify",
                    "push": {"directory": directory}}),
        )
    };
    // The data directory, however it is spelled, is refused.
    let spelled =
        format!("{}/../{}", node.data_dir.display(), node.data_dir.file_name().unwrap().to_str().unwrap());
    for directory in [node.data_dir.to_str().unwrap().to_owned(), spelled] {
        let (status, body) = subscribe(&directory);
        assert_eq!(status, 400, "{directory}: {body}");
        assert_eq!(body["details"], "`push.directory` must not be inside the node's data directory");
    }
    // A link planted where a predictable temp name would be is not written through.
    let out = tempfile::tempdir().unwrap();
    let victim = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(victim.path(), "untouched").unwrap();
    let (status, body) = subscribe(out.path().to_str().unwrap());
    assert_eq!(status, 201, "{body}");
    // The publisher chooses the msg_id, so the link is there before the node writes.
    let id = "planted-1";
    std::os::unix::fs::symlink(victim.path(), out.path().join(format!(".{id}.tmp"))).unwrap();
    assert_eq!(ps.publish_ok(json!({"data": "x", "msg_id": id})), id);
    eventually("the message file", 10, || out.path().join(format!("{id}.json")).exists());
    assert_eq!(std::fs::read_to_string(victim.path()).unwrap(), "untouched");
}

/// A small seeded generator, so a failing run can be replayed exactly.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &'a [String]) -> &'a str {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn a_seeded_abuse_run_over_every_route_answers_2xx_or_an_enveloped_4xx_and_keeps_gd_messages() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/kept", json!({"has_gd": true}), "keeper");
    ps.subscribe(json!({}));
    let kept = ps.publish_ok(json!({"data": "kept through the run"}));

    let mut rng =
        Seeded(std::env::var("SIGNALBOX_ABUSE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed));
    // Path values that never name the objects made above (their ids are 1).
    let params: Vec<String> =
        ["0", "-1", "999999", "99999999999999999999", "x", "%2e%2e", "zpsk.rest.000000", "%00"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let deep = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
    let bodies: Vec<String> = vec![
        "{}".into(),
        "[]".into(),
        "null".into(),
        "\"x\"".into(),
        "{\"name\": 1}".into(),
        format!("{{\"name\": \"/{}\"}}", "x".repeat(5000)),
        "{\"topic_name\": {}, \"endpoint\": []}".into(),
        "{\"a\":".into(),
        "{\"ack_timeout\": 1e400}".into(),
        "{\"max_depth_gd\": -9223372036854775808, \"name\": \"/n\"}".into(),
        "{\"data\": null}".into(),
        "{\"data_list\": [{\"data_list\": []}]}".into(),
        deep,
        "\u{0}\u{1}\u{2}".into(),
    ];
    let (_, doc) = node.admin().get("/admin/v1/openapi.json");
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    for path in ["/zato/pubsub/topic/{t}", "/zato/pubsub/ack/topic/{t}", "/zato/pubsub/subscribe/topic/{t}"] {
        for method in ["POST", "PATCH", "DELETE", "GET"] {
            routes.push((method.into(), path.into()));
        }
    }
    let clients = [node.admin(), node.http(), ps.client.clone(), node.http().basic("keeper", "wrong")];
    for _ in 0..800 {
        let (method, template) = &routes[(rng.next() % routes.len() as u64) as usize];
        let path: String = template
            .split('/')
            .map(|seg| if seg.starts_with('{') { rng.pick(&params).to_owned() } else { seg.to_owned() })
            .collect::<Vec<_>>()
            .join("/");
        let body = rng.pick(&bodies).to_owned();
        let client = &clients[(rng.next() % clients.len() as u64) as usize];
        let with_body = method != "GET" && method != "DELETE";
        let (status, answer, _) = client.raw(method, &path, with_body.then_some(body.as_str()));
        assert!(status < 500, "{method} {path} with {:.80}: {status} {answer}", body);
        if status >= 400 {
            assert_eq!(answer["result"], "Error", "{method} {path}: {status} without the envelope: {answer}");
            assert!(answer["details"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path}: {answer}");
        }
    }
    assert_eq!(node.http().get("/health").0, 200);
    // The GD message published before the run is still there, once.
    let pulled = ps.pull(None);
    assert_eq!(pulled.iter().filter(|m| m["msg_id"] == kept.as_str()).count(), 1, "{pulled:?}");
}

#[test]
fn requests_that_cannot_be_parsed_are_refused_without_a_log_line_each() {
    use std::io::Read;
    let node = Node::start(Backend::Sqlite);
    let addr = node.url.trim_start_matches("http://").to_owned();
    let lines_before = node.log().lines().count();
    for i in 0..50 {
        let garbage: &[u8] = match i % 3 {
            0 => b"GET /health HTTP/9.9\r\n\r\n",
            1 => b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            _ => b"\x00\x01\x02\r\n\r\n",
        };
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(garbage).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(answer.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&answer));
    }
    assert_eq!(node.http().get("/health").0, 200);
    let log = node.log();
    let new_lines: Vec<&str> = log.lines().skip(lines_before).collect();
    assert!(new_lines.len() < 5, "a log line per malformed request: {new_lines:#?}");
}
