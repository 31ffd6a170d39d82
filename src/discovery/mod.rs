//! Membership (Fabric's `gossip/discovery`) as a sans-IO state machine.
//!
//! The driver verifies signatures, turns received envelopes into [`Input`]s, calls
//! [`Discovery::handle`] with the current time, and carries out the [`Output`]s (send,
//! probe, ping, close). Time and randomness are injected, so runs are reproducible.
//!
//! - [`alive`]: the alive message (timestamp order, reading, building the own one).
//! - [`membership`]: the store of alive and dead members.
//! - [`disclosure`]: which alives may reach which peers across organizations.
//! - `connect`: bootstrap and anchor peers (probe, org check, request, backoff).
//! - [`membership_msg`]: membership request and response envelopes.
//! - [`machine`]: the protocol itself: timers, learning, expiration, purge.
//!
//! # Driving it
//!
//! - Build with [`Discovery::new`], then call `handle(now, Input::Tick)` at once and again
//!   whenever [`Discovery::next_deadline`] passes (or every ~100 ms).
//! - A received envelope with tag EMPTY and content `alive_msg`: verify its signature (and the
//!   secret envelope's), build a [`VerifiedAlive`] with [`VerifiedAlive::new`] and the org of
//!   its PKI-ID, feed `Input::Alive{from: handshake PKI-ID}`.
//! - `mem_req`: verify `self_information` the same way, feed `Input::MemReq` with the
//!   connection's PKI-ID and org and the outer message's nonce (the PKI-ID check against the
//!   alive is done here).
//! - `mem_res`: verify each entry, drop the bad ones (count them), feed `Input::MemRes`.
//! - Comm events: `Connected` after each registered handshake, `Disconnected` when a
//!   connection closes, `PresumedDead` when a send fails, `IdentitySwitch` when a peer
//!   reconnects under a new PKI-ID.
//! - Outputs: `Send` (dial `to.endpoint` if no connection to `to.pki_id` exists; forwarded
//!   alives are the original bytes), `Probe` → a `probe = true` handshake, answered with
//!   `ProbeResult`, `Ping` → dial + Ping, answered with `PingResult`, `CloseConn`.

pub mod alive;
pub mod config;
pub(crate) mod connect;
pub mod counters;
pub mod disclosure;
pub mod error;
pub mod events;
pub mod machine;
pub mod membership;
pub mod membership_msg;
pub mod signer;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use alive::{decode_alive, AliveFields, PeerTime, VerifiedAlive};
pub use config::DiscoveryConfig;
pub use counters::DiscoveryCounters;
pub use error::{AliveError, DiscoveryError};
pub use events::{Input, Output};
pub use machine::{Discovery, SelfInfo};
pub use membership::{Liveness, MemberView};
pub use signer::Signer;
