//! CAB folder decompressors (MSZIP, LZX with windows 2^15..2^21, Quantum),
//! fed block by block without the container, so mutations are not stopped
//! by CFDATA checksums.
//!
//! Input: u16 LE typeCompress (as in CFFOLDER), then blocks: u16 LE
//! cbUncomp (taken as `n % 32768 + 1`), u16 LE cbData (cut to what is
//! left), the compressed bytes. One decoder decodes the blocks in order,
//! the last one flagged as the folder's final block, as the reader does.
#![no_main]

use cab::codec::Decoder;
use cab::Compression;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let Ok(mut d) = Decoder::new(Compression::from_raw(u16::from_le_bytes([
        data[0], data[1],
    ]))) else {
        return;
    };
    let mut blocks = Vec::new();
    let mut p = 2;
    while p + 4 <= data.len() && blocks.len() < 256 {
        let out_len = u16::from_le_bytes([data[p], data[p + 1]]) as usize % 32768 + 1;
        let n = (u16::from_le_bytes([data[p + 2], data[p + 3]]) as usize).min(data.len() - p - 4);
        blocks.push((out_len, &data[p + 4..p + 4 + n]));
        p += 4 + n;
    }
    let mut out = Vec::new();
    for (i, (out_len, input)) in blocks.iter().enumerate() {
        let last = i + 1 == blocks.len();
        if d.decode(input, *out_len, last, &mut out).is_err() {
            return;
        }
        assert_eq!(out.len(), *out_len, "decoded block has the wrong size");
    }
});
