//! $STANDARD_INFORMATION (0x10), NTFS Documentation "Attribute:
//! $STANDARD_INFORMATION": the NTFS 3.x 72-byte form with owner id,
//! security id, quota and USN.

use crate::le;

/// Timestamps and attributes of a file (FILETIME units, 100 ns since 1601).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Times {
    pub creation: u64,
    pub modification: u64,
    pub mft_change: u64,
    pub access: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandardInformation {
    pub times: Times,
    pub file_attributes: u32,
    pub security_id: u32,
}

impl StandardInformation {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![0u8; 72];
        le::put64(&mut v, 0, self.times.creation);
        le::put64(&mut v, 8, self.times.modification);
        le::put64(&mut v, 16, self.times.mft_change);
        le::put64(&mut v, 24, self.times.access);
        le::put32(&mut v, 32, self.file_attributes);
        le::put32(&mut v, 52, self.security_id);
        v
    }

    /// Parse the 48-byte (NTFS 1.2) or 72-byte form.
    pub fn parse(v: &[u8]) -> Option<StandardInformation> {
        if v.len() < 48 {
            return None;
        }
        Some(StandardInformation {
            times: Times {
                creation: le::u64(v, 0),
                modification: le::u64(v, 8),
                mft_change: le::u64(v, 16),
                access: le::u64(v, 24),
            },
            file_attributes: le::u32(v, 32),
            security_id: if v.len() >= 56 { le::u32(v, 52) } else { 0 },
        })
    }
}
