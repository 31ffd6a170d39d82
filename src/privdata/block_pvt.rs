//! The private data a block's transactions need: for each valid endorser transaction, the
//! collections its hashed read-write sets name, with the hash the private write set must have
//! and the identities that endorsed it.
//!
//! The path through a block entry: `Envelope` → `Payload` (channel header: type and tx id) →
//! `Transaction` → each `TransactionAction` → `ChaincodeActionPayload` →
//! `ProposalResponsePayload` → `ChaincodeAction.results` (a `TxReadWriteSet`) → per namespace
//! its `collection_hashed_rwset`. Config and other non-endorser transactions need nothing;
//! transactions the `TRANSACTIONS_FILTER` metadata marks invalid are skipped, as Fabric does
//! when the filter is present. An entry that does not parse is skipped and counted.

use prost::Message;

use crate::proto::common::{
    Block, BlockMetadataIndex, ChannelHeader, Envelope, HeaderType, Payload,
};
use crate::proto::gossip::PvtDataDigest;
use crate::proto::protos::{
    ChaincodeAction, ChaincodeActionPayload, ProposalResponsePayload, Transaction,
};
use crate::proto::rwset::TxReadWriteSet;

/// One collection a transaction wrote or read privately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionNeed {
    pub namespace: String,
    pub collection: String,
    /// SHA-256 of the collection's private write set (a marshaled `KVRWSet`); empty when the
    /// block carries none.
    pub pvt_rwset_hash: Vec<u8>,
}

/// One transaction that needs private data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxPvtNeed {
    pub seq_in_block: u64,
    pub tx_id: String,
    /// The endorsers' serialized identities: the peers most likely to hold the data.
    pub endorsers: Vec<Vec<u8>>,
    pub collections: Vec<CollectionNeed>,
}

/// What one block needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockPvtNeeds {
    pub block_seq: u64,
    pub txs: Vec<TxPvtNeed>,
    /// Transactions the filter marks invalid (their private data is not needed).
    pub skipped_invalid: u64,
    /// Entries that did not parse as a transaction.
    pub unreadable: u64,
}

impl BlockPvtNeeds {
    /// No transaction of the block needs private data.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Every needed collection as a digest, in block order.
    pub fn digests(&self) -> impl Iterator<Item = PvtDataDigest> + '_ {
        self.txs.iter().flat_map(move |tx| {
            tx.collections.iter().map(move |c| PvtDataDigest {
                tx_id: tx.tx_id.clone(),
                namespace: c.namespace.clone(),
                collection: c.collection.clone(),
                block_seq: self.block_seq,
                seq_in_block: tx.seq_in_block,
            })
        })
    }
}

/// What a marshaled block needs; `Err` when the bytes are not a block with a header.
pub fn needs_of_block_bytes(block: &[u8]) -> Result<BlockPvtNeeds, String> {
    let block = Block::decode(block).map_err(|e| format!("undecodable block: {e}"))?;
    needs_of_block(&block)
}

pub fn needs_of_block(block: &Block) -> Result<BlockPvtNeeds, String> {
    let header = block.header.as_ref().ok_or("block without a header")?;
    let filter = block
        .metadata
        .as_ref()
        .and_then(|m| {
            m.metadata
                .get(BlockMetadataIndex::TransactionsFilter as usize)
        })
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut needs = BlockPvtNeeds {
        block_seq: header.number,
        ..Default::default()
    };
    let entries = block
        .data
        .as_ref()
        .map(|d| d.data.as_slice())
        .unwrap_or(&[]);
    for (i, entry) in entries.iter().enumerate() {
        // TxValidationCode VALID is 0; a filter shorter than the block says nothing.
        if filter.get(i).is_some_and(|code| *code != 0) {
            needs.skipped_invalid += 1;
            continue;
        }
        match tx_need(i as u64, entry) {
            Ok(Some(tx)) => needs.txs.push(tx),
            Ok(None) => {}
            Err(_) => needs.unreadable += 1,
        }
    }
    Ok(needs)
}

/// The private data one block entry needs; `None` for a transaction that needs none.
fn tx_need(seq_in_block: u64, entry: &[u8]) -> Result<Option<TxPvtNeed>, prost::DecodeError> {
    let env = Envelope::decode(entry)?;
    let payload = Payload::decode(env.payload.as_slice())?;
    let Some(header) = payload.header.as_ref() else {
        return Ok(None);
    };
    let ch = ChannelHeader::decode(header.channel_header.as_slice())?;
    if ch.r#type != HeaderType::EndorserTransaction as i32 {
        return Ok(None);
    }
    let tx = Transaction::decode(payload.data.as_slice())?;
    let mut need = TxPvtNeed {
        seq_in_block,
        tx_id: ch.tx_id,
        endorsers: Vec::new(),
        collections: Vec::new(),
    };
    for action in &tx.actions {
        let cap = ChaincodeActionPayload::decode(action.payload.as_slice())?;
        let Some(endorsed) = cap.action else {
            continue;
        };
        let prp = ProposalResponsePayload::decode(endorsed.proposal_response_payload.as_slice())?;
        let cc = ChaincodeAction::decode(prp.extension.as_slice())?;
        let rwset = TxReadWriteSet::decode(cc.results.as_slice())?;
        let before = need.collections.len();
        for ns in rwset.ns_rwset {
            for coll in ns.collection_hashed_rwset {
                let known = need
                    .collections
                    .iter()
                    .any(|c| c.namespace == ns.namespace && c.collection == coll.collection_name);
                if !known {
                    need.collections.push(CollectionNeed {
                        namespace: ns.namespace.clone(),
                        collection: coll.collection_name,
                        pvt_rwset_hash: coll.pvt_rwset_hash,
                    });
                }
            }
        }
        if need.collections.len() > before {
            for e in endorsed.endorsements {
                if !need.endorsers.contains(&e.endorser) {
                    need.endorsers.push(e.endorser);
                }
            }
        }
    }
    Ok((!need.collections.is_empty()).then_some(need))
}

/// Builders of endorser transactions with hashed read-write sets, for tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::common::{Header, Payload as CommonPayload};
    use crate::proto::protos::{ChaincodeEndorsedAction, Endorsement, TransactionAction};
    use crate::proto::rwset::{CollectionHashedReadWriteSet, NsReadWriteSet};
    use sha2::{Digest, Sha256};

    /// An endorser transaction `tx_id` whose namespace `cc` writes privately to each of
    /// `collections` (name, private write set bytes), endorsed by `endorsers`.
    pub fn endorser_tx(
        tx_id: &str,
        collections: &[(&str, &[u8])],
        endorsers: &[Vec<u8>],
    ) -> Vec<u8> {
        let rwset = TxReadWriteSet {
            data_model: 0,
            ns_rwset: vec![NsReadWriteSet {
                namespace: "cc".into(),
                rwset: Vec::new(),
                collection_hashed_rwset: collections
                    .iter()
                    .map(|(name, pvt)| CollectionHashedReadWriteSet {
                        collection_name: name.to_string(),
                        hashed_rwset: Vec::new(),
                        pvt_rwset_hash: Sha256::digest(pvt).to_vec(),
                    })
                    .collect(),
            }],
        };
        let cc = ChaincodeAction {
            results: rwset.encode_to_vec(),
            ..Default::default()
        };
        let prp = ProposalResponsePayload {
            proposal_hash: vec![1],
            extension: cc.encode_to_vec(),
        };
        let cap = ChaincodeActionPayload {
            chaincode_proposal_payload: Vec::new(),
            action: Some(ChaincodeEndorsedAction {
                proposal_response_payload: prp.encode_to_vec(),
                endorsements: endorsers
                    .iter()
                    .map(|e| Endorsement {
                        endorser: e.clone(),
                        signature: vec![9],
                    })
                    .collect(),
            }),
        };
        let tx = Transaction {
            actions: vec![TransactionAction {
                header: Vec::new(),
                payload: cap.encode_to_vec(),
            }],
        };
        envelope(HeaderType::EndorserTransaction, tx_id, tx.encode_to_vec())
    }

    pub fn envelope(kind: HeaderType, tx_id: &str, data: Vec<u8>) -> Vec<u8> {
        let ch = ChannelHeader {
            r#type: kind as i32,
            channel_id: "ch".into(),
            tx_id: tx_id.into(),
            ..Default::default()
        };
        Envelope {
            payload: CommonPayload {
                header: Some(Header {
                    channel_header: ch.encode_to_vec(),
                    signature_header: Vec::new(),
                }),
                data,
            }
            .encode_to_vec(),
            signature: vec![1],
        }
        .encode_to_vec()
    }

    pub fn block(number: u64, txs: Vec<Vec<u8>>) -> Block {
        crate::crypto::block::new_block(number, vec![0; 32], txs)
    }

    #[test]
    fn lists_the_collections_of_valid_endorser_transactions() {
        let org1 = crate::privdata::collection::tests::identity("Org1MSP");
        let org2 = crate::privdata::collection::tests::identity("Org2MSP");
        let mut b = block(
            7,
            vec![
                endorser_tx("t0", &[("a", b"A"), ("b", b"B")], &[org1.clone(), org2]),
                envelope(HeaderType::Config, "cfg", vec![1, 2, 3]),
                endorser_tx("t2", &[], std::slice::from_ref(&org1)),
                endorser_tx("t3", &[("a", b"A3")], std::slice::from_ref(&org1)),
                b"not an envelope".to_vec(),
                endorser_tx("t5", &[("c", b"C")], &[org1]),
            ],
        );
        // t5 was invalidated by the validator.
        b.metadata.as_mut().unwrap().metadata[BlockMetadataIndex::TransactionsFilter as usize][5] =
            11;
        let needs = needs_of_block_bytes(&b.encode_to_vec()).unwrap();
        assert_eq!(needs.block_seq, 7);
        assert_eq!(needs.skipped_invalid, 1);
        assert_eq!(needs.unreadable, 1);
        let txs: Vec<(u64, &str, usize, usize)> = needs
            .txs
            .iter()
            .map(|t| {
                (
                    t.seq_in_block,
                    t.tx_id.as_str(),
                    t.collections.len(),
                    t.endorsers.len(),
                )
            })
            .collect();
        assert_eq!(txs, vec![(0, "t0", 2, 2), (3, "t3", 1, 1)]);
        assert_eq!(
            needs.txs[0].collections[1].pvt_rwset_hash,
            Sha256::digest(b"B").to_vec()
        );
        let digests: Vec<(String, u64, u64)> = needs
            .digests()
            .map(|d| (d.collection, d.block_seq, d.seq_in_block))
            .collect();
        assert_eq!(
            digests,
            vec![("a".into(), 7, 0), ("b".into(), 7, 0), ("a".into(), 7, 3)]
        );
    }

    #[test]
    fn blocks_without_private_data_need_nothing() {
        let b = block(1, vec![endorser_tx("t", &[], &[]), b"x".to_vec()]);
        assert!(needs_of_block(&b).unwrap().is_empty());
        assert!(needs_of_block_bytes(b"\xff\xff").is_err());
        let headless = Block::default();
        assert!(needs_of_block(&headless).is_err());
    }
}
