//! Test support for the codec tests, on top of the crate's real reader:
//! the raw compressed chunks of a WIM, and blob verification that decodes
//! every chunk with the decoder under test (not the per-thread cache).

#![allow(dead_code)]

use sha1::{Digest, Sha1};
use wim::codec::{CompressionType, DecodeError};
use wim::read::resource::Resource;
use wim::Wim;

/// One compressed chunk, copied out of the WIM.
#[derive(Clone, Debug)]
pub struct RawChunk {
    pub ctype: CompressionType,
    pub chunk_size: usize,
    pub solid: bool,
    pub data: Vec<u8>,
    pub uncompressed_size: usize,
}

/// Open a WIM held in memory.
pub fn open(bytes: &[u8]) -> Wim {
    Wim::from_bytes("test.wim", bytes.to_vec()).expect("wimlib's output opens")
}

/// Every chunk of format `ctype` that is really compressed (not stored raw).
pub fn compressed_chunks(wim: &Wim, ctype: CompressionType) -> Vec<RawChunk> {
    let mut out = Vec::new();
    for res in wim
        .resources
        .iter()
        .filter(|r| r.compressed && r.ctype == ctype)
    {
        let file = wim.part_data(res.part);
        for c in res.chunks(file).expect("chunk table") {
            if c.is_stored() {
                continue;
            }
            let at = c.file_offset as usize;
            out.push(RawChunk {
                ctype,
                chunk_size: res.chunk_size as usize,
                solid: res.solid,
                data: file[at..at + c.compressed_len as usize].to_vec(),
                uncompressed_size: c.uncompressed_len as usize,
            });
        }
    }
    out
}

/// Decode every blob (metadata included) with `decode`, called for each
/// compressed chunk, and check its SHA-1. Returns (blobs verified, chunks
/// decoded by `decode`).
pub fn verify_with(
    wim: &Wim,
    mut decode: impl FnMut(&Resource, &[u8], &mut [u8]) -> Result<(), DecodeError>,
) -> (usize, usize) {
    let mut decoded = 0;
    let blobs: Vec<_> = wim
        .blobs()
        .copied()
        .chain(wim.metadata.iter().copied())
        .collect();
    for b in &blobs {
        let res = wim.resource_of(b);
        let file = wim.part_data(res.part);
        let mut data = Vec::with_capacity(b.size as usize);
        let (start, end) = (b.offset, b.offset + b.size);
        for c in res.chunks(file).expect("chunk table") {
            let (cs, ce) = (
                c.uncompressed_offset,
                c.uncompressed_offset + c.uncompressed_len as u64,
            );
            if ce <= start || cs >= end {
                continue;
            }
            let input =
                &file[c.file_offset as usize..(c.file_offset + c.compressed_len as u64) as usize];
            let mut out = vec![0u8; c.uncompressed_len as usize];
            if c.is_stored() || !res.compressed {
                out.copy_from_slice(input);
            } else {
                decode(res, input, &mut out).unwrap_or_else(|e| {
                    panic!(
                        "chunk at {:#x} of resource {:#x}: {e}",
                        c.file_offset, res.offset
                    )
                });
                decoded += 1;
            }
            let lo = start.saturating_sub(cs) as usize;
            let hi = (end.min(ce) - cs) as usize;
            data.extend_from_slice(&out[lo..hi]);
        }
        let digest: [u8; 20] = Sha1::digest(&data).into();
        assert_eq!(
            digest, b.hash,
            "blob at offset {} of resource {:#x}",
            b.offset, res.offset
        );
    }
    (blobs.len(), decoded)
}
