//! Transaction logs (regf specification, "Format of transaction log
//! files"): `.LOG1`/`.LOG2` beside a primary hive hold the pages of an
//! interrupted write. A primary whose sequence numbers differ (or whose
//! base block checksum fails) is dirty and is recovered from them before
//! reading.
//!
//! * Old format (before Windows 8.1): a base block (file type 1), then at
//!   offset 512 "DIRT" and a bitmap with one bit per 512-byte page of the
//!   hive bins data, then the dirty pages in bitmap order starting at the
//!   next 512-byte boundary. The log's base block replaces the primary's.
//! * New format: a base block (file type 6), then from offset 512 log
//!   entries: "HvLE", size, flags, sequence number, hive bins size, dirty
//!   page count, Hash-1 (Marvin32 of everything after the 40-byte header),
//!   Hash-2 (Marvin32 of the first 32 bytes), the (offset, size) page
//!   references and the page bytes. Entries are applied in sequence-number
//!   order starting at the primary's secondary sequence number, across
//!   both logs, until the first missing or invalid one.
//!
//! This module also writes logs of both formats, used to build dirty test
//! hives.

use crate::base::{
    checksum, fix_checksum, put_u32, put_u64, u32_at, u64_at, BaseBlock, BASE_BLOCK_SIZE,
    TYPE_LOG_NEW, TYPE_LOG_OLD, TYPE_PRIMARY,
};
use crate::error::{Error, ErrorKind, Result};
use crate::marvin::{marvin32, LOG_SEED};
use std::collections::BTreeMap;

const ENTRY_HEADER: usize = 40;
/// No hive bins data larger than this is accepted from a log (2 GiB limit
/// Windows also has).
const MAX_HBINS: u64 = 0x8000_0000;

struct Entry<'a> {
    hbins_size: u32,
    pages: Vec<(u32, &'a [u8])>,
}

fn parse_entries(log: &[u8]) -> BTreeMap<u32, Entry<'_>> {
    let mut out = BTreeMap::new();
    let mut pos = 512usize;
    while pos + ENTRY_HEADER <= log.len() {
        let e = &log[pos..];
        if &e[0..4] != b"HvLE" {
            break;
        }
        let size = u32_at(e, 4) as usize;
        if size < ENTRY_HEADER || size % 512 != 0 || size > e.len() {
            break;
        }
        let e = &e[..size];
        let seq = u32_at(e, 0x0C);
        let hbins_size = u32_at(e, 0x10);
        let count = u32_at(e, 0x14) as usize;
        if marvin32(LOG_SEED, &e[0..0x20]) != u64_at(e, 0x20)
            || marvin32(LOG_SEED, &e[ENTRY_HEADER..]) != u64_at(e, 0x18)
            || count > (size - ENTRY_HEADER) / 8
            || hbins_size as u64 > MAX_HBINS
        {
            break;
        }
        let mut data = ENTRY_HEADER + count * 8;
        let mut pages = Vec::with_capacity(count);
        let mut ok = true;
        for i in 0..count {
            let off = u32_at(e, ENTRY_HEADER + i * 8);
            let len = u32_at(e, ENTRY_HEADER + i * 8 + 4) as usize;
            if data + len > size || off as u64 + len as u64 > hbins_size as u64 {
                ok = false;
                break;
            }
            pages.push((off, &e[data..data + len]));
            data += len;
        }
        if !ok {
            break;
        }
        out.entry(seq).or_insert(Entry { hbins_size, pages });
        pos += size;
    }
    out
}

fn resize_bins(img: &mut Vec<u8>, hbins_size: u32) {
    img.resize(BASE_BLOCK_SIZE + hbins_size as usize, 0);
}

/// Recover a dirty primary image with the given log images. Returns `None`
/// when the primary is clean, else the recovered image (clean: equal
/// sequence numbers, valid checksum) and a note saying what was applied.
pub fn recover(primary: &[u8], logs: &[&[u8]]) -> Result<Option<(Vec<u8>, String)>> {
    let base = BaseBlock::parse(primary, false)?;
    if !base.is_dirty() && base.checksum_ok {
        return Ok(None);
    }
    // New format: gather valid entries of every log.
    let mut entries: BTreeMap<u32, Entry> = BTreeMap::new();
    let mut old_logs = Vec::new();
    for log in logs {
        let lb = match BaseBlock::parse(log, true) {
            Ok(b) => b,
            Err(_) => continue,
        };
        if log.len() >= 516 && &log[512..516] == b"HvLE" && lb.file_type == TYPE_LOG_NEW {
            for (s, e) in parse_entries(log) {
                entries.entry(s).or_insert(e);
            }
        } else if log.len() >= 516 && &log[512..516] == b"DIRT" {
            old_logs.push((lb, *log));
        }
    }
    let start = base.secondary_seq;
    let first = entries.range(start..).next().map(|(s, _)| *s);
    if let Some(mut seq) = first {
        let mut img = primary.to_vec();
        let mut applied = 0;
        let mut size = base.hbins_size;
        // Every byte of the recovered hive bins data comes from the primary
        // or from a log page: a declared size beyond both would only be
        // zero fill (no valid bin), so such an entry is invalid and ends
        // the replay, like any other invalid entry. This also keeps a
        // forged size from allocating up to MAX_HBINS.
        let mut supplied = primary.len().saturating_sub(BASE_BLOCK_SIZE) as u64;
        while let Some(e) = entries.get(&seq) {
            supplied += e.pages.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
            if e.hbins_size as u64 > supplied {
                break;
            }
            size = e.hbins_size;
            resize_bins(&mut img, size);
            for (off, data) in &e.pages {
                let a = BASE_BLOCK_SIZE + *off as usize;
                img[a..a + data.len()].copy_from_slice(data);
            }
            applied += 1;
            seq = seq.wrapping_add(1);
        }
        let b = &mut img[..BASE_BLOCK_SIZE];
        put_u32(b, 4, seq);
        put_u32(b, 8, seq);
        put_u32(b, 0x1C, TYPE_PRIMARY);
        put_u32(b, 0x28, size);
        fix_checksum(b);
        return Ok(Some((
            img,
            format!("replayed {applied} new-format log entries (sequence {start}..{seq})"),
        )));
    }
    // Old format: the newest valid log whose sequence is not older than
    // the primary.
    old_logs.retain(|(lb, _)| lb.primary_seq == lb.secondary_seq && lb.primary_seq >= start);
    old_logs.sort_by_key(|(lb, _)| std::cmp::Reverse(lb.primary_seq));
    if let Some((lb, log)) = old_logs.first() {
        let size = lb.hbins_size as usize;
        if size as u64 > MAX_HBINS || size % 4096 != 0 {
            return Err(Error::at(
                0x28,
                "old-format log base block",
                ErrorKind::BadSize(format!("{size:#x}")),
            ));
        }
        let bitmap_len = size / 4096;
        let bm_end = 516 + bitmap_len;
        if bm_end > log.len() {
            return Err(Error::at(
                516,
                "old-format log dirty vector",
                ErrorKind::Truncated,
            ));
        }
        let bitmap = &log[516..bm_end];
        let mut src = bm_end.div_ceil(512) * 512;
        // As for new-format entries: the primary and the log's pages must
        // be able to supply every byte of the declared size.
        let supplied =
            primary.len().saturating_sub(BASE_BLOCK_SIZE) + log.len().saturating_sub(src);
        if size > supplied {
            return Err(Error::at(
                0x28,
                "old-format log base block",
                ErrorKind::BadSize(format!(
                    "hive bins size {size:#x} but the primary and the log supply only {supplied:#x} bytes"
                )),
            ));
        }
        let mut img = primary.to_vec();
        resize_bins(&mut img, lb.hbins_size);
        let mut applied = 0;
        for page in 0..size / 512 {
            if bitmap[page / 8] & (1 << (page % 8)) != 0 {
                if src + 512 > log.len() {
                    return Err(Error::at(
                        src as u64,
                        "old-format log dirty page",
                        ErrorKind::Truncated,
                    ));
                }
                let a = BASE_BLOCK_SIZE + page * 512;
                img[a..a + 512].copy_from_slice(&log[src..src + 512]);
                src += 512;
                applied += 1;
            }
        }
        let mut b = lb.raw.clone();
        let seq = lb.primary_seq;
        put_u32(&mut b, 4, seq);
        put_u32(&mut b, 8, seq);
        put_u32(&mut b, 0x1C, TYPE_PRIMARY);
        fix_checksum(&mut b);
        img[..BASE_BLOCK_SIZE].copy_from_slice(&b);
        return Ok(Some((
            img,
            format!("replayed {applied} dirty pages from an old-format log"),
        )));
    }
    Ok(None)
}

fn log_base(from: &[u8], file_type: u32, seq: u32) -> Vec<u8> {
    let mut b = from[..BASE_BLOCK_SIZE].to_vec();
    put_u32(&mut b, 4, seq);
    put_u32(&mut b, 8, seq);
    put_u32(&mut b, 0x1C, file_type);
    let c = checksum(&b);
    put_u32(&mut b, 0x1FC, c);
    b.truncate(512);
    b
}

fn changed_pages(before: &[u8], after: &[u8], page: usize) -> Vec<usize> {
    let a = &after[BASE_BLOCK_SIZE..];
    let b = before.get(BASE_BLOCK_SIZE..).unwrap_or(&[]);
    (0..a.len() / page)
        .filter(|&i| {
            let r = i * page..(i + 1) * page;
            b.get(r.clone()) != Some(&a[r])
        })
        .collect()
}

/// A new-format log holding one entry that turns the clean image `before`
/// into `after` (both from [`crate::Hive::to_bytes`]). The entry's sequence
/// number is `before`'s secondary sequence number.
pub fn write_new_format(before: &[u8], after: &[u8]) -> Vec<u8> {
    let seq = u32_at(before, 8);
    let mut out = log_base(before, TYPE_LOG_NEW, seq);
    let pages = changed_pages(before, after, 4096);
    let mut body = Vec::new();
    for &p in &pages {
        body.extend_from_slice(&((p * 4096) as u32).to_le_bytes());
        body.extend_from_slice(&4096u32.to_le_bytes());
    }
    for &p in &pages {
        let a = BASE_BLOCK_SIZE + p * 4096;
        body.extend_from_slice(&after[a..a + 4096]);
    }
    let size = (ENTRY_HEADER + body.len()).div_ceil(512) * 512;
    body.resize(size - ENTRY_HEADER, 0);
    let mut e = vec![0u8; ENTRY_HEADER];
    e[0..4].copy_from_slice(b"HvLE");
    put_u32(&mut e, 4, size as u32);
    put_u32(&mut e, 0x0C, seq);
    put_u32(&mut e, 0x10, u32_at(after, 0x28));
    put_u32(&mut e, 0x14, pages.len() as u32);
    put_u64(&mut e, 0x18, marvin32(LOG_SEED, &body));
    let h2 = marvin32(LOG_SEED, &e[0..0x20]);
    put_u64(&mut e, 0x20, h2);
    out.extend_from_slice(&e);
    out.extend_from_slice(&body);
    out
}

/// An old-format log that turns `before` into `after`.
pub fn write_old_format(before: &[u8], after: &[u8]) -> Vec<u8> {
    let seq = u32_at(before, 8).wrapping_add(1);
    let mut out = log_base(after, TYPE_LOG_OLD, seq);
    let size = u32_at(after, 0x28) as usize;
    let pages = changed_pages(before, after, 512);
    let mut bitmap = vec![0u8; size / 4096];
    for &p in &pages {
        bitmap[p / 8] |= 1 << (p % 8);
    }
    out.extend_from_slice(b"DIRT");
    out.extend_from_slice(&bitmap);
    out.resize(out.len().div_ceil(512) * 512, 0);
    for &p in &pages {
        let a = BASE_BLOCK_SIZE + p * 512;
        out.extend_from_slice(&after[a..a + 512]);
    }
    out
}

/// Mark a clean primary image dirty, as Windows does before writing pages
/// (primary sequence number one ahead of the secondary).
pub fn mark_dirty(img: &mut [u8]) {
    let s = u32_at(img, 8);
    put_u32(img, 4, s.wrapping_add(1));
    fix_checksum(&mut img[..BASE_BLOCK_SIZE]);
}
