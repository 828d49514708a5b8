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

#[cfg(test)]
mod tests {
    use signalbox_schema::testing::{self, TestStore};

    use super::*;

    /// A store on a fresh database (SQLite, or PostgreSQL when configured) with two topics, the
    /// first with one subscription.
    struct Fixture {
        db: TestStore,
        topic: i64,
        other_topic: i64,
        sub_key: String,
    }

    impl Fixture {
        fn new(db: TestStore) -> Fixture {
            let endpoint = db.endpoint_create(testing::endpoint("subscriber")).expect("endpoint");
            let topic = |name: &str| db.topic_create(testing::topic(name)).expect("topic").id;
            let (topic, other_topic) = (topic("/t"), topic("/other"));
            let sub_key = db
                .subscription_create(testing::subscription("zpsk.gd", topic, endpoint.id))
                .expect("subscription")
                .sub_key;
            Fixture { db, topic, other_topic, sub_key }
        }

        /// The writer, started and ready: its first (empty) commit has been answered, so its
        /// mailbox has its full size and requests sent together reach it together.
        async fn writer(&self, metrics: &Metrics) -> Addr<GdWriter> {
            let writer = GdWriter::new(self.db.store.clone(), metrics.clone()).start();
            let warm_up = writer.send(PersistGd { publications: Vec::new() }).await.expect("writer runs");
            assert_eq!(warm_up, Ok(Vec::new()));
            writer
        }

        fn publication(&self, msg_id: &str, topic_id: i64, chosen: bool) -> GdPublication {
            GdPublication {
                message: testing::stored_message(msg_id, topic_id, 5, signalbox_schema::now_micros()),
                dedup_window: 120_000_000,
                drop_if_no_subs: false,
                client_msg_id: chosen,
                only_sub_keys: None,
            }
        }

        fn queued(&self) -> Vec<String> {
            let rows = self.db.queue_load(&self.sub_key, 100_000, &[]).expect("queue_load");
            rows.into_iter().map(|q| q.message.pub_msg_id).collect()
        }
    }

    /// (commits, publications committed) so far, from the writer's own metrics.
    fn commits(metrics: &Metrics) -> (u64, f64) {
        (metrics.gd_batch_size.get_sample_count(), metrics.gd_batch_size.get_sample_sum())
    }

    #[actix_rt::test]
    async fn publications_sent_together_share_one_commit_and_each_request_gets_its_own_outcomes_in_order() {
        for db in TestStore::all() {
            let fx = Fixture::new(db);
            let metrics = Metrics::new();
            let writer = fx.writer(&metrics).await;
            // Earlier publications that later ones repeat: a duplicate on the same topic, a
            // conflict from another topic.
            let earlier =
                vec![fx.publication("x", fx.topic, true), fx.publication("y", fx.other_topic, true)];
            writer.send(PersistGd { publications: earlier }).await.expect("writer").expect("stored");
            let before = commits(&metrics);

            let mut expected: Vec<Vec<GdOutcome>> = Vec::new();
            let mut requests = Vec::new();
            let mut new_ids = Vec::new();
            for r in 0..20 {
                let mut publications = Vec::new();
                let mut outcomes = Vec::new();
                for p in 0..(r % 4 + 1) {
                    let (publication, outcome) = match (r + p) % 5 {
                        3 => (fx.publication("x", fx.topic, true), GdOutcome::Duplicate),
                        4 => (fx.publication("y", fx.topic, true), GdOutcome::Conflict),
                        _ => {
                            new_ids.push(format!("r{r:02}p{p}"));
                            (
                                fx.publication(&format!("r{r:02}p{p}"), fx.topic, false),
                                GdOutcome::Stored { queued: 1 },
                            )
                        }
                    };
                    publications.push(publication);
                    outcomes.push(outcome);
                }
                expected.push(outcomes);
                requests.push(writer.send(PersistGd { publications }));
            }
            let answers = futures_util::future::join_all(requests).await;
            for (r, (answer, expected)) in answers.into_iter().zip(expected).enumerate() {
                assert_eq!(answer.expect("writer"), Ok(expected), "request {r}");
            }
            let total: usize = (0..20).map(|r| r % 4 + 1).sum();
            let after = commits(&metrics);
            // The first request commits alone; the other 19 arrive while it runs and share the next.
            assert_eq!(after.0 - before.0, 2, "commits for 20 requests");
            assert_eq!(after.1 - before.1, total as f64, "publications committed");
            // Stored exactly once each, in publication order; the repeats stored nothing.
            assert_eq!(fx.queued(), [&["x".to_owned()][..], &new_ids].concat());
        }
    }

    #[actix_rt::test]
    async fn a_commit_takes_at_most_max_batch_publications_unless_one_request_is_larger() {
        for db in TestStore::all() {
            let fx = Fixture::new(db);
            let metrics = Metrics::new();
            let writer = fx.writer(&metrics).await;
            let before = commits(&metrics);
            let request = |tag: &str, n: usize| {
                let publications =
                    (0..n).map(|i| fx.publication(&format!("{tag}{i:05}"), fx.topic, false)).collect();
                writer.send(PersistGd { publications })
            };
            // [a] alone; then [b] (c would take it past MAX_BATCH); then [c, d]; [e] is larger than
            // MAX_BATCH on its own and still goes, alone.
            let sizes = [("a", 1), ("b", MAX_BATCH - 500), ("c", 600), ("d", 1), ("e", MAX_BATCH + 1)];
            let sent: Vec<_> = sizes.iter().map(|(tag, n)| request(tag, *n)).collect();
            for (answer, (tag, n)) in futures_util::future::join_all(sent).await.into_iter().zip(sizes) {
                let outcomes = answer.expect("writer").expect("stored");
                assert_eq!(outcomes.len(), n, "{tag}");
                assert!(outcomes.iter().all(|o| *o == GdOutcome::Stored { queued: 1 }), "{tag}");
            }
            let after = commits(&metrics);
            assert_eq!(after.0 - before.0, 4, "[a], [b], [c, d], [e]");
            assert_eq!(fx.queued().len(), sizes.iter().map(|(_, n)| n).sum::<usize>());
        }
    }

    #[actix_rt::test]
    async fn a_failed_commit_answers_every_request_in_it_with_the_error_and_the_writer_goes_on() {
        for db in TestStore::all() {
            let fx = Fixture::new(db);
            let metrics = Metrics::new();
            let writer = fx.writer(&metrics).await;
            let one = |id: &str| PersistGd { publications: vec![fx.publication(id, fx.topic, false)] };
            // The first commits alone; the next three share a transaction that the database refuses
            // (a server-made id twice), so none of them is stored.
            let first = writer.send(one("first"));
            let before = writer.send(one("before"));
            let bad = writer.send(PersistGd {
                publications: vec![
                    fx.publication("twice", fx.topic, false),
                    fx.publication("twice", fx.topic, false),
                ],
            });
            let after = writer.send(one("after"));
            let (first, before, bad, after) = futures_util::join!(first, before, bad, after);
            assert_eq!(first.expect("writer"), Ok(vec![GdOutcome::Stored { queued: 1 }]));
            let errors = [before.expect("writer"), bad.expect("writer"), after.expect("writer")];
            for e in &errors {
                assert!(matches!(e, Err(PubSubError::Storage(_))), "{e:?}");
            }
            assert!(errors.iter().all(|e| *e == errors[0]), "the same error for all: {errors:?}");
            assert_eq!(fx.queued(), ["first"]);
            // The writer is not stuck: the next request commits.
            let again = writer.send(one("again")).await.expect("writer");
            assert_eq!(again, Ok(vec![GdOutcome::Stored { queued: 1 }]));
            assert_eq!(fx.queued(), ["first", "again"]);
        }
    }
}
