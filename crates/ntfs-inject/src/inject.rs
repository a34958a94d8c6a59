//! Editing an existing volume (also one Windows made): add files and
//! directories. New MFT records come from free bits of `$MFT:$BITMAP`,
//! data from free clusters of `$Bitmap`; the parent's `$I30` index is
//! rebuilt from its entries plus the new one (same bulk builder as the
//! writer) and the parent record is edited in place, leaving its other
//! attributes byte for byte. When a record's attributes no longer fit
//! (or it already has an `$ATTRIBUTE_LIST`), the whole file is rewritten
//! over a base record and extension records ([`crate::attrlist`]): old
//! extension records and a non-resident list's clusters are freed first.
//! A resident MFT bitmap and an `$MFT` with an attribute list are refused
//! with a clear error.

use crate::attribute::{AttrKind, AttrSpec};
use crate::error::{corrupt, Error, Result};
use crate::filename::FileName;
use crate::index;
use crate::layout::{
    attr_type as at, collation, file_attr, mft_no, mft_ref, namespace, record_flags,
    INDEX_BLOCK_SIZE,
};
use crate::le;
use crate::reader::Volume;
use crate::record::{RecordBuilder, ATTRS_OFFSET};
use crate::runlist::Run;
use crate::stdinfo::{StandardInformation, Times};
use blockdev::BlockDev;

/// A record without fixups, the raw attributes kept, the parsed ones removed.
type SplitRecord = (Vec<u8>, Vec<(u32, Vec<u8>)>, Vec<crate::attribute::Attr>);

/// Bytes a non-resident $ATTRIBUTE_LIST takes in the base record (one
/// run).
const LIST_NONRES_LEN: usize = 0x40 + 24;

/// An attribute read from disk as an attribute to write again (extents
/// merged by [`Volume::record`]; instances are renumbered on write).
fn to_spec(a: &crate::attribute::Attr) -> AttrSpec {
    match &a.kind {
        AttrKind::Resident(v) => {
            let mut s = AttrSpec::resident(a.ty, &a.name, v.clone());
            s.flags = a.flags;
            s
        }
        AttrKind::NonResident {
            allocated,
            data,
            initialized,
            runs,
            ..
        } => AttrSpec {
            ty: a.ty,
            name: a.name.clone(),
            flags: a.flags,
            lowest_vcn: 0,
            compression_unit: a.compression_unit,
            body: crate::attribute::Body::NonResident {
                runs: runs.clone(),
                allocated: *allocated,
                data: *data,
                initialized: *initialized,
            },
        },
    }
}

/// A volume opened for adding files.
pub struct Injector<D: BlockDev> {
    vol: Volume<D>,
    bitmap: Vec<u8>,
    mft_bitmap: Vec<u8>,
    time: u64,
    short_names: bool,
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    116_444_736_000_000_000 + d.as_secs() * 10_000_000 + d.subsec_nanos() as u64 / 100
}

impl<D: BlockDev> Injector<D> {
    pub fn open(dev: D) -> Result<Self> {
        if dev.is_read_only() {
            return Err(Error::Unsupported("the target is read-only".into()));
        }
        let vol = Volume::open(dev)?;
        let bm_rec = vol.record(mft_no::BITMAP)?;
        let bm = bm_rec
            .find(at::DATA, &[])
            .ok_or_else(|| corrupt(0, "$Bitmap", "no $DATA"))?;
        let bitmap = vol.read_attr(bm, 1 << 30)?;
        if (bitmap.len() as u64) * 8 < vol.total_clusters() {
            return Err(corrupt(0, "$Bitmap", "shorter than the volume"));
        }
        let mft = vol.record(mft_no::MFT)?;
        let mb = mft
            .find(at::BITMAP, &[])
            .ok_or_else(|| corrupt(0, "$MFT", "no $BITMAP"))?;
        if !matches!(mb.kind, AttrKind::NonResident { .. }) {
            return Err(Error::Unsupported(
                "resident $MFT:$BITMAP is not edited yet".into(),
            ));
        }
        let mft_bitmap = vol.read_attr(mb, 1 << 28)?;
        Ok(Injector {
            vol,
            bitmap,
            mft_bitmap,
            time: now(),
            short_names: true,
        })
    }

    pub fn volume(&self) -> &Volume<D> {
        &self.vol
    }

    /// Whether new files and directories whose names are not valid 8.3
    /// names get a generated DOS short name (default on, as Windows does
    /// on system volumes). Off: one WIN32 name only.
    pub fn set_short_names(&mut self, on: bool) {
        self.short_names = on;
    }

    /// A short name for `long` not used in directory `dir` (compared
    /// case-insensitively with every name there).
    fn unique_short_name(&self, dir: u64, long: &str) -> Result<String> {
        if let Some(u) = crate::dosname::upper_8dot3(long) {
            return Ok(u);
        }
        for n in 1..=100_000 {
            let c = crate::dosname::candidate(long, n);
            if self.vol.lookup_in(dir, &c)?.is_none() {
                return Ok(c);
            }
        }
        Err(Error::Unsupported(format!(
            "no free short name for {long:?} in directory record {dir}"
        )))
    }

    fn alloc_record(&mut self) -> Result<u64> {
        // A small MFT (mkntfs makes 27 records on small volumes) may need
        // several steps of growth to reach the first user record (64).
        for _ in 0..64 {
            let n = self
                .vol
                .record_count()
                .min(self.mft_bitmap.len() as u64 * 8);
            for r in mft_no::FIRST_USER..n {
                if self.mft_bitmap[(r / 8) as usize] & (1 << (r % 8)) == 0 {
                    self.mft_bitmap[(r / 8) as usize] |= 1 << (r % 8);
                    return Ok(r);
                }
            }
            self.grow_mft()?;
        }
        Err(Error::Unsupported("the MFT bitmap is full".into()))
    }

    /// Add 64 records (at least one cluster) to the end of $MFT: new
    /// clusters, formatted empty records, a longer runlist in record 0
    /// (and its $MFTMirr copy), and a longer $MFT:$BITMAP.
    fn grow_mft(&mut self) -> Result<()> {
        let rs = self.vol.boot.mft_record_size as u64;
        if rs != crate::layout::MFT_RECORD_SIZE as u64 {
            return Err(Error::Unsupported(
                "growing an MFT with records other than 1 KiB".into(),
            ));
        }
        let cs = self.vol.cluster_size();
        let old_records = self.vol.record_count();
        let mft = self.vol.record(mft_no::MFT)?;
        if mft.find(at::ATTRIBUTE_LIST, &[]).is_some() {
            return Err(Error::Unsupported(
                "$MFT has an attribute list; not grown yet".into(),
            ));
        }
        let (mut runs, data) = match &mft
            .find(at::DATA, &[])
            .ok_or_else(|| corrupt(0, "$MFT", "no $DATA"))?
            .kind
        {
            AttrKind::NonResident { runs, data, .. } => (runs.clone(), *data),
            _ => return Err(corrupt(0, "$MFT", "resident $DATA")),
        };
        let bm_alloc = match &mft
            .find(at::BITMAP, &[])
            .ok_or_else(|| corrupt(0, "$MFT", "no $BITMAP"))?
            .kind
        {
            AttrKind::NonResident { allocated, .. } => *allocated,
            _ => return Err(Error::Unsupported("resident $MFT:$BITMAP".into())),
        };
        let alloc_bytes: u64 = runs.iter().map(|r| r.len).sum::<u64>() * cs;
        if data % rs != 0 || data > alloc_bytes {
            return Err(corrupt(
                0,
                "$MFT",
                "data size is not a whole number of records inside the allocation",
            ));
        }
        // Grow by 16 records (at least a cluster), using slack first.
        let want = data + (16 * rs).max(cs);
        let add_clusters = want.saturating_sub(alloc_bytes).div_ceil(cs);
        let new = if add_clusters > 0 {
            self.alloc_clusters(add_clusters)?
        } else {
            Vec::new()
        };
        let new_alloc = alloc_bytes + add_clusters * cs;
        let new_size = new_alloc / rs * rs;
        let new_records = new_size / rs;
        let bm_len = (new_records.div_ceil(8) + 7) & !7;
        if bm_len > bm_alloc {
            return Err(Error::Unsupported(
                "$MFT:$BITMAP would need more clusters; not grown yet".into(),
            ));
        }
        for r in new {
            match runs.last_mut() {
                Some(Run { lcn: Some(l), len }) if Some(*l + *len) == r.lcn => *len += r.len,
                _ => runs.push(r),
            }
        }
        self.mft_bitmap.resize(bm_len as usize, 0);
        // Format the new records (slack first, then the new clusters).
        self.vol.set_mft(runs.clone(), new_size);
        for r in old_records..new_records {
            self.write_record_raw(r, &crate::record::empty_record(r, 1))?;
        }
        let (raw, kept, _) = self.split_record(mft_no::MFT, |a| {
            (a.ty == at::DATA && a.name.is_empty()) || a.ty == at::BITMAP
        })?;
        let old_bm = mft.find(at::BITMAP, &[]).expect("checked").clone();
        let AttrKind::NonResident { runs: bm_runs, .. } = &old_bm.kind else {
            unreachable!()
        };
        let mut bm_attr = AttrSpec::non_resident(at::BITMAP, &[], bm_runs.clone(), bm_len, cs);
        bm_attr.flags = old_bm.flags;
        let mut data_attr = AttrSpec::non_resident(at::DATA, &[], runs.clone(), new_size, cs);
        if let crate::attribute::Body::NonResident { allocated, .. } = &mut data_attr.body {
            *allocated = new_alloc;
        }
        self.reassemble(mft_no::MFT, raw, kept, vec![data_attr, bm_attr])?;
        Ok(())
    }

    fn alloc_clusters(&mut self, mut n: u64) -> Result<Vec<Run>> {
        let tc = self.vol.total_clusters();
        let free = |bm: &[u8], c: u64| bm[(c / 8) as usize] & (1 << (c % 8)) == 0;
        // First fit of one contiguous run, else gather pieces.
        let mut c = 0u64;
        while n > 0 && c + n <= tc {
            if !free(&self.bitmap, c) {
                c += 1;
                continue;
            }
            let start = c;
            while c < start + n && free(&self.bitmap, c) {
                c += 1;
            }
            if c == start + n {
                for x in start..c {
                    self.bitmap[(x / 8) as usize] |= 1 << (x % 8);
                }
                return Ok(vec![Run {
                    lcn: Some(start),
                    len: n,
                }]);
            }
        }
        let mut runs: Vec<Run> = Vec::new();
        let mut c = 0u64;
        while n > 0 && c < tc {
            if self.bitmap[(c / 8) as usize] & (1 << (c % 8)) != 0 {
                c += 1;
                continue;
            }
            let start = c;
            while c < tc && n > 0 && self.bitmap[(c / 8) as usize] & (1 << (c % 8)) == 0 {
                self.bitmap[(c / 8) as usize] |= 1 << (c % 8);
                c += 1;
                n -= 1;
            }
            runs.push(Run {
                lcn: Some(start),
                len: c - start,
            });
        }
        if n > 0 {
            // Leave the in-memory bitmap as it was.
            self.free_clusters(&runs);
            return Err(Error::Unsupported("the volume is full".into()));
        }
        Ok(runs)
    }

    fn free_clusters(&mut self, runs: &[Run]) {
        for r in runs {
            if let Some(l) = r.lcn {
                for c in l..l + r.len {
                    self.bitmap[(c / 8) as usize] &= !(1 << (c % 8));
                }
            }
        }
    }

    fn write_runs(&self, runs: &[Run], data: &[u8]) -> Result<()> {
        let cs = self.vol.cluster_size();
        let mut pos = 0usize;
        for r in runs {
            let bytes = (r.len * cs) as usize;
            let end = (pos + bytes).min(data.len());
            if pos < end {
                let mut buf = data[pos..end].to_vec();
                buf.resize(bytes, 0);
                self.vol.device().write_at(r.lcn.unwrap_or(0) * cs, &buf)?;
            } else {
                self.vol
                    .device()
                    .write_at(r.lcn.unwrap_or(0) * cs, &vec![0u8; bytes])?;
            }
            pos += bytes;
        }
        Ok(())
    }

    /// Write `data` over the start of a non-resident attribute's clusters.
    fn write_attr(&self, rec: u64, ty: u32, name: &[u16], data: &[u8]) -> Result<()> {
        let r = self.vol.record(rec)?;
        let a = r
            .find(ty, name)
            .ok_or_else(|| corrupt(0, "record", format!("record {rec} lost attribute {ty:#x}")))?;
        let AttrKind::NonResident { runs, .. } = &a.kind else {
            return Err(Error::Unsupported(format!(
                "record {rec}: attribute {ty:#x} is resident"
            )));
        };
        let cs = self.vol.cluster_size() as usize;
        let mut pos = 0usize;
        for run in runs {
            if pos >= data.len() {
                break;
            }
            let n = (run.len as usize * cs).min(data.len() - pos);
            if let Some(l) = run.lcn {
                self.vol
                    .device()
                    .write_at(l * cs as u64, &data[pos..pos + n])?;
            }
            pos += n;
        }
        Ok(())
    }

    /// Write a record (fixups applied), and its $MFTMirr copy when mirrored.
    fn put_record(&self, n: u64, mut raw: Vec<u8>) -> Result<()> {
        let usn = le::u16(&raw, le::u16(&raw, 4) as usize)
            .wrapping_add(1)
            .max(1);
        crate::fixup::protect(&mut raw, usn);
        self.write_record_raw(n, &raw)?;
        let mirr = self.vol.record(mft_no::MFT_MIRR)?;
        if let Some(AttrKind::NonResident { runs, data, .. }) =
            mirr.find(at::DATA, &[]).map(|a| &a.kind)
        {
            let rs = raw.len() as u64;
            if (n + 1) * rs <= *data {
                if let Some(l) = runs.first().and_then(|r| r.lcn) {
                    self.vol
                        .device()
                        .write_at(l * self.vol.cluster_size() + n * rs, &raw)?;
                }
            }
        }
        Ok(())
    }

    /// Write a protected record through the MFT runlist, cluster by
    /// cluster when records are larger than clusters.
    fn write_record_raw(&self, n: u64, raw: &[u8]) -> Result<()> {
        let cs = self.vol.cluster_size() as usize;
        if raw.len() <= cs {
            let off = self.vol.record_offset(n)?;
            self.vol.device().write_at(off, raw)?;
        } else {
            for (i, piece) in raw.chunks(cs).enumerate() {
                let off = self.vol.record_offset_part(n, i as u64)?;
                self.vol.device().write_at(off, piece)?;
            }
        }
        Ok(())
    }

    /// Create `path` (parents must exist) as a file with `data`, or as an
    /// empty directory when `data` is `None`. Returns its record number.
    pub fn create(&mut self, path: &str, data: Option<&[u8]>) -> Result<u64> {
        let (parent_path, name) = match path.trim_end_matches(['/', '\\']).rsplit_once(['/', '\\'])
        {
            Some((p, n)) => (p, n),
            None => ("", path),
        };
        if name.is_empty() || name.len() > 255 || name.contains([':', '*', '?', '"', '<', '>', '|'])
        {
            return Err(Error::Unsupported(format!(
                "{path:?} is not a valid Win32 name"
            )));
        }
        let parent = self.vol.lookup(parent_path)?;
        let prec = self.vol.record(parent)?;
        if !prec.is_dir() {
            return Err(Error::Unsupported(format!(
                "{parent_path:?} is not a directory"
            )));
        }
        if self.vol.lookup_in(parent, name)?.is_some() {
            return Err(Error::Unsupported(format!(
                "{path:?} already exists (case-insensitively); use replace or put"
            )));
        }
        let cs = self.vol.cluster_size();
        let n = self.alloc_record()?;
        let seq = match self.vol.record(n) {
            Ok(r) => r.seq.wrapping_add(1).max(1),
            Err(_) => 1,
        };
        let t = self.time;
        let times = Times {
            creation: t,
            modification: t,
            mft_change: t,
            access: t,
        };
        let psi = prec
            .find(at::STANDARD_INFORMATION, &[])
            .and_then(|a| match &a.kind {
                AttrKind::Resident(v) => StandardInformation::parse(v),
                _ => None,
            });
        let security_id = psi.map(|s| s.security_id).unwrap_or(0);
        let dir = data.is_none();
        let attrs_flags = if dir { 0 } else { file_attr::ARCHIVE };
        let mut attrs = vec![AttrSpec::resident(
            at::STANDARD_INFORMATION,
            &[],
            StandardInformation {
                times,
                file_attributes: attrs_flags,
                security_id,
            }
            .encode(),
        )];
        let (alloc, size) = match data {
            None => (0, 0),
            Some(d) if d.len() <= 600 => {
                attrs.push(AttrSpec::resident(at::DATA, &[], d.to_vec()));
                (((d.len() + 7) & !7) as u64, d.len() as u64)
            }
            Some(d) => {
                let runs = match self.alloc_clusters((d.len() as u64).div_ceil(cs)) {
                    Ok(r) => r,
                    Err(e) => {
                        // Give the record back (nothing was written yet).
                        self.mft_bitmap[(n / 8) as usize] &= !(1 << (n % 8));
                        return Err(e);
                    }
                };
                self.write_runs(&runs, d)?;
                let a = AttrSpec::non_resident(at::DATA, &[], runs, d.len() as u64, cs);
                attrs.push(a);
                ((d.len() as u64).div_ceil(cs) * cs, d.len() as u64)
            }
        };
        // Names: an 8.3 name as written serves both namespaces; other
        // names get a generated DOS name beside the Win32 one.
        let (long_ns, short) = if !self.short_names {
            (namespace::WIN32, None)
        } else if crate::dosname::is_8dot3(name) {
            (namespace::WIN32_AND_DOS, None)
        } else {
            (
                namespace::WIN32,
                Some(self.unique_short_name(parent, name)?),
            )
        };
        let fname = FileName {
            parent: mft_ref(parent, prec.seq),
            times,
            allocated_size: alloc,
            data_size: size,
            file_attributes: attrs_flags
                | if dir {
                    file_attr::DUP_FILE_NAME_INDEX_PRESENT
                } else {
                    0
                },
            reparse_or_ea: 0,
            namespace: long_ns,
            name: utf16(name),
        };
        attrs.push(AttrSpec::resident(at::FILE_NAME, &[], fname.encode()));
        let dos = short.map(|s| FileName {
            namespace: namespace::DOS,
            name: utf16(&s),
            ..fname.clone()
        });
        if let Some(d) = &dos {
            attrs.push(AttrSpec::resident(at::FILE_NAME, &[], d.encode()));
        }
        if dir {
            let built = index::build(Vec::new(), usize::MAX, usize::MAX, INDEX_BLOCK_SIZE, 1);
            let cpb = if cs <= INDEX_BLOCK_SIZE as u64 {
                (INDEX_BLOCK_SIZE as u64 / cs) as u8
            } else {
                (INDEX_BLOCK_SIZE / 512) as u8
            };
            attrs.push(AttrSpec::resident(
                at::INDEX_ROOT,
                &utf16("$I30"),
                index::root_value(
                    at::FILE_NAME,
                    collation::FILE_NAME,
                    INDEX_BLOCK_SIZE as u32,
                    cpb,
                    &built,
                ),
            ));
        }
        // A data runlist too fragmented for one record goes to extension
        // records with an $ATTRIBUTE_LIST.
        if let Some(mut pl) = crate::attrlist::place(attrs.clone(), 0x40 + 24)? {
            let mut mrefs = vec![mft_ref(n, seq)];
            for _ in 1..pl.records.len() {
                let x = self.alloc_record()?;
                let xs = match self.vol.raw_record(x) {
                    Ok(r) => r.seq.wrapping_add(1).max(1),
                    Err(_) => 1,
                };
                mrefs.push(mft_ref(x, xs));
            }
            pl.build_list(&mrefs);
            let runs = if pl.list_is_nonresident() {
                let r = self.alloc_clusters((pl.list.len() as u64).div_ceil(cs))?;
                self.write_runs(&r, &pl.list)?;
                Some(r)
            } else {
                None
            };
            let list_attr = pl.list_attr(runs, cs);
            let mut recs = pl.records.into_iter();
            attrs = recs.next().expect("base record");
            attrs.push(list_attr);
            self.put_extension_records(recs, &mrefs)?;
        }
        let rb = RecordBuilder {
            number: n,
            seq,
            flags: record_flags::IN_USE | if dir { record_flags::IS_DIRECTORY } else { 0 },
            link_count: 1,
            attrs,
            base: 0,
        };
        let mut raw = rb.encode()?;
        crate::fixup::unprotect(&mut raw, 0, "FILE record")?;
        self.put_record(n, raw)?;
        let mut new_entries = vec![(
            fname.name.clone(),
            index::file_name_entry(mft_ref(n, seq), &fname.encode()),
        )];
        if let Some(d) = &dos {
            new_entries.push((
                d.name.clone(),
                index::file_name_entry(mft_ref(n, seq), &d.encode()),
            ));
        }
        self.rewrite_index(parent, |entries| entries.extend(new_entries))?;
        // Bitmaps last: a crash before this leaves only unreferenced space.
        self.write_attr(mft_no::BITMAP, at::DATA, &[], &self.bitmap.clone())?;
        self.write_attr(mft_no::MFT, at::BITMAP, &[], &self.mft_bitmap.clone())?;
        self.vol.device().flush()?;
        Ok(n)
    }

    /// Create the file `path` with `data`, or give an existing file these
    /// contents ([`Injector::replace`]). Returns the record number and
    /// whether a file was replaced.
    pub fn put(&mut self, path: &str, data: &[u8]) -> Result<(u64, bool)> {
        match self.vol.lookup(path) {
            Ok(_) => self.replace(path, data).map(|n| (n, true)),
            Err(Error::NotFound(_)) => self.create(path, Some(data)).map(|n| (n, false)),
            Err(e) => Err(e),
        }
    }

    /// Give the existing file `path` new contents: its unnamed $DATA is
    /// rewritten (old clusters freed), its modification times set, and the
    /// copies of its $FILE_NAMEs in the indexes of all its parent
    /// directories updated (sizes, times). Names, security, other streams
    /// and attributes stay. A file with an attribute list (many links or
    /// streams, a fragmented runlist) is rewritten over new extension
    /// records, the old ones freed; reparse points are refused.
    pub fn replace(&mut self, path: &str, data: &[u8]) -> Result<u64> {
        let (parent_path, name) = match path.trim_end_matches(['/', '\\']).rsplit_once(['/', '\\'])
        {
            Some((p, n)) => (p, n),
            None => ("", path),
        };
        let parent = self.vol.lookup(parent_path)?;
        let entry = self
            .vol
            .lookup_in(parent, name)?
            .ok_or_else(|| Error::NotFound(path.to_string()))?;
        let n = entry.record();
        let rec = self.vol.record(n)?;
        if rec.is_dir() {
            return Err(Error::Unsupported(format!(
                "{path:?} is a directory; only files can be replaced"
            )));
        }
        if rec.find(at::REPARSE_POINT, &[]).is_some() {
            return Err(Error::Unsupported(format!(
                "{path:?} is a reparse point; not replaced"
            )));
        }
        let cs = self.vol.cluster_size();
        let has_list = rec.find(at::ATTRIBUTE_LIST, &[]).is_some();
        // Every parent directory (hard links) holds copies of the names.
        let mut parents: Vec<u64> = rec
            .attrs
            .iter()
            .filter(|a| a.ty == at::FILE_NAME)
            .filter_map(|a| match &a.kind {
                AttrKind::Resident(v) => FileName::parse(v).map(|f| f.parent & 0xFFFF_FFFF_FFFF),
                _ => None,
            })
            .collect();
        parents.sort_unstable();
        parents.dedup();
        let mut old = Vec::new();
        for a in rec
            .attrs
            .iter()
            .filter(|a| a.ty == at::DATA && a.name.is_empty())
        {
            if let AttrKind::NonResident { runs, .. } = &a.kind {
                old.extend_from_slice(runs);
            }
        }
        self.free_clusters(&old);
        let t = self.time;
        // $STANDARD_INFORMATION: modification and MFT-change times.
        let touch = |b: &mut [u8], vo: usize| {
            if b.len() >= vo + 32 {
                le::put64(b, vo + 8, t);
                le::put64(b, vo + 16, t);
                le::put64(b, vo + 24, t);
            }
        };
        let (data_attr, alloc) = if data.len() <= 600 {
            (
                AttrSpec::resident(at::DATA, &[], data.to_vec()),
                ((data.len() + 7) & !7) as u64,
            )
        } else {
            let runs = self.alloc_clusters((data.len() as u64).div_ceil(cs))?;
            self.write_runs(&runs, data)?;
            (
                AttrSpec::non_resident(at::DATA, &[], runs, data.len() as u64, cs),
                (data.len() as u64).div_ceil(cs) * cs,
            )
        };
        let mut in_place = false;
        if !has_list {
            let (raw, mut kept, _) =
                self.split_record(n, |a| a.ty == at::DATA && a.name.is_empty())?;
            for (ty, b) in kept.iter_mut() {
                if *ty == at::STANDARD_INFORMATION && b[8] == 0 {
                    let vo = le::u16(b, 0x14) as usize;
                    touch(b, vo);
                }
            }
            if Self::fits(&raw, &kept, std::slice::from_ref(&data_attr)) {
                self.reassemble(n, raw, kept, vec![data_attr.clone()])?;
                in_place = true;
            }
        }
        if !in_place {
            let mut attrs: Vec<AttrSpec> = rec
                .attrs
                .iter()
                .filter(|a| !(a.ty == at::DATA && a.name.is_empty()))
                .filter(|a| a.ty != at::ATTRIBUTE_LIST)
                .map(to_spec)
                .collect();
            for a in attrs.iter_mut() {
                if let (at::STANDARD_INFORMATION, crate::attribute::Body::Resident { value, .. }) =
                    (a.ty, &mut a.body)
                {
                    touch(value, 0);
                }
            }
            attrs.push(data_attr);
            self.write_file_records(n, attrs)?;
        }
        // Each parent's index keeps a copy of each name (the long one and
        // a DOS one) with sizes and times.
        let mref = entry.mref;
        let fix = |f: &mut FileName| {
            f.allocated_size = alloc;
            f.data_size = data.len() as u64;
            f.times.modification = t;
            f.times.mft_change = t;
            f.times.access = t;
        };
        if !parents.contains(&parent) {
            parents.push(parent);
        }
        for p in parents {
            self.rewrite_index(p, |entries| {
                for e in entries.iter_mut() {
                    if le::u64(&e.1, 0) != mref || e.1.len() < 0x10 {
                        continue;
                    }
                    if let Some(mut f) = FileName::parse(&e.1[0x10..]) {
                        fix(&mut f);
                        e.1 = index::file_name_entry(mref, &f.encode());
                    }
                }
            })?;
        }
        self.write_attr(mft_no::BITMAP, at::DATA, &[], &self.bitmap.clone())?;
        self.write_attr(mft_no::MFT, at::BITMAP, &[], &self.mft_bitmap.clone())?;
        self.vol.device().flush()?;
        Ok(n)
    }

    /// Mark record `x` free: in-use flag cleared on disk, bit cleared in
    /// the MFT bitmap (written by the caller).
    fn free_record(&mut self, x: u64) -> Result<()> {
        let off = self.vol.record_offset(x)?;
        let rs = self.vol.boot.mft_record_size as usize;
        let mut raw = vec![0u8; rs];
        self.vol.device().read_at(off, &mut raw)?;
        crate::fixup::unprotect(&mut raw, off, "FILE record")?;
        let flags = le::u16(&raw, 0x16) & !record_flags::IN_USE;
        le::put16(&mut raw, 0x16, flags);
        self.put_record(x, raw)?;
        if let Some(b) = self.mft_bitmap.get_mut((x / 8) as usize) {
            *b &= !(1 << (x % 8));
        }
        Ok(())
    }

    /// Rewrite file (or directory) record `n` with `attrs`, all its
    /// attributes except the list: in the base record alone when they fit,
    /// else over extension records with an $ATTRIBUTE_LIST. New extension
    /// records and list clusters are taken and written first, then the
    /// base record, and only then are the old extension records and old
    /// list clusters freed: an error on the way (MFT or volume full)
    /// leaves the file's records as they were. Header fields (sequence,
    /// flags, link count) stay. Bitmaps are written by the caller.
    fn write_file_records(&mut self, n: u64, mut attrs: Vec<AttrSpec>) -> Result<()> {
        if self.vol.boot.mft_record_size as usize != crate::layout::MFT_RECORD_SIZE {
            return Err(Error::Unsupported(
                "attribute lists in MFT records other than 1 KiB".into(),
            ));
        }
        let base = self.vol.raw_record(n)?;
        if base.base != 0 {
            return Err(Error::Unsupported(format!(
                "record {n} is an extension record, not a file"
            )));
        }
        let mut old_records: Vec<u64> = Vec::new();
        let mut old_list_runs: Vec<Run> = Vec::new();
        if let Some(la) = base.find(at::ATTRIBUTE_LIST, &[]) {
            let list = self.vol.read_attr(la, 1 << 20)?;
            let off = self.vol.record_offset(n)?;
            old_records = crate::attrlist::parse(&list, off)?
                .iter()
                .map(|e| e.mref & 0xFFFF_FFFF_FFFF)
                .filter(|&x| x != n)
                .collect();
            old_records.sort_unstable();
            old_records.dedup();
            for &x in &old_records {
                let xr = self.vol.raw_record(x)?;
                if xr.base != n {
                    return Err(corrupt(
                        self.vol.record_offset(x)?,
                        "FILE record",
                        format!(
                            "record {x} is listed as an extension of {n} but its base is {}",
                            xr.base
                        ),
                    ));
                }
            }
            if let AttrKind::NonResident { runs, .. } = &la.kind {
                old_list_runs = runs.clone();
            }
        }
        attrs.retain(|a| a.ty != at::ATTRIBUTE_LIST);
        let mut taken_records: Vec<u64> = Vec::new();
        let mut taken_runs: Vec<Run> = Vec::new();
        let placed = self
            .write_placed(n, base.seq, &mut attrs, &mut taken_records, &mut taken_runs)
            .and_then(|()| {
                let mut raw = RecordBuilder {
                    number: n,
                    seq: base.seq,
                    flags: base.flags,
                    link_count: base.link_count,
                    attrs,
                    base: 0,
                }
                .encode()?;
                crate::fixup::unprotect(&mut raw, 0, "FILE record")?;
                Ok(raw)
            });
        let raw = match placed {
            Ok(raw) => raw,
            Err(e) => {
                // Give back what was taken (only written to free records
                // and clusters); the old records stay as they were.
                for x in taken_records {
                    if let Some(b) = self.mft_bitmap.get_mut((x / 8) as usize) {
                        *b &= !(1 << (x % 8));
                    }
                }
                self.free_clusters(&taken_runs);
                return Err(e);
            }
        };
        self.put_record(n, raw)?;
        for x in old_records {
            self.free_record(x)?;
        }
        self.free_clusters(&old_list_runs);
        Ok(())
    }

    /// Spread `attrs` over base record `n` and new extension records
    /// (their numbers pushed to `taken_records`), writing the extension
    /// records and a non-resident list (its runs pushed to `taken_runs`);
    /// `attrs` becomes the base record's attributes.
    fn write_placed(
        &mut self,
        n: u64,
        seq: u16,
        attrs: &mut Vec<AttrSpec>,
        taken_records: &mut Vec<u64>,
        taken_runs: &mut Vec<Run>,
    ) -> Result<()> {
        let cs = self.vol.cluster_size();
        let Some(mut pl) = crate::attrlist::place(attrs.clone(), LIST_NONRES_LEN)? else {
            return Ok(());
        };
        let mut mrefs = vec![mft_ref(n, seq)];
        for _ in 1..pl.records.len() {
            let x = self.alloc_record()?;
            taken_records.push(x);
            let xs = match self.vol.raw_record(x) {
                Ok(r) => r.seq.wrapping_add(1).max(1),
                Err(_) => 1,
            };
            mrefs.push(mft_ref(x, xs));
        }
        pl.build_list(&mrefs);
        let runs = if pl.list_is_nonresident() {
            let r = self.alloc_clusters((pl.list.len() as u64).div_ceil(cs))?;
            taken_runs.extend_from_slice(&r);
            self.write_runs(&r, &pl.list)?;
            Some(r)
        } else {
            None
        };
        let list_attr = pl.list_attr(runs, cs);
        let mut recs = pl.records.into_iter();
        *attrs = recs.next().expect("base record");
        attrs.push(list_attr);
        self.put_extension_records(recs, &mrefs)
    }

    /// Write the extension records of a file whose base record is
    /// `mrefs[0]`: record `j` of `recs` goes to `mrefs[j + 1]` (number and
    /// sequence number from the reference).
    fn put_extension_records(
        &self,
        recs: impl Iterator<Item = Vec<AttrSpec>>,
        mrefs: &[u64],
    ) -> Result<()> {
        for (j, ra) in recs.enumerate() {
            let m = mrefs[j + 1];
            let x = m & 0xFFFF_FFFF_FFFF;
            let mut raw = RecordBuilder {
                number: x,
                seq: (m >> 48) as u16,
                flags: record_flags::IN_USE,
                link_count: 0,
                attrs: ra,
                base: mrefs[0],
            }
            .encode()?;
            crate::fixup::unprotect(&mut raw, 0, "FILE record")?;
            self.put_record(x, raw)?;
        }
        Ok(())
    }

    /// Whether `kept` raw attributes plus `new_attrs` fit record `raw`.
    fn fits(raw: &[u8], kept: &[(u32, Vec<u8>)], new_attrs: &[AttrSpec]) -> bool {
        let total: usize = kept.iter().map(|k| k.1.len()).sum::<usize>()
            + new_attrs.iter().map(|a| a.encoded_len()).sum::<usize>()
            + ATTRS_OFFSET.max(le::u16(raw, 0x14) as usize)
            + 8;
        total <= raw.len()
    }

    /// Rebuild the $I30 index of `dir` from its entries as `edit` leaves
    /// them (name, index entry bytes).
    fn rewrite_index(
        &mut self,
        dir: u64,
        edit: impl FnOnce(&mut Vec<(Vec<u16>, Vec<u8>)>),
    ) -> Result<()> {
        let rec = self.vol.record(dir)?;
        let has_list = rec.find(at::ATTRIBUTE_LIST, &[]).is_some();
        let i30 = utf16("$I30");
        let mut entries: Vec<(Vec<u16>, Vec<u8>)> = self
            .vol
            .dir_entries(dir)?
            .into_iter()
            .map(|e| {
                (
                    e.name.name.clone(),
                    index::file_name_entry(e.mref, &e.name.encode()),
                )
            })
            .collect();
        edit(&mut entries);
        let up = self.vol.upcase().to_vec();
        entries.sort_by(|a, b| index::collate_names(&up, &a.0, &b.0));
        let is_i30 = |a: &crate::attribute::Attr| {
            a.name == i30 && matches!(a.ty, at::INDEX_ROOT | at::INDEX_ALLOCATION | at::BITMAP)
        };
        // Old allocation runs come from the merged record (all extents).
        let mut old_alloc = Vec::new();
        for a in rec.attrs.iter().filter(|a| is_i30(a)) {
            if let AttrKind::NonResident { runs, .. } = &a.kind {
                old_alloc.extend_from_slice(runs);
            }
        }
        let others: usize = if has_list {
            crate::record::ATTR_SPACE
        } else {
            rec.attrs
                .iter()
                .filter(|a| !is_i30(a))
                .map(|a| to_spec(a).encoded_len())
                .sum()
        };
        let bytes: usize = entries.iter().map(|e| e.1.len()).sum();
        // A record too full for a root with a child pointer keeps the
        // smallest root (END entry to an allocation).
        let (cap, cap_large) = match crate::writer::root_caps(others, bytes) {
            (_, l) if l < 24 => (0, 24),
            c => c,
        };
        let cs = self.vol.cluster_size();
        let vpb = if cs <= INDEX_BLOCK_SIZE as u64 {
            INDEX_BLOCK_SIZE as u64 / cs
        } else {
            INDEX_BLOCK_SIZE as u64 / 512
        };
        let built = index::build(
            entries.into_iter().map(|e| e.1).collect(),
            cap,
            cap_large,
            INDEX_BLOCK_SIZE,
            vpb,
        );
        self.free_clusters(&old_alloc);
        let cpb = if cs <= INDEX_BLOCK_SIZE as u64 {
            (INDEX_BLOCK_SIZE as u64 / cs) as u8
        } else {
            (INDEX_BLOCK_SIZE / 512) as u8
        };
        let mut new_attrs = vec![AttrSpec::resident(
            at::INDEX_ROOT,
            &i30,
            index::root_value(
                at::FILE_NAME,
                collation::FILE_NAME,
                INDEX_BLOCK_SIZE as u32,
                cpb,
                &built,
            ),
        )];
        if built.large {
            let bytes = (built.blocks.len() * INDEX_BLOCK_SIZE) as u64;
            let runs = self.alloc_clusters(bytes.div_ceil(cs))?;
            let mut data = Vec::with_capacity(bytes as usize);
            for b in &built.blocks {
                let mut b = b.clone();
                index::finish_block(&mut b);
                data.extend_from_slice(&b);
            }
            self.write_runs(&runs, &data)?;
            new_attrs.push(AttrSpec::non_resident(
                at::INDEX_ALLOCATION,
                &i30,
                runs,
                bytes,
                cs,
            ));
            new_attrs.push(AttrSpec::resident(
                at::BITMAP,
                &i30,
                index::bitmap_value(built.blocks.len()),
            ));
        }
        if !has_list {
            let (raw, kept, _) = self.split_record(dir, is_i30)?;
            if Self::fits(&raw, &kept, &new_attrs) {
                return self.reassemble(dir, raw, kept, new_attrs);
            }
        }
        // The directory gets (or keeps) an attribute list.
        let mut attrs: Vec<AttrSpec> = rec
            .attrs
            .iter()
            .filter(|a| !is_i30(a) && a.ty != at::ATTRIBUTE_LIST)
            .map(to_spec)
            .collect();
        attrs.extend(new_attrs);
        self.write_file_records(dir, attrs)
    }

    /// Raw record `n` without fixups, the attributes to keep (raw bytes)
    /// and the parsed attributes `remove` selects.
    fn split_record(
        &self,
        n: u64,
        remove: impl Fn(&crate::attribute::Attr) -> bool,
    ) -> Result<SplitRecord> {
        let rec = self.vol.raw_record(n)?;
        let off = self.vol.record_offset(n)?;
        let rs = self.vol.boot.mft_record_size as usize;
        let mut raw = vec![0u8; rs];
        self.vol.device().read_at(off, &mut raw)?;
        crate::fixup::unprotect(&mut raw, off, "FILE record")?;
        let mut kept = Vec::new();
        let mut removed = Vec::new();
        for a in &rec.attrs {
            let len = le::u32(&raw, a.offset + 4) as usize;
            if remove(a) {
                removed.push(a.clone());
            } else {
                kept.push((a.ty, raw[a.offset..a.offset + len].to_vec()));
            }
        }
        Ok((raw, kept, removed))
    }

    /// Write record `n` back with `kept` raw attributes plus `new_attrs`.
    fn reassemble(
        &self,
        n: u64,
        mut raw: Vec<u8>,
        kept: Vec<(u32, Vec<u8>)>,
        new_attrs: Vec<AttrSpec>,
    ) -> Result<()> {
        let rs = raw.len();
        let dir = n;
        // Reassemble: attributes sorted by type then name, new instances.
        let mut next_inst = le::u16(&raw, 0x28);
        let mut all: Vec<(u32, Vec<u16>, Vec<u8>)> = kept
            .into_iter()
            .map(|(ty, b)| {
                let nl = b[9] as usize;
                let no = le::u16(&b, 0x0A) as usize;
                let name = (0..nl).map(|i| le::u16(&b, no + 2 * i)).collect();
                (ty, name, b)
            })
            .collect();
        for a in new_attrs {
            let b = a.encode(next_inst);
            next_inst = next_inst.wrapping_add(1);
            all.push((a.ty, a.name.clone(), b));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let total: usize = all.iter().map(|a| a.2.len()).sum::<usize>()
            + ATTRS_OFFSET.max(le::u16(&raw, 0x14) as usize)
            + 8;
        if total > rs {
            return Err(Error::Unsupported(format!(
                "record {dir} would overflow ({total} bytes) and is edited in place only"
            )));
        }
        let start = le::u16(&raw, 0x14) as usize;
        let mut o = start;
        raw[start..].fill(0);
        for a in &all {
            raw[o..o + a.2.len()].copy_from_slice(&a.2);
            o += a.2.len();
        }
        le::put32(&mut raw, o, at::END);
        le::put32(&mut raw, 0x18, (o + 8) as u32);
        le::put16(&mut raw, 0x28, next_inst);
        self.put_record(dir, raw)
    }
}
