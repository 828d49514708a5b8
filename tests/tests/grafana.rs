//! The Grafana dashboard in `deploy/grafana/signalbox.json`: every PromQL query in it names only
//! series a running node exports at `/metrics` (read after traffic that touches each of them),
//! and it covers rates, depths, latencies and the cluster.

use std::collections::BTreeSet;

use signalbox_tests::*;

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/signalbox.json");

/// PromQL's words that are not series: aggregations, functions, modifiers, operators.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The series names a PromQL expression (or a Grafana `label_values(…)` query) reads.
fn series_in(expr: &str) -> BTreeSet<String> {
    // Grafana's `label_values(SERIES, LABEL)`: the series is the first argument.
    if let Some(args) = expr.trim().strip_prefix("label_values(").and_then(|a| a.strip_suffix(')')) {
        return series_in(args.rsplit_once(',').map_or(args, |(series, _)| series));
    }
    // Strings (label values, `$instance`), label matchers and ranges (`[5m]`,
    // `[$__rate_interval]`) name no series.
    let mut plain = String::new();
    let (mut quote, mut in_matchers, mut in_range, mut escaped) = (None, false, false, false);
    for c in expr.chars() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => in_matchers = true,
            '}' => in_matchers = false,
            '[' => in_range = true,
            ']' => in_range = false,
            c if !in_matchers && !in_range => plain.push(c),
            _ => {}
        }
    }
    let chars: Vec<char> = plain.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_group = false;
    let mut depth_to_skip: Option<usize> = None;
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == '(' {
            depth += 1;
            if skip_group {
                depth_to_skip = Some(depth);
                skip_group = false;
            }
            i += 1;
            continue;
        }
        if c == ')' {
            if depth_to_skip == Some(depth) {
                depth_to_skip = None;
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':' | '$'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if depth_to_skip.is_some() || word.starts_with('$') {
                continue;
            }
            if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&word.as_str()) {
                skip_group = next == Some(&'(');
            } else if next == Some(&'(') || KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                // A function or an aggregation.
            } else {
                names.insert(word);
            }
            continue;
        }
        i += 1;
    }
    names
}

/// Every query string of the dashboard: panel targets and template variables.
fn queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition", Value::String(q)) => out.push(q.clone()),
                    ("query", Value::String(q)) if q.contains('(') => out.push(q.clone()),
                    _ => queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

#[test]
fn promql_names_are_read_from_expressions() {
    let found = series_in(
        r#"histogram_quantile(0.95, sum by (le, service) (rate(signalbox_service_seconds_bucket{instance=~"$instance", x="a{b}"}[$__rate_interval]))) / on (instance) group_left (x) max(up_thing) or vector(0)"#,
    );
    assert_eq!(
        found,
        ["signalbox_service_seconds_bucket", "up_thing"].into_iter().map(String::from).collect()
    );
    let found = series_in("label_values(signalbox_wsx_sessions, instance)");
    assert_eq!(found, ["signalbox_wsx_sessions".to_owned()].into_iter().collect());
    let found = series_in("sum(rate(a_total[5m])) / sum(rate(b_total[5m])) * 100");
    assert_eq!(found, ["a_total", "b_total"].into_iter().map(String::from).collect());
}

#[test]
fn the_dashboard_is_well_formed_and_covers_rates_depths_latencies_and_the_cluster() {
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "signalbox-node");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_i64().unwrap()), "duplicate panel id {}", p["id"]);
        let grid = &p["gridPos"];
        assert!(grid["x"].as_i64().unwrap() + grid["w"].as_i64().unwrap() <= 24, "{}", p["title"]);
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
            assert!(!p["targets"].as_array().unwrap().is_empty(), "{}", p["title"]);
        }
    }
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let names: BTreeSet<String> = all.iter().flat_map(|q| series_in(q)).collect();
    for (area, wanted) in [
        ("rates", "signalbox_publications_total"),
        ("rates", "signalbox_deliveries_total"),
        ("rates", "signalbox_acks_total"),
        ("depths", "signalbox_topic_depth"),
        ("depths", "signalbox_subscription_depth"),
        ("latencies", "signalbox_publish_to_deliver_seconds_bucket"),
        ("latencies", "signalbox_gd_commit_seconds_bucket"),
        ("cluster", "signalbox_cluster_leader"),
        ("cluster", "signalbox_cluster_nodes_live"),
    ] {
        assert!(names.contains(wanted), "no {area} panel reads {wanted}");
    }
}

#[test]
fn every_series_the_dashboard_queries_is_exported_by_a_node() {
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let wanted: BTreeSet<String> = all.iter().flat_map(|q| series_in(q)).collect();
    assert!(wanted.len() >= 25, "{wanted:?}");

    let node = Node::start(Backend::Sqlite);
    let admin = node.admin();
    // Traffic that gives each labelled series its first value.
    let ps = PubSub::setup(&node, "/graf", json!({"has_gd": true}), "graf");
    let leased = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 0.2, "delivery_max_retry": 1}));
    for i in 0..3 {
        ps.publish_ok(json!({"data": i}));
    }
    ps.publish_ok(json!({"data": "ram", "has_gd": false}));
    let first = ps.pull(Some(1));
    assert_eq!(ps.ack(&[first[0]["msg_id"].as_str().unwrap()]).1["acked"], 1);
    assert_eq!(ps.pull(Some(1)).len(), 1); // left unacknowledged: with one try, a dead letter once its lease ran out
    let dead_letters = format!("/admin/v1/subscriptions/{leased}/dead-letters");
    // (A pull finds the lease run out; it also leases the rest, which follow it.)
    eventually("the unacknowledged message to be a dead letter", 10, || {
        ps.pull(None);
        admin.get(&dead_letters).1.as_array().is_some_and(|d| !d.is_empty())
    });
    let again = PubSub::setup(&node, "/graf2", json!({"has_gd": true}), "graf2");
    again.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 0.2, "delivery_max_retry": 5}));
    again.publish_ok(json!({"data": "again"}));
    assert_eq!(again.pull(None).len(), 1);
    // Handed over again once its lease ran out: a redelivery.
    assert_eq!(again.pull_when_ready(10)[0]["delivery_count"], 2);
    let inactive = PubSub::setup(&node, "/graf/off", json!({"is_active": false}), "graf-off");
    assert_eq!(inactive.publish(json!({"data": 1})).0, 503);
    assert_eq!(node.http().basic("graf", "wrong").call("PATCH", &ps.topic_path(), None).0, 401);
    let pushed = PubSub::setup(&node, "/graf/push", json!({"has_gd": true}), "graf-push");
    let body = json!({"topic_name": "/graf/push", "endpoint": "graf-push", "delivery_method": "notify",
                      "push": {"url": format!("{}/nowhere", closed_port_url())}});
    assert_eq!(admin.post("/admin/v1/subscriptions", &body).0, 201);
    pushed.publish_ok(json!({"data": "to nowhere"}));
    assert_eq!(admin.post("/admin/v1/services/helpers.echo/invoke", &json!({"x": 1})).0, 200);
    let failing = json!({"name": "graf.fail", "kind": "http", "url": format!("{}/x", closed_port_url())});
    assert_eq!(admin.post("/admin/v1/services", &failing).0, 201);
    assert_eq!(admin.post("/admin/v1/services/graf.fail/invoke", &json!({})).0, 502);
    assert_eq!(admin.post(&format!("/admin/v1/actors/delivery:{leased}/restart"), &json!({})).0, 200);
    let link = json!({"name": "graf-link", "address": format!("ws://{}/wsx/x", free_addr()), "username": "u", "secret": "s"});
    assert_eq!(admin.post("/admin/v1/links", &link).0, 201);
    let mut client = wsx_setup(&node, "grafwsx", "/graf/**").logged_in(&node);
    let (_, sessions) = admin.get("/admin/v1/actors?kind=session");
    let session = sessions[0]["id"].as_str().unwrap().trim_start_matches("session:").to_owned();
    assert_eq!(admin.delete(&format!("/admin/v1/sessions/{session}")).0, 200);
    assert_eq!(client.recv_close(), Some(1000));

    // Depths are sampled every few seconds: wait for them.
    let missing =
        || -> BTreeSet<String> { wanted.difference(&Metrics::of(&node).metric_names()).cloned().collect() };
    eventually_with(
        "every series the dashboard queries to be exported",
        30,
        || missing().is_empty(),
        || format!("the dashboard queries series the node does not export: {:?}", missing()),
    );
}
