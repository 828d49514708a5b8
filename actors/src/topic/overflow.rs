//! The in-RAM overflow log: as in Zato, an in-RAM publication past `max_depth_non_gd` is not
//! queued but appended as one JSON line to `<data_dir>/pubsub-overflow.log` (mode 0600).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::message::Message;

#[derive(Clone)]
pub struct OverflowLog {
    path: PathBuf,
    /// One writer at a time so lines never interleave.
    lock: Arc<Mutex<()>>,
}

impl OverflowLog {
    pub fn new(data_dir: &std::path::Path) -> OverflowLog {
        OverflowLog { path: data_dir.join("pubsub-overflow.log"), lock: Arc::new(Mutex::new(())) }
    }

    pub fn append(&self, msg: &Message) -> std::io::Result<()> {
        let line = serde_json::json!({
            "topic_name": msg.topic_name,
            "msg": msg.to_external(None, 0, msg.pub_time),
        });
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path)?;
        writeln!(file, "{line}")
    }
}
