//! Pipable WIMs (a wimlib extension; wimlib `write.c`, comment above
//! `write_pipable_wim`, and `resource.h`, `struct pwm_blob_hdr` /
//! `struct pwm_chunk_hdr`).
//!
//! Layout: a header with the `WLPWM\0\0\0` magic whose resource headers are
//! zero; a copy of the XML data; the metadata resources; the file
//! resources; the blob table; the XML data again; an optional integrity
//! table; and a complete header at the very end of the file. Every blob
//! (XML and blob table included) is preceded by a 40-byte blob header
//! `{u64 magic, u64 uncompressed size, SHA-1, u32 resource flags}`; the
//! resource header in the blob table points just past it. A compressed
//! resource has no chunk table in front: each chunk is preceded by its u32
//! compressed size, and the ordinary chunk table (offsets of chunks 1..n,
//! counted as if the chunk headers were absent) follows the last chunk.
//! Solid resources do not exist in pipable WIMs.

use super::resource::{Chunk, Resource};
use crate::bytes::{hex, Bytes};
use crate::error::FormatError;
use crate::format::{res_flags, PWM_BLOB_MAGIC};

/// Size of the header in front of each blob.
pub const BLOB_HDR_SIZE: usize = 40;
/// Size of the header in front of each compressed chunk.
pub const CHUNK_HDR_SIZE: usize = 4;

/// The header that precedes each blob of a pipable WIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub uncompressed_size: u64,
    pub hash: [u8; 20],
    /// Resource flags (`res_flags`): METADATA for image metadata, the XML
    /// data and the blob table; COMPRESSED when chunked.
    pub flags: u32,
}

impl BlobHeader {
    /// Parse the blob header at `off` of `b`. A bad magic is an error.
    pub fn parse(b: &Bytes<'_>, off: usize) -> Result<BlobHeader, FormatError> {
        let magic = b.u64(off)?;
        if magic != PWM_BLOB_MAGIC {
            return Err(FormatError::invalid(
                b.at(off),
                "pipable blob header",
                format!("magic {magic:#018x}, expected {PWM_BLOB_MAGIC:#018x}"),
            ));
        }
        Ok(BlobHeader {
            uncompressed_size: b.u64(off + 8)?,
            hash: b.array(off + 16)?,
            flags: b.u32(off + 36)?,
        })
    }

    pub fn encode(&self) -> [u8; BLOB_HDR_SIZE] {
        let mut o = [0u8; BLOB_HDR_SIZE];
        o[..8].copy_from_slice(&PWM_BLOB_MAGIC.to_le_bytes());
        o[8..16].copy_from_slice(&self.uncompressed_size.to_le_bytes());
        o[16..36].copy_from_slice(&self.hash);
        o[36..40].copy_from_slice(&self.flags.to_le_bytes());
        o
    }

    pub fn is_compressed(&self) -> bool {
        self.flags & res_flags::COMPRESSED as u32 != 0
    }

    pub fn is_metadata(&self) -> bool {
        self.flags & res_flags::METADATA as u32 != 0
    }
}

/// Check that the blob header in front of the resource at `offset` of
/// `file` names `size` bytes with SHA-1 `hash`. `at` is the blob table
/// entry's offset (for the message when the header cannot exist).
pub fn check_blob_header(
    file: &[u8],
    offset: u64,
    size: u64,
    hash: &[u8; 20],
    at: u64,
) -> Result<(), FormatError> {
    let start = offset
        .checked_sub(BLOB_HDR_SIZE as u64)
        .filter(|&s| s >= crate::format::HEADER_SIZE as u64)
        .ok_or_else(|| {
            FormatError::invalid(
                at,
                "blob table",
                format!("pipable resource at {offset:#x} leaves no room for its blob header"),
            )
        })?;
    let b = Bytes::new(file, 0, "pipable blob header");
    let h = BlobHeader::parse(&b, start as usize)?;
    if h.uncompressed_size != size || h.hash != *hash {
        return Err(FormatError::invalid(
            start,
            "pipable blob header",
            format!(
                "names blob {} of {} bytes, but the blob table says {} of {size} bytes",
                hex(&h.hash),
                h.uncompressed_size,
                hex(hash)
            ),
        ));
    }
    Ok(())
}

/// Size of the chunk table entries of a resource of `usize_` bytes.
pub fn chunk_entry_size(usize_: u64) -> u64 {
    if usize_ > u32::MAX as u64 {
        8
    } else {
        4
    }
}

/// The chunks of a compressed pipable resource, from the chunk table at
/// its end; each chunk header must agree with the table. `file` is the
/// whole part file; everything is bounds-checked before allocating.
pub fn chunks(res: &Resource, file: &[u8]) -> Result<Vec<Chunk>, FormatError> {
    const S: &str = "pipable resource";
    let end = res
        .offset
        .checked_add(res.size_in_wim)
        .filter(|&e| e <= file.len() as u64)
        .ok_or_else(|| {
            FormatError::invalid(res.offset, S, "resource extends past the end of the file")
        })?;
    let b = Bytes::new(&file[res.offset as usize..end as usize], res.offset, S);
    let cs = res.chunk_size as u64;
    if cs == 0 {
        return Err(b.err(0, "chunk size 0"));
    }
    let usize_ = res.uncompressed_size;
    let n = usize_.div_ceil(cs);
    let entry = chunk_entry_size(usize_);
    // Chunk table plus one chunk header per chunk must fit.
    let table = n
        .saturating_sub(1)
        .checked_mul(entry)
        .filter(|&t| {
            n.checked_mul(CHUNK_HDR_SIZE as u64)
                .and_then(|h| h.checked_add(t))
                .is_some_and(|x| x <= res.size_in_wim)
        })
        .ok_or_else(|| {
            b.err(
                0,
                format!(
                    "{n} chunks of {cs} bytes need chunk headers and a chunk table larger than the resource ({} bytes)",
                    res.size_in_wim
                ),
            )
        })?;
    let table_off = res.size_in_wim - table;
    let comp_total = table_off - n * CHUNK_HDR_SIZE as u64;
    let mut chunks = Vec::with_capacity(n as usize);
    let mut start = 0u64;
    for i in 0..n {
        let ulen = (usize_ - i * cs).min(cs);
        let stop = if i + 1 < n {
            let at = (table_off + i * entry) as usize;
            if entry == 8 {
                b.u64(at)?
            } else {
                b.u32(at)? as u64
            }
        } else {
            comp_total
        };
        let entry_at = (table_off + i.min(n.saturating_sub(2)) * entry) as usize;
        if stop < start || stop > comp_total {
            return Err(b.err(
                entry_at,
                format!("chunk {i} spans {start}..{stop}, outside 0..{comp_total}"),
            ));
        }
        let clen = stop - start;
        if clen > ulen || clen == 0 {
            return Err(b.err(
                entry_at,
                format!("chunk {i} has compressed size {clen} for {ulen} bytes"),
            ));
        }
        let hdr_at = (start + i * CHUNK_HDR_SIZE as u64) as usize;
        let said = b.u32(hdr_at)? as u64;
        if said != clen {
            return Err(FormatError::invalid(
                b.at(hdr_at),
                "pipable chunk header",
                format!("chunk {i} header says {said} bytes, the chunk table {clen}"),
            ));
        }
        chunks.push(Chunk {
            file_offset: res.offset + hdr_at as u64 + CHUNK_HDR_SIZE as u64,
            compressed_len: clen as u32,
            uncompressed_len: ulen as u32,
            uncompressed_offset: i * cs,
        });
        start = stop;
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CompressionType;

    fn res(size_in_wim: u64, usize_: u64) -> Resource {
        Resource {
            part: 0,
            offset: 0,
            size_in_wim,
            uncompressed_size: usize_,
            compressed: true,
            solid: false,
            pipable: true,
            ctype: CompressionType::Xpress,
            chunk_size: 4096,
        }
    }

    #[test]
    fn blob_header_round_trips() {
        let h = BlobHeader {
            uncompressed_size: 12345,
            hash: [7; 20],
            flags: 6,
        };
        let e = h.encode();
        assert_eq!(BlobHeader::parse(&Bytes::new(&e, 0, "x"), 0).unwrap(), h);
        assert!(h.is_compressed() && h.is_metadata());
        let mut bad = e;
        bad[0] ^= 1;
        let err = BlobHeader::parse(&Bytes::new(&bad, 0, "x"), 0).unwrap_err();
        assert!(err.to_string().contains("pipable blob header"), "{err}");
    }

    #[test]
    fn chunk_headers_and_trailing_table_give_the_chunks() {
        // Two chunks (4096 + 100 bytes) of compressed sizes 10 and 5.
        let mut f = Vec::new();
        f.extend_from_slice(&10u32.to_le_bytes());
        f.extend_from_slice(&[1; 10]);
        f.extend_from_slice(&5u32.to_le_bytes());
        f.extend_from_slice(&[2; 5]);
        f.extend_from_slice(&10u32.to_le_bytes()); // offset of chunk 1
        let c = chunks(&res(f.len() as u64, 4196), &f).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].file_offset, c[0].compressed_len), (4, 10));
        assert_eq!((c[1].file_offset, c[1].compressed_len), (18, 5));
        assert_eq!(c[1].uncompressed_len, 100);
        // A chunk header that disagrees with the table is refused.
        let mut g = f.clone();
        g[14] = 6;
        let e = chunks(&res(g.len() as u64, 4196), &g).unwrap_err();
        assert!(e.to_string().contains("pipable chunk header"), "{e}");
        // So is a table offset past the data.
        let mut g = f.clone();
        let l = g.len();
        g[l - 4] = 200;
        assert!(chunks(&res(g.len() as u64, 4196), &g).is_err());
        // And an absurd chunk count, before allocating.
        let e = chunks(&res(f.len() as u64, 1 << 60), &f).unwrap_err();
        assert!(e.to_string().contains("chunk table"), "{e}");
    }
}
