//! The CLI against a real node: object verbs, admin keys, apply / export, exit codes.

use signalbox_tests::*;

#[test]
fn objects_are_managed_from_the_command_line_with_table_or_json_output() {
    let node = Node::start(Backend::Sqlite);
    let (code, out, err) = node.cli(&["topic", "create", "/cli/t", "has_gd=true", "max_depth_gd=50"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/cli/t") && out.contains("max_depth_gd"), "{out}");
    let (_, listed, _) = node.cli(&["topic", "list"]);
    assert!(listed.starts_with("ID") && listed.contains("/cli/t"), "{listed}");
    let (code, out, _) = node.cli(&["--json", "topic", "show", "/cli/t"]);
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["has_gd"], true);
    assert_eq!(shown["max_depth_gd"], 50);
    let (code, _, err) = node.cli(&["topic", "edit", "/cli/t", "is_active=false"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(node.admin().get("/admin/v1/topics?name=/cli/t").1[0]["is_active"], false);

    let (code, out, err) = node.cli(&[
        "--json",
        "endpoint",
        "create",
        "app",
        "role=pub-sub",
        r#"topic_patterns=["sub=/cli/*"]"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(created["password"].is_string());
    let (code, out, err) = node.cli(&["--json", "sub", "create", "/cli/t", "app", "ack_mode=explicit"]);
    assert_eq!(code, 0, "{err}");
    let sub: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = sub["sub_key"].as_str().unwrap();
    let (code, out, _) = node.cli(&["sub", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains(key));
    let (code, out, _) = node.cli(&["--json", "endpoint", "rotate-credentials", "app"]);
    assert_eq!(code, 0);
    assert!(out.contains("password"));
    assert_eq!(node.cli(&["sub", "delete", key]).0, 0);
    assert_eq!(node.cli(&["topic", "delete", "/cli/t"]).0, 0);
}

#[test]
fn errors_are_one_line_on_stderr_with_exit_codes_1_and_2() {
    let node = Node::start(Backend::Sqlite);
    let (code, _, err) = node.cli(&["topic", "show", "/missing"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = node.cli(&["topic", "create", "/x", "max_depth_gd=0"]);
    assert_eq!(code, 1);
    assert!(err.contains("400") && err.contains("max_depth_gd"), "{err}");
    let (code, _, _) = node.cli(&["topic", "create", "/x", "nonsense"]);
    assert_eq!(code, 2);
    let (code, _, err) = node.cli(&["no-such-verb"]);
    assert_eq!(code, 2);
    assert_eq!(err, "signalbox: unrecognized subcommand 'no-such-verb' (see --help)\n");
    let (code, _, err) = node.cli(&["topic", "create"]);
    assert_eq!(code, 2);
    assert_eq!(err, "signalbox: the following required arguments were not provided: <NAME> (see --help)\n");
}

#[test]
fn admin_keys_are_created_listed_and_revoked_from_the_cli() {
    let node = Node::start(Backend::Sqlite);
    let (code, out, _) = node.cli(&["--json", "admin-key", "create", "ops", "--read-only"]);
    assert_eq!(code, 0);
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["role"], "read-only");
    let (_, out, _) = node.cli(&["admin-key", "list"]);
    assert!(out.contains("ops") && out.contains("read-only"));
    assert_eq!(node.cli(&["admin-key", "revoke", "ops"]).0, 0);
    assert_eq!(node.cli(&["admin-key", "revoke", "ops"]).0, 1);
}

const APPLY: &str = r#"
[[topic]]
name = "/orders/new"
has_gd = true
max_depth_gd = 500

[[topic]]
name = "/orders/done"

[[endpoint]]
name = "orders-app"
role = "pub-sub"
topic_patterns = ["pub=/orders/*", "sub=/orders/*"]

[[endpoint]]
name = "hook"
role = "sub-only"
auth = "none"
topic_patterns = ["sub=/orders/**"]

[[subscription]]
topic_name = "/orders/new"
endpoint = "orders-app"
ack_mode = "explicit"

[[subscription]]
topic_name = "/orders/done"
endpoint = "hook"
delivery_method = "notify"
push = { url = "http://127.0.0.1:9/hook", auth = { type = "basic", username = "u", password_env = "SB_TEST_HOOK_PASSWORD" } }
"#;

#[test]
fn apply_is_idempotent_shows_a_dry_run_diff_and_round_trips_with_export() {
    for backend in backends() {
        let node = Node::start(backend);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, APPLY).unwrap();
        let file = file.to_str().unwrap();
        let env = [("SB_TEST_HOOK_PASSWORD", "pw-from-env")];

        let (code, out, err) = node.cli_with_env(&["--json", "apply", file, "--dry-run"], &env);
        assert_eq!(code, 0, "{err}");
        let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(plan["changes"].as_array().unwrap().len(), 6, "{plan}");
        assert_eq!(node.admin().get("/admin/v1/topics").1, json!([]), "dry run changed something");

        let (code, out, err) = node.cli_with_env(&["--json", "apply", file], &env);
        assert_eq!(code, 0, "{err}");
        let applied: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(applied["changes"].as_array().unwrap().len(), 6);
        assert_eq!(applied["credentials"].as_array().unwrap().len(), 1, "{applied}");
        let subs = node.admin().get("/admin/v1/subscriptions").1;
        assert_eq!(subs.as_array().unwrap().len(), 2);
        assert!(!subs.to_string().contains("pw-from-env"));

        let (code, out, _) = node.cli_with_env(&["--json", "apply", file], &env);
        assert_eq!(code, 0);
        let again: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(again["changes"], json!([]), "second apply was not a no-op");

        let edited = APPLY.replace("max_depth_gd = 500", "max_depth_gd = 600");
        let file2 = dir.path().join("edited.toml");
        std::fs::write(&file2, edited).unwrap();
        let (_, out, _) = node.cli_with_env(&["--json", "apply", file2.to_str().unwrap()], &env);
        let diff: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(diff["changes"].as_array().unwrap().len(), 1, "{diff}");
        assert!(diff["changes"][0].as_str().unwrap().contains("max_depth_gd 500 → 600"));

        let (code, exported, err) = node.cli(&["export"]);
        assert_eq!(code, 0, "{err}");
        assert!(!exported.contains("pw-from-env"));
        let export_file = dir.path().join("export.toml");
        std::fs::write(&export_file, &exported).unwrap();
        let (code, out, err) = node.cli(&["--json", "apply", export_file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}\n{exported}");
        let round: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(round["changes"], json!([]), "export did not round-trip:\n{exported}");

        let fresh = Node::start(backend);
        let (code, _, err) = fresh.cli(&["apply", export_file.to_str().unwrap()]);
        assert_eq!(code, 1, "the push password is not exported, so applying elsewhere needs it: {err}");
    }
}
