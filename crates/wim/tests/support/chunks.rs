//! Minimal WIM container parsing for codec tests and benchmarks: just enough
//! to find every compressed chunk and every blob's SHA-1. Test support only;
//! the real reader lives in `src/read/` and will replace this.
//!
//! Layout facts (`shared/research/wim.md` §1.1–1.3, wimlib `resource.c` and
//! `blob_table.c`):
//! * 208-byte header: version at 0x0C, flags at 0x10 (XPRESS 0x20000, LZX
//!   0x40000, LZMS 0x80000), chunk size at 0x14 (0 means 32768), part number
//!   at 0x28, blob table reshdr at 0x30.
//! * reshdr (24 bytes): 7-byte size in WIM, 1-byte flags (METADATA 0x2,
//!   COMPRESSED 0x4, SOLID 0x10), u64 offset, u64 uncompressed size.
//! * blob entry (50 bytes): reshdr, u16 part, u32 refcount, SHA-1.
//! * non-solid compressed resource: chunk table of n-1 entries (u32, or u64
//!   when the uncompressed size is >= 4 GiB) giving chunk starts relative to
//!   the end of the table; a chunk whose compressed size equals its
//!   uncompressed size is stored raw.
//! * solid resource: 16-byte header {u64 uncompressed size, u32 chunk size,
//!   u32 format (0 none, 1 XPRESS, 2 LZX, 3 LZMS)} then one u32 compressed size
//!   per chunk, then the chunks. Blob-table entries with the SOLID flag form
//!   a run; those with uncompressed size 0x1_0000_0000 describe resources,
//!   the others blobs whose offset is into the concatenated uncompressed
//!   resources of the run and whose size is the "size in WIM" field.
//!
//! Use it with `#[path = "support/chunks.rs"] mod chunks;`.
#![allow(dead_code)]

use std::path::Path;

pub const FMT_NONE: u32 = 0;
pub const FMT_XPRESS: u32 = 1;
pub const FMT_LZX: u32 = 2;
pub const FMT_LZMS: u32 = 3;

const RESHDR_METADATA: u8 = 0x02;
const RESHDR_COMPRESSED: u8 = 0x04;
const RESHDR_SOLID: u8 = 0x10;
const SOLID_MAGIC_SIZE: u64 = 0x1_0000_0000;
const WIM_VERSION_DEFAULT: u32 = 0x10D00;

/// A resource header (`reshdr`).
#[derive(Debug, Clone, Copy)]
pub struct ResHdr {
    pub size_in_wim: u64,
    pub flags: u8,
    pub offset: u64,
    pub uncompressed_size: u64,
}

/// One 50-byte blob table entry.
#[derive(Debug, Clone)]
pub struct BlobEntry {
    pub reshdr: ResHdr,
    pub part: u16,
    pub refcnt: u32,
    pub sha1: [u8; 20],
}

/// One chunk of a resource: `len` bytes at `offset` in the WIM file that
/// decode to `uncompressed_size` bytes. Stored raw when
/// `len == uncompressed_size` or the format is [`FMT_NONE`].
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    pub format: u32,
    /// The resource's chunk size: what a decompressor must be created for
    /// (LZX derives its window size from it).
    pub chunk_size: u32,
    pub offset: usize,
    pub len: usize,
    pub uncompressed_size: usize,
}

impl Chunk {
    pub fn is_stored(&self) -> bool {
        self.format == FMT_NONE || self.len == self.uncompressed_size
    }
}

/// A blob inside a resource.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub offset: u64,
    pub size: u64,
    pub sha1: [u8; 20],
}

/// A resource with its chunks and the blobs it holds (one for a non-solid
/// resource, any number for a solid one).
#[derive(Debug, Clone)]
pub struct Resource {
    pub reshdr: ResHdr,
    pub solid: bool,
    pub metadata: bool,
    pub format: u32,
    pub chunk_size: u32,
    pub uncompressed_size: u64,
    pub chunks: Vec<Chunk>,
    pub blobs: Vec<BlobRef>,
}

/// Callback that decodes one compressed chunk: `(chunk, input, output)`.
pub type ChunkDecoder<'a> = dyn FnMut(&Chunk, &[u8], &mut [u8]) -> Result<(), String> + 'a;

/// A whole WIM file read into memory.
pub struct Wim {
    pub data: Vec<u8>,
    pub version: u32,
    pub flags: u32,
    pub chunk_size: u32,
    pub part: u16,
    pub blobs: Vec<BlobEntry>,
}

fn le_u16(d: &[u8], o: usize) -> Result<u16, String> {
    d.get(o..o + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("read past end at {o}"))
}

fn le_u32(d: &[u8], o: usize) -> Result<u32, String> {
    d.get(o..o + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| format!("read past end at {o}"))
}

fn le_u64(d: &[u8], o: usize) -> Result<u64, String> {
    d.get(o..o + 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| format!("read past end at {o}"))
}

fn reshdr(d: &[u8], o: usize) -> Result<ResHdr, String> {
    let raw = le_u64(d, o)?;
    Ok(ResHdr {
        size_in_wim: raw & 0x00FF_FFFF_FFFF_FFFF,
        flags: (raw >> 56) as u8,
        offset: le_u64(d, o + 8)?,
        uncompressed_size: le_u64(d, o + 16)?,
    })
}

fn to_usize(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("value {v} too large"))
}

impl Wim {
    pub fn open(path: &Path) -> Result<Wim, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Wim::parse(data)
    }

    pub fn parse(data: Vec<u8>) -> Result<Wim, String> {
        if data.get(..8) != Some(b"MSWIM\0\0\0".as_slice()) {
            return Err("not a WIM (bad magic)".into());
        }
        let version = le_u32(&data, 0x0C)?;
        let flags = le_u32(&data, 0x10)?;
        let mut chunk_size = le_u32(&data, 0x14)?;
        if chunk_size == 0 {
            chunk_size = 32768;
        }
        let part = le_u16(&data, 0x28)?;
        let table = reshdr(&data, 0x30)?;
        let start = to_usize(table.offset)?;
        let len = to_usize(table.size_in_wim)?;
        let bytes = data
            .get(start..start + len)
            .ok_or("blob table outside the file")?;
        let mut blobs = Vec::with_capacity(len / 50);
        for e in bytes.chunks_exact(50) {
            let mut rh = reshdr(e, 0)?;
            if version == WIM_VERSION_DEFAULT {
                rh.flags &= !RESHDR_SOLID;
            }
            blobs.push(BlobEntry {
                reshdr: rh,
                part: le_u16(e, 24)?,
                refcnt: le_u32(e, 26)?,
                sha1: e[30..50].try_into().unwrap(),
            });
        }
        Ok(Wim {
            data,
            version,
            flags,
            chunk_size,
            part,
            blobs,
        })
    }

    /// Compression format of non-solid resources, from the header flags.
    pub fn format(&self) -> u32 {
        if self.flags & 0x20000 != 0 {
            FMT_XPRESS
        } else if self.flags & 0x40000 != 0 {
            FMT_LZX
        } else if self.flags & 0x80000 != 0 {
            FMT_LZMS
        } else {
            FMT_NONE
        }
    }

    pub fn chunk_bytes(&self, c: &Chunk) -> &[u8] {
        &self.data[c.offset..c.offset + c.len]
    }

    /// Every resource stored in this part of the WIM, with its chunks and
    /// blobs (metadata resources included).
    pub fn resources(&self) -> Result<Vec<Resource>, String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.blobs.len() {
            let e = &self.blobs[i];
            if e.reshdr.flags & RESHDR_SOLID == 0 {
                i += 1;
                if e.part != self.part {
                    continue;
                }
                let mut r = self.plain_resource(&e.reshdr)?;
                r.blobs.push(BlobRef {
                    offset: 0,
                    size: e.reshdr.uncompressed_size,
                    sha1: e.sha1,
                });
                out.push(r);
                continue;
            }
            // A solid run: resource entries and blob entries, in any order.
            let run_start = i;
            while i < self.blobs.len() && self.blobs[i].reshdr.flags & RESHDR_SOLID != 0 {
                i += 1;
            }
            let run = &self.blobs[run_start..i];
            let first = out.len();
            for e in run
                .iter()
                .filter(|e| e.reshdr.uncompressed_size == SOLID_MAGIC_SIZE)
            {
                out.push(self.solid_resource(&e.reshdr)?);
            }
            for e in run
                .iter()
                .filter(|e| e.reshdr.uncompressed_size != SOLID_MAGIC_SIZE)
            {
                let size = e.reshdr.size_in_wim;
                let mut off = e.reshdr.offset;
                let mut placed = false;
                for r in &mut out[first..] {
                    if off
                        .checked_add(size)
                        .is_some_and(|end| end <= r.uncompressed_size)
                    {
                        r.blobs.push(BlobRef {
                            offset: off,
                            size,
                            sha1: e.sha1,
                        });
                        placed = true;
                        break;
                    }
                    off = off.wrapping_sub(r.uncompressed_size);
                }
                if !placed {
                    return Err("solid blob outside its resources".into());
                }
            }
        }
        Ok(out)
    }

    fn plain_resource(&self, rh: &ResHdr) -> Result<Resource, String> {
        let base = to_usize(rh.offset)?;
        let stored = to_usize(rh.size_in_wim)?;
        let usize_ = rh.uncompressed_size;
        let mut chunks = Vec::new();
        let format = if rh.flags & RESHDR_COMPRESSED != 0 {
            self.format()
        } else {
            FMT_NONE
        };
        if format == FMT_NONE {
            if base + stored > self.data.len() {
                return Err("resource outside the file".into());
            }
            chunks.push(Chunk {
                format,
                chunk_size: self.chunk_size,
                offset: base,
                len: stored,
                uncompressed_size: to_usize(usize_)?,
            });
        } else if usize_ > 0 {
            let cs = u64::from(self.chunk_size);
            let n = to_usize(usize_.div_ceil(cs))?;
            let esize = if usize_ > u64::from(u32::MAX) { 8 } else { 4 };
            let table_len = (n - 1) * esize;
            let mut starts = vec![0u64];
            for k in 0..n - 1 {
                let o = base + k * esize;
                starts.push(if esize == 4 {
                    u64::from(le_u32(&self.data, o)?)
                } else {
                    le_u64(&self.data, o)?
                });
            }
            let data_start = base + table_len;
            let data_len = stored
                .checked_sub(table_len)
                .ok_or("chunk table larger than resource")?;
            starts.push(data_len as u64);
            for k in 0..n {
                let s = to_usize(starts[k])?;
                let e = to_usize(starts[k + 1])?;
                if e < s || data_start + e > self.data.len() {
                    return Err(format!("bad chunk table entry {k}"));
                }
                let unc = if k + 1 < n {
                    cs
                } else {
                    usize_ - cs * (n as u64 - 1)
                };
                chunks.push(Chunk {
                    format,
                    chunk_size: self.chunk_size,
                    offset: data_start + s,
                    len: e - s,
                    uncompressed_size: to_usize(unc)?,
                });
            }
        }
        Ok(Resource {
            reshdr: *rh,
            solid: false,
            metadata: rh.flags & RESHDR_METADATA != 0,
            format,
            chunk_size: self.chunk_size,
            uncompressed_size: usize_,
            chunks,
            blobs: Vec::new(),
        })
    }

    fn solid_resource(&self, rh: &ResHdr) -> Result<Resource, String> {
        let base = to_usize(rh.offset)?;
        let usize_ = le_u64(&self.data, base)?;
        let chunk_size = le_u32(&self.data, base + 8)?;
        let format = le_u32(&self.data, base + 12)?;
        if chunk_size == 0 || !chunk_size.is_power_of_two() {
            return Err(format!("bad solid chunk size {chunk_size}"));
        }
        let cs = u64::from(chunk_size);
        let n = to_usize(usize_.div_ceil(cs))?;
        let mut pos = base + 16 + 4 * n;
        let end = base + to_usize(rh.size_in_wim)?;
        let mut chunks = Vec::with_capacity(n);
        for k in 0..n {
            let len = to_usize(u64::from(le_u32(&self.data, base + 16 + 4 * k)?))?;
            if pos + len > end || end > self.data.len() {
                return Err(format!("solid chunk {k} outside the resource"));
            }
            let unc = if k + 1 < n {
                cs
            } else {
                usize_ - cs * (n as u64 - 1)
            };
            chunks.push(Chunk {
                format,
                chunk_size,
                offset: pos,
                len,
                uncompressed_size: to_usize(unc)?,
            });
            pos += len;
        }
        Ok(Resource {
            reshdr: *rh,
            solid: true,
            metadata: false,
            format,
            chunk_size,
            uncompressed_size: usize_,
            chunks,
            blobs: Vec::new(),
        })
    }

    /// Decompress a whole resource. `decode(chunk, input, output)` is called
    /// for every chunk that is not stored raw.
    pub fn decode_resource(
        &self,
        r: &Resource,
        decode: &mut ChunkDecoder<'_>,
    ) -> Result<Vec<u8>, String> {
        let mut out = vec![0u8; to_usize(r.uncompressed_size)?];
        let mut pos = 0usize;
        for c in &r.chunks {
            let dst = out
                .get_mut(pos..pos + c.uncompressed_size)
                .ok_or("chunks exceed resource size")?;
            let src = self.chunk_bytes(c);
            if c.is_stored() {
                if src.len() != dst.len() {
                    return Err("stored chunk size mismatch".into());
                }
                dst.copy_from_slice(src);
            } else {
                decode(c, src, dst)?;
            }
            pos += c.uncompressed_size;
        }
        Ok(out)
    }
}

/// Chunk dump file shared by `examples/codec_bench.rs` and
/// `scripts/codec-bench/wimlib_codec_bench.c`: the magic `WFCHUNK1`, then
/// records of little-endian u32 format, u32 chunk size (decompressor
/// creation size), u32 uncompressed size, u32 compressed size, then the
/// compressed bytes. Only chunks that are not stored raw are written.
pub const DUMP_MAGIC: &[u8; 8] = b"WFCHUNK1";

pub fn write_dump(wim: &Wim, chunks: &[Chunk], out: &mut Vec<u8>) {
    out.extend_from_slice(DUMP_MAGIC);
    for c in chunks.iter().filter(|c| !c.is_stored()) {
        for v in [
            c.format,
            c.chunk_size,
            c.uncompressed_size as u32,
            c.len as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(wim.chunk_bytes(c));
    }
}
