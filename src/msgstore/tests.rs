//! The replacing rules per kind, the block window, TTL with virtual time, and purge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::message::{
    alive_msg, data_msg, hello_msg, leadership_msg, peer_identity_msg, state_info_msg,
    SignedGossipMessage,
};
use crate::proto::gossip::{GossipMessage, PeerTime, Properties, PullMsgType};
use crate::types::PkiId;

fn pki(b: u8) -> PkiId {
    PkiId(vec![b; 32])
}

fn ts(inc_num: u64, seq_num: u64) -> PeerTime {
    PeerTime { inc_num, seq_num }
}

fn alive(p: u8, inc: u64, seq: u64) -> GossipMessage {
    alive_msg("127.0.0.1:7051", &[], &pki(p), ts(inc, seq), None)
}

fn state_info(p: u8, inc: u64, seq: u64) -> GossipMessage {
    state_info_msg(&pki(p), b"ch", ts(inc, seq), Properties::default())
}

fn leader(p: u8, inc: u64, seq: u64) -> GossipMessage {
    leadership_msg(b"ch", &pki(p), ts(inc, seq), true)
}

fn block(seq: u64) -> GossipMessage {
    data_msg(b"ch", seq, vec![seq as u8])
}

fn store() -> MessageStore<GossipMessage, GossipComparator> {
    MessageStore::new(GossipComparator::new(10))
}

fn invalidated(events: Vec<StoreEvent<GossipMessage>>) -> Vec<GossipMessage> {
    events
        .into_iter()
        .map(|e| match e {
            StoreEvent::Invalidated(m) => m,
            other => panic!("expected an invalidation, got {other:?}"),
        })
        .collect()
}

/// Alive, StateInfo and leadership share the timestamp rule; each kind is checked alike.
fn check_timestamp_rule(make: fn(u8, u64, u64) -> GossipMessage) {
    let now = Instant::now();
    let mut s = store();
    assert!(s.add(now, make(1, 5, 10)));
    // Equal timestamp: duplicate.
    assert!(!s.add(now, make(1, 5, 10)));
    // Same incarnation, lower sequence: stale.
    assert!(!s.add(now, make(1, 5, 9)));
    // Older incarnation, even with a larger sequence: stale.
    assert!(!s.add(now, make(1, 4, 100)));
    assert!(s.drain_events().is_empty());
    // Same incarnation, larger sequence: replaces.
    assert!(s.add(now, make(1, 5, 11)));
    assert_eq!(invalidated(s.drain_events()), vec![make(1, 5, 10)]);
    // Newer incarnation with a smaller sequence: replaces.
    assert!(s.add(now, make(1, 6, 0)));
    assert_eq!(invalidated(s.drain_events()), vec![make(1, 5, 11)]);
    // Another PKI-ID never interferes.
    assert!(s.add(now, make(2, 1, 1)));
    assert!(s.drain_events().is_empty());
    assert_eq!(s.len(), 2);
    let held: Vec<_> = s.get().cloned().collect();
    assert_eq!(held, vec![make(1, 6, 0), make(2, 1, 1)]);
    assert_eq!(s.counters().refused, 3);
    assert_eq!(s.counters().invalidated, 2);
}

#[test]
fn alive_timestamp_rule() {
    check_timestamp_rule(alive);
}

#[test]
fn state_info_timestamp_rule() {
    check_timestamp_rule(state_info);
}

#[test]
fn leadership_timestamp_rule() {
    check_timestamp_rule(leader);
}

#[test]
fn compare_timestamps_table() {
    use super::comparator::compare_timestamps;
    assert_eq!(
        compare_timestamps(&ts(1, 2), &ts(1, 1)),
        Verdict::Invalidates
    );
    assert_eq!(
        compare_timestamps(&ts(1, 1), &ts(1, 1)),
        Verdict::Invalidated
    );
    assert_eq!(
        compare_timestamps(&ts(1, 0), &ts(1, 1)),
        Verdict::Invalidated
    );
    assert_eq!(
        compare_timestamps(&ts(2, 0), &ts(1, 9)),
        Verdict::Invalidates
    );
    assert_eq!(
        compare_timestamps(&ts(0, 9), &ts(1, 0)),
        Verdict::Invalidated
    );
}

#[test]
fn first_peer_identity_wins() {
    let now = Instant::now();
    let mut s = store();
    assert!(s.add(now, peer_identity_msg(&pki(1), b"cert-a")));
    assert!(!s.add(now, peer_identity_msg(&pki(1), b"cert-b")));
    assert!(s.add(now, peer_identity_msg(&pki(2), b"cert-c")));
    assert_eq!(s.len(), 2);
    assert!(s
        .find(|m| *m == peer_identity_msg(&pki(1), b"cert-a"))
        .is_some());
    assert!(s.drain_events().is_empty());
}

#[test]
fn kinds_do_not_replace_each_other() {
    let now = Instant::now();
    let mut s = store();
    assert!(s.add(now, alive(1, 5, 5)));
    assert!(s.add(now, state_info(1, 5, 5)));
    assert!(s.add(now, leader(1, 5, 5)));
    assert!(s.add(now, peer_identity_msg(&pki(1), b"c")));
    assert!(s.add(now, block(5)));
    // Kinds without a rule are never considered duplicates (Fabric: no action).
    assert!(s.add(now, hello_msg(b"ch", 1, PullMsgType::BlockMsg)));
    assert!(s.add(now, hello_msg(b"ch", 1, PullMsgType::BlockMsg)));
    assert_eq!(s.len(), 7);
    assert!(s.drain_events().is_empty());
}

#[test]
fn block_window_slides() {
    let now = Instant::now();
    let mut s = store();
    for seq in 1..=11 {
        assert!(s.add(now, block(seq)), "block {seq}");
    }
    // 1..=11: all within 10 of each other.
    assert_eq!(s.len(), 11);
    assert!(!s.add(now, block(5)), "same seq is a duplicate");
    // 12 is 11 away from 1: evicts it, keeps 2..=11.
    assert!(s.add(now, block(12)));
    assert_eq!(invalidated(s.drain_events()), vec![block(1)]);
    assert_eq!(s.len(), 11);
    // A block older than the window is refused.
    assert!(!s.check_valid(&block(1)));
    assert!(!s.add(now, block(1)));
    // A jump far ahead evicts everything held.
    assert!(s.add(now, block(100)));
    assert_eq!(invalidated(s.drain_events()).len(), 11);
    let held: Vec<_> = s.get().cloned().collect();
    assert_eq!(held, vec![block(100)]);
    // Within the window behind the newest block: kept.
    assert!(s.add(now, block(90)));
    assert!(!s.add(now, block(89)));
    assert_eq!(s.len(), 2);
}

#[test]
fn zero_window_keeps_only_the_newest_block() {
    let now = Instant::now();
    let mut s = MessageStore::new(GossipComparator::new(0));
    assert!(s.add(now, block(3)));
    assert!(s.add(now, block(4)));
    assert!(!s.add(now, block(2)));
    let held: Vec<_> = s.get().cloned().collect();
    assert_eq!(held, vec![block(4)]);
}

#[test]
fn malformed_messages_are_refused() {
    let now = Instant::now();
    let mut s = store();
    let mut no_ts = alive(1, 1, 1);
    if let Some(crate::message::Content::AliveMsg(a)) = &mut no_ts.content {
        a.timestamp = None;
    }
    assert!(!s.add(now, no_ts));
    let mut no_payload = block(1);
    if let Some(crate::message::Content::DataMsg(d)) = &mut no_payload.content {
        d.payload = None;
    }
    assert!(!s.add(now, no_payload));
    assert!(!s.add(now, GossipMessage::default()));
    assert!(!s.add(now, peer_identity_msg(&PkiId(vec![]), b"c")));
    assert_eq!(s.counters().malformed, 4);
    assert!(s.is_empty());
}

#[test]
fn ttl_expiry_with_virtual_time() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(100);
    let mut s = MessageStore::with_ttl(GossipComparator::new(10), ttl, t0).unwrap();
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(1)));
    assert!(s.add(t0, alive(1, 1, 1)));
    assert!(s.add(t0 + Duration::from_secs(50), alive(2, 1, 1)));

    // Exactly at TTL nothing expires (Fabric: strictly older than TTL).
    s.tick(t0 + ttl);
    assert!(s.drain_events().is_empty());
    assert_eq!(s.len(), 2);

    // Just past TTL: the first expires, with an event, and leaves `get` and `len`.
    s.tick(t0 + ttl + Duration::from_secs(1));
    assert_eq!(s.drain_events(), vec![StoreEvent::Expired(alive(1, 1, 1))]);
    assert_eq!(s.len(), 1);
    assert_eq!(s.get().cloned().collect::<Vec<_>>(), vec![alive(2, 1, 1)]);
    // An expired entry still blocks its duplicate until it is deleted.
    assert!(!s.add(t0 + ttl + Duration::from_secs(2), alive(1, 1, 1)));

    // The check runs every TTL/100: a tick before that does nothing.
    s.tick(t0 + Duration::from_millis(101_500));
    assert!(s.drain_events().is_empty());
    // Past 2×TTL the entry is deleted, and the old message is accepted again.
    s.tick(t0 + ttl * 2 + Duration::from_secs(2));
    assert_eq!(s.drain_events(), vec![StoreEvent::Expired(alive(2, 1, 1))]);
    assert_eq!(s.counters().deleted, 1);
    assert_eq!(s.len(), 0);
    let late = t0 + ttl * 2 + Duration::from_secs(3);
    assert!(s.add(late, alive(1, 1, 1)));
    assert_eq!(s.len(), 1);
    assert_eq!(s.counters().expired, 2);
}

#[test]
fn replacing_an_expired_entry_keeps_len_right() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(10);
    let mut s = MessageStore::with_ttl(GossipComparator::new(10), ttl, t0).unwrap();
    assert!(s.add(t0, alive(1, 1, 1)));
    s.tick(t0 + Duration::from_secs(11));
    assert_eq!(s.len(), 0);
    assert!(s.add(t0 + Duration::from_secs(12), alive(1, 1, 2)));
    assert_eq!(s.len(), 1);
    s.drain_events();
    assert_eq!(s.purge(|_| true), 1);
    assert_eq!(s.len(), 0);
    assert!(s.is_empty());
}

#[test]
fn zero_ttl_is_an_error() {
    let r = MessageStore::<GossipMessage, _>::with_ttl(
        GossipComparator::new(1),
        Duration::ZERO,
        Instant::now(),
    );
    assert_eq!(r.err(), Some(StoreError::ZeroTtl));
}

#[test]
fn clock_going_back_does_not_expire_or_panic() {
    let t0 = Instant::now() + Duration::from_secs(1000);
    let mut s =
        MessageStore::with_ttl(GossipComparator::new(10), Duration::from_secs(1), t0).unwrap();
    assert!(s.add(t0, block(1)));
    s.tick(t0 + Duration::from_millis(20));
    s.tick(t0 - Duration::from_secs(500));
    assert_eq!(s.len(), 1);
}

#[test]
fn purge_reports_each_entry() {
    let now = Instant::now();
    let mut s = store();
    for p in 1..=4 {
        assert!(s.add(now, alive(p, 1, 1)));
    }
    let n = s.purge(|m| m == &alive(2, 1, 1) || m == &alive(3, 1, 1));
    assert_eq!(n, 2);
    assert_eq!(
        s.drain_events(),
        vec![
            StoreEvent::Purged(alive(2, 1, 1)),
            StoreEvent::Purged(alive(3, 1, 1))
        ]
    );
    assert_eq!(s.len(), 2);
    assert_eq!(s.purge(|_| false), 0);
    assert_eq!(s.counters().purged, 2);
}

#[test]
fn refused_add_drops_nothing() {
    // A hand-written policy where entry "10" refuses and "1" would be replaced by "5".
    let pol = |new: &u64, stored: &u64| {
        if *stored == 10 {
            Verdict::Invalidated
        } else if (*new, *stored) == (5, 1) {
            Verdict::Invalidates
        } else {
            Verdict::NoAction
        }
    };
    let now = Instant::now();
    let mut s = MessageStore::new(pol);
    assert!(s.add(now, 1u64));
    assert!(s.add(now, 10u64));
    assert!(!s.add(now, 5u64));
    assert_eq!(s.get().copied().collect::<Vec<_>>(), vec![1, 10]);
    assert!(s.drain_events().is_empty());
}

#[test]
fn stores_signed_messages_behind_arc() {
    let now = Instant::now();
    let mut s = store_of_arcs();
    let m = Arc::new(SignedGossipMessage::unsigned(block(7)));
    assert!(s.add(now, m.clone()));
    assert!(!s.add(now, Arc::new(SignedGossipMessage::unsigned(block(7)))));
    assert!(Arc::ptr_eq(s.get().next().unwrap(), &m));
}

fn store_of_arcs() -> MessageStore<Arc<SignedGossipMessage>, GossipComparator> {
    MessageStore::new(GossipComparator::new(10))
}
