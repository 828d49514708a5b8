//! Secrets sealed under the master key are bound to their row and field: values an older node
//! sealed unbound are sealed again at start and keep working; a value copied to another row or
//! field does not open, and says so.

use std::time::{Duration, Instant};

use base64::Engine;
use signalbox_actors::secrets::MasterKey;
use signalbox_tests::*;

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Sets text `column` of the one row `filter` selects to `value` (no `'` in it), in the database
/// of a stopped node, as an older node (or an attacker with the database but not the key) would.
fn set(db: &mut Db, table: &str, column: &str, value: &str, filter: &str) {
    assert!(!value.contains('\''));
    let sql = format!("UPDATE {table} SET {column} = '{value}' WHERE {filter}");
    assert_eq!(db.execute(&sql), 1, "{sql}");
}

fn link_secret(db: &mut Db, id: i64) -> String {
    db.text(&format!("SELECT secret_enc AS value FROM sb_wsx_link WHERE id = {id}"))
}

fn push_config(db: &mut Db, sub_key: &str) -> Value {
    let text = db.text(&format!("SELECT push_config AS value FROM pubsub_sub WHERE sub_key = '{sub_key}'"));
    serde_json::from_str(&text).unwrap()
}

fn service_config(db: &mut Db, name: &str) -> Value {
    serde_json::from_str(&db.text(&format!("SELECT config AS value FROM sb_service WHERE name = '{name}'")))
        .unwrap()
}

fn master_key(node: &Node) -> MasterKey {
    MasterKey::from_base64(&std::fs::read_to_string(node.data_dir.join("secret.key")).unwrap()).unwrap()
}

/// B: a node with a WSX channel `/wsx/peers` that A's link logs in to; answers its address
/// and the password of the endpoint `peers-client`.
fn remote() -> (Node, String, String) {
    let b = Node::start(Backend::Sqlite);
    let password = wsx_setup(&b, "peers", "/b/**").password;
    let address = format!("{}/wsx/peers", b.url.replacen("http://", "ws://", 1));
    (b, address, password)
}

fn create_link(node: &Node, name: &str, address: &str, secret: &str) -> i64 {
    let (s, link) = node.admin().post(
        "/admin/v1/links",
        &json!({"name": name, "address": address, "username": "peers-client", "secret": secret, "ping_interval": 1}),
    );
    assert_eq!(s, 201, "{link}");
    link["id"].as_i64().unwrap()
}

fn link_status(node: &Node, id: i64) -> Value {
    let (status, link) = node.admin().get(&format!("/admin/v1/links/{id}"));
    assert_eq!(status, 200, "{link}");
    link
}

/// A topic with a publisher and a `notify` subscription of a new `endpoint_type` endpoint
/// pushing to `push`; answers the publisher and the sub key.
fn push_subscription(node: &Node, topic: &str, endpoint_type: &str, push: Value) -> (PubSub, String) {
    let publisher = format!("pub{}", topic.replace('/', "-"));
    let ps = PubSub::setup(node, topic, json!({"has_gd": true}), &publisher);
    let target = format!("target{}", topic.replace('/', "-"));
    node.admin().post_ok(
        "/admin/v1/endpoints",
        &json!({"name": target, "role": "sub-only", "auth": "none", "endpoint_type": endpoint_type,
                "topic_patterns": [format!("sub={topic}")]}),
    );
    let sub = node.admin().post_ok(
        "/admin/v1/subscriptions",
        &json!({"topic_name": topic, "endpoint": target, "delivery_method": "notify", "push": push}),
    );
    (ps, sub["sub_key"].as_str().unwrap().to_owned())
}

/// An exchange with one queue bound to it under `orders`, on the RabbitMQ of this machine.
struct Rabbit {
    runtime: tokio::runtime::Runtime,
    channel: lapin::Channel,
    _conn: lapin::Connection,
    exchange: String,
    queue: String,
}

impl Rabbit {
    fn declare() -> Rabbit {
        use lapin::options::*;
        let suffix = random_suffix();
        let (exchange, queue) = (format!("sb-seal-{suffix}"), format!("sb-seal-q-{suffix}"));
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (conn, channel) = runtime.block_on(async {
            let conn =
                lapin::Connection::connect(AMQP, lapin::ConnectionProperties::default()).await.unwrap();
            let ch = conn.create_channel().await.unwrap();
            let kind = lapin::ExchangeKind::Direct;
            ch.exchange_declare(exchange.as_str().into(), kind, Default::default(), Default::default())
                .await
                .unwrap();
            let options = QueueDeclareOptions { auto_delete: true, ..Default::default() };
            ch.queue_declare(queue.as_str().into(), options, Default::default()).await.unwrap();
            let (q, x) = (queue.as_str().into(), exchange.as_str().into());
            ch.queue_bind(q, x, "orders".into(), Default::default(), Default::default()).await.unwrap();
            (conn, ch)
        });
        Rabbit { runtime, channel, _conn: conn, exchange, queue }
    }

    /// The `data` of the next message in the queue, waiting up to `secs`.
    fn next_data(&self, secs: u64) -> Option<Value> {
        self.runtime.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < deadline {
                let options = lapin::options::BasicGetOptions { no_ack: true };
                match self.channel.basic_get(self.queue.as_str().into(), options).await.unwrap() {
                    Some(msg) => {
                        return Some(
                            serde_json::from_slice::<Value>(&msg.delivery.data).unwrap()["data"].clone(),
                        )
                    }
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            None
        })
    }
}

/// The status of a subscription's delivery actor.
fn delivery_actor(node: &Node, sub_key: &str) -> Value {
    let (status, actor) = node.admin().get(&format!("/admin/v1/actors/delivery:{sub_key}"));
    assert_eq!(status, 200, "{actor}");
    actor
}

/// Publishes as `ps`'s endpoint to the node as it is now (a restart moves it to another port).
fn publish(node: &Node, ps: &PubSub, data: Value) {
    let client = node.http().basic(&ps.endpoint, &ps.password);
    let (status, body) = client.post(&ps.topic_path(), &json!({"data": data}));
    assert_eq!(status, 200, "{body}");
}

/// What the last start logged of its re-seal step.
fn last_reseal(node: &Node) -> String {
    let log = node.log();
    log.lines().rfind(|l| l.contains("event=unbound_secrets_resealed")).unwrap_or_default().to_owned()
}

fn is_bound(sealed: &str) -> bool {
    sealed.starts_with("v2:")
}

#[test]
fn secrets_sealed_unbound_by_an_older_node_are_resealed_at_start_and_still_work() {
    let rabbit = rabbitmq_here().then(Rabbit::declare);
    let (_b, address, password) = remote();
    for backend in backends() {
        let mut a = Node::start(backend);
        let link = create_link(&a, "to-b", &address, &password);
        let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        let (rest, rest_key) = push_subscription(
            &a,
            "/rest",
            "rest",
            json!({"url": format!("{}/push", receiver.url), "auth": {"type": "basic", "username": "hook", "password": "hook-pw"}}),
        );
        let amqp = rabbit.as_ref().map(|r| {
            push_subscription(
                &a,
                "/amqp",
                "amqp",
                json!({"url": AMQP, "exchange": r.exchange, "routing_key": "orders"}),
            )
        });
        a.admin().post_ok(
            "/admin/v1/services",
            &json!({"name": "hook", "kind": "http", "url": format!("{}/service", receiver.url),
                    "auth": {"type": "bearer", "token": "svc-token"}}),
        );
        eventually("the link to connect", 20, || link_status(&a, link)["state"] == "connected");

        // Stopped, its values are put back as an older node sealed them: bound to nothing.
        a.kill9();
        let key = master_key(&a);
        let unbound = |plain: &str| key.encrypt_unbound_for_tests(plain).unwrap();
        let mut db = Db::of(&a);
        assert!(is_bound(&link_secret(&mut db, link)), "new values are bound");
        let old_link = unbound(&password);
        set(&mut db, "sb_wsx_link", "secret_enc", &old_link, &format!("id = {link}"));
        let mut config = push_config(&mut db, &rest_key);
        assert!(is_bound(config["auth"]["password_enc"].as_str().unwrap()));
        config["auth"]["password_enc"] = json!(unbound("hook-pw"));
        set(&mut db, "pubsub_sub", "push_config", &config.to_string(), &format!("sub_key = '{rest_key}'"));
        if let Some((_, amqp_key)) = &amqp {
            let mut config = push_config(&mut db, amqp_key);
            config["url_enc"] = json!(unbound(AMQP));
            set(
                &mut db,
                "pubsub_sub",
                "push_config",
                &config.to_string(),
                &format!("sub_key = '{amqp_key}'"),
            );
        }
        let mut service = service_config(&mut db, "hook");
        service["auth"]["token_enc"] = json!(unbound("svc-token"));
        set(&mut db, "sb_service", "config", &service.to_string(), "name = 'hook'");
        drop(db);

        // At start every one is sealed again for its place, once.
        a.restart();
        let expected = 3 + usize::from(amqp.is_some());
        assert!(last_reseal(&a).ends_with(&format!("count={expected} failed=0")), "{}", last_reseal(&a));
        let mut db = Db::of(&a);
        let resealed = link_secret(&mut db, link);
        assert!(is_bound(&resealed) && resealed != old_link);
        assert!(is_bound(push_config(&mut db, &rest_key)["auth"]["password_enc"].as_str().unwrap()));
        assert!(is_bound(service_config(&mut db, "hook")["auth"]["token_enc"].as_str().unwrap()));
        if let Some((_, amqp_key)) = &amqp {
            assert!(is_bound(push_config(&mut db, amqp_key)["url_enc"].as_str().unwrap()));
        }
        drop(db);

        // And each still works: the link logs in, pushes carry their credentials, the service its token.
        eventually("the link to connect again", 20, || link_status(&a, link)["state"] == "connected");
        publish(&a, &rest, json!("after"));
        eventually("the REST push", 15, || receiver.received().iter().any(|r| r.path == "/push"));
        let pushed = receiver.received().into_iter().find(|r| r.path == "/push").unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode("hook:hook-pw");
        assert_eq!(pushed.header("authorization"), Some(format!("Basic {basic}").as_str()));
        a.admin().post_ok("/admin/v1/services/hook/invoke", &json!({"q": 1}));
        let called = receiver.received().into_iter().find(|r| r.path == "/service").unwrap();
        assert_eq!(called.header("authorization"), Some("Bearer svc-token"));
        if let (Some(rabbit), Some((ps, _))) = (&rabbit, &amqp) {
            publish(&a, ps, json!(format!("amqp-{backend:?}")));
            assert_eq!(rabbit.next_data(20), Some(json!(format!("amqp-{backend:?}"))));
        }
        for secret in [password.as_str(), "hook-pw", "svc-token", "guest:guest"] {
            assert!(!a.log().contains(secret), "a secret was logged");
        }

        // The next start finds nothing left to do.
        a.restart();
        assert!(last_reseal(&a).ends_with("count=0 failed=0"), "{}", last_reseal(&a));
    }
}

#[test]
fn a_sealed_value_copied_to_another_row_or_field_does_not_open_and_says_so() {
    let (_b, address, password) = remote();
    for backend in backends() {
        let mut a = Node::start(backend);
        let good = create_link(&a, "good", &address, &password);
        let copy = create_link(&a, "copy", &address, "another-secret");
        let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        let auth = json!({"type": "basic", "username": "hook", "password": "hook-pw"});
        let url = format!("{}/push", receiver.url);
        let (one, one_key) = push_subscription(&a, "/one", "rest", json!({"url": url, "auth": auth}));
        let (two, two_key) = push_subscription(&a, "/two", "rest", json!({"url": url, "auth": auth}));
        eventually("the good link to connect", 20, || link_status(&a, good)["state"] == "connected");
        a.kill9();

        // Another link's secret into a link; a link's secret into a push password (another
        // table and field); a whole push config into another subscription (another row).
        let mut db = Db::of(&a);
        let secret = link_secret(&mut db, good);
        set(&mut db, "sb_wsx_link", "secret_enc", &secret, &format!("id = {copy}"));
        let mut config = push_config(&mut db, &one_key);
        let original = config.clone();
        config["auth"]["password_enc"] = json!(secret);
        set(&mut db, "pubsub_sub", "push_config", &config.to_string(), &format!("sub_key = '{one_key}'"));
        set(&mut db, "pubsub_sub", "push_config", &original.to_string(), &format!("sub_key = '{two_key}'"));
        drop(db);

        a.restart();
        assert!(last_reseal(&a).ends_with("count=0 failed=0"), "bound values are left alone");
        eventually("the good link to connect", 20, || link_status(&a, good)["state"] == "connected");
        eventually("the copied link secret to be refused", 20, || {
            let status = link_status(&a, copy);
            status["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(&format!("sb_wsx_link[{copy}].secret_enc does not open")))
        });
        assert_ne!(link_status(&a, copy)["state"], "connected");
        let not_here = |key: &str| format!("pubsub_sub[{key}].push_config.auth.password_enc does not open");
        // Each delivery actor finds its target unusable, says why, and pushes nothing.
        for key in [&one_key, &two_key] {
            let last_error = || delivery_actor(&a, key)["last_error"].as_str().unwrap_or_default().to_owned();
            eventually_with(
                "the delivery actor to report the copied push password",
                10,
                || last_error().contains(&not_here(key)),
                last_error,
            );
        }
        publish(&a, &one, json!(1));
        publish(&a, &two, json!(2));
        // Each message reached its delivery actor, which holds it: it has nothing to push with (no
        // push is tried, so none fails either).
        for key in [&one_key, &two_key] {
            eventually_with(
                "the delivery actor to hold the message it cannot push",
                10,
                || delivery_actor(&a, key)["queue_depth_gd"] == 1,
                || format!("{}", delivery_actor(&a, key)),
            );
            let actor = delivery_actor(&a, key);
            assert_eq!(
                (&actor["delivered"], &actor["failed"], &actor["in_flight"]),
                (&json!(0), &json!(0), &json!(0)),
                "{actor}"
            );
        }
        assert!(receiver.received().is_empty(), "pushed with a copied credential");
        assert!(a.is_running());
        let log = a.log();
        assert!(!log.contains("panicked"), "{log}");
        assert!(log.contains("event=push_target_unusable") && log.contains("event=link_secret_unusable"));
    }
}
