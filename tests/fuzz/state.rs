//! The state provider fed random sequences: blocks from gossip, the orderer and state
//! transfer (in order, out of order, repeated, too far ahead, failing verification, verified
//! for another channel), commits that succeed, fail or half-succeed through the real
//! `commit_batch`, blocks the ledger gained by other means, remote heights, and time.
//! Invariants after each step: no panic; one commit batch at a time; the ledger receives
//! exactly the verified blocks, in order, each once; the buffer stays within its window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::crypto::CryptoError;
use fabgossip::ledger::{Ledger, LedgerError};
use fabgossip::state::{
    check_response, commit_batch, BlockVerifier, CheckedPayload, CommitBatch, Input, Output,
    Payload, Source, StateProvider, StateProviderConfig, VerifiedPayload,
};

use super::engine::{Cov, Target};

const CH: &str = "ch";
const BUFFER: u64 = 8;

fn good(seq: u64) -> Vec<u8> {
    format!("block-{seq}").into_bytes()
}

struct Verifier;

impl BlockVerifier for Verifier {
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        if channel != CH {
            return Err(CryptoError::NotInChannel(channel.into()));
        }
        if block != good(seq).as_slice() {
            return Err(CryptoError::InvalidBlock(format!("not block {seq}")));
        }
        Ok(())
    }
}

/// A ledger in memory that accepts only the next verified block, and fails on request.
struct MemLedger {
    blocks: Vec<Vec<u8>>,
    /// Commits left before the next failure (`None`: never fails).
    fail_after: Option<usize>,
}

impl Ledger for MemLedger {
    fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    fn commit(&mut self, block: &[u8], _pvt: &[Vec<u8>]) -> Result<(), LedgerError> {
        if let Some(n) = self.fail_after.as_mut() {
            if *n == 0 {
                self.fail_after = None;
                return Err(LedgerError::MalformedBlock("disk full".into()));
            }
            *n -= 1;
        }
        let seq = self.height();
        assert_eq!(
            block,
            good(seq).as_slice(),
            "the ledger got something other than verified block {seq} (out of order, twice, or unverified)"
        );
        self.blocks.push(block.to_vec());
        Ok(())
    }

    fn get_blocks(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        Ok(self.blocks[start as usize..=end as usize].to_vec())
    }
}

struct Run {
    sp: StateProvider,
    ledger: MemLedger,
    pending: Option<CommitBatch>,
    now: Instant,
}

impl Run {
    fn outputs(&mut self, out: Vec<Output>, cov: &mut Cov) {
        for o in out {
            match o {
                Output::Commit(batch) => {
                    cov.hit(("commit", batch.len().min(8)));
                    assert!(
                        self.pending.is_none(),
                        "a second commit batch while one is out"
                    );
                    self.pending = Some(batch);
                }
                Output::Forward { seq, block, source } => {
                    cov.hit(("forward", source));
                    assert_eq!(block, good(seq), "forwarded an unverified block");
                }
                Output::PullGap { from, to } => {
                    cov.hit("gap");
                    assert!(from <= to, "empty gap {from}..{to}");
                }
            }
        }
    }

    fn payload(&self, u: &mut Unstructured) -> arbitrary::Result<Payload> {
        let base = self.ledger.height();
        let seq = base.saturating_sub(2) + u.int_in_range(0..=3 * BUFFER)?;
        let block = if u.ratio(1u8, 6)? {
            b"forged".to_vec()
        } else {
            good(seq)
        };
        let source = [Source::Gossip, Source::Deliverer, Source::StateTransfer]
            [u.int_in_range(0..=2usize)?];
        Ok(Payload::new(seq, block, Vec::new(), source))
    }

    fn step(&mut self, u: &mut Unstructured, cov: &mut Cov) -> arbitrary::Result<()> {
        let op = u.int_in_range(0..=9u8)?;
        let mut out = Vec::new();
        match op {
            0..=2 => {
                let p = self.payload(u)?;
                if let Err(e) = self.sp.add_payload(self.now, p, &mut out) {
                    cov.error(&e);
                }
            }
            3 => {
                let p = self.payload(u)?;
                let channel = if u.ratio(1u8, 4)? { "other" } else { CH };
                if let Ok(v) = VerifiedPayload::verify(&Verifier, channel, p) {
                    if let Err(e) = self.sp.add_verified(self.now, v, &mut out) {
                        cov.error(&e);
                    }
                }
            }
            4 => {
                let start = self.ledger.height();
                let mut ps = Vec::new();
                for _ in 0..u.int_in_range(0..=4usize)? {
                    ps.push(self.payload(u)?);
                }
                for c in check_response(&Verifier, CH, (start, start + BUFFER), ps) {
                    cov.hit(matches!(c, CheckedPayload::Verified(_)));
                    if let Err(e) = self.sp.add_checked(self.now, c, &mut out) {
                        cov.error(&e);
                    }
                }
            }
            5 | 6 => {
                if let Some(batch) = self.pending.take() {
                    if u.ratio(1u8, 3)? {
                        self.ledger.fail_after = Some(u.int_in_range(0..=batch.len())?);
                    }
                    let report = commit_batch(&mut self.ledger, &batch);
                    self.ledger.fail_after = None;
                    cov.hit(matches!(report, Input::Committed { .. }));
                    out = self.sp.handle(self.now, report);
                }
            }
            7 => {
                // A block committed by other means; the driver reports the new height.
                if self.pending.is_none() && u.ratio(1u8, 3)? {
                    let seq = self.ledger.height();
                    self.ledger.commit(&good(seq), &[]).unwrap();
                }
                out = self.sp.handle(
                    self.now,
                    Input::LedgerHeight {
                        height: self.ledger.height(),
                    },
                );
            }
            8 => {
                let h = self.ledger.height() + u.int_in_range(0..=3 * BUFFER)?;
                out = self.sp.handle(self.now, Input::RemoteHeight { height: h });
            }
            _ => {
                self.now += Duration::from_millis(u.int_in_range(0..=5_000u64)?);
                out = self.sp.handle(self.now, Input::Tick);
            }
        }
        self.outputs(out, cov);
        assert!(
            self.sp.buffered() as u64 <= 2 * BUFFER,
            "{} blocks buffered",
            self.sp.buffered()
        );
        assert!(
            self.sp.height() <= self.ledger.height(),
            "the provider's height {} is above the ledger's {}",
            self.sp.height(),
            self.ledger.height()
        );
        cov.hit(("height", self.ledger.height().min(16)));
        Ok(())
    }
}

fn run_state(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let cfg = StateProviderConfig {
        block_buffer_size: BUFFER,
        commit_batch_max_blocks: 4,
        ..StateProviderConfig::default()
    };
    let mut run = Run {
        sp: StateProvider::new(CH, 0, cfg, Arc::new(Verifier)),
        ledger: MemLedger {
            blocks: Vec::new(),
            fail_after: None,
        },
        pending: None,
        now: Instant::now(),
    };
    for _ in 0..128 {
        if u.is_empty() || run.step(&mut u, cov).is_err() {
            break;
        }
    }
}

fn state_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![
            0, 2, 0, 5, 0, 0, 5, 0, 1, 0, 0, 5, 0, 0, 1, 0, 5, 0, 9, 0, 200,
        ],
        vec![
            4, 3, 2, 0, 2, 1, 0, 1, 2, 0, 5, 1, 1, 8, 10, 0, 1, 5, 0, 7, 1, 6, 0,
        ],
        (0..=255u8).collect(),
    ]
}

pub const STATE: Target = Target {
    name: "state",
    max_len: 2048,
    seeds: state_seeds,
    run: run_state,
};
