//! Publish bodies (REST `POST /zato/pubsub/topic/{name}`, the admin publish route and WSX
//! `publish`): `publish_input::parse` answers a 400 with details, or at least one message whose
//! every field is within its documented bound — never a panic, never a 5xx. The same property
//! as `publish_parse_*` in broker/src/fuzz_tests.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signalbox::node::publish_input::{self, MAX_SECONDS};

fuzz_target!(|body: &[u8]| {
    match publish_input::parse(body, "application/json") {
        Err(e) => {
            assert_eq!(e.kind.status(), 400, "{}", e.details);
            assert!(!e.details.is_empty(), "a 400 without details");
        }
        Ok((messages, _as_list)) => {
            assert!(!messages.is_empty());
            for m in &messages {
                assert!((1..=9).contains(&m.priority), "priority {}", m.priority);
                assert!(m.expiration.is_none_or(|e| (0..=MAX_SECONDS).contains(&e)), "{:?}", m.expiration);
                if let Some(id) = &m.msg_id {
                    assert!((1..=200).contains(&id.len()), "msg_id of {} bytes", id.len());
                    assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)), "msg_id {id:?}");
                }
                for v in [&m.correl_id, &m.in_reply_to, &m.ext_client_id, &m.group_id].into_iter().flatten() {
                    assert!(v.chars().count() <= 200);
                }
                assert!(m.mime_type.chars().count() <= 200);
                assert!(!matches!(m.data.as_str(), "null" | "\"\"" | "[]" | "{}"), "data {}", m.data);
            }
        }
    }
});
