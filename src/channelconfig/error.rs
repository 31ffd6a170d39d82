//! Why a config block or a policy was refused, with the place in the config tree.

use std::fmt;

/// A config block that cannot be read: what is missing or malformed, and where
/// (`Channel/Application/Org1/MSP`, `block.data[0].payload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(path: impl Into<String>) -> Self {
        ConfigError::new(path, "missing")
    }

    pub(crate) fn malformed(path: impl Into<String>, e: impl fmt::Display) -> Self {
        ConfigError::new(path, format!("malformed: {e}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Why a policy was not satisfied or could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// No policy at this path of the channel's policy tree.
    NotFound(String),
    /// The policy's type is not one gossip evaluates (e.g. `MSP`).
    Unsupported { path: String, kind: i32 },
    /// The signed data does not satisfy the policy.
    NotSatisfied(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::NotFound(p) => write!(f, "policy {p}: not in the channel config"),
            PolicyError::Unsupported { path, kind } => {
                write!(f, "policy {path}: type {kind} is not supported")
            }
            PolicyError::NotSatisfied(p) => {
                write!(f, "policy {p}: the signatures do not satisfy it")
            }
        }
    }
}

impl std::error::Error for PolicyError {}
