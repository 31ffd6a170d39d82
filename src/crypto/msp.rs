//! Fabric's MSP as gossip's `MessageCryptoService` and `SecurityAdvisor`, as a Fabric peer's
//! `MSPMessageCryptoService` answers: sign with the local signing identity; an identity is
//! valid when the local MSP (for the local org) or one of the joined channels' MSPs validates
//! it; org = mspid; PKI-ID = SHA-256(mspid ‖ id_bytes); expiration = the certificate's NotAfter.
//!
//! Channels: each joined channel gets its MSPs (an [`MspManager`]) and, optionally, its
//! policies ([`ChannelPolicies`]: the Readers policy for `verify_by_channel`, BlockValidation
//! for `verify_block`), both from the channel's config. Until a channel has a policy checker,
//! `verify_by_channel` requires the signer to validate under one of the channel's MSPs; until a
//! channel has MSPs at all, under the local MSP or any joined channel's MSPs. `verify_block`
//! always checks the block's structure and data hash, and the BlockValidation policy when set.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use prost::Message;

use super::ed25519::CryptoCounters;
use super::{block, CryptoContext, CryptoError, MessageCryptoService, SecurityAdvisor};
use crate::msp::{pki_id, Identity, LocalMsp, Msp, MspError, MspManager, SigningIdentity};
use crate::proto::msp::SerializedIdentity;
use crate::types::{OrgId, PkiId};

/// A channel's policies, evaluated by the channel-config part over the channel's MSPs.
pub trait ChannelPolicies: Send + Sync + 'static {
    /// The channel's Readers policy over one signed message.
    fn readers(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError>;
    /// The channel's BlockValidation policy over a block whose structure was checked.
    fn block_validation(&self, seq: u64, block: &[u8]) -> Result<(), CryptoError>;
}

/// What the crypto knows of one joined channel.
#[derive(Clone)]
pub struct ChannelMsps {
    pub msps: MspManager,
    pub policies: Option<Arc<dyn ChannelPolicies>>,
}

#[derive(Default)]
struct Counters {
    signatures_made: AtomicU64,
    signatures_verified: AtomicU64,
    signatures_rejected: AtomicU64,
    identities_rejected: AtomicU64,
    blocks_verified: AtomicU64,
    blocks_rejected: AtomicU64,
}

pub struct MspCrypto {
    mspid: String,
    local: Msp,
    signer: SigningIdentity,
    channels: RwLock<HashMap<String, ChannelMsps>>,
    counters: Counters,
}

impl std::fmt::Debug for MspCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MspCrypto")
            .field("mspid", &self.mspid)
            .finish()
    }
}

fn crypto_err(e: MspError) -> CryptoError {
    match e {
        MspError::Malformed(m) => CryptoError::MalformedIdentity(m),
        MspError::Expired => CryptoError::Expired,
        MspError::BadSignature(_) => CryptoError::BadSignature,
        other => CryptoError::UntrustedIdentity(other.to_string()),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl MspCrypto {
    /// The local MSP from an MSP folder (`peer.mspConfigPath`, `peer.localMspId`).
    pub fn open(msp_dir: &Path, mspid: &str) -> Result<Arc<MspCrypto>, CryptoError> {
        let local = LocalMsp::load(msp_dir, mspid, now_unix())
            .map_err(|e| CryptoError::MalformedIdentity(format!("local MSP: {e}")))?;
        Ok(Self::new(local))
    }

    pub fn new(local: LocalMsp) -> Arc<MspCrypto> {
        Arc::new(MspCrypto {
            mspid: local.msp.name().to_string(),
            local: local.msp,
            signer: local.signer,
            channels: RwLock::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    /// Whether `dir` is an MSP folder (it has `signcerts`), rather than the Ed25519 default's.
    pub fn is_msp_folder(dir: &Path) -> bool {
        dir.join("signcerts").is_dir()
    }

    /// This peer's crypto as gossip consumes it.
    pub fn context(self: &Arc<Self>) -> Result<CryptoContext, CryptoError> {
        CryptoContext::new(
            self.clone(),
            self.clone(),
            self.signer.serialized().to_vec(),
        )
    }

    pub fn serialized_identity(&self) -> &[u8] {
        self.signer.serialized()
    }

    /// Sets (or replaces, on a config update) a joined channel's MSPs and policies.
    pub fn set_channel(&self, channel: &str, msps: ChannelMsps) {
        self.write_channels().insert(channel.to_string(), msps);
    }

    /// What the crypto holds for `channel`, to put back when a reconfiguration fails.
    pub fn channel(&self, channel: &str) -> Option<ChannelMsps> {
        self.read_channels().get(channel).cloned()
    }

    /// Forgets a left channel.
    pub fn remove_channel(&self, channel: &str) {
        self.write_channels().remove(channel);
    }

    pub fn counters(&self) -> CryptoCounters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CryptoCounters {
            signatures_made: get(&c.signatures_made),
            signatures_verified: get(&c.signatures_verified),
            signatures_rejected: get(&c.signatures_rejected),
            identities_rejected: get(&c.identities_rejected),
            blocks_verified: get(&c.blocks_verified),
            blocks_rejected: get(&c.blocks_rejected),
        }
    }

    fn write_channels(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, ChannelMsps>> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        self.channels.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_channels(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ChannelMsps>> {
        self.channels.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Fabric's `getValidatedIdentity`: the local MSP for the local org, else the first
    /// joined channel whose MSPs validate the identity.
    fn validated(&self, identity: &[u8]) -> Result<Identity, CryptoError> {
        let sid = SerializedIdentity::decode(identity).map_err(|e| {
            CryptoError::MalformedIdentity(format!("not a SerializedIdentity: {e}"))
        })?;
        Msp::is_well_formed(&sid.id_bytes).map_err(crypto_err)?;
        if sid.mspid == self.mspid {
            let id = self
                .local
                .deserialize_id_bytes(&sid.id_bytes)
                .map_err(crypto_err)?;
            self.local.validate(&id).map_err(crypto_err)?;
            return Ok(id);
        }
        let channels = self.read_channels();
        let mut last = None;
        for ch in channels.values() {
            match ch.msps.validate(identity) {
                Ok(id) => return Ok(id),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => crypto_err(e),
            None => CryptoError::UntrustedIdentity(format!(
                "no MSP of a joined channel knows {}",
                sid.mspid
            )),
        })
    }

    fn verify_in_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        let ch = self.read_channels().get(channel).cloned();
        let Some(ch) = ch else {
            let id = self.validated(identity)?;
            return id.verify(msg, signature).map_err(crypto_err);
        };
        let id = ch.msps.validate(identity).map_err(|e| match e {
            MspError::UnknownMsp(_) => CryptoError::NotInChannel(channel.to_string()),
            e => crypto_err(e),
        })?;
        id.verify(msg, signature).map_err(crypto_err)?;
        if let Some(p) = &ch.policies {
            p.readers(identity, signature, msg)?;
        }
        Ok(())
    }
}

fn tally<T>(r: Result<T, CryptoError>, ok: &AtomicU64, err: &AtomicU64) -> Result<T, CryptoError> {
    match &r {
        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
        Err(_) => err.fetch_add(1, Ordering::Relaxed),
    };
    r
}

impl MessageCryptoService for MspCrypto {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        let sid = SerializedIdentity::decode(identity).map_err(|e| {
            CryptoError::MalformedIdentity(format!("not a SerializedIdentity: {e}"))
        })?;
        Ok(PkiId(pki_id(&sid.mspid, &sid.id_bytes).to_vec()))
    }

    fn verify_block(&self, channel: &str, seq: u64, blk: &[u8]) -> Result<(), CryptoError> {
        let policies = self
            .read_channels()
            .get(channel)
            .and_then(|c| c.policies.clone());
        let r = block::verify_block(channel, seq, blk, &[]).and_then(|_| match policies {
            Some(p) => p.block_validation(seq, blk),
            None => Ok(()),
        });
        tally(
            r,
            &self.counters.blocks_verified,
            &self.counters.blocks_rejected,
        )
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.counters
            .signatures_made
            .fetch_add(1, Ordering::Relaxed);
        self.signer
            .sign(msg)
            .map_err(|e| CryptoError::Host(format!("signing with the local MSP: {e}")))
    }

    fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        let r = self
            .validated(identity)
            .and_then(|id| id.verify(msg, signature).map_err(crypto_err));
        tally(
            r,
            &self.counters.signatures_verified,
            &self.counters.signatures_rejected,
        )
    }

    fn verify_by_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        let r = self.verify_in_channel(channel, identity, signature, msg);
        tally(
            r,
            &self.counters.signatures_verified,
            &self.counters.signatures_rejected,
        )
    }

    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        let r = self.validated(identity).map(|_| ());
        if r.is_err() {
            self.counters
                .identities_rejected
                .fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        self.validated(identity).map(|id| Some(id.expires_at()))
    }

    fn as_msp(&self) -> Option<&MspCrypto> {
        Some(self)
    }
}

impl SecurityAdvisor for MspCrypto {
    fn org_by_peer_identity(&self, identity: &[u8]) -> Option<OrgId> {
        SerializedIdentity::decode(identity)
            .ok()
            .map(|sid| sid.mspid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msp::test_pki::*;
    use crate::proto::msp::SigningIdentityInfo;

    struct Org {
        ca: Ca,
        crypto: Arc<MspCrypto>,
    }

    fn org(mspid: &str) -> Org {
        let ca = root(&format!("ca.{mspid}"));
        let me = leaf(&ca, "peer0", &["peer"], 1);
        let mut conf = config(mspid, &[&ca], &[]);
        conf.signing_identity = Some(SigningIdentityInfo {
            public_signer: me.pem.clone().into_bytes(),
            private_signer: None,
        });
        let local = LocalMsp::new(conf, me.key, now_unix()).unwrap();
        Org {
            ca,
            crypto: MspCrypto::new(local),
        }
    }

    #[test]
    fn signs_and_verifies_within_the_org_and_across_after_join() {
        let a = org("Org1MSP");
        let b = org("Org2MSP");
        let ctx = a.crypto.context().unwrap();
        assert_eq!(ctx.self_org, "Org1MSP");
        let sig = a.crypto.sign(b"alive").unwrap();
        a.crypto
            .verify(a.crypto.serialized_identity(), &sig, b"alive")
            .unwrap();
        assert!(a
            .crypto
            .verify(a.crypto.serialized_identity(), &sig, b"other")
            .is_err());
        // Org2 knows nothing of Org1 until they share a channel.
        assert!(b
            .crypto
            .validate_identity(a.crypto.serialized_identity())
            .is_err());
        assert!(b
            .crypto
            .verify(a.crypto.serialized_identity(), &sig, b"alive")
            .is_err());
        let msps = MspManager::from_configs(&[
            config("Org1MSP", &[&a.ca], &[]),
            config("Org2MSP", &[&b.ca], &[]),
        ])
        .unwrap();
        b.crypto.set_channel(
            "ch1",
            ChannelMsps {
                msps,
                policies: None,
            },
        );
        b.crypto
            .validate_identity(a.crypto.serialized_identity())
            .unwrap();
        b.crypto
            .verify(a.crypto.serialized_identity(), &sig, b"alive")
            .unwrap();
        b.crypto
            .verify_by_channel("ch1", a.crypto.serialized_identity(), &sig, b"alive")
            .unwrap();
        let exp = b.crypto.expiration(a.crypto.serialized_identity()).unwrap();
        assert!(exp.unwrap() > SystemTime::now());
        assert_eq!(
            b.crypto.pki_id_of(a.crypto.serialized_identity()).unwrap(),
            ctx.self_pki_id
        );
        assert_eq!(b.crypto.counters().identities_rejected, 1);
        b.crypto.remove_channel("ch1");
        assert!(b
            .crypto
            .validate_identity(a.crypto.serialized_identity())
            .is_err());
    }

    #[test]
    fn channel_refuses_orgs_it_does_not_have_and_asks_its_policies() {
        struct OnlyOrg2;
        impl ChannelPolicies for OnlyOrg2 {
            fn readers(&self, identity: &[u8], _: &[u8], _: &[u8]) -> Result<(), CryptoError> {
                match SerializedIdentity::decode(identity) {
                    Ok(s) if s.mspid == "Org2MSP" => Ok(()),
                    _ => Err(CryptoError::NotInChannel("readers".into())),
                }
            }
            fn block_validation(&self, _: u64, _: &[u8]) -> Result<(), CryptoError> {
                Err(CryptoError::InvalidBlock("no orderer signature".into()))
            }
        }
        let a = org("Org1MSP");
        let b = org("Org2MSP");
        let sig = a.crypto.sign(b"m").unwrap();
        let only_b = MspManager::from_configs(&[config("Org2MSP", &[&b.ca], &[])]).unwrap();
        b.crypto.set_channel(
            "ch",
            ChannelMsps {
                msps: only_b,
                policies: None,
            },
        );
        assert_eq!(
            b.crypto
                .verify_by_channel("ch", a.crypto.serialized_identity(), &sig, b"m")
                .unwrap_err(),
            CryptoError::NotInChannel("ch".into())
        );
        let both = MspManager::from_configs(&[
            config("Org1MSP", &[&a.ca], &[]),
            config("Org2MSP", &[&b.ca], &[]),
        ])
        .unwrap();
        b.crypto.set_channel(
            "ch",
            ChannelMsps {
                msps: both,
                policies: Some(Arc::new(OnlyOrg2)),
            },
        );
        assert!(b
            .crypto
            .verify_by_channel("ch", a.crypto.serialized_identity(), &sig, b"m")
            .is_err());
        let own = b.crypto.sign(b"m").unwrap();
        b.crypto
            .verify_by_channel("ch", b.crypto.serialized_identity(), &own, b"m")
            .unwrap();
        assert!(b.crypto.verify_block("ch", 0, b"\x00").is_err());
    }
}
