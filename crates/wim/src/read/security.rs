//! The security data block at the start of a metadata resource (wimlib
//! `security.c`): `{u32 total_length, u32 num_entries, u64 sizes[n]}`
//! followed by the self-relative SECURITY_DESCRIPTORs back to back, padded
//! to 8 bytes. A dentry's `security_id` indexes this table.

use crate::bytes::Bytes;
use crate::error::FormatError;

#[derive(Debug, Clone, Default)]
pub struct SecurityData {
    pub descriptors: Vec<Vec<u8>>,
    /// Bytes occupied, rounded up to 8: where the root dentry starts.
    pub total_length: u64,
}

impl SecurityData {
    pub fn parse(meta: &[u8]) -> Result<Self, FormatError> {
        let b = Bytes::new(meta, 0, "security data");
        let mut total = b.u32(0)? as u64;
        let n = b.u32(4)? as u64;
        if total == 0 {
            total = 8;
        }
        if total > meta.len() as u64 {
            return Err(b.err(
                0,
                format!("total length {total} exceeds metadata size {}", meta.len()),
            ));
        }
        // Each entry needs its 8-byte size field: bounds n before allocating.
        let table_end = n
            .checked_mul(8)
            .and_then(|x| x.checked_add(8))
            .filter(|&e| e <= total)
            .ok_or_else(|| b.err(4, format!("{n} entries do not fit in {total} bytes")))?;
        let mut descriptors = Vec::with_capacity(n as usize);
        let mut pos = table_end;
        for i in 0..n as usize {
            let sz = b.u64(8 + i * 8)?;
            let end = pos.checked_add(sz).filter(|&e| e <= total).ok_or_else(|| {
                b.err(
                    8 + i * 8,
                    format!("descriptor {i} of {sz} bytes overruns the block"),
                )
            })?;
            descriptors.push(meta[pos as usize..end as usize].to_vec());
            pos = end;
        }
        Ok(SecurityData {
            descriptors,
            total_length: total.div_ceil(8) * 8,
        })
    }
}
