//! What every message carries, for every system alike: a 16-character ASCII header — publisher
//! (1 hex digit), sequence number (7 hex digits) and send time (8 hex digits, microseconds since
//! the bench started) — padded with `x` to the payload size. ASCII so that the same bytes travel
//! as a JSON string to Signalbox and as a raw body to RabbitMQ and NATS; 16 bytes so the smallest
//! payload is all header.
//!
//! The send time is the time the message was *due* (open loop), not the time it left, so a
//! stalled publisher shows up as latency instead of being hidden (coordinated omission).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Header length; also the smallest payload.
pub const HEADER: usize = 16;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since the bench started (wraps after 71 minutes, longer than any run).
pub fn micros_at(at: Instant) -> u32 {
    at.saturating_duration_since(epoch()).as_micros() as u32
}

/// Starts the clock the headers use; call once before any run.
pub fn start_clock() {
    epoch();
}

/// One message's payload of `size` bytes (at least [`HEADER`]).
pub fn encode(publisher: u8, seq: u32, due: Instant, size: usize) -> String {
    let mut out = format!("{:01x}{:07x}{:08x}", publisher & 0xf, seq & 0x0fff_ffff, micros_at(due));
    out.extend(std::iter::repeat_n('x', size.saturating_sub(HEADER)));
    out
}

/// What a received payload says about itself.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub publisher: usize,
    pub seq: u32,
    /// Publish (due) time to now.
    pub latency: Duration,
}

pub fn decode(payload: &[u8]) -> Option<Header> {
    let head = std::str::from_utf8(payload.get(..HEADER)?).ok()?;
    let publisher = usize::from_str_radix(&head[..1], 16).ok()?;
    let seq = u32::from_str_radix(&head[1..8], 16).ok()?;
    let sent = u32::from_str_radix(&head[8..16], 16).ok()?;
    let now = micros_at(Instant::now());
    Some(Header { publisher, seq, latency: Duration::from_micros(now.wrapping_sub(sent) as u64) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_has_the_asked_size_and_reads_back() {
        start_clock();
        let p = encode(3, 123_456, Instant::now(), 1024);
        assert_eq!(p.len(), 1024);
        let h = decode(p.as_bytes()).unwrap();
        assert_eq!((h.publisher, h.seq), (3, 123_456));
        assert!(h.latency < Duration::from_secs(1));
        assert_eq!(encode(0, 1, Instant::now(), 16).len(), 16);
    }
}
