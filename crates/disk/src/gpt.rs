//! The GUID partition table: UEFI Specification 2.10 §5.3.2 "GPT Header"
//! (Table 5-5) and §5.3.3 "GPT Partition Entry Array" (Table 5-6).
//! All integers little-endian; GUIDs in the mixed-endian EFI_GUID layout
//! (`Uuid::to_bytes_le`); CRCs are CRC-32 (ISO-HDLC, as zlib).

use crate::error::{corrupt, Result};
use uuid::{uuid, Uuid};

/// "EFI PART".
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Revision 1.0.
pub const REVISION: u32 = 0x0001_0000;
/// Size of the header we write (the defined fields).
pub const HEADER_SIZE: u32 = 92;
/// Size of one partition entry we write.
pub const ENTRY_SIZE: u32 = 128;
/// Entries in the array we write (the 16 KiB minimum of §5.3.2).
pub const ENTRY_COUNT: u32 = 128;
/// Bytes of the entry array we write.
pub const ENTRY_ARRAY_BYTES: u64 = ENTRY_SIZE as u64 * ENTRY_COUNT as u64;
/// Most entry-array bytes a table we read may declare (Linux caps the
/// array similarly); more is treated as hostile.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 4 << 20;

/// EFI system partition.
pub const TYPE_ESP: Uuid = uuid!("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
/// Microsoft reserved partition.
pub const TYPE_MSR: Uuid = uuid!("e3c9e316-0b5c-4db8-817d-f92df00215ae");
/// Microsoft basic data partition.
pub const TYPE_BASIC_DATA: Uuid = uuid!("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7");

/// Attribute bit 63 for Microsoft partitions: no drive letter
/// (GPT_BASIC_DATA_ATTRIBUTE_NO_DRIVE_LETTER); Windows sets it on the ESP
/// it creates.
pub const ATTR_NO_DRIVE_LETTER: u64 = 1 << 63;

/// The GPT header (Table 5-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    pub revision: u32,
    pub header_size: u32,
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    pub disk_guid: Uuid,
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    pub entries_crc32: u32,
}

impl GptHeader {
    /// Serialize into a sector of `sector_size` bytes, with the header CRC.
    pub fn to_sector(&self, sector_size: usize) -> Vec<u8> {
        let mut b = vec![0u8; sector_size];
        b[0..8].copy_from_slice(SIGNATURE);
        b[8..12].copy_from_slice(&self.revision.to_le_bytes());
        b[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        b[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        b[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        b[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        b[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        b[56..72].copy_from_slice(&self.disk_guid.to_bytes_le());
        b[72..80].copy_from_slice(&self.entries_lba.to_le_bytes());
        b[80..84].copy_from_slice(&self.entry_count.to_le_bytes());
        b[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        b[88..92].copy_from_slice(&self.entries_crc32.to_le_bytes());
        let crc = crc32fast::hash(&b[..HEADER_SIZE as usize]);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parse and check a header sector read at byte `offset`: signature,
    /// header size, header CRC, and entry size/count bounds. Relations to
    /// the disk (LBAs) are checked by the caller.
    pub fn parse(b: &[u8], offset: u64) -> Result<GptHeader> {
        const S: &str = "GPT header";
        if b.len() < HEADER_SIZE as usize {
            return Err(corrupt(S, offset, "sector shorter than a GPT header"));
        }
        if &b[0..8] != SIGNATURE {
            return Err(corrupt(S, offset, "no \"EFI PART\" signature"));
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let header_size = u32_at(12);
        if header_size < HEADER_SIZE || header_size as usize > b.len() {
            return Err(corrupt(
                S,
                offset + 12,
                format!(
                    "header size {header_size} (must be 92..={} for this sector size)",
                    b.len()
                ),
            ));
        }
        let stored = u32_at(16);
        let mut copy = b[..header_size as usize].to_vec();
        copy[16..20].fill(0);
        let crc = crc32fast::hash(&copy);
        if crc != stored {
            return Err(corrupt(
                S,
                offset + 16,
                format!("header CRC32 is {stored:#010x}, computed {crc:#010x}"),
            ));
        }
        let entry_count = u32_at(80);
        let entry_size = u32_at(84);
        if entry_size < 128 || !entry_size.is_power_of_two() {
            return Err(corrupt(
                S,
                offset + 84,
                format!("partition entry size {entry_size} (must be 128 x 2^n)"),
            ));
        }
        let array = entry_count as u64 * entry_size as u64;
        if array > MAX_ENTRY_ARRAY_BYTES {
            return Err(corrupt(
                S,
                offset + 80,
                format!(
                    "{entry_count} entries of {entry_size} bytes ({array} bytes) exceed the \
                     {MAX_ENTRY_ARRAY_BYTES}-byte limit"
                ),
            ));
        }
        Ok(GptHeader {
            revision: u32_at(8),
            header_size,
            my_lba: u64_at(24),
            alternate_lba: u64_at(32),
            first_usable_lba: u64_at(40),
            last_usable_lba: u64_at(48),
            disk_guid: Uuid::from_bytes_le(b[56..72].try_into().expect("16 bytes")),
            entries_lba: u64_at(72),
            entry_count,
            entry_size,
            entries_crc32: u32_at(88),
        })
    }

    /// Bytes of the entry array this header describes.
    pub fn array_bytes(&self) -> u64 {
        self.entry_count as u64 * self.entry_size as u64
    }
}

/// One partition entry (Table 5-6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    pub type_guid: Uuid,
    pub unique_guid: Uuid,
    pub first_lba: u64,
    /// Inclusive.
    pub last_lba: u64,
    pub attributes: u64,
    /// Up to 36 UTF-16 code units.
    pub name: String,
}

impl GptEntry {
    /// True when the entry is unused (zero type GUID).
    pub fn is_unused(&self) -> bool {
        self.type_guid.is_nil()
    }

    /// Parse an entry (the first 128 bytes of a slot).
    pub fn parse(b: &[u8]) -> GptEntry {
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let units: Vec<u16> = b[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        GptEntry {
            type_guid: Uuid::from_bytes_le(b[0..16].try_into().expect("16 bytes")),
            unique_guid: Uuid::from_bytes_le(b[16..32].try_into().expect("16 bytes")),
            first_lba: u64_at(32),
            last_lba: u64_at(40),
            attributes: u64_at(48),
            name: String::from_utf16_lossy(&units),
        }
    }

    /// Serialize into a 128-byte slot. Fails when the name needs more than
    /// 36 UTF-16 code units.
    pub fn write(&self, b: &mut [u8]) -> Result<()> {
        let units: Vec<u16> = self.name.encode_utf16().collect();
        if units.len() > 36 {
            return Err(crate::Error::InvalidArgument(format!(
                "GPT partition name {:?} is longer than 36 UTF-16 code units",
                self.name
            )));
        }
        b[..128].fill(0);
        b[0..16].copy_from_slice(&self.type_guid.to_bytes_le());
        b[16..32].copy_from_slice(&self.unique_guid.to_bytes_le());
        b[32..40].copy_from_slice(&self.first_lba.to_le_bytes());
        b[40..48].copy_from_slice(&self.last_lba.to_le_bytes());
        b[48..56].copy_from_slice(&self.attributes.to_le_bytes());
        for (i, u) in units.iter().enumerate() {
            b[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> GptHeader {
        GptHeader {
            revision: REVISION,
            header_size: HEADER_SIZE,
            my_lba: 1,
            alternate_lba: 2047,
            first_usable_lba: 34,
            last_usable_lba: 2014,
            disk_guid: Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
            entries_lba: 2,
            entry_count: 128,
            entry_size: 128,
            entries_crc32: 0xdead_beef,
        }
    }

    #[test]
    fn header_roundtrip_and_crc() {
        let h = header();
        let mut s = h.to_sector(512);
        assert_eq!(GptHeader::parse(&s, 512).unwrap(), h);
        s[40] ^= 1;
        let e = GptHeader::parse(&s, 512).unwrap_err().to_string();
        assert!(e.contains("CRC32"), "{e}");
    }

    #[test]
    fn hostile_sizes() {
        let mut h = header();
        h.entry_count = u32::MAX;
        let e = GptHeader::parse(&h.to_sector(512), 512)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceed"), "{e}");
        let mut h = header();
        h.entry_size = 100;
        let e = GptHeader::parse(&h.to_sector(512), 512)
            .unwrap_err()
            .to_string();
        assert!(e.contains("entry size"), "{e}");
    }

    #[test]
    fn entry_roundtrip() {
        let e = GptEntry {
            type_guid: TYPE_ESP,
            unique_guid: Uuid::from_u128(5),
            first_lba: 2048,
            last_lba: 411647,
            attributes: ATTR_NO_DRIVE_LETTER,
            name: "EFI system partition".into(),
        };
        let mut b = [0u8; 128];
        e.write(&mut b).unwrap();
        // The type GUID's first field is stored little-endian.
        assert_eq!(&b[0..4], &[0x28, 0x73, 0x2a, 0xc1]);
        assert_eq!(GptEntry::parse(&b), e);
        let long = GptEntry {
            name: "x".repeat(37),
            ..e
        };
        assert!(long.write(&mut b).is_err());
    }
}
