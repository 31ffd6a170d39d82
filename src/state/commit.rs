//! A commit batch (a run of consecutive verified blocks) and carrying it out on a
//! [`Ledger`] with one [`Ledger::commit_batch`] call, for drivers that commit
//! synchronously (on a blocking thread: the embedded ledger, or a host ledger).

use std::ops::Range;

use super::events::Input;
use super::payload::Payload;
use crate::ledger::{BlockToCommit, Ledger, LedgerError};

/// Consecutive payloads from `first` on, handed out by the state provider as one
/// [`Output::Commit`](super::Output::Commit). Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitBatch {
    payloads: Vec<Payload>,
}

impl CommitBatch {
    /// `None` unless `payloads` is non-empty and numbered consecutively.
    pub fn new(payloads: Vec<Payload>) -> Option<CommitBatch> {
        let first = payloads.first()?.seq;
        let consecutive = payloads
            .iter()
            .enumerate()
            .all(|(i, p)| first.checked_add(i as u64) == Some(p.seq));
        consecutive.then_some(CommitBatch { payloads })
    }

    /// The number of the first block.
    pub fn first(&self) -> u64 {
        self.payloads[0].seq
    }

    /// One past the number of the last block (the ledger height once all are committed).
    /// Saturates at `u64::MAX`, the one block number no height can exceed.
    pub fn end(&self) -> u64 {
        self.first().saturating_add(self.payloads.len() as u64)
    }

    pub fn seqs(&self) -> Range<u64> {
        self.first()..self.end()
    }

    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    pub fn payloads(&self) -> &[Payload] {
        &self.payloads
    }

    pub fn into_payloads(self) -> Vec<Payload> {
        self.payloads
    }
}

/// Commits `batch` to `ledger` and returns the one report to feed back to the machine:
/// `Committed` with the new height, or `CommitFailed` with the height reached and the
/// ledger's reason. Blocks the ledger already holds (committed by other means, or by an
/// earlier job for the same blocks) are skipped, never committed twice.
pub fn commit_batch(ledger: &mut dyn Ledger, batch: &CommitBatch) -> Input {
    let first = batch.first();
    let height = ledger.height();
    if height < first {
        // The ledger lost blocks the machine saw committed; retrying keeps this visible.
        return Input::CommitFailed {
            first,
            height,
            error: format!("ledger height {height} is below block {first}"),
        };
    }
    let skip = (height - first).min(batch.len() as u64) as usize;
    let blocks: Vec<BlockToCommit<'_>> = batch.payloads[skip..]
        .iter()
        .map(|p| BlockToCommit {
            block: &p.block,
            private_data: &p.private_data,
        })
        .collect();
    if blocks.is_empty() {
        return Input::Committed { first, height };
    }
    match ledger.commit_batch(&blocks) {
        Ok(()) => Input::Committed {
            first,
            height: height + blocks.len() as u64,
        },
        Err(e) if matches!(e.error, LedgerError::BrokenChain { .. }) => Input::CommitRefused {
            first,
            height: height + e.committed as u64,
            error: e.error.to_string(),
        },
        Err(e) => Input::CommitFailed {
            first,
            height: height + e.committed as u64,
            error: e.error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::ledger::{FileLedger, FileLedgerOptions};

    use crate::state::Source;

    fn block(n: u64) -> Vec<u8> {
        crate::ledger::chain::linked_blocks(n + 1, |i| vec![format!("tx {i}").into_bytes()])
            .pop()
            .unwrap()
            .encode_to_vec()
    }

    fn batch(seqs: std::ops::Range<u64>, bytes: impl Fn(u64) -> Vec<u8>) -> CommitBatch {
        let payloads = seqs
            .map(|n| Payload::new(n, bytes(n), vec![], Source::StateTransfer))
            .collect();
        CommitBatch::new(payloads).unwrap()
    }

    #[test]
    fn batches_must_be_consecutive_and_non_empty() {
        let p = |n| Payload::new(n, vec![1u8], vec![], Source::Gossip);
        assert!(CommitBatch::new(vec![]).is_none());
        assert!(CommitBatch::new(vec![p(1), p(3)]).is_none());
        assert!(CommitBatch::new(vec![p(2), p(1)]).is_none());
        assert!(CommitBatch::new(vec![p(u64::MAX), p(0)]).is_none());
        let b = CommitBatch::new(vec![p(4), p(5), p(6)]).unwrap();
        assert_eq!((b.first(), b.end(), b.len()), (4, 7, 3));
        assert_eq!(b.seqs(), 4..7);
        let top = CommitBatch::new(vec![p(u64::MAX)]).unwrap();
        assert_eq!(top.end(), u64::MAX);
    }

    #[test]
    fn reports_match_what_the_ledger_did() {
        let dir =
            std::env::temp_dir().join(format!("fabgossip-state-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut l = FileLedger::open_with(
            &dir,
            "ch",
            FileLedgerOptions {
                fsync: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            commit_batch(&mut l, &batch(0..3, block)),
            Input::Committed {
                first: 0,
                height: 3
            }
        );
        // Again: the ledger has it all; nothing is written twice.
        assert_eq!(
            commit_batch(&mut l, &batch(0..3, block)),
            Input::Committed {
                first: 0,
                height: 3
            }
        );
        // Overlapping the ledger: only the blocks above its height are committed.
        assert_eq!(
            commit_batch(&mut l, &batch(2..5, block)),
            Input::Committed {
                first: 2,
                height: 5
            }
        );
        match commit_batch(&mut l, &batch(7..9, block)) {
            Input::CommitFailed {
                first: 7,
                height: 5,
                error,
            } => assert!(error.contains("below block 7"), "{error}"),
            other => panic!("unexpected {other:?}"),
        }
        // Block 6 carries another number: 5 is committed, 6 and 7 are not.
        let forged = |n| if n == 6 { block(0) } else { block(n) };
        match commit_batch(&mut l, &batch(5..8, forged)) {
            Input::CommitFailed {
                first: 5,
                height: 6,
                error,
            } => assert!(error.contains("expects 6"), "{error}"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(l.height(), 6);
        // The retry from the new height completes the run.
        assert_eq!(
            commit_batch(&mut l, &batch(6..8, block)),
            Input::Committed {
                first: 6,
                height: 8
            }
        );
        assert_eq!(
            l.get_blocks(0, 7).unwrap(),
            (0..8).map(block).collect::<Vec<_>>()
        );
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Takes every block, so that only the chain decides.
    struct AcceptAll;

    impl crate::state::BlockVerifier for AcceptAll {
        fn verify_block(
            &self,
            _: &str,
            _: u64,
            _: &[u8],
        ) -> Result<(), crate::crypto::CryptoError> {
            Ok(())
        }
    }

    /// Carries out the machine's commits on `l` until none is pending.
    fn drive(
        sp: &mut crate::state::StateProvider,
        l: &mut FileLedger,
        now: std::time::Instant,
        mut out: Vec<crate::state::Output>,
    ) {
        while let Some(batch) = out.iter().find_map(|o| match o {
            crate::state::Output::Commit(b) => Some(b.clone()),
            _ => None,
        }) {
            let report = commit_batch(l, &batch);
            out = sp.handle(now, report);
        }
    }

    #[test]
    fn a_block_that_does_not_chain_is_refused_at_intake_and_dropped_at_commit() {
        use crate::state::{Rejected, StateProvider, StateProviderConfig};
        let dir =
            std::env::temp_dir().join(format!("fabgossip-state-chain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut l = FileLedger::open_with(
            &dir,
            "ch",
            FileLedgerOptions {
                fsync: false,
                ..Default::default()
            },
        )
        .unwrap();
        let now = std::time::Instant::now();
        let mut sp = StateProvider::new(
            "ch",
            0,
            StateProviderConfig::default(),
            std::sync::Arc::new(AcceptAll),
        );
        let p = |n: u64, bytes: Vec<u8>| Payload::new(n, bytes, vec![], Source::Gossip);
        let forged = |n: u64| {
            crate::crypto::block::new_block(n, vec![0xAB; 32], vec![b"forged".to_vec()])
                .encode_to_vec()
        };
        for n in 0..2 {
            let mut out = Vec::new();
            sp.add_payload(now, p(n, block(n)), &mut out).unwrap();
            drive(&mut sp, &mut l, now, out);
        }
        assert_eq!((sp.height(), l.height()), (2, 2));

        // The ledger's last block is known: refused at intake, with both hashes.
        let mut out = Vec::new();
        match sp.add_payload(now, p(2, forged(2)), &mut out) {
            Err(e @ Rejected::BrokenChain { seq: 2, .. }) => {
                let text = e.to_string();
                assert!(text.contains(&hex::encode([0xAB; 32])), "{text}");
                let h1 = crate::ledger::chain::block_header(&block(1)).unwrap();
                let tip = crate::crypto::block::block_header_hash(&h1);
                assert!(text.contains(&hex::encode(tip)), "{text}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(out.is_empty());
        // Against a buffered block too.
        sp.add_payload(now, p(4, block(4)), &mut out).unwrap();
        assert!(matches!(
            sp.add_payload(now, p(5, forged(5)), &mut out),
            Err(Rejected::BrokenChain { seq: 5, .. })
        ));
        assert_eq!(sp.counters().broken_chain, 2);

        // Block 6 arrives before 5: nothing can check it until the ledger does.
        let mut sp2_out = Vec::new();
        sp.add_payload(now, p(6, forged(6)), &mut sp2_out).unwrap();
        sp.add_payload(now, p(2, block(2)), &mut sp2_out).unwrap();
        sp.add_payload(now, p(3, block(3)), &mut sp2_out).unwrap();
        sp.add_payload(now, p(5, block(5)), &mut sp2_out).unwrap();
        drive(&mut sp, &mut l, now, sp2_out);
        // 2..=5 committed, 6 refused by the ledger and dropped at once (no retry wait).
        assert_eq!((sp.height(), l.height()), (6, 6));
        assert_eq!(sp.counters().broken_chain, 3);
        assert_eq!(sp.counters().commit_failed, 0);
        assert!(
            sp.wants(6, Source::Gossip),
            "the right block 6 is wanted again"
        );
        // Committed at once: a refusal sets no retry wait.
        let mut out = Vec::new();
        sp.add_payload(now, p(6, block(6)), &mut out).unwrap();
        drive(&mut sp, &mut l, now, out);
        assert_eq!(l.height(), 7);
        assert_eq!(
            l.get_blocks(0, 6).unwrap(),
            (0..7).map(block).collect::<Vec<_>>()
        );
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
