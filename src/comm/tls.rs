//! TLS material and the rustls configurations of both roles.
//!
//! Gossip authenticates peers by the handshake's certificate-hash binding (the signed
//! ConnEstablish carries SHA-256 of the sender's TLS certificate). On top of it, both verifiers
//! require the remote's certificate to chain to a TLS CA of the peer's [`TlsRoots`] (Fabric's
//! rule) once that set holds a CA; while it is empty they accept any well-formed certificate.
//! Both check the TLS handshake signatures, which prove the remote holds the certificate's
//! private key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};
use sha2::{Digest, Sha256};

use super::tls_roots::TlsRoots;
use super::CommError;

/// HTTP/2 over TLS must negotiate `h2` (grpc-go refuses connections without it).
const ALPN_H2: &[u8] = b"h2";

/// A TLS certificate (DER) and its private key (DER: PKCS#8, SEC1 or PKCS#1).
/// The same certificate serves as server and as client certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("TlsIdentity")
            .field("cert_hash", &hex::encode(cert_hash(&self.cert_der)))
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a DER certificate: the value a ConnEstablish's `tls_cert_hash` carries.
pub fn cert_hash(cert_der: &[u8]) -> Vec<u8> {
    Sha256::digest(cert_der).to_vec()
}

fn tls_err(what: impl std::fmt::Display) -> CommError {
    CommError::Tls(what.to_string())
}

impl TlsIdentity {
    /// Loads the first certificate of `cert_path` and the private key of `key_path` (PEM).
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, CommError> {
        let cert_pem = std::fs::read(cert_path)
            .map_err(|e| tls_err(format!("reading {}: {e}", cert_path.display())))?;
        let key_pem = std::fs::read(key_path)
            .map_err(|e| tls_err(format!("reading {}: {e}", key_path.display())))?;
        Self::from_pem(&cert_pem, &key_pem).map_err(|e| match e {
            CommError::Tls(m) => tls_err(format!(
                "{} / {}: {m}",
                cert_path.display(),
                key_path.display()
            )),
            other => other,
        })
    }

    /// Parses a PEM certificate (the first one is used) and a PEM private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, CommError> {
        let cert = rustls_pemfile::certs(&mut &cert_pem[..])
            .next()
            .ok_or_else(|| tls_err("no CERTIFICATE block in PEM"))?
            .map_err(|e| tls_err(format!("bad certificate PEM: {e}")))?;
        let key = rustls_pemfile::private_key(&mut &key_pem[..])
            .map_err(|e| tls_err(format!("bad private key PEM: {e}")))?
            .ok_or_else(|| tls_err("no private key block in PEM"))?;
        let id = TlsIdentity {
            cert_der: cert.to_vec(),
            key_der: key.secret_der().to_vec(),
        };
        id.check()?;
        Ok(id)
    }

    /// Loads `dir/tls-cert.pem` and `dir/tls-key.pem`, or generates a self-signed ECDSA
    /// P-256 certificate (SANs `localhost`, 127.0.0.1, ::1) there when they are absent.
    pub fn self_signed(dir: &Path) -> Result<Self, CommError> {
        Self::self_signed_for(dir, &[])
    }

    /// As [`TlsIdentity::self_signed`], with `hosts` (DNS names or IP addresses, e.g. the
    /// host of the peer's endpoint) added to the SANs of a newly generated certificate, so that
    /// peers verifying host names (Go Fabric peers) accept it.
    pub fn self_signed_for(dir: &Path, hosts: &[&str]) -> Result<Self, CommError> {
        let cert_path = dir.join("tls-cert.pem");
        let key_path = dir.join("tls-key.pem");
        if cert_path.exists() && key_path.exists() {
            return Self::from_pem_files(&cert_path, &key_path);
        }
        let (cert_pem, key_pem) = generate_self_signed(hosts)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| tls_err(format!("creating {}: {e}", dir.display())))?;
        write_private(&key_path, key_pem.as_bytes())?;
        std::fs::write(&cert_path, cert_pem.as_bytes())
            .map_err(|e| tls_err(format!("writing {}: {e}", cert_path.display())))?;
        Self::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())
    }

    /// SHA-256 of this certificate.
    pub fn cert_hash(&self) -> Vec<u8> {
        cert_hash(&self.cert_der)
    }

    fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    fn key(&self) -> Result<PrivateKeyDer<'static>, CommError> {
        PrivateKeyDer::try_from(self.key_der.clone()).map_err(tls_err)
    }

    /// Checks that the certificate parses and the key is usable with it.
    fn check(&self) -> Result<(), CommError> {
        let cert = self.cert();
        ParsedCertificate::try_from(&cert).map_err(|e| tls_err(format!("bad certificate: {e}")))?;
        let key = self.key()?;
        let signing = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| tls_err(format!("unusable private key: {e}")))?;
        if let Some(spki) = signing.public_key() {
            let parsed = ParsedCertificate::try_from(&cert)
                .map_err(|e| tls_err(format!("bad certificate: {e}")))?;
            if parsed.subject_public_key_info().as_ref() != spki.as_ref() {
                return Err(tls_err("private key does not match the certificate"));
            }
        }
        Ok(())
    }

    /// Server side: requests a client certificate, requires one only if `client_auth_required`.
    /// Client certificates must chain to a CA of `roots` while it holds one.
    pub(crate) fn server_config(
        &self,
        client_auth_required: bool,
        roots: Arc<TlsRoots>,
    ) -> Result<Arc<ServerConfig>, CommError> {
        let verifier = Arc::new(ClientCertByRoots {
            algs: provider().signature_verification_algorithms,
            mandatory: client_auth_required,
            roots,
        });
        let mut cfg = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.cert()], self.key()?)
            .map_err(tls_err)?;
        cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(cfg))
    }

    /// Client side: presents this certificate; the server's must chain to a CA of `roots`
    /// while it holds one. Server names are not checked: gossip binds the certificate to the
    /// peer's identity in the handshake.
    pub(crate) fn client_config(
        &self,
        roots: Arc<TlsRoots>,
    ) -> Result<Arc<ClientConfig>, CommError> {
        let verifier = Arc::new(ServerCertByRoots {
            algs: provider().signature_verification_algorithms,
            roots,
        });
        let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![self.cert()], self.key()?)
            .map_err(tls_err)?;
        cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(cfg))
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn generate_self_signed(hosts: &[&str]) -> Result<(String, String), CommError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls_err)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for h in hosts {
        let h = h.trim().trim_start_matches('[').trim_end_matches(']');
        if h.is_empty() {
            return Err(tls_err("empty host name for the certificate"));
        }
        if !names.iter().any(|n| n == h) {
            names.push(h.to_string());
        }
    }
    // rcgen turns names that parse as IP addresses into IP SANs, the rest into DNS SANs.
    let mut params = rcgen::CertificateParams::new(names).map_err(tls_err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fabgossip peer");
    let cert = params.self_signed(&key).map_err(tls_err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a private key readable by the owner only.
fn write_private(path: &PathBuf, data: &[u8]) -> Result<(), CommError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| tls_err(format!("writing {}: {e}", path.display())))?;
    f.write_all(data)
        .map_err(|e| tls_err(format!("writing {}: {e}", path.display())))
}

/// Client role: a server certificate chaining to the roots (any, while they are empty);
/// handshake signatures verified.
#[derive(Debug)]
struct ServerCertByRoots {
    algs: WebPkiSupportedAlgorithms,
    roots: Arc<TlsRoots>,
}

impl ServerCertVerifier for ServerCertByRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.roots.verify_server(end_entity, intermediates, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Server role: a client certificate chaining to the roots (any, while they are empty);
/// handshake signatures verified.
#[derive(Debug)]
struct ClientCertByRoots {
    algs: WebPkiSupportedAlgorithms,
    mandatory: bool,
    roots: Arc<TlsRoots>,
}

impl ClientCertVerifier for ClientCertByRoots {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.roots.verify_client(end_entity, intermediates, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "fabgossip-tls-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn self_signed_is_persisted_and_reused() {
        let dir = tmpdir("persist");
        let a = TlsIdentity::self_signed(&dir).unwrap();
        let b = TlsIdentity::self_signed(&dir).unwrap();
        assert_eq!(a, b);
        assert!(dir.join("tls-cert.pem").exists());
        assert_eq!(a.cert_hash().len(), 32);
        a.server_config(true, Arc::default()).unwrap();
        a.client_config(Arc::default()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn self_signed_for_names_the_given_hosts() {
        let dir = tmpdir("hosts");
        let id =
            TlsIdentity::self_signed_for(&dir, &["peer0.org1.example.com", "10.0.0.7"]).unwrap();
        let der = &id.cert_der;
        let contains = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"peer0.org1.example.com"));
        assert!(contains(b"localhost"));
        assert!(contains(&[10, 0, 0, 7]));
        assert!(contains(&[127, 0, 0, 1]));
        std::fs::remove_dir_all(&dir).ok();
        assert!(TlsIdentity::self_signed_for(&tmpdir("empty"), &[" "]).is_err());
    }

    #[test]
    fn mismatched_key_is_rejected() {
        let d1 = tmpdir("k1");
        let d2 = tmpdir("k2");
        TlsIdentity::self_signed(&d1).unwrap();
        TlsIdentity::self_signed(&d2).unwrap();
        let err = TlsIdentity::from_pem_files(&d1.join("tls-cert.pem"), &d2.join("tls-key.pem"))
            .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        std::fs::remove_dir_all(&d1).ok();
        std::fs::remove_dir_all(&d2).ok();
    }

    #[test]
    fn garbage_pem_is_an_error() {
        assert!(TlsIdentity::from_pem(b"not pem", b"not pem").is_err());
        let missing = TlsIdentity::from_pem_files(Path::new("/nonexistent/c"), Path::new("/x"));
        assert!(matches!(missing, Err(CommError::Tls(_))));
    }
}
