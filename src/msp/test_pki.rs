//! rcgen-made PKIs for the MSP's tests: roots, intermediates, leaves with OUs, CRLs, and
//! `FabricMSPConfig`s over them.

use prost::Message;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};

use super::key::SigningKey;
use crate::proto::msp::{FabricMspConfig, FabricNodeOUs, FabricOuIdentifier, SerializedIdentity};

pub(crate) struct Ca {
    pub issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

pub(crate) fn ca_params(cn: &str, years: (i32, i32)) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = date_time_ymd(years.0, 1, 1);
    p.not_after = date_time_ymd(years.1, 1, 1);
    p
}

pub(crate) fn root(cn: &str) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let params = ca_params(cn, (2020, 2090));
    let cert = params.self_signed(&key).unwrap();
    Ca {
        issuer: Issuer::new(params, key),
        pem: cert.pem(),
    }
}

pub(crate) fn intermediate(cn: &str, parent: &Ca) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let params = ca_params(cn, (2020, 2080));
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        issuer: Issuer::new(params, key),
        pem: cert.pem(),
    }
}

pub(crate) struct Leaf {
    pub pem: String,
    pub key: SigningKey,
}

pub(crate) fn leaf_with(
    ca: &Ca,
    cn: &str,
    ous: &[&str],
    serial: u64,
    years: (i32, i32),
    p384: bool,
) -> Leaf {
    let alg = if p384 {
        &PKCS_ECDSA_P384_SHA384
    } else {
        &PKCS_ECDSA_P256_SHA256
    };
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    for ou in ous {
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, *ou);
    }
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = date_time_ymd(years.0, 1, 1);
    p.not_after = date_time_ymd(years.1, 1, 1);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        pem: cert.pem(),
        key: SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
    }
}

pub(crate) fn leaf(ca: &Ca, cn: &str, ous: &[&str], serial: u64) -> Leaf {
    leaf_with(ca, cn, ous, serial, (2021, 2070), false)
}

pub(crate) fn crl(ca: &Ca, serials: &[u64]) -> Vec<u8> {
    CertificateRevocationListParams {
        this_update: date_time_ymd(2022, 1, 1),
        next_update: date_time_ymd(2090, 1, 1),
        crl_number: SerialNumber::from(1),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: date_time_ymd(2022, 1, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca.issuer)
    .unwrap()
    .pem()
    .unwrap()
    .into_bytes()
}

pub(crate) fn node_ous(enable: bool) -> FabricNodeOUs {
    let ou = |n: &str| {
        Some(FabricOuIdentifier {
            certificate: Vec::new(),
            organizational_unit_identifier: n.into(),
        })
    };
    FabricNodeOUs {
        enable,
        client_ou_identifier: ou("client"),
        peer_ou_identifier: ou("peer"),
        admin_ou_identifier: ou("admin"),
        orderer_ou_identifier: ou("orderer"),
    }
}

pub(crate) fn config(name: &str, roots: &[&Ca], inters: &[&Ca]) -> FabricMspConfig {
    FabricMspConfig {
        name: name.into(),
        root_certs: roots.iter().map(|c| c.pem.clone().into_bytes()).collect(),
        intermediate_certs: inters.iter().map(|c| c.pem.clone().into_bytes()).collect(),
        fabric_node_ous: Some(node_ous(true)),
        ..Default::default()
    }
}

pub(crate) fn sid(mspid: &str, pem: &str) -> Vec<u8> {
    SerializedIdentity {
        mspid: mspid.into(),
        id_bytes: pem.as_bytes().to_vec(),
    }
    .encode_to_vec()
}
