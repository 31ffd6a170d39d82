//! A block on its way to the ledger, where it came from, and its verification.

use std::sync::Arc;

use bytes::Bytes;

use crate::crypto::{CryptoError, MessageCryptoService};

/// Who handed us a payload; decides how far ahead it may be and whether it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The host (`fg_add_payload`) or an orderer deliver client: forwarded to the org.
    Deliverer,
    /// A pushed or pulled gossip `DataMessage`: forwarded (it was new to us).
    Gossip,
    /// A `RemoteStateResponse` (anti-entropy): never forwarded.
    StateTransfer,
}

/// Fabric's `Payload{seq_num, data, private_data}`. Bytes are shared, so buffering,
/// committing and forwarding do not copy the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub seq: u64,
    /// A marshaled `common.Block`.
    pub block: Bytes,
    /// Marshaled `PvtDataPayload`s, possibly none.
    pub private_data: Arc<[Vec<u8>]>,
    pub source: Source,
}

impl Payload {
    pub fn new(
        seq: u64,
        block: impl Into<Bytes>,
        private_data: Vec<Vec<u8>>,
        source: Source,
    ) -> Self {
        Payload {
            seq,
            block: block.into(),
            private_data: private_data.into(),
            source,
        }
    }
}

impl Payload {
    /// A payload from a gossip `DataMessage` (pushed or pulled) or a `RemoteStateResponse`.
    pub fn from_proto(p: crate::proto::gossip::Payload, source: Source) -> Self {
        Payload::new(p.seq_num, p.data, p.private_data, source)
    }
}

/// Fabric's `VerifyBlock` as the state provider needs it.
pub trait BlockVerifier: Send + Sync {
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError>;
}

/// Verifies through a [`MessageCryptoService`] (the built-in one or the host's).
#[derive(Clone)]
pub struct McsVerifier(pub Arc<dyn MessageCryptoService>);

impl BlockVerifier for McsVerifier {
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        self.0.verify_block(channel, seq, block)
    }
}

/// A payload whose block passed `VerifyBlock` for a channel. Only [`VerifiedPayload::verify`]
/// makes one, so a layer that already verified a block (the gossip channel, on receipt) can
/// hand it over without a second verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPayload {
    channel: String,
    payload: Payload,
}

impl VerifiedPayload {
    /// Runs `verifier` on the payload's block; on failure the payload comes back with the
    /// reason.
    pub fn verify(
        verifier: &dyn BlockVerifier,
        channel: &str,
        payload: Payload,
    ) -> Result<Self, (Payload, CryptoError)> {
        match verifier.verify_block(channel, payload.seq, &payload.block) {
            Ok(()) => Ok(VerifiedPayload {
                channel: channel.to_owned(),
                payload,
            }),
            Err(e) => Err((payload, e)),
        }
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    pub fn into_payload(self) -> Payload {
        self.payload
    }
}

/// A state-transfer payload after verification off the owner task (see [`check_response`]).
#[derive(Debug, Clone)]
pub enum CheckedPayload {
    Verified(VerifiedPayload),
    Failed(Payload, CryptoError),
    /// Outside the range asked, or a repeat: left for the state transfer to refuse.
    Unchecked(Payload),
}

impl CheckedPayload {
    pub fn seq(&self) -> u64 {
        match self {
            CheckedPayload::Verified(v) => v.payload().seq,
            CheckedPayload::Failed(p, _) | CheckedPayload::Unchecked(p) => p.seq,
        }
    }
}

/// Verifies the payloads of a state response numbered within `start..=end` (each number
/// once), the range its request asked: a blocking-thread job, so that `VerifyBlock` (an
/// Ed25519 verification and a data hash per block) runs beside the owner task and several
/// responses are verified at once. Payloads outside the range are not verified.
pub fn check_response(
    verifier: &dyn BlockVerifier,
    channel: &str,
    (start, end): (u64, u64),
    payloads: Vec<Payload>,
) -> Vec<CheckedPayload> {
    let mut seen = std::collections::HashSet::new();
    payloads
        .into_iter()
        .map(|p| {
            if p.seq < start || p.seq > end || !seen.insert(p.seq) {
                return CheckedPayload::Unchecked(p);
            }
            match VerifiedPayload::verify(verifier, channel, p) {
                Ok(v) => CheckedPayload::Verified(v),
                Err((p, e)) => CheckedPayload::Failed(p, e),
            }
        })
        .collect()
}
