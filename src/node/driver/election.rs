//! Leadership at the owner task: one election machine per joined channel (or the static
//! modes), received leadership messages verified and fed in, proposals and declarations
//! sent to the org's channel peers, and the snapshot `is_leader` reads.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use super::Driver;
use crate::comm::{ReceivedMessage, RemotePeer};
use crate::config::ElectionConfig;
use crate::discovery::PeerTime;
use crate::election::{
    ElectionCounters, Input, LeaderElection, LeadershipMode, LeadershipMsg, Output,
};
use crate::proto::gossip::gossip_message::Content;
use crate::sync::RwLockExt;
use crate::types::PkiId;

/// How many leadership events a slow `subscribe_leadership` receiver may fall behind.
const EVENT_BACKLOG: usize = 1024;

/// One leadership change of this peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadershipEvent {
    pub channel: String,
    pub leader: bool,
}

/// A host hook called on the owner task, in order, at every leadership change.
pub type LeadershipListener = Arc<dyn Fn(&LeadershipEvent) + Send + Sync>;

/// Leadership counters: the channels' election machines summed, and the leadership
/// messages the node refused before they reached a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadershipCounters {
    pub election: ElectionCounters,
    /// Not decodable as a leadership message (empty PKI-ID, no timestamp).
    pub malformed: u64,
    /// Signature check failed, or the signer's identity is unknown.
    pub bad_signature: u64,
    /// Sender or signer not of our org.
    pub foreign_org: u64,
    /// For a channel we have not joined (or left).
    pub unknown_channel: u64,
}

/// What hosts read without blocking.
#[derive(Debug, Default, Clone)]
pub struct LeadershipSnapshot {
    /// Per joined channel: whether this peer leads it.
    pub leaders: BTreeMap<String, bool>,
    pub counters: LeadershipCounters,
}

/// Shared between the owner task (writer) and `GossipService` (readers, subscribers).
pub struct LeadershipShared {
    pub snapshot: RwLock<LeadershipSnapshot>,
    pub events: broadcast::Sender<LeadershipEvent>,
    pub listener: RwLock<Option<LeadershipListener>>,
}

impl LeadershipShared {
    pub fn new() -> Arc<LeadershipShared> {
        Arc::new(LeadershipShared {
            snapshot: RwLock::new(LeadershipSnapshot::default()),
            events: broadcast::channel(EVENT_BACKLOG).0,
            listener: RwLock::new(None),
        })
    }
}

/// The owner task's leadership state.
pub(in crate::node) struct Elections {
    mode: LeadershipMode,
    cfg: ElectionConfig,
    machines: BTreeMap<String, LeaderElection>,
    /// Messages refused before reaching a machine (the machines count the rest).
    refused: LeadershipCounters,
    /// Counters of machines already dropped (left channels), so totals never go down.
    retired: ElectionCounters,
    pub shared: Arc<LeadershipShared>,
}

impl Elections {
    pub fn new(mode: LeadershipMode, cfg: ElectionConfig, shared: Arc<LeadershipShared>) -> Self {
        Elections {
            mode,
            cfg,
            machines: BTreeMap::new(),
            refused: LeadershipCounters::default(),
            retired: ElectionCounters::default(),
            shared,
        }
    }

    /// The earliest instant a machine needs a tick.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.machines.values().map(|m| m.next_deadline()).min()
    }

    fn counters(&self) -> LeadershipCounters {
        let mut c = self.refused.clone();
        c.election = self.retired;
        for m in self.machines.values() {
            c.election.add(m.counters());
        }
        c
    }
}

/// A channel peer to send leadership messages to.
struct Candidate {
    pki_id: PkiId,
    endpoint: String,
}

impl Driver {
    /// A channel was joined for the first time: start its election, or lead at once in
    /// static mode.
    pub(super) fn election_join(&mut self, channel: &str) {
        if self.election.shared_has(channel) {
            return;
        }
        self.election.set_snapshot(channel, Some(false));
        match self.election.mode {
            LeadershipMode::Never => {}
            LeadershipMode::Static => self.leadership_changed(channel, true),
            LeadershipMode::Election => {
                let mcs = self.crypto.mcs.clone();
                let inc_num = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                let machine = LeaderElection::new(
                    self.election.cfg.clone(),
                    channel,
                    self.crypto.self_pki_id.clone(),
                    Box::new(move |p: &[u8]| mcs.sign(p)),
                    Instant::now(),
                    inc_num,
                );
                match machine {
                    Ok(m) => {
                        self.election.machines.insert(channel.to_string(), m);
                        self.election_step(channel, Input::Tick);
                    }
                    // Only a zero timer gets here; the channel then never leads.
                    Err(e) => warn!(channel, "leader election not started: {e}"),
                }
            }
        }
    }

    /// The channel was left: its election stops; a leader reports the loss.
    pub(super) fn election_leave(&mut self, channel: &str) {
        if let Some(m) = self.election.machines.remove(channel) {
            self.election.retired.add(m.counters());
        }
        let was_leader = self
            .election
            .shared
            .snapshot
            .read_locked()
            .leaders
            .get(channel)
            .copied()
            .unwrap_or(false);
        if was_leader {
            self.leadership_changed(channel, false);
        }
        self.election.set_snapshot(channel, None);
    }

    /// Gives up leadership of `channel` (e.g. no orderer can be reached): the election
    /// moves on without this peer for a while. Static leaders never yield.
    pub(super) fn yield_leadership(&mut self, channel: &str) -> bool {
        if !self.election.machines.contains_key(channel) {
            return false;
        }
        self.election_step(channel, Input::Yield);
        true
    }

    /// Ticks every machine whose deadline passed.
    pub(super) fn election_tick(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .election
            .machines
            .iter()
            .filter(|(_, m)| m.next_deadline() <= now)
            .map(|(c, _)| c.clone())
            .collect();
        for channel in due {
            self.election_step(&channel, Input::Tick);
        }
    }

    /// A received leadership message: checked as Fabric does (signature by the PKI-ID it
    /// names, sender and signer of our org, a joined channel) before the machine sees it.
    pub(super) fn on_leadership_message(&mut self, m: ReceivedMessage) {
        let Some(Content::LeadershipMsg(l)) = &m.msg.content else {
            return;
        };
        let Some(ts) = l.timestamp.as_ref().filter(|_| !l.pki_id.is_empty()) else {
            self.election.refused.malformed += 1;
            return;
        };
        let Ok(channel) = std::str::from_utf8(&m.msg.channel) else {
            self.election.refused.unknown_channel += 1;
            return;
        };
        if !self.election.machines.contains_key(channel) {
            // Static and never-leader peers ignore elections, as Fabric's do.
            self.election.refused.unknown_channel += 1;
            return;
        }
        let creator = PkiId(l.pki_id.clone());
        let sender_org = self.crypto.advisor.org_by_peer_identity(&m.conn.identity);
        if sender_org.as_deref() != Some(self.crypto.self_org.as_str()) {
            self.election.refused.foreign_org += 1;
            debug!(channel, peer = %m.conn.pki_id, "leadership message from another org");
            return;
        }
        let Some(identity) = self.mapper.get(&creator) else {
            self.election.refused.bad_signature += 1;
            debug!(channel, creator = %creator, "leadership message from an unknown identity");
            return;
        };
        if self
            .crypto
            .advisor
            .org_by_peer_identity(&identity)
            .as_deref()
            != Some(self.crypto.self_org.as_str())
        {
            self.election.refused.foreign_org += 1;
            return;
        }
        if let Err(e) =
            self.crypto
                .mcs
                .verify(&identity, &m.envelope.signature, &m.envelope.payload)
        {
            self.election.refused.bad_signature += 1;
            debug!(channel, creator = %creator, "leadership message signature: {e}");
            return;
        }
        let msg = LeadershipMsg {
            pki_id: creator,
            timestamp: PeerTime {
                inc_num: ts.inc_num,
                seq_num: ts.seq_num,
            },
            is_declaration: l.is_declaration,
        };
        let channel = channel.to_string();
        self.election_step(&channel, Input::Message(msg));
    }

    /// Feeds one input to a channel's machine and carries out its outputs.
    fn election_step(&mut self, channel: &str, input: Input) {
        let candidates = self.election_candidates(channel);
        let view: Vec<PkiId> = candidates.iter().map(|c| c.pki_id.clone()).collect();
        let Some(m) = self.election.machines.get_mut(channel) else {
            return;
        };
        let out = m.handle(Instant::now(), &view, input);
        for o in out {
            match o {
                // Leadership goes to every org peer of the channel and is never forwarded.
                Output::Gossip(msg) => {
                    for c in &candidates {
                        self.comm.send(
                            msg.envelope.clone(),
                            &RemotePeer {
                                endpoint: c.endpoint.clone(),
                                pki_id: c.pki_id.clone(),
                            },
                        );
                    }
                }
                Output::LeadershipChanged(leader) => self.leadership_changed(channel, leader),
            }
        }
        let counters = self.election.counters();
        self.election.shared.snapshot.write_locked().counters = counters;
    }

    /// Alive channel peers of our org with a StateInfo, self excluded (Fabric's view).
    fn election_candidates(&self, channel: &str) -> Vec<Candidate> {
        self.channels
            .peers_of_channel(&self.discovery, channel)
            .into_iter()
            .filter(|p| p.org == self.crypto.self_org)
            .map(|p| Candidate {
                endpoint: if p.internal_endpoint.is_empty() {
                    p.endpoint
                } else {
                    p.internal_endpoint
                },
                pki_id: p.pki_id,
            })
            .collect()
    }

    /// The one place a leadership change lands: the snapshot, subscribers, the host hook.
    /// (Starting and stopping the orderer delivery service belongs here too.)
    fn leadership_changed(&mut self, channel: &str, leader: bool) {
        info!(channel, leader, "leadership changed");
        self.election.set_snapshot(channel, Some(leader));
        // The leader pulls the channel's blocks from the orderers; the others take them by
        // gossip.
        if leader {
            self.start_deliver(channel);
        } else {
            self.stop_deliver(channel);
        }
        let event = LeadershipEvent {
            channel: channel.to_string(),
            leader,
        };
        // No subscriber is fine.
        let _ = self.election.shared.events.send(event.clone());
        let listener = self.election.shared.listener.read_locked().clone();
        if let Some(listener) = listener {
            listener(&event);
        }
    }
}

impl Elections {
    fn shared_has(&self, channel: &str) -> bool {
        self.shared
            .snapshot
            .read_locked()
            .leaders
            .contains_key(channel)
    }

    /// Sets (or with `None` removes) the channel's entry in the snapshot.
    fn set_snapshot(&self, channel: &str, leader: Option<bool>) {
        let mut s = self.shared.snapshot.write_locked();
        match leader {
            Some(l) => {
                s.leaders.insert(channel.to_string(), l);
            }
            None => {
                s.leaders.remove(channel);
            }
        }
    }
}
