//! XPRESS (LZ77 + Huffman) chunk compressor, the variant WIM uses: the
//! inverse of [`super::xpress`] (MS-XCA §2.2.4 "LZ77+Huffman"; research
//! notes §1.3). Original code; the format facts are those the decoder
//! documents:
//!
//! * 256 bytes of 4-bit codeword lengths for 512 symbols (symbol `2i` in
//!   the low nibble of byte `i`), lengths at most 15, a complete canonical
//!   code;
//! * symbols 0..=255 are literals, `256 + (log2(offset) << 4 | min(len − 3,
//!   15))` a match, followed by the length extension bytes (one byte of
//!   `len − 3 − 15`, or 255 and a u16 of `len − 3`) and then `log2(offset)`
//!   raw offset bits;
//! * bits are packed MSB-first into 16-bit little-endian units; extension
//!   bytes go to the byte stream interleaved after the units, at the
//!   position the decoder's one-unit-at-a-time reader will look for them.
//!   The writer keeps two reserved unit slots ahead of the byte pointer
//!   (the unit being filled and the next one), which places every byte
//!   exactly there.
//!
//! A symbol 256 (offset 1, length 3) ends the data, as Microsoft's
//! compressor writes it; decoders stop at the chunk size anyway.
//!
//! Match finding: hash chains over 3-byte prefixes with a bounded search
//! depth and one step of lazy evaluation. Deterministic: the output depends
//! only on the input chunk.

use crate::write::resource::Compressor;

const NUM_SYMBOLS: usize = 512;
const MAX_CODEWORD_LEN: u8 = 15;
const MIN_MATCH: usize = 3;
/// Largest match the format encodes (u16 of `len − 3`).
const MAX_MATCH: usize = 0xffff + MIN_MATCH;
/// Largest chunk XPRESS handles (offsets fit 16 bits).
pub const MAX_CHUNK: usize = 1 << 16;
const END_OF_DATA: usize = 256;
const HASH_BITS: u32 = 15;

/// Compression effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Short hash chains, one step of lazy matching (the default).
    Fast,
    /// Longer hash chains.
    Thorough,
}

#[derive(Clone, Copy)]
enum Item {
    Literal(u8),
    Match { len: u32, offset: u32 },
}

/// Reusable XPRESS compressor for chunks of up to 64 KiB.
pub struct XpressCompressor {
    level: Level,
    head: Vec<u32>,
    prev: Vec<u32>,
    items: Vec<Item>,
}

impl XpressCompressor {
    pub fn new(level: Level) -> Self {
        XpressCompressor {
            level,
            head: vec![u32::MAX; 1 << HASH_BITS],
            prev: vec![u32::MAX; MAX_CHUNK],
            items: Vec::new(),
        }
    }

    fn hash(d: &[u8], i: usize) -> usize {
        let v = u32::from(d[i]) | u32::from(d[i + 1]) << 8 | u32::from(d[i + 2]) << 16;
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    fn insert(&mut self, d: &[u8], i: usize) {
        if i + MIN_MATCH <= d.len() {
            let h = Self::hash(d, i);
            self.prev[i] = self.head[h];
            self.head[h] = i as u32;
        }
    }

    /// Longest match for position `i` among earlier positions.
    fn longest(&self, d: &[u8], i: usize, depth: u32, nice: usize) -> (usize, usize) {
        if i + MIN_MATCH > d.len() {
            return (0, 0);
        }
        let max = (d.len() - i).min(MAX_MATCH);
        let nice = nice.min(max);
        let mut best = (0usize, 0usize);
        let mut cand = self.head[Self::hash(d, i)];
        let mut left = depth;
        while cand != u32::MAX && left > 0 {
            let c = cand as usize;
            let off = i - c;
            if best.0 < max && d[c + best.0] == d[i + best.0] {
                let mut l = 0;
                while l < max && d[c + l] == d[i + l] {
                    l += 1;
                }
                if l > best.0 {
                    best = (l, off);
                    if l >= nice {
                        break;
                    }
                }
            }
            cand = self.prev[c];
            left -= 1;
        }
        if best.0 < MIN_MATCH {
            (0, 0)
        } else {
            best
        }
    }

    fn parse(&mut self, d: &[u8]) {
        self.head.fill(u32::MAX);
        self.items.clear();
        // (chain depth, "nice" length that ends a search and skips the
        // lazy step)
        let (depth, nice) = match self.level {
            Level::Fast => (16, 32),
            Level::Thorough => (96, 258),
        };
        let mut i = 0;
        while i < d.len() {
            let (len, off) = self.longest(d, i, depth, nice);
            self.insert(d, i);
            if len < MIN_MATCH {
                self.items.push(Item::Literal(d[i]));
                i += 1;
                continue;
            }
            if len < nice && i + 1 < d.len() {
                let (l2, _) = self.longest(d, i + 1, depth, nice);
                if l2 > len + 1 {
                    self.items.push(Item::Literal(d[i]));
                    i += 1;
                    continue;
                }
            }
            self.items.push(Item::Match {
                len: len as u32,
                offset: off as u32,
            });
            for j in i + 1..i + len {
                self.insert(d, j);
            }
            i += len;
        }
    }
}

fn match_symbol(len: u32, offset: u32) -> usize {
    let log2 = 31 - offset.leading_zeros();
    let nib = (len as usize - MIN_MATCH).min(15);
    256 + ((log2 as usize) << 4 | nib)
}

/// Codeword lengths (at most `max_len`) for `freqs`: Huffman's algorithm;
/// when a codeword comes out too long, frequencies are flattened and the
/// code rebuilt. Every used symbol gets a length; with fewer than two used
/// symbols a second one is added so the code is complete.
fn code_lengths(freqs: &mut [u32; NUM_SYMBOLS], max_len: u8) -> [u8; NUM_SYMBOLS] {
    let used = freqs.iter().filter(|&&f| f > 0).count();
    if used < 2 {
        for f in freqs.iter_mut().take(2) {
            if *f == 0 {
                *f = 1;
            }
        }
        if freqs.iter().filter(|&&f| f > 0).count() < 2 {
            freqs[1] = 1;
        }
    }
    loop {
        let lens = huffman_lengths(freqs);
        if lens.iter().all(|&l| l <= max_len) {
            return lens;
        }
        for f in freqs.iter_mut() {
            if *f > 0 {
                *f = (*f >> 1) | 1;
            }
        }
    }
}

/// Unlimited Huffman code lengths, deterministic (ties broken by index).
fn huffman_lengths(freqs: &[u32; NUM_SYMBOLS]) -> [u8; NUM_SYMBOLS] {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Nodes: leaves 0..512, internal nodes after.
    let mut parent = vec![usize::MAX; 2 * NUM_SYMBOLS];
    let mut heap = BinaryHeap::new();
    for (s, &f) in freqs.iter().enumerate() {
        if f > 0 {
            heap.push(Reverse((f as u64, s)));
        }
    }
    let mut next = NUM_SYMBOLS;
    while heap.len() > 1 {
        let Reverse((fa, a)) = heap.pop().expect("len > 1");
        let Reverse((fb, b)) = heap.pop().expect("len > 1");
        parent[a] = next;
        parent[b] = next;
        heap.push(Reverse((fa + fb, next)));
        next += 1;
    }
    let mut lens = [0u8; NUM_SYMBOLS];
    for (s, l) in lens.iter_mut().enumerate() {
        if freqs[s] == 0 {
            continue;
        }
        let mut d = 0u32;
        let mut n = s;
        while parent[n] != usize::MAX {
            n = parent[n];
            d += 1;
        }
        *l = d.min(255) as u8;
    }
    lens
}

/// Canonical codewords: by length, then symbol.
fn canonical_codes(lens: &[u8; NUM_SYMBOLS]) -> [u16; NUM_SYMBOLS] {
    let mut count = [0u16; 16];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for l in 1..16 {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    let mut codes = [0u16; NUM_SYMBOLS];
    for (s, &l) in lens.iter().enumerate() {
        if l > 0 {
            codes[s] = next[l as usize];
            next[l as usize] += 1;
        }
    }
    codes
}

/// The interleaved bit/byte writer. `slot1`/`slot2` are where the next two
/// 16-bit units go; bytes go at `byte`, after both.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    buf: u64,
    count: u32,
    slot1: usize,
    slot2: usize,
    byte: usize,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        let start = out.len();
        out.resize(start + 4, 0);
        BitWriter {
            out,
            buf: 0,
            count: 0,
            slot1: start,
            slot2: start + 2,
            byte: start + 4,
        }
    }

    fn bits(&mut self, v: u32, n: u32) {
        debug_assert!(n <= 16);
        self.buf = (self.buf << n) | u64::from(v & ((1u32 << n) - 1));
        self.count += n;
        // A full unit is only written once a bit beyond it arrives: bytes
        // emitted at a unit boundary belong after the *following* unit,
        // which is where the decoder, having loaded it, looks for them.
        if self.count > 16 {
            self.count -= 16;
            let unit = (self.buf >> self.count) as u16;
            self.out[self.slot1..self.slot1 + 2].copy_from_slice(&unit.to_le_bytes());
            self.slot1 = self.slot2;
            self.slot2 = self.byte;
            self.byte += 2;
            self.out.resize(self.byte, 0);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.byte >= self.out.len() {
            self.out.resize(self.byte + 1, 0);
        }
        self.out[self.byte] = b;
        self.byte += 1;
    }

    fn finish(self) {
        // Pad the last partial unit with zero bits; slot2 stays zero.
        if self.count > 0 {
            let unit = ((self.buf << (16 - self.count)) & 0xffff) as u16;
            self.out[self.slot1..self.slot1 + 2].copy_from_slice(&unit.to_le_bytes());
        }
        self.out.truncate(self.byte.max(self.slot2 + 2));
    }
}

impl Compressor for XpressCompressor {
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        out.clear();
        if input.is_empty() || input.len() > MAX_CHUNK {
            return None;
        }
        self.parse(input);
        let mut freqs = [0u32; NUM_SYMBOLS];
        for it in &self.items {
            match *it {
                Item::Literal(b) => freqs[b as usize] += 1,
                Item::Match { len, offset } => freqs[match_symbol(len, offset)] += 1,
            }
        }
        freqs[END_OF_DATA] += 1;
        let lens = code_lengths(&mut freqs, MAX_CODEWORD_LEN);
        let codes = canonical_codes(&lens);
        out.reserve(NUM_SYMBOLS / 2 + input.len());
        for pair in lens.chunks_exact(2) {
            out.push(pair[0] | pair[1] << 4);
        }
        let mut w = BitWriter::new(out);
        let put = |w: &mut BitWriter<'_>, s: usize| w.bits(u32::from(codes[s]), u32::from(lens[s]));
        for it in &self.items {
            match *it {
                Item::Literal(b) => put(&mut w, b as usize),
                Item::Match { len, offset } => {
                    put(&mut w, match_symbol(len, offset));
                    let l = len as usize - MIN_MATCH;
                    if l >= 15 {
                        if l - 15 < 255 {
                            w.byte((l - 15) as u8);
                        } else {
                            w.byte(255);
                            w.byte(l as u8);
                            w.byte((l >> 8) as u8);
                        }
                    }
                    let log2 = 31 - offset.leading_zeros();
                    w.bits(offset & ((1 << log2) - 1), log2);
                }
            }
            if w.out.len() >= input.len() {
                // Cannot shrink; stop early.
                return None;
            }
        }
        put(&mut w, END_OF_DATA);
        w.finish();
        (out.len() < input.len()).then_some(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{xpress::XpressDecompressor, Decompressor};

    fn round_trip(data: &[u8], level: Level) -> Option<usize> {
        let mut c = XpressCompressor::new(level);
        let mut out = Vec::new();
        let n = c.compress(data, &mut out)?;
        assert_eq!(n, out.len());
        let mut back = vec![0u8; data.len()];
        XpressDecompressor::new()
            .decompress(&out, &mut back)
            .unwrap_or_else(|e| panic!("decode failed: {e} (len {})", data.len()));
        assert!(back == data, "round trip differs (len {})", data.len());
        Some(n)
    }

    #[test]
    fn round_trips_through_the_decoder() {
        let text = b"the quick brown fox jumps over the lazy dog. ".repeat(800);
        for level in [Level::Fast, Level::Thorough] {
            let n = round_trip(&text[..32768], level).unwrap();
            assert!(n < 2000, "{n}");
            // Long matches (u16 length form), single-symbol input.
            assert!(round_trip(&[0u8; 65536], level).is_some());
            assert!(round_trip(&[7u8; 300], level).is_some());
            // Matches of every length class around the extension limits.
            for run in [3usize, 17, 18, 19, 272, 273, 274, 1000] {
                let mut d = b"abcdefgh".to_vec();
                d.extend(std::iter::repeat_n(b'z', run));
                d.extend_from_slice(b"abcdefgh");
                d.extend(std::iter::repeat_n(b'q', 40));
                round_trip(&d, level);
            }
        }
        // Random data does not shrink.
        let mut x = 0x1234_5678u32;
        let rnd: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert!(round_trip(&rnd, Level::Fast).is_none());
    }

    #[test]
    fn deterministic_and_mixed_content() {
        let mut d = Vec::new();
        for i in 0..20000u32 {
            d.extend_from_slice(format!("line {} value {}\n", i % 97, i % 13).as_bytes());
        }
        let d = &d[..65536];
        let mut a = Vec::new();
        let mut b = Vec::new();
        XpressCompressor::new(Level::Fast)
            .compress(d, &mut a)
            .unwrap();
        let mut c = XpressCompressor::new(Level::Fast);
        c.compress(&[1, 2, 3, 4, 5, 6], &mut b);
        c.compress(d, &mut b).unwrap();
        assert_eq!(a, b);
        round_trip(d, Level::Fast).unwrap();
        round_trip(d, Level::Thorough).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
        /// Pieces of literals and repeats of every length class (short,
        /// one extension byte, the u16 form) at arbitrary bit alignments.
        #[test]
        fn random_structured_chunks_round_trip(
            pieces in proptest::collection::vec(
                (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 0usize..600, 1usize..300),
                1..40,
            ),
            thorough in proptest::prelude::any::<bool>(),
        ) {
            let mut d: Vec<u8> = Vec::new();
            for (lits, run, back) in pieces {
                d.extend_from_slice(&lits);
                if !d.is_empty() {
                    let back = back.min(d.len());
                    for _ in 0..run {
                        let b = d[d.len() - back];
                        d.push(b);
                    }
                }
                if d.len() >= MAX_CHUNK {
                    d.truncate(MAX_CHUNK);
                    break;
                }
            }
            if !d.is_empty() {
                round_trip(&d, if thorough { Level::Thorough } else { Level::Fast });
            }
        }
    }
}
