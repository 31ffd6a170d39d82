//! The state provider of one channel as a deterministic machine (Fabric's
//! `gossip/state/state.go` without anti-entropy): payloads in, in-order commits out.

use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, warn};

use super::buffer::PayloadBuffer;
use super::config::StateProviderConfig;
use super::counters::StateCounters;
use super::error::Rejected;
use super::events::{Input, Output};
use super::gap::{GapAction, GapTracker};
use super::payload::{BlockVerifier, Payload, Source, VerifiedPayload};

/// The commit handed to the driver, kept until the ledger confirms it.
#[derive(Debug)]
struct InFlight {
    payload: Payload,
    failures: u32,
    /// `Some` while waiting to retry after a failure; `None` while the driver holds it.
    retry_at: Option<Instant>,
}

/// Buffers verified payloads and commits them strictly in order through the driver.
///
/// Differences from Fabric, on purpose:
/// - a failed commit is retried with backoff forever (Fabric's peer panics);
/// - the deliverer and state transfer are bounded by `2 × blockBufferSize` and refused
///   beyond it (Fabric blocks the caller's goroutine instead);
/// - duplicates, old and too-far seqs are refused before verification, to spend no CPU on
///   them;
/// - a hole below a known block is reported at once as [`Output::PullGap`].
///
/// Anti-entropy (`RemoteStateRequest`/`Response`) will feed payloads with
/// [`Source::StateTransfer`] and read the ledger height from [`height`](Self::height).
pub struct StateProvider {
    channel: String,
    cfg: StateProviderConfig,
    verifier: Arc<dyn BlockVerifier>,
    /// Blocks committed (the ledger height): the next block to commit.
    height: u64,
    in_flight: Option<InFlight>,
    buffer: PayloadBuffer,
    gap: GapTracker,
    gap_deadline: Option<Instant>,
    counters: StateCounters,
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
            buffer: PayloadBuffer::default(),
            gap: GapTracker::default(),
            gap_deadline: None,
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

    /// Payloads waiting in the buffer (the one being committed excluded).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Block and private-data bytes waiting in the buffer.
    pub fn buffered_bytes(&self) -> usize {
        self.buffer.bytes()
    }

    /// The seq of the commit handed out and not yet confirmed.
    pub fn committing(&self) -> Option<u64> {
        self.in_flight.as_ref().map(|f| f.payload.seq)
    }

    /// Whether a payload numbered `seq` from `source` would be taken now (not committed,
    /// not held, inside the window): the pull engine's ingress filter for block digests.
    pub fn wants(&self, seq: u64, source: Source) -> bool {
        seq >= self.height
            && self.committing() != Some(seq)
            && !self.buffer.contains(seq)
            && seq - self.height < self.cfg.window(source)
    }

    pub fn counters(&self) -> &StateCounters {
        &self.counters
    }

    /// When to call `handle(Input::Tick)` next (a commit retry or a gap to report).
    pub fn next_deadline(&self) -> Option<Instant> {
        let retry = self.in_flight.as_ref().and_then(|f| f.retry_at);
        match (retry, self.gap_deadline) {
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
        self.accept(now, verified.into_payload(), out);
        Ok(())
    }

    /// Feeds one event; returns what the driver must do.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => self.retry_due(now, &mut out),
            Input::Committed { seq } => self.on_committed(seq),
            Input::CommitFailed { seq, error } => self.on_commit_failed(now, seq, &error),
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
        if self.committing() == Some(seq) || self.buffer.contains(seq) {
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

    /// Hands out the next block when nothing is outstanding and it is buffered.
    fn start_commit(&mut self, out: &mut Vec<Output>) {
        if self.in_flight.is_some() {
            return;
        }
        if let Some(payload) = self.buffer.take(self.height) {
            self.emit_commit(&payload, out);
            self.in_flight = Some(InFlight {
                payload,
                failures: 0,
                retry_at: None,
            });
        }
    }

    fn emit_commit(&mut self, p: &Payload, out: &mut Vec<Output>) {
        self.counters.commit_requested += 1;
        out.push(Output::Commit {
            seq: p.seq,
            block: p.block.clone(),
            private_data: p.private_data.clone(),
        });
    }

    fn retry_due(&mut self, now: Instant, out: &mut Vec<Output>) {
        let Some(f) = self.in_flight.as_mut() else {
            return;
        };
        if f.retry_at.is_some_and(|t| t <= now) {
            f.retry_at = None;
            let payload = f.payload.clone();
            self.counters.commit_retried += 1;
            self.emit_commit(&payload, out);
        }
    }

    /// The outstanding commit, when `seq` names it and the driver holds it.
    fn outstanding(&mut self, seq: u64) -> Option<&mut InFlight> {
        self.in_flight
            .as_mut()
            .filter(|f| f.payload.seq == seq && f.retry_at.is_none())
    }

    fn on_committed(&mut self, seq: u64) {
        if self.outstanding(seq).is_none() {
            self.counters.unexpected_report += 1;
            debug!(channel = %self.channel, seq, "commit confirmation for no outstanding commit");
            return;
        }
        self.in_flight = None;
        self.height = seq.saturating_add(1);
        self.counters.committed += 1;
    }

    fn on_commit_failed(&mut self, now: Instant, seq: u64, error: &str) {
        let cfg = &self.cfg;
        let Some(f) = self
            .in_flight
            .as_mut()
            .filter(|f| f.payload.seq == seq && f.retry_at.is_none())
        else {
            self.counters.unexpected_report += 1;
            return;
        };
        f.failures += 1;
        let wait = cfg.commit_backoff(f.failures);
        f.retry_at = Some(now + wait);
        self.counters.commit_failed += 1;
        warn!(
            channel = %self.channel,
            seq,
            failures = f.failures,
            retry_in_ms = wait.as_millis() as u64,
            "committing block failed: {error}; it will be retried"
        );
    }

    fn on_ledger_height(&mut self, height: u64) {
        if height < self.height {
            self.counters.height_behind += 1;
            return;
        }
        if height == self.height {
            return;
        }
        self.counters.height_jumped += 1;
        self.height = height;
        if self.committing().is_some_and(|s| s < height) {
            // Its outcome no longer matters; a late report is counted as unexpected.
            self.in_flight = None;
        }
        let dropped = self.buffer.drop_below(height);
        self.counters.dropped_committed_elsewhere += dropped as u64;
    }

    /// Reports the hole between the ledger and the highest known block, within the gossip
    /// window (blocks beyond it would be refused anyway).
    fn check_gap(&mut self, now: Instant, out: &mut Vec<Output>) {
        let lo = self
            .height
            .saturating_add(u64::from(self.in_flight.is_some()));
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
