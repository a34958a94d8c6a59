//! Resources and their chunk tables (wimlib `resource.c` header comment).
//!
//! A non-solid compressed resource starts with a table of `n − 1` chunk
//! offsets (4 bytes each, 8 when the resource is ≥ 4 GiB uncompressed),
//! relative to the end of the table; a solid resource starts with a 16-byte
//! header `{u64 uncompressed size, u32 chunk size, u32 format}` and a table
//! of `n` u32 compressed sizes. A chunk whose compressed size equals its
//! uncompressed size is stored raw. Every chunk decompresses on its own.

use crate::bytes::Bytes;
use crate::codec::{new_decompressor, CompressionType, DecodeError, Decompressor};
use crate::error::{FormatError, FormatErrorKind};
use std::cell::RefCell;

/// Chunk size used to stream uncompressed resources.
const RAW_CHUNK: u64 = 1 << 20;

/// A resource: a run of bytes in one part of the WIM holding one blob (or,
/// when solid, many).
#[derive(Debug, Clone)]
pub struct Resource {
    /// Index of the part (file) holding it.
    pub part: u16,
    pub offset: u64,
    pub size_in_wim: u64,
    pub uncompressed_size: u64,
    pub compressed: bool,
    pub solid: bool,
    /// In a pipable WIM: chunk headers in front of each chunk and the chunk
    /// table at the end (see [`super::pipable`]).
    pub pipable: bool,
    pub ctype: CompressionType,
    pub chunk_size: u32,
}

/// One chunk of a resource.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    /// Absolute offset of the compressed bytes in the part file.
    pub file_offset: u64,
    pub compressed_len: u32,
    pub uncompressed_len: u32,
    /// Offset of the chunk's first byte in the uncompressed resource.
    pub uncompressed_offset: u64,
}

impl Chunk {
    pub fn is_stored(&self) -> bool {
        self.compressed_len == self.uncompressed_len
    }
}

impl Resource {
    /// Work out the chunks of this resource from its chunk table. `file` is
    /// the whole part file. Everything is checked against the resource and
    /// file bounds before any allocation sized by it.
    pub fn chunks(&self, file: &[u8]) -> Result<Vec<Chunk>, FormatError> {
        let structure = if self.solid {
            "solid resource"
        } else {
            "resource"
        };
        let end = self
            .offset
            .checked_add(self.size_in_wim)
            .filter(|&e| e <= file.len() as u64)
            .ok_or_else(|| {
                FormatError::invalid(
                    self.offset,
                    structure,
                    "resource extends past the end of the file",
                )
            })?;
        let res = Bytes::new(
            &file[self.offset as usize..end as usize],
            self.offset,
            structure,
        );
        if !self.compressed {
            if self.size_in_wim != self.uncompressed_size {
                return Err(res.err(
                    0,
                    "uncompressed resource whose stored size differs from its size",
                ));
            }
            let n = self.uncompressed_size.div_ceil(RAW_CHUNK);
            return Ok((0..n)
                .map(|i| {
                    let uoff = i * RAW_CHUNK;
                    let len = (self.uncompressed_size - uoff).min(RAW_CHUNK) as u32;
                    Chunk {
                        file_offset: self.offset + uoff,
                        compressed_len: len,
                        uncompressed_len: len,
                        uncompressed_offset: uoff,
                    }
                })
                .collect());
        }
        if self.pipable && !self.solid {
            return super::pipable::chunks(self, file);
        }
        let cs = self.chunk_size as u64;
        if cs == 0 {
            return Err(res.err(0, "chunk size 0"));
        }
        let usize_ = self.uncompressed_size;
        let n = usize_.div_ceil(cs);
        let (table_off, entry, data_off) = if self.solid {
            let table = 16u64;
            (
                table,
                4u64,
                n.checked_mul(4).and_then(|t| t.checked_add(table)),
            )
        } else {
            let entry = if usize_ > u32::MAX as u64 { 8 } else { 4 };
            (0, entry, n.saturating_sub(1).checked_mul(entry))
        };
        let data_off = data_off
            .filter(|&d| d <= self.size_in_wim)
            .ok_or_else(|| {
                res.err(
                    0,
                    format!(
                        "{n} chunks of {cs} bytes need a chunk table larger than the resource ({} bytes)",
                        self.size_in_wim
                    ),
                )
            })?;
        let comp_total = self.size_in_wim - data_off;
        let mut chunks = Vec::with_capacity(n as usize);
        let mut start = 0u64;
        for i in 0..n {
            let ulen = (usize_ - i * cs).min(cs);
            let stop = if self.solid {
                let sz = res.u32((table_off + i * 4) as usize)? as u64;
                start.saturating_add(sz)
            } else if i + 1 < n {
                let at = (table_off + i * entry) as usize;
                if entry == 8 {
                    res.u64(at)?
                } else {
                    res.u32(at)? as u64
                }
            } else {
                comp_total
            };
            if stop < start || stop > comp_total {
                return Err(res.err(
                    (table_off + i.min(n.saturating_sub(1)) * entry) as usize,
                    format!("chunk {i} spans {start}..{stop}, outside 0..{comp_total}"),
                ));
            }
            let clen = stop - start;
            if clen > ulen || (clen == 0 && ulen != 0) {
                return Err(res.err(
                    (table_off + i * entry) as usize,
                    format!("chunk {i} has compressed size {clen} for {ulen} bytes"),
                ));
            }
            chunks.push(Chunk {
                file_offset: self.offset + data_off + start,
                compressed_len: clen as u32,
                uncompressed_len: ulen as u32,
                uncompressed_offset: i * cs,
            });
            start = stop;
        }
        Ok(chunks)
    }

    /// Decompress uncompressed bytes `start..end` of this resource (only the
    /// chunks that overlap them) into a new buffer. `file` is the whole
    /// part file. Fails if the chunks do not cover the whole range.
    pub fn read_range(&self, file: &[u8], start: u64, end: u64) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for c in self.chunks(file)?.iter().filter(|c| {
            c.uncompressed_offset < end && c.uncompressed_offset + c.uncompressed_len as u64 > start
        }) {
            let lo = start.saturating_sub(c.uncompressed_offset) as usize;
            let hi = ((end - c.uncompressed_offset) as usize).min(c.uncompressed_len as usize);
            if lo == 0 && hi == c.uncompressed_len as usize {
                // The whole chunk is wanted: decompress straight into place.
                let at = out.len();
                out.resize(at + hi, 0);
                self.decompress_chunk(file, c, &mut out[at..])?;
            } else {
                buf.resize(c.uncompressed_len as usize, 0);
                self.decompress_chunk(file, c, &mut buf)?;
                out.extend_from_slice(&buf[lo..hi]);
            }
        }
        let want = end.saturating_sub(start);
        if out.len() as u64 != want {
            return Err(FormatError::truncated(
                self.offset,
                "resource",
                want,
                out.len() as u64,
            ));
        }
        Ok(out)
    }

    /// Decompress chunk `c` of this resource into `out` (exactly
    /// `c.uncompressed_len` bytes), reusing this thread's decompressor.
    pub fn decompress_chunk(
        &self,
        file: &[u8],
        c: &Chunk,
        out: &mut [u8],
    ) -> Result<(), FormatError> {
        let input = file
            .get(c.file_offset as usize..(c.file_offset + c.compressed_len as u64) as usize)
            .ok_or_else(|| {
                FormatError::truncated(c.file_offset, "chunk", c.compressed_len as u64, 0)
            })?;
        if c.is_stored() || self.ctype == CompressionType::None {
            if input.len() != out.len() {
                return Err(FormatError::invalid(
                    c.file_offset,
                    "chunk",
                    "stored chunk size mismatch",
                ));
            }
            out.copy_from_slice(input);
            return Ok(());
        }
        with_decompressor(self.ctype, self.chunk_size as usize, |d| {
            d.decompress(input, out)
        })
        .map_err(|e| {
            FormatError::new(
                c.file_offset,
                "compressed chunk",
                FormatErrorKind::Decode(e),
            )
        })
    }
}

type Cached = (CompressionType, usize, Box<dyn Decompressor>);

thread_local! {
    static DECOMPRESSORS: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's decompressor for (`ctype`, `chunk_size`),
/// creating it on first use. Decompressors keep large tables, so each
/// worker thread builds one per format and reuses it for every chunk.
fn with_decompressor<R>(
    ctype: CompressionType,
    chunk_size: usize,
    f: impl FnOnce(&mut dyn Decompressor) -> Result<R, DecodeError>,
) -> Result<R, DecodeError> {
    DECOMPRESSORS.with(|cell| {
        let mut cache = cell.borrow_mut();
        let pos = match cache
            .iter()
            .position(|(t, s, _)| *t == ctype && *s == chunk_size)
        {
            Some(p) => p,
            None => {
                let d = new_decompressor(ctype, chunk_size)?;
                // Keep at most a few: a WIM rarely mixes more than two.
                if cache.len() >= 4 {
                    cache.remove(0);
                }
                cache.push((ctype, chunk_size, d));
                cache.len() - 1
            }
        };
        f(cache[pos].2.as_mut())
    })
}
