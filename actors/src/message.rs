//! A pub/sub message as the actors carry it, its place in a queue, and the form subscribers see.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};
use signalbox_schema::models::StoredMessage;

use crate::time::iso;

/// One published message. Shared (`Arc`) by every queue that holds it; never mutated in place —
/// an edit replaces it with a new `Arc`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// `zpsm` + 24 hex digits, or the publisher's own id.
    pub msg_id: String,
    pub topic_id: i64,
    pub topic_name: String,
    pub published_by_id: Option<i64>,
    pub correl_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub ext_client_id: Option<String>,
    pub group_id: Option<String>,
    pub position_in_group: Option<i64>,
    /// The `pub=` line that allowed the publication.
    pub pub_pattern_matched: String,
    /// Server time, microseconds; strictly increasing on one node.
    pub pub_time: i64,
    /// The publisher's own time, if it gave one.
    pub ext_pub_time: Option<i64>,
    /// Seconds, as published (after clamping to the topic's limit).
    pub expiration: i64,
    pub expiration_time: i64,
    /// The data as JSON text: delivered back as the JSON value it was published as.
    pub data: String,
    pub mime_type: String,
    pub size: i64,
    /// 1–9, 9 delivered first.
    pub priority: i32,
    /// JSON text.
    pub user_ctx: Option<String>,
    pub has_gd: bool,
}

impl Message {
    pub fn order_key(&self) -> OrderKey {
        OrderKey {
            priority: Reverse(self.priority),
            publisher_time: self.ext_pub_time.unwrap_or(self.pub_time),
            pub_time: self.pub_time,
            msg_id: self.msg_id.clone(),
        }
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expiration_time <= now
    }

    pub fn from_stored(m: StoredMessage, topic_name: &str) -> Message {
        Message {
            msg_id: m.pub_msg_id,
            topic_id: m.topic_id,
            topic_name: topic_name.to_owned(),
            published_by_id: m.published_by_id,
            correl_id: m.pub_correl_id,
            in_reply_to: m.in_reply_to,
            ext_client_id: m.ext_client_id,
            group_id: m.group_id,
            position_in_group: m.position_in_group,
            pub_pattern_matched: m.pub_pattern_matched,
            pub_time: m.pub_time,
            ext_pub_time: m.ext_pub_time,
            expiration: m.expiration,
            expiration_time: m.expiration_time,
            data: m.data,
            mime_type: m.mime_type,
            size: m.size,
            priority: m.priority,
            user_ctx: m.user_ctx,
            has_gd: true,
        }
    }

    pub fn to_stored(&self) -> StoredMessage {
        StoredMessage {
            id: 0,
            pub_msg_id: self.msg_id.clone(),
            topic_id: self.topic_id,
            published_by_id: self.published_by_id,
            pub_correl_id: self.correl_id.clone(),
            in_reply_to: self.in_reply_to.clone(),
            ext_client_id: self.ext_client_id.clone(),
            group_id: self.group_id.clone(),
            position_in_group: self.position_in_group,
            pub_pattern_matched: self.pub_pattern_matched.clone(),
            pub_time: self.pub_time,
            ext_pub_time: self.ext_pub_time,
            expiration: self.expiration,
            expiration_time: self.expiration_time,
            data: self.data.clone(),
            mime_type: self.mime_type.clone(),
            size: self.size,
            priority: self.priority,
            user_ctx: self.user_ctx.clone(),
            is_in_sub_queue: true,
            last_updated: None,
        }
    }

    /// The message as a subscriber sees it (INTERFACES §3): keys with null values left out.
    pub fn to_external(&self, sub_key: Option<&str>, delivery_count: i64, recv_time: i64) -> Value {
        let mut out = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                out.insert(k.to_owned(), v);
            }
        };
        put("msg_id", Value::String(self.msg_id.clone()));
        put("correl_id", self.correl_id.clone().into());
        put("in_reply_to", self.in_reply_to.clone().into());
        put("ext_client_id", self.ext_client_id.clone().into());
        put("group_id", self.group_id.clone().into());
        put("position_in_group", self.position_in_group.into());
        put("data", serde_json::from_str(&self.data).unwrap_or_else(|_| Value::String(self.data.clone())));
        put("mime_type", Value::String(self.mime_type.clone()));
        put("priority", self.priority.into());
        put("expiration", self.expiration.into());
        put("size", self.size.into());
        put("topic_name", Value::String(self.topic_name.clone()));
        put("sub_key", sub_key.map(str::to_owned).into());
        put("delivery_count", delivery_count.into());
        put("pub_time_iso", Value::String(iso(self.pub_time)));
        put("ext_pub_time_iso", self.ext_pub_time.map(iso).into());
        put("expiration_time_iso", Value::String(iso(self.expiration_time)));
        put("recv_time_iso", Value::String(iso(recv_time)));
        put("user_ctx", self.user_ctx.as_deref().and_then(|u| serde_json::from_str::<Value>(u).ok()).into());
        Value::Object(out)
    }
}

/// Delivery order: priority descending, then the publisher's time if given else the server's,
/// then the server's time, then msg_id — the same order `Store::queue_load` reads SQL in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    pub priority: Reverse<i32>,
    pub publisher_time: i64,
    pub pub_time: i64,
    pub msg_id: String,
}

/// Server times strictly increasing on this node, so two publications never tie.
pub fn next_pub_time() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::time::now_micros();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// `zpsm` + 24 hex digits.
pub fn new_msg_id() -> String {
    let bytes: [u8; 12] = crate::secrets::random_bytes().unwrap_or_default();
    format!("zpsm{}", hex::encode(bytes))
}

/// Counts the in-RAM messages of one topic that some queue still holds: every queue entry of
/// an in-RAM message keeps an `Arc<RamHold>`, and the last one dropped takes the count down.
#[derive(Debug)]
pub struct RamHold {
    depth: Arc<AtomicI64>,
}

impl RamHold {
    pub fn new(depth: &Arc<AtomicI64>) -> Arc<RamHold> {
        depth.fetch_add(1, Ordering::Relaxed);
        Arc::new(RamHold { depth: depth.clone() })
    }
}

impl Drop for RamHold {
    fn drop(&mut self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A message in one subscription's queue.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub msg: Arc<Message>,
    /// Present for in-RAM messages: keeps them counted in the topic's in-RAM depth.
    pub hold: Option<Arc<RamHold>>,
    /// Hand-overs so far.
    pub delivery_count: i64,
    /// When the message entered this queue.
    pub recv_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(msg_id: &str, priority: i32, pub_time: i64, ext_pub_time: Option<i64>) -> Message {
        Message {
            msg_id: msg_id.into(),
            topic_id: 7,
            topic_name: "/orders".into(),
            published_by_id: Some(3),
            correl_id: Some("c1".into()),
            in_reply_to: None,
            ext_client_id: Some("client".into()),
            group_id: None,
            position_in_group: Some(2),
            pub_pattern_matched: "pub=/orders".into(),
            pub_time,
            ext_pub_time,
            expiration: 60,
            expiration_time: pub_time + 60_000_000,
            data: r#"{"n":1}"#.into(),
            mime_type: "application/json".into(),
            size: 7,
            priority,
            user_ctx: Some(r#"{"k":"v"}"#.into()),
            has_gd: true,
        }
    }

    fn key(msg_id: &str, priority: i32, pub_time: i64, ext_pub_time: Option<i64>) -> OrderKey {
        message(msg_id, priority, pub_time, ext_pub_time).order_key()
    }

    #[test]
    fn order_key_ranks_priority_first_then_publisher_time_then_server_time_then_msg_id() {
        // Higher priority first, however late.
        assert!(key("b", 9, 1_000, None) < key("a", 5, 1, None));
        assert!(key("a", 1, 1, None) > key("b", 2, 1_000, None));
        // Same priority: the publisher's time when it gave one, else the server's.
        assert!(key("a", 5, 100, Some(10)) < key("b", 5, 50, None));
        assert!(key("a", 5, 100, Some(60)) > key("b", 5, 50, None));
        // Same publisher time: the server's time.
        assert!(key("z", 5, 30, Some(20)) < key("a", 5, 40, Some(20)));
        // All equal but the id.
        assert!(key("a", 5, 30, None) < key("b", 5, 30, None));
        assert_eq!(key("a", 5, 30, None), key("a", 5, 30, Some(30)));
    }

    #[test]
    fn a_message_expires_at_its_expiration_time_not_before() {
        let m = message("m", 5, 1_000, None);
        assert!(!m.is_expired(m.expiration_time - 1));
        assert!(m.is_expired(m.expiration_time));
        assert!(m.is_expired(m.expiration_time + 1));
    }

    #[test]
    fn the_stored_form_round_trips_every_field() {
        let m = message("zpsm1", 7, 1_000, Some(900));
        let stored = m.to_stored();
        assert!(stored.is_in_sub_queue);
        assert_eq!(stored.pub_msg_id, "zpsm1");
        assert_eq!(Message::from_stored(stored, "/orders"), m);
    }

    #[test]
    fn the_external_form_leaves_out_nulls_and_gives_data_back_as_json() {
        let mut m = message("m", 5, 1_000_000, None);
        let out = m.to_external(Some("zpsk.1"), 2, 3_000_000);
        assert_eq!(out["data"], serde_json::json!({"n": 1}));
        assert_eq!(out["user_ctx"], serde_json::json!({"k": "v"}));
        assert_eq!(out["sub_key"], "zpsk.1");
        assert_eq!(out["delivery_count"], 2);
        assert_eq!(out["position_in_group"], 2);
        assert_eq!(out["pub_time_iso"], "1970-01-01T00:00:01.000000Z");
        assert_eq!(out["recv_time_iso"], "1970-01-01T00:00:03.000000Z");
        for absent in ["in_reply_to", "group_id", "ext_pub_time_iso"] {
            assert!(out.get(absent).is_none(), "{absent} is null and must be left out");
        }
        // Data that is not JSON text comes back as the string it is.
        m.data = "not json".into();
        m.user_ctx = None;
        let out = m.to_external(None, 0, 0);
        assert_eq!(out["data"], "not json");
        assert!(out.get("sub_key").is_none() && out.get("user_ctx").is_none());
    }

    #[test]
    fn server_times_never_repeat_even_from_many_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| next_pub_time()).collect::<Vec<i64>>()))
            .collect();
        let mut all = Vec::new();
        for t in threads {
            let times = t.join().expect("thread");
            assert!(times.windows(2).all(|w| w[0] < w[1]), "each caller sees them increase");
            all.extend(times);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "no two publications share a server time");
    }

    #[test]
    fn msg_ids_are_zpsm_and_24_hex_digits_and_differ() {
        let (a, b) = (new_msg_id(), new_msg_id());
        for id in [&a, &b] {
            let hex = id.strip_prefix("zpsm").expect("zpsm prefix");
            assert_eq!(hex.len(), 24, "{id}");
            assert!(hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
        }
        assert_ne!(a, b);
    }

    #[test]
    fn a_ram_hold_counts_the_message_until_the_last_queue_lets_go() {
        let depth = Arc::new(AtomicI64::new(0));
        let hold = RamHold::new(&depth);
        let (q1, q2) = (hold.clone(), hold.clone());
        drop(hold);
        assert_eq!(depth.load(Ordering::Relaxed), 1, "one message, however many queues hold it");
        drop(q1);
        assert_eq!(depth.load(Ordering::Relaxed), 1);
        drop(q2);
        assert_eq!(depth.load(Ordering::Relaxed), 0);
        let _two = (RamHold::new(&depth), RamHold::new(&depth));
        assert_eq!(depth.load(Ordering::Relaxed), 2);
    }
}
