//! Outgoing WSX links (cluster to cluster): the [`peer::PeerLink`] actors, started from the
//! links stored in the database and restarted when one changes.

pub mod peer;

use std::collections::HashMap;
use std::sync::RwLock;

use actix::prelude::*;
use signalbox_actors::secrets::MasterKey;
use signalbox_actors::services::Services;
use signalbox_actors::Metrics;
use signalbox_schema::models::WsxLink;
use signalbox_schema::Store;

use peer::{PeerLink, Shutdown};

/// What a link needs from its node.
#[derive(Clone)]
pub struct LinkDeps {
    pub store: Store,
    pub master_key: MasterKey,
    pub metrics: Metrics,
    /// The hooks (`on_connect`, `on_message`, `on_close`) are services of the node.
    pub services: Services,
    /// The largest frame a link reads (the node's `max_message_size`).
    pub max_frame: usize,
}

/// Running links by name, on their own arbiter.
pub struct Links {
    arbiter: ArbiterHandle,
    running: RwLock<HashMap<String, (WsxLink, Addr<PeerLink>)>>,
}

impl Default for Links {
    fn default() -> Self {
        let arbiter = Arbiter::new();
        let handle = arbiter.handle();
        // The arbiter lives as long as the process; its handle is what starts actors on it.
        std::mem::forget(arbiter);
        Links { arbiter: handle, running: RwLock::default() }
    }
}

impl Links {
    pub fn get(&self, name: &str) -> Option<Addr<PeerLink>> {
        self.running.read().ok()?.get(name).map(|(_, a)| a.clone())
    }

    pub fn by_id(&self, id: i64) -> Option<(WsxLink, Addr<PeerLink>)> {
        self.running.read().ok()?.values().find(|(l, _)| l.id == id).cloned()
    }

    pub fn all(&self) -> Vec<(WsxLink, Addr<PeerLink>)> {
        self.running.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Starts, restarts (settings changed) or stops link actors to match `rows`.
    pub fn sync(&self, deps: &LinkDeps, rows: Vec<WsxLink>) {
        let Ok(mut running) = self.running.write() else { return };
        running.retain(|name, (_, addr)| {
            let keep = rows.iter().any(|r| r.name == *name);
            if !keep {
                addr.do_send(Shutdown);
            }
            keep
        });
        for row in rows {
            // A link's own sub_key bookkeeping is not a settings change.
            let same = |old: &WsxLink| {
                WsxLink { sub_keys: String::new(), ..old.clone() }
                    == WsxLink { sub_keys: String::new(), ..row.clone() }
            };
            if running.get(&row.name).is_some_and(|(old, _)| same(old)) {
                continue;
            }
            if let Some((_, old)) = running.remove(&row.name) {
                old.do_send(Shutdown);
            }
            let (r, s) = (row.clone(), deps.clone());
            let addr = PeerLink::start_in_arbiter(&self.arbiter, move |_| PeerLink::new(r, s));
            running.insert(row.name.clone(), (row, addr));
        }
    }
}
