-- User-defined services: `http` (POST the request to a URL) and `publish` (into a local topic).
-- `config` is JSON; secrets inside it are sealed under the master key.
CREATE TABLE sb_service (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    config     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
