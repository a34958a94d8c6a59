//! `ntfs check`: a structural checker independent of the writer's own
//! bookkeeping. It re-derives what must agree on disk: the $MFTMirr copy,
//! the cluster bitmap against every runlist, the MFT bitmap against the
//! records in use, attribute lists against the extension records they
//! name (and back), index order, index entries against the $FILE_NAME
//! attributes they copy, and $SII/$SDH against $SDS.

use crate::attribute::AttrKind;
use crate::error::Result;
use crate::filename::FileName;
use crate::index::collate_names;
use crate::layout::{attr_type as at, mft_no, namespace};
use crate::reader::Volume;
use crate::{le, secure};
use blockdev::BlockDev;

/// Problems found (empty = clean).
pub fn check<D: BlockDev>(vol: &Volume<D>) -> Result<Vec<String>> {
    let mut p = Vec::new();
    let tc = vol.total_clusters();
    let rs = vol.boot.mft_record_size as u64;
    let n_records = vol.record_count();
    if n_records > 1 << 26 {
        p.push(format!("MFT claims {n_records} records; not checked"));
        return Ok(p);
    }
    // $MFTMirr
    let mirr = vol.record(mft_no::MFT_MIRR)?;
    if let Some(d) = mirr.find(at::DATA, &[]) {
        let m = vol.read_attr(d, 1 << 20)?;
        let mft_rec = vol.record(mft_no::MFT)?;
        let mft_data = mft_rec.find(at::DATA, &[]).expect("checked at open");
        let mut mft_head = Vec::new();
        let _ = vol.copy_attr(mft_data, &mut |b| {
            if mft_head.len() < m.len() {
                mft_head.extend_from_slice(&b[..(m.len() - mft_head.len()).min(b.len())]);
            }
            if mft_head.len() >= m.len() {
                Err(crate::Error::Unsupported("done".into()))
            } else {
                Ok(())
            }
        });
        if mft_head != m {
            p.push("$MFTMirr differs from the first records of $MFT".into());
        }
    } else {
        p.push("$MFTMirr has no $DATA".into());
    }
    // Walk all records.
    let mut used = vec![0u8; tc.div_ceil(8) as usize];
    let mut mark = |lcn: u64, len: u64, what: &str, p: &mut Vec<String>| {
        for c in lcn..lcn + len {
            let (i, b) = ((c / 8) as usize, 1u8 << (c % 8));
            if used[i] & b != 0 {
                p.push(format!("cluster {c} is used twice (again by {what})"));
                return;
            }
            used[i] |= b;
        }
    };
    let mft_bitmap = {
        let r = vol.record(mft_no::MFT)?;
        let a = r.find(at::BITMAP, &[]).cloned();
        match a {
            Some(a) => vol.read_attr(&a, 1 << 26)?,
            None => {
                p.push("$MFT has no $BITMAP".into());
                Vec::new()
            }
        }
    };
    let mut in_use = vec![false; n_records as usize];
    // (extension record, its base) and base records with a list.
    let mut extensions: Vec<(u64, u64)> = Vec::new();
    let mut with_list: Vec<u64> = Vec::new();
    for n in 0..n_records {
        let rec = match vol.raw_record(n) {
            Ok(r) => r,
            Err(e) => {
                let bit = mft_bitmap
                    .get((n / 8) as usize)
                    .is_some_and(|b| b & (1 << (n % 8)) != 0);
                if bit {
                    p.push(format!("record {n}: {e}"));
                }
                continue;
            }
        };
        let bit = mft_bitmap
            .get((n / 8) as usize)
            .is_some_and(|b| b & (1 << (n % 8)) != 0);
        if rec.in_use() != bit {
            p.push(format!(
                "record {n}: in-use flag {} but MFT bitmap bit {}",
                rec.in_use(),
                bit
            ));
        }
        if !rec.in_use() {
            continue;
        }
        in_use[n as usize] = true;
        if rec.base != 0 {
            extensions.push((n, rec.base));
        } else if rec.find(at::ATTRIBUTE_LIST, &[]).is_some() {
            with_list.push(n);
        }
        for a in &rec.attrs {
            if let AttrKind::NonResident { runs, .. } = &a.kind {
                if n == mft_no::BAD_CLUS && a.name_string() == "$Bad" {
                    for r in runs {
                        if let Some(l) = r.lcn {
                            mark(l, r.len, "$BadClus", &mut p);
                        }
                    }
                    continue;
                }
                for r in runs {
                    if let Some(l) = r.lcn {
                        mark(
                            l,
                            r.len,
                            &format!("record {n} attribute {:#x}", a.ty),
                            &mut p,
                        );
                    }
                }
            }
        }
        let _ = rs;
    }
    // $Bitmap vs runlists.
    let bm_rec = vol.record(mft_no::BITMAP)?;
    if let Some(a) = bm_rec.find(at::DATA, &[]) {
        let bm = vol.read_attr(a, 1 << 28)?;
        let mut missing = 0u64;
        let mut extra = 0u64;
        let mut first = None;
        for c in 0..tc {
            let (i, b) = ((c / 8) as usize, 1u8 << (c % 8));
            let on = bm.get(i).is_some_and(|x| x & b != 0);
            let u = used[i] & b != 0;
            if on != u {
                if u {
                    missing += 1;
                } else {
                    extra += 1;
                }
                first.get_or_insert(c);
            }
        }
        if missing + extra > 0 {
            p.push(format!(
                "$Bitmap disagrees with the runlists: {missing} used clusters not marked, {extra} marked clusters unused (first at {})",
                first.unwrap_or(0)
            ));
        }
    }
    // Attribute lists: each names in-use extension records of its own
    // file (matching sequence numbers), and each extension record is
    // named by its base record's list.
    let mut listed: std::collections::HashSet<(u64, u64)> = Default::default();
    for &n in &with_list {
        let entries = vol.raw_record(n).and_then(|rec| {
            let la = rec.find(at::ATTRIBUTE_LIST, &[]).expect("seen in the walk");
            let v = vol.read_attr(la, 1 << 20)?;
            crate::attrlist::parse(&v, vol.record_offset(n)?)
        });
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                p.push(format!("record {n}: attribute list: {e}"));
                continue;
            }
        };
        let mut seen = std::collections::HashSet::new();
        for e in entries {
            let x = e.mref & 0xFFFF_FFFF_FFFF;
            if x == n || !seen.insert(x) {
                continue;
            }
            listed.insert((x, n));
            if x >= n_records || !in_use[x as usize] {
                p.push(format!(
                    "record {n}: attribute list names record {x}, which is not in use"
                ));
                continue;
            }
            match vol.raw_record(x) {
                Ok(xr) if xr.base != n => p.push(format!(
                    "record {n}: attribute list names record {x}, whose base record is {}",
                    xr.base
                )),
                Ok(xr) if xr.seq != (e.mref >> 48) as u16 => p.push(format!(
                    "record {n}: attribute list names record {x} with sequence {}, the record has {}",
                    e.mref >> 48,
                    xr.seq
                )),
                Ok(_) => {}
                Err(e) => p.push(format!("record {x}: {e}")),
            }
        }
    }
    for &(x, b) in &extensions {
        if !listed.contains(&(x, b)) {
            p.push(format!(
                "record {x}: extension record of record {b}, which does not list it in an attribute list"
            ));
        }
    }
    // Directory indexes.
    let up = vol.upcase().to_vec();
    for n in 0..n_records {
        if !in_use[n as usize] {
            continue;
        }
        let rec = match vol.record(n) {
            Ok(r) => r,
            Err(e) => {
                p.push(format!("record {n}: {e}"));
                continue;
            }
        };
        if !rec.is_dir() || rec.base != 0 {
            continue;
        }
        let entries = match vol.dir_entries(n) {
            Ok(e) => e,
            Err(e) => {
                p.push(format!("directory {n}: {e}"));
                continue;
            }
        };
        for w in entries.windows(2) {
            if collate_names(&up, &w[0].name.name, &w[1].name.name) != std::cmp::Ordering::Less {
                p.push(format!(
                    "directory {n}: entries out of order: {:?} before {:?}",
                    w[0].name_string(),
                    w[1].name_string()
                ));
            }
        }
        for e in &entries {
            let child = e.record();
            if child >= n_records || !in_use[child as usize] {
                p.push(format!(
                    "directory {n}: entry {:?} points to record {child}, which is not in use",
                    e.name_string()
                ));
                continue;
            }
            let crec = match vol.record(child) {
                Ok(r) => r,
                Err(err) => {
                    p.push(format!(
                        "directory {n}: entry {:?}: record {child}: {err}",
                        e.name_string()
                    ));
                    continue;
                }
            };
            if crec.seq != (e.mref >> 48) as u16 {
                p.push(format!(
                    "directory {n}: entry {:?} has sequence {} but record {child} has {}",
                    e.name_string(),
                    e.mref >> 48,
                    crec.seq
                ));
            }
            let found = crec
                .attrs
                .iter()
                .filter(|a| a.ty == at::FILE_NAME)
                .any(|a| match &a.kind {
                    AttrKind::Resident(v) => FileName::parse(v).is_some_and(|f| {
                        f.name == e.name.name
                            && f.namespace == e.name.namespace
                            && f.parent & 0xFFFF_FFFF_FFFF == n
                    }),
                    _ => false,
                });
            if !found {
                p.push(format!(
                    "directory {n}: entry {:?} has no matching $FILE_NAME in record {child}",
                    e.name_string()
                ));
            }
            // Windows updates the duplicated sizes of its own metadata
            // files ($Extend\$RmMetadata\...) lazily; skip those.
            if e.name.namespace != namespace::DOS && e.name.name.first() != Some(&(b'$' as u16)) {
                if let Some(a) = crec.find(at::DATA, &[]) {
                    if !crec.is_dir() && a.data_size() != e.name.data_size && n != mft_no::ROOT {
                        p.push(format!(
                            "directory {n}: entry {:?} says {} bytes, the file has {}",
                            e.name_string(),
                            e.name.data_size,
                            a.data_size()
                        ));
                    }
                }
            }
        }
    }
    // $Secure: every $SII entry names a matching $SDS entry.
    let sec = vol.record(mft_no::SECURE)?;
    if let Some(sds_attr) = sec.find(at::DATA, &"$SDS".encode_utf16().collect::<Vec<_>>()) {
        let sds = vol.read_attr(sds_attr, 1 << 28)?;
        let sii_name: Vec<u16> = "$SII".encode_utf16().collect();
        match vol.index_entries(&sec, &sii_name) {
            Ok(entries) => {
                for e in entries {
                    let raw = &e.raw;
                    let doff = le::u16(raw, 0) as usize;
                    if raw.len() < doff + 20 {
                        p.push("$SII: short entry".into());
                        continue;
                    }
                    let hash = le::u32(raw, doff);
                    let id = le::u32(raw, doff + 4);
                    let off = le::u64(raw, doff + 8) as usize;
                    let len = le::u32(raw, doff + 16) as usize;
                    let ok = off.checked_add(len).is_some_and(|end| end <= sds.len())
                        && len >= 20
                        && le::u32(&sds, off) == hash
                        && le::u32(&sds, off + 4) == id
                        && secure::hash(&sds[off + 20..off + len]) == hash;
                    if !ok {
                        p.push(format!(
                            "$Secure: security id {id:#x} does not match its $SDS entry"
                        ));
                    }
                }
            }
            Err(e) => p.push(format!("$Secure:$SII: {e}")),
        }
    }
    Ok(p)
}
