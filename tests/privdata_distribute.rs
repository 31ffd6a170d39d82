//! Private data distribution across whole nodes over loopback gRPC: 3 orgs × 2 peers. The
//! pushes reach the peers the plan chose and only them; each stores the write set and acks
//! it; a stopped peer is reported failed; the call is incomplete when `requiredPeerCount`
//! cannot be met. Run: `cargo test --release --test privdata_distribute`.

mod support;
use support::{free_port, tempdir, wait_until};

use std::collections::BTreeMap;
use std::time::Duration;

use fabgossip::channel::{AnchorPeer, JoinChannelMessage};
use fabgossip::config::Config;
use fabgossip::node::{DistributeError, GossipService, PvtExplainError, PvtReason};
use fabgossip::proto::common::{MspPrincipal, MspRole, SignaturePolicyEnvelope};
use fabgossip::proto::kvrwset::{KvWrite, KvrwSet};
use fabgossip::proto::protos::{
    collection_config, collection_policy_config, CollectionConfig, CollectionConfigPackage,
    CollectionPolicyConfig, StaticCollectionConfig,
};
use fabgossip::proto::rwset::{CollectionPvtReadWriteSet, NsPvtReadWriteSet, TxPvtReadWriteSet};
use fabgossip::proto::transientstore::TxPvtReadWriteSetWithConfigInfo;
use prost::Message;

const ORGS: [&str; 3] = ["Org1MSP", "Org2MSP", "Org3MSP"];

async fn start(
    i: usize,
    org: &str,
    boot: u16,
    ports: &[u16],
    dir: &std::path::Path,
) -> GossipService {
    let port = ports[i];
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: [127.0.0.1:{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 3s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    pvtData:\n      pushAckTimeout: 1s\nfabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP, Org3MSP]\n  identitySeed: '{seed}'\n",
        dir = dir.join(format!("p{i}")).display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    GossipService::start_builtin(Config::parse(&text).unwrap())
        .await
        .unwrap()
}

/// Six peers, two per org, on channel "ch"; every peer sees the five others.
async fn network(dir: &std::path::Path) -> Vec<GossipService> {
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..6 {
        let first = i - i % 2;
        let boot = if i == first {
            ports[first + 1]
        } else {
            ports[first]
        };
        peers.push(start(i, ORGS[i / 2], boot, &ports, dir).await);
    }
    let msg = JoinChannelMessage {
        sequence: 1,
        members: ORGS.iter().map(|o| o.to_string()).collect(),
        anchor_peers: (0..3)
            .map(|o| AnchorPeer {
                org: ORGS[o].into(),
                host: "127.0.0.1".into(),
                port: ports[2 * o],
            })
            .collect(),
        orderers: Vec::new(),
    };
    for p in &peers {
        p.join_channel("ch", msg.clone()).await.unwrap();
    }
    wait_until(
        "every peer sees the five others in ch",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel("ch").is_some_and(|v| v.len() == 5))
        },
    )
    .await;
    peers
}

fn collection(name: &str, members: &[&str], required: i32, max: i32) -> CollectionConfig {
    CollectionConfig {
        payload: Some(collection_config::Payload::StaticCollectionConfig(
            StaticCollectionConfig {
                name: name.into(),
                member_orgs_policy: Some(CollectionPolicyConfig {
                    payload: Some(collection_policy_config::Payload::SignaturePolicy(
                        SignaturePolicyEnvelope {
                            version: 0,
                            rule: None,
                            identities: members
                                .iter()
                                .map(|m| MspPrincipal {
                                    principal_classification: 0,
                                    principal: MspRole {
                                        msp_identifier: m.to_string(),
                                        role: 0,
                                    }
                                    .encode_to_vec(),
                                })
                                .collect(),
                        },
                    )),
                }),
                required_peer_count: required,
                maximum_peer_count: max,
                ..Default::default()
            },
        )),
    }
}

fn pvt(collections: &[(&str, CollectionConfig)]) -> Vec<u8> {
    TxPvtReadWriteSetWithConfigInfo {
        endorsed_at: 7,
        pvt_rwset: Some(TxPvtReadWriteSet {
            data_model: 0,
            ns_pvt_rwset: vec![NsPvtReadWriteSet {
                namespace: "marbles".into(),
                collection_pvt_rwset: collections
                    .iter()
                    .map(|(name, _)| CollectionPvtReadWriteSet {
                        collection_name: name.to_string(),
                        rwset: KvrwSet {
                            writes: vec![KvWrite {
                                key: format!("key of {name}"),
                                is_delete: false,
                                value: format!("value of {name}").into_bytes(),
                            }],
                            ..Default::default()
                        }
                        .encode_to_vec(),
                    })
                    .collect(),
            }],
        }),
        collection_configs: BTreeMap::from([(
            "marbles".to_string(),
            CollectionConfigPackage {
                config: collections.iter().map(|(_, c)| c.clone()).collect(),
            },
        )])
        .into_iter()
        .collect(),
    }
    .encode_to_vec()
}

fn unhandled(p: &GossipService) -> u64 {
    p.node_counters()
        .snapshot()
        .into_iter()
        .find(|(n, _)| *n == "unhandled")
        .map_or(0, |(_, v)| v)
}

/// Private write sets the peer stored on channel "ch" (its receiver's metric).
fn stored(p: &GossipService) -> u64 {
    let text = p.metrics_text();
    text.lines()
        .find(|l| {
            l.starts_with("fabgossip_privdata_received{")
                && l.contains("channel=\"ch\"")
                && l.contains("result=\"stored\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_the_chosen_peers_which_store_and_ack_them() {
    let dir = tempdir("privdata_distribute");
    let mut peers = network(&dir).await;
    let org_of: BTreeMap<String, &str> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.self_info().pki_id, ORGS[i / 2]))
        .collect();
    // An Org3 peer stops: while the others still list it, a push to it cannot be acked.
    let gone = peers[5].self_info().pki_id;
    peers.pop().unwrap().stop().await;
    let before: Vec<u64> = peers.iter().map(stored).collect();

    // "shared": Org2 and Org3, nothing required, up to 3 peers. "org3": Org3 only, 1
    // required. Peer 0 (Org1) endorses: not a member of either.
    let data = pvt(&[
        (
            "shared",
            collection("shared", &["Org2MSP", "Org3MSP"], 0, 3),
        ),
        ("org3", collection("org3", &["Org3MSP"], 1, 2)),
    ]);
    let report = peers[0]
        .distribute_private_data("ch", "tx1", &data, 5)
        .await
        .unwrap();
    assert!(report.required_met, "{report:?}");

    let members = [vec!["Org2MSP", "Org3MSP"], vec!["Org3MSP"]];
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (c, members) in report.collections.iter().zip(&members) {
        for p in &c.acked {
            assert_eq!(p.result, "acked");
            assert_eq!(org_of[&p.pki_id], p.org.as_str());
            assert!(members.contains(&p.org.as_str()), "{c:?}");
            *expected.entry(p.pki_id.clone()).or_default() += 1;
        }
        for p in &c.failed {
            assert_eq!(p.pki_id, gone, "only the stopped peer fails: {c:?}");
            assert!(["timeout", "send_failed"].contains(&p.result), "{p:?}");
        }
    }
    let shared = &report.collections[0];
    assert_eq!(shared.acked.len() + shared.failed.len(), 3, "{shared:?}");
    let org3 = &report.collections[1];
    assert_eq!(
        org3.acked
            .iter()
            .map(|p| p.pki_id.as_str())
            .collect::<Vec<_>>(),
        [peers[4].self_info().pki_id.as_str()],
        "{org3:?}"
    );

    // Each acked push was stored by its receiver, and no other peer stored anything.
    for (p, b) in peers.iter().zip(&before) {
        let want = expected.get(&p.self_info().pki_id).copied().unwrap_or(0);
        assert_eq!(stored(p) - b, want, "peer {}", p.self_info().pki_id);
    }
    assert_eq!(peers[0].comm().pending_acks(), 0);
    let text = peers[0].metrics_text();
    let acked: usize = report.collections.iter().map(|c| c.acked.len()).sum();
    assert!(
        text.contains(&format!("fabgossip_comm_acks{{result=\"acked\"}} {acked}")),
        "{}",
        text.lines()
            .filter(|l| l.contains("acks"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    for p in &peers {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplannable_collections_and_bad_input_send_nothing() {
    let dir = tempdir("privdata_distribute_bad");
    let peers = network(&dir).await;
    let before: Vec<u64> = peers.iter().map(unhandled).collect();
    // Org1 has one peer besides the endorser: 2 required cannot be met. "ghost" has no
    // config. The endorser's own implicit collection goes nowhere by default (max 1 but
    // required 0: its one peer is chosen), another org's implicit collection without a
    // config goes nowhere.
    let mut data = TxPvtReadWriteSetWithConfigInfo::decode(
        &pvt(&[("org1", collection("org1", &["Org1MSP"], 2, 3))])[..],
    )
    .unwrap();
    let ns = &mut data.pvt_rwset.as_mut().unwrap().ns_pvt_rwset[0];
    for name in ["ghost", "_implicit_org_Org2MSP"] {
        ns.collection_pvt_rwset.push(CollectionPvtReadWriteSet {
            collection_name: name.into(),
            rwset: b"x".to_vec(),
        });
    }
    let report = peers[0]
        .distribute_private_data("ch", "tx2", &data.encode_to_vec(), 1)
        .await
        .unwrap();
    assert!(!report.required_met);
    let org1 = &report.collections[0];
    assert!(
        org1.error
            .as_deref()
            .unwrap()
            .contains("at least 2 peers, but know of only 1"),
        "{org1:?}"
    );
    assert!(report.collections[1]
        .error
        .as_deref()
        .unwrap()
        .contains("no collection config"));
    let implicit = &report.collections[2];
    assert!(implicit.required_met && implicit.failed.is_empty() && implicit.error.is_none());
    assert_eq!(
        report.failed_collections(),
        ["marbles/org1", "marbles/ghost"]
    );

    assert!(matches!(
        peers[0]
            .distribute_private_data("nope", "tx", &data.encode_to_vec(), 1)
            .await,
        Err(DistributeError::UnknownChannel(_))
    ));
    assert!(matches!(
        peers[0]
            .distribute_private_data("ch", "tx", &[0xff, 0x01], 1)
            .await,
        Err(DistributeError::InvalidInput(_))
    ));
    assert!(matches!(
        peers[0]
            .distribute_private_data("ch", "", &data.encode_to_vec(), 1)
            .await,
        Err(DistributeError::InvalidInput(_))
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (p, b) in peers.iter().zip(&before) {
        assert_eq!(unhandled(p), *b, "nothing was sent");
        assert_eq!(stored(p), 0, "nothing was stored");
    }

    // Why a peer is not a target, before and after the host sets the config of "ghost".
    let explain = |query: &str, collection: &str, height: u64| {
        peers[0]
            .explain_private_data("ch", "marbles", collection, query, height)
            .unwrap()
    };
    let org2 = peers[2].self_info().endpoint;
    assert_eq!(
        explain(&org2, "ghost", 0).reason,
        PvtReason::UnknownCollection
    );
    let ghost = CollectionConfigPackage {
        config: vec![collection("ghost", &["Org2MSP"], 1, 1)],
    };
    peers[0]
        .set_collection_config("ch", "marbles", &ghost.encode_to_vec())
        .unwrap();
    let e = explain(&org2, "ghost", 0);
    assert_eq!(e.reason, PvtReason::Eligible, "{e:?}");
    assert_eq!(e.member_orgs, ["Org2MSP"]);
    assert_eq!(
        e.pki_id.as_deref(),
        Some(peers[2].self_info().pki_id.as_str())
    );
    let e = explain(&peers[4].self_info().pki_id, "ghost", 0);
    assert_eq!(e.reason, PvtReason::NotEligible, "{e:?}");
    assert!(
        e.detail.contains("Org3MSP is not in the member orgs"),
        "{e:?}"
    );
    assert_eq!(
        explain(&org2, "ghost", 1000).reason,
        PvtReason::BelowBlockHeight
    );
    assert_eq!(
        explain(&peers[0].self_info().endpoint, "ghost", 0).reason,
        PvtReason::IsSelf
    );
    assert_eq!(
        explain("127.0.0.1:1", "ghost", 0).reason,
        PvtReason::NotInChannel
    );
    assert_eq!(
        explain(&org2, "_implicit_org_Org2MSP", 0).reason,
        PvtReason::Eligible
    );
    assert!(matches!(
        peers[0].explain_private_data("nope", "marbles", "ghost", &org2, 0),
        Err(PvtExplainError::UnknownChannel(_))
    ));

    // The private data carries no config of "ghost": the host's is used, and its one
    // required Org2 peer acks.
    let only_ghost = TxPvtReadWriteSetWithConfigInfo {
        collection_configs: Default::default(),
        ..TxPvtReadWriteSetWithConfigInfo::decode(
            &pvt(&[("ghost", collection("ghost", &["Org3MSP"], 0, 0))])[..],
        )
        .unwrap()
    };
    let report = peers[0]
        .distribute_private_data("ch", "tx3", &only_ghost.encode_to_vec(), 1)
        .await
        .unwrap();
    assert!(report.required_met, "{report:?}");
    let acked = &report.collections[0].acked;
    assert_eq!(acked.len(), 1, "{report:?}");
    assert_eq!(acked[0].org, "Org2MSP");
    for p in &peers {
        p.stop().await;
    }
}
