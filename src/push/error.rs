//! Errors of the push module: bad configuration and messages the router cannot place.

/// Why a [`PushEmitter`](super::PushEmitter) could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("invalid push config: {0}")]
    InvalidConfig(String),
}

/// Why the router found no destination rule for a message (counted, the message dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("message has no content")]
    NoContent,
    /// Blocks and leadership messages of a channel this peer has not joined.
    #[error("not a member of channel {0}")]
    NotInChannel(String),
    /// A content kind push never carries (pull, membership, private data …).
    #[error("{0} messages are not pushed")]
    NotPushed(&'static str),
    #[error("{0} message lacks its PKI-ID")]
    NoOriginator(&'static str),
}
