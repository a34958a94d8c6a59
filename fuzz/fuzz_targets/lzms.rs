//! LZMS chunk decompressor.
//!
//! Input: u8 `e` choosing the decompressor's chunk size `1 << (15 + e % 4)`
//! (32 KiB..256 KiB; real solid chunks reach 64 MiB, but garbage decodes
//! until the output is full, so smaller sizes keep the fuzzer fast while
//! exercising the same code), u32 LE `n` giving the
//! uncompressed size `n % chunk_size + 1`, then the compressed chunk.
//! Decoded twice with the same decompressor: the results must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wim::codec::{new_decompressor, CompressionType};

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let chunk = 1usize << (15 + data[0] % 4);
    let out_len = u32::from_le_bytes(data[1..5].try_into().unwrap()) as usize % chunk + 1;
    let input = &data[5..];
    let mut d = new_decompressor(CompressionType::Lzms, chunk).unwrap();
    let mut a = vec![0u8; out_len];
    let ra = d.decompress(input, &mut a);
    let mut b = vec![0x5Au8; out_len];
    let rb = d.decompress(input, &mut b);
    assert_eq!(ra, rb, "same chunk, same decompressor, different result");
    if ra.is_ok() {
        assert!(a == b, "same chunk decoded to different bytes");
    }
});
