//! Small values shared by every part of the library.

use std::fmt;

/// A peer's PKI-ID: SHA-256(mspid ‖ id_bytes) for the identities this library
/// knows, opaque bytes otherwise. Displayed as lowercase hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PkiId(pub Vec<u8>);

impl PkiId {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl From<Vec<u8>> for PkiId {
    fn from(v: Vec<u8>) -> Self {
        PkiId(v)
    }
}

impl From<&[u8]> for PkiId {
    fn from(v: &[u8]) -> Self {
        PkiId(v.to_vec())
    }
}

impl fmt::Display for PkiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PkiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits identify a peer in logs without flooding them.
        let h = self.to_hex();
        write!(f, "PkiId({})", &h[..h.len().min(16)])
    }
}

/// A serialized identity (`msp.SerializedIdentity` bytes for Fabric peers).
pub type PeerIdentity = Vec<u8>;

/// An organization, named by its MSP ID.
pub type OrgId = String;

/// A remote peer's signed ConnEstablish, kept as its credential (Fabric's `AuthInfo`): the
/// cores check channel access on it without knowing the transport.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthInfo {
    /// The envelope payload (a marshaled GossipMessage carrying the ConnEstablish).
    pub signed_data: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A peer to send to: its PKI-ID (its connection carries the message when there is one) and
/// the endpoint to dial otherwise (the internal endpoint for a peer of this org when known,
/// else the external one). The PKI-ID is empty when only the endpoint is known (a bootstrap
/// or anchor peer not yet met); the endpoint is empty when only an existing connection can
/// carry the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemotePeer {
    pub pki_id: PkiId,
    pub endpoint: String,
}
