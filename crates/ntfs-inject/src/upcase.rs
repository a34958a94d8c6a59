//! The $UpCase table (record 10) and its `$Info` stream.
//!
//! The table is the one Windows 8 and later (and mkntfs) write. It is
//! generated here from the Unicode case data built into Rust's standard
//! library: the simple upper-case mapping of each BMP code unit, except for
//! a list of code points that the Windows table leaves unmapped (Unicode
//! additions newer than the table, and a few deliberate identities). A
//! unit test checks the result against the CRC-64 that mkntfs records in
//! `$UpCase:$Info`, and an integration test against mkntfs' bytes.

/// Code points (inclusive ranges) the Windows 8 table maps to themselves
/// although Unicode gives them an upper-case form.
const IDENTITY: &[(u16, u16)] = &[
    (0x00b5, 0x00b5),
    (0x0131, 0x0131),
    (0x017f, 0x017f),
    (0x019b, 0x019b),
    (0x01c5, 0x01c5),
    (0x01c8, 0x01c8),
    (0x01cb, 0x01cb),
    (0x01f2, 0x01f2),
    (0x023f, 0x0240),
    (0x0252, 0x0252),
    (0x025c, 0x025c),
    (0x0261, 0x0261),
    (0x0264, 0x0266),
    (0x026a, 0x026a),
    (0x026c, 0x026c),
    (0x0282, 0x0282),
    (0x0287, 0x0287),
    (0x029d, 0x029e),
    (0x0345, 0x0345),
    (0x03c2, 0x03c2),
    (0x03d0, 0x03d1),
    (0x03d5, 0x03d6),
    (0x03f0, 0x03f1),
    (0x03f3, 0x03f3),
    (0x03f5, 0x03f5),
    (0x0525, 0x0525),
    (0x0527, 0x0527),
    (0x0529, 0x0529),
    (0x052b, 0x052b),
    (0x052d, 0x052d),
    (0x052f, 0x052f),
    (0x10d0, 0x10fa),
    (0x10fd, 0x10ff),
    (0x13f8, 0x13fd),
    (0x1c80, 0x1c8a),
    (0x1d8e, 0x1d8e),
    (0x1e9b, 0x1e9b),
    (0x1fbe, 0x1fbe),
    (0x2c5f, 0x2c5f),
    (0x2cec, 0x2cec),
    (0x2cee, 0x2cee),
    (0x2cf3, 0x2cf3),
    (0x2d27, 0x2d27),
    (0x2d2d, 0x2d2d),
    (0xa661, 0xa661),
    (0xa699, 0xa699),
    (0xa69b, 0xa69b),
    (0xa791, 0xa791),
    (0xa793, 0xa794),
    (0xa797, 0xa797),
    (0xa799, 0xa799),
    (0xa79b, 0xa79b),
    (0xa79d, 0xa79d),
    (0xa79f, 0xa79f),
    (0xa7a1, 0xa7a1),
    (0xa7a3, 0xa7a3),
    (0xa7a5, 0xa7a5),
    (0xa7a7, 0xa7a7),
    (0xa7a9, 0xa7a9),
    (0xa7b5, 0xa7ff),
    (0xab53, 0xab53),
    (0xab70, 0xabbf),
];

/// Simple upper-case mapping of one BMP code unit (Unicode data via std).
/// Characters whose full mapping expands (Greek with ypogegrammeni) use
/// their simple mapping, which is the title-case letter.
fn simple_upper(c: u16) -> u16 {
    match c {
        0x1f80..=0x1fa7 if c & 0xF < 8 => return c + 8,
        0x1fb3 | 0x1fc3 | 0x1ff3 => return c + 9,
        0xd800..=0xdfff => return c,
        _ => {}
    }
    let Some(ch) = char::from_u32(c as u32) else {
        return c;
    };
    let mut up = ch.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) if (u as u32) < 0x10000 => u as u16,
        _ => c,
    }
}

/// The 65,536-entry table.
pub fn table() -> Vec<u16> {
    let mut t: Vec<u16> = (0..=0xFFFFu32).map(|c| simple_upper(c as u16)).collect();
    for &(a, b) in IDENTITY {
        for c in a..=b {
            t[c as usize] = c;
        }
    }
    t
}

/// The table as stored in $UpCase:$DATA (128 KiB, little-endian).
pub fn table_bytes(t: &[u16]) -> Vec<u8> {
    t.iter().flat_map(|c| c.to_le_bytes()).collect()
}

/// CRC-64 used by `$UpCase:$Info` (reflected, polynomial 0x9a6c9329ac4bc9b5).
pub fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x9a6c_9329_ac4b_c9b5;
    let mut tab = [0u64; 256];
    for (i, e) in tab.iter_mut().enumerate() {
        let mut c = i as u64;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
        }
        *e = c;
    }
    let mut crc = !0u64;
    for &b in data {
        crc = tab[((crc ^ b as u64) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The 32-byte `$UpCase:$Info` value: {length, filler, CRC-64, OS major,
/// minor, build, packs}; zero OS version like mkntfs.
pub fn info(table_bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 32];
    v[0..4].copy_from_slice(&32u32.to_le_bytes());
    v[8..16].copy_from_slice(&crc64(table_bytes).to_le_bytes());
    v
}

/// Case-insensitive lookup helper: map a name through the table.
pub fn upcase_name(t: &[u16], name: &[u16]) -> Vec<u16> {
    name.iter()
        .map(|&c| t.get(c as usize).copied().unwrap_or(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_windows8_crc() {
        let t = table();
        assert_eq!(t[b'a' as usize], b'A' as u16);
        assert_eq!(t[0xe9], 0xc9);
        assert_eq!(t[0x1f80], 0x1f88);
        // The CRC mkntfs (Windows 8 table) stores in $UpCase:$Info.
        assert_eq!(crc64(&table_bytes(&t)), 0xdadc_7e77_6b1b_690c);
    }
}
