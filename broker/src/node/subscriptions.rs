//! Subscriptions as every transport makes them: the options a caller may set, checked and
//! defaulted in one place for the admin API, REST subscribe and WSX subscribe alike, and the one
//! way a subscription is stored.

use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::secrets::{random_bytes, SealedAt};
use signalbox_actors::targets;
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{Endpoint, Subscription, SubscriptionFields};
use signalbox_schema::{AckMode, DeliveryMethod, StoreError};

use super::error::{one_of, NodeError};
use super::Node;

/// The names of [`SubscriptionOptions`]' fields.
pub const OPTION_FIELDS: &[&str] = &[
    "delivery_method",
    "ack_mode",
    "ack_timeout",
    "delivery_batch_size",
    "wrap_one_msg_in_list",
    "delivery_max_retry",
    "delivery_err_should_block",
    "wait_sock_err",
    "wait_non_sock_err",
    "active_status",
    "max_in_flight",
    "push",
];

/// The subscription fields of INTERFACES §8.1 that a caller may set.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionOptions {
    pub delivery_method: Option<String>,
    pub ack_mode: Option<String>,
    pub ack_timeout: Option<f64>,
    pub delivery_batch_size: Option<i64>,
    pub wrap_one_msg_in_list: Option<bool>,
    pub delivery_max_retry: Option<i64>,
    pub delivery_err_should_block: Option<bool>,
    pub wait_sock_err: Option<f64>,
    pub wait_non_sock_err: Option<f64>,
    pub active_status: Option<String>,
    pub max_in_flight: Option<i64>,
    pub push: Option<Value>,
}

/// The words `active_status` takes (stored as given; nothing inside reads it).
pub const ACTIVE_STATUSES: &[&str] = &["pub-sub", "pub-only", "sub-only", "disabled"];

/// The most pushes a WSX subscription may have unanswered.
pub const MAX_IN_FLIGHT: i64 = 1000;
/// The longest wait a subscription may name (`ack_timeout`, `wait_sock_err`,
/// `wait_non_sock_err`), in seconds: 30 days.
pub const MAX_WAIT_SECS: f64 = 30.0 * 86_400.0;

impl SubscriptionOptions {
    /// Checks the numeric fields given against their bounds, the same on every path (admin,
    /// REST, WSX); the error names the field.
    pub fn check_bounds(&self) -> Result<(), NodeError> {
        let wait = |field: &str, v: Option<f64>, min: f64| match v {
            Some(x) if !(min..=MAX_WAIT_SECS).contains(&x) => Err(NodeError::bad_request(format!(
                "`{field}` must be a number of seconds from {min} to {MAX_WAIT_SECS}"
            ))),
            _ => Ok(()),
        };
        wait("ack_timeout", self.ack_timeout, 0.001)?;
        wait("wait_sock_err", self.wait_sock_err, 0.0)?;
        wait("wait_non_sock_err", self.wait_non_sock_err, 0.0)?;
        if self.delivery_batch_size.is_some_and(|v| !(1..=10_000).contains(&v)) {
            return Err(NodeError::bad_request("`delivery_batch_size` must be 1–10000"));
        }
        if self.delivery_max_retry.is_some_and(|v| v < 1) {
            return Err(NodeError::bad_request("`delivery_max_retry` must be at least 1"));
        }
        if self.max_in_flight.is_some_and(|v| !(1..=MAX_IN_FLIGHT).contains(&v)) {
            return Err(NodeError::bad_request(format!("`max_in_flight` must be 1–{MAX_IN_FLIGHT}")));
        }
        Ok(())
    }

    /// Checks every given field and answers them as stored columns. `current` is the
    /// subscription being edited (its values fill what the edit leaves out), `None` on create —
    /// and then the answer carries the new subscription's sub key, which its push secrets are
    /// sealed for.
    pub fn to_fields(
        &self,
        endpoint: &Endpoint,
        current: Option<&Subscription>,
        state: &Node,
    ) -> Result<SubscriptionFields, NodeError> {
        self.check_bounds()?;
        if let Some(v) = &self.active_status {
            one_of("active_status", v, ACTIVE_STATUSES)?;
        }
        let method = match &self.delivery_method {
            Some(word) => word.parse()?,
            None => current.map_or(DeliveryMethod::Pull, |c| c.delivery_method),
        };
        let ack_mode = match &self.ack_mode {
            Some(word) => word.parse()?,
            None => current.map_or(AckMode::Auto, |c| c.ack_mode),
        };
        // A WSX subscription (made by its client) pushes to a session that acknowledges.
        let wsx = current.is_some_and(|c| c.is_wsx);
        if method == DeliveryMethod::Notify && ack_mode == AckMode::Explicit && !wsx {
            return Err(NodeError::bad_request(
                "`ack_mode = explicit` is for pull and WSX subscriptions: a push target acknowledges by succeeding",
            ));
        }
        let sub_key = match current {
            Some(c) => c.sub_key.clone(),
            None => new_sub_key(endpoint.endpoint_type.as_str()),
        };
        let push_config = match (&self.push, method) {
            (Some(_), DeliveryMethod::Pull) => {
                return Err(NodeError::bad_request("`push` applies to `delivery_method = notify` only"))
            }
            (Some(p), DeliveryMethod::Notify) => {
                let at = SealedAt::subscription_push(&sub_key);
                let sealed = targets::seal(endpoint.endpoint_type, p, &state.master_key, &at)
                    .map_err(NodeError::bad_request)?;
                if let Some(directory) = sealed.get("directory").and_then(Value::as_str) {
                    outside_data_dir(directory, &state.config.data_dir)?;
                }
                Some(Some(sealed.to_string()))
            }
            (None, DeliveryMethod::Notify) if current.and_then(|c| c.push_config.as_ref()).is_none() => {
                return Err(NodeError::bad_request("`delivery_method = notify` needs a `push` target"))
            }
            (None, DeliveryMethod::Pull) => Some(None),
            (None, DeliveryMethod::Notify) => None,
        };
        Ok(SubscriptionFields {
            delivery_method: Some(method),
            ack_mode: Some(ack_mode),
            ack_timeout: self.ack_timeout,
            delivery_batch_size: self.delivery_batch_size,
            wrap_one_msg_in_list: self.wrap_one_msg_in_list,
            delivery_max_retry: self.delivery_max_retry,
            delivery_err_should_block: self.delivery_err_should_block,
            wait_sock_err: self.wait_sock_err,
            wait_non_sock_err: self.wait_non_sock_err,
            active_status: self.active_status.clone(),
            max_in_flight: self.max_in_flight,
            push_config,
            sub_key: current.is_none().then_some(sub_key),
            ..SubscriptionFields::default()
        })
    }
}

/// A `files` target never writes into the node's own data directory (its database and keys),
/// however the path is spelled (links and `..` resolved).
fn outside_data_dir(directory: &str, data_dir: &std::path::Path) -> Result<(), NodeError> {
    let target = std::fs::canonicalize(directory)
        .map_err(|e| NodeError::bad_request(format!("`push.directory`: {directory}: {e}")))?;
    let data = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    if target.starts_with(&data) {
        return Err(NodeError::bad_request("`push.directory` must not be inside the node's data directory"));
    }
    Ok(())
}

/// `zpsk.<endpoint type>.<6 hex digits>`, as Zato shapes sub keys.
pub fn new_sub_key(endpoint_type: &str) -> String {
    let bytes: [u8; 3] = random_bytes().unwrap_or_default();
    format!("zpsk.{endpoint_type}.{}", hex::encode(bytes))
}

/// Fills what a create left out with the documented defaults.
pub fn with_defaults(mut f: SubscriptionFields) -> SubscriptionFields {
    f.ack_timeout.get_or_insert(30.0);
    f.delivery_batch_size.get_or_insert(500);
    f.wrap_one_msg_in_list.get_or_insert(true);
    f.delivery_max_retry.get_or_insert(123_456_789);
    f.delivery_err_should_block.get_or_insert(true);
    f.wait_sock_err.get_or_insert(10.0);
    f.wait_non_sock_err.get_or_insert(3.0);
    f.active_status.get_or_insert_with(|| "pub-sub".into());
    f.max_in_flight.get_or_insert(1);
    f.is_wsx.get_or_insert(false);
    f.unsub_on_wsx_close.get_or_insert(true);
    f.creation_time.get_or_insert_with(now_micros);
    f.push_config.get_or_insert(None);
    f
}

/// Stores a new subscription under the sub key `fields` carries (a new one if none), retrying
/// the rare clash of a random key with another; push secrets sealed for one key are sealed
/// again for the next.
pub fn create_subscription(
    state: &Node,
    mut fields: SubscriptionFields,
    endpoint_type: &str,
) -> Result<Subscription, StoreError> {
    let mut last = StoreError::Conflict("sub_key".into());
    let mut sub_key = fields.sub_key.take().unwrap_or_else(|| new_sub_key(endpoint_type));
    for _ in 0..8 {
        let attempt = SubscriptionFields { sub_key: Some(sub_key.clone()), ..fields.clone() };
        match state.store.subscription_create(attempt) {
            Err(StoreError::Conflict(reason)) if reason.contains("sub_key") => {
                last = StoreError::Conflict(reason);
                let next = new_sub_key(endpoint_type);
                if let Some(Some(config)) = &fields.push_config {
                    let (from, to) =
                        (SealedAt::subscription_push(&sub_key), SealedAt::subscription_push(&next));
                    let config = targets::rebind(config, &state.master_key, &from, &to)
                        .map_err(|e| StoreError::Other(e.to_string()))?;
                    fields.push_config = Some(Some(config));
                }
                sub_key = next;
            }
            other => return other,
        }
    }
    Err(last)
}

pub fn subscription_json(s: &Subscription, topic_name: &str, endpoint_name: &str) -> Value {
    let push = s
        .push_config
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .map(|p| targets::public_view(&p));
    json!({
        "id": s.id,
        "sub_key": s.sub_key,
        "topic_name": topic_name,
        "endpoint": endpoint_name,
        "creation_time": iso(s.creation_time),
        "sub_pattern_matched": s.sub_pattern_matched,
        "delivery_method": s.delivery_method,
        "ack_mode": s.ack_mode,
        "ack_timeout": s.ack_timeout,
        "delivery_batch_size": s.delivery_batch_size,
        "wrap_one_msg_in_list": s.wrap_one_msg_in_list,
        "delivery_max_retry": s.delivery_max_retry,
        "delivery_err_should_block": s.delivery_err_should_block,
        "wait_sock_err": s.wait_sock_err,
        "wait_non_sock_err": s.wait_non_sock_err,
        "active_status": s.active_status,
        "max_in_flight": s.max_in_flight,
        "push": push,
        "is_wsx": s.is_wsx,
        "node": s.server_name,
    })
}
