//! The batching emitter (Fabric's `batchingEmitter`): messages wait in a queue and every
//! flush sends each of them to the targets the router chooses now.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tracing::debug;

use super::config::PushConfig;
use super::counters::PushCounters;
use super::error::{PushError, RouteError};
use super::router::{route, RouteParams};
use super::snapshot::RoutingSnapshot;
use crate::message::{strip_secret, SignedGossipMessage};
use crate::proto::gossip::{Envelope, GossipMessage};
use crate::types::PkiId;
use crate::types::RemotePeer;

/// An event for the emitter.
// Inputs are built and consumed at once, never stored: the size gap costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Input {
    /// Time passed; call when [`PushEmitter::next_deadline`] is reached.
    Tick,
    /// Push this message (a new block, StateInfo, leadership … just accepted or created);
    /// `exclude` lists peers that must not get it, the sender above all; `relayed` when it
    /// came from another peer rather than from this one (its host, its orderer).
    Add {
        msg: SignedGossipMessage,
        exclude: Vec<PkiId>,
        relayed: bool,
    },
}

/// An action for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this envelope (the original bytes, or without the secret for other orgs) to
    /// each target: its connection if one exists, else dial `endpoint`.
    Send {
        to: Vec<RemotePeer>,
        envelope: Arc<Envelope>,
    },
}

struct Queued {
    msg: GossipMessage,
    envelope: Arc<Envelope>,
    exclude: Vec<PkiId>,
    relayed: bool,
    /// Flushes left before the message leaves the queue.
    left: u32,
}

/// Fabric's push emitter as a deterministic machine.
///
/// A flush happens when `maxPropagationBurstSize` messages are queued, or when the burst
/// window (`maxPropagationBurstLatency`) that the previous flush opened closes. A message that
/// finds the emitter idle (no flush within the last window) goes out at once and opens a window:
/// sparse traffic (a block every few milliseconds) is not delayed at every hop, bursts are still
/// batched. Fabric flushes on a free-running ticker instead, so each message waits half a window
/// on average at each hop; the wait bound is the same. Each message takes part in
/// `propagateIterations` flushes, targets re-chosen each time.
pub struct PushEmitter {
    cfg: PushConfig,
    params: RouteParams,
    rng: StdRng,
    queue: VecDeque<Queued>,
    deadline: Option<Instant>,
    /// When the last flush happened: a message arriving within the window after it waits.
    last_flush: Option<Instant>,
    counters: PushCounters,
}

impl PushEmitter {
    pub fn new(cfg: PushConfig, rng_seed: u64) -> Result<Self, PushError> {
        cfg.validate()?;
        let params = RouteParams {
            propagate_peer_num: cfg.propagate_peer_num,
            policy: cfg.policy,
        };
        Ok(PushEmitter {
            params,
            queue: VecDeque::with_capacity(cfg.max_propagation_burst_size),
            cfg,
            rng: StdRng::seed_from_u64(rng_seed),
            deadline: None,
            last_flush: None,
            counters: PushCounters::default(),
        })
    }

    /// Feeds one event; `snap` is the current view, used if the event causes a flush.
    pub fn handle(&mut self, now: Instant, input: Input, snap: RoutingSnapshot<'_>) -> Vec<Output> {
        match input {
            Input::Tick => {
                if self.deadline.is_some_and(|d| d <= now) && !self.queue.is_empty() {
                    self.counters.flush_by_latency += 1;
                    return self.flush(now, snap);
                }
                Vec::new()
            }
            Input::Add {
                msg,
                exclude,
                relayed,
            } => {
                if self.cfg.propagate_iterations == 0 {
                    self.counters.disabled += 1;
                    return Vec::new();
                }
                if self.queue.len() >= self.cfg.max_queue {
                    self.queue.pop_front();
                    self.counters.overflow_dropped += 1;
                }
                let SignedGossipMessage { envelope, msg } = msg;
                self.queue.push_back(Queued {
                    msg,
                    envelope: Arc::new(envelope),
                    exclude,
                    relayed,
                    left: self.cfg.propagate_iterations,
                });
                self.counters.queued += 1;
                if !self.params.policy.batches() {
                    self.counters.flush_leading += 1;
                    return self.flush(now, snap);
                }
                let window = self.cfg.max_propagation_burst_latency;
                let idle = self
                    .last_flush
                    .is_none_or(|t| now.saturating_duration_since(t) >= window);
                if self.queue.len() == 1 && idle {
                    self.counters.flush_leading += 1;
                    return self.flush(now, snap);
                }
                if self.deadline.is_none() {
                    // The window the last flush opened closes then.
                    self.deadline = Some(self.last_flush.map_or(now, |t| t + window).max(now));
                }
                if self.queue.len() >= self.cfg.max_propagation_burst_size {
                    self.counters.flush_by_size += 1;
                    return self.flush(now, snap);
                }
                Vec::new()
            }
        }
    }

    /// When the next `Tick` is due; `None` while the queue is empty.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Messages waiting for a flush.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn counters(&self) -> &PushCounters {
        &self.counters
    }

    pub fn config(&self) -> &PushConfig {
        &self.cfg
    }

    fn flush(&mut self, now: Instant, snap: RoutingSnapshot<'_>) -> Vec<Output> {
        let mut out = Vec::new();
        for q in self.queue.iter_mut() {
            match route(
                &q.msg,
                &q.exclude,
                q.relayed,
                snap,
                &self.params,
                &mut self.rng,
            ) {
                Ok(r) if r.is_empty() => self.counters.no_targets += 1,
                Ok(r) => {
                    self.counters.sent += r.len() as u64;
                    if !r.full.is_empty() {
                        out.push(Output::Send {
                            to: r.full,
                            envelope: q.envelope.clone(),
                        });
                    }
                    if !r.stripped.is_empty() {
                        self.counters.secret_stripped += r.stripped.len() as u64;
                        out.push(Output::Send {
                            to: r.stripped,
                            envelope: Arc::new(strip_secret((*q.envelope).clone())),
                        });
                    }
                }
                Err(e) => {
                    debug!(error = %e, "push: message not routed");
                    match e {
                        RouteError::NotInChannel(_) => self.counters.not_in_channel += 1,
                        _ => self.counters.unroutable += 1,
                    }
                }
            }
            q.left = q.left.saturating_sub(1);
        }
        self.queue.retain(|q| q.left > 0);
        self.last_flush = Some(now);
        self.deadline = if self.queue.is_empty() {
            None
        } else {
            Some(now + self.cfg.max_propagation_burst_latency)
        };
        out
    }
}
