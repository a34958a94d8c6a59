//! Output bitstream of LZX (MS-PATCH LZXD §2.2; format notes §1.3): bits
//! are packed most significant first into 16-bit coding units, each stored
//! little endian. The last partial unit is padded with zero bits.

pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Pending bits in the low `count` bits.
    buf: u64,
    count: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            buf: 0,
            count: 0,
        }
    }

    /// Append the low `n` bits of `v` (`n <= 32`; `v` must not have bits
    /// above them). At most 47 bits may be pending before [`Self::flush`]
    /// is due: after a flush fewer than 16 remain, so 32 more always fit.
    #[inline(always)]
    pub(crate) fn put(&mut self, v: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || v >> n == 0));
        debug_assert!(self.count + n <= 64);
        self.buf = (self.buf << n) | u64::from(v);
        self.count += n;
    }

    /// Write out every complete 16-bit unit.
    #[inline(always)]
    pub(crate) fn flush(&mut self) {
        while self.count >= 16 {
            self.count -= 16;
            let unit = (self.buf >> self.count) as u16;
            self.out.extend_from_slice(&unit.to_le_bytes());
        }
    }

    /// `put` then `flush`.
    #[inline(always)]
    pub(crate) fn write(&mut self, v: u32, n: u32) {
        self.put(v, n);
        self.flush();
    }

    /// Bytes written so far (complete units only).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    /// Pad the last unit with zero bits and write it.
    pub(crate) fn finish(mut self) {
        self.flush();
        if self.count > 0 {
            let unit = (self.buf << (16 - self.count)) as u16;
            self.out.extend_from_slice(&unit.to_le_bytes());
        }
    }
}
