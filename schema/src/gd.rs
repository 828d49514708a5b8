//! Guaranteed-delivery messages and their per-subscription queues.
//!
//! Queue order, the same here and in the delivery actors' RAM windows: priority descending, then
//! the publisher's time if given else the server's, then the server's time, then msg_id.

use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::connection::AnyConnection;
use crate::models::*;
use crate::schema::*;
use crate::store::{delete_unreferenced, now_micros, Page, Store};
use crate::{StoreError, StoreResult};

type QueueRow = (StoredMessage, i64, i64);

fn to_queued((message, delivery_count, creation_time): QueueRow) -> QueuedMessage {
    QueuedMessage { message, delivery_count, creation_time }
}

impl Store {
    /// Stores a group of GD publications in one transaction — messages and one queue row per
    /// subscription of their topic, made inside the transaction from the subscriptions in the
    /// database — and answers only after COMMIT. This is the group commit: the caller gathers
    /// many publishers' messages into one call.
    pub fn gd_commit(&self, batch: &[GdPublication]) -> StoreResult<Vec<GdOutcome>> {
        self.write(|conn| {
            let now = now_micros();
            let mut out = Vec::with_capacity(batch.len());
            for publication in batch {
                out.push(commit_one(conn, publication, now)?);
            }
            Ok(out)
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
        Ok(rows
            .into_iter()
            .filter(|(m, _, _)| !skip.contains(&m.pub_msg_id))
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
    pub fn queue_remove(&self, sub_key: &str, msg_ids: &[String]) -> StoreResult<(usize, usize)> {
        if msg_ids.is_empty() {
            return Ok((0, 0));
        }
        self.write(|conn| {
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
        })
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

    fn set_deliverable(&self, sub_key: &str, msg_ids: Option<&[String]>, value: bool) -> StoreResult<usize> {
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

fn commit_one(conn: &mut AnyConnection, p: &GdPublication, now: i64) -> StoreResult<GdOutcome> {
    let m = &p.message;
    if p.client_msg_id {
        let existing: Option<(i64, i64)> = pubsub_message::table
            .filter(pubsub_message::pub_msg_id.eq(&m.pub_msg_id))
            .select((pubsub_message::topic_id, pubsub_message::pub_time))
            .first(conn)
            .optional()?;
        if let Some((topic_id, pub_time)) = existing {
            return Ok(if topic_id == m.topic_id && m.pub_time - pub_time <= p.dedup_window {
                GdOutcome::Duplicate
            } else {
                GdOutcome::Conflict
            });
        }
    }
    let stored_already = p.only_sub_keys.is_some()
        && diesel::select(exists(pubsub_message::table.filter(pubsub_message::pub_msg_id.eq(&m.pub_msg_id))))
            .get_result::<bool>(conn)?;
    if !stored_already {
        diesel::insert_into(pubsub_message::table).values(m).execute(conn)?;
    }
    let every_sub = p.only_sub_keys.is_none();
    let only: &[String] = p.only_sub_keys.as_deref().unwrap_or_default();
    let queued = pubsub_sub::table
        .filter(pubsub_sub::topic_id.eq(m.topic_id))
        .filter(every_sub.into_sql::<diesel::sql_types::Bool>().or(pubsub_sub::sub_key.eq_any(only)))
        .select((
            m.pub_msg_id.as_str().into_sql::<Text>(),
            pubsub_sub::sub_key,
            now.into_sql::<BigInt>(),
            m.priority.into_sql::<Integer>(),
            m.ext_pub_time.unwrap_or(m.pub_time).into_sql::<BigInt>(),
            m.pub_time.into_sql::<BigInt>(),
        ))
        .insert_into(pubsub_endp_msg_queue::table)
        .into_columns((
            pubsub_endp_msg_queue::pub_msg_id,
            pubsub_endp_msg_queue::sub_key,
            pubsub_endp_msg_queue::creation_time,
            pubsub_endp_msg_queue::priority,
            pubsub_endp_msg_queue::order_time,
            pubsub_endp_msg_queue::pub_time,
        ))
        .execute(conn)?;
    if queued == 0 {
        if p.drop_if_no_subs {
            diesel::delete(pubsub_message::table.filter(pubsub_message::pub_msg_id.eq(&m.pub_msg_id)))
                .execute(conn)?;
            return Ok(GdOutcome::Dropped);
        }
        diesel::update(pubsub_message::table.filter(pubsub_message::pub_msg_id.eq(&m.pub_msg_id)))
            .set(pubsub_message::is_in_sub_queue.eq(false))
            .execute(conn)?;
    }
    Ok(GdOutcome::Stored { queued })
}
