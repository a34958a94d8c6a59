//! $FILE_NAME (0x30), NTFS Documentation "Attribute: $FILE_NAME". The same
//! value is the key of every $I30 index entry.

use crate::le;
use crate::stdinfo::Times;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub parent: u64,
    pub times: Times,
    pub allocated_size: u64,
    pub data_size: u64,
    pub file_attributes: u32,
    /// Reparse tag when the file is a reparse point, else packed EA size.
    pub reparse_or_ea: u32,
    pub namespace: u8,
    pub name: Vec<u16>,
}

impl FileName {
    pub fn encoded_len(&self) -> usize {
        0x42 + 2 * self.name.len()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.encoded_len()];
        le::put64(&mut v, 0, self.parent);
        le::put64(&mut v, 8, self.times.creation);
        le::put64(&mut v, 16, self.times.modification);
        le::put64(&mut v, 24, self.times.mft_change);
        le::put64(&mut v, 32, self.times.access);
        le::put64(&mut v, 40, self.allocated_size);
        le::put64(&mut v, 48, self.data_size);
        le::put32(&mut v, 56, self.file_attributes);
        le::put32(&mut v, 60, self.reparse_or_ea);
        v[64] = self.name.len() as u8;
        v[65] = self.namespace;
        for (i, c) in self.name.iter().enumerate() {
            le::put16(&mut v, 66 + 2 * i, *c);
        }
        v
    }

    pub fn parse(v: &[u8]) -> Option<FileName> {
        if v.len() < 0x42 {
            return None;
        }
        let n = v[64] as usize;
        if v.len() < 0x42 + 2 * n {
            return None;
        }
        Some(FileName {
            parent: le::u64(v, 0),
            times: Times {
                creation: le::u64(v, 8),
                modification: le::u64(v, 16),
                mft_change: le::u64(v, 24),
                access: le::u64(v, 32),
            },
            allocated_size: le::u64(v, 40),
            data_size: le::u64(v, 48),
            file_attributes: le::u32(v, 56),
            reparse_or_ea: le::u32(v, 60),
            namespace: v[65],
            name: (0..n).map(|i| le::u16(v, 66 + 2 * i)).collect(),
        })
    }
}
