//! The MSPs of a channel (Fabric's MSP manager): an identity is deserialized by the MSP its
//! mspid names, and validated and checked against principals by that MSP.

use std::collections::BTreeMap;
use std::sync::Arc;

use prost::Message;

use super::fabric_msp::Msp;
use super::identity::Identity;
use super::principal::MspPrincipal;
use super::MspError;
use crate::proto::msp::{FabricMspConfig, SerializedIdentity};

#[derive(Clone, Debug, Default)]
pub struct MspManager {
    msps: BTreeMap<String, Arc<Msp>>,
}

impl MspManager {
    pub fn new(msps: impl IntoIterator<Item = Msp>) -> MspManager {
        MspManager {
            msps: msps
                .into_iter()
                .map(|m| (m.name().to_string(), Arc::new(m)))
                .collect(),
        }
    }

    /// Sets up one MSP per configuration.
    pub fn from_configs(configs: &[FabricMspConfig]) -> Result<MspManager, MspError> {
        Ok(MspManager::new(
            configs
                .iter()
                .map(Msp::new)
                .collect::<Result<Vec<_>, _>>()?,
        ))
    }

    pub fn msp(&self, mspid: &str) -> Option<&Arc<Msp>> {
        self.msps.get(mspid)
    }

    pub fn mspids(&self) -> impl Iterator<Item = &str> {
        self.msps.keys().map(String::as_str)
    }

    fn msp_of(&self, serialized: &[u8]) -> Result<(&Arc<Msp>, SerializedIdentity), MspError> {
        let sid = SerializedIdentity::decode(serialized)
            .map_err(|e| MspError::Malformed(format!("not a SerializedIdentity: {e}")))?;
        let msp = self
            .msps
            .get(&sid.mspid)
            .ok_or_else(|| MspError::UnknownMsp(sid.mspid.clone()))?;
        Ok((msp, sid))
    }

    /// Deserializes an identity with the MSP its mspid names.
    pub fn deserialize_identity(&self, serialized: &[u8]) -> Result<Identity, MspError> {
        let (msp, sid) = self.msp_of(serialized)?;
        msp.deserialize_id_bytes(&sid.id_bytes)
    }

    /// Deserializes and validates an identity.
    pub fn validate(&self, serialized: &[u8]) -> Result<Identity, MspError> {
        let (msp, sid) = self.msp_of(serialized)?;
        let id = msp.deserialize_id_bytes(&sid.id_bytes)?;
        msp.validate(&id)?;
        Ok(id)
    }

    /// Whether the serialized identity satisfies `principal` (policies call this).
    pub fn satisfies_principal(
        &self,
        serialized: &[u8],
        principal: &MspPrincipal,
    ) -> Result<(), MspError> {
        let (msp, sid) = self.msp_of(serialized)?;
        let id = msp.deserialize_id_bytes(&sid.id_bytes)?;
        msp.satisfies_principal(&id, principal)
    }

    /// As [`MspManager::satisfies_principal`], with the principal still encoded.
    pub fn satisfies_principal_bytes(
        &self,
        serialized: &[u8],
        principal: &[u8],
    ) -> Result<(), MspError> {
        let p = MspPrincipal::decode(principal)
            .map_err(|e| MspError::Principal(format!("not an MSPPrincipal: {e}")))?;
        self.satisfies_principal(serialized, &p)
    }
}
