-- The leader's lease, one row per cluster. Whoever's name is in `node` leads until
-- `expires_at`, a time set by the database's clock (never a node's): the leader renews it every
-- heartbeat while it is still its own and unexpired, any node may take it once it has expired.
-- `epoch` grows with every change of leader; each leader write checks it in its transaction, so
-- a leader that was paused past its lease cannot act on a stale picture when it wakes up.
CREATE TABLE sb_leader_lease (
    cluster_name TEXT PRIMARY KEY,
    node         TEXT,
    epoch        BIGINT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
