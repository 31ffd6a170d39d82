//! The node's owner task: it feeds comm events, host commands and timers to the membership
//! machine and the channel registry, carries out what they ask (send, probe, ping, close,
//! add an anchor peer) and publishes the snapshots that `GossipService::peers` and
//! `peers_of_channel` read without blocking.

mod blocks;
mod channels;
mod deliver;
pub(super) mod election;
mod identity;
mod join;

mod membership;
mod privdata;
mod pvt_commit;
mod state_transfer;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::debug;

use super::blocks::{ChannelBlockStats, ChannelBlocks};
use super::channel_info::ChannelPeerInfo;
use super::command::Command;
use super::counters::NodeCounters;
use super::PeerInfo;
use crate::channel::{self, ChannelCounters, Channels};
use crate::comm::{Comm, CommEvent};
use crate::config::GossipConfig;
use crate::crypto::ed25519::Ed25519Crypto;
use crate::crypto::CryptoContext;
use crate::discovery::{Discovery, Input};
use crate::identity::{CertStore, IdentityMapper, IdentityStats};
use crate::ledger::LedgerProvider;
use crate::message::{is_tag_legal, pull_msg_type};
use crate::proto::gossip::gossip_message::Content;
use crate::proto::gossip::PullMsgType;
use crate::push::PushEmitter;
use crate::state::{self, BlockVerifier};
pub(super) use deliver::{delivery_stats, Deliveries, DeliveryTable};
pub(crate) use privdata::ChannelPrivData;

/// The longest the driver sleeps between ticks, so a late `next_deadline` never stalls it.
const MAX_TICK: Duration = Duration::from_millis(250);
/// Most items the owner takes from one source (comm events, commands, block jobs,
/// deliveries, probe results) before it serves the next.
const TURN_BUDGET: usize = 64;
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
    /// Private data of each joined channel (its counters are read at scrape).
    pub privdata: BTreeMap<String, Arc<ChannelPrivData>>,
}

/// What a blocking-thread job of the block path reports to the owner task.
pub(super) enum BlockJobReport {
    /// A ledger commit's report, with how long the commit took.
    Commit {
        channel: String,
        report: state::Input,
        took: Duration,
        /// The configs of the committed config blocks (or why one is unreadable).
        configs: Vec<Result<crate::channelconfig::ChannelConfig, String>>,
        /// The private data part, for batches that had some.
        pvt: Option<pvt_commit::PvtCommitTimes>,
    },
    /// A state response's payloads, verified off the owner task.
    Verified {
        channel: String,
        from: crate::types::PkiId,
        nonce: u64,
        payloads: Vec<state::CheckedPayload>,
    },
}

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
    /// Per joined channel: the transient store and the private data counters.
    pub privdata: BTreeMap<String, Arc<ChannelPrivData>>,
    /// The host's collection configs (`set_collection_config`), shared with the service.
    pub collections: Arc<RwLock<crate::privdata::CollectionRegistry>>,
    /// `<peer.fileSystemPath>/transientstore`: one transient store folder per channel.
    pub pvt_root: std::path::PathBuf,
    pub push: PushEmitter,
    pub gossip_cfg: GossipConfig,
    /// The embedded file ledgers under `peer.fileSystemPath` (`fabgossip.ledgerFsync`).
    pub file_ledgers: Arc<dyn LedgerProvider>,
    /// Opens the ledger of each channel at join: `file_ledgers` unless the host set its own.
    pub ledger_provider: Arc<dyn LedgerProvider>,
    pub block_verifier: Arc<dyn BlockVerifier>,
    /// This peer's external endpoint, for push routing.
    pub self_endpoint: String,
    /// Commit reports and verified state responses from blocking-thread jobs.
    pub block_job_tx: mpsc::Sender<BlockJobReport>,
    pub block_job_rx: mpsc::Receiver<BlockJobReport>,
    pub seed: u64,
    pub comm: Comm,
    pub crypto: CryptoContext,
    pub mapper: Arc<IdentityMapper>,
    pub counters: Arc<NodeCounters>,
    /// Membership facts for `explain_peer` and metrics.
    pub tracker: Arc<super::explain::PeerTracker>,
    pub view: Arc<RwLock<Vec<PeerInfo>>>,
    /// Results of probes and pings run in their own tasks, fed back as inputs.
    pub results_tx: mpsc::Sender<Input>,
    pub results_rx: mpsc::Receiver<Input>,
    pub next_view_refresh: Instant,
    /// Membership changed since the last publish: publish at the end of the turn (once per
    /// turn, not once per member a flood brings).
    pub views_dirty: bool,
    /// Push routing's view of the members, dropped at every view refresh and join/leave.
    pub routing: Option<(crate::push::LocalPeer, Vec<crate::push::RoutePeer>)>,
    /// Leader election per joined channel, or the static modes.
    pub election: election::Elections,
    /// The orderer delivery services and the channels' orderers.
    pub delivery: Deliveries,
    /// The identity pull and the cut-off identities.
    pub cert_store: CertStore,
    /// What `GossipService::identity_stats` reads.
    pub identity_view: Arc<RwLock<IdentityStats>>,
    pub next_expiry_check: Instant,
    pub next_revalidation: Instant,
    /// `fabgossip.identityRevalidationInterval`.
    pub revalidation_interval: Duration,
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
            if !matches!(stop.has_changed(), Ok(false)) {
                break;
            }
            // One turn: every source gets at most `TURN_BUDGET` items, then the next one is
            // served, so no source (a flooding peer above all) can hold back the others.
            let mut busy = false;
            for _ in 0..TURN_BUDGET {
                let Ok(cmd) = commands.try_recv() else { break };
                self.on_command(cmd);
                busy = true;
            }
            for _ in 0..TURN_BUDGET {
                let Ok(job) = self.block_job_rx.try_recv() else {
                    break;
                };
                self.on_block_job(job);
                busy = true;
            }
            for _ in 0..TURN_BUDGET {
                let Ok(ev) = self.delivery.rx.try_recv() else {
                    break;
                };
                self.on_delivered(ev);
                busy = true;
            }
            for _ in 0..TURN_BUDGET {
                let Ok(input) = self.results_rx.try_recv() else {
                    break;
                };
                self.step(input);
                busy = true;
            }
            if Instant::now() >= self.deadline() {
                self.on_tick();
                busy = true;
            }
            for _ in 0..TURN_BUDGET {
                match events.try_recv() {
                    Ok(ev) => self.on_comm_event(ev),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        self.stop_all_deliveries();
                        debug!("node driver stopped: comm events ended");
                        return;
                    }
                }
                busy = true;
            }
            self.end_turn();
            if busy {
                // Let comm and the other tasks on this worker run between turns.
                tokio::task::yield_now().await;
                continue;
            }
            let deadline = self.deadline();
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(cmd) = commands.recv() => self.on_command(cmd),
                Some(job) = self.block_job_rx.recv() => self.on_block_job(job),
                Some(ev) = self.delivery.rx.recv() => self.on_delivered(ev),
                Some(input) = self.results_rx.recv() => self.step(input),
                _ = tokio::time::sleep_until(deadline.into()) => self.on_tick(),
                ev = events.recv() => match ev {
                    Some(ev) => self.on_comm_event(ev),
                    None => break,
                },
            }
            self.end_turn();
        }
        self.stop_all_deliveries();
        debug!("node driver stopped");
    }

    /// The earliest moment a machine wants a tick, and never later than `MAX_TICK` from now.
    fn deadline(&self) -> Instant {
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
        if let Some(d) = self.election.next_deadline() {
            deadline = deadline.min(d);
        }
        deadline.min(self.identity_deadline())
    }

    fn on_tick(&mut self) {
        self.step(Input::Tick);
        // A refused call is the only error; a tick is never refused.
        let _ = self.channel_step(channel::Input::Tick);
        self.blocks_tick();
        self.election_tick();
        self.identity_tick(Instant::now());
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::JoinChannel {
                channel,
                msg,
                reply,
            } => {
                let _ = reply.send(self.apply_join(channel, msg));
            }
            Command::JoinChannelConfig {
                channel,
                config,
                reply,
            } => {
                let _ = reply.send(self.apply_config(&channel, &config));
            }
            Command::ConfigBlockJoined {
                channel,
                genesis,
                reply,
            } => {
                let _ = reply.send(self.config_block_joined(&channel, genesis));
            }
            Command::LeaveChannel { channel, reply } => {
                let res = self.channel_step(channel::Input::Leave {
                    channel: channel.clone(),
                });
                self.routing = None;
                if res.is_ok() {
                    if let Some(msp) = self.crypto.mcs.as_msp() {
                        msp.remove_channel(&channel);
                    }
                    self.comm.tls_roots().remove_channel(&channel);
                    self.leave_orderers(&channel);
                    // The channel's block work stops; its ledger file is closed.
                    self.blocks.remove(&channel);
                    self.privdata_leave(&channel);
                    self.election_leave(&channel);
                }
                self.publish_channels();
                let _ = reply.send(res.map_err(Into::into));
            }
            Command::RevalidateIdentities { reply } => {
                self.revalidate_identities();
                self.publish_identity_stats();
                // The caller reads the cut-off in the views as soon as the call returns.
                self.end_turn();
                let _ = reply.send(Ok(()));
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
            Command::SetLedgerProvider { provider, reply } => {
                let _ = reply.send(self.set_ledger_provider(provider));
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
            Command::YieldLeadership { channel, reply } => {
                let res = if self.yield_leadership(&channel) {
                    Ok(())
                } else {
                    Err(channel::ChannelError::UnknownChannel(channel).into())
                };
                let _ = reply.send(res);
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

    fn on_comm_event(&mut self, ev: CommEvent) {
        match ev {
            CommEvent::Connected(info) => {
                if self.refuse_cut_off(&info.pki_id) {
                    return;
                }
                if let Some(input) = self.on_connected(&info) {
                    self.step(input);
                }
            }
            CommEvent::Disconnected(pki_id) => self.step(Input::Disconnected { pki_id }),
            CommEvent::PresumedDead(pki_id) => self.step(Input::PresumedDead { pki_id }),
            CommEvent::Message(m) => {
                // Taken off the channel: the sender's receive buffer has room again.
                m.slot.release();
                if self.refuse_cut_off(&m.conn.pki_id) {
                    return;
                }
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
                        let hint = state_info_height(&m.msg.content);
                        self.on_channel_message(m);
                        if let Some(h) = hint {
                            self.on_height_hint(Instant::now(), h);
                        }
                    }
                    Some(Content::StateRequest(_)) => self.on_state_request(m),
                    Some(Content::StateResponse(_)) => self.on_state_response(m),
                    Some(Content::DataMsg(_)) => self.on_block_message(m),
                    Some(Content::LeadershipMsg(_)) => self.on_leadership_message(m),
                    Some(Content::PrivateData(_)) => self.on_private_data(m),
                    Some(Content::PrivateReq(_)) => self.on_private_request(m),
                    Some(Content::PrivateRes(_)) => self.on_private_response(m),
                    Some(
                        Content::Hello(_)
                        | Content::DataDig(_)
                        | Content::DataReq(_)
                        | Content::DataUpdate(_),
                    ) => {
                        if pull_msg_type(&m.msg) == PullMsgType::IdentityMsg {
                            self.on_identity_pull_message(m)
                        } else {
                            self.on_pull_message(m)
                        }
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

    /// Up/dead/purge publish at the end of the current turn; other updates (a newer alive
    /// with another endpoint, StateInfo received) are picked up by the periodic refresh.
    fn refresh_views(&mut self, now: Instant, membership_changed: bool) {
        self.views_dirty |= membership_changed;
        if now >= self.next_view_refresh {
            self.publish_views(now);
        }
    }

    fn publish_views(&mut self, now: Instant) {
        self.views_dirty = false;
        self.next_view_refresh = now + VIEW_REFRESH;
        self.routing = None;
        let views = self.channel_views();
        self.feed_remote_heights(now, &views);
        self.publish_view();
        self.publish_channels_from(&views);
    }

    /// What a turn leaves to its end: the views, when membership changed during it.
    fn end_turn(&mut self) {
        if self.views_dirty {
            self.publish_views(Instant::now());
        }
    }
}

/// The highest ledger height a StateInfo or StateInfo snapshot message advertises (before
/// verification: only a hint to look at the verified heights now).
fn state_info_height(content: &Option<Content>) -> Option<u64> {
    let height =
        |si: &crate::proto::gossip::StateInfo| si.properties.as_ref().map(|p| p.ledger_height);
    match content {
        Some(Content::StateInfo(si)) => height(si),
        Some(Content::StateSnapshot(snap)) => snap
            .elements
            .iter()
            .filter_map(|e| crate::message::SignedGossipMessage::from_envelope(e.clone()).ok())
            .filter_map(|m| match &m.msg.content {
                Some(Content::StateInfo(si)) => height(si),
                _ => None,
            })
            .max(),
        _ => None,
    }
}
