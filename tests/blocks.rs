//! Block dissemination across many `GossipService`s in one process over loopback gRPC: one
//! peer adds blocks, every peer commits all of them in order to its file ledger, each block
//! reaches each state provider once; pull alone delivers; a bad block goes nowhere.

mod support;
use support::{free_port, tempdir, wait_for, wait_until};

use std::time::{Duration, Instant};

use fabgossip::channel::JoinChannelMessage;
use fabgossip::config::Config;
use fabgossip::crypto::block::new_block;
use fabgossip::ledger::{FileLedger, Ledger};
use fabgossip::node::{ChannelCallError, GossipService};
use prost::Message;

const CH: &str = "blocks";

fn peer_dir(dir: &std::path::Path, i: usize) -> std::path::PathBuf {
    dir.join(format!("p{i}"))
}

/// Peer `i` of Org1 bootstrapping from peer 0 (peer 0 from peer 1), fast timers.
async fn start(
    i: usize,
    ports: &[u16],
    dir: &std::path::Path,
    propagate_iterations: u32,
) -> GossipService {
    let port = ports[i];
    let boot = ports[if i == 0 { 1 } else { 0 }];
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: 127.0.0.1:{boot}\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    digestWaitTime: 100ms\n    requestWaitTime: 200ms\n    responseWaitTime: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    propagateIterations: {propagate_iterations}\nfabgossip:\n  trustedOrgs: [Org1MSP]\n  identitySeed: '{seed}'\n",
        dir = peer_dir(dir, i).display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    GossipService::start_builtin(Config::parse(&text).unwrap())
        .await
        .unwrap()
}

/// `n` peers that joined the channel and see each other in it.
async fn network(n: usize, dir: &std::path::Path, propagate_iterations: u32) -> Vec<GossipService> {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..n {
        peers.push(start(i, &ports, dir, propagate_iterations).await);
    }
    let join = JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into()],
        anchor_peers: Vec::new(),
        orderers: Vec::new(),
    };
    for p in &peers {
        p.join_channel(CH, join.clone()).await.unwrap();
        assert_eq!(p.ledger_height(CH), Some(0));
    }
    wait_until(
        "every peer sees the others in the channel",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == n - 1))
        },
    )
    .await;
    peers
}

/// Blocks 0..n chained by header hash, as marshaled `common.Block`s.
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

/// Stops every peer and returns each one's ledger digest and height, read from its files.
/// Adds `blocks` at `source`, numbered from 0, each accepted.
async fn add_all(source: &GossipService, blocks: &[Vec<u8>]) {
    for (seq, b) in blocks.iter().enumerate() {
        source.add_payload(CH, seq as u64, b.clone()).await.unwrap();
    }
}

async fn stop_and_read_ledgers(
    peers: Vec<GossipService>,
    dir: &std::path::Path,
) -> Vec<([u8; 32], u64)> {
    for p in &peers {
        p.stop().await;
    }
    drop(peers);
    // Commits run on blocking threads that hold the ledger for a moment after stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (0..)
        .map_while(|i| {
            let d = peer_dir(dir, i);
            d.exists().then(|| {
                let l = FileLedger::open(&d, CH).unwrap();
                (l.digest().unwrap(), l.height())
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_peers_commit_twenty_blocks_in_order_each_received_once() {
    let dir = tempdir("blocks");
    let peers = network(10, &dir, 1).await;
    let blocks = chain(20);
    let t0 = Instant::now();
    add_all(&peers[0], &blocks).await;
    // Adding a block held already is harmless.
    peers[0]
        .add_payload(CH, 19, blocks[19].clone())
        .await
        .unwrap();
    let done = wait_for(Duration::from_secs(30), || {
        peers.iter().all(|p| p.ledger_height(CH) == Some(20))
    })
    .await;
    if !done {
        for (i, p) in peers.iter().enumerate() {
            eprintln!("peer {i}: {:?}", p.block_stats(CH));
        }
        panic!("timed out waiting until every peer committed 20 blocks");
    }
    eprintln!("20 blocks on 10 peers in {:?}", t0.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, p) in peers.iter().enumerate() {
        let s = p.block_stats(CH).unwrap();
        assert_eq!(s.state.committed, 20, "peer {i}: {s:?}");
        assert_eq!(s.state.payloads_accepted, 20, "peer {i}: {s:?}");
        assert_eq!(
            s.state.payloads_received, 20,
            "each block reaches the provider once: peer {i}: {s:?}"
        );
        assert_eq!(s.state.invalid, 0, "peer {i}: {s:?}");
        assert_eq!(s.blocks.invalid, 0, "peer {i}: {s:?}");
        if i > 0 {
            assert!(
                s.blocks.pushed_in + s.blocks.pulled_in >= 20,
                "peer {i}: {s:?}"
            );
        }
    }
    let ledgers = stop_and_read_ledgers(peers, &dir).await;
    assert_eq!(ledgers.len(), 10);
    for (i, l) in ledgers.iter().enumerate() {
        assert_eq!(*l, ledgers[0], "peer {i}'s ledger differs");
        assert_eq!(l.1, 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_alone_delivers_when_push_is_off() {
    let dir = tempdir("blocks");
    let peers = network(5, &dir, 0).await;
    let blocks = chain(10);
    add_all(&peers[0], &blocks).await;
    wait_until(
        "every peer committed 10 blocks by pull",
        Duration::from_secs(30),
        || peers.iter().all(|p| p.ledger_height(CH) == Some(10)),
    )
    .await;
    for (i, p) in peers.iter().enumerate().skip(1) {
        let s = p.block_stats(CH).unwrap();
        assert_eq!(s.blocks.pushed_in, 0, "peer {i}: {s:?}");
        assert!(s.blocks.pulled_in >= 1, "peer {i}: {s:?}");
        assert_eq!(s.state.committed, 10);
    }
    let ledgers = stop_and_read_ledgers(peers, &dir).await;
    assert!(ledgers.iter().all(|l| *l == ledgers[0] && l.1 == 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_block_is_dropped_counted_and_never_forwarded() {
    let dir = tempdir("blocks");
    let peers = network(4, &dir, 1).await;
    let blocks = chain(3);
    peers[0]
        .add_payload(CH, 0, blocks[0].clone())
        .await
        .unwrap();
    // Block 1 with a transaction changed after the data hash was set.
    let mut bad = fabgossip::proto::common::Block::decode(blocks[1].as_slice()).unwrap();
    bad.data.as_mut().unwrap().data[0] = b"forged".to_vec();
    let res = peers[0].add_payload(CH, 1, bad.encode_to_vec()).await;
    assert!(
        matches!(res, Err(ChannelCallError::InvalidBlock(_))),
        "{res:?}"
    );
    // A block far beyond the buffer is refused for now, not lost silently.
    let far = new_block(500, vec![], vec![b"x".to_vec()]).encode_to_vec();
    assert!(matches!(
        peers[0].add_payload(CH, 500, far).await,
        Err(ChannelCallError::TooFarAhead { seq: 500, .. })
    ));
    assert!(matches!(
        peers[0]
            .add_payload("nochannel", 0, blocks[0].clone())
            .await,
        Err(ChannelCallError::Channel(_))
    ));
    wait_until("block 0 everywhere", Duration::from_secs(20), || {
        peers.iter().all(|p| p.ledger_height(CH) == Some(1))
    })
    .await;
    // The good block 1 after the bad one goes through.
    peers[0]
        .add_payload(CH, 1, blocks[1].clone())
        .await
        .unwrap();
    peers[0]
        .add_payload(CH, 2, blocks[2].clone())
        .await
        .unwrap();
    wait_until("blocks 1 and 2 everywhere", Duration::from_secs(20), || {
        peers.iter().all(|p| p.ledger_height(CH) == Some(3))
    })
    .await;
    let s0 = peers[0].block_stats(CH).unwrap();
    assert_eq!(s0.blocks.invalid, 1, "{s0:?}");
    for (i, p) in peers.iter().enumerate().skip(1) {
        let s = p.block_stats(CH).unwrap();
        assert_eq!(
            s.blocks.invalid + s.state.invalid,
            0,
            "peer {i} received the bad block: {s:?}"
        );
        assert_eq!(s.state.payloads_received, 3, "peer {i}: {s:?}");
    }
    let ledgers = stop_and_read_ledgers(peers, &dir).await;
    assert!(ledgers.iter().all(|l| *l == ledgers[0] && l.1 == 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_is_never_pushed_back_to_its_sender() {
    // With two peers the receiver's only possible target is its sender, so any block the
    // source receives by push would be an echo.
    let dir = tempdir("blocks");
    let peers = network(2, &dir, 1).await;
    let blocks = chain(5);
    add_all(&peers[0], &blocks).await;
    wait_until(
        "the receiver committed 5 blocks",
        Duration::from_secs(20),
        || peers[1].ledger_height(CH) == Some(5),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s0 = peers[0].block_stats(CH).unwrap();
    let s1 = peers[1].block_stats(CH).unwrap();
    assert!(
        s1.blocks.pushed_in >= 1,
        "the receiver got blocks by push: {s1:?}"
    );
    assert_eq!(s1.blocks.forwarded, s1.state.payloads_accepted, "{s1:?}");
    assert_eq!(
        s0.blocks.pushed_in, 0,
        "a block came back to its sender: {s0:?}"
    );
    for p in &peers {
        p.stop().await;
    }
}
