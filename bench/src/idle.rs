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

pub fn measure(binary: &Path, n: usize) -> Result<Value> {
    let node = Node::start(binary)?;
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
    for i in 0..n {
        let (t, e) = (i / PER_TOPIC, i % PER_TOPIC);
        node.admin(
            "POST",
            "/subscriptions",
            json!({"topic_name": format!("/idle/{t}"), "endpoint": format!("idle-{e}")}),
        )?;
    }
    // Past two rounds of the janitor and of the figures' sampler (5 s each), which visit every
    // subscription: what they cost per subscription counts too.
    std::thread::sleep(SETTLE);
    let after = node.rss_kib()?;
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n.max(1) as f64;
    eprintln!("{n} idle subscriptions: RSS {before} KiB → {after} KiB, {:.0} bytes each", per);
    Ok(json!({"idle_subscriptions": n, "topics": topics, "rss_before_kib": before,
              "rss_after_kib": after, "bytes_per_subscription": per}))
}
