//! [`FileLedger`]: one append-only block file per channel plus an offset index, in
//! `<dir>/ledgers/<channel>/` (`blocks.dat`, `blocks.idx`).
//!
//! # Crash safety and damage
//! A commit appends the record (see [`super::record`]) to `blocks.dat`, then the record's
//! offset (u64 LE) to `blocks.idx`. On open the two are checked against each other: every
//! indexed record's header must carry its number and a length that ends exactly where the
//! next index entry starts; the last indexed record and every record after it are checked
//! in full (length, checksum, number). With [`FileLedgerOptions::verify_on_open`] every
//! record is checked in full. From the first place where the index and the data disagree,
//! records are checked in full.
//!
//! The first record that fails ends the ledger: the block file is truncated there, whatever
//! follows it, and the index is rewritten to match. That covers a torn write (a short
//! record, a zero-filled tail left when the file size reached the disk but the data did
//! not, a length of 0, a bad checksum) and damage in the middle of the file (the blocks
//! after it are dropped too, so the ledger stays a prefix of the chain). The node then
//! fetches the dropped blocks again from other peers by state transfer. Each repair is
//! logged at warn level and reported by [`FileLedger::recovery`] (counted by kind in the
//! metrics). Damage that opening does not look for (a flipped byte inside an older
//! record's body when `verify_on_open` is off) is found when the block is read: the read
//! fails with [`LedgerError::Corrupt`], so a damaged block is never served.
//!
//! # fsync policy
//! With [`FileLedgerOptions::fsync`] (the default) every commit calls `fdatasync` on
//! `blocks.dat` and then on `blocks.idx` before returning, so a committed block and its
//! index entry survive power loss. The cost is two disk flushes per commit: tens of
//! microseconds on tmpfs or a battery-backed cache, about 0.1–2 ms each on an SSD and up
//! to ~10 ms on a spinning disk, paid on the commit path only (dissemination does not wait
//! for it). [`Ledger::commit_batch`] writes a run of blocks with one write and one flush per
//! file, so catching up pays the flushes once per run, not per block. Without `fsync`, a
//! crash of the machine (not of the process) may lose the last blocks or leave a zeroed
//! tail; open cuts it and the blocks are pulled again from other peers after restart.
//!
//! # Chain
//! A block is committed only if its `previous_hash` is the header hash of the last block
//! ([`super::chain`]); that hash is read back from the last record at open.
//!
//! Only one `FileLedger` may have a channel open at a time (an exclusive `flock` on
//! `blocks.dat`); a second open fails with [`LedgerError::Locked`].

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use prost::Message;
use tracing::{info, warn};

use super::chain::{block_header, check_link};
use super::channel_name::validate_channel_name;
use super::record::{self, RecordHeader, HEADER_LEN, MIN_BODY_LEN};
use super::{BatchCommitError, BlockToCommit, Ledger, LedgerError, MissingPvtData};
use crate::proto::common::Block;

const DATA_FILE: &str = "blocks.dat";
const INDEX_FILE: &str = "blocks.idx";
const INDEX_ENTRY: u64 = 8;
/// Bytes read per step when checking whether a damaged tail is all zeros.
const ZERO_SCAN_CHUNK: usize = 64 * 1024;

/// How a [`FileLedger`] writes and opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLedgerOptions {
    /// `fdatasync` the block file and the index on every commit (default true).
    pub fsync: bool,
    /// Check every record's checksum on open, not only the headers (default false: open
    /// reads one header per block; a damaged body is then found when the block is read).
    pub verify_on_open: bool,
}

impl Default for FileLedgerOptions {
    fn default() -> Self {
        FileLedgerOptions {
            fsync: true,
            verify_on_open: false,
        }
    }
}

/// What the first bad record found at open looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Everything from the record on is zero bytes (a tail extended but never written).
    Zeros,
    /// The record's length field is 0 (with non-zero bytes around it).
    ZeroLength,
    /// The file ends inside the record's header or body.
    Short,
    /// The record's checksum or inner lengths do not match its bytes.
    BadChecksum,
    /// The record carries another block number than its position.
    WrongNumber,
}

impl Damage {
    /// The metric label of this kind.
    pub fn label(self) -> &'static str {
        match self {
            Damage::Zeros => "zeros",
            Damage::ZeroLength => "zero_length",
            Damage::Short => "short",
            Damage::BadChecksum => "bad_checksum",
            Damage::WrongNumber => "wrong_number",
        }
    }
}

/// Why the record at some offset cannot be read during recovery.
enum Fault {
    /// The record is not valid: the ledger ends before it.
    Bad(Damage, String),
    Io(LedgerError),
}

/// A block and its private data, as stored.
type StoredBlock = (Vec<u8>, Vec<Vec<u8>>);

/// What opening the ledger had to repair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes cut from the end of `blocks.dat` (a torn or damaged tail).
    pub truncated_bytes: u64,
    /// What the first bad record looked like, when bytes were cut.
    pub damage: Option<Damage>,
    /// The number of the first bad record (the height after the repair).
    pub damaged_block: Option<u64>,
    /// Non-zero bytes followed the bad record: damage in the middle, not a torn write.
    pub in_middle: bool,
    /// Blocks the index listed that were dropped with the cut.
    pub dropped_indexed_blocks: u64,
    /// The index disagreed with `blocks.dat` and was rebuilt from it.
    pub index_rebuilt: bool,
    /// Records found in `blocks.dat` past the end of the index and added to it.
    pub index_extended: u64,
}

impl Recovery {
    /// The metric labels of what was repaired (empty when nothing was).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if let Some(d) = self.damage {
            out.push(d.label());
        }
        if self.in_middle {
            out.push("damaged_middle");
        }
        if self.index_rebuilt {
            out.push("index_rebuilt");
        }
        if self.index_extended > 0 {
            out.push("index_extended");
        }
        out
    }
}

/// The embedded default ledger of one channel.
pub struct FileLedger {
    dir: PathBuf,
    data: File,
    index: File,
    /// Offset of block `i` in `blocks.dat`.
    offsets: Vec<u64>,
    /// End of the last valid record (the append position).
    end: u64,
    /// Header hash of the last block: the `previous_hash` the next block must carry.
    tip: Option<Vec<u8>>,
    opts: FileLedgerOptions,
    recovery: Recovery,
    /// The private data committed blocks lack (`missing.pvt`), by block.
    missing: super::missing::MissingByBlock,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Flushes a directory entry (new files, new subdirectories) to disk.
fn sync_dir(path: &Path) -> Result<(), LedgerError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

fn lock_exclusive(file: &File, path: &Path) -> Result<(), LedgerError> {
    // SAFETY: flock on a descriptor this function borrows; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Err(LedgerError::Locked(path.display().to_string()))
    } else {
        Err(io_err(path)(err))
    }
}

impl FileLedger {
    /// Opens (creating if needed) the ledger of `channel` under `dir/ledgers/`, with fsync
    /// per commit.
    pub fn open(dir: &Path, channel: &str) -> Result<Self, LedgerError> {
        Self::open_with(dir, channel, FileLedgerOptions::default())
    }

    pub fn open_with(
        dir: &Path,
        channel: &str,
        opts: FileLedgerOptions,
    ) -> Result<Self, LedgerError> {
        validate_channel_name(channel)?;
        let ledgers = dir.join("ledgers");
        let chan_dir = ledgers.join(channel);
        let existed = chan_dir.is_dir();
        std::fs::create_dir_all(&chan_dir).map_err(io_err(&chan_dir))?;
        let data_path = chan_dir.join(DATA_FILE);
        let index_path = chan_dir.join(INDEX_FILE);
        let open = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
                .map_err(io_err(p))
        };
        let data = open(&data_path)?;
        lock_exclusive(&data, &data_path)?;
        let index = open(&index_path)?;
        if !existed {
            sync_dir(&chan_dir)?;
            sync_dir(&ledgers)?;
        }
        let mut ledger = FileLedger {
            dir: chan_dir,
            data,
            index,
            offsets: Vec::new(),
            end: 0,
            tip: None,
            opts,
            recovery: Recovery::default(),
            missing: Default::default(),
        };
        ledger.recover()?;
        ledger.load_tip()?;
        ledger.missing = match super::missing::load(&ledger.dir) {
            Ok(m) => m,
            Err(e) => {
                // Only a hint list for reconciliation: set aside, never a reason to refuse
                // the ledger.
                tracing::warn!(
                    channel,
                    "missing private data list unreadable, set aside: {e}"
                );
                let path = ledger.dir.join(super::missing::FILE);
                let _ = std::fs::rename(&path, path.with_extension("corrupt"));
                Default::default()
            }
        };
        Ok(ledger)
    }

    /// The channel's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the last open repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The private data committed with block `seq`.
    pub fn get_private_data(&self, seq: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let mut records = self.read_records(seq, seq)?;
        Ok(records.pop().map(|(_, pvt)| pvt).unwrap_or_default())
    }

    fn data_path(&self) -> PathBuf {
        self.dir.join(DATA_FILE)
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join(INDEX_FILE)
    }

    /// The header at `offset` when a whole header fits before `limit`.
    fn header_at(&self, offset: u64, limit: u64) -> Result<Option<RecordHeader>, LedgerError> {
        if offset > limit || limit - offset < HEADER_LEN as u64 {
            return Ok(None);
        }
        let mut hb = [0u8; HEADER_LEN];
        self.data
            .read_exact_at(&mut hb, offset)
            .map_err(io_err(&self.data_path()))?;
        Ok(Some(RecordHeader::parse(&hb)))
    }

    /// Reads and checks in full the record at `offset`, which must carry `seq` and end by
    /// `limit`.
    fn read_record_at(&self, offset: u64, seq: u64, limit: u64) -> Result<RecordHeader, Fault> {
        let bad = |d, why: String| {
            Err(Fault::Bad(
                d,
                format!("record {seq} at offset {offset}: {why}"),
            ))
        };
        let Some(header) = self.header_at(offset, limit).map_err(Fault::Io)? else {
            return bad(Damage::Short, "header cut short".into());
        };
        if header.body_len == 0 {
            return bad(Damage::ZeroLength, "length 0".into());
        }
        if limit - offset < header.record_len() {
            return bad(
                Damage::Short,
                format!("body of {} bytes cut short", header.body_len),
            );
        }
        if header.seq != seq {
            return bad(
                Damage::WrongNumber,
                format!("carries number {}", header.seq),
            );
        }
        let mut body = vec![0u8; header.body_len as usize];
        self.data
            .read_exact_at(&mut body, offset + HEADER_LEN as u64)
            .map_err(|e| Fault::Io(io_err(&self.data_path())(e)))?;
        if let Err(why) = record::check_body(&header, &body) {
            return bad(Damage::BadChecksum, why);
        }
        Ok(header)
    }

    /// Whether `blocks.dat` holds only zero bytes from `from` to `to`.
    fn zeros_from(&self, from: u64, to: u64) -> Result<bool, LedgerError> {
        let mut buf = vec![0u8; ZERO_SCAN_CHUNK];
        let mut at = from;
        while at < to {
            let n = ((to - at) as usize).min(ZERO_SCAN_CHUNK);
            self.data
                .read_exact_at(&mut buf[..n], at)
                .map_err(io_err(&self.data_path()))?;
            if buf[..n].iter().any(|b| *b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// Checks `blocks.dat` against the index (see the module docs), cuts the file at the
    /// first bad record and rewrites the index to match.
    fn recover(&mut self) -> Result<(), LedgerError> {
        let data_path = self.data_path();
        let index_path = self.index_path();
        let data_len = self.data.metadata().map_err(io_err(&data_path))?.len();
        let index_len = self.index.metadata().map_err(io_err(&index_path))?.len();

        let mut raw = vec![0u8; (index_len - index_len % INDEX_ENTRY) as usize];
        self.index
            .read_exact_at(&mut raw, 0)
            .map_err(io_err(&index_path))?;
        let stored: Vec<u64> = raw
            .chunks_exact(INDEX_ENTRY as usize)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect();

        // Records below the last index entry are checked by their header, as long as the
        // index agrees with it; the rest, and everything after a disagreement, in full.
        let header_checked = stored.len().saturating_sub(1);
        let mut full = self.opts.verify_on_open;
        let mut offsets: Vec<u64> = Vec::new();
        let mut pos = 0u64;
        let mut fault = None;
        while pos < data_len {
            let seq = offsets.len() as u64;
            let i = offsets.len();
            if !full && i < header_checked && stored[i] == pos {
                if let Some(h) = self.header_at(pos, data_len)? {
                    let next = pos.saturating_add(h.record_len());
                    if h.seq == seq
                        && h.body_len as u64 >= MIN_BODY_LEN
                        && next <= data_len
                        && stored[i + 1] == next
                    {
                        offsets.push(pos);
                        pos = next;
                        continue;
                    }
                }
            }
            if i < header_checked {
                full = true;
            }
            match self.read_record_at(pos, seq, data_len) {
                Ok(h) => {
                    offsets.push(pos);
                    pos += h.record_len();
                }
                Err(Fault::Io(e)) => return Err(e),
                Err(Fault::Bad(damage, why)) => {
                    fault = Some((damage, why));
                    break;
                }
            }
        }

        let height = offsets.len() as u64;
        let common = offsets.len().min(stored.len());
        let index_agrees = offsets[..common] == stored[..common];
        let damaged = fault.is_some();
        if let Some((mut damage, why)) = fault {
            let zeros = self.zeros_from(pos, data_len)?;
            if zeros {
                damage = Damage::Zeros;
            }
            let record_end = self.header_at(pos, data_len)?.map_or(data_len, |h| {
                pos.saturating_add(h.record_len()).min(data_len)
            });
            let in_middle = !zeros && !self.zeros_from(record_end, data_len)?;
            self.recovery.damage = Some(damage);
            self.recovery.damaged_block = Some(height);
            self.recovery.in_middle = in_middle;
            self.recovery.truncated_bytes = data_len - pos;
            self.recovery.dropped_indexed_blocks = (stored.len() as u64).saturating_sub(height);
            warn!(
                ledger = %self.dir.display(),
                kind = damage.label(),
                in_middle,
                height,
                offset = pos,
                dropped_bytes = data_len - pos,
                dropped_indexed_blocks = self.recovery.dropped_indexed_blocks,
                "ledger damaged ({why}); truncating to the last good block, the rest will be fetched from peers"
            );
        }
        if !index_agrees || (!damaged && stored.len() > offsets.len()) {
            self.recovery.index_rebuilt = true;
            warn!(ledger = %self.dir.display(), height, indexed = stored.len(),
                "ledger index disagrees with the block file; rebuilt from it");
        } else if offsets.len() > stored.len() {
            self.recovery.index_extended = (offsets.len() - stored.len()) as u64;
        }

        if pos < data_len {
            self.data.set_len(pos).map_err(io_err(&data_path))?;
            self.data.sync_all().map_err(io_err(&data_path))?;
        }
        if offsets != stored || index_len % INDEX_ENTRY != 0 {
            let bytes: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
            self.index.set_len(0).map_err(io_err(&index_path))?;
            self.index
                .write_all_at(&bytes, 0)
                .map_err(io_err(&index_path))?;
            self.index.sync_all().map_err(io_err(&index_path))?;
        }
        if self.recovery != Recovery::default() {
            info!(ledger = %self.dir.display(), height, recovery = ?self.recovery, "ledger repaired on open");
        }
        self.offsets = offsets;
        self.end = pos;
        Ok(())
    }

    /// Reads the last block's header hash, the link the next block must carry.
    fn load_tip(&mut self) -> Result<(), LedgerError> {
        let Some(last) = self.height().checked_sub(1) else {
            return Ok(());
        };
        let block = self
            .read_records(last, last)?
            .pop()
            .map(|(b, _)| b)
            .unwrap_or_default();
        let header = block_header(&block).map_err(|e| {
            LedgerError::Corrupt(format!("{}: block {last}: {e}", self.data_path().display()))
        })?;
        self.tip = Some(crate::crypto::block::block_header_hash(&header));
        Ok(())
    }

    /// Blocks `start..=end` with their private data, read in one go and checked.
    fn read_records(&self, start: u64, end: u64) -> Result<Vec<StoredBlock>, LedgerError> {
        let height = self.height();
        if start > end || end >= height {
            return Err(LedgerError::OutOfRange { start, end, height });
        }
        let from = self.offsets[start as usize];
        let to = self
            .offsets
            .get(end as usize + 1)
            .copied()
            .unwrap_or(self.end);
        let mut buf = vec![0u8; (to - from) as usize];
        let path = self.data_path();
        self.data
            .read_exact_at(&mut buf, from)
            .map_err(io_err(&path))?;
        let mut out = Vec::with_capacity((end - start + 1) as usize);
        let mut at = 0usize;
        for seq in start..=end {
            let corrupt = |why: String| {
                LedgerError::Corrupt(format!("{}: block {seq}: {why}", path.display()))
            };
            let hb: &[u8; HEADER_LEN] = buf
                .get(at..at + HEADER_LEN)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| corrupt("record header cut short".into()))?;
            let header = RecordHeader::parse(hb);
            if header.seq != seq {
                return Err(corrupt(format!("record carries number {}", header.seq)));
            }
            let body = buf
                .get(at + HEADER_LEN..at + header.record_len() as usize)
                .ok_or_else(|| corrupt("record body cut short".into()))?;
            record::check_body(&header, body).map_err(corrupt)?;
            out.push(record::decode_body(body).map_err(corrupt)?);
            at += header.record_len() as usize;
        }
        Ok(out)
    }
}

impl FileLedger {
    /// The record of `block_bytes` if it is block `seq` and links to `tip` (checked against
    /// its header), with the block's own header hash.
    fn record_for(
        seq: u64,
        tip: Option<&[u8]>,
        block_bytes: &[u8],
        private_data: &[Vec<u8>],
    ) -> Result<(Vec<u8>, Vec<u8>), LedgerError> {
        let block = Block::decode(block_bytes)
            .map_err(|e| LedgerError::MalformedBlock(format!("undecodable block: {e}")))?;
        let header = block
            .header
            .ok_or_else(|| LedgerError::MalformedBlock("block has no header".into()))?;
        if header.number != seq {
            return Err(LedgerError::WrongNumber {
                expected: seq,
                got: header.number,
            });
        }
        let hash = check_link(&header, tip)?;
        Ok((record::encode(seq, block_bytes, private_data)?, hash))
    }

    /// Appends `records` (consecutive records from the height on, `lens` their lengths)
    /// with one write and at most one fdatasync, then indexes them. On error nothing was
    /// appended.
    fn append(&mut self, records: &[u8], lens: &[u64], tip: Vec<u8>) -> Result<(), LedgerError> {
        let data_path = self.data_path();
        if let Err(e) = self.data.write_all_at(records, self.end) {
            // Drop whatever part reached the file so the next attempt starts clean.
            let _ = self.data.set_len(self.end);
            return Err(io_err(&data_path)(e));
        }
        if self.opts.fsync {
            if let Err(e) = self.data.sync_data() {
                let _ = self.data.set_len(self.end);
                return Err(io_err(&data_path)(e));
            }
        }
        let height = self.height();
        let mut offsets = Vec::with_capacity(lens.len());
        let mut at = self.end;
        for len in lens {
            offsets.push(at);
            at += len;
        }
        let entries: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        // The index is rebuildable: a failed index write is repaired on the next open.
        let written = self
            .index
            .write_all_at(&entries, height * INDEX_ENTRY)
            .and_then(|()| {
                if self.opts.fsync {
                    self.index.sync_data()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = written {
            warn!(ledger = %self.dir.display(), block = height, "index write failed ({e}); it will be rebuilt on open");
        }
        self.offsets.extend(offsets);
        self.end = at;
        self.tip = Some(tip);
        Ok(())
    }
}

impl Ledger for FileLedger {
    fn height(&self) -> u64 {
        self.offsets.len() as u64
    }

    fn commit(&mut self, block_bytes: &[u8], private_data: &[Vec<u8>]) -> Result<(), LedgerError> {
        let (rec, hash) = Self::record_for(
            self.height(),
            self.tip.as_deref(),
            block_bytes,
            private_data,
        )?;
        self.append(&rec, &[rec.len() as u64], hash)
    }

    fn get_private_data(&self, seq: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        FileLedger::get_private_data(self, seq)
    }

    /// Kept in `missing.pvt`, rewritten durably on each call.
    fn record_missing(&mut self, seq: u64, missing: &[MissingPvtData]) -> Result<(), LedgerError> {
        let mut next = self.missing.clone();
        if missing.is_empty() {
            next.remove(&seq);
        } else {
            next.insert(seq, missing.to_vec());
        }
        if next != self.missing {
            super::missing::store(&self.dir, &next)?;
            self.missing = next;
        }
        Ok(())
    }

    fn missing_private_data(&self) -> Result<Vec<MissingPvtData>, LedgerError> {
        Ok(self
            .missing
            .range(..self.height())
            .flat_map(|(_, m)| m.iter().cloned())
            .collect())
    }

    /// The valid prefix of the run goes to disk with one write and one fdatasync; a block
    /// that is malformed or misnumbered ends the run there (the prefix is still committed).
    fn commit_batch(&mut self, blocks: &[BlockToCommit<'_>]) -> Result<(), BatchCommitError> {
        let height = self.height();
        let mut records = Vec::new();
        let mut lens = Vec::with_capacity(blocks.len());
        let mut refused = None;
        let mut tip = self.tip.clone();
        for (i, b) in blocks.iter().enumerate() {
            match Self::record_for(height + i as u64, tip.as_deref(), b.block, b.private_data) {
                Ok((rec, hash)) => {
                    lens.push(rec.len() as u64);
                    records.extend_from_slice(&rec);
                    tip = Some(hash);
                }
                Err(error) => {
                    refused = Some(BatchCommitError {
                        committed: i,
                        error,
                    });
                    break;
                }
            }
        }
        if let (false, Some(tip)) = (lens.is_empty(), tip) {
            self.append(&records, &lens, tip)
                .map_err(|error| BatchCommitError {
                    committed: 0,
                    error,
                })?;
        }
        refused.map_or(Ok(()), Err)
    }

    fn repaired_on_open(&self) -> Option<super::Recovery> {
        Some(self.recovery.clone())
    }

    fn get_blocks(&self, start: u64, end_inclusive: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        Ok(self
            .read_records(start, end_inclusive)?
            .into_iter()
            .map(|(block, _)| block)
            .collect())
    }
}
