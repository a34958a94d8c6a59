//! The master boot record: UEFI Specification 2.10 §5.2.1 "Legacy Master
//! Boot Record" (Tables 5-1 and 5-2) and §5.2.3 "Protective MBR"
//! (Tables 5-3 and 5-4).
//!
//! Layout of the first 512 bytes of LBA 0: boot code (0..440), the
//! "unique MBR disk signature" (0x1B8, 4 bytes), 2 reserved bytes, four
//! 16-byte partition records from 0x1BE, and the signature `55 AA` at 0x1FE.

use crate::error::{corrupt, Result};

/// Offset of the 32-bit disk signature.
pub const DISK_SIGNATURE_OFFSET: usize = 0x1B8;
/// Offset of the first partition record.
pub const ENTRIES_OFFSET: usize = 0x1BE;
/// Length of the boot code area.
pub const BOOT_CODE_LEN: usize = 440;
/// OS type of a GPT protective partition.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// OS type of an NTFS/exFAT/IFS partition.
pub const TYPE_NTFS: u8 = 0x07;
/// OS type of an EFI system partition on an MBR disk.
pub const TYPE_EFI: u8 = 0xEF;
/// Boot indicator of the active partition.
pub const ACTIVE: u8 = 0x80;

/// One partition record (Table 5-2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MbrEntry {
    /// 0x80 = active (bootable), 0x00 = not.
    pub boot_indicator: u8,
    /// Start in cylinder/head/sector form (legacy; we write LBA-derived values).
    pub start_chs: [u8; 3],
    /// Partition type (OS type).
    pub os_type: u8,
    /// End in CHS form.
    pub end_chs: [u8; 3],
    /// First sector (in logical sectors).
    pub start_lba: u32,
    /// Length in logical sectors.
    pub size_lba: u32,
}

impl MbrEntry {
    /// An entry of type `os_type` covering `start..start+size` sectors, with
    /// CHS values computed for 255 heads and 63 sectors per track.
    pub fn new(os_type: u8, start_lba: u32, size_lba: u32, active: bool) -> Self {
        MbrEntry {
            boot_indicator: if active { ACTIVE } else { 0 },
            start_chs: chs(start_lba as u64),
            os_type,
            end_chs: chs(start_lba as u64 + size_lba.max(1) as u64 - 1),
            start_lba,
            size_lba,
        }
    }

    /// The protective entry of a GPT disk of `total_lbas` sectors (§5.2.3):
    /// from LBA 1 to the end of the disk, capped at 0xFFFFFFFF sectors.
    pub fn protective(total_lbas: u64) -> Self {
        let size = (total_lbas - 1).min(u32::MAX as u64) as u32;
        let last = total_lbas - 1;
        MbrEntry {
            boot_indicator: 0,
            start_chs: [0x00, 0x02, 0x00],
            os_type: TYPE_GPT_PROTECTIVE,
            end_chs: if last < 1024 * 255 * 63 {
                chs(last)
            } else {
                [0xFF, 0xFF, 0xFF]
            },
            start_lba: 1,
            size_lba: size,
        }
    }

    /// True when the record is unused.
    pub fn is_empty(&self) -> bool {
        self.os_type == 0
    }

    fn parse(b: &[u8]) -> Self {
        MbrEntry {
            boot_indicator: b[0],
            start_chs: [b[1], b[2], b[3]],
            os_type: b[4],
            end_chs: [b[5], b[6], b[7]],
            start_lba: u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")),
            size_lba: u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")),
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0] = self.boot_indicator;
        b[1..4].copy_from_slice(&self.start_chs);
        b[4] = self.os_type;
        b[5..8].copy_from_slice(&self.end_chs);
        b[8..12].copy_from_slice(&self.start_lba.to_le_bytes());
        b[12..16].copy_from_slice(&self.size_lba.to_le_bytes());
    }
}

/// CHS address of `lba` for a 255-head, 63-sector geometry; addresses past
/// cylinder 1023 are stored as the maximum (1023, 254, 63).
pub fn chs(lba: u64) -> [u8; 3] {
    const HEADS: u64 = 255;
    const SPT: u64 = 63;
    let c = lba / (HEADS * SPT);
    if c > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let h = (lba / SPT) % HEADS;
    let s = lba % SPT + 1;
    [
        h as u8,
        (s as u8) | (((c >> 2) & 0xC0) as u8),
        (c & 0xFF) as u8,
    ]
}

/// A parsed master boot record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// The 440-byte boot code area.
    pub boot_code: [u8; BOOT_CODE_LEN],
    /// The unique MBR disk signature at 0x1B8.
    pub disk_signature: u32,
    /// The four primary partition records.
    pub entries: [MbrEntry; 4],
}

impl Default for Mbr {
    fn default() -> Self {
        Mbr {
            boot_code: [0; BOOT_CODE_LEN],
            disk_signature: 0,
            entries: [MbrEntry::default(); 4],
        }
    }
}

impl Mbr {
    /// Parse the first 512 bytes of LBA 0. Fails when the `55 AA` signature
    /// is missing (then the sector is not an MBR at all).
    pub fn parse(sector: &[u8]) -> Result<Mbr> {
        if sector.len() < 512 {
            return Err(corrupt("MBR", 0, "sector shorter than 512 bytes"));
        }
        if sector[510] != 0x55 || sector[511] != 0xAA {
            return Err(corrupt(
                "MBR",
                0x1FE,
                format!(
                    "signature is {:02x} {:02x}, not 55 aa",
                    sector[510], sector[511]
                ),
            ));
        }
        let mut m = Mbr::default();
        m.boot_code.copy_from_slice(&sector[..BOOT_CODE_LEN]);
        m.disk_signature = u32::from_le_bytes(
            sector[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        );
        for (i, e) in m.entries.iter_mut().enumerate() {
            let o = ENTRIES_OFFSET + 16 * i;
            *e = MbrEntry::parse(&sector[o..o + 16]);
        }
        Ok(m)
    }

    /// True when the boot code area holds anything but zeros.
    pub fn has_boot_code(&self) -> bool {
        self.boot_code.iter().any(|&b| b != 0)
    }

    /// True when one of the records is a GPT protective partition.
    pub fn is_protective(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.os_type == TYPE_GPT_PROTECTIVE)
    }

    /// The 512-byte sector.
    pub fn to_bytes(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[..BOOT_CODE_LEN].copy_from_slice(&self.boot_code);
        b[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4]
            .copy_from_slice(&self.disk_signature.to_le_bytes());
        for (i, e) in self.entries.iter().enumerate() {
            let o = ENTRIES_OFFSET + 16 * i;
            e.write(&mut b[o..o + 16]);
        }
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_chs() {
        let mut m = Mbr {
            disk_signature: 0x1234_5678,
            ..Default::default()
        };
        m.entries[0] = MbrEntry::new(TYPE_NTFS, 2048, 4096, true);
        let b = m.to_bytes();
        assert_eq!(&b[0x1B8..0x1BC], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(b[0x1BE], 0x80);
        assert_eq!(b[0x1C2], 0x07);
        let p = Mbr::parse(&b).unwrap();
        assert_eq!(p, m);
        // LBA 2048 = C0 H32 S33 in 255/63 geometry.
        assert_eq!(chs(2048), [32, 33, 0]);
        assert_eq!(chs(1 << 40), [0xFE, 0xFF, 0xFF]);
        assert!(Mbr::parse(&[0u8; 512]).is_err());
        assert!(Mbr::parse(&[0u8; 100]).is_err());
        let pm = MbrEntry::protective(1 << 40);
        assert_eq!(pm.size_lba, u32::MAX);
        assert_eq!(pm.end_chs, [0xFF; 3]);
    }
}
