//! Hive bins (regf specification, "Hive bin"): 4096-byte-aligned blocks
//! after the base block, each with a 32-byte header, holding cells.
//!
//! ```text
//! 0x00 "hbin"  0x04 offset of this bin from the start of the bins data
//! 0x08 size (multiple of 4096)  0x0C reserved (8)  0x14 timestamp  0x1C spare
//! ```

use crate::base::{u32_at, BASE_BLOCK_SIZE};
use crate::error::{Error, ErrorKind, Result};

pub const HBIN_HEADER: usize = 32;
pub const HBIN_ALIGN: usize = 4096;

/// The bins of a hive: `(start, end)` offsets relative to the bins data.
pub fn scan(data: &[u8], hbins_size: u32) -> Result<Vec<(u32, u32)>> {
    const S: &str = "hive bin";
    let total = hbins_size as usize;
    if total % HBIN_ALIGN != 0 || total == 0 {
        return Err(Error::at(
            0x28,
            "base block",
            ErrorKind::BadSize(format!("hive bins size {total:#x}")),
        ));
    }
    if BASE_BLOCK_SIZE + total > data.len() {
        return Err(Error::at(data.len() as u64, S, ErrorKind::Truncated));
    }
    let mut bins = Vec::new();
    let mut pos = 0usize;
    while pos < total {
        let abs = BASE_BLOCK_SIZE + pos;
        let h = &data[abs..abs + HBIN_HEADER];
        if &h[0..4] != b"hbin" {
            return Err(Error::at(abs as u64, S, ErrorKind::BadSignature));
        }
        if u32_at(h, 4) as usize != pos {
            return Err(Error::at(
                abs as u64 + 4,
                S,
                ErrorKind::BadSize(format!("bin offset field {:#x}", u32_at(h, 4))),
            ));
        }
        let size = u32_at(h, 8) as usize;
        if size == 0 || size % HBIN_ALIGN != 0 || pos + size > total {
            return Err(Error::at(
                abs as u64 + 8,
                S,
                ErrorKind::BadSize(format!("bin size {size:#x}")),
            ));
        }
        bins.push((pos as u32, (pos + size) as u32));
        pos += size;
    }
    Ok(bins)
}
