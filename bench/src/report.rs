//! Results as a Markdown table and as JSON, with a note of the machine and its load.

use std::fmt::Write;

use serde_json::json;

use crate::run::{Load, Outcome};
use crate::systems::size_label;

/// CPU model, cores, memory and kernel, from /proc.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = mem
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} × {}, {} GiB RAM, Linux {}",
        cores,
        model.unwrap_or("unknown CPU"),
        mem_kib / 1024 / 1024,
        kernel.trim()
    )
}

fn load_label(load: &Load) -> String {
    match load {
        Load::Max { in_flight } => format!("max (≤{in_flight} in flight)"),
        Load::Rate { per_sec } => format!("{per_sec}/s"),
    }
}

pub fn check_label(o: &Outcome) -> String {
    if let Some(e) = &o.error {
        return format!("failed: {e}");
    }
    if o.correct() {
        return "ok".into();
    }
    let mut parts = Vec::new();
    for (n, what) in
        [(o.lost, "lost"), (o.duplicates, "dup"), (o.misordered, "misordered"), (o.malformed, "malformed")]
    {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

pub fn markdown(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| system | pub→sub | size | load | msg/s | deliveries/s | p50 µs | p99 µs | p99.9 µs | checks | load avg |"
    );
    let _ = writeln!(out, "|---|---|---|---|---:|---:|---:|---:|---:|---|---:|");
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | {}→{} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {:.1} |",
            o.system.name(),
            o.scenario.publishers,
            o.scenario.subscribers,
            size_label(o.scenario.size),
            load_label(&o.load),
            o.msgs_per_sec,
            o.deliveries_per_sec,
            o.p50_us,
            o.p99_us,
            o.p999_us,
            check_label(o),
            o.load_avg,
        );
    }
    out
}

pub fn json(outcomes: &[Outcome], extra: serde_json::Value) -> serde_json::Value {
    json!({"machine": machine(), "runs": outcomes, "extra": extra})
}
