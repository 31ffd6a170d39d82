//! Fabric's pull protocol (`gossip/gossip/algo/pull.go`, `gossip/gossip/pull/pullstore.go`)
//! as a sans-IO machine, for one channel's blocks or for identities.
//!
//! A round: the initiator sends `GossipHello{nonce}` to `pullPeerNum` random peers; each
//! responder keeps the nonce for `requestWaitTime` and answers `DataDigest{nonce, digests}`
//! (after its egress filter; nothing when empty); after `digestWaitTime` the initiator sends
//! `DataRequest{that peer's nonce, missing digests}` to a random owner of each missing item;
//! the responder answers a live nonce with `DataUpdate{nonce, envelopes}`; updates are
//! accepted for `responseWaitTime`, then the round's nonces are forgotten.
//!
//! - [`config`]: timers and bounds.
//! - [`digest`]: how blocks and identities are named in digests.
//! - [`policy`]: the caller's filters and item validation.
//! - [`events`]: inputs, outputs, and decoding a received pull message.
//! - `round`: one round's bookkeeping.
//! - [`engine`]: the machine.
//!
//! # Driving it
//!
//! - Build with [`PullEngine::new`]; register held items with [`PullEngine::add_item`]
//!   (blocks: when stored; remove them with [`PullEngine::remove_item`] when the block store
//!   evicts or expires them).
//! - Call `handle(now, Input::Tick { peers }, policy)` when [`PullEngine::next_deadline`]
//!   passes (or every ~100 ms); fill `peers` only when [`PullEngine::round_due`] is true.
//! - A received hello, digest, request or update: [`pull_input`] turns it into an `Input`.
//! - Outputs: `Send` (unsigned envelope, existing connection), `Received` (a validated item
//!   to store), `UpdateRejected` (log; the peer sent a bad item).

pub mod config;
pub mod counters;
pub mod digest;
pub mod engine;
pub mod events;
pub mod policy;
mod round;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use config::{PullConfig, PullConfigError};
pub use counters::PullCounters;
pub use digest::{
    block_digest, block_envelope_digest, identity_envelope_digest, parse_block_digest, Digest,
};
pub use engine::PullEngine;
pub use events::{pull_input, Input, Output, PullInputError};
pub use policy::PullPolicy;
