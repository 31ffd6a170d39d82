//! The TLS CAs a gossip connection's certificate must chain to, Fabric's rule with TLS on: the
//! TLS root and intermediate CAs of every org (application and orderer) of the channels this
//! peer joined with a config block, plus `peer.tls.rootcert.file` and
//! `peer.tls.clientRootCAs.files`. Each configured CA, intermediate ones included, is a trust
//! anchor, as in the pool a Fabric peer builds.
//!
//! The set changes when a channel is joined or left and when a config block commits, so the
//! rustls verifiers of both roles read it at each handshake. While the set is empty (no root
//! file, only channels joined by a JSON join message) any well-formed certificate is accepted
//! and the handshake's certificate-hash binding alone authenticates the peer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{CertificateError, RootCertStore};

use super::CommError;
use crate::sync::RwLockExt;

/// Why a TLS certificate was refused: the `reason` label of `fabgossip_comm_tls_refused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsRefusal {
    /// It chains to none of the TLS CAs.
    UnknownCa,
    /// It (or a certificate of its chain) is past its NotAfter.
    Expired,
    /// It (or a certificate of its chain) is before its NotBefore.
    NotYetValid,
    /// Its extended key usage does not allow the role (server or client authentication).
    WrongUsage,
    /// It did not parse, or a signature of its chain did not verify.
    Invalid,
}

impl TlsRefusal {
    pub const ALL: [TlsRefusal; 5] = [
        TlsRefusal::UnknownCa,
        TlsRefusal::Expired,
        TlsRefusal::NotYetValid,
        TlsRefusal::WrongUsage,
        TlsRefusal::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TlsRefusal::UnknownCa => "unknown_ca",
            TlsRefusal::Expired => "expired",
            TlsRefusal::NotYetValid => "not_yet_valid",
            TlsRefusal::WrongUsage => "wrong_usage",
            TlsRefusal::Invalid => "invalid",
        }
    }

    fn of(e: &rustls::Error) -> TlsRefusal {
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsRefusal::UnknownCa,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsRefusal::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsRefusal::NotYetValid
                }
                CertificateError::InvalidPurpose
                | CertificateError::InvalidPurposeContext { .. } => TlsRefusal::WrongUsage,
                _ => TlsRefusal::Invalid,
            },
            _ => TlsRefusal::Invalid,
        }
    }
}

/// TLS certificates refused by the CA check, by direction and reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsRefusalCounts {
    /// Certificates of peers that dialed us (client certificates).
    pub inbound: [u64; 5],
    /// Certificates of peers we dialed (server certificates).
    pub outbound: [u64; 5],
}

impl TlsRefusalCounts {
    pub fn get(&self, inbound: bool, reason: TlsRefusal) -> u64 {
        let i = TlsRefusal::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        if inbound {
            self.inbound[i]
        } else {
            self.outbound[i]
        }
    }

    pub fn total(&self) -> u64 {
        self.inbound.iter().chain(&self.outbound).sum()
    }
}

/// The CAs one channel adds (opaque: saved and restored around a reconfiguration).
#[derive(Debug, Clone)]
pub struct ChannelCas(Vec<CertificateDer<'static>>);

/// The CAs in force, rebuilt at each change.
struct Anchors {
    store: Arc<RootCertStore>,
    /// Verifies client certificates against `store`; `None` while `store` is empty.
    client: Option<Arc<dyn ClientCertVerifier>>,
}

#[derive(Default)]
struct Sources {
    /// From `peer.tls.rootcert.file` and `peer.tls.clientRootCAs.files`.
    files: Vec<CertificateDer<'static>>,
    /// Per channel joined with a config block: its orgs' TLS root and intermediate CAs.
    channels: BTreeMap<String, Vec<CertificateDer<'static>>>,
}

/// The shared, swappable set of TLS CAs of one peer.
pub struct TlsRoots {
    sources: RwLock<Sources>,
    anchors: RwLock<Arc<Anchors>>,
    algs: WebPkiSupportedAlgorithms,
    inbound: [AtomicU64; 5],
    outbound: [AtomicU64; 5],
}

impl std::fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsRoots")
            .field("cas", &self.anchors().store.len())
            .finish_non_exhaustive()
    }
}

impl Default for TlsRoots {
    fn default() -> Self {
        TlsRoots {
            sources: RwLock::default(),
            anchors: RwLock::new(Arc::new(Anchors {
                store: Arc::new(RootCertStore::empty()),
                client: None,
            })),
            algs: rustls::crypto::ring::default_provider().signature_verification_algorithms,
            inbound: Default::default(),
            outbound: Default::default(),
        }
    }
}

/// The certificates of a PEM bundle, in DER.
fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block in PEM".into());
    }
    Ok(certs)
}

impl TlsRoots {
    /// A set holding the CAs of PEM files (`peer.tls.rootcert.file`,
    /// `peer.tls.clientRootCAs.files`); empty with no file.
    pub fn from_files(files: &[PathBuf]) -> Result<TlsRoots, CommError> {
        let roots = TlsRoots::default();
        let mut ders = Vec::new();
        for f in files {
            let pem = std::fs::read(f)
                .map_err(|e| CommError::Tls(format!("reading {}: {e}", f.display())))?;
            let certs =
                pem_certs(&pem).map_err(|e| CommError::Tls(format!("{}: {e}", f.display())))?;
            ders.extend(certs);
        }
        roots.write_sources().files = ders;
        roots.rebuild()?;
        Ok(roots)
    }

    /// Sets (or replaces) the TLS CAs of a channel joined with a config block: each item a
    /// PEM certificate (or bundle) as an MSP config carries it. Returns how many CAs the
    /// channel adds; a certificate that does not parse is an error and changes nothing.
    pub fn set_channel(&self, channel: &str, pems: &[Vec<u8>]) -> Result<usize, CommError> {
        let mut ders = Vec::new();
        for p in pems {
            let certs = pem_certs(p)
                .map_err(|e| CommError::Tls(format!("channel {channel} TLS CA: {e}")))?;
            ders.extend(certs);
        }
        let n = ders.len();
        let before = self
            .write_sources()
            .channels
            .insert(channel.to_string(), ders);
        if let Err(e) = self.rebuild() {
            let mut s = self.write_sources();
            match before {
                Some(b) => s.channels.insert(channel.to_string(), b),
                None => s.channels.remove(channel),
            };
            return Err(e);
        }
        Ok(n)
    }

    /// The CAs a channel adds now, to put back with [`restore_channel`](Self::restore_channel)
    /// when a reconfiguration is refused.
    pub fn channel_cas(&self, channel: &str) -> Option<ChannelCas> {
        self.sources
            .read_locked()
            .channels
            .get(channel)
            .cloned()
            .map(ChannelCas)
    }

    /// Puts back what [`channel_cas`](Self::channel_cas) returned (`None`: no CAs).
    pub fn restore_channel(&self, channel: &str, cas: Option<ChannelCas>) {
        {
            let mut s = self.write_sources();
            match cas {
                Some(c) => s.channels.insert(channel.to_string(), c.0),
                None => s.channels.remove(channel),
            };
        }
        // These CAs were in force before; rebuilding them cannot fail.
        let _ = self.rebuild();
    }

    /// Forgets the CAs of a left channel.
    pub fn remove_channel(&self, channel: &str) {
        if self.write_sources().channels.remove(channel).is_some() {
            // The remaining CAs were accepted before; rebuilding them cannot fail.
            let _ = self.rebuild();
        }
    }

    /// How many CAs are in force; 0 = any well-formed certificate is accepted.
    pub fn len(&self) -> usize {
        self.anchors().store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The refusals so far.
    pub fn refusals(&self) -> TlsRefusalCounts {
        let load = |a: &[AtomicU64; 5]| {
            let mut out = [0u64; 5];
            for (o, c) in out.iter_mut().zip(a) {
                *o = c.load(Ordering::Relaxed);
            }
            out
        };
        TlsRefusalCounts {
            inbound: load(&self.inbound),
            outbound: load(&self.outbound),
        }
    }

    fn write_sources(&self) -> std::sync::RwLockWriteGuard<'_, Sources> {
        self.sources.write_locked()
    }

    fn anchors(&self) -> Arc<Anchors> {
        self.anchors.read_locked().clone()
    }

    fn rebuild(&self) -> Result<(), CommError> {
        let sources = self.write_sources();
        let mut store = RootCertStore::empty();
        for c in sources
            .files
            .iter()
            .chain(sources.channels.values().flatten())
        {
            store
                .add(c.clone())
                .map_err(|e| CommError::Tls(format!("TLS CA refused as a trust anchor: {e}")))?;
        }
        let store = Arc::new(store);
        let client = if store.is_empty() {
            None
        } else {
            let v = WebPkiClientVerifier::builder_with_provider(
                store.clone(),
                Arc::new(rustls::crypto::ring::default_provider()),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| CommError::Tls(format!("client certificate verifier: {e}")))?;
            Some(v)
        };
        *self.anchors.write_locked() = Arc::new(Anchors { store, client });
        Ok(())
    }

    fn refused(&self, inbound: bool, e: &rustls::Error) {
        let r = TlsRefusal::of(e);
        let i = TlsRefusal::ALL.iter().position(|x| *x == r).unwrap_or(0);
        let c = if inbound {
            &self.inbound[i]
        } else {
            &self.outbound[i]
        };
        c.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "fabgossip::comm",
            direction = if inbound { "inbound" } else { "outbound" },
            reason = r.as_str(),
            error = %e,
            "TLS certificate refused: it does not chain to a TLS CA of this peer's channels \
             or its TLS root files"
        );
    }

    /// The certificate of a peer we dialed (server authentication).
    pub(crate) fn verify_server(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        let anchors = self.anchors();
        if anchors.store.is_empty() {
            return Ok(());
        }
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &anchors.store,
            intermediates,
            now,
            self.algs.all,
        )
        .inspect_err(|e| self.refused(false, e))
    }

    /// The certificate of a peer that dialed us (client authentication).
    pub(crate) fn verify_client(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        ParsedCertificate::try_from(end_entity)?;
        let Some(v) = self.anchors().client.clone() else {
            return Ok(());
        };
        v.verify_client_cert(end_entity, intermediates, now)
            .map(|_| ())
            .inspect_err(|e| self.refused(true, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap();
        (cert, rcgen::Issuer::new(p, key))
    }

    fn leaf(issuer: &rcgen::Issuer<'static, rcgen::KeyPair>) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.signed_by(&key, issuer).unwrap().der().clone()
    }

    #[test]
    fn empty_set_accepts_any_and_a_channel_ca_is_enforced() {
        let roots = TlsRoots::default();
        let (ca1, i1) = ca("tlsca1");
        let (_, i2) = ca("tlsca2");
        let (good, bad) = (leaf(&i1), leaf(&i2));
        let now = UnixTime::now();
        assert!(roots.verify_client(&bad, &[], now).is_ok());
        assert_eq!(
            roots.set_channel("ch", &[ca1.pem().into_bytes()]).unwrap(),
            1
        );
        assert!(roots.verify_client(&good, &[], now).is_ok());
        assert!(roots.verify_server(&good, &[], now).is_ok());
        assert!(roots.verify_client(&bad, &[], now).is_err());
        assert!(roots.verify_server(&bad, &[], now).is_err());
        let r = roots.refusals();
        assert_eq!(r.get(true, TlsRefusal::UnknownCa), 1);
        assert_eq!(r.get(false, TlsRefusal::UnknownCa), 1);
        roots.remove_channel("ch");
        assert!(roots.is_empty());
        assert!(roots.verify_server(&bad, &[], now).is_ok());
    }

    #[test]
    fn garbage_ca_changes_nothing() {
        let roots = TlsRoots::default();
        assert!(roots.set_channel("ch", &[b"not pem".to_vec()]).is_err());
        assert!(roots.is_empty());
        assert!(TlsRoots::from_files(&[PathBuf::from("/nonexistent/ca.pem")]).is_err());
    }
}
