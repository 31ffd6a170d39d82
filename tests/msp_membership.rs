//! Peers whose identities are Fabric X.509 certificates from an MSP folder (as a Fabric peer's
//! `peer.mspConfigPath`): they sign and verify with the built-in MSP, form membership over TLS,
//! and a peer whose certificate another CA issued under the same mspid is never admitted.

mod support;
use support::{free_port, tempdir, wait_until};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fabgossip::config::Config;
use fabgossip::crypto::msp::MspCrypto;
use fabgossip::node::{GossipService, PeerState};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(cn: &str) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2090, 1, 1);
    let pem = p.self_signed(&key).unwrap().pem();
    Ca {
        issuer: Issuer::new(p, key),
        pem,
    }
}

/// An MSP folder as cryptogen lays it out, with NodeOUs.
fn msp_folder(dir: &Path, ca: &Ca, cn: &str) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, "peer");
    p.not_before = date_time_ymd(2021, 1, 1);
    p.not_after = date_time_ymd(2080, 1, 1);
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    for sub in ["cacerts", "signcerts", "keystore"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("cacerts/ca-cert.pem"), &ca.pem).unwrap();
    std::fs::write(dir.join(format!("signcerts/{cn}-cert.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join("keystore/priv_sk"), key.serialize_pem()).unwrap();
    let ou = |n: &str| {
        format!("  {n}OUIdentifier:\n    Certificate: cacerts/ca-cert.pem\n    OrganizationalUnitIdentifier: {}\n", n.to_lowercase())
    };
    let yaml = format!(
        "NodeOUs:\n  Enable: true\n{}{}{}{}",
        ou("Client"),
        ou("Peer"),
        ou("Admin"),
        ou("Orderer")
    );
    std::fs::write(dir.join("config.yaml"), yaml).unwrap();
}

fn config(i: usize, ports: &[u16], boot: usize, dir: &Path) -> Config {
    let port = ports[i];
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  mspConfigPath: {msp}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {fs}\n  tls: {{enabled: true}}\n  gossip:\n    bootstrap: [127.0.0.1:{b}]\n    externalEndpoint: 127.0.0.1:{port}\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 1s\n    reconnectInterval: 500ms\n",
        msp = dir.join(format!("msp{i}")).display(),
        fs = dir.join(format!("p{i}")).display(),
        b = ports[boot],
    );
    Config::parse(&text).unwrap()
}

async fn start(
    i: usize,
    ports: &[u16],
    boot: usize,
    dir: &Path,
) -> (GossipService, Arc<MspCrypto>) {
    let cfg = config(i, ports, boot, dir);
    let crypto = MspCrypto::open(&cfg.msp_dir(), &cfg.peer.local_msp_id).unwrap();
    let ctx = crypto.context().unwrap();
    (GossipService::start(cfg, ctx).await.unwrap(), crypto)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_peers_of_one_org_form_membership_and_refuse_a_foreign_ca() {
    let dir = tempdir("msp-membership");
    let org = ca("ca.org1");
    let impostor_ca = ca("ca.org1");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    for i in 0..3 {
        msp_folder(&dir.join(format!("msp{i}")), &org, &format!("peer{i}"));
    }
    // The impostor trusts the real CA as well, so that it accepts the others; they must not
    // accept it.
    msp_folder(&dir.join("msp3"), &impostor_ca, "peer3");
    std::fs::write(dir.join("msp3/cacerts/real-ca-cert.pem"), &org.pem).unwrap();

    let mut peers = Vec::new();
    for i in 0..3 {
        peers.push(start(i, &ports, if i == 0 { 1 } else { 0 }, &dir).await);
    }
    let alive = |p: &GossipService| {
        p.peers()
            .iter()
            .filter(|v| v.state == PeerState::Alive)
            .count()
    };
    wait_until(
        "the three X.509 peers see each other",
        Duration::from_secs(30),
        || peers.iter().all(|(p, _)| alive(p) == 2),
    )
    .await;
    for (_, c) in &peers {
        assert!(c.counters().signatures_made > 0);
        assert!(c.counters().signatures_verified > 0);
    }

    let rejected = |peers: &[(GossipService, Arc<MspCrypto>)]| -> u64 {
        peers
            .iter()
            .map(|(_, c)| c.counters().identities_rejected + c.counters().signatures_rejected)
            .sum()
    };
    let before = rejected(&peers);
    let (impostor, _) = start(3, &ports, 0, &dir).await;
    wait_until(
        "the impostor's identity is refused",
        Duration::from_secs(30),
        || rejected(&peers) > before,
    )
    .await;
    assert!(
        peers.iter().all(|(p, _)| alive(p) == 2),
        "a certificate of another CA was admitted"
    );
    impostor.stop().await;
    for (p, _) in peers {
        p.stop().await;
    }
}
