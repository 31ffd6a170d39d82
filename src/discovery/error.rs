//! Errors of the discovery module: bad configuration and malformed alive messages.

/// Why a [`Discovery`](super::Discovery) could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("invalid discovery config: {0}")]
    InvalidConfig(String),
    #[error("invalid self information: {0}")]
    InvalidSelf(String),
}

/// Why an envelope is not a usable alive message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliveError {
    #[error("payload is not a GossipMessage: {0}")]
    Decode(String),
    #[error("GossipMessage carries no alive message")]
    NotAlive,
    #[error("alive message has no membership")]
    NoMembership,
    #[error("alive message has an empty PKI-ID")]
    EmptyPkiId,
    #[error("alive message has no timestamp")]
    NoTimestamp,
    #[error("secret envelope is not a Secret: {0}")]
    BadSecret(String),
}
