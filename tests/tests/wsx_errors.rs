//! The WSX error paths, each pinned to its exact answer over a real socket: frames the protocol
//! does not carry (binary, fragments out of order, unmasked), calls that are incomplete or not
//! the caller's to make, logins that are not this channel's, a client that never answers its
//! server, and the close codes each ends with.

use std::io::Write;
use std::time::{Duration, Instant};

use signalbox_tests::*;

/// What Zato's Forbidden says, in `zwsx.merr` data and in refused pub/sub calls.
const FORBIDDEN: &str = "You are not authorized to access this resource";

/// One WebSocket frame as raw bytes: `head` is FIN/RSV/opcode; masked as clients must, or not.
fn raw_frame(head: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut frame = vec![head];
    match payload.len() {
        n if n < 126 => frame.push(n as u8 | mask_bit),
        n => {
            frame.push(126 | mask_bit);
            frame.extend_from_slice(&u16::try_from(n).expect("at most 64 KiB").to_be_bytes());
        }
    }
    if masked {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// FIN + text, FIN clear + text or binary, FIN + continuation, continuation alone, FIN + ping.
const TEXT: u8 = 0x81;
const FIRST_TEXT_FRAGMENT: u8 = 0x01;
const FIRST_BINARY_FRAGMENT: u8 = 0x02;
const LAST_FRAGMENT: u8 = 0x80;
const MIDDLE_FRAGMENT: u8 = 0x00;
const PING: u8 = 0x89;

/// An `invoke-service` frame as text, for frames built by hand.
fn echo_frame(token: Option<&str>, id: &str, request: Value) -> String {
    json!({"meta": {"action": "invoke-service", "id": id, "token": token},
           "data": {"service": "helpers.echo", "request": request}})
    .to_string()
}

/// The `zwsx.rsperr` a call was refused with: its status, message and `in_reply_to`.
#[track_caller]
fn assert_rsperr(frame: &Value, status: u64, message: &str, in_reply_to: Option<&str>) {
    assert_eq!(frame["meta"]["msg_type"], "zwsx.rsperr", "{frame}");
    assert_eq!(frame["meta"]["status"], status, "{frame}");
    assert_eq!(frame["meta"]["error_message"], message, "{frame}");
    assert_eq!(frame["meta"]["in_reply_to"].as_str(), in_reply_to, "{frame}");
    assert!(frame["data"]["cid"].as_str().is_some_and(|c| !c.is_empty()), "{frame}");
}

/// The connection answers a call: it is still open and its session still good.
#[track_caller]
fn assert_still_serving(ws: &mut WsxClient) {
    let (echo, pushes) = ws.invoke("helpers.echo", json!("still here"));
    assert_eq!(pushes, Vec::<Value>::new(), "frames nobody asked for");
    assert_eq!((&echo["meta"]["msg_type"], &echo["data"]), (&json!("zwsx.rspok"), &json!("still here")));
}

/// The sessions an admin sees on a channel.
fn sessions(node: &Node, channel: &WsxChannel) -> Vec<Value> {
    let (status, list) = node.admin().get(&format!("{}/sessions", channel.admin_path()));
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[test]
fn a_binary_frame_is_refused_with_400_before_and_after_login_and_the_connection_goes_on() {
    let node = Node::start(Backend::Sqlite);
    let password = wsx_setup(&node, "bin", "/bin").password;
    let mut ws = WsxClient::connect(&node, "/wsx/bin");
    ws.socket.send(tungstenite::Message::Binary(b"{\"meta\": {}}".to_vec().into())).unwrap();
    let refused = ws.recv();
    assert_rsperr(&refused, 400, "only JSON text frames are supported", None);
    ws.login("bin-client", &password);

    // A binary frame holding a perfectly good call is not run.
    let call = echo_frame(ws.token.as_deref(), "in-binary", json!("run me"));
    ws.socket.send(tungstenite::Message::Binary(call.into_bytes().into())).unwrap();
    let refused = ws.recv();
    assert_rsperr(&refused, 400, "only JSON text frames are supported", None);
    assert_still_serving(&mut ws);
    assert_eq!(metric(&node, "signalbox_wsx_closes_total{code=\"1002\"}"), None);
}

#[test]
fn an_invoke_without_data_service_is_refused_with_400_naming_the_field() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "nosvc", "/nosvc");
    let mut ws = channel.logged_in(&node);
    let bodies = [
        ("no-data", None),
        ("request-only", Some(json!({"request": {"a": 1}}))),
        ("service-null", Some(json!({"service": null, "request": {}}))),
        ("service-number", Some(json!({"service": 7, "request": {}}))),
        ("data-a-string", Some(json!("helpers.echo"))),
    ];
    for (id, data) in bodies {
        let mut frame = json!({"meta": {"action": "invoke-service", "id": id, "token": ws.token}});
        if let Some(data) = data {
            frame["data"] = data;
        }
        ws.send(&frame);
        assert_rsperr(&ws.recv(), 400, "`data.service` is required", Some(id));
    }
    // An empty name is a name, and not an allowed one.
    ws.send(&json!({"meta": {"action": "invoke-service", "id": "empty", "token": ws.token},
                    "data": {"service": ""}}));
    assert_rsperr(&ws.recv(), 403, "service `` is not allowed on this channel", Some("empty"));
    assert_still_serving(&mut ws);
}

#[test]
fn a_client_response_to_an_unknown_id_is_ignored_and_acknowledges_nothing() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "reply", "/reply");
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/reply"}));
    let mut ws = channel.logged_in(&node);

    // Nothing is answered: the next frame is the reply to the call sent after it.
    ws.respond("zwsx.not-a-request", json!("hello?"));
    ws.send(&json!({"meta": {"action": "client-response", "id": "no-reply-to", "token": ws.token},
                    "data": {"response": 1}}));
    assert_still_serving(&mut ws);
    // Without the session's token it is Forbidden, as every other frame is.
    ws.send(&json!({"meta": {"action": "client-response", "id": "r1", "in_reply_to": "zwsx.x"}, "data": {}}));
    let refused = ws.recv();
    assert_eq!(refused["meta"]["msg_type"], "zwsx.merr", "{refused}");
    assert_eq!((&refused["meta"]["status"], &refused["meta"]["in_reply_to"]), (&json!(403), &json!("r1")));

    // With a push awaiting its answer, a response naming another id does not acknowledge it:
    // it comes again once its ack_timeout runs out.
    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/reply", "ack_mode": "explicit", "ack_timeout": 0.5}),
    );
    assert_eq!(sub["meta"]["status"], 200, "{sub}");
    let (published, pushes) =
        ws.invoke("zato.pubsub.pubapi.publish-message", json!({"topic_name": "/reply", "data": "once"}));
    let msg_id = published["data"]["msg_id"].as_str().expect("msg_id").to_owned();
    let push = match pushes.into_iter().next() {
        Some(push) => push,
        None => ws.recv(),
    };
    assert_eq!((&push["meta"]["msg_type"], &push["meta"]["id"]), (&json!("zwsx.psrq"), &json!(msg_id)));
    assert_eq!(push["data"]["delivery_count"], 1);
    ws.respond(&format!("{msg_id}-not"), json!("ok"));
    let again = ws.recv();
    assert_eq!(
        (&again["meta"]["id"], &again["data"]["delivery_count"]),
        (&json!(msg_id), &json!(2)),
        "{again}"
    );
    ws.respond(&msg_id, json!("ok"));
    assert_still_serving(&mut ws);
}

#[test]
fn a_second_create_session_renews_the_token_and_keeps_the_endpoint_it_logged_in_as() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "again", "/again/**");
    let password = channel.password.clone();
    // A second endpoint of the same channel, allowed what the first is not.
    let other =
        channel.another_endpoint(&node, "again-other", json!({"topic_patterns": ["pub=/**", "sub=/**"]}));
    let other_password = other.password.clone();
    let mut ws = channel.logged_in(&node);
    let first_token = ws.token.clone().expect("token");

    // The same endpoint again: a new token, and the old one is no longer accepted.
    let renewed = ws.login("again-client", &password);
    assert_eq!(
        (&renewed["meta"]["msg_type"], &renewed["meta"]["status"]),
        (&json!("zwsx.rspa"), &json!(200))
    );
    let second_token = ws.token.clone().expect("token");
    assert_ne!(first_token, second_token, "a repeated create-session issues a new token");
    ws.send_text(&echo_frame(Some(&first_token), "old", json!(1)));
    let refused = ws.recv();
    assert_eq!(
        (&refused["meta"]["msg_type"], &refused["meta"]["in_reply_to"]),
        (&json!("zwsx.merr"), &json!("old"))
    );
    assert_eq!(refused["data"], FORBIDDEN);
    assert_still_serving(&mut ws);

    // Wrong credentials on a live session: Forbidden, and the session goes on as it was.
    let denied = ws.try_login("again-client", "wrong password");
    assert_eq!((&denied["meta"]["msg_type"], &denied["data"]), (&json!("zwsx.merr"), &json!(FORBIDDEN)));
    assert_eq!(ws.token.as_deref(), Some(second_token.as_str()));
    assert_still_serving(&mut ws);

    // Another endpoint's good credentials: Forbidden too — a connection is one endpoint's, the
    // one its subscriptions and revocations are bound to.
    let switched = ws.try_login("again-other", &other_password);
    assert_eq!((&switched["meta"]["msg_type"], &switched["data"]), (&json!("zwsx.merr"), &json!(FORBIDDEN)));
    assert_eq!(ws.token.as_deref(), Some(second_token.as_str()));
    assert_still_serving(&mut ws);
    let listed = sessions(&node, &channel);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["endpoint"], "again-client");
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/elsewhere"}));
    let elsewhere = json!({"topic_name": "/elsewhere", "data": 1});
    let (publish, _) = ws.invoke("zato.pubsub.pubapi.publish-message", elsewhere.clone());
    assert_rsperr(&publish, 403, FORBIDDEN, publish["meta"]["in_reply_to"].as_str());
    // What again-other may do, on a connection of its own: the refusal above is again-client's.
    let mut other = other.logged_in(&node);
    let (allowed, _) = other.invoke("zato.pubsub.pubapi.publish-message", elsewhere);
    assert_eq!(
        (&allowed["meta"]["msg_type"], &allowed["meta"]["status"]),
        (&json!("zwsx.rspok"), &json!(200)),
        "{allowed}"
    );
}

#[test]
fn an_endpoint_of_another_channel_or_of_none_cannot_log_in_here() {
    let node = Node::start(Backend::Sqlite);
    let here = wsx_setup(&node, "here", "/here");
    let there = wsx_setup(&node, "there", "/there");
    let rest = PubSub::setup(&node, "/rest", json!({}), "rest-app");

    let mut ws = WsxClient::connect(&node, "/wsx/here");
    for (username, secret) in
        [("there-client", there.password.as_str()), ("rest-app", rest.password.as_str())]
    {
        let refused = ws.try_login(username, secret);
        assert_eq!(refused["meta"]["msg_type"], "zwsx.merr", "{username}: {refused}");
        assert_eq!((&refused["meta"]["status"], &refused["data"]), (&json!(403), &json!(FORBIDDEN)));
        assert_eq!(ws.token, None, "{username} got a token");
        // Not logged in: a call with no token is Forbidden.
        ws.send_text(&echo_frame(None, "call", json!(1)));
        let refused = ws.recv();
        assert_eq!(
            (&refused["meta"]["msg_type"], &refused["meta"]["in_reply_to"], &refused["data"]),
            (&json!("zwsx.merr"), &json!("call"), &json!(FORBIDDEN)),
            "{refused}"
        );
    }
    assert_eq!(sessions(&node, &here), Vec::<Value>::new());
    // The right endpoint on the same connection still can; the other one on its own channel too.
    ws.login("here-client", &here.password);
    assert_still_serving(&mut ws);
    let mut theirs = there.logged_in(&node);
    assert_still_serving(&mut theirs);
}

#[test]
fn a_subscribe_its_sub_patterns_forbid_is_refused_with_403_and_creates_nothing() {
    let node = Node::start(Backend::Sqlite);
    // May publish anywhere under /news, subscribe only under /news/public.
    let channel = wsx_setup_with(
        &node,
        "news",
        json!({}),
        json!({"topic_patterns": ["pub=/news/**", "sub=/news/public/*"]}),
    );
    for name in ["/news/private", "/news/public/a"] {
        node.admin().post_ok("/admin/v1/topics", &json!({"name": name}));
    }
    let mut ws = channel.logged_in(&node);

    let subscribe = |ws: &mut WsxClient, service: &str, request: Value| ws.invoke(service, request).0;
    for (service, request) in [
        ("zato.pubsub.pubapi.subscribe-wsx", json!({"topic_name": "/news/private"})),
        ("zato.pubsub.subscription.create-wsx-subscription", json!({"topic_name": "/news/private"})),
        // A topic that does not exist is refused alike: existence is not revealed.
        ("zato.pubsub.pubapi.subscribe-wsx", json!({"topic_name": "/news/public/none"})),
        // One forbidden name refuses the whole list, the allowed ones before it included.
        (
            "zato.pubsub.subscription.create-wsx-subscription",
            json!({"topic_name_list": ["/news/public/a", "/news/private"]}),
        ),
    ] {
        let refused = subscribe(&mut ws, service, request.clone());
        let id = refused["meta"]["in_reply_to"].as_str().map(str::to_owned);
        assert_rsperr(&refused, 403, FORBIDDEN, id.as_deref());
        let (status, subs) = node.admin().get("/admin/v1/subscriptions");
        assert_eq!((status, subs), (200, json!([])), "{service} {request} left a subscription behind");
    }
    assert_eq!(sessions(&node, &channel)[0]["subscriptions"], json!([]));
    // Publishing there is allowed (`pub=`), and subscribing where `sub=` allows works.
    let (published, _) =
        ws.invoke("zato.pubsub.pubapi.publish-message", json!({"topic_name": "/news/private", "data": 1}));
    assert_eq!(published["meta"]["status"], 200, "{published}");
    let ok = subscribe(&mut ws, "zato.pubsub.pubapi.subscribe-wsx", json!({"topic_name": "/news/public/a"}));
    assert_eq!(ok["meta"]["status"], 200, "{ok}");
    assert!(ok["data"]["sub_key"].as_str().is_some_and(|k| k.starts_with("zpsk.wsx")), "{ok}");
}

#[test]
fn an_admin_invoke_of_a_client_that_never_answers_is_a_504_after_5_s_and_the_session_goes_on() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "mute", "/mute");
    let mut ws = channel.logged_in(&node);
    let session_id = sessions(&node, &channel)[0]["session_id"].as_str().unwrap().to_owned();
    let invoke = |body: Value| {
        let (admin, path) = (node.admin(), format!("/admin/v1/sessions/{session_id}/invoke"));
        std::thread::spawn(move || {
            let started = Instant::now();
            (admin.post(&path, &body), started.elapsed())
        })
    };

    let caller = invoke(json!({"question": 1}));
    let request = ws.recv();
    assert_eq!(
        (&request["meta"]["msg_type"], &request["data"]),
        (&json!("zwsx.rqc"), &json!({"question": 1}))
    );
    assert_eq!(request["meta"].get("status"), None, "a server request carries no status: {request}");
    let (answer, waited) = caller.join().unwrap();
    assert_refused(&answer, 504, "the client did not answer within 5 s");
    assert!(waited >= Duration::from_millis(4900), "gave up after {waited:?}");
    assert!(waited < Duration::from_secs(15), "gave up after {waited:?}");

    // The late answer is dropped; the connection and the next request are unaffected.
    ws.respond(request["meta"]["id"].as_str().unwrap(), json!("too late"));
    assert_still_serving(&mut ws);
    let caller = invoke(json!({"question": 2}));
    let request = ws.recv();
    assert_eq!(request["data"], json!({"question": 2}));
    ws.respond(request["meta"]["id"].as_str().unwrap(), json!("in time"));
    let (answer, _) = caller.join().unwrap();
    assert_eq!(answer, (200, json!({"response": "in time"})));
}

#[test]
fn a_continuation_frame_without_a_start_closes_with_1002() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "cont", "/cont");
    let mut ws = channel.logged_in(&node);
    ws.socket.get_mut().write_all(&raw_frame(LAST_FRAGMENT, b"{\"meta\": {}}", true)).unwrap();
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1002), "{frames:?}");
    assert_eq!(frames, Vec::<Value>::new());
    eventually("the 1002 close to be counted", 10, || {
        metric(&node, "signalbox_wsx_closes_total{code=\"1002\"}") == Some(1.0)
    });
    assert_still_serving(&mut channel.logged_in(&node));
}

#[test]
fn an_unmasked_client_frame_closes_with_1002() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "unmasked", "/unmasked");
    let mut ws = channel.logged_in(&node);
    let call = echo_frame(ws.token.as_deref(), "bare", json!(1));
    ws.socket.get_mut().write_all(&raw_frame(TEXT, call.as_bytes(), false)).unwrap();
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1002), "the unmasked call was answered: {frames:?}");
    assert_eq!(frames, Vec::<Value>::new());
}

#[test]
fn a_message_sent_in_fragments_is_read_whole_and_answered_as_if_sent_in_one_frame() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "frag", "/frag");
    let mut ws = channel.logged_in(&node);
    let call = echo_frame(ws.token.as_deref(), "fragmented", json!("in three parts"));
    let (a, rest) = call.as_bytes().split_at(20);
    let (b, c) = rest.split_at(30);
    let mut wire = raw_frame(FIRST_TEXT_FRAGMENT, a, true);
    wire.extend(raw_frame(MIDDLE_FRAGMENT, b, true));
    // A ping may come between fragments (RFC 6455 §5.4).
    wire.extend(raw_frame(PING, b"between", true));
    wire.extend(raw_frame(LAST_FRAGMENT, c, true));
    ws.socket.get_mut().write_all(&wire).unwrap();
    let reply = ws.recv();
    assert_eq!(reply["meta"]["msg_type"], "zwsx.rspok", "{reply}");
    assert_eq!(
        (&reply["meta"]["in_reply_to"], &reply["data"]),
        (&json!("fragmented"), &json!("in three parts"))
    );
    assert_still_serving(&mut ws);

    // A binary message in fragments is refused once, as a whole one is.
    let mut wire = raw_frame(FIRST_BINARY_FRAGMENT, b"{\"meta\"", true);
    wire.extend(raw_frame(LAST_FRAGMENT, b": {}}", true));
    ws.socket.get_mut().write_all(&wire).unwrap();
    assert_rsperr(&ws.recv(), 400, "only JSON text frames are supported", None);
    assert_still_serving(&mut ws);
    // A fragmented message that is not UTF-8 is answered as a whole one is.
    let mut wire = raw_frame(FIRST_TEXT_FRAGMENT, b"{\"data\": \"", true);
    wire.extend(raw_frame(LAST_FRAGMENT, &[0xc3, 0x28, b'"', b'}'], true));
    ws.socket.get_mut().write_all(&wire).unwrap();
    assert_rsperr(&ws.recv(), 422, "Invalid UTF-8 bytes", None);
    assert_still_serving(&mut ws);
    // A new message started before the last one ended breaks the protocol.
    let mut wire = raw_frame(FIRST_TEXT_FRAGMENT, b"{\"meta\"", true);
    wire.extend(raw_frame(FIRST_TEXT_FRAGMENT, b"{\"meta\"", true));
    ws.socket.get_mut().write_all(&wire).unwrap();
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1002), "{frames:?}");
}

#[test]
fn frames_up_to_max_frame_size_are_read_and_one_byte_more_closes_with_1009() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "edge", "/edge");
    node.admin().patch_ok(&channel.admin_path(), &json!({"max_frame_size": 2048}));
    let mut ws = channel.logged_in(&node);
    // An echo whose frame is exactly 2048 bytes, padded in its request.
    let pad = 2048 - echo_frame(ws.token.as_deref(), "max", json!("")).len();
    let exactly = echo_frame(ws.token.as_deref(), "max", json!("x".repeat(pad)));
    assert_eq!(exactly.len(), 2048);
    ws.send_text(&exactly);
    let reply = ws.recv();
    assert_eq!(
        (&reply["meta"]["msg_type"], &reply["meta"]["in_reply_to"]),
        (&json!("zwsx.rspok"), &json!("max"))
    );
    assert_eq!(reply["data"].as_str().map(str::len), Some(pad));

    let over = echo_frame(ws.token.as_deref(), "over", json!("x".repeat(pad + 1)));
    ws.send_text(&over);
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1009), "{frames:?}");
    assert_eq!(frames, Vec::<Value>::new());

    // The same bound holds for a message sent in fragments, counted whole.
    let mut ws = channel.logged_in(&node);
    let over = echo_frame(ws.token.as_deref(), "over", json!("x".repeat(pad + 1)));
    let mut wire = Vec::new();
    let chunks: Vec<&[u8]> = over.as_bytes().chunks(100).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let head = match i {
            0 => FIRST_TEXT_FRAGMENT,
            n if n == chunks.len() - 1 => LAST_FRAGMENT,
            _ => MIDDLE_FRAGMENT,
        };
        wire.extend(raw_frame(head, chunk, true));
    }
    ws.socket.get_mut().write_all(&wire).unwrap();
    let (frames, code) = ws.frames_until_close();
    assert_eq!(code, Some(1009), "{frames:?}");
}

#[test]
fn a_client_that_never_creates_a_session_hears_forbidden_and_is_closed_with_4003() {
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "late", "/late");
    node.admin().patch_ok(&channel.admin_path(), &json!({"new_token_wait_time": 0.3}));
    let started = Instant::now();
    let mut ws = WsxClient::connect(&node, "/wsx/late");
    let (frames, code) = ws.frames_until_close();
    assert!(started.elapsed() >= Duration::from_millis(300), "closed before new_token_wait_time");
    assert_eq!(code, Some(4003), "{frames:?}");
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        (&frames[0]["meta"]["msg_type"], &frames[0]["data"]),
        (&json!("zwsx.merr"), &json!(FORBIDDEN))
    );
    assert_eq!(frames[0]["meta"]["status"], 403);
    eventually("the 4003 close to be counted", 10, || {
        metric(&node, "signalbox_wsx_closes_total{code=\"4003\"}") == Some(1.0)
    });
}
