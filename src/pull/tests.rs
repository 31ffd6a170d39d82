//! One engine against another, wired in memory: full rounds, filters, timing windows,
//! nonce misuse, a Byzantine responder and on-demand rounds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::*;
use crate::message::{data_msg, hello_msg, Content, SignedGossipMessage, Tag};
use crate::proto::gossip::{Envelope, GossipMessage, PullMsgType};
use crate::types::PkiId;

pub(super) fn pki(b: u8) -> PkiId {
    PkiId(vec![b; 32])
}

pub(super) fn cfg() -> PullConfig {
    PullConfig {
        channel: b"ch".to_vec(),
        msg_type: PullMsgType::BlockMsg,
        pull_interval: Duration::from_secs(4),
        pull_peer_num: 3,
        digest_wait_time: Duration::from_secs(1),
        request_wait_time: Duration::from_millis(1500),
        response_wait_time: Duration::from_secs(2),
        max_incoming_nonces: 64,
        max_digests_per_message: 4096,
        max_on_demand_rounds: 2,
    }
}

/// A block envelope; a "forged" one carries a signature the policy refuses.
pub(super) fn block(seq: u64) -> Envelope {
    SignedGossipMessage::unsigned(data_msg(b"ch", seq, format!("block {seq}").into_bytes()))
        .envelope
}

fn forged(seq: u64) -> Envelope {
    let mut e = block(seq);
    e.signature = b"forged".to_vec();
    e
}

/// Blocks at or above `height` are wanted; `hidden` digests are never offered to `hidden_from`;
/// a block is valid unless its signature says "forged".
#[derive(Default)]
pub(super) struct TestPolicy {
    pub height: u64,
    pub hidden_from: Option<PkiId>,
    pub hidden: BTreeSet<Digest>,
    pub validated: usize,
}

impl PullPolicy for TestPolicy {
    fn ingress(&self, digest: &[u8]) -> bool {
        parse_block_digest(digest).is_some_and(|s| s >= self.height)
    }
    fn egress(&self, peer: &PkiId, digest: &[u8]) -> bool {
        !(self.hidden_from.as_ref() == Some(peer) && self.hidden.contains(digest))
    }
    fn digest_of(&self, item: &Envelope) -> Option<Digest> {
        block_envelope_digest(item)
    }
    fn validate(&mut self, _from: &PkiId, _d: &[u8], item: &Envelope) -> Result<(), String> {
        self.validated += 1;
        if item.signature == b"forged" {
            return Err("bad orderer signature".into());
        }
        Ok(())
    }
}

pub(super) fn engine_with(
    seed: u64,
    now: Instant,
    seqs: impl IntoIterator<Item = u64>,
) -> PullEngine {
    let mut e = PullEngine::new(cfg(), now, seed).unwrap();
    for s in seqs {
        assert!(e.add_item(block_digest(s), block(s)));
    }
    e
}

/// The messages sent, as (to, msg).
fn sends(out: &[Output]) -> Vec<(PkiId, GossipMessage)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } => Some((to.clone(), msg.clone())),
            _ => None,
        })
        .collect()
}

fn received(out: &[Output]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            Output::Received { digest, .. } => parse_block_digest(digest),
            _ => None,
        })
        .collect()
}

/// Delivers `msg` from `from` to `e` as the driver would.
fn deliver(
    e: &mut PullEngine,
    now: Instant,
    from: &PkiId,
    msg: &GossipMessage,
    pol: &mut TestPolicy,
) -> Vec<Output> {
    let input = pull_input(from.clone(), msg, PullMsgType::BlockMsg, b"ch").unwrap();
    e.handle(now, input, pol)
}

fn only_send(out: &[Output]) -> (PkiId, GossipMessage) {
    let s = sends(out);
    assert_eq!(s.len(), 1, "expected one message, got {out:?}");
    s.into_iter().next().unwrap()
}

fn tick(e: &mut PullEngine, now: Instant, peers: Vec<PkiId>, pol: &mut TestPolicy) -> Vec<Output> {
    e.handle(now, Input::Tick { peers }, pol)
}

fn digests_of(msg: &GossipMessage) -> Vec<u64> {
    let ds = match &msg.content {
        Some(Content::DataDig(d)) => &d.digests,
        Some(Content::DataReq(r)) => &r.digests,
        other => panic!("no digests in {other:?}"),
    };
    let mut v: Vec<u64> = ds.iter().map(|d| parse_block_digest(d).unwrap()).collect();
    v.sort();
    v
}

#[test]
fn full_round_between_two_engines() {
    let t0 = Instant::now();
    let (a, b) = (pki(1), pki(2));
    let mut ea = engine_with(1, t0, []);
    let mut eb = engine_with(2, t0, 1..=5);
    let (mut pa, mut pb) = (TestPolicy::default(), TestPolicy::default());

    // Nothing before the pull interval.
    assert!(!ea.round_due(t0 + Duration::from_secs(3)));
    assert!(tick(
        &mut ea,
        t0 + Duration::from_secs(3),
        vec![b.clone()],
        &mut pa
    )
    .is_empty());
    assert_eq!(ea.next_deadline(), t0 + Duration::from_secs(4));

    let t = t0 + Duration::from_secs(4);
    assert!(ea.round_due(t));
    let (to, hello) = only_send(&tick(&mut ea, t, vec![b.clone()], &mut pa));
    assert_eq!(to, b);
    assert_eq!(hello.channel, b"ch");
    assert_eq!(hello.tag, Tag::ChanAndOrg as i32);
    assert_eq!(
        hello.nonce, 0,
        "the pull nonce lives inside the pull message"
    );
    let Some(Content::Hello(h)) = &hello.content else {
        panic!("not a hello: {hello:?}");
    };
    assert_eq!(h.msg_type, PullMsgType::BlockMsg as i32);
    let nonce = h.nonce;

    let (to, dig) = only_send(&deliver(&mut eb, t, &a, &hello, &mut pb));
    assert_eq!(to, a);
    assert_eq!(digests_of(&dig), vec![1, 2, 3, 4, 5]);
    // Digests travel as decimal ASCII.
    let Some(Content::DataDig(d)) = &dig.content else {
        unreachable!()
    };
    assert!(d.digests.contains(&b"3".to_vec()));
    assert_eq!(d.nonce, nonce);

    // Every greeted peer answered: the request goes out at once.
    let t1 = t + Duration::from_millis(10);
    let (to, req) = only_send(&deliver(&mut ea, t1, &b, &dig, &mut pa));
    assert_eq!(to, b);
    assert_eq!(digests_of(&req), vec![1, 2, 3, 4, 5]);

    let (to, upd) = only_send(&deliver(&mut eb, t1, &a, &req, &mut pb));
    assert_eq!(to, a);
    let Some(Content::DataUpdate(u)) = &upd.content else {
        unreachable!()
    };
    assert_eq!(u.nonce, nonce);
    assert_eq!(u.data.len(), 5);

    let out = deliver(&mut ea, t1, &b, &upd, &mut pa);
    assert_eq!(received(&out), vec![1, 2, 3, 4, 5]);
    assert_eq!(pa.validated, 5);
    for s in 1..=5 {
        assert_eq!(ea.item(&block_digest(s)), Some(&block(s)));
    }
    // Everyone asked has answered: the round is over.
    assert_eq!(ea.rounds_in_progress(), 0);
    assert_eq!(ea.counters().items_received, 5);
    assert_eq!(eb.counters().updates_sent, 1);
}

#[test]
fn requests_wait_for_the_digest_window_and_late_digests_are_ignored() {
    let t0 = Instant::now();
    let (a, b, c) = (pki(1), pki(2), pki(3));
    let mut ea = engine_with(1, t0, []);
    let mut eb = engine_with(2, t0, [1, 2]);
    let mut ec = engine_with(3, t0, [2, 3]);
    let mut pa = TestPolicy::default();
    let mut pb = TestPolicy::default();
    let t = t0 + Duration::from_secs(4);
    let hellos = sends(&tick(&mut ea, t, vec![b.clone(), c.clone()], &mut pa));
    assert_eq!(hellos.len(), 2);
    let hello_to = |p: &PkiId| hellos.iter().find(|(to, _)| to == p).unwrap().1.clone();

    let (_, dig_b) = only_send(&deliver(&mut eb, t, &a, &hello_to(&b), &mut pb));
    let (_, dig_c) = only_send(&deliver(&mut ec, t, &a, &hello_to(&c), &mut pb));
    // Only b answered so far: keep waiting for c.
    assert!(deliver(&mut ea, t + Duration::from_millis(100), &b, &dig_b, &mut pa).is_empty());
    assert_eq!(ea.next_deadline(), t + Duration::from_secs(1));
    assert!(tick(&mut ea, t + Duration::from_millis(999), vec![], &mut pa).is_empty());
    // The window closes: b is asked for what it offered.
    let (to, req) = only_send(&tick(&mut ea, t + Duration::from_secs(1), vec![], &mut pa));
    assert_eq!(to, b);
    assert_eq!(digests_of(&req), vec![1, 2]);
    // c's digest arrives late: ignored and counted.
    assert!(deliver(
        &mut ea,
        t + Duration::from_millis(1100),
        &c,
        &dig_c,
        &mut pa
    )
    .is_empty());
    assert_eq!(ea.counters().digest_late, 1);
}

#[test]
fn each_missing_item_is_requested_from_one_owner() {
    let t0 = Instant::now();
    let (a, b, c) = (pki(1), pki(2), pki(3));
    let mut ea = engine_with(1, t0, [1]);
    let mut eb = engine_with(2, t0, 1..=6);
    let mut ec = engine_with(3, t0, 1..=6);
    let (mut pa, mut pb) = (TestPolicy::default(), TestPolicy::default());
    let t = t0 + Duration::from_secs(4);
    let hellos = sends(&tick(&mut ea, t, vec![b.clone(), c.clone()], &mut pa));
    let mut reqs = Vec::new();
    for (to, hello) in hellos {
        let responder = if to == b { &mut eb } else { &mut ec };
        let (_, dig) = only_send(&deliver(responder, t, &a, &hello, &mut pb));
        reqs.extend(sends(&deliver(&mut ea, t, &to, &dig, &mut pa)));
    }
    let mut asked: Vec<u64> = reqs.iter().flat_map(|(_, r)| digests_of(r)).collect();
    asked.sort();
    // Block 1 is held; 2..=6 asked once each, split over the owners.
    assert_eq!(asked, vec![2, 3, 4, 5, 6]);
}

#[test]
fn ingress_and_egress_filters() {
    let t0 = Instant::now();
    let (a, b) = (pki(1), pki(2));
    let mut ea = engine_with(1, t0, []);
    let mut eb = engine_with(2, t0, 1..=6);
    // a's ledger is at height 3; b never shows block 5 to a.
    let mut pa = TestPolicy {
        height: 3,
        ..Default::default()
    };
    let mut pb = TestPolicy {
        hidden_from: Some(a.clone()),
        hidden: [block_digest(5)].into(),
        ..Default::default()
    };
    let t = t0 + Duration::from_secs(4);
    let (_, hello) = only_send(&tick(&mut ea, t, vec![b.clone()], &mut pa));
    let (_, dig) = only_send(&deliver(&mut eb, t, &a, &hello, &mut pb));
    assert_eq!(digests_of(&dig), vec![1, 2, 3, 4, 6]);
    assert_eq!(eb.counters().digests_filtered_egress, 1);
    let (_, req) = only_send(&deliver(&mut ea, t, &b, &dig, &mut pa));
    assert_eq!(digests_of(&req), vec![3, 4, 6]);
    assert_eq!(ea.counters().digests_filtered_ingress, 2);

    // A request for the hidden block (forged by hand) is not served either.
    let Some(Content::DataReq(r)) = &req.content else {
        unreachable!()
    };
    let mut sneaky = r.clone();
    sneaky.digests.push(block_digest(5));
    let msg =
        crate::message::data_req_msg(b"ch", sneaky.nonce, PullMsgType::BlockMsg, sneaky.digests);
    let (_, upd) = only_send(&deliver(&mut eb, t, &a, &msg, &mut pb));
    let Some(Content::DataUpdate(u)) = &upd.content else {
        unreachable!()
    };
    let mut got: Vec<_> = u
        .data
        .iter()
        .map(|e| block_envelope_digest(e).unwrap())
        .collect();
    got.sort();
    assert_eq!(got, vec![block_digest(3), block_digest(4), block_digest(6)]);

    // A responder with nothing to offer stays silent.
    let mut empty = engine_with(9, t0, []);
    let h = hello_msg(b"ch", 77, PullMsgType::BlockMsg);
    assert!(deliver(&mut empty, t, &a, &h, &mut pb).is_empty());
    // So does one whose every item is filtered for the requester.
    let mut eh = engine_with(8, t0, [5]);
    assert!(deliver(&mut eh, t, &a, &h, &mut pb).is_empty());
}

#[test]
fn late_and_unsolicited_updates_are_ignored() {
    let t0 = Instant::now();
    let (a, b) = (pki(1), pki(2));
    let mut ea = engine_with(1, t0, []);
    let mut eb = engine_with(2, t0, 1..=3);
    let (mut pa, mut pb) = (TestPolicy::default(), TestPolicy::default());
    let t = t0 + Duration::from_secs(4);
    let (_, hello) = only_send(&tick(&mut ea, t, vec![b.clone()], &mut pa));
    let Some(Content::Hello(h)) = &hello.content else {
        unreachable!()
    };
    let nonce = h.nonce;

    // An update before any request: unsolicited.
    let early =
        crate::message::data_update_msg(b"ch", nonce, PullMsgType::BlockMsg, vec![block(1)]);
    assert!(deliver(&mut ea, t, &b, &early, &mut pa).is_empty());
    assert_eq!(ea.counters().update_unsolicited, 1);

    let (_, dig) = only_send(&deliver(&mut eb, t, &a, &hello, &mut pb));
    let (_, req) = only_send(&deliver(&mut ea, t, &b, &dig, &mut pa));
    let (_, upd) = only_send(&deliver(&mut eb, t, &a, &req, &mut pb));
    // The update arrives after responseWaitTime: the round is over.
    let late = t + Duration::from_secs(2);
    assert!(deliver(&mut ea, late, &b, &upd, &mut pa).is_empty());
    assert_eq!(ea.counters().update_late, 1);
    assert_eq!(ea.item_count(), 0);
    assert_eq!(pa.validated, 0);
    assert_eq!(ea.rounds_in_progress(), 0);
}

#[test]
fn a_byzantine_responder_loses_its_whole_update_and_others_still_count() {
    let t0 = Instant::now();
    let (a, bad, good) = (pki(1), pki(2), pki(3));
    let mut ea = engine_with(1, t0, []);
    // The bad peer holds 1..=4 with block 2 forged; the good one holds 5..=8.
    let mut eb = engine_with(2, t0, []);
    for s in 1..=4 {
        let env = if s == 2 { forged(s) } else { block(s) };
        eb.add_item(block_digest(s), env);
    }
    let mut eg = engine_with(3, t0, 5..=8);
    let (mut pa, mut pr) = (TestPolicy::default(), TestPolicy::default());
    let t = t0 + Duration::from_secs(4);
    let hellos = sends(&tick(&mut ea, t, vec![bad.clone(), good.clone()], &mut pa));
    let mut updates = Vec::new();
    for (to, hello) in hellos {
        let responder = if to == bad { &mut eb } else { &mut eg };
        let (_, dig) = only_send(&deliver(responder, t, &a, &hello, &mut pr));
        for (to, req) in sends(&deliver(&mut ea, t, &to, &dig, &mut pa)) {
            let responder = if to == bad { &mut eb } else { &mut eg };
            let (_, upd) = only_send(&deliver(responder, t, &a, &req, &mut pr));
            updates.push((to, upd));
        }
    }
    assert_eq!(updates.len(), 2);
    let mut all = Vec::new();
    for (from, upd) in &updates {
        all.extend(deliver(&mut ea, t, from, upd, &mut pa));
    }
    assert!(all.iter().any(|o| matches!(o,
        Output::UpdateRejected { from, reason } if *from == bad && reason.contains("item 2"))));
    let mut got = received(&all);
    got.sort();
    assert_eq!(
        got,
        vec![5, 6, 7, 8],
        "nothing from the bad update, all of the good one"
    );
    assert!(
        !ea.contains(&block_digest(1)),
        "valid items of a bad update are not taken"
    );
    assert_eq!(ea.counters().updates_rejected, 1);
    assert_eq!(ea.counters().bad_items, 1);

    // A malformed item aborts an update just the same.
    let mut ea2 = engine_with(4, t0, []);
    let (_, hello) = only_send(&tick(&mut ea2, t, vec![good.clone()], &mut pa));
    let mut eg2 = engine_with(5, t0, [1, 2]);
    let (_, dig) = only_send(&deliver(&mut eg2, t, &a, &hello, &mut pr));
    let (_, req) = only_send(&deliver(&mut ea2, t, &good, &dig, &mut pa));
    let Some(Content::DataReq(r)) = &req.content else {
        unreachable!()
    };
    let junk = Envelope {
        payload: vec![0xff, 0x01].into(),
        signature: vec![],
        secret_envelope: None,
    };
    let upd = crate::message::data_update_msg(
        b"ch",
        r.nonce,
        PullMsgType::BlockMsg,
        vec![block(1), junk, block(2)],
    );
    let out = deliver(&mut ea2, t, &good, &upd, &mut pa);
    assert!(matches!(out.as_slice(), [Output::UpdateRejected { .. }]));
    assert_eq!(ea2.item_count(), 0);
}

#[test]
fn unrequested_items_in_an_update_are_ignored() {
    let t0 = Instant::now();
    let (a, b) = (pki(1), pki(2));
    let mut ea = engine_with(1, t0, []);
    let mut eb = engine_with(2, t0, [1]);
    let (mut pa, mut pb) = (TestPolicy::default(), TestPolicy::default());
    let t = t0 + Duration::from_secs(4);
    let (_, hello) = only_send(&tick(&mut ea, t, vec![b.clone()], &mut pa));
    let (_, dig) = only_send(&deliver(&mut eb, t, &a, &hello, &mut pb));
    let (_, req) = only_send(&deliver(&mut ea, t, &b, &dig, &mut pa));
    let Some(Content::DataReq(r)) = &req.content else {
        unreachable!()
    };
    let upd = crate::message::data_update_msg(
        b"ch",
        r.nonce,
        PullMsgType::BlockMsg,
        vec![block(1), block(99), block(1)],
    );
    let out = deliver(&mut ea, t, &b, &upd, &mut pa);
    assert_eq!(received(&out), vec![1]);
    assert!(!ea.contains(&block_digest(99)));
    assert_eq!(ea.counters().unrequested_items, 1);
    // A second update on the same nonce is not taken.
    assert!(deliver(&mut ea, t, &b, &upd, &mut pa).is_empty());
}

#[test]
fn responder_nonce_rules() {
    let t0 = Instant::now();
    let (a, b, c) = (pki(1), pki(2), pki(3));
    let mut eb = engine_with(2, t0, [1, 2]);
    let mut pb = TestPolicy::default();
    let hello = hello_msg(b"ch", 42, PullMsgType::BlockMsg);
    let req = |ds: &[u64]| {
        crate::message::data_req_msg(
            b"ch",
            42,
            PullMsgType::BlockMsg,
            ds.iter().map(|s| block_digest(*s)).collect(),
        )
    };
    // A request without a hello first: unknown nonce, no answer.
    assert!(deliver(&mut eb, t0, &a, &req(&[1]), &mut pb).is_empty());
    assert_eq!(eb.counters().request_unknown_nonce, 1);

    assert_eq!(sends(&deliver(&mut eb, t0, &a, &hello, &mut pb)).len(), 1);
    // The same hello again: ignored.
    assert!(deliver(&mut eb, t0, &a, &hello, &mut pb).is_empty());
    assert_eq!(eb.counters().hello_duplicate, 1);
    // Another peer reusing the nonce: ignored, and it may not use a's nonce.
    assert!(deliver(&mut eb, t0, &c, &hello, &mut pb).is_empty());
    assert_eq!(eb.counters().hello_nonce_conflict, 1);
    assert!(deliver(&mut eb, t0, &c, &req(&[1]), &mut pb).is_empty());
    assert_eq!(eb.counters().request_wrong_peer, 1);
    // a's request is answered once.
    assert_eq!(
        sends(&deliver(&mut eb, t0, &a, &req(&[1, 2, 3]), &mut pb)).len(),
        1
    );
    assert!(deliver(&mut eb, t0, &a, &req(&[1]), &mut pb).is_empty());
    assert_eq!(eb.counters().request_duplicate, 1);

    // A nonce is honoured for requestWaitTime only.
    let hello2 = hello_msg(b"ch", 43, PullMsgType::BlockMsg);
    assert_eq!(sends(&deliver(&mut eb, t0, &b, &hello2, &mut pb)).len(), 1);
    let req2 =
        crate::message::data_req_msg(b"ch", 43, PullMsgType::BlockMsg, vec![block_digest(1)]);
    let after = t0 + Duration::from_millis(1500);
    assert!(deliver(&mut eb, after, &b, &req2, &mut pb).is_empty());
    assert_eq!(eb.counters().request_unknown_nonce, 2);
    let _ = b;
}

#[test]
fn initiator_nonce_rules() {
    let t0 = Instant::now();
    let (a, b, c) = (pki(1), pki(2), pki(3));
    let mut ea = engine_with(1, t0, []);
    let mut eb = engine_with(2, t0, [1]);
    let (mut pa, mut pb) = (TestPolicy::default(), TestPolicy::default());
    // A digest nobody asked for.
    let stray =
        crate::message::data_dig_msg(b"ch", 7, PullMsgType::BlockMsg, vec![block_digest(1)]);
    assert!(deliver(&mut ea, t0, &b, &stray, &mut pa).is_empty());
    assert_eq!(ea.counters().digest_unknown_nonce, 1);
    let stray_upd =
        crate::message::data_update_msg(b"ch", 7, PullMsgType::BlockMsg, vec![block(1)]);
    assert!(deliver(&mut ea, t0, &b, &stray_upd, &mut pa).is_empty());
    assert_eq!(ea.counters().update_unknown_nonce, 1);

    let t = t0 + Duration::from_secs(4);
    let (_, hello) = only_send(&tick(&mut ea, t, vec![b.clone()], &mut pa));
    let (_, dig) = only_send(&deliver(&mut eb, t, &a, &hello, &mut pb));
    // c replays b's digest: refused; then b's own is taken.
    assert!(deliver(&mut ea, t, &c, &dig, &mut pa).is_empty());
    assert_eq!(ea.counters().digest_wrong_peer, 1);
    let (_, req) = only_send(&deliver(&mut ea, t, &b, &dig, &mut pa));
    let (_, upd) = only_send(&deliver(&mut eb, t, &a, &req, &mut pb));
    assert!(deliver(&mut ea, t, &c, &upd, &mut pa).is_empty());
    assert_eq!(ea.counters().update_wrong_peer, 1);
    assert_eq!(received(&deliver(&mut ea, t, &b, &upd, &mut pa)), vec![1]);
    // The round ended; a replay of its digest is late, not unknown.
    assert!(deliver(&mut ea, t, &b, &dig, &mut pa).is_empty());
    assert_eq!(ea.counters().digest_late, 1);
}

#[test]
fn pull_now_starts_at_once_and_honours_the_hint() {
    let t0 = Instant::now();
    let (a, b) = (pki(1), pki(2));
    let mut ea = engine_with(1, t0, []);
    let mut eb = engine_with(2, t0, 1..=5);
    let (mut pa, mut pb) = (TestPolicy::default(), TestPolicy::default());
    let t = t0 + Duration::from_millis(10);
    assert!(!ea.round_due(t));
    let out = ea.pull_now(
        t,
        vec![b.clone()],
        vec![block_digest(3), block_digest(4)],
        &mut pa,
    );
    let (_, hello) = only_send(&out);
    let (_, dig) = only_send(&deliver(&mut eb, t, &a, &hello, &mut pb));
    let (_, req) = only_send(&deliver(&mut ea, t, &b, &dig, &mut pa));
    assert_eq!(digests_of(&req), vec![3, 4]);
    let (_, upd) = only_send(&deliver(&mut eb, t, &a, &req, &mut pb));
    assert_eq!(
        received(&deliver(&mut ea, t, &b, &upd, &mut pa)),
        vec![3, 4]
    );
    assert_eq!(ea.counters().on_demand_rounds, 1);

    // At most max_on_demand_rounds run at once.
    for _ in 0..2 {
        assert_eq!(
            sends(&ea.pull_now(t, vec![b.clone()], vec![], &mut pa)).len(),
            1
        );
    }
    assert!(ea.pull_now(t, vec![b.clone()], vec![], &mut pa).is_empty());
    assert_eq!(ea.counters().on_demand_refused, 1);
    // Unanswered rounds end after the digest window.
    tick(&mut ea, t + Duration::from_secs(1), vec![], &mut pa);
    assert_eq!(ea.rounds_in_progress(), 0);
    assert_eq!(
        sends(&ea.pull_now(t + Duration::from_secs(1), vec![b.clone()], vec![], &mut pa)).len(),
        1
    );
}

#[test]
fn a_scheduled_round_supersedes_the_unfinished_one() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.pull_interval = Duration::from_millis(500);
    let mut ea = PullEngine::new(c, t0, 1).unwrap();
    let mut pa = TestPolicy::default();
    let peers: Vec<PkiId> = (2..=6).map(pki).collect();
    let first = sends(&tick(
        &mut ea,
        t0 + Duration::from_millis(500),
        peers.clone(),
        &mut pa,
    ));
    assert_eq!(first.len(), 3, "pullPeerNum peers greeted, each once");
    let distinct: BTreeSet<_> = first.iter().map(|(to, _)| to.clone()).collect();
    assert_eq!(distinct.len(), 3);
    let second = sends(&tick(
        &mut ea,
        t0 + Duration::from_millis(1000),
        peers,
        &mut pa,
    ));
    assert_eq!(second.len(), 3);
    assert_eq!(ea.rounds_in_progress(), 1);
    assert_eq!(ea.counters().rounds_superseded, 1);
    // A digest for the superseded round is late.
    let (to, hello) = &first[0];
    let Some(Content::Hello(h)) = &hello.content else {
        unreachable!()
    };
    let dig =
        crate::message::data_dig_msg(b"ch", h.nonce, PullMsgType::BlockMsg, vec![block_digest(1)]);
    assert!(deliver(&mut ea, t0 + Duration::from_millis(1001), to, &dig, &mut pa).is_empty());
    assert_eq!(ea.counters().digest_late, 1);
}

#[test]
fn no_peers_no_round_and_duplicates_collapse() {
    let t0 = Instant::now();
    let mut ea = engine_with(1, t0, []);
    let mut pa = TestPolicy::default();
    let t = t0 + Duration::from_secs(4);
    assert!(tick(&mut ea, t, vec![], &mut pa).is_empty());
    assert_eq!(ea.rounds_in_progress(), 0);
    assert!(!ea.round_due(t), "the schedule moves on even without peers");
    let t2 = t + Duration::from_secs(4);
    let out = tick(
        &mut ea,
        t2,
        vec![pki(2), pki(2), PkiId(vec![]), pki(2)],
        &mut pa,
    );
    assert_eq!(sends(&out).len(), 1);
}

#[test]
fn oversized_digest_lists_are_cut() {
    let t0 = Instant::now();
    let (a, b) = (pki(1), pki(2));
    let mut small = cfg();
    small.max_digests_per_message = 8;
    let mut ea = PullEngine::new(small.clone(), t0, 1).unwrap();
    for s in 1..=3 {
        ea.add_item(block_digest(s), block(s));
    }
    let mut eb = PullEngine::new(small, t0, 2).unwrap();
    for s in 1..=20 {
        eb.add_item(block_digest(s), block(s));
    }
    let (mut pa, mut pb) = (TestPolicy::default(), TestPolicy::default());
    let t = t0 + Duration::from_secs(4);
    let (_, hello) = only_send(&tick(&mut ea, t, vec![b.clone()], &mut pa));
    // The responder offers all it holds; the initiator takes 8 of the 17 it lacks.
    let (_, dig) = only_send(&deliver(&mut eb, t, &a, &hello, &mut pb));
    assert_eq!(digests_of(&dig).len(), 20);
    let (_, req) = only_send(&deliver(&mut ea, t, &b, &dig, &mut pa));
    let first = digests_of(&req);
    assert_eq!(first.len(), 8);
    assert!(
        first.iter().all(|s| *s > 3),
        "held items do not use up the cap"
    );
    assert!(ea.counters().digests_truncated > 0);
    let (_, upd) = only_send(&deliver(&mut eb, t, &a, &req, &mut pb));
    assert_eq!(received(&deliver(&mut ea, t, &b, &upd, &mut pa)).len(), 8);
    // The next round takes the next 8: a long list is read over rounds.
    let t2 = t + Duration::from_secs(4);
    let (_, hello) = only_send(&tick(&mut ea, t2, vec![b.clone()], &mut pa));
    let (_, dig) = only_send(&deliver(&mut eb, t2, &a, &hello, &mut pb));
    let (_, req) = only_send(&deliver(&mut ea, t2, &b, &dig, &mut pa));
    let second = digests_of(&req);
    assert_eq!(second.len(), 8);
    assert!(second.iter().all(|s| !first.contains(s) && *s > 3));
    // A responder reads at most 8 digests of a request too.
    let h = hello_msg(b"ch", 5, PullMsgType::BlockMsg);
    deliver(&mut eb, t, &a, &h, &mut pb);
    let all: Vec<Digest> = (1..=20).map(block_digest).collect();
    let big = crate::message::data_req_msg(b"ch", 5, PullMsgType::BlockMsg, all);
    let (_, upd) = only_send(&deliver(&mut eb, t, &a, &big, &mut pb));
    let Some(Content::DataUpdate(u)) = &upd.content else {
        unreachable!()
    };
    assert_eq!(u.data.len(), 8);
}

#[test]
fn hello_flood_is_bounded() {
    let t0 = Instant::now();
    let mut eb = engine_with(2, t0, [1]);
    let mut pb = TestPolicy::default();
    for n in 1..=70u64 {
        let h = hello_msg(b"ch", n, PullMsgType::BlockMsg);
        deliver(&mut eb, t0, &pki(1), &h, &mut pb);
    }
    assert_eq!(eb.counters().hello_dropped_full, 6);
    // Once the nonces lapse, hellos are answered again.
    let h = hello_msg(b"ch", 1000, PullMsgType::BlockMsg);
    let later = t0 + Duration::from_secs(2);
    assert_eq!(
        sends(&deliver(&mut eb, later, &pki(1), &h, &mut pb)).len(),
        1
    );
}

#[test]
fn pull_input_checks_type_and_channel() {
    let from = pki(1);
    let h = hello_msg(b"ch", 5, PullMsgType::BlockMsg);
    assert_eq!(
        pull_input(from.clone(), &h, PullMsgType::BlockMsg, b"ch"),
        Ok(Input::Hello {
            from: from.clone(),
            nonce: 5
        })
    );
    assert_eq!(
        pull_input(from.clone(), &h, PullMsgType::BlockMsg, b"other"),
        Err(PullInputError::WrongChannel)
    );
    assert!(matches!(
        pull_input(from.clone(), &h, PullMsgType::IdentityMsg, b""),
        Err(PullInputError::WrongType { .. })
    ));
    let id_hello = hello_msg(b"", 5, PullMsgType::IdentityMsg);
    assert_eq!(id_hello.tag, Tag::Empty as i32);
    assert!(pull_input(from.clone(), &id_hello, PullMsgType::IdentityMsg, b"").is_ok());
    let not_pull = data_msg(b"ch", 1, vec![]);
    assert_eq!(
        pull_input(from, &not_pull, PullMsgType::BlockMsg, b"ch"),
        Err(PullInputError::NotPull)
    );
}

#[test]
fn config_validation() {
    let g = crate::config::GossipConfig::default();
    let c = PullConfig::blocks(b"ch", &g);
    assert_eq!(c.pull_peer_num, 3);
    assert_eq!(c.request_wait_time, Duration::from_millis(1500));
    assert!(c.validate().is_ok());
    assert_eq!(
        PullConfig::blocks(b"", &g).validate(),
        Err(PullConfigError::NoChannel)
    );
    assert!(PullConfig::identities(&g).validate().is_ok());
    let mut bad = c.clone();
    bad.digest_wait_time = Duration::ZERO;
    assert_eq!(bad.validate(), Err(PullConfigError::Zero("digestWaitTime")));
    bad = c.clone();
    bad.msg_type = PullMsgType::Undefined;
    assert!(PullEngine::new(bad, Instant::now(), 0).is_err());
}

#[test]
fn digests_of_blocks_and_identities() {
    assert_eq!(block_digest(100), b"100".to_vec());
    assert_eq!(parse_block_digest(b"100"), Some(100));
    assert_eq!(parse_block_digest(b"0"), Some(0));
    for bad in [&b""[..], b"007", b"-1", b"1a", b"99999999999999999999999"] {
        assert_eq!(parse_block_digest(bad), None, "{bad:?}");
    }
    assert_eq!(block_envelope_digest(&block(12)), Some(b"12".to_vec()));
    let id = SignedGossipMessage::unsigned(crate::message::peer_identity_msg(&pki(7), b"cert"));
    assert_eq!(identity_envelope_digest(&id.envelope), Some(vec![7; 32]));
    assert_eq!(identity_envelope_digest(&block(1)), None);
    assert_eq!(block_envelope_digest(&id.envelope), None);
}
