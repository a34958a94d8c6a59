//! Encoding of the 208-byte WIM header and of resource headers
//! (wimlib `header.h`, `struct wim_header_disk`; `resource.h`,
//! `struct wim_reshdr_disk`). The inverse of [`crate::read::header`].

use crate::format::{HEADER_SIZE, PWM_MAGIC, WIM_MAGIC};
use crate::read::header::Header;
use crate::read::reshdr::{ResHdr, RESHDR_SIZE};

/// Encode a resource header: 7-byte size in the WIM, 1-byte flags, u64
/// offset, u64 uncompressed size.
pub fn encode_reshdr(r: &ResHdr) -> [u8; RESHDR_SIZE] {
    let mut b = [0u8; RESHDR_SIZE];
    debug_assert!(r.size_in_wim < 1 << 56, "size_in_wim fits 7 bytes");
    b[..7].copy_from_slice(&r.size_in_wim.to_le_bytes()[..7]);
    b[7] = r.flags;
    b[8..16].copy_from_slice(&r.offset.to_le_bytes());
    b[16..24].copy_from_slice(&r.uncompressed_size.to_le_bytes());
    b
}

/// Encode a header: the pipable magic when `h.magic` is [`PWM_MAGIC`],
/// else the ordinary one.
pub fn encode_header(h: &Header) -> [u8; HEADER_SIZE] {
    let mut b = [0u8; HEADER_SIZE];
    b[0..8].copy_from_slice(if h.magic == PWM_MAGIC {
        &PWM_MAGIC
    } else {
        &WIM_MAGIC
    });
    b[8..12].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    b[0x0c..0x10].copy_from_slice(&h.version.to_le_bytes());
    b[0x10..0x14].copy_from_slice(&h.flags.to_le_bytes());
    b[0x14..0x18].copy_from_slice(&h.chunk_size.to_le_bytes());
    b[0x18..0x28].copy_from_slice(&h.guid);
    b[0x28..0x2a].copy_from_slice(&h.part_number.to_le_bytes());
    b[0x2a..0x2c].copy_from_slice(&h.total_parts.to_le_bytes());
    b[0x2c..0x30].copy_from_slice(&h.image_count.to_le_bytes());
    b[0x30..0x48].copy_from_slice(&encode_reshdr(&h.blob_table));
    b[0x48..0x60].copy_from_slice(&encode_reshdr(&h.xml));
    b[0x60..0x78].copy_from_slice(&encode_reshdr(&h.boot_metadata));
    b[0x78..0x7c].copy_from_slice(&h.boot_index.to_le_bytes());
    b[0x7c..0x94].copy_from_slice(&encode_reshdr(&h.integrity));
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{hdr_flags, res_flags, VERSION_DEFAULT};

    #[test]
    fn header_round_trips_through_the_reader() {
        let r = |o: u64, s: u64, f: u8| ResHdr {
            size_in_wim: s,
            flags: f,
            offset: o,
            uncompressed_size: s,
        };
        let h = Header {
            magic: WIM_MAGIC,
            version: VERSION_DEFAULT,
            flags: hdr_flags::COMPRESSION | hdr_flags::COMPRESS_XPRESS,
            chunk_size: 32768,
            guid: [7; 16],
            part_number: 1,
            total_parts: 1,
            image_count: 2,
            blob_table: r(1000, 150, res_flags::METADATA),
            xml: r(1150, 300, res_flags::METADATA),
            boot_metadata: r(500, 100, res_flags::METADATA),
            boot_index: 2,
            integrity: r(1450, 32, 0),
        };
        let b = encode_header(&h);
        let p = Header::parse(&b).unwrap();
        assert_eq!(p.flags, h.flags);
        assert_eq!(p.chunk_size, 32768);
        assert_eq!(p.guid, [7; 16]);
        assert_eq!(p.image_count, 2);
        assert_eq!(p.boot_index, 2);
        assert_eq!(p.blob_table, h.blob_table);
        assert_eq!(p.xml, h.xml);
        assert_eq!(p.boot_metadata, h.boot_metadata);
        assert_eq!(p.integrity, h.integrity);
        // A 7-byte size survives.
        let big = r(1, (1 << 56) - 1, 0);
        let mut hb = [0u8; 24];
        hb.copy_from_slice(&encode_reshdr(&big));
        let bb = crate::bytes::Bytes::new(&hb, 0, "t");
        assert_eq!(ResHdr::parse(&bb, 0).unwrap(), big);
    }
}
