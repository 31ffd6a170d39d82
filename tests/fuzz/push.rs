//! The push emitter and its router fed random sequences: messages of every pushed kind
//! (blocks, alives with a secret endpoint, StateInfo, leadership), relayed or own, with
//! exclusions, under a membership that changes between steps, and time.
//! Invariants after each step: no panic; the queue stays under `max_queue`; nothing goes to
//! ourselves, to an excluded peer, to a peer outside the snapshot, or twice in one send; a
//! secret endpoint goes to our org only; org-restricted kinds stay in our org and
//! channel-restricted kinds go to members of the channel only.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::message::{
    alive_msg, data_msg, is_channel_restricted, is_org_restricted, leadership_msg,
    sign_secret_internal_endpoint, state_info_msg, SignedGossipMessage,
};
use fabgossip::proto::gossip::{PeerTime, Properties};
use fabgossip::push::{
    Input, LocalPeer, Output, PushConfig, PushEmitter, PushPolicy, RoutePeer, RoutingSnapshot,
};
use fabgossip::types::PkiId;

use super::engine::{Cov, Target};

const CH: &[u8] = b"ch1";
const MAX_QUEUE: usize = 12;

fn pki(i: u8) -> PkiId {
    PkiId(vec![i; 8])
}

fn me() -> LocalPeer {
    LocalPeer {
        pki_id: pki(0),
        org: "A".into(),
        endpoint: "me:7051".into(),
        channels: BTreeSet::from([CH.to_vec()]),
    }
}

/// Up to 12 peers of orgs A and B, with random endpoints and channel membership.
fn snapshot(u: &mut Unstructured) -> arbitrary::Result<Vec<RoutePeer>> {
    let mut peers = Vec::new();
    for i in 1..=u.int_in_range(0..=12u8)? {
        let mut p = RoutePeer {
            pki_id: pki(i),
            org: if u.ratio(2u8, 3)? { "A" } else { "B" }.into(),
            endpoint: if u.ratio(1u8, 2)? {
                format!("p{i}:7051")
            } else {
                String::new()
            },
            internal_endpoint: if u.ratio(3u8, 4)? {
                format!("10.0.0.{i}:7051")
            } else {
                String::new()
            },
            channels: BTreeMap::new(),
        };
        if u.ratio(3u8, 4)? {
            p = p.in_channel(CH, u.ratio(3u8, 4)?);
        }
        peers.push(p);
    }
    Ok(peers)
}

/// A message of a random kind; `nonce` makes its payload unique, so each send can be checked
/// against the exclusions of its own `Add`.
fn message(u: &mut Unstructured, nonce: u64) -> arbitrary::Result<SignedGossipMessage> {
    let origin = pki(u.int_in_range(0..=13u8)?);
    let ts = PeerTime {
        inc_num: 1,
        seq_num: u.int_in_range(0..=100u64)?,
    };
    let channel: &[u8] = if u.ratio(1u8, 6)? { b"other" } else { CH };
    let sign = |p: &[u8]| Ok(vec![p.len() as u8; 64]);
    let kind = u.int_in_range(0..=3u8)?;
    let mut msg = match kind {
        0 => data_msg(channel, ts.seq_num, vec![1; 16]),
        1 => {
            let ep = if u.ratio(1u8, 2)? { "ext:7051" } else { "" };
            alive_msg(ep, b"", &origin, ts, None)
        }
        2 => state_info_msg(&origin, channel, ts, Properties::default()),
        _ => leadership_msg(channel, &origin, ts, u.arbitrary()?),
    };
    msg.nonce = nonce;
    if kind == 0 {
        return Ok(SignedGossipMessage::unsigned(msg));
    }
    let mut sm = SignedGossipMessage::sign(msg, sign).unwrap();
    if kind == 1 && u.ratio(2u8, 3)? {
        sign_secret_internal_endpoint(&mut sm.envelope, "10.9.9.9:7051", sign).unwrap();
    }
    Ok(sm)
}

struct Run {
    e: PushEmitter,
    now: Instant,
    peers: Vec<RoutePeer>,
    /// Exclusions by envelope payload, to check each send against its own message.
    excluded: Vec<(Vec<u8>, Vec<PkiId>)>,
    added: u64,
}

impl Run {
    fn step(&mut self, u: &mut Unstructured, cov: &mut Cov) -> arbitrary::Result<()> {
        let op = u.int_in_range(0..=4u8)?;
        let input = match op {
            0 => {
                self.now += Duration::from_millis(u.int_in_range(0..=30u64)?);
                Input::Tick
            }
            1 => {
                self.peers = snapshot(u)?;
                return Ok(());
            }
            _ => {
                self.added += 1;
                let msg = message(u, self.added)?;
                let mut exclude = Vec::new();
                for _ in 0..u.int_in_range(0..=3usize)? {
                    exclude.push(pki(u.int_in_range(0..=13u8)?));
                }
                self.excluded
                    .push((msg.envelope.payload.to_vec(), exclude.clone()));
                Input::Add {
                    msg,
                    exclude,
                    relayed: u.arbitrary()?,
                }
            }
        };
        let me = me();
        let snap = RoutingSnapshot::new(&me, &self.peers);
        let out = self.e.handle(self.now, input, snap);
        assert!(self.e.queued() <= MAX_QUEUE, "{} queued", self.e.queued());
        for Output::Send { to, envelope } in out {
            let sm = SignedGossipMessage::from_envelope((*envelope).clone())
                .expect("a pushed envelope decodes");
            cov.hit((
                "send",
                fabgossip::message::kind_name(&sm.msg),
                to.len().min(4),
            ));
            let excluded: HashSet<&PkiId> = self
                .excluded
                .iter()
                .filter(|(p, _)| p[..] == envelope.payload[..])
                .flat_map(|(_, e)| e)
                .collect();
            let mut seen = HashSet::new();
            for t in &to {
                assert!(seen.insert(&t.pki_id), "sent twice to {}", t.pki_id);
                assert_ne!(t.pki_id, me.pki_id, "sent to ourselves");
                assert!(!excluded.contains(&t.pki_id), "sent to an excluded peer");
                let p = self
                    .peers
                    .iter()
                    .find(|p| p.pki_id == t.pki_id)
                    .expect("sent to a peer outside the snapshot");
                if envelope.secret_envelope.is_some() {
                    assert_eq!(p.org, me.org, "a secret endpoint left our org");
                }
                if is_org_restricted(&sm.msg) {
                    assert_eq!(p.org, me.org, "an org-restricted message left our org");
                }
                if is_channel_restricted(&sm.msg) && !sm.msg.channel.is_empty() {
                    assert!(
                        p.is_member_of(&sm.msg.channel),
                        "a channel message went to a peer outside the channel"
                    );
                }
            }
        }
        // Only the envelopes still queued can be sent again.
        if self.excluded.len() > 4 * MAX_QUEUE {
            self.excluded.drain(..2 * MAX_QUEUE);
        }
        Ok(())
    }
}

fn run_push(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let policy = if u.ratio(1u8, 2).unwrap_or(false) {
        PushPolicy::Fabric
    } else {
        PushPolicy::Adaptive
    };
    let cfg = PushConfig {
        max_propagation_burst_size: 4,
        propagate_iterations: u.int_in_range(0..=2u32).unwrap_or(1),
        max_queue: MAX_QUEUE,
        policy,
        ..PushConfig::default()
    };
    let e = PushEmitter::new(cfg, 5).unwrap();
    let mut run = Run {
        e,
        now: Instant::now(),
        peers: Vec::new(),
        excluded: Vec::new(),
        added: 0,
    };
    for _ in 0..64 {
        if u.is_empty() || run.step(&mut u, cov).is_err() {
            break;
        }
    }
}

fn push_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![
            0, 1, 1, 8, 1, 1, 1, 1, 1, 2, 0, 1, 0, 1, 1, 2, 0, 0, 5, 0, 1, 2, 3, 0, 0,
        ],
        vec![
            1, 2, 1, 10, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 3, 2, 4, 3, 1, 0, 1, 0, 0, 1, 2, 1,
        ],
        (0..=255u8).collect(),
    ]
}

pub const PUSH: Target = Target {
    name: "push",
    max_len: 2048,
    seeds: push_seeds,
    run: run_push,
};
