//! A channel's MSPs and policies as the X.509 crypto consumes them: the MSP manager of the
//! channel (its application orgs' and orderer orgs' MSPs) answers [`PrincipalCheck`], and
//! [`ChannelPolicyManager`] evaluates `/Channel/Application/Readers` over one signed gossip
//! message and `/Channel/Orderer/BlockValidation` over a block's orderer signatures, as a
//! Fabric peer's `MSPMessageCryptoService` does.

use std::sync::Arc;

use prost::Message;

use super::channel::{ChannelConfig, BLOCK_VALIDATION_POLICY, READERS_POLICY};
use super::error::ConfigError;
use super::evaluate::{PrincipalCheck, SignedData};
use super::orderer::Consenter;
use crate::crypto::block::block_header_bytes;
use crate::crypto::msp::{ChannelMsps, ChannelPolicies};
use crate::crypto::CryptoError;
use crate::msp::{MspManager, MspPrincipal};
use crate::proto::common::{
    Block, BlockMetadataIndex, IdentifierHeader, Metadata, SignatureHeader,
};
use crate::proto::msp::SerializedIdentity;

impl PrincipalCheck for MspManager {
    fn satisfies_principal(
        &self,
        identity: &[u8],
        principal: &crate::proto::common::MspPrincipal,
    ) -> bool {
        let p = MspPrincipal {
            principal_classification: principal.principal_classification,
            principal: principal.principal.clone(),
        };
        MspManager::satisfies_principal(self, identity, &p).is_ok()
    }

    fn verify_signature(&self, identity: &[u8], data: &[u8], signature: &[u8]) -> bool {
        self.validate(identity)
            .and_then(|id| id.verify(data, signature))
            .is_ok()
    }
}

impl ChannelConfig {
    /// The channel's MSP manager: one MSP per application org and per orderer org.
    pub fn msp_manager(&self) -> Result<MspManager, ConfigError> {
        let app = self
            .application_orgs
            .iter()
            .map(|o| (format!("Channel/Application/{}/MSP", o.name), &o.msp));
        let ord = self
            .orderer
            .orgs
            .iter()
            .map(|o| (format!("Channel/Orderer/{}/MSP", o.name), &o.msp));
        let msps = app
            .chain(ord)
            .map(|(path, m)| {
                crate::msp::Msp::new(&m.config).map_err(|e| ConfigError::new(path, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MspManager::new(msps))
    }

    /// What the X.509 crypto needs of this channel: its MSPs, and its Readers and
    /// BlockValidation policies evaluated over them.
    pub fn channel_msps(&self) -> Result<ChannelMsps, ConfigError> {
        let msps = self.msp_manager()?;
        let policies = ChannelPolicyManager::new(self, msps.clone());
        Ok(ChannelMsps {
            msps,
            policies: Some(Arc::new(policies)),
        })
    }
}

/// The policies of one channel config over its MSPs (Fabric's channel policy manager, as
/// far as gossip asks it).
pub struct ChannelPolicyManager {
    config: ChannelConfig,
    msps: MspManager,
}

impl ChannelPolicyManager {
    pub fn new(config: &ChannelConfig, msps: MspManager) -> Self {
        ChannelPolicyManager {
            config: config.clone(),
            msps,
        }
    }

    /// Whether signers may name themselves by consenter id (`IdentifierHeader`).
    fn bft(&self) -> bool {
        self.config.orderer.consensus_type == "BFT"
    }

    /// One [`SignedData`] per orderer signature of the block's SIGNATURES metadata: the
    /// signer is the signature header's creator, or (BFT) the consenter its identifier
    /// header names; the signed bytes are the metadata value ‖ that header ‖ the block
    /// header's ASN.1 bytes. A signature header that does not decode refuses the block, as
    /// in Fabric; a BFT identifier of no consenter is skipped.
    pub fn block_signatures(&self, seq: u64, block: &Block) -> Result<Vec<SignedData>, String> {
        let header = block.header.as_ref().ok_or("no header")?;
        let raw = block
            .metadata
            .as_ref()
            .and_then(|m| m.metadata.get(BlockMetadataIndex::Signatures as usize))
            .filter(|m| !m.is_empty())
            .ok_or_else(|| format!("block {seq} has no SIGNATURES metadata"))?;
        let md = Metadata::decode(raw.as_slice())
            .map_err(|e| format!("block {seq} SIGNATURES metadata undecodable: {e}"))?;
        let header_bytes = block_header_bytes(header);
        let mut out = Vec::with_capacity(md.signatures.len());
        for ms in &md.signatures {
            let (identity, signed_header) =
                if self.bft() && ms.signature_header.is_empty() && !ms.identifier_header.is_empty()
                {
                    let ih = IdentifierHeader::decode(ms.identifier_header.as_slice())
                        .map_err(|e| format!("block {seq} identifier header undecodable: {e}"))?;
                    match consenter_identity(&self.config.orderer.consenters, ih.identifier) {
                        Some(id) => (id, &ms.identifier_header),
                        None => continue,
                    }
                } else {
                    let sh = SignatureHeader::decode(ms.signature_header.as_slice())
                        .map_err(|e| format!("block {seq} signature header undecodable: {e}"))?;
                    (sh.creator, &ms.signature_header)
                };
            let mut data =
                Vec::with_capacity(md.value.len() + signed_header.len() + header_bytes.len());
            data.extend_from_slice(&md.value);
            data.extend_from_slice(signed_header);
            data.extend_from_slice(&header_bytes);
            out.push(SignedData {
                identity,
                data,
                signature: ms.signature.clone(),
            });
        }
        Ok(out)
    }
}

/// The serialized identity of the BFT consenter numbered `id`.
fn consenter_identity(consenters: &[Consenter], id: u32) -> Option<Vec<u8>> {
    let c = consenters.iter().find(|c| c.id == Some(id))?;
    Some(
        SerializedIdentity {
            mspid: c.msp_id.clone()?,
            id_bytes: c.identity.clone()?,
        }
        .encode_to_vec(),
    )
}

impl ChannelPolicies for ChannelPolicyManager {
    fn readers(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        let signed = [SignedData {
            identity: identity.to_vec(),
            data: msg.to_vec(),
            signature: signature.to_vec(),
        }];
        self.config
            .evaluate(READERS_POLICY, &signed, &self.msps)
            .map_err(|e| CryptoError::NotInChannel(format!("{} ({e})", self.config.channel_id)))
    }

    fn readers_of_verified(&self, identity: &[u8]) -> Result<(), CryptoError> {
        self.config
            .evaluate_verified(READERS_POLICY, &[identity], &self.msps)
            .map_err(|e| CryptoError::NotInChannel(format!("{} ({e})", self.config.channel_id)))
    }

    fn block_validation(&self, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        let b = Block::decode(block)
            .map_err(|e| CryptoError::InvalidBlock(format!("undecodable block: {e}")))?;
        let signed = self
            .block_signatures(seq, &b)
            .map_err(CryptoError::InvalidBlock)?;
        self.config
            .evaluate(BLOCK_VALIDATION_POLICY, &signed, &self.msps)
            .map_err(|e| CryptoError::InvalidBlock(format!("block {seq}: {e}")))
    }
}
