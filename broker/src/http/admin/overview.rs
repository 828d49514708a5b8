//! `/admin/v1/overview…`: the console's landing figures — rates, depths, dead letters,
//! connections and nodes — their history for charts, and the figures of each subscription and
//! topic. Cluster-wide: every node answers its share (see `figures.rs`) and this node adds them.
//!
//! ```text
//! GET /overview                              now: rates, totals, depths, dead letters, connections, nodes
//! GET /overview/history?range=S              points over the last S seconds (60–86400; 5 s apart up to an hour, then 1 min)
//! GET /overview/subscriptions?sub_keys=a,b   per subscription: ready, in flight, dead letters, rates, oldest age
//! GET /overview/subscriptions/{sub_key}?range=S   one subscription now, with its depth history (S 60–7200)
//! GET /overview/topics?ids=1,2               per topic: depths, rates, in flight, dead letters, oldest age
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::history::{FINE_INTERVAL, MAX_RANGE, SUB_COARSE_LEN};
use signalbox_actors::time::{iso, now_micros};

use crate::cluster::calls::ConsoleQuestion;
use crate::http::auth::AdminCaller;
use crate::node::error::{blocking, NodeError};
use crate::node::figures::{self, NodeShare, PointShare, TopicShare};
use crate::node::peer_calls::call_owner;
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/overview", web::get().to(overview))
        .route("/overview/history", web::get().to(history))
        .route("/overview/subscriptions", web::get().to(subscriptions))
        .route("/overview/subscriptions/{sub_key}", web::get().to(subscription))
        .route("/overview/topics", web::get().to(topics));
}

/// How many keys or ids one figures request may name.
const MAX_KEYS: usize = 1000;

/// A comma-separated list of a query, each item trimmed, empty ones left out.
fn list(raw: Option<&str>, field: &str) -> Result<Option<HashSet<String>>, NodeError> {
    let Some(raw) = raw else { return Ok(None) };
    let items: HashSet<String> =
        raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if items.len() > MAX_KEYS {
        return Err(NodeError::bad_request(format!("`{field}` names at most {MAX_KEYS} items")));
    }
    Ok(Some(items))
}

/// The cluster's nodes as (all, live); a node without clustering is one live node.
async fn node_counts(state: &Node) -> Result<(usize, usize), NodeError> {
    if state.cluster.is_none() {
        return Ok((1, 1));
    }
    let (store, cluster) = (state.store.clone(), state.config.cluster_name.clone());
    let nodes = blocking(move || store.nodes(&cluster)).await?;
    let stale = now_micros() - (state.config.heartbeat_timeout * 1e6) as i64;
    let live = nodes.iter().filter(|n| n.state == "up" && n.last_heartbeat >= stale).count();
    Ok((nodes.len(), live))
}

async fn overview(_caller: AdminCaller, state: web::Data<Node>) -> Result<HttpResponse, NodeError> {
    let mine = figures::local_overview(&state);
    let (answers, silent) = figures::ask_peers(&state, ConsoleQuestion::Overview).await;
    let mut shares = vec![mine];
    shares
        .extend(answers.into_iter().filter_map(|(_, share)| serde_json::from_value::<NodeShare>(share).ok()));
    let (nodes, live) = node_counts(&state).await?;
    let mut total = NodeShare { depth_gd: shares[0].depth_gd, ..NodeShare::default() };
    for s in &shares {
        total.rates.publish += s.rates.publish;
        total.rates.deliver += s.rates.deliver;
        total.rates.ack += s.rates.ack;
        total.rates.dead_letter += s.rates.dead_letter;
        total.totals.published += s.totals.published;
        total.totals.delivered += s.totals.delivered;
        total.totals.acked += s.totals.acked;
        total.totals.dead_lettered += s.totals.dead_lettered;
        total.depth_ram += s.depth_ram;
        total.in_flight += s.in_flight;
        total.dead_letters += s.dead_letters;
        total.wsx += s.wsx;
        total.rest += s.rest;
        total.subscriptions += s.subscriptions;
    }
    let rates = |r: &figures::Rates| {
        json!({
            "publish": figures::round(r.publish), "deliver": figures::round(r.deliver),
            "ack": figures::round(r.ack), "dead_letter": figures::round(r.dead_letter),
        })
    };
    let by_node: Vec<Value> = shares
        .iter()
        .map(|s| {
            json!({
                "node": s.node,
                "reachable": true,
                "rates": rates(&s.rates),
                "totals": s.totals,
                "depth": {"gd": s.depth_gd, "ram": s.depth_ram},
                "in_flight": s.in_flight,
                "dead_letters": s.dead_letters,
                "connections": {"wsx": s.wsx, "rest": s.rest},
                "subscriptions": s.subscriptions,
                "sampled_at": s.sampled_at.map(iso),
            })
        })
        .chain(silent.iter().map(|node| json!({"node": node, "reachable": false})))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "node": state.node_name,
        "time": iso(now_micros()),
        "interval": FINE_INTERVAL.as_secs(),
        "nodes": {"total": nodes, "live": live},
        "topics": shares[0].topics,
        "subscriptions": total.subscriptions,
        "rates": rates(&total.rates),
        "totals": total.totals,
        "depth": {"gd": total.depth_gd, "ram": total.depth_ram},
        "in_flight": total.in_flight,
        "dead_letters": total.dead_letters,
        "connections": {"wsx": total.wsx, "rest": total.rest},
        "by_node": by_node,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    range: Option<u64>,
}

async fn history(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, NodeError> {
    let range = query.range.unwrap_or(900);
    if !(60..=MAX_RANGE).contains(&range) {
        return Err(NodeError::bad_request(format!("`range` must be 60–{MAX_RANGE} seconds")));
    }
    let (interval, mine) = figures::local_history(&state, range);
    let (answers, _) = figures::ask_peers(&state, ConsoleQuestion::History { range }).await;
    let mut nodes: Vec<Vec<PointShare>> = vec![mine];
    for (_, answer) in answers {
        nodes.push(serde_json::from_value(answer["points"].clone()).unwrap_or_default());
    }
    let buckets = merge_points(interval, nodes);
    let points: Vec<Value> = buckets
        .values()
        .map(|p| {
            json!({
                "time": iso(p.time),
                "publish": figures::round(p.publish),
                "deliver": figures::round(p.deliver),
                "ack": figures::round(p.ack),
                "dead_letter": figures::round(p.dead_letter),
                "depth_gd": p.depth_gd,
                "depth_ram": p.depth_ram,
                "dead_letters": p.dead_letters,
                "in_flight": p.in_flight,
                "wsx": p.wsx,
                "rest": p.rest,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"range": range, "interval": interval, "points": points})))
}

/// The cluster's points from each node's: each node samples on its own clock, so points are
/// summed by the interval (seconds) they fall in — one point of each node per interval, its
/// latest should two fall in one.
fn merge_points(interval: u64, nodes: Vec<Vec<PointShare>>) -> BTreeMap<i64, PointShare> {
    let bucket_of = |t: i64| t.div_euclid(interval.max(1) as i64 * 1_000_000);
    let mut buckets: BTreeMap<i64, PointShare> = BTreeMap::new();
    for points in nodes {
        let per_bucket: BTreeMap<i64, PointShare> =
            points.into_iter().map(|p| (bucket_of(p.time), p)).collect();
        for (bucket, p) in per_bucket {
            match buckets.get_mut(&bucket) {
                Some(sum) => sum.add(&p),
                None => {
                    buckets.insert(bucket, p);
                }
            }
        }
    }
    buckets
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubsQuery {
    sub_keys: Option<String>,
}

async fn subscriptions(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<SubsQuery>,
) -> Result<HttpResponse, NodeError> {
    let wanted = list(query.sub_keys.as_deref(), "sub_keys")?;
    let mut rows = figures::local_subscriptions(&state);
    let (answers, _) = figures::ask_peers(&state, ConsoleQuestion::Subscriptions).await;
    for (_, answer) in answers {
        rows.extend(answer.as_array().cloned().unwrap_or_default());
    }
    if let Some(wanted) = wanted {
        rows.retain(|r| r["sub_key"].as_str().is_some_and(|k| wanted.contains(k)));
    }
    rows.sort_by(|a, b| a["sub_key"].as_str().cmp(&b["sub_key"].as_str()));
    Ok(HttpResponse::Ok().json(rows))
}

async fn subscription(
    _caller: AdminCaller,
    state: web::Data<Node>,
    sub_key: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, NodeError> {
    let longest = SUB_COARSE_LEN as u64 * 60;
    let range = query.range.unwrap_or(300);
    if !(60..=longest).contains(&range) {
        return Err(NodeError::bad_request(format!("`range` must be 60–{longest} seconds")));
    }
    let missing = || NodeError::not_found(format!("no subscription `{sub_key}`"));
    if let Some(found) = figures::local_subscription(&state, &sub_key, range).await? {
        return Ok(HttpResponse::Ok().json(found));
    }
    let Some(cluster) = &state.cluster else { return Err(missing()) };
    let Some(remote) = cluster.route.get(&sub_key) else { return Err(missing()) };
    let question = ConsoleQuestion::Subscription { sub_key: sub_key.to_string(), range };
    let found = call_owner(cluster, remote.node, question).await?;
    if found.is_null() {
        return Err(NodeError::unavailable("the subscription is moving between nodes, try again", 1));
    }
    Ok(HttpResponse::Ok().json(found))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsQuery {
    ids: Option<String>,
}

async fn topics(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<TopicsQuery>,
) -> Result<HttpResponse, NodeError> {
    let wanted = list(query.ids.as_deref(), "ids")?;
    let mut by_id: HashMap<i64, TopicShare> =
        figures::local_topics(&state).into_iter().map(|t| (t.id, t)).collect();
    let (answers, _) = figures::ask_peers(&state, ConsoleQuestion::Topics).await;
    for (_, answer) in answers {
        let shares: Vec<TopicShare> = serde_json::from_value(answer).unwrap_or_default();
        for share in shares {
            match by_id.get_mut(&share.id) {
                Some(t) => t.add(&share),
                None => {
                    by_id.insert(share.id, share);
                }
            }
        }
    }
    let now = now_micros();
    let mut rows: Vec<&TopicShare> =
        by_id.values().filter(|t| wanted.as_ref().is_none_or(|w| w.contains(&t.id.to_string()))).collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(HttpResponse::Ok().json(rows.into_iter().map(|t| t.to_json(now)).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(secs: i64, publish: f64, depth_gd: i64, depth_ram: i64) -> PointShare {
        PointShare { time: secs * 1_000_000, publish, depth_gd, depth_ram, ..PointShare::default() }
    }

    #[test]
    fn nodes_points_add_up_by_interval_and_the_clusters_gd_depth_is_not_summed() {
        let a = vec![point(100, 1.0, 7, 1), point(105, 2.0, 7, 1)];
        // Another node, a second late, and twice within one interval (its latest counts).
        let b = vec![point(101, 10.0, 7, 2), point(106, 20.0, 7, 2), point(109, 30.0, 8, 3)];
        let merged: Vec<PointShare> = merge_points(5, vec![a, b]).into_values().collect();
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].publish, merged[0].depth_gd, merged[0].depth_ram), (11.0, 7, 3));
        assert_eq!((merged[1].publish, merged[1].depth_gd, merged[1].depth_ram), (32.0, 8, 4));
        assert_eq!(merge_points(60, vec![]).len(), 0);
    }
}
