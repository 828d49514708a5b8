//! Per-subscriber bookkeeping: which sequence numbers of which publisher arrived, how many twice,
//! how many after a later one of the same publisher, and the publish→deliver latency of each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::payload;

/// One subscriber's view of a run. Owned by the task that receives; handed back at the end.
pub struct Tracker {
    /// Bit per (publisher, seq): seen once.
    seen: Vec<Vec<u64>>,
    /// Highest seq seen per publisher, +1 (0 = none yet).
    high: Vec<u32>,
    pub unique: u64,
    pub duplicates: u64,
    pub misordered: u64,
    pub malformed: u64,
    /// Latency in microseconds, 1 µs to 60 s, 3 significant digits.
    pub latency: Histogram<u64>,
    /// When the last new message arrived.
    pub last_at: Option<Instant>,
    /// Unique messages across every subscriber of the run, so the driver knows when all arrived.
    progress: Arc<AtomicU64>,
}

impl Tracker {
    pub fn new(publishers: usize, progress: Arc<AtomicU64>) -> Tracker {
        Tracker {
            seen: vec![Vec::new(); publishers],
            high: vec![0; publishers],
            unique: 0,
            duplicates: 0,
            misordered: 0,
            malformed: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            last_at: None,
            progress,
        }
    }

    /// Records one delivered payload.
    pub fn record(&mut self, payload: &[u8]) {
        let Some(h) = payload::decode(payload) else {
            self.malformed += 1;
            return;
        };
        let Some(bits) = self.seen.get_mut(h.publisher) else {
            self.malformed += 1;
            return;
        };
        let (word, bit) = (h.seq as usize / 64, 1u64 << (h.seq % 64));
        if bits.len() <= word {
            bits.resize(word + 1024, 0);
        }
        if bits[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        bits[word] |= bit;
        if h.seq + 1 < self.high[h.publisher] {
            self.misordered += 1;
        }
        self.high[h.publisher] = self.high[h.publisher].max(h.seq + 1);
        self.unique += 1;
        self.latency.saturating_record(h.latency.as_micros().max(1) as u64);
        self.last_at = Some(Instant::now());
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Folds another subscriber's tracker into this one (for the run's totals).
    pub fn merge(&mut self, other: &Tracker) {
        self.unique += other.unique;
        self.duplicates += other.duplicates;
        self.misordered += other.misordered;
        self.malformed += other.malformed;
        self.latency.add(&other.latency).expect("same histogram bounds");
        self.last_at = self.last_at.max(other.last_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{encode, start_clock};

    #[test]
    fn duplicates_and_late_messages_are_counted() {
        start_clock();
        let mut t = Tracker::new(2, Arc::default());
        for seq in [0, 1, 3, 2, 3] {
            t.record(encode(1, seq, Instant::now(), 32).as_bytes());
        }
        t.record(encode(0, 0, Instant::now(), 32).as_bytes());
        t.record(b"garbage");
        assert_eq!((t.unique, t.duplicates, t.misordered, t.malformed), (5, 1, 1, 1));
    }
}
