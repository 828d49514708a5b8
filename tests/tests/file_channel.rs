//! Inbound file channels: new complete files in a directory become messages.

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
        let mut got = Vec::new();
        eventually("both text files published", 10, || {
            got.extend(ps.pull(None));
            got.len() >= 2
        });
        // Files are taken in name order.
        assert_eq!(datas(&got), vec![json!("id,name\n1,Ann\n"), json!("second")]);
        assert!(got.iter().all(|m| m["mime_type"] == "text/plain"), "{got:?}");
        eventually("the file that is not UTF-8 set aside with its reason", 5, || {
            dir.path().join("failed/bad.bin.reason").exists()
        });
        let names = |sub: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir.path().join(sub))
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().unwrap().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names("processed"), ["a.csv", "b.txt"]);
        assert_eq!(names("failed"), ["bad.bin", "bad.bin.reason"]);
        assert_eq!(names(""), Vec::<String>::new(), "files left in the inbox");
        assert_eq!(std::fs::read(dir.path().join("failed/bad.bin")).unwrap(), [0xff, 0xfe, 0x00]);
        let reason = std::fs::read_to_string(dir.path().join("failed/bad.bin.reason")).unwrap();
        assert_eq!(reason.trim_end(), "the file is not UTF-8 text", "{reason}");
        assert_eq!(ps.pull(None), Vec::<Value>::new(), "the failed file was published");

        let id = created["id"].as_i64().unwrap();
        assert_eq!(node.admin().delete(&format!("/admin/v1/file-channels/{id}")).0, 200);
        std::fs::write(dir.path().join("late.txt"), "after delete").unwrap();
        // A live channel polling as often, given a file after that one: once it has taken its
        // file, a channel still polling would have taken `late.txt` too.
        let other = tempfile::tempdir().unwrap();
        node.admin().post_ok(
            "/admin/v1/file-channels",
            &json!({"name": "marker", "directory": other.path().to_str().unwrap(), "topic_name": "/files/in",
                    "endpoint": "loader", "poll_interval": 0.1}),
        );
        std::fs::write(other.path().join("marker.txt"), "marker").unwrap();
        eventually("the live channel to take its file", 10, || {
            other.path().join("processed/marker.txt").exists()
        });
        assert!(dir.path().join("late.txt").exists(), "a deleted channel kept polling");
        let mut published = Vec::new();
        eventually("the marker published", 10, || {
            published.extend(ps.pull(None));
            !published.is_empty()
        });
        assert_eq!(datas(&published), vec![json!("marker")], "a deleted channel published");
    }
}

#[test]
fn bad_file_channels_are_refused() {
    let node = Node::start(Backend::Sqlite);
    PubSub::setup(&node, "/f", json!({}), "loader");
    // Nothing of the refused ones is stored (checked at the end).
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
    let (_, listed) = admin.get("/admin/v1/file-channels");
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["cli-inbox"], "only the one the CLI made: {listed}");
    let (code, out, err) = node.cli(&["file-channel", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.split_whitespace().any(|w| w == "cli-inbox")), "{out}");
    assert_eq!(node.cli(&["file-channel", "delete", "cli-inbox"]).0, 0);
    assert_eq!(admin.get("/admin/v1/file-channels"), (200, json!([])));
}
