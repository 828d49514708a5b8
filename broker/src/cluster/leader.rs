//! The leader's decisions: which live node delivers each subscription, and which subscriptions
//! move to balance the load. Run on a blocking thread, one heartbeat at a time; every write
//! checks in its transaction that this node's lease term still holds (else it fails with
//! `NotLeader` and changes nothing), and is conditional on the owner epoch it read.

use std::collections::{BTreeMap, HashSet};

use signalbox_schema::cluster::LeaderTerm;
use signalbox_schema::{now_micros, Store, StoreResult};

/// Subscriptions the leader asks busy nodes to hand over per heartbeat, at most.
const MOVES_PER_HEARTBEAT: usize = 4;

/// The leader's work for one heartbeat, under `term`. Every write checks the term and the
/// owner epoch it read, so a leader whose lease ran out meanwhile (frozen, cut off) cannot undo
/// a newer leader's decision: it gets `StoreError::NotLeader` and steps down.
pub(super) fn lead(
    store: &Store,
    term: &LeaderTerm,
    now: i64,
    timeout: i64,
    may_declare_dead: bool,
) -> StoreResult<()> {
    let (me, cluster) = (term.node.as_str(), term.cluster.as_str());
    if may_declare_dead {
        for node in store.nodes_mark_down(term, now - timeout)? {
            log::warn!("event=node_declared_dead node={node} by={me}");
        }
    }
    let nodes = store.nodes(cluster)?;
    let mut load: BTreeMap<String, usize> = nodes
        .iter()
        .filter(|n| n.state == "up" && n.last_heartbeat >= now - timeout)
        .map(|n| (n.name.clone(), 0))
        .collect();
    if load.is_empty() {
        return Ok(());
    }
    let present: HashSet<&str> =
        nodes.iter().filter(|n| n.state != "down").map(|n| n.name.as_str()).collect();
    store.owners_prune(term)?;
    let owners = store.sub_owners()?;
    for o in &owners {
        if let Some(count) = o.node.as_ref().and_then(|n| load.get_mut(n)) {
            *count += 1;
        }
    }
    for o in owners.iter().filter(|o| !o.node.as_deref().is_some_and(|n| present.contains(n))) {
        let target = least_loaded(&load);
        if store.owner_assign(&o.sub_key, &target, o.epoch, Some(term))?.is_some() {
            log::info!("event=subscription_assigned sub_key={} node={target} from={:?}", o.sub_key, o.node);
            *load.entry(target).or_default() += 1;
        }
    }
    // Balance: one subscription at a time from the busiest node to the idlest, by handover.
    let mut asked = HashSet::new();
    for _ in 0..MOVES_PER_HEARTBEAT {
        let idle = least_loaded(&load);
        let Some((busy, busy_count)) = load.iter().max_by_key(|(_, c)| **c).map(|(n, c)| (n.clone(), *c))
        else {
            break;
        };
        if busy_count <= load[&idle] + 1 {
            break;
        }
        let candidate = owners.iter().find(|o| {
            o.node.as_deref() == Some(busy.as_str())
                && !o.is_wsx
                && o.moving_to.is_none()
                && !asked.contains(&o.sub_key)
        });
        let Some(o) = candidate else { break };
        store.owner_request_move(&o.sub_key, &idle, Some(term))?;
        log::info!("event=subscription_rebalanced sub_key={} from={busy} to={idle}", o.sub_key);
        asked.insert(o.sub_key.clone());
        *load.entry(busy).or_default() -= 1;
        *load.entry(idle).or_default() += 1;
    }
    Ok(())
}

/// Gives a subscription without an owner one: this node for a WSX subscription (its session
/// is here), else the live node that delivers the fewest. A WSX subscription owned elsewhere
/// is taken over (its client connected here).
pub fn assign_new(
    store: &Store,
    sub_key: &str,
    me: &str,
    cluster: &str,
    timeout_secs: f64,
) -> StoreResult<()> {
    let Some(owner) = store.sub_owner(sub_key)? else { return Ok(()) };
    if owner.is_wsx {
        if owner.node.as_deref() != Some(me) {
            store.owner_assign(sub_key, me, owner.epoch, None)?;
        }
        return Ok(());
    }
    if owner.node.is_some() {
        return Ok(());
    }
    let now = now_micros();
    let fresh = now - (timeout_secs * 1e6) as i64;
    let mut load: BTreeMap<String, usize> = store
        .nodes(cluster)?
        .into_iter()
        .filter(|n| n.state == "up" && n.last_heartbeat >= fresh)
        .map(|n| (n.name, 0))
        .collect();
    load.entry(me.to_owned()).or_default();
    for o in store.sub_owners()? {
        if let Some(count) = o.node.as_ref().and_then(|n| load.get_mut(n)) {
            *count += 1;
        }
    }
    store.owner_assign(sub_key, &least_loaded(&load), 0, None)?;
    Ok(())
}

pub(super) fn least_loaded(load: &BTreeMap<String, usize>) -> String {
    load.iter().min_by_key(|(_, c)| **c).map(|(n, _)| n.clone()).unwrap_or_default()
}
