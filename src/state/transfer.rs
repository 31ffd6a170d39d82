//! Anti-entropy state transfer of one channel (Fabric's `RemoteStateRequest`/`Response`
//! in `gossip/state/state.go`) as a sans-IO machine: it compares the ledger height with
//! the heights channel peers advertise in StateInfo, asks peers whose height covers a
//! range for its blocks, and hands what comes back to the state provider.
//!
//! Differences from Fabric, on purpose:
//! - a round starts as soon as a height beyond gossip's reach is learned (or a small lag
//!   outlived [`TransferConfig::lag_grace`]), not on the 10 s check interval;
//! - up to [`TransferConfig::max_in_flight`] requests are in flight at once, spread over
//!   the peers that have the blocks (least loaded first), instead of one at a time;
//! - nothing is requested beyond [`TransferConfig::window`] above the ledger height, so
//!   every received block fits the payload buffer and memory is bounded whatever the gap;
//! - a response is accepted only from the peer asked; a bad block or a short response
//!   sends the rest of the range to another peer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, warn};

use super::error::Rejected;
use super::payload::Payload;
pub use super::transfer_config::{TransferConfig, TransferCounters};
use crate::types::PkiId;

/// A `RemoteStateRequest{start_seq_num: start, end_seq_num: end}` (end inclusive) to send
/// point to point to `to`, with a fresh random nonce the response must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRequest {
    pub to: PkiId,
    pub nonce: u64,
    pub start: u64,
    pub end: u64,
}

/// How to answer a `RemoteStateRequest` (see [`StateTransfer::serve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServePlan {
    /// Read blocks `start..=end` from the ledger and answer with them.
    Blocks { start: u64, end: u64 },
    /// The ledger holds none of the range: answer with no payloads, so the requester asks
    /// elsewhere at once instead of waiting for its timeout.
    Empty,
    /// Malformed (`start > end`): no answer.
    Ignore,
}

/// Blocks `start..=end`, with the peers that failed it.
#[derive(Debug, Clone)]
struct Range {
    start: u64,
    end: u64,
    attempts: u32,
    excluded: Vec<PkiId>,
}

#[derive(Debug)]
struct InFlight {
    range: Range,
    peer: PkiId,
    deadline: Instant,
}

pub struct StateTransfer {
    channel: String,
    cfg: TransferConfig,
    rng: StdRng,
    /// The ledger height: the next block to commit.
    height: u64,
    /// Channel peers that may serve us, with their advertised ledger heights.
    peers: BTreeMap<PkiId, u64>,
    /// The lowest seq not yet asked for in this round (never below `height`).
    next: u64,
    in_flight: BTreeMap<u64, InFlight>,
    /// Ranges to ask again, lowest first.
    retry: Vec<Range>,
    /// Since when the ledger has been behind the highest advertised height.
    behind_since: Option<Instant>,
    /// A round is running (requests out or to send).
    active: bool,
    /// After a round was given up: no request before this.
    resume_at: Option<Instant>,
    counters: TransferCounters,
}

impl StateTransfer {
    pub fn new(channel: impl Into<String>, height: u64, cfg: TransferConfig, seed: u64) -> Self {
        StateTransfer {
            channel: channel.into(),
            cfg,
            rng: StdRng::seed_from_u64(seed),
            height,
            peers: BTreeMap::new(),
            next: height,
            in_flight: BTreeMap::new(),
            retry: Vec::new(),
            behind_since: None,
            active: false,
            resume_at: None,
            counters: TransferCounters::default(),
        }
    }

    pub fn config(&self) -> &TransferConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &TransferCounters {
        &self.counters
    }

    /// Requests awaiting their response.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The highest height a channel peer advertises.
    pub fn target(&self) -> u64 {
        self.peers.values().copied().max().unwrap_or(0)
    }

    /// When to call [`tick`](Self::tick) next.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.cfg.enabled {
            return None;
        }
        let mut d = self.in_flight.values().map(|f| f.deadline).min();
        let grace = (!self.active && self.resume_at.is_none() && self.target() > self.height)
            .then(|| self.behind_since.map(|t| t + self.cfg.lag_grace))
            .flatten();
        for t in [grace, self.resume_at].into_iter().flatten() {
            d = Some(d.map_or(t, |x: Instant| x.min(t)));
        }
        d
    }

    /// The ledger height moved (a commit, or the host committed by other means).
    pub fn set_height(&mut self, now: Instant, height: u64) -> Vec<StateRequest> {
        if height > self.height {
            self.height = height;
            // Requests wholly below the height were met by gossip or by earlier responses;
            // their slots go to new ranges (a late response then counts as unsolicited).
            self.in_flight.retain(|_, f| f.range.end >= height);
        }
        self.plan(now)
    }

    /// The channel peers that may serve us and the heights their StateInfo advertise
    /// (replaces the previous set).
    pub fn set_peer_heights(
        &mut self,
        now: Instant,
        heights: impl IntoIterator<Item = (PkiId, u64)>,
    ) -> Vec<StateRequest> {
        self.peers = heights.into_iter().collect();
        self.plan(now)
    }

    /// Expires requests whose response is overdue and sends what is due.
    pub fn tick(&mut self, now: Instant) -> Vec<StateRequest> {
        let overdue: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(n, _)| *n)
            .collect();
        for nonce in overdue {
            if let Some(f) = self.in_flight.remove(&nonce) {
                self.counters.timeouts += 1;
                debug!(channel = %self.channel, peer = %f.peer, start = f.range.start, end = f.range.end, "state response timed out");
                self.requeue(now, f.range, f.peer);
            }
        }
        self.plan(now)
    }

    /// The range asked of `from` by the request `nonce`, while it awaits its response: what
    /// a response may carry, so only that is verified ahead of [`on_response`](Self::on_response).
    pub fn awaited(&self, nonce: u64, from: &PkiId) -> Option<(u64, u64)> {
        self.in_flight
            .get(&nonce)
            .filter(|f| &f.peer == from)
            .map(|f| (f.range.start, f.range.end))
    }

    /// A `RemoteStateResponse` from `from` (who passed the channel's access check) echoing
    /// `nonce`. Payloads inside the range asked go to `sink` (the state provider, which
    /// verifies them); a bad or missing part of the range is asked of another peer.
    pub fn on_response(
        &mut self,
        now: Instant,
        from: &PkiId,
        nonce: u64,
        payloads: Vec<Payload>,
        sink: impl FnMut(Payload) -> Result<(), Rejected>,
    ) -> Vec<StateRequest> {
        self.on_response_with(now, from, nonce, payloads, |p| p.seq, sink)
    }

    /// As [`on_response`](Self::on_response) for payloads in another form (verified off the
    /// owner task, say); `seq` reads an item's block number.
    pub fn on_response_with<T>(
        &mut self,
        now: Instant,
        from: &PkiId,
        nonce: u64,
        payloads: Vec<T>,
        seq: impl Fn(&T) -> u64,
        mut sink: impl FnMut(T) -> Result<(), Rejected>,
    ) -> Vec<StateRequest> {
        if self.in_flight.get(&nonce).is_none_or(|f| &f.peer != from) {
            self.counters.unsolicited += 1;
            debug!(channel = %self.channel, peer = %from, nonce, "state response for no request of ours");
            return Vec::new();
        }
        let Some(f) = self.in_flight.remove(&nonce) else {
            return Vec::new();
        };
        self.counters.responses += 1;
        if payloads.is_empty() {
            self.counters.empty_responses += 1;
        }
        let (start, end) = (f.range.start, f.range.end);
        let mut got = BTreeSet::new();
        let mut bad = false;
        for p in payloads {
            let seq = seq(&p);
            if seq < start || seq > end || got.contains(&seq) {
                self.counters.out_of_range += 1;
                bad = true;
                continue;
            }
            match sink(p) {
                Ok(()) => {
                    self.counters.blocks_received += 1;
                    got.insert(seq);
                }
                // Already here by gossip or committed: as good as received.
                Err(Rejected::Old { .. } | Rejected::Duplicate { .. }) => {
                    got.insert(seq);
                }
                Err(
                    Rejected::Invalid { .. }
                    | Rejected::WrongChannel { .. }
                    | Rejected::BrokenChain { .. },
                ) => {
                    self.counters.invalid_blocks += 1;
                    bad = true;
                }
                // Only if the height went back, which the provider never does: ask again.
                Err(Rejected::TooFarAhead { .. }) => {}
            }
        }
        if bad {
            warn!(channel = %self.channel, peer = %from, start, end, "state response with bad blocks; asking another peer");
        }
        // The part still missing (from the first hole to the last) is asked again.
        let lo = start.max(self.height);
        let first = (lo..=end).find(|s| !got.contains(s));
        let last = (lo..=end).rev().find(|s| !got.contains(s));
        if let (Some(first), Some(last)) = (first, last) {
            let range = Range {
                start: first,
                end: last,
                ..f.range
            };
            self.requeue(now, range, f.peer);
        }
        self.plan(now)
    }

    /// Decides how to answer a request for `start..=end` with a ledger of `height`
    /// blocks: only the range asked, capped at Fabric's `end − start ≤ batchSize`, and
    /// only blocks the ledger holds. The caller checked the requester's access first.
    pub fn serve(&mut self, start: u64, end: u64, height: u64) -> ServePlan {
        if start > end {
            self.counters.invalid_requests += 1;
            return ServePlan::Ignore;
        }
        let mut end = end;
        if end - start > self.cfg.batch_size {
            self.counters.capped_requests += 1;
            end = start + self.cfg.batch_size;
        }
        self.counters.requests_served += 1;
        if start >= height {
            return ServePlan::Empty;
        }
        ServePlan::Blocks {
            start,
            end: end.min(height - 1),
        }
    }

    /// Counts a request refused by the access check.
    pub fn refused_request(&mut self) {
        self.counters.refused_requests += 1;
    }

    /// Counts a response refused by the access check.
    pub fn refused_response(&mut self) {
        self.counters.refused_responses += 1;
    }

    /// Counts a request dropped because serving is saturated.
    pub fn busy(&mut self) {
        self.counters.busy += 1;
    }

    /// Puts a failed range back for another peer, or gives the round up.
    fn requeue(&mut self, now: Instant, mut range: Range, failed: PkiId) {
        if range.end < self.height {
            return;
        }
        range.start = range.start.max(self.height);
        range.attempts += 1;
        if range.attempts > self.cfg.max_retries {
            self.give_up(now, &range);
            return;
        }
        self.counters.retries += 1;
        if !range.excluded.contains(&failed) {
            range.excluded.push(failed);
        }
        let at = self.retry.partition_point(|r| r.start < range.start);
        self.retry.insert(at, range);
    }

    /// Fabric's end of a round after too many retries: everything is dropped and the next
    /// round waits `checkInterval`.
    fn give_up(&mut self, now: Instant, range: &Range) {
        self.counters.gave_up += 1;
        warn!(channel = %self.channel, start = range.start, end = range.end, attempts = range.attempts, "state transfer gave up on a range; next round after the check interval");
        self.in_flight.clear();
        self.retry.clear();
        self.active = false;
        self.next = self.height;
        self.resume_at = Some(now + self.cfg.check_interval);
    }

    /// Starts or continues the round: keeps up to `max_in_flight` requests out, within the
    /// window above the height.
    fn plan(&mut self, now: Instant) -> Vec<StateRequest> {
        let mut out = Vec::new();
        if !self.cfg.enabled {
            return out;
        }
        let target = self.target();
        if target <= self.height {
            self.behind_since = None;
            self.active = false;
            self.retry.clear();
            self.next = self.height;
            return out;
        }
        let resumed = match self.resume_at {
            Some(t) if now < t => return out,
            Some(_) => {
                self.resume_at = None;
                true
            }
            None => false,
        };
        let since = *self.behind_since.get_or_insert(now);
        if !self.active {
            let far = target - self.height > self.cfg.gossip_window;
            if !resumed && !far && now < since + self.cfg.lag_grace {
                return out;
            }
            self.active = true;
            self.counters.rounds += 1;
            debug!(channel = %self.channel, height = self.height, target, "state transfer round starts");
        }
        // Drop what the ledger already holds.
        let height = self.height;
        self.retry.retain(|r| r.end >= height);
        for r in &mut self.retry {
            r.start = r.start.max(height);
        }
        self.next = self.next.max(height);
        let limit = target.min(height.saturating_add(self.cfg.window)); // exclusive
        while self.in_flight.len() < self.cfg.max_in_flight {
            let range = if !self.retry.is_empty() {
                self.retry.remove(0)
            } else if self.next < limit
                && (limit == target || limit - self.next >= self.cfg.batch_size)
            {
                // Whole batches only (but the last): a slot freed by one commit waits for a
                // batch's worth, so a deep gap is not fetched one block per round trip.
                let end = (self.next + self.cfg.batch_size - 1).min(limit - 1);
                let r = Range {
                    start: self.next,
                    end,
                    attempts: 0,
                    excluded: Vec::new(),
                };
                self.next = end + 1;
                r
            } else {
                break;
            };
            let Some(peer) = self.pick_peer(&range) else {
                self.counters.no_peer += 1;
                let at = self.retry.partition_point(|r| r.start < range.start);
                self.retry.insert(at, range);
                break;
            };
            let nonce = self.fresh_nonce();
            self.counters.requests_sent += 1;
            out.push(StateRequest {
                to: peer.clone(),
                nonce,
                start: range.start,
                end: range.end,
            });
            self.in_flight.insert(
                nonce,
                InFlight {
                    range,
                    peer,
                    deadline: now + self.cfg.response_timeout,
                },
            );
        }
        out
    }

    /// A peer whose height covers `range`: one that has not failed it if any, the least
    /// loaded, ties broken at random.
    fn pick_peer(&mut self, range: &Range) -> Option<PkiId> {
        let covering: Vec<&PkiId> = self
            .peers
            .iter()
            .filter(|(_, h)| **h > range.end)
            .map(|(p, _)| p)
            .collect();
        let fresh: Vec<&PkiId> = covering
            .iter()
            .copied()
            .filter(|p| !range.excluded.contains(p))
            .collect();
        let pool = if fresh.is_empty() { covering } else { fresh };
        let load = |p: &PkiId| self.in_flight.values().filter(|f| &f.peer == p).count();
        let min = pool.iter().map(|p| load(p)).min()?;
        let least: Vec<&PkiId> = pool.into_iter().filter(|p| load(p) == min).collect();
        let i = self.rng.gen_range(0..least.len());
        Some(least[i].clone())
    }

    fn fresh_nonce(&mut self) -> u64 {
        loop {
            let n: u64 = self.rng.gen();
            if n != 0 && !self.in_flight.contains_key(&n) {
                return n;
            }
        }
    }
}
