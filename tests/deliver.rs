//! The orderer delivery service against the test orderer (`examples/orderer/server.rs`, run
//! in-process): a static leader pulls the chain and its org gets it by gossip; orderer down
//! at start, restarted mid-stream, sending a block that fails verification, signing with an
//! untrusted key; two orderers with one dead; fail-over mid-stream; TLS; unreachability
//! report; leave stops the stream.

#[path = "../examples/orderer/server.rs"]
mod orderer;
mod support;

use support::{free_port, tempdir, wait_for, wait_until};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use fabgossip::channel::{JoinChannelMessage, OrdererEndpoint};
use fabgossip::config::Config;
use fabgossip::deliver::ClientTlsIdentity;
use fabgossip::ledger::{FileLedger, Ledger};
use fabgossip::node::GossipService;
use orderer::{ChainOptions, ServerHandle, TestOrderer, TlsMaterial};

const CH: &str = "deliverch";
const LONG: Duration = Duration::from_secs(60);

fn peer_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("p{i}"))
}

fn test_orderer(seed: u8, blocks: u64) -> TestOrderer {
    let o = TestOrderer::new(ChainOptions {
        channel: CH.into(),
        seed: [seed; 32],
        block_size: 64,
    });
    o.cut(blocks);
    o
}

async fn serve(o: &TestOrderer, port: u16) -> ServerHandle {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    o.serve(addr, None).await.unwrap()
}

fn endpoint(port: u16, key: [u8; 32]) -> OrdererEndpoint {
    OrdererEndpoint {
        endpoint: format!("127.0.0.1:{port}"),
        tls_root_cert: None,
        public_key: Some(key),
    }
}

/// Peer `i` of Org1 bootstrapping from peer 0; only static leaders pull from the orderer.
async fn start(i: usize, ports: &[u16], dir: &Path, leader: bool, delivery: &str) -> GossipService {
    let port = ports[i];
    // A lone peer has no one to bootstrap from.
    let boot = match ports.len() {
        1 => String::new(),
        _ => format!("127.0.0.1:{}", ports[if i == 0 { 1 } else { 0 }]),
    };
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  deliveryclient:\n    minimalReconnectInterval: 50ms\n    reConnectBackoffThreshold: 400ms\n    connTimeout: 1s\n{delivery}  gossip:\n    bootstrap: '{boot}'\n    externalEndpoint: '127.0.0.1:{port}'\n    orgLeader: {leader}\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    digestWaitTime: 100ms\n    requestWaitTime: 200ms\n    responseWaitTime: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\nfabgossip:\n  trustedOrgs: [Org1MSP]\n  identitySeed: '{seed}'\n",
        dir = peer_dir(dir, i).display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    GossipService::start_builtin(Config::parse(&text).unwrap())
        .await
        .unwrap()
}

fn join(orderers: Vec<OrdererEndpoint>) -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into()],
        anchor_peers: Vec::new(),
        orderers,
    }
}

/// A single static-leader peer that joined the channel with `orderers`.
async fn leader(dir: &Path, orderers: Vec<OrdererEndpoint>, delivery: &str) -> GossipService {
    let p = start(0, &[free_port()], dir, true, delivery).await;
    p.join_channel(CH, join(orderers)).await.unwrap();
    p
}

/// Stops the peers and reads each ledger back from its files: (blocks, height).
async fn stop_and_read(peers: Vec<GossipService>, dir: &Path) -> Vec<(Vec<Vec<u8>>, u64)> {
    for p in &peers {
        p.stop().await;
    }
    let n = peers.len();
    drop(peers);
    // Commits run on blocking threads that hold the ledger for a moment after stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (0..n)
        .map(|i| {
            let l = FileLedger::open(&peer_dir(dir, i), CH).unwrap();
            let h = l.height();
            let blocks = if h == 0 {
                Vec::new()
            } else {
                l.get_blocks(0, h - 1).unwrap()
            };
            (blocks, h)
        })
        .collect()
}

fn height_is(p: &GossipService, h: u64) -> bool {
    p.ledger_height(CH) == Some(h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_leader_pulls_and_the_org_gets_every_block_by_gossip() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 40);
    let oport = free_port();
    let server = serve(&o, oport).await;
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..4 {
        peers.push(start(i, &ports, &dir, i == 0, "").await);
    }
    for p in &peers {
        p.join_channel(CH, join(vec![endpoint(oport, o.public_key())]))
            .await
            .unwrap();
    }
    let done = wait_for(LONG, || peers.iter().all(|p| height_is(p, 40))).await;
    if !done {
        for (i, p) in peers.iter().enumerate() {
            eprintln!(
                "peer {i}: {:?} {:?}",
                p.block_stats(CH),
                p.delivery_stats(CH)
            );
        }
        panic!("timed out waiting until every peer committed 40 blocks");
    }
    let s = peers[0].delivery_stats(CH).expect("the leader delivers");
    assert_eq!(s.blocks_received, 40, "{s:?}");
    assert_eq!(s.blocks_rejected, 0, "{s:?}");
    assert_eq!(s.endpoint, format!("127.0.0.1:{oport}"));
    assert!(s.connected, "{s:?}");
    assert_eq!(s.next_block, 40);
    for p in &peers[1..] {
        assert!(p.delivery_stats(CH).is_none(), "only the leader delivers");
        let b = p.block_stats(CH).unwrap();
        assert!(b.blocks.pushed_in + b.blocks.pulled_in >= 40, "{b:?}");
    }
    // One peer pulled from the orderer, once, from the start.
    assert_eq!(o.counters().sessions.load(Ordering::SeqCst), 1);
    assert_eq!(*o.counters().seeks.lock().unwrap(), vec![0]);
    // More blocks cut later flow through the open stream.
    o.cut(10);
    wait_until("every peer committed 50 blocks", LONG, || {
        peers.iter().all(|p| height_is(p, 50))
    })
    .await;
    assert_eq!(peers[0].block_stats(CH).unwrap().state.committed, 50);
    server.stop().await;
    let ledgers = stop_and_read(peers, &dir).await;
    let chain = o.encoded_blocks();
    for (i, (blocks, h)) in ledgers.iter().enumerate() {
        assert_eq!(*h, 50, "peer {i}");
        assert!(*blocks == chain, "peer {i}'s ledger differs from the chain");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderer_down_at_start_then_started() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 15);
    let oport = free_port();
    let p = leader(&dir, vec![endpoint(oport, o.public_key())], "").await;
    wait_until("the client retried a few times", LONG, || {
        p.delivery_stats(CH).is_some_and(|s| s.reconnects >= 3)
    })
    .await;
    let s = p.delivery_stats(CH).unwrap();
    assert!(!s.connected && s.blocks_received == 0, "{s:?}");
    assert_eq!(p.ledger_height(CH), Some(0));
    let server = serve(&o, oport).await;
    wait_until("the peer committed the chain", LONG, || height_is(&p, 15)).await;
    assert!(p.delivery_stats(CH).unwrap().connected);
    server.stop().await;
    let l = stop_and_read(vec![p], &dir).await;
    assert!(l[0].0 == o.encoded_blocks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderer_restarted_mid_stream_resumes_from_the_height_without_gap_or_duplicate() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 80);
    o.set_delay(Duration::from_millis(15));
    let oport = free_port();
    let server = serve(&o, oport).await;
    let p = leader(&dir, vec![endpoint(oport, o.public_key())], "").await;
    wait_until("the peer committed 20 blocks", LONG, || {
        p.ledger_height(CH).is_some_and(|h| h >= 20)
    })
    .await;
    server.stop().await;
    let at_stop = p.ledger_height(CH).unwrap();
    assert!(at_stop < 80, "the orderer was stopped mid-stream");
    wait_until("the client noticed", LONG, || {
        p.delivery_stats(CH).is_some_and(|s| s.reconnects >= 1)
    })
    .await;
    o.set_delay(Duration::ZERO);
    let server = serve(&o, oport).await;
    wait_until("the peer committed the whole chain", LONG, || {
        height_is(&p, 80)
    })
    .await;
    let seeks = o.counters().seeks.lock().unwrap().clone();
    assert_eq!(seeks[0], 0);
    // The reconnection asked from the committed height, not from the start.
    let last = *seeks.last().unwrap();
    assert!(
        seeks.len() >= 2 && last >= at_stop,
        "seeks {seeks:?}, height at stop {at_stop}"
    );
    let b = p.block_stats(CH).unwrap();
    assert_eq!(b.state.committed, 80, "each block committed once: {b:?}");
    server.stop().await;
    let l = stop_and_read(vec![p], &dir).await;
    assert_eq!(l[0].1, 80);
    assert!(l[0].0 == o.encoded_blocks(), "no gap, no duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_failing_verification_is_dropped_counted_and_the_client_reconnects() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 12);
    // Block 0, the first sent, arrives tampered with.
    o.corrupt_next_block();
    let oport = free_port();
    let server = serve(&o, oport).await;
    let p = leader(&dir, vec![endpoint(oport, o.public_key())], "").await;
    wait_until("the peer committed the chain", LONG, || height_is(&p, 12)).await;
    let s = p.delivery_stats(CH).unwrap();
    assert_eq!(s.blocks_rejected, 1, "{s:?}");
    assert!(s.reconnects >= 1, "{s:?}");
    assert_eq!(s.blocks_received, 12, "{s:?}");
    assert!(o.counters().sessions.load(Ordering::SeqCst) >= 2);
    // The bad block never reached the state provider.
    let b = p.block_stats(CH).unwrap();
    assert_eq!(b.blocks.invalid, 0, "{b:?}");
    assert_eq!(b.state.committed, 12);
    server.stop().await;
    let l = stop_and_read(vec![p], &dir).await;
    assert!(l[0].0 == o.encoded_blocks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_signed_by_an_untrusted_orderer_key_are_never_committed() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 5);
    let oport = free_port();
    let server = serve(&o, oport).await;
    // The channel trusts another orderer key.
    let other = test_orderer(8, 0).public_key();
    let p = leader(&dir, vec![endpoint(oport, other)], "").await;
    wait_until("several blocks were rejected", LONG, || {
        p.delivery_stats(CH).is_some_and(|s| s.blocks_rejected >= 3)
    })
    .await;
    let s = p.delivery_stats(CH).unwrap();
    assert_eq!(s.blocks_received, 0, "{s:?}");
    assert!(s.reconnects >= 3, "{s:?}");
    assert_eq!(p.ledger_height(CH), Some(0));
    server.stop().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orderers_one_dead_fails_over_to_the_live_one() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 20);
    let dead = free_port();
    let live = free_port();
    let server = serve(&o, live).await;
    let p = leader(
        &dir,
        vec![
            endpoint(dead, o.public_key()),
            endpoint(live, o.public_key()),
        ],
        "",
    )
    .await;
    wait_until("the peer committed the chain", LONG, || height_is(&p, 20)).await;
    let s = p.delivery_stats(CH).unwrap();
    assert_eq!(s.endpoint, format!("127.0.0.1:{live}"), "{s:?}");
    assert!(s.connected);
    server.stop().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_orderer_dying_mid_stream_fails_over_to_the_other() {
    let dir = tempdir("deliver");
    // Two orderers of one ordering service: the same chain (signed by each with its own
    // nonce), both keys trusted.
    let a = test_orderer(7, 60);
    let b = test_orderer(9, 60);
    a.set_delay(Duration::from_millis(15));
    b.set_delay(Duration::from_millis(15));
    let (pa, pb) = (free_port(), free_port());
    let sa = serve(&a, pa).await;
    let sb = serve(&b, pb).await;
    let p = leader(
        &dir,
        vec![endpoint(pa, a.public_key()), endpoint(pb, b.public_key())],
        "",
    )
    .await;
    wait_until("10 blocks committed", LONG, || {
        p.ledger_height(CH).is_some_and(|h| h >= 10)
    })
    .await;
    let first = p.delivery_stats(CH).unwrap().endpoint;
    let (killed, survivor) = if first.ends_with(&format!(":{pa}")) {
        sa.stop().await;
        (pa, sb)
    } else {
        sb.stop().await;
        (pb, sa)
    };
    wait_until("the whole chain committed", LONG, || height_is(&p, 60)).await;
    let s = p.delivery_stats(CH).unwrap();
    assert!(!s.endpoint.ends_with(&format!(":{killed}")), "{s:?}");
    assert!(s.reconnects >= 1 && s.blocks_rejected == 0, "{s:?}");
    assert_eq!(p.block_stats(CH).unwrap().state.committed, 60);
    survivor.stop().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_orderer_with_its_root_certificate() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 10);
    let tls = TlsMaterial::generate().unwrap();
    let oport = free_port();
    let server = o
        .serve(format!("127.0.0.1:{oport}").parse().unwrap(), Some(&tls))
        .await
        .unwrap();
    let mut ep = endpoint(oport, o.public_key());
    ep.tls_root_cert = Some(tls.ca_pem.clone());
    let p = leader(&dir, vec![ep], "").await;
    wait_until("the peer committed the chain over TLS", LONG, || {
        height_is(&p, 10)
    })
    .await;
    p.stop().await;
    // Without the root certificate, a plain client gets nothing from a TLS orderer.
    let dir2 = tempdir("deliver");
    let p2 = leader(&dir2, vec![endpoint(oport, o.public_key())], "").await;
    wait_until("the plain client failed a few times", LONG, || {
        p2.delivery_stats(CH).is_some_and(|s| s.reconnects >= 2)
    })
    .await;
    assert_eq!(p2.ledger_height(CH), Some(0));
    server.stop().await;
    p2.stop().await;
}

/// An orderer that requires a client certificate (mutual TLS): the peer presents
/// `peer.tls.clientCert.file` and binds its seek requests to it (the channel header's
/// `tls_cert_hash`, which the test orderer checks as Fabric's does); without a certificate
/// the orderer refuses the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_orderer_gets_the_client_certificate() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 10);
    // The peer's client certificate, signed by a CA the orderer trusts for clients.
    let client = TlsMaterial::generate().unwrap();
    let mut tls = TlsMaterial::generate().unwrap();
    tls.client_ca_pem = Some(client.ca_pem.clone());
    let oport = free_port();
    let server = o
        .serve(format!("127.0.0.1:{oport}").parse().unwrap(), Some(&tls))
        .await
        .unwrap();
    let (cert, key) = (dir.join("client-cert.pem"), dir.join("client-key.pem"));
    std::fs::write(&cert, &client.cert_pem).unwrap();
    std::fs::write(&key, &client.key_pem).unwrap();
    let mut ep = endpoint(oport, o.public_key());
    ep.tls_root_cert = Some(tls.ca_pem.clone());
    // Inserted at `peer:` level, before its gossip section.
    let tls_yaml = format!(
        "  tls:\n    clientCert:\n      file: {}\n    clientKey:\n      file: {}\n",
        cert.display(),
        key.display()
    );
    let p = leader(&dir, vec![ep.clone()], &tls_yaml).await;
    wait_until("the peer committed the chain over mutual TLS", LONG, || {
        height_is(&p, 10)
    })
    .await;
    assert_eq!(o.counters().unbound_seeks.load(Ordering::SeqCst), 0);
    p.stop().await;
    // Trusting the orderer but presenting no certificate gets nothing.
    let dir2 = tempdir("deliver");
    let p2 = leader(&dir2, vec![ep], "").await;
    wait_until(
        "the client without a certificate failed a few times",
        LONG,
        || p2.delivery_stats(CH).is_some_and(|s| s.reconnects >= 2),
    )
    .await;
    assert_eq!(p2.ledger_height(CH), Some(0));
    server.stop().await;
    p2.stop().await;
}

#[test]
fn client_certificate_config_errors_name_the_key() {
    let mut tls = fabgossip::config::TlsConfig {
        client_cert_file: Some("/nonexistent/c.pem".into()),
        ..Default::default()
    };
    let e = ClientTlsIdentity::from_config(&tls).unwrap_err();
    assert!(e.contains("go together"), "{e}");
    tls.client_key_file = Some("/nonexistent/k.pem".into());
    let e = ClientTlsIdentity::from_config(&tls).unwrap_err();
    assert!(e.contains("peer.tls.clientCert.file"), "{e}");
    let dir = tempdir("deliver");
    let (c, k) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&c, "not a certificate").unwrap();
    std::fs::write(&k, "not a key").unwrap();
    let tls = fabgossip::config::TlsConfig {
        client_cert_file: Some(c),
        client_key_file: Some(k),
        ..Default::default()
    };
    let e = ClientTlsIdentity::from_config(&tls).unwrap_err();
    assert!(e.contains("peer.tls.clientCert.file"), "{e}");
    assert!(ClientTlsIdentity::from_config(&Default::default())
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_orderers_are_reported_and_a_static_leader_keeps_trying() {
    let dir = tempdir("deliver");
    let p = leader(
        &dir,
        vec![endpoint(free_port(), [1; 32])],
        "    reconnectTotalTimeThreshold: 1s\n",
    )
    .await;
    wait_until("unreachability reported", LONG, || {
        p.delivery_stats(CH)
            .is_some_and(|s| s.unreachable_reports == 1)
    })
    .await;
    let r = p.delivery_stats(CH).unwrap().reconnects;
    wait_until("the static leader keeps trying", LONG, || {
        p.delivery_stats(CH).is_some_and(|s| s.reconnects >= r + 2)
    })
    .await;
    // Reported once per outage.
    assert_eq!(p.delivery_stats(CH).unwrap().unreachable_reports, 1);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_the_channel_stops_the_stream_within_a_second() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 200);
    o.set_delay(Duration::from_millis(20));
    let oport = free_port();
    let server = serve(&o, oport).await;
    let p = leader(&dir, vec![endpoint(oport, o.public_key())], "").await;
    wait_until("some blocks committed", LONG, || {
        p.ledger_height(CH).is_some_and(|h| h >= 5)
    })
    .await;
    p.leave_channel(CH).await.unwrap();
    assert!(p.delivery_stats(CH).is_none());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = o.counters().blocks_sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The orderer may have one block in a socket buffer; it sends nothing more.
    assert!(
        o.counters().blocks_sent.load(Ordering::SeqCst) <= sent + 1,
        "the orderer kept streaming after the leave"
    );
    assert!(sent < 200);
    server.stop().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_block_gossip_off_the_org_gets_blocks_by_pull_only() {
    let dir = tempdir("deliver");
    let o = test_orderer(7, 10);
    let oport = free_port();
    let server = serve(&o, oport).await;
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let leader = start(0, &ports, &dir, true, "    blockGossipEnabled: false\n").await;
    let follower = start(1, &ports, &dir, false, "").await;
    for p in [&leader, &follower] {
        p.join_channel(CH, join(vec![endpoint(oport, o.public_key())]))
            .await
            .unwrap();
    }
    wait_until("both peers committed the chain", LONG, || {
        height_is(&leader, 10) && height_is(&follower, 10)
    })
    .await;
    let b = follower.block_stats(CH).unwrap();
    assert_eq!(b.blocks.pushed_in, 0, "{b:?}");
    assert!(b.blocks.pulled_in >= 1, "{b:?}");
    assert_eq!(leader.block_stats(CH).unwrap().blocks.forwarded, 0);
    server.stop().await;
    let l = stop_and_read(vec![leader, follower], &dir).await;
    assert!(l[0] == l[1] && l[0].0 == o.encoded_blocks());
}

/// A host-supplied delivery service: hands over a fixed chain and records stops.
mod fake {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use fabgossip::deliver::{
        DeliverError, Delivered, DeliveryEvent, DeliveryFactory, DeliveryRequest, DeliveryService,
        DeliveryStats,
    };

    pub struct Factory {
        pub blocks: Vec<Vec<u8>>,
        pub started: Arc<AtomicU64>,
        pub stopped: Arc<AtomicU64>,
        /// The height each service was started at.
        pub from: Arc<std::sync::Mutex<Vec<u64>>>,
    }

    struct Service {
        task: tokio::task::JoinHandle<()>,
        stopped: Arc<AtomicU64>,
        sent: Arc<AtomicU64>,
    }

    impl DeliveryFactory for Factory {
        fn start(&self, req: DeliveryRequest) -> Result<Box<dyn DeliveryService>, DeliverError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            let from = *req.height.borrow();
            self.from.lock().unwrap().push(from);
            let blocks = self.blocks.clone();
            let sent = Arc::new(AtomicU64::new(0));
            let counter = sent.clone();
            let task = tokio::spawn(async move {
                for (seq, block) in blocks.into_iter().enumerate().skip(from as usize) {
                    let ev = Delivered {
                        id: req.id,
                        channel: req.channel.clone(),
                        event: DeliveryEvent::Block {
                            seq: seq as u64,
                            block,
                        },
                    };
                    if req.sink.send(ev).await.is_err() {
                        return;
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
            Ok(Box::new(Service {
                task,
                stopped: self.stopped.clone(),
                sent,
            }))
        }
    }

    impl DeliveryService for Service {
        fn stop(&mut self) {
            self.task.abort();
            self.stopped.fetch_add(1, Ordering::SeqCst);
        }

        fn stats(&self) -> DeliveryStats {
            DeliveryStats {
                endpoint: "fake".into(),
                blocks_received: self.sent.load(Ordering::SeqCst),
                ..Default::default()
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_supplied_delivery_factory_feeds_the_ledger() {
    use std::sync::Arc;
    let dir = tempdir("deliver");
    let o = test_orderer(7, 25);
    let started = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stopped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let from: Arc<std::sync::Mutex<Vec<u64>>> = Default::default();
    let factory = Arc::new(fake::Factory {
        blocks: o.encoded_blocks(),
        started: started.clone(),
        stopped: stopped.clone(),
        from: from.clone(),
    });
    let port = free_port();
    let text = format!(
        "peer:\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: ''\nfabgossip:\n  identitySeed: '{seed}'\n",
        dir = peer_dir(&dir, 0).display(),
        seed = hex::encode([1u8; 32]),
    );
    let p = GossipService::start_builtin_with_delivery(Config::parse(&text).unwrap(), factory)
        .await
        .unwrap();
    // No orderer in the channel: nothing to start.
    let mut msg = join(Vec::new());
    p.join_channel(CH, msg.clone()).await.unwrap();
    assert!(p.delivery_stats(CH).is_none());
    // A newer config names an orderer: the static leader starts delivering.
    msg.sequence = 2;
    msg.orderers = vec![endpoint(1, o.public_key())];
    p.join_channel(CH, msg.clone()).await.unwrap();
    wait_until("the fake service's blocks committed", LONG, || {
        height_is(&p, 25)
    })
    .await;
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert_eq!(p.delivery_stats(CH).unwrap().endpoint, "fake");
    // The same orderers again (an older or equal sequence): no restart.
    p.join_channel(CH, msg.clone()).await.unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 1);
    // Other orderers: the service restarts from the ledger height.
    msg.sequence = 3;
    msg.orderers = vec![endpoint(2, o.public_key())];
    p.join_channel(CH, msg).await.unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 2);
    assert_eq!(stopped.load(Ordering::SeqCst), 1);
    assert_eq!(*from.lock().unwrap(), vec![0, 25]);
    p.leave_channel(CH).await.unwrap();
    assert_eq!(stopped.load(Ordering::SeqCst), 2);
    assert!(p.delivery_stats(CH).is_none());
    p.stop().await;
}
