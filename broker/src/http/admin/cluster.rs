//! `/admin/v1/cluster/nodes`: the nodes of this node's cluster. A node on SQLite is a cluster
//! of one.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use signalbox_actors::time::{iso, now_micros};

use super::{blocking, NodeError};
use crate::http::auth::AdminCaller;
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/cluster/nodes", web::get().to(nodes));
}

async fn nodes(_caller: AdminCaller, state: web::Data<Node>) -> Result<HttpResponse, NodeError> {
    if state.cluster.is_none() {
        let url =
            state.config.advertise_url.clone().unwrap_or_else(|| format!("http://{}", state.config.listen));
        return Ok(HttpResponse::Ok().json(json!([{
            "name": state.node_name, "advertise_url": url, "state": "up",
            "last_heartbeat": iso(now_micros()), "subscriptions": state.registry.subs().len(), "leader": true,
        }])));
    }
    let (store, cluster) = (state.store.clone(), state.config.cluster_name.clone());
    let (nodes, owners, leader) =
        blocking(move || Ok((store.nodes(&cluster)?, store.sub_owners()?, store.leader(&cluster)?))).await?;
    let mut owned: HashMap<String, usize> = HashMap::new();
    for node in owners.into_iter().filter_map(|o| o.node) {
        *owned.entry(node).or_default() += 1;
    }
    let stale = now_micros() - (state.config.heartbeat_timeout * 1e6) as i64;
    let rows: Vec<Value> = nodes
        .into_iter()
        .map(|n| {
            // A node that stopped beating is shown as such before the leader declares it dead.
            let shown =
                if n.state == "up" && n.last_heartbeat < stale { "unresponsive" } else { n.state.as_str() };
            json!({
                "name": n.name, "advertise_url": n.advertise_url, "state": shown,
                "last_heartbeat": iso(n.last_heartbeat), "started_at": iso(n.started_at),
                "subscriptions": owned.get(&n.name).copied().unwrap_or(0),
                "leader": leader.as_deref() == Some(n.name.as_str()) && n.state != "down",
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(rows))
}
