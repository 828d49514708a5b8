//! What the actors need to know of the cluster: which node runs each subscription that is not
//! delivered here, where to send in-RAM messages and GD wake-ups for them, and whether this
//! node may push at all right now (its [`MembershipLease`]). The broker's cluster member fills
//! this in; on a single node it is absent and every subscription is local.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::message::Message;

/// A subscription delivered by another node (or by none right now).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSub {
    pub sub_key: String,
    pub topic_id: i64,
    pub endpoint_id: i64,
    pub is_wsx: bool,
    /// None while nobody owns it or it is being handed over: publications for it are stored as GD.
    pub node: Option<String>,
}

/// In-RAM messages for subscriptions that `node` delivers. Answers the sub_keys the node did
/// not take (it no longer owns them); an error means it could not be reached. Either way the
/// sender stores those messages as GD for them.
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, String>")]
pub struct ForwardRam {
    pub node: String,
    pub sub_keys: Vec<String>,
    pub messages: Vec<Arc<Message>>,
}

/// GD messages for `topic_id` were committed here: wake the delivery actors of its
/// subscriptions on `nodes` (they read them from SQL; they also poll, so this only saves time).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct WakeTopic {
    pub topic_id: i64,
    pub nodes: Vec<String>,
}

/// This node's right to push, renewed by each heartbeat that succeeds (DESIGN §6).
///
/// The leader declares a node dead once its last heartbeat is `heartbeat_timeout` old, and only
/// then gives its subscriptions to others. The lease runs for less than that from the start of
/// the last heartbeat that succeeded, so a node that stops renewing (frozen by SIGSTOP or a
/// long pause, cut off from the database, leaving) stops starting pushes before anyone else
/// may start them. A renewal counts only once the node has read the ownership table and stopped
/// what is no longer its own, so after a pause of any length nothing is pushed from a stale
/// picture. Times are [`Instant`]s (CLOCK_MONOTONIC), which keep counting while the process is
/// stopped. Clones share one lease.
#[derive(Clone, Debug)]
pub struct MembershipLease {
    inner: Arc<LeaseClock>,
}

#[derive(Debug)]
struct LeaseClock {
    /// Every time below is counted from here.
    base: Instant,
    length: Duration,
    /// Microseconds after `base` until which the node may start pushes; 0 before the first renewal.
    until: AtomicU64,
}

impl MembershipLease {
    /// A lease of `length`, not valid until its first [`renew`](Self::renew).
    pub fn new(length: Duration) -> MembershipLease {
        let clock = LeaseClock { base: Instant::now(), length, until: AtomicU64::new(0) };
        MembershipLease { inner: Arc::new(clock) }
    }

    pub fn length(&self) -> Duration {
        self.inner.length
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.inner.base).as_micros() as u64
    }

    /// Valid until `length` after `started`, the moment the heartbeat that succeeded began
    /// (before its write, so before the time the leader will count from). Never shortens it.
    /// Answers for how long it had been expired (None: it was still valid).
    pub fn renew(&self, started: Instant) -> Option<Duration> {
        let until = self.micros(started + self.inner.length);
        let before = self.inner.until.fetch_max(until, Ordering::AcqRel);
        let now = self.micros(Instant::now());
        (before != 0 && before <= now).then(|| Duration::from_micros(now - before))
    }

    /// Whether this node may start a push now.
    pub fn is_valid(&self) -> bool {
        self.micros(Instant::now()) < self.inner.until.load(Ordering::Acquire)
    }
}

/// The cluster as the topic and delivery actors see it.
#[derive(Clone)]
pub struct ClusterRoute {
    pub node: String,
    remote: Arc<RwLock<Remote>>,
    pub forward: Recipient<ForwardRam>,
    pub wake: Recipient<WakeTopic>,
    /// Renewed by the cluster member; every delivery actor of this node checks it before a push.
    pub lease: MembershipLease,
}

#[derive(Default)]
struct Remote {
    by_key: HashMap<String, RemoteSub>,
    by_topic: HashMap<i64, Vec<RemoteSub>>,
}

impl ClusterRoute {
    pub fn new(
        node: String,
        forward: Recipient<ForwardRam>,
        wake: Recipient<WakeTopic>,
        lease: MembershipLease,
    ) -> ClusterRoute {
        ClusterRoute { node, remote: Default::default(), forward, wake, lease }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Remote> {
        self.remote.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the whole picture (from the ownership table, minus what runs here).
    pub fn set_remote(&self, subs: Vec<RemoteSub>) {
        let mut by_topic: HashMap<i64, Vec<RemoteSub>> = HashMap::new();
        for sub in &subs {
            by_topic.entry(sub.topic_id).or_default().push(sub.clone());
        }
        let by_key = subs.into_iter().map(|s| (s.sub_key.clone(), s)).collect();
        *self.remote.write().unwrap_or_else(|p| p.into_inner()) = Remote { by_key, by_topic };
    }

    /// One subscription changed hands: `node` delivers it now (None: nobody, store as GD).
    pub fn set_one(&self, sub: RemoteSub) {
        let mut remote = self.remote.write().unwrap_or_else(|p| p.into_inner());
        let list = remote.by_topic.entry(sub.topic_id).or_default();
        list.retain(|s| s.sub_key != sub.sub_key);
        list.push(sub.clone());
        remote.by_key.insert(sub.sub_key.clone(), sub);
    }

    pub fn forget(&self, sub_key: &str) {
        let mut remote = self.remote.write().unwrap_or_else(|p| p.into_inner());
        if let Some(sub) = remote.by_key.remove(sub_key) {
            if let Some(list) = remote.by_topic.get_mut(&sub.topic_id) {
                list.retain(|s| s.sub_key != sub_key);
            }
        }
    }

    pub fn of_topic(&self, topic_id: i64) -> Vec<RemoteSub> {
        self.read().by_topic.get(&topic_id).cloned().unwrap_or_default()
    }

    pub fn get(&self, sub_key: &str) -> Option<RemoteSub> {
        self.read().by_key.get(sub_key).cloned()
    }

    /// The endpoint's non-WSX subscription to a topic, delivered elsewhere.
    pub fn sub_of(&self, endpoint_id: i64, topic_id: i64) -> Option<RemoteSub> {
        self.read()
            .by_topic
            .get(&topic_id)
            .and_then(|subs| subs.iter().find(|s| s.endpoint_id == endpoint_id && !s.is_wsx).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENGTH: Duration = Duration::from_millis(200);

    #[test]
    fn a_lease_is_valid_only_for_its_length_after_the_heartbeat_that_renewed_it_began() {
        let lease = MembershipLease::new(LENGTH);
        assert!(!lease.is_valid(), "valid before the first heartbeat");
        assert_eq!(lease.renew(Instant::now()), None, "the first renewal is not a return from expiry");
        assert!(lease.is_valid());
        std::thread::sleep(LENGTH + Duration::from_millis(20));
        assert!(!lease.is_valid(), "still valid after its length without a renewal");
        let expired_for = lease.renew(Instant::now()).expect("renewed after it had expired");
        assert!(expired_for >= Duration::from_millis(20), "{expired_for:?}");
        assert!(lease.is_valid());
    }

    #[test]
    fn a_heartbeat_that_began_longer_ago_than_the_lease_renews_nothing() {
        let lease = MembershipLease::new(LENGTH);
        let began = Instant::now();
        std::thread::sleep(LENGTH + Duration::from_millis(20));
        lease.renew(began);
        assert!(!lease.is_valid(), "a stale heartbeat made the lease valid");
    }

    #[test]
    fn an_older_heartbeat_finishing_last_does_not_shorten_the_lease() {
        // A second's lease; the older heartbeat began half of it before the newer one. Looked at
        // three quarters in, the lease is valid by the newer renewal only, a quarter of a second
        // from either end: no margin a busy machine eats.
        let length = Duration::from_secs(1);
        let lease = MembershipLease::new(length);
        let newer = Instant::now();
        let older = newer - length / 2;
        lease.renew(newer);
        lease.renew(older);
        std::thread::sleep((length * 3 / 4).saturating_sub(newer.elapsed()));
        assert!(newer.elapsed() < length, "looked too late to tell: {:?}", newer.elapsed());
        assert!(lease.is_valid(), "the older heartbeat took back the newer one's renewal");
    }
}
