//! XPRESS (Huffman) chunk decompressor, plus the compressor round trip.
//!
//! Input: u16 LE `n`, then one compressed chunk whose uncompressed size is
//! `n + 1` (1..=65536). The chunk is decoded twice with the same
//! decompressor (as pipeline workers reuse theirs): both results must agree.
//! The whole input is then compressed and must decompress to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wim::codec::xpress_compress::{Level, XpressCompressor};
use wim::codec::{new_decompressor, CompressionType};
use wim::write::Compressor;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let out_len = u16::from_le_bytes([data[0], data[1]]) as usize + 1;
    let input = &data[2..];
    let mut d = new_decompressor(CompressionType::Xpress, 1 << 16).unwrap();
    let mut a = vec![0u8; out_len];
    let ra = d.decompress(input, &mut a);
    let mut b = vec![0xA5u8; out_len];
    let rb = d.decompress(input, &mut b);
    assert_eq!(ra, rb, "same chunk, same decompressor, different result");
    if ra.is_ok() {
        assert!(a == b, "same chunk decoded to different bytes");
    }

    let plain = &data[..data.len().min(1 << 16)];
    let level = if data[0] & 1 == 0 {
        Level::Fast
    } else {
        Level::Thorough
    };
    let mut c = XpressCompressor::new(level);
    let mut packed = Vec::new();
    if let Some(n) = c.compress(plain, &mut packed) {
        assert_eq!(n, packed.len());
        assert!(n < plain.len());
        let mut back = vec![0u8; plain.len()];
        d.decompress(&packed, &mut back)
            .expect("our own XPRESS output must decompress");
        assert!(back == plain, "XPRESS round trip changed the data");
    }
});
