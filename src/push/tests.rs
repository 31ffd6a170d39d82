//! Unit tests of the emitter (batching, iterations, bound) and the router (rules per kind).

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::message::{
    alive_msg, data_msg, hello_msg, leadership_msg, new_msg, sign_secret_internal_endpoint,
    state_info_msg, Content, SignedGossipMessage, Tag,
};
use crate::proto::gossip::{Empty, PeerTime, Properties, PullMsgType};
use crate::types::PkiId;

const CH: &[u8] = b"ch1";

fn pki(name: &str) -> PkiId {
    PkiId(name.as_bytes().to_vec())
}

fn me() -> LocalPeer {
    LocalPeer {
        pki_id: pki("me"),
        org: "A".into(),
        endpoint: "me:7051".into(),
        channels: BTreeSet::from([CH.to_vec()]),
    }
}

fn peer(name: &str, org: &str, external: bool) -> RoutePeer {
    RoutePeer {
        pki_id: pki(name),
        org: org.into(),
        endpoint: if external {
            format!("{name}:7051")
        } else {
            String::new()
        },
        internal_endpoint: format!("{name}.internal:7051"),
        channels: Default::default(),
    }
}

/// `n` peers of org A in CH with a StateInfo: they may get blocks.
fn eligible(n: usize) -> Vec<RoutePeer> {
    (0..n)
        .map(|i| peer(&format!("a{i:03}"), "A", true).in_channel(CH, true))
        .collect()
}

fn ts() -> PeerTime {
    PeerTime {
        inc_num: 1,
        seq_num: 1,
    }
}

fn block(seq: u64) -> SignedGossipMessage {
    SignedGossipMessage::unsigned(data_msg(CH, seq, vec![seq as u8; 8]))
}

/// A message to push; with an exclude list it is relayed (the sender is excluded).
fn add(msg: SignedGossipMessage, exclude: &[&str]) -> Input {
    Input::Add {
        msg,
        exclude: exclude.iter().map(|n| pki(n)).collect(),
        relayed: !exclude.is_empty(),
    }
}

fn emitter(cfg: PushConfig) -> PushEmitter {
    PushEmitter::new(cfg, 7).unwrap()
}

fn fabric_cfg() -> PushConfig {
    PushConfig {
        policy: PushPolicy::Fabric,
        ..PushConfig::default()
    }
}

fn params(ppn: usize, policy: PushPolicy) -> RouteParams {
    RouteParams {
        propagate_peer_num: ppn,
        policy,
    }
}

fn names(targets: &[crate::types::RemotePeer]) -> BTreeSet<String> {
    targets
        .iter()
        .map(|t| String::from_utf8(t.pki_id.0.clone()).unwrap())
        .collect()
}

fn route_of(
    msg: &SignedGossipMessage,
    exclude: &[&str],
    me: &LocalPeer,
    peers: &[RoutePeer],
    p: RouteParams,
    seed: u64,
) -> Result<Route, RouteError> {
    let ex: Vec<PkiId> = exclude.iter().map(|n| pki(n)).collect();
    route(
        &msg.msg,
        &ex,
        !ex.is_empty(),
        RoutingSnapshot::new(me, peers),
        &p,
        &mut StdRng::seed_from_u64(seed),
    )
}

// ---- emitter -------------------------------------------------------------------------

#[test]
fn an_idle_emitter_sends_at_once_and_batches_the_rest_of_the_window() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(fabric_cfg());
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    // Idle: the first message goes out at once and opens a 10 ms window.
    let out = e.handle(t0, add(block(1), &[]), snap);
    assert_eq!(out.len(), 1);
    let Output::Send { to, envelope } = &out[0];
    assert_eq!(to.len(), 3);
    assert_eq!(**envelope, block(1).envelope);
    assert_eq!(e.counters().flush_leading, 1);
    assert_eq!(e.next_deadline(), None);
    // Within the window: queued until the window closes.
    assert!(e.handle(t0 + ms(3), add(block(2), &[]), snap).is_empty());
    assert_eq!(e.next_deadline(), Some(t0 + ms(10)));
    assert!(e.handle(t0 + ms(9), Input::Tick, snap).is_empty());
    let out = e.handle(t0 + ms(10), Input::Tick, snap);
    assert_eq!(out.len(), 1);
    let Output::Send { envelope, .. } = &out[0];
    assert_eq!(**envelope, block(2).envelope);
    assert_eq!(e.queued(), 0);
    assert_eq!(e.next_deadline(), None);
    assert_eq!(e.counters().flush_by_latency, 1);
    assert_eq!(e.counters().sent, 6);
    // Nothing left: later ticks send nothing; a window later the emitter is idle again.
    assert!(e.handle(t0 + ms(30), Input::Tick, snap).is_empty());
    assert_eq!(e.handle(t0 + ms(30), add(block(3), &[]), snap).len(), 1);
    assert_eq!(e.counters().flush_leading, 2);
}

#[test]
fn the_adaptive_policy_sends_every_message_at_once() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(PushConfig::default());
    let t0 = Instant::now();
    // Inside the window a Fabric emitter would hold these; none waits here.
    for seq in 1..=4 {
        let at = t0 + Duration::from_millis(seq);
        let out = e.handle(at, add(block(seq), &[]), snap);
        assert_eq!(out.len(), 1, "block {seq} sent at once");
        assert_eq!(e.queued(), 0);
        assert_eq!(e.next_deadline(), None);
    }
    assert_eq!(e.counters().flush_leading, 4);
    assert_eq!(e.counters().flush_by_latency, 0);
}

#[test]
fn idle_emitter_has_no_deadline_and_sends_nothing() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(fabric_cfg());
    assert_eq!(e.next_deadline(), None);
    assert!(e.handle(Instant::now(), Input::Tick, snap).is_empty());
    assert_eq!(e.counters(), &PushCounters::default());
}

#[test]
fn flushes_when_burst_size_is_reached() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(fabric_cfg());
    let t0 = Instant::now();
    // The first goes out at once; the next ten fill the window's batch.
    assert_eq!(e.handle(t0, add(block(0), &[]), snap).len(), 1);
    for seq in 1..10 {
        assert!(e.handle(t0, add(block(seq), &[]), snap).is_empty());
    }
    let out = e.handle(t0, add(block(10), &[]), snap);
    assert_eq!(out.len(), 10, "one send per queued message");
    assert_eq!(e.counters().flush_by_size, 1);
    assert_eq!(e.counters().flush_by_latency, 0);
    assert_eq!(e.queued(), 0);
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn each_message_takes_part_in_propagate_iterations_flushes() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(PushConfig {
        propagate_iterations: 2,
        ..fabric_cfg()
    });
    let t0 = Instant::now();
    assert_eq!(e.handle(t0, add(block(1), &[]), snap).len(), 1);
    assert_eq!(e.queued(), 1);
    assert_eq!(e.next_deadline(), Some(t0 + Duration::from_millis(10)));
    let t1 = t0 + Duration::from_millis(10);
    assert_eq!(e.handle(t1, Input::Tick, snap).len(), 1);
    assert_eq!(e.queued(), 0);
    assert!(e
        .handle(t1 + Duration::from_millis(10), Input::Tick, snap)
        .is_empty());
}

#[test]
fn zero_propagate_iterations_disables_push() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(PushConfig {
        propagate_iterations: 0,
        ..fabric_cfg()
    });
    let t0 = Instant::now();
    for seq in 0..20 {
        assert!(e.handle(t0, add(block(seq), &[]), snap).is_empty());
    }
    assert!(e
        .handle(t0 + Duration::from_secs(1), Input::Tick, snap)
        .is_empty());
    assert_eq!(e.queued(), 0);
    assert_eq!(e.next_deadline(), None);
    assert_eq!(e.counters().disabled, 20);
    assert_eq!(e.counters().sent, 0);
}

#[test]
fn full_queue_drops_the_oldest() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    // Ten iterations keep every message queued across flushes, so the bound is hit.
    let mut e = emitter(PushConfig {
        propagate_iterations: 10,
        max_propagation_burst_size: 2,
        max_queue: 3,
        ..fabric_cfg()
    });
    let t0 = Instant::now();
    for seq in 1..=5 {
        e.handle(t0, add(block(seq), &[]), snap);
    }
    assert_eq!(e.queued(), 3);
    assert_eq!(e.counters().overflow_dropped, 2);
    let out = e.handle(t0 + Duration::from_millis(10), Input::Tick, snap);
    let sent: Vec<_> = out
        .iter()
        .map(|Output::Send { envelope, .. }| (**envelope).clone())
        .collect();
    let expected: Vec<_> = (3..=5).map(|s| block(s).envelope).collect();
    assert_eq!(sent, expected, "blocks 1 and 2 were the oldest");
}

#[test]
fn invalid_config_is_refused() {
    for cfg in [
        PushConfig {
            max_propagation_burst_latency: Duration::ZERO,
            ..PushConfig::default()
        },
        PushConfig {
            max_propagation_burst_size: 0,
            ..PushConfig::default()
        },
        PushConfig {
            max_queue: 5,
            ..PushConfig::default()
        },
    ] {
        assert!(matches!(
            PushEmitter::new(cfg, 1),
            Err(PushError::InvalidConfig(_))
        ));
    }
}

#[test]
fn config_from_gossip_reads_the_core_yaml_keys() {
    let g = crate::config::GossipConfig {
        max_propagation_burst_latency: Duration::from_millis(25),
        max_propagation_burst_size: 4,
        propagate_iterations: 2,
        propagate_peer_num: 5,
        ..Default::default()
    };
    let c = PushConfig::from_gossip(&g, PushPolicy::Fabric);
    assert_eq!(c.max_propagation_burst_latency, Duration::from_millis(25));
    assert_eq!(c.max_propagation_burst_size, 4);
    assert_eq!(c.propagate_iterations, 2);
    assert_eq!(c.propagate_peer_num, 5);
    assert_eq!(c.policy, PushPolicy::Fabric);
    c.validate().unwrap();
}

#[test]
fn unroutable_and_foreign_channel_messages_are_counted() {
    let (me, peers) = (me(), eligible(5));
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(fabric_cfg());
    let t0 = Instant::now();
    let other = SignedGossipMessage::unsigned(data_msg(b"other", 1, vec![1]));
    let hello = SignedGossipMessage::unsigned(hello_msg(CH, 5, PullMsgType::BlockMsg));
    e.handle(t0, add(other, &[]), snap);
    e.handle(t0, add(hello, &[]), snap);
    let out = e.handle(t0 + Duration::from_millis(10), Input::Tick, snap);
    assert!(out.is_empty());
    assert_eq!(e.counters().not_in_channel, 1);
    assert_eq!(e.counters().unroutable, 1);
    assert_eq!(e.queued(), 0);
}

#[test]
fn no_eligible_peer_is_counted() {
    let me = me();
    let peers = vec![peer("b1", "B", true).in_channel(CH, true)];
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(fabric_cfg());
    let t0 = Instant::now();
    e.handle(t0, add(block(1), &[]), snap);
    assert!(e
        .handle(t0 + Duration::from_millis(10), Input::Tick, snap)
        .is_empty());
    assert_eq!(e.counters().no_targets, 1);
}

// ---- router --------------------------------------------------------------------------

/// A view with every kind of peer a block must avoid.
fn mixed_view() -> Vec<RoutePeer> {
    let mut v = eligible(4);
    v.push(peer("a-no-si", "A", true).in_channel(CH, false));
    v.push(peer("a-other-ch", "A", true).in_channel(b"ch2", true));
    v.push(peer("b-in-ch", "B", true).in_channel(CH, true));
    v.push(peer("me", "A", true).in_channel(CH, true)); // our own entry: ignored
    v
}

#[test]
fn blocks_stay_in_my_org_and_channel() {
    let me = me();
    let peers = mixed_view();
    let want: BTreeSet<String> = (0..4).map(|i| format!("a{i:03}")).collect();
    for policy in [PushPolicy::Fabric, PushPolicy::Adaptive] {
        for seed in 0..20 {
            let r = route_of(&block(1), &[], &me, &peers, params(10, policy), seed).unwrap();
            assert_eq!(r.kind, RouteKind::Block);
            assert!(r.stripped.is_empty());
            assert_eq!(names(&r.full), want, "{policy:?}");
        }
    }
}

#[test]
fn block_fanout_follows_the_policy() {
    let me = me();
    let peers = eligible(100);
    let fab = route_of(
        &block(1),
        &[],
        &me,
        &peers,
        params(3, PushPolicy::Fabric),
        1,
    )
    .unwrap();
    assert_eq!(fab.full.len(), 3);
    let ada = route_of(
        &block(1),
        &[],
        &me,
        &peers,
        params(3, PushPolicy::Adaptive),
        1,
    )
    .unwrap();
    // ⌈ln 100⌉ + 2 = 7, all distinct, the first the ring successor of "me".
    assert_eq!(ada.full.len(), 7);
    assert_eq!(names(&ada.full).len(), 7);
    let all: Vec<&RoutePeer> = peers.iter().collect();
    let succ = router::ring_successor(&me.pki_id, &all).unwrap();
    assert_eq!(ada.full[0].pki_id, succ.pki_id);
    // Targets carry the internal endpoint for dialing.
    assert_eq!(ada.full[0].endpoint, succ.target().endpoint);
    assert!(ada.full[0].endpoint.ends_with(".internal:7051"));
}

#[test]
fn ring_successor_is_the_next_pki_id_wrapping_around() {
    let peers: Vec<RoutePeer> = ["b", "d", "f"].iter().map(|n| peer(n, "A", true)).collect();
    let all: Vec<&RoutePeer> = peers.iter().collect();
    let succ = |me: &str| {
        router::ring_successor(&pki(me), &all)
            .map(|p| p.pki_id.clone())
            .unwrap()
    };
    assert_eq!(succ("a"), pki("b"));
    assert_eq!(succ("b"), pki("d"));
    assert_eq!(succ("e"), pki("f"));
    assert_eq!(succ("f"), pki("b"));
    assert_eq!(succ("z"), pki("b"));
    assert!(router::ring_successor(&pki("a"), &[]).is_none());
}

#[test]
fn blocks_never_go_back_to_the_sender() {
    let me = me();
    let peers = eligible(12);
    let all: Vec<&RoutePeer> = peers.iter().collect();
    let succ = router::ring_successor(&me.pki_id, &all).unwrap();
    let succ_name = String::from_utf8(succ.pki_id.0.clone()).unwrap();
    for policy in [PushPolicy::Fabric, PushPolicy::Adaptive] {
        for seed in 0..50 {
            for sender in ["a000", "a005", succ_name.as_str()] {
                let r =
                    route_of(&block(1), &[sender], &me, &peers, params(3, policy), seed).unwrap();
                assert!(!names(&r.full).contains(sender), "{policy:?} seed {seed}");
                assert!(!names(&r.full).contains("me"));
            }
        }
    }
    // The excluded successor's slot is not refilled: it has the block already.
    let r = route_of(
        &block(1),
        &[&succ_name],
        &me,
        &peers,
        params(3, PushPolicy::Adaptive),
        3,
    )
    .unwrap();
    assert_eq!(
        r.full.len(),
        PushPolicy::Adaptive.block_fanout(3, 12, true) - 1
    );
}

#[test]
fn small_view_gets_everyone_but_the_sender() {
    let me = me();
    let peers = eligible(3);
    for policy in [PushPolicy::Fabric, PushPolicy::Adaptive] {
        let r = route_of(&block(1), &["a001"], &me, &peers, params(3, policy), 9).unwrap();
        assert_eq!(
            names(&r.full),
            BTreeSet::from(["a000".to_string(), "a002".to_string()])
        );
    }
}

#[test]
fn blocks_of_unjoined_channels_are_refused() {
    let me = me();
    let peers = eligible(3);
    let msg = SignedGossipMessage::unsigned(data_msg(b"ch2", 1, vec![]));
    let err = route_of(&msg, &[], &me, &peers, params(3, PushPolicy::Fabric), 1).unwrap_err();
    assert_eq!(err, RouteError::NotInChannel("ch2".into()));
}

#[test]
fn leadership_goes_to_every_eligible_peer_but_the_originator() {
    let me = me();
    let mut peers = mixed_view();
    peers.extend(eligible(10).into_iter().skip(4));
    let msg = SignedGossipMessage::unsigned(leadership_msg(CH, &pki("a002"), ts(), true));
    let r = route_of(
        &msg,
        &["a007"],
        &me,
        &peers,
        params(3, PushPolicy::Fabric),
        1,
    )
    .unwrap();
    assert_eq!(r.kind, RouteKind::Leadership);
    let want: BTreeSet<String> = (0..10)
        .filter(|i| *i != 2 && *i != 7)
        .map(|i| format!("a{i:03}"))
        .collect();
    assert_eq!(names(&r.full), want);
}

fn state_info(of: &str, channel: &[u8]) -> SignedGossipMessage {
    SignedGossipMessage::unsigned(state_info_msg(
        &pki(of),
        channel,
        ts(),
        Properties::default(),
    ))
}

/// Peers of A and B in CH (one B without StateInfo), a C peer outside it, the originators.
fn state_info_view() -> Vec<RoutePeer> {
    vec![
        peer("a1", "A", true).in_channel(CH, true),
        peer("a2", "A", false).in_channel(CH, false),
        peer("b1", "B", true).in_channel(CH, true),
        peer("b2", "B", true).in_channel(CH, false),
        peer("c1", "C", true),
        peer("a-ext", "A", true).in_channel(CH, true),
        peer("a-int", "A", false).in_channel(CH, true),
    ]
}

#[test]
fn state_info_of_a_peer_with_external_endpoint_goes_to_channel_members() {
    let me = me();
    let peers = state_info_view();
    let r = route_of(
        &state_info("a-ext", CH),
        &["b2"],
        &me,
        &peers,
        params(10, PushPolicy::Fabric),
        1,
    )
    .unwrap();
    assert_eq!(r.kind, RouteKind::StateInfo);
    let want: BTreeSet<String> = ["a1", "a2", "b1", "a-int"].map(String::from).into();
    assert_eq!(names(&r.full), want, "no C, no originator, no sender");
    // Our own StateInfo (we have an external endpoint) too.
    let own = route_of(
        &state_info("me", CH),
        &[],
        &me,
        &peers,
        params(10, PushPolicy::Fabric),
        1,
    )
    .unwrap();
    assert!(names(&own.full).contains("b1"));
    assert!(!names(&own.full).contains("me"));
}

#[test]
fn state_info_without_external_endpoint_stays_in_my_org() {
    let me = me();
    let peers = state_info_view();
    let r = route_of(
        &state_info("a-int", CH),
        &[],
        &me,
        &peers,
        params(10, PushPolicy::Fabric),
        1,
    )
    .unwrap();
    let want: BTreeSet<String> = ["a1", "a2", "a-ext"].map(String::from).into();
    assert_eq!(names(&r.full), want);
    // A MAC of a channel we did not join: my org only too.
    let r = route_of(
        &state_info("a-ext", b"unknown"),
        &[],
        &me,
        &peers,
        params(10, PushPolicy::Fabric),
        1,
    )
    .unwrap();
    let want: BTreeSet<String> = ["a1", "a2", "a-int"].map(String::from).into();
    assert_eq!(names(&r.full), want);
}

#[test]
fn state_info_fanout_is_propagate_peer_num() {
    let me = me();
    let peers = eligible(30);
    let r = route_of(
        &state_info("me", CH),
        &[],
        &me,
        &peers,
        params(3, PushPolicy::Adaptive),
        4,
    )
    .unwrap();
    assert_eq!(r.full.len(), 3);
}

fn alive_of(name: &str, endpoint: &str) -> SignedGossipMessage {
    let mut m = SignedGossipMessage::unsigned(alive_msg(endpoint, b"", &pki(name), ts(), None));
    sign_secret_internal_endpoint(&mut m.envelope, &format!("{name}.internal:7051"), |_| {
        Ok(vec![1])
    })
    .unwrap();
    m
}

fn alive_view() -> Vec<RoutePeer> {
    vec![
        peer("a1", "A", true),
        peer("a2", "A", false),
        peer("b1", "B", true),
        peer("b2", "B", false),
        peer("c1", "C", true),
        peer("a-orig", "A", true),
        peer("a-hidden", "A", false),
        peer("b-orig", "B", true),
    ]
}

#[test]
fn alive_of_my_org_goes_where_it_may_be_disclosed() {
    let me = me();
    let peers = alive_view();
    let p = params(10, PushPolicy::Fabric);
    let r = route_of(&alive_of("a-orig", "a-orig:7051"), &[], &me, &peers, p, 1).unwrap();
    assert_eq!(r.kind, RouteKind::Alive);
    let full: BTreeSet<String> = ["a1", "a2", "a-hidden"].map(String::from).into();
    let stripped: BTreeSet<String> = ["b1", "c1", "b-orig"].map(String::from).into();
    assert_eq!(names(&r.full), full);
    assert_eq!(
        names(&r.stripped),
        stripped,
        "foreign peers need an external endpoint"
    );
    // Without an external endpoint it stays in my org.
    let r = route_of(&alive_of("a-hidden", ""), &[], &me, &peers, p, 1).unwrap();
    let full: BTreeSet<String> = ["a1", "a2", "a-orig"].map(String::from).into();
    assert_eq!(names(&r.full), full);
    assert!(r.stripped.is_empty());
}

#[test]
fn foreign_alive_goes_to_my_org_or_its_own_and_never_without_endpoint() {
    let me = me();
    let peers = alive_view();
    let p = params(10, PushPolicy::Fabric);
    let r = route_of(
        &alive_of("b-orig", "b-orig:7051"),
        &["b1"],
        &me,
        &peers,
        p,
        1,
    )
    .unwrap();
    let full: BTreeSet<String> = ["a1", "a-orig"].map(String::from).into();
    assert_eq!(
        names(&r.full),
        full,
        "no A peer without an external endpoint"
    );
    assert!(
        r.stripped.is_empty(),
        "b1 is the sender, b2 has no endpoint, no C"
    );
    // An alive of an org we cannot tell goes nowhere.
    let r = route_of(&alive_of("stranger", "x:1"), &[], &me, &peers, p, 1).unwrap();
    assert!(r.is_empty());
}

#[test]
fn alive_secret_is_stripped_for_other_orgs_only() {
    let me = me();
    let peers = alive_view();
    let snap = RoutingSnapshot::new(&me, &peers);
    let mut e = emitter(PushConfig {
        propagate_peer_num: 10,
        ..fabric_cfg()
    });
    let t0 = Instant::now();
    let alive = alive_of("a-orig", "a-orig:7051");
    let out = e.handle(t0, add(alive.clone(), &[]), snap);
    assert_eq!(out.len(), 2);
    for Output::Send { to, envelope } in &out {
        let foreign = to.iter().any(|t| t.pki_id.0[0] != b'a');
        if foreign {
            assert!(to.iter().all(|t| t.pki_id.0[0] != b'a'));
            assert!(envelope.secret_envelope.is_none());
            assert_eq!(envelope.payload, alive.envelope.payload);
        } else {
            assert_eq!(
                **envelope, alive.envelope,
                "same-org peers get the original"
            );
        }
    }
    assert_eq!(e.counters().secret_stripped, 3);
}

#[test]
fn org_restricted_messages_stay_in_my_org() {
    let me = me();
    let peers = alive_view();
    let msg =
        SignedGossipMessage::unsigned(new_msg(Tag::OrgOnly, &[], 0, Content::Empty(Empty {})));
    let r = route_of(
        &msg,
        &["a1"],
        &me,
        &peers,
        params(10, PushPolicy::Fabric),
        1,
    )
    .unwrap();
    assert_eq!(r.kind, RouteKind::Org);
    let want: BTreeSet<String> = ["a2", "a-orig", "a-hidden"].map(String::from).into();
    assert_eq!(names(&r.full), want);
    // Unrestricted messages of kinds push does not carry are refused.
    let msg = SignedGossipMessage::unsigned(new_msg(Tag::Empty, &[], 0, Content::Empty(Empty {})));
    let err = route_of(&msg, &[], &me, &peers, params(3, PushPolicy::Fabric), 1).unwrap_err();
    assert_eq!(err, RouteError::NotPushed("empty"));
}

#[test]
fn never_to_originator_or_sender_whatever_the_seed() {
    let me = me();
    let mut peers = alive_view();
    peers.extend(state_info_view().into_iter().map(|p| {
        let n = String::from_utf8(p.pki_id.0.clone()).unwrap();
        RoutePeer {
            pki_id: pki(&format!("{n}-s")),
            ..p
        }
    }));
    let msgs = [
        (alive_of("a-orig", "a-orig:7051"), "a-orig"),
        (alive_of("b-orig", "b-orig:7051"), "b-orig"),
        (state_info("a1", CH), "a1"),
        (
            SignedGossipMessage::unsigned(leadership_msg(CH, &pki("a1-s"), ts(), false)),
            "a1-s",
        ),
    ];
    for (msg, originator) in &msgs {
        for seed in 0..40 {
            let r = route_of(
                msg,
                &["a2"],
                &me,
                &peers,
                params(3, PushPolicy::Adaptive),
                seed,
            )
            .unwrap();
            let all: HashSet<_> = names(&r.full).union(&names(&r.stripped)).cloned().collect();
            assert!(!all.contains(*originator));
            assert!(!all.contains("a2"));
            assert!(!all.contains("me"));
        }
    }
}

#[test]
fn routing_is_deterministic_for_a_seed() {
    let me = me();
    let peers = eligible(200);
    let p = params(3, PushPolicy::Adaptive);
    let a = route_of(&block(1), &[], &me, &peers, p, 42).unwrap();
    let b = route_of(&block(1), &[], &me, &peers, p, 42).unwrap();
    let c = route_of(&block(1), &[], &me, &peers, p, 43).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}
