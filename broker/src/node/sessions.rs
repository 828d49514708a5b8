//! The node's live WSX sessions, for admins, the console and the node's own rules: each as a
//! [`SessionHandle`] of recipients of the messages below, registered by the `wsx` transport
//! once the session has logged in and removed when it ends. The node never sees the session
//! actor itself: it asks a session for its [`SessionInfo`], to check its login again, to
//! release a subscription, to invoke its client, to close.

use std::collections::HashMap;
use std::sync::RwLock;

use actix::{Message, Recipient};
use serde::Serialize;
use serde_json::Value;
use signalbox_actors::sinks::PushFrame;

/// What admins and the console see of a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// `ws.<hex>`: how admins and logs name the connection.
    pub session_id: String,
    /// The channel's name.
    pub channel: String,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    /// The endpoint it logged in as.
    pub endpoint: Option<String>,
    pub peer_address: String,
    /// ISO times.
    pub since: String,
    pub subscriptions: Vec<String>,
    pub last_seen: String,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub rate_in: f64,
    pub rate_out: f64,
}

/// Answer the session's [`SessionInfo`].
#[derive(Message)]
#[rtype(result = "SessionInfo")]
pub struct DescribeSession;

/// An endpoint's credentials, role, patterns or channel may have changed, or it was deleted: a
/// session logged in as it reads it again. Deleted or with new credentials: the session is
/// closed (a `zwsx.rsperr` 401, then 1008); otherwise it goes on with the new permissions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecheckLogin {
    /// Only sessions of this endpoint (`None`: every session — another node changed something).
    pub endpoint_id: Option<i64>,
}

/// Close the connection (admins).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect;

/// Send the client a `zwsx.rqc` and answer its `client-response` data (admins).
#[derive(Message)]
#[rtype(result = "Result<Value, String>")]
pub struct InvokeClient {
    pub data: Value,
}

/// The node is stopping: tell the client at once (1001, going away) and end the subscriptions
/// that end with the connection before answering, so that none outlives the process.
#[derive(Message)]
#[rtype(result = "()")]
pub struct GoingAway;

/// Another session resumed this subscription: stop serving it, and give back at once the pushes
/// of it still waiting here (held, or unanswered), so that they go out again, first, to the
/// session that has it now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseSubscription {
    pub sub_key: String,
}

/// One live session, as the node reaches it.
#[derive(Clone)]
pub struct SessionHandle {
    pub describe: Recipient<DescribeSession>,
    pub recheck: Recipient<RecheckLogin>,
    pub disconnect: Recipient<Disconnect>,
    pub invoke: Recipient<InvokeClient>,
    pub going_away: Recipient<GoingAway>,
    pub release: Recipient<ReleaseSubscription>,
    /// Where its delivery actors push: a session is told apart from another by it.
    pub push: Recipient<PushFrame>,
}

/// Live sessions, for admins: session id → its channel and handle.
#[derive(Default)]
pub struct Sessions {
    map: RwLock<HashMap<String, (i64, SessionHandle)>>,
}

impl Sessions {
    pub fn insert(&self, id: &str, channel_id: i64, session: SessionHandle) {
        if let Ok(mut map) = self.map.write() {
            map.insert(id.to_owned(), (channel_id, session));
        }
    }

    pub fn remove(&self, id: &str) {
        if let Ok(mut map) = self.map.write() {
            map.remove(id);
        }
    }

    pub fn get(&self, id: &str) -> Option<SessionHandle> {
        self.map.read().ok()?.get(id).map(|(_, s)| s.clone())
    }

    pub fn all(&self) -> Vec<SessionHandle> {
        self.map.read().map(|m| m.values().map(|(_, s)| s.clone()).collect()).unwrap_or_default()
    }

    pub fn of_channel(&self, channel_id: i64) -> Vec<SessionHandle> {
        self.map
            .read()
            .map(|m| m.values().filter(|(c, _)| *c == channel_id).map(|(_, s)| s.clone()).collect())
            .unwrap_or_default()
    }
}
