//! The organizations of a channel config: each org group's MSP (Fabric's X.509 MSP
//! config), and what the org adds: anchor peers for application orgs, endpoints for
//! orderer orgs.

use prost::Message;

use super::error::ConfigError;
use super::values::{required, value};
use crate::proto::common::{ConfigGroup, OrdererAddresses};
use crate::proto::msp::{FabricMspConfig, FabricNodeOUs, FabricOuIdentifier, MspConfig};
use crate::proto::protos::AnchorPeers;

/// `MSPConfig.type` of Fabric's X.509 MSP; the only one supported.
const FABRIC_MSP_TYPE: i32 = 0;

/// An org's MSP as its config group's `MSP` value carries it (certificates are PEM).
#[derive(Debug, Clone, PartialEq)]
pub struct OrgMsp {
    pub msp_id: String,
    pub root_certs: Vec<Vec<u8>>,
    pub intermediate_certs: Vec<Vec<u8>>,
    pub admins: Vec<Vec<u8>>,
    /// CRLs.
    pub revocation_list: Vec<Vec<u8>>,
    pub organizational_unit_identifiers: Vec<FabricOuIdentifier>,
    pub node_ous: Option<FabricNodeOUs>,
    pub tls_root_certs: Vec<Vec<u8>>,
    pub tls_intermediate_certs: Vec<Vec<u8>>,
    /// The whole message, for the MSP that validates identities against it.
    pub config: FabricMspConfig,
}

impl OrgMsp {
    fn from_group(group: &ConfigGroup, path: &str) -> Result<Self, ConfigError> {
        let m: MspConfig = required(group, path, "MSP")?;
        let at = format!("{path}/MSP");
        if m.r#type != FABRIC_MSP_TYPE {
            return Err(ConfigError::new(
                at,
                format!(
                    "MSP type {} is not supported (only X.509, type 0)",
                    m.r#type
                ),
            ));
        }
        let c = FabricMspConfig::decode(&m.config[..])
            .map_err(|e| ConfigError::malformed(format!("{at}.config"), e))?;
        if c.name.is_empty() {
            return Err(ConfigError::missing(format!("{at}.config.name")));
        }
        if c.root_certs.is_empty() {
            return Err(ConfigError::missing(format!("{at}.config.root_certs")));
        }
        Ok(OrgMsp {
            msp_id: c.name.clone(),
            root_certs: c.root_certs.clone(),
            intermediate_certs: c.intermediate_certs.clone(),
            admins: c.admins.clone(),
            revocation_list: c.revocation_list.clone(),
            organizational_unit_identifiers: c.organizational_unit_identifiers.clone(),
            node_ous: c.fabric_node_ous.clone().filter(|n| n.enable),
            tls_root_certs: c.tls_root_certs.clone(),
            tls_intermediate_certs: c.tls_intermediate_certs.clone(),
            config: c,
        })
    }

    /// The TLS CA certificates (roots, then intermediates) as one PEM bundle.
    pub fn tls_ca_pem(&self) -> String {
        pem_bundle(
            self.tls_root_certs
                .iter()
                .chain(&self.tls_intermediate_certs),
        )
    }
}

/// PEM certificates joined into one bundle, each ending with a newline.
pub(crate) fn pem_bundle<'a>(certs: impl IntoIterator<Item = &'a Vec<u8>>) -> String {
    let mut out = String::new();
    for c in certs {
        let text = String::from_utf8_lossy(c);
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// An anchor peer of an application org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorPeerAddr {
    pub host: String,
    pub port: u16,
}

/// An org of the channel's Application group.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationOrg {
    /// The org's group name in the config (e.g. `Org1`).
    pub name: String,
    pub msp: OrgMsp,
    pub anchor_peers: Vec<AnchorPeerAddr>,
}

impl ApplicationOrg {
    pub(crate) fn from_group(
        name: &str,
        group: &ConfigGroup,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let msp = OrgMsp::from_group(group, path)?;
        let anchors: Option<AnchorPeers> = value(group, path, "AnchorPeers")?;
        let anchor_peers = anchors
            .map(|a| a.anchor_peers)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let at = format!("{path}/AnchorPeers[{i}]");
                if a.host.is_empty() {
                    return Err(ConfigError::missing(format!("{at}.host")));
                }
                let port = u16::try_from(a.port)
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| {
                        ConfigError::new(format!("{at}.port"), format!("{} is not a port", a.port))
                    })?;
                Ok(AnchorPeerAddr { host: a.host, port })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ApplicationOrg {
            name: name.to_string(),
            msp,
            anchor_peers,
        })
    }
}

/// An org of the channel's Orderer group.
#[derive(Debug, Clone, PartialEq)]
pub struct OrdererOrg {
    pub name: String,
    pub msp: OrgMsp,
    /// The org's `Endpoints` value (`host:port` of its ordering nodes).
    pub endpoints: Vec<String>,
}

impl OrdererOrg {
    pub(crate) fn from_group(
        name: &str,
        group: &ConfigGroup,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let msp = OrgMsp::from_group(group, path)?;
        let endpoints: Option<OrdererAddresses> = value(group, path, "Endpoints")?;
        Ok(OrdererOrg {
            name: name.to_string(),
            msp,
            endpoints: endpoints.map(|e| e.addresses).unwrap_or_default(),
        })
    }
}
