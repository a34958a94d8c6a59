//! Bit readers. LZX reads 16-bit little-endian units, highest bit first
//! (\[MS-PATCH\] §2.2 bitstream); Quantum reads bytes, highest bit first.
//! Past the end of the input both deliver zero bits and count how far they
//! went, so a decoder can tell a stream that ran out from one that ended.

/// MSB-first reader over 16-bit little-endian units (LZX).
pub struct UnitReader<'a> {
    data: &'a [u8],
    /// Byte position of the next unit not yet loaded into `buf`.
    pos: usize,
    /// The top `bits` bits are the next stream bits; the rest are zero.
    buf: u64,
    bits: u32,
}

impl<'a> UnitReader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        UnitReader {
            data,
            pos,
            buf: 0,
            bits: 0,
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        while self.bits <= 48 {
            let w = match self.data.get(self.pos..self.pos + 2) {
                Some(u) => u16::from_le_bytes([u[0], u[1]]),
                // An odd final byte is the low half of a unit.
                None => self.data.get(self.pos).map_or(0, |&b| b as u16),
            };
            self.pos += 2;
            self.buf |= (w as u64) << (48 - self.bits);
            self.bits += 16;
        }
    }

    /// Make at least 32 bits available.
    #[inline(always)]
    pub fn ensure(&mut self) {
        if self.bits < 32 {
            self.refill();
        }
    }

    /// The next `n` (1..=32) bits without consuming them; call
    /// [`ensure`](Self::ensure) first.
    #[inline(always)]
    pub fn peek(&self, n: u32) -> u32 {
        (self.buf >> (64 - n)) as u32
    }

    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.bits -= n;
    }

    /// Read `n` (0..=32) bits.
    #[inline(always)]
    pub fn read(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        self.ensure();
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// Bytes of input consumed so far (units partly consumed count whole);
    /// more than the input's length means the stream ran past its end.
    pub fn consumed(&self) -> usize {
        self.pos - (self.bits / 16) as usize * 2
    }

    /// Drop the unread rest of the current 16-bit unit.
    pub fn align_unit(&mut self) {
        let r = self.bits % 16;
        self.consume(r);
    }

    /// Byte position where an LZX uncompressed block's R0..R2 start: after
    /// the rest of the current unit, or after one whole unit of padding when
    /// the reader is already at a unit boundary ("1 to 16 bits").
    pub fn raw_position_after_padding(&self) -> usize {
        let r = self.bits % 16;
        let next_unit = self.pos - (self.bits / 16) as usize * 2;
        if r == 0 {
            next_unit + 2
        } else {
            next_unit
        }
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// MSB-first reader over bytes (Quantum).
pub struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    bits: u32,
}

impl<'a> ByteReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        ByteReader {
            data,
            pos: 0,
            buf: 0,
            bits: 0,
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        while self.bits <= 56 {
            let b = self.data.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            self.buf |= (b as u64) << (56 - self.bits);
            self.bits += 8;
        }
    }

    /// Read `n` (0..=32) bits.
    #[inline(always)]
    pub fn read(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.bits < n {
            self.refill();
        }
        let v = (self.buf >> (64 - n)) as u32;
        self.buf <<= n;
        self.bits -= n;
        v
    }

    /// Bytes consumed so far (partly consumed bytes count whole).
    pub fn consumed(&self) -> usize {
        self.pos - (self.bits / 8) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_reader_order() {
        // Units 0x1234, 0xABCD: bits come out as 0001 0010 0011 0100 1010...
        let d = [0x34, 0x12, 0xCD, 0xAB];
        let mut r = UnitReader::new(&d, 0);
        assert_eq!(r.read(4), 0x1);
        assert_eq!(r.read(8), 0x23);
        assert_eq!(r.read(8), 0x4A);
        assert_eq!(r.read(12), 0xBCD);
        assert_eq!(r.consumed(), 4);
        assert_eq!(r.read(16), 0);
        assert!(r.consumed() > d.len());
    }

    #[test]
    fn unit_reader_padding() {
        let d = [0u8; 8];
        let mut r = UnitReader::new(&d, 0);
        r.read(3);
        assert_eq!(r.raw_position_after_padding(), 2);
        r.read(13);
        assert_eq!(r.raw_position_after_padding(), 4);
    }

    #[test]
    fn byte_reader_order() {
        let d = [0b1010_0000, 0xFF];
        let mut r = ByteReader::new(&d);
        assert_eq!(r.read(3), 0b101);
        assert_eq!(r.read(5), 0);
        assert_eq!(r.read(4), 0xF);
        assert_eq!(r.consumed(), 2);
    }
}
