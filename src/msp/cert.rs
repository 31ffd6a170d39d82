//! An X.509 certificate as the MSP needs it: the fields Go's `x509` checks during chain
//! building, owned, plus Fabric's sanitation (a certificate's ECDSA signature rewritten in
//! low-S form, so that one certificate has one encoding whatever S its issuer chose).

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode};
use x509_parser::oid_registry::{
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
};
use x509_parser::prelude::{FromDer as _, ParsedExtension, X509Certificate};

use super::key::{PublicKey, SigHash};
use super::MspError;

/// The outer shape shared by certificates and CRLs: to-be-signed part, algorithm, signature.
#[derive(der::Sequence)]
pub(crate) struct SignedDer<'a> {
    pub tbs: AnyRef<'a>,
    pub alg: AnyRef<'a>,
    pub sig: BitStringRef<'a>,
}

impl<'a> SignedDer<'a> {
    pub fn split(der: &'a [u8]) -> Result<Self, MspError> {
        SignedDer::from_der(der).map_err(|e| MspError::Malformed(format!("bad DER: {e}")))
    }

    pub fn tbs_der(&self) -> Result<Vec<u8>, MspError> {
        self.tbs
            .to_der()
            .map_err(|e| MspError::Malformed(format!("bad DER: {e}")))
    }
}

#[derive(Clone, Debug)]
pub struct Cert {
    /// The DER encoding (after sanitation when the certificate came through an MSP).
    pub der: Vec<u8>,
    pub tbs: Vec<u8>,
    /// The digest of an ECDSA-with-SHA-256/384 signature; `None` for any other algorithm.
    pub sig_hash: Option<SigHash>,
    /// Signed with any ECDSA algorithm (Fabric sanitizes exactly those).
    pub ecdsa_signed: bool,
    pub signature: Vec<u8>,
    pub subject: Vec<u8>,
    pub issuer: Vec<u8>,
    /// Serial number, big-endian magnitude without leading zeros.
    pub serial: Vec<u8>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub v3: bool,
    /// `(cA, pathLenConstraint)` when the basic constraints extension is present.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// The key usage extension permits certificate signing (or is absent).
    pub cert_sign_allowed: bool,
    /// The extended key usage extension permits server authentication (or is absent): Go's
    /// verifier, as the MSP calls it, asks for that usage along the whole chain.
    pub server_auth_allowed: bool,
    pub ski: Option<Vec<u8>>,
    pub ous: Vec<String>,
    pub key: Option<PublicKey>,
}

pub(crate) fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

impl Cert {
    pub fn parse(der: &[u8]) -> Result<Cert, MspError> {
        let (_, c) = X509Certificate::from_der(der)
            .map_err(|e| MspError::Malformed(format!("cannot parse certificate: {e}")))?;
        let outer = SignedDer::split(der)?;
        let alg = &c.signature_algorithm.algorithm;
        let sig_hash = if *alg == OID_SIG_ECDSA_WITH_SHA256 {
            Some(SigHash::Sha256)
        } else if *alg == OID_SIG_ECDSA_WITH_SHA384 {
            Some(SigHash::Sha384)
        } else {
            None
        };
        let ecdsa_signed = sig_hash.is_some()
            || alg.to_id_string() == "1.2.840.10045.4.1"
            || *alg == OID_SIG_ECDSA_WITH_SHA512;
        let bad = |e: x509_parser::error::X509Error| MspError::Malformed(e.to_string());
        let basic_constraints = c
            .basic_constraints()
            .map_err(bad)?
            .map(|b| (b.value.ca, b.value.path_len_constraint));
        let cert_sign_allowed = match c.key_usage().map_err(bad)? {
            Some(ku) => ku.value.flags == 0 || ku.value.key_cert_sign(),
            None => true,
        };
        let server_auth_allowed = match c.extended_key_usage().map_err(bad)? {
            Some(eku) => {
                let e = eku.value;
                e.any
                    || e.server_auth
                    || !(e.client_auth
                        || e.code_signing
                        || e.email_protection
                        || e.time_stamping
                        || e.ocsp_signing
                        || !e.other.is_empty())
            }
            None => true,
        };
        let ski = c
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        let ous = c
            .subject()
            .iter_organizational_unit()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
        Ok(Cert {
            der: der.to_vec(),
            tbs: outer.tbs_der()?,
            sig_hash,
            ecdsa_signed,
            signature: outer.sig.raw_bytes().to_vec(),
            subject: c.subject().as_raw().to_vec(),
            issuer: c.issuer().as_raw().to_vec(),
            serial: strip_zeros(c.raw_serial()),
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
            v3: c.version().0 == 2,
            basic_constraints,
            cert_sign_allowed,
            server_auth_allowed,
            ski,
            ous,
            key: PublicKey::from_spki_der(c.public_key().raw).ok(),
        })
    }

    /// The first PEM block of `pem`, parsed (Go's `pem.Decode` then `x509.ParseCertificate`).
    pub fn from_pem(pem: &[u8]) -> Result<Cert, MspError> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem)
            .map_err(|e| MspError::Malformed(format!("could not decode the PEM structure: {e}")))?;
        Cert::parse(&block.contents)
    }

    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }

    /// Go's `CheckSignatureFrom`: `parent` may sign certificates and its key verifies ours.
    pub fn check_signature_from(&self, parent: &Cert) -> Result<(), MspError> {
        let constraint = |m: &str| Err(MspError::Invalid(m.into()));
        match parent.basic_constraints {
            None if parent.v3 => return constraint("issuer has no basic constraints"),
            Some((false, _)) => return constraint("issuer is not a CA"),
            _ => {}
        }
        if !parent.cert_sign_allowed {
            return constraint("issuer's key usage forbids certificate signing");
        }
        let key = parent
            .key
            .as_ref()
            .ok_or_else(|| MspError::Invalid("issuer key is not a supported ECDSA key".into()))?;
        let hash = self.sig_hash.ok_or_else(|| {
            MspError::Invalid("unsupported certificate signature algorithm".into())
        })?;
        key.verify_digest_any_s(&hash.digest(&self.tbs), &self.signature)
    }

    /// This certificate with its ECDSA signature in low-S form for `parent_key`'s curve;
    /// unchanged when it already is, or when it is not ECDSA-signed.
    pub fn sanitized(&self, parent_key: &PublicKey) -> Result<Cert, MspError> {
        if !self.ecdsa_signed {
            return Ok(self.clone());
        }
        let low = parent_key.to_low_s(&self.signature)?;
        if low == self.signature {
            return Ok(self.clone());
        }
        let outer = SignedDer::split(&self.der)?;
        let rewritten = SignedDer {
            tbs: outer.tbs,
            alg: outer.alg,
            sig: BitStringRef::from_bytes(&low)
                .map_err(|e| MspError::Malformed(format!("bad DER: {e}")))?,
        };
        let der = rewritten
            .to_der()
            .map_err(|e| MspError::Malformed(format!("bad DER: {e}")))?;
        Cert::parse(&der)
    }

    /// Whether the signature is DER in its one canonical encoding (Fabric's `IsWellFormed`).
    /// The issuer's curve is unknown here; re-encoding the same integers gives the same bytes
    /// under either curve, so the first curve that parses them decides.
    pub fn signature_is_canonical(&self) -> bool {
        if !self.ecdsa_signed {
            return true;
        }
        let again = if let Ok(s) = p256::ecdsa::Signature::from_der(&self.signature) {
            s.to_der().as_bytes().to_vec()
        } else if let Ok(s) = p384::ecdsa::Signature::from_der(&self.signature) {
            s.to_der().as_bytes().to_vec()
        } else {
            return false;
        };
        again == self.signature
    }
}
