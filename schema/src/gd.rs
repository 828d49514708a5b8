//! Guaranteed-delivery messages and their per-subscription queues.
//!
//! Queue order, the same here and in the delivery actors' RAM windows: priority descending, then
//! the publisher's time if given else the server's, then the server's time, then msg_id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::dsl::exists;
use diesel::prelude::*;

use crate::connection::{AnyConnection, Durability};
use crate::models::*;
use crate::schema::*;
use crate::store::{delete_unreferenced, now_micros, Page, Removal, Store};
use crate::{StoreError, StoreResult};

type QueueRow = (StoredMessage, i64, i64);

fn to_queued((message, delivery_count, creation_time): QueueRow) -> QueuedMessage {
    QueuedMessage { message, delivery_count, creation_time }
}

/// Removes one subscription's rows for `msg_ids`, then the messages no queue holds any more.
fn remove_queued(conn: &mut AnyConnection, sub_key: &str, msg_ids: &[String]) -> StoreResult<(usize, usize)> {
    let mut rows = 0;
    for chunk in msg_ids.chunks(500) {
        rows += diesel::delete(
            pubsub_endp_msg_queue::table
                .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                .filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    let gone = delete_unreferenced(conn, msg_ids)?;
    Ok((rows, gone))
}

impl Store {
    /// Runs `f` in one write transaction that also removes every pending acknowledged row, and
    /// answers each removal's caller once it committed.
    fn write_with_removals<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut AnyConnection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let _committing = self.removals.committing.lock().unwrap_or_else(|p| p.into_inner());
        let taken = std::mem::take(&mut *self.removals.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut results = Vec::with_capacity(taken.len());
        let outcome = self.write_as(durability, |conn| {
            results.clear();
            for removal in &taken {
                results.push(remove_queued(conn, &removal.sub_key, &removal.msg_ids)?);
            }
            f(conn)
        });
        for (i, removal) in taken.iter().enumerate() {
            let result = match &outcome {
                Ok(_) => Ok(results[i]),
                Err(e) => Err(e.clone()),
            };
            *removal.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        }
        if !taken.is_empty() {
            // Under the lock the waiters check their result with, so none misses this.
            let _pending = self.removals.pending.lock().unwrap_or_else(|p| p.into_inner());
            self.removals.answered.notify_all();
        }
        outcome
    }

    /// Stores a group of GD publications in one transaction — messages and one queue row per
    /// subscription of their topic, made inside the transaction from the subscriptions in the
    /// database — and answers only after COMMIT. This is the group commit: the caller gathers
    /// many publishers' messages into one call, and they go in as a few multi-row INSERTs
    /// rather than statements per message.
    pub fn gd_commit(&self, batch: &[GdPublication]) -> StoreResult<Vec<GdOutcome>> {
        self.write_with_removals(Durability::Full, |conn| {
            let mut tries = 0;
            loop {
                // Another node may commit a publisher's msg_id between our look for repeats and
                // our insert (PostgreSQL): the insert then fails on the unique key, this batch's
                // savepoint is rolled back, and the repeats are read again — they see it now,
                // and it is answered as a repeat, not as a storage error.
                match conn.transaction(|conn| commit_batch(conn, batch)) {
                    Err(StoreError::Conflict(_)) if tries < 3 => tries += 1,
                    other => return other,
                }
            }
        })
    }

    /// The first `limit` deliverable queued messages of a subscription, in delivery order,
    /// leaving out `skip` (messages already in flight or in RAM). Expired ones are left out too.
    pub fn queue_load(&self, sub_key: &str, limit: i64, skip: &[String]) -> StoreResult<Vec<QueuedMessage>> {
        let mut conn = self.conn()?;
        let rows: Vec<QueueRow> = pubsub_endp_msg_queue::table
            .inner_join(
                pubsub_message::table.on(pubsub_message::pub_msg_id.eq(pubsub_endp_msg_queue::pub_msg_id)),
            )
            .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
            .filter(pubsub_endp_msg_queue::is_deliverable.eq(true))
            .filter(pubsub_message::expiration_time.gt(now_micros()))
            .order((
                pubsub_endp_msg_queue::priority.desc(),
                pubsub_endp_msg_queue::order_time,
                pubsub_endp_msg_queue::pub_time,
                pubsub_endp_msg_queue::pub_msg_id,
            ))
            .limit(limit + skip.len() as i64)
            .select((
                StoredMessage::as_select(),
                pubsub_endp_msg_queue::delivery_count,
                pubsub_endp_msg_queue::creation_time,
            ))
            .load(&mut *conn)?;
        // A set: the skip list is every message out now (up to a window of pushes of up to
        // 10,000 messages each), checked against every row read.
        let skip: std::collections::HashSet<&str> = skip.iter().map(String::as_str).collect();
        Ok(rows
            .into_iter()
            .filter(|(m, _, _)| !skip.contains(m.pub_msg_id.as_str()))
            .take(limit as usize)
            .map(to_queued)
            .collect())
    }

    /// A page of a subscription's queue for admins: deliverable (`dead = false`) or dead letters.
    pub fn queue_page(&self, sub_key: &str, dead: bool, page: Page) -> StoreResult<Vec<QueuedMessage>> {
        let mut conn = self.conn()?;
        let rows: Vec<QueueRow> = pubsub_endp_msg_queue::table
            .inner_join(
                pubsub_message::table.on(pubsub_message::pub_msg_id.eq(pubsub_endp_msg_queue::pub_msg_id)),
            )
            .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
            .filter(pubsub_endp_msg_queue::is_deliverable.eq(!dead))
            .order((
                pubsub_endp_msg_queue::priority.desc(),
                pubsub_endp_msg_queue::order_time,
                pubsub_endp_msg_queue::pub_time,
                pubsub_endp_msg_queue::pub_msg_id,
            ))
            .limit(page.limit)
            .offset(page.offset)
            .select((
                StoredMessage::as_select(),
                pubsub_endp_msg_queue::delivery_count,
                pubsub_endp_msg_queue::creation_time,
            ))
            .load(&mut *conn)?;
        Ok(rows.into_iter().map(to_queued).collect())
    }

    /// Deliverable queue rows per subscription, for every subscription that has some.
    pub fn queue_depths(&self) -> StoreResult<Vec<(String, i64)>> {
        let mut conn = self.conn()?;
        Ok(pubsub_endp_msg_queue::table
            .filter(pubsub_endp_msg_queue::is_deliverable.eq(true))
            .group_by(pubsub_endp_msg_queue::sub_key)
            .select((pubsub_endp_msg_queue::sub_key, diesel::dsl::count_star()))
            .load(&mut *conn)?)
    }

    /// Deliverable queue rows of a subscription.
    pub fn queue_depth(&self, sub_key: &str) -> StoreResult<i64> {
        let mut conn = self.conn()?;
        Ok(pubsub_endp_msg_queue::table
            .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
            .filter(pubsub_endp_msg_queue::is_deliverable.eq(true))
            .count()
            .get_result(&mut *conn)?)
    }

    /// Removes messages from a subscription's queue (delivered with auto ack, acknowledged,
    /// expired) and the messages no queue holds any more. Answers (rows removed, messages removed).
    ///
    /// Committed with [`Durability::Relaxed`]: a removal survives the node being killed, and an
    /// operating-system crash or power loss only once a later GD commit (fsync'd) followed it.
    /// What such a crash can forget is the last few milliseconds of acknowledgements, whose
    /// messages are then delivered again — at least once, never lost — and in exchange a
    /// subscriber's acknowledgement costs no fsync and never delays a publisher's commit.
    pub fn queue_remove(&self, sub_key: &str, msg_ids: &[String]) -> StoreResult<(usize, usize)> {
        self.queue_remove_lingering(sub_key, msg_ids, Duration::ZERO)
    }

    /// [`queue_remove`](Self::queue_remove) for acknowledgements nobody waits on (a push's):
    /// the removal joins the next GD group commit if one starts within `linger`, and only
    /// otherwise commits on its own — under a steady stream of publications a subscriber's
    /// acknowledgements then add no transaction of their own.
    pub fn queue_remove_lingering(
        &self,
        sub_key: &str,
        msg_ids: &[String],
        linger: Duration,
    ) -> StoreResult<(usize, usize)> {
        if msg_ids.is_empty() {
            return Ok((0, 0));
        }
        if self.is_fenced() {
            return self.write_as(Durability::Relaxed, |conn| remove_queued(conn, sub_key, msg_ids));
        }
        let mine = Arc::new(Removal {
            sub_key: sub_key.to_owned(),
            msg_ids: msg_ids.to_vec(),
            result: Default::default(),
        });
        let deadline = Instant::now() + linger;
        let removals = &self.removals;
        let mut pending = removals.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.push(mine.clone());
        loop {
            if let Some(result) = mine.result.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return result;
            }
            let now = Instant::now();
            if now >= deadline {
                // Not taken yet: commit what is pending (this one with it).
                drop(pending);
                self.write_with_removals(Durability::Relaxed, |_| Ok(()))?;
                pending = removals.pending.lock().unwrap_or_else(|p| p.into_inner());
                continue;
            }
            pending =
                removals.answered.wait_timeout(pending, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Counts a hand-over: `delivery_count + 1` for each message, in one statement per chunk.
    pub fn queue_mark_delivered(&self, sub_key: &str, msg_ids: &[String]) -> StoreResult<()> {
        if msg_ids.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        self.write(|conn| {
            for chunk in msg_ids.chunks(500) {
                diesel::update(
                    pubsub_endp_msg_queue::table
                        .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                        .filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(chunk)),
                )
                .set((
                    pubsub_endp_msg_queue::delivery_count.eq(pubsub_endp_msg_queue::delivery_count + 1),
                    pubsub_endp_msg_queue::last_delivery_time.eq(now),
                ))
                .execute(conn)?;
            }
            Ok(())
        })
    }

    /// Moves messages to the subscription's dead-letter list (kept, not delivered).
    pub fn queue_dead_letter(&self, sub_key: &str, msg_ids: &[String]) -> StoreResult<()> {
        self.set_deliverable(sub_key, Some(msg_ids), false).map(|_| ())
    }

    /// Puts every dead letter of a subscription back into its queue; answers how many.
    pub fn dead_letters_requeue(&self, sub_key: &str) -> StoreResult<usize> {
        self.set_deliverable(sub_key, None, true)
    }

    /// Moves rows between the queue (`value` true: back with a fresh count) and the dead
    /// letters (`value` false: keeping the count that sent them there, stamped with the time).
    fn set_deliverable(&self, sub_key: &str, msg_ids: Option<&[String]>, value: bool) -> StoreResult<usize> {
        if !value {
            let ids = msg_ids.unwrap_or_default();
            let now = now_micros();
            return self.write(|conn| {
                let mut n = 0;
                for chunk in ids.chunks(500) {
                    n += diesel::update(
                        pubsub_endp_msg_queue::table
                            .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                            .filter(pubsub_endp_msg_queue::is_deliverable.eq(true))
                            .filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(chunk)),
                    )
                    .set((
                        pubsub_endp_msg_queue::is_deliverable.eq(false),
                        pubsub_endp_msg_queue::last_delivery_time.eq(now),
                    ))
                    .execute(conn)?;
                }
                Ok(n)
            });
        }
        self.write(|conn| {
            let base = pubsub_endp_msg_queue::table
                .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                .filter(pubsub_endp_msg_queue::is_deliverable.eq(!value));
            let n = match msg_ids {
                Some(ids) => {
                    let mut n = 0;
                    for chunk in ids.chunks(500) {
                        n += diesel::update(base.filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(chunk)))
                            .set((
                                pubsub_endp_msg_queue::is_deliverable.eq(value),
                                pubsub_endp_msg_queue::delivery_count.eq(0),
                            ))
                            .execute(conn)?;
                    }
                    n
                }
                None => diesel::update(base)
                    .set((
                        pubsub_endp_msg_queue::is_deliverable.eq(value),
                        pubsub_endp_msg_queue::delivery_count.eq(0),
                    ))
                    .execute(conn)?,
            };
            Ok(n)
        })
    }

    /// Deletes a subscription's dead letters (`dead = true`) or its whole deliverable queue.
    /// Answers (rows removed, messages removed).
    pub fn queue_purge(&self, sub_key: &str, dead: bool) -> StoreResult<(usize, usize)> {
        self.write(|conn| {
            let ids: Vec<String> = pubsub_endp_msg_queue::table
                .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                .filter(pubsub_endp_msg_queue::is_deliverable.eq(!dead))
                .select(pubsub_endp_msg_queue::pub_msg_id)
                .load(conn)?;
            let rows = diesel::delete(
                pubsub_endp_msg_queue::table
                    .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                    .filter(pubsub_endp_msg_queue::is_deliverable.eq(!dead)),
            )
            .execute(conn)?;
            let gone = delete_unreferenced(conn, &ids)?;
            Ok((rows, gone))
        })
    }

    pub fn message(&self, msg_id: &str) -> StoreResult<StoredMessage> {
        let mut conn = self.conn()?;
        Ok(pubsub_message::table
            .filter(pubsub_message::pub_msg_id.eq(msg_id))
            .select(StoredMessage::as_select())
            .first(&mut *conn)?)
    }

    /// The subscriptions whose queues hold a message.
    pub fn message_holders(&self, msg_id: &str) -> StoreResult<Vec<String>> {
        let mut conn = self.conn()?;
        Ok(pubsub_endp_msg_queue::table
            .filter(pubsub_endp_msg_queue::pub_msg_id.eq(msg_id))
            .select(pubsub_endp_msg_queue::sub_key)
            .load(&mut *conn)?)
    }

    pub fn message_update(&self, msg_id: &str, edit: MessageEdit) -> StoreResult<StoredMessage> {
        self.write(|conn| {
            let n = diesel::update(pubsub_message::table.filter(pubsub_message::pub_msg_id.eq(msg_id)))
                .set(&edit)
                .execute(conn)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if let Some(priority) = edit.priority {
                diesel::update(
                    pubsub_endp_msg_queue::table.filter(pubsub_endp_msg_queue::pub_msg_id.eq(msg_id)),
                )
                .set(pubsub_endp_msg_queue::priority.eq(priority))
                .execute(conn)?;
            }
            Ok(pubsub_message::table
                .filter(pubsub_message::pub_msg_id.eq(msg_id))
                .select(StoredMessage::as_select())
                .first(conn)?)
        })
    }

    /// Deletes a message from every queue; answers its topic id.
    pub fn message_delete(&self, msg_id: &str) -> StoreResult<i64> {
        self.write(|conn| {
            let topic_id: i64 = pubsub_message::table
                .filter(pubsub_message::pub_msg_id.eq(msg_id))
                .select(pubsub_message::topic_id)
                .first(conn)?;
            diesel::delete(pubsub_endp_msg_queue::table.filter(pubsub_endp_msg_queue::pub_msg_id.eq(msg_id)))
                .execute(conn)?;
            diesel::delete(pubsub_message::table.filter(pubsub_message::pub_msg_id.eq(msg_id)))
                .execute(conn)?;
            Ok(topic_id)
        })
    }

    /// Deletes every GD message of a topic, queued or retained; answers how many.
    pub fn topic_clear(&self, topic_id: i64) -> StoreResult<usize> {
        self.write(|conn| {
            let ids = pubsub_message::table
                .filter(pubsub_message::topic_id.eq(topic_id))
                .select(pubsub_message::pub_msg_id);
            diesel::delete(
                pubsub_endp_msg_queue::table.filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(ids)),
            )
            .execute(conn)?;
            Ok(diesel::delete(pubsub_message::table.filter(pubsub_message::topic_id.eq(topic_id)))
                .execute(conn)?)
        })
    }

    /// A topic's messages kept for its first subscriber.
    pub fn retained(&self, topic_id: i64, page: Page) -> StoreResult<Vec<StoredMessage>> {
        let mut conn = self.conn()?;
        Ok(pubsub_message::table
            .filter(pubsub_message::topic_id.eq(topic_id))
            .filter(pubsub_message::is_in_sub_queue.eq(false))
            .order(pubsub_message::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(StoredMessage::as_select())
            .load(&mut *conn)?)
    }

    /// A topic's GD depth: messages still held by a queue (not dead-lettered) or retained.
    pub fn gd_depth(&self, topic_id: i64) -> StoreResult<i64> {
        let mut conn = self.conn()?;
        let held = exists(
            pubsub_endp_msg_queue::table
                .filter(pubsub_endp_msg_queue::pub_msg_id.eq(pubsub_message::pub_msg_id))
                .filter(pubsub_endp_msg_queue::is_deliverable.eq(true)),
        );
        Ok(pubsub_message::table
            .filter(pubsub_message::topic_id.eq(topic_id))
            .filter(pubsub_message::is_in_sub_queue.eq(false).or(held))
            .count()
            .get_result(&mut *conn)?)
    }

    /// Deletes every GD message whose expiration time has passed; answers how many.
    pub fn expire_messages(&self, now: i64) -> StoreResult<usize> {
        self.write(|conn| {
            let expired = pubsub_message::table
                .filter(pubsub_message::expiration_time.le(now))
                .select(pubsub_message::pub_msg_id);
            diesel::delete(
                pubsub_endp_msg_queue::table.filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(expired)),
            )
            .execute(conn)?;
            Ok(diesel::delete(pubsub_message::table.filter(pubsub_message::expiration_time.le(now)))
                .execute(conn)?)
        })
    }
}

/// The subscriptions a publication is queued for: its topic's, or the ones it names.
fn subscriptions_of<'a>(
    subs: &'a [(i64, String)],
    p: &'a GdPublication,
) -> impl Iterator<Item = &'a String> + 'a {
    let (topic_id, only) = (p.message.topic_id, p.only_sub_keys.as_deref());
    subs.iter()
        .filter(move |(t, k)| *t == topic_id && only.is_none_or(|only| only.contains(k)))
        .map(|(_, k)| k)
}

/// Messages per multi-row INSERT: 20 columns each, well under SQLite's 32,766 bound
/// parameters (and PostgreSQL's 65,535).
const MESSAGES_PER_INSERT: usize = 500;
/// Queue rows per multi-row INSERT: 6 columns each.
const QUEUE_ROWS_PER_INSERT: usize = 2000;

/// A message row as inserted. `None` is written as NULL, never as DEFAULT, so SQLite takes
/// many rows in one INSERT.
#[derive(Insertable)]
#[diesel(table_name = pubsub_message, treat_none_as_default_value = false)]
struct MessageRow<'a> {
    pub_msg_id: &'a str,
    topic_id: i64,
    published_by_id: Option<i64>,
    pub_correl_id: Option<&'a str>,
    in_reply_to: Option<&'a str>,
    ext_client_id: Option<&'a str>,
    group_id: Option<&'a str>,
    position_in_group: Option<i64>,
    pub_pattern_matched: &'a str,
    pub_time: i64,
    ext_pub_time: Option<i64>,
    expiration: i64,
    expiration_time: i64,
    data: &'a str,
    mime_type: &'a str,
    size: i64,
    priority: i32,
    user_ctx: Option<&'a str>,
    is_in_sub_queue: bool,
    last_updated: Option<i64>,
}

impl<'a> MessageRow<'a> {
    fn of(m: &'a StoredMessage, is_in_sub_queue: bool) -> MessageRow<'a> {
        MessageRow {
            pub_msg_id: &m.pub_msg_id,
            topic_id: m.topic_id,
            published_by_id: m.published_by_id,
            pub_correl_id: m.pub_correl_id.as_deref(),
            in_reply_to: m.in_reply_to.as_deref(),
            ext_client_id: m.ext_client_id.as_deref(),
            group_id: m.group_id.as_deref(),
            position_in_group: m.position_in_group,
            pub_pattern_matched: &m.pub_pattern_matched,
            pub_time: m.pub_time,
            ext_pub_time: m.ext_pub_time,
            expiration: m.expiration,
            expiration_time: m.expiration_time,
            data: &m.data,
            mime_type: &m.mime_type,
            size: m.size,
            priority: m.priority,
            user_ctx: m.user_ctx.as_deref(),
            is_in_sub_queue,
            last_updated: m.last_updated,
        }
    }
}

/// A queue row as inserted; the other columns take their defaults (not delivered yet,
/// deliverable).
#[derive(Insertable)]
#[diesel(table_name = pubsub_endp_msg_queue)]
struct QueueInsert<'a> {
    pub_msg_id: &'a str,
    sub_key: &'a str,
    creation_time: i64,
    priority: i32,
    order_time: i64,
    pub_time: i64,
}

// Multi-row INSERTs go through each backend's own connection: diesel's MultiConnection does not
// offer batch inserts.
fn insert_messages(conn: &mut AnyConnection, rows: &[MessageRow]) -> StoreResult<()> {
    for chunk in rows.chunks(MESSAGES_PER_INSERT) {
        let insert = diesel::insert_into(pubsub_message::table).values(chunk);
        match conn {
            AnyConnection::Postgresql(c) => insert.execute(c)?,
            AnyConnection::Sqlite(c) => insert.execute(c)?,
        };
    }
    Ok(())
}

fn insert_queue_rows(conn: &mut AnyConnection, rows: &[QueueInsert]) -> StoreResult<()> {
    for chunk in rows.chunks(QUEUE_ROWS_PER_INSERT) {
        let insert = diesel::insert_into(pubsub_endp_msg_queue::table).values(chunk);
        match conn {
            AnyConnection::Postgresql(c) => insert.execute(c)?,
            AnyConnection::Sqlite(c) => insert.execute(c)?,
        };
    }
    Ok(())
}

/// Outcomes already known before anything is stored: publisher-chosen msg_ids that repeat an
/// earlier publication (in the database or earlier in this batch) — a duplicate on the same
/// topic within the dedup window, else a conflict. `None` for the rest.
fn repeats(conn: &mut AnyConnection, batch: &[GdPublication]) -> StoreResult<Vec<Option<GdOutcome>>> {
    let mut out = vec![None; batch.len()];
    let chosen: Vec<&str> =
        batch.iter().filter(|p| p.client_msg_id).map(|p| p.message.pub_msg_id.as_str()).collect();
    if chosen.is_empty() {
        return Ok(out);
    }
    let mut known: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
    for ids in chosen.chunks(500) {
        let rows: Vec<(String, i64, i64)> = pubsub_message::table
            .filter(pubsub_message::pub_msg_id.eq_any(ids))
            .select((pubsub_message::pub_msg_id, pubsub_message::topic_id, pubsub_message::pub_time))
            .load(conn)?;
        known.extend(rows.into_iter().map(|(id, topic, time)| (id, (topic, time))));
    }
    for (p, outcome) in batch.iter().zip(out.iter_mut()) {
        let m = &p.message;
        if !p.client_msg_id {
            continue;
        }
        match known.get(&m.pub_msg_id) {
            Some(&(topic_id, pub_time)) => {
                *outcome = Some(if topic_id == m.topic_id && m.pub_time - pub_time <= p.dedup_window {
                    GdOutcome::Duplicate
                } else {
                    GdOutcome::Conflict
                });
            }
            None => {
                known.insert(m.pub_msg_id.clone(), (m.topic_id, m.pub_time));
            }
        }
    }
    Ok(out)
}

/// The inserts of one GD group commit (see [`Store::gd_commit`]).
fn commit_batch(conn: &mut AnyConnection, batch: &[GdPublication]) -> StoreResult<Vec<GdOutcome>> {
    let now = now_micros();
    let mut outcomes = repeats(conn, batch)?;
    let mut topic_ids: Vec<i64> = batch.iter().map(|p| p.message.topic_id).collect();
    topic_ids.sort_unstable();
    topic_ids.dedup();
    let subs: Vec<(i64, String)> = pubsub_sub::table
        .filter(pubsub_sub::topic_id.eq_any(&topic_ids))
        .select((pubsub_sub::topic_id, pubsub_sub::sub_key))
        .load(conn)?;
    // A publication for some subscriptions only (kept as GD for a cluster node that
    // could not take it, or a queue handed over) may name a message stored already.
    let partial: Vec<&str> =
        batch.iter().filter(|p| p.only_sub_keys.is_some()).map(|p| p.message.pub_msg_id.as_str()).collect();
    let mut stored: std::collections::HashSet<String> = match partial.is_empty() {
        true => Default::default(),
        false => pubsub_message::table
            .filter(pubsub_message::pub_msg_id.eq_any(&partial))
            .select(pubsub_message::pub_msg_id)
            .load::<String>(conn)?
            .into_iter()
            .collect(),
    };
    let subs_of = |p| subscriptions_of(&subs, p);

    let mut messages = Vec::with_capacity(batch.len());
    let mut queue = Vec::new();
    for (p, outcome) in batch.iter().zip(outcomes.iter_mut()) {
        if outcome.is_some() {
            continue;
        }
        let m = &p.message;
        let queued = subs_of(p).count();
        if queued == 0 && p.drop_if_no_subs {
            *outcome = Some(GdOutcome::Dropped);
            continue;
        }
        if stored.insert(m.pub_msg_id.clone()) {
            messages.push(MessageRow::of(m, queued > 0));
        }
        queue.extend(subs_of(p).map(|sub_key| QueueInsert {
            pub_msg_id: &m.pub_msg_id,
            sub_key,
            creation_time: now,
            priority: m.priority,
            order_time: m.ext_pub_time.unwrap_or(m.pub_time),
            pub_time: m.pub_time,
        }));
        *outcome = Some(GdOutcome::Stored { queued });
    }
    insert_messages(conn, &messages)?;
    insert_queue_rows(conn, &queue)?;
    Ok(outcomes.into_iter().map(|o| o.expect("every publication has an outcome")).collect())
}

#[cfg(test)]
#[path = "gd_tests.rs"]
mod tests;
