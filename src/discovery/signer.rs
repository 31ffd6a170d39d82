//! The signing hook: discovery signs its own alive messages through it, without knowing
//! which key or MSP does the work.

use crate::crypto::CryptoError;

/// Signs bytes with this peer's key (Fabric's `MessageCryptoService.Sign`).
pub trait Signer: Send + Sync {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

impl<F> Signer for F
where
    F: Fn(&[u8]) -> Result<Vec<u8>, CryptoError> + Send + Sync,
{
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self(payload)
    }
}
