//! Anti-entropy state transfer between in-process peers over loopback gRPC: a peer that was
//! down while 2,000 blocks were produced catches up; a peer whose org fails the channel's
//! readers policy gets nothing (its requests are refused and counted); a source adding 200
//! blocks as fast as it can leaves no peer stuck behind.

mod support;
use support::{free_port, tempdir, wait_until};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fabgossip::channel::{AnchorPeer, JoinChannelMessage};
use fabgossip::config::Config;
use fabgossip::crypto::block::new_block;
use fabgossip::crypto::{CryptoContext, CryptoError, MessageCryptoService, SecurityAdvisor};
use fabgossip::ledger::{FileLedger, Ledger};
use fabgossip::node::builtin_crypto;
use fabgossip::node::{ChannelCallError, GossipService};
use fabgossip::types::PkiId;
use prost::Message;

const CH: &str = "xfer";

fn peer_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("p{i}"))
}

/// Peer `i` of `org`, state transfer on, fast timers; `boot` same-org bootstrap endpoints.
fn config(i: usize, org: &str, port: u16, boot: &[u16], dir: &Path, orgs: &str) -> Config {
    let boot: Vec<String> = boot.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: [{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    digestWaitTime: 100ms\n    requestWaitTime: 200ms\n    responseWaitTime: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    state:\n      enabled: true\n      responseTimeout: 2s\nfabgossip:\n  trustedOrgs: [{orgs}]\n  identitySeed: '{seed}'\n  ledgerFsync: false\n",
        dir = peer_dir(dir, i).display(),
        boot = boot.join(", "),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    Config::parse(&text).unwrap()
}

fn join(members: &[&str], anchors: Vec<AnchorPeer>) -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: 1,
        members: members.iter().map(|s| s.to_string()).collect(),
        anchor_peers: anchors,
        orderers: Vec::new(),
    }
}

/// Blocks 0..n chained by header hash, with `size` bytes of payload each.
fn chain(n: u64, size: usize) -> Vec<Vec<u8>> {
    let mut prev = Vec::new();
    (0..n)
        .map(|i| {
            let mut tx = format!("tx {i} ").into_bytes();
            tx.resize(size.max(tx.len()), b'x');
            let b = new_block(i, prev.clone(), vec![tx]);
            prev = fabgossip::crypto::block::block_header_hash(b.header.as_ref().unwrap());
            b.encode_to_vec()
        })
        .collect()
}

/// Adds `blocks[from..]` at `source` as fast as it takes them (a full buffer is retried).
async fn add_fast(source: &GossipService, blocks: &[Vec<u8>], from: usize) {
    for (seq, b) in blocks.iter().enumerate().skip(from) {
        loop {
            match source.add_payload(CH, seq as u64, b.clone()).await {
                Ok(()) => break,
                Err(ChannelCallError::TooFarAhead { .. }) => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                Err(e) => panic!("block {seq}: {e}"),
            }
        }
    }
}

fn read_ledger(dir: &Path, i: usize) -> ([u8; 32], u64) {
    let l = FileLedger::open(&peer_dir(dir, i), CH).unwrap();
    (l.digest().unwrap(), l.height())
}

async fn stop_all(peers: &[GossipService]) {
    for p in peers {
        p.stop().await;
    }
    // Commits run on blocking threads that hold the ledger for a moment after stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn at_height(peers: &[&GossipService], h: u64) -> bool {
    peers.iter().all(|p| p.ledger_height(CH) == Some(h))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_down_while_2000_blocks_were_produced_catches_up() {
    let dir = tempdir("xfer-down");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let j = join(&["Org1MSP"], Vec::new());
    let mut peers = Vec::new();
    for i in 0..3 {
        let boot = [ports[if i == 0 { 1 } else { 0 }]];
        let p =
            GossipService::start_builtin(config(i, "Org1MSP", ports[i], &boot, &dir, "Org1MSP"))
                .await
                .unwrap();
        p.join_channel(CH, j.clone()).await.unwrap();
        peers.push(p);
    }
    wait_until(
        "the peers see each other in the channel",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == 2))
        },
    )
    .await;
    let blocks = chain(2000, 256);
    // Peer 2 takes the first 100 blocks, then goes down.
    add_fast(&peers[0], &blocks[..100], 0).await;
    wait_until("peer 2 has 100 blocks", Duration::from_secs(60), || {
        peers[2].ledger_height(CH) == Some(100)
    })
    .await;
    let down = peers.pop().unwrap();
    down.stop().await;
    drop(down);
    tokio::time::sleep(Duration::from_millis(300)).await;
    add_fast(&peers[0], &blocks, 100).await;
    wait_until(
        "peers 0 and 1 have 2000 blocks",
        Duration::from_secs(120),
        || at_height(&[&peers[0], &peers[1]], 2000),
    )
    .await;
    // Back up (on a new port), from its ledger of 100 blocks.
    let back =
        GossipService::start_builtin(config(2, "Org1MSP", ports[3], &[ports[0]], &dir, "Org1MSP"))
            .await
            .unwrap();
    back.join_channel(CH, j.clone()).await.unwrap();
    assert_eq!(back.ledger_height(CH), Some(100));
    wait_until(
        "the restarted peer has 2000 blocks",
        Duration::from_secs(120),
        || back.ledger_height(CH) == Some(2000),
    )
    .await;
    let t = back.block_stats(CH).unwrap().transfer;
    assert!(t.blocks_received >= 1800, "{t:?}");
    assert!(t.requests_sent > 1 && t.rounds >= 1, "{t:?}");
    // Serving counters are published with the peers' periodic view refresh: poll them.
    let served = || -> u64 {
        peers
            .iter()
            .map(|p| p.block_stats(CH).unwrap().transfer.blocks_served)
            .sum()
    };
    wait_until(
        "the sources report serving what was received",
        Duration::from_secs(10),
        || served() >= t.blocks_received,
    )
    .await;
    peers.push(back);
    stop_all(&peers).await;
    let ledgers: Vec<_> = (0..3).map(|i| read_ledger(&dir, i)).collect();
    assert!(
        ledgers.iter().all(|l| *l == ledgers[0]),
        "ledgers differ: {ledgers:?}"
    );
    assert_eq!(ledgers[0].1, 2000);
}

/// The host's channel policy: the channel lists `OrgBadMSP` as a member org (so StateInfo
/// reaches it) but its readers policy, applied by `verify_by_channel`, excludes it.
struct ReadersExclude {
    inner: Arc<dyn MessageCryptoService>,
    advisor: Arc<dyn SecurityAdvisor>,
    excluded: String,
}

impl MessageCryptoService for ReadersExclude {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        self.inner.pki_id_of(identity)
    }
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        self.inner.verify_block(channel, seq, block)
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.sign(msg)
    }
    fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        self.inner.verify(identity, signature, msg)
    }
    fn verify_by_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        if self.advisor.org_by_peer_identity(identity).as_deref() == Some(self.excluded.as_str()) {
            return Err(CryptoError::NotInChannel(channel.to_string()));
        }
        self.inner.verify(identity, signature, msg)
    }
    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        self.inner.validate_identity(identity)
    }
    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        self.inner.expiration(identity)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_org_fails_the_channel_policy_gets_nothing() {
    let dir = tempdir("xfer-acl");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let orgs = "Org1MSP, OrgBadMSP";
    let anchors = vec![
        AnchorPeer {
            host: "127.0.0.1".into(),
            port: ports[0],
            org: "Org1MSP".into(),
        },
        AnchorPeer {
            host: "127.0.0.1".into(),
            port: ports[2],
            org: "OrgBadMSP".into(),
        },
    ];
    let j = join(&["Org1MSP", "OrgBadMSP"], anchors);
    let mut members = Vec::new();
    for i in 0..2 {
        let cfg = config(i, "Org1MSP", ports[i], &[ports[1 - i]], &dir, orgs);
        let (_, ctx) = builtin_crypto(&cfg).unwrap();
        let mcs = Arc::new(ReadersExclude {
            inner: ctx.mcs.clone(),
            advisor: ctx.advisor.clone(),
            excluded: "OrgBadMSP".into(),
        });
        let ctx = CryptoContext::new(mcs, ctx.advisor.clone(), ctx.self_identity.clone()).unwrap();
        let p = GossipService::start(cfg, ctx).await.unwrap();
        p.join_channel(CH, j.clone()).await.unwrap();
        members.push(p);
    }
    let outsider = GossipService::start_builtin(config(2, "OrgBadMSP", ports[2], &[], &dir, orgs))
        .await
        .unwrap();
    outsider.join_channel(CH, j.clone()).await.unwrap();
    let blocks = chain(30, 64);
    add_fast(&members[0], &blocks, 0).await;
    wait_until(
        "both members have the blocks",
        Duration::from_secs(60),
        || at_height(&[&members[0], &members[1]], 30),
    )
    .await;
    // The outsider learns the height from the members' StateInfo and asks for the blocks.
    wait_until(
        "the outsider sees the members' height",
        Duration::from_secs(30),
        || {
            outsider
                .peers_of_channel(CH)
                .is_some_and(|v| v.iter().any(|p| p.ledger_height == 30))
        },
    )
    .await;
    wait_until(
        "the members refuse its requests",
        Duration::from_secs(30),
        || {
            members
                .iter()
                .map(|p| p.block_stats(CH).unwrap().transfer.refused_requests)
                .sum::<u64>()
                >= 2
        },
    )
    .await;
    let t = outsider.block_stats(CH).unwrap().transfer;
    assert!(t.requests_sent >= 2, "{t:?}");
    assert_eq!(t.blocks_received, 0, "{t:?}");
    assert_eq!(outsider.ledger_height(CH), Some(0));
    // Refused requests get no answer at all (members may still serve each other).
    assert_eq!(t.responses, 0, "{t:?}");
    members.push(outsider);
    stop_all(&members).await;
    assert_eq!(read_ledger(&dir, 2).1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_source_of_200_blocks_leaves_no_peer_behind() {
    let dir = tempdir("xfer-fast");
    let n = 6;
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let j = join(&["Org1MSP"], Vec::new());
    let mut peers = Vec::new();
    for i in 0..n {
        let boot = [ports[if i == 0 { 1 } else { 0 }]];
        let p =
            GossipService::start_builtin(config(i, "Org1MSP", ports[i], &boot, &dir, "Org1MSP"))
                .await
                .unwrap();
        p.join_channel(CH, j.clone()).await.unwrap();
        peers.push(p);
    }
    wait_until(
        "the peers see each other in the channel",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == n - 1))
        },
    )
    .await;
    let blocks = chain(200, 1024);
    add_fast(&peers[0], &blocks, 0).await;
    let refs: Vec<&GossipService> = peers.iter().collect();
    wait_until(
        "every peer has the 200 blocks",
        Duration::from_secs(90),
        || at_height(&refs, 200),
    )
    .await;
    stop_all(&peers).await;
    let ledgers: Vec<_> = (0..n).map(|i| read_ledger(&dir, i)).collect();
    assert!(
        ledgers.iter().all(|l| *l == ledgers[0]),
        "ledgers differ: {ledgers:?}"
    );
}
