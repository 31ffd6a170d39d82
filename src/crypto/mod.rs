//! The crypto contracts gossip relies on, as Fabric defines them
//! (`MessageCryptoService`, `SecurityAdvisor`), and their implementations:
//! the built-in Ed25519 default ([`ed25519`]), host callbacks (`ffi::host_crypto`: the C ABI's side) and Fabric's X.509
//! MSP ([`msp`]).

pub mod block;
pub mod ed25519;
pub mod msp;

use std::sync::Arc;
use std::time::SystemTime;

use crate::types::{OrgId, PkiId};

/// Why a crypto operation refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed identity: {0}")]
    MalformedIdentity(String),
    #[error("untrusted identity: {0}")]
    UntrustedIdentity(String),
    #[error("identity expired")]
    Expired,
    #[error("bad signature")]
    BadSignature,
    #[error("not a member of channel {0}")]
    NotInChannel(String),
    #[error("invalid block: {0}")]
    InvalidBlock(String),
    #[error("host callback failed: {0}")]
    Host(String),
}

/// Fabric's `MessageCryptoService`: everything gossip asks of the MSP.
/// Implementations are called from the library's worker threads, concurrently.
pub trait MessageCryptoService: Send + Sync + 'static {
    /// The PKI-ID of a serialized identity.
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError>;
    /// Checks a block received for `channel` claimed to carry sequence `seq`.
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError>;
    /// Signs `msg` with this peer's signing key.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Checks that `signature` over `msg` was made by `identity`.
    fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError>;
    /// As `verify`, and the signer must satisfy the channel's readers policy.
    fn verify_by_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError>;
    /// Checks that `identity` is well formed, trusted and not revoked.
    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError>;
    /// When `identity` expires; `None` when it never does.
    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError>;
    /// The built-in Fabric MSP crypto, which channel config blocks configure (its channel
    /// MSPs and policies); `None` for every other implementation.
    fn as_msp(&self) -> Option<&msp::MspCrypto> {
        None
    }
}

/// Fabric's `SecurityAdvisor`: which organization an identity belongs to.
pub trait SecurityAdvisor: Send + Sync + 'static {
    fn org_by_peer_identity(&self, identity: &[u8]) -> Option<OrgId>;
}

/// What a peer brings to gossip: its crypto services and its own identity.
#[derive(Clone)]
pub struct CryptoContext {
    pub mcs: Arc<dyn MessageCryptoService>,
    pub advisor: Arc<dyn SecurityAdvisor>,
    /// This peer's serialized identity.
    pub self_identity: Vec<u8>,
    /// `mcs.pki_id_of(self_identity)`, computed once.
    pub self_pki_id: PkiId,
    /// `advisor.org_by_peer_identity(self_identity)`, computed once.
    pub self_org: OrgId,
}

impl CryptoContext {
    pub fn new(
        mcs: Arc<dyn MessageCryptoService>,
        advisor: Arc<dyn SecurityAdvisor>,
        self_identity: Vec<u8>,
    ) -> Result<Self, CryptoError> {
        let self_pki_id = mcs.pki_id_of(&self_identity)?;
        let self_org = advisor
            .org_by_peer_identity(&self_identity)
            .ok_or_else(|| {
                CryptoError::MalformedIdentity("no organization for own identity".into())
            })?;
        Ok(CryptoContext {
            mcs,
            advisor,
            self_identity,
            self_pki_id,
            self_org,
        })
    }
}
