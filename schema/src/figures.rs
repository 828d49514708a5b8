//! What the console's figures read from SQL: per-subscription queue counts and ages, dead-letter
//! times, and when an endpoint was last seen. Reads only, but for `endpoint_seen`, which callers
//! throttle (one write a minute per endpoint at most).

use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use crate::schema::*;
use crate::store::Store;
use crate::StoreResult;

/// One subscription's GD queue rows as counted by SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFigures {
    /// Deliverable rows — the same count `/metrics` exports as the subscription's GD depth.
    pub ready: i64,
    /// Dead letters.
    pub dead: i64,
    /// Publication time (µs) of the oldest deliverable row.
    pub oldest_pub_time: Option<i64>,
}

type FigureRow = (String, bool, i64, Option<i64>);

fn fold(rows: Vec<FigureRow>) -> std::collections::HashMap<String, QueueFigures> {
    let mut out: std::collections::HashMap<String, QueueFigures> = std::collections::HashMap::new();
    for (sub_key, deliverable, count, oldest) in rows {
        let figures = out.entry(sub_key).or_default();
        if deliverable {
            figures.ready = count;
            figures.oldest_pub_time = oldest;
        } else {
            figures.dead = count;
        }
    }
    out
}

impl Store {
    /// Queue figures of every subscription that has rows, in one grouped read.
    pub fn queue_figures(&self) -> StoreResult<std::collections::HashMap<String, QueueFigures>> {
        let mut conn = self.conn()?;
        let rows: Vec<FigureRow> = pubsub_endp_msg_queue::table
            .group_by((pubsub_endp_msg_queue::sub_key, pubsub_endp_msg_queue::is_deliverable))
            .select((
                pubsub_endp_msg_queue::sub_key,
                pubsub_endp_msg_queue::is_deliverable,
                count_star(),
                min(pubsub_endp_msg_queue::pub_time),
            ))
            .load(&mut *conn)?;
        Ok(fold(rows))
    }

    /// Queue figures of one subscription (all zero when it has no rows).
    pub fn queue_figures_of(&self, sub_key: &str) -> StoreResult<QueueFigures> {
        let mut conn = self.conn()?;
        let rows: Vec<FigureRow> = pubsub_endp_msg_queue::table
            .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
            .group_by((pubsub_endp_msg_queue::sub_key, pubsub_endp_msg_queue::is_deliverable))
            .select((
                pubsub_endp_msg_queue::sub_key,
                pubsub_endp_msg_queue::is_deliverable,
                count_star(),
                min(pubsub_endp_msg_queue::pub_time),
            ))
            .load(&mut *conn)?;
        Ok(fold(rows).remove(sub_key).unwrap_or_default())
    }

    /// When each of `msg_ids` became a dead letter of `sub_key` (µs), where known.
    pub fn dead_letter_times(
        &self,
        sub_key: &str,
        msg_ids: &[String],
    ) -> StoreResult<Vec<(String, Option<i64>)>> {
        let mut conn = self.conn()?;
        let mut out = Vec::with_capacity(msg_ids.len());
        for chunk in msg_ids.chunks(500) {
            let rows: Vec<(String, Option<i64>)> = pubsub_endp_msg_queue::table
                .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                .filter(pubsub_endp_msg_queue::is_deliverable.eq(false))
                .filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(chunk))
                .select((pubsub_endp_msg_queue::pub_msg_id, pubsub_endp_msg_queue::last_delivery_time))
                .load(&mut *conn)?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Records that an endpoint authenticated at `when` (µs). Callers throttle it: it is a write.
    pub fn endpoint_seen(&self, endpoint_id: i64, when: i64) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(pubsub_endpoint::table.filter(pubsub_endpoint::id.eq(endpoint_id)))
                .set(pubsub_endpoint::last_seen.eq(when))
                .execute(conn)?;
            Ok(())
        })
    }
}
