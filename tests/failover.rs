//! Leader election driving the delivery service, end to end: 10 peers in two orgs (5 + 5) on
//! two channels shared by both orgs, with election on, against one test orderer per channel
//! (`examples/orderer/server.rs`, in-process) cutting blocks at a steady rate. At every
//! sample at most one peer per (org, channel) leads with an open delivery stream; stopping
//! one leader hands delivery to another peer of its org within leaderAliveThreshold +
//! leaderElectionDuration (plus slack), which resumes from its height; every ledger ends
//! equal to the orderer's chain. Run with `--nocapture` to see the measured failover time.

#[path = "../examples/orderer/server.rs"]
mod orderer;
mod support;

use support::{free_port, tempdir};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fabgossip::channel::{AnchorPeer, JoinChannelMessage, OrdererEndpoint};
use fabgossip::config::Config;
use fabgossip::ledger::{FileLedger, Ledger};
use fabgossip::node::GossipService;
use orderer::{ChainOptions, ServerHandle, TestOrderer};

const THRESHOLD: Duration = Duration::from_millis(2000);
const DURATION: Duration = Duration::from_millis(1000);
/// Allowance for the loaded 2-core machine (10 peers and 2 orderers in one process).
const SLACK: Duration = Duration::from_secs(3);
const CHANNELS: [&str; 2] = ["fochA", "fochB"];
const ORGS: [&str; 2] = ["Org1MSP", "Org2MSP"];
const PEERS: usize = 10;
/// One block per channel every CUT_EVERY.
const CUT_EVERY: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_secs(90);

fn org_of(i: usize) -> usize {
    i / (PEERS / 2)
}

fn peer_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("p{i}"))
}

/// Peer `i`: bootstrap within its org (peers 0 and 5 are each other's org's first contact
/// and the channels' anchor peers), election on with short timers.
async fn start(i: usize, ports: &[u16], dir: &Path) -> GossipService {
    let port = ports[i];
    let first = org_of(i) * (PEERS / 2);
    let boot = if i == first { first + 1 } else { first };
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  deliveryclient:\n    minimalReconnectInterval: 50ms\n    reConnectBackoffThreshold: 400ms\n    connTimeout: 1s\n  gossip:\n    bootstrap: ['127.0.0.1:{boot}']\n    externalEndpoint: '127.0.0.1:{port}'\n    useLeaderElection: true\n    orgLeader: false\n    election:\n      startupGracePeriod: 3s\n      membershipSampleInterval: 500ms\n      leaderAliveThreshold: {thr}ms\n      leaderElectionDuration: {dur}ms\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 1500ms\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    digestWaitTime: 100ms\n    requestWaitTime: 200ms\n    responseWaitTime: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\nfabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP]\n  identitySeed: '{seed}'\n",
        org = ORGS[org_of(i)],
        boot = ports[boot],
        dir = peer_dir(dir, i).display(),
        thr = THRESHOLD.as_millis(),
        dur = DURATION.as_millis(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    GossipService::start_builtin(Config::parse(&text).unwrap())
        .await
        .unwrap()
}

fn join(ports: &[u16], o: &TestOrderer, oport: u16) -> JoinChannelMessage {
    let anchor = |org: usize| AnchorPeer {
        org: ORGS[org].into(),
        host: "127.0.0.1".into(),
        port: ports[org * (PEERS / 2)],
    };
    JoinChannelMessage {
        sequence: 1,
        members: ORGS.iter().map(|o| o.to_string()).collect(),
        anchor_peers: vec![anchor(0), anchor(1)],
        orderers: vec![OrdererEndpoint {
            endpoint: format!("127.0.0.1:{oport}"),
            tls_root_cert: None,
            public_key: Some(o.public_key()),
        }],
    }
}

async fn serve(o: &TestOrderer, port: u16) -> ServerHandle {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    o.serve(addr, None).await.unwrap()
}

/// Peers of `org` that lead `ch` and have an open delivery stream.
fn streaming(peers: &[Option<GossipService>], org: usize, ch: &str) -> Vec<usize> {
    peers
        .iter()
        .enumerate()
        .filter(|(i, _)| org_of(*i) == org)
        .filter(|(_, p)| {
            p.as_ref().is_some_and(|p| {
                p.is_leader(ch) == Ok(true) && p.delivery_stats(ch).is_some_and(|s| s.connected)
            })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Peers of `org` that lead `ch` (stream open or not).
fn leaders(peers: &[Option<GossipService>], org: usize, ch: &str) -> Vec<usize> {
    peers
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            org_of(*i) == org && p.as_ref().is_some_and(|p| p.is_leader(ch) == Ok(true))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Samples the single-puller invariant every time a wait polls.
#[derive(Default)]
struct Sampler {
    samples: u64,
    /// (when, org, channel, the peers streaming at once)
    violations: Vec<(Duration, usize, &'static str, Vec<usize>)>,
    started: Option<Instant>,
}

impl Sampler {
    fn sample(&mut self, peers: &[Option<GossipService>]) {
        let t0 = *self.started.get_or_insert_with(Instant::now);
        self.samples += 1;
        for org in 0..ORGS.len() {
            for ch in CHANNELS {
                let s = streaming(peers, org, ch);
                if s.len() > 1 {
                    self.violations.push((t0.elapsed(), org, ch, s));
                }
            }
        }
    }

    /// Polls `cond` every 10 ms, sampling each time; false when `limit` passed first.
    async fn wait_for(
        &mut self,
        peers: &[Option<GossipService>],
        limit: Duration,
        mut cond: impl FnMut(&[Option<GossipService>]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            self.sample(peers);
            if cond(peers) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_until(
        &mut self,
        what: &str,
        peers: &[Option<GossipService>],
        limit: Duration,
        cond: impl FnMut(&[Option<GossipService>]) -> bool,
    ) {
        if !self.wait_for(peers, limit, cond).await {
            dump(peers);
            panic!("timed out after {limit:?} waiting until {what}");
        }
    }
}

fn dump(peers: &[Option<GossipService>]) {
    for (i, p) in peers.iter().enumerate() {
        let Some(p) = p else { continue };
        for ch in CHANNELS {
            eprintln!(
                "peer {i} {ch}: leader {:?} height {:?} delivery {:?}",
                p.is_leader(ch),
                p.ledger_height(ch),
                p.delivery_stats(ch)
            );
        }
    }
}

/// Each (org, channel) has exactly one streaming leader, the same one over a whole
/// declaration cycle.
fn settled(peers: &[Option<GossipService>]) -> Option<Vec<usize>> {
    let mut v = Vec::new();
    for org in 0..ORGS.len() {
        for ch in CHANNELS {
            let s = streaming(peers, org, ch);
            if s.len() != 1 || leaders(peers, org, ch) != s {
                return None;
            }
            v.push(s[0]);
        }
    }
    Some(v)
}

async fn stable_leaders(
    sampler: &mut Sampler,
    peers: &[Option<GossipService>],
    limit: Duration,
) -> Vec<usize> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        sampler
            .wait_until(
                "one streaming leader per org and channel",
                peers,
                left,
                |p| settled(p).is_some(),
            )
            .await;
        let first = settled(peers).unwrap();
        let changed = sampler
            .wait_for(peers, THRESHOLD, |p| settled(p).as_ref() != Some(&first))
            .await;
        if !changed {
            return first;
        }
        assert!(Instant::now() < deadline, "leadership never settled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_is_replaced_and_delivery_resumes_without_gap_or_duplicate() {
    let dir = tempdir("failover");
    let orderers: Vec<TestOrderer> = CHANNELS
        .iter()
        .enumerate()
        .map(|(k, ch)| {
            TestOrderer::new(ChainOptions {
                channel: ch.to_string(),
                seed: [40 + k as u8; 32],
                block_size: 64,
            })
        })
        .collect();
    let oports: Vec<u16> = orderers.iter().map(|_| free_port()).collect();
    let mut servers = Vec::new();
    for (o, port) in orderers.iter().zip(&oports) {
        servers.push(serve(o, *port).await);
    }
    // Blocks are cut at a steady rate on both channels for the whole election and failover.
    let cutting = Arc::new(AtomicBool::new(true));
    let cutter = {
        let (orderers, cutting) = (orderers.clone(), cutting.clone());
        tokio::spawn(async move {
            while cutting.load(Ordering::SeqCst) {
                for o in &orderers {
                    o.cut(1);
                }
                tokio::time::sleep(CUT_EVERY).await;
            }
        })
    };

    let ports: Vec<u16> = (0..PEERS).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..PEERS {
        peers.push(Some(start(i, &ports, &dir).await));
    }
    for p in peers.iter().flatten() {
        for (k, ch) in CHANNELS.iter().enumerate() {
            p.join_channel(ch, join(&ports, &orderers[k], oports[k]))
                .await
                .unwrap();
        }
    }

    let mut sampler = Sampler::default();
    let lead = stable_leaders(&mut sampler, &peers, LONG).await;
    eprintln!("leaders (org1 A, org1 B, org2 A, org2 B): {lead:?}");
    // One stream per org on each orderer, opened once (no reconnect happened).
    for (k, o) in orderers.iter().enumerate() {
        let reconnects: u64 = [lead[k], lead[2 + k]]
            .iter()
            .map(|&i| {
                peers[i]
                    .as_ref()
                    .unwrap()
                    .delivery_stats(CHANNELS[k])
                    .unwrap()
                    .reconnects
            })
            .sum();
        let sessions = o.counters().sessions.load(Ordering::SeqCst);
        assert!(
            sessions >= 2 && sessions <= 2 + reconnects,
            "orderer {k}: {sessions} sessions, {reconnects} reconnects"
        );
    }

    // Stop org1's leader of channel A.
    let ch = CHANNELS[0];
    let old = lead[0];
    let seeks_before = orderers[0].counters().seeks.lock().unwrap().len();
    let sessions_before = orderers[0].counters().sessions.load(Ordering::SeqCst);
    let heights_before: Vec<u64> = peers
        .iter()
        .map(|p| p.as_ref().and_then(|p| p.ledger_height(ch)).unwrap_or(0))
        .collect();
    let stopped_at = Instant::now();
    peers[old].take().unwrap().stop().await;
    let mut elected_at = None;
    let mut new_leader = None;
    sampler
        .wait_until(
            "another org1 peer delivers channel A",
            &peers,
            Duration::from_secs(60),
            |p| {
                let ls = leaders(p, 0, ch);
                if ls.len() == 1 && elected_at.is_none() {
                    elected_at = Some(stopped_at.elapsed());
                }
                new_leader = ls.into_iter().find(|&i| {
                    p[i].as_ref()
                        .and_then(|p| p.delivery_stats(ch))
                        .is_some_and(|s| s.blocks_received >= 1)
                });
                new_leader.is_some()
            },
        )
        .await;
    let failover = stopped_at.elapsed();
    let new_leader = new_leader.unwrap();
    let orderer_height = orderers[0].height();
    eprintln!(
        "failover: leader p{old} stopped -> p{new_leader} elected after {:?}, its first delivered \
         block after {failover:?} (target {:?} = leaderAliveThreshold {THRESHOLD:?} + \
         leaderElectionDuration {DURATION:?})",
        elected_at.unwrap_or(failover),
        THRESHOLD + DURATION,
    );
    assert!(
        failover <= THRESHOLD + DURATION + SLACK,
        "failover took {failover:?}"
    );
    // The new leader's stream started from its own height: not below it (no duplicate
    // commit), not above what the orderer had (no gap).
    let seeks = orderers[0].counters().seeks.lock().unwrap().clone();
    assert!(seeks.len() > seeks_before, "{seeks:?}");
    let resumed = seeks[seeks_before];
    assert!(
        resumed >= heights_before[new_leader] && resumed <= orderer_height,
        "resumed at {resumed}, new leader's height before {}, orderer's {orderer_height}, \
         seeks {seeks:?}",
        heights_before[new_leader]
    );
    eprintln!(
        "resumed from block {resumed} (new leader's height at the stop {}, orderer's height \
         {orderer_height})",
        heights_before[new_leader]
    );
    // The stopped peer usually led channel B of its org too (the lowest PKI-ID wins every
    // channel): that channel fails over as well, within the same bound.
    if lead[1] == old {
        let chb = CHANNELS[1];
        sampler
            .wait_until(
                "another org1 peer delivers channel B",
                &peers,
                Duration::from_secs(60),
                |p| {
                    leaders(p, 0, chb).into_iter().any(|i| {
                        p[i].as_ref()
                            .and_then(|p| p.delivery_stats(chb))
                            .is_some_and(|s| s.blocks_received >= 1)
                    })
                },
            )
            .await;
        let took = stopped_at.elapsed();
        eprintln!("failover of channel B: first delivered block after at most {took:?}");
        assert!(
            took <= THRESHOLD + DURATION + SLACK,
            "failover of B took {took:?}"
        );
    }
    // The orderer saw exactly one new session for the takeover, plus one per reconnection
    // of the new leader's client.
    let new_sessions = orderers[0].counters().sessions.load(Ordering::SeqCst) - sessions_before;
    let new_reconnects = peers[new_leader]
        .as_ref()
        .unwrap()
        .delivery_stats(ch)
        .unwrap()
        .reconnects;
    assert!(
        new_sessions >= 1 && new_sessions <= 1 + new_reconnects,
        "{new_sessions} new sessions, {new_reconnects} reconnects"
    );
    // Org2 kept its leaders; org1's leader of channel B changed only if it was the stopped
    // peer (the lowest PKI-ID tends to win every channel).
    let after = stable_leaders(&mut sampler, &peers, LONG).await;
    eprintln!("leaders after the failover: {after:?}");
    assert_eq!(after[0], new_leader);
    if lead[1] != old {
        assert_eq!(after[1], lead[1]);
    }
    assert_eq!(&after[2..], &lead[2..], "org2's leaders did not change");

    // Stop cutting; every running peer reaches the orderer's height on both channels.
    cutting.store(false, Ordering::SeqCst);
    cutter.await.unwrap();
    let heights: Vec<u64> = orderers.iter().map(|o| o.height()).collect();
    sampler
        .wait_until("every peer has the whole chain", &peers, LONG, |p| {
            p.iter().flatten().all(|p| {
                CHANNELS
                    .iter()
                    .zip(&heights)
                    .all(|(ch, h)| p.ledger_height(ch) == Some(*h))
            })
        })
        .await;
    for (i, p) in peers.iter().enumerate() {
        let Some(p) = p else { continue };
        for (ch, h) in CHANNELS.iter().zip(&heights) {
            let b = p.block_stats(ch).unwrap();
            assert_eq!(
                b.state.committed, *h,
                "peer {i} {ch}: each block once: {b:?}"
            );
        }
    }
    eprintln!(
        "{} samples of the single-puller invariant, heights {heights:?}",
        sampler.samples
    );
    assert!(
        sampler.violations.is_empty(),
        "more than one peer of an org streamed a channel at once: {:?}",
        sampler.violations
    );

    for p in peers.iter().flatten() {
        p.stop().await;
    }
    drop(peers);
    for s in servers {
        s.stop().await;
    }
    // Commits run on blocking threads that hold the ledger for a moment after stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (k, ch) in CHANNELS.iter().enumerate() {
        let chain = orderers[k].encoded_blocks();
        for i in 0..PEERS {
            let l = FileLedger::open(&peer_dir(&dir, i), ch).unwrap();
            let h = l.height();
            let blocks = if h == 0 {
                Vec::new()
            } else {
                l.get_blocks(0, h - 1).unwrap()
            };
            if i == old {
                // The stopped leader holds a prefix of the chain.
                assert!(h > 0 && blocks[..] == chain[..h as usize], "peer {i} {ch}");
            } else {
                assert_eq!(h, heights[k], "peer {i} {ch}");
                assert!(
                    blocks == chain,
                    "peer {i}'s ledger of {ch} differs from the chain"
                );
            }
        }
    }
}
