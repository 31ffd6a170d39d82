//! Target of the file ledger's records: a ledger directory made of fuzzed bytes (the block
//! file and its index) is opened. Invariants: opening either fails with an error or yields a
//! ledger whose last block reads back and whose other blocks read back or report `Corrupt`
//! (never another error, never a panic); a second open finds the same; the next block commits
//! and survives a reopen.

use std::path::{Path, PathBuf};

use fabgossip::crypto::block::block_header_hash;
use fabgossip::crypto::block::new_block;
use fabgossip::ledger::file::{FileLedger, FileLedgerOptions};
use fabgossip::ledger::{chain, Ledger, LedgerError};
use prost::Message;

use super::engine::{Cov, Target};

const CHANNEL: &str = "mychannel";

/// The first input byte's low bit picks whether open checks every record's checksum.
fn opts(verify_on_open: bool) -> FileLedgerOptions {
    FileLedgerOptions {
        fsync: false,
        verify_on_open,
    }
}

/// A directory of this thread's own, emptied for each input; in memory where the machine
/// has `/dev/shm`, since the ledger syncs its files and directories.
fn scratch() -> PathBuf {
    let name = format!(
        "fabgossip-fuzz-ledger-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    )
    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "");
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ledgers").join(CHANNEL)).unwrap();
    dir
}

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    let ch = dir.join("ledgers").join(CHANNEL);
    (ch.join("blocks.dat"), ch.join("blocks.idx"))
}

/// Input layout: the block file's length (u32 LE), the block file, then the index.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 4 {
        return (data, &[]);
    }
    let n = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
    let rest = &data[4..];
    rest.split_at(n.min(rest.len()))
}

/// Block `n` linked to a block whose header hashes to `previous_hash`.
fn block(n: u64, previous_hash: Vec<u8>) -> Vec<u8> {
    new_block(n, previous_hash, vec![format!("tx {n}").into_bytes()]).encode_to_vec()
}

/// The link a block after `bytes` must carry (empty for bytes that are no block: the
/// commit is then refused as not chaining, which the harness counts as an outcome).
fn link_after(bytes: &[u8]) -> Vec<u8> {
    chain::block_header(bytes)
        .map(|h| block_header_hash(&h))
        .unwrap_or_default()
}

/// Real ledgers: empty, three blocks with private data, and one with a torn tail.
fn ledger_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (blocks, torn) in [(0u64, 0usize), (3, 0), (2, 5)] {
        let dir = scratch();
        {
            let mut l = FileLedger::open_with(&dir, CHANNEL, opts(false)).unwrap();
            let mut prev = Vec::new();
            for n in 0..blocks {
                let b = block(n, prev);
                l.commit(&b, &[format!("pvt {n}").into_bytes()]).unwrap();
                prev = link_after(&b);
            }
        }
        let (d, i) = files(&dir);
        let mut data = std::fs::read(d).unwrap();
        data.truncate(data.len().saturating_sub(torn));
        let index = std::fs::read(i).unwrap();
        let mut input = (data.len() as u32).to_le_bytes().to_vec();
        input.extend_from_slice(&data);
        input.extend_from_slice(&index);
        out.push(input);
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

/// Each block as it reads back alone: its bytes, or the error's text. Open checks the last
/// indexed record only, so damage inside the block file shows here, as `Corrupt`.
fn read_each(l: &FileLedger) -> Vec<Result<Vec<u8>, String>> {
    (0..l.height())
        .map(|n| match l.get_blocks(n, n) {
            Ok(mut b) => {
                assert_eq!(
                    b.len(),
                    1,
                    "get_blocks({n}, {n}) returned {} blocks",
                    b.len()
                );
                Ok(b.remove(0))
            }
            Err(e @ LedgerError::Corrupt(_)) => Err(e.to_string()),
            Err(e) => panic!("block {n} of an opened ledger: unexpected error {e}"),
        })
        .collect()
}

fn run_ledger(data: &[u8], cov: &mut Cov) {
    let dir = scratch();
    let (d, i) = files(&dir);
    let verify = data.first().is_some_and(|b| b & 1 == 1);
    let (block_file, index_file) = split(data);
    std::fs::write(&d, block_file).unwrap();
    std::fs::write(&i, index_file).unwrap();

    let first = match FileLedger::open_with(&dir, CHANNEL, opts(verify)) {
        Ok(l) => l,
        Err(e) => {
            cov.error(&e);
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    };
    let r = first.recovery().clone();
    cov.hit((
        "opened",
        first.height().min(4),
        r.truncated_bytes > 0,
        r.index_rebuilt,
        r.index_extended > 0,
    ));
    let blocks = read_each(&first);
    cov.hit((
        "unreadable",
        blocks.iter().filter(|b| b.is_err()).count().min(2),
    ));
    if let Some(last) = first.height().checked_sub(1) {
        assert!(
            blocks[last as usize].is_ok(),
            "open kept a last block that does not read"
        );
        let _ = first.get_blocks(0, last);
    }
    for n in 0..first.height() {
        let _ = first.get_private_data(n);
    }
    let height = first.height();
    drop(first);

    let mut second =
        FileLedger::open_with(&dir, CHANNEL, opts(verify)).expect("a repaired ledger opens again");
    assert_eq!(second.height(), height, "a reopen changed the height");
    assert_eq!(read_each(&second), blocks, "a reopen changed the blocks");
    let tip = height
        .checked_sub(1)
        .and_then(|last| blocks[last as usize].as_ref().ok())
        .map(|b| link_after(b))
        .unwrap_or_default();
    let next = block(height, tip);
    match second.commit(&next, &[]) {
        Ok(()) => {
            drop(second);
            let third =
                FileLedger::open_with(&dir, CHANNEL, opts(verify)).expect("reopen after commit");
            assert_eq!(third.height(), height + 1, "a committed block was lost");
            assert_eq!(third.get_blocks(height, height).unwrap(), vec![next]);
        }
        Err(e) => cov.error(&e),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

pub const LEDGER: Target = Target {
    name: "ledger",
    max_len: 8 << 10,
    seeds: ledger_seeds,
    run: run_ledger,
};
