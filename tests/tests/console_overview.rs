//! The console's figures: the overview (landing page) and its history, per-subscription and
//! per-topic figures, the connections screen — checked against `/metrics` and the API after a
//! known load — and the console fixes that can be seen (form resets, paging, unknown queues,
//! dead letters' reason and time, controls that follow state, times with their zone, no sideways
//! scrolling at 800 px, typing a name to confirm). Screenshots land in
//! `target/console-screenshots/overview-*.png`.

use std::collections::BTreeSet;

use signalbox_tests::browser::{Browser, UI_TIMEOUT};
use signalbox_tests::*;

/// The console's page for `hash` on `node`.
fn page(node: &Node, hash: &str) -> String {
    format!("{}/admin/ui/#/{hash}", node.url)
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The sum of every series of `/metrics` named `name` with these labels.
fn metric_sum(node: &Node, name: &str, labels: &[(&str, &str)]) -> f64 {
    Metrics::of(node).metric_sum(name, labels)
}

/// 21 GD messages on `/o` for `app`'s pull subscription (explicit ack): 2 handed over, 1
/// acknowledged. Answers the subscription's key.
fn known_load(ps: &PubSub) -> String {
    let key = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 120}));
    let list: Vec<Value> = (0..21).map(|i| json!({"data": i})).collect();
    let (status, body) = ps.publish(json!({"data_list": list}));
    assert_eq!(status, 200, "{body}");
    let pulled = ps.pull(Some(2));
    assert_eq!(pulled.len(), 2);
    let (status, body) = ps.ack(&[pulled[0]["msg_id"].as_str().unwrap()]);
    assert_eq!((status, body["acked"].clone()), (200, json!(1)), "{body}");
    key
}

#[test]
fn overview_routes_answer_what_metrics_exports_with_their_exact_fields() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let ps = PubSub::setup(&node, "/o", json!({"has_gd": true}), "app");
        let key = known_load(&ps);
        let wsx_password = wsx_setup(&node, "live", "/w");
        let mut client = WsxClient::connect(&node, "/wsx/live");
        client.login("live-client", &wsx_password);

        // `/metrics` counts depths every few seconds; the overview samples as often.
        eventually("the depth gauges follow the load", 15, || {
            metric(&node, r#"signalbox_topic_depth{kind="gd",topic="/o"}"#) == Some(20.0)
        });
        eventually("a sample after the load", 15, || admin.get("/admin/v1/overview").1["in_flight"] == 1);

        let (status, o) = admin.get("/admin/v1/overview");
        assert_eq!(status, 200, "{o}");
        assert_eq!(
            keys(&o),
            set(&[
                "by_node",
                "connections",
                "dead_letters",
                "depth",
                "in_flight",
                "interval",
                "node",
                "nodes",
                "rates",
                "subscriptions",
                "time",
                "topics",
                "totals"
            ])
        );
        assert_eq!(keys(&o["rates"]), set(&["ack", "dead_letter", "deliver", "publish"]));
        assert_eq!(keys(&o["totals"]), set(&["acked", "dead_lettered", "delivered", "published"]));
        assert_eq!(
            keys(&o["by_node"][0]),
            set(&[
                "connections",
                "dead_letters",
                "depth",
                "in_flight",
                "node",
                "rates",
                "reachable",
                "sampled_at",
                "subscriptions",
                "totals"
            ])
        );
        // The figures are those of /metrics, summed where the console shows a total.
        assert_eq!(o["totals"]["published"], metric_sum(&node, "signalbox_publications_total", &[]) as u64);
        assert_eq!(o["totals"]["published"], 21);
        assert_eq!(o["totals"]["delivered"], metric_sum(&node, "signalbox_deliveries_total", &[]) as u64);
        assert_eq!(o["totals"]["delivered"], 2);
        assert_eq!(o["totals"]["acked"], metric_sum(&node, "signalbox_acks_total", &[]) as u64);
        assert_eq!(o["totals"]["acked"], 1);
        assert_eq!(o["depth"]["gd"], metric_sum(&node, "signalbox_topic_depth", &[("kind", "gd")]) as i64);
        assert_eq!(o["depth"]["gd"], 20);
        assert_eq!(o["depth"]["ram"], metric_sum(&node, "signalbox_topic_depth", &[("kind", "ram")]) as i64);
        assert_eq!(o["connections"]["wsx"], metric(&node, "signalbox_wsx_sessions").unwrap() as i64);
        assert_eq!(o["connections"], json!({"wsx": 1, "rest": 1}));
        assert_eq!((o["nodes"].clone(), o["topics"].clone()), (json!({"total": 1, "live": 1}), json!(1)));
        assert_eq!((o["subscriptions"].clone(), o["dead_letters"].clone()), (json!(1), json!(0)));
        assert_eq!(o["interval"], 5);

        // The history has points, each with the same fields, 5 s apart within an hour.
        let (status, h) = admin.get("/admin/v1/overview/history?range=300");
        assert_eq!(status, 200, "{h}");
        assert_eq!(keys(&h), set(&["interval", "points", "range"]));
        assert_eq!((h["interval"].clone(), h["range"].clone()), (json!(5), json!(300)));
        let points = h["points"].as_array().unwrap();
        assert!(!points.is_empty(), "{h}");
        for p in points {
            assert_eq!(
                keys(p),
                set(&[
                    "ack",
                    "dead_letter",
                    "dead_letters",
                    "deliver",
                    "depth_gd",
                    "depth_ram",
                    "in_flight",
                    "publish",
                    "rest",
                    "time",
                    "wsx"
                ])
            );
        }
        assert!(points.iter().any(|p| p["publish"].as_f64().unwrap() > 0.0), "{h}");
        assert_eq!(admin.get("/admin/v1/overview/history?range=86400").1["interval"], 60);
        assert_refused(
            &admin.get("/admin/v1/overview/history?range=10"),
            400,
            "`range` must be 60–86400 seconds",
        );

        // Per subscription: ready (GD / RAM), in flight, dead letters, rates, oldest age.
        let (status, subs) = admin.get(&format!("/admin/v1/overview/subscriptions?sub_keys={key},other"));
        assert_eq!(status, 200, "{subs}");
        assert_eq!(subs.as_array().unwrap().len(), 1, "{subs}");
        let s = &subs[0];
        let sub_fields = [
            "ack_rate",
            "dead_letters",
            "deliver_rate",
            "depth_gd",
            "depth_ram",
            "in_flight",
            "node",
            "oldest_age",
            "oldest_pub_time",
            "ready_gd",
            "ready_ram",
            "sampled_at",
            "state",
            "sub_key",
            "topic_name",
        ];
        assert_eq!(keys(s), set(&sub_fields));
        let gd_gauge =
            metric(&node, &format!(r#"signalbox_subscription_depth{{kind="gd",sub_key="{key}"}}"#));
        assert_eq!(s["depth_gd"].as_f64(), gd_gauge, "the GD depth /metrics exports");
        assert_eq!(
            (s["depth_gd"].clone(), s["ready_gd"].clone(), s["ready_ram"].clone(), s["in_flight"].clone()),
            (json!(20), json!(19), json!(0), json!(1))
        );
        assert!(s["oldest_age"].as_f64().unwrap() >= 0.0, "{s}");
        let (status, one) = admin.get(&format!("/admin/v1/overview/subscriptions/{key}?range=300"));
        assert_eq!(status, 200, "{one}");
        let mut with_history = set(&sub_fields);
        with_history.insert("history".into());
        assert_eq!(keys(&one), with_history);
        assert_eq!(keys(&one["history"]), set(&["interval", "points", "range"]));
        let point = &one["history"]["points"][0];
        assert_eq!(keys(point), set(&["ack", "deliver", "depth_gd", "depth_ram", "time"]), "{one}");
        assert_refused(
            &admin.get("/admin/v1/overview/subscriptions/zpsk.rest.nope"),
            404,
            "no subscription `zpsk.rest.nope`",
        );
        assert_refused(
            &admin.get("/admin/v1/overview/subscriptions?unknown=1"),
            400,
            "invalid query: Query deserialize error: unknown field `unknown`, expected `sub_keys`",
        );

        // The actors screen's depths are the same as /metrics' (not the delivery actor's window).
        let (_, actor) = admin.get(&format!("/admin/v1/actors/delivery:{key}"));
        assert_eq!(actor["queue_depth_gd"].as_f64(), gd_gauge, "{actor}");

        // Per topic.
        let (_, topics) = admin.get(&format!("/admin/v1/overview/topics?ids={}", ps.topic_id));
        assert_eq!(
            keys(&topics[0]),
            set(&[
                "ack_rate",
                "dead_letters",
                "deliver_rate",
                "depth_gd",
                "depth_ram",
                "id",
                "in_flight",
                "name",
                "oldest_age",
                "oldest_pub_time",
                "publish_rate",
                "subscriptions"
            ])
        );
        assert_eq!((topics[0]["depth_gd"].clone(), topics[0]["in_flight"].clone()), (json!(20), json!(1)));

        // Connections: the WSX client and the REST client, each with its address and traffic.
        let (status, c) = admin.get("/admin/v1/connections");
        assert_eq!(status, 200, "{c}");
        assert_eq!(keys(&c), set(&["rest", "unreachable", "wsx"]));
        let wsx = &c["wsx"][0];
        assert_eq!(
            keys(wsx),
            set(&[
                "address",
                "channel",
                "client_id",
                "client_name",
                "endpoint",
                "last_seen",
                "msgs_in",
                "msgs_out",
                "node",
                "rate_in",
                "rate_out",
                "session_id",
                "since",
                "subscriptions"
            ])
        );
        assert_eq!(wsx["endpoint"], "live-client");
        assert!(wsx["address"].as_str().unwrap().starts_with("127.0.0.1:"), "{wsx}");
        assert!(wsx["msgs_in"].as_u64().unwrap() >= 1 && wsx["msgs_out"].as_u64().unwrap() >= 1, "{wsx}");
        let rest = &c["rest"][0];
        assert_eq!(
            keys(rest),
            set(&[
                "active",
                "address",
                "endpoint",
                "endpoint_id",
                "last_seen",
                "msgs_in",
                "msgs_out",
                "node",
                "rate_in",
                "rate_out",
                "since"
            ])
        );
        assert_eq!(
            (
                rest["endpoint"].clone(),
                rest["address"].clone(),
                rest["msgs_in"].clone(),
                rest["msgs_out"].clone()
            ),
            (json!("app"), json!("127.0.0.1"), json!(21), json!(2))
        );

        // Endpoints' stored last_seen is written when they authenticate.
        let (_, endpoint) = admin.get(&format!("/admin/v1/endpoints/{}", ps.endpoint_id));
        assert!(endpoint["last_seen"].as_str().is_some_and(|t| t.ends_with('Z')), "{endpoint}");
        drop(client);
    }
}

#[test]
fn console_overview_connections_and_queue_figures_match_the_api_and_the_fixes_hold() {
    let Some(browser) = Browser::start() else { return };
    let node = Node::start(Backend::Sqlite);
    let admin = node.admin();
    let shot = |name: &str| browser.screenshot(&format!("overview-{name}"));

    // A dead letter (leased once, never acknowledged), then 20 queued GD messages.
    let ps = PubSub::setup(&node, "/b", json!({"has_gd": true}), "app");
    let key = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 0.3, "delivery_max_retry": 1}));
    ps.publish_ok(json!({"data": "doomed", "priority": 9}));
    assert_eq!(ps.pull(Some(1)).len(), 1);
    eventually("one dead letter", 10, || {
        assert!(ps.pull(Some(1)).is_empty(), "only the doomed message is queued");
        admin.get(&format!("/admin/v1/subscriptions/{key}/dead-letters")).1.as_array().unwrap().len() == 1
    });
    let (status, body) =
        ps.publish(json!({"data_list": (0..20).map(|i| json!({"data": i})).collect::<Vec<_>>()}));
    assert_eq!(status, 200, "{body}");
    // A topic without subscribers only retains what is published to it.
    let kept = PubSub::setup(&node, "/kept", json!({}), "keeper");
    let kept_id = kept.publish_ok(json!({"data": "kept for the first subscriber"}));
    // A live WSX client.
    let wsx_password = wsx_setup(&node, "live", "/w");
    let mut client = WsxClient::connect(&node, "/wsx/live");
    client.login("live-client", &wsx_password);
    eventually("/metrics counts the depths", 15, || {
        metric_sum(&node, "signalbox_topic_depth", &[("kind", "gd")]) == 21.0
    });

    // The landing page is the overview; its figures are those of /metrics; its charts fill.
    browser.log_in(&node.url, &node.admin_key, "admin");
    browser.wait_text("main h2", "Overview");
    browser.wait_text(".tile[data-figure=depth-gd] .value", "21");
    browser.wait_text(".tile[data-figure=dead-letters] .value", "1");
    browser.wait_text(".tile[data-figure=wsx] .value", "1");
    browser.wait_text(".tile[data-figure=nodes] .value", "1 / 1");
    let gd = browser.text(&browser.wait(".tile[data-figure=depth-gd] .value"));
    assert_eq!(gd, format!("{}", metric_sum(&node, "signalbox_topic_depth", &[("kind", "gd")]) as i64));
    eventually("the rates chart has points", UI_TIMEOUT.as_secs(), || {
        browser.script(
            "return Number(document.querySelector('figure[data-chart=rates] polyline')?.dataset.points ?? 0)",
            json!([]),
        )
        .as_u64()
        .unwrap_or(0)
            >= 1
    });
    let published = metric_sum(&node, "signalbox_publications_total", &[]) as u64;
    browser.wait_text("main .hint", &format!("{published} published"));
    shot("overview");

    // Connections: the live WSX client with its address, the REST clients by endpoint.
    let (_, connections) = admin.get("/admin/v1/connections");
    let address = connections["wsx"][0]["address"].as_str().unwrap().to_owned();
    browser.goto(&page(&node, "connections"));
    browser.wait_text("tr[data-endpoint=live-client] [data-field=address]", &address);
    browser.wait_text("tr[data-endpoint=app] [data-field=address]", "127.0.0.1");
    browser.wait_text("tr[data-endpoint=app]", "21 / 1");
    shot("connections");

    // Per-subscription figures in the list, the actors screen and the queue's header.
    browser.goto(&page(&node, "subscriptions"));
    let row = format!("tr[data-sub-key='{key}']");
    browser.wait_text(&format!("{row} [data-field=ready]"), "20 / 0");
    browser.wait_text(&format!("{row} [data-field=dead-letters]"), "1");
    let actor = format!("tr[data-actor-id='delivery:{key}']");
    browser.goto(&page(&node, &format!("actors/delivery:{key}")));
    browser.wait_text(&format!("{actor} td.num"), "0 / 20");
    // Controls that follow state: a running actor is paused, a paused one resumed; alone, a
    // node offers no move.
    assert_eq!(browser.count(&format!("{actor} button[data-command=resume]")), 0);
    assert_eq!(browser.count(&format!("{actor} form[name=move]")), 0);
    browser.click(&format!("{actor} button[data-command=pause]"));
    browser.wait(&format!("{actor} button[data-command=resume]"));
    assert_eq!(browser.count(&format!("{actor} button[data-command=pause]")), 0);
    browser.click(&format!("{actor} button[data-command=resume]"));
    browser.wait(&format!("{actor} button[data-command=pause]"));

    // The queue: its figures and depth chart; 20 messages on one page of 20, no next page.
    browser.goto(&page(&node, &format!("queue/{key}")));
    browser.wait_text(".tile[data-figure=ready] .value", "20 / 0");
    browser.wait_text(".tile[data-figure=dead-letters] .value", "1");
    browser.wait("figure[data-chart=depth]");
    browser.select(".toolbar select", "20");
    browser.wait_text(".toolbar span", "Messages 1–20 of 20");
    let next_disabled = browser.script(
        "return [...document.querySelectorAll('.toolbar button')].find(b => b.textContent.trim() === 'Next page').disabled",
        json!([]),
    );
    assert_eq!(next_disabled, json!(true), "no page after the last message");
    assert!(browser.text(&browser.wait("tr[data-msg-id] time")).ends_with(" UTC"), "times say their zone");
    shot("queue");

    // Dead letters say why and since when.
    browser.click("nav.tabs a[href$='/dead']");
    browser.wait_text("tr[data-msg-id] [data-field=reason]", "not acknowledged after 1 deliveries");
    assert!(browser.text(&browser.wait("tr[data-msg-id] [data-field=dead-since]")).ends_with(" UTC"));
    shot("dead-letters");

    // An unknown sub key: the 404, and no queue, no "empty", no Clear button.
    browser.goto(&page(&node, "queue/zpsk.rest.nope"));
    browser.wait_text(".error[role=alert]", "no subscription `zpsk.rest.nope`");
    assert_eq!(browser.count("table.messages"), 0);
    assert!(!browser.page_text().contains("empty") && !browser.page_text().contains("Clear queue"));

    // Topics: the last publication of a topic that only retains; figures in the list.
    browser.goto(&page(&node, "topics"));
    browser.wait_text("tr[data-topic='/kept']", &kept_id);
    browser.wait_text("tr[data-topic='/b'] [data-field=dead-letters]", "1");

    // Two topics created one after the other keep the form's defaults (active, API subscriptions).
    browser.click("details.panel > summary");
    for name in ["/f1", "/f2"] {
        browser.fill("form[name=create-topic] input[name=name]", name);
        browser.click("form[name=create-topic] button[type=submit]");
        browser.wait(&format!("tr[data-topic='{name}']"));
    }
    for name in ["/f1", "/f2"] {
        let (status, t) = admin.get(&format!("/admin/v1/topics?name={name}"));
        assert_eq!(status, 200, "{t}");
        let rows = t.as_array().unwrap_or_else(|| panic!("a list: {t}"));
        assert_eq!(rows.len(), 1, "{t}");
        assert_eq!(
            (&rows[0]["name"], &rows[0]["is_active"], &rows[0]["is_api_sub_allowed"]),
            (&json!(name), &json!(true), &json!(true)),
            "{t}"
        );
    }

    // Deleting a topic asks for its name to be typed.
    browser.click_button("tr[data-topic='/f2']", "Delete");
    let confirm = "dialog[open] button[value=confirm]";
    browser.wait(confirm);
    assert_eq!(
        browser.script(&format!("return document.querySelector('{confirm}').disabled"), json!([])),
        json!(true)
    );
    browser.fill("dialog[open] input[name=confirm-name]", "/f");
    assert_eq!(
        browser.script(&format!("return document.querySelector('{confirm}').disabled"), json!([])),
        json!(true)
    );
    shot("confirm-delete");
    browser.fill("dialog[open] input[name=confirm-name]", "/f2");
    browser.click(confirm);
    browser.wait_text(".notice", "Topic /f2 deleted");
    assert_eq!(admin.get("/admin/v1/topics?name=/f2").1, json!([]));

    // At 800 px nothing scrolls sideways.
    browser.resize(800, 1000);
    for screen in [
        "overview".to_owned(),
        "topics".into(),
        "subscriptions".into(),
        format!("queue/{key}"),
        format!("queue/{key}/dead"),
        "actors".into(),
        "connections".into(),
        "endpoints".into(),
        "channels".into(),
        "links".into(),
        "services".into(),
        "cluster".into(),
    ] {
        browser.goto(&page(&node, &screen));
        browser.wait("main h2");
        browser.wait("main table, main .tiles");
        let wide = browser.scrolls_sideways();
        if wide != json!(false) {
            let path = browser.screenshot(&format!("overview-too-wide-{}", screen.replace('/', "-")));
            panic!("{screen} scrolls sideways at 800 px ({wide}); see {}", path.display());
        }
    }
    shot("narrow-cluster");
    browser.goto(&page(&node, "subscriptions"));
    browser.wait(&row);
    shot("narrow-subscriptions");
    browser.resize(1400, 1000);
    assert_eq!(browser.page_errors(), Vec::<String>::new(), "the page logged errors");
    drop(client);
}
