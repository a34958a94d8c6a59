//! Decompressors for the three WIM compression formats, and their
//! compressors ([`xpress_compress`], [`lzx_compress`], [`lzms_compress`]).
//!
//! Each format lives in its own module. A WIM resource is split into chunks
//! that are compressed independently (wimlib's format notes, "resource.c"
//! header comment), so every decompressor here works on one whole chunk at a
//! time: the caller knows the exact uncompressed size of the chunk and passes
//! an output slice of exactly that length. That is what makes per-chunk
//! parallelism possible: a [`Decompressor`] is cheap to create once per worker
//! thread and is reused for every chunk that thread handles.

pub(crate) mod huffman;
pub mod lzms;
pub mod lzms_compress;
pub mod lzx;
pub mod lzx_compress;
pub mod xpress;
pub mod xpress_compress;

use std::fmt;

/// Compression format of a WIM resource, as given by the header flags
/// (`COMPRESS_XPRESS` 0x20000, `COMPRESS_LZX` 0x40000, `COMPRESS_LZMS`
/// 0x80000) or by the format field of a solid resource header
/// (0 none, 1 XPRESS, 2 LZX, 3 LZMS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    None,
    Xpress,
    Lzx,
    Lzms,
}

impl CompressionType {
    /// Name as used by `wimlib-imagex` and by `wimforge wim info --json`.
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::None => "none",
            CompressionType::Xpress => "xpress",
            CompressionType::Lzx => "lzx",
            CompressionType::Lzms => "lzms",
        }
    }

    /// Decode the format number stored in a solid resource header.
    pub fn from_solid_format(v: u32) -> Option<Self> {
        match v {
            0 => Some(CompressionType::None),
            1 => Some(CompressionType::Xpress),
            2 => Some(CompressionType::Lzx),
            3 => Some(CompressionType::Lzms),
            _ => None,
        }
    }

    /// Smallest chunk size wimlib accepts for this format in a WIM
    /// (`wim_ctype_info` in wimlib's `wim.c`); our writer keeps to it.
    pub fn min_chunk_size(self) -> usize {
        match self {
            CompressionType::None => 0,
            CompressionType::Xpress => 1 << 12,
            CompressionType::Lzx | CompressionType::Lzms => 1 << 15,
        }
    }

    /// Largest chunk size a decompressor of this format accepts.
    pub fn max_chunk_size(self) -> usize {
        match self {
            CompressionType::None => usize::MAX,
            CompressionType::Xpress => 1 << 16,
            CompressionType::Lzx => 1 << 21,
            CompressionType::Lzms => 1 << 30,
        }
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a chunk failed to decompress. The caller adds the file, offset and
/// resource context; a codec only knows what went wrong inside the chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("compressed data is truncated")]
    Truncated,
    #[error("invalid Huffman code lengths")]
    BadHuffmanCode,
    #[error("match refers to data before the start of the chunk")]
    BadMatchOffset,
    #[error("match or literal run overflows the output")]
    OutputOverrun,
    #[error("invalid block header: {0}")]
    BadBlock(&'static str),
    #[error("chunk size {0} is not supported by this format")]
    BadChunkSize(usize),
}

/// A chunk decompressor. `output.len()` is the exact uncompressed size of the
/// chunk; the decompressor must fill all of it or return an error. It must
/// never panic, whatever `input` holds.
pub trait Decompressor: Send {
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<(), DecodeError>;
}

/// Create a decompressor for `ctype` able to handle chunks up to
/// `max_chunk_size` bytes. `CompressionType::None` gives a copying one.
pub fn new_decompressor(
    ctype: CompressionType,
    max_chunk_size: usize,
) -> Result<Box<dyn Decompressor>, DecodeError> {
    if max_chunk_size == 0 || max_chunk_size > ctype.max_chunk_size() {
        return Err(DecodeError::BadChunkSize(max_chunk_size));
    }
    Ok(match ctype {
        CompressionType::None => Box::new(Store),
        CompressionType::Xpress => Box::new(xpress::XpressDecompressor::new()),
        CompressionType::Lzx => Box::new(lzx::LzxDecompressor::new(max_chunk_size)?),
        CompressionType::Lzms => Box::new(lzms::LzmsDecompressor::new(max_chunk_size)?),
    })
}

/// "Decompressor" for stored data: input and output have the same size.
struct Store;

impl Decompressor for Store {
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<(), DecodeError> {
        if input.len() != output.len() {
            return Err(DecodeError::Truncated);
        }
        output.copy_from_slice(input);
        Ok(())
    }
}
