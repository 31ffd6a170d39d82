//! The metric families of one gossip peer, built at scrape time from the snapshots the
//! service already keeps (no second copy of any counter).
//!
//! Fabric's names and labels where Fabric has the metric (`gossip_*`); what Fabric lacks under
//! `fabgossip_*`. Adding a metric is one row in a table below (a name, a help text and a
//! function reading the snapshot), or one `Family` in [`families`] for a new label set.
//! A per-channel value new to the snapshots (e.g. Fabric's `gossip_leader_election_leader`
//! once election runs, `gossip_payload_buffer_size`) is a field of [`ChannelMetrics`], filled
//! where the node builds the snapshot, plus one row of `CHANNEL_GAUGES`.

use crate::channel::ChannelCounters;
use crate::comm::{CommMetricsSnapshot, ContactOutcome, ContactRecord, HandshakeFailure, Refusal};
use crate::deliver::DeliveryStats;
use crate::discovery::DiscoveryCounters;
use crate::identity::IdentityStats;
use crate::node::explain::MemberFacts;
use crate::node::ChannelBlockStats;
use crate::types::PkiId;

use super::exposition::{Family, Kind};

/// One joined channel, as the snapshots know it.
#[derive(Debug, Clone, Default)]
pub struct ChannelMetrics {
    pub name: String,
    /// Ledger height and block counters; `None` before the channel's ledger opened.
    pub blocks: Option<ChannelBlockStats>,
    /// Alive peers of the channel known through StateInfo (self excluded).
    pub peers_known: usize,
    /// Whether this peer leads the channel in its org; `None` when unknown.
    pub leader: Option<bool>,
    /// The orderer delivery service, while this peer runs one for the channel.
    pub delivery: Option<DeliveryStats>,
    /// Private data received and served; `None` before the channel's ledger opened.
    pub privdata: Option<crate::privdata::PrivDataStats>,
}

/// Everything one scrape reads, copied from the service's snapshots.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub comm: CommMetricsSnapshot,
    /// PKI-IDs with a registered connection.
    pub connected: Vec<PkiId>,
    /// Last dial/handshake outcome per endpoint (bounded by comm).
    pub contacts: Vec<ContactRecord>,
    pub members: Vec<MemberFacts>,
    pub discovery: DiscoveryCounters,
    /// The node's refusal counters, name → value.
    pub node: Vec<(&'static str, u64)>,
    /// Committed config blocks that reconfigured their channel.
    pub config_blocks_applied: u64,
    pub channel_registry: ChannelCounters,
    pub channels: Vec<ChannelMetrics>,
    /// The identity mapper's, cert store's and identity pull's counters.
    pub identity: IdentityStats,
    /// The built-in Fabric MSP's decisions; `None` with another crypto.
    pub msp: Option<crate::crypto::msp::MspDecisions>,
}

/// A metric without labels of its own: name, help, and how to read it from `T`.
type Row<T> = (&'static str, &'static str, fn(&T) -> u64);
/// One sample of a labelled family: the `reason` label value and how to read it from `T`.
type ReasonRow<T> = (&'static str, fn(&T) -> u64);
type CommRow = Row<CommMetricsSnapshot>;
/// Per-channel rows return `None` when the channel has no such value (no sample then).
type ChannelRow = (
    &'static str,
    &'static str,
    fn(&ChannelMetrics) -> Option<u64>,
);
type DiscoveryRow = Row<DiscoveryCounters>;

/// Identity mapper counters (`fabgossip.maxIdentities` bounds the mapper).
const IDENTITY_COUNTERS: &[Row<IdentityStats>] = &[
    (
        "fabgossip_identity_rejected",
        "Identities the mapper refused (invalid, expired, PKI-ID mismatch, mapper full)",
        |s| s.mapper.rejected,
    ),
    (
        "fabgossip_identity_overflow",
        "New identities refused because the mapper held fabgossip.maxIdentities",
        |s| s.mapper.overflow,
    ),
    (
        "fabgossip_identity_purged",
        "Identities removed from the mapper for expiring or staying unused",
        |s| s.mapper.purged_expired + s.mapper.purged_idle,
    ),
    (
        "fabgossip_identity_revoked",
        "Identities the MSP refused on re-validation",
        |s| s.mapper.revoked,
    ),
];

/// Comm counters without labels.
const COMM_COUNTERS: &[CommRow] = &[
    (
        "gossip_comm_messages_sent",
        "Number of gossip messages sent",
        |c| c.messages_sent,
    ),
    (
        "gossip_comm_messages_received",
        "Number of gossip messages received",
        |c| c.messages_received,
    ),
    (
        "fabgossip_comm_bytes_sent",
        "Encoded bytes of the gossip messages sent",
        |c| c.bytes_sent,
    ),
    (
        "fabgossip_comm_bytes_received",
        "Encoded bytes of the gossip messages received",
        |c| c.bytes_received,
    ),
    (
        "gossip_comm_overflow_count",
        "Number of messages dropped because an outgoing queue was full",
        |c| c.overflow_count,
    ),
    (
        "fabgossip_comm_dial_failures",
        "Dials (connect, Ping, stream, handshake) that failed",
        |c| c.dial_failures,
    ),
    (
        "fabgossip_comm_connections_opened",
        "Authenticated connections registered, both directions",
        |c| c.connections_opened,
    ),
    (
        "fabgossip_comm_connections_closed",
        "Registered connections closed, for any reason",
        |c| c.connections_closed,
    ),
];

/// Per-channel gauges (label `channel`).
const CHANNEL_GAUGES: &[ChannelRow] = &[
    (
        "gossip_state_height",
        "Current ledger height of the channel",
        |c| c.blocks.as_ref().map(|b| b.height),
    ),
    (
        "gossip_membership_total_peers_known",
        "Alive peers known in the channel (self excluded)",
        |c| Some(c.peers_known as u64),
    ),
    (
        "gossip_payload_buffer_size",
        "Blocks in the payload buffer waiting for their turn to commit",
        |c| c.blocks.as_ref().map(|b| b.buffered),
    ),
    (
        "gossip_leader_election_leader",
        "1 while this peer leads the channel in its org (elected or static), else 0",
        |c| c.leader.map(u64::from),
    ),
    (
        "fabgossip_delivery_connected",
        "1 while a Deliver stream to an orderer is open for the channel",
        |c| c.delivery.as_ref().map(|d| u64::from(d.connected)),
    ),
    (
        "fabgossip_delivery_lag",
        "Blocks received from the orderer and not yet committed",
        |c| c.delivery.as_ref().map(|d| d.lag),
    ),
];

/// Per-channel counters (label `channel`).
const CHANNEL_COUNTERS: &[ChannelRow] = &[
    (
        "fabgossip_delivery_blocks_received",
        "Blocks received from the orderer that passed verification",
        |c| c.delivery.as_ref().map(|d| d.blocks_received),
    ),
    (
        "fabgossip_delivery_blocks_rejected",
        "Blocks from the orderer that failed verification or came out of order",
        |c| c.delivery.as_ref().map(|d| d.blocks_rejected),
    ),
    (
        "fabgossip_delivery_reconnects",
        "Orderer sessions that ended in failure (dial, stream, status reply, bad block)",
        |c| c.delivery.as_ref().map(|d| d.reconnects),
    ),
    (
        "fabgossip_blocks_pushed_in",
        "Block messages received by push",
        |c| c.blocks.as_ref().map(|s| s.blocks.pushed_in),
    ),
    (
        "fabgossip_blocks_pulled",
        "Blocks missed by push and obtained by pull (dissemination gaps filled)",
        |c| c.blocks.as_ref().map(|s| s.blocks.pulled_in),
    ),
    (
        "fabgossip_blocks_forwarded",
        "Blocks handed to push for dissemination",
        |c| c.blocks.as_ref().map(|s| s.blocks.forwarded),
    ),
    (
        "fabgossip_blocks_held_ahead",
        "Blocks beyond the state buffer kept (verified, forwarded) until the ledger reaches them",
        |c| c.blocks.as_ref().map(|s| s.blocks.held_ahead),
    ),
    (
        "fabgossip_blocks_committed",
        "Blocks committed to the ledger",
        |c| c.blocks.as_ref().map(|s| s.state.committed),
    ),
    (
        "fabgossip_blocks_commit_errors",
        "Commits the ledger refused (retried)",
        |c| c.blocks.as_ref().map(|s| s.blocks.commit_errors),
    ),
    (
        "fabgossip_state_gaps_reported",
        "Gaps in the block sequence the state provider detected",
        |c| c.blocks.as_ref().map(|s| s.state.gaps_reported),
    ),
];

/// Blocks dropped per channel, by reason (label `reason`).
const BLOCK_DROPS: &[ReasonRow<ChannelBlockStats>] = &[
    ("duplicate", |s| s.blocks.duplicate),
    ("invalid", |s| s.blocks.invalid),
    ("too_far_ahead", |s| s.blocks.too_far_ahead),
    ("refused", |s| s.blocks.refused),
    ("broken_chain", |s| s.state.broken_chain),
];

/// Kinds of ledger repair at open (`file::Recovery::kinds`), each a `kind` label value.
const LEDGER_REPAIR_KINDS: &[&str] = &[
    "zeros",
    "zero_length",
    "short",
    "bad_checksum",
    "wrong_number",
    "damaged_middle",
    "index_rebuilt",
    "index_extended",
];

/// Membership counters without labels.
const DISCOVERY_COUNTERS: &[DiscoveryRow] = &[
    (
        "fabgossip_membership_alive_received",
        "Alive messages received",
        |d| d.alive_received,
    ),
    (
        "fabgossip_membership_expired",
        "Peers declared dead (silence or comm failure)",
        |d| d.expired,
    ),
    (
        "fabgossip_membership_resurrected",
        "Dead peers heard of again",
        |d| d.resurrected,
    ),
    ("fabgossip_membership_purged", "Dead peers forgotten", |d| {
        d.purged
    }),
    (
        "fabgossip_membership_probes_failed",
        "Bootstrap or anchor probes that failed",
        |d| d.probe_failed,
    ),
];

/// Membership refusals by reason (label `reason`).
const MEMBERSHIP_REFUSALS: &[ReasonRow<DiscoveryCounters>] = &[
    ("members_full", |d| d.members_full),
    ("mem_req_spoofed", |d| d.mem_req_spoofed),
    ("mem_req_not_disclosable", |d| d.mem_req_not_disclosable),
    ("probe_wrong_org", |d| d.probe_wrong_org),
    ("connect_gave_up", |d| d.connect_gave_up),
    ("anchor_skipped_no_external_endpoint", |d| d.anchor_skipped),
    ("self_conflict", |d| d.self_conflict),
];

const HANDSHAKE_REASONS: [HandshakeFailure; 10] = [
    HandshakeFailure::BadMessage,
    HandshakeFailure::MissingPkiId,
    HandshakeFailure::InvalidIdentity,
    HandshakeFailure::PkiIdMismatch,
    HandshakeFailure::NoTlsCert,
    HandshakeFailure::CertHashMismatch,
    HandshakeFailure::BadSignature,
    HandshakeFailure::Timeout,
    HandshakeFailure::UnexpectedPeer,
    HandshakeFailure::Transport,
];

fn table<T>(out: &mut Vec<Family>, kind: Kind, rows: &[Row<T>], v: &T) {
    for (name, help, get) in rows {
        let mut f = Family::new(name, help, kind);
        f.sample(&[], get(v) as f64);
        out.push(f);
    }
}

/// The built-in MSP's decisions: validations and verifications that passed, and refusals
/// by reason.
fn msp_families(out: &mut Vec<Family>, d: &crate::crypto::msp::MspDecisions) {
    use crate::crypto::msp::{Check, REFUSAL_REASONS};
    let mut f = Family::new(
        "fabgossip_msp_verify",
        "Identity validations, signature and block verifications of the built-in MSP, by \
         kind (identity, signature, block) and result (valid, refused)",
        Kind::Counter,
    );
    for k in Check::ALL {
        f.sample(
            &[("kind", k.as_str()), ("result", "valid")],
            d.passed(k) as f64,
        );
        f.sample(
            &[("kind", k.as_str()), ("result", "refused")],
            d.refused_total(k) as f64,
        );
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_msp_identity_refused",
        "Identities the built-in MSP refused, by reason (unknown_ca, expired, not_yet_valid, \
         revoked, wrong_role, unknown_msp, malformed, ...)",
        Kind::Counter,
    );
    for r in REFUSAL_REASONS {
        f.sample(&[("reason", r)], d.refused(Check::Identity, r) as f64);
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_msp_verify_refused",
        "Signatures and blocks the built-in MSP refused, by kind and reason",
        Kind::Counter,
    );
    for k in [Check::Signature, Check::Block] {
        for r in REFUSAL_REASONS {
            f.sample(
                &[("kind", k.as_str()), ("reason", r)],
                d.refused(k, r) as f64,
            );
        }
    }
    out.push(f);
}

/// The families of one scrape, in a stable order.
pub fn families(s: &Snapshot) -> Vec<Family> {
    let mut out = Vec::new();

    // Comm.
    table(&mut out, Kind::Counter, COMM_COUNTERS, &s.comm);
    let mut f = Family::new(
        "fabgossip_comm_handshake_failures",
        "Failed handshakes, both directions, by reason",
        Kind::Counter,
    );
    for r in HANDSHAKE_REASONS {
        f.sample(
            &[("reason", r.as_str())],
            s.comm.handshake_failures.get(r) as f64,
        );
    }
    out.push(f);
    if let Some(d) = &s.msp {
        msp_families(&mut out, d);
    }
    let mut f = Family::new(
        "fabgossip_comm_tls_refused",
        "TLS certificates refused for not chaining to a TLS CA of the peer's channels or root \
         files, by direction (inbound: a client's, outbound: a dialed server's) and reason",
        Kind::Counter,
    );
    for (direction, inbound) in [("inbound", true), ("outbound", false)] {
        for r in crate::comm::TlsRefusal::ALL {
            f.sample(
                &[("direction", direction), ("reason", r.as_str())],
                s.comm.tls_refused.get(inbound, r) as f64,
            );
        }
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_comm_connections_refused",
        "Inbound connections refused or closed before authenticating, by reason",
        Kind::Counter,
    );
    for r in Refusal::ALL {
        f.sample(
            &[("reason", r.as_str())],
            s.comm.connections_refused.get(r) as f64,
        );
    }
    out.push(f);
    for (name, help, v) in [
        (
            "fabgossip_comm_inbound_connections",
            "Inbound connections held, authenticated or not",
            s.comm.admitted_connections,
        ),
        (
            "fabgossip_comm_unauthenticated_connections",
            "Inbound connections not yet authenticated",
            s.comm.unauthenticated_connections,
        ),
    ] {
        let mut f = Family::new(name, help, Kind::Gauge);
        f.sample(&[], v as f64);
        out.push(f);
    }
    let mut f = Family::new(
        "fabgossip_messages_dropped",
        "Messages dropped or refused, by reason",
        Kind::Counter,
    );
    let c = &s.comm;
    for (reason, v) in [
        ("send_queue_full", c.overflow_count),
        ("events_queue_full", c.events_dropped),
        ("send_failed", c.send_failures),
        ("not_a_gossip_message", c.bad_messages),
        ("recv_rate_exceeded", c.recv_rate_exceeded),
        ("recv_buffer_full", c.recv_buffer_full),
    ] {
        f.sample(&[("reason", reason)], v as f64);
    }
    for (name, v) in &s.node {
        f.sample(&[("reason", name)], *v as f64);
    }
    out.push(f);
    for (name, help, v) in [
        (
            "fabgossip_config_blocks_applied",
            "Committed config blocks that reconfigured their channel (orgs, MSPs, anchor peers, orderers)",
            s.config_blocks_applied,
        ),
        (
            "fabgossip_comm_flood_disconnects",
            "Connections closed for exceeding fabgossip.floodDisconnectDrops dropped messages in one second",
            c.flood_disconnects,
        ),
        (
            "fabgossip_comm_presumed_dead",
            "Peers reported presumed dead because a dial or a send to them failed",
            c.presumed_dead,
        ),
    ] {
        let mut f = Family::new(name, help, Kind::Counter);
        f.sample(&[], v as f64);
        out.push(f);
    }
    let mut f = Family::new(
        "fabgossip_comm_acks",
        "Messages sent with ack by outcome, and acks no sender waited for",
        Kind::Counter,
    );
    for (result, v) in [
        ("acked", c.acks.acked),
        ("nacked", c.acks.nacked),
        ("timeout", c.acks.timeout),
        ("unknown_nonce", c.acks.unknown_nonce),
    ] {
        f.sample(&[("result", result)], v as f64);
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_comm_connections",
        "Authenticated connections currently registered",
        Kind::Gauge,
    );
    f.sample(&[], s.connected.len() as f64);
    out.push(f);

    // Per remote peer: membership state and connection (bounded by maxMembers).
    let mut alive = Family::new(
        "fabgossip_peer_alive",
        "1 while a member is alive, 0 while dead, per remote peer",
        Kind::Gauge,
    );
    let mut conn = Family::new(
        "fabgossip_peer_connected",
        "1 while a connection to the member is registered, per remote peer",
        Kind::Gauge,
    );
    for m in &s.members {
        let pki = m.pki_id.to_hex();
        let endpoint = if m.internal_endpoint.is_empty() {
            &m.endpoint
        } else {
            &m.internal_endpoint
        };
        let labels = [
            ("pki_id", pki.as_str()),
            ("org", m.org.as_str()),
            ("endpoint", endpoint.as_str()),
        ];
        alive.sample(&labels, if m.alive { 1.0 } else { 0.0 });
        let connected = s.connected.contains(&m.pki_id);
        conn.sample(&labels, if connected { 1.0 } else { 0.0 });
    }
    out.push(alive);
    out.push(conn);
    // Endpoints whose last dial failed (bounded by comm's history).
    let mut f = Family::new(
        "fabgossip_endpoint_failing",
        "Consecutive failed dials of an endpoint whose last dial failed, by reason",
        Kind::Gauge,
    );
    let mut failing: Vec<&ContactRecord> = s
        .contacts
        .iter()
        .filter(|c| c.outcome != ContactOutcome::Handshaken)
        .collect();
    failing.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    for c in failing {
        let reason = match &c.outcome {
            ContactOutcome::HandshakeFailed { reason, .. } => format!("handshake_failed:{reason}"),
            o => o.code(),
        };
        f.sample(
            &[
                ("endpoint", c.endpoint.as_str()),
                ("reason", reason.as_str()),
            ],
            c.repeats as f64,
        );
    }
    out.push(f);

    // Membership.
    let mut f = Family::new(
        "fabgossip_membership_peers",
        "Known members by state",
        Kind::Gauge,
    );
    let alive_n = s.members.iter().filter(|m| m.alive).count();
    f.sample(&[("state", "alive")], alive_n as f64)
        .sample(&[("state", "dead")], (s.members.len() - alive_n) as f64);
    out.push(f);
    table(&mut out, Kind::Counter, DISCOVERY_COUNTERS, &s.discovery);
    let mut f = Family::new(
        "fabgossip_identities",
        "Identities in the mapper, own included",
        Kind::Gauge,
    );
    f.sample(&[], s.identity.known as f64);
    out.push(f);
    table(&mut out, Kind::Counter, IDENTITY_COUNTERS, &s.identity);
    let mut f = Family::new(
        "fabgossip_membership_refusals",
        "Membership messages or peers refused, by reason",
        Kind::Counter,
    );
    for (reason, get) in MEMBERSHIP_REFUSALS {
        f.sample(&[("reason", reason)], get(&s.discovery) as f64);
    }
    let r = &s.channel_registry;
    for (reason, v) in [
        ("state_info_bad_signature", r.state_info_bad_signature),
        ("state_info_bad_mac", r.state_info_bad_mac),
        ("state_info_unknown_org", r.state_info_unknown_org),
        (
            "state_info_org_not_in_channel",
            r.state_info_org_not_in_channel,
        ),
        ("state_info_malformed", r.state_info_malformed),
    ] {
        f.sample(&[("reason", reason)], v as f64);
    }
    out.push(f);

    // Channels.
    for (kind, rows) in [
        (Kind::Gauge, CHANNEL_GAUGES),
        (Kind::Counter, CHANNEL_COUNTERS),
    ] {
        for (name, help, get) in rows {
            let mut f = Family::new(name, help, kind);
            for c in &s.channels {
                if let Some(v) = get(c) {
                    f.sample(&[("channel", c.name.as_str())], v as f64);
                }
            }
            out.push(f);
        }
    }
    let with_blocks: Vec<(&str, &ChannelBlockStats)> = s
        .channels
        .iter()
        .filter_map(|c| c.blocks.as_ref().map(|b| (c.name.as_str(), b)))
        .collect();
    let mut f = Family::new(
        "gossip_state_commit_duration",
        "Time it takes to commit a block to the ledger, in seconds",
        Kind::Histogram,
    );
    for (ch, b) in &with_blocks {
        f.histogram(&[("channel", ch)], b.commit_duration.value());
    }
    out.push(f);
    type PvtHistogram = fn(&crate::node::PvtCommitMetrics) -> &crate::metrics::DurationHistogram;
    let pvt_histograms: [(&str, &str, PvtHistogram); 3] = [
        (
            "gossip_privdata_fetch_duration",
            "The time it takes to fetch missing private data from peers, in seconds",
            |m| &m.fetch_duration,
        ),
        (
            "gossip_privdata_commit_block_duration",
            "The time it takes to commit private data and the corresponding block, in seconds",
            |m| &m.commit_block_duration,
        ),
        (
            "gossip_privdata_purge_duration",
            "The time it takes to purge private data from the transient store, in seconds",
            |m| &m.purge_duration,
        ),
    ];
    for (name, help, get) in pvt_histograms {
        let mut f = Family::new(name, help, Kind::Histogram);
        for (ch, b) in &with_blocks {
            f.histogram(&[("channel", ch)], get(&b.privdata).value());
        }
        out.push(f);
    }
    let mut f = Family::new(
        "fabgossip_privdata_missing",
        "Private data digests committed as missing (this peer not eligible, or no peer had them)",
        Kind::Counter,
    );
    for (ch, b) in &with_blocks {
        f.sample(&[("channel", ch)], b.privdata.missing as f64);
    }
    out.push(f);
    // The orderer the delivery service reads from (one series while it runs).
    let mut f = Family::new(
        "fabgossip_delivery_source",
        "1 for the orderer endpoint the channel's delivery service dialed last",
        Kind::Gauge,
    );
    for c in &s.channels {
        if let Some(d) = c.delivery.as_ref().filter(|d| !d.endpoint.is_empty()) {
            f.sample(
                &[
                    ("channel", c.name.as_str()),
                    ("endpoint", d.endpoint.as_str()),
                ],
                1.0,
            );
        }
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_blocks_dropped",
        "Block messages dropped, by channel and reason",
        Kind::Counter,
    );
    for (ch, b) in &with_blocks {
        for (reason, get) in BLOCK_DROPS {
            f.sample(&[("channel", ch), ("reason", reason)], get(b) as f64);
        }
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_ledger_recoveries",
        "Repairs the embedded ledger made when the channel's ledger was opened, by kind of damage",
        Kind::Counter,
    );
    for (ch, b) in &with_blocks {
        for kind in LEDGER_REPAIR_KINDS {
            let n = b.ledger_repairs.iter().filter(|k| *k == kind).count();
            f.sample(&[("channel", ch), ("kind", kind)], n as f64);
        }
    }
    out.push(f);
    privdata_families(s, &mut out);
    out
}

/// Private data pushes by outcome, and the transient stores' sizes.
fn privdata_families(s: &Snapshot, out: &mut Vec<Family>) {
    let with_pvt: Vec<(&str, &crate::privdata::PrivDataStats)> = s
        .channels
        .iter()
        .filter_map(|c| c.privdata.as_ref().map(|p| (c.name.as_str(), p)))
        .collect();
    let mut f = Family::new(
        "fabgossip_privdata_received",
        "Private data messages received, by channel and result (stored, or why refused)",
        Kind::Counter,
    );
    for (ch, p) in &with_pvt {
        for (result, v) in &p.received {
            f.sample(&[("channel", ch), ("result", result)], *v as f64);
        }
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_privdata_transient_entries",
        "Private write sets in the channel's transient store",
        Kind::Gauge,
    );
    for (ch, p) in &with_pvt {
        f.sample(&[("channel", ch)], p.transient.entries as f64);
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_privdata_transient_corrupt",
        "Transient store files found corrupt and set aside",
        Kind::Counter,
    );
    for (ch, p) in &with_pvt {
        f.sample(&[("channel", ch)], p.transient.corrupt as f64);
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_privdata_requested",
        "Digests of private data requests, by channel and how they were answered",
        Kind::Counter,
    );
    for (ch, p) in &with_pvt {
        for (result, v) in [
            ("served", p.requests.served),
            ("not_found", p.requests.not_found),
            ("refused", p.requests.refused),
            ("unauthorized", p.requests_unauthorized),
        ] {
            f.sample(&[("channel", ch), ("result", result)], v as f64);
        }
    }
    out.push(f);
    let mut f = Family::new(
        "fabgossip_privdata_responses_dropped",
        "Private data responses no running fetch waited for (late, unsolicited, or over its queue)",
        Kind::Counter,
    );
    for (ch, p) in &with_pvt {
        f.sample(&[("channel", ch)], p.responses_dropped as f64);
    }
    out.push(f);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::SystemTime;

    use super::*;
    use crate::metrics::exposition::encode;

    fn sample_value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn families_read_the_snapshot() {
        let mut s = Snapshot::default();
        s.comm.messages_sent = 5;
        s.comm.handshake_failures.bad_signature = 2;
        let pki = PkiId(vec![0xab; 4]);
        s.members.push(MemberFacts {
            pki_id: pki.clone(),
            org: "Org2MSP".into(),
            endpoint: "p:1".into(),
            internal_endpoint: String::new(),
            alive: true,
            last_alive: SystemTime::now(),
            alive_since: None,
            dead_since: None,
        });
        s.connected.push(pki);
        s.identity.known = 7;
        s.config_blocks_applied = 6;
        s.comm.tls_refused.outbound[0] = 6;
        let mut msp = crate::crypto::msp::MspDecisions::default();
        msp.passed[0] = 11;
        msp.refused[0][3] = 2;
        msp.refused[2][13] = 1;
        s.msp = Some(msp);
        s.identity.mapper.rejected = 4;
        s.identity.mapper.overflow = 3;
        s.channels.push(ChannelMetrics {
            name: "ch1".into(),
            blocks: Some(ChannelBlockStats {
                height: 9,
                buffered: 4,
                ..Default::default()
            }),
            peers_known: 3,
            leader: Some(true),
            delivery: Some(DeliveryStats {
                endpoint: "orderer:7050".into(),
                connected: true,
                blocks_received: 12,
                lag: 2,
                ..Default::default()
            }),
            privdata: None,
        });
        let fams = families(&s);
        let names: Vec<_> = fams.iter().map(|f| f.name()).collect();
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "a family appears once");
        let text = encode(&fams);
        assert_eq!(sample_value(&text, "gossip_comm_messages_sent"), Some(5.0));
        assert_eq!(
            sample_value(
                &text,
                "fabgossip_comm_handshake_failures{reason=\"bad_signature\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample_value(&text, "gossip_state_height{channel=\"ch1\"}"),
            Some(9.0)
        );
        for (sample, want) in [
            ("fabgossip_config_blocks_applied", 6.0),
            ("gossip_payload_buffer_size{channel=\"ch1\"}", 4.0),
            ("gossip_leader_election_leader{channel=\"ch1\"}", 1.0),
            ("fabgossip_delivery_connected{channel=\"ch1\"}", 1.0),
            ("fabgossip_delivery_lag{channel=\"ch1\"}", 2.0),
            ("fabgossip_delivery_blocks_received{channel=\"ch1\"}", 12.0),
            (
                "fabgossip_delivery_source{channel=\"ch1\",endpoint=\"orderer:7050\"}",
                1.0,
            ),
            ("gossip_state_commit_duration_count{channel=\"ch1\"}", 0.0),
            ("fabgossip_identities", 7.0),
            ("fabgossip_identity_rejected", 4.0),
            ("fabgossip_identity_overflow", 3.0),
            (
                "fabgossip_comm_tls_refused{direction=\"outbound\",reason=\"unknown_ca\"}",
                6.0,
            ),
            (
                "fabgossip_comm_tls_refused{direction=\"inbound\",reason=\"unknown_ca\"}",
                0.0,
            ),
            (
                "fabgossip_msp_verify{kind=\"identity\",result=\"valid\"}",
                11.0,
            ),
            (
                "fabgossip_msp_verify{kind=\"identity\",result=\"refused\"}",
                2.0,
            ),
            ("fabgossip_msp_identity_refused{reason=\"expired\"}", 2.0),
            ("fabgossip_msp_identity_refused{reason=\"revoked\"}", 0.0),
            (
                "fabgossip_msp_verify_refused{kind=\"block\",reason=\"policy\"}",
                1.0,
            ),
        ] {
            assert_eq!(sample_value(&text, sample), Some(want), "{sample}");
        }
        assert_eq!(
            sample_value(
                &text,
                "gossip_membership_total_peers_known{channel=\"ch1\"}"
            ),
            Some(3.0)
        );
        assert_eq!(
            sample_value(
                &text,
                "fabgossip_peer_connected{pki_id=\"abababab\",org=\"Org2MSP\",endpoint=\"p:1\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample_value(&text, "fabgossip_membership_peers{state=\"alive\"}"),
            Some(1.0)
        );
    }
}
