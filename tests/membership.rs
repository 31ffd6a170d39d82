//! Many `GossipService`s in one process over real loopback gRPC: membership forms, a stopped
//! peer is seen dead, a restarted one alive again, and disclosure holds between orgs.

mod support;
use support::{free_port, tempdir, wait_for, wait_until};

use std::time::{Duration, Instant};

use fabgossip::config::Config;
use fabgossip::node::{builtin_crypto, GossipService, PeerInfo, PeerState};

struct Spec {
    org: &'static str,
    bootstrap: Vec<usize>,
    external: bool,
    tls: bool,
}

fn config(i: usize, spec: &Spec, ports: &[u16], anchors: &str, dir: &std::path::Path) -> Config {
    let port = ports[i];
    let boot: Vec<String> = spec
        .bootstrap
        .iter()
        .map(|b| format!("127.0.0.1:{}", ports[*b]))
        .collect();
    let external = if spec.external {
        format!("127.0.0.1:{port}")
    } else {
        String::new()
    };
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  tls: {{enabled: {tls}}}\n  gossip:\n    bootstrap: [{boot}]\n    externalEndpoint: '{external}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 1s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\nfabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP]\n  identitySeed: '{seed}'\n  anchorPeers: [{anchors}]\n",
        org = spec.org,
        dir = dir.join(format!("p{i}")).display(),
        tls = spec.tls,
        boot = boot.join(", "),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    Config::parse(&text).unwrap()
}

fn init_logs() {
    if std::env::var_os("FABGOSSIP_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_test_writer()
            .try_init();
    }
}

async fn start(
    i: usize,
    spec: &Spec,
    ports: &[u16],
    anchors: &str,
    dir: &std::path::Path,
) -> GossipService {
    init_logs();
    let cfg = config(i, spec, ports, anchors, dir);
    let (_, ctx) = builtin_crypto(&cfg).unwrap();
    GossipService::start(cfg, ctx).await.unwrap()
}

fn alive(view: &[PeerInfo]) -> Vec<String> {
    let mut v: Vec<String> = view
        .iter()
        .filter(|p| p.state == PeerState::Alive)
        .map(|p| p.pki_id.clone())
        .collect();
    v.sort();
    v
}

fn dead(view: &[PeerInfo], pki_id: &str) -> bool {
    view.iter()
        .any(|p| p.pki_id == pki_id && p.state == PeerState::Dead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_peers_form_a_full_view_and_see_a_stopped_peer_dead_then_alive() {
    for tls in [false, true] {
        let dir = tempdir("membership");
        let ports: Vec<u16> = (0..10).map(|_| free_port()).collect();
        let specs: Vec<Spec> = (0..10)
            .map(|i| Spec {
                org: "Org1MSP",
                bootstrap: vec![if i == 0 { 1 } else { 0 }],
                external: true,
                tls,
            })
            .collect();
        let mut peers = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            peers.push(start(i, s, &ports, "", &dir).await);
        }
        let t0 = Instant::now();
        wait_until(
            "every peer sees the 9 others",
            Duration::from_secs(20),
            || peers.iter().all(|p| alive(&p.peers()).len() == 9),
        )
        .await;
        eprintln!("tls={tls}: full view of 10 peers after {:?}", t0.elapsed());

        let victim = peers.remove(9);
        let victim_id = victim.self_info().pki_id;
        victim.stop().await;
        victim.stop().await; // idempotent
        wait_until(
            "the stopped peer is seen dead",
            Duration::from_secs(10),
            || peers.iter().all(|p| dead(&p.peers(), &victim_id)),
        )
        .await;

        peers.push(start(9, &specs[9], &ports, "", &dir).await);
        wait_until(
            "the restarted peer is alive again everywhere",
            Duration::from_secs(20),
            || peers.iter().all(|p| alive(&p.peers()).len() == 9),
        )
        .await;
        for p in &peers {
            p.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orgs_meet_through_anchor_peers_and_a_peer_without_external_endpoint_stays_hidden() {
    let dir = tempdir("membership");
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let specs = [
        Spec {
            org: "Org1MSP",
            bootstrap: vec![1],
            external: true,
            tls: false,
        },
        Spec {
            org: "Org1MSP",
            bootstrap: vec![0],
            external: true,
            tls: false,
        },
        Spec {
            org: "Org1MSP",
            bootstrap: vec![0],
            external: false,
            tls: false,
        },
        Spec {
            org: "Org2MSP",
            bootstrap: vec![4],
            external: true,
            tls: false,
        },
        Spec {
            org: "Org2MSP",
            bootstrap: vec![3],
            external: true,
            tls: false,
        },
    ];
    let anchors = format!(
        "{{host: 127.0.0.1, port: {}, mspid: Org1MSP}}, {{host: 127.0.0.1, port: {}, mspid: Org2MSP}}",
        ports[0], ports[3]
    );
    let mut peers = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        peers.push(start(i, s, &ports, &anchors, &dir).await);
    }
    let hidden = peers[2].self_info().pki_id;
    // Org1's visible peers see everyone; org2 sees all but the hidden peer; the hidden peer,
    // having no external endpoint itself, is shown no foreign peer either.
    let expected = [4, 4, 2, 3, 3];
    let settled = wait_for(Duration::from_secs(20), || {
        peers
            .iter()
            .zip(expected)
            .all(|(p, n)| alive(&p.peers()).len() == n)
    })
    .await;
    if !settled {
        for (i, p) in peers.iter().enumerate() {
            eprintln!("peer {i} ({}): {:?}", p.self_info().org, p.peers());
        }
        panic!("timed out waiting until each peer sees what disclosure allows");
    }
    // Give disclosure a chance to go wrong before checking it did not.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        peers[2].peers().iter().all(|m| m.org == "Org1MSP"),
        "a foreign peer was disclosed to a peer without external endpoint"
    );
    for p in &peers[3..] {
        let view = p.peers();
        assert!(
            view.iter().all(|m| m.pki_id != hidden),
            "org2 learned of the hidden org1 peer"
        );
        assert!(
            view.iter()
                .filter(|m| m.org == "Org1MSP")
                .all(|m| m.internal_endpoint.is_empty()),
            "an internal endpoint leaked across orgs: {view:?}"
        );
    }
    for p in &peers {
        p.stop().await;
    }
}
