//! WSX frames as Zato 3.x shapes them: client `{"meta": {"action", "id", "token", …}, "data"}`,
//! server `{"meta": {"id", "timestamp", "msg_type", "status", "in_reply_to", …}, "data"}`.

use serde_json::{json, Map, Value};
use signalbox_actors::secrets::random_bytes;

pub const RSPA: &str = "zwsx.rspa";
pub const RSPOK: &str = "zwsx.rspok";
pub const RSPERR: &str = "zwsx.rsperr";
pub const MERR: &str = "zwsx.merr";
pub const RQC: &str = "zwsx.rqc";
pub const PSRQ: &str = "zwsx.psrq";

pub const FORBIDDEN: &str = "You are not authorized to access this resource";

/// `prefix` + 24 hex digits.
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 12] = random_bytes().unwrap_or_default();
    format!("{prefix}{}", hex::encode(bytes))
}

/// Zato's naive UTC ISO time (no zone suffix).
pub fn timestamp() -> String {
    chrono::Utc::now().naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// A server frame; `status` and `in_reply_to` are left out when `None`.
pub fn server(msg_type: &str, status: Option<u16>, in_reply_to: Option<&str>, data: Value) -> Value {
    server_with_id(&new_id("zwsx."), msg_type, status, in_reply_to, data)
}

pub fn server_with_id(
    id: &str,
    msg_type: &str,
    status: Option<u16>,
    in_reply_to: Option<&str>,
    data: Value,
) -> Value {
    let mut meta = Map::new();
    meta.insert("id".into(), json!(id));
    meta.insert("timestamp".into(), json!(timestamp()));
    meta.insert("msg_type".into(), json!(msg_type));
    if let Some(s) = status {
        meta.insert("status".into(), json!(s));
    }
    if let Some(r) = in_reply_to {
        meta.insert("in_reply_to".into(), json!(r));
    }
    json!({"meta": meta, "data": data})
}

/// `zwsx.rsperr` with its status and message; `data` carries a cid for the logs.
pub fn error(status: u16, message: &str, in_reply_to: Option<&str>) -> Value {
    let cid = new_id("");
    let mut frame = server(RSPERR, Some(status), in_reply_to, json!({"cid": cid}));
    frame["meta"]["error_message"] = json!(message);
    frame
}

/// `zwsx.merr`: the plain-string Forbidden Zato clients expect.
pub fn forbidden(in_reply_to: Option<&str>) -> Value {
    server(MERR, Some(403), in_reply_to, json!(FORBIDDEN))
}

/// A client frame, read leniently as Zato does: a missing action is `client-response`.
pub struct ClientFrame {
    pub action: String,
    pub id: Option<String>,
    pub token: Option<String>,
    pub in_reply_to: Option<String>,
    pub meta: Value,
    pub data: Value,
}

impl ClientFrame {
    pub fn parse(text: &str) -> Result<ClientFrame, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let obj = value.as_object().ok_or("a frame must be a JSON object")?;
        let meta = obj.get("meta").cloned().unwrap_or(Value::Null);
        if !(meta.is_object() || meta.is_null()) {
            return Err("`meta` must be an object".into());
        }
        let field = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(ClientFrame {
            action: field("action").unwrap_or_else(|| "client-response".into()),
            id: field("id"),
            token: field("token"),
            in_reply_to: field("in_reply_to"),
            data: obj.get("data").cloned().unwrap_or(Value::Null),
            meta,
        })
    }

    pub fn meta_str(&self, name: &str) -> Option<String> {
        match self.meta.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            // Zato flattens a dict client_name to "k: v; k2: v2".
            Some(Value::Object(o)) => Some(
                o.iter()
                    .map(|(k, v)| {
                        format!("{k}: {}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        }
    }
}
