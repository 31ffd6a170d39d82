//! Channels at the owner task: join, leave and StateInfo through the channel registry,
//! and the per-channel snapshot hosts read.

use std::sync::Arc;
use std::time::Instant;

use super::super::blocks::ChannelBlocks;
use super::super::channel_info::ChannelPeerInfo;
use super::super::counters::NodeCounters;
use super::super::{ChannelCallError, LedgerProviderError};
use super::{ChannelSnapshot, Driver};
use crate::channel::{self, ChannelError, ChannelPeer, JoinChannelMessage, Received};
use crate::comm::{ReceivedMessage, RemotePeer};
use crate::discovery::Input;
use crate::ledger::LedgerProvider;
use crate::message::SignedGossipMessage;
use crate::sync::RwLockExt;

/// Each joined channel's peers (see [`Driver::channel_views`]).
pub(super) type ChannelViews = std::collections::BTreeMap<String, Vec<ChannelPeer>>;

impl Driver {
    /// Feeds one input to the channel registry and carries out its outputs.
    pub(super) fn channel_step(&mut self, input: channel::Input) -> Result<(), ChannelError> {
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
    pub(super) fn join(
        &mut self,
        channel: String,
        msg: JoinChannelMessage,
    ) -> Result<(), ChannelCallError> {
        // A first join or a rejoin after leave (which closed the ledger) opens the ledger.
        let opened = if self.blocks.contains_key(&channel) {
            None
        } else {
            // Blocking file I/O on the owner task: a join is a rare host call.
            let seed = self.seed ^ self.blocks.len() as u64;
            Some(
                ChannelBlocks::open(
                    &channel,
                    &*self.ledger_provider,
                    &self.gossip_cfg,
                    self.block_verifier.clone(),
                    Instant::now(),
                    seed,
                )
                .map_err(ChannelCallError::Ledger)?,
            )
        };
        self.channel_step(channel::Input::Join {
            channel: channel.clone(),
            msg,
        })?;
        if self.channels.has_left(&channel) {
            // A stale join of a left channel is ignored by the registry: the ledger stays
            // closed and no election runs.
            return Ok(());
        }
        self.election_join(&channel);
        if let Some(b) = opened {
            let height = b.height();
            self.blocks.insert(channel.clone(), b);
            self.privdata_join(&channel);
            if height > 0 {
                self.channel_step(channel::Input::UpdateLedgerHeight {
                    channel: channel.clone(),
                    height,
                })?;
            }
        }
        Ok(())
    }

    /// Replaces the ledger provider while no channel's ledger is open.
    pub(super) fn set_ledger_provider(
        &mut self,
        provider: Option<Arc<dyn LedgerProvider>>,
    ) -> Result<(), LedgerProviderError> {
        if !self.blocks.is_empty() {
            return Err(LedgerProviderError::ChannelsJoined(
                self.blocks.keys().cloned().collect(),
            ));
        }
        self.ledger_provider = provider.unwrap_or_else(|| self.file_ledgers.clone());
        tracing::info!(ledger = self.ledger_provider.kind(), "ledger provider set");
        Ok(())
    }

    pub(super) fn on_channel_message(&mut self, m: ReceivedMessage) {
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

    /// The peers of every joined channel, computed once for all that need them at a view
    /// refresh (each computation walks the alive members and clones their StateInfo).
    pub(super) fn channel_views(&self) -> ChannelViews {
        self.channel_views_of(self.channels.channel_names())
    }

    /// [`channel_views`](Self::channel_views) for the channels named only.
    pub(super) fn channel_views_of(&self, names: impl IntoIterator<Item = String>) -> ChannelViews {
        names
            .into_iter()
            .map(|name| {
                let peers = self.channels.peers_of_channel(&self.discovery, &name);
                (name, peers)
            })
            .collect()
    }

    /// Publishes the peers of every joined channel, the registry counters and the block
    /// statistics.
    pub(super) fn publish_channels(&self) {
        self.publish_channels_from(&self.channel_views());
    }

    /// [`publish_channels`](Self::publish_channels) with the channel peers already computed.
    pub(super) fn publish_channels_from(&self, views: &ChannelViews) {
        let peers = views
            .iter()
            .map(|(name, list)| {
                (
                    name.clone(),
                    list.iter().map(ChannelPeerInfo::from).collect(),
                )
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
            privdata: self.privdata.clone(),
        };
        *self.channel_view.write_locked() = snapshot;
    }
}
