//! State provider: ordering, refusals, verification, forwarding, commit retries, gaps, and a
//! seeded random run committing into a real `FileLedger`.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::*;
use crate::crypto::CryptoError;

const CH: &str = "ch";

/// Accepts exactly `block-<seq>`; counts its calls.
#[derive(Default)]
struct TestVerifier {
    calls: AtomicUsize,
}

impl BlockVerifier for TestVerifier {
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if channel != CH {
            return Err(CryptoError::NotInChannel(channel.into()));
        }
        if block != good(seq).as_slice() {
            return Err(CryptoError::InvalidBlock(format!("not block {seq}")));
        }
        Ok(())
    }
}

fn good(seq: u64) -> Vec<u8> {
    format!("block-{seq}").into_bytes()
}

/// Runs the machine with an in-memory ledger that commits at once unless told to fail.
struct Harness {
    sp: StateProvider,
    verifier: Arc<TestVerifier>,
    now: Instant,
    ledger: Vec<u64>,
    forwards: Vec<(u64, Source)>,
    gaps: Vec<(u64, u64)>,
    /// The seqs of each commit batch handed out.
    commit_requests: Vec<Range<u64>>,
    /// Commits to fail before succeeding again.
    fail_next: u32,
    /// Blocks of a failing batch the ledger takes before the failure.
    fail_after: u64,
    /// Confirm commits at once (otherwise they stay with the "driver").
    auto_commit: bool,
}

impl Harness {
    fn new(cfg: StateProviderConfig) -> Self {
        Self::at_height(0, cfg)
    }

    fn at_height(height: u64, cfg: StateProviderConfig) -> Self {
        let verifier = Arc::new(TestVerifier::default());
        Harness {
            sp: StateProvider::new(CH, height, cfg, verifier.clone()),
            verifier,
            now: Instant::now(),
            ledger: (0..height).collect(),
            forwards: Vec::new(),
            gaps: Vec::new(),
            commit_requests: Vec::new(),
            fail_next: 0,
            fail_after: 0,
            auto_commit: true,
        }
    }

    fn add_bytes(&mut self, seq: u64, block: Vec<u8>, source: Source) -> Result<(), Rejected> {
        let mut out = Vec::new();
        let r = self
            .sp
            .add_payload(self.now, Payload::new(seq, block, vec![], source), &mut out);
        self.process(out);
        r
    }

    fn add(&mut self, seq: u64, source: Source) -> Result<(), Rejected> {
        self.add_bytes(seq, good(seq), source)
    }

    fn input(&mut self, input: Input) {
        let out = self.sp.handle(self.now, input);
        self.process(out);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.input(Input::Tick);
    }

    fn process(&mut self, outs: Vec<Output>) {
        for o in outs {
            match o {
                Output::Commit(batch) => {
                    for p in batch.payloads() {
                        assert_eq!(
                            &*p.block,
                            good(p.seq).as_slice(),
                            "only verified blocks are committed"
                        );
                    }
                    assert!(batch.len() <= self.sp_cfg_max_blocks());
                    self.commit_requests.push(batch.seqs());
                    if !self.auto_commit {
                        continue;
                    }
                    if self.fail_next > 0 {
                        self.fail_next -= 1;
                        let first = batch.first();
                        let taken = self.fail_after.min(batch.len() as u64 - 1);
                        assert_eq!(first, self.ledger.len() as u64);
                        self.ledger.extend(first..first + taken);
                        self.input(Input::CommitFailed {
                            first,
                            height: first + taken,
                            error: "disk full".into(),
                        });
                    } else {
                        self.commit(batch.seqs());
                    }
                }
                Output::Forward { seq, block, source } => {
                    assert_eq!(
                        &*block,
                        good(seq).as_slice(),
                        "only verified blocks are forwarded"
                    );
                    self.forwards.push((seq, source));
                }
                Output::PullGap { from, to } => self.gaps.push((from, to)),
            }
        }
    }

    fn commit(&mut self, seqs: Range<u64>) {
        assert_eq!(
            seqs.start,
            self.ledger.len() as u64,
            "commits must come in order"
        );
        self.ledger.extend(seqs.clone());
        self.input(Input::Committed {
            first: seqs.start,
            height: seqs.end,
        });
    }

    fn sp_cfg_max_blocks(&self) -> usize {
        StateProviderConfig::default().commit_batch_max_blocks
    }

    /// Every block handed out for commit, in the order handed out.
    fn requested_seqs(&self) -> Vec<u64> {
        self.commit_requests.iter().cloned().flatten().collect()
    }
}

fn cfg() -> StateProviderConfig {
    StateProviderConfig::default()
}

#[test]
fn in_order_commit_from_shuffled_input() {
    let mut h = Harness::new(cfg());
    let mut seqs: Vec<u64> = (0..15).collect();
    seqs.shuffle(&mut StdRng::seed_from_u64(7));
    for s in seqs {
        h.add(s, Source::Gossip).unwrap();
    }
    assert_eq!(h.ledger, (0..15).collect::<Vec<_>>());
    assert_eq!(h.requested_seqs(), (0..15).collect::<Vec<_>>());
    assert_eq!(h.sp.height(), 15);
    assert_eq!((h.sp.buffered(), h.sp.buffered_bytes()), (0, 0));
    assert_eq!(h.sp.counters().committed, 15);
}

#[test]
fn commits_wait_for_the_driver_one_batch_at_a_time() {
    let mut h = Harness::new(cfg());
    h.auto_commit = false;
    for s in [2, 0, 1] {
        h.add(s, Source::Deliverer).unwrap();
    }
    assert_eq!(h.commit_requests, vec![0..1]);
    assert_eq!(h.sp.committing(), Some(0..1));
    assert_eq!(h.sp.buffered(), 2);
    h.auto_commit = true;
    h.commit(0..1);
    // What arrived meanwhile goes out as one batch.
    assert_eq!(h.ledger, vec![0, 1, 2]);
    assert_eq!(h.commit_requests, vec![0..1, 1..3]);
    assert_eq!(h.sp.counters().commit_requested, 2);
}

#[test]
fn batches_are_bounded_by_count_and_bytes() {
    let mut h = Harness::new(StateProviderConfig {
        block_buffer_size: 50,
        commit_batch_max_blocks: 8,
        // block-<seq> is 7 or 8 bytes here: 3 blocks of 8 fit, not 4.
        commit_batch_max_bytes: 24,
        ..cfg()
    });
    for s in 1..30 {
        h.add(s, Source::Deliverer).unwrap();
    }
    h.add(0, Source::Deliverer).unwrap();
    let lens: Vec<usize> = h
        .commit_requests
        .iter()
        .map(|r| r.clone().count())
        .collect();
    assert_eq!(h.requested_seqs(), (0..30).collect::<Vec<_>>());
    assert!(lens.iter().all(|&n| (1..=8).contains(&n)), "{lens:?}");
    // 0..=9 are 7 bytes (3 per batch); 10..=29 are 8 bytes (3 per batch).
    assert_eq!(lens, vec![3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
    let mut h = Harness::new(StateProviderConfig {
        block_buffer_size: 50,
        commit_batch_max_blocks: 4,
        ..cfg()
    });
    for s in 1..10 {
        h.add(s, Source::Deliverer).unwrap();
    }
    h.add(0, Source::Deliverer).unwrap();
    assert_eq!(h.commit_requests, vec![0..4, 4..8, 8..10]);
}

#[test]
fn duplicates_are_refused_without_verification() {
    let mut h = Harness::new(cfg());
    h.auto_commit = false;
    h.add(0, Source::Gossip).unwrap(); // now being committed
    h.add(3, Source::Gossip).unwrap(); // buffered
    let calls = h.verifier.calls.load(Ordering::Relaxed);
    assert_eq!(
        h.add(0, Source::Gossip),
        Err(Rejected::Duplicate { seq: 0 })
    );
    assert_eq!(
        h.add(3, Source::Deliverer),
        Err(Rejected::Duplicate { seq: 3 })
    );
    assert_eq!(h.verifier.calls.load(Ordering::Relaxed), calls);
    assert_eq!(h.sp.counters().duplicate, 2);
    // Each block forwarded once, at its first arrival.
    assert_eq!(h.forwards, vec![(0, Source::Gossip), (3, Source::Gossip)]);
    assert_eq!(h.commit_requests, vec![0..1]);
}

#[test]
fn wants_filters_pull_digests() {
    let mut h = Harness::at_height(5, cfg());
    h.auto_commit = false;
    h.add(5, Source::Gossip).unwrap();
    h.add(7, Source::Gossip).unwrap();
    assert!(!h.sp.wants(4, Source::Gossip));
    assert!(!h.sp.wants(5, Source::Gossip));
    assert!(h.sp.wants(6, Source::Gossip));
    assert!(!h.sp.wants(7, Source::Gossip));
    assert!(h.sp.wants(24, Source::Gossip));
    assert!(!h.sp.wants(25, Source::Gossip));
    assert!(h.sp.wants(25, Source::StateTransfer));
    let p = Payload::from_proto(
        crate::proto::gossip::Payload {
            seq_num: 6,
            data: good(6).into(),
            private_data: vec![b"pvt".to_vec()],
        },
        Source::Gossip,
    );
    assert_eq!(
        (p.seq, &*p.block, &*p.private_data),
        (6, good(6).as_slice(), &[b"pvt".to_vec()][..])
    );
}

#[test]
fn old_seqs_are_refused() {
    let mut h = Harness::at_height(5, cfg());
    assert_eq!(
        h.add(4, Source::Gossip),
        Err(Rejected::Old { seq: 4, height: 5 })
    );
    h.add(5, Source::Gossip).unwrap();
    assert_eq!(
        h.add(5, Source::StateTransfer),
        Err(Rejected::Old { seq: 5, height: 6 })
    );
    assert_eq!(
        h.add(0, Source::Deliverer),
        Err(Rejected::Old { seq: 0, height: 6 })
    );
    assert_eq!(h.sp.counters().old, 3);
    assert_eq!(h.ledger, (0..6).collect::<Vec<_>>());
}

#[test]
fn too_far_ahead_is_refused_and_the_buffer_stays_bounded() {
    let mut h = Harness::new(StateProviderConfig {
        block_buffer_size: 20,
        ..cfg()
    });
    h.auto_commit = false;
    // Fabric's rule for gossip: seq − height ≥ blockBufferSize is refused.
    assert_eq!(
        h.add(20, Source::Gossip),
        Err(Rejected::TooFarAhead {
            seq: 20,
            height: 0,
            window: 20
        })
    );
    h.add(19, Source::Gossip).unwrap();
    // The deliverer and state transfer get twice the room.
    h.add(39, Source::Deliverer).unwrap();
    assert!(matches!(
        h.add(40, Source::StateTransfer),
        Err(Rejected::TooFarAhead { window: 40, .. })
    ));
    let calls = h.verifier.calls.load(Ordering::Relaxed);
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..5000 {
        let seq = rng.gen_range(1..u64::MAX / 2);
        let source =
            [Source::Gossip, Source::Deliverer, Source::StateTransfer][rng.gen_range(0..3)];
        let _ = h.add(seq, source);
        assert!(h.sp.buffered() <= 40);
    }
    assert!(h.sp.counters().too_far_ahead > 4900);
    assert_eq!(
        h.sp.counters().too_far_ahead
            + h.sp.counters().payloads_accepted
            + h.sp.counters().duplicate,
        h.sp.counters().payloads_received
    );
    // Verification ran only for the few that fell inside the window.
    assert!(h.verifier.calls.load(Ordering::Relaxed) - calls < 100);
    assert_eq!(
        h.add(u64::MAX, Source::Deliverer).unwrap_err(),
        Rejected::TooFarAhead {
            seq: u64::MAX,
            height: 0,
            window: 40
        }
    );
}

#[test]
fn bad_block_is_counted_never_committed_or_forwarded() {
    let mut h = Harness::new(cfg());
    let err = h
        .add_bytes(0, b"forged".to_vec(), Source::Gossip)
        .unwrap_err();
    assert!(matches!(err, Rejected::Invalid { seq: 0, .. }));
    // A block claiming another seq than its own is as bad.
    assert!(matches!(
        h.add_bytes(1, good(2), Source::Deliverer),
        Err(Rejected::Invalid { .. })
    ));
    assert_eq!(h.sp.counters().invalid, 2);
    assert!(h.forwards.is_empty());
    assert!(h.commit_requests.is_empty());
    assert_eq!(h.sp.buffered(), 0);
    // The genuine block is still accepted after a forged one.
    h.add(0, Source::Gossip).unwrap();
    assert_eq!(h.ledger, vec![0]);
    assert_eq!(h.forwards, vec![(0, Source::Gossip)]);
}

#[test]
fn state_transfer_payloads_are_not_forwarded() {
    let mut h = Harness::new(cfg());
    h.add(0, Source::StateTransfer).unwrap();
    h.add(1, Source::Deliverer).unwrap();
    h.add(2, Source::Gossip).unwrap();
    assert_eq!(
        h.forwards,
        vec![(1, Source::Deliverer), (2, Source::Gossip)]
    );
    assert_eq!(h.sp.counters().forwarded, 2);
    assert_eq!(h.ledger, vec![0, 1, 2]);
}

#[test]
fn pre_verified_payloads_skip_verification_but_not_the_channel_check() {
    let mut h = Harness::new(cfg());
    let v = TestVerifier::default();
    let ok =
        VerifiedPayload::verify(&v, CH, Payload::new(0, good(0), vec![], Source::Gossip)).unwrap();
    let mut out = Vec::new();
    h.sp.add_verified(h.now, ok, &mut out).unwrap();
    h.process(out);
    assert_eq!(h.verifier.calls.load(Ordering::Relaxed), 0);
    assert_eq!(h.ledger, vec![0]);

    struct AnyChannel;
    impl BlockVerifier for AnyChannel {
        fn verify_block(&self, _: &str, _: u64, _: &[u8]) -> Result<(), CryptoError> {
            Ok(())
        }
    }
    let other = VerifiedPayload::verify(
        &AnyChannel,
        "other",
        Payload::new(1, good(1), vec![], Source::Gossip),
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        h.sp.add_verified(h.now, other, &mut out),
        Err(Rejected::WrongChannel { seq: 1, .. })
    ));
    assert!(out.is_empty());
    assert_eq!(h.sp.counters().wrong_channel, 1);
    let (back, _) = VerifiedPayload::verify(
        &v,
        CH,
        Payload::new(1, b"bad".to_vec(), vec![], Source::Gossip),
    )
    .unwrap_err();
    assert_eq!(back.seq, 1);
}

#[test]
fn responses_verified_off_task_are_taken_refused_or_verified_here() {
    let mut h = Harness::new(cfg());
    let st = |seq, block: Vec<u8>| Payload::new(seq, block, vec![], Source::StateTransfer);
    let v = TestVerifier::default();
    let checked = check_response(
        &v,
        CH,
        (0, 3),
        vec![
            st(0, good(0)),
            st(1, b"forged".to_vec()),
            st(0, good(0)), // a repeat
            st(7, good(7)), // outside the range asked
        ],
    );
    assert_eq!(v.calls.load(Ordering::Relaxed), 2);
    assert_eq!(
        checked.iter().map(CheckedPayload::seq).collect::<Vec<_>>(),
        vec![0, 1, 0, 7]
    );
    assert!(matches!(checked[0], CheckedPayload::Verified(_)));
    assert!(matches!(checked[1], CheckedPayload::Failed(..)));
    assert!(matches!(checked[2], CheckedPayload::Unchecked(_)));
    let results: Vec<_> = checked
        .into_iter()
        .map(|c| {
            let mut out = Vec::new();
            let r = h.sp.add_checked(h.now, c, &mut out);
            h.process(out);
            r
        })
        .collect();
    assert_eq!(results[0], Ok(()));
    assert!(matches!(results[1], Err(Rejected::Invalid { seq: 1, .. })));
    assert_eq!(results[2], Err(Rejected::Old { seq: 0, height: 1 }));
    assert_eq!(results[3], Ok(()));
    // Only the unchecked payload was verified by the provider itself.
    assert_eq!(h.verifier.calls.load(Ordering::Relaxed), 1);
    assert_eq!(h.ledger, vec![0]);
    // A failed payload that is old is refused as old, not counted as invalid.
    let mut out = Vec::new();
    let failed = CheckedPayload::Failed(st(0, good(0)), CryptoError::InvalidBlock("x".into()));
    assert_eq!(
        h.sp.add_checked(h.now, failed, &mut out),
        Err(Rejected::Old { seq: 0, height: 1 })
    );
    let c = h.sp.counters();
    assert_eq!((c.invalid, c.old, c.payloads_received), (1, 2, 5));
}

#[test]
fn failed_commit_is_retried_with_backoff_then_succeeds() {
    let mut h = Harness::new(cfg());
    h.fail_next = 2;
    h.add(1, Source::Gossip).unwrap();
    h.add(0, Source::Gossip).unwrap();
    assert_eq!(h.commit_requests, vec![0..2]);
    assert!(h.ledger.is_empty());
    assert_eq!((h.sp.committing(), h.sp.buffered()), (None, 2));
    let t0 = h.now;
    assert_eq!(h.sp.next_deadline(), Some(t0 + Duration::from_millis(100)));
    h.advance(Duration::from_millis(99));
    assert_eq!(h.commit_requests, vec![0..2], "no retry before the backoff");
    h.advance(Duration::from_millis(1));
    // Second attempt fails too: the wait doubles.
    assert_eq!(h.commit_requests, vec![0..2, 0..2]);
    assert_eq!(
        h.sp.next_deadline(),
        Some(h.now + Duration::from_millis(200))
    );
    // Block 1 is never committed before 0, whatever happens meanwhile.
    h.input(Input::RemoteHeight { height: 2 });
    assert!(h.ledger.is_empty());
    h.advance(Duration::from_millis(200));
    assert_eq!(h.commit_requests, vec![0..2, 0..2, 0..2]);
    assert_eq!(h.ledger, vec![0, 1]);
    let c = h.sp.counters();
    assert_eq!((c.commit_failed, c.commit_retried, c.committed), (2, 2, 2));
    assert_eq!(h.sp.next_deadline(), None);
}

#[test]
fn a_batch_failing_in_the_middle_keeps_its_prefix_and_retries_the_rest() {
    let mut h = Harness::new(cfg());
    for s in 1..6 {
        h.add(s, Source::StateTransfer).unwrap();
    }
    h.fail_next = 1;
    h.fail_after = 3;
    h.add(0, Source::StateTransfer).unwrap();
    // 0, 1, 2 are in the ledger; 3 failed; 3..6 wait for the retry.
    assert_eq!(h.commit_requests, vec![0..6]);
    assert_eq!(h.ledger, vec![0, 1, 2]);
    assert_eq!(
        (h.sp.height(), h.sp.buffered(), h.sp.committing()),
        (3, 3, None)
    );
    let c = h.sp.counters();
    assert_eq!((c.committed, c.commit_failed), (3, 1));
    // Still held: neither refused as old nor taken twice.
    assert_eq!(
        h.add(3, Source::Gossip),
        Err(Rejected::Duplicate { seq: 3 })
    );
    assert!(!h.sp.wants(4, Source::Gossip));
    // Progress was made, so the backoff starts over at its first step.
    assert_eq!(
        h.sp.next_deadline(),
        Some(h.now + Duration::from_millis(100))
    );
    h.add(6, Source::StateTransfer).unwrap();
    assert_eq!(h.commit_requests.len(), 1, "nothing before the backoff");
    h.advance(Duration::from_millis(100));
    assert_eq!(h.commit_requests, vec![0..6, 3..7]);
    assert_eq!(h.ledger, (0..7).collect::<Vec<_>>());
    let c = h.sp.counters();
    assert_eq!((c.committed, c.commit_failed, c.commit_retried), (7, 1, 1));
    // A ledger that reports success short of the batch is retried, not believed.
    h.auto_commit = false;
    for s in 7..10 {
        h.add(s, Source::Deliverer).unwrap();
    }
    assert_eq!(h.commit_requests.last(), Some(&(7..8)));
    h.input(Input::Committed {
        first: 7,
        height: 8,
    });
    assert_eq!(h.commit_requests.last(), Some(&(8..10)));
    h.input(Input::Committed {
        first: 8,
        height: 9,
    });
    assert_eq!((h.sp.height(), h.sp.counters().commit_failed), (9, 2));
    assert_eq!(h.sp.committing(), None);
    h.advance(Duration::from_millis(100));
    assert_eq!(h.commit_requests.last(), Some(&(9..10)));
}

#[test]
fn a_restart_resumes_from_the_ledger_height() {
    // A batch was cut by a crash after the ledger took two of its blocks: the new
    // provider starts at the ledger's height and hands out only what is missing.
    let mut h = Harness::at_height(2, cfg());
    for s in [3, 4, 1, 2] {
        let _ = h.add(s, Source::StateTransfer);
    }
    assert_eq!(h.sp.counters().old, 1);
    assert_eq!(h.commit_requests, vec![2..5]);
    assert_eq!(h.ledger, (0..5).collect::<Vec<_>>());
}

#[test]
fn backoff_is_capped() {
    let c = StateProviderConfig::default();
    assert_eq!(c.commit_backoff(1), Duration::from_millis(100));
    assert_eq!(c.commit_backoff(3), Duration::from_millis(400));
    assert_eq!(c.commit_backoff(7), Duration::from_secs(5));
    assert_eq!(c.commit_backoff(u32::MAX), Duration::from_secs(5));
}

#[test]
fn stray_commit_reports_are_counted_and_ignored() {
    let mut h = Harness::new(cfg());
    h.auto_commit = false;
    h.add(0, Source::Gossip).unwrap();
    h.input(Input::Committed {
        first: 5,
        height: 0,
    });
    h.input(Input::CommitFailed {
        first: 3,
        height: 0,
        error: "x".into(),
    });
    assert_eq!(h.sp.counters().unexpected_report, 2);
    assert_eq!(h.sp.height(), 0);
    assert_eq!(h.sp.committing(), Some(0..1));
    // A confirmation while the block waits for its retry is not taken either.
    h.input(Input::CommitFailed {
        first: 0,
        height: 0,
        error: "x".into(),
    });
    h.input(Input::Committed {
        first: 0,
        height: 0,
    });
    assert_eq!(h.sp.counters().unexpected_report, 3);
    assert_eq!(h.sp.height(), 0);
    // A stray report still carries the ledger's height: blocks below it are there.
    h.input(Input::Committed {
        first: 9,
        height: 2,
    });
    let c = h.sp.counters();
    assert_eq!((c.unexpected_report, c.height_jumped), (4, 1));
    assert_eq!((h.sp.height(), h.sp.buffered()), (2, 0));
    assert_eq!(
        h.sp.next_deadline(),
        None,
        "the failed block is committed now"
    );
}

#[test]
fn host_ledger_height_jump_drops_what_it_already_has() {
    let mut h = Harness::new(cfg());
    h.auto_commit = false;
    for s in [0, 2, 3, 5] {
        h.add(s, Source::Gossip).unwrap();
    }
    h.input(Input::LedgerHeight { height: 3 });
    assert_eq!(h.sp.height(), 3);
    assert_eq!(h.sp.counters().dropped_committed_elsewhere, 1);
    // Block 3 is handed out next; 0's outcome no longer matters.
    assert_eq!(h.commit_requests, vec![0..1, 3..4]);
    h.input(Input::Committed {
        first: 0,
        height: 1,
    });
    assert_eq!(h.sp.counters().unexpected_report, 1);
    h.input(Input::LedgerHeight { height: 1 });
    assert_eq!((h.sp.height(), h.sp.counters().height_behind), (3, 1));
    assert_eq!(h.sp.buffered(), 1);
}

#[test]
fn a_height_jump_into_the_outstanding_batch_hands_out_its_tail_again() {
    let mut h = Harness::new(cfg());
    h.auto_commit = false;
    for s in 1..6 {
        h.add(s, Source::Deliverer).unwrap();
    }
    h.add(0, Source::Deliverer).unwrap();
    assert_eq!(h.commit_requests, vec![0..6]);
    h.input(Input::LedgerHeight { height: 2 });
    assert_eq!(h.commit_requests, vec![0..6, 2..6]);
    assert_eq!(h.sp.committing(), Some(2..6));
    // The first job did commit everything: its late report moves the height; the second
    // job's report (it found the blocks there) changes nothing.
    h.input(Input::Committed {
        first: 0,
        height: 6,
    });
    assert_eq!(
        (h.sp.height(), h.sp.committing(), h.sp.buffered()),
        (6, None, 0)
    );
    h.input(Input::Committed {
        first: 2,
        height: 6,
    });
    let c = h.sp.counters();
    assert_eq!(
        (c.unexpected_report, c.height_jumped, c.committed),
        (2, 2, 0)
    );
    assert_eq!(h.commit_requests.len(), 2);
}

#[test]
fn extreme_heights_and_seqs_do_not_overflow() {
    let mut h = Harness::new(cfg());
    h.auto_commit = false;
    h.input(Input::RemoteHeight { height: u64::MAX });
    h.input(Input::LedgerHeight {
        height: u64::MAX - 1,
    });
    assert_eq!(h.sp.height(), u64::MAX - 1);
    h.input(Input::RemoteHeight { height: u64::MAX });
    h.add(u64::MAX - 1, Source::Gossip).unwrap();
    h.add(u64::MAX, Source::Gossip).unwrap();
    assert_eq!(h.commit_requests, vec![u64::MAX - 1..u64::MAX]);
    h.input(Input::Committed {
        first: u64::MAX - 1,
        height: u64::MAX,
    });
    assert_eq!(h.sp.height(), u64::MAX);
    let firsts: Vec<u64> = h.commit_requests.iter().map(|r| r.start).collect();
    assert_eq!(firsts, vec![u64::MAX - 1, u64::MAX]);
    h.input(Input::Committed {
        first: u64::MAX,
        height: u64::MAX,
    });
    h.advance(Duration::from_secs(3));
}

#[test]
fn a_later_block_reveals_a_gap_once() {
    let mut h = Harness::new(cfg());
    h.add(3, Source::Gossip).unwrap();
    assert_eq!(h.gaps, vec![(0, 2)]);
    // More arrivals inside the reported range: nothing new to ask.
    h.add(1, Source::Gossip).unwrap();
    let _ = h.add(3, Source::Gossip);
    assert_eq!(h.gaps, vec![(0, 2)]);
    // The hole grows: only the new part is asked for.
    h.add(6, Source::Gossip).unwrap();
    assert_eq!(h.gaps, vec![(0, 2), (3, 5)]);
    // Still open after the retry interval: asked again, whole.
    h.advance(Duration::from_secs(2));
    assert_eq!(h.gaps.last(), Some(&(0, 5)));
    // Filled: no more reports, and the deadline is gone.
    for s in [0, 2, 4, 5] {
        h.add(s, Source::Gossip).unwrap();
    }
    let n = h.gaps.len();
    h.advance(Duration::from_secs(10));
    assert_eq!(h.gaps.len(), n);
    assert_eq!(h.sp.next_deadline(), None);
    assert_eq!(h.ledger, (0..7).collect::<Vec<_>>());
    assert_eq!(h.sp.counters().gaps_reported, n as u64);
}

#[test]
fn a_higher_remote_height_reveals_a_gap_within_the_window() {
    let mut h = Harness::at_height(10, cfg());
    h.input(Input::RemoteHeight { height: 10 });
    h.input(Input::RemoteHeight { height: 0 });
    assert!(h.gaps.is_empty());
    h.input(Input::RemoteHeight { height: 1_000_000 });
    // Clamped to what gossip may buffer: 10..=29.
    assert_eq!(h.gaps, vec![(10, 29)]);
    h.add(10, Source::Gossip).unwrap();
    h.advance(Duration::from_secs(2));
    assert_eq!(h.gaps.last(), Some(&(11, 30)));
}

#[test]
fn grace_ignores_short_reordering() {
    let mut h = Harness::new(StateProviderConfig {
        gap_grace: Duration::from_millis(50),
        ..cfg()
    });
    h.add(1, Source::Gossip).unwrap();
    assert!(h.gaps.is_empty());
    assert_eq!(
        h.sp.next_deadline(),
        Some(h.now + Duration::from_millis(50))
    );
    h.advance(Duration::from_millis(10));
    h.add(0, Source::Gossip).unwrap();
    h.advance(Duration::from_millis(100));
    assert!(h.gaps.is_empty());
    h.add(3, Source::Gossip).unwrap();
    h.advance(Duration::from_millis(50));
    assert_eq!(h.gaps, vec![(2, 2)]);
}

/// 1000 random arrivals of 150 real blocks (copies, reordering, forged copies, far-ahead
/// seqs), commits that fail at random and take time, and pulls answering `PullGap`: every
/// block ends in the file ledger exactly once, in order.
#[test]
fn random_arrivals_commit_every_block_once_in_order() {
    use crate::crypto::block::{new_block, verify_block};
    use crate::ledger::{FileLedger, FileLedgerOptions, Ledger};
    use prost::Message;

    struct RealVerifier;
    impl BlockVerifier for RealVerifier {
        fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
            verify_block(channel, seq, block, &[]).map(|_| ())
        }
    }

    const N: u64 = 150;
    let blocks: Vec<Vec<u8>> =
        crate::ledger::chain::linked_blocks(N, |n| vec![format!("tx {n}").into_bytes()])
            .iter()
            .map(|b| b.encode_to_vec())
            .collect();
    let forged = |n: u64| {
        let mut b = new_block(n, vec![], vec![format!("tx {n}").into_bytes()]);
        b.data.as_mut().unwrap().data[0] = b"stolen".to_vec();
        b.encode_to_vec()
    };

    for seed in [1u64, 2, 3] {
        let dir = std::env::temp_dir().join(format!(
            "fabgossip-state-prop-{}-{seed}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ledger = FileLedger::open_with(
            &dir,
            CH,
            FileLedgerOptions {
                fsync: false,
                ..Default::default()
            },
        )
        .unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sp = StateProvider::new(
            CH,
            0,
            StateProviderConfig::default(),
            Arc::new(RealVerifier),
        );
        let mut now = Instant::now();
        let mut pending_commit: Option<(CommitBatch, u32)> = None; // batch, ticks left
        let mut pulls: Vec<(u64, u64)> = Vec::new();
        let mut forwarded = std::collections::HashSet::new();

        // Each block is sent 6 times at jittered times around its slot: 900 copies plus
        // 100 forged or far-ahead arrivals.
        let mut arrivals: Vec<(f64, u64, bool)> = Vec::new();
        for n in 0..N {
            for _ in 0..6 {
                arrivals.push((n as f64 + rng.gen_range(-15.0..15.0), n, false));
            }
        }
        for _ in 0..100 {
            // Forged copies arrive just before the genuine ones, so they reach verification.
            // Others are genuine-looking blocks far beyond the source (seq ≥ N + 20).
            let seq = if rng.gen_bool(0.8) {
                rng.gen_range(0..N)
            } else {
                rng.gen_range(N + 20..N + 1000)
            };
            arrivals.push((seq as f64 - rng.gen_range(5.0..20.0), seq, true));
        }
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(arrivals.len(), 1000);

        let mut handle_outputs = |outs: Vec<Output>,
                                  pending_commit: &mut Option<(CommitBatch, u32)>,
                                  pulls: &mut Vec<(u64, u64)>,
                                  rng: &mut StdRng| {
            for o in outs {
                match o {
                    Output::Commit(batch) => {
                        assert!(pending_commit.is_none(), "one commit at a time");
                        *pending_commit = Some((batch, rng.gen_range(0..3)));
                    }
                    Output::Forward { seq, block, .. } => {
                        assert_eq!(&*block, blocks[seq as usize].as_slice());
                        assert!(forwarded.insert(seq), "block {seq} forwarded twice");
                    }
                    Output::PullGap { from, to } => pulls.push((from, to)),
                }
            }
        };

        let mut i = 0;
        let mut steps = 0;
        let mut source_height = 0u64; // what the StateInfo of the other peers says
        while ledger.height() < N {
            steps += 1;
            assert!(
                steps < 20_000,
                "seed {seed}: stuck at height {}",
                ledger.height()
            );
            now += Duration::from_millis(10);
            let mut out = Vec::new();
            if let Some(&(_, seq, bad)) = arrivals.get(i) {
                i += 1;
                if !bad {
                    source_height = source_height.max(seq + 1);
                }
                let (bytes, source) = if bad && seq < N {
                    (forged(seq), Source::Gossip)
                } else if bad {
                    (
                        new_block(seq, vec![], vec![]).encode_to_vec(),
                        Source::Gossip,
                    )
                } else {
                    let source =
                        [Source::Gossip, Source::Gossip, Source::Deliverer][rng.gen_range(0..3)];
                    (blocks[seq as usize].clone(), source)
                };
                let _ = sp.add_payload(now, Payload::new(seq, bytes, vec![], source), &mut out);
            } else if let Some((from, to)) = pulls.pop() {
                // A pull brings back what the other peers have (everything), one block.
                let seq = rng.gen_range(from..=to).min(N - 1);
                let _ = sp.add_payload(
                    now,
                    Payload::new(seq, blocks[seq as usize].clone(), vec![], Source::Gossip),
                    &mut out,
                );
            }
            handle_outputs(out, &mut pending_commit, &mut pulls, &mut rng);
            // Blocks refused as too far ahead are only learned of again through StateInfo.
            if steps % 50 == 0 {
                let out = sp.handle(
                    now,
                    Input::RemoteHeight {
                        height: source_height,
                    },
                );
                handle_outputs(out, &mut pending_commit, &mut pulls, &mut rng);
            }

            // The ledger works on the outstanding batch; one in five attempts fails after
            // taking a random part of it.
            if let Some((batch, left)) = pending_commit.take() {
                let report = if left > 0 {
                    pending_commit = Some((batch, left - 1));
                    None
                } else if rng.gen_bool(0.2) {
                    let first = batch.first();
                    assert_eq!(
                        first,
                        ledger.height(),
                        "seed {seed}: batch not at the height"
                    );
                    let taken = rng.gen_range(0..batch.len());
                    for p in &batch.payloads()[..taken] {
                        ledger.commit(&p.block, &[]).unwrap();
                    }
                    Some(Input::CommitFailed {
                        first,
                        height: first + taken as u64,
                        error: "io".into(),
                    })
                } else {
                    assert_eq!(batch.first(), ledger.height(), "seed {seed}");
                    Some(commit_batch(&mut ledger, &batch))
                };
                if let Some(report) = report {
                    let out = sp.handle(now, report);
                    handle_outputs(out, &mut pending_commit, &mut pulls, &mut rng);
                }
            }
            let out = sp.handle(now, Input::Tick);
            handle_outputs(out, &mut pending_commit, &mut pulls, &mut rng);
        }

        assert_eq!(ledger.get_blocks(0, N - 1).unwrap(), blocks, "seed {seed}");
        let c = sp.counters();
        assert!(
            c.invalid > 0 && c.duplicate > 0 && c.commit_failed > 0,
            "seed {seed}: {c:?}"
        );
        assert_eq!(c.committed, N);
        assert!(sp.buffered() == 0 || sp.height() == N);
        drop(ledger);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// What block verification costs on one core with real orderer signatures, for
/// `bench/catchup.py` (ignored in ordinary runs: it takes about two seconds). Prints one line
/// `VERIFY_RATE {"ed25519_verify_per_s":..,"verify_block_per_s":..,"block_bytes":..}`: the
/// rate of bare Ed25519 strict verifications and of the built-in `VerifyBlock` (decode, data
/// hash, signature) on signed blocks of `FG_VERIFY_BLOCK_BYTES` (default 10,000) bytes.
#[test]
#[ignore]
fn verification_rate_on_one_core() {
    use crate::crypto::block::{
        new_block, orderer_block_metadata, sign_block, signature_header, verify_block,
    };
    use crate::crypto::ed25519::{serialize_identity, verify_signature, verifying_key};
    use crate::proto::common::Block;
    use ed25519_dalek::{Signer, SigningKey};
    use prost::Message;

    let block_bytes: usize = std::env::var("FG_VERIFY_BLOCK_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let key = SigningKey::from_bytes(&[5; 32]);
    let public = key.verifying_key().to_bytes();
    let creator = serialize_identity("OrdererMSP", &public);
    let blocks: Vec<Vec<u8>> = (0..64u64)
        .map(|n| {
            let mut b = new_block(n, vec![n as u8; 32], vec![vec![n as u8; block_bytes]]);
            sign_block(
                &mut b,
                orderer_block_metadata(0),
                signature_header(&creator, &n.to_be_bytes()),
                |m| Ok(key.sign(m).to_bytes().to_vec()),
            )
            .unwrap();
            b.encode_to_vec()
        })
        .collect();
    // A tampered copy must fail, so the loop below measures real verifications.
    let mut forged = Block::decode(blocks[1].as_slice()).unwrap();
    forged.header.as_mut().unwrap().previous_hash[0] ^= 1;
    assert!(verify_block(CH, 1, &forged.encode_to_vec(), &[public]).is_err());

    let rate = |f: &mut dyn FnMut(u64)| {
        let (mut n, t0) = (0u64, Instant::now());
        while t0.elapsed() < Duration::from_millis(800) {
            for _ in 0..64 {
                f(n);
                n += 1;
            }
        }
        n as f64 / t0.elapsed().as_secs_f64()
    };
    let vk = verifying_key(&public).unwrap();
    let msg = vec![7u8; 200];
    let sig = key.sign(&msg).to_bytes();
    let ed25519 = rate(&mut |_| verify_signature(&vk, &sig, &msg).unwrap());
    let verify = rate(&mut |n| {
        let seq = n % 64;
        verify_block(CH, seq, &blocks[seq as usize], &[public]).unwrap();
    });
    println!(
        "VERIFY_RATE {{\"ed25519_verify_per_s\":{ed25519:.0},\"verify_block_per_s\":{verify:.0},\"block_bytes\":{block_bytes}}}"
    );
}
