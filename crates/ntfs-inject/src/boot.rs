//! The NTFS boot sector (BPB + extended BPB), NTFS Documentation
//! "Files: $Boot". Sector 0 of the volume; a backup copy lives in the last
//! sector of the partition, outside `total_sectors`.

use crate::error::{corrupt, Result};
use crate::le;

/// Fields of the boot sector this crate reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    pub bytes_per_sector: u16,
    pub sectors_per_cluster: u32,
    pub hidden_sectors: u32,
    /// Sectors in the volume (partition sectors − 1).
    pub total_sectors: u64,
    pub mft_lcn: u64,
    pub mftmirr_lcn: u64,
    /// Bytes per MFT record.
    pub mft_record_size: u32,
    /// Bytes per index block.
    pub index_block_size: u32,
    pub serial: u64,
}

fn encode_size(bytes: u32, cluster: u32) -> u8 {
    if bytes >= cluster {
        (bytes / cluster) as u8
    } else {
        (-(bytes.trailing_zeros() as i32)) as i8 as u8
    }
}

fn decode_size(v: u8, cluster: u64, offset: u64, what: &'static str) -> Result<u32> {
    let v = v as i8;
    let bytes = if v > 0 {
        v as u64 * cluster
    } else if (-31..=-9).contains(&(v as i32)) {
        1u64 << (-(v as i32))
    } else {
        return Err(corrupt(
            offset,
            "boot sector",
            format!("bad {what} size code {v}"),
        ));
    };
    if !(512..=65536).contains(&bytes) || !bytes.is_power_of_two() {
        return Err(corrupt(
            offset,
            "boot sector",
            format!("unsupported {what} size {bytes}"),
        ));
    }
    Ok(bytes as u32)
}

impl BootSector {
    pub fn cluster_size(&self) -> u64 {
        self.bytes_per_sector as u64 * self.sectors_per_cluster as u64
    }

    pub fn total_clusters(&self) -> u64 {
        self.total_sectors / self.sectors_per_cluster as u64
    }

    /// The 512-byte sector (boot code is a stub that prints a message).
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..3].copy_from_slice(&[0xEB, 0x52, 0x90]);
        b[3..11].copy_from_slice(b"NTFS    ");
        le::put16(&mut b, 0x0B, self.bytes_per_sector);
        let spc = self.sectors_per_cluster;
        b[0x0D] = if spc <= 128 {
            spc as u8
        } else {
            // 2^n sectors per cluster above 128 are stored as −n.
            (-(spc.trailing_zeros() as i32)) as i8 as u8
        };
        b[0x15] = 0xF8;
        le::put16(&mut b, 0x18, 63);
        le::put16(&mut b, 0x1A, 255);
        le::put32(&mut b, 0x1C, self.hidden_sectors);
        b[0x24] = 0x80;
        b[0x26] = 0x80;
        le::put64(&mut b, 0x28, self.total_sectors);
        le::put64(&mut b, 0x30, self.mft_lcn);
        le::put64(&mut b, 0x38, self.mftmirr_lcn);
        let cs = self.cluster_size() as u32;
        b[0x40] = encode_size(self.mft_record_size, cs);
        b[0x44] = encode_size(self.index_block_size, cs);
        le::put64(&mut b, 0x48, self.serial);
        // Boot code: print a message and halt.
        let msg = b"This is not a bootable disk. Please insert a bootable floppy and\r\npress any key to try again ... \r\n\0";
        let code: [u8; 20] = [
            0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0x8E, 0xD0, 0xBC, 0x00, 0x7C, 0xFB, 0xBE, 0x78, 0x7C,
            0xAC, 0x08, 0xC0, 0x74, 0x09, 0xB4,
        ];
        b[0x54..0x54 + code.len()].copy_from_slice(&code);
        let rest: [u8; 12] = [
            0x0E, 0xBB, 0x07, 0x00, 0xCD, 0x10, 0xEB, 0xF2, 0xF4, 0xEB, 0xFD, 0x00,
        ];
        b[0x54 + code.len()..0x54 + code.len() + rest.len()].copy_from_slice(&rest);
        b[0x78..0x78 + msg.len()].copy_from_slice(msg);
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    /// Parse and sanity-check a boot sector read at device offset `offset`.
    pub fn parse(b: &[u8], offset: u64) -> Result<BootSector> {
        if b.len() < 512 || &b[3..11] != b"NTFS    " {
            return Err(corrupt(offset, "boot sector", "no NTFS signature"));
        }
        let bps = le::u16(b, 0x0B);
        if !(256..=4096).contains(&bps) || !bps.is_power_of_two() {
            return Err(corrupt(
                offset,
                "boot sector",
                format!("bad bytes per sector {bps}"),
            ));
        }
        let raw = b[0x0D];
        let spc: u32 = if raw <= 0x80 {
            raw as u32
        } else {
            let n = -(raw as i8 as i32);
            if n > 20 {
                return Err(corrupt(offset, "boot sector", "bad sectors per cluster"));
            }
            1 << n
        };
        if spc == 0 || !spc.is_power_of_two() || spc as u64 * bps as u64 > 2 << 20 {
            return Err(corrupt(
                offset,
                "boot sector",
                format!("bad sectors per cluster {spc}"),
            ));
        }
        let cluster = spc as u64 * bps as u64;
        let bs = BootSector {
            bytes_per_sector: bps,
            sectors_per_cluster: spc,
            hidden_sectors: le::u32(b, 0x1C),
            total_sectors: le::u64(b, 0x28),
            mft_lcn: le::u64(b, 0x30),
            mftmirr_lcn: le::u64(b, 0x38),
            mft_record_size: decode_size(b[0x40], cluster, offset, "MFT record")?,
            index_block_size: decode_size(b[0x44], cluster, offset, "index block")?,
            serial: le::u64(b, 0x48),
        };
        let tc = bs.total_clusters();
        if tc == 0 || bs.mft_lcn >= tc || bs.mftmirr_lcn >= tc {
            return Err(corrupt(
                offset,
                "boot sector",
                "MFT location is outside the volume",
            ));
        }
        Ok(bs)
    }
}
