//! LZX chunk decompressor, WIM variant (`shared/research/wim.md` §1.3;
//! bitstream and block format per MS-PATCH LZXD §2).
//!
//! Differences from CAB/LZXD that matter here:
//! * every chunk is independent: the delta-coded codeword lengths start at 0
//!   and the recent-offsets queue at {1, 1, 1} for each chunk;
//! * the window size is the chunk size the decompressor was created for
//!   (32 KiB .. 2 MiB, rounded up to a power of two), not a stream header;
//! * a block size is a 1-bit "default 32768" flag, else 16 bits, plus 8 more
//!   bits when the window is at least 64 KiB;
//! * there is no E8 header: E8 call translation is always undone, with the
//!   fixed "file size" 12,000,000, and never for an E8 byte in the last 10
//!   bytes of the chunk.
//!
//! The bitstream is 16-bit little-endian coding units read MSB first; input
//! that ends early reads as zero bits, like wimlib. An uncompressed block's
//! header is followed by padding up to the next 16-bit boundary (a whole
//! unit if already aligned), then raw little-endian R0, R1, R2 and the bytes,
//! plus one pad byte if the block size is odd.

use super::huffman::{copy_match, swap_units, BitReader, DecodeTable};
use super::{DecodeError, Decompressor};

const NUM_CHARS: usize = 256;
const NUM_LEN_HEADERS: u32 = 8;
const NUM_PRIMARY_LENS: usize = 7;
const MIN_MATCH_LEN: usize = 2;
const LEN_SYMS: usize = 249;
const PRE_SYMS: usize = 20;
const ALIGNED_SYMS: usize = 8;
const MAX_OFFSET_SLOTS: usize = 50;
const MAX_MAIN_SYMS: usize = NUM_CHARS + MAX_OFFSET_SLOTS * NUM_LEN_HEADERS as usize;
const MAX_MAIN_LEN: u32 = 16;
const MAX_LEN_LEN: u32 = 16;
const MAX_PRE_LEN: u32 = 15;
const MAX_ALIGNED_LEN: u32 = 7;
/// Slack after each length array: a run-length code may write past the end
/// of its part (at most 20 + 31 - 1 entries); the spill is kept, as wimlib
/// does, so a spill from the literal part lands in the match-header part.
const LENS_OVERRUN: usize = 50;
const MIN_ALIGNED_SLOT: usize = 8;
const E8_FILE_SIZE: i32 = 12_000_000;
const DEFAULT_BLOCK_SIZE: usize = 32768;
const MIN_WINDOW_ORDER: u32 = 15;
const MAX_WINDOW_ORDER: u32 = 21;

const MAIN_ROOT: usize = 1 << 11;
const LEN_ROOT: usize = 1 << 9;
const PRE_ROOT: usize = 1 << 6;
const ALIGNED_ROOT: usize = 1 << 7;

/// Extra offset bits per offset slot.
const EXTRA_BITS: [u8; MAX_OFFSET_SLOTS] = {
    let mut t = [0u8; MAX_OFFSET_SLOTS];
    let mut i = 4;
    while i < MAX_OFFSET_SLOTS {
        let b = (i / 2 - 1) as u8;
        t[i] = if b > 17 { 17 } else { b };
        i += 1;
    }
    t
};

/// First match offset of each slot (slot 3 = offset 1; slots 0..=2 are the
/// recent-offset slots). Entry 50 bounds the largest window.
const SLOT_BASE: [u32; MAX_OFFSET_SLOTS + 1] = {
    // Position bases start at 0 and grow by 2^extra; a match offset is the
    // position base plus extra bits minus 2.
    let mut t = [0u32; MAX_OFFSET_SLOTS + 1];
    let mut pos: u32 = 0;
    let mut i = 0;
    while i <= MAX_OFFSET_SLOTS {
        t[i] = pos.wrapping_sub(2);
        if i < MAX_OFFSET_SLOTS {
            pos += 1 << EXTRA_BITS[i];
        }
        i += 1;
    }
    t
};

/// Reusable WIM-LZX decompressor (§1.3 of the format notes). All tables are
/// allocated once by [`LzxDecompressor::new`].
pub struct LzxDecompressor {
    window_order: u32,
    num_main_syms: usize,
    /// Most bits a match needs after its main symbol (see `decode_block`).
    match_bits: u32,
    main: DecodeTable<MAIN_ROOT>,
    len: DecodeTable<LEN_ROOT>,
    pre: DecodeTable<PRE_ROOT>,
    aligned: DecodeTable<ALIGNED_ROOT>,
    main_lens: Vec<u8>,
    len_lens: Vec<u8>,
    pre_lens: [u8; PRE_SYMS],
    aligned_lens: [u8; ALIGNED_SYMS],
    /// The chunk's coding units, pre-swapped for the bit reader.
    units: Vec<u8>,
}

impl LzxDecompressor {
    /// Create a decompressor for chunks of up to `max_chunk_size` bytes
    /// (at most 2 MiB); the LZX window is that size rounded up to a power
    /// of two, at least 32 KiB.
    pub fn new(max_chunk_size: usize) -> Result<Self, DecodeError> {
        if max_chunk_size == 0 || max_chunk_size > 1 << MAX_WINDOW_ORDER {
            return Err(DecodeError::BadChunkSize(max_chunk_size));
        }
        let order = max_chunk_size
            .next_power_of_two()
            .trailing_zeros()
            .max(MIN_WINDOW_ORDER);
        // The largest offset is window - 3 (a match may not copy the first
        // two bytes onto the last two).
        let max_offset = (1u32 << order) - 3;
        let mut slots = 30;
        while slots < MAX_OFFSET_SLOTS && max_offset >= SLOT_BASE[slots] {
            slots += 1;
        }
        let num_main_syms = NUM_CHARS + slots * NUM_LEN_HEADERS as usize;
        Ok(LzxDecompressor {
            window_order: order,
            num_main_syms,
            match_bits: MAX_LEN_LEN + u32::from(EXTRA_BITS[slots - 1]) + 4,
            main: DecodeTable::new(MAX_MAIN_SYMS, MAX_MAIN_LEN),
            len: DecodeTable::new(LEN_SYMS, MAX_LEN_LEN),
            pre: DecodeTable::new(PRE_SYMS, MAX_PRE_LEN),
            aligned: DecodeTable::new(ALIGNED_SYMS, MAX_ALIGNED_LEN),
            main_lens: vec![0; MAX_MAIN_SYMS + LENS_OVERRUN],
            len_lens: vec![0; LEN_SYMS + LENS_OVERRUN],
            pre_lens: [0; PRE_SYMS],
            aligned_lens: [0; ALIGNED_SYMS],
            units: Vec::with_capacity(max_chunk_size + 64),
        })
    }
}

impl Decompressor for LzxDecompressor {
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<(), DecodeError> {
        if output.len() > 1 << self.window_order {
            return Err(DecodeError::BadChunkSize(output.len()));
        }
        let mut units = std::mem::take(&mut self.units);
        swap_units(input, &mut units);
        let res = self.decompress_units(&units, input, output);
        self.units = units;
        res
    }
}

impl LzxDecompressor {
    /// Decode a chunk; `units` is `input` as prepared by [`swap_units`].
    fn decompress_units(
        &mut self,
        units: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), DecodeError> {
        self.main_lens.fill(0);
        self.len_lens.fill(0);
        let mut recent = [1u32; 3];
        let mut br = BitReader::<true>::new(units, input.len(), 0);
        let out_len = output.len();
        let mut op = 0usize;
        let mut may_have_e8 = false;

        while op < out_len {
            // Block header: at most 3 + 1 + 16 + 8 bits.
            br.refill();
            let block_type = br.bits(3);
            let block_size = if br.bits(1) == 1 {
                DEFAULT_BLOCK_SIZE
            } else {
                let mut s = br.bits(16) as usize;
                if self.window_order >= 16 {
                    s = (s << 8) | br.bits(8) as usize;
                }
                s
            };
            match block_type {
                1 | 2 => {
                    let aligned = block_type == 2;
                    if aligned {
                        for l in self.aligned_lens.iter_mut() {
                            *l = br.read(3) as u8;
                        }
                    }
                    self.read_lens_main(&mut br)?;
                    if block_size == 0 || block_size > out_len - op {
                        return Err(DecodeError::BadBlock("block size exceeds the chunk"));
                    }
                    self.main
                        .build(&self.main_lens[..self.num_main_syms], MAX_MAIN_LEN)?;
                    self.len.build(&self.len_lens[..LEN_SYMS], MAX_LEN_LEN)?;
                    if aligned {
                        self.aligned.build(&self.aligned_lens, MAX_ALIGNED_LEN)?;
                    }
                    may_have_e8 |= self.main_lens[0xE8] != 0;
                    op = self.decode_block(
                        &mut br,
                        output,
                        op,
                        op + block_size,
                        aligned,
                        &mut recent,
                    )?;
                }
                3 => {
                    // Skip to the next 16-bit boundary: the bits left of the
                    // current unit, or a whole unit if none are left.
                    let held_units = br.avail().div_ceil(16) as usize;
                    let raw = (br.pos() + 2)
                        .checked_sub(2 * held_units)
                        .ok_or(DecodeError::Truncated)?;
                    let hdr = input.get(raw..raw + 12).ok_or(DecodeError::Truncated)?;
                    for (r, b) in recent.iter_mut().zip(hdr.chunks_exact(4)) {
                        *r = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    }
                    if recent.contains(&0) {
                        return Err(DecodeError::BadBlock("zero recent offset"));
                    }
                    if block_size == 0 || block_size > out_len - op {
                        return Err(DecodeError::BadBlock("block size exceeds the chunk"));
                    }
                    let start = raw + 12;
                    let data = input
                        .get(start..start + block_size)
                        .ok_or(DecodeError::Truncated)?;
                    output[op..op + block_size].copy_from_slice(data);
                    op += block_size;
                    br.restart_at(0, start + block_size + (block_size & 1));
                    may_have_e8 = true;
                }
                _ => return Err(DecodeError::BadBlock("invalid LZX block type")),
            }
        }
        if may_have_e8 {
            undo_e8(output);
        }
        Ok(())
    }

    /// Read the main and length codeword lengths of a verbatim or aligned
    /// block: three precode-compressed sections (literals, match headers,
    /// lengths), each delta-coded against the previous block's lengths.
    fn read_lens_main(&mut self, br: &mut BitReader<'_, true>) -> Result<(), DecodeError> {
        let n = self.num_main_syms;
        read_lens(
            br,
            &mut self.pre,
            &mut self.pre_lens,
            &mut self.main_lens,
            0,
            NUM_CHARS,
        )?;
        read_lens(
            br,
            &mut self.pre,
            &mut self.pre_lens,
            &mut self.main_lens,
            NUM_CHARS,
            n - NUM_CHARS,
        )?;
        read_lens(
            br,
            &mut self.pre,
            &mut self.pre_lens,
            &mut self.len_lens,
            0,
            LEN_SYMS,
        )
    }

    /// Decode the literals and matches of one verbatim/aligned block into
    /// `out[op..block_end]`.
    #[inline(never)]
    fn decode_block(
        &self,
        reader: &mut BitReader<'_, true>,
        out: &mut [u8],
        mut op: usize,
        block_end: usize,
        aligned: bool,
        recent: &mut [u32; 3],
    ) -> Result<usize, DecodeError> {
        let main = &self.main;
        let min_aligned = if aligned {
            MIN_ALIGNED_SLOT
        } else {
            MAX_OFFSET_SLOTS
        };
        let out = &mut out[..block_end];
        // Work on a local copy so the bit buffer lives in registers.
        let mut bits = *reader;
        let br = &mut bits;
        'main: while op < block_end {
            br.refill();
            // >= 48 bits: three 16-bit main symbols fit.
            let sym = 'literals: {
                if let Some(w) = out.get_mut(op..op + 3) {
                    let s0 = main.decode(br);
                    if s0 >= NUM_CHARS as u32 {
                        break 'literals s0;
                    }
                    w[0] = s0 as u8;
                    let s1 = main.decode(br);
                    if s1 >= NUM_CHARS as u32 {
                        op += 1;
                        break 'literals s1;
                    }
                    w[1] = s1 as u8;
                    let s2 = main.decode(br);
                    if s2 >= NUM_CHARS as u32 {
                        op += 2;
                        break 'literals s2;
                    }
                    w[2] = s2 as u8;
                    op += 3;
                    continue 'main;
                }
                // The last one or two bytes of the block.
                let s0 = main.decode(br);
                if s0 < NUM_CHARS as u32 {
                    out[op] = s0 as u8;
                    op += 1;
                    continue 'main;
                }
                s0
            };
            // Match: it needs at most a length symbol (16) plus the extra
            // offset bits (the window's largest extra-bit count, plus 4 when
            // 3 of them are replaced by an aligned symbol of up to 7 bits):
            // `match_bits`, 33 for 32 KiB windows, 37 for 2 MiB. Skipping
            // the refill when they are already there is a measured win.
            if br.avail() < self.match_bits {
                br.refill();
            }
            let m = sym - NUM_CHARS as u32;
            let mut length = (m % NUM_LEN_HEADERS) as usize;
            let slot = (m / NUM_LEN_HEADERS) as usize;
            if length == NUM_PRIMARY_LENS {
                length += self.len.decode(br) as usize;
            }
            length += MIN_MATCH_LEN;
            let offset;
            if slot < 3 {
                // Recent offsets: swap the chosen one with R0.
                offset = recent[slot];
                recent[slot] = recent[0];
            } else {
                let extra = u32::from(EXTRA_BITS[slot]);
                let base = SLOT_BASE[slot];
                offset = if slot >= min_aligned {
                    let hi = br.bits(extra - 3);
                    let lo = self.aligned.decode(br);
                    base.wrapping_add((hi << 3) | lo)
                } else {
                    base.wrapping_add(br.bits(extra))
                };
                recent[2] = recent[1];
                recent[1] = recent[0];
            }
            recent[0] = offset;
            op = copy_match(out, op, offset as usize, length, block_end)?;
        }
        *reader = bits;
        Ok(op)
    }
}

/// Read one precode-compressed section of codeword lengths into
/// `lens[start..start + count]`, updating the old values in place.
fn read_lens(
    br: &mut BitReader<'_, true>,
    pre: &mut DecodeTable<PRE_ROOT>,
    pre_lens: &mut [u8; PRE_SYMS],
    lens: &mut [u8],
    start: usize,
    count: usize,
) -> Result<(), DecodeError> {
    for l in pre_lens.iter_mut() {
        *l = br.read(4) as u8;
    }
    pre.build(pre_lens, MAX_PRE_LEN)?;
    let end = start + count;
    let mut i = start;
    while i < end {
        // presym (15) + run bits (5) + presym (15) = 35 <= 48.
        br.refill();
        let p = pre.decode(br);
        let (run, value) = match p {
            0..=16 => {
                let old = u32::from(lens[i]);
                (1, ((old + 17 - p) % 17) as u8)
            }
            17 => (4 + br.bits(4) as usize, 0),
            18 => (20 + br.bits(5) as usize, 0),
            _ => {
                let run = 4 + br.bits(1) as usize;
                let p2 = pre.decode(br);
                if p2 > 17 {
                    return Err(DecodeError::BadHuffmanCode);
                }
                let old = u32::from(lens[i]);
                (run, ((old + 17 - p2) % 17) as u8)
            }
        };
        let stop = (i + run).min(lens.len());
        lens[i..stop].fill(value);
        i += run;
    }
    Ok(())
}

/// Undo the E8 call translation over a decoded chunk: for each E8 byte at
/// position `i < len - 10` (not inside a previously translated operand), the
/// following 32-bit value is turned back from an absolute into a relative
/// target when it lies in the translated range.
fn undo_e8(buf: &mut [u8]) {
    if buf.len() <= 10 {
        return;
    }
    let limit = buf.len() - 10;
    let mut i = 0usize;
    while i < limit {
        if let Some(blk) = buf.get(i..limit).and_then(|r| r.first_chunk::<32>()) {
            // Skip blocks without an E8 byte (the OR-fold over a fixed-size
            // array compiles to SIMD compares), else find the first one a
            // word at a time: in x ^ E8E8.., a zero byte marks an E8, and
            // the classic has-zero-byte test is exact for the lowest one.
            if !blk.iter().fold(false, |a, &b| a | (b == 0xE8)) {
                i += 32;
                continue;
            }
            let mut step = 32;
            for (k, w) in blk.chunks_exact(8).enumerate() {
                let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) ^ 0xE8E8_E8E8_E8E8_E8E8;
                let hit = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
                if hit != 0 {
                    step = 8 * k + (hit.trailing_zeros() / 8) as usize;
                    break;
                }
            }
            i += step;
            if step == 32 {
                continue;
            }
        } else {
            while i < limit && buf[i] != 0xE8 {
                i += 1;
            }
            if i >= limit {
                break;
            }
        }
        let target = &mut buf[i + 1..i + 5];
        let abs = i32::from_le_bytes([target[0], target[1], target[2], target[3]]);
        let pos = i as i32;
        let rel = if abs >= 0 {
            (abs < E8_FILE_SIZE).then(|| abs - pos)
        } else {
            (abs >= -pos).then(|| abs + E8_FILE_SIZE)
        };
        if let Some(rel) = rel {
            target.copy_from_slice(&rel.to_le_bytes());
        }
        i += 5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_tables() {
        assert_eq!(SLOT_BASE[3], 1);
        assert_eq!(SLOT_BASE[4], 2);
        assert_eq!(SLOT_BASE[8], 14);
        assert_eq!(SLOT_BASE[30], 32766);
        assert_eq!(SLOT_BASE[37], 393214);
        assert_eq!(SLOT_BASE[49], 1966078);
        assert_eq!(SLOT_BASE[50], 2097150);
        assert_eq!(EXTRA_BITS[36], 17);
        assert_eq!(EXTRA_BITS[35], 16);
        let n = |c| LzxDecompressor::new(c).unwrap().num_main_syms;
        assert_eq!(n(32768), 256 + 30 * 8);
        assert_eq!(n(65536), 256 + 32 * 8);
        assert_eq!(n(1 << 20), 256 + 42 * 8);
        assert_eq!(n(1 << 21), 256 + 50 * 8);
        assert!(LzxDecompressor::new(0).is_err());
        assert!(LzxDecompressor::new((1 << 21) + 1).is_err());
    }

    #[test]
    fn e8_roundtrip_edges() {
        // E8 at 0 with absolute target 5 -> relative 5 - 0 = 5.
        let mut b = vec![0u8; 20];
        b[0] = 0xE8;
        b[1] = 5;
        undo_e8(&mut b);
        assert_eq!(b[1], 5);
        // E8 at 3, absolute 10 -> 7.
        let mut b = vec![0u8; 20];
        b[3] = 0xE8;
        b[4] = 10;
        undo_e8(&mut b);
        assert_eq!(b[4], 7);
        // E8 in the last 10 bytes is left alone.
        let mut b = vec![0u8; 20];
        b[10] = 0xE8;
        b[11] = 10;
        undo_e8(&mut b);
        assert_eq!(b[11], 10);
    }

    /// Random inputs, and random mutations of a valid uncompressed-block
    /// chunk, for every window size: `Ok` or `Err`, never a panic.
    #[test]
    fn random_input_never_panics() {
        let mut x: u64 = 0x1319_8A2E_0370_7344;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for order in 15..=21 {
            let mut d = LzxDecompressor::new(1 << order).unwrap();
            for round in 0..400 {
                let len = (next() % 3000) as usize;
                let mut input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if round % 2 == 0 && len > 4 {
                    // Bias towards plausible headers: verbatim/aligned type,
                    // and an all-small precode.
                    input[0] = (input[0] & 0x1F) | if round % 4 == 0 { 0x20 } else { 0x40 };
                }
                let out_len = 1 + (next() as usize) % (1usize << order).min(100_000);
                let mut out = vec![0u8; out_len];
                let _ = d.decompress(&input, &mut out);
            }
        }
    }

    #[test]
    fn uncompressed_block() {
        // Header: type 3 (011), default size flag 0, size 5 in 16 bits,
        // then 8 more bits (window 32K: none). 3+1+16 = 20 bits -> pad to
        // 32, then R0..R2 and 5 bytes + 1 pad byte.
        let bits: u32 = (0b011 << 29) | (5 << 12);
        let mut input = Vec::new();
        input.extend_from_slice(&((bits >> 16) as u16).to_le_bytes());
        input.extend_from_slice(&(bits as u16).to_le_bytes());
        for r in [1u32, 1, 1] {
            input.extend_from_slice(&r.to_le_bytes());
        }
        input.extend_from_slice(b"hello");
        input.push(0);
        let mut out = [0u8; 5];
        LzxDecompressor::new(32768)
            .unwrap()
            .decompress(&input, &mut out)
            .unwrap();
        assert_eq!(&out, b"hello");
    }
}
