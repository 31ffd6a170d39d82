//! State transfer machine: pipelining over several peers, the lag grace, timeouts and
//! retries, bad and short responses, the window bound on a huge gap, and serving limits.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::transfer::{ServePlan, StateRequest, StateTransfer, TransferConfig};
use super::{Payload, Rejected, Source};
use crate::crypto::CryptoError;
use crate::types::PkiId;

const CH: &str = "ch";

fn peer(n: u8) -> PkiId {
    PkiId(vec![n; 4])
}

fn cfg() -> TransferConfig {
    TransferConfig {
        enabled: true,
        batch_size: 10,
        response_timeout: Duration::from_secs(3),
        max_retries: 3,
        check_interval: Duration::from_secs(10),
        window: 40,
        gossip_window: 20,
        lag_grace: Duration::from_secs(1),
        max_in_flight: 4,
    }
}

fn good(seq: u64) -> Payload {
    Payload::new(
        seq,
        format!("block-{seq}").into_bytes(),
        vec![],
        Source::StateTransfer,
    )
}

fn bad(seq: u64) -> Payload {
    Payload::new(seq, b"forged".to_vec(), vec![], Source::StateTransfer)
}

fn range(r: &StateRequest) -> (u64, u64) {
    (r.start, r.end)
}

/// A sink that verifies like the provider: `block-<seq>` passes, anything else fails;
/// accepted seqs are recorded.
fn sink(taken: &mut Vec<u64>) -> impl FnMut(Payload) -> Result<(), Rejected> + '_ {
    move |p: Payload| {
        if *p.block != *format!("block-{}", p.seq).as_bytes() {
            return Err(Rejected::Invalid {
                seq: p.seq,
                error: CryptoError::InvalidBlock("forged".into()),
            });
        }
        if taken.contains(&p.seq) {
            return Err(Rejected::Duplicate { seq: p.seq });
        }
        taken.push(p.seq);
        Ok(())
    }
}

fn answer(r: &StateRequest) -> Vec<Payload> {
    (r.start..=r.end).map(good).collect()
}

#[test]
fn a_far_height_starts_at_once_and_pipelines_over_peers() {
    let t0 = Instant::now();
    let mut st = StateTransfer::new(CH, 0, cfg(), 1);
    let reqs = st.set_peer_heights(t0, [(peer(1), 1000), (peer(2), 1000)]);
    assert_eq!(
        reqs.iter().map(range).collect::<Vec<_>>(),
        vec![(0, 9), (10, 19), (20, 29), (30, 39)]
    );
    // Spread: two each.
    assert_eq!(reqs.iter().filter(|r| r.to == peer(1)).count(), 2);
    assert_eq!(reqs.iter().filter(|r| r.to == peer(2)).count(), 2);
    assert_eq!(st.in_flight(), 4);
    // Nonces are distinct and nonzero.
    let mut n: Vec<u64> = reqs.iter().map(|r| r.nonce).collect();
    n.dedup();
    assert_eq!(n.len(), 4);
    assert!(n.iter().all(|&x| x != 0));
    // Nothing more until the ledger moves: the window is full.
    assert!(st.tick(t0).is_empty());
    let mut taken = Vec::new();
    let more = st.on_response(
        t0,
        &reqs[0].to,
        reqs[0].nonce,
        answer(&reqs[0]),
        sink(&mut taken),
    );
    assert!(more.is_empty(), "the window is still full: {more:?}");
    assert_eq!(taken, (0..10).collect::<Vec<_>>());
    // Half a batch of room: nothing yet (whole batches only).
    assert!(st.set_height(t0, 5).is_empty());
    let more = st.set_height(t0, 10);
    assert_eq!(more.iter().map(range).collect::<Vec<_>>(), vec![(40, 49)]);
    assert_eq!(st.counters().blocks_received, 10);
    assert_eq!(st.counters().rounds, 1);
}

#[test]
fn a_small_lag_is_left_to_gossip_for_the_grace() {
    let t0 = Instant::now();
    let mut st = StateTransfer::new(CH, 100, cfg(), 2);
    assert!(st.set_peer_heights(t0, [(peer(1), 105)]).is_empty());
    assert_eq!(st.next_deadline(), Some(t0 + Duration::from_secs(1)));
    assert!(st.tick(t0 + Duration::from_millis(500)).is_empty());
    // Gossip closed part of it; the rest is asked for after the grace.
    assert!(st
        .set_height(t0 + Duration::from_millis(600), 102)
        .is_empty());
    let reqs = st.tick(t0 + Duration::from_secs(1));
    assert_eq!(reqs.iter().map(range).collect::<Vec<_>>(), vec![(102, 104)]);
    // Caught up: no round, no deadline.
    let mut st = StateTransfer::new(CH, 100, cfg(), 2);
    assert!(st.set_peer_heights(t0, [(peer(1), 100)]).is_empty());
    assert_eq!(st.next_deadline(), None);
}

#[test]
fn disabled_never_requests() {
    let t0 = Instant::now();
    let mut st = StateTransfer::new(
        CH,
        0,
        TransferConfig {
            enabled: false,
            ..cfg()
        },
        3,
    );
    assert!(st.set_peer_heights(t0, [(peer(1), 1000)]).is_empty());
    assert!(st.tick(t0 + Duration::from_secs(60)).is_empty());
    assert_eq!(st.next_deadline(), None);
    assert_eq!(st.counters().requests_sent, 0);
}

#[test]
fn a_timeout_asks_another_peer_and_too_many_give_the_round_up() {
    let t0 = Instant::now();
    let c = TransferConfig {
        max_in_flight: 1,
        ..cfg()
    };
    let mut st = StateTransfer::new(CH, 0, c, 4);
    let r1 = st.set_peer_heights(t0, [(peer(1), 5), (peer(2), 5)]);
    let r1 = st
        .tick(t0 + Duration::from_secs(1))
        .into_iter()
        .chain(r1)
        .collect::<Vec<_>>();
    assert_eq!(r1.len(), 1);
    assert_eq!(range(&r1[0]), (0, 4));
    assert_eq!(st.next_deadline(), Some(t0 + Duration::from_secs(4)));
    let mut now = t0 + Duration::from_secs(4);
    let r2 = st.tick(now);
    assert_eq!(r2.len(), 1);
    assert_eq!(range(&r2[0]), (0, 4));
    assert_ne!(r2[0].to, r1[0].to, "the peer that timed out is avoided");
    assert_ne!(r2[0].nonce, r1[0].nonce);
    // A late response to the first request is not ours any more.
    let mut taken = Vec::new();
    st.on_response(
        now,
        &r1[0].to,
        r1[0].nonce,
        answer(&r1[0]),
        sink(&mut taken),
    );
    assert!(taken.is_empty());
    assert_eq!(st.counters().unsolicited, 1);
    // Two more timeouts (both peers failed: they are reused), then the round is given up.
    for _ in 0..2 {
        now += Duration::from_secs(3);
        assert_eq!(st.tick(now).len(), 1);
    }
    now += Duration::from_secs(3);
    assert!(st.tick(now).is_empty());
    assert_eq!(st.counters().timeouts, 4);
    assert_eq!(st.counters().retries, 3);
    assert_eq!(st.counters().gave_up, 1);
    assert_eq!(st.in_flight(), 0);
    // The next round waits for the check interval, then starts over.
    assert_eq!(st.next_deadline(), Some(now + Duration::from_secs(10)));
    assert!(st.tick(now + Duration::from_secs(9)).is_empty());
    let r = st.tick(now + Duration::from_secs(10));
    assert_eq!(r.iter().map(range).collect::<Vec<_>>(), vec![(0, 4)]);
    assert_eq!(st.counters().rounds, 2);
}

#[test]
fn a_bad_block_is_dropped_and_the_range_asked_of_another_peer() {
    let t0 = Instant::now();
    let c = TransferConfig {
        max_in_flight: 1,
        ..cfg()
    };
    let mut st = StateTransfer::new(CH, 0, c, 5);
    let r = st.set_peer_heights(t0, [(peer(1), 100), (peer(2), 100)]);
    assert_eq!(range(&r[0]), (0, 9));
    let liar = r[0].to.clone();
    let mut payloads = answer(&r[0]);
    payloads[4] = bad(4);
    // And a block nobody asked for.
    payloads.push(good(50));
    let mut taken = Vec::new();
    let r2 = st.on_response(t0, &liar, r[0].nonce, payloads, sink(&mut taken));
    assert_eq!(taken, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
    assert_eq!(st.counters().invalid_blocks, 1);
    assert_eq!(st.counters().out_of_range, 1);
    // Only the hole is asked again, of the other peer.
    assert_eq!(r2.iter().map(range).collect::<Vec<_>>(), vec![(4, 4)]);
    assert_ne!(r2[0].to, liar);
    let mut taken = Vec::new();
    st.on_response(t0, &r2[0].to, r2[0].nonce, answer(&r2[0]), sink(&mut taken));
    assert_eq!(taken, vec![4]);
}

#[test]
fn a_short_or_empty_response_sends_the_rest_elsewhere() {
    let t0 = Instant::now();
    let c = TransferConfig {
        max_in_flight: 1,
        ..cfg()
    };
    let mut st = StateTransfer::new(CH, 0, c, 6);
    let r = st.set_peer_heights(t0, [(peer(1), 30), (peer(2), 30)]);
    let first = r[0].to.clone();
    let mut taken = Vec::new();
    let r2 = st.on_response(
        t0,
        &first,
        r[0].nonce,
        (0..3).map(good).collect(),
        sink(&mut taken),
    );
    assert_eq!(r2.iter().map(range).collect::<Vec<_>>(), vec![(3, 9)]);
    assert_ne!(r2[0].to, first);
    let r3 = st.on_response(t0, &r2[0].to, r2[0].nonce, vec![], sink(&mut taken));
    assert_eq!(st.counters().empty_responses, 1);
    assert_eq!(r3.iter().map(range).collect::<Vec<_>>(), vec![(3, 9)]);
    assert_eq!(st.counters().retries, 2);
}

#[test]
fn a_response_from_another_peer_or_nonce_is_ignored() {
    let t0 = Instant::now();
    let mut st = StateTransfer::new(CH, 0, cfg(), 7);
    let r = st.set_peer_heights(t0, [(peer(1), 100)]);
    let mut taken = Vec::new();
    st.on_response(t0, &peer(9), r[0].nonce, answer(&r[0]), sink(&mut taken));
    st.on_response(
        t0,
        &peer(1),
        r[0].nonce ^ 1,
        answer(&r[0]),
        sink(&mut taken),
    );
    assert!(taken.is_empty());
    assert_eq!(st.counters().unsolicited, 2);
    assert_eq!(st.in_flight(), 4);
}

#[test]
fn only_peers_whose_height_covers_a_range_are_asked() {
    let t0 = Instant::now();
    let mut st = StateTransfer::new(CH, 0, cfg(), 8);
    let r = st.set_peer_heights(t0, [(peer(1), 25), (peer(2), 12)]);
    assert_eq!(
        r.iter().map(range).collect::<Vec<_>>(),
        vec![(0, 9), (10, 19), (20, 24)]
    );
    // Blocks 10.. exist only at peer 1.
    assert!(r[1..].iter().all(|x| x.to == peer(1)));
}

/// A gap of a million blocks with random loss, bad blocks and timeouts: everything is
/// received exactly once in the end, and nothing is ever asked beyond the window.
#[test]
fn a_huge_gap_catches_up_within_the_window() {
    let mut rng = StdRng::seed_from_u64(42);
    let t0 = Instant::now();
    let mut now = t0;
    let target = 1_000_000u64;
    let c = cfg();
    let window = c.window;
    let mut st = StateTransfer::new(CH, 0, c, 9);
    let mut pending: Vec<StateRequest> =
        st.set_peer_heights(now, (1..=5).map(|i| (peer(i), target)));
    let mut height = 0u64;
    let mut buffered = std::collections::BTreeSet::new();
    let mut steps = 0u64;
    while height < target {
        steps += 1;
        assert!(steps < 2_000_000, "no progress at height {height}");
        for r in &pending {
            assert!(r.end < height + window, "asked {r:?} at height {height}");
        }
        if pending.is_empty() {
            now += Duration::from_secs(3);
            pending = st.tick(now);
            continue;
        }
        let r = pending.swap_remove(rng.gen_range(0..pending.len()));
        let fate = rng.gen_range(0..100);
        let mut payloads = answer(&r);
        if fate < 2 {
            continue; // lost: times out later
        } else if fate < 4 {
            let i = rng.gen_range(0..payloads.len());
            payloads[i] = bad(payloads[i].seq);
        } else if fate < 6 {
            payloads.truncate(rng.gen_range(0..payloads.len()));
        }
        let mut fresh = Vec::new();
        let h = height;
        let held = &buffered;
        let more = st.on_response(now, &r.to, r.nonce, payloads, |p| {
            if p.seq < h {
                return Err(Rejected::Old {
                    seq: p.seq,
                    height: h,
                });
            }
            if held.contains(&p.seq) {
                return Err(Rejected::Duplicate { seq: p.seq });
            }
            sink(&mut fresh)(p)
        });
        pending.extend(more);
        for s in fresh {
            assert!(buffered.insert(s), "block {s} buffered twice");
            assert!(s < height + window);
        }
        while buffered.remove(&height) {
            height += 1;
        }
        pending.extend(st.set_height(now, height));
        assert!(buffered.len() as u64 <= window);
    }
    assert!(st.counters().timeouts > 0 && st.counters().invalid_blocks > 0);
    assert!(st.set_height(now, target).is_empty());
    assert_eq!(st.in_flight(), 0);
}

#[test]
fn serving_answers_only_the_range_asked_within_the_batch_limit() {
    let mut st = StateTransfer::new(CH, 0, cfg(), 10);
    assert_eq!(st.serve(5, 3, 100), ServePlan::Ignore);
    assert_eq!(st.serve(5, 9, 100), ServePlan::Blocks { start: 5, end: 9 });
    // Fabric's limit is end − start ≤ batchSize.
    assert_eq!(
        st.serve(0, 10, 100),
        ServePlan::Blocks { start: 0, end: 10 }
    );
    assert_eq!(
        st.serve(0, 500, 100),
        ServePlan::Blocks { start: 0, end: 10 }
    );
    assert_eq!(
        st.serve(95, 104, 100),
        ServePlan::Blocks { start: 95, end: 99 }
    );
    assert_eq!(st.serve(100, 104, 100), ServePlan::Empty);
    let c = st.counters();
    assert_eq!(
        (c.invalid_requests, c.capped_requests, c.requests_served),
        (1, 1, 5)
    );
}

#[test]
fn the_awaited_range_is_known_until_its_response_and_only_to_its_peer() {
    let t0 = Instant::now();
    let mut st = StateTransfer::new(CH, 0, cfg(), 3);
    let reqs = st.set_peer_heights(t0, [(peer(1), 1000)]);
    let r = &reqs[0];
    assert_eq!(st.awaited(r.nonce, &peer(1)), Some((0, 9)));
    assert_eq!(st.awaited(r.nonce, &peer(2)), None);
    assert_eq!(st.awaited(r.nonce ^ 1, &peer(1)), None);
    // Items in another form: their numbers are read through `seq`.
    let mut taken = Vec::new();
    let items: Vec<(u64, Payload)> = answer(r).into_iter().map(|p| (p.seq, p)).collect();
    st.on_response_with(
        t0,
        &peer(1),
        r.nonce,
        items,
        |(seq, _)| *seq,
        |(_, p)| sink(&mut taken)(p),
    );
    assert_eq!(taken, (0..10).collect::<Vec<_>>());
    assert_eq!(st.awaited(r.nonce, &peer(1)), None);
}
