//! The fixture channel's real policy tree (configtxgen's genesis block) over MSPs of the test
//! PKI: the orgs' MSP values are swapped for test CAs whose keys the tests hold.

use prost::Message;

use super::*;
use crate::crypto::block::{new_block, orderer_block_metadata, sign_block, signature_header};
use crate::crypto::msp::{ChannelPolicies, MspCrypto};
use crate::crypto::{CryptoError, MessageCryptoService};
use crate::msp::test_pki::{config, leaf, root, sid, Ca, Leaf};
use crate::msp::LocalMsp;
use crate::proto::common::{
    Block, BlockMetadataIndex, IdentifierHeader, Metadata, MetadataSignature,
};
use crate::proto::msp::{MspConfig, SigningIdentityInfo};

const GENESIS: &[u8] = include_bytes!("../../tests/channelconfig/genesis.block");

struct Net {
    orderer_ca: Ca,
    alpha_ca: Ca,
    beta_ca: Ca,
    config: ChannelConfig,
}

fn set_msp(group: &mut crate::proto::common::ConfigGroup, ca: &Ca, mspid: &str) {
    let value = MspConfig {
        r#type: 0,
        config: config(mspid, &[ca], &[]).encode_to_vec(),
    };
    group.values.get_mut("MSP").unwrap().value = value.encode_to_vec();
}

fn net() -> Net {
    let (orderer_ca, alpha_ca, beta_ca) = (root("ca.ord"), root("ca.alpha"), root("ca.beta"));
    let (block, _) = ChannelConfig::from_block_bytes(GENESIS).unwrap();
    let mut c = block.config;
    let ch = c.channel_group.as_mut().unwrap();
    let ord = ch.groups.get_mut("Orderer").unwrap();
    set_msp(
        ord.groups.get_mut("Ordering").unwrap(),
        &orderer_ca,
        "OrderingMSP",
    );
    let app = ch.groups.get_mut("Application").unwrap();
    set_msp(app.groups.get_mut("Alpha").unwrap(), &alpha_ca, "AlphaMSP");
    set_msp(app.groups.get_mut("Beta").unwrap(), &beta_ca, "BetaMSP");
    let config = ChannelConfig::from_config(&block.channel_id, &c).unwrap();
    Net {
        orderer_ca,
        alpha_ca,
        beta_ca,
        config,
    }
}

impl Net {
    fn policies(&self) -> ChannelPolicyManager {
        ChannelPolicyManager::new(&self.config, self.config.msp_manager().unwrap())
    }
}

fn orderer(ca: &Ca) -> Leaf {
    leaf(ca, "orderer0", &["orderer"], 7)
}

fn chain_block(number: u64) -> Block {
    new_block(number, vec![1; 32], vec![b"tx".to_vec()])
}

fn signed_by(mut b: Block, mspid: &str, who: &Leaf) -> Block {
    let sh = signature_header(&sid(mspid, &who.pem), b"nonce");
    sign_block(&mut b, orderer_block_metadata(0), sh, |m| {
        Ok(who.key.sign_message(m).unwrap())
    })
    .unwrap();
    b
}

#[test]
fn a_block_signed_by_an_orderer_org_member_passes() {
    let n = net();
    let p = n.policies();
    let b = signed_by(chain_block(3), "OrderingMSP", &orderer(&n.orderer_ca));
    p.block_validation(3, &b.encode_to_vec()).unwrap();
}

#[test]
fn unsigned_foreign_bad_and_tampered_blocks_fail() {
    let n = net();
    let p = n.policies();
    let refused = |b: &Block| {
        let e = p.block_validation(3, &b.encode_to_vec()).unwrap_err();
        assert!(matches!(e, CryptoError::InvalidBlock(_)), "{e:?}");
        e.to_string()
    };
    let unsigned = chain_block(3);
    assert!(refused(&unsigned).contains("no SIGNATURES metadata"));
    // An empty signature list has no signer for ANY Writers of the orderer orgs.
    let mut empty = chain_block(3);
    empty.metadata.as_mut().unwrap().metadata[BlockMetadataIndex::Signatures as usize] = Metadata {
        value: orderer_block_metadata(0),
        signatures: Vec::new(),
    }
    .encode_to_vec();
    assert!(refused(&empty).contains("BlockValidation"));
    // A peer of a member org is not an orderer org member.
    let peer = leaf(&n.alpha_ca, "peer0", &["peer"], 2);
    refused(&signed_by(chain_block(3), "AlphaMSP", &peer));
    // An orderer cert from a CA the channel does not know, claiming the orderer org.
    let rogue = orderer(&root("ca.rogue"));
    refused(&signed_by(chain_block(3), "OrderingMSP", &rogue));
    // A real orderer's signature over other bytes.
    let o = orderer(&n.orderer_ca);
    let mut bad = chain_block(3);
    let sh = signature_header(&sid("OrderingMSP", &o.pem), b"nonce");
    sign_block(&mut bad, orderer_block_metadata(0), sh, |_| {
        Ok(o.key.sign_message(b"something else").unwrap())
    })
    .unwrap();
    refused(&bad);
    // The header changed after signing (previous hash rewritten).
    let mut tampered = signed_by(chain_block(3), "OrderingMSP", &o);
    tampered.header.as_mut().unwrap().previous_hash = vec![2; 32];
    refused(&tampered);
    // The signed metadata value changed after signing.
    let mut value = signed_by(chain_block(3), "OrderingMSP", &o);
    let slot =
        &mut value.metadata.as_mut().unwrap().metadata[BlockMetadataIndex::Signatures as usize];
    let mut md = Metadata::decode(slot.as_slice()).unwrap();
    md.value = orderer_block_metadata(1);
    *slot = md.encode_to_vec();
    refused(&value);
    // A signature header that does not decode refuses the block outright.
    let mut garbled = chain_block(3);
    garbled.metadata.as_mut().unwrap().metadata[BlockMetadataIndex::Signatures as usize] =
        Metadata {
            value: Vec::new(),
            signatures: vec![MetadataSignature {
                signature_header: vec![0xff, 0xff],
                signature: vec![1],
                identifier_header: Vec::new(),
            }],
        }
        .encode_to_vec();
    assert!(refused(&garbled).contains("signature header undecodable"));
    assert!(refused(&Block::default()).contains("no header"));
}

#[test]
fn a_bad_signature_beside_a_good_one_does_not_matter() {
    let n = net();
    let p = n.policies();
    let peer = leaf(&n.alpha_ca, "peer0", &["peer"], 2);
    let b = signed_by(chain_block(4), "AlphaMSP", &peer);
    let b = signed_by(b, "OrderingMSP", &orderer(&n.orderer_ca));
    p.block_validation(4, &b.encode_to_vec()).unwrap();
}

#[test]
fn bft_signers_named_by_consenter_id() {
    let mut n = net();
    let o = orderer(&n.orderer_ca);
    n.config.orderer.consensus_type = "BFT".into();
    n.config.orderer.consenters = vec![Consenter {
        host: "raft0".into(),
        port: 7050,
        client_tls_cert: Vec::new(),
        server_tls_cert: Vec::new(),
        id: Some(5),
        msp_id: Some("OrderingMSP".into()),
        identity: Some(o.pem.clone().into_bytes()),
    }];
    let p = n.policies();
    let with_id = |id: u32| {
        let mut b = chain_block(6);
        let ih = IdentifierHeader {
            identifier: id,
            nonce: b"n".to_vec(),
        }
        .encode_to_vec();
        let value = orderer_block_metadata(0);
        let signed =
            crate::crypto::block::block_signed_bytes(&value, &ih, b.header.as_ref().unwrap());
        b.metadata.as_mut().unwrap().metadata[BlockMetadataIndex::Signatures as usize] = Metadata {
            value,
            signatures: vec![MetadataSignature {
                signature_header: Vec::new(),
                signature: o.key.sign_message(&signed).unwrap(),
                identifier_header: ih,
            }],
        }
        .encode_to_vec();
        b.encode_to_vec()
    };
    p.block_validation(6, &with_id(5)).unwrap();
    // No consenter has id 6: the signature is skipped and nothing satisfies the policy.
    assert!(p.block_validation(6, &with_id(6)).is_err());
}

#[test]
fn readers_admit_member_orgs_only() {
    let n = net();
    let p = n.policies();
    let check = |mspid: &str, who: &Leaf| {
        let sig = who.key.sign_message(b"stateinfo").unwrap();
        p.readers(&sid(mspid, &who.pem), &sig, b"stateinfo")
    };
    check("AlphaMSP", &leaf(&n.alpha_ca, "peer0", &["peer"], 2)).unwrap();
    check("BetaMSP", &leaf(&n.beta_ca, "peer0", &["peer"], 2)).unwrap();
    // The orderer org is in the channel but not among the application Readers.
    let e = check("OrderingMSP", &orderer(&n.orderer_ca)).unwrap_err();
    assert!(matches!(e, CryptoError::NotInChannel(_)), "{e:?}");
    // A foreign org; and a foreign CA claiming a member org.
    check("GammaMSP", &leaf(&root("ca.gamma"), "peer0", &["peer"], 2)).unwrap_err();
    check("AlphaMSP", &leaf(&root("ca.fake"), "peer0", &["peer"], 2)).unwrap_err();
    // A member's identity with a signature over other bytes.
    let a = leaf(&n.alpha_ca, "peer1", &["peer"], 3);
    let sig = a.key.sign_message(b"other").unwrap();
    p.readers(&sid("AlphaMSP", &a.pem), &sig, b"stateinfo")
        .unwrap_err();
}

#[test]
fn the_crypto_of_a_peer_uses_the_channel_policies() {
    let n = net();
    let me = leaf(&n.beta_ca, "peer0", &["peer"], 9);
    let mut conf = config("BetaMSP", &[&n.beta_ca], &[]);
    conf.signing_identity = Some(SigningIdentityInfo {
        public_signer: me.pem.clone().into_bytes(),
        private_signer: None,
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let crypto = MspCrypto::new(LocalMsp::new(conf, me.key, now).unwrap());
    let ch = &n.config.channel_id;
    let alpha = leaf(&n.alpha_ca, "peer0", &["peer"], 2);
    let sig = alpha.key.sign_message(b"m").unwrap();
    let alpha_id = sid("AlphaMSP", &alpha.pem);
    let block = signed_by(chain_block(2), "OrderingMSP", &orderer(&n.orderer_ca)).encode_to_vec();
    let unsigned = chain_block(2).encode_to_vec();
    // Before the channel is set, Alpha is unknown and any well-formed block passes.
    assert!(crypto.verify_by_channel(ch, &alpha_id, &sig, b"m").is_err());
    crypto.verify_block(ch, 2, &unsigned).unwrap();
    crypto.set_channel(ch, n.config.channel_msps().unwrap());
    crypto.verify_by_channel(ch, &alpha_id, &sig, b"m").unwrap();
    crypto.validate_identity(&alpha_id).unwrap();
    crypto.verify_block(ch, 2, &block).unwrap();
    assert!(crypto.verify_block(ch, 2, &unsigned).is_err());
    assert_eq!(crypto.counters().blocks_rejected, 1);
    crypto.remove_channel(ch);
    assert!(crypto.validate_identity(&alpha_id).is_err());
}

/// Message signatures checked on this thread while `f` runs.
fn verifications<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let count = || crate::msp::key::MESSAGE_VERIFICATIONS.with(|c| c.get());
    let before = count();
    let r = f();
    (r, count() - before)
}

#[test]
fn a_stateinfo_and_a_block_are_each_verified_once_and_bad_ones_still_refused() {
    let n = net();
    let me = leaf(&n.beta_ca, "peer0", &["peer"], 9);
    let mut conf = config("BetaMSP", &[&n.beta_ca], &[]);
    conf.signing_identity = Some(SigningIdentityInfo {
        public_signer: me.pem.clone().into_bytes(),
        private_signer: None,
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let crypto = MspCrypto::new(LocalMsp::new(conf, me.key, now).unwrap());
    let ch = &n.config.channel_id;
    crypto.set_channel(ch, n.config.channel_msps().unwrap());

    // A StateInfo of a member org: one signature check, Readers evaluated over the signer.
    let alpha = leaf(&n.alpha_ca, "peer0", &["peer"], 2);
    let alpha_id = sid("AlphaMSP", &alpha.pem);
    let sig = alpha.key.sign_message(b"stateinfo").unwrap();
    let (r, checks) = verifications(|| crypto.verify_by_channel(ch, &alpha_id, &sig, b"stateinfo"));
    r.unwrap();
    assert_eq!(checks, 1);
    // Refused still: a signature over other bytes, a non-reader org, a foreign CA.
    let (r, checks) = verifications(|| crypto.verify_by_channel(ch, &alpha_id, &sig, b"other"));
    assert_eq!(r.unwrap_err(), CryptoError::BadSignature);
    assert_eq!(checks, 1);
    let o = orderer(&n.orderer_ca);
    let osig = o.key.sign_message(b"stateinfo").unwrap();
    let e = crypto
        .verify_by_channel(ch, &sid("OrderingMSP", &o.pem), &osig, b"stateinfo")
        .unwrap_err();
    assert!(matches!(e, CryptoError::NotInChannel(_)), "{e:?}");
    let fake = leaf(&root("ca.fake"), "peer0", &["peer"], 2);
    let fsig = fake.key.sign_message(b"stateinfo").unwrap();
    crypto
        .verify_by_channel(ch, &sid("AlphaMSP", &fake.pem), &fsig, b"stateinfo")
        .unwrap_err();

    // A block with one orderer signature: one signature check.
    let block = signed_by(chain_block(2), "OrderingMSP", &o).encode_to_vec();
    let (r, checks) = verifications(|| crypto.verify_block(ch, 2, &block));
    r.unwrap();
    assert_eq!(checks, 1);
    let by_peer = signed_by(chain_block(2), "AlphaMSP", &alpha).encode_to_vec();
    assert!(crypto.verify_block(ch, 2, &by_peer).is_err());
    assert!(crypto
        .verify_block(ch, 2, &chain_block(2).encode_to_vec())
        .is_err());
    let d = crypto.decisions();
    use crate::crypto::msp::Check;
    assert_eq!(d.passed(Check::Signature), 1);
    assert_eq!(d.refused(Check::Signature, "bad_signature"), 1);
    assert_eq!(d.refused(Check::Signature, "not_in_channel"), 1);
    assert_eq!(d.refused(Check::Signature, "unknown_ca"), 1);
    assert_eq!(d.passed(Check::Block), 1);
    assert_eq!(d.refused(Check::Block, "policy"), 2);
}
