//! RabbitMQ over AMQP 0.9.1 (lapin): a fanout exchange per run with one queue per subscriber, so
//! 1→1, fan-out and many publishers share one shape. Transient: non-durable auto-delete queues,
//! delivery mode 1, no confirms, auto-ack consumers. Persistent: durable queues, delivery mode 2,
//! publisher confirms, manual acks (one `multiple` ack per [`ACK_EVERY`] messages, prefetch
//! [`PREFETCH`]).

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::{confirmed, Cleanup as AnyCleanup, Confirm, Prepared, Publisher, Scenario, SubscriberContext};

const PREFETCH: u16 = 1000;
const ACK_EVERY: u64 = 100;

pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

async fn channel(url: &str) -> Result<(Connection, Channel)> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .with_context(|| "connect to RabbitMQ (is it running on 127.0.0.1:5672?)")?;
    let ch = conn.create_channel().await?;
    Ok((conn, ch))
}

/// Queues and exchange to delete after a run.
pub struct Cleanup {
    url: String,
    exchange: String,
    queues: Vec<String>,
}

impl Cleanup {
    pub async fn run(self) -> Result<()> {
        let (conn, ch) = channel(&self.url).await?;
        for q in &self.queues {
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await?;
        }
        ch.exchange_delete(self.exchange.as_str().into(), ExchangeDeleteOptions::default()).await?;
        conn.close(200, "bye".into()).await?;
        Ok(())
    }
}

pub async fn prepare(
    url: &str,
    persistent: bool,
    run: &str,
    scenario: &Scenario,
    cx: SubscriberContext,
) -> Result<Prepared> {
    let exchange = format!("bench-{run}");
    let (setup_conn, setup) = channel(url).await?;
    setup
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions { durable: persistent, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    let mut queues = Vec::new();
    let mut subscribers = Vec::new();
    for n in 0..scenario.subscribers {
        let queue = format!("bench-{run}-{n}");
        setup
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions { durable: persistent, auto_delete: !persistent, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        setup
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let (conn, ch) = channel(url).await?;
        if persistent {
            ch.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
        }
        let consumer = ch
            .basic_consume(
                queue.as_str().into(),
                format!("bench-{n}").as_str().into(),
                BasicConsumeOptions { no_ack: !persistent, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        let mut cx = cx.clone();
        subscribers.push(tokio::spawn(async move {
            let mut tracker = cx.tracker();
            let mut consumer = consumer;
            let mut unacked = 0;
            loop {
                let delivery = tokio::select! {
                    d = consumer.next() => d,
                    _ = cx.stop.changed() => break,
                };
                let Some(delivery) = delivery else { bail!("RabbitMQ consumer ended") };
                let delivery = delivery?;
                tracker.record(&delivery.data);
                if persistent {
                    unacked += 1;
                    if unacked >= ACK_EVERY {
                        delivery.ack(BasicAckOptions { multiple: true }).await?;
                        unacked = 0;
                    }
                }
            }
            let _ = conn.close(200, "bye".into()).await;
            Ok(tracker)
        }));
        queues.push(queue);
    }
    let _ = setup_conn.close(200, "bye".into()).await;
    let mut publishers = Vec::new();
    for _ in 0..scenario.publishers {
        let (conn, ch) = channel(url).await?;
        if persistent {
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
        }
        publishers.push(Publisher::Amqp(AmqpPublisher {
            _conn: conn,
            ch,
            exchange: exchange.clone(),
            persistent,
        }));
    }
    Ok(Prepared {
        publishers,
        subscribers,
        cleanup: AnyCleanup::Amqp(Cleanup { url: url.to_owned(), exchange, queues }),
    })
}

pub struct AmqpPublisher {
    _conn: Connection,
    ch: Channel,
    exchange: String,
    persistent: bool,
}

impl AmqpPublisher {
    pub async fn send(&mut self, payload: String) -> Result<Confirm> {
        let props = BasicProperties::default().with_delivery_mode(if self.persistent { 2 } else { 1 });
        let confirm = self
            .ch
            .basic_publish(
                self.exchange.as_str().into(),
                "".into(),
                BasicPublishOptions::default(),
                payload.as_bytes(),
                props,
            )
            .await?;
        if !self.persistent {
            return Ok(confirmed());
        }
        Ok(Box::pin(async move {
            let c = confirm.await?;
            if !c.is_ack() {
                bail!("RabbitMQ nacked a message");
            }
            Ok(())
        }))
    }
}
