//! Handing a subscription from one node to another without loss, repeats or reordering: the
//! owner's delivery actor finishes the batch under way and keeps its in-RAM queue as GD rows,
//! then the owner row moves (a new epoch) and the new owner starts from SQL. Used by the
//! leader's balancing, an admin's `move`, a WSX client resuming elsewhere, and SIGTERM.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use signalbox_actors::error::blocking;
use signalbox_actors::supervisor::{Release, Supervisor};
use signalbox_schema::{now_micros, Store};

use super::calls::Synchronize;
use super::leader::least_loaded;
use super::member::{ClusterMember, SyncNow};
use super::peers::Peers;

pub(super) async fn hand_over(
    supervisor: Addr<Supervisor>,
    store: Store,
    peers: Peers,
    sub_key: String,
    target: String,
    epoch: i64,
) -> Result<(), String> {
    supervisor
        .send(Release { sub_key: sub_key.clone() })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let (key, to) = (sub_key.clone(), target.clone());
    blocking(move || store.owner_assign(&key, &to, epoch, None)).await.map_err(|e| e.to_string())?;
    let _ = peers.call(&target, Synchronize { sub_key: None }).await;
    Ok(())
}

/// An admin's `move`, or a WSX client resuming here: hand `sub_key` over to `target` and
/// answer once it runs there.
#[derive(Message)]
#[rtype(result = "Result<(), MoveFailed>")]
pub struct MoveSubscription {
    pub sub_key: String,
    pub target: String,
}

/// Why a subscription did not move.
#[derive(Debug, thiserror::Error)]
pub enum MoveFailed {
    #[error("node `{0}` is not a live node of this cluster")]
    NotLive(String),
    /// Anything else (the subscription is gone, the database failed, the move took too long).
    #[error("{0}")]
    Other(String),
}

impl MoveFailed {
    fn other(e: impl ToString) -> MoveFailed {
        MoveFailed::Other(e.to_string())
    }
}

impl Handler<MoveSubscription> for ClusterMember {
    type Result = ResponseFuture<Result<(), MoveFailed>>;

    fn handle(&mut self, msg: MoveSubscription, ctx: &mut Context<Self>) -> Self::Result {
        let (store, peers, me, cluster) =
            (self.store.clone(), self.peers.clone(), ctx.address(), self.config.cluster.clone());
        let timeout = self.timeout_micros();
        Box::pin(async move {
            let (s, c, key, target) = (store.clone(), cluster, msg.sub_key.clone(), msg.target.clone());
            let owner = blocking(move || {
                let now = now_micros();
                let live: Vec<String> = s
                    .nodes(&c)?
                    .into_iter()
                    .filter(|n| n.state == "up" && n.last_heartbeat >= now - timeout)
                    .map(|n| n.name)
                    .collect();
                if !live.contains(&target) {
                    return Ok(Err(MoveFailed::NotLive(target)));
                }
                let Some(owner) = s.sub_owner(&key)? else {
                    return Ok(Err(MoveFailed::Other(format!("no subscription {key}"))));
                };
                match &owner.node {
                    Some(node) if *node == target => {}
                    // The owner is alive: it hands over (finishing its batch, keeping RAM as GD).
                    Some(node) if live.contains(node) => s.owner_request_move(&key, &target, None)?,
                    // Nobody delivers it now (its node died): it is simply given to the target.
                    _ => {
                        s.owner_assign(&key, &target, owner.epoch, None)?;
                    }
                }
                Ok(Ok(owner.node))
            })
            .await
            .map_err(MoveFailed::other)??;
            // Tell the owner to act now rather than at its next heartbeat.
            match owner.filter(|o| peers.get(o).is_some()) {
                Some(owner) => {
                    let _ = peers.call(&owner, Synchronize { sub_key: None }).await;
                }
                None => me.send(SyncNow).await.map_err(MoveFailed::other)?,
            }
            for _ in 0..300 {
                let (s, key) = (store.clone(), msg.sub_key.clone());
                let now = blocking(move || s.sub_owner(&key)).await.map_err(MoveFailed::other)?;
                if now
                    .is_some_and(|o| o.node.as_deref() == Some(msg.target.as_str()) && o.moving_to.is_none())
                {
                    // This node routes to the new owner before the admin hears back.
                    me.send(SyncNow).await.map_err(MoveFailed::other)?;
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(MoveFailed::Other(format!(
                "subscription {} did not reach node {} in time",
                msg.sub_key, msg.target
            )))
        })
    }
}

/// SIGTERM: hand every subscription over to live peers, give up leadership, leave.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave;

impl Handler<Leave> for ClusterMember {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Leave, _ctx: &mut Context<Self>) -> Self::Result {
        self.leaving = true;
        let (store, node, cluster) =
            (self.store.clone(), self.config.node.clone(), self.config.cluster.clone());
        let timeout = self.timeout_micros();
        let plan = blocking(move || {
            store.node_set_state(&node, "leaving")?;
            let now = now_micros();
            let mut load: BTreeMap<String, usize> = store
                .nodes(&cluster)?
                .into_iter()
                .filter(|n| n.name != node && n.state == "up" && n.last_heartbeat >= now - timeout)
                .map(|n| (n.name, 0))
                .collect();
            let owners = store.sub_owners()?;
            for o in &owners {
                if let Some(count) = o.node.as_ref().and_then(|n| load.get_mut(n)) {
                    *count += 1;
                }
            }
            let mut plan = Vec::new();
            if !load.is_empty() {
                for o in owners.into_iter().filter(|o| o.node.as_deref() == Some(node.as_str())) {
                    let target = least_loaded(&load);
                    *load.entry(target.clone()).or_default() += 1;
                    plan.push((o.sub_key, target, o.epoch));
                }
            }
            Ok(plan)
        });
        Box::pin(plan.into_actor(self).then(|plan, act, _| {
            let plan = plan.unwrap_or_else(|e| {
                log::warn!("event=handover_plan_failed error={e}");
                Vec::new()
            });
            log::info!("event=leaving node={} handing_over={}", act.config.node, plan.len());
            for (key, _, _) in &plan {
                act.handing_over.insert(key.clone());
            }
            let (sup, store, peers) = (act.supervisor.clone(), act.store.clone(), act.peers.clone());
            let all = plan.into_iter().map(move |(key, target, epoch)| {
                hand_over(sup.clone(), store.clone(), peers.clone(), key, target, epoch)
            });
            let (store, node, leadership) =
                (act.store.clone(), act.config.node.clone(), act.leadership.clone());
            fut::wrap_future(async move {
                for failed in futures_util::future::join_all(all).await.into_iter().filter_map(Result::err) {
                    log::warn!("event=handover_failed error={failed}");
                }
                let _ = blocking(move || {
                    leadership.lock().unwrap_or_else(|p| p.into_inner()).lease.resign();
                    store.node_set_state(&node, "down")
                })
                .await;
            })
        }))
    }
}
