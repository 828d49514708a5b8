//! The systems under test, each driven the same way: publishers whose `send` hands one payload to
//! the broker in order and answers a confirmation to await (the broker's acceptance: a reply, a
//! publisher confirm, a JetStream ack — or nothing, where the protocol has none), and subscriber
//! tasks that feed every delivered payload to their [`Tracker`] until told to stop.

pub mod nats;
pub mod rabbitmq;
pub mod signalbox;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::check::Tracker;

/// The broker's acceptance of one message.
pub type Confirm = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

pub fn confirmed() -> Confirm {
    Box::pin(async { Ok(()) })
}

/// Which broker, over which protocol, with which guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// Signalbox over WSX (one WebSocket per client; the server pushes), in-RAM topic.
    SignalboxWsxRam,
    /// Signalbox over WSX, GD topic (fsync'd before the publisher is answered).
    SignalboxWsxGd,
    /// Signalbox over REST (keep-alive; publish, pull), in-RAM topic, auto ack.
    SignalboxRestRam,
    /// Signalbox over REST, GD topic, pull + explicit ack.
    SignalboxRestGd,
    /// RabbitMQ, transient messages on non-durable queues, no confirms, auto ack.
    RabbitmqTransient,
    /// RabbitMQ, persistent messages on durable queues, publisher confirms, manual acks.
    RabbitmqPersistent,
    /// NATS core pub/sub (at most once).
    NatsCore,
    /// NATS JetStream, file storage, publish acks, explicit consumer acks.
    NatsJetstream,
}

impl System {
    pub const ALL: [System; 8] = [
        System::SignalboxWsxRam,
        System::SignalboxWsxGd,
        System::SignalboxRestRam,
        System::SignalboxRestGd,
        System::RabbitmqTransient,
        System::RabbitmqPersistent,
        System::NatsCore,
        System::NatsJetstream,
    ];

    pub fn name(self) -> &'static str {
        match self {
            System::SignalboxWsxRam => "signalbox-wsx-ram",
            System::SignalboxWsxGd => "signalbox-wsx-gd",
            System::SignalboxRestRam => "signalbox-rest-ram",
            System::SignalboxRestGd => "signalbox-rest-gd",
            System::RabbitmqTransient => "rabbitmq-transient",
            System::RabbitmqPersistent => "rabbitmq-persistent",
            System::NatsCore => "nats-core",
            System::NatsJetstream => "nats-jetstream",
        }
    }

    pub fn parse(name: &str) -> Option<System> {
        System::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Messages survive a broker crash once confirmed, and subscribers acknowledge them.
    pub fn durable(self) -> bool {
        matches!(
            self,
            System::SignalboxWsxGd
                | System::SignalboxRestGd
                | System::RabbitmqPersistent
                | System::NatsJetstream
        )
    }

    pub fn is_signalbox(self) -> bool {
        matches!(
            self,
            System::SignalboxWsxRam
                | System::SignalboxWsxGd
                | System::SignalboxRestRam
                | System::SignalboxRestGd
        )
    }
}

/// How many publishers and subscribers, and how big each payload is.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scenario {
    pub publishers: usize,
    pub subscribers: usize,
    pub size: usize,
}

impl Scenario {
    pub fn label(&self) -> String {
        format!("{}→{} {}", self.publishers, self.subscribers, size_label(self.size))
    }
}

pub fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// One publishing client of a system.
pub enum Publisher {
    Wsx(signalbox::WsxPublisher),
    Rest(signalbox::RestPublisher),
    Amqp(rabbitmq::AmqpPublisher),
    Nats(nats::NatsPublisher),
}

impl Publisher {
    /// Hands one payload to the broker (in order with the previous ones); the answer resolves
    /// once the broker has accepted it.
    pub async fn send(&mut self, payload: String) -> Result<Confirm> {
        match self {
            Publisher::Wsx(p) => p.send(payload).await,
            Publisher::Rest(p) => p.send(payload).await,
            Publisher::Amqp(p) => p.send(payload).await,
            Publisher::Nats(p) => p.send(payload).await,
        }
    }

    /// Pushes out anything buffered client-side.
    pub async fn flush(&mut self) -> Result<()> {
        match self {
            Publisher::Nats(p) => p.flush().await,
            _ => Ok(()),
        }
    }
}

/// What a subscriber task needs: how many publishers to expect, where to count progress, and
/// when to stop.
#[derive(Clone)]
pub struct SubscriberContext {
    pub publishers: usize,
    pub progress: Arc<AtomicU64>,
    pub stop: watch::Receiver<bool>,
}

impl SubscriberContext {
    pub fn tracker(&self) -> Tracker {
        Tracker::new(self.publishers, self.progress.clone())
    }
}

/// A system set up for one scenario: connected publishers, running subscribers, and what to
/// remove afterwards.
pub struct Prepared {
    pub publishers: Vec<Publisher>,
    pub subscribers: Vec<JoinHandle<Result<Tracker>>>,
    pub cleanup: Cleanup,
}

/// Per-run broker objects to delete once the subscribers are gone.
pub enum Cleanup {
    None,
    SignalboxTopic { id: i64 },
    Amqp(rabbitmq::Cleanup),
    JetStream(nats::Cleanup),
}
