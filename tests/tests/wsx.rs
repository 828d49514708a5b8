//! WSX channels with a real WebSocket client over a real socket: every frame type, every error
//! path, and pub/sub over WSX.

use std::time::Duration;

use signalbox_tests::*;

#[test]
fn create_session_answers_a_token_and_services_answer_rspok_with_the_reply_itself() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "gateway", "/wsx/**");
    let mut ws = WsxClient::connect(&node, "/wsx/gateway");
    let reply = ws.login("gateway-client", &password);
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
    assert_eq!(err["meta"]["msg_type"], "zwsx.rsperr");
    assert_eq!(err["meta"]["status"], 403);
    assert!(err["meta"]["error_message"].as_str().unwrap().contains("not allowed"));
    assert!(err["data"]["cid"].is_string());
}

#[test]
fn bad_frames_and_bad_tokens_are_answered_and_the_connection_and_node_stay_up() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "strict", "/s/**");
    let mut ws = WsxClient::connect(&node, "/wsx/strict");

    let denied = ws.login("strict-client", "wrong password");
    assert_eq!(denied["meta"]["msg_type"], "zwsx.merr", "{denied}");
    assert_eq!(denied["meta"]["status"], 403);
    assert_eq!(denied["data"], "You are not authorized to access this resource");

    ws.login("strict-client", &password);
    ws.send_text("{not json");
    let bad = ws.recv();
    assert_eq!(
        (bad["meta"]["msg_type"].as_str(), bad["meta"]["status"].as_u64()),
        (Some("zwsx.rsperr"), Some(400))
    );
    ws.send(&json!({"meta": {"action": "dance", "id": "x1", "token": ws.token}}));
    let unknown = ws.recv();
    assert_eq!(unknown["meta"]["status"], 400);
    assert_eq!(unknown["meta"]["in_reply_to"], "x1");
    ws.send(&json!({"meta": {"action": "invoke-service", "id": "x2"}, "data": {"service": "helpers.echo"}}));
    assert_eq!(ws.recv()["meta"]["msg_type"], "zwsx.merr", "missing token");
    ws.send(&json!({"meta": {"action": "invoke-service", "id": "x3", "token": "zwsxt.wrong"}, "data": {"service": "helpers.echo"}}));
    assert_eq!(ws.recv()["meta"]["msg_type"], "zwsx.merr", "wrong token");

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
    assert_eq!(invalid["meta"]["status"], 422, "{invalid}");
    let (still, _) = ws.invoke("helpers.echo", json!("still here"));
    assert_eq!(still["data"], "still here");
    assert_eq!(node.http().get("/health").0, 200);
}

#[test]
fn invalid_utf8_before_a_session_closes_with_4001_and_oversized_frames_with_1009() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "edge", "/e/**");
    node.admin().patch("/admin/v1/channels/1", &json!({"max_frame_size": 2048}));
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

    let mut other = WsxClient::connect(&node, "/wsx/edge");
    assert_eq!(
        other.login("edge-client", &password)["meta"]["msg_type"],
        "zwsx.rspa",
        "other connections unaffected"
    );
}

#[test]
fn a_client_that_never_creates_a_session_is_refused_and_closed_and_unknown_paths_are_404() {
    let node = Node::start(Backend::Sqlite);
    wsx_setup(&node, "slow", "/x");
    node.admin().patch("/admin/v1/channels/1", &json!({"new_token_wait_time": 0.5}));
    let mut ws = WsxClient::connect(&node, "/wsx/slow");
    let frame = ws.recv();
    assert_eq!(frame["meta"]["msg_type"], "zwsx.merr");
    assert!(ws.recv_close().is_some());
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
    let password = wsx_setup(&node, "ttl", "/x");
    node.admin().patch("/admin/v1/channels/1", &json!({"token_ttl": 1, "ping_interval": 30}));
    let mut ws = WsxClient::connect(&node, "/wsx/ttl");
    ws.login("ttl-client", &password);
    std::thread::sleep(Duration::from_millis(1300));
    let (expired, _) = ws.invoke("helpers.echo", json!(1));
    assert_eq!(expired["meta"]["msg_type"], "zwsx.merr");

    node.admin().patch(
        "/admin/v1/channels/1",
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
        let password = wsx_setup(&node, "ps", "/ps/**");
        node.admin().post("/admin/v1/topics", &json!({"name": "/ps/orders"}));
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
        node.admin().post(
            "/admin/v1/endpoints",
            &json!({"name": "rest-pub", "role": "pub-only", "topic_patterns": ["pub=/ps/orders"]}),
        );
        let (_, admin_pub) = node
            .admin()
            .post("/admin/v1/topics/1/publish", &json!({"endpoint": "rest-pub", "data": {"order": 1}}));
        let push = ws.recv();
        assert_eq!(push["meta"]["msg_type"], "zwsx.psrq", "{push}");
        assert_eq!(push["meta"]["id"], admin_pub["msg_id"]);
        assert_eq!(push["data"]["data"], json!({"order": 1}));
        assert_eq!(push["data"]["sub_key"], key.as_str());

        // WSX publisher → REST subscriber.
        rest.subscribe(json!({}));
        node.admin().patch(
            &format!("/admin/v1/endpoints/{}", rest.endpoint_id),
            &json!({"topic_patterns": ["pub=/ps/rest", "sub=/ps/rest"]}),
        );
        let (published, _) = ws.invoke(
            "zato.pubsub.pubapi.publish-message",
            json!({"topic_name": "/ps/rest", "data": "from wsx", "priority": 8}),
        );
        assert!(published["data"]["msg_id"].as_str().unwrap().starts_with("zpsm"), "{published}");
        let got = rest.pull(None);
        assert_eq!(datas(&got), vec![json!("from wsx")]);
        assert_eq!(got[0]["priority"], 8);

        let (forbidden, _) =
            ws.invoke("zato.pubsub.pubapi.publish-message", json!({"topic_name": "/elsewhere", "data": 1}));
        assert_eq!(forbidden["meta"]["status"], 403);
        let (bad, _) = ws.invoke("zato.pubsub.pubapi.publish-message", json!({"topic_name": "/ps/rest"}));
        assert_eq!(bad["meta"]["status"], 400);

        let (sessions_status, sessions) = node.admin().get("/admin/v1/channels/1/sessions");
        assert_eq!(sessions_status, 200);
        assert_eq!(sessions[0]["endpoint"], "ps-client");
        assert_eq!(sessions[0]["client_id"], "test-client");
        assert_eq!(sessions[0]["subscriptions"], json!([key]));

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
    let password = wsx_setup(&node, "bulk", "/bulk");
    node.admin().post(
        "/admin/v1/topics",
        &json!({"name": "/bulk", "max_depth_gd": 20000, "max_depth_non_gd": 20000}),
    );
    node.admin().post(
        "/admin/v1/endpoints",
        &json!({"name": "bulk-pub", "role": "pub-only", "topic_patterns": ["pub=/bulk"]}),
    );
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
        let (s, b) = node
            .admin()
            .post("/admin/v1/topics/1/publish", &json!({"endpoint": "bulk-pub", "data_list": items}));
        assert_eq!(s, 200, "{b}");
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
    let password = wsx_setup(&node, "re", "/re");
    node.admin().post("/admin/v1/topics", &json!({"name": "/re"}));
    node.admin().post(
        "/admin/v1/endpoints",
        &json!({"name": "re-pub", "role": "pub-only", "topic_patterns": ["pub=/re"]}),
    );
    let mut ws = WsxClient::connect(&node, "/wsx/re");
    ws.login("re-client", &password);
    ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/re", "ack_mode": "explicit", "ack_timeout": 0.5}),
    );
    node.admin().post(
        "/admin/v1/topics/1/publish",
        &json!({"endpoint": "re-pub", "data_list": [{"data": "a"}, {"data": "b"}]}),
    );
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
    // No ack: both come again, in order, delivery_count 2.
    let (again, ids) = messages(2);
    assert_eq!(datas(&again), vec![json!("a"), json!("b")]);
    assert!(again.iter().all(|m| m["delivery_count"] == 2), "{again:?}");
    for id in ids {
        ws.respond(&id, json!("ok"));
    }
}

#[test]
fn a_client_that_disconnects_and_resumes_receives_what_was_published_meanwhile() {
    for backend in backends() {
        let node = Node::start(backend);
        let password = wsx_setup(&node, "res", "/res");
        node.admin().post("/admin/v1/topics", &json!({"name": "/res", "has_gd": true}));
        node.admin().post(
            "/admin/v1/endpoints",
            &json!({"name": "res-pub", "role": "pub-only", "topic_patterns": ["pub=/res"]}),
        );
        let mut ws = WsxClient::connect(&node, "/wsx/res");
        ws.login("res-client", &password);
        let (sub, _) = ws.invoke(
            "zato.pubsub.pubapi.subscribe-wsx",
            json!({"topic_name": "/res", "unsub_on_wsx_close": false, "ack_mode": "explicit"}),
        );
        let key = sub["data"]["sub_key"].as_str().unwrap().to_owned();
        ws.socket.close(None).ok();
        drop(ws);
        eventually("the session to end", 10, || {
            node.admin().get("/admin/v1/channels/1/sessions").1.as_array().is_some_and(|s| s.is_empty())
        });
        for n in 0..5 {
            node.admin().post("/admin/v1/topics/1/publish", &json!({"endpoint": "res-pub", "data": n}));
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

        // Somebody else's sub_key is refused.
        let mut other = WsxClient::connect(&node, "/wsx/res");
        other.login("res-client", &password);
        let (refused, _) =
            other.invoke("zato.pubsub.resume-wsx-subscription", json!({"sub_key": "zpsk.wsx.nothing"}));
        assert_eq!(refused["meta"]["status"], 403);
    }
}

#[test]
fn admins_invoke_a_connected_client_and_disconnect_it() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "adm", "/x");
    let mut ws = WsxClient::connect(&node, "/wsx/adm");
    ws.login("adm-client", &password);
    let session_id =
        node.admin().get("/admin/v1/channels/1/sessions").1[0]["session_id"].as_str().unwrap().to_owned();
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

    let (code, out, _) = node.cli(&["channel", "sessions", "adm"]);
    assert_eq!(code, 0);
    assert!(out.contains(&session_id));
    assert_eq!(node.admin().delete(&format!("/admin/v1/sessions/{session_id}")).0, 200);
    assert!(ws.recv_close().is_some());
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
    assert_eq!(status, 201);
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
    let (_, out, _) = node.cli(&["channel", "list"]);
    assert!(out.contains("/wsx/z"));
    assert_eq!(node.cli(&["channel", "delete", "z"]).0, 0);
}

#[test]
fn a_client_that_never_reads_is_cut_off_with_1008_and_others_are_unaffected() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "flood", "/flood");
    node.admin().post("/admin/v1/topics", &json!({"name": "/flood", "max_depth_non_gd": 100000}));
    node.admin().patch("/admin/v1/channels/1", &json!({"max_frame_size": 65536}));
    node.admin().post(
        "/admin/v1/endpoints",
        &json!({"name": "flood-pub", "role": "pub-only", "topic_patterns": ["pub=/flood"]}),
    );
    let mut ws = WsxClient::connect(&node, "/wsx/flood");
    ws.login("flood-client", &password);
    ws.invoke("zato.pubsub.pubapi.subscribe-wsx", json!({"topic_name": "/flood", "delivery_batch_size": 1}));
    let payload = "x".repeat(60_000);
    let closed = |node: &Node| metric(node, "signalbox_wsx_closes_total{code=\"1008\"}") == Some(1.0);
    for _ in 0..100 {
        let items: Vec<Value> = (0..10).map(|_| json!({"data": payload})).collect();
        let (status, body) = node
            .admin()
            .post("/admin/v1/topics/1/publish", &json!({"endpoint": "flood-pub", "data_list": items}));
        assert!(status == 200 || closed(&node), "{status} {body}");
        if closed(&node) {
            break;
        }
    }
    // Pushes stay within the budget, so the cut-off comes from a write that has waited 10 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !closed(&node) {
        if std::time::Instant::now() > deadline {
            let (_, text, _) = node.http().raw("GET", "/metrics", None);
            let wsx: Vec<&str> = text
                .as_str()
                .unwrap()
                .lines()
                .filter(|l| l.contains("wsx") || l.contains("overflow") || l.contains("depth"))
                .collect();
            panic!("a client that does not read was never cut off: {wsx:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut other = WsxClient::connect(&node, "/wsx/flood");
    assert_eq!(other.login("flood-client", &password)["meta"]["msg_type"], "zwsx.rspa");
    assert_eq!(node.http().get("/health").0, 200);
    drop(ws);
}

#[test]
fn up_to_max_in_flight_pushes_may_be_unanswered_at_once() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "mif", "/mif");
    node.admin().post("/admin/v1/topics", &json!({"name": "/mif"}));
    node.admin().post(
        "/admin/v1/endpoints",
        &json!({"name": "mif-pub", "role": "pub-only", "topic_patterns": ["pub=/mif"]}),
    );
    let mut ws = WsxClient::connect(&node, "/wsx/mif");
    ws.login("mif-client", &password);
    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/mif", "ack_mode": "explicit",
        "max_in_flight": 3, "delivery_batch_size": 1, "ack_timeout": 30}),
    );
    assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
    let items: Vec<Value> = (0..5).map(|n| json!({"data": n})).collect();
    node.admin().post("/admin/v1/topics/1/publish", &json!({"endpoint": "mif-pub", "data_list": items}));
    let first: Vec<Value> = (0..3).map(|_| ws.recv()).collect();
    assert_eq!(
        first.iter().map(|p| p["data"]["data"].clone()).collect::<Vec<_>>(),
        vec![json!(0), json!(1), json!(2)]
    );
    // A fourth push waits for an answer.
    ws.socket.get_ref().set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    assert!(ws.socket.read().is_err(), "more than max_in_flight pushes were unanswered");
    ws.socket.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
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
            let password = wsx_setup(&node, "pipe", "/pipe");
            node.admin().post(
                "/admin/v1/topics",
                &json!({"name": "/pipe", "has_gd": gd, "max_depth_gd": 10000, "max_depth_non_gd": 10000}),
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

/// The next frame within `secs` (a push, when the client asked for nothing); `None` when none
/// came.
fn frame_within(ws: &mut WsxClient, secs: u64) -> Option<Value> {
    ws.socket.get_ref().set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let frame = loop {
        match ws.socket.read() {
            Ok(tungstenite::Message::Text(t)) => break Some(serde_json::from_str(&t).expect("JSON frame")),
            Ok(tungstenite::Message::Close(c)) => panic!("closed: {c:?}"),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                break None
            }
            Err(e) => panic!("read a frame: {e}"),
        }
    };
    ws.socket.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    frame
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
        let password = wsx_setup(&node, "held", "/held");
        node.admin().post("/admin/v1/topics", &json!({"name": "/held"}));
        node.admin().post(
            "/admin/v1/endpoints",
            &json!({"name": "held-pub", "role": "pub-only", "topic_patterns": ["pub=/held"]}),
        );
        let publish = |data: &str| {
            let (status, body) = node
                .admin()
                .post("/admin/v1/topics/1/publish", &json!({"endpoint": "held-pub", "data": data}));
            assert_eq!(status, 200, "{body}");
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
        first.recv_close();
        drop(first);
        eventually("the first session closed", 10, || {
            metric(&node, "signalbox_wsx_closes_total{code=\"1000\"}") == Some(1.0)
        });
        for data in ["after the close", "and once more"] {
            publish(data);
            let push = frame_within(&mut second, 5)
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
        let (_, sessions) = node.admin().get("/admin/v1/channels/1/sessions");
        assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
        assert_eq!(sessions[0]["subscriptions"], json!([key]));

        // The session that holds it does release it.
        second.socket.close(None).ok();
        second.recv_close();
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

#[derive(diesel::QueryableByName)]
struct StoredSubKey {
    #[diesel(sql_type = diesel::sql_types::Text)]
    sub_key: String,
}

/// Sub keys in a stopped node's SQLite database, sorted: what the node left behind, before a
/// restart could change anything.
fn stored_sub_keys(node: &Node) -> Vec<String> {
    use diesel::{Connection, RunQueryDsl};
    let path = node.data_dir.join("signalbox.db");
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).expect("open the database");
    let mut keys: Vec<String> = diesel::sql_query("SELECT sub_key FROM pubsub_sub")
        .load::<StoredSubKey>(&mut conn)
        .expect("read subscriptions")
        .into_iter()
        .map(|k| k.sub_key)
        .collect();
    keys.sort();
    keys
}

/// A WSX client subscribed to `/away/ends` (ends with its connection: the default) and to
/// `/away/stays` (`unsub_on_wsx_close: false`); answers the client, the two sub keys and the
/// endpoint's password.
fn ending_and_staying_subscriptions(node: &Node) -> (WsxClient, String, String, String) {
    let password = wsx_setup(node, "away", "/away/*");
    for name in ["/away/ends", "/away/stays"] {
        assert_eq!(node.admin().post("/admin/v1/topics", &json!({"name": name})).0, 201);
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
    let password = wsx_setup(node, "pings", "/pings");
    node.admin().patch("/admin/v1/channels/1", &json!({"max_frame_size": 65536}));
    let mut flooder = WsxClient::connect(node, "/wsx/pings");
    flooder.login("pings-client", &password);
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
    (flooder, password, sent)
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
    assert_eq!(other.login("pings-client", &password)["meta"]["msg_type"], "zwsx.rspa");
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
