//! The transient store: private write sets received before their block commits, on disk per
//! channel, keyed by (tx id, received height).
//!
//! One file per stored write set, named `<received height>-<sequence>.pvt`:
//!
//! ```text
//! header (8 bytes): body_len u32 LE | crc32 u32 LE
//! body:             TransientEntry (protobuf)
//! ```
//! A file is written under a temporary name, synced, then renamed, so a crash leaves either
//! the whole entry or none. The index (tx id, height, size per file) lives in memory and is
//! rebuilt from the files at open. A file that fails its length or CRC check is renamed to
//! `*.corrupt` and counted, never loaded. The store is bounded by a byte and an entry cap;
//! beyond them a write is refused and counted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::ledger::crc32::Crc32;
use crate::proto::protos::CollectionConfigPackage;
use crate::proto::rwset::TxPvtReadWriteSet;

const HEADER_LEN: usize = 8;
const SUFFIX: &str = "pvt";
const TMP_PREFIX: &str = ".tmp-";

/// Default cap on the bytes of one channel's transient store.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default cap on the entries of one channel's transient store.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// Collection configs of one namespace, as the endorser sent them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceConfigs {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(message, optional, tag = "2")]
    pub package: Option<CollectionConfigPackage>,
}

/// One stored private write set with the collection configs it was endorsed under.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransientEntry {
    #[prost(string, tag = "1")]
    pub tx_id: String,
    #[prost(uint64, tag = "2")]
    pub received_height: u64,
    #[prost(message, optional, tag = "3")]
    pub pvt_rwset: Option<TxPvtReadWriteSet>,
    #[prost(message, repeated, tag = "4")]
    pub collection_configs: Vec<NamespaceConfigs>,
}

impl TransientEntry {
    /// The collection configs the entry carries for `namespace`.
    pub fn configs_of(&self, namespace: &str) -> Option<&CollectionConfigPackage> {
        self.collection_configs
            .iter()
            .find(|c| c.namespace == namespace)
            .and_then(|c| c.package.as_ref())
    }

    /// The write sets (marshaled `KVRWSet`s) of `namespace`/`collection` in this entry.
    pub fn rwsets_of(&self, namespace: &str, collection: &str) -> Vec<Vec<u8>> {
        self.pvt_rwset
            .iter()
            .flat_map(|t| &t.ns_pvt_rwset)
            .filter(|ns| ns.namespace == namespace)
            .flat_map(|ns| &ns.collection_pvt_rwset)
            .filter(|c| c.collection_name == collection)
            .map(|c| c.rwset.clone())
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransientStoreError {
    #[error("transient store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("transient store {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "transient store full: {entries} entries, {bytes} bytes (caps {max_entries}, {max_bytes})"
    )]
    Full {
        entries: usize,
        bytes: u64,
        max_entries: usize,
        max_bytes: u64,
    },
    #[error("empty tx id")]
    EmptyTxId,
}

/// Caps of one channel's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransientStoreLimits {
    pub max_bytes: u64,
    pub max_entries: usize,
}

impl Default for TransientStoreLimits {
    fn default() -> Self {
        TransientStoreLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// Counters of one store, since open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransientStoreStats {
    pub entries: usize,
    pub bytes: u64,
    pub stored: u64,
    pub refused_full: u64,
    /// Files found corrupt at open or at a read.
    pub corrupt: u64,
    /// Failed writes, reads and removals.
    pub io_errors: u64,
    pub purged: u64,
}

/// (received height, sequence): the order of entries, oldest first.
type EntryKey = (u64, u64);

#[derive(Debug, Clone)]
struct EntryMeta {
    tx_id: String,
    size: u64,
}

/// One channel's transient store.
#[derive(Debug)]
pub struct TransientStore {
    dir: PathBuf,
    limits: TransientStoreLimits,
    index: BTreeMap<EntryKey, EntryMeta>,
    by_tx: HashMap<String, BTreeSet<EntryKey>>,
    next_seq: u64,
    stats: TransientStoreStats,
}

impl TransientStore {
    /// Opens (creating) the store in `dir` and loads the index from its files. Corrupt files
    /// are set aside and counted; they are no reason to refuse the open.
    pub fn open(dir: &Path, limits: TransientStoreLimits) -> Result<Self, TransientStoreError> {
        let io = |source| TransientStoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut store = TransientStore {
            dir: dir.to_path_buf(),
            limits,
            index: BTreeMap::new(),
            by_tx: HashMap::new(),
            next_seq: 0,
            stats: TransientStoreStats::default(),
        };
        for item in fs::read_dir(dir).map_err(io)? {
            let path = item.map_err(io)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with(TMP_PREFIX) {
                // A write that never finished: the entry was never acknowledged.
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(key) = parse_name(name) else {
                continue;
            };
            store.next_seq = store.next_seq.max(key.1 + 1);
            match read_entry(&path) {
                Ok((entry, size)) if entry.received_height == key.0 => {
                    store.insert(key, entry.tx_id, size);
                }
                Ok(_) => store.set_aside(&path, "height differs from the file name"),
                Err(TransientStoreError::Corrupt { reason, .. }) => store.set_aside(&path, &reason),
                Err(e) => {
                    store.stats.io_errors += 1;
                    tracing::warn!(error = %e, "transient store entry unreadable");
                }
            }
        }
        Ok(store)
    }

    /// Stores a private write set received at `received_height`.
    pub fn persist(
        &mut self,
        tx_id: &str,
        received_height: u64,
        pvt_rwset: TxPvtReadWriteSet,
        collection_configs: Vec<NamespaceConfigs>,
    ) -> Result<(), TransientStoreError> {
        if tx_id.is_empty() {
            return Err(TransientStoreError::EmptyTxId);
        }
        let body = TransientEntry {
            tx_id: tx_id.to_string(),
            received_height,
            pvt_rwset: Some(pvt_rwset),
            collection_configs,
        }
        .encode_to_vec();
        let size = (HEADER_LEN + body.len()) as u64;
        let full = self.index.len() >= self.limits.max_entries
            || self.stats.bytes.saturating_add(size) > self.limits.max_bytes
            || u32::try_from(body.len()).is_err();
        if full {
            self.stats.refused_full += 1;
            return Err(TransientStoreError::Full {
                entries: self.index.len(),
                bytes: self.stats.bytes,
                max_entries: self.limits.max_entries,
                max_bytes: self.limits.max_bytes,
            });
        }
        let key = (received_height, self.next_seq);
        self.next_seq += 1;
        let path = self.path_of(key);
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}", key.1));
        let written = write_file(&tmp, &body).and_then(|()| {
            fs::rename(&tmp, &path).map_err(|source| TransientStoreError::Io {
                path: path.clone(),
                source,
            })
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            self.stats.io_errors += 1;
            return Err(e);
        }
        self.insert(key, tx_id.to_string(), size);
        self.stats.stored += 1;
        Ok(())
    }

    /// Every entry stored for `tx_id`, oldest first. Unreadable files are skipped and
    /// counted (and a corrupt one is set aside).
    pub fn entries_of(&mut self, tx_id: &str) -> Vec<TransientEntry> {
        let keys: Vec<EntryKey> = self
            .by_tx
            .get(tx_id)
            .map(|k| k.iter().copied().collect())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let path = self.path_of(key);
            match read_entry(&path) {
                Ok((entry, _)) if entry.tx_id == tx_id => out.push(entry),
                Ok(_) => {
                    self.set_aside(&path, "tx id differs from the index");
                    self.unindex(key);
                }
                Err(TransientStoreError::Corrupt { reason, .. }) => {
                    self.set_aside(&path, &reason);
                    self.unindex(key);
                }
                Err(e) => {
                    self.stats.io_errors += 1;
                    tracing::warn!(error = %e, "transient store entry unreadable");
                }
            }
        }
        out
    }

    /// Drops every entry of these transactions (their block committed).
    pub fn purge_by_tx_ids<'a>(&mut self, tx_ids: impl IntoIterator<Item = &'a str>) {
        for tx_id in tx_ids {
            let keys: Vec<EntryKey> = self
                .by_tx
                .get(tx_id)
                .map(|k| k.iter().copied().collect())
                .unwrap_or_default();
            for key in keys {
                self.remove(key);
            }
        }
    }

    /// Drops every entry received below `height`.
    pub fn purge_below_height(&mut self, height: u64) {
        let keys: Vec<EntryKey> = self.index.range(..(height, 0)).map(|(k, _)| *k).collect();
        for key in keys {
            self.remove(key);
        }
    }

    /// Lowest received height stored, if any.
    pub fn min_height(&self) -> Option<u64> {
        self.index.keys().next().map(|k| k.0)
    }

    pub fn contains_tx(&self, tx_id: &str) -> bool {
        self.by_tx.contains_key(tx_id)
    }

    pub fn stats(&self) -> TransientStoreStats {
        self.stats
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, (height, seq): EntryKey) -> PathBuf {
        self.dir.join(format!("{height:020}-{seq:016x}.{SUFFIX}"))
    }

    fn insert(&mut self, key: EntryKey, tx_id: String, size: u64) {
        self.by_tx.entry(tx_id.clone()).or_default().insert(key);
        self.index.insert(key, EntryMeta { tx_id, size });
        self.stats.entries = self.index.len();
        self.stats.bytes += size;
    }

    fn unindex(&mut self, key: EntryKey) {
        let Some(meta) = self.index.remove(&key) else {
            return;
        };
        if let Some(keys) = self.by_tx.get_mut(&meta.tx_id) {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_tx.remove(&meta.tx_id);
            }
        }
        self.stats.entries = self.index.len();
        self.stats.bytes = self.stats.bytes.saturating_sub(meta.size);
    }

    fn remove(&mut self, key: EntryKey) {
        self.unindex(key);
        self.stats.purged += 1;
        if let Err(e) = fs::remove_file(self.path_of(key)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                // The file comes back at the next open and is purged again then.
                self.stats.io_errors += 1;
                tracing::warn!(error = %e, "removing a transient store entry failed");
            }
        }
    }

    fn set_aside(&mut self, path: &Path, reason: &str) {
        self.stats.corrupt += 1;
        tracing::warn!(path = %path.display(), reason, "corrupt transient store entry set aside");
        let aside = path.with_extension("corrupt");
        if fs::rename(path, aside).is_err() {
            self.stats.io_errors += 1;
        }
    }
}

fn parse_name(name: &str) -> Option<EntryKey> {
    let stem = name.strip_suffix(&format!(".{SUFFIX}"))?;
    let (height, seq) = stem.split_once('-')?;
    Some((height.parse().ok()?, u64::from_str_radix(seq, 16).ok()?))
}

fn checksum(body: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(body);
    c.finish()
}

fn write_file(path: &Path, body: &[u8]) -> Result<(), TransientStoreError> {
    let io = |source| TransientStoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&checksum(body).to_le_bytes());
    bytes.extend_from_slice(body);
    let mut f = fs::File::create(path).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    // The ack promises the entry survives a crash.
    f.sync_all().map_err(io)
}

fn read_entry(path: &Path) -> Result<(TransientEntry, u64), TransientStoreError> {
    let bytes = fs::read(path).map_err(|source| TransientStoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let corrupt = |reason: String| TransientStoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "{} bytes, shorter than a header",
            bytes.len()
        )));
    }
    let body_len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let body = &bytes[HEADER_LEN..];
    if body.len() != body_len {
        return Err(corrupt(format!(
            "body of {} bytes, header says {body_len}",
            body.len()
        )));
    }
    if checksum(body) != crc {
        return Err(corrupt("CRC mismatch".into()));
    }
    let entry = TransientEntry::decode(body).map_err(|e| corrupt(format!("undecodable: {e}")))?;
    Ok((entry, bytes.len() as u64))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::rwset::{CollectionPvtReadWriteSet, NsPvtReadWriteSet};

    pub fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "fabgossip-transient-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    pub fn rwset(ns: &str, coll: &str, data: &[u8]) -> TxPvtReadWriteSet {
        TxPvtReadWriteSet {
            data_model: 0,
            ns_pvt_rwset: vec![NsPvtReadWriteSet {
                namespace: ns.into(),
                collection_pvt_rwset: vec![CollectionPvtReadWriteSet {
                    collection_name: coll.into(),
                    rwset: data.to_vec(),
                }],
            }],
        }
    }

    fn files(dir: &Path, ext: &str) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == ext)
            })
            .count()
    }

    #[test]
    fn entries_survive_reopen() {
        let dir = tempdir("reopen");
        {
            let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
            s.persist("tx1", 5, rwset("cc", "c1", b"one"), Vec::new())
                .unwrap();
            s.persist("tx1", 6, rwset("cc", "c2", b"two"), Vec::new())
                .unwrap();
            s.persist("tx2", 7, rwset("cc", "c1", b"three"), Vec::new())
                .unwrap();
            assert_eq!(s.stats().entries, 3);
        }
        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        assert_eq!(s.stats().entries, 3);
        let e = s.entries_of("tx1");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].rwsets_of("cc", "c1"), vec![b"one".to_vec()]);
        assert_eq!(e[1].rwsets_of("cc", "c2"), vec![b"two".to_vec()]);
        assert!(e[0].rwsets_of("cc", "c2").is_empty());
        assert_eq!(s.min_height(), Some(5));
        // New entries never reuse a file of the old ones.
        s.persist("tx3", 5, rwset("cc", "c1", b"x"), Vec::new())
            .unwrap();
        assert_eq!(s.entries_of("tx1").len(), 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn purge_by_height_and_by_tx_id() {
        let dir = tempdir("purge");
        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        for (i, tx) in ["a", "b", "c", "d"].iter().enumerate() {
            s.persist(tx, 10 + i as u64, rwset("cc", "c", b"v"), Vec::new())
                .unwrap();
        }
        s.purge_below_height(12);
        assert!(!s.contains_tx("a") && !s.contains_tx("b"));
        assert!(s.contains_tx("c"));
        s.purge_by_tx_ids(["c", "unknown"]);
        assert!(!s.contains_tx("c"));
        assert_eq!(s.stats().entries, 1);
        assert_eq!(s.stats().purged, 3);
        assert_eq!(files(&dir, SUFFIX), 1);
        drop(s);
        let s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        assert_eq!(s.stats().entries, 1);
        assert!(s.contains_tx("d"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_caps_refuse_and_count() {
        let dir = tempdir("caps");
        let limits = TransientStoreLimits {
            max_bytes: u64::MAX,
            max_entries: 2,
        };
        let mut s = TransientStore::open(&dir, limits).unwrap();
        s.persist("a", 1, rwset("cc", "c", b"v"), Vec::new())
            .unwrap();
        s.persist("b", 1, rwset("cc", "c", b"v"), Vec::new())
            .unwrap();
        let err = s.persist("c", 1, rwset("cc", "c", b"v"), Vec::new());
        assert!(matches!(err, Err(TransientStoreError::Full { .. })));
        assert_eq!(s.stats().refused_full, 1);
        s.purge_by_tx_ids(["a"]);
        s.persist("c", 1, rwset("cc", "c", b"v"), Vec::new())
            .unwrap();

        let dir2 = tempdir("caps-bytes");
        let limits = TransientStoreLimits {
            max_bytes: 100,
            max_entries: 10,
        };
        let mut s = TransientStore::open(&dir2, limits).unwrap();
        let err = s.persist("big", 1, rwset("cc", "c", &[0; 200]), Vec::new());
        assert!(matches!(err, Err(TransientStoreError::Full { .. })));
        assert_eq!(s.stats().entries, 0);
        assert!(matches!(
            s.persist("", 1, rwset("cc", "c", b"v"), Vec::new()),
            Err(TransientStoreError::EmptyTxId)
        ));
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&dir2);
    }

    #[test]
    fn corrupt_files_are_set_aside_and_counted() {
        let dir = tempdir("corrupt");
        {
            let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
            s.persist("good", 1, rwset("cc", "c", b"v"), Vec::new())
                .unwrap();
            s.persist("flipped", 2, rwset("cc", "c", b"w"), Vec::new())
                .unwrap();
            s.persist("torn", 3, rwset("cc", "c", b"x"), Vec::new())
                .unwrap();
        }
        let path = |h: u64, seq: u64| dir.join(format!("{h:020}-{seq:016x}.{SUFFIX}"));
        let mut bytes = fs::read(path(2, 1)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(path(2, 1), bytes).unwrap();
        let bytes = fs::read(path(3, 2)).unwrap();
        fs::write(path(3, 2), &bytes[..bytes.len() - 2]).unwrap();
        fs::write(
            dir.join("00000000000000000004-0000000000000009.pvt"),
            b"abc",
        )
        .unwrap();
        fs::write(dir.join(".tmp-7"), b"half").unwrap();

        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        assert_eq!(s.stats().corrupt, 3);
        assert_eq!(s.stats().entries, 1);
        assert_eq!(s.entries_of("good").len(), 1);
        assert_eq!(files(&dir, "corrupt"), 3);
        assert!(!dir.join(".tmp-7").exists());

        // A file damaged after open is found at read, set aside and counted.
        fs::write(path(1, 0), b"garbage!garbage").unwrap();
        assert!(s.entries_of("good").is_empty());
        assert_eq!(s.stats().corrupt, 4);
        assert!(!s.contains_tx("good"));
        let _ = fs::remove_dir_all(&dir);
    }
}
