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
        if self.compressed && self.pipable && !self.solid {
            return super::pipable::chunks(self, file);
        }
        let end = self.offset.saturating_add(self.chunk_table_len());
        let head = file
            .get(self.offset as usize..end as usize)
            .unwrap_or_default();
        self.chunks_in(head, file.len() as u64)
    }

    /// [`Resource::chunks`] of a resource in `data`, reading the chunk table
    /// with pread(2) when `data` is a memory map. Reading it through the map
    /// would map the pages around it: with large page-cache folios (ext4
    /// since Linux 6.16, after the file was read with read(2)) one fault
    /// maps a whole folio of up to 2 MiB, so planning a stream over every
    /// resource of a WIM mapped nearly all of the file at once.
    pub fn chunks_of(&self, data: &super::Data) -> Result<Vec<Chunk>, FormatError> {
        let in_file = self
            .offset
            .checked_add(self.size_in_wim)
            .is_some_and(|e| e <= data.len() as u64);
        if !in_file || (self.compressed && self.pipable && !self.solid) {
            return self.chunks(data);
        }
        let len = self.chunk_table_len();
        match data.read_unmapped(self.offset..self.offset + len) {
            Ok(head) => self.chunks_in(&head, data.len() as u64),
            // Unreadable with pread: read through the map as before.
            Err(_) => self.chunks(data),
        }
    }

    /// How many bytes at the start of the resource [`Resource::chunks`]
    /// reads: the chunk table (with a solid resource's 16-byte header),
    /// at most the whole resource. The whole resource for a pipable one.
    pub fn chunk_table_len(&self) -> u64 {
        if !self.compressed {
            return 0;
        }
        if self.pipable && !self.solid {
            return self.size_in_wim;
        }
        let cs = self.chunk_size as u64;
        if cs == 0 {
            return 0;
        }
        let n = self.uncompressed_size.div_ceil(cs);
        let len = if self.solid {
            n.checked_mul(4).and_then(|t| t.checked_add(16))
        } else {
            let entry = if self.uncompressed_size > u32::MAX as u64 {
                8
            } else {
                4
            };
            n.saturating_sub(1).checked_mul(entry)
        };
        len.map_or(self.size_in_wim, |l| l.min(self.size_in_wim))
    }

    /// The body of [`Resource::chunks`]: `head` holds the first
    /// [`Resource::chunk_table_len`] bytes of the resource (or fewer if the
    /// file ends first), `file_len` is the part file's length.
    fn chunks_in(&self, head: &[u8], file_len: u64) -> Result<Vec<Chunk>, FormatError> {
        let structure = if self.solid {
            "solid resource"
        } else {
            "resource"
        };
        let _end = self
            .offset
            .checked_add(self.size_in_wim)
            .filter(|&e| e <= file_len)
            .ok_or_else(|| {
                FormatError::invalid(
                    self.offset,
                    structure,
                    "resource extends past the end of the file",
                )
            })?;
        let res = Bytes::new(head, self.offset, structure);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Data;

    /// Pages of `bytes` (a mapping) present in our page tables, from
    /// /proc/self/pagemap (bit 63 of each page's entry).
    fn present_pages(bytes: &[u8]) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        const PAGE: usize = 4096;
        let first = bytes.as_ptr() as usize / PAGE;
        let last = (bytes.as_ptr() as usize + bytes.len()).div_ceil(PAGE);
        let mut f = std::fs::File::open("/proc/self/pagemap").unwrap();
        f.seek(SeekFrom::Start(first as u64 * 8)).unwrap();
        let mut buf = vec![0u8; (last - first) * 8];
        f.read_exact(&mut buf).unwrap();
        buf.chunks_exact(8)
            .filter(|e| u64::from_le_bytes((*e).try_into().unwrap()) >> 63 == 1)
            .count()
    }

    /// A file with a non-solid resource (4-byte chunk table) at 64 KiB and
    /// a solid one (16-byte header + table) after it.
    fn layout() -> (Vec<u8>, Resource, Resource) {
        let cs = 32768u32;
        let mut file = vec![0u8; 65536];
        let sizes = [1000u32, 32768, 500, 7000];
        let usize_ = 3 * cs as u64 + 9000;
        let off = file.len() as u64;
        let mut acc = 0u32;
        for s in &sizes[..3] {
            acc += s;
            file.extend_from_slice(&acc.to_le_bytes());
        }
        for (i, s) in sizes.iter().enumerate() {
            file.extend(std::iter::repeat_n(i as u8 + 1, *s as usize));
        }
        let plain = Resource {
            part: 0,
            offset: off,
            size_in_wim: file.len() as u64 - off,
            uncompressed_size: usize_,
            compressed: true,
            solid: false,
            pipable: false,
            ctype: CompressionType::Xpress,
            chunk_size: cs,
        };
        let soff = file.len() as u64;
        file.extend_from_slice(&usize_.to_le_bytes());
        file.extend_from_slice(&cs.to_le_bytes());
        file.extend_from_slice(&1u32.to_le_bytes());
        for s in &sizes {
            file.extend_from_slice(&s.to_le_bytes());
        }
        for (i, s) in sizes.iter().enumerate() {
            file.extend(std::iter::repeat_n(i as u8 + 9, *s as usize));
        }
        let solid = Resource {
            offset: soff,
            size_in_wim: file.len() as u64 - soff,
            solid: true,
            ..plain.clone()
        };
        (file, plain, solid)
    }

    #[test]
    fn chunk_tables_are_read_without_mapping_pages() {
        let (bytes, plain, solid) = layout();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("res");
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a private read-only map of our own temporary file.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let data = Data::Mapped(map, file);
        let owned = Data::Owned(bytes.clone());
        for res in [&plain, &solid] {
            let want = format!("{:?}", res.chunks(&bytes).unwrap());
            assert_eq!(want, format!("{:?}", res.chunks_of(&owned).unwrap()));
            assert_eq!(want, format!("{:?}", res.chunks_of(&data).unwrap()));
            assert_eq!(res.chunks(&bytes).unwrap().len(), 4);
        }
        // Planning read both chunk tables, yet no page of the map is mapped
        // (through the map, each read would fault in at least its page).
        assert_eq!(present_pages(&data), 0);
        let _ = std::hint::black_box(data[plain.offset as usize]);
        assert!(present_pages(&data) >= 1, "pagemap reports present pages");
        // A table cut short by the file's end is still an error.
        let short = Resource {
            size_in_wim: solid.size_in_wim + 1,
            ..solid.clone()
        };
        assert!(short.chunks_of(&data).is_err());
    }
}
