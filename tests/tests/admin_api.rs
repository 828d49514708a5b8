//! The admin API on both backends: every route, and every kind of bad input answered in the
//! envelope with the right status and nothing half-written.

use signalbox_tests::*;

fn topic(node: &Node, name: &str) -> serde_json::Value {
    let (status, body) = node.admin().post("/admin/v1/topics", &json!({"name": name}));
    assert_eq!(status, 201, "{body}");
    body
}

#[test]
fn topics_are_created_with_defaults_read_edited_listed_and_deleted() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let created = topic(&node, "/orders/new");
        assert_eq!(created["is_active"], true);
        assert_eq!(created["has_gd"], false);
        assert_eq!(created["max_depth_gd"], 10000);
        assert_eq!(created["max_depth_non_gd"], 1000);
        assert_eq!(created["limit_message_expiry"], 86400);
        assert_eq!(created["on_no_subs_pub"], "accept");
        assert_eq!(created["dedup_window"], 120);
        let id = created["id"].as_i64().unwrap();

        let (status, edited) =
            admin.patch(&format!("/admin/v1/topics/{id}"), &json!({"has_gd": true, "max_depth_gd": 5}));
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["has_gd"], true);
        assert_eq!(edited["max_depth_gd"], 5);
        assert_eq!(edited["name"], "/orders/new");

        topic(&node, "/orders/old");
        // `?name=` picks the one of two.
        let (status, by_name) = admin.get("/admin/v1/topics?name=/orders/new");
        assert_eq!(status, 200, "{by_name}");
        assert_eq!(by_name.as_array().map(Vec::len), Some(1), "{by_name}");
        assert_eq!(by_name[0], edited, "read back as edited");
        let (_, page) = admin.get("/admin/v1/topics?limit=1&offset=1");
        assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
        assert_eq!(page[0]["name"], "/orders/old");

        assert_eq!(admin.delete(&format!("/admin/v1/topics/{id}")).0, 200);
        assert_refused(&admin.get(&format!("/admin/v1/topics/{id}")), 404, "no topic with id 1");
        assert_refused(&admin.delete(&format!("/admin/v1/topics/{id}")), 404, "no topic with id 1");
    }
}

#[test]
fn bad_topic_input_is_refused_with_the_right_status_and_nothing_is_stored() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let (s, body, _) = admin.raw("POST", "/admin/v1/topics", Some("{\"name\": "));
        assert_refused(&(s, body), 400, "invalid request body: EOF while parsing a value at line 1 column 9");
        assert_refused(
            &admin.post("/admin/v1/topics", &json!({"name": 5})),
            400,
            "invalid request body: invalid type: integer `5`, expected a string at line 1 column 9",
        );
        assert_refused(&admin.post("/admin/v1/topics", &json!({"name": "/x", "colour": "red"})), 400, "invalid request body: unknown field `colour`, expected one of `name`, `is_active`, `has_gd`, `is_api_sub_allowed`, `max_depth_gd`, `max_depth_non_gd`, `on_overflow_non_gd`, `limit_message_expiry`, `limit_sub_inactivity`, `on_no_subs_pub`, `dedup_window` at line 1 column 9");
        assert_refused(
            &admin.post("/admin/v1/topics", &json!({"name": "has space"})),
            400,
            "`name` must be 1–200 printable ASCII characters without spaces",
        );
        assert_refused(
            &admin.post("/admin/v1/topics", &json!({"name": "x".repeat(201)})),
            400,
            "`name` must be 1–200 printable ASCII characters without spaces",
        );
        assert_refused(
            &admin.post("/admin/v1/topics", &json!({"name": "/x", "max_depth_gd": 0})),
            400,
            "`max_depth_gd` must be 1–1000000000",
        );
        assert_refused(
            &admin.post("/admin/v1/topics", &json!({"name": "/x", "on_no_subs_pub": "maybe"})),
            400,
            "`on_no_subs_pub` must be one of accept, drop, not `maybe`",
        );
        assert_refused(&admin.post("/admin/v1/topics", &json!({})), 400, "`name` is required");
        assert_eq!(admin.get("/admin/v1/topics").1, json!([]), "a refused create stored something");

        topic(&node, "/x");
        assert_refused(
            &admin.post("/admin/v1/topics", &json!({"name": "/x"})),
            409,
            "a topic named `/x` already exists",
        );
        assert_refused(&admin.get("/admin/v1/topics/abc"), 400, "`abc` is not a numeric id");
        assert_refused(&admin.get("/admin/v1/topics/999"), 404, "no topic with id 999");
        assert_refused(
            &admin.patch("/admin/v1/topics/999", &json!({"has_gd": true})),
            404,
            "no topic with id 999",
        );
        assert_refused(&admin.call("PUT", "/admin/v1/topics", None), 405, "method not allowed on this path");
        assert_refused(&admin.get("/admin/v1/no-such-thing"), 404, "no such path");
        assert_refused(
            &admin.get("/admin/v1/topics?limit=0"),
            400,
            "limit must be 1–10000 and offset not negative",
        );
    }
}

#[test]
fn admin_keys_authenticate_and_read_only_keys_may_only_read() {
    for backend in backends() {
        let node = Node::start(backend);
        let (s, body, headers) = node.http().raw("GET", "/admin/v1/topics", None);
        assert_refused(&(s, body), 401, "an admin key is required: Authorization: Bearer sba_…");
        assert!(headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("www-authenticate")));
        assert_refused(
            &node.http().bearer("sba_wrong").get("/admin/v1/topics"),
            401,
            "unknown or revoked admin key",
        );

        let (status, created) =
            node.admin().post("/admin/v1/admin-keys", &json!({"name": "viewer", "role": "read-only"}));
        assert_eq!(status, 201, "{created}");
        let viewer_key = created["key"].as_str().unwrap().to_owned();
        assert!(viewer_key.starts_with("sba_"));
        let viewer = node.http().bearer(&viewer_key);
        assert_eq!(viewer.get("/admin/v1/topics").0, 200);
        assert_refused(
            &viewer.post("/admin/v1/topics", &json!({"name": "/t"})),
            403,
            "admin key `viewer` is read-only: only GET is allowed",
        );
        assert_eq!(node.admin().get("/admin/v1/topics").1, json!([]));

        let (_, keys) = node.admin().get("/admin/v1/admin-keys");
        let listed: Vec<(&Value, &Value)> =
            keys.as_array().unwrap().iter().map(|k| (&k["name"], &k["role"])).collect();
        assert_eq!(listed, [(&json!("admin"), &json!("admin")), (&json!("viewer"), &json!("read-only"))]);
        assert!(!keys.to_string().contains(&viewer_key), "a key was listed");
        assert_refused(
            &node.admin().post("/admin/v1/admin-keys", &json!({"name": "viewer"})),
            409,
            "an admin key named `viewer` already exists",
        );
        assert_eq!(node.admin().delete("/admin/v1/admin-keys/viewer").0, 200);
        assert_refused(&viewer.get("/admin/v1/topics"), 401, "unknown or revoked admin key");
        assert_refused(
            &node.admin().delete("/admin/v1/admin-keys/viewer"),
            404,
            "no admin key named `viewer`",
        );
        assert!(!node.log().contains(&viewer_key), "an admin key was logged");
        assert!(node.log().contains("admin_key=admin action=admin_key.revoke"), "no audit line");
    }
}

#[test]
fn endpoints_show_credentials_once_store_only_digests_and_rotate() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let (status, basic) = admin.post(
            "/admin/v1/endpoints",
            &json!({"name": "crm", "role": "pub-sub", "topic_patterns": ["pub=/crm/*", "sub=/crm/**"]}),
        );
        assert_eq!(status, 201, "{basic}");
        let password = basic["password"].as_str().unwrap().to_owned();
        assert_eq!(basic["username"], "crm");
        assert_eq!(basic["topic_patterns"], json!(["pub=/crm/*", "sub=/crm/**"]));
        let id = basic["id"].as_i64().unwrap();
        let (status, read) = admin.get(&format!("/admin/v1/endpoints/{id}"));
        assert_eq!((status, &read["name"]), (200, &json!("crm")), "{read}");
        assert!(read.get("password").is_none());
        assert!(!read.to_string().contains(&password));

        let (status, keyed) =
            admin.post("/admin/v1/endpoints", &json!({"name": "erp", "role": "pub-only", "auth": "api_key"}));
        assert_eq!(status, 201, "{keyed}");
        let api_key = keyed["api_key"].as_str().unwrap().to_owned();
        assert!(api_key.starts_with("sbk_"));

        let (status, rotated) = admin.post(&format!("/admin/v1/endpoints/{id}/credentials"), &json!({}));
        assert_eq!(status, 200, "{rotated}");
        let new_password = rotated["password"].as_str().unwrap();
        assert_ne!(new_password, password);

        let (status, list) = admin.get("/admin/v1/endpoints");
        assert_eq!(status, 200, "{list}");
        let text = list.to_string();
        for secret in [&password, &api_key, &new_password.to_owned()] {
            assert!(!text.contains(secret.as_str()), "a secret was listed");
            assert!(!node.log().contains(secret.as_str()), "a secret was logged");
        }
        let (status, edited) =
            admin.patch(&format!("/admin/v1/endpoints/{id}"), &json!({"role": "sub-only"}));
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["role"], "sub-only");

        assert_refused(
            &admin.post("/admin/v1/endpoints", &json!({"name": "crm", "role": "pub-sub"})),
            409,
            "an endpoint named `crm` (or with that username) already exists",
        );
        assert_refused(
            &admin.post("/admin/v1/endpoints", &json!({"name": "x", "role": "boss"})),
            400,
            "`role` must be one of pub-only, sub-only, pub-sub, not `boss`",
        );
        assert_refused(
            &admin.post("/admin/v1/endpoints", &json!({"name": "x"})),
            400,
            "`role` is required: one of pub-only, sub-only, pub-sub",
        );
        assert_refused(
            &admin.post(
                "/admin/v1/endpoints",
                &json!({"name": "x", "role": "pub-sub", "topic_patterns": ["/a"]}),
            ),
            400,
            "topic pattern `/a` must start with `pub=` or `sub=`",
        );
        assert_refused(
            &admin.post(
                "/admin/v1/endpoints",
                &json!({"name": "x", "role": "pub-sub", "endpoint_type": "fax"}),
            ),
            400,
            "`endpoint_type` must be one of rest, soap, wsx, srv, amqp, files, not `fax`",
        );
        assert_refused(
            &admin.patch(&format!("/admin/v1/endpoints/{id}"), &json!({"auth": "none"})),
            400,
            "`auth` cannot be changed in place: delete the endpoint and create it again",
        );
        assert_eq!(admin.get("/admin/v1/endpoints").1.as_array().unwrap().len(), 2);
        assert_eq!(admin.delete(&format!("/admin/v1/endpoints/{id}")).0, 200);
        assert_refused(&admin.get(&format!("/admin/v1/endpoints/{id}")), 404, "no endpoint with id 1");
    }
}

#[test]
fn subscriptions_are_validated_stored_edited_and_deleted() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        topic(&node, "/crm/new");
        topic(&node, "/hr/new");
        admin.post_ok(
            "/admin/v1/endpoints",
            &json!({"name": "crm", "role": "pub-sub", "topic_patterns": ["sub=/crm/*"]}),
        );
        admin.post_ok(
            "/admin/v1/endpoints",
            &json!({"name": "pub", "role": "pub-only", "topic_patterns": ["pub=/crm/*", "sub=/crm/*"]}),
        );
        admin.post_ok(
            "/admin/v1/endpoints",
            &json!({"name": "hook", "role": "sub-only", "endpoint_type": "rest", "auth": "none",
                    "topic_patterns": ["sub=/crm/*"]}),
        );

        let (status, sub) =
            admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "crm"}));
        assert_eq!(status, 201, "{sub}");
        let key = sub["sub_key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("zpsk.rest."), "{key}");
        assert_eq!(key.len(), "zpsk.rest.".len() + 6);
        assert_eq!(sub["delivery_method"], "pull");
        assert_eq!(sub["delivery_batch_size"], 500);
        assert_eq!(sub["sub_pattern_matched"], "sub=/crm/*");
        // A node running alone owns every subscription.
        let (_, me) = admin.get("/admin/v1/cluster/nodes");
        assert_eq!(sub["node"], me[0]["name"], "{me}");

        assert_refused(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "crm"})),
            409,
            "endpoint `crm` is already subscribed to `/crm/new`",
        );
        assert_refused(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/hr/new", "endpoint": "crm"})),
            400,
            "endpoint `crm` (role pub-sub) has no `sub=` pattern matching topic `/hr/new`",
        );
        assert_refused(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "pub"})),
            400,
            "endpoint `pub` (role pub-only) has no `sub=` pattern matching topic `/crm/new`",
        );
        assert_refused(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/nope", "endpoint": "crm"})),
            400,
            "no topic named `/nope`",
        );
        assert_refused(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "nobody"})),
            400,
            "no endpoint named `nobody`",
        );
        assert_refused(
            &admin.post(
                "/admin/v1/subscriptions",
                &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_method": "notify"}),
            ),
            400,
            "`delivery_method = notify` needs a `push` target",
        );
        assert_refused(&admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_method": "notify", "push": {"url": "not a url"}})), 400, "`push.url` must be an http:// or https:// URL, not `not a url`");
        assert_refused(&admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_method": "notify", "ack_mode": "explicit", "push": {"url": "http://127.0.0.1:9/x"}})), 400, "`ack_mode = explicit` is for pull and WSX subscriptions: a push target acknowledges by succeeding");
        assert_refused(
            &admin.post(
                "/admin/v1/subscriptions",
                &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_batch_size": 0}),
            ),
            400,
            "`delivery_batch_size` must be 1–10000",
        );

        let (status, push_sub) = admin.post(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_method": "notify",
                    "push": {"url": "http://127.0.0.1:9/x", "auth": {"type": "basic", "username": "u", "password": "hunter2"}}}),
        );
        assert_eq!(status, 201, "{push_sub}");
        assert_eq!(
            push_sub["push"],
            json!({"type": "rest", "url": "http://127.0.0.1:9/x", "auth": {"type": "basic", "username": "u"}})
        );
        let (_, stored) =
            admin.get(&format!("/admin/v1/subscriptions/{}", push_sub["sub_key"].as_str().unwrap()));
        assert_eq!(stored["push"], push_sub["push"], "{stored}");
        assert!(!admin.get("/admin/v1/subscriptions").1.to_string().contains("hunter2"));
        assert!(!node.log().contains("hunter2"));

        let (status, edited) = admin.patch(
            &format!("/admin/v1/subscriptions/{key}"),
            &json!({"ack_mode": "explicit", "ack_timeout": 2.5}),
        );
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["ack_mode"], "explicit");
        assert_eq!(edited["ack_timeout"], 2.5);
        let (status, body) =
            admin.patch(&format!("/admin/v1/subscriptions/{key}"), &json!({"topic_name": "/hr/new"}));
        assert_error(&(status, body.clone()), 400);
        let details = body["details"].as_str().unwrap();
        assert!(details.starts_with("invalid `topic_name`: unknown field `topic_name`"), "{details}");

        assert_eq!(admin.get("/admin/v1/subscriptions").1.as_array().unwrap().len(), 2);
        assert_eq!(admin.delete(&format!("/admin/v1/subscriptions/{key}")).0, 200);
        assert_refused(
            &admin.get(&format!("/admin/v1/subscriptions/{key}")),
            404,
            &format!("no subscription `{key}`"),
        );
    }
}

#[test]
fn the_openapi_document_describes_every_admin_route_and_each_exists() {
    let node = Node::start(Backend::Sqlite);
    let (status, doc) = node.admin().get("/admin/v1/openapi.json");
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    // Every admin route family is described.
    for family in [
        "/admin/v1/topics",
        "/admin/v1/endpoints",
        "/admin/v1/subscriptions",
        "/admin/v1/channels",
        "/admin/v1/file-channels",
        "/admin/v1/links",
        "/admin/v1/services",
        "/admin/v1/admin-keys",
        "/admin/v1/actors",
        "/admin/v1/cluster/nodes",
    ] {
        assert!(paths.contains_key(family), "{family} is not described");
    }
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "424242")
            .replace("{sub_key}", "zpsk.none")
            .replace("{name}", "nobody")
            .replace("{msg_id}", "zpsm-none")
            .replace("{session_id}", "ws.none")
            .replace("{actor_id}", "delivery:none")
            .replace("{command}", "pause");
        for method in ops.as_object().unwrap().keys() {
            let (status, body) = node.admin().call(&method.to_uppercase(), &concrete, Some(&json!({})));
            assert_ne!(body["details"], "no such path", "{method} {path} is documented but not routed");
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(status < 500, "{method} {path} answered {status}: {body}");
        }
    }
}

#[test]
fn metrics_are_prometheus_text() {
    let node = Node::start(Backend::Sqlite);
    let (status, body, headers) = node.http().raw("GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("text/plain")));
    // Every line parses as Prometheus reads it; histograms expose their buckets, sum and count.
    let metrics = Metrics::parse(body.as_str().expect("text"));
    assert_eq!(metrics.type_of("signalbox_gd_commit_seconds"), Some("histogram"));
    let names = metrics.metric_names();
    for part in ["_bucket", "_sum", "_count"] {
        assert!(names.contains(&format!("signalbox_gd_commit_seconds{part}")), "{names:?}");
    }
    assert_eq!(metrics.metric("signalbox_gd_commit_seconds_bucket{le=\"+Inf\"}"), Some(0.0));
}
