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
    assert_error(&node.http().get("/wsx/nowhere"), 404);
    assert_error(&node.http().get("/wsx/slow"), 400);
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
    std::thread::sleep(Duration::from_millis(1500));
    // The client never read, so it could answer no ping: the server must have closed it with 4002.
    let (_, text, _) = node.http().raw("GET", "/metrics", None);
    assert!(text.as_str().unwrap().contains("signalbox_wsx_closes_total{code=\"4002\"} 1"), "no 4002 close");
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
        assert_error(&node.admin().get(&format!("/admin/v1/subscriptions/{key}")), 404);
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
    let first = ws.recv();
    let first_data: Vec<Value> =
        first["data"].as_array().map(|l| datas(l)).unwrap_or_else(|| vec![first["data"]["data"].clone()]);
    assert_eq!(first_data[0], "a");
    // No ack: the same push comes again, delivery_count 2.
    let again = ws.recv();
    let again_first = again["data"].as_array().map(|l| l[0].clone()).unwrap_or(again["data"].clone());
    assert_eq!(again_first["data"], "a");
    assert_eq!(again_first["delivery_count"], 2);
    ws.respond(again["meta"]["id"].as_str().unwrap(), json!("ok"));
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
        std::thread::sleep(Duration::from_millis(300));
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
    assert_error(&node.admin().delete(&format!("/admin/v1/sessions/{session_id}")), 404);
    let (_, text, _) = node.http().raw("GET", "/metrics", None);
    assert!(text.as_str().unwrap().contains("signalbox_wsx_closes_total"));
}

#[test]
fn channels_are_validated_and_managed_from_the_cli() {
    let node = Node::start(Backend::Sqlite);
    let admin = node.admin();
    assert_error(&admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/other/x"})), 400);
    assert_error(&admin.post("/admin/v1/channels", &json!({"name": "x"})), 400);
    assert_error(&admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/wsx/_cluster"})), 400);
    assert_error(
        &admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/wsx/x", "ping_interval": 0})),
        400,
    );
    let (status, c) = admin.post("/admin/v1/channels", &json!({"name": "x", "path": "/wsx/x"}));
    assert_eq!(status, 201);
    assert_eq!(c["service"], "helpers.web-sockets-gateway");
    assert_eq!(c["new_token_wait_time"], 5.0);
    assert_eq!(c["ping_interval"], 45.0);
    assert!(c["allowed_services"].as_array().unwrap().contains(&json!("zato.pubsub.pubapi.publish-message")));
    assert_error(&admin.post("/admin/v1/channels", &json!({"name": "y", "path": "/wsx/x"})), 409);
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
    let closed = |node: &Node| {
        let (_, text, _) = node.http().raw("GET", "/metrics", None);
        text.as_str().unwrap().contains("signalbox_wsx_closes_total{code=\"1008\"} 1")
    };
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
