//! LZMS compressor: everything it writes must decode with our decoder to
//! the exact input (random, repetitive, structured and x86-like data, at
//! the chunk sizes WIMs use), shrink what is compressible, leave
//! incompressible data to be stored raw, and not depend on anything but
//! the chunk. (Outside decoders, wimlib and 7-Zip, are exercised by the
//! CLI tests in `cli/tests/wim_capture_lzms.rs`.)

use proptest::prelude::*;
use wim::codec::lzms::LzmsDecompressor;
use wim::codec::lzms_compress::{Level, LzmsCompressor};
use wim::codec::Decompressor;
use wim::write::Compressor;

/// Compress `data` as one chunk (compressor sized `max`) and, if it
/// shrank, decode it back; returns the compressed size.
fn round_trip(data: &[u8], max: usize, level: Level) -> Option<usize> {
    let mut c = LzmsCompressor::new(max, level).unwrap();
    let mut out = Vec::new();
    let r = c.compress(data, &mut out);
    if let Some(len) = r {
        assert_eq!(len, out.len());
        assert!(len < data.len());
        assert!(len >= 8 && len % 2 == 0, "7-Zip needs >= 8 bytes, even");
        let mut d = LzmsDecompressor::new(max).unwrap();
        let mut back = vec![0u8; data.len()];
        d.decompress(&out, &mut back).unwrap();
        assert!(back == data, "round trip differs ({} bytes)", data.len());
    }
    r
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Code-like bytes: short opcode sequences and many CALL/LEA/indirect
/// CALL instructions to a few targets (what the x86 filter translates).
fn x86ish(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    let targets: Vec<i32> = (0..40).map(|_| (r.next() % 3_000_000) as i32).collect();
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        let pos = v.len() as i32;
        let t = targets[(r.next() % 40) as usize] - pos;
        match r.next() % 8 {
            0 | 1 => {
                v.push(0xE8);
                v.extend_from_slice(&t.to_le_bytes());
            }
            2 => {
                v.extend_from_slice(&[0x48, 0x8D, 0x05]);
                v.extend_from_slice(&t.to_le_bytes());
            }
            3 => {
                v.extend_from_slice(&[0xFF, 0x15]);
                v.extend_from_slice(&t.to_le_bytes());
            }
            4 => v.extend_from_slice(&[0xE9, 1, 2, 3, 4]),
            5 => v.extend_from_slice(&[0xF0, 0x83, 0x05, 1, 2, 3, 4, 5]),
            _ => {
                let k = 1 + r.next() % 5;
                for _ in 0..k {
                    v.push((r.next() % 16) as u8);
                }
            }
        }
    }
    v.truncate(n);
    v
}

#[test]
fn x86_code_round_trips_and_shrinks_at_every_size() {
    for (n, seed) in [(32 << 10, 1), (128 << 10, 2), (1 << 20, 3), (2 << 20, 4)] {
        let data = x86ish(n, seed);
        for level in [Level::Fast, Level::Thorough] {
            let len = round_trip(&data, n, level).expect("x86-like data shrinks");
            assert!(len < n * 3 / 4, "{n}: {len}");
        }
    }
}

#[test]
fn text_shrinks_a_lot_and_thorough_is_not_worse() {
    let text: Vec<u8> = (0..60_000u32)
        .flat_map(|i| format!("entry {} in group {} = {}\n", i % 1013, i % 37, i % 11).into_bytes())
        .collect();
    let fast = round_trip(&text, text.len(), Level::Fast).unwrap();
    let thorough = round_trip(&text, text.len(), Level::Thorough).unwrap();
    assert!(fast < text.len() / 8, "{fast} of {}", text.len());
    assert!(thorough <= fast + fast / 100, "{thorough} vs {fast}");
}

#[test]
fn random_data_is_left_raw_and_runs_shrink_to_almost_nothing() {
    let mut r = Rng(99);
    let random: Vec<u8> = (0..100_000).map(|_| r.next() as u8).collect();
    assert_eq!(round_trip(&random, 1 << 17, Level::Fast), None);
    let zeros = vec![0u8; 1 << 20];
    let len = round_trip(&zeros, 1 << 20, Level::Fast).unwrap();
    assert!(len < 1000, "{len}");
    let one = vec![7u8; 40];
    round_trip(&one, 64, Level::Thorough);
}

#[test]
fn a_large_solid_sized_chunk_round_trips() {
    // Several different files one after another, as in a solid chunk:
    // code, then words, then a copy of part of the words from megabytes
    // back (not of the code: the x86 filter makes copied code differ).
    let mut data = x86ish(2 << 20, 11);
    let mut r = Rng(5);
    let words: Vec<String> = (0..4000)
        .map(|i| format!("w{}x{}", i, r.next() % 97))
        .collect();
    let mut text = Vec::new();
    while text.len() < 2 << 20 {
        text.extend_from_slice(words[(r.next() % 4000) as usize].as_bytes());
        text.push(b' ');
    }
    data.extend_from_slice(&text);
    let alone = round_trip(&data, 8 << 20, Level::Fast).unwrap();
    data.extend_from_slice(&text[100_000..1_100_000]);
    let len = round_trip(&data, 8 << 20, Level::Fast).unwrap();
    // The repeated megabyte must cost next to nothing.
    assert!(len < alone + 5_000, "{len} vs {alone}");
}

/// Tables of little-endian counters: each record differs from the one a
/// stride back by a constant, which only delta matches capture (the
/// bytes themselves rarely repeat).
fn counter_table(records: usize, stride: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    let mut v = Vec::with_capacity(records * stride);
    let steps: Vec<u32> = (0..stride / 4)
        .map(|_| 1 + (r.next() % 5000) as u32)
        .collect();
    let mut vals: Vec<u32> = (0..stride / 4).map(|_| r.next() as u32).collect();
    for i in 0..records {
        for (k, x) in vals.iter_mut().enumerate() {
            v.extend_from_slice(&x.to_le_bytes());
            *x = x.wrapping_add(steps[k]);
        }
        // Now and then a record breaks the pattern.
        if i % 97 == 0 {
            let at = v.len() - 1 - (r.next() % stride as u64) as usize;
            v[at] ^= 0x5a;
        }
    }
    v
}

fn compressed_len(data: &[u8], level: Level, delta: bool) -> usize {
    let mut c = LzmsCompressor::new(data.len(), level).unwrap();
    c.set_delta_matches(delta);
    let mut out = Vec::new();
    let len = c.compress(data, &mut out).expect("table shrinks");
    let mut d = LzmsDecompressor::new(data.len()).unwrap();
    let mut back = vec![0u8; data.len()];
    d.decompress(&out, &mut back).unwrap();
    assert!(back == data, "round trip differs");
    len
}

#[test]
fn delta_matches_shrink_counter_tables() {
    for (stride, seed) in [(4usize, 3u64), (8, 4), (16, 5)] {
        let data = counter_table(50_000, stride, seed);
        for level in [Level::Fast, Level::Thorough] {
            let with = compressed_len(&data, level, true);
            let without = compressed_len(&data, level, false);
            assert!(
                with * 10 < without * 7,
                "stride {stride} {level:?}: {with} with delta matches, {without} without"
            );
        }
    }
}

#[test]
fn output_depends_only_on_the_chunk() {
    let a = x86ish(200_000, 5);
    let b = x86ish(150_000, 6);
    let mut fresh = LzmsCompressor::new(1 << 18, Level::Fast).unwrap();
    let mut used = LzmsCompressor::new(1 << 18, Level::Fast).unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    used.compress(&b, &mut y);
    used.compress(&a, &mut y);
    fresh.compress(&a, &mut x);
    assert!(!x.is_empty());
    assert_eq!(x, y);
}

#[test]
fn bad_sizes_are_refused() {
    assert!(LzmsCompressor::new(0, Level::Fast).is_err());
    assert!(LzmsCompressor::new((1 << 30) + 1, Level::Fast).is_err());
    let mut c = LzmsCompressor::new(100, Level::Fast).unwrap();
    let mut out = Vec::new();
    assert_eq!(c.compress(&[0u8; 101], &mut out), None);
    assert_eq!(c.compress(&[], &mut out), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..Default::default() })]
    /// Literal runs and repeats at all distances (the same distance
    /// recurs, so repeat offsets are used), code-like bytes sprinkled in,
    /// chunk sizes from tiny to 2 MiB, both levels.
    #[test]
    fn random_structured_chunks_round_trip(
        pieces in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..40), 0usize..600, 1usize..70_000, 0u8..4),
            1..80,
        ),
        order in 5u32..=21,
        thorough in any::<bool>(),
    ) {
        let cs = 1usize << order;
        let mut d: Vec<u8> = Vec::new();
        let mut recent = [1usize, 2, 3];
        for (lits, run, back, reuse) in pieces {
            d.extend_from_slice(&lits);
            if lits.len() % 3 == 0 {
                d.extend_from_slice(&[0xE8, lits.len() as u8, 0, 0, 0]);
            }
            if !d.is_empty() {
                let back = match reuse {
                    0 => back,
                    k => recent[k as usize - 1],
                }
                .min(d.len())
                .max(1);
                recent = [back, recent[0], recent[1]];
                for _ in 0..run {
                    let b = d[d.len() - back];
                    d.push(b);
                }
            }
            if d.len() >= cs {
                break;
            }
        }
        d.truncate(cs);
        let level = if thorough { Level::Thorough } else { Level::Fast };
        round_trip(&d, cs.max(1), level);
    }

    /// Counter tables at several strides with noise and plain runs in
    /// between (delta matches, explicit and repeated) round trip.
    #[test]
    fn delta_friendly_chunks_round_trip(
        parts in proptest::collection::vec((0usize..6, 1usize..400, any::<u64>(), 0usize..50), 1..20),
        thorough in any::<bool>(),
    ) {
        let mut d = Vec::new();
        for (p, records, seed, noise) in parts {
            d.extend_from_slice(&counter_table(records, 4 << (p % 3), seed));
            let mut r = Rng(seed | 1);
            d.extend((0..noise).map(|_| r.next() as u8));
        }
        let level = if thorough { Level::Thorough } else { Level::Fast };
        round_trip(&d, d.len().max(1), level);
    }

    /// Arbitrary bytes never break the round trip.
    #[test]
    fn arbitrary_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 1..5000)) {
        round_trip(&data, data.len(), Level::Fast);
    }
}
