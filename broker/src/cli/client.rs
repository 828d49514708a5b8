//! A small blocking client of the admin API.

use serde_json::Value;

use super::ClientArgs;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The command line itself is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error (exit 1).
    #[error("{status}: {details}")]
    Refused { status: u16, details: String },
    /// The server could not be reached, or answered something unreadable (exit 1).
    #[error("{0}")]
    Transport(String),
}

impl ClientError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) => 2,
            _ => 1,
        }
    }
}

pub struct Client {
    base: String,
    key: Option<String>,
    /// Where the key was looked for, named when there is none.
    key_file: std::path::PathBuf,
    agent: ureq::Agent,
}

/// Percent-encodes one path segment (topic names hold `/`).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client of the node at `flags.url`, with the admin key from SIGNALBOX_ADMIN_KEY, else
    /// from `<data dir>/admin.key`.
    pub fn new(flags: &ClientArgs) -> Client {
        let from_env = std::env::var("SIGNALBOX_ADMIN_KEY").ok().filter(|k| !k.is_empty());
        let key = from_env.or_else(|| {
            std::fs::read_to_string(flags.data_dir.join(crate::startup::ADMIN_KEY_FILE))
                .ok()
                .map(|k| k.trim().to_owned())
        });
        Client {
            base: format!("{}/admin/v1", flags.url.trim_end_matches('/')),
            key,
            key_file: flags.data_dir.join(crate::startup::ADMIN_KEY_FILE),
            agent: ureq::AgentBuilder::new().timeout(std::time::Duration::from_secs(30)).build(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let key = self.key.as_deref().ok_or_else(|| {
            ClientError::Usage(format!(
                "no admin key: set SIGNALBOX_ADMIN_KEY, or give the node's --data-dir ({} is not readable)",
                self.key_file.display()
            ))
        })?;
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {key}"));
        let result = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        match result {
            Ok(res) => res
                .into_json::<Value>()
                .map_err(|e| ClientError::Transport(format!("unreadable answer: {e}"))),
            Err(ureq::Error::Status(status, res)) => {
                let details = res
                    .into_json::<Value>()
                    .ok()
                    .and_then(|v| v["details"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "no details".into());
                Err(ClientError::Refused { status, details })
            }
            Err(e) => Err(ClientError::Transport(format!("cannot reach {}: {e}", self.base))),
        }
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call("POST", path, Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call("PATCH", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.call("DELETE", path, None)
    }

    /// Every object of a list route, page by page (`path` may carry a query of its own).
    pub fn list_all(&self, path: &str) -> Result<Vec<Value>, ClientError> {
        let mut out = Vec::new();
        let joint = if path.contains('?') { '&' } else { '?' };
        loop {
            let page = self.get(&format!("{path}{joint}limit=1000&offset={}", out.len()))?;
            let rows = page.as_array().cloned().unwrap_or_default();
            let done = rows.len() < 1000;
            out.extend(rows);
            if done {
                return Ok(out);
            }
        }
    }

    /// The path of one object named as users name it: topics and endpoints by name (or id),
    /// subscriptions by sub_key.
    pub fn object_path(&self, collection: &str, name: &str) -> Result<String, ClientError> {
        if collection == "/subscriptions" || name.parse::<i64>().is_ok() {
            return Ok(format!("{collection}/{}", encode(name)));
        }
        // The node finds it among however many there are; only the few whose name holds this
        // one come back.
        let search = format!("{collection}?q={}", encode(name));
        let found = self.list_all(&search)?.into_iter().find(|o| o["name"] == name).ok_or_else(|| {
            ClientError::Refused { status: 404, details: format!("no object named `{name}`") }
        })?;
        Ok(format!("{collection}/{}", found["id"]))
    }
}
