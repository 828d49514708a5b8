//! Admin keys that cannot lock everyone out: a key never revokes or demotes itself, the last key
//! with role `admin` is never revoked or demoted, a node never overwrites `admin.key`, and a node
//! whose keys are all lost is recovered with `signalbox admin-key create NAME --local`.

use std::process::Command;

use signalbox_tests::*;

#[test]
fn an_admin_key_cannot_revoke_or_demote_itself_and_keeps_working() {
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let itself = |change: &str| {
            format!(
                "admin key `admin` is the key making this request: {change} it would lock this caller out; \
                 use another admin key (create one first if this is the only one)"
            )
        };
        assert_refused(&admin.delete("/admin/v1/admin-keys/admin"), 409, &itself("revoking"));
        assert_refused(
            &admin.patch("/admin/v1/admin-keys/admin", &json!({"role": "read-only"})),
            409,
            &itself("demoting"),
        );
        assert_eq!(admin.get("/admin/v1/whoami").1["role"], "admin");
        // With another admin key, the first can be demoted and revoked — by that other key.
        let ops = admin.post_ok("/admin/v1/admin-keys", &json!({"name": "ops"}));
        let ops = node.http().bearer(ops["key"].as_str().unwrap());
        let (status, demoted) = ops.patch("/admin/v1/admin-keys/admin", &json!({"role": "read-only"}));
        assert_eq!((status, demoted["role"].as_str()), (200, Some("read-only")), "{demoted}");
        assert_refused(
            &admin.post("/admin/v1/topics", &json!({"name": "/t"})),
            403,
            "admin key `admin` is read-only: only GET is allowed",
        );
        assert_eq!(ops.patch_ok("/admin/v1/admin-keys/admin", &json!({"role": "admin"}))["role"], "admin");
        assert_eq!(ops.delete("/admin/v1/admin-keys/admin").0, 200);
        assert_refused(&admin.get("/admin/v1/whoami"), 401, "unknown or revoked admin key");
        // `ops` is now the last admin key: it cannot go either.
        assert_refused(
            &ops.delete("/admin/v1/admin-keys/ops"),
            409,
            &itself("revoking").replace("`admin`", "`ops`"),
        );
        assert_refused(
            &ops.patch("/admin/v1/admin-keys/nobody", &json!({"role": "admin"})),
            404,
            "no admin key named `nobody`",
        );
        assert_refused(
            &ops.patch("/admin/v1/admin-keys/ops", &json!({"role": "owner"})),
            400,
            "`role` must be one of admin, read-only, not `owner`",
        );
        assert_eq!(ops.get("/admin/v1/whoami").1["name"], "ops");
    }
}

#[test]
fn two_admin_keys_revoking_each_other_at_once_leave_one() {
    for backend in backends() {
        let node = Node::start(backend);
        for round in 0..5 {
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            let key = |name: &str| {
                let (status, made) = node.admin().post("/admin/v1/admin-keys", &json!({"name": name}));
                assert_eq!(status, 201, "{made}");
                node.http().bearer(made["key"].as_str().unwrap())
            };
            let (key_a, key_b) = (key(&a), key(&b));
            // The bootstrap key steps aside, so a and b are the only admin keys.
            assert_eq!(key_a.patch("/admin/v1/admin-keys/admin", &json!({"role": "read-only"})).0, 200);
            let (one, two) = (key_a.clone(), key_b.clone());
            let (b2, a2) = (b.clone(), a.clone());
            let one = std::thread::spawn(move || one.delete(&format!("/admin/v1/admin-keys/{b2}")));
            let two = std::thread::spawn(move || two.delete(&format!("/admin/v1/admin-keys/{a2}")));
            let answers = [one.join().unwrap(), two.join().unwrap()];
            // One revocation goes. The other is refused: as the last admin key's revocation (409),
            // or, when the first came before its caller's key was checked, as a revoked key's (401).
            let revoked = answers.iter().position(|a| a.0 == 200).unwrap_or_else(|| panic!("{answers:?}"));
            let (refused, target) = (&answers[1 - revoked], if revoked == 0 { &a } else { &b });
            let last = format!(
                "`{target}` is the last admin key with role admin: revoking it would leave no key that may \
                 change anything; create another admin key first"
            );
            match refused.0 {
                409 => assert_refused(refused, 409, &last),
                _ => assert_refused(refused, 401, "unknown or revoked admin key"),
            }
            let (_, keys) = node.admin().get("/admin/v1/admin-keys");
            let admins: Vec<&Value> =
                keys.as_array().unwrap().iter().filter(|k| k["role"] == "admin").collect();
            assert_eq!(admins.len(), 1, "round {round}: {keys}");
            // The survivor gives the bootstrap key its rights back, and steps aside for the next round.
            let survivor = admins[0]["name"].as_str().unwrap().to_owned();
            let survivor_key = if survivor == a { key_a } else { key_b };
            assert_eq!(survivor_key.patch("/admin/v1/admin-keys/admin", &json!({"role": "admin"})).0, 200);
            assert_eq!(node.admin().delete(&format!("/admin/v1/admin-keys/{survivor}")).0, 200);
        }
    }
}

/// `signalbox admin-key create NAME --local` for the node's data directory (and database);
/// answers the printed JSON.
fn local_create(node: &Node, name: &str, extra: &[&str]) -> Value {
    let (code, out, err) = local_cli(node, &["admin-key", "create", name, "--local", "--json"], extra);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The CLI with the node's data directory and database but no admin key and no node URL.
fn local_cli(node: &Node, args: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args).arg("--data-dir").arg(&node.data_dir).args(extra);
    if let Some(url) = &node.database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd
        .env_remove("SIGNALBOX_ADMIN_KEY")
        .env_remove("SIGNALBOX_SECRET_KEY")
        .env_remove("SIGNALBOX_DATABASE_URL")
        .env("SIGNALBOX_URL", "http://127.0.0.1:9")
        .output()
        .expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Deletes every admin key straight from the database, as an old node let its last key do.
fn delete_every_admin_key(node: &Node) {
    let deleted = Db::of(node).execute("DELETE FROM sb_admin_key");
    assert!(deleted >= 1, "no admin key to delete");
}

#[test]
fn a_lost_admin_key_is_made_anew_with_the_local_cli_while_the_node_runs_or_not() {
    for backend in backends() {
        let mut node = Node::start(backend);
        delete_every_admin_key(&node);
        assert_refused(&node.admin().get("/admin/v1/whoami"), 401, "unknown or revoked admin key");

        // Running: the new key works at once.
        let made = local_create(&node, "rescue", &[]);
        assert_eq!(made["name"], "rescue");
        assert_eq!(made["role"], "admin");
        let rescue = node.http().bearer(made["key"].as_str().unwrap());
        assert_eq!(rescue.get("/admin/v1/whoami").1["name"], "rescue");

        // Stopped: made while the node is down, it works once the node is back.
        node.terminate();
        let viewer = local_create(&node, "night-viewer", &["--read-only"]);
        assert_eq!(viewer["role"], "read-only");
        node.restart();
        let viewer = node.http().bearer(viewer["key"].as_str().unwrap());
        assert_eq!(viewer.get("/admin/v1/whoami").1["role"], "read-only");

        // A name taken, a data directory that holds no node, a master key that does not fit.
        let (code, _, err) = local_cli(&node, &["admin-key", "create", "rescue", "--local"], &[]);
        assert_eq!((code, err.trim()), (1, "signalbox: 409: an admin key named `rescue` already exists"));
        let (code, _, err) = local_cli(&node, &["admin-key", "create", "  ", "--local"], &[]);
        assert_eq!((code, err.trim()), (2, "signalbox: `name` must be 1–200 characters"));
        if node.database_url.is_none() {
            let empty = tempfile::tempdir().unwrap();
            let out = Command::new(binary())
                .args(["admin-key", "create", "x", "--local", "--data-dir"])
                .arg(empty.path())
                .env_remove("SIGNALBOX_DATABASE_URL")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("signalbox: no Signalbox database at"), "{err}");
            assert!(!empty.path().join("secret.key").exists(), "nothing is created");
        }
        let other_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let out = Command::new(binary())
            .args(["admin-key", "create", "x", "--local", "--data-dir"])
            .arg(&node.data_dir)
            .args(node.database_url.iter().flat_map(|u| ["--database-url", u.as_str()]))
            .env("SIGNALBOX_SECRET_KEY", other_key)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("the master key does not match this database"), "{err}");
        // --database-url belongs to --local (given alone here: `local_cli` adds the node's own).
        let out = Command::new(binary())
            .args(["admin-key", "create", "y", "--database-url", "sqlite://x", "--data-dir"])
            .arg(&node.data_dir)
            .env_remove("SIGNALBOX_ADMIN_KEY")
            .env("SIGNALBOX_URL", "http://127.0.0.1:9")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            (out.status.code(), err.as_ref()),
            (
                Some(2),
                "signalbox: the following required arguments were not provided: --local (see --help)\n"
            )
        );
        // Nothing of the refused commands was made.
        let (_, keys) = viewer.get("/admin/v1/admin-keys");
        let mut names: Vec<&str> =
            keys.as_array().unwrap().iter().filter_map(|k| k["name"].as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["night-viewer", "rescue"]);
    }
}

#[test]
fn a_restart_never_overwrites_admin_key_and_says_what_it_did() {
    for backend in backends() {
        let mut node = Node::start(backend);
        let path = node.data_dir.join("admin.key");
        let original = std::fs::read_to_string(&path).unwrap();

        // A database without admin keys takes the file's key back: the file is unchanged.
        delete_every_admin_key(&node);
        node.restart();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
        assert_eq!(node.admin().get("/admin/v1/whoami").1["name"], "admin");
        assert!(node.log().contains("event=admin_key_restored name=admin"), "{}", node.log());

        // A key in the file that the database does not know is named in the log, and left.
        let ops = node.admin().post_ok("/admin/v1/admin-keys", &json!({"name": "ops"}));
        let ops = node.http().bearer(ops["key"].as_str().unwrap());
        assert_eq!(ops.delete("/admin/v1/admin-keys/admin").0, 200);
        node.restart();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
        assert!(node.log().contains("event=admin_key_file_unknown"), "{}", node.log());
        assert!(node.log().contains("signalbox admin-key create NAME --local"), "{}", node.log());

        // A file that holds no key is set aside, never overwritten, when a new key is made.
        delete_every_admin_key(&node);
        std::fs::write(&path, "not a key\n").unwrap();
        node.restart();
        let new_key = std::fs::read_to_string(&path).unwrap();
        assert!(new_key.starts_with("sba_"), "{new_key}");
        let aside: Vec<_> = std::fs::read_dir(&node.data_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("admin.key.unusable-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(std::fs::read_to_string(aside[0].path()).unwrap(), "not a key\n");
        assert!(node.log().contains("event=admin_key_file_set_aside"), "{}", node.log());
        let admin = node.http().bearer(new_key.trim());
        assert_eq!(admin.get("/admin/v1/whoami").1["name"], "admin");
        // The log names files, never keys.
        assert!(!node.log().contains(new_key.trim()) && !node.log().contains(original.trim()));
    }
}
