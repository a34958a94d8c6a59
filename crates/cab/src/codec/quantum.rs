//! Quantum as cabinets use it (window 2^10..2^21): an adaptive arithmetic
//! coder over 16-bit state (high, low, code) with eight frequency-sorted
//! models — four literal models of 64 symbols, match-position models for
//! 3-byte, 4-byte and variable-length matches, a match-length model and
//! the 7-symbol selector model. The models and the window persist across a
//! folder's CFDATA blocks; the coder restarts at every 32 KiB frame (one
//! CFDATA block), after which the rest of the block is padding.
//!
//! Format facts learned from Matthew Russotto's description of the format
//! and from libmspack's decoder; this is an independent implementation.

use super::bits::ByteReader;
use super::DecodeError;

const FRAME: usize = 32_768;
/// Longest match (length slot 26: 254 + 5).
const MAX_MATCH: usize = 259;

const fn pos_extra(i: usize) -> u32 {
    (i.saturating_sub(2) >> 1) as u32
}

const POSITION_BASE: [u32; 42] = {
    let mut t = [0u32; 42];
    let mut i = 1;
    while i < 42 {
        t[i] = t[i - 1] + (1 << pos_extra(i - 1));
        i += 1;
    }
    t
};

const fn len_extra(i: usize) -> u32 {
    if i >= 26 {
        0
    } else {
        (i.saturating_sub(2) >> 2) as u32
    }
}

const LENGTH_BASE: [u32; 27] = {
    let mut t = [0u32; 27];
    let mut i = 1;
    while i < 26 {
        t[i] = t[i - 1] + (1 << len_extra(i - 1));
        i += 1;
    }
    t[26] = 254;
    t
};

#[derive(Clone, Copy)]
struct Sym {
    sym: u16,
    cumfreq: u16,
}

/// One adaptive model: `syms[0..entries]` sorted by decreasing frequency,
/// each with its cumulative frequency; `syms[entries]` is a zero sentinel.
struct Model {
    entries: usize,
    shifts_left: u32,
    syms: Vec<Sym>,
}

impl Model {
    fn new(start: u16, entries: usize) -> Model {
        Model {
            entries,
            shifts_left: 4,
            syms: (0..=entries)
                .map(|i| Sym {
                    sym: start + i as u16,
                    cumfreq: (entries - i) as u16,
                })
                .collect(),
        }
    }

    /// Halve the frequencies; every 50th time also re-sort the symbols by
    /// frequency (a stable-order-preserving selection sort, as the encoder
    /// does).
    fn rescale(&mut self) {
        let n = self.entries;
        self.shifts_left -= 1;
        if self.shifts_left != 0 {
            for i in (0..n).rev() {
                let mut f = self.syms[i].cumfreq >> 1;
                if f <= self.syms[i + 1].cumfreq {
                    f = self.syms[i + 1].cumfreq + 1;
                }
                self.syms[i].cumfreq = f;
            }
        } else {
            self.shifts_left = 50;
            for i in 0..n {
                let f = self.syms[i]
                    .cumfreq
                    .saturating_sub(self.syms[i + 1].cumfreq);
                self.syms[i].cumfreq = (f + 1) >> 1;
            }
            for i in 0..n.saturating_sub(1) {
                for j in i + 1..n {
                    if self.syms[i].cumfreq < self.syms[j].cumfreq {
                        self.syms.swap(i, j);
                    }
                }
            }
            for i in (0..n).rev() {
                self.syms[i].cumfreq += self.syms[i + 1].cumfreq;
            }
        }
    }
}

/// The arithmetic decoder's state for one frame.
struct Coder<'a> {
    h: u16,
    l: u16,
    c: u16,
    rd: ByteReader<'a>,
}

impl Coder<'_> {
    fn symbol(&mut self, m: &mut Model) -> u16 {
        let total = m.syms[0].cumfreq as u32;
        let range = self.h.wrapping_sub(self.l) as u32 + 1;
        let symf = (((self.c.wrapping_sub(self.l) as u32 + 1) * total - 1) / range) & 0xFFFF;
        let mut i = 1;
        while i < m.entries && m.syms[i].cumfreq as u32 > symf {
            i += 1;
        }
        let sym = m.syms[i - 1].sym;
        let hi = m.syms[i - 1].cumfreq as u32;
        let lo = m.syms[i].cumfreq as u32;
        self.h = (self.l as u32 + (hi * range) / total).wrapping_sub(1) as u16;
        self.l = (self.l as u32 + (lo * range) / total) as u16;
        for s in &mut m.syms[..i] {
            s.cumfreq = s.cumfreq.wrapping_add(8);
        }
        if m.syms[0].cumfreq > 3800 {
            m.rescale();
        }
        // Renormalise. Every pass shifts a 0 into low and a 1 into high, so
        // this ends within 17 passes.
        loop {
            if (self.l & 0x8000) != (self.h & 0x8000) {
                if (self.l & 0x4000) != 0 && (self.h & 0x4000) == 0 {
                    // Underflow: the interval straddles the middle.
                    self.c ^= 0x4000;
                    self.l &= 0x3FFF;
                    self.h |= 0x4000;
                } else {
                    break;
                }
            }
            self.l <<= 1;
            self.h = (self.h << 1) | 1;
            self.c = (self.c << 1) | self.rd.read(1) as u16;
        }
        sym
    }
}

/// Quantum decoder state of one folder.
pub struct Quantum {
    window: Vec<u8>,
    /// Power-of-two ring size (at least one frame).
    ring: usize,
    window_size: usize,
    pos: usize,
    total: u64,
    literal: [Model; 4],
    pos3: Model,
    pos4: Model,
    pos_var: Model,
    len_var: Model,
    selector: Model,
}

impl Quantum {
    /// A decoder for a window of 2^`window_bits` bytes (10..=21).
    pub fn new(window_bits: u8) -> Result<Quantum, DecodeError> {
        if !(10..=21).contains(&window_bits) {
            return Err(DecodeError::new(format!(
                "Quantum window of 2^{window_bits} bytes (allowed: 2^10..2^21)"
            )));
        }
        let window_size = 1usize << window_bits;
        let ring = window_size.max(FRAME);
        let i = 2 * window_bits as usize;
        Ok(Quantum {
            // Slack after the ring: the folder's last match may overshoot
            // its end (only the declared bytes are output).
            window: vec![0; ring + MAX_MATCH],
            ring,
            window_size,
            pos: 0,
            total: 0,
            literal: [
                Model::new(0, 64),
                Model::new(64, 64),
                Model::new(128, 64),
                Model::new(192, 64),
            ],
            pos3: Model::new(0, i.min(24)),
            pos4: Model::new(0, i.min(36)),
            pos_var: Model::new(0, i),
            len_var: Model::new(0, 27),
            selector: Model::new(0, 7),
        })
    }

    /// Decode one CFDATA block (one frame of `out_len` bytes) into `out`.
    pub fn decode(
        &mut self,
        input: &[u8],
        out_len: usize,
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        out.clear();
        if out_len == 0 || out_len > FRAME {
            return Err(DecodeError::new(format!(
                "Quantum frame of {out_len} bytes"
            )));
        }
        if out_len != FRAME && !last {
            return Err(DecodeError::new(format!(
                "Quantum frame of {out_len} bytes before the folder's last block (frames are 32768 bytes)"
            )));
        }
        let frame_start = self.pos;
        let frame_end = frame_start + out_len;
        if frame_end > self.ring {
            return Err(DecodeError::new("Quantum frame does not fit the window"));
        }
        let mut rd = ByteReader::new(input);
        let c = rd.read(16) as u16;
        let mut coder = Coder {
            h: 0xFFFF,
            l: 0,
            c,
            rd,
        };
        let mask = self.ring - 1;
        let mut p = frame_start;
        while p < frame_end {
            let sel = coder.symbol(&mut self.selector);
            let (len, offset) = match sel {
                0..=3 => {
                    let b = coder.symbol(&mut self.literal[sel as usize]);
                    self.window[p] = b as u8;
                    p += 1;
                    continue;
                }
                4 | 5 => {
                    let m = if sel == 4 {
                        &mut self.pos3
                    } else {
                        &mut self.pos4
                    };
                    let s = coder.symbol(m) as usize;
                    let extra = coder.rd.read(pos_extra(s));
                    (sel as usize - 1, (POSITION_BASE[s] + extra + 1) as usize)
                }
                6 => {
                    let ls = coder.symbol(&mut self.len_var) as usize;
                    let len = (LENGTH_BASE[ls] + coder.rd.read(len_extra(ls)) + 5) as usize;
                    let s = coder.symbol(&mut self.pos_var) as usize;
                    let extra = coder.rd.read(pos_extra(s));
                    (len, (POSITION_BASE[s] + extra + 1) as usize)
                }
                s => return Err(DecodeError::new(format!("Quantum selector {s} is invalid"))),
            };
            if p + len > frame_end && !last {
                return Err(DecodeError::new(
                    "Quantum match crosses the end of its frame",
                ));
            }
            let written = self.total as usize + (p - frame_start);
            if offset > written || offset > self.window_size {
                return Err(DecodeError::new(format!(
                    "Quantum match offset {offset} reaches before the start of the data"
                )));
            }
            let src = (p + self.ring - offset) & mask;
            for k in 0..len {
                self.window[p + k] = self.window[(src + k) & mask];
            }
            p += len;
            if coder.rd.consumed() > input.len() + 4 {
                return Err(DecodeError::new("Quantum data ends inside a frame"));
            }
        }
        if coder.rd.consumed() > input.len() + 4 {
            return Err(DecodeError::new("Quantum data ends inside a frame"));
        }
        out.extend_from_slice(&self.window[frame_start..frame_end]);
        self.total += out_len as u64;
        self.pos = frame_end & mask;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(POSITION_BASE[4], 4);
        assert_eq!(POSITION_BASE[41], 1_572_864);
        assert_eq!(pos_extra(41), 19);
        assert_eq!(LENGTH_BASE[25], 222);
        assert_eq!(len_extra(25), 5);
        assert_eq!(LENGTH_BASE[26], 254);
    }

    #[test]
    fn garbage_terminates() {
        // Any input either decodes to the declared size or fails; it never
        // loops.
        for seed in 0..200u32 {
            let data: Vec<u8> = (0..64u32)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed * 977) >> 13) as u8)
                .collect();
            let mut q = Quantum::new(10 + (seed % 12) as u8).unwrap();
            let mut out = Vec::new();
            let _ = q.decode(&data, 32_768, false, &mut out);
            let _ = q.decode(&data, 100, true, &mut out);
        }
    }
}
