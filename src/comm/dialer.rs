//! The client side: dial (TCP, then TLS presenting our certificate), `Ping`, open
//! `GossipStream`, exchange ConnEstablish. One HTTP/2 connection per gossip stream, as Fabric.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::conn::Pipe;
use super::handshake::{self, HandshakeError};
use super::io::{ClientStream, Killable};
use super::metrics::HandshakeFailure;
use super::peer_history::{Contact, ContactDirection, ContactOutcome, Notice};
use super::shared::Shared;
use super::{CommError, ConnectionInfo};
use crate::proto::gossip::gossip_client::GossipClient;
use crate::proto::gossip::{Empty, Envelope};
use crate::sync::MutexExt;

/// Client keepalive, as Fabric's peer client (60 s interval, 20 s timeout).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// An authenticated outbound stream, not registered yet.
pub(crate) struct Dialed {
    pub info: ConnectionInfo,
    pub pipe: Pipe,
    pub inbound: tonic::Streaming<Envelope>,
    /// Keeps the HTTP/2 connection alive; dropping it closes the TCP connection.
    pub channel: Channel,
}

/// Starts the reason of a dial error that happened in the TLS handshake.
const TLS_FAILED: &str = "TLS handshake failed";

/// `host:port` → (`http://host:port` URI, host without IPv6 brackets, port).
fn parse_endpoint(endpoint: &str) -> Result<(Uri, String, u16), CommError> {
    let bad = |why: &str| CommError::InvalidEndpoint(format!("{endpoint:?}: {why}"));
    let uri: Uri = format!("http://{endpoint}")
        .parse()
        .map_err(|_| bad("not host:port"))?;
    if uri.path() != "/" || uri.query().is_some() {
        return Err(bad("not host:port"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().ok_or_else(|| bad("no port"))?;
    if host.is_empty() || port == 0 {
        return Err(bad("empty host or port 0"));
    }
    Ok((uri, host, port))
}

/// Connects a gRPC channel to `endpoint`. With TLS, returns the slot that receives the
/// server's certificate as seen on this connection.
async fn connect(
    shared: &Shared,
    endpoint: &str,
) -> Result<(GossipClient<Channel>, Channel, Arc<Mutex<Option<Vec<u8>>>>), CommError> {
    let (uri, host, port) = parse_endpoint(endpoint)?;
    let tls = shared.tls.as_ref().map(|t| t.client.clone());
    let seen_cert: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let slot = seen_cert.clone();
    let kill = shared.io_kills.register();
    // One TCP connection per channel: a silent reconnect would carry the stream over a
    // connection whose certificate is not the one the handshake checks.
    let used = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let connector = tower::service_fn(move |_: Uri| {
        let (host, tls, slot, kill) = (host.clone(), tls.clone(), slot.clone(), kill.clone());
        let first = !used.swap(true, std::sync::atomic::Ordering::AcqRel);
        async move {
            if !first {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "gossip connections are not re-dialed under a stream",
                ));
            }
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let io = match tls {
                None => ClientStream::Plain(tcp),
                Some(cfg) => {
                    let name = rustls::pki_types::ServerName::try_from(host)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                    let s = tokio_rustls::TlsConnector::from(cfg)
                        .connect(name, tcp)
                        .await
                        .map_err(|e| std::io::Error::other(format!("{TLS_FAILED}: {e}")))?;
                    let cert = s
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec());
                    *slot.locked() = cert;
                    ClientStream::Tls(Box::new(s))
                }
            };
            Ok::<_, std::io::Error>(TokioIo::new(Killable::new(io, kill)))
        }
    });
    let ep = Endpoint::from(uri)
        .connect_timeout(shared.cfg.dial_timeout)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    let channel = tokio::time::timeout(
        shared.cfg.dial_timeout,
        ep.connect_with_connector(connector),
    )
    .await
    .map_err(|_| CommError::Dial {
        endpoint: endpoint.to_string(),
        reason: "dial timeout".into(),
    })?
    .map_err(|e| {
        let reason = error_chain(&e);
        if reason.contains(TLS_FAILED) {
            shared.metrics.handshake_failed(HandshakeFailure::Transport);
        }
        CommError::Dial {
            endpoint: endpoint.to_string(),
            reason,
        }
    })?;
    let max = shared.cfg.max_message_size;
    let client = GossipClient::new(channel.clone())
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    Ok((client, channel, seen_cert))
}

/// `Ping` within `conn_timeout`.
async fn ping(
    shared: &Shared,
    client: &mut GossipClient<Channel>,
    endpoint: &str,
) -> Result<(), CommError> {
    match tokio::time::timeout(shared.cfg.conn_timeout, client.ping(Empty {})).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) => Err(CommError::Dial {
            endpoint: endpoint.to_string(),
            reason: format!("Ping failed: {}", status.message()),
        }),
        Err(_) => Err(CommError::Dial {
            endpoint: endpoint.to_string(),
            reason: "Ping timed out".into(),
        }),
    }
}

/// Dial + Ping only. A failure is remembered (not a success: no handshake happened).
pub(crate) async fn probe(shared: &Shared, endpoint: &str) -> Result<(), CommError> {
    let r = async {
        let (mut client, _, _) = connect(shared, endpoint).await?;
        ping(shared, &mut client, endpoint).await
    }
    .await;
    if let Err(e) = &r {
        record(shared, endpoint, Err(e));
    }
    r
}

/// What a dial error says about the remote, as a contact outcome.
pub(crate) fn outcome_of(err: &CommError) -> ContactOutcome {
    match err {
        CommError::Handshake { error, .. } => ContactOutcome::HandshakeFailed {
            reason: error.reason.as_str().to_string(),
            detail: error.detail.clone(),
        },
        CommError::Dial { reason, .. } if reason.contains(TLS_FAILED) => {
            ContactOutcome::HandshakeFailed {
                reason: "tls".into(),
                detail: reason.clone(),
            }
        }
        other => ContactOutcome::DialFailed {
            error: other.to_string(),
        },
    }
}

/// Remembers the outcome of a dial and logs a failure once per reason (see `peer_history`).
fn record(shared: &Shared, endpoint: &str, result: Result<&ConnectionInfo, &CommError>) {
    let contact = match result {
        Ok(info) => Contact {
            endpoint: endpoint.to_string(),
            pki_id: Some(info.pki_id.clone()),
            org: shared.crypto.advisor.org_by_peer_identity(&info.identity),
            direction: ContactDirection::Outbound,
            outcome: ContactOutcome::Handshaken,
            identity_expires_at: shared.crypto.mcs.expiration(&info.identity).ok().flatten(),
        },
        Err(CommError::Stopped) => return,
        Err(e) => Contact {
            endpoint: endpoint.to_string(),
            pki_id: None,
            org: None,
            direction: ContactDirection::Outbound,
            outcome: outcome_of(e),
            identity_expires_at: None,
        },
    };
    let code = contact.outcome.code();
    let notice = shared.history.record(contact, std::time::SystemTime::now());
    match (result, notice) {
        (Ok(info), _) => {
            tracing::debug!(%endpoint, pki_id = %info.pki_id, "handshake succeeded")
        }
        (Err(e), Notice::Log) => tracing::warn!(
            %endpoint,
            reason = %code,
            "cannot reach peer: {e} (repeats of this reason are logged at debug level for a while)"
        ),
        (Err(e), Notice::Repeat) => {
            tracing::debug!(%endpoint, reason = %code, "cannot reach peer: {e}")
        }
    }
}

/// Dial, Ping, open the stream and authenticate the remote. Handshake failures are counted,
/// the outcome is remembered per endpoint and PKI-ID.
pub(crate) async fn dial(
    shared: &Shared,
    endpoint: &str,
    probe: bool,
) -> Result<Dialed, CommError> {
    let r = dial_once(shared, endpoint, probe).await;
    record(shared, endpoint, r.as_ref().map(|d| &d.info));
    r
}

async fn dial_once(shared: &Shared, endpoint: &str, probe: bool) -> Result<Dialed, CommError> {
    let (mut client, channel, seen_cert) = connect(shared, endpoint).await?;
    ping(shared, &mut client, endpoint).await?;
    let remote_cert = seen_cert.locked().clone();
    let hs = |e: HandshakeError| {
        shared.metrics.handshake_failed(e.reason);
        CommError::Handshake {
            endpoint: endpoint.to_string(),
            error: e,
        }
    };
    if shared.tls.is_some() && remote_cert.is_none() {
        return Err(hs(HandshakeError::new(
            HandshakeFailure::NoTlsCert,
            "server presented no certificate",
        )));
    }
    let own = handshake::conn_establish(&shared.crypto, shared.self_cert_hash(), probe)?;
    let (pipe, outbound) = Pipe::new(shared.cfg.send_buff_size, shared.metrics.clone());
    // Cannot fail: the queue is empty and has room for the ConnEstablish.
    let _ = pipe.out.try_send(Ok(own));
    let request = futures::StreamExt::filter_map(outbound, |item| std::future::ready(item.ok()));
    let timeout = shared.cfg.conn_timeout;
    let response = match tokio::time::timeout(timeout, client.gossip_stream(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(status)) => {
            return Err(hs(HandshakeError::new(
                HandshakeFailure::Transport,
                format!("GossipStream refused: {}", status.message()),
            )))
        }
        Err(_) => {
            return Err(hs(HandshakeError::new(
                HandshakeFailure::Timeout,
                "GossipStream not opened in time",
            )))
        }
    };
    let mut inbound = response.into_inner();
    let first = match tokio::time::timeout(timeout, inbound.message()).await {
        Ok(Ok(Some(env))) => env,
        Ok(Ok(None)) => {
            return Err(hs(HandshakeError::new(
                HandshakeFailure::Transport,
                "stream ended before ConnEstablish",
            )))
        }
        Ok(Err(status)) => {
            let reason = handshake::read_failure(&status);
            return Err(hs(HandshakeError::new(
                reason,
                format!("reading ConnEstablish: {}", status.message()),
            )));
        }
        Err(_) => {
            return Err(hs(HandshakeError::new(
                HandshakeFailure::Timeout,
                format!("no ConnEstablish within {timeout:?}"),
            )))
        }
    };
    let remote = handshake::verify_conn_establish(
        &shared.crypto,
        &first,
        shared.tls.is_some(),
        remote_cert.as_deref(),
    )
    .map_err(hs)?;
    let info = ConnectionInfo {
        pki_id: remote.pki_id,
        identity: remote.identity,
        endpoint: endpoint.to_string(),
        auth: remote.auth,
    };
    Ok(Dialed {
        info,
        pipe,
        inbound,
        channel,
    })
}

/// A transport error with its sources, for one log line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint;

    #[test]
    fn endpoints() {
        let (_, h, p) = parse_endpoint("127.0.0.1:7051").unwrap();
        assert_eq!((h.as_str(), p), ("127.0.0.1", 7051));
        let (_, h, p) = parse_endpoint("[::1]:7051").unwrap();
        assert_eq!((h.as_str(), p), ("::1", 7051));
        let (_, h, _) = parse_endpoint("peer0.org1:7051").unwrap();
        assert_eq!(h, "peer0.org1");
        for bad in ["", "127.0.0.1", "127.0.0.1:0", "a b:1", "h:1/x", ":7051"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
