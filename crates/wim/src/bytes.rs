//! Bounds-checked little-endian reads from untrusted byte slices. Every
//! parser in this crate goes through these helpers, so every bound on input
//! is checked in one place and turned into a [`FormatError`] that names the
//! absolute offset and the structure.

use crate::error::FormatError;

/// A view of `data`, whose first byte lies at absolute offset `base` in the
/// resource or file it came from (used only for error messages).
#[derive(Clone, Copy)]
pub struct Bytes<'a> {
    pub data: &'a [u8],
    pub base: u64,
    pub structure: &'static str,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8], base: u64, structure: &'static str) -> Self {
        Bytes {
            data,
            base,
            structure,
        }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// `len` bytes at `off`, or a truncation error.
    pub fn slice(&self, off: usize, len: usize) -> Result<&'a [u8], FormatError> {
        match off.checked_add(len) {
            Some(end) if end <= self.data.len() => Ok(&self.data[off..end]),
            _ => Err(FormatError::truncated(
                self.base.saturating_add(off as u64),
                self.structure,
                len as u64,
                self.data.len().saturating_sub(off) as u64,
            )),
        }
    }

    pub fn array<const N: usize>(&self, off: usize) -> Result<[u8; N], FormatError> {
        let s = self.slice(off, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&self, off: usize) -> Result<u8, FormatError> {
        Ok(self.array::<1>(off)?[0])
    }

    pub fn u16(&self, off: usize) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array(off)?))
    }

    pub fn u32(&self, off: usize) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(off)?))
    }

    pub fn u64(&self, off: usize) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(off)?))
    }

    /// Absolute offset of relative position `off`, for error messages.
    pub fn at(&self, off: usize) -> u64 {
        self.base.saturating_add(off as u64)
    }

    pub fn err(&self, off: usize, msg: impl Into<String>) -> FormatError {
        FormatError::invalid(self.at(off), self.structure, msg)
    }
}

/// Decode `nbytes` of UTF-16LE (an even count) into a `String`, replacing
/// unpaired surrogates with U+FFFD.
pub fn utf16le_to_string(raw: &[u8]) -> String {
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// Hex form of a SHA-1 digest.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
