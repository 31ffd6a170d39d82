//! Bounded resources at the network edge, over real loopback: silent connections are closed at
//! the handshake deadline, the per-address cap and the file-descriptor reserve refuse and count,
//! an honest peer joins while a flood of silent connections is held, and the identity mapper
//! holds its cap. Run: `cargo test --release --locked --test edge`.

mod support;
use support::{free_port, tempdir, wait_for, wait_until};

use std::net::SocketAddr;
use std::time::Duration;

use fabgossip::comm::Refusal;
use fabgossip::config::Config;
use fabgossip::node::{builtin_crypto, GossipService, PeerState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Generous: the machine running the tests may be loaded.
const LIMIT: Duration = Duration::from_secs(30);

/// HTTP/2 client preface followed by an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

struct Peer {
    i: usize,
    tls: bool,
    bootstrap: Option<u16>,
    /// Extra lines of the `fabgossip` section.
    lib: String,
}

async fn start(p: Peer, port: u16, dir: &std::path::Path) -> GossipService {
    let boot = p
        .bootstrap
        .map(|b| format!("127.0.0.1:{b}"))
        .unwrap_or_default();
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  tls: {{enabled: {tls}}}\n  gossip:\n    bootstrap: [{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\nfabgossip:\n  identitySeed: '{seed}'\n{lib}",
        i = p.i,
        dir = dir.join(format!("p{}", p.i)).display(),
        tls = p.tls,
        seed = hex::encode([p.i as u8 + 1; 32]),
        lib = p.lib,
    );
    let cfg = Config::parse(&text).unwrap();
    let (_, ctx) = builtin_crypto(&cfg).unwrap();
    GossipService::start(cfg, ctx).await.unwrap()
}

fn admission(timeout: &str, max_unauth: usize, per_address: usize, fd_reserve: usize) -> String {
    format!(
        "  admission:\n    handshakeTimeout: {timeout}\n    maxUnauthenticated: {max_unauth}\n    maxPerAddress: {per_address}\n    fdReserve: {fd_reserve}\n"
    )
}

/// A plain TCP connection from `source` (any 127.0.0.0/8 address on Linux) that sends nothing.
async fn silent_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((source, 0))).unwrap();
    s.connect(to).await.unwrap()
}

/// Reads and discards until the peer closes (EOF or reset); false if it is still open after
/// `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn refused(p: &GossipService, r: Refusal) -> u64 {
    p.comm_metrics().connections_refused.get(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_at_the_deadline_with_and_without_tls() {
    for tls in [false, true] {
        let dir = tempdir("edge-silent");
        let port = free_port();
        let lib = admission("300ms", 100, 100, 0);
        let p = start(
            Peer {
                i: 0,
                tls,
                bootstrap: None,
                lib,
            },
            port,
            &dir,
        )
        .await;
        let addr = p.local_addr();
        let mut conns = Vec::new();
        for _ in 0..20 {
            conns.push(silent_from([127, 0, 0, 1], addr).await);
        }
        for c in &mut conns {
            assert!(closed_within(c, LIMIT).await, "tls={tls}: still open");
        }
        wait_until("every close counted", LIMIT, || {
            refused(&p, Refusal::HandshakeDeadline) >= 20
        })
        .await;
        wait_until("no connection held", LIMIT, || {
            p.comm_metrics().admitted_connections == 0
        })
        .await;
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_with_the_http2_preface_but_no_stream_is_closed() {
    let dir = tempdir("edge-preface");
    let port = free_port();
    let lib = admission("300ms", 100, 100, 0);
    let p = start(
        Peer {
            i: 0,
            tls: false,
            bootstrap: None,
            lib,
        },
        port,
        &dir,
    )
    .await;
    let mut c = silent_from([127, 0, 0, 1], p.local_addr()).await;
    c.write_all(H2_PREFACE).await.unwrap();
    // The server answers with its own SETTINGS: the preface was accepted.
    let mut head = [0u8; 9];
    c.read_exact(&mut head).await.unwrap();
    assert_eq!(head[3], 0x4, "first frame is SETTINGS");
    assert!(closed_within(&mut c, LIMIT).await, "still open");
    assert!(refused(&p, Refusal::HandshakeDeadline) >= 1);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_cap_refuses_the_extra_connections_and_counts_them() {
    let dir = tempdir("edge-per-address");
    let port = free_port();
    let lib = admission("60s", 100, 4, 0);
    let p = start(
        Peer {
            i: 0,
            tls: false,
            bootstrap: None,
            lib,
        },
        port,
        &dir,
    )
    .await;
    let addr = p.local_addr();
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(silent_from([127, 0, 0, 3], addr).await);
    }
    wait_until("six refused by address", LIMIT, || {
        refused(&p, Refusal::PerAddress) == 6
    })
    .await;
    let m = p.comm_metrics();
    assert_eq!(m.admitted_connections, 4);
    assert_eq!(m.unauthenticated_connections, 4);
    // The refused ones were closed, in accept order: the last six.
    for c in &mut held[4..] {
        assert!(closed_within(c, LIMIT).await);
    }
    // Another address still gets in.
    let _other = silent_from([127, 0, 0, 4], addr).await;
    wait_until("the other address admitted", LIMIT, || {
        p.comm_metrics().admitted_connections == 5
    })
    .await;
    // Closing one frees its slot.
    held.truncate(3);
    wait_until("the closed one released", LIMIT, || {
        p.comm_metrics().admitted_connections == 4
    })
    .await;
    let _again = silent_from([127, 0, 0, 3], addr).await;
    wait_until("a freed slot is reused", LIMIT, || {
        p.comm_metrics().admitted_connections == 5 && refused(&p, Refusal::PerAddress) == 6
    })
    .await;
    assert!(p
        .metrics_text()
        .contains("fabgossip_comm_connections_refused{reason=\"per_address\"} 6"));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fd_reserve_refuses_connections_but_not_dials() {
    let dir = tempdir("edge-fd");
    let (pa, pb) = (free_port(), free_port());
    // A reserve larger than any descriptor limit: a refuses every inbound connection.
    let a = start(
        Peer {
            i: 0,
            tls: false,
            bootstrap: Some(pb),
            lib: admission("10s", 100, 100, 100_000_000),
        },
        pa,
        &dir,
    )
    .await;
    let b = start(
        Peer {
            i: 1,
            tls: false,
            bootstrap: None,
            lib: String::new(),
        },
        pb,
        &dir,
    )
    .await;
    let mut c = silent_from([127, 0, 0, 1], a.local_addr()).await;
    assert!(closed_within(&mut c, LIMIT).await);
    // a still dials b, and b accepts: they meet through a's outbound connection.
    let b_id = b.self_info().pki_id;
    wait_until("a sees b alive", LIMIT, || {
        a.peers()
            .iter()
            .any(|p| p.pki_id == b_id && p.state == PeerState::Alive)
    })
    .await;
    assert!(refused(&a, Refusal::FdReserve) >= 1);
    assert_eq!(refused(&b, Refusal::FdReserve), 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_peer_joins_while_many_silent_connections_are_held() {
    for tls in [false, true] {
        let dir = tempdir("edge-honest");
        let (pa, pb) = (free_port(), free_port());
        let a = start(
            Peer {
                i: 0,
                tls,
                bootstrap: None,
                lib: admission("60s", 16, 8, 0),
            },
            pa,
            &dir,
        )
        .await;
        let addr = a.local_addr();
        // 8 source addresses × 8 connections: every per-address slot taken, 4× the
        // unauthenticated cap offered.
        let mut silent = Vec::new();
        for host in 2..10u8 {
            for _ in 0..8 {
                silent.push(silent_from([127, 0, 0, host], addr).await);
            }
        }
        wait_until("the flood accepted and evicted", LIMIT, || {
            refused(&a, Refusal::UnauthenticatedEvicted) == 48
        })
        .await;
        assert_eq!(a.comm_metrics().unauthenticated_connections, 16);

        let b = start(
            Peer {
                i: 1,
                tls,
                bootstrap: Some(pa),
                lib: String::new(),
            },
            pb,
            &dir,
        )
        .await;
        let (a_id, b_id) = (a.self_info().pki_id, b.self_info().pki_id);
        let sees = |p: &GossipService, id: &str| {
            p.peers()
                .iter()
                .any(|x| x.pki_id == id && x.state == PeerState::Alive)
        };
        wait_until("a and b see each other alive", LIMIT, || {
            sees(&a, &b_id) && sees(&b, &a_id)
        })
        .await;
        // The silent ones are still bounded.
        assert!(a.comm_metrics().unauthenticated_connections <= 16);
        let evicted_closed = {
            let mut n = 0;
            for c in &mut silent {
                if closed_within(c, Duration::from_millis(1)).await {
                    n += 1;
                }
            }
            n
        };
        assert!(evicted_closed >= 48, "tls={tls}: {evicted_closed} closed");
        drop(silent);
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_mapper_holds_its_cap() {
    let dir = tempdir("edge-identities");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..4 {
        peers.push(
            start(
                Peer {
                    i,
                    tls: false,
                    bootstrap: if i == 0 { None } else { Some(ports[0]) },
                    // Our own identity and one other.
                    lib: if i == 0 {
                        "  maxIdentities: 2\n".into()
                    } else {
                        String::new()
                    },
                },
                ports[i],
                &dir,
            )
            .await,
        );
    }
    let capped = &peers[0];
    wait_until("the capped peer refuses identities", LIMIT, || {
        capped.identity_stats().mapper.overflow >= 1
    })
    .await;
    // The refusals reach Prometheus.
    let exported = capped
        .metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix("fabgossip_identity_overflow "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(
        exported.is_some_and(|v| v >= 1.0),
        "fabgossip_identity_overflow: {exported:?}"
    );
    // The identity it did take is in use: that peer is a member.
    wait_until("the capped peer has one alive member", LIMIT, || {
        capped.peers().iter().any(|p| p.state == PeerState::Alive)
    })
    .await;
    let still = wait_for(Duration::from_secs(2), || capped.identity_stats().known > 2).await;
    assert!(!still, "cap exceeded: {}", capped.identity_stats().known);
    for p in &peers {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_connection_outlives_the_handshake_deadline() {
    let dir = tempdir("edge-authenticated");
    let (pa, pb) = (free_port(), free_port());
    let a = start(
        Peer {
            i: 0,
            tls: true,
            bootstrap: None,
            lib: admission("300ms", 100, 100, 0),
        },
        pa,
        &dir,
    )
    .await;
    let b = start(
        Peer {
            i: 1,
            tls: true,
            bootstrap: Some(pa),
            lib: String::new(),
        },
        pb,
        &dir,
    )
    .await;
    let b_id = b.self_info().pki_id;
    wait_until("a sees b alive", LIMIT, || {
        a.peers()
            .iter()
            .any(|p| p.pki_id == b_id && p.state == PeerState::Alive)
    })
    .await;
    wait_until("b's connection is authenticated at a", LIMIT, || {
        let m = a.comm_metrics();
        m.admitted_connections >= 1 && m.unauthenticated_connections == 0
    })
    .await;
    // Several deadlines later the connection is still there and nothing was cut.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = a.comm_metrics();
    assert_eq!(m.connections_refused.handshake_deadline, 0);
    assert!(m.admitted_connections >= 1);
    a.stop().await;
    b.stop().await;
}
