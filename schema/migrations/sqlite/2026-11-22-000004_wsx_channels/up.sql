-- WSX channels: WebSocket paths speaking Zato 3.x's WSX protocol. `allowed_services` is a JSON list.
CREATE TABLE sb_wsx_channel (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    name                   TEXT NOT NULL UNIQUE,
    path                   TEXT NOT NULL UNIQUE,
    service                TEXT NOT NULL,
    allowed_services       TEXT NOT NULL,
    new_token_wait_time    DOUBLE NOT NULL,
    token_ttl              DOUBLE NOT NULL,
    ping_interval          DOUBLE NOT NULL,
    pings_missed_threshold BIGINT NOT NULL,
    max_frame_size         BIGINT NOT NULL,
    created_at             BIGINT NOT NULL
);
