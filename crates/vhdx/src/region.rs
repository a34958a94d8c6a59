//! Region table (MS-VHDX §2.2.3): two 64 KiB copies at 192 KiB and 256 KiB.

use crate::util::*;
use uuid::{uuid, Uuid};

/// Signature "regi".
pub const SIGNATURE: &[u8; 4] = b"regi";
/// Size of one copy (the checksum covers all of it).
pub const SIZE: usize = 64 * 1024;
/// File offsets of the two copies.
pub const OFFSETS: [u64; 2] = [192 * KIB, 256 * KIB];
/// Most entries a table may hold.
pub const MAX_ENTRIES: u32 = 2047;
/// BAT region GUID.
pub const BAT_GUID: Uuid = uuid!("2DC27766-F623-4200-9D64-115E9BFD4A08");
/// Metadata region GUID.
pub const METADATA_GUID: Uuid = uuid!("8B7CA206-4790-4B9A-B8FE-575F050F886E");

/// One region table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEntry {
    /// Region type.
    pub guid: Uuid,
    /// File offset (1 MiB multiple, ≥ 1 MiB).
    pub file_offset: u64,
    /// Length in bytes (1 MiB multiple).
    pub length: u32,
    /// Bit 0 of the flags: an unknown required region stops the open.
    pub required: bool,
}

/// A parsed region table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionTable {
    /// Entries in on-disk order.
    pub entries: Vec<RegionEntry>,
}

/// Why a region table copy was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionProblem {
    /// Not "regi".
    Signature,
    /// CRC-32C mismatch.
    Checksum,
    /// EntryCount above 2047.
    TooManyEntries(u32),
}

impl std::fmt::Display for RegionProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegionProblem::Signature => write!(f, "bad signature"),
            RegionProblem::Checksum => write!(f, "bad CRC-32C"),
            RegionProblem::TooManyEntries(n) => write!(f, "{n} entries (max {MAX_ENTRIES})"),
        }
    }
}

impl RegionTable {
    /// Parse one 64 KiB copy.
    pub fn parse(b: &[u8]) -> Result<Self, RegionProblem> {
        if b.len() < SIZE || &b[..4] != SIGNATURE {
            return Err(RegionProblem::Signature);
        }
        if !crc_ok(&b[..SIZE], 4) {
            return Err(RegionProblem::Checksum);
        }
        let n = u32_at(b, 8);
        if n > MAX_ENTRIES {
            return Err(RegionProblem::TooManyEntries(n));
        }
        let entries = (0..n as usize)
            .map(|i| {
                let o = 16 + 32 * i;
                RegionEntry {
                    guid: guid_at(b, o),
                    file_offset: u64_at(b, o + 16),
                    length: u32_at(b, o + 24),
                    required: u32_at(b, o + 28) & 1 != 0,
                }
            })
            .collect();
        Ok(RegionTable { entries })
    }

    /// Serialise to 64 KiB with a valid checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        b[..4].copy_from_slice(SIGNATURE);
        put_u32(&mut b, 8, self.entries.len() as u32);
        for (i, e) in self.entries.iter().enumerate() {
            let o = 16 + 32 * i;
            put_guid(&mut b, o, &e.guid);
            put_u64(&mut b, o + 16, e.file_offset);
            put_u32(&mut b, o + 24, e.length);
            put_u32(&mut b, o + 28, e.required as u32);
        }
        set_crc(&mut b, 4);
        b
    }

    /// The entry for a region type.
    pub fn find(&self, guid: &Uuid) -> Option<&RegionEntry> {
        self.entries.iter().find(|e| &e.guid == guid)
    }
}
