-- Outgoing WSX links to other clusters' channels. `secret_enc` is sealed under the master key;
-- `subscription_list` is a JSON list of topics; `sub_keys` a JSON object topic → sub_key the
-- remote gave, kept so that a reconnect (or a restart of this node) resumes the same ones.
CREATE TABLE sb_wsx_link (
    id                   BIGSERIAL PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    address              TEXT NOT NULL,
    username             TEXT NOT NULL,
    secret_enc           TEXT NOT NULL,
    is_zato              BOOLEAN NOT NULL,
    subscription_list    TEXT NOT NULL,
    on_connect           TEXT,
    on_message           TEXT,
    on_close             TEXT,
    ping_interval        DOUBLE PRECISION NOT NULL,
    auto_reconnect       BOOLEAN NOT NULL,
    max_connect_attempts BIGINT,
    invoke_timeout       DOUBLE PRECISION NOT NULL,
    ca_file              TEXT,
    sub_keys             TEXT NOT NULL,
    created_at           BIGINT NOT NULL
);
