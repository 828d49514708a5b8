//! Services: built-ins, `http` services against a real HTTP server, `publish` services into a
//! topic, invocation over the admin API and the CLI.

use std::time::Duration;

use signalbox_tests::*;

fn invoke(node: &Node, name: &str, request: Value) -> (u16, Value) {
    node.admin().post(&format!("/admin/v1/services/{name}/invoke"), &request)
}

#[test]
fn echo_returns_exactly_its_input_and_ping_answers() {
    let node = Node::start(Backend::Sqlite);
    let request = json!({"a": [1, 2.5, "x", null, {"b": true}], "unicode": "żółw"});
    assert_eq!(invoke(&node, "helpers.echo", request.clone()), (200, request));
    // The admin API takes a JSON object as a request, as its document says.
    for (not_an_object, details) in [
        (json!("plain"), "invalid type: string \"plain\", expected a map at line 1 column 7"),
        (json!(2.4e-38), "invalid type: floating point `2.4e-38`, expected a map at line 1 column 7"),
        (json!([1]), "invalid type: sequence, expected a map at line 1 column 0"),
        (json!(null), "invalid type: null, expected a map at line 1 column 4"),
    ] {
        assert_refused(
            &invoke(&node, "helpers.echo", not_an_object),
            400,
            &format!("invalid request body: {details}"),
        );
    }
    let (status, pong) = invoke(&node, "zato.ping", json!({}));
    assert_eq!(status, 200, "{pong}");
    assert!(pong["pong"].as_str().is_some_and(|p| !p.is_empty()), "{pong}");
    assert_refused(&invoke(&node, "no.such.service", json!({})), 404, "no service named `no.such.service`");
    let (status, list) = node.admin().get("/admin/v1/services");
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list.as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.contains(&"helpers.echo") && names.contains(&"zato.ping"), "{names:?}");
}

#[test]
fn http_services_answer_the_remote_json_and_each_failure_clearly() {
    for backend in backends() {
        let node = Node::start(backend);
        let receiver = Receiver::start(Box::new(|req: &Received| match req.path.as_str() {
            "/ok" => (
                200,
                format!(
                    "{{\"got\": {}, \"auth\": \"{}\"}}",
                    req.body,
                    req.header("authorization").unwrap_or("-")
                ),
                Duration::ZERO,
            ),
            "/fail" => (500, "{\"error\": \"database down\"}".into(), Duration::ZERO),
            "/not-json" => (200, "<html>".into(), Duration::ZERO),
            "/slow" => (200, "{}".into(), Duration::from_secs(10)),
            _ => (404, "{}".into(), Duration::ZERO),
        }));
        let create = |name: &str, path: &str, extra: Value| {
            let mut body = json!({"name": name, "kind": "http", "url": format!("{}{path}", receiver.url)});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (status, created) = node.admin().post("/admin/v1/services", &body);
            assert_eq!(status, 201, "{created}");
            created
        };
        let created =
            create("crm.ok", "/ok", json!({"timeout": 2, "auth": {"type": "bearer", "token": "tok-secret"}}));
        assert_eq!(created["auth"], json!({"type": "bearer"}), "the token must not be returned");
        create("crm.fail", "/fail", json!({}));
        create("crm.html", "/not-json", json!({}));
        create("crm.slow", "/slow", json!({"timeout": 0.5}));
        let refused = json!({"name": "crm.down", "kind": "http", "url": format!("{}/x", closed_port_url())});
        node.admin().post_ok("/admin/v1/services", &refused);

        let (status, reply) = invoke(&node, "crm.ok", json!({"id": 7}));
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply, json!({"got": {"id": 7}, "auth": "Bearer tok-secret"}));

        let (status, body) = invoke(&node, "crm.fail", json!({}));
        let fail = format!(
            r#"{}/fail answered 500 Internal Server Error: {{"error": "database down"}}"#,
            receiver.url
        );
        assert_refused(&(status, body), 502, &fail);
        let (status, body) = invoke(&node, "crm.html", json!({}));
        let html = format!(
            "{}/not-json answered 200 OK with invalid JSON: expected value at line 1 column 1",
            receiver.url
        );
        assert_refused(&(status, body), 502, &html);
        // The target takes 10 s; the call is cut at its 0.5 s timeout, long before.
        let started = std::time::Instant::now();
        assert_refused(&invoke(&node, "crm.slow", json!({})), 502, "service did not answer within 0.5 s");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(5),
            "not cut at its timeout: {took:?}"
        );
        let (status, body) = invoke(&node, "crm.down", json!({}));
        let down = format!(
            "cannot connect to {}: Connection refused (os error 111)",
            refused["url"].as_str().unwrap()
        );
        assert_refused(&(status, body), 502, &down);

        let (status, listed) = node.admin().get("/admin/v1/services");
        assert_eq!(status, 200, "{listed}");
        assert!(!listed.to_string().contains("tok-secret"));
        assert!(!node.log().contains("tok-secret"), "a service secret was logged");
        assert_eq!(metric(&node, "signalbox_service_errors_total{service=\"crm.fail\"}"), Some(1.0));
    }
}

#[test]
fn bad_service_definitions_are_refused() {
    let node = Node::start(Backend::Sqlite);
    let admin = node.admin();
    assert_refused(
        &admin.post("/admin/v1/services", &json!({"name": "x", "kind": "ftp"})),
        400,
        "`kind` must be `http` or `publish`, not `ftp`",
    );
    assert_refused(
        &admin.post("/admin/v1/services", &json!({"name": "x", "kind": "http"})),
        400,
        "`url` is required for an `http` service",
    );
    assert_refused(
        &admin.post("/admin/v1/services", &json!({"name": "x", "kind": "http", "url": "nope"})),
        400,
        "`url` must be an http:// or https:// URL, not `nope`",
    );
    assert_refused(
        &admin.post(
            "/admin/v1/services",
            &json!({"name": "x", "kind": "http", "url": "http://h/x", "ca_file": "/etc/hosts"}),
        ),
        400,
        "`ca_file` applies to https:// URLs only",
    );
    assert_refused(
        &admin.post(
            "/admin/v1/services",
            &json!({"name": "x", "kind": "http", "url": "http://h/x", "timeout": -1}),
        ),
        400,
        "`timeout` must be between 0.001 and 3600 seconds",
    );
    assert_refused(
        &admin.post("/admin/v1/services", &json!({"name": "x", "kind": "publish", "topic_name": "/t"})),
        400,
        "`endpoint` is required for a `publish` service",
    );
    assert_refused(
        &admin.post(
            "/admin/v1/services",
            &json!({"name": "helpers.echo", "kind": "publish", "topic_name": "/t", "endpoint": "e"}),
        ),
        409,
        "`helpers.echo` is a built-in service",
    );
    assert_refused(
        &admin.delete("/admin/v1/services/helpers.echo"),
        400,
        "`helpers.echo` is a built-in service and cannot be deleted",
    );
    assert_refused(&admin.delete("/admin/v1/services/none"), 404, "no service named `none`");
    let (s, b, _) = admin.raw("POST", "/admin/v1/services/helpers.echo/invoke", Some("{bad"));
    assert_refused(&(s, b), 400, "invalid `?`: key must be a string at line 1 column 2");
}

#[test]
fn a_publish_service_puts_its_requests_into_a_topic_in_order() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/bridge", json!({}), "bridge");
        ps.subscribe(json!({}));
        let (status, created) = node.admin().post(
            "/admin/v1/services",
            &json!({"name": "to.bridge", "kind": "publish", "topic_name": "/bridge", "endpoint": "bridge"}),
        );
        assert_eq!(status, 201, "{created}");
        for n in 0..5 {
            let (status, reply) = invoke(&node, "to.bridge", json!({"n": n}));
            assert_eq!(status, 200, "{reply}");
            assert_eq!(reply["msg_id_list"].as_array().unwrap().len(), 1);
        }
        let got: Vec<Value> = ps.pull(None).iter().map(|m| m["data"]["n"].clone()).collect();
        assert_eq!(got, (0..5).map(|n| json!(n)).collect::<Vec<_>>());

        // A target that cannot work is refused when it is set, not at every call.
        let (status, body) = node.admin().post(
            "/admin/v1/services",
            &json!({"name": "to.nowhere", "kind": "publish", "topic_name": "/missing", "endpoint": "bridge"}),
        );
        assert_eq!(
            (status, body["details"].clone()),
            (400, json!("`topic_name`: no topic named `/missing`"))
        );
        let (status, body) = node.admin().post(
            "/admin/v1/services",
            &json!({"name": "to.nobody", "kind": "publish", "topic_name": "/bridge", "endpoint": "nobody"}),
        );
        assert_eq!((status, body["details"].clone()), (400, json!("`endpoint`: no endpoint named `nobody`")));
        assert_refused(&invoke(&node, "to.nowhere", json!({"n": 1})), 404, "no service named `to.nowhere`");
        assert_eq!(node.admin().delete("/admin/v1/services/to.bridge").0, 200);
        assert_refused(&invoke(&node, "to.bridge", json!({})), 404, "no service named `to.bridge`");
    }
}

#[test]
fn services_are_managed_and_invoked_from_the_cli_and_apply() {
    let node = Node::start(Backend::Sqlite);
    let (code, out, err) = node.cli(&["--json", "service", "invoke", "helpers.echo", r#"{"x": [1, 2]}"#]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"x": [1, 2]}));
    let ps = PubSub::setup(&node, "/t", json!({}), "e");
    ps.subscribe(json!({}));
    let (code, _, err) =
        node.cli(&["service", "create", "s.pub", "kind=publish", "topic_name=/t", "endpoint=e"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = node.cli(&["service", "list"]);
    assert_eq!(code, 0, "{err}");
    let listed: Vec<&str> = out.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert!(listed.contains(&"s.pub") && listed.contains(&"helpers.echo"), "{out}");
    // The service made from the CLI works.
    let (code, _, err) = node.cli(&["service", "invoke", "s.pub", r#"{"from": "cli"}"#]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(datas(&ps.pull(None)), vec![json!({"from": "cli"})]);
    let (code, _, err) = node.cli(&["service", "invoke", "missing", "{}"]);
    assert_eq!((code, err.as_str()), (1, "signalbox: 404: no service named `missing`\n"));
    let (code, _, err) = node.cli(&["service", "invoke", "helpers.echo", "{not json"]);
    assert_eq!(
        (code, err.as_str()),
        (2, "signalbox: the request must be JSON: key must be a string at line 1 column 2\n")
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "[[service]]\nname = \"s.http\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/x\"\ntimeout = 2\n",
    )
    .unwrap();
    let (code, out, err) = node.cli(&["--json", "apply", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["changes"].as_array().unwrap().len(), 1);
    let (_, out, _) = node.cli(&["--json", "apply", file.to_str().unwrap()]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["changes"], json!([]));
    assert_eq!(node.cli(&["service", "delete", "s.http"]).0, 0);
}

#[test]
fn http_services_call_https_urls_trusted_by_their_ca_file_and_refuse_untrusted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca = dir.path().join("service-ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let receiver = Receiver::start_tls(
        &cert,
        Box::new(|r| (200, format!(r#"{{"path": "{}", "body": {}}}"#, r.path, r.body), Duration::ZERO)),
    );
    let node = Node::start(Backend::Sqlite);
    let url = format!("{}/rpc", receiver.url);
    let trusted = json!({"name": "crm.tls", "kind": "http", "url": url, "ca_file": ca.to_str().unwrap()});
    let (status, created) = node.admin().post("/admin/v1/services", &trusted);
    assert_eq!(status, 201, "{created}");
    assert_eq!(invoke(&node, "crm.tls", json!({"id": 1})), (200, json!({"path": "/rpc", "body": {"id": 1}})));

    // Without the CA the certificate is not trusted: the call fails and says why; the
    // receiver never sees the request.
    let untrusted = json!({"name": "crm.untrusted", "kind": "http", "url": url});
    node.admin().post_ok("/admin/v1/services", &untrusted);
    let (status, body) = invoke(&node, "crm.untrusted", json!({"id": 2}));
    assert_eq!(status, 502, "{body}");
    let details = body["details"].as_str().unwrap_or_default().to_lowercase();
    assert!(details.contains("certificate"), "the certificate problem is named: {body}");
    assert_eq!(receiver.received().len(), 1);

    let missing = json!({"name": "crm.missing", "kind": "http", "url": url, "ca_file": "/no/such/ca.pem"});
    let (status, body) = node.admin().post("/admin/v1/services", &missing);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .starts_with("`ca_file`: cannot read certificates from /no/such/ca.pem"),
        "{body}"
    );
}
