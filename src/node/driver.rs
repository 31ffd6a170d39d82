//! The node's owner task: it feeds comm events, host commands and timers to the membership
//! machine and the channel registry, carries out what they ask (send, probe, ping, close,
//! add an anchor peer) and publishes the snapshots that `GossipService::peers` and
//! `peers_of_channel` read without blocking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::alive_check::verify_alive;
use super::blocks::{ChannelBlockStats, ChannelBlocks};
use super::channel_info::ChannelPeerInfo;
use super::command::Command;
use super::counters::NodeCounters;
use super::{ChannelCallError, PeerInfo, PeerState};
use crate::channel::{self, ChannelCounters, ChannelError, Channels, JoinChannelMessage, Received};
use crate::comm::{Comm, CommEvent, ConnectionInfo, ReceivedMessage, RemotePeer};
use crate::config::GossipConfig;
use crate::crypto::ed25519::Ed25519Crypto;
use crate::crypto::CryptoContext;
use crate::discovery::{Discovery, Input, Liveness, Output, VerifiedAlive};
use crate::identity::IdentityMapper;
use crate::message::{data_msg, is_tag_legal, SignedGossipMessage};
use crate::proto::gossip::gossip_message::Content;
use crate::proto::gossip::PullMsgType;
use crate::pull::pull_input;
use crate::push::{LocalPeer, PushEmitter, RoutePeer, RoutingSnapshot};
use crate::state::{self, commit_to_ledger, BlockVerifier, Rejected, Source};
use crate::types::PkiId;

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
    /// Ledger height and block counters of each joined channel.
    pub blocks: BTreeMap<String, ChannelBlockStats>,
}

/// A ledger commit's report, from the blocking thread that ran it.
pub(super) type CommitReport = (String, state::Input);

/// Everything the owner task holds.
pub(super) struct Driver {
    pub discovery: Discovery,
    pub channels: Channels,
    /// The built-in crypto, told each channel's member orgs for `verify_by_channel`; `None`
    /// with host crypto, which applies its own channel policy.
    pub builtin: Option<Arc<Ed25519Crypto>>,
    pub channel_view: Arc<RwLock<ChannelSnapshot>>,
    /// Per joined (not left) channel: state provider, block store, block pull, ledger.
    pub blocks: BTreeMap<String, ChannelBlocks>,
    pub push: PushEmitter,
    pub gossip_cfg: GossipConfig,
    /// `peer.fileSystemPath`: channel ledgers live under it.
    pub data_dir: PathBuf,
    /// `fabgossip.ledgerFsync`.
    pub ledger_fsync: bool,
    pub block_verifier: Arc<dyn BlockVerifier>,
    /// This peer's external endpoint, for push routing.
    pub self_endpoint: String,
    pub commit_tx: mpsc::Sender<CommitReport>,
    pub commit_rx: mpsc::Receiver<CommitReport>,
    pub seed: u64,
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
            let mut deadline = self
                .discovery
                .next_deadline()
                .min(self.channels.next_deadline())
                .min(Instant::now() + MAX_TICK);
            for b in self.blocks.values() {
                deadline = deadline.min(b.next_deadline());
            }
            if let Some(d) = self.push.next_deadline() {
                deadline = deadline.min(d);
            }
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(cmd) = commands.recv() => self.on_command(cmd),
                ev = events.recv() => match ev {
                    Some(ev) => self.on_comm_event(ev),
                    None => break,
                },
                Some(input) = self.results_rx.recv() => self.step(input),
                Some((ch, report)) = self.commit_rx.recv() => self.on_commit_report(&ch, report),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.step(Input::Tick);
                    // A refused call is the only error; a tick is never refused.
                    let _ = self.channel_step(channel::Input::Tick);
                    self.blocks_tick();
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
                let res = self.join(channel.clone(), msg);
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
                let res = self.channel_step(channel::Input::Leave {
                    channel: channel.clone(),
                });
                if res.is_ok() {
                    // The channel's block work stops; its ledger file is closed.
                    self.blocks.remove(&channel);
                }
                self.publish_channels();
                let _ = reply.send(res.map_err(Into::into));
            }
            Command::AddPayload {
                channel,
                seq,
                block,
                reply,
            } => {
                let res = self.add_payload(&channel, seq, block);
                let _ = reply.send(res);
            }
            Command::UpdateLedgerHeight {
                channel,
                height,
                reply,
            } => {
                let _ = reply.send(
                    self.channel_step(channel::Input::UpdateLedgerHeight { channel, height })
                        .map_err(Into::into),
                );
            }
            Command::UpdateChaincodes {
                channel,
                chaincodes,
                reply,
            } => {
                let _ = reply.send(
                    self.channel_step(channel::Input::UpdateChaincodes {
                        channel,
                        chaincodes,
                    })
                    .map_err(Into::into),
                );
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

    /// Joins (or reconfigures) a channel; on first join its ledger is opened, and the own
    /// StateInfo carries the ledger height.
    fn join(&mut self, channel: String, msg: JoinChannelMessage) -> Result<(), ChannelCallError> {
        let opened = if self.blocks.contains_key(&channel) || self.channels.is_joined(&channel) {
            None
        } else {
            // Blocking file I/O on the owner task: a join is a rare host call.
            let seed = self.seed ^ self.blocks.len() as u64;
            Some(
                ChannelBlocks::open(
                    &channel,
                    &self.data_dir,
                    &self.gossip_cfg,
                    self.block_verifier.clone(),
                    Instant::now(),
                    seed,
                    self.ledger_fsync,
                )
                .map_err(ChannelCallError::Ledger)?,
            )
        };
        self.channel_step(channel::Input::Join {
            channel: channel.clone(),
            msg,
        })?;
        if let Some(b) = opened {
            let height = b.height();
            self.blocks.insert(channel.clone(), b);
            if height > 0 {
                self.channel_step(channel::Input::UpdateLedgerHeight {
                    channel: channel.clone(),
                    height,
                })?;
            }
        }
        Ok(())
    }

    /// A block from the host: verified, buffered, committed in order and pushed to the org.
    fn add_payload(
        &mut self,
        channel: &str,
        seq: u64,
        block: Vec<u8>,
    ) -> Result<(), ChannelCallError> {
        let now = Instant::now();
        let Some(b) = self.blocks.get_mut(channel) else {
            return Err(ChannelError::UnknownChannel(channel.to_string()).into());
        };
        let msg = SignedGossipMessage::unsigned(data_msg(channel.as_bytes(), seq, block));
        let mut out = Vec::new();
        let res = b.accept(now, msg, Source::Deliverer, false, &mut out);
        let res = match res {
            Ok(Some(new)) => {
                b.counters.forwarded += 1;
                self.push_block(now, new.msg, Vec::new());
                Ok(())
            }
            // Already held: adding a block twice is harmless.
            Ok(None) => Ok(()),
            Err(Rejected::TooFarAhead { seq, height, .. }) => {
                Err(ChannelCallError::TooFarAhead { seq, height })
            }
            Err(e) => Err(ChannelCallError::InvalidBlock(e.to_string())),
        };
        self.execute_state(channel, out);
        res
    }

    /// A pushed block: taken when new and valid, then pushed on (never back to the sender).
    fn on_block_message(&mut self, m: ReceivedMessage) {
        let now = Instant::now();
        let from = m.conn.pki_id.clone();
        let Some((channel, org_ok)) = self.channel_of(&m, false) else {
            NodeCounters::inc(&self.counters.block_unknown_channel);
            return;
        };
        let Some(b) = self.blocks.get_mut(&channel) else {
            return;
        };
        b.counters.pushed_in += 1;
        if !org_ok {
            b.counters.refused += 1;
            return;
        }
        let msg = SignedGossipMessage {
            envelope: m.envelope,
            msg: m.msg,
        };
        let mut out = Vec::new();
        if let Ok(Some(new)) = b.accept(now, msg, Source::Gossip, false, &mut out) {
            b.counters.forwarded += 1;
            self.push_block(now, new.msg, vec![from]);
        }
        self.execute_state(&channel, out);
    }

    /// A block pull message (hello, digest, request, update) from a peer of our org.
    fn on_pull_message(&mut self, m: ReceivedMessage) {
        let now = Instant::now();
        let Some((channel, org_ok)) = self.channel_of(&m, true) else {
            NodeCounters::inc(&self.counters.block_unknown_channel);
            return;
        };
        let Some(b) = self.blocks.get_mut(&channel) else {
            return;
        };
        if !org_ok {
            b.counters.refused += 1;
            return;
        }
        let input = match pull_input(
            m.conn.pki_id.clone(),
            &m.msg,
            PullMsgType::BlockMsg,
            channel.as_bytes(),
        ) {
            Ok(input) => input,
            Err(e) => {
                // Identity pull is not served yet; other mismatches are malformed.
                debug!(peer = %m.conn.pki_id, error = %e, "pull message dropped");
                NodeCounters::inc(&self.counters.unhandled);
                return;
            }
        };
        let out = b.pull_input(now, input);
        self.execute_pull(&channel, out);
    }

    /// The joined channel a block or pull message names, and whether its sender may send
    /// it: an org of the channel for blocks, our own org for block pull.
    fn channel_of(&self, m: &ReceivedMessage, own_org_only: bool) -> Option<(String, bool)> {
        let channel = std::str::from_utf8(&m.msg.channel).ok()?;
        if !self.blocks.contains_key(channel) {
            return None;
        }
        let org = self.crypto.advisor.org_by_peer_identity(&m.conn.identity);
        let ok = org.is_some_and(|o| {
            if own_org_only {
                o == self.crypto.self_org
            } else {
                self.channels.is_org_in_channel(channel, &o)
            }
        });
        Some((channel.to_string(), ok))
    }

    fn push_block(&mut self, now: Instant, msg: SignedGossipMessage, exclude: Vec<PkiId>) {
        let (me, peers) = self.routing_view();
        let out = self.push.handle(
            now,
            crate::push::Input::Add { msg, exclude },
            RoutingSnapshot::new(&me, &peers),
        );
        self.execute_push(out);
    }

    /// This peer and the alive members as push routing sees them: per joined channel,
    /// whether the member's org is in it and whether its StateInfo (not left) is held.
    fn routing_view(&self) -> (LocalPeer, Vec<RoutePeer>) {
        let names: Vec<&String> = self.blocks.keys().collect();
        let me = LocalPeer {
            pki_id: self.crypto.self_pki_id.clone(),
            org: self.crypto.self_org.clone(),
            endpoint: self.self_endpoint.clone(),
            channels: names
                .iter()
                .map(|n| n.as_bytes().to_vec())
                .collect::<BTreeSet<_>>(),
        };
        let peers = self
            .discovery
            .alive_members()
            .iter()
            .map(|m| {
                let mut p = RoutePeer::from_member(m);
                for name in &names {
                    if self.channels.is_org_in_channel(name, &m.org) {
                        let has_state_info = self
                            .channels
                            .state_info(name, &m.pki_id)
                            .is_some_and(|si| !si.fields.properties.left_channel);
                        p = p.in_channel(name.as_bytes(), has_state_info);
                    }
                }
                p
            })
            .collect();
        (me, peers)
    }

    fn execute_push(&self, out: Vec<crate::push::Output>) {
        for crate::push::Output::Send { to, envelope } in out {
            for t in to {
                self.comm.send(
                    (*envelope).clone(),
                    &RemotePeer {
                        endpoint: t.endpoint,
                        pki_id: t.pki_id,
                    },
                );
            }
        }
    }

    /// Carries out the state provider's outputs for `channel`.
    fn execute_state(&mut self, channel: &str, out: Vec<state::Output>) {
        for o in out {
            match o {
                state::Output::Commit {
                    seq,
                    block,
                    private_data,
                } => {
                    let Some(b) = self.blocks.get(channel) else {
                        return;
                    };
                    let ledger = b.ledger.clone();
                    let tx = self.commit_tx.clone();
                    let ch = channel.to_string();
                    // Ledger I/O (fsync) stays off the async workers.
                    tokio::task::spawn_blocking(move || {
                        let report = {
                            let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
                            commit_to_ledger(&mut **l, seq, &block, &private_data)
                        };
                        let _ = tx.blocking_send((ch, report));
                    });
                }
                // New blocks were pushed when the block store took them, with their
                // original envelope; the provider's forward request is met already.
                state::Output::Forward { .. } => {}
                state::Output::PullGap { from, to } => {
                    let now = Instant::now();
                    let peers = self.org_channel_peers(channel);
                    let Some(b) = self.blocks.get_mut(channel) else {
                        return;
                    };
                    let hint = ChannelBlocks::gap_digests(from, to);
                    debug!(channel, from, to, "pulling missing blocks now");
                    let out = b.pull_input(now, crate::pull::Input::PullNow { peers, hint });
                    self.execute_pull(channel, out);
                }
            }
        }
    }

    /// Carries out the block pull engine's outputs for `channel`.
    fn execute_pull(&mut self, channel: &str, out: Vec<crate::pull::Output>) {
        let now = Instant::now();
        for o in out {
            match o {
                crate::pull::Output::Send { to, msg } => {
                    let endpoint = self
                        .discovery
                        .lookup(&to)
                        .map(|m| {
                            if m.internal_endpoint.is_empty() {
                                m.endpoint
                            } else {
                                m.internal_endpoint
                            }
                        })
                        .unwrap_or_default();
                    self.comm.send(
                        SignedGossipMessage::unsigned(msg).envelope,
                        &RemotePeer {
                            endpoint,
                            pki_id: to,
                        },
                    );
                }
                crate::pull::Output::Received { digest, item, .. } => {
                    let Some(b) = self.blocks.get_mut(channel) else {
                        return;
                    };
                    let Ok(msg) = SignedGossipMessage::from_envelope(item) else {
                        b.forget_pulled(&digest);
                        continue;
                    };
                    let mut st = Vec::new();
                    match b.accept(now, msg, Source::Gossip, true, &mut st) {
                        Ok(_) => {}
                        // Let the engine ask for it again later.
                        Err(_) => b.forget_pulled(&digest),
                    }
                    self.execute_state(channel, st);
                }
                crate::pull::Output::UpdateRejected { from, reason } => {
                    warn!(channel, peer = %from, reason, "pulled blocks refused");
                }
            }
        }
    }

    /// Channel members of our org with a StateInfo: the block pull's candidates.
    fn org_channel_peers(&self, channel: &str) -> Vec<PkiId> {
        self.channels
            .peers_of_channel(&self.discovery, channel)
            .into_iter()
            .filter(|p| p.org == self.crypto.self_org)
            .map(|p| p.pki_id)
            .collect()
    }

    /// Due timers of every channel's state provider and block pull, and of push.
    fn blocks_tick(&mut self) {
        let now = Instant::now();
        let names: Vec<String> = self.blocks.keys().cloned().collect();
        for name in names {
            let Some(b) = self.blocks.get_mut(&name) else {
                continue;
            };
            let out = b.state_input(now, state::Input::Tick);
            self.execute_state(&name, out);
            let due = self
                .blocks
                .get(&name)
                .is_some_and(|b| b.pull_round_due(now));
            let peers = if due {
                self.org_channel_peers(&name)
            } else {
                Vec::new()
            };
            if let Some(b) = self.blocks.get_mut(&name) {
                let out = b.pull_input(now, crate::pull::Input::Tick { peers });
                self.execute_pull(&name, out);
            }
        }
        if self.push.next_deadline().is_some_and(|d| d <= now) {
            let (me, peers) = self.routing_view();
            let out = self.push.handle(
                now,
                crate::push::Input::Tick,
                RoutingSnapshot::new(&me, &peers),
            );
            self.execute_push(out);
        }
    }

    /// A ledger commit finished: the provider moves on, the StateInfo height follows.
    fn on_commit_report(&mut self, channel: &str, report: state::Input) {
        let now = Instant::now();
        let Some(b) = self.blocks.get_mut(channel) else {
            return;
        };
        if let state::Input::CommitFailed { seq, error } = &report {
            warn!(channel, seq, error, "commit failed; it is retried");
        }
        let before = b.height();
        let out = b.state_input(now, report);
        let height = b.height();
        if height != before {
            b.prune_pull();
        }
        let stats = b.stats();
        self.channel_view
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .blocks
            .insert(channel.to_string(), stats);
        self.execute_state(channel, out);
        if height != before {
            let _ = self.channel_step(channel::Input::UpdateLedgerHeight {
                channel: channel.to_string(),
                height,
            });
        }
    }

    /// The highest ledger height a channel peer of our org advertises reveals blocks we
    /// miss; the state provider turns it into a pull at once.
    fn feed_remote_heights(&mut self, now: Instant) {
        let names: Vec<String> = self.blocks.keys().cloned().collect();
        for name in names {
            let max = self
                .channels
                .peers_of_channel(&self.discovery, &name)
                .iter()
                .filter(|p| p.org == self.crypto.self_org)
                .map(|p| p.ledger_height)
                .max();
            let (Some(height), Some(b)) = (max, self.blocks.get_mut(&name)) else {
                continue;
            };
            if height > b.height() {
                let out = b.state_input(now, state::Input::RemoteHeight { height });
                self.execute_state(&name, out);
            }
        }
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
                    Some(Content::DataMsg(_)) => self.on_block_message(m),
                    Some(
                        Content::Hello(_)
                        | Content::DataDig(_)
                        | Content::DataReq(_)
                        | Content::DataUpdate(_),
                    ) => self.on_pull_message(m),
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
            self.feed_remote_heights(now);
            self.publish_view();
            self.publish_channels();
        }
    }

    /// Publishes the peers of every joined channel, the registry counters and the block
    /// statistics.
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
            blocks: self
                .blocks
                .iter()
                .map(|(name, b)| (name.clone(), b.stats()))
                .collect(),
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
