//! One committed block on disk.
//!
//! ```text
//! header (16 bytes): body_len u32 LE | crc32 u32 LE | seq u64 LE
//! body:              block_len u32 LE | block | pvt_count u32 LE | (pvt_len u32 LE | pvt)*
//! ```
//! The CRC covers the sequence number and the body, so a torn write, a stray byte or a
//! record from another position is detected.

use super::crc32::Crc32;
use super::LedgerError;

pub const HEADER_LEN: usize = 16;

/// Smallest body a record may have: the block length and the private data count.
pub const MIN_BODY_LEN: u64 = 8;

/// Largest body a record may have: the u32 length prefix.
pub const MAX_BODY_LEN: u64 = u32::MAX as u64;

/// The fixed part of a record, read first to learn how much follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub body_len: u32,
    pub crc: u32,
    pub seq: u64,
}

impl RecordHeader {
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Self {
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[8..16]);
        RecordHeader {
            body_len: u32_at(0),
            crc: u32_at(4),
            seq: u64::from_le_bytes(seq),
        }
    }

    /// Header plus body, in bytes.
    pub fn record_len(&self) -> u64 {
        HEADER_LEN as u64 + self.body_len as u64
    }
}

fn checksum(seq: u64, body: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(&seq.to_le_bytes());
    c.update(body);
    c.finish()
}

fn len_u32(len: usize, what: &str) -> Result<u32, LedgerError> {
    u32::try_from(len).map_err(|_| {
        LedgerError::MalformedBlock(format!("{what} of {len} bytes is too large to store"))
    })
}

/// The whole record for block `seq`.
pub fn encode(seq: u64, block: &[u8], private_data: &[Vec<u8>]) -> Result<Vec<u8>, LedgerError> {
    let body_len =
        8 + block.len() as u64 + private_data.iter().map(|p| 4 + p.len() as u64).sum::<u64>();
    if body_len > MAX_BODY_LEN {
        return Err(LedgerError::MalformedBlock(format!(
            "block {seq} with its private data is {body_len} bytes, more than a record holds"
        )));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body_len as usize);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&len_u32(block.len(), "block")?.to_le_bytes());
    out.extend_from_slice(block);
    out.extend_from_slice(&len_u32(private_data.len(), "private data list")?.to_le_bytes());
    for p in private_data {
        out.extend_from_slice(&len_u32(p.len(), "private data")?.to_le_bytes());
        out.extend_from_slice(p);
    }
    let crc = checksum(seq, &out[HEADER_LEN..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Checks `body` against its header: checksum, and that the lengths inside add up.
pub fn check_body(header: &RecordHeader, body: &[u8]) -> Result<(), String> {
    if body.len() != header.body_len as usize {
        return Err(format!(
            "body of {} bytes, header says {}",
            body.len(),
            header.body_len
        ));
    }
    if checksum(header.seq, body) != header.crc {
        return Err(format!("checksum mismatch in record {}", header.seq));
    }
    decode_body(body).map(|_| ())
}

/// Splits a body into the block and its private data.
pub fn decode_body(body: &[u8]) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let mut rest = body;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err(format!(
                "record body truncated: need {n} bytes, {} left",
                rest.len()
            ));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let read_len = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let block_len = read_len(take(4)?);
    let block = take(block_len)?.to_vec();
    let count = read_len(take(4)?);
    // Each entry needs at least its 4-byte length, which bounds the allocation.
    let mut pvt = Vec::with_capacity(count.min(body.len() / 4));
    for _ in 0..count {
        let n = read_len(take(4)?);
        pvt.push(take(n)?.to_vec());
    }
    if !rest.is_empty() {
        return Err(format!("{} stray bytes after the record body", rest.len()));
    }
    Ok((block, pvt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detected() {
        let rec = encode(7, b"block", &[b"p1".to_vec(), Vec::new()]).unwrap();
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&rec[..HEADER_LEN]);
        let header = RecordHeader::parse(&h);
        assert_eq!(header.seq, 7);
        assert_eq!(header.record_len(), rec.len() as u64);
        check_body(&header, &rec[HEADER_LEN..]).unwrap();
        let (block, pvt) = decode_body(&rec[HEADER_LEN..]).unwrap();
        assert_eq!(block, b"block");
        assert_eq!(pvt, vec![b"p1".to_vec(), Vec::new()]);

        let mut damaged = rec.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(check_body(&header, &damaged[HEADER_LEN..]).is_err());
        // Same body under another sequence number fails the checksum.
        let moved = RecordHeader { seq: 8, ..header };
        assert!(check_body(&moved, &rec[HEADER_LEN..]).is_err());
    }
}
