//! FILE records of the MFT, NTFS Documentation "Concepts: File Record".

use crate::attribute::{self, Attr, AttrSpec};
use crate::error::{corrupt, Error, Result};
use crate::fixup;
use crate::layout::{attr_type, MFT_RECORD_SIZE};
use crate::le;

/// Header offset where attributes start (after the 3-entry fixup array).
pub const ATTRS_OFFSET: usize = 0x38;
/// Bytes available for attributes (and the 8-byte end marker).
pub const ATTR_SPACE: usize = MFT_RECORD_SIZE - ATTRS_OFFSET - 8;

/// A record to write.
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    pub number: u64,
    pub seq: u16,
    pub flags: u16,
    pub link_count: u16,
    pub attrs: Vec<AttrSpec>,
    /// MFT reference of the base record (0 for a base record; set for
    /// extension records, see [`crate::attrlist`]).
    pub base: u64,
}

/// A record that is not in use (formatted, flags 0).
pub fn empty_record(number: u64, seq: u16) -> Vec<u8> {
    let mut b = vec![0u8; MFT_RECORD_SIZE];
    header(&mut b, number, seq, 0, 0, 0);
    le::put32(&mut b, ATTRS_OFFSET, attr_type::END);
    le::put32(&mut b, 0x18, (ATTRS_OFFSET + 8) as u32);
    fixup::protect(&mut b, 1);
    b
}

fn header(b: &mut [u8], number: u64, seq: u16, link_count: u16, flags: u16, next_instance: u16) {
    b[0..4].copy_from_slice(b"FILE");
    le::put16(b, 4, 0x30);
    le::put16(b, 6, (MFT_RECORD_SIZE / 512 + 1) as u16);
    le::put16(b, 0x10, seq);
    le::put16(b, 0x12, link_count);
    le::put16(b, 0x14, ATTRS_OFFSET as u16);
    le::put16(b, 0x16, flags);
    le::put32(b, 0x1C, MFT_RECORD_SIZE as u32);
    le::put16(b, 0x28, next_instance);
    le::put32(b, 0x2C, number as u32);
}

/// Space the attributes take (without the end marker).
pub fn attrs_len(attrs: &[AttrSpec]) -> usize {
    attrs.iter().map(|a| a.encoded_len()).sum()
}

impl RecordBuilder {
    /// Serialise with fixups applied. Attributes are sorted by type, then
    /// name; instances are numbered in that order.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut attrs: Vec<&AttrSpec> = self.attrs.iter().collect();
        attrs.sort_by(|a, b| a.ty.cmp(&b.ty).then_with(|| a.name.cmp(&b.name)));
        let used = attrs.iter().map(|a| a.encoded_len()).sum::<usize>();
        if used > ATTR_SPACE {
            return Err(Error::Unsupported(format!(
                "internal: MFT record {} needs {} bytes of attributes (max {ATTR_SPACE})",
                self.number, used
            )));
        }
        let mut b = vec![0u8; MFT_RECORD_SIZE];
        header(
            &mut b,
            self.number,
            self.seq,
            self.link_count,
            self.flags,
            attrs.len() as u16,
        );
        le::put64(&mut b, 0x20, self.base);
        let mut off = ATTRS_OFFSET;
        for (i, a) in attrs.iter().enumerate() {
            let e = a.encode(i as u16);
            b[off..off + e.len()].copy_from_slice(&e);
            off += e.len();
        }
        le::put32(&mut b, off, attr_type::END);
        le::put32(&mut b, 0x18, (off + 8) as u32);
        fixup::protect(&mut b, 1);
        Ok(b)
    }
}

/// A parsed FILE record.
#[derive(Debug, Clone)]
pub struct Record {
    pub number: u64,
    pub seq: u16,
    pub link_count: u16,
    pub flags: u16,
    pub base: u64,
    pub attrs: Vec<Attr>,
}

impl Record {
    pub fn in_use(&self) -> bool {
        self.flags & crate::layout::record_flags::IN_USE != 0
    }

    pub fn is_dir(&self) -> bool {
        self.flags & crate::layout::record_flags::IS_DIRECTORY != 0
    }

    pub fn find(&self, ty: u32, name: &[u16]) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.ty == ty && a.name == name)
    }
}

/// Parse record `number` from `buf` (raw bytes read at `dev_off`).
pub fn parse(
    mut buf: Vec<u8>,
    number: u64,
    dev_off: u64,
    total_clusters: u64,
    cluster: u64,
) -> Result<Record> {
    if buf.len() < 0x30 || &buf[0..4] != b"FILE" {
        return Err(corrupt(
            dev_off,
            "FILE record",
            format!("record {number}: bad magic"),
        ));
    }
    fixup::unprotect(&mut buf, dev_off, "FILE record")?;
    let attrs_off = le::u16(&buf, 0x14) as usize;
    let in_use_bytes = le::u32(&buf, 0x18) as usize;
    if attrs_off < 0x30 || attrs_off >= buf.len() || in_use_bytes > buf.len() {
        return Err(corrupt(
            dev_off,
            "FILE record",
            format!("record {number}: bad attribute offset or size"),
        ));
    }
    let mut attrs = Vec::new();
    let mut off = attrs_off;
    while let Some((mut a, next)) = attribute::parse(&buf, off, dev_off, total_clusters, cluster)? {
        a.record = number;
        attrs.push(a);
        off = next;
        if attrs.len() > 512 {
            return Err(corrupt(dev_off, "FILE record", "too many attributes"));
        }
    }
    Ok(Record {
        number,
        seq: le::u16(&buf, 0x10),
        link_count: le::u16(&buf, 0x12),
        flags: le::u16(&buf, 0x16),
        base: le::u64(&buf, 0x20) & 0xFFFF_FFFF_FFFF,
        attrs,
    })
}
