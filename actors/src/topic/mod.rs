//! `TopicActor`: one per topic on every node.
//!
//! Owns the topic's configuration and its in-RAM depth; receives `Publish` from the edges and
//! `Attach` / `UpdateTopic` from the supervisor. A publication is checked (active, depth), given
//! its msg_id, server time and expiration, and split: GD messages go to the `GdWriter` (answered
//! after COMMIT, then handed to the local delivery actors), in-RAM messages straight to the
//! delivery actors — never through SQL. A topic with no subscription keeps every message as GD
//! for its first subscriber (or drops it, with `on_no_subs_pub = drop`). One audit line per
//! publication.

mod messages;
mod overflow;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use signalbox_schema::models::{GdOutcome, GdPublication, Topic};
use signalbox_schema::modes::{NoSubsPolicy, OverflowPolicy};

pub use messages::*;
pub use overflow::OverflowLog;

use crate::cluster::{ClusterRoute, ForwardRam, RemoteSub, WakeTopic};
use crate::delivery::{DeliveryActor, Enqueue};
use crate::error::PubSubError;
use crate::gd_writer::{GdWriter, PersistGd};
use crate::message::{new_msg_id, next_pub_time, Message, QueueEntry, RamHold};
use crate::stats::{LastPublication, TopicStats};
use crate::Metrics;

const MAILBOX: usize = 10_000;
/// Publisher-chosen msg_ids remembered per topic for in-RAM dedup, at most.
const RECENT_IDS: usize = 100_000;

pub struct TopicActor {
    topic: Arc<Topic>,
    stats: Arc<TopicStats>,
    /// Delivery actors of this topic's subscriptions that run on this node.
    subscribers: HashMap<String, Addr<DeliveryActor>>,
    gd_writer: Addr<GdWriter>,
    overflow: OverflowLog,
    metrics: Metrics,
    /// Publisher-chosen msg_id → server time of its first in-RAM publication.
    recent_ids: crate::recent::Recent<String>,
    /// Subscriptions delivered by other nodes, and how to reach them (cluster only).
    route: Option<ClusterRoute>,
    /// Publications whose GD part is committing, and any made after them, in the order they
    /// were made. Commits answer in any order; messages reach the delivery actors only from
    /// the front of this queue, so subscribers see the topic's publication order.
    handoffs: VecDeque<Handoff>,
    /// Ticket of the next publication queued in `handoffs`.
    next_ticket: u64,
    /// GD messages admitted and still committing: `max_depth_gd` counts them with the stored
    /// ones, so concurrent publishers cannot all pass the check before any commit lands.
    gd_admitted: i64,
}

type Fanned = Vec<(Arc<Message>, Option<Arc<RamHold>>)>;

/// A publication waiting for its turn to be handed to the delivery actors; `ready` once its
/// commit has answered (empty if it failed or stored nothing deliverable).
struct Handoff {
    ticket: u64,
    ready: Option<Fanned>,
}

impl TopicActor {
    pub fn new(
        topic: Arc<Topic>,
        stats: Arc<TopicStats>,
        gd_writer: Addr<GdWriter>,
        overflow: OverflowLog,
        metrics: Metrics,
        route: Option<ClusterRoute>,
    ) -> TopicActor {
        TopicActor {
            topic,
            stats,
            subscribers: HashMap::new(),
            gd_writer,
            overflow,
            metrics,
            recent_ids: crate::recent::Recent::new(RECENT_IDS),
            route,
            handoffs: VecDeque::new(),
            next_ticket: 0,
            gd_admitted: 0,
        }
    }

    /// Queues a publication's hand-off behind those still committing; answers its ticket.
    fn queue_handoff(&mut self, ready: Option<Fanned>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.handoffs.push_back(Handoff { ticket, ready });
        ticket
    }

    /// Marks a publication's messages ready and hands over every ready one at the front.
    fn handoff_ready(&mut self, ticket: u64, messages: Fanned) {
        if let Some(h) = self.handoffs.iter_mut().find(|h| h.ticket == ticket) {
            h.ready = Some(messages);
        }
        while self.handoffs.front().is_some_and(|h| h.ready.is_some()) {
            let messages = self.handoffs.pop_front().and_then(|h| h.ready).unwrap_or_default();
            if !messages.is_empty() {
                self.fan_out(&messages, next_pub_time());
            }
        }
    }

    /// Sends in-RAM messages to the nodes that deliver the topic's other subscriptions and
    /// resolves once they took them; what a node did not take (or no node owns right now) is
    /// stored as GD for those subscriptions, as Zato does, so nothing is lost. None when there
    /// is nothing to send (a single node, or no other node delivers this topic).
    fn forward_remote(
        &self,
        remote: &[RemoteSub],
        messages: &[(Arc<Message>, Option<Arc<RamHold>>)],
    ) -> Option<impl std::future::Future<Output = Result<(), PubSubError>> + 'static> {
        let forward = self.route.as_ref().map(|r| r.forward.clone())?;
        if remote.is_empty() || messages.is_empty() {
            return None;
        }
        let mut by_node: HashMap<String, Vec<String>> = HashMap::new();
        let mut orphans: Vec<String> = Vec::new();
        for sub in remote {
            match &sub.node {
                Some(node) => by_node.entry(node.clone()).or_default().push(sub.sub_key.clone()),
                None => orphans.push(sub.sub_key.clone()),
            }
        }
        let messages: Vec<Arc<Message>> = messages.iter().map(|(m, _)| m.clone()).collect();
        let (gd_writer, dedup_window) = (self.gd_writer.clone(), self.topic.dedup_window * 1_000_000);
        let metrics = self.metrics.clone();
        Some(async move {
            let sent: usize = by_node.values().map(Vec::len).sum::<usize>() * messages.len();
            let sends = by_node.into_iter().map(|(node, sub_keys)| {
                let send =
                    forward.send(ForwardRam { node, sub_keys: sub_keys.clone(), messages: messages.clone() });
                async move {
                    match send.await {
                        Ok(Ok(refused)) => refused,
                        Ok(Err(_)) | Err(_) => sub_keys,
                    }
                }
            });
            let refused: Vec<String> =
                futures_util::future::join_all(sends).await.into_iter().flatten().collect();
            let taken = sent.saturating_sub(refused.len() * messages.len());
            metrics.cluster_forwarded.with_label_values(&["taken"]).inc_by(taken as u64);
            orphans.extend(refused);
            if orphans.is_empty() {
                return Ok(());
            }
            metrics
                .cluster_forwarded
                .with_label_values(&["kept_as_gd"])
                .inc_by((orphans.len() * messages.len()) as u64);
            let publications = messages
                .iter()
                .map(|m| {
                    let stored = m.to_stored();
                    GdPublication {
                        message: stored,
                        dedup_window,
                        drop_if_no_subs: false,
                        client_msg_id: false,
                        only_sub_keys: Some(orphans.clone()),
                    }
                })
                .collect();
            gd_writer.send(PersistGd { publications }).await??;
            Ok(())
        })
    }

    /// GD messages were committed: the nodes that deliver the topic's other subscriptions read
    /// them now rather than at their next poll.
    fn wake_remote(&self, remote: &[RemoteSub]) {
        let Some(route) = &self.route else { return };
        let mut nodes: Vec<String> = remote.iter().filter_map(|s| s.node.clone()).collect();
        nodes.sort();
        nodes.dedup();
        if !nodes.is_empty() {
            route.wake.do_send(WakeTopic { topic_id: self.topic.id, nodes });
        }
    }

    fn build(&self, req: &Publish, new: NewMessage, pub_time: i64) -> Message {
        let limit = self.topic.limit_message_expiry;
        let expiration = match new.expiration {
            None | Some(0) => limit,
            Some(secs) => secs.min(limit),
        };
        let size = new.size;
        Message {
            msg_id: new.msg_id.unwrap_or_else(new_msg_id),
            topic_id: self.topic.id,
            topic_name: self.topic.name.clone(),
            published_by_id: req.endpoint_id,
            correl_id: new.correl_id,
            in_reply_to: new.in_reply_to,
            ext_client_id: new.ext_client_id,
            group_id: new.group_id,
            position_in_group: new.position_in_group,
            pub_pattern_matched: req.pattern.clone(),
            pub_time,
            ext_pub_time: new.ext_pub_time,
            expiration,
            expiration_time: pub_time.saturating_add(expiration.saturating_mul(1_000_000)),
            data: new.data,
            mime_type: new.mime_type,
            size,
            priority: new.priority,
            user_ctx: new.user_ctx,
            has_gd: new.has_gd.unwrap_or(self.topic.has_gd),
        }
    }

    /// Hands messages to every local delivery actor of the topic. A full mailbox costs the
    /// in-RAM messages for that subscription (counted, as a slow consumer); GD ones stay in SQL
    /// and the actor is told to reload.
    fn fan_out(&self, messages: &[(Arc<Message>, Option<Arc<RamHold>>)], now: i64) {
        for (sub_key, addr) in &self.subscribers {
            let entries = messages
                .iter()
                .map(|(msg, hold)| QueueEntry {
                    msg: msg.clone(),
                    hold: hold.clone(),
                    delivery_count: 0,
                    recv_time: now,
                })
                .collect();
            if addr.try_send(Enqueue { entries }).is_err() {
                self.metrics.mailbox_overflows.with_label_values(&["delivery"]).inc();
                log::warn!("event=delivery_mailbox_full sub_key={sub_key} topic={}", self.topic.name);
                if messages.iter().any(|(msg, _)| msg.has_gd) {
                    // Past the bound on purpose (one small message per full mailbox): the GD
                    // messages it missed are in SQL, and only a read finds them.
                    addr.do_send(crate::delivery::Resync);
                }
            }
        }
    }

    fn audit(&self, req: &Publish, msg: &Message, outcome: &str) {
        log::info!(
            target: "signalbox::audit",
            "event=publish cid={} topic={} endpoint={} pattern={:?} gd={} depth_gd={} depth_ram={} msg_id={} outcome={outcome}",
            req.cid,
            self.topic.name,
            req.endpoint_name,
            req.pattern,
            msg.has_gd,
            self.stats.gd.load(Ordering::Relaxed),
            self.stats.ram.load(Ordering::Relaxed),
            msg.msg_id,
        );
    }

    fn remember(&self, req: &Publish, last: Option<&Message>) {
        if let Some(m) = last {
            if let Ok(mut slot) = self.stats.last_pub.lock() {
                *slot = Some(LastPublication {
                    msg_id: m.msg_id.clone(),
                    endpoint: req.endpoint_name.clone(),
                    pub_time: m.pub_time,
                });
            }
        }
    }
}

impl Actor for TopicActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Handler<Publish> for TopicActor {
    type Result = ResponseActFuture<Self, Result<Vec<Published>, PubSubError>>;

    fn handle(&mut self, mut req: Publish, _ctx: &mut Context<Self>) -> Self::Result {
        let topic = self.topic.clone();
        if !topic.is_active {
            self.metrics.publications_rejected.with_label_values(&["inactive"]).inc();
            return Box::pin(fut::ready(Err(PubSubError::TopicInactive(topic.name.clone()))));
        }
        let now = next_pub_time();
        let remote = self.route.as_ref().map(|r| r.of_topic(topic.id)).unwrap_or_default();
        let no_subscribers = self.subscribers.is_empty() && remote.is_empty();
        let news = std::mem::take(&mut req.messages);
        let mut answers: Vec<Option<Published>> = Vec::with_capacity(news.len());
        // (position in the request, message, msg_id chosen by the publisher)
        let mut gd: Vec<(usize, Message, bool)> = Vec::new();
        let mut ram: Vec<(usize, Message, bool)> = Vec::new();
        let window = topic.dedup_window * 1_000_000;
        // Publisher-chosen msg_ids of this publication so far (a data_list may be long: no
        // rescans of it per message).
        let mut chosen_here = std::collections::HashSet::new();
        for (i, new) in news.into_iter().enumerate() {
            let client_id = new.msg_id.clone();
            let mut msg = self.build(&req, new, if i == 0 { now } else { next_pub_time() });
            if no_subscribers {
                // Kept for the first subscriber, or dropped, per `on_no_subs_pub`.
                msg.has_gd = true;
            }
            if let Some(id) = &client_id {
                // A repeat of an earlier message of this publication (GD or in RAM), or of an
                // earlier in-RAM publication (SQL knows the GD ones).
                let earlier_here = window > 0 && !chosen_here.insert(id.clone());
                let earlier_ram =
                    !msg.has_gd && self.recent_ids.get(id).is_some_and(|t| msg.pub_time - t <= window);
                if earlier_here || earlier_ram {
                    answers.push(Some(Published { msg_id: id.clone(), overflow: false }));
                    continue;
                }
            }
            answers.push(None);
            if msg.has_gd {
                gd.push((i, msg, client_id.is_some()));
            } else {
                ram.push((i, msg, client_id.is_some()));
            }
        }

        let gd_depth = self.stats.gd.load(Ordering::Relaxed) + self.gd_admitted;
        if !gd.is_empty() && gd_depth + gd.len() as i64 > topic.max_depth_gd {
            self.metrics.publications_rejected.with_label_values(&["gd_depth"]).inc();
            return Box::pin(fut::ready(Err(PubSubError::GdDepthExceeded {
                topic: topic.name.clone(),
                limit: topic.max_depth_gd,
            })));
        }
        let ram_depth = self.stats.ram.load(Ordering::Relaxed);
        let ram_over = !ram.is_empty() && ram_depth + ram.len() as i64 > topic.max_depth_non_gd;
        if ram_over && topic.on_overflow_non_gd == OverflowPolicy::Reject {
            self.metrics.publications_rejected.with_label_values(&["ram_depth"]).inc();
            return Box::pin(fut::ready(Err(PubSubError::RamDepthExceeded {
                topic: topic.name.clone(),
                limit: topic.max_depth_non_gd,
            })));
        }

        // In-RAM: straight to the delivery actors, or to the overflow log past the depth limit
        // (the whole publication in one write).
        if ram_over {
            let overflowing: Vec<&Message> = ram.iter().map(|(_, msg, _)| msg).collect();
            if let Err(e) = self.overflow.append(&overflowing) {
                log::error!("event=overflow_write_failed topic={} error={e}", topic.name);
                return Box::pin(fut::ready(Err(PubSubError::Overloaded(
                    "in-RAM depth reached and the overflow log cannot be written".into(),
                ))));
            }
            self.metrics.overflow_messages.inc_by(overflowing.len() as u64);
        }
        let mut fanned = Vec::with_capacity(ram.len());
        for (i, msg, client_id) in ram {
            if client_id && !self.recent_ids.remember(msg.msg_id.clone(), msg.pub_time, window) {
                // More publisher-chosen ids inside the window than can be remembered: this one
                // is not deduplicated against later repeats — said, not silent.
                self.metrics.mailbox_overflows.with_label_values(&["dedup"]).inc();
                log::warn!(
                    "event=dedup_memory_full topic={} remembered={}",
                    topic.name,
                    self.recent_ids.len()
                );
            }
            let overflow = ram_over;
            self.metrics.publications.with_label_values(&[&topic.name, "false"]).inc();
            self.audit(&req, &msg, if overflow { "overflow" } else { "queued" });
            answers[i] = Some(Published { msg_id: msg.msg_id.clone(), overflow });
            if !overflow {
                let hold = RamHold::new(&self.stats.ram);
                fanned.push((Arc::new(msg), Some(hold)));
            }
        }
        let forwarded = self.forward_remote(&remote, &fanned);
        if gd.is_empty() {
            if self.handoffs.is_empty() {
                self.fan_out(&fanned, now);
            } else {
                self.queue_handoff(Some(fanned.clone()));
            }
            self.remember(&req, fanned.last().map(|(m, _)| m.as_ref()));
            let answers: Vec<Published> = answers.into_iter().flatten().collect();
            return match forwarded {
                None => Box::pin(fut::ready(Ok(answers))),
                Some(forwarded) => {
                    Box::pin(fut::wrap_future(forwarded).map(move |result, _act: &mut Self, _| {
                        result?;
                        Ok(answers)
                    }))
                }
            };
        }
        // A publication mixing GD and in-RAM messages reaches the subscribers whole, after the
        // GD part has committed, so they see it in its order (and not at all if the commit fails).
        let publications = gd
            .iter()
            .map(|(_, m, client_id)| GdPublication {
                message: m.to_stored(),
                dedup_window: window,
                drop_if_no_subs: topic.on_no_subs_pub == NoSubsPolicy::Drop,
                client_msg_id: *client_id,
                only_sub_keys: None,
            })
            .collect();
        let commit = self.gd_writer.send(PersistGd { publications });
        let ticket = self.queue_handoff(None);
        let admitted = gd.len() as i64;
        self.gd_admitted += admitted;
        let both = async move {
            let forwarded = match forwarded {
                Some(forwarded) => forwarded.await,
                None => Ok(()),
            };
            (forwarded, commit.await)
        };
        Box::pin(both.into_actor(self).map(move |(forwarded, result), act, _ctx| {
            act.gd_admitted -= admitted;
            let outcomes = match (forwarded, result) {
                (Ok(()), Ok(Ok(outcomes))) => outcomes,
                (Err(e), _) | (_, Ok(Err(e))) => {
                    act.handoff_ready(ticket, Vec::new());
                    return Err(e);
                }
                (_, Err(e)) => {
                    act.handoff_ready(ticket, Vec::new());
                    return Err(e.into());
                }
            };
            let mut stored = fanned;
            // The last publication is the last message kept, queued or only retained.
            let mut last_kept = stored.last().map(|(m, _)| m.clone());
            for ((i, msg, _), outcome) in gd.into_iter().zip(outcomes) {
                match outcome {
                    GdOutcome::Conflict => {
                        act.handoff_ready(ticket, Vec::new());
                        return Err(PubSubError::MsgIdConflict(msg.msg_id));
                    }
                    GdOutcome::Duplicate => {}
                    GdOutcome::Dropped => act.audit(&req, &msg, "dropped_no_subscribers"),
                    GdOutcome::Stored { queued } => {
                        act.stats.gd.fetch_add(1, Ordering::Relaxed);
                        act.metrics.publications.with_label_values(&[&act.topic.name, "true"]).inc();
                        act.audit(&req, &msg, if queued == 0 { "retained" } else { "stored" });
                        let kept = Arc::new(msg.clone());
                        last_kept = Some(kept.clone());
                        if queued > 0 {
                            stored.push((kept, None));
                        }
                    }
                }
                answers[i] = Some(Published { msg_id: msg.msg_id, overflow: false });
            }
            act.wake_remote(&remote);
            act.remember(&req, last_kept.as_deref());
            act.handoff_ready(ticket, stored);
            Ok(answers.into_iter().flatten().collect())
        }))
    }
}

impl Handler<Attach> for TopicActor {
    type Result = ();

    fn handle(&mut self, msg: Attach, _ctx: &mut Context<Self>) {
        match msg.addr {
            Some(addr) => self.subscribers.insert(msg.sub_key, addr),
            None => self.subscribers.remove(&msg.sub_key),
        };
    }
}

impl Handler<UpdateTopic> for TopicActor {
    type Result = ();

    fn handle(&mut self, msg: UpdateTopic, _ctx: &mut Context<Self>) {
        self.topic = msg.0;
    }
}

impl Handler<CountSubscribers> for TopicActor {
    type Result = usize;

    fn handle(&mut self, _msg: CountSubscribers, _ctx: &mut Context<Self>) -> usize {
        self.subscribers.len()
    }
}

#[cfg(test)]
mod tests;
