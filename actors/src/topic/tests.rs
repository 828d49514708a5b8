//! Admission of publications by the `TopicActor`, tested through the actor (the checks live in
//! its `Publish` handler): a real `GdWriter` on a fresh SQLite file ([`TestStore`]), and as
//! subscriber a delivery actor's mailbox that is never read — so every in-RAM message fanned out
//! to it stays held (and counted in the topic's in-RAM depth) until the test drops that mailbox.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use signalbox_schema::models::{Topic, TopicFields};
use signalbox_schema::testing::TestStore;
use signalbox_schema::Page;

use super::*;
use crate::delivery::DeliveryActor;

struct Fixture {
    db: TestStore,
    metrics: Metrics,
    writer: Addr<GdWriter>,
}

/// One topic actor under test, with what the test reads back.
struct Running {
    addr: Addr<TopicActor>,
    stats: Arc<TopicStats>,
    topic: Topic,
}

impl Fixture {
    fn new() -> Fixture {
        let db = TestStore::sqlite();
        let metrics = Metrics::new();
        let writer = GdWriter::new(db.store.clone(), metrics.clone()).start();
        Fixture { db, metrics, writer }
    }

    /// A topic with generous limits except where `fields` says otherwise, and its actor,
    /// started and ready (its mailbox at full size).
    async fn topic(&self, name: &str, fields: TopicFields) -> Running {
        let defaults = TopicFields {
            has_gd: Some(false),
            max_depth_gd: Some(1_000),
            limit_message_expiry: Some(3_600),
            ..signalbox_schema::testing::topic(name)
        };
        let topic = self.db.topic_create(merge(defaults, fields)).expect("topic");
        let stats = Arc::new(TopicStats::default());
        let addr = TopicActor::new(
            Arc::new(topic.clone()),
            stats.clone(),
            self.writer.clone(),
            OverflowLog::new(self.db.dir()),
            self.metrics.clone(),
            None,
        )
        .start();
        addr.send(CountSubscribers).await.expect("topic actor runs");
        Running { addr, stats, topic }
    }

    fn retained(&self, topic: &Topic) -> Vec<signalbox_schema::models::StoredMessage> {
        self.db.retained(topic.id, Page::default()).expect("retained")
    }

    fn gd_depth(&self, topic: &Topic) -> i64 {
        self.db.gd_depth(topic.id).expect("gd_depth")
    }

    fn rejected(&self, reason: &str) -> u64 {
        self.metrics.publications_rejected.with_label_values(&[reason]).get()
    }
}

/// `fields` over `defaults`, field by field.
fn merge(defaults: TopicFields, fields: TopicFields) -> TopicFields {
    TopicFields {
        name: fields.name.or(defaults.name),
        is_active: fields.is_active.or(defaults.is_active),
        has_gd: fields.has_gd.or(defaults.has_gd),
        is_api_sub_allowed: fields.is_api_sub_allowed.or(defaults.is_api_sub_allowed),
        max_depth_gd: fields.max_depth_gd.or(defaults.max_depth_gd),
        max_depth_non_gd: fields.max_depth_non_gd.or(defaults.max_depth_non_gd),
        on_overflow_non_gd: fields.on_overflow_non_gd.or(defaults.on_overflow_non_gd),
        limit_message_expiry: fields.limit_message_expiry.or(defaults.limit_message_expiry),
        limit_sub_inactivity: fields.limit_sub_inactivity.or(defaults.limit_sub_inactivity),
        on_no_subs_pub: fields.on_no_subs_pub.or(defaults.on_no_subs_pub),
        dedup_window: fields.dedup_window.or(defaults.dedup_window),
        created_at: fields.created_at.or(defaults.created_at),
    }
}

impl Running {
    /// Attaches a subscriber that never reads its mailbox; dropping it lets go of what it held.
    async fn attach_idle_subscriber(&self, sub_key: &str) -> Context<DeliveryActor> {
        let mut mailbox: Context<DeliveryActor> = Context::new();
        mailbox.set_mailbox_capacity(10_000);
        self.addr
            .send(Attach { sub_key: sub_key.into(), addr: Some(mailbox.address()) })
            .await
            .expect("topic");
        mailbox
    }

    async fn publish(&self, messages: Vec<NewMessage>) -> Result<Vec<Published>, PubSubError> {
        self.addr.send(publication(messages)).await.expect("topic actor runs")
    }

    fn ram_depth(&self) -> i64 {
        self.stats.ram.load(Ordering::Relaxed)
    }

    fn gd_depth(&self) -> i64 {
        self.stats.gd.load(Ordering::Relaxed)
    }
}

fn publication(messages: Vec<NewMessage>) -> Publish {
    Publish {
        endpoint_id: None,
        endpoint_name: "publisher".into(),
        pattern: "pub=/**".into(),
        cid: "cid".into(),
        messages,
    }
}

fn message(has_gd: Option<bool>) -> NewMessage {
    NewMessage {
        data: "1".into(),
        size: 1,
        priority: 5,
        has_gd,
        mime_type: "application/json".into(),
        ..Default::default()
    }
}

fn gd() -> NewMessage {
    message(Some(true))
}

fn ram() -> NewMessage {
    message(Some(false))
}

fn chosen(msg: NewMessage, msg_id: &str) -> NewMessage {
    NewMessage { msg_id: Some(msg_id.into()), ..msg }
}

fn ids(published: &[Published]) -> Vec<&str> {
    published.iter().map(|p| p.msg_id.as_str()).collect()
}

fn limits(max_depth_gd: i64, max_depth_non_gd: i64, on_overflow_non_gd: OverflowPolicy) -> TopicFields {
    TopicFields {
        max_depth_gd: Some(max_depth_gd),
        max_depth_non_gd: Some(max_depth_non_gd),
        on_overflow_non_gd: Some(on_overflow_non_gd),
        ..Default::default()
    }
}

/// What the actor must answer to `sizes` publications of that many messages each, handled in
/// turn against `limit` with `depth` already used: all of one publication or none of it.
fn greedy(sizes: &[usize], mut depth: usize, limit: usize) -> Vec<bool> {
    sizes
        .iter()
        .map(|n| {
            let fits = depth + n <= limit;
            if fits {
                depth += n;
            }
            fits
        })
        .collect()
}

// ---- refusals -------------------------------------------------------------------------------

#[actix_rt::test]
async fn a_publication_to_an_inactive_topic_is_refused_and_stores_nothing() {
    let fx = Fixture::new();
    let t = fx.topic("/inactive", TopicFields { is_active: Some(false), ..Default::default() }).await;
    let answer = t.publish(vec![gd(), ram()]).await;
    assert_eq!(answer, Err(PubSubError::TopicInactive("/inactive".into())));
    assert_eq!(fx.gd_depth(&t.topic), 0);
    assert_eq!((t.gd_depth(), t.ram_depth()), (0, 0));
    assert_eq!(fx.rejected("inactive"), 1);
}

#[actix_rt::test]
async fn a_gd_publication_past_max_depth_gd_is_refused_whole() {
    let fx = Fixture::new();
    let t = fx.topic("/gd", limits(3, 1_000, OverflowPolicy::Reject)).await;
    assert_eq!(t.publish(vec![gd(), gd()]).await.map(|p| p.len()), Ok(2));
    let refused = Err(PubSubError::GdDepthExceeded { topic: "/gd".into(), limit: 3 });
    // Two more would make 4: neither is stored, though one would have fitted.
    assert_eq!(t.publish(vec![gd(), gd()]).await, refused);
    assert_eq!((fx.gd_depth(&t.topic), t.gd_depth()), (2, 2));
    assert_eq!(t.publish(vec![gd()]).await.map(|p| p.len()), Ok(1), "exactly at the limit");
    assert_eq!(t.publish(vec![gd()]).await, refused);
    assert_eq!((fx.gd_depth(&t.topic), t.gd_depth()), (3, 3));
    assert_eq!(fx.rejected("gd_depth"), 2);
}

#[actix_rt::test]
async fn concurrent_gd_publications_never_pass_max_depth_gd() {
    let fx = Fixture::new();
    let t = fx.topic("/gd-burst", limits(5, 1_000, OverflowPolicy::Reject)).await;
    // All forty reach the actor before the first commit answers: the check must count what
    // is admitted and still committing, not only what has committed.
    let sizes: Vec<usize> = (0..40).map(|i| i % 3 + 1).collect();
    let sent: Vec<_> = sizes.iter().map(|n| t.addr.send(publication(vec![gd(); *n]))).collect();
    let answers = futures_util::future::join_all(sent).await;
    let expected = greedy(&sizes, 0, 5);
    for (i, (answer, fits)) in answers.into_iter().zip(&expected).enumerate() {
        match answer.expect("topic actor runs") {
            Ok(published) => assert!(*fits && published.len() == sizes[i], "publication {i} accepted"),
            Err(e) => {
                assert!(!fits, "publication {i} refused: {e}");
                assert_eq!(e, PubSubError::GdDepthExceeded { topic: "/gd-burst".into(), limit: 5 });
            }
        }
    }
    assert_eq!(fx.gd_depth(&t.topic), 5, "stored");
    assert_eq!(t.gd_depth(), 5, "counted");
}

#[actix_rt::test]
async fn concurrent_in_ram_publications_never_pass_max_depth_non_gd_and_the_depth_frees_as_queues_let_go() {
    let fx = Fixture::new();
    let t = fx.topic("/ram-burst", limits(1_000, 5, OverflowPolicy::Reject)).await;
    let subscriber = t.attach_idle_subscriber("zpsk.idle").await;
    let sizes: Vec<usize> = (0..40).map(|i| i % 3 + 1).collect();
    let sent: Vec<_> = sizes.iter().map(|n| t.addr.send(publication(vec![ram(); *n]))).collect();
    let answers = futures_util::future::join_all(sent).await;
    for (i, (answer, fits)) in answers.into_iter().zip(greedy(&sizes, 0, 5)).enumerate() {
        match answer.expect("topic actor runs") {
            Ok(published) => {
                assert!(fits, "publication {i} accepted");
                assert!(published.iter().all(|p| !p.overflow), "publication {i}: queued, not overflowed");
            }
            Err(e) => {
                assert!(!fits, "publication {i} refused: {e}");
                assert_eq!(e, PubSubError::RamDepthExceeded { topic: "/ram-burst".into(), limit: 5 });
            }
        }
    }
    assert_eq!(t.ram_depth(), 5);
    assert_eq!(fx.gd_depth(&t.topic), 0, "in-RAM messages never reach SQL");
    // The subscriber's queue goes away: the depth it held goes with it, and publishing works again.
    drop(subscriber);
    assert_eq!(t.ram_depth(), 0);
    assert_eq!(t.publish(vec![ram(); 5]).await.map(|p| p.len()), Ok(5));
}

#[actix_rt::test]
async fn past_max_depth_non_gd_an_in_ram_publication_goes_whole_to_the_overflow_log_when_the_topic_says_log()
{
    let fx = Fixture::new();
    let t = fx.topic("/spill", limits(1_000, 2, OverflowPolicy::Log)).await;
    let _subscriber = t.attach_idle_subscriber("zpsk.idle").await;
    let queued = t.publish(vec![ram()]).await.expect("queued");
    assert!(!queued[0].overflow);
    // One would still fit, but the publication goes as one: both to the log.
    let spilled = t.publish(vec![ram(), ram()]).await.expect("answered");
    assert!(spilled.iter().all(|p| p.overflow), "{spilled:?}");
    assert_eq!(t.ram_depth(), 1, "overflowed messages are not queued");
    let log = std::fs::read_to_string(fx.db.dir().join("pubsub-overflow.log")).expect("overflow log");
    let logged: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["msg"]["msg_id"].to_string()
        })
        .collect();
    let expected: Vec<String> = spilled.iter().map(|p| format!("{:?}", p.msg_id)).collect();
    assert_eq!(logged, expected);
    assert_eq!(fx.metrics.overflow_messages.get(), 2);
}

#[actix_rt::test]
async fn a_mixed_publication_refused_for_its_in_ram_part_stores_nothing_of_its_gd_part() {
    let fx = Fixture::new();
    let t = fx.topic("/mixed", limits(1_000, 1, OverflowPolicy::Reject)).await;
    let _subscriber = t.attach_idle_subscriber("zpsk.idle").await;
    let answer = t.publish(vec![gd(), ram(), ram()]).await;
    assert_eq!(answer, Err(PubSubError::RamDepthExceeded { topic: "/mixed".into(), limit: 1 }));
    assert_eq!((fx.gd_depth(&t.topic), t.gd_depth(), t.ram_depth()), (0, 0, 0));
}

// ---- no subscribers -------------------------------------------------------------------------

#[actix_rt::test]
async fn a_topic_without_subscribers_keeps_every_message_as_gd_for_the_first_one() {
    let fx = Fixture::new();
    let t = fx.topic("/keep", TopicFields::default()).await;
    let published = t.publish(vec![ram(), gd()]).await.expect("accepted");
    let retained: Vec<String> = fx.retained(&t.topic).into_iter().map(|m| m.pub_msg_id).collect();
    assert_eq!(retained, ids(&published), "in-RAM ones too, in order");
    assert_eq!((t.gd_depth(), t.ram_depth()), (2, 0));
    // Kept as GD, they count against the GD limit.
    let small = fx.topic("/keep-small", limits(1, 1_000, OverflowPolicy::Reject)).await;
    assert_eq!(
        small.publish(vec![ram(), ram()]).await,
        Err(PubSubError::GdDepthExceeded { topic: "/keep-small".into(), limit: 1 })
    );
}

#[actix_rt::test]
async fn a_topic_without_subscribers_that_drops_answers_but_stores_nothing() {
    let fx = Fixture::new();
    let fields = TopicFields { on_no_subs_pub: Some(NoSubsPolicy::Drop), ..Default::default() };
    let t = fx.topic("/drop", fields).await;
    let published = t.publish(vec![ram(), gd()]).await.expect("answered");
    assert_eq!(published.len(), 2);
    assert!(fx.retained(&t.topic).is_empty());
    assert_eq!((fx.gd_depth(&t.topic), t.gd_depth(), t.ram_depth()), (0, 0, 0));
}

// ---- dedup ----------------------------------------------------------------------------------

#[actix_rt::test]
async fn an_in_ram_repeat_within_the_dedup_window_is_answered_with_the_first_id_and_queued_once() {
    let fx = Fixture::new();
    let t = fx.topic("/dedup", TopicFields::default()).await;
    let _subscriber = t.attach_idle_subscriber("zpsk.idle").await;
    let first = t.publish(vec![chosen(ram(), "mine")]).await.expect("queued");
    let again = t.publish(vec![chosen(ram(), "mine"), ram()]).await.expect("answered");
    assert_eq!(ids(&first), ["mine"]);
    assert_eq!(ids(&again)[0], "mine");
    assert_eq!(t.ram_depth(), 2, "the repeat queued nothing; the other message was queued");
    // With no window, a repeat is a new message.
    let no_window = Topic { dedup_window: 0, ..t.topic.clone() };
    t.addr.send(UpdateTopic(Arc::new(no_window))).await.expect("topic");
    t.publish(vec![chosen(ram(), "mine")]).await.expect("queued");
    assert_eq!(t.ram_depth(), 3);
}

#[actix_rt::test]
async fn a_gd_repeat_within_the_dedup_window_is_answered_with_the_first_id_and_stored_once() {
    let fx = Fixture::new();
    let t = fx.topic("/dedup-gd", TopicFields::default()).await;
    let other = fx.topic("/dedup-other", TopicFields::default()).await;
    assert_eq!(ids(&t.publish(vec![chosen(gd(), "g1")]).await.expect("stored")), ["g1"]);
    assert_eq!(ids(&t.publish(vec![chosen(gd(), "g1")]).await.expect("answered")), ["g1"]);
    assert_eq!((fx.gd_depth(&t.topic), t.gd_depth()), (1, 1));
    assert_eq!(other.publish(vec![chosen(gd(), "g1")]).await, Err(PubSubError::MsgIdConflict("g1".into())));
    assert_eq!(fx.gd_depth(&other.topic), 0);
}

#[actix_rt::test]
async fn a_gd_msg_id_repeated_within_one_publication_is_stored_once() {
    let fx = Fixture::new();
    let t = fx.topic("/dedup-list-gd", TopicFields::default()).await;
    let _subscriber = t.attach_idle_subscriber("zpsk.idle").await;
    let answer = t.publish(vec![chosen(gd(), "g2"), chosen(gd(), "g2")]).await.expect("answered");
    assert_eq!(ids(&answer), ["g2", "g2"]);
    assert_eq!((fx.gd_depth(&t.topic), t.gd_depth()), (1, 1));
}

/// An in-RAM id is checked against the earlier publications' ids and against the ones before it
/// in the same publication: a repeat within one `data_list` is answered with the id, and queued
/// once.
#[actix_rt::test]
async fn an_in_ram_msg_id_repeated_within_one_publication_is_queued_once() {
    let fx = Fixture::new();
    let t = fx.topic("/dedup-list-ram", TopicFields::default()).await;
    let _subscriber = t.attach_idle_subscriber("zpsk.idle").await;
    let answer = t.publish(vec![chosen(ram(), "r2"), chosen(ram(), "r2")]).await.expect("answered");
    assert_eq!(ids(&answer), ["r2", "r2"]);
    assert_eq!(t.ram_depth(), 1, "a repeat within one data_list is queued once");
}

// ---- what is stored -------------------------------------------------------------------------

#[actix_rt::test]
async fn expiration_defaults_to_and_is_capped_by_the_topic_limit() {
    let fx = Fixture::new();
    let t =
        fx.topic("/expiry", TopicFields { limit_message_expiry: Some(3_600), ..Default::default() }).await;
    let asked = [None, Some(0), Some(10), Some(3_600), Some(3_601), Some(i64::MAX / 1_000)];
    let messages = asked.iter().map(|e| NewMessage { expiration: *e, ..gd() }).collect();
    let published = t.publish(messages).await.expect("stored");
    let stored: Vec<(i64, i64)> = published
        .iter()
        .map(|p| {
            let m = fx.db.message(&p.msg_id).expect("stored");
            (m.expiration, m.expiration_time - m.pub_time)
        })
        .collect();
    let secs = [3_600, 3_600, 10, 3_600, 3_600, 3_600];
    let expected: Vec<(i64, i64)> = secs.iter().map(|s| (*s, s * 1_000_000)).collect();
    assert_eq!(stored, expected);
}
