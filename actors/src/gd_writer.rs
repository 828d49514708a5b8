//! `GdWriter`: one per node; owns the open group-commit batch.
//!
//! Receives `PersistGd` from topic actors and answers each only after the transaction holding
//! its messages has committed. While one transaction runs, new requests gather; when it ends,
//! all of them go into the next one. Many publishers therefore share one fsync, which is what
//! moves the GD ceiling on a disk that does a few thousand fsyncs a second.

use std::time::Instant;

use actix::prelude::*;
use signalbox_schema::models::{GdOutcome, GdPublication};
use signalbox_schema::Store;
use tokio::sync::oneshot;

use crate::error::{blocking, PubSubError};
use crate::Metrics;

/// Publications per transaction at most; more wait for the next one.
const MAX_BATCH: usize = 2000;
const MAILBOX: usize = 10_000;

/// Store these GD publications; answered with one outcome per publication, after COMMIT.
#[derive(Message)]
#[rtype(result = "Result<Vec<GdOutcome>, PubSubError>")]
pub struct PersistGd {
    pub publications: Vec<GdPublication>,
}

type Reply = oneshot::Sender<Result<Vec<GdOutcome>, PubSubError>>;

pub struct GdWriter {
    store: Store,
    metrics: Metrics,
    /// Requests waiting for the next transaction, in arrival order.
    pending: Vec<(Vec<GdPublication>, Reply)>,
    /// A transaction is running; new requests wait in `pending`.
    committing: bool,
}

impl GdWriter {
    pub fn new(store: Store, metrics: Metrics) -> GdWriter {
        GdWriter { store, metrics, pending: Vec::new(), committing: false }
    }

    fn commit_next(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.pending.is_empty() {
            return;
        }
        let mut taken = Vec::new();
        let mut count = 0;
        while let Some((pubs, _)) = self.pending.first() {
            if count > 0 && count + pubs.len() > MAX_BATCH {
                break;
            }
            count += pubs.len();
            taken.push(self.pending.remove(0));
        }
        self.committing = true;
        let (groups, replies): (Vec<_>, Vec<_>) = taken.into_iter().unzip();
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let batch: Vec<GdPublication> = groups.into_iter().flatten().collect();
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let fut = async move {
            let n = batch.len();
            let result = blocking(move || store.gd_commit(&batch)).await;
            metrics.gd_batch_size.observe(n as f64);
            metrics.gd_commit_seconds.observe(started.elapsed().as_secs_f64());
            result
        };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.committing = false;
            match result {
                Ok(outcomes) => {
                    let mut outcomes = outcomes.into_iter();
                    for (size, reply) in sizes.into_iter().zip(replies) {
                        let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
                    }
                }
                Err(e) => {
                    log::warn!("event=gd_commit_failed error={e}");
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            act.commit_next(ctx);
        }));
    }
}

impl Actor for GdWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Handler<PersistGd> for GdWriter {
    type Result = ResponseFuture<Result<Vec<GdOutcome>, PubSubError>>;

    fn handle(&mut self, msg: PersistGd, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.pending.push((msg.publications, tx));
        self.commit_next(ctx);
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| Err(PubSubError::Overloaded("GD writer stopped".into())))
        })
    }
}
