//! The node's owner task: it feeds comm events, host commands and timers to the membership
//! machine and the channel registry, carries out what they ask (send, probe, ping, close,
//! add an anchor peer) and publishes the snapshots that `GossipService::peers` and
//! `peers_of_channel` read without blocking.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::alive_check::verify_alive;
use super::channel_info::ChannelPeerInfo;
use super::command::Command;
use super::counters::NodeCounters;
use super::{PeerInfo, PeerState};
use crate::channel::{self, ChannelCounters, ChannelError, Channels, Received};
use crate::comm::{Comm, CommEvent, ConnectionInfo, ReceivedMessage, RemotePeer};
use crate::crypto::ed25519::Ed25519Crypto;
use crate::crypto::CryptoContext;
use crate::discovery::{Discovery, Input, Liveness, Output, VerifiedAlive};
use crate::identity::IdentityMapper;
use crate::message::{is_tag_legal, SignedGossipMessage};
use crate::proto::gossip::gossip_message::Content;

/// The longest the driver sleeps between ticks, so a late `next_deadline` never stalls it.
const MAX_TICK: Duration = Duration::from_millis(250);
/// How stale the published view may get for changes that are not up/dead/purge events.
const VIEW_REFRESH: Duration = Duration::from_millis(200);

/// What the channel queries read: the peers of every joined channel and the registry's
/// counters, as of the last publish.
#[derive(Debug, Default, Clone)]
pub(super) struct ChannelSnapshot {
    pub peers: BTreeMap<String, Vec<ChannelPeerInfo>>,
    pub counters: ChannelCounters,
}

/// Everything the owner task holds.
pub(super) struct Driver {
    pub discovery: Discovery,
    pub channels: Channels,
    /// The built-in crypto, told each channel's member orgs for `verify_by_channel`; `None`
    /// with host crypto, which applies its own channel policy.
    pub builtin: Option<Arc<Ed25519Crypto>>,
    pub channel_view: Arc<RwLock<ChannelSnapshot>>,
    pub comm: Comm,
    pub crypto: CryptoContext,
    pub mapper: Arc<IdentityMapper>,
    pub counters: Arc<NodeCounters>,
    pub view: Arc<RwLock<Vec<PeerInfo>>>,
    /// Results of probes and pings run in their own tasks, fed back as inputs.
    pub results_tx: mpsc::Sender<Input>,
    pub results_rx: mpsc::Receiver<Input>,
    pub next_purge: Instant,
    pub next_view_refresh: Instant,
}

impl Driver {
    pub async fn run(
        mut self,
        initial: Vec<Input>,
        mut events: mpsc::Receiver<CommEvent>,
        mut commands: mpsc::Receiver<Command>,
        mut stop: watch::Receiver<bool>,
    ) {
        self.step(Input::Tick);
        for input in initial {
            self.step(input);
        }
        loop {
            let deadline = self
                .discovery
                .next_deadline()
                .min(self.channels.next_deadline())
                .min(Instant::now() + MAX_TICK);
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(cmd) = commands.recv() => self.on_command(cmd),
                ev = events.recv() => match ev {
                    Some(ev) => self.on_comm_event(ev),
                    None => break,
                },
                Some(input) = self.results_rx.recv() => self.step(input),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.step(Input::Tick);
                    // A refused call is the only error; a tick is never refused.
                    let _ = self.channel_step(channel::Input::Tick);
                }
            }
        }
        debug!("node driver stopped");
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::JoinChannel {
                channel,
                msg,
                reply,
            } => {
                let res = self.channel_step(channel::Input::Join {
                    channel: channel.clone(),
                    msg,
                });
                // The effective member orgs (an older sequence was ignored) drive the
                // built-in readers policy of the channel.
                if let (Some(ed), Some(orgs)) = (&self.builtin, self.channels.member_orgs(&channel))
                {
                    ed.set_channel_orgs(&channel, orgs);
                }
                self.publish_channels();
                let _ = reply.send(res);
            }
            Command::LeaveChannel { channel, reply } => {
                let res = self.channel_step(channel::Input::Leave { channel });
                self.publish_channels();
                let _ = reply.send(res);
            }
            Command::UpdateLedgerHeight {
                channel,
                height,
                reply,
            } => {
                let _ = reply.send(
                    self.channel_step(channel::Input::UpdateLedgerHeight { channel, height }),
                );
            }
            Command::UpdateChaincodes {
                channel,
                chaincodes,
                reply,
            } => {
                let _ = reply.send(self.channel_step(channel::Input::UpdateChaincodes {
                    channel,
                    chaincodes,
                }));
            }
        }
    }

    /// Feeds one input to the channel registry and carries out its outputs.
    fn channel_step(&mut self, input: channel::Input) -> Result<(), ChannelError> {
        let now = Instant::now();
        let outputs = self.channels.handle(now, &self.discovery, input)?;
        for out in outputs {
            match out {
                channel::Output::Send { to, envelope } => self.comm.send(
                    envelope,
                    &RemotePeer {
                        endpoint: to.endpoint,
                        pki_id: to.pki_id,
                    },
                ),
                channel::Output::AddAnchor { endpoint, org } => {
                    self.step(Input::AddAnchor { endpoint, org })
                }
            }
        }
        self.refresh_views(now, false);
        Ok(())
    }

    fn on_channel_message(&mut self, m: ReceivedMessage) {
        let Some(from_org) = self.crypto.advisor.org_by_peer_identity(&m.conn.identity) else {
            NodeCounters::inc(&self.counters.conn_rejected);
            return;
        };
        let received = Received {
            from: m.conn.pki_id.clone(),
            from_org,
            message: SignedGossipMessage {
                envelope: m.envelope,
                msg: m.msg,
            },
        };
        // Bad messages are counted by the registry and never refused as a call.
        let _ = self.channel_step(channel::Input::Message(Box::new(received)));
    }

    fn on_comm_event(&mut self, ev: CommEvent) {
        match ev {
            CommEvent::Connected(info) => {
                if let Some(input) = self.on_connected(&info) {
                    self.step(input);
                }
            }
            CommEvent::Disconnected(pki_id) => self.step(Input::Disconnected { pki_id }),
            CommEvent::Message(m) => {
                if is_tag_legal(&m.msg).is_err() {
                    NodeCounters::inc(&self.counters.illegal_tag);
                    debug!(peer = %m.conn.pki_id, "message with an illegal tag dropped");
                    return;
                }
                match m.msg.content {
                    Some(
                        Content::StateInfo(_)
                        | Content::StateInfoPullReq(_)
                        | Content::StateSnapshot(_),
                    ) => {
                        NodeCounters::inc(&self.counters.channel_msgs);
                        self.on_channel_message(m)
                    }
                    _ => {
                        if let Some(input) = self.on_message(m) {
                            self.step(input);
                        }
                    }
                }
            }
        }
    }

    fn on_connected(&self, info: &ConnectionInfo) -> Option<Input> {
        // Comm validated the identity during the handshake; the mapper keeps it so later
        // alives without an identity can be verified.
        if let Err(e) = self.mapper.put(&info.pki_id, &info.identity) {
            warn!(peer = %info.pki_id, error = %e, "connected peer's identity refused");
            NodeCounters::inc(&self.counters.conn_rejected);
            self.comm.close_conn(&info.pki_id);
            return None;
        }
        let Some(org) = self.crypto.advisor.org_by_peer_identity(&info.identity) else {
            NodeCounters::inc(&self.counters.conn_rejected);
            self.comm.close_conn(&info.pki_id);
            return None;
        };
        Some(Input::Connected {
            pki_id: info.pki_id.clone(),
            org,
            endpoint: info.endpoint.clone(),
        })
    }

    fn on_message(&self, m: ReceivedMessage) -> Option<Input> {
        let from = m.conn.pki_id.clone();
        match m.msg.content {
            Some(Content::AliveMsg(_)) => {
                let alive = self.check_alive(&m.envelope)?;
                Some(Input::Alive { from, alive })
            }
            Some(Content::MemReq(req)) => {
                let Some(env) = req.self_information else {
                    NodeCounters::inc(&self.counters.mem_req_malformed);
                    return None;
                };
                let alive = self.check_alive(&env)?;
                let from_org = self.crypto.advisor.org_by_peer_identity(&m.conn.identity)?;
                Some(Input::MemReq {
                    from,
                    from_org,
                    nonce: m.msg.nonce,
                    alive,
                })
            }
            Some(Content::MemRes(res)) => {
                let alive = res
                    .alive
                    .iter()
                    .filter_map(|e| self.check_alive(e))
                    .collect();
                let dead = res
                    .dead
                    .iter()
                    .filter_map(|e| self.check_alive(e))
                    .collect();
                Some(Input::MemRes {
                    from,
                    nonce: m.msg.nonce,
                    alive,
                    dead,
                })
            }
            // Channels, pull, state and private data arrive with later parts of the node.
            _ => {
                NodeCounters::inc(&self.counters.unhandled);
                None
            }
        }
    }

    fn check_alive(&self, env: &crate::proto::gossip::Envelope) -> Option<VerifiedAlive> {
        match verify_alive(env, &self.crypto, &self.mapper) {
            Ok((alive, bad_secret)) => {
                if bad_secret {
                    NodeCounters::inc(&self.counters.alive_bad_secret);
                }
                // Lets comm accept a same-org identity switch when it dials this peer.
                if let Some(identity) = &alive.identity {
                    self.comm.learn_identity(&alive.pki_id, identity);
                }
                Some(alive)
            }
            Err(reason) => {
                self.counters.alive_rejected(reason);
                debug!(reason = reason.as_str(), "alive message refused");
                None
            }
        }
    }

    /// Feeds one input to the machine, carries out its outputs, refreshes the snapshot.
    fn step(&mut self, input: Input) {
        let now = Instant::now();
        let outputs = self.discovery.handle(now, input);
        let mut changed = false;
        for out in outputs {
            changed |= self.execute(out);
        }
        if now >= self.next_purge {
            self.next_purge = now + self.mapper.purge_interval();
            for pki_id in self.mapper.purge() {
                debug!(peer = %pki_id, "unused identity purged");
            }
        }
        self.refresh_views(now, changed);
    }

    /// Up/dead/purge publish at once; other updates (a newer alive with another endpoint,
    /// StateInfo received) are picked up by the periodic refresh.
    fn refresh_views(&mut self, now: Instant, membership_changed: bool) {
        if membership_changed || now >= self.next_view_refresh {
            self.next_view_refresh = now + VIEW_REFRESH;
            self.publish_view();
            self.publish_channels();
        }
    }

    /// Publishes the peers of every joined channel and the registry counters.
    pub fn publish_channels(&self) {
        let peers = self
            .channels
            .channel_names()
            .into_iter()
            .map(|name| {
                let list = self
                    .channels
                    .peers_of_channel(&self.discovery, &name)
                    .iter()
                    .map(ChannelPeerInfo::from)
                    .collect();
                (name, list)
            })
            .collect();
        let snapshot = ChannelSnapshot {
            peers,
            counters: self.channels.counters(),
        };
        *self.channel_view.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }

    /// Returns whether membership changed.
    fn execute(&self, out: Output) -> bool {
        match out {
            Output::Send { to, envelope } => {
                self.comm.send(
                    envelope,
                    &RemotePeer {
                        endpoint: to.endpoint,
                        pki_id: to.pki_id,
                    },
                );
                false
            }
            Output::Probe { endpoint } => {
                let comm = self.comm.clone();
                let advisor = self.crypto.advisor.clone();
                let mapper = self.mapper.clone();
                let tx = self.results_tx.clone();
                tokio::spawn(async move {
                    let result = match comm.handshake(&endpoint).await {
                        Ok(info) => match advisor.org_by_peer_identity(&info.identity) {
                            Some(org) => {
                                // Known from now on, so its alive can be verified before the
                                // identity travels again.
                                let _ = mapper.put(&info.pki_id, &info.identity);
                                Ok((info.pki_id, org))
                            }
                            None => Err("the peer's identity has no organization".to_string()),
                        },
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Input::ProbeResult { endpoint, result }).await;
                });
                false
            }
            Output::Ping { pki_id, endpoint } => {
                let comm = self.comm.clone();
                let tx = self.results_tx.clone();
                tokio::spawn(async move {
                    let ok = comm.probe(&endpoint).await.is_ok();
                    let _ = tx.send(Input::PingResult { pki_id, ok }).await;
                });
                false
            }
            Output::CloseConn { pki_id } => {
                self.comm.close_conn(&pki_id);
                false
            }
            Output::PeerUp(pki_id) => {
                info!(peer = %pki_id, "peer alive");
                true
            }
            Output::PeerDead(pki_id) => {
                info!(peer = %pki_id, "peer dead");
                true
            }
            Output::PeerPurged(pki_id) => {
                info!(peer = %pki_id, "peer purged from membership");
                self.mapper.remove(&pki_id);
                true
            }
        }
    }

    pub fn publish_view(&self) {
        let snapshot: Vec<PeerInfo> = self
            .discovery
            .members()
            .into_iter()
            .map(|m| PeerInfo {
                pki_id: m.pki_id.to_hex(),
                endpoint: m.endpoint,
                internal_endpoint: m.internal_endpoint,
                org: m.org,
                state: if m.liveness == Liveness::Alive {
                    PeerState::Alive
                } else {
                    PeerState::Dead
                },
            })
            .collect();
        *self.view.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }
}
