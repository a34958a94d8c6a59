//! The base block (regf specification, "Base block"): the first 4096 bytes
//! of a primary hive or of a transaction log.
//!
//! ```text
//! 0x000 "regf"           0x004 primary sequence   0x008 secondary sequence
//! 0x00C last written     0x014 major (1)          0x018 minor (3, 5, ...)
//! 0x01C file type        0x020 file format (1)    0x024 root cell offset
//! 0x028 hive bins size   0x02C clustering factor  0x030 file name (64 bytes)
//! 0x1FC checksum: XOR of the 127 dwords before it (0 -> 1, -1 -> -2)
//! ```
//! A hive is clean when both sequence numbers are equal.

use crate::error::{Error, ErrorKind, Result};

pub const BASE_BLOCK_SIZE: usize = 4096;
pub const SIGNATURE: &[u8; 4] = b"regf";
/// File type: primary hive.
pub const TYPE_PRIMARY: u32 = 0;
/// File type: old-format transaction log.
pub const TYPE_LOG_OLD: u32 = 1;
/// File type: new-format transaction log (Windows 8.1 and later).
pub const TYPE_LOG_NEW: u32 = 6;

pub(crate) fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
pub(crate) fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
pub(crate) fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
pub(crate) fn put_u16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// The checksum of a base block (first 508 bytes).
pub fn checksum(block: &[u8]) -> u32 {
    let mut x = 0u32;
    for i in 0..127 {
        x ^= u32_at(block, i * 4);
    }
    match x {
        0 => 1,
        0xFFFF_FFFF => 0xFFFF_FFFE,
        v => v,
    }
}

/// Decoded base block fields.
#[derive(Clone, Debug)]
pub struct BaseBlock {
    pub primary_seq: u32,
    pub secondary_seq: u32,
    pub timestamp: u64,
    pub major: u32,
    pub minor: u32,
    pub file_type: u32,
    pub root_offset: u32,
    pub hbins_size: u32,
    pub checksum_ok: bool,
    /// The raw 4096 bytes (kept so fields we don't model survive a rewrite).
    pub raw: Vec<u8>,
}

impl BaseBlock {
    /// Parse the base block at the start of `data`. `check_sum` makes a
    /// checksum mismatch an error.
    pub fn parse(data: &[u8], check_sum: bool) -> Result<BaseBlock> {
        const S: &str = "base block";
        if data.len() < 512 {
            return Err(Error::at(0, S, ErrorKind::Truncated));
        }
        if &data[0..4] != SIGNATURE {
            return Err(Error::at(0, S, ErrorKind::BadSignature));
        }
        let stored = u32_at(data, 0x1FC);
        let computed = checksum(data);
        if check_sum && stored != computed {
            return Err(Error::at(
                0x1FC,
                S,
                ErrorKind::BadChecksum { stored, computed },
            ));
        }
        let major = u32_at(data, 0x14);
        let minor = u32_at(data, 0x18);
        if major != 1 || !(2..=6).contains(&minor) {
            return Err(Error::at(
                0x14,
                S,
                ErrorKind::Unsupported(format!("format version {major}.{minor}")),
            ));
        }
        let mut raw = vec![0u8; BASE_BLOCK_SIZE];
        let n = data.len().min(BASE_BLOCK_SIZE);
        raw[..n].copy_from_slice(&data[..n]);
        Ok(BaseBlock {
            primary_seq: u32_at(data, 4),
            secondary_seq: u32_at(data, 8),
            timestamp: u64_at(data, 0x0C),
            major,
            minor,
            file_type: u32_at(data, 0x1C),
            root_offset: u32_at(data, 0x24),
            hbins_size: u32_at(data, 0x28),
            checksum_ok: stored == computed,
            raw,
        })
    }

    /// Is the hive dirty (a write was interrupted)?
    pub fn is_dirty(&self) -> bool {
        self.primary_seq != self.secondary_seq
    }
}

/// Fill the owned fields of a primary base block in `raw` (4096 bytes) and
/// recompute its checksum.
pub(crate) fn write_primary(
    raw: &mut [u8],
    seq: u32,
    timestamp: u64,
    minor: u32,
    root: u32,
    hbins_size: u32,
) {
    raw[0..4].copy_from_slice(SIGNATURE);
    put_u32(raw, 4, seq);
    put_u32(raw, 8, seq);
    put_u64(raw, 0x0C, timestamp);
    put_u32(raw, 0x14, 1);
    put_u32(raw, 0x18, minor);
    put_u32(raw, 0x1C, TYPE_PRIMARY);
    put_u32(raw, 0x20, 1);
    put_u32(raw, 0x24, root);
    put_u32(raw, 0x28, hbins_size);
    put_u32(raw, 0x2C, 1);
    let c = checksum(raw);
    put_u32(raw, 0x1FC, c);
}

/// Recompute and store the checksum of a base block.
pub fn fix_checksum(raw: &mut [u8]) {
    let c = checksum(raw);
    put_u32(raw, 0x1FC, c);
}
