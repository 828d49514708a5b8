//! Lists that scale: every admin list searches (`?q=`, any case, literally), pages
//! (`?limit=&offset=`) and counts every match in `X-Total-Count` while its body stays a JSON
//! array; the queue browser counts the whole queue; 10 000 topics and subscriptions page fast.

use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use signalbox_tests::*;

/// A list's page and its `X-Total-Count`.
fn page(http: &Http, path: &str) -> (Vec<Value>, u64) {
    let (status, body, headers) = http.raw("GET", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    let total = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-total-count"))
        .unwrap_or_else(|| panic!("{path}: no X-Total-Count"))
        .1
        .parse()
        .unwrap();
    (body.as_array().unwrap_or_else(|| panic!("{path}: not an array: {body}")).clone(), total)
}

fn names(rows: &[Value], field: &str) -> Vec<String> {
    rows.iter().map(|r| r[field].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn every_list_searches_pages_and_counts_its_matches() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        for name in ["/sales/EU/orders", "/sales/us/orders", "/hr/people", "/odd/50%_off", "/odd/500xoff"] {
            assert_eq!(admin.post("/admin/v1/topics", &json!({"name": name})).0, 201);
        }
        for (name, patterns) in
            [("sales-app", json!(["pub=/sales/**", "sub=/sales/**"])), ("hr-app", json!(["sub=/hr/**"]))]
        {
            let body = json!({"name": name, "role": "pub-sub", "topic_patterns": patterns});
            assert_eq!(admin.post("/admin/v1/endpoints", &body).0, 201);
        }
        for topic in ["/sales/EU/orders", "/sales/us/orders"] {
            let body = json!({"topic_name": topic, "endpoint": "sales-app"});
            assert_eq!(admin.post("/admin/v1/subscriptions", &body).0, 201);
        }
        assert_eq!(
            admin
                .post("/admin/v1/subscriptions", &json!({"topic_name": "/hr/people", "endpoint": "hr-app"}))
                .0,
            201
        );
        for (name, path) in [("sales-gw", "/wsx/sales"), ("hr-gw", "/wsx/hr")] {
            assert_eq!(admin.post("/admin/v1/channels", &json!({"name": name, "path": path})).0, 201);
        }
        let dir = tempfile::tempdir().unwrap();
        let body = json!({"name": "sales-drop", "directory": dir.path(), "topic_name": "/sales/us/orders", "endpoint": "sales-app"});
        assert_eq!(admin.post("/admin/v1/file-channels", &body).0, 201);
        let address = format!("ws://{}/wsx/x", free_addr());
        let body = json!({"name": "sales-link", "address": address, "username": "u", "secret": "s", "auto_reconnect": false});
        assert_eq!(admin.post("/admin/v1/links", &body).0, 201);
        let body = json!({"name": "sales.in", "kind": "publish", "topic_name": "/sales/us/orders", "endpoint": "sales-app"});
        assert_eq!(admin.post("/admin/v1/services", &body).0, 201);
        assert_eq!(
            admin.post("/admin/v1/admin-keys", &json!({"name": "sales-viewer", "role": "read-only"})).0,
            201
        );

        // A search finds in any case, and only what holds it.
        let (rows, total) = page(&admin, "/admin/v1/topics?q=SALES");
        assert_eq!(
            (names(&rows, "name"), total),
            (vec!["/sales/EU/orders".into(), "/sales/us/orders".into()], 2)
        );
        let (rows, _) = page(&admin, "/admin/v1/topics?q=eu/");
        assert_eq!(names(&rows, "name"), ["/sales/EU/orders"]);
        // `%` and `_` are themselves, not wildcards.
        let (rows, total) = page(&admin, "/admin/v1/topics?q=50%25_");
        assert_eq!((names(&rows, "name"), total), (vec!["/odd/50%_off".into()], 1));
        // Pages of the matches, the total the same on each.
        let (rows, total) = page(&admin, "/admin/v1/topics?limit=2&offset=0");
        assert_eq!((rows.len(), total), (2, 5));
        let (rows, total) = page(&admin, "/admin/v1/topics?limit=2&offset=4");
        assert_eq!((names(&rows, "name"), total), (vec!["/odd/500xoff".into()], 5));
        let (rows, total) = page(&admin, "/admin/v1/topics?q=orders&limit=1&offset=1");
        assert_eq!((names(&rows, "name"), total), (vec!["/sales/us/orders".into()], 2));
        let (rows, total) = page(&admin, "/admin/v1/topics?q=nothing-like-this");
        assert_eq!((rows.len(), total), (0, 0));
        let (rows, total) = page(&admin, "/admin/v1/topics?name=/hr/people");
        assert_eq!((names(&rows, "name"), total), (vec!["/hr/people".into()], 1));

        let (rows, total) = page(&admin, "/admin/v1/endpoints?q=Sales");
        assert_eq!((names(&rows, "name"), total), (vec!["sales-app".into()], 1));
        // Subscriptions by sub_key, topic or endpoint name, and by exact topic or endpoint.
        let (rows, total) = page(&admin, "/admin/v1/subscriptions?q=sales");
        assert_eq!((rows.len(), total), (2, 2));
        let key = rows[0]["sub_key"].as_str().unwrap().to_owned();
        let (rows, _) = page(&admin, &format!("/admin/v1/subscriptions?q={}", &key[key.len() - 4..]));
        assert!(names(&rows, "sub_key").contains(&key), "{rows:?}");
        let (rows, total) = page(&admin, "/admin/v1/subscriptions?q=HR-APP");
        assert_eq!((names(&rows, "topic_name"), total), (vec!["/hr/people".into()], 1));
        let (rows, total) = page(&admin, "/admin/v1/subscriptions?topic_name=/sales/us/orders");
        assert_eq!((names(&rows, "endpoint"), total), (vec!["sales-app".into()], 1));
        let (_, total) = page(&admin, "/admin/v1/subscriptions?endpoint=sales-app&limit=1");
        assert_eq!(total, 2);
        let (rows, total) = page(&admin, "/admin/v1/channels?q=/wsx/hr");
        assert_eq!((names(&rows, "name"), total), (vec!["hr-gw".into()], 1));
        let (rows, total) = page(&admin, "/admin/v1/file-channels?q=SALES");
        assert_eq!((names(&rows, "name"), total), (vec!["sales-drop".into()], 1));
        let (rows, total) = page(&admin, "/admin/v1/links?q=sales");
        assert_eq!((names(&rows, "name"), total), (vec!["sales-link".into()], 1));
        let (rows, total) = page(&admin, "/admin/v1/services?q=sales");
        assert_eq!((names(&rows, "name"), total), (vec!["sales.in".into()], 1));
        let (every, _) = page(&admin, "/admin/v1/services");
        let (rows, total) = page(&admin, "/admin/v1/services?limit=2&offset=1");
        assert_eq!(
            (rows, total as usize),
            (every[1..3].to_vec(), every.len()),
            "built-in and user-defined, counted"
        );
        let (rows, total) = page(&admin, "/admin/v1/admin-keys?q=viewer");
        assert_eq!((names(&rows, "name"), total), (vec!["sales-viewer".into()], 1));
        let (rows, total) = page(&admin, "/admin/v1/actors?kind=topic&q=sales");
        assert_eq!((rows.len(), total), (2, 2), "{rows:?}");
        let (rows, total) = page(&admin, "/admin/v1/actors?limit=1");
        assert_eq!(rows.len(), 1);
        assert!(total >= 9, "{total}");
        let (_, channel) = admin.get("/admin/v1/channels?q=sales-gw");
        let (rows, total) = page(&admin, &format!("/admin/v1/channels/{}/sessions?q=x", channel[0]["id"]));
        assert_eq!((rows.len(), total), (0, 0));

        // Bad list queries are refused, naming what is wrong.
        assert_refused(
            &admin.get(&format!("/admin/v1/topics?q={}", "x".repeat(201))),
            400,
            "`q` must be at most 200 characters",
        );
        assert_refused(
            &admin.get("/admin/v1/endpoints?limit=0"),
            400,
            "limit must be 1–10000 and offset not negative",
        );
        assert_refused(
            &admin.get("/admin/v1/services?offset=-1"),
            400,
            "limit must be 1–10000 and offset not negative",
        );
        assert_refused(
            &admin.get("/admin/v1/links?colour=red"),
            400,
            "invalid query: Query deserialize error: unknown field `colour`, expected one of `q`, `limit`, `offset`",
        );
    }
}

#[test]
fn the_queue_browser_counts_the_whole_queue_and_pages_it() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/browse", json!({"has_gd": true}), "browser");
        let sub_key = ps.subscribe(json!({}));
        for i in 0..20 {
            ps.publish_ok(json!({"data": format!("gd-{i}")}));
        }
        for i in 0..3 {
            ps.publish_ok(json!({"data": format!("ram-{i}"), "has_gd": false}));
        }
        let admin = node.admin();
        let queue = format!("/admin/v1/subscriptions/{sub_key}/queue");
        let (rows, total) = page(&admin, &format!("{queue}?limit=20&offset=20"));
        assert_eq!((rows.len(), total), (3, 23), "{rows:?}");
        let (rows, total) = page(&admin, &format!("{queue}?limit=5"));
        assert_eq!((datas(&rows), total), ((0..5).map(|i| json!(format!("gd-{i}"))).collect(), 23));
        let (rows, total) = page(&admin, &format!("{queue}?offset=40"));
        assert_eq!((rows.len(), total), (0, 23));
        let (rows, total) = page(&admin, &format!("/admin/v1/subscriptions/{sub_key}/dead-letters"));
        assert_eq!((rows.len(), total), (0, 0));
        // A topic's retained messages (no subscriber yet) are counted too.
        let retained = PubSub::setup(&node, "/retained", json!({"has_gd": true}), "keeper");
        for i in 0..4 {
            retained.publish_ok(json!({"data": i}));
        }
        let (_, topic) = admin.get("/admin/v1/topics?name=/retained");
        let (rows, total) = page(&admin, &format!("/admin/v1/topics/{}/messages?limit=3", topic[0]["id"]));
        assert_eq!((rows.len(), total), (3, 4));
    }
}

/// Rows added straight into the node's database: `topics` topics `/bulk/<n>` and one
/// subscription of endpoint `bulk-reader` to each.
fn bulk_insert(node: &Node, topics: u32) {
    let statements = [
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {topics}) \
             INSERT INTO pubsub_topic (name, is_active, has_gd, is_api_sub_allowed, max_depth_gd, \
             max_depth_non_gd, on_overflow_non_gd, limit_message_expiry, limit_sub_inactivity, on_no_subs_pub, \
             dedup_window, created_at) \
             SELECT '/bulk/' || i, TRUE, TRUE, TRUE, 10000, 1000, 'log', 86400, 0, 'accept', 120, 1 FROM n"
        ),
        "WITH e(id) AS (SELECT id FROM pubsub_endpoint WHERE name = 'bulk-reader') \
         INSERT INTO pubsub_sub (sub_key, topic_id, endpoint_id, creation_time, sub_pattern_matched, \
         delivery_method, ack_mode, ack_timeout, delivery_batch_size, wrap_one_msg_in_list, delivery_max_retry, \
         delivery_err_should_block, wait_sock_err, wait_non_sock_err, active_status, max_in_flight, is_wsx, \
         unsub_on_wsx_close) \
         SELECT 'zpsk.rest.bulk' || t.id, t.id, e.id, 1, 'sub=/bulk/**', 'pull', 'auto', 30, 500, TRUE, 5, \
         TRUE, 10, 3, 'pub-sub', 1, FALSE, TRUE FROM pubsub_topic t, e WHERE t.name LIKE '/bulk/%'"
            .to_owned(),
    ];
    match &node.database_url {
        Some(url) => {
            let mut conn = diesel::PgConnection::establish(url).expect("connect");
            for sql in &statements {
                diesel::sql_query(sql).execute(&mut conn).expect(sql);
            }
        }
        None => {
            let path = node.data_dir.join("signalbox.db");
            let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).expect("open");
            diesel::sql_query("PRAGMA busy_timeout = 10000").execute(&mut conn).unwrap();
            for sql in &statements {
                diesel::sql_query(sql).execute(&mut conn).expect(sql);
            }
        }
    }
}

#[test]
fn ten_thousand_topics_and_subscriptions_page_in_well_under_a_second() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let body = json!({"name": "bulk-reader", "role": "sub-only", "topic_patterns": ["sub=/bulk/**"]});
        assert_eq!(admin.post("/admin/v1/endpoints", &body).0, 201);
        bulk_insert(&node, 10_000);
        let timed = |path: &str| {
            let started = Instant::now();
            let answer = page(&admin, path);
            let took = started.elapsed();
            assert!(took < Duration::from_millis(500), "{path} took {took:?}");
            answer
        };
        let (rows, total) = timed("/admin/v1/topics?limit=50");
        assert_eq!((rows.len(), total), (50, 10_000));
        let (rows, _) = timed("/admin/v1/topics?limit=50&offset=9950");
        assert_eq!(rows.last().unwrap()["name"], "/bulk/10000");
        let (rows, total) = timed("/admin/v1/topics?q=/bulk/999");
        assert_eq!((rows.len(), total), (11, 11), "{:?}", names(&rows, "name"));
        let (rows, total) = timed("/admin/v1/topics?q=bulk&limit=1000&offset=9000");
        assert_eq!((rows.len(), total), (1000, 10_000));
        let (rows, total) = timed("/admin/v1/subscriptions?limit=50&offset=5000");
        assert_eq!((rows.len(), total), (50, 10_000));
        let (rows, total) = timed("/admin/v1/subscriptions?q=bulk9999");
        assert_eq!((names(&rows, "topic_name"), total), (vec!["/bulk/9999".into()], 1));
        let (rows, total) = timed("/admin/v1/subscriptions?topic_name=/bulk/4321");
        assert_eq!((rows.len(), total), (1, 1));
        let (_, total) = timed("/admin/v1/subscriptions?endpoint=bulk-reader&limit=10");
        assert_eq!(total, 10_000);
        // The CLI finds one topic among them by name without reading them all.
        let started = Instant::now();
        let (code, out, err) = node.cli(&["--json", "topic", "show", "/bulk/7777"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("\"/bulk/7777\""), "{out}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
