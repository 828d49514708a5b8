//! The admin API's OpenAPI document: read by a strict OpenAPI 3.0 parser, its schemas compiled
//! as JSON Schema, real answers of every kind (create, read, list, edit, errors) checked against
//! the schema the document declares for their status, bodies it forbids refused, and 405s that
//! carry `Allow`.

use std::collections::BTreeSet;

use signalbox_tests::*;

/// The document as the node serves it.
fn document(node: &Node) -> Value {
    let (status, doc) = node.admin().get("/admin/v1/openapi.json");
    assert_eq!(status, 200, "{doc}");
    doc
}

/// OpenAPI 3.0's `nullable` as JSON Schema says it (`type: [T, "null"]`), everywhere.
fn as_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(k, _)| *k != "nullable")
                .map(|(k, v)| (k.clone(), as_json_schema(v)))
                .collect();
            if map.get("nullable") == Some(&json!(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                }
                if let Some(Value::Array(mut values)) = out.get("enum").cloned() {
                    values.push(Value::Null);
                    out.insert("enum".into(), Value::Array(values));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(as_json_schema).collect()),
        other => other.clone(),
    }
}

/// Follows a local `$ref` (`#/components/…`) to what it names.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        v = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    v
}

/// A JSON Schema validator for `schema`, whose `$ref`s resolve in the document's components.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = as_json_schema(schema);
    if let Value::Object(map) = &mut root {
        map.insert("components".into(), as_json_schema(&doc["components"]));
    } else {
        root = json!({"allOf": [root], "components": as_json_schema(&doc["components"])});
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema}"))
}

/// Checks an answer against the document: its status is declared for the route, and its body
/// (and `X-Total-Count` where declared) match the declared schema. Answers the body.
fn conforms(doc: &Value, method: &str, template: &str, answer: (u16, Value, Vec<(String, String)>)) -> Value {
    let (status, body, headers) = answer;
    let op = &doc["paths"][format!("/admin/v1{template}")][method];
    assert!(op.is_object(), "{method} {template} is not in the document");
    let declared = op["responses"].get(status.to_string()).unwrap_or_else(|| {
        panic!("{method} {template} answered {status}, which the document does not declare: {body}")
    });
    let response = resolve(doc, declared);
    let schema = &response["content"]["application/json"]["schema"];
    let v = validator(doc, schema);
    let errors: Vec<String> = v.iter_errors(&body).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {template} {status}: {errors:?}\n{body}");
    if response["headers"].get("X-Total-Count").is_some() {
        let total = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-total-count"));
        let total = total.unwrap_or_else(|| panic!("{method} {template}: no X-Total-Count"));
        assert!(total.1.parse::<u64>().is_ok(), "{method} {template}: X-Total-Count {}", total.1);
    }
    if response["headers"].get("Allow").is_some() || status == 405 {
        assert!(
            headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("allow")),
            "{method} {template}: no Allow"
        );
    }
    body
}

fn raw(http: &Http, method: &str, path: &str, body: Option<Value>) -> (u16, Value, Vec<(String, String)>) {
    http.raw(method, path, body.map(|b| b.to_string()).as_deref())
}

#[test]
fn the_document_is_openapi_3_that_a_strict_parser_reads() {
    let node = Node::start(Backend::Sqlite);
    let doc = document(&node);
    let parsed: openapiv3::OpenAPI =
        serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("not OpenAPI 3.0: {e}"));
    assert!(parsed.openapi.starts_with("3.0"));
    // What the parser read is what was served: nothing it did not understand was dropped.
    let reread = serde_json::to_value(&parsed).unwrap();
    assert_eq!(reread["paths"].as_object().unwrap().len(), doc["paths"].as_object().unwrap().len());

    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let _ = validator(&doc, schema);
        assert!(parsed.components.as_ref().unwrap().schemas.contains_key(name));
    }
    // The validators are not vacuous: a topic with a text id or without its name is refused.
    let topic = validator(&doc, &json!({"$ref": "#/components/schemas/Topic"}));
    assert!(!topic.is_valid(&json!({"id": "7"})));
    let envelope = validator(&doc, &json!({"$ref": "#/components/schemas/Error"}));
    assert!(envelope.is_valid(&json!({"result": "Error", "cid": "c", "details": "d"})));
    assert!(!envelope.is_valid(&json!({"result": "Ok", "cid": "c", "details": "d"})));

    let envelope = json!({"$ref": "#/components/schemas/Error"});
    for (path, item) in parsed.paths.paths.iter() {
        let item = item.as_item().expect("paths are not references");
        for (method, op) in item.iter() {
            let raw = &doc["paths"][path][method];
            let declared: BTreeSet<&str> =
                raw["responses"].as_object().unwrap().keys().map(String::as_str).collect();
            for status in ["401", "503"] {
                assert!(declared.contains(status), "{method} {path} does not declare {status}");
            }
            if method != "get" {
                assert!(declared.contains("403"), "{method} {path}: a read-only key's 403 is not declared");
            }
            if path.contains('{') {
                assert!(
                    declared.contains("404") && declared.contains("400"),
                    "{method} {path}: {declared:?}"
                );
            }
            for (status, response) in raw["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let r = resolve(&doc, response);
                    assert_eq!(
                        r["content"]["application/json"]["schema"], envelope,
                        "{method} {path} {status}"
                    );
                }
            }
            // A create answers 201; every operation has an id and a summary.
            let collection = !path.trim_end_matches('/').rsplit('/').next().unwrap().starts_with('{');
            let creates = method == "post"
                && collection
                && raw["requestBody"]["required"] == true
                && !path.ends_with("/publish")
                && !path.ends_with("/invoke");
            if creates {
                assert!(declared.contains("201"), "{method} {path} creates but does not answer 201");
            }
            assert!(op.operation_id.is_some() && op.summary.is_some(), "{method} {path}");
            // Every path parameter is declared; ids are integers.
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                let param = raw["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| resolve(&doc, p))
                    .find(|p| p["name"] == name && p["in"] == "path")
                    .unwrap_or_else(|| panic!("{method} {path}: `{name}` not declared"));
                if name == "id" {
                    assert_eq!(param["schema"]["type"], "integer", "{method} {path}");
                }
            }
        }
    }
    // List routes declare their query and their total.
    let topics = &doc["paths"]["/admin/v1/topics"]["get"];
    let names: Vec<String> = topics["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| resolve(&doc, p)["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["name", "q", "active", "has_gd", "limit", "offset"]);
    assert!(topics["responses"]["200"]["headers"]["X-Total-Count"].is_object());
}

#[test]
fn real_answers_match_the_schemas_the_document_declares() {
    for backend in backends() {
        let node = Node::start(backend);
        let doc = document(&node);
        let admin = node.admin();
        let check = |method: &str, template: &str, path: &str, body: Option<Value>| {
            conforms(&doc, method, template, raw(&admin, &method.to_uppercase(), path, body))
        };

        let topic = check(
            "post",
            "/topics",
            "/admin/v1/topics",
            Some(json!({"name": "/api/orders", "has_gd": true})),
        );
        let id = topic["id"].as_i64().unwrap();
        check("get", "/topics/{id}", &format!("/admin/v1/topics/{id}"), None);
        check("patch", "/topics/{id}", &format!("/admin/v1/topics/{id}"), Some(json!({"dedup_window": 5})));
        check("get", "/topics", "/admin/v1/topics?q=ORDERS&limit=5", None);
        check("get", "/topics", "/admin/v1/topics?name=/api/orders", None);
        let endpoint = check(
            "post",
            "/endpoints",
            "/admin/v1/endpoints",
            Some(
                json!({"name": "api-client", "role": "pub-sub", "topic_patterns": ["pub=/api/**", "sub=/api/**"]}),
            ),
        );
        let endpoint_id = endpoint["id"].as_i64().unwrap();
        check("get", "/endpoints", "/admin/v1/endpoints", None);
        check("get", "/endpoints/{id}", &format!("/admin/v1/endpoints/{endpoint_id}"), None);
        check(
            "post",
            "/endpoints/{id}/credentials",
            &format!("/admin/v1/endpoints/{endpoint_id}/credentials"),
            None,
        );
        let sub = check(
            "post",
            "/subscriptions",
            "/admin/v1/subscriptions",
            Some(json!({"topic_name": "/api/orders", "endpoint": "api-client", "ack_mode": "explicit"})),
        );
        let sub_key = sub["sub_key"].as_str().unwrap().to_owned();
        check("get", "/subscriptions", "/admin/v1/subscriptions?topic_name=/api/orders", None);
        check("get", "/subscriptions/{sub_key}", &format!("/admin/v1/subscriptions/{sub_key}"), None);
        check(
            "patch",
            "/subscriptions/{sub_key}",
            &format!("/admin/v1/subscriptions/{sub_key}"),
            Some(json!({"ack_timeout": 60})),
        );
        let published = check(
            "post",
            "/topics/{id}/publish",
            &format!("/admin/v1/topics/{id}/publish"),
            Some(json!({"endpoint": "api-client", "data": {"n": 1}, "correl_id": "c-1"})),
        );
        check(
            "post",
            "/topics/{id}/publish",
            &format!("/admin/v1/topics/{id}/publish"),
            Some(
                json!({"endpoint": "api-client", "data_list": [{"data": 2}, {"data": "three", "has_gd": false}]}),
            ),
        );
        let msg_id = published["msg_id"].as_str().unwrap().to_owned();
        check(
            "get",
            "/subscriptions/{sub_key}/queue",
            &format!("/admin/v1/subscriptions/{sub_key}/queue?limit=2"),
            None,
        );
        check(
            "get",
            "/subscriptions/{sub_key}/dead-letters",
            &format!("/admin/v1/subscriptions/{sub_key}/dead-letters"),
            None,
        );
        check("get", "/messages/{msg_id}", &format!("/admin/v1/messages/{msg_id}"), None);
        check(
            "patch",
            "/messages/{msg_id}",
            &format!("/admin/v1/messages/{msg_id}"),
            Some(json!({"priority": 7})),
        );
        check("get", "/topics/{id}/messages", &format!("/admin/v1/topics/{id}/messages"), None);
        check(
            "post",
            "/subscriptions/{sub_key}/dead-letters/requeue",
            &format!("/admin/v1/subscriptions/{sub_key}/dead-letters/requeue"),
            None,
        );
        check(
            "post",
            "/subscriptions/{sub_key}/clear",
            &format!("/admin/v1/subscriptions/{sub_key}/clear"),
            None,
        );
        check("post", "/topics/{id}/clear", &format!("/admin/v1/topics/{id}/clear"), None);

        check("get", "/services", "/admin/v1/services", None);
        check(
            "post",
            "/services",
            "/admin/v1/services",
            Some(
                json!({"name": "orders.in", "kind": "publish", "topic_name": "/api/orders", "endpoint": "api-client"}),
            ),
        );
        check("get", "/services/{name}", "/admin/v1/services/orders.in", None);
        check("get", "/services/{name}", "/admin/v1/services/helpers.echo", None);
        check(
            "post",
            "/services/{name}/invoke",
            "/admin/v1/services/helpers.echo/invoke",
            Some(json!({"a": 1})),
        );
        check("post", "/services/{name}/invoke", "/admin/v1/services/zato.ping/invoke", None);

        let channel =
            check("post", "/channels", "/admin/v1/channels", Some(json!({"name": "gw", "path": "/wsx/gw"})));
        let channel_id = channel["id"].as_i64().unwrap();
        check("get", "/channels", "/admin/v1/channels?q=gw", None);
        check(
            "patch",
            "/channels/{id}",
            &format!("/admin/v1/channels/{channel_id}"),
            Some(json!({"token_ttl": 60})),
        );
        check("get", "/channels/{id}/sessions", &format!("/admin/v1/channels/{channel_id}/sessions"), None);
        let dir = tempfile::tempdir().unwrap();
        let file_channel = check(
            "post",
            "/file-channels",
            "/admin/v1/file-channels",
            Some(
                json!({"name": "drop", "directory": dir.path(), "topic_name": "/api/orders", "endpoint": "api-client"}),
            ),
        );
        check("get", "/file-channels/{id}", &format!("/admin/v1/file-channels/{}", file_channel["id"]), None);
        check("get", "/file-channels", "/admin/v1/file-channels", None);
        let link = check(
            "post",
            "/links",
            "/admin/v1/links",
            Some(
                json!({"name": "far", "address": format!("ws://{}/wsx/x", free_addr()), "username": "u", "secret": "s", "auto_reconnect": false}),
            ),
        );
        check("get", "/links/{id}", &format!("/admin/v1/links/{}", link["id"]), None);
        check("get", "/links", "/admin/v1/links", None);
        check(
            "post",
            "/links/{id}/invoke",
            &format!("/admin/v1/links/{}/invoke", link["id"]),
            Some(json!({"service": "zato.ping"})),
        );

        check("get", "/actors", "/admin/v1/actors", None);
        check("get", "/actors", "/admin/v1/actors?kind=delivery&q=api", None);
        check("get", "/actors/{actor_id}", &format!("/admin/v1/actors/delivery:{sub_key}"), None);
        check(
            "post",
            "/actors/{actor_id}/{command}",
            &format!("/admin/v1/actors/delivery:{sub_key}/pause"),
            None,
        );
        check("get", "/cluster/nodes", "/admin/v1/cluster/nodes", None);
        check("get", "/whoami", "/admin/v1/whoami", None);
        check("get", "/openapi.json", "/admin/v1/openapi.json", None);
        let viewer = check(
            "post",
            "/admin-keys",
            "/admin/v1/admin-keys",
            Some(json!({"name": "viewer", "role": "read-only"})),
        );
        check("get", "/admin-keys", "/admin/v1/admin-keys", None);
        check(
            "patch",
            "/admin-keys/{name}",
            "/admin/v1/admin-keys/viewer",
            Some(json!({"role": "read-only"})),
        );

        // Errors, each in the envelope with a declared status.
        check("get", "/topics/{id}", "/admin/v1/topics/987654", None);
        check("get", "/topics/{id}", "/admin/v1/topics/not-a-number", None);
        check("post", "/topics", "/admin/v1/topics", Some(json!({"name": "/api/orders"})));
        check("post", "/topics", "/admin/v1/topics", Some(json!({"name": "/x", "colour": "red"})));
        check("get", "/topics", "/admin/v1/topics?limit=0", None);
        check("post", "/services/{name}/invoke", "/admin/v1/services/nobody/invoke", Some(json!({})));
        check("delete", "/admin-keys/{name}", "/admin/v1/admin-keys/admin", None);
        conforms(&doc, "get", "/topics", raw(&node.http(), "GET", "/admin/v1/topics", None));
        let read_only = node.http().bearer(viewer["key"].as_str().unwrap());
        conforms(
            &doc,
            "post",
            "/topics",
            raw(&read_only, "POST", "/admin/v1/topics", Some(json!({"name": "/ro"}))),
        );

        check("delete", "/subscriptions/{sub_key}", &format!("/admin/v1/subscriptions/{sub_key}"), None);
        check("delete", "/topics/{id}", &format!("/admin/v1/topics/{id}"), None);
    }
}

#[test]
fn a_path_asked_with_a_method_it_does_not_take_answers_405_with_allow() {
    let node = Node::start(Backend::Sqlite);
    let admin = node.admin();
    for (method, path, allow) in [
        ("PUT", "/admin/v1/topics", "GET, POST"),
        ("DELETE", "/admin/v1/topics", "GET, POST"),
        ("POST", "/admin/v1/topics/1", "DELETE, GET, PATCH"),
        ("GET", "/admin/v1/services/helpers.echo/invoke", "POST"),
        ("GET", "/admin/v1/subscriptions/zpsk.x/clear", "POST"),
        ("PATCH", "/admin/v1/actors", "GET"),
        ("GET", "/admin/v1/actors/delivery:x/pause", "POST"),
        ("HEAD", "/admin/v1/whoami", "GET"),
    ] {
        let (status, body, headers) = admin.raw(method, path, None);
        assert_eq!(status, 405, "{method} {path}: {body}");
        let allowed = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("allow")).map(|(_, v)| v.as_str());
        assert_eq!(allowed, Some(allow), "{method} {path}");
        if method != "HEAD" {
            assert_eq!(body["result"], "Error");
            assert_eq!(body["details"], "method not allowed on this path");
        }
    }
    // A path that is not there is still a 404.
    assert_refused(&admin.get("/admin/v1/nothing/here"), 404, "no such path");
}

/// A value the property's schema forbids, if the schema says enough to make one.
fn violations(doc: &Value, schema: &Value) -> Vec<Value> {
    let schema = resolve(doc, schema);
    let mut out = Vec::new();
    match schema["type"].as_str() {
        Some("integer") => {
            out.push(json!("7"));
            out.push(json!(1.5));
            if let Some(min) = schema["minimum"].as_i64() {
                out.push(json!(min - 1));
            }
            if let Some(max) = schema["maximum"].as_i64() {
                out.push(json!(max + 1));
            }
        }
        Some("number") => {
            out.push(json!("7"));
            if let Some(min) = schema["minimum"].as_f64() {
                out.push(json!(if min > 0.0 { min / 2.0 } else { min - 1.0 }));
            }
            if let Some(max) = schema["maximum"].as_f64() {
                out.push(json!(max + 1.0));
            }
        }
        Some("string") => {
            out.push(json!(5));
            if let Some(max) = schema["maxLength"].as_u64() {
                out.push(json!("x".repeat(max as usize + 1)));
            }
            if schema["minLength"].as_u64().is_some_and(|m| m > 0) {
                out.push(json!(""));
            }
            if schema["enum"].is_array() {
                out.push(json!("none-of-these"));
            }
        }
        Some("boolean") => out.push(json!("yes")),
        Some("array") => {
            out.push(json!("x"));
            if schema["items"]["type"] == "string" {
                out.push(json!([5]));
            }
            if schema["minItems"].as_u64().is_some_and(|m| m > 0) {
                out.push(json!([]));
            }
        }
        Some("object") => out.push(json!("x")),
        _ => {}
    }
    out
}

#[test]
fn bodies_the_schema_forbids_are_refused_and_change_nothing() {
    let node = Node::start(Backend::Sqlite);
    let doc = document(&node);
    let admin = node.admin();
    let ps = PubSub::setup(&node, "/forbidden", json!({"has_gd": true}), "keeper");
    let sub_key = ps.subscribe(json!({}));
    let (_, topic) = admin.get("/admin/v1/topics?name=/forbidden");
    let topic_id = topic[0]["id"].as_i64().unwrap();
    let (_, endpoint) = admin.get("/admin/v1/endpoints?q=keeper");
    let endpoint_id = endpoint[0]["id"].as_i64().unwrap();
    let channel = admin.post_ok("/admin/v1/channels", &json!({"name": "c", "path": "/wsx/c"}));
    let dir = tempfile::tempdir().unwrap();
    let file_channel = admin.post_ok(
        "/admin/v1/file-channels",
        &json!({"name": "f", "directory": dir.path(), "topic_name": "/forbidden", "endpoint": "keeper"}),
    );
    let link = admin.post_ok(
        "/admin/v1/links",
        &json!({"name": "l", "address": format!("ws://{}/x", free_addr()), "username": "u", "secret": "s", "auto_reconnect": false}),
    );
    admin.post_ok("/admin/v1/admin-keys", &json!({"name": "other"}));
    let msg_id = ps.publish_ok(json!({"data": "kept"}));
    admin.post_ok(
        "/admin/v1/services",
        &json!({"name": "into.forbidden", "kind": "publish", "topic_name": "/forbidden", "endpoint": "keeper"}),
    );

    // A valid body for each route, which each forbidden value is put into in turn.
    let routes: Vec<(&str, String, Value)> = vec![
        ("post", "/topics".into(), json!({"name": "/neg/topic"})),
        ("patch", format!("/topics/{topic_id}"), json!({})),
        ("post", format!("/topics/{topic_id}/publish"), json!({"endpoint": "keeper", "data": "x"})),
        ("post", "/endpoints".into(), json!({"name": "neg-endpoint", "role": "pub-sub"})),
        ("patch", format!("/endpoints/{endpoint_id}"), json!({})),
        ("post", "/subscriptions".into(), json!({"topic_name": "/forbidden", "endpoint": "keeper"})),
        ("patch", format!("/subscriptions/{sub_key}"), json!({})),
        ("patch", format!("/messages/{msg_id}"), json!({})),
        ("post", "/channels".into(), json!({"name": "neg-channel", "path": "/wsx/neg"})),
        ("patch", format!("/channels/{}", channel["id"]), json!({})),
        ("patch", format!("/file-channels/{}", file_channel["id"]), json!({})),
        ("patch", format!("/links/{}", link["id"]), json!({})),
        ("post", "/admin-keys".into(), json!({"name": "neg-key"})),
        ("patch", "/admin-keys/other".into(), json!({"role": "admin"})),
        ("post", format!("/actors/delivery:{sub_key}/pause"), json!({})),
    ];
    let template = |path: &str| {
        let concrete: Vec<&str> = path.split('/').collect();
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|t| {
                let t: Vec<&str> = t.trim_start_matches("/admin/v1").split('/').collect();
                t.len() == concrete.len()
                    && t.iter().zip(&concrete).all(|(t, c)| t.starts_with('{') || t == c)
            })
            .unwrap_or_else(|| panic!("{path} is not documented"))
            .clone()
    };
    let mut tried = 0;
    for (method, path, base) in &routes {
        let op = &doc["paths"][template(path)][*method];
        let schema = resolve(&doc, &op["requestBody"]["content"]["application/json"]["schema"]);
        let url = format!("/admin/v1{path}");
        for not_an_object in ["[]", "\"x\"", "2.4e-38", "null"] {
            let (status, body, _) = admin.raw(&method.to_uppercase(), &url, Some(not_an_object));
            assert_eq!(status, 400, "{method} {path} took {not_an_object}: {body}");
            tried += 1;
        }
        let mut unknown = base.clone();
        unknown["colour"] = json!("red");
        let answer = admin.call(&method.to_uppercase(), &url, Some(&unknown));
        assert_eq!(answer.0, 400, "{method} {path} took {unknown}: {answer:?}");
        assert_error(&answer, 400);
        for (field, property) in schema["properties"].as_object().unwrap() {
            for bad in violations(&doc, property) {
                let mut body = base.clone();
                body[field] = bad;
                let (status, answer) = admin.call(&method.to_uppercase(), &url, Some(&body));
                assert_eq!(status, 400, "{method} {path} took {body}: {answer}");
                assert_error(&(status, answer), 400);
                tried += 1;
            }
        }
    }
    assert!(tried > 200, "only {tried} forbidden bodies tried");

    // Patterns are stored one a line: one holding a line break would come back as two.
    assert_refused(
        &admin.post(
            "/admin/v1/endpoints",
            &json!({"name": "split", "role": "pub-sub", "topic_patterns": ["sub=/a\npub=/b"]}),
        ),
        400,
        "a topic pattern must not hold line breaks or control characters",
    );
    assert_refused(
        &admin.post(
            "/admin/v1/endpoints",
            &json!({"name": "split", "role": "pub-sub", "topic_patterns": ["sub=/a\r\n "]}),
        ),
        400,
        "a topic pattern must not hold line breaks or control characters",
    );

    // The body of the issue: a number is not a request, and publishes nothing.
    let depth_before = admin.get(&format!("/admin/v1/topics/{topic_id}")).1["depth_gd"].clone();
    let (status, body, _) = admin.raw("POST", "/admin/v1/services/into.forbidden/invoke", Some("2.4e-38"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(admin.get(&format!("/admin/v1/topics/{topic_id}")).1["depth_gd"], depth_before);
    let pulled = ps.pull(None);
    assert_eq!(datas(&pulled), [json!("kept")], "{pulled:?}");
    // Nothing named in the valid bases was created by a refused body.
    for (list, name) in [
        ("topics", "/neg/topic"),
        ("endpoints", "neg-endpoint"),
        ("channels", "neg-channel"),
        ("admin-keys", "neg-key"),
    ] {
        let (_, rows) = admin.get(&format!("/admin/v1/{list}?q={name}"));
        assert_eq!(rows, json!([]), "{list}");
    }
}
