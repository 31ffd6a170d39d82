//! How many peers a block is pushed to: Fabric's fixed fan-out or the adaptive one.
//!
//! Fabric pushes each block to `propagatePeerNum` (3) random peers and forwards it once, on
//! first receipt. In such infect-and-die gossip a peer is missed by all of the ~n forwarders
//! with probability ≈ e^(−fanout): about 5–6 % of peers at fan-out 3, whatever n is; they
//! wait for the next pull round (4 s).
//!
//! The adaptive policy (DESIGN.md principle 3) uses the same message, forwarded on first
//! receipt, with:
//! - a wide first hop: the peer that adds the block (from its host or its orderer) pushes it
//!   to `max(propagatePeerNum, ⌈ln n⌉ + 2)` peers, n the channel view (eligible peers of my
//!   org in the channel);
//! - relays keep Fabric's `propagatePeerNum`, so a block costs about as many messages as in
//!   Fabric (each one a full block: per-copy cost is what limits CPU per block);
//! - one target of every push is not random: it is the ring successor, the eligible peer
//!   with the next larger PKI-ID (wrapping around). Every reached peer sends to its
//!   successor (or got the block from it), so with consistent views the ring alone reaches
//!   every peer and the few the random part misses are picked up a few hops later;
//! - no burst window: every message is routed and sent on its own anyway, so holding it for
//!   `maxPropagationBurstLatency` saves nothing and adds up to 10 ms at every hop.
//!
//! The simulation in `push::sim` (1000 peers of one org and channel, forward on first
//! receipt, 1–5 ms per message; `cargo test --release --lib push::sim -- --nocapture`)
//! measures, over 3 seeds × 8 blocks:
//!
//! | rule                                 | reached  | hops max / mean | messages/peer/block | last peer |
//! |--------------------------------------|----------|-----------------|---------------------|-----------|
//! | Fabric, fan-out 3                    | 93.8–94.8 % | 13 / 6.5     | 2.8                 | 31–36 ms  |
//! | random fan-out 9, no ring            | 99.98–100 %, 22 of 24 blocks complete | 8–9 / 4.0 | 9.0 | ~14 ms |
//! | adaptive (origin ⌈ln n⌉ + 2, relays 3, ring) | 100 % | 11–13 / 5.5 | 3.0                 | 30–33 ms  |
//!
//! So the ring successor turns Fabric's message budget into full coverage: every peer gets
//! every block by push, none waits for the 4 s pull. A wider relay fan-out buys fewer hops
//! (fan-out 9: 14 ms instead of 31 ms at 1000 peers) at three times the copies, which on a
//! real host costs more CPU per block than the hops cost latency. Pull stays the safety net
//! for peers whose views disagree or whose links fail.

/// Which block fan-out rule push follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushPolicy {
    /// Fabric's behaviour: blocks go to `propagatePeerNum` random eligible peers.
    Fabric,
    /// Fan-out from the view size plus the ring successor (see the module docs).
    #[default]
    Adaptive,
}

impl From<crate::config::PushPolicyConfig> for PushPolicy {
    fn from(c: crate::config::PushPolicyConfig) -> PushPolicy {
        match c {
            crate::config::PushPolicyConfig::Fabric => PushPolicy::Fabric,
            crate::config::PushPolicyConfig::Adaptive => PushPolicy::Adaptive,
        }
    }
}

/// What the adaptive rule adds to ⌈ln n⌉.
pub const ADAPTIVE_EXTRA: usize = 2;

impl PushPolicy {
    /// The number of peers a block goes to when `view` eligible peers are known (before the
    /// sender is excluded). Never more than `view`. `relayed`: the block came from another
    /// peer and is forwarded on, rather than pushed by the peer that added it.
    pub fn block_fanout(self, propagate_peer_num: usize, view: usize, relayed: bool) -> usize {
        let f = match self {
            PushPolicy::Fabric => propagate_peer_num,
            // The origin's wide first hop already reached ⌈ln n⌉ + 2 peers; relays keep
            // Fabric's fan-out (one target the ring successor).
            PushPolicy::Adaptive if relayed => propagate_peer_num,
            PushPolicy::Adaptive => {
                let ln = if view <= 1 {
                    0
                } else {
                    (view as f64).ln().ceil() as usize
                };
                propagate_peer_num.max(ln + ADAPTIVE_EXTRA)
            }
        };
        f.min(view)
    }

    /// Whether one block target is the ring successor rather than a random peer.
    pub fn uses_ring_successor(self) -> bool {
        matches!(self, PushPolicy::Adaptive)
    }

    /// Whether the emitter holds messages for a burst window (Fabric) or sends each at once.
    /// Every queued message is routed and sent on its own either way, so holding it saves
    /// no message and only adds up to `maxPropagationBurstLatency` at every hop.
    pub fn batches(self) -> bool {
        matches!(self, PushPolicy::Fabric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fabric_fanout_is_propagate_peer_num() {
        assert_eq!(PushPolicy::Fabric.block_fanout(3, 1000, false), 3);
        assert_eq!(PushPolicy::Fabric.block_fanout(3, 1000, true), 3);
        assert_eq!(PushPolicy::Fabric.block_fanout(3, 2, false), 2);
        assert!(!PushPolicy::Fabric.uses_ring_successor());
    }

    #[test]
    fn adaptive_fanout_grows_with_the_log_of_the_view() {
        // ⌈ln 1000⌉ = 7, + 2.
        assert_eq!(PushPolicy::Adaptive.block_fanout(3, 1000, false), 9);
        // ⌈ln 10⌉ = 3, + 2.
        assert_eq!(PushPolicy::Adaptive.block_fanout(3, 10, false), 5);
        // Never below propagatePeerNum, never above the view.
        assert_eq!(PushPolicy::Adaptive.block_fanout(12, 1000, false), 12);
        assert_eq!(PushPolicy::Adaptive.block_fanout(3, 4, false), 4);
        assert_eq!(PushPolicy::Adaptive.block_fanout(3, 0, false), 0);
        // Relays keep propagatePeerNum.
        assert_eq!(PushPolicy::Adaptive.block_fanout(3, 1000, true), 3);
        assert_eq!(PushPolicy::Adaptive.block_fanout(3, 2, true), 2);
        assert!(PushPolicy::Adaptive.uses_ring_successor());
    }
}
