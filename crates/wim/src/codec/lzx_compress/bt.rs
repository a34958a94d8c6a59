//! Binary-tree match finder for the near-optimal parser.
//!
//! Exact small hash tables give the most recent match of length 2 and of
//! length 3 (two candidates); longer matches come from binary search trees,
//! one per hash bucket of the next 4 bytes, holding every earlier position
//! ordered by the bytes that follow it. Inserting the current position
//! re-roots its tree at it: one walk down the tree both finds the
//! candidates that share the longest prefixes with the current position
//! and splits the tree into the parts before and after it (the classic
//! scheme of LZMA's "bt4" finder). Depth and "nice length" limits bound the
//! work per position.
//!
//! Positions are stored as `P` (u16 for chunks up to 64 KiB, u32 beyond)
//! to keep the tables small; 0 means "empty", so position 0 is never
//! offered as a match source.

use super::{load_u32, match_len};

/// A match: `len` bytes (9 bits) at `off` bytes back (21 bits), packed
/// in 32 bits to keep the per-block match cache small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Match(u32);

impl Match {
    #[inline(always)]
    pub(crate) fn new(len: usize, off: usize) -> Self {
        debug_assert!(len < 512 && off < 1 << 23);
        Match(len as u32 | (off as u32) << 9)
    }
    #[inline(always)]
    pub(crate) fn len(self) -> usize {
        (self.0 & 511) as usize
    }
    #[inline(always)]
    pub(crate) fn off(self) -> usize {
        (self.0 >> 9) as usize
    }
}

/// A stored position.
pub(crate) trait Pos: Copy + Default + Send + 'static {
    fn make(p: usize) -> Self;
    fn get(self) -> usize;
}

impl Pos for u16 {
    #[inline(always)]
    fn make(p: usize) -> Self {
        p as u16
    }
    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
}

impl Pos for u32 {
    #[inline(always)]
    fn make(p: usize) -> Self {
        p as u32
    }
    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
}

const HASH2_BITS: u32 = 12;
const HASH3_BITS: u32 = 15;

/// Hint the CPU to fetch the cache line at `p` (which need not be valid:
/// a prefetch never faults).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint without architectural effect; it does
    // not dereference `p`.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline(always)]
fn hash(v: u32, bits: u32) -> usize {
    (v.wrapping_mul(0x1E35_A7BD) >> (32 - bits)) as usize
}

pub(crate) struct BtFinder<P: Pos> {
    hash2: Vec<P>,
    hash3: Vec<[P; 2]>,
    hash4: Vec<P>,
    hash4_bits: u32,
    /// Left (smaller) and right (greater) child of each position `p`, at
    /// `2p` and `2p + 1`.
    child: Vec<P>,
}

/// Fewest bytes that must remain at a position for the finder to look at it.
pub(crate) const MIN_REMAINING: usize = 4;

impl<P: Pos> BtFinder<P> {
    pub(crate) fn new(max_chunk: usize) -> Self {
        let hash4_bits = if max_chunk <= 1 << 16 { 16 } else { 17 };
        BtFinder {
            hash2: vec![P::default(); 1 << HASH2_BITS],
            hash3: vec![[P::default(); 2]; 1 << HASH3_BITS],
            hash4: vec![P::default(); 1 << hash4_bits],
            hash4_bits,
            child: vec![P::default(); 2 * max_chunk],
        }
    }

    /// Forget all positions (start of a chunk).
    pub(crate) fn reset(&mut self) {
        self.hash2.fill(P::default());
        self.hash3.fill([P::default(); 2]);
        self.hash4.fill(P::default());
    }

    /// Insert position `pos` and, if `RECORD`, append its matches to `out`
    /// in strictly increasing length (offsets at most `max_off`). Needs
    /// `pos + MIN_REMAINING <= d.len()`, `nice <= max_len <= d.len() - pos`.
    /// Returns the longest length found (0 if none).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn advance<const RECORD: bool>(
        &mut self,
        d: &[u8],
        pos: usize,
        max_len: usize,
        nice: usize,
        depth: u32,
        max_off: usize,
        out: &mut Vec<Match>,
    ) -> usize {
        debug_assert!(
            pos + MIN_REMAINING <= d.len() && nice <= max_len && pos + max_len <= d.len()
        );
        let seq4 = load_u32(d, pos);
        let mut best = 0usize;
        // The next position's buckets are almost surely wanted next: start
        // loading them now.
        if pos + 5 <= d.len() {
            let next4 = load_u32(d, pos + 1);
            prefetch(
                self.hash3
                    .as_ptr()
                    .wrapping_add(hash(next4 & 0xFF_FFFF, HASH3_BITS)),
            );
            prefetch(
                self.hash4
                    .as_ptr()
                    .wrapping_add(hash(next4, self.hash4_bits)),
            );
        }

        let h2 = hash(seq4 & 0xFFFF, HASH2_BITS);
        let c2 = self.hash2[h2].get();
        self.hash2[h2] = P::make(pos);
        let h3 = hash(seq4 & 0xFF_FFFF, HASH3_BITS);
        let [c3a, c3b] = self.hash3[h3];
        self.hash3[h3] = [P::make(pos), c3a];
        if RECORD {
            if c2 != 0 && pos - c2 <= max_off && load_u32(d, c2) & 0xFFFF == seq4 & 0xFFFF {
                best = 2;
                out.push(Match::new(2, pos - c2));
            }
            for c in [c3a.get(), c3b.get()] {
                if c != 0 && pos - c <= max_off && load_u32(d, c) & 0xFF_FFFF == seq4 & 0xFF_FFFF {
                    best = 3;
                    out.push(Match::new(3, pos - c));
                    break;
                }
            }
        }

        let h4 = hash(seq4, self.hash4_bits);
        let mut cur = self.hash4[h4].get();
        self.hash4[h4] = P::make(pos);
        // Every node reachable from a root is an earlier position of this
        // chunk, so `0 < cur < pos`; the loop checks it anyway (one
        // compare, together with the empty-child test). With
        // `pos + max_len <= d.len()`, `len < max_len` and
        // `2 * pos + 1 < child.len()` (checked here), every access below is
        // in bounds.
        if pos + max_len > d.len() || 2 * pos + 1 >= self.child.len() {
            return best;
        }
        let cp = self.child.as_mut_ptr();
        // Slots where the next smaller / greater node hangs.
        let mut lt_slot = 2 * pos;
        let mut gt_slot = 2 * pos + 1;
        if cur.wrapping_sub(1) >= pos.wrapping_sub(1) {
            // SAFETY: both slots are below 2 * pos + 2 <= child.len().
            unsafe {
                *cp.add(lt_slot) = P::default();
                *cp.add(gt_slot) = P::default();
            }
            return best;
        }
        let mut lt_len = 0usize;
        let mut gt_len = 0usize;
        let mut len = 0usize;
        let mut left = depth;
        let dp = d.as_ptr();
        // SAFETY: throughout, 0 < cur < pos, so the data reads at cur + len
        // and pos + len (len < max_len) are inside `d`, and the child slots
        // 2 * cur + 1 and the pending slots (all below 2 * pos + 2) are
        // inside `child`.
        unsafe {
            loop {
                let (mut a, mut b) = (*dp.add(cur + len), *dp.add(pos + len));
                if a == b {
                    len = match_len(d, cur, pos, len + 1, max_len);
                    if RECORD && len > best && pos - cur <= max_off {
                        best = len;
                        out.push(Match::new(len, pos - cur));
                    }
                    if len >= nice {
                        // Same bytes as far as we care: `cur` is replaced
                        // by `pos` in the tree, inheriting its children.
                        *cp.add(lt_slot) = *cp.add(2 * cur);
                        *cp.add(gt_slot) = *cp.add(2 * cur + 1);
                        return best;
                    }
                    // len < nice <= max_len.
                    (a, b) = (*dp.add(cur + len), *dp.add(pos + len));
                }
                if a < b {
                    *cp.add(lt_slot) = P::make(cur);
                    lt_slot = 2 * cur + 1;
                    lt_len = len;
                    len = len.min(gt_len);
                } else {
                    *cp.add(gt_slot) = P::make(cur);
                    gt_slot = 2 * cur;
                    gt_len = len;
                    len = len.min(lt_len);
                }
                cur = (*cp.add(if a < b { lt_slot } else { gt_slot })).get();
                left -= 1;
                if cur.wrapping_sub(1) >= pos.wrapping_sub(1) || left == 0 {
                    *cp.add(lt_slot) = P::default();
                    *cp.add(gt_slot) = P::default();
                    return best;
                }
            }
        }
    }
}
