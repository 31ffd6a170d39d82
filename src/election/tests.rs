//! Election on virtual time: Fabric's scenarios (`election_test.go`) and the machine's
//! handling of bad input.

use std::time::{Duration, Instant};

use super::sim::*;
use super::*;
use crate::config::GossipConfig;
use crate::discovery::PeerTime;
use crate::message::{tag_of, Tag};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Slack for message latency and the sim's 10 ms tick.
const SLACK: Duration = Duration::from_millis(60);

#[test]
fn peers_started_together_elect_the_lowest_id() {
    let mut net = Net::started(10);
    let took = net.run_until(secs(5.0), |n| n.leaders() == vec![0]);
    assert!(took.is_some(), "leaders: {:?}", net.leaders());
    // Stays that way: nobody else ever leads, peer 0 became leader exactly once.
    net.run_for(secs(10.0));
    assert_eq!(net.leaders(), vec![0]);
    for (i, p) in net.peers.iter().enumerate() {
        if i == 0 {
            assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
            assert!(p.changes[0].1);
        } else {
            assert!(p.changes.is_empty(), "peer {i}: {:?}", p.changes);
        }
    }
    // The leader declares about every threshold/2; followers never declare.
    let c0 = *net.peers[0].m.as_ref().unwrap().counters();
    assert!(c0.declarations_sent >= 30, "{c0:?}");
    let c5 = *net.peers[5].m.as_ref().unwrap().counters();
    assert_eq!(c5.declarations_sent, 0);
    assert!(c5.declarations_received >= 30, "{c5:?}");
}

#[test]
fn peers_started_at_intervals_follow_the_first() {
    let mut net = Net::new(6, test_config());
    // The highest PKI-ID starts alone and leads; lower ones arrive later and follow it.
    net.start(5);
    let took = net.run_until(secs(3.0), |n| n.leaders() == vec![5]);
    assert!(took.is_some(), "leaders: {:?}", net.leaders());
    for i in (0..5).rev() {
        net.start(i);
        net.run_for(secs(0.3));
    }
    net.run_for(secs(10.0));
    assert_eq!(net.leaders(), vec![5]);
    for i in 0..5 {
        assert!(
            net.peers[i].changes.is_empty(),
            "peer {i}: {:?}",
            net.peers[i].changes
        );
    }
}

#[test]
fn partitions_each_elect_then_converge_to_the_lowest() {
    let mut net = Net::new(8, test_config());
    net.partition(&[&[0, 1, 2, 3], &[4, 5, 6, 7]]);
    for i in 0..8 {
        net.start(i);
    }
    let took = net.run_until(secs(5.0), |n| n.leaders() == vec![0, 4]);
    assert!(
        took.is_some(),
        "leaders while partitioned: {:?}",
        net.leaders()
    );
    net.run_for(secs(3.0));
    assert_eq!(net.leaders(), vec![0, 4]);
    net.heal();
    // Both leaders declare every threshold/2: the higher one steps down at the first
    // declaration it hears.
    let took = net.run_until(secs(3.0), |n| n.leaders() == vec![0]);
    assert!(took.is_some(), "leaders after healing: {:?}", net.leaders());
    assert!(took.unwrap() <= net.cfg.leader_alive_threshold / 2 + SLACK);
    net.run_for(secs(10.0));
    assert_eq!(net.leaders(), vec![0]);
    assert_eq!(
        net.peers[4].changes.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![true, false]
    );
}

#[test]
fn every_peer_isolated_leads_alone_then_one_remains() {
    // Fabric's TestPartition: 6 isolated peers → 6 leaders; healed → peer 0 only.
    let mut net = Net::new(6, test_config());
    net.partition(&[&[0], &[1], &[2], &[3], &[4], &[5]]);
    for i in 0..6 {
        net.start(i);
    }
    assert!(net
        .run_until(secs(5.0), |n| n.leaders().len() == 6)
        .is_some());
    net.heal();
    assert!(net
        .run_until(secs(5.0), |n| n.leaders() == vec![0])
        .is_some());
    net.run_for(secs(5.0));
    assert_eq!(net.leaders(), vec![0]);
}

#[test]
fn leader_stops_the_next_lowest_takes_over_in_time() {
    let mut net = Net::started(5);
    assert!(net
        .run_until(secs(5.0), |n| n.leaders() == vec![0])
        .is_some());
    net.run_for(secs(2.0));
    let cfg = net.cfg.clone();
    // Stop right after a declaration went out and at arbitrary points of the declaration
    // cycle: the bound holds for each.
    net.stop(0);
    let took = net
        .run_until(secs(5.0), |n| n.leaders() == vec![1])
        .expect("a new leader");
    assert!(
        took <= cfg.leader_alive_threshold + cfg.leader_election_duration + SLACK,
        "takeover took {took:?}"
    );
    net.run_for(secs(5.0));
    assert_eq!(net.leaders(), vec![1]);
    for i in 2..5 {
        assert!(
            net.peers[i].changes.is_empty(),
            "peer {i}: {:?}",
            net.peers[i].changes
        );
    }
}

#[test]
fn takeover_bound_holds_wherever_the_leader_dies_in_its_cycle() {
    let cfg = test_config();
    for offset_ms in [0u64, 60, 130, 190, 240] {
        let mut net = Net::started(3);
        assert!(net
            .run_until(secs(5.0), |n| n.leaders() == vec![0])
            .is_some());
        net.run_for(Duration::from_millis(offset_ms));
        net.stop(0);
        let took = net
            .run_until(secs(5.0), |n| n.leaders() == vec![1])
            .expect("a new leader");
        assert!(
            took <= cfg.leader_alive_threshold + cfg.leader_election_duration + SLACK,
            "offset {offset_ms} ms: takeover took {took:?}"
        );
    }
}

#[test]
fn yield_hands_leadership_over_and_is_not_retaken() {
    let mut net = Net::started(4);
    assert!(net
        .run_until(secs(5.0), |n| n.leaders() == vec![0])
        .is_some());
    net.yield_at(0);
    net.run_for(Duration::from_millis(1));
    assert!(net.peers[0].m.as_ref().unwrap().is_yielding());
    assert!(net.leaders().is_empty());
    let cfg = net.cfg.clone();
    let took = net
        .run_until(secs(5.0), |n| n.leaders() == vec![1])
        .expect("peer 1 takes over");
    assert!(took <= cfg.leader_alive_threshold + cfg.leader_election_duration + SLACK);
    // The new leader's declaration ended the yield; peer 0 follows and never retakes,
    // even long after the yield period.
    net.run_for(Duration::from_millis(50));
    assert!(!net.peers[0].m.as_ref().unwrap().is_yielding());
    net.run_for(cfg.leader_alive_threshold * 20);
    assert_eq!(net.leaders(), vec![1]);
    let c0: Vec<bool> = net.peers[0].changes.iter().map(|c| c.1).collect();
    assert_eq!(c0, vec![true, false], "one callback each way");
    assert_eq!(net.peers[0].m.as_ref().unwrap().counters().yields, 1);
}

#[test]
fn a_lone_peer_that_yields_leads_again_after_the_yield_period() {
    let mut net = Net::started(1);
    assert!(net
        .run_until(secs(3.0), |n| n.leaders() == vec![0])
        .is_some());
    net.yield_at(0);
    net.run_for(Duration::from_millis(1));
    let cfg = net.cfg.clone();
    // Out of elections for 6 thresholds, then it proposes and wins.
    net.run_for(cfg.leader_alive_threshold * 5);
    assert!(net.leaders().is_empty());
    let took = net
        .run_until(secs(5.0), |n| n.leaders() == vec![0])
        .expect("leads again");
    assert!(took <= cfg.leader_alive_threshold * 2 + cfg.leader_election_duration + SLACK);
}

#[test]
fn yield_when_not_leading_is_ignored() {
    let mut net = Net::started(3);
    assert!(net
        .run_until(secs(5.0), |n| n.leaders() == vec![0])
        .is_some());
    net.yield_at(2);
    net.run_for(secs(3.0));
    assert_eq!(net.leaders(), vec![0]);
    let c2 = net.peers[2].m.as_ref().unwrap().counters();
    assert_eq!((c2.yields, c2.yields_ignored), (0, 1));
}

fn machine(now: Instant) -> LeaderElection {
    LeaderElection::new(test_config(), "ch", pki_of(5), test_signer(), now, 77).unwrap()
}

fn msg(i: usize, seq: u64, is_declaration: bool) -> Input {
    Input::Message(LeadershipMsg {
        pki_id: pki_of(i),
        timestamp: PeerTime {
            inc_num: 9,
            seq_num: seq,
        },
        is_declaration,
    })
}

#[test]
fn replays_outsiders_and_own_messages_are_dropped() {
    let now = Instant::now();
    let mut m = machine(now);
    let view = vec![pki_of(1), pki_of(2)];
    m.handle(now, &view, Input::Tick);
    m.handle(now, &view, msg(1, 3, false));
    m.handle(now, &view, msg(1, 3, false));
    m.handle(now, &view, msg(1, 2, true));
    m.handle(now, &view, msg(7, 1, true));
    m.handle(now, &view, msg(5, 1, true));
    let c = m.counters();
    assert_eq!(c.proposals_received, 1);
    assert_eq!(c.declarations_received, 0);
    assert_eq!(c.stale, 2);
    assert_eq!(c.not_in_view, 1);
    assert_eq!(c.from_self, 1);
}

#[test]
fn a_declaration_during_startup_makes_a_follower_at_once() {
    let now = Instant::now();
    let mut m = machine(now);
    let view = vec![pki_of(8)];
    m.handle(now, &view, Input::Tick);
    // A higher PKI-ID leads already: we follow, without proposing.
    let out = m.handle(now + Duration::from_millis(20), &view, msg(8, 1, true));
    assert!(out.is_empty(), "{out:?}");
    // Declarations keep coming: no election, ever.
    let mut t = now;
    for seq in 2..40 {
        t += Duration::from_millis(250);
        let out = m.handle(t, &view, msg(8, seq, true));
        assert!(out.is_empty(), "{out:?}");
    }
    assert_eq!(m.counters().proposals_sent, 0);
    assert!(!m.is_leader());
    // Silence for a threshold: it proposes.
    let out = m.handle(t + Duration::from_millis(501), &view, Input::Tick);
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0], Output::Gossip(_)));
}

#[test]
fn a_lower_proposal_keeps_us_from_leading() {
    let now = Instant::now();
    let mut m = machine(now);
    let view = vec![pki_of(3), pki_of(9)];
    m.handle(now, &view, Input::Tick);
    // Stable view at the first sample: proposal.
    let out = m.handle(now + Duration::from_millis(100), &view, Input::Tick);
    assert_eq!(out.len(), 1);
    let Output::Gossip(p) = &out[0] else { panic!() };
    assert!(!decode(p).is_declaration);
    m.handle(now + Duration::from_millis(150), &view, msg(9, 1, false));
    m.handle(now + Duration::from_millis(160), &view, msg(3, 1, false));
    let out = m.handle(now + Duration::from_millis(601), &view, Input::Tick);
    assert!(out.is_empty(), "{out:?}");
    assert!(!m.is_leader());
}

#[test]
fn messages_are_signed_leadership_messages_with_rising_timestamps() {
    let now = Instant::now();
    let mut m = machine(now);
    let view: Vec<_> = Vec::new();
    let mut sent = Vec::new();
    let mut t = now;
    while t < now + Duration::from_secs(3) {
        for o in m.handle(t, &view, Input::Tick) {
            if let Output::Gossip(s) = o {
                sent.push(s);
            }
        }
        t += Duration::from_millis(10);
    }
    assert!(m.is_leader(), "alone, it leads");
    assert!(sent.len() >= 5);
    let mut last = PeerTime::default();
    for (k, s) in sent.iter().enumerate() {
        assert_eq!(tag_of(&s.msg), Tag::ChanAndOrg);
        assert_eq!(s.msg.channel, b"ch");
        assert!(s.is_signed());
        let d = decode(s);
        assert_eq!(d.pki_id, pki_of(5));
        assert_eq!(d.timestamp.inc_num, 77);
        assert!(d.timestamp.is_newer_than(&last));
        last = d.timestamp;
        assert_eq!(d.is_declaration, k > 0, "one proposal, then declarations");
    }
}

#[test]
fn signing_failure_is_counted_and_sends_nothing() {
    let now = Instant::now();
    let signer: Box<dyn crate::discovery::Signer> =
        Box::new(|_: &[u8]| Err(crate::crypto::CryptoError::Host("down".into())));
    let mut m = LeaderElection::new(test_config(), "ch", pki_of(1), signer, now, 1).unwrap();
    let mut t = now;
    while t < now + Duration::from_secs(2) {
        for o in m.handle(t, &[], Input::Tick) {
            assert!(!matches!(o, Output::Gossip(_)));
        }
        t += Duration::from_millis(10);
    }
    assert!(m.counters().sign_failed >= 2);
}

#[test]
fn bad_config_and_self_are_refused() {
    let now = Instant::now();
    let mut cfg = test_config();
    cfg.leader_alive_threshold = Duration::ZERO;
    let e = LeaderElection::new(cfg, "ch", pki_of(1), test_signer(), now, 1).err();
    assert!(
        matches!(e, Some(ElectionError::InvalidConfig(s)) if s.contains("leaderAliveThreshold"))
    );
    let e = LeaderElection::new(test_config(), "ch", PkiId(vec![]), test_signer(), now, 1).err();
    assert!(matches!(e, Some(ElectionError::InvalidSelf(_))));
    let e = LeaderElection::new(test_config(), "", pki_of(1), test_signer(), now, 1).err();
    assert!(matches!(e, Some(ElectionError::InvalidSelf(_))));
}

#[test]
fn modes_from_config() {
    let mut g = GossipConfig {
        use_leader_election: false,
        org_leader: true,
        ..GossipConfig::default()
    };
    assert_eq!(LeadershipMode::of(&g), Ok(LeadershipMode::Static));
    g.org_leader = false;
    assert_eq!(LeadershipMode::of(&g), Ok(LeadershipMode::Never));
    g.use_leader_election = true;
    assert_eq!(LeadershipMode::of(&g), Ok(LeadershipMode::Election));
    g.org_leader = true;
    assert!(LeadershipMode::of(&g).is_err());
}

use crate::types::PkiId;
