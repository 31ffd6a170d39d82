//! Errors of the channel module: bad configuration, bad join messages, unknown channels.

/// Why a channel call was refused. The registry is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("invalid channel config: {0}")]
    InvalidConfig(String),
    #[error("invalid self information: {0}")]
    InvalidSelf(String),
    #[error("invalid join message for channel {channel:?}: {reason}")]
    InvalidJoin { channel: String, reason: String },
    #[error("our organization {org} is not a member of channel {channel:?}")]
    NotInChannel { channel: String, org: String },
    #[error("channel {0:?} is not joined")]
    UnknownChannel(String),
    #[error("channel {0:?} was left")]
    LeftChannel(String),
}
