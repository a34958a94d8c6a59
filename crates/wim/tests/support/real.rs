//! Test support for the codec tests and benches, on top of the crate's real
//! reader: the raw compressed chunks of a WIM, blob verification that
//! decodes every chunk with the decoder under test (not the per-thread
//! cache), and the project's skip rule for missing prerequisites
//! (`wimlib-imagex`, the shared fixtures): print a SKIP line, or fail when
//! `CI=true`.
//!
//! Use it with `#[path = "support/real.rs"] mod real;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Report a missing prerequisite: panic under `CI=true`, print a SKIP line
/// otherwise. Messages name the running test (libtest's thread name).
pub fn missing(what: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test");
    if in_ci() {
        panic!("{test}: {what} is required when CI=true");
    }
    eprintln!("SKIP {test}: {what} not available");
}

/// Does `wimlib-imagex` run? If not, reports it through [`missing`].
pub fn have_wimlib() -> bool {
    let ok = Command::new("wimlib-imagex")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        missing("wimlib-imagex");
    }
    ok
}

/// The shared directory: `$WIMFORGE_SHARED` or `<workspace root>/../shared`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("WIMFORGE_SHARED") {
        Some(p) => PathBuf::from(p),
        // CARGO_MANIFEST_DIR is crates/wim; the workspace root is two up.
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// The real-WIM fixture directory, if present (else reported through
/// [`missing`]).
pub fn wim_fixtures() -> Option<PathBuf> {
    let d = shared_dir().join("fixtures/real/wim");
    if d.is_dir() {
        Some(d)
    } else {
        missing(&format!("fixture directory {}", d.display()));
        None
    }
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
/// decoded by `decode`); panics on a decode error or SHA-1 mismatch.
pub fn verify_with(
    wim: &Wim,
    decode: impl FnMut(&Resource, &[u8], &mut [u8]) -> Result<(), DecodeError>,
) -> (usize, usize) {
    try_verify_with(wim, decode).unwrap_or_else(|e| panic!("{e}"))
}

/// [`verify_with`], returning the first decode error or SHA-1 mismatch.
pub fn try_verify_with(
    wim: &Wim,
    mut decode: impl FnMut(&Resource, &[u8], &mut [u8]) -> Result<(), DecodeError>,
) -> Result<(usize, usize), String> {
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
        let chunks = res
            .chunks(file)
            .map_err(|e| format!("chunk table of resource {:#x}: {e}", res.offset))?;
        for c in chunks {
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
                decode(res, input, &mut out).map_err(|e| {
                    format!(
                        "chunk at {:#x} of resource {:#x}: {e}",
                        c.file_offset, res.offset
                    )
                })?;
                decoded += 1;
            }
            let lo = start.saturating_sub(cs) as usize;
            let hi = (end.min(ce) - cs) as usize;
            data.extend_from_slice(&out[lo..hi]);
        }
        let digest: [u8; 20] = Sha1::digest(&data).into();
        if digest != b.hash {
            return Err(format!(
                "SHA-1 mismatch for blob at offset {} of resource {:#x}",
                b.offset, res.offset
            ));
        }
    }
    Ok((blobs.len(), decoded))
}
