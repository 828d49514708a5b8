//! Times: stored as microseconds since the UNIX epoch, shown as ISO 8601 UTC on the wire.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

pub use signalbox_schema::now_micros;

/// Where an actor reads the time: the wall clock, or (tests) a clock that moves only when told.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The wall clock ([`now_micros`]), as in production.
    pub fn wall() -> Clock {
        Clock(None)
    }

    /// A clock standing at `micros` until [`Clock::advance`] moves it; clones share it.
    pub fn manual(micros: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(micros))))
    }

    pub fn now_micros(&self) -> i64 {
        match &self.0 {
            None => now_micros(),
            Some(t) => t.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock forward; the wall clock ignores it.
    pub fn advance(&self, micros: i64) {
        if let Some(t) = &self.0 {
            t.fetch_add(micros, Ordering::Relaxed);
        }
    }
}

/// ISO 8601 UTC with microseconds, e.g. `2026-11-22T10:00:00.123456Z`.
pub fn iso(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an ISO 8601 / RFC 3339 time into microseconds since the epoch.
pub fn parse_iso(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc).timestamp_micros()).or_else(|| {
        // Zato clients also send times without a zone, meaning UTC.
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc().timestamp_micros())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips() {
        let t = 1_700_000_000_123_456;
        assert_eq!(parse_iso(&iso(t)), Some(t));
        assert_eq!(parse_iso("2023-11-14T22:13:20.123456"), Some(t));
        assert_eq!(parse_iso("yesterday"), None);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual(10);
        clock.clone().advance(5);
        assert_eq!(clock.now_micros(), 15);
        assert!(Clock::wall().now_micros() > 1_700_000_000_000_000);
    }
}
