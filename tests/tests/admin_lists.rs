//! Lists that scale: every admin list searches (`?q=`, any case, literally), pages
//! (`?limit=&offset=`) and counts every match in `X-Total-Count` while its body stays a JSON
//! array; topics filter by state and delivery, endpoints by role and type, in the same query;
//! the queue browser counts the whole queue; 10 000 topics and subscriptions page fast.

use std::time::{Duration, Instant};

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
        let (rows, total) = page(&admin, &format!("/admin/v1/subscriptions?q={key}"));
        assert_eq!((names(&rows, "sub_key"), total), (vec![key.clone()], 1));
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
        // The supervisor, five topic actors, three delivery actors and the link's peer actor.
        let (rows, total) = page(&admin, "/admin/v1/actors?limit=1");
        assert_eq!((rows.len(), total), (1, 10), "{rows:?}");
        let (_, channel) = admin.get("/admin/v1/channels?q=sales-gw");
        assert_eq!(channel.as_array().map(Vec::len), Some(1), "{channel}");
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

/// One page of `path` as its `name`s and its `X-Total-Count`.
fn named_page(http: &Http, path: &str) -> (Vec<String>, u64) {
    let (rows, total) = page(http, path);
    (names(&rows, "name"), total)
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn topics_filter_by_state_and_delivery_with_search_and_paging() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        for (name, is_active, has_gd) in [
            ("/shop/orders", true, true),
            ("/shop/returns", false, true),
            ("/shop/audit", false, false),
            ("/hr/people", true, false),
            ("/hr/leave", false, false),
            ("/shop/stock", true, false),
        ] {
            let body = json!({"name": name, "is_active": is_active, "has_gd": has_gd});
            let (status, topic) = admin.post("/admin/v1/topics", &body);
            assert_eq!(status, 201, "{topic}");
            assert_eq!((&topic["is_active"], &topic["has_gd"]), (&json!(is_active), &json!(has_gd)));
        }

        for (query, expected, total) in [
            ("active=true", vec!["/shop/orders", "/hr/people", "/shop/stock"], 3),
            ("active=false", vec!["/shop/returns", "/shop/audit", "/hr/leave"], 3),
            ("has_gd=true", vec!["/shop/orders", "/shop/returns"], 2),
            ("has_gd=false", vec!["/shop/audit", "/hr/people", "/hr/leave", "/shop/stock"], 4),
            ("active=true&has_gd=false", vec!["/hr/people", "/shop/stock"], 2),
            ("active=false&has_gd=true", vec!["/shop/returns"], 1),
            // With a search, the filter and the search both hold.
            ("active=false&q=SHOP", vec!["/shop/returns", "/shop/audit"], 2),
            ("q=hr&has_gd=false&active=false", vec!["/hr/leave"], 1),
            ("active=true&q=returns", vec![], 0),
            // Pages of the filtered matches, the total the same on each.
            ("active=false&limit=2", vec!["/shop/returns", "/shop/audit"], 3),
            ("active=false&limit=2&offset=2", vec!["/hr/leave"], 3),
            ("active=false&q=shop&limit=1&offset=1", vec!["/shop/audit"], 2),
            ("has_gd=false&offset=4", vec![], 4),
            // An exact name is filtered too.
            ("name=/shop/orders&active=true", vec!["/shop/orders"], 1),
            ("name=/shop/orders&active=false", vec![], 0),
        ] {
            let path = format!("/admin/v1/topics?{query}");
            assert_eq!(named_page(&admin, &path), (owned(&expected), total), "{backend:?} {path}");
        }
        // An edit moves a topic from one filter to the other.
        let (_, found) = admin.get("/admin/v1/topics?name=/hr/leave");
        let (status, body) =
            admin.patch(&format!("/admin/v1/topics/{}", found[0]["id"]), &json!({"is_active": true}));
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            named_page(&admin, "/admin/v1/topics?active=true&q=/hr/"),
            (owned(&["/hr/people", "/hr/leave"]), 2)
        );
        assert_eq!(named_page(&admin, "/admin/v1/topics?active=false&q=/hr/"), (vec![], 0));

        for (query, details) in [
            ("active=yes", "`active` must be one of true, false, not `yes`"),
            ("active=TRUE", "`active` must be one of true, false, not `TRUE`"),
            ("has_gd=1", "`has_gd` must be one of true, false, not `1`"),
            ("active=true&has_gd=no&q=shop", "`has_gd` must be one of true, false, not `no`"),
            (
                "state=inactive",
                "invalid query: Query deserialize error: unknown field `state`, expected one of `name`, `q`, \
                 `active`, `has_gd`, `limit`, `offset`",
            ),
            ("active=true&limit=0", "limit must be 1–10000 and offset not negative"),
        ] {
            assert_refused(&admin.get(&format!("/admin/v1/topics?{query}")), 400, details);
        }
    }
}

#[test]
fn endpoints_filter_by_role_and_type_with_search_and_paging() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        for (name, role, endpoint_type) in [
            ("shop-api", "pub-sub", "rest"),
            ("shop-feed", "sub-only", "wsx"),
            ("shop-push", "sub-only", "rest"),
            ("hr-api", "pub-only", "rest"),
            ("hr-feed", "sub-only", "wsx"),
            ("ledger", "sub-only", "soap"),
        ] {
            let body = json!({"name": name, "role": role, "endpoint_type": endpoint_type});
            let (status, endpoint) = admin.post("/admin/v1/endpoints", &body);
            assert_eq!(status, 201, "{endpoint}");
        }

        for (query, expected, total) in [
            ("role=sub-only", vec!["shop-feed", "shop-push", "hr-feed", "ledger"], 4),
            ("role=pub-only", vec!["hr-api"], 1),
            ("role=pub-sub", vec!["shop-api"], 1),
            ("endpoint_type=rest", vec!["shop-api", "shop-push", "hr-api"], 3),
            ("endpoint_type=wsx", vec!["shop-feed", "hr-feed"], 2),
            ("endpoint_type=amqp", vec![], 0),
            ("role=sub-only&endpoint_type=wsx", vec!["shop-feed", "hr-feed"], 2),
            ("role=pub-only&endpoint_type=wsx", vec![], 0),
            // With a search (name or username), the filters and the search all hold.
            ("role=sub-only&q=SHOP", vec!["shop-feed", "shop-push"], 2),
            ("q=feed&endpoint_type=wsx&role=sub-only", vec!["shop-feed", "hr-feed"], 2),
            ("endpoint_type=rest&q=hr", vec!["hr-api"], 1),
            // Pages of the filtered matches, the total the same on each.
            ("role=sub-only&limit=3", vec!["shop-feed", "shop-push", "hr-feed"], 4),
            ("role=sub-only&limit=3&offset=3", vec!["ledger"], 4),
            ("role=sub-only&q=shop&limit=1&offset=1", vec!["shop-push"], 2),
            ("endpoint_type=wsx&offset=2", vec![], 2),
        ] {
            let path = format!("/admin/v1/endpoints?{query}");
            assert_eq!(named_page(&admin, &path), (owned(&expected), total), "{backend:?} {path}");
        }
        // An edit moves an endpoint from one filter to the other.
        let (_, found) = admin.get("/admin/v1/endpoints?q=ledger");
        let body = json!({"role": "pub-sub", "endpoint_type": "rest"});
        let (status, edited) = admin.patch(&format!("/admin/v1/endpoints/{}", found[0]["id"]), &body);
        assert_eq!(status, 200, "{edited}");
        assert_eq!(
            named_page(&admin, "/admin/v1/endpoints?role=pub-sub&endpoint_type=rest"),
            (owned(&["shop-api", "ledger"]), 2)
        );
        assert_eq!(named_page(&admin, "/admin/v1/endpoints?role=sub-only").1, 3);

        for (query, details) in [
            ("role=boss", "`role` must be one of pub-only, sub-only, pub-sub, not `boss`"),
            ("role=Sub-Only", "`role` must be one of pub-only, sub-only, pub-sub, not `Sub-Only`"),
            (
                "endpoint_type=fax",
                "`endpoint_type` must be one of rest, soap, wsx, srv, amqp, files, not `fax`",
            ),
            (
                "role=sub-only&endpoint_type=WSX&q=feed",
                "`endpoint_type` must be one of rest, soap, wsx, srv, amqp, files, not `WSX`",
            ),
            (
                "type=wsx",
                "invalid query: Query deserialize error: unknown field `type`, expected one of `q`, `role`, \
                 `endpoint_type`, `limit`, `offset`",
            ),
            ("role=sub-only&offset=-1", "limit must be 1–10000 and offset not negative"),
        ] {
            assert_refused(&admin.get(&format!("/admin/v1/endpoints?{query}")), 400, details);
        }
    }
}

/// The query parameters a list route declares in the OpenAPI document, by name, resolved.
fn declared_query(doc: &Value, path: &str) -> Vec<(String, Value)> {
    let params = doc["paths"][format!("/admin/v1{path}")]["get"]["parameters"].as_array().unwrap();
    params
        .iter()
        .map(|p| {
            let pointer = p["$ref"].as_str().unwrap().trim_start_matches('#');
            doc.pointer(pointer).unwrap_or_else(|| panic!("dangling {pointer}")).clone()
        })
        .filter(|p| p["in"] == "query")
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["schema"].clone()))
        .collect()
}

#[test]
fn the_openapi_document_declares_the_list_filters_and_the_values_they_take() {
    let node = Node::start(Backend::Sqlite);
    let (status, doc) = node.admin().get("/admin/v1/openapi.json");
    assert_eq!(status, 200, "{doc}");
    let boolean = json!({"type": "boolean"});
    let q = json!({"type": "string", "maxLength": 200});
    let limit = json!({"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000});
    let offset = json!({"type": "integer", "minimum": 0, "maximum": i64::MAX, "default": 0});
    assert_eq!(
        declared_query(&doc, "/topics"),
        [
            ("name".to_owned(), json!({"type": "string"})),
            ("q".into(), q.clone()),
            ("active".into(), boolean.clone()),
            ("has_gd".into(), boolean),
            ("limit".into(), limit.clone()),
            ("offset".into(), offset.clone()),
        ]
    );
    assert_eq!(
        declared_query(&doc, "/endpoints"),
        [
            ("q".to_owned(), q),
            ("role".into(), json!({"type": "string", "enum": ["pub-only", "sub-only", "pub-sub"]})),
            (
                "endpoint_type".into(),
                json!({"type": "string", "enum": ["rest", "soap", "wsx", "srv", "amqp", "files"]}),
            ),
            ("limit".into(), limit),
            ("offset".into(), offset),
        ]
    );
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
    let mut db = Db::of(node);
    for sql in &statements {
        assert_eq!(db.execute(sql), topics as usize, "{sql}");
    }
}

#[test]
fn ten_thousand_topics_and_subscriptions_page_within_two_seconds_each() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let body = json!({"name": "bulk-reader", "role": "sub-only", "topic_patterns": ["sub=/bulk/**"]});
        assert_eq!(admin.post("/admin/v1/endpoints", &body).0, 201);
        bulk_insert(&node, 10_000);
        // The best of three answers: what a page costs, not what a busy machine adds to one. A
        // page takes milliseconds; the bound (2 s, for a debug build on a loaded machine) is
        // what reading all 10,000 rows per request, or a query per row, would far exceed.
        let timed = |path: &str| {
            let mut answers = (0..3).map(|_| {
                let started = Instant::now();
                let answer = page(&admin, path);
                (started.elapsed(), answer)
            });
            let (mut took, answer) = answers.next().unwrap();
            for (again, same) in answers {
                assert_eq!(same, answer, "{path} answered differently");
                took = took.min(again);
            }
            assert!(took < Duration::from_secs(2), "{path} took {took:?}");
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
        let took = (0..3)
            .map(|_| {
                let started = Instant::now();
                let (code, out, err) = node.cli(&["--json", "topic", "show", "/bulk/7777"]);
                let took = started.elapsed();
                assert_eq!(code, 0, "{err}");
                let shown: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
                assert_eq!(shown["name"], "/bulk/7777", "{out}");
                took
            })
            .min()
            .unwrap();
        // A process start and one request: reading every topic (200 pages) would take far longer.
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
