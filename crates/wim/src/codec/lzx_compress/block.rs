//! Writing one verbatim or aligned-offset LZX block (MS-PATCH LZXD §2.3,
//! with the WIM block-size field of format notes §1.3): the header, the
//! aligned code (aligned blocks), the three pretree-coded sections of
//! codeword lengths (main literals, main match headers, lengths), each as
//! deltas from the previous block's lengths, then the literals and matches.

use super::bitwriter::BitWriter;
use super::huffman::{build_lengths, canonical_codes, Scratch};
use super::{
    Seq, ALIGNED_SYMS, EXTRA_BITS, LEN_SYMS, MAX_MAIN_SYMS, MIN_ALIGNED_SLOT, NUM_CHARS,
    NUM_PRIMARY_LENS, POS_BASE, PRE_SYMS,
};

pub(crate) const BLOCK_VERBATIM: u32 = 1;
pub(crate) const BLOCK_ALIGNED: u32 = 2;
const DEFAULT_BLOCK_SIZE: usize = 32768;

/// Codeword length limits. The format allows 16 for the main and length
/// codes, 7 for the aligned code (3-bit fields) and 15 for the pretree
/// (4-bit fields).
pub(crate) const MAIN_LIMIT: u32 = 16;
pub(crate) const LEN_LIMIT: u32 = 16;
pub(crate) const ALIGNED_LIMIT: u32 = 7;
const PRE_LIMIT: u32 = 15;

/// Symbol counts of one block.
#[derive(Clone)]
pub(crate) struct Freqs {
    pub main: [u32; MAX_MAIN_SYMS],
    pub len: [u32; LEN_SYMS],
    pub aligned: [u32; ALIGNED_SYMS],
}

impl Freqs {
    pub(crate) fn new() -> Self {
        Freqs {
            main: [0; MAX_MAIN_SYMS],
            len: [0; LEN_SYMS],
            aligned: [0; ALIGNED_SYMS],
        }
    }

    pub(crate) fn clear(&mut self) {
        self.main.fill(0);
        self.len.fill(0);
        self.aligned.fill(0);
    }
}

/// Codeword lengths of one block's codes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Lens {
    pub main: [u8; MAX_MAIN_SYMS],
    pub len: [u8; LEN_SYMS],
    pub aligned: [u8; ALIGNED_SYMS],
}

impl Lens {
    pub(crate) fn new() -> Self {
        Lens {
            main: [0; MAX_MAIN_SYMS],
            len: [0; LEN_SYMS],
            aligned: [0; ALIGNED_SYMS],
        }
    }

    pub(crate) fn clear(&mut self) {
        self.main.fill(0);
        self.len.fill(0);
        self.aligned.fill(0);
    }
}

/// Codes (lengths and codewords) of one block.
pub(crate) struct Codes {
    pub lens: Lens,
    pub main: [u16; MAX_MAIN_SYMS],
    pub len: [u16; LEN_SYMS],
    pub aligned: [u16; ALIGNED_SYMS],
}

impl Codes {
    pub(crate) fn new() -> Self {
        Codes {
            lens: Lens::new(),
            main: [0; MAX_MAIN_SYMS],
            len: [0; LEN_SYMS],
            aligned: [0; ALIGNED_SYMS],
        }
    }

    /// Build the main, length and aligned codes from `f` (the first
    /// `num_main` main symbols).
    pub(crate) fn build(&mut self, f: &Freqs, num_main: usize, scratch: &mut Scratch) {
        build_lengths(
            &f.main[..num_main],
            MAIN_LIMIT,
            &mut self.lens.main[..num_main],
            scratch,
        );
        self.lens.main[num_main..].fill(0);
        build_lengths(&f.len, LEN_LIMIT, &mut self.lens.len, scratch);
        build_lengths(&f.aligned, ALIGNED_LIMIT, &mut self.lens.aligned, scratch);
        canonical_codes(&self.lens.main, &mut self.main);
        canonical_codes(&self.lens.len, &mut self.len);
        canonical_codes(&self.lens.aligned, &mut self.aligned);
    }
}

/// Aligned-offset block or verbatim block: whichever needs fewer bits for
/// the low 3 offset bits of matches in slots 8 and up (3 raw bits each in
/// a verbatim block; the aligned codeword plus 24 bits of code lengths in
/// an aligned block).
pub(crate) fn choose_block_type(f: &Freqs, lens: &Lens) -> u32 {
    let mut verbatim = 0u64;
    let mut aligned = 3 * ALIGNED_SYMS as u64;
    let mut used = 0;
    for (&n, &l) in f.aligned.iter().zip(&lens.aligned) {
        verbatim += 3 * u64::from(n);
        aligned += u64::from(l) * u64::from(n);
        used += usize::from(n > 0);
    }
    if used > 0 && aligned < verbatim {
        BLOCK_ALIGNED
    } else {
        BLOCK_VERBATIM
    }
}

/// Write a whole block of `size` bytes whose chosen items are `seqs`
/// (ending with a match-less sequence); `data` starts at the block.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_block(
    w: &mut BitWriter<'_>,
    block_type: u32,
    size: usize,
    window_order: u32,
    num_main: usize,
    data: &[u8],
    seqs: &[Seq],
    codes: &Codes,
    prev: &Lens,
    items: &mut Vec<u32>,
    scratch: &mut Scratch,
) {
    w.write(block_type, 3);
    if size == DEFAULT_BLOCK_SIZE {
        w.write(1, 1);
    } else {
        w.write(0, 1);
        if window_order >= 16 {
            // 24 bits, most significant first.
            w.write((size >> 8) as u32 & 0xFFFF, 16);
            w.write(size as u32 & 0xFF, 8);
        } else {
            w.write(size as u32 & 0xFFFF, 16);
        }
    }
    if block_type == BLOCK_ALIGNED {
        for &l in &codes.lens.aligned {
            w.write(u32::from(l), 3);
        }
    }
    write_lens(
        w,
        &codes.lens.main[..NUM_CHARS],
        &prev.main[..NUM_CHARS],
        items,
        scratch,
    );
    write_lens(
        w,
        &codes.lens.main[NUM_CHARS..num_main],
        &prev.main[NUM_CHARS..num_main],
        items,
        scratch,
    );
    write_lens(w, &codes.lens.len, &prev.len, items, scratch);
    write_items(w, block_type, data, seqs, codes);
}

/// Pretree items for `lens` against `prev`: `sym | extra << 5 | sym2 << 10`
/// (17: 4 to 19 zeros; 18: 20 to 51 zeros; 19: 4 or 5 copies of one
/// length, `sym2` its delta; 0..=16: one delta `(prev − len) mod 17`).
fn pretree_items(lens: &[u8], prev: &[u8], freqs: &mut [u32; PRE_SYMS], items: &mut Vec<u32>) {
    let delta = |i: usize| (u32::from(prev[i]) + 17 - u32::from(lens[i])) % 17;
    let n = lens.len();
    let mut i = 0;
    while i < n {
        let l = lens[i];
        let mut end = i + 1;
        while end < n && lens[end] == l {
            end += 1;
        }
        if l == 0 {
            while end - i >= 20 {
                let k = (end - i).min(51);
                freqs[18] += 1;
                items.push(18 | ((k as u32 - 20) << 5));
                i += k;
            }
            if end - i >= 4 {
                let k = (end - i).min(19);
                freqs[17] += 1;
                items.push(17 | ((k as u32 - 4) << 5));
                i += k;
            }
        } else {
            while end - i >= 4 {
                let k = (end - i).min(5);
                let d = delta(i);
                freqs[19] += 1;
                freqs[d as usize] += 1;
                items.push(19 | ((k as u32 - 4) << 5) | (d << 10));
                i += k;
            }
        }
        while i < end {
            let d = delta(i);
            freqs[d as usize] += 1;
            items.push(d);
            i += 1;
        }
    }
}

/// One pretree-coded section of codeword lengths.
fn write_lens(
    w: &mut BitWriter<'_>,
    lens: &[u8],
    prev: &[u8],
    items: &mut Vec<u32>,
    scratch: &mut Scratch,
) {
    let mut freqs = [0u32; PRE_SYMS];
    items.clear();
    pretree_items(lens, prev, &mut freqs, items);
    let mut plens = [0u8; PRE_SYMS];
    build_lengths(&freqs, PRE_LIMIT, &mut plens, scratch);
    let mut pcodes = [0u16; PRE_SYMS];
    canonical_codes(&plens, &mut pcodes);
    for &l in &plens {
        w.write(u32::from(l), 4);
    }
    for &it in items.iter() {
        let sym = (it & 31) as usize;
        w.put(u32::from(pcodes[sym]), u32::from(plens[sym]));
        match sym {
            17 => w.put((it >> 5) & 15, 4),
            18 => w.put((it >> 5) & 31, 5),
            19 => {
                w.put((it >> 5) & 1, 1);
                let s2 = (it >> 10) as usize;
                w.put(u32::from(pcodes[s2]), u32::from(plens[s2]));
            }
            _ => {}
        }
        w.flush();
    }
}

/// Bits one pretree-coded section of codeword lengths takes.
fn lens_bits(lens: &[u8], prev: &[u8], items: &mut Vec<u32>, scratch: &mut Scratch) -> u64 {
    let mut freqs = [0u32; PRE_SYMS];
    items.clear();
    pretree_items(lens, prev, &mut freqs, items);
    let mut plens = [0u8; PRE_SYMS];
    build_lengths(&freqs, PRE_LIMIT, &mut plens, scratch);
    let mut bits = 4 * PRE_SYMS as u64;
    for (&f, &l) in freqs.iter().zip(&plens) {
        bits += u64::from(f) * u64::from(l);
    }
    bits + u64::from(freqs[17]) * 4 + u64::from(freqs[18]) * 5 + u64::from(freqs[19])
}

/// Exact size in bits of a block of `size` bytes with symbol counts `f`
/// coded with `codes` (built from `f`) after a block whose lengths were
/// `prev`, leaving out the extra offset bits (the same however the data
/// is cut into blocks).
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_bits(
    f: &Freqs,
    codes: &Codes,
    prev: &Lens,
    size: usize,
    window_order: u32,
    num_main: usize,
    items: &mut Vec<u32>,
    scratch: &mut Scratch,
) -> u64 {
    let l = &codes.lens;
    let mut bits = 3 + if size == DEFAULT_BLOCK_SIZE {
        1
    } else if window_order >= 16 {
        25
    } else {
        17
    };
    bits += lens_bits(
        &l.main[..NUM_CHARS],
        &prev.main[..NUM_CHARS],
        items,
        scratch,
    );
    bits += lens_bits(
        &l.main[NUM_CHARS..num_main],
        &prev.main[NUM_CHARS..num_main],
        items,
        scratch,
    );
    bits += lens_bits(&l.len, &prev.len, items, scratch);
    for (&n, &c) in f.main[..num_main].iter().zip(&l.main[..num_main]) {
        bits += u64::from(n) * u64::from(c);
    }
    for (&n, &c) in f.len.iter().zip(&l.len) {
        bits += u64::from(n) * u64::from(c);
    }
    let (mut verbatim, mut aligned) = (0u64, 3 * ALIGNED_SYMS as u64);
    for (&n, &c) in f.aligned.iter().zip(&l.aligned) {
        verbatim += 3 * u64::from(n);
        aligned += u64::from(n) * u64::from(c);
    }
    bits + if choose_block_type(f, l) == BLOCK_ALIGNED {
        aligned
    } else {
        verbatim
    }
}

/// The literals and matches.
fn write_items(w: &mut BitWriter<'_>, block_type: u32, data: &[u8], seqs: &[Seq], codes: &Codes) {
    let min_aligned = if block_type == BLOCK_ALIGNED {
        MIN_ALIGNED_SLOT
    } else {
        usize::MAX
    };
    let ml = &codes.lens.main;
    let mc = &codes.main;
    let mut p = 0usize;
    for s in seqs {
        let lits = &data[p..p + s.lits as usize];
        p += s.lits as usize;
        let mut it = lits.chunks_exact(3);
        for t in &mut it {
            for &b in t {
                w.put(u32::from(mc[b as usize]), u32::from(ml[b as usize]));
            }
            w.flush();
        }
        for &b in it.remainder() {
            w.put(u32::from(mc[b as usize]), u32::from(ml[b as usize]));
        }
        w.flush();
        if s.len == 0 {
            continue;
        }
        p += s.len as usize;
        let sym = s.main_sym as usize;
        w.put(u32::from(mc[sym]), u32::from(ml[sym]));
        let hdr = (sym - NUM_CHARS) % 8;
        if hdr == NUM_PRIMARY_LENS {
            let ls = s.len as usize - 9;
            w.put(u32::from(codes.len[ls]), u32::from(codes.lens.len[ls]));
        }
        w.flush();
        let slot = (sym - NUM_CHARS) / 8;
        if slot >= 3 {
            let nbits = u32::from(EXTRA_BITS[slot]);
            let extra = s.adj - POS_BASE[slot];
            if slot >= min_aligned {
                w.put(extra >> 3, nbits - 3);
                let a = (extra & 7) as usize;
                w.put(
                    u32::from(codes.aligned[a]),
                    u32::from(codes.lens.aligned[a]),
                );
            } else {
                w.put(extra, nbits);
            }
            w.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode pretree items back against `prev`, as the decoder does.
    fn apply(items: &[u32], prev: &[u8]) -> Vec<u8> {
        let mut out = prev.to_vec();
        let mut i = 0;
        for &it in items {
            let sym = it & 31;
            match sym {
                17 => {
                    let k = 4 + ((it >> 5) & 15) as usize;
                    out[i..i + k].fill(0);
                    i += k;
                }
                18 => {
                    let k = 20 + ((it >> 5) & 31) as usize;
                    out[i..i + k].fill(0);
                    i += k;
                }
                19 => {
                    let k = 4 + ((it >> 5) & 1) as usize;
                    let d = it >> 10;
                    let v = ((u32::from(out[i]) + 17 - d) % 17) as u8;
                    out[i..i + k].fill(v);
                    i += k;
                }
                d => {
                    out[i] = ((u32::from(out[i]) + 17 - d) % 17) as u8;
                    i += 1;
                }
            }
        }
        assert_eq!(i, prev.len());
        out
    }

    #[test]
    fn pretree_items_reproduce_lengths() {
        let mut x = 12345u32;
        for round in 0..300 {
            let n = 1 + (round * 7) % 300;
            let mut gen = || {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            };
            let runny = round % 3;
            let mut lens = vec![0u8; n];
            let mut prev = vec![0u8; n];
            let mut i = 0;
            while i < n {
                let run = 1 + (gen() as usize % if runny == 0 { 2 } else { 60 });
                let v = if gen() % 3 == 0 {
                    0
                } else {
                    (gen() % 17) as u8
                };
                for l in lens.iter_mut().skip(i).take(run) {
                    *l = v;
                }
                i += run;
            }
            for p in prev.iter_mut() {
                *p = if round % 2 == 0 {
                    0
                } else {
                    (gen() % 17) as u8
                };
            }
            let mut f = [0u32; PRE_SYMS];
            let mut items = Vec::new();
            pretree_items(&lens, &prev, &mut f, &mut items);
            assert_eq!(apply(&items, &prev), lens, "round {round}");
        }
    }
}
