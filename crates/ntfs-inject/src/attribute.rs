//! Attribute records inside a FILE record, NTFS Documentation "Concepts:
//! Attribute Header" (resident and non-resident forms).

use crate::error::{corrupt, Result};
use crate::le;
use crate::runlist::{self, Run};

/// Attribute flag: sparse (non-resident header carries compressed_size).
pub const FLAG_SPARSE: u16 = 0x8000;
/// Attribute flag: compressed.
pub const FLAG_COMPRESSED: u16 = 0x0001;

/// What an attribute holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Resident {
        value: Vec<u8>,
        indexed: bool,
    },
    NonResident {
        runs: Vec<Run>,
        allocated: u64,
        data: u64,
        initialized: u64,
    },
}

/// An attribute to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrSpec {
    pub ty: u32,
    pub name: Vec<u16>,
    pub flags: u16,
    pub body: Body,
    /// First VCN this record maps (non-zero only for later extents of an
    /// attribute split over extension records; see [`crate::attrlist`]).
    pub lowest_vcn: u64,
    /// log2 of the compression unit in clusters, written at offset 0x22 of
    /// a sparse or compressed non-resident header (see
    /// [`sparse_compression_unit`]; LZNT1-compressed data always uses 4).
    pub compression_unit: u8,
}

/// The compression unit written for a sparse, not compressed, stream.
///
/// Windows allocates sparse files in units of 16 clusters (`fsutil file
/// queryExtents` on a 4 KiB-cluster volume shows 0x10-cluster extents:
/// rclone/rclone issue #4245) and its disk scan wants the allocated length
/// of a sparse attribute to be a multiple of 0x10000 (tuxera/ntfs-3g issue
/// #25); it records that unit as compression unit 4 even when the data is
/// not compressed. ntfs-3g does the same when it makes a stream sparse
/// (libntfs-3g/attrib.c `ntfs_attr_update_meta`: "Windows set it so, even
/// if attribute is not actually compressed"). So: 4 (16 clusters) for
/// clusters up to 4 KiB, where NTFS compression exists. On larger
/// clusters Windows cannot compress and the 16-cluster unit would exceed
/// the 64 KiB allocation unit we use; we write 0 there (an inference, not
/// checked against Windows).
pub fn sparse_compression_unit(cluster: u64) -> u8 {
    if cluster <= 4096 {
        4
    } else {
        0
    }
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

impl AttrSpec {
    pub fn resident(ty: u32, name: &[u16], value: Vec<u8>) -> AttrSpec {
        AttrSpec {
            ty,
            name: name.to_vec(),
            flags: 0,
            lowest_vcn: 0,
            compression_unit: 0,
            body: Body::Resident {
                value,
                indexed: ty == crate::layout::attr_type::FILE_NAME,
            },
        }
    }

    pub fn non_resident(
        ty: u32,
        name: &[u16],
        runs: Vec<Run>,
        data: u64,
        cluster: u64,
    ) -> AttrSpec {
        let allocated = runs.iter().map(|r| r.len).sum::<u64>() * cluster;
        AttrSpec {
            ty,
            name: name.to_vec(),
            flags: 0,
            lowest_vcn: 0,
            compression_unit: 0,
            body: Body::NonResident {
                runs,
                allocated,
                data,
                initialized: data,
            },
        }
    }

    fn header_len(&self) -> usize {
        match &self.body {
            Body::Resident { .. } => 0x18,
            Body::NonResident { .. } if self.flags & (FLAG_SPARSE | FLAG_COMPRESSED) != 0 => 0x48,
            Body::NonResident { .. } => 0x40,
        }
    }

    /// Bytes this attribute takes in a record.
    pub fn encoded_len(&self) -> usize {
        let name_end = align8(self.header_len() + 2 * self.name.len());
        match &self.body {
            Body::Resident { value, .. } => align8(name_end + value.len()),
            Body::NonResident { runs, .. } => align8(name_end + runlist::encode(runs).len()),
        }
    }

    pub fn encode(&self, instance: u16) -> Vec<u8> {
        let hl = self.header_len();
        let name_end = align8(hl + 2 * self.name.len());
        let len = self.encoded_len();
        let mut v = vec![0u8; len];
        le::put32(&mut v, 0, self.ty);
        le::put32(&mut v, 4, len as u32);
        v[9] = self.name.len() as u8;
        le::put16(
            &mut v,
            0x0A,
            if self.name.is_empty() { 0 } else { hl as u16 },
        );
        le::put16(&mut v, 0x0C, self.flags);
        le::put16(&mut v, 0x0E, instance);
        for (i, c) in self.name.iter().enumerate() {
            le::put16(&mut v, hl + 2 * i, *c);
        }
        match &self.body {
            Body::Resident { value, indexed } => {
                le::put32(&mut v, 0x10, value.len() as u32);
                le::put16(&mut v, 0x14, name_end as u16);
                v[0x16] = *indexed as u8;
                v[name_end..name_end + value.len()].copy_from_slice(value);
            }
            Body::NonResident {
                runs,
                allocated,
                data,
                initialized,
            } => {
                v[8] = 1;
                let vcns: u64 = runs.iter().map(|r| r.len).sum();
                le::put64(&mut v, 0x10, self.lowest_vcn);
                le::put64(&mut v, 0x18, (self.lowest_vcn + vcns).wrapping_sub(1));
                le::put16(&mut v, 0x20, name_end as u16);
                if self.flags & (FLAG_SPARSE | FLAG_COMPRESSED) != 0 {
                    // Compression unit 2^4 clusters for compressed data;
                    // for sparse-only data what the caller chose (see
                    // `sparse_compression_unit`).
                    v[0x22] = if self.flags & FLAG_COMPRESSED != 0 {
                        4
                    } else {
                        self.compression_unit
                    };
                    le::put64(
                        &mut v,
                        0x40,
                        runs.iter()
                            .filter(|r| r.lcn.is_some())
                            .map(|r| r.len)
                            .sum::<u64>()
                            * (*allocated / vcns.max(1)),
                    );
                }
                le::put64(&mut v, 0x28, *allocated);
                le::put64(&mut v, 0x30, *data);
                le::put64(&mut v, 0x38, *initialized);
                let mp = runlist::encode(runs);
                v[name_end..name_end + mp.len()].copy_from_slice(&mp);
            }
        }
        v
    }
}

/// A parsed attribute (borrowing nothing; values are copied out).
#[derive(Debug, Clone)]
pub struct Attr {
    pub ty: u32,
    pub name: Vec<u16>,
    pub flags: u16,
    pub instance: u16,
    /// Offset of the attribute inside its record (for attributes merged
    /// from extension records: inside the record `record` names).
    pub offset: usize,
    pub kind: AttrKind,
    /// log2 of the compression unit in clusters (non-resident only; 4 for
    /// LZNT1-compressed data, 0 otherwise on NTFS 3.x).
    pub compression_unit: u8,
    /// The record this attribute was read from (differs from the file's
    /// base record for attributes held in extension records).
    pub record: u64,
}

#[derive(Debug, Clone)]
pub enum AttrKind {
    Resident(Vec<u8>),
    NonResident {
        lowest_vcn: u64,
        highest_vcn: u64,
        allocated: u64,
        data: u64,
        initialized: u64,
        runs: Vec<Run>,
    },
}

impl Attr {
    pub fn name_string(&self) -> String {
        String::from_utf16_lossy(&self.name)
    }

    /// Size of the value (data size for non-resident).
    pub fn data_size(&self) -> u64 {
        match &self.kind {
            AttrKind::Resident(v) => v.len() as u64,
            AttrKind::NonResident { data, .. } => *data,
        }
    }
}

/// Parse the attribute at `off` in record `rec` (already un-fixed-up).
/// Returns `None` at the end marker. `dev_off` labels errors.
pub fn parse(
    rec: &[u8],
    off: usize,
    dev_off: u64,
    total_clusters: u64,
    cluster: u64,
) -> Result<Option<(Attr, usize)>> {
    let bad = |m: String| corrupt(dev_off + off as u64, "attribute", m);
    if off + 4 > rec.len() {
        return Err(bad("attribute list runs past the record".into()));
    }
    let ty = le::u32(rec, off);
    if ty == crate::layout::attr_type::END {
        return Ok(None);
    }
    if off + 0x18 > rec.len() {
        return Err(bad("attribute header runs past the record".into()));
    }
    let len = le::u32(rec, off + 4) as usize;
    if len < 0x18 || len % 8 != 0 || off + len > rec.len() {
        return Err(bad(format!("bad attribute length {len:#x}")));
    }
    let a = &rec[off..off + len];
    let nonres = a[8];
    let name_len = a[9] as usize;
    let name_off = le::u16(a, 0x0A) as usize;
    if name_len > 0 && name_off + 2 * name_len > len {
        return Err(bad("attribute name runs past the attribute".into()));
    }
    let name: Vec<u16> = (0..name_len)
        .map(|i| le::u16(a, name_off + 2 * i))
        .collect();
    let flags = le::u16(a, 0x0C);
    let instance = le::u16(a, 0x0E);
    let compression_unit = if nonres != 0 && len >= 0x23 {
        a[0x22]
    } else {
        0
    };
    let kind = if nonres == 0 {
        let vlen = le::u32(a, 0x10) as usize;
        let voff = le::u16(a, 0x14) as usize;
        if voff.checked_add(vlen).is_none_or(|e| e > len) {
            return Err(bad(format!(
                "resident value ({vlen} bytes at {voff:#x}) runs past the attribute"
            )));
        }
        AttrKind::Resident(a[voff..voff + vlen].to_vec())
    } else {
        if len < 0x40 {
            return Err(bad("non-resident header too short".into()));
        }
        let lowest_vcn = le::u64(a, 0x10);
        let highest_vcn = le::u64(a, 0x18);
        let mp_off = le::u16(a, 0x20) as usize;
        let allocated = le::u64(a, 0x28);
        let data = le::u64(a, 0x30);
        let initialized = le::u64(a, 0x38);
        if mp_off >= len {
            return Err(bad("mapping pairs offset outside the attribute".into()));
        }
        if data > allocated || initialized > data && initialized > allocated {
            return Err(bad(format!(
                "sizes disagree: allocated {allocated}, data {data}, initialized {initialized}"
            )));
        }
        let max_vcns = highest_vcn.wrapping_sub(lowest_vcn).wrapping_add(1);
        let max_vcns = if highest_vcn == u64::MAX {
            0
        } else if lowest_vcn > 0 {
            // Later extents of a split attribute carry no sizes.
            max_vcns
        } else {
            max_vcns.min(allocated / cluster.max(1) + 1)
        };
        let runs = runlist::decode(
            &a[mp_off..],
            dev_off + (off + mp_off) as u64,
            total_clusters,
            max_vcns,
        )?;
        AttrKind::NonResident {
            lowest_vcn,
            highest_vcn,
            allocated,
            data,
            initialized,
            runs,
        }
    };
    Ok(Some((
        Attr {
            ty,
            name,
            flags,
            instance,
            offset: off,
            kind,
            compression_unit,
            record: u64::MAX,
        },
        off + len,
    )))
}
