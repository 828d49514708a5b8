//! Who is publishing or subscribing: an endpoint's username and password, or its API key —
//! [`authenticate`] is the one login path of every transport (REST's Basic and `X-API-Key`,
//! WSX `create-session`). Verified credentials are cached in memory for `auth_cache_ttl` (never on
//! disk) so PBKDF2 costs once per client, not once per request; the cache of an endpoint is
//! dropped when its credentials, role or patterns change.
//!
//! **Throttle.** A verified, cached credential is answered first, whatever else goes on. Failures
//! are counted per (address, username) — 10 a minute — and per address — 50 a minute — then 429:
//! an attacker elsewhere cannot lock a user out, and one address cannot try names without end.
//! An unknown username costs one PBKDF2 as a known one does, so timing does not tell them apart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::digest;
use signalbox_actors::patterns::{Access, Permissions};
use signalbox_actors::secrets::verify_password;
use signalbox_schema::models::Endpoint;
use signalbox_schema::{AuthKind, StoreError};

use super::error::NodeError;
use super::Node;

/// Failures allowed per (address, username) within `FAILURE_WINDOW` before 429.
const MAX_FAILURES: u32 = 10;
/// Failures allowed per address, whatever the usernames, within `FAILURE_WINDOW` before 429.
const MAX_ADDRESS_FAILURES: u32 = 50;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Cached credentials at most; past it the oldest half is dropped.
const MAX_CACHED: usize = 100_000;

/// An authenticated endpoint with its parsed permissions.
#[derive(Clone)]
pub struct Caller {
    pub endpoint: Arc<Endpoint>,
    pub permissions: Arc<Permissions>,
    /// The REST client this request came from (none for WSX and admin publications): what it
    /// publishes and pulls is counted there for the console.
    pub client: Option<Arc<super::clients::RestClient>>,
}

impl Caller {
    /// An endpoint as a caller, with its permissions read once.
    pub fn of(endpoint: Arc<Endpoint>) -> Caller {
        let permissions = Permissions::of(endpoint.role, &endpoint.topic_patterns);
        Caller { endpoint, permissions: Arc::new(permissions), client: None }
    }

    /// `n` messages came in from this caller's REST client.
    pub fn count_in(&self, n: usize) {
        if let Some(client) = &self.client {
            client.traffic.count_in(n as u64);
        }
    }

    /// `n` messages went out to this caller's REST client.
    pub fn count_out(&self, n: usize) {
        if let Some(client) = &self.client {
            client.traffic.count_out(n as u64);
        }
    }

    /// Role first, then the `pub=` / `sub=` lines in order; the first match wins and is answered.
    pub fn allowed(&self, access: Access, topic: &str) -> Option<String> {
        self.permissions.allowed(access, topic).map(str::to_owned)
    }
}

pub enum Credentials {
    Basic { username: String, password: String },
    ApiKey(String),
}

impl Credentials {
    /// A WSX `create-session`'s `username` and `secret`: an API key (`sbk_…`) or a password.
    pub fn from_secret(username: String, secret: String) -> Credentials {
        if secret.starts_with("sbk_") {
            Credentials::ApiKey(secret)
        } else {
            Credentials::Basic { username, password: secret }
        }
    }
}

/// A PBKDF2 hash of nothing anyone knows, verified against for unknown usernames.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let secret = signalbox_actors::secrets::new_password().unwrap_or_else(|_| "decoy".into());
        signalbox_actors::secrets::hash_password(&secret).unwrap_or_default()
    })
}

/// Failed logins per key (address, or address and username) in the current window. Bounded
/// without rescans: windows leave from the front of `order` as they expire, and past
/// `MAX_CACHED` keys the oldest windows go first.
#[derive(Default)]
struct Failures {
    /// Key → failures in its window and when the window began.
    counts: HashMap<String, (u32, Instant)>,
    /// (window start, key), in the order windows began; an entry whose key has a newer window
    /// since is skipped when it leaves.
    order: std::collections::VecDeque<(Instant, String)>,
}

impl Failures {
    fn record(&mut self, key: &str) {
        let now = Instant::now();
        while let Some((began, _)) = self.order.front() {
            if now.duration_since(*began) < FAILURE_WINDOW && self.counts.len() < MAX_CACHED {
                break;
            }
            let Some((began, old)) = self.order.pop_front() else { break };
            if self.counts.get(&old).is_some_and(|(_, b)| *b == began) {
                self.counts.remove(&old);
            }
        }
        let slot = self.counts.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(slot.1) >= FAILURE_WINDOW {
            *slot = (0, now);
        }
        if slot.0 == 0 {
            self.order.push_back((slot.1, key.to_owned()));
        }
        slot.0 += 1;
    }
}

#[derive(Default)]
pub struct Authenticator {
    ttl: Duration,
    /// Cache key (never the secret itself) → the verified caller and when it was verified.
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
    failures: Mutex<Failures>,
}

impl Authenticator {
    pub fn new(ttl: Duration) -> Authenticator {
        Authenticator { ttl, ..Authenticator::default() }
    }

    /// Forgets every cached credential of an endpoint.
    pub fn forget(&self, endpoint_id: i64) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (c, _)| c.endpoint.id != endpoint_id);
        }
    }

    /// Every cached credential (the configuration changed on another node).
    pub fn forget_all(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Seconds to wait when any of `keys` (each with its limit) has failed too often.
    fn throttled(&self, keys: &[(&str, u32)]) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        keys.iter()
            .filter_map(|(k, limit)| failures.counts.get(*k).map(|f| (f, *limit)))
            .filter(|((n, since), limit)| *n >= *limit && since.elapsed() < FAILURE_WINDOW)
            .map(|((_, since), _)| FAILURE_WINDOW.saturating_sub(since.elapsed()).as_secs().max(1))
            .max()
    }

    fn record_failure(&self, keys: &[(&str, u32)]) {
        if let Ok(mut failures) = self.failures.lock() {
            for (key, _) in keys {
                failures.record(key);
            }
        }
    }

    fn cached(&self, key: &str) -> Option<Caller> {
        let cache = self.cache.lock().ok()?;
        cache.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(c, _)| c.clone())
    }

    fn remember(&self, key: String, caller: &Caller) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                let ttl = self.ttl;
                cache.retain(|_, (_, at)| at.elapsed() < ttl);
            }
            cache.insert(key, (caller.clone(), Instant::now()));
        }
    }
}

/// Checks credentials from `peer` (an address) for any transport: the verified cache first,
/// then the throttle, then the store. 401 for bad or missing credentials, 429 when throttled.
pub async fn authenticate(
    state: &Node,
    peer: String,
    creds: Option<Credentials>,
) -> Result<Caller, NodeError> {
    let denied = || NodeError::unauthorized("missing or invalid credentials");
    let creds = creds.ok_or_else(denied)?;
    let auth = &state.auth;
    let (cache_key, who) = match &creds {
        Credentials::Basic { username, password } => {
            let hash = digest::digest(&digest::SHA256, password.as_bytes());
            (format!("b:{username}:{}", hex::encode(hash.as_ref())), format!("user:{username}"))
        }
        Credentials::ApiKey(key) => (format!("k:{}", state.master_key.digest(key)), String::new()),
    };
    if let Some(caller) = auth.cached(&cache_key) {
        note_seen(state, &caller.endpoint);
        return Ok(caller);
    }
    let (peer_key, pair_key) = (format!("addr:{peer}"), format!("addr:{peer}|{who}"));
    let keys = [(pair_key.as_str(), MAX_FAILURES), (peer_key.as_str(), MAX_ADDRESS_FAILURES)];
    if let Some(retry) = auth.throttled(&keys) {
        return Err(NodeError::too_many("too many failed logins, try again later", retry));
    }
    let store = state.store.clone();
    let master = state.master_key.clone();
    let found = super::error::blocking(move || -> Result<Option<Endpoint>, StoreError> {
        let endpoint = match &creds {
            Credentials::Basic { username, password } => {
                let found = match store.endpoint_by_username(username) {
                    Ok(e) => Some(e),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e),
                };
                let hash = found
                    .as_ref()
                    .filter(|e| e.auth == AuthKind::Basic)
                    .and_then(|e| e.password_hash.clone());
                // One PBKDF2 whether or not the username exists.
                let verified = verify_password(password, hash.as_deref().unwrap_or(decoy_hash()));
                found.filter(|_| verified && hash.is_some())
            }
            Credentials::ApiKey(key) => match store.endpoint_by_api_key_digest(&master.digest(key)) {
                Ok(e) if e.auth == AuthKind::ApiKey => Some(e),
                Ok(_) | Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(endpoint)
    })
    .await?;
    match found {
        Some(endpoint) => {
            let caller = Caller::of(Arc::new(endpoint));
            auth.remember(cache_key, &caller);
            note_seen(state, &caller.endpoint);
            Ok(caller)
        }
        None => {
            state
                .metrics
                .auth_failures
                .with_label_values(&[if who.is_empty() { "api_key" } else { "basic" }])
                .inc();
            auth.record_failure(&keys);
            log::info!(target: "signalbox::audit", "event=auth_failed peer={peer} {who}");
            Err(denied())
        }
    }
}

/// Stores when an endpoint authenticated, at most once a minute per endpoint (a write, in the
/// background: the request does not wait for it).
fn note_seen(state: &Node, endpoint: &Endpoint) {
    let now = signalbox_actors::time::now_micros();
    if !state.rest_clients.last_seen_due(endpoint.id, now) {
        return;
    }
    let (store, id) = (state.store.clone(), endpoint.id);
    actix_rt::spawn(async move {
        if let Err(e) = super::error::blocking(move || store.endpoint_seen(id, now)).await {
            log::warn!("event=last_seen_not_written endpoint_id={id} error={e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_stay_bounded_and_the_oldest_windows_go_first() {
        let mut failures = Failures::default();
        let started = Instant::now();
        for i in 0..(MAX_CACHED + 50_000) {
            failures.record(&format!("addr:{i}"));
        }
        // Without rescans: 150,000 distinct keys in well under a second even in a debug build.
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(failures.counts.len() <= MAX_CACHED);
        assert!(!failures.counts.contains_key("addr:0"), "the oldest window went first");
        assert_eq!(failures.counts.get(&format!("addr:{}", MAX_CACHED + 49_999)).map(|c| c.0), Some(1));
        failures.record("addr:again");
        failures.record("addr:again");
        assert_eq!(failures.counts.get("addr:again").map(|c| c.0), Some(2));
    }
}
