//! What the caller decides for the engine: which digests to want, which to offer, and
//! whether a pulled item is genuine.

use super::digest::Digest;
use crate::proto::gossip::Envelope;
use crate::types::PkiId;

/// The caller's side of the pull protocol, passed to every
/// [`PullEngine::handle`](super::PullEngine::handle) so it can read current state (ledger
/// height, membership) without the engine holding it.
pub trait PullPolicy {
    /// Whether an offered digest is worth requesting (for blocks: seq ≥ own ledger height).
    /// Digests already held are never requested, whatever this says.
    fn ingress(&self, _digest: &[u8]) -> bool {
        true
    }

    /// Whether `digest` may be offered and sent to `peer` (identity pull: org rules).
    fn egress(&self, _peer: &PkiId, _digest: &[u8]) -> bool {
        true
    }

    /// The digest an item in a `DataUpdate` claims to be; `None` marks it malformed.
    fn digest_of(&self, item: &Envelope) -> Option<Digest>;

    /// Checks a pulled item before it is accepted (for blocks: channel, CheckValid,
    /// VerifyBlock). An error aborts the whole update it came in.
    fn validate(&mut self, from: &PkiId, digest: &[u8], item: &Envelope) -> Result<(), String>;
}
