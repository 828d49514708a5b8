//! Who is publishing or subscribing: HTTP Basic with an endpoint's username and password, or
//! `X-API-Key`. Verified credentials are cached in memory for `auth_cache_ttl` (never on disk)
//! so PBKDF2 costs once per client, not once per request; the cache of an endpoint is dropped
//! when its credentials, role or patterns change. Repeated failures from one address or for one
//! username are throttled with 429.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::Engine;
use ring::digest;
use signalbox_actors::patterns::{Access, Patterns};
use signalbox_actors::secrets::verify_password;
use signalbox_schema::models::Endpoint;
use signalbox_schema::StoreError;

use super::error::ApiError;
use super::AppState;

/// Failures allowed per address or username within `FAILURE_WINDOW` before 429.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Cached credentials at most; past it the oldest half is dropped.
const MAX_CACHED: usize = 100_000;

/// An authenticated endpoint with its parsed permissions.
#[derive(Clone)]
pub struct Caller {
    pub endpoint: Arc<Endpoint>,
    pub patterns: Arc<Patterns>,
}

impl Caller {
    /// An endpoint as a caller: its stored patterns parsed. They were validated when stored; a
    /// line that no longer parses allows nothing.
    pub fn of(endpoint: Arc<Endpoint>) -> Caller {
        let patterns = Patterns::from_stored(&endpoint.topic_patterns).unwrap_or_default();
        Caller { endpoint, patterns: Arc::new(patterns) }
    }

    /// Role first, then the `pub=` / `sub=` lines in order; the first match wins and is answered.
    pub fn allowed(&self, access: Access, topic: &str) -> Option<String> {
        let role_ok = match access {
            Access::Pub => matches!(self.endpoint.role.as_str(), "pub-only" | "pub-sub"),
            Access::Sub => matches!(self.endpoint.role.as_str(), "sub-only" | "pub-sub"),
        };
        if !role_ok {
            return None;
        }
        self.patterns.matching(access, topic).map(str::to_owned)
    }
}

enum Credentials {
    Basic { username: String, password: String },
    ApiKey(String),
}

#[derive(Default)]
pub struct Authenticator {
    ttl: Duration,
    /// Cache key (never the secret itself) → the verified caller and when it was verified.
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
    /// Address or username → failures in the current window and when the window began.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
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

    fn throttled(&self, keys: &[&str]) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        keys.iter()
            .filter_map(|k| failures.get(*k))
            .filter(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
            .map(|(_, since)| FAILURE_WINDOW.saturating_sub(since.elapsed()).as_secs().max(1))
            .max()
    }

    fn record_failure(&self, keys: &[&str]) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() > MAX_CACHED {
                failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
            }
            for key in keys {
                let slot = failures.entry((*key).to_owned()).or_insert((0, Instant::now()));
                if slot.1.elapsed() >= FAILURE_WINDOW {
                    *slot = (0, Instant::now());
                }
                slot.0 += 1;
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

fn credentials(req: &HttpRequest) -> Option<Credentials> {
    if let Some(key) = req.headers().get("X-API-Key").and_then(|v| v.to_str().ok()) {
        return Some(Credentials::ApiKey(key.trim().to_owned()));
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some(Credentials::Basic { username: username.to_owned(), password: password.to_owned() })
}

async fn authenticate(
    state: web::Data<AppState>,
    peer: String,
    creds: Option<Credentials>,
) -> Result<Caller, ApiError> {
    let denied = || ApiError::unauthorized("missing or invalid credentials");
    let creds = creds.ok_or_else(denied)?;
    let auth = &state.auth;
    let (cache_key, who) = match &creds {
        Credentials::Basic { username, password } => {
            let hash = digest::digest(&digest::SHA256, password.as_bytes());
            (format!("b:{username}:{}", hex::encode(hash.as_ref())), format!("user:{username}"))
        }
        Credentials::ApiKey(key) => (format!("k:{}", state.master_key.digest(key)), String::new()),
    };
    let peer_key = format!("addr:{peer}");
    let keys: Vec<&str> = [peer_key.as_str(), who.as_str()].into_iter().filter(|k| !k.is_empty()).collect();
    if let Some(retry) = auth.throttled(&keys) {
        return Err(ApiError::too_many("too many failed logins, try again later", retry));
    }
    if let Some(caller) = auth.cached(&cache_key) {
        return Ok(caller);
    }
    let store = state.store.clone();
    let master = state.master_key.clone();
    let found = web::block(move || -> Result<Option<Endpoint>, StoreError> {
        let endpoint = match &creds {
            Credentials::Basic { username, password } => match store.endpoint_by_username(username) {
                Ok(e)
                    if e.auth == "basic"
                        && e.password_hash.as_deref().is_some_and(|h| verify_password(password, h)) =>
                {
                    Some(e)
                }
                Ok(_) | Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            },
            Credentials::ApiKey(key) => match store.endpoint_by_api_key_digest(&master.digest(key)) {
                Ok(e) if e.auth == "api_key" => Some(e),
                Ok(_) | Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(endpoint)
    })
    .await??;
    match found {
        Some(endpoint) => {
            let caller = Caller::of(Arc::new(endpoint));
            auth.remember(cache_key, &caller);
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

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        let creds = credentials(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("node state missing"))?;
            authenticate(state, peer, creds).await
        })
    }
}
