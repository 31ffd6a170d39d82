//! FileLedger: commit and read back, restart, torn tail, index rebuild, refusals, digest.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use prost::Message;

use super::*;
use crate::crypto::block::new_block;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "fabgossip-ledger-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Block `n` of one chain: each block's `previous_hash` is the header hash of the one before.
fn block(n: u64) -> Vec<u8> {
    let mut prev = Vec::new();
    let mut b = None;
    for i in 0..=n {
        let blk = new_block(
            i,
            prev,
            vec![format!("tx of block {i}").into_bytes(); (i % 3 + 1) as usize],
        );
        prev = crate::crypto::block::block_header_hash(blk.header.as_ref().unwrap());
        b = Some(blk);
    }
    b.unwrap().encode_to_vec()
}

fn rec_len(n: u64) -> u64 {
    record::encode(n, &block(n), &[format!("pvt {n}").into_bytes()])
        .unwrap()
        .len() as u64
}

/// Offset of block `n`'s record in a ledger made by [`filled`].
fn offset_of(n: u64) -> u64 {
    (0..n).map(rec_len).sum()
}

fn verifying() -> FileLedgerOptions {
    FileLedgerOptions {
        fsync: false,
        verify_on_open: true,
    }
}

fn append(dir: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .append(true)
        .open(chan_file(dir, "blocks.dat"))
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn flip(dir: &Path, at: u64) {
    let path = chan_file(dir, "blocks.dat");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at as usize] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
}

fn data_len(dir: &Path) -> u64 {
    std::fs::metadata(chan_file(dir, "blocks.dat"))
        .unwrap()
        .len()
}

/// After a repair the ledger takes the next blocks and reopens clean.
fn refills(dir: &Path, from: u64, to: u64) {
    {
        let mut l = FileLedger::open_with(dir, "mychannel", fast()).unwrap();
        assert_eq!(l.height(), from);
        for i in from..to {
            l.commit(&block(i), &[format!("pvt {i}").into_bytes()])
                .unwrap();
        }
    }
    let l = FileLedger::open_with(dir, "mychannel", verifying()).unwrap();
    assert_eq!(l.recovery(), &file::Recovery::default());
    assert_eq!(
        l.get_blocks(0, to - 1).unwrap(),
        (0..to).map(block).collect::<Vec<_>>()
    );
}

fn fast() -> FileLedgerOptions {
    FileLedgerOptions {
        fsync: false,
        ..Default::default()
    }
}

fn filled(dir: &Path, n: u64) -> FileLedger {
    let mut l = FileLedger::open_with(dir, "mychannel", fast()).unwrap();
    for i in 0..n {
        l.commit(&block(i), &[format!("pvt {i}").into_bytes()])
            .unwrap();
    }
    l
}

fn chan_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("ledgers").join("mychannel").join(name)
}

#[test]
fn commit_and_read_back() {
    let d = TempDir::new();
    let mut l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 0);
    for i in 0..5 {
        l.commit(&block(i), &[format!("pvt {i}").into_bytes()])
            .unwrap();
    }
    assert_eq!(l.height(), 5);
    assert_eq!(
        l.get_blocks(0, 4).unwrap(),
        (0..5).map(block).collect::<Vec<_>>()
    );
    assert_eq!(l.get_blocks(2, 3).unwrap(), vec![block(2), block(3)]);
    assert_eq!(l.get_private_data(3).unwrap(), vec![b"pvt 3".to_vec()]);
    assert!(matches!(
        l.get_blocks(3, 5),
        Err(LedgerError::OutOfRange { height: 5, .. })
    ));
    assert!(matches!(
        l.get_blocks(3, 2),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert!(d.path().join("ledgers/mychannel/blocks.dat").is_file());
}

#[test]
fn survives_reopen() {
    let d = TempDir::new();
    let digest = {
        let l = filled(d.path(), 10);
        l.digest().unwrap()
    };
    let mut l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.recovery(), &file::Recovery::default());
    assert_eq!(l.height(), 10);
    assert_eq!(l.digest().unwrap(), digest);
    assert_eq!(l.get_blocks(9, 9).unwrap(), vec![block(9)]);
    l.commit(&block(10), &[]).unwrap();
    assert_eq!(l.height(), 11);
    // Usable behind the trait object the node holds.
    let boxed: Box<dyn Ledger> = Box::new(l);
    assert_ne!(boxed.digest().unwrap(), digest);
}

#[test]
fn second_open_is_refused_while_first_is_held() {
    let d = TempDir::new();
    let first = filled(d.path(), 1);
    assert!(matches!(
        FileLedger::open(d.path(), "mychannel"),
        Err(LedgerError::Locked(_))
    ));
    drop(first);
    assert_eq!(FileLedger::open(d.path(), "mychannel").unwrap().height(), 1);
}

#[test]
fn torn_tail_is_truncated() {
    let d = TempDir::new();
    let full_len = {
        filled(d.path(), 4);
        std::fs::metadata(chan_file(d.path(), "blocks.dat"))
            .unwrap()
            .len()
    };
    // Half of a fifth record reached the disk before the crash.
    let rec = record::encode(4, &block(4), &[]).unwrap();
    let mut f = OpenOptions::new()
        .append(true)
        .open(chan_file(d.path(), "blocks.dat"))
        .unwrap();
    f.write_all(&rec[..rec.len() / 2]).unwrap();
    drop(f);

    let mut l = FileLedger::open_with(d.path(), "mychannel", fast()).unwrap();
    assert_eq!(l.height(), 4);
    assert_eq!(l.recovery().truncated_bytes, (rec.len() / 2) as u64);
    assert_eq!(l.recovery().damage, Some(file::Damage::Short));
    assert_eq!(
        std::fs::metadata(chan_file(d.path(), "blocks.dat"))
            .unwrap()
            .len(),
        full_len
    );
    l.commit(&block(4), &[]).unwrap();
    drop(l);
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 5);
    assert_eq!(l.get_blocks(4, 4).unwrap(), vec![block(4)]);
}

#[test]
fn damaged_last_record_is_cut_and_index_follows() {
    let d = TempDir::new();
    filled(d.path(), 3);
    let path = chan_file(d.path(), "blocks.dat");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();

    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 2);
    assert_eq!(l.recovery().damage, Some(file::Damage::BadChecksum));
    assert!(!l.recovery().in_middle);
    assert_eq!(l.recovery().dropped_indexed_blocks, 1);
    assert!(!l.recovery().index_rebuilt);
    assert!(l.recovery().truncated_bytes > 0);
    assert_eq!(l.get_blocks(0, 1).unwrap(), vec![block(0), block(1)]);
    assert_eq!(
        std::fs::metadata(chan_file(d.path(), "blocks.idx"))
            .unwrap()
            .len(),
        16
    );
}

#[test]
fn damage_before_valid_records_cuts_the_ledger_there() {
    let d = TempDir::new();
    filled(d.path(), 3);
    std::fs::remove_file(chan_file(d.path(), "blocks.idx")).unwrap();
    flip(d.path(), record::HEADER_LEN as u64 + 6); // inside block 0's body
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 0);
    assert_eq!(l.recovery().damage, Some(file::Damage::BadChecksum));
    assert!(l.recovery().in_middle);
    assert_eq!(l.recovery().kinds(), vec!["bad_checksum", "damaged_middle"]);
    assert_eq!(data_len(d.path()), 0);
    drop(l);
    refills(d.path(), 0, 4);
}

#[test]
fn zero_filled_tail_is_cut() {
    for zeros in [1usize, 16, 17, 4096] {
        let d = TempDir::new();
        let len = data_len_after(d.path(), 4);
        append(d.path(), &vec![0u8; zeros]);
        let l = FileLedger::open(d.path(), "mychannel").unwrap();
        assert_eq!(l.height(), 4, "{zeros} zero bytes");
        assert_eq!(l.recovery().damage, Some(file::Damage::Zeros));
        assert_eq!(l.recovery().kinds(), vec!["zeros"]);
        assert_eq!(l.recovery().truncated_bytes, zeros as u64);
        assert_eq!(data_len(d.path()), len);
        drop(l);
        refills(d.path(), 4, 6);
    }
}

fn data_len_after(dir: &Path, n: u64) -> u64 {
    filled(dir, n);
    data_len(dir)
}

#[test]
fn zeroed_records_the_index_lists_are_cut() {
    // The file size and the index reached the disk, the last two records' data did not.
    let d = TempDir::new();
    filled(d.path(), 6);
    let path = chan_file(d.path(), "blocks.dat");
    let mut bytes = std::fs::read(&path).unwrap();
    let from = offset_of(4) as usize;
    bytes[from..].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 4);
    assert_eq!(l.recovery().damage, Some(file::Damage::Zeros));
    assert_eq!(l.recovery().dropped_indexed_blocks, 2);
    assert!(!l.recovery().in_middle);
    drop(l);
    refills(d.path(), 4, 7);
}

#[test]
fn zero_length_record_is_cut_with_what_follows() {
    let d = TempDir::new();
    filled(d.path(), 3);
    // A header whose length reads 0, then bytes that are not zeros.
    let mut junk = vec![0u8; 4];
    junk.extend_from_slice(&[0xAB; 12]);
    junk.extend_from_slice(&record::encode(3, &block(3), &[]).unwrap());
    append(d.path(), &junk);
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 3);
    assert_eq!(l.recovery().damage, Some(file::Damage::ZeroLength));
    assert_eq!(l.recovery().truncated_bytes, junk.len() as u64);
    assert!(l.recovery().in_middle);
    drop(l);
    refills(d.path(), 3, 5);
}

#[test]
fn flipped_header_byte_mid_file_is_found_by_the_index() {
    // Block 2's length field, then its number: both disagree with the index.
    for (at, damage) in [
        (0, file::Damage::BadChecksum),
        (8, file::Damage::WrongNumber),
    ] {
        let d = TempDir::new();
        filled(d.path(), 6);
        flip(d.path(), offset_of(2) + at);
        let l = FileLedger::open(d.path(), "mychannel").unwrap();
        assert_eq!(l.height(), 2);
        assert_eq!(l.recovery().damage, Some(damage));
        assert!(l.recovery().in_middle);
        assert_eq!(l.recovery().dropped_indexed_blocks, 4);
        assert_eq!(data_len(d.path()), offset_of(2));
        drop(l);
        refills(d.path(), 2, 6);
    }
}

#[test]
fn flipped_body_byte_mid_file_is_never_served_and_cut_with_verify() {
    let d = TempDir::new();
    filled(d.path(), 6);
    flip(d.path(), offset_of(2) + record::HEADER_LEN as u64 + 9); // inside block 2
    {
        // Without verification open reads headers only: the damage is found on read.
        let l = FileLedger::open(d.path(), "mychannel").unwrap();
        assert_eq!(l.height(), 6);
        assert_eq!(l.recovery(), &file::Recovery::default());
        assert!(matches!(l.get_blocks(2, 2), Err(LedgerError::Corrupt(_))));
        assert!(matches!(l.get_blocks(0, 5), Err(LedgerError::Corrupt(_))));
        assert_eq!(
            l.get_blocks(3, 5).unwrap(),
            (3..6).map(block).collect::<Vec<_>>()
        );
    }
    let l = FileLedger::open_with(d.path(), "mychannel", verifying()).unwrap();
    assert_eq!(l.height(), 2);
    assert_eq!(l.recovery().damage, Some(file::Damage::BadChecksum));
    assert!(l.recovery().in_middle);
    assert_eq!(l.recovery().damaged_block, Some(2));
    drop(l);
    refills(d.path(), 2, 6);
}

#[test]
fn index_disagreeing_with_good_data_is_rebuilt() {
    let d = TempDir::new();
    filled(d.path(), 6);
    let idx = chan_file(d.path(), "blocks.idx");
    let mut bytes = std::fs::read(&idx).unwrap();
    bytes[3 * 8] ^= 0x01; // block 3's offset
    std::fs::write(&idx, &bytes).unwrap();
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 6);
    assert_eq!(l.recovery().kinds(), vec!["index_rebuilt"]);
    assert_eq!(l.recovery().truncated_bytes, 0);
    assert_eq!(
        l.get_blocks(0, 5).unwrap(),
        (0..6).map(block).collect::<Vec<_>>()
    );
    drop(l);
    refills(d.path(), 6, 7);
}

#[test]
fn blocks_that_do_not_chain_are_refused_across_reopen() {
    let d = TempDir::new();
    let mut l = filled(d.path(), 3);
    let forged = new_block(3, vec![1; 32], vec![b"tx".to_vec()]).encode_to_vec();
    match l.commit(&forged, &[]) {
        Err(LedgerError::BrokenChain {
            number: 3,
            previous_hash,
            expected,
        }) => {
            assert_eq!(previous_hash, vec![1; 32]);
            let h2 = chain::block_header(&block(2)).unwrap();
            assert_eq!(expected, crate::crypto::block::block_header_hash(&h2));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A batch stops at the broken link; the blocks before it are committed.
    let pvt = vec![Vec::new(); 3];
    let run_blocks = vec![block(3), block(4), forged.clone()];
    let mut bad = run_blocks.clone();
    bad[2] = new_block(5, vec![], vec![]).encode_to_vec();
    let err = l.commit_batch(&run(&bad, &pvt)).unwrap_err();
    assert_eq!(err.committed, 2);
    assert!(matches!(
        err.error,
        LedgerError::BrokenChain { number: 5, .. }
    ));
    drop(l);
    // The tip is read back at open.
    let mut l = FileLedger::open_with(d.path(), "mychannel", fast()).unwrap();
    assert_eq!(l.height(), 5);
    let forged5 = new_block(5, vec![2; 32], vec![]).encode_to_vec();
    assert!(matches!(
        l.commit(&forged5, &[]),
        Err(LedgerError::BrokenChain { number: 5, .. })
    ));
    l.commit(&block(5), &[]).unwrap();
    // Block 0 links to nothing: any previous_hash is taken.
    let other = TempDir::new();
    let mut o = FileLedger::open_with(other.path(), "mychannel", fast()).unwrap();
    o.commit(&new_block(0, vec![3; 32], vec![]).encode_to_vec(), &[])
        .unwrap();
}

#[test]
fn short_index_is_extended() {
    let d = TempDir::new();
    filled(d.path(), 6);
    let idx = chan_file(d.path(), "blocks.idx");
    // Two entries lost and a third half written.
    let f = OpenOptions::new().write(true).open(&idx).unwrap();
    f.set_len(3 * 8 + 5).unwrap();
    drop(f);

    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.height(), 6);
    assert_eq!(l.recovery().index_extended, 3);
    assert!(!l.recovery().index_rebuilt);
    assert_eq!(std::fs::metadata(&idx).unwrap().len(), 6 * 8);
    assert_eq!(
        l.get_blocks(0, 5).unwrap(),
        (0..6).map(block).collect::<Vec<_>>()
    );
}

#[test]
fn garbage_index_is_rebuilt() {
    let d = TempDir::new();
    let digest = filled(d.path(), 5).digest().unwrap();
    let idx = chan_file(d.path(), "blocks.idx");
    std::fs::write(&idx, [0xAAu8; 40]).unwrap();

    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert!(l.recovery().index_rebuilt);
    assert_eq!(l.height(), 5);
    assert_eq!(l.digest().unwrap(), digest);
    drop(l);
    // The rewritten index is trusted the next time.
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.recovery(), &file::Recovery::default());
}

#[test]
fn index_with_huge_offsets_is_rebuilt() {
    let d = TempDir::new();
    filled(d.path(), 3);
    let idx = chan_file(d.path(), "blocks.idx");
    let mut bytes = 0u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&(u64::MAX - 3).to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&idx, bytes).unwrap();
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert!(l.recovery().index_rebuilt);
    assert_eq!(l.height(), 3);
}

#[test]
fn out_of_order_and_malformed_blocks_are_refused() {
    let d = TempDir::new();
    let mut l = filled(d.path(), 2);
    assert!(matches!(
        l.commit(&block(3), &[]),
        Err(LedgerError::WrongNumber {
            expected: 2,
            got: 3
        })
    ));
    assert!(matches!(
        l.commit(&block(1), &[]),
        Err(LedgerError::WrongNumber {
            expected: 2,
            got: 1
        })
    ));
    assert!(matches!(
        l.commit(b"\xff\xff\xff", &[]),
        Err(LedgerError::MalformedBlock(_))
    ));
    assert!(matches!(
        l.commit(&[], &[]),
        Err(LedgerError::MalformedBlock(_))
    ));
    assert_eq!(l.height(), 2);
    l.commit(&block(2), &[]).unwrap();
    assert_eq!(l.height(), 3);
}

#[test]
fn unsafe_channel_names_are_refused() {
    let d = TempDir::new();
    for name in [
        "",
        "..",
        ".hidden",
        "a/b",
        "../x",
        "a\\b",
        "chan nel",
        "é",
        &"a".repeat(250),
    ] {
        assert!(
            matches!(
                FileLedger::open(d.path(), name),
                Err(LedgerError::BadChannelName { .. })
            ),
            "{name:?} accepted"
        );
    }
    for name in ["mychannel", "ch-1.test", "Org1_channel", "9lives"] {
        FileLedger::open(d.path(), name).unwrap();
    }
    // Nothing was created outside `ledgers/`.
    let entries: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("ledgers")]);
}

#[test]
fn digest_tells_ledgers_apart() {
    let a = TempDir::new();
    let b = TempDir::new();
    let la = filled(a.path(), 70);
    let mut lb = filled(b.path(), 69);
    assert_ne!(la.digest().unwrap(), lb.digest().unwrap());
    lb.commit(&block(69), &[]).unwrap();
    // Private data is not part of the digest: only blocks are compared.
    assert_eq!(la.digest().unwrap(), lb.digest().unwrap());
    let empty = TempDir::new();
    let le = FileLedger::open(empty.path(), "mychannel").unwrap();
    assert_ne!(le.digest().unwrap(), la.digest().unwrap());
}

#[test]
fn reads_detect_damage_after_open() {
    let d = TempDir::new();
    let l = filled(d.path(), 3);
    let path = chan_file(d.path(), "blocks.dat");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[HEADER_LEN_FOR_TEST + 6] ^= 1; // inside block 0's body
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(l.get_blocks(0, 0), Err(LedgerError::Corrupt(_))));
    assert_eq!(l.get_blocks(1, 2).unwrap(), vec![block(1), block(2)]);
}

const HEADER_LEN_FOR_TEST: usize = record::HEADER_LEN;

fn run<'a>(blocks: &'a [Vec<u8>], pvt: &'a [Vec<Vec<u8>>]) -> Vec<BlockToCommit<'a>> {
    blocks
        .iter()
        .zip(pvt)
        .map(|(block, private_data)| BlockToCommit {
            block,
            private_data,
        })
        .collect()
}

#[test]
fn batch_commit_writes_the_run_and_survives_reopen() {
    let d = TempDir::new();
    let blocks: Vec<Vec<u8>> = (0..40).map(block).collect();
    let pvt: Vec<Vec<Vec<u8>>> = (0..40)
        .map(|i| vec![format!("pvt {i}").into_bytes()])
        .collect();
    let digest = {
        let mut l = FileLedger::open(d.path(), "mychannel").unwrap();
        l.commit_batch(&run(&blocks[..25], &pvt[..25])).unwrap();
        assert_eq!(l.height(), 25);
        l.commit_batch(&run(&blocks[25..], &pvt[25..])).unwrap();
        l.commit_batch(&[]).unwrap();
        assert_eq!(l.height(), 40);
        // The same bytes as committing one block at a time.
        let one_by_one = TempDir::new();
        let mut o = FileLedger::open_with(one_by_one.path(), "mychannel", fast()).unwrap();
        for (b, p) in blocks.iter().zip(&pvt) {
            o.commit(b, p).unwrap();
        }
        assert_eq!(
            std::fs::read(chan_file(d.path(), "blocks.dat")).unwrap(),
            std::fs::read(chan_file(one_by_one.path(), "blocks.dat")).unwrap()
        );
        assert_eq!(
            std::fs::read(chan_file(d.path(), "blocks.idx")).unwrap(),
            std::fs::read(chan_file(one_by_one.path(), "blocks.idx")).unwrap()
        );
        l.digest().unwrap()
    };
    let l = FileLedger::open(d.path(), "mychannel").unwrap();
    assert_eq!(l.recovery(), &file::Recovery::default());
    assert_eq!((l.height(), l.digest().unwrap()), (40, digest));
    assert_eq!(l.get_blocks(0, 39).unwrap(), blocks);
    assert_eq!(l.get_private_data(31).unwrap(), pvt[31]);
}

#[test]
fn batch_commit_keeps_the_prefix_before_a_bad_block() {
    let d = TempDir::new();
    let mut l = filled(d.path(), 2);
    let mut blocks: Vec<Vec<u8>> = (2..8).map(block).collect();
    blocks[3] = block(9); // block 5's slot holds another number
    let pvt = vec![Vec::new(); blocks.len()];
    let err = l.commit_batch(&run(&blocks, &pvt)).unwrap_err();
    assert_eq!(err.committed, 3);
    assert!(matches!(
        err.error,
        LedgerError::WrongNumber {
            expected: 5,
            got: 9
        }
    ));
    assert_eq!(l.height(), 5);
    // A malformed first block commits nothing.
    let bad = vec![b"\xff\xff".to_vec(), block(5)];
    let err = l.commit_batch(&run(&bad, &pvt[..2])).unwrap_err();
    assert_eq!(err.committed, 0);
    assert!(matches!(err.error, LedgerError::MalformedBlock(_)));
    // The retry from the new height, after a restart.
    drop(l);
    let mut l = FileLedger::open_with(d.path(), "mychannel", fast()).unwrap();
    assert_eq!(l.height(), 5);
    let rest: Vec<Vec<u8>> = (5..8).map(block).collect();
    l.commit_batch(&run(&rest, &pvt[..3])).unwrap();
    assert_eq!(
        l.get_blocks(0, 7).unwrap(),
        (0..8).map(block).collect::<Vec<_>>()
    );
}

#[test]
fn a_batch_torn_by_a_crash_leaves_its_complete_records() {
    let d = TempDir::new();
    let blocks: Vec<Vec<u8>> = (0..6).map(block).collect();
    let pvt = vec![Vec::new(); 6];
    {
        let mut l = FileLedger::open_with(d.path(), "mychannel", fast()).unwrap();
        l.commit_batch(&run(&blocks, &pvt)).unwrap();
    }
    // The crash cut the batch's write inside record 4, before the index was written.
    let cut: u64 = (0..4)
        .map(|i| record::encode(i, &blocks[i as usize], &[]).unwrap().len() as u64)
        .sum::<u64>()
        + 10;
    OpenOptions::new()
        .write(true)
        .open(chan_file(d.path(), "blocks.dat"))
        .unwrap()
        .set_len(cut)
        .unwrap();
    std::fs::write(chan_file(d.path(), "blocks.idx"), b"").unwrap();
    let mut l = FileLedger::open_with(d.path(), "mychannel", fast()).unwrap();
    assert_eq!(l.height(), 4);
    assert_eq!(l.recovery().truncated_bytes, 10);
    l.commit_batch(&run(&blocks[4..], &pvt[4..])).unwrap();
    assert_eq!(l.get_blocks(0, 5).unwrap(), blocks);
}
