//! Cells (regf specification, "Cell"): a signed 32-bit size (negative when
//! allocated, a multiple of 8) followed by the payload. Cell offsets are
//! relative to the start of the hive bins data; 0xFFFFFFFF means "none".
//!
//! [`Cells`] is the one bounds-checked accessor every structure parser
//! goes through: an offset must be 8-aligned, inside a bin, name an
//! allocated cell, and the cell must end inside the same bin.

use crate::base::{u32_at, BASE_BLOCK_SIZE};
use crate::error::{Error, ErrorKind, Result};
use crate::hbin::HBIN_HEADER;

pub const NONE: u32 = 0xFFFF_FFFF;

pub struct Cells<'a> {
    pub data: &'a [u8],
    pub bins: Vec<(u32, u32)>,
}

impl<'a> Cells<'a> {
    /// Absolute file offset of a cell offset (for error messages).
    pub fn abs(off: u32) -> u64 {
        BASE_BLOCK_SIZE as u64 + off as u64
    }

    /// The payload of the allocated cell at `off`.
    pub fn get(&self, off: u32, what: &'static str) -> Result<&'a [u8]> {
        let abs = Self::abs(off);
        let oob = || Error::at(abs, what, ErrorKind::OutOfBounds);
        if off == NONE || off % 8 != 0 {
            return Err(oob());
        }
        let i = self.bins.partition_point(|&(s, _)| s <= off);
        if i == 0 {
            return Err(oob());
        }
        let (start, end) = self.bins[i - 1];
        if off < start + HBIN_HEADER as u32 || off as u64 + 4 > end as u64 {
            return Err(oob());
        }
        let a = abs as usize;
        let raw = u32_at(self.data, a) as i32;
        if raw >= 0 {
            return Err(Error::at(
                abs,
                what,
                ErrorKind::BadSize("cell is free (not allocated)".into()),
            ));
        }
        let size = raw.unsigned_abs() as u64;
        if size < 8 || size % 8 != 0 || off as u64 + size > end as u64 {
            return Err(Error::at(
                abs,
                what,
                ErrorKind::BadSize(format!("cell size {size:#x}")),
            ));
        }
        Ok(&self.data[a + 4..a + size as usize])
    }

    /// Require `n` bytes in a cell payload.
    pub fn need(payload: &[u8], n: usize, off: u32, what: &'static str) -> Result<()> {
        if payload.len() < n {
            Err(Error::at(
                Self::abs(off),
                what,
                ErrorKind::BadSize(format!("cell holds {} bytes, needs {n}", payload.len())),
            ))
        } else {
            Ok(())
        }
    }

    /// Check a two-byte signature.
    pub fn sig(payload: &[u8], sig: &[u8; 2], off: u32, what: &'static str) -> Result<()> {
        Self::need(payload, 2, off, what)?;
        if &payload[0..2] != sig {
            return Err(Error::at(Self::abs(off), what, ErrorKind::BadSignature));
        }
        Ok(())
    }
}
