//! Publishing as an endpoint: the one path of REST, WSX and the admin API to a topic actor, and
//! the answer each gives.

use std::future::Future;

use serde_json::json;
use signalbox_actors::registry::TopicEntry;
use signalbox_actors::topic::{NewMessage, Publish, Published};
use signalbox_actors::PubSubError;
use signalbox_schema::models::Endpoint;

use super::error::{new_cid, NodeError};

/// Publishes `messages` to `topic` as `endpoint`; shared by the REST route, WSX and the admin
/// API. The request is queued for the topic when this is called, not when the answer is first
/// polled, so one connection's pipelined publications reach the topic in the order they came.
pub fn publish_as(
    topic: &TopicEntry,
    endpoint: &Endpoint,
    pattern: String,
    messages: Vec<NewMessage>,
) -> impl Future<Output = Result<Vec<Published>, NodeError>> + 'static {
    let request = Publish {
        endpoint_id: Some(endpoint.id),
        endpoint_name: endpoint.name.clone(),
        pattern,
        cid: new_cid(),
        messages,
    };
    let sent = topic.addr.send(request);
    async move { Ok(sent.await.map_err(PubSubError::from)??) }
}

/// `{"msg_id"}` for one message, `{"msg_id_list"}` for a `data_list`, with `overflow` when an
/// in-RAM message went to the overflow log.
pub fn publish_answer(published: Vec<Published>, as_list: bool) -> serde_json::Value {
    let overflow = published.iter().any(|p| p.overflow);
    let mut body = if as_list {
        json!({"msg_id_list": published.iter().map(|p| p.msg_id.clone()).collect::<Vec<_>>()})
    } else {
        json!({"msg_id": published.first().map(|p| p.msg_id.clone())})
    };
    if overflow {
        body["overflow"] = json!(true);
    }
    body
}
