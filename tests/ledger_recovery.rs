//! The file ledger's repair at open and the hash chain, between two in-process peers over
//! loopback gRPC: a peer whose ledger was damaged while it was down (a byte flipped in an
//! old block, a zero-filled tail) reopens at its last good block and catches up from the
//! other by state transfer; a block that does not chain is refused by `add_payload` with
//! both hashes named, and a pushed one that does not chain is dropped by the ledger, counted,
//! and replaced by the right block.

mod support;
use support::{free_port, tempdir, wait_until};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fabgossip::channel::JoinChannelMessage;
use fabgossip::config::Config;
use fabgossip::crypto::block::{block_header_hash, new_block};
use fabgossip::ledger::chain::linked_blocks;
use fabgossip::ledger::{FileLedger, Ledger};
use fabgossip::node::{ChannelCallError, GossipService};
use prost::Message;

const CH: &str = "repair";

fn peer_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("p{i}"))
}

/// Peer `i` of Org1MSP with state transfer on and fast timers; `verify` checks every record
/// of the ledger on open.
fn config(i: usize, port: u16, boot: u16, dir: &Path, verify: bool) -> Config {
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: [127.0.0.1:{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    digestWaitTime: 100ms\n    requestWaitTime: 200ms\n    responseWaitTime: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    state:\n      enabled: true\n      responseTimeout: 2s\nfabgossip:\n  trustedOrgs: [Org1MSP]\n  identitySeed: '{seed}'\n  ledgerFsync: false\n  ledgerVerifyOnOpen: {verify}\n",
        dir = peer_dir(dir, i).display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    Config::parse(&text).unwrap()
}

fn join() -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into()],
        anchor_peers: Vec::new(),
        orderers: Vec::new(),
    }
}

fn chain(n: u64) -> Vec<Vec<u8>> {
    linked_blocks(n, |i| vec![format!("tx {i}").into_bytes(); 3])
        .iter()
        .map(|b| b.encode_to_vec())
        .collect()
}

async fn add_all(p: &GossipService, blocks: &[Vec<u8>], from: usize) {
    for (seq, b) in blocks.iter().enumerate().skip(from) {
        loop {
            match p.add_payload(CH, seq as u64, b.clone()).await {
                Ok(()) => break,
                Err(ChannelCallError::TooFarAhead { .. }) => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err(e) => panic!("block {seq}: {e}"),
            }
        }
    }
}

/// Two peers; both hold `blocks` when this returns.
async fn two_peers(dir: &Path, ports: &[u16; 2], blocks: &[Vec<u8>]) -> Vec<GossipService> {
    let mut peers = Vec::new();
    for i in 0..2 {
        let p = GossipService::start_builtin(config(i, ports[i], ports[1 - i], dir, false))
            .await
            .unwrap();
        p.join_channel(CH, join()).await.unwrap();
        peers.push(p);
    }
    wait_until("the peers see each other", Duration::from_secs(30), || {
        peers
            .iter()
            .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == 1))
    })
    .await;
    add_all(&peers[0], blocks, 0).await;
    let n = blocks.len() as u64;
    wait_until(
        "both peers hold every block",
        Duration::from_secs(60),
        || peers.iter().all(|p| p.ledger_height(CH) == Some(n)),
    )
    .await;
    peers
}

async fn stop(p: GossipService) {
    p.stop().await;
    drop(p);
    // Commits run on blocking threads that hold the ledger for a moment after stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn digest(dir: &Path, i: usize) -> ([u8; 32], u64) {
    let l = FileLedger::open(&peer_dir(dir, i), CH).unwrap();
    (l.digest().unwrap(), l.height())
}

fn blocks_file(dir: &Path, i: usize) -> PathBuf {
    peer_dir(dir, i).join("ledgers").join(CH).join("blocks.dat")
}

/// Flips a byte inside the body of block `n` (records are read through the index).
fn flip_inside_block(dir: &Path, i: usize, n: usize) {
    let idx = std::fs::read(peer_dir(dir, i).join("ledgers").join(CH).join("blocks.idx")).unwrap();
    let at = u64::from_le_bytes(idx[n * 8..n * 8 + 8].try_into().unwrap()) as usize + 16 + 10;
    let path = blocks_file(dir, i);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_ledger_reopens_at_its_last_good_block_and_catches_up() {
    let dir = tempdir("ledger-repair");
    let ports = [free_port(), free_port()];
    let blocks = chain(40);
    let mut peers = two_peers(&dir, &ports, &blocks).await;
    let damaged = peers.pop().unwrap();
    stop(damaged).await;
    // While peer 1 is down: block 12 rots, and a crash leaves a zero-filled tail.
    flip_inside_block(&dir, 1, 12);
    std::fs::OpenOptions::new()
        .append(true)
        .open(blocks_file(&dir, 1))
        .unwrap()
        .write_all(&[0u8; 300])
        .unwrap();
    add_all(&peers[0], &chain(60), 40).await;

    let back = GossipService::start_builtin(config(1, free_port(), ports[0], &dir, true))
        .await
        .unwrap();
    back.join_channel(CH, join()).await.unwrap();
    let opened = back.block_stats(CH).unwrap();
    assert!(opened.height <= 12, "reopened at {}", opened.height);
    assert_eq!(
        opened.ledger_repairs,
        vec!["bad_checksum", "damaged_middle"]
    );
    wait_until(
        "the repaired peer catches up",
        Duration::from_secs(60),
        || back.ledger_height(CH) == Some(60),
    )
    .await;
    let metrics = back.metrics_text();
    assert!(
        metrics
            .contains("fabgossip_ledger_recoveries{channel=\"repair\",kind=\"damaged_middle\"} 1"),
        "{metrics}"
    );
    stop(back).await;
    stop(peers.pop().unwrap()).await;
    assert_eq!(digest(&dir, 0), digest(&dir, 1));
    assert_eq!(digest(&dir, 1).1, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_that_do_not_chain_are_refused_from_the_host_and_from_push() {
    let dir = tempdir("ledger-chain");
    let ports = [free_port(), free_port()];
    let blocks = chain(20);
    let mut peers = two_peers(&dir, &ports, &blocks).await;

    // From the host: refused at once, both hashes named.
    let tip = block_header_hash(&fabgossip::ledger::chain::block_header(&blocks[19]).unwrap());
    let forged = new_block(20, vec![0xEE; 32], vec![b"forged".to_vec()]).encode_to_vec();
    match peers[0].add_payload(CH, 20, forged).await {
        Err(ChannelCallError::InvalidBlock(why)) => {
            assert!(why.contains("block 20 does not chain"), "{why}");
            assert!(why.contains(&hex::encode([0xEE; 32])), "{why}");
            assert!(why.contains(&hex::encode(&tip)), "{why}");
        }
        other => panic!("unexpected {other:?}"),
    }

    // Block 21 arrives before 20, so nothing can check it yet: it is buffered and pushed.
    // When 20 commits, the ledgers refuse 21, drop it, and take the right one later.
    let more = chain(23);
    let forged21 = new_block(21, vec![0xDD; 32], vec![b"forged".to_vec()]).encode_to_vec();
    peers[0].add_payload(CH, 21, forged21).await.unwrap();
    wait_until(
        "peer 1 holds the forged block",
        Duration::from_secs(30),
        || peers[1].block_stats(CH).is_some_and(|s| s.buffered >= 1),
    )
    .await;
    add_all(&peers[0], &more[..21], 20).await;
    wait_until(
        "both ledgers refused the forged block",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.block_stats(CH).is_some_and(|s| s.state.broken_chain >= 1))
        },
    )
    .await;
    add_all(&peers[0], &more, 21).await;
    wait_until(
        "both peers hold 23 good blocks",
        Duration::from_secs(60),
        || peers.iter().all(|p| p.ledger_height(CH) == Some(23)),
    )
    .await;
    let metrics = peers[1].metrics_text();
    let refused: f64 = metrics
        .lines()
        .find(|l| l.contains("reason=\"broken_chain\"") && l.contains("channel=\"repair\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no broken_chain sample in\n{metrics}"));
    assert!(refused >= 1.0, "{refused}");
    while let Some(p) = peers.pop() {
        stop(p).await;
    }
    assert_eq!(digest(&dir, 0), digest(&dir, 1));
    let l = FileLedger::open(&peer_dir(&dir, 1), CH).unwrap();
    assert_eq!(l.get_blocks(0, 22).unwrap(), more);
}
