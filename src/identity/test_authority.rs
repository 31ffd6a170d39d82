//! Test crypto for identity life cycles: the built-in crypto plus an [`Authority`] whose
//! revocation list and expiration dates tests change while peers run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::crypto::ed25519::Ed25519Crypto;
use crate::crypto::{CryptoError, MessageCryptoService};
use crate::types::PkiId;

/// Revocations and expiration dates, shared by every peer's [`TestMcs`].
#[derive(Default)]
pub(crate) struct Authority {
    pub revoked: Mutex<HashSet<Vec<u8>>>,
    pub expiry: Mutex<HashMap<Vec<u8>, SystemTime>>,
}

pub(crate) struct TestMcs {
    pub inner: Arc<Ed25519Crypto>,
    pub auth: Arc<Authority>,
}

impl MessageCryptoService for TestMcs {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        self.inner.pki_id_of(identity)
    }
    fn verify_block(&self, c: &str, s: u64, b: &[u8]) -> Result<(), CryptoError> {
        self.inner.verify_block(c, s, b)
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.sign(msg)
    }
    fn verify(&self, id: &[u8], sig: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        self.inner.verify(id, sig, msg)
    }
    fn verify_by_channel(
        &self,
        c: &str,
        id: &[u8],
        sig: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        self.inner.verify_by_channel(c, id, sig, msg)
    }
    fn validate_identity(&self, id: &[u8]) -> Result<(), CryptoError> {
        if self.auth.revoked.lock().unwrap().contains(id) {
            return Err(CryptoError::UntrustedIdentity("revoked".into()));
        }
        self.inner.validate_identity(id)
    }
    fn expiration(&self, id: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        self.inner.expiration(id)?;
        Ok(self.auth.expiry.lock().unwrap().get(id).copied())
    }
}
