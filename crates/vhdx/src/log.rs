//! The metadata log (MS-VHDX §2.3): entries, descriptors, data sectors,
//! the search for the active sequence, and building new entries.

use crate::util::*;
use std::collections::HashMap;
use uuid::Uuid;

/// Entry header signature "loge" (§2.3.1.1).
pub const ENTRY_SIGNATURE: &[u8; 4] = b"loge";
/// Zero descriptor signature "zero" (§2.3.1.2).
pub const ZERO_SIGNATURE: &[u8; 4] = b"zero";
/// Data descriptor signature "desc" (§2.3.1.3).
pub const DESC_SIGNATURE: &[u8; 4] = b"desc";
/// Data sector signature "data" (§2.3.1.4).
pub const DATA_SIGNATURE: &[u8; 4] = b"data";
/// Log sector size.
pub const SECTOR: usize = 4096;
/// Descriptors in the first sector of an entry (after the 64-byte header).
pub const FIRST_SECTOR_DESCRIPTORS: usize = 126;
/// Descriptors in each further descriptor sector.
pub const DESCRIPTORS_PER_SECTOR: usize = 128;

/// One update an entry applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOp {
    /// Write 4 KiB at a 4 KiB aligned file offset.
    Data {
        /// File offset.
        offset: u64,
        /// The 4096 bytes.
        data: Box<[u8]>,
    },
    /// Zero `length` bytes at `offset`.
    Zero {
        /// File offset.
        offset: u64,
        /// Length in bytes (4 KiB multiple).
        length: u64,
    },
}

/// A parsed, valid log entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Offset of the entry within the log.
    pub log_offset: u64,
    /// Entry length.
    pub length: u64,
    /// Offset within the log of the first entry of its sequence.
    pub tail: u64,
    /// Sequence number.
    pub sequence: u64,
    /// File size known stable when the entry was written.
    pub flushed_file_offset: u64,
    /// File size all structures fit in.
    pub last_file_offset: u64,
    /// The updates.
    pub ops: Vec<LogOp>,
}

/// The sequence to replay, tail first.
#[derive(Debug, Clone)]
pub struct ActiveSequence {
    /// Entries from tail to head.
    pub entries: Vec<LogEntry>,
}

impl ActiveSequence {
    /// The newest entry.
    pub fn head(&self) -> &LogEntry {
        self.entries.last().expect("a sequence is never empty")
    }
}

/// Read `len` bytes of the circular log starting at `off`.
fn circular(log: &[u8], off: usize, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut p = off % log.len();
    while v.len() < len {
        let n = (len - v.len()).min(log.len() - p);
        v.extend_from_slice(&log[p..p + n]);
        p = (p + n) % log.len();
    }
    v
}

/// Parse the entry at `off` within `log`; `None` if it is not a valid entry
/// for `guid`.
pub fn parse_entry(log: &[u8], off: usize, guid: &Uuid) -> Option<LogEntry> {
    let l = log.len();
    if l == 0 || off % SECTOR != 0 || off + 64 > l {
        return None;
    }
    let h = &log[off..off + 64];
    if &h[..4] != ENTRY_SIGNATURE {
        return None;
    }
    let length = u32_at(h, 8) as usize;
    let tail = u32_at(h, 12) as usize;
    let sequence = u64_at(h, 16);
    let count = u32_at(h, 24) as usize;
    if length == 0 || length % SECTOR != 0 || length > l || tail % SECTOR != 0 || tail >= l {
        return None;
    }
    if sequence == 0 || &guid_at(h, 32) != guid {
        return None;
    }
    let desc_sectors = (count + 2).div_ceil(DESCRIPTORS_PER_SECTOR);
    // Every data descriptor needs a data sector; bound before allocating.
    if desc_sectors * SECTOR > length {
        return None;
    }
    let e = circular(log, off, length);
    if !crc_ok(&e, 4) {
        return None;
    }
    let flushed_file_offset = u64_at(&e, 48);
    let last_file_offset = u64_at(&e, 56);
    let mut ops = Vec::with_capacity(count);
    let mut data_idx = 0usize;
    for i in 0..count {
        let d = &e[64 + 32 * i..96 + 32 * i];
        let file_offset = u64_at(d, 16);
        if u64_at(d, 24) != sequence {
            return None;
        }
        if &d[..4] == ZERO_SIGNATURE {
            let length = u64_at(d, 8);
            if length % SECTOR as u64 != 0 || file_offset % SECTOR as u64 != 0 {
                return None;
            }
            ops.push(LogOp::Zero {
                offset: file_offset,
                length,
            });
        } else if &d[..4] == DESC_SIGNATURE {
            if file_offset % SECTOR as u64 != 0 {
                return None;
            }
            let so = (desc_sectors + data_idx) * SECTOR;
            if so + SECTOR > length {
                return None;
            }
            let s = &e[so..so + SECTOR];
            if &s[..4] != DATA_SIGNATURE
                || u32_at(s, 4) as u64 != sequence >> 32
                || u32_at(s, 4092) as u64 != sequence & 0xFFFF_FFFF
            {
                return None;
            }
            let mut data = vec![0u8; SECTOR].into_boxed_slice();
            data[..8].copy_from_slice(&d[8..16]);
            data[8..4092].copy_from_slice(&s[8..4092]);
            data[4092..].copy_from_slice(&d[4..8]);
            ops.push(LogOp::Data {
                offset: file_offset,
                data,
            });
            data_idx += 1;
        } else {
            return None;
        }
    }
    Some(LogEntry {
        log_offset: off as u64,
        length: length as u64,
        tail: tail as u64,
        sequence,
        flushed_file_offset,
        last_file_offset,
        ops,
    })
}

/// Find the active sequence (§2.3.2): chains of valid entries with
/// consecutive sequence numbers whose head's tail lies inside the chain;
/// the one with the highest head sequence number wins. `None` when there is
/// no valid sequence.
pub fn find_active(log: &[u8], guid: &Uuid) -> Option<ActiveSequence> {
    if guid.is_nil() || log.is_empty() {
        return None;
    }
    let mut valid: HashMap<usize, LogEntry> = HashMap::new();
    for off in (0..log.len()).step_by(SECTOR) {
        if let Some(e) = parse_entry(log, off, guid) {
            valid.insert(off, e);
        }
    }
    let next_of = |e: &LogEntry| ((e.log_offset + e.length) % log.len() as u64) as usize;
    let mut has_pred = std::collections::HashSet::new();
    for e in valid.values() {
        if let Some(n) = valid.get(&next_of(e)) {
            if n.sequence == e.sequence.wrapping_add(1) {
                has_pred.insert(n.log_offset as usize);
            }
        }
    }
    let mut starts: Vec<usize> = valid
        .keys()
        .copied()
        .filter(|o| !has_pred.contains(o))
        .collect();
    if starts.is_empty() {
        // Every entry has a predecessor: a full cycle; start at the oldest.
        starts.extend(
            valid
                .values()
                .min_by_key(|e| e.sequence)
                .map(|e| e.log_offset as usize),
        );
    }
    let mut best: Option<Vec<usize>> = None;
    let mut best_seq = 0u64;
    for s in starts {
        let mut chain = vec![s];
        let mut seen = std::collections::HashSet::from([s]);
        loop {
            let cur = &valid[chain.last().expect("non-empty")];
            let n = next_of(cur);
            match valid.get(&n) {
                Some(ne) if ne.sequence == cur.sequence.wrapping_add(1) && seen.insert(n) => {
                    chain.push(n)
                }
                _ => break,
            }
        }
        // Every prefix of the chain ending at an entry whose tail lies in
        // the prefix is a candidate; the longest valid prefix has the
        // highest sequence.
        for end in (0..chain.len()).rev() {
            let head = &valid[&chain[end]];
            if let Some(ti) = chain[..=end].iter().position(|&o| o as u64 == head.tail) {
                if best.is_none() || head.sequence > best_seq {
                    best_seq = head.sequence;
                    best = Some(chain[ti..=end].to_vec());
                }
                break;
            }
        }
    }
    best.map(|offs| ActiveSequence {
        entries: offs.iter().map(|o| valid[o].clone()).collect(),
    })
}

/// Build one entry holding data updates (4 KiB each, 4 KiB aligned) and
/// zero updates.
pub fn build_entry(
    guid: &Uuid,
    sequence: u64,
    tail: u64,
    flushed_file_offset: u64,
    last_file_offset: u64,
    ops: &[LogOp],
) -> Vec<u8> {
    let count = ops.len();
    let ndata = ops
        .iter()
        .filter(|o| matches!(o, LogOp::Data { .. }))
        .count();
    let desc_sectors = (count + 2).div_ceil(DESCRIPTORS_PER_SECTOR);
    let length = (desc_sectors + ndata) * SECTOR;
    let mut e = vec![0u8; length];
    e[..4].copy_from_slice(ENTRY_SIGNATURE);
    put_u32(&mut e, 8, length as u32);
    put_u32(&mut e, 12, tail as u32);
    put_u64(&mut e, 16, sequence);
    put_u32(&mut e, 24, count as u32);
    put_guid(&mut e, 32, guid);
    put_u64(&mut e, 48, flushed_file_offset);
    put_u64(&mut e, 56, last_file_offset);
    let mut di = 0;
    for (i, op) in ops.iter().enumerate() {
        let d = 64 + 32 * i;
        match op {
            LogOp::Zero { offset, length } => {
                e[d..d + 4].copy_from_slice(ZERO_SIGNATURE);
                put_u64(&mut e, d + 8, *length);
                put_u64(&mut e, d + 16, *offset);
            }
            LogOp::Data { offset, data } => {
                e[d..d + 4].copy_from_slice(DESC_SIGNATURE);
                e[d + 4..d + 8].copy_from_slice(&data[4092..4096]);
                e[d + 8..d + 16].copy_from_slice(&data[..8]);
                put_u64(&mut e, d + 16, *offset);
                let s = (desc_sectors + di) * SECTOR;
                e[s..s + 4].copy_from_slice(DATA_SIGNATURE);
                put_u32(&mut e, s + 4, (sequence >> 32) as u32);
                e[s + 8..s + 4092].copy_from_slice(&data[8..4092]);
                put_u32(&mut e, s + 4092, sequence as u32);
                di += 1;
            }
        }
        put_u64(&mut e, d + 24, sequence);
    }
    set_crc(&mut e, 4);
    e
}

/// Size in bytes of an entry holding `ndata` data and `nzero` zero
/// descriptors.
pub fn entry_len(ndata: usize, nzero: usize) -> usize {
    ((ndata + nzero + 2).div_ceil(DESCRIPTORS_PER_SECTOR) + ndata) * SECTOR
}
