//! A config block's layers: Block → Envelope → Payload (header type CONFIG) →
//! ConfigEnvelope → Config, with the block's number and LastConfig index.

use prost::Message;

use super::error::ConfigError;
use crate::proto::common::{
    Block, BlockMetadataIndex, ChannelHeader, Config, ConfigEnvelope, Envelope, HeaderType,
    LastConfig, Metadata, Payload,
};

/// Fabric's `OrdererBlockMetadata`, the value of the SIGNATURES metadata since 2.0, which
/// carries the LastConfig index when the LAST_CONFIG entry is empty.
#[derive(Clone, PartialEq, Message)]
struct OrdererBlockMetadata {
    #[prost(message, optional, tag = "1")]
    last_config: Option<LastConfig>,
}

/// The config a config block carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigBlock {
    /// The block's number; 0 for a channel's genesis block.
    pub number: u64,
    /// The channel named in the config envelope's channel header.
    pub channel_id: String,
    /// The LastConfig index of the block's metadata (a config block points to itself).
    pub last_config: Option<u64>,
    pub config: Config,
}

impl ConfigBlock {
    /// Decodes a marshaled `common.Block` that must be a config block.
    pub fn decode(bytes: &[u8]) -> Result<Self, ConfigError> {
        let block = Block::decode(bytes).map_err(|e| ConfigError::malformed("block", e))?;
        Self::from_block(&block)
    }

    /// The config of a decoded block that must be a config block.
    pub fn from_block(block: &Block) -> Result<Self, ConfigError> {
        let header = block
            .header
            .as_ref()
            .ok_or_else(|| ConfigError::missing("block.header"))?;
        let (channel_header, payload) = config_payload(block)?;
        let env = ConfigEnvelope::decode(&payload.data[..]).map_err(|e| {
            ConfigError::malformed("block.data[0].payload.data (ConfigEnvelope)", e)
        })?;
        let config = env
            .config
            .ok_or_else(|| ConfigError::missing("block.data[0].payload.data.config"))?;
        Ok(ConfigBlock {
            number: header.number,
            channel_id: channel_header.channel_id,
            last_config: last_config_index(block),
            config,
        })
    }

    /// A channel's genesis block: number 0, the channel's first config.
    pub fn is_genesis(&self) -> bool {
        self.number == 0
    }
}

/// Whether a block holds a CONFIG envelope (a genesis block or a committed config update).
/// Cheap enough for every committed block: only the first envelope's headers are decoded.
pub fn is_config_block(block: &Block) -> bool {
    config_payload(block).is_ok()
}

/// The single envelope of a config block, its channel header and payload.
fn config_payload(block: &Block) -> Result<(ChannelHeader, Payload), ConfigError> {
    let data = block
        .data
        .as_ref()
        .ok_or_else(|| ConfigError::missing("block.data"))?;
    let first = match data.data.as_slice() {
        [one] => one,
        [] => return Err(ConfigError::missing("block.data[0]")),
        more => {
            return Err(ConfigError::new(
                "block.data",
                format!("{} envelopes; a config block has exactly one", more.len()),
            ))
        }
    };
    let env =
        Envelope::decode(&first[..]).map_err(|e| ConfigError::malformed("block.data[0]", e))?;
    let payload = Payload::decode(&env.payload[..])
        .map_err(|e| ConfigError::malformed("block.data[0].payload", e))?;
    let header = payload
        .header
        .as_ref()
        .ok_or_else(|| ConfigError::missing("block.data[0].payload.header"))?;
    let ch = ChannelHeader::decode(&header.channel_header[..])
        .map_err(|e| ConfigError::malformed("block.data[0].payload.header.channel_header", e))?;
    if ch.r#type != HeaderType::Config as i32 {
        return Err(ConfigError::new(
            "block.data[0].payload.header.channel_header.type",
            format!(
                "{} is not CONFIG ({})",
                ch.r#type,
                HeaderType::Config as i32
            ),
        ));
    }
    Ok((ch, payload))
}

/// The index of the channel's latest config block as a block's metadata names it: LAST_CONFIG
/// metadata, else the index inside the SIGNATURES metadata's value.
pub fn last_config_index(block: &Block) -> Option<u64> {
    let md = block.metadata.as_ref()?;
    let entry = |i: BlockMetadataIndex| {
        md.metadata
            .get(i as usize)
            .and_then(|b| Metadata::decode(&b[..]).ok())
            .filter(|m| !m.value.is_empty())
    };
    if let Some(m) = entry(BlockMetadataIndex::LastConfig) {
        if let Ok(lc) = LastConfig::decode(&m.value[..]) {
            return Some(lc.index);
        }
    }
    let m = entry(BlockMetadataIndex::Signatures)?;
    OrdererBlockMetadata::decode(&m.value[..])
        .ok()?
        .last_config
        .map(|lc| lc.index)
}

/// [`is_config_block`] on a marshaled block, decoding only the first envelope's headers:
/// cheap on the commit path, where most blocks are large and not config blocks.
pub fn is_config_block_bytes(block: &[u8]) -> bool {
    // Block.data (2) → BlockData.data[0] (1) → Envelope.payload (1) → Payload.header (1)
    // → Header.channel_header (1).
    let header = [2, 1, 1, 1, 1]
        .iter()
        .try_fold(block, |buf, tag| first_bytes_field(buf, *tag));
    header
        .and_then(|h| ChannelHeader::decode(h).ok())
        .is_some_and(|ch| ch.r#type == HeaderType::Config as i32)
}

/// The first length-delimited field numbered `tag` of a marshaled message.
fn first_bytes_field(mut buf: &[u8], tag: u32) -> Option<&[u8]> {
    use prost::encoding::decode_varint;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        let (field, wire) = ((key >> 3) as u32, key & 7);
        match wire {
            0 => {
                decode_varint(&mut buf).ok()?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let (value, rest) = (buf.get(..len)?, buf.get(len..)?);
                if field == tag {
                    return Some(value);
                }
                buf = rest;
            }
            _ => return None,
        }
    }
    None
}
