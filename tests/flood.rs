//! No peer can starve a node: one authenticated member floods a node (the victim) with valid,
//! signed alive messages of its own identity over one connection while blocks flow through the
//! channel, and the victim commits every block all the same; the flood is counted, throttled
//! and, past the limit, disconnected. A peer comm cannot reach is dead at once.

mod comm_support;
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use comm_support::{raw_client, raw_stream, TestPeer};
use ed25519_dalek::Signer;
use fabgossip::channel::JoinChannelMessage;
use fabgossip::config::Config;
use fabgossip::crypto::block::new_block;
use fabgossip::node::GossipService;
use fabgossip::proto::gossip::{gossip_message, AliveMessage, GossipMessage, Member, PeerTime};
use prost::Message;
use support::{free_port, tempdir, wait_for, wait_until};

const CH: &str = "flood";

/// Peer `i` of Org1 bootstrapping from peer 0 (peer 0 from peer 1), fast timers; `extra` is
/// added to the `fabgossip` section.
async fn start(
    i: usize,
    ports: &[u16],
    dir: &std::path::Path,
    expiration: &str,
    extra: &str,
) -> GossipService {
    let port = ports[i];
    let boot = ports[if i == 0 { 1 } else { 0 }];
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: 127.0.0.1:{boot}\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: {expiration}\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\nfabgossip:\n  trustedOrgs: [Org1MSP]\n  identitySeed: '{seed}'\n{extra}",
        dir = dir.join(format!("p{i}")).display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    GossipService::start_builtin(Config::parse(&text).unwrap())
        .await
        .unwrap()
}

async fn network(
    dir: &std::path::Path,
    expiration: &str,
    victim_extra: &str,
) -> Vec<GossipService> {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..3 {
        let extra = if i == 1 { victim_extra } else { "" };
        peers.push(start(i, &ports, dir, expiration, extra).await);
    }
    let join = JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into()],
        anchor_peers: Vec::new(),
        orderers: Vec::new(),
    };
    for p in &peers {
        p.join_channel(CH, join.clone()).await.unwrap();
    }
    wait_until(
        "every peer sees the others in the channel",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == 2))
        },
    )
    .await;
    peers
}

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

/// What the flooder did.
#[derive(Default)]
struct FloodStats {
    sent: AtomicU64,
    connections: AtomicU64,
}

/// One member sending its own alive messages, each newer than the last and signed, as fast as
/// the stream takes them; it reconnects whenever the victim closes the stream, until `stop`.
fn flood(
    victim: String,
    stop: Arc<AtomicBool>,
    stats: Arc<FloodStats>,
) -> tokio::task::JoinHandle<()> {
    let me = TestPeer::new("Org1MSP");
    let inc_num = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    tokio::spawn(async move {
        let mut seq_num = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut client = raw_client(&victim, None).await;
            let s = raw_stream(&mut client).await;
            let (tx, mut rx) = (s.tx, s.rx);
            // Drain what the victim sends, so its stream to us never stalls.
            tokio::spawn(async move { while let Ok(Some(_)) = rx.message().await {} });
            if tx
                .send(me.conn_establish(vec![], false, |_| {}))
                .await
                .is_err()
            {
                continue;
            }
            stats.connections.fetch_add(1, Ordering::Relaxed);
            // Signing is the flooder's bottleneck: sign on a blocking thread, in batches.
            while !stop.load(Ordering::Relaxed) {
                let (key, pki, from) = (me.key.clone(), me.pki_id.clone(), seq_num);
                let batch = tokio::task::spawn_blocking(move || {
                    (from..from + 256)
                        .map(|seq| {
                            let msg = GossipMessage {
                                nonce: 0,
                                channel: vec![],
                                tag: gossip_message::Tag::Empty as i32,
                                content: Some(gossip_message::Content::AliveMsg(AliveMessage {
                                    membership: Some(Member {
                                        endpoint: "127.0.0.1:1".into(),
                                        metadata: vec![],
                                        pki_id: pki.0.clone(),
                                    }),
                                    timestamp: Some(PeerTime {
                                        inc_num,
                                        seq_num: seq,
                                    }),
                                    identity: vec![],
                                })),
                            };
                            let payload = msg.encode_to_vec();
                            let signature = key.sign(&payload).to_bytes().to_vec();
                            fabgossip::proto::gossip::Envelope {
                                payload: payload.into(),
                                signature,
                                secret_envelope: None,
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap();
                seq_num += 256;
                let mut closed = false;
                for env in batch {
                    if tx.send(env).await.is_err() {
                        closed = true;
                        break;
                    }
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                if closed {
                    break;
                }
            }
        }
    })
}

/// The victim commits every block while the flood runs; returns the victim's comm counters.
async fn commits_through_a_flood(victim_extra: &str) -> fabgossip::comm::CommMetricsSnapshot {
    let dir = tempdir("flood");
    let peers = network(&dir, "2s", victim_extra).await;
    let victim = peers[1].local_addr().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(FloodStats::default());
    let flooder = flood(victim, stop.clone(), stats.clone());
    wait_until("the flood is under way", Duration::from_secs(30), || {
        stats.sent.load(Ordering::Relaxed) > 5_000
    })
    .await;

    // The source adds blocks at its own pace, 20 a second, while the flood goes on.
    let sent_before = stats.sent.load(Ordering::Relaxed);
    let blocks = chain(40);
    for (seq, b) in blocks.iter().enumerate() {
        peers[0]
            .add_payload(CH, seq as u64, b.clone())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = wait_for(Duration::from_secs(60), || {
        peers.iter().all(|p| p.ledger_height(CH) == Some(40))
    })
    .await;
    let sent_during = stats.sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let m = peers[1].comm_metrics();
    if !all {
        for (i, p) in peers.iter().enumerate() {
            eprintln!("peer {i}: height {:?}", p.ledger_height(CH));
        }
        panic!(
            "blocks did not commit through the flood: {m:?}, flooder sent {sent_during}, connections {}",
            stats.connections.load(Ordering::Relaxed)
        );
    }
    assert!(
        sent_during > sent_before || stats.connections.load(Ordering::Relaxed) > 1,
        "the flood ran while the blocks committed"
    );
    eprintln!(
        "flooder sent {sent_during} alive messages over {} connections; victim: {m:?}",
        stats.connections.load(Ordering::Relaxed)
    );
    let _ = tokio::time::timeout(Duration::from_secs(10), flooder).await;
    for p in &peers {
        p.stop().await;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlimited_flood_cannot_starve_commits() {
    // No rate limit and no disconnect: only the owner's fair turns and the connection's
    // receive buffer stand between the flood and the blocks.
    let m = commits_through_a_flood("  recvRateLimit: 0\n  floodDisconnectDrops: 0\n").await;
    assert_eq!(m.recv_rate_exceeded, 0, "{m:?}");
    assert_eq!(m.flood_disconnects, 0, "{m:?}");
    assert!(m.messages_received > 5_000, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_throttled_counted_and_disconnected() {
    let m = commits_through_a_flood("  recvRateLimit: 500\n  floodDisconnectDrops: 1000\n").await;
    assert!(m.recv_rate_exceeded > 1000, "{m:?}");
    assert!(m.flood_disconnects >= 1, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_cannot_be_dialed_is_dead_at_once() {
    use fabgossip::node::PeerState;
    let dir = tempdir("flood-dead");
    // Alive messages expire after a minute: a peer dead sooner was presumed dead by comm.
    let peers = network(&dir, "60s", "").await;
    let killed = peers[2].self_info().pki_id;
    let state_at = |p: &GossipService| {
        p.peers()
            .into_iter()
            .find(|m| m.pki_id == killed)
            .map(|m| m.state)
    };
    assert_eq!(state_at(&peers[0]), Some(PeerState::Alive));
    assert_eq!(state_at(&peers[1]), Some(PeerState::Alive));
    let t0 = std::time::Instant::now();
    peers[2].stop().await;
    // The stream closing is only a disconnect; the next alive sent to peer 2 dials it, the
    // dial fails, and membership declares it dead.
    wait_until(
        "peer 2 is dead at the others",
        Duration::from_secs(30),
        || {
            state_at(&peers[0]) == Some(PeerState::Dead)
                && state_at(&peers[1]) == Some(PeerState::Dead)
        },
    )
    .await;
    let took = t0.elapsed();
    eprintln!("peer 2 presumed dead after {took:?}");
    assert!(took < Duration::from_secs(60), "not by expiry");
    for p in &peers[..2] {
        let m = p.comm_metrics();
        assert!(m.presumed_dead >= 1, "{m:?}");
        p.stop().await;
    }
}
