//! Encoding of the blob table: one 50-byte entry per resource (reshdr,
//! part number, reference count, SHA-1; wimlib `blob_table.c`,
//! `struct blob_descriptor_disk`). Metadata resources come first, in image
//! order, as wimlib writes them; readers take the first `image_count`
//! metadata entries as the images.

use super::header::encode_reshdr;
use crate::format::BLOB_ENTRY_SIZE;
use crate::read::reshdr::ResHdr;

/// One entry to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRecord {
    pub reshdr: ResHdr,
    pub part_number: u16,
    pub refcnt: u32,
    pub hash: [u8; 20],
}

pub fn encode_entry(e: &BlobRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(&encode_reshdr(&e.reshdr));
    out.extend_from_slice(&e.part_number.to_le_bytes());
    out.extend_from_slice(&e.refcnt.to_le_bytes());
    out.extend_from_slice(&e.hash);
}

/// Encode a whole table.
pub fn encode(entries: &[BlobRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * BLOB_ENTRY_SIZE);
    for e in entries {
        encode_entry(e, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_back() {
        let e = BlobRecord {
            reshdr: ResHdr {
                size_in_wim: 10,
                flags: 0,
                offset: 208,
                uncompressed_size: 10,
            },
            part_number: 1,
            refcnt: 3,
            hash: [9; 20],
        };
        let raw = encode(&[e, e]);
        assert_eq!(raw.len(), 100);
        let p = crate::read::blob_table::parse(&raw, 0, false).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].reshdr, e.reshdr);
        assert_eq!(p[1].refcnt, 3);
        assert_eq!(p[1].hash, [9; 20]);
    }
}
