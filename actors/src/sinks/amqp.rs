//! `amqp` push target: each message published as JSON to an exchange with publisher confirms
//! on; delivered once the broker confirms. The connection is opened on first use and again
//! after any failure.

use std::sync::Arc;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::Value;
use tokio::sync::Mutex;

use super::{Batch, Sink, SinkError, SinkFuture};
use crate::secrets::{MasterKey, SealedAt};

pub struct AmqpSink {
    /// Decrypted once when the sink is built; never logged.
    url: String,
    exchange: String,
    routing_key: String,
    channel: Arc<Mutex<Option<(Connection, Channel)>>>,
}

impl AmqpSink {
    /// The sink of the push target `config`, stored at `at` (its subscription's `push_config`).
    pub fn new(config: &Value, key: &MasterKey, at: &SealedAt) -> Result<AmqpSink, String> {
        let sealed = config["url_enc"].as_str().ok_or("push.url missing")?;
        Ok(AmqpSink {
            url: key.decrypt(sealed, &at.child("url_enc")).map_err(|e| e.to_string())?,
            exchange: config["exchange"].as_str().unwrap_or_default().to_owned(),
            routing_key: config["routing_key"].as_str().unwrap_or_default().to_owned(),
            channel: Arc::default(),
        })
    }
}

async fn open(url: &str) -> Result<(Connection, Channel), SinkError> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| SinkError::socket(format!("cannot connect to the AMQP broker: {e}")))?;
    let channel = conn.create_channel().await.map_err(|e| SinkError::socket(format!("AMQP channel: {e}")))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| SinkError::socket(format!("AMQP confirm mode: {e}")))?;
    Ok((conn, channel))
}

impl Sink for AmqpSink {
    fn deliver(&self, batch: Batch) -> SinkFuture {
        let (url, exchange, routing_key, slot) =
            (self.url.clone(), self.exchange.clone(), self.routing_key.clone(), self.channel.clone());
        Box::pin(async move {
            let mut guard = slot.lock().await;
            if guard.as_ref().is_none_or(|(c, _)| !c.status().connected()) {
                *guard = Some(open(&url).await?);
            }
            let (_, channel) = guard.as_ref().expect("opened above");
            let mut confirms = Vec::with_capacity(batch.messages.len());
            for msg in batch.external() {
                let payload = msg.to_string();
                let props = BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_delivery_mode(2)
                    .with_message_id(msg["msg_id"].as_str().unwrap_or_default().into());
                let published = channel
                    .basic_publish(
                        exchange.as_str().into(),
                        routing_key.as_str().into(),
                        BasicPublishOptions::default(),
                        payload.as_bytes(),
                        props,
                    )
                    .await;
                match published {
                    Ok(confirm) => confirms.push(confirm),
                    Err(e) => {
                        *guard = None;
                        return Err(SinkError::socket(format!("AMQP publish failed: {e}")));
                    }
                }
            }
            for confirm in confirms {
                match confirm.await {
                    Ok(c) if c.is_ack() => {}
                    Ok(_) => return Err(SinkError::other("the AMQP broker refused (nack) a message")),
                    Err(e) => {
                        *guard = None;
                        return Err(SinkError::socket(format!("AMQP confirm failed: {e}")));
                    }
                }
            }
            Ok(())
        })
    }
}
