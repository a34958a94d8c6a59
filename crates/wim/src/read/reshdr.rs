//! Resource header ("reshdr"): where a resource lies in the WIM and how
//! large it is before and after compression (wimlib `resource.h`,
//! `struct wim_reshdr_disk`: 7-byte size in WIM, 1-byte flags, u64 offset,
//! u64 uncompressed size; 24 bytes).

use crate::bytes::Bytes;
use crate::error::FormatError;
use crate::format::res_flags;

pub const RESHDR_SIZE: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResHdr {
    /// Bytes occupied in the WIM file (compressed size plus chunk table).
    pub size_in_wim: u64,
    pub flags: u8,
    pub offset: u64,
    pub uncompressed_size: u64,
}

impl ResHdr {
    pub fn parse(b: &Bytes<'_>, off: usize) -> Result<Self, FormatError> {
        let raw = b.slice(off, RESHDR_SIZE)?;
        let mut s = [0u8; 8];
        s[..7].copy_from_slice(&raw[..7]);
        Ok(ResHdr {
            size_in_wim: u64::from_le_bytes(s),
            flags: raw[7],
            offset: b.u64(off + 8)?,
            uncompressed_size: b.u64(off + 16)?,
        })
    }

    pub fn is_compressed(&self) -> bool {
        self.flags & res_flags::COMPRESSED != 0
    }

    pub fn is_solid(&self) -> bool {
        self.flags & res_flags::SOLID != 0
    }

    pub fn is_metadata(&self) -> bool {
        self.flags & res_flags::METADATA != 0
    }

    pub fn is_empty(&self) -> bool {
        self.size_in_wim == 0 && self.offset == 0 && self.uncompressed_size == 0
    }

    /// `offset + size_in_wim`, checked against `file_len`.
    pub fn check_in_file(
        &self,
        file_len: u64,
        at: u64,
        structure: &'static str,
    ) -> Result<(), FormatError> {
        match self.offset.checked_add(self.size_in_wim) {
            Some(end) if end <= file_len => Ok(()),
            _ => Err(FormatError::invalid(
                at,
                structure,
                format!(
                    "resource at {:#x} of {} bytes extends past the end of the file ({} bytes)",
                    self.offset, self.size_in_wim, file_len
                ),
            )),
        }
    }
}
