//! Indexes: $INDEX_ROOT (0x90), $INDEX_ALLOCATION (0xA0) INDX blocks and
//! index entries, NTFS Documentation "Attribute: $INDEX_ROOT", "Attribute:
//! $INDEX_ALLOCATION", "Concepts: Index Entry", plus the collation rules.
//!
//! Writing builds a whole B-tree bottom-up from a sorted entry list:
//! leaves are filled to the block size, each boundary entry moves up one
//! level, and the top level goes into the root when it fits.

use crate::error::{corrupt, Result};
use crate::le;
use std::cmp::Ordering;

pub const ENTRY_NODE: u16 = 1;
pub const ENTRY_END: u16 = 2;
/// Offset of the entries in an INDX block (after the 9-entry fixup array).
const BLOCK_ENTRIES: usize = 0x40;

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// An $I30 entry: MFT reference and a $FILE_NAME key.
pub fn file_name_entry(mref: u64, key: &[u8]) -> Vec<u8> {
    let len = align8(0x10 + key.len());
    let mut e = vec![0u8; len];
    le::put64(&mut e, 0, mref);
    le::put16(&mut e, 8, len as u16);
    le::put16(&mut e, 10, key.len() as u16);
    e[0x10..0x10 + key.len()].copy_from_slice(key);
    e
}

/// A view-index entry: key then data. `fill` goes in the padding after
/// the data (the $SDH "II" filler), if room.
pub fn view_entry(key: &[u8], data: &[u8], fill: &[u8]) -> Vec<u8> {
    let data_off = 0x10 + key.len();
    let len = align8(data_off + data.len() + fill.len());
    let mut e = vec![0u8; len];
    le::put16(&mut e, 0, if data.is_empty() { 0 } else { data_off as u16 });
    le::put16(&mut e, 2, data.len() as u16);
    le::put16(&mut e, 8, len as u16);
    le::put16(&mut e, 10, key.len() as u16);
    e[0x10..data_off].copy_from_slice(key);
    e[data_off..data_off + data.len()].copy_from_slice(data);
    e[data_off + data.len()..data_off + data.len() + fill.len()].copy_from_slice(fill);
    e
}

fn with_child(entry: &[u8], child: Option<u64>) -> Vec<u8> {
    let mut e = entry.to_vec();
    if let Some(vcn) = child {
        let len = e.len() + 8;
        le::put16(&mut e, 8, len as u16);
        let f = le::u16(&e, 12) | ENTRY_NODE;
        le::put16(&mut e, 12, f);
        e.extend_from_slice(&vcn.to_le_bytes());
    }
    e
}

fn end_entry(child: Option<u64>) -> Vec<u8> {
    let mut e = vec![0u8; 16];
    le::put16(&mut e, 8, 16);
    le::put16(&mut e, 12, ENTRY_END);
    with_child(&e, child)
}

/// A built index: root entries (encoded, ending with the END entry),
/// whether the root points to blocks, and the INDX blocks (without
/// fixups; [`finish_block`] applies them).
#[derive(Debug, Clone, Default)]
pub struct BuiltIndex {
    pub root_entries: Vec<u8>,
    pub large: bool,
    pub blocks: Vec<Vec<u8>>,
}

struct Item {
    entry: Vec<u8>,
    child: Option<u64>,
}

impl Item {
    fn size(&self) -> usize {
        self.entry.len() + if self.child.is_some() { 8 } else { 0 }
    }
}

/// Build the tree for `entries` (already sorted). `root_cap` is the room
/// for root entries (including the END entry) when the index stays small;
/// `root_cap_large` when it gets an allocation. `vcns_per_block` converts
/// block numbers to VCNs.
pub fn build(
    entries: Vec<Vec<u8>>,
    root_cap: usize,
    root_cap_large: usize,
    block_size: usize,
    vcns_per_block: u64,
) -> BuiltIndex {
    let total: usize = entries.iter().map(|e| e.len()).sum::<usize>() + 16;
    if total <= root_cap {
        let mut root = entries.concat();
        root.extend_from_slice(&end_entry(None));
        return BuiltIndex {
            root_entries: root,
            large: false,
            blocks: Vec::new(),
        };
    }
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut items: Vec<Item> = entries
        .into_iter()
        .map(|entry| Item { entry, child: None })
        .collect();
    let mut last_child: Option<u64> = None;
    loop {
        let size: usize = items.iter().map(|i| i.size()).sum::<usize>() + 24;
        if last_child.is_some() && size <= root_cap_large {
            let mut root = Vec::new();
            for it in &items {
                root.extend_from_slice(&with_child(&it.entry, it.child));
            }
            root.extend_from_slice(&end_entry(last_child));
            return BuiltIndex {
                root_entries: root,
                large: true,
                blocks,
            };
        }
        // Pack this level into blocks.
        let cap = block_size - BLOCK_ENTRIES - 24;
        let mut parent: Vec<Item> = Vec::new();
        let mut cur: Vec<Item> = Vec::new();
        let mut cur_size = 0usize;
        let mut it = items.into_iter().peekable();
        let emit = |cur: Vec<Item>, end_child: Option<u64>, blocks: &mut Vec<Vec<u8>>| -> u64 {
            let vcn = blocks.len() as u64 * vcns_per_block;
            let has_children = end_child.is_some();
            let mut b = vec![0u8; block_size];
            let mut off = BLOCK_ENTRIES;
            for c in &cur {
                let e = with_child(&c.entry, c.child);
                b[off..off + e.len()].copy_from_slice(&e);
                off += e.len();
            }
            let e = end_entry(end_child);
            b[off..off + e.len()].copy_from_slice(&e);
            off += e.len();
            b[0..4].copy_from_slice(b"INDX");
            le::put16(&mut b, 4, 0x28);
            le::put16(&mut b, 6, (block_size / 512 + 1) as u16);
            le::put64(&mut b, 0x10, vcn);
            le::put32(&mut b, 0x18, (BLOCK_ENTRIES - 0x18) as u32);
            le::put32(&mut b, 0x1C, (off - 0x18) as u32);
            le::put32(&mut b, 0x20, (block_size - 0x18) as u32);
            b[0x24] = has_children as u8;
            blocks.push(b);
            vcn
        };
        while let Some(item) = it.next() {
            if cur_size + item.size() <= cap {
                cur_size += item.size();
                cur.push(item);
                continue;
            }
            // `item` becomes the separator, unless it is the last one:
            // then the previous entry separates, so no node is empty.
            let (sep, pushback) = if it.peek().is_none() {
                (cur.pop().expect("a full node has entries"), Some(item))
            } else {
                (item, None)
            };
            let vcn = emit(std::mem::take(&mut cur), sep.child, &mut blocks);
            parent.push(Item {
                entry: sep.entry,
                child: Some(vcn),
            });
            cur_size = 0;
            if let Some(p) = pushback {
                cur_size = p.size();
                cur.push(p);
            }
        }
        let vcn = emit(cur, last_child, &mut blocks);
        items = parent;
        last_child = Some(vcn);
    }
}

/// Apply fixups to a built block before writing it.
pub fn finish_block(b: &mut [u8]) {
    crate::fixup::protect(b, 1);
}

/// The $INDEX_ROOT value.
pub fn root_value(
    indexed_type: u32,
    collation: u32,
    block_size: u32,
    clusters_per_block: u8,
    built: &BuiltIndex,
) -> Vec<u8> {
    let mut v = vec![0u8; 0x20];
    le::put32(&mut v, 0, indexed_type);
    le::put32(&mut v, 4, collation);
    le::put32(&mut v, 8, block_size);
    v[12] = clusters_per_block;
    le::put32(&mut v, 0x10, 0x10);
    let len = 0x10 + built.root_entries.len() as u32;
    le::put32(&mut v, 0x14, len);
    le::put32(&mut v, 0x18, len);
    v[0x1C] = built.large as u8;
    v.extend_from_slice(&built.root_entries);
    v
}

/// Bytes the $INDEX_ROOT value takes around its entries.
pub const ROOT_OVERHEAD: usize = 0x20;

/// The $BITMAP value for `n` blocks in use (8-byte multiple).
pub fn bitmap_value(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; align8(n.div_ceil(8)).max(8)];
    for i in 0..n {
        v[i / 8] |= 1 << (i % 8);
    }
    v
}

// ---- collation -------------------------------------------------------

/// COLLATION_FILE_NAME: compare through $UpCase, then code units.
pub fn collate_names(upcase: &[u16], a: &[u16], b: &[u16]) -> Ordering {
    let up = |c: u16| upcase.get(c as usize).copied().unwrap_or(c);
    a.iter()
        .map(|&c| up(c))
        .cmp(b.iter().map(|&c| up(c)))
        .then_with(|| a.cmp(b))
}

/// COLLATION_NTOFS_ULONGS / ULONG / SECURITY_HASH: compare keys as
/// sequences of little-endian u32.
pub fn collate_ulongs(a: &[u8], b: &[u8]) -> Ordering {
    let w = |k: &[u8]| {
        k.chunks(4)
            .map(|c| {
                let mut x = [0u8; 4];
                x[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(x)
            })
            .collect::<Vec<u32>>()
    };
    w(a).cmp(&w(b))
}

// ---- reading ---------------------------------------------------------

/// A parsed index entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The first 8 bytes (MFT reference for $I30, data offset/length for views).
    pub head: u64,
    pub flags: u16,
    pub key: Vec<u8>,
    pub child: Option<u64>,
    /// Whole entry bytes (for views: data lives inside).
    pub raw: Vec<u8>,
}

/// Parse the entries of a node: `b[start..end]`; `dev_off` labels errors.
pub fn parse_entries(
    b: &[u8],
    start: usize,
    end: usize,
    dev_off: u64,
    what: &'static str,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut off = start;
    if end > b.len() || start > end {
        return Err(corrupt(
            dev_off,
            what,
            "index header points outside the node",
        ));
    }
    loop {
        if off + 16 > end {
            return Err(corrupt(
                dev_off + off as u64,
                what,
                "index entries run past the node without an END entry",
            ));
        }
        let len = le::u16(b, off + 8) as usize;
        let key_len = le::u16(b, off + 10) as usize;
        let flags = le::u16(b, off + 12);
        if len < 16 || len % 8 != 0 || off + len > end {
            return Err(corrupt(
                dev_off + off as u64,
                what,
                format!("bad index entry length {len:#x}"),
            ));
        }
        let child = if flags & ENTRY_NODE != 0 {
            if len < 24 {
                return Err(corrupt(
                    dev_off + off as u64,
                    what,
                    "node entry too short for a child VCN",
                ));
            }
            Some(le::u64(b, off + len - 8))
        } else {
            None
        };
        let is_end = flags & ENTRY_END != 0;
        let key = if is_end {
            Vec::new()
        } else {
            if 0x10 + key_len > len {
                return Err(corrupt(
                    dev_off + off as u64,
                    what,
                    "index key runs past its entry",
                ));
            }
            b[off + 0x10..off + 0x10 + key_len].to_vec()
        };
        out.push(Entry {
            head: le::u64(b, off),
            flags,
            key,
            child,
            raw: b[off..off + len].to_vec(),
        });
        off += len;
        if is_end {
            return Ok(out);
        }
    }
}
