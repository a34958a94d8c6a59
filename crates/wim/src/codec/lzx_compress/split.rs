//! Cutting a parsed block in two when two sets of Huffman codes take fewer
//! bits than one (MS-PATCH LZXD §2.3: each block carries its own codes,
//! sent as deltas against the previous block's).
//!
//! Windows executables change character every few kilobytes (code,
//! tables, strings, resources), so one chunk's best single code can be
//! far from either part's. Candidate cuts lie every `STEP` bytes (moved to
//! the end of a match that spans them); an entropy estimate of the two
//! parts' symbol counts picks the most promising one, and the exact sizes
//! of both ways (codes built, headers counted) decide.

use super::block::{block_bits, Codes, Freqs, Lens};
use super::huffman::Scratch;
use super::{Seq, MIN_ALIGNED_SLOT, MIN_SECONDARY_LEN, NUM_CHARS};

/// Spacing of candidate cuts.
const STEP: usize = 4096;
/// Neither part may be shorter.
const MIN_PART: usize = 4096;

/// A cut: before the first `lits` literals of `seqs[seq]` are done, i.e.
/// `pos` bytes into the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    pub seq: usize,
    pub lits: u32,
    pub pos: usize,
}

/// Reusable buffers.
pub(crate) struct Splitter {
    /// Symbol counts of the parts between consecutive candidate cuts.
    segs: Vec<Freqs>,
    cuts: Vec<Cut>,
    a: Freqs,
    b: Freqs,
    codes_a: Codes,
    codes_b: Codes,
}

fn count_match(f: &mut Freqs, s: &Seq) {
    let sym = s.main_sym as usize;
    f.main[sym] += 1;
    let len = s.len as usize;
    if len >= MIN_SECONDARY_LEN {
        f.len[len - MIN_SECONDARY_LEN] += 1;
    }
    if s.adj >= 3 && (sym - NUM_CHARS) / 8 >= MIN_ALIGNED_SLOT {
        f.aligned[(s.adj & 7) as usize] += 1;
    }
}

/// Estimated bits of a block with counts `f`: the entropy of each
/// alphabet plus a rough price for sending its code.
fn estimate(f: &Freqs, num_main: usize) -> f32 {
    fn part(counts: &[u32]) -> (f32, u32) {
        let total: u32 = counts.iter().sum();
        if total == 0 {
            return (0.0, 0);
        }
        let lt = (total as f32).log2();
        let mut bits = 0.0;
        let mut used = 0;
        for &n in counts {
            if n > 0 {
                bits += n as f32 * (lt - (n as f32).log2());
                used += 1;
            }
        }
        (bits, used)
    }
    let (m, mu) = part(&f.main[..num_main]);
    let (l, lu) = part(&f.len);
    let (a, _) = part(&f.aligned);
    let at: u32 = f.aligned.iter().sum();
    // About 4 bits per used symbol's length, and the three pretrees.
    m + l + a.min(3.0 * at as f32) + 4.0 * (mu + lu) as f32 + 240.0
}

impl Splitter {
    /// Counts and codes of the two parts of the last cut found.
    pub(crate) fn parts(&self) -> (&Freqs, &Codes, &Freqs, &Codes) {
        (&self.a, &self.codes_a, &self.b, &self.codes_b)
    }

    pub(crate) fn new() -> Self {
        Splitter {
            segs: Vec::new(),
            cuts: Vec::new(),
            a: Freqs::new(),
            b: Freqs::new(),
            codes_a: Codes::new(),
            codes_b: Codes::new(),
        }
    }

    /// The cut of the block `data` (its items `seqs`, symbol counts
    /// `whole` and codes `whole_codes`, following a block with lengths
    /// `prev`) that makes the output smaller, if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn find(
        &mut self,
        data: &[u8],
        seqs: &[Seq],
        whole: &Freqs,
        whole_codes: &Codes,
        prev: &Lens,
        window_order: u32,
        num_main: usize,
        items: &mut Vec<u32>,
        scratch: &mut Scratch,
    ) -> Option<Cut> {
        let size = data.len();
        if size < 2 * MIN_PART {
            return None;
        }
        self.cuts.clear();
        let mut nseg = 0;
        let seg = |segs: &mut Vec<Freqs>, k: usize| -> usize {
            if segs.len() <= k {
                segs.push(Freqs::new());
            } else {
                segs[k].clear();
            }
            k
        };
        let mut cur = seg(&mut self.segs, 0);
        let mut pos = 0usize;
        let mut next = STEP;
        for (k, s) in seqs.iter().enumerate() {
            let end_lits = pos + s.lits as usize;
            let run_start = pos;
            while next <= end_lits && next + MIN_PART <= size {
                for &b in data.get(pos..next).unwrap_or(&[]) {
                    self.segs[cur].main[b as usize] += 1;
                }
                pos = next;
                self.cuts.push(Cut {
                    seq: k,
                    lits: (pos - run_start) as u32,
                    pos,
                });
                nseg += 1;
                cur = seg(&mut self.segs, nseg);
                next += STEP;
            }
            for &b in data.get(pos..end_lits).unwrap_or(&[]) {
                self.segs[cur].main[b as usize] += 1;
            }
            pos = end_lits;
            if s.len == 0 {
                continue;
            }
            count_match(&mut self.segs[cur], s);
            pos += s.len as usize;
            if pos >= next {
                // The match spans a candidate: cut after it (if the rest
                // is long enough), and look for the next one beyond it.
                if pos + MIN_PART <= size && k + 1 < seqs.len() {
                    self.cuts.push(Cut {
                        seq: k + 1,
                        lits: 0,
                        pos,
                    });
                    nseg += 1;
                    cur = seg(&mut self.segs, nseg);
                }
                next = (pos / STEP + 1) * STEP;
            }
        }
        // Most promising cut by the estimate.
        let whole_est = estimate(whole, num_main);
        let mut best: Option<(f32, usize)> = None;
        self.a.clear();
        for (i, c) in self.cuts.iter().enumerate() {
            add(&mut self.a, &self.segs[i], num_main);
            if c.pos < MIN_PART {
                continue;
            }
            sub(&mut self.b, whole, &self.a, num_main);
            let gain = whole_est - estimate(&self.a, num_main) - estimate(&self.b, num_main);
            if gain > 0.0 && best.is_none_or(|(g, _)| gain > g) {
                best = Some((gain, i));
            }
        }
        let (_, i) = best?;
        // Exact sizes both ways.
        self.a.clear();
        for s in &self.segs[..=i] {
            add(&mut self.a, s, num_main);
        }
        sub(&mut self.b, whole, &self.a, num_main);
        let cut = self.cuts[i];
        let one = block_bits(
            whole,
            whole_codes,
            prev,
            size,
            window_order,
            num_main,
            items,
            scratch,
        );
        self.codes_a.build(&self.a, num_main, scratch);
        self.codes_b.build(&self.b, num_main, scratch);
        let two = block_bits(
            &self.a,
            &self.codes_a,
            prev,
            cut.pos,
            window_order,
            num_main,
            items,
            scratch,
        ) + block_bits(
            &self.b,
            &self.codes_b,
            &self.codes_a.lens,
            size - cut.pos,
            window_order,
            num_main,
            items,
            scratch,
        );
        (two < one).then_some(cut)
    }
}

fn add(to: &mut Freqs, f: &Freqs, num_main: usize) {
    for (t, &n) in to.main[..num_main].iter_mut().zip(&f.main[..num_main]) {
        *t += n;
    }
    for (t, &n) in to.len.iter_mut().zip(&f.len) {
        *t += n;
    }
    for (t, &n) in to.aligned.iter_mut().zip(&f.aligned) {
        *t += n;
    }
}

fn sub(to: &mut Freqs, whole: &Freqs, part: &Freqs, num_main: usize) {
    for ((t, &w), &p) in to.main[..num_main]
        .iter_mut()
        .zip(&whole.main[..num_main])
        .zip(&part.main[..num_main])
    {
        *t = w.saturating_sub(p);
    }
    for ((t, &w), &p) in to.len.iter_mut().zip(&whole.len).zip(&part.len) {
        *t = w.saturating_sub(p);
    }
    for ((t, &w), &p) in to.aligned.iter_mut().zip(&whole.aligned).zip(&part.aligned) {
        *t = w.saturating_sub(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literal-only block: counts, codes, and the splitter's answer.
    fn find_cut(data: &[u8]) -> Option<Cut> {
        let num_main = NUM_CHARS + 8 * 30;
        let seqs = [Seq {
            lits: data.len() as u32,
            ..Seq::default()
        }];
        let mut f = Freqs::new();
        for &b in data {
            f.main[b as usize] += 1;
        }
        let mut scratch = Scratch::default();
        let mut codes = Codes::new();
        codes.build(&f, num_main, &mut scratch);
        Splitter::new().find(
            data,
            &seqs,
            &f,
            &codes,
            &Lens::new(),
            15,
            num_main,
            &mut Vec::new(),
            &mut scratch,
        )
    }

    #[test]
    fn cuts_where_the_statistics_change() {
        let mut x = 1u32;
        let mut rnd = |k: u32| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) % k
        };
        let mut data: Vec<u8> = (0..20480).map(|_| b'a' + rnd(4) as u8).collect();
        data.extend((0..12288).map(|_| 0x80 + rnd(128) as u8));
        let cut = find_cut(&data).expect("two very different halves");
        assert_eq!(cut.pos, 20480);
        assert_eq!(cut.seq, 0);
        assert_eq!(cut.lits, 20480);
        // The same kind of bytes throughout: no cut.
        let same: Vec<u8> = (0..32768).map(|_| b'a' + rnd(16) as u8).collect();
        assert_eq!(find_cut(&same), None);
        // Too short to cut.
        assert_eq!(find_cut(&data[16384..24000]), None);
    }
}
