//! Peers whose identities are Fabric X.509 certificates from an MSP folder (as a Fabric peer's
//! `peer.mspConfigPath`): they sign and verify with the built-in MSP, form membership over TLS,
//! and a peer whose certificate another CA issued under the same mspid is never admitted.
//! Joined with a channel's config block, they take the channel's MSPs and policies from it:
//! peers of the channel's other orgs verify, and blocks need an orderer org signature.

mod support;
use support::{free_port, tempdir, wait_until};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fabgossip::channelconfig::ConfigBlock;
use fabgossip::config::Config;
use fabgossip::crypto::block::{
    block_header_hash, new_block, orderer_block_metadata, sign_block, signature_header,
};
use fabgossip::crypto::msp::MspCrypto;
use fabgossip::crypto::MessageCryptoService;
use fabgossip::node::{ChannelCallError, GossipService, PeerState};
use fabgossip::proto::common::{
    Block, ChannelHeader, ConfigEnvelope, Envelope, Header, HeaderType, Payload,
};
use fabgossip::proto::msp::{FabricMspConfig, FabricNodeOUs, FabricOuIdentifier, MspConfig};
use fabgossip::proto::protos::{AnchorPeer, AnchorPeers};
use prost::Message;
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
    msp_folder_with_ou(dir, ca, cn, "peer")
}

fn msp_folder_with_ou(dir: &Path, ca: &Ca, cn: &str, ou: &str) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, ou);
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

// ---- a channel from its config block, on X.509 identities ----

const CH: &str = "fixturechannel";
const GENESIS: &[u8] = include_bytes!("channelconfig/genesis.block");

/// The MSP value of an org's config group: the X.509 MSP over `ca`, with NodeOUs.
fn msp_value(mspid: &str, ca: &Ca) -> Vec<u8> {
    let ou = |n: &str| {
        Some(FabricOuIdentifier {
            certificate: Vec::new(),
            organizational_unit_identifier: n.into(),
        })
    };
    let conf = FabricMspConfig {
        name: mspid.into(),
        root_certs: vec![ca.pem.clone().into_bytes()],
        fabric_node_ous: Some(FabricNodeOUs {
            enable: true,
            client_ou_identifier: ou("client"),
            peer_ou_identifier: ou("peer"),
            admin_ou_identifier: ou("admin"),
            orderer_ou_identifier: ou("orderer"),
        }),
        ..Default::default()
    };
    MspConfig {
        r#type: 0,
        config: conf.encode_to_vec(),
    }
    .encode_to_vec()
}

/// configtxgen's genesis block of the fixture channel with its three orgs' MSPs swapped for
/// `cas` (Ordering, Alpha, Beta) and the anchor peers of Alpha and Beta set to `anchors`.
fn genesis_block(cas: [&Ca; 3], anchors: [u16; 2]) -> Vec<u8> {
    let meta = ConfigBlock::decode(GENESIS).unwrap();
    let mut config = meta.config;
    let root = config.channel_group.as_mut().unwrap();
    let ord = root.groups.get_mut("Orderer").unwrap();
    ord.groups
        .get_mut("Ordering")
        .unwrap()
        .values
        .get_mut("MSP")
        .unwrap()
        .value = msp_value("OrderingMSP", cas[0]);
    let app = root.groups.get_mut("Application").unwrap();
    for (i, (name, mspid)) in [("Alpha", "AlphaMSP"), ("Beta", "BetaMSP")]
        .iter()
        .enumerate()
    {
        let g = app.groups.get_mut(*name).unwrap();
        g.values.get_mut("MSP").unwrap().value = msp_value(mspid, cas[i + 1]);
        g.values.get_mut("AnchorPeers").unwrap().value = AnchorPeers {
            anchor_peers: vec![AnchorPeer {
                host: "127.0.0.1".into(),
                port: anchors[i].into(),
            }],
        }
        .encode_to_vec();
    }
    let ch = ChannelHeader {
        r#type: HeaderType::Config as i32,
        channel_id: CH.into(),
        ..Default::default()
    };
    let payload = Payload {
        header: Some(Header {
            channel_header: ch.encode_to_vec(),
            signature_header: Vec::new(),
        }),
        data: ConfigEnvelope {
            config: Some(config),
            last_update: None,
        }
        .encode_to_vec(),
    };
    let env = Envelope {
        payload: payload.encode_to_vec(),
        signature: Vec::new(),
    }
    .encode_to_vec();
    new_block(0, Vec::new(), vec![env]).encode_to_vec()
}

fn org_config(mspid: &str, port: u16, dir: &Path, name: &str) -> Config {
    let text = format!(
        "peer:\n  id: {name}\n  localMspId: {mspid}\n  mspConfigPath: {msp}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {fs}\n  tls: {{enabled: true}}\n  gossip:\n    externalEndpoint: 127.0.0.1:{port}\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    pullInterval: 500ms\n",
        msp = dir.join(format!("{name}-msp")).display(),
        fs = dir.join(name).display(),
    );
    Config::parse(&text).unwrap()
}

/// Block `number` after `prev`, signed by `signer` (any MSP crypto) when given.
fn block_after(prev: &Block, tx: &[u8], signer: Option<&MspCrypto>) -> Block {
    let header = prev.header.as_ref().unwrap();
    let number = header.number + 1;
    let mut b = new_block(number, block_header_hash(header), vec![tx.to_vec()]);
    if let Some(s) = signer {
        let sh = signature_header(s.serialized_identity(), b"nonce");
        sign_block(&mut b, orderer_block_metadata(0), sh, |m| s.sign(m)).unwrap();
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_peers_join_with_a_config_block_and_blocks_need_the_orderer_org() {
    let dir = tempdir("msp-config-block");
    let (ord_ca, alpha_ca, beta_ca) = (ca("ca.ord"), ca("ca.alpha"), ca("ca.beta"));
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let names = [
        ("alpha0", "AlphaMSP", &alpha_ca),
        ("alpha1", "AlphaMSP", &alpha_ca),
        ("beta0", "BetaMSP", &beta_ca),
    ];
    let mut peers = Vec::new();
    for (i, (name, mspid, ca)) in names.iter().enumerate() {
        msp_folder(&dir.join(format!("{name}-msp")), ca, name);
        let cfg = org_config(mspid, ports[i], &dir, name);
        let crypto = MspCrypto::open(&cfg.msp_dir(), mspid).unwrap();
        let ctx = crypto.context().unwrap();
        peers.push((GossipService::start(cfg, ctx).await.unwrap(), crypto));
    }
    msp_folder_with_ou(&dir.join("orderer-msp"), &ord_ca, "orderer0", "orderer");
    let orderer = MspCrypto::open(&dir.join("orderer-msp"), "OrderingMSP").unwrap();
    let beta_identity = peers[2].1.serialized_identity().to_vec();
    // Alone, an X.509 peer knows no org but its own.
    assert!(peers[0].1.validate_identity(&beta_identity).is_err());

    let genesis = genesis_block([&ord_ca, &alpha_ca, &beta_ca], [ports[0], ports[2]]);
    for (p, _) in &peers {
        let config = p
            .join_channel_with_block(CH, genesis.clone())
            .await
            .unwrap();
        assert_eq!(config.member_orgs(), ["AlphaMSP", "BetaMSP"]);
    }
    let in_channel = |p: &GossipService, org: &str, n: usize| {
        p.peers_of_channel(CH)
            .is_some_and(|ps| ps.iter().filter(|c| c.org == org).count() == n)
    };
    wait_until(
        "every peer sees the others in the channel, across orgs",
        Duration::from_secs(60),
        || {
            in_channel(&peers[0].0, "AlphaMSP", 1)
                && in_channel(&peers[0].0, "BetaMSP", 1)
                && in_channel(&peers[1].0, "BetaMSP", 1)
                && in_channel(&peers[2].0, "AlphaMSP", 2)
        },
    )
    .await;
    assert!(peers.iter().all(|(p, _)| p.ledger_height(CH) == Some(1)));

    // A block signed by the orderer org reaches the other Alpha peer by gossip.
    let b0 = Block::decode(genesis.as_slice()).unwrap();
    let b1 = block_after(&b0, b"tx1", Some(&orderer));
    peers[0]
        .0
        .add_payload(CH, 1, b1.encode_to_vec())
        .await
        .unwrap();
    wait_until(
        "both Alpha peers committed block 1",
        Duration::from_secs(30),
        || {
            peers[..2]
                .iter()
                .all(|(p, _)| p.ledger_height(CH) == Some(2))
        },
    )
    .await;

    // Unsigned, signed by a peer, signed by an orderer of another CA, a tampered header:
    // each refused and counted.
    let invalid = |p: &GossipService| p.block_stats(CH).unwrap().blocks.invalid;
    let (alpha0, crypto0) = &peers[0];
    let rogue_ca = ca("ca.ord");
    msp_folder_with_ou(&dir.join("rogue-msp"), &rogue_ca, "orderer0", "orderer");
    let rogue = MspCrypto::open(&dir.join("rogue-msp"), "OrderingMSP").unwrap();
    let mut tampered = block_after(&b1, b"tx2", Some(&orderer));
    tampered.header.as_mut().unwrap().number = 2;
    tampered.data.as_mut().unwrap().data = vec![b"other".to_vec()];
    tampered.header.as_mut().unwrap().data_hash =
        fabgossip::crypto::block::block_data_hash(tampered.data.as_ref().unwrap());
    let bad = [
        block_after(&b1, b"tx2", None),
        block_after(&b1, b"tx2", Some(&peers[1].1)),
        block_after(&b1, b"tx2", Some(&rogue)),
        tampered,
    ];
    for (k, b) in bad.iter().enumerate() {
        let r = alpha0.add_payload(CH, 2, b.encode_to_vec()).await;
        assert!(
            matches!(r, Err(ChannelCallError::InvalidBlock(_))),
            "bad block {k}: {r:?}"
        );
        assert_eq!(
            crypto0.counters().blocks_rejected,
            k as u64 + 1,
            "bad block {k}"
        );
        // The channel's drop counter, as published with the next snapshot.
        wait_until("the refusal is counted", Duration::from_secs(30), || {
            invalid(alpha0) == k as u64 + 1
        })
        .await;
    }
    assert_eq!(alpha0.ledger_height(CH), Some(2));
    let b2 = block_after(&b1, b"tx2", Some(&orderer));
    alpha0.add_payload(CH, 2, b2.encode_to_vec()).await.unwrap();
    wait_until("block 2 committed", Duration::from_secs(30), || {
        peers[..2]
            .iter()
            .all(|(p, _)| p.ledger_height(CH) == Some(3))
    })
    .await;

    // Leaving forgets the channel's MSPs: Beta is unknown again.
    assert!(peers[1].1.validate_identity(&beta_identity).is_ok());
    peers[1].0.leave_channel(CH).await.unwrap();
    assert!(peers[1].1.validate_identity(&beta_identity).is_err());
    for (p, _) in peers {
        p.stop().await;
    }
}
