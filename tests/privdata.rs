//! Private data at a whole node, receiving side, over loopback gRPC: a push from a channel
//! member is stored in the transient store and acknowledged with an empty error; a push of a
//! collection the node is not a member of is acknowledged with the reason and not stored; a
//! push from a peer outside the channel is dropped unanswered and counted; a
//! `RemotePvtDataRequest` is answered only with the collections the requester may read; the
//! stored write sets survive the node's restart.

mod comm_support;
mod support;

use std::path::Path;
use std::time::Duration;

use comm_support::{config as comm_config, Node};
use fabgossip::channel::JoinChannelMessage;
use fabgossip::comm::{AckOutcome, CommEvent, RemotePeer};
use fabgossip::config::Config;
use fabgossip::crypto::block::new_block;
use fabgossip::message::SignedGossipMessage;
use fabgossip::node::GossipService;
use fabgossip::privdata::{TransientStore, TransientStoreLimits};
use fabgossip::proto::common::msp_principal::Classification;
use fabgossip::proto::common::{MspPrincipal, MspRole, SignaturePolicyEnvelope};
use fabgossip::proto::gossip::gossip_message::{Content, Tag};
use fabgossip::proto::gossip::{
    GossipMessage, PrivateDataMessage, PrivatePayload, PvtDataDigest, RemotePvtDataRequest,
    RemotePvtDataResponse,
};
use fabgossip::proto::kvrwset::{KvWrite, KvrwSet};
use fabgossip::proto::protos::collection_config::Payload as CollectionPayload;
use fabgossip::proto::protos::collection_policy_config::Payload as PolicyPayload;
use fabgossip::proto::protos::{
    CollectionConfig, CollectionConfigPackage, CollectionPolicyConfig, StaticCollectionConfig,
};
use fabgossip::types::PkiId;
use prost::Message;
use support::{free_port, tempdir, wait_until};

const CH: &str = "pvt";
const NS: &str = "mycc";

fn node_config(port: u16, dir: &Path, retention: u64) -> Config {
    let text = format!(
        "peer:\n  id: p0\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    externalEndpoint: '127.0.0.1:{port}'\n    pvtData:\n      transientstoreMaxBlockRetention: {retention}\nfabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP, Org3MSP]\n  identitySeed: '{seed}'\n  ledgerFsync: false\n",
        dir = dir.display(),
        seed = hex::encode([9u8; 32]),
    );
    Config::parse(&text).unwrap()
}

async fn start_node(port: u16, dir: &Path, retention: u64) -> GossipService {
    let node = GossipService::start_builtin(node_config(port, dir, retention))
        .await
        .unwrap();
    node.join_channel(
        CH,
        JoinChannelMessage {
            sequence: 1,
            members: vec!["Org1MSP".into(), "Org2MSP".into()],
            anchor_peers: Vec::new(),
            orderers: Vec::new(),
        },
    )
    .await
    .unwrap();
    node
}

fn remote(node: &GossipService) -> RemotePeer {
    RemotePeer {
        endpoint: node.local_addr().to_string(),
        pki_id: PkiId(hex::decode(node.self_info().pki_id).unwrap()),
    }
}

fn collection(name: &str, orgs: &[&str]) -> CollectionConfigPackage {
    let identities = orgs
        .iter()
        .map(|o| MspPrincipal {
            principal_classification: Classification::Role as i32,
            principal: MspRole {
                msp_identifier: o.to_string(),
                role: 0,
            }
            .encode_to_vec(),
        })
        .collect();
    CollectionConfigPackage {
        config: vec![CollectionConfig {
            payload: Some(CollectionPayload::StaticCollectionConfig(
                StaticCollectionConfig {
                    name: name.into(),
                    member_orgs_policy: Some(CollectionPolicyConfig {
                        payload: Some(PolicyPayload::SignaturePolicy(SignaturePolicyEnvelope {
                            version: 0,
                            rule: None,
                            identities,
                        })),
                    }),
                    required_peer_count: 1,
                    maximum_peer_count: 2,
                    block_to_live: 0,
                    member_only_read: true,
                    member_only_write: true,
                    endorsement_policy: None,
                },
            )),
        }],
    }
}

fn rwset(value: &str) -> Vec<u8> {
    KvrwSet {
        writes: vec![KvWrite {
            key: "k".into(),
            is_delete: false,
            value: value.as_bytes().to_vec(),
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// A push as Fabric's distributor sends it: CHAN_ONLY, unsigned, a random nonce.
fn push(
    nonce: u64,
    tx: &str,
    coll: &str,
    configs: Option<CollectionConfigPackage>,
) -> GossipMessage {
    GossipMessage {
        nonce,
        channel: CH.as_bytes().to_vec(),
        tag: Tag::ChanOnly as i32,
        content: Some(Content::PrivateData(PrivateDataMessage {
            payload: Some(PrivatePayload {
                collection_name: coll.into(),
                namespace: NS.into(),
                tx_id: tx.into(),
                private_rwset: rwset(tx),
                private_sim_height: 1,
                collection_configs: configs,
            }),
        })),
    }
}

fn request(nonce: u64, digests: &[(&str, &str)]) -> GossipMessage {
    GossipMessage {
        nonce,
        channel: CH.as_bytes().to_vec(),
        tag: Tag::ChanOnly as i32,
        content: Some(Content::PrivateReq(RemotePvtDataRequest {
            digests: digests
                .iter()
                .map(|(tx, coll)| PvtDataDigest {
                    tx_id: tx.to_string(),
                    namespace: NS.into(),
                    collection: coll.to_string(),
                    block_seq: 1,
                    seq_in_block: 0,
                })
                .collect(),
        })),
    }
}

fn send(from: &Node, to: &RemotePeer, msg: GossipMessage) {
    from.comm
        .send(SignedGossipMessage::unsigned(msg).envelope, to);
}

/// A push sent with ack, as Fabric's distributor sends it: the `Acknowledgement.error` it
/// got back ("" = stored).
async fn pushed(from: &Node, to: &RemotePeer, msg: GossipMessage) -> String {
    let results = from
        .comm
        .send_with_ack(msg, Duration::from_secs(10), 1, std::slice::from_ref(to))
        .await;
    match results.into_iter().next().map(|r| r.outcome) {
        Some(AckOutcome::Acked) => String::new(),
        Some(AckOutcome::Nacked(error)) => error,
        other => panic!("no acknowledgement: {other:?}"),
    }
}

async fn response_of(peer: &mut Node, nonce: u64) -> RemotePvtDataResponse {
    let ev = peer
        .wait_event("the private data response", |ev| match ev {
            CommEvent::Message(m) => {
                m.msg.nonce == nonce && matches!(m.msg.content, Some(Content::PrivateRes(_)))
            }
            _ => false,
        })
        .await;
    match ev {
        CommEvent::Message(m) => match m.msg.content {
            Some(Content::PrivateRes(r)) => r,
            _ => unreachable!(),
        },
        _ => unreachable!(),
    }
}

/// A sample of the node's metrics text, e.g. `name{channel="pvt",result="stored"}`.
fn metric(node: &GossipService, series: &str) -> f64 {
    node.metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn transient_entries(node: &GossipService) -> f64 {
    metric(
        node,
        &format!("fabgossip_privdata_transient_entries{{channel=\"{CH}\"}}"),
    )
}

fn received(node: &GossipService, result: &str) -> f64 {
    metric(
        node,
        &format!("fabgossip_privdata_received{{channel=\"{CH}\",result=\"{result}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_stored_and_acked_and_requests_answered_for_eligible_peers_only() {
    let dir = tempdir("privdata-node");
    let port = free_port();
    let node = start_node(port, &dir, 20000).await;
    let to = remote(&node);
    let mut member = Node::start("Org2MSP", comm_config(false)).await;
    let shared = || Some(collection("shared", &["Org1MSP", "Org2MSP"]));

    // A member's push of a collection the node belongs to: stored, acked with "".
    assert_eq!(
        pushed(&member, &to, push(11, "tx1", "shared", shared())).await,
        ""
    );
    // The node's own implicit collection needs no config.
    assert_eq!(
        pushed(&member, &to, push(12, "tx4", "_implicit_org_Org1MSP", None)).await,
        ""
    );

    // A collection the node's org is not a member of: acked with the reason, not stored.
    let theirs = Some(collection("theirs", &["Org2MSP", "Org3MSP"]));
    let err = pushed(&member, &to, push(13, "tx2", "theirs", theirs)).await;
    assert!(err.contains("not eligible"), "{err}");
    // An explicit collection whose config the push does not carry.
    assert!(!pushed(&member, &to, push(14, "tx5", "shared", None))
        .await
        .is_empty());

    // A peer of an org outside the channel: dropped unanswered, counted.
    let mut outsider = Node::start("Org3MSP", comm_config(false)).await;
    send(&outsider, &to, push(15, "tx3", "shared", shared()));
    wait_until(
        "the outsider's push is counted as unauthorized",
        Duration::from_secs(30),
        || received(&node, "unauthorized") == 1.0,
    )
    .await;
    assert_eq!(received(&node, "stored"), 2.0);
    assert_eq!(received(&node, "not_eligible"), 1.0);
    assert_eq!(received(&node, "unknown_collection"), 1.0);
    assert_eq!(
        metric(
            &node,
            &format!("fabgossip_privdata_transient_entries{{channel=\"{CH}\"}}")
        ),
        2.0
    );

    // Requests: Org2 reads "shared" but not Org1's implicit collection.
    send(
        &member,
        &to,
        request(21, &[("tx1", "shared"), ("tx4", "_implicit_org_Org1MSP")]),
    );
    let res = response_of(&mut member, 21).await;
    assert_eq!(res.elements.len(), 1, "{res:?}");
    let e = &res.elements[0];
    assert_eq!(e.digest.as_ref().unwrap().tx_id, "tx1");
    assert_eq!(e.payload, vec![rwset("tx1")]);
    // Nothing of what was refused was stored.
    send(
        &member,
        &to,
        request(22, &[("tx2", "theirs"), ("tx3", "shared")]),
    );
    let res = response_of(&mut member, 22).await;
    assert!(res.elements.iter().all(|e| e.payload.is_empty()), "{res:?}");
    // The outsider's request is not answered at all; it is counted.
    send(&outsider, &to, request(23, &[("tx1", "shared")]));
    wait_until(
        "the outsider's request is refused",
        Duration::from_secs(30),
        || {
            node.metrics_snapshot().channels.iter().any(|c| {
                c.privdata
                    .as_ref()
                    .is_some_and(|p| p.requests_unauthorized == 1)
            })
        },
    )
    .await;
    outsider
        .assert_no_event(Duration::from_millis(200), "a response to the outsider", |ev| {
            matches!(ev, CommEvent::Message(m) if matches!(m.msg.content, Some(Content::PrivateRes(_))))
        })
        .await;

    node.stop().await;
    member.comm.stop().await;
    outsider.comm.stop().await;

    // The transient store survives: what was acked with "" is on disk, nothing else.
    let mut store = TransientStore::open(
        &dir.join("transientstore").join(CH),
        TransientStoreLimits::default(),
    )
    .unwrap();
    assert_eq!(store.stats().entries, 2);
    assert_eq!(
        store.entries_of("tx1")[0].rwsets_of(NS, "shared"),
        vec![rwset("tx1")]
    );
    assert_eq!(store.entries_of("tx4").len(), 1);
    assert!(store.entries_of("tx2").is_empty() && store.entries_of("tx3").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Blocks 0..n chained by header hash, one transaction each.
fn chain(n: u64) -> Vec<Vec<u8>> {
    let mut prev = Vec::new();
    (0..n)
        .map(|i| {
            let b = new_block(i, prev.clone(), vec![format!("tx {i}").into_bytes()]);
            prev = fabgossip::crypto::block::block_header_hash(b.header.as_ref().unwrap());
            b.encode_to_vec()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_older_than_the_retention_are_purged_as_blocks_commit() {
    let dir = tempdir("privdata-purge");
    let node = start_node(free_port(), &dir, 2).await;
    let to = remote(&node);
    let member = Node::start("Org2MSP", comm_config(false)).await;
    for (nonce, tx, height) in [(1, "old", 1), (2, "new", 5)] {
        let mut m = push(nonce, tx, "_implicit_org_Org1MSP", None);
        if let Some(Content::PrivateData(p)) = &mut m.content {
            p.payload.as_mut().unwrap().private_sim_height = height;
        }
        assert_eq!(pushed(&member, &to, m).await, "");
    }
    assert_eq!(transient_entries(&node), 2.0);
    // Height 4 with a retention of 2: what was received below height 2 goes.
    for (seq, b) in chain(4).into_iter().enumerate() {
        node.add_payload(CH, seq as u64, b).await.unwrap();
    }
    wait_until("the old entry is purged", Duration::from_secs(30), || {
        transient_entries(&node) == 1.0
    })
    .await;
    node.stop().await;
    member.comm.stop().await;
    let mut store = TransientStore::open(
        &dir.join("transientstore").join(CH),
        TransientStoreLimits::default(),
    )
    .unwrap();
    assert!(store.entries_of("old").is_empty());
    assert_eq!(store.entries_of("new").len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn dropped(node: &GossipService, reason: &str) -> u64 {
    node.node_counters()
        .snapshot()
        .into_iter()
        .find(|(n, _)| *n == reason)
        .map_or(0, |(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_collection_config_decides_over_the_pushed_one() {
    let dir = tempdir("privdata-registry");
    let node = start_node(free_port(), &dir, 20000).await;
    let to = remote(&node);
    let mut member = Node::start("Org2MSP", comm_config(false)).await;
    let set = |orgs: &[&str]| {
        node.set_collection_config(CH, NS, &collection("secret", orgs).encode_to_vec())
    };

    // The host says "secret" is Org2's only; a push claiming Org1 is a member is refused.
    set(&["Org2MSP"]).unwrap();
    let claims_org1 = Some(collection("secret", &["Org1MSP", "Org2MSP"]));
    let err = pushed(&member, &to, push(31, "tx1", "secret", claims_org1)).await;
    assert!(err.contains("not eligible"), "{err}");
    // A collection missing from the host's package of the namespace is unknown, whatever
    // the push carries.
    let other = Some(collection("other", &["Org1MSP"]));
    let err = pushed(&member, &to, push(32, "tx2", "other", other)).await;
    assert!(err.contains("no collection config"), "{err}");

    // The host makes Org1 a member: a push carrying no config at all is stored.
    set(&["Org1MSP", "Org2MSP"]).unwrap();
    assert_eq!(
        pushed(&member, &to, push(33, "tx3", "secret", None)).await,
        ""
    );
    assert_eq!(received(&node, "stored"), 1.0);
    assert_eq!(received(&node, "not_eligible"), 1.0);
    assert_eq!(received(&node, "unknown_collection"), 1.0);
    // ...and served to Org2 by the host's config.
    send(&member, &to, request(34, &[("tx3", "secret")]));
    let res = response_of(&mut member, 34).await;
    assert_eq!(res.elements.len(), 1, "{res:?}");
    assert_eq!(res.elements[0].payload, vec![rwset("tx3")]);
    // The host drops Org2: the same request is refused.
    set(&["Org1MSP"]).unwrap();
    send(&member, &to, request(35, &[("tx3", "secret")]));
    assert!(response_of(&mut member, 35).await.elements.is_empty());

    // Bad packages change nothing.
    assert!(node.set_collection_config(CH, NS, &[0xff, 0xff]).is_err());
    assert!(node.set_collection_config(CH, "", &[]).is_err());

    // Private data of a channel the node has not joined: its own drop reason.
    let mut elsewhere = push(36, "tx4", "secret", None);
    elsewhere.channel = b"elsewhere".to_vec();
    send(&member, &to, elsewhere);
    wait_until(
        "the push for an unjoined channel is counted",
        Duration::from_secs(30),
        || dropped(&node, "privdata_unknown_channel") == 1,
    )
    .await;
    assert_eq!(dropped(&node, "block_unknown_channel"), 0);

    node.stop().await;
    member.comm.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
