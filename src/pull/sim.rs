//! A network of pull engines in virtual time (Fabric's `TestPull` idea): one peer holds
//! the items, the others obtain them through pull alone.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::tests::{block, cfg, engine_with, pki, TestPolicy};
use super::*;
use crate::proto::gossip::{GossipMessage, PullMsgType};
use crate::types::PkiId;

struct Net {
    engines: Vec<PullEngine>,
    policies: Vec<TestPolicy>,
    ids: Vec<PkiId>,
    /// In-flight messages: (to index, from, msg).
    wire: VecDeque<(usize, PkiId, GossipMessage)>,
    now: Instant,
    rejected: usize,
}

impl Net {
    fn new(n: usize, seed: u64) -> Self {
        let now = Instant::now();
        let ids: Vec<PkiId> = (0..n).map(|i| pki(i as u8 + 1)).collect();
        // Start times are staggered so rounds do not all line up.
        let engines = (0..n)
            .map(|i| {
                engine_with(
                    seed * 100 + i as u64,
                    now + Duration::from_millis(37 * i as u64),
                    [],
                )
            })
            .collect();
        Net {
            engines,
            policies: (0..n).map(|_| TestPolicy::default()).collect(),
            ids,
            wire: VecDeque::new(),
            now,
            rejected: 0,
        }
    }

    fn index(&self, p: &PkiId) -> usize {
        self.ids.iter().position(|x| x == p).unwrap()
    }

    fn absorb(&mut self, from: usize, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, msg } => {
                    let to = self.index(&to);
                    self.wire.push_back((to, self.ids[from].clone(), msg));
                }
                Output::Received { .. } => {}
                Output::UpdateRejected { .. } => self.rejected += 1,
            }
        }
    }

    /// Advances time by `step`, ticks every engine, then delivers until the wire is quiet.
    fn step(&mut self, step: Duration) {
        self.now += step;
        for i in 0..self.engines.len() {
            let peers = if self.engines[i].round_due(self.now) {
                self.ids
                    .iter()
                    .filter(|p| **p != self.ids[i])
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            let out =
                self.engines[i].handle(self.now, Input::Tick { peers }, &mut self.policies[i]);
            self.absorb(i, out);
        }
        while let Some((to, from, msg)) = self.wire.pop_front() {
            let input = pull_input(from, &msg, PullMsgType::BlockMsg, b"ch").unwrap();
            let out = self.engines[to].handle(self.now, input, &mut self.policies[to]);
            self.absorb(to, out);
        }
    }

    fn complete(&self, items: usize) -> usize {
        self.engines
            .iter()
            .filter(|e| e.item_count() == items)
            .count()
    }
}

#[test]
fn ten_peers_obtain_twenty_items_by_pull_alone() {
    for seed in 1..=5 {
        let mut net = Net::new(10, seed);
        for s in 1..=20 {
            net.engines[0].add_item(block_digest(s), block(s));
        }
        let interval = cfg().pull_interval;
        let step = Duration::from_millis(100);
        let mut elapsed = Duration::ZERO;
        // A few pull intervals must do.
        while net.complete(20) < 10 && elapsed < interval * 5 {
            net.step(step);
            elapsed += step;
        }
        assert_eq!(
            net.complete(20),
            10,
            "seed {seed}: not all peers got every item in {elapsed:?}"
        );
        for e in &net.engines {
            for s in 1..=20 {
                assert_eq!(e.item(&block_digest(s)), Some(&block(s)));
            }
            assert_eq!(e.counters().bad_items, 0);
            assert_eq!(e.counters().digest_unknown_nonce, 0);
        }
        assert_eq!(net.rejected, 0);
    }
}

#[test]
fn a_forging_peer_slows_but_does_not_poison_the_network() {
    let mut net = Net::new(10, 9);
    for s in 1..=20 {
        net.engines[0].add_item(block_digest(s), block(s));
        // Peer 9 offers the same blocks, all forged.
        let mut f = block(s);
        f.signature = b"forged".to_vec();
        net.engines[9].add_item(block_digest(s), f);
    }
    let step = Duration::from_millis(100);
    let mut elapsed = Duration::ZERO;
    while net.complete(20) < 10 && elapsed < cfg().pull_interval * 15 {
        net.step(step);
        elapsed += step;
    }
    assert_eq!(
        net.complete(20),
        10,
        "honest peers did not converge in {elapsed:?}"
    );
    for e in &net.engines[1..9] {
        for s in 1..=20 {
            assert_eq!(
                e.item(&block_digest(s)),
                Some(&block(s)),
                "a forged block was taken"
            );
        }
    }
    assert!(net.rejected > 0, "the forger was never asked");
}
