//! Answers a `RemotePvtDataRequest`: for each digest, the write sets of its collection,
//! only for collections the requester's handshake identity is eligible for.
//!
//! Sources: the transient store, then the private data committed with the digest's block
//! (the ledger's). A digest found in neither gets an element with no write sets, as Fabric
//! answers a digest it finds nothing for.
//!
//! As in Fabric, a digest of a collection the requester is not eligible for is left out of
//! the response entirely; eligibility is the collection's one rule over the requester's
//! handshake identity, its access from the host's config of the namespace, else the config
//! stored with the write set (the endorser's), else the implicit rule.

use std::collections::HashMap;

use prost::Message;

use super::collection::resolve;
use super::receiver::LocalPeer;
use super::transient_store::TransientStore;
use crate::proto::gossip::{
    PvtDataDigest, PvtDataElement, PvtDataPayload, RemotePvtDataRequest, RemotePvtDataResponse,
};
use crate::proto::rwset::TxPvtReadWriteSet;

/// How the digests of one request were answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answered {
    /// Digests answered with at least one write set.
    pub served: u64,
    /// Digests answered with none (nothing stored for them).
    pub not_found: u64,
    /// Digests left out: the requester is not eligible, or the collection is unknown.
    pub refused: u64,
}

/// Most digests one request may carry; the rest are not answered.
pub const MAX_DIGESTS: usize = 1024;

/// `committed(block_seq)` reads the private data committed with a block (marshaled
/// `PvtDataPayload`s; none when the block is not committed).
pub fn respond(
    store: &mut TransientStore,
    committed: &mut dyn FnMut(u64) -> Vec<Vec<u8>>,
    local: &LocalPeer<'_>,
    requester_identity: &[u8],
    req: &RemotePvtDataRequest,
) -> (RemotePvtDataResponse, Answered) {
    let mut answered = Answered::default();
    let mut elements = Vec::new();
    let (own_org, implicit_policy) = (local.org, local.implicit_policy);
    let mut blocks: HashMap<u64, Vec<(u64, TxPvtReadWriteSet)>> = HashMap::new();
    for dig in req.digests.iter().take(MAX_DIGESTS) {
        let entries = store.entries_of(&dig.tx_id);
        // The host's config of the namespace when it set one; else the newest config the
        // endorsers sent for the collection, as Fabric uses the latest one; an implicit
        // collection needs none.
        let access = match local.registry.get(local.channel, &dig.namespace) {
            Some(host) => resolve(&dig.collection, Some(host), own_org, implicit_policy).ok(),
            None => entries
                .iter()
                .rev()
                .filter_map(|e| e.configs_of(&dig.namespace))
                .find_map(|c| resolve(&dig.collection, Some(c), own_org, implicit_policy).ok())
                .or_else(|| resolve(&dig.collection, None, own_org, implicit_policy).ok()),
        };
        // With nothing known of the collection there is nothing to serve, and no way to
        // tell who may read it.
        let eligible = access.is_some_and(|a| a.is_eligible(local.membership, requester_identity));
        if !eligible {
            answered.refused += 1;
            continue;
        }
        let mut payload: Vec<Vec<u8>> = entries
            .iter()
            .flat_map(|e| e.rwsets_of(&dig.namespace, &dig.collection))
            .collect();
        if payload.is_empty() {
            let block = blocks
                .entry(dig.block_seq)
                .or_insert_with(|| decode_block_pvt(&committed(dig.block_seq)));
            payload = committed_rwsets(block, dig);
        }
        if payload.is_empty() {
            answered.not_found += 1;
        } else {
            answered.served += 1;
        }
        elements.push(PvtDataElement {
            digest: Some(dig.clone()),
            payload,
        });
    }
    (RemotePvtDataResponse { elements }, answered)
}

fn decode_block_pvt(raw: &[Vec<u8>]) -> Vec<(u64, TxPvtReadWriteSet)> {
    raw.iter()
        .filter_map(|p| PvtDataPayload::decode(p.as_slice()).ok())
        .filter_map(|p| {
            TxPvtReadWriteSet::decode(p.payload.as_slice())
                .ok()
                .map(|t| (p.tx_seq_in_block, t))
        })
        .collect()
}

fn committed_rwsets(block: &[(u64, TxPvtReadWriteSet)], dig: &PvtDataDigest) -> Vec<Vec<u8>> {
    block
        .iter()
        .filter(|(seq, _)| *seq == dig.seq_in_block)
        .flat_map(|(_, t)| &t.ns_pvt_rwset)
        .filter(|ns| ns.namespace == dig.namespace)
        .flat_map(|ns| &ns.collection_pvt_rwset)
        .filter(|c| c.collection_name == dig.collection)
        .map(|c| c.rwset.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImplicitCollectionPolicy;
    use crate::privdata::collection::tests::{identity, package, static_config, MspidAdvisor};
    use crate::privdata::collection::Membership;
    use crate::privdata::registry::CollectionRegistry;
    use crate::privdata::transient_store::tests::{rwset, tempdir};
    use crate::privdata::transient_store::{NamespaceConfigs, TransientStoreLimits};
    use crate::proto::gossip::PvtDataDigest;
    use prost::Message;

    const POLICY: ImplicitCollectionPolicy = ImplicitCollectionPolicy {
        required_peer_count: 0,
        max_peer_count: 1,
    };

    fn digest(tx: &str, coll: &str) -> PvtDataDigest {
        PvtDataDigest {
            tx_id: tx.into(),
            namespace: "cc".into(),
            collection: coll.into(),
            block_seq: 3,
            seq_in_block: 0,
        }
    }

    fn store(name: &str) -> (TransientStore, std::path::PathBuf) {
        let dir = tempdir(name);
        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        let cfg = |coll: &str, orgs: &[&str]| {
            vec![NamespaceConfigs {
                namespace: "cc".into(),
                package: Some(package(vec![static_config(coll, orgs)])),
            }]
        };
        s.persist(
            "tx1",
            2,
            rwset("cc", "shared", b"s"),
            cfg("shared", &["Org1MSP", "Org2MSP"]),
        )
        .unwrap();
        s.persist(
            "tx1",
            2,
            rwset("cc", "mine", b"m"),
            cfg("mine", &["Org1MSP"]),
        )
        .unwrap();
        s.persist(
            "tx2",
            2,
            rwset("cc", "_implicit_org_Org1MSP", b"i"),
            Vec::new(),
        )
        .unwrap();
        (s, dir)
    }

    fn ask_with(
        s: &mut TransientStore,
        registry: &CollectionRegistry,
        who: &str,
        digests: Vec<PvtDataDigest>,
    ) -> (RemotePvtDataResponse, Answered) {
        let req = RemotePvtDataRequest { digests };
        let me = identity("Org1MSP");
        let local = LocalPeer {
            org: "Org1MSP",
            identity: &me,
            channel: "ch",
            membership: Membership::MspId(&MspidAdvisor),
            implicit_policy: &POLICY,
            registry,
        };
        respond(s, &mut |_| Vec::new(), &local, &identity(who), &req)
    }

    fn ask(
        s: &mut TransientStore,
        who: &str,
        digests: Vec<PvtDataDigest>,
    ) -> (RemotePvtDataResponse, Answered) {
        ask_with(s, &CollectionRegistry::default(), who, digests)
    }

    #[test]
    fn the_hosts_config_decides_who_may_read() {
        let (mut s, dir) = store("respond-registry");
        let mut registry = CollectionRegistry::default();
        // The endorser's config made "mine" Org1's only; the host's adds Org2.
        let host = package(vec![static_config("mine", &["Org1MSP", "Org2MSP"])]);
        registry.set("ch", "cc", &host.encode_to_vec()).unwrap();
        let (res, a) = ask_with(&mut s, &registry, "Org2MSP", vec![digest("tx1", "mine")]);
        assert_eq!(a.served, 1);
        assert_eq!(res.elements[0].payload, vec![b"m".to_vec()]);
        // And the reverse: the host's config leaves Org2 out of "shared".
        let host = package(vec![static_config("shared", &["Org1MSP"])]);
        registry.set("ch", "cc", &host.encode_to_vec()).unwrap();
        let (res, a) = ask_with(&mut s, &registry, "Org2MSP", vec![digest("tx1", "shared")]);
        assert!(res.elements.is_empty());
        assert_eq!(a.refused, 1);
        // A collection the host's package of the namespace lacks is unknown.
        let (res, a) = ask_with(&mut s, &registry, "Org1MSP", vec![digest("tx1", "mine")]);
        assert!(res.elements.is_empty());
        assert_eq!(a.refused, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_eligible_collections_are_answered() {
        let (mut s, dir) = store("respond");
        let all = vec![
            digest("tx1", "shared"),
            digest("tx1", "mine"),
            digest("tx2", "_implicit_org_Org1MSP"),
        ];
        let (res, a) = ask(&mut s, "Org1MSP", all.clone());
        assert_eq!(
            a,
            Answered {
                served: 3,
                not_found: 0,
                refused: 0
            }
        );
        assert_eq!(res.elements[1].payload, vec![b"m".to_vec()]);
        assert_eq!(res.elements[1].digest.as_ref(), Some(&all[1]));

        let (res, a) = ask(&mut s, "Org2MSP", all.clone());
        assert_eq!(
            a,
            Answered {
                served: 1,
                not_found: 0,
                refused: 2
            }
        );
        assert_eq!(res.elements.len(), 1);
        assert_eq!(res.elements[0].payload, vec![b"s".to_vec()]);

        let (res, a) = ask(&mut s, "Org3MSP", all);
        assert!(res.elements.is_empty());
        assert_eq!(a.refused, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_data_is_answered_empty_or_left_out() {
        let (mut s, dir) = store("respond-unknown");
        // An implicit collection is known without data: an empty element.
        let (res, a) = ask(
            &mut s,
            "Org1MSP",
            vec![digest("tx9", "_implicit_org_Org1MSP")],
        );
        assert_eq!(a.not_found, 1);
        assert_eq!(res.elements.len(), 1);
        assert!(res.elements[0].payload.is_empty());
        // An explicit collection with no stored config: nobody can be shown eligible.
        let (res, a) = ask(&mut s, "Org1MSP", vec![digest("tx9", "mine")]);
        assert!(res.elements.is_empty());
        assert_eq!(a.refused, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn committed_private_data_is_served_once_the_store_is_purged() {
        let dir = tempdir("respond-committed");
        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        let block7 = vec![PvtDataPayload {
            tx_seq_in_block: 2,
            payload: rwset("cc", "_implicit_org_Org1MSP", b"from the ledger").encode_to_vec(),
        }
        .encode_to_vec()];
        let mut reads = Vec::new();
        let mut committed = |seq: u64| {
            reads.push(seq);
            if seq == 7 {
                block7.clone()
            } else {
                Vec::new()
            }
        };
        let dig = |seq_in_block: u64| PvtDataDigest {
            tx_id: "tx".into(),
            namespace: "cc".into(),
            collection: "_implicit_org_Org1MSP".into(),
            block_seq: 7,
            seq_in_block,
        };
        let req = RemotePvtDataRequest {
            digests: vec![dig(2), dig(3)],
        };
        let policy = ImplicitCollectionPolicy {
            required_peer_count: 0,
            max_peer_count: 1,
        };
        let registry = CollectionRegistry::default();
        let me = identity("Org1MSP");
        let local = LocalPeer {
            org: "Org1MSP",
            identity: &me,
            channel: "ch",
            membership: Membership::MspId(&MspidAdvisor),
            implicit_policy: &policy,
            registry: &registry,
        };
        let (res, a) = respond(&mut s, &mut committed, &local, &identity("Org1MSP"), &req);
        assert_eq!(res.elements[0].payload, vec![b"from the ledger".to_vec()]);
        assert!(res.elements[1].payload.is_empty());
        assert_eq!((a.served, a.not_found), (1, 1));
        assert_eq!(reads, vec![7], "one ledger read per block");
        // Another org's peer gets nothing of it.
        let (res, a) = respond(
            &mut s,
            &mut |_| block7.clone(),
            &local,
            &identity("Org2MSP"),
            &req,
        );
        assert!(res.elements.is_empty());
        assert_eq!(a.refused, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
