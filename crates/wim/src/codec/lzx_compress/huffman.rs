//! Length-limited canonical Huffman codes for the LZX encoder (MS-PATCH
//! LZXD §2.2: canonical codes, shorter codewords first and symbols in
//! increasing order within one length).
//!
//! Lengths come from the in-place minimum-redundancy algorithm of Moffat
//! and Katajainen (1995) over the used symbols sorted by frequency; when
//! the longest codeword exceeds the limit, the length histogram is clamped
//! and the Kraft sum repaired by pushing leaves down one level at a time,
//! then the lengths are handed out again by frequency. The result is always
//! a complete code (Kraft sum exactly one) when two or more symbols are
//! used: the decoders (ours and wimlib's) accept only complete codes or the
//! empty code.

/// Compute codeword lengths (each at most `max_len`, `max_len <= 16`) for
/// `freqs` into `lens` (same length). Symbols with frequency 0 get length
/// 0, except that a code with exactly one used symbol gets a second
/// length-1 codeword so it is complete. `scratch` is reused between calls.
pub(crate) fn build_lengths(freqs: &[u32], max_len: u32, lens: &mut [u8], scratch: &mut Scratch) {
    debug_assert_eq!(freqs.len(), lens.len());
    debug_assert!(freqs.len() >= 2 && freqs.len() < 1 << 16 && (1..=16).contains(&max_len));
    lens.fill(0);
    let Scratch {
        keys: scratch,
        weights: a,
    } = scratch;
    // Sort keys: frequency above the symbol, so ties break by symbol and
    // the result is fully deterministic.
    scratch.clear();
    for (s, &f) in freqs.iter().enumerate() {
        if f != 0 {
            scratch.push((u64::from(f) << 16) | s as u64);
        }
    }
    let n = scratch.len();
    if n == 0 {
        return;
    }
    if n == 1 {
        let s = (scratch[0] & 0xFFFF) as usize;
        lens[s] = 1;
        lens[if s == 0 { 1 } else { 0 }] = 1;
        return;
    }
    scratch.sort_unstable();
    // Weights in ascending order; becomes depths in place. Weights are
    // sums of at most 2^21 frequencies below 2^32 in practice, and
    // saturate rather than wrap otherwise.
    a.clear();
    a.extend(scratch.iter().map(|&k| (k >> 16) as u32));
    minimum_redundancy(a);

    // Histogram of depths, clamped to max_len.
    let mut count = [0u32; 64];
    for &d in a.iter() {
        count[(d as usize).min(63)] += 1;
    }
    let limit = max_len as usize;
    let overflow: u32 = count[limit + 1..].iter().sum();
    if overflow > 0 {
        for c in count[limit + 1..].iter_mut() {
            *c = 0;
        }
        count[limit] += overflow;
        // Kraft sum in units of 2^-limit; too large after clamping.
        let mut total: u64 = (1..=limit)
            .map(|d| u64::from(count[d]) << (limit - d))
            .sum();
        let full = 1u64 << limit;
        while total > full {
            // Take one leaf from the deepest level and split a leaf from
            // the deepest level above it that has one: same leaf count,
            // Kraft sum one unit smaller.
            count[limit] -= 1;
            let mut d = limit - 1;
            while count[d] == 0 {
                d -= 1;
            }
            count[d] -= 1;
            count[d + 1] += 2;
            total -= 1;
        }
    }
    // Longest codes to the rarest symbols.
    let mut i = 0usize;
    for d in (1..=limit).rev() {
        for _ in 0..count[d] {
            let s = (scratch[i] & 0xFFFF) as usize;
            lens[s] = d as u8;
            i += 1;
        }
    }
}

/// Buffers reused by [`build_lengths`].
#[derive(Default)]
pub(crate) struct Scratch {
    keys: Vec<u64>,
    weights: Vec<u32>,
}

/// Moffat–Katajainen in-place computation of optimal prefix-code depths:
/// `a` holds weights in non-decreasing order (at least two) and is
/// overwritten with the depth of each.
fn minimum_redundancy(a: &mut [u32]) {
    let n = a.len();
    // Phase 1: build the tree left to right; internal nodes reuse slots
    // and store their parent index.
    a[0] = a[0].saturating_add(a[1]);
    let mut root = 0usize;
    let mut leaf = 2usize;
    for next in 1..n - 1 {
        if leaf >= n || a[root] < a[leaf] {
            a[next] = a[root];
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] = a[leaf];
            leaf += 1;
        }
        if leaf >= n || (root < next && a[root] < a[leaf]) {
            a[next] = a[next].saturating_add(a[root]);
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] = a[next].saturating_add(a[leaf]);
            leaf += 1;
        }
    }
    // Phase 2: depths of internal nodes, right to left.
    a[n - 2] = 0;
    for next in (0..n.saturating_sub(2)).rev() {
        a[next] = a[a[next] as usize] + 1;
    }
    // Phase 3: depths of the leaves.
    let mut avail = 1i64;
    let mut used = 0i64;
    let mut depth = 0u32;
    let mut root = n as isize - 2;
    let mut next = n as isize - 1;
    while avail > 0 {
        while root >= 0 && a[root as usize] == depth {
            used += 1;
            root -= 1;
        }
        while avail > used {
            a[next as usize] = depth;
            next -= 1;
            avail -= 1;
        }
        avail = 2 * used;
        depth += 1;
        used = 0;
    }
}

/// Canonical codewords for `lens` (lengths at most 16), written MSB first.
pub(crate) fn canonical_codes(lens: &[u8], codes: &mut [u16]) {
    let mut count = [0u16; 18];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u32; 18];
    let mut code = 0u32;
    for l in 1..17 {
        code = (code + u32::from(count[l - 1])) << 1;
        next[l] = code;
    }
    for (c, &l) in codes.iter_mut().zip(lens) {
        if l > 0 {
            *c = next[l as usize] as u16;
            next[l as usize] += 1;
        } else {
            *c = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kraft(lens: &[u8], max: u32) -> u64 {
        lens.iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (max - u32::from(l)))
            .sum()
    }

    #[test]
    fn complete_and_limited() {
        let mut scratch = Scratch::default();
        // Fibonacci weights force very deep optimal trees.
        let mut f = vec![0u32; 40];
        let (mut x, mut y) = (1u32, 1u32);
        for v in f.iter_mut() {
            *v = x;
            (x, y) = (y, x + y);
        }
        for limit in [7u32, 8, 12, 15, 16] {
            let mut lens = vec![0u8; f.len()];
            build_lengths(&f, limit, &mut lens, &mut scratch);
            assert!(
                lens.iter().all(|&l| (1..=limit as u8).contains(&l)),
                "{lens:?}"
            );
            assert_eq!(kraft(&lens, 16), 1 << 16, "limit {limit}");
            // More frequent never longer.
            for w in lens.windows(2) {
                assert!(w[0] >= w[1]);
            }
        }
        // One symbol: two length-1 codewords.
        let mut lens = vec![0u8; 8];
        let mut one = [0u32; 8];
        one[5] = 9;
        build_lengths(&one, 7, &mut lens, &mut scratch);
        assert_eq!(lens, [1, 0, 0, 0, 0, 1, 0, 0]);
        one[5] = 0;
        one[0] = 3;
        build_lengths(&one, 7, &mut lens, &mut scratch);
        assert_eq!(lens, [1, 1, 0, 0, 0, 0, 0, 0]);
        // None: empty code.
        build_lengths(&[0; 8], 7, &mut lens, &mut scratch);
        assert!(lens.iter().all(|&l| l == 0));
        // Uniform 256: all length 8.
        let mut lens = vec![0u8; 256];
        build_lengths(&[5; 256], 16, &mut lens, &mut scratch);
        assert!(lens.iter().all(|&l| l == 8));
    }

    #[test]
    fn optimal_when_unconstrained() {
        // Classic example: weights 1,1,2,3,5 -> depths 4,4,3,2,1.
        let mut lens = vec![0u8; 5];
        build_lengths(&[1, 1, 2, 3, 5], 16, &mut lens, &mut Scratch::default());
        assert_eq!(lens, [4, 4, 3, 2, 1]);
        let mut codes = vec![0u16; 5];
        canonical_codes(&lens, &mut codes);
        assert_eq!(codes, [0b1110, 0b1111, 0b110, 0b10, 0b0]);
    }
}
