//! WSX client frames: whatever text a client sends after the WebSocket layer,
//! `ClientFrame::parse` answers an error or exactly what the text says, read as Zato reads it
//! (a missing `meta.action` is `client-response`), and never panics. Bytes that are not UTF-8
//! never reach it (the session answers them 422 / closes 4001), so they are skipped here. The
//! same property as `wsx_frame_parse_*` in broker/src/fuzz_tests.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signalbox::frames::ClientFrame;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let reference: Option<Value> = serde_json::from_str(text).ok();
    let expect_ok = match reference.as_ref().and_then(Value::as_object) {
        Some(obj) => obj.get("meta").is_none_or(|m| m.is_object() || m.is_null()),
        None => false,
    };
    match ClientFrame::parse(text) {
        Err(e) => {
            assert!(!expect_ok, "refused a valid frame: {e}");
            assert!(!e.is_empty(), "an error without a reason");
        }
        Ok(frame) => {
            assert!(expect_ok, "accepted a frame that is not one");
            let obj = reference.as_ref().and_then(Value::as_object).expect("checked above");
            let meta = obj.get("meta").cloned().unwrap_or(Value::Null);
            let field = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
            assert_eq!(frame.action, field("action").unwrap_or_else(|| "client-response".into()));
            assert_eq!(frame.id, field("id"));
            assert_eq!(frame.token, field("token"));
            assert_eq!(frame.in_reply_to, field("in_reply_to"));
            assert_eq!(&frame.data, obj.get("data").unwrap_or(&Value::Null));
            assert_eq!(frame.meta, meta);
            for name in ["client_name", "action", "id", "data", "sub_key", "username"] {
                let _ = frame.meta_str(name);
            }
        }
    }
});
