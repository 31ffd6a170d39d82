//! Temporary stand-in for `crate::config` and `crate::node` until they land; removed then.

use serde::Serialize;

pub use crate::config::Config;

#[derive(Debug)]
pub struct NodeError(String);
impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Serialize)]
pub struct PeerInfo {
    pki_id: String,
    endpoint: String,
    internal_endpoint: String,
    org: String,
    state: &'static str,
}

pub struct GossipService {
    me: (String, String, String),
    _listener: tokio::net::TcpListener,
}

impl GossipService {
    pub async fn start(
        config: Config,
        crypto: crate::crypto::CryptoContext,
    ) -> Result<GossipService, NodeError> {
        let l = tokio::net::TcpListener::bind(&config.peer.listen_address)
            .await
            .map_err(|e| NodeError(e.to_string()))?;
        let ep = l
            .local_addr()
            .map_err(|e| NodeError(e.to_string()))?
            .to_string();
        Ok(GossipService {
            me: (crypto.self_pki_id.to_hex(), ep, crypto.self_org),
            _listener: l,
        })
    }
    pub fn peers(&self) -> Vec<PeerInfo> {
        Vec::new()
    }
    pub fn self_info(&self) -> PeerInfo {
        PeerInfo {
            pki_id: self.me.0.clone(),
            endpoint: self.me.1.clone(),
            internal_endpoint: self.me.1.clone(),
            org: self.me.2.clone(),
            state: "alive",
        }
    }
    pub async fn stop(&self) {}
}

pub fn builtin_crypto(_config: &Config) -> Result<crate::crypto::CryptoContext, NodeError> {
    Err(NodeError(
        "built-in crypto not available in this build".into(),
    ))
}
