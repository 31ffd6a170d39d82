//! Block 0 as the host hands it over with the channel's genesis block: committed without
//! an orderer signature check (as `peer channel join -b` does), after the checks that need
//! no key: number 0, data hash, a CONFIG envelope of this channel. Every later block
//! chains to it and is verified as usual.

use prost::Message;

use super::block::ConfigBlock;
use crate::crypto::block::block_data_hash;
use crate::crypto::CryptoError;
use crate::proto::common::Block;
use crate::state::BlockVerifier;

/// The [`BlockVerifier`] of a host-given genesis block.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenesisBlockCheck;

impl BlockVerifier for GenesisBlockCheck {
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        let bad = |why: String| Err(CryptoError::InvalidBlock(why));
        let b = Block::decode(block).map_err(|e| CryptoError::InvalidBlock(e.to_string()))?;
        let Some(header) = &b.header else {
            return bad("no header".into());
        };
        if seq != 0 || header.number != 0 {
            return bad(format!(
                "block {} given as a genesis block (number 0)",
                header.number
            ));
        }
        let data = b.data.clone().unwrap_or_default();
        if block_data_hash(&data) != header.data_hash {
            return bad("data hash does not match the block's data".into());
        }
        let config =
            ConfigBlock::from_block(&b).map_err(|e| CryptoError::InvalidBlock(e.to_string()))?;
        if config.channel_id != channel {
            return bad(format!(
                "genesis block of channel {:?}, not {channel:?}",
                config.channel_id
            ));
        }
        Ok(())
    }
}
