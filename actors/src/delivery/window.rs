//! The part of a subscription's queue held in RAM: every in-RAM message, and the head of the
//! GD backlog (at most `gd_limit` GD messages; the rest stay in SQL).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::message::{Message, OrderKey, QueueEntry};

/// How much of the GD backlog the window holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Backlog {
    /// Not read yet (or no longer trusted): read SQL before delivering anything.
    Unknown,
    /// Every GD message of the queue is in the window.
    InWindow,
    /// SQL may hold GD messages ordered after this key that are not in the window; entries up
    /// to it are complete and may be delivered.
    Upto(OrderKey),
    /// GD messages were committed that no read has seen, ordered after this key (or anywhere
    /// after it, for commits made elsewhere): what the window holds up to it was known before
    /// and may still be delivered; nothing after it until the next read, which is due.
    Unread(OrderKey),
}

pub struct Window {
    entries: BTreeMap<OrderKey, QueueEntry>,
    gd_count: usize,
    gd_limit: usize,
    backlog: Backlog,
}

impl Window {
    pub fn new(gd_limit: usize) -> Window {
        Window { entries: BTreeMap::new(), gd_count: 0, gd_limit, backlog: Backlog::Unknown }
    }

    /// Takes every in-RAM message out (GD ones stay).
    pub fn take_ram(&mut self) -> Vec<QueueEntry> {
        let (ram, gd): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut self.entries).into_iter().partition(|(_, e)| !e.msg.has_gd);
        self.entries = gd;
        ram.into_values().collect()
    }

    pub fn backlog_unknown(&mut self) {
        self.backlog = Backlog::Unknown;
    }

    /// GD messages were committed that no read has seen: from `from` on (their first order key),
    /// or — when the keys are not known (commits made elsewhere) — after everything the window
    /// holds now. Nothing from there on may be delivered (nor come in) before the next read; what
    /// comes before it still may.
    pub fn mark_unread(&mut self, from: Option<&OrderKey>) {
        let before = match from {
            Some(key) => self.entries.range(..key).next_back(),
            None => self.entries.iter().next_back(),
        }
        .map(|(k, _)| k.clone());
        self.backlog = match (std::mem::replace(&mut self.backlog, Backlog::Unknown), before) {
            (Backlog::Unknown, _) | (_, None) => Backlog::Unknown,
            (Backlog::InWindow, Some(b)) => Backlog::Unread(b),
            (Backlog::Upto(bound) | Backlog::Unread(bound), Some(b)) => Backlog::Unread(bound.min(b)),
        };
    }

    /// True when messages were committed that no read has seen (`Backlog::Unread`): a read is
    /// due, though what the window holds may go out first.
    pub fn unread(&self) -> bool {
        matches!(self.backlog, Backlog::Unread(_))
    }

    /// Adds a message in its place. A GD message past what the window covers is left to SQL.
    pub fn insert(&mut self, key: OrderKey, entry: QueueEntry) {
        if entry.msg.has_gd {
            match &self.backlog {
                Backlog::Unknown => return,
                Backlog::Upto(bound) | Backlog::Unread(bound) if key > *bound => return,
                _ => {}
            }
        }
        let is_gd = entry.msg.has_gd;
        if self.entries.insert(key, entry).is_none() && is_gd {
            self.gd_count += 1;
            if self.gd_count > self.gd_limit {
                self.evict_last_gd();
            }
        }
    }

    /// Drops the last GD message from RAM (it stays in SQL) and narrows what may be delivered.
    fn evict_last_gd(&mut self) {
        let Some(key) = self.entries.iter().rev().find(|(_, e)| e.msg.has_gd).map(|(k, _)| k.clone()) else {
            return;
        };
        self.entries.remove(&key);
        self.gd_count -= 1;
        let before = self.entries.range(..key).next_back().map(|(k, _)| k.clone());
        self.backlog = match (std::mem::replace(&mut self.backlog, Backlog::Unknown), before) {
            (_, None) => Backlog::Unknown,
            (Backlog::Upto(bound), Some(b)) => Backlog::Upto(bound.min(b)),
            (Backlog::Unread(bound), Some(b)) => Backlog::Unread(bound.min(b)),
            (Backlog::InWindow, Some(b)) => Backlog::Upto(b),
            (Backlog::Unknown, _) => Backlog::Unknown,
        };
    }

    fn deliverable(&self, key: &OrderKey) -> bool {
        match &self.backlog {
            Backlog::Unknown => false,
            Backlog::InWindow => true,
            Backlog::Upto(bound) | Backlog::Unread(bound) => key <= bound,
        }
    }

    /// The next message in order, if the window is sure nothing in SQL comes before it.
    pub fn pop_deliverable(&mut self) -> Option<(OrderKey, QueueEntry)> {
        let key = self.entries.keys().next()?.clone();
        if !self.deliverable(&key) {
            return None;
        }
        let entry = self.entries.remove(&key)?;
        if entry.msg.has_gd {
            self.gd_count -= 1;
        }
        Some((key, entry))
    }

    /// True when SQL must be read before `want` messages can be handed over in order. With
    /// commits unread, only when nothing may be handed over: a read is due then anyway, and what
    /// is known goes out first (waiting for `want` would wait for publications).
    pub fn needs_refill(&self, want: usize) -> bool {
        match &self.backlog {
            Backlog::Unknown => true,
            Backlog::InWindow => false,
            Backlog::Upto(bound) => self.entries.range(..=bound.clone()).take(want).count() < want,
            Backlog::Unread(bound) => self.entries.range(..=bound.clone()).next().is_none(),
        }
    }

    /// Replaces the GD part with the first messages of the SQL backlog, in order. `full`: SQL
    /// had more than were read.
    pub fn replace_gd(&mut self, loaded: Vec<QueueEntry>, full: bool) {
        self.entries.retain(|_, e| !e.msg.has_gd);
        self.gd_count = 0;
        let mut last = None;
        for entry in loaded {
            let key = entry.msg.order_key();
            last = Some(key.clone());
            if self.entries.insert(key, entry).is_none() {
                self.gd_count += 1;
            }
        }
        self.backlog = match (full, last) {
            (true, Some(key)) => Backlog::Upto(key),
            _ => Backlog::InWindow,
        };
    }

    pub fn remove(&mut self, msg_id: &str) -> Option<(OrderKey, QueueEntry)> {
        let key = self.entries.iter().find(|(_, e)| e.msg.msg_id == msg_id).map(|(k, _)| k.clone())?;
        let entry = self.entries.remove(&key)?;
        if entry.msg.has_gd {
            self.gd_count -= 1;
        }
        Some((key, entry))
    }

    /// Swaps in an edited message (its place may change with its priority or expiration).
    pub fn replace(&mut self, msg: &Arc<Message>) -> bool {
        match self.remove(&msg.msg_id) {
            Some((_, mut entry)) => {
                entry.msg = msg.clone();
                let is_gd = entry.msg.has_gd;
                if self.entries.insert(msg.order_key(), entry).is_none() && is_gd {
                    self.gd_count += 1;
                }
                true
            }
            None => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OrderKey, &QueueEntry)> {
        self.entries.iter()
    }

    /// Empties the window; SQL is emptied by the caller.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.gd_count = 0;
        self.backlog = Backlog::InWindow;
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
