//! `WsxSession`: one per WebSocket connection on a WSX channel.
//!
//! Owns the session token, the connection's subscriptions, the pushes and server requests
//! waiting for a `client-response`, and the one writer that owns the socket. Receives socket
//! frames, `PushFrame` from its delivery actors, and the node's messages (`node::sessions`:
//! `DescribeSession`, `InvokeClient`, `Disconnect`, `RecheckLogin`, `ReleaseSubscription`,
//! `GoingAway`) through the handle it registers once logged in; calls services and the pub/sub
//! actors.
//!
//! **Output budget.** Two bounds, each the session's budget in bytes:
//! - *Pushes* not yet answered (written to the socket with auto ack; acknowledged with
//!   explicit ack) take at most the budget; a push that does not fit waits here, in order, until
//!   earlier ones are answered — the push window shrinks to what fits, and never below one push.
//!   A client that reads is never cut off for the pushes it was sent.
//! - *Everything else* (replies, pongs, server requests) not yet written takes at most the
//!   budget; past it the client does not read, and is closed with 1008.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::web;
use actix_ws::{CloseCode, CloseReason, Item, Message as WsMessage, ProtocolError};
use serde_json::{json, Value};
use signalbox_actors::services::{InvokeContext, ServiceError};
use signalbox_actors::sinks::{PushFrame, SinkError};
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::Endpoint;
use tokio::sync::{mpsc, oneshot};

use super::GATEWAY;
use crate::frames::{self, ClientFrame};
use crate::node::auth::{authenticate, Caller, Credentials};
use crate::node::channels::Channel;
use crate::node::error::{ErrorKind, NodeError};
use crate::node::sessions::{
    DescribeSession, Disconnect, GoingAway, InvokeClient, RecheckLogin, ReleaseSubscription, SessionHandle,
    SessionInfo,
};
use crate::node::Node;

/// How long a server request (`zwsx.rqc`) waits for the client's answer.
pub const CLIENT_RESPONSE_WAIT: Duration = Duration::from_secs(5);
/// Unsent output past which a client that does not read is disconnected (at least).
const MIN_OUTPUT_BUDGET: usize = 4 * 1024 * 1024;
/// `invoke-service` calls one connection may have unanswered; past it a call is refused (429).
const MAX_CALLS_IN_FLIGHT: usize = 1000;
/// Subscriptions one connection may serve.
pub const MAX_SUBS_PER_SESSION: usize = 1000;
/// A write that waits this long for the client to take bytes: the client does not read.
const WRITE_STALL: Duration = Duration::from_secs(10);
/// What a pong is counted for beyond its payload, so that even empty ones add up.
const FRAME_OVERHEAD: usize = 16;

enum Out {
    /// A reply or request, counted in `Writer::pending` until written.
    Text(String),
    /// A push, counted by the session until answered; `written` is told once it is on the socket.
    Push(String, oneshot::Sender<()>),
    Ping,
    /// Counted in `Writer::pending` until written, as replies are.
    Pong(actix_web::web::Bytes),
    Close(CloseReason),
}

/// The one writer of a connection, and the bytes queued for it.
struct Writer {
    tx: mpsc::UnboundedSender<Out>,
    /// Bytes of replies, requests and pongs not yet written.
    pending: Arc<AtomicUsize>,
    budget: usize,
    /// When the write under way started (µs; 0: none): one that waits past `WRITE_STALL` means
    /// the client has stopped reading.
    blocked_since: Arc<AtomicI64>,
    task: actix_rt::task::JoinHandle<()>,
    /// The connection's socket, to end it when the client does not read.
    connection: Option<super::ConnectionSocket>,
}

/// A push waiting for room in the budget.
struct HeldPush {
    sub_key: String,
    id: String,
    text: String,
    ack_timeout: Option<Duration>,
    done: oneshot::Sender<Result<(), SinkError>>,
}

/// A push written (or being written) and waiting for the client's `client-response`.
struct AwaitedPush {
    sub_key: String,
    bytes: usize,
    done: oneshot::Sender<Result<(), SinkError>>,
    timer: SpawnHandle,
}

/// Who logged in, and until when the token is good.
pub struct Login {
    pub endpoint: Arc<Endpoint>,
    /// The endpoint's permissions, parsed once at login rather than for every publication.
    pub caller: Caller,
    pub token: String,
    pub expires: Instant,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
}

pub struct WsxSession {
    /// `ws.<hex>`: how admins and logs name this connection.
    pub id: String,
    pub channel: Arc<Channel>,
    pub state: web::Data<Node>,
    peer: String,
    since: i64,
    /// Frames in and out and when the client was last heard from, for the console.
    traffic: Arc<signalbox_actors::history::Traffic>,
    pub login: Option<Login>,
    /// Subscriptions this connection serves, with their `unsub_on_wsx_close`.
    pub subs: Vec<(String, bool)>,
    /// `invoke-service` calls not answered yet (at most `MAX_CALLS_IN_FLIGHT`).
    calls_in_flight: usize,
    /// The internal channel's nonce for this connection, until a login uses it.
    challenge: Option<String>,
    /// Explicit-ack pushes waiting for their `client-response`, by push id (a message pushed
    /// for two subscriptions of this session has one id twice: answered oldest first).
    pushes: HashMap<String, VecDeque<AwaitedPush>>,
    /// Pushes waiting for room in the output budget, in the order they came.
    held: VecDeque<HeldPush>,
    /// Bytes of pushes sent and not yet answered.
    push_bytes: usize,
    /// Server requests waiting for their `client-response`, by request id.
    requests: HashMap<String, oneshot::Sender<Value>>,
    writer: Writer,
    missed_pings: u32,
    /// The close code this session ended with, for metrics.
    close_code: Option<u16>,
    /// A message arriving in fragments (RFC 6455 §5.4): whether it is text, and its bytes so
    /// far (at most the channel's `max_frame_size`, the bound a whole message has).
    fragments: Option<(bool, Vec<u8>)>,
}

impl WsxSession {
    pub fn new(
        channel: Arc<Channel>,
        state: web::Data<Node>,
        mut socket: actix_ws::Session,
        peer: String,
        connection: Option<super::ConnectionSocket>,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
        let pending = Arc::new(AtomicUsize::new(0));
        let counter = pending.clone();
        let metrics = state.metrics.clone();
        let blocked_since = Arc::new(AtomicI64::new(0));
        let blocked = blocked_since.clone();
        let traffic = Arc::new(signalbox_actors::history::Traffic::new(now_micros()));
        let sent_out = traffic.clone();
        let task = actix_rt::spawn(async move {
            while let Some(out) = rx.recv().await {
                // A write waits only while the connection's own buffers are full.
                blocked.store(now_micros(), Ordering::Relaxed);
                let sent = match out {
                    Out::Text(text) => {
                        let n = text.len();
                        let ok = socket.text(text).await.is_ok();
                        counter.fetch_sub(n, Ordering::Relaxed);
                        metrics.wsx_frames.with_label_values(&["out"]).inc();
                        sent_out.count_out(1);
                        ok
                    }
                    Out::Push(text, written) => {
                        let ok = socket.text(text).await.is_ok();
                        metrics.wsx_frames.with_label_values(&["out"]).inc();
                        sent_out.count_out(1);
                        if ok {
                            let _ = written.send(());
                        }
                        ok
                    }
                    Out::Ping => socket.ping(b"").await.is_ok(),
                    Out::Pong(bytes) => {
                        let n = bytes.len() + FRAME_OVERHEAD;
                        let ok = socket.pong(&bytes).await.is_ok();
                        counter.fetch_sub(n, Ordering::Relaxed);
                        ok
                    }
                    Out::Close(reason) => {
                        let _ = socket.close(Some(reason)).await;
                        return;
                    }
                };
                blocked.store(0, Ordering::Relaxed);
                if !sent {
                    return;
                }
            }
        });
        let budget = (channel.row.max_frame_size.max(0) as usize * 8).max(MIN_OUTPUT_BUDGET);
        WsxSession {
            id: frames::new_id("ws."),
            channel,
            state,
            peer,
            since: now_micros(),
            traffic,
            login: None,
            subs: Vec::new(),
            calls_in_flight: 0,
            challenge: None,
            pushes: HashMap::new(),
            held: VecDeque::new(),
            push_bytes: 0,
            requests: HashMap::new(),
            writer: Writer { tx, pending, budget, blocked_since, task, connection },
            missed_pings: 0,
            close_code: None,
            fragments: None,
        }
    }

    /// Queues a frame for the writer; past the byte budget the client is cut off.
    pub fn send(&mut self, ctx: &mut Context<Self>, frame: Value) {
        let text = frame.to_string();
        let bytes = text.len();
        self.queue_counted(ctx, Out::Text(text), bytes);
    }

    /// Queues a reply, request or pong, counted against the budget for what is not pushes.
    fn queue_counted(&mut self, ctx: &mut Context<Self>, out: Out, bytes: usize) {
        let queued = self.writer.pending.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if queued > self.writer.budget {
            self.writer.pending.fetch_sub(bytes, Ordering::Relaxed);
            return self.cut_off(ctx, format_args!("unsent_bytes={queued}"));
        }
        let _ = self.writer.tx.send(out);
    }

    /// Sends held pushes, in order, while they fit in the budget (one at least).
    fn release_pushes(&mut self, ctx: &mut Context<Self>) {
        while let Some(next) = self.held.front() {
            if self.push_bytes > 0 && self.push_bytes + next.text.len() > self.writer.budget {
                return;
            }
            let Some(push) = self.held.pop_front() else { return };
            self.dispatch_push(ctx, push);
        }
    }

    fn dispatch_push(&mut self, ctx: &mut Context<Self>, push: HeldPush) {
        let bytes = push.text.len();
        let (written_tx, written) = oneshot::channel();
        if self.writer.tx.send(Out::Push(push.text, written_tx)).is_err() {
            return; // the writer is gone: `done` is dropped, the session is going away
        }
        self.push_bytes += bytes;
        self.state.metrics.wsx_pushes.inc();
        match push.ack_timeout {
            None => {
                let done = push.done;
                ctx.spawn(written.into_actor(self).map(move |written, act, ctx| {
                    act.push_bytes -= bytes;
                    let _ = done.send(match written {
                        Ok(()) => Ok(()),
                        Err(_) => {
                            Err(SinkError::idle("the WebSocket connection closed before the push was sent"))
                        }
                    });
                    act.release_pushes(ctx);
                }));
            }
            Some(timeout) => {
                let id = push.id.clone();
                let timer = ctx.run_later(timeout, move |act, ctx| {
                    let late = Err(SinkError::other("the client did not acknowledge the push in time"));
                    act.answer_push(ctx, &id, late, false);
                });
                let awaited = AwaitedPush { sub_key: push.sub_key, bytes, done: push.done, timer };
                self.pushes.entry(push.id).or_default().push_back(awaited);
            }
        }
    }

    /// Ends the oldest push awaited under this id; answers whether there was one.
    fn answer_push(
        &mut self,
        ctx: &mut Context<Self>,
        id: &str,
        result: Result<(), SinkError>,
        cancel_timer: bool,
    ) -> bool {
        let Some(waiting) = self.pushes.get_mut(id) else { return false };
        let Some(push) = waiting.pop_front() else { return false };
        if waiting.is_empty() {
            self.pushes.remove(id);
        }
        if cancel_timer {
            ctx.cancel_future(push.timer);
        }
        self.push_bytes -= push.bytes;
        let _ = push.done.send(result);
        self.release_pushes(ctx);
        true
    }

    pub fn close(&mut self, ctx: &mut Context<Self>, code: u16, why: &str) {
        if self.close_code.is_none() {
            self.close_code = Some(code);
            let reason = CloseReason { code: CloseCode::from(code), description: Some(why.to_owned()) };
            let _ = self.writer.tx.send(Out::Close(reason));
        }
        ctx.stop();
    }

    /// A client that does not read is cut off; the connection is dropped at once, since it would
    /// not read a close frame either.
    fn cut_off(&mut self, ctx: &mut Context<Self>, detail: std::fmt::Arguments) {
        log::warn!("event=wsx_slow_consumer session={} {detail}", self.id);
        self.state.metrics.mailbox_overflows.with_label_values(&["wsx_output"]).inc();
        self.close(ctx, 1008, "output budget exceeded: the client does not read");
        self.writer.task.abort();
        if let Some(connection) = &self.writer.connection {
            connection.shut_down();
        }
    }

    /// Cuts the client off when a write has waited past `WRITE_STALL`.
    fn check_stall(&mut self, ctx: &mut Context<Self>) {
        let since = self.writer.blocked_since.load(Ordering::Relaxed);
        let stalled = since > 0 && now_micros() - since > WRITE_STALL.as_micros() as i64;
        if stalled && self.close_code.is_none() {
            self.cut_off(ctx, format_args!("stalled_write_secs={}", WRITE_STALL.as_secs()));
        }
    }

    fn logged_in(&self) -> bool {
        self.login.is_some()
    }

    /// Every frame after `create-session` must carry the current, unexpired token.
    fn token_ok(&self, frame: &ClientFrame) -> bool {
        match (&self.login, &frame.token) {
            (Some(login), Some(token)) => *token == login.token && Instant::now() < login.expires,
            _ => false,
        }
    }

    fn on_text(&mut self, ctx: &mut Context<Self>, text: &str) {
        let frame = match ClientFrame::parse(text) {
            Ok(f) => f,
            Err(e) => return self.send(ctx, frames::error(400, &e, None)),
        };
        match frame.action.as_str() {
            "create-session" => self.create_session(ctx, frame),
            "invoke-service" | "client-response" if !self.token_ok(&frame) => {
                self.send(ctx, frames::forbidden(frame.id.as_deref()));
            }
            "invoke-service" => self.invoke(ctx, frame),
            "client-response" => self.client_response(ctx, frame),
            other => {
                let message = format!("unknown action `{other}`");
                self.send(ctx, frames::error(400, &message, frame.id.as_deref()));
            }
        }
    }

    fn create_session(&mut self, ctx: &mut Context<Self>, frame: ClientFrame) {
        let username = frame.meta_str("username").unwrap_or_default();
        let secret = frame.meta_str("secret").unwrap_or_default();
        if self.channel.row.id == crate::internal_channel::CHANNEL_ID {
            // Another node of this cluster answers the challenge sent when it connected (once).
            let timestamp = frame.meta_str("timestamp").unwrap_or_default();
            let nonce = self.challenge.take().unwrap_or_default();
            let ok = !nonce.is_empty()
                && crate::internal_channel::proof_ok(
                    &self.state.master_key,
                    &username,
                    &nonce,
                    &timestamp,
                    &secret,
                );
            let peer = ok.then(|| Caller::of(Arc::new(crate::internal_channel::peer_endpoint(&username))));
            return self.logged_in_as(ctx, peer.ok_or(None), &frame);
        }
        // The same authenticator as REST: cache, throttle, failure metric.
        let address = self.peer.rsplit_once(':').map_or(self.peer.as_str(), |(ip, _)| ip);
        let address = address.trim_start_matches('[').trim_end_matches(']').to_owned();
        let creds = Credentials::from_secret(username, secret);
        let state = self.state.clone();
        let check = async move { authenticate(&state, address, Some(creds)).await };
        let channel = self.channel.row.name.clone();
        ctx.wait(check.into_actor(self).map(move |result, act, ctx| {
            let result = match result {
                Ok(caller) if caller.endpoint.wsx_channel.as_deref() == Some(channel.as_str()) => Ok(caller),
                Ok(_) => Err(None),
                Err(e) => Err(Some(e)),
            };
            act.logged_in_as(ctx, result, &frame)
        }));
    }

    /// Answers a `create-session`: a token for `caller`, or why not. A throttled client is told
    /// so (429) and closed (1008); any other failure is Zato's plain Forbidden.
    fn logged_in_as(
        &mut self,
        ctx: &mut Context<Self>,
        caller: Result<Caller, Option<NodeError>>,
        frame: &ClientFrame,
    ) {
        let caller = match caller {
            Ok(caller) => caller,
            Err(failure) => {
                log::info!(target: "signalbox::audit", "event=wsx_login_failed session={} peer={}", self.id, self.peer);
                if let Some(e) = failure.filter(|e| e.kind == ErrorKind::TooMany) {
                    self.send(ctx, frames::error(429, &e.details, frame.id.as_deref()));
                    return self.close(ctx, 1008, "too many failed logins");
                }
                return self.send(ctx, frames::forbidden(frame.id.as_deref()));
            }
        };
        if self.login.as_ref().is_some_and(|l| l.endpoint.id != caller.endpoint.id) {
            // A connection is one endpoint's: its subscriptions, and the revocations that end
            // it, are that endpoint's. A new token, yes; another identity, no.
            log::info!(target: "signalbox::audit", "event=wsx_login_refused session={} reason=\"another endpoint\"", self.id);
            return self.send(ctx, frames::forbidden(frame.id.as_deref()));
        }
        let token = frames::new_id("zwsxt.");
        let ttl = Duration::from_secs_f64(self.channel.row.token_ttl.max(1.0));
        let first = self.login.is_none();
        self.login = Some(Login {
            endpoint: caller.endpoint.clone(),
            caller,
            token: token.clone(),
            expires: Instant::now() + ttl,
            client_id: frame.meta_str("client_id"),
            client_name: frame.meta_str("client_name"),
        });
        if first {
            self.state.wsx_sessions.insert(&self.id, self.channel.row.id, handle_of(&ctx.address()));
            self.state.metrics.wsx_sessions.inc();
        }
        log::info!(target: "signalbox::audit", "event=wsx_login session={} channel={} endpoint={}", self.id, self.channel.row.name,
            self.login.as_ref().map(|l| l.endpoint.name.as_str()).unwrap_or_default());
        self.send(ctx, frames::server(frames::RSPA, Some(200), frame.id.as_deref(), json!({"token": token})));
    }

    fn invoke(&mut self, ctx: &mut Context<Self>, frame: ClientFrame) {
        let in_reply_to = frame.id.clone();
        let channel_service = self.channel.row.service.clone();
        let (service, request) = if channel_service == GATEWAY {
            let name = frame.data.get("service").and_then(Value::as_str).map(str::to_owned);
            let Some(name) = name else {
                return self
                    .send(ctx, frames::error(400, "`data.service` is required", in_reply_to.as_deref()));
            };
            if !self.channel.allowed.contains(&name) {
                let message = format!("service `{name}` is not allowed on this channel");
                return self.send(ctx, frames::error(403, &message, in_reply_to.as_deref()));
            }
            (name, frame.data.get("request").cloned().unwrap_or(Value::Null))
        } else {
            (channel_service, frame.data)
        };
        if self.calls_in_flight >= MAX_CALLS_IN_FLIGHT {
            let message = format!("more than {MAX_CALLS_IN_FLIGHT} calls unanswered on this connection");
            return self.send(ctx, frames::error(429, &message, in_reply_to.as_deref()));
        }
        self.calls_in_flight += 1;
        if self.channel.row.id == crate::internal_channel::CHANNEL_ID {
            let fut = crate::node::peer_calls::invoke(self.state.clone().into_inner(), service, request);
            let fut = Box::pin(fut);
            ctx.spawn(
                fut.into_actor(self)
                    .map(move |result, act, ctx| act.reply(ctx, result, in_reply_to.as_deref())),
            );
            return;
        }
        if super::pubsub::handles(&service) {
            let fut = super::pubsub::invoke(self, ctx, &service, request);
            ctx.spawn(fut.map(move |result, act, ctx| act.reply(ctx, result, in_reply_to.as_deref())));
            return;
        }
        let services = self.state.services.clone();
        let fut = async move { services.invoke(&service, request, InvokeContext::default()).await };
        ctx.spawn(
            fut.into_actor(self).map(move |result, act, ctx| act.reply(ctx, result, in_reply_to.as_deref())),
        );
    }

    fn reply(
        &mut self,
        ctx: &mut Context<Self>,
        result: Result<Value, ServiceError>,
        in_reply_to: Option<&str>,
    ) {
        self.calls_in_flight = self.calls_in_flight.saturating_sub(1);
        let frame = match result {
            Ok(data) => frames::server(frames::RSPOK, Some(200), in_reply_to, data),
            Err(e) => {
                let status = match &e {
                    ServiceError::NotFound(_) => 404,
                    ServiceError::BadRequest(_) => 400,
                    ServiceError::Status { status, .. } => *status,
                    ServiceError::Failed { .. } | ServiceError::Timeout(_) => 502,
                };
                frames::error(status, &e.to_string(), in_reply_to)
            }
        };
        self.send(ctx, frame);
    }

    fn client_response(&mut self, ctx: &mut Context<Self>, frame: ClientFrame) {
        let Some(id) = frame.in_reply_to else { return };
        if self.answer_push(ctx, &id, Ok(()), true) {
            self.state.metrics.wsx_acks.inc();
        } else if let Some(waiter) = self.requests.remove(&id) {
            let _ = waiter.send(frame.data);
        }
    }

    /// One fragment of a message; the message is read once its last fragment is here. The
    /// codec has already refused fragments out of order (1002).
    fn on_fragment(&mut self, ctx: &mut Context<Self>, item: Item) {
        let (bytes, last) = match item {
            Item::FirstText(b) => {
                self.fragments = Some((true, Vec::new()));
                (b, false)
            }
            Item::FirstBinary(b) => {
                self.fragments = Some((false, Vec::new()));
                (b, false)
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        let max = self.channel.row.max_frame_size.max(1024) as usize;
        let Some((_, so_far)) = self.fragments.as_mut() else { return };
        if so_far.len() + bytes.len() > max {
            self.fragments = None;
            return self.close(ctx, 1009, "message larger than max_frame_size");
        }
        so_far.extend_from_slice(&bytes);
        if !last {
            return;
        }
        let Some((text, message)) = self.fragments.take() else { return };
        self.state.metrics.wsx_frames.with_label_values(&["in"]).inc();
        self.heard(true);
        match (text, String::from_utf8(message)) {
            (true, Ok(text)) => self.on_text(ctx, &text),
            (true, Err(_)) => self.invalid_utf8(ctx),
            (false, _) => self.send(ctx, frames::error(400, "only JSON text frames are supported", None)),
        }
    }

    fn invalid_utf8(&mut self, ctx: &mut Context<Self>) {
        if self.logged_in() {
            self.send(ctx, frames::error(422, "Invalid UTF-8 bytes", None));
        } else {
            self.close(ctx, 4001, "Invalid UTF-8 bytes");
        }
    }

    fn on_protocol_error(&mut self, ctx: &mut Context<Self>, err: ProtocolError) {
        match err {
            // Only a text frame that is not UTF-8 (read whole, so reading may go on); any other
            // bad frame, a reserved bit say, is left unread and can only close the connection.
            ProtocolError::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<std::str::Utf8Error>()) => {
                self.invalid_utf8(ctx)
            }
            ProtocolError::Overflow => self.close(ctx, 1009, "frame larger than max_frame_size"),
            other => {
                log::info!("event=wsx_protocol_error session={} error={other}", self.id);
                self.close(ctx, 1002, "protocol error");
            }
        }
    }

    /// The client was heard from: a message (counted) or a pong.
    fn heard(&self, message: bool) {
        self.traffic.seen(now_micros());
        if message {
            self.traffic.count_in(1);
        }
    }

    fn ping(&mut self, ctx: &mut Context<Self>) {
        if self.missed_pings >= self.channel.row.pings_missed_threshold.max(1) as u32 {
            return self.close(ctx, 4002, "Pings missed");
        }
        self.missed_pings += 1;
        let _ = self.writer.tx.send(Out::Ping);
    }
}

impl Actor for WsxSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.channel.row.id == crate::internal_channel::CHANNEL_ID {
            let nonce = frames::new_id("");
            self.send(
                ctx,
                frames::server(crate::internal_channel::CHALLENGE, Some(200), None, json!({"nonce": nonce})),
            );
            self.challenge = Some(nonce);
        }
        let wait = Duration::from_secs_f64(self.channel.row.new_token_wait_time.max(0.1));
        ctx.run_later(wait, |act, ctx| {
            if !act.logged_in() {
                act.send(ctx, frames::forbidden(None));
                act.close(ctx, 4003, "no create-session in time");
            }
        });
        let every = Duration::from_secs_f64(self.channel.row.ping_interval.max(0.1));
        ctx.run_interval(every, |act, ctx| act.ping(ctx));
        ctx.run_interval(Duration::from_secs(1), |act, ctx| act.check_stall(ctx));
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let code = self.close_code.unwrap_or(1000);
        self.state.metrics.wsx_closes.with_label_values(&[&code.to_string()]).inc();
        if self.login.is_some() {
            self.state.wsx_sessions.remove(&self.id);
            self.state.metrics.wsx_sessions.dec();
        }
        let _ =
            self.writer.tx.send(Out::Close(CloseReason { code: CloseCode::from(code), description: None }));
        // The close frame has a moment to go out; a writer still blocked then is dropped.
        let task = self.writer.task.abort_handle();
        actix_rt::spawn(async move {
            tokio::time::sleep(WRITE_STALL).await;
            task.abort();
        });
        let subs = std::mem::take(&mut self.subs);
        if !subs.is_empty() {
            let (state, me) = (self.state.clone(), ctx.address().recipient());
            actix_rt::spawn(async move { super::pubsub::end_subscriptions(&state, &me, subs).await });
        }
        log::info!("event=wsx_session_closed session={} code={code}", self.id);
    }
}

impl StreamHandler<Result<WsMessage, ProtocolError>> for WsxSession {
    fn handle(&mut self, item: Result<WsMessage, ProtocolError>, ctx: &mut Context<Self>) {
        match item {
            Ok(WsMessage::Text(text)) => {
                self.state.metrics.wsx_frames.with_label_values(&["in"]).inc();
                self.heard(true);
                self.on_text(ctx, &text);
            }
            Ok(WsMessage::Binary(_)) => {
                self.send(ctx, frames::error(400, "only JSON text frames are supported", None));
            }
            Ok(WsMessage::Continuation(item)) => self.on_fragment(ctx, item),
            Ok(WsMessage::Ping(bytes)) => {
                // Counted with a frame header's worth, so even empty pings add up.
                let counted = bytes.len() + FRAME_OVERHEAD;
                self.queue_counted(ctx, Out::Pong(bytes), counted);
            }
            Ok(WsMessage::Pong(_)) => {
                self.heard(false);
                self.missed_pings = 0;
                // An answered ping keeps the token alive, as in Zato.
                let extend = Duration::from_secs_f64(self.channel.row.ping_interval.max(0.0));
                if let Some(login) = self.login.as_mut() {
                    login.expires = login.expires.max(Instant::now() + extend);
                }
            }
            Ok(WsMessage::Close(_)) => {
                self.close_code.get_or_insert(1000);
                ctx.stop();
            }
            Ok(WsMessage::Nop) => {}
            Err(e) => self.on_protocol_error(ctx, e),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.close_code.get_or_insert(1006);
        ctx.stop();
    }
}

impl Handler<PushFrame> for WsxSession {
    type Result = ();

    fn handle(&mut self, msg: PushFrame, ctx: &mut Context<Self>) {
        let mut messages = msg.messages;
        // One message goes as a plain object, as Zato sends it; its id is the push id.
        let (id, data) = if messages.len() == 1 {
            let one = messages.remove(0);
            (one["msg_id"].as_str().unwrap_or_default().to_owned(), one)
        } else {
            (frames::new_id("zwsx."), Value::Array(messages))
        };
        let text = frames::server_with_id(&id, frames::PSRQ, None, None, data).to_string();
        let held = HeldPush { sub_key: msg.sub_key, id, text, ack_timeout: msg.ack_timeout, done: msg.done };
        self.held.push_back(held);
        self.release_pushes(ctx);
    }
}

impl Handler<InvokeClient> for WsxSession {
    type Result = ResponseFuture<Result<Value, String>>;

    fn handle(&mut self, msg: InvokeClient, ctx: &mut Context<Self>) -> Self::Result {
        let id = frames::new_id("zwsx.");
        self.send(ctx, frames::server_with_id(&id, frames::RQC, None, None, msg.data));
        let (tx, rx) = oneshot::channel();
        self.requests.insert(id.clone(), tx);
        // Not answered in time: the waiter is forgotten (a late answer is dropped).
        ctx.run_later(CLIENT_RESPONSE_WAIT, move |act, _| {
            act.requests.remove(&id);
        });
        Box::pin(async move {
            match tokio::time::timeout(CLIENT_RESPONSE_WAIT, rx).await {
                Ok(Ok(data)) => Ok(data),
                _ => Err("the client did not answer within 5 s".to_owned()),
            }
        })
    }
}

impl Handler<GoingAway> for WsxSession {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: GoingAway, ctx: &mut Context<Self>) -> Self::Result {
        if self.close_code.is_none() {
            self.close_code = Some(1001);
            let reason =
                CloseReason { code: CloseCode::Away, description: Some("the node is stopping".into()) };
            let _ = self.writer.tx.send(Out::Close(reason));
        }
        let subs = std::mem::take(&mut self.subs);
        let (state, me) = (self.state.clone(), ctx.address().recipient());
        let ended = async move { super::pubsub::end_subscriptions(&state, &me, subs).await };
        Box::pin(ended.into_actor(self).map(|(), _act, ctx| ctx.stop()))
    }
}

impl Handler<ReleaseSubscription> for WsxSession {
    type Result = ();

    fn handle(&mut self, msg: ReleaseSubscription, ctx: &mut Context<Self>) {
        self.subs.retain(|(key, _)| *key != msg.sub_key);
        let gone = || Err(SinkError::idle("another session resumed the subscription"));
        let (released, kept): (VecDeque<HeldPush>, VecDeque<HeldPush>) =
            std::mem::take(&mut self.held).into_iter().partition(|p| p.sub_key == msg.sub_key);
        self.held = kept;
        for push in released {
            let _ = push.done.send(gone());
        }
        for waiting in self.pushes.values_mut() {
            let (released, kept): (VecDeque<AwaitedPush>, VecDeque<AwaitedPush>) =
                std::mem::take(waiting).into_iter().partition(|p| p.sub_key == msg.sub_key);
            *waiting = kept;
            for push in released {
                ctx.cancel_future(push.timer);
                self.push_bytes -= push.bytes;
                let _ = push.done.send(gone());
            }
        }
        self.pushes.retain(|_, waiting| !waiting.is_empty());
        self.release_pushes(ctx);
    }
}

impl Handler<RecheckLogin> for WsxSession {
    type Result = ();

    fn handle(&mut self, msg: RecheckLogin, ctx: &mut Context<Self>) {
        let Some(login) = &self.login else { return };
        if msg.endpoint_id.is_some_and(|id| id != login.endpoint.id) {
            return;
        }
        if self.channel.row.id == crate::internal_channel::CHANNEL_ID {
            return;
        }
        let (store, id) = (self.state.store.clone(), login.endpoint.id);
        let read = web::block(move || store.endpoint(id));
        ctx.wait(read.into_actor(self).map(|read, act, ctx| {
            let Some(login) = act.login.as_mut() else { return };
            let revoked = match read {
                Ok(Ok(now)) => {
                    let same_secret = now.password_hash == login.endpoint.password_hash
                        && now.api_key_digest == login.endpoint.api_key_digest
                        && now.auth == login.endpoint.auth;
                    let here = now.wsx_channel.as_deref() == Some(act.channel.row.name.as_str());
                    if same_secret && here {
                        login.caller = Caller::of(Arc::new(now));
                        login.endpoint = login.caller.endpoint.clone();
                        return;
                    }
                    "the endpoint's credentials or channel changed"
                }
                Ok(Err(signalbox_schema::StoreError::NotFound)) => "the endpoint was deleted",
                // Could not tell: keep the session; the next change tries again.
                _ => return,
            };
            log::info!(target: "signalbox::audit", "event=wsx_login_revoked session={} reason={revoked:?}", act.id);
            act.send(ctx, frames::error(401, revoked, None));
            act.close(ctx, 1008, revoked);
        }));
    }
}

impl Handler<Disconnect> for WsxSession {
    type Result = ();

    fn handle(&mut self, _msg: Disconnect, ctx: &mut Context<Self>) {
        self.close(ctx, 1000, "disconnected by an administrator");
    }
}

impl Handler<DescribeSession> for WsxSession {
    type Result = MessageResult<DescribeSession>;

    fn handle(&mut self, _msg: DescribeSession, _ctx: &mut Context<Self>) -> Self::Result {
        let login = self.login.as_ref();
        let traffic = self.traffic.figures(now_micros());
        MessageResult(SessionInfo {
            session_id: self.id.clone(),
            channel: self.channel.row.name.clone(),
            client_id: login.and_then(|l| l.client_id.clone()),
            client_name: login.and_then(|l| l.client_name.clone()),
            endpoint: login.map(|l| l.endpoint.name.clone()),
            peer_address: self.peer.clone(),
            since: iso(self.since),
            subscriptions: self.subs.iter().map(|(k, _)| k.clone()).collect(),
            last_seen: iso(traffic.last_seen),
            msgs_in: traffic.msgs_in,
            msgs_out: traffic.msgs_out,
            rate_in: traffic.rate_in,
            rate_out: traffic.rate_out,
        })
    }
}

/// The session as the node reaches it (registered once it has logged in).
fn handle_of(addr: &Addr<WsxSession>) -> SessionHandle {
    SessionHandle {
        describe: addr.clone().recipient(),
        recheck: addr.clone().recipient(),
        disconnect: addr.clone().recipient(),
        invoke: addr.clone().recipient(),
        going_away: addr.clone().recipient(),
        release: addr.clone().recipient(),
        push: addr.clone().recipient(),
    }
}
