-- Signalbox schema, SQLite. Column names follow Zato 3.x where Zato has them.
-- Times are microseconds since the UNIX epoch (BIGINT); JSON is TEXT.

CREATE TABLE sb_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE sb_admin_key (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    key_digest TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE pubsub_topic (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT NOT NULL UNIQUE,
    is_active            BOOLEAN NOT NULL,
    has_gd               BOOLEAN NOT NULL,
    is_api_sub_allowed   BOOLEAN NOT NULL,
    max_depth_gd         BIGINT NOT NULL,
    max_depth_non_gd     BIGINT NOT NULL,
    on_overflow_non_gd   TEXT NOT NULL,
    limit_message_expiry BIGINT NOT NULL,
    limit_sub_inactivity BIGINT NOT NULL,
    on_no_subs_pub       TEXT NOT NULL,
    dedup_window         BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    last_pub_time        BIGINT
);

CREATE TABLE pubsub_endpoint (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL,
    endpoint_type  TEXT NOT NULL,
    topic_patterns TEXT NOT NULL,
    auth           TEXT NOT NULL,
    username       TEXT UNIQUE,
    password_hash  TEXT,
    api_key_digest TEXT UNIQUE,
    wsx_channel    TEXT,
    created_at     BIGINT NOT NULL,
    last_seen      BIGINT
);

CREATE TABLE pubsub_sub (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    sub_key                   TEXT NOT NULL UNIQUE,
    topic_id                  BIGINT NOT NULL REFERENCES pubsub_topic (id) ON DELETE CASCADE,
    endpoint_id               BIGINT NOT NULL REFERENCES pubsub_endpoint (id) ON DELETE CASCADE,
    creation_time             BIGINT NOT NULL,
    sub_pattern_matched       TEXT NOT NULL,
    delivery_method           TEXT NOT NULL,
    ack_mode                  TEXT NOT NULL,
    ack_timeout               DOUBLE NOT NULL,
    delivery_batch_size       BIGINT NOT NULL,
    wrap_one_msg_in_list      BOOLEAN NOT NULL,
    delivery_max_retry        BIGINT NOT NULL,
    delivery_err_should_block BOOLEAN NOT NULL,
    wait_sock_err             DOUBLE NOT NULL,
    wait_non_sock_err         DOUBLE NOT NULL,
    active_status             TEXT NOT NULL,
    max_in_flight             BIGINT NOT NULL,
    push_config               TEXT,
    is_wsx                    BOOLEAN NOT NULL,
    unsub_on_wsx_close        BOOLEAN NOT NULL,
    server_name               TEXT
);
-- One non-WSX subscription per (endpoint, topic).
CREATE UNIQUE INDEX pubsub_sub_endpoint_topic ON pubsub_sub (endpoint_id, topic_id) WHERE is_wsx = 0;

-- One row per guaranteed-delivery message.
CREATE TABLE pubsub_message (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    pub_msg_id          TEXT NOT NULL UNIQUE,
    topic_id            BIGINT NOT NULL REFERENCES pubsub_topic (id) ON DELETE CASCADE,
    published_by_id     BIGINT,
    pub_correl_id       TEXT,
    in_reply_to         TEXT,
    ext_client_id       TEXT,
    group_id            TEXT,
    position_in_group   BIGINT,
    pub_pattern_matched TEXT NOT NULL,
    pub_time            BIGINT NOT NULL,
    ext_pub_time        BIGINT,
    expiration          BIGINT NOT NULL,
    expiration_time     BIGINT NOT NULL,
    data                TEXT NOT NULL,
    mime_type           TEXT NOT NULL,
    size                BIGINT NOT NULL,
    priority            INTEGER NOT NULL,
    user_ctx            TEXT,
    is_in_sub_queue     BOOLEAN NOT NULL,
    last_updated        BIGINT
);
CREATE INDEX pubsub_message_topic ON pubsub_message (topic_id, is_in_sub_queue);
CREATE INDEX pubsub_message_expiration ON pubsub_message (expiration_time);

-- One row per (GD message, subscription) until the subscriber confirms it.
CREATE TABLE pubsub_endp_msg_queue (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    pub_msg_id         TEXT NOT NULL REFERENCES pubsub_message (pub_msg_id) ON DELETE CASCADE,
    sub_key            TEXT NOT NULL REFERENCES pubsub_sub (sub_key) ON DELETE CASCADE,
    creation_time      BIGINT NOT NULL,
    delivery_count     BIGINT NOT NULL DEFAULT 0,
    last_delivery_time BIGINT,
    is_deliverable     BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (sub_key, pub_msg_id)
);
CREATE INDEX pubsub_endp_msg_queue_msg ON pubsub_endp_msg_queue (pub_msg_id);
