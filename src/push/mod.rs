//! Push (Fabric's `gossip/gossip/batcher.go` and the routing of `gossip_impl.go`) as a
//! sans-IO machine.
//!
//! - [`config`]: the push knobs with Fabric's defaults.
//! - [`policy`]: the block fan-out rule, Fabric's fixed one or the adaptive one.
//! - [`snapshot`]: the membership and channel view the caller passes at each call.
//! - [`router`]: pure routing rules per message kind.
//! - [`emitter`]: the batching queue: bursts, latency, iterations, bounded size.
//!
//! # Driving it
//!
//! - Build with [`PushEmitter::new`] (config from [`PushConfig::from_gossip`], a seed).
//! - Every message to push goes in with `handle(now, Input::Add{msg, exclude: vec![sender]},
//!   snap)`: blocks on first receipt (the adaptive policy relies on it, and Fabric does the
//!   same), own and forwarded StateInfo, leadership messages.
//! - Call `handle(now, Input::Tick, snap)` when [`PushEmitter::next_deadline`] passes.
//! - `snap` is a [`RoutingSnapshot`]: this peer ([`LocalPeer`]: PKI-ID, org, external
//!   endpoint, joined channels) and the alive members ([`RoutePeer`]: org, endpoints, and for
//!   each channel whether the peer's org is in it and whether its StateInfo is held).
//! - Outputs: `Send{to, envelope}`; send the envelope to each target as is.

pub mod config;
pub mod counters;
pub mod emitter;
pub mod error;
pub mod policy;
pub mod router;
pub mod snapshot;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use config::PushConfig;
pub use counters::PushCounters;
pub use emitter::{Input, Output, PushEmitter};
pub use error::{PushError, RouteError};
pub use policy::PushPolicy;
pub use router::{route, Route, RouteKind, RouteParams};
pub use snapshot::{LocalPeer, RoutePeer, RoutingSnapshot};
