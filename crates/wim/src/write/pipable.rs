//! Writing the resources of a pipable WIM (layout in
//! [`crate::read::pipable`]): each blob behind a 40-byte blob header, and
//! compressed resources re-framed from the ordinary layout (chunk table
//! first) into the pipable one (a u32 compressed size before each chunk,
//! the same chunk table after the last chunk). The compressed chunks
//! themselves are the same bytes in both layouts, so a resource staged in
//! the ordinary layout is copied, never compressed again.

use super::resource::Out;
use crate::codec::CompressionType;
use crate::error::{Error, Result};
use crate::format::res_flags;
use crate::read::pipable::{BlobHeader, CHUNK_HDR_SIZE};
use crate::read::reshdr::ResHdr;
use crate::read::resource::Resource;
use sha1::{Digest, Sha1};

/// Write `data` uncompressed behind its blob header (the XML data and the
/// blob table of a pipable WIM, flagged METADATA as wimlib does). Returns
/// the resource header, which points past the blob header.
pub fn write_plain(out: &mut Out, data: &[u8], flags: u8) -> Result<ResHdr> {
    let hash: [u8; 20] = Sha1::digest(data).into();
    let h = BlobHeader {
        uncompressed_size: data.len() as u64,
        hash,
        flags: flags as u32,
    };
    out.write_all(&h.encode())?;
    let offset = out.pos;
    out.write_all(data)?;
    Ok(ResHdr {
        size_in_wim: data.len() as u64,
        flags,
        offset,
        uncompressed_size: data.len() as u64,
    })
}

/// Copy the resource `rh` (blob `hash`) of the staged ordinary-layout file
/// `staged` into `out` in the pipable layout. `ctype`/`chunk_size` are
/// those of the staged WIM. Returns the new resource header.
pub fn copy_reframed(
    out: &mut Out,
    staged: &[u8],
    rh: &ResHdr,
    hash: &[u8; 20],
    ctype: CompressionType,
    chunk_size: u32,
) -> Result<ResHdr> {
    let path = out.path.clone();
    let fail = |m: String| Error::Refused(format!("{}: staged resource {m}", path.display()));
    let end = rh
        .offset
        .checked_add(rh.size_in_wim)
        .filter(|&e| e <= staged.len() as u64)
        .ok_or_else(|| fail(format!("at {:#x} runs past the staged file", rh.offset)))?;
    let h = BlobHeader {
        uncompressed_size: rh.uncompressed_size,
        hash: *hash,
        flags: (rh.flags & (res_flags::METADATA | res_flags::COMPRESSED)) as u32,
    };
    out.write_all(&h.encode())?;
    let offset = out.pos;
    let bytes = &staged[rh.offset as usize..end as usize];
    if !rh.is_compressed() {
        out.write_all(bytes)?;
        return Ok(ResHdr { offset, ..*rh });
    }
    let res = Resource {
        part: 0,
        offset: rh.offset,
        size_in_wim: rh.size_in_wim,
        uncompressed_size: rh.uncompressed_size,
        compressed: true,
        solid: false,
        pipable: false,
        ctype,
        chunk_size,
    };
    let chunks = res
        .chunks(staged)
        .map_err(|e| fail(format!("at {:#x}: {e}", rh.offset)))?;
    let table_len = chunks.first().map_or(0, |c| c.file_offset - rh.offset) as usize;
    for c in &chunks {
        out.write_all(&c.compressed_len.to_le_bytes())?;
        let lo = c.file_offset as usize;
        out.write_all(&staged[lo..lo + c.compressed_len as usize])?;
    }
    // The chunk table holds offsets counted without the chunk headers, so
    // its bytes stay as they were.
    out.write_all(&bytes[..table_len])?;
    Ok(ResHdr {
        size_in_wim: rh.size_in_wim + (chunks.len() * CHUNK_HDR_SIZE) as u64,
        flags: rh.flags,
        offset,
        uncompressed_size: rh.uncompressed_size,
    })
}
