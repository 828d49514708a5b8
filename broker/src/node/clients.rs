//! REST clients as this node has seen them: one entry per (endpoint, address) that
//! authenticated here, with its [`Traffic`] — messages published in, messages pulled out — for
//! the console's connections screen. In memory only and bounded: past [`MAX_CLIENTS`] the entry
//! heard from longest ago goes.
//!
//! Also the throttle on endpoints' stored `last_seen`: an authentication writes it at most once a
//! [`LAST_SEEN_EVERY`] per endpoint, so a busy client costs no write per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use signalbox_actors::history::Traffic;
use signalbox_schema::models::Endpoint;

/// Entries kept at most.
pub const MAX_CLIENTS: usize = 10_000;
/// An endpoint's stored `last_seen` is written at most this often (µs): a minute.
pub const LAST_SEEN_EVERY: i64 = 60_000_000;
/// A client heard from within this long (µs) counts as connected: five minutes.
pub const ACTIVE_WITHIN: i64 = 300_000_000;

/// One REST client: an endpoint's credentials used from one address.
#[derive(Debug)]
pub struct RestClient {
    pub endpoint_id: i64,
    pub endpoint: String,
    /// The peer's IP address as the TCP connection shows it.
    pub address: String,
    pub traffic: Traffic,
}

#[derive(Default)]
pub struct RestClients {
    clients: Mutex<HashMap<(i64, String), Arc<RestClient>>>,
    /// Endpoint id → when its `last_seen` was last written (µs).
    written: Mutex<HashMap<i64, i64>>,
}

impl RestClients {
    /// The client for `endpoint` at `address`, heard from at `now` (µs).
    pub fn seen(&self, endpoint: &Endpoint, address: &str, now: i64) -> Arc<RestClient> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let key = (endpoint.id, address.to_owned());
        if let Some(found) = clients.get(&key) {
            found.traffic.seen(now);
            return found.clone();
        }
        if clients.len() >= MAX_CLIENTS {
            let oldest = clients.iter().min_by_key(|(_, c)| c.traffic.last_seen()).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                clients.remove(&oldest);
            }
        }
        let client = Arc::new(RestClient {
            endpoint_id: endpoint.id,
            endpoint: endpoint.name.clone(),
            address: address.to_owned(),
            traffic: Traffic::new(now),
        });
        clients.insert(key, client.clone());
        client
    }

    /// Every client, most recently heard from first.
    pub fn all(&self) -> Vec<Arc<RestClient>> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Arc<RestClient>> = clients.values().cloned().collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.traffic.last_seen()));
        out
    }

    /// Clients heard from within [`ACTIVE_WITHIN`] of `now`.
    pub fn active(&self, now: i64) -> usize {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.values().filter(|c| now - c.traffic.last_seen() <= ACTIVE_WITHIN).count()
    }

    /// Whether an authentication of `endpoint_id` at `now` should write its `last_seen`; if so
    /// it is counted as written.
    pub fn last_seen_due(&self, endpoint_id: i64, now: i64) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() >= MAX_CLIENTS {
            written.retain(|_, at| now - *at < LAST_SEEN_EVERY);
        }
        match written.get(&endpoint_id) {
            Some(at) if now - *at < LAST_SEEN_EVERY => false,
            _ => {
                written.insert(endpoint_id, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalbox_schema::{AuthKind, EndpointType, Role};

    fn endpoint(id: i64) -> Endpoint {
        Endpoint {
            id,
            name: format!("e{id}"),
            role: Role::PubSub,
            endpoint_type: EndpointType::Rest,
            topic_patterns: String::new(),
            auth: AuthKind::Basic,
            username: None,
            password_hash: None,
            api_key_digest: None,
            wsx_channel: None,
            created_at: 0,
            last_seen: None,
        }
    }

    #[test]
    fn last_seen_is_due_once_a_minute_per_endpoint() {
        let clients = RestClients::default();
        assert!(clients.last_seen_due(1, 0));
        assert!(!clients.last_seen_due(1, LAST_SEEN_EVERY - 1));
        assert!(clients.last_seen_due(2, 1), "another endpoint has its own minute");
        assert!(clients.last_seen_due(1, LAST_SEEN_EVERY));
    }

    #[test]
    fn clients_are_one_per_endpoint_and_address_and_stay_bounded() {
        let clients = RestClients::default();
        let a = clients.seen(&endpoint(1), "10.0.0.1", 1);
        let again = clients.seen(&endpoint(1), "10.0.0.1", 5);
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(a.traffic.last_seen(), 5);
        clients.seen(&endpoint(1), "10.0.0.2", 2);
        assert_eq!(clients.all().len(), 2);
        assert_eq!(clients.active(ACTIVE_WITHIN + 3), 1, "only the one heard from at 5");
        for i in 0..MAX_CLIENTS as i64 {
            clients.seen(&endpoint(100 + i), "10.0.0.9", 10 + i);
        }
        let all = clients.all();
        assert_eq!(all.len(), MAX_CLIENTS);
        assert!(all.iter().all(|c| c.address != "10.0.0.2"), "the one heard from longest ago went");
    }
}
