//! ECDSA keys as Fabric's software BCCSP uses them: P-256 and P-384, signatures DER-encoded
//! `(r, s)`, message digests by the MSP's hash family (SHA-256 for `SHA2`, whatever the curve),
//! and the low-S rule: a signature whose `s` is above half the curve order is refused, and every
//! signature made here is low-S.

use ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha256, Sha384};

use super::MspError;

#[cfg(test)]
thread_local! {
    /// Message signatures checked by this thread (tests count the checks per message).
    pub(crate) static MESSAGE_VERIFICATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A certificate's public key.
#[derive(Clone, Debug)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// The digest a certificate or CRL signature covers, from its signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigHash {
    Sha256,
    Sha384,
}

impl SigHash {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            SigHash::Sha256 => Sha256::digest(data).to_vec(),
            SigHash::Sha384 => Sha384::digest(data).to_vec(),
        }
    }
}

impl PublicKey {
    /// Parses a DER `SubjectPublicKeyInfo`; only EC keys on P-256 and P-384 are supported.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, MspError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
            return Ok(PublicKey::P256(k));
        }
        if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
            return Ok(PublicKey::P384(k));
        }
        Err(MspError::Malformed(
            "public key is not an ECDSA P-256 or P-384 key".into(),
        ))
    }

    /// The uncompressed SEC1 point; Fabric's SKI of a key is SHA-256 over it.
    pub fn sec1_uncompressed(&self) -> Vec<u8> {
        match self {
            PublicKey::P256(k) => k.to_encoded_point(false).as_bytes().to_vec(),
            PublicKey::P384(k) => k.to_encoded_point(false).as_bytes().to_vec(),
        }
    }

    /// Checks a DER signature over a precomputed digest, accepting high and low S (X.509 chain
    /// and CRL signatures, which Go's x509 checks without the low-S rule).
    pub fn verify_digest_any_s(&self, digest: &[u8], sig_der: &[u8]) -> Result<(), MspError> {
        let bad = |_| MspError::BadSignature("signature does not verify".into());
        match self {
            PublicKey::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(sig_der).map_err(malformed_sig)?;
                k.verify_prehash(digest, &sig).map_err(bad)
            }
            PublicKey::P384(k) => {
                let sig = p384::ecdsa::Signature::from_der(sig_der).map_err(malformed_sig)?;
                k.verify_prehash(digest, &sig).map_err(bad)
            }
        }
    }

    /// Fabric's message signature check: SHA-256 of `msg`, the signature must be low-S.
    pub fn verify_message(&self, msg: &[u8], sig_der: &[u8]) -> Result<(), MspError> {
        #[cfg(test)]
        MESSAGE_VERIFICATIONS.with(|c| c.set(c.get() + 1));
        if !self.is_low_s(sig_der)? {
            return Err(MspError::BadSignature(
                "signature S is above half the curve order".into(),
            ));
        }
        self.verify_sha256_message(msg, sig_der)
    }

    /// ECDSA over SHA-256 of `msg`, any S, by `ring`: its assembly P-256 and P-384 are several
    /// times faster than the pure-Rust curves, and every block and message pays for this check.
    /// Fabric hashes with the MSP's hash family (SHA-256) on both curves, so P-384 keys verify
    /// SHA-256 digests too.
    fn verify_sha256_message(&self, msg: &[u8], sig_der: &[u8]) -> Result<(), MspError> {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA256_ASN1};
        let verified = match self {
            PublicKey::P256(k) => UnparsedPublicKey::new(
                &ECDSA_P256_SHA256_ASN1,
                k.to_encoded_point(false).as_bytes(),
            )
            .verify(msg, sig_der),
            PublicKey::P384(k) => UnparsedPublicKey::new(
                &ECDSA_P384_SHA256_ASN1,
                k.to_encoded_point(false).as_bytes(),
            )
            .verify(msg, sig_der),
        };
        verified.map_err(|_| MspError::BadSignature("signature does not verify".into()))
    }

    /// Whether a DER signature is in low-S form for this key's curve.
    pub fn is_low_s(&self, sig_der: &[u8]) -> Result<bool, MspError> {
        Ok(match self {
            PublicKey::P256(_) => p256::ecdsa::Signature::from_der(sig_der)
                .map_err(malformed_sig)?
                .normalize_s()
                .is_none(),
            PublicKey::P384(_) => p384::ecdsa::Signature::from_der(sig_der)
                .map_err(malformed_sig)?
                .normalize_s()
                .is_none(),
        })
    }

    /// The same signature with `s` replaced by `n - s` when it was high, DER-encoded.
    pub fn to_low_s(&self, sig_der: &[u8]) -> Result<Vec<u8>, MspError> {
        Ok(match self {
            PublicKey::P256(_) => {
                let sig = p256::ecdsa::Signature::from_der(sig_der).map_err(malformed_sig)?;
                sig.normalize_s()
                    .unwrap_or(sig)
                    .to_der()
                    .as_bytes()
                    .to_vec()
            }
            PublicKey::P384(_) => {
                let sig = p384::ecdsa::Signature::from_der(sig_der).map_err(malformed_sig)?;
                sig.normalize_s()
                    .unwrap_or(sig)
                    .to_der()
                    .as_bytes()
                    .to_vec()
            }
        })
    }
}

fn malformed_sig(e: ecdsa::Error) -> MspError {
    MspError::BadSignature(format!("malformed ECDSA signature: {e}"))
}

/// A private signing key, loaded from PKCS#8 as Fabric's keystore holds it.
#[derive(Clone)]
pub enum SigningKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKey::P256(_) => f.write_str("SigningKey::P256(..)"),
            SigningKey::P384(_) => f.write_str("SigningKey::P384(..)"),
        }
    }
}

impl SigningKey {
    /// Parses a PKCS#8 DER private key on P-256 or P-384.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, MspError> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(SigningKey::P256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(SigningKey::P384(k));
        }
        Err(MspError::Config(
            "private key is not a PKCS#8 ECDSA P-256 or P-384 key".into(),
        ))
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            SigningKey::P384(k) => PublicKey::P384(*k.verifying_key()),
        }
    }

    /// Fabric's signature: ECDSA over SHA-256 of `msg`, low-S, DER-encoded.
    pub fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>, MspError> {
        let digest = Sha256::digest(msg);
        let fail = |e: ecdsa::Error| MspError::BadSignature(format!("signing failed: {e}"));
        Ok(match self {
            SigningKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(&digest).map_err(fail)?;
                sig.normalize_s()
                    .unwrap_or(sig)
                    .to_der()
                    .as_bytes()
                    .to_vec()
            }
            SigningKey::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign_prehash(&digest).map_err(fail)?;
                sig.normalize_s()
                    .unwrap_or(sig)
                    .to_der()
                    .as_bytes()
                    .to_vec()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msp::test_pki::{leaf_with, root};

    /// The signature with S replaced by n - S (still a valid ECDSA signature).
    fn high_s(key: &PublicKey, sig: &[u8]) -> Vec<u8> {
        match key {
            PublicKey::P256(_) => {
                let s = p256::ecdsa::Signature::from_der(sig).unwrap();
                let high = p256::ecdsa::Signature::from_scalars(s.r(), -*s.s()).unwrap();
                high.to_der().as_bytes().to_vec()
            }
            PublicKey::P384(_) => {
                let s = p384::ecdsa::Signature::from_der(sig).unwrap();
                let high = p384::ecdsa::Signature::from_scalars(s.r(), -*s.s()).unwrap();
                high.to_der().as_bytes().to_vec()
            }
        }
    }

    #[test]
    fn ring_and_the_prehash_check_agree() {
        let ca = root("ca.org1");
        for p384 in [false, true] {
            let key = leaf_with(&ca, "peer0", &["peer"], 90, (2021, 2070), p384).key;
            let public = key.public_key();
            for i in 0..8u8 {
                let msg = [i; 50];
                let good = key.sign_message(&msg).unwrap();
                let high = high_s(&public, &good);
                let mut flipped = good.clone();
                let last = flipped.len() - 1;
                flipped[last] ^= 1;
                let cases: [(&[u8], &[u8], bool); 5] = [
                    (&msg, &good, true),
                    (&msg, &high, true),
                    (b"another message", &good, false),
                    (b"another message", &high, false),
                    (&msg, &flipped, false),
                ];
                for (m, sig, verifies) in cases {
                    let by_ring = public.verify_sha256_message(m, sig).is_ok();
                    let by_prehash = public.verify_digest_any_s(&Sha256::digest(m), sig).is_ok();
                    assert_eq!(by_ring, verifies, "p384={p384} i={i}");
                    assert_eq!(by_prehash, verifies, "p384={p384} i={i}");
                }
                public.verify_message(&msg, &good).unwrap();
                assert!(public.verify_message(&msg, &high).is_err());
                assert!(public.verify_message(&msg, &flipped).is_err());
                assert!(public.verify_message(b"another message", &good).is_err());
            }
        }
    }
}
