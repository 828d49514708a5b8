//! Inbound file channels: new complete files in a directory become messages.

use std::time::{Duration, Instant};

use signalbox_tests::*;

#[test]
fn new_files_are_published_then_moved_to_processed_or_failed_with_a_reason() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/files/in", json!({"has_gd": true}), "loader");
        ps.subscribe(json!({}));
        let dir = tempfile::tempdir().unwrap();
        let (status, created) = node.admin().post(
            "/admin/v1/file-channels",
            &json!({"name": "inbox", "directory": dir.path().to_str().unwrap(), "topic_name": "/files/in",
                    "endpoint": "loader", "poll_interval": 0.1}),
        );
        assert_eq!(status, 201, "{created}");
        std::fs::write(dir.path().join("a.csv"), "id,name\n1,Ann\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "second").unwrap();
        std::fs::write(dir.path().join("bad.bin"), [0xff, 0xfe, 0x00]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < 2 && Instant::now() < deadline {
            got.extend(ps.pull(None));
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(datas(&got), vec![json!("id,name\n1,Ann\n"), json!("second")]);
        assert_eq!(got[0]["mime_type"], "text/plain");
        let wait_until = Instant::now() + Duration::from_secs(5);
        while !dir.path().join("failed/bad.bin.reason").exists() && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(dir.path().join("processed/a.csv").exists());
        assert!(dir.path().join("processed/b.txt").exists());
        assert!(dir.path().join("failed/bad.bin").exists());
        let reason = std::fs::read_to_string(dir.path().join("failed/bad.bin.reason")).unwrap();
        assert!(reason.contains("UTF-8"), "{reason}");
        assert!(!dir.path().join("a.csv").exists());

        let id = created["id"].as_i64().unwrap();
        assert_eq!(node.admin().delete(&format!("/admin/v1/file-channels/{id}")).0, 200);
        std::fs::write(dir.path().join("late.txt"), "after delete").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert!(dir.path().join("late.txt").exists(), "a deleted channel kept polling");
    }
}

#[test]
fn bad_file_channels_are_refused() {
    let node = Node::start(Backend::Sqlite);
    PubSub::setup(&node, "/f", json!({}), "loader");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let admin = node.admin();
    assert_refused(
        &admin.post(
            "/admin/v1/file-channels",
            &json!({"name": "x", "directory": "/no/such/dir", "topic_name": "/f", "endpoint": "loader"}),
        ),
        400,
        "`directory` /no/such/dir is not an existing directory",
    );
    assert_refused(
        &admin.post(
            "/admin/v1/file-channels",
            &json!({"name": "x", "directory": d, "topic_name": "/nope", "endpoint": "loader"}),
        ),
        400,
        "no topic named `/nope`",
    );
    assert_refused(
        &admin.post(
            "/admin/v1/file-channels",
            &json!({"name": "x", "directory": d, "topic_name": "/f", "endpoint": "nobody"}),
        ),
        400,
        "no endpoint named `nobody`",
    );
    assert_refused(
        &admin.post("/admin/v1/file-channels", &json!({"name": "x", "directory": d, "topic_name": "/f"})),
        400,
        "`endpoint` is required",
    );
    assert_refused(&admin.post("/admin/v1/file-channels", &json!({"name": "x", "directory": d, "topic_name": "/f", "endpoint": "loader", "poll_interval": 0})), 400, "`poll_interval` must be 0.05–86400 seconds");
    let (code, _, err) = node.cli(&[
        "file-channel",
        "create",
        "cli-inbox",
        &format!("directory={d}"),
        "topic_name=/f",
        "endpoint=loader",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = node.cli(&["file-channel", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("cli-inbox"));
    assert_eq!(node.cli(&["file-channel", "delete", "cli-inbox"]).0, 0);
}
