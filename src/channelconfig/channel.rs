//! [`ChannelConfig`]: everything gossip needs from a channel's config tree.

use std::collections::BTreeSet;

use super::block::ConfigBlock;
use super::error::{ConfigError, PolicyError};
use super::evaluate::{evaluate, verified_signers, PrincipalCheck, SignedData};
use super::orderer::OrdererConfig;
use super::org::ApplicationOrg;
use super::policy::PolicyGroup;
use super::values::{capabilities, group, value};
use crate::proto::common::{Config, HashingAlgorithm, OrdererAddresses};

/// The policy gossip checks a peer's channel messages against (Fabric's `VerifyByChannel`).
pub const READERS_POLICY: &str = "/Channel/Application/Readers";
/// The policy a block's orderer signatures must satisfy (Fabric's `VerifyBlock`).
pub const BLOCK_VALIDATION_POLICY: &str = "/Channel/Orderer/BlockValidation";

/// The capabilities switched on at each level of the config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelCapabilities {
    pub channel: BTreeSet<String>,
    pub application: BTreeSet<String>,
    pub orderer: BTreeSet<String>,
}

/// A channel's configuration at one config sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    pub channel_id: String,
    pub sequence: u64,
    pub application_orgs: Vec<ApplicationOrg>,
    pub orderer: OrdererConfig,
    /// The channel group's global `OrdererAddresses` (used when no orderer org names its
    /// own endpoints).
    pub orderer_addresses: Vec<String>,
    pub hashing_algorithm: Option<String>,
    pub capabilities: ChannelCapabilities,
    /// The policies tree, rooted at the `Channel` group.
    pub policies: PolicyGroup,
}

impl ChannelConfig {
    /// Reads a marshaled config block (a genesis block or a later config block).
    pub fn from_block_bytes(bytes: &[u8]) -> Result<(ConfigBlock, Self), ConfigError> {
        let block = ConfigBlock::decode(bytes)?;
        let config = Self::from_config(&block.channel_id, &block.config)?;
        Ok((block, config))
    }

    /// Reads the channel group tree of `config`.
    pub fn from_config(channel_id: &str, config: &Config) -> Result<Self, ConfigError> {
        if channel_id.is_empty() {
            return Err(ConfigError::missing("channel header.channel_id"));
        }
        let root = config
            .channel_group
            .as_ref()
            .ok_or_else(|| ConfigError::missing("Channel"))?;
        let path = "Channel";
        let app_path = "Channel/Application";
        let app = group(root, path, "Application")?;
        let application_orgs = app
            .groups
            .iter()
            .map(|(name, g)| ApplicationOrg::from_group(name, g, &format!("{app_path}/{name}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = BTreeSet::new();
        for o in &application_orgs {
            if !seen.insert(&o.msp.msp_id) {
                return Err(ConfigError::new(
                    format!("{app_path}/{}/MSP", o.name),
                    format!("MSP id {} is used by another org", o.msp.msp_id),
                ));
            }
        }
        let orderer_path = "Channel/Orderer";
        let orderer = OrdererConfig::from_group(group(root, path, "Orderer")?, orderer_path)?;
        let orderer_addresses = value::<OrdererAddresses>(root, path, "OrdererAddresses")?
            .map(|a| a.addresses)
            .unwrap_or_default();
        let hashing_algorithm =
            value::<HashingAlgorithm>(root, path, "HashingAlgorithm")?.map(|h| h.name);
        let capabilities = ChannelCapabilities {
            channel: capabilities(root, path)?,
            application: capabilities(app, app_path)?,
            orderer: capabilities(group(root, path, "Orderer")?, orderer_path)?,
        };
        Ok(ChannelConfig {
            channel_id: channel_id.to_string(),
            sequence: config.sequence,
            application_orgs,
            orderer,
            orderer_addresses,
            hashing_algorithm,
            capabilities,
            policies: PolicyGroup::from_group(root, "Channel")?,
        })
    }

    /// The MSP ids of the application orgs: the channel's member orgs for gossip.
    pub fn member_orgs(&self) -> Vec<String> {
        self.application_orgs
            .iter()
            .map(|o| o.msp.msp_id.clone())
            .collect()
    }

    /// Evaluates the policy at `path` over `signed`, checking each signature once.
    pub fn evaluate(
        &self,
        path: &str,
        signed: &[SignedData],
        check: &dyn PrincipalCheck,
    ) -> Result<(), PolicyError> {
        let signers = verified_signers(check, signed);
        evaluate(&self.policies, path, &signers, check)
    }

    /// Evaluates the policy at `path` over identities whose signatures the caller verified.
    pub fn evaluate_verified(
        &self,
        path: &str,
        signers: &[&[u8]],
        check: &dyn PrincipalCheck,
    ) -> Result<(), PolicyError> {
        evaluate(&self.policies, path, signers, check)
    }
}
