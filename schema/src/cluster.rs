//! Cluster state in the shared database: node membership, subscription ownership with its
//! fencing epochs, the configuration version, and the leader's advisory lock.

use diesel::prelude::*;
use diesel::PgConnection;

use crate::connection::AnyConnection;
use crate::models::{ClusterNode, SubOwner};
use crate::schema::*;
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// Names the session-level advisory lock whose holder is the cluster's leader.
const LEADER_LOCK_ID: i64 = 0x5167_6e61_6c62_6f79;
const CONFIG_VERSION: &str = "config_version";

/// The owner a delivery actor runs as: its queue writes check that the subscription is still
/// theirs, so an old owner cannot ack, count or dead-letter over a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub sub_key: String,
    pub node: String,
    pub epoch: i64,
}

/// Fails with [`StoreError::Fenced`] unless `fence` still owns its subscription. Locks the
/// owner row until the caller's transaction ends, so a change of owner waits for a write that
/// passed this check.
pub(crate) fn check_fence(conn: &mut AnyConnection, fence: &Fence) -> StoreResult<()> {
    let held = diesel::update(
        sb_sub_owner::table
            .filter(sb_sub_owner::sub_key.eq(&fence.sub_key))
            .filter(sb_sub_owner::node.eq(&fence.node))
            .filter(sb_sub_owner::epoch.eq(fence.epoch)),
    )
    .set(sb_sub_owner::epoch.eq(fence.epoch))
    .execute(conn)?;
    match held {
        0 => Err(StoreError::Fenced(fence.sub_key.clone())),
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
    pub fn nodes_mark_down(&self, cluster: &str, stale_before: i64) -> StoreResult<Vec<String>> {
        self.write(|conn| {
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
    /// owner row yet). Answers the new epoch, or None if someone else changed it first.
    pub fn owner_assign(&self, sub_key: &str, node: &str, expected: i64) -> StoreResult<Option<i64>> {
        let assigned = self.write(|conn| {
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

    /// Asks the owner of `sub_key` to hand it over to `target`.
    pub fn owner_request_move(&self, sub_key: &str, target: &str) -> StoreResult<()> {
        self.write(|conn| {
            let n = diesel::update(sb_sub_owner::table.find(sub_key))
                .set(sb_sub_owner::moving_to.eq(target))
                .execute(conn)?;
            match n {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
    }

    /// Owner rows of subscriptions that no longer exist.
    pub fn owners_prune(&self) -> StoreResult<usize> {
        self.write(|conn| {
            let keys = pubsub_sub::table.select(pubsub_sub::sub_key);
            Ok(diesel::delete(sb_sub_owner::table.filter(sb_sub_owner::sub_key.ne_all(keys)))
                .execute(conn)?)
        })
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

/// The leader's hold on the cluster: a session-level advisory lock on a dedicated connection
/// (a pooled one would be lent out and recycled, and the lock would go with it).
pub struct Leadership {
    url: String,
    conn: Option<PgConnection>,
    leading: bool,
}

impl Leadership {
    pub fn new(url: &str) -> Leadership {
        Leadership { url: url.to_owned(), conn: None, leading: false }
    }

    /// One heartbeat's worth: the leader checks its connection is alive (else steps down), a
    /// follower tries to take the lock. Answers whether this node leads now.
    pub fn tick(&mut self) -> bool {
        let result = self.try_tick();
        if let Err(e) = &result {
            if self.leading {
                log::warn!("event=leadership_lost error={e:?}");
            }
            self.conn = None;
            self.leading = false;
        }
        self.leading
    }

    fn try_tick(&mut self) -> Result<(), String> {
        if self.conn.is_none() {
            self.conn = Some(PgConnection::establish(&self.url).map_err(|e| e.to_string())?);
        }
        let conn = self.conn.as_mut().expect("connection just made");
        if self.leading {
            diesel::sql_query("SELECT 1").execute(conn).map_err(|e| e.to_string())?;
            return Ok(());
        }
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        let got: Locked =
            diesel::sql_query(format!("SELECT pg_try_advisory_lock({LEADER_LOCK_ID}) AS locked"))
                .get_result(conn)
                .map_err(|e| e.to_string())?;
        self.leading = got.locked;
        Ok(())
    }

    /// Lets go of the lock at once (a clean stop), so another node leads without waiting.
    pub fn resign(&mut self) {
        if let (true, Some(conn)) = (self.leading, self.conn.as_mut()) {
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({LEADER_LOCK_ID})")).execute(conn);
        }
        self.leading = false;
        self.conn = None;
    }
}
