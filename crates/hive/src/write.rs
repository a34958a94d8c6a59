//! Serialising the [`Hive`] model into a clean hive image: base block with
//! equal sequence numbers and a valid checksum, then hive bins filled in
//! key order (root key node first, at offset 0x20, as Windows lays out a
//! fresh hive). Security descriptors are written once per distinct
//! descriptor with their reference counts and list links; subkey lists are
//! sorted by uppercase name, "lh" leaves for format 1.5+, "lf" for older,
//! split under an "ri" root index past [`LEAF_MAX`] entries; values over
//! 16344 bytes use big data cells in format 1.4+.
//!
//! Every write produces a compacted image: space that deleted keys and
//! values occupied is reclaimed, and the last bin's tail is one free cell.

use crate::base::{put_u16, put_u32, put_u64, write_primary, BASE_BLOCK_SIZE};
use crate::cell::NONE;
use crate::hbin::{HBIN_ALIGN, HBIN_HEADER};
use crate::model::{Hive, Key, Value};
use crate::{db, name, nk, vk};
use std::collections::HashMap;

/// Most entries in one subkey-list leaf (keeps a leaf inside one 4 KiB bin).
pub const LEAF_MAX: usize = 500;

struct Out {
    buf: Vec<u8>,
    pos: usize,
    bin_end: usize,
    /// descriptor -> index into `sk`
    sk_index: HashMap<Vec<u8>, usize>,
    /// (offset, refcount)
    sk: Vec<(u32, u32)>,
    minor: u32,
    timestamp: u64,
}

fn round8(n: usize) -> usize {
    (n + 7) & !7
}

impl Out {
    /// Allocate a cell with `payload` bytes; returns its offset.
    fn alloc(&mut self, payload: usize) -> u32 {
        let size = round8(payload + 4).max(8);
        if self.pos + size > self.bin_end {
            self.close_bin();
            let start = self.bin_end;
            let bin = (size + HBIN_HEADER).div_ceil(HBIN_ALIGN) * HBIN_ALIGN;
            self.buf.resize(start + bin, 0);
            let h = &mut self.buf[start..start + HBIN_HEADER];
            h[0..4].copy_from_slice(b"hbin");
            put_u32(h, 4, start as u32);
            put_u32(h, 8, bin as u32);
            if start == 0 {
                put_u64(h, 0x14, self.timestamp);
            }
            self.pos = start + HBIN_HEADER;
            self.bin_end = start + bin;
        }
        let off = self.pos;
        put_u32(&mut self.buf, off, (-(size as i32)) as u32);
        self.pos += size;
        off as u32
    }

    /// Mark the rest of the current bin as one free cell.
    fn close_bin(&mut self) {
        if self.bin_end > self.pos {
            let free = self.bin_end - self.pos;
            put_u32(&mut self.buf, self.pos, free as u32);
            self.pos = self.bin_end;
        }
    }

    fn cell(&mut self, off: u32) -> &mut [u8] {
        let o = off as usize;
        let size = (crate::base::u32_at(&self.buf, o) as i32).unsigned_abs() as usize;
        &mut self.buf[o + 4..o + size]
    }

    fn bytes_cell(&mut self, data: &[u8]) -> u32 {
        let off = self.alloc(data.len());
        self.cell(off)[..data.len()].copy_from_slice(data);
        off
    }

    fn security(&mut self, desc: &[u8]) -> u32 {
        if let Some(&i) = self.sk_index.get(desc) {
            self.sk[i].1 += 1;
            return self.sk[i].0;
        }
        let off = self.alloc(crate::sk::HEADER + desc.len());
        let c = self.cell(off);
        c[0..2].copy_from_slice(b"sk");
        put_u32(c, 0x10, desc.len() as u32);
        c[crate::sk::HEADER..crate::sk::HEADER + desc.len()].copy_from_slice(desc);
        self.sk_index.insert(desc.to_vec(), self.sk.len());
        self.sk.push((off, 1));
        off
    }

    fn value(&mut self, v: &Value) -> u32 {
        let (nm, comp) = name::encode(&v.name);
        let off = self.alloc(vk::HEADER + nm.len());
        let len = v.data.len();
        let (size_field, data_off) = if len <= 4 {
            let mut b = [0u8; 4];
            b[..len].copy_from_slice(&v.data);
            (len as u32 | vk::DATA_INLINE, u32::from_le_bytes(b))
        } else if len > db::SEGMENT && self.minor >= 4 {
            // Segment cells get 4 bytes of slack past their data, as
            // Windows allocates them (hivex relies on it).
            let segs: Vec<u32> = v
                .data
                .chunks(db::SEGMENT)
                .map(|s| {
                    let o = self.alloc(s.len() + 4);
                    self.cell(o)[..s.len()].copy_from_slice(s);
                    o
                })
                .collect();
            let list: Vec<u8> = segs.iter().flat_map(|s| s.to_le_bytes()).collect();
            let list_off = self.bytes_cell(&list);
            let d = self.alloc(8);
            let c = self.cell(d);
            c[0..2].copy_from_slice(b"db");
            put_u16(c, 2, segs.len() as u16);
            put_u32(c, 4, list_off);
            (len as u32, d)
        } else {
            (len as u32, self.bytes_cell(&v.data))
        };
        let c = self.cell(off);
        c[0..2].copy_from_slice(b"vk");
        put_u16(c, 2, nm.len() as u16);
        put_u32(c, 4, size_field);
        put_u32(c, 8, data_off);
        put_u32(c, 0x0C, v.data_type);
        put_u16(
            c,
            0x10,
            v.flags | if comp { vk::VALUE_COMP_NAME } else { 0 },
        );
        c[vk::HEADER..vk::HEADER + nm.len()].copy_from_slice(&nm);
        off
    }

    fn leaf(&mut self, keys: &[(u32, &str)]) -> u32 {
        let hash_leaf = self.minor >= 5;
        let off = self.alloc(4 + keys.len() * 8);
        let c = self.cell(off);
        c[0..2].copy_from_slice(if hash_leaf { b"lh" } else { b"lf" });
        put_u16(c, 2, keys.len() as u16);
        for (i, (o, n)) in keys.iter().enumerate() {
            put_u32(c, 4 + i * 8, *o);
            let h = if hash_leaf {
                name::lh_hash(n)
            } else {
                let (b, comp) = name::encode(n);
                let mut hint = [0u8; 4];
                if comp {
                    for (d, s) in hint.iter_mut().zip(b.iter()) {
                        *d = *s;
                    }
                } else {
                    for (d, u) in hint.iter_mut().zip(n.encode_utf16()) {
                        *d = u as u8;
                    }
                }
                u32::from_le_bytes(hint)
            };
            put_u32(c, 8 + i * 8, h);
        }
        off
    }

    fn key(&mut self, k: &Key, parent: u32, is_root: bool) -> u32 {
        let (nm, comp) = name::encode(&k.name);
        let off = self.alloc(nk::HEADER + nm.len());
        let sec = k
            .security
            .as_ref()
            .map(|s| self.security(s))
            .unwrap_or(NONE);
        let class = k.class.as_ref().map(|c| self.bytes_cell(c)).unwrap_or(NONE);
        let vals: Vec<u32> = k.values.iter().map(|v| self.value(v)).collect();
        let vlist = if vals.is_empty() {
            NONE
        } else {
            let b: Vec<u8> = vals.iter().flat_map(|o| o.to_le_bytes()).collect();
            self.bytes_cell(&b)
        };
        let mut subs: Vec<&Key> = k.subkeys.iter().collect();
        subs.sort_by(|a, b| name::cmp_names(&a.name, &b.name));
        let child_offs: Vec<(u32, &str)> = subs
            .iter()
            .map(|s| (self.key(s, off, false), s.name.as_str()))
            .collect();
        let slist = if child_offs.is_empty() {
            NONE
        } else if child_offs.len() <= LEAF_MAX {
            self.leaf(&child_offs)
        } else {
            let leaves: Vec<u32> = child_offs
                .chunks(LEAF_MAX)
                .map(|ch| self.leaf(ch))
                .collect();
            let ri = self.alloc(4 + leaves.len() * 4);
            let c = self.cell(ri);
            c[0..2].copy_from_slice(b"ri");
            put_u16(c, 2, leaves.len() as u16);
            for (i, l) in leaves.iter().enumerate() {
                put_u32(c, 4 + i * 4, *l);
            }
            ri
        };
        let max_sub = subs
            .iter()
            .map(|s| name::utf16_len(&s.name))
            .max()
            .unwrap_or(0);
        let max_class = subs
            .iter()
            .map(|s| s.class.as_ref().map(|c| c.len()).unwrap_or(0))
            .max()
            .unwrap_or(0);
        let max_vname = k
            .values
            .iter()
            .map(|v| name::utf16_len(&v.name))
            .max()
            .unwrap_or(0);
        let max_vdata = k.values.iter().map(|v| v.data.len()).max().unwrap_or(0);
        let mut flags = k.flags & !nk::KEY_COMP_NAME;
        if comp {
            flags |= nk::KEY_COMP_NAME;
        }
        if is_root {
            flags |= nk::KEY_HIVE_ENTRY | nk::KEY_NO_DELETE;
        }
        let c = self.cell(off);
        c[0..2].copy_from_slice(b"nk");
        put_u16(c, 2, flags);
        put_u64(c, 4, k.timestamp);
        put_u32(c, 0x0C, k.access_bits);
        put_u32(c, 0x10, parent);
        put_u32(c, 0x14, subs.len() as u32);
        put_u32(c, 0x18, 0);
        put_u32(c, 0x1C, slist);
        put_u32(c, 0x20, NONE);
        put_u32(c, 0x24, vals.len() as u32);
        put_u32(c, 0x28, vlist);
        put_u32(c, 0x2C, sec);
        put_u32(c, 0x30, class);
        put_u32(
            c,
            0x34,
            (max_sub as u32 & 0xFFFF) | (k.max_name_hi as u32) << 16,
        );
        put_u32(c, 0x38, max_class as u32);
        put_u32(c, 0x3C, max_vname as u32);
        put_u32(c, 0x40, max_vdata as u32);
        put_u32(c, 0x44, 0);
        put_u16(c, 0x48, nm.len() as u16);
        put_u16(
            c,
            0x4A,
            k.class.as_ref().map(|c| c.len()).unwrap_or(0) as u16,
        );
        c[nk::HEADER..nk::HEADER + nm.len()].copy_from_slice(&nm);
        off
    }
}

/// Serialise a hive. The sequence numbers are `seq` (both), so the image is
/// clean.
pub fn serialize(h: &Hive, seq: u32, timestamp: u64) -> Vec<u8> {
    let mut out = Out {
        buf: Vec::new(),
        pos: 0,
        bin_end: 0,
        sk_index: HashMap::new(),
        sk: Vec::new(),
        minor: h.minor,
        timestamp,
    };
    let root = out.key(&h.root, NONE, true);
    out.close_bin();
    // Link the security cells into their circular list, set refcounts.
    let n = out.sk.len();
    for i in 0..n {
        let (off, refs) = out.sk[i];
        let flink = out.sk[(i + 1) % n].0;
        let blink = out.sk[(i + n - 1) % n].0;
        let c = out.cell(off);
        put_u32(c, 4, flink);
        put_u32(c, 8, blink);
        put_u32(c, 0x0C, refs);
    }
    let mut base = h.base.clone();
    base.resize(BASE_BLOCK_SIZE, 0);
    write_primary(
        &mut base,
        seq,
        timestamp,
        h.minor,
        root,
        out.buf.len() as u32,
    );
    let mut img = base;
    img.extend_from_slice(&out.buf);
    img
}
