//! The delivery client of one channel: dial an orderer, send the seek request from the ledger
//! height, verify each block and hand it over in order; on any failure move to the next
//! endpoint after a backoff, and report when no orderer was reached for too long.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::endpoints::{resolve_targets, EndpointSelector, OrdererTarget};
use super::seek::seek_envelope;
use super::stats::DeliveryCounters;
use super::{ClientTlsIdentity, DeliverError, Delivered, DeliveryEvent, DeliveryRequest};
use crate::channelconfig::GenesisBlockCheck;
use crate::crypto::CryptoError;
use crate::proto::common::{BlockHeader, Status};
use crate::state::{BlockVerifier, McsVerifier, Payload, Source, VerifiedPayload};

/// HTTP/2 keepalive towards the orderer: Fabric's `peer.keepalive.deliveryClient` 60s/20s.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest block accepted: Fabric's default gRPC message limit.
const MAX_MESSAGE_SIZE: usize = 100 * 1024 * 1024;

/// `orderer.DeliverResponse` with the block left encoded: it is verified and committed as
/// bytes, so decoding and re-encoding it would be wasted work.
#[derive(Clone, PartialEq, Message)]
struct RawDeliverResponse {
    #[prost(oneof = "RawResponse", tags = "1, 2")]
    r#type: Option<RawResponse>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum RawResponse {
    #[prost(int32, tag = "1")]
    Status(i32),
    #[prost(bytes = "vec", tag = "2")]
    Block(Vec<u8>),
}

/// Only the header of a `common.Block`; the rest is skipped by the decoder.
#[derive(Clone, PartialEq, Message)]
struct BlockHeaderOnly {
    #[prost(message, optional, tag = "1")]
    header: Option<BlockHeader>,
}

/// How a session with one orderer ended.
enum SessionEnd {
    /// Told to stop, or the receiver of blocks is gone.
    Stopped,
    Failed(DeliverError),
}

/// Resolves when the stop flag is raised or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs until stopped (or, when `keep_trying` is off, until it reported unreachability).
pub(super) async fn run(
    req: DeliveryRequest,
    counters: Arc<DeliveryCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let seed = req.seed;
    let mut rng = StdRng::seed_from_u64(seed);
    let targets = resolve_targets(&req.orderers, &req.config.address_overrides);
    let Some(mut selector) = EndpointSelector::new(targets, &mut rng) else {
        warn!(channel = %req.channel, "no orderer endpoint: the delivery service does nothing");
        return;
    };
    let backoff = Backoff::new(
        req.config.minimal_reconnect_interval,
        req.config.reconnect_backoff_threshold,
    );
    let mut failures: u32 = 0;
    let mut failing_since: Option<Instant> = None;
    let mut reported = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let target = selector.current().clone();
        counters.set_endpoint(&target.address);
        let mut progressed = false;
        let end = tokio::select! {
            biased;
            _ = stopped(&mut stop) => SessionEnd::Stopped,
            end = session(&req, &target, &counters, &mut progressed) => end,
        };
        counters.set_connected(false);
        let err = match end {
            SessionEnd::Stopped => return,
            SessionEnd::Failed(e) => e,
        };
        if progressed {
            failures = 0;
            failing_since = None;
            reported = false;
        }
        failures = failures.saturating_add(1);
        let since = *failing_since.get_or_insert_with(Instant::now);
        counters.reconnect();
        warn!(channel = %req.channel, orderer = %target.address, failures, "delivery failed: {err}");
        selector.failed();
        let down_for = since.elapsed();
        if !reported && down_for > req.config.reconnect_total_time_threshold {
            reported = true;
            counters.unreachable();
            warn!(channel = %req.channel, ?down_for, "no orderer reachable for longer than reconnectTotalTimeThreshold");
            let ev = Delivered {
                id: req.id,
                channel: req.channel.clone(),
                event: DeliveryEvent::Unreachable { down_for },
            };
            if req.sink.send(ev).await.is_err() || !req.keep_trying {
                return;
            }
        }
        let wait = backoff.delay(failures, &mut rng);
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// How a block from `target` is verified. A genesis block made by configtxgen carries no
/// orderer signature: a peer that joined with a later config block gets it from an orderer
/// the channel config names, over TLS checked against that orderer's TLS CA, and takes it
/// when it passes the policy or else the checks that need no key (number 0, data hash, a
/// config envelope of this channel), as `peer channel fetch 0` followed by `peer channel
/// join -b` trusts it. Every later block chains to it and is verified by the channel's
/// policy. Over plain TCP nothing vouches for block 0: it must pass the policy.
fn block_verifier<'a>(
    seq: u64,
    target: &OrdererTarget,
    mcs: &'a McsVerifier,
) -> Box<dyn BlockVerifier + 'a> {
    if seq == 0 && target.tls_root_cert.is_some() {
        Box::new(GenesisFromTls(mcs))
    } else {
        Box::new(McsVerifier(mcs.0.clone()))
    }
}

/// Block 0 from a TLS orderer: the policy, or else the genesis block checks.
struct GenesisFromTls<'a>(&'a McsVerifier);

impl BlockVerifier for GenesisFromTls<'_> {
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        self.0.verify_block(channel, seq, block).or_else(|e| {
            GenesisBlockCheck
                .verify_block(channel, seq, block)
                .map_err(|_| e)
        })
    }
}

/// One connection to one orderer: dial, seek, receive until something fails.
async fn session(
    req: &DeliveryRequest,
    target: &OrdererTarget,
    counters: &DeliveryCounters,
    progressed: &mut bool,
) -> SessionEnd {
    let channel = match connect(target, req.config.conn_timeout, req.client_tls.as_ref()).await {
        Ok(c) => c,
        Err(e) => return SessionEnd::Failed(e),
    };
    let mut height_rx = req.height.clone();
    let from = *height_rx.borrow_and_update();
    // Bound to the certificate this TLS connection presents, as a Fabric peer does.
    let tls_cert_hash = match (&target.tls_root_cert, &req.client_tls) {
        (Some(_), Some(id)) => id.cert_hash(),
        _ => Vec::new(),
    };
    let envelope = match seek_envelope(
        &req.channel,
        from,
        &req.self_identity,
        tls_cert_hash,
        &*req.mcs,
    ) {
        Ok(e) => e,
        Err(e) => return SessionEnd::Failed(DeliverError::Sign(e.to_string())),
    };
    // The request stream stays open for the whole session: an orderer may read a closed
    // stream as the end of the client's interest.
    let (tx, rx) = mpsc::channel(1);
    if tx.send(envelope).await.is_err() {
        return SessionEnd::Stopped;
    }
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let failed = |e: tonic::Status| {
        SessionEnd::Failed(DeliverError::Rpc(format!(
            "{}: {:?} {}",
            target.address,
            e.code(),
            e.message()
        )))
    };
    if let Err(e) = grpc.ready().await {
        return SessionEnd::Failed(DeliverError::Connect(format!("{}: {e}", target.address)));
    }
    let codec =
        tonic_prost::ProstCodec::<crate::proto::common::Envelope, RawDeliverResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/orderer.AtomicBroadcast/Deliver");
    let request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut inbound = match grpc.streaming(request, path, codec).await {
        Ok(r) => r.into_inner(),
        Err(e) => return failed(e),
    };
    counters.set_connected(true);
    counters.seek_from(from);
    info!(channel = %req.channel, orderer = %target.address, from, "pulling blocks from the orderer");
    let mut expected = from;
    loop {
        let msg = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return SessionEnd::Failed(DeliverError::Rpc(format!(
                    "{}: stream closed by the orderer",
                    target.address
                )))
            }
            Err(e) => return failed(e),
        };
        let block = match msg.r#type {
            Some(RawResponse::Block(b)) => b,
            Some(RawResponse::Status(s)) => {
                counters.status_reply();
                let name = Status::try_from(s).map_or("unknown status", |s| s.as_str_name());
                return SessionEnd::Failed(DeliverError::StatusReply {
                    endpoint: target.address.clone(),
                    status: s,
                    name: name.to_string(),
                });
            }
            None => {
                return SessionEnd::Failed(DeliverError::BadBlock(format!(
                    "{}: empty DeliverResponse",
                    target.address
                )))
            }
        };
        let seq = match BlockHeaderOnly::decode(block.as_slice()) {
            Ok(BlockHeaderOnly {
                header: Some(h), ..
            }) => h.number,
            Ok(_) => return bad_block(counters, target, "block without header".into()),
            Err(e) => return bad_block(counters, target, format!("undecodable block: {e}")),
        };
        if seq != expected {
            return bad_block(
                counters,
                target,
                format!("block {seq} received, block {expected} expected"),
            );
        }
        let payload = Payload::new(seq, block, Vec::new(), Source::Deliverer);
        let mcs = McsVerifier(req.mcs.clone());
        let verifier = block_verifier(seq, target, &mcs);
        let verified = match VerifiedPayload::verify(&*verifier, &req.channel, payload) {
            Ok(v) => v,
            Err((_, e)) => return bad_block(counters, target, format!("block {seq}: {e}")),
        };
        counters.received(seq);
        *progressed = true;
        // Backpressure: hold the block while the state provider could not buffer it, which
        // in turn holds the stream (Fabric's AddPayload blocks the same way).
        let limit = req.max_ahead.max(1);
        if height_rx
            .wait_for(|h| seq < h.saturating_add(limit))
            .await
            .is_err()
        {
            return SessionEnd::Stopped;
        }
        let ev = Delivered {
            id: req.id,
            channel: req.channel.clone(),
            event: DeliveryEvent::Verified(verified),
        };
        if req.sink.send(ev).await.is_err() {
            return SessionEnd::Stopped;
        }
        expected = seq + 1;
        debug!(channel = %req.channel, seq, "block from the orderer handed over");
    }
}

fn bad_block(counters: &DeliveryCounters, target: &OrdererTarget, why: String) -> SessionEnd {
    counters.rejected();
    SessionEnd::Failed(DeliverError::BadBlock(format!("{}: {why}", target.address)))
}

/// Dials `target` within `timeout`: TLS (rustls) with its root certificate, plain otherwise.
async fn connect(
    target: &OrdererTarget,
    timeout: Duration,
    client_tls: Option<&ClientTlsIdentity>,
) -> Result<tonic::transport::Channel, DeliverError> {
    let fail = |why: String| DeliverError::Connect(format!("{}: {why}", target.address));
    let scheme = if target.tls_root_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let mut ep = Endpoint::from_shared(format!("{scheme}://{}", target.address))
        .map_err(|e| fail(format!("not a valid address: {e}")))?
        .connect_timeout(timeout)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    if let Some(pem) = &target.tls_root_cert {
        let host = target
            .address
            .rsplit_once(':')
            .map_or(target.address.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(pem))
            .domain_name(host);
        if let Some(id) = client_tls {
            tls = tls.identity(Identity::from_pem(&id.cert_pem, &id.key_pem));
        }
        ep = ep
            .tls_config(tls)
            .map_err(|e| fail(format!("TLS configuration: {e}")))?;
    }
    match tokio::time::timeout(timeout, ep.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(fail(error_chain(&e))),
        Err(_) => Err(fail(format!("no connection within {timeout:?}"))),
    }
}

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
    use super::*;
    use crate::crypto::ed25519::Ed25519Crypto;

    const GENESIS: &[u8] = include_bytes!("../../tests/channelconfig/genesis.block");
    const UPDATE: &[u8] = include_bytes!("../../tests/channelconfig/anchor-update.block");
    const CH: &str = "fixturechannel";

    fn target(tls: bool) -> OrdererTarget {
        OrdererTarget {
            address: "orderer:7050".into(),
            tls_root_cert: tls.then(|| b"PEM".to_vec()),
        }
    }

    #[test]
    fn an_unsigned_genesis_block_passes_only_from_a_tls_orderer() {
        // A crypto that requires an orderer signature on every block of the channel.
        let ed = Ed25519Crypto::new("Org1MSP".into(), [3; 32], vec![]);
        ed.set_orderer_keys(CH, vec![[9; 32]]);
        let mcs = McsVerifier(ed);
        assert!(block_verifier(0, &target(true), &mcs)
            .verify_block(CH, 0, GENESIS)
            .is_ok());
        // Over plain TCP block 0 needs the policy like every block.
        assert!(block_verifier(0, &target(false), &mcs)
            .verify_block(CH, 0, GENESIS)
            .is_err());
        // Later blocks always do, over TLS too.
        assert!(block_verifier(1, &target(true), &mcs)
            .verify_block(CH, 1, UPDATE)
            .is_err());
        // A block 0 that passes the policy passes over TLS too.
        let signed = crate::crypto::block::new_block(0, Vec::new(), vec![b"tx".to_vec()]);
        let plain = McsVerifier(Ed25519Crypto::new("Org1MSP".into(), [3; 32], vec![]));
        assert!(block_verifier(0, &target(true), &plain)
            .verify_block(CH, 0, &signed.encode_to_vec())
            .is_ok());
        // Block 0 of another channel, or a later block numbered 0, is no genesis block.
        assert!(block_verifier(0, &target(true), &mcs)
            .verify_block("other", 0, GENESIS)
            .is_err());
        assert!(block_verifier(0, &target(true), &mcs)
            .verify_block(CH, 0, UPDATE)
            .is_err());
    }
}
