//! An identity deserialized by an MSP: `SerializedIdentity{mspid, PEM certificate}` with its
//! (sanitized) certificate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::cert::Cert;
use super::MspError;

#[derive(Clone, Debug)]
pub struct Identity {
    pub mspid: String,
    /// The PEM bytes as serialized.
    pub id_bytes: Vec<u8>,
    pub cert: Cert,
}

impl Identity {
    /// The certificate's NotAfter (Fabric's `ExpiresAt`).
    pub fn expires_at(&self) -> SystemTime {
        unix_to_system_time(self.cert.not_after)
    }

    /// Checks a signature made by this identity over `msg` (SHA-256, low-S).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), MspError> {
        let key = self
            .cert
            .key
            .as_ref()
            .ok_or_else(|| MspError::Malformed("unsupported public key".into()))?;
        key.verify_message(msg, signature)
    }

    /// The PKI-ID Fabric's gossip gives this identity.
    pub fn pki_id(&self) -> [u8; 32] {
        pki_id(&self.mspid, &self.id_bytes)
    }
}

/// Fabric's gossip PKI-ID of a serialized identity: SHA-256(mspid ‖ id_bytes).
pub fn pki_id(mspid: &str, id_bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(mspid.as_bytes());
    h.update(id_bytes);
    h.finalize().into()
}

pub(crate) fn unix_to_system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

#[cfg(test)]
pub(crate) fn system_time_to_unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}
