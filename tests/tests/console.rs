//! The web console at `/admin/ui/`, end to end in a headless Chromium: what an administrator
//! clicks, checked against what the admin API and a subscriber then see. Screenshots of the
//! main screens land in `target/console-screenshots/`.

use std::time::Duration;

use signalbox_tests::browser::{Browser, UI_TIMEOUT};
use signalbox_tests::*;

/// The console's page for `hash` on `node`.
fn page(node: &Node, hash: &str) -> String {
    format!("{}/admin/ui/#/{hash}", node.url)
}

fn log_out(browser: &Browser) {
    browser.click("header.top button");
    browser.wait("form[name=login]");
}

/// The sub_key of the subscription row for `endpoint`.
fn sub_key_of(browser: &Browser, endpoint: &str) -> String {
    browser.wait("tr[data-sub-key]");
    let key = browser.script(
        "return [...document.querySelectorAll('tr[data-sub-key]')]
           .find(r => r.cells[2].textContent.trim() === arguments[0])?.dataset.subKey ?? null",
        json!([endpoint]),
    );
    key.as_str().unwrap_or_else(|| panic!("no subscription row for {endpoint}")).to_owned()
}

#[test]
fn console_publishes_edits_in_place_and_pauses_delivery_as_the_api_and_subscriber_see_it() {
    let Some(browser) = Browser::start() else { return };
    for backend in backends() {
        let node = Node::start(backend);
        let subscriber = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        let tag = format!("{backend:?}").to_lowercase();
        let shot = |name: &str| browser.screenshot(&format!("{tag}-{name}"));

        // A wrong key is refused with the API's own words, and nothing is kept.
        browser.goto(&format!("{}/admin/ui/", node.url));
        // (The check for page errors at the end sees them: a probe is reported.)
        browser.script("setTimeout(() => { throw new Error('probe error') })", json!([]));
        eventually("the probe error is reported", 5, || {
            browser.page_errors().iter().any(|m| m.contains("probe error"))
        });
        browser.fill("form[name=login] input[name=key]", "sba_not-a-key");
        browser.click("form[name=login] button[type=submit]");
        browser.wait_text("main.login .error[role=alert]", "unknown or revoked admin key");
        assert_eq!(browser.script("return sessionStorage.length", json!([])), json!(0));
        shot("login-refused");

        browser.log_in(&node.url, &node.admin_key, "admin");
        browser.wait_text("header.top .role", "admin");

        // A GD topic, created in the console.
        browser.goto(&page(&node, "topics"));
        browser.click("details.panel > summary");
        browser.fill("form[name=create-topic] input[name=name]", "/console/orders");
        browser.click("form[name=create-topic] input[name=has_gd]");
        browser.click("form[name=create-topic] button[type=submit]");
        browser.wait("tr[data-topic='/console/orders']");
        let (_, topics) = node.admin().get("/admin/v1/topics?name=/console/orders");
        assert_eq!(topics[0]["has_gd"], true, "{topics}");

        // An endpoint; its password is shown once and is the real one.
        browser.goto(&page(&node, "endpoints"));
        browser.click("details.panel > summary");
        browser.fill("form[name=create-endpoint] input[name=name]", "shop");
        browser.fill(
            "form[name=create-endpoint] textarea[name=topic_patterns]",
            "pub=/console/**\nsub=/console/**",
        );
        browser.click("form[name=create-endpoint] button[type=submit]");
        let password = browser.text(&browser.wait(".reveal output code"));
        shot("endpoints");
        let shop = node.http().basic("shop", &password);
        let (status, body) = shop.call("PATCH", "/zato/pubsub/topic//console/orders", None);
        assert_refused(&(status, body.clone()), 400, "You are not subscribed to topic `/console/orders`");
        assert!(
            body["details"].as_str().unwrap().contains("not subscribed"),
            "the revealed password works: {body}"
        );

        // A push subscription to a real HTTP subscriber, created in the console.
        browser.goto(&page(&node, "subscriptions"));
        browser.click("details.panel > summary");
        browser.select("form[name=create-subscription] select[name=topic_name]", "/console/orders");
        browser.select("form[name=create-subscription] select[name=endpoint]", "shop");
        browser.select("form[name=create-subscription] select[name=delivery_method]", "notify");
        browser.fill(
            "form[name=create-subscription] textarea[name=push]",
            &json!({"url": format!("{}/orders", subscriber.url)}).to_string(),
        );
        browser.click("form[name=create-subscription] button[type=submit]");
        browser.wait_text(".notice", "Subscribed shop to /console/orders");
        let sub_key = sub_key_of(&browser, "shop");
        shot("subscriptions");

        // Its delivery actor paused from the console.
        let actor = format!("delivery:{sub_key}");
        browser.goto(&page(&node, &format!("actors/{actor}")));
        browser.click(&format!("tr[data-actor-id='{actor}'] button[data-command=pause]"));
        browser.wait_text(&format!("tr[data-actor-id='{actor}'] [data-field=state]"), "paused");
        assert_eq!(node.admin().get(&format!("/admin/v1/actors/{actor}")).1["state"], "paused");

        // Published from the console as the endpoint.
        browser.goto(&page(&node, "topics"));
        browser.click_button("tr[data-topic='/console/orders']", "Publish");
        browser.select("form[name=publish] select[name=endpoint]", "shop");
        browser.fill("form[name=publish] textarea[name=data]", r#"{"order": 7, "state": "new"}"#);
        browser.click("form[name=publish] button[type=submit]");
        let notice = browser.wait_text(".notice", "Published zpsm");
        let msg_id = notice.split_whitespace().nth(1).unwrap().to_owned();
        browser.wait_text("tr[data-topic='/console/orders']", &msg_id);
        shot("topics");

        // Seen in the queue browser, held back by the pause.
        browser.goto(&page(&node, "subscriptions"));
        browser.click(&format!("tr[data-sub-key='{sub_key}'] a[href^='#/queue/']"));
        let row = format!("tr[data-msg-id='{msg_id}']");
        browser.wait_text(&row, r#""state":"new""#);
        browser.wait_text(&row, "GD");
        shot("queue");
        assert!(subscriber.received().is_empty(), "a paused actor delivered");

        // Edited in place from the message's page.
        browser.click(&format!("{row} a"));
        browser.wait_text("pre[data-field=data]", "new");
        browser.fill(
            "form[name=edit-message] textarea[name=data]",
            r#"{"order": 7, "state": "edited in the console"}"#,
        );
        browser.fill("form[name=edit-message] input[name=priority]", "8");
        browser.click("form[name=edit-message] button[type=submit]");
        browser.wait_text(".notice", "edited");
        browser.wait_text("pre[data-field=data]", "edited in the console");
        shot("message");
        let (_, stored) = node.admin().get(&format!("/admin/v1/messages/{msg_id}"));
        assert_eq!(stored["data"], json!({"order": 7, "state": "edited in the console"}), "{stored}");
        assert_eq!(stored["priority"], 8, "{stored}");

        // Resumed: the subscriber receives the edited message.
        browser.goto(&page(&node, &format!("actors/{actor}")));
        browser.click(&format!("tr[data-actor-id='{actor}'] button[data-command=resume]"));
        browser.wait_text(&format!("tr[data-actor-id='{actor}'] [data-field=state]"), "running");
        eventually("the subscriber gets the edited message", UI_TIMEOUT.as_secs(), || {
            !subscriber.received().is_empty()
        });
        let pushed: Value = serde_json::from_str(&subscriber.received()[0].body).unwrap();
        let first = if pushed.is_array() { pushed[0].clone() } else { pushed };
        assert_eq!(first["msg_id"], msg_id.as_str());
        assert_eq!(first["data"], json!({"order": 7, "state": "edited in the console"}), "{first}");
        browser.goto(&page(&node, "actors"));
        browser.wait(&format!("tr[data-actor-id='{actor}']"));
        shot("actors");

        // The cluster screen shows what the API answers, an error included.
        browser.goto(&page(&node, "cluster"));
        let (status, nodes) = node.admin().get("/admin/v1/cluster/nodes");
        assert_eq!(status, 200, "{nodes}");
        let nodes = nodes.as_array().unwrap_or_else(|| panic!("a list: {nodes}"));
        assert_eq!(nodes.len(), 1, "one node: {nodes:?}");
        for n in nodes {
            browser.wait(&format!("tr[data-node='{}']", n["name"].as_str().unwrap()));
        }
        shot("cluster");
        for screen in ["channels", "links", "services"] {
            browser.goto(&page(&node, screen));
            browser.wait("main table");
            shot(screen);
        }

        // A read-only key sees the same screens without controls that change anything.
        let (_, viewer) =
            node.admin().post("/admin/v1/admin-keys", &json!({"name": "viewer", "role": "read-only"}));
        log_out(&browser);
        browser.log_in(&node.url, viewer["key"].as_str().unwrap(), "viewer");
        browser.goto(&page(&node, "topics"));
        browser.wait("tr[data-topic='/console/orders']");
        browser.wait_text(".readonly", "read-only");
        assert_eq!(browser.count("form[name=create-topic]"), 0);
        assert_eq!(browser.count("tr[data-topic='/console/orders'] button"), 1, "only Messages");
        browser.goto(&page(&node, &format!("actors/{actor}")));
        browser.wait(&format!("tr[data-actor-id='{actor}']"));
        assert_eq!(browser.count("button[data-command]"), 0);
        shot("read-only");
        log_out(&browser);
        assert_eq!(browser.page_errors(), Vec::<String>::new(), "the page logged errors");
    }
}

#[test]
fn console_files_are_served_by_the_node_and_whoami_tells_the_key_role() {
    let node = Node::start(Backend::Sqlite);
    let (status, body, headers) = node.http().raw("GET", "/admin/ui/", None);
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap().contains(r#"<script type="module" src="app.js">"#));
    let header =
        |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    assert!(header("content-type").unwrap().starts_with("text/html"));
    assert!(header("content-security-policy").unwrap().contains("script-src 'self'"));
    let (status, _, headers) = node.http().raw("GET", "/admin/ui/screens/queue.js", None);
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("text/javascript")));
    assert_refused(&node.http().get("/admin/ui/no-such-file.js"), 404, "no console file `no-such-file.js`");
    let (status, body, _) = node.http().raw("GET", "/admin/ui", None);
    assert_eq!(status, 200, "redirected to /admin/ui/");
    assert!(body.as_str().unwrap().contains("app.js"));

    let (status, me) = node.admin().get("/admin/v1/whoami");
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["name"], "admin");
    let (_, viewer) =
        node.admin().post("/admin/v1/admin-keys", &json!({"name": "viewer", "role": "read-only"}));
    let (_, me) = node.http().bearer(viewer["key"].as_str().unwrap()).get("/admin/v1/whoami");
    assert_eq!(me["role"], "read-only");
    assert_eq!(me["name"], "viewer");
    assert_refused(
        &node.http().get("/admin/v1/whoami"),
        401,
        "an admin key is required: Authorization: Bearer sba_…",
    );
    assert_refused(
        &node.http().bearer("sba_nope").get("/admin/v1/whoami"),
        401,
        "unknown or revoked admin key",
    );
}

#[test]
fn console_pages_queues_handles_dead_letters_rotates_credentials_and_reaches_clients_links_and_services() {
    let Some(browser) = Browser::start() else { return };
    for backend in backends() {
        let node = Node::start(backend);
        let tag = format!("{backend:?}").to_lowercase();

        // Two messages leased and never acknowledged become dead letters (the queue holds
        // nothing else meanwhile, so no other message is leased by the pulls).
        let ps = PubSub::setup(&node, "/q", json!({"has_gd": true}), "app");
        let key = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 0.3, "delivery_max_retry": 1}));
        let dead_letters = || node.admin().get(&format!("/admin/v1/subscriptions/{key}/dead-letters")).1;
        let kill_two = || {
            assert_eq!(datas(&ps.pull(Some(2))), vec![json!("d1"), json!("d2")]);
            eventually("two dead letters", 10, || {
                // Expired leases are settled when the queue is next read.
                assert!(ps.pull(Some(1)).is_empty(), "only d1 and d2 are queued");
                dead_letters().as_array().unwrap().len() == 2
            });
        };
        let published =
            ps.publish(json!({"data_list": [{"data": "d1", "priority": 9}, {"data": "d2", "priority": 9}]}));
        assert_eq!(published.0, 200, "{published:?}");
        kill_two();

        browser.log_in(&node.url, &node.admin_key, "admin");

        // Dead letters requeued, then (dead again) purged.
        browser.goto(&page(&node, &format!("queue/{key}/dead")));
        browser.wait_text("tr[data-msg-id]", "d1");
        assert_eq!(browser.count("tr[data-msg-id]"), 2);
        shot_of(&browser, &tag, "dead-letters");
        browser.click_button(".toolbar", "Requeue all");
        browser.accept_dialog();
        browser.wait_text(".notice", "2 messages requeued");
        assert_eq!(dead_letters(), json!([]));
        kill_two();
        browser.click_button(".toolbar", "Refresh");
        browser.wait_text("tr[data-msg-id]", "d1");
        browser.click_button(".toolbar", "Purge dead letters");
        // Purging asks for the sub key to be typed.
        browser.fill("dialog[open] input[name=confirm-name]", &key);
        browser.click("dialog[open] button[value=confirm]");
        browser.wait_text(".notice", "2 dead letters deleted");
        assert_eq!(dead_letters(), json!([]));

        // Paging through 25 messages, 20 a page.
        for n in 0..25 {
            ps.publish_ok(json!({"data": n}));
        }
        browser.click("nav.tabs a[aria-current=false]");
        browser.wait("tr[data-msg-id]");
        browser.select(".toolbar select", "20");
        browser.wait_text(".toolbar span", "Messages 1–20");
        assert_eq!(browser.count("tr[data-msg-id]"), 20);
        browser.click_button(".toolbar", "Next page");
        browser.wait_text(".toolbar span", "Messages 21–25");
        assert_eq!(browser.count("tr[data-msg-id]"), 5);
        shot_of(&browser, &tag, "queue-page-2");

        // A message deleted from its row.
        let doomed = browser.attribute(&browser.wait("tr[data-msg-id]"), "data-msg-id").unwrap();
        browser.click_button(&format!("tr[data-msg-id='{doomed}']"), "Delete");
        browser.accept_dialog();
        browser.wait_text(".notice", &format!("Message {doomed} deleted"));
        assert_refused(
            &node.admin().get(&format!("/admin/v1/messages/{doomed}")),
            404,
            &format!("no queued message `{doomed}`"),
        );

        // An API error is shown in the API's words.
        browser.goto(&page(&node, "topics"));
        browser.click("details.panel > summary");
        browser.fill("form[name=create-topic] input[name=name]", "/q");
        browser.click("form[name=create-topic] button[type=submit]");
        browser.wait_text(".error[role=alert]", "Error 409");
        browser.wait_text(".error[role=alert] .details", "a topic named `/q` already exists");

        // A topic and a subscription edited; a topic with subscribers retains nothing.
        browser.click_button("tr[data-topic='/q']", "Edit");
        browser.fill("form[name=edit-topic] input[name=max_depth_gd]", "5000");
        browser.click("form[name=edit-topic] button[type=submit]");
        browser.wait_text(".notice", "Topic /q saved");
        assert_eq!(node.admin().get("/admin/v1/topics?name=/q").1[0]["max_depth_gd"], 5000);
        browser.click_button("tr[data-topic='/q']", "Messages");
        browser.wait_text("section[aria-label='Messages of /q']", "No messages.");
        browser.goto(&page(&node, "subscriptions"));
        browser.click_button(&format!("tr[data-sub-key='{key}']"), "Edit");
        browser.fill("form[name=edit-subscription] input[name=delivery_batch_size]", "7");
        browser.click("form[name=edit-subscription] button[type=submit]");
        browser.wait_text(".notice", &format!("Subscription {key} saved"));
        let (_, sub) = node.admin().get(&format!("/admin/v1/subscriptions/{key}"));
        assert_eq!(
            (sub["delivery_batch_size"].clone(), sub["ack_mode"].clone()),
            (json!(7), json!("explicit"))
        );

        // Credentials rotated: the old password stops working, the one shown once works.
        browser.goto(&page(&node, "endpoints"));
        browser.click_button("tr[data-endpoint=app]", "Rotate credentials");
        browser.accept_dialog();
        let password = browser.text(&browser.wait(".reveal output code"));
        assert_ne!(password, ps.password);
        assert_refused(&ps.publish(json!({"data": "old password"})), 401, "missing or invalid credentials");
        let (status, body) =
            node.http().basic("app", &password).post("/zato/pubsub/topic//q", &json!({"data": 1}));
        assert_eq!(status, 200, "{body}");

        // A WSX client invoked and disconnected from its channel's sessions.
        let wsx_password = wsx_setup(&node, "adm", "/x");
        let mut client = WsxClient::connect(&node, "/wsx/adm");
        client.login("adm-client", &wsx_password);
        let (_, channels) = node.admin().get("/admin/v1/channels");
        browser.goto(&page(&node, &format!("channels/{}", channels[0]["id"])));
        browser.wait_text("section[aria-label='Live sessions'] tbody", "adm-client");
        browser.fill("form[name=invoke-client] textarea[name=request]", r#"{"question": 42}"#);
        browser.click("form[name=invoke-client] button[type=submit]");
        let rqc = client.recv();
        assert_eq!(rqc["data"], json!({"question": 42}));
        client.respond(rqc["meta"]["id"].as_str().unwrap(), json!({"answer": 42}));
        browser.wait_text("section[aria-label='Live sessions'] [role=status]", r#""answer": 42"#);
        shot_of(&browser, &tag, "channel-sessions");
        browser.click_button("section[aria-label='Live sessions']", "Disconnect");
        browser.accept_dialog();
        assert_eq!(client.recv_close(), Some(1000), "the client was disconnected");

        // A link to nowhere: its last error shows, and invoking over it says why it cannot.
        browser.goto(&page(&node, "links"));
        browser.click("details.panel > summary");
        let nowhere = closed_port_url().replace("http://", "ws://");
        browser.fill("form[name=link] input[name=name]", "remote");
        browser.fill("form[name=link] input[name=address]", &format!("{nowhere}/wsx/x"));
        browser.fill("form[name=link] input[name=username]", "u");
        browser.fill("form[name=link] input[name=secret]", "s");
        browser.click("form[name=link] button[type=submit]");
        browser.wait("tr[data-link=remote]");
        eventually("the link reports an error", 10, || {
            !node.admin().get("/admin/v1/links").1[0]["last_error"].is_null()
        });
        browser.goto(&page(&node, "topics"));
        browser.goto(&page(&node, "links"));
        let last_error = node.admin().get("/admin/v1/links").1[0]["last_error"].as_str().unwrap().to_owned();
        browser.wait_text("tr[data-link=remote] .error-text", &last_error[..last_error.len().min(30)]);
        browser.fill("tr[data-link=remote] form[name=invoke-link] input[name=service]", "zato.ping");
        browser.click("tr[data-link=remote] form[name=invoke-link] button[type=submit]");
        browser.wait_text(".error[role=alert] .details", "link `remote` is not connected");
        shot_of(&browser, &tag, "links-error");

        // A service invoked; a request that is not JSON is refused before it is sent.
        browser.goto(&page(&node, "services"));
        browser.select("form[name=invoke-service] select[name=service]", "helpers.echo");
        browser.fill("form[name=invoke-service] textarea[name=request]", "{not json");
        browser.click("form[name=invoke-service] button[type=submit]");
        browser.wait_text(".error[role=alert]", "Request (JSON): not valid JSON");
        browser.fill("form[name=invoke-service] textarea[name=request]", r#"{"hello": "console"}"#);
        browser.click("form[name=invoke-service] button[type=submit]");
        browser.wait_text("[role=status][aria-label=Reply]", r#""hello": "console""#);
        log_out(&browser);
        assert_eq!(browser.page_errors(), Vec::<String>::new(), "the page logged errors");
    }
}

fn shot_of(browser: &Browser, tag: &str, name: &str) {
    browser.screenshot(&format!("{tag}-{name}"));
}

#[test]
fn console_shows_a_three_node_cluster_and_controls_actors_on_other_nodes() {
    let Some(cluster) = signalbox_tests::cluster::TestCluster::start(3) else {
        eprintln!("skipped: a cluster needs PostgreSQL (SIGNALBOX_TEST_PG_URL)");
        return;
    };
    let nodes = &cluster.nodes;
    let admin_key = cluster.admin_key.clone();
    let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
    eventually("three live nodes", 30, || {
        cluster.members(0).iter().filter(|n| n["state"] == "up").count() == 3
    });
    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let admin = nodes[0].admin();
    admin.post("/admin/v1/topics", &json!({"name": "/c", "has_gd": true}));
    admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "pub", "role": "pub-only", "topic_patterns": ["pub=/c"]}),
    );
    let mut owners = Vec::new();
    for i in 0..3 {
        let name = format!("hook{i}");
        admin.post(
            "/admin/v1/endpoints",
            &json!({"name": name, "role": "sub-only", "auth": "none", "topic_patterns": ["sub=/c"]}),
        );
        let (status, sub) = admin.post(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/c", "endpoint": name, "delivery_method": "notify", "push": {"url": receiver.url}}),
        );
        assert_eq!(status, 201, "{sub}");
        owners.push((
            sub["sub_key"].as_str().unwrap().to_owned(),
            sub["node"].as_str().unwrap_or("").to_owned(),
        ));
    }

    let Some(browser) = Browser::start() else { return };
    browser.log_in(&nodes[0].url, &admin_key, "admin");

    // Every node listed, each linked to its own console.
    browser.goto(&page(&nodes[0], "cluster"));
    for name in &names {
        browser.wait_text(&format!("tr[data-node='{name}']"), "up");
    }
    assert_eq!(browser.count("tr[data-node] a[href$='/admin/ui/']"), 3);
    browser.screenshot("cluster-nodes");

    // Subscriptions name the node that delivers them, as the API does.
    browser.goto(&page(&nodes[0], "subscriptions"));
    for (key, node) in &owners {
        browser.wait_text(&format!("tr[data-sub-key='{key}'] td[data-field=node]"), node);
    }

    // An actor on another node paused and resumed from this node's console.
    let (key, owner) =
        owners.iter().find(|(_, n)| *n != names[0]).expect("a subscription delivered elsewhere").clone();
    let actor = format!("delivery:{key}");
    let on_owner = &nodes[names.iter().position(|n| *n == owner).expect("the owner is one of the three")];
    browser.goto(&page(&nodes[0], "actors"));
    browser.select("form[data-list=actors] select[name=node]", &owner);
    let listed_nodes = || {
        browser.script(
            "return [...document.querySelectorAll('tr[data-actor-id] td:nth-of-type(1)')].map(c => c.textContent.trim())",
            json!([]),
        )
    };
    eventually(&format!("only {owner}'s actors listed"), UI_TIMEOUT.as_secs(), || {
        let listed = listed_nodes();
        let listed = listed.as_array().unwrap();
        !listed.is_empty() && listed.iter().all(|n| n == owner.as_str())
    });
    browser.wait(&format!("tr[data-actor-id='{actor}']"));
    browser.click(&format!("tr[data-actor-id='{actor}'] button[data-command=pause]"));
    browser.wait_text(&format!("tr[data-actor-id='{actor}'] [data-field=state]"), "paused");
    assert_eq!(on_owner.admin().get(&format!("/admin/v1/actors/{actor}")).1["state"], "paused");
    browser.screenshot("cluster-actors");

    // While it is paused, a message waits in its queue, browsed from this node's console; the
    // page names the node that delivers it and links to that node's console.
    let (_, topic) = admin.get("/admin/v1/topics?name=/c");
    let (status, published) = admin.post(
        &format!("/admin/v1/topics/{}/publish", topic[0]["id"]),
        &json!({"endpoint": "pub", "data": "held on another node"}),
    );
    assert_eq!(status, 200, "{published}");
    let msg_id = published["msg_id"].as_str().unwrap();
    browser.goto(&page(&nodes[0], &format!("queue/{key}")));
    browser.wait_text(&format!("tr[data-msg-id='{msg_id}']"), "held on another node");
    browser.wait_text(".subtitle", &format!("delivered by node {owner}"));
    let link = browser.attribute(&browser.wait(".subtitle a"), "href").unwrap();
    assert!(link.starts_with(&on_owner.url) && link.ends_with(&format!("#/queue/{key}")), "{link}");
    browser.screenshot("cluster-queue");

    browser.goto(&page(&nodes[0], &format!("actors/{actor}")));
    browser.click(&format!("tr[data-actor-id='{actor}'] button[data-command=resume]"));
    browser.wait_text(&format!("tr[data-actor-id='{actor}'] [data-field=state]"), "running");
    assert_eq!(on_owner.admin().get(&format!("/admin/v1/actors/{actor}")).1["state"], "running");
    eventually("the subscriber gets the message", UI_TIMEOUT.as_secs(), || {
        receiver.received().iter().any(|r| r.body.contains("held on another node"))
    });
}
