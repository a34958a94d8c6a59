//! Update sequence array ("fixups"), NTFS Documentation "Concepts: Fixup".
//!
//! Multi-sector records (FILE, INDX) store a sequence number in the last
//! two bytes of every 512-byte stride; the original bytes live in the
//! array at `usa_ofs`.

use crate::error::{corrupt, Result};
use crate::le;

/// Protect `buf` before writing: bump nothing, just store `usn` in every
/// stride end and save the original bytes. The array header must already
/// be in place (`usa_ofs` at 4, `usa_count` at 6).
pub fn protect(buf: &mut [u8], usn: u16) {
    let usa_ofs = le::u16(buf, 4) as usize;
    let count = le::u16(buf, 6) as usize;
    le::put16(buf, usa_ofs, usn);
    for i in 1..count {
        let end = i * 512 - 2;
        let orig = le::u16(buf, end);
        le::put16(buf, usa_ofs + 2 * i, orig);
        le::put16(buf, end, usn);
    }
}

/// Undo the fixups after reading. `offset` (of the record on the device)
/// and `structure` only label errors.
pub fn unprotect(buf: &mut [u8], offset: u64, structure: &'static str) -> Result<()> {
    if buf.len() < 8 || buf.len() % 512 != 0 {
        return Err(corrupt(
            offset,
            structure,
            "record size is not a multiple of 512",
        ));
    }
    let usa_ofs = le::u16(buf, 4) as usize;
    let count = le::u16(buf, 6) as usize;
    if count != buf.len() / 512 + 1 {
        return Err(corrupt(
            offset,
            structure,
            format!(
                "update sequence count {count} does not match record size {}",
                buf.len()
            ),
        ));
    }
    if usa_ofs % 2 != 0 || usa_ofs + 2 * count > 510 {
        return Err(corrupt(
            offset,
            structure,
            format!("update sequence array offset {usa_ofs:#x} is out of range"),
        ));
    }
    let usn = le::u16(buf, usa_ofs);
    for i in 1..count {
        let end = i * 512 - 2;
        if le::u16(buf, end) != usn {
            return Err(corrupt(
                offset + end as u64,
                structure,
                format!(
                    "fixup mismatch in sector {}: found {:#06x}, expected {usn:#06x}",
                    i - 1,
                    le::u16(buf, end)
                ),
            ));
        }
        let orig = le::u16(buf, usa_ofs + 2 * i);
        le::put16(buf, end, orig);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let mut b = vec![0u8; 1024];
        le::put16(&mut b, 4, 0x30);
        le::put16(&mut b, 6, 3);
        b[510] = 0xAB;
        b[1023] = 0xCD;
        let orig = b.clone();
        protect(&mut b, 7);
        assert_eq!(le::u16(&b, 510), 7);
        let mut c = b.clone();
        unprotect(&mut c, 0, "FILE record").unwrap();
        assert_eq!(&c[..0x30], &orig[..0x30]);
        assert_eq!(&c[0x36..], &orig[0x36..]);
        b[1022] = 9;
        let e = unprotect(&mut b, 4096, "FILE record").unwrap_err();
        assert!(e.to_string().contains("fixup mismatch"), "{e}");
        assert!(e.to_string().contains("0x13fe"), "{e}");
    }
}
