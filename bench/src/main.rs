//! `signalbox-bench`: Signalbox side by side with RabbitMQ and NATS on one machine, from one
//! process, with one method for all.
//!
//! For each system and scenario (publishers → subscribers, payload size) it measures the
//! maximum throughput with a bounded number of unconfirmed messages per publisher, and the
//! publish→deliver latency at fixed rates (open loop). Every payload carries its publisher,
//! sequence number and due time; every subscriber checks for loss, duplicates and reordering.
//! `--quick` checks correctness only, in under a minute, and exits non-zero on any fault.
//! `--idle-subscriptions N` measures a node's resident memory per idle subscription.
//! See docs/BENCHMARKS.md.

mod check;
mod idle;
mod payload;
mod report;
mod run;
mod systems;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;

use run::{Load, Outcome, Targets};
use systems::{nats, rabbitmq, signalbox, Scenario, System};

#[derive(Debug, Parser)]
#[command(about = "Signalbox, RabbitMQ and NATS side by side: throughput, latency, correctness")]
struct Args {
    /// Correctness smoke test for CI: every system, short open-loop runs, no speed asserted;
    /// exits non-zero on loss, duplicates or reordering.
    #[arg(long)]
    quick: bool,
    /// Systems to run (comma-separated): signalbox-wsx-ram, signalbox-wsx-gd, signalbox-rest-ram,
    /// signalbox-rest-gd, rabbitmq-transient, rabbitmq-persistent, nats-core, nats-jetstream.
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Scenarios as PUBxSUB (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1x1,1x10,4x1")]
    shapes: Vec<String>,
    /// Payload sizes in bytes (comma-separated, at least 16).
    #[arg(long, value_delimiter = ',', default_value = "16,1024,16384")]
    sizes: Vec<usize>,
    /// Seconds each publisher sends for, per run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Unconfirmed messages per publisher in throughput runs.
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
    /// Fixed rates (msg/s) for the latency runs (1→1, 1 KiB); `half` is half of Signalbox's
    /// measured in-RAM WSX maximum.
    #[arg(long, value_delimiter = ',', default_value = "1000,half")]
    rates: Vec<String>,
    /// Skip the throughput runs (latency runs then need numeric rates).
    #[arg(long)]
    no_throughput: bool,
    /// Skip the latency runs.
    #[arg(long)]
    no_latency: bool,
    /// WSX pushes a Signalbox subscriber leaves unanswered at most (`max_in_flight`).
    #[arg(long, default_value_t = signalbox::PUSH_WINDOW)]
    push_window: usize,
    /// Measure the node's resident memory with this many idle subscriptions, then exit.
    #[arg(long)]
    idle_subscriptions: Option<usize>,
    /// Run the Signalbox node on PostgreSQL: a URL of the server (any database on it); the
    /// bench makes a fresh database for the node and drops it afterwards. SQLite otherwise.
    #[arg(long)]
    postgres: Option<String>,
    /// The signalbox binary (default: next to this executable).
    #[arg(long)]
    signalbox: Option<PathBuf>,
    #[arg(long, default_value = rabbitmq::DEFAULT_URL)]
    amqp_url: String,
    #[arg(long, default_value = nats::DEFAULT_URL)]
    nats_url: String,
    /// Directory for results.md and results.json.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    payload::start_clock();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> Result<()> {
    let binary = signalbox::binary(args.signalbox.as_deref())?;
    if let Some(n) = args.idle_subscriptions {
        let report = tokio::task::block_in_place(|| idle::measure(&binary, args.postgres.as_deref(), n))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return write_out(&args, "", &report);
    }
    let systems: Vec<System> = if args.systems.is_empty() {
        System::ALL.to_vec()
    } else {
        args.systems
            .iter()
            .map(|s| System::parse(s).with_context(|| format!("unknown system {s}")))
            .collect::<Result<_>>()?
    };
    let node = if systems.iter().any(|s| s.is_signalbox()) {
        let mut node =
            tokio::task::block_in_place(|| signalbox::Node::start(&binary, args.postgres.as_deref()))?;
        node.push_window = args.push_window;
        Some(node)
    } else {
        None
    };
    let targets = Targets { node, amqp_url: args.amqp_url.clone(), nats_url: args.nats_url.clone() };
    eprintln!("machine: {}", report::machine());

    let mut outcomes = Vec::new();
    let ran = if args.quick {
        quick(&targets, &systems, &mut outcomes).await
    } else {
        full(&args, &targets, &systems, &mut outcomes).await
    };
    if let (Err(_), Some(node)) = (&ran, &targets.node) {
        eprintln!("the node's last log lines:\n{}", node.log_tail(20));
    }
    ran?;
    let table = report::markdown(&outcomes);
    println!("{table}");
    write_out(&args, &table, &report::json(&outcomes, json!({"binary": binary})))?;
    let faulty: Vec<&Outcome> = outcomes.iter().filter(|o| !o.correct()).collect();
    if args.quick && !faulty.is_empty() {
        bail!("{} run(s) lost, repeated or reordered messages", faulty.len());
    }
    Ok(())
}

fn write_out(args: &Args, table: &str, json: &serde_json::Value) -> Result<()> {
    let Some(dir) = &args.out else { return Ok(()) };
    std::fs::create_dir_all(dir)?;
    if !table.is_empty() {
        std::fs::write(dir.join("results.md"), format!("Machine: {}\n\n{table}", report::machine()))?;
    }
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(json)?)?;
    Ok(())
}

fn shapes(args: &Args) -> Result<Vec<(usize, usize)>> {
    args.shapes
        .iter()
        .map(|s| {
            let (p, c) = s.split_once('x').with_context(|| format!("shape {s} is not PUBxSUB"))?;
            let (p, c): (usize, usize) = (p.parse()?, c.parse()?);
            // A payload names its publisher in one hex digit; Signalbox clients log in as one of
            // 16 endpoints, one per subscriber.
            if !(1..=16).contains(&p) || !(1..=16).contains(&c) {
                bail!("shape {s}: 1–16 publishers and 1–16 subscribers");
            }
            Ok((p, c))
        })
        .collect()
}

async fn one(
    targets: &Targets,
    system: System,
    scenario: Scenario,
    load: Load,
    secs: f64,
) -> Result<Outcome> {
    let duration = Duration::from_secs_f64(secs);
    let outcome = match run::run(targets, system, scenario, load, duration, Duration::from_secs(5)).await {
        Ok(o) => o,
        // Recorded, not fatal: the other systems still get measured.
        Err(e) => Outcome::failed(system, scenario, load, &e),
    };
    eprintln!(
        "{:<20} {:<14} {:<22?} {:>9.0} msg/s  p50 {:>6} µs  p99 {:>7} µs  {}",
        system.name(),
        scenario.label(),
        load,
        outcome.msgs_per_sec,
        outcome.p50_us,
        outcome.p99_us,
        report::check_label(&outcome)
    );
    Ok(outcome)
}

/// Every system through every shape at a gentle fixed rate: correctness only.
async fn quick(targets: &Targets, systems: &[System], outcomes: &mut Vec<Outcome>) -> Result<()> {
    for &system in systems {
        for (publishers, subscribers, size) in [(1, 1, 1024), (1, 10, 16), (4, 1, 16384)] {
            let scenario = Scenario { publishers, subscribers, size };
            outcomes.push(one(targets, system, scenario, Load::Rate { per_sec: 2000 }, 0.8).await?);
        }
    }
    Ok(())
}

async fn full(args: &Args, targets: &Targets, systems: &[System], outcomes: &mut Vec<Outcome>) -> Result<()> {
    if args.sizes.iter().any(|&s| s < payload::HEADER) {
        bail!("payload sizes start at {} bytes", payload::HEADER);
    }
    let load = Load::Max { in_flight: args.in_flight };
    if !args.no_throughput {
        for (publishers, subscribers) in shapes(args)? {
            for &size in &args.sizes {
                for &system in systems {
                    let scenario = Scenario { publishers, subscribers, size };
                    outcomes.push(one(targets, system, scenario, load, args.seconds).await?);
                }
            }
        }
    }
    if args.no_latency {
        return Ok(());
    }
    let scenario = Scenario { publishers: 1, subscribers: 1, size: 1024 };
    let max_of = |outcomes: &[Outcome], system: System| {
        outcomes
            .iter()
            .find(|o| {
                o.system == system
                    && o.scenario.publishers == 1
                    && o.scenario.subscribers == 1
                    && o.scenario.size == 1024
            })
            .map(|o| o.msgs_per_sec)
    };
    let mut rates = Vec::new();
    for r in &args.rates {
        rates.push(match r.as_str() {
            "half" => match max_of(outcomes, System::SignalboxWsxRam) {
                Some(max) => (max / 2.0) as u64,
                None => continue,
            },
            n => n.parse().with_context(|| format!("rate {n}"))?,
        });
    }
    for per_sec in rates {
        for &system in systems {
            // Open loop past a system's capacity only measures how fast its backlog grows.
            if max_of(outcomes, system).is_some_and(|max| (per_sec as f64) > max * 1.1) {
                eprintln!("{:<20} skipped at {per_sec}/s: above its measured maximum", system.name());
                continue;
            }
            outcomes.push(one(targets, system, scenario, Load::Rate { per_sec }, args.seconds).await?);
        }
    }
    Ok(())
}
