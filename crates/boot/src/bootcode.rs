//! Is there BIOS boot code on the disk? The BIOS chain is MBR code (the
//! first 440 bytes of sector 0) → the active partition's NTFS boot record
//! (sector 0 code from 0x54, continued in sectors 1-15 of `$Boot`) →
//! `\bootmgr`. wimforge writes neither piece of code (Microsoft's bytes,
//! not ours to ship; see research/ntfs.md §3.6), so on the disks it makes
//! both are absent; a partition Windows formatted carries its own.
//!
//! The checks only look for code being there, not for it working:
//! * MBR: any non-zero byte in 0..440.
//! * NTFS: the sector-0 code area (0x54..0x1FE) is not empty and is not
//!   the "This is not a bootable disk" stub that mkntfs and our formatter
//!   write, and sectors 1-15 (0x200..0x2000), where Windows' NTFS boot code
//!   continues, are not all zero.

use blockdev::BlockDev;
use std::io;

/// Bytes of MBR boot code (before the disk signature).
pub const MBR_CODE: usize = 440;
const STUB: &[u8] = b"This is not a bootable disk";

/// Does sector 0 of `disk` carry MBR boot code?
pub fn mbr_has_code(disk: &dyn BlockDev) -> io::Result<bool> {
    let mut s = [0u8; 512];
    disk.read_at(0, &mut s)?;
    Ok(s[..MBR_CODE].iter().any(|&b| b != 0))
}

/// Does the NTFS volume `part` carry boot code in its boot record?
pub fn ntfs_has_code(part: &dyn BlockDev) -> io::Result<bool> {
    let mut b = vec![0u8; 0x2000];
    if part.len() < b.len() as u64 {
        return Ok(false);
    }
    part.read_at(0, &mut b)?;
    let code = &b[0x54..0x1FE];
    let stub = code.windows(STUB.len()).any(|w| w == STUB);
    let empty = code.iter().all(|&x| x == 0);
    let rest = b[0x200..].iter().any(|&x| x != 0);
    Ok(!stub && !empty && rest)
}
