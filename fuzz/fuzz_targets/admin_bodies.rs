//! Admin JSON bodies. Each input is read as the body of
//! - a subscription create/edit (`SubscriptionOptions`, also what REST and WSX subscribe read):
//!   a 400 with details, or options whose `check_bounds` accepts exactly the documented ranges;
//! - a push target (`push`) for REST, SOAP and AMQP endpoints, and an `http` service: refused
//!   with a reason, or stored with no secret in the clear and each sealed member opening only
//!   at its own place (row and field), to the value given.
//!
//! Never a panic. The subscription part is the property of
//! `subscription_options_accept_exactly_the_documented_ranges` in broker/src/fuzz_tests.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signalbox::node::error::parse_json;
use signalbox::node::subscriptions::{SubscriptionOptions, MAX_WAIT_SECS};
use signalbox_actors::secrets::{MasterKey, SealedAt};

fn within_documented_bounds(o: &SubscriptionOptions) -> bool {
    let wait = |v: Option<f64>, min: f64| v.is_none_or(|x| min <= x && x <= MAX_WAIT_SECS);
    wait(o.ack_timeout, 0.001)
        && wait(o.wait_sock_err, 0.0)
        && wait(o.wait_non_sock_err, 0.0)
        && o.delivery_batch_size.is_none_or(|v| (1..=10_000).contains(&v))
        && o.max_in_flight.is_none_or(|v| (1..=1000).contains(&v))
        && o.delivery_max_retry.is_none_or(|v| v >= 1)
}

fn subscription_options(body: &[u8]) {
    match parse_json::<SubscriptionOptions>(body) {
        Err(e) => assert!(e.kind.status() == 400 && !e.details.is_empty(), "{:?} {}", e.kind, e.details),
        Ok(options) => match options.check_bounds() {
            Ok(()) => assert!(within_documented_bounds(&options), "accepted out of bounds"),
            Err(e) => {
                assert!(e.kind.status() == 400 && !e.details.is_empty());
                assert!(!within_documented_bounds(&options), "refused within bounds: {}", e.details);
            }
        },
    }
}

/// Every `*_enc` member below `stored` opens at its place under `at` to the clear value that
/// `given` held under the same path without `_enc` (`url_enc` ← `url`), and at no other place.
fn sealed_members_open_only_in_place(key: &MasterKey, stored: &Value, given: &Value, at: &SealedAt) {
    let Value::Object(members) = stored else { return };
    for (name, member) in members {
        let here = at.child(name);
        match member {
            Value::String(sealed) if name.ends_with("_enc") => {
                let clear = &given[name.trim_end_matches("_enc")];
                assert_eq!(key.decrypt(sealed, &here).ok().as_deref(), clear.as_str(), "{here}");
                assert!(key.decrypt(sealed, &at.child("other_enc")).is_err(), "{here} opened elsewhere");
            }
            Value::Object(_) => sealed_members_open_only_in_place(key, member, &given[name], &here),
            _ => {}
        }
    }
}

fn has_sealed_member(value: &Value) -> bool {
    match value {
        Value::Object(members) => members.iter().any(|(k, v)| k.ends_with("_enc") || has_sealed_member(v)),
        Value::Array(items) => items.iter().any(has_sealed_member),
        _ => false,
    }
}

fn no_secret_in_the_clear(stored: &Value) {
    if let Some(auth) = stored.get("auth") {
        assert!(auth.get("password").is_none() && auth.get("token").is_none(), "{auth}");
    }
}

fn push_target_and_service(key: &MasterKey, body: &[u8]) {
    let Ok(given) = serde_json::from_slice::<Value>(body) else { return };
    // `ca_file` names a file the node reads (to build a TLS client); not this fuzzer's business.
    if given.get("ca_file").is_some() {
        return;
    }
    for endpoint_type in ["rest", "soap", "amqp"] {
        let at = SealedAt::subscription_push("zpsk.fuzz.000001");
        let target = endpoint_type.parse().expect("an endpoint type");
        match signalbox_actors::targets::seal(target, &given, key, &at) {
            Err(reason) => assert!(!reason.is_empty()),
            Ok(stored) => {
                no_secret_in_the_clear(&stored);
                if endpoint_type == "amqp" {
                    assert!(stored.get("url").is_none(), "an AMQP URL kept in the clear");
                }
                sealed_members_open_only_in_place(key, &stored, &given, &at);
                assert!(!has_sealed_member(&signalbox_actors::targets::public_view(&stored)), "{stored}");
            }
        }
    }
    let kind = given.get("kind").and_then(Value::as_str).unwrap_or("http").to_owned();
    let mut config = given.clone();
    if let Some(obj) = config.as_object_mut() {
        obj.remove("kind");
        obj.remove("name");
    }
    match signalbox_actors::services::validate("fuzz.service", &kind, &config, key) {
        Err(reason) => assert!(!reason.is_empty()),
        Ok(stored) => {
            no_secret_in_the_clear(&stored);
            sealed_members_open_only_in_place(
                key,
                &stored,
                &config,
                &SealedAt::service_config("fuzz.service"),
            );
        }
    }
}

fuzz_target!(|body: &[u8]| {
    static KEY: std::sync::OnceLock<MasterKey> = std::sync::OnceLock::new();
    // A fixed key (32 zero bytes): runs are reproducible.
    let key = KEY.get_or_init(|| MasterKey::from_base64(&format!("{}=", "A".repeat(43))).expect("key"));
    subscription_options(body);
    push_target_and_service(key, body);
});
