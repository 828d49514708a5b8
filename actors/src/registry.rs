//! `Registry`: the node's name → actor maps, and nothing else.
//!
//! Read on every request (which topic actor, which delivery actor), written only by the
//! `Supervisor` when actors start and stop. It is a lock-guarded map rather than an actor so a
//! lookup never waits in a mailbox behind other work.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::Addr;
use signalbox_schema::models::{Subscription, Topic};

use crate::delivery::DeliveryActor;
use crate::stats::TopicStats;
use crate::topic::TopicActor;

#[derive(Clone)]
pub struct TopicEntry {
    pub topic: Arc<Topic>,
    pub addr: Addr<TopicActor>,
    pub stats: Arc<TopicStats>,
}

#[derive(Clone)]
pub struct SubEntry {
    pub sub: Arc<Subscription>,
    pub topic_name: String,
    pub addr: Addr<DeliveryActor>,
    /// The ownership epoch it runs under (0 on a single node).
    pub epoch: i64,
}

#[derive(Default)]
struct Maps {
    topics: HashMap<String, TopicEntry>,
    topic_names: HashMap<i64, String>,
    subs: HashMap<String, SubEntry>,
    /// (endpoint id, topic id) → sub_key of the endpoint's one non-WSX subscription.
    by_endpoint_topic: HashMap<(i64, i64), String>,
}

#[derive(Clone, Default)]
pub struct Registry {
    maps: Arc<RwLock<Maps>>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn topic(&self, name: &str) -> Option<TopicEntry> {
        self.read().topics.get(name).cloned()
    }

    pub fn topic_by_id(&self, id: i64) -> Option<TopicEntry> {
        let maps = self.read();
        maps.topic_names.get(&id).and_then(|n| maps.topics.get(n)).cloned()
    }

    pub fn topics(&self) -> Vec<TopicEntry> {
        self.read().topics.values().cloned().collect()
    }

    pub fn put_topic(&self, entry: TopicEntry) {
        let mut maps = self.write();
        if let Some(old) = maps.topic_names.insert(entry.topic.id, entry.topic.name.clone()) {
            if old != entry.topic.name {
                maps.topics.remove(&old);
            }
        }
        maps.topics.insert(entry.topic.name.clone(), entry);
    }

    pub fn remove_topic(&self, id: i64) -> Option<TopicEntry> {
        let mut maps = self.write();
        let name = maps.topic_names.remove(&id)?;
        maps.topics.remove(&name)
    }

    pub fn sub(&self, sub_key: &str) -> Option<SubEntry> {
        self.read().subs.get(sub_key).cloned()
    }

    pub fn subs(&self) -> Vec<SubEntry> {
        self.read().subs.values().cloned().collect()
    }

    pub fn subs_of_topic(&self, topic_id: i64) -> Vec<SubEntry> {
        self.read().subs.values().filter(|s| s.sub.topic_id == topic_id).cloned().collect()
    }

    /// The endpoint's non-WSX subscription to a topic.
    pub fn sub_of(&self, endpoint_id: i64, topic_id: i64) -> Option<SubEntry> {
        let maps = self.read();
        maps.by_endpoint_topic.get(&(endpoint_id, topic_id)).and_then(|k| maps.subs.get(k)).cloned()
    }

    pub fn put_sub(&self, entry: SubEntry) {
        let mut maps = self.write();
        if !entry.sub.is_wsx {
            maps.by_endpoint_topic
                .insert((entry.sub.endpoint_id, entry.sub.topic_id), entry.sub.sub_key.clone());
        }
        maps.subs.insert(entry.sub.sub_key.clone(), entry);
    }

    pub fn remove_sub(&self, sub_key: &str) -> Option<SubEntry> {
        let mut maps = self.write();
        let entry = maps.subs.remove(sub_key)?;
        let key = (entry.sub.endpoint_id, entry.sub.topic_id);
        if maps.by_endpoint_topic.get(&key).is_some_and(|k| k == sub_key) {
            maps.by_endpoint_topic.remove(&key);
        }
        Some(entry)
    }
}
