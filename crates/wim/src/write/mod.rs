//! Writing WIM archives: the inverse of [`crate::read`].
//!
//! One module per on-disk concern, mirroring the reader: the 208-byte
//! [`header`], the [`blob_table`], the UTF-16 [`xml`] document, image
//! [`metadata`] (security block, dentry tree, extra stream entries, tagged
//! items), chunked [`resource`]s with their chunk tables and a pluggable
//! [`resource::Compressor`], [`solid`] resources packing many blobs, the [`integrity`] table, a Linux directory
//! scanner ([`capture`]) and the [`writer::WimWriter`] that ties them
//! together, writing to a temporary file renamed into place when complete.
//!
//! Layout written (as wimlib and WIMGAPI do): header, file blobs, metadata
//! resources, blob table, XML data, integrity table. With
//! [`WriteOptions::pipable`] the wimlib pipable layout instead ([`pipable`]).

pub mod blob_table;
pub mod capture;
pub mod capture_config;
pub mod header;
pub mod integrity;
pub mod metadata;
pub mod pipable;
pub mod resource;
pub mod solid;
pub mod split;
pub mod temp;
pub mod writer;
pub mod xml;

pub use crate::codec::lzms_compress;
pub use crate::codec::lzx_compress;
pub use crate::codec::xpress_compress;

pub use capture::{scan_dir, CaptureOptions};
pub use capture_config::CaptureConfig;
pub use metadata::{ImageTree, NewDentry, NewInode, NewStream};
pub use resource::{BlobReader, BlobSource, Compressor, CompressorFactory};
pub use writer::{ExportNames, WimWriter, WriteOptions, WriteSummary};

use crate::codec::CompressionType;

/// A compressor factory for `ctype` at its default level, for WIMs with
/// the default chunk size ([`writer::DEFAULT_CHUNK_SIZE`]), or `None` for
/// `CompressionType::None`. For other chunk sizes use
/// [`compressor_for_chunk_size`]: an LZX compressor must know the WIM's
/// chunk size.
pub fn compressor_for(ctype: CompressionType) -> Option<CompressorFactory> {
    compressor_for_chunk_size(ctype, writer::DEFAULT_CHUNK_SIZE)
}

/// A compressor factory for `ctype` at its default level, for a WIM whose
/// chunk size is `chunk_size`; `None` for `CompressionType::None` or when
/// `chunk_size` is out of the format's range.
pub fn compressor_for_chunk_size(
    ctype: CompressionType,
    chunk_size: u32,
) -> Option<CompressorFactory> {
    match ctype {
        CompressionType::Xpress => Some(xpress_factory(xpress_compress::Level::Fast)),
        CompressionType::Lzx => lzx_factory(chunk_size, lzx_compress::Level::default()),
        CompressionType::Lzms => lzms_factory(chunk_size, lzms_compress::Level::default()),
        CompressionType::None => None,
    }
}

/// A factory of XPRESS compressors at `level` (chunks of up to 64 KiB).
pub fn xpress_factory(level: xpress_compress::Level) -> CompressorFactory {
    resource::pooled(move || {
        Box::new(xpress_compress::XpressCompressor::new(level)) as Box<dyn Compressor>
    })
}

/// A factory of LZX compressors at `level` for a WIM whose chunk size is
/// `chunk_size` (1 byte to 2 MiB; WIMs use 32 KiB to 2 MiB).
pub fn lzx_factory(chunk_size: u32, level: lzx_compress::Level) -> Option<CompressorFactory> {
    let cs = chunk_size as usize;
    lzx_compress::LzxCompressor::new(cs, level).ok()?;
    Some(resource::pooled(move || {
        match lzx_compress::LzxCompressor::new(cs, level) {
            Ok(c) => Box::new(c) as Box<dyn Compressor>,
            // Checked above; storing chunks raw is valid anyway.
            Err(_) => Box::new(StoreRaw),
        }
    }))
}

/// A factory of LZMS compressors at `level` for chunks of up to
/// `chunk_size` bytes (1 byte to 1 GiB; WIMs use 32 KiB and up, solid
/// resources 64 MiB).
pub fn lzms_factory(chunk_size: u32, level: lzms_compress::Level) -> Option<CompressorFactory> {
    let cs = chunk_size as usize;
    lzms_compress::LzmsCompressor::new(cs, level).ok()?;
    Some(resource::pooled(move || {
        match lzms_compress::LzmsCompressor::new(cs, level) {
            Ok(c) => Box::new(c) as Box<dyn Compressor>,
            // Checked above; storing chunks raw is valid anyway.
            Err(_) => Box::new(StoreRaw),
        }
    }))
}

/// Stores every chunk raw.
struct StoreRaw;

impl Compressor for StoreRaw {
    fn compress(&mut self, _input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        out.clear();
        None
    }
}

/// FILETIME (100 ns ticks since 1601-01-01 UTC) of a Unix time.
pub fn unix_to_filetime(secs: i64, nanos: u32) -> u64 {
    const EPOCH_DIFF: i64 = 11_644_473_600;
    let s = secs.saturating_add(EPOCH_DIFF);
    if s < 0 {
        return 0;
    }
    (s as u64)
        .saturating_mul(10_000_000)
        .saturating_add(nanos as u64 / 100)
}

/// UTF-16LE bytes of `s`, without a terminator.
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}
