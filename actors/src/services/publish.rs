//! `publish` services: the request goes into a local topic as a given endpoint. Called by push
//! delivery (a `srv` target, a link's `on_message`), it publishes one local message per pushed
//! message — its `data`, `priority`, `expiration`, `correl_id` and `ext_pub_time` — in push order,
//! as one publication.

use serde_json::{Map, Value};

use super::{InvokeContext, Service, ServiceDeps, ServiceError, ServiceFuture};
use crate::registry::Registry;
use crate::topic::NewMessage;

pub struct PublishService {
    topic_name: String,
    endpoint: String,
    registry: Registry,
    store: signalbox_schema::Store,
}

pub(super) fn validate(config: &Value) -> Result<Value, String> {
    let obj = config.as_object().ok_or("service settings must be an object")?;
    if let Some(unknown) = obj.keys().find(|k| !["topic_name", "endpoint"].contains(&k.as_str())) {
        return Err(format!("unknown field `{unknown}` for a `publish` service (topic_name, endpoint)"));
    }
    let mut out = Map::new();
    for field in ["topic_name", "endpoint"] {
        let v = obj
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("`{field}` is required for a `publish` service"))?;
        out.insert(field.into(), Value::String(v.into()));
    }
    Ok(Value::Object(out))
}

impl PublishService {
    pub(super) fn from_config(config: &Value, deps: &ServiceDeps) -> Result<PublishService, String> {
        Ok(PublishService {
            topic_name: config["topic_name"].as_str().ok_or("topic_name missing")?.to_owned(),
            endpoint: config["endpoint"].as_str().ok_or("endpoint missing")?.to_owned(),
            registry: deps.registry.clone(),
            store: deps.store.clone(),
        })
    }
}

fn message(data: String, size: i64) -> NewMessage {
    NewMessage { data, size, priority: 5, mime_type: "application/json".into(), ..NewMessage::default() }
}

impl Service for PublishService {
    fn invoke(&self, request: Value, ctx: InvokeContext) -> ServiceFuture {
        let (topic_name, endpoint_name) = (self.topic_name.clone(), self.endpoint.clone());
        let (registry, store) = (self.registry.clone(), self.store.clone());
        Box::pin(async move {
            let messages: Vec<NewMessage> = match ctx.pushed {
                Some(pushed) => pushed
                    .iter()
                    .map(|m| NewMessage {
                        priority: m.priority,
                        expiration: Some(m.expiration),
                        correl_id: m.correl_id.clone(),
                        ext_pub_time: m.ext_pub_time.or(Some(m.pub_time)),
                        ..message(m.data.clone(), m.size)
                    })
                    .collect(),
                None => {
                    if request.is_null() {
                        return Err(ServiceError::bad_request(
                            "the request is published as `data`: it must not be null",
                        ));
                    }
                    let size = request.to_string().len() as i64;
                    vec![message(request.to_string(), size)]
                }
            };
            if messages.is_empty() {
                return Ok(serde_json::json!({"msg_id_list": []}));
            }
            let published =
                crate::publish::publish_as(&registry, &store, &endpoint_name, &topic_name, messages)
                    .await
                    .map_err(ServiceError::failed)?;
            Ok(
                serde_json::json!({"msg_id_list": published.into_iter().map(|p| p.msg_id).collect::<Vec<_>>()}),
            )
        })
    }
}
