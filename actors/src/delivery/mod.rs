//! `DeliveryActor`: one per subscription, on its owner node only.
//!
//! **Order.** The queue is ordered by priority (9 first), then the publisher's time if it gave
//! one else the server's, then the server's time, then msg_id — in RAM (`OrderKey`) exactly as
//! in SQL (`Store::queue_load`). The actor keeps every in-RAM message and a bounded window of
//! the GD backlog in a `BTreeMap`; the rest of the backlog stays in SQL and is read back, in
//! order, when the window runs low (`Backlog`), so a deep GD queue costs disk, not memory.
//! A read is never wasted: what it found is delivered even when more was committed while it
//! ran (see `backlog`), so a steady stream of publications cannot stop delivery.
//!
//! **Order across nodes.** On a single SQLite node this node alone commits to the queue, and a
//! GD message announced by the topic actor (after its commit) goes into the window in its
//! place. With a fenced store — every node on PostgreSQL, one alone included, is a cluster
//! member — other nodes commit to the queue too, and their commits are announced later, by a
//! wake-up (`Resync`), if at all. The rule there: a GD message announced here, and everything
//! ordered after it, goes out only after a read of the backlog that started after the
//! announcement; a wake-up holds back everything ordered after what the window holds, until
//! such a read. Meanwhile what earlier reads found keeps going out. So a GD message never goes
//! out ahead of one committed before it was published, wherever each was published (that read
//! sees every earlier commit); a message committed elsewhere whose order key is earlier than
//! messages already read (a higher priority, or another node's clock) takes its place among
//! what is not yet delivered when it is read, after what went out before. In-RAM messages are
//! not in SQL and are queued at once: one may go out ahead of a GD message committed elsewhere
//! that no read has seen yet.
//!
//! **Ack.** A message leaves the queue only when handed over and acknowledged — at once with
//! `ack_mode = auto`, or by `Ack` within `ack_timeout` with `explicit` (else it goes back in its
//! place, `delivery_count` + 1) — or when it expires, or when `delivery_count` reaches
//! `delivery_max_retry` (then it moves to the dead-letter list). GD removals are committed
//! before the pull that caused them is answered, so an answered auto-ack pull is never
//! delivered twice, and an acknowledged message never comes back.
//!
//! Receives `Enqueue` from its topic actor, `Pull` / `Ack` from the edges, admin commands;
//! talks only to the `Store`.

mod backlog;
mod messages;
mod push;
mod window;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use signalbox_schema::models::{GdPublication, Subscription};
use signalbox_schema::Store;

pub use messages::*;
use window::Window;

use crate::cluster::MembershipLease;
use crate::error::{blocking, PubSubError};
use crate::message::{Message, OrderKey, QueueEntry};
use crate::sinks::{Sink, SinkDeps};
use crate::stats::TopicStats;
use crate::time::Clock;
use crate::Metrics;

const MAILBOX: usize = 10_000;
/// GD messages kept in RAM per subscription at most; the rest wait in SQL.
const GD_WINDOW: usize = 1_000;
/// In-RAM dead letters kept per subscription at most (oldest dropped first, counted).
const MAX_RAM_DEAD: usize = 10_000;

/// A handed-over message waiting for its ack.
#[derive(Debug, Clone)]
struct Lease {
    key: OrderKey,
    entry: QueueEntry,
    /// Microseconds; past it the message goes back into the queue.
    until: i64,
}

pub struct DeliveryActor {
    sub: Arc<Subscription>,
    topic_name: String,
    store: Store,
    metrics: Metrics,
    stats: Arc<TopicStats>,
    window: Window,
    /// Handed over, waiting for an ack (explicit ack mode), by msg_id.
    in_flight: HashMap<String, Lease>,
    /// In-RAM dead letters, each with when it was dead-lettered (µs).
    dead_ram: VecDeque<(QueueEntry, i64)>,
    /// Where `notify` subscriptions push to; `None` for pull (or a target that cannot be built).
    sink: Option<Box<dyn Sink>>,
    sink_deps: SinkDeps,
    /// Batches being pushed now: one at a time, except WSX subscriptions, which may have up
    /// to `max_in_flight` pushes unanswered.
    pushing: usize,
    /// msg_ids of the batches being pushed (a read of the backlog must not bring them back).
    pushing_ids: std::collections::HashSet<String>,
    /// A read of the backlog for pushing is under way.
    refilling: bool,
    /// Another session took over while pushes to the last one were under way: nothing more is
    /// pushed until they are over, so what comes back from them goes first, in its place.
    switching: bool,
    /// What happened while that read was under way, applied when it answers.
    during_read: backlog::DuringRead,
    /// After a failure with `delivery_err_should_block`: no push before this time (µs).
    blocked_until: i64,
    /// Failed batches waiting for their retry (`delivery_err_should_block = false`).
    set_aside: Vec<push::SetAside>,
    /// `QueueCommand::Clear`s so far: a push made before one does not requeue its batch on failure.
    clears: u64,
    /// Sessions attached so far: a push that found nobody is retried at once if one came since.
    attaches: u64,
    /// Deliveries stopped by an admin; messages keep queueing.
    paused: bool,
    /// Being handed over to another node: nothing more is delivered from here.
    draining: bool,
    /// Why the last delivery attempt failed, for admins.
    last_error: Option<String>,
    /// GD msg_ids read from SQL by recent refills. A message committed just before a refill is
    /// read by it and also announced by its topic actor a moment later; the announcement must
    /// not queue it a second time.
    loaded_recently: (VecDeque<String>, std::collections::HashSet<String>),
    /// Messages handed over and failed attempts, since the actor started.
    delivered: u64,
    failed: u64,
    started_at: i64,
    /// Every time the actor reads (leases, expiry, retry waits); the wall clock but in tests.
    clock: Clock,
    /// In a cluster, this node's membership lease: no push starts while it is not valid (the
    /// node may no longer own the subscription). None on a single node.
    membership: Option<MembershipLease>,
    /// A look at `membership` is scheduled (pushes wait for it to be valid again).
    membership_wait: bool,
}

/// What a pull decided before touching SQL; undone if SQL fails.
struct Taken {
    handed: Vec<(OrderKey, QueueEntry)>,
    expired_gd: Vec<String>,
    dead_gd: Vec<String>,
}

impl DeliveryActor {
    pub fn new(
        sub: Arc<Subscription>,
        topic_name: String,
        store: Store,
        metrics: Metrics,
        stats: Arc<TopicStats>,
        sink_deps: SinkDeps,
    ) -> DeliveryActor {
        let mut actor = DeliveryActor {
            sub,
            topic_name,
            store,
            metrics,
            stats,
            window: Window::new(GD_WINDOW),
            in_flight: HashMap::new(),
            dead_ram: VecDeque::new(),
            sink: None,
            sink_deps,
            pushing: 0,
            pushing_ids: Default::default(),
            refilling: false,
            switching: false,
            during_read: Default::default(),
            blocked_until: 0,
            set_aside: Vec::new(),
            clears: 0,
            attaches: 0,
            paused: false,
            draining: false,
            last_error: None,
            loaded_recently: Default::default(),
            delivered: 0,
            failed: 0,
            started_at: crate::time::now_micros(),
            clock: Clock::wall(),
            membership: None,
            membership_wait: false,
        };
        actor.build_sink();
        actor
    }

    /// The same actor reading `clock` instead of the wall clock (tests that control time).
    pub fn with_clock(mut self, clock: Clock) -> DeliveryActor {
        self.started_at = clock.now_micros();
        self.clock = clock;
        self
    }

    /// The same actor pushing only while `lease` is valid (a subscription owned in a cluster).
    pub fn with_membership(mut self, lease: MembershipLease) -> DeliveryActor {
        self.membership = Some(lease);
        self
    }

    fn build_sink(&mut self) {
        self.sink = match (&self.sub.push_config, self.pushes()) {
            (Some(config), true) => match crate::sinks::build(config, &self.sub.sub_key, &self.sink_deps) {
                Ok(sink) => Some(sink),
                Err(e) => {
                    log::error!("event=push_target_unusable sub_key={} error={e}", self.sub.sub_key);
                    self.last_error = Some(e);
                    None
                }
            },
            _ => None,
        };
    }

    fn explicit(&self) -> bool {
        self.sub.ack_mode == signalbox_schema::AckMode::Explicit
    }

    /// Leases past their time go back into the queue, or to the dead letters once
    /// `delivery_count` has reached `delivery_max_retry`. Answers the GD ones dead-lettered.
    fn expire_leases(&mut self, now: i64) -> Vec<String> {
        let expired: Vec<String> =
            self.in_flight.iter().filter(|(_, l)| l.until <= now).map(|(id, _)| id.clone()).collect();
        let mut dead_gd = Vec::new();
        for id in expired {
            let Some(lease) = self.in_flight.remove(&id) else { continue };
            if lease.entry.delivery_count >= self.sub.delivery_max_retry {
                self.metrics.dead_letters.with_label_values(&[&self.sub.sub_key]).inc();
                if lease.entry.msg.has_gd {
                    dead_gd.push(id);
                } else {
                    self.bury(lease.entry);
                }
            } else {
                self.metrics.redeliveries.with_label_values(&[&self.sub.sub_key]).inc();
                self.window.insert(lease.key, lease.entry);
            }
        }
        dead_gd
    }

    fn bury(&mut self, mut entry: QueueEntry) {
        // A dead letter no longer counts toward the topic's in-RAM depth.
        entry.hold = None;
        if self.dead_ram.len() >= MAX_RAM_DEAD {
            self.dead_ram.pop_front();
            self.metrics.mailbox_overflows.with_label_values(&["dead_letters"]).inc();
        }
        self.dead_ram.push_back((entry, self.clock.now_micros()));
    }

    fn take(&mut self, max: usize, now: i64, dead_gd: Vec<String>) -> Taken {
        let mut taken = Taken { handed: Vec::new(), expired_gd: Vec::new(), dead_gd };
        // Hashes of the msg_ids handed in this call (a collision only makes one wait a turn).
        let hasher = std::collections::hash_map::RandomState::new();
        let mut handed_ids = std::collections::HashSet::new();
        while taken.handed.len() < max {
            let Some((key, entry)) = self.window.pop_deliverable() else { break };
            let id_hash = std::hash::BuildHasher::hash_one(&hasher, &entry.msg.msg_id);
            if self.out_now(&entry.msg.msg_id) || !handed_ids.insert(id_hash) {
                // A publisher's in-RAM repeat of a msg_id that is out now: it waits, in its
                // place, until that one is answered (two leases cannot share a msg_id).
                self.window.insert(key, entry);
                break;
            }
            if entry.msg.is_expired(now) {
                self.metrics.expired.inc();
                if entry.msg.has_gd {
                    taken.expired_gd.push(entry.msg.msg_id.clone());
                }
                continue;
            }
            taken.handed.push((key, entry));
        }
        taken
    }

    /// Whether a message with this msg_id is leased or being pushed.
    fn out_now(&self, msg_id: &str) -> bool {
        self.in_flight.contains_key(msg_id) || self.pushing_ids.contains(msg_id)
    }

    /// Puts a pull's messages back where they were: its SQL step failed.
    fn undo(&mut self, taken: Taken) {
        for (key, entry) in taken.handed {
            self.window.insert(key, entry);
        }
        self.backlog_unknown();
    }

    fn gd_gone(&self, gone: usize) {
        self.stats.gd.fetch_sub(gone as i64, Ordering::Relaxed);
    }
}

impl Actor for DeliveryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.kick(ctx);
    }
}

impl Handler<Enqueue> for DeliveryActor {
    type Result = ();

    fn handle(&mut self, msg: Enqueue, ctx: &mut Context<Self>) {
        for entry in msg.entries {
            if entry.msg.has_gd {
                self.gd_announced(entry);
            } else {
                // An in-RAM message is always new, even when a publisher reused a msg_id that
                // is out now.
                self.window.insert(entry.msg.order_key(), entry);
            }
        }
        self.kick(ctx);
    }
}

impl Handler<Pull> for DeliveryActor {
    type Result = AtomicResponse<Self, Result<Vec<Delivered>, PubSubError>>;

    fn handle(&mut self, msg: Pull, _ctx: &mut Context<Self>) -> Self::Result {
        if self.draining {
            let moving = PubSubError::Overloaded("the subscription is moving to another node".into());
            return AtomicResponse::new(Box::pin(fut::ready(Err(moving))));
        }
        if self.paused {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Vec::new()))));
        }
        let max = msg.max.max(1);
        let now = self.clock.now_micros();
        // Dead letters are committed before the backlog is read again, so the read cannot
        // bring them back.
        let dead_gd = self.expire_leases(now);
        let bury: ResponseActFuture<Self, Result<(), PubSubError>> = match dead_gd.is_empty() {
            true => Box::pin(fut::ready(Ok(()))),
            false => {
                let (store, sub_key) = (self.store.clone(), self.sub.sub_key.clone());
                Box::pin(
                    async move { blocking(move || store.queue_dead_letter(&sub_key, &dead_gd)).await }
                        .into_actor(self),
                )
            }
        };
        AtomicResponse::new(Box::pin(bury.then(move |buried, act, _| {
            let refill: ResponseActFuture<Self, Result<(), PubSubError>> = match buried {
                Err(e) => Box::pin(fut::ready(Err(e))),
                Ok(()) => act.refill(max).unwrap_or_else(|| Box::pin(fut::ready(Ok(())))),
            };
            refill.then(move |loaded, act, _| {
                let ready: ResponseActFuture<Self, Result<Vec<Delivered>, PubSubError>> = match loaded {
                    Err(e) => Box::pin(fut::ready(Err(e))),
                    Ok(()) => act.hand_over(max, now, Vec::new()),
                };
                ready
            })
        })))
    }
}

impl DeliveryActor {
    /// Takes up to `max` messages and commits what that means in SQL (removal with auto ack,
    /// `delivery_count` with explicit) before answering.
    fn hand_over(
        &mut self,
        max: usize,
        now: i64,
        dead_gd: Vec<String>,
    ) -> ResponseActFuture<Self, Result<Vec<Delivered>, PubSubError>> {
        let taken = self.take(max, now, dead_gd);
        let explicit = self.explicit();
        let gd_ids: Vec<String> =
            taken.handed.iter().filter(|(_, e)| e.msg.has_gd).map(|(_, e)| e.msg.msg_id.clone()).collect();
        let expired = taken.expired_gd.clone();
        let dead = taken.dead_gd.clone();
        let store = self.store.clone();
        let sub_key = self.sub.sub_key.clone();
        let sql = async move {
            blocking(move || {
                let mut gone = 0;
                if explicit {
                    store.queue_mark_delivered(&sub_key, &gd_ids)?;
                } else {
                    gone += store.queue_remove(&sub_key, &gd_ids)?.1;
                }
                gone += store.queue_remove(&sub_key, &expired)?.1;
                if !dead.is_empty() {
                    store.queue_dead_letter(&sub_key, &dead)?;
                }
                Ok(gone)
            })
            .await
        };
        Box::pin(sql.into_actor(self).map(move |result, act, _| {
            let gone = match result {
                Ok(gone) => gone,
                Err(e) => {
                    act.undo(taken);
                    return Err(e);
                }
            };
            act.gd_gone(gone);
            let ack_timeout = push::ack_wait(act.sub.ack_timeout).as_micros() as i64;
            let mut out = Vec::with_capacity(taken.handed.len());
            for (key, mut entry) in taken.handed {
                entry.delivery_count += 1;
                if entry.delivery_count == 1 {
                    act.metrics.deliver_latency.observe((now - entry.msg.pub_time).max(0) as f64 / 1e6);
                }
                out.push(Delivered {
                    msg: entry.msg.clone(),
                    delivery_count: entry.delivery_count,
                    recv_time: entry.recv_time,
                });
                if explicit {
                    let id = entry.msg.msg_id.clone();
                    act.in_flight.insert(id, Lease { key, entry, until: now.saturating_add(ack_timeout) });
                }
            }
            act.metrics.deliveries.with_label_values(&[&act.sub.sub_key]).inc_by(out.len() as u64);
            act.delivered += out.len() as u64;
            Ok(out)
        }))
    }
}

impl Handler<Ack> for DeliveryActor {
    type Result = AtomicResponse<Self, Result<AckOutcome, PubSubError>>;

    fn handle(&mut self, msg: Ack, _ctx: &mut Context<Self>) -> Self::Result {
        let mut outcome = AckOutcome::default();
        let mut leases = Vec::new();
        for id in msg.msg_ids {
            match self.in_flight.remove(&id) {
                Some(lease) => leases.push((id, lease)),
                None => outcome.unknown.push(id),
            }
        }
        let gd_ids: Vec<String> =
            leases.iter().filter(|(_, l)| l.entry.msg.has_gd).map(|(id, _)| id.clone()).collect();
        let store = self.store.clone();
        let sub_key = self.sub.sub_key.clone();
        let sql = async move { blocking(move || store.queue_remove(&sub_key, &gd_ids)).await };
        AtomicResponse::new(Box::pin(sql.into_actor(self).map(move |result, act, _| match result {
            Ok((_, gone)) => {
                act.gd_gone(gone);
                outcome.acked = leases.len();
                act.metrics.acks.with_label_values(&[&act.sub.sub_key]).inc_by(leases.len() as u64);
                Ok(outcome)
            }
            Err(e) => {
                for (id, lease) in leases {
                    act.in_flight.insert(id, lease);
                }
                Err(e)
            }
        })))
    }
}

impl Handler<BrowseRam> for DeliveryActor {
    type Result = MessageResult<BrowseRam>;

    fn handle(&mut self, msg: BrowseRam, _ctx: &mut Context<Self>) -> Self::Result {
        let key = Some(self.sub.sub_key.as_str());
        let view = |e: &QueueEntry| e.msg.to_external(key, e.delivery_count, e.recv_time);
        let mut out: Vec<(OrderKey, serde_json::Value)> = if msg.dead {
            self.dead_ram
                .iter()
                .map(|(e, at)| {
                    let mut row = view(e);
                    row["dead_letter_time_iso"] = serde_json::json!(crate::time::iso(*at));
                    (e.msg.order_key(), row)
                })
                .collect()
        } else {
            self.window
                .iter()
                .filter(|(_, e)| !e.msg.has_gd)
                .map(|(k, e)| (k.clone(), view(e)))
                .chain(
                    self.in_flight
                        .values()
                        .filter(|l| !l.entry.msg.has_gd)
                        .map(|l| (l.key.clone(), view(&l.entry))),
                )
                .collect()
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        MessageResult(out)
    }
}

impl Handler<EditMessage> for DeliveryActor {
    type Result = bool;

    fn handle(&mut self, msg: EditMessage, _ctx: &mut Context<Self>) -> bool {
        let mut found = self.window.replace(&msg.msg);
        if !found && msg.msg.has_gd {
            // Not in the window, so in SQL: its new place may now come before the window's
            // bound (a raised priority), so the backlog is read again.
            self.backlog_unknown();
        }
        if let Some(lease) = self.in_flight.get_mut(&msg.msg.msg_id) {
            lease.entry.msg = msg.msg.clone();
            lease.key = msg.msg.order_key();
            found = true;
        }
        for (entry, _) in self.dead_ram.iter_mut().filter(|(e, _)| e.msg.msg_id == msg.msg.msg_id) {
            entry.msg = msg.msg.clone();
            found = true;
        }
        found
    }
}

impl Handler<FindMessage> for DeliveryActor {
    type Result = Option<Arc<Message>>;

    fn handle(&mut self, msg: FindMessage, _ctx: &mut Context<Self>) -> Self::Result {
        self.window
            .iter()
            .map(|(_, e)| &e.msg)
            .chain(self.in_flight.values().map(|l| &l.entry.msg))
            .chain(self.dead_ram.iter().map(|(e, _)| &e.msg))
            .find(|m| m.msg_id == msg.msg_id)
            .cloned()
    }
}

impl Handler<RemoveMessage> for DeliveryActor {
    type Result = bool;

    fn handle(&mut self, msg: RemoveMessage, _ctx: &mut Context<Self>) -> bool {
        let in_window = self.window.remove(&msg.msg_id).is_some();
        let in_flight = self.in_flight.remove(&msg.msg_id).is_some();
        let before = self.dead_ram.len();
        self.dead_ram.retain(|(e, _)| e.msg.msg_id != msg.msg_id);
        in_window || in_flight || before != self.dead_ram.len()
    }
}

impl Handler<QueueCommand> for DeliveryActor {
    type Result = AtomicResponse<Self, Result<usize, PubSubError>>;

    fn handle(&mut self, cmd: QueueCommand, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let sub_key = self.sub.sub_key.clone();
        let sql = async move {
            blocking(move || match cmd {
                QueueCommand::Clear => store.queue_purge(&sub_key, false),
                QueueCommand::PurgeDead => store.queue_purge(&sub_key, true),
                QueueCommand::RequeueDead => store.dead_letters_requeue(&sub_key).map(|n| (n, 0)),
            })
            .await
        };
        AtomicResponse::new(Box::pin(sql.into_actor(self).map(move |result, act, _| {
            let (rows, gone) = result?;
            act.gd_gone(gone);
            let ram = match cmd {
                QueueCommand::Clear => {
                    // Set-aside batches are queued messages too; batches under way are dropped
                    // when they fail (see `clears`).
                    let set_aside = std::mem::take(&mut act.set_aside);
                    act.clears += 1;
                    // A read of the backlog under way may have seen the rows just purged.
                    act.during_read.stale |= act.refilling;
                    let n = act.window.iter().filter(|(_, e)| !e.msg.has_gd).count()
                        + act.in_flight.values().filter(|l| !l.entry.msg.has_gd).count()
                        + set_aside.iter().flat_map(|b| &b.entries).filter(|(_, e)| !e.msg.has_gd).count();
                    act.window.clear();
                    act.in_flight.clear();
                    n
                }
                QueueCommand::PurgeDead => std::mem::take(&mut act.dead_ram).len(),
                QueueCommand::RequeueDead => {
                    let dead = std::mem::take(&mut act.dead_ram);
                    let n = dead.len();
                    for (mut entry, _) in dead {
                        entry.delivery_count = 0;
                        entry.hold = Some(crate::message::RamHold::new(&act.stats.ram));
                        act.window.insert(entry.msg.order_key(), entry);
                    }
                    act.backlog_unknown();
                    n
                }
            };
            Ok(rows + ram)
        })))
    }
}

impl Handler<UpdateSubscription> for DeliveryActor {
    type Result = ();

    fn handle(&mut self, msg: UpdateSubscription, ctx: &mut Context<Self>) {
        let target_changed =
            msg.0.push_config != self.sub.push_config || msg.0.delivery_method != self.sub.delivery_method;
        self.sub = msg.0;
        if target_changed {
            self.build_sink();
        }
        self.kick(ctx);
    }
}

impl Handler<Resync> for DeliveryActor {
    type Result = ();

    fn handle(&mut self, _msg: Resync, ctx: &mut Context<Self>) {
        self.woken();
        self.kick(ctx);
    }
}

impl Handler<AttachSession> for DeliveryActor {
    type Result = ();

    fn handle(&mut self, msg: AttachSession, ctx: &mut Context<Self>) {
        self.switching = self.pushing > 0;
        if let Some(sink) = self.sink.as_mut() {
            sink.attach_session(msg.0);
        }
        self.attaches += 1;
        self.kick(ctx);
    }
}

impl Handler<DetachSession> for DeliveryActor {
    type Result = bool;

    fn handle(&mut self, msg: DetachSession, _ctx: &mut Context<Self>) -> bool {
        self.sink.as_mut().is_some_and(|sink| sink.detach_session(&msg.0))
    }
}

impl Handler<GetStatus> for DeliveryActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _msg: GetStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let (gd, ram) =
            self.window
                .iter()
                .fold((0, 0), |(gd, ram), (_, e)| if e.msg.has_gd { (gd + 1, ram) } else { (gd, ram + 1) });
        // The oldest in-RAM message queued here (GD ones are SQL's to tell).
        let oldest_ram = self
            .window
            .iter()
            .map(|(_, e)| e)
            .chain(self.in_flight.values().map(|l| &l.entry))
            .filter(|e| !e.msg.has_gd)
            .map(|e| e.msg.pub_time)
            .min();
        let state = if self.paused {
            "paused"
        } else if self.blocked_until > self.clock.now_micros() {
            "waiting"
        } else {
            "running"
        };
        MessageResult(DeliveryStatus {
            state,
            queue_depth_ram: ram,
            queue_depth_gd: gd,
            in_flight: self.in_flight.len(),
            in_flight_gd: self.in_flight.values().filter(|l| l.entry.msg.has_gd).count(),
            dead_ram: self.dead_ram.len(),
            oldest_ram,
            delivered: self.delivered,
            failed: self.failed,
            last_error: self.last_error.clone(),
            since: self.started_at,
        })
    }
}

impl Handler<Control> for DeliveryActor {
    type Result = ();

    fn handle(&mut self, msg: Control, ctx: &mut Context<Self>) {
        log::info!("event=delivery_control sub_key={} command={msg:?}", self.sub.sub_key);
        match msg {
            Control::Pause => self.paused = true,
            Control::Resume => self.paused = false,
            Control::Restart => {
                // Set-aside batches go back in their place; the GD window is read again (and
                // again after a read under way, which skipped the set-aside GD messages).
                for batch in std::mem::take(&mut self.set_aside) {
                    for (key, entry) in batch.entries {
                        self.window.insert(key, entry);
                    }
                }
                self.backlog_unknown();
                self.blocked_until = 0;
                self.metrics.actor_restarts.with_label_values(&["delivery"]).inc();
            }
            Control::Crash => {
                panic!("fault injection: delivery actor {} crashed on request", self.sub.sub_key)
            }
        }
        self.kick(ctx);
    }
}

impl Handler<Drain> for DeliveryActor {
    type Result = ResponseFuture<Result<(), PubSubError>>;

    fn handle(&mut self, _msg: Drain, ctx: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        let (me, store, sub_key) = (ctx.address(), self.store.clone(), self.sub.sub_key.clone());
        Box::pin(async move {
            let entries = loop {
                match me.send(TakeRam).await {
                    Ok(Some(entries)) => break entries,
                    Ok(None) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    Err(_) => return Ok(()),
                }
            };
            if entries.is_empty() {
                return Ok(());
            }
            let kept = entries.len();
            let publications: Vec<GdPublication> = entries
                .iter()
                .map(|e| {
                    let message = e.msg.to_stored();
                    GdPublication {
                        message,
                        dedup_window: 0,
                        drop_if_no_subs: false,
                        client_msg_id: false,
                        only_sub_keys: Some(vec![sub_key.clone()]),
                    }
                })
                .collect();
            blocking(move || store.gd_commit(&publications)).await?;
            log::info!("event=delivery_drained sub_key={sub_key} ram_kept_as_gd={kept}");
            Ok(())
        })
    }
}

impl Handler<TakeRam> for DeliveryActor {
    type Result = Option<Vec<QueueEntry>>;

    fn handle(&mut self, _msg: TakeRam, _ctx: &mut Context<Self>) -> Self::Result {
        // Not while a push is under way, nor while acknowledged GD messages wait for their
        // removal to commit (the next owner reads the queue from SQL).
        if self.pushing > 0 || !self.pushing_ids.is_empty() {
            return None;
        }
        let mut entries = self.window.take_ram();
        let leased = self.in_flight.drain().map(|(_, lease)| lease.entry).filter(|e| !e.msg.has_gd);
        entries.extend(leased);
        for batch in std::mem::take(&mut self.set_aside) {
            entries.extend(batch.entries.into_iter().map(|(_, e)| e).filter(|e| !e.msg.has_gd));
        }
        Some(entries)
    }
}

impl Handler<StopDelivery> for DeliveryActor {
    type Result = ();

    fn handle(&mut self, _msg: StopDelivery, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
