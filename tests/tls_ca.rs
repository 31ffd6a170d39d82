//! Gossip TLS CA enforcement on whole nodes over loopback gRPC: with TLS on, a peer whose TLS
//! certificate chains to no TLS CA of the channel's config is refused at the TLS layer in both
//! directions (dialed and dialing) and counted by reason; peers with certificates of the orgs'
//! TLS CAs connect; a config block adding the unknown CA to an org's TLS CAs lets it in.

mod support;
use support::{free_port, tempdir, wait_until};

use std::path::Path;
use std::time::Duration;

use fabgossip::channelconfig::ConfigBlock;
use fabgossip::comm::TlsRefusal;
use fabgossip::config::Config;
use fabgossip::crypto::block::{block_header_hash, new_block, orderer_block_metadata};
use fabgossip::node::GossipService;
use fabgossip::proto::common::{
    Block, BlockMetadataIndex, ChannelHeader, Config as ChannelConfigProto, ConfigEnvelope,
    Envelope, Header, HeaderType, Metadata, Payload,
};
use fabgossip::proto::msp::{FabricMspConfig, MspConfig};
use fabgossip::proto::protos::{AnchorPeer, AnchorPeers};
use prost::Message;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

const CH: &str = "fixturechannel";
const GENESIS: &[u8] = include_bytes!("channelconfig/genesis.block");
const LONG: Duration = Duration::from_secs(60);

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn tls_ca(cn: &str) -> Ca {
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

/// A TLS server and client certificate for 127.0.0.1 issued by `ca`, as cryptogen makes
/// them, written as `dir/{name}.crt` and `dir/{name}.key`.
fn tls_cert(dir: &Path, ca: &Ca, name: &str) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string(), name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2090, 1, 1);
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

async fn start(name: &str, org: &str, port: u16, dir: &Path, seed: u8) -> GossipService {
    let text = format!(
        "peer:\n  id: {name}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {fs}\n  tls:\n    enabled: true\n    cert: {{file: {d}/{name}.crt}}\n    key: {{file: {d}/{name}.key}}\n  gossip:\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    pullInterval: 500ms\nfabgossip:\n  trustedOrgs: [{org}]\n  identitySeed: '{seed}'\n",
        fs = dir.join(name).display(),
        d = dir.display(),
        seed = hex::encode([seed; 32]),
    );
    GossipService::start_builtin(Config::parse(&text).unwrap())
        .await
        .unwrap()
}

/// Sets org `org`'s TLS root CAs and anchor peer in `config`.
fn set_org(config: &mut ChannelConfigProto, org: &str, tls_roots: &[&Ca], anchor: u16) {
    let g = config
        .channel_group
        .as_mut()
        .unwrap()
        .groups
        .get_mut("Application")
        .unwrap()
        .groups
        .get_mut(org)
        .unwrap();
    let msp = g.values.get_mut("MSP").unwrap();
    let mut m = MspConfig::decode(msp.value.as_slice()).unwrap();
    let mut f = FabricMspConfig::decode(m.config.as_slice()).unwrap();
    f.tls_root_certs = tls_roots
        .iter()
        .map(|c| c.pem.clone().into_bytes())
        .collect();
    f.tls_intermediate_certs.clear();
    m.config = f.encode_to_vec();
    msp.value = m.encode_to_vec();
    msp.version += 1;
    let anchors = g.values.get_mut("AnchorPeers").unwrap();
    anchors.value = AnchorPeers {
        anchor_peers: vec![AnchorPeer {
            host: "127.0.0.1".into(),
            port: anchor.into(),
        }],
    }
    .encode_to_vec();
    anchors.version += 1;
}

/// A config block at `number` after `prev` carrying `config`, as the ordering service cuts it
/// (unsigned: the fixture names no orderer keys for the built-in crypto).
fn config_block(number: u64, prev: Option<&Block>, config: ChannelConfigProto) -> Vec<u8> {
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
    };
    let prev_hash = prev
        .map(|b| block_header_hash(b.header.as_ref().unwrap()))
        .unwrap_or_default();
    let mut b = new_block(number, prev_hash, vec![env.encode_to_vec()]);
    b.metadata.as_mut().unwrap().metadata[BlockMetadataIndex::Signatures as usize] = Metadata {
        value: orderer_block_metadata(number),
        signatures: Vec::new(),
    }
    .encode_to_vec();
    b.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_certificate_of_an_unknown_ca_is_refused_both_ways_until_a_config_adds_its_ca() {
    let dir = tempdir("tls-ca");
    let (alpha_ca, beta_ca, rogue_ca) = (
        tls_ca("tlsca.alpha"),
        tls_ca("tlsca.beta"),
        tls_ca("tlsca.rogue"),
    );
    tls_cert(&dir, &alpha_ca, "alpha0");
    tls_cert(&dir, &beta_ca, "beta0");
    tls_cert(&dir, &rogue_ca, "alpha1");
    let (pa, pb, pr) = (free_port(), free_port(), free_port());

    // Alpha's anchor peer is the peer with the rogue certificate, Beta's is beta0: beta0
    // dials alpha1 (outbound refusal) and alpha1 dials beta0 (inbound refusal).
    let mut config = ConfigBlock::decode(GENESIS).unwrap().config;
    set_org(&mut config, "Alpha", &[&alpha_ca], pr);
    set_org(&mut config, "Beta", &[&beta_ca], pb);
    let genesis = config_block(0, None, config.clone());

    let alpha0 = start("alpha0", "AlphaMSP", pa, &dir, 1).await;
    let beta0 = start("beta0", "BetaMSP", pb, &dir, 2).await;
    let alpha1 = start("alpha1", "AlphaMSP", pr, &dir, 3).await;
    for p in [&alpha0, &beta0, &alpha1] {
        p.join_channel_with_block(CH, genesis.clone())
            .await
            .unwrap();
    }
    let sees = |p: &GossipService, port: u16| {
        p.peers()
            .iter()
            .any(|m| m.endpoint == format!("127.0.0.1:{port}"))
    };
    wait_until(
        "alpha0 and beta0 (known TLS CAs) see each other",
        LONG,
        || sees(&alpha0, pb) && sees(&beta0, pa),
    )
    .await;
    let refused = |p: &GossipService, inbound: bool| {
        p.comm_metrics()
            .tls_refused
            .get(inbound, TlsRefusal::UnknownCa)
    };
    wait_until(
        "beta0 refused alpha1's certificate as a client and as a server",
        LONG,
        || refused(&beta0, true) > 0 && refused(&beta0, false) > 0,
    )
    .await;
    assert!(!sees(&beta0, pr) && !sees(&alpha0, pr));
    assert!(alpha1.peers().is_empty(), "{:?}", alpha1.peers());
    let text = beta0.metrics_text();
    assert!(
        text.lines().any(|l| l.starts_with(
            "fabgossip_comm_tls_refused{direction=\"outbound\",reason=\"unknown_ca\"} "
        ) && !l.ends_with(" 0")),
        "{text}"
    );

    // A config update adds the rogue CA to Alpha's TLS CAs: once committed, beta0 takes
    // alpha1's certificate and alpha1 joins the membership.
    config.sequence += 1;
    set_org(&mut config, "Alpha", &[&alpha_ca, &rogue_ca], pr);
    let b0 = Block::decode(genesis.as_slice()).unwrap();
    let update = config_block(1, Some(&b0), config);
    // Each org's peers take blocks from their own org's leader (as from the orderer).
    for p in [&alpha0, &beta0] {
        p.add_payload(CH, 1, update.clone()).await.unwrap();
    }
    wait_until("alpha0 and beta0 committed the config block", LONG, || {
        alpha0.ledger_height(CH) == Some(2) && beta0.ledger_height(CH) == Some(2)
    })
    .await;
    wait_until("alpha1 is admitted by both", LONG, || {
        sees(&beta0, pr) && sees(&alpha0, pr) && sees(&alpha1, pa) && sees(&alpha1, pb)
    })
    .await;
    for p in [&alpha0, &beta0, &alpha1] {
        p.stop().await;
    }
}
