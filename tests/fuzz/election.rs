//! Leader election fed random sequences: proposals and declarations from peers with lower and
//! higher PKI-IDs (ourselves and strangers included), stale and repeated timestamps, yields,
//! a changing view, and time. Invariants after each step: no panic; leadership changes
//! alternate and end where `is_leader` says; we declare only while leading; our own messages
//! carry our PKI-ID and channel, with timestamps that only grow.

use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::config::ElectionConfig;
use fabgossip::crypto::CryptoError;
use fabgossip::discovery::PeerTime;
use fabgossip::election::{Input, LeaderElection, LeadershipMsg, Output};
use fabgossip::message::Content;
use fabgossip::types::PkiId;

use super::engine::{Cov, Target};

const CH: &str = "ch";

fn pki(i: u8) -> PkiId {
    PkiId(vec![0x10, i, 0xEE])
}

const ME: u8 = 3;

fn run_election(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let cfg = ElectionConfig {
        startup_grace_period: Duration::from_millis(500),
        membership_sample_interval: Duration::from_millis(100),
        leader_alive_threshold: Duration::from_millis(500),
        leader_election_duration: Duration::from_millis(500),
    };
    let signer =
        Box::new(|p: &[u8]| -> Result<Vec<u8>, CryptoError> { Ok(p[..4.min(p.len())].to_vec()) });
    let mut now = Instant::now();
    let mut e = LeaderElection::new(cfg, CH, pki(ME), signer, now, 1_000).unwrap();
    let mut view: Vec<PkiId> = vec![pki(1), pki(5)];
    let mut leading = false;
    let mut last_ts: Option<(u64, u64)> = None;
    for _ in 0..128 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.int_in_range(0..=5u8) else {
            break;
        };
        let input = match op {
            0 | 1 => {
                now += Duration::from_millis(u.int_in_range(0..=700u64).unwrap_or(0));
                Input::Tick
            }
            2 | 3 => Input::Message(LeadershipMsg {
                pki_id: pki(u.int_in_range(0..=7u8).unwrap_or(0)),
                timestamp: PeerTime {
                    inc_num: u.int_in_range(0..=2u64).unwrap_or(0),
                    seq_num: u.int_in_range(0..=8u64).unwrap_or(0),
                },
                is_declaration: u.arbitrary().unwrap_or(false),
            }),
            4 => Input::Yield,
            _ => {
                view = (0..=7u8)
                    .filter(|&i| i != ME && u.ratio(1u8, 2).unwrap_or(false))
                    .map(pki)
                    .collect();
                continue;
            }
        };
        for o in e.handle(now, &view, input) {
            match o {
                Output::LeadershipChanged(l) => {
                    cov.hit(("changed", l, op));
                    assert_ne!(l, leading, "leadership 'changed' to what it was");
                    leading = l;
                }
                Output::Gossip(sm) => {
                    let Some(Content::LeadershipMsg(m)) = &sm.msg.content else {
                        panic!("election gossiped a non-leadership message");
                    };
                    cov.hit(("gossip", m.is_declaration, op));
                    assert_eq!(m.pki_id, pki(ME).0, "gossiped another peer's PKI-ID");
                    assert_eq!(sm.msg.channel, CH.as_bytes(), "gossiped to another channel");
                    assert!(!m.is_declaration || leading, "declared without leading");
                    let ts = m.timestamp.expect("a timestamp");
                    let ts = (ts.inc_num, ts.seq_num);
                    assert!(last_ts.is_none_or(|l| ts > l), "timestamp went back");
                    last_ts = Some(ts);
                }
            }
        }
        assert_eq!(
            e.is_leader(),
            leading,
            "is_leader disagrees with the changes reported"
        );
        cov.hit(("state", leading, e.is_yielding()));
    }
}

fn election_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![
            0, 200, 0, 200, 0, 200, 2, 1, 1, 1, 1, 0, 200, 4, 0, 255, 0, 255,
        ],
        vec![
            0, 255, 0, 255, 0, 255, 1, 255, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 255,
        ],
        (0..=255u8).collect(),
    ]
}

pub const ELECTION: Target = Target {
    name: "election",
    max_len: 2048,
    seeds: election_seeds,
    run: run_election,
};
