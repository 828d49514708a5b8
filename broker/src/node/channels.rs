//! The node's WSX channels by path: the stored ones, reloaded whenever channels change, and the
//! cluster's internal channel, which is not stored. The `wsx` transport serves them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use signalbox_schema::models::WsxChannel;

/// A channel as sessions use it.
#[derive(Debug, Clone)]
pub struct Channel {
    pub row: WsxChannel,
    /// The services its gateway allows (`allowed_services`, read once).
    pub allowed: Vec<String>,
}

/// Channel path → settings, reloaded whenever channels change.
#[derive(Default)]
pub struct Channels {
    by_path: RwLock<HashMap<String, Arc<Channel>>>,
    /// The cluster's internal channel (not stored; never replaced by a reload).
    internal: RwLock<Option<Arc<Channel>>>,
}

impl Channels {
    pub fn reload(&self, rows: Vec<WsxChannel>) {
        let map = rows
            .into_iter()
            .map(|row| {
                let allowed = serde_json::from_str(&row.allowed_services).unwrap_or_default();
                (row.path.clone(), Arc::new(Channel { row, allowed }))
            })
            .collect();
        if let Ok(mut by_path) = self.by_path.write() {
            *by_path = map;
        }
    }

    pub fn get(&self, path: &str) -> Option<Arc<Channel>> {
        if let Some(internal) = self.internal.read().ok()?.as_ref().filter(|c| c.row.path == path) {
            return Some(internal.clone());
        }
        self.by_path.read().ok()?.get(path).cloned()
    }

    pub fn set_internal(&self, channel: Arc<Channel>) {
        if let Ok(mut internal) = self.internal.write() {
            *internal = Some(channel);
        }
    }
}
