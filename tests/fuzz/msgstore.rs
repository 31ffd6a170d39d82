//! The message store with Fabric's replacing rules fed random sequences: blocks (a sliding
//! window), alives, StateInfo, leadership and identities with random origins and timestamps,
//! malformed messages, purges and time. Invariants after each step: no panic; every stored
//! message is well formed; at most one alive, StateInfo, leadership message and identity per
//! PKI-ID; stored blocks have distinct numbers spanning at most the window, so the store
//! holds at most `window + 1` blocks; an accepted message is found in the store.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::message::{
    alive_msg, data_msg, empty_msg, leadership_msg, peer_identity_msg, state_info_msg, Content,
    SignedGossipMessage,
};
use fabgossip::msgstore::{GossipComparator, MessageStore};
use fabgossip::proto::gossip::{PeerTime, Properties};
use fabgossip::types::PkiId;

use super::engine::{Cov, Target};

const WINDOW: u64 = 5;

fn message(u: &mut Unstructured) -> arbitrary::Result<SignedGossipMessage> {
    let origin = PkiId(vec![u.int_in_range(0..=3u8)?; 4]);
    let ts = PeerTime {
        inc_num: u.int_in_range(0..=2u64)?,
        seq_num: u.int_in_range(0..=4u64)?,
    };
    let mut msg = match u.int_in_range(0..=6u8)? {
        0 | 1 => data_msg(b"ch", u.int_in_range(0..=30u64)?, vec![7; 4]),
        2 => alive_msg("", b"", &origin, ts, None),
        3 => state_info_msg(&origin, b"ch", ts, Properties::default()),
        4 => leadership_msg(b"ch", &origin, ts, u.arbitrary()?),
        5 => peer_identity_msg(&origin, &[u.arbitrary()?; 3]),
        _ => empty_msg(),
    };
    // Malformed variants: no timestamp, an empty PKI-ID, a data message without payload.
    if u.ratio(1u8, 10)? {
        match &mut msg.content {
            Some(Content::AliveMsg(a)) => a.timestamp = None,
            Some(Content::StateInfo(s)) => s.pki_id.clear(),
            Some(Content::LeadershipMsg(l)) => l.timestamp = None,
            Some(Content::PeerIdentity(p)) => p.pki_id.clear(),
            Some(Content::DataMsg(d)) => d.payload = None,
            _ => msg.content = None,
        }
    }
    Ok(SignedGossipMessage::unsigned(msg))
}

/// The PKI-ID a message speaks for, by kind.
fn origin(sm: &SignedGossipMessage) -> Option<(&'static str, Vec<u8>)> {
    match &sm.msg.content {
        Some(Content::AliveMsg(a)) => Some(("alive", a.membership.as_ref()?.pki_id.clone())),
        Some(Content::StateInfo(s)) => Some(("state info", s.pki_id.clone())),
        Some(Content::LeadershipMsg(l)) => Some(("leadership", l.pki_id.clone())),
        Some(Content::PeerIdentity(p)) => Some(("identity", p.pki_id.clone())),
        _ => None,
    }
}

fn check(store: &MessageStore<SignedGossipMessage, GossipComparator>) {
    let mut origins = HashSet::new();
    let mut seqs = Vec::new();
    for sm in store.get() {
        assert!(
            store.policy().admissible_msg(sm),
            "a malformed message is stored"
        );
        if let Some(o) = origin(sm) {
            assert!(
                origins.insert(o.clone()),
                "two {} messages of one PKI-ID",
                o.0
            );
        }
        if let Some(Content::DataMsg(d)) = &sm.msg.content {
            seqs.push(
                d.payload
                    .as_ref()
                    .expect("stored block has a payload")
                    .seq_num,
            );
        }
    }
    let distinct: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), seqs.len(), "a block number is stored twice");
    if let (Some(lo), Some(hi)) = (seqs.iter().min(), seqs.iter().max()) {
        assert!(
            hi - lo <= WINDOW,
            "blocks {lo} and {hi} kept, window {WINDOW}"
        );
    }
    assert!(seqs.len() as u64 <= WINDOW + 1);
    assert_eq!(store.len(), store.get().count());
}

/// `admissible` of the policy, named for this target's use.
trait Admissible {
    fn admissible_msg(&self, sm: &SignedGossipMessage) -> bool;
}

impl Admissible for GossipComparator {
    fn admissible_msg(&self, sm: &SignedGossipMessage) -> bool {
        fabgossip::msgstore::ReplacingPolicy::<SignedGossipMessage>::admissible(self, sm)
    }
}

fn run_msgstore(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let mut now = Instant::now();
    let ttl = Duration::from_secs(10);
    let mut store = MessageStore::with_ttl(GossipComparator::new(WINDOW), ttl, now).unwrap();
    for _ in 0..128 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.int_in_range(0..=5u8) else {
            break;
        };
        match op {
            0..=3 => {
                let Ok(sm) = message(&mut u) else { break };
                let added = store.add(now, sm.clone());
                cov.hit(("add", fabgossip::message::kind_name(&sm.msg), added));
                if added {
                    assert!(
                        store.find(|s| *s == sm).is_some(),
                        "an added message is missing"
                    );
                }
            }
            4 => {
                now += Duration::from_millis(u.int_in_range(0..=15_000u64).unwrap_or(0));
                store.tick(now);
            }
            _ => {
                let below = u.int_in_range(0..=30u64).unwrap_or(0);
                let n = store.purge(|sm| match &sm.msg.content {
                    Some(Content::DataMsg(d)) => {
                        d.payload.as_ref().is_some_and(|p| p.seq_num < below)
                    }
                    _ => false,
                });
                cov.hit(("purged", n.min(3)));
            }
        }
        for ev in store.drain_events() {
            cov.hit(std::mem::discriminant(&ev));
        }
        check(&store);
        cov.hit(("len", store.len().min(12)));
    }
}

fn msgstore_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![
            0, 0, 1, 0, 5, 1, 0, 1, 0, 9, 2, 2, 1, 1, 2, 3, 2, 2, 1, 3, 4, 255, 255, 5, 20,
        ],
        vec![
            1, 2, 1, 2, 3, 2, 2, 1, 2, 4, 3, 0, 0, 1, 4, 4, 3, 0, 0, 5, 4, 0, 0, 2,
        ],
        (0..=255u8).collect(),
    ]
}

pub const MSGSTORE: Target = Target {
    name: "msgstore",
    max_len: 2048,
    seeds: msgstore_seeds,
    run: run_msgstore,
};
