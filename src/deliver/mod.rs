//! The orderer delivery service: while this peer leads a channel (or is its static leader),
//! pull the channel's blocks from an orderer with `AtomicBroadcast.Deliver`, verify each one
//! and hand it to the node, which commits it and gossips it to the org.
//!
//! - [`backoff`]: capped, jittered exponential wait between attempts;
//! - [`endpoints`]: address overrides and the choice of the next orderer;
//! - [`seek`]: the signed `SeekInfo` envelope;
//! - [`stats`]: the service's counters;
//! - `client`: the async session loop (tonic, rustls).
//!
//! A host or a test can bring its own service through [`DeliveryFactory`]; the node uses
//! [`OrdererDeliveryFactory`] unless told otherwise.

pub mod backoff;
mod client;
pub mod endpoints;
pub mod seek;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use backoff::Backoff;
pub use endpoints::{EndpointSelector, OrdererTarget};
pub use stats::{DeliveryCounters, DeliveryStats};

use crate::channel::OrdererEndpoint;
use crate::config::DeliveryClientConfig;
use crate::crypto::MessageCryptoService;
use crate::state::VerifiedPayload;

/// Why a delivery session ended or the service could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    #[error("connect: {0}")]
    Connect(String),
    #[error("deliver stream: {0}")]
    Rpc(String),
    /// Any status ends the stream, even SUCCESS: the client asked for blocks without end.
    #[error("{endpoint}: orderer replied with status {status} ({name})")]
    StatusReply {
        endpoint: String,
        status: i32,
        name: String,
    },
    #[error("bad block: {0}")]
    BadBlock(String),
    #[error("signing the seek request: {0}")]
    Sign(String),
    #[error("no Tokio runtime to run the delivery service on")]
    NoRuntime,
}

/// What a delivery service reports to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// A block, in order from the seek position, that the node verifies (`VerifyBlock`)
    /// before it takes it: what a host-supplied delivery service sends.
    Block { seq: u64, block: Vec<u8> },
    /// A block, in order from the seek position, that the service verified already: the
    /// node takes it without a second `VerifyBlock`.
    Verified(VerifiedPayload),
    /// No orderer could be reached for `down_for`, longer than
    /// `peer.deliveryclient.reconnectTotalTimeThreshold` (a leader then yields).
    Unreachable { down_for: Duration },
}

/// An event with the service it comes from (`id` tells a restarted service's events from
/// its predecessor's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub id: u64,
    pub channel: String,
    pub event: DeliveryEvent,
}

/// Everything a delivery service of one channel needs.
pub struct DeliveryRequest {
    /// Identifies this service in its events.
    pub id: u64,
    pub channel: String,
    pub orderers: Vec<OrdererEndpoint>,
    pub config: DeliveryClientConfig,
    /// Signs the seek request and verifies blocks.
    pub mcs: Arc<dyn MessageCryptoService>,
    /// This peer's serialized identity, the seek request's creator.
    pub self_identity: Vec<u8>,
    /// The channel's committed ledger height: where a (re)connection seeks from.
    pub height: watch::Receiver<u64>,
    /// A block is handed over only while `seq < height + max_ahead` (what the state
    /// provider can buffer).
    pub max_ahead: u64,
    /// Keep trying after reporting unreachability (static leader); otherwise stop then.
    pub keep_trying: bool,
    /// Where events go.
    pub sink: mpsc::Sender<Delivered>,
    /// Seeds endpoint choice and jitter.
    pub seed: u64,
    /// Presented to orderers that ask for a client certificate (mutual TLS).
    pub client_tls: Option<ClientTlsIdentity>,
}

/// This peer's TLS client certificate and key, PEM (`peer.tls.clientCert.file` and
/// `clientKey.file`, else `peer.tls.cert.file` and `key.file`).
#[derive(Clone)]
pub struct ClientTlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientTlsIdentity {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTlsIdentity").finish_non_exhaustive()
    }
}

impl ClientTlsIdentity {
    /// SHA-256 of the client certificate's DER bytes: the `tls_cert_hash` of the seek
    /// request's channel header, which an orderer requiring mutual TLS compares with the
    /// certificate of the connection (Fabric's TLS binding; without it the orderer answers
    /// BAD_REQUEST). Empty when the PEM holds no certificate (checked at start-up).
    pub fn cert_hash(&self) -> Vec<u8> {
        use sha2::Digest;
        match rustls_pemfile::certs(&mut &self.cert_pem[..]).next() {
            Some(Ok(der)) => sha2::Sha256::digest(der.as_ref()).to_vec(),
            _ => Vec::new(),
        }
    }

    /// Reads the client certificate and key the config names; `None` when it names none.
    /// Errors name the key at fault.
    pub fn from_config(tls: &crate::config::TlsConfig) -> Result<Option<Self>, String> {
        let (cert, key, names) = match (&tls.client_cert_file, &tls.client_key_file) {
            (Some(c), Some(k)) => (
                c,
                k,
                ("peer.tls.clientCert.file", "peer.tls.clientKey.file"),
            ),
            // The server certificate stands in only when TLS is on: with it off, Fabric
            // reads no TLS file (the sample core.yaml names files that need not exist).
            (None, None) if !tls.enabled => return Ok(None),
            (None, None) => match (&tls.cert_file, &tls.key_file) {
                (Some(c), Some(k)) => (c, k, ("peer.tls.cert.file", "peer.tls.key.file")),
                _ => return Ok(None),
            },
            _ => {
                return Err(
                    "peer.tls.clientCert.file and peer.tls.clientKey.file go together".into(),
                )
            }
        };
        let read = |path: &std::path::Path, name: &str| {
            std::fs::read(path).map_err(|e| format!("{name}: {}: {e}", path.display()))
        };
        let id = ClientTlsIdentity {
            cert_pem: read(cert, names.0)?,
            key_pem: read(key, names.1)?,
        };
        // Parsed now, so a bad file is a start-up error rather than a failing orderer dial.
        crate::comm::TlsIdentity::from_pem(&id.cert_pem, &id.key_pem)
            .map_err(|e| format!("{} / {}: {e}", names.0, names.1))?;
        Ok(Some(id))
    }
}

/// A running delivery service of one channel.
pub trait DeliveryService: Send {
    /// Asks the service to stop; it stops within a second and sends nothing more.
    fn stop(&mut self);
    fn stats(&self) -> DeliveryStats;
}

/// Starts delivery services (Fabric's `deliveryFactory`): the node calls it when it becomes
/// the channel's leader.
pub trait DeliveryFactory: Send + Sync + 'static {
    fn start(&self, request: DeliveryRequest) -> Result<Box<dyn DeliveryService>, DeliverError>;
}

/// The default factory: a gRPC client of the channel's orderers on the current Tokio
/// runtime.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrdererDeliveryFactory;

impl DeliveryFactory for OrdererDeliveryFactory {
    fn start(&self, request: DeliveryRequest) -> Result<Box<dyn DeliveryService>, DeliverError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| DeliverError::NoRuntime)?;
        let counters = Arc::new(DeliveryCounters::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = rt.spawn(client::run(request, counters.clone(), stop_rx));
        Ok(Box::new(OrdererDelivery {
            stop_tx,
            task,
            counters,
        }))
    }
}

/// The default service: its task and counters.
pub struct OrdererDelivery {
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
    counters: Arc<DeliveryCounters>,
}

impl DeliveryService for OrdererDelivery {
    fn stop(&mut self) {
        let _ = self.stop_tx.send(true);
        // Every await of the task also watches the flag; aborting as well makes the stop
        // immediate even for a dial in progress.
        self.task.abort();
        self.counters.set_connected(false);
    }

    fn stats(&self) -> DeliveryStats {
        self.counters.snapshot()
    }
}

impl Drop for OrdererDelivery {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn cert_hash_is_the_sha256_of_the_first_certificate_der() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["peer0".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let id = ClientTlsIdentity {
            cert_pem: cert.pem().into_bytes(),
            key_pem: key.serialize_pem().into_bytes(),
        };
        assert_eq!(
            id.cert_hash(),
            sha2::Sha256::digest(cert.der().as_ref()).to_vec()
        );
        let none = ClientTlsIdentity {
            cert_pem: b"no PEM here".to_vec(),
            key_pem: Vec::new(),
        };
        assert!(none.cert_hash().is_empty());
    }
}
