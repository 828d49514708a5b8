//! `files` push target: each message written as `<directory>/<msg_id>.json`, atomically (a temp
//! file in the same directory, fsynced, then renamed), so readers never see half a file. The temp
//! file has an unpredictable name and is created new (`O_EXCL`), so a link planted in the
//! directory cannot make the node write anywhere else.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::{Batch, Sink, SinkError, SinkFuture};

pub struct FilesSink {
    directory: PathBuf,
}

impl FilesSink {
    pub fn new(config: &Value) -> Result<FilesSink, String> {
        Ok(FilesSink {
            directory: PathBuf::from(config["directory"].as_str().ok_or("push.directory missing")?),
        })
    }
}

/// A msg_id as a file name: anything but `[A-Za-z0-9._-]` becomes `_`.
fn file_name(msg_id: &str) -> String {
    msg_id.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

impl Sink for FilesSink {
    fn deliver(&self, batch: Batch) -> SinkFuture {
        let dir = self.directory.clone();
        Box::pin(async move {
            let items: Vec<(String, Value)> = batch
                .external()
                .into_iter()
                .map(|m| (m["msg_id"].as_str().unwrap_or("msg").to_owned(), m))
                .collect();
            tokio::task::spawn_blocking(move || -> Result<(), SinkError> {
                for (msg_id, msg) in items {
                    let name = file_name(&msg_id);
                    let fail = |e: std::io::Error| {
                        SinkError::other(format!("cannot write into {}: {e}", dir.display()))
                    };
                    let suffix =
                        crate::secrets::new_token("").map_err(|e| SinkError::other(e.to_string()))?;
                    let tmp = dir.join(format!(".{name}.{suffix}.tmp"));
                    let mut file =
                        std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(fail)?;
                    file.write_all(msg.to_string().as_bytes()).and_then(|_| file.sync_all()).map_err(fail)?;
                    std::fs::rename(&tmp, dir.join(format!("{name}.json"))).map_err(fail)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| SinkError::other(format!("file writer failed: {e}")))?
        })
    }
}
