//! `PeerLink`: one per outgoing WSX link to another cluster's channel.
//!
//! Owns the socket, the session token, the invocations waiting for their reply (matched by
//! id) and the reconnect backoff. It logs in, resumes (or first creates) a subscription for
//! every topic of its `subscription_list` with explicit acks, so nothing published while the
//! link was down is missed, runs the `on_connect` / `on_message` / `on_close` hook services,
//! and keeps the connection with pings, reconnecting with capped exponential backoff.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::io::SinkWrite;
use actix::prelude::*;
use awc::ws::{CloseCode, CloseReason, Codec, Frame, Message as WsMessage};
use futures_util::stream::{SplitSink, StreamExt};
use serde_json::{json, Value};
use signalbox_actors::message::Message;
use signalbox_actors::secrets::SealedAt;
use signalbox_actors::services::InvokeContext;
use signalbox_actors::time::{iso, now_micros, parse_iso};
use signalbox_schema::models::WsxLink;
use tokio::sync::oneshot;

use super::LinkDeps;
use crate::frames;

type WsSink = SplitSink<actix_codec::Framed<awc::BoxedSocket, Codec>, WsMessage>;

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// msg_ids remembered to count duplicates (a push delivered again after a lost ack).
const RECENT_IDS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    BackingOff,
    Stopped,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::BackingOff => "backing-off",
            LinkState::Stopped => "stopped",
        }
    }
}

/// Why an invocation over the link did not answer.
#[derive(Debug, Clone)]
pub enum InvokeError {
    NotConnected,
    Timeout,
    Remote { status: u16, message: String },
}

pub struct PeerLink {
    link: WsxLink,
    /// Decrypted once; never logged. An error names why the stored secret does not open (a
    /// value sealed for another row or field): the link then never connects, and says so.
    secret: Result<String, String>,
    deps: LinkDeps,
    status: LinkState,
    last_error: Option<String>,
    attempts: u32,
    next_attempt: Option<i64>,
    writer: Option<SinkWrite<WsMessage, WsSink>>,
    /// Bumped for every connection, so events of an older one are ignored.
    epoch: u64,
    token: Option<String>,
    login_id: Option<String>,
    pending: HashMap<String, oneshot::Sender<Result<Value, InvokeError>>>,
    /// Remote topic → the sub_key it gave us.
    sub_keys: BTreeMap<String, String>,
    last_pong: Instant,
    received: u64,
    acked: u64,
    duplicates: u64,
    recent: (VecDeque<String>, HashSet<String>),
    next_id: u64,
}

/// One socket event, tagged with the connection it came from.
enum LinkEvent {
    Frame(u64, Result<Frame, awc::error::WsProtocolError>),
    Ended(u64),
}

impl actix::Message for LinkEvent {
    type Result = ();
}

impl PeerLink {
    pub fn new(link: WsxLink, deps: LinkDeps) -> PeerLink {
        let secret = if link.id == 0 && link.secret_enc.is_empty() {
            // An internal link to another node of this cluster answers a challenge instead.
            Ok(String::new())
        } else {
            deps.master_key.decrypt(&link.secret_enc, &SealedAt::link_secret(link.id)).map_err(|e| {
                log::error!("event=link_secret_unusable link={} error={e}", link.name);
                e.to_string()
            })
        };
        let sub_keys = serde_json::from_str(&link.sub_keys).unwrap_or_default();
        PeerLink {
            link,
            secret,
            deps,
            status: LinkState::Connecting,
            last_error: None,
            attempts: 0,
            next_attempt: None,
            writer: None,
            epoch: 0,
            token: None,
            login_id: None,
            pending: HashMap::new(),
            sub_keys,
            last_pong: Instant::now(),
            received: 0,
            acked: 0,
            duplicates: 0,
            recent: (VecDeque::new(), HashSet::new()),
            next_id: 0,
        }
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("link.{}.{}", self.link.name, self.next_id)
    }

    fn send(&mut self, frame: Value) -> bool {
        match self.writer.as_mut() {
            Some(w) => w.write(WsMessage::Text(frame.to_string().into())).is_ok(),
            None => false,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.epoch += 1;
        let epoch = self.epoch;
        self.status = LinkState::Connecting;
        self.next_attempt = None;
        if let Err(e) = &self.secret {
            let reason = e.clone();
            return self.disconnected(ctx, reason, false);
        }
        let address = self.link.address.clone();
        let max_frame = self.deps.max_frame;
        let tls = match address.starts_with("wss://") {
            true => match crate::tls::client_config(self.link.ca_file.as_deref()) {
                Ok(config) => Some(config),
                Err(e) => return self.disconnected(ctx, e, false),
            },
            false => None,
        };
        let connect = async move {
            let builder = awc::Client::builder().timeout(Duration::from_secs(10));
            let client = match tls {
                Some(config) => builder.connector(awc::Connector::new().rustls_0_23(config)).finish(),
                None => builder.finish(),
            };
            client.ws(address).max_frame_size(max_frame).connect().await
        };
        ctx.spawn(connect.into_actor(self).map(move |result, act, ctx| {
            if epoch != act.epoch || act.status == LinkState::Stopped {
                return;
            }
            match result {
                Ok((_, framed)) => {
                    let (sink, stream) = framed.split();
                    act.writer = Some(SinkWrite::new(sink, ctx));
                    let events = stream
                        .map(move |f| LinkEvent::Frame(epoch, f))
                        .chain(futures_util::stream::once(async move { LinkEvent::Ended(epoch) }));
                    ctx.add_stream(events);
                    act.last_pong = Instant::now();
                    let id = act.id();
                    act.login_id = Some(id.clone());
                    if !act.is_cluster() {
                        let secret = act.secret.clone().unwrap_or_default();
                        act.log_in(&id, &secret, frames::timestamp());
                    }
                    // A node of this cluster logs in when the peer's challenge comes (on_text).
                }
                Err(e) => {
                    act.disconnected(ctx, format!("cannot connect to {}: {e}", act.link.address), false)
                }
            }
        }));
    }

    /// The connection is gone (or never came): fail what waits, run `on_close`, back off.
    fn disconnected(&mut self, ctx: &mut Context<Self>, reason: String, was_up: bool) {
        self.epoch += 1;
        if let Some(mut w) = self.writer.take() {
            w.close();
        }
        self.token = None;
        self.login_id = None;
        for (_, waiter) in self.pending.drain() {
            let _ = waiter.send(Err(InvokeError::NotConnected));
        }
        log::warn!("event=link_down link={} reason={reason:?}", self.link.name);
        self.last_error = Some(reason.clone());
        if was_up {
            self.hook(ctx, self.link.on_close.clone(), "close", json!({"reason": reason}), None);
        }
        self.deps.metrics.link_connected.with_label_values(&[&self.link.name]).set(0);
        if self.status == LinkState::Stopped {
            return;
        }
        self.attempts += 1;
        let out_of_attempts = self.link.max_connect_attempts.is_some_and(|max| self.attempts as i64 >= max);
        if !self.link.auto_reconnect || out_of_attempts {
            self.status = LinkState::Stopped;
            return;
        }
        let delay =
            (FIRST_BACKOFF * 2u32.saturating_pow(self.attempts.saturating_sub(1).min(10))).min(MAX_BACKOFF);
        self.status = LinkState::BackingOff;
        self.next_attempt = Some(now_micros() + delay.as_micros() as i64);
        let epoch = self.epoch;
        ctx.run_later(delay, move |act, ctx| {
            if act.epoch == epoch && act.status == LinkState::BackingOff {
                act.connect(ctx);
            }
        });
    }

    /// Runs a hook service, if one is set, with Zato's hook request shape.
    fn hook(
        &mut self,
        ctx: &mut Context<Self>,
        service: Option<String>,
        kind: &str,
        data: Value,
        pushed: Option<Vec<Arc<Message>>>,
    ) {
        let Some(service) = service.filter(|s| !s.is_empty()) else { return };
        let request = json!({"type": kind, "link": self.link.name, "data": data, "msg_type": null,
                             "id": null, "timestamp": frames::timestamp()});
        let services = self.deps.services.clone();
        let name = self.link.name.clone();
        ctx.spawn(
            async move {
                if let Err(e) = services.invoke(&service, request, InvokeContext { pushed }).await {
                    log::warn!("event=link_hook_failed link={name} hook={service} error={e}");
                }
            }
            .into_actor(self),
        );
    }

    /// Logged in: resume each known subscription, or create it, then report connected.
    fn logged_in(&mut self, ctx: &mut Context<Self>) {
        let addr = ctx.address();
        let topics: Vec<String> = serde_json::from_str(&self.link.subscription_list).unwrap_or_default();
        let known = self.sub_keys.clone();
        let epoch = self.epoch;
        let work = async move {
            let mut keys = BTreeMap::new();
            for topic in topics {
                if let Some(key) = known.get(&topic) {
                    let resumed = addr
                        .send(Request {
                            service: "zato.pubsub.resume-wsx-subscription".into(),
                            request: json!({"sub_key": key}),
                        })
                        .await;
                    if matches!(resumed, Ok(Ok(_))) {
                        keys.insert(topic, key.clone());
                        continue;
                    }
                }
                let created = addr
                    .send(Request {
                        service: "zato.pubsub.subscription.create-wsx-subscription".into(),
                        request: json!({"topic_name": topic, "ack_mode": "explicit", "unsub_on_wsx_close": false}),
                    })
                    .await;
                match created {
                    Ok(Ok(reply)) => {
                        if let Some(key) = reply["sub_key"].as_str() {
                            keys.insert(topic, key.to_owned());
                        }
                    }
                    Ok(Err(e)) => return Err(format!("cannot subscribe to `{topic}`: {e:?}")),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(keys)
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            if epoch != act.epoch {
                return;
            }
            match result {
                Ok(keys) => {
                    act.sub_keys = keys;
                    act.persist_sub_keys();
                    act.status = LinkState::Connected;
                    act.attempts = 0;
                    act.last_error = None;
                    act.deps.metrics.link_connected.with_label_values(&[&act.link.name]).set(1);
                    log::info!("event=link_up link={} sub_keys={:?}", act.link.name, act.sub_keys);
                    act.hook(
                        ctx,
                        act.link.on_connect.clone(),
                        "connect",
                        json!({"sub_keys": act.sub_keys}),
                        None,
                    );
                }
                Err(e) => act.disconnected(ctx, e, false),
            }
        }));
    }

    fn persist_sub_keys(&self) {
        let (store, id) = (self.deps.store.clone(), self.link.id);
        let fields = signalbox_schema::models::WsxLinkFields {
            sub_keys: Some(json!(self.sub_keys).to_string()),
            ..Default::default()
        };
        actix_rt::spawn(async move {
            let _ = tokio::task::spawn_blocking(move || store.wsx_link_update(id, fields)).await;
        });
    }

    /// The internal link to another node of this cluster (it answers a challenge to log in).
    fn is_cluster(&self) -> bool {
        self.link.id == 0 && self.link.address.ends_with(crate::internal_channel::CHANNEL_PATH)
    }

    fn log_in(&mut self, id: &str, secret: &str, timestamp: String) {
        let client_id = format!("wsx.out.{}", &frames::new_id("")[..8]);
        let (user, name) = (self.link.username.clone(), self.link.name.clone());
        self.send(json!({"meta": {"action": "create-session", "id": id, "timestamp": timestamp,
            "username": user, "secret": secret, "client_id": client_id,
            "client_name": format!("signalbox link {name}")}}));
    }

    fn on_text(&mut self, ctx: &mut Context<Self>, text: &str) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else { return };
        let meta = &frame["meta"];
        let in_reply_to = meta["in_reply_to"].as_str().map(str::to_owned);
        match meta["msg_type"].as_str().unwrap_or_default() {
            crate::internal_channel::CHALLENGE if self.is_cluster() && self.token.is_none() => {
                let (Some(id), Some(nonce)) = (self.login_id.clone(), frame["data"]["nonce"].as_str()) else {
                    return;
                };
                let timestamp = frames::timestamp();
                let proof = self.deps.master_key.cluster_proof(&self.link.username, nonce, &timestamp);
                self.log_in(&id, &proof, timestamp);
            }
            frames::RSPA if in_reply_to == self.login_id => {
                self.token = frame["data"]["token"].as_str().map(str::to_owned);
                self.login_id = None;
                self.logged_in(ctx);
            }
            frames::MERR if self.token.is_none() => {
                self.disconnected(ctx, "authentication refused by remote".into(), false);
            }
            frames::RSPOK | frames::RSPERR | frames::MERR => {
                let Some(waiter) = in_reply_to.and_then(|id| self.pending.remove(&id)) else { return };
                let result = if meta["msg_type"] == frames::RSPOK {
                    Ok(frame["data"].clone())
                } else {
                    Err(InvokeError::Remote {
                        status: meta["status"].as_u64().unwrap_or(500) as u16,
                        message: meta["error_message"].as_str().unwrap_or(frames::FORBIDDEN).to_owned(),
                    })
                };
                let _ = waiter.send(result);
            }
            frames::PSRQ | frames::RQC => self.on_push(ctx, frame),
            _ => {}
        }
    }

    /// A push or server request: `on_message` answers it, and its reply goes back as the
    /// `client-response` that acknowledges the push. An error leaves the push unacknowledged,
    /// so the remote delivers it again. Pushes are handled one at a time, in order.
    fn on_push(&mut self, ctx: &mut Context<Self>, frame: Value) {
        let id = frame["meta"]["id"].as_str().unwrap_or_default().to_owned();
        let msg_type = frame["meta"]["msg_type"].as_str().unwrap_or_default().to_owned();
        let is_push = msg_type == frames::PSRQ;
        let items = match &frame["data"] {
            Value::Array(list) if is_push => list.clone(),
            one if is_push => vec![one.clone()],
            _ => Vec::new(),
        };
        for item in &items {
            self.received += 1;
            if let Some(msg_id) = item["msg_id"].as_str() {
                if self.recent.1.contains(msg_id) {
                    self.duplicates += 1;
                } else {
                    self.recent.1.insert(msg_id.to_owned());
                    self.recent.0.push_back(msg_id.to_owned());
                    if self.recent.0.len() > RECENT_IDS {
                        if let Some(old) = self.recent.0.pop_front() {
                            self.recent.1.remove(&old);
                        }
                    }
                }
            }
        }
        let pushed: Vec<Arc<Message>> = items.iter().map(|m| Arc::new(to_message(m))).collect();
        let Some(service) = self.link.on_message.clone().filter(|s| !s.is_empty()) else {
            self.answer(&id, json!(null), is_push);
            return;
        };
        let request = json!({"type": "message", "link": self.link.name, "data": frame["data"],
                             "msg_type": msg_type, "id": id, "timestamp": frame["meta"]["timestamp"]});
        let services = self.deps.services.clone();
        let epoch = self.epoch;
        let call =
            async move { services.invoke(&service, request, InvokeContext { pushed: Some(pushed) }).await };
        ctx.wait(call.into_actor(self).map(move |result, act, _| {
            if epoch != act.epoch {
                return;
            }
            match result {
                Ok(reply) => act.answer(&id, reply, is_push),
                Err(e) => {
                    act.last_error = Some(format!("on_message failed: {e}"));
                    log::warn!("event=link_on_message_failed link={} id={id} error={e}", act.link.name);
                }
            }
        }));
    }

    fn answer(&mut self, id: &str, reply: Value, is_push: bool) {
        let token = self.token.clone();
        let frame_id = self.id();
        if self.send(json!({"meta": {"action": "client-response", "id": frame_id, "token": token,
            "in_reply_to": id, "timestamp": frames::timestamp()}, "data": {"response": reply}}))
            && is_push
        {
            self.acked += 1;
        }
    }

    fn ping(&mut self, ctx: &mut Context<Self>) {
        if self.status != LinkState::Connected && self.token.is_none() {
            return;
        }
        let limit = Duration::from_secs_f64(self.link.ping_interval.max(0.1) * 2.5);
        if self.last_pong.elapsed() > limit {
            return self.disconnected(ctx, "pings missed: the remote stopped answering".into(), true);
        }
        if let Some(w) = self.writer.as_mut() {
            let _ = w.write(WsMessage::Ping(Default::default()));
        }
    }
}

/// A pushed message as the hook services take it (so a `publish` hook can bridge it).
fn to_message(m: &Value) -> Message {
    let text = |k: &str| m[k].as_str().map(str::to_owned);
    let pub_time = text("pub_time_iso").and_then(|t| parse_iso(&t)).unwrap_or_else(now_micros);
    Message {
        msg_id: text("msg_id").unwrap_or_default(),
        topic_id: 0,
        topic_name: text("topic_name").unwrap_or_default(),
        published_by_id: None,
        correl_id: text("correl_id"),
        in_reply_to: text("in_reply_to"),
        ext_client_id: text("ext_client_id"),
        group_id: text("group_id"),
        position_in_group: m["position_in_group"].as_i64(),
        pub_pattern_matched: String::new(),
        pub_time,
        ext_pub_time: text("ext_pub_time_iso").and_then(|t| parse_iso(&t)),
        expiration: m["expiration"].as_i64().unwrap_or(0),
        expiration_time: text("expiration_time_iso").and_then(|t| parse_iso(&t)).unwrap_or(i64::MAX),
        data: m["data"].to_string(),
        mime_type: text("mime_type").unwrap_or_else(|| "application/json".into()),
        size: m["size"].as_i64().unwrap_or(0),
        priority: m["priority"].as_i64().unwrap_or(5) as i32,
        user_ctx: None,
        has_gd: true,
    }
}

impl Actor for PeerLink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.connect(ctx);
        let every = Duration::from_secs_f64(self.link.ping_interval.max(0.1));
        ctx.run_interval(every, |act, ctx| act.ping(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.deps.metrics.link_connected.with_label_values(&[&self.link.name]).set(0);
    }
}

/// The writer of a connection failing or closing ends that connection, never the link: the
/// read side reports it (`LinkEvent::Ended`) and the link reconnects.
impl actix::io::WriteHandler<awc::error::WsProtocolError> for PeerLink {
    fn error(&mut self, err: awc::error::WsProtocolError, _ctx: &mut Context<Self>) -> Running {
        log::info!("event=link_write_failed link={} error={err}", self.link.name);
        Running::Continue
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl StreamHandler<LinkEvent> for PeerLink {
    fn handle(&mut self, event: LinkEvent, ctx: &mut Context<Self>) {
        let up = self.status == LinkState::Connected;
        match event {
            LinkEvent::Frame(epoch, _) | LinkEvent::Ended(epoch) if epoch != self.epoch => {}
            LinkEvent::Frame(_, Ok(Frame::Text(bytes))) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.on_text(ctx, &text);
            }
            LinkEvent::Frame(_, Ok(Frame::Ping(bytes))) => {
                if let Some(w) = self.writer.as_mut() {
                    let _ = w.write(WsMessage::Pong(bytes));
                }
            }
            LinkEvent::Frame(_, Ok(Frame::Pong(_))) => self.last_pong = Instant::now(),
            LinkEvent::Frame(_, Ok(Frame::Close(reason))) => {
                let why = reason.and_then(|r| r.description).unwrap_or_else(|| "no reason".into());
                self.disconnected(ctx, format!("closed by remote: {why}"), up);
            }
            LinkEvent::Frame(_, Ok(_)) => {}
            LinkEvent::Frame(_, Err(e)) => self.disconnected(ctx, format!("protocol error: {e}"), up),
            LinkEvent::Ended(_) => self.disconnected(ctx, "connection lost".into(), up),
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        // Each connection's stream ends with `LinkEvent::Ended`; the actor outlives them.
    }
}

/// Invoke a remote service through the remote channel's gateway and wait for its reply.
#[derive(actix::Message)]
#[rtype(result = "Result<Value, InvokeError>")]
pub struct Request {
    pub service: String,
    pub request: Value,
}

impl Handler<Request> for PeerLink {
    type Result = ResponseFuture<Result<Value, InvokeError>>;

    fn handle(&mut self, msg: Request, ctx: &mut Context<Self>) -> Self::Result {
        if self.token.is_none() {
            return Box::pin(async { Err(InvokeError::NotConnected) });
        }
        let id = self.id();
        let token = self.token.clone();
        let sent = self.send(json!({"meta": {"action": "invoke-service", "id": id, "token": token,
            "timestamp": frames::timestamp()}, "data": {"service": msg.service, "request": msg.request}}));
        if !sent {
            return Box::pin(async { Err(InvokeError::NotConnected) });
        }
        let (tx, rx) = oneshot::channel();
        self.pending.insert(id.clone(), tx);
        let timeout = Duration::from_secs_f64(self.link.invoke_timeout.max(0.001));
        let me = ctx.address();
        Box::pin(async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(InvokeError::NotConnected),
                Err(_) => {
                    // Nothing left behind: the waiter is dropped.
                    me.do_send(Forget(id));
                    Err(InvokeError::Timeout)
                }
            }
        })
    }
}

#[derive(actix::Message)]
#[rtype(result = "()")]
struct Forget(String);

impl Handler<Forget> for PeerLink {
    type Result = ();

    fn handle(&mut self, msg: Forget, _ctx: &mut Context<Self>) {
        self.pending.remove(&msg.0);
    }
}

/// Admin control of a link.
#[derive(actix::Message, Debug, Clone, Copy, PartialEq)]
#[rtype(result = "()")]
pub enum LinkControl {
    Reconnect,
    Stop,
    Start,
}

impl Handler<LinkControl> for PeerLink {
    type Result = ();

    fn handle(&mut self, msg: LinkControl, ctx: &mut Context<Self>) {
        let up = self.status == LinkState::Connected;
        match msg {
            LinkControl::Stop => {
                if let Some(w) = self.writer.as_mut() {
                    let _ = w.write(WsMessage::Close(Some(CloseReason {
                        code: CloseCode::Normal,
                        description: Some("link stopped".into()),
                    })));
                }
                self.status = LinkState::Stopped;
                self.disconnected(ctx, "stopped by an administrator".into(), up);
            }
            LinkControl::Start | LinkControl::Reconnect => {
                if msg == LinkControl::Reconnect && up {
                    self.status = LinkState::Stopped;
                    self.disconnected(ctx, "reconnect requested by an administrator".into(), true);
                }
                self.attempts = 0;
                self.connect(ctx);
            }
        }
    }
}

/// What admins see of a link, read from the actor.
#[derive(actix::Message)]
#[rtype(result = "Value")]
pub struct LinkStatus;

impl Handler<LinkStatus> for PeerLink {
    type Result = MessageResult<LinkStatus>;

    fn handle(&mut self, _msg: LinkStatus, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(json!({
            "state": self.status.as_str(),
            "next_attempt": self.next_attempt.map(iso),
            "last_error": self.last_error,
            "sub_keys": self.sub_keys,
            "attempts": self.attempts,
            "received": self.received,
            "acked": self.acked,
            "duplicates": self.duplicates,
            "in_flight_invocations": self.pending.len(),
        }))
    }
}

/// Stop for good: the link was deleted or its settings changed.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for PeerLink {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Context<Self>) {
        self.status = LinkState::Stopped;
        self.epoch += 1;
        if let Some(mut w) = self.writer.take() {
            let _ = w.write(WsMessage::Close(Some(CloseReason {
                code: CloseCode::Normal,
                description: Some("link removed".into()),
            })));
            w.close();
        }
        ctx.stop();
    }
}
