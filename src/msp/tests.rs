//! Unit tests of the MSP core with rcgen-made PKIs: chains, intermediates, CRLs, NodeOUs,
//! principals, signatures and the low-S rule.

use prost::Message;

use super::key::PublicKey;
use super::principal::*;
use super::test_pki::*;
use super::*;
use crate::proto::msp::{FabricMspConfig, FabricOuIdentifier};

#[test]
fn identity_issued_by_root_validates_and_others_do_not() {
    let r = root("ca.org1");
    let other = root("ca.other");
    let mgr = MspManager::from_configs(&[config("Org1MSP", &[&r], &[])]).unwrap();
    let good = leaf(&r, "peer0", &["peer"], 10);
    assert!(mgr.validate(&sid("Org1MSP", &good.pem)).is_ok());
    let stranger = leaf(&other, "peer0", &["peer"], 11);
    assert!(mgr.validate(&sid("Org1MSP", &stranger.pem)).is_err());
    assert!(matches!(
        mgr.validate(&sid("Org9MSP", &good.pem)),
        Err(MspError::UnknownMsp(_))
    ));
    // A CA certificate is never an identity.
    assert!(mgr.validate(&sid("Org1MSP", &r.pem)).is_err());
    assert!(mgr.validate(b"\xff\xff").is_err());
}

#[test]
fn intermediate_ca_issues_identities_and_its_parent_no_longer_does() {
    let r = root("ca.org1");
    let i = intermediate("ica.org1", &r);
    let mgr = MspManager::from_configs(&[config("Org1MSP", &[&r], &[&i])]).unwrap();
    let by_i = leaf(&i, "peer0", &["peer"], 20);
    assert!(mgr.validate(&sid("Org1MSP", &by_i.pem)).is_ok());
    // The root issued an intermediate, so it is an inner node of the tree: its direct
    // leaves are refused.
    let by_r = leaf(&r, "peer1", &["peer"], 21);
    let err = mgr.validate(&sid("Org1MSP", &by_r.pem)).unwrap_err();
    assert!(
        err.to_string().contains("leaf of the certification tree"),
        "{err}"
    );
}

#[test]
fn crl_revokes_by_serial_only_when_the_issuer_signed_it() {
    let r = root("ca.org1");
    let other = root("ca.other");
    let revoked = leaf(&r, "peer0", &["peer"], 30);
    let kept = leaf(&r, "peer1", &["peer"], 31);
    let mut conf = config("Org1MSP", &[&r], &[]);
    conf.revocation_list = vec![crl(&r, &[30])];
    let mgr = MspManager::from_configs(&[conf]).unwrap();
    assert_eq!(
        mgr.validate(&sid("Org1MSP", &revoked.pem)).unwrap_err(),
        MspError::Revoked
    );
    assert!(mgr.validate(&sid("Org1MSP", &kept.pem)).is_ok());

    // A CRL of another CA naming the same serial revokes nothing here.
    let mut conf = config("Org1MSP", &[&r], &[]);
    conf.revocation_list = vec![crl(&other, &[30])];
    let mgr = MspManager::from_configs(&[conf]).unwrap();
    assert!(mgr.validate(&sid("Org1MSP", &revoked.pem)).is_ok());
}

#[test]
fn validity_follows_fabric_and_validate_at_checks_the_period() {
    let r = root("ca.org1");
    let expired = leaf_with(&r, "old", &["peer"], 40, (2021, 2022), false);
    let future = leaf_with(&r, "new", &["peer"], 41, (2085, 2089), false);
    let msp = Msp::new(&config("Org1MSP", &[&r], &[])).unwrap();
    let now = identity::system_time_to_unix(std::time::SystemTime::now());
    let old = msp.deserialize_id_bytes(expired.pem.as_bytes()).unwrap();
    // Fabric's MSP validates at the certificate's own NotBefore: an expired identity passes.
    assert!(msp.validate(&old).is_ok());
    assert_eq!(msp.validate_at(&old, now).unwrap_err(), MspError::Expired);
    let new = msp.deserialize_id_bytes(future.pem.as_bytes()).unwrap();
    assert!(msp.validate(&new).is_ok());
    assert!(msp.validate_at(&new, now).is_err());
    // Outside the CA's own validity (the root ends in 2090, the leaf starts after).
    let beyond = leaf_with(&r, "beyond", &["peer"], 42, (2091, 2095), false);
    assert!(msp.deserialize_id_bytes(beyond.pem.as_bytes()).is_err());
}

#[test]
fn node_ous_give_roles_and_refuse_identities_without_one() {
    let r = root("ca.org1");
    let mgr = MspManager::from_configs(&[config("Org1MSP", &[&r], &[])]).unwrap();
    let peer = sid("Org1MSP", &leaf(&r, "peer0", &["peer"], 50).pem);
    let admin = sid("Org1MSP", &leaf(&r, "admin", &["admin"], 51).pem);
    let client = sid("Org1MSP", &leaf(&r, "user", &["client"], 52).pem);
    let orderer = sid("Org1MSP", &leaf(&r, "orderer", &["orderer"], 53).pem);
    let none = sid("Org1MSP", &leaf(&r, "nobody", &["sales"], 54).pem);
    let role = |r| MspPrincipal::role("Org1MSP", r);
    assert!(mgr.satisfies_principal(&peer, &role(ROLE_PEER)).is_ok());
    assert!(mgr.satisfies_principal(&peer, &role(ROLE_MEMBER)).is_ok());
    assert!(mgr.satisfies_principal(&peer, &role(ROLE_CLIENT)).is_err());
    assert!(mgr.satisfies_principal(&peer, &role(ROLE_ADMIN)).is_err());
    assert!(mgr.satisfies_principal(&admin, &role(ROLE_ADMIN)).is_ok());
    assert!(mgr.satisfies_principal(&client, &role(ROLE_CLIENT)).is_ok());
    assert!(mgr
        .satisfies_principal(&orderer, &role(ROLE_ORDERER))
        .is_ok());
    assert!(mgr.satisfies_principal(&orderer, &role(ROLE_PEER)).is_err());
    assert!(mgr
        .satisfies_principal(&peer, &MspPrincipal::role("Org2MSP", ROLE_MEMBER))
        .is_err());
    assert!(mgr.validate(&none).is_err());
}

#[test]
fn node_ou_bound_to_an_intermediate_refuses_the_other_branch() {
    let r = root("ca.org1");
    let i1 = intermediate("ica1.org1", &r);
    let i2 = intermediate("ica2.org1", &r);
    let mut conf = config("Org1MSP", &[&r], &[&i1, &i2]);
    let mut nous = node_ous(true);
    nous.peer_ou_identifier = Some(FabricOuIdentifier {
        certificate: i1.pem.clone().into_bytes(),
        organizational_unit_identifier: "peer".into(),
    });
    conf.fabric_node_ous = Some(nous);
    let mgr = MspManager::from_configs(&[conf]).unwrap();
    assert!(mgr
        .validate(&sid("Org1MSP", &leaf(&i1, "p", &["peer"], 60).pem))
        .is_ok());
    assert!(mgr
        .validate(&sid("Org1MSP", &leaf(&i2, "p", &["peer"], 61).pem))
        .is_err());
    assert!(mgr
        .validate(&sid("Org1MSP", &leaf(&i2, "c", &["client"], 62).pem))
        .is_ok());
}

#[test]
fn identity_and_ou_and_combined_principals() {
    let r = root("ca.org1");
    let msp = Msp::new(&config("Org1MSP", &[&r], &[])).unwrap();
    let a = leaf(&r, "peer0", &["peer"], 70);
    let b = leaf(&r, "peer1", &["peer"], 71);
    let ida = msp.deserialize_id_bytes(a.pem.as_bytes()).unwrap();
    let by_identity = MspPrincipal {
        principal_classification: CLASSIFICATION_IDENTITY,
        principal: sid("Org1MSP", &a.pem),
    };
    assert!(msp.satisfies_principal(&ida, &by_identity).is_ok());
    let idb = msp.deserialize_id_bytes(b.pem.as_bytes()).unwrap();
    assert!(msp.satisfies_principal(&idb, &by_identity).is_err());

    let ous = msp.organizational_units(&ida);
    let by_ou = MspPrincipal {
        principal_classification: CLASSIFICATION_ORGANIZATION_UNIT,
        principal: OrganizationUnit {
            msp_identifier: "Org1MSP".into(),
            organizational_unit_identifier: "peer".into(),
            certifiers_identifier: ous[0].certifiers_identifier.clone(),
        }
        .encode_to_vec(),
    };
    assert!(msp.satisfies_principal(&idb, &by_ou).is_ok());

    let combined = |ps: Vec<MspPrincipal>| MspPrincipal {
        principal_classification: CLASSIFICATION_COMBINED,
        principal: CombinedPrincipal { principals: ps }.encode_to_vec(),
    };
    assert!(msp
        .satisfies_principal(&ida, &combined(vec![by_identity.clone(), by_ou.clone()]))
        .is_ok());
    assert!(msp
        .satisfies_principal(&idb, &combined(vec![by_identity, by_ou]))
        .is_err());
    assert!(msp.satisfies_principal(&ida, &combined(vec![])).is_err());

    let anonymity = |t| MspPrincipal {
        principal_classification: CLASSIFICATION_ANONYMITY,
        principal: MspIdentityAnonymity { anonymity_type: t }.encode_to_vec(),
    };
    assert!(msp.satisfies_principal(&ida, &anonymity(0)).is_ok());
    assert!(msp.satisfies_principal(&ida, &anonymity(1)).is_err());
}

#[test]
fn signatures_are_low_s_and_high_s_is_refused() {
    let r = root("ca.org1");
    let msp = Msp::new(&config("Org1MSP", &[&r], &[])).unwrap();
    for p384 in [false, true] {
        let l = leaf_with(&r, "peer0", &["peer"], 80, (2021, 2070), p384);
        let id = msp.deserialize_id_bytes(l.pem.as_bytes()).unwrap();
        for i in 0..16u8 {
            let msg = [i; 40];
            let sig = l.key.sign_message(&msg).unwrap();
            let key = id.cert.key.as_ref().unwrap();
            assert!(key.is_low_s(&sig).unwrap());
            id.verify(&msg, &sig).unwrap();
            assert!(id.verify(b"other", &sig).is_err());
            let high = flip_s(key, &sig);
            assert_ne!(high, sig);
            assert!(id.verify(&msg, &high).is_err());
        }
    }
}

/// The same signature with S replaced by n - S.
fn flip_s(key: &PublicKey, sig: &[u8]) -> Vec<u8> {
    match key {
        PublicKey::P256(_) => {
            let s = p256::ecdsa::Signature::from_der(sig).unwrap();
            let neg = -*s.s();
            p256::ecdsa::Signature::from_scalars(s.r(), neg)
                .unwrap()
                .to_der()
                .as_bytes()
                .to_vec()
        }
        PublicKey::P384(_) => {
            let s = p384::ecdsa::Signature::from_der(sig).unwrap();
            let neg = -*s.s();
            p384::ecdsa::Signature::from_scalars(s.r(), neg)
                .unwrap()
                .to_der()
                .as_bytes()
                .to_vec()
        }
    }
}

#[test]
fn setup_refuses_bad_configurations() {
    let r = root("ca.org1");
    let l = leaf(&r, "peer0", &["peer"], 90);
    assert!(Msp::new(&FabricMspConfig {
        name: "X".into(),
        ..Default::default()
    })
    .is_err());
    // A leaf is not a CA.
    let mut conf = config("Org1MSP", &[&r], &[]);
    conf.root_certs.push(l.pem.clone().into_bytes());
    assert!(Msp::new(&conf).is_err());
    // Without NodeOUs an MSP must name its admins.
    let mut conf = config("Org1MSP", &[&r], &[]);
    conf.fabric_node_ous = None;
    assert!(Msp::new(&conf).is_err());
    conf.admins = vec![leaf(&r, "admin", &["admin"], 91).pem.into_bytes()];
    let msp = Msp::new(&conf).unwrap();
    let admin = msp.deserialize_id_bytes(&conf.admins[0]).unwrap();
    assert!(msp
        .satisfies_principal(&admin, &MspPrincipal::role("Org1MSP", ROLE_ADMIN))
        .is_ok());
    let peer = msp.deserialize_id_bytes(l.pem.as_bytes()).unwrap();
    assert!(msp
        .satisfies_principal(&peer, &MspPrincipal::role("Org1MSP", ROLE_PEER))
        .is_err());
    assert!(msp
        .satisfies_principal(&peer, &MspPrincipal::role("Org1MSP", ROLE_MEMBER))
        .is_ok());
    // Garbage certificates are an error, not a panic.
    let mut conf = config("Org1MSP", &[&r], &[]);
    conf.root_certs =
        vec![b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec()];
    assert!(Msp::new(&conf).is_err());
}

#[test]
fn pki_id_is_sha256_of_mspid_and_id_bytes() {
    use sha2::{Digest, Sha256};
    let want: [u8; 32] = Sha256::digest(b"Org1MSPcert").into();
    assert_eq!(pki_id("Org1MSP", b"cert"), want);
}

#[test]
fn validation_is_cached_per_identity() {
    let r = root("ca.org1");
    let mgr = MspManager::from_configs(&[config("Org1MSP", &[&r], &[])]).unwrap();
    let msp = mgr.msp("Org1MSP").unwrap().clone();
    let good = sid("Org1MSP", &leaf(&r, "peer0", &["peer"], 100).pem);
    let first = mgr.validate(&good).unwrap();
    let before = msp.cache_counters();
    let again = mgr.validate(&good).unwrap();
    let after = msp.cache_counters();
    assert_eq!(again.cert.der, first.cert.der);
    assert_eq!(again.id_bytes, first.id_bytes);
    assert_eq!(after.deserialize_hits, before.deserialize_hits + 1);
    assert_eq!(after.validate_hits, before.validate_hits + 1);
    assert_eq!(after.deserialize_misses, before.deserialize_misses);
    assert_eq!(after.validate_misses, before.validate_misses);

    // Refusals are remembered too, and answered alike.
    let no_ou = sid("Org1MSP", &leaf(&r, "peer1", &[], 101).pem);
    let refused = mgr.validate(&no_ou).unwrap_err();
    let hits = msp.cache_counters().validate_hits;
    assert_eq!(mgr.validate(&no_ou).unwrap_err(), refused);
    assert_eq!(msp.cache_counters().validate_hits, hits + 1);
}

#[test]
fn a_new_configuration_does_not_reuse_cached_decisions() {
    let r = root("ca.org1");
    let r2 = root("ca2.org1");
    let peer = sid("Org1MSP", &leaf(&r, "peer0", &["peer"], 110).pem);
    let mgr = MspManager::from_configs(&[config("Org1MSP", &[&r], &[])]).unwrap();
    assert!(mgr.validate(&peer).is_ok());
    assert!(mgr.validate(&peer).is_ok());
    // The CA is replaced: the identity it issued is refused at once.
    let mgr = MspManager::from_configs(&[config("Org1MSP", &[&r2], &[])]).unwrap();
    assert!(mgr.validate(&peer).is_err());
    let c = mgr.msp("Org1MSP").unwrap().cache_counters();
    assert_eq!((c.deserialize_hits, c.validate_hits), (0, 0));
}

#[test]
fn an_identity_revoked_by_a_crl_update_is_refused_though_cached() {
    let r = root("ca.org1");
    let peer = sid("Org1MSP", &leaf(&r, "peer0", &["peer"], 120).pem);
    let mgr = MspManager::from_configs(&[config("Org1MSP", &[&r], &[])]).unwrap();
    assert!(mgr.validate(&peer).is_ok());
    assert!(mgr.validate(&peer).is_ok());
    let mut conf = config("Org1MSP", &[&r], &[]);
    conf.revocation_list = vec![crl(&r, &[120])];
    let mgr = MspManager::from_configs(&[conf]).unwrap();
    assert_eq!(mgr.validate(&peer).unwrap_err(), MspError::Revoked);
    assert_eq!(mgr.validate(&peer).unwrap_err(), MspError::Revoked);
}

#[test]
fn an_identity_that_expires_while_cached_is_refused_at_once() {
    let r = root("ca.org1");
    let l = leaf_with(&r, "peer0", &["peer"], 130, (2021, 2030), false);
    let msp = Msp::new(&config("Org1MSP", &[&r], &[])).unwrap();
    let id = msp.deserialize_id_bytes(l.pem.as_bytes()).unwrap();
    let in_2025 = 1_750_000_000;
    msp.validate_at(&id, in_2025).unwrap();
    msp.validate_at(&id, in_2025).unwrap();
    assert!(msp.cache_counters().validate_hits >= 1);
    let hits = msp.cache_counters().validate_hits;
    assert_eq!(
        msp.validate_at(&id, id.cert.not_after + 1).unwrap_err(),
        MspError::Expired
    );
    assert_eq!(msp.cache_counters().validate_hits, hits + 1);
}
