//! The node's Prometheus registry and the series every part of the node adds to.

use std::ops::Deref;
use std::sync::Arc;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Every series the node exports at `/metrics`, shared: a clone is one pointer, so each of the
/// many actors that count (one per subscription) holds a word, not the whole set of handles.
#[derive(Clone)]
pub struct Metrics(Arc<Series>);

impl Deref for Metrics {
    type Target = Series;

    fn deref(&self) -> &Series {
        &self.0
    }
}

/// The series themselves (reached through [`Metrics`]).
pub struct Series {
    pub registry: Registry,
    /// Admin API calls by method family and resulting status class.
    pub admin_requests: IntCounterVec,
    /// Failed authentications on the pub/sub API, by method (`basic`, `api_key`).
    pub auth_failures: IntCounterVec,
    /// Publications accepted, by topic and GD flag.
    pub publications: IntCounterVec,
    /// Publications refused, by reason (`inactive`, `depth`, `overflow_reject`, …).
    pub publications_rejected: IntCounterVec,
    /// In-RAM publications written to the overflow file instead of a queue.
    pub overflow_messages: IntCounter,
    /// Messages handed to subscribers, by subscription.
    pub deliveries: IntCounterVec,
    /// Messages acknowledged by subscribers.
    pub acks: IntCounterVec,
    /// Messages handed over again after a lease ran out.
    pub redeliveries: IntCounterVec,
    /// Failed push attempts, by subscription and kind (`socket`, `other`).
    pub push_failures: IntCounterVec,
    /// Messages moved to a dead-letter list.
    pub dead_letters: IntCounterVec,
    /// Messages dropped because they expired before delivery.
    pub expired: IntCounter,
    /// Current depth per topic and kind (`gd`, `ram`).
    pub topic_depth: IntGaugeVec,
    /// Current depth per subscription and kind (`gd`, `ram`).
    pub subscription_depth: IntGaugeVec,
    /// Publications per GD group commit.
    pub gd_batch_size: Histogram,
    /// Seconds per GD group commit, COMMIT included.
    pub gd_commit_seconds: Histogram,
    /// Live WSX sessions (logged in).
    pub wsx_sessions: prometheus::IntGauge,
    /// WSX frames by direction (`in`, `out`).
    pub wsx_frames: IntCounterVec,
    /// `zwsx.psrq` pushes sent, and explicit acks received for them.
    pub wsx_pushes: IntCounter,
    pub wsx_acks: IntCounter,
    /// WSX connections closed, by close code.
    pub wsx_closes: IntCounterVec,
    /// 1 while a WSX link is connected, by link.
    pub link_connected: IntGaugeVec,
    /// Actors restarted (by an admin command or after failing), by kind.
    pub actor_restarts: IntCounterVec,
    /// Seconds from publication to hand-over (pull) or successful push.
    pub deliver_latency: Histogram,
    /// Messages refused because a bounded mailbox or queue was full, by where.
    pub mailbox_overflows: IntCounterVec,
    /// Cluster: 1 while this node is the leader; live nodes as this node last read them.
    pub cluster_leader: prometheus::IntGauge,
    pub cluster_nodes_live: prometheus::IntGauge,
    /// Cluster: in-RAM messages sent to another node, by outcome (`taken`, `kept_as_gd`).
    pub cluster_forwarded: IntCounterVec,
    /// Cluster: subscriptions this node handed over to another.
    pub cluster_handovers: IntCounter,
}

impl Metrics {
    /// Drops every series of a deleted subscription, so `/metrics` does not grow with every
    /// subscription ever made.
    pub fn forget_subscription(&self, sub_key: &str) {
        for series in [&self.deliveries, &self.acks, &self.redeliveries, &self.dead_letters] {
            series.remove_label_values(&[sub_key]).ok();
        }
        for kind in ["socket", "other"] {
            self.push_failures.remove_label_values(&[sub_key, kind]).ok();
        }
        for kind in ["gd", "ram"] {
            self.subscription_depth.remove_label_values(&[sub_key, kind]).ok();
        }
    }

    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("signalbox".into()), None).expect("valid prefix");
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h =
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric");
            registry.register(Box::new(h.clone())).expect("unique metric");
            h
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let metrics = Series {
            admin_requests: counter_vec(
                "admin_requests_total",
                "Admin API requests by method and status class.",
                &["method", "status"],
            ),
            auth_failures: counter_vec(
                "auth_failures_total",
                "Failed pub/sub API authentications.",
                &["method"],
            ),
            publications: counter_vec("publications_total", "Publications accepted.", &["topic", "gd"]),
            publications_rejected: counter_vec(
                "publications_rejected_total",
                "Publications refused.",
                &["reason"],
            ),
            overflow_messages: counter(
                "overflow_messages_total",
                "In-RAM publications written to the overflow file.",
            ),
            deliveries: counter_vec("deliveries_total", "Messages handed to subscribers.", &["sub_key"]),
            acks: counter_vec("acks_total", "Messages acknowledged.", &["sub_key"]),
            redeliveries: counter_vec(
                "redeliveries_total",
                "Messages handed over again after their lease ran out.",
                &["sub_key"],
            ),
            push_failures: counter_vec("push_failures_total", "Failed push attempts.", &["sub_key", "kind"]),
            dead_letters: counter_vec("dead_letters_total", "Messages dead-lettered.", &["sub_key"]),
            expired: counter("expired_messages_total", "Messages expired before delivery."),
            topic_depth: gauge_vec("topic_depth", "Messages held per topic.", &["topic", "kind"]),
            subscription_depth: gauge_vec(
                "subscription_depth",
                "Messages queued per subscription.",
                &["sub_key", "kind"],
            ),
            gd_batch_size: histogram(
                "gd_commit_batch_size",
                "Publications per GD group commit.",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            ),
            gd_commit_seconds: histogram(
                "gd_commit_seconds",
                "Time per GD group commit.",
                vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0],
            ),
            wsx_sessions: {
                let g =
                    prometheus::IntGauge::new("wsx_sessions", "Live WSX sessions.").expect("valid metric");
                registry.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            wsx_frames: counter_vec("wsx_frames_total", "WSX frames.", &["direction"]),
            wsx_pushes: counter("wsx_pushes_total", "WSX pub/sub pushes sent."),
            wsx_acks: counter("wsx_acks_total", "WSX pushes acknowledged by clients."),
            wsx_closes: counter_vec("wsx_closes_total", "WSX connections closed, by code.", &["code"]),
            link_connected: gauge_vec("link_connected", "1 while a WSX link is connected.", &["link"]),
            actor_restarts: counter_vec("actor_restarts_total", "Actors restarted.", &["kind"]),
            deliver_latency: histogram(
                "publish_to_deliver_seconds",
                "Time from publication to delivery.",
                vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0],
            ),
            mailbox_overflows: counter_vec(
                "mailbox_overflows_total",
                "Messages refused by a full bounded mailbox or queue.",
                &["where"],
            ),
            cluster_leader: {
                let g = prometheus::IntGauge::new("cluster_leader", "1 while this node leads the cluster.")
                    .expect("valid metric");
                registry.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            cluster_nodes_live: {
                let g = prometheus::IntGauge::new("cluster_nodes_live", "Live nodes of the cluster.")
                    .expect("valid metric");
                registry.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            cluster_forwarded: counter_vec(
                "cluster_forwarded_total",
                "In-RAM messages for subscriptions delivered by other nodes.",
                &["outcome"],
            ),
            cluster_handovers: counter(
                "cluster_handovers_total",
                "Subscriptions handed over to another node.",
            ),
            registry,
        };
        // Series whose labels are known in advance exist from the start, at 0: a dashboard's
        // `rate()` sees their first increase, and a query naming them finds them.
        for place in ["delivery", "dedup", "dead_letters", "wsx_output"] {
            metrics.mailbox_overflows.with_label_values(&[place]);
        }
        for outcome in ["taken", "kept_as_gd"] {
            metrics.cluster_forwarded.with_label_values(&[outcome]);
        }
        Metrics(Arc::new(metrics))
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut out = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
