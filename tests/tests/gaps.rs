//! Promises of the README kept on one node under the harder conditions: explicit leases across
//! a crash, kill -9 under concurrent GD publishers, deleting what has pushes or leases
//! outstanding, and a file channel reading a file that is still being written.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use signalbox_tests::*;

/// Pulls (`max` 100 at a time) until `count` messages came, within `secs`; answers them all.
fn pull_at_least(ps: &PubSub, count: usize, secs: u64) -> Vec<Value> {
    let mut got = Vec::new();
    eventually(&format!("{count} messages to pull"), secs, || {
        got.extend(ps.pull(Some(100)));
        got.len() >= count
    });
    got
}

fn ids(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| m["msg_id"].as_str().expect("msg_id").to_owned()).collect()
}

// ---- 1. a crash with explicit leases pending ------------------------------------------------

/// README: GD messages survive `kill -9`, in-RAM ones never touch SQL; an explicit lease not
/// acked is handed over again with `delivery_count` + 1; an acknowledged message never comes
/// back. A lease lives in the node's memory, so a crash ends it: the leased GD messages are
/// handed over again at once (long before `ack_timeout`), in their order.
#[test]
fn leased_gd_messages_come_back_after_a_kill_in_order_with_delivery_count_two_and_in_ram_ones_are_gone() {
    for backend in backends() {
        let mut node = Node::start(backend);
        let ps = PubSub::setup(&node, "/leases", json!({"has_gd": false}), "app");
        ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 600}));
        for n in 0..12 {
            // Every third one in RAM, the others GD.
            ps.publish_ok(json!({"data": format!("m{n}"), "has_gd": n % 3 != 2}));
        }
        let leased = pull_at_least(&ps, 12, 10);
        assert_eq!(datas(&leased), (0..12).map(|n| json!(format!("m{n}"))).collect::<Vec<_>>());
        assert!(leased.iter().all(|m| m["delivery_count"] == 1), "{leased:?}");
        // One GD message acknowledged before the crash: it must never come back.
        let (status, acked) = ps.ack(&[leased[0]["msg_id"].as_str().unwrap()]);
        assert_eq!((status, &acked), (200, &json!({"acked": 1, "unknown": []})));

        node.restart();
        let ps = PubSub { client: node.http().basic(&ps.endpoint, &ps.password), ..ps };

        let expected: Vec<Value> = (1..12).filter(|n| n % 3 != 2).map(|n| json!(format!("m{n}"))).collect();
        let back = pull_at_least(&ps, expected.len(), 15);
        assert_eq!(datas(&back), expected, "leased GD messages after the crash");
        let leased_ids = ids(&leased);
        for m in &back {
            assert_eq!(m["delivery_count"], 2, "handed over a second time: {m}");
            assert!(leased_ids.contains(&m["msg_id"].as_str().unwrap().to_owned()), "same msg_id: {m}");
        }
        // Leased again now: nothing more to pull until acked or timed out.
        assert!(ps.pull(None).is_empty());
        let back_ids = ids(&back);
        let refs: Vec<&str> = back_ids.iter().map(String::as_str).collect();
        let (status, acked) = ps.ack(&refs);
        assert_eq!((status, &acked), (200, &json!({"acked": expected.len(), "unknown": []})));

        // Acknowledged ones stay gone over another crash: only what is published after it comes.
        node.restart();
        let ps = PubSub { client: node.http().basic(&ps.endpoint, &ps.password), ..ps };
        ps.publish_ok(json!({"data": "after", "has_gd": true}));
        assert_eq!(datas(&pull_at_least(&ps, 1, 15)), vec![json!("after")]);
        assert!(ps.pull(None).is_empty());
    }
}

// ---- 2. kill -9 during concurrent GD publishing (SQLite) ------------------------------------

const PUBLISHERS: usize = 4;

/// One publisher's record: the seqs answered 200, and the last seq attempted.
type Publisher = (Vec<u64>, Option<u64>);

/// README: GD messages are committed before the publisher gets its answer (group commit) and
/// survive `kill -9`. So after a crash under concurrent publishers every answered publication
/// is there exactly once, in each publisher's order; the one publication each publisher had
/// unanswered at the kill may or may not be there, never twice.
#[test]
fn a_kill_during_concurrent_gd_publishing_on_sqlite_keeps_every_answered_message_once_and_in_order() {
    let mut node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/crash", json!({"has_gd": true}), "app");
    ps.subscribe(json!({}));

    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let answered: Arc<Vec<Mutex<Publisher>>> =
        Arc::new((0..PUBLISHERS).map(|_| Mutex::new((Vec::new(), None))).collect());
    for p in 0..PUBLISHERS {
        let (stop, answered) = (stop.clone(), answered.clone());
        let url = format!("{}{}", node.url, ps.topic_path());
        let (user, password) = (ps.endpoint.clone(), ps.password.clone());
        handles.push(std::thread::spawn(move || {
            use base64::Engine;
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
            for seq in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                answered[p].lock().unwrap().1 = Some(seq);
                let body = json!({"data": {"p": p, "seq": seq}}).to_string();
                match agent
                    .post(&url)
                    .set("Authorization", &format!("Basic {auth}"))
                    .set("Content-Type", "application/json")
                    .send_string(&body)
                {
                    Ok(r) if r.status() == 200 => answered[p].lock().unwrap().0.push(seq),
                    Ok(r) => panic!("publisher {p}: status {} before the kill", r.status()),
                    // The node is gone: this publication has no answer.
                    Err(ureq::Error::Transport(_)) => return,
                    Err(e) => panic!("publisher {p}: {e}"),
                }
            }
        }));
    }
    eventually("every publisher answered 40 times", 30, || {
        answered.iter().all(|a| a.lock().unwrap().0.len() >= 40)
    });
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("publisher thread");
    }
    node.restart();
    let ps = PubSub { client: node.http().basic(&ps.endpoint, &ps.password), ..ps };

    let total: usize = answered.iter().map(|a| a.lock().unwrap().0.len()).sum();
    let got = pull_at_least(&ps, total, 20);
    // Anything not yet pulled (at most one unanswered per publisher) comes in the next pull.
    let mut got = got;
    got.extend(ps.pull(Some(100)));
    assert!(ps.pull(Some(100)).is_empty());

    let mut per: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for m in &got {
        per.entry(m["data"]["p"].as_u64().unwrap()).or_default().push(m["data"]["seq"].as_u64().unwrap());
    }
    for p in 0..PUBLISHERS {
        let (acked, last) = answered[p].lock().unwrap().clone();
        let received = per.remove(&(p as u64)).unwrap_or_default();
        // Answered seqs are 0..n without gaps (one publication at a time, stopped at the first
        // unanswered one); the received ones are exactly those, plus perhaps that one.
        assert_eq!(acked, (0..acked.len() as u64).collect::<Vec<_>>());
        let unanswered = last.filter(|l| *l as usize == acked.len());
        let mut with_unanswered = acked.clone();
        with_unanswered.extend(unanswered);
        assert!(
            received == acked || received == with_unanswered,
            "publisher {p}: answered 0..{} (unanswered {unanswered:?}), received {received:?}",
            acked.len()
        );
    }
    assert!(per.is_empty(), "messages of no publisher: {per:?}");
}

// ---- 3. deleting what has pushes or leases outstanding --------------------------------------

/// A push target that holds every request until [`HeldTarget::release`] (30 s at most), then
/// answers 200. Counts what arrived and what was answered.
struct HeldTarget {
    receiver: Receiver,
    released: Arc<(Mutex<bool>, Condvar)>,
    arrived: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

impl HeldTarget {
    fn start() -> HeldTarget {
        let released = Arc::new((Mutex::new(false), Condvar::new()));
        let arrived = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let (r, came, a) = (released.clone(), arrived.clone(), answered.clone());
        let receiver = Receiver::start(Box::new(move |_| {
            came.fetch_add(1, Ordering::SeqCst);
            let (lock, released) = &*r;
            let held = lock.lock().unwrap();
            drop(released.wait_timeout_while(held, Duration::from_secs(30), |open| !*open).unwrap());
            a.fetch_add(1, Ordering::SeqCst);
            (200, "{}".into(), Duration::ZERO)
        }));
        HeldTarget { receiver, released, arrived, answered }
    }

    /// Lets every held request (and every later one) be answered.
    fn release(&self) {
        let (lock, released) = &*self.released;
        *lock.lock().unwrap() = true;
        released.notify_all();
    }
}

fn push_subscription(node: &Node, topic: &str, endpoint: &str, url: &str) -> String {
    let (status, e) = node.admin().post(
        "/admin/v1/endpoints",
        &json!({"name": endpoint, "role": "sub-only", "auth": "none", "topic_patterns": [format!("sub={topic}")]}),
    );
    assert_eq!(status, 201, "{e}");
    let (status, created) = node.admin().post(
        "/admin/v1/subscriptions",
        &json!({"topic_name": topic, "endpoint": endpoint, "delivery_method": "notify",
                "delivery_batch_size": 1, "push": {"url": url, "timeout": 60}}),
    );
    assert_eq!(status, 201, "{created}");
    created["sub_key"].as_str().unwrap().to_owned()
}

/// Deleting a subscription whose target holds a push answers without waiting for the target;
/// once the held batch is answered nothing more goes to that target, although its backlog
/// was not empty. A second subscription on the topic shows the node keeps pushing.
#[test]
fn deleting_a_subscription_with_a_push_held_by_its_target_answers_at_once_and_stops_its_pushes() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/held", json!({"has_gd": true}), "publisher");
        let held = HeldTarget::start();
        let key = push_subscription(&node, "/held", "slow", &format!("{}/slow", held.receiver.url));
        for n in 0..5 {
            ps.publish_ok(json!({"data": n}));
        }
        eventually("the first push to be held", 10, || held.arrived.load(Ordering::SeqCst) > 0);

        let admin = node.admin();
        let path = format!("/admin/v1/subscriptions/{key}");
        let deleting = std::thread::spawn(move || admin.delete(&path));
        // The delete must not wait on the target (which holds for up to 30 s).
        eventually("the delete to be answered while the push is held", 5, || deleting.is_finished());
        let answer = deleting.join().unwrap();
        assert_eq!(answer.0, 200, "{answer:?}");
        assert_eq!(held.answered.load(Ordering::SeqCst), 0, "answered only while held");
        let pushed_at_delete = held.arrived.load(Ordering::SeqCst);
        assert_eq!(pushed_at_delete, 1, "batch size 1: one batch in flight");

        held.release();
        eventually("the held push to be answered", 10, || held.answered.load(Ordering::SeqCst) >= 1);
        // Another subscription on the topic gets a message published now; by then the deleted
        // one, had it survived, would have pushed its next backlog message at once.
        let fast = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        push_subscription(&node, "/held", "fast", &format!("{}/fast", fast.url));
        ps.publish_ok(json!({"data": "marker"}));
        eventually("the marker at the other subscription", 10, || {
            fast.received().iter().any(|r| r.body.contains("marker"))
        });
        ps.publish_ok(json!({"data": "second marker"}));
        eventually("the second marker at the other subscription", 10, || {
            fast.received().iter().any(|r| r.body.contains("second marker"))
        });
        assert_eq!(
            held.arrived.load(Ordering::SeqCst),
            pushed_at_delete,
            "pushed after the delete was answered"
        );
        assert_refused(
            &node.admin().get(&format!("/admin/v1/subscriptions/{key}")),
            404,
            &format!("no subscription `{key}`"),
        );
    }
}

/// Pulled with explicit ack, then the subscription deleted by an admin: the delete answers,
/// and an ack of those leases is a clean "not subscribed" 400 (never a 500). Subscribing again
/// starts empty: the old leases never come back.
#[test]
fn deleting_a_subscription_with_explicit_leases_out_answers_and_their_acks_are_refused_cleanly() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/leased", json!({"has_gd": true}), "app");
        let key = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 1}));
        for n in 0..3 {
            ps.publish_ok(json!({"data": n}));
        }
        ps.publish_ok(json!({"data": "ram", "has_gd": false}));
        let leased = pull_at_least(&ps, 4, 10);
        let leased_ids = ids(&leased);
        let refs: Vec<&str> = leased_ids.iter().map(String::as_str).collect();

        let started = Instant::now();
        assert_eq!(node.admin().delete(&format!("/admin/v1/subscriptions/{key}")).0, 200);
        assert!(started.elapsed() < Duration::from_secs(5), "delete took {:?}", started.elapsed());
        assert_refused(&ps.ack(&refs), 400, "You are not subscribed to topic `/leased`");

        // A new subscription sees only what is published after it; the leases (1 s) that
        // ran out meanwhile went nowhere.
        let again = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 1}));
        assert_ne!(again, key);
        ps.publish_ok(json!({"data": "new"}));
        let got = pull_at_least(&ps, 1, 10);
        assert_eq!(datas(&got), vec![json!("new")]);
        assert!(!leased_ids.contains(&got[0]["msg_id"].as_str().unwrap().to_owned()));
        // Past its own 1 s lease (and so past the older ones), "new" alone comes back; none
        // of the deleted subscription's.
        let back = ps.pull_when_ready(10);
        assert_eq!(datas(&back), vec![json!("new")]);
        assert_eq!(back[0]["delivery_count"], 2);
    }
}

/// The same by the subscriber itself over REST (`DELETE /zato/pubsub/subscribe/topic/…`).
#[test]
fn unsubscribing_over_rest_with_leases_out_answers_and_their_acks_are_refused_cleanly() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/unsub", json!({"has_gd": true}), "app");
        let key = ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 600}));
        for n in 0..3 {
            ps.publish_ok(json!({"data": n}));
        }
        let leased_ids = ids(&pull_at_least(&ps, 3, 10));
        let refs: Vec<&str> = leased_ids.iter().map(String::as_str).collect();
        assert_eq!(ps.ack(&refs[..1]), (200, json!({"acked": 1, "unknown": []})));

        let (status, body) = ps.client.delete(&format!("/zato/pubsub/subscribe/topic/{}", ps.topic));
        assert_eq!(status, 200, "{body}");
        assert_refused(&ps.ack(&refs[1..]), 400, "You are not subscribed to topic `/unsub`");
        assert_refused(
            &node.admin().get(&format!("/admin/v1/subscriptions/{key}")),
            404,
            &format!("no subscription `{key}`"),
        );
    }
}

/// Deleting a topic whose subscription holds explicit leases: the delete answers, acks of
/// those leases are refused as for any unknown topic (403, never a 500), and a new topic of
/// the same name starts empty.
#[test]
fn deleting_a_topic_with_leases_out_answers_and_their_acks_are_refused_cleanly() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/doomed", json!({"has_gd": true}), "app");
        ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 600}));
        for n in 0..4 {
            ps.publish_ok(json!({"data": n}));
        }
        let leased_ids = ids(&pull_at_least(&ps, 4, 10));
        let refs: Vec<&str> = leased_ids.iter().map(String::as_str).collect();

        let started = Instant::now();
        assert_eq!(node.admin().delete(&format!("/admin/v1/topics/{}", ps.topic_id)).0, 200);
        assert!(started.elapsed() < Duration::from_secs(5), "delete took {:?}", started.elapsed());
        // Refused as for any topic the endpoint may not use: the deleted topic is not revealed.
        assert_refused(&ps.ack(&refs), 403, "You are not allowed to access this resource");
        assert_refused(
            &ps.publish(json!({"data": "late"})),
            403,
            "You are not allowed to access this resource",
        );

        let (status, t) = node.admin().post("/admin/v1/topics", &json!({"name": "/doomed", "has_gd": true}));
        assert_eq!(status, 201, "{t}");
        ps.subscribe(json!({"ack_mode": "explicit", "ack_timeout": 600}));
        ps.publish_ok(json!({"data": "new"}));
        assert_eq!(datas(&pull_at_least(&ps, 1, 10)), vec![json!("new")]);
        assert!(ps.pull(None).is_empty());
    }
}

/// Deleting a topic whose push subscription has a push held by its target (and a backlog
/// behind it): the delete answers without waiting for the target, and once the held batch is
/// answered nothing more goes to that target — as when the subscription itself is deleted.
#[test]
fn deleting_a_topic_with_a_held_push_answers_at_once_and_stops_its_pushes() {
    for backend in backends() {
        let node = Node::start(backend);
        let ps = PubSub::setup(&node, "/doomed", json!({"has_gd": true}), "app");
        let held = HeldTarget::start();
        push_subscription(&node, "/doomed", "slow", &format!("{}/slow", held.receiver.url));
        for n in 0..4 {
            ps.publish_ok(json!({"data": n}));
        }
        eventually("the first push to be held", 10, || held.arrived.load(Ordering::SeqCst) > 0);

        let admin = node.admin();
        let path = format!("/admin/v1/topics/{}", ps.topic_id);
        let deleting = std::thread::spawn(move || admin.delete(&path));
        eventually("the topic delete to be answered while the push is held", 5, || deleting.is_finished());
        let answer = deleting.join().unwrap();
        assert_eq!(answer.0, 200, "{answer:?}");
        assert_eq!(held.answered.load(Ordering::SeqCst), 0);
        let pushed_at_delete = held.arrived.load(Ordering::SeqCst);
        assert_eq!(pushed_at_delete, 1);

        held.release();
        eventually("the held push to be answered", 10, || held.answered.load(Ordering::SeqCst) >= 1);
        // The node still pushes elsewhere: a new topic of the same name, a new subscription.
        let (status, t) = node.admin().post("/admin/v1/topics", &json!({"name": "/doomed", "has_gd": true}));
        assert_eq!(status, 201, "{t}");
        let fast = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
        push_subscription(&node, "/doomed", "fast", &format!("{}/fast", fast.url));
        ps.publish_ok(json!({"data": "marker"}));
        eventually("the marker at the new subscription", 10, || {
            fast.received().iter().any(|r| r.body.contains("marker"))
        });
        assert_eq!(
            held.arrived.load(Ordering::SeqCst),
            pushed_at_delete,
            "pushed after the topic was deleted"
        );
    }
}

// ---- 4. a file channel and a file still being written ---------------------------------------

/// README: a file channel publishes a file once its size and time are unchanged since the
/// previous look. A file written in pieces faster than `poll_interval` is published once,
/// whole; a file written under a dot name and renamed when done is published once, whole.
#[test]
fn a_file_written_slowly_in_pieces_is_published_once_and_whole() {
    let node = Node::start(Backend::Sqlite);
    let ps = PubSub::setup(&node, "/files/slow", json!({"has_gd": true}), "loader");
    ps.subscribe(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let (status, created) = node.admin().post(
        "/admin/v1/file-channels",
        &json!({"name": "slow", "directory": dir.path().to_str().unwrap(), "topic_name": "/files/slow",
                "endpoint": "loader", "poll_interval": 0.5}),
    );
    assert_eq!(status, 201, "{created}");

    // 60 pieces, one every 20 ms (1.2 s, more than two polls), each appended and flushed.
    let whole: String = (0..60).map(|n| format!("line {n:02}\n")).collect();
    {
        use std::io::Write;
        let mut file = std::fs::File::create(dir.path().join("slow.txt")).unwrap();
        for n in 0..60 {
            file.write_all(format!("line {n:02}\n").as_bytes()).unwrap();
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Written under a dot name (never read), renamed once complete.
    let dotted = dir.path().join(".renamed.txt.part");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&dotted).unwrap();
        for n in 0..30 {
            file.write_all(format!("part {n:02}\n").as_bytes()).unwrap();
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(40));
        }
    }
    std::fs::rename(&dotted, dir.path().join("renamed.txt")).unwrap();
    let renamed: String = (0..30).map(|n| format!("part {n:02}\n")).collect();

    eventually("both files processed", 15, || {
        dir.path().join("processed/slow.txt").exists() && dir.path().join("processed/renamed.txt").exists()
    });
    let got = pull_at_least(&ps, 2, 10);
    assert_eq!(ps.pull(None), Vec::<Value>::new(), "published more than once");
    // Each whole, once (which of the two the channel saw complete first is not the point).
    let mut got = datas(&got);
    got.sort_by_key(|d| d.as_str().unwrap().to_owned());
    assert_eq!(got, vec![json!(whole), json!(renamed)]);
    let failed = dir.path().join("failed");
    assert!(!failed.exists() || std::fs::read_dir(&failed).unwrap().count() == 0, "a file failed");
}
