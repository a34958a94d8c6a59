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
//! Match finding (the speed of a capture is mostly this): hash chains keyed
//! by 4-byte prefixes plus a one-entry-per-bucket table for 3-byte matches,
//! the scheme wimlib's `hc_matchfinder` documents; lazy evaluation one
//! position ahead with half the chain depth, accepting the lookahead only
//! when it is strictly longer; 3-byte matches at offsets of 4 KiB or more
//! are not worth their offset bits and are left as literals. Positions are
//! stored as u16 (position + 1, 0 for none), which keeps the tables small
//! enough to stay in the L2 cache; the hash heads are cleared per chunk.
//! The chunk is copied into a fixed-size zero-padded buffer indexed through
//! a mask, so lengths are extended eight bytes at a time and the hot loops
//! carry no bounds checks. Deterministic: the output depends only on the
//! input chunk and the level.

use crate::write::resource::Compressor;

const NUM_SYMBOLS: usize = 512;
const MAX_CODEWORD_LEN: usize = 15;
const MIN_MATCH: usize = 3;
/// Largest chunk XPRESS handles (offsets fit 16 bits).
pub const MAX_CHUNK: usize = 1 << 16;
const END_OF_DATA: usize = 256;
const HASH3_BITS: u32 = 14;
const HASH4_BITS: u32 = 15;
/// Zero bytes after the chunk copy, so 8-byte loads near the end stay in
/// the buffer.
const PAD: usize = 16;
/// Index mask of the chunk buffer: every position the parser computes is
/// below `MAX_CHUNK + PAD`, so masking changes nothing but lets the
/// compiler drop the bounds checks of the fixed-size buffer.
const BUF_MASK: usize = 2 * MAX_CHUNK - 1;
/// Length of the chunk buffer: the masked range plus room for one 8-byte
/// load at the last masked index.
const BUF_LEN: usize = BUF_MASK + 1 + 8;
/// A 3-byte match this far back or farther costs more than its literals.
const LEN3_TOO_FAR: usize = 4096;

/// Compression effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Chains searched 8 deep, 24 bytes is long enough (the default;
    /// on PE files about 1 % larger than wimlib's default level, in about
    /// 0.8x its CPU time).
    Fast,
    /// Chains searched 64 deep, 128 bytes is long enough (slightly
    /// smaller than wimlib's default level, about 1.3x its CPU time).
    Thorough,
}

/// Reusable XPRESS compressor for chunks of up to 64 KiB.
pub struct XpressCompressor {
    level: Level,
    /// Most recent position + 1 per 3-byte hash (0: none).
    hash3: Box<[u16; 1 << HASH3_BITS]>,
    /// Most recent position + 1 per 4-byte hash (0: none).
    hash4: Box<[u16; 1 << HASH4_BITS]>,
    /// Previous position + 1 with the same 4-byte hash, per chunk position.
    prev: Box<[u16; MAX_CHUNK]>,
    /// The chunk, then at least `PAD` zero bytes.
    buf: Box<[u8; BUF_LEN]>,
    /// Chosen items, `n_items` of them: a literal is `byte << 16`, a match
    /// `(len − 3) << 16 | offset` (offsets are never 0).
    items: Box<[u32; MAX_CHUNK]>,
    n_items: usize,
    freqs: [u32; NUM_SYMBOLS],
}

type Buf = [u8; BUF_LEN];

#[inline(always)]
fn load4(d: &Buf, i: usize) -> u32 {
    let i = i & BUF_MASK;
    let b: [u8; 4] = d[i..i + 4].try_into().expect("4 bytes");
    u32::from_le_bytes(b)
}

#[inline(always)]
fn load8(d: &Buf, i: usize) -> u64 {
    let i = i & BUF_MASK;
    let b: [u8; 8] = d[i..i + 8].try_into().expect("8 bytes");
    u64::from_le_bytes(b)
}

/// A boxed zeroed array, built without a stack temporary.
fn zeroed<T: Copy + Default, const N: usize>() -> Box<[T; N]> {
    vec![T::default(); N]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("length is N"))
}

#[inline(always)]
fn hash3(v: u32) -> usize {
    ((v << 8).wrapping_mul(0x1E35_A7BD) >> (32 - HASH3_BITS)) as usize
}

#[inline(always)]
fn hash4(v: u32) -> usize {
    (v.wrapping_mul(0x1E35_A7BD) >> (32 - HASH4_BITS)) as usize
}

/// Length of the common prefix of `d[a..]` and `d[b..]` (`a < b`), from
/// `start` on, at most `max`. `d` must hold `b + max + 8` bytes.
#[inline(always)]
fn extend(d: &Buf, a: usize, b: usize, start: usize, max: usize) -> usize {
    let mut l = start;
    while l < max {
        let x = load8(d, a + l) ^ load8(d, b + l);
        if x != 0 {
            l += (x.trailing_zeros() / 8) as usize;
            return l.min(max);
        }
        l += 8;
    }
    max
}

impl XpressCompressor {
    pub fn new(level: Level) -> Self {
        XpressCompressor {
            level,
            hash3: zeroed(),
            hash4: zeroed(),
            prev: zeroed(),
            buf: zeroed(),
            items: zeroed(),
            n_items: 0,
            freqs: [0; NUM_SYMBOLS],
        }
    }

    /// Load `input` into the padded buffer and move the base past every
    /// stored position of the previous chunk.
    fn start_chunk(&mut self, input: &[u8]) {
        self.buf[..input.len()].copy_from_slice(input);
        self.buf[input.len()..input.len() + PAD].fill(0);
        self.hash3.fill(0);
        self.hash4.fill(0);
        self.n_items = 0;
        self.freqs = [0; NUM_SYMBOLS];
    }

    /// Insert position `i` (with `i + 3 <= n`) into both tables without
    /// searching.
    #[inline(always)]
    fn insert(&mut self, i: usize) {
        let v = load4(&self.buf, i);
        let s = (i as u16).wrapping_add(1);
        self.hash3[hash3(v)] = s;
        let h = hash4(v);
        self.prev[i & (MAX_CHUNK - 1)] = self.hash4[h];
        self.hash4[h] = s;
    }

    /// Insert position `i` and return the longest match there that is
    /// longer than `best` (`(best, 0)` when there is none), searching at
    /// most `depth` chain entries and stopping at `nice` bytes. `n` is the
    /// chunk length; `i + 3 <= n`.
    #[inline(always)]
    fn longest(
        &mut self,
        i: usize,
        n: usize,
        mut best: usize,
        depth: u32,
        nice: usize,
    ) -> (usize, usize) {
        let max = n - i;
        let nice = nice.min(max);
        let d = &*self.buf;
        let v = load4(d, i);
        let s = (i as u16).wrapping_add(1);
        let h3 = hash3(v);
        let c3 = self.hash3[h3];
        self.hash3[h3] = s;
        let h4 = hash4(v);
        let mut cand = self.hash4[h4];
        self.hash4[h4] = s;
        self.prev[i & (MAX_CHUNK - 1)] = cand;
        let mut off = 0;
        if best < MIN_MATCH && c3 != 0 {
            let c = usize::from(c3 - 1);
            if load4(d, c) & 0xff_ffff == v & 0xff_ffff {
                best = MIN_MATCH;
                off = i - c;
                if max == MIN_MATCH {
                    return (best, off);
                }
            }
        }
        if max < 4 {
            return (best, off);
        }
        let mut left = depth;
        if best < 4 {
            // Until a 4-byte match turns up, only the prefix matters.
            loop {
                if cand == 0 || left == 0 {
                    return (best, off);
                }
                left -= 1;
                let c = usize::from(cand - 1);
                cand = self.prev[c & (MAX_CHUNK - 1)];
                if load4(d, c) == v {
                    best = extend(d, c, i, 4, max);
                    off = i - c;
                    if best >= nice {
                        return (best, off);
                    }
                    break;
                }
            }
        }
        while cand != 0 && left > 0 {
            left -= 1;
            let c = usize::from(cand - 1);
            cand = self.prev[c & (MAX_CHUNK - 1)];
            // Cheap rejection: the bytes that would make this match longer
            // than the best, then the prefix.
            if load4(d, c + best - 3) == load4(d, i + best - 3) && load4(d, c) == v {
                let l = extend(d, c, i, 4, max);
                if l > best {
                    best = l;
                    off = i - c;
                    if best >= nice {
                        break;
                    }
                }
            }
        }
        (best, off)
    }

    #[inline(always)]
    fn literal(&mut self, b: u8) {
        self.items[self.n_items & (MAX_CHUNK - 1)] = u32::from(b) << 16;
        self.n_items += 1;
        self.freqs[usize::from(b)] += 1;
    }

    #[inline(always)]
    fn record_match(&mut self, len: usize, off: usize) {
        self.items[self.n_items & (MAX_CHUNK - 1)] = ((len - MIN_MATCH) as u32) << 16 | off as u32;
        self.n_items += 1;
        self.freqs[match_symbol(len, off as u32)] += 1;
    }

    /// Insert positions `from..from + count`, skipping those too close to
    /// the end to start a match.
    #[inline(always)]
    fn skip(&mut self, from: usize, count: usize, n: usize) {
        let end = (from + count).min(n.saturating_sub(MIN_MATCH - 1));
        for j in from..end {
            self.insert(j);
        }
    }

    /// Lazy parse of the chunk in `buf[..n]` into `items` and `freqs`.
    fn parse(&mut self, n: usize) {
        let (depth, nice) = match self.level {
            Level::Fast => (8, 24),
            Level::Thorough => (64, 128),
        };
        let mut i = 0;
        while i < n {
            if i + MIN_MATCH > n {
                let b = self.buf[i & BUF_MASK];
                self.literal(b);
                i += 1;
                continue;
            }
            let (mut len, mut off) = self.longest(i, n, MIN_MATCH - 1, depth, nice);
            i += 1;
            if len < MIN_MATCH || (len == MIN_MATCH && off >= LEN3_TOO_FAR) {
                let b = self.buf[(i - 1) & BUF_MASK];
                self.literal(b);
                continue;
            }
            loop {
                // The match starts at i − 1.
                if len >= nice || i + MIN_MATCH > n {
                    self.record_match(len, off);
                    self.skip(i, len - 1, n);
                    i += len - 1;
                    break;
                }
                let (l2, o2) = self.longest(i, n, len, depth / 2, nice);
                i += 1;
                if l2 > len {
                    let b = self.buf[(i - 2) & BUF_MASK];
                    self.literal(b);
                    len = l2;
                    off = o2;
                    continue;
                }
                self.record_match(len, off);
                self.skip(i, len - 2, n);
                i += len - 2;
                break;
            }
        }
    }
}

#[inline(always)]
fn match_symbol(len: usize, offset: u32) -> usize {
    let log2 = 31 - offset.leading_zeros();
    let nib = (len - MIN_MATCH).min(15);
    (256 + ((log2 as usize) << 4 | nib)) & (NUM_SYMBOLS - 1)
}

/// Codeword lengths of at most [`MAX_CODEWORD_LEN`] bits for `freqs`, a
/// complete code. Huffman's algorithm on the used symbols sorted by
/// (frequency, symbol) with the two-queue method; depths beyond the limit
/// are clamped and the Kraft sum repaired by lengthening the longest codes
/// below the limit (the rarest symbols), then any slack given back to the
/// longest codes. Lengths go to symbols by rank, rarest longest.
/// Deterministic. With fewer than two used symbols, symbols 0 and 1 are
/// added so the code is complete.
fn code_lengths(freqs: &[u32; NUM_SYMBOLS]) -> [u8; NUM_SYMBOLS] {
    // Sorted leaves: frequency in the high bits, symbol in the low 9.
    let mut leaves: Vec<u64> = freqs
        .iter()
        .enumerate()
        .filter(|&(_, &f)| f > 0)
        .map(|(s, &f)| u64::from(f) << 9 | s as u64)
        .collect();
    for s in 0..2u64 {
        if leaves.len() < 2 && !leaves.iter().any(|&l| l & 511 == s) {
            leaves.push(1 << 9 | s);
        }
    }
    leaves.sort_unstable();
    let m = leaves.len();
    // Two-queue Huffman: node k < m is leaf k; internal nodes m.. are
    // created in non-decreasing weight order.
    let mut weight = vec![0u64; 2 * m - 1];
    let mut parent = vec![0usize; 2 * m - 1];
    for (k, &l) in leaves.iter().enumerate() {
        weight[k] = l >> 9;
    }
    let (mut next_leaf, mut next_inner) = (0usize, m);
    for new in m..2 * m - 1 {
        let mut pick = || {
            if next_leaf < m && (next_inner >= new || weight[next_leaf] <= weight[next_inner]) {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_inner += 1;
                next_inner - 1
            }
        };
        let a = pick();
        let b = pick();
        weight[new] = weight[a] + weight[b];
        parent[a] = new;
        parent[b] = new;
    }
    // Depths top-down: every parent has a larger index than its children.
    let mut depth = vec![0u32; 2 * m - 1];
    for k in (0..2 * m - 2).rev() {
        depth[k] = depth[parent[k]] + 1;
    }
    let mut count = [0u32; MAX_CODEWORD_LEN + 1];
    for &dp in &depth[..m] {
        count[(dp as usize).min(MAX_CODEWORD_LEN)] += 1;
    }
    // Kraft sum in units of 2^-15.
    let full = 1u64 << MAX_CODEWORD_LEN;
    let mut kraft: u64 = (1..=MAX_CODEWORD_LEN)
        .map(|l| u64::from(count[l]) << (MAX_CODEWORD_LEN - l))
        .sum();
    while kraft > full {
        let l = (1..MAX_CODEWORD_LEN)
            .rev()
            .find(|&l| count[l] > 0)
            .expect("an over-full code has a codeword shorter than the limit");
        count[l] -= 1;
        count[l + 1] += 1;
        kraft -= 1 << (MAX_CODEWORD_LEN - l - 1);
    }
    while kraft < full {
        let l = (2..=MAX_CODEWORD_LEN)
            .rev()
            .find(|&l| count[l] > 0 && kraft + (1 << (MAX_CODEWORD_LEN - l)) <= full)
            .expect("a codeword of the limit's length closes any gap");
        count[l] -= 1;
        count[l - 1] += 1;
        kraft += 1 << (MAX_CODEWORD_LEN - l);
    }
    let mut lens = [0u8; NUM_SYMBOLS];
    let mut l = MAX_CODEWORD_LEN;
    for &leaf in &leaves {
        while count[l] == 0 {
            l -= 1;
        }
        count[l] -= 1;
        lens[(leaf & 511) as usize] = l as u8;
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

/// The interleaved bit/byte writer over a buffer of fixed size (the
/// chunk's length plus slack): `slot1`/`slot2` are where the next two
/// 16-bit units go; bytes go at `byte`, after both. Running past `limit`
/// means the chunk does not shrink.
struct BitWriter<'a> {
    out: &'a mut [u8],
    limit: usize,
    buf: u64,
    count: u32,
    slot1: usize,
    slot2: usize,
    byte: usize,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut [u8], start: usize, limit: usize) -> Self {
        out[start..start + 4].fill(0);
        BitWriter {
            out,
            limit,
            buf: 0,
            count: 0,
            slot1: start,
            slot2: start + 2,
            byte: start + 4,
        }
    }

    /// `n <= 16` bits of `v`.
    #[inline(always)]
    fn bits(&mut self, v: u32, n: u32) {
        self.buf = (self.buf << n) | u64::from(v);
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
        }
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.out[self.byte] = b;
        self.byte += 1;
    }

    /// Whether the output so far already reaches the limit.
    #[inline(always)]
    fn full(&self) -> bool {
        self.byte >= self.limit
    }

    /// Output length.
    fn finish(self) -> usize {
        // Pad the last partial unit with zero bits; slot2 stays zero.
        if self.count > 0 {
            let unit = ((self.buf << (16 - self.count)) & 0xffff) as u16;
            self.out[self.slot1..self.slot1 + 2].copy_from_slice(&unit.to_le_bytes());
        }
        self.out[self.slot2..self.slot2 + 2].fill(0);
        self.byte.max(self.slot2 + 2)
    }
}

impl Compressor for XpressCompressor {
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        out.clear();
        let n = input.len();
        if n == 0 || n > MAX_CHUNK {
            return None;
        }
        self.start_chunk(input);
        self.parse(n);
        self.freqs[END_OF_DATA] += 1;
        let lens = code_lengths(&self.freqs);
        let codes = canonical_codes(&lens);
        // Every item writes at most 2 units and 3 bytes; writing stops as
        // soon as the output reaches the chunk's length.
        let header = NUM_SYMBOLS / 2;
        out.resize(header + n + 16, 0);
        for (o, pair) in out.iter_mut().zip(lens.chunks_exact(2)) {
            *o = pair[0] | pair[1] << 4;
        }
        let mut w = BitWriter::new(out, header, n);
        for &it in &self.items[..self.n_items] {
            let off = it & 0xffff;
            if off == 0 {
                let s = (it >> 16) as usize;
                w.bits(u32::from(codes[s]), u32::from(lens[s]));
            } else {
                let l = (it >> 16) as usize;
                let s = match_symbol(l + MIN_MATCH, off);
                w.bits(u32::from(codes[s]), u32::from(lens[s]));
                if l >= 15 {
                    if l - 15 < 255 {
                        w.byte((l - 15) as u8);
                    } else {
                        w.byte(255);
                        w.byte(l as u8);
                        w.byte((l >> 8) as u8);
                    }
                }
                let log2 = 31 - off.leading_zeros();
                w.bits(off & ((1 << log2) - 1), log2);
            }
            if w.full() {
                // Cannot shrink; stop early.
                return None;
            }
        }
        w.bits(u32::from(codes[END_OF_DATA]), u32::from(lens[END_OF_DATA]));
        let len = w.finish();
        out.truncate(len);
        (len < n).then_some(len)
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

    /// Kraft sum of `lens` in units of 2^-15.
    fn kraft(lens: &[u8; NUM_SYMBOLS]) -> u64 {
        lens.iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (15 - l))
            .sum()
    }

    #[test]
    fn code_lengths_are_limited_and_complete() {
        // Fibonacci frequencies make Huffman's depths grow by one per
        // symbol: 40 of them need far more than 15 bits unlimited.
        let mut f = [0u32; NUM_SYMBOLS];
        let (mut a, mut b) = (1u32, 1u32);
        for s in 0..40 {
            f[s * 7] = a;
            (a, b) = (b, a.saturating_add(b));
        }
        let lens = code_lengths(&f);
        assert!(lens.iter().all(|&l| l <= 15));
        assert_eq!(kraft(&lens), 1 << 15);
        for s in 0..40 {
            assert!(lens[s * 7] > 0, "used symbol {s} has a codeword");
        }
        // Rarer symbols never get shorter codewords than commoner ones.
        for s in 1..40 {
            assert!(lens[s * 7] <= lens[(s - 1) * 7]);
        }
        // One used symbol: a second one completes the code.
        let mut one = [0u32; NUM_SYMBOLS];
        one[300] = 5;
        let lens = code_lengths(&one);
        assert_eq!(kraft(&lens), 1 << 15);
        assert_eq!(lens.iter().filter(|&&l| l > 0).count(), 2);
        // All 512 symbols used, flat: nine bits each.
        let lens = code_lengths(&[3u32; NUM_SYMBOLS]);
        assert!(lens.iter().all(|&l| l == 9));
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
