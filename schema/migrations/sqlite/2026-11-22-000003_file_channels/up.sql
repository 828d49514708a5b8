-- Inbound file channels: a watched directory whose new files are published to a topic.
CREATE TABLE sb_file_channel (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    directory     TEXT NOT NULL,
    topic_name    TEXT NOT NULL,
    endpoint      TEXT NOT NULL,
    poll_interval DOUBLE NOT NULL,
    created_at    BIGINT NOT NULL
);
