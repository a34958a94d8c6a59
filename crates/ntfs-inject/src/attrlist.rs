//! $ATTRIBUTE_LIST (0x20), NTFS Documentation "Attribute - $ATTRIBUTE_LIST",
//! and the placement of a file's attributes over a base record and
//! extension records when they do not fit one FILE record.
//!
//! Entry layout: type u32, entry length u16, name length u8, name offset
//! u8 (0x1A), starting VCN u64, MFT reference of the record holding the
//! attribute u64, attribute instance u16, name (UTF-16); entries are
//! 8-byte aligned and sorted by type, name and starting VCN. The list
//! names every attribute of the file except itself.

use crate::attribute::{AttrSpec, Body};
use crate::error::{corrupt, Error, Result};
use crate::layout::attr_type as at;
use crate::le;
use crate::record::ATTR_SPACE;
use crate::runlist::{self, Run};

/// One entry of an attribute list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ty: u32,
    pub name: Vec<u16>,
    pub lowest_vcn: u64,
    /// MFT reference (record + sequence) of the record holding it.
    pub mref: u64,
    pub instance: u16,
}

/// Bytes one entry takes.
pub fn entry_len(name_len: usize) -> usize {
    (0x1A + 2 * name_len + 7) & !7
}

/// Encode entries (in the given order) as an $ATTRIBUTE_LIST value.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let len = entry_len(e.name.len());
        let o = out.len();
        out.resize(o + len, 0);
        let b = &mut out[o..];
        le::put32(b, 0, e.ty);
        le::put16(b, 4, len as u16);
        b[6] = e.name.len() as u8;
        b[7] = 0x1A;
        le::put64(b, 8, e.lowest_vcn);
        le::put64(b, 0x10, e.mref);
        le::put16(b, 0x18, e.instance);
        for (i, c) in e.name.iter().enumerate() {
            le::put16(b, 0x1A + 2 * i, *c);
        }
    }
    out
}

/// Parse an $ATTRIBUTE_LIST value; `dev_off` labels errors.
pub fn parse(v: &[u8], dev_off: u64) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut o = 0usize;
    while o + 0x1A <= v.len() {
        let ty = le::u32(v, o);
        let len = le::u16(v, o + 4) as usize;
        let nl = v[o + 6] as usize;
        let no = v[o + 7] as usize;
        if len < 0x1A || o + len > v.len() || no + 2 * nl > len {
            return Err(corrupt(
                dev_off + o as u64,
                "$ATTRIBUTE_LIST entry",
                format!("bad entry length {len} or name ({nl} chars at {no:#x})"),
            ));
        }
        let e = &v[o..o + len];
        out.push(Entry {
            ty,
            name: (0..nl).map(|i| le::u16(e, no + 2 * i)).collect(),
            lowest_vcn: le::u64(e, 8),
            mref: le::u64(e, 0x10),
            instance: le::u16(e, 0x18),
        });
        o += len;
    }
    Ok(out)
}

/// Attributes of one file spread over records: `records[0]` is the base
/// record (it holds $STANDARD_INFORMATION and the $ATTRIBUTE_LIST), the
/// rest are extension records. Within each record the attributes are in
/// on-disk order (type, then name), so the instance of an attribute is its
/// position ([`crate::record::RecordBuilder::encode`] numbers them so).
#[derive(Debug)]
pub struct Placement {
    pub records: Vec<Vec<AttrSpec>>,
    /// The list value; the caller adds it to `records[0]` (resident) or
    /// stores it in clusters (non-resident) — see [`Placement::list_attr`].
    pub list: Vec<u8>,
}

/// Largest attribute list kept resident.
pub const LIST_RESIDENT_MAX: usize = 512;

fn sort_key(a: &AttrSpec) -> (u32, Vec<u16>, u64) {
    (a.ty, a.name.clone(), a.lowest_vcn)
}

/// Cut a non-resident attribute whose mapping pairs do not fit a record
/// into extents of consecutive runs (each at most `room` bytes encoded).
fn split_extents(a: AttrSpec, room: usize) -> Result<Vec<AttrSpec>> {
    if a.encoded_len() <= room {
        return Ok(vec![a]);
    }
    let Body::NonResident {
        runs,
        allocated,
        data,
        initialized,
    } = a.body.clone()
    else {
        return Err(Error::Unsupported(format!(
            "resident attribute {:#x} of {} bytes does not fit an MFT record",
            a.ty,
            a.encoded_len()
        )));
    };
    let head = {
        let mut h = a.clone();
        h.body = Body::NonResident {
            runs: Vec::new(),
            allocated,
            data,
            initialized,
        };
        h.encoded_len()
    };
    let budget = room.saturating_sub(head).max(16);
    let mut out = Vec::new();
    let mut vcn = 0u64;
    let mut cur: Vec<Run> = Vec::new();
    let mut cur_start = 0u64;
    for r in runs {
        cur.push(r);
        if runlist::encode(&cur).len() > budget && cur.len() > 1 {
            let last = cur.pop().expect("two runs");
            out.push((cur_start, std::mem::take(&mut cur)));
            cur_start = vcn;
            cur.push(last);
        }
        vcn += r.len;
    }
    out.push((cur_start, cur));
    Ok(out
        .into_iter()
        .map(|(lowest, runs)| {
            let mut e = a.clone();
            e.lowest_vcn = lowest;
            // Only the first extent carries the sizes.
            let (al, d, i) = if lowest == 0 {
                (allocated, data, initialized)
            } else {
                (0, 0, 0)
            };
            e.body = Body::NonResident {
                runs,
                allocated: al,
                data: d,
                initialized: i,
            };
            e
        })
        .collect())
}

/// Spread `attrs` over a base record and extension records. Returns `None`
/// when everything fits the base record. `list_nonresident_len` is the
/// size the $ATTRIBUTE_LIST attribute takes when it has to be stored
/// non-resident (its runs are the caller's).
pub fn place(attrs: Vec<AttrSpec>, list_nonresident_len: usize) -> Result<Option<Placement>> {
    let total: usize = attrs.iter().map(|a| a.encoded_len()).sum();
    if total <= ATTR_SPACE {
        return Ok(None);
    }
    let mut all = Vec::new();
    for (i, a) in attrs.into_iter().enumerate() {
        all.extend(split_extents(a, ATTR_SPACE)?.into_iter().map(|e| (i, e)));
    }
    let records = place_tagged(all, list_nonresident_len)?;
    Ok(Some(Placement {
        records: records
            .into_iter()
            .map(|r| r.into_iter().map(|(_, a)| a).collect())
            .collect(),
        list: Vec::new(),
    }))
}

/// Like [`place`], but the placement is decided on `plan` (attributes of
/// the same types and names whose sizes are upper bounds of `real`'s, e.g.
/// with worst-case runlists) and filled with `real`; so a record count
/// reserved from `plan` earlier always suffices.
pub fn place_planned(
    plan: Vec<AttrSpec>,
    real: Vec<AttrSpec>,
    list_nonresident_len: usize,
) -> Result<Option<Placement>> {
    let total: usize = plan.iter().map(|a| a.encoded_len()).sum();
    if total <= ATTR_SPACE || plan.len() != real.len() {
        return place(real, list_nonresident_len);
    }
    if plan.iter().any(|a| a.encoded_len() > ATTR_SPACE) {
        return Err(Error::Unsupported(
            "internal: a planned attribute does not fit one record".into(),
        ));
    }
    let records = place_tagged(plan.into_iter().enumerate().collect(), list_nonresident_len)?;
    let mut real: Vec<Option<AttrSpec>> = real.into_iter().map(Some).collect();
    let records = records
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|(i, _)| real[i].take().expect("each attribute placed once"))
                .collect()
        })
        .collect();
    Ok(Some(Placement {
        records,
        list: Vec::new(),
    }))
}

/// Number of records [`place`] would use for `attrs` (1 = no list).
pub fn records_needed(attrs: Vec<AttrSpec>, list_nonresident_len: usize) -> Result<usize> {
    Ok(place(attrs, list_nonresident_len)?.map_or(1, |p| p.records.len()))
}

type Tagged = (usize, AttrSpec);

fn place_tagged(mut all: Vec<Tagged>, list_nonresident_len: usize) -> Result<Vec<Vec<Tagged>>> {
    all.sort_by_key(|a| sort_key(&a.1));
    let list_len: usize = all.iter().map(|a| entry_len(a.1.name.len())).sum();
    let list_attr_len = if list_len <= LIST_RESIDENT_MAX {
        (0x18 + list_len + 7) & !7
    } else {
        list_nonresident_len
    };
    // The base record keeps $STANDARD_INFORMATION, the list and, while
    // they fit, the attributes that index the file and hold its main
    // data (first extents of unnamed $DATA, $I30), then the rest in order.
    let is_base_pref = |a: &AttrSpec| {
        a.ty == at::STANDARD_INFORMATION
            || (a.lowest_vcn == 0
                && ((a.ty == at::DATA && a.name.is_empty())
                    || matches!(a.ty, at::INDEX_ROOT | at::INDEX_ALLOCATION | at::BITMAP)))
    };
    let mut base_used = list_attr_len;
    let mut in_base = vec![false; all.len()];
    for pass in 0..2 {
        for (i, (_, a)) in all.iter().enumerate() {
            if in_base[i] || (pass == 0) != is_base_pref(a) {
                continue;
            }
            let l = a.encoded_len();
            if base_used + l <= ATTR_SPACE {
                base_used += l;
                in_base[i] = true;
            } else if a.ty == at::STANDARD_INFORMATION {
                return Err(Error::Unsupported(
                    "internal: $STANDARD_INFORMATION does not fit the base record".into(),
                ));
            }
        }
    }
    let mut records: Vec<Vec<Tagged>> = vec![Vec::new()];
    let mut ext_used = 0usize;
    for (i, a) in all.into_iter().enumerate() {
        if in_base[i] {
            records[0].push(a);
            continue;
        }
        let l = a.1.encoded_len();
        if records.len() == 1 || ext_used + l > ATTR_SPACE {
            records.push(Vec::new());
            ext_used = 0;
        }
        ext_used += l;
        records.last_mut().expect("pushed").push(a);
    }
    Ok(records)
}

impl Placement {
    /// Fill in the list value once the records' MFT references are known
    /// (`mrefs[i]` for `records[i]`). Instances are positions in each
    /// record's (type, name)-sorted order; the list attribute itself (in
    /// the base record, type 0x20) shifts the base positions after
    /// $STANDARD_INFORMATION by one.
    pub fn build_list(&mut self, mrefs: &[u64]) {
        let mut entries = Vec::new();
        for (ri, rec) in self.records.iter_mut().enumerate() {
            rec.sort_by_key(sort_key);
            for (pos, a) in rec.iter().enumerate() {
                let inst = if ri == 0 && a.ty > at::ATTRIBUTE_LIST {
                    pos + 1
                } else {
                    pos
                };
                entries.push(Entry {
                    ty: a.ty,
                    name: a.name.clone(),
                    lowest_vcn: a.lowest_vcn,
                    mref: mrefs[ri],
                    instance: inst as u16,
                });
            }
        }
        entries.sort_by(|a, b| {
            (
                a.ty,
                &a.name,
                a.lowest_vcn,
                a.mref & 0xFFFF_FFFF_FFFF,
                a.instance,
            )
                .cmp(&(
                    b.ty,
                    &b.name,
                    b.lowest_vcn,
                    b.mref & 0xFFFF_FFFF_FFFF,
                    b.instance,
                ))
        });
        self.list = encode(&entries);
    }

    /// The $ATTRIBUTE_LIST attribute: resident when small, else
    /// non-resident over `runs` (clusters of `cluster` bytes).
    pub fn list_attr(&self, runs: Option<Vec<Run>>, cluster: u64) -> AttrSpec {
        match runs {
            None => AttrSpec::resident(at::ATTRIBUTE_LIST, &[], self.list.clone()),
            Some(r) => {
                let mut a = AttrSpec::non_resident(
                    at::ATTRIBUTE_LIST,
                    &[],
                    r,
                    self.list.len() as u64,
                    cluster,
                );
                a.flags = 0;
                a
            }
        }
    }

    /// Does the list have to be stored non-resident?
    pub fn list_is_nonresident(&self) -> bool {
        self.list_len() > LIST_RESIDENT_MAX
    }

    /// Length of the list value (known before [`Placement::build_list`]).
    pub fn list_len(&self) -> usize {
        self.records
            .iter()
            .flatten()
            .map(|a| entry_len(a.name.len()))
            .sum()
    }
}
