//! `GET /admin/v1/connections`: who is connected to the cluster — live WSX sessions and the REST
//! clients each node has seen, by endpoint, with address, since, last seen, messages in and out
//! and their rates. Every node answers for its own clients (`cluster.console`).
//!
//! ```text
//! {"wsx":  [{"node", "session_id", "channel", "endpoint", "client_id", "client_name", "address",
//!            "since", "last_seen", "msgs_in", "msgs_out", "rate_in", "rate_out", "subscriptions"}],
//!  "rest": [{"node", "endpoint", "endpoint_id", "address", "since", "last_seen", "active",
//!            "msgs_in", "msgs_out", "rate_in", "rate_out"}],
//!  "unreachable": ["node", …]}
//! ```
//!
//! WSX messages are frames; a REST client's messages in are those it published, out those it
//! pulled. REST clients are remembered in memory (10,000 at most) since the node started.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::cluster::calls::ConsoleQuestion;
use crate::http::auth::AdminCaller;
use crate::node::error::NodeError;
use crate::node::figures;
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections", web::get().to(connections));
}

async fn connections(_caller: AdminCaller, state: web::Data<Node>) -> Result<HttpResponse, NodeError> {
    let (mut wsx, mut rest) = figures::local_connections(&state).await;
    let (answers, silent) = figures::ask_peers(&state, ConsoleQuestion::Connections).await;
    for (_, answer) in answers {
        wsx.extend(answer["wsx"].as_array().cloned().unwrap_or_default());
        rest.extend(answer["rest"].as_array().cloned().unwrap_or_default());
    }
    let key = |v: &Value, a: &str, b: &str| {
        (v[a].as_str().unwrap_or("").to_owned(), v[b].as_str().unwrap_or("").to_owned())
    };
    wsx.sort_by_key(|v| key(v, "endpoint", "session_id"));
    rest.sort_by_key(|v| key(v, "endpoint", "address"));
    Ok(HttpResponse::Ok().json(json!({"wsx": wsx, "rest": rest, "unreachable": silent})))
}
