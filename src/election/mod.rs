//! Leader election per channel (Fabric's `gossip/election`) as a sans-IO state machine.
//!
//! One [`LeaderElection`] runs per joined channel. The driver verifies each received
//! leadership message (signature, sender of our org and in the channel), turns it into a
//! [`LeadershipMsg`] and calls [`LeaderElection::handle`] with the current time and the
//! current candidates: the alive peers of our org in the channel, self excluded. Outputs are
//! signed proposals and declarations to send to those peers, and leadership changes.
//!
//! - [`mode`]: static leader, election or never leader, from `peer.gossip.*`.
//! - [`events`]: inputs and outputs.
//! - [`counters`]: what the machine saw and did.
//! - [`machine`]: the algorithm and its timers.
//!
//! # The algorithm (Fabric's, with its messages and timers)
//!
//! - Startup: sample the candidate count every `membershipSampleInterval` until it stops
//!   changing, `startupGracePeriod` passes or a declaration arrives.
//! - Election: gossip a proposal, collect for `leaderElectionDuration` (a declaration ends
//!   the wait). No declaration and no proposal from a lower PKI-ID (bytewise) → leader.
//! - Leader: declare every `leaderAliveThreshold / 2`; a declaration from a lower PKI-ID
//!   makes it step down.
//! - Follower: without a declaration for `leaderAliveThreshold`, elect again.
//! - Yield: step down and stay out of elections for 6 × `leaderAliveThreshold` or until
//!   another peer declares.

pub mod counters;
pub mod events;
pub mod machine;
pub mod mode;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use counters::ElectionCounters;
pub use events::{Input, LeadershipMsg, Output};
pub use machine::{ElectionError, LeaderElection};
pub use mode::LeadershipMode;
