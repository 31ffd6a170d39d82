//! The private data committed blocks lack: which collections of which transactions, and
//! whether this peer was eligible for them (an ineligible entry is kept so the data can be
//! fetched should the peer become eligible; eligible ones are what reconciliation fetches).
//!
//! The file ledger keeps the list beside the blocks in `missing.pvt`, rewritten whole on
//! each change under a temporary name, synced, then renamed, so a crash leaves the old list
//! or the new one:
//!
//! ```text
//! header (8 bytes): body_len u32 LE | crc32 u32 LE
//! body:             MissingList (protobuf)
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use prost::Message;

use super::crc32::Crc32;
use super::LedgerError;
use crate::proto::gossip::PvtDataDigest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPvtData {
    pub digest: PvtDataDigest,
    pub eligible: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MissingEntry {
    #[prost(message, optional, tag = "1")]
    digest: Option<PvtDataDigest>,
    #[prost(bool, tag = "2")]
    eligible: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MissingList {
    #[prost(message, repeated, tag = "1")]
    entries: Vec<MissingEntry>,
}

/// The missing lists by block number.
pub type MissingByBlock = BTreeMap<u64, Vec<MissingPvtData>>;

pub const FILE: &str = "missing.pvt";
const TMP: &str = ".missing.pvt.tmp";
const HEADER_LEN: usize = 8;

fn checksum(body: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(body);
    c.finish()
}

/// Reads `dir/missing.pvt`; no file is an empty list. A file failing its length or CRC
/// check is an error naming it.
pub fn load(dir: &Path) -> Result<MissingByBlock, LedgerError> {
    let path = dir.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MissingByBlock::new()),
        Err(source) => {
            return Err(LedgerError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let corrupt = |why: &str| LedgerError::Corrupt(format!("{}: {why}", path.display()));
    if bytes.len() < HEADER_LEN {
        return Err(corrupt("shorter than its header"));
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let body = &bytes[HEADER_LEN..];
    if body.len() != len || checksum(body) != crc {
        return Err(corrupt("length or CRC mismatch"));
    }
    let list = MissingList::decode(body).map_err(|e| corrupt(&e.to_string()))?;
    let mut out = MissingByBlock::new();
    for e in list.entries {
        let Some(digest) = e.digest else { continue };
        out.entry(digest.block_seq)
            .or_default()
            .push(MissingPvtData {
                digest,
                eligible: e.eligible,
            });
    }
    Ok(out)
}

/// Replaces `dir/missing.pvt` with `all`, durably.
pub fn store(dir: &Path, all: &MissingByBlock) -> Result<(), LedgerError> {
    let body = MissingList {
        entries: all
            .values()
            .flatten()
            .map(|m| MissingEntry {
                digest: Some(m.digest.clone()),
                eligible: m.eligible,
            })
            .collect(),
    }
    .encode_to_vec();
    let len = u32::try_from(body.len())
        .map_err(|_| LedgerError::Corrupt(format!("missing list of {} bytes", body.len())))?;
    let tmp = dir.join(TMP);
    let path = dir.join(FILE);
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| LedgerError::Io { path: p, source }
    };
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(&checksum(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(block: u64, coll: &str, eligible: bool) -> MissingPvtData {
        MissingPvtData {
            digest: PvtDataDigest {
                tx_id: format!("tx{block}"),
                namespace: "cc".into(),
                collection: coll.into(),
                block_seq: block,
                seq_in_block: 0,
            },
            eligible,
        }
    }

    #[test]
    fn the_list_survives_a_reload_and_damage_is_reported() {
        let dir = std::env::temp_dir().join(format!("fabgossip-missing-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir).unwrap().is_empty());
        let all = MissingByBlock::from([
            (3, vec![m(3, "a", true), m(3, "b", false)]),
            (9, vec![m(9, "c", true)]),
        ]);
        store(&dir, &all).unwrap();
        assert_eq!(load(&dir).unwrap(), all);
        let mut bytes = fs::read(dir.join(FILE)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(dir.join(FILE), bytes).unwrap();
        assert!(matches!(load(&dir), Err(LedgerError::Corrupt(_))));
        let _ = fs::remove_dir_all(&dir);
    }
}
