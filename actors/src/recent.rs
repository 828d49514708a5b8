//! A bounded memory of keys seen recently, oldest first: entries older than the window leave from
//! the front as new ones come in (amortised O(1), no rescans), and past the bound a new key is
//! not remembered — the caller is told, so it can say so rather than stop silently.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

pub struct Recent<K> {
    /// Key → the time it was last seen (µs or any monotonic unit the caller uses).
    seen: HashMap<K, i64>,
    /// (time, key) in the order they were remembered; a key seen again has a newer entry, and
    /// only the entry matching `seen` removes it.
    order: VecDeque<(i64, K)>,
    bound: usize,
}

impl<K: Eq + Hash + Clone> Recent<K> {
    pub fn new(bound: usize) -> Recent<K> {
        Recent { seen: HashMap::new(), order: VecDeque::new(), bound }
    }

    /// When `key` was seen, if it still is remembered.
    pub fn get(&self, key: &K) -> Option<i64> {
        self.seen.get(key).copied()
    }

    /// Forgets what was seen before `now - window`, then remembers `key` at `now`. Answers false
    /// when the bound is reached by keys still inside the window (the key is not remembered).
    pub fn remember(&mut self, key: K, now: i64, window: i64) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now - *at <= window && self.order.len() <= self.bound * 2 {
                break;
            }
            let (at, old) = self.order.pop_front().expect("front exists");
            if self.seen.get(&old) == Some(&at) {
                self.seen.remove(&old);
            }
        }
        if self.seen.len() >= self.bound && !self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key.clone(), now);
        self.order.push_back((now, key));
        true
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_keys_leave_and_a_full_memory_says_so() {
        let mut recent = Recent::new(3);
        assert!(recent.remember("a", 0, 10));
        assert!(recent.remember("b", 1, 10));
        assert!(recent.remember("c", 2, 10));
        assert!(!recent.remember("d", 3, 10), "full of keys inside the window");
        assert_eq!(recent.get(&"d"), None);
        assert!(recent.remember("a", 4, 10), "a key already remembered is refreshed");
        assert_eq!(recent.get(&"a"), Some(4));
        // Past the window the old ones leave: "b" and "c" (and a's first entry) go.
        assert!(recent.remember("e", 13, 10));
        assert_eq!((recent.get(&"b"), recent.get(&"c"), recent.get(&"a")), (None, None, Some(4)));
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn a_key_seen_again_is_not_forgotten_by_its_older_entry() {
        let mut recent = Recent::new(10);
        recent.remember("k", 0, 5);
        recent.remember("k", 4, 5);
        recent.remember("x", 6, 5); // "k"@0 is past the window; "k"@4 is not
        assert_eq!(recent.get(&"k"), Some(4));
    }
}
