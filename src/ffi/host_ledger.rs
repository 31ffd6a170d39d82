//! [`HostLedger`]: a channel ledger kept by the host, reached through the
//! `fg_ledger_callbacks` table (`height`, `commit`, `get_block`).
//!
//! One [`HostLedgerTable`] owns the host's table for every channel. Every call passes the
//! table's gate (`ffi::host_call::HostGate`): once [`HostLedgerTable::release`] returns no
//! callback is running and none will start.
//! The ledger height is the host's: read at open and before every commit, so blocks the host
//! committed by other means are taken as committed, never committed twice.
//! The chain is checked here too ([`crate::ledger::chain`]): the header hash of the last block is
//! read from the host at open (and again whenever the height moved by other means), so a
//! block that does not link onto the host's ledger is never handed to `commit`.

use std::ffi::c_void;
use std::sync::Arc;

use crate::crypto::block::block_header_hash;
use crate::ffi::counters;
use crate::ffi::host_call::{fill_buffer, Filled, HostGate};
use crate::ffi::ledger::{fg_ledger_callbacks, fg_slice};
use crate::ffi::status::{
    fg_status, status_label, FG_STATUS_BUFFER_TOO_SMALL, FG_STATUS_CALLBACK_FAILED,
    FG_STATUS_NOT_FOUND, FG_STATUS_OK,
};
use crate::ledger::chain::{block_header, check_link};
use crate::ledger::{BatchCommitError, BlockToCommit, Ledger, LedgerError, LedgerProvider};

/// First buffer offered to `get_block`: most blocks fit, larger ones cost one retry.
const BLOCK_CAP: usize = 64 * 1024;
/// Largest block a host may ask room for after `FG_STATUS_BUFFER_TOO_SMALL` (above Fabric's
/// 100 MB default message size limit).
const MAX_BLOCK: usize = 128 << 20;

/// The host's ledger callback table, shared by the ledgers of every channel.
pub struct HostLedgerTable {
    table: fg_ledger_callbacks,
    gate: HostGate,
}

impl HostLedgerTable {
    /// Takes ownership of the table: `release(user_data)` runs exactly once, at
    /// [`HostLedgerTable::release`] or when this value is dropped.
    pub fn new(table: fg_ledger_callbacks) -> HostLedgerTable {
        HostLedgerTable {
            table,
            gate: HostGate::new(),
        }
    }

    /// Checks that every required callback is present; the error names the missing one.
    pub fn check_required(&self) -> Result<(), String> {
        let t = &self.table;
        let missing = [
            ("height", t.height.is_none()),
            ("commit", t.commit.is_none()),
            ("get_block", t.get_block.is_none()),
        ];
        match missing.iter().find(|(_, m)| *m) {
            Some((name, _)) => Err(format!("fg_ledger_callbacks.{name} is NULL")),
            None => Ok(()),
        }
    }

    /// Closes the table: waits for running callbacks, forbids new ones, then calls
    /// `release(user_data)` if that has not happened yet.
    pub fn release(&self) {
        self.gate.release(self.table.release, self.table.user_data);
    }

    /// True until [`release`](Self::release).
    pub fn is_open(&self) -> bool {
        self.gate.is_open()
    }

    /// Runs one host call while the table is open and the thread is marked "in callback".
    fn call(
        &self,
        name: &'static str,
        f: impl FnOnce(*mut c_void) -> fg_status,
    ) -> Result<fg_status, LedgerError> {
        let ud = self.table.user_data;
        self.gate.call(|| f(ud)).ok_or_else(|| {
            host_err(
                name,
                FG_STATUS_CALLBACK_FAILED,
                "host ledger callbacks already released".into(),
            )
        })
    }

    /// The host's height of `channel`.
    pub fn height(&self, channel: &str) -> Result<u64, LedgerError> {
        let f = self
            .table
            .height
            .ok_or_else(|| host_err("height", FG_STATUS_CALLBACK_FAILED, "NULL".into()))?;
        let mut height = 0u64;
        // SAFETY: the host's table promised a callback taking these borrowed arguments for the
        // call only; `height` is a live local.
        let st = self.call("height", |ud| unsafe {
            f(ud, channel.as_ptr(), channel.len(), &mut height)
        })?;
        match st {
            FG_STATUS_OK => Ok(height),
            other => Err(host_err("height", other, format!("channel {channel:?}"))),
        }
    }

    /// Hands block `seq` of `channel` with its private data to the host.
    pub fn commit(
        &self,
        channel: &str,
        seq: u64,
        block: &[u8],
        private_data: &[Vec<u8>],
    ) -> Result<(), LedgerError> {
        let f = self
            .table
            .commit
            .ok_or_else(|| host_err("commit", FG_STATUS_CALLBACK_FAILED, "NULL".into()))?;
        let slices: Vec<fg_slice> = private_data
            .iter()
            .map(|p| fg_slice {
                ptr: p.as_ptr(),
                len: p.len(),
            })
            .collect();
        // SAFETY: the channel, block and `slices` (each borrowing `private_data`) outlive the
        // call, which is all the callback's contract lets the host keep them.
        let st = self.call("commit", |ud| unsafe {
            f(
                ud,
                channel.as_ptr(),
                channel.len(),
                seq,
                block.as_ptr(),
                block.len(),
                slices.as_ptr(),
                slices.len(),
            )
        })?;
        match st {
            FG_STATUS_OK => Ok(()),
            other => Err(host_err(
                "commit",
                other,
                format!("channel {channel:?}, block {seq}"),
            )),
        }
    }

    /// Block `seq` of `channel` from the host, retrying once with the size the host asks
    /// for on `FG_STATUS_BUFFER_TOO_SMALL`. `Ok(None)`: the host does not have it.
    pub fn get_block(&self, channel: &str, seq: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        let f = self
            .table
            .get_block
            .ok_or_else(|| host_err("get_block", FG_STATUS_CALLBACK_FAILED, "NULL".into()))?;
        let what = |s: &str| format!("channel {channel:?}, block {seq}: {s}");
        let filled = fill_buffer(BLOCK_CAP, MAX_BLOCK, |out, cap, len| {
            // SAFETY: `out` has `cap` writable bytes and `len` is writable (fill_buffer's
            // contract); the channel is borrowed for the call only.
            self.call("get_block", |ud| unsafe {
                f(ud, channel.as_ptr(), channel.len(), seq, out, cap, len)
            })
        })?;
        match filled {
            Filled::Bytes(b) if b.is_empty() => Err(host_err(
                "get_block",
                FG_STATUS_CALLBACK_FAILED,
                what("empty block"),
            )),
            Filled::Bytes(b) => Ok(Some(b)),
            Filled::Overrun { len, cap } => Err(host_err(
                "get_block",
                FG_STATUS_CALLBACK_FAILED,
                what(&format!("reported {len} bytes in a {cap}-byte buffer")),
            )),
            Filled::Status(FG_STATUS_NOT_FOUND) => Ok(None),
            Filled::TooSmall { len, cap } => Err(host_err(
                "get_block",
                FG_STATUS_BUFFER_TOO_SMALL,
                what(&format!(
                    "asked for {len} bytes (had {cap}, limit {MAX_BLOCK})"
                )),
            )),
            Filled::Status(other) => Err(host_err("get_block", other, what("refused"))),
        }
    }
}

impl Drop for HostLedgerTable {
    fn drop(&mut self) {
        self.release();
    }
}

fn host_err(call: &'static str, status: fg_status, detail: String) -> LedgerError {
    counters::bump(&counters::counters().host_callback_failures);
    LedgerError::Host {
        call,
        status,
        status_name: status_label(status),
        detail,
    }
}

/// Opens [`HostLedger`]s over one host table.
pub struct HostLedgerProvider {
    table: Arc<HostLedgerTable>,
}

impl HostLedgerProvider {
    pub fn new(table: Arc<HostLedgerTable>) -> HostLedgerProvider {
        HostLedgerProvider { table }
    }

    pub fn table(&self) -> &Arc<HostLedgerTable> {
        &self.table
    }
}

impl LedgerProvider for HostLedgerProvider {
    /// Reads the channel's height from the host: a host that cannot answer fails the join.
    fn open(&self, channel: &str) -> Result<Box<dyn Ledger>, LedgerError> {
        let height = self.table.height(channel)?;
        let mut ledger = HostLedger {
            table: self.table.clone(),
            channel: channel.to_string(),
            height,
            tip: None,
        };
        if let Some(last) = height.checked_sub(1) {
            // Not fatal here: the commit of the next block asks again.
            if let Err(e) = ledger.tip_at(last) {
                tracing::warn!(target: "fabgossip::ledger", channel, "host ledger's last block unavailable at open: {e}");
            }
        }
        Ok(Box::new(ledger))
    }

    fn kind(&self) -> &'static str {
        "host"
    }
}

/// One channel's ledger kept by the host.
pub struct HostLedger {
    table: Arc<HostLedgerTable>,
    channel: String,
    /// The height the host reported at open or after a refused commit, advanced by every
    /// commit it accepted. The host is asked again only when it refuses a block (it may
    /// hold blocks it took by other means), so a block costs one host call, not three.
    height: u64,
    /// The number and header hash of the last block this ledger saw committed or read.
    tip: Option<(u64, Vec<u8>)>,
}

impl HostLedger {
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The host's height, remembered; on a host error the last known one (logged).
    fn refresh_height(&mut self) -> u64 {
        match self.table.height(&self.channel) {
            Ok(h) => self.height = h,
            Err(e) => tracing::warn!(target: "fabgossip::ledger", channel = %self.channel,
                "host ledger height unavailable, using {}: {e}", self.height),
        }
        self.height
    }

    /// The header hash of block `seq`, from the one remembered or else read from the host.
    fn tip_at(&mut self, seq: u64) -> Result<Vec<u8>, LedgerError> {
        if let Some((n, hash)) = &self.tip {
            if *n == seq {
                return Ok(hash.clone());
            }
        }
        let block = self.table.get_block(&self.channel, seq)?.ok_or_else(|| {
            LedgerError::Host {
                call: "get_block",
                status: FG_STATUS_NOT_FOUND,
                status_name: status_label(FG_STATUS_NOT_FOUND),
                detail: format!(
                    "channel {:?}: block {seq}, the last one committed, is missing (needed to check the next block's previous_hash)",
                    self.channel
                ),
            }
        })?;
        let hash = block_header_hash(&block_header(&block)?);
        self.tip = Some((seq, hash.clone()));
        Ok(hash)
    }

    /// Hands the blocks to the host in order, each numbered at the height it extends.
    fn commit_run(&mut self, blocks: &[BlockToCommit<'_>]) -> Result<(), BatchCommitError> {
        for (committed, b) in blocks.iter().enumerate() {
            let fail = |error| BatchCommitError { committed, error };
            let expected = self.height;
            let header = block_header(b.block).map_err(fail)?;
            let number = header.number;
            if number != expected {
                return Err(fail(LedgerError::WrongNumber {
                    expected,
                    got: number,
                }));
            }
            let tip = match number.checked_sub(1) {
                Some(prev) => Some(self.tip_at(prev).map_err(fail)?),
                None => None,
            };
            let hash = check_link(&header, tip.as_deref()).map_err(fail)?;
            self.table
                .commit(&self.channel, number, b.block, b.private_data)
                .map_err(fail)?;
            self.height = number + 1;
            self.tip = Some((number, hash));
        }
        Ok(())
    }
}

impl Ledger for HostLedger {
    /// The host's height as last learned (see the `height` field).
    fn height(&self) -> u64 {
        self.height
    }

    /// Checks the block's number against the height (as the file ledger does), then hands it
    /// to the host. A refused block leaves the height as the host now reports it: the block
    /// is retried, or skipped if the host turns out to hold it.
    fn commit(&mut self, block_bytes: &[u8], private_data: &[Vec<u8>]) -> Result<(), LedgerError> {
        self.commit_batch(&[BlockToCommit {
            block: block_bytes,
            private_data,
        }])
        .map_err(|e| e.error)
    }

    /// Calls the host's `commit` per block in order (all on the caller's thread), stopping at
    /// the first refusal: the host keeps the blocks before it, the height is read from the
    /// host again, and the rest are retried from there.
    fn commit_batch(&mut self, blocks: &[BlockToCommit<'_>]) -> Result<(), BatchCommitError> {
        let res = self.commit_run(blocks);
        if res.is_err() {
            self.refresh_height();
        }
        res
    }

    fn get_blocks(&self, start: u64, end_inclusive: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let height = self.height();
        if start > end_inclusive || end_inclusive >= height {
            return Err(LedgerError::OutOfRange {
                start,
                end: end_inclusive,
                height,
            });
        }
        (start..=end_inclusive)
            .map(|seq| {
                self.table
                    .get_block(&self.channel, seq)?
                    .ok_or(LedgerError::OutOfRange {
                        start: seq,
                        end: seq,
                        height,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::block::new_block;
    use crate::ffi::reentry::inside_callback;
    use crate::ffi::status::FG_STATUS_IO;
    use crate::state::{commit_batch, CommitBatch, Input, Payload, Source};
    use prost::Message;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A block and its private data, as the test host keeps them.
    type Stored = (Vec<u8>, Vec<Vec<u8>>);

    /// An in-memory host ledger reached through `user_data`; commits fail while
    /// `fail_commits` is above zero.
    struct Host {
        blocks: Mutex<Vec<Stored>>,
        fail_commits: AtomicUsize,
        /// The commit of this block number fails once (`u64::MAX`: none).
        fail_seq: AtomicU64,
        commit_calls: AtomicUsize,
        height_calls: AtomicUsize,
        get_calls: AtomicUsize,
        releases: AtomicUsize,
        saw_scope: AtomicBool,
        channel: Mutex<String>,
    }

    impl Default for Host {
        fn default() -> Self {
            Host {
                blocks: Mutex::default(),
                fail_commits: AtomicUsize::new(0),
                fail_seq: AtomicU64::new(u64::MAX),
                commit_calls: AtomicUsize::new(0),
                height_calls: AtomicUsize::new(0),
                get_calls: AtomicUsize::new(0),
                releases: AtomicUsize::new(0),
                saw_scope: AtomicBool::new(false),
                channel: Mutex::default(),
            }
        }
    }

    /// Commits one block the way the driver does, as a batch of one.
    fn commit_one(l: &mut dyn Ledger, seq: u64, block: &[u8], pvt: &[Vec<u8>]) -> Input {
        let p = Payload::new(seq, block.to_vec(), pvt.to_vec(), Source::Deliverer);
        commit_batch(l, &CommitBatch::new(vec![p]).unwrap())
    }

    unsafe fn host<'a>(ud: *mut c_void) -> &'a Host {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe { &*(ud as *const Host) }
    }

    unsafe fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            if n == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p, n)
            }
        }
    }

    unsafe extern "C" fn release(ud: *mut c_void) {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            host(ud).releases.fetch_add(1, Ordering::SeqCst);
        }
    }

    unsafe extern "C" fn height(
        ud: *mut c_void,
        ch: *const u8,
        chl: usize,
        out: *mut u64,
    ) -> fg_status {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            let h = host(ud);
            h.height_calls.fetch_add(1, Ordering::SeqCst);
            *h.channel.lock().unwrap() = String::from_utf8_lossy(bytes(ch, chl)).into_owned();
            *out = h.blocks.lock().unwrap().len() as u64;
            FG_STATUS_OK
        }
    }

    unsafe extern "C" fn commit(
        ud: *mut c_void,
        _ch: *const u8,
        _chl: usize,
        seq: u64,
        block: *const u8,
        block_len: usize,
        private_data: *const fg_slice,
        count: usize,
    ) -> fg_status {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            let h = host(ud);
            h.commit_calls.fetch_add(1, Ordering::SeqCst);
            h.saw_scope.store(inside_callback(), Ordering::SeqCst);
            if h.fail_commits
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return FG_STATUS_IO;
            }
            if h.fail_seq
                .compare_exchange(seq, u64::MAX, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return FG_STATUS_IO;
            }
            let mut blocks = h.blocks.lock().unwrap();
            if seq != blocks.len() as u64 {
                return FG_STATUS_CALLBACK_FAILED;
            }
            let pvt = if count == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(private_data, count)
                    .iter()
                    .map(|s| bytes(s.ptr, s.len).to_vec())
                    .collect()
            };
            blocks.push((bytes(block, block_len).to_vec(), pvt));
            FG_STATUS_OK
        }
    }

    unsafe extern "C" fn get_block(
        ud: *mut c_void,
        _ch: *const u8,
        _chl: usize,
        seq: u64,
        out: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> fg_status {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            let h = host(ud);
            h.get_calls.fetch_add(1, Ordering::SeqCst);
            let blocks = h.blocks.lock().unwrap();
            let Some((b, _)) = blocks.get(seq as usize) else {
                return FG_STATUS_NOT_FOUND;
            };
            *len = b.len();
            if b.len() > cap {
                return FG_STATUS_BUFFER_TOO_SMALL;
            }
            std::ptr::copy_nonoverlapping(b.as_ptr(), out, b.len());
            FG_STATUS_OK
        }
    }

    fn table(h: &Host) -> fg_ledger_callbacks {
        fg_ledger_callbacks {
            user_data: h as *const Host as *mut c_void,
            release: Some(release),
            height: Some(height),
            commit: Some(commit),
            get_block: Some(get_block),
        }
    }

    /// Block `seq` of one chain whatever `size` (the bulk goes into a metadata slot, which
    /// the header hash does not cover).
    fn block(seq: u64, size: usize) -> Vec<u8> {
        let mut prev = Vec::new();
        for n in 0..seq {
            prev = block_header_hash(
                new_block(n, prev, vec![vec![n as u8]])
                    .header
                    .as_ref()
                    .unwrap(),
            );
        }
        let mut b = new_block(seq, prev, vec![vec![seq as u8]]);
        b.metadata.as_mut().unwrap().metadata[4] = vec![seq as u8; size];
        b.encode_to_vec()
    }

    #[test]
    fn blocks_that_do_not_chain_are_refused_before_the_host_sees_them() {
        let h = Host::default();
        h.blocks.lock().unwrap().push((block(0, 8), vec![]));
        h.blocks.lock().unwrap().push((block(1, 8), vec![]));
        let t = Arc::new(HostLedgerTable::new(table(&h)));
        let mut l = HostLedgerProvider::new(t.clone()).open("ch").unwrap();
        // The tip was read from the host at open.
        assert_eq!(h.get_calls.load(Ordering::SeqCst), 1);
        let forged = new_block(2, vec![9; 32], vec![vec![2]]).encode_to_vec();
        match l.commit(&forged, &[]) {
            Err(LedgerError::BrokenChain {
                number: 2,
                previous_hash,
                expected,
            }) => {
                assert_eq!(previous_hash, vec![9; 32]);
                assert_eq!(
                    expected,
                    block_header_hash(&crate::ledger::chain::block_header(&block(1, 8)).unwrap())
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(h.commit_calls.load(Ordering::SeqCst), 0);
        l.commit(&block(2, 100), &[]).unwrap();
        l.commit(&block(3, 1), &[]).unwrap();
        assert_eq!(l.height(), 4);
        // The host took a block by other means: its tip is read again.
        h.blocks.lock().unwrap().push((block(4, 8), vec![]));
        assert!(l.commit(&block(4, 8), &[]).is_err());
        assert_eq!(l.height(), 5);
        l.commit(&block(5, 8), &[]).unwrap();
        assert_eq!(h.blocks.lock().unwrap().len(), 6);
    }

    #[test]
    fn commits_go_to_the_host_in_order_and_read_back() {
        let h = Host::default();
        h.blocks.lock().unwrap().push((block(0, 8), vec![]));
        let t = Arc::new(HostLedgerTable::new(table(&h)));
        t.check_required().unwrap();
        let p = HostLedgerProvider::new(t.clone());
        let mut l = p.open("mychannel").unwrap();
        assert_eq!(p.kind(), "host");
        assert_eq!(*h.channel.lock().unwrap(), "mychannel");
        assert_eq!(l.height(), 1, "height read from the host at open");
        let b1 = block(1, 8);
        let pvt = vec![b"pvt-a".to_vec(), Vec::new()];
        assert_eq!(
            commit_one(&mut *l, 1, &b1, &pvt),
            Input::Committed {
                first: 1,
                height: 2
            }
        );
        assert!(h.saw_scope.load(Ordering::SeqCst), "commit runs in a scope");
        assert!(!inside_callback());
        assert_eq!(h.blocks.lock().unwrap()[1].1, pvt);
        // A block larger than the first buffer costs one retry.
        let big = block(2, 3 * BLOCK_CAP);
        assert_eq!(
            commit_one(&mut *l, 2, &big, &[]),
            Input::Committed {
                first: 2,
                height: 3
            }
        );
        let before = h.get_calls.load(Ordering::SeqCst);
        let got = l.get_blocks(1, 2).unwrap();
        assert_eq!(got, vec![b1, big]);
        assert_eq!(h.get_calls.load(Ordering::SeqCst) - before, 3);
        assert!(matches!(
            l.get_blocks(2, 3),
            Err(LedgerError::OutOfRange { height: 3, .. })
        ));
        // The digest reads the host's blocks like any ledger's.
        assert_eq!(
            l.digest().unwrap(),
            crate::ledger::ledger_digest(&*l).unwrap()
        );
    }

    #[test]
    fn a_failing_commit_is_reported_with_the_host_status_and_retried() {
        let h = Host::default();
        h.fail_commits.store(2, Ordering::SeqCst);
        let t = Arc::new(HostLedgerTable::new(table(&h)));
        let mut l = HostLedgerProvider::new(t).open("ch").unwrap();
        let b0 = block(0, 4);
        for _ in 0..2 {
            match commit_one(&mut *l, 0, &b0, &[]) {
                Input::CommitFailed {
                    first: 0,
                    height: 0,
                    error,
                } => {
                    assert!(error.contains("FG_STATUS_IO"), "{error}")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(l.height(), 0);
        assert_eq!(
            commit_one(&mut *l, 0, &b0, &[]),
            Input::Committed {
                first: 0,
                height: 1
            }
        );
        // Bytes that are not the block the host expects are refused before the host sees them.
        let calls = h.commit_calls.load(Ordering::SeqCst);
        assert!(matches!(
            l.commit(&block(5, 4), &[]),
            Err(LedgerError::WrongNumber {
                expected: 1,
                got: 5
            })
        ));
        assert!(matches!(
            l.commit(b"\xff\xff", &[]),
            Err(LedgerError::MalformedBlock(_))
        ));
        assert_eq!(h.commit_calls.load(Ordering::SeqCst), calls);
        // Committed by the host by other means: the height is not asked per block, so the
        // host refuses the block once; the height is read again then, and the retry takes
        // the block as committed without sending it again.
        h.blocks.lock().unwrap().push((block(1, 4), vec![]));
        assert!(matches!(
            commit_one(&mut *l, 1, &block(1, 4), &[]),
            Input::CommitFailed { first: 1, .. }
        ));
        assert_eq!(h.commit_calls.load(Ordering::SeqCst), calls + 1);
        assert_eq!(l.height(), 2);
        assert_eq!(
            commit_one(&mut *l, 1, &block(1, 4), &[]),
            Input::Committed {
                first: 1,
                height: 2
            }
        );
        assert_eq!(h.commit_calls.load(Ordering::SeqCst), calls + 1);
    }

    #[test]
    fn a_block_costs_one_host_call() {
        let h = Host::default();
        let t = Arc::new(HostLedgerTable::new(table(&h)));
        let mut l = HostLedgerProvider::new(t).open("ch").unwrap();
        let heights = h.height_calls.load(Ordering::SeqCst);
        for seq in 0..5 {
            assert!(matches!(
                commit_one(&mut *l, seq, &block(seq, 4), &[]),
                Input::Committed { .. }
            ));
        }
        assert_eq!(h.commit_calls.load(Ordering::SeqCst), 5);
        assert_eq!(
            h.height_calls.load(Ordering::SeqCst),
            heights,
            "no height call"
        );
        assert_eq!(l.height(), 5);
    }

    #[test]
    fn a_batch_stops_at_the_first_refusal_and_the_retry_resumes_there() {
        let h = Host::default();
        let t = Arc::new(HostLedgerTable::new(table(&h)));
        let mut l = HostLedgerProvider::new(t).open("ch").unwrap();
        let blocks: Vec<Vec<u8>> = (0..5).map(|n| block(n, 4)).collect();
        let pvt = vec![vec![b"p".to_vec()]; 5];
        let batch = |from: usize| {
            let b: Vec<BlockToCommit<'_>> = blocks[from..]
                .iter()
                .zip(&pvt)
                .map(|(b, p)| BlockToCommit {
                    block: b,
                    private_data: p,
                })
                .collect();
            b
        };
        h.fail_seq.store(2, Ordering::SeqCst);
        let err = l.commit_batch(&batch(0)).unwrap_err();
        assert_eq!(err.committed, 2);
        assert!(matches!(
            err.error,
            LedgerError::Host {
                call: "commit",
                status: FG_STATUS_IO,
                ..
            }
        ));
        // Blocks 3 and 4 were never offered after 2 failed.
        assert_eq!(h.commit_calls.load(Ordering::SeqCst), 3);
        assert_eq!((l.height(), h.blocks.lock().unwrap().len()), (2, 2));
        l.commit_batch(&batch(2)).unwrap();
        let stored: Vec<Vec<u8>> = h
            .blocks
            .lock()
            .unwrap()
            .iter()
            .map(|b| b.0.clone())
            .collect();
        assert_eq!(stored, blocks, "every block once, in order");
        assert_eq!(h.blocks.lock().unwrap()[4].1, pvt[4]);
        // A batch that does not start at the host's height is refused before the host sees it.
        let calls = h.commit_calls.load(Ordering::SeqCst);
        let err = l.commit_batch(&batch(3)).unwrap_err();
        assert_eq!(err.committed, 0);
        assert!(matches!(
            err.error,
            LedgerError::WrongNumber {
                expected: 5,
                got: 3
            }
        ));
        assert_eq!(h.commit_calls.load(Ordering::SeqCst), calls);
    }

    #[test]
    fn release_runs_once_and_stops_every_callback() {
        let h = Host::default();
        {
            let t = Arc::new(HostLedgerTable::new(table(&h)));
            let mut l = HostLedgerProvider::new(t.clone()).open("ch").unwrap();
            t.release();
            t.release();
            assert!(!t.is_open());
            assert!(matches!(
                l.commit(&block(0, 4), &[]),
                Err(LedgerError::Host { call: "commit", .. })
            ));
            assert!(HostLedgerProvider::new(t.clone()).open("ch").is_err());
            assert_eq!(h.commit_calls.load(Ordering::SeqCst), 0);
        }
        assert_eq!(h.releases.load(Ordering::SeqCst), 1);
        {
            let _t = HostLedgerTable::new(table(&h));
        } // dropped without release(): released by Drop
        assert_eq!(h.releases.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn missing_callbacks_are_named_and_bad_answers_are_errors() {
        let h = Host::default();
        let mut t = table(&h);
        t.get_block = None;
        assert_eq!(
            HostLedgerTable::new(t).check_required().unwrap_err(),
            "fg_ledger_callbacks.get_block is NULL"
        );

        unsafe extern "C" fn greedy(
            _ud: *mut c_void,
            _ch: *const u8,
            _chl: usize,
            _seq: u64,
            _out: *mut u8,
            cap: usize,
            len: *mut usize,
        ) -> fg_status {
            // SAFETY: the library calls this test double with the arguments its callback

            // contract promises (a live `Host` as user data, readable and writable buffers).

            unsafe {
                *len = cap + 1;
                FG_STATUS_BUFFER_TOO_SMALL
            }
        }
        unsafe extern "C" fn broken_height(
            _ud: *mut c_void,
            _ch: *const u8,
            _chl: usize,
            _out: *mut u64,
        ) -> fg_status {
            FG_STATUS_IO
        }
        let mut t = table(&h);
        t.get_block = Some(greedy);
        let t = HostLedgerTable::new(t);
        assert!(matches!(
            t.get_block("ch", 0),
            Err(LedgerError::Host {
                status: FG_STATUS_BUFFER_TOO_SMALL,
                ..
            })
        ));
        let mut t = table(&h);
        t.height = Some(broken_height);
        let p = HostLedgerProvider::new(Arc::new(HostLedgerTable::new(t)));
        match p.open("ch") {
            Err(LedgerError::Host { status, .. }) => assert_eq!(status, FG_STATUS_IO),
            _ => panic!("a host that cannot give the height fails the open"),
        }
    }
}
