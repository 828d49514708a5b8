//! Cluster state in the shared database: node membership, subscription ownership with its
//! fencing epochs, the configuration version, and the leader's lease.

use std::time::Duration;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Text};
use diesel::PgConnection;

use crate::connection::AnyConnection;
use crate::models::{ClusterNode, SubOwner};
use crate::schema::*;
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// The lease row has not expired, by the database's clock (never a node's).
const LEASE_UNEXPIRED: &str = "expires_at > now()";
const CONFIG_VERSION: &str = "config_version";

pub use crate::fence::Fence;

/// One node's term as leader: the lease row named `node` with `epoch` when it took the lease.
/// Every leader write carries it (see [`check_term`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderTerm {
    pub cluster: String,
    pub node: String,
    pub epoch: i64,
}

/// Fails with [`StoreError::NotLeader`] unless the lease still names `term` (node and epoch)
/// and has not expired by the database's clock. Locks the lease row until the caller's
/// transaction ends, so nobody takes the lease while a leader write that passed this check is
/// under way: a leader woken after its lease ran out can write nothing. (If the leader freezes
/// inside that transaction, the server ends it: see `PG_IDLE_IN_TRANSACTION_MS`.)
pub(crate) fn check_term(conn: &mut AnyConnection, term: &LeaderTerm) -> StoreResult<()> {
    let held = diesel::update(
        sb_leader_lease::table
            .find(&term.cluster)
            .filter(sb_leader_lease::node.eq(&term.node))
            .filter(sb_leader_lease::epoch.eq(term.epoch))
            .filter(sql::<Bool>(LEASE_UNEXPIRED)),
    )
    .set(sb_leader_lease::epoch.eq(term.epoch))
    .execute(conn)?;
    match held {
        0 => Err(StoreError::NotLeader),
        _ => Ok(()),
    }
}

impl Store {
    // ---- membership -------------------------------------------------------------------------

    /// Registers this node as `up` (again, after a restart) with its address.
    pub fn node_register(&self, name: &str, cluster: &str, url: &str, now: i64) -> StoreResult<()> {
        self.write(|conn| {
            diesel::delete(sb_cluster_node::table.find(name)).execute(conn)?;
            diesel::insert_into(sb_cluster_node::table)
                .values((
                    sb_cluster_node::name.eq(name),
                    sb_cluster_node::cluster_name.eq(cluster),
                    sb_cluster_node::advertise_url.eq(url),
                    sb_cluster_node::state.eq("up"),
                    sb_cluster_node::started_at.eq(now),
                    sb_cluster_node::last_heartbeat.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Records that this node is alive. A node the leader declared dead comes back `up`; a
    /// leaving node stays leaving. Answers false if the row is gone (register again).
    pub fn node_heartbeat(&self, name: &str, now: i64) -> StoreResult<bool> {
        self.write(|conn| {
            let n = diesel::update(sb_cluster_node::table.find(name))
                .set(sb_cluster_node::last_heartbeat.eq(now))
                .execute(conn)?;
            diesel::update(sb_cluster_node::table.find(name).filter(sb_cluster_node::state.eq("down")))
                .set(sb_cluster_node::state.eq("up"))
                .execute(conn)?;
            Ok(n > 0)
        })
    }

    pub fn node_set_state(&self, name: &str, state: &str) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(sb_cluster_node::table.find(name))
                .set(sb_cluster_node::state.eq(state))
                .execute(conn)?;
            Ok(())
        })
    }

    /// The nodes of one cluster, by name.
    pub fn nodes(&self, cluster: &str) -> StoreResult<Vec<ClusterNode>> {
        let mut conn = self.conn()?;
        Ok(sb_cluster_node::table
            .filter(sb_cluster_node::cluster_name.eq(cluster))
            .order(sb_cluster_node::name)
            .select(ClusterNode::as_select())
            .load(&mut *conn)?)
    }

    /// Nodes `up` whose heartbeat is older than `stale_before` become `down`; answers their names.
    /// A leader's decision: nothing changes unless `term` still holds.
    pub fn nodes_mark_down(&self, term: &LeaderTerm, stale_before: i64) -> StoreResult<Vec<String>> {
        let cluster = term.cluster.as_str();
        self.write(|conn| {
            check_term(conn, term)?;
            let stale: Vec<String> = sb_cluster_node::table
                .filter(sb_cluster_node::cluster_name.eq(cluster))
                .filter(sb_cluster_node::state.ne("down"))
                .filter(sb_cluster_node::last_heartbeat.lt(stale_before))
                .select(sb_cluster_node::name)
                .load(conn)?;
            if !stale.is_empty() {
                diesel::update(sb_cluster_node::table.filter(sb_cluster_node::name.eq_any(&stale)))
                    .set(sb_cluster_node::state.eq("down"))
                    .execute(conn)?;
            }
            Ok(stale)
        })
    }

    // ---- ownership --------------------------------------------------------------------------

    /// Every subscription with its owner (`node` is None for one nobody owns yet).
    pub fn sub_owners(&self) -> StoreResult<Vec<SubOwner>> {
        let mut conn = self.conn()?;
        let subs: Vec<(String, i64, i64, bool)> = pubsub_sub::table
            .select((pubsub_sub::sub_key, pubsub_sub::topic_id, pubsub_sub::endpoint_id, pubsub_sub::is_wsx))
            .load(&mut *conn)?;
        let owners: Vec<(String, Option<String>, i64, Option<String>)> = sb_sub_owner::table
            .select((sb_sub_owner::sub_key, sb_sub_owner::node, sb_sub_owner::epoch, sb_sub_owner::moving_to))
            .load(&mut *conn)?;
        let mut owners: std::collections::HashMap<String, (Option<String>, i64, Option<String>)> =
            owners.into_iter().map(|(k, n, e, m)| (k, (n, e, m))).collect();
        Ok(subs
            .into_iter()
            .map(|(sub_key, topic_id, endpoint_id, is_wsx)| {
                let (node, epoch, moving_to) = owners.remove(&sub_key).unwrap_or((None, 0, None));
                SubOwner { sub_key, topic_id, endpoint_id, is_wsx, node, epoch, moving_to }
            })
            .collect())
    }

    /// One subscription with its owner; None if there is no such subscription.
    pub fn sub_owner(&self, sub_key: &str) -> StoreResult<Option<SubOwner>> {
        let mut conn = self.conn()?;
        let Some((topic_id, endpoint_id, is_wsx)) = pubsub_sub::table
            .filter(pubsub_sub::sub_key.eq(sub_key))
            .select((pubsub_sub::topic_id, pubsub_sub::endpoint_id, pubsub_sub::is_wsx))
            .first::<(i64, i64, bool)>(&mut *conn)
            .optional()?
        else {
            return Ok(None);
        };
        let owner: Option<(Option<String>, i64, Option<String>)> = sb_sub_owner::table
            .find(sub_key)
            .select((sb_sub_owner::node, sb_sub_owner::epoch, sb_sub_owner::moving_to))
            .first(&mut *conn)
            .optional()?;
        let (node, epoch, moving_to) = owner.unwrap_or((None, 0, None));
        Ok(Some(SubOwner {
            sub_key: sub_key.to_owned(),
            topic_id,
            endpoint_id,
            is_wsx,
            node,
            epoch,
            moving_to,
        }))
    }

    /// Gives `sub_key` to `node` with a new epoch, if its epoch is still `expected` (0: no
    /// owner row yet). Answers the new epoch, or None if someone else changed it first. `term`:
    /// the leader's decision, made only while that term holds (None: a handover, an admin's
    /// move, a new subscription).
    pub fn owner_assign(
        &self,
        sub_key: &str,
        node: &str,
        expected: i64,
        term: Option<&LeaderTerm>,
    ) -> StoreResult<Option<i64>> {
        let assigned = self.write(|conn| {
            if let Some(term) = term {
                check_term(conn, term)?;
            }
            let next = expected + 1;
            let changed = if expected == 0 {
                let exists = sb_sub_owner::table.find(sub_key).count().get_result::<i64>(conn)? > 0;
                if exists {
                    0
                } else {
                    diesel::insert_into(sb_sub_owner::table)
                        .values((
                            sb_sub_owner::sub_key.eq(sub_key),
                            sb_sub_owner::node.eq(node),
                            sb_sub_owner::epoch.eq(next),
                        ))
                        .execute(conn)?
                }
            } else {
                diesel::update(sb_sub_owner::table.find(sub_key).filter(sb_sub_owner::epoch.eq(expected)))
                    .set((
                        sb_sub_owner::node.eq(node),
                        sb_sub_owner::epoch.eq(next),
                        sb_sub_owner::moving_to.eq(None::<String>),
                    ))
                    .execute(conn)?
            };
            Ok((changed > 0).then_some(next))
        });
        match assigned {
            // Another node inserted the first owner row at the same moment.
            Err(StoreError::Conflict(_)) => Ok(None),
            other => other,
        }
    }

    /// Asks the owner of `sub_key` to hand it over to `target` (`term`: as in [`Self::owner_assign`]).
    pub fn owner_request_move(
        &self,
        sub_key: &str,
        target: &str,
        term: Option<&LeaderTerm>,
    ) -> StoreResult<()> {
        self.write(|conn| {
            if let Some(term) = term {
                check_term(conn, term)?;
            }
            let n = diesel::update(sb_sub_owner::table.find(sub_key))
                .set(sb_sub_owner::moving_to.eq(target))
                .execute(conn)?;
            match n {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
    }

    /// Owner rows of subscriptions that no longer exist (a leader's decision, under `term`).
    pub fn owners_prune(&self, term: &LeaderTerm) -> StoreResult<usize> {
        self.write(|conn| {
            check_term(conn, term)?;
            let keys = pubsub_sub::table.select(pubsub_sub::sub_key);
            Ok(diesel::delete(sb_sub_owner::table.filter(sb_sub_owner::sub_key.ne_all(keys)))
                .execute(conn)?)
        })
    }

    /// The node whose lease has not expired: the cluster's leader (None between two leaders).
    pub fn leader(&self, cluster: &str) -> StoreResult<Option<String>> {
        let mut conn = self.conn()?;
        Ok(sb_leader_lease::table
            .find(cluster)
            .filter(sql::<Bool>(LEASE_UNEXPIRED))
            .select(sb_leader_lease::node)
            .first::<Option<String>>(&mut *conn)
            .optional()?
            .flatten())
    }

    /// Sets a meta value, replacing what was there.
    pub fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        retry_conflict(|| self.write(|conn| upsert_meta(conn, key, value)))
    }

    // ---- configuration version --------------------------------------------------------------

    pub fn config_version(&self) -> StoreResult<i64> {
        Ok(self.meta_get(CONFIG_VERSION)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Bumps the version every node follows; answers the new one.
    pub fn config_version_bump(&self) -> StoreResult<i64> {
        retry_conflict(|| {
            self.write(|conn| {
                let current = sb_meta::table
                    .find(CONFIG_VERSION)
                    .select(sb_meta::value)
                    .first::<String>(conn)
                    .optional()?;
                let next = current.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0) + 1;
                upsert_meta(conn, CONFIG_VERSION, &next.to_string())?;
                Ok(next)
            })
        })
    }
}

fn upsert_meta(conn: &mut AnyConnection, key: &str, value: &str) -> StoreResult<()> {
    let updated = diesel::update(sb_meta::table.find(key)).set(sb_meta::value.eq(value)).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(sb_meta::table)
            .values((sb_meta::key.eq(key), sb_meta::value.eq(value)))
            .execute(conn)?;
    }
    Ok(())
}

/// Runs `f` again once if another node inserted the same first row at the same moment.
fn retry_conflict<T>(f: impl Fn() -> StoreResult<T>) -> StoreResult<T> {
    match f() {
        Err(StoreError::Conflict(_)) => f(),
        other => other,
    }
}

/// The leader's lease as one node holds it, on a dedicated connection: a renewal never waits
/// for a pooled connection that busy delivery actors hold, and the statement timeout set on it
/// keeps a renewal from waiting longer than the lease.
///
/// The lease is a row of `sb_leader_lease` whose expiry the database's clock sets: taken by any
/// node once it has expired (a new epoch), renewed every heartbeat by its holder while it is
/// still its own and unexpired. A holder that is frozen or cut off simply stops renewing, and
/// another node leads within `length` and one heartbeat. (A session-level advisory lock, the
/// earlier design, outlived a frozen holder for as long as its TCP connection did.)
pub struct Leadership {
    url: String,
    cluster: String,
    node: String,
    /// How long a take or a renewal holds the lease, by the database's clock.
    length: Duration,
    conn: Option<PgConnection>,
    /// The term this node holds, as of its last renewal; None while it follows.
    term: Option<LeaderTerm>,
}

#[derive(QueryableByName)]
struct Epoch {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
}

impl Leadership {
    pub fn new(url: &str, cluster: &str, node: &str, length: Duration) -> Leadership {
        Leadership {
            url: url.to_owned(),
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            length,
            conn: None,
            term: None,
        }
    }

    /// One heartbeat's worth: the leader renews its lease (and steps down if it cannot), a
    /// follower takes the lease if it has expired. Answers the term this node holds now.
    pub fn tick(&mut self) -> Option<LeaderTerm> {
        if let Err(e) = self.try_tick() {
            if let Some(term) = self.term.take() {
                log::warn!("event=leadership_lost node={} epoch={} error={e:?}", self.node, term.epoch);
            }
            self.conn = None;
        }
        self.term.clone()
    }

    fn try_tick(&mut self) -> Result<(), String> {
        if self.conn.is_none() {
            let mut conn = PgConnection::establish(&self.url).map_err(|e| e.to_string())?;
            let timeout_ms = self.length.as_millis().max(1);
            diesel::sql_query(format!("SET statement_timeout = {timeout_ms}"))
                .execute(&mut conn)
                .map_err(|e| e.to_string())?;
            // The cluster's row, expired, for the first node to take.
            diesel::sql_query(
                "INSERT INTO sb_leader_lease (cluster_name, node, epoch, expires_at) \
                 VALUES ($1, NULL, 0, '-infinity') ON CONFLICT (cluster_name) DO NOTHING",
            )
            .bind::<Text, _>(&self.cluster)
            .execute(&mut conn)
            .map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connection just made");
        let length = self.length.as_secs_f64();
        if let Some(term) = &self.term {
            let renewed = diesel::sql_query(
                "UPDATE sb_leader_lease SET expires_at = now() + make_interval(secs => $4) \
                 WHERE cluster_name = $1 AND node = $2 AND epoch = $3 AND expires_at > now()",
            )
            .bind::<Text, _>(&self.cluster)
            .bind::<Text, _>(&self.node)
            .bind::<BigInt, _>(term.epoch)
            .bind::<Double, _>(length)
            .execute(conn)
            .map_err(|e| e.to_string())?;
            if renewed == 1 {
                return Ok(());
            }
            log::warn!("event=leadership_lost node={} epoch={} reason=lease_expired", self.node, term.epoch);
            self.term = None;
        }
        let taken: Vec<Epoch> = diesel::sql_query(
            "UPDATE sb_leader_lease SET node = $2, epoch = epoch + 1, \
             expires_at = now() + make_interval(secs => $3) \
             WHERE cluster_name = $1 AND expires_at <= now() RETURNING epoch",
        )
        .bind::<Text, _>(&self.cluster)
        .bind::<Text, _>(&self.node)
        .bind::<Double, _>(length)
        .load(conn)
        .map_err(|e| e.to_string())?;
        if let Some(Epoch { epoch }) = taken.into_iter().next() {
            log::info!("event=leadership_taken node={} epoch={epoch}", self.node);
            self.term = Some(LeaderTerm { cluster: self.cluster.clone(), node: self.node.clone(), epoch });
        }
        Ok(())
    }

    /// A leader write found the term over (the lease expired or another node took it).
    pub fn lost(&mut self) {
        if let Some(term) = self.term.take() {
            log::warn!("event=leadership_lost node={} epoch={} reason=fenced", self.node, term.epoch);
        }
    }

    /// Lets go of the lease at once (a clean stop), so another node leads without waiting.
    pub fn resign(&mut self) {
        if let (Some(term), Some(conn)) = (self.term.take(), self.conn.as_mut()) {
            let _ = diesel::sql_query(
                "UPDATE sb_leader_lease SET expires_at = '-infinity' \
                 WHERE cluster_name = $1 AND node = $2 AND epoch = $3",
            )
            .bind::<Text, _>(&self.cluster)
            .bind::<Text, _>(&self.node)
            .bind::<BigInt, _>(term.epoch)
            .execute(conn);
        }
        self.conn = None;
    }
}
