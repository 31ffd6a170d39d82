//! Channels across many `GossipService`s in one process over loopback gRPC: peers of a
//! channel see each other with their heights, updates spread, leaving is seen, and StateInfo
//! and blocks of a channel never reach peers outside it.

mod support;
use support::{free_port, tempdir, wait_until};

use std::time::Duration;

use fabgossip::channel::{AnchorPeer, JoinChannelMessage};
use fabgossip::config::Config;
use fabgossip::crypto::block::{block_header_hash, new_block};
use fabgossip::node::{ChaincodeInfo, ChannelCallError, ChannelPeerInfo, GossipService};
use prost::Message;

/// Peer `i` of `org`, bootstrapping from `boot`, with fast membership and StateInfo timers.
async fn start(
    i: usize,
    org: &str,
    boot: &[u16],
    ports: &[u16],
    dir: &std::path::Path,
) -> GossipService {
    let port = ports[i];
    let boot: Vec<String> = boot.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: [{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 1500ms\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\nfabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP]\n  identitySeed: '{seed}'\n",
        dir = dir.join(format!("p{i}")).display(),
        boot = boot.join(", "),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    let cfg = Config::parse(&text).unwrap();
    GossipService::start_builtin(cfg).await.unwrap()
}

fn join_msg(orgs: &[&str]) -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: 1,
        members: orgs.iter().map(|o| o.to_string()).collect(),
        anchor_peers: Vec::new(),
        orderers: Vec::new(),
    }
}

fn ids(peers: &[ChannelPeerInfo]) -> Vec<String> {
    let mut v: Vec<String> = peers.iter().map(|p| p.pki_id.clone()).collect();
    v.sort();
    v
}

/// The PKI-IDs of `peers` other than `me`, sorted.
fn others(peers: &[GossipService], me: usize) -> Vec<String> {
    let mut v: Vec<String> = peers
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != me)
        .map(|(_, p)| p.self_info().pki_id)
        .collect();
    v.sort();
    v
}

fn height_of(p: &GossipService, ch: &str, pki_id: &str) -> Option<u64> {
    p.peers_of_channel(ch)?
        .into_iter()
        .find(|c| c.pki_id == pki_id)
        .map(|c| c.ledger_height)
}

async fn five_peers_in(ch: &str, dir: &std::path::Path) -> Vec<GossipService> {
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..5 {
        let boot = if i == 0 { ports[1] } else { ports[0] };
        peers.push(start(i, "Org1MSP", &[boot], &ports, dir).await);
    }
    for p in &peers {
        p.join_channel(ch, join_msg(&["Org1MSP"])).await.unwrap();
    }
    wait_until(
        "all five peers see each other in the channel",
        Duration::from_secs(20),
        || {
            peers.iter().enumerate().all(|(i, p)| {
                p.peers_of_channel(ch)
                    .is_some_and(|v| ids(&v) == others(&peers, i))
            })
        },
    )
    .await;
    peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_peers_see_each_other_and_height_and_chaincode_updates_spread() {
    let dir = tempdir("channels");
    let peers = five_peers_in("ch", &dir).await;
    // Every peer starts at height 1 (the genesis block), as Fabric's peers do.
    for p in &peers {
        for c in p.peers_of_channel("ch").unwrap() {
            assert_eq!(c.ledger_height, 1);
            assert!(!c.left_channel);
            assert_eq!(c.org, "Org1MSP");
            assert!(!c.endpoint.is_empty());
        }
    }
    let id2 = peers[2].self_info().pki_id;
    peers[2].update_ledger_height("ch", 7).await.unwrap();
    wait_until(
        "the new height of peer 2 is seen everywhere",
        Duration::from_secs(10),
        || {
            peers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 2)
                .all(|(_, p)| height_of(p, "ch", &id2) == Some(7))
        },
    )
    .await;

    let cc = vec![ChaincodeInfo {
        name: "mycc".into(),
        version: "1.0".into(),
    }];
    peers[3].update_chaincodes("ch", &cc).await.unwrap();
    let id3 = peers[3].self_info().pki_id;
    wait_until(
        "the chaincodes of peer 3 are seen everywhere",
        Duration::from_secs(10),
        || {
            peers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 3)
                .all(|(_, p)| {
                    p.peers_of_channel("ch")
                        .unwrap()
                        .iter()
                        .any(|c| c.pki_id == id3 && c.chaincodes == cc)
                })
        },
    )
    .await;

    // Calls on a channel never joined are refused; queries say "not joined".
    assert!(matches!(
        peers[0].update_ledger_height("nope", 1).await,
        Err(ChannelCallError::Channel(_))
    ));
    assert_eq!(peers[0].peers_of_channel("nope"), None);
    // A join message that leaves our org out is refused.
    assert!(peers[0]
        .join_channel("other", join_msg(&["Org2MSP"]))
        .await
        .is_err());
    assert_eq!(peers[0].peers_of_channel("other"), None);
    for p in &peers {
        p.stop().await;
    }
    assert_eq!(
        peers[0].update_ledger_height("ch", 9).await,
        Err(ChannelCallError::Stopped)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_leaves_sees_nothing_and_the_others_drop_it() {
    let dir = tempdir("channels");
    let peers = five_peers_in("ch", &dir).await;
    let leaver = peers[4].self_info().pki_id;
    peers[4].leave_channel("ch").await.unwrap();
    assert_eq!(peers[4].peers_of_channel("ch"), Some(Vec::new()));
    wait_until(
        "the others no longer list the leaver",
        Duration::from_secs(10),
        || {
            peers[..4].iter().all(|p| {
                p.peers_of_channel("ch")
                    .is_some_and(|v| v.len() == 3 && v.iter().all(|c| c.pki_id != leaver))
            })
        },
    )
    .await;
    // It stays gone, and the leaver keeps seeing nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for p in &peers[..4] {
        assert!(p
            .peers_of_channel("ch")
            .unwrap()
            .iter()
            .all(|c| c.pki_id != leaver));
    }
    assert_eq!(peers[4].peers_of_channel("ch"), Some(Vec::new()));
    // A left channel takes no more updates.
    assert!(peers[4].update_ledger_height("ch", 3).await.is_err());
    for p in &peers {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_info_of_a_channel_never_reaches_peers_outside_it() {
    let dir = tempdir("channels");
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    // Bootstrap stays within each org; the orgs meet through the anchor peers of the shared
    // channel "ab" (0 for org1, 3 for org2). Then org1 peers join "a", org2 peers "b".
    let mut peers = Vec::new();
    for i in 0..6 {
        let org = if i < 3 { "Org1MSP" } else { "Org2MSP" };
        let boot = match i {
            0 => ports[1],
            3 => ports[4],
            _ if i < 3 => ports[0],
            _ => ports[3],
        };
        peers.push(start(i, org, &[boot], &ports, &dir).await);
    }
    let anchor = |org: &str, i: usize| AnchorPeer {
        org: org.into(),
        host: "127.0.0.1".into(),
        port: ports[i],
    };
    for p in &peers {
        let msg = JoinChannelMessage {
            anchor_peers: vec![anchor("Org1MSP", 0), anchor("Org2MSP", 3)],
            ..join_msg(&["Org1MSP", "Org2MSP"])
        };
        p.join_channel("ab", msg).await.unwrap();
    }
    wait_until(
        "one membership of six peers through the anchors",
        Duration::from_secs(20),
        || peers.iter().all(|p| p.peers().len() == 5),
    )
    .await;
    // Peers join "ab" one after another, so an early StateInfo of "ab" may reach a peer of
    // the other org before its own join and be counted as of an unknown channel: only what
    // arrives from here on is checked.
    let baseline: Vec<_> = peers.iter().map(|p| p.channel_counters()).collect();
    for (i, p) in peers.iter().enumerate() {
        let (ch, org) = if i < 3 {
            ("a", "Org1MSP")
        } else {
            ("b", "Org2MSP")
        };
        p.join_channel(ch, join_msg(&[org])).await.unwrap();
    }
    wait_until(
        "each channel's peers see each other",
        Duration::from_secs(20),
        || {
            peers.iter().enumerate().all(|(i, p)| {
                let ch = if i < 3 { "a" } else { "b" };
                p.peers_of_channel(ch).is_some_and(|v| v.len() == 2)
                    && p.peers_of_channel("ab").is_some_and(|v| v.len() == 5)
            })
        },
    )
    .await;
    // Give the StateInfo push, forward and pull rounds time to leak.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, p) in peers.iter().enumerate() {
        let (mine, other) = if i < 3 { ("a", "b") } else { ("b", "a") };
        assert_eq!(p.peers_of_channel(other), None);
        let v = p.peers_of_channel(mine).unwrap();
        assert!(v.iter().all(|c| c.org == p.self_info().org), "{v:?}");
        let c = p.channel_counters();
        assert!(c.state_info_accepted > 0, "peer {i}: {c:?}");
        // A StateInfo of a channel we have not joined, from another org (same-org ones may
        // arrive before our own join and are kept, as in Fabric).
        let b = &baseline[i];
        assert_eq!(
            c.state_info_unknown_channel, b.state_info_unknown_channel,
            "peer {i}: {c:?}"
        );
        assert_eq!(
            c.snapshot_unknown_channel, b.snapshot_unknown_channel,
            "peer {i}: {c:?}"
        );
        assert_eq!(
            c.pull_req_unknown_channel, b.pull_req_unknown_channel,
            "peer {i}: {c:?}"
        );
        assert_eq!(c.sender_not_in_channel, 0, "peer {i}: {c:?}");
    }

    // Blocks of "a" reach org1's peers and never org2's, by push or by pull.
    let mut prev = Vec::new();
    for seq in 0..3u64 {
        let b = new_block(seq, prev.clone(), vec![b"tx".to_vec()]);
        prev = block_header_hash(b.header.as_ref().unwrap());
        peers[0]
            .add_payload("a", seq, b.encode_to_vec())
            .await
            .unwrap();
    }
    wait_until(
        "org1's peers committed the blocks of a",
        Duration::from_secs(20),
        || peers[..3].iter().all(|p| p.ledger_height("a") == Some(3)),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (i, p) in peers.iter().enumerate().skip(3) {
        assert_eq!(p.ledger_height("a"), None);
        assert_eq!(p.ledger_height("b"), Some(0));
        let stray = p
            .node_counters()
            .block_unknown_channel
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(stray, 0, "peer {i} received blocks or block pulls of a");
    }
    for p in &peers {
        p.stop().await;
    }
}
