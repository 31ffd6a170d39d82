//! An in-memory network of discovery machines in virtual time: envelopes travel through a
//! time-ordered queue, connections are opened on first send, probes and pings are answered
//! by whether the target is up. No crypto: the org of a PKI-ID comes from the harness.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use prost::Message;

use super::*;
use crate::crypto::CryptoError;
use crate::proto::gossip::{gossip_message, Envelope, GossipMessage};
use crate::types::PkiId;

const LATENCY: Duration = Duration::from_millis(1);
const TICK: Duration = Duration::from_millis(100);

struct Node {
    d: Discovery,
    pki: PkiId,
    org: String,
    up: bool,
}

// Test-only queue entries; their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Event {
    Tick(usize),
    Input(usize, Input),
    Envelope {
        from: usize,
        to: usize,
        env: Box<Envelope>,
    },
}

struct Net {
    nodes: Vec<Node>,
    t0: Instant,
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    events: BTreeMap<u64, Event>,
    connections: BTreeSet<(usize, usize)>,
    /// Envelopes delivered, for cost checks.
    delivered: u64,
}

/// Spec of one node: org, whether it has an external endpoint, bootstrap node indices.
struct Spec {
    org: &'static str,
    external: bool,
    bootstrap: Vec<usize>,
}

fn internal_of(i: usize) -> String {
    format!("10.1.0.{i}:7051")
}

fn external_of(i: usize) -> String {
    format!("peer{i}.example.com:7051")
}

fn pki_of(i: usize) -> PkiId {
    PkiId(vec![0xA0, i as u8, 0x5A])
}

impl Net {
    fn new(specs: &[Spec], cfg: DiscoveryConfig) -> Net {
        let t0 = Instant::now();
        let mut net = Net {
            nodes: Vec::new(),
            t0,
            now: t0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            connections: BTreeSet::new(),
            delivered: 0,
        };
        for (i, s) in specs.iter().enumerate() {
            let me = SelfInfo {
                pki_id: pki_of(i),
                org: s.org.into(),
                endpoint: if s.external {
                    external_of(i)
                } else {
                    String::new()
                },
                internal_endpoint: internal_of(i),
                identity: vec![i as u8],
                metadata: Vec::new(),
            };
            let signer: Box<dyn Signer> = Box::new(|p: &[u8]| -> Result<Vec<u8>, CryptoError> {
                Ok(p[..4.min(p.len())].to_vec())
            });
            let bootstrap = s.bootstrap.iter().map(|b| internal_of(*b)).collect();
            let d = Discovery::new(
                cfg.clone(),
                me,
                bootstrap,
                signer,
                t0,
                1_000 + i as u64,
                42 + i as u64,
            )
            .unwrap();
            net.nodes.push(Node {
                d,
                pki: pki_of(i),
                org: s.org.into(),
                up: true,
            });
            net.schedule(t0, Event::Tick(i));
        }
        net
    }

    fn schedule(&mut self, at: Instant, e: Event) {
        self.seq += 1;
        self.events.insert(self.seq, e);
        self.queue.push(Reverse((at, self.seq)));
    }

    fn index_of_pki(&self, pki: &PkiId) -> Option<usize> {
        self.nodes.iter().position(|n| n.pki == *pki)
    }

    fn index_of_endpoint(&self, ep: &str) -> Option<usize> {
        (0..self.nodes.len()).find(|i| internal_of(*i) == ep || external_of(*i) == ep)
    }

    fn org_of(&self, pki: &PkiId) -> String {
        self.index_of_pki(pki)
            .map(|i| self.nodes[i].org.clone())
            .unwrap_or_default()
    }

    fn verified(&self, env: Envelope) -> Option<VerifiedAlive> {
        let pki = decode_alive(&env).ok()?.pki_id;
        VerifiedAlive::new(env, self.org_of(&pki)).ok()
    }

    /// Runs every event up to `ms` after start.
    fn run_until(&mut self, ms: u64) {
        let end = self.t0 + Duration::from_millis(ms);
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            self.queue.pop();
            self.now = at;
            let e = self.events.remove(&id).unwrap();
            self.process(e);
        }
        self.now = end;
    }

    /// Runs until `done` holds (checked every tick) or `limit_ms`; returns the time it took.
    fn run_until_pred(&mut self, limit_ms: u64, done: impl Fn(&Net) -> bool) -> Option<Duration> {
        let start = self.now - self.t0;
        let mut t = start;
        while t < Duration::from_millis(limit_ms) {
            t += Duration::from_millis(10);
            self.run_until(t.as_millis() as u64);
            if done(self) {
                return Some(t - start);
            }
        }
        None
    }

    fn process(&mut self, e: Event) {
        let (i, input) = match e {
            Event::Tick(i) => {
                if !self.nodes[i].up {
                    return;
                }
                self.schedule(self.now + TICK, Event::Tick(i));
                (i, Input::Tick)
            }
            Event::Input(i, input) => (i, input),
            Event::Envelope { from, to, env } => {
                if !self.nodes[to].up || !self.connections.contains(&pair(from, to)) {
                    return;
                }
                self.delivered += 1;
                match self.to_input(from, *env) {
                    Some(input) => (to, input),
                    None => return,
                }
            }
        };
        if !self.nodes[i].up {
            return;
        }
        let now = self.now;
        let out = self.nodes[i].d.handle(now, input);
        for o in out {
            self.execute(i, o);
        }
    }

    fn to_input(&self, from: usize, env: Envelope) -> Option<Input> {
        let msg = GossipMessage::decode(env.payload.clone()).ok()?;
        let from_pki = self.nodes[from].pki.clone();
        Some(match msg.content? {
            gossip_message::Content::AliveMsg(_) => Input::Alive {
                from: from_pki,
                alive: self.verified(env)?,
            },
            gossip_message::Content::MemReq(r) => Input::MemReq {
                from: from_pki,
                from_org: self.nodes[from].org.clone(),
                nonce: msg.nonce,
                alive: self.verified(r.self_information?)?,
            },
            gossip_message::Content::MemRes(r) => Input::MemRes {
                from: from_pki,
                nonce: msg.nonce,
                alive: r
                    .alive
                    .into_iter()
                    .filter_map(|e| self.verified(e))
                    .collect(),
                dead: r
                    .dead
                    .into_iter()
                    .filter_map(|e| self.verified(e))
                    .collect(),
            },
            _ => return None,
        })
    }

    fn execute(&mut self, i: usize, o: Output) {
        let now = self.now;
        match o {
            Output::Send { to, envelope } => {
                let Some(j) = self.index_of_pki(&to.pki_id) else {
                    return;
                };
                assert_eq!(
                    self.index_of_endpoint(&to.endpoint),
                    Some(j),
                    "target endpoint matches PKI-ID"
                );
                if !self.nodes[j].up {
                    return;
                }
                if self.connections.insert(pair(i, j)) {
                    let (pi, pj) = (self.nodes[i].pki.clone(), self.nodes[j].pki.clone());
                    let (oi, oj) = (self.nodes[i].org.clone(), self.nodes[j].org.clone());
                    self.schedule(
                        now,
                        Event::Input(
                            i,
                            Input::Connected {
                                pki_id: pj,
                                org: oj,
                                endpoint: to.endpoint,
                            },
                        ),
                    );
                    self.schedule(
                        now,
                        Event::Input(
                            j,
                            Input::Connected {
                                pki_id: pi,
                                org: oi,
                                endpoint: internal_of(i),
                            },
                        ),
                    );
                }
                self.schedule(
                    now + LATENCY,
                    Event::Envelope {
                        from: i,
                        to: j,
                        env: Box::new(envelope),
                    },
                );
            }
            Output::Probe { endpoint } => {
                let result = match self.index_of_endpoint(&endpoint) {
                    Some(j) if self.nodes[j].up => {
                        Ok((self.nodes[j].pki.clone(), self.nodes[j].org.clone()))
                    }
                    _ => Err("connection refused".to_string()),
                };
                self.schedule(
                    now + LATENCY * 2,
                    Event::Input(i, Input::ProbeResult { endpoint, result }),
                );
            }
            Output::Ping { pki_id, endpoint } => {
                let ok = self
                    .index_of_endpoint(&endpoint)
                    .is_some_and(|j| self.nodes[j].up);
                self.schedule(
                    now + LATENCY * 2,
                    Event::Input(i, Input::PingResult { pki_id, ok }),
                );
            }
            Output::CloseConn { pki_id } => {
                if let Some(j) = self.index_of_pki(&pki_id) {
                    if self.connections.remove(&pair(i, j)) {
                        let (pi, pj) = (self.nodes[i].pki.clone(), self.nodes[j].pki.clone());
                        self.schedule(now, Event::Input(i, Input::Disconnected { pki_id: pj }));
                        self.schedule(now, Event::Input(j, Input::Disconnected { pki_id: pi }));
                    }
                }
            }
            Output::PeerUp(_) | Output::PeerDead(_) | Output::PeerPurged(_) => {}
        }
    }

    fn stop(&mut self, i: usize) {
        self.nodes[i].up = false;
        self.connections.retain(|(a, b)| *a != i && *b != i);
    }

    fn alive_view(&self, i: usize) -> BTreeSet<usize> {
        self.nodes[i]
            .d
            .alive_members()
            .iter()
            .filter_map(|m| self.index_of_pki(&m.pki_id))
            .collect()
    }
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

fn same_org_specs(n: usize) -> Vec<Spec> {
    (0..n)
        .map(|i| Spec {
            org: "Org1MSP",
            external: false,
            bootstrap: if i == 0 { vec![1] } else { vec![0] },
        })
        .collect()
}

#[test]
fn ten_peers_converge_then_a_stopped_one_is_seen_dead() {
    let n = 10;
    let mut net = Net::new(&same_org_specs(n), DiscoveryConfig::default());
    let full = |net: &Net| (0..n).all(|i| net.alive_view(i).len() == n - 1);
    let took = net.run_until_pred(10_000, full).expect("full view");
    eprintln!(
        "10 peers: full view after {took:?}, {} envelopes",
        net.delivered
    );
    assert!(took < Duration::from_secs(1), "full view after {took:?}");

    net.stop(3);
    let stopped = pki_of(3);
    let seen_dead = |net: &Net| {
        (0..n).filter(|&i| i != 3).all(|i| {
            net.nodes[i]
                .d
                .lookup(&stopped)
                .is_some_and(|m| m.liveness == Liveness::Dead)
                && net.alive_view(i).len() == n - 2
        })
    };
    let took = net
        .run_until_pred(60_000, seen_dead)
        .expect("stopped peer seen dead by all");
    eprintln!("stopped peer seen dead after {took:?}");
    // Silent for more than 25 s after the last peer got its latest alive (which may still
    // travel in membership responses for a few seconds), detected at the next 2.5 s check.
    assert!(
        took > Duration::from_secs(25) && took < Duration::from_secs(36),
        "dead after {took:?}"
    );

    // Over two more minutes nobody else is ever taken for dead.
    for step in 1..=12 {
        net.run_until((net.now - net.t0).as_millis() as u64 + 10_000);
        for i in (0..n).filter(|&i| i != 3) {
            assert_eq!(net.alive_view(i).len(), n - 2, "node {i} at step {step}");
        }
    }
}

#[test]
fn stopped_peer_that_comes_back_is_alive_again() {
    let n = 5;
    let mut net = Net::new(&same_org_specs(n), DiscoveryConfig::default());
    net.run_until(2_000);
    net.stop(2);
    net.run_until(35_000);
    assert!(net.nodes[0]
        .d
        .lookup(&pki_of(2))
        .is_some_and(|m| m.liveness == Liveness::Dead));

    // Restart: a new machine with a newer incarnation, same identity.
    let me = net.nodes[2].d.self_info().clone();
    let signer: Box<dyn Signer> =
        Box::new(|p: &[u8]| -> Result<Vec<u8>, CryptoError> { Ok(p[..4.min(p.len())].to_vec()) });
    let now = net.now;
    net.nodes[2].d = Discovery::new(
        DiscoveryConfig::default(),
        me,
        vec![internal_of(0)],
        signer,
        now,
        9_999_999,
        5,
    )
    .unwrap();
    net.nodes[2].up = true;
    net.schedule(now, Event::Tick(2));
    let back = |net: &Net| (0..n).all(|i| net.alive_view(i).len() == n - 1);
    let took = net
        .run_until_pred(120_000, back)
        .expect("restarted peer alive everywhere");
    assert!(took < Duration::from_secs(1), "back after {took:?}");
}

#[test]
fn two_orgs_converge_without_leaking_hidden_peers_or_internal_endpoints() {
    // Org1: nodes 0..5, Org2: nodes 5..10; even nodes have an external endpoint; node 0 and
    // node 6 are the anchor peers.
    let specs: Vec<Spec> = (0..10)
        .map(|i| {
            let (org, boot) = if i < 5 {
                ("Org1MSP", if i == 0 { 2 } else { 0 })
            } else {
                ("Org2MSP", if i == 6 { 8 } else { 6 })
            };
            Spec {
                org,
                external: i % 2 == 0,
                bootstrap: vec![boot],
            }
        })
        .collect();
    let mut net = Net::new(&specs, DiscoveryConfig::default());
    for i in 0..10 {
        let (anchor, org) = if i < 5 {
            (6, "Org2MSP")
        } else {
            (0, "Org1MSP")
        };
        let now = net.now;
        net.schedule(
            now,
            Event::Input(
                i,
                Input::AddAnchor {
                    endpoint: external_of(anchor),
                    org: org.into(),
                },
            ),
        );
    }
    let expected = |net: &Net, i: usize| -> BTreeSet<usize> {
        (0..10)
            .filter(|&j| j != i)
            .filter(|&j| net.nodes[j].org == net.nodes[i].org || (i % 2 == 0 && j % 2 == 0))
            .collect()
    };
    let converged = |net: &Net| (0..10).all(|i| net.alive_view(i) == expected(net, i));
    let took = net.run_until_pred(10_000, converged);
    let views: Vec<_> = (0..10).map(|i| net.alive_view(i)).collect();
    let took = took.unwrap_or_else(|| panic!("views {views:?}"));
    eprintln!(
        "2 orgs: converged after {took:?}, {} envelopes",
        net.delivered
    );
    assert!(took < Duration::from_secs(1), "converged after {took:?}");

    // Let the periodic rounds run: still no leak.
    net.run_until(120_000);
    for i in 0..10 {
        assert_eq!(net.alive_view(i), expected(&net, i), "node {i}");
        for m in net.nodes[i].d.members() {
            if m.org != net.nodes[i].org {
                assert!(
                    !m.endpoint.is_empty(),
                    "node {i} knows a hidden foreign peer"
                );
                assert!(
                    m.internal_endpoint.is_empty(),
                    "node {i} knows a foreign internal endpoint"
                );
            }
        }
    }
}

#[test]
fn same_seed_same_run() {
    let run = || {
        let mut net = Net::new(&same_org_specs(6), DiscoveryConfig::default());
        net.run_until(30_000);
        (
            net.delivered,
            (0..6)
                .map(|i| net.nodes[i].d.counters())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn forty_peers_converge_fast_and_steady_state_traffic_stays_bounded() {
    let n = 40;
    let mut net = Net::new(&same_org_specs(n), DiscoveryConfig::default());
    let full = |net: &Net| (0..n).all(|i| net.alive_view(i).len() == n - 1);
    let took = net.run_until_pred(10_000, full).expect("full view");
    eprintln!(
        "40 peers: full view after {took:?}, {} envelopes",
        net.delivered
    );
    assert!(took < Duration::from_secs(1), "full view after {took:?}");

    net.run_until(30_000);
    let before = net.delivered;
    net.run_until(90_000);
    let per_peer_per_s = (net.delivered - before) as f64 / n as f64 / 60.0;
    eprintln!("40 peers: {per_peer_per_s:.1} envelopes per peer per second in steady state");
    // Each alive round (5 s) floods one alive per peer with fan-out 3 (about 3 receipts per
    // peer per alive), plus 3 membership exchanges per 4 s.
    assert!(
        per_peer_per_s < 3.0 * n as f64 / 5.0 * 1.5,
        "{per_peer_per_s}"
    );
    assert!((0..n).all(|i| net.alive_view(i).len() == n - 1));
}
