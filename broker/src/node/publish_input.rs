//! A publication as it arrives (`{"data": …}` or `{"data_list": [...]}`, over REST, WSX or the
//! admin API), checked once here and turned into the actors' `NewMessage`s.

use serde::Deserialize;
use serde_json::Value;
use signalbox_actors::time::parse_iso;
use signalbox_actors::topic::NewMessage;

use crate::node::error::NodeError;

/// The longest time a message or topic setting may name, in seconds: Zato's default
/// expiration (2^31 − 1, about 68 years).
pub const MAX_SECONDS: i64 = 2_147_483_647;

/// One message's fields; the top level of a publish body may instead carry `data_list`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishItem {
    pub data: Option<Value>,
    pub data_list: Option<Vec<PublishItem>>,
    pub priority: Option<i64>,
    pub expiration: Option<i64>,
    pub correl_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub ext_client_id: Option<String>,
    pub ext_pub_time: Option<String>,
    pub group_id: Option<String>,
    pub position_in_group: Option<i64>,
    pub has_gd: Option<bool>,
    pub mime_type: Option<String>,
    pub user_ctx: Option<Value>,
    pub msg_id: Option<String>,
}

/// The messages of a publish body, in input order, and whether it was a `data_list` (answered
/// with `msg_id_list`). `default_mime` comes from Content-Type.
pub fn parse(body: &[u8], default_mime: &str) -> Result<(Vec<NewMessage>, bool), NodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(NodeError::bad_request("a JSON body with `data` is required"));
    }
    let item: PublishItem = serde_json::from_slice(body)
        .map_err(|e| NodeError::bad_request(format!("invalid request body: {e}")))?;
    let as_list = item.data_list.is_some();
    Ok((into_messages(item, default_mime)?, as_list))
}

pub fn into_messages(mut item: PublishItem, default_mime: &str) -> Result<Vec<NewMessage>, NodeError> {
    match item.data_list.take() {
        Some(list) => {
            if item.data.is_some() {
                return Err(NodeError::bad_request("give either `data` or `data_list`, not both"));
            }
            if list.is_empty() {
                return Err(NodeError::bad_request("`data_list` must not be empty"));
            }
            list.into_iter()
                .enumerate()
                .map(|(i, m)| {
                    if m.data_list.is_some() {
                        return Err(NodeError::bad_request("`data_list` items cannot nest `data_list`"));
                    }
                    message(m, default_mime)
                        .map_err(|e| NodeError::bad_request(format!("data_list[{i}]: {}", e.details)))
                })
                .collect()
        }
        None => Ok(vec![message(item, default_mime)?]),
    }
}

fn short(field: &str, value: &Option<String>) -> Result<(), NodeError> {
    match value {
        Some(v) if v.len() > 200 => {
            Err(NodeError::bad_request(format!("`{field}` is longer than 200 characters")))
        }
        _ => Ok(()),
    }
}

fn message(item: PublishItem, default_mime: &str) -> Result<NewMessage, NodeError> {
    let data = match item.data {
        None | Some(Value::Null) => return Err(NodeError::bad_request("`data` is required")),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(NodeError::bad_request("`data` must not be empty"))
        }
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(NodeError::bad_request("`data` must not be empty"))
        }
        Some(Value::Object(o)) if o.is_empty() => {
            return Err(NodeError::bad_request("`data` must not be empty"))
        }
        Some(v) => v,
    };
    let priority = item.priority.unwrap_or(5);
    if !(1..=9).contains(&priority) {
        return Err(NodeError::bad_request(format!("priority `{priority}` outside of allowed range 1-9")));
    }
    if item.expiration.is_some_and(|e| !(0..=MAX_SECONDS).contains(&e)) {
        return Err(NodeError::bad_request(format!("`expiration` must be 0–{MAX_SECONDS} seconds")));
    }
    let ext_pub_time = match &item.ext_pub_time {
        Some(t) => Some(parse_iso(t).ok_or_else(|| {
            NodeError::bad_request(format!("`ext_pub_time` `{t}` is not an ISO 8601 time"))
        })?),
        None => None,
    };
    if let Some(id) = &item.msg_id {
        if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(NodeError::bad_request("`msg_id` must be 1–200 printable ASCII characters"));
        }
    }
    for (field, value) in [
        ("correl_id", &item.correl_id),
        ("in_reply_to", &item.in_reply_to),
        ("ext_client_id", &item.ext_client_id),
        ("group_id", &item.group_id),
        ("mime_type", &item.mime_type),
    ] {
        short(field, value)?;
    }
    let size = match &data {
        Value::String(s) => s.len(),
        other => other.to_string().len(),
    } as i64;
    Ok(NewMessage {
        data: data.to_string(),
        size,
        priority: priority as i32,
        expiration: item.expiration,
        correl_id: item.correl_id,
        in_reply_to: item.in_reply_to,
        ext_client_id: item.ext_client_id,
        group_id: item.group_id,
        position_in_group: item.position_in_group,
        ext_pub_time,
        has_gd: item.has_gd,
        mime_type: item.mime_type.unwrap_or_else(|| default_mime.to_owned()),
        user_ctx: item.user_ctx.map(|v| v.to_string()),
        msg_id: item.msg_id,
    })
}
