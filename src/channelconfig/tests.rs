//! Tests on the fixture blocks of `tests/channelconfig` (made by Fabric's configtxgen) and on
//! built policy trees.

use std::cell::Cell;
use std::collections::BTreeMap;

use prost::Message;

use super::*;
use crate::proto::common::{
    msp_principal, msp_role, policy::PolicyType, signature_policy, Block, BlockData, ChannelHeader,
    Config, ConfigEnvelope, ConfigGroup, ConfigPolicy, ConfigValue, Envelope, Header, HeaderType,
    ImplicitMetaPolicy, MspPrincipal, MspRole, Payload, SignaturePolicy, SignaturePolicyEnvelope,
};

const GENESIS: &[u8] = include_bytes!("../../tests/channelconfig/genesis.block");
const UPDATE: &[u8] = include_bytes!("../../tests/channelconfig/anchor-update.block");

fn genesis() -> (ConfigBlock, ChannelConfig) {
    ChannelConfig::from_block_bytes(GENESIS).unwrap()
}

fn app_org<'a>(c: &'a ChannelConfig, msp: &str) -> &'a ApplicationOrg {
    c.application_orgs
        .iter()
        .find(|o| o.msp.msp_id == msp)
        .unwrap()
}

fn is_pem_cert(b: &[u8]) -> bool {
    String::from_utf8_lossy(b).starts_with("-----BEGIN CERTIFICATE-----")
}

#[test]
fn the_genesis_block_is_block_zero_of_the_channel() {
    let (block, config) = genesis();
    assert_eq!(block.number, 0);
    assert!(block.is_genesis());
    assert_eq!(block.last_config, Some(0));
    assert_eq!(block.channel_id, "fixturechannel");
    assert_eq!(config.channel_id, "fixturechannel");
    assert_eq!(config.sequence, 0);
    assert!(is_config_block(&Block::decode(GENESIS).unwrap()));
}

#[test]
fn application_orgs_with_their_msps_and_anchor_peers() {
    let (_, c) = genesis();
    assert_eq!(c.member_orgs(), ["AlphaMSP", "BetaMSP"]);
    let alpha = app_org(&c, "AlphaMSP");
    assert_eq!(alpha.name, "Alpha");
    assert_eq!(
        alpha.anchor_peers,
        [AnchorPeerAddr {
            host: "peer0.alpha.fixture.test".into(),
            port: 7051
        }]
    );
    let beta = app_org(&c, "BetaMSP");
    assert_eq!(beta.name, "Beta");
    assert_eq!(beta.anchor_peers[0].port, 9051);
    for org in [alpha, beta] {
        let m = &org.msp;
        assert_eq!(m.root_certs.len(), 1);
        assert!(is_pem_cert(&m.root_certs[0]));
        assert!(m.intermediate_certs.is_empty());
        assert!(m.revocation_list.is_empty());
        assert_eq!(m.tls_root_certs.len(), 1);
        assert!(is_pem_cert(&m.tls_root_certs[0]));
        assert!(m.tls_intermediate_certs.is_empty());
        // cryptogen with NodeOUs: roles by OU, no admin certificates.
        assert!(m.admins.is_empty());
        let ous = m.node_ous.as_ref().expect("NodeOUs enabled");
        let ou = |o: &Option<crate::proto::msp::FabricOuIdentifier>| {
            o.as_ref().unwrap().organizational_unit_identifier.clone()
        };
        assert_eq!(ou(&ous.peer_ou_identifier), "peer");
        assert_eq!(ou(&ous.client_ou_identifier), "client");
        assert_eq!(ou(&ous.admin_ou_identifier), "admin");
        assert_eq!(ou(&ous.orderer_ou_identifier), "orderer");
        assert_eq!(m.config.name, m.msp_id);
    }
    assert_ne!(alpha.msp.root_certs, beta.msp.root_certs);
}

#[test]
fn orderer_orgs_consensus_and_consenters() {
    let (_, c) = genesis();
    let o = &c.orderer;
    assert_eq!(o.consensus_type, "etcdraft");
    assert!(!o.maintenance);
    assert_eq!(o.consenters.len(), 1);
    let k = &o.consenters[0];
    assert_eq!((k.host.as_str(), k.port), ("raft0.ord.fixture.test", 7050));
    assert!(is_pem_cert(&k.client_tls_cert) && is_pem_cert(&k.server_tls_cert));
    assert_eq!((k.id, k.msp_id.as_ref()), (None, None));
    assert_eq!(o.orgs.len(), 1);
    assert_eq!(o.orgs[0].name, "Ordering");
    assert_eq!(o.orgs[0].msp.msp_id, "OrderingMSP");
    assert_eq!(o.orgs[0].endpoints, ["raft0.ord.fixture.test:7050"]);
    assert_eq!(o.orgs[0].msp.tls_root_certs.len(), 1);
    // configtxgen puts endpoints on the org, none globally.
    assert!(c.orderer_addresses.is_empty());
}

#[test]
fn capabilities_hashing_and_policies() {
    let (_, c) = genesis();
    let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    assert_eq!(c.capabilities.channel, set(&["V2_0"]));
    assert_eq!(c.capabilities.application, set(&["V2_5"]));
    assert_eq!(c.capabilities.orderer, set(&["V2_0"]));
    assert_eq!(c.hashing_algorithm.as_deref(), Some("SHA256"));
    let p = &c.policies;
    let at = |path: &[&str], name: &str| p.group(path).unwrap().policies[name].clone();
    assert_eq!(
        at(&["Application"], "Readers"),
        Policy::ImplicitMeta {
            sub_policy: "Readers".into(),
            rule: MetaRule::Any
        }
    );
    assert_eq!(
        at(&["Application"], "Admins"),
        Policy::ImplicitMeta {
            sub_policy: "Admins".into(),
            rule: MetaRule::Majority
        }
    );
    assert_eq!(
        at(&["Orderer"], "BlockValidation"),
        Policy::ImplicitMeta {
            sub_policy: "Writers".into(),
            rule: MetaRule::Any
        }
    );
    let Policy::Signature(env) = at(&["Application", "Alpha"], "Readers") else {
        panic!("Alpha/Readers is a signature policy");
    };
    assert_eq!(env.identities.len(), 3);
    assert!(matches!(at(&[], "Readers"), Policy::ImplicitMeta { .. }));
}

#[test]
fn the_join_message_of_the_genesis_block() {
    let (_, c) = genesis();
    let j = c.join_message();
    assert_eq!(j.sequence, 0);
    assert_eq!(j.members, ["AlphaMSP", "BetaMSP"]);
    let anchors: Vec<_> = j
        .anchor_peers
        .iter()
        .map(|a| (a.org.as_str(), a.host.as_str(), a.port))
        .collect();
    assert_eq!(
        anchors,
        [
            ("AlphaMSP", "peer0.alpha.fixture.test", 7051),
            ("BetaMSP", "peer0.beta.fixture.test", 9051)
        ]
    );
    assert_eq!(j.orderers.len(), 1);
    assert_eq!(j.orderers[0].endpoint, "raft0.ord.fixture.test:7050");
    let pem = j.orderers[0].tls_root_cert.as_deref().unwrap();
    assert!(is_pem_cert(pem.as_bytes()));
    assert_eq!(
        pem.as_bytes().trim_ascii_end(),
        c.orderer.orgs[0].msp.tls_root_certs[0].trim_ascii_end()
    );
    assert_eq!(j.orderers[0].public_key, None);
}

#[test]
fn global_orderer_addresses_when_no_org_names_endpoints() {
    let (_, mut c) = genesis();
    c.orderer.orgs[0].endpoints.clear();
    c.orderer_addresses = vec!["o1:7050".into(), "o2:7050".into()];
    let j = c.join_message();
    let eps: Vec<_> = j.orderers.iter().map(|o| o.endpoint.as_str()).collect();
    assert_eq!(eps, ["o1:7050", "o2:7050"]);
    assert!(j.orderers.iter().all(|o| o.tls_root_cert.is_some()));
}

#[test]
fn the_anchor_update_block_is_the_next_config() {
    let (block, c) = ChannelConfig::from_block_bytes(UPDATE).unwrap();
    assert_eq!(block.number, 1);
    assert!(!block.is_genesis());
    assert_eq!(block.last_config, Some(1));
    assert_eq!(c.sequence, 1);
    assert_eq!(
        app_org(&c, "AlphaMSP").anchor_peers,
        [AnchorPeerAddr {
            host: "peer1.alpha.fixture.test".into(),
            port: 8051
        }]
    );
    assert_eq!(app_org(&c, "BetaMSP").anchor_peers[0].port, 9051);
    let j = c.join_message();
    assert_eq!(j.sequence, 1);
    assert!(j
        .anchor_peers
        .iter()
        .any(|a| a.org == "AlphaMSP" && a.host == "peer1.alpha.fixture.test"));
    // It chains to the genesis block.
    let g = Block::decode(GENESIS).unwrap();
    let u = Block::decode(UPDATE).unwrap();
    assert_eq!(
        u.header.unwrap().previous_hash,
        crate::crypto::block::block_header_hash(g.header.as_ref().unwrap())
    );
}

#[test]
fn only_a_sound_block_zero_of_the_channel_passes_as_genesis() {
    use crate::state::BlockVerifier;
    let g = GenesisBlockCheck;
    assert!(g.verify_block("fixturechannel", 0, GENESIS).is_ok());
    let e = |r: Result<(), crate::crypto::CryptoError>| r.unwrap_err().to_string();
    assert!(e(g.verify_block("other", 0, GENESIS)).contains("not \"other\""));
    assert!(e(g.verify_block("fixturechannel", 1, UPDATE)).contains("block 1 given as a genesis"));
    assert!(e(g.verify_block("fixturechannel", 0, UPDATE)).contains("block 1"));
    let mut b = Block::decode(GENESIS).unwrap();
    b.data.as_mut().unwrap().data[0].push(0);
    assert!(e(g.verify_block("fixturechannel", 0, &b.encode_to_vec())).contains("data hash"));
    assert!(g.verify_block("fixturechannel", 0, b"\xff").is_err());
}

#[test]
fn config_blocks_are_told_apart_cheaply() {
    assert!(is_config_block_bytes(GENESIS));
    assert!(is_config_block_bytes(UPDATE));
    let tx = config_block_with(genesis_config(), HeaderType::EndorserTransaction);
    assert!(!is_config_block_bytes(&tx));
    let plain = crate::crypto::block::new_block(3, vec![1; 32], vec![b"tx".to_vec()]);
    assert!(!is_config_block_bytes(&plain.encode_to_vec()));
    // Cut anywhere: an answer, never a panic.
    for len in 0..GENESIS.len() {
        let _ = is_config_block_bytes(&GENESIS[..len]);
    }
    assert!(!is_config_block_bytes(b""));
}

// ---- bad input ----

fn config_block_with(config: Config, kind: HeaderType) -> Vec<u8> {
    let ch = ChannelHeader {
        r#type: kind as i32,
        channel_id: "ch".into(),
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
    crate::crypto::block::new_block(0, Vec::new(), vec![env.encode_to_vec()]).encode_to_vec()
}

fn genesis_config() -> Config {
    genesis().0.config
}

fn refusal(config: Config) -> ConfigError {
    ChannelConfig::from_block_bytes(&config_block_with(config, HeaderType::Config)).unwrap_err()
}

fn root(c: &mut Config) -> &mut ConfigGroup {
    c.channel_group.as_mut().unwrap()
}

fn alpha(c: &mut Config) -> &mut ConfigGroup {
    root(c)
        .groups
        .get_mut("Application")
        .unwrap()
        .groups
        .get_mut("Alpha")
        .unwrap()
}

#[test]
fn a_refusal_names_what_and_where() {
    let e = ChannelConfig::from_block_bytes(b"").unwrap_err();
    assert_eq!(e.path, "block.header");
    let e = ChannelConfig::from_block_bytes(b"\xff\xff\xff").unwrap_err();
    assert_eq!(e.path, "block");
    assert!(e.reason.starts_with("malformed"));

    let e = ChannelConfig::from_block_bytes(&config_block_with(
        genesis_config(),
        HeaderType::EndorserTransaction,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("is not CONFIG"), "{e}");

    let two = crate::crypto::block::new_block(0, Vec::new(), vec![vec![], vec![]]);
    let e = ChannelConfig::from_block_bytes(&two.encode_to_vec()).unwrap_err();
    assert!(e.reason.contains("2 envelopes"), "{e}");
    let none = Block {
        data: Some(BlockData::default()),
        ..Block::decode(GENESIS).unwrap()
    };
    let e = ChannelConfig::from_block_bytes(&none.encode_to_vec()).unwrap_err();
    assert_eq!(e.path, "block.data[0]");

    let mut c = genesis_config();
    root(&mut c).groups.remove("Application");
    assert_eq!(refusal(c).to_string(), "Channel/Application: missing");

    let mut c = genesis_config();
    alpha(&mut c).values.remove("MSP");
    assert_eq!(
        refusal(c).to_string(),
        "Channel/Application/Alpha/MSP: missing"
    );

    let mut c = genesis_config();
    alpha(&mut c).values.get_mut("MSP").unwrap().value = vec![0x0a, 0xff];
    let e = refusal(c);
    assert_eq!(e.path, "Channel/Application/Alpha/MSP");
    assert!(e.reason.starts_with("malformed"), "{e}");

    let mut c = genesis_config();
    alpha(&mut c).values.get_mut("MSP").unwrap().value = crate::proto::msp::MspConfig {
        r#type: 1,
        config: Vec::new(),
    }
    .encode_to_vec();
    assert!(refusal(c).reason.contains("MSP type 1 is not supported"));

    for port in [0, -1, 70000] {
        let mut c = genesis_config();
        alpha(&mut c).values.insert(
            "AnchorPeers".into(),
            ConfigValue {
                value: crate::proto::protos::AnchorPeers {
                    anchor_peers: vec![crate::proto::protos::AnchorPeer {
                        host: "h".into(),
                        port,
                    }],
                }
                .encode_to_vec(),
                ..Default::default()
            },
        );
        let e = refusal(c);
        assert_eq!(
            e.path, "Channel/Application/Alpha/AnchorPeers[0].port",
            "{e}"
        );
    }

    let mut c = genesis_config();
    let orderer = root(&mut c).groups.get_mut("Orderer").unwrap();
    orderer.values.get_mut("ConsensusType").unwrap().value = crate::proto::orderer::ConsensusType {
        r#type: "etcdraft".into(),
        metadata: vec![0x0a, 0x05, 1],
        state: 0,
    }
    .encode_to_vec();
    assert_eq!(refusal(c).path, "Channel/Orderer/ConsensusType.metadata");

    let mut c = genesis_config();
    root(&mut c)
        .groups
        .get_mut("Orderer")
        .unwrap()
        .values
        .remove("ConsensusType");
    assert_eq!(
        refusal(c).to_string(),
        "Channel/Orderer/ConsensusType: missing"
    );

    let mut c = genesis_config();
    alpha(&mut c).policies.get_mut("Readers").unwrap().policy = None;
    assert_eq!(
        refusal(c).to_string(),
        "Channel/Application/Alpha/policies/Readers: missing"
    );

    let mut c = genesis_config();
    let beta_msp = root(&mut c).groups["Application"].groups["Beta"].values["MSP"].clone();
    alpha(&mut c).values.insert("MSP".into(), beta_msp);
    assert!(refusal(c).reason.contains("BetaMSP is used by another org"));
}

#[test]
fn cut_and_flipped_blocks_are_refused_without_panic() {
    for len in (0..GENESIS.len()).step_by(97) {
        assert!(ChannelConfig::from_block_bytes(&GENESIS[..len]).is_err());
    }
    let mut b = GENESIS.to_vec();
    for i in (0..b.len()).step_by(131) {
        b[i] ^= 0x5a;
        // Either refused or read: never a panic.
        let _ = ChannelConfig::from_block_bytes(&b);
        b[i] ^= 0x5a;
    }
}

// ---- policy evaluation ----

/// Identities are `MSPID/role` texts; a signature is valid when it equals `ok`. Counts the
/// signature checks.
#[derive(Default)]
struct FakeMsps {
    verified: Cell<usize>,
}

impl PrincipalCheck for FakeMsps {
    fn satisfies_principal(&self, identity: &[u8], principal: &MspPrincipal) -> bool {
        if principal.principal_classification != msp_principal::Classification::Role as i32 {
            return false;
        }
        let Ok(role) = MspRole::decode(&principal.principal[..]) else {
            return false;
        };
        let text = String::from_utf8_lossy(identity);
        let Some((msp, r)) = text.split_once('/') else {
            return false;
        };
        let wanted = msp_role::MspRoleType::try_from(role.role)
            .map(|t| t.as_str_name().to_ascii_lowercase())
            .unwrap_or_default();
        msp == role.msp_identifier && (wanted == "member" || wanted == r)
    }

    fn verify_signature(&self, _identity: &[u8], _data: &[u8], signature: &[u8]) -> bool {
        self.verified.set(self.verified.get() + 1);
        signature == b"ok"
    }
}

fn signed(ids: &[&str]) -> Vec<SignedData> {
    ids.iter()
        .map(|i| SignedData {
            identity: i.as_bytes().to_vec(),
            data: b"msg".to_vec(),
            signature: b"ok".to_vec(),
        })
        .collect()
}

#[test]
fn the_fixture_readers_and_block_validation_policies() {
    let (_, c) = genesis();
    let m = FakeMsps::default();
    for (who, readers, block_validation) in [
        ("AlphaMSP/peer", true, false),
        ("BetaMSP/client", true, false),
        ("BetaMSP/admin", true, false),
        ("OrderingMSP/orderer", false, true),
        ("GammaMSP/peer", false, false),
    ] {
        let s = signed(&[who]);
        assert_eq!(c.evaluate(READERS_POLICY, &s, &m).is_ok(), readers, "{who}");
        assert_eq!(
            c.evaluate(BLOCK_VALIDATION_POLICY, &s, &m).is_ok(),
            block_validation,
            "{who}"
        );
    }
    assert_eq!(
        c.evaluate(READERS_POLICY, &[], &m),
        Err(PolicyError::NotSatisfied(READERS_POLICY.into()))
    );
    // Application Admins is MAJORITY: one admin of two orgs is not enough.
    let admins = "/Channel/Application/Admins";
    assert!(c
        .evaluate(admins, &signed(&["AlphaMSP/admin"]), &m)
        .is_err());
    assert!(c
        .evaluate(admins, &signed(&["AlphaMSP/admin", "BetaMSP/admin"]), &m)
        .is_ok());
    assert_eq!(
        c.evaluate("/Channel/Application/Nope", &[], &m),
        Err(PolicyError::NotFound("/Channel/Application/Nope".into()))
    );
    assert!(matches!(
        c.evaluate("Readers", &[], &m),
        Err(PolicyError::NotFound(_))
    ));
}

#[test]
fn a_signature_is_checked_once_and_a_bad_one_counts_for_nothing() {
    let (_, c) = genesis();
    let m = FakeMsps::default();
    let mut s = signed(&["AlphaMSP/peer", "AlphaMSP/peer", "BetaMSP/peer"]);
    s[2].signature = b"forged".to_vec();
    // The duplicate is dropped before its check; three ImplicitMeta branches reuse the
    // verified set.
    let signers = verified_signers(&m, &s);
    assert_eq!(signers, [b"AlphaMSP/peer".as_slice()]);
    assert_eq!(m.verified.get(), 2);
    let m = FakeMsps::default();
    let forged = {
        let mut f = signed(&["BetaMSP/peer"]);
        f[0].signature = b"x".to_vec();
        f
    };
    assert!(c.evaluate(READERS_POLICY, &forged, &m).is_err());
    assert_eq!(m.verified.get(), 1);
}

fn role(msp: &str, r: msp_role::MspRoleType) -> MspPrincipal {
    MspPrincipal {
        principal_classification: msp_principal::Classification::Role as i32,
        principal: MspRole {
            msp_identifier: msp.into(),
            role: r as i32,
        }
        .encode_to_vec(),
    }
}

fn signed_by(i: i32) -> SignaturePolicy {
    SignaturePolicy {
        r#type: Some(signature_policy::Type::SignedBy(i)),
    }
}

fn n_of(n: i32, rules: Vec<SignaturePolicy>) -> SignaturePolicy {
    SignaturePolicy {
        r#type: Some(signature_policy::Type::NOutOf(signature_policy::NOutOf {
            n,
            rules,
        })),
    }
}

fn sig_policy(rule: SignaturePolicy, identities: Vec<MspPrincipal>) -> Policy {
    Policy::Signature(SignaturePolicyEnvelope {
        version: 0,
        rule: Some(rule),
        identities,
    })
}

fn tree_with(policy: Policy) -> PolicyGroup {
    let mut g = PolicyGroup::default();
    g.policies.insert("P".into(), policy);
    g
}

fn holds(tree: &PolicyGroup, ids: &[&str]) -> bool {
    let m = FakeMsps::default();
    let ids: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes()).collect();
    evaluate(tree, "/Channel/P", &ids, &m).is_ok()
}

#[test]
fn n_out_of_m_principals() {
    use msp_role::MspRoleType::*;
    let principals = vec![role("A", Member), role("B", Member), role("C", Member)];
    let two_of_three = tree_with(sig_policy(
        n_of(2, vec![signed_by(0), signed_by(1), signed_by(2)]),
        principals.clone(),
    ));
    assert!(!holds(&two_of_three, &["A/peer"]));
    assert!(holds(&two_of_three, &["A/peer", "C/client"]));
    assert!(holds(&two_of_three, &["C/peer", "B/admin", "A/peer"]));
    assert!(!holds(&two_of_three, &["A/peer", "D/peer"]));
    // An out-of-range principal index is never satisfied.
    let bad_index = tree_with(sig_policy(signed_by(7), principals));
    assert!(!holds(&bad_index, &["A/peer"]));
}

#[test]
fn one_identity_satisfies_one_principal() {
    use msp_role::MspRoleType::*;
    // Two signatures of org A are needed: one A peer cannot count twice.
    let two_a = tree_with(sig_policy(
        n_of(2, vec![signed_by(0), signed_by(1)]),
        vec![role("A", Member), role("A", Peer)],
    ));
    assert!(!holds(&two_a, &["A/peer"]));
    assert!(holds(&two_a, &["A/client", "A/peer"]));
    assert!(!holds(&two_a, &["A/client", "A/admin"]));
    // Greedy, as Fabric evaluates: the member principal takes the first A identity, the
    // peer, so the peer principal finds none left.
    assert!(!holds(&two_a, &["A/peer", "A/client"]));
    // A failed branch gives its claims back: OR(AND(A, B), A) with only A holds.
    let back = tree_with(sig_policy(
        n_of(
            1,
            vec![n_of(2, vec![signed_by(0), signed_by(1)]), signed_by(0)],
        ),
        vec![role("A", Member), role("B", Member)],
    ));
    assert!(holds(&back, &["A/peer"]));
}

#[test]
fn nested_rules() {
    use msp_role::MspRoleType::*;
    // AND(A admin, OR(B peer, 2-of(C, D, E)))
    let p = tree_with(sig_policy(
        n_of(
            2,
            vec![
                signed_by(0),
                n_of(
                    1,
                    vec![
                        signed_by(1),
                        n_of(2, vec![signed_by(2), signed_by(3), signed_by(4)]),
                    ],
                ),
            ],
        ),
        vec![
            role("A", Admin),
            role("B", Peer),
            role("C", Member),
            role("D", Member),
            role("E", Member),
        ],
    ));
    assert!(holds(&p, &["A/admin", "B/peer"]));
    assert!(holds(&p, &["A/admin", "C/peer", "E/peer"]));
    assert!(!holds(&p, &["A/admin", "C/peer"]));
    assert!(!holds(&p, &["A/peer", "B/peer"]));
    assert!(!holds(&p, &["B/peer", "C/peer", "D/peer"]));
}

/// `Channel` with sub-groups A, B, C whose `Readers` is "signed by a member of the org";
/// `P` is ImplicitMeta `rule` over them.
fn meta_tree(rule: MetaRule) -> PolicyGroup {
    use msp_role::MspRoleType::*;
    let mut root = tree_with(Policy::ImplicitMeta {
        sub_policy: "Readers".into(),
        rule,
    });
    for org in ["A", "B", "C"] {
        let mut g = PolicyGroup::default();
        g.policies.insert(
            "Readers".into(),
            sig_policy(signed_by(0), vec![role(org, Member)]),
        );
        root.groups.insert(org.into(), g);
    }
    root
}

#[test]
fn implicit_meta_any_all_majority() {
    let any = meta_tree(MetaRule::Any);
    assert!(holds(&any, &["B/peer"]));
    assert!(!holds(&any, &["D/peer"]));
    assert!(!holds(&any, &[]));
    let all = meta_tree(MetaRule::All);
    assert!(!holds(&all, &["A/peer", "B/peer"]));
    assert!(holds(&all, &["A/peer", "B/peer", "C/peer"]));
    let majority = meta_tree(MetaRule::Majority);
    assert!(!holds(&majority, &["A/peer"]));
    assert!(holds(&majority, &["A/peer", "C/peer"]));
    // The same identity may satisfy several sub-groups' policies (each is evaluated on
    // its own); here no identity spans orgs, so this checks independence of the claims.
    assert!(holds(&majority, &["C/peer", "A/admin", "D/peer"]));

    // A sub-group without the sub-policy counts as not satisfied.
    let mut all_missing = meta_tree(MetaRule::All);
    all_missing.groups.get_mut("C").unwrap().policies.clear();
    assert!(!holds(&all_missing, &["A/peer", "B/peer", "C/peer"]));
    // Over no sub-groups: ALL holds, ANY and MAJORITY do not (Fabric's thresholds).
    for (rule, want) in [
        (MetaRule::All, true),
        (MetaRule::Any, false),
        (MetaRule::Majority, false),
    ] {
        let mut t = meta_tree(rule);
        t.groups.clear();
        assert_eq!(holds(&t, &["A/peer"]), want, "{rule:?}");
    }
}

#[test]
fn nested_implicit_meta_and_unsupported_types() {
    // /Channel/P = ALL Q; each of X and Y has Q = ANY Readers over its own A, B, C.
    let mut root = tree_with(Policy::ImplicitMeta {
        sub_policy: "Q".into(),
        rule: MetaRule::All,
    });
    for side in ["X", "Y"] {
        let mut g = meta_tree(MetaRule::Any);
        let any = g.policies.remove("P").unwrap();
        g.policies.insert("Q".into(), any);
        root.groups.insert(side.into(), g);
    }
    assert!(holds(&root, &["B/peer"]));
    root.groups.get_mut("Y").unwrap().groups.clear();
    assert!(!holds(&root, &["B/peer"]));

    let unsupported = tree_with(Policy::Unsupported(PolicyType::Msp as i32));
    let m = FakeMsps::default();
    assert_eq!(
        evaluate(&unsupported, "/Channel/P", &[], &m),
        Err(PolicyError::Unsupported {
            path: "/Channel/P".into(),
            kind: 2
        })
    );
}

#[test]
fn policies_parse_from_config_groups() {
    let mut g = ConfigGroup::default();
    let meta = |rule: i32, sub: &str| ConfigPolicy {
        policy: Some(crate::proto::common::Policy {
            r#type: PolicyType::ImplicitMeta as i32,
            value: ImplicitMetaPolicy {
                sub_policy: sub.into(),
                rule,
            }
            .encode_to_vec(),
        }),
        ..Default::default()
    };
    g.policies = BTreeMap::from([("R".to_string(), meta(2, "Readers"))])
        .into_iter()
        .collect();
    let t = PolicyGroup::from_group(&g, "Channel").unwrap();
    assert_eq!(
        t.policies["R"],
        Policy::ImplicitMeta {
            sub_policy: "Readers".into(),
            rule: MetaRule::Majority
        }
    );
    g.policies.insert("R".into(), meta(9, "Readers"));
    let e = PolicyGroup::from_group(&g, "Channel").unwrap_err();
    assert!(e.reason.contains("unknown ImplicitMeta rule 9"), "{e}");
    g.policies.insert("R".into(), meta(0, ""));
    let e = PolicyGroup::from_group(&g, "Channel").unwrap_err();
    assert_eq!(e.to_string(), "Channel/policies/R.sub_policy: missing");
    let mut sig = meta(0, "x");
    sig.policy.as_mut().unwrap().r#type = PolicyType::Signature as i32;
    sig.policy.as_mut().unwrap().value = SignaturePolicyEnvelope::default().encode_to_vec();
    g.policies.insert("R".into(), sig);
    let e = PolicyGroup::from_group(&g, "Channel").unwrap_err();
    assert_eq!(e.to_string(), "Channel/policies/R.rule: missing");
}
