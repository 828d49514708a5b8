-- Cluster membership: every node of a cluster sharing this database registers here and
-- heartbeats (times in microseconds since the UNIX epoch). `state` is `up`, `leaving` (handing
-- its subscriptions over before it exits) or `down` (declared dead by the leader, or stopped).
CREATE TABLE sb_cluster_node (
    name           TEXT PRIMARY KEY,
    cluster_name   TEXT NOT NULL,
    advertise_url  TEXT NOT NULL,
    state          TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL
);

-- Which node runs each subscription's delivery actor. `epoch` grows with every change of owner:
-- the owner's queue writes check it, so an old owner cannot ack over a new one. `moving_to`
-- asks the owner to hand the subscription over to that node.
CREATE TABLE sb_sub_owner (
    sub_key   TEXT PRIMARY KEY,
    node      TEXT,
    epoch     BIGINT NOT NULL,
    moving_to TEXT
);
CREATE INDEX sb_sub_owner_node ON sb_sub_owner (node);
