//! A node as an operator meets it: start, refuse a second node, keep keys private, stop cleanly.

use std::os::unix::fs::PermissionsExt;

use signalbox_tests::*;

#[test]
fn a_new_node_answers_health_and_ready_and_writes_private_key_files() {
    for backend in backends() {
        let node = Node::start(backend);
        assert_eq!(node.http().get("/health").0, 200);
        let (status, body) = node.http().get("/ready");
        assert_eq!(status, 200, "{body}");
        for file in ["secret.key", "admin.key"] {
            let mode = std::fs::metadata(node.data_dir.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file} has mode {mode:o}");
        }
        assert!(node.admin_key.starts_with("sba_"));
        assert_eq!(node.admin().get("/admin/v1/whoami").1["name"], "admin", "the key in admin.key works");
        let log = node.log();
        assert!(!log.contains(&node.admin_key), "the admin key appeared in the log");
        let path = node.data_dir.join("admin.key");
        assert!(
            log.lines().any(|l| l.contains(&path.display().to_string())),
            "the log should say where the admin key is:\n{log}"
        );
    }
}

#[test]
fn a_second_node_on_the_same_sqlite_data_directory_exits_with_one_clear_line() {
    let node = Node::start(Backend::Sqlite);
    let dir = node.data_dir.to_str().unwrap().to_owned();
    let (code, stderr) = serve_expecting_exit(&["--listen", "127.0.0.1:0", "--data-dir", &dir], &[]);
    assert_eq!(
        (code, stderr),
        (
            1,
            format!("signalbox: data directory {dir} is in use by another Signalbox node (lock {dir}/signalbox.lock)\n")
        )
    );
}

#[test]
fn a_second_node_on_the_same_port_exits_with_one_clear_line() {
    let node = Node::start(Backend::Sqlite);
    let addr = node.url.trim_start_matches("http://").to_owned();
    let other = tempfile::tempdir().unwrap();
    let (code, stderr) =
        serve_expecting_exit(&["--listen", &addr, "--data-dir", other.path().to_str().unwrap()], &[]);
    assert_eq!(
        (code, stderr),
        (1, format!("signalbox: cannot listen on {addr}: Address already in use (os error 98)\n"))
    );
}

#[test]
fn sigterm_stops_the_node_with_exit_code_zero() {
    for backend in backends() {
        let mut node = Node::start(backend);
        let status = node.terminate();
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}

#[test]
fn a_node_given_another_master_key_refuses_the_database() {
    for backend in backends() {
        let mut node = Node::start(backend);
        node.kill9();
        let mut opts = node.same_storage();
        let other_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        opts.env.push(("SIGNALBOX_SECRET_KEY".into(), other_key.into()));
        let dir = opts.data_dir.clone().unwrap();
        let mut args = vec!["--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()];
        if let Some(url) = &opts.database_url {
            args.extend(["--database-url", url.as_str()]);
        }
        let (code, stderr) = serve_expecting_exit(&args, &[("SIGNALBOX_SECRET_KEY", other_key)]);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some(
                "signalbox: the master key does not match this database: it was created with another key \
                 (every node of a cluster needs the same SIGNALBOX_SECRET_KEY or secret.key)"
            ),
            "{stderr}"
        );
    }
}

#[test]
fn bad_configuration_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nno_such_key = 1\n").unwrap();
    let (code, stderr) = serve_expecting_exit(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let bad_file = format!(
        "signalbox: bad configuration file {}: unknown field `no_such_key`, expected one of `listen`, ",
        config.display()
    );
    assert!(stderr.starts_with(&bad_file), "{stderr}");

    let (code, stderr) = serve_expecting_exit(&["--database-url", "mysql://x/y"], &[]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "signalbox: bad database_url: expected sqlite://PATH or postgres://USER@HOST/DB\n")
    );
    // An unreachable database: `a_database_that_cannot_be_reached_stops_start_up_with_one_line`.
}

/// What a node says when its PostgreSQL server refuses the connection.
const UNREACHABLE_DATABASE: &str =
    "signalbox: storage unavailable: cannot connect to PostgreSQL: connection \
                                    to server at \"127.0.0.1\", port 1 failed: Connection refused \
                                    Is the server running on that host and accepting TCP/IP connections?";

/// The error is one line as every other start-up refusal is (log lines, which begin with `[`,
/// aside), although libpq's message comes in two ("…: Connection refused", then "\tIs the
/// server running on that host and accepting TCP/IP connections?").
#[test]
fn a_database_that_cannot_be_reached_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = serve_expecting_exit(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    let error: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('[')).collect();
    assert_eq!(error, [UNREACHABLE_DATABASE], "{stderr}");
}

#[test]
fn an_admin_key_given_by_environment_is_the_bootstrap_key() {
    let key = "sba_test-bootstrap-key-given-by-the-environment";
    let node = Node::start_with(NodeOptions {
        env: vec![("SIGNALBOX_ADMIN_KEY".into(), key.into())],
        ..NodeOptions::default()
    });
    assert!(!node.data_dir.join("admin.key").exists());
    assert_eq!(node.admin_key, key);
    assert_eq!(node.admin().get("/admin/v1/whoami").1["name"], "admin");
    assert!(!node.log().contains(key), "the admin key appeared in the log");
}
