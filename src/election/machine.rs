//! The election state machine of one channel: events in, actions out; time injected.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use tracing::{debug, info, warn};

use super::counters::ElectionCounters;
use super::events::{Input, LeadershipMsg, Output};
use crate::config::ElectionConfig;
use crate::discovery::{PeerTime, Signer};
use crate::message::{leadership_msg, SignedGossipMessage};
use crate::proto::gossip;
use crate::types::PkiId;

/// Fabric stays out of elections this many leader alive thresholds after a yield.
const YIELD_THRESHOLDS: u32 = 6;
/// Fabric's leadership message store keeps entries this many leader alive thresholds.
const STORE_THRESHOLDS: u32 = 10;

/// Why the machine could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    #[error("invalid election config: {0}")]
    InvalidConfig(String),
    #[error("invalid self information: {0}")]
    InvalidSelf(String),
}

/// Where the peer is in Fabric's loop; each phase ends at `until` (or earlier when a
/// declaration interrupts an interruptible wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the candidate count to settle.
    Startup {
        until: Instant,
        next_sample: Instant,
        /// Candidate count at the previous sample; `None` before the first call.
        view_size: Option<usize>,
    },
    /// A proposal went out; collecting others until `until`.
    Electing { until: Instant },
    /// Leading; the next declaration is due at `until`.
    Leading { until: Instant },
    /// Following; elect again at `until` unless a declaration pushes it back.
    Following { until: Instant },
}

/// Fabric's leader election for one channel as a deterministic machine.
///
/// Deviation from Fabric, with the same messages: a follower re-elects
/// `leaderAliveThreshold` after the last declaration it received (Fabric checks in fixed
/// rounds of that length, so a takeover can take up to two thresholds plus the election).
/// A declaration during startup ends startup at once rather than at the next sample.
pub struct LeaderElection {
    cfg: ElectionConfig,
    channel: String,
    me: PkiId,
    signer: Box<dyn Signer>,
    inc_num: u64,
    seq_num: u64,
    phase: Phase,
    is_leader: bool,
    /// Fabric's `leaderExists`: a declaration was seen (or we declared) since the last reset.
    leader_exists: bool,
    /// Peers that proposed since we last became a follower.
    proposals: BTreeSet<PkiId>,
    /// Until when we stay out of elections after a yield.
    yielding_until: Option<Instant>,
    /// Newest timestamp per peer and when it arrived: replays and duplicates are dropped.
    last_seen: BTreeMap<PkiId, (PeerTime, Instant)>,
    next_store_sweep: Instant,
    counters: ElectionCounters,
}

impl LeaderElection {
    /// Builds the machine for `channel`. `inc_num` is the start time in ns since the Unix
    /// epoch (the incarnation number of our leadership messages); `now` is the injected
    /// clock. Call `handle(now, view, Input::Tick)` right away and whenever
    /// [`next_deadline`](Self::next_deadline) passes.
    pub fn new(
        cfg: ElectionConfig,
        channel: &str,
        me: PkiId,
        signer: Box<dyn Signer>,
        now: Instant,
        inc_num: u64,
    ) -> Result<Self, ElectionError> {
        for (name, d) in [
            ("startupGracePeriod", cfg.startup_grace_period),
            ("membershipSampleInterval", cfg.membership_sample_interval),
            ("leaderAliveThreshold", cfg.leader_alive_threshold),
            ("leaderElectionDuration", cfg.leader_election_duration),
        ] {
            if d.is_zero() {
                return Err(ElectionError::InvalidConfig(format!(
                    "peer.gossip.election.{name} must be positive"
                )));
            }
        }
        if me.is_empty() {
            return Err(ElectionError::InvalidSelf("empty PKI-ID".into()));
        }
        if channel.is_empty() {
            return Err(ElectionError::InvalidSelf("empty channel name".into()));
        }
        Ok(LeaderElection {
            phase: Phase::Startup {
                until: now + cfg.startup_grace_period,
                next_sample: now + cfg.membership_sample_interval,
                view_size: None,
            },
            next_store_sweep: now + cfg.leader_alive_threshold,
            cfg,
            channel: channel.to_string(),
            me,
            signer,
            inc_num,
            seq_num: 0,
            is_leader: false,
            leader_exists: false,
            proposals: BTreeSet::new(),
            yielding_until: None,
            last_seen: BTreeMap::new(),
            counters: ElectionCounters::default(),
        })
    }

    /// Feeds one event; `view` is the current candidates (alive peers of our org in the
    /// channel, self excluded). Returns the actions to perform, in order. Due timers run on
    /// every call, whatever the event.
    pub fn handle(&mut self, now: Instant, view: &[PkiId], input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if let Phase::Startup {
            view_size: ref mut size @ None,
            ..
        } = self.phase
        {
            *size = Some(view.len());
        }
        match input {
            Input::Tick => {}
            Input::Message(m) => self.on_message(now, view, m, &mut out),
            Input::Yield => self.on_yield(now, &mut out),
        }
        self.run_timers(now, view, &mut out);
        out
    }

    /// The earliest instant at which a timer needs `handle(.., Input::Tick)`.
    pub fn next_deadline(&self) -> Instant {
        let phase = match self.phase {
            Phase::Startup {
                until, next_sample, ..
            } => until.min(next_sample),
            Phase::Electing { until } | Phase::Leading { until } | Phase::Following { until } => {
                until
            }
        };
        let mut d = phase.min(self.next_store_sweep);
        if let Some(y) = self.yielding_until {
            d = d.min(y);
        }
        d
    }

    pub fn is_leader(&self) -> bool {
        self.is_leader
    }

    /// Whether this peer stays out of elections after a yield.
    pub fn is_yielding(&self) -> bool {
        self.yielding_until.is_some()
    }

    pub fn counters(&self) -> &ElectionCounters {
        &self.counters
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    fn on_message(
        &mut self,
        now: Instant,
        view: &[PkiId],
        m: LeadershipMsg,
        out: &mut Vec<Output>,
    ) {
        if m.pki_id == self.me {
            self.counters.from_self += 1;
            return;
        }
        if !view.contains(&m.pki_id) {
            self.counters.not_in_view += 1;
            debug!(channel = %self.channel, peer = %m.pki_id, "leadership message from a peer outside the view");
            return;
        }
        if let Some((held, _)) = self.last_seen.get(&m.pki_id) {
            if !m.timestamp.is_newer_than(held) {
                self.counters.stale += 1;
                return;
            }
        }
        self.last_seen.insert(m.pki_id.clone(), (m.timestamp, now));
        if !m.is_declaration {
            self.counters.proposals_received += 1;
            self.proposals.insert(m.pki_id);
            return;
        }
        self.counters.declarations_received += 1;
        self.leader_exists = true;
        // Another peer leads: a yield has served its purpose.
        self.yielding_until = None;
        if m.pki_id < self.me && self.is_leader {
            info!(channel = %self.channel, leader = %m.pki_id, "a lower PKI-ID declared leadership; stepping down");
            self.stop_leading(out);
        }
        match self.phase {
            // Fabric's interruptible waits end at a declaration.
            Phase::Startup { .. } | Phase::Electing { .. } | Phase::Leading { .. } => {
                self.phase_done(now, view, out)
            }
            Phase::Following { ref mut until } => *until = now + self.cfg.leader_alive_threshold,
        }
    }

    fn on_yield(&mut self, now: Instant, out: &mut Vec<Output>) {
        if !self.is_leader || self.yielding_until.is_some() {
            self.counters.yields_ignored += 1;
            return;
        }
        self.counters.yields += 1;
        info!(channel = %self.channel, "yielding leadership");
        self.yielding_until = Some(now + self.cfg.leader_alive_threshold * YIELD_THRESHOLDS);
        self.stop_leading(out);
        self.leader_exists = false;
        self.enter_following(now);
    }

    fn run_timers(&mut self, now: Instant, view: &[PkiId], out: &mut Vec<Output>) {
        if self.yielding_until.is_some_and(|y| now >= y) {
            debug!(channel = %self.channel, "yield period over");
            self.yielding_until = None;
        }
        if now >= self.next_store_sweep {
            let ttl = self.cfg.leader_alive_threshold * STORE_THRESHOLDS;
            self.last_seen
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
            self.next_store_sweep = now + self.cfg.leader_alive_threshold;
        }
        // Bounded: each pass either leaves the loop or moves a deadline past `now`.
        for _ in 0..8 {
            match self.phase {
                Phase::Startup {
                    until,
                    next_sample,
                    view_size,
                } => {
                    if now < next_sample && now < until {
                        return;
                    }
                    let stable = view_size == Some(view.len());
                    if stable || now >= until {
                        self.phase_done(now, view, out);
                    } else {
                        self.phase = Phase::Startup {
                            until,
                            next_sample: now + self.cfg.membership_sample_interval,
                            view_size: Some(view.len()),
                        };
                    }
                }
                Phase::Electing { until } | Phase::Leading { until } => {
                    if now < until {
                        return;
                    }
                    self.phase_done(now, view, out);
                }
                Phase::Following { until } => {
                    if now < until {
                        return;
                    }
                    // No declaration for a whole threshold: the leader is gone.
                    self.leader_exists = false;
                    self.phase_done(now, view, out);
                }
            }
        }
    }

    /// The current phase ended (timer or interrupt): Fabric's loop body decides what next.
    fn phase_done(&mut self, now: Instant, view: &[PkiId], out: &mut Vec<Output>) {
        if let Phase::Electing { .. } = self.phase {
            self.conclude_election(view, out);
        } else if !self.leader_exists && self.yielding_until.is_none() {
            self.propose(out);
            self.phase = Phase::Electing {
                until: now + self.cfg.leader_election_duration,
            };
            return;
        }
        if self.is_leader {
            self.declare(out);
            self.phase = Phase::Leading {
                until: now + self.cfg.leader_alive_threshold / 2,
            };
        } else {
            self.enter_following(now);
        }
    }

    /// End of the proposal window: lead unless someone declared or a lower PKI-ID proposed.
    fn conclude_election(&mut self, view: &[PkiId], out: &mut Vec<Output>) {
        if self.leader_exists || self.yielding_until.is_some() {
            return;
        }
        // Only proposals from peers still in the view count (a dead proposer cannot lead).
        let lower = self
            .proposals
            .iter()
            .any(|p| *p < self.me && view.contains(p));
        if lower {
            return;
        }
        info!(channel = %self.channel, "elected leader");
        self.is_leader = true;
        self.leader_exists = true;
        self.counters.became_leader += 1;
        out.push(Output::LeadershipChanged(true));
    }

    fn enter_following(&mut self, now: Instant) {
        self.proposals.clear();
        self.leader_exists = false;
        self.phase = Phase::Following {
            until: now + self.cfg.leader_alive_threshold,
        };
    }

    fn stop_leading(&mut self, out: &mut Vec<Output>) {
        if self.is_leader {
            self.is_leader = false;
            self.counters.stopped_leading += 1;
            out.push(Output::LeadershipChanged(false));
        }
    }

    fn propose(&mut self, out: &mut Vec<Output>) {
        if let Some(m) = self.message(false) {
            self.counters.proposals_sent += 1;
            out.push(Output::Gossip(Box::new(m)));
        }
    }

    fn declare(&mut self, out: &mut Vec<Output>) {
        if let Some(m) = self.message(true) {
            self.counters.declarations_sent += 1;
            out.push(Output::Gossip(Box::new(m)));
        }
    }

    /// A signed proposal or declaration with the next timestamp; `None` (counted) when
    /// signing fails.
    fn message(&mut self, is_declaration: bool) -> Option<SignedGossipMessage> {
        self.seq_num += 1;
        let ts = gossip::PeerTime {
            inc_num: self.inc_num,
            seq_num: self.seq_num,
        };
        let msg = leadership_msg(self.channel.as_bytes(), &self.me, ts, is_declaration);
        match SignedGossipMessage::sign(msg, |p| self.signer.sign(p)) {
            Ok(m) => Some(m),
            Err(e) => {
                self.counters.sign_failed += 1;
                warn!(channel = %self.channel, "cannot sign a leadership message: {e}");
                None
            }
        }
    }
}
