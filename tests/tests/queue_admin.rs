//! Admins and queued messages: browse, edit in place, delete, clear, publish as an endpoint —
//! over the API and the CLI, for GD and in-RAM messages.

use signalbox_tests::*;

#[test]
fn the_queue_browser_shows_gd_and_ram_messages_in_delivery_order_with_paging() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/browse", json!({}), "app");
        let key = ps.subscribe(json!({}));
        ps.publish_ok(json!({"data": "ram-5"}));
        ps.publish_ok(json!({"data": "gd-9", "priority": 9, "has_gd": true}));
        ps.publish_ok(json!({"data": "gd-5", "has_gd": true}));
        let last = ps.publish_ok(json!({"data": "ram-1", "priority": 1}));
        let (status, queue) = node.admin().get(&format!("/admin/v1/subscriptions/{key}/queue"));
        assert_eq!(status, 200, "{queue}");
        assert_eq!(
            datas(queue.as_array().unwrap()),
            vec![json!("gd-9"), json!("ram-5"), json!("gd-5"), json!("ram-1")]
        );
        let (status, page) =
            node.admin().get(&format!("/admin/v1/subscriptions/{key}/queue?limit=2&offset=1"));
        assert_eq!(status, 200, "{page}");
        assert_eq!(datas(page.as_array().unwrap()), vec![json!("ram-5"), json!("gd-5")]);
        let (status, topic) = node.admin().get(&format!("/admin/v1/topics/{}", ps.topic_id));
        assert_eq!(status, 200, "{topic}");
        assert_eq!(topic["depth_gd"], 2);
        assert_eq!(topic["depth_non_gd"], 2);
        assert_eq!(topic["subscriptions"], 1);
        assert_eq!(topic["last_pub_msg_id"], last.as_str());
        // Browsing takes nothing: all four are still there to pull, in the same order.
        assert_eq!(datas(&ps.pull(None)), datas(queue.as_array().unwrap()));
        assert_refused(
            &node.admin().get("/admin/v1/subscriptions/zpsk.rest.none/queue"),
            404,
            "no subscription `zpsk.rest.none`",
        );
    }
}

#[test]
fn a_message_edited_in_place_reaches_the_subscriber_edited() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/edit", json!({}), "app");
        let key = ps.subscribe(json!({}));
        let gd = ps.publish_ok(json!({"data": "old gd", "has_gd": true, "priority": 1}));
        let ram = ps.publish_ok(json!({"data": "old ram", "priority": 5}));
        let (status, edited) = node.admin().patch(
            &format!("/admin/v1/messages/{gd}"),
            &json!({"data": {"new": true}, "priority": 9, "correl_id": "c-1", "expiration": 600, "exp_from_now": true}),
        );
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["priority"], 9);
        let (status, edited_ram) =
            node.admin().patch(&format!("/admin/v1/messages/{ram}"), &json!({"data": "new ram"}));
        assert_eq!((status, &edited_ram["data"]), (200, &json!("new ram")), "{edited_ram}");
        let (status, shown) = node.admin().get(&format!("/admin/v1/messages/{gd}"));
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["data"], json!({"new": true}));
        assert_eq!(shown["sub_keys"], json!([key]));

        let got = ps.pull(None);
        assert_eq!(datas(&got), vec![json!({"new": true}), json!("new ram")]);
        assert_eq!(got[0]["correl_id"], "c-1");
        assert_eq!(got[0]["expiration"], 600);

        assert_refused(
            &node.admin().patch(&format!("/admin/v1/messages/{gd}"), &json!({"priority": 3})),
            404,
            &format!("no queued message `{gd}`"),
        );
        assert_refused(
            &node.admin().patch("/admin/v1/messages/zpsm-x", &json!({"priority": 30})),
            400,
            "priority outside of allowed range 1-9",
        );
        let (status, body) = node.admin().patch("/admin/v1/messages/zpsm-x", &json!({"bogus": 1}));
        assert_error(&(status, body.clone()), 400);
        assert!(
            body["details"].as_str().unwrap().starts_with("invalid request body: unknown field `bogus`"),
            "{body}"
        );
    }
}

#[test]
fn deleting_a_message_and_clearing_queues_and_topics_removes_them_everywhere() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/del", json!({}), "app");
        let key = ps.subscribe(json!({}));
        let gd = ps.publish_ok(json!({"data": "gd", "has_gd": true}));
        let ram = ps.publish_ok(json!({"data": "ram"}));
        ps.publish_ok(json!({"data": "kept"}));
        assert_eq!(node.admin().delete(&format!("/admin/v1/messages/{gd}")).0, 200);
        assert_eq!(node.admin().delete(&format!("/admin/v1/messages/{ram}")).0, 200);
        assert_refused(
            &node.admin().delete(&format!("/admin/v1/messages/{gd}")),
            404,
            &format!("no queued message `{gd}`"),
        );
        assert_eq!(datas(&ps.pull(None)), vec![json!("kept")]);

        ps.publish_ok(json!({"data": "a", "has_gd": true}));
        ps.publish_ok(json!({"data": "b"}));
        let (status, cleared) =
            node.admin().post(&format!("/admin/v1/subscriptions/{key}/clear"), &json!({}));
        assert_eq!((status, &cleared["deleted"]), (200, &json!(2)), "{cleared}");
        assert_eq!(ps.pull(None), Vec::<Value>::new());

        ps.publish_ok(json!({"data": "c", "has_gd": true}));
        ps.publish_ok(json!({"data": "d"}));
        let (status, cleared) =
            node.admin().post(&format!("/admin/v1/topics/{}/clear", ps.topic_id), &json!({}));
        assert_eq!(status, 200, "{cleared}");
        assert_eq!(ps.pull(None), Vec::<Value>::new());
        let (_, topic) = node.admin().get(&format!("/admin/v1/topics/{}", ps.topic_id));
        assert_eq!(topic["depth_gd"], 0);
        assert_eq!(topic["depth_non_gd"], 0);
    }
}

#[test]
fn admins_publish_as_an_endpoint_that_may_publish() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/as", json!({}), "app");
    ps.subscribe(json!({}));
    let path = format!("/admin/v1/topics/{}/publish", ps.topic_id);
    let (status, body) =
        node.admin().post(&path, &json!({"endpoint": "app", "data": "from admin", "priority": 7}));
    assert_eq!(status, 200, "{body}");
    let msg_id = body["msg_id"].as_str().unwrap().to_owned();
    assert!(msg_id.starts_with("zpsm"), "{body}");
    node.admin().post_ok(
        "/admin/v1/endpoints",
        &json!({"name": "reader", "role": "sub-only", "topic_patterns": ["sub=/as"]}),
    );
    assert_refused(
        &node.admin().post(&path, &json!({"endpoint": "reader", "data": "x"})),
        400,
        "endpoint `reader` may not publish to `/as` (role or `pub=` patterns)",
    );
    assert_refused(
        &node.admin().post(&path, &json!({"endpoint": "nobody", "data": "x"})),
        400,
        "no endpoint named `nobody`",
    );
    assert_refused(&node.admin().post(&path, &json!({"endpoint": "app"})), 400, "`data` is required");
    let got = ps.pull(None);
    assert_eq!(datas(&got), vec![json!("from admin")]);
    assert_eq!((&got[0]["msg_id"], &got[0]["priority"]), (&json!(msg_id), &json!(7)));
}

#[test]
fn the_cli_publishes_browses_edits_and_deletes_messages() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/cli", json!({}), "app");
    let key = ps.subscribe(json!({}));
    let (code, out, err) =
        node.cli(&["--json", "publish", "/cli", r#"{"n": 1}"#, "--as", "app", "--gd", "--priority", "8"]);
    assert_eq!(code, 0, "{err}");
    let msg_id = serde_json::from_str::<Value>(&out).unwrap()["msg_id"].as_str().unwrap().to_owned();
    let (code, _, err) = node.cli(&["publish", "/cli", "plain text", "--as", "app"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = node.cli(&["--json", "queue", "browse", &key]);
    assert_eq!(code, 0, "{err}");
    let queue: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(datas(queue.as_array().unwrap()), vec![json!({"n": 1}), json!("plain text")]);
    assert_eq!((&queue[0]["msg_id"], &queue[0]["priority"]), (&json!(msg_id), &json!(8)));

    let (code, _, err) = node.cli(&["msg", "edit", &msg_id, r#"data={"n": 2}"#]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = node.cli(&["--json", "msg", "show", &msg_id]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["data"], json!({"n": 2}));
    assert_eq!(node.cli(&["msg", "delete", &msg_id]).0, 0);
    let (code, _, err) = node.cli(&["msg", "show", &msg_id]);
    assert_eq!((code, err), (1, format!("signalbox: 404: no queued message `{msg_id}`\n")));
    let (code, out, err) = node.cli(&["--json", "queue", "dead-letters", &key]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "[]");
    assert_eq!(node.cli(&["topic", "clear", "/cli"]).0, 0);
    assert_eq!(ps.pull(None), Vec::<Value>::new(), "the topic was not cleared");
}
