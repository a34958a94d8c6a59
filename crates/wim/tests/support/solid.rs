//! Minimal, test-only WIM parser: header, blob table, non-solid chunked
//! resources and solid resources, enough to pull raw compressed chunks out of
//! a WIM and check every blob's SHA-1 after decompression.
//!
//! Layouts (see `shared/research/wim.md`, "Resource header", "Blob table",
//! "Solid resources"):
//! * header: magic `MSWIM\0\0\0`, flags u32 @16, chunk size u32 @20,
//!   blob table reshdr @0x30;
//! * reshdr (24 bytes): 7-byte size_in_wim, flags u8 (METADATA 0x2,
//!   COMPRESSED 0x4, SOLID 0x10), offset u64, uncompressed size u64;
//! * blob table entry (50 bytes): reshdr, part u16, refcnt u32, sha1[20];
//! * non-solid compressed resource: (n-1) chunk offsets (u32, or u64 when
//!   the uncompressed size exceeds 4 GiB) relative to the end of the table,
//!   then the chunks; a chunk as long as its uncompressed size is stored;
//! * solid resource (entry's uncompressed size is 0x1_0000_0000): header
//!   {u64 uncompressed size, u32 chunk size, u32 format}, one u32 compressed
//!   size per chunk, then the chunks. In a run of consecutive SOLID
//!   entries, the other (blob) entries give the offset in the run's
//!   concatenated uncompressed data in `offset` and the blob size in
//!   `size_in_wim` (wimlib `assign_blob_to_solid_resource`).
#![allow(dead_code)]

use std::fmt::Write as _;

pub const FLAG_METADATA: u8 = 0x2;
pub const FLAG_COMPRESSED: u8 = 0x4;
pub const FLAG_SOLID: u8 = 0x10;
pub const SOLID_MAGIC: u64 = 0x1_0000_0000;

#[derive(Debug, Clone, Copy)]
pub struct Reshdr {
    pub size_in_wim: u64,
    pub flags: u8,
    pub offset: u64,
    pub uncompressed_size: u64,
}

#[derive(Debug, Clone)]
pub struct BlobEntry {
    pub reshdr: Reshdr,
    pub sha1: [u8; 20],
}

/// One compressed (or stored) chunk and its uncompressed size.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub uncompressed_size: usize,
}

impl Chunk {
    pub fn is_stored(&self) -> bool {
        self.data.len() == self.uncompressed_size
    }
}

/// A resource's chunks plus what its uncompressed data must hash to.
#[derive(Debug, Clone)]
pub struct Resource {
    pub solid: bool,
    /// Compression format number (solid header) or header flag derived:
    /// 1 XPRESS, 2 LZX, 3 LZMS.
    pub format: u32,
    pub chunk_size: usize,
    pub chunks: Vec<Chunk>,
}

/// Blobs to verify: (index of first resource of the run, number of
/// resources in the run, offset, size, sha1). Non-solid blobs are runs of
/// one resource with offset 0.
#[derive(Debug, Clone)]
pub struct BlobCheck {
    pub first_resource: usize,
    pub resource_count: usize,
    pub offset: u64,
    pub size: u64,
    pub sha1: [u8; 20],
}

#[derive(Debug, Default)]
pub struct Wim {
    pub header_flags: u32,
    pub chunk_size: usize,
    pub resources: Vec<Resource>,
    pub blobs: Vec<BlobCheck>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("read past end at {at}"))
}
fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| format!("read past end at {at}"))
}
fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| format!("read past end at {at}"))
}
fn slice(b: &[u8], at: u64, len: u64) -> Result<&[u8], String> {
    let at = usize::try_from(at).map_err(|e| e.to_string())?;
    let len = usize::try_from(len).map_err(|e| e.to_string())?;
    b.get(at..at.checked_add(len).ok_or("overflow")?)
        .ok_or_else(|| format!("range {at}+{len} past end of file ({})", b.len()))
}

pub fn reshdr_at(b: &[u8], at: usize) -> Result<Reshdr, String> {
    let raw = u64_at(b, at)?;
    Ok(Reshdr {
        size_in_wim: raw & 0x00ff_ffff_ffff_ffff,
        flags: (raw >> 56) as u8,
        offset: u64_at(b, at + 8)?,
        uncompressed_size: u64_at(b, at + 16)?,
    })
}

/// Compression format implied by the header flags.
fn header_format(flags: u32) -> u32 {
    if flags & 0x20000 != 0 {
        1
    } else if flags & 0x40000 != 0 {
        2
    } else if flags & 0x80000 != 0 {
        3
    } else {
        0
    }
}

pub fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

impl Wim {
    pub fn parse(file: &[u8]) -> Result<Wim, String> {
        if file.get(..8) != Some(b"MSWIM\0\0\0") {
            return Err("not a WIM (bad magic)".into());
        }
        let header_flags = u32_at(file, 16)?;
        let chunk_size = u32_at(file, 20)? as usize;
        let table = reshdr_at(file, 0x30)?;
        let table_bytes = slice(file, table.offset, table.size_in_wim)?;
        let entries: Vec<BlobEntry> = table_bytes
            .chunks_exact(50)
            .map(|e| {
                Ok(BlobEntry {
                    reshdr: reshdr_at(e, 0)?,
                    sha1: e[30..50].try_into().unwrap(),
                })
            })
            .collect::<Result<_, String>>()?;

        let mut wim = Wim {
            header_flags,
            chunk_size,
            ..Default::default()
        };
        let mut i = 0;
        while i < entries.len() {
            let r = entries[i].reshdr;
            if r.flags & FLAG_SOLID == 0 {
                let res = parse_plain(file, &r, chunk_size, header_format(header_flags))?;
                wim.resources.push(res);
                wim.blobs.push(BlobCheck {
                    first_resource: wim.resources.len() - 1,
                    resource_count: 1,
                    offset: 0,
                    size: r.uncompressed_size,
                    sha1: entries[i].sha1,
                });
                i += 1;
                continue;
            }
            // A solid run: consecutive SOLID entries. Resource entries (any
            // position in the run) are concatenated in order; blob entries
            // give (offset in that concatenation, size in `size_in_wim`).
            let run_end = entries[i..]
                .iter()
                .position(|e| e.reshdr.flags & FLAG_SOLID == 0)
                .map_or(entries.len(), |k| i + k);
            let run = &entries[i..run_end];
            let first = wim.resources.len();
            for e in run
                .iter()
                .filter(|e| e.reshdr.uncompressed_size == SOLID_MAGIC)
            {
                wim.resources.push(parse_solid(file, &e.reshdr)?);
            }
            let count = wim.resources.len() - first;
            if count == 0 {
                return Err("solid run without a resource entry".into());
            }
            for e in run
                .iter()
                .filter(|e| e.reshdr.uncompressed_size != SOLID_MAGIC)
            {
                wim.blobs.push(BlobCheck {
                    first_resource: first,
                    resource_count: count,
                    offset: e.reshdr.offset,
                    size: e.reshdr.size_in_wim,
                    sha1: e.sha1,
                });
            }
            i = run_end;
        }
        Ok(wim)
    }

    /// All compressed (not stored) chunks of resources with `format`.
    pub fn compressed_chunks(&self, format: u32) -> impl Iterator<Item = &Chunk> {
        self.resources
            .iter()
            .filter(move |r| r.format == format)
            .flat_map(|r| r.chunks.iter())
            .filter(|c| !c.is_stored())
    }

    /// Decompress every resource with `decode(compressed, out)` and check
    /// each blob's SHA-1. Returns the number of blobs verified.
    pub fn verify(
        &self,
        mut decode: impl FnMut(&Resource, &[u8], &mut [u8]) -> Result<(), String>,
    ) -> Result<usize, String> {
        use sha1::{Digest, Sha1};
        let mut runs: std::collections::HashMap<usize, Vec<u8>> = Default::default();
        for b in &self.blobs {
            if let std::collections::hash_map::Entry::Vacant(slot) = runs.entry(b.first_resource) {
                let mut run = Vec::new();
                let first = b.first_resource;
                for (i, r) in self
                    .resources
                    .iter()
                    .enumerate()
                    .skip(first)
                    .take(b.resource_count)
                {
                    for (k, c) in r.chunks.iter().enumerate() {
                        let start = run.len();
                        run.resize(start + c.uncompressed_size, 0);
                        if c.is_stored() {
                            run[start..].copy_from_slice(&c.data);
                        } else {
                            decode(r, &c.data, &mut run[start..])
                                .map_err(|e| format!("resource {i} chunk {k}: {e}"))?;
                        }
                    }
                }
                slot.insert(run);
            }
            let run = &runs[&b.first_resource];
            let data = slice(run, b.offset, b.size)?;
            let got: [u8; 20] = Sha1::digest(data).into();
            if got != b.sha1 {
                return Err(format!(
                    "SHA-1 mismatch for blob at {}+{}: want {} got {}",
                    b.offset,
                    b.size,
                    hex(&b.sha1),
                    hex(&got)
                ));
            }
        }
        Ok(self.blobs.len())
    }
}

fn parse_plain(
    file: &[u8],
    r: &Reshdr,
    chunk_size: usize,
    format: u32,
) -> Result<Resource, String> {
    let data = slice(file, r.offset, r.size_in_wim)?;
    let usize_ = r.uncompressed_size as usize;
    if r.flags & FLAG_COMPRESSED == 0 || format == 0 {
        return Ok(Resource {
            solid: false,
            format: 0,
            chunk_size: usize_.max(1),
            chunks: vec![Chunk {
                data: data.to_vec(),
                uncompressed_size: usize_,
            }],
        });
    }
    if chunk_size == 0 {
        return Err("zero chunk size".into());
    }
    let n = usize_.div_ceil(chunk_size);
    let entry = if r.uncompressed_size > u32::MAX as u64 {
        8
    } else {
        4
    };
    let table_len = n.saturating_sub(1) * entry;
    let mut starts = vec![0u64];
    for i in 0..n.saturating_sub(1) {
        starts.push(if entry == 4 {
            u32_at(data, i * 4)? as u64
        } else {
            u64_at(data, i * 8)?
        });
    }
    let body = data.get(table_len..).ok_or("chunk table past resource")?;
    starts.push(body.len() as u64);
    let mut chunks = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (starts[i], starts[i + 1]);
        if b < a {
            return Err("chunk offsets not increasing".into());
        }
        let un = if i + 1 == n {
            usize_ - chunk_size * (n - 1)
        } else {
            chunk_size
        };
        chunks.push(Chunk {
            data: slice(body, a, b - a)?.to_vec(),
            uncompressed_size: un,
        });
    }
    Ok(Resource {
        solid: false,
        format,
        chunk_size,
        chunks,
    })
}

fn parse_solid(file: &[u8], r: &Reshdr) -> Result<Resource, String> {
    let data = slice(file, r.offset, r.size_in_wim)?;
    let total = u64_at(data, 0)?;
    let chunk_size = u32_at(data, 8)? as usize;
    let format = u32_at(data, 12)?;
    if chunk_size == 0 {
        return Err("zero solid chunk size".into());
    }
    let n = usize::try_from(total.div_ceil(chunk_size as u64)).map_err(|e| e.to_string())?;
    let mut at = 16 + 4 * n;
    let mut chunks = Vec::with_capacity(n);
    for i in 0..n {
        let csize = u32_at(data, 16 + 4 * i)? as usize;
        let un = if i + 1 == n {
            (total - (chunk_size as u64) * (n as u64 - 1)) as usize
        } else {
            chunk_size
        };
        chunks.push(Chunk {
            data: slice(data, at as u64, csize as u64)?.to_vec(),
            uncompressed_size: un,
        });
        at += csize;
    }
    Ok(Resource {
        solid: true,
        format,
        chunk_size,
        chunks,
    })
}
