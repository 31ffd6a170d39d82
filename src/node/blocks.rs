//! One joined channel's blocks: the state provider over the channel's ledger, the block
//! message store (only blocks new to it are forwarded) and the block pull engine. The owner
//! task holds one per joined channel and carries out what it returns.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use prost::Message;
use serde::Serialize;

use crate::config::GossipConfig;
use crate::ledger::{Ledger, LedgerProvider};
use crate::message::{Content, SignedGossipMessage};
use crate::metrics::DurationHistogram;
use crate::msgstore::{GossipComparator, MessageStore};
use crate::proto::gossip::{Envelope, GossipMessage};
use crate::pull::{
    block_digest, block_envelope_digest, parse_block_digest, Digest, PullConfig, PullEngine,
    PullPolicy,
};
use crate::state::{
    self, BlockVerifier, Payload, Rejected, Source, StateCounters, StateProvider,
    StateProviderConfig, StateRequest, StateTransfer, TransferConfig, TransferCounters,
    VerifiedPayload,
};
use crate::types::PkiId;

/// Committed blocks kept offered by pull when state transfer is off. With state transfer
/// on, pull offers only Fabric's window (`maxBlockCountToStore`) and older gaps are closed
/// by state transfer; with it off (Fabric's core.yaml default) keeping more lets a peer
/// that missed pushes in a burst catch up by pull, up to this many blocks behind (a peer
/// further behind stays behind, as a Fabric peer with state transfer off does).
/// Memory: this many blocks per channel.
const PULL_KEEP: u64 = 100;

/// Verified gossip blocks kept beyond the state provider's window (`blockBufferSize`), until
/// the ledger height reaches them. A peer that falls behind by more than the buffer still
/// takes, stores and forwards new blocks (Fabric's block store does not depend on its state
/// buffer either), so the peers it pushes to are not starved with it; and it commits them
/// from here once its gap is filled, instead of fetching them again. Memory: this many
/// blocks per channel.
const AHEAD_KEEP: u64 = 100;

/// What happened to blocks of one channel at this peer, beyond the state provider's own
/// counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockCounters {
    /// Block messages received by push.
    pub pushed_in: u64,
    /// Blocks received by pull and taken.
    pub pulled_in: u64,
    /// Blocks the block store already held (or had just evicted as older): dropped.
    pub duplicate: u64,
    /// Blocks failing verification: dropped, never stored, committed or forwarded.
    pub invalid: u64,
    /// Blocks too far above the ledger height: dropped, pulled later.
    pub too_far_ahead: u64,
    /// Blocks beyond the state provider's window kept (verified, stored and forwarded) until
    /// the ledger height reaches them.
    pub held_ahead: u64,
    /// Block messages without payload, or whose sender's org may not send them.
    pub refused: u64,
    /// Blocks older than the block store's window that the state provider still missed:
    /// committed, not forwarded.
    pub late: u64,
    /// Blocks handed to push (new blocks from the host and by push).
    pub forwarded: u64,
    /// Commits the ledger refused (each is retried).
    pub commit_errors: u64,
}

/// The block counters of one channel together with its state provider's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelBlockStats {
    pub height: u64,
    /// Payloads held in the state provider's buffer, waiting for their turn to commit.
    pub buffered: u64,
    /// How long each ledger commit took (one commit is a batch of consecutive blocks).
    pub commit_duration: DurationHistogram,
    pub blocks: BlockCounters,
    pub state: StateCounters,
    pub transfer: TransferCounters,
    /// What opening the ledger repaired, by kind (`Recovery::kinds`; empty: nothing).
    pub ledger_repairs: Vec<&'static str>,
    /// Commits of blocks with private data.
    pub privdata: PvtCommitMetrics,
}

/// The private data side of commits (Fabric's `gossip_privdata_*` durations).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PvtCommitMetrics {
    /// Fetching a block's private data from other peers (blocks that fetched).
    pub fetch_duration: DurationHistogram,
    /// A block with private data from the start of its preparation to its commit.
    pub commit_block_duration: DurationHistogram,
    /// Purging the transient store of a committed batch's transactions.
    pub purge_duration: DurationHistogram,
    /// Digests committed as missing (eligible or not).
    pub missing: u64,
}

/// A block that is new to this peer and passed verification.
pub(super) struct NewBlock {
    pub msg: SignedGossipMessage,
}

pub(super) struct ChannelBlocks {
    name: String,
    provider: StateProvider,
    store: MessageStore<SignedGossipMessage, GossipComparator>,
    pull: PullEngine,
    verifier: Arc<dyn BlockVerifier>,
    state_cfg: StateProviderConfig,
    /// Committed blocks pull keeps offering (see [`PULL_KEEP`]).
    pull_keep: u64,
    /// Anti-entropy state transfer (asking; serving is the driver's).
    pub transfer: StateTransfer,
    /// Serving counters updated off the owner task.
    pub serving: Arc<ServeStats>,
    pub ledger: Arc<Mutex<Box<dyn Ledger>>>,
    pub counters: BlockCounters,
    pub commit_duration: DurationHistogram,
    pub privdata: PvtCommitMetrics,
    /// Verified gossip blocks beyond the state provider's window, by seq (see [`AHEAD_KEEP`]).
    ahead: std::collections::BTreeMap<u64, VerifiedPayload>,
    /// What opening the ledger repaired (see [`ChannelBlockStats::ledger_repairs`]).
    ledger_repairs: Vec<&'static str>,
    /// Joined with a config block: committed config blocks reconfigure the channel.
    pub config_from_blocks: bool,
}

/// What serving state requests did, counted by the blocking tasks that read the ledger.
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Requests being served now (bounded by the driver).
    pub in_progress: std::sync::atomic::AtomicUsize,
    pub blocks_served: std::sync::atomic::AtomicU64,
    pub read_errors: std::sync::atomic::AtomicU64,
}

impl ChannelBlocks {
    /// Opens the channel's ledger through `ledgers` (blocking I/O or a host callback: a
    /// join is a rare host call); the state provider starts at the ledger's height.
    pub fn open(
        name: &str,
        ledgers: &dyn LedgerProvider,
        g: &GossipConfig,
        verifier: Arc<dyn BlockVerifier>,
        now: Instant,
        seed: u64,
    ) -> Result<Self, String> {
        let ledger = ledgers
            .open(name)
            .map_err(|e| format!("{} ledger of channel {name:?}: {e}", ledgers.kind()))?;
        let height = ledger.height();
        let ledger_repairs = ledger
            .repaired_on_open()
            .map(|r| r.kinds())
            .unwrap_or_default();
        let tip = match height.checked_sub(1) {
            Some(last) => match ledger.get_blocks(last, last) {
                Ok(mut b) => b.pop().and_then(|b| {
                    crate::ledger::chain::block_header(&b)
                        .ok()
                        .map(|h| (last, crate::crypto::block::block_header_hash(&h)))
                }),
                Err(e) => {
                    tracing::warn!(channel = name, "last block unreadable at open: {e}");
                    None
                }
            },
            None => None,
        };
        tracing::info!(
            channel = name,
            ledger = ledgers.kind(),
            height,
            "channel ledger opened"
        );
        let pull = PullEngine::new(PullConfig::blocks(name.as_bytes(), g), now, seed)
            .map_err(|e| format!("block pull config: {e}"))?;
        let state_cfg = StateProviderConfig::from_gossip(g);
        let transfer_cfg = TransferConfig::from_gossip(g);
        let pull_keep = if transfer_cfg.enabled {
            g.max_block_count_to_store.max(1)
        } else {
            PULL_KEEP
        };
        let mut provider = StateProvider::new(name, height, state_cfg.clone(), verifier.clone());
        if let Some((last, hash)) = tip {
            provider.set_tip(last, hash);
        }
        Ok(ChannelBlocks {
            name: name.to_string(),
            provider,
            state_cfg,
            pull_keep,
            transfer: StateTransfer::new(name, height, transfer_cfg, seed ^ 0x5747_4154),
            serving: Arc::default(),
            store: MessageStore::new(GossipComparator::new(g.max_block_count_to_store)),
            pull,
            verifier,
            ledger: Arc::new(Mutex::new(ledger)),
            counters: BlockCounters::default(),
            commit_duration: DurationHistogram::default(),
            privdata: PvtCommitMetrics::default(),
            ahead: std::collections::BTreeMap::new(),
            ledger_repairs,
            config_from_blocks: false,
        })
    }

    pub fn height(&self) -> u64 {
        self.provider.height()
    }

    pub fn stats(&self) -> ChannelBlockStats {
        ChannelBlockStats {
            height: self.provider.height(),
            buffered: self.provider.buffered() as u64,
            commit_duration: self.commit_duration.clone(),
            blocks: self.counters.clone(),
            state: self.provider.counters().clone(),
            transfer: {
                use std::sync::atomic::Ordering::Relaxed;
                let mut t = self.transfer.counters().clone();
                t.blocks_served = self.serving.blocks_served.load(Relaxed);
                t.read_errors = self.serving.read_errors.load(Relaxed);
                t
            },
            ledger_repairs: self.ledger_repairs.clone(),
            privdata: self.privdata.clone(),
        }
    }

    /// The earliest instant at which a timer of this channel is due.
    pub fn next_deadline(&self) -> Instant {
        let d = self.pull.next_deadline();
        let d = self.provider.next_deadline().map_or(d, |p| p.min(d));
        self.transfer.next_deadline().map_or(d, |t| t.min(d))
    }

    /// Takes a block from the host, by push or by pull. Returns the block when it is new
    /// to this peer (to push, except pulled ones); the state provider's commits and gap
    /// reports go to `out`. `Ok(None)`: a duplicate.
    pub fn accept(
        &mut self,
        now: Instant,
        msg: SignedGossipMessage,
        source: Source,
        pulled: bool,
        out: &mut Vec<state::Output>,
    ) -> Result<Option<NewBlock>, Rejected> {
        self.accept_checked(now, msg, source, pulled, None, out)
    }

    /// A block from the delivery service, as [`accept`](Self::accept) from the
    /// deliverer; `verified` (the service's own `VerifyBlock` of these very bytes for this
    /// channel) spares a second verification.
    pub fn accept_delivered(
        &mut self,
        now: Instant,
        msg: SignedGossipMessage,
        verified: Option<VerifiedPayload>,
        out: &mut Vec<state::Output>,
    ) -> Result<Option<NewBlock>, Rejected> {
        self.accept_checked(now, msg, Source::Deliverer, false, verified, out)
    }

    fn accept_checked(
        &mut self,
        now: Instant,
        msg: SignedGossipMessage,
        source: Source,
        pulled: bool,
        verified: Option<VerifiedPayload>,
        out: &mut Vec<state::Output>,
    ) -> Result<Option<NewBlock>, Rejected> {
        let Some(Content::DataMsg(data)) = &msg.msg.content else {
            self.counters.refused += 1;
            return Ok(None);
        };
        let Some(p) = &data.payload else {
            self.counters.refused += 1;
            return Ok(None);
        };
        let seq = p.seq_num;
        // Fabric's store refuses a block older than its window as stale; the state provider
        // may still miss it (pushes arrive out of order), so it is taken for commit then,
        // though not forwarded.
        let height = self.provider.height();
        let window = self.state_cfg.window(source);
        // Gossip blocks beyond the buffer are held (up to AHEAD_KEEP more); a host's or the
        // orderer's are refused, and their source offers them again later.
        let beyond = seq >= height && seq - height >= window;
        let hold = beyond
            && source == Source::Gossip
            && seq - height < window + AHEAD_KEEP
            && (self.ahead.len() as u64) < AHEAD_KEEP;
        if beyond && !hold {
            // Refused before verification: no CPU on blocks we cannot keep; not stored, so
            // a later pull round asks for it again.
            self.counters.too_far_ahead += 1;
            return Err(Rejected::TooFarAhead {
                seq,
                height,
                window,
            });
        }
        let new_to_store = self.store.check_valid(&msg);
        let wanted = self.provider.wants(seq, source);
        // A held block is never wanted by the provider (it is beyond its window), so a held
        // one the store has evicted since is caught here, before a second verification.
        if (!new_to_store && !wanted) || (hold && self.ahead.contains_key(&seq)) {
            self.counters.duplicate += 1;
            return Ok(None);
        }
        let pre = verified.filter(|v| {
            v.channel() == self.name && v.payload().seq == seq && *v.payload().block == *p.data
        });
        let checked = match pre {
            Some(v) => Ok(v),
            None => {
                let payload = Payload::new(seq, p.data.clone(), Vec::new(), source);
                VerifiedPayload::verify(&*self.verifier, &self.name, payload)
            }
        };
        let verified = match checked {
            Ok(v) => v,
            Err((_, error)) => {
                self.counters.invalid += 1;
                tracing::warn!(channel = %self.name, seq, %error, "dropping a block that fails verification");
                return Err(Rejected::Invalid { seq, error });
            }
        };
        if hold {
            self.ahead.insert(seq, verified);
            self.counters.held_ahead += 1;
        } else if seq >= self.provider.height() {
            // Blocks below the height were committed: known, but still new to the store.
            match self.provider.add_verified(now, verified, out) {
                Ok(()) | Err(Rejected::Duplicate { .. }) | Err(Rejected::Old { .. }) => {}
                Err(e @ Rejected::TooFarAhead { .. }) => {
                    // Not stored, so a later pull round asks for it again.
                    self.counters.too_far_ahead += 1;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        if pulled {
            self.counters.pulled_in += 1;
        }
        if !new_to_store {
            self.counters.late += 1;
            return Ok(None);
        }
        self.store.add(now, msg.clone());
        // Evicted blocks stay offered by pull until `prune_pull` drops them.
        self.store.drain_events();
        if !pulled {
            self.pull.add_item(block_digest(seq), msg.envelope.clone());
        }
        Ok(Some(NewBlock { msg }))
    }

    /// Drops from the pull engine the blocks more than `pull_keep` below the ledger height.
    pub fn prune_pull(&mut self) {
        let Some(floor) = self.provider.height().checked_sub(self.pull_keep) else {
            return;
        };
        let old: Vec<Digest> = self
            .pull
            .digests()
            .filter(|d| parse_block_digest(d).is_some_and(|seq| seq < floor))
            .cloned()
            .collect();
        for d in old {
            self.pull.remove_item(&d);
        }
    }

    /// A state response from `from` (access checked) for our request `nonce`: payloads go
    /// to the state provider (verified there); the state provider's outputs go to `out`.
    pub fn transfer_response(
        &mut self,
        now: Instant,
        from: &PkiId,
        nonce: u64,
        payloads: Vec<Payload>,
        out: &mut Vec<state::Output>,
    ) -> Vec<StateRequest> {
        let provider = &mut self.provider;
        self.transfer.on_response(now, from, nonce, payloads, |p| {
            provider.add_payload(now, p, out)
        })
    }

    /// As [`transfer_response`](Self::transfer_response) for payloads verified off the
    /// owner task (`state::check_response`).
    pub fn transfer_response_checked(
        &mut self,
        now: Instant,
        from: &PkiId,
        nonce: u64,
        payloads: Vec<state::CheckedPayload>,
        out: &mut Vec<state::Output>,
    ) -> Vec<StateRequest> {
        let provider = &mut self.provider;
        self.transfer.on_response_with(
            now,
            from,
            nonce,
            payloads,
            state::CheckedPayload::seq,
            |p| provider.add_checked(now, p, out),
        )
    }

    /// Feeds a commit report or a tick to the state provider, then hands it the held blocks
    /// its window reaches now.
    pub fn state_input(&mut self, now: Instant, input: state::Input) -> Vec<state::Output> {
        if matches!(
            input,
            state::Input::CommitFailed { .. } | state::Input::CommitRefused { .. }
        ) {
            self.counters.commit_errors += 1;
        }
        let mut out = self.provider.handle(now, input);
        self.release_ahead(now, &mut out);
        out
    }

    /// Moves held blocks inside the state provider's window into it; drops the ones the
    /// ledger passed meanwhile (committed from another source).
    fn release_ahead(&mut self, now: Instant, out: &mut Vec<state::Output>) {
        let window_end = self
            .provider
            .height()
            .saturating_add(self.state_cfg.window(Source::Gossip));
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() >= window_end {
                break;
            }
            let verified = entry.remove();
            if verified.payload().seq >= self.provider.height() {
                // Duplicates (held also by the buffer) and old seqs are refused harmlessly.
                let _ = self.provider.add_verified(now, verified, out);
            }
        }
    }

    /// Runs the pull engine on `input`; `peers` are the candidates of a due round.
    pub fn pull_input(
        &mut self,
        now: Instant,
        input: crate::pull::Input,
    ) -> Vec<crate::pull::Output> {
        let mut policy = BlockPullPolicy {
            channel: &self.name,
            provider: &self.provider,
            verifier: &*self.verifier,
        };
        self.pull.handle(now, input, &mut policy)
    }

    pub fn pull_round_due(&self, now: Instant) -> bool {
        self.pull.round_due(now)
    }

    /// The gap `from..=to` as pull digests (bounded, a gap is at most a buffer wide).
    pub fn gap_digests(from: u64, to: u64) -> Vec<Digest> {
        (from..=to).take(1024).map(block_digest).collect()
    }

    /// A pulled item the engine validated but the store refused: the engine lets it go.
    pub fn forget_pulled(&mut self, digest: &[u8]) {
        self.pull.remove_item(digest);
    }
}

/// The block pull's filters: digests are wanted while the state provider would take them;
/// pulled blocks must be of this channel and pass `VerifyBlock`.
struct BlockPullPolicy<'a> {
    channel: &'a str,
    provider: &'a StateProvider,
    verifier: &'a dyn BlockVerifier,
}

impl PullPolicy for BlockPullPolicy<'_> {
    fn ingress(&self, digest: &[u8]) -> bool {
        parse_block_digest(digest).is_some_and(|seq| self.provider.wants(seq, Source::Gossip))
    }

    fn digest_of(&self, item: &Envelope) -> Option<Digest> {
        block_envelope_digest(item)
    }

    fn validate(&mut self, _from: &PkiId, digest: &[u8], item: &Envelope) -> Result<(), String> {
        let msg = GossipMessage::decode(item.payload.clone()).map_err(|e| e.to_string())?;
        if msg.channel != self.channel.as_bytes() {
            return Err("block of another channel".into());
        }
        let Some(Content::DataMsg(data)) = msg.content else {
            return Err("not a block message".into());
        };
        let p = data.payload.ok_or("block message without payload")?;
        if parse_block_digest(digest) != Some(p.seq_num) {
            return Err(format!("digest does not name block {}", p.seq_num));
        }
        self.verifier
            .verify_block(self.channel, p.seq_num, &p.data)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use prost::Message;

    use super::*;
    use crate::crypto::CryptoError;
    use crate::ledger::{FileLedgerOptions, FileLedgerProvider};
    use crate::message::data_msg;

    /// Accepts every block and counts the calls.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl BlockVerifier for Counting {
        fn verify_block(&self, _: &str, _: u64, _: &[u8]) -> Result<(), CryptoError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// Channel `ch` over a fresh file ledger in a directory named after `test` (the caller
    /// removes it).
    fn channel(test: &str, verifier: Arc<Counting>) -> (std::path::PathBuf, ChannelBlocks) {
        let dir = std::env::temp_dir().join(format!("fg-node-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ledgers = FileLedgerProvider::new(
            &dir,
            FileLedgerOptions {
                fsync: false,
                ..Default::default()
            },
        );
        let g = GossipConfig::default();
        let b = ChannelBlocks::open("ch", &ledgers, &g, verifier, Instant::now(), 1).unwrap();
        (dir, b)
    }

    fn block(seq: u64) -> Vec<u8> {
        crate::ledger::chain::linked_blocks(seq + 1, |n| vec![vec![n as u8; 32]])
            .pop()
            .unwrap()
            .encode_to_vec()
    }

    fn msg(seq: u64, bytes: &[u8]) -> SignedGossipMessage {
        SignedGossipMessage::unsigned(data_msg(b"ch", seq, bytes.to_vec()))
    }

    #[test]
    fn a_block_the_delivery_service_verified_is_not_verified_again() {
        let counting = Arc::new(Counting::default());
        let (dir, mut b) = channel("verified", counting.clone());
        let now = Instant::now();
        let mut out = Vec::new();

        // What the delivery service hands over: its own verification of `bytes`.
        let by_service = |channel: &str, seq: u64, bytes: Vec<u8>| {
            let payload = Payload::new(seq, bytes, Vec::new(), Source::Deliverer);
            VerifiedPayload::verify(&*counting, channel, payload).unwrap()
        };

        // Verified by the service for these bytes and this channel: taken as it is.
        let b0 = block(0);
        let pre = by_service("ch", 0, b0.clone());
        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
        let taken = b.accept_delivered(now, msg(0, &b0), Some(pre), &mut out);
        assert!(matches!(taken, Ok(Some(_))));
        assert_eq!(
            counting.0.load(Ordering::SeqCst),
            1,
            "no second VerifyBlock"
        );

        // A verification of other bytes, or of another channel, does not count.
        let (b1, other) = (block(1), block(7));
        let wrong_bytes = by_service("ch", 1, other);
        b.accept_delivered(now, msg(1, &b1), Some(wrong_bytes), &mut out)
            .unwrap();
        assert_eq!(counting.0.load(Ordering::SeqCst), 3, "verified here");
        let b2 = block(2);
        let wrong_channel = by_service("other", 2, b2.clone());
        b.accept_delivered(now, msg(2, &b2), Some(wrong_channel), &mut out)
            .unwrap();
        assert_eq!(counting.0.load(Ordering::SeqCst), 5, "verified here");

        // Without one (a host-supplied service), the block is verified here.
        let b3 = block(3);
        b.accept_delivered(now, msg(3, &b3), None, &mut out)
            .unwrap();
        assert_eq!(counting.0.load(Ordering::SeqCst), 6);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Offers block `seq` (by push, as `source` sends it).
    fn offer(
        b: &mut ChannelBlocks,
        seq: u64,
        source: Source,
        out: &mut Vec<state::Output>,
    ) -> Result<Option<NewBlock>, Rejected> {
        b.accept(Instant::now(), msg(seq, &block(seq)), source, false, out)
    }

    /// Commits every batch in `out` (and the ones those commits release) to the channel's
    /// ledger, as the driver's blocking jobs do.
    fn commit_all(b: &mut ChannelBlocks, now: Instant, mut out: Vec<state::Output>) {
        while let Some(o) = out.pop() {
            if let state::Output::Commit(batch) = o {
                let report = {
                    let mut ledger = b.ledger.lock().unwrap();
                    state::commit_batch(&mut **ledger, &batch)
                };
                out.extend(b.state_input(now, report));
            }
        }
    }

    #[test]
    fn gossip_blocks_beyond_the_buffer_are_held_forwarded_and_committed_later() {
        let (dir, mut b) = channel("ahead", Arc::new(Counting::default()));
        let now = Instant::now();
        let window = b.state_cfg.window(Source::Gossip);
        let mut out = Vec::new();
        b.accept(now, msg(0, &block(0)), Source::Gossip, false, &mut out)
            .unwrap();
        commit_all(&mut b, now, std::mem::take(&mut out));
        assert_eq!(b.height(), 1);

        // Block 1 is missing; 2 ..= window + 5 arrive. Those beyond the buffer are still
        // new blocks: stored and handed back for push.
        let last = window + 5;
        for seq in 2..=last {
            let new = offer(&mut b, seq, Source::Gossip, &mut out);
            assert!(matches!(new, Ok(Some(_))), "seq {seq}");
        }
        assert_eq!(b.counters.held_ahead, last - window);
        assert_eq!(b.counters.too_far_ahead, 0);
        // A second copy of a held block is a duplicate, not forwarded again.
        let again = offer(&mut b, last, Source::Gossip, &mut out);
        assert!(matches!(again, Ok(None)));
        commit_all(&mut b, now, std::mem::take(&mut out));
        assert_eq!(b.height(), 1, "nothing commits across the gap");

        // The gap is filled: the buffered blocks commit, then the held ones, in order.
        b.accept(now, msg(1, &block(1)), Source::Gossip, true, &mut out)
            .unwrap();
        commit_all(&mut b, now, std::mem::take(&mut out));
        assert_eq!(b.height(), last + 1);
        let stored = b.ledger.lock().unwrap().get_blocks(0, last).unwrap();
        let want: Vec<Vec<u8>> = (0..=last).map(block).collect();
        assert!(stored == want, "the ledger holds 0..={last} in order");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn blocks_beyond_what_may_be_held_are_refused_unverified() {
        let counting = Arc::new(Counting::default());
        let (dir, mut b) = channel("far-ahead", counting.clone());
        let mut out = Vec::new();
        let window = b.state_cfg.window(Source::Gossip);
        let far = window + AHEAD_KEEP;
        let r = offer(&mut b, far, Source::Gossip, &mut out);
        assert!(matches!(r, Err(Rejected::TooFarAhead { .. })));
        // The host's and the orderer's blocks are not held: their source offers them again.
        let host = window * 2;
        let r = offer(&mut b, host, Source::Deliverer, &mut out);
        assert!(matches!(r, Err(Rejected::TooFarAhead { .. })));
        assert_eq!(counting.0.load(Ordering::SeqCst), 0, "no VerifyBlock spent");
        assert_eq!(b.counters.too_far_ahead, 2);
        assert_eq!(b.counters.held_ahead, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
