//! `signalbox-bench`: quick publish → pull throughput of one Signalbox node over REST.
//!
//! It creates its own topic, endpoint and subscription through the admin API, publishes
//! `--messages` messages of `--size` bytes from `--publishers` threads (keep-alive connections,
//! `--batch` messages per request as a `data_list`), pulls them back with `?max=1000`, and checks
//! that every message arrived exactly once. It reports messages per second for both halves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Debug, Parser)]
struct Args {
    /// Node URL.
    #[arg(long, default_value = "http://127.0.0.1:17010")]
    url: String,
    /// Admin key (else ./data/admin.key).
    #[arg(long, env = "SIGNALBOX_ADMIN_KEY")]
    admin_key: Option<String>,
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Messages per publish request (1 = one request per message).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Guaranteed delivery (SQL) instead of in-RAM.
    #[arg(long)]
    gd: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let key = match &args.admin_key {
        Some(k) => k.clone(),
        None => std::fs::read_to_string("data/admin.key").context("no --admin-key and no data/admin.key")?,
    };
    let key = key.trim().to_owned();
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).max_idle_connections(64).build();
    let run = format!("{:x}", Instant::now().elapsed().as_nanos() ^ std::process::id() as u128);
    let topic = format!("/bench/{run}");
    let admin = |path: &str, body: Value| -> Result<Value> {
        Ok(agent
            .post(&format!("{}/admin/v1{path}", args.url))
            .set("Authorization", &format!("Bearer {key}"))
            .send_json(body)?
            .into_json()?)
    };
    // Depth limits sized to the run, so the measurement is of throughput, not of back-pressure.
    let depth = args.messages as i64 + 1;
    admin(
        "/topics",
        json!({"name": topic, "has_gd": args.gd, "max_depth_gd": depth, "max_depth_non_gd": depth}),
    )?;
    let endpoint = admin(
        "/endpoints",
        json!({"name": format!("bench-{run}"), "role": "pub-sub", "topic_patterns": [format!("pub={topic}"), format!("sub={topic}")]}),
    )?;
    let user = endpoint["username"].as_str().context("username")?.to_owned();
    let password = endpoint["password"].as_str().context("password")?.to_owned();
    admin("/subscriptions", json!({"topic_name": topic, "endpoint": user}))?;
    let auth = format!("Basic {}", base64(&format!("{user}:{password}")));
    let topic_url = format!("{}/zato/pubsub/topic/{topic}", args.url);

    let payload = "x".repeat(args.size.saturating_sub(12));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..args.publishers)
        .map(|_| {
            let (agent, next, url, auth, payload) =
                (agent.clone(), next.clone(), topic_url.clone(), auth.clone(), payload.clone());
            let (total, batch) = (args.messages, args.batch.max(1));
            std::thread::spawn(move || -> Result<()> {
                loop {
                    let first = next.fetch_add(batch, Ordering::Relaxed);
                    if first >= total {
                        return Ok(());
                    }
                    let items: Vec<Value> = (first..(first + batch).min(total))
                        .map(|n| json!({"data": format!("{n:010}:{payload}")}))
                        .collect();
                    let body = if items.len() == 1 { items[0].clone() } else { json!({"data_list": items}) };
                    agent.post(&url).set("Authorization", &auth).send_json(body)?;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("publisher panicked"))??;
    }
    let published = started.elapsed();

    let pull_started = Instant::now();
    let mut seen = vec![false; args.messages];
    let mut received = 0;
    while received < args.messages {
        let batch: Vec<Value> = agent
            .request("PATCH", &format!("{topic_url}?max=1000"))
            .set("Authorization", &auth)
            .call()?
            .into_json()?;
        if batch.is_empty() {
            bail!("queue empty after {received} of {} messages", args.messages);
        }
        for m in batch {
            let n: usize =
                m["data"].as_str().and_then(|d| d.get(..10)).and_then(|d| d.parse().ok()).context("data")?;
            if std::mem::replace(&mut seen[n], true) {
                bail!("message {n} delivered twice");
            }
            received += 1;
        }
    }
    let pulled = pull_started.elapsed();
    let rate = |d: Duration| args.messages as f64 / d.as_secs_f64();
    println!(
        "{} messages of {} B, {}, batch {}, {} publishers: publish {:.0} msg/s ({:.2} s), pull {:.0} msg/s ({:.2} s), none lost or repeated",
        args.messages,
        args.size,
        if args.gd { "GD" } else { "in-RAM" },
        args.batch,
        args.publishers,
        rate(published),
        published.as_secs_f64(),
        rate(pulled),
        pulled.as_secs_f64()
    );
    Ok(())
}

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
