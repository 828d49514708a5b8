//! Publishing on behalf of an endpoint named in configuration (services, file channels): the
//! same role and `pub=` checks a REST publisher meets, then the topic actor.

use signalbox_schema::Store;

use crate::patterns::{Access, Permissions};
use crate::registry::Registry;
use crate::topic::{NewMessage, Publish, Published};

/// Publishes `messages` to `topic_name` as the endpoint named `endpoint_name`. Errors are
/// sentences for logs and admins.
pub async fn publish_as(
    registry: &Registry,
    store: &Store,
    endpoint_name: &str,
    topic_name: &str,
    messages: Vec<NewMessage>,
) -> Result<Vec<Published>, String> {
    let (store, name) = (store.clone(), endpoint_name.to_owned());
    let endpoint = crate::error::blocking(move || store.endpoint_by_name(&name))
        .await
        .map_err(|_| format!("endpoint `{endpoint_name}` does not exist"))?;
    let pattern = Permissions::of(endpoint.role, &endpoint.topic_patterns)
        .allowed(Access::Pub, topic_name)
        .ok_or_else(|| format!("endpoint `{endpoint_name}` may not publish to `{topic_name}`"))?
        .to_owned();
    let topic = registry.topic(topic_name).ok_or_else(|| format!("topic `{topic_name}` does not exist"))?;
    let publish = Publish {
        endpoint_id: Some(endpoint.id),
        endpoint_name: endpoint.name.clone(),
        pattern,
        cid: crate::message::new_msg_id().replacen("zpsm", "", 1),
        messages,
    };
    topic
        .addr
        .send(publish)
        .await
        .map_err(|e| format!("topic `{topic_name}` unavailable: {e}"))?
        .map_err(|e| e.to_string())
}
