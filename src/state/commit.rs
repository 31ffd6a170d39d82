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
        let mut l = FileLedger::open_with(&dir, "ch", FileLedgerOptions {
                fsync: false,
                ..Default::default()
            }).unwrap();
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
}
