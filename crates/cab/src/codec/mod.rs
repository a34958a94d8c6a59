//! Folder decompressors. Each one decodes a folder's CFDATA blocks in order,
//! keeping the state the method carries from block to block (the MSZIP
//! dictionary, the LZX and Quantum windows and models). Every block decodes
//! to exactly its declared cbUncomp bytes (at most 32 KiB) or fails.

pub mod bits;
pub mod lzx;
pub mod mszip;
pub mod quantum;

use crate::folder::Compression;

/// Why a block did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl DecodeError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        DecodeError(msg.into())
    }
}

/// The decompressor of one folder.
pub enum Decoder {
    None,
    MsZip(Box<mszip::MsZip>),
    Lzx(Box<lzx::Lzx>),
    Quantum(Box<quantum::Quantum>),
}

impl Decoder {
    /// A fresh decoder for a folder compressed with `c`.
    pub fn new(c: Compression) -> Result<Decoder, DecodeError> {
        Ok(match c {
            Compression::None => Decoder::None,
            Compression::MsZip => Decoder::MsZip(Box::default()),
            Compression::Lzx { window_bits } => Decoder::Lzx(Box::new(lzx::Lzx::new(window_bits)?)),
            Compression::Quantum { window_bits, .. } => {
                Decoder::Quantum(Box::new(quantum::Quantum::new(window_bits)?))
            }
            Compression::Unknown { raw } => {
                return Err(DecodeError::new(format!(
                    "unknown compression method (typeCompress {raw:#06x})"
                )))
            }
        })
    }

    /// Decode one block: `input` is the block's compressed bytes, `out_len`
    /// its cbUncomp (1..=32768), `last` whether it is the folder's final
    /// block. The output replaces the contents of `out`.
    pub fn decode(
        &mut self,
        input: &[u8],
        out_len: usize,
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        out.clear();
        match self {
            Decoder::None => {
                if input.len() != out_len {
                    return Err(DecodeError::new(format!(
                        "uncompressed block holds {} bytes but declares {out_len}",
                        input.len()
                    )));
                }
                out.extend_from_slice(input);
                Ok(())
            }
            Decoder::MsZip(d) => d.decode(input, out_len, out),
            Decoder::Lzx(d) => d.decode(input, out_len, last, out),
            Decoder::Quantum(d) => d.decode(input, out_len, last, out),
        }
    }
}
