//! An in-memory network of election machines in virtual time: leadership messages travel
//! through a time-ordered queue with a fixed latency; partitions cut links; a stopped peer
//! leaves every view at once. No crypto: messages are decoded, not verified.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use super::*;
use crate::config::ElectionConfig;
use crate::crypto::CryptoError;
use crate::discovery::{PeerTime, Signer};
use crate::message::SignedGossipMessage;
use crate::proto::gossip::gossip_message::Content;
use crate::types::PkiId;

pub(super) const LATENCY: Duration = Duration::from_millis(5);
const TICK: Duration = Duration::from_millis(10);

/// Fabric's election tests: every interval 500 ms, membership sampled every 100 ms.
pub(super) fn test_config() -> ElectionConfig {
    ElectionConfig {
        startup_grace_period: Duration::from_millis(500),
        membership_sample_interval: Duration::from_millis(100),
        leader_alive_threshold: Duration::from_millis(500),
        leader_election_duration: Duration::from_millis(500),
    }
}

/// PKI-IDs sort like the indices: peer 0 has the lowest.
pub(super) fn pki_of(i: usize) -> PkiId {
    PkiId(vec![0x10, i as u8, 0xEE])
}

pub(super) fn test_signer() -> Box<dyn Signer> {
    Box::new(|p: &[u8]| -> Result<Vec<u8>, CryptoError> { Ok(p[..4.min(p.len())].to_vec()) })
}

/// The verified form of a message the machine produced.
pub(super) fn decode(m: &SignedGossipMessage) -> LeadershipMsg {
    let Some(Content::LeadershipMsg(l)) = &m.msg.content else {
        panic!("not a leadership message: {:?}", m.msg.content)
    };
    let ts = l.timestamp.unwrap_or_default();
    LeadershipMsg {
        pki_id: PkiId(l.pki_id.clone()),
        timestamp: PeerTime {
            inc_num: ts.inc_num,
            seq_num: ts.seq_num,
        },
        is_declaration: l.is_declaration,
    }
}

pub(super) struct SimPeer {
    pub m: Option<LeaderElection>,
    /// Every leadership change with the time it happened (since start).
    pub changes: Vec<(Duration, bool)>,
}

enum Event {
    Tick(usize),
    Deliver { to: usize, msg: LeadershipMsg },
    Yield(usize),
}

pub(super) struct Net {
    pub peers: Vec<SimPeer>,
    pub cfg: ElectionConfig,
    pub t0: Instant,
    pub now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    events: BTreeMap<u64, Event>,
    /// Links cut by a partition, as ordered pairs (low, high).
    cut: BTreeSet<(usize, usize)>,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Net {
    /// `n` peers, none started.
    pub fn new(n: usize, cfg: ElectionConfig) -> Net {
        let t0 = Instant::now();
        Net {
            peers: (0..n)
                .map(|_| SimPeer {
                    m: None,
                    changes: Vec::new(),
                })
                .collect(),
            cfg,
            t0,
            now: t0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            cut: BTreeSet::new(),
        }
    }

    /// Every peer started at once.
    pub fn started(n: usize) -> Net {
        let mut net = Net::new(n, test_config());
        for i in 0..n {
            net.start(i);
        }
        net
    }

    fn schedule(&mut self, at: Instant, e: Event) {
        self.seq += 1;
        self.events.insert(self.seq, e);
        self.queue.push(Reverse((at, self.seq)));
    }

    /// Starts peer `i` now (it joins the channel).
    pub fn start(&mut self, i: usize) {
        let m = LeaderElection::new(
            self.cfg.clone(),
            "testchannel",
            pki_of(i),
            test_signer(),
            self.now,
            1_000 + i as u64,
        )
        .unwrap();
        self.peers[i].m = Some(m);
        let now = self.now;
        self.schedule(now, Event::Tick(i));
    }

    /// Stops peer `i`: it sends nothing more and leaves every view.
    pub fn stop(&mut self, i: usize) {
        self.peers[i].m = None;
    }

    pub fn yield_at(&mut self, i: usize) {
        let now = self.now;
        self.schedule(now, Event::Yield(i));
    }

    /// Cuts every link between different groups.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        for (gi, a) in groups.iter().enumerate() {
            for b in &groups[gi + 1..] {
                for &x in a.iter() {
                    for &y in b.iter() {
                        self.cut.insert(pair(x, y));
                    }
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// The candidates of peer `i`: running peers it can reach.
    pub fn view(&self, i: usize) -> Vec<PkiId> {
        (0..self.peers.len())
            .filter(|&j| j != i && self.peers[j].m.is_some() && !self.cut.contains(&pair(i, j)))
            .map(pki_of)
            .collect()
    }

    /// Running peers that consider themselves leader.
    pub fn leaders(&self) -> Vec<usize> {
        (0..self.peers.len())
            .filter(|&i| self.peers[i].m.as_ref().is_some_and(|m| m.is_leader()))
            .collect()
    }

    /// Runs every event up to `d` from now.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(e) = self.events.remove(&id) else {
                continue;
            };
            self.process(e);
        }
        self.now = end;
    }

    /// Runs until `done` holds (checked every 10 ms) or `limit` passes; returns the time
    /// it took.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) -> Option<Duration> {
        let start = self.now;
        while self.now - start < limit {
            self.run_for(Duration::from_millis(10));
            if done(self) {
                return Some(self.now - start);
            }
        }
        None
    }

    fn process(&mut self, e: Event) {
        let (i, input) = match e {
            Event::Tick(i) => {
                if self.peers[i].m.is_none() {
                    return;
                }
                let now = self.now;
                self.schedule(now + TICK, Event::Tick(i));
                (i, Input::Tick)
            }
            Event::Deliver { to, msg } => (to, Input::Message(msg)),
            Event::Yield(i) => (i, Input::Yield),
        };
        let view = self.view(i);
        let now = self.now;
        let Some(m) = self.peers[i].m.as_mut() else {
            return;
        };
        let out = m.handle(now, &view, input);
        for o in out {
            match o {
                Output::Gossip(signed) => {
                    let msg = decode(&signed);
                    for to in 0..self.peers.len() {
                        if view.contains(&pki_of(to)) {
                            self.schedule(
                                now + LATENCY,
                                Event::Deliver {
                                    to,
                                    msg: msg.clone(),
                                },
                            );
                        }
                    }
                }
                Output::LeadershipChanged(leader) => {
                    let at = now - self.t0;
                    self.peers[i].changes.push((at, leader));
                }
            }
        }
    }
}
