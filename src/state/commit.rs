//! Carrying out an [`Output::Commit`](super::Output::Commit) on a [`Ledger`], for drivers
//! that commit synchronously (the embedded ledger, or a host ledger behind the trait).

use super::events::Input;
use crate::ledger::Ledger;

/// Commits block `seq` to `ledger` and returns the report to feed back to the machine:
/// `Committed`, `CommitFailed` (with the ledger's reason), or `LedgerHeight` when the
/// ledger already holds the block (it was committed by other means).
pub fn commit_to_ledger(
    ledger: &mut dyn Ledger,
    seq: u64,
    block: &[u8],
    private_data: &[Vec<u8>],
) -> Input {
    let height = ledger.height();
    if height > seq {
        return Input::LedgerHeight { height };
    }
    if height < seq {
        // The ledger lost blocks the machine saw committed; retrying keeps this visible.
        return Input::CommitFailed {
            seq,
            error: format!("ledger height {height} is below block {seq}"),
        };
    }
    match ledger.commit(block, private_data) {
        Ok(()) => Input::Committed { seq },
        Err(e) => Input::CommitFailed {
            seq,
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::crypto::block::new_block;
    use crate::ledger::{FileLedger, FileLedgerOptions};

    #[test]
    fn reports_match_what_the_ledger_did() {
        let dir =
            std::env::temp_dir().join(format!("fabgossip-state-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut l = FileLedger::open_with(&dir, "ch", FileLedgerOptions { fsync: false }).unwrap();
        let b0 = new_block(0, vec![], vec![b"tx".to_vec()]).encode_to_vec();
        let b1 = new_block(1, vec![], vec![b"tx".to_vec()]).encode_to_vec();
        assert_eq!(
            commit_to_ledger(&mut l, 0, &b0, &[]),
            Input::Committed { seq: 0 }
        );
        assert_eq!(
            commit_to_ledger(&mut l, 0, &b0, &[]),
            Input::LedgerHeight { height: 1 }
        );
        assert!(matches!(
            commit_to_ledger(&mut l, 3, &b1, &[]),
            Input::CommitFailed { seq: 3, .. }
        ));
        // Bytes whose header says another number: the ledger's refusal is reported.
        match commit_to_ledger(&mut l, 1, &b0, &[]) {
            Input::CommitFailed { seq: 1, error } => {
                assert!(error.contains("expects 1"), "{error}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            commit_to_ledger(&mut l, 1, &b1, &[]),
            Input::Committed { seq: 1 }
        );
        assert_eq!(l.height(), 2);
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
