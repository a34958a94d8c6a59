//! LZMS chunk decompressor.
//!
//! LZMS is Microsoft's "recovery" compression for WIM version 0xE00 archives
//! and ESD files, used both for ordinary per-blob chunk tables and for solid
//! resources with chunks of 64 MiB or more. There is no official
//! specification; the format as implemented here follows the description in
//! the header comment of wimlib's `src/lzms_decompress.c` and the constants in
//! `include/wimlib/lzms_constants.h` (see also `shared/research/wim.md`).
//! The code is an independent implementation.
//!
//! A compressed chunk is an even number of bytes holding two streams that
//! grow towards each other:
//!
//! * a **forward** stream of little-endian 16-bit words from the start, read by
//!   a binary range decoder ([`RangeDecoder`]) whose adaptive probabilities
//!   ([`Prob`]) say whether the next item is a literal or a match, which kind
//!   of match, and which recent offset a repeat match reuses;
//! * a **backward** stream of little-endian 16-bit words from the end, read
//!   most significant bit first ([`BitReader`]), holding the Huffman-coded
//!   literals, length slots, offset slots, delta powers and verbatim extra
//!   bits. The five Huffman codes are adaptive: they start with every symbol
//!   at frequency 1 and are rebuilt from the running frequencies every 512 or
//!   1024 decoded symbols ([`AdaptiveCode`]).
//!
//! Items are literals, LZ matches (copy `length` bytes from `offset` back) and
//! delta matches (each byte is predicted from bytes `span` and `offset` back,
//! `out[i] = out[i-o] + out[i-s] - out[i-o-s]`). Repeat matches take their
//! source from small LRU queues whose update is delayed by one item.
//! Finally an x86 filter turns the absolute call/jump/RIP-relative targets
//! the compressor wrote back into relative ones ([`X86Filter`]).

use super::{DecodeError, Decompressor};

/// Largest chunk the format can describe (`LZMS_MAX_BUFFER_SIZE`).
pub(crate) const MAX_CHUNK_SIZE: usize = 1 << 30;

pub(crate) const NUM_LITERAL_SYMS: usize = 256;
pub(crate) const NUM_LENGTH_SYMS: usize = 54;
pub(crate) const NUM_POWER_SYMS: usize = 8;
pub(crate) const MAX_OFFSET_SYMS: usize = 799;

/// Codewords never exceed this many bits.
const MAX_CODEWORD_LEN: usize = 15;

/// Number of recently coded bits kept per probability entry; also the
/// implied denominator of every probability.
pub(crate) const PROB_BITS: u32 = 6;

/// Probability-entry counts per decision class (a power of two each; the
/// low bits of the decision history select the entry).
const MAIN_STATES: usize = 16;
const MATCH_STATES: usize = 32;
const LZ_STATES: usize = 64;
const DELTA_STATES: usize = 64;
const REP_STATES: usize = 64;

/// Run-length form of the offset-slot table: `(extra_bits, slot_count)`.
/// Slot bases start at 1 and each slot covers `1 << extra_bits` offsets, so
/// the bases follow from the extra-bit counts.
const OFFSET_SLOT_RUNS: [(u8, u16); 21] = [
    (0, 8),
    (2, 9),
    (3, 7),
    (4, 10),
    (5, 15),
    (6, 15),
    (7, 20),
    (8, 20),
    (9, 30),
    (10, 33),
    (11, 40),
    (12, 42),
    (13, 45),
    (14, 60),
    (15, 73),
    (16, 80),
    (17, 85),
    (18, 95),
    (19, 105),
    (20, 6),
    (30, 1),
];

/// Run-length form of the length-slot table, same convention as above.
const LENGTH_SLOT_RUNS: [(u8, u16); 13] = [
    (0, 26),
    (1, 4),
    (2, 6),
    (3, 4),
    (4, 5),
    (5, 2),
    (6, 1),
    (7, 1),
    (8, 1),
    (9, 1),
    (10, 1),
    (16, 1),
    (30, 1),
];

/// Slot table entry: the base value and number of verbatim extra bits.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) base: u32,
    pub(crate) extra: u32,
}

const fn expand_slots<const N: usize>(runs: &[(u8, u16)]) -> [Slot; N] {
    let mut out = [Slot { base: 0, extra: 0 }; N];
    let mut base: u32 = 1;
    let mut i = 0;
    let mut r = 0;
    while r < runs.len() {
        let (extra, count) = runs[r];
        let mut k = 0;
        while k < count {
            out[i] = Slot {
                base,
                extra: extra as u32,
            };
            base += 1 << extra;
            i += 1;
            k += 1;
        }
        r += 1;
    }
    assert!(i > 0 && i <= N);
    // Padding (the decoders mask symbols to a power of two, which needs no
    // bounds check): copies of the last real slot, so even a symbol that
    // cannot occur would decode as an ordinary one.
    let last = out[i - 1];
    while i < N {
        out[i] = last;
        i += 1;
    }
    out
}

/// Offset slots, padded to every value a decoded symbol can have
/// ([`SYM_SPACE`]), so the decoder indexes them without a check or mask.
const OFFSET_SLOTS_LEN: usize = SYM_SPACE;
pub(crate) static OFFSET_SLOTS: [Slot; OFFSET_SLOTS_LEN] = expand_slots(&OFFSET_SLOT_RUNS);
/// Length slots, padded the same way.
const LENGTH_SLOTS_LEN: usize = SYM_SPACE;
pub(crate) static LENGTH_SLOTS: [Slot; LENGTH_SLOTS_LEN] = expand_slots(&LENGTH_SLOT_RUNS);

/// Number of offset slots a chunk of `size` bytes uses: enough for every
/// offset up to `size - 1`.
pub(crate) fn num_offset_slots(size: usize) -> usize {
    if size < 2 {
        return 0;
    }
    let max_offset = (size - 1) as u32;
    // Slots are sorted by base; count those whose base is <= max_offset.
    OFFSET_SLOTS[..MAX_OFFSET_SYMS].partition_point(|s| s.base <= max_offset)
}

// ---------------------------------------------------------------------------
// Range decoder and adaptive probabilities
// ---------------------------------------------------------------------------

/// One adaptive probability ("Range decoding" in the format description):
/// the probability that the next bit is 0 is the number of zeros among the
/// last 64 bits coded with this entry, over 64, clamped to 1/64..63/64.
/// Initially the history is `0x0000000055555555` (48 zeros).
#[derive(Clone, Copy)]
pub(crate) struct Prob {
    pub(crate) zeros: u8,
    pub(crate) history: u64,
}

impl Prob {
    pub(crate) const INITIAL: Prob = Prob {
        zeros: 48,
        history: 0x0000_0000_5555_5555,
    };
}

/// All probability entries of one chunk, per decision class.
#[derive(Clone)]
pub(crate) struct Probs {
    pub(crate) main: [Prob; MAIN_STATES],
    pub(crate) is_delta: [Prob; MATCH_STATES],
    pub(crate) lz_is_rep: [Prob; LZ_STATES],
    pub(crate) delta_is_rep: [Prob; DELTA_STATES],
    pub(crate) lz_rep: [[Prob; REP_STATES]; 2],
    pub(crate) delta_rep: [[Prob; REP_STATES]; 2],
}

impl Probs {
    pub(crate) const INITIAL: Probs = Probs {
        main: [Prob::INITIAL; MAIN_STATES],
        is_delta: [Prob::INITIAL; MATCH_STATES],
        lz_is_rep: [Prob::INITIAL; LZ_STATES],
        delta_is_rep: [Prob::INITIAL; DELTA_STATES],
        lz_rep: [[Prob::INITIAL; REP_STATES]; 2],
        delta_rep: [[Prob::INITIAL; REP_STATES]; 2],
    };
}

/// The decoder's form of `N` adaptive probabilities of one decision
/// class: the same [`Prob`] entries, stored as two parallel arrays so that
/// an entry's fields are addressed straight from the table base and the
/// state (one scaled index each), with no per-entry address arithmetic in
/// the hot loop.
#[derive(Clone)]
struct ProbArray<const N: usize> {
    history: [u64; N],
    zeros: [u8; N],
}

impl<const N: usize> ProbArray<N> {
    const INITIAL: Self = ProbArray {
        history: [Prob::INITIAL.history; N],
        zeros: [Prob::INITIAL.zeros; N],
    };
}

/// All probability entries of one chunk, per decision class (decoder form
/// of [`Probs`]).
#[derive(Clone)]
struct DecProbs {
    main: ProbArray<MAIN_STATES>,
    is_delta: ProbArray<MATCH_STATES>,
    lz_is_rep: ProbArray<LZ_STATES>,
    delta_is_rep: ProbArray<DELTA_STATES>,
    lz_rep: [ProbArray<REP_STATES>; 2],
    delta_rep: [ProbArray<REP_STATES>; 2],
    /// A copy of [`PROB_CLAMP`] next to the entries: addressed from the
    /// same base register, it needs no address of its own in the loop.
    clamp: [u8; 256],
}

impl DecProbs {
    const INITIAL: DecProbs = DecProbs {
        main: ProbArray::INITIAL,
        is_delta: ProbArray::INITIAL,
        lz_is_rep: ProbArray::INITIAL,
        delta_is_rep: ProbArray::INITIAL,
        lz_rep: [ProbArray::INITIAL, ProbArray::INITIAL],
        delta_rep: [ProbArray::INITIAL, ProbArray::INITIAL],
        clamp: PROB_CLAMP,
    };
}

/// Binary range decoder over the forward stream of 16-bit little-endian
/// words. The range is kept above 0xffff; past the end of the input it
/// shifts in zeros (a corrupt chunk then just decodes to garbage and is
/// caught by the caller's hash check, but can never read out of bounds).
struct RangeDecoder<'a> {
    input: &'a [u8],
    /// `input.len()`, kept in memory and read with a volatile load where
    /// needed (only when normalising), so that the item loop need not hold
    /// it in a register.
    input_len: &'a usize,
    pos: usize,
    range: u32,
    code: u32,
}

impl<'a> RangeDecoder<'a> {
    /// `input.len() >= 4` is checked by the caller; `*input_len` must be
    /// `input.len()`.
    fn new(input: &'a [u8], input_len: &'a usize) -> Self {
        assert_eq!(*input_len, input.len());
        let w = |i: usize| u16::from_le_bytes([input[i], input[i + 1]]) as u32;
        RangeDecoder {
            input,
            input_len,
            pos: 4,
            range: u32::MAX,
            code: (w(0) << 16) | w(2),
        }
    }

    /// Decode one bit with the entry selected by `state` (the decision
    /// history of its class), then update entry and state.
    #[inline(always)]
    fn bit<const N: usize>(
        &mut self,
        probs: &mut ProbArray<N>,
        clamp: &[u8; 256],
        state: &mut usize,
    ) -> bool {
        if self.range <= 0xffff {
            self.range <<= 16;
            let mut next = 0;
            // `pos` is even and `input.len()` is even (checked by the
            // caller), so `pos < len` means `pos + 1 < len`.
            // SAFETY: a plain read of a `usize` we borrow.
            if self.pos < unsafe { std::ptr::read_volatile(self.input_len) } {
                debug_assert!(self.pos + 2 <= self.input.len());
                // SAFETY: pos + 2 <= input.len(), see above.
                let w = unsafe { self.input.as_ptr().add(self.pos).cast::<[u8; 2]>().read() };
                next = u16::from_le_bytes(w) as u32;
                self.pos += 2;
            }
            self.code = (self.code << 16) | next;
        }
        // range >= 0x10000 here, so bound is in [range/64, range*63/64] and
        // neither the range nor the code can underflow below.
        let s = *state & (N - 1);
        let zeros = &mut probs.zeros[s];
        let history = &mut probs.history[s];
        let bound = (self.range >> PROB_BITS) * clamp[*zeros as usize] as u32;
        // The oldest bit leaves the 64-bit window as the new one enters;
        // `zeros` always equals the number of 0 bits in `history`.
        let (shifted, oldest) = history.overflowing_add(*history);
        let oldest = oldest as u8;
        // A plain branch: every caller branches on the result right away,
        // so with each arm specialised for its constant bit the compiler
        // merges the two branches and the updates get simpler.
        if self.code < bound {
            self.range = bound;
            *zeros += oldest;
            *history = shifted;
            *state = s << 1;
            false
        } else {
            self.range -= bound;
            self.code -= bound;
            *zeros = *zeros + oldest - 1;
            *history = shifted | 1;
            *state = (s << 1) | 1;
            true
        }
    }
}

/// Probability actually used for a zero count of 0..=64: 0/64 and 64/64
/// are not allowed and become 1/64 and 63/64. Sized 128 so that indexing
/// with any `u8` needs no bounds check.
pub(crate) static PROB_CLAMP: [u8; 256] = {
    let mut t = [63u8; 256];
    let mut i = 0;
    while i < 64 {
        t[i] = if i == 0 { 1 } else { i as u8 };
        i += 1;
    }
    t
};

// ---------------------------------------------------------------------------
// Backward bitstream
// ---------------------------------------------------------------------------

/// Reader for the backward bitstream: 16-bit little-endian words taken from
/// the end of the chunk towards its start, each read high bit first.
///
/// `buf` holds the next `avail` bits left-aligned. Bits below those may hold
/// the following stream bits from an earlier wide load, or zeros; a refill
/// ORs in the same stream bits at the same place, so either way is fine.
/// Past the start of the input, zeros are supplied.
struct BitReader<'a> {
    input: &'a [u8],
    /// The next word to load is `input[pos - 2..pos]`.
    pos: usize,
    buf: u64,
    avail: u32,
}

impl<'a> BitReader<'a> {
    fn new(input: &'a [u8]) -> Self {
        BitReader {
            input,
            pos: input.len() & !1,
            buf: 0,
            avail: 0,
        }
    }

    /// Make at least 48 bits available (the caller checked `avail < n`, n <= 30).
    #[inline(always)]
    fn refill(&mut self) {
        if self.pos >= 8 {
            debug_assert!(self.pos <= self.input.len());
            // SAFETY: `pos` starts at most at `input.len()` and only ever
            // decreases, and `pos >= 8`, so `pos - 8 .. pos` is in bounds.
            let word = unsafe {
                self.input
                    .as_ptr()
                    .add(self.pos - 8)
                    .cast::<[u8; 8]>()
                    .read()
            };
            // Little-endian load: the word at pos-2 lands in the top 16
            // bits, which is exactly the order the bits are consumed in.
            self.buf |= u64::from_le_bytes(word) >> self.avail;
            // Whole words that fit below the `avail` bits, at most 3 (48
            // bits, plenty for the largest read of 30 bits).
            let words = (63 - self.avail) >> 4;
            self.pos -= 2 * words as usize;
            self.avail += 16 * words;
        } else {
            self.refill_slow();
        }
    }

    #[inline(always)]
    fn refill_slow(&mut self) {
        // By value, so the reader's state never has its address taken and
        // can stay in registers in the hot loop.
        (self.pos, self.buf, self.avail) = refill_slow(self.input, self.pos, self.buf, self.avail);
    }
}

/// Word-at-a-time refill near the start of the input (fewer than 8 bytes
/// left), supplying zeros once it is exhausted.
#[cold]
#[inline(never)]
fn refill_slow(input: &[u8], mut pos: usize, mut buf: u64, mut avail: u32) -> (usize, u64, u32) {
    while avail <= 48 {
        match input.get(pos.wrapping_sub(2)..pos) {
            Some(&[a, b]) if pos >= 2 => {
                pos -= 2;
                buf |= (u16::from_le_bytes([a, b]) as u64) << (48 - avail);
            }
            _ => {
                // Out of input: make sure the bits below the valid ones
                // are zero, then count 16 more (zero) bits.
                buf &= !(u64::MAX >> avail);
            }
        }
        avail += 16;
    }
    (pos, buf, avail)
}

impl BitReader<'_> {
    #[inline(always)]
    fn ensure(&mut self, n: u32) {
        if self.avail < n {
            self.refill();
        }
    }

    /// The next `n` bits (0..=32), without consuming them.
    #[inline(always)]
    fn peek(&self, n: u32) -> u32 {
        ((self.buf >> 1) >> (63 - n)) as u32
    }

    /// Drop `n` bits; `n <= avail` must hold (guaranteed by `ensure`).
    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.avail -= n;
    }

    /// Read `n` verbatim bits (0..=30).
    #[inline(always)]
    fn bits(&mut self, n: u32) -> u32 {
        self.ensure(n);
        let v = self.peek(n);
        self.consume(n);
        v
    }
}

// ---------------------------------------------------------------------------
// Adaptive Huffman codes
// ---------------------------------------------------------------------------

/// One adaptive Huffman code ("Huffman codes" in the format description).
///
/// `N` is the maximum number of symbols and `T` the size of the root decode
/// table (a power of two, `T = 1 << table_bits`). Table entries are
/// `symbol << 4 | length`; codewords longer than the table bits have entry 0
/// and are resolved by a canonical-code walk ([`AdaptiveCode::decode_long`]).
#[derive(Clone)]
struct AdaptiveCode<const N: usize, const T: usize> {
    code: DecodeTables<N, T>,
    /// Running symbol frequencies. Sized for every value a decoded symbol
    /// can have by construction (12 bits: table entries are `u16` with 4
    /// length bits), so that indexing needs neither a bounds check nor a
    /// mask; only `..num_syms` is used (decoded symbols are always real).
    freqs: [u32; SYM_SPACE],
    num_syms: usize,
    /// The tables for all-ones frequencies (the state at the start of every
    /// chunk) and the symbol count they were built for, so that a chunk
    /// start is a copy instead of a build.
    initial: Option<(usize, Box<DecodeTables<N, T>>)>,
    until_rebuild: u32,
    rebuild_freq: u32,
}

/// Number of distinct values of a decoded symbol (see `AdaptiveCode::freqs`).
const SYM_SPACE: usize = 1 << 12;
const _: () = assert!(MAX_OFFSET_SYMS <= SYM_SPACE);

/// Shared work space for rebuilding any of the codes.
type Scratch = BuildScratch<MAX_OFFSET_SYMS>;

/// What decoding with a built code needs.
#[derive(Clone)]
struct DecodeTables<const N: usize, const T: usize> {
    table: [u16; T],
    /// Symbols sorted by (codeword length, symbol): canonical order.
    sorted: [u16; N],
    /// Per codeword length: first canonical codeword, number of codewords,
    /// and index of the first such symbol in `sorted`.
    first_code: [u32; MAX_CODEWORD_LEN + 1],
    count: [u32; MAX_CODEWORD_LEN + 1],
    first_index: [u32; MAX_CODEWORD_LEN + 1],
}

/// Length of the tree-building arrays of [`BuildScratch`].
const TREE_LEN: usize = 1024;
const TREE_MASK: usize = TREE_LEN - 1;
const _: () = assert!(MAX_OFFSET_SYMS < TREE_LEN);

/// Work space for [`build_lengths`], one per decompressor and shared by
/// its codes, so rebuilding never has to zero fresh arrays.
#[derive(Clone)]
pub(crate) struct BuildScratch<const N: usize> {
    pub(crate) lens: [u8; TREE_LEN],
    pub(crate) keys: [u32; TREE_LEN],
    /// Tree-building arrays, a power of two long (at least `N + 1`) so
    /// that masked indices need no bounds checks: leaf weights in sorted
    /// order plus a sentinel, internal node weights, parents and depths.
    pub(crate) leaf_w: [u32; TREE_LEN],
    pub(crate) node_freq: [u32; TREE_LEN],
    pub(crate) parent: [u16; TREE_LEN],
    pub(crate) depth: [u8; TREE_LEN],
    pub(crate) bucket: [u16; TREE_LEN],
    /// Number of codewords of each length (index 1..=15) from the last
    /// [`build_lengths`] with at least two symbols.
    pub(crate) len_count: [u32; MAX_CODEWORD_LEN + 1],
}

impl<const N: usize> BuildScratch<N> {
    /// Zeroed work space.
    pub(crate) fn new() -> Self {
        BuildScratch {
            lens: [0; TREE_LEN],
            keys: [0; TREE_LEN],
            leaf_w: [0; TREE_LEN],
            node_freq: [0; TREE_LEN],
            parent: [0; TREE_LEN],
            depth: [0; TREE_LEN],
            bucket: [0; TREE_LEN],
            len_count: [0; MAX_CODEWORD_LEN + 1],
        }
    }
}

impl<const N: usize, const T: usize> AdaptiveCode<N, T> {
    const TABLE_BITS: u32 = T.trailing_zeros();

    fn new(rebuild_freq: u32, scratch: &mut Scratch) -> Self {
        let mut c = AdaptiveCode {
            code: DecodeTables {
                table: [0; T],
                sorted: [0; N],
                first_code: [0; MAX_CODEWORD_LEN + 1],
                count: [0; MAX_CODEWORD_LEN + 1],
                first_index: [0; MAX_CODEWORD_LEN + 1],
            },
            freqs: [1; SYM_SPACE],
            num_syms: N,
            initial: None,
            until_rebuild: rebuild_freq,
            rebuild_freq,
        };
        c.reset(N, scratch);
        c
    }

    /// Start of a chunk: every symbol gets frequency 1, then build.
    fn reset(&mut self, num_syms: usize, scratch: &mut Scratch) {
        self.num_syms = num_syms.min(N);
        self.freqs[..self.num_syms].fill(1);
        match &self.initial {
            Some((n, tables)) if *n == self.num_syms => {
                self.code.clone_from(tables);
                self.until_rebuild = self.rebuild_freq;
            }
            _ => {
                self.build(scratch);
                self.initial = Some((self.num_syms, Box::new(self.code.clone())));
            }
        }
    }

    /// Build the code from the current frequencies.
    fn build(&mut self, scratch: &mut Scratch) {
        build_lengths(&self.freqs[..self.num_syms], scratch);
        self.build_table(&scratch.lens[..self.num_syms], &scratch.len_count);
        self.until_rebuild = self.rebuild_freq;
    }

    /// Periodic rebuild: build from the frequencies, then halve them.
    #[cold]
    #[inline(never)]
    fn rebuild(&mut self, scratch: &mut Scratch) {
        self.build(scratch);
        for f in &mut self.freqs[..self.num_syms] {
            *f = (*f >> 1) + 1;
        }
    }

    /// Fill the root table and the canonical-walk tables from the codeword
    /// lengths of the `num_syms` symbols.
    fn build_table(&mut self, lens: &[u8], count: &[u32; MAX_CODEWORD_LEN + 1]) {
        let tb = Self::TABLE_BITS as usize;
        let n = lens.len();
        if n < 2 {
            // Zero or one symbol: the compressor's codeword for symbol 0 is
            // the single bit 0. Decode everything as symbol 0, length 1.
            self.code.table.fill(1);
            self.code.count = [0; MAX_CODEWORD_LEN + 1];
            return;
        }
        let count = *count;
        let mut next_index = [0u32; 32];
        for l in 1..=MAX_CODEWORD_LEN {
            next_index[l + 1] = next_index[l] + count[l];
        }
        self.code.first_index = [0; MAX_CODEWORD_LEN + 1];
        self.code.first_index[1..].copy_from_slice(&next_index[1..=MAX_CODEWORD_LEN]);
        for (sym, &l) in lens.iter().enumerate() {
            let slot = &mut next_index[l as usize & 31];
            if let Some(s) = self.code.sorted.get_mut(*slot as usize) {
                *s = sym as u16;
            }
            *slot += 1;
        }
        // Canonical codewords: each length starts right after the previous
        // length's last codeword, shifted left by one.
        let mut code = 0u32;
        for (first, &c) in self.code.first_code.iter_mut().zip(&count).skip(1) {
            *first = code;
            code = (code + c) << 1;
        }
        self.code.count = count;

        // Root table: codes of length <= tb fill contiguous ranges in
        // canonical order, starting at entry 0.
        // All codewords of one length cover equal, adjacent spans, so each
        // length is filled in one pass; spans of 4 or more entries are
        // written 4 entries (8 bytes) at a time.
        let mut at = 0usize;
        let mut idx = 0usize;
        for (l, &c) in count.iter().enumerate().take(tb + 1).skip(1) {
            let c = c as usize;
            let span = 1usize << (tb - l);
            // Always in bounds for the complete codes built above (the
            // spans add up to at most T); stop rather than trust that.
            let (Some(dst), Some(syms)) = (
                self.code.table.get_mut(at..at + c * span),
                self.code.sorted.get(idx..idx + c),
            ) else {
                break;
            };
            let len = l as u16;
            match span {
                1 => {
                    for (d, &s) in dst.iter_mut().zip(syms) {
                        *d = (s << 4) | len;
                    }
                }
                2 => {
                    for (d, &s) in dst.chunks_exact_mut(2).zip(syms) {
                        let v = (s << 4) | len;
                        d.copy_from_slice(&[v; 2]);
                    }
                }
                _ => {
                    for (d, &s) in dst.chunks_exact_mut(span).zip(syms) {
                        let v = (s << 4) | len;
                        for q in d.chunks_exact_mut(4) {
                            q.copy_from_slice(&[v; 4]);
                        }
                    }
                }
            }
            at += c * span;
            idx += c;
        }
        // The rest are prefixes of longer codewords.
        self.code.table[at..].fill(0);
    }

    /// Decode one symbol, count it, and rebuild when due.
    #[inline(always)]
    fn decode(&mut self, bits: &mut BitReader<'_>, scratch: &mut Scratch) -> usize {
        bits.ensure(MAX_CODEWORD_LEN as u32);
        let entry = self.code.table[bits.peek(Self::TABLE_BITS) as usize & (T - 1)];
        let (sym, len) = if entry & 15 != 0 {
            ((entry >> 4) as usize, (entry & 15) as u32)
        } else {
            self.decode_long(bits.peek(MAX_CODEWORD_LEN as u32))
        };
        bits.consume(len);
        // Always a real symbol (< num_syms); both paths above yield values
        // below SYM_SPACE, which spares the bounds check.
        self.freqs[sym] += 1;
        self.until_rebuild -= 1;
        if self.until_rebuild == 0 {
            self.rebuild(scratch);
        }
        sym
    }

    /// Slow path for codewords longer than the table bits: given the next
    /// 15 bits, return (symbol, codeword length).
    #[cold]
    #[inline(never)]
    fn decode_long(&self, window: u32) -> (usize, u32) {
        for l in (Self::TABLE_BITS as usize + 1)..=MAX_CODEWORD_LEN {
            let prefix = window >> (MAX_CODEWORD_LEN - l);
            let d = prefix.wrapping_sub(self.code.first_code[l]);
            if d < self.code.count[l] {
                let i = (self.code.first_index[l] + d) as usize;
                let sym = self.code.sorted.get(i).map_or(0, |&s| s as usize);
                return (sym & (SYM_SPACE - 1), l as u32);
            }
        }
        // Unreachable for the complete codes built above; stay defined.
        (0, 1)
    }
}

/// Compute Huffman codeword lengths for `freqs` (all >= 1, as LZMS keeps
/// them) exactly as the format requires: the classic two-queue construction
/// over leaves sorted by (frequency, symbol), frequency ties favouring leaves,
/// then lengths handed out longest-first in that same sorted order. A
/// length limit of 15 is applied defensively; the format guarantees it is
/// never hit ("Huffman codes" in the format description).
pub(crate) fn build_lengths<const N: usize>(freqs: &[u32], scratch: &mut BuildScratch<N>) {
    let n = freqs.len().min(N).min(TREE_LEN - 1);
    let BuildScratch {
        lens,
        keys,
        leaf_w,
        node_freq,
        parent,
        depth,
        bucket,
        len_count: len_count_out,
    } = scratch;
    if n < 2 {
        lens.fill(1);
        return;
    }
    // Leaves sorted by (freq, symbol) as packed keys freq << 10 | symbol.
    sort_by_freq(&freqs[..n], keys, bucket);
    let keys = &keys[..n];

    // Two-queue Huffman construction. `node_freq[e]` is the weight of
    // internal node e; `parent[e]` its parent. Leaves are consumed in
    // order from `leaf_w`, internal nodes in creation order; each new node
    // takes the two lightest of the queue heads, one at a time, a leaf
    // winning ties. Written without data-dependent branches (they are
    // unpredictable and rebuilds are frequent): the exhausted leaf queue
    // reads the sentinel u32::MAX, the node under construction reads
    // u32::MAX too, and `parent[b]` is written even when node b is not
    // taken, which is harmless because its real parent is written when it
    // is. At least two real items are left whenever a node is built, so a
    // sentinel is never taken: i <= n and b <= e hold throughout (the masks
    // only spare the bounds checks).
    for (w, &k) in leaf_w.iter_mut().zip(keys.iter()) {
        *w = k >> 10;
    }
    leaf_w[n & TREE_MASK] = u32::MAX;
    let (mut i, mut b) = (0usize, 0usize);
    for e in 0..n - 1 {
        node_freq[e & TREE_MASK] = u32::MAX;
        let mut w = 0u32;
        for _ in 0..2 {
            debug_assert!(i <= n && b <= e);
            // SAFETY: i <= n < TREE_LEN and b <= e < n - 1 < TREE_LEN.
            // Before node e is built, n - e >= 2 real items are queued
            // (each node takes two and adds one), so each pick finds a
            // real item: real weights are below u32::MAX (leaf weights are
            // below 2^22, see `sort_by_freq`, and at most 1023 of them add
            // up to less than 2^32 - 1), hence a real head beats a
            // sentinel. A leaf is taken only while i < n (leaf_w[n] is the
            // sentinel) and a node only while b < e (node_freq[e] is the
            // sentinel), so i <= n and b <= e hold after every pick.
            let (lf, nf) = unsafe { (*leaf_w.get_unchecked(i), *node_freq.get_unchecked(b)) };
            let take_leaf = lf <= nf;
            w = w.wrapping_add(if take_leaf { lf } else { nf });
            // SAFETY: b <= e < TREE_LEN, see above.
            unsafe { *parent.get_unchecked_mut(b) = e as u16 };
            i += take_leaf as usize;
            b += !take_leaf as usize;
        }
        node_freq[e & TREE_MASK] = w;
    }

    // Walk internal nodes from the root down, tracking how many leaves sit
    // at each depth: each internal node at depth d turns one would-be leaf at
    // depth d into two at depth d+1.
    let mut len_count = [0u32; MAX_CODEWORD_LEN + 2];
    let root = n - 2;
    depth[root & TREE_MASK] = 0;
    // First just the depths and how many internal nodes sit at each depth
    // (`internal[d]`). Without length limiting, the leaves at depth l are
    // the 2 * internal[l - 1] children of the nodes one level up minus the
    // internal[l] nodes among them; that is what the walk below yields
    // when no node is 15 or more deep, which is the case the format
    // guarantees. Otherwise the walk runs and limits the lengths.
    let mut internal = [0u32; 256];
    internal[0] = 1;
    for node in (0..root).rev() {
        let d = depth[parent[node & TREE_MASK] as usize & TREE_MASK].wrapping_add(1);
        depth[node & TREE_MASK] = d;
        internal[d as usize] += 1;
    }
    let shallow = internal[MAX_CODEWORD_LEN..].iter().all(|&c| c == 0);
    if shallow {
        for l in 1..=MAX_CODEWORD_LEN {
            len_count[l] = (2 * internal[l - 1]).saturating_sub(internal[l]);
        }
    } else {
        len_count[1] = 2;
    }
    for node in (0..if shallow { 0 } else { root }).rev() {
        // (Depths stay far below 255: with weights below 2^32 a tree is
        // less than 48 levels deep; wrapping could only give a wrong
        // length, never a panic.)
        let mut l = depth[node & TREE_MASK] as usize;
        if l >= MAX_CODEWORD_LEN {
            l = MAX_CODEWORD_LEN - 1;
            while l > 1 && len_count[l] == 0 {
                l -= 1;
            }
        }
        // The leaf being split always exists (the counts keep the code
        // complete), so this never saturates; it just cannot panic.
        len_count[l] = len_count[l].saturating_sub(1);
        len_count[l + 1] += 2;
    }

    // Longest codewords go to the least frequent symbols.
    let mut at = 0usize;
    for l in (1..=MAX_CODEWORD_LEN).rev() {
        let c = len_count[l] as usize;
        let Some(run) = keys.get(at..at + c) else {
            break;
        };
        for &k in run {
            lens[k as usize & TREE_MASK] = l as u8;
        }
        at += c;
    }
    len_count_out.copy_from_slice(&len_count[..=MAX_CODEWORD_LEN]);
}

/// Sort symbols by (frequency, symbol) into packed keys `freq << 10 | sym`.
/// A counting sort on the frequency handles the common small frequencies
/// (stable, so symbols stay in order); frequencies >= `n - 1` share the last
/// bucket, which is then sorted by key.
/// `1 <= freqs.len() < TREE_LEN`; the masks only spare bounds checks.
fn sort_by_freq(freqs: &[u32], keys: &mut [u32; TREE_LEN], start: &mut [u16; TREE_LEN]) {
    let n = freqs.len().min(TREE_LEN - 1);
    let top = n.saturating_sub(1);
    start[..n].fill(0);
    for &f in &freqs[..n] {
        start[(f as usize).min(top) & TREE_MASK] += 1;
    }
    let mut sum = 0u16;
    for s in start[..n].iter_mut() {
        let c = *s;
        *s = sum;
        sum = sum.wrapping_add(c);
    }
    let big_start = start[top & TREE_MASK] as usize;
    for (sym, &f) in freqs[..n].iter().enumerate() {
        let slot = &mut start[(f as usize).min(top) & TREE_MASK];
        keys[*slot as usize & TREE_MASK] = (f.min(0x3f_ffff) << 10) | sym as u32;
        *slot = slot.wrapping_add(1);
    }
    if let Some(big) = keys.get_mut(big_start..n) {
        big.sort_unstable();
    }
}

// ---------------------------------------------------------------------------
// x86 filter
// ---------------------------------------------------------------------------

/// Undo the x86 address translation ("x86 machine code translation" in the
/// format description; wimlib `lzms_x86_filter`).
///
/// The compressor scans for likely instructions with a 32-bit relative
/// operand (CALL `E8`, `FF 15` indirect call, `F0 83 05` lock add, and REX.W
/// `8D`/`8B` RIP-relative LEA/MOV) and, while the data looks like x86 code,
/// adds the instruction position to the operand. "Looks like code" means
/// that within the last 1023 bytes (511 for `E8`) some operand's low 16
/// target bits were seen before within a 65535-byte window.
///
/// `last_use[t]` records where target `t` was last seen. Instead of clearing
/// the 64 Ki-entry table for every chunk, positions are stored relative to a
/// running base that jumps by more than the window after each chunk, so old
/// entries always look far away; the table is cleared only when the base
/// would overflow.
struct X86Filter {
    last_use: Box<[u32]>,
    next_base: u32,
}

pub(crate) const X86_WINDOW: u32 = 65535;
pub(crate) const X86_MAX_TRANSLATION_OFFSET: i64 = 1023;

impl X86Filter {
    fn new() -> Self {
        X86Filter {
            last_use: vec![0u32; 1 << 16].into_boxed_slice(),
            next_base: X86_WINDOW + 1,
        }
    }

    #[inline(never)]
    fn undo(&mut self, data: &mut [u8]) {
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
        let Ok(table) = <&mut [u32; 1 << 16]>::try_from(&mut self.last_use[..]) else {
            return;
        };

        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { avx2::scan(data, base, table) };
            return;
        }
        scan::<PortableMask>(data, base, table);
    }
}

/// Where candidate opcode bytes are: bit k of `mask(data, q)` is set iff
/// `data[q + k]` is one, for k < `WIDTH` (bytes past the end are none).
trait CandidateMask {
    const WIDTH: usize;
    fn mask(data: &[u8], q: usize) -> u64;
}

/// SSE2 (x86-64 baseline) or byte-wise candidate test, 32 bytes a step.
struct PortableMask;

impl CandidateMask for PortableMask {
    const WIDTH: usize = 32;
    #[inline(always)]
    fn mask(data: &[u8], q: usize) -> u64 {
        candidate_mask(data, q) as u64
    }
}

/// The translation-undoing scan over a whole chunk (`data.len() > 17`).
#[inline(always)]
fn scan<M: CandidateMask>(data: &mut [u8], base: u32, table: &mut [u32; 1 << 16]) {
    let size = data.len();
    // Opcodes starting at or after `limit` are never translated, and a
    // translation at p < limit touches at most data[p + 7]. The first
    // byte is never considered.
    let limit = size - 16;
    let mut last_x86: i64 = -X86_MAX_TRANSLATION_OFFSET - 1;
    let mut p = 1usize;
    while p < limit {
        // Candidates in data[q..q + WIDTH].
        let q = p;
        let mut mask = M::mask(data, q);
        loop {
            if mask == 0 {
                p = p.max(q + M::WIDTH);
                break;
            }
            let c = q + mask.trailing_zeros() as usize;
            if c >= limit {
                p = limit;
                break;
            }
            p = translate_at(data, c, base, &mut last_x86, table);
            // Forget candidates the translation stepped over.
            let skipped = p - q;
            if skipped >= M::WIDTH {
                break;
            }
            mask &= u64::MAX << skipped;
        }
    }
}

/// Undo the translation of one candidate opcode at `p` (`p < size - 16`,
/// so `data[p..p + 8]` exists) and return where scanning resumes.
#[inline(always)]
fn translate_at(
    data: &mut [u8],
    p: usize,
    base: u32,
    last_x86: &mut i64,
    table: &mut [u32; 1 << 16],
) -> usize {
    let Some(bytes) = data.get(p..p + 8) else {
        return data.len();
    };
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    let (operand_at, max_offset) = match w[0] {
        0xE8 => (1, X86_MAX_TRANSLATION_OFFSET >> 1),
        // JMP rel32 is deliberately not translated; skip it.
        0xE9 => return p + 5,
        0xFF if w[1] == 0x15 => (2, X86_MAX_TRANSLATION_OFFSET),
        0xF0 if w[1] == 0x83 && w[2] == 0x05 => (3, X86_MAX_TRANSLATION_OFFSET),
        // REX.W LEA / MOV with (approximately) RIP-relative addressing.
        0x48 | 0x4C
            if w[2] & 0x07 == 0x05
                && (w[1] == 0x8D || (w[1] == 0x8B && w[0] & 0x04 == 0 && w[2] & 0xF0 == 0)) =>
        {
            (3, X86_MAX_TRANSLATION_OFFSET)
        }
        _ => return p + 1,
    };
    let q = p + operand_at;
    let mut operand = u32::from_le_bytes([
        w[operand_at],
        w[operand_at + 1],
        w[operand_at + 2],
        w[operand_at + 3],
    ]);
    if p as i64 - *last_x86 <= max_offset {
        operand = operand.wrapping_sub(p as u32);
        if let Some(dst) = data.get_mut(q..q + 4) {
            dst.copy_from_slice(&operand.to_le_bytes());
        }
    }
    let target = (p as u32).wrapping_add(operand & 0xffff) as u16;
    let end = p + operand_at + 3;
    let stamp = base + end as u32;
    let slot = &mut table[target as usize];
    if stamp.wrapping_sub(*slot) <= X86_WINDOW {
        *last_x86 = end as i64;
    }
    *slot = stamp;
    q + 4
}

/// Is `b` a byte that can start a translated instruction?
#[inline(always)]
fn is_candidate(b: u8) -> bool {
    matches!(b, 0x48 | 0x4C | 0xE8 | 0xE9 | 0xF0 | 0xFF)
}

/// Bit k set iff `data[q + k]` is a candidate opcode byte, k < 32 (bytes
/// past the end count as non-candidates).
#[inline(always)]
fn candidate_mask(data: &[u8], q: usize) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        if let Some(block) = data.get(q..q + 32) {
            return sse2::candidate_mask32(block);
        }
    }
    let mut mask = 0u32;
    for (k, &b) in data.iter().skip(q).take(32).enumerate() {
        mask |= (is_candidate(b) as u32) << k;
    }
    mask
}

/// 16-bytes-at-a-time candidate test (measured: the x86 filter went from
/// ~22% of decode time to under 10%, and 32 bytes per step took another
/// ~0.3 instructions per byte off).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    /// Candidate bits of 16 bytes: 0x48/0x4C (| 0x04 == 0x4C), 0xE8/0xE9
    /// (| 0x01 == 0xE9), 0xF0, 0xFF.
    #[inline(always)]
    fn mask16(v: __m128i) -> u32 {
        // SAFETY: SSE2 is part of the x86-64 baseline this module is
        // compiled for (see the cfg), and these intrinsics only compute on
        // register values.
        unsafe {
            let rex = _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x04)), _mm_set1_epi8(0x4C));
            let call = _mm_cmpeq_epi8(
                _mm_or_si128(v, _mm_set1_epi8(0x01)),
                _mm_set1_epi8(0xE9u8 as i8),
            );
            let f0 = _mm_cmpeq_epi8(v, _mm_set1_epi8(0xF0u8 as i8));
            let ff = _mm_cmpeq_epi8(v, _mm_set1_epi8(-1));
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(rex, call), _mm_or_si128(f0, ff))) as u32
        }
    }

    /// `block` must be at least 32 bytes long (otherwise: no candidates).
    #[inline(always)]
    pub(super) fn candidate_mask32(block: &[u8]) -> u32 {
        let Some(block) = block.get(..32) else {
            return 0;
        };
        // SAFETY: `block` is 32 bytes long, so both unaligned 16-byte loads
        // (at offsets 0 and 16) read inside it; SSE2 is baseline here.
        let (lo, hi) = unsafe {
            let p = block.as_ptr().cast::<__m128i>();
            (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1)))
        };
        mask16(lo) | (mask16(hi) << 16)
    }
}

/// AVX2 candidate test, 64 bytes a step (chosen at run time; it halves the
/// instructions of the candidate search).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::CandidateMask;
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };

    /// [`super::scan`] compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2,bmi1")]
    pub(super) unsafe fn scan(data: &mut [u8], base: u32, table: &mut [u32; 1 << 16]) {
        super::scan::<Avx2Mask>(data, base, table);
    }

    struct Avx2Mask;

    /// Candidate bits of 32 bytes, as in `super::sse2::mask16`.
    #[inline(always)]
    fn mask32(v: __m256i) -> u64 {
        // SAFETY: only inlined into `scan`, which requires AVX2; these
        // intrinsics compute on register values.
        unsafe {
            let rex = _mm256_cmpeq_epi8(
                _mm256_or_si256(v, _mm256_set1_epi8(0x04)),
                _mm256_set1_epi8(0x4C),
            );
            let call = _mm256_cmpeq_epi8(
                _mm256_or_si256(v, _mm256_set1_epi8(0x01)),
                _mm256_set1_epi8(0xE9u8 as i8),
            );
            let f0 = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0xF0u8 as i8));
            let ff = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(-1));
            _mm256_movemask_epi8(_mm256_or_si256(
                _mm256_or_si256(rex, call),
                _mm256_or_si256(f0, ff),
            )) as u32 as u64
        }
    }

    impl CandidateMask for Avx2Mask {
        const WIDTH: usize = 64;
        #[inline(always)]
        fn mask(data: &[u8], q: usize) -> u64 {
            let Some(block) = data.get(q..q + 64) else {
                // Near the end: the portable test, twice.
                return super::candidate_mask(data, q) as u64
                    | (super::candidate_mask(data, q + 32) as u64) << 32;
            };
            // SAFETY: `block` is 64 bytes long, so both unaligned 32-byte
            // loads read inside it; AVX2 is present (see `mask32`).
            let (lo, hi) = unsafe {
                let p = block.as_ptr().cast::<__m256i>();
                (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
            };
            mask32(lo) | (mask32(hi) << 32)
        }
    }
}

// ---------------------------------------------------------------------------
// The decompressor
// ---------------------------------------------------------------------------

/// LZMS decompressor ("LZMS items" in the format description). Create once
/// per thread and reuse: all tables live here and are reinitialised per
/// chunk. Memory use is about 120 KiB of tables plus 256 KiB for the x86
/// filter, independent of the chunk size.
pub struct LzmsDecompressor {
    max_chunk_size: usize,
    tables: Box<Tables>,
    x86: Option<X86Filter>,
}

/// All adaptive state, in one allocation so the hot loop reaches every
/// table from a single base register.
struct Tables {
    probs: DecProbs,
    literal: AdaptiveCode<NUM_LITERAL_SYMS, 1024>,
    length: AdaptiveCode<NUM_LENGTH_SYMS, 512>,
    power: AdaptiveCode<NUM_POWER_SYMS, 128>,
    lz_offset: AdaptiveCode<MAX_OFFSET_SYMS, 2048>,
    delta_offset: AdaptiveCode<MAX_OFFSET_SYMS, 2048>,
    scratch: Scratch,
    cold: Cold,
}

/// Item-decoding state that only matches use: the decision histories
/// (they select the probability entry) other than the main one, and the
/// LRU queues of recent sources, each with one spare slot for the delayed
/// update (a repeat match right after an item of the same kind skips the
/// entry that item just pushed).
struct Cold {
    match_state: usize,
    lz_state: usize,
    delta_state: usize,
    lz_rep_state: [usize; 2],
    delta_rep_state: [usize; 2],
    recent_lz: [u32; 4],
    recent_delta: [(u32, u32); 4],
    prev: Prev,
    /// The chunk's output length (see the item loop).
    out_len: usize,
    /// The chunk's input length (see [`RangeDecoder`]).
    in_len: usize,
}

impl Cold {
    const INITIAL: Cold = Cold {
        match_state: 0,
        lz_state: 0,
        delta_state: 0,
        lz_rep_state: [0; 2],
        delta_rep_state: [0; 2],
        recent_lz: [1, 2, 3, 4],
        recent_delta: [(0, 1), (0, 2), (0, 3), (0, 4)],
        prev: Prev::Literal,
        out_len: 0,
        in_len: 0,
    };
}

/// Kind of the previous item.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Prev {
    Literal,
    Lz,
    Delta,
}

impl LzmsDecompressor {
    /// A decompressor for chunks of at most `max_chunk_size` bytes
    /// (1 byte ..= 1 GiB).
    pub fn new(max_chunk_size: usize) -> Result<Self, DecodeError> {
        if max_chunk_size == 0 || max_chunk_size > MAX_CHUNK_SIZE {
            return Err(DecodeError::BadChunkSize(max_chunk_size));
        }
        let mut scratch = BuildScratch::new();
        let tables = Box::new(Tables {
            probs: DecProbs::INITIAL,
            literal: AdaptiveCode::new(1024, &mut scratch),
            length: AdaptiveCode::new(512, &mut scratch),
            power: AdaptiveCode::new(512, &mut scratch),
            lz_offset: AdaptiveCode::new(1024, &mut scratch),
            delta_offset: AdaptiveCode::new(1024, &mut scratch),
            scratch,
            cold: Cold::INITIAL,
        });
        Ok(LzmsDecompressor {
            max_chunk_size,
            tables,
            x86: None,
        })
    }

    #[inline(never)]
    fn decode_items(&mut self, input: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
        let num_offset_syms = num_offset_slots(out.len());
        let Tables {
            probs,
            literal,
            length: length_code,
            power: power_code,
            lz_offset,
            delta_offset,
            scratch,
            cold,
        } = &mut *self.tables;
        *probs = DecProbs::INITIAL;
        literal.reset(NUM_LITERAL_SYMS, scratch);
        length_code.reset(NUM_LENGTH_SYMS, scratch);
        power_code.reset(NUM_POWER_SYMS, scratch);
        lz_offset.reset(num_offset_syms, scratch);
        delta_offset.reset(num_offset_syms, scratch);

        // The state only matches touch lives in memory (`cold`), so that
        // the literal path keeps the range decoder, the bit reader and the
        // output position in registers.
        let mut main_state = 0usize;
        *cold = Cold::INITIAL;
        let out_len = out.len();
        cold.out_len = out_len;
        cold.in_len = input.len();

        let mut rc = RangeDecoder::new(input, &cold.in_len);
        let mut bits = BitReader::new(input);
        let mut pos = 0usize;
        // SAFETY: reads a plain field we hold by `&mut`. Volatile so that
        // the loop compares against memory instead of holding the length
        // in a register (one fewer live value in the item loop).
        while pos < unsafe { std::ptr::read_volatile(&cold.out_len) } {
            if !rc.bit(&mut probs.main, &probs.clamp, &mut main_state) {
                let sym = literal.decode(&mut bits, scratch);
                out[pos] = sym as u8;
                pos += 1;
                cold.prev = Prev::Literal;
                continue;
            }
            if !rc.bit(&mut probs.is_delta, &probs.clamp, &mut cold.match_state) {
                // LZ match.
                let offset;
                if !rc.bit(&mut probs.lz_is_rep, &probs.clamp, &mut cold.lz_state) {
                    let slot = OFFSET_SLOTS[lz_offset.decode(&mut bits, scratch)];
                    offset = slot.base + bits.bits(slot.extra);
                    cold.recent_lz = [
                        offset,
                        cold.recent_lz[0],
                        cold.recent_lz[1],
                        cold.recent_lz[2],
                    ];
                } else {
                    let k = if !rc.bit(
                        &mut probs.lz_rep[0],
                        &probs.clamp,
                        &mut cold.lz_rep_state[0],
                    ) {
                        0
                    } else if !rc.bit(
                        &mut probs.lz_rep[1],
                        &probs.clamp,
                        &mut cold.lz_rep_state[1],
                    ) {
                        1
                    } else {
                        2
                    };
                    offset = take_recent(&mut cold.recent_lz, k, cold.prev == Prev::Lz);
                }
                cold.prev = Prev::Lz;

                let length = read_length(length_code, &mut bits, scratch);
                let offset = offset as usize;
                let remaining = out_len - pos;
                if offset > pos {
                    return Err(DecodeError::BadMatchOffset);
                }
                if length > remaining {
                    return Err(DecodeError::OutputOverrun);
                }
                lz_copy(out, pos, offset, length);
                pos += length;
            } else {
                // Delta match.
                let pair;
                if !rc.bit(&mut probs.delta_is_rep, &probs.clamp, &mut cold.delta_state) {
                    let power = power_code.decode(&mut bits, scratch) as u32;
                    let slot = OFFSET_SLOTS[delta_offset.decode(&mut bits, scratch)];
                    let raw = slot.base + bits.bits(slot.extra);
                    pair = (power, raw);
                    cold.recent_delta = [
                        pair,
                        cold.recent_delta[0],
                        cold.recent_delta[1],
                        cold.recent_delta[2],
                    ];
                } else {
                    let k = if !rc.bit(
                        &mut probs.delta_rep[0],
                        &probs.clamp,
                        &mut cold.delta_rep_state[0],
                    ) {
                        0
                    } else if !rc.bit(
                        &mut probs.delta_rep[1],
                        &probs.clamp,
                        &mut cold.delta_rep_state[1],
                    ) {
                        1
                    } else {
                        2
                    };
                    pair = take_recent(&mut cold.recent_delta, k, cold.prev == Prev::Delta);
                }
                cold.prev = Prev::Delta;

                let length = read_length(length_code, &mut bits, scratch);
                let (power, raw) = pair;
                let span = 1u64 << (power & 31);
                let offset = (raw as u64) << (power & 31);
                if offset + span > pos as u64 {
                    return Err(DecodeError::BadMatchOffset);
                }
                if length > out_len - pos {
                    return Err(DecodeError::OutputOverrun);
                }
                delta_copy(out, pos, offset as usize, span as usize, length);
                pos += length;
            }
        }
        Ok(())
    }
}

/// Take entry `k` of an LRU queue of recent match sources and move it to
/// the front. The format delays queue updates by one item; equivalently,
/// when the previous item was of the same kind (`skip`), its source sits
/// at the front already and entry `k` is found one slot further down.
#[inline(always)]
fn take_recent<T: Copy>(q: &mut [T; 4], k: usize, skip: bool) -> T {
    let from = k + skip as usize;
    let v = q[from & 3];
    q[from & 3] = q[k & 3];
    match k {
        0 => {}
        1 => q[1] = q[0],
        _ => {
            q[2] = q[1];
            q[1] = q[0];
        }
    }
    q[0] = v;
    v
}

/// Length slot plus extra bits; lengths are at least 1.
#[inline(always)]
fn read_length(
    code: &mut AdaptiveCode<NUM_LENGTH_SYMS, 512>,
    bits: &mut BitReader<'_>,
    scratch: &mut Scratch,
) -> usize {
    let slot = LENGTH_SLOTS[code.decode(bits, scratch)];
    let mut len = slot.base;
    if slot.extra != 0 {
        len += bits.bits(slot.extra);
    }
    len as usize
}

/// Copy an LZ match: `length` bytes from `offset` back, forward byte order
/// (so a short offset repeats a pattern). Caller checked
/// `1 <= offset <= pos` and `pos + length <= out.len()`.
#[inline(always)]
fn lz_copy(out: &mut [u8], pos: usize, offset: usize, length: usize) {
    let src = pos - offset;
    if offset >= 8 && pos + length + 16 <= out.len() {
        // Room to spare: copy whole words, each read from bytes that are
        // already final (the words never reach past `pos`: offset >= 8,
        // or >= 16 for the 16-byte loop); up to 15 bytes past the match
        // are written too, and later items overwrite them. Raw pointers
        // here because the bounds-checked version cost ~15% of decode time
        // (three checks per word, measured with perf on 64 MiB chunks).
        // Most matches are short: the first step alone covers lengths up
        // to 16 (offsets >= 16) or 8, with no set-up before the loop.
        let base = out.as_mut_ptr();
        // SAFETY: `src = pos - offset` (caller checked offset <= pos).
        // Every write covers d..d + w (w = 8 or 16) for some
        // pos <= d < pos + length, so it ends before
        // pos + length + 16 <= out.len() (checked just above); every read
        // covers s..s + w with s = d - offset and w <= offset, so it ends
        // at or before d <= out.len(). All accesses are unaligned reads
        // and writes inside `out`, which we hold exclusively.
        unsafe {
            let mut s = base.add(src);
            let mut d = base.add(pos);
            let end = base.add(pos + length);
            if offset >= 16 {
                loop {
                    let w = std::ptr::read_unaligned(s as *const [u8; 16]);
                    std::ptr::write_unaligned(d as *mut [u8; 16], w);
                    s = s.add(16);
                    d = d.add(16);
                    if d >= end {
                        break;
                    }
                }
            } else {
                loop {
                    let w = std::ptr::read_unaligned(s as *const u64);
                    std::ptr::write_unaligned(d as *mut u64, w);
                    s = s.add(8);
                    d = d.add(8);
                    if d >= end {
                        break;
                    }
                }
            }
        }
    } else if offset >= length {
        out.copy_within(src..src + length, pos);
    } else if offset == 1 {
        let b = out[src];
        out[pos..pos + length].fill(b);
    } else {
        for i in pos..pos + length {
            out[i] = out[i - offset];
        }
    }
}

/// Apply a delta match. Caller checked `offset + span <= pos` and
/// `pos + length <= out.len()`.
#[inline(always)]
fn delta_copy(out: &mut [u8], pos: usize, offset: usize, span: usize, length: usize) {
    for i in pos..pos + length {
        out[i] = out[i - offset]
            .wrapping_add(out[i - span])
            .wrapping_sub(out[i - offset - span]);
    }
}

impl Decompressor for LzmsDecompressor {
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<(), DecodeError> {
        if output.len() > self.max_chunk_size {
            return Err(DecodeError::BadChunkSize(output.len()));
        }
        // The streams are made of 16-bit words, and the range decoder needs
        // two of them to start.
        if input.len() < 4 || input.len() % 2 != 0 {
            return Err(DecodeError::Truncated);
        }
        self.decode_items(input, output)?;
        if output.len() > 17 {
            self.x86.get_or_insert_with(X86Filter::new).undo(output);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_tables_match_the_format() {
        assert_eq!(OFFSET_SLOTS[8].base, 9);
        assert_eq!(OFFSET_SLOTS[9].base, 0xd);
        assert_eq!(OFFSET_SLOTS[798].base, 0x065b_e4a5);
        assert_eq!(OFFSET_SLOTS[798].extra, 30);
        assert_eq!(LENGTH_SLOTS[27].base, 0x1d);
        assert_eq!(LENGTH_SLOTS[52].base, 0x8ab);
        assert_eq!(LENGTH_SLOTS[53].base, 0x108ab);
        assert_eq!(num_offset_slots(0), 0);
        assert_eq!(num_offset_slots(1), 0);
        assert_eq!(num_offset_slots(2), 1);
        assert_eq!(num_offset_slots(1 << 30), 799);
    }

    fn lengths_for(freqs: &[u32]) -> Vec<u8> {
        let d = LzmsDecompressor::new(1 << 20).unwrap();
        let mut scratch = d.tables.scratch.clone();
        build_lengths(freqs, &mut scratch);
        scratch.lens[..freqs.len()].to_vec()
    }

    #[test]
    fn equal_frequencies_give_flat_code() {
        let freqs = [1u32; 256];
        let lens = lengths_for(&freqs);
        assert!(lens.iter().all(|&l| l == 8));
    }

    #[test]
    fn lengths_form_complete_code() {
        let mut seed = 12345u32;
        for n in [2usize, 3, 8, 54, 256, 300, 799] {
            for _ in 0..20 {
                let freqs: Vec<u32> = (0..n)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        1 + (seed >> 16) % 2000
                    })
                    .collect();
                let lens = lengths_for(&freqs);
                let kraft: u64 = lens.iter().map(|&l| 1u64 << (15 - l)).sum();
                assert_eq!(kraft, 1 << 15, "n={n}");
            }
        }
    }

    /// The construction spelled out plainly (sort by (freq, symbol), two
    /// queues with ties to leaves, depths by walking down from the root,
    /// the same length limiting), to check the optimised `build_lengths`.
    fn reference_lengths(freqs: &[u32]) -> Vec<u8> {
        let n = freqs.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&s| (freqs[s], s));
        let leaf_w: Vec<u64> = order.iter().map(|&s| freqs[s] as u64).collect();
        let mut node_w: Vec<u64> = Vec::new();
        let mut parent: Vec<usize> = Vec::new();
        let (mut i, mut b) = (0, 0);
        for e in 0..n - 1 {
            let mut w = 0;
            for _ in 0..2 {
                let lf = leaf_w.get(i).copied();
                let nf = if b < e { Some(node_w[b]) } else { None };
                match (lf, nf) {
                    (Some(l), Some(x)) if l <= x => {
                        w += l;
                        i += 1;
                    }
                    (Some(l), None) => {
                        w += l;
                        i += 1;
                    }
                    (_, Some(x)) => {
                        w += x;
                        parent.push(e);
                        b += 1;
                    }
                    (None, None) => unreachable!(),
                }
            }
            node_w.push(w);
        }
        let root = n - 2;
        let mut depth = vec![0usize; n - 1];
        let mut len_count = [0u32; MAX_CODEWORD_LEN + 2];
        len_count[1] = 2;
        for node in (0..root).rev() {
            depth[node] = depth[parent[node]] + 1;
            let mut l = depth[node];
            if l >= MAX_CODEWORD_LEN {
                l = MAX_CODEWORD_LEN - 1;
                while l > 1 && len_count[l] == 0 {
                    l -= 1;
                }
            }
            len_count[l] -= 1;
            len_count[l + 1] += 2;
        }
        let mut lens = vec![0u8; n];
        let mut it = order.iter();
        for l in (1..=MAX_CODEWORD_LEN).rev() {
            for _ in 0..len_count[l] {
                lens[*it.next().unwrap()] = l as u8;
            }
        }
        lens
    }

    #[test]
    fn build_lengths_matches_the_plain_construction() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut cases: Vec<Vec<u32>> = Vec::new();
        for n in [2usize, 3, 5, 8, 54, 256, 300, 799] {
            for round in 0..30 {
                let max = [2u64, 10, 300, 5000, 1 << 20][round % 5];
                cases.push((0..n).map(|_| 1 + (next() % max) as u32).collect());
            }
        }
        // Fibonacci-like weights make trees deeper than 15 levels, which
        // takes the length-limiting path.
        for n in [20usize, 30, 40, 60] {
            let mut f = vec![1u32, 1];
            while f.len() < n {
                let k = f.len();
                f.push(f[k - 1].saturating_add(f[k - 2]).min(1 << 21));
            }
            cases.push(f.clone());
            f.reverse();
            cases.push(f);
        }
        for freqs in cases {
            let got = lengths_for(&freqs);
            assert_eq!(got, reference_lengths(&freqs), "freqs {freqs:?}");
        }
    }

    #[test]
    fn table_memory_is_as_documented() {
        let size = std::mem::size_of::<Tables>();
        assert!(size < 130 << 10, "{size}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(LzmsDecompressor::new(0).is_err());
        assert!(LzmsDecompressor::new((1 << 30) + 1).is_err());
        let mut d = LzmsDecompressor::new(1 << 17).unwrap();
        let mut out = [0u8; 16];
        assert_eq!(d.decompress(&[0, 0], &mut out), Err(DecodeError::Truncated));
        assert_eq!(
            d.decompress(&[0, 0, 0, 0, 0], &mut out),
            Err(DecodeError::Truncated)
        );
        let mut big = vec![0u8; (1 << 17) + 1];
        assert!(d.decompress(&[0; 8], &mut big).is_err());
    }

    #[test]
    fn random_input_never_panics() {
        let mut d = LzmsDecompressor::new(1 << 16).unwrap();
        let mut seed = 0x9e37_79b9_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut out = vec![0u8; 1 << 16];
        for round in 0..300 {
            let in_len = 4 + 2 * (next() as usize % 2000);
            let input: Vec<u8> = (0..in_len).map(|_| next() as u8).collect();
            let out_len = match round % 4 {
                0 => next() as usize % 64,
                1 => next() as usize % 4096,
                _ => next() as usize % (1 << 16),
            };
            let _ = d.decompress(&input, &mut out[..out_len]);
        }
    }

    /// The AVX2 candidate search must undo exactly what the portable one
    /// does, including candidates near the end of the chunk and runs of
    /// candidates that straddle the 32- and 64-byte steps.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_filter_avx2_matches_portable() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("SKIP: no AVX2 on this CPU");
            return;
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Mostly opcode-like bytes, so that translations and "looks like
        // code" windows are both frequent.
        const BYTES: [u8; 12] = [
            0xE8, 0xE9, 0xFF, 0x15, 0xF0, 0x83, 0x05, 0x48, 0x4C, 0x8D, 0x8B, 0,
        ];
        let mut translated = 0;
        for round in 0..200 {
            let len = 18 + (next() as usize % if round % 2 == 0 { 300 } else { 20_000 });
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 3 == 0 {
                        (r >> 8) as u8
                    } else {
                        BYTES[(r >> 8) as usize % BYTES.len()]
                    }
                })
                .collect();
            let mut table_a = vec![0u32; 1 << 16];
            let mut table_b = vec![0u32; 1 << 16];
            let (mut a, mut b) = (data.clone(), data.clone());
            let base = X86_WINDOW + 1;
            scan::<PortableMask>(&mut a, base, (&mut table_a[..]).try_into().unwrap());
            // SAFETY: AVX2 was detected above.
            unsafe { avx2::scan(&mut b, base, (&mut table_b[..]).try_into().unwrap()) };
            assert_eq!(a, b, "round {round}, {len} bytes");
            assert!(table_a == table_b, "round {round}");
            translated += (a != data) as usize;
        }
        // The data really exercised translations.
        assert!(translated > 20, "{translated}");
    }
}
