//! CFDATA (\[MS-CAB\] §2.4): one block of a folder's compressed stream, its
//! checksum and sizes.

use crate::format::*;
use crate::header::{u16_at, u32_at};

/// A CFDATA block located in its cabinet's bytes.
#[derive(Debug, Clone, Copy)]
pub struct RawData {
    /// csum (0 = no checksum).
    pub checksum: u32,
    /// cbData: compressed bytes.
    pub compressed: u16,
    /// cbUncomp: uncompressed bytes (0 = the block continues in the next
    /// cabinet of the set).
    pub uncompressed: u16,
    /// Offset of the data bytes (after the header and its reserve).
    pub data_start: usize,
    /// Offset just past the block.
    pub end: usize,
}

/// Why a CFDATA block could not be read.
#[derive(Debug)]
pub enum DataError {
    Truncated { needed: usize, available: usize },
    Checksum { stored: u32, computed: u32 },
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataError::Truncated { needed, available } => write!(
                f,
                "truncated: block needs {needed} bytes, {available} available"
            ),
            DataError::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
        }
    }
}

impl RawData {
    /// Locate the block at `pos` of `d` (`reserve` = cbCFData) and verify
    /// its checksum.
    pub fn parse(d: &[u8], pos: usize, reserve: u8) -> Result<RawData, DataError> {
        let hdr_end = pos + CFDATA_SIZE + reserve as usize;
        let available = d.len().saturating_sub(pos);
        let h = d.get(pos..hdr_end).ok_or(DataError::Truncated {
            needed: hdr_end - pos,
            available,
        })?;
        let checksum = u32_at(h, 0);
        let compressed = u16_at(h, 4);
        let uncompressed = u16_at(h, 6);
        let end = hdr_end + compressed as usize;
        let data = d.get(hdr_end..end).ok_or(DataError::Truncated {
            needed: end - pos,
            available,
        })?;
        if checksum != 0 {
            let computed = checksum_of(&h[4..8], checksum_of(data, 0));
            if computed != checksum {
                return Err(DataError::Checksum {
                    stored: checksum,
                    computed,
                });
            }
        }
        Ok(RawData {
            checksum,
            compressed,
            uncompressed,
            data_start: hdr_end,
            end,
        })
    }
}

/// The CFDATA checksum: XOR of the little-endian 32-bit words, with 1..3
/// trailing bytes packed first-byte-highest; the block's checksum is this
/// over the data, then continued over cbData and cbUncomp.
pub fn checksum_of(data: &[u8], seed: u32) -> u32 {
    let mut c = seed;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        c ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    let tail = words.remainder();
    let mut ul = 0u32;
    for &b in tail {
        ul = (ul << 8) | b as u32;
    }
    c ^ ul
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_tail_order() {
        // Three trailing bytes go in as b0<<16 | b1<<8 | b2.
        assert_eq!(checksum_of(&[1, 2, 3], 0), 0x0001_0203);
        assert_eq!(checksum_of(&[1, 0, 0, 0, 5], 0), 1 ^ 5);
        assert_eq!(checksum_of(&[], 7), 7);
    }
}
