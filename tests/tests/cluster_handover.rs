//! Handing a subscription over from one node to another while messages flow, and changes of
//! configuration made on one node while another delivers.
//!
//! The promise (README "Running a cluster", `broker/src/cluster/handover.rs`): a move is
//! answered once the new owner runs the subscription; the old owner finishes the batch under
//! way, keeps its in-RAM queue as GD rows, and pushes nothing more; the new owner starts from
//! SQL. So a handover loses nothing, repeats nothing — it is not a failure — and keeps order. A
//! change answered on one node is in force on every node.
//!
//! Every push is recorded with the node that made it (`X-Signalbox-Node`), when it arrived and
//! when it was answered, so each test checks per subscription: what the target accepted is
//! exactly the acknowledged publications, once each, in publication order; and who pushed — the
//! owner until a move, then only the new one, never both at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use signalbox_tests::cluster::{seq_message, PublishLoad, TestCluster};
use signalbox_tests::{assert_refused, eventually, eventually_with, metric, Receiver};

/// The header a REST push names its node with.
const NODE_HEADER: &str = "X-Signalbox-Node";

/// How the push target answers from now on: a status, after a delay.
#[derive(Debug, Clone, Copy)]
struct Answer {
    status: u16,
    delay: Duration,
}

const ACCEPT: Answer = Answer { status: 200, delay: Duration::ZERO };
const REFUSE: Answer = Answer { status: 503, delay: Duration::ZERO };

/// One push the target got.
#[derive(Debug, Clone)]
struct Push {
    node: String,
    seqs: Vec<i64>,
    arrived: Instant,
    /// When the answer went out; `None` while the push is being answered.
    answered: Option<Instant>,
    status: u16,
}

/// A [`Receiver`] for one push subscription that answers as told and records every push.
struct Target {
    receiver: Receiver,
    pushes: Arc<Mutex<Vec<Push>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Target {
    fn start(answer: Answer) -> Target {
        let pushes: Arc<Mutex<Vec<Push>>> = Arc::default();
        let answer = Arc::new(Mutex::new(answer));
        let (log, how) = (pushes.clone(), answer.clone());
        let receiver = Receiver::start(Box::new(move |request| {
            let Answer { status, delay } = *how.lock().unwrap();
            let index = {
                let mut log = log.lock().unwrap();
                log.push(Push {
                    node: request.header(NODE_HEADER).unwrap_or_default().to_owned(),
                    seqs: seqs_of(&request.body),
                    arrived: request.at,
                    answered: None,
                    status,
                });
                log.len() - 1
            };
            // The delay is taken here rather than by the receiver, so the answer's time is known.
            std::thread::sleep(delay);
            log.lock().unwrap()[index].answered = Some(Instant::now());
            (status, "{}".into(), Duration::ZERO)
        }));
        Target { receiver, pushes, answer }
    }

    fn url(&self) -> String {
        format!("{}/sub", self.receiver.url)
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Every push so far, in arrival order.
    fn pushes(&self) -> Vec<Push> {
        let mut pushes = self.pushes.lock().unwrap().clone();
        pushes.sort_by_key(|p| p.arrived);
        pushes
    }

    /// What the target accepted (answered 200), in arrival order.
    fn delivered(&self) -> Vec<i64> {
        self.pushes().into_iter().filter(|p| p.status == 200).flat_map(|p| p.seqs).collect()
    }

    /// Waits until every one of `acked` was accepted and no push is being answered.
    fn wait_for(&self, acked: &[i64], secs: u64) {
        let missing = || {
            let got: HashSet<i64> = self.delivered().into_iter().collect();
            acked.iter().copied().filter(|s| !got.contains(s)).collect::<Vec<i64>>()
        };
        eventually_with(
            "every acknowledged message delivered",
            secs,
            || missing().is_empty() && self.pushes().iter().all(|p| p.answered.is_some()),
            || {
                let unanswered = self.pushes().iter().filter(|p| p.answered.is_none()).count();
                format!("missing {:?}; {unanswered} pushes unanswered", missing())
            },
        );
    }
}

/// The sequence numbers of one pushed batch (a list, or one message when not wrapped).
fn seqs_of(body: &str) -> Vec<i64> {
    match serde_json::from_str(body).unwrap_or(Value::Null) {
        Value::Array(list) => list.iter().filter_map(|m| m["data"]["seq"].as_i64()).collect(),
        one => one["data"]["seq"].as_i64().into_iter().collect(),
    }
}

/// What the target accepted is exactly `acked`: each acknowledged publication once, in
/// publication order, and nothing else.
#[track_caller]
fn assert_delivered_exactly(delivered: &[i64], acked: &[i64]) {
    if delivered == acked {
        return;
    }
    let mut seen = HashSet::new();
    let repeated: Vec<i64> = delivered.iter().copied().filter(|s| !seen.insert(*s)).collect();
    let missing: Vec<i64> = acked.iter().copied().filter(|s| !seen.contains(s)).collect();
    let wanted: HashSet<i64> = acked.iter().copied().collect();
    let unasked: Vec<i64> = seen.iter().copied().filter(|s| !wanted.contains(s)).collect();
    let mut firsts = Vec::new();
    let mut once = HashSet::new();
    for s in delivered {
        if once.insert(*s) {
            firsts.push(*s);
        }
    }
    let out_of_order: Vec<(i64, i64)> =
        firsts.windows(2).filter(|w| w[0] > w[1]).map(|w| (w[0], w[1])).collect();
    let few = |v: &[i64]| v.iter().take(20).copied().collect::<Vec<_>>();
    panic!(
        "{} delivered for {} acknowledged: {} repeated {:?}, {} missing {:?}, {} never acknowledged {:?}, \
         {} out of order (before, after) {:?}",
        delivered.len(),
        acked.len(),
        repeated.len(),
        few(&repeated),
        missing.len(),
        few(&missing),
        unasked.len(),
        few(&unasked),
        out_of_order.len(),
        out_of_order.iter().take(20).collect::<Vec<_>>()
    );
}

/// An admin's move as made and answered.
#[derive(Debug, Clone)]
struct Move {
    from: String,
    to: String,
    sent: Instant,
    answered: Instant,
}

/// Who pushed: `first` until the first move; while a move is under way its old owner, then its
/// new one; once it is answered, only the new owner. At each move the old owner's last push was
/// answered before the move was (the batch under way is finished first) and before the new
/// owner's first push arrived (one owner at a time).
#[track_caller]
fn pushed_by_the_owner_only(pushes: &[Push], first: &str, moves: &[Move]) {
    let t0 = pushes.first().map_or_else(Instant::now, |p| p.arrived);
    let at = |t: Instant| format!("{:.3} s", t.saturating_duration_since(t0).as_secs_f64());
    for p in pushes {
        let begun = moves.iter().filter(|m| m.sent <= p.arrived).count();
        let allowed: Vec<&str> = match begun {
            0 => vec![first],
            k if p.arrived > moves[k - 1].answered => vec![moves[k - 1].to.as_str()],
            k => vec![moves[k - 1].from.as_str(), moves[k - 1].to.as_str()],
        };
        assert!(
            allowed.contains(&p.node.as_str()),
            "{} pushed {:?} at {} (status {}), when only {allowed:?} may; moves (sent, answered): {:?}",
            p.node,
            p.seqs,
            at(p.arrived),
            p.status,
            moves.iter().map(|m| (&m.from, &m.to, at(m.sent), at(m.answered))).collect::<Vec<_>>()
        );
    }
    for (k, m) in moves.iter().enumerate() {
        let last_old = pushes.iter().rfind(|p| p.node == m.from && p.arrived <= m.answered);
        let first_new = pushes.iter().find(|p| p.node == m.to && p.arrived >= m.sent);
        let Some(old) = last_old else { continue };
        let done = old.answered.unwrap_or_else(|| panic!("move {k}: the old owner's last push unanswered"));
        assert!(
            done <= m.answered,
            "move {k} ({} → {}) was answered at {} before the batch under way {:?} was, at {}",
            m.from,
            m.to,
            at(m.answered),
            old.seqs,
            at(done)
        );
        if let Some(new) = first_new {
            assert!(
                new.arrived >= done,
                "move {k}: {} pushed {:?} at {} while {}'s batch {:?} was still being answered (until {})",
                m.to,
                new.seqs,
                at(new.arrived),
                m.from,
                old.seqs,
                at(done)
            );
        }
    }
}

/// Waits until every acknowledged message was delivered, then checks who pushed
/// ([`pushed_by_the_owner_only`]) and what was delivered ([`assert_delivered_exactly`]);
/// answers the pushes.
#[track_caller]
fn delivered_by_the_owners(target: &Target, acked: &[i64], first: &str, moves: &[Move]) -> Vec<Push> {
    target.wait_for(acked, 60);
    let pushes = target.pushes();
    pushed_by_the_owner_only(&pushes, first, moves);
    assert_delivered_exactly(&target.delivered(), acked);
    pushes
}

/// `TestCluster` names its nodes n1, n2, … in order.
fn name(i: usize) -> String {
    format!("n{}", i + 1)
}

fn index(name: &str) -> usize {
    name.trim_start_matches('n').parse::<usize>().expect("a node name") - 1
}

fn urls(cluster: &TestCluster) -> Vec<String> {
    cluster.nodes.iter().map(|n| n.url.clone()).collect()
}

/// Three live nodes, one of them leading, as every node sees it.
fn three_nodes() -> Option<TestCluster> {
    let cluster = TestCluster::start(3)?;
    eventually("three live nodes, one of them leading", 15, || {
        (0..3).all(|i| {
            let members = cluster.members(i);
            members.len() == 3
                && members.iter().all(|m| m["state"] == "up")
                && members.iter().filter(|m| m["leader"] == true).count() == 1
        })
    });
    Some(cluster)
}

/// A push subscription and the password of the endpoint that publishes to its topic.
struct Subscribed {
    key: String,
    /// The node that delivers it when created.
    owner: String,
    password: String,
}

/// On `topic` (GD, or in-RAM when `gd` is false; deep enough for anything a test publishes):
/// a `publisher` endpoint, and endpoint `sub` subscribed with pushes to `target` in batches of
/// `batch`, a refused push tried again after 0.2 s. Made through node `via`.
fn push_subscription(
    cluster: &TestCluster,
    via: usize,
    topic: &str,
    gd: bool,
    batch: i64,
    target: &Target,
) -> Subscribed {
    let admin = cluster.admin(via);
    let (status, body) = admin.post(
        "/admin/v1/topics",
        &json!({"name": topic, "has_gd": gd, "max_depth_gd": 1_000_000, "max_depth_non_gd": 1_000_000}),
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
                "delivery_batch_size": batch, "wait_non_sock_err": 0.2, "push": {"url": target.url()}}),
    );
    assert_eq!(status, 201, "{sub}");
    let key = sub["sub_key"].as_str().unwrap().to_owned();
    let owner = sub["node"].as_str().expect("an owner named at creation").to_owned();
    assert_eq!(cluster.owners(via).get(&key), Some(&owner), "the owner runs it once created");
    Subscribed { key, owner, password: publisher["password"].as_str().unwrap().to_owned() }
}

/// Moves `key` from `from` to `to` through node `via`. The answer names the target, and by then
/// the target runs the subscription: the cluster's delivery actors list it once, there.
fn move_subscription(cluster: &TestCluster, via: usize, key: &str, from: &str, to: &str) -> Move {
    let sent = Instant::now();
    let answer =
        cluster.admin(via).post(&format!("/admin/v1/actors/delivery:{key}/move"), &json!({"node": to}));
    let answered = Instant::now();
    assert_eq!(answer, (200, json!({"id": format!("delivery:{key}"), "sub_key": key, "node": to})));
    for i in 0..cluster.nodes.len() {
        let running: Vec<String> = cluster
            .delivery_actors(i)
            .iter()
            .filter(|a| a["sub_key"] == key)
            .map(|a| a["node"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(running, vec![to.to_owned()], "delivery actors of {key} as {} lists them", name(i));
    }
    // The node that took the request routes to the new owner before answering; the others
    // follow within a heartbeat.
    let (status, sub) = cluster.admin(via).get(&format!("/admin/v1/subscriptions/{key}"));
    assert_eq!((status, sub["node"].as_str()), (200, Some(to)), "{sub}");
    eventually("every node naming the new owner", 10, || {
        (0..cluster.nodes.len())
            .all(|i| cluster.admin(i).get(&format!("/admin/v1/subscriptions/{key}")).1["node"] == to)
    });
    Move { from: from.to_owned(), to: to.to_owned(), sent, answered }
}

/// Publishes the messages numbered `seqs` to `topic` as `publisher`, `per_request` in each
/// `data_list`, round robin over the nodes; each request answered 200 with an id per message.
fn publish_lists(
    cluster: &TestCluster,
    password: &str,
    topic: &str,
    seqs: std::ops::Range<usize>,
    per_request: usize,
) {
    let all: Vec<usize> = seqs.collect();
    for (n, chunk) in all.chunks(per_request).enumerate() {
        let items: Vec<Value> = chunk.iter().map(|s| seq_message(*s)).collect();
        let node = n % cluster.nodes.len();
        let (status, body) = cluster
            .node(node)
            .http()
            .basic("publisher", password)
            .post(&format!("/zato/pubsub/topic/{topic}"), &json!({"data_list": items}));
        assert_eq!(status, 200, "publishing {:?} on {}: {body}", chunk.first(), name(node));
        assert_eq!(body["msg_id_list"].as_array().map(Vec::len), Some(chunk.len()), "{body}");
    }
}

/// A delivery actor's row (node, state, depths, counters), as node `i` reads it.
fn actor_row(cluster: &TestCluster, i: usize, key: &str) -> Value {
    let (status, row) = cluster.admin(i).get(&format!("/admin/v1/actors/delivery:{key}"));
    assert_eq!(status, 200, "{row}");
    row
}

#[test]
fn a_move_during_a_slow_push_is_answered_after_that_batch_and_loses_repeats_and_reorders_nothing() {
    let Some(cluster) = three_nodes() else { return };
    const SLOW: Duration = Duration::from_millis(1500);
    let target = Target::start(Answer { status: 200, delay: SLOW });
    let sub = push_subscription(&cluster, 0, "/h/slow", true, 50, &target);
    let from = sub.owner.clone();
    let to = name((index(&from) + 1) % 3);
    // Through the node that neither delivers it nor will.
    let via = (index(&from) + 2) % 3;
    let load =
        PublishLoad::paced(urls(&cluster), "publisher", &sub.password, "/h/slow", Duration::from_millis(40));

    // A batch that has just begun to be answered, after one that was: the move reaches the
    // owner while that batch is under way.
    let mut under_way = None;
    eventually("a push under way from the owner, just begun", 30, || {
        let pushes = target.pushes();
        under_way = pushes
            .iter()
            .find(|p| p.answered.is_none() && p.node == from && p.arrived.elapsed() < SLOW / 5)
            .cloned();
        under_way.is_some() && pushes.iter().any(|p| p.answered.is_some())
    });
    let under_way = under_way.unwrap();
    let moved = move_subscription(&cluster, via, &sub.key, &from, &to);
    let done = target
        .pushes()
        .iter()
        .find(|p| p.arrived == under_way.arrived)
        .and_then(|p| p.answered)
        .expect("the batch under way answered");
    assert!(
        done <= moved.answered,
        "the move was answered {:?} before the batch under way ({} messages)",
        done - moved.answered,
        under_way.seqs.len()
    );
    assert!(moved.answered - under_way.arrived >= SLOW, "answered before the slow batch could be");

    // Publishing goes on through every node; the new owner delivers.
    let before = load.acked_so_far();
    eventually("publications after the move", 20, || load.acked_so_far() >= before + 50);
    eventually("the new owner pushing", 20, || {
        target.pushes().iter().filter(|p| p.node == to && p.answered.is_some()).count() >= 2
    });
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    let pushes = delivered_by_the_owners(&target, &acked, &from, std::slice::from_ref(&moved));
    println!(
        "slow push: {} acknowledged in {} pushes, move answered {:.2} s after it was sent (batch under way \
         of {} answered {:.2} s after it)",
        acked.len(),
        pushes.len(),
        (moved.answered - moved.sent).as_secs_f64(),
        under_way.seqs.len(),
        (done - moved.sent).as_secs_f64()
    );
}

#[test]
fn a_move_with_a_backlog_of_three_thousand_gd_messages_delivers_each_once_in_order_from_the_new_owner() {
    let Some(cluster) = three_nodes() else { return };
    const BACKLOG: usize = 3000;
    const AFTER: usize = 300;
    // The target refuses everything: the owner keeps trying, and the backlog stays.
    let target = Target::start(REFUSE);
    let sub = push_subscription(&cluster, 0, "/h/backlog", true, 100, &target);
    let from = sub.owner.clone();
    let to = name((index(&from) + 1) % 3);
    let via = (index(&from) + 2) % 3;
    publish_lists(&cluster, &sub.password, "/h/backlog", 0..BACKLOG, 100);
    eventually("the whole backlog counted", 20, || {
        actor_row(&cluster, via, &sub.key)["queue_depth_gd"] == BACKLOG
    });
    eventually("the owner trying", 20, || target.pushes().iter().any(|p| p.node == from));

    let moved = move_subscription(&cluster, via, &sub.key, &from, &to);
    let row = actor_row(&cluster, index(&to), &sub.key);
    assert_eq!(
        (&row["node"], &row["queue_depth_gd"], &row["delivered"]),
        (&json!(to), &json!(BACKLOG), &json!(0)),
        "the new owner starts from the whole backlog: {row}"
    );
    // More, through every node, behind the backlog; the new owner tries, and is let through.
    publish_lists(&cluster, &sub.password, "/h/backlog", BACKLOG..BACKLOG + AFTER, 100);
    eventually("the new owner trying", 20, || {
        target.pushes().iter().any(|p| p.node == to && p.arrived > moved.answered)
    });
    target.answer(ACCEPT);

    let acked: Vec<i64> = (0..(BACKLOG + AFTER) as i64).collect();
    let pushes = delivered_by_the_owners(&target, &acked, &from, std::slice::from_ref(&moved));
    let accepted_from: HashSet<&str> =
        pushes.iter().filter(|p| p.status == 200).map(|p| p.node.as_str()).collect();
    assert_eq!(accepted_from, HashSet::from([to.as_str()]), "accepted pushes by node");
    println!(
        "backlog: {} delivered in {} accepted pushes after {} refused ({} by the old owner), move answered \
         in {:.2} s",
        acked.len(),
        pushes.iter().filter(|p| p.status == 200).count(),
        pushes.iter().filter(|p| p.status != 200).count(),
        pushes.iter().filter(|p| p.node == from).count(),
        (moved.answered - moved.sent).as_secs_f64()
    );
}

/// The rule for in-RAM topics (README, "Handover"): a message published through another node
/// during the move itself reaches the old owner after it let go, so it is kept as GD for the
/// subscription and may come after later ones; every other message keeps its order, and none is
/// lost or repeated.
#[test]
fn a_move_of_an_in_ram_subscription_keeps_its_queue_as_gd_and_delivers_each_message_once_in_order() {
    let Some(cluster) = three_nodes() else { return };
    let target = Target::start(REFUSE);
    let sub = push_subscription(&cluster, 0, "/h/ram", false, 50, &target);
    let from = sub.owner.clone();
    let to = name((index(&from) + 1) % 3);
    let via = (index(&from) + 2) % 3;
    let load =
        PublishLoad::paced(urls(&cluster), "publisher", &sub.password, "/h/ram", Duration::from_millis(10));

    // In-RAM messages published through every node wait in the owner's RAM while the target
    // refuses them.
    eventually("in-RAM messages queued on the owner", 30, || {
        load.acked_so_far() >= 200
            && actor_row(&cluster, via, &sub.key)["queue_depth_ram"].as_u64() >= Some(150)
    });
    let in_ram = actor_row(&cluster, via, &sub.key)["queue_depth_ram"].as_u64().unwrap();
    let acked_before = load.acked_so_far();
    let moved = move_subscription(&cluster, via, &sub.key, &from, &to);

    // The old owner kept its queue as GD rows for this subscription: the new owner has every
    // message acknowledged before the move (nothing was delivered yet) in SQL.
    let drained = format!("event=delivery_drained sub_key={} ram_kept_as_gd=", sub.key);
    let log = cluster.node(index(&from)).log();
    let kept: u64 = log
        .lines()
        .find_map(|l| l.split_once(&drained).map(|(_, n)| n.trim().parse().expect("a count")))
        .unwrap_or_else(|| panic!("{from} logged no `{drained}`"));
    assert!(kept >= in_ram, "{kept} kept as GD, {in_ram} were in RAM before the move");
    let row = actor_row(&cluster, index(&to), &sub.key);
    assert_eq!((&row["node"], &row["delivered"]), (&json!(to), &json!(0)), "{row}");
    assert!(
        row["queue_depth_gd"].as_u64().is_some_and(|n| n as usize >= acked_before),
        "{acked_before} acknowledged before the move, GD rows on the new owner: {row}"
    );

    target.answer(ACCEPT);
    let before = load.acked_so_far();
    eventually("publications after the move", 20, || load.acked_so_far() >= before + 100);
    eventually("the new owner pushing", 20, || {
        target.pushes().iter().any(|p| p.node == to && p.status == 200 && p.answered.is_some())
    });
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    target.wait_for(&acked, 60);
    let pushes = target.pushes();
    pushed_by_the_owner_only(&pushes, &from, std::slice::from_ref(&moved));
    let kept_in_the_move: f64 = (0..3)
        .map(|i| {
            metric(cluster.node(i), "signalbox_cluster_forwarded_total{outcome=\"kept_as_gd\"}")
                .unwrap_or(0.0)
        })
        .sum();
    let late = assert_delivered_once_in_order_but_late(&target.delivered(), &acked);
    assert!(
        late.len() as f64 <= kept_in_the_move,
        "{} messages came after later ones {late:?}, but only {kept_in_the_move} were kept as GD during the move",
        late.len()
    );
    println!(
        "in-RAM move: {} acknowledged ({acked_before} before the move, {in_ram} in RAM, {kept} kept as GD \
         by the old owner, {kept_in_the_move} by the others during the move, {} of them late) in {} pushes, \
         move answered in {:.2} s",
        acked.len(),
        late.len(),
        pushes.len(),
        (moved.answered - moved.sent).as_secs_f64()
    );
}

/// What the target accepted is each acknowledged publication once and nothing else, in
/// publication order except for the messages answered here (each delivered after a message
/// published later than it).
#[track_caller]
fn assert_delivered_once_in_order_but_late(delivered: &[i64], acked: &[i64]) -> Vec<i64> {
    let mut sorted = delivered.to_vec();
    sorted.sort_unstable();
    let mut wanted = acked.to_vec();
    wanted.sort_unstable();
    if sorted != wanted {
        assert_delivered_exactly(delivered, acked);
    }
    // Late: delivered after something published after it (the others are, by this, in order).
    let mut late = Vec::new();
    let mut highest = i64::MIN;
    for &s in delivered {
        if s < highest {
            late.push(s);
        }
        highest = highest.max(s);
    }
    late
}

#[test]
fn five_moves_back_and_forth_across_three_nodes_under_steady_load_lose_repeat_and_reorder_nothing() {
    let Some(cluster) = three_nodes() else { return };
    // A short answer time, so a batch is often under way when a move comes.
    let target = Target::start(Answer { status: 200, delay: Duration::from_millis(30) });
    let sub = push_subscription(&cluster, 0, "/h/moves", true, 20, &target);
    let load =
        PublishLoad::paced(urls(&cluster), "publisher", &sub.password, "/h/moves", Duration::from_millis(10));
    eventually("the owner pushing", 20, || {
        target.pushes().iter().filter(|p| p.node == sub.owner && p.answered.is_some()).count() >= 3
    });
    let mut owner = sub.owner.clone();
    let mut moves = Vec::new();
    for k in 0..5 {
        let next = name((index(&owner) + 1 + k % 2) % 3);
        // Through the old owner, the new one and the third node in turn.
        let moved = move_subscription(&cluster, k % 3, &sub.key, &owner, &next);
        let before = load.acked_so_far();
        eventually(&format!("{next} delivering after move {k}, and 40 more publications"), 20, || {
            load.acked_so_far() >= before + 40
                && target
                    .pushes()
                    .iter()
                    .any(|p| p.node == next && p.arrived > moved.answered && p.answered.is_some())
        });
        moves.push(moved);
        owner = next;
    }
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    let pushes = delivered_by_the_owners(&target, &acked, &sub.owner, &moves);
    println!(
        "five moves: {} acknowledged in {} pushes, moves answered in {:?} ms",
        acked.len(),
        pushes.len(),
        moves.iter().map(|m| (m.answered - m.sent).as_millis()).collect::<Vec<_>>()
    );
}

/// The two nodes that do not deliver `owner`'s subscriptions.
fn others(owner: &str) -> [usize; 2] {
    let o = index(owner);
    [(o + 1) % 3, (o + 2) % 3]
}

#[test]
fn twenty_batch_size_edits_through_other_nodes_are_each_in_force_once_answered_while_messages_flow() {
    let Some(cluster) = three_nodes() else { return };
    let target = Target::start(Answer { status: 200, delay: Duration::from_millis(150) });
    let sub = push_subscription(&cluster, 0, "/cfg/batch", true, 40, &target);
    let load = PublishLoad::paced(
        urls(&cluster),
        "publisher",
        &sub.password,
        "/cfg/batch",
        Duration::from_millis(5),
    );
    eventually("the owner pushing", 20, || target.pushes().iter().any(|p| p.answered.is_some()));
    let path = format!("/admin/v1/subscriptions/{}", sub.key);
    for k in 0..20 {
        let size: usize = if k % 2 == 0 { 5 } else { 40 };
        let via = others(&sub.owner)[k % 2];
        let (status, body) = cluster.admin(via).patch(&path, &json!({"delivery_batch_size": size}));
        let answered = Instant::now();
        assert_eq!((status, &body["delivery_batch_size"]), (200, &json!(size)), "edit {k}: {body}");
        for i in 0..3 {
            let (status, read) = cluster.admin(i).get(&path);
            assert_eq!(
                (status, &read["delivery_batch_size"], &read["node"]),
                (200, &json!(size), &json!(sub.owner)),
                "edit {k} read on {}",
                name(i)
            );
        }
        // In force at the owner: every batch it began after the answer — all but the one that
        // may have been under way — has at most `size` messages, and with 40 some have more
        // than 5.
        let after =
            || -> Vec<Push> { target.pushes().into_iter().filter(|p| p.arrived > answered).collect() };
        eventually(&format!("pushes after edit {k}"), 20, || {
            let after = after();
            after.len() >= 3 && (size == 5 || after[1..].iter().any(|p| p.seqs.len() > 5))
        });
        let sizes: Vec<usize> = after().iter().map(|p| p.seqs.len()).collect();
        assert!(sizes[1..].iter().all(|n| *n <= size), "batches after edit {k} to {size}: {sizes:?}");
    }
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    delivered_by_the_owners(&target, &acked, &sub.owner, &[]);
    println!("batch size edits: {} acknowledged, {} pushes", acked.len(), target.pushes().len());
}

#[test]
fn twenty_pauses_and_resumes_through_other_nodes_are_each_in_force_once_answered_while_messages_flow() {
    let Some(cluster) = three_nodes() else { return };
    let target = Target::start(Answer { status: 200, delay: Duration::from_millis(100) });
    let sub = push_subscription(&cluster, 0, "/cfg/pause", true, 10, &target);
    let load = PublishLoad::paced(
        urls(&cluster),
        "publisher",
        &sub.password,
        "/cfg/pause",
        Duration::from_millis(10),
    );
    eventually("the owner pushing", 20, || target.pushes().iter().any(|p| p.answered.is_some()));
    let actor = format!("delivery:{}", sub.key);
    for k in 0..20 {
        let pause = k % 2 == 0;
        let (command, state) = if pause { ("pause", "paused") } else { ("resume", "running") };
        // Each command through one of the two other nodes, in turn.
        let via = others(&sub.owner)[(k / 2 + k) % 2];
        let (status, row) =
            cluster.admin(via).post(&format!("/admin/v1/actors/{actor}/{command}"), &json!({}));
        let answered = Instant::now();
        assert_eq!(
            (status, &row["id"], &row["node"], &row["state"]),
            (200, &json!(actor), &json!(sub.owner), &json!(state)),
            "{command} {k}: {row}"
        );
        for i in 0..3 {
            let row = actor_row(&cluster, i, &sub.key);
            assert_eq!(
                (&row["node"], &row["state"]),
                (&json!(sub.owner), &json!(state)),
                "{command} {k} on {}",
                name(i)
            );
        }
        let after =
            || -> Vec<Push> { target.pushes().into_iter().filter(|p| p.arrived > answered).collect() };
        if pause {
            // Publications queue up meanwhile; nothing is pushed but the batch that may have
            // been under way.
            let depth = actor_row(&cluster, via, &sub.key)["queue_depth_gd"].as_u64().unwrap();
            eventually("publications queueing while paused", 20, || {
                actor_row(&cluster, via, &sub.key)["queue_depth_gd"].as_u64().unwrap() >= depth + 10
            });
            let late: Vec<Vec<i64>> = after().into_iter().map(|p| p.seqs).collect();
            assert!(late.len() <= 1, "pushed while paused ({command} {k}): {late:?}");
        } else {
            eventually(&format!("a push after resume {k}"), 20, || {
                after().iter().any(|p| p.answered.is_some())
            });
        }
    }
    let (acked, statuses) = load.stop();
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{statuses:?}");
    delivered_by_the_owners(&target, &acked, &sub.owner, &[]);
    println!("pauses and resumes: {} acknowledged, {} pushes", acked.len(), target.pushes().len());
}

#[test]
fn twenty_max_depth_edits_through_alternating_nodes_are_each_in_force_on_every_node_once_answered() {
    let Some(cluster) = three_nodes() else { return };
    const TOPIC: &str = "/cfg/depth";
    const HELD: usize = 30;
    let target = Target::start(ACCEPT);
    let sub = push_subscription(&cluster, 0, TOPIC, true, 20, &target);
    // A pull subscription nobody pulls until the end holds the topic's GD depth.
    let (status, holder) = cluster.admin(1).post(
        "/admin/v1/endpoints",
        &json!({"name": "holder", "role": "sub-only", "topic_patterns": [format!("sub={TOPIC}")]}),
    );
    assert_eq!(status, 201, "{holder}");
    let (status, held) =
        cluster.admin(2).post("/admin/v1/subscriptions", &json!({"topic_name": TOPIC, "endpoint": "holder"}));
    assert_eq!(status, 201, "{held}");
    let (status, topics) = cluster.admin(0).get(&format!("/admin/v1/topics?name={TOPIC}"));
    assert_eq!(status, 200, "{topics}");
    let topic = format!("/admin/v1/topics/{}", topics[0]["id"]);
    let publish = |seq: usize, node: usize| {
        cluster
            .node(node)
            .http()
            .basic("publisher", &sub.password)
            .post(&format!("/zato/pubsub/topic/{TOPIC}"), &seq_message(seq))
    };

    let mut acked: Vec<i64> = Vec::new();
    let mut seq = 0;
    while seq < HELD {
        let answer = publish(seq, seq % 3);
        assert_eq!(answer.0, 200, "{answer:?}");
        acked.push(seq as i64);
        seq += 1;
    }
    eventually("every node counting the held depth", 15, || {
        (0..3).all(|i| cluster.admin(i).get(&topic).1["depth_gd"].as_u64() >= Some(HELD as u64))
    });
    // Limits below the held depth refuse, naming the limit in force; a high one lets through.
    let limits = [10, 1_000_000, 20, 1_000_000];
    for k in 0..20 {
        let limit = limits[k % limits.len()];
        let via = k % 3;
        let (status, body) = cluster.admin(via).patch(&topic, &json!({"max_depth_gd": limit}));
        assert_eq!((status, &body["max_depth_gd"]), (200, &json!(limit)), "edit {k}: {body}");
        for i in 0..3 {
            let (status, read) = cluster.admin(i).get(&topic);
            assert_eq!((status, &read["max_depth_gd"]), (200, &json!(limit)), "edit {k} read on {}", name(i));
        }
        for i in 0..3 {
            let answer = publish(seq, i);
            if limit == 1_000_000 {
                assert_eq!(answer.0, 200, "edit {k} ({limit}), published on {}: {answer:?}", name(i));
                acked.push(seq as i64);
            } else {
                assert_refused(&answer, 503, &format!("topic `{TOPIC}` is at its GD depth limit of {limit}"));
            }
            seq += 1;
        }
    }
    delivered_by_the_owners(&target, &acked, &sub.owner, &[]);
    // The holder's queue has exactly the same, in order.
    let holder = |i: usize| cluster.node(i).http().basic("holder", holder["password"].as_str().unwrap());
    let mut pulled: Vec<i64> = Vec::new();
    let mut turn = 0;
    eventually("every accepted message pulled by the holder", 20, || {
        let (status, batch) =
            holder(turn % 3).call("PATCH", &format!("/zato/pubsub/topic/{TOPIC}?max=50"), None);
        assert_eq!(status, 200, "{batch}");
        turn += 1;
        pulled.extend(batch.as_array().unwrap().iter().filter_map(|m| m["data"]["seq"].as_i64()));
        pulled.len() >= acked.len()
    });
    assert_delivered_exactly(&pulled, &acked);
}

#[test]
fn topic_edits_racing_subscription_creations_on_two_nodes_leave_each_subscription_once_listed_everywhere() {
    let Some(cluster) = three_nodes() else { return };
    const TOPIC: &str = "/race";
    const ROUNDS: usize = 20;
    let (status, topic) = cluster.admin(2).post("/admin/v1/topics", &json!({"name": TOPIC, "has_gd": true}));
    assert_eq!(status, 201, "{topic}");
    let topic_path = format!("/admin/v1/topics/{}", topic["id"]);
    let (status, publisher) = cluster.admin(2).post(
        "/admin/v1/endpoints",
        &json!({"name": "publisher", "role": "pub-only", "topic_patterns": [format!("pub={TOPIC}")]}),
    );
    assert_eq!(status, 201, "{publisher}");
    let passwords: Vec<String> = (0..ROUNDS)
        .map(|k| {
            let (status, e) = cluster.admin(2).post(
                "/admin/v1/endpoints",
                &json!({"name": format!("r{k}"), "role": "sub-only", "topic_patterns": [format!("sub={TOPIC}")]}),
            );
            assert_eq!(status, 201, "{e}");
            e["password"].as_str().unwrap().to_owned()
        })
        .collect();

    // Each round, a topic edit on n1 and a subscription's creation on n2 at the same moment.
    let barrier = std::sync::Barrier::new(2);
    let (edits, creations) = std::thread::scope(|s| {
        let (editor, creator) = (cluster.admin(0), cluster.admin(1));
        let barrier = &barrier;
        let topic_path = &topic_path;
        let edits = s.spawn(move || {
            (0..ROUNDS)
                .map(|k| {
                    barrier.wait();
                    editor.patch(topic_path, &json!({"max_depth_gd": 1000 + k}))
                })
                .collect::<Vec<_>>()
        });
        let creations = s.spawn(move || {
            (0..ROUNDS)
                .map(|k| {
                    barrier.wait();
                    creator.post(
                        "/admin/v1/subscriptions",
                        &json!({"topic_name": TOPIC, "endpoint": format!("r{k}")}),
                    )
                })
                .collect::<Vec<_>>()
        });
        (edits.join().unwrap(), creations.join().unwrap())
    });
    for (k, (status, body)) in edits.iter().enumerate() {
        assert_eq!((*status, &body["max_depth_gd"]), (200, &json!(1000 + k)), "edit {k}: {body}");
    }
    let mut keys: Vec<String> = creations
        .iter()
        .enumerate()
        .map(|(k, (status, body))| {
            assert_eq!((*status, &body["endpoint"]), (201, &json!(format!("r{k}"))), "creation {k}: {body}");
            body["sub_key"].as_str().unwrap().to_owned()
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), ROUNDS, "a sub_key per creation");

    // Every node lists each subscription once, and has the last edit in force.
    let last = 1000 + ROUNDS - 1;
    for i in 0..3 {
        let (status, list) = cluster.admin(i).get(&format!("/admin/v1/subscriptions?topic_name={TOPIC}"));
        assert_eq!(status, 200, "{list}");
        let mut listed: Vec<String> =
            list.as_array().unwrap().iter().map(|s| s["sub_key"].as_str().unwrap().to_owned()).collect();
        listed.sort();
        assert_eq!(listed, keys, "subscriptions as {} lists them", name(i));
        let (status, read) = cluster.admin(i).get(&topic_path);
        assert_eq!((status, &read["max_depth_gd"]), (200, &json!(last)), "topic on {}", name(i));
    }
    // Each runs exactly once in the cluster.
    eventually("one delivery actor per subscription", 15, || {
        (0..3).all(|i| {
            let actors = cluster.delivery_actors(i);
            keys.iter().all(|key| actors.iter().filter(|a| a["sub_key"] == key.as_str()).count() == 1)
        })
    });
    // A publication on every node reaches every subscription once, in order, pulled anywhere.
    for seq in 0..3 {
        let (status, body) = cluster
            .node(seq)
            .http()
            .basic("publisher", publisher["password"].as_str().unwrap())
            .post(&format!("/zato/pubsub/topic/{TOPIC}"), &seq_message(seq));
        assert_eq!(status, 200, "{body}");
    }
    for (k, password) in passwords.iter().enumerate() {
        let client = cluster.node(k % 3).http().basic(&format!("r{k}"), password);
        let path = format!("/zato/pubsub/topic/{TOPIC}");
        let mut got: Vec<i64> = Vec::new();
        eventually(&format!("r{k} pulling the three"), 15, || {
            let (status, batch) = client.call("PATCH", &path, None);
            assert_eq!(status, 200, "{batch}");
            got.extend(batch.as_array().unwrap().iter().filter_map(|m| m["data"]["seq"].as_i64()));
            got.len() >= 3
        });
        assert_eq!(got, vec![0, 1, 2], "pulled by r{k}");
        assert_eq!(client.call("PATCH", &path, None), (200, json!([])), "r{k}: more than once");
    }
}
