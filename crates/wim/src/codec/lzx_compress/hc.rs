//! The fast level: hash chains over 4-byte prefixes (and a table of the
//! latest position of each 3-byte prefix) and lazy matching.
//!
//! At each position the longest match within the search depth and the
//! longest recent-offset match are compared by an estimated saving in bits
//! (8 per covered byte, minus the match's approximate price: recent
//! offsets are cheap, far offsets pay their extra bits); one position of
//! lookahead decides whether a literal now buys a better match next.

use super::bitwriter::BitWriter;
use super::near_optimal::MAX_BLOCK;
use super::{
    load_u32, main_symbol, match_len, slot_of, Core, Seq, EXTRA_BITS, MAX_MATCH, MIN_ALIGNED_SLOT,
    MIN_SECONDARY_LEN,
};

const HASH3_BITS: u32 = 14;
const HASH4_BITS: u32 = 15;

pub(crate) struct HcFinder {
    /// Latest position of each 3-byte hash (length-3 matches only).
    head3: Vec<u32>,
    /// Latest position of each 4-byte hash, chained through `prev`.
    head: Vec<u32>,
    prev: Vec<u32>,
    /// Positions are stored as `base + i`: entries below `base` belong to
    /// earlier chunks and count as empty, so a new chunk needs no clearing
    /// of the tables (0 is never a valid stamp).
    base: u32,
    /// `base` of the next chunk.
    next_base: u32,
    max_chunk: usize,
}

impl HcFinder {
    pub(crate) fn new(max_chunk: usize) -> Self {
        HcFinder {
            head3: vec![0; 1 << HASH3_BITS],
            head: vec![0; 1 << HASH4_BITS],
            prev: vec![0; max_chunk],
            base: 1,
            next_base: 1,
            max_chunk,
        }
    }

    /// Forget all positions (start of a chunk of `n` bytes).
    pub(crate) fn reset(&mut self, n: usize) {
        let n = n.min(self.max_chunk) as u32;
        match self.next_base.checked_add(n) {
            Some(_) => self.base = self.next_base,
            None => {
                // Stamps would wrap: clear once every ~4 GiB of input.
                self.head3.fill(0);
                self.head.fill(0);
                self.prev.fill(0);
                self.base = 1;
            }
        }
        self.next_base = self.base + n;
    }

    #[inline(always)]
    fn hash3(v: u32) -> usize {
        ((v & 0xFF_FFFF).wrapping_mul(0x1E35_A7BD) >> (32 - HASH3_BITS)) as usize
    }

    #[inline(always)]
    fn hash4(v: u32) -> usize {
        (v.wrapping_mul(0x1E35_A7BD) >> (32 - HASH4_BITS)) as usize
    }

    /// Insert position `i` (needs 4 readable bytes).
    #[inline(always)]
    fn insert(&mut self, d: &[u8], i: usize) {
        let v = load_u32(d, i);
        let stamp = self.base + i as u32;
        self.head3[Self::hash3(v)] = stamp;
        let h = Self::hash4(v);
        self.prev[i] = self.head[h];
        self.head[h] = stamp;
    }

    /// Longest match at `i` (not yet inserted) up to `max_len`, offsets at
    /// most `max_off`: `(len, offset)`, len 0 if none of 3 or more. A
    /// length-3 match comes from the latest position with the same 3-byte
    /// hash; longer ones from the chain of the 4-byte hash.
    #[inline(always)]
    fn longest(
        &self,
        d: &[u8],
        i: usize,
        max_len: usize,
        nice: usize,
        depth: u32,
        max_off: usize,
    ) -> (usize, usize) {
        let mut best = (0usize, 0usize);
        if max_len < 4 || i + max_len > d.len() {
            return best;
        }
        let first = load_u32(d, i);
        let c3 = self.head3[Self::hash3(first)];
        if c3 >= self.base {
            let c = (c3 - self.base) as usize;
            if c < i && i - c <= max_off && load_u32(d, c) & 0xFF_FFFF == first & 0xFF_FFFF {
                best = (3, i - c);
            }
        }
        let mut cand = self.head[Self::hash4(first)];
        let mut left = depth;
        let dp = d.as_ptr();
        while cand >= self.base && left > 0 {
            let c = (cand - self.base) as usize;
            // Chains hold earlier positions of this chunk only.
            if c >= i || i - c > max_off {
                break;
            }
            let b = best.0.min(max_len - 1);
            // SAFETY: c < i, b < max_len and i + max_len <= d.len(), so
            // the bytes at c + b and i + b and the 4 bytes at c (max_len
            // >= 4) are inside `d`.
            let (x, y, head) = unsafe {
                (
                    *dp.add(c + b),
                    *dp.add(i + b),
                    dp.add(c).cast::<u32>().read_unaligned(),
                )
            };
            // Quick reject on the byte that would extend the best.
            if x == y && u32::from_le(head) == first {
                let l = match_len(d, c, i, 4, max_len);
                if l > best.0 {
                    best = (l, i - c);
                    if l >= nice {
                        break;
                    }
                }
            }
            cand = self.prev[c];
            left -= 1;
        }
        best
    }
}

/// Approximate bits saved by a match of `len` costing `bits`.
#[inline(always)]
fn gain(len: usize, bits: i32) -> i32 {
    8 * len as i32 - bits
}

/// Approximate price in bits of an explicit-offset match.
#[inline(always)]
fn explicit_bits(len: usize, off: usize) -> i32 {
    let slot = slot_of(off as u32 + 2);
    9 + i32::from(EXTRA_BITS[slot]) + if len >= MIN_SECONDARY_LEN { 4 } else { 0 }
}

/// Approximate price in bits of a recent-offset match.
#[inline(always)]
fn rep_bits(len: usize, r: usize) -> i32 {
    6 + r as i32 + if len >= MIN_SECONDARY_LEN { 4 } else { 0 }
}

/// Best candidate at `i`: `(gain, len, adj)` with adj the recent index
/// (0..=2) or offset + 2; gain <= 0 means "take a literal".
#[inline(always)]
fn best_at(
    core: &Core,
    f: &HcFinder,
    i: usize,
    rec: &[u32; 3],
    n: usize,
    depth: u32,
) -> (i32, usize, u32) {
    let d = &core.buf[..];
    let max_len = (n - i).min(MAX_MATCH);
    let nice = core.params.nice.min(max_len);
    let mut best = (0i32, 0usize, 0u32);
    if max_len < 4 {
        return best;
    }
    for (r, &off) in rec.iter().enumerate() {
        let off = off as usize;
        if off <= i && d[i] == d[i - off] && d[i + 1] == d[i + 1 - off] {
            let len = match_len(d, i - off, i, 2, max_len);
            let g = gain(len, rep_bits(len, r));
            if g > best.0 {
                best = (g, len, r as u32);
            }
        }
    }
    if best.1 >= nice {
        return best;
    }
    let (len, off) = f.longest(d, i, max_len, nice, depth, core.max_off);
    if len >= 3 && !rec.contains(&(off as u32)) {
        let g = gain(len, explicit_bits(len, off));
        if g > best.0 {
            best = (g, len, off as u32 + 2);
        }
    }
    best
}

/// Compress `core.buf` into `w` at the fast level; false if the output
/// already exceeds the input.
pub(crate) fn compress(core: &mut Core, f: &mut HcFinder, w: &mut BitWriter<'_>) -> bool {
    let n = core.buf.len();
    f.reset(n);
    let depth = core.params.depth;
    // The lazy look one position ahead searches half as deep.
    let lazy_depth = (depth / 2).max(1);
    let mut rec = [1u32; 3];
    let mut start = 0usize;
    let mut i = 0usize;
    while start < n {
        let end = n.min(start + MAX_BLOCK);
        core.freqs.clear();
        core.seqs.clear();
        let mut lit_start = i;
        while i < end {
            let mut cur = best_at(core, f, i, &rec, end, depth);
            if i + 4 <= n {
                f.insert(&core.buf, i);
            }
            if cur.0 <= 0 {
                core.freqs.main[core.buf[i] as usize] += 1;
                i += 1;
                continue;
            }
            // Lazy step: a literal now, a better match next?
            while cur.1 < core.params.nice && i + 1 < end {
                let next = best_at(core, f, i + 1, &rec, end, lazy_depth);
                if next.0 > cur.0 + 6 {
                    core.freqs.main[core.buf[i] as usize] += 1;
                    i += 1;
                    if i + 4 <= n {
                        f.insert(&core.buf, i);
                    }
                    cur = next;
                } else {
                    break;
                }
            }
            let (_, len, adj) = cur;
            let slot = if adj < 3 {
                let r = adj as usize;
                rec.swap(0, r);
                r
            } else {
                rec[2] = rec[1];
                rec[1] = rec[0];
                rec[0] = adj - 2;
                let s = slot_of(adj);
                if s >= MIN_ALIGNED_SLOT {
                    core.freqs.aligned[(adj & 7) as usize] += 1;
                }
                s
            };
            let sym = main_symbol(slot, len);
            core.freqs.main[sym] += 1;
            if len >= MIN_SECONDARY_LEN {
                core.freqs.len[len - MIN_SECONDARY_LEN] += 1;
            }
            core.seqs.push(Seq {
                lits: (i - lit_start) as u32,
                len: len as u16,
                main_sym: sym as u16,
                adj,
            });
            for j in i + 1..(i + len).min(n.saturating_sub(3)) {
                f.insert(&core.buf, j);
            }
            i += len;
            lit_start = i;
        }
        core.seqs.push(Seq {
            lits: (i - lit_start) as u32,
            ..Seq::default()
        });
        core.flush_block(w, start, i);
        if w.len() >= n {
            return false;
        }
        start = i;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_hide_earlier_chunks_and_wrap_by_clearing() {
        let d: Vec<u8> = b"abcdabcdabcdabcd".repeat(4);
        let mut f = HcFinder::new(64);
        f.reset(d.len());
        for i in 0..8 {
            f.insert(&d, i);
        }
        assert_eq!(f.longest(&d, 8, 32, 32, 8, 60), (32, 4));
        // A new chunk sees nothing of the previous one.
        f.reset(d.len());
        assert_eq!(f.longest(&d, 8, 32, 32, 8, 60), (0, 0));
        // Near the end of the stamp range the tables are cleared instead.
        f.next_base = u32::MAX - 10;
        f.reset(d.len());
        assert_eq!(f.base, 1);
        assert!(f
            .head
            .iter()
            .chain(&f.head3)
            .chain(&f.prev)
            .all(|&s| s == 0));
        for i in 0..8 {
            f.insert(&d, i);
        }
        assert_eq!(f.longest(&d, 8, 32, 32, 8, 60), (32, 4));
    }
}
