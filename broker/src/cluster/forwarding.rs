//! What the topic actors send to other nodes through the member: in-RAM messages for the
//! subscriptions those nodes deliver (`ForwardRam`, in frames the internal channel takes), and
//! wake-ups for their delivery actors when GD messages were committed here (`WakeTopic`,
//! gathered for a moment and sent as one frame per node).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use signalbox_actors::cluster::{ForwardRam, WakeTopic};
use signalbox_actors::message::Message;

use super::calls::{Forward, SharedMessage, Wake};
use super::member::ClusterMember;
use super::peers::call_link;

/// GD wake-ups for one node are gathered this long and sent as one frame.
const WAKE_DELAY: Duration = Duration::from_millis(1);

impl Handler<ForwardRam> for ClusterMember {
    type Result = ResponseFuture<Result<Vec<String>, String>>;

    fn handle(&mut self, msg: ForwardRam, _ctx: &mut Context<Self>) -> Self::Result {
        let peer = self.peers.get(&msg.node);
        let limit = self.link_deps.max_frame;
        Box::pin(async move {
            let peer = peer.ok_or_else(|| format!("no link to node {}", msg.node))?;
            // A publication's messages go in frames of at most `limit` bytes of messages, one
            // after another (so in order): one frame could pass the internal channel's limit.
            let mut refused = BTreeSet::new();
            for messages in frames_of(&msg.messages, limit) {
                let forward = Forward { sub_keys: msg.sub_keys.clone(), messages };
                let answer = call_link(&msg.node, &peer, forward).await.map_err(|e| format!("{e:?}"))?;
                refused.extend(answer.refused);
            }
            Ok(refused.into_iter().collect())
        })
    }
}

/// Messages in order, grouped so that each group's messages take at most about `limit` bytes (a
/// message larger than that goes alone). A message's size is estimated from its data — twice it,
/// for escaping, plus its other fields — rather than serialised a second time; the receiving
/// channel allows four times `limit`.
fn frames_of(messages: &[Arc<Message>], limit: usize) -> Vec<Vec<SharedMessage>> {
    let mut frames: Vec<Vec<SharedMessage>> = Vec::new();
    let mut size = 0;
    for message in messages {
        const FIELDS: usize = 1024;
        let bytes = 2 * message.data.len() + FIELDS;
        if frames.is_empty() || (size + bytes > limit && size > 0) {
            frames.push(Vec::new());
            size = 0;
        }
        size += bytes;
        if let Some(frame) = frames.last_mut() {
            frame.push(SharedMessage(message.clone()));
        }
    }
    frames
}

impl Handler<WakeTopic> for ClusterMember {
    type Result = ();

    fn handle(&mut self, msg: WakeTopic, ctx: &mut Context<Self>) {
        for node in msg.nodes {
            self.wake_pending.entry(node).or_default().insert(msg.topic_id);
        }
        if !self.wake_scheduled {
            self.wake_scheduled = true;
            ctx.run_later(WAKE_DELAY, |act, _| act.flush_wakes());
        }
    }
}

impl ClusterMember {
    fn flush_wakes(&mut self) {
        self.wake_scheduled = false;
        for (node, topics) in std::mem::take(&mut self.wake_pending) {
            if let Some(peer) = self.peers.get(&node) {
                actix_rt::spawn(async move {
                    let _ = call_link(&node, &peer, Wake { topics }).await;
                });
            }
        }
    }
}
