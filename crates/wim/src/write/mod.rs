//! Writing WIM archives: the inverse of [`crate::read`].
//!
//! One module per on-disk concern, mirroring the reader: the 208-byte
//! [`header`], the [`blob_table`], the UTF-16 [`xml`] document, image
//! [`metadata`] (security block, dentry tree, extra stream entries, tagged
//! items), chunked [`resource`]s with their chunk tables and a pluggable
//! [`resource::Compressor`], the [`integrity`] table, a Linux directory
//! scanner ([`capture`]) and the [`writer::WimWriter`] that ties them
//! together, writing to a temporary file renamed into place when complete.
//!
//! Layout written (as wimlib and WIMGAPI do): header, file blobs, metadata
//! resources, blob table, XML data, integrity table.

pub mod blob_table;
pub mod capture;
pub mod header;
pub mod integrity;
pub mod metadata;
pub mod resource;
pub mod writer;
pub mod xml;

pub use crate::codec::xpress_compress;

pub use capture::{scan_dir, CaptureOptions};
pub use metadata::{ImageTree, NewDentry, NewInode, NewStream};
pub use resource::{BlobSource, Compressor, CompressorFactory};
pub use writer::{WimWriter, WriteOptions, WriteSummary};

use crate::codec::CompressionType;

/// A compressor factory for `ctype`, or `None` when no compressor for it
/// exists yet (LZX and LZMS so far).
pub fn compressor_for(ctype: CompressionType) -> Option<CompressorFactory> {
    match ctype {
        CompressionType::Xpress => Some(std::sync::Arc::new(|| {
            Box::new(xpress_compress::XpressCompressor::new(
                xpress_compress::Level::Fast,
            )) as Box<dyn Compressor>
        })),
        _ => None,
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
