//! LZMS chunk compressor: the inverse of [`super::lzms`], whose module
//! documentation describes the format (forward range-coded stream of
//! decisions, backward bitstream of adaptive Huffman codes, repeat-offset
//! queues with a delayed update, x86 filter). Original code; the tables
//! (offset and length slots, probability model, code rebuild schedule and
//! the Huffman length construction) are shared with the decoder so both
//! sides stay in step by construction.
//!
//! What it emits: literals, LZ matches and delta matches, each with an
//! explicit source or as a repeat of one of the three most recent sources
//! of its kind (decided when the item is coded, from the queues).
//!
//! Parsing: a minimum-cost path search over blocks of up to 2048
//! positions ("near-optimal parsing"). At every position the candidates
//! are the repeat LZ and delta matches (every length from 2), the
//! explicit LZ matches of a hash-chain search (every length, each at the
//! nearest offset giving it), explicit delta matches from a hash table of
//! byte differences at spans 1..32, and the literal. Costs come from the
//! adaptive state at the start of the block: Huffman codeword lengths of
//! the last rebuild, and the probabilities of the range-coded decisions
//! selected by the decision histories, which (with the repeat queues) are
//! tracked along each path. A block ends where no candidate reaches past
//! the current position, after 2048 positions, or at a match of at least
//! the level's "nice" length, which is taken at once.
//!
//! Deterministic: the output depends only on the chunk and the level.

use super::lzms::{
    build_lengths, num_offset_slots, BuildScratch, Prob, Probs, Slot, LENGTH_SLOTS, MAX_CHUNK_SIZE,
    MAX_OFFSET_SYMS, NUM_LENGTH_SYMS, NUM_LITERAL_SYMS, NUM_POWER_SYMS, OFFSET_SLOTS, PROB_BITS,
    X86_MAX_TRANSLATION_OFFSET, X86_WINDOW,
};
use crate::write::resource::Compressor;

/// Compression effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Short hash-chain searches (the default).
    #[default]
    Fast,
    /// For now the same search as [`Level::Fast`]: with the near-optimal
    /// parser, deeper hash-chain searches (48 links) or a longer "nice"
    /// length (160) made the repetitive text of the tests 5 % larger than
    /// the fast level, for reasons not yet understood.
    Thorough,
}

/// Search parameters of a level.
#[derive(Clone, Copy)]
struct Params {
    /// Hash-chain links followed per search.
    depth: u32,
    /// A match at least this long is taken at once.
    nice: usize,
}

impl Level {
    fn params(self) -> Params {
        match self {
            Level::Fast => Params {
                depth: 16,
                nice: 64,
            },
            Level::Thorough => Params {
                depth: 16,
                nice: 64,
            },
        }
    }
}

/// Error from [`LzmsCompressor::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LZMS chunk size {0} is not supported (1 byte to 1 GiB)")]
pub struct BadChunkSize(pub usize);

// ---------------------------------------------------------------------------
// Range encoder
// ---------------------------------------------------------------------------

/// Binary range encoder producing the forward stream of 16-bit words; the
/// exact inverse of the decoder's `RangeDecoder` (same normalisation point
/// `range <= 0xffff`, same bound `(range >> 6) * p`). Carries propagate
/// through a cached word and a run of pending 0xffff words.
struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u16,
    /// Words in the pipeline: the cache plus pending 0xffff words.
    pending: u64,
    /// The first word out of the pipeline is always 0 and is not part of
    /// the stream (the decoder starts with 32 bits of code).
    skip_first: bool,
    words: Vec<u16>,
}

impl RangeEncoder {
    fn new() -> Self {
        RangeEncoder {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            skip_first: true,
            words: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.low = 0;
        self.range = u32::MAX;
        self.cache = 0;
        self.pending = 1;
        self.skip_first = true;
        self.words.clear();
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xffff_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u16;
            let mut w = self.cache;
            while self.pending > 0 {
                if self.skip_first {
                    self.skip_first = false;
                } else {
                    self.words.push(w.wrapping_add(carry));
                }
                w = 0xffff;
                self.pending -= 1;
            }
            self.cache = (self.low >> 16) as u16;
        }
        self.pending += 1;
        self.low = (self.low & 0xffff) << 16;
    }

    /// Encode `bit` with the entry of `probs` selected by `state`, then
    /// update both exactly as the decoder does.
    #[inline(always)]
    fn bit<const N: usize>(&mut self, probs: &mut [Prob; N], state: &mut usize, bit: bool) {
        if self.range <= 0xffff {
            self.range <<= 16;
            self.shift_low();
        }
        let s = *state & (N - 1);
        let e = &mut probs[s];
        let bound = (self.range >> PROB_BITS) * prob_zero(e.zeros);
        let oldest = (e.history >> 63) as u8;
        if !bit {
            self.range = bound;
            e.zeros += oldest;
            e.history <<= 1;
            *state = (s << 1) & (N - 1);
        } else {
            self.low += bound as u64;
            self.range -= bound;
            e.zeros = e.zeros + oldest - 1;
            e.history = (e.history << 1) | 1;
            *state = ((s << 1) | 1) & (N - 1);
        }
    }

    /// Emit everything still held: the cache, pending words, the 32 bits
    /// of `low` and one zero word. The decoder's code is then exactly 0
    /// after its final normalisation, which 7-Zip's decoder checks (the
    /// extra word is what that normalisation may read).
    fn finish(&mut self) {
        for _ in 0..4 {
            self.shift_low();
        }
    }
}

/// Probability (in 64ths) that the next bit is 0, as the decoder clamps it.
#[inline(always)]
fn prob_zero(zeros: u8) -> u32 {
    (zeros as u32).clamp(1, 63)
}

// ---------------------------------------------------------------------------
// Backward bitstream
// ---------------------------------------------------------------------------

/// Writer of the backward bitstream: bits packed high bit first into
/// 16-bit words; the first word written ends up last in the chunk.
struct BitWriter {
    words: Vec<u16>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn new() -> Self {
        BitWriter {
            words: Vec::new(),
            acc: 0,
            n: 0,
        }
    }

    fn reset(&mut self) {
        self.words.clear();
        self.acc = 0;
        self.n = 0;
    }

    /// Write the low `n` bits of `v` (n <= 32), high bit first.
    #[inline(always)]
    fn put(&mut self, v: u32, n: u32) {
        if n == 0 {
            return;
        }
        self.acc = (self.acc << n) | (v as u64 & ((1u64 << n) - 1));
        self.n += n;
        while self.n >= 16 {
            self.n -= 16;
            self.words.push((self.acc >> self.n) as u16);
        }
    }

    fn finish(&mut self) {
        if self.n > 0 {
            self.words.push((self.acc << (16 - self.n)) as u16);
            self.n = 0;
        }
    }
}

// ---------------------------------------------------------------------------
// Adaptive Huffman codes
// ---------------------------------------------------------------------------

type Scratch = BuildScratch<MAX_OFFSET_SYMS>;

/// Encoder side of one adaptive Huffman code: the same frequencies,
/// rebuild interval and length construction as the decoder's
/// `AdaptiveCode`, plus the canonical codewords.
struct EncCode {
    freqs: Vec<u32>,
    lens: Vec<u8>,
    codes: Vec<u32>,
    num_syms: usize,
    until_rebuild: u32,
    rebuild_freq: u32,
    /// Builds so far (the cost model is refreshed when this changes).
    builds: u64,
}

impl EncCode {
    fn new(max_syms: usize, rebuild_freq: u32) -> Self {
        EncCode {
            freqs: vec![1; max_syms],
            lens: vec![0; max_syms],
            codes: vec![0; max_syms],
            num_syms: 0,
            until_rebuild: rebuild_freq,
            rebuild_freq,
            builds: 0,
        }
    }

    /// Start of a chunk: all frequencies 1, then build.
    fn reset(&mut self, num_syms: usize, scratch: &mut Scratch) {
        self.num_syms = num_syms.min(self.freqs.len());
        self.freqs[..self.num_syms].fill(1);
        self.build(scratch);
    }

    fn build(&mut self, scratch: &mut Scratch) {
        let n = self.num_syms;
        self.until_rebuild = self.rebuild_freq;
        self.builds += 1;
        if n < 2 {
            // The decoder reads every symbol as symbol 0 with length 1.
            self.lens[..n].fill(1);
            self.codes[..n].fill(0);
            return;
        }
        build_lengths(&self.freqs[..n], scratch);
        self.lens[..n].copy_from_slice(&scratch.lens[..n]);
        // Canonical codewords, as the decoder's table builder numbers them.
        let mut count = [0u32; 17];
        for &l in &self.lens[..n] {
            count[l as usize] += 1;
        }
        let mut next = [0u32; 17];
        let mut code = 0u32;
        for l in 1..=15 {
            next[l] = code;
            code = (code + count[l]) << 1;
        }
        for s in 0..n {
            let l = self.lens[s] as usize;
            self.codes[s] = next[l];
            next[l] += 1;
        }
    }

    #[inline(always)]
    fn encode(&mut self, sym: usize, bits: &mut BitWriter, scratch: &mut Scratch) {
        bits.put(self.codes[sym], self.lens[sym] as u32);
        self.freqs[sym] += 1;
        self.until_rebuild -= 1;
        if self.until_rebuild == 0 {
            self.build(scratch);
            for f in &mut self.freqs[..self.num_syms] {
                *f = (*f >> 1) + 1;
            }
        }
    }
}

/// Index of the slot holding `v` (slots sorted by base, `v >= 1`).
#[inline(always)]
fn slot_of(slots: &[Slot], v: u32) -> usize {
    slots.partition_point(|s| s.base <= v) - 1
}

// ---------------------------------------------------------------------------
// x86 filter
// ---------------------------------------------------------------------------

/// The forward x86 translation: the mirror of the decoder's `X86Filter`
/// (same candidate opcodes, same "looks like code" test on the targets'
/// low 16 bits, same scan limits), adding the position to the operands
/// the decoder will subtract it from. `last_use` stamps are relative to a
/// base that moves past the window after every chunk (as in the decoder),
/// so the table needs clearing only rarely.
struct X86Encoder {
    last_use: Vec<u32>,
    next_base: u32,
}

impl X86Encoder {
    fn new() -> Self {
        X86Encoder {
            last_use: vec![0; 1 << 16],
            next_base: X86_WINDOW + 1,
        }
    }

    fn apply(&mut self, data: &mut [u8]) {
        let size = data.len();
        if size <= 17 {
            return;
        }
        if self.next_base as u64 + size as u64 + X86_WINDOW as u64 + 1 >= u32::MAX as u64 {
            self.last_use.fill(0);
            self.next_base = X86_WINDOW + 1;
        }
        let base = self.next_base;
        self.next_base = base + size as u32 + X86_WINDOW + 1;
        let limit = size - 16;
        let mut last_x86: i64 = -X86_MAX_TRANSLATION_OFFSET - 1;
        let mut p = 1usize;
        while p < limit {
            let w = &data[p..p + 8];
            let (operand_at, max_offset) = match w[0] {
                0xE8 => (1usize, X86_MAX_TRANSLATION_OFFSET >> 1),
                0xE9 => {
                    p += 5;
                    continue;
                }
                0xFF if w[1] == 0x15 => (2, X86_MAX_TRANSLATION_OFFSET),
                0xF0 if w[1] == 0x83 && w[2] == 0x05 => (3, X86_MAX_TRANSLATION_OFFSET),
                0x48 | 0x4C
                    if w[2] & 0x07 == 0x05
                        && (w[1] == 0x8D
                            || (w[1] == 0x8B && w[0] & 0x04 == 0 && w[2] & 0xF0 == 0)) =>
                {
                    (3, X86_MAX_TRANSLATION_OFFSET)
                }
                _ => {
                    p += 1;
                    continue;
                }
            };
            let q = p + operand_at;
            let operand = u32::from_le_bytes([data[q], data[q + 1], data[q + 2], data[q + 3]]);
            if p as i64 - last_x86 <= max_offset {
                data[q..q + 4].copy_from_slice(&operand.wrapping_add(p as u32).to_le_bytes());
            }
            let target = (p as u32).wrapping_add(operand & 0xffff) as u16;
            let end = p + operand_at + 3;
            let stamp = base + end as u32;
            let slot = &mut self.last_use[target as usize];
            if stamp.wrapping_sub(*slot) <= X86_WINDOW {
                last_x86 = end as i64;
            }
            *slot = stamp;
            p = q + 4;
        }
    }
}

// ---------------------------------------------------------------------------
// Match finder
// ---------------------------------------------------------------------------

const NONE: u32 = u32::MAX;

/// Bytes hashed by the long-match table.
const LONG_LEN: usize = 16;

/// Hash chains over 4-byte prefixes covering the whole chunk, plus a
/// table of the latest position of each 16-byte string (hashed), which
/// finds long repeats far back that the depth-limited chains miss (a file
/// repeated megabytes later in a solid chunk).
struct Chains {
    head: Vec<u32>,
    prev: Vec<u32>,
    long_head: Vec<u32>,
    hash_bits: u32,
}

impl Chains {
    fn new() -> Self {
        Chains {
            head: Vec::new(),
            prev: Vec::new(),
            long_head: Vec::new(),
            hash_bits: 0,
        }
    }

    fn reset(&mut self, n: usize) {
        let bits = (usize::BITS - n.max(1 << 12).leading_zeros()).clamp(12, 22);
        self.hash_bits = bits;
        self.head.clear();
        self.head.resize(1 << bits, NONE);
        self.prev.clear();
        self.prev.resize(n, NONE);
        self.long_head.clear();
        self.long_head.resize(1 << bits, NONE);
    }

    /// Hash of the 16 bytes at `i` (needs `i + 16 <= d.len()`).
    #[inline(always)]
    fn long_hash(&self, d: &[u8], i: usize) -> usize {
        let a = u64::from_le_bytes(d[i..i + 8].try_into().unwrap_or([0; 8]));
        let b = u64::from_le_bytes(d[i + 8..i + 16].try_into().unwrap_or([0; 8]));
        let h = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        (h.rotate_left(23).wrapping_mul(0x1656_67B1_9E37_79F9) >> (64 - self.hash_bits)) as usize
    }

    #[inline(always)]
    fn hash(&self, d: &[u8], i: usize) -> usize {
        let v = u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
        (v.wrapping_mul(0x9E37_79B1) >> (32 - self.hash_bits)) as usize
    }

    /// Insert position `i` (needs `i + 4 <= d.len()`).
    #[inline(always)]
    fn insert(&mut self, d: &[u8], i: usize) {
        let h = self.hash(d, i);
        self.prev[i] = self.head[h];
        self.head[h] = i as u32;
        if i + LONG_LEN <= d.len() {
            let h = self.long_hash(d, i);
            self.long_head[h] = i as u32;
        }
    }
}

/// Length of the common prefix of `d[a..]` and `d[b..]` (`a < b`), at most
/// `max` (with `b + max <= d.len()`).
#[inline(always)]
fn match_len(d: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut len = 0;
    while len + 8 <= max {
        let x = u64::from_le_bytes(d[a + len..a + len + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(d[b + len..b + len + 8].try_into().unwrap_or([0; 8]));
        let diff = x ^ y;
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && d[a + len] == d[b + len] {
        len += 1;
    }
    len
}

// ---------------------------------------------------------------------------
// Delta match finder
// ---------------------------------------------------------------------------

/// Delta spans tried: 1, 2, 4, ... `1 << (DELTA_POWERS - 1)` bytes.
const DELTA_POWERS: usize = 6;
/// Bytes of delta compared through the hash (also the shortest explicit
/// delta match).
const DELTA_MIN: usize = 3;
const DELTA_HASH_BITS: u32 = 17;

/// One table of the latest position per hash of "three byte differences
/// at span `s`, plus `s` and the position modulo `s`" (a delta match
/// needs an offset that is a multiple of its span, so positions of a
/// different phase are useless candidates). Shared by all spans; a hit is
/// always verified.
struct DeltaFinder {
    table: Vec<u32>,
}

impl DeltaFinder {
    fn new() -> Self {
        DeltaFinder { table: Vec::new() }
    }

    fn reset(&mut self) {
        self.table.clear();
        self.table.resize(1 << DELTA_HASH_BITS, NONE);
    }

    #[inline(always)]
    fn hash(d: &[u8], pos: usize, span: usize) -> usize {
        let d0 = d[pos].wrapping_sub(d[pos - span]) as u32;
        let d1 = d[pos + 1].wrapping_sub(d[pos + 1 - span]) as u32;
        let d2 = d[pos + 2].wrapping_sub(d[pos + 2 - span]) as u32;
        let v = (((span + (pos & (span - 1))) as u32) << 24) | (d2 << 16) | (d1 << 8) | d0;
        (v.wrapping_mul(0x9E37_79B1) >> (32 - DELTA_HASH_BITS)) as usize
    }

    /// Record position `pos` for every span and, if `out` is given, push
    /// the verified candidates `(power, raw_offset, length)` found there
    /// (length at least [`DELTA_MIN`], at most `max_len`).
    #[inline(always)]
    fn update(
        &mut self,
        d: &[u8],
        pos: usize,
        max_len: usize,
        mut out: Option<&mut Vec<(u32, u32, usize)>>,
    ) {
        if pos + DELTA_MIN > d.len() {
            return;
        }
        for power in 0..DELTA_POWERS {
            let span = 1usize << power;
            if pos < span {
                break;
            }
            let h = Self::hash(d, pos, span);
            let cand = self.table[h];
            self.table[h] = pos as u32;
            let Some(out) = out.as_deref_mut() else {
                continue;
            };
            // (A hit on this very position comes from another span
            // hashing alike.)
            if cand == NONE || cand as usize >= pos {
                continue;
            }
            let offset = pos - cand as usize;
            if offset & (span - 1) != 0 || offset + span > pos {
                continue;
            }
            let len = delta_len(d, pos - offset, pos, span, max_len);
            if len >= DELTA_MIN {
                out.push((power as u32, (offset >> power) as u32, len));
            }
        }
    }
}

/// Length of the delta match at `b` against `a` (`a < b`, `a >= span`),
/// at most `max`.
#[inline(always)]
fn delta_len(d: &[u8], a: usize, b: usize, span: usize, max: usize) -> usize {
    let mut len = 0;
    while len < max
        && d[b + len].wrapping_sub(d[b + len - span]) == d[a + len].wrapping_sub(d[a + len - span])
    {
        len += 1;
    }
    len
}

// ---------------------------------------------------------------------------
// Encoder state
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    Literal,
    Lz,
    Delta,
}

/// Source of one item: a literal, an LZ match from `offset` back, or a
/// delta match `(power, raw_offset)`. Whether a match is coded with an
/// explicit source or as a repeat is decided from the queues when it is
/// coded ([`State::lz_rep`], [`State::delta_rep`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    Literal,
    Lz(u32),
    Delta(u32, u32),
}

/// The part of the adaptive state that selects probability entries and
/// repeat sources: decision histories and the recent-source queues (with
/// the format's delayed update modelled as in the decoder: after an item
/// of the same kind, repeat index k reads entry k + 1).
#[derive(Clone, Copy)]
struct State {
    main: usize,
    is_delta: usize,
    lz: usize,
    delta: usize,
    lz_rep: [usize; 2],
    delta_rep: [usize; 2],
    recent: [u32; 4],
    recent_delta: [(u32, u32); 4],
    prev: Prev,
}

impl State {
    const INITIAL: State = State {
        main: 0,
        is_delta: 0,
        lz: 0,
        delta: 0,
        lz_rep: [0; 2],
        delta_rep: [0; 2],
        recent: [1, 2, 3, 4],
        recent_delta: [(0, 1), (0, 2), (0, 3), (0, 4)],
        prev: Prev::Literal,
    };

    /// Repeat index of LZ offset `off`, if it is in the queue.
    #[inline(always)]
    fn lz_rep(&self, off: u32) -> Option<usize> {
        let skip = (self.prev == Prev::Lz) as usize;
        (0..3).find(|&k| self.recent[k + skip] == off)
    }

    #[inline(always)]
    fn delta_rep(&self, pair: (u32, u32)) -> Option<usize> {
        let skip = (self.prev == Prev::Delta) as usize;
        (0..3).find(|&k| self.recent_delta[k + skip] == pair)
    }

    /// The state after coding an item from `src` (the same updates the
    /// coder makes through the range encoder).
    #[inline(always)]
    fn advance(&mut self, src: Src) {
        fn push(s: &mut usize, bit: bool, mask: usize) {
            *s = ((*s << 1) | bit as usize) & mask;
        }
        match src {
            Src::Literal => {
                push(&mut self.main, false, 15);
                self.prev = Prev::Literal;
            }
            Src::Lz(off) => {
                push(&mut self.main, true, 15);
                push(&mut self.is_delta, false, 31);
                match self.lz_rep(off) {
                    Some(k) => {
                        push(&mut self.lz, true, 63);
                        push(&mut self.lz_rep[0], k != 0, 63);
                        if k != 0 {
                            push(&mut self.lz_rep[1], k != 1, 63);
                        }
                        take_recent(&mut self.recent, k, self.prev == Prev::Lz);
                    }
                    None => {
                        push(&mut self.lz, false, 63);
                        self.recent = [off, self.recent[0], self.recent[1], self.recent[2]];
                    }
                }
                self.prev = Prev::Lz;
            }
            Src::Delta(p, r) => {
                push(&mut self.main, true, 15);
                push(&mut self.is_delta, true, 31);
                match self.delta_rep((p, r)) {
                    Some(k) => {
                        push(&mut self.delta, true, 63);
                        push(&mut self.delta_rep[0], k != 0, 63);
                        if k != 0 {
                            push(&mut self.delta_rep[1], k != 1, 63);
                        }
                        take_recent(&mut self.recent_delta, k, self.prev == Prev::Delta);
                    }
                    None => {
                        push(&mut self.delta, false, 63);
                        let q = self.recent_delta;
                        self.recent_delta = [(p, r), q[0], q[1], q[2]];
                    }
                }
                self.prev = Prev::Delta;
            }
        }
    }
}

/// Move entry `k` of a recent-source queue (one further down after an
/// item of the same kind) to the front, as the decoder does.
#[inline(always)]
fn take_recent<T: Copy>(q: &mut [T; 4], k: usize, skip: bool) {
    let from = k + skip as usize;
    let v = q[from];
    q[from] = q[k];
    for j in (1..=k).rev() {
        q[j] = q[j - 1];
    }
    q[0] = v;
}

/// All adaptive coding state of one chunk.
struct Coder {
    rc: RangeEncoder,
    bits: BitWriter,
    probs: Probs,
    st: State,
    literal: EncCode,
    length: EncCode,
    offset: EncCode,
    power: EncCode,
    delta_offset: EncCode,
    scratch: Box<Scratch>,
}

impl Coder {
    fn new() -> Self {
        Coder {
            rc: RangeEncoder::new(),
            bits: BitWriter::new(),
            probs: Probs::INITIAL,
            st: State::INITIAL,
            literal: EncCode::new(NUM_LITERAL_SYMS, 1024),
            length: EncCode::new(NUM_LENGTH_SYMS, 512),
            offset: EncCode::new(MAX_OFFSET_SYMS, 1024),
            power: EncCode::new(NUM_POWER_SYMS, 512),
            delta_offset: EncCode::new(MAX_OFFSET_SYMS, 1024),
            scratch: Box::new(BuildScratch::new()),
        }
    }

    fn reset(&mut self, n: usize) {
        self.rc.reset();
        self.bits.reset();
        self.probs = Probs::INITIAL;
        self.st = State::INITIAL;
        self.literal.reset(NUM_LITERAL_SYMS, &mut self.scratch);
        self.length.reset(NUM_LENGTH_SYMS, &mut self.scratch);
        self.offset.reset(num_offset_slots(n), &mut self.scratch);
        self.power.reset(NUM_POWER_SYMS, &mut self.scratch);
        self.delta_offset
            .reset(num_offset_slots(n), &mut self.scratch);
    }

    /// Number of code rebuilds so far (the cost model changes with them).
    fn generation(&self) -> u64 {
        self.literal.builds
            + self.length.builds
            + self.offset.builds
            + self.power.builds
            + self.delta_offset.builds
    }

    /// Bytes written so far (both streams, roughly).
    fn size(&self) -> usize {
        2 * (self.rc.words.len() + self.bits.words.len())
    }

    fn length(&mut self, len: usize) {
        let len = len as u32;
        let slot = slot_of(&LENGTH_SLOTS[..NUM_LENGTH_SYMS], len);
        self.length.encode(slot, &mut self.bits, &mut self.scratch);
        let s = LENGTH_SLOTS[slot];
        self.bits.put(len - s.base, s.extra);
    }

    /// Code one item of `len` bytes (1 for a literal, byte `lit`).
    fn item(&mut self, src: Src, len: usize, lit: u8) {
        let st = &mut self.st;
        let rc = &mut self.rc;
        let p = &mut self.probs;
        match src {
            Src::Literal => {
                rc.bit(&mut p.main, &mut st.main, false);
                self.literal
                    .encode(lit as usize, &mut self.bits, &mut self.scratch);
                st.prev = Prev::Literal;
            }
            Src::Lz(off) => {
                rc.bit(&mut p.main, &mut st.main, true);
                rc.bit(&mut p.is_delta, &mut st.is_delta, false);
                match st.lz_rep(off) {
                    Some(k) => {
                        rc.bit(&mut p.lz_is_rep, &mut st.lz, true);
                        rc.bit(&mut p.lz_rep[0], &mut st.lz_rep[0], k != 0);
                        if k != 0 {
                            rc.bit(&mut p.lz_rep[1], &mut st.lz_rep[1], k != 1);
                        }
                        take_recent(&mut st.recent, k, st.prev == Prev::Lz);
                    }
                    None => {
                        rc.bit(&mut p.lz_is_rep, &mut st.lz, false);
                        let slot = slot_of(&OFFSET_SLOTS[..self.offset.num_syms], off);
                        self.offset.encode(slot, &mut self.bits, &mut self.scratch);
                        let s = OFFSET_SLOTS[slot];
                        self.bits.put(off - s.base, s.extra);
                        st.recent = [off, st.recent[0], st.recent[1], st.recent[2]];
                    }
                }
                st.prev = Prev::Lz;
                self.length(len);
            }
            Src::Delta(power, raw) => {
                rc.bit(&mut p.main, &mut st.main, true);
                rc.bit(&mut p.is_delta, &mut st.is_delta, true);
                match st.delta_rep((power, raw)) {
                    Some(k) => {
                        rc.bit(&mut p.delta_is_rep, &mut st.delta, true);
                        rc.bit(&mut p.delta_rep[0], &mut st.delta_rep[0], k != 0);
                        if k != 0 {
                            rc.bit(&mut p.delta_rep[1], &mut st.delta_rep[1], k != 1);
                        }
                        take_recent(&mut st.recent_delta, k, st.prev == Prev::Delta);
                    }
                    None => {
                        rc.bit(&mut p.delta_is_rep, &mut st.delta, false);
                        self.power
                            .encode(power as usize, &mut self.bits, &mut self.scratch);
                        let slot = slot_of(&OFFSET_SLOTS[..self.delta_offset.num_syms], raw);
                        self.delta_offset
                            .encode(slot, &mut self.bits, &mut self.scratch);
                        let s = OFFSET_SLOTS[slot];
                        self.bits.put(raw - s.base, s.extra);
                        let q = st.recent_delta;
                        st.recent_delta = [(power, raw), q[0], q[1], q[2]];
                    }
                }
                st.prev = Prev::Delta;
                self.length(len);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Cost model
// ---------------------------------------------------------------------------

/// Cost unit: 1/64 bit.
const COST_BITS: u32 = 6;
const INF: u32 = u32::MAX;

/// Lengths whose cost is tabulated (longer ones are computed).
const FAST_LENGTHS: usize = 512;

/// Estimated costs in 1/64 bit from the adaptive state: the codeword
/// lengths of the last rebuild of each Huffman code and, per state, the
/// current probabilities of the range-coded decisions.
struct Costs {
    /// `-log2(p / 64)` for p = 0..=64 (index 0 unused).
    bit: [u32; 65],
    literal: [u32; 256],
    length: Vec<u32>,
    offset_slot: Vec<u32>,
    delta_slot: Vec<u32>,
    power: [u32; NUM_POWER_SYMS],
    generation: u64,
}

impl Costs {
    fn new() -> Self {
        let mut bit = [0u32; 65];
        for (p, c) in bit.iter_mut().enumerate().skip(1) {
            *c = (-(p as f64 / 64.0).log2() * (1 << COST_BITS) as f64).round() as u32;
        }
        Costs {
            bit,
            literal: [0; 256],
            length: vec![0; FAST_LENGTHS],
            offset_slot: vec![0; MAX_OFFSET_SYMS],
            delta_slot: vec![0; MAX_OFFSET_SYMS],
            power: [0; NUM_POWER_SYMS],
            generation: u64::MAX,
        }
    }

    fn refresh(&mut self, c: &Coder) {
        let g = c.generation();
        if g == self.generation {
            return;
        }
        self.generation = g;
        for (s, v) in self.literal.iter_mut().enumerate() {
            *v = (c.literal.lens[s] as u32) << COST_BITS;
        }
        let mut slot = 0usize;
        for (len, v) in self.length.iter_mut().enumerate().skip(1) {
            while slot + 1 < NUM_LENGTH_SYMS && LENGTH_SLOTS[slot + 1].base <= len as u32 {
                slot += 1;
            }
            *v = (c.length.lens[slot] as u32 + LENGTH_SLOTS[slot].extra) << COST_BITS;
        }
        let slots = OFFSET_SLOTS.iter();
        for ((v, &l), s) in self
            .offset_slot
            .iter_mut()
            .zip(&c.offset.lens[..c.offset.num_syms])
            .zip(slots.clone())
        {
            *v = (l as u32 + s.extra) << COST_BITS;
        }
        let dl = &c.delta_offset.lens[..c.delta_offset.num_syms];
        for ((v, &l), s) in self.delta_slot.iter_mut().zip(dl).zip(slots) {
            *v = (l as u32 + s.extra) << COST_BITS;
        }
        for (s, v) in self.power.iter_mut().enumerate() {
            *v = (c.power.lens[s] as u32) << COST_BITS;
        }
    }

    #[inline(always)]
    fn bit<const N: usize>(&self, probs: &[Prob; N], state: usize, bit: bool) -> u32 {
        let p = prob_zero(probs[state & (N - 1)].zeros) as usize;
        self.bit[if bit { 64 - p } else { p }]
    }
}

// ---------------------------------------------------------------------------
// The compressor
// ---------------------------------------------------------------------------

/// Positions per parsing block (the cost model is frozen within one).
const BLOCK: usize = 2048;

/// One position of the parsing graph: the cheapest known way to reach it
/// (the last item's source and length) and, once final, the state there.
#[derive(Clone, Copy)]
struct Node {
    cost: u32,
    len: u32,
    src: Src,
    st: State,
}

/// Reusable LZMS compressor for chunks up to a fixed size. Memory: about
/// 5 bytes per byte of the largest chunk (a copy for the x86 filter and
/// the hash-chain links) plus up to 32 MiB of hash heads and 512 KiB for
/// the delta matches' table.
pub struct LzmsCompressor {
    params: Params,
    max_chunk: usize,
    delta_matches: bool,
    buf: Vec<u8>,
    x86: X86Encoder,
    chains: Chains,
    deltas: DeltaFinder,
    coder: Coder,
    costs: Box<Costs>,
    nodes: Vec<Node>,
    matches: Vec<(usize, u32)>,
    delta_cands: Vec<(u32, u32, usize)>,
    path: Vec<(Src, usize)>,
}

impl LzmsCompressor {
    /// A compressor for chunks of at most `max_chunk` bytes (1 byte to
    /// 1 GiB); tables grow with the chunks actually seen.
    pub fn new(max_chunk: usize, level: Level) -> Result<Self, BadChunkSize> {
        if max_chunk == 0 || max_chunk > MAX_CHUNK_SIZE {
            return Err(BadChunkSize(max_chunk));
        }
        let params = level.params();
        Ok(LzmsCompressor {
            params,
            max_chunk,
            delta_matches: true,
            buf: Vec::new(),
            x86: X86Encoder::new(),
            chains: Chains::new(),
            deltas: DeltaFinder::new(),
            coder: Coder::new(),
            costs: Box::new(Costs::new()),
            nodes: Vec::new(),
            matches: Vec::new(),
            delta_cands: Vec::new(),
            path: Vec::new(),
        })
    }

    /// Whether delta matches are searched for (default: yes). Turning
    /// them off is for measuring what they gain.
    pub fn set_delta_matches(&mut self, on: bool) {
        self.delta_matches = on;
    }

    fn insert_upto(&mut self, inserted: &mut usize, upto: usize) {
        let n = self.buf.len();
        let end = upto.min(n.saturating_sub(3));
        while *inserted < end {
            self.chains.insert(&self.buf, *inserted);
            *inserted += 1;
        }
        *inserted = (*inserted).max(upto.min(n));
    }

    /// Explicit-offset LZ matches at `i` into `self.matches`, lengths
    /// increasing (each the longest so far, at its nearest offset), with
    /// the last one extended in full.
    fn find_matches(&mut self, i: usize) {
        self.matches.clear();
        let d = &self.buf[..];
        let remaining = d.len() - i;
        if remaining < 4 {
            return;
        }
        let nice = self.params.nice.min(remaining);
        let mut cand = self.chains.head[self.chains.hash(d, i)];
        let mut left = self.params.depth;
        let mut longest = 3usize;
        while cand != NONE && left > 0 {
            let p = cand as usize;
            if p >= i {
                break;
            }
            left -= 1;
            if d[p + longest.min(remaining - 1)] == d[i + longest.min(remaining - 1)] {
                let len = match_len(d, p, i, remaining);
                if len > longest {
                    longest = len;
                    self.matches.push((len, (i - p) as u32));
                    if len >= nice {
                        return;
                    }
                }
            }
            cand = self.chains.prev[p];
        }
        if remaining >= LONG_LEN {
            let p = self.chains.long_head[self.chains.long_hash(d, i)];
            if p != NONE && (p as usize) < i {
                let p = p as usize;
                let len = match_len(d, p, i, remaining);
                if len > longest {
                    self.matches.push((len, (i - p) as u32));
                }
            }
        }
    }

    /// Code the cheapest path from node 0 (at chunk position `start`) to
    /// node `j`.
    fn flush(&mut self, start: usize, j: usize) {
        self.path.clear();
        let mut k = j;
        while k > 0 {
            let nd = &self.nodes[k];
            self.path.push((nd.src, nd.len as usize));
            k -= nd.len as usize;
        }
        let mut pos = start;
        for &(src, len) in self.path.iter().rev() {
            self.coder.item(src, len, self.buf[pos]);
            pos += len;
        }
    }

    /// Parse from `start` to the end of one block, code it, and return
    /// the position reached.
    fn parse_block(&mut self, start: usize, inserted: &mut usize, delta_done: &mut usize) -> usize {
        let n = self.buf.len();
        let nice = self.params.nice;
        self.costs.refresh(&self.coder);
        if self.nodes.len() < BLOCK + nice + 2 {
            self.nodes.resize(
                BLOCK + nice + 2,
                Node {
                    cost: INF,
                    len: 0,
                    src: Src::Literal,
                    st: State::INITIAL,
                },
            );
        }
        self.nodes[0].cost = 0;
        self.nodes[0].st = self.coder.st;
        let mut end = 0usize;
        let mut j = 0usize;
        loop {
            let pos = start + j;
            if j > 0 {
                // Node j is final: derive its state from its best item.
                let nd = self.nodes[j];
                let mut st = self.nodes[j - nd.len as usize].st;
                st.advance(nd.src);
                self.nodes[j].st = st;
                if pos == n || j >= BLOCK || j == end {
                    self.flush(start, j);
                    return pos;
                }
            }
            self.insert_upto(inserted, pos);
            // Delta finder: catch up over skipped positions, then search.
            if self.delta_matches {
                while *delta_done < pos {
                    self.deltas.update(&self.buf, *delta_done, 0, None);
                    *delta_done += 1;
                }
                self.delta_cands.clear();
                self.deltas
                    .update(&self.buf, pos, n - pos, Some(&mut self.delta_cands));
                *delta_done = pos + 1;
            }
            let remaining = n - pos;
            let st = self.nodes[j].st;
            let cur = self.nodes[j].cost;
            let c = &self.costs;
            let co = &self.coder;
            let pr = &co.probs;
            let d = &self.buf[..];

            let relax_to =
                |nodes: &mut Vec<Node>, end: &mut usize, l: usize, cost: u32, src: Src| {
                    while *end < j + l {
                        *end += 1;
                        nodes[*end].cost = INF;
                    }
                    let t = &mut nodes[j + l];
                    if cost < t.cost {
                        t.cost = cost;
                        t.len = l as u32;
                        t.src = src;
                    }
                };

            // Repeat LZ matches.
            if remaining >= 2 {
                let skip = (st.prev == Prev::Lz) as usize;
                let head = cur
                    + c.bit(&pr.main, st.main, true)
                    + c.bit(&pr.is_delta, st.is_delta, false)
                    + c.bit(&pr.lz_is_rep, st.lz, true);
                for k in 0..3 {
                    let off = st.recent[k + skip];
                    if off as usize > pos {
                        continue;
                    }
                    let o = off as usize;
                    if d[pos] != d[pos - o] || d[pos + 1] != d[pos + 1 - o] {
                        continue;
                    }
                    // An earlier queue entry with the same offset wins.
                    if (0..k).any(|m| st.recent[m + skip] == off) {
                        continue;
                    }
                    let len = match_len(d, pos - o, pos, remaining);
                    if len >= nice {
                        self.flush(start, j);
                        self.coder.item(Src::Lz(off), len, 0);
                        return pos + len;
                    }
                    let mut base = head + c.bit(&pr.lz_rep[0], st.lz_rep[0], k != 0);
                    if k != 0 {
                        base += c.bit(&pr.lz_rep[1], st.lz_rep[1], k != 1);
                    }
                    for l in 2..=len {
                        relax_to(
                            &mut self.nodes,
                            &mut end,
                            l,
                            base + c.length[l],
                            Src::Lz(off),
                        );
                    }
                }
            }

            // Repeat delta matches.
            if self.delta_matches && remaining >= 2 {
                let skip = (st.prev == Prev::Delta) as usize;
                let head = cur
                    + c.bit(&pr.main, st.main, true)
                    + c.bit(&pr.is_delta, st.is_delta, true)
                    + c.bit(&pr.delta_is_rep, st.delta, true);
                for k in 0..3 {
                    let (power, raw) = st.recent_delta[k + skip];
                    let span = 1usize << power;
                    let off = (raw as usize) << power;
                    if off + span > pos || (0..k).any(|m| st.recent_delta[m + skip] == (power, raw))
                    {
                        continue;
                    }
                    let len = delta_len(d, pos - off, pos, span, remaining);
                    if len < 2 {
                        continue;
                    }
                    if len >= nice {
                        self.flush(start, j);
                        self.coder.item(Src::Delta(power, raw), len, 0);
                        return pos + len;
                    }
                    let mut base = head + c.bit(&pr.delta_rep[0], st.delta_rep[0], k != 0);
                    if k != 0 {
                        base += c.bit(&pr.delta_rep[1], st.delta_rep[1], k != 1);
                    }
                    for l in 2..=len {
                        relax_to(
                            &mut self.nodes,
                            &mut end,
                            l,
                            base + c.length[l],
                            Src::Delta(power, raw),
                        );
                    }
                }
            }

            // Explicit LZ matches.
            self.find_matches(pos);
            let d = &self.buf[..];
            let c = &self.costs;
            let co = &self.coder;
            let pr = &co.probs;
            if let Some(&(best, off)) = self.matches.last() {
                if best >= nice {
                    self.flush(start, j);
                    self.coder.item(Src::Lz(off), best, 0);
                    return pos + best;
                }
                let head = cur
                    + c.bit(&pr.main, st.main, true)
                    + c.bit(&pr.is_delta, st.is_delta, false)
                    + c.bit(&pr.lz_is_rep, st.lz, false);
                let mut l = 2usize;
                for &(len, off) in &self.matches {
                    let slot = slot_of(&OFFSET_SLOTS[..co.offset.num_syms], off);
                    let base = head + c.offset_slot[slot];
                    while l <= len {
                        relax_to(
                            &mut self.nodes,
                            &mut end,
                            l,
                            base + c.length[l],
                            Src::Lz(off),
                        );
                        l += 1;
                    }
                }
            }

            // Explicit delta matches.
            if self.delta_matches && !self.delta_cands.is_empty() {
                let head = cur
                    + c.bit(&pr.main, st.main, true)
                    + c.bit(&pr.is_delta, st.is_delta, true)
                    + c.bit(&pr.delta_is_rep, st.delta, false);
                for idx in 0..self.delta_cands.len() {
                    let (power, raw, len) = self.delta_cands[idx];
                    if len >= nice {
                        self.flush(start, j);
                        self.coder.item(Src::Delta(power, raw), len, 0);
                        return pos + len;
                    }
                    let slot = slot_of(&OFFSET_SLOTS[..co.delta_offset.num_syms], raw);
                    let base = head + c.power[power as usize] + c.delta_slot[slot];
                    for l in DELTA_MIN..=len {
                        relax_to(
                            &mut self.nodes,
                            &mut end,
                            l,
                            base + c.length[l],
                            Src::Delta(power, raw),
                        );
                    }
                }
            }

            // Literal.
            let lit = cur + c.bit(&pr.main, st.main, false) + c.literal[d[pos] as usize];
            relax_to(&mut self.nodes, &mut end, 1, lit, Src::Literal);
            j += 1;
        }
    }

    /// Parse and code the filtered chunk in `buf`. `false` if the output
    /// grew past the chunk size (store it raw).
    fn encode(&mut self) -> bool {
        let n = self.buf.len();
        self.coder.reset(n);
        self.chains.reset(n);
        if self.delta_matches {
            self.deltas.reset();
        }
        self.costs.generation = u64::MAX;
        let mut inserted = 0usize;
        let mut delta_done = 0usize;
        let mut pos = 0usize;
        let mut next_check = 1usize << 15;
        while pos < n {
            if pos >= next_check {
                if self.coder.size() >= n {
                    return false;
                }
                next_check = pos + (1 << 15);
            }
            pos = self.parse_block(pos, &mut inserted, &mut delta_done);
        }
        true
    }
}

impl Compressor for LzmsCompressor {
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        out.clear();
        let n = input.len();
        if n == 0 || n > self.max_chunk {
            return None;
        }
        self.buf.clear();
        self.buf.extend_from_slice(input);
        self.x86.apply(&mut self.buf);
        if !self.encode() {
            return None;
        }
        let c = &mut self.coder;
        c.rc.finish();
        c.bits.finish();
        // 7-Zip refuses chunks under 8 bytes: pad the forward stream
        // with zero words (never read by any decoder).
        let pad = 4usize.saturating_sub(c.rc.words.len() + c.bits.words.len());
        let len = 2 * (c.rc.words.len() + c.bits.words.len() + pad);
        if len >= n {
            return None;
        }
        out.reserve(len);
        for w in &c.rc.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.resize(out.len() + 2 * pad, 0);
        for w in c.bits.words.iter().rev() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        Some(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::lzms::LzmsDecompressor;
    use crate::codec::Decompressor;

    fn round_trip(data: &[u8], level: Level) -> Option<usize> {
        let mut c = LzmsCompressor::new(data.len().max(1), level).unwrap();
        let mut out = Vec::new();
        let r = c.compress(data, &mut out);
        if let Some(len) = r {
            let mut d = LzmsDecompressor::new(data.len()).unwrap();
            let mut back = vec![0u8; data.len()];
            d.decompress(&out[..len], &mut back).unwrap();
            assert!(back == data, "round trip differs");
        }
        r
    }

    #[test]
    fn bit_costs_are_sane() {
        let c = Costs::new();
        assert_eq!(c.bit[64], 0);
        assert_eq!(c.bit[32], 64);
        assert_eq!(c.bit[1], 384);
    }

    #[test]
    fn small_inputs_round_trip() {
        for n in [1usize, 2, 3, 17, 18, 40, 100, 1000] {
            let data: Vec<u8> = (0..n).map(|i| (i % 7) as u8).collect();
            for level in [Level::Fast, Level::Thorough] {
                round_trip(&data, level);
            }
        }
    }

    #[test]
    fn repetitive_data_shrinks_and_round_trips() {
        let mut data = Vec::new();
        for i in 0..20_000u32 {
            data.extend_from_slice(format!("line {} of {}\n", i % 97, i % 13).as_bytes());
        }
        let len = round_trip(&data, Level::Fast).unwrap();
        assert!(len < data.len() / 4, "{len}");
        let len2 = round_trip(&data, Level::Thorough).unwrap();
        assert!(len2 <= len + len / 50, "{len2} vs {len}");
    }

    #[test]
    fn x86_like_data_round_trips() {
        let mut seed = 7u32;
        let mut data = Vec::new();
        while data.len() < 200_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            match seed >> 29 {
                0 => data.extend_from_slice(&[0xE8, (seed >> 8) as u8, (seed >> 16) as u8, 0, 0]),
                1 => data.extend_from_slice(&[0x48, 0x8D, 0x05, (seed >> 8) as u8, 1, 0, 0]),
                2 => data.extend_from_slice(&[0xFF, 0x15, (seed >> 12) as u8, 2, 0, 0]),
                3 => data.extend_from_slice(&[0xE9, 1, 2, 3, 4]),
                4 => data.extend_from_slice(&[0xF0, 0x83, 0x05, 9, 9, 0, 0, 1]),
                _ => data.push((seed >> 20) as u8 & 0x0f),
            }
        }
        round_trip(&data, Level::Fast).unwrap();
        round_trip(&data, Level::Thorough).unwrap();
    }
}
