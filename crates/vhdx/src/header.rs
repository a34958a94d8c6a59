//! VHDX headers (MS-VHDX §2.2.2): two 4 KiB copies at 64 KiB and 128 KiB.

use crate::util::*;
use uuid::Uuid;

/// Signature "head".
pub const SIGNATURE: &[u8; 4] = b"head";
/// Bytes covered by the checksum.
pub const SIZE: usize = 4096;
/// File offsets of header 1 and header 2.
pub const OFFSETS: [u64; 2] = [64 * KIB, 128 * KIB];

/// One header copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Higher is newer.
    pub sequence_number: u64,
    /// Changes before the first file modification of every open.
    pub file_write_guid: Uuid,
    /// Changes before the first user-visible data change; a child's
    /// `parent_linkage` names it.
    pub data_write_guid: Uuid,
    /// Non-zero: the log holds entries that must be replayed.
    pub log_guid: Uuid,
    /// Must be 0.
    pub log_version: u16,
    /// Must be 1.
    pub version: u16,
    /// Log size in bytes (1 MiB multiple).
    pub log_length: u32,
    /// Log file offset (1 MiB multiple).
    pub log_offset: u64,
}

/// Why a header copy was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The signature is not "head".
    Signature,
    /// The CRC-32C does not match.
    Checksum,
}

impl Header {
    /// Parse one 4 KiB copy, checking signature and checksum.
    pub fn parse(b: &[u8]) -> Result<Self, HeaderProblem> {
        if b.len() < SIZE || &b[..4] != SIGNATURE {
            return Err(HeaderProblem::Signature);
        }
        if !crc_ok(&b[..SIZE], 4) {
            return Err(HeaderProblem::Checksum);
        }
        Ok(Header {
            sequence_number: u64_at(b, 8),
            file_write_guid: guid_at(b, 16),
            data_write_guid: guid_at(b, 32),
            log_guid: guid_at(b, 48),
            log_version: u16_at(b, 64),
            version: u16_at(b, 66),
            log_length: u32_at(b, 68),
            log_offset: u64_at(b, 72),
        })
    }

    /// Serialise to 4 KiB with a valid checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        b[..4].copy_from_slice(SIGNATURE);
        put_u64(&mut b, 8, self.sequence_number);
        put_guid(&mut b, 16, &self.file_write_guid);
        put_guid(&mut b, 32, &self.data_write_guid);
        put_guid(&mut b, 48, &self.log_guid);
        put_u16(&mut b, 64, self.log_version);
        put_u16(&mut b, 66, self.version);
        put_u32(&mut b, 68, self.log_length);
        put_u64(&mut b, 72, self.log_offset);
        set_crc(&mut b, 4);
        b
    }
}

/// Pick the current header from the two parsed copies (§2.2.2: the valid
/// one, or the valid one with the larger sequence number). Two valid copies
/// with equal sequence numbers are accepted only when identical (Disk2vhd
/// writes such files). Returns the index of the current copy.
pub fn select(h: &[Result<Header, HeaderProblem>; 2]) -> Option<usize> {
    match (&h[0], &h[1]) {
        (Ok(a), Ok(b)) => {
            if a.sequence_number > b.sequence_number {
                Some(0)
            } else if b.sequence_number > a.sequence_number {
                Some(1)
            } else if a == b {
                Some(0)
            } else {
                None
            }
        }
        (Ok(_), Err(_)) => Some(0),
        (Err(_), Ok(_)) => Some(1),
        _ => None,
    }
}
