//! One X.509 MSP built from a `FabricMSPConfig`, with the decisions of Fabric's `msp` package
//! at MSP version 1.4.3 (the version of every channel with V2 capabilities and of the local
//! MSP): identities chain to the MSP's roots through its intermediates, CA certificates are
//! not identities, CRLs revoke by serial, NodeOUs give roles, OU identifiers restrict members.

use std::collections::{HashMap, HashSet};

use prost::Message;
use sha2::{Digest, Sha256};

use super::cache::{BoundedCache, CAPACITY};
use super::cert::Cert;
use super::chain::CaPool;
use super::crl::Crl;
use super::identity::Identity;
use super::MspError;
use crate::proto::msp::{FabricMspConfig, FabricOuIdentifier, SerializedIdentity};

/// A NodeOU or OU identifier: the OU name and, when bound, the certifiers identifier (the hash
/// of the CA chain that must have issued the certificate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OuIdentifier {
    pub organizational_unit_identifier: String,
    pub certifiers_identifier: Vec<u8>,
}

/// The roles NodeOUs tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    Client,
    Peer,
    Admin,
    Orderer,
}

#[derive(Debug)]
pub struct Msp {
    name: String,
    pool: CaPool,
    /// CAs that issued an intermediate of this MSP: they may not issue identities.
    internal_nodes: HashSet<Vec<u8>>,
    admins: Vec<Cert>,
    crls: Vec<Crl>,
    ou_identifiers: HashMap<String, Vec<Vec<u8>>>,
    ou_enforcement: bool,
    client_ou: Option<OuIdentifier>,
    peer_ou: Option<OuIdentifier>,
    admin_ou: Option<OuIdentifier>,
    orderer_ou: Option<OuIdentifier>,
    tls_root_certs: Vec<Vec<u8>>,
    tls_intermediate_certs: Vec<Vec<u8>>,
    /// Deserialization by PEM bytes and validation by sanitized DER, under this configuration
    /// only (an MSP never changes once set up).
    deserialized: BoundedCache<Result<Cert, MspError>>,
    validated: BoundedCache<Result<(), MspError>>,
}

/// How often the MSP's identity caches answered (see [`Msp::cache_counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MspCacheCounters {
    pub deserialize_hits: u64,
    pub deserialize_misses: u64,
    pub validate_hits: u64,
    pub validate_misses: u64,
}

fn cfg<T>(what: &str) -> impl FnOnce(MspError) -> Result<T, MspError> + '_ {
    move |e| Err(MspError::Config(format!("{what}: {e}")))
}

impl Msp {
    /// Sets an MSP up from its configuration, refusing what Fabric's setup refuses.
    pub fn new(conf: &FabricMspConfig) -> Result<Msp, MspError> {
        if let Some(cc) = &conf.crypto_config {
            if !matches!(cc.signature_hash_family.as_str(), "" | "SHA2") {
                return Err(MspError::Config(format!(
                    "unsupported signature hash family {}",
                    cc.signature_hash_family
                )));
            }
            if !matches!(cc.identity_identifier_hash_function.as_str(), "" | "SHA256") {
                return Err(MspError::Config(format!(
                    "unsupported identity identifier hash function {}",
                    cc.identity_identifier_hash_function
                )));
            }
        }
        if conf.root_certs.is_empty() {
            return Err(MspError::Config(
                "expected at least one CA certificate".into(),
            ));
        }
        let parse_all = |pems: &[Vec<u8>], what: &str| -> Result<Vec<Cert>, MspError> {
            pems.iter()
                .map(|p| Cert::from_pem(p).or_else(cfg(what)))
                .collect()
        };
        let raw = CaPool {
            roots: parse_all(&conf.root_certs, "root certificate")?,
            intermediates: parse_all(&conf.intermediate_certs, "intermediate certificate")?,
        };
        let sanitize_all = |certs: &[Cert], what: &str| -> Result<Vec<Cert>, MspError> {
            certs
                .iter()
                .map(|c| {
                    if c.key.is_none() {
                        return Err(MspError::Config(format!(
                            "{what}: public key is not an ECDSA P-256 or P-384 key"
                        )));
                    }
                    sanitize(&raw, c).or_else(cfg(what))
                })
                .collect()
        };
        let pool = CaPool {
            roots: sanitize_all(&raw.roots, "root certificate")?,
            intermediates: sanitize_all(&raw.intermediates, "intermediate certificate")?,
        };
        let crls = conf
            .revocation_list
            .iter()
            .map(|c| Crl::parse(c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut msp = Msp {
            name: conf.name.clone(),
            pool,
            internal_nodes: HashSet::new(),
            admins: Vec::new(),
            crls,
            ou_identifiers: HashMap::new(),
            ou_enforcement: false,
            client_ou: None,
            peer_ou: None,
            admin_ou: None,
            orderer_ou: None,
            tls_root_certs: conf.tls_root_certs.clone(),
            tls_intermediate_certs: conf.tls_intermediate_certs.clone(),
            deserialized: BoundedCache::new(CAPACITY),
            validated: BoundedCache::new(CAPACITY),
        };
        msp.finalize_cas()?;
        msp.check_tls_cas()?;
        for ou in &conf.organizational_unit_identifiers {
            let id = msp
                .certifiers_identifier(&ou.certificate)
                .or_else(cfg("organizational unit identifier"))?;
            let ids = msp
                .ou_identifiers
                .entry(ou.organizational_unit_identifier.clone())
                .or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if let Some(n) = &conf.fabric_node_ous {
            msp.ou_enforcement = n.enable;
            msp.client_ou = msp.node_ou(n.client_ou_identifier.as_ref())?;
            msp.peer_ou = msp.node_ou(n.peer_ou_identifier.as_ref())?;
            msp.admin_ou = msp.node_ou(n.admin_ou_identifier.as_ref())?;
            msp.orderer_ou = msp.node_ou(n.orderer_ou_identifier.as_ref())?;
            if msp.client_ou.is_none()
                && msp.peer_ou.is_none()
                && msp.admin_ou.is_none()
                && msp.orderer_ou.is_none()
            {
                msp.ou_enforcement = false;
            }
        }
        for pem in &conf.admins {
            let cert = msp
                .cert_of_identity(pem)
                .or_else(cfg("admin certificate"))?;
            msp.admins.push(cert);
        }
        if msp.admins.is_empty() && !(msp.ou_enforcement && msp.admin_ou.is_some()) {
            return Err(MspError::Config(
                "administrators must be declared when no admin ou classification is set".into(),
            ));
        }
        if !msp.ou_enforcement {
            for (i, admin) in msp.admins.iter().enumerate() {
                let id = Identity {
                    mspid: msp.name.clone(),
                    id_bytes: Vec::new(),
                    cert: admin.clone(),
                };
                msp.validate_uncached(&id)
                    .map_err(|e| MspError::Config(format!("admin {i} is invalid: {e}")))?;
            }
        } else {
            for (i, admin) in msp.admins.iter().enumerate() {
                let client = msp.has_ou_role_cert(admin, NodeRole::Client);
                let adm = msp.has_ou_role_cert(admin, NodeRole::Admin);
                if let (Err(a), Err(b)) = (client, adm) {
                    return Err(MspError::Config(format!("admin {i} is invalid [{a}, {b}]")));
                }
            }
        }
        Ok(msp)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tls_root_certs(&self) -> &[Vec<u8>] {
        &self.tls_root_certs
    }

    pub fn tls_intermediate_certs(&self) -> &[Vec<u8>] {
        &self.tls_intermediate_certs
    }

    /// Whether NodeOU classification is on (roles come from OUs).
    pub fn node_ous_enabled(&self) -> bool {
        self.ou_enforcement
    }

    fn finalize_cas(&mut self) -> Result<(), MspError> {
        let cas: Vec<Cert> = self
            .pool
            .roots
            .iter()
            .chain(self.pool.intermediates.iter())
            .cloned()
            .collect();
        for ca in &cas {
            let sn = hex::encode(&ca.serial);
            if !ca.is_ca() {
                return Err(MspError::Config(format!(
                    "CA Certificate did not have the CA attribute, (SN: {sn})"
                )));
            }
            if ca.ski.is_none() {
                return Err(MspError::Config(format!(
                    "CA Certificate problem with Subject Key Identifier extension, (SN: {sn})"
                )));
            }
            let chain = self
                .pool
                .unique_chain(ca, ca.not_before + 1)
                .or_else(cfg("CA Certificate is not valid"))?;
            if chain.len() > 1 {
                self.check_revocation(ca, &chain)
                    .or_else(cfg("CA Certificate is not valid"))?;
            }
        }
        for ca in &self.pool.intermediates {
            let chain = self
                .pool
                .unique_chain(ca, ca.not_before + 1)
                .or_else(cfg("failed getting validation chain"))?;
            for c in &chain[1..] {
                self.internal_nodes.insert(c.der.clone());
            }
        }
        Ok(())
    }

    fn check_tls_cas(&self) -> Result<(), MspError> {
        let parse = |pems: &[Vec<u8>]| -> Result<Vec<Cert>, MspError> {
            pems.iter()
                .map(|p| Cert::from_pem(p).or_else(cfg("TLS CA certificate")))
                .collect()
        };
        let pool = CaPool {
            roots: parse(&self.tls_root_certs)?,
            intermediates: parse(&self.tls_intermediate_certs)?,
        };
        for ca in pool.roots.iter().chain(pool.intermediates.iter()) {
            let sn = hex::encode(&ca.serial);
            if !ca.is_ca() {
                return Err(MspError::Config(format!(
                    "TLS CA Certificate did not have the CA attribute, (SN: {sn})"
                )));
            }
            if ca.ski.is_none() {
                return Err(MspError::Config(format!(
                    "TLS CA Certificate problem with Subject Key Identifier extension, (SN: {sn})"
                )));
            }
            let chain = pool
                .unique_chain(ca, ca.not_before + 1)
                .or_else(cfg("TLS CA Certificate is not valid"))?;
            if chain.len() > 1 {
                self.check_revocation(ca, &chain)
                    .or_else(cfg("TLS CA Certificate is not valid"))?;
            }
        }
        Ok(())
    }

    fn node_ou(&self, id: Option<&FabricOuIdentifier>) -> Result<Option<OuIdentifier>, MspError> {
        let Some(id) = id else { return Ok(None) };
        let certifiers_identifier = if id.certificate.is_empty() {
            Vec::new()
        } else {
            self.certifiers_identifier(&id.certificate)
                .or_else(cfg("NodeOUs"))?
        };
        Ok(Some(OuIdentifier {
            organizational_unit_identifier: id.organizational_unit_identifier.clone(),
            certifiers_identifier,
        }))
    }

    /// The hash of the chain from a CA of this MSP to its root: what an OU binding names.
    fn certifiers_identifier(&self, pem: &[u8]) -> Result<Vec<u8>, MspError> {
        let cert = sanitize(&self.pool, &Cert::from_pem(pem)?)?;
        let chain = if self.pool.roots.iter().any(|r| r.der == cert.der) {
            vec![cert]
        } else if self.pool.intermediates.iter().any(|r| r.der == cert.der) {
            let chain = self.pool.unique_chain(&cert, cert.not_before + 1)?;
            if chain.len() < 2 {
                return Err(MspError::Invalid(
                    "expected a chain of length at least 2".into(),
                ));
            }
            if self.internal_nodes.contains(&chain[0].der) {
                return Err(MspError::Invalid(
                    "invalid validation chain: parent certificate should be a leaf of the certification tree".into(),
                ));
            }
            chain
        } else {
            return Err(MspError::Invalid(
                "certificate not in root or intermediate certs".into(),
            ));
        };
        Ok(chain_identifier(&chain))
    }

    /// Parses and sanitizes an identity certificate (PEM); it must chain to this MSP.
    fn cert_of_identity(&self, pem: &[u8]) -> Result<Cert, MspError> {
        let cert = Cert::from_pem(pem)?;
        if cert.key.is_none() {
            return Err(MspError::Malformed(
                "failed to import certificate's public key: not an ECDSA P-256 or P-384 key".into(),
            ));
        }
        sanitize(&self.pool, &cert)
    }

    /// Fabric's `DeserializeIdentity`: the mspid must be this MSP's.
    pub fn deserialize_identity(&self, serialized: &[u8]) -> Result<Identity, MspError> {
        let sid = SerializedIdentity::decode(serialized)
            .map_err(|e| MspError::Malformed(format!("not a SerializedIdentity: {e}")))?;
        if sid.mspid != self.name {
            return Err(MspError::Malformed(format!(
                "expected MSP ID {}, received {}",
                self.name, sid.mspid
            )));
        }
        self.deserialize_id_bytes(&sid.id_bytes)
    }

    /// The identity of a PEM certificate issued under this MSP (cached by the PEM bytes).
    pub fn deserialize_id_bytes(&self, id_bytes: &[u8]) -> Result<Identity, MspError> {
        let cert = self
            .deserialized
            .get_or_decide(id_bytes, || self.cert_of_identity(id_bytes))?;
        Ok(Identity {
            mspid: self.name.clone(),
            id_bytes: id_bytes.to_vec(),
            cert,
        })
    }

    /// Fabric's `Validate`: the chain (checked at the certificate's NotBefore + 1 s, as Fabric
    /// does: expiry is the holder's business, see [`Identity::expires_at`]), revocation and OUs.
    /// The decision depends on the certificate alone, so it is cached by its DER; the validity
    /// period is no part of it ([`Msp::validate_at`] checks it at every call).
    pub fn validate(&self, id: &Identity) -> Result<(), MspError> {
        self.validated
            .get_or_decide(&id.cert.der, || self.validate_uncached(id))
    }

    /// How often the identity caches answered, and how often they had to decide.
    pub fn cache_counters(&self) -> MspCacheCounters {
        MspCacheCounters {
            deserialize_hits: self.deserialized.hits(),
            deserialize_misses: self.deserialized.misses(),
            validate_hits: self.validated.hits(),
            validate_misses: self.validated.misses(),
        }
    }

    fn validate_uncached(&self, id: &Identity) -> Result<(), MspError> {
        let chain = self.validation_chain(&id.cert)?;
        self.check_revocation(&id.cert, &chain)?;
        self.validate_ous(id)
    }

    /// [`Msp::validate`], and the certificate is within its validity period at `now` (Unix s).
    pub fn validate_at(&self, id: &Identity, now: i64) -> Result<(), MspError> {
        self.validate(id)?;
        if now < id.cert.not_before {
            return Err(MspError::NotYetValid);
        }
        if now > id.cert.not_after {
            return Err(MspError::Expired);
        }
        Ok(())
    }

    fn validation_chain(&self, cert: &Cert) -> Result<Vec<Cert>, MspError> {
        if cert.is_ca() {
            return Err(MspError::Invalid(
                "an X509 certificate with Basic Constraint: Certificate Authority equals true cannot be used as an identity".into(),
            ));
        }
        let chain = self.pool.unique_chain(cert, cert.not_before + 1)?;
        if chain.len() < 2 {
            return Err(MspError::Invalid(format!(
                "expected a chain of length at least 2, got {}",
                chain.len()
            )));
        }
        if self.internal_nodes.contains(&chain[1].der) {
            return Err(MspError::Invalid(
                "invalid validation chain: parent certificate should be a leaf of the certification tree".into(),
            ));
        }
        Ok(chain)
    }

    fn check_revocation(&self, cert: &Cert, chain: &[Cert]) -> Result<(), MspError> {
        let signer = &chain[1];
        let ski = signer.ski.as_ref().ok_or_else(|| {
            MspError::Invalid("could not obtain Subject Key Identifier for signer cert".into())
        })?;
        for crl in &self.crls {
            let aki = crl.aki.as_ref().ok_or_else(|| {
                MspError::Invalid("could not obtain Authority Key Identifier for crl".into())
            })?;
            if aki != ski || !crl.revoked.contains(&cert.serial) {
                continue;
            }
            // Only a CRL the issuing CA itself signed revokes.
            if crl.check_signature(signer).is_ok() {
                return Err(MspError::Revoked);
            }
        }
        Ok(())
    }

    /// The identity's OUs, each bound to the identity's certifiers identifier; empty when the
    /// identity has no chain here (as Fabric answers).
    pub fn organizational_units(&self, id: &Identity) -> Vec<OuIdentifier> {
        self.organizational_units_of(&id.cert)
    }

    fn organizational_units_of(&self, cert: &Cert) -> Vec<OuIdentifier> {
        let Ok(chain) = self.validation_chain(cert) else {
            return Vec::new();
        };
        let cid = chain_identifier(&chain[1..]);
        cert.ous
            .iter()
            .map(|ou| OuIdentifier {
                organizational_unit_identifier: ou.clone(),
                certifiers_identifier: cid.clone(),
            })
            .collect()
    }

    fn validate_ous(&self, id: &Identity) -> Result<(), MspError> {
        let ous = self.organizational_units(id);
        if !self.ou_identifiers.is_empty() {
            let found = ous.iter().any(|ou| {
                self.ou_identifiers
                    .get(&ou.organizational_unit_identifier)
                    .is_some_and(|ids| ids.contains(&ou.certifiers_identifier))
            });
            if !found {
                return Err(MspError::Role(if ous.is_empty() {
                    "the identity certificate does not contain an Organizational Unit (OU)".into()
                } else {
                    format!(
                        "none of the identity's organizational units are in MSP {}",
                        self.name
                    )
                }));
            }
        }
        if !self.ou_enforcement {
            return Ok(());
        }
        let node_ous: Vec<&OuIdentifier> = [
            &self.client_ou,
            &self.peer_ou,
            &self.admin_ou,
            &self.orderer_ou,
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut count = 0;
        for ou in &ous {
            // The last definition of an OU name wins, as in Fabric's map of valid OUs.
            let Some(node) = node_ous
                .iter()
                .rev()
                .find(|n| n.organizational_unit_identifier == ou.organizational_unit_identifier)
            else {
                continue;
            };
            if !node.certifiers_identifier.is_empty()
                && node.certifiers_identifier != ou.certifiers_identifier
            {
                return Err(MspError::Role(format!(
                    "certifiersIdentifier does not match, MSP: [{}]",
                    self.name
                )));
            }
            count += 1;
            if count > 1 {
                break;
            }
        }
        match count {
            0 => Err(MspError::Role(format!(
                "the identity does not have an OU that resolves to client, peer, orderer, or admin role, MSP: [{}]",
                self.name
            ))),
            1 => Ok(()),
            _ => Err(MspError::Role(format!(
                "the identity must have a client, a peer, an orderer, or an admin OU role to be valid, not a combination of them, MSP: [{}]",
                self.name
            ))),
        }
    }

    /// Whether the identity carries the NodeOU of `role` (Fabric's `hasOURole`).
    pub fn has_ou_role(&self, id: &Identity, role: NodeRole) -> Result<(), MspError> {
        self.has_ou_role_cert(&id.cert, role)
    }

    fn has_ou_role_cert(&self, cert: &Cert, role: NodeRole) -> Result<(), MspError> {
        if !self.ou_enforcement {
            return Err(MspError::Principal(
                "NodeOUs not activated, cannot tell apart identities".into(),
            ));
        }
        let node = match role {
            NodeRole::Client => &self.client_ou,
            NodeRole::Peer => &self.peer_ou,
            NodeRole::Admin => &self.admin_ou,
            NodeRole::Orderer => &self.orderer_ou,
        };
        let Some(node) = node else {
            return Err(MspError::Principal(format!(
                "node OU for {role:?} not defined, msp: [{}]",
                self.name
            )));
        };
        if self
            .organizational_units_of(cert)
            .iter()
            .any(|ou| ou.organizational_unit_identifier == node.organizational_unit_identifier)
        {
            Ok(())
        } else {
            Err(MspError::Principal(format!(
                "the identity does not contain OU [{role:?}], MSP: [{}]",
                self.name
            )))
        }
    }

    /// Named explicitly among the MSP's admin certificates.
    pub fn is_in_admins(&self, id: &Identity) -> bool {
        self.admins.iter().any(|a| a.der == id.cert.der)
    }

    /// Fabric's `IsWellFormed`: one PEM certificate block, nothing after it, and a canonical
    /// DER signature.
    pub fn is_well_formed(id_bytes: &[u8]) -> Result<(), MspError> {
        let (rest, block) = x509_parser::pem::parse_x509_pem(id_bytes)
            .map_err(|_| MspError::Malformed("PEM decoding resulted in an empty block".into()))?;
        if !rest.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(MspError::Malformed("identity has trailing bytes".into()));
        }
        if block.label != "CERTIFICATE" && !block.label.is_empty() {
            return Err(MspError::Malformed(format!(
                "pem type is {}, should be 'CERTIFICATE' or missing",
                block.label
            )));
        }
        let cert = Cert::parse(&block.contents)?;
        if !cert.signature_is_canonical() {
            return Err(MspError::Malformed(
                "identity has a non canonical signature".into(),
            ));
        }
        Ok(())
    }
}

/// SHA-256 over the concatenated DER of a chain (Fabric's certification chain identifier).
fn chain_identifier(chain: &[Cert]) -> Vec<u8> {
    let mut h = Sha256::new();
    for c in chain {
        h.update(&c.der);
    }
    h.finalize().to_vec()
}

/// Fabric's `sanitizeCert`: a self-signed CA is rewritten low-S under its own key; any other
/// ECDSA-signed certificate must chain (at its NotBefore + 1 s) and is rewritten under its
/// issuer's key.
fn sanitize(pool: &CaPool, cert: &Cert) -> Result<Cert, MspError> {
    if !cert.ecdsa_signed {
        return Ok(cert.clone());
    }
    if let (true, Some(key)) = (cert.is_ca(), cert.key.as_ref()) {
        if cert.check_signature_from(cert).is_err() {
            return sanitize_issued(pool, cert);
        }
        let root = cert.sanitized(key)?;
        let alone = CaPool {
            roots: vec![root.clone()],
            intermediates: pool.intermediates.clone(),
        };
        alone.unique_chain(&root, root.not_before + 1)?;
        return Ok(root);
    }
    sanitize_issued(pool, cert)
}

fn sanitize_issued(pool: &CaPool, cert: &Cert) -> Result<Cert, MspError> {
    let chain = pool.unique_chain(cert, cert.not_before + 1)?;
    let Some(parent) = chain.get(1) else {
        return Err(MspError::Invalid(
            "failed to traverse certificate verification chain".into(),
        ));
    };
    let key = parent
        .key
        .as_ref()
        .ok_or_else(|| MspError::Invalid("issuer key is not supported".into()))?;
    cert.sanitized(key)
}
