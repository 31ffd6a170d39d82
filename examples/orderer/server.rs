//! A test ordering service: `AtomicBroadcast.Deliver` over a chain of blocks signed with a
//! seeded Ed25519 orderer key that the built-in crypto verifies. It can cut more blocks,
//! slow down, send one invalid block, drop its streams and stop. The `orderer` example
//! binary wraps it; tests include this file with `#[path]` and run it in-process.

#![allow(dead_code)] // each includer uses a part

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fabgossip::crypto::block::{block_header_hash, new_block};
use fabgossip::crypto::ed25519::{decode_identity, verify_signature, verifying_key, Ed25519Crypto};
use fabgossip::deliver::seek::parse_seek_envelope;
use fabgossip::proto::common::{Block, Envelope, Status};
use fabgossip::proto::orderer::atomic_broadcast_server::{AtomicBroadcast, AtomicBroadcastServer};
use fabgossip::proto::orderer::deliver_response::Type as DeliverType;
use fabgossip::proto::orderer::seek_position::Type as SeekType;
use fabgossip::proto::orderer::{BroadcastResponse, DeliverResponse};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::Stream;
use tonic::{Request, Response, Status as RpcStatus, Streaming};

/// How the chain is made.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    pub channel: String,
    /// Seeds the orderer's Ed25519 key.
    pub seed: [u8; 32],
    /// Bytes of transaction data per block.
    pub block_size: usize,
}

/// TLS material of a server started with TLS: the CA's certificate is what clients trust.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// When set, clients must present a certificate this CA signed (mutual TLS).
    pub client_ca_pem: Option<String>,
}

impl TlsMaterial {
    /// A CA and a server certificate for 127.0.0.1 and localhost signed by it.
    pub fn generate() -> Result<Self, String> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let e = |e: rcgen::Error| e.to_string();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test orderer CA");
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(e)?).map_err(e)?;
        let key = KeyPair::generate().map_err(e)?;
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).map_err(e)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "test orderer");
        let cert = params.signed_by(&key, &ca).map_err(e)?;
        Ok(TlsMaterial {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            client_ca_pem: None,
        })
    }
}

/// What the orderer saw and did.
#[derive(Debug, Default)]
pub struct OrdererCounters {
    pub sessions: AtomicU64,
    pub blocks_sent: AtomicU64,
    pub bad_seeks: AtomicU64,
    /// Of those, seek requests under mutual TLS not bound to the client's certificate.
    pub unbound_seeks: AtomicU64,
    /// Start positions of the seek requests served, in order.
    pub seeks: Mutex<Vec<u64>>,
}

struct Shared {
    channel: String,
    block_size: usize,
    signer: Arc<Ed25519Crypto>,
    chain: RwLock<Vec<Block>>,
    height_tx: watch::Sender<u64>,
    /// Pause before each block sent.
    delay_ms: AtomicU64,
    /// The next block sent (on any stream) is tampered with, once.
    corrupt_next: AtomicBool,
    counters: OrdererCounters,
}

/// The chain and its controls; serve it with [`TestOrderer::serve`].
#[derive(Clone)]
pub struct TestOrderer {
    shared: Arc<Shared>,
}

impl TestOrderer {
    pub fn new(opts: ChainOptions) -> Self {
        let signer = Ed25519Crypto::new("OrdererMSP".into(), opts.seed, Vec::new());
        let (height_tx, _) = watch::channel(0);
        TestOrderer {
            shared: Arc::new(Shared {
                channel: opts.channel,
                block_size: opts.block_size,
                signer,
                chain: RwLock::new(Vec::new()),
                height_tx,
                delay_ms: AtomicU64::new(0),
                corrupt_next: AtomicBool::new(false),
                counters: OrdererCounters::default(),
            }),
        }
    }

    /// The key peers must trust (`public_key` of the join message's orderer).
    pub fn public_key(&self) -> [u8; 32] {
        self.shared.signer.public_key()
    }

    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    pub fn height(&self) -> u64 {
        *self.shared.height_tx.borrow()
    }

    pub fn counters(&self) -> &OrdererCounters {
        &self.shared.counters
    }

    /// Cuts `n` more blocks, each chained to the previous one and signed.
    pub fn cut(&self, n: u64) {
        let mut chain = self.shared.chain.write().unwrap_or_else(|p| p.into_inner());
        for _ in 0..n {
            let number = chain.len() as u64;
            let prev = chain
                .last()
                .and_then(|b| b.header.as_ref())
                .map(block_header_hash)
                .unwrap_or_default();
            let mut tx = vec![(number % 251) as u8; self.shared.block_size];
            tx.extend_from_slice(&number.to_be_bytes());
            let mut b = new_block(number, prev, vec![tx]);
            self.shared
                .signer
                .sign_block(&mut b)
                .expect("signing with an in-memory key");
            chain.push(b);
        }
        let h = chain.len() as u64;
        drop(chain);
        self.shared.height_tx.send_replace(h);
    }

    /// The chain's blocks, encoded, in order (what every peer's ledger must end up with).
    pub fn encoded_blocks(&self) -> Vec<Vec<u8>> {
        use prost::Message;
        self.shared
            .chain
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|b| b.encode_to_vec())
            .collect()
    }

    /// Each block sent from now on waits this long first.
    pub fn set_delay(&self, d: Duration) {
        self.shared
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// The next block sent fails verification (its data no longer matches its header).
    pub fn corrupt_next_block(&self) {
        self.shared.corrupt_next.store(true, Ordering::SeqCst);
    }

    /// Serves on `addr` (port 0 picks one) until the handle is stopped or dropped.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        tls: Option<&TlsMaterial>,
    ) -> std::io::Result<ServerHandle> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = oneshot::channel();
        let mut builder = tonic::transport::Server::builder();
        if let Some(t) = tls {
            let mut cfg = tonic::transport::ServerTlsConfig::new().identity(
                tonic::transport::Identity::from_pem(&t.cert_pem, &t.key_pem),
            );
            if let Some(ca) = &t.client_ca_pem {
                cfg = cfg.client_ca_root(tonic::transport::Certificate::from_pem(ca));
            }
            builder = builder
                .tls_config(cfg)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        let svc = AtomicBroadcastServer::new(Service {
            shared: self.shared.clone(),
            stop: stop_rx.clone(),
            mutual_tls: tls.is_some_and(|t| t.client_ca_pem.is_some()),
        })
        .max_encoding_message_size(100 * 1024 * 1024);
        let mut shutdown = stop_rx;
        let router = builder.add_service(svc);
        tokio::spawn(async move {
            let signal = async move {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            let _ = router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
                .await;
            let _ = done_tx.send(());
        });
        Ok(ServerHandle {
            addr: local,
            stop_tx,
            done: Some(done_rx),
        })
    }
}

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    stop_tx: watch::Sender<bool>,
    done: Option<oneshot::Receiver<()>>,
}

impl ServerHandle {
    /// Ends every stream, closes the listener and waits (up to 5 s) until the port is free.
    pub async fn stop(mut self) {
        let _ = self.stop_tx.send(true);
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_tx.send(true);
    }
}

struct Service {
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    /// Clients must present a certificate: seek requests must then be bound to it.
    mutual_tls: bool,
}

type DeliverStream = Pin<Box<dyn Stream<Item = Result<DeliverResponse, RpcStatus>> + Send>>;
type BroadcastStream = Pin<Box<dyn Stream<Item = Result<BroadcastResponse, RpcStatus>> + Send>>;

fn status_reply(s: Status) -> DeliverResponse {
    DeliverResponse {
        r#type: Some(DeliverType::Status(s as i32)),
    }
}

/// Checks the seek envelope: a DELIVER_SEEK_INFO for our channel, signed by its creator's
/// Ed25519 key and, under mutual TLS, carrying the SHA-256 of the connection's client
/// certificate (`client_cert_hash`) as its `tls_cert_hash`, as a Fabric orderer requires.
/// Returns the start position or the status to reply with.
fn check_seek(
    shared: &Shared,
    env: &Envelope,
    client_cert_hash: Option<&[u8]>,
) -> Result<u64, Status> {
    let req = parse_seek_envelope(env).map_err(|_| Status::BadRequest)?;
    if req.channel != shared.channel {
        return Err(Status::NotFound);
    }
    if let Some(hash) = client_cert_hash {
        if req.tls_cert_hash != hash {
            shared
                .counters
                .unbound_seeks
                .fetch_add(1, Ordering::Relaxed);
            return Err(Status::BadRequest);
        }
    }
    let id = decode_identity(&req.creator).map_err(|_| Status::Forbidden)?;
    let key = verifying_key(&id.id_bytes).map_err(|_| Status::Forbidden)?;
    verify_signature(&key, &env.signature, &env.payload).map_err(|_| Status::Forbidden)?;
    let height = *shared.height_tx.borrow();
    match req.seek.start.and_then(|p| p.r#type) {
        Some(SeekType::Specified(s)) => Ok(s.number),
        Some(SeekType::Oldest(_)) => Ok(0),
        Some(SeekType::Newest(_)) => Ok(height.saturating_sub(1)),
        _ => Err(Status::BadRequest),
    }
}

/// Resolves when the server is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[tonic::async_trait]
impl AtomicBroadcast for Service {
    type BroadcastStream = BroadcastStream;
    type DeliverStream = DeliverStream;

    async fn broadcast(
        &self,
        _req: Request<Streaming<Envelope>>,
    ) -> Result<Response<BroadcastStream>, RpcStatus> {
        Err(RpcStatus::unimplemented("the test orderer only delivers"))
    }

    async fn deliver(
        &self,
        req: Request<Streaming<Envelope>>,
    ) -> Result<Response<DeliverStream>, RpcStatus> {
        // Under mutual TLS the handshake made sure a certificate is there.
        let client_cert_hash = if self.mutual_tls {
            use sha2::Digest;
            let certs = req.peer_certs().unwrap_or_default();
            let first = certs.first().map(|c| c.as_ref()).unwrap_or_default();
            Some(sha2::Sha256::digest(first).to_vec())
        } else {
            None
        };
        let mut inbound = req.into_inner();
        let env = inbound
            .message()
            .await?
            .ok_or_else(|| RpcStatus::invalid_argument("no seek request"))?;
        let shared = self.shared.clone();
        let mut stop = self.stop.clone();
        let (tx, rx) = mpsc::channel(4);
        shared.counters.sessions.fetch_add(1, Ordering::Relaxed);
        let start = match check_seek(&shared, &env, client_cert_hash.as_deref()) {
            Ok(s) => s,
            Err(status) => {
                shared.counters.bad_seeks.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(Ok(status_reply(status))).await;
                return Ok(Response::new(Box::pin(ReceiverStream::new(rx))));
            }
        };
        shared
            .counters
            .seeks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(start);
        tokio::spawn(async move {
            // Kept open while blocks flow: the client's side of the stream.
            let _inbound = inbound;
            let mut height = shared.height_tx.subscribe();
            let mut seq = start;
            loop {
                let ready = tokio::select! {
                    _ = stopped(&mut stop) => false,
                    r = async { height.wait_for(|h| *h > seq).await.is_ok() } => r,
                };
                if !ready {
                    let _ = tx
                        .send(Err(RpcStatus::unavailable("orderer stopping")))
                        .await;
                    return;
                }
                let delay = shared.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::select! {
                        _ = stopped(&mut stop) => {
                            let _ = tx.send(Err(RpcStatus::unavailable("orderer stopping"))).await;
                            return;
                        }
                        _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                    }
                }
                let mut block = {
                    let chain = shared.chain.read().unwrap_or_else(|p| p.into_inner());
                    chain[seq as usize].clone()
                };
                if shared.corrupt_next.swap(false, Ordering::SeqCst) {
                    if let Some(tx0) = block.data.as_mut().and_then(|d| d.data.first_mut()) {
                        tx0.push(0xff);
                    }
                }
                let resp = DeliverResponse {
                    r#type: Some(DeliverType::Block(block)),
                };
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    r = tx.send(Ok(resp)) => if r.is_err() { return },
                }
                shared.counters.blocks_sent.fetch_add(1, Ordering::Relaxed);
                seq += 1;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
