//! PLACEHOLDER — being written; replaced by the real Lzx decoder.
use super::{DecodeError, Decompressor};

#[derive(Default)]
pub struct LzxDecompressor;

impl LzxDecompressor {
    pub fn new(max_chunk_size: usize) -> Result<Self, DecodeError> { let _ = max_chunk_size; Ok(Self) }
}

impl Decompressor for LzxDecompressor {
    fn decompress(&mut self, _input: &[u8], _output: &mut [u8]) -> Result<(), DecodeError> {
        Err(DecodeError::BadBlock("decoder not written yet"))
    }
}
