//! Settings of the state provider.

use std::time::Duration;

use crate::config::GossipConfig;

/// How the state provider buffers, retries commits and asks for missing blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct StateProviderConfig {
    /// `peer.gossip.state.blockBufferSize` (default 20). A gossiped payload is accepted only
    /// when `seq − height < block_buffer_size`, as in Fabric; payloads from the deliverer
    /// and from state transfer (for which Fabric blocks the caller instead) get twice that.
    /// So at most `2 × block_buffer_size` payloads are ever buffered. 0 is read as 1.
    pub block_buffer_size: u64,
    /// How long a hole must stay open before it is reported as [`Output::PullGap`]
    /// (default 0: at once, the point of the gap detection). Raise it to ignore the
    /// ordinary reordering of pushed blocks.
    ///
    /// [`Output::PullGap`]: super::Output::PullGap
    pub gap_grace: Duration,
    /// A reported gap is reported again, if still open, after this long (default 2 s: one
    /// pull round trip with Fabric's digest and request windows).
    pub gap_retry_interval: Duration,
    /// First wait before a failed commit is retried (default 100 ms); it doubles per
    /// failure up to `commit_retry_max` (default 5 s).
    pub commit_retry_initial: Duration,
    pub commit_retry_max: Duration,
    /// Most blocks handed out in one commit batch (default 64): consecutive buffered blocks
    /// are committed with one ledger call, so the per-commit costs (a blocking-thread job,
    /// a report to the owner task, the file ledger's fdatasync) are paid once per run.
    /// 0 is read as 1.
    pub commit_batch_max_blocks: usize,
    /// Most block and private-data bytes in one commit batch (default 16 MiB); a single
    /// larger block still makes a batch of its own.
    pub commit_batch_max_bytes: usize,
}

impl Default for StateProviderConfig {
    fn default() -> Self {
        StateProviderConfig {
            block_buffer_size: 20,
            gap_grace: Duration::ZERO,
            gap_retry_interval: Duration::from_secs(2),
            commit_retry_initial: Duration::from_millis(100),
            commit_retry_max: Duration::from_secs(5),
            commit_batch_max_blocks: 64,
            commit_batch_max_bytes: 16 << 20,
        }
    }
}

impl StateProviderConfig {
    /// The defaults with `peer.gossip.state.blockBufferSize` taken from the peer's config.
    pub fn from_gossip(cfg: &GossipConfig) -> Self {
        StateProviderConfig {
            block_buffer_size: cfg.state.block_buffer_size,
            ..Default::default()
        }
    }

    /// How far ahead of the ledger height a payload from `source` may be.
    pub(crate) fn window(&self, source: super::Source) -> u64 {
        let base = self.block_buffer_size.max(1);
        match source {
            super::Source::Gossip => base,
            super::Source::Deliverer | super::Source::StateTransfer => base.saturating_mul(2),
        }
    }

    /// Wait before retry number `failures` (1 = after the first failure).
    pub(crate) fn commit_backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(20);
        self.commit_retry_initial
            .saturating_mul(1u32 << shift)
            .min(self.commit_retry_max)
    }
}
