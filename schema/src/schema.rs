//! Diesel table definitions, matching both migration folders (`migrations/postgres`, `migrations/sqlite`).

diesel::table! {
    sb_meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    sb_admin_key (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        key_digest -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    pubsub_topic (id) {
        id -> BigInt,
        name -> Text,
        is_active -> Bool,
        has_gd -> Bool,
        is_api_sub_allowed -> Bool,
        max_depth_gd -> BigInt,
        max_depth_non_gd -> BigInt,
        on_overflow_non_gd -> Text,
        limit_message_expiry -> BigInt,
        limit_sub_inactivity -> BigInt,
        on_no_subs_pub -> Text,
        dedup_window -> BigInt,
        created_at -> BigInt,
        last_pub_time -> Nullable<BigInt>,
    }
}

diesel::table! {
    pubsub_endpoint (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        endpoint_type -> Text,
        topic_patterns -> Text,
        auth -> Text,
        username -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        api_key_digest -> Nullable<Text>,
        wsx_channel -> Nullable<Text>,
        created_at -> BigInt,
        last_seen -> Nullable<BigInt>,
    }
}

diesel::table! {
    pubsub_sub (id) {
        id -> BigInt,
        sub_key -> Text,
        topic_id -> BigInt,
        endpoint_id -> BigInt,
        creation_time -> BigInt,
        sub_pattern_matched -> Text,
        delivery_method -> Text,
        ack_mode -> Text,
        ack_timeout -> Double,
        delivery_batch_size -> BigInt,
        wrap_one_msg_in_list -> Bool,
        delivery_max_retry -> BigInt,
        delivery_err_should_block -> Bool,
        wait_sock_err -> Double,
        wait_non_sock_err -> Double,
        active_status -> Text,
        max_in_flight -> BigInt,
        push_config -> Nullable<Text>,
        is_wsx -> Bool,
        unsub_on_wsx_close -> Bool,
        server_name -> Nullable<Text>,
    }
}

diesel::table! {
    pubsub_message (id) {
        id -> BigInt,
        pub_msg_id -> Text,
        topic_id -> BigInt,
        published_by_id -> Nullable<BigInt>,
        pub_correl_id -> Nullable<Text>,
        in_reply_to -> Nullable<Text>,
        ext_client_id -> Nullable<Text>,
        group_id -> Nullable<Text>,
        position_in_group -> Nullable<BigInt>,
        pub_pattern_matched -> Text,
        pub_time -> BigInt,
        ext_pub_time -> Nullable<BigInt>,
        expiration -> BigInt,
        expiration_time -> BigInt,
        data -> Text,
        mime_type -> Text,
        size -> BigInt,
        priority -> Integer,
        user_ctx -> Nullable<Text>,
        is_in_sub_queue -> Bool,
        last_updated -> Nullable<BigInt>,
    }
}

diesel::table! {
    pubsub_endp_msg_queue (id) {
        id -> BigInt,
        pub_msg_id -> Text,
        sub_key -> Text,
        creation_time -> BigInt,
        delivery_count -> BigInt,
        last_delivery_time -> Nullable<BigInt>,
        is_deliverable -> Bool,
        priority -> Integer,
        order_time -> BigInt,
        pub_time -> BigInt,
    }
}

diesel::table! {
    sb_service (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        config -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sb_file_channel (id) {
        id -> BigInt,
        name -> Text,
        directory -> Text,
        topic_name -> Text,
        endpoint -> Text,
        poll_interval -> Double,
        created_at -> BigInt,
    }
}

diesel::table! {
    sb_wsx_channel (id) {
        id -> BigInt,
        name -> Text,
        path -> Text,
        service -> Text,
        allowed_services -> Text,
        new_token_wait_time -> Double,
        token_ttl -> Double,
        ping_interval -> Double,
        pings_missed_threshold -> BigInt,
        max_frame_size -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    sb_wsx_link (id) {
        id -> BigInt,
        name -> Text,
        address -> Text,
        username -> Text,
        secret_enc -> Text,
        is_zato -> Bool,
        subscription_list -> Text,
        on_connect -> Nullable<Text>,
        on_message -> Nullable<Text>,
        on_close -> Nullable<Text>,
        ping_interval -> Double,
        auto_reconnect -> Bool,
        max_connect_attempts -> Nullable<BigInt>,
        invoke_timeout -> Double,
        ca_file -> Nullable<Text>,
        sub_keys -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sb_cluster_node (name) {
        name -> Text,
        cluster_name -> Text,
        advertise_url -> Text,
        state -> Text,
        started_at -> BigInt,
        last_heartbeat -> BigInt,
    }
}

diesel::table! {
    sb_sub_owner (sub_key) {
        sub_key -> Text,
        node -> Nullable<Text>,
        epoch -> BigInt,
        moving_to -> Nullable<Text>,
    }
}

// PostgreSQL only (clusters). `expires_at` is compared in SQL against the database's clock only.
diesel::table! {
    sb_leader_lease (cluster_name) {
        cluster_name -> Text,
        node -> Nullable<Text>,
        epoch -> BigInt,
        expires_at -> Timestamptz,
    }
}

diesel::joinable!(pubsub_sub -> pubsub_topic (topic_id));
diesel::joinable!(pubsub_sub -> pubsub_endpoint (endpoint_id));
diesel::joinable!(pubsub_message -> pubsub_topic (topic_id));

diesel::allow_tables_to_appear_in_same_query!(
    sb_meta,
    sb_admin_key,
    pubsub_topic,
    pubsub_endpoint,
    pubsub_sub,
    pubsub_message,
    pubsub_endp_msg_queue,
    sb_service,
    sb_file_channel,
    sb_wsx_channel,
    sb_wsx_link,
    sb_cluster_node,
    sb_sub_owner,
    sb_leader_lease,
);
