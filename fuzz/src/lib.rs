//! Helpers shared by the fuzz targets in `fuzz_targets/` and by `seedgen`.
//!
//! * [`SparseDev`]: a read-only block device described compactly by the
//!   fuzz input ("WFSP" images), so that multi-megabyte VHDX and NTFS images
//!   become inputs of a few KiB that libFuzzer can mutate efficiently. Every
//!   read is charged against a byte budget: a hostile image cannot make one
//!   input run for minutes, and running out of budget is an ordinary I/O
//!   error the parser under test must handle.
//! * [`Parts`]: cutting one input into several byte strings (a hive and its
//!   logs) with length prefixes.
//! * Checksum fix-ups (VHDX CRC-32C, regf base block XOR, hive log entry
//!   Marvin32 hashes), applied when an input asks for them, so mutations
//!   reach the code behind the checksum checks instead of stopping there.

use blockdev::BlockDev;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Magic of a sparse image input.
pub const SPARSE_MAGIC: &[u8; 4] = b"WFSP";
/// Largest device a sparse image may declare. Parsers may allocate up to
/// the file size for a structure the file says it holds (the VHDX log is
/// read whole, up to 1 GiB); capping the device at 256 MiB keeps every such
/// allocation under libFuzzer's 512 MB malloc limit, so the limit reports
/// only allocations that are not bounded by the input.
pub const MAX_SPARSE_LEN: u64 = 256 << 20;
/// Extents one sparse image may hold.
pub const MAX_EXTENTS: usize = 1 << 14;
/// Bytes a target may read from its device per input, by default.
pub const DEFAULT_READ_BUDGET: u64 = 256 << 20;

/// Flag bit in a sparse image header: the target should recompute the
/// checksums of the structures it knows (see each target).
pub const FLAG_FIX_CHECKSUMS: u8 = 1;

/// A read-only device: zeros, overlaid with extents (later ones win).
pub struct SparseDev {
    len: u64,
    extents: Vec<(u64, Vec<u8>)>,
    budget: AtomicU64,
}

/// Header fields of a sparse image.
pub struct SparseImage {
    pub flags: u8,
    pub dev: SparseDev,
}

impl SparseDev {
    /// A device holding exactly `data` (used for raw, non-"WFSP" inputs).
    pub fn from_bytes(data: &[u8]) -> Self {
        SparseDev {
            len: data.len() as u64,
            extents: vec![(0, data.to_vec())],
            budget: AtomicU64::new(DEFAULT_READ_BUDGET),
        }
    }

    /// An all-zero device of `len` bytes.
    pub fn zeros(len: u64) -> Self {
        SparseDev {
            len: len.min(MAX_SPARSE_LEN),
            extents: Vec::new(),
            budget: AtomicU64::new(DEFAULT_READ_BUDGET),
        }
    }

    /// Overlay `data` at `offset` (clipped to the device).
    pub fn patch(&mut self, offset: u64, data: &[u8]) {
        if offset >= self.len || data.is_empty() {
            return;
        }
        let n = (self.len - offset).min(data.len() as u64) as usize;
        self.extents.push((offset, data[..n].to_vec()));
    }

    /// Read bypassing the budget (for the harness's own fix-ups).
    pub fn peek(&self, offset: u64, buf: &mut [u8]) {
        buf.fill(0);
        let end = offset.saturating_add(buf.len() as u64);
        for (o, d) in &self.extents {
            let (s, e) = (*o, *o + d.len() as u64);
            if e <= offset || s >= end {
                continue;
            }
            let from = s.max(offset);
            let to = e.min(end);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&d[(from - s) as usize..(to - s) as usize]);
        }
    }

    /// Set how many bytes may still be read.
    pub fn set_budget(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    /// Bytes the parser read so far is `DEFAULT_READ_BUDGET - remaining`.
    pub fn budget_left(&self) -> u64 {
        self.budget.load(Ordering::Relaxed)
    }

    /// Number of extents.
    pub fn extent_count(&self) -> usize {
        self.extents.len()
    }

    /// The device as flat bytes, cut after the last non-zero extent (for
    /// turning a sparse crash input into a raw regression file).
    pub fn materialize(&self) -> Vec<u8> {
        let end = self
            .extents
            .iter()
            .filter(|(_, d)| d.iter().any(|&b| b != 0))
            .map(|(o, d)| o + d.len() as u64)
            .max()
            .unwrap_or(0)
            .min(self.len);
        let mut out = vec![0u8; end as usize];
        self.peek(0, &mut out);
        out
    }
}

impl BlockDev for SparseDev {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        blockdev::check_range(self.len, offset, buf.len(), false)?;
        let n = buf.len() as u64;
        let left = self.budget.load(Ordering::Relaxed);
        if n > left {
            return Err(io::Error::other("fuzz harness: read budget exhausted"));
        }
        self.budget.store(left - n, Ordering::Relaxed);
        self.peek(offset, buf);
        Ok(())
    }

    fn write_at(&self, _offset: u64, _buf: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "fuzz harness: read-only device",
        ))
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    fn is_read_only(&self) -> bool {
        true
    }
}

/// Decode a sparse image:
///
/// ```text
/// 0   4  "WFSP"
/// 4   1  flags (FLAG_FIX_CHECKSUMS)
/// 5   8  device length, u64 LE (clamped to MAX_SPARSE_LEN)
/// 13  .. extents: u32 LE sector number (512-byte units), u16 LE byte
///        count, that many bytes; a truncated last extent keeps what is there
/// ```
///
/// Returns `None` when `data` does not start with the magic.
pub fn parse_sparse(data: &[u8]) -> Option<SparseImage> {
    if data.len() < 13 || &data[..4] != SPARSE_MAGIC {
        return None;
    }
    let flags = data[4];
    let len = u64::from_le_bytes(data[5..13].try_into().ok()?).min(MAX_SPARSE_LEN);
    let mut dev = SparseDev::zeros(len);
    let mut p = 13;
    while p + 6 <= data.len() && dev.extents.len() < MAX_EXTENTS {
        let sector = u32::from_le_bytes(data[p..p + 4].try_into().ok()?) as u64;
        let n = u16::from_le_bytes([data[p + 4], data[p + 5]]) as usize;
        p += 6;
        let n = n.min(data.len() - p);
        dev.patch(sector * 512, &data[p..p + n]);
        p += n;
    }
    Some(SparseImage { flags, dev })
}

/// Encode `image` as a sparse input: every 512-byte sector that is not all
/// zeros is kept, adjacent ones merged into extents of at most 64 KiB - 512.
pub fn encode_sparse(image: &[u8], flags: u8) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(SPARSE_MAGIC);
    out.push(flags);
    out.extend_from_slice(&(image.len() as u64).to_le_bytes());
    let sectors = image.len().div_ceil(512);
    let mut s = 0;
    while s < sectors {
        let nz = |i: usize| {
            let end = ((i + 1) * 512).min(image.len());
            image[i * 512..end].iter().any(|&b| b != 0)
        };
        if !nz(s) {
            s += 1;
            continue;
        }
        let start = s;
        while s < sectors && nz(s) && (s - start) < 127 {
            s += 1;
        }
        let from = start * 512;
        let to = (s * 512).min(image.len());
        out.extend_from_slice(&(start as u32).to_le_bytes());
        out.extend_from_slice(&((to - from) as u16).to_le_bytes());
        out.extend_from_slice(&image[from..to]);
    }
    out
}

/// An input cut into `N` parts: `N - 1` u32 LE length prefixes (each
/// taken modulo what is left), then the parts back to back; the last part
/// is the rest.
pub struct Parts;

impl Parts {
    pub fn split<const N: usize>(data: &[u8]) -> [&[u8]; N] {
        let mut out = [&data[..0]; N];
        let hdr = 4 * (N - 1);
        if data.len() < hdr {
            return out;
        }
        let mut rest = &data[hdr..];
        for (i, slot) in out.iter_mut().enumerate().take(N - 1) {
            let l = u32::from_le_bytes(data[4 * i..4 * i + 4].try_into().unwrap()) as usize;
            let l = if rest.is_empty() {
                0
            } else {
                l % (rest.len() + 1)
            };
            *slot = &rest[..l];
            rest = &rest[l..];
        }
        out[N - 1] = rest;
        out
    }

    /// The inverse of [`Parts::split`].
    pub fn join(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &parts[..parts.len().saturating_sub(1)] {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        }
        for p in parts {
            out.extend_from_slice(p);
        }
        out
    }
}

/// CRC-32C over `b` with the 4 bytes at `at` taken as zero, stored there
/// (MS-VHDX §2.2.2.1 / §2.2.3.1 / §2.3.1.1 checksum convention).
pub fn set_crc32c(b: &mut [u8], at: usize) {
    if b.len() < at + 4 {
        return;
    }
    b[at..at + 4].fill(0);
    let c = crc32c::crc32c(b);
    b[at..at + 4].copy_from_slice(&c.to_le_bytes());
}

/// Recompute the CRC-32C of both VHDX headers (4 KiB at 64 and 128 KiB),
/// both region tables (64 KiB at 192 and 256 KiB) and every log entry that
/// the first header's log region holds (entry length at offset 8).
pub fn fix_vhdx_checksums(dev: &mut SparseDev) {
    const KIB: u64 = 1024;
    let mut patches = Vec::new();
    for (off, len) in [
        (64 * KIB, 4 * KIB),
        (128 * KIB, 4 * KIB),
        (192 * KIB, 64 * KIB),
        (256 * KIB, 64 * KIB),
    ] {
        let mut b = vec![0u8; len as usize];
        dev.peek(off, &mut b);
        if b.iter().all(|&x| x == 0) {
            continue;
        }
        set_crc32c(&mut b, 4);
        patches.push((off, b));
    }
    // Log region from the header with the larger sequence number.
    let mut best: Option<(u64, u64, u64)> = None;
    for off in [64 * KIB, 128 * KIB] {
        let mut h = [0u8; 80];
        dev.peek(off, &mut h);
        if &h[..4] != b"head" {
            continue;
        }
        let seq = u64::from_le_bytes(h[8..16].try_into().unwrap());
        let log_len = u32::from_le_bytes(h[68..72].try_into().unwrap()) as u64;
        let log_off = u64::from_le_bytes(h[72..80].try_into().unwrap());
        if best.is_none_or(|(s, _, _)| seq > s) {
            best = Some((seq, log_off, log_len));
        }
    }
    if let Some((_, lo, ll)) = best {
        let ll = ll.min(8 << 20).min(u64::MAX - lo);
        let mut p = 0u64;
        while p + 4096 <= ll {
            let mut h = [0u8; 12];
            dev.peek(lo + p, &mut h);
            if &h[..4] != b"loge" {
                p += 4096;
                continue;
            }
            let el = u32::from_le_bytes(h[8..12].try_into().unwrap()) as u64;
            if el < 4096 || !el.is_multiple_of(4096) || p + el > ll {
                p += 4096;
                continue;
            }
            let mut e = vec![0u8; el as usize];
            dev.peek(lo + p, &mut e);
            set_crc32c(&mut e, 4);
            patches.push((lo + p, e));
            p += el;
        }
    }
    for (o, b) in patches {
        dev.patch(o, &b);
    }
}

/// Recompute the regf base block checksum (XOR of the first 127 dwords,
/// stored at 0x1FC) of a primary hive or log image.
pub fn fix_regf_checksum(img: &mut [u8]) {
    if img.len() >= 512 && &img[..4] == b"regf" {
        hive::base::fix_checksum(&mut img[..512]);
    }
}

/// Recompute the two Marvin32 hashes of every new-format ("HvLE") entry of
/// a hive log image, walking entries by their size field.
pub fn fix_hive_log_hashes(log: &mut [u8]) {
    const ENTRY_HEADER: usize = 40;
    let mut pos = 512;
    while pos + ENTRY_HEADER <= log.len() && &log[pos..pos + 4] == b"HvLE" {
        let size = u32::from_le_bytes(log[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if size < ENTRY_HEADER || !size.is_multiple_of(512) || pos + size > log.len() {
            break;
        }
        let body =
            hive::marvin::marvin32(hive::marvin::LOG_SEED, &log[pos + ENTRY_HEADER..pos + size]);
        log[pos + 0x18..pos + 0x20].copy_from_slice(&body.to_le_bytes());
        let head = hive::marvin::marvin32(hive::marvin::LOG_SEED, &log[pos..pos + 0x20]);
        log[pos + 0x20..pos + 0x28].copy_from_slice(&head.to_le_bytes());
        pos += size;
    }
}
