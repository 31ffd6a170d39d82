//! The message store: replacing policy, TTL expiry and purge, with injected time.

use std::time::{Duration, Instant};

use super::policy::{ReplacingPolicy, Verdict};

/// Why a store could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("message TTL must be positive")]
    ZeroTtl,
}

/// What happened to stored messages; Fabric's invalidation trigger and expiry callback.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent<T> {
    /// Dropped because a newer message replaced it.
    Invalidated(T),
    /// Reached its TTL: no longer returned by `get`, still blocks duplicates until 2×TTL.
    Expired(T),
    /// Removed by [`MessageStore::purge`].
    Purged(T),
}

/// Counters of what the store did; read with [`MessageStore::counters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounters {
    pub added: u64,
    /// Refused: an entry held is as new or newer (duplicates and stale messages).
    pub refused: u64,
    /// Refused before any comparison: the message lacks what its kind's rule reads.
    pub malformed: u64,
    pub invalidated: u64,
    pub expired: u64,
    /// Expired entries deleted at 2×TTL.
    pub deleted: u64,
    pub purged: u64,
}

struct Entry<T> {
    item: T,
    created: Instant,
    expired: bool,
}

/// Fabric's `MessageStore`: keeps the messages no other stored message makes stale.
///
/// Differences from Fabric: `add` checks every entry before removing any, so a refused
/// message never drops entries; the expired count stays right when an expired entry is
/// replaced or purged.
pub struct MessageStore<T, P> {
    policy: P,
    entries: Vec<Entry<T>>,
    ttl: Option<Duration>,
    check_interval: Duration,
    next_check: Option<Instant>,
    expired_count: usize,
    events: Vec<StoreEvent<T>>,
    counters: StoreCounters,
}

impl<T: Clone, P: ReplacingPolicy<T>> MessageStore<T, P> {
    /// A store without expiry (Fabric's `NewMessageStore`).
    pub fn new(policy: P) -> Self {
        MessageStore {
            policy,
            entries: Vec::new(),
            ttl: None,
            check_interval: Duration::ZERO,
            next_check: None,
            expired_count: 0,
            events: Vec::new(),
            counters: StoreCounters::default(),
        }
    }

    /// A store whose entries expire `ttl` after they were added and are deleted at 2×`ttl`,
    /// checked every `ttl`/100 (Fabric's `NewMessageStoreExpirable`).
    pub fn with_ttl(policy: P, ttl: Duration, now: Instant) -> Result<Self, StoreError> {
        if ttl.is_zero() {
            return Err(StoreError::ZeroTtl);
        }
        // A floor keeps a tiny TTL from turning every tick into a scan.
        let check_interval = (ttl / 100).max(Duration::from_millis(1));
        let mut s = Self::new(policy);
        s.ttl = Some(ttl);
        s.check_interval = check_interval;
        s.next_check = Some(now + check_interval);
        Ok(s)
    }

    /// Adds `item` received at `now`. Returns false when a stored entry makes it stale or a
    /// duplicate (or it is malformed); otherwise the entries it replaces are dropped, each
    /// reported as [`StoreEvent::Invalidated`].
    pub fn add(&mut self, now: Instant, item: T) -> bool {
        if !self.policy.admissible(&item) {
            self.counters.malformed += 1;
            return false;
        }
        if !self.check_valid(&item) {
            self.counters.refused += 1;
            return false;
        }
        let mut kept = Vec::with_capacity(self.entries.len() + 1);
        for e in self.entries.drain(..) {
            if self.policy.judge(&item, &e.item) == Verdict::Invalidates {
                if e.expired {
                    self.expired_count -= 1;
                }
                self.counters.invalidated += 1;
                self.events.push(StoreEvent::Invalidated(e.item));
            } else {
                kept.push(e);
            }
        }
        kept.push(Entry {
            item,
            created: now,
            expired: false,
        });
        self.entries = kept;
        self.counters.added += 1;
        true
    }

    /// Whether `add` would accept `item` (Fabric's `CheckValid`). Expired entries still
    /// count, so a message cannot come back until its entry is deleted.
    pub fn check_valid(&self, item: &T) -> bool {
        self.policy.admissible(item)
            && self
                .entries
                .iter()
                .all(|e| self.policy.judge(item, &e.item) != Verdict::Invalidated)
    }

    /// The entries that have not expired, oldest first.
    pub fn get(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries.iter().filter(|e| !e.expired).map(|e| &e.item)
    }

    /// The first unexpired entry matching `pred`.
    pub fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<&T> {
        self.get().find(|t| pred(t))
    }

    /// The number of entries that have not expired.
    pub fn len(&self) -> usize {
        self.entries.len() - self.expired_count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry (expired or not) matching `pred`, each reported as
    /// [`StoreEvent::Purged`]. Returns how many were removed.
    pub fn purge(&mut self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let before = self.entries.len();
        let mut kept = Vec::with_capacity(before);
        for e in self.entries.drain(..) {
            if pred(&e.item) {
                if e.expired {
                    self.expired_count -= 1;
                }
                self.events.push(StoreEvent::Purged(e.item));
            } else {
                kept.push(e);
            }
        }
        self.entries = kept;
        let n = before - self.entries.len();
        self.counters.purged += n as u64;
        n
    }

    /// Runs the expiry check when due: entries older than TTL are marked expired (reported
    /// as [`StoreEvent::Expired`]), those older than 2×TTL are deleted.
    pub fn tick(&mut self, now: Instant) {
        let (Some(ttl), Some(next)) = (self.ttl, self.next_check) else {
            return;
        };
        if now < next {
            return;
        }
        self.next_check = Some(now + self.check_interval);
        let before = self.entries.len();
        let mut kept = Vec::with_capacity(before);
        for mut e in self.entries.drain(..) {
            // A clock that went back gives age zero, never a panic.
            let age = now.saturating_duration_since(e.created);
            if !e.expired {
                if age > ttl {
                    e.expired = true;
                    self.expired_count += 1;
                    self.counters.expired += 1;
                    self.events.push(StoreEvent::Expired(e.item.clone()));
                }
                kept.push(e);
            } else if age > ttl * 2 {
                self.expired_count -= 1;
                self.counters.deleted += 1;
            } else {
                kept.push(e);
            }
        }
        self.entries = kept;
    }

    /// When `tick` next has work to check; `None` for a store without expiry.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_check
    }

    /// The events since the last call, in order.
    pub fn drain_events(&mut self) -> Vec<StoreEvent<T>> {
        std::mem::take(&mut self.events)
    }

    pub fn counters(&self) -> &StoreCounters {
        &self.counters
    }

    pub fn policy(&self) -> &P {
        &self.policy
    }
}
