//! Rows with every field filled, for the tests of the storage and of the actors: a test names
//! only what it is about, e.g. `TopicFields { dedup_window: Some(0), ..testing::topic("/t") }`.

use crate::models::{EndpointFields, SubscriptionFields, TopicFields};

/// An active GD topic that accepts publications without subscribers, a 120 s dedup window.
pub fn topic(name: &str) -> TopicFields {
    TopicFields {
        name: Some(name.into()),
        is_active: Some(true),
        has_gd: Some(true),
        is_api_sub_allowed: Some(true),
        max_depth_gd: Some(1_000_000),
        max_depth_non_gd: Some(1_000),
        on_overflow_non_gd: Some("reject".into()),
        limit_message_expiry: Some(86_400),
        limit_sub_inactivity: Some(0),
        on_no_subs_pub: Some("accept".into()),
        dedup_window: Some(120),
        created_at: Some(1),
    }
}

/// A REST endpoint allowed to publish and subscribe everywhere, without credentials.
pub fn endpoint(name: &str) -> EndpointFields {
    EndpointFields {
        name: Some(name.into()),
        role: Some("pub-sub".into()),
        endpoint_type: Some("rest".into()),
        topic_patterns: Some("sub=/**".into()),
        auth: Some("none".into()),
        created_at: Some(1),
        ..Default::default()
    }
}

/// A pull subscription with auto ack, no waits after a failure.
pub fn subscription(sub_key: &str, topic_id: i64, endpoint_id: i64) -> SubscriptionFields {
    SubscriptionFields {
        sub_key: Some(sub_key.into()),
        topic_id: Some(topic_id),
        endpoint_id: Some(endpoint_id),
        creation_time: Some(1),
        sub_pattern_matched: Some("sub=/**".into()),
        delivery_method: Some("pull".into()),
        ack_mode: Some("auto".into()),
        ack_timeout: Some(30.0),
        delivery_batch_size: Some(100),
        wrap_one_msg_in_list: Some(true),
        delivery_max_retry: Some(10),
        delivery_err_should_block: Some(true),
        wait_sock_err: Some(0.0),
        wait_non_sock_err: Some(0.0),
        active_status: Some("active".into()),
        max_in_flight: Some(100),
        push_config: Some(None),
        is_wsx: Some(false),
        unsub_on_wsx_close: Some(false),
        server_name: Some(None),
    }
}
