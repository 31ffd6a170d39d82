//! Joining a channel with its config block (genesis or latest), as a Fabric peer does with
//! `peer channel join -b`.

use super::command::Command;
use super::{ChannelCallError, GossipService};
use crate::channelconfig::{ChannelConfig, ConfigError};

impl GossipService {
    /// Joins `channel` with its genesis block or its latest config block (a marshaled
    /// `common.Block`): the join message is derived from the config (member orgs = the
    /// application orgs' MSP ids, their anchor peers, the orderer endpoints with their TLS
    /// CAs, sequence = the config sequence); with the X.509 MSP crypto, the channel's MSPs
    /// and its Readers and BlockValidation policies are set first. Block 0 is committed without an orderer
    /// signature check when the ledger is empty. From then on every committed config block
    /// reconfigures the channel. Returns the config read.
    pub async fn join_channel_with_block(
        &self,
        channel: &str,
        block: Vec<u8>,
    ) -> Result<ChannelConfig, ChannelCallError> {
        let (meta, config) =
            ChannelConfig::from_block_bytes(&block).map_err(ChannelCallError::ConfigBlock)?;
        if meta.channel_id != channel {
            return Err(ChannelCallError::ConfigBlock(ConfigError::new(
                "block.data[0].payload.header.channel_header.channel_id",
                format!(
                    "the block is of channel {:?}, not {channel:?}",
                    meta.channel_id
                ),
            )));
        }
        self.call(|reply| Command::JoinChannelConfig {
            channel: channel.to_string(),
            config: Box::new(config.clone()),
            reply,
        })
        .await?;
        let genesis = meta.is_genesis().then_some(block);
        self.call(|reply| Command::ConfigBlockJoined {
            channel: channel.to_string(),
            genesis,
            reply,
        })
        .await?;
        Ok(config)
    }
}
