//! Fabric's message store (`gossip/gossip/msgstore`) with injected time.
//!
//! A store keeps the messages that are still current: adding a message is refused when an
//! entry already held makes it stale or a duplicate, and entries the new message replaces are
//! dropped. Which message replaces which is a [`ReplacingPolicy`]; [`GossipComparator`] is
//! Fabric's policy for gossip messages (alive, StateInfo, leadership, PeerIdentity, data).
//!
//! - [`policy`]: the verdict of comparing a new message with a stored one, and the trait.
//! - [`comparator`]: Fabric's per-kind rules (timestamps, first identity wins, block window).
//! - [`store`]: the store itself: add, check, TTL expiry, purge, events.
//!
//! # Driving it
//!
//! Call [`MessageStore::tick`] at least as often as [`MessageStore::next_deadline`] says, and
//! drain [`MessageStore::drain_events`] after every `add`, `tick` and `purge`: the events are
//! Fabric's invalidation trigger and expiry callback.

pub mod comparator;
pub mod policy;
pub mod store;

#[cfg(test)]
mod tests;

pub use comparator::{AsGossipMessage, GossipComparator};
pub use policy::{ReplacingPolicy, Verdict};
pub use store::{MessageStore, StoreCounters, StoreError, StoreEvent};
