//! The block pull engine fed random sequences: rounds on schedule and on demand, hellos,
//! digests, requests and updates from several peers, with right, stale, guessed and random
//! nonces, genuine and forged blocks, and time. Invariants after each step: no panic; rounds
//! stay under their cap; we offer no more digests than items held, and ask for and send at
//! most `max_digests_per_message` blocks at once; we ask only for wanted blocks (ingress); a
//! block is handed over only if it was asked of that very peer, its digest matches its
//! content and it passed validation; a hidden block is never offered nor sent to the peer it
//! is hidden from (egress).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::message::{data_msg, Content, SignedGossipMessage};
use fabgossip::proto::gossip::{Envelope, PullMsgType};
use fabgossip::pull::{
    block_digest, block_envelope_digest, parse_block_digest, Digest, Input, Output, PullConfig,
    PullEngine, PullPolicy,
};
use fabgossip::types::PkiId;

use super::engine::{Cov, Target};

const CH: &[u8] = b"ch";
const MAX_DIGESTS: usize = 8;
const MAX_ON_DEMAND: usize = 2;

fn cfg() -> PullConfig {
    PullConfig {
        channel: CH.to_vec(),
        msg_type: PullMsgType::BlockMsg,
        pull_interval: Duration::from_secs(4),
        pull_peer_num: 3,
        digest_wait_time: Duration::from_secs(1),
        request_wait_time: Duration::from_millis(1500),
        response_wait_time: Duration::from_secs(2),
        max_incoming_nonces: 16,
        max_digests_per_message: MAX_DIGESTS,
        max_on_demand_rounds: MAX_ON_DEMAND,
    }
}

fn peer(i: u8) -> PkiId {
    PkiId(vec![i; 32])
}

fn block(seq: u64, forged: bool) -> Envelope {
    let mut e =
        SignedGossipMessage::unsigned(data_msg(CH, seq, format!("block {seq}").into_bytes()))
            .envelope;
    if forged {
        e.signature = b"forged".to_vec();
    }
    e
}

/// Blocks at or above `height` are wanted; `hidden` blocks are never offered to peer 1;
/// a block is valid unless marked forged.
struct Policy {
    height: u64,
    hidden: BTreeSet<u64>,
}

impl PullPolicy for Policy {
    fn ingress(&self, digest: &[u8]) -> bool {
        parse_block_digest(digest).is_some_and(|s| s >= self.height)
    }
    fn egress(&self, to: &PkiId, digest: &[u8]) -> bool {
        !(*to == peer(1) && parse_block_digest(digest).is_some_and(|s| self.hidden.contains(&s)))
    }
    fn digest_of(&self, item: &Envelope) -> Option<Digest> {
        block_envelope_digest(item)
    }
    fn validate(&mut self, _from: &PkiId, _d: &[u8], item: &Envelope) -> Result<(), String> {
        if item.signature == b"forged" {
            return Err("bad signature".into());
        }
        Ok(())
    }
}

struct Run {
    e: PullEngine,
    policy: Policy,
    now: Instant,
    /// Nonces seen in our hellos and requests, to answer with.
    nonces: Vec<u64>,
    /// (peer, digest) pairs we asked for.
    asked: BTreeSet<(PkiId, Digest)>,
}

impl Run {
    fn nonce(&self, u: &mut Unstructured) -> arbitrary::Result<u64> {
        if !self.nonces.is_empty() && u.ratio(3u8, 4)? {
            let i = u.int_in_range(0..=self.nonces.len() - 1)?;
            Ok(self.nonces[i])
        } else {
            u.arbitrary()
        }
    }

    fn digests(&self, u: &mut Unstructured) -> arbitrary::Result<Vec<Digest>> {
        let mut d = Vec::new();
        for _ in 0..u.int_in_range(0..=12usize)? {
            if u.ratio(1u8, 8)? {
                d.push(u.arbitrary::<Vec<u8>>()?);
            } else {
                d.push(block_digest(u.int_in_range(0..=20u64)?));
            }
        }
        Ok(d)
    }

    fn step(&mut self, u: &mut Unstructured, cov: &mut Cov) -> arbitrary::Result<()> {
        let op = u.int_in_range(0..=9u8)?;
        let from = peer(u.int_in_range(1..=4u8)?);
        let peers: Vec<PkiId> = (1..=u.int_in_range(0..=4u8)?).map(peer).collect();
        let input = match op {
            0 => {
                self.now += Duration::from_millis(u.int_in_range(0..=5_000u64)?);
                Input::Tick { peers }
            }
            1 => Input::PullNow {
                peers,
                hint: self.digests(u)?,
            },
            2 => Input::Hello {
                from,
                nonce: u.arbitrary()?,
            },
            3 | 4 => Input::Digest {
                from,
                nonce: self.nonce(u)?,
                digests: self.digests(u)?,
            },
            5 => Input::Request {
                from,
                nonce: self.nonce(u)?,
                digests: self.digests(u)?,
            },
            6 | 7 => {
                let mut items = Vec::new();
                for _ in 0..u.int_in_range(0..=4usize)? {
                    items.push(block(u.int_in_range(0..=20u64)?, u.ratio(1u8, 4)?));
                }
                Input::Update {
                    from,
                    nonce: self.nonce(u)?,
                    items,
                }
            }
            8 => {
                let seq = u.int_in_range(0..=20u64)?;
                if u.ratio(1u8, 3)? {
                    self.policy.hidden.insert(seq);
                }
                self.e.add_item(block_digest(seq), block(seq, false));
                return Ok(());
            }
            _ => {
                self.policy.height = u.int_in_range(0..=20u64)?;
                let gone = self.policy.height.saturating_sub(1);
                self.e.remove_item(&block_digest(gone));
                return Ok(());
            }
        };
        let out = self.e.handle(self.now, input, &mut self.policy);
        for o in out {
            self.check_output(o, cov);
        }
        assert!(
            self.e.rounds_in_progress() <= 1 + MAX_ON_DEMAND,
            "{} rounds in progress",
            self.e.rounds_in_progress()
        );
        Ok(())
    }

    fn check_output(&mut self, o: Output, cov: &mut Cov) {
        match o {
            Output::Send { to, msg } => {
                match &msg.content {
                    Some(Content::Hello(h)) => {
                        cov.hit("hello");
                        self.nonces.push(h.nonce);
                    }
                    Some(Content::DataDig(d)) => {
                        cov.hit(("digest", d.digests.len().min(MAX_DIGESTS + 1)));
                        assert!(
                            d.digests.len() <= self.e.item_count(),
                            "offered {} digests, holding {} items",
                            d.digests.len(),
                            self.e.item_count()
                        );
                        for dg in &d.digests {
                            assert!(self.policy.egress(&to, dg), "offered a hidden block");
                        }
                    }
                    Some(Content::DataReq(r)) => {
                        cov.hit(("request", r.digests.len().min(4)));
                        assert!(
                            r.digests.len() <= MAX_DIGESTS,
                            "asked {} blocks",
                            r.digests.len()
                        );
                        self.nonces.push(r.nonce);
                        for dg in &r.digests {
                            assert!(self.policy.ingress(dg), "asked for an unwanted block");
                            self.asked.insert((to.clone(), dg.clone()));
                        }
                    }
                    Some(Content::DataUpdate(up)) => {
                        cov.hit(("update", up.data.len().min(4)));
                        assert!(
                            up.data.len() <= MAX_DIGESTS,
                            "sent {} blocks",
                            up.data.len()
                        );
                        for item in &up.data {
                            let dg =
                                block_envelope_digest(item).expect("a sent block has a digest");
                            assert!(self.policy.egress(&to, &dg), "sent a hidden block");
                        }
                    }
                    _ => panic!("the pull engine sent a non-pull message"),
                }
                assert_eq!(msg.channel, CH, "pull message for another channel");
            }
            Output::Received { from, digest, item } => {
                cov.hit("received");
                assert!(
                    self.asked.contains(&(from.clone(), digest.clone())),
                    "took a block that was not asked of that peer"
                );
                assert_eq!(block_envelope_digest(&item).as_ref(), Some(&digest));
                assert_ne!(item.signature, b"forged", "took a forged block");
            }
            Output::UpdateRejected { reason, .. } => cov.error(&reason),
        }
    }
}

fn run_pull(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let now = Instant::now();
    let mut e = PullEngine::new(cfg(), now, 11).unwrap();
    for s in 0..4 {
        e.add_item(block_digest(s), block(s, false));
    }
    let mut run = Run {
        e,
        policy: Policy {
            height: 0,
            hidden: BTreeSet::new(),
        },
        now,
        nonces: Vec::new(),
        asked: BTreeSet::new(),
    };
    for _ in 0..96 {
        if u.is_empty() || run.step(&mut u, cov).is_err() {
            break;
        }
    }
}

fn pull_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![
            0, 1, 2, 0, 0, 16, 3, 0, 2, 5, 0, 9, 0, 10, 6, 0, 0, 2, 9, 0, 10, 0,
        ],
        vec![1, 0, 3, 1, 9, 10, 11, 4, 1, 0, 0, 1, 10, 6, 1, 0, 1, 10, 0],
        vec![2, 2, 0, 7, 5, 1, 0, 0, 3, 1, 2, 3, 8, 0, 0, 12, 1],
        (0..=255u8).collect(),
    ]
}

pub const PULL: Target = Target {
    name: "pull",
    max_len: 2048,
    seeds: pull_seeds,
    run: run_pull,
};
