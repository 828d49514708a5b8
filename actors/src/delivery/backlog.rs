//! Reading the GD backlog back from SQL, and what arrives while a read is under way.
//!
//! A read (`Store::queue_load`) is a snapshot of the first `GD_WINDOW` deliverable rows, in
//! order, leaving out what is out now. Its answer replaces the window's GD part. Two kinds of
//! change can happen while it runs, and they are not alike:
//!
//! - **New commits** (a GD message announced by this node's topic actor, a wake-up for commits
//!   made elsewhere). The snapshot is still true; only more may exist after it was taken. The
//!   answer is applied, then what arrived meanwhile on top of it (`DuringRead`) — exactly as if
//!   it had arrived just after the answer. Throwing the answer away instead would let a steady
//!   stream of publications, one arriving during every read, stop delivery for as long as it
//!   lasts.
//! - **Rows the read may have skipped put back, or rows it may have returned taken away** (a
//!   failed push requeued, a clear, a restart, dead letters requeued, an edit). The snapshot may
//!   be wrong: it is thrown away and the backlog read again (`DuringRead::stale`).
//!
//! A read never returns a message handed over or being pushed (the skip list), and never one
//! acknowledged: removals commit before the messages they remove leave the skip list.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use signalbox_schema::models::QueuedMessage;

use super::{DeliveryActor, GD_WINDOW};
use crate::error::{blocking, PubSubError};
use crate::message::{Message, OrderKey, QueueEntry};

/// What happened while a read of the backlog for pushing was under way; applied when it answers.
#[derive(Default)]
pub(super) struct DuringRead {
    /// GD messages this node's topic actor announced meanwhile, by order key; at most
    /// `GD_WINDOW` (past it, the last ones are left to SQL and `cut` says from where).
    arrivals: BTreeMap<OrderKey, QueueEntry>,
    /// The first order key of the announced messages not kept in `arrivals`.
    cut: Option<OrderKey>,
    /// Commits were made elsewhere meanwhile.
    woken: bool,
    /// Rows the read may have skipped were put back, or rows it may have returned were
    /// removed: its answer is thrown away and the backlog read again.
    pub(super) stale: bool,
}

impl DeliveryActor {
    /// Messages handed over or set aside: a read of the backlog must not bring them back.
    pub(super) fn in_flight_ids(&self) -> Vec<String> {
        self.in_flight
            .keys()
            .cloned()
            .chain(self.set_aside.iter().flat_map(|b| b.entries.iter().map(|(_, e)| e.msg.msg_id.clone())))
            .chain(self.pushing_ids.iter().cloned())
            .collect()
    }

    fn note_loaded(&mut self, msg_id: &str) {
        const KEEP: usize = 10_000;
        let (order, set) = &mut self.loaded_recently;
        if set.insert(msg_id.to_owned()) {
            order.push_back(msg_id.to_owned());
            if order.len() > KEEP {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }

    /// The window no longer knows what SQL holds: read it before delivering. A read under way
    /// started before this and may have missed what changed (or skipped what was put back), so
    /// it is read again after that one.
    pub(super) fn backlog_unknown(&mut self) {
        self.during_read.stale |= self.refilling;
        self.window.backlog_unknown();
    }

    /// A GD message here already: read by a recent read (which saw every commit before it), or
    /// out now.
    fn knows_gd(&self, msg_id: &str) -> bool {
        self.in_flight.contains_key(msg_id)
            || self.pushing_ids.contains(msg_id)
            || self.loaded_recently.1.contains(msg_id)
    }

    /// A GD message this node committed, announced by its topic actor after the commit.
    pub(super) fn gd_announced(&mut self, entry: QueueEntry) {
        if self.refilling {
            let during = &mut self.during_read;
            during.arrivals.insert(entry.msg.order_key(), entry);
            if during.arrivals.len() > GD_WINDOW {
                if let Some((key, _)) = during.arrivals.pop_last() {
                    during.cut = Some(during.cut.take().map_or(key.clone(), |cut| cut.min(key)));
                }
            }
            return;
        }
        if self.knows_gd(&entry.msg.msg_id) {
            return;
        }
        let key = entry.msg.order_key();
        if self.store.is_fenced() || self.window.unread() {
            // Other nodes commit to this queue too (or did, and no read has seen it yet): one of
            // theirs committed before this message was published must not go after it. A read
            // that starts after this announcement sees every such commit, so this message, and
            // all after it, wait for one.
            self.window.mark_unread(Some(&key));
        } else {
            // Nobody else commits here: the message itself is all that is new.
            self.window.insert(key, entry);
        }
    }

    /// Commits were made elsewhere (a peer's wake-up, or the poll that stands in for a lost
    /// one): what the window holds may still go out; what comes after it waits for a read.
    pub(super) fn woken(&mut self) {
        self.during_read.woken |= self.refilling;
        self.window.mark_unread(None);
    }

    /// A read of the backlog if one is due before `want` messages can be handed over (pull).
    pub(super) fn refill(&mut self, want: usize) -> Option<ResponseActFuture<Self, Result<(), PubSubError>>> {
        (self.window.needs_refill(want) || self.window.unread()).then(|| self.read_backlog(false))
    }

    /// Reads the first `GD_WINDOW` messages of the GD backlog into the window. `for_push`: the
    /// read pushing waits for (`refilling`), which what arrives meanwhile waits for too; a pull's
    /// read runs in the pull's own turn, with nothing arriving meanwhile.
    pub(super) fn read_backlog(
        &mut self,
        for_push: bool,
    ) -> ResponseActFuture<Self, Result<(), PubSubError>> {
        self.refilling |= for_push;
        let store = self.store.clone();
        let sub_key = self.sub.sub_key.clone();
        let skip = self.in_flight_ids();
        let limit = GD_WINDOW as i64;
        Box::pin(
            async move { blocking(move || store.queue_load(&sub_key, limit, &skip)).await }
                .into_actor(self)
                .map(move |rows, act, _| act.read_answered(rows, for_push)),
        )
    }

    fn read_answered(
        &mut self,
        rows: Result<Vec<QueuedMessage>, PubSubError>,
        for_push: bool,
    ) -> Result<(), PubSubError> {
        let during = match for_push {
            true => {
                self.refilling = false;
                std::mem::take(&mut self.during_read)
            }
            false => DuringRead::default(),
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                // What arrived meanwhile is in SQL: the next read finds it.
                self.window.backlog_unknown();
                return Err(e);
            }
        };
        let full = rows.len() >= GD_WINDOW;
        for q in &rows {
            self.note_loaded(&q.message.pub_msg_id);
        }
        let entries = rows
            .into_iter()
            .map(|q| QueueEntry {
                msg: Arc::new(Message::from_stored(q.message, &self.topic_name)),
                hold: None,
                delivery_count: q.delivery_count,
                recv_time: q.creation_time,
            })
            .collect();
        self.window.replace_gd(entries, full);
        if during.stale {
            self.window.backlog_unknown();
            return Ok(());
        }
        // What arrived meanwhile, as if it arrived now: the read may have seen it or not.
        if during.woken {
            self.woken();
        }
        for (_, entry) in during.arrivals {
            self.gd_announced(entry);
        }
        if let Some(cut) = during.cut {
            self.window.mark_unread(Some(&cut));
        }
        Ok(())
    }
}
