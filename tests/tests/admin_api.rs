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

        let (_, by_name) = admin.get("/admin/v1/topics?name=/orders/new");
        assert_eq!(by_name[0]["id"], id);
        topic(&node, "/orders/old");
        let (_, page) = admin.get("/admin/v1/topics?limit=1&offset=1");
        assert_eq!(page.as_array().unwrap().len(), 1);
        assert_eq!(page[0]["name"], "/orders/old");

        assert_eq!(admin.delete(&format!("/admin/v1/topics/{id}")).0, 200);
        assert_error(&admin.get(&format!("/admin/v1/topics/{id}")), 404);
        assert_error(&admin.delete(&format!("/admin/v1/topics/{id}")), 404);
    }
}

#[test]
fn bad_topic_input_is_refused_with_the_right_status_and_nothing_is_stored() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let (s, body, _) = admin.raw("POST", "/admin/v1/topics", Some("{\"name\": "));
        assert_error(&(s, body), 400);
        assert_error(&admin.post("/admin/v1/topics", &json!({"name": 5})), 400);
        assert_error(&admin.post("/admin/v1/topics", &json!({"name": "/x", "colour": "red"})), 400);
        assert_error(&admin.post("/admin/v1/topics", &json!({"name": "has space"})), 400);
        assert_error(&admin.post("/admin/v1/topics", &json!({"name": "x".repeat(201)})), 400);
        assert_error(&admin.post("/admin/v1/topics", &json!({"name": "/x", "max_depth_gd": 0})), 400);
        assert_error(&admin.post("/admin/v1/topics", &json!({"name": "/x", "on_no_subs_pub": "maybe"})), 400);
        assert_error(&admin.post("/admin/v1/topics", &json!({})), 400);
        assert_eq!(admin.get("/admin/v1/topics").1, json!([]), "a refused create stored something");

        topic(&node, "/x");
        assert_error(&admin.post("/admin/v1/topics", &json!({"name": "/x"})), 409);
        assert_error(&admin.get("/admin/v1/topics/abc"), 400);
        assert_error(&admin.get("/admin/v1/topics/999"), 404);
        assert_error(&admin.patch("/admin/v1/topics/999", &json!({"has_gd": true})), 404);
        assert_error(&admin.call("PUT", "/admin/v1/topics", None), 405);
        assert_error(&admin.get("/admin/v1/no-such-thing"), 404);
        assert_error(&admin.get("/admin/v1/topics?limit=0"), 400);
    }
}

#[test]
fn admin_keys_authenticate_and_read_only_keys_may_only_read() {
    for backend in backends() {
        let node = Node::start(backend);
        let (s, body, headers) = node.http().raw("GET", "/admin/v1/topics", None);
        assert_error(&(s, body), 401);
        assert!(headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("www-authenticate")));
        assert_error(&node.http().bearer("sba_wrong").get("/admin/v1/topics"), 401);

        let (status, created) =
            node.admin().post("/admin/v1/admin-keys", &json!({"name": "viewer", "role": "read-only"}));
        assert_eq!(status, 201, "{created}");
        let viewer_key = created["key"].as_str().unwrap().to_owned();
        assert!(viewer_key.starts_with("sba_"));
        let viewer = node.http().bearer(&viewer_key);
        assert_eq!(viewer.get("/admin/v1/topics").0, 200);
        assert_error(&viewer.post("/admin/v1/topics", &json!({"name": "/t"})), 403);
        assert_eq!(node.admin().get("/admin/v1/topics").1, json!([]));

        let (_, keys) = node.admin().get("/admin/v1/admin-keys");
        assert!(keys.to_string().contains("viewer"));
        assert!(!keys.to_string().contains(&viewer_key), "a key was listed");
        assert_error(&node.admin().post("/admin/v1/admin-keys", &json!({"name": "viewer"})), 409);
        assert_eq!(node.admin().delete("/admin/v1/admin-keys/viewer").0, 200);
        assert_error(&viewer.get("/admin/v1/topics"), 401);
        assert_error(&node.admin().delete("/admin/v1/admin-keys/viewer"), 404);
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
        let (_, read) = admin.get(&format!("/admin/v1/endpoints/{id}"));
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

        let (_, list) = admin.get("/admin/v1/endpoints");
        let text = list.to_string();
        for secret in [&password, &api_key, &new_password.to_owned()] {
            assert!(!text.contains(secret.as_str()), "a secret was listed");
            assert!(!node.log().contains(secret.as_str()), "a secret was logged");
        }
        let (status, edited) =
            admin.patch(&format!("/admin/v1/endpoints/{id}"), &json!({"role": "sub-only"}));
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["role"], "sub-only");

        assert_error(&admin.post("/admin/v1/endpoints", &json!({"name": "crm", "role": "pub-sub"})), 409);
        assert_error(&admin.post("/admin/v1/endpoints", &json!({"name": "x", "role": "boss"})), 400);
        assert_error(&admin.post("/admin/v1/endpoints", &json!({"name": "x"})), 400);
        assert_error(
            &admin.post(
                "/admin/v1/endpoints",
                &json!({"name": "x", "role": "pub-sub", "topic_patterns": ["/a"]}),
            ),
            400,
        );
        assert_error(
            &admin.post(
                "/admin/v1/endpoints",
                &json!({"name": "x", "role": "pub-sub", "endpoint_type": "fax"}),
            ),
            400,
        );
        assert_error(&admin.patch(&format!("/admin/v1/endpoints/{id}"), &json!({"auth": "none"})), 400);
        assert_eq!(admin.get("/admin/v1/endpoints").1.as_array().unwrap().len(), 2);
        assert_eq!(admin.delete(&format!("/admin/v1/endpoints/{id}")).0, 200);
        assert_error(&admin.get(&format!("/admin/v1/endpoints/{id}")), 404);
    }
}

#[test]
fn subscriptions_are_validated_stored_edited_and_deleted() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        topic(&node, "/crm/new");
        topic(&node, "/hr/new");
        admin.post(
            "/admin/v1/endpoints",
            &json!({"name": "crm", "role": "pub-sub", "topic_patterns": ["sub=/crm/*"]}),
        );
        admin.post(
            "/admin/v1/endpoints",
            &json!({"name": "pub", "role": "pub-only", "topic_patterns": ["pub=/crm/*", "sub=/crm/*"]}),
        );
        admin.post("/admin/v1/endpoints", &json!({"name": "hook", "role": "sub-only", "endpoint_type": "rest", "auth": "none", "topic_patterns": ["sub=/crm/*"]}));

        let (status, sub) =
            admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "crm"}));
        assert_eq!(status, 201, "{sub}");
        let key = sub["sub_key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("zpsk.rest."), "{key}");
        assert_eq!(key.len(), "zpsk.rest.".len() + 6);
        assert_eq!(sub["delivery_method"], "pull");
        assert_eq!(sub["delivery_batch_size"], 500);
        assert_eq!(sub["sub_pattern_matched"], "sub=/crm/*");
        assert!(sub["node"].is_string());

        assert_error(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "crm"})),
            409,
        );
        assert_error(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/hr/new", "endpoint": "crm"})),
            400,
        );
        assert_error(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "pub"})),
            400,
        );
        assert_error(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/nope", "endpoint": "crm"})),
            400,
        );
        assert_error(
            &admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "nobody"})),
            400,
        );
        assert_error(
            &admin.post(
                "/admin/v1/subscriptions",
                &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_method": "notify"}),
            ),
            400,
        );
        assert_error(&admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_method": "notify", "push": {"url": "not a url"}})), 400);
        assert_error(&admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_method": "notify", "ack_mode": "explicit", "push": {"url": "http://127.0.0.1:9/x"}})), 400);
        assert_error(
            &admin.post(
                "/admin/v1/subscriptions",
                &json!({"topic_name": "/crm/new", "endpoint": "hook", "delivery_batch_size": 0}),
            ),
            400,
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
        assert!(!admin.get("/admin/v1/subscriptions").1.to_string().contains("hunter2"));
        assert!(!node.log().contains("hunter2"));

        let (status, edited) = admin.patch(
            &format!("/admin/v1/subscriptions/{key}"),
            &json!({"ack_mode": "explicit", "ack_timeout": 2.5}),
        );
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["ack_mode"], "explicit");
        assert_eq!(edited["ack_timeout"], 2.5);
        assert_error(
            &admin.patch(&format!("/admin/v1/subscriptions/{key}"), &json!({"topic_name": "/hr/new"})),
            400,
        );

        assert_eq!(admin.get("/admin/v1/subscriptions").1.as_array().unwrap().len(), 2);
        assert_eq!(admin.delete(&format!("/admin/v1/subscriptions/{key}")).0, 200);
        assert_error(&admin.get(&format!("/admin/v1/subscriptions/{key}")), 404);
    }
}

#[test]
fn the_openapi_document_describes_every_admin_route_and_each_exists() {
    let node = Node::start(Backend::Sqlite);
    let (status, doc) = node.admin().get("/admin/v1/openapi.json");
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
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
    let text = body.as_str().unwrap_or_default();
    assert!(text.contains("# TYPE signalbox_gd_commit_seconds histogram"), "{text}");
}
