//! The hash chain every ledger enforces: block `n > 0` must carry, as `previous_hash`, the
//! header hash of block `n - 1` (Fabric's block store refuses any other). Block 0 links to
//! nothing and is not checked.

use prost::Message;

use super::LedgerError;
use crate::crypto::block::block_header_hash;
use crate::proto::common::BlockHeader;

/// The header of a marshaled `common.Block`, read without decoding the block's data.
pub fn block_header(block: &[u8]) -> Result<BlockHeader, LedgerError> {
    /// `common.Block` with only its header (field 1); the other fields are skipped.
    #[derive(Clone, PartialEq, Message)]
    struct HeaderOnly {
        #[prost(message, optional, tag = "1")]
        header: Option<BlockHeader>,
    }
    HeaderOnly::decode(block)
        .map_err(|e| LedgerError::MalformedBlock(format!("undecodable block: {e}")))?
        .header
        .ok_or_else(|| LedgerError::MalformedBlock("block has no header".into()))
}

/// Checks that `header` extends a ledger whose last block hashes to `tip` (`None`: the
/// ledger is empty), and returns `header`'s own hash, the link for the next block.
pub fn check_link(header: &BlockHeader, tip: Option<&[u8]>) -> Result<Vec<u8>, LedgerError> {
    if header.number > 0 {
        let expected = tip.unwrap_or_default();
        if header.previous_hash != expected {
            return Err(LedgerError::BrokenChain {
                number: header.number,
                previous_hash: header.previous_hash.clone(),
                expected: expected.to_vec(),
            });
        }
    }
    Ok(block_header_hash(header))
}

/// Blocks `0..count` built by [`new_block`](crate::crypto::block::new_block) with the data
/// `data_of(n)`, each linked to the one before: a chain every ledger accepts (tests,
/// examples and benchmarks).
pub fn linked_blocks(
    count: u64,
    data_of: impl Fn(u64) -> Vec<Vec<u8>>,
) -> Vec<crate::proto::common::Block> {
    let mut prev = Vec::new();
    (0..count)
        .map(|n| {
            let b = crate::crypto::block::new_block(n, std::mem::take(&mut prev), data_of(n));
            if let Some(h) = &b.header {
                prev = block_header_hash(h);
            }
            b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::block::new_block;

    #[test]
    fn links_are_checked_from_block_one_on() {
        let b0 = new_block(0, b"anything".to_vec(), vec![b"g".to_vec()]);
        let h0 = check_link(b0.header.as_ref().unwrap(), None).unwrap();
        let b1 = new_block(1, h0.clone(), vec![b"tx".to_vec()]);
        let h1 = check_link(&block_header(&b1.encode_to_vec()).unwrap(), Some(&h0)).unwrap();
        assert_ne!(h0, h1);
        let forged = new_block(1, vec![7; 32], vec![b"tx".to_vec()]);
        let err = check_link(forged.header.as_ref().unwrap(), Some(&h0)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("block 1 does not chain"), "{text}");
        assert!(text.contains(&hex::encode(&h0)), "{text}");
        assert!(text.contains(&hex::encode([7u8; 32])), "{text}");
        assert!(block_header(b"\xff\xff").is_err());
    }
}
