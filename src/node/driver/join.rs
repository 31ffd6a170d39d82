//! Join and reconfiguration at the owner task: the host's join call, a join with a config
//! block (block 0 committed without an orderer signature check), and committed config
//! blocks re-applying their channel's join message. With the X.509 MSP crypto a config
//! also sets the channel's MSPs and policies, before its join message is applied, so that
//! the StateInfo of the channel's orgs verifies under them.

use std::sync::Mutex;
use std::time::Instant;

use prost::Message;

use tracing::{info, warn};

use super::super::counters::NodeCounters;
use super::super::ChannelCallError;
use super::Driver;
use crate::channel::{ChannelError, JoinChannelMessage};
use crate::channelconfig::block::last_config_index;
use crate::channelconfig::{is_config_block_bytes, ChannelConfig, GenesisBlockCheck};
use crate::ledger::Ledger;
use crate::message::{data_msg, SignedGossipMessage};
use crate::proto::common::Block;
use crate::state::{self, CommitBatch, Payload, Source, VerifiedPayload};
use crate::sync::MutexExt;

impl Driver {
    /// Joins `channel` or reconfigures it with a newer sequence (an older one is ignored).
    pub(super) fn apply_join(
        &mut self,
        channel: String,
        msg: JoinChannelMessage,
    ) -> Result<(), ChannelCallError> {
        let (sequence, orderers) = (msg.sequence, msg.orderers.clone());
        // The built-in readers policy follows the new config before the registry
        // re-validates stored StateInfo with it; a stale or refused join is undone below.
        let stale = self
            .channels
            .sequence(&channel)
            .is_some_and(|seq| msg.sequence < seq);
        if let (Some(ed), false) = (&self.builtin, stale) {
            ed.set_channel_orgs(&channel, msg.members.clone());
        }
        let res = self.join(channel.clone(), msg);
        if res.is_ok() && !self.channels.has_left(&channel) {
            self.join_orderers(&channel, sequence, orderers);
        }
        self.routing = None;
        // The effective member orgs (an older sequence was ignored) drive the built-in
        // readers policy of the channel.
        if let Some(ed) = &self.builtin {
            ed.set_channel_orgs(
                &channel,
                self.channels.member_orgs(&channel).unwrap_or_default(),
            );
        }
        self.publish_channels();
        res
    }

    /// Joins or reconfigures `channel` with a config read from a config block. An older
    /// config than the channel's is ignored (as [`apply_join`](Self::apply_join) does); when
    /// the join is refused the crypto gets the channel's previous MSPs back.
    pub(super) fn apply_config(
        &mut self,
        channel: &str,
        config: &ChannelConfig,
    ) -> Result<(), ChannelCallError> {
        let msg = config.join_message();
        let mcs = self.crypto.mcs.clone();
        let stale = self
            .channels
            .sequence(channel)
            .is_some_and(|seq| msg.sequence < seq);
        if stale {
            return self.apply_join(channel.to_string(), msg);
        }
        // The TLS CAs are in force before the join dials the channel's anchor peers.
        let roots = self.comm.tls_roots().clone();
        let roots_before = roots.channel_cas(channel);
        self.set_tls_roots(channel, config);
        let Some(msp) = mcs.as_msp() else {
            let res = self.apply_join(channel.to_string(), msg);
            if res.is_err() || self.channels.has_left(channel) {
                roots.restore_channel(channel, roots_before);
            }
            return res;
        };
        let msps = match config.channel_msps() {
            Ok(m) => m,
            Err(e) => {
                roots.restore_channel(channel, roots_before);
                return Err(ChannelCallError::ConfigBlock(e));
            }
        };
        let before = msp.channel(channel);
        msp.set_channel(channel, msps);
        let res = self.apply_join(channel.to_string(), msg);
        if res.is_err() || self.channels.has_left(channel) {
            match before {
                Some(b) => msp.set_channel(channel, b),
                None => msp.remove_channel(channel),
            }
            roots.restore_channel(channel, roots_before);
        }
        res
    }

    /// The gossip TLS CAs follow the channel's config: every org's TLS root and intermediate
    /// CAs, application and orderer orgs alike, as a Fabric peer's trusted roots do.
    fn set_tls_roots(&mut self, channel: &str, config: &ChannelConfig) {
        let roots = self.comm.tls_roots().clone();
        let msps = config
            .application_orgs
            .iter()
            .map(|o| &o.msp)
            .chain(config.orderer.orgs.iter().map(|o| &o.msp));
        let pems: Vec<Vec<u8>> = msps
            .flat_map(|m| m.tls_root_certs.iter().chain(&m.tls_intermediate_certs))
            .cloned()
            .collect();
        match roots.set_channel(channel, &pems) {
            Ok(n) => info!(channel, cas = n, "gossip TLS CAs of the channel set"),
            Err(e) => {
                NodeCounters::inc(&self.counters.config_block_invalid);
                warn!(channel, error = %e, "the channel's TLS CAs refused; the previous ones stay");
            }
        }
    }

    /// `channel` was joined with a config block: its committed config blocks reconfigure it
    /// from now on; `genesis`, block 0, is committed first when the ledger is empty.
    pub(super) fn config_block_joined(
        &mut self,
        channel: &str,
        genesis: Option<Vec<u8>>,
    ) -> Result<(), ChannelCallError> {
        let now = Instant::now();
        let Some(b) = self.blocks.get_mut(channel) else {
            return Err(ChannelError::UnknownChannel(channel.to_string()).into());
        };
        b.config_from_blocks = true;
        let height = b.height();
        if height > 0 {
            // A restart or a second join: the channel's config is the ledger's latest config
            // block, which may be newer than the block joined with.
            let ledger = b.ledger.clone();
            match latest_config(channel, &ledger, height) {
                Ok(Some(config)) => {
                    if let Err(e) = self.apply_config(channel, &config) {
                        NodeCounters::inc(&self.counters.config_block_invalid);
                        warn!(channel, error = %e, "the ledger's latest config block refused");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    NodeCounters::inc(&self.counters.config_block_invalid);
                    warn!(channel, error = %e, "the ledger's latest config block unreadable");
                }
            }
            return Ok(());
        }
        let Some(block) = genesis else {
            return Ok(());
        };
        let payload = Payload::new(0, block.clone(), Vec::new(), Source::Deliverer);
        let verified = VerifiedPayload::verify(&GenesisBlockCheck, channel, payload)
            .map_err(|(_, e)| ChannelCallError::InvalidBlock(e.to_string()))?;
        let msg = SignedGossipMessage::unsigned(data_msg(channel.as_bytes(), 0, block));
        let mut out = Vec::new();
        // Not pushed: every peer joins with the same block, as Fabric peers do.
        let res = b
            .accept_delivered(now, msg, Some(verified), &mut out)
            .map(|_| ())
            .map_err(|e| ChannelCallError::InvalidBlock(e.to_string()));
        self.execute_state(channel, out);
        res
    }

    /// The configs of committed config blocks, in block order: the new config of
    /// `channel`. Unreadable ones are counted and leave the channel as it is.
    pub(super) fn apply_committed_configs(
        &mut self,
        channel: &str,
        configs: Vec<Result<ChannelConfig, String>>,
    ) {
        for c in configs {
            match c {
                Ok(config) => {
                    let sequence = config.sequence;
                    // The config joined with (block 0 committed after the join) or older.
                    if self
                        .channels
                        .sequence(channel)
                        .is_some_and(|s| s >= sequence)
                    {
                        continue;
                    }
                    match self.apply_config(channel, &config) {
                        Ok(()) => {
                            NodeCounters::inc(&self.counters.config_block_applied);
                            info!(channel, sequence, "channel reconfigured by a config block");
                        }
                        Err(e) => {
                            NodeCounters::inc(&self.counters.config_block_invalid);
                            warn!(channel, sequence, error = %e, "config block refused");
                        }
                    }
                }
                Err(e) => {
                    NodeCounters::inc(&self.counters.config_block_invalid);
                    warn!(channel, error = %e, "committed config block unreadable; config kept");
                }
            }
        }
    }
}

/// The latest config block of a ledger of `height` blocks, found through the LastConfig index
/// of its last block, as a Fabric peer finds its channel's config when it starts. `None` when
/// the last block names no config block. One read of up to two blocks, at join only.
fn latest_config(
    channel: &str,
    ledger: &Mutex<Box<dyn Ledger>>,
    height: u64,
) -> Result<Option<ChannelConfig>, String> {
    let l = ledger.locked();
    let read = |seq: u64| -> Result<Vec<u8>, String> {
        l.get_blocks(seq, seq)
            .map_err(|e| format!("block {seq}: {e}"))?
            .pop()
            .ok_or_else(|| format!("block {seq} is not in the ledger"))
    };
    let last_seq = height - 1;
    let last = read(last_seq)?;
    let block = Block::decode(last.as_slice()).map_err(|e| format!("block {last_seq}: {e}"))?;
    let Some(index) = last_config_index(&block) else {
        return Ok(None);
    };
    if index > last_seq {
        return Err(format!(
            "block {last_seq} names config block {index}, beyond the ledger's height {height}"
        ));
    }
    let bytes = if index == last_seq {
        last
    } else {
        read(index)?
    };
    drop(l);
    let (meta, config) =
        ChannelConfig::from_block_bytes(&bytes).map_err(|e| format!("block {index}: {e}"))?;
    if meta.channel_id != channel {
        return Err(format!(
            "block {index}: a config of channel {:?}",
            meta.channel_id
        ));
    }
    Ok(Some(config))
}

/// The config blocks among the blocks a commit job wrote (off the owner task: decoding a
/// config is not free), each read into its channel config.
pub(super) fn committed_configs(
    channel: &str,
    batch: &CommitBatch,
    report: &state::Input,
) -> Vec<Result<ChannelConfig, String>> {
    let height = match report {
        state::Input::Committed { height, .. } | state::Input::CommitFailed { height, .. } => {
            *height
        }
        _ => return Vec::new(),
    };
    batch
        .payloads()
        .iter()
        .filter(|p| p.seq < height && is_config_block_bytes(&p.block))
        .map(|p| {
            let (meta, config) = ChannelConfig::from_block_bytes(&p.block)
                .map_err(|e| format!("block {}: {e}", p.seq))?;
            if meta.channel_id != channel {
                return Err(format!(
                    "block {}: a config of channel {:?}",
                    p.seq, meta.channel_id
                ));
            }
            Ok(config)
        })
        .collect()
}
