//! PLACEHOLDER — being written; replaced by the real Xpress decoder.
use super::{DecodeError, Decompressor};

#[derive(Default)]
pub struct XpressDecompressor;

impl XpressDecompressor {
    pub fn new() -> Self { Self }
}

impl Decompressor for XpressDecompressor {
    fn decompress(&mut self, _input: &[u8], _output: &mut [u8]) -> Result<(), DecodeError> {
        Err(DecodeError::BadBlock("decoder not written yet"))
    }
}
