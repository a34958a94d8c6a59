//! The blob table (a.k.a. lookup table): one 50-byte entry per stored blob,
//! giving its resource header, part number, reference count and SHA-1
//! (wimlib `blob_table.c`, `struct blob_descriptor_disk`). Entries flagged
//! SOLID describe solid resources (uncompressed size
//! [`SOLID_RESOURCE_MAGIC`]) and the blobs packed into them.

use super::reshdr::ResHdr;
use crate::bytes::Bytes;
use crate::error::FormatError;
use crate::format::{BLOB_ENTRY_SIZE, SOLID_RESOURCE_MAGIC};

/// One raw entry of the blob table.
#[derive(Debug, Clone)]
pub struct BlobEntry {
    pub reshdr: ResHdr,
    pub part_number: u16,
    pub refcnt: u32,
    pub hash: [u8; 20],
    /// Absolute file offset of this entry (for error messages).
    pub entry_offset: u64,
}

impl BlobEntry {
    /// Is this the descriptor of a solid resource rather than a blob?
    pub fn is_solid_resource(&self) -> bool {
        self.reshdr.is_solid() && self.reshdr.uncompressed_size == SOLID_RESOURCE_MAGIC
    }
}

/// Parse the uncompressed blob table. `base` is its file offset. In a
/// version-0x10d00 WIM the SOLID flag has no meaning and is cleared, as
/// Microsoft's and wimlib's readers do.
pub fn parse(data: &[u8], base: u64, solid_allowed: bool) -> Result<Vec<BlobEntry>, FormatError> {
    let b = Bytes::new(data, base, "blob table");
    if data.len() % BLOB_ENTRY_SIZE != 0 {
        return Err(b.err(
            0,
            format!("size {} is not a multiple of {BLOB_ENTRY_SIZE}", data.len()),
        ));
    }
    let n = data.len() / BLOB_ENTRY_SIZE;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let off = i * BLOB_ENTRY_SIZE;
        let mut reshdr = ResHdr::parse(&b, off)?;
        if !solid_allowed {
            reshdr.flags &= !crate::format::res_flags::SOLID;
        }
        out.push(BlobEntry {
            reshdr,
            part_number: b.u16(off + 24)?,
            refcnt: b.u32(off + 26)?,
            hash: b.array(off + 30)?,
            entry_offset: b.at(off),
        });
    }
    Ok(out)
}
