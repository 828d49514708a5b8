//! Unit tests of the GD queue in `Store`: the group commit and its dedup, reading a queue in
//! delivery order, hand-over counts, removals (and their grouping with GD commits), dead
//! letters, purges, paging, and the fence that stops an old owner's writes.
//!
//! Each test gets a fresh SQLite file (in RAM where `/dev/shm` exists) and, when
//! `SIGNALBOX_TEST_PG_URL` names a PostgreSQL database, runs again on a fresh database created
//! from it ([`TestStore`]).

use std::sync::Arc;

use super::Removal;
use crate::cluster::Fence;
use crate::models::*;
use crate::testing::stored_message as stored;
use crate::testing::TestStore;
use crate::{now_micros, testing, Page, Store, StoreError};

const SECOND: i64 = 1_000_000;

/// SQLite always; PostgreSQL when configured.
fn backends() -> Vec<TestStore> {
    TestStore::all()
}

/// One endpoint, and topics and subscriptions made on demand.
struct Fixture<'a> {
    store: &'a Store,
    endpoint_id: i64,
    /// Far enough from the wall clock that nothing expires during a test.
    now: i64,
}

impl<'a> Fixture<'a> {
    fn new(db: &'a TestStore) -> Fixture<'a> {
        let endpoint = db.store.endpoint_create(testing::endpoint("subscriber")).expect("endpoint");
        Fixture { store: &db.store, endpoint_id: endpoint.id, now: now_micros() }
    }

    fn topic(&self, name: &str) -> i64 {
        self.store.topic_create(testing::topic(name)).expect("topic").id
    }

    fn subscribe(&self, topic_id: i64, sub_key: &str) -> String {
        // WSX subscriptions: several per (endpoint, topic) are allowed.
        let fields = SubscriptionFields {
            is_wsx: Some(true),
            ..testing::subscription(sub_key, topic_id, self.endpoint_id)
        };
        self.store.subscription_create(fields).expect("subscription").sub_key
    }

    /// A message published `at` microseconds after the fixture's start.
    fn message(&self, msg_id: &str, topic_id: i64, priority: i32, at: i64) -> StoredMessage {
        stored(msg_id, topic_id, priority, self.now + at)
    }

    fn publication(&self, msg_id: &str, topic_id: i64, priority: i32, at: i64) -> GdPublication {
        GdPublication {
            message: self.message(msg_id, topic_id, priority, at),
            dedup_window: 0,
            drop_if_no_subs: false,
            client_msg_id: false,
            only_sub_keys: None,
        }
    }

    /// A publication whose msg_id the publisher chose, deduplicated within `window_secs`.
    fn chosen(&self, msg_id: &str, topic_id: i64, at: i64, window_secs: i64) -> GdPublication {
        GdPublication {
            client_msg_id: true,
            dedup_window: window_secs * SECOND,
            ..self.publication(msg_id, topic_id, 5, at)
        }
    }

    fn commit(&self, batch: Vec<GdPublication>) -> Vec<GdOutcome> {
        self.store.gd_commit(&batch).expect("gd_commit")
    }

    /// msg_ids `queue_load` answers, in its order.
    fn load(&self, sub_key: &str, limit: i64, skip: &[&str]) -> Vec<String> {
        let skip: Vec<String> = skip.iter().map(|s| s.to_string()).collect();
        ids(self.store.queue_load(sub_key, limit, &skip).expect("queue_load"))
    }

    fn page(&self, sub_key: &str, dead: bool, limit: i64, offset: i64) -> Vec<String> {
        ids(self.store.queue_page(sub_key, dead, Page { limit, offset }).expect("queue_page"))
    }

    fn delivery_counts(&self, sub_key: &str) -> Vec<(String, i64)> {
        self.store
            .queue_page(sub_key, false, Page::default())
            .expect("queue_page")
            .into_iter()
            .map(|q| (q.message.pub_msg_id, q.delivery_count))
            .collect()
    }

    fn exists(&self, msg_id: &str) -> bool {
        match self.store.message(msg_id) {
            Ok(_) => true,
            Err(StoreError::NotFound) => false,
            Err(e) => panic!("reading {msg_id}: {e}"),
        }
    }
}

fn ids(rows: Vec<QueuedMessage>) -> Vec<String> {
    rows.into_iter().map(|q| q.message.pub_msg_id).collect()
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

const STORED_1: GdOutcome = GdOutcome::Stored { queued: 1 };

// ---- gd_commit ------------------------------------------------------------------------------

#[test]
fn gd_commit_queues_a_row_per_subscription_retains_without_one_and_drops_when_told() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let (two, none, dropping) = (fx.topic("/two"), fx.topic("/none"), fx.topic("/drop"));
        let (a, b) = (fx.subscribe(two, "a"), fx.subscribe(two, "b"));
        let dropped = GdPublication { drop_if_no_subs: true, ..fx.publication("d1", dropping, 5, 3) };
        let outcomes = fx.commit(vec![
            fx.publication("m1", two, 5, 1),
            fx.publication("r1", none, 5, 2),
            dropped,
            GdPublication { only_sub_keys: Some(vec![b.clone()]), ..fx.publication("only-b", two, 5, 4) },
        ]);
        assert_eq!(
            outcomes,
            [GdOutcome::Stored { queued: 2 }, GdOutcome::Stored { queued: 0 }, GdOutcome::Dropped, STORED_1],
            "{}",
            db.name
        );
        assert_eq!(fx.load(&a, 10, &[]), ["m1"], "{}", db.name);
        assert_eq!(fx.load(&b, 10, &[]), ["m1", "only-b"], "{}", db.name);
        let retained = db.store.retained(none, Page::default()).expect("retained");
        assert_eq!(retained.iter().map(|m| m.pub_msg_id.as_str()).collect::<Vec<_>>(), ["r1"]);
        assert!(!fx.exists("d1"), "{}: dropped means not stored", db.name);
        assert_eq!(db.store.gd_depth(two).expect("depth"), 2, "{}", db.name);
        assert_eq!(db.store.gd_depth(none).expect("depth"), 1, "{}: retained counts", db.name);
        // The first subscriber takes what was retained.
        let first = fx.subscribe(none, "first");
        assert_eq!(fx.load(&first, 10, &[]), ["r1"], "{}", db.name);
        // A stored message queued again for one subscription (kept as GD for a node that
        // could not take it): a queue row, no second message row.
        let again =
            GdPublication { only_sub_keys: Some(vec![a.clone()]), ..fx.publication("only-b", two, 5, 4) };
        assert_eq!(fx.commit(vec![again]), [STORED_1], "{}", db.name);
        assert_eq!(fx.load(&a, 10, &[]), ["m1", "only-b"], "{}", db.name);
    }
}

#[test]
fn a_chosen_msg_id_repeated_within_the_dedup_window_is_a_duplicate_and_outside_it_a_conflict() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let (t, other) = (fx.topic("/t"), fx.topic("/other"));
        let sub = fx.subscribe(t, "s");
        assert_eq!(fx.commit(vec![fx.chosen("x", t, 0, 10)]), [STORED_1], "{}", db.name);
        let outcomes = fx.commit(vec![
            // At the window's edge (exactly 10 s later) it is still a repeat.
            fx.chosen("x", t, 10 * SECOND, 10),
            // One microsecond past it, it is not.
            fx.chosen("x", t, 10 * SECOND + 1, 10),
            // A window of 0: any later repeat is past it.
            fx.chosen("x", t, 1, 0),
            // The id on another topic.
            fx.chosen("x", other, 1, 10),
            // Others in the batch are stored whatever happens to the repeats.
            fx.chosen("y", t, 2, 10),
        ]);
        assert_eq!(
            outcomes,
            [GdOutcome::Duplicate, GdOutcome::Conflict, GdOutcome::Conflict, GdOutcome::Conflict, STORED_1],
            "{}",
            db.name
        );
        assert_eq!(fx.load(&sub, 10, &[]), ["x", "y"], "{}: the repeat stored nothing", db.name);
        assert_eq!(db.store.gd_depth(other).expect("depth"), 0, "{}", db.name);
    }
}

#[test]
fn a_chosen_msg_id_repeated_within_one_batch_is_stored_once() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        let outcomes = fx.commit(vec![
            fx.chosen("z", t, 0, 10),
            fx.chosen("z", t, 1, 10),
            fx.chosen("w", t, 2, 0),
            fx.chosen("w", t, 3, 0),
        ]);
        assert_eq!(outcomes, [STORED_1, GdOutcome::Duplicate, STORED_1, GdOutcome::Conflict], "{}", db.name);
        assert_eq!(fx.load(&sub, 10, &[]), ["z", "w"], "{}", db.name);
    }
}

#[test]
fn a_gd_commit_that_fails_stores_nothing_of_its_batch() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        // Server-made ids are never checked for repeats: the database refuses the second.
        let batch =
            [fx.publication("ok", t, 5, 0), fx.publication("same", t, 5, 1), fx.publication("same", t, 5, 2)];
        assert!(matches!(db.store.gd_commit(&batch), Err(StoreError::Conflict(_))), "{}", db.name);
        assert!(fx.load(&sub, 10, &[]).is_empty(), "{}", db.name);
        assert!(!fx.exists("ok"), "{}", db.name);
    }
}

// ---- reading the queue ----------------------------------------------------------------------

#[test]
fn queue_load_reads_in_delivery_order_and_leaves_out_skipped_expired_and_dead_ones() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        let mut early = fx.publication("ext-early", t, 5, 50);
        early.message.ext_pub_time = Some(fx.now + 5);
        let mut expired = fx.publication("expired", t, 9, 1);
        expired.message.expiration_time = now_micros() - 1;
        // Two at the same time: the msg_id decides.
        fx.commit(vec![
            fx.publication("low", t, 1, 0),
            fx.publication("mid-b", t, 5, 30),
            fx.publication("mid-a", t, 5, 30),
            early,
            fx.publication("high", t, 9, 100),
            expired,
            fx.publication("dead", t, 9, 0),
        ]);
        db.store.queue_dead_letter(&sub, &strings(&["dead"])).expect("dead letter");
        assert_eq!(fx.load(&sub, 100, &[]), ["high", "ext-early", "mid-a", "mid-b", "low"], "{}", db.name);
        assert_eq!(fx.load(&sub, 2, &[]), ["high", "ext-early"], "{}", db.name);
        // Skipped ones (in flight) do not count against the limit.
        assert_eq!(fx.load(&sub, 2, &["high", "mid-a"]), ["ext-early", "mid-b"], "{}", db.name);
        assert_eq!(
            fx.load(&sub, 100, &["low", "nobody"]),
            ["high", "ext-early", "mid-a", "mid-b"],
            "{}",
            db.name
        );
        assert!(fx.load("no-such-sub", 100, &[]).is_empty(), "{}", db.name);
    }
}

#[test]
fn queue_page_pages_through_the_queue_in_delivery_order() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        fx.commit((0..5).map(|i| fx.publication(&format!("m{i}"), t, 5, i)).collect());
        assert_eq!(fx.page(&sub, false, 2, 0), ["m0", "m1"], "{}", db.name);
        assert_eq!(fx.page(&sub, false, 2, 2), ["m2", "m3"], "{}", db.name);
        assert_eq!(fx.page(&sub, false, 2, 4), ["m4"], "{}", db.name);
        assert!(fx.page(&sub, false, 2, 6).is_empty(), "{}", db.name);
        assert!(fx.page(&sub, true, 10, 0).is_empty(), "{}: no dead letters", db.name);
    }
}

// ---- writes to the queue --------------------------------------------------------------------

#[test]
fn queue_mark_delivered_counts_each_hand_over_of_that_subscription_only() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let (a, b) = (fx.subscribe(t, "a"), fx.subscribe(t, "b"));
        fx.commit(vec![fx.publication("m1", t, 5, 1), fx.publication("m2", t, 5, 2)]);
        db.store.queue_mark_delivered(&a, &strings(&["m1", "m2"])).expect("mark");
        db.store.queue_mark_delivered(&a, &strings(&["m1"])).expect("mark");
        db.store.queue_mark_delivered(&a, &[]).expect("nothing to mark");
        assert_eq!(fx.delivery_counts(&a), [("m1".to_owned(), 2), ("m2".to_owned(), 1)], "{}", db.name);
        assert_eq!(fx.delivery_counts(&b), [("m1".to_owned(), 0), ("m2".to_owned(), 0)], "{}", db.name);
        let loaded = db.store.queue_load(&a, 1, &[]).expect("load");
        assert_eq!(loaded[0].delivery_count, 2, "{}: queue_load carries the count", db.name);
    }
}

#[test]
fn queue_remove_answers_rows_removed_and_messages_no_queue_holds_any_more() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let (a, b) = (fx.subscribe(t, "a"), fx.subscribe(t, "b"));
        fx.commit(vec![fx.publication("m1", t, 5, 1), fx.publication("m2", t, 5, 2)]);
        assert_eq!(
            db.store.queue_remove(&a, &strings(&["m1", "m2", "nobody"])).expect("remove"),
            (2, 0),
            "{}",
            db.name
        );
        assert!(fx.exists("m1"), "{}: still queued for b", db.name);
        assert_eq!(db.store.queue_remove(&b, &strings(&["m1"])).expect("remove"), (1, 1), "{}", db.name);
        assert!(!fx.exists("m1"), "{}", db.name);
        assert_eq!(
            db.store.queue_remove(&b, &strings(&["m1"])).expect("remove"),
            (0, 0),
            "{}: twice",
            db.name
        );
        assert_eq!(db.store.queue_remove(&b, &[]).expect("remove"), (0, 0), "{}", db.name);
        assert_eq!(fx.load(&b, 10, &[]), ["m2"], "{}", db.name);
        assert_eq!(db.store.gd_depth(t).expect("depth"), 1, "{}", db.name);
    }
}

#[test]
fn dead_letters_leave_the_queue_and_come_back_in_order_with_a_fresh_count() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        fx.commit((1..=3).map(|i| fx.publication(&format!("m{i}"), t, 5, i)).collect());
        db.store.queue_mark_delivered(&sub, &strings(&["m1", "m2"])).expect("mark");
        db.store.queue_dead_letter(&sub, &strings(&["m1", "m2"])).expect("dead letter");
        assert_eq!(fx.load(&sub, 10, &[]), ["m3"], "{}", db.name);
        assert_eq!(fx.page(&sub, true, 10, 0), ["m1", "m2"], "{}", db.name);
        assert_eq!(db.store.queue_depth(&sub).expect("depth"), 1, "{}", db.name);
        assert_eq!(db.store.gd_depth(t).expect("depth"), 1, "{}: dead letters do not count", db.name);
        assert!(fx.exists("m1"), "{}: dead letters are kept", db.name);

        assert_eq!(db.store.dead_letters_requeue(&sub).expect("requeue"), 2, "{}", db.name);
        assert_eq!(db.store.dead_letters_requeue(&sub).expect("requeue"), 0, "{}: none left", db.name);
        assert_eq!(
            fx.delivery_counts(&sub),
            [("m1".to_owned(), 0), ("m2".to_owned(), 0), ("m3".to_owned(), 0)],
            "{}",
            db.name
        );
        assert!(fx.page(&sub, true, 10, 0).is_empty(), "{}", db.name);
    }
}

#[test]
fn queue_purge_deletes_either_the_deliverable_queue_or_the_dead_letters() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let (a, b) = (fx.subscribe(t, "a"), fx.subscribe(t, "b"));
        fx.commit((1..=4).map(|i| fx.publication(&format!("m{i}"), t, 5, i)).collect());
        db.store.queue_dead_letter(&a, &strings(&["m1"])).expect("dead letter");
        // b holds every message: none goes with a's queue.
        assert_eq!(db.store.queue_purge(&a, false).expect("purge"), (3, 0), "{}", db.name);
        assert!(fx.load(&a, 10, &[]).is_empty(), "{}", db.name);
        assert_eq!(fx.page(&a, true, 10, 0), ["m1"], "{}: dead letters stay", db.name);
        assert_eq!(
            db.store.queue_purge(&b, false).expect("purge"),
            (4, 3),
            "{}: m2..m4 held by nobody now",
            db.name
        );
        assert!(fx.exists("m1"), "{}: still a dead letter of a", db.name);
        assert_eq!(db.store.queue_purge(&a, true).expect("purge"), (1, 1), "{}", db.name);
        assert!(!fx.exists("m1"), "{}", db.name);
        assert_eq!(db.store.queue_purge(&a, true).expect("purge"), (0, 0), "{}", db.name);
    }
}

// ---- removals grouped with GD commits --------------------------------------------------------

fn pending_removal(store: &Store, sub_key: &str, msg_ids: &[&str]) -> Arc<Removal> {
    let removal =
        Arc::new(Removal { sub_key: sub_key.into(), msg_ids: strings(msg_ids), result: Default::default() });
    store.removals.pending.lock().expect("pending").push(removal.clone());
    removal
}

fn result_of(removal: &Removal) -> Option<Result<(usize, usize), StoreError>> {
    removal.result.lock().expect("result").clone()
}

#[test]
fn removals_waiting_when_a_gd_commit_starts_go_into_its_transaction() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        fx.commit(vec![fx.publication("acked", t, 5, 1), fx.publication("kept", t, 5, 2)]);
        let removal = pending_removal(&db.store, &sub, &["acked"]);
        assert_eq!(fx.commit(vec![fx.publication("new", t, 5, 3)]), [STORED_1], "{}", db.name);
        assert!(matches!(result_of(&removal), Some(Ok((1, 1)))), "{}: {:?}", db.name, result_of(&removal));
        assert!(db.store.removals.pending.lock().expect("pending").is_empty(), "{}", db.name);
        assert_eq!(fx.load(&sub, 10, &[]), ["kept", "new"], "{}", db.name);
    }
}

#[test]
fn a_failed_gd_commit_answers_the_removals_it_carried_with_its_error_and_removes_nothing() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        fx.commit(vec![fx.publication("acked", t, 5, 1)]);
        let removal = pending_removal(&db.store, &sub, &["acked"]);
        let bad = [fx.publication("same", t, 5, 2), fx.publication("same", t, 5, 3)];
        assert!(matches!(db.store.gd_commit(&bad), Err(StoreError::Conflict(_))), "{}", db.name);
        assert!(matches!(result_of(&removal), Some(Err(StoreError::Conflict(_)))), "{}", db.name);
        assert_eq!(fx.load(&sub, 10, &[]), ["acked"], "{}: rolled back with the batch", db.name);
        // The caller tries again; nothing is left over from the failed attempt.
        assert_eq!(db.store.queue_remove(&sub, &strings(&["acked"])).expect("remove"), (1, 1), "{}", db.name);
    }
}

#[test]
fn concurrent_removals_are_each_answered_with_their_own_counts() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let (a, b) = (fx.subscribe(t, "a"), fx.subscribe(t, "b"));
        fx.commit((0..16).map(|i| fx.publication(&format!("m{i:02}"), t, 5, i)).collect());
        // b lets go of the odd ones first, so a's removal of an odd one also removes the message.
        let odd: Vec<String> = (0..16).filter(|i| i % 2 == 1).map(|i| format!("m{i:02}")).collect();
        assert_eq!(db.store.queue_remove(&b, &odd).expect("remove"), (8, 0), "{}", db.name);
        let answers: Vec<(usize, (usize, usize))> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let (store, a, b, gd) = (db.store.clone(), a.clone(), b.clone(), i % 4 == 0);
                    s.spawn(move || {
                        let id = vec![format!("m{i:02}")];
                        // Some GD commits run among them, taking whatever removals wait.
                        if gd {
                            let p = GdPublication {
                                message: stored(&format!("gd{i}"), t, 5, now_micros()),
                                dedup_window: 0,
                                drop_if_no_subs: false,
                                client_msg_id: false,
                                only_sub_keys: Some(vec![b]),
                            };
                            store.gd_commit(&[p]).expect("gd_commit");
                        }
                        (i, store.queue_remove(&a, &id).expect("remove"))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        for (i, counts) in answers {
            let expected = if i % 2 == 1 { (1, 1) } else { (1, 0) };
            assert_eq!(counts, expected, "{}: m{i:02}", db.name);
        }
        assert!(fx.load(&a, 100, &[]).is_empty(), "{}", db.name);
        assert_eq!(fx.load(&b, 100, &[]).len(), 8 + 4, "{}: b's even ones and the GD ones", db.name);
    }
}

// ---- the fence ------------------------------------------------------------------------------

#[test]
fn a_fenced_store_refuses_queue_writes_once_the_subscription_has_another_owner() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        fx.commit((1..=3).map(|i| fx.publication(&format!("m{i}"), t, 5, i)).collect());
        let epoch = db.store.owner_assign(&sub, "n1", 0, None).expect("assign").expect("first owner");
        let old = db.store.fenced(Fence { sub_key: sub.clone(), node: "n1".into(), epoch });
        old.queue_mark_delivered(&sub, &strings(&["m1"])).expect("owner may count");
        assert_eq!(old.queue_remove(&sub, &strings(&["m1"])).expect("owner may ack"), (1, 1), "{}", db.name);

        let next = db.store.owner_assign(&sub, "n2", epoch, None).expect("assign").expect("moved");
        assert_eq!(next, epoch + 1);
        let fenced = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Fenced(k)) if k == sub);
        assert!(fenced(old.queue_mark_delivered(&sub, &strings(&["m2"]))), "{}", db.name);
        assert!(fenced(old.queue_remove(&sub, &strings(&["m2"])).map(|_| ())), "{}", db.name);
        assert!(fenced(old.queue_dead_letter(&sub, &strings(&["m2"]))), "{}", db.name);
        assert!(fenced(old.dead_letters_requeue(&sub).map(|_| ())), "{}", db.name);
        assert!(fenced(old.queue_purge(&sub, false).map(|_| ())), "{}", db.name);
        // The right epoch on the wrong node is no better.
        let impostor = db.store.fenced(Fence { sub_key: sub.clone(), node: "n1".into(), epoch: next });
        assert!(fenced(impostor.queue_mark_delivered(&sub, &strings(&["m2"]))), "{}", db.name);
        assert_eq!(fx.delivery_counts(&sub), [("m2".to_owned(), 0), ("m3".to_owned(), 0)], "{}", db.name);

        let new = db.store.fenced(Fence { sub_key: sub.clone(), node: "n2".into(), epoch: next });
        assert_eq!(new.queue_remove(&sub, &strings(&["m2"])).expect("new owner acks"), (1, 1), "{}", db.name);
        // A stale assignment loses too.
        assert_eq!(db.store.owner_assign(&sub, "n3", epoch, None).expect("assign"), None, "{}", db.name);
    }
}

#[test]
fn a_removal_left_pending_is_answered_by_the_next_write_only() {
    // `queue_remove` pushes its removal and commits whatever is pending; a removal pushed by a
    // caller that then lost the race is answered by the transaction that took it.
    let db = TestStore::sqlite();
    let fx = Fixture::new(&db);
    let t = fx.topic("/t");
    let sub = fx.subscribe(t, "s");
    fx.commit(vec![fx.publication("m1", t, 5, 1), fx.publication("m2", t, 5, 2)]);
    let first = pending_removal(&db.store, &sub, &["m1"]);
    assert!(result_of(&first).is_none(), "not answered before a transaction takes it");
    assert_eq!(db.store.queue_remove(&sub, &strings(&["m2"])).expect("remove"), (1, 1));
    assert!(matches!(result_of(&first), Some(Ok((1, 1)))), "{:?}", result_of(&first));
}

// ---- durability of each kind of write --------------------------------------------------------

/// What a transaction of this durability runs with: SQLite's `synchronous` (2 = FULL, 1 =
/// NORMAL) or PostgreSQL's `synchronous_commit`.
fn durability_seen(store: &Store, durability: crate::connection::Durability) -> String {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    store
        .write_as(durability, |conn| {
            let query = match store.backend() {
                crate::Backend::Sqlite => "SELECT CAST(synchronous AS TEXT) AS value FROM pragma_synchronous",
                crate::Backend::Postgres => "SELECT current_setting('synchronous_commit') AS value",
            };
            Ok(diesel::RunQueryDsl::get_result::<Setting>(diesel::sql_query(query), conn)?.value)
        })
        .expect("setting")
}

#[test]
fn gd_commits_wait_for_the_disk_and_only_removals_are_relaxed() {
    use crate::connection::Durability;
    for db in backends() {
        let (full, relaxed) = match db.store.backend() {
            crate::Backend::Sqlite => ("2", "1"),
            crate::Backend::Postgres => ("on", "off"),
        };
        // Twice each, alternating: a relaxed transaction leaves nothing behind for the next.
        for _ in 0..2 {
            assert_eq!(durability_seen(&db.store, Durability::Full), full, "{}", db.name);
            assert_eq!(durability_seen(&db.store, Durability::Relaxed), relaxed, "{}", db.name);
        }
        // Every pooled connection a GD commit may take is FULL.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = db.store.conn().expect("connection");
            if db.store.backend() == crate::Backend::Sqlite {
                #[derive(diesel::QueryableByName)]
                struct Sync {
                    #[diesel(sql_type = diesel::sql_types::Integer)]
                    synchronous: i32,
                }
                let seen: Sync =
                    diesel::RunQueryDsl::get_result(diesel::sql_query("PRAGMA synchronous"), &mut *conn)
                        .expect("pragma");
                assert_eq!(seen.synchronous, 2, "{}: a pooled connection is not FULL", db.name);
            }
            held.push(conn);
        }
    }
}

// ---- removals that wait for a GD commit ------------------------------------------------------

#[test]
fn a_lingering_removal_rides_on_the_next_gd_commit_instead_of_a_transaction_of_its_own() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        fx.commit(vec![fx.publication("acked", t, 5, 1), fx.publication("kept", t, 5, 2)]);
        let long = std::time::Duration::from_secs(60);
        let started = std::time::Instant::now();
        std::thread::scope(|s| {
            let (store, sub) = (db.store.clone(), sub.clone());
            let removal = s.spawn(move || store.queue_remove_lingering(&sub, &strings(&["acked"]), long));
            // Once the removal waits, a GD commit takes it and answers it.
            while db.store.removals.pending.lock().expect("pending").is_empty() {
                std::thread::yield_now();
            }
            assert_eq!(fx.commit(vec![fx.publication("new", t, 5, 3)]), [STORED_1], "{}", db.name);
            assert_eq!(removal.join().expect("thread").expect("removed"), (1, 1), "{}", db.name);
        });
        assert!(started.elapsed() < long / 2, "{}: answered by the commit, not its linger", db.name);
        assert_eq!(fx.load(&sub, 10, &[]), ["kept", "new"], "{}", db.name);
    }
}

#[test]
fn a_lingering_removal_with_no_gd_commit_coming_commits_on_its_own_after_its_linger() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let sub = fx.subscribe(t, "s");
        fx.commit((1..=3).map(|i| fx.publication(&format!("m{i}"), t, 5, i)).collect());
        let linger = std::time::Duration::from_millis(50);
        let started = std::time::Instant::now();
        let removed =
            db.store.queue_remove_lingering(&sub, &strings(&["m1", "m3"]), linger).expect("removed");
        assert_eq!(removed, (2, 2), "{}", db.name);
        assert!(started.elapsed() >= linger, "{}: committed before its linger", db.name);
        assert_eq!(fx.load(&sub, 10, &[]), ["m2"], "{}", db.name);
        // Nothing is left pending for a later transaction.
        assert!(db.store.removals.pending.lock().expect("pending").is_empty(), "{}", db.name);
    }
}

#[test]
fn removals_of_a_few_ids_and_of_many_count_rows_and_messages_alike() {
    for db in backends() {
        let fx = Fixture::new(&db);
        let t = fx.topic("/t");
        let (a, b) = (fx.subscribe(t, "a"), fx.subscribe(t, "b"));
        fx.commit((0..40).map(|i| fx.publication(&format!("m{i:02}"), t, 5, i)).collect());
        let ids =
            |range: std::ops::Range<i64>| -> Vec<String> { range.map(|i| format!("m{i:02}")).collect() };
        // Many at once (one statement per list), then a few (one statement per id): a message goes
        // once the last queue holding it lets go.
        for (range, what) in [(0..30, "many"), (30..33, "a few")] {
            let n = range.end - range.start;
            assert_eq!(
                db.store.queue_remove(&a, &ids(range.clone())).expect("a"),
                (n as usize, 0),
                "{}: {what}",
                db.name
            );
            assert_eq!(
                db.store.queue_remove(&b, &ids(range.clone())).expect("b"),
                (n as usize, n as usize),
                "{}: {what}",
                db.name
            );
            // Again: nothing left to remove.
            assert_eq!(db.store.queue_remove(&b, &ids(range)).expect("again"), (0, 0), "{}: {what}", db.name);
        }
        assert_eq!(fx.load(&a, 100, &[]), ids(33..40), "{}", db.name);
        assert_eq!(fx.load(&b, 100, &[]), ids(33..40), "{}", db.name);
    }
}
