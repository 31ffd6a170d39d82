//! The channel's Orderer group: consensus type and its consenters, orderer orgs.

use prost::Message;

use super::error::ConfigError;
use super::org::OrdererOrg;
use super::values::{required, value};
use crate::proto::common::{ConfigGroup, Orderers};
use crate::proto::etcdraft::ConfigMetadata;
use crate::proto::orderer::ConsensusType;

/// A consenter of the ordering service: from etcdraft's `ConfigMetadata`, or (BFT) from the
/// Orderer group's `Orderers` value, which also names its id, MSP and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consenter {
    pub host: String,
    pub port: u32,
    pub client_tls_cert: Vec<u8>,
    pub server_tls_cert: Vec<u8>,
    /// BFT only.
    pub id: Option<u32>,
    pub msp_id: Option<String>,
    pub identity: Option<Vec<u8>>,
}

/// The Orderer group.
#[derive(Debug, Clone, PartialEq)]
pub struct OrdererConfig {
    /// `etcdraft`, `BFT`, `solo`, ...
    pub consensus_type: String,
    /// Whether the ordering service is in maintenance mode (consensus-type migration).
    pub maintenance: bool,
    pub consenters: Vec<Consenter>,
    pub orgs: Vec<OrdererOrg>,
}

impl OrdererConfig {
    pub(crate) fn from_group(group: &ConfigGroup, path: &str) -> Result<Self, ConfigError> {
        let ct: ConsensusType = required(group, path, "ConsensusType")?;
        if ct.r#type.is_empty() {
            return Err(ConfigError::missing(format!("{path}/ConsensusType.type")));
        }
        let mut consenters = Vec::new();
        if ct.r#type == "etcdraft" {
            let md = ConfigMetadata::decode(&ct.metadata[..])
                .map_err(|e| ConfigError::malformed(format!("{path}/ConsensusType.metadata"), e))?;
            consenters.extend(md.consenters.into_iter().map(|c| Consenter {
                host: c.host,
                port: c.port,
                client_tls_cert: c.client_tls_cert,
                server_tls_cert: c.server_tls_cert,
                id: None,
                msp_id: None,
                identity: None,
            }));
        }
        if let Some(o) = value::<Orderers>(group, path, "Orderers")? {
            consenters.extend(o.consenter_mapping.into_iter().map(|c| Consenter {
                host: c.host,
                port: c.port,
                client_tls_cert: c.client_tls_cert,
                server_tls_cert: c.server_tls_cert,
                id: Some(c.id),
                msp_id: Some(c.msp_id),
                identity: Some(c.identity),
            }));
        }
        let orgs = group
            .groups
            .iter()
            .map(|(name, g)| OrdererOrg::from_group(name, g, &format!("{path}/{name}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrdererConfig {
            consensus_type: ct.r#type,
            maintenance: ct.state
                == crate::proto::orderer::consensus_type::State::Maintenance as i32,
            consenters,
            orgs,
        })
    }
}
