//! Times: stored as microseconds since the UNIX epoch, shown as ISO 8601 UTC on the wire.

use chrono::{DateTime, SecondsFormat, Utc};

pub use signalbox_schema::now_micros;

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
}
