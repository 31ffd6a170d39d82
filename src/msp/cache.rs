//! A bounded memo of an MSP's decisions on identities, keyed by the identity's bytes: parsing a
//! certificate and checking its chain cost hundreds of µs, and the same few orderer and peer
//! identities sign every block and message. The memo lives inside one [`super::Msp`], which is
//! built from one configuration and never changes: a new configuration (new CA, new CRL) builds
//! a new MSP and so starts from an empty memo. Refusals are kept as well as successes; the
//! oldest entry is evicted when the memo is full.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Entries per memo (Fabric's MSP caches are bounded too).
pub const CAPACITY: usize = 4096;

/// Keys longer than this are decided but not kept: an ECDSA certificate's PEM is about 1 KiB,
/// and junk identities must not pin more than `CAPACITY` times this per memo.
const MAX_KEY_BYTES: usize = 4 * 1024;

#[derive(Debug)]
pub struct BoundedCache<V> {
    inner: Mutex<Entries<V>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug)]
struct Entries<V> {
    map: HashMap<Arc<[u8]>, V>,
    /// Insertion order, oldest first.
    order: VecDeque<Arc<[u8]>>,
}

impl<V: Clone> BoundedCache<V> {
    pub fn new(capacity: usize) -> Self {
        BoundedCache {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        // The memo holds no invariant a panicking holder could break half-way but the
        // map/order pairing, which `insert` restores; a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered decision for `key`, else `decide()`'s, remembered. `decide` runs
    /// without the lock held (it is the slow part), so two threads may both decide the same
    /// new key; they decide alike.
    pub fn get_or_decide(&self, key: &[u8], decide: impl FnOnce() -> V) -> V {
        if let Some(v) = self.entries().map.get(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return v.clone();
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let v = decide();
        if key.len() <= MAX_KEY_BYTES {
            self.insert(key, v.clone());
        }
        v
    }

    fn insert(&self, key: &[u8], v: V) {
        let mut e = self.entries();
        if e.map.contains_key(key) {
            return;
        }
        while e.map.len() >= self.capacity {
            match e.order.pop_front() {
                Some(old) => {
                    e.map.remove(&old);
                }
                None => {
                    e.map.clear();
                    break;
                }
            }
        }
        let key: Arc<[u8]> = Arc::from(key);
        e.order.push_back(key.clone());
        e.map.insert(key, v);
    }

    pub fn len(&self) -> usize {
        self.entries().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_decisions_and_evicts_the_oldest() {
        let c = BoundedCache::new(2);
        assert_eq!(c.get_or_decide(b"a", || 1), 1);
        assert_eq!(c.get_or_decide(b"a", || 9), 1);
        assert_eq!((c.hits(), c.misses()), (1, 1));
        c.get_or_decide(b"b", || 2);
        c.get_or_decide(b"c", || 3);
        assert_eq!(c.len(), 2);
        // "a" was the oldest: decided again.
        assert_eq!(c.get_or_decide(b"a", || 4), 4);
        assert_eq!(c.get_or_decide(b"c", || 9), 3);
        let big = vec![0u8; MAX_KEY_BYTES + 1];
        c.get_or_decide(&big, || 5);
        assert_eq!(c.get_or_decide(&big, || 6), 6);
    }
}
