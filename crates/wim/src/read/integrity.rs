//! The integrity table: SHA-1 of every 10 MiB chunk of the file from the end
//! of the header to the end of the blob table (wimlib `integrity.c`:
//! `{u32 size, u32 num_entries, u32 chunk_size, sha1[num_entries]}`).

use crate::bytes::Bytes;
use crate::error::FormatError;

#[derive(Debug, Clone)]
pub struct IntegrityTable {
    pub chunk_size: u32,
    pub hashes: Vec<[u8; 20]>,
}

impl IntegrityTable {
    pub fn parse(data: &[u8], base: u64) -> Result<Self, FormatError> {
        let b = Bytes::new(data, base, "integrity table");
        let size = b.u32(0)?;
        let n = b.u32(4)? as usize;
        let chunk_size = b.u32(8)?;
        if size as usize > data.len() {
            return Err(b.err(
                0,
                format!("declared size {size} > resource size {}", data.len()),
            ));
        }
        if chunk_size == 0 {
            return Err(b.err(8, "chunk size 0"));
        }
        let need = n
            .checked_mul(20)
            .and_then(|x| x.checked_add(12))
            .ok_or_else(|| b.err(4, "entry count overflows"))?;
        let table = b.slice(12, need - 12)?;
        let hashes = table
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(IntegrityTable { chunk_size, hashes })
    }

    /// Check the table against `file[start..end]`, hashing chunks in
    /// parallel. Returns the index and file offset of the first bad chunk.
    pub fn check(&self, file: &[u8], start: u64, end: u64) -> Result<(), (usize, u64)> {
        use rayon::prelude::*;
        use sha1::{Digest, Sha1};
        let cs = self.chunk_size as u64;
        let expected = end.saturating_sub(start).div_ceil(cs);
        if expected != self.hashes.len() as u64 || end > file.len() as u64 || start > end {
            return Err((0, start));
        }
        let bad = (0..self.hashes.len())
            .into_par_iter()
            .filter(|&i| {
                let lo = start + i as u64 * cs;
                let hi = (lo + cs).min(end);
                let digest: [u8; 20] = Sha1::digest(&file[lo as usize..hi as usize]).into();
                digest != self.hashes[i]
            })
            .min();
        match bad {
            Some(i) => Err((i, start + i as u64 * cs)),
            None => Ok(()),
        }
    }
}
