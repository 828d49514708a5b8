//! `wsx` push target: the WebSocket session that subscribed (or resumed the subscription). With
//! no session attached, messages wait; a session that goes away is detached.

use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;

use super::{Batch, Sink, SinkError, SinkFuture};

/// Push these messages to the client as one `zwsx.psrq`. With `ack_timeout` set (explicit ack
/// mode) the answer waits for the client's `client-response` to that push, at most that long.
#[derive(Message)]
#[rtype(result = "Result<(), SinkError>")]
pub struct PushFrame {
    pub sub_key: String,
    pub messages: Vec<Value>,
    pub ack_timeout: Option<Duration>,
}

#[derive(Default)]
pub struct WsxSink {
    session: Option<Recipient<PushFrame>>,
}

impl Sink for WsxSink {
    fn deliver(&self, batch: Batch) -> SinkFuture {
        let Some(session) = &self.session else {
            return Box::pin(async { Err(SinkError::idle("no WebSocket session is attached")) });
        };
        let frame = PushFrame {
            sub_key: batch.sub_key.clone(),
            messages: batch.external(),
            ack_timeout: batch.ack_timeout,
        };
        // Queued for the session now, not when the future is first polled: with several pushes
        // under way, the order in which their futures are polled is not the order they were made.
        let sent = session.send(frame);
        Box::pin(async move {
            match sent.await {
                Ok(result) => result,
                Err(_) => Err(SinkError::idle("the WebSocket session has gone")),
            }
        })
    }

    fn attach_session(&mut self, session: Option<Recipient<PushFrame>>) {
        self.session = session;
    }
}
