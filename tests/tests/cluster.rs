//! Node processes on loopback sharing one fresh PostgreSQL database: ownership and balance,
//! failover, hand-over, and the faults an operator meets (a frozen owner or leader, a node cut
//! off from the database and its peers, database backends terminated, PostgreSQL restarted).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use signalbox_tests::cluster::{check_deliveries, seq_message, PrivatePostgres, PublishLoad, TestCluster};
use signalbox_tests::{assert_refused, eventually, poll_until, wsx_setup, Db, Receiver, WsxClient};

const SUBSCRIBERS: usize = 10;

/// Topics `/c/gd` (GD, pushed to a receiver) and `/c/ram` (in-RAM, pulled), a publisher, and
/// `SUBSCRIBERS` endpoints each subscribed to both: 20 subscriptions. Answers each subscriber's
/// (name, password, sub_key on /c/gd, sub_key on /c/ram).
fn twenty_subscriptions(cluster: &TestCluster, receiver: &Receiver) -> Vec<(String, String, String, String)> {
    let admin = cluster.admin(0);
    for (name, gd) in [("/c/gd", true), ("/c/ram", false)] {
        let (status, body) = admin.post("/admin/v1/topics", &json!({"name": name, "has_gd": gd}));
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "publisher", "role": "pub-only", "topic_patterns": ["pub=/c/*"]}),
    );
    assert_eq!(status, 201, "{body}");
    let mut subs = Vec::new();
    for i in 0..SUBSCRIBERS {
        let name = format!("sub{i}");
        // Each subscriber is created through a different node: any node takes changes.
        let admin = cluster.admin(i % cluster.nodes.len());
        let (status, e) = admin.post(
            "/admin/v1/endpoints",
            &json!({"name": name, "role": "sub-only", "topic_patterns": ["sub=/c/*"]}),
        );
        assert_eq!(status, 201, "{e}");
        let (status, gd) = admin.post(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/c/gd", "endpoint": name, "delivery_method": "notify",
                    "delivery_batch_size": 50, "push": {"url": format!("{}/{name}", receiver.url)}}),
        );
        assert_eq!(status, 201, "{gd}");
        let (status, ram) =
            admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/c/ram", "endpoint": name}));
        assert_eq!(status, 201, "{ram}");
        subs.push((
            name,
            e["password"].as_str().unwrap().to_owned(),
            gd["sub_key"].as_str().unwrap().to_owned(),
            ram["sub_key"].as_str().unwrap().to_owned(),
        ));
    }
    subs
}

/// Sequence numbers delivered to each receiver path (pushes it answered 2xx), in arrival order.
fn pushed(receiver: &Receiver) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for request in receiver.received().iter().filter(|r| r.accepted()) {
        let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
        let seqs = body.as_array().cloned().unwrap_or_default();
        let entry = out.entry(request.path.trim_start_matches('/').to_owned()).or_default();
        entry.extend(seqs.iter().filter_map(|m| m["data"]["seq"].as_i64()));
    }
    out
}

/// Publishes `count` messages to `topic`, one request each, round robin over the nodes.
fn publish_round_robin(cluster: &TestCluster, password: &str, topic: &str, from: usize, count: usize) {
    for seq in from..from + count {
        let node = cluster.node(seq % cluster.nodes.len());
        let (status, body) = node
            .http()
            .basic("publisher", password)
            .post(&format!("/zato/pubsub/topic/{topic}"), &seq_message(seq));
        assert_eq!(status, 200, "publishing {seq} to {topic} on node {}: {body}", seq % cluster.nodes.len());
    }
}

fn publisher_password(cluster: &TestCluster) -> String {
    let admin = cluster.admin(0);
    let (_, endpoints) = admin.get("/admin/v1/endpoints");
    let id = endpoints.as_array().unwrap().iter().find(|e| e["name"] == "publisher").unwrap()["id"].clone();
    let (status, rotated) = admin.post(&format!("/admin/v1/endpoints/{id}/credentials"), &json!({}));
    assert_eq!(status, 200, "{rotated}");
    rotated["password"].as_str().unwrap().to_owned()
}

#[test]
fn twenty_subscriptions_spread_over_three_nodes_are_each_delivered_once_in_order_by_their_owner() {
    let Some(cluster) = TestCluster::start(3) else { return };
    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let subs = twenty_subscriptions(&cluster, &receiver);
    let password = publisher_password(&cluster);

    // Every node lists the same three members, one leader, and 20 subscriptions among them.
    eventually("three live nodes sharing the 20 subscriptions", 10, || {
        let members = cluster.members(1);
        members.len() == 3
            && members.iter().all(|m| m["state"] == "up")
            && members.iter().filter(|m| m["leader"] == true).count() == 1
            && members.iter().map(|m| m["subscriptions"].as_u64().unwrap()).sum::<u64>() == 20
    });
    // Balanced: with 20 subscriptions on 3 nodes, each runs 6 or 7.
    eventually("a balanced assignment", 15, || {
        cluster.members(2).iter().all(|m| (6..=7).contains(&m["subscriptions"].as_u64().unwrap()))
    });
    // One delivery actor per subscription in the whole cluster, on the node that owns it.
    let actors = cluster.delivery_actors(0);
    assert_eq!(actors.len(), 20, "one delivery actor per subscription: {actors:?}");
    let mut per_sub: HashMap<String, usize> = HashMap::new();
    for a in &actors {
        *per_sub.entry(a["sub_key"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(per_sub.values().all(|n| *n == 1), "{per_sub:?}");
    let owners = cluster.owners(1);
    for (_, _, gd, ram) in &subs {
        for key in [gd, ram] {
            let (status, sub) = cluster.admin(2).get(&format!("/admin/v1/subscriptions/{key}"));
            assert_eq!(status, 200, "{sub}");
            assert_eq!(sub["node"].as_str(), owners.get(key.as_str()).map(String::as_str), "owner of {key}");
        }
    }

    const N: usize = 150;
    publish_round_robin(&cluster, &password, "/c/gd", 0, N);
    publish_round_robin(&cluster, &password, "/c/ram", 0, N);

    // GD: every subscriber's receiver gets 0..N once, in order.
    let expected: Vec<i64> = (0..N as i64).collect();
    eventually("every GD message pushed to every subscriber", 30, || {
        let got = pushed(&receiver);
        subs.iter().all(|(name, ..)| got.get(name).is_some_and(|s| s.len() >= N))
    });
    let got = pushed(&receiver);
    for (name, ..) in &subs {
        assert_eq!(got[name], expected, "pushes to {name}");
    }
    // In-RAM: pulled through every node in turn (pulls reach the owner wherever they land).
    for (i, (name, pw, _, _)) in subs.iter().enumerate() {
        let mut seqs: Vec<i64> = Vec::new();
        let mut turn = i;
        eventually("every in-RAM message pulled", 20, || {
            let node = cluster.node(turn % 3);
            turn += 1;
            let (status, body) =
                node.http().basic(name, pw).call("PATCH", "/zato/pubsub/topic//c/ram?max=40", None);
            assert_eq!(status, 200, "pull as {name} on node {}: {body}", turn % 3);
            seqs.extend(body.as_array().unwrap().iter().filter_map(|m| m["data"]["seq"].as_i64()));
            seqs.len() >= N
        });
        assert_eq!(seqs, expected, "pulled by {name}");
    }
    // Delivered by the owners only: each delivery actor counts exactly N.
    for a in cluster.delivery_actors(2) {
        assert_eq!(a["delivered"], json!(N), "{a}");
    }
}

/// `/f/gd` (GD) with six push subscribers; answers the publisher's password.
fn busy_subscriptions(cluster: &TestCluster, receiver: &Receiver, subscribers: usize) -> String {
    let admin = cluster.admin(0);
    let (status, body) =
        admin.post("/admin/v1/topics", &json!({"name": "/f/gd", "has_gd": true, "max_depth_gd": 1000000}));
    assert_eq!(status, 201, "{body}");
    let (status, p) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "publisher", "role": "pub-only", "topic_patterns": ["pub=/f/*"]}),
    );
    assert_eq!(status, 201, "{p}");
    for i in 0..subscribers {
        let name = format!("sub{i}");
        let (status, e) = admin.post(
            "/admin/v1/endpoints",
            &json!({"name": name, "role": "sub-only", "auth": "none", "topic_patterns": ["sub=/f/*"]}),
        );
        assert_eq!(status, 201, "{e}");
        let (status, s) = admin.post(
            "/admin/v1/subscriptions",
            &json!({"topic_name": "/f/gd", "endpoint": name, "delivery_method": "notify",
                    "delivery_batch_size": 20, "push": {"url": format!("{}/{name}", receiver.url)}}),
        );
        assert_eq!(status, 201, "{s}");
    }
    p["password"].as_str().unwrap().to_owned()
}

fn urls(cluster: &TestCluster) -> Vec<String> {
    cluster.nodes.iter().map(|n| n.url.clone()).collect()
}

/// Push subscribers on `/f/gd`, two per node, and a publisher already publishing to every node.
fn under_load(cluster: &TestCluster, subscribers: usize) -> (Receiver, PublishLoad) {
    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let password = busy_subscriptions(cluster, &receiver, subscribers);
    eventually("a balanced assignment", 15, || {
        cluster.members(0).iter().all(|m| m["subscriptions"].as_u64() == Some(2))
    });
    let load = PublishLoad::start(urls(cluster), "publisher", &password, "/f/gd");
    eventually("publications flowing", 10, || load.acked_so_far() > 100);
    (receiver, load)
}

/// Waits until every subscriber got every acknowledged message, checks first deliveries are in
/// order, and answers how many deliveries were repeats.
fn all_delivered(receiver: &Receiver, subscribers: usize, acked: &[i64]) -> usize {
    eventually("every acknowledged message delivered to every subscriber", 60, || {
        let got = pushed(receiver);
        (0..subscribers).all(|i| {
            let have: std::collections::HashSet<i64> =
                got.get(&format!("sub{i}")).cloned().unwrap_or_default().into_iter().collect();
            acked.iter().all(|s| have.contains(s))
        })
    });
    let got = pushed(receiver);
    (0..subscribers).map(|i| check_deliveries(&format!("sub{i}"), &got[&format!("sub{i}")], acked)).sum()
}

#[test]
fn a_killed_owner_s_subscriptions_move_to_live_nodes_and_every_acknowledged_message_arrives_in_order() {
    let Some(mut cluster) = TestCluster::start(3) else { return };
    let subscribers = 6;
    let (receiver, load) = under_load(&cluster, subscribers);
    // The victim owns two of the busy subscriptions.
    let (victim, victim_name) = (1, "n2");
    cluster.nodes[victim].kill9();
    let killed_at = std::time::Instant::now();
    // Publishers keep going through the live nodes.
    load.urls.lock().unwrap().retain(|u| *u != cluster.node(victim).url);
    eventually("the victim's subscriptions running on live nodes", 30, || {
        let owners = cluster.owners(0);
        owners.len() == subscribers && owners.values().all(|n| n != victim_name)
    });
    let moved_after = killed_at.elapsed();
    eventually("more publications after the failover", 10, || load.acked_so_far() > 600);

    // The killed node comes back, rejoins and gets a share back.
    cluster.nodes[victim].restart();
    load.urls.lock().unwrap().push(cluster.node(victim).url.clone());
    eventually("the restarted node running its share again", 30, || {
        let members = cluster.members(0);
        members
            .iter()
            .any(|m| m["name"] == victim_name && m["state"] == "up" && m["subscriptions"].as_u64() == Some(2))
            && cluster.owners(2).values().filter(|n| *n == victim_name).count() == 2
    });
    let before_stop = load.acked_so_far();
    eventually("publications after the rejoin", 10, || load.acked_so_far() > before_stop + 200);
    let (acked, statuses) = load.stop();
    assert!(
        statuses.keys().all(|s| [0, 200, 503].contains(s)),
        "answers were 200, 503 or no answer (the killed node), never another error: {statuses:?}"
    );
    let repeats = all_delivered(&receiver, subscribers, &acked);
    println!(
        "failover: {} acknowledged, subscriptions moved {:.1} s after SIGKILL (timeout {} s), {repeats} repeated deliveries, answers {statuses:?}",
        acked.len(),
        moved_after.as_secs_f64(),
        signalbox_tests::cluster::HEARTBEAT_TIMEOUT
    );
    assert!(moved_after < Duration::from_secs(12), "moved {moved_after:?} after the kill");
    // Only batches in flight at the kill may come again (two subscriptions, 20 per batch).
    assert!(repeats <= 2 * 20, "{repeats} repeats");
}

#[test]
fn a_node_stopped_with_sigterm_hands_its_subscriptions_over_without_a_single_repeat() {
    // A heartbeat timeout no busy machine reaches: only the hand-over may move a subscription
    // here, never a live node that merely seemed gone (which could repeat a batch).
    let Some(mut cluster) = TestCluster::start_customized(3, |_, options| {
        let at = options.args.iter().position(|a| a == "--heartbeat-timeout").expect("a heartbeat timeout");
        options.args[at + 1] = "10".into();
    }) else {
        return;
    };
    let subscribers = 6;
    let (receiver, load) = under_load(&cluster, subscribers);
    let leaving = 2;
    load.urls.lock().unwrap().retain(|u| *u != cluster.node(leaving).url);
    let status = cluster.nodes[leaving].terminate();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    // Handed over before it exited: the others run all six at once.
    let owners = cluster.owners(0);
    assert_eq!(owners.len(), subscribers, "{owners:?}");
    assert!(owners.values().all(|n| n != "n3"), "{owners:?}");
    let members = cluster.members(1);
    assert!(members.iter().any(|m| m["name"] == "n3" && m["state"] == "down"), "{members:?}");
    let before = load.acked_so_far();
    eventually("publications after the handover", 10, || load.acked_so_far() > before + 200);
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    assert_eq!(all_delivered(&receiver, subscribers, &acked), 0, "repeated deliveries");
}

/// The header a REST push names its node with.
const NODE_HEADER: &str = "X-Signalbox-Node";

/// How long the frozen owner stays stopped: well past the heartbeat timeout (2 s) and the bound
/// of a takeover ([`takeover_bound`]), so another node takes its subscription over while it
/// sleeps.
const FROZEN_FOR: Duration = Duration::from_secs(7);

/// How soon a live node takes over from one that stopped renewing its lease: the lease runs for
/// the heartbeat timeout from its last renewal, a live node acts at its next heartbeat after
/// that, plus a margin for a loaded machine (3 s: the bound proves the lease expires, not that
/// a busy test machine answers within milliseconds; a node that kept its lock, as a frozen
/// leader once did, is never replaced at all).
fn takeover_bound() -> Duration {
    let timeout: f64 = signalbox_tests::cluster::HEARTBEAT_TIMEOUT.parse().unwrap();
    let heartbeat: f64 = signalbox_tests::cluster::HEARTBEAT.parse().unwrap();
    Duration::from_secs_f64(timeout + heartbeat + 3.0)
}

/// Sequence numbers of every push the receiver answered 2xx, in arrival order: what was
/// delivered (a push it refused must come again to count).
fn delivered_seqs(receiver: &Receiver) -> Vec<i64> {
    receiver.received().iter().filter(|r| r.accepted()).flat_map(seqs_of).collect()
}

/// Sequence numbers in one pushed batch.
fn seqs_of(request: &signalbox_tests::Received) -> Vec<i64> {
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    match body {
        Value::Array(list) => list.iter().filter_map(|m| m["data"]["seq"].as_i64()).collect(),
        one => one["data"]["seq"].as_i64().into_iter().collect(),
    }
}

#[test]
fn an_owner_frozen_past_the_heartbeat_timeout_pushes_nothing_more_once_it_wakes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    let Some(cluster) = TestCluster::start(2) else { return };
    eventually("two live nodes, one of them leading", 15, || {
        let members = cluster.members(0);
        members.len() == 2
            && members.iter().all(|m| m["state"] == "up")
            && members.iter().filter(|m| m["leader"] == true).count() == 1
    });
    // The follower is frozen (a frozen leader is the next test's case).
    let members = cluster.members(0);
    let name_of = |leading: bool| {
        members.iter().find(|m| (m["leader"] == true) == leading).unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (frozen_name, live_name) = (name_of(false), name_of(true));
    // `TestCluster` names its nodes n1, n2, … in order.
    let index = |name: &str| name.trim_start_matches('n').parse::<usize>().unwrap() - 1;
    let (frozen, live) = (index(&frozen_name), index(&live_name));
    assert_ne!(frozen, live);
    let pid = cluster.node(frozen).pid();

    // The receiver freezes the owner while its push is under way (received here, not yet
    // answered: the batch in flight at the failure) and refuses that batch. The subscription
    // retries at once, so the old owner has a push to make the moment it wakes, before its
    // first heartbeat tells it the subscription is no longer its own.
    let armed = Arc::new(AtomicBool::new(false));
    let stopped_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let receiver = {
        let (armed, stopped_at, frozen_name) = (armed.clone(), stopped_at.clone(), frozen_name.clone());
        Receiver::start(Box::new(move |request| {
            if request.header(NODE_HEADER) == Some(frozen_name.as_str())
                && armed.swap(false, Ordering::SeqCst)
            {
                unsafe {
                    libc::kill(pid, libc::SIGSTOP);
                }
                *stopped_at.lock().unwrap() = Some(Instant::now());
                return (503, "{}".into(), Duration::ZERO);
            }
            (200, "{}".into(), Duration::ZERO)
        }))
    };
    let (key, password) = pushed_subscription(&cluster, live, "/frozen/gd", true, &frozen_name, &receiver);

    // Publications every 20 ms through the node that stays awake.
    let password = password.as_str();
    let load = PublishLoad::paced(
        vec![cluster.node(live).url.clone()],
        "publisher",
        password,
        "/frozen/gd",
        Duration::from_millis(20),
    );
    let pushes_from = |name: &str, after: Option<Instant>| -> Vec<signalbox_tests::Received> {
        receiver
            .received()
            .into_iter()
            .filter(|r| r.header(NODE_HEADER) == Some(name) && after.is_none_or(|t| r.at > t))
            .collect()
    };
    eventually("the owner pushing", 20, || pushes_from(&frozen_name, None).len() >= 5);
    armed.store(true, Ordering::SeqCst);
    eventually("the owner frozen in the middle of a push", 20, || stopped_at.lock().unwrap().is_some());
    let stopped_at = stopped_at.lock().unwrap().unwrap();
    eventually("the live node delivering the frozen node's subscription", 30, || {
        !pushes_from(&live_name, Some(stopped_at)).is_empty()
    });
    let taken_over_after = pushes_from(&live_name, Some(stopped_at))[0].at - stopped_at;
    // The stop itself is the behaviour under test: frozen for well past the takeover.
    std::thread::sleep(FROZEN_FOR.saturating_sub(stopped_at.elapsed()));
    unsafe {
        libc::kill(pid, libc::SIGCONT);
    }
    let frozen_for = stopped_at.elapsed();
    let given_up = format!("event=delivery_stopped sub_key={key} node={frozen_name} reason=not_owned");
    eventually("the woken node giving the subscription up", 30, || {
        cluster.node(frozen).log().contains(&given_up)
    });
    let before = load.acked_so_far();
    eventually("publications after the wake-up", 30, || load.acked_so_far() >= before + 25);
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    eventually("every acknowledged message delivered", 60, || {
        let got: std::collections::HashSet<i64> = delivered_seqs(&receiver).into_iter().collect();
        acked.iter().all(|s| got.contains(s))
    });

    let requests = receiver.received();
    // The point: once frozen, the old owner pushed nothing more, not even after it woke.
    let late: Vec<(Vec<i64>, Duration)> =
        pushes_from(&frozen_name, Some(stopped_at)).iter().map(|r| (seqs_of(r), r.at - stopped_at)).collect();
    assert!(
        late.is_empty(),
        "{frozen_name} pushed after it was frozen (taken over {taken_over_after:?} after the stop, woken \
         {frozen_for:?} after it): {late:?}"
    );
    // Nothing lost, first deliveries in order, and only the batch in flight at the stop twice.
    let (repeats, in_flight) =
        only_the_batch_in_flight_repeats(&requests, &frozen_name, stopped_at, true, &acked);
    println!(
        "frozen owner: {} acknowledged, taken over {:.1} s after SIGSTOP, woken after {:.1} s, \
         {repeats} repeated (batch in flight: {})",
        acked.len(),
        taken_over_after.as_secs_f64(),
        frozen_for.as_secs_f64(),
        in_flight.len()
    );
}

/// Who leads, as node `i` sees it (None between two leaders).
fn leader_seen_by(cluster: &TestCluster, i: usize) -> Option<String> {
    let leaders: Vec<String> = cluster
        .members(i)
        .iter()
        .filter(|m| m["leader"] == true)
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect();
    assert!(leaders.len() <= 1, "more than one leader: {leaders:?}");
    leaders.into_iter().next()
}

#[test]
fn a_leader_frozen_past_its_lease_is_replaced_and_does_not_lead_once_it_wakes() {
    use std::time::Instant;

    let Some(cluster) = TestCluster::start(3) else { return };
    eventually("three live nodes, one of them leading", 15, || {
        let members = cluster.members(0);
        members.len() == 3
            && members.iter().all(|m| m["state"] == "up")
            && leader_seen_by(&cluster, 0).is_some()
    });
    let leader_name = leader_seen_by(&cluster, 0).unwrap();
    // `TestCluster` names its nodes n1, n2, … in order.
    let leader = leader_name.trim_start_matches('n').parse::<usize>().unwrap() - 1;
    let live = (leader + 1) % 3;
    let pid = cluster.node(leader).pid();

    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let (_, password) = pushed_subscription(&cluster, live, "/lead/gd", true, &leader_name, &receiver);

    let password = password.as_str();
    let load = PublishLoad::paced(
        vec![cluster.node(live).url.clone()],
        "publisher",
        password,
        "/lead/gd",
        Duration::from_millis(20),
    );
    let pushes_from = |leading: bool, after: Instant| pushes_after(&receiver, &leader_name, leading, after);
    let started = Instant::now();
    eventually("the leader pushing", 20, || pushes_from(true, started).len() >= 5);
    let assigned_before = cluster.node(leader).log().matches("event=subscription_assigned").count();

    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let stopped_at = Instant::now();
    let timeout: f64 = signalbox_tests::cluster::HEARTBEAT_TIMEOUT.parse().unwrap();
    let bound = takeover_bound();
    let replaced_after = poll_until("another node to lead in place of the frozen one", 30, || {
        leader_seen_by(&cluster, live).is_some_and(|l| l != leader_name).then(|| stopped_at.elapsed())
    });
    assert!(
        replaced_after <= bound,
        "the frozen leader was replaced after {replaced_after:?} (bound {bound:?})"
    );
    eventually("a live node delivering the frozen leader's subscription", 30, || {
        !pushes_from(false, stopped_at).is_empty()
    });
    let delivered_after = pushes_from(false, stopped_at)[0].at - stopped_at;
    assert!(
        delivered_after <= bound + Duration::from_secs_f64(timeout),
        "the frozen leader's subscription went {delivered_after:?} without a delivery"
    );
    // The stop itself is the behaviour under test: frozen for well past the takeover.
    std::thread::sleep(FROZEN_FOR.saturating_sub(stopped_at.elapsed()));
    unsafe {
        libc::kill(pid, libc::SIGCONT);
    }
    let (woken_at, frozen_for) = (Instant::now(), stopped_at.elapsed());
    let lost = format!("event=leadership_lost node={leader_name} ");
    eventually("the woken leader stepping down", 30, || cluster.node(leader).log().contains(&lost));
    let before = load.acked_so_far();
    eventually("publications after the wake-up", 30, || load.acked_so_far() >= before + 25);
    // Exactly one leader, never the woken node, as every node sees it.
    let new_leader = leader_seen_by(&cluster, live).expect("a leader after the wake-up");
    assert_ne!(new_leader, leader_name);
    for i in 0..3 {
        assert_eq!(leader_seen_by(&cluster, i).as_deref(), Some(new_leader.as_str()), "as node {i} sees it");
    }
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    eventually("every acknowledged message delivered", 60, || {
        let got: std::collections::HashSet<i64> = delivered_seqs(&receiver).into_iter().collect();
        acked.iter().all(|s| got.contains(s))
    });

    // Woken, the old leader assigned nothing and pushed nothing.
    let assigned_after = cluster.node(leader).log().matches("event=subscription_assigned").count();
    assert_eq!(assigned_after, assigned_before, "the woken node assigned subscriptions as leader");
    let late: Vec<Vec<i64>> = pushes_from(true, woken_at).iter().map(seqs_of).collect();
    assert!(late.is_empty(), "{leader_name} pushed after it woke: {late:?}");
    // Nothing lost, first deliveries in order, and only the batch in flight at the stop twice
    // (a push that arrives while its node is stopped was sent before the stop).
    let requests = receiver.received();
    let (repeats, in_flight) =
        only_the_batch_in_flight_repeats(&requests, &leader_name, woken_at, false, &acked);
    println!(
        "frozen leader: replaced {:.1} s after SIGSTOP, its subscription delivered again after {:.1} s, \
         woken after {:.1} s, {} acknowledged, {repeats} repeated (batch in flight: {})",
        replaced_after.as_secs_f64(),
        delivered_after.as_secs_f64(),
        frozen_for.as_secs_f64(),
        acked.len(),
        in_flight.len()
    );
}

/// `host:port` of a PostgreSQL URL, and the same URL through `127.0.0.1:port` instead.
fn pg_address(url: &str) -> (String, impl Fn(u16) -> String) {
    let (scheme, rest) = url.split_once("://").expect("a database URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host.to_owned()),
        None => (String::new(), authority.to_owned()),
    };
    let host = if host.contains(':') { host } else { format!("{host}:5432") };
    let (scheme, path) = (scheme.to_owned(), path.to_owned());
    (host, move |port| format!("{scheme}://{user}127.0.0.1:{port}/{path}"))
}

/// How long the cut lasts (well past the takeover).
const CUT_FOR: Duration = Duration::from_secs(8);

#[test]
fn an_owner_cut_off_from_the_database_and_its_peers_is_taken_over_and_pushes_nothing_more_once_reconnected() {
    use signalbox_tests::cluster::proxy::TcpProxy;
    use std::time::Instant;

    // n1 reaches PostgreSQL, and its peers reach n1, only through proxies the test cuts; the
    // other nodes reach PostgreSQL directly. n1 starts first, so it usually leads as well.
    let cut_name = "n1".to_owned();
    let cut = 0;
    let listen = signalbox_tests::free_addr();
    let http_proxy = TcpProxy::start(&listen);
    let mut db_proxy = None;
    let Some(cluster) = TestCluster::start_customized(3, |name, options| {
        if name == cut_name {
            let (upstream, via) = pg_address(options.database_url.as_deref().unwrap());
            let proxy = TcpProxy::start(&upstream);
            options.database_url = Some(via(proxy.port));
            options.listen = Some(listen.clone());
            options.args.extend(["--advertise-url".into(), format!("http://{}", http_proxy.addr())]);
            db_proxy = Some(proxy);
        }
    }) else {
        return;
    };
    let db_proxy = db_proxy.unwrap();
    let live = 1;
    eventually("three live nodes, one of them leading", 15, || {
        let members = cluster.members(live);
        members.len() == 3
            && members.iter().all(|m| m["state"] == "up")
            && leader_seen_by(&cluster, live).is_some()
    });
    let advertised = format!("http://{}", http_proxy.addr());
    assert!(
        cluster
            .members(live)
            .iter()
            .any(|m| m["name"] == cut_name.as_str() && m["advertise_url"] == advertised),
        "{cut_name} advertised through its proxy: {:?}",
        cluster.members(live)
    );

    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let (key, password) = pushed_subscription(&cluster, live, "/cut/gd", true, &cut_name, &receiver);

    // Publications every 20 ms through the two nodes that keep their connections.
    let password = password.as_str();
    let load = PublishLoad::paced(
        vec![cluster.node(1).url.clone(), cluster.node(2).url.clone()],
        "publisher",
        password,
        "/cut/gd",
        Duration::from_millis(20),
    );
    let pushes_from = |from_cut: bool, after: Instant| pushes_after(&receiver, &cut_name, from_cut, after);
    let started = Instant::now();
    eventually("the owner pushing", 20, || pushes_from(true, started).len() >= 5);
    let cut_led = leader_seen_by(&cluster, live).as_deref() == Some(cut_name.as_str());
    let assigned_before = cluster.node(cut).log().matches("event=subscription_assigned").count();

    db_proxy.cut();
    http_proxy.cut();
    let cut_at = Instant::now();
    // Its membership (and its lease, if it leads) runs out the heartbeat timeout after its last
    // heartbeat; a live node acts at its next heartbeat after that.
    let timeout: f64 = signalbox_tests::cluster::HEARTBEAT_TIMEOUT.parse().unwrap();
    let bound = takeover_bound();
    let (mut replaced_after, mut taken_over_at) = (None, None);
    eventually("another node delivering the cut node's subscription (and leading, if it led)", 30, || {
        if cut_led
            && replaced_after.is_none()
            && leader_seen_by(&cluster, live).is_some_and(|l| l != cut_name)
        {
            replaced_after = Some(cut_at.elapsed());
        }
        if taken_over_at.is_none() {
            taken_over_at = pushes_from(false, cut_at).first().map(|r| r.at);
        }
        taken_over_at.is_some() && (!cut_led || replaced_after.is_some())
    });
    let taken_over_at = taken_over_at.expect("checked above");
    let taken_over_after = taken_over_at - cut_at;
    if cut_led {
        let replaced_after = replaced_after.expect("checked above");
        assert!(
            replaced_after <= bound,
            "the cut leader was replaced after {replaced_after:?} (bound {bound:?})"
        );
    }
    // A leader cut off is replaced first; the new leader then finds its subscriptions orphaned.
    let delivery_bound = if cut_led { bound + Duration::from_secs_f64(timeout) } else { bound };
    assert!(
        taken_over_after <= delivery_bound,
        "the cut node's subscription went {taken_over_after:?} without a delivery (bound {delivery_bound:?})"
    );

    // The cut itself is the behaviour under test: it lasts well past the takeover.
    std::thread::sleep(CUT_FOR.saturating_sub(cut_at.elapsed()));
    db_proxy.restore();
    http_proxy.restore();
    let cut_for = cut_at.elapsed();
    // The cut took: the node lost its database (not just its peers) while its process ran.
    let failed = format!("event=heartbeat_failed node={cut_name} ");
    assert!(cluster.node(cut).log().contains(&failed), "{cut_name} never failed a heartbeat while cut off");
    let given_up = format!("event=delivery_stopped sub_key={key} node={cut_name} reason=not_owned");
    eventually("the reconnected node giving the subscription up", 30, || {
        cluster.node(cut).log().contains(&given_up)
    });
    eventually("the reconnected node up again as its peers see it", 30, || {
        cluster.members(live).iter().any(|m| m["name"] == cut_name.as_str() && m["state"] == "up")
    });
    let before = load.acked_so_far();
    eventually("publications after the reconnection", 30, || load.acked_so_far() >= before + 25);
    // One leader, never the node that was cut if it led, as every node sees it.
    let leader = leader_seen_by(&cluster, live).expect("a leader after the reconnection");
    if cut_led {
        assert_ne!(leader, cut_name, "the cut leader leads again");
    }
    for i in 0..3 {
        assert_eq!(leader_seen_by(&cluster, i).as_deref(), Some(leader.as_str()), "as node {i} sees it");
    }
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    eventually("every acknowledged message delivered", 60, || {
        let got: std::collections::HashSet<i64> = delivered_seqs(&receiver).into_iter().collect();
        acked.iter().all(|s| got.contains(s))
    });

    if cut_led {
        let assigned_after = cluster.node(cut).log().matches("event=subscription_assigned").count();
        assert_eq!(assigned_after, assigned_before, "the reconnected node assigned subscriptions as leader");
    }
    // The point: once taken over, the cut node pushed nothing more, not even reconnected.
    let late: Vec<(Vec<i64>, Duration)> =
        pushes_from(true, taken_over_at).iter().map(|r| (seqs_of(r), r.at - cut_at)).collect();
    assert!(
        late.is_empty(),
        "{cut_name} pushed after the takeover ({taken_over_after:?} after the cut, restored after \
         {cut_for:?}): {late:?}"
    );
    // Nothing lost, first deliveries in order, and only the batch in flight at the cut twice: the
    // last push the cut node began before the cut, and what it pushed again from memory after it.
    let requests = receiver.received();
    let mine = |r: &&signalbox_tests::Received| r.header(NODE_HEADER) == Some(cut_name.as_str());
    let mut in_flight: std::collections::HashSet<i64> = requests
        .iter()
        .filter(mine)
        .rfind(|r| r.at <= cut_at)
        .map(seqs_of)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let after_cut: Vec<Vec<i64>> =
        requests.iter().filter(mine).filter(|r| r.at > cut_at).map(seqs_of).collect();
    in_flight.extend(after_cut.iter().flatten());
    let received: Vec<i64> = requests.iter().filter(|r| r.accepted()).flat_map(seqs_of).collect();
    let repeats = check_deliveries("sub", &received, &acked);
    let mut seen = std::collections::HashSet::new();
    let repeated: Vec<i64> = received.iter().copied().filter(|s| !seen.insert(*s)).collect();
    assert!(
        repeated.iter().all(|s| in_flight.contains(s)),
        "repeated {repeated:?}, but only the batch in flight at the cut ({in_flight:?}) may be"
    );
    println!(
        "cut-off {}: delivered by another node {:.1} s after the cut{}, restored after {:.1} s, \
         {} acknowledged, {repeats} repeated (batch in flight: {}, pushes after the cut: {after_cut:?})",
        if cut_led { "leader" } else { "owner" },
        taken_over_after.as_secs_f64(),
        replaced_after
            .map(|r| format!(" (leader replaced after {:.1} s)", r.as_secs_f64()))
            .unwrap_or_default(),
        cut_for.as_secs_f64(),
        acked.len(),
        in_flight.len()
    );
}

#[test]
fn a_postgresql_restart_under_load_is_answered_with_503_and_the_cluster_recovers_by_itself() {
    if !signalbox_tests::backends().contains(&signalbox_tests::Backend::Postgres) {
        return;
    }
    let pg = PrivatePostgres::start().expect("PostgreSQL server binaries for a private instance");
    let mut cluster = TestCluster::on(2, pg.url());
    let subscribers = 4;
    let (receiver, load) = under_load(&cluster, subscribers);

    pg.down();
    // Down until a publication made during the outage was answered, with a 503: a node waits
    // 5 s for a database connection, then says the storage is unavailable.
    eventually("a publication refused with 503 while the database is down", 30, || {
        load.answered_so_far(503) > 0
    });
    pg.up();
    let back = load.acked_so_far();
    eventually("publications acknowledged again", 60, || load.acked_so_far() > back + 100);
    eventually("one leader and both nodes up again", 30, || {
        let members = cluster.members(1);
        members.iter().filter(|m| m["leader"] == true).count() == 1
            && members.iter().all(|m| m["state"] == "up")
    });
    let (acked, statuses) = load.stop();
    assert!(statuses.get(&503).is_some_and(|n| *n > 0), "no 503 while the database was away: {statuses:?}");
    assert!(statuses.keys().all(|s| [200, 503].contains(s)), "only 200 and 503: {statuses:?}");
    for node in &mut cluster.nodes {
        assert!(node.is_running(), "a node exited while the database was away:\n{}", node.log());
    }
    let repeats = all_delivered(&receiver, subscribers, &acked);
    println!(
        "database restart: {} acknowledged, {repeats} repeated deliveries, answers {statuses:?}",
        acked.len()
    );
}

#[test]
fn the_queue_browser_in_place_edits_and_move_work_from_any_node() {
    let Some(cluster) = TestCluster::start(2) else { return };
    let admin = cluster.admin(0);
    let (status, body) = admin.post("/admin/v1/topics", &json!({"name": "/q/ram"}));
    assert_eq!(status, 201, "{body}");
    let (status, e) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "app", "role": "pub-sub", "topic_patterns": ["pub=/q/*", "sub=/q/*"]}),
    );
    assert_eq!(status, 201, "{e}");
    let password = e["password"].as_str().unwrap().to_owned();
    let (status, sub) =
        admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/q/ram", "endpoint": "app"}));
    assert_eq!(status, 201, "{sub}");
    let key = sub["sub_key"].as_str().unwrap().to_owned();
    let owner = sub["node"].as_str().unwrap().to_owned();
    let (here, there) = if owner == "n1" { (1, 0) } else { (0, 1) };
    let client = |i: usize| cluster.node(i).http().basic("app", &password);

    // In-RAM messages published on the node that does not deliver them.
    for seq in 0..3 {
        let (status, body) = client(here).post("/zato/pubsub/topic//q/ram", &seq_message(seq));
        assert_eq!(status, 200, "{body}");
    }
    // The queue browser on that node shows them, from the owner's RAM.
    let (status, queue) = cluster.admin(here).get(&format!("/admin/v1/subscriptions/{key}/queue"));
    assert_eq!(status, 200, "{queue}");
    let queue = queue.as_array().unwrap().clone();
    assert_eq!(
        queue.iter().map(|m| m["data"]["seq"].clone()).collect::<Vec<_>>(),
        vec![json!(0), json!(1), json!(2)]
    );
    // An in-place edit made there reaches the owner's copy.
    let second = queue[1]["msg_id"].as_str().unwrap();
    let (status, edited) = cluster
        .admin(here)
        .patch(&format!("/admin/v1/messages/{second}"), &json!({"data": {"seq": 1, "edited": true}}));
    assert_eq!(status, 200, "{edited}");

    // Move the subscription to the other node: its in-RAM queue goes with it, in order.
    let target = if owner == "n1" { "n2" } else { "n1" };
    let (status, moved) =
        cluster.admin(there).post(&format!("/admin/v1/actors/delivery:{key}/move"), &json!({"node": target}));
    assert_eq!(status, 200, "{moved}");
    assert_eq!(cluster.owners(0).get(&key).map(String::as_str), Some(target));
    let (status, sub) = cluster.admin(0).get(&format!("/admin/v1/subscriptions/{key}"));
    assert_eq!((status, sub["node"].as_str()), (200, Some(target)));
    // A move to a node that is not in the cluster is refused.
    assert_refused(
        &cluster.admin(0).post(&format!("/admin/v1/actors/delivery:{key}/move"), &json!({"node": "nowhere"})),
        409,
        "node `nowhere` is not a live node of this cluster",
    );

    let (status, pulled) = client(there).call("PATCH", "/zato/pubsub/topic//q/ram", None);
    assert_eq!(status, 200, "{pulled}");
    let data: Vec<Value> = pulled.as_array().unwrap().iter().map(|m| m["data"].clone()).collect();
    assert_eq!(data, vec![json!({"seq": 0}), json!({"seq": 1, "edited": true}), json!({"seq": 2})]);
}

/// Reads pushes (acknowledging each) until `count` message datas arrived; `early` are pushes
/// that came before the answer to the client's last request.
fn receive_pushes(ws: &mut WsxClient, mut early: Vec<Value>, count: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < count {
        let push = if early.is_empty() { ws.recv() } else { early.remove(0) };
        let items = push["data"].as_array().cloned().unwrap_or_else(|| vec![push["data"].clone()]);
        got.extend(items.iter().map(|m| m["data"].clone()));
        ws.respond(push["meta"]["id"].as_str().unwrap(), json!("ok"));
    }
    got
}

#[test]
fn a_wsx_subscription_is_delivered_where_its_client_is_connected_and_follows_it_to_another_node() {
    let Some(cluster) = TestCluster::start(2) else { return };
    let channel = wsx_setup(cluster.node(0), "live", "/live/*");
    let password = channel.password.clone();
    let admin = cluster.admin(1);
    for (name, gd) in [("/live/ram", false), ("/live/gd", true)] {
        assert_eq!(admin.post("/admin/v1/topics", &json!({"name": name, "has_gd": gd})).0, 201);
    }
    let (status, p) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "pusher", "role": "pub-only", "topic_patterns": ["pub=/live/*"]}),
    );
    assert_eq!(status, 201, "{p}");
    let publisher = |i: usize| cluster.node(i).http().basic("pusher", p["password"].as_str().unwrap());

    // Subscribed on n1: n1 delivers, whatever node the messages are published on.
    let mut ws = WsxClient::connect(cluster.node(0), "/wsx/live");
    ws.login("live-client", &password);
    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/live/ram", "unsub_on_wsx_close": false, "ack_mode": "explicit"}),
    );
    assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
    let key = sub["data"]["sub_key"].as_str().unwrap().to_owned();
    assert_eq!(cluster.owners(1).get(&key).map(String::as_str), Some("n1"));
    for n in 0..4 {
        assert_eq!(publisher(n % 2).post("/zato/pubsub/topic//live/ram", &json!({"data": n})).0, 200);
    }
    assert_eq!(receive_pushes(&mut ws, Vec::new(), 4), (0..4).map(|n| json!(n)).collect::<Vec<_>>());
    // Acknowledgements are read before the client goes (one cut right after its last ack may
    // find that push still open, and get it again: at least once).
    let delivered = format!("signalbox_deliveries_total{{sub_key=\"{key}\"}}");
    eventually("n1 to count the four acknowledged", 10, || {
        signalbox_tests::metric(cluster.node(0), &delivered) == Some(4.0)
    });

    // The client goes away; what is published meanwhile waits; it resumes on n2, which now
    // delivers the subscription, with the waiting messages first.
    ws.socket.close(None).ok();
    drop(ws);
    let sessions = format!("{}/sessions", channel.admin_path());
    eventually("the session on n1 to end", 10, || cluster.admin(0).get(&sessions).1 == json!([]));
    for n in 4..8 {
        assert_eq!(publisher(n % 2).post("/zato/pubsub/topic//live/ram", &json!({"data": n})).0, 200);
    }
    let mut ws = WsxClient::connect(cluster.node(1), "/wsx/live");
    ws.login("live-client", &password);
    let (resumed, early) = ws.invoke("zato.pubsub.resume-wsx-subscription", json!({"sub_key": key}));
    assert_eq!(resumed["meta"]["msg_type"], "zwsx.rspok", "{resumed}");
    assert_eq!(cluster.owners(0).get(&key).map(String::as_str), Some("n2"));
    for n in 8..10 {
        assert_eq!(publisher(n % 2).post("/zato/pubsub/topic//live/ram", &json!({"data": n})).0, 200);
    }
    assert_eq!(receive_pushes(&mut ws, early, 6), (4..10).map(|n| json!(n)).collect::<Vec<_>>());
}

#[test]
fn the_gd_depth_limit_counts_the_messages_of_the_whole_cluster() {
    let Some(cluster) = TestCluster::start(2) else { return };
    let admin = cluster.admin(0);
    let (status, body) =
        admin.post("/admin/v1/topics", &json!({"name": "/deep", "has_gd": true, "max_depth_gd": 10}));
    assert_eq!(status, 201, "{body}");
    let (status, e) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "app", "role": "pub-sub", "topic_patterns": ["pub=/deep", "sub=/deep"]}),
    );
    assert_eq!(status, 201, "{e}");
    let client = |i: usize| cluster.node(i).http().basic("app", e["password"].as_str().unwrap());
    assert_eq!(client(0).post("/zato/pubsub/subscribe/topic//deep", &json!({})).0, 200);
    for n in 0..6 {
        assert_eq!(client(0).post("/zato/pubsub/topic//deep", &json!({"data": n})).0, 200);
    }
    // n2 learns of n1's six (its poll of the cluster's GD depths) and refuses past ten in all.
    let topic = format!("/admin/v1/topics/{}", body["id"]);
    eventually("n2 to count n1's six", 10, || cluster.admin(1).get(&topic).1["depth_gd"] == 6);
    let mut answers: Vec<(u16, Value)> =
        (6..11).map(|n| client(1).post("/zato/pubsub/topic//deep", &json!({"data": n}))).collect();
    let last = answers.pop().unwrap();
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    assert_refused(&last, 503, "topic `/deep` is at its GD depth limit of 10");
}

#[test]
fn a_change_made_on_one_node_is_in_force_on_the_others_once_it_is_answered() {
    let Some(cluster) = TestCluster::start(2) else { return };
    let (status, topic) = cluster.admin(0).post("/admin/v1/topics", &json!({"name": "/cfg"}));
    assert_eq!(status, 201, "{topic}");
    let (status, e) = cluster.admin(1).post(
        "/admin/v1/endpoints",
        &json!({"name": "app", "role": "pub-sub", "topic_patterns": ["pub=/cfg", "sub=/cfg"]}),
    );
    assert_eq!(status, 201, "{e}");
    let on = |i: usize| cluster.node(i).http().basic("app", e["password"].as_str().unwrap());
    // No pause anywhere: each answer means every node follows the change.
    assert_eq!(on(1).post("/zato/pubsub/topic//cfg", &json!({"data": 1})).0, 200);
    let id = topic["id"].clone();
    assert_eq!(
        cluster.admin(0).patch(&format!("/admin/v1/topics/{id}"), &json!({"is_active": false})).0,
        200
    );
    assert_refused(
        &on(1).post("/zato/pubsub/topic//cfg", &json!({"data": 2})),
        503,
        "topic `/cfg` is inactive",
    );
    assert_eq!(cluster.admin(0).patch(&format!("/admin/v1/topics/{id}"), &json!({"is_active": true})).0, 200);
    // Credentials rotated on one node stop working on the other at once, and the new ones work.
    let (status, rotated) =
        cluster.admin(0).post(&format!("/admin/v1/endpoints/{}/credentials", e["id"]), &json!({}));
    assert_eq!(status, 200, "{rotated}");
    assert_refused(
        &on(1).post("/zato/pubsub/topic//cfg", &json!({"data": 3})),
        401,
        "missing or invalid credentials",
    );
    let new_password = rotated["password"].as_str().expect("a new password");
    let (status, body) = cluster
        .node(1)
        .http()
        .basic("app", new_password)
        .post("/zato/pubsub/topic//cfg", &json!({"data": 4}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_in_ram_data_list_forwarded_to_its_owner_in_more_than_one_internal_frame_arrives_once_in_order() {
    let Some(mut cluster) = TestCluster::start(0) else { return };
    // A small max_message_size makes the internal channel's frame limit (4 ×) small: 64 KiB.
    const MAX_MESSAGE_SIZE: usize = 16_384;
    for name in ["n1", "n2"] {
        let mut options = cluster.options(name);
        options.args.extend(["--max-message-size".to_owned(), MAX_MESSAGE_SIZE.to_string()]);
        cluster.nodes.push(signalbox_tests::Node::start_with(options));
    }
    let admin = cluster.admin(0);
    let (status, body) = admin.post("/admin/v1/topics", &json!({"name": "/wide", "max_depth_non_gd": 10000}));
    assert_eq!(status, 201, "{body}");
    let (status, e) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "app", "role": "pub-sub", "topic_patterns": ["pub=/wide", "sub=/wide"]}),
    );
    assert_eq!(status, 201, "{e}");
    let password = e["password"].as_str().unwrap().to_owned();
    let (status, sub) =
        admin.post("/admin/v1/subscriptions", &json!({"topic_name": "/wide", "endpoint": "app"}));
    assert_eq!(status, 201, "{sub}");
    let key = sub["sub_key"].as_str().unwrap().to_owned();
    let owner = sub["node"].as_str().unwrap().to_owned();
    let (owner_i, other_i) = if owner == "n1" { (0, 1) } else { (1, 0) };
    eventually("both nodes agreeing on the owner", 15, || {
        cluster.owners(other_i).get(&key) == Some(&owner) && cluster.members(other_i).len() == 2
    });

    // 1000 messages in one request that fits max_message_size, published where the
    // subscription is not delivered: forwarded to the owner, each with its whole envelope.
    const COUNT: usize = 1000;
    let items: Vec<Value> = (0..COUNT).map(|n| json!({"data": n})).collect();
    let body = json!({"data_list": items});
    assert!(body.to_string().len() < MAX_MESSAGE_SIZE, "the publication itself fits");
    let (status, published) =
        cluster.node(other_i).http().basic("app", &password).post("/zato/pubsub/topic//wide", &body);
    assert_eq!(status, 200, "{published}");
    let ids = published["msg_id_list"].as_array().unwrap();
    assert_eq!(ids.len(), COUNT);
    // What the owner receives is far past one internal frame (4 × max_message_size): each
    // forwarded message carries at least `"msg_id":"…"`, `"topic_name":"/wide"`,
    // `"pub_pattern_matched":"pub=/wide"`, `"mime_type":"application/json"`, and two
    // 16-digit times with their names — 154 bytes beside its id.
    let forwarded_at_least: usize = ids.iter().map(|id| id.as_str().unwrap().len() + 154).sum();
    assert!(forwarded_at_least > 2 * 4 * MAX_MESSAGE_SIZE, "{forwarded_at_least} bytes forwarded");

    // Pulled from the owner: all of them, once, in publication order.
    let owner_client = cluster.node(owner_i).http().basic("app", &password);
    let mut got: Vec<i64> = Vec::new();
    eventually("every forwarded message pulled", 20, || {
        let (status, batch) = owner_client.call("PATCH", "/zato/pubsub/topic//wide?max=250", None);
        assert_eq!(status, 200, "{batch}");
        got.extend(batch.as_array().unwrap().iter().map(|m| m["data"].as_i64().unwrap()));
        got.len() >= COUNT
    });
    assert_eq!(got, (0..COUNT as i64).collect::<Vec<_>>(), "lost, repeated or out of order");
    let (status, rest) = owner_client.call("PATCH", "/zato/pubsub/topic//wide", None);
    assert_eq!((status, rest), (200, json!([])), "delivered more than once");
    // The link between the nodes held: both still see two live members.
    let members = cluster.members(other_i);
    assert!(members.len() == 2 && members.iter().all(|m| m["state"] == "up"), "{members:?}");
}

#[test]
fn every_database_backend_of_the_cluster_terminated_twice_loses_nothing_and_delivery_goes_on() {
    let Some(cluster) = TestCluster::start(3) else { return };
    let subscribers = 6;
    let (receiver, load) = under_load(&cluster, subscribers);
    let database = cluster.database_url.rsplit('/').next().unwrap().to_owned();
    let mut admin = Db::open(&cluster.database_url);
    for round in 0..2 {
        // Every connection of every node to this database, pooled and leadership alike.
        let killed: Vec<Killed> = admin.load(&format!(
            "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
             WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ));
        let terminated = killed.iter().filter(|k| k.terminated).count();
        assert!(terminated >= 3, "round {round}: only {terminated} backends terminated");
        let before = load.acked_so_far();
        eventually("publications acknowledged again", 30, || load.acked_so_far() > before + 200);
    }
    let (acked, statuses) = load.stop();
    assert!(statuses.keys().all(|s| [200, 503].contains(s)), "200 or 503, never another error: {statuses:?}");
    let repeats = all_delivered(&receiver, subscribers, &acked);
    // A batch in flight when its owner's connection went may come again, per subscription and round.
    assert!(repeats <= 2 * subscribers * 20, "{repeats} repeats");
    assert_eq!(cluster.members(0).iter().filter(|m| m["state"] == "up").count(), 3);
}

#[derive(diesel::QueryableByName)]
struct Killed {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    terminated: bool,
}

#[test]
fn the_leader_killed_while_subscriptions_are_created_leaves_each_with_exactly_one_live_owner() {
    let Some(mut cluster) = TestCluster::start(3) else { return };
    let admin = cluster.admin(0);
    let (status, body) = admin.post("/admin/v1/topics", &json!({"name": "/k", "has_gd": true}));
    assert_eq!(status, 201, "{body}");
    let mut leader_name = None;
    eventually("a leader", 15, || {
        leader_name = leader_seen_by(&cluster, 0);
        leader_name.is_some()
    });
    let leader_name = leader_name.unwrap();
    // Nodes are named n1, n2, n3.
    let leader: usize = leader_name.trim_start_matches('n').parse::<usize>().expect("node name") - 1;
    let creator = (leader + 1) % 3;
    // Subscriptions created one after another through a node that is not the leader.
    let client = cluster.admin(creator);
    let making = std::thread::spawn(move || {
        let mut created = Vec::new();
        for i in 0..40 {
            let name = format!("k{i}");
            let (status, e) = client.post(
                "/admin/v1/endpoints",
                &json!({"name": name, "role": "sub-only", "topic_patterns": ["sub=/k"]}),
            );
            assert_eq!(status, 201, "{e}");
            let (status, s) =
                client.post("/admin/v1/subscriptions", &json!({"topic_name": "/k", "endpoint": name}));
            // Answered either way: created (201) or refused while the cluster fails over (503).
            assert!(status == 201 || status == 503, "{status} {s}");
            if status == 201 {
                created.push(s["sub_key"].as_str().unwrap().to_owned());
            }
        }
        created
    });
    eventually("a few subscriptions made", 30, || cluster.owners(creator).len() >= 8);
    cluster.nodes[leader].kill9();
    let before_kill = cluster.owners(creator).len();
    let created = making.join().expect("the creating thread");
    assert!(created.len() >= 30, "only {} of 40 created", created.len());
    assert!(created.len() > before_kill, "nothing was created after the kill ({before_kill} before)");
    // Every subscription that exists — those answered 201, and any made while its answer was
    // lost in the failover — runs exactly once, on a live node.
    let (status, listed) = cluster.admin(creator).get("/admin/v1/subscriptions?topic_name=/k&limit=1000");
    assert_eq!(status, 200, "{listed}");
    let listed: Vec<String> =
        listed.as_array().unwrap().iter().map(|s| s["sub_key"].as_str().unwrap().to_owned()).collect();
    assert!(created.iter().all(|key| listed.contains(key)), "created {created:?}, listed {listed:?}");
    eventually("every subscription running once, on a live node", 30, || {
        let actors = cluster.delivery_actors(creator);
        listed.iter().all(|key| {
            let running: Vec<&Value> = actors.iter().filter(|a| a["sub_key"] == key.as_str()).collect();
            running.len() == 1 && running[0]["node"] != leader_name.as_str()
        })
    });
    assert!(leader_seen_by(&cluster, creator).is_some_and(|l| l != leader_name));
}

/// The documented rule for in-RAM messages across a failed forward: what could not reach the
/// owner is kept as GD for that subscription and delivered — nothing acknowledged is lost — but
/// a later message that reached the owner directly may overtake it, so order is not asserted.
#[test]
fn in_ram_messages_that_cannot_reach_their_owner_are_kept_as_gd_and_none_is_lost() {
    use signalbox_tests::cluster::proxy::TcpProxy;

    // n1 owns the subscription; its peers reach it only through a proxy the test cuts.
    let listen = signalbox_tests::free_addr();
    let http_proxy = TcpProxy::start(&listen);
    let Some(cluster) = TestCluster::start_customized(2, |name, options| {
        if name == "n1" {
            options.listen = Some(listen.clone());
            options.args.extend(["--advertise-url".into(), format!("http://{}", http_proxy.addr())]);
        }
    }) else {
        return;
    };
    let publisher_node = 1;
    eventually("two live nodes", 15, || {
        cluster.members(publisher_node).iter().filter(|m| m["state"] == "up").count() == 2
    });
    let receiver = Receiver::start(Box::new(|_| (200, "{}".into(), Duration::ZERO)));
    let (key, password) = pushed_subscription(&cluster, publisher_node, "/ram/k", false, "n1", &receiver);
    let password = password.as_str();
    let load = PublishLoad::paced(
        vec![cluster.node(publisher_node).url.clone()],
        "publisher",
        password,
        "/ram/k",
        Duration::from_millis(10),
    );
    eventually("publications flowing", 10, || load.acked_so_far() > 50);
    // A moment without the path to the owner: shorter than the heartbeat timeout, so n1 stays
    // the owner and only forwarding fails.
    http_proxy.cut();
    let kept = "signalbox_cluster_forwarded_total{outcome=\"kept_as_gd\"}";
    eventually("a forward kept as GD", 10, || {
        signalbox_tests::metric(cluster.node(publisher_node), kept).is_some_and(|n| n > 0.0)
    });
    http_proxy.restore();
    let before = load.acked_so_far();
    eventually("publications after the path came back", 10, || load.acked_so_far() > before + 50);
    let (acked, statuses) = load.stop();
    assert!(statuses.keys().all(|s| *s == 200), "every publication accepted: {statuses:?}");
    assert_eq!(
        cluster.owners(publisher_node).get(&key).map(String::as_str),
        Some("n1"),
        "n1 stayed the owner"
    );
    eventually("every acknowledged message delivered", 30, || {
        let got: std::collections::HashSet<i64> =
            pushed(&receiver).get("sub").cloned().unwrap_or_default().into_iter().collect();
        acked.iter().all(|s| got.contains(s))
    });
}

/// On `topic` (GD, or in-RAM when `gd` is false): a `publisher` endpoint and one push
/// subscription of endpoint `sub` to `receiver` (batches of 20, no wait after a failure), made
/// through node `via` and moved onto `owner` if it landed elsewhere. Answers its sub_key and the
/// publisher's password.
fn pushed_subscription(
    cluster: &TestCluster,
    via: usize,
    topic: &str,
    gd: bool,
    owner: &str,
    receiver: &Receiver,
) -> (String, String) {
    let admin = cluster.admin(via);
    let (status, body) = admin.post(
        "/admin/v1/topics",
        &json!({"name": topic, "has_gd": gd, "max_depth_gd": 1000000, "max_depth_non_gd": 1000000}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, publisher) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "publisher", "role": "pub-only", "topic_patterns": [format!("pub={topic}")]}),
    );
    assert_eq!(status, 201, "{publisher}");
    let (status, e) = admin.post(
        "/admin/v1/endpoints",
        &json!({"name": "sub", "role": "sub-only", "auth": "none", "topic_patterns": [format!("sub={topic}")]}),
    );
    assert_eq!(status, 201, "{e}");
    let (status, sub) = admin.post(
        "/admin/v1/subscriptions",
        &json!({"topic_name": topic, "endpoint": "sub", "delivery_method": "notify",
                "delivery_batch_size": 20, "wait_non_sock_err": 0,
                "push": {"url": format!("{}/sub", receiver.url)}}),
    );
    assert_eq!(status, 201, "{sub}");
    let key = sub["sub_key"].as_str().unwrap().to_owned();
    if sub["node"].as_str() != Some(owner) {
        let (status, moved) =
            admin.post(&format!("/admin/v1/actors/delivery:{key}/move"), &json!({"node": owner}));
        assert_eq!(status, 200, "{moved}");
    }
    assert_eq!(cluster.owners(via).get(&key).map(String::as_str), Some(owner));
    (key, publisher["password"].as_str().unwrap().to_owned())
}

/// The pushes `receiver` got after `after` from `node` (`from` true) or from any other node.
fn pushes_after(
    receiver: &Receiver,
    node: &str,
    from: bool,
    after: std::time::Instant,
) -> Vec<signalbox_tests::Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| (r.header(NODE_HEADER) == Some(node)) == from && r.at > after)
        .collect()
}

/// Checks every acknowledged message reached `sub` with first deliveries in order, and that
/// only the last batch `node` pushed before `stop` (at or before it when `inclusive`) came
/// twice. Answers the repeats and that batch.
fn only_the_batch_in_flight_repeats(
    requests: &[signalbox_tests::Received],
    node: &str,
    stop: std::time::Instant,
    inclusive: bool,
    acked: &[i64],
) -> (usize, std::collections::HashSet<i64>) {
    let in_flight: std::collections::HashSet<i64> = requests
        .iter()
        .rfind(|r| r.header(NODE_HEADER) == Some(node) && (r.at < stop || (inclusive && r.at == stop)))
        .map(seqs_of)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let received: Vec<i64> = requests.iter().filter(|r| r.accepted()).flat_map(seqs_of).collect();
    let repeats = check_deliveries("sub", &received, acked);
    let mut seen = std::collections::HashSet::new();
    let repeated: Vec<i64> = received.iter().copied().filter(|s| !seen.insert(*s)).collect();
    assert!(
        repeated.iter().all(|s| in_flight.contains(s)),
        "repeated {repeated:?}, but only the batch in flight at the stop ({in_flight:?}) may be"
    );
    (repeats, in_flight)
}
