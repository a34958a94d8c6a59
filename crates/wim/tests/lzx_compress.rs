//! The LZX compressor against our LZX decoder: varied data (random, zeros,
//! text, E8-heavy x86-like code, real PE files of the libwine benchmark
//! corpus when present), every WIM chunk size from 32 KiB to 2 MiB, tiny
//! and odd sizes, every level, determinism, and a proptest round trip.
//! (Acceptance by wimlib and 7-Zip is checked in the CLI tests.)

use proptest::prelude::*;
use std::path::Path;
use wim::codec::lzx_compress::{Level, LzxCompressor};
use wim::codec::{new_decompressor, CompressionType};
use wim::write::Compressor;

const LEVELS: [Level; 3] = [Level::Fast, Level::Normal, Level::Thorough];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Compress `data` in chunks of `chunk_size` and decode every chunk with
/// our decoder. Returns the total stored size (raw chunks at full size).
fn round_trip(data: &[u8], chunk_size: usize, level: Level) -> usize {
    let mut c = LzxCompressor::new(chunk_size, level).unwrap();
    let mut d = new_decompressor(CompressionType::Lzx, chunk_size).unwrap();
    let mut out = Vec::new();
    let mut back = vec![0u8; chunk_size];
    let mut total = 0;
    for (i, chunk) in data.chunks(chunk_size).enumerate() {
        match c.compress(chunk, &mut out) {
            Some(n) => {
                assert_eq!(n, out.len());
                assert!(n < chunk.len());
                let b = &mut back[..chunk.len()];
                d.decompress(&out, b).unwrap_or_else(|e| {
                    panic!(
                        "{level:?} cs {chunk_size} chunk {i} ({} bytes): {e}",
                        chunk.len()
                    )
                });
                assert!(
                    b == chunk,
                    "{level:?} cs {chunk_size} chunk {i}: decoded bytes differ"
                );
                total += n;
            }
            None => total += chunk.len(),
        }
    }
    total
}

fn text(n: usize) -> Vec<u8> {
    let words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "WIM",
        "chunk",
        "resource",
        "Windows",
        "imaging",
        "format",
        "compression",
    ];
    let mut r = Rng(99);
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        v.extend_from_slice(words[(r.next() % words.len() as u64) as usize].as_bytes());
        v.push(if r.next() % 9 == 0 { b'\n' } else { b' ' });
    }
    v.truncate(n);
    v
}

/// x86-like code: short instruction-ish byte groups with many E8 calls to
/// a limited set of targets (relative operands that E8 translation turns
/// into repeated absolute ones), plus E8 bytes near every chunk end.
fn x86ish(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let targets: Vec<i32> = (0..40).map(|_| (r.next() % 3_000_000) as i32).collect();
    let ops: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            let k = 1 + (r.next() % 6) as usize;
            r.bytes(k)
        })
        .collect();
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        if r.next() % 4 == 0 {
            let t = targets[(r.next() % 40) as usize];
            let pos = v.len() as i32;
            v.push(0xE8);
            v.extend_from_slice(&(t - pos).to_le_bytes());
        } else {
            v.extend_from_slice(&ops[(r.next() % 64) as usize]);
        }
    }
    v.truncate(n);
    v
}

#[test]
fn varied_data_every_level() {
    let mut r = Rng(7);
    let random = r.bytes(100_000);
    let zeros = vec![0u8; 100_000];
    let txt = text(200_000);
    let code = x86ish(200_000, 3);
    for level in LEVELS {
        // Random data does not shrink: every chunk stored raw.
        assert_eq!(round_trip(&random, 32768, level), random.len());
        let z = round_trip(&zeros, 32768, level);
        assert!(z < 400, "{level:?} zeros: {z}");
        let t = round_trip(&txt, 32768, level);
        assert!(t < txt.len() / 3, "{level:?} text: {t}");
        let c = round_trip(&code, 32768, level);
        assert!(c < code.len() * 3 / 4, "{level:?} code: {c}");
    }
}

#[test]
fn every_chunk_size() {
    let mut data = text(300_000);
    data.extend(x86ish(1_500_000, 11));
    data.extend(vec![0xE8u8; 70_000]);
    data.extend(Rng(5).bytes(50_000));
    data.extend(text(2_300_000));
    for order in 15..=21 {
        let cs = 1usize << order;
        let sizes: Vec<usize> = [Level::Fast, Level::Normal]
            .iter()
            .map(|&l| round_trip(&data, cs, l))
            .collect();
        assert!(sizes[1] < data.len() / 3, "cs {cs}: {sizes:?}");
    }
    // One odd chunk size: the window is the next power of two.
    round_trip(&data[..500_000], 40_000, Level::Normal);
}

#[test]
fn tiny_and_odd_sizes() {
    let base = x86ish(70_000, 17);
    for level in LEVELS {
        for n in (1..80).chain([255, 256, 257, 258, 1000, 4095, 4097, 32767, 32768]) {
            round_trip(&base[..n], 32768, level);
            round_trip(&vec![b'a'; n], 32768, level);
        }
        // A last chunk shorter than the chunk size.
        round_trip(&base[..65536 + 33], 32768, level);
        round_trip(&base[..65536 + 33], 65536, level);
    }
    // Chunks larger than the compressor's chunk size are refused (stored
    // raw), never mis-encoded.
    let mut c = LzxCompressor::new(32768, Level::Normal).unwrap();
    let mut out = Vec::new();
    assert_eq!(c.compress(&vec![0u8; 32769], &mut out), None);
    assert_eq!(c.compress(&[], &mut out), None);
    assert!(LzxCompressor::new(0, Level::Normal).is_err());
    assert!(LzxCompressor::new((1 << 21) + 1, Level::Normal).is_err());
}

#[test]
fn e8_translation_edges() {
    // E8 bytes at every position near the chunk end, with operands that
    // are and are not in the translated range.
    for tail in 0..16usize {
        for operand in [0i32, 5, -1, -100, 11_999_999, 12_000_000, i32::MIN] {
            let mut d = text(1000);
            let at = d.len() - tail.min(d.len());
            d[at.saturating_sub(1)] = 0xE8;
            if at + 4 <= d.len() {
                d[at..at + 4].copy_from_slice(&operand.to_le_bytes());
            }
            for level in LEVELS {
                round_trip(&d, 32768, level);
            }
        }
    }
    // Dense E8 runs: every byte an E8.
    round_trip(&vec![0xE8u8; 40_000], 32768, Level::Normal);
}

#[test]
fn same_bytes_whatever_came_before() {
    let data = x86ish(32768, 23);
    let mut a = Vec::new();
    let mut b = Vec::new();
    for level in LEVELS {
        LzxCompressor::new(32768, level)
            .unwrap()
            .compress(&data, &mut a)
            .unwrap();
        let mut c = LzxCompressor::new(32768, level).unwrap();
        c.compress(&text(30000), &mut b).unwrap();
        c.compress(&Rng(1).bytes(20000), &mut b);
        c.compress(&data, &mut b).unwrap();
        assert_eq!(a, b, "{level:?}");
    }
}

#[test]
fn levels_order_by_size_on_code() {
    let data = x86ish(600_000, 31);
    let s: Vec<usize> = LEVELS
        .iter()
        .map(|&l| round_trip(&data, 32768, l))
        .collect();
    assert!(s[1] <= s[0], "{s:?}");
    assert!(s[2] <= s[1] + s[1] / 200, "{s:?}");
}

/// Up to `limit` bytes of the libwine PE files, if the benchmark corpus
/// is there (it is large and not part of the repository).
fn libwine_sample(limit: usize) -> Option<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench-corpus/libwine/usr/lib/x86_64-linux-gnu/wine/x86_64-windows");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files.iter().step_by(23) {
        let data = std::fs::read(f).ok()?;
        out.extend_from_slice(&data[..data.len().min(400_000)]);
        if out.len() >= limit {
            break;
        }
    }
    Some(out)
}

#[test]
fn real_pe_files_round_trip() {
    let Some(data) = libwine_sample(6 << 20) else {
        eprintln!("SKIP real_pe_files_round_trip: bench-corpus/libwine not present");
        return;
    };
    for (cs, level) in [
        (32768, Level::Normal),
        (32768, Level::Fast),
        (1 << 21, Level::Normal),
    ] {
        let n = round_trip(&data, cs, level);
        assert!(
            n < data.len() / 2,
            "cs {cs} {level:?}: {n} of {}",
            data.len()
        );
    }
    round_trip(&data[..2 << 20], 32768, Level::Thorough);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..Default::default() })]
    /// Literal runs and repeats at all distances (recent offsets included:
    /// the same distance recurs), E8 bytes sprinkled in, any chunk size.
    #[test]
    fn random_structured_chunks_round_trip(
        pieces in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..30), 0usize..400, 1usize..5000, any::<bool>()),
            1..60,
        ),
        order in 15u32..=17,
        level in 0usize..3,
    ) {
        let cs = 1usize << order;
        let mut d: Vec<u8> = Vec::new();
        let mut last_back = 1;
        for (lits, run, back, reuse) in pieces {
            d.extend_from_slice(&lits);
            if d.len() > 5 && lits.len() % 5 == 0 {
                d.push(0xE8);
            }
            if !d.is_empty() {
                let back = if reuse { last_back } else { back }.min(d.len());
                last_back = back;
                for _ in 0..run {
                    let b = d[d.len() - back];
                    d.push(b);
                }
            }
            if d.len() >= 3 * cs {
                d.truncate(3 * cs);
                break;
            }
        }
        if !d.is_empty() {
            round_trip(&d, cs, LEVELS[level]);
        }
    }
}
