//! LZX chunk compressor, WIM variant: the inverse of [`super::lzx`]
//! (format notes `shared/research/wim.md` §1.3; bitstream and blocks per
//! MS-PATCH LZXD §2). Original code; wimlib's compressor was read to learn
//! the approach, not copied.
//!
//! Each chunk is compressed on its own, as WIM requires: the E8 call
//! translation (fixed "file size" 12,000,000, no translation starting in the
//! last 10 bytes) is applied to a copy of the chunk, the recent-offsets
//! queue starts at {1, 1, 1} and the previous codeword lengths at zero.
//! The chunk is split into verbatim or aligned-offset blocks (whichever is
//! smaller), each with its own Huffman codes (main and length codes at
//! most 16 bits, aligned 7, pretree 15), sent as pretree-coded deltas
//! against the previous block's lengths with the run-length symbols 17, 18
//! and 19. Uncompressed blocks are never written: a chunk that does not
//! shrink is stored raw by the resource writer.
//!
//! Levels:
//! * [`Level::Fast`]: hash chains and lazy matching that also tries the
//!   three recent offsets;
//! * [`Level::Normal`] (the default) and [`Level::Thorough`]: a
//!   binary-tree match finder feeding a minimum-cost path search over all
//!   literal/match choices of a block (recent-offset matches, and an
//!   explicit match followed by a literal and the same offset again,
//!   included), under a bit-cost model taken from a quick greedy parse;
//!   the thorough level searches deeper and repeats the path search once
//!   with costs from the Huffman codes of the first pass.
//!
//! The output depends only on the chunk bytes, the level and the window
//! (chunk) size, never on threads or earlier chunks.

mod bitwriter;
mod block;
mod bt;
mod hc;
mod huffman;
mod near_optimal;
mod split;

use crate::write::resource::Compressor;
use bitwriter::BitWriter;
use block::{Codes, Freqs, Lens};

pub(crate) const NUM_CHARS: usize = 256;
pub(crate) const NUM_PRIMARY_LENS: usize = 7;
pub(crate) const MIN_MATCH: usize = 2;
pub(crate) const MAX_MATCH: usize = 257;
/// Lengths from this one on need a length symbol.
pub(crate) const MIN_SECONDARY_LEN: usize = MIN_MATCH + NUM_PRIMARY_LENS;
pub(crate) const LEN_SYMS: usize = 249;
pub(crate) const PRE_SYMS: usize = 20;
pub(crate) const ALIGNED_SYMS: usize = 8;
pub(crate) const MAX_SLOTS: usize = 50;
pub(crate) const MAX_MAIN_SYMS: usize = NUM_CHARS + 8 * MAX_SLOTS;
/// First offset slot whose low 3 extra bits are aligned-coded.
pub(crate) const MIN_ALIGNED_SLOT: usize = 8;
const E8_FILE_SIZE: i32 = 12_000_000;
const MIN_WINDOW_ORDER: u32 = 15;
const MAX_WINDOW_ORDER: u32 = 21;
/// Largest chunk LZX handles.
pub const MAX_CHUNK: usize = 1 << MAX_WINDOW_ORDER;

/// Extra offset bits per offset slot.
pub(crate) const EXTRA_BITS: [u8; MAX_SLOTS] = {
    let mut t = [0u8; MAX_SLOTS];
    let mut i = 4;
    while i < MAX_SLOTS {
        let b = i / 2 - 1;
        t[i] = if b > 17 { 17 } else { b as u8 };
        i += 1;
    }
    t
};

/// First "adjusted offset" (match offset + 2; 0..=2 are the recent-offset
/// slots) of each slot; entry 50 bounds the largest window.
pub(crate) const POS_BASE: [u32; MAX_SLOTS + 1] = {
    let mut t = [0u32; MAX_SLOTS + 1];
    let mut i = 0;
    while i < MAX_SLOTS {
        t[i + 1] = t[i] + (1 << EXTRA_BITS[i]);
        i += 1;
    }
    t
};

/// Slot of adjusted offsets below 32768.
static SLOT_SMALL: [u8; 32768] = {
    let mut t = [0u8; 32768];
    let mut a = 0;
    let mut s = 0;
    while a < 32768 {
        while POS_BASE[s + 1] as usize <= a {
            s += 1;
        }
        t[a] = s as u8;
        a += 1;
    }
    t
};

/// Slot of adjusted offsets from 32768 on, by `adj >> 14` (the bases of
/// those slots are multiples of 2^14).
static SLOT_LARGE: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut k = 2;
    let mut s = 30;
    while k < 128 {
        while (POS_BASE[s + 1] as usize) <= k << 14 {
            s += 1;
        }
        t[k] = s as u8;
        k += 1;
    }
    t
};

/// Offset slot of an adjusted offset (`offset + 2`, at least 3).
#[inline(always)]
pub(crate) fn slot_of(adj: u32) -> usize {
    if adj < 32768 {
        SLOT_SMALL[adj as usize] as usize
    } else {
        SLOT_LARGE[(adj >> 14) as usize & 127] as usize
    }
}

/// Main symbol of a match of `len` in `slot`, and whether a length symbol
/// (`len - MIN_SECONDARY_LEN`) follows.
#[inline(always)]
pub(crate) fn main_symbol(slot: usize, len: usize) -> usize {
    NUM_CHARS + 8 * slot + (len - MIN_MATCH).min(NUM_PRIMARY_LENS)
}

/// Little-endian u32 at `i` (`i + 4 <= d.len()`).
#[inline(always)]
pub(crate) fn load_u32(d: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(d[i..i + 4].try_into().unwrap_or([0; 4]))
}

/// Length of the common prefix of `d[a..]` and `d[b..]` (`a < b`), known
/// to be at least `len`, at most `max` (`b + max <= d.len()`; if not, the
/// result is `len`).
#[inline(always)]
pub(crate) fn match_len(d: &[u8], a: usize, b: usize, mut len: usize, max: usize) -> usize {
    if a >= b || b.checked_add(max).is_none_or(|e| e > d.len()) {
        return len;
    }
    let p = d.as_ptr();
    while len + 8 <= max {
        // SAFETY: a < b and len + 8 <= max with b + max <= d.len(), so
        // both 8-byte reads lie inside `d`.
        let (x, y) = unsafe {
            (
                p.add(a + len).cast::<u64>().read_unaligned(),
                p.add(b + len).cast::<u64>().read_unaligned(),
            )
        };
        let x = x ^ y;
        if x != 0 {
            return len + (u64::from_le(x).trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && d[a + len] == d[b + len] {
        len += 1;
    }
    len
}

/// One literal run followed by a match (or by nothing, `len == 0`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seq {
    pub lits: u32,
    pub len: u16,
    pub main_sym: u16,
    /// Offset + 2 for an explicit offset; 0..=2 for a recent offset.
    pub adj: u32,
}

/// Compression effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Hash chains with lazy matching: several times faster than
    /// [`Level::Normal`], a few percent larger.
    Fast,
    /// Near-optimal parsing, one pass (the default).
    #[default]
    Normal,
    /// Near-optimal parsing with deeper searches and two passes: about
    /// 1.6 times the time of [`Level::Normal`] for about 1% less output.
    Thorough,
}

/// Tuning of the near-optimal parser.
#[derive(Clone, Copy)]
pub(crate) struct Params {
    /// Binary-tree nodes visited per position.
    pub depth: u32,
    /// A match this long is taken without looking further.
    pub nice: usize,
    /// Min-cost path searches per block.
    pub passes: u32,
    /// Try cutting each block in two.
    pub split: bool,
}

/// The recent-offsets queue R0, R1, R2 packed in 21-bit fields.
pub(crate) type Queue = u64;
pub(crate) const QUEUE_INIT: Queue = 1 | 1 << 21 | 1 << 42;

/// Error from [`LzxCompressor::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LZX chunk size {0} is not supported (1 byte to 2 MiB)")]
pub struct BadChunkSize(pub usize);

enum Finder {
    Small(bt::BtFinder<u16>),
    Large(bt::BtFinder<u32>),
    Chains(hc::HcFinder),
}

/// Everything but the match finder, so parsers can borrow both.
pub(crate) struct Core {
    pub params: Params,
    pub window_order: u32,
    pub num_main: usize,
    /// Largest offset the window allows.
    pub max_off: usize,
    /// The chunk after E8 translation.
    pub buf: Vec<u8>,
    pub opt: near_optimal::State,
    pub seqs: Vec<Seq>,
    pub freqs: Freqs,
    pub codes: Codes,
    pub prev: Lens,
    pub scratch: huffman::Scratch,
    pub items: Vec<u32>,
    pub splitter: split::Splitter,
    /// Items of one part of a cut block.
    pub part: Vec<Seq>,
}

impl Core {
    /// Build the codes for the block `buf[start..end]` whose items are in
    /// `self.seqs` and counts in `self.freqs`, and write it, as two blocks
    /// when that is smaller; keep the last lengths for the next block's
    /// deltas.
    pub(crate) fn flush_block(&mut self, w: &mut BitWriter<'_>, start: usize, end: usize) {
        self.codes
            .build(&self.freqs, self.num_main, &mut self.scratch);
        let data = &self.buf[start..end];
        let cut = self.params.split.then(|| {
            self.splitter.find(
                data,
                &self.seqs,
                &self.freqs,
                &self.codes,
                &self.prev,
                self.window_order,
                self.num_main,
                &mut self.items,
                &mut self.scratch,
            )
        });
        let Some(cut) = cut.flatten().filter(|c| c.seq < self.seqs.len()) else {
            let bt = block::choose_block_type(&self.freqs, &self.codes.lens);
            block::write_block(
                w,
                bt,
                end - start,
                self.window_order,
                self.num_main,
                data,
                &self.seqs,
                &self.codes,
                &self.prev,
                &mut self.items,
                &mut self.scratch,
            );
            self.prev.clone_from(&self.codes.lens);
            return;
        };
        let (a, codes_a, b, codes_b) = self.splitter.parts();
        self.part.clear();
        self.part.extend_from_slice(&self.seqs[..cut.seq]);
        self.part.push(Seq {
            lits: cut.lits,
            ..Seq::default()
        });
        block::write_block(
            w,
            block::choose_block_type(a, &codes_a.lens),
            cut.pos,
            self.window_order,
            self.num_main,
            &data[..cut.pos],
            &self.part,
            codes_a,
            &self.prev,
            &mut self.items,
            &mut self.scratch,
        );
        self.part.clear();
        let first = self.seqs[cut.seq];
        self.part.push(Seq {
            lits: first.lits - cut.lits,
            ..first
        });
        self.part.extend_from_slice(&self.seqs[cut.seq + 1..]);
        block::write_block(
            w,
            block::choose_block_type(b, &codes_b.lens),
            data.len() - cut.pos,
            self.window_order,
            self.num_main,
            &data[cut.pos..],
            &self.part,
            codes_b,
            &codes_a.lens,
            &mut self.items,
            &mut self.scratch,
        );
        self.prev.clone_from(&codes_b.lens);
    }
}

/// Reusable WIM-LZX compressor for chunks of up to `max_chunk_size`
/// bytes. The chunk size fixes the LZX window, which must be the WIM's
/// chunk size: the decoder sizes its main code from it.
pub struct LzxCompressor {
    level: Level,
    max_chunk: usize,
    finder: Finder,
    core: Core,
}

impl LzxCompressor {
    /// A compressor for a WIM whose chunk size is `max_chunk_size`
    /// (32 KiB .. 2 MiB in WIMs; smaller sizes use the 32 KiB window).
    pub fn new(max_chunk_size: usize, level: Level) -> Result<Self, BadChunkSize> {
        if max_chunk_size == 0 || max_chunk_size > MAX_CHUNK {
            return Err(BadChunkSize(max_chunk_size));
        }
        let order = max_chunk_size
            .next_power_of_two()
            .trailing_zeros()
            .max(MIN_WINDOW_ORDER);
        let mut slots = 30;
        while slots < MAX_SLOTS && POS_BASE[slots] < 1 << order {
            slots += 1;
        }
        let params = match level {
            // Tuned on the libwine corpus against wimlib's levels 20, 50
            // and 100 (same or less CPU, at most ~1% more output).
            Level::Fast => Params {
                depth: 8,
                nice: 32,
                passes: 0,
                split: false,
            },
            Level::Normal => Params {
                depth: 16,
                nice: 32,
                passes: 1,
                split: true,
            },
            Level::Thorough => Params {
                depth: 32,
                nice: 64,
                passes: 2,
                split: true,
            },
        };
        let finder = if level == Level::Fast {
            Finder::Chains(hc::HcFinder::new(max_chunk_size))
        } else if max_chunk_size <= 1 << 16 {
            Finder::Small(bt::BtFinder::new(max_chunk_size))
        } else {
            Finder::Large(bt::BtFinder::new(max_chunk_size))
        };
        Ok(LzxCompressor {
            level,
            max_chunk: max_chunk_size,
            finder,
            core: Core {
                params,
                window_order: order,
                num_main: NUM_CHARS + 8 * slots,
                max_off: (1usize << order) - 3,
                buf: Vec::with_capacity(max_chunk_size),
                // The fast level never runs the path search: keep its
                // state minimal so making a compressor stays cheap.
                opt: near_optimal::State::new(if level == Level::Fast {
                    0
                } else {
                    max_chunk_size
                }),
                seqs: Vec::new(),
                freqs: Freqs::new(),
                codes: Codes::new(),
                prev: Lens::new(),
                scratch: huffman::Scratch::default(),
                items: Vec::new(),
                splitter: split::Splitter::new(),
                part: Vec::new(),
            },
        })
    }

    /// Override the near-optimal parser's search depth, nice length and
    /// number of passes (for tuning experiments).
    #[doc(hidden)]
    pub fn set_params(&mut self, depth: u32, nice: usize, passes: u32) {
        self.core.params = Params {
            depth: depth.max(1),
            nice: nice.clamp(MIN_MATCH + 1, MAX_MATCH),
            passes: passes.max(1),
            split: self.core.params.split,
        };
    }

    /// The level this compressor was made with.
    pub fn level(&self) -> Level {
        self.level
    }
}

/// Apply the E8 call translation in place (the inverse of the decoder's):
/// for each E8 byte starting before the last 10 bytes, a relative call
/// target in `[-pos, 12000000)` becomes absolute; the 4 operand bytes are
/// then skipped whether translated or not.
pub(crate) fn translate_e8(buf: &mut [u8]) {
    if buf.len() <= 10 {
        return;
    }
    let limit = buf.len() - 10;
    let mut i = 0usize;
    while i < limit {
        match buf[i..limit].iter().position(|&b| b == 0xE8) {
            None => break,
            Some(k) => i += k,
        }
        let t = &mut buf[i + 1..i + 5];
        let rel = i32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let pos = i as i32;
        if rel >= -pos && rel < E8_FILE_SIZE {
            let abs = if rel < E8_FILE_SIZE - pos {
                rel + pos
            } else {
                rel - E8_FILE_SIZE
            };
            t.copy_from_slice(&abs.to_le_bytes());
        }
        i += 5;
    }
}

impl Compressor for LzxCompressor {
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        out.clear();
        let n = input.len();
        if n == 0 || n > self.max_chunk {
            return None;
        }
        let core = &mut self.core;
        core.buf.clear();
        core.buf.extend_from_slice(input);
        translate_e8(&mut core.buf);
        core.prev.clear();
        out.reserve(n);
        let mut w = BitWriter::new(out);
        let ok = match &mut self.finder {
            Finder::Chains(f) => hc::compress(core, f, &mut w),
            Finder::Small(f) => near_optimal::compress(core, f, &mut w),
            Finder::Large(f) => near_optimal::compress(core, f, &mut w),
        };
        if !ok {
            return None;
        }
        w.finish();
        (out.len() < n).then_some(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(POS_BASE[3], 3);
        assert_eq!(POS_BASE[4], 4);
        assert_eq!(POS_BASE[8], 16);
        assert_eq!(POS_BASE[30], 32768);
        assert_eq!(POS_BASE[50], 2097152);
        // Adjusted offsets run up to the largest window's offset + 2.
        for adj in 3u32..1 << 21 {
            let s = slot_of(adj);
            assert!(POS_BASE[s] <= adj && adj < POS_BASE[s + 1], "{adj} -> {s}");
        }
        let n = |c| LzxCompressor::new(c, Level::Normal).unwrap().core.num_main;
        assert_eq!(n(32768), 256 + 30 * 8);
        assert_eq!(n(65536), 256 + 32 * 8);
        assert_eq!(n(1 << 20), 256 + 42 * 8);
        assert_eq!(n(1 << 21), 256 + 50 * 8);
    }

    #[test]
    fn e8_translation_is_undone_by_the_decoder_rule() {
        // Position 3, relative 7 -> absolute 10; position 20, relative -5
        // -> 15; relative 11999990 at 100 -> compensating (negative).
        let mut b = vec![0u8; 200];
        b[3] = 0xE8;
        b[4] = 7;
        b[20] = 0xE8;
        b[21..25].copy_from_slice(&(-5i32).to_le_bytes());
        b[100] = 0xE8;
        b[101..105].copy_from_slice(&11_999_990i32.to_le_bytes());
        let orig = b.clone();
        translate_e8(&mut b);
        assert_eq!(i32::from_le_bytes(b[4..8].try_into().unwrap()), 10);
        assert_eq!(i32::from_le_bytes(b[21..25].try_into().unwrap()), 15);
        assert_eq!(
            i32::from_le_bytes(b[101..105].try_into().unwrap()),
            11_999_990 - E8_FILE_SIZE
        );
        assert_ne!(b, orig);
    }
}
