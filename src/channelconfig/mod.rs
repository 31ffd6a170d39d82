//! A channel from its config blocks (sans-IO): the config tree a genesis or config block
//! carries, read into a [`ChannelConfig`] (orgs and their MSPs, anchor peers, orderers and
//! consenters, policies, capabilities), the join message gossip derives from it, and the
//! evaluation of the channel's policies (`/Channel/Application/Readers`,
//! `/Channel/Orderer/BlockValidation`) over signed data.
//!
//! - [`block`]: Block → Envelope → Payload (CONFIG) → ConfigEnvelope → Config.
//! - [`channel`]: [`ChannelConfig`] from the `Channel` group.
//! - [`org`]: application and orderer orgs, their MSP config.
//! - [`orderer`]: consensus type and consenters.
//! - [`policy`]: the policies tree.
//! - [`evaluate`]: ImplicitMeta and signature policies over signed data, through
//!   [`PrincipalCheck`] (the channel's MSPs).
//! - [`msps`]: the channel's MSP manager as the [`PrincipalCheck`], and the Readers and
//!   BlockValidation policies as the X.509 crypto asks them ([`ChannelPolicyManager`]).
//! - [`genesis`]: the checks of a host-given block 0 (no orderer signature).
//! - [`join`]: the [`JoinChannelMessage`](crate::channel::JoinChannelMessage) of a config.
//! - [`error`]: what is missing or malformed, and where.

pub mod block;
pub mod channel;
pub mod error;
pub mod evaluate;
pub mod genesis;
pub mod join;
pub mod msps;
pub mod orderer;
pub mod org;
pub mod policy;
mod values;

#[cfg(test)]
mod msps_tests;
#[cfg(test)]
mod tests;

pub use block::{is_config_block, is_config_block_bytes, ConfigBlock};
pub use channel::{ChannelCapabilities, ChannelConfig, BLOCK_VALIDATION_POLICY, READERS_POLICY};
pub use error::{ConfigError, PolicyError};
pub use evaluate::{
    evaluate, signature_policy_holds, verified_signers, PrincipalCheck, SignedData,
};
pub use genesis::GenesisBlockCheck;
pub use msps::ChannelPolicyManager;
pub use orderer::{Consenter, OrdererConfig};
pub use org::{AnchorPeerAddr, ApplicationOrg, OrdererOrg, OrgMsp};
pub use policy::{MetaRule, Policy, PolicyGroup};
