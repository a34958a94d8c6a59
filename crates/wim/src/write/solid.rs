//! Writing solid resources (research notes §1.1 "Solid resource"; wimlib
//! `resource.c`/`write.c`, `alt_chunk_table_header_disk`): many blobs
//! concatenated and compressed as one stream cut into large chunks.
//!
//! Layout at the resource offset: a 16-byte header `{u64 uncompressed
//! size, u32 chunk size, u32 format}` (format 3 = LZMS), then one u32
//! *compressed size* per chunk (chunk 0 included), then the chunks; a
//! chunk whose compressed size equals its uncompressed size is stored
//! raw. In the blob table the resource is described by an entry with the
//! SOLID flag and uncompressed size [`SOLID_RESOURCE_MAGIC`], followed by
//! one SOLID entry per blob giving its offset in the uncompressed stream
//! and its size (uncompressed size field 0, as wimlib writes it). This is
//! what [`crate::read`] parses.
//!
//! Chunks are compressed in parallel, a batch at a time, and written in
//! order, so the bytes never depend on the thread count.

use super::blob_table::BlobRecord;
use super::resource::{changed, read_full, BlobSource, CompressorFactory, Out};
use crate::codec::CompressionType;
use crate::error::{Error, Result};
use crate::format::{res_flags, SOLID_RESOURCE_MAGIC};
use crate::read::reshdr::ResHdr;
use sha1::{Digest, Sha1};

/// Default chunk size of solid resources (what Microsoft's tools use).
pub const DEFAULT_SOLID_CHUNK_SIZE: u32 = 64 << 20;

/// Most chunks compressed at once (bounds memory: each in-flight chunk
/// needs its input and a compressor's tables).
const MAX_BATCH_CHUNKS: usize = 8;

/// One blob to pack: its source, size and (already computed) SHA-1; the
/// bytes read are checked against both.
#[derive(Debug, Clone)]
pub struct SolidBlob {
    pub src: BlobSource,
    pub size: u64,
    pub hash: [u8; 20],
}

/// Where a solid resource was written and where its blobs sit in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolidWritten {
    pub offset: u64,
    pub size_in_wim: u64,
    pub uncompressed_size: u64,
    /// Offset of each blob (in input order) in the uncompressed stream.
    pub blob_offsets: Vec<u64>,
}

impl SolidWritten {
    /// Blob table entries: the resource descriptor, then one per blob
    /// (reference counts 0, to be filled in by the caller).
    pub fn records(&self, blobs: &[SolidBlob], part_number: u16) -> Vec<BlobRecord> {
        let mut v = Vec::with_capacity(blobs.len() + 1);
        v.push(BlobRecord {
            reshdr: ResHdr {
                size_in_wim: self.size_in_wim,
                flags: res_flags::SOLID,
                offset: self.offset,
                uncompressed_size: SOLID_RESOURCE_MAGIC,
            },
            part_number,
            refcnt: 1,
            hash: [0; 20],
        });
        for (b, &off) in blobs.iter().zip(&self.blob_offsets) {
            v.push(BlobRecord {
                reshdr: ResHdr {
                    size_in_wim: b.size,
                    flags: res_flags::SOLID,
                    offset: off,
                    uncompressed_size: 0,
                },
                part_number,
                refcnt: 0,
                hash: b.hash,
            });
        }
        v
    }
}

/// Format number of `ctype` in a solid resource header.
fn solid_format(ctype: CompressionType) -> u32 {
    match ctype {
        CompressionType::None => 0,
        CompressionType::Xpress => 1,
        CompressionType::Lzx => 2,
        CompressionType::Lzms => 3,
    }
}

/// SHA-1 of a source, which must hold exactly `size` bytes.
pub fn hash_source(src: &BlobSource, size: u64) -> Result<[u8; 20]> {
    if let BlobSource::Bytes(b) = src {
        if b.len() as u64 != size {
            return Err(changed(src, size));
        }
        return Ok(Sha1::digest(&b[..]).into());
    }
    let mut r = src.open()?;
    let mut h = Sha1::new();
    let mut buf = vec![0u8; (size.min(1 << 20) as usize).max(1)];
    let mut done = 0u64;
    loop {
        let n = read_full(&mut *r, &mut buf).map_err(|e| src.io_err(e))?;
        if n == 0 {
            break;
        }
        done += n as u64;
        if done > size {
            return Err(changed(src, size));
        }
        h.update(&buf[..n]);
    }
    if done != size {
        return Err(changed(src, size));
    }
    Ok(h.finalize().into())
}

/// Compress and write the full batch in `buf` (whole chunks, the last
/// one possibly short), appending each chunk's stored size to `sizes`.
fn flush_batch(
    out: &mut Out,
    buf: &[u8],
    chunk_size: usize,
    factory: &CompressorFactory,
    pool: &rayon::ThreadPool,
    sizes: &mut Vec<u32>,
) -> Result<()> {
    let chunks: Vec<&[u8]> = buf.chunks(chunk_size).collect();
    let results = super::resource::compress_chunks(&chunks, factory, pool);
    for (chunk, res) in chunks.iter().zip(&results) {
        let bytes: &[u8] = res.as_deref().unwrap_or(chunk);
        out.write_all(bytes)?;
        sizes.push(bytes.len() as u32);
    }
    Ok(())
}

/// Write `blobs` as one solid resource of `ctype` chunks at the current
/// position of `out`. `chunk_size` must be a power of two the format
/// allows (checked by the caller); `blobs` must not be empty.
pub fn write_solid(
    out: &mut Out,
    blobs: &[SolidBlob],
    ctype: CompressionType,
    chunk_size: u32,
    factory: &CompressorFactory,
    pool: &rayon::ThreadPool,
) -> Result<SolidWritten> {
    let offset = out.pos;
    let total = blobs.iter().fold(0u64, |a, b| a.saturating_add(b.size));
    let cs = chunk_size as usize;
    let n = total.div_ceil(chunk_size as u64);
    if n > u32::MAX as u64 / 4 {
        return Err(Error::Refused(format!(
            "solid resource of {total} bytes has too many {chunk_size}-byte chunks"
        )));
    }
    out.write_all(&vec![0u8; 16 + 4 * n as usize])?;
    let batch_chunks = pool.current_num_threads().clamp(1, MAX_BATCH_CHUNKS);
    let cap = (batch_chunks as u64 * chunk_size as u64).min(total.max(1)) as usize;
    let mut buf = vec![0u8; cap];
    let mut fill = 0usize;
    let mut sizes: Vec<u32> = Vec::with_capacity(n as usize);
    let mut blob_offsets = Vec::with_capacity(blobs.len());
    let mut pos = 0u64;
    for b in blobs {
        blob_offsets.push(pos);
        let mut r = b.src.open()?;
        let mut h = Sha1::new();
        let mut done = 0u64;
        while done < b.size {
            if fill == cap {
                flush_batch(out, &buf, cs, factory, pool, &mut sizes)?;
                fill = 0;
            }
            let want = ((b.size - done) as usize).min(cap - fill);
            let got =
                read_full(&mut *r, &mut buf[fill..fill + want]).map_err(|e| b.src.io_err(e))?;
            if got != want {
                return Err(changed(&b.src, b.size));
            }
            h.update(&buf[fill..fill + got]);
            fill += got;
            done += got as u64;
        }
        if read_full(&mut *r, &mut [0u8; 1]).map_err(|e| b.src.io_err(e))? != 0
            || <[u8; 20]>::from(h.finalize()) != b.hash
        {
            return Err(changed(&b.src, b.size));
        }
        pos += b.size;
    }
    if fill > 0 {
        flush_batch(out, &buf[..fill], cs, factory, pool, &mut sizes)?;
    }
    debug_assert_eq!(sizes.len() as u64, n);
    let end = out.pos;
    let mut head = Vec::with_capacity(16 + 4 * sizes.len());
    head.extend_from_slice(&total.to_le_bytes());
    head.extend_from_slice(&chunk_size.to_le_bytes());
    head.extend_from_slice(&solid_format(ctype).to_le_bytes());
    for s in &sizes {
        head.extend_from_slice(&s.to_le_bytes());
    }
    out.seek_to(offset)?;
    out.write_all(&head)?;
    out.seek_to(end)?;
    Ok(SolidWritten {
        offset,
        size_in_wim: end - offset,
        uncompressed_size: total,
        blob_offsets,
    })
}
