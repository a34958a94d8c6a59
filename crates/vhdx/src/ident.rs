//! File type identifier (MS-VHDX §2.2.1): the first 64 KiB of the file.

use crate::util::*;

/// Signature "vhdxfile".
pub const SIGNATURE: &[u8; 8] = b"vhdxfile";
/// Size of the structure we write (the rest of the 64 KiB is zero).
pub const SIZE: usize = 8 + 512;

/// The file type identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentifier {
    /// Creator string (UTF-16LE on disk, informational only).
    pub creator: String,
}

impl FileIdentifier {
    /// Parse; `None` when the signature is wrong. `b` holds at least [`SIZE`] bytes.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < SIZE || &b[..8] != SIGNATURE {
            return None;
        }
        let units: Vec<u16> = b[8..SIZE]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        Some(FileIdentifier {
            creator: String::from_utf16_lossy(&units),
        })
    }

    /// Serialise into a 64 KiB buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; 64 * KIB as usize];
        b[..8].copy_from_slice(SIGNATURE);
        for (i, u) in self.creator.encode_utf16().take(255).enumerate() {
            put_u16(&mut b, 8 + 2 * i, u);
        }
        b
    }
}
