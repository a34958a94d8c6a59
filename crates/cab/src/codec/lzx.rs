//! LZX as cabinets use it (\[MS-PATCH\] LZXD §2, without the DELTA
//! extensions; window 2^15..2^21). One folder is one LZX stream: the window,
//! the repeated offsets R0..R2, the previous block's code lengths (which the
//! next block's lengths are coded against) and the E8 translation setting
//! all persist across CFDATA blocks. Each CFDATA block holds one 32 KiB
//! output frame (the folder's last may be shorter); the bitstream is
//! realigned to a 16-bit unit at every frame end, and blocks may span
//! frames.

use super::bits::UnitReader;
use super::DecodeError;

const NUM_CHARS: usize = 256;
const NUM_PRIMARY_LENGTHS: u32 = 7;
const NUM_SECONDARY_LENGTHS: usize = 249;
const MIN_MATCH: usize = 2;
const PRETREE_SYMS: usize = 20;
const ALIGNED_SYMS: usize = 8;
const FRAME: usize = 32_768;
/// Room past the end of a length table: a zero run may overshoot the
/// range being read (the overshoot is kept, as other decoders keep it).
const LENS_MARGIN: usize = 64;
const MAX_CODE_LEN: u32 = 16;

const BLOCK_VERBATIM: u8 = 1;
const BLOCK_ALIGNED: u8 = 2;
const BLOCK_UNCOMPRESSED: u8 = 3;

/// Extra offset bits of position slot `s`.
const fn extra_bits(s: usize) -> u32 {
    if s < 4 {
        0
    } else if s < 36 {
        (s / 2 - 1) as u32
    } else {
        17
    }
}

/// Base formatted offset of each position slot (50 slots cover 2^21).
const POSITION_BASE: [u32; 51] = {
    let mut t = [0u32; 51];
    let mut i = 1;
    while i < 51 {
        t[i] = t[i - 1] + (1 << extra_bits(i - 1));
        i += 1;
    }
    t
};

/// Number of position slots for a window of 2^`bits` bytes.
fn position_slots(bits: u8) -> usize {
    match bits {
        20 => 42,
        21 => 50,
        b => 2 * b as usize,
    }
}

/// A canonical Huffman decoding table: a direct lookup for codes of up to
/// `table_bits` bits, a canonical walk for longer ones.
struct Huff {
    table_bits: u32,
    /// `symbol << 5 | length`; 0 = longer code (or an empty tree).
    table: Vec<u16>,
    counts: [u16; 17],
    first: [u32; 17],
    start: [u16; 17],
    sorted: Vec<u16>,
    empty: bool,
}

impl Huff {
    fn new(table_bits: u32) -> Huff {
        Huff {
            table_bits,
            table: vec![0; 1 << table_bits],
            counts: [0; 17],
            first: [0; 17],
            start: [0; 17],
            sorted: Vec::new(),
            empty: true,
        }
    }

    /// Build from code lengths. An all-zero set gives an empty tree (an
    /// error only once a symbol is decoded with it); an incomplete or
    /// over-subscribed set is an error.
    fn build(&mut self, lens: &[u8], what: &str) -> Result<(), DecodeError> {
        let mut counts = [0u16; 17];
        for &l in lens {
            if l as u32 > MAX_CODE_LEN {
                return Err(DecodeError::new(format!("{what}: code length {l} > 16")));
            }
            counts[l as usize] += 1;
        }
        counts[0] = 0;
        self.table.iter_mut().for_each(|e| *e = 0);
        self.counts = counts;
        if counts.iter().all(|&c| c == 0) {
            self.empty = true;
            return Ok(());
        }
        let kraft: u32 = (1..=16).map(|l| (counts[l] as u32) << (16 - l)).sum();
        if kraft != 1 << 16 {
            return Err(DecodeError::new(format!(
                "{what}: code lengths do not form a complete prefix code"
            )));
        }
        self.empty = false;
        let mut code = 0u32;
        let mut idx = 0u16;
        for (l, &n) in counts.iter().enumerate().skip(1) {
            self.first[l] = code;
            self.start[l] = idx;
            code = (code + n as u32) << 1;
            idx += n;
        }
        self.sorted.clear();
        self.sorted.resize(idx as usize, 0);
        let mut next = self.start;
        for (sym, &l) in lens.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let l = l as usize;
            let rank = next[l] - self.start[l];
            self.sorted[next[l] as usize] = sym as u16;
            next[l] += 1;
            if l as u32 <= self.table_bits {
                let c = self.first[l] + rank as u32;
                let shift = self.table_bits - l as u32;
                let base = (c << shift) as usize;
                let entry = ((sym as u16) << 5) | l as u16;
                self.table[base..base + (1 << shift)].fill(entry);
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn decode(&self, r: &mut UnitReader) -> Result<u16, DecodeError> {
        r.ensure();
        let peek = r.peek(16);
        let e = self.table[(peek >> (16 - self.table_bits)) as usize];
        if e & 31 != 0 {
            r.consume((e & 31) as u32);
            return Ok(e >> 5);
        }
        self.decode_long(r, peek)
    }

    #[cold]
    fn decode_long(&self, r: &mut UnitReader, peek: u32) -> Result<u16, DecodeError> {
        if self.empty {
            return Err(DecodeError::new("symbol needed from an empty Huffman tree"));
        }
        for l in self.table_bits as usize + 1..=16 {
            let code = peek >> (16 - l);
            let d = code.wrapping_sub(self.first[l]);
            if d < self.counts[l] as u32 {
                r.consume(l as u32);
                return Ok(self.sorted[self.start[l] as usize + d as usize]);
            }
        }
        Err(DecodeError::new("invalid Huffman code"))
    }
}

/// LZX decoder state of one folder.
pub struct Lzx {
    window: Vec<u8>,
    window_size: usize,
    /// Window position where the next frame starts.
    pos: usize,
    /// Bytes output so far by this folder.
    total: u64,
    frames: u32,
    header_read: bool,
    e8_size: i32,
    e8_started: bool,
    num_main: usize,
    main_lens: Vec<u8>,
    length_lens: Vec<u8>,
    main: Huff,
    length: Huff,
    aligned: Huff,
    pretree: Huff,
    r: [u32; 3],
    block_type: u8,
    block_length: u32,
    block_remaining: u32,
}

impl Lzx {
    /// A decoder for a window of 2^`window_bits` bytes (15..=21).
    pub fn new(window_bits: u8) -> Result<Lzx, DecodeError> {
        if !(15..=21).contains(&window_bits) {
            return Err(DecodeError::new(format!(
                "LZX window of 2^{window_bits} bytes (cabinets allow 2^15..2^21)"
            )));
        }
        let window_size = 1usize << window_bits;
        let num_main = NUM_CHARS + 8 * position_slots(window_bits);
        Ok(Lzx {
            window: vec![0; window_size],
            window_size,
            pos: 0,
            total: 0,
            frames: 0,
            header_read: false,
            e8_size: 0,
            e8_started: false,
            num_main,
            main_lens: vec![0; num_main + LENS_MARGIN],
            length_lens: vec![0; NUM_SECONDARY_LENGTHS + LENS_MARGIN],
            main: Huff::new(11),
            length: Huff::new(10),
            aligned: Huff::new(7),
            pretree: Huff::new(8),
            r: [1, 1, 1],
            block_type: 0,
            block_length: 0,
            block_remaining: 0,
        })
    }

    /// Read code lengths `first..last` of `lens`, coded against their
    /// previous values with a fresh pretree.
    fn read_lengths(
        pretree: &mut Huff,
        r: &mut UnitReader,
        lens: &mut [u8],
        first: usize,
        last: usize,
    ) -> Result<(), DecodeError> {
        let mut pl = [0u8; PRETREE_SYMS];
        for l in pl.iter_mut() {
            *l = r.read(4) as u8;
        }
        pretree.build(&pl, "LZX pretree")?;
        let mut x = first;
        let overflow = || DecodeError::new("LZX code-length run past the end of the table");
        while x < last {
            let z = pretree.decode(r)? as usize;
            match z {
                17 | 18 => {
                    let n = if z == 17 {
                        r.read(4) as usize + 4
                    } else {
                        r.read(5) as usize + 20
                    };
                    lens.get_mut(x..x + n).ok_or_else(overflow)?.fill(0);
                    x += n;
                }
                19 => {
                    let n = r.read(1) as usize + 4;
                    let z = pretree.decode(r)? as usize;
                    if z > 16 {
                        return Err(DecodeError::new("LZX pretree: run of a run code"));
                    }
                    let cur = *lens.get(x).ok_or_else(overflow)? as usize;
                    let v = ((cur + 17 - z) % 17) as u8;
                    lens.get_mut(x..x + n).ok_or_else(overflow)?.fill(v);
                    x += n;
                }
                _ => {
                    let cur = lens[x] as usize;
                    lens[x] = ((cur + 17 - z) % 17) as u8;
                    x += 1;
                }
            }
        }
        Ok(())
    }

    fn read_block_header(&mut self, r: &mut UnitReader) -> Result<(), DecodeError> {
        let btype = r.read(3) as u8;
        let hi = r.read(16);
        let lo = r.read(8);
        let len = (hi << 8) | lo;
        match btype {
            BLOCK_VERBATIM | BLOCK_ALIGNED => {
                if btype == BLOCK_ALIGNED {
                    let mut al = [0u8; ALIGNED_SYMS];
                    for l in al.iter_mut() {
                        *l = r.read(3) as u8;
                    }
                    self.aligned.build(&al, "LZX aligned-offset tree")?;
                    if self.aligned.empty {
                        return Err(DecodeError::new("LZX aligned-offset tree is empty"));
                    }
                }
                Self::read_lengths(&mut self.pretree, r, &mut self.main_lens, 0, NUM_CHARS)?;
                Self::read_lengths(
                    &mut self.pretree,
                    r,
                    &mut self.main_lens,
                    NUM_CHARS,
                    self.num_main,
                )?;
                self.main
                    .build(&self.main_lens[..self.num_main], "LZX main tree")?;
                if self.main.empty {
                    return Err(DecodeError::new("LZX main tree has no codes"));
                }
                if self.main_lens[0xE8] != 0 {
                    self.e8_started = true;
                }
                Self::read_lengths(
                    &mut self.pretree,
                    r,
                    &mut self.length_lens,
                    0,
                    NUM_SECONDARY_LENGTHS,
                )?;
                self.length.build(
                    &self.length_lens[..NUM_SECONDARY_LENGTHS],
                    "LZX length tree",
                )?;
            }
            BLOCK_UNCOMPRESSED => {
                self.e8_started = true;
            }
            t => return Err(DecodeError::new(format!("LZX block type {t} is invalid"))),
        }
        self.block_type = btype;
        self.block_length = len;
        self.block_remaining = len;
        Ok(())
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
            return Err(DecodeError::new(format!("LZX frame of {out_len} bytes")));
        }
        if out_len != FRAME && !last {
            return Err(DecodeError::new(format!(
                "LZX frame of {out_len} bytes before the folder's last block (frames are 32768 bytes)"
            )));
        }
        if self.pos + out_len > self.window_size {
            return Err(DecodeError::new("LZX frame does not fit the window"));
        }
        let frame_start = self.pos;
        let frame_end = frame_start + out_len;
        let mut r = UnitReader::new(input, 0);
        // An uncompressed block that spans frames continues with this
        // block's first byte.
        let mut raw: Option<usize> = (self.block_type == BLOCK_UNCOMPRESSED).then_some(0);
        if !self.header_read {
            let e8 = r.read(1);
            if e8 != 0 {
                let hi = r.read(16);
                let lo = r.read(16);
                self.e8_size = ((hi << 16) | lo) as i32;
            }
            self.header_read = true;
        }
        let mut p = frame_start;
        while p < frame_end {
            if self.block_remaining == 0 {
                if let Some(mut bp) = raw.take() {
                    if self.block_length & 1 == 1 {
                        bp += 1;
                    }
                    r = UnitReader::new(input, bp);
                }
                if r.consumed() > input.len() + 1 {
                    return Err(DecodeError::new("LZX data ends inside a frame"));
                }
                self.read_block_header(&mut r)?;
                if self.block_type == BLOCK_UNCOMPRESSED {
                    let bp = r.raw_position_after_padding();
                    let rs = input.get(bp..bp + 12).ok_or_else(|| {
                        DecodeError::new("LZX uncompressed block header truncated")
                    })?;
                    for i in 0..3 {
                        self.r[i] = u32::from_le_bytes([
                            rs[4 * i],
                            rs[4 * i + 1],
                            rs[4 * i + 2],
                            rs[4 * i + 3],
                        ]);
                    }
                    raw = Some(bp + 12);
                }
                continue;
            }
            let run = (self.block_remaining as usize).min(frame_end - p);
            if let Some(bp) = raw.as_mut() {
                let src = input
                    .get(*bp..*bp + run)
                    .ok_or_else(|| DecodeError::new("LZX uncompressed block data truncated"))?;
                self.window[p..p + run].copy_from_slice(src);
                *bp += run;
                p += run;
                self.block_remaining -= run as u32;
                continue;
            }
            let start = p;
            p = self.decode_run(&mut r, p, p + run, frame_end, frame_start)?;
            let produced = (p - start) as u32;
            if produced > self.block_remaining {
                return Err(DecodeError::new("LZX match runs past the end of its block"));
            }
            self.block_remaining -= produced;
            if r.consumed() > input.len() + 2 {
                return Err(DecodeError::new("LZX data ends inside a frame"));
            }
        }
        match raw {
            Some(bp) if bp > input.len() => {
                return Err(DecodeError::new("LZX frame data runs past its block"))
            }
            Some(_) => {}
            None => {
                r.align_unit();
                // (+1: an odd-length block's last unit is half real.)
                if r.consumed() > input.len() + 1 {
                    return Err(DecodeError::new(format!(
                        "LZX frame needs {} bytes, the block has {}",
                        r.consumed(),
                        input.len()
                    )));
                }
            }
        }
        out.extend_from_slice(&self.window[frame_start..frame_end]);
        if self.e8_started && self.e8_size != 0 && self.frames < 32_768 && out_len > 10 {
            e8_untranslate(out, self.total, self.e8_size);
        }
        self.total += out_len as u64;
        self.frames += 1;
        self.pos = if frame_end == self.window_size {
            0
        } else {
            frame_end
        };
        Ok(())
    }

    /// Decode symbols of a verbatim or aligned block into the window from
    /// `p` until at least `target`; a match may overshoot `target` but not
    /// `frame_end`. Returns the new position.
    #[inline(never)]
    fn decode_run(
        &mut self,
        r: &mut UnitReader,
        mut p: usize,
        target: usize,
        frame_end: usize,
        frame_start: usize,
    ) -> Result<usize, DecodeError> {
        let aligned = self.block_type == BLOCK_ALIGNED;
        let mask = self.window_size - 1;
        let [mut r0, mut r1, mut r2] = self.r;
        let result = (|| {
            while p < target {
                let sym = self.main.decode(r)? as usize;
                if sym < NUM_CHARS {
                    self.window[p] = sym as u8;
                    p += 1;
                    continue;
                }
                let m = sym - NUM_CHARS;
                let mut len = (m as u32 & 7) as usize;
                if len == NUM_PRIMARY_LENGTHS as usize {
                    if self.length.empty {
                        return Err(DecodeError::new(
                            "LZX length symbol needed but the length tree is empty",
                        ));
                    }
                    len += self.length.decode(r)? as usize;
                }
                len += MIN_MATCH;
                let slot = m >> 3;
                let offset = match slot {
                    0 => r0,
                    1 => {
                        std::mem::swap(&mut r0, &mut r1);
                        r0
                    }
                    2 => {
                        std::mem::swap(&mut r0, &mut r2);
                        r0
                    }
                    _ => {
                        let extra = extra_bits(slot);
                        let mut o = POSITION_BASE[slot] - 2;
                        if aligned && extra >= 3 {
                            o += r.read(extra - 3) << 3;
                            o += self.aligned.decode(r)? as u32;
                        } else {
                            o += r.read(extra);
                        }
                        r2 = r1;
                        r1 = r0;
                        r0 = o;
                        o
                    }
                } as usize;
                if p + len > frame_end {
                    return Err(DecodeError::new("LZX match crosses the end of its frame"));
                }
                let written = self.total as usize + (p - frame_start);
                if offset == 0 || offset > written || offset > self.window_size {
                    return Err(DecodeError::new(format!(
                        "LZX match offset {offset} reaches before the start of the data"
                    )));
                }
                let src = (p + self.window_size - offset) & mask;
                if offset >= len && src + len <= self.window_size {
                    self.window.copy_within(src..src + len, p);
                } else {
                    for k in 0..len {
                        self.window[p + k] = self.window[(src + k) & mask];
                    }
                }
                p += len;
            }
            Ok(p)
        })();
        self.r = [r0, r1, r2];
        result
    }
}

/// Undo the E8 call translation on one output frame that starts at stream
/// offset `start`.
fn e8_untranslate(frame: &mut [u8], start: u64, file_size: i32) {
    let end = frame.len() - 10;
    let mut i = 0;
    let mut cur = start as i32;
    while i < end {
        if frame[i] != 0xE8 {
            i += 1;
            cur = cur.wrapping_add(1);
            continue;
        }
        let abs = i32::from_le_bytes([frame[i + 1], frame[i + 2], frame[i + 3], frame[i + 4]]);
        if abs >= cur.wrapping_neg() && abs < file_size {
            let rel = if abs >= 0 {
                abs.wrapping_sub(cur)
            } else {
                abs.wrapping_add(file_size)
            };
            frame[i + 1..i + 5].copy_from_slice(&rel.to_le_bytes());
        }
        i += 5;
        cur = cur.wrapping_add(5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(position_slots(15), 30);
        assert_eq!(position_slots(21), 50);
        assert_eq!(POSITION_BASE[4], 4);
        assert_eq!(POSITION_BASE[36], 262_144);
        assert_eq!(POSITION_BASE[50], 2_097_152);
    }

    #[test]
    fn huffman_rejects_incomplete_and_accepts_empty() {
        let mut h = Huff::new(6);
        assert!(h.build(&[1, 0, 0], "t").is_err());
        assert!(h.build(&[0, 0, 0], "t").is_ok());
        assert!(h.empty);
        assert!(h.build(&[1, 2, 2], "t").is_ok());
        // Codes: sym0 = 0, sym1 = 10, sym2 = 11.
        let d = [0b0000_0000, 0b1011_0000]; // unit 0xB000: 1 0 1 1 0 ...
        let mut r = UnitReader::new(&d, 0);
        assert_eq!(h.decode(&mut r).unwrap(), 1);
        assert_eq!(h.decode(&mut r).unwrap(), 2);
        assert_eq!(h.decode(&mut r).unwrap(), 0);
    }

    #[test]
    fn bad_window_sizes() {
        assert!(Lzx::new(14).is_err());
        assert!(Lzx::new(22).is_err());
        assert!(Lzx::new(21).is_ok());
    }

    #[test]
    fn uncompressed_block_round_trip() {
        // Header: E8 bit 0; block type 3, length 5; pad to unit; R0..R2;
        // 5 raw bytes. Bits: 0 | 011 | 0000000000000000 | 00000101 => 28
        // bits, then 4 bits of padding to the unit boundary.
        let mut bits = String::from("0011");
        bits += &format!("{:016b}", 0);
        bits += &format!("{:08b}", 5);
        while bits.len() % 16 != 0 {
            bits.push('0');
        }
        let mut data = Vec::new();
        for unit in bits.as_bytes().chunks(16) {
            let v = u16::from_str_radix(std::str::from_utf8(unit).unwrap(), 2).unwrap();
            data.extend_from_slice(&v.to_le_bytes());
        }
        for r in [1u32, 1, 1] {
            data.extend_from_slice(&r.to_le_bytes());
        }
        data.extend_from_slice(b"hello");
        let mut d = Lzx::new(15).unwrap();
        let mut out = Vec::new();
        d.decode(&data, 5, true, &mut out).unwrap();
        assert_eq!(out, b"hello");
    }
}
