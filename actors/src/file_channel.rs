//! `FileChannelActor`: one per inbound file channel. Every `poll_interval` it lists its
//! directory; a file whose size and modification time have not changed since the previous poll
//! is complete and is published as one message (its text as `data`) to the channel's topic as
//! its endpoint, then moved to `processed/` — or to `failed/`, beside a `<name>.reason` file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use signalbox_schema::models::FileChannel;
use signalbox_schema::Store;

use crate::publish::publish_as;
use crate::registry::Registry;
use crate::topic::NewMessage;

pub struct FileChannelActor {
    channel: FileChannel,
    registry: Registry,
    store: Store,
    /// What each pending file looked like at the previous poll: (size, modified).
    seen: HashMap<PathBuf, (u64, SystemTime)>,
    /// A poll is under way.
    busy: bool,
}

impl FileChannelActor {
    pub fn new(channel: FileChannel, registry: Registry, store: Store) -> FileChannelActor {
        FileChannelActor { channel, registry, store, seen: HashMap::new(), busy: false }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let dir = PathBuf::from(&self.channel.directory);
        let previous = std::mem::take(&mut self.seen);
        let scan = async move { tokio::task::spawn_blocking(move || scan(&dir, previous)).await };
        ctx.spawn(scan.into_actor(self).then(|result, act, _| {
            let (ready, seen) = match result {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    log::warn!("event=file_channel_scan_failed channel={} error={e}", act.channel.name);
                    (Vec::new(), HashMap::new())
                }
                Err(e) => {
                    log::warn!("event=file_channel_scan_failed channel={} error={e}", act.channel.name);
                    (Vec::new(), HashMap::new())
                }
            };
            act.seen = seen;
            let (registry, store, channel) = (act.registry.clone(), act.store.clone(), act.channel.clone());
            async move {
                for path in ready {
                    let outcome = match std::fs::read(&path) {
                        Ok(bytes) => match String::from_utf8(bytes) {
                            Ok(text) if !text.is_empty() => {
                                let data = serde_json::Value::String(text.clone()).to_string();
                                let msg = NewMessage {
                                    data,
                                    size: text.len() as i64,
                                    priority: 5,
                                    mime_type: "text/plain".into(),
                                    ..NewMessage::default()
                                };
                                publish_as(
                                    &registry,
                                    &store,
                                    &channel.endpoint,
                                    &channel.topic_name,
                                    vec![msg],
                                )
                                .await
                                .map(|_| ())
                            }
                            Ok(_) => Err("the file is empty".to_owned()),
                            Err(_) => Err("the file is not UTF-8 text".to_owned()),
                        },
                        Err(e) => Err(format!("cannot read the file: {e}")),
                    };
                    if let Err(e) = finish(&path, outcome) {
                        log::warn!(
                            "event=file_channel_move_failed channel={} file={} error={e}",
                            channel.name,
                            path.display()
                        );
                    }
                }
            }
            .into_actor(act)
            .map(|_, act, _| act.busy = false)
        }));
    }
}

type Scan = (Vec<PathBuf>, HashMap<PathBuf, (u64, SystemTime)>);

/// Files unchanged since the previous poll (ready), and what every pending file looks like now.
fn scan(dir: &Path, previous: HashMap<PathBuf, (u64, SystemTime)>) -> std::io::Result<Scan> {
    let mut ready = Vec::new();
    let mut seen = HashMap::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || name.starts_with('.') {
            continue;
        }
        let now = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        if previous.get(&entry.path()) == Some(&now) {
            ready.push(entry.path());
        } else {
            seen.insert(entry.path(), now);
        }
    }
    Ok((ready, seen))
}

/// Moves a handled file to `processed/`, or to `failed/` with a reason file.
fn finish(path: &Path, outcome: Result<(), String>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default();
    let target = match &outcome {
        Ok(()) => dir.join("processed"),
        Err(_) => dir.join("failed"),
    };
    std::fs::create_dir_all(&target)?;
    if let Err(reason) = &outcome {
        std::fs::write(target.join(format!("{}.reason", name.to_string_lossy())), format!("{reason}\n"))?;
    }
    std::fs::rename(path, target.join(name))
}

impl Actor for FileChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_secs_f64(self.channel.poll_interval.max(0.05));
        ctx.run_interval(every, |act, ctx| act.poll(ctx));
    }
}

/// Stop polling: the channel was deleted or its settings changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopFileChannel;

impl Handler<StopFileChannel> for FileChannelActor {
    type Result = ();

    fn handle(&mut self, _msg: StopFileChannel, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
