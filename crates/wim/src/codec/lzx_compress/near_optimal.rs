//! Near-optimal parsing: per block, every position's matches are cached
//! once (binary-tree finder), then a forward minimum-cost path search over
//! the graph of literals and matches picks the items, under a cost model in
//! fractions of a bit. The first model comes from a greedy parse observed
//! while finding matches; each later pass uses the Huffman code lengths
//! the previous path would get.
//!
//! The recent-offsets queue makes the true optimum path-dependent; as an
//! approximation each position keeps only the queue of its cheapest
//! arrival, and recent-offset matches are tried from that queue. For each
//! length only the cheapest-looking source is kept: recent offsets (R0,
//! then R1, R2) before explicit offsets, and smaller offsets before larger
//! ones (the finder reports them in that order).

use super::bitwriter::BitWriter;
use super::block::{Freqs, ALIGNED_LIMIT, LEN_LIMIT, MAIN_LIMIT};
use super::bt::{BtFinder, Match, Pos, MIN_REMAINING};
use super::{
    main_symbol, match_len, slot_of, Core, Queue, Seq, ALIGNED_SYMS, LEN_SYMS, MAX_MATCH,
    MAX_SLOTS, MIN_ALIGNED_SLOT, MIN_MATCH, MIN_SECONDARY_LEN, NUM_CHARS, QUEUE_INIT,
};

/// Cost units per bit.
pub(crate) const BIT: u32 = 16;
const INF: u32 = u32::MAX;
/// Blocks are at most this long.
pub(crate) const MAX_BLOCK: usize = 1 << 16;
const LENS: usize = MAX_MATCH - MIN_MATCH + 1;
const QMASK: u64 = (1 << 21) - 1;

/// Bit costs of every symbol, and of every (slot, length) match header
/// including its length symbol and verbatim extra bits (the aligned part
/// of slots >= 8 is costed separately).
pub(crate) struct Costs {
    main: [u32; super::MAX_MAIN_SYMS],
    len: [u32; LEN_SYMS],
    aligned: [u32; ALIGNED_SYMS],
    matches: Vec<u32>,
}

/// A position in the block: the cheapest arrival found so far (`cost`) and
/// how (`item`: `len | adj << 9`, len 0 for a literal).
#[derive(Clone, Copy, Default)]
struct Node {
    cost: u32,
    item: u32,
}

/// Queues are kept for the last `RING` nodes only: an arrival reaches back
/// at most `2 * MAX_MATCH + 1` nodes (a gap match).
const RING: usize = 1024;
/// Item flag of a "gap match": an explicit-offset match, one literal, then
/// a match at the same offset (R0), arriving as one step; the low bits hold
/// the R0 match's length. The first match (`len | adj << 9`) waits in a
/// side ring until the node is final, then moves to the previous node's
/// `cost` (no longer needed by then, and that node is inside the R0 match,
/// so never on the path through this one).
const GAP: u32 = 1 << 31;

pub(crate) struct State {
    cache: Vec<Match>,
    nodes: Vec<Node>,
    /// Queue at the end of the last path.
    end_queue: Queue,
    costs: Costs,
    greedy: Freqs,
    path: Vec<(u32, u32, u32)>,
}

impl State {
    pub(crate) fn new(max_chunk: usize) -> Self {
        let nodes = max_chunk.min(MAX_BLOCK) + 1;
        State {
            // About 3 matches per position are typical; more grow it.
            cache: Vec::with_capacity(3 * nodes + MAX_MATCH),
            nodes: vec![Node::default(); nodes],
            end_queue: QUEUE_INIT,
            costs: Costs {
                main: [0; super::MAX_MAIN_SYMS],
                len: [0; LEN_SYMS],
                aligned: [0; ALIGNED_SYMS],
                matches: vec![0; MAX_SLOTS * LENS],
            },
            greedy: Freqs::new(),
            path: Vec::new(),
        }
    }
}

#[inline(always)]
fn queue_get(q: Queue, r: usize) -> usize {
    ((q >> (21 * r)) & QMASK) as usize
}

#[inline(always)]
fn queue_push(q: Queue, off: u32) -> Queue {
    ((q << 21) | u64::from(off)) & ((1 << 63) - 1)
}

#[inline(always)]
fn queue_swap(q: Queue, r: usize) -> Queue {
    if r == 0 {
        return q;
    }
    let a = q & QMASK;
    let b = (q >> (21 * r)) & QMASK;
    (q & !(QMASK | (QMASK << (21 * r)))) | b | (a << (21 * r))
}

/// `-log2(p)` in cost units, at least one bit.
fn cost_of(p: f32) -> u32 {
    let c = (-p.log2() * BIT as f32) as i64;
    c.clamp(BIT as i64, 24 * BIT as i64) as u32
}

impl Costs {
    /// Costs from symbol counts of a rough parse, smoothed so unseen
    /// symbols stay usable.
    fn set_from_counts(&mut self, f: &Freqs, num_main: usize) {
        let total: u32 = f.main[..num_main].iter().sum::<u32>().max(1);
        let t = total as f32;
        let lits: u32 = f.main[..NUM_CHARS].iter().sum();
        // Unseen literals: as if seen half a time.
        for s in 0..NUM_CHARS {
            let n = f.main[s] as f32;
            self.main[s] = cost_of((n.max(0.5)) / t);
        }
        // Match headers: the counted ones by frequency; unseen ones share
        // a small part of the match probability.
        let matches = (total - lits) as f32;
        let headers = (num_main - NUM_CHARS) as f32;
        let unseen_p = (matches.max(1.0) / t) / headers;
        for s in NUM_CHARS..num_main {
            let n = f.main[s] as f32;
            self.main[s] = if n > 0.0 {
                cost_of(n / t)
            } else {
                cost_of(unseen_p)
            };
        }
        let lt: u32 = f.len.iter().sum();
        for s in 0..LEN_SYMS {
            // Short lengths are the usual ones: a mild slope for the
            // unseen, frequencies for the seen.
            let n = f.len[s] as f32;
            let prior = 1.0 / (8.0 + s as f32);
            let p = (n + prior) / (lt as f32 + 1.0);
            self.len[s] = cost_of(p);
        }
        let at: u32 = f.aligned.iter().sum();
        for s in 0..ALIGNED_SYMS {
            let p = (f.aligned[s] as f32 + 1.0) / (at as f32 + 8.0);
            self.aligned[s] = cost_of(p).min(7 * BIT);
        }
    }

    /// Costs from the codeword lengths a path's counts would get; unused
    /// symbols cost the longest codeword.
    fn set_from_lens(&mut self, l: &super::Lens, num_main: usize) {
        for (c, &n) in self.main[..num_main].iter_mut().zip(&l.main[..num_main]) {
            *c = u32::from(if n > 0 { n } else { MAIN_LIMIT as u8 }) * BIT;
        }
        for (c, &n) in self.len.iter_mut().zip(&l.len) {
            *c = u32::from(if n > 0 { n } else { LEN_LIMIT as u8 }) * BIT;
        }
        for (c, &n) in self.aligned.iter_mut().zip(&l.aligned) {
            *c = u32::from(if n > 0 { n } else { ALIGNED_LIMIT as u8 }) * BIT;
        }
    }

    /// Fill the (slot, length) table.
    fn fill_matches(&mut self, num_main: usize) {
        let slots = (num_main - NUM_CHARS) / 8;
        for slot in 0..slots {
            let mut extra = u32::from(super::EXTRA_BITS[slot]) * BIT;
            if slot >= MIN_ALIGNED_SLOT {
                extra -= 3 * BIT;
            }
            let row = &mut self.matches[slot * LENS..(slot + 1) * LENS];
            let hdr = NUM_CHARS + 8 * slot;
            for (i, c) in row.iter_mut().enumerate() {
                let len = i + MIN_MATCH;
                *c = if len < MIN_SECONDARY_LEN {
                    self.main[hdr + i] + extra
                } else {
                    self.main[hdr + 7] + self.len[len - MIN_SECONDARY_LEN] + extra
                };
            }
        }
    }
}

/// Compress `core.buf` into `w` with near-optimal parsing; false if the
/// output already exceeds the input.
pub(crate) fn compress<P: Pos>(
    core: &mut Core,
    f: &mut BtFinder<P>,
    w: &mut BitWriter<'_>,
) -> bool {
    let n = core.buf.len();
    f.reset();
    let mut queue = QUEUE_INIT;
    let mut start = 0usize;
    let mut pos = 0usize;
    let params = core.params;
    while start < n {
        let block_cap = n.min(start + MAX_BLOCK);
        // Find and cache matches, observing a greedy parse for the first
        // cost model.
        {
            let d = &core.buf[..];
            let st = &mut core.opt;
            st.cache.clear();
            st.greedy.clear();
            let mut skip_until = pos;
            let mut next_obs = pos;
            let mut gq = QUEUE_INIT;
            while pos < block_cap {
                let rem = n - pos;
                if rem < MIN_REMAINING {
                    st.cache.push(Match::default());
                    if pos >= next_obs {
                        st.greedy.main[d[pos] as usize] += 1;
                        next_obs = pos + 1;
                    }
                    pos += 1;
                    continue;
                }
                let max_len = rem.min(MAX_MATCH);
                let nice = params.nice.min(max_len);
                if pos >= skip_until {
                    let hdr = st.cache.len();
                    st.cache.push(Match::default());
                    let best = f.advance::<true>(
                        d,
                        pos,
                        max_len,
                        nice,
                        params.depth,
                        core.max_off,
                        &mut st.cache,
                    );
                    let nm = st.cache.len() - hdr - 1;
                    st.cache[hdr] = Match::new(nm, 0);
                    if pos >= next_obs {
                        if best >= 3 {
                            let m = st.cache[st.cache.len() - 1];
                            gq = observe_match(&mut st.greedy, m, gq);
                            next_obs = pos + m.len();
                        } else {
                            st.greedy.main[d[pos] as usize] += 1;
                            next_obs = pos + 1;
                        }
                    }
                    if best >= nice {
                        skip_until = pos + best;
                    }
                } else {
                    f.advance::<false>(d, pos, nice, nice, params.depth, 0, &mut st.cache);
                    st.cache.push(Match::default());
                }
                pos += 1;
            }
        }
        let end = pos;
        core.opt
            .costs
            .set_from_counts(&core.opt.greedy, core.num_main);
        for pass in 0..params.passes {
            core.opt.costs.fill_matches(core.num_main);
            min_cost_path(&core.buf, start, end, &mut core.opt, queue);
            if pass + 1 < params.passes {
                core.freqs.clear();
                tally_path(&core.buf, start, end, &mut core.opt, &mut core.freqs, None);
                core.codes
                    .build(&core.freqs, core.num_main, &mut core.scratch);
                core.opt
                    .costs
                    .set_from_lens(&core.codes.lens, core.num_main);
            }
        }
        core.freqs.clear();
        queue = tally_path(
            &core.buf,
            start,
            end,
            &mut core.opt,
            &mut core.freqs,
            Some(&mut core.seqs),
        )
        .unwrap_or(queue);
        core.flush_block(w, start, end);
        if w.len() >= n {
            return false;
        }
        start = end;
    }
    true
}

/// Count a greedy match into `f` (recent offsets recognised through the
/// greedy parse's own queue `q`); returns the new queue.
fn observe_match(f: &mut Freqs, m: Match, q: Queue) -> Queue {
    let len = m.len();
    let off = m.off();
    let (slot, nq) = match (0..3).find(|&r| queue_get(q, r) == off) {
        Some(r) => (r, queue_swap(q, r)),
        None => {
            let adj = m.off() as u32 + 2;
            let slot = slot_of(adj);
            if slot >= MIN_ALIGNED_SLOT {
                f.aligned[(adj & 7) as usize] += 1;
            }
            (slot, queue_push(q, m.off() as u32))
        }
    };
    f.main[main_symbol(slot, len)] += 1;
    if len >= MIN_SECONDARY_LEN {
        f.len[len - MIN_SECONDARY_LEN] += 1;
    }
    nq
}

/// Forward minimum-cost path over `d[start..end]`: fills `st.nodes` and
/// `st.end_queue`.
fn min_cost_path(d: &[u8], start: usize, end: usize, st: &mut State, q0: Queue) {
    let l = end - start;
    if end > d.len() || st.nodes.len() <= l || st.costs.matches.len() < MAX_SLOTS * LENS {
        return;
    }
    let nodes = &mut st.nodes[..=l];
    for n in nodes.iter_mut() {
        n.cost = INF;
    }
    nodes[0].cost = 0;
    // All node accesses below go through `np`: nodes i..=i + max_len with
    // max_len <= l - i, so within the l + 1 nodes.
    let np = nodes.as_mut_ptr();
    let dp = d.as_ptr();
    let rows = st.costs.matches.as_ptr();
    let main = &st.costs.main;
    let aligned = &st.costs.aligned;
    let cache = &st.cache[..];
    let mut ci = 0usize;
    let mut ring = [0 as Queue; RING];
    let mut gap_ring = [0u32; RING];
    ring[0] = q0;
    for i in 0..l {
        let p = start + i;
        let Some(hdr) = cache.get(ci) else {
            break;
        };
        let nm = hdr.len();
        let Some(ms) = cache.get(ci + 1..ci + 1 + nm) else {
            break;
        };
        ci += 1 + nm;
        // SAFETY: i <= l.
        let c0 = unsafe { (*np.add(i)).cost };
        let q = ring[i % RING];
        let max_len = (l - i).min(MAX_MATCH);
        if nm > 0 && max_len >= MIN_MATCH {
            // SAFETY (for every `relax` below): the nodes reached are
            // i + k for k <= max_len, at most l; the cost rows are indexed
            // by k - 2 <= MAX_MATCH - 2 < LENS within row `slot` <
            // MAX_SLOTS of `rows` (MAX_SLOTS * LENS entries, checked).
            let here = unsafe { np.add(i) };
            let mut next = MIN_MATCH;
            // SAFETY: p + 2 <= end <= d.len() as max_len >= 2.
            let cur2 = unsafe { dp.add(p).cast::<u16>().read_unaligned() };
            for r in 0..3 {
                let off = queue_get(q, r);
                // SAFETY: off <= p is checked first, so p - off + 2 <= d.len().
                if off > p || unsafe { dp.add(p - off).cast::<u16>().read_unaligned() } != cur2 {
                    continue;
                }
                let len = match_len(d, p - off, p, 2, max_len);
                if len >= next {
                    unsafe { relax(here, rows.add(r * LENS), next, len, c0, (r as u32) << 9) };
                    next = len + 1;
                }
            }
            let mut longest = None;
            for m in ms {
                let ml = m.len().min(max_len);
                if ml < next {
                    continue;
                }
                let adj = m.off() as u32 + 2;
                let slot = slot_of(adj).min(MAX_SLOTS - 1);
                let base = if slot >= MIN_ALIGNED_SLOT {
                    c0 + aligned[(adj & 7) as usize]
                } else {
                    c0
                };
                let row = unsafe { rows.add(slot * LENS) };
                unsafe { relax(here, row, next, ml, base, adj << 9) };
                next = ml + 1;
                longest = Some((ml, m.off(), adj, base, row));
            }
            // The longest explicit match, a literal, then R0 again.
            if let Some((ml, off, adj, base, row)) = longest {
                let lit = p + ml;
                // At least the literal and two bytes of R0 match left:
                // lit + 3 <= end; off <= p as for any found match.
                // SAFETY: both 2-byte reads end at or before lit + 3.
                if l - i >= ml + 3
                    && off <= p
                    && unsafe {
                        dp.add(lit + 1).cast::<u16>().read_unaligned()
                            == dp.add(lit + 1 - off).cast::<u16>().read_unaligned()
                    }
                {
                    // SAFETY: ml - 2 < LENS.
                    let cost = base + unsafe { *row.add(ml - MIN_MATCH) };
                    let r0_max = (l - i - ml - 1).min(MAX_MATCH);
                    let r0 = match_len(d, lit + 1 - off, lit + 1, 2, r0_max);
                    let total = ml + 1 + r0;
                    // SAFETY: row 0 has LENS entries; r0 - 2 < LENS.
                    let c = cost + main[d[lit] as usize] + unsafe { *rows.add(r0 - MIN_MATCH) };
                    // SAFETY: i + total <= l.
                    let n = unsafe { &mut *np.add(i + total) };
                    if c < n.cost {
                        n.cost = c;
                        n.item = GAP | r0 as u32;
                        gap_ring[(i + total) % RING] = ml as u32 | adj << 9;
                    }
                }
            }
        }
        // The literal, and the queue of the cheapest arrival at i + 1.
        let c = c0 + main[d[p] as usize];
        // SAFETY: i + 1 <= l.
        let n1 = unsafe { &mut *np.add(i + 1) };
        ring[(i + 1) % RING] = if c <= n1.cost {
            n1.cost = c;
            n1.item = 0;
            q
        } else if n1.item & GAP != 0 {
            let r0 = (n1.item & 511) as usize;
            let first = gap_ring[(i + 1) % RING];
            let len = (first & 511) as usize;
            // SAFETY: i <= l; node i is inside the R0 part (r0 >= 2).
            unsafe { (*np.add(i)).cost = first };
            queue_push(ring[(i - r0 - len) % RING], (first >> 9) - 2)
        } else {
            let len = (n1.item & 511) as usize;
            let adj = n1.item >> 9;
            let src = ring[(i + 1 - len) % RING];
            if adj < 3 {
                queue_swap(src, adj as usize)
            } else {
                queue_push(src, adj - 2)
            }
        };
    }
    st.end_queue = ring[l % RING];
}

/// Offer arrivals of lengths `from..=to` from node `here`: node `here + k`
/// gets cost `base + row[k - 2]` where that is cheaper, with item
/// `k | tag`.
///
/// # Safety
/// `here + to` must be a node and `row` must have `to - 1` entries.
#[inline(always)]
unsafe fn relax(here: *mut Node, row: *const u32, from: usize, to: usize, base: u32, tag: u32) {
    // (An exclusive range: `from..=to` costs extra work per step.)
    for k in from..to + 1 {
        let n = &mut *here.add(k);
        let v = base + *row.add(k - MIN_MATCH);
        if v < n.cost {
            n.cost = v;
            n.item = k as u32 | tag;
        }
    }
}

/// Walk the chosen path backwards, count its symbols into `f`, and if
/// `seqs` is given, record its items there in order. Returns the queue at
/// the end of the block when recording.
fn tally_path(
    d: &[u8],
    start: usize,
    end: usize,
    st: &mut State,
    f: &mut Freqs,
    seqs: Option<&mut Vec<Seq>>,
) -> Option<Queue> {
    let l = end - start;
    let nodes = &st.nodes[..=l];
    let path = &mut st.path;
    path.clear();
    let mut j = l;
    while j > 0 {
        let mut it = nodes[j].item;
        let mut len = (it & 511) as usize;
        if len == 0 {
            f.main[d[start + j - 1] as usize] += 1;
            j -= 1;
            continue;
        }
        if it & GAP != 0 {
            // The R0 match and the literal; then the first match below.
            f.main[main_symbol(0, len)] += 1;
            if len >= MIN_SECONDARY_LEN {
                f.len[len - MIN_SECONDARY_LEN] += 1;
            }
            path.push(((j - len) as u32, len as u32, main_symbol(0, len) as u32));
            it = nodes[j - 1].cost;
            j -= len + 1;
            f.main[d[start + j] as usize] += 1;
            len = (it & 511) as usize;
            if len < MIN_MATCH || len > j {
                // Not a gap node after all: cannot happen for a path the
                // search built; stop rather than mis-walk.
                break;
            }
        }
        let adj = it >> 9;
        let slot = if adj < 3 {
            adj as usize
        } else {
            let s = slot_of(adj);
            if s >= MIN_ALIGNED_SLOT {
                f.aligned[(adj & 7) as usize] += 1;
            }
            s
        };
        let sym = main_symbol(slot, len);
        f.main[sym] += 1;
        if len >= MIN_SECONDARY_LEN {
            f.len[len - MIN_SECONDARY_LEN] += 1;
        }
        j -= len;
        path.push((j as u32, it, sym as u32));
    }
    let seqs = seqs?;
    seqs.clear();
    let mut at = 0u32;
    for &(p, it, sym) in path.iter().rev() {
        seqs.push(Seq {
            lits: p - at,
            len: (it & 511) as u16,
            main_sym: sym as u16,
            adj: it >> 9,
        });
        at = p + (it & 511);
    }
    seqs.push(Seq {
        lits: l as u32 - at,
        ..Seq::default()
    });
    Some(st.end_queue)
}
