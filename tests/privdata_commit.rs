//! Private data at commit across whole nodes over loopback gRPC (Fabric's coordinator): A
//! and B in Org1, C in Org2. A block whose transaction wrote to Org1's implicit collection
//! reaches all three; only A holds the write set (its transient store). B pulls it from A
//! and commits the block with it; C, not eligible, commits at once without asking anyone
//! and lists it missing (not eligible). A block whose private data no peer has is committed
//! with it listed missing as soon as every eligible peer answered without it, long before
//! `pullRetryThreshold` (one hour here). Run: `cargo test --release --test privdata_commit`.

mod support;
use support::{free_port, tempdir, wait_until};

use std::path::Path;
use std::time::Duration;

use fabgossip::channel::{AnchorPeer, JoinChannelMessage};
use fabgossip::config::Config;
use fabgossip::crypto::block::{block_header_hash, new_block};
use fabgossip::ledger::{FileLedger, Ledger};
use fabgossip::node::GossipService;
use fabgossip::privdata::{TransientStore, TransientStoreLimits};
use fabgossip::proto::common::{ChannelHeader, Envelope, Header, HeaderType, Payload};
use fabgossip::proto::gossip::PvtDataPayload;
use fabgossip::proto::kvrwset::{KvWrite, KvrwSet};
use fabgossip::proto::protos::{
    ChaincodeAction, ChaincodeActionPayload, ChaincodeEndorsedAction, ProposalResponsePayload,
    Transaction, TransactionAction,
};
use fabgossip::proto::rwset::{
    CollectionHashedReadWriteSet, CollectionPvtReadWriteSet, NsPvtReadWriteSet, NsReadWriteSet,
    TxPvtReadWriteSet, TxReadWriteSet,
};
use prost::Message;
use sha2::{Digest, Sha256};

const CH: &str = "ch";
const NS: &str = "mycc";
const ORG1: &str = "_implicit_org_Org1MSP";

fn config(i: usize, org: &str, port: u16, boot: Option<u16>, dir: &Path) -> Config {
    let boot = boot.map_or(String::new(), |b| format!("127.0.0.1:{b}"));
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: [{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 3s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    pvtData:\n      pullRetryThreshold: 3600s\nfabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP]\n  identitySeed: '{seed}'\n  ledgerFsync: false\n",
        dir = dir.display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    Config::parse(&text).unwrap()
}

fn kv(value: &str) -> Vec<u8> {
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

/// An endorser transaction of channel "ch" whose namespace wrote privately `pvt` to Org1's
/// implicit collection (the block carries only its hash).
fn endorser_tx(tx_id: &str, pvt: &[u8]) -> Vec<u8> {
    let rwset = TxReadWriteSet {
        data_model: 0,
        ns_rwset: vec![NsReadWriteSet {
            namespace: NS.into(),
            rwset: Vec::new(),
            collection_hashed_rwset: vec![CollectionHashedReadWriteSet {
                collection_name: ORG1.into(),
                hashed_rwset: Vec::new(),
                pvt_rwset_hash: Sha256::digest(pvt).to_vec(),
            }],
        }],
    };
    let action = ChaincodeAction {
        results: rwset.encode_to_vec(),
        ..Default::default()
    };
    let cap = ChaincodeActionPayload {
        chaincode_proposal_payload: Vec::new(),
        action: Some(ChaincodeEndorsedAction {
            proposal_response_payload: ProposalResponsePayload {
                proposal_hash: vec![1],
                extension: action.encode_to_vec(),
            }
            .encode_to_vec(),
            endorsements: Vec::new(),
        }),
    };
    let tx = Transaction {
        actions: vec![TransactionAction {
            header: Vec::new(),
            payload: cap.encode_to_vec(),
        }],
    };
    let ch = ChannelHeader {
        r#type: HeaderType::EndorserTransaction as i32,
        channel_id: CH.into(),
        tx_id: tx_id.into(),
        ..Default::default()
    };
    Envelope {
        payload: Payload {
            header: Some(Header {
                channel_header: ch.encode_to_vec(),
                signature_header: Vec::new(),
            }),
            data: tx.encode_to_vec(),
        }
        .encode_to_vec(),
        signature: vec![1],
    }
    .encode_to_vec()
}

fn pvt_rwset(rwset: Vec<u8>) -> TxPvtReadWriteSet {
    TxPvtReadWriteSet {
        data_model: 0,
        ns_pvt_rwset: vec![NsPvtReadWriteSet {
            namespace: NS.into(),
            collection_pvt_rwset: vec![CollectionPvtReadWriteSet {
                collection_name: ORG1.into(),
                rwset,
            }],
        }],
    }
}

/// A series' value in the node's metrics, 0 when absent.
fn metric(p: &GossipService, series: &str) -> f64 {
    p.metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn fetches(p: &GossipService) -> f64 {
    metric(p, "gossip_privdata_fetch_duration_count{channel=\"ch\"}")
}

fn missing(p: &GossipService) -> f64 {
    metric(p, "fabgossip_privdata_missing{channel=\"ch\"}")
}

fn height(p: &GossipService) -> u64 {
    p.block_stats(CH).map_or(0, |b| b.height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_commit_with_pulled_private_data_and_fail_fast_when_nobody_has_it() {
    let dir = tempdir("privdata_commit");
    let dirs: Vec<_> = (0..3).map(|i| dir.join(format!("p{i}"))).collect();
    let secret = kv("only A holds this");
    // A received the write set from the endorser before the block (its transient store).
    {
        let mut store = TransientStore::open(
            &dirs[0].join("transientstore").join(CH),
            TransientStoreLimits::default(),
        )
        .unwrap();
        store
            .persist("tx-pvt", 0, pvt_rwset(secret.clone()), Vec::new())
            .unwrap();
    }
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let orgs = ["Org1MSP", "Org1MSP", "Org2MSP"];
    let boots = [Some(ports[1]), Some(ports[0]), None];
    let mut peers = Vec::new();
    for i in 0..3 {
        let cfg = config(i, orgs[i], ports[i], boots[i], &dirs[i]);
        peers.push(GossipService::start_builtin(cfg).await.unwrap());
    }
    let join = JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into(), "Org2MSP".into()],
        anchor_peers: vec![
            AnchorPeer {
                org: "Org1MSP".into(),
                host: "127.0.0.1".into(),
                port: ports[0],
            },
            AnchorPeer {
                org: "Org2MSP".into(),
                host: "127.0.0.1".into(),
                port: ports[2],
            },
        ],
        orderers: Vec::new(),
    };
    for p in &peers {
        p.join_channel(CH, join.clone()).await.unwrap();
    }
    wait_until(
        "every peer sees the two others in ch",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == 2))
        },
    )
    .await;
    let (a, b, c) = (&peers[0], &peers[1], &peers[2]);

    // Block 0: B and C get it first (as from the orderer); B pushes it on to A.
    let block0 = new_block(0, vec![0; 32], vec![endorser_tx("tx-pvt", &secret)]);
    let bytes0 = block0.encode_to_vec();
    b.add_payload(CH, 0, bytes0.clone()).await.unwrap();
    c.add_payload(CH, 0, bytes0.clone()).await.unwrap();
    a.add_payload(CH, 0, bytes0).await.unwrap();
    wait_until(
        "all three committed block 0",
        Duration::from_secs(30),
        || peers.iter().all(|p| height(p) == 1),
    )
    .await;
    assert_eq!(fetches(b), 1.0, "B pulled the private data");
    assert_eq!(missing(b), 0.0, "B has all it is eligible for");
    assert_eq!(fetches(a), 0.0, "A had it in its transient store");
    assert_eq!(missing(a), 0.0);
    assert_eq!(fetches(c), 0.0, "C, not eligible, asked nobody");
    assert_eq!(missing(c), 1.0, "C lists it missing, not eligible");
    assert_eq!(
        metric(
            a,
            "gossip_privdata_commit_block_duration_count{channel=\"ch\"}"
        ),
        1.0
    );

    // Block 1: nobody holds its private data. A and B ask each other, both answer without
    // it, and both commit at once with it missing: no hour-long wait.
    let block1 = new_block(
        1,
        block_header_hash(block0.header.as_ref().unwrap()),
        vec![endorser_tx("tx-lost", &kv("never distributed"))],
    );
    b.add_payload(CH, 1, block1.encode_to_vec()).await.unwrap();
    wait_until(
        "A and B committed block 1 without its private data",
        Duration::from_secs(60),
        || height(a) == 2 && height(b) == 2,
    )
    .await;
    assert_eq!(missing(b), 1.0);
    assert_eq!(missing(a), 1.0);
    assert_eq!(fetches(b), 2.0);

    for p in &peers {
        p.stop().await;
    }
    // What the ledgers hold: B the pulled write set with block 0 and block 1 listed missing
    // (eligible); C nothing with block 0 and block 0 listed missing (not eligible).
    let lb = FileLedger::open(&dirs[1], CH).unwrap();
    let pvt0 = lb.get_private_data(0).unwrap();
    assert_eq!(pvt0.len(), 1);
    let p = PvtDataPayload::decode(pvt0[0].as_slice()).unwrap();
    assert_eq!(p.tx_seq_in_block, 0);
    assert_eq!(
        TxPvtReadWriteSet::decode(p.payload.as_slice()).unwrap(),
        pvt_rwset(secret.clone())
    );
    let lost: Vec<(String, u64, bool)> = lb
        .missing_private_data()
        .unwrap()
        .into_iter()
        .map(|m| (m.digest.tx_id, m.digest.block_seq, m.eligible))
        .collect();
    assert_eq!(lost, vec![("tx-lost".to_string(), 1, true)]);
    let lc = FileLedger::open(&dirs[2], CH).unwrap();
    assert!(lc.get_private_data(0).unwrap().is_empty());
    let lost: Vec<(String, u64, bool)> = lc
        .missing_private_data()
        .unwrap()
        .into_iter()
        .map(|m| (m.digest.tx_id, m.digest.block_seq, m.eligible))
        .collect();
    assert_eq!(lost, vec![("tx-pvt".to_string(), 0, false)]);
    // A's transient store was purged of the committed transaction.
    let store = TransientStore::open(
        &dirs[0].join("transientstore").join(CH),
        TransientStoreLimits::default(),
    )
    .unwrap();
    assert!(!store.contains_tx("tx-pvt"));
    let _ = std::fs::remove_dir_all(&dir);
}
