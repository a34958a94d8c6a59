//! Block allocation table (MS-VHDX §2.5): payload entries interleaved with
//! one sector-bitmap entry per chunk.

use crate::util::MIB;

/// Payload block states (§2.5.1.1) and sector bitmap states (§2.5.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadState {
    /// 0: not present (dynamic: zeros; differencing: read the parent).
    NotPresent,
    /// 1: contents undefined (read as zeros).
    Undefined,
    /// 2: reads return zeros.
    Zero,
    /// 3 (and 5, the v0.95 value): unmapped by trim; read as zeros.
    Unmapped,
    /// 6: data at the file offset.
    FullyPresent,
    /// 7: consult the sector bitmap (differencing only).
    PartiallyPresent,
}

/// `PAYLOAD_BLOCK_NOT_PRESENT` / `SB_BLOCK_NOT_PRESENT`.
pub const NOT_PRESENT: u64 = 0;
/// `PAYLOAD_BLOCK_UNDEFINED`.
pub const UNDEFINED: u64 = 1;
/// `PAYLOAD_BLOCK_ZERO`.
pub const ZERO: u64 = 2;
/// `PAYLOAD_BLOCK_UNMAPPED`.
pub const UNMAPPED: u64 = 3;
/// `PAYLOAD_BLOCK_UNMAPPED` as numbered in the v0.95 draft.
pub const UNMAPPED_V095: u64 = 5;
/// `PAYLOAD_BLOCK_FULLY_PRESENT` / `SB_BLOCK_PRESENT`.
pub const FULLY_PRESENT: u64 = 6;
/// `PAYLOAD_BLOCK_PARTIALLY_PRESENT`.
pub const PARTIALLY_PRESENT: u64 = 7;
/// Bits 3..19 must be zero.
pub const RESERVED_MASK: u64 = 0x000F_FFF8;

impl PayloadState {
    /// Decode the state bits; `None` for the reserved value 4.
    pub fn from_bits(v: u64) -> Option<Self> {
        Some(match v & 7 {
            NOT_PRESENT => Self::NotPresent,
            UNDEFINED => Self::Undefined,
            ZERO => Self::Zero,
            UNMAPPED | UNMAPPED_V095 => Self::Unmapped,
            FULLY_PRESENT => Self::FullyPresent,
            PARTIALLY_PRESENT => Self::PartiallyPresent,
            _ => return None,
        })
    }
}

/// A BAT entry (§2.5.1): state in bits 0–2, FileOffsetMB in bits 20–63.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatEntry(pub u64);

impl BatEntry {
    /// Build an entry; states 0–3 always get offset 0 (Hyper-V refuses
    /// others).
    pub fn new(state: u64, file_offset: u64) -> Self {
        let off = if matches!(state, FULLY_PRESENT | PARTIALLY_PRESENT) {
            file_offset / MIB
        } else {
            0
        };
        BatEntry((off << 20) | state)
    }
    /// State bits.
    pub fn state_bits(self) -> u64 {
        self.0 & 7
    }
    /// File offset in bytes.
    pub fn file_offset(self) -> u64 {
        self.0 & !(MIB - 1)
    }
    /// Reserved bits are non-zero.
    pub fn reserved_set(self) -> bool {
        self.0 & RESERVED_MASK != 0
    }
}

/// Derived sizes (§2.5: chunk ratio, entry counts, interleaving).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Virtual size in bytes.
    pub virtual_size: u64,
    /// Payload block size.
    pub block_size: u64,
    /// Logical sector size.
    pub logical_sector_size: u64,
    /// Payload blocks per sector bitmap block.
    pub chunk_ratio: u64,
    /// Payload blocks.
    pub data_blocks: u64,
    /// Sector bitmap blocks.
    pub bitmap_blocks: u64,
    /// Entries the BAT must hold.
    pub total_entries: u64,
}

impl Geometry {
    /// Compute the geometry. Inputs must already be validated.
    pub fn new(virtual_size: u64, block_size: u32, logical: u32, has_parent: bool) -> Self {
        let block_size = block_size as u64;
        let logical = logical as u64;
        let chunk_ratio = ((1u64 << 23) * logical) / block_size;
        let data_blocks = virtual_size.div_ceil(block_size);
        let bitmap_blocks = data_blocks.div_ceil(chunk_ratio);
        let total_entries = if has_parent {
            bitmap_blocks * (chunk_ratio + 1)
        } else {
            data_blocks + data_blocks.saturating_sub(1) / chunk_ratio
        };
        Geometry {
            virtual_size,
            block_size,
            logical_sector_size: logical,
            chunk_ratio,
            data_blocks,
            bitmap_blocks,
            total_entries,
        }
    }
    /// BAT index of payload block `i`.
    pub fn payload_index(&self, i: u64) -> u64 {
        i + i / self.chunk_ratio
    }
    /// BAT index of the sector bitmap entry of chunk `k`.
    pub fn bitmap_index(&self, k: u64) -> u64 {
        k * (self.chunk_ratio + 1) + self.chunk_ratio
    }
    /// Is BAT index `idx` a sector bitmap entry?
    pub fn is_bitmap_index(&self, idx: u64) -> bool {
        idx % (self.chunk_ratio + 1) == self.chunk_ratio
    }
    /// Bytes of BAT region needed, rounded up to 1 MiB.
    pub fn bat_region_len(&self) -> u64 {
        crate::util::round_up(self.total_entries * 8, MIB).max(MIB)
    }
    /// Sectors per payload block.
    pub fn sectors_per_block(&self) -> u64 {
        self.block_size / self.logical_sector_size
    }
}
