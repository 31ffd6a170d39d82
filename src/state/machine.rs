//! The state provider of one channel as a deterministic machine (Fabric's
//! `gossip/state/state.go` without anti-entropy): payloads in, in-order commits out.

use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, warn};

use crate::crypto::block::block_header_hash;
use crate::ledger::chain::block_header;

use super::buffer::PayloadBuffer;
use super::commit::CommitBatch;
use super::config::StateProviderConfig;
use super::counters::StateCounters;
use super::error::Rejected;
use super::events::{Input, Output};
use super::gap::{GapAction, GapTracker};
use super::payload::{BlockVerifier, CheckedPayload, Payload, Source, VerifiedPayload};

/// Buffers verified payloads and commits them strictly in order through the driver.
///
/// Differences from Fabric, on purpose:
/// - consecutive buffered blocks are committed as one batch (one ledger call, one report),
///   bounded by `commit_batch_max_blocks`/`_bytes`; Fabric commits block by block;
/// - a failed commit is retried with backoff forever (Fabric's peer panics); blocks of a
///   batch committed before the failure stay committed;
/// - the deliverer and state transfer are bounded by `2 × blockBufferSize` and refused
///   beyond it (Fabric blocks the caller's goroutine instead);
/// - duplicates, old and too-far seqs are refused before verification, to spend no CPU on
///   them;
/// - a hole below a known block is reported at once as [`Output::PullGap`].
///
/// Anti-entropy (`RemoteStateRequest`/`Response`) feeds payloads with
/// [`Source::StateTransfer`] and reads the ledger height from [`height`](Self::height).
pub struct StateProvider {
    channel: String,
    cfg: StateProviderConfig,
    verifier: Arc<dyn BlockVerifier>,
    /// Blocks committed (the ledger height): the next block to commit.
    height: u64,
    /// The batch the driver holds; it always starts at `height`.
    in_flight: Option<CommitBatch>,
    /// Failed commits in a row at the current height (reset when the height moves).
    failures: u32,
    /// After a failure, no commit is handed out before this instant.
    retry_at: Option<Instant>,
    /// The next batch handed out retries a failed one (counted as a retry).
    retrying: bool,
    buffer: PayloadBuffer,
    gap: GapTracker,
    gap_deadline: Option<Instant>,
    /// Number and header hash of the last committed block, when known: the link block
    /// `height` must carry.
    tip: Option<(u64, Vec<u8>)>,
    counters: StateCounters,
}

/// The header hash of a payload's block (`None` if it does not decode; the ledger refuses
/// such a block anyway).
fn header_hash(p: &Payload) -> Option<Vec<u8>> {
    block_header(&p.block).ok().map(|h| block_header_hash(&h))
}

impl StateProvider {
    /// A provider for `channel` whose ledger holds `ledger_height` blocks.
    pub fn new(
        channel: impl Into<String>,
        ledger_height: u64,
        cfg: StateProviderConfig,
        verifier: Arc<dyn BlockVerifier>,
    ) -> Self {
        StateProvider {
            channel: channel.into(),
            cfg,
            verifier,
            height: ledger_height,
            in_flight: None,
            failures: 0,
            retry_at: None,
            retrying: false,
            buffer: PayloadBuffer::default(),
            gap: GapTracker::default(),
            gap_deadline: None,
            tip: None,
            counters: StateCounters::default(),
        }
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The ledger height as last confirmed (commits and host reports).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Payloads waiting in the buffer (the batch being committed excluded).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Block and private-data bytes waiting in the buffer.
    pub fn buffered_bytes(&self) -> usize {
        self.buffer.bytes()
    }

    /// The seqs of the batch handed out and not yet reported on.
    pub fn committing(&self) -> Option<std::ops::Range<u64>> {
        self.in_flight.as_ref().map(CommitBatch::seqs)
    }

    /// Whether block `seq` is buffered or in the batch being committed.
    fn holds(&self, seq: u64) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|b| b.seqs().contains(&seq))
            || self.buffer.contains(seq)
    }

    /// Whether a payload numbered `seq` from `source` would be taken now (not committed,
    /// not held, inside the window): the pull engine's ingress filter for block digests.
    pub fn wants(&self, seq: u64, source: Source) -> bool {
        seq >= self.height && !self.holds(seq) && seq - self.height < self.cfg.window(source)
    }

    /// Tells the machine the header hash of the ledger's last block (read at open), so that
    /// a block that does not chain onto it is refused at intake with a clear reason.
    pub fn set_tip(&mut self, seq: u64, hash: Vec<u8>) {
        if seq.checked_add(1) == Some(self.height) {
            self.tip = Some((seq, hash));
        }
    }

    pub fn counters(&self) -> &StateCounters {
        &self.counters
    }

    /// When to call `handle(Input::Tick)` next (a commit retry or a gap to report).
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.retry_at, self.gap_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Verifies `payload` and buffers it; outputs (commit, forward, gap) go to `out`.
    /// Duplicates, old seqs and seqs beyond the window are refused before verification.
    pub fn add_payload(
        &mut self,
        now: Instant,
        payload: Payload,
        out: &mut Vec<Output>,
    ) -> Result<(), Rejected> {
        self.counters.payloads_received += 1;
        self.admit(&payload)?;
        let verified = match VerifiedPayload::verify(&*self.verifier, &self.channel, payload) {
            Ok(v) => v,
            Err((p, error)) => {
                self.counters.invalid += 1;
                warn!(channel = %self.channel, seq = p.seq, source = ?p.source, %error, "dropping a block that fails verification");
                return Err(Rejected::Invalid { seq: p.seq, error });
            }
        };
        self.check_link(verified.payload())?;
        self.accept(now, verified.into_payload(), out);
        Ok(())
    }

    /// As [`add_payload`](Self::add_payload) for a payload already verified for this channel.
    pub fn add_verified(
        &mut self,
        now: Instant,
        verified: VerifiedPayload,
        out: &mut Vec<Output>,
    ) -> Result<(), Rejected> {
        self.counters.payloads_received += 1;
        if verified.channel() != self.channel {
            self.counters.wrong_channel += 1;
            return Err(Rejected::WrongChannel {
                seq: verified.payload().seq,
                verified_for: verified.channel().to_owned(),
            });
        }
        self.admit(verified.payload())?;
        self.check_link(verified.payload())?;
        self.accept(now, verified.into_payload(), out);
        Ok(())
    }

    /// A payload verified off the owner task ([`check_response`](super::check_response)):
    /// taken as [`add_verified`](Self::add_verified), refused and counted as invalid when
    /// it failed, verified here when it was not checked.
    pub fn add_checked(
        &mut self,
        now: Instant,
        checked: CheckedPayload,
        out: &mut Vec<Output>,
    ) -> Result<(), Rejected> {
        match checked {
            CheckedPayload::Verified(v) => self.add_verified(now, v, out),
            CheckedPayload::Unchecked(p) => self.add_payload(now, p, out),
            CheckedPayload::Failed(p, error) => {
                self.counters.payloads_received += 1;
                // Old or duplicate first, as if verification had not run.
                self.admit(&p)?;
                self.counters.invalid += 1;
                warn!(channel = %self.channel, seq = p.seq, source = ?p.source, %error, "dropping a block that fails verification");
                Err(Rejected::Invalid { seq: p.seq, error })
            }
        }
    }

    /// Feeds one event; returns what the driver must do.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => self.retry_due(now),
            Input::Committed { first, height } => {
                self.on_commit_report(now, first, height, None, false)
            }
            Input::CommitFailed {
                first,
                height,
                error,
            } => self.on_commit_report(now, first, height, Some(error), false),
            Input::CommitRefused {
                first,
                height,
                error,
            } => self.on_commit_report(now, first, height, Some(error), true),
            Input::LedgerHeight { height } => self.on_ledger_height(height),
            Input::RemoteHeight { height } => {
                if let Some(last) = height.checked_sub(1) {
                    self.gap.saw(last);
                }
            }
        }
        self.start_commit(&mut out);
        self.check_gap(now, &mut out);
        out
    }

    /// The cheap checks: below the height, already held, beyond the window.
    fn admit(&mut self, p: &Payload) -> Result<(), Rejected> {
        let seq = p.seq;
        if seq < self.height {
            self.counters.old += 1;
            return Err(Rejected::Old {
                seq,
                height: self.height,
            });
        }
        if self.holds(seq) {
            self.counters.duplicate += 1;
            return Err(Rejected::Duplicate { seq });
        }
        let window = self.cfg.window(p.source);
        if seq - self.height >= window {
            self.counters.too_far_ahead += 1;
            debug!(channel = %self.channel, seq, height = self.height, "block too far ahead, not buffered");
            return Err(Rejected::TooFarAhead {
                seq,
                height: self.height,
                window,
            });
        }
        Ok(())
    }

    /// Refuses a block whose `previous_hash` is not the hash of the block before it, when
    /// that one is known (the ledger's last block, buffered or being committed). Block 0
    /// links to nothing.
    fn check_link(&mut self, p: &Payload) -> Result<(), Rejected> {
        let Some(prev) = p.seq.checked_sub(1) else {
            return Ok(());
        };
        let expected = match &self.tip {
            Some((n, hash)) if *n == prev => Some(hash.clone()),
            _ => self
                .buffer
                .get(prev)
                .or_else(|| {
                    self.in_flight
                        .as_ref()
                        .and_then(|b| b.payloads().iter().find(|q| q.seq == prev))
                })
                .and_then(header_hash),
        };
        let (Some(expected), Ok(header)) = (expected, block_header(&p.block)) else {
            return Ok(());
        };
        if header.previous_hash == expected {
            return Ok(());
        }
        self.counters.broken_chain += 1;
        let hex_or_empty = |b: &[u8]| {
            if b.is_empty() {
                "empty".to_string()
            } else {
                hex::encode(b)
            }
        };
        let err = Rejected::BrokenChain {
            seq: p.seq,
            previous_hash: hex_or_empty(&header.previous_hash),
            expected: hex_or_empty(&expected),
        };
        warn!(channel = %self.channel, source = ?p.source, "refusing a block: {err}");
        Err(err)
    }

    fn accept(&mut self, now: Instant, payload: Payload, out: &mut Vec<Output>) {
        self.counters.payloads_accepted += 1;
        self.gap.saw(payload.seq);
        if payload.source != Source::StateTransfer {
            self.counters.forwarded += 1;
            out.push(Output::Forward {
                seq: payload.seq,
                block: payload.block.clone(),
                source: payload.source,
            });
        }
        self.buffer.insert(payload);
        self.start_commit(out);
        self.check_gap(now, out);
    }

    /// Hands out the run of buffered blocks from the height on, when no batch is
    /// outstanding and no retry is being waited for.
    fn start_commit(&mut self, out: &mut Vec<Output>) {
        if self.in_flight.is_some() || self.retry_at.is_some() {
            return;
        }
        let run = self.buffer.take_run(
            self.height,
            self.cfg.commit_batch_max_blocks,
            self.cfg.commit_batch_max_bytes,
        );
        let Some(batch) = CommitBatch::new(run) else {
            return;
        };
        self.counters.commit_requested += 1;
        if std::mem::take(&mut self.retrying) {
            self.counters.commit_retried += 1;
        }
        out.push(Output::Commit(batch.clone()));
        self.in_flight = Some(batch);
    }

    fn retry_due(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            self.retrying = true;
        }
    }

    /// The ledger's answer to the batch starting at `first`: it holds `height` blocks now,
    /// and `error` says why it stopped short of the batch's end. `refused`: the block at
    /// `height` does not chain onto the ledger; it is dropped (a correct one is fetched
    /// again) instead of retried, and nothing waits: the ledger is fine, the block was not.
    fn on_commit_report(
        &mut self,
        now: Instant,
        first: u64,
        height: u64,
        error: Option<String>,
        refused: bool,
    ) {
        if self.in_flight.as_ref().map(CommitBatch::first) != Some(first) {
            self.counters.unexpected_report += 1;
            debug!(channel = %self.channel, first, height, "commit report for no outstanding batch");
            // The height was read from the ledger: blocks below it are there, whoever
            // committed them.
            if height > self.height {
                self.jump_to(height);
            }
            return;
        }
        let Some(batch) = self.in_flight.take() else {
            return;
        };
        let end = batch.end();
        let before = self.height;
        let reached = height.clamp(before, end);
        self.counters.committed += reached - before;
        self.height = reached;
        if reached > before {
            let last = reached - 1;
            self.tip = batch
                .payloads()
                .iter()
                .find(|p| p.seq == last)
                .and_then(header_hash)
                .map(|h| (last, h));
        }
        // What the ledger did not take waits for the next batch.
        for p in batch.into_payloads() {
            if p.seq >= reached {
                self.buffer.insert(p);
            }
        }
        if height > end {
            self.jump_to(height);
            return;
        }
        if reached == end {
            self.failures = 0;
            return;
        }
        let error = error.unwrap_or_else(|| format!("the ledger stopped at height {height}"));
        if refused && reached == height {
            self.failures = 0;
            if self.buffer.take(reached).is_some() {
                self.counters.broken_chain += 1;
            }
            warn!(channel = %self.channel, seq = reached, "the ledger refused a block: {error}; dropped, it will be fetched again");
            return;
        }
        self.failures = if reached > before {
            1
        } else {
            self.failures.saturating_add(1)
        };
        let wait = self.cfg.commit_backoff(self.failures);
        self.retry_at = Some(now + wait);
        self.counters.commit_failed += 1;
        warn!(
            channel = %self.channel,
            seq = reached,
            committed = reached - before,
            failures = self.failures,
            retry_in_ms = wait.as_millis() as u64,
            "committing block failed: {error}; it will be retried"
        );
    }

    fn on_ledger_height(&mut self, height: u64) {
        if height < self.height {
            self.counters.height_behind += 1;
            return;
        }
        if height > self.height {
            self.jump_to(height);
        }
    }

    /// The ledger holds `height` (> ours) blocks: committed by other means.
    fn jump_to(&mut self, height: u64) {
        self.counters.height_jumped += 1;
        self.height = height;
        self.tip = None;
        // The outstanding batch starts below the new height: its report no longer matters
        // (a late one is counted as unexpected); its blocks above the height wait again.
        if let Some(batch) = self.in_flight.take() {
            for p in batch.into_payloads() {
                if p.seq >= height {
                    self.buffer.insert(p);
                }
            }
        }
        // The block that failed is committed now: the next one starts without waiting.
        self.failures = 0;
        self.retry_at = None;
        self.retrying = false;
        let dropped = self.buffer.drop_below(height);
        self.counters.dropped_committed_elsewhere += dropped as u64;
    }

    /// Reports the hole between the ledger and the highest known block, within the gossip
    /// window (blocks beyond it would be refused anyway).
    fn check_gap(&mut self, now: Instant, out: &mut Vec<Output>) {
        let lo = self
            .in_flight
            .as_ref()
            .map_or(self.height, CommitBatch::end);
        let missing = self.gap.known_tip().and_then(|tip| {
            let window_end = self
                .height
                .saturating_add(self.cfg.window(Source::Gossip) - 1);
            self.buffer.missing_span(lo, tip.min(window_end))
        });
        self.gap_deadline = None;
        match self.gap.poll(
            now,
            missing,
            self.cfg.gap_grace,
            self.cfg.gap_retry_interval,
        ) {
            GapAction::Report { from, to } => {
                self.counters.gaps_reported += 1;
                debug!(channel = %self.channel, from, to, "blocks missing below known ones; pulling");
                out.push(Output::PullGap { from, to });
                // Ask again for a retry if it stays open.
                if let GapAction::WaitUntil(t) = self.gap.poll(
                    now,
                    missing,
                    self.cfg.gap_grace,
                    self.cfg.gap_retry_interval,
                ) {
                    self.gap_deadline = Some(t);
                }
            }
            GapAction::WaitUntil(t) => self.gap_deadline = Some(t),
            GapAction::None => {}
        }
    }
}
