//! LZNT1 decompression of NTFS-compressed attributes, [MS-XCA] section 2.5
//! ("LZNT1 Algorithm Details") and NTFS Documentation "Concepts:
//! Compression".
//!
//! A compressed attribute is cut into compression units of 16 clusters.
//! A unit whose clusters are all allocated is stored raw; one with no
//! allocated cluster is zeros; otherwise its leading allocated clusters
//! hold an LZNT1 stream: chunks of at most 4096 output bytes, each with a
//! 2-byte header (bits 0–11: chunk size − 3, bit 15: compressed). A
//! compressed chunk is groups of one flag byte and eight items: a literal
//! byte (flag bit 0) or a 16-bit back reference (bit 1) whose split
//! between offset and length bits depends on the position in the chunk.

use crate::error::{corrupt, Result};

/// Uncompressed bytes per LZNT1 chunk.
pub const CHUNK: usize = 4096;
/// Clusters per compression unit (the header's exponent 4).
pub const UNIT_CLUSTERS: u64 = 16;

/// Decompress `input` (one compression unit's stored bytes) into `out`,
/// which is cleared first; at most `cap` bytes are produced. `dev_off`
/// labels errors.
pub fn decompress(input: &[u8], cap: usize, out: &mut Vec<u8>, dev_off: u64) -> Result<()> {
    out.clear();
    let bad = |m: String| corrupt(dev_off, "LZNT1 stream", m);
    let mut i = 0usize;
    while i + 2 <= input.len() && out.len() < cap {
        let h = u16::from_le_bytes([input[i], input[i + 1]]);
        if h == 0 {
            break;
        }
        let end = i + (h & 0x0FFF) as usize + 3;
        if end > input.len() {
            return Err(bad(format!(
                "chunk at {i} of {} bytes runs past the {} stored bytes",
                end - i,
                input.len()
            )));
        }
        let data = &input[i + 2..end];
        let start = out.len();
        if h & 0x8000 == 0 {
            out.extend_from_slice(&data[..data.len().min(CHUNK)]);
        } else {
            let mut p = 0usize;
            'chunk: while p < data.len() {
                let flags = data[p];
                p += 1;
                for bit in 0..8 {
                    if p >= data.len() {
                        break 'chunk;
                    }
                    if flags & (1 << bit) == 0 {
                        out.push(data[p]);
                        p += 1;
                    } else {
                        if p + 2 > data.len() {
                            return Err(bad(format!("back reference cut short in chunk at {i}")));
                        }
                        let t = u16::from_le_bytes([data[p], data[p + 1]]) as usize;
                        p += 2;
                        let pos = out.len() - start;
                        let mut len_bits = 12u32;
                        let mut x = pos.saturating_sub(1);
                        while x >= 0x10 {
                            len_bits -= 1;
                            x >>= 1;
                        }
                        let len = (t & ((1 << len_bits) - 1)) + 3;
                        let off = (t >> len_bits) + 1;
                        if off > pos {
                            return Err(bad(format!(
                                "back reference {off} bytes back at chunk position {pos}"
                            )));
                        }
                        if pos + len > CHUNK {
                            return Err(bad(format!(
                                "back reference of {len} bytes at chunk position {pos} overruns the chunk"
                            )));
                        }
                        for _ in 0..len {
                            out.push(out[out.len() - off]);
                        }
                    }
                }
            }
        }
        i = end;
    }
    out.truncate(cap);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_back_references_and_raw_chunks() {
        // "abc" then 9 bytes from 3 back: position 3 gives 4 offset bits.
        let t: u16 = (2 << 12) | (9 - 3);
        let mut s = vec![0u8, 0, 0x08, b'a', b'b', b'c'];
        s.extend_from_slice(&t.to_le_bytes());
        let h = 0xB000u16 | (s.len() as u16 - 3);
        s[0..2].copy_from_slice(&h.to_le_bytes());
        // A raw chunk of 4096 bytes follows, then the end marker.
        let raw: Vec<u8> = (0..CHUNK).map(|i| (i % 7) as u8).collect();
        s.extend_from_slice(&(0x3000u16 | (CHUNK as u16 + 2 - 3)).to_le_bytes());
        s.extend_from_slice(&raw);
        s.extend_from_slice(&[0, 0]);
        let mut out = Vec::new();
        decompress(&s, 65536, &mut out, 0).unwrap();
        assert_eq!(&out[..12], b"abcabcabcabc");
        assert_eq!(&out[12..], &raw[..]);
        // The cap cuts the output.
        decompress(&s, 5, &mut out, 0).unwrap();
        assert_eq!(out, b"abcab");
    }

    #[test]
    fn position_dependent_split() {
        // 17 literals, then a reference at position 17: 5 offset bits,
        // 11 length bits; offset 17 (the first byte), length 4.
        let lit: Vec<u8> = (b'A'..b'A' + 17).collect();
        let mut d = Vec::new();
        d.push(0); // flags: 8 literals
        d.extend_from_slice(&lit[..8]);
        d.push(0);
        d.extend_from_slice(&lit[8..16]);
        d.push(0b10); // literal, then a reference
        d.push(lit[16]);
        let t: u16 = (16 << 11) | (4 - 3);
        d.extend_from_slice(&t.to_le_bytes());
        let mut s = (0xB000u16 | (d.len() as u16 + 2 - 3))
            .to_le_bytes()
            .to_vec();
        s.extend_from_slice(&d);
        let mut out = Vec::new();
        decompress(&s, 4096, &mut out, 0).unwrap();
        assert_eq!(&out[..17], &lit[..]);
        assert_eq!(&out[17..], b"ABCD");
    }

    #[test]
    fn corrupt_streams_are_errors() {
        let mut out = Vec::new();
        // Chunk longer than the input.
        assert!(decompress(&[0xFF, 0xBF, 0], 4096, &mut out, 0).is_err());
        // Reference before the chunk start.
        let s = [0x02, 0xB0, 0x01, 0x00, 0x00];
        assert!(decompress(&s[..], 4096, &mut out, 0).is_err());
    }
}
