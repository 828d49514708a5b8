//! `wsx` push target: the WebSocket session that subscribed (or resumed the subscription). With
//! no session attached, messages wait; a session that goes away is detached.
//!
//! **Order.** Pushes are queued on the session with `do_send`, which never waits for room in
//! its mailbox, so the session gets them exactly in the order the delivery actor made them. A
//! bounded `send` would not: once the mailbox is full, each refused push waits to be sent again
//! when its own future is next polled, and the delivery actor polls its pushes in no set order —
//! with many pushes under way (`max_in_flight` past the mailbox's size) later ones overtook
//! earlier ones. How many pushes may be under way is the delivery actor's window; how many bytes,
//! the session's output budget.

use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{Batch, Sink, SinkError, SinkFuture};

/// Push these messages to the client as one `zwsx.psrq`. `done` is answered when the push is
/// over: once written to the socket (auto ack), or on the client's `client-response` to it within
/// `ack_timeout` (explicit ack). Dropping `done` means the session went away.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PushFrame {
    pub sub_key: String,
    pub messages: Vec<Value>,
    pub ack_timeout: Option<Duration>,
    pub done: oneshot::Sender<Result<(), SinkError>>,
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
        let (done, answer) = oneshot::channel();
        let frame = PushFrame {
            sub_key: batch.sub_key.clone(),
            messages: batch.external(),
            ack_timeout: batch.ack_timeout,
            done,
        };
        // Queued now, in the order pushes are made (see the module's note on order).
        session.do_send(frame);
        Box::pin(async move {
            match answer.await {
                Ok(result) => result,
                Err(_) => Err(SinkError::idle("the WebSocket session has gone")),
            }
        })
    }

    fn attach_session(&mut self, session: Option<Recipient<PushFrame>>) {
        self.session = session;
    }

    fn detach_session(&mut self, session: &Recipient<PushFrame>) -> bool {
        let held = self.session.as_ref() == Some(session);
        if held {
            self.session = None;
        }
        held
    }
}
