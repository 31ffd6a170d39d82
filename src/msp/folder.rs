//! The local MSP from an MSP folder, read as a Fabric peer reads `peer.mspConfigPath`:
//! `cacerts`, `intermediatecerts`, `admincerts`, `crls`, `tlscacerts`, `tlsintermediatecerts`,
//! `signcerts` (the first certificate), `keystore` (the PKCS#8 key of that certificate) and
//! `config.yaml` (NodeOUs, OrganizationalUnitIdentifiers).

use std::path::Path;

use prost::Message;
use serde::Deserialize;

use super::fabric_msp::Msp;
use super::identity::Identity;
use super::key::SigningKey;
use super::MspError;
use crate::proto::msp::{
    FabricCryptoConfig, FabricMspConfig, FabricNodeOUs, FabricOuIdentifier, SerializedIdentity,
    SigningIdentityInfo,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct OuConfig {
    #[serde(rename = "Certificate")]
    certificate: String,
    #[serde(rename = "OrganizationalUnitIdentifier")]
    organizational_unit_identifier: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeOusConfig {
    #[serde(rename = "Enable")]
    enable: bool,
    #[serde(rename = "ClientOUIdentifier")]
    client: Option<OuConfig>,
    #[serde(rename = "PeerOUIdentifier")]
    peer: Option<OuConfig>,
    #[serde(rename = "AdminOUIdentifier")]
    admin: Option<OuConfig>,
    #[serde(rename = "OrdererOUIdentifier")]
    orderer: Option<OuConfig>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FolderConfig {
    #[serde(rename = "OrganizationalUnitIdentifiers")]
    organizational_unit_identifiers: Vec<OuConfig>,
    #[serde(rename = "NodeOUs")]
    node_ous: Option<NodeOusConfig>,
}

fn io_err(path: &Path, e: std::io::Error) -> MspError {
    MspError::Config(format!("{}: {e}", path.display()))
}

/// The PEM files of a folder, by file name; `None` when the folder does not exist. Files
/// without a PEM block are skipped, as Fabric skips them.
fn pem_files(dir: &Path) -> Result<Option<Vec<Vec<u8>>>, MspError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        if x509_parser::pem::parse_x509_pem(&bytes).is_ok() {
            out.push(bytes);
        }
    }
    Ok(Some(out))
}

/// Reads an MSP folder into the `FabricMSPConfig` Fabric builds from it, plus the signing key.
pub fn load_msp_folder(dir: &Path, mspid: &str) -> Result<(FabricMspConfig, SigningKey), MspError> {
    let sub = |n: &str| dir.join(n);
    let signcerts = pem_files(&sub("signcerts"))?.unwrap_or_default();
    let Some(signcert) = signcerts.first().cloned() else {
        return Err(MspError::Config(format!(
            "could not load a valid signer certificate from directory {}",
            sub("signcerts").display()
        )));
    };
    let cacerts = pem_files(&sub("cacerts"))?.unwrap_or_default();
    if cacerts.is_empty() {
        return Err(MspError::Config(format!(
            "could not load a valid ca certificate from directory {}",
            sub("cacerts").display()
        )));
    }
    let tls_root_certs = pem_files(&sub("tlscacerts"))?.unwrap_or_default();
    let tls_intermediate_certs = if tls_root_certs.is_empty() {
        Vec::new()
    } else {
        pem_files(&sub("tlsintermediatecerts"))?.unwrap_or_default()
    };
    let (organizational_unit_identifiers, fabric_node_ous) = read_config_yaml(dir)?;
    let key = find_key(&sub("keystore"), &signcert)?;
    let conf = FabricMspConfig {
        name: mspid.to_string(),
        root_certs: cacerts,
        intermediate_certs: pem_files(&sub("intermediatecerts"))?.unwrap_or_default(),
        admins: pem_files(&sub("admincerts"))?.unwrap_or_default(),
        revocation_list: pem_files(&sub("crls"))?.unwrap_or_default(),
        signing_identity: Some(SigningIdentityInfo {
            public_signer: signcert,
            private_signer: None,
        }),
        organizational_unit_identifiers,
        crypto_config: Some(FabricCryptoConfig {
            signature_hash_family: "SHA2".into(),
            identity_identifier_hash_function: "SHA256".into(),
        }),
        tls_root_certs,
        tls_intermediate_certs,
        fabric_node_ous,
    };
    Ok((conf, key))
}

type OuSetup = (Vec<FabricOuIdentifier>, Option<FabricNodeOUs>);

fn read_config_yaml(dir: &Path) -> Result<OuSetup, MspError> {
    let path = dir.join("config.yaml");
    let raw = match std::fs::read(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(io_err(&path, e)),
    };
    let conf: FolderConfig = serde_yaml_ng::from_slice(&raw)
        .map_err(|e| MspError::Config(format!("{}: {e}", path.display())))?;
    let mut ous = Vec::new();
    for ou in &conf.organizational_unit_identifiers {
        let f = dir.join(&ou.certificate);
        ous.push(FabricOuIdentifier {
            certificate: std::fs::read(&f).map_err(|e| io_err(&f, e))?,
            organizational_unit_identifier: ou.organizational_unit_identifier.clone(),
        });
    }
    let node_ous = match conf.node_ous {
        Some(n) if n.enable => {
            // A NodeOU certificate that cannot be read leaves the OU unbound, as in Fabric.
            let one = |o: &Option<OuConfig>| {
                o.as_ref()
                    .filter(|o| !o.organizational_unit_identifier.is_empty())
                    .map(|o| FabricOuIdentifier {
                        certificate: if o.certificate.is_empty() {
                            Vec::new()
                        } else {
                            std::fs::read(dir.join(&o.certificate)).unwrap_or_default()
                        },
                        organizational_unit_identifier: o.organizational_unit_identifier.clone(),
                    })
            };
            Some(FabricNodeOUs {
                enable: true,
                client_ou_identifier: one(&n.client),
                peer_ou_identifier: one(&n.peer),
                admin_ou_identifier: one(&n.admin),
                orderer_ou_identifier: one(&n.orderer),
            })
        }
        _ => None,
    };
    Ok((ous, node_ous))
}

/// The keystore's private key whose public key is the signing certificate's.
fn find_key(keystore: &Path, signcert: &[u8]) -> Result<SigningKey, MspError> {
    let cert = super::cert::Cert::from_pem(signcert)?;
    let want = cert
        .key
        .as_ref()
        .ok_or_else(|| MspError::Config("signing certificate key is not ECDSA P-256/P-384".into()))?
        .sec1_uncompressed();
    for pem in pem_files(keystore)?.unwrap_or_default() {
        let Ok((_, block)) = x509_parser::pem::parse_x509_pem(&pem) else {
            continue;
        };
        let Ok(key) = SigningKey::from_pkcs8_der(&block.contents) else {
            continue;
        };
        if key.public_key().sec1_uncompressed() == want {
            return Ok(key);
        }
    }
    Err(MspError::Config(format!(
        "no private key in {} matches the signing certificate",
        keystore.display()
    )))
}

/// The peer's own identity and key.
#[derive(Debug)]
pub struct SigningIdentity {
    pub identity: Identity,
    key: SigningKey,
    serialized: Vec<u8>,
}

impl SigningIdentity {
    /// `SerializedIdentity{mspid, PEM of the certificate}`, as Fabric serializes it.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// ECDSA over SHA-256, low-S, DER.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, MspError> {
        self.key.sign_message(msg)
    }
}

/// The local MSP and its signing identity.
#[derive(Debug)]
pub struct LocalMsp {
    pub msp: Msp,
    pub config: FabricMspConfig,
    pub signer: SigningIdentity,
}

impl LocalMsp {
    /// Loads an MSP folder; the signing identity must be valid and not expired at `now`.
    pub fn load(dir: &Path, mspid: &str, now: i64) -> Result<LocalMsp, MspError> {
        let (config, key) = load_msp_folder(dir, mspid)?;
        LocalMsp::new(config, key, now)
    }

    pub fn new(config: FabricMspConfig, key: SigningKey, now: i64) -> Result<LocalMsp, MspError> {
        let msp = Msp::new(&config)?;
        let public_signer = config
            .signing_identity
            .as_ref()
            .map(|s| s.public_signer.clone())
            .unwrap_or_default();
        let mut identity = msp.deserialize_id_bytes(&public_signer)?;
        if identity.cert.not_after < now {
            return Err(MspError::Config("signing identity expired".into()));
        }
        // Fabric serializes the (sanitized) certificate anew, not the file's bytes.
        identity.id_bytes = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", identity.cert.der.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
        .into_bytes();
        let serialized = SerializedIdentity {
            mspid: identity.mspid.clone(),
            id_bytes: identity.id_bytes.clone(),
        }
        .encode_to_vec();
        Ok(LocalMsp {
            msp,
            config,
            signer: SigningIdentity {
                identity,
                key,
                serialized,
            },
        })
    }
}
