//! The in-RAM overflow log: as in Zato, an in-RAM publication past `max_depth_non_gd` is not
//! queued but appended as one JSON line to `<data_dir>/pubsub-overflow.log` (mode 0600).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::message::Message;

/// Past this size the log is rotated: the current file becomes `pubsub-overflow.log.1`
/// (replacing the one before), and a new one starts. Two files at most, so disk use is bounded.
const MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct OverflowLog {
    path: PathBuf,
    /// One writer at a time so lines never interleave.
    lock: Arc<Mutex<()>>,
    max_bytes: u64,
}

impl OverflowLog {
    pub fn new(data_dir: &std::path::Path) -> OverflowLog {
        OverflowLog {
            path: data_dir.join("pubsub-overflow.log"),
            lock: Arc::new(Mutex::new(())),
            max_bytes: MAX_BYTES,
        }
    }

    /// Appends one JSON line per message, in one buffered write.
    pub fn append(&self, messages: &[&Message]) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for msg in messages {
            let line = serde_json::json!({
                "topic_name": msg.topic_name,
                "msg": msg.to_external(None, 0, msg.pub_time),
            });
            serde_json::to_writer(&mut lines, &line)?;
            lines.push(b'\n');
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + lines.len() as u64 > self.max_bytes {
            std::fs::rename(&self.path, self.path.with_extension("log.1"))?;
            log::warn!("event=overflow_log_rotated path={} bytes={size}", self.path.display());
        }
        let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path)?;
        file.write_all(&lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_the_log_rotates_past_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = OverflowLog::new(dir.path());
        log.max_bytes = 2_000;
        let msg: Message = serde_json::from_value(serde_json::json!({
            "msg_id": "zpsm1", "topic_id": 1, "topic_name": "/t", "published_by_id": null,
            "correl_id": null, "in_reply_to": null, "ext_client_id": null, "group_id": null,
            "position_in_group": null, "pub_pattern_matched": "pub=/t", "pub_time": 0,
            "ext_pub_time": null, "expiration": 60, "expiration_time": 60_000_000,
            "data": "x".repeat(300), "mime_type": "text/plain", "size": 300, "priority": 5,
            "user_ctx": null, "has_gd": false,
        }))
        .unwrap();
        // Two lines (~1.3 KB) per append: the second and third appends each rotate.
        for _ in 0..3 {
            log.append(&[&msg, &msg]).unwrap();
        }
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        let (current, rotated) = (read("pubsub-overflow.log"), read("pubsub-overflow.log.1"));
        for text in [&current, &rotated] {
            assert!(text.len() <= 2_000, "{} bytes", text.len());
            let lines: Vec<serde_json::Value> =
                text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(lines.len(), 2);
            assert_eq!(lines[0]["topic_name"], "/t");
        }
    }
}
