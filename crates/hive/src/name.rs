//! Key and value names: the compressed (Latin-1) and UTF-16LE encodings,
//! the uppercase comparison Windows uses to sort subkey lists, and the
//! "lh" name hash (regf specification, "Hash leaf": hash = hash * 37 +
//! uppercase(UTF-16 unit)).

use std::cmp::Ordering;

/// Uppercase one UTF-16 unit as Windows does for ordinary letters: a
/// character whose uppercase is a single BMP character maps to it; others
/// are left alone.
pub fn upcase_unit(u: u16) -> u16 {
    if u < 0x80 {
        return (u as u8).to_ascii_uppercase() as u16;
    }
    match char::from_u32(u as u32) {
        Some(c) => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(x), None) if (x as u32) < 0x1_0000 => x as u32 as u16,
                _ => u,
            }
        }
        None => u,
    }
}

/// Compare two names the way Windows orders subkey lists.
pub fn cmp_names(a: &str, b: &str) -> Ordering {
    let mut ia = a.encode_utf16().map(upcase_unit);
    let mut ib = b.encode_utf16().map(upcase_unit);
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(&y),
            _ => {}
        }
    }
}

/// Case-insensitive equality (Windows semantics).
pub fn eq_names(a: &str, b: &str) -> bool {
    cmp_names(a, b) == Ordering::Equal
}

/// The "lh" hash of a name.
pub fn lh_hash(name: &str) -> u32 {
    name.encode_utf16().fold(0u32, |h, u| {
        h.wrapping_mul(37).wrapping_add(upcase_unit(u) as u32)
    })
}

/// Can the name be stored compressed (one byte per character)?
pub fn compressible(name: &str) -> bool {
    name.chars().all(|c| (c as u32) < 0x100)
}

/// Encode a name: (bytes, compressed?).
pub fn encode(name: &str) -> (Vec<u8>, bool) {
    if compressible(name) {
        (name.chars().map(|c| c as u32 as u8).collect(), true)
    } else {
        (
            name.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
            false,
        )
    }
}

/// Decode a stored name.
pub fn decode(bytes: &[u8], compressed: bool) -> String {
    if compressed {
        bytes.iter().map(|&b| b as char).collect()
    } else {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }
}

/// Length of the name in UTF-16 bytes (what nk "largest name" fields hold).
pub fn utf16_len(name: &str) -> usize {
    name.encode_utf16().count() * 2
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ordering_and_hash() {
        assert_eq!(cmp_names("abc", "ABD"), Ordering::Less);
        assert_eq!(cmp_names("_x", "a"), Ordering::Greater); // '_' 0x5F sorts after 'A' 0x41
        assert!(eq_names("Software", "SOFTWARE"));
        assert_eq!(lh_hash("a"), 'A' as u32);
        assert_eq!(lh_hash("ab"), 'A' as u32 * 37 + 'B' as u32);
    }
}
