//! Resident memory per idle subscription: a fresh node, topics and endpoints made first, then
//! `n` subscriptions that never receive anything; the growth of the node's RSS divided by `n`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use crate::systems::signalbox::Node;

/// Subscriptions per topic (one per endpoint: one subscription per endpoint and topic).
const PER_TOPIC: usize = 100;
/// How long the node runs with its subscriptions before its memory is read.
const SETTLE: Duration = Duration::from_secs(12);

pub fn measure(binary: &Path, postgres: Option<&str>, n: usize) -> Result<Value> {
    let node = Node::start(binary, postgres)?;
    let topics = n.div_ceil(PER_TOPIC);
    let endpoints = n.min(PER_TOPIC);
    for t in 0..topics {
        node.admin("POST", "/topics", json!({"name": format!("/idle/{t}")}))?;
    }
    for e in 0..endpoints {
        node.admin(
            "POST",
            "/endpoints",
            json!({"name": format!("idle-{e}"), "role": "pub-sub", "topic_patterns": ["sub=/idle/**"]}),
        )?;
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = node.rss_kib()?;
    let subscribe = |range: std::ops::Range<usize>| -> Result<()> {
        for i in range {
            let (t, e) = (i / PER_TOPIC, i % PER_TOPIC);
            node.admin(
                "POST",
                "/subscriptions",
                json!({"topic_name": format!("/idle/{t}"), "endpoint": format!("idle-{e}")}),
            )?;
        }
        // Past two rounds of the janitor and of the figures' sampler (5 s each), which visit
        // every subscription: what they cost per subscription counts too.
        std::thread::sleep(SETTLE);
        Ok(())
    };
    // In two halves: the first pays for what is bounded whatever the number of subscriptions
    // (SQLite's page caches fill, allocator arenas grow), the second shows what each more
    // subscription costs — what a million of them would need.
    let half = n / 2;
    subscribe(0..half)?;
    let middle = node.rss_kib()?;
    subscribe(half..n)?;
    let after = node.rss_kib()?;
    let per =
        |from: u64, to: u64, count: usize| to.saturating_sub(from) as f64 * 1024.0 / count.max(1) as f64;
    let (average, marginal) = (per(before, after, n), per(middle, after, n - half));
    eprintln!(
        "{n} idle subscriptions: RSS {before} KiB → {middle} KiB at {half} → {after} KiB; \
         {average:.0} bytes each on average, {marginal:.0} bytes each for the second {}",
        n - half
    );
    Ok(json!({"idle_subscriptions": n, "topics": topics, "rss_before_kib": before,
              "rss_middle_kib": middle, "rss_after_kib": after,
              "bytes_per_subscription": average, "bytes_per_subscription_marginal": marginal}))
}
