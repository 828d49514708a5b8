//! Unit tests of the delivery `Window`: one test per rule, then a property test that drives it
//! with generated sequences (publish, pop, refill from a model of SQL, lease expiry, ack,
//! admin edit/remove/clear, hand-over of in-RAM messages) and checks it against a plain model
//! of the whole queue: what it hands over is always the head of the queue, and it never
//! claims to know SQL further than it does.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use super::{Backlog, Window};
use crate::message::{Message, OrderKey, QueueEntry};

fn message(id: &str, priority: i32, pub_time: i64, ext_pub_time: Option<i64>, gd: bool) -> Arc<Message> {
    Arc::new(Message {
        msg_id: id.to_owned(),
        topic_id: 1,
        topic_name: "/t".into(),
        published_by_id: None,
        correl_id: None,
        in_reply_to: None,
        ext_client_id: None,
        group_id: None,
        position_in_group: None,
        pub_pattern_matched: "pub=/t".into(),
        pub_time,
        ext_pub_time,
        expiration: 60,
        expiration_time: pub_time + 60_000_000,
        data: "1".into(),
        mime_type: "application/json".into(),
        size: 1,
        priority,
        user_ctx: None,
        has_gd: gd,
    })
}

fn entry(msg: &Arc<Message>) -> QueueEntry {
    QueueEntry { msg: msg.clone(), hold: None, delivery_count: 0, recv_time: 0 }
}

fn ram(id: &str, priority: i32, pub_time: i64) -> Arc<Message> {
    message(id, priority, pub_time, None, false)
}

fn gd(id: &str, priority: i32, pub_time: i64) -> Arc<Message> {
    message(id, priority, pub_time, None, true)
}

fn insert(w: &mut Window, msg: &Arc<Message>) {
    w.insert(msg.order_key(), entry(msg));
}

/// msg_ids in the window, in order.
fn held(w: &Window) -> Vec<String> {
    w.iter().map(|(_, e)| e.msg.msg_id.clone()).collect()
}

/// Pops until the window refuses; answers the msg_ids handed over.
fn drain(w: &mut Window) -> Vec<String> {
    std::iter::from_fn(|| w.pop_deliverable()).map(|(_, e)| e.msg.msg_id.clone()).collect()
}

fn gd_entries(w: &Window) -> usize {
    w.iter().filter(|(_, e)| e.msg.has_gd).count()
}

/// A window that has read an empty backlog: everything it is given, it may deliver.
fn in_window(gd_limit: usize) -> Window {
    let mut w = Window::new(gd_limit);
    w.replace_gd(Vec::new(), false);
    w
}

#[test]
fn messages_leave_by_priority_then_publisher_time_then_server_time_then_msg_id() {
    let mut w = in_window(10);
    // Inserted out of order on purpose.
    for msg in [
        ram("late-low", 1, 10),
        message("ext-early", 5, 50, Some(5), false),
        message("same-ext-b", 5, 40, Some(20), false),
        message("same-ext-a", 5, 30, Some(20), false),
        ram("tie-b", 5, 60),
        ram("tie-a", 5, 60),
        ram("high", 9, 100),
        ram("mid", 5, 25),
    ] {
        insert(&mut w, &msg);
    }
    assert_eq!(
        drain(&mut w),
        ["high", "ext-early", "same-ext-a", "same-ext-b", "mid", "tie-a", "tie-b", "late-low"]
    );
}

#[test]
fn a_new_window_delivers_nothing_until_the_backlog_has_been_read() {
    let mut w = Window::new(10);
    insert(&mut w, &ram("r", 5, 1));
    assert_eq!(w.backlog, Backlog::Unknown);
    assert!(w.needs_refill(1));
    assert!(w.pop_deliverable().is_none(), "SQL may hold something before it");
    w.replace_gd(Vec::new(), false);
    assert_eq!(drain(&mut w), ["r"]);
}

#[test]
fn gd_messages_are_left_to_sql_while_the_backlog_is_unknown() {
    let mut w = Window::new(10);
    insert(&mut w, &gd("g", 5, 1));
    assert!(held(&w).is_empty());
    assert_eq!(w.gd_count, 0);
    // Also after it was known once: `backlog_unknown` forgets.
    w.replace_gd(Vec::new(), false);
    w.backlog_unknown();
    insert(&mut w, &gd("g2", 5, 2));
    assert!(held(&w).is_empty());
    assert!(w.pop_deliverable().is_none());
}

#[test]
fn gd_messages_past_the_bound_are_left_to_sql_and_those_before_it_are_kept() {
    let mut w = Window::new(10);
    let (a, b) = (gd("a", 5, 10), gd("b", 5, 20));
    w.replace_gd(vec![entry(&a), entry(&b)], true);
    assert_eq!(w.backlog, Backlog::Upto(b.order_key()));
    insert(&mut w, &gd("after", 5, 30));
    insert(&mut w, &gd("before", 5, 15));
    insert(&mut w, &gd("urgent", 9, 40));
    assert_eq!(held(&w), ["urgent", "a", "before", "b"]);
    assert_eq!(w.gd_count, 4);
    // The same message inserted again (read from SQL, then enqueued) is counted once.
    insert(&mut w, &a);
    assert_eq!(w.gd_count, 4);
}

#[test]
fn every_gd_message_is_kept_while_the_whole_backlog_is_in_the_window() {
    let mut w = in_window(10);
    for (i, p) in [1, 9, 5].into_iter().enumerate() {
        insert(&mut w, &gd(&format!("g{p}"), p, i as i64));
    }
    assert_eq!(w.gd_count, 3);
    assert_eq!(w.backlog, Backlog::InWindow);
    assert_eq!(drain(&mut w), ["g9", "g5", "g1"]);
    assert_eq!(w.gd_count, 0);
}

#[test]
fn past_gd_limit_the_last_gd_message_goes_back_to_sql_and_the_bound_narrows_to_what_precedes_it() {
    let mut w = in_window(3);
    let (a, b, c) = (gd("a", 9, 1), gd("b", 7, 2), gd("c", 5, 3));
    let (r, late) = (ram("r", 6, 4), ram("late", 1, 5));
    for m in [&a, &b, &c, &r, &late] {
        insert(&mut w, m);
    }
    assert_eq!(w.backlog, Backlog::InWindow);
    insert(&mut w, &gd("d", 8, 6));
    // c (the last GD) is evicted; the entry before it is the in-RAM `r`: the bound.
    assert_eq!(held(&w), ["a", "d", "b", "r", "late"]);
    assert_eq!(w.gd_count, 3);
    assert_eq!(w.backlog, Backlog::Upto(r.order_key()));
    // A further GD message past the bound is not even taken in.
    insert(&mut w, &gd("e", 2, 7));
    assert_eq!(w.gd_count, 3);
    // One before the bound evicts again: the new last GD is `b`, so the bound narrows to `d`.
    insert(&mut w, &gd("f", 9, 8));
    assert_eq!(held(&w), ["a", "f", "d", "r", "late"]);
    assert_eq!(w.backlog, Backlog::Upto(gd("d", 8, 6).order_key()));
    // Never past the bound: `r` and `late` wait for SQL to be read.
    assert_eq!(drain(&mut w), ["a", "f", "d"]);
    assert!(w.needs_refill(1));
    assert_eq!(held(&w), ["r", "late"]);
}

#[test]
fn eviction_under_a_bound_keeps_the_narrower_of_the_two() {
    let mut w = Window::new(2);
    let (a, b) = (gd("a", 5, 10), gd("b", 5, 20));
    w.replace_gd(vec![entry(&a), entry(&b)], true);
    // A RAM message past the bound does not move it; then a GD one before `a` evicts `b`.
    insert(&mut w, &ram("r", 5, 30));
    insert(&mut w, &gd("first", 5, 5));
    assert_eq!(held(&w), ["first", "a", "r"]);
    // The entry before `b` is `a`, narrower than `b`.
    assert_eq!(w.backlog, Backlog::Upto(a.order_key()));
}

#[test]
fn pop_deliverable_refuses_what_lies_past_the_bound_until_the_backlog_is_read_again() {
    let mut w = Window::new(10);
    let g = gd("g", 5, 10);
    w.replace_gd(vec![entry(&g)], true);
    insert(&mut w, &ram("low", 1, 20));
    assert_eq!(w.pop_deliverable().map(|(k, _)| k), Some(g.order_key()));
    assert!(w.pop_deliverable().is_none(), "`low` lies past the bound: SQL may hold GD messages before it");
    assert_eq!(held(&w), ["low"]);
    // SQL read again and it has nothing more.
    w.replace_gd(Vec::new(), false);
    assert_eq!(drain(&mut w), ["low"]);
}

#[test]
fn needs_refill_counts_only_what_may_be_delivered() {
    let mut w = Window::new(10);
    assert!(w.needs_refill(1), "unknown backlog");
    let (a, b) = (gd("a", 5, 10), gd("b", 5, 20));
    w.replace_gd(vec![entry(&a), entry(&b)], true);
    insert(&mut w, &ram("before", 5, 15));
    insert(&mut w, &ram("after", 5, 30));
    assert!(!w.needs_refill(3), "a, before, b");
    assert!(w.needs_refill(4), "`after` lies past the bound");
    w.replace_gd(vec![entry(&a), entry(&b)], false);
    assert!(!w.needs_refill(100), "everything is here");
    w.clear();
    assert!(!w.needs_refill(1), "cleared: nothing anywhere");
}

#[test]
fn a_commit_not_yet_read_holds_back_everything_from_its_key_until_the_next_read() {
    let mut w = in_window(10);
    let (a, b, c) = (gd("a", 5, 10), gd("b", 5, 20), gd("c", 5, 40));
    for m in [&a, &b, &c] {
        insert(&mut w, m);
    }
    insert(&mut w, &ram("r", 5, 50));
    // Committed at 30 (between b and c), announced, not read yet.
    let unread = gd("unread", 5, 30);
    w.mark_unread(Some(&unread.order_key()));
    assert_eq!(w.backlog, Backlog::Unread(b.order_key()));
    assert!(w.unread());
    assert!(!w.needs_refill(50), "a and b may go out first, whatever the batch size");
    // Nothing after the bound comes in meanwhile, GD or not deliverable.
    insert(&mut w, &gd("later", 5, 35));
    assert_eq!(held(&w), ["a", "b", "c", "r"]);
    assert_eq!(drain(&mut w), ["a", "b"]);
    assert!(w.needs_refill(1), "nothing more may go out before a read");
    // The read sees it: everything is in order again.
    w.replace_gd(vec![entry(&unread), entry(&c)], false);
    assert!(!w.unread());
    assert_eq!(drain(&mut w), ["unread", "c", "r"]);
}

#[test]
fn a_commit_not_yet_read_that_comes_first_holds_back_the_whole_window() {
    let mut w = in_window(10);
    insert(&mut w, &gd("a", 5, 10));
    w.mark_unread(Some(&gd("urgent", 9, 20).order_key()));
    assert_eq!(w.backlog, Backlog::Unknown, "nothing precedes it: read before anything goes out");
    assert!(w.needs_refill(1));
    assert!(w.pop_deliverable().is_none());
}

#[test]
fn commits_made_elsewhere_leave_what_the_window_holds_deliverable_and_hold_back_the_rest() {
    let mut w = Window::new(10);
    let (a, b) = (gd("a", 5, 10), gd("b", 5, 20));
    w.replace_gd(vec![entry(&a), entry(&b)], true);
    insert(&mut w, &ram("r", 5, 15));
    w.mark_unread(None);
    assert_eq!(w.backlog, Backlog::Unread(b.order_key()), "Upto(b) narrowed to the last held, b");
    // What arrives after the wake and sorts after all that was held waits for the read.
    insert(&mut w, &ram("late", 5, 30));
    insert(&mut w, &gd("g", 5, 25));
    assert_eq!(held(&w), ["a", "r", "b", "late"]);
    assert_eq!(drain(&mut w), ["a", "r", "b"]);
    // A wake with nothing held: nothing is known to be deliverable.
    let mut empty = in_window(10);
    empty.mark_unread(None);
    assert_eq!(empty.backlog, Backlog::Unknown);
    // Unread stays unread, narrowing only, until a read; eviction narrows it like a bound.
    let mut w = in_window(2);
    let (x, y) = (gd("x", 5, 1), gd("y", 5, 2));
    insert(&mut w, &x);
    insert(&mut w, &y);
    w.mark_unread(None);
    w.mark_unread(None);
    assert_eq!(w.backlog, Backlog::Unread(y.order_key()));
    insert(&mut w, &gd("first", 9, 3));
    assert_eq!(held(&w), ["first", "x"]);
    assert_eq!(w.backlog, Backlog::Unread(x.order_key()));
}

#[test]
fn replace_gd_swaps_the_gd_part_and_keeps_the_in_ram_messages() {
    let mut w = in_window(10);
    insert(&mut w, &gd("old", 5, 1));
    insert(&mut w, &ram("r", 5, 2));
    let (x, y) = (gd("x", 5, 3), gd("y", 7, 4));
    w.replace_gd(vec![entry(&y), entry(&x)], true);
    assert_eq!(held(&w), ["y", "r", "x"]);
    assert_eq!(w.gd_count, 2);
    assert_eq!(w.backlog, Backlog::Upto(x.order_key()), "bounded at the last message read");
    w.replace_gd(vec![entry(&y)], false);
    assert_eq!(held(&w), ["y", "r"]);
    assert_eq!(w.gd_count, 1);
    assert_eq!(w.backlog, Backlog::InWindow, "SQL had no more than was read");
}

#[test]
fn take_ram_takes_every_in_ram_message_in_order_and_leaves_the_gd_ones() {
    let mut w = in_window(10);
    for m in [gd("g1", 5, 1), ram("r2", 5, 2), gd("g3", 5, 3), ram("r0", 9, 4)] {
        insert(&mut w, &m);
    }
    let taken: Vec<String> = w.take_ram().into_iter().map(|e| e.msg.msg_id.clone()).collect();
    assert_eq!(taken, ["r0", "r2"]);
    assert_eq!(held(&w), ["g1", "g3"]);
    assert_eq!(w.gd_count, 2);
    assert!(w.take_ram().is_empty());
}

#[test]
fn remove_finds_a_message_by_msg_id_and_keeps_the_gd_count() {
    let mut w = in_window(10);
    let (g, r) = (gd("g", 5, 1), ram("r", 5, 2));
    insert(&mut w, &g);
    insert(&mut w, &r);
    let (key, removed) = w.remove("g").expect("held");
    assert_eq!((key, removed.msg.msg_id.as_str()), (g.order_key(), "g"));
    assert_eq!(w.gd_count, 0);
    assert!(w.remove("g").is_none());
    assert!(w.remove("nobody").is_none());
    assert_eq!(w.remove("r").map(|(_, e)| e.msg.msg_id.clone()).as_deref(), Some("r"));
    assert!(held(&w).is_empty());
}

#[test]
fn an_edit_that_changes_priority_moves_the_message_to_its_new_place() {
    let mut w = in_window(10);
    let (a, b, c) = (gd("a", 5, 1), ram("b", 5, 2), gd("c", 5, 3));
    for m in [&a, &b, &c] {
        insert(&mut w, m);
    }
    let c9 = gd("c", 9, 3);
    assert!(w.replace(&c9));
    let b1 = ram("b", 1, 2);
    assert!(w.replace(&b1));
    assert_eq!(held(&w), ["c", "a", "b"]);
    assert_eq!(w.gd_count, 2);
    let (key, first) = w.pop_deliverable().expect("c");
    assert_eq!((key, first.msg.priority), (c9.order_key(), 9));
    assert!(!w.replace(&gd("nobody", 9, 1)), "not held: nothing to replace");
    assert_eq!(w.gd_count, 1);
}

#[test]
fn clear_empties_the_window_and_knows_sql_is_empty_too() {
    let mut w = Window::new(10);
    let g = gd("g", 5, 1);
    w.replace_gd(vec![entry(&g)], true);
    insert(&mut w, &ram("r", 5, 2));
    w.clear();
    assert!(held(&w).is_empty());
    assert_eq!(w.gd_count, 0);
    assert_eq!(w.backlog, Backlog::InWindow);
    assert!(!w.needs_refill(1));
    // Anything published after the clear is delivered without reading SQL.
    insert(&mut w, &gd("new", 5, 3));
    assert_eq!(drain(&mut w), ["new"]);
}

// ---- property: the window against a model of the whole queue ----------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// A new message; `ext_back`: the publisher gave a time this much before the server's.
    Publish { gd: bool, priority: i32, ext_back: Option<i64> },
    /// Hand over up to this many (what a pull or a push batch does).
    Pop(usize),
    /// Read the GD backlog from SQL, as the delivery actor does.
    Refill,
    /// A lease ran out: the message goes back in its place (index modulo those in flight).
    Expire(usize),
    /// A message in flight is acknowledged.
    Ack(usize),
    /// An admin deletes (or the janitor expires) a queued message.
    Remove(usize),
    /// An admin changes a queued message's priority.
    Edit(usize, i32),
    /// Hand-over to another node: the in-RAM messages leave.
    TakeRam,
    /// Something changed in SQL behind the window's back.
    Unknown,
    /// A GD message committed on a fenced store and announced by this node: the window is told
    /// where it sorts, not given it (a read must see the commits made before it elsewhere).
    CommitUnread { priority: i32 },
    /// A GD message committed elsewhere: the window is only told that something was.
    Wake { priority: i32 },
    /// An admin clears the queue.
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    // Few priorities, so that many messages tie on it and the times decide.
    let priority = prop_oneof![3 => Just(5), 1 => 1..=9i32];
    prop_oneof![
        8 => (any::<bool>(), priority.clone(), prop::option::weighted(0.3, 0..100i64))
            .prop_map(|(gd, priority, ext_back)| Op::Publish { gd, priority, ext_back }),
        4 => (1..=4usize).prop_map(Op::Pop),
        2 => Just(Op::Refill),
        1 => any::<usize>().prop_map(Op::Expire),
        1 => any::<usize>().prop_map(Op::Ack),
        1 => any::<usize>().prop_map(Op::Remove),
        1 => (any::<usize>(), priority.clone()).prop_map(|(i, p)| Op::Edit(i, p)),
        1 => Just(Op::Unknown),
        2 => priority.clone().prop_map(|priority| Op::CommitUnread { priority }),
        2 => priority.prop_map(|priority| Op::Wake { priority }),
        1 => prop_oneof![Just(Op::TakeRam), Just(Op::Clear)],
    ]
}

/// The whole queue as it truly is: every queued message (RAM and GD — the GD ones in "SQL"),
/// and those handed over and not yet acknowledged.
#[derive(Default)]
struct Model {
    queued: BTreeMap<String, Arc<Message>>,
    in_flight: BTreeMap<String, Arc<Message>>,
    /// Queued GD messages committed elsewhere that no read has seen yet: the window cannot know
    /// them, and the messages it knew before may go out ahead of them (order among what is known).
    unseen: std::collections::BTreeSet<String>,
    published: i64,
}

impl Model {
    /// The head of the queue among the messages the window can know of.
    fn head(&self) -> Option<OrderKey> {
        self.queued.values().filter(|m| !self.unseen.contains(&m.msg_id)).map(|m| m.order_key()).min()
    }

    /// What `Store::queue_load` answers: queued GD messages in order, in-flight ones skipped.
    fn sql(&self) -> Vec<Arc<Message>> {
        let mut gd: Vec<Arc<Message>> = self.queued.values().filter(|m| m.has_gd).cloned().collect();
        gd.sort_by_key(|m| m.order_key());
        gd
    }

    fn nth_queued(&self, i: usize) -> Option<Arc<Message>> {
        let n = self.queued.len();
        (n > 0).then(|| self.queued.values().nth(i % n).cloned()).flatten()
    }
}

type Check = Result<(), TestCaseError>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)+)));
        }
    };
}

fn copy(w: &Window) -> Window {
    Window {
        entries: w.entries.clone(),
        gd_count: w.gd_count,
        gd_limit: w.gd_limit,
        backlog: w.backlog.clone(),
    }
}

/// What must hold between any two operations.
fn check(w: &Window, model: &Model) -> Check {
    let gd = gd_entries(w);
    ensure!(w.gd_count == gd, "gd_count {} but {gd} GD entries", w.gd_count);
    ensure!(gd <= w.gd_limit, "{gd} GD entries past gd_limit {}", w.gd_limit);
    for (key, e) in w.iter() {
        let Some(truth) = model.queued.get(&e.msg.msg_id) else {
            return Err(TestCaseError::fail(format!("{} is in the window but not queued", e.msg.msg_id)));
        };
        ensure!(*key == truth.order_key(), "{} held under a stale key", e.msg.msg_id);
        ensure!(e.msg.has_gd == truth.has_gd, "{} changed kind", e.msg.msg_id);
    }
    let ids: std::collections::BTreeSet<&str> = w.iter().map(|(_, e)| e.msg.msg_id.as_str()).collect();
    for m in model.queued.values().filter(|m| !m.has_gd) {
        ensure!(ids.contains(m.msg_id.as_str()), "in-RAM {} lost from the window", m.msg_id);
    }
    // The window is complete as far as it says: no GD message in SQL that it claims to cover
    // is missing from it.
    for m in model.sql().iter().filter(|m| !model.unseen.contains(&m.msg_id)) {
        let covered = match &w.backlog {
            Backlog::Unknown => false,
            Backlog::InWindow => true,
            Backlog::Upto(bound) | Backlog::Unread(bound) => m.order_key() <= *bound,
        };
        ensure!(
            !covered || ids.contains(m.msg_id.as_str()),
            "{} is in SQL within {:?} but not in the window",
            m.msg_id,
            w.backlog
        );
    }
    // `needs_refill(want) == false` is a promise that `want` messages can be handed over now,
    // each the head of the queue — with commits unread, that one can (what is known goes out
    // while the read is due).
    for want in 1..=3 {
        if w.needs_refill(want) {
            continue;
        }
        let promised = if w.unread() { 1 } else { want };
        let mut probe = copy(w);
        let mut queued: Vec<OrderKey> = model
            .queued
            .values()
            .filter(|m| !model.unseen.contains(&m.msg_id))
            .map(|m| m.order_key())
            .collect();
        queued.sort();
        for (i, expected) in queued.iter().take(promised).enumerate() {
            let popped = probe.pop_deliverable().map(|(k, _)| k);
            ensure!(
                popped.as_ref() == Some(expected),
                "needs_refill({want}) = false but pop {i} gave {popped:?}"
            );
        }
    }
    Ok(())
}

fn apply(w: &mut Window, model: &mut Model, op: &Op) -> Check {
    match op {
        Op::Publish { gd, priority, ext_back } => {
            model.published += 1;
            let pub_time = model.published * 10;
            let id = format!("m{:03}", model.published);
            let msg = message(&id, *priority, pub_time, ext_back.map(|b| pub_time - b), *gd);
            model.queued.insert(id, msg.clone());
            insert(w, &msg);
        }
        Op::Pop(n) => {
            let mut last: Option<OrderKey> = None;
            for _ in 0..*n {
                let backlog = w.backlog.clone();
                let Some((key, e)) = w.pop_deliverable() else {
                    ensure!(
                        backlog != Backlog::InWindow || model.queued.is_empty(),
                        "nothing handed over though the window holds the whole queue"
                    );
                    break;
                };
                ensure!(key == e.msg.order_key(), "{} popped under a key not its own", e.msg.msg_id);
                ensure!(
                    Some(&key) == model.head().as_ref(),
                    "popped {} but the head is {:?}",
                    e.msg.msg_id,
                    model.head()
                );
                match &backlog {
                    Backlog::Unknown => {
                        return Err(TestCaseError::fail("delivered with the backlog unknown"))
                    }
                    Backlog::Upto(bound) | Backlog::Unread(bound) => {
                        ensure!(key <= *bound, "delivered {} past the bound", e.msg.msg_id)
                    }
                    Backlog::InWindow => {}
                }
                ensure!(last.as_ref().is_none_or(|l| *l < key), "pops not strictly increasing");
                last = Some(key);
                let msg = model.queued.remove(&e.msg.msg_id).expect("checked above");
                model.in_flight.insert(msg.msg_id.clone(), msg);
            }
        }
        Op::Refill => {
            let rows: Vec<QueueEntry> = model.sql().iter().take(w.gd_limit).map(entry).collect();
            // As the delivery actor decides: a full read means SQL may hold more.
            let full = rows.len() >= w.gd_limit;
            w.replace_gd(rows, full);
            model.unseen.clear();
            ensure!(
                model.queued.is_empty() || !w.needs_refill(1),
                "a fresh read still cannot deliver the head"
            );
        }
        Op::Expire(i) | Op::Ack(i) => {
            let n = model.in_flight.len();
            if n > 0 {
                let id = model.in_flight.keys().nth(i % n).cloned().expect("in range");
                let msg = model.in_flight.remove(&id).expect("present");
                if matches!(op, Op::Expire(_)) {
                    model.queued.insert(id, msg.clone());
                    insert(w, &msg);
                }
            }
        }
        Op::Remove(i) => {
            if let Some(msg) = model.nth_queued(*i) {
                model.queued.remove(&msg.msg_id);
                model.unseen.remove(&msg.msg_id);
                let found = w.remove(&msg.msg_id).is_some();
                ensure!(found || msg.has_gd, "in-RAM {} was not in the window", msg.msg_id);
            }
        }
        Op::Edit(i, priority) => {
            if let Some(msg) = model.nth_queued(*i) {
                let edited = Arc::new(Message { priority: *priority, ..(*msg).clone() });
                model.queued.insert(msg.msg_id.clone(), edited.clone());
                // The contract for callers: a GD message not held here moved in SQL, perhaps
                // before the bound, so what SQL holds is no longer known.
                if !w.replace(&edited) {
                    ensure!(msg.has_gd, "in-RAM {} was not in the window", msg.msg_id);
                    w.backlog_unknown();
                }
            }
        }
        Op::TakeRam => {
            let mut taken: Vec<String> = w.take_ram().into_iter().map(|e| e.msg.msg_id.clone()).collect();
            let mut expected: Vec<String> =
                model.queued.values().filter(|m| !m.has_gd).map(|m| m.msg_id.clone()).collect();
            taken.sort();
            expected.sort();
            ensure!(taken == expected, "take_ram gave {taken:?}, expected {expected:?}");
            model.queued.retain(|_, m| m.has_gd);
        }
        Op::Unknown => w.backlog_unknown(),
        Op::CommitUnread { priority } | Op::Wake { priority } => {
            model.published += 1;
            let pub_time = model.published * 10;
            let id = format!("m{:03}", model.published);
            let msg = gd(&id, *priority, pub_time);
            model.queued.insert(id.clone(), msg.clone());
            match op {
                Op::Wake { .. } => {
                    model.unseen.insert(id);
                    w.mark_unread(None);
                }
                _ => w.mark_unread(Some(&msg.order_key())),
            }
        }
        Op::Clear => {
            w.clear();
            model.queued.clear();
            model.in_flight.clear();
            model.unseen.clear();
        }
    }
    Ok(())
}

/// 2,000 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

#[test]
fn window_hands_over_the_head_of_the_queue_and_never_past_what_it_knows() {
    let case = (1..=5usize, prop::collection::vec(op(), 1..=80));
    let mut runner = TestRunner::new(config());
    let result = runner.run(&case, |(gd_limit, ops)| {
        let mut w = Window::new(gd_limit);
        let mut model = Model::default();
        for (i, op) in ops.iter().enumerate() {
            apply(&mut w, &mut model, op)
                .map_err(|e| TestCaseError::fail(format!("step {i} {op:?}: {e}")))?;
            check(&w, &model).map_err(|e| TestCaseError::fail(format!("after step {i} {op:?}: {e}")))?;
        }
        // Whatever is left is delivered, in order, with at most one read of SQL per pop (and one
        // as soon as commits are unread, as a pull does).
        let mut last: Option<OrderKey> = None;
        loop {
            if w.needs_refill(1) || w.unread() {
                apply(&mut w, &mut model, &Op::Refill)?;
            }
            let Some(head) = model.head() else { break };
            let (key, e) = w.pop_deliverable().ok_or_else(|| TestCaseError::fail("stuck after a refill"))?;
            ensure!(key == head, "drained {} out of order", e.msg.msg_id);
            ensure!(last.as_ref().is_none_or(|l| *l < key), "drain not strictly increasing");
            last = Some(key);
            model.queued.remove(&e.msg.msg_id);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---- the window's caller: edits of GD messages it does not hold -------------------------------

/// An admin raises the priority of a GD message that lies past the window (the backlog is
/// deeper than `GD_WINDOW`): SQL now orders it first, so it must be handed over next. The
/// `DeliveryActor` passes the edit to `Window::replace`, which answers false (not held), and
/// nothing tells the window that SQL changed before its bound.
#[actix_rt::test]
async fn a_gd_message_raised_in_priority_from_past_the_window_is_handed_over_next() {
    use signalbox_schema::models::{GdPublication, MessageEdit, SubscriptionFields, TopicFields};
    use signalbox_schema::testing;

    use actix::Actor;

    use crate::delivery::{DeliveryActor, EditMessage, Pull, GD_WINDOW};

    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("temporary directory");
    let store = signalbox_schema::Store::open(&format!("sqlite://{}", dir.path().join("w.db").display()), 4)
        .expect("store");
    let endpoint = store.endpoint_create(testing::endpoint("subscriber")).expect("endpoint");
    let topic = TopicFields { dedup_window: Some(0), ..testing::topic("/deep") };
    let topic = store.topic_create(topic).expect("topic");
    let sub = SubscriptionFields {
        delivery_batch_size: Some(1),
        ..testing::subscription("zpsk.deep", topic.id, endpoint.id)
    };
    let sub = store.subscription_create(sub).expect("subscription");
    let now = signalbox_schema::now_micros();
    let backlog: Vec<GdPublication> = (0..GD_WINDOW + 2)
        .map(|i| GdPublication {
            message: message(&format!("m{i:04}"), 5, now + i as i64, None, true).to_stored(),
            dedup_window: 0,
            drop_if_no_subs: false,
            client_msg_id: false,
            only_sub_keys: None,
        })
        .map(|mut p| {
            p.message.topic_id = topic.id;
            p
        })
        .collect();
    store.gd_commit(&backlog).expect("backlog stored");

    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let deps = crate::sinks::SinkDeps {
        node: "test".into(),
        master_key: crate::secrets::MasterKey::generate().expect("key"),
        outbound: crate::outbound::Outbound::new(Arc::new(tls)),
        services: None,
    };
    let stats = Arc::new(crate::stats::TopicStats::default());
    let actor =
        DeliveryActor::new(Arc::new(sub), "/deep".into(), store.clone(), crate::Metrics::new(), stats, deps)
            .start();
    let pull = || async { actor.send(Pull { max: 1 }).await.expect("actor").expect("pull") };
    assert_eq!(pull().await[0].msg.msg_id, "m0000");

    // As the admin API does: the edit in SQL, then in the delivery actors.
    let last = format!("m{:04}", GD_WINDOW + 1);
    let edited =
        store.message_update(&last, MessageEdit { priority: Some(9), ..Default::default() }).expect("edit");
    let edited = Arc::new(Message::from_stored(edited, "/deep"));
    actor.send(EditMessage { msg: edited }).await.expect("actor");
    assert_eq!(pull().await[0].msg.msg_id, last, "priority 9 goes before the priority-5 backlog");
}
