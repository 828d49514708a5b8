//! NATS (async-nats). Core: a subject per run, one connection per client, at most once — a
//! subscriber that falls behind loses messages (slow consumer), which the bench reports as loss.
//! JetStream: a file-storage stream per run, publish acks awaited as confirmations, one durable
//! pull consumer per subscriber with explicit per-message acks.

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

use super::{confirmed, Cleanup as AnyCleanup, Confirm, Prepared, Publisher, Scenario, SubscriberContext};

/// Core publishes between flushes.
const FLUSH_EVERY: u64 = 64;

pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

async fn connect(url: &str) -> Result<async_nats::Client> {
    async_nats::connect(url).await.with_context(|| format!("connect to NATS at {url}"))
}

/// The stream to delete after a JetStream run.
pub struct Cleanup {
    url: String,
    stream: String,
}

impl Cleanup {
    pub async fn run(self) -> Result<()> {
        let js = jetstream::new(connect(&self.url).await?);
        js.delete_stream(&self.stream).await?;
        Ok(())
    }
}

pub async fn prepare(
    url: &str,
    jetstream: bool,
    run: &str,
    scenario: &Scenario,
    cx: SubscriberContext,
) -> Result<Prepared> {
    let subject = format!("bench.{run}");
    let name = format!("bench-{run}");
    let mut subscribers = Vec::new();
    let mut cleanup = AnyCleanup::None;
    let stream = if jetstream {
        let js = jetstream::new(connect(url).await?);
        let s = js
            .create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context("create a JetStream stream (is nats-server running with -js?)")?;
        cleanup = AnyCleanup::JetStream(Cleanup { url: url.to_owned(), stream: name.clone() });
        Some(s)
    } else {
        None
    };
    for n in 0..scenario.subscribers {
        let mut cx = cx.clone();
        let client = connect(url).await?;
        if stream.is_some() {
            // Consumers are made on the subscriber's own connection, so deliveries arrive there.
            let stream = jetstream::new(client).get_stream(&name).await?;
            let consumer: consumer::PullConsumer = stream
                .create_consumer(consumer::pull::Config {
                    durable_name: Some(format!("bench-{n}")),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ..Default::default()
                })
                .await?;
            let mut messages = consumer.messages().await?;
            subscribers.push(tokio::spawn(async move {
                let mut tracker = cx.tracker();
                loop {
                    let message = tokio::select! {
                        m = messages.next() => m,
                        _ = cx.stop.changed() => break,
                    };
                    let Some(message) = message else { bail!("JetStream consumer ended") };
                    let message = message.map_err(|e| anyhow::anyhow!("JetStream: {e}"))?;
                    tracker.record(&message.payload);
                    message.ack().await.map_err(|e| anyhow::anyhow!("JetStream ack: {e}"))?;
                }
                Ok(tracker)
            }));
        } else {
            let mut sub = client.subscribe(subject.clone()).await?;
            client.flush().await?;
            subscribers.push(tokio::spawn(async move {
                let mut tracker = cx.tracker();
                loop {
                    let message = tokio::select! {
                        m = sub.next() => m,
                        _ = cx.stop.changed() => break,
                    };
                    let Some(message) = message else { bail!("NATS subscription ended") };
                    tracker.record(&message.payload);
                }
                drop(client);
                Ok(tracker)
            }));
        }
    }
    let mut publishers = Vec::new();
    for _ in 0..scenario.publishers {
        let client = connect(url).await?;
        let js = stream.as_ref().map(|_| jetstream::new(client.clone()));
        publishers.push(Publisher::Nats(NatsPublisher { client, js, subject: subject.clone(), sent: 0 }));
    }
    Ok(Prepared { publishers, subscribers, cleanup })
}

pub struct NatsPublisher {
    client: async_nats::Client,
    js: Option<jetstream::Context>,
    subject: String,
    sent: u64,
}

impl NatsPublisher {
    pub async fn send(&mut self, payload: String) -> Result<Confirm> {
        match &self.js {
            Some(js) => {
                let ack = js.publish(self.subject.clone(), payload.into()).await?;
                Ok(Box::pin(async move {
                    ack.await.map_err(|e| anyhow::anyhow!("JetStream publish ack: {e}"))?;
                    Ok(())
                }))
            }
            None => {
                self.client.publish(self.subject.clone(), payload.into()).await?;
                self.sent += 1;
                if !self.sent.is_multiple_of(FLUSH_EVERY) {
                    return Ok(confirmed());
                }
                // Core NATS confirms nothing; a flush (PING/PONG) every so often is its
                // closest bound on what is in flight.
                let client = self.client.clone();
                Ok(Box::pin(async move { Ok(client.flush().await?) }))
            }
        }
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.client.flush().await?;
        Ok(())
    }
}
