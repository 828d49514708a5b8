//! WSX channels with a real WebSocket client over a real socket: every frame type, every error
//! path, and pub/sub over WSX.

use std::time::{Duration, Instant};

use signalbox_tests::*;

/// What Zato's Forbidden says, in `zwsx.merr` data and in refused pub/sub calls.
const FORBIDDEN: &str = "You are not authorized to access this resource";

/// A topic, answering its id.
fn topic(node: &Node, body: Value) -> i64 {
    node.admin().post_ok("/admin/v1/topics", &body)["id"].as_i64().expect("topic id")
}

/// A REST endpoint that may publish to `topic`, for admins to publish as.
fn publisher(node: &Node, name: &str, topic: &str) {
    node.admin().post_ok(
        "/admin/v1/endpoints",
        &json!({"name": name, "role": "pub-only", "topic_patterns": [format!("pub={topic}")]}),
    );
}

/// An admin publication to topic `id` as `endpoint`; answers the msg_id (of the last one).
fn admin_publish(node: &Node, id: i64, body: Value) -> Value {
    node.admin().post_ok(&format!("/admin/v1/topics/{id}/publish"), &body)
}

/// The sessions an admin sees on a channel.
fn sessions(node: &Node, channel: &WsxChannel) -> Vec<Value> {
    let (status, list) = node.admin().get(&format!("{}/sessions", channel.admin_path()));
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap_or_else(|| panic!("not a list: {list}")).clone()
}

/// The `zwsx.rsperr` a call was refused with.
#[track_caller]
fn assert_rsperr(frame: &Value, status: u64, message: &str) {
    assert_eq!(frame["meta"]["msg_type"], "zwsx.rsperr", "{frame}");
    assert_eq!(
        (&frame["meta"]["status"], &frame["meta"]["error_message"]),
        (&json!(status), &json!(message)),
        "{frame}"
    );
}

#[test]
fn create_session_answers_a_token_and_services_answer_rspok_with_the_reply_itself() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "gateway", "/wsx/**");
    let mut ws = WsxClient::connect(&node, "/wsx/gateway");
    let reply = ws.login("gateway-client", &channel.password);
    assert_eq!(reply["meta"]["msg_type"], "zwsx.rspa", "{reply}");
    assert_eq!(reply["meta"]["status"], 200);
    assert_eq!(reply["meta"]["in_reply_to"], "client.1");
    assert!(reply["meta"]["id"].is_string() && reply["meta"]["timestamp"].is_string());
    assert!(reply["data"]["token"].as_str().unwrap().starts_with("zwsxt."));

    let (ok, _) = ws.invoke("helpers.echo", json!({"a": [1, {"b": null}]}));
    assert_eq!(ok["meta"]["msg_type"], "zwsx.rspok");
    assert_eq!(ok["meta"]["status"], 200);
    assert_eq!(ok["data"], json!({"a": [1, {"b": null}]}), "the reply itself, not wrapped");
    let (pong, _) = ws.invoke("zato.ping", json!({}));
    assert!(pong["data"]["pong"].is_string());

    let (err, _) = ws.invoke("not.allowed", json!({}));
    assert_rsperr(&err, 403, "service `not.allowed` is not allowed on this channel");
    assert!(err["data"]["cid"].as_str().is_some_and(|c| !c.is_empty()), "{err}");
}

#[test]
fn bad_frames_and_bad_tokens_are_answered_and_the_connection_and_node_stay_up() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "strict", "/s/**").password;
    let mut ws = WsxClient::connect(&node, "/wsx/strict");

    let denied = ws.try_login("strict-client", "wrong password");
    assert_eq!(denied["meta"]["msg_type"], "zwsx.merr", "{denied}");
    assert_eq!(denied["meta"]["status"], 403);
    assert_eq!(denied["data"], FORBIDDEN);
    assert_eq!(ws.token, None);

    ws.login("strict-client", &password);
    ws.send_text("{not json");
    let bad = ws.recv();
    assert_rsperr(&bad, 400, "invalid JSON: key must be a string at line 1 column 2");
    ws.send(&json!({"meta": {"action": "dance", "id": "x1", "token": ws.token}}));
    let unknown = ws.recv();
    assert_rsperr(&unknown, 400, "unknown action `dance`");
    assert_eq!(unknown["meta"]["in_reply_to"], "x1");
    for (id, token) in [("x2", None), ("x3", Some("zwsxt.wrong"))] {
        let mut frame =
            json!({"meta": {"action": "invoke-service", "id": id}, "data": {"service": "helpers.echo"}});
        if let Some(token) = token {
            frame["meta"]["token"] = json!(token);
        }
        ws.send(&frame);
        let refused = ws.recv();
        assert_eq!(
            (&refused["meta"]["msg_type"], &refused["meta"]["status"], &refused["meta"]["in_reply_to"]),
            (&json!("zwsx.merr"), &json!(403), &json!(id)),
            "{refused}"
        );
        assert_eq!(refused["data"], FORBIDDEN);
    }

    // Invalid UTF-8 after the session: 422, and the connection goes on.
    ws.socket
        .send(tungstenite::Message::Frame(tungstenite::protocol::frame::Frame::message(
            vec![0xff, 0xfe, 0x41],
            tungstenite::protocol::frame::coding::OpCode::Data(
                tungstenite::protocol::frame::coding::Data::Text,
            ),
            true,
        )))
        .unwrap();
    let invalid = ws.recv();
    assert_rsperr(&invalid, 422, "Invalid UTF-8 bytes");
    let (still, _) = ws.invoke("helpers.echo", json!("still here"));
    assert_eq!(still["data"], "still here");
    assert_eq!(node.http().get("/health").0, 200);
}

#[test]
fn invalid_utf8_before_a_session_closes_with_4001_and_oversized_frames_with_1009() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "edge", "/e/**");
    let password = channel.password.clone();
    node.admin().patch_ok(&channel.admin_path(), &json!({"max_frame_size": 2048}));
    let mut ws = WsxClient::connect(&node, "/wsx/edge");
    ws.socket
        .send(tungstenite::Message::Frame(tungstenite::protocol::frame::Frame::message(
            vec![0xc3, 0x28],
            tungstenite::protocol::frame::coding::OpCode::Data(
                tungstenite::protocol::frame::coding::Data::Text,
            ),
            true,
        )))
        .unwrap();
    assert_eq!(ws.recv_close(), Some(4001));

    let mut ws = WsxClient::connect(&node, "/wsx/edge");
    ws.login("edge-client", &password);
    ws.send_text(
        &json!({"meta": {"action": "invoke-service", "token": ws.token}, "data": "x".repeat(5000)})
            .to_string(),
    );
    assert_eq!(ws.recv_close(), Some(1009));

    // Other connections are unaffected.
    let mut other = WsxClient::connect(&node, "/wsx/edge");
    other.login("edge-client", &password);
    let (echo, _) = other.invoke("helpers.echo", json!("still here"));
    assert_eq!(echo["data"], "still here");
}

#[test]
fn a_client_that_never_creates_a_session_is_refused_and_closed_and_unknown_paths_are_404() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "slow", "/x");
    node.admin().patch_ok(&channel.admin_path(), &json!({"new_token_wait_time": 0.5}));
    let mut ws = WsxClient::connect(&node, "/wsx/slow");
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(4003), "{frames:?}");
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        (&frames[0]["meta"]["msg_type"], &frames[0]["meta"]["status"], &frames[0]["data"]),
        (&json!("zwsx.merr"), &json!(403), &json!(FORBIDDEN))
    );
    assert_refused(&node.http().get("/wsx/nowhere"), 404, "no WSX channel at this path");
    assert_refused(
        &node.http().get("/wsx/slow"),
        400,
        "a WebSocket upgrade is required: WebSocket upgrade is expected",
    );
}

#[test]
fn expired_tokens_are_refused_and_missed_pings_close_with_4002() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "ttl", "/x");
    let password = channel.password.clone();
    node.admin().patch_ok(&channel.admin_path(), &json!({"token_ttl": 1, "ping_interval": 30}));
    let mut ws = WsxClient::connect(&node, "/wsx/ttl");
    let logged_in_at = Instant::now();
    ws.login("ttl-client", &password);
    // Good at first; refused once its second has passed (a call does not extend it).
    let (fresh, _) = ws.invoke("helpers.echo", json!(1));
    assert_eq!(fresh["meta"]["msg_type"], "zwsx.rspok", "{fresh}");
    let mut expired = Value::Null;
    eventually("the token to expire", 10, || {
        expired = ws.invoke("helpers.echo", json!(1)).0;
        expired["meta"]["msg_type"] != "zwsx.rspok"
    });
    assert!(logged_in_at.elapsed() >= Duration::from_secs(1), "expired before token_ttl");
    assert_eq!(
        (&expired["meta"]["msg_type"], &expired["meta"]["status"], &expired["data"]),
        (&json!("zwsx.merr"), &json!(403), &json!(FORBIDDEN))
    );

    node.admin().patch_ok(
        &channel.admin_path(),
        &json!({"ping_interval": 0.2, "pings_missed_threshold": 2, "token_ttl": 3600}),
    );
    // A raw socket that never reads cannot answer pings.
    let addr = node.url.trim_start_matches("http://").to_owned();
    let stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut silent, _) = tungstenite::client(format!("ws://{addr}/wsx/ttl"), stream).unwrap();
    let login = json!({"meta": {"action": "create-session", "id": "1", "username": "ttl-client", "secret": password}});
    silent.send(tungstenite::Message::Text(login.to_string().into())).unwrap();
    // The client never reads, so it can answer no ping: the server must close it with 4002.
    eventually("a 4002 close", 10, || {
        metric(&node, "signalbox_wsx_closes_total{code=\"4002\"}") == Some(1.0)
    });
    drop(silent);
}

#[test]
fn pubsub_over_wsx_rest_publisher_to_wsx_subscriber_and_back() {
    for backend in backends() {
        let node = Node::start(backend);
        let channel = wsx_setup(&node, "ps", "/ps/**");
        let password = channel.password.clone();
        let orders = topic(&node, json!({"name": "/ps/orders"}));
        let rest = PubSub::setup(&node, "/ps/rest", json!({}), "rest-app");
        let mut ws = WsxClient::connect(&node, "/wsx/ps");
        ws.login("ps-client", &password);
        let (sub, _) = ws
            .invoke("zato.pubsub.subscription.create-wsx-subscription", json!({"topic_name": "/ps/orders"}));
        assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
        let key = sub["data"]["sub_key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("zpsk.wsx."), "{key}");
        assert_eq!(sub["data"]["current_depth"], 0);

        // REST publisher → WSX subscriber.
        publisher(&node, "rest-pub", "/ps/orders");
        let admin_pub = admin_publish(&node, orders, json!({"endpoint": "rest-pub", "data": {"order": 1}}));
        let push = ws.recv();
        assert_eq!(push["meta"]["msg_type"], "zwsx.psrq", "{push}");
        assert_eq!(push["meta"]["id"], admin_pub["msg_id"]);
        assert_eq!(push["data"]["data"], json!({"order": 1}));
        assert_eq!(push["data"]["sub_key"], key.as_str());

        // WSX publisher → REST subscriber.
        rest.subscribe(json!({}));
        let (published, _) = ws.invoke(
            "zato.pubsub.pubapi.publish-message",
            json!({"topic_name": "/ps/rest", "data": "from wsx", "priority": 8}),
        );
        assert!(published["data"]["msg_id"].as_str().unwrap().starts_with("zpsm"), "{published}");
        let got = rest.pull(None);
        assert_eq!(datas(&got), vec![json!("from wsx")]);
        assert_eq!(got[0]["priority"], 8);

        // A topic that exists, outside the endpoint's patterns.
        topic(&node, json!({"name": "/elsewhere"}));
        let (forbidden, _) =
            ws.invoke("zato.pubsub.pubapi.publish-message", json!({"topic_name": "/elsewhere", "data": 1}));
        assert_rsperr(&forbidden, 403, FORBIDDEN);
        let (bad, _) = ws.invoke("zato.pubsub.pubapi.publish-message", json!({"topic_name": "/ps/rest"}));
        assert_rsperr(&bad, 400, "`data` is required");

        let listed = sessions(&node, &channel);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["endpoint"], "ps-client");
        assert_eq!(listed[0]["client_id"], "test-client");
        assert_eq!(listed[0]["subscriptions"], json!([key]));

        let (unsub, _) =
            ws.invoke("zato.pubsub.pubapi.unsubscribe", json!({"topic_name": "/ps/orders", "sub_key": key}));
        assert_eq!(unsub["meta"]["msg_type"], "zwsx.rspok", "{unsub}");
        assert_refused(
            &node.admin().get(&format!("/admin/v1/subscriptions/{key}")),
            404,
            &format!("no subscription `{key}`"),
        );
    }
}

#[test]
fn ten_thousand_messages_are_pushed_in_order_with_explicit_acks() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "bulk", "/bulk").password;
    let bulk = topic(&node, json!({"name": "/bulk", "max_depth_gd": 20000, "max_depth_non_gd": 20000}));
    publisher(&node, "bulk-pub", "/bulk");
    let mut ws = WsxClient::connect(&node, "/wsx/bulk");
    ws.login("bulk-client", &password);
    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/bulk", "ack_mode": "explicit", "delivery_batch_size": 100}),
    );
    assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
    for chunk in 0..20 {
        let items: Vec<Value> =
            (0..500).map(|i| json!({"data": chunk * 500 + i, "has_gd": i % 2 == 0})).collect();
        admin_publish(&node, bulk, json!({"endpoint": "bulk-pub", "data_list": items}));
    }
    let mut got = Vec::new();
    while got.len() < 10_000 {
        let push = ws.recv();
        assert_eq!(push["meta"]["msg_type"], "zwsx.psrq");
        let items = match &push["data"] {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        };
        got.extend(items.iter().map(|m| m["data"].as_i64().unwrap()));
        let id = push["meta"]["id"].as_str().unwrap().to_owned();
        ws.respond(&id, json!("ok"));
    }
    let expected: Vec<i64> = (0..10_000).collect();
    let first_wrong = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        got == expected,
        "out of order, lost or repeated: {} received, first difference at {first_wrong:?}",
        got.len()
    );
}

#[test]
fn unacknowledged_pushes_are_redelivered_in_order() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "re", "/re").password;
    let re = topic(&node, json!({"name": "/re"}));
    publisher(&node, "re-pub", "/re");
    let mut ws = WsxClient::connect(&node, "/wsx/re");
    ws.login("re-client", &password);
    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/re", "ack_mode": "explicit", "ack_timeout": 0.5}),
    );
    assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
    admin_publish(&node, re, json!({"endpoint": "re-pub", "data_list": [{"data": "a"}, {"data": "b"}]}));
    // Messages of the next pushes until `n` have come, with their push ids.
    let mut messages = |n: usize| {
        let (mut got, mut ids) = (Vec::new(), Vec::new());
        while got.len() < n {
            let push = ws.recv();
            assert_eq!(push["meta"]["msg_type"], "zwsx.psrq", "{push}");
            ids.push(push["meta"]["id"].as_str().unwrap().to_owned());
            match push["data"].as_array() {
                Some(list) => got.extend(list.iter().cloned()),
                None => got.push(push["data"].clone()),
            }
        }
        (got, ids)
    };
    let (first, _) = messages(2);
    assert_eq!(datas(&first), vec![json!("a"), json!("b")]);
    assert!(first.iter().all(|m| m["delivery_count"] == 1), "{first:?}");
    // No ack: both come again, in order, the same messages, delivery_count 2.
    let (again, ids) = messages(2);
    assert_eq!(datas(&again), vec![json!("a"), json!("b")]);
    assert_eq!(
        again.iter().map(|m| m["msg_id"].clone()).collect::<Vec<_>>(),
        first.iter().map(|m| m["msg_id"].clone()).collect::<Vec<_>>()
    );
    assert!(again.iter().all(|m| m["delivery_count"] == 2), "{again:?}");
    for id in ids {
        ws.respond(&id, json!("ok"));
    }
}

#[test]
fn a_client_that_disconnects_and_resumes_receives_what_was_published_meanwhile() {
    for backend in backends() {
        let node = Node::start(backend);
        let channel = wsx_setup(&node, "res", "/res");
        let password = channel.password.clone();
        let res = topic(&node, json!({"name": "/res", "has_gd": true}));
        publisher(&node, "res-pub", "/res");
        let mut ws = WsxClient::connect(&node, "/wsx/res");
        ws.login("res-client", &password);
        let (sub, _) = ws.invoke(
            "zato.pubsub.pubapi.subscribe-wsx",
            json!({"topic_name": "/res", "unsub_on_wsx_close": false, "ack_mode": "explicit"}),
        );
        assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
        let key = sub["data"]["sub_key"].as_str().unwrap().to_owned();
        ws.socket.close(None).ok();
        drop(ws);
        eventually("the session to end", 10, || sessions(&node, &channel).is_empty());
        for n in 0..5 {
            admin_publish(&node, res, json!({"endpoint": "res-pub", "data": n}));
        }
        let mut ws = WsxClient::connect(&node, "/wsx/res");
        ws.login("res-client", &password);
        let (resumed, mut pushes) = ws.invoke("zato.pubsub.resume-wsx-subscription", json!({"sub_key": key}));
        assert_eq!(resumed["meta"]["msg_type"], "zwsx.rspok", "{resumed}");
        let mut got = Vec::new();
        while got.len() < 5 {
            let push = if pushes.is_empty() { ws.recv() } else { pushes.remove(0) };
            let items = push["data"].as_array().cloned().unwrap_or_else(|| vec![push["data"].clone()]);
            got.extend(items.iter().map(|m| m["data"].clone()));
            ws.respond(push["meta"]["id"].as_str().unwrap(), json!("ok"));
        }
        assert_eq!(got, (0..5).map(|n| json!(n)).collect::<Vec<_>>());

        // Somebody else's sub_key — another endpoint's, of the same channel and topic — is
        // refused, and stays that endpoint's.
        let other = channel.another_endpoint(&node, "res-other", json!({"topic_patterns": ["sub=/res"]}));
        let mut owner = other.logged_in(&node);
        let (theirs, _) = owner.invoke(
            "zato.pubsub.pubapi.subscribe-wsx",
            json!({"topic_name": "/res", "unsub_on_wsx_close": false}),
        );
        assert_eq!(theirs["meta"]["msg_type"], "zwsx.rspok", "{theirs}");
        let their_key = theirs["data"]["sub_key"].as_str().unwrap().to_owned();
        let (refused, _) = ws.invoke("zato.pubsub.resume-wsx-subscription", json!({"sub_key": their_key}));
        assert_rsperr(&refused, 403, FORBIDDEN);
        let (status, stored) = node.admin().get(&format!("/admin/v1/subscriptions/{their_key}"));
        assert_eq!((status, &stored["endpoint"]), (200, &json!("res-other")), "{stored}");
        let by_endpoint: Vec<(Value, Value)> = sessions(&node, &channel)
            .iter()
            .map(|s| (s["endpoint"].clone(), s["subscriptions"].clone()))
            .collect();
        assert!(by_endpoint.contains(&(json!("res-other"), json!([their_key]))), "{by_endpoint:?}");
        assert!(by_endpoint.contains(&(json!("res-client"), json!([key]))), "{by_endpoint:?}");
    }
}

#[test]
fn admins_invoke_a_connected_client_and_disconnect_it() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "adm", "/x");
    let mut ws = channel.logged_in(&node);
    let session_id = sessions(&node, &channel)[0]["session_id"].as_str().unwrap().to_owned();
    assert!(session_id.starts_with("ws."));
    let url = node.url.clone();
    let key = node.admin_key.clone();
    let sid = session_id.clone();
    let caller = std::thread::spawn(move || {
        Http::new(&url)
            .bearer(&key)
            .post(&format!("/admin/v1/sessions/{sid}/invoke"), &json!({"question": 42}))
    });
    let rqc = ws.recv();
    assert_eq!(rqc["meta"]["msg_type"], "zwsx.rqc");
    assert_eq!(rqc["data"], json!({"question": 42}));
    ws.respond(rqc["meta"]["id"].as_str().unwrap(), json!({"answer": 42}));
    let (status, reply) = caller.join().unwrap();
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply, json!({"response": {"answer": 42}}));

    let (code, out, err) = node.cli(&["channel", "sessions", "adm"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&session_id), "{out}");
    assert_eq!(node.admin().delete(&format!("/admin/v1/sessions/{session_id}")).0, 200);
    assert_eq!(ws.recv_close(), Some(1000), "closed by an administrator");
    assert_refused(
        &node.admin().delete(&format!("/admin/v1/sessions/{session_id}")),
        404,
        &format!("no session `{session_id}`"),
    );
    // Closed by an administrator: 1000.
    eventually("the close to be counted", 10, || {
        metric(&node, "signalbox_wsx_closes_total{code=\"1000\"}") == Some(1.0)
    });
}

#[test]
fn channels_are_validated_and_managed_from_the_cli() {
    let node = Node::start(Backend::Sqlite);
    let admin = node.admin();
    assert_refused(
        &admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/other/x"})),
        400,
        "`path` must start with /wsx/ and be a plain URL path, e.g. /wsx/gateway",
    );
    assert_refused(
        &admin.post("/admin/v1/channels", &json!({"name": "x"})),
        400,
        "`name` and `path` are required",
    );
    assert_refused(
        &admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/wsx/_cluster"})),
        400,
        "`path` /wsx/_cluster is reserved for the cluster's internal link",
    );
    assert_refused(
        &admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/wsx/x", "ping_interval": 0})),
        400,
        "`ping_interval` must be 0.1–86400 seconds",
    );
    let (status, c) = admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/wsx/x"}));
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["service"], "helpers.web-sockets-gateway");
    assert_eq!(c["new_token_wait_time"], 5.0);
    assert_eq!(c["ping_interval"], 45.0);
    assert!(c["allowed_services"].as_array().unwrap().contains(&json!("zato.pubsub.pubapi.publish-message")));
    assert_refused(
        &admin.post("/admin/v1/channels", &json!({"name": "y", "path": "/wsx/x"})),
        409,
        "a channel with that name or path already exists",
    );
    let (code, _, err) = node.cli(&["channel", "create", "z", "path=/wsx/z"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = node.cli(&["channel", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.split_whitespace().any(|w| w == "/wsx/z")), "{out}");
    assert_eq!(node.cli(&["channel", "delete", "z"]).0, 0);
    let (_, listed) = admin.get("/admin/v1/channels?q=/wsx/z");
    assert_eq!(listed, json!([]), "deleted from the CLI");
}

#[test]
fn a_client_that_never_reads_is_cut_off_with_1008_and_others_are_unaffected() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "flood", "/flood");
    let password = channel.password.clone();
    let flood = topic(&node, json!({"name": "/flood", "max_depth_non_gd": 100000}));
    node.admin().patch_ok(&channel.admin_path(), &json!({"max_frame_size": 65536}));
    publisher(&node, "flood-pub", "/flood");
    let mut ws = WsxClient::connect(&node, "/wsx/flood");
    ws.login("flood-client", &password);
    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/flood", "delivery_batch_size": 1}),
    );
    assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
    let payload = "x".repeat(60_000);
    let closed = |node: &Node| metric(node, "signalbox_wsx_closes_total{code=\"1008\"}") == Some(1.0);
    for _ in 0..100 {
        let items: Vec<Value> = (0..10).map(|_| json!({"data": payload})).collect();
        let (status, body) = node.admin().post(
            &format!("/admin/v1/topics/{flood}/publish"),
            &json!({"endpoint": "flood-pub", "data_list": items}),
        );
        assert!(status == 200 || closed(&node), "{status} {body}");
        if closed(&node) {
            break;
        }
    }
    // Pushes stay within the budget, so the cut-off comes from a write that has waited 10 s.
    let series = |m: &Metrics| -> Vec<String> {
        let wanted = |s: &Sample| ["wsx", "overflow", "depth"].iter().any(|w| s.name.contains(w));
        m.samples.iter().filter(|s| wanted(s)).map(|s| format!("{} {}", s.series, s.value)).collect()
    };
    eventually_with(
        "a client that does not read to be cut off with 1008",
        30,
        || closed(&node),
        || format!("{:#?}", series(&Metrics::of(&node))),
    );
    let mut other = WsxClient::connect(&node, "/wsx/flood");
    other.login("flood-client", &password);
    assert_eq!(node.http().get("/health").0, 200);
    drop(ws);
}

#[test]
fn up_to_max_in_flight_pushes_may_be_unanswered_at_once() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "mif", "/mif").password;
    let mif = topic(&node, json!({"name": "/mif"}));
    publisher(&node, "mif-pub", "/mif");
    let mut ws = WsxClient::connect(&node, "/wsx/mif");
    ws.login("mif-client", &password);
    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/mif", "ack_mode": "explicit",
        "max_in_flight": 3, "delivery_batch_size": 1, "ack_timeout": 30}),
    );
    assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
    let items: Vec<Value> = (0..5).map(|n| json!({"data": n})).collect();
    admin_publish(&node, mif, json!({"endpoint": "mif-pub", "data_list": items}));
    let first: Vec<Value> = (0..3).map(|_| ws.recv()).collect();
    assert!(first.iter().all(|p| p["meta"]["msg_type"] == "zwsx.psrq"), "{first:?}");
    assert_eq!(
        first.iter().map(|p| p["data"]["data"].clone()).collect::<Vec<_>>(),
        vec![json!(0), json!(1), json!(2)]
    );
    // A fourth push waits for an answer: the connection stays open and silent.
    let fourth = ws.recv_within(Duration::from_millis(700));
    assert_eq!(fourth, None, "more than max_in_flight pushes were unanswered");
    for push in &first {
        ws.respond(push["meta"]["id"].as_str().unwrap(), json!("ok"));
    }
    let rest: Vec<Value> = (0..2).map(|_| ws.recv()["data"]["data"].clone()).collect();
    assert_eq!(rest, vec![json!(3), json!(4)]);
}

#[test]
fn publications_pipelined_on_one_connection_are_pushed_in_the_order_they_were_sent() {
    for backend in backends() {
        for gd in [false, true] {
            let node = Node::start(backend);
            let password = wsx_setup(&node, "pipe", "/pipe").password;
            topic(
                &node,
                json!({"name": "/pipe", "has_gd": gd, "max_depth_gd": 10000, "max_depth_non_gd": 10000}),
            );
            let mut subscriber = WsxClient::connect(&node, "/wsx/pipe");
            subscriber.login("pipe-client", &password);
            let (sub, _) = subscriber.invoke(
                "zato.pubsub.pubapi.subscribe-wsx",
                json!({"topic_name": "/pipe", "ack_mode": "explicit", "max_in_flight": 8,
                       "delivery_batch_size": 5, "ack_timeout": 30}),
            );
            assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
            let mut publisher = WsxClient::connect(&node, "/wsx/pipe");
            publisher.login("pipe-client", &password);
            let token = publisher.token.clone();

            // Every publication is sent before any reply is read.
            for n in 0..400 {
                publisher.send(&json!({"meta": {"action": "invoke-service", "id": format!("p{n}"), "token": token,
                    "timestamp": "2026-01-01T00:00:00"}, "data": {"service": "zato.pubsub.pubapi.publish-message",
                    "request": {"topic_name": "/pipe", "data": n}}}));
            }
            for _ in 0..400 {
                assert_eq!(publisher.recv()["meta"]["msg_type"], "zwsx.rspok");
            }
            let mut got = Vec::new();
            while got.len() < 400 {
                let push = subscriber.recv();
                assert_eq!(push["meta"]["msg_type"], "zwsx.psrq", "{push}");
                match &push["data"] {
                    Value::Array(list) => got.extend(list.iter().map(|m| m["data"].as_i64().unwrap())),
                    one => got.push(one["data"].as_i64().unwrap()),
                }
                subscriber.respond(push["meta"]["id"].as_str().unwrap(), json!("ok"));
            }
            let expected: Vec<i64> = (0..400).collect();
            assert_eq!(got, expected, "{backend:?} gd={gd}: pushed out of publication order");
        }
    }
}

/// Sub keys the admin API lists, sorted.
fn listed_sub_keys(node: &Node) -> Vec<String> {
    let (status, list) = node.admin().get("/admin/v1/subscriptions");
    assert_eq!(status, 200, "{list}");
    let mut keys: Vec<String> =
        list.as_array().unwrap().iter().map(|s| s["sub_key"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys
}

#[test]
fn a_subscription_resumed_on_another_connection_is_not_released_when_the_first_one_closes() {
    for unsub_on_wsx_close in [true, false] {
        let node = Node::start(Backend::Sqlite);
        let channel = wsx_setup(&node, "held", "/held");
        let password = channel.password.clone();
        let held = topic(&node, json!({"name": "/held"}));
        publisher(&node, "held-pub", "/held");
        let publish = |data: &str| {
            admin_publish(&node, held, json!({"endpoint": "held-pub", "data": data}));
        };
        let mut first = WsxClient::connect(&node, "/wsx/held");
        first.login("held-client", &password);
        let (sub, _) = first.invoke(
            "zato.pubsub.pubapi.subscribe-wsx",
            json!({"topic_name": "/held", "unsub_on_wsx_close": unsub_on_wsx_close}),
        );
        assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
        let key = sub["data"]["sub_key"].as_str().unwrap().to_owned();

        // The same endpoint on a second connection takes the subscription over.
        let mut second = WsxClient::connect(&node, "/wsx/held");
        second.login("held-client", &password);
        let (resumed, early) = second.invoke("zato.pubsub.resume-wsx-subscription", json!({"sub_key": key}));
        assert_eq!(resumed["meta"]["msg_type"], "zwsx.rspok", "{resumed}");
        assert_eq!(early, Vec::<Value>::new());

        // The first connection goes; its session's end must leave the subscription alone.
        first.socket.close(None).ok();
        assert_eq!(first.recv_close(), Some(1000));
        drop(first);
        eventually("the first session closed", 10, || {
            metric(&node, "signalbox_wsx_closes_total{code=\"1000\"}") == Some(1.0)
        });
        for data in ["after the close", "and once more"] {
            publish(data);
            let push = second
                .recv_within(Duration::from_secs(5))
                .unwrap_or_else(|| panic!("unsub_on_wsx_close={unsub_on_wsx_close}: `{data}` never pushed"));
            assert_eq!(push["meta"]["msg_type"], "zwsx.psrq", "{push}");
            assert_eq!(
                (push["data"]["data"].as_str(), push["data"]["sub_key"].as_str()),
                (Some(data), Some(&*key))
            );
        }
        let (status, stored) = node.admin().get(&format!("/admin/v1/subscriptions/{key}"));
        assert_eq!(status, 200, "unsub_on_wsx_close={unsub_on_wsx_close}: {stored}");
        assert_eq!(listed_sub_keys(&node), vec![key.clone()]);
        let listed = sessions(&node, &channel);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["subscriptions"], json!([key]));

        // The session that holds it does release it.
        second.socket.close(None).ok();
        assert_eq!(second.recv_close(), Some(1000));
        if unsub_on_wsx_close {
            eventually("the subscription ended with its holder", 10, || listed_sub_keys(&node).is_empty());
            assert_refused(
                &node.admin().get(&format!("/admin/v1/subscriptions/{key}")),
                404,
                &format!("no subscription `{key}`"),
            );
        } else {
            eventually("the second session closed", 10, || {
                metric(&node, "signalbox_wsx_closes_total{code=\"1000\"}") == Some(2.0)
            });
            assert_eq!(listed_sub_keys(&node), vec![key.clone()]);
        }
    }
}

/// Sub keys in a stopped node's database, sorted: what the node left behind, before a restart
/// could change anything.
fn stored_sub_keys(node: &Node) -> Vec<String> {
    Db::of(node).texts("SELECT sub_key AS value FROM pubsub_sub ORDER BY sub_key")
}

/// A WSX client subscribed to `/away/ends` (ends with its connection: the default) and to
/// `/away/stays` (`unsub_on_wsx_close: false`); answers the client, the two sub keys and the
/// endpoint's password.
fn ending_and_staying_subscriptions(node: &Node) -> (WsxClient, String, String, String) {
    let password = wsx_setup(node, "away", "/away/*").password;
    for name in ["/away/ends", "/away/stays"] {
        topic(node, json!({"name": name}));
    }
    let mut ws = WsxClient::connect(node, "/wsx/away");
    ws.login("away-client", &password);
    let mut keys = Vec::new();
    for request in [
        json!({"topic_name": "/away/ends"}),
        json!({"topic_name": "/away/stays", "unsub_on_wsx_close": false}),
    ] {
        let (sub, _) = ws.invoke("zato.pubsub.pubapi.subscribe-wsx", request);
        assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
        keys.push(sub["data"]["sub_key"].as_str().unwrap().to_owned());
    }
    let (ends, stays) = (keys[0].clone(), keys[1].clone());
    let mut both = vec![ends.clone(), stays.clone()];
    both.sort();
    assert_eq!(listed_sub_keys(node), both);
    (ws, ends, stays, password)
}

#[test]
fn sigterm_closes_wsx_clients_with_1001_and_ends_the_subscriptions_that_end_with_them() {
    let mut node = Node::start(Backend::Sqlite);
    let (mut ws, ends, stays, password) = ending_and_staying_subscriptions(&node);
    let sigterm_at = std::time::Instant::now();
    let client = std::thread::spawn(move || {
        let code = ws.recv_close();
        (code, sigterm_at.elapsed())
    });
    let status = node.terminate();
    let (code, closed_after) = client.join().unwrap();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    assert_eq!(code, Some(1001), "close code the client heard");
    assert!(closed_after < Duration::from_secs(5), "1001 came {closed_after:?} after SIGTERM");
    // Ended by the stopping node itself, not left for the next start-up to find.
    assert_eq!(stored_sub_keys(&node), vec![stays.clone()]);

    node.restart();
    assert_eq!(listed_sub_keys(&node), vec![stays.clone()]);
    assert_refused(
        &node.admin().get(&format!("/admin/v1/subscriptions/{ends}")),
        404,
        &format!("no subscription `{ends}`"),
    );
    // The one that stays is there to resume.
    let mut ws = WsxClient::connect(&node, "/wsx/away");
    ws.login("away-client", &password);
    let (resumed, _) = ws.invoke("zato.pubsub.resume-wsx-subscription", json!({"sub_key": stays}));
    assert_eq!(resumed["meta"]["msg_type"], "zwsx.rspok", "{resumed}");
}

#[test]
fn after_a_kill_start_up_ends_the_subscriptions_that_end_with_their_connection() {
    let mut node = Node::start(Backend::Sqlite);
    let (ws, ends, stays, _) = ending_and_staying_subscriptions(&node);
    node.kill9();
    drop(ws);
    // The killed node could end nothing: both are still stored.
    let mut both = vec![ends.clone(), stays.clone()];
    both.sort();
    assert_eq!(stored_sub_keys(&node), both);

    node.restart();
    assert_eq!(listed_sub_keys(&node), vec![stays.clone()]);
    assert_refused(
        &node.admin().get(&format!("/admin/v1/subscriptions/{ends}")),
        404,
        &format!("no subscription `{ends}`"),
    );
    let (status, stored) = node.admin().get(&format!("/admin/v1/subscriptions/{stays}"));
    assert_eq!((status, stored["topic_name"].as_str()), (200, Some("/away/stays")), "{stored}");
}

/// A client on `/wsx/pings` (with the smallest output budget, 4 MiB) that logs in, then sends
/// pings and never reads a pong, until the node cuts it off with 1008 or 400,000 pings went;
/// answers the client, its password and how many pings it sent.
fn ping_flood(node: &Node) -> (WsxClient, String, usize) {
    let channel = wsx_setup(node, "pings", "/pings");
    node.admin().patch_ok(&channel.admin_path(), &json!({"max_frame_size": 65536}));
    let mut flooder = WsxClient::connect(node, "/wsx/pings");
    flooder.login("pings-client", &channel.password);
    // A write that waits this long: the node no longer reads.
    flooder.socket.get_ref().set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    // A small receive buffer, and pings with the largest payload a control frame takes: the
    // pongs fill the socket buffers within seconds, and what the node cannot write piles up.
    let small: libc::c_int = 4096;
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(flooder.socket.get_ref()),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &small as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_RCVBUF");
    let ping = tungstenite::Message::Ping(vec![b'p'; 125].into());
    let mut sent = 0usize;
    while sent < 400_000 && metric(node, "signalbox_wsx_closes_total{code=\"1008\"}").is_none() {
        let burst = (0..1000).all(|_| flooder.socket.write(ping.clone()).is_ok());
        if !burst || flooder.socket.flush().is_err() {
            break; // the node stopped reading
        }
        sent += 1000;
    }
    (flooder, channel.password, sent)
}

#[test]
fn a_client_flooding_pings_without_reading_the_pongs_is_closed_with_1008_and_the_node_stays_healthy() {
    let mut node = Node::start(Backend::Sqlite);
    let started = std::time::Instant::now();
    let (flooder, password, sent) = ping_flood(&node);
    let cut_off = || metric(&node, "signalbox_wsx_closes_total{code=\"1008\"}") == Some(1.0);
    eventually("the flooder closed with 1008", 30, cut_off);
    let closed_after = started.elapsed();
    println!("ping flood: {sent} pings sent, closed with 1008 {closed_after:?} after the flood began");
    assert!(closed_after < Duration::from_secs(30), "closed {closed_after:?} after the flood began");
    // Cut off for the pongs it left unread, counted against the budget, not for a stalled write.
    let log = node.log();
    let cut: Vec<&str> = log.lines().filter(|l| l.contains("event=wsx_slow_consumer")).collect();
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert!(cut[0].contains("unsent_bytes="), "{}", cut[0]);

    assert!(node.is_running(), "the node exited:\n{}", node.log());
    assert_eq!(node.http().get("/health").0, 200);
    let mut other = WsxClient::connect(&node, "/wsx/pings");
    other.login("pings-client", &password);
    let (echo, _) = other.invoke("helpers.echo", json!("still here"));
    assert_eq!(echo["data"], "still here");
    assert_eq!(metric(&node, "signalbox_wsx_closes_total{code=\"1008\"}"), Some(1.0), "others were cut off");
    drop(flooder);
}

/// The client's own view of its TCP connection (`TCP_ESTABLISHED` is 1).
fn tcp_state(ws: &WsxClient) -> u8 {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let got = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(ws.socket.get_ref()),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut libc::tcp_info as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(got, 0, "TCP_INFO");
    info.tcpi_state
}

#[test]
fn a_client_cut_off_for_unread_pongs_loses_its_connection_although_it_never_reads() {
    let node = Node::start(Backend::Sqlite);
    let (flooder, _, _) = ping_flood(&node);
    eventually("the flooder closed with 1008", 30, || {
        metric(&node, "signalbox_wsx_closes_total{code=\"1008\"}") == Some(1.0)
    });
    // Cut off means the socket goes too (reset or FIN), not only the session: a connection
    // left open holds the unread bytes in the node's buffers for as long as the client likes.
    eventually("the node closing the flooder's TCP connection", 15, || tcp_state(&flooder) != 1);
}
