//! The CLI against a real node: object verbs, admin keys, apply / export, exit codes, help.

use std::process::Command;

use signalbox_tests::*;

#[test]
fn objects_are_managed_from_the_command_line_with_table_or_json_output() {
    let node = Node::start(Backend::Sqlite);
    let (code, out, err) = node.cli(&["topic", "create", "/cli/t", "has_gd=true", "max_depth_gd=50"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/cli/t") && out.contains("max_depth_gd"), "{out}");
    let (code, listed, err) = node.cli(&["topic", "list"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = listed.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "a header and one topic: {listed}");
    assert_eq!(rows[0][0], "ID", "{listed}");
    assert!(rows[1].contains(&"/cli/t"), "{listed}");
    // Client flags go before the command (as scripts wrote them), after it or after the verb.
    for args in [&["--json", "topic", "show", "/cli/t"][..], &["topic", "show", "/cli/t", "--json"]] {
        let (code, out, err) = node.cli(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(shown["has_gd"], true);
        assert_eq!(shown["max_depth_gd"], 50);
    }
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
    let password = created["password"].as_str().expect("the password, shown once").to_owned();
    let (status, body) =
        node.http().basic("app", &password).post("/zato/pubsub/subscribe/topic//cli/t", &json!({}));
    assert_eq!(status, 200, "the password works: {body}");
    assert_eq!(node.http().basic("app", &password).delete("/zato/pubsub/subscribe/topic//cli/t").0, 200);
    let (code, out, err) = node.cli(&["--json", "sub", "create", "/cli/t", "app", "ack_mode=explicit"]);
    assert_eq!(code, 0, "{err}");
    let sub: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = sub["sub_key"].as_str().unwrap();
    assert_eq!(sub["ack_mode"], "explicit");
    let (code, out, err) = node.cli(&["sub", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.split_whitespace().any(|w| w == key)), "{out}");
    let (code, out, err) = node.cli(&["--json", "endpoint", "rotate-credentials", "app"]);
    assert_eq!(code, 0, "{err}");
    let rotated: serde_json::Value = serde_json::from_str(&out).unwrap();
    let new_password = rotated["password"].as_str().expect("a new password");
    assert_ne!(new_password, password);
    assert_eq!(node.http().basic("app", &password).call("PATCH", "/zato/pubsub/topic//cli/t", None).0, 401);
    assert_eq!(node.cli(&["sub", "delete", key]).0, 0);
    assert_eq!(node.cli(&["topic", "delete", "/cli/t"]).0, 0);
    assert_eq!(node.admin().get("/admin/v1/topics"), (200, json!([])));
    assert_eq!(node.admin().get("/admin/v1/subscriptions"), (200, json!([])));
}

#[test]
fn errors_are_one_line_on_stderr_with_exit_codes_1_and_2() {
    let node = Node::start(Backend::Sqlite);
    let (code, _, err) = node.cli(&["topic", "show", "/missing"]);
    assert_eq!((code, err.as_str()), (1, "signalbox: 404: no object named `/missing`\n"));
    let (code, _, err) = node.cli(&["topic", "create", "/x", "max_depth_gd=0"]);
    assert_eq!((code, err.as_str()), (1, "signalbox: 400: `max_depth_gd` must be 1–1000000000\n"));
    let (code, _, err) = node.cli(&["topic", "create", "/x", "nonsense"]);
    assert_eq!((code, err.as_str()), (2, "signalbox: `nonsense` is not FIELD=VALUE\n"));
    assert_eq!(node.admin().get("/admin/v1/topics"), (200, json!([])), "a refused command made something");
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
    let (code, out, err) = node.cli(&["--json", "admin-key", "create", "ops", "--read-only"]);
    assert_eq!(code, 0, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((&created["name"], &created["role"]), (&json!("ops"), &json!("read-only")));
    let ops = node.http().bearer(created["key"].as_str().expect("the key, shown once"));
    assert_eq!(ops.get("/admin/v1/whoami").1["name"], "ops");
    let (code, out, err) = node.cli(&["admin-key", "list"]);
    assert_eq!(code, 0, "{err}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == "ops"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(row.contains(&"read-only"), "{out}");
    assert_eq!(node.cli(&["admin-key", "revoke", "ops"]).0, 0);
    assert_refused(&ops.get("/admin/v1/whoami"), 401, "unknown or revoked admin key");
    let (code, _, err) = node.cli(&["admin-key", "revoke", "ops"]);
    assert_eq!((code, err.as_str()), (1, "signalbox: 404: no admin key named `ops`\n"));
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
        assert!(
            exported.contains("#   [[subscription]] /orders/done ← hook: push.auth.password\n"),
            "the header names the secret the export leaves out:\n{exported}"
        );
        let export_file = dir.path().join("export.toml");
        std::fs::write(&export_file, &exported).unwrap();
        let (code, out, err) = node.cli(&["--json", "apply", export_file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}\n{exported}");
        let round: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(round["changes"], json!([]), "export did not round-trip:\n{exported}");

        let fresh = Node::start(backend);
        let (code, _, err) = fresh.cli(&["apply", export_file.to_str().unwrap()]);
        assert_eq!(code, 1, "the push password is not exported, so applying elsewhere needs it: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("push.auth.password"), "the refusal names the secret left out: {err}");
    }
}

/// Runs the CLI binary with no node (help, usage errors).
fn signalbox(args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(binary()).args(args).env_remove("SIGNALBOX_ADMIN_KEY").output().expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The names in the `Commands:` block of a help text, each asserted to have a description.
fn verbs(help: &str) -> Vec<String> {
    let block = help.split("Commands:\n").nth(1).unwrap_or_else(|| panic!("no Commands block:\n{help}"));
    block
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let verb = words.next().unwrap().to_owned();
            assert!(words.next().is_some(), "`{verb}` has no description:\n{help}");
            verb
        })
        .filter(|verb| verb != "help")
        .collect()
}

#[test]
fn serve_help_lists_no_client_flags_and_every_client_command_lists_them() {
    let (code, serve, _) = signalbox(&["serve", "--help"]);
    assert_eq!(code, 0);
    for flag in ["--url", "--json", "--admin-key"] {
        assert!(!serve.contains(flag), "serve --help lists {flag}:\n{serve}");
    }
    assert!(serve.contains("--data-dir"), "serve's own --data-dir stays:\n{serve}");

    let (_, top, _) = signalbox(&["--help"]);
    let commands = verbs(&top);
    assert_eq!(
        commands,
        [
            "serve",
            "apply",
            "export",
            "admin-key",
            "topic",
            "endpoint",
            "sub",
            "publish",
            "queue",
            "msg",
            "service",
            "channel",
            "link",
            "file-channel",
            "actors",
            "actor",
            "cluster"
        ],
        "{top}"
    );
    for command in commands.iter().filter(|c| *c != "serve") {
        let (code, help, err) = signalbox(&[command, "--help"]);
        assert_eq!(code, 0, "{command}: {err}");
        for flag in ["--url <URL>", "--data-dir <DATA_DIR>", "--json"] {
            assert!(help.contains(flag), "`{command} --help` lacks {flag}:\n{help}");
        }
        assert!(!help.contains("--admin-key"), "`{command} --help` shows --admin-key:\n{help}");
        if help.contains("Commands:") {
            for verb in verbs(&help) {
                let (code, verb_help, _) = signalbox(&[command, &verb, "--help"]);
                assert_eq!(code, 0);
                assert!(verb_help.contains("--url <URL>"), "`{command} {verb} --help` lacks --url");
            }
        }
    }
    let verbs_of = |command: &str| verbs(&signalbox(&[command, "--help"]).1);
    assert_eq!(verbs_of("topic"), ["list", "create", "show", "edit", "delete", "clear"]);
    assert_eq!(verbs_of("endpoint"), ["list", "create", "show", "edit", "delete", "rotate-credentials"]);
    assert_eq!(verbs_of("sub"), ["list", "create", "show", "edit", "delete"]);
    assert_eq!(verbs_of("link"), ["list", "create", "show", "edit", "delete", "invoke"]);
    let (_, actor, _) = signalbox(&["actor", "--help"]);
    assert!(actor.contains("peer:<link name>    reconnect, stop, start"), "{actor}");
}

#[test]
fn client_flags_are_a_one_line_usage_error_on_serve() {
    let (code, _, err) = signalbox(&["serve", "--json"]);
    assert_eq!((code, err.as_str()), (2, "signalbox: unexpected argument '--json' found (see --help)\n"));
    let (code, _, err) = signalbox(&["--url", "http://127.0.0.1:9", "serve"]);
    assert_eq!(
        (code, err.as_str()),
        (2, "signalbox: --url before `serve`: serve's own flags go after it (see --help)\n")
    );
}

/// The keys of every `key = value` line of an export (nested ones are inline tables).
fn exported_keys(export: &str) -> Vec<String> {
    export
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.to_owned()))
        .collect()
}

#[test]
fn export_holds_configuration_only_and_a_fresh_node_applying_it_exports_the_same() {
    for backend in backends() {
        let node = Node::start(backend);
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir(&inbox).unwrap();
        let receiver = closed_port_url();
        let config = format!(
            r#"
[[channel]]
name = "clients"
path = "/wsx/clients"

[[topic]]
name = "/orders/new"
has_gd = true

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

[[endpoint]]
name = "feed"
role = "sub-only"
auth = "api_key"
topic_patterns = ["sub=/orders/*"]
wsx_channel = "clients"

[[service]]
name = "orders.done"
kind = "publish"
topic_name = "/orders/done"
endpoint = "orders-app"

[[subscription]]
topic_name = "/orders/new"
endpoint = "orders-app"
ack_mode = "explicit"

[[subscription]]
topic_name = "/orders/done"
endpoint = "hook"
delivery_method = "notify"
push = {{ url = "{}", http_method = "PUT" }}

[[file_channel]]
name = "inbox"
directory = "{}"
topic_name = "/orders/new"
endpoint = "orders-app"
"#,
            receiver,
            inbox.display()
        );
        let file = dir.path().join("config.toml");
        std::fs::write(&file, config).unwrap();
        let (code, out, err) = node.cli(&["apply", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");

        // Runtime state: messages published, queued, pulled; the endpoint seen.
        let password =
            out.lines().find(|l| l.starts_with("orders-app ")).unwrap().split_whitespace().nth(2).unwrap();
        let app = node.http().basic("orders-app", password);
        for n in 0..3 {
            let (status, body) = app.post("/zato/pubsub/topic//orders/new", &json!({"data": n}));
            assert_eq!(status, 200, "{body}");
        }
        let (status, pulled) = app.call("PATCH", "/zato/pubsub/topic//orders/new?max=1", None);
        assert_eq!(status, 200, "{pulled}");
        let topic = node.admin().get("/admin/v1/topics?name=/orders/new").1[0].clone();
        assert!(topic["last_pub_msg_id"].is_string() && topic["depth_gd"].as_i64() > Some(0), "{topic}");

        let (code, exported, err) = node.cli(&["export"]);
        assert_eq!(code, 0, "{err}");
        let keys = exported_keys(&exported);
        for runtime in [
            "id",
            "created_at",
            "creation_time",
            "last_seen",
            "depth_gd",
            "depth_non_gd",
            "subscriptions",
            "last_pub_msg_id",
            "last_pub_endpoint",
            "last_pub_time",
            "sub_key",
            "node",
            "is_wsx",
            "sub_pattern_matched",
        ] {
            assert!(
                !keys.iter().any(|k| k == runtime),
                "export holds runtime field `{runtime}`:\n{exported}"
            );
        }
        let push = format!("\npush = {{ http_method = \"PUT\", url = \"{receiver}\" }}\n");
        assert!(exported.contains(&push), "the push target as given, no derived members:\n{exported}");
        for table in ["channel", "topic", "endpoint", "service", "subscription", "file_channel"] {
            assert!(exported.contains(&format!("\n[[{table}]]\n")), "no [[{table}]]:\n{exported}");
        }
        assert!(
            !exported.contains("[[link]]") && !exported.contains("= []"),
            "empty tables are left out:\n{exported}"
        );
        assert!(!exported.contains("Secrets to add"), "nothing here needs a secret:\n{exported}");

        let export_file = dir.path().join("export.toml");
        std::fs::write(&export_file, &exported).unwrap();
        let fresh = Node::start(backend);
        let (code, out, err) = fresh.cli(&["apply", export_file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}\n{exported}");
        let created: Vec<&str> = out.lines().take_while(|l| !l.is_empty()).collect();
        assert_eq!(created.len(), 10, "{out}");
        assert!(created.iter().all(|l| l.starts_with("created ")), "{out}");
        let (code, again, err) = fresh.cli(&["export"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(again, exported, "the fresh node's export differs");
    }
}

#[test]
fn apply_prints_one_line_per_change_and_the_credentials_it_made_as_a_table() {
    let node = Node::start(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    let first = r#"
[[topic]]
name = "/orders/new"
max_depth_gd = 500

[[endpoint]]
name = "orders-app"
role = "pub-sub"
topic_patterns = ["pub=/orders/*", "sub=/orders/*"]

[[endpoint]]
name = "feed"
role = "sub-only"
auth = "api_key"
topic_patterns = ["sub=/orders/*"]

[[subscription]]
topic_name = "/orders/new"
endpoint = "orders-app"
"#;
    std::fs::write(&file, first).unwrap();
    let file = file.to_str().unwrap();

    let (code, out, err) = node.cli(&["apply", file, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "would create topic /orders/new\n\
         would create endpoint orders-app\n\
         would create endpoint feed\n\
         would create subscription /orders/new ← orders-app\n"
    );

    let (code, out, err) = node.cli(&["apply", file]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "created topic /orders/new",
            "created endpoint orders-app",
            "created endpoint feed",
            "created subscription /orders/new ← orders-app",
            "",
            "Credentials of the endpoints created, shown this once:",
        ],
        "{out}"
    );
    let header: Vec<&str> = lines[6].split("  ").filter(|c| !c.is_empty()).map(str::trim).collect();
    assert_eq!(header, ["ENDPOINT", "USERNAME", "PASSWORD / API KEY"], "{out}");
    let rows: Vec<Vec<&str>> = lines[7..].iter().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0][..2], ["orders-app", "orders-app"]);
    assert_eq!(rows[1][..2], ["feed", "-"]);
    // The password shown is the endpoint's.
    let app = node.http().basic("orders-app", rows[0][2]);
    assert_eq!(app.post("/zato/pubsub/topic//orders/new", &json!({"data": 1})).0, 200);
    let pull = |key: &str| {
        node.http().header("X-API-Key", key).call("PATCH", "/zato/pubsub/topic//orders/new", None)
    };
    assert_refused(&pull("not-the-key"), 401, "missing or invalid credentials");
    // The API key shown is the endpoint's: known, and refused only for not being subscribed.
    assert_refused(&pull(rows[1][2]), 400, "You are not subscribed to topic `/orders/new`");

    let second = first.replace("max_depth_gd = 500", "max_depth_gd = 600\nhas_gd = true");
    std::fs::write(file, second).unwrap();
    let (code, out, err) = node.cli(&["apply", file]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "updated topic /orders/new: has_gd false → true\n\
         updated topic /orders/new: max_depth_gd 500 → 600\n\
         unchanged endpoint orders-app\n\
         unchanged endpoint feed\n\
         unchanged subscription /orders/new ← orders-app\n"
    );
}

#[test]
fn an_apply_file_with_an_unidentifiable_object_or_an_unset_variable_changes_nothing() {
    let node = Node::start(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    for (body, error) in [
        (
            "[[topic]]\nname = \"/a\"\n\n[[subscription]]\ntopic_name = \"/a\"\n",
            "signalbox: a [[subscription]] needs `endpoint`\n",
        ),
        (
            "[[topic]]\nname = \"/a\"\n\n[[link]]\nname = \"l\"\naddress = \"ws://127.0.0.1:9/x\"\nusername = \"u\"\nsecret_env = \"SB_TEST_UNSET\"\n",
            "signalbox: environment variable SB_TEST_UNSET (for `secret_env`) is not set\n",
        ),
    ] {
        std::fs::write(&file, body).unwrap();
        let (code, out, err) = node.cli(&["apply", file.to_str().unwrap()]);
        assert_eq!((code, out.as_str()), (2, ""), "{err}");
        assert_eq!(err, error);
        assert_eq!(node.admin().get("/admin/v1/topics").1, json!([]), "something was applied");
    }
}
