//! Test helpers for the comm tests: a small Ed25519 `MessageCryptoService` (the built-in
//! default's identity scheme), peers, raw gRPC clients for negative tests, event waiting.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use fabgossip::comm::{Comm, CommConfig, CommEvent, ConnectionInfo, TlsIdentity};
use fabgossip::crypto::{CryptoContext, CryptoError, MessageCryptoService, SecurityAdvisor};
use fabgossip::proto::gossip::gossip_client::GossipClient;
use fabgossip::proto::gossip::{gossip_message, ConnEstablish, Envelope, GossipMessage};
use fabgossip::proto::msp::SerializedIdentity;
use fabgossip::types::{OrgId, PkiId};
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint, Uri};

/// PKI-ID = SHA-256(mspid ‖ id_bytes).
pub fn pki_id_of(mspid: &str, id_bytes: &[u8]) -> PkiId {
    let mut h = Sha256::new();
    h.update(mspid.as_bytes());
    h.update(id_bytes);
    PkiId(h.finalize().to_vec())
}

fn decode_identity(identity: &[u8]) -> Result<(String, VerifyingKey), CryptoError> {
    let sid = SerializedIdentity::decode(identity)
        .map_err(|e| CryptoError::MalformedIdentity(format!("not a SerializedIdentity: {e}")))?;
    let key: [u8; 32] = sid
        .id_bytes
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::MalformedIdentity("id_bytes is not 32 bytes".into()))?;
    let vk = VerifyingKey::from_bytes(&key)
        .map_err(|e| CryptoError::MalformedIdentity(format!("not an Ed25519 key: {e}")))?;
    Ok((sid.mspid, vk))
}

/// Ed25519 crypto trusting a fixed set of orgs.
pub struct TestMcs {
    key: SigningKey,
    trusted: BTreeSet<String>,
}

impl MessageCryptoService for TestMcs {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        let (mspid, vk) = decode_identity(identity)?;
        Ok(pki_id_of(&mspid, vk.as_bytes()))
    }
    fn verify_block(&self, _channel: &str, _seq: u64, _block: &[u8]) -> Result<(), CryptoError> {
        Err(CryptoError::InvalidBlock(
            "the comm test MCS does not verify blocks".into(),
        ))
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
    fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        let (_, vk) = decode_identity(identity)?;
        let sig = Signature::from_slice(signature).map_err(|_| CryptoError::BadSignature)?;
        vk.verify_strict(msg, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }
    fn verify_by_channel(
        &self,
        _c: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        self.verify(identity, signature, msg)
    }
    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        let (mspid, _) = decode_identity(identity)?;
        if self.trusted.contains(&mspid) {
            Ok(())
        } else {
            Err(CryptoError::UntrustedIdentity(mspid))
        }
    }
    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        decode_identity(identity).map(|_| None)
    }
}

pub struct TestAdvisor;

impl SecurityAdvisor for TestAdvisor {
    fn org_by_peer_identity(&self, identity: &[u8]) -> Option<OrgId> {
        SerializedIdentity::decode(identity).ok().map(|s| s.mspid)
    }
}

/// A peer's keys and identity.
#[derive(Clone)]
pub struct TestPeer {
    pub key: SigningKey,
    pub org: String,
    pub identity: Vec<u8>,
    pub pki_id: PkiId,
}

impl TestPeer {
    pub fn new(org: &str) -> Self {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let identity = SerializedIdentity {
            mspid: org.to_string(),
            id_bytes: key.verifying_key().to_bytes().to_vec(),
        }
        .encode_to_vec();
        let pki_id = pki_id_of(org, key.verifying_key().as_bytes());
        TestPeer {
            key,
            org: org.to_string(),
            identity,
            pki_id,
        }
    }

    pub fn crypto(&self, trusted: &[&str]) -> CryptoContext {
        let mcs = Arc::new(TestMcs {
            key: self.key.clone(),
            trusted: trusted.iter().map(|s| s.to_string()).collect(),
        });
        CryptoContext::new(mcs, Arc::new(TestAdvisor), self.identity.clone()).expect("own identity")
    }

    /// A ConnEstablish envelope; `tweak` may alter the message before signing.
    pub fn conn_establish(
        &self,
        tls_cert_hash: Vec<u8>,
        probe: bool,
        tweak: impl FnOnce(&mut ConnEstablish),
    ) -> Envelope {
        let mut ce = ConnEstablish {
            pki_id: self.pki_id.0.clone(),
            identity: self.identity.clone(),
            tls_cert_hash,
            probe,
        };
        tweak(&mut ce);
        let msg = GossipMessage {
            nonce: 0,
            channel: vec![],
            tag: gossip_message::Tag::Empty as i32,
            content: Some(gossip_message::Content::Conn(ce)),
        };
        self.sign(msg)
    }

    pub fn sign(&self, msg: GossipMessage) -> Envelope {
        let payload = msg.encode_to_vec();
        let signature = self.key.sign(&payload).to_bytes().to_vec();
        Envelope {
            payload: payload.into(),
            signature,
            secret_envelope: None,
        }
    }
}

pub const ORGS: &[&str] = &["Org1MSP", "Org2MSP"];

/// A fresh temporary directory.
pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "fabgossip-comm-{tag}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn tls_identity() -> TlsIdentity {
    let dir = tmpdir("tls");
    let id = TlsIdentity::self_signed(&dir).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    id
}

pub fn config(tls: bool) -> CommConfig {
    CommConfig {
        tls: if tls { Some(tls_identity()) } else { None },
        ..CommConfig::default()
    }
}

pub struct Node {
    pub peer: TestPeer,
    pub comm: Comm,
    pub events: mpsc::Receiver<CommEvent>,
}

/// Logs to the test output (shown for failing tests only).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_test_writer()
        .try_init();
}

impl Node {
    pub async fn start(org: &str, cfg: CommConfig) -> Node {
        init_logs();
        let peer = TestPeer::new(org);
        let (comm, events) = Comm::start(cfg, peer.crypto(ORGS))
            .await
            .expect("comm starts");
        Node { peer, comm, events }
    }

    pub fn endpoint(&self) -> String {
        self.comm.local_addr().to_string()
    }

    pub fn remote(&self) -> fabgossip::comm::RemotePeer {
        fabgossip::comm::RemotePeer {
            endpoint: self.endpoint(),
            pki_id: self.peer.pki_id.clone(),
        }
    }

    /// Waits for the first event matching `pred`, skipping others.
    pub async fn wait_event(&mut self, what: &str, pred: impl Fn(&CommEvent) -> bool) -> CommEvent {
        wait_event(&mut self.events, what, pred).await
    }

    /// No event matching `pred` within `d`.
    pub async fn assert_no_event(
        &mut self,
        d: Duration,
        what: &str,
        pred: impl Fn(&CommEvent) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) | Ok(None) => return,
                Ok(Some(ev)) => assert!(!pred(&ev), "unexpected {what}: {ev:?}"),
            }
        }
    }
}

pub async fn wait_event(
    rx: &mut mpsc::Receiver<CommEvent>,
    what: &str,
    pred: impl Fn(&CommEvent) -> bool,
) -> CommEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("timed out waiting for {what}"),
            Ok(None) => panic!("events channel closed while waiting for {what}"),
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => {}
        }
    }
}

pub fn is_connected(ev: &CommEvent, pki: &PkiId) -> bool {
    matches!(ev, CommEvent::Connected(i) if &i.pki_id == pki)
}

pub fn is_disconnected(ev: &CommEvent, pki: &PkiId) -> bool {
    matches!(ev, CommEvent::Disconnected(p) if p == pki)
}

pub fn is_presumed_dead(ev: &CommEvent, pki: &PkiId) -> bool {
    matches!(ev, CommEvent::PresumedDead(p) if p == pki)
}

pub fn connection_info(ev: &CommEvent) -> Option<&ConnectionInfo> {
    match ev {
        CommEvent::Connected(i) => Some(i),
        _ => None,
    }
}

/// An (unsigned) data message carrying `data`, as gossip sends blocks.
pub fn data_envelope(seq: u64, data: Vec<u8>) -> Envelope {
    use fabgossip::proto::gossip::{DataMessage, Payload};
    let msg = GossipMessage {
        nonce: 0,
        channel: b"mychannel".to_vec(),
        tag: gossip_message::Tag::ChanAndOrg as i32,
        content: Some(gossip_message::Content::DataMsg(DataMessage {
            payload: Some(Payload {
                seq_num: seq,
                data: data.into(),
                private_data: vec![],
            }),
        })),
    };
    Envelope {
        payload: msg.encode_to_vec().into(),
        signature: vec![],
        secret_envelope: None,
    }
}

/// Polls `f` until it holds, for at most 10 s.
pub async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- raw clients, for the negative tests -------------------------------------------------

/// Accepts any server certificate; signatures still checked (test-only mirror of comm's).
#[derive(Debug)]
struct AnyServer(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _e: &rustls::pki_types::CertificateDer<'_>,
        _i: &[rustls::pki_types::CertificateDer<'_>],
        _n: &rustls::pki_types::ServerName<'_>,
        _o: &[u8],
        _t: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// How a raw client does TLS.
#[derive(Clone, Copy)]
pub enum RawTls<'a> {
    Off,
    /// TLS, presenting this certificate.
    Cert(&'a TlsIdentity),
    /// TLS, presenting no certificate.
    NoCert,
}

/// A plain tonic client to `addr`; with `tls`, presents that certificate.
pub async fn raw_client(addr: &str, tls: Option<&TlsIdentity>) -> GossipClient<Channel> {
    let mode = match tls {
        Some(id) => RawTls::Cert(id),
        None => RawTls::Off,
    };
    try_raw_client(addr, mode).await.expect("raw connect")
}

pub async fn try_raw_client(
    addr: &str,
    tls: RawTls<'_>,
) -> Result<GossipClient<Channel>, tonic::transport::Error> {
    let uri: Uri = format!("http://{addr}").parse().unwrap();
    let tls_cfg = match tls {
        RawTls::Off => None,
        RawTls::Cert(_) | RawTls::NoCert => {
            let provider = rustls::crypto::ring::default_provider();
            let algs = provider.signature_verification_algorithms;
            let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServer(algs)));
            let mut cfg = match tls {
                RawTls::Cert(id) => builder
                    .with_client_auth_cert(
                        vec![rustls::pki_types::CertificateDer::from(id.cert_der.clone())],
                        rustls::pki_types::PrivateKeyDer::try_from(id.key_der.clone()).unwrap(),
                    )
                    .unwrap(),
                _ => builder.with_no_client_auth(),
            };
            cfg.alpn_protocols = vec![b"h2".to_vec()];
            Some(Arc::new(cfg))
        }
    };
    let addr = addr.to_string();
    let connector = tower::service_fn(move |_: Uri| {
        let (addr, tls_cfg) = (addr.clone(), tls_cfg.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            let io: Box<dyn IoStream> = match tls_cfg {
                None => Box::new(tcp),
                Some(cfg) => {
                    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                    Box::new(
                        tokio_rustls::TlsConnector::from(cfg)
                            .connect(name, tcp)
                            .await?,
                    )
                }
            };
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(io))
        }
    });
    let channel = Endpoint::from(uri)
        .connect_timeout(Duration::from_secs(3))
        .connect_with_connector(connector)
        .await?;
    Ok(GossipClient::new(channel))
}

pub trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> IoStream for T {}

/// An opened GossipStream: what we send, what we receive.
pub struct RawStream {
    pub tx: mpsc::Sender<Envelope>,
    pub rx: tonic::Streaming<Envelope>,
}

pub async fn raw_stream(client: &mut GossipClient<Channel>) -> RawStream {
    let (tx, rx) = mpsc::channel(1024);
    let resp = client
        .gossip_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("stream opens");
    RawStream {
        tx,
        rx: resp.into_inner(),
    }
}

impl RawStream {
    /// Reads one message within 5 s: `Ok(None)` on end of stream, `Err` on a status.
    pub async fn next(&mut self) -> Result<Option<Envelope>, tonic::Status> {
        tokio::time::timeout(Duration::from_secs(5), self.rx.message())
            .await
            .expect("stream read timed out")
    }

    /// Reads until the stream ends (EOF or a status), discarding messages.
    pub async fn expect_end(&mut self) -> Option<tonic::Status> {
        loop {
            match self.next().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(s) => return Some(s),
            }
        }
    }
}

/// Decodes a ConnEstablish from an envelope.
pub fn as_conn(env: &Envelope) -> ConnEstablish {
    match GossipMessage::decode(env.payload.clone())
        .expect("GossipMessage")
        .content
    {
        Some(gossip_message::Content::Conn(c)) => c,
        other => panic!("expected a ConnEstablish, got {other:?}"),
    }
}
