//! A minimal partition-entry reader (MBR primary entries and GPT), enough
//! to find the byte window of partition N on a raw disk or virtual disk.

use crate::error::{corrupt, Error, Result};
use crate::le;
use blockdev::BlockDev;

/// Byte offset and length of 1-based partition `n`.
pub fn find(dev: &dyn BlockDev, n: u32) -> Result<(u64, u64)> {
    let mut mbr = [0u8; 512];
    dev.read_at(0, &mut mbr)?;
    if mbr[510] != 0x55 || mbr[511] != 0xAA {
        return Err(corrupt(0x1FE, "MBR", "no partition table (missing 55 AA)"));
    }
    let entry = |i: usize| &mbr[0x1BE + 16 * i..0x1BE + 16 * (i + 1)];
    if (0..4).any(|i| entry(i)[4] == 0xEE) {
        return gpt(dev, n);
    }
    if n == 0 || n > 4 {
        return Err(Error::NotFound(format!(
            "MBR partition {n} (only 1-4 are read)"
        )));
    }
    let e = entry(n as usize - 1);
    let start = le::u32(e, 8) as u64 * 512;
    let len = le::u32(e, 12) as u64 * 512;
    if e[4] == 0 || len == 0 {
        return Err(Error::NotFound(format!("MBR partition {n} is empty")));
    }
    check(
        dev,
        start,
        len,
        0x1BE + 16 * (n as u64 - 1),
        "MBR partition entry",
    )
}

fn check(
    dev: &dyn BlockDev,
    start: u64,
    len: u64,
    at: u64,
    what: &'static str,
) -> Result<(u64, u64)> {
    match start.checked_add(len) {
        Some(end) if end <= dev.len() => Ok((start, len)),
        _ => Err(corrupt(
            at,
            what,
            "partition extends past the end of the disk",
        )),
    }
}

fn gpt(dev: &dyn BlockDev, n: u32) -> Result<(u64, u64)> {
    for sector in [512u64, 4096] {
        let mut h = [0u8; 92];
        if dev.read_at(sector, &mut h).is_err() || &h[0..8] != b"EFI PART" {
            continue;
        }
        let entries_lba = le::u64(&h, 72);
        let count = le::u32(&h, 80);
        let esize = le::u32(&h, 84) as u64;
        if n == 0 || n > count || !(128..=4096).contains(&esize) {
            return Err(Error::NotFound(format!(
                "GPT partition {n} (table has {count} entries)"
            )));
        }
        let off = entries_lba
            .checked_mul(sector)
            .and_then(|o| o.checked_add((n as u64 - 1) * esize))
            .ok_or_else(|| corrupt(sector, "GPT header", "entry array offset overflows"))?;
        let mut e = [0u8; 128];
        dev.read_at(off, &mut e)?;
        if e[0..16].iter().all(|&b| b == 0) {
            return Err(Error::NotFound(format!("GPT partition {n} is unused")));
        }
        let first = le::u64(&e, 32);
        let last = le::u64(&e, 40);
        if last < first {
            return Err(corrupt(
                off,
                "GPT partition entry",
                "last LBA before first LBA",
            ));
        }
        // LBAs come from disk: the byte range may not fit 64 bits.
        let start = first.checked_mul(sector);
        let len = (last - first)
            .checked_add(1)
            .and_then(|l| l.checked_mul(sector));
        let (Some(start), Some(len)) = (start, len) else {
            return Err(corrupt(
                off,
                "GPT partition entry",
                format!("LBAs {first}..={last} do not fit a 64-bit byte range"),
            ));
        };
        return check(dev, start, len, off, "GPT partition entry");
    }
    Err(corrupt(
        512,
        "GPT header",
        "protective MBR but no GPT header",
    ))
}
