//! Membership (Fabric's `gossip/discovery`) as a sans-IO state machine.
//!
//! The driver verifies signatures, turns received envelopes into [`Input`]s, calls
//! [`Discovery::handle`] with the current time, and carries out the [`Output`]s (send,
//! probe, ping, close). Time and randomness are injected, so runs are reproducible.
//!
//! - [`alive`]: the alive message (timestamp order, reading, building the own one).
//! - [`membership`]: the store of alive and dead members.
//! - [`disclosure`]: which alives may reach which peers across organizations.
//! - [`connect`]: bootstrap and anchor peers (probe, org check, request, backoff).
//! - [`membership_msg`]: membership request and response envelopes.
//! - [`machine`]: the protocol itself: timers, learning, expiration, purge.

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

pub use alive::{decode_alive, AliveFields, PeerTime, VerifiedAlive};
pub use config::DiscoveryConfig;
pub use counters::DiscoveryCounters;
pub use error::{AliveError, DiscoveryError};
pub use events::{Input, Output, RemoteTarget};
pub use machine::{Discovery, SelfInfo};
pub use membership::{Liveness, MemberView};
pub use signer::Signer;
