//! Push delivery (`delivery_method = notify`): the delivery actor sends batches of
//! `delivery_batch_size` to its sink, one batch at a time, and on failure waits `wait_sock_err`
//! or `wait_non_sock_err` by the kind of error. With `delivery_err_should_block` (the default)
//! the failed batch goes back to the head of the queue — strict order; without it the batch is
//! set aside until its wait is over while later messages go on. A message whose
//! `delivery_count` reaches `delivery_max_retry` moves to the dead letters.
//!
//! **Fencing.** In a cluster a push starts only while the node's membership lease is valid
//! ([`MembershipLease`](crate::cluster::MembershipLease)): it lapses before the leader may give
//! the subscription to another node, and is valid again only once the node has read the
//! ownership table and stopped what it no longer owns. So after a pause (SIGSTOP, a lost
//! database) the old owner pushes nothing more; only the batch already under way when the
//! pause began may reach the target as well as the new owner's copy.

use std::time::Duration;

use actix::prelude::*;

use super::DeliveryActor;
use crate::error::blocking;
use crate::message::{OrderKey, QueueEntry};
use crate::sinks::{Batch, FailureKind, SinkError};

/// A failed batch waiting for its retry (`delivery_err_should_block = false`).
pub(super) struct SetAside {
    pub entries: Vec<(OrderKey, QueueEntry)>,
    pub retry_at: i64,
}

/// A subscription's wait in seconds as a `Duration`, at most 30 days whatever was stored (the
/// edges refuse more; this keeps a bad row from panicking the actor).
pub(super) fn seconds(secs: f64) -> Duration {
    const MAX: f64 = 30.0 * 86_400.0;
    Duration::from_secs_f64(if secs.is_finite() { secs.clamp(0.0, MAX) } else { MAX })
}

/// How long an explicit ack may take: `ack_timeout`, at least 1 ms.
pub(super) fn ack_wait(ack_timeout: f64) -> Duration {
    seconds(ack_timeout).max(Duration::from_millis(1))
}

/// What had happened when a push was made, which changes what its failure means.
#[derive(Clone, Copy)]
pub(super) struct PushEra {
    clears: u64,
    attaches: u64,
}

/// How long an acknowledged push's GD removal waits for a GD commit to carry it before it
/// commits on its own (nothing waits on it meanwhile: the push window has moved on).
const REMOVAL_LINGER: Duration = Duration::from_millis(2);
/// How long to wait before trying again after a storage error during push.
const STORAGE_RETRY: Duration = Duration::from_secs(1);
/// How often a delivery actor looks at an expired membership lease again.
const MEMBERSHIP_RECHECK: Duration = Duration::from_millis(50);

impl DeliveryActor {
    pub(super) fn pushes(&self) -> bool {
        self.sub.delivery_method == signalbox_schema::DeliveryMethod::Notify
    }

    /// Pushes that may be unanswered at once: `max_in_flight` for WSX subscriptions, else one,
    /// so a target sees batches strictly one after another.
    fn push_window(&self) -> usize {
        if self.sub.is_wsx {
            self.sub.max_in_flight.max(1) as usize
        } else {
            1
        }
    }

    /// Starts as many pushes as may run now; safe to call at any time.
    pub(super) fn kick(&mut self, ctx: &mut Context<Self>) {
        if !self.pushes()
            || self.refilling
            || self.switching
            || self.sink.is_none()
            || self.paused
            || self.draining
            || !self.may_push(ctx)
        {
            return;
        }
        let size = self.sub.delivery_batch_size.max(1) as usize;
        while self.pushing < self.push_window() {
            let now = self.clock.now_micros();
            if let Some(i) = self.set_aside.iter().position(|b| b.retry_at <= now) {
                let batch = self.set_aside.remove(i);
                self.push(batch.entries, Vec::new(), ctx);
                continue;
            }
            if self.blocked_until > now {
                return;
            }
            if self.window.needs_refill(size) {
                self.start_read(ctx);
                return;
            }
            let taken = self.take(size, now, Vec::new());
            if taken.handed.is_empty() {
                if !taken.expired_gd.is_empty() {
                    self.remove_in_sql(taken.expired_gd, ctx);
                }
                break;
            }
            self.push(taken.handed, taken.expired_gd, ctx);
        }
        // Commits no read has seen yet: read once the pushes that could start have started
        // (starting the read first would let a read per publication starve the pushes).
        if self.window.unread() && !self.refilling {
            self.start_read(ctx);
        }
    }

    /// Reads the backlog; no push starts until it has answered.
    fn start_read(&mut self, ctx: &mut Context<Self>) {
        let read = self.read_backlog(true);
        ctx.spawn(read.map(|result, act, ctx| match result {
            Ok(()) => act.kick(ctx),
            Err(e) => {
                act.last_error = Some(e.to_string());
                ctx.run_later(STORAGE_RETRY, |act, ctx| act.kick(ctx));
            }
        }));
    }

    /// Whether a push may start now: not once told to stop, and in a cluster only while the
    /// node's membership lease is valid (else a look again is scheduled).
    fn may_push(&mut self, ctx: &mut Context<Self>) -> bool {
        if ctx.state() != ActorState::Running {
            return false;
        }
        let Some(lease) = &self.membership else { return true };
        if lease.is_valid() {
            return true;
        }
        if !self.membership_wait {
            self.membership_wait = true;
            ctx.run_later(MEMBERSHIP_RECHECK, |act, ctx| {
                act.membership_wait = false;
                act.kick(ctx);
            });
        }
        false
    }

    /// Puts a message of a failed batch back in its place. A read of the backlog under way
    /// skipped it (it was being pushed) and replaces the window's GD part: read again after it.
    fn requeue(&mut self, key: OrderKey, entry: QueueEntry) {
        self.during_read.stale |= self.refilling && entry.msg.has_gd;
        self.window.insert(key, entry);
    }

    /// A batch (these msg_ids) is no longer under way. Answers whether it was the last push to
    /// a session that another has taken over from (pushing may start again).
    fn batch_done(&mut self, ids: &[String]) -> bool {
        let switched = self.push_slot_free();
        self.ids_done(ids);
        switched
    }

    /// One push fewer under way (its ids may still be out: see [`ids_done`](Self::ids_done)).
    /// Answers whether it was the last push to a session that another has taken over from.
    fn push_slot_free(&mut self) -> bool {
        self.pushing = self.pushing.saturating_sub(1);
        let switched = self.switching && self.pushing == 0;
        if switched {
            self.switching = false;
        }
        switched
    }

    /// These msg_ids are no longer out: a read of the backlog may find them again (they were
    /// put back), or cannot (their removal committed).
    fn ids_done(&mut self, ids: &[String]) {
        for id in ids {
            self.pushing_ids.remove(id);
        }
    }

    fn remove_in_sql(&mut self, ids: Vec<String>, ctx: &mut Context<Self>) {
        let (store, sub_key) = (self.store.clone(), self.sub.sub_key.clone());
        ctx.spawn(
            async move { blocking(move || store.queue_remove(&sub_key, &ids)).await }.into_actor(self).map(
                |result, act, _| match result {
                    Ok((_, gone)) => act.gd_gone(gone),
                    Err(e) => act.last_error = Some(e.to_string()),
                },
            ),
        );
    }

    fn push(
        &mut self,
        entries: Vec<(OrderKey, QueueEntry)>,
        expired_gd: Vec<String>,
        ctx: &mut Context<Self>,
    ) {
        let Some(sink) = &self.sink else { return };
        self.pushing += 1;
        self.pushing_ids.extend(entries.iter().map(|(_, e)| e.msg.msg_id.clone()));
        let batch = Batch {
            sub_key: self.sub.sub_key.clone(),
            messages: entries
                .iter()
                .map(|(_, e)| (e.msg.clone(), e.delivery_count + 1, e.recv_time))
                .collect(),
            unwrap_single: self.sub.delivery_batch_size == 1 && !self.sub.wrap_one_msg_in_list,
            ack_timeout: self.explicit().then(|| ack_wait(self.sub.ack_timeout)),
        };
        let delivery = sink.deliver(batch);
        let era = PushEra { clears: self.clears, attaches: self.attaches };
        ctx.spawn(delivery.into_actor(self).map(move |result, act, ctx| match result {
            Ok(()) => act.delivered(entries, expired_gd, ctx),
            Err(e) => act.failed(entries, expired_gd, e, era, ctx),
        }));
    }

    fn delivered(
        &mut self,
        entries: Vec<(OrderKey, QueueEntry)>,
        mut expired: Vec<String>,
        ctx: &mut Context<Self>,
    ) {
        self.metrics.deliveries.with_label_values(&[&self.sub.sub_key]).inc_by(entries.len() as u64);
        self.delivered += entries.len() as u64;
        let now = self.clock.now_micros();
        for (_, e) in entries.iter().filter(|(_, e)| e.delivery_count == 0) {
            self.metrics.deliver_latency.observe((now - e.msg.pub_time).max(0) as f64 / 1e6);
        }
        self.last_error = None;
        // The push slot is free at once; the GD messages stay out (no read brings them back)
        // until their removal has committed, which waits for the next GD commit to carry it.
        self.push_slot_free();
        let (gd, ram): (Vec<_>, Vec<_>) = entries.iter().map(|(_, e)| &e.msg).partition(|m| m.has_gd);
        let ram_ids: Vec<String> = ram.into_iter().map(|m| m.msg_id.clone()).collect();
        self.ids_done(&ram_ids);
        let gd_ids: Vec<String> = gd.into_iter().map(|m| m.msg_id.clone()).collect();
        expired.extend(gd_ids.iter().cloned());
        let (store, sub_key) = (self.store.clone(), self.sub.sub_key.clone());
        let sql = async move {
            blocking(move || store.queue_remove_lingering(&sub_key, &expired, REMOVAL_LINGER)).await
        };
        // In-RAM entries release their depth holds here; GD depth falls once SQL agrees.
        drop(entries);
        ctx.spawn(sql.into_actor(self).map(move |result, act, ctx| {
            act.ids_done(&gd_ids);
            match result {
                Ok((_, gone)) => {
                    act.gd_gone(gone);
                    act.kick(ctx);
                }
                Err(e) => {
                    // Delivered but not yet removed: GD messages will go out again (at least once).
                    act.last_error = Some(e.to_string());
                    act.backlog_unknown();
                    ctx.run_later(STORAGE_RETRY, |act, ctx| act.kick(ctx));
                }
            }
        }));
        self.kick(ctx);
    }

    fn failed(
        &mut self,
        entries: Vec<(OrderKey, QueueEntry)>,
        expired: Vec<String>,
        error: SinkError,
        era: PushEra,
        ctx: &mut Context<Self>,
    ) {
        let ids: Vec<String> = entries.iter().map(|(_, e)| e.msg.msg_id.clone()).collect();
        let clears = era.clears;
        if self.clears != clears {
            // The queue was cleared while this batch was under way: it does not come back.
            self.batch_done(&ids);
            self.kick(ctx);
            return;
        }
        if error.kind == FailureKind::Idle {
            // Nobody to deliver to: not an attempt. The next attach kicks delivery again (or,
            // when this was the old session's last push, the session attached meanwhile).
            let switched = self.batch_done(&ids);
            for (key, entry) in entries {
                self.requeue(key, entry);
            }
            if !expired.is_empty() {
                self.remove_in_sql(expired, ctx);
            }
            if switched || self.attaches != era.attaches {
                // A session attached since: its kick found this batch still out.
                self.kick(ctx);
            }
            return;
        }
        let kind = match error.kind {
            FailureKind::Socket => "socket",
            _ => "other",
        };
        self.metrics.push_failures.with_label_values(&[&self.sub.sub_key, kind]).inc();
        self.failed += 1;
        log::warn!("event=push_failed sub_key={} kind={kind} error={:?}", self.sub.sub_key, error.message);
        self.last_error = Some(error.message.clone());
        let wait = match error.kind {
            FailureKind::Socket => self.sub.wait_sock_err,
            _ => self.sub.wait_non_sock_err,
        };
        let max_retry = self.sub.delivery_max_retry;
        let mut retry = Vec::new();
        let (mut attempted_gd, mut dead_gd) = (Vec::new(), Vec::new());
        for (key, mut entry) in entries {
            entry.delivery_count += 1;
            if entry.msg.has_gd {
                attempted_gd.push(entry.msg.msg_id.clone());
            }
            if entry.delivery_count >= max_retry {
                self.metrics.dead_letters.with_label_values(&[&self.sub.sub_key]).inc();
                if entry.msg.has_gd {
                    dead_gd.push(entry.msg.msg_id.clone());
                } else {
                    self.bury(entry);
                }
            } else {
                retry.push((key, entry));
            }
        }
        self.metrics.redeliveries.with_label_values(&[&self.sub.sub_key]).inc_by(retry.len() as u64);
        let (store, sub_key) = (self.store.clone(), self.sub.sub_key.clone());
        let sql = async move {
            blocking(move || {
                store.queue_mark_delivered(&sub_key, &attempted_gd)?;
                if !dead_gd.is_empty() {
                    store.queue_dead_letter(&sub_key, &dead_gd)?;
                }
                store.queue_remove(&sub_key, &expired)
            })
            .await
        };
        let wait_micros = seconds(wait).as_micros() as i64;
        let blocks = self.sub.delivery_err_should_block;
        ctx.spawn(sql.into_actor(self).map(move |result, act, ctx| {
            act.batch_done(&ids);
            if let Ok((_, gone)) = result {
                act.gd_gone(gone);
            }
            if act.clears != clears {
                retry.clear(); // cleared while this SQL ran
            }
            let retry_at = act.clock.now_micros() + wait_micros;
            if blocks || retry.is_empty() {
                for (key, entry) in retry {
                    act.requeue(key, entry);
                }
                act.blocked_until = retry_at;
            } else {
                act.set_aside.push(SetAside { entries: retry, retry_at });
            }
            ctx.run_later(Duration::from_micros(wait_micros.max(0) as u64), |act, ctx| act.kick(ctx));
            act.kick(ctx);
        }));
    }
}
