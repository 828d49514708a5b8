//! One run: a system set up for a scenario, publishers driven for a while (as fast as a bounded
//! window allows, or at a fixed rate), subscribers given time to receive everything, then every
//! subscriber's tracker folded into one [`Outcome`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use serde::Serialize;
use tokio::sync::watch;

use crate::check::Tracker;
use crate::payload;
use crate::systems::{
    nats, rabbitmq, signalbox, Cleanup, Prepared, Publisher, Scenario, SubscriberContext, System,
};

/// How hard the publishers push.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// As fast as possible with at most `in_flight` unconfirmed messages per publisher.
    Max { in_flight: usize },
    /// Open loop: `per_sec` messages a second across all publishers, each due at its own time
    /// whatever happened to the previous one.
    Rate { per_sec: u64 },
}

/// Where the brokers are.
pub struct Targets {
    pub node: Option<signalbox::Node>,
    pub amqp_url: String,
    pub nats_url: String,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub system: System,
    pub scenario: Scenario,
    pub load: Load,
    /// Messages the publishers sent (and, where the system confirms, had confirmed).
    pub published: u64,
    pub publish_secs: f64,
    /// Published messages per second, counted until the last one was delivered everywhere.
    pub msgs_per_sec: f64,
    /// Deliveries (messages × subscribers) per second.
    pub deliveries_per_sec: f64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub misordered: u64,
    pub malformed: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Load average (1 min) when the run started: other work on the machine.
    pub load_avg: f64,
    /// Why the run stopped early, if it did (e.g. a client was cut off).
    pub error: Option<String>,
}

impl Outcome {
    pub fn correct(&self) -> bool {
        self.error.is_none()
            && self.lost == 0
            && self.duplicates == 0
            && self.misordered == 0
            && self.malformed == 0
    }

    /// A run that failed before it could be measured.
    pub fn failed(system: System, scenario: Scenario, load: Load, error: &anyhow::Error) -> Outcome {
        Outcome {
            system,
            scenario,
            load,
            published: 0,
            publish_secs: 0.0,
            msgs_per_sec: 0.0,
            deliveries_per_sec: 0.0,
            delivered: 0,
            lost: 0,
            duplicates: 0,
            misordered: 0,
            malformed: 0,
            p50_us: 0,
            p99_us: 0,
            p999_us: 0,
            max_us: 0,
            load_avg: load_average(),
            error: Some(format!("{error:#}")),
        }
    }
}

pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Runs `system` through `scenario` under `load` for `duration`, then waits at most `drain` with
/// no new delivery for stragglers.
pub async fn run(
    targets: &Targets,
    system: System,
    scenario: Scenario,
    load: Load,
    duration: Duration,
    drain: Duration,
) -> Result<Outcome> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run_id = format!("{}{:x}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed));
    let load_avg = load_average();
    let progress = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let cx = SubscriberContext { publishers: scenario.publishers, progress: progress.clone(), stop: stop_rx };
    let prepared = match system {
        s if s.is_signalbox() => {
            let node = targets.node.as_ref().context("no Signalbox node started")?;
            node.prepare(system, &run_id, &scenario, cx).await?
        }
        System::RabbitmqTransient | System::RabbitmqPersistent => {
            let persistent = system == System::RabbitmqPersistent;
            rabbitmq::prepare(&targets.amqp_url, persistent, &run_id, &scenario, cx).await?
        }
        _ => {
            nats::prepare(&targets.nats_url, system == System::NatsJetstream, &run_id, &scenario, cx).await?
        }
    };
    let Prepared { publishers, subscribers, cleanup } = prepared;

    let started = Instant::now();
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(n, p)| tokio::spawn(publish(p, n, scenario, load, started, duration)))
        .collect();
    let mut published = 0;
    for t in tasks {
        published += t.await??;
    }
    let publish_secs = started.elapsed().as_secs_f64();

    // Wait for every delivery, or until deliveries stop coming for `drain`.
    let expected = published * scenario.subscribers as u64;
    let (mut seen, mut last_change) = (0, Instant::now());
    while progress.load(Ordering::Relaxed) < expected && last_change.elapsed() < drain {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = progress.load(Ordering::Relaxed);
        if now != seen {
            (seen, last_change) = (now, Instant::now());
        }
    }
    let _ = stop_tx.send(true);
    let mut total = Tracker::new(scenario.publishers, Arc::default());
    for s in subscribers {
        total.merge(&s.await??);
    }
    match cleanup {
        Cleanup::None => {}
        Cleanup::SignalboxTopic { id } => {
            let node = targets.node.as_ref().context("node")?;
            tokio::task::block_in_place(|| node.delete_topic(id))?
        }
        Cleanup::Amqp(c) => c.run().await?,
        Cleanup::JetStream(c) => c.run().await?,
    }

    let secs = total.last_at.map(|t| t.duration_since(started).as_secs_f64()).unwrap_or(publish_secs);
    let secs = secs.max(publish_secs).max(1e-9);
    let h = &total.latency;
    Ok(Outcome {
        system,
        scenario,
        load,
        published,
        publish_secs,
        msgs_per_sec: published as f64 / secs,
        deliveries_per_sec: total.unique as f64 / secs,
        delivered: total.unique,
        lost: expected.saturating_sub(total.unique),
        duplicates: total.duplicates,
        misordered: total.misordered,
        malformed: total.malformed,
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        load_avg,
        error: None,
    })
}

/// One publisher's loop; answers how many messages it sent and had confirmed.
async fn publish(
    mut p: Publisher,
    index: usize,
    scenario: Scenario,
    load: Load,
    started: Instant,
    duration: Duration,
) -> Result<u64> {
    let (window, interval) = match load {
        Load::Max { in_flight } => (in_flight.max(1), None),
        Load::Rate { per_sec } => {
            let each = Duration::from_secs_f64(scenario.publishers as f64 / per_sec.max(1) as f64);
            (usize::MAX, Some(each))
        }
    };
    // Publishers start staggered across one interval so their messages interleave evenly.
    let offset = interval.map(|i| i.mul_f64(index as f64 / scenario.publishers as f64)).unwrap_or_default();
    let mut pending = FuturesUnordered::new();
    let mut seq: u32 = 0;
    loop {
        let due = match interval {
            Some(each) => started + offset + each * seq,
            None => Instant::now(),
        };
        if due.duration_since(started) >= duration {
            break;
        }
        if due > Instant::now() {
            // Confirmations settle while waiting for the next due time.
            let sleep = tokio::time::sleep_until(due.into());
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    Some(r) = pending.next(), if !pending.is_empty() => r?,
                }
            }
        }
        let confirm = p.send(payload::encode(index as u8, seq, due, scenario.size)).await?;
        pending.push(confirm);
        seq += 1;
        while pending.len() >= window {
            pending.next().await.transpose()?;
        }
        while let Some(Some(r)) = pending.next().now_or_never() {
            r?;
        }
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    p.flush().await?;
    Ok(seq as u64)
}
