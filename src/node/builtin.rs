//! The built-in identity and crypto, built from the configuration, for hosts that bring no
//! crypto callbacks.

use std::sync::Arc;

use super::NodeError;
use crate::config::Config;
use crate::crypto::ed25519::{load_or_generate_seed, Ed25519Crypto};
use crate::crypto::CryptoContext;

/// The Ed25519 default: the seed from `fabgossip.identitySeed` or from `peer.mspConfigPath`
/// (generated there on first start); trusted orgs are the own org, `fabgossip.trustedOrgs` and
/// the orgs of configured anchor peers.
pub fn builtin_crypto(config: &Config) -> Result<(Arc<Ed25519Crypto>, CryptoContext), NodeError> {
    let seed = match config.fabgossip.identity_seed {
        Some(seed) => seed,
        None => {
            let dir = config.msp_dir();
            load_or_generate_seed(&dir)
                .map_err(|e| NodeError::Io(format!("identity seed in {}: {e}", dir.display())))?
        }
    };
    let mut trusted = config.fabgossip.trusted_orgs.clone();
    trusted.extend(
        config
            .fabgossip
            .anchor_peers
            .iter()
            .map(|a| a.mspid.clone()),
    );
    let crypto = Ed25519Crypto::new(config.peer.local_msp_id.clone(), seed, trusted);
    let ctx = crypto.context();
    Ok((crypto, ctx))
}
