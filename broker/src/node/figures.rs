//! The console's figures as this node knows them: the sampler that feeds the node's
//! [`History`](signalbox_actors::history::History) every few seconds, and this node's *share* of
//! the overview, of the per-subscription and per-topic figures and of the connections. The
//! routes (`overview.rs`, `connections.rs`) add the shares of every node of the cluster, which
//! each answers through the `cluster.console` service ([`answer_peer`]).
//!
//! Sources, so that the console and `/metrics` agree: counters and depths are read from the
//! node's Prometheus registry; a subscription's GD depth is SQL's count of deliverable rows (what
//! the `subscription_depth{kind="gd"}` gauge is set from), its in-RAM depth, in-flight messages
//! and in-RAM dead letters are its delivery actor's.
//!
//! What adds up over the cluster and what does not: each node counts its own publications,
//! deliveries, in-RAM depths and connections, and answers for the subscriptions it delivers —
//! those are summed. A topic's GD depth is read from the shared database by every node, so it
//! is the whole cluster's already — it is taken from the answering node, not summed.

use std::collections::HashMap;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use signalbox_actors::delivery::{DeliveryStatus, GetStatus};
use signalbox_actors::history::{MetricsReading, NodeSample, SubFigures, SubRates, Tick, FINE_INTERVAL};
use signalbox_actors::registry::SubEntry;
use signalbox_actors::services::ServiceError;
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::QueueFigures;

use super::error::{blocking, NodeError};
use super::sessions::DescribeSession;
use super::Node;
use crate::cluster::calls::ConsoleQuestion;

/// Starts sampling the node's figures every [`FINE_INTERVAL`], the first sample at once.
pub fn start_sampling(state: std::sync::Arc<Node>) {
    actix_rt::spawn(async move {
        let mut every = tokio::time::interval(FINE_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = sample(&state).await {
                // The next sample reads the counters again: the rates then span the gap.
                log::warn!("event=figures_not_sampled error={}", e.details);
            }
        }
    });
}

/// How long the sampler waits for a delivery actor's status (one busy with a long SQL read).
const STATUS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn sample(state: &Node) -> Result<(), NodeError> {
    let subs = state.registry.subs();
    let asks = subs.iter().map(|s| tokio::time::timeout(STATUS_WAIT, s.addr.send(GetStatus)));
    let statuses = join_all(asks).await;
    let store = state.store.clone();
    let queues = blocking(move || store.queue_figures()).await?;
    let reading = MetricsReading::of(&state.metrics);
    let now = now_micros();
    let mut figures = HashMap::with_capacity(subs.len());
    for (sub, status) in subs.iter().zip(statuses) {
        let key = &sub.sub.sub_key;
        let queue = queues.get(key).cloned().unwrap_or_default();
        match status {
            Ok(Ok(status)) => {
                figures.insert(key.clone(), sub_figures(sub, &status, &queue, &reading));
            }
            // Busy past the wait: its last figures stand, with SQL's counts of now.
            Err(_) => {
                if let Some((mut last, _, _)) = state.history.sub(key) {
                    (last.depth_gd, last.dead_gd) = (queue.ready, queue.dead);
                    figures.insert(key.clone(), last);
                }
            }
            // Stopped meanwhile: not sampled.
            Ok(Err(_)) => {}
        }
    }
    let node = NodeSample {
        time: now,
        published: reading.published,
        delivered: reading.delivered,
        acked: reading.acked,
        dead_lettered: reading.dead_lettered,
        depth_gd: reading.depth_gd,
        depth_ram: reading.depth_ram,
        dead_letters: figures.values().map(|f| f.dead_gd + f.dead_ram).sum(),
        in_flight: figures.values().map(|f| f.in_flight).sum(),
        wsx_sessions: reading.wsx_sessions,
        rest_clients: state.rest_clients.active(now) as i64,
    };
    state.history.record(Tick { node, subs: figures, published_by_topic: reading.published_by_topic });
    Ok(())
}

fn sub_figures(
    sub: &SubEntry,
    status: &DeliveryStatus,
    queue: &QueueFigures,
    reading: &MetricsReading,
) -> SubFigures {
    let key = &sub.sub.sub_key;
    SubFigures {
        topic_name: sub.topic_name.clone(),
        state: status.state.to_owned(),
        depth_gd: queue.ready,
        depth_ram: status.queue_depth_ram as i64,
        in_flight: status.in_flight as i64,
        in_flight_gd: status.in_flight_gd as i64,
        dead_gd: queue.dead,
        dead_ram: status.dead_ram as i64,
        oldest_pub_time: [queue.oldest_pub_time, status.oldest_ram].into_iter().flatten().min(),
        delivered: reading.delivered_by_sub.get(key).copied().unwrap_or(0),
        acked: reading.acked_by_sub.get(key).copied().unwrap_or(0),
    }
}

/// A rate for display: three decimals are plenty.
pub fn round(rate: f64) -> f64 {
    (rate * 1000.0).round() / 1000.0
}

/// Seconds from `micros` to `now`, never negative.
fn age(micros: i64, now: i64) -> f64 {
    round((now - micros).max(0) as f64 / 1e6)
}

/// One subscription's figures as the API answers them.
pub fn sub_json(
    node: &str,
    sub_key: &str,
    f: &SubFigures,
    sampled_at: i64,
    rates: SubRates,
    now: i64,
) -> Value {
    json!({
        "sub_key": sub_key,
        "topic_name": f.topic_name,
        "node": node,
        "state": f.state,
        "depth_gd": f.depth_gd,
        "depth_ram": f.depth_ram,
        "ready_gd": (f.depth_gd - f.in_flight_gd).max(0),
        "ready_ram": f.depth_ram,
        "in_flight": f.in_flight,
        "dead_letters": f.dead_gd + f.dead_ram,
        "deliver_rate": round(rates.deliver),
        "ack_rate": round(rates.ack),
        "oldest_pub_time": f.oldest_pub_time.map(iso),
        "oldest_age": f.oldest_pub_time.map(|t| age(t, now)),
        "sampled_at": iso(sampled_at),
    })
}

/// The figures of every subscription this node delivers, as of the last sample.
pub fn local_subscriptions(state: &Node) -> Vec<Value> {
    let now = now_micros();
    state
        .history
        .subs()
        .into_iter()
        .map(|(key, f, at, rates)| sub_json(&state.node_name, &key, &f, at, rates, now))
        .collect()
}

/// One subscription this node delivers, read now (not from the last sample), with its recent
/// history over `range` seconds; `None` when it is not delivered here.
pub async fn local_subscription(state: &Node, sub_key: &str, range: u64) -> Result<Option<Value>, NodeError> {
    let Some(sub) = state.registry.sub(sub_key) else { return Ok(None) };
    let Ok(status) = sub.addr.send(GetStatus).await else { return Ok(None) };
    let (store, key) = (state.store.clone(), sub_key.to_owned());
    let queue = blocking(move || store.queue_figures_of(&key)).await?;
    let reading = MetricsReading::of(&state.metrics);
    let figures = sub_figures(&sub, &status, &queue, &reading);
    let now = now_micros();
    let mut out = sub_json(&state.node_name, sub_key, &figures, now, state.history.sub_rates(sub_key), now);
    let series = state.history.sub_series(sub_key, range, now);
    out["history"] = json!({
        "range": range,
        "interval": series.interval,
        "points": series.points.iter().map(|p| json!({
            "time": iso(p.time), "depth_gd": p.depth_gd, "depth_ram": p.depth_ram,
            "deliver": round(p.deliver), "ack": round(p.ack),
        })).collect::<Vec<_>>(),
    });
    Ok(Some(out))
}

/// A topic's figures on one node; [`TopicShare::add`] sums them over the cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TopicShare {
    pub id: i64,
    pub name: String,
    /// The whole cluster's (read from the database by every node): not summed.
    pub depth_gd: i64,
    pub depth_ram: i64,
    pub subscriptions: i64,
    pub publish_rate: f64,
    pub deliver_rate: f64,
    pub ack_rate: f64,
    pub in_flight: i64,
    pub dead_letters: i64,
    pub oldest_pub_time: Option<i64>,
}

impl TopicShare {
    pub fn add(&mut self, other: &TopicShare) {
        self.depth_ram += other.depth_ram;
        self.subscriptions += other.subscriptions;
        self.publish_rate += other.publish_rate;
        self.deliver_rate += other.deliver_rate;
        self.ack_rate += other.ack_rate;
        self.in_flight += other.in_flight;
        self.dead_letters += other.dead_letters;
        self.oldest_pub_time = [self.oldest_pub_time, other.oldest_pub_time].into_iter().flatten().min();
    }

    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "depth_gd": self.depth_gd,
            "depth_ram": self.depth_ram,
            "subscriptions": self.subscriptions,
            "publish_rate": round(self.publish_rate),
            "deliver_rate": round(self.deliver_rate),
            "ack_rate": round(self.ack_rate),
            "in_flight": self.in_flight,
            "dead_letters": self.dead_letters,
            "oldest_pub_time": self.oldest_pub_time.map(iso),
            "oldest_age": self.oldest_pub_time.map(|t| age(t, now)),
        })
    }
}

/// Every topic's figures on this node, as of the last sample (depths as of now).
pub fn local_topics(state: &Node) -> Vec<TopicShare> {
    use std::sync::atomic::Ordering;
    let mut by_topic: HashMap<String, TopicShare> = HashMap::new();
    for (_, f, _, rates) in state.history.subs() {
        let t = by_topic.entry(f.topic_name.clone()).or_default();
        t.subscriptions += 1;
        t.deliver_rate += rates.deliver;
        t.ack_rate += rates.ack;
        t.in_flight += f.in_flight;
        t.dead_letters += f.dead_gd + f.dead_ram;
        t.oldest_pub_time = [t.oldest_pub_time, f.oldest_pub_time].into_iter().flatten().min();
    }
    state
        .registry
        .topics()
        .into_iter()
        .map(|entry| {
            let mut t = by_topic.remove(&entry.topic.name).unwrap_or_default();
            t.id = entry.topic.id;
            t.name = entry.topic.name.clone();
            t.depth_gd = entry.stats.gd.load(Ordering::Relaxed);
            t.depth_ram = entry.stats.ram.load(Ordering::Relaxed);
            t.publish_rate = state.history.topic_publish_rate(&entry.topic.name);
            t
        })
        .collect()
}

/// Rates per second over the last sampling interval.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Rates {
    pub publish: f64,
    pub deliver: f64,
    pub ack: f64,
    pub dead_letter: f64,
}

/// Counters since each node started.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Totals {
    pub published: u64,
    pub delivered: u64,
    pub acked: u64,
    pub dead_lettered: u64,
}

/// This node's share of the overview.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeShare {
    pub node: String,
    pub rates: Rates,
    pub totals: Totals,
    /// The whole cluster's: not summed.
    pub depth_gd: i64,
    pub depth_ram: i64,
    pub in_flight: i64,
    pub dead_letters: i64,
    pub wsx: i64,
    pub rest: i64,
    pub topics: i64,
    pub subscriptions: i64,
    /// When the rates and the held dead letters were sampled (µs).
    pub sampled_at: Option<i64>,
}

/// This node's share of the overview: counters and depths read now from the registry `/metrics`
/// renders, rates and held dead letters from the last sample.
pub fn local_overview(state: &Node) -> NodeShare {
    let reading = MetricsReading::of(&state.metrics);
    let latest = state.history.latest();
    let now = now_micros();
    NodeShare {
        node: state.node_name.clone(),
        rates: latest
            .map(|p| Rates {
                publish: round(p.publish),
                deliver: round(p.deliver),
                ack: round(p.ack),
                dead_letter: round(p.dead_letter),
            })
            .unwrap_or_default(),
        totals: Totals {
            published: reading.published,
            delivered: reading.delivered,
            acked: reading.acked,
            dead_lettered: reading.dead_lettered,
        },
        depth_gd: reading.depth_gd,
        depth_ram: reading.depth_ram,
        in_flight: latest.map_or(0, |p| p.sample.in_flight),
        dead_letters: latest.map_or(0, |p| p.sample.dead_letters),
        wsx: reading.wsx_sessions,
        rest: state.rest_clients.active(now) as i64,
        topics: state.registry.topics().len() as i64,
        subscriptions: state.registry.subs().len() as i64,
        sampled_at: latest.map(|p| p.time),
    }
}

/// One point of the node's history, as nodes exchange and sum them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PointShare {
    pub time: i64,
    pub publish: f64,
    pub deliver: f64,
    pub ack: f64,
    pub dead_letter: f64,
    /// The whole cluster's: not summed.
    pub depth_gd: i64,
    pub depth_ram: i64,
    pub dead_letters: i64,
    pub in_flight: i64,
    pub wsx: i64,
    pub rest: i64,
}

impl PointShare {
    pub fn add(&mut self, other: &PointShare) {
        self.publish += other.publish;
        self.deliver += other.deliver;
        self.ack += other.ack;
        self.dead_letter += other.dead_letter;
        self.depth_gd = self.depth_gd.max(other.depth_gd);
        self.depth_ram += other.depth_ram;
        self.dead_letters += other.dead_letters;
        self.in_flight += other.in_flight;
        self.wsx += other.wsx;
        self.rest += other.rest;
    }
}

/// This node's points over the last `range` seconds, and their interval.
pub fn local_history(state: &Node, range: u64) -> (u64, Vec<PointShare>) {
    let series = state.history.node_series(range, now_micros());
    let points = series
        .points
        .iter()
        .map(|p| PointShare {
            time: p.time,
            publish: p.publish,
            deliver: p.deliver,
            ack: p.ack,
            dead_letter: p.dead_letter,
            depth_gd: p.sample.depth_gd,
            depth_ram: p.sample.depth_ram,
            dead_letters: p.sample.dead_letters,
            in_flight: p.sample.in_flight,
            wsx: p.sample.wsx_sessions,
            rest: p.sample.rest_clients,
        })
        .collect();
    (series.interval, points)
}

/// This node's clients: live WSX sessions (from the sessions themselves) and REST clients.
pub async fn local_connections(state: &Node) -> (Vec<Value>, Vec<Value>) {
    let sessions = state.wsx_sessions.all();
    let infos = join_all(sessions.iter().map(|s| s.describe.send(DescribeSession))).await;
    let wsx = infos
        .into_iter()
        .flatten()
        .map(|info| {
            json!({
                "node": state.node_name,
                "session_id": info.session_id,
                "channel": info.channel,
                "endpoint": info.endpoint,
                "client_id": info.client_id,
                "client_name": info.client_name,
                "address": info.peer_address,
                "since": info.since,
                "last_seen": info.last_seen,
                "msgs_in": info.msgs_in,
                "msgs_out": info.msgs_out,
                "rate_in": round(info.rate_in),
                "rate_out": round(info.rate_out),
                "subscriptions": info.subscriptions,
            })
        })
        .collect();
    let now = now_micros();
    let rest = state
        .rest_clients
        .all()
        .iter()
        .map(|c| {
            let t = c.traffic.figures(now);
            json!({
                "node": state.node_name,
                "endpoint": c.endpoint,
                "endpoint_id": c.endpoint_id,
                "address": c.address,
                "since": iso(t.since),
                "last_seen": iso(t.last_seen),
                "active": now - t.last_seen <= crate::node::clients::ACTIVE_WITHIN,
                "msgs_in": t.msgs_in,
                "msgs_out": t.msgs_out,
                "rate_in": round(t.rate_in),
                "rate_out": round(t.rate_out),
            })
        })
        .collect();
    (wsx, rest)
}

/// Answers another node's `cluster.console` with this node's share.
pub async fn answer_peer(state: &Node, question: ConsoleQuestion) -> Result<Value, ServiceError> {
    let status = ServiceError::from;
    Ok(match question {
        ConsoleQuestion::Overview => json!(local_overview(state)),
        ConsoleQuestion::History { range } => {
            let (interval, points) = local_history(state, range);
            json!({"interval": interval, "points": points})
        }
        ConsoleQuestion::Subscriptions => Value::Array(local_subscriptions(state)),
        ConsoleQuestion::Subscription { sub_key, range } => {
            local_subscription(state, &sub_key, range).await.map_err(status)?.unwrap_or(Value::Null)
        }
        ConsoleQuestion::Topics => json!(local_topics(state)),
        ConsoleQuestion::Connections => {
            let (wsx, rest) = local_connections(state).await;
            json!({"wsx": wsx, "rest": rest})
        }
    })
}

/// Asks every other node of the cluster (none on a single node); answers (node, share) for
/// each that answered, and the names of those that did not.
pub async fn ask_peers(state: &Node, question: ConsoleQuestion) -> (Vec<(String, Value)>, Vec<String>) {
    let Some(cluster) = &state.cluster else { return (Vec::new(), Vec::new()) };
    let mut answered = Vec::new();
    let mut silent = Vec::new();
    for (node, answer) in cluster.call_all(question).await {
        match answer {
            Ok(share) => answered.push((node, share)),
            Err(e) => {
                log::warn!("event=console_share_missing node={node} error={e:?}");
                silent.push(node);
            }
        }
    }
    (answered, silent)
}
