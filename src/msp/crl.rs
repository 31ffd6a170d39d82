//! A certificate revocation list from an MSP's `revocation_list`: who signed it (its authority
//! key identifier), the serial numbers it revokes, and its signature for the issuer check.

use x509_parser::prelude::{CertificateRevocationList, FromDer as _, ParsedExtension};

use super::cert::{strip_zeros, Cert, SignedDer};
use super::key::SigHash;
use super::MspError;
use x509_parser::oid_registry::{OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384};

#[derive(Clone, Debug)]
pub struct Crl {
    /// Authority key identifier; Fabric refuses to validate anything while a CRL lacks one.
    pub aki: Option<Vec<u8>>,
    /// Revoked serial numbers, big-endian magnitudes without leading zeros.
    pub revoked: Vec<Vec<u8>>,
    tbs: Vec<u8>,
    sig_hash: Option<SigHash>,
    signature: Vec<u8>,
}

impl Crl {
    /// Parses a PEM (`X509 CRL`) or DER CRL, as Go's `x509.ParseCRL` accepts both.
    pub fn parse(bytes: &[u8]) -> Result<Crl, MspError> {
        let der = if bytes.starts_with(b"-----BEGIN") {
            x509_parser::pem::parse_x509_pem(bytes)
                .map_err(|e| MspError::Config(format!("could not parse RevocationList: {e}")))?
                .1
                .contents
        } else {
            bytes.to_vec()
        };
        let (_, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| MspError::Config(format!("could not parse RevocationList: {e}")))?;
        let aki = crl
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => Some(
                    a.key_identifier
                        .as_ref()
                        .map(|k| k.0.to_vec())
                        .unwrap_or_default(),
                ),
                _ => None,
            });
        let alg = &crl.signature_algorithm.algorithm;
        let sig_hash = if *alg == OID_SIG_ECDSA_WITH_SHA256 {
            Some(SigHash::Sha256)
        } else if *alg == OID_SIG_ECDSA_WITH_SHA384 {
            Some(SigHash::Sha384)
        } else {
            None
        };
        let outer = SignedDer::split(&der)?;
        Ok(Crl {
            aki,
            revoked: crl
                .iter_revoked_certificates()
                .map(|r| strip_zeros(r.raw_serial()))
                .collect(),
            tbs: outer.tbs_der()?,
            sig_hash,
            signature: outer.sig.raw_bytes().to_vec(),
        })
    }

    /// Whether `issuer`'s key signed this CRL.
    pub fn check_signature(&self, issuer: &Cert) -> Result<(), MspError> {
        let key = issuer
            .key
            .as_ref()
            .ok_or_else(|| MspError::Invalid("CRL issuer key is not supported".into()))?;
        let hash = self
            .sig_hash
            .ok_or_else(|| MspError::Invalid("unsupported CRL signature algorithm".into()))?;
        key.verify_digest_any_s(&hash.digest(&self.tbs), &self.signature)
    }
}
