//! Reading a volume: boot sector, MFT records, attributes, directory
//! indexes and streams. Every size, offset and run from disk is checked
//! before it is used; corrupt structures are [`Error::Corrupt`] naming the
//! device offset and the structure, never a panic or an endless loop.

use crate::attribute::{Attr, AttrKind};
use crate::boot::BootSector;
use crate::error::{corrupt, Error, Result};
use crate::filename::FileName;
use crate::index;
use crate::layout::{attr_type as at, mft_no, namespace};
use crate::le;
use crate::record::{self, Record};
use crate::runlist::Run;
use blockdev::BlockDev;
use std::collections::HashSet;

/// Largest attribute value read into memory at once.
pub const MAX_IN_MEMORY: u64 = 256 << 20;
/// Deepest index tree walked.
const MAX_INDEX_DEPTH: usize = 32;

/// An open volume.
pub struct Volume<D: BlockDev> {
    dev: D,
    pub boot: BootSector,
    cluster: u64,
    total_clusters: u64,
    mft_runs: Vec<Run>,
    mft_size: u64,
    record_size: u64,
    upcase: Vec<u16>,
}

/// One name in a directory.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub mref: u64,
    pub name: FileName,
}

impl DirEntry {
    pub fn record(&self) -> u64 {
        self.mref & 0xFFFF_FFFF_FFFF
    }
    pub fn name_string(&self) -> String {
        String::from_utf16_lossy(&self.name.name)
    }
    pub fn is_dir(&self) -> bool {
        self.name.file_attributes & crate::layout::file_attr::DUP_FILE_NAME_INDEX_PRESENT != 0
    }
}

impl<D: BlockDev> Volume<D> {
    pub fn open(dev: D) -> Result<Self> {
        let mut b = [0u8; 512];
        dev.read_at(0, &mut b)?;
        let boot = BootSector::parse(&b, 0)?;
        let cluster = boot.cluster_size();
        let total_clusters = boot.total_clusters();
        if total_clusters
            .checked_mul(cluster)
            .is_none_or(|s| s > dev.len())
        {
            return Err(corrupt(
                0x28,
                "boot sector",
                format!(
                    "volume of {} sectors is larger than the device ({} bytes)",
                    boot.total_sectors,
                    dev.len()
                ),
            ));
        }
        let record_size = boot.mft_record_size as u64;
        let mut v = Volume {
            dev,
            boot: boot.clone(),
            cluster,
            total_clusters,
            mft_runs: vec![Run {
                lcn: Some(boot.mft_lcn),
                len: (record_size * 16).div_ceil(cluster),
            }],
            mft_size: record_size * 16,
            record_size,
            upcase: Vec::new(),
        };
        // The base record's $DATA maps at least the records its
        // extension records live in; then the full runlist is merged.
        let mft = v.raw_record(mft_no::MFT)?;
        v.set_mft_from(&mft, boot.mft_lcn * cluster)?;
        if mft.find(at::ATTRIBUTE_LIST, &[]).is_some() {
            let full = v.record(mft_no::MFT)?;
            v.set_mft_from(&full, boot.mft_lcn * cluster)?;
        }
        let up = v.record(mft_no::UPCASE)?;
        let ua = up
            .find(at::DATA, &[])
            .ok_or_else(|| corrupt(0, "$UpCase", "no $DATA"))?
            .clone();
        let ub = v.read_attr(&ua, 1 << 20)?;
        v.upcase = ub
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok(v)
    }

    fn set_mft_from(&mut self, mft: &Record, off: u64) -> Result<()> {
        let data = mft
            .find(at::DATA, &[])
            .ok_or_else(|| corrupt(off, "$MFT", "no $DATA attribute"))?;
        match &data.kind {
            AttrKind::NonResident {
                runs,
                data,
                lowest_vcn: 0,
                ..
            } => {
                self.mft_runs = runs.clone();
                self.mft_size = *data;
                Ok(())
            }
            _ => Err(corrupt(
                off,
                "$MFT",
                "$DATA is not a non-resident attribute starting at VCN 0",
            )),
        }
    }

    /// After the MFT grew: its new runs and size.
    pub(crate) fn set_mft(&mut self, runs: Vec<Run>, size: u64) {
        self.mft_runs = runs;
        self.mft_size = size;
    }

    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn cluster_size(&self) -> u64 {
        self.cluster
    }

    pub fn total_clusters(&self) -> u64 {
        self.total_clusters
    }

    pub fn upcase(&self) -> &[u16] {
        &self.upcase
    }

    /// Number of records the $MFT holds.
    pub fn record_count(&self) -> u64 {
        self.mft_size / self.record_size
    }

    /// Device offset of record `n`.
    pub fn record_offset(&self, n: u64) -> Result<u64> {
        let off = n
            .checked_mul(self.record_size)
            .filter(|&o| o + self.record_size <= self.mft_size.max(self.record_size * 16));
        let off = off.ok_or_else(|| {
            Error::NotFound(format!(
                "MFT record {n} (the MFT has {} records)",
                self.record_count()
            ))
        })?;
        let vcn = off / self.cluster;
        let within = off % self.cluster;
        let mut v = 0u64;
        for r in &self.mft_runs {
            if vcn < v + r.len {
                let lcn = r.lcn.ok_or_else(|| {
                    corrupt(0, "$MFT", format!("record {n} lies in a sparse run"))
                })?;
                return Ok((lcn + vcn - v) * self.cluster + within);
            }
            v += r.len;
        }
        Err(corrupt(
            0,
            "$MFT",
            format!("record {n} is not mapped by the $MFT runlist"),
        ))
    }

    /// Read and parse record `n` as one file: when it has an
    /// $ATTRIBUTE_LIST, the attributes held in its extension records are
    /// added, and an attribute split over several records is returned as
    /// one (runs of all extents, sizes of the first). Use
    /// [`Volume::raw_record`] for the record's own attributes only.
    pub fn record(&self, n: u64) -> Result<Record> {
        let mut rec = self.raw_record(n)?;
        let Some(list_attr) = rec.find(at::ATTRIBUTE_LIST, &[]).cloned() else {
            return Ok(rec);
        };
        let off = self.record_offset(n)?;
        let list = self.read_attr(&list_attr, 1 << 20)?;
        let entries = crate::attrlist::parse(&list, off)?;
        let mut ext_numbers: Vec<u64> = entries
            .iter()
            .map(|e| e.mref & 0xFFFF_FFFF_FFFF)
            .filter(|&r| r != n)
            .collect();
        ext_numbers.sort_unstable();
        ext_numbers.dedup();
        if ext_numbers.len() > 4096 {
            return Err(corrupt(
                off,
                "$ATTRIBUTE_LIST",
                format!("record {n}: {} extension records", ext_numbers.len()),
            ));
        }
        let mut all = std::mem::take(&mut rec.attrs);
        for x in ext_numbers {
            let e = self.raw_record(x)?;
            if e.base != n || !e.in_use() {
                return Err(corrupt(
                    self.record_offset(x)?,
                    "FILE record",
                    format!(
                        "record {x} is listed as an extension of {n} but its base is {} (in use: {})",
                        e.base,
                        e.in_use()
                    ),
                ));
            }
            all.extend(e.attrs);
        }
        // Merge extents: first extents (VCN 0) keep their place, later
        // ones append their runs in VCN order.
        let (mut firsts, mut later): (Vec<Attr>, Vec<Attr>) =
            all.into_iter().partition(|a| match &a.kind {
                AttrKind::NonResident { lowest_vcn, .. } => *lowest_vcn == 0,
                AttrKind::Resident(_) => true,
            });
        later.sort_by_key(|a| match &a.kind {
            AttrKind::NonResident { lowest_vcn, .. } => *lowest_vcn,
            AttrKind::Resident(_) => 0,
        });
        for x in later {
            let AttrKind::NonResident {
                lowest_vcn: xl,
                highest_vcn: xh,
                runs: xr,
                ..
            } = x.kind
            else {
                continue;
            };
            let head = firsts.iter_mut().find(|a| {
                a.ty == x.ty && a.name == x.name && matches!(a.kind, AttrKind::NonResident { .. })
            });
            let Some(AttrKind::NonResident {
                highest_vcn, runs, ..
            }) = head.map(|h| &mut h.kind)
            else {
                return Err(corrupt(
                    off,
                    "$ATTRIBUTE_LIST",
                    format!(
                        "record {n}: extent at VCN {xl} of attribute {:#x} has no first extent",
                        x.ty
                    ),
                ));
            };
            let mapped: u64 = runs.iter().map(|r| r.len).sum();
            if mapped != xl {
                return Err(corrupt(
                    off,
                    "$ATTRIBUTE_LIST",
                    format!(
                        "record {n}: extent of attribute {:#x} starts at VCN {xl}, expected {mapped}",
                        x.ty
                    ),
                ));
            }
            runs.extend(xr);
            *highest_vcn = xh;
        }
        rec.attrs = firsts;
        Ok(rec)
    }

    /// Read and parse record `n` alone (no attribute-list merging).
    pub fn raw_record(&self, n: u64) -> Result<Record> {
        let off = self.record_offset(n)?;
        let mut buf = vec![0u8; self.record_size as usize];
        // Records smaller than a cluster are contiguous; larger ones may
        // span runs, read per cluster.
        if self.record_size <= self.cluster {
            self.dev.read_at(off, &mut buf)?;
        } else {
            for (i, chunk) in buf.chunks_mut(self.cluster as usize).enumerate() {
                let o = self.record_offset_part(n, i as u64)?;
                self.dev.read_at(o, chunk)?;
            }
        }
        record::parse(buf, n, off, self.total_clusters, self.cluster)
    }

    pub(crate) fn record_offset_part(&self, n: u64, part: u64) -> Result<u64> {
        let off = n * self.record_size + part * self.cluster;
        let vcn = off / self.cluster;
        let mut v = 0u64;
        for r in &self.mft_runs {
            if vcn < v + r.len {
                let lcn = r.lcn.ok_or_else(|| corrupt(0, "$MFT", "sparse MFT run"))?;
                return Ok((lcn + vcn - v) * self.cluster);
            }
            v += r.len;
        }
        Err(corrupt(0, "$MFT", format!("record {n} is not mapped")))
    }

    /// Read a whole attribute value (at most `max` bytes).
    pub fn read_attr(&self, a: &Attr, max: u64) -> Result<Vec<u8>> {
        match &a.kind {
            AttrKind::Resident(v) => Ok(v.clone()),
            AttrKind::NonResident { data, .. } => {
                if *data > max.min(MAX_IN_MEMORY) {
                    return Err(Error::Unsupported(format!(
                        "attribute of {data} bytes is too large to read into memory"
                    )));
                }
                let mut out = Vec::with_capacity(*data as usize);
                self.copy_attr(a, &mut |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })?;
                Ok(out)
            }
        }
    }

    /// Stream an attribute value to `sink` in pieces.
    pub fn copy_attr(&self, a: &Attr, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        match &a.kind {
            AttrKind::Resident(v) => sink(v),
            AttrKind::NonResident {
                runs,
                data,
                initialized,
                lowest_vcn,
                ..
            } => {
                if *lowest_vcn != 0 {
                    return Err(Error::Unsupported(
                        "a later extent of an attribute cannot be read alone; read the file with Volume::record"
                            .into(),
                    ));
                }
                if a.flags & crate::attribute::FLAG_COMPRESSED != 0 {
                    return self.copy_compressed(a, runs, *data, *initialized, sink);
                }
                let mut pos = 0u64;
                let mut buf = vec![0u8; 1 << 20];
                for r in runs {
                    let run_bytes = r.len * self.cluster;
                    let mut done = 0u64;
                    while done < run_bytes && pos < *data {
                        let n = (run_bytes - done).min(buf.len() as u64).min(data - pos) as usize;
                        let b = &mut buf[..n];
                        match r.lcn {
                            Some(lcn) if pos < *initialized => {
                                self.dev.read_at(lcn * self.cluster + done, b)?;
                                if pos + n as u64 > *initialized {
                                    let keep = (*initialized - pos) as usize;
                                    b[keep..].fill(0);
                                }
                            }
                            _ => b.fill(0),
                        }
                        sink(b)?;
                        done += n as u64;
                        pos += n as u64;
                    }
                }
                if pos < *data {
                    return Err(corrupt(
                        0,
                        "runlist",
                        format!("runs cover {pos} of {data} bytes"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Stream an LZNT1-compressed attribute (see [`crate::lznt1`]): per
    /// compression unit, all clusters present = stored as is, none = zeros,
    /// fewer = compressed chunks.
    fn copy_compressed(
        &self,
        a: &Attr,
        runs: &[Run],
        data: u64,
        initialized: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        if a.compression_unit == 0 || a.compression_unit > 8 {
            return Err(Error::Unsupported(format!(
                "compressed attribute with compression unit 2^{} clusters",
                a.compression_unit
            )));
        }
        let uc = 1u64 << a.compression_unit;
        let unit_bytes = uc * self.cluster;
        // Flatten to (vcn, run) to find each unit's clusters.
        let mut vcn = 0u64;
        let mut spans = Vec::with_capacity(runs.len());
        for r in runs {
            spans.push((vcn, *r));
            vcn += r.len;
        }
        let total_vcns = vcn;
        let mut out = vec![0u8; unit_bytes as usize];
        let mut comp = Vec::with_capacity(unit_bytes as usize);
        let mut dec = Vec::with_capacity(unit_bytes as usize);
        let mut pos = 0u64;
        let mut u = 0u64;
        let mut si = 0usize;
        while pos < data {
            let start = u * uc;
            if start >= total_vcns {
                return Err(corrupt(
                    0,
                    "runlist",
                    format!("compressed runs cover {pos} of {data} bytes"),
                ));
            }
            let end = (start + uc).min(total_vcns);
            // Clusters of this unit that are allocated, in VCN order.
            comp.clear();
            let mut present = 0u64;
            let mut first_dev = 0u64;
            while si < spans.len() && spans[si].0 + spans[si].1.len <= start {
                si += 1;
            }
            let mut k = si;
            while k < spans.len() && spans[k].0 < end {
                let (v0, r) = spans[k];
                let a0 = v0.max(start);
                let a1 = (v0 + r.len).min(end);
                if let Some(lcn) = r.lcn {
                    if present == 0 {
                        first_dev = (lcn + a0 - v0) * self.cluster;
                    }
                    let n = ((a1 - a0) * self.cluster) as usize;
                    let o = comp.len();
                    comp.resize(o + n, 0);
                    self.dev
                        .read_at((lcn + a0 - v0) * self.cluster, &mut comp[o..])?;
                    present += a1 - a0;
                }
                k += 1;
            }
            if present == end - start {
                out.fill(0);
                out[..comp.len()].copy_from_slice(&comp);
            } else if present == 0 {
                out.fill(0);
            } else {
                crate::lznt1::decompress(&comp, unit_bytes as usize, &mut dec, first_dev)?;
                out.fill(0);
                let n = dec.len().min(out.len());
                out[..n].copy_from_slice(&dec[..n]);
            }
            let n = (data - pos).min(unit_bytes) as usize;
            if pos + n as u64 > initialized {
                let keep = initialized.saturating_sub(pos) as usize;
                out[keep.min(n)..n].fill(0);
            }
            sink(&out[..n])?;
            pos += n as u64;
            u += 1;
        }
        Ok(())
    }

    /// All entries of the $I30 index of directory record `dir`, in index
    /// order (DOS-only names included; see [`DirEntry::name`]).
    pub fn dir_entries(&self, dir: u64) -> Result<Vec<DirEntry>> {
        let rec = self.record(dir)?;
        let i30: Vec<u16> = "$I30".encode_utf16().collect();
        self.index_entries(&rec, &i30)?
            .into_iter()
            .map(|e| {
                let name = FileName::parse(&e.key).ok_or_else(|| {
                    corrupt(
                        0,
                        "index entry",
                        format!("directory {dir}: bad $FILE_NAME key"),
                    )
                })?;
                Ok(DirEntry { mref: e.head, name })
            })
            .collect()
    }

    /// All non-END entries of index `name` of `rec`, in order.
    pub fn index_entries(&self, rec: &Record, name: &[u16]) -> Result<Vec<index::Entry>> {
        let root = rec.find(at::INDEX_ROOT, name).ok_or_else(|| {
            Error::NotFound(format!(
                "record {}: no index root {}",
                rec.number,
                String::from_utf16_lossy(name)
            ))
        })?;
        let AttrKind::Resident(rv) = &root.kind else {
            return Err(corrupt(0, "$INDEX_ROOT", "non-resident index root"));
        };
        if rv.len() < 0x20 {
            return Err(corrupt(0, "$INDEX_ROOT", "too short"));
        }
        let block_size = le::u32(rv, 8) as u64;
        let start = 0x10 + le::u32(rv, 0x10) as usize;
        let end = 0x10 + le::u32(rv, 0x14) as usize;
        let alloc = rec.find(at::INDEX_ALLOCATION, name).cloned();
        let vcn_size = if self.cluster <= block_size {
            self.cluster
        } else {
            512
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let root_entries = index::parse_entries(rv, start, end, 0, "$INDEX_ROOT")?;
        self.walk(
            root_entries,
            alloc.as_ref(),
            block_size,
            vcn_size,
            &mut seen,
            0,
            &mut out,
        )?;
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        entries: Vec<index::Entry>,
        alloc: Option<&Attr>,
        block_size: u64,
        vcn_size: u64,
        seen: &mut HashSet<u64>,
        depth: usize,
        out: &mut Vec<index::Entry>,
    ) -> Result<()> {
        if depth > MAX_INDEX_DEPTH {
            return Err(corrupt(0, "index", "index tree deeper than 32 levels"));
        }
        for e in entries {
            if let Some(vcn) = e.child {
                let alloc = alloc.ok_or_else(|| {
                    corrupt(0, "index entry", "child pointer but no $INDEX_ALLOCATION")
                })?;
                if !seen.insert(vcn) {
                    return Err(corrupt(
                        0,
                        "INDX block",
                        format!("index loop: VCN {vcn} is referenced twice"),
                    ));
                }
                let (block, dev_off) = self.read_index_block(alloc, vcn, block_size, vcn_size)?;
                let start = 0x18 + le::u32(&block, 0x18) as usize;
                let end = 0x18 + le::u32(&block, 0x1C) as usize;
                let children = index::parse_entries(&block, start, end, dev_off, "INDX block")?;
                self.walk(
                    children,
                    Some(alloc),
                    block_size,
                    vcn_size,
                    seen,
                    depth + 1,
                    out,
                )?;
            }
            if e.flags & index::ENTRY_END == 0 {
                out.push(e);
            }
        }
        Ok(())
    }

    fn read_index_block(
        &self,
        alloc: &Attr,
        vcn: u64,
        block_size: u64,
        vcn_size: u64,
    ) -> Result<(Vec<u8>, u64)> {
        let AttrKind::NonResident { runs, data, .. } = &alloc.kind else {
            return Err(corrupt(0, "$INDEX_ALLOCATION", "resident index allocation"));
        };
        let off = vcn
            .checked_mul(vcn_size)
            .filter(|o| o + block_size <= *data)
            .ok_or_else(|| {
                corrupt(
                    0,
                    "index entry",
                    format!("child VCN {vcn} is outside the index allocation"),
                )
            })?;
        let mut buf = vec![0u8; block_size as usize];
        let mut filled = 0u64;
        let mut dev_off0 = 0;
        while filled < block_size {
            let pos = off + filled;
            let c = pos / self.cluster;
            let mut v = 0u64;
            let mut found = None;
            for r in runs {
                if c < v + r.len {
                    found = Some(
                        r.lcn
                            .map(|l| (l + c - v) * self.cluster + pos % self.cluster),
                    );
                    break;
                }
                v += r.len;
            }
            let dev_off = found.flatten().ok_or_else(|| {
                corrupt(0, "$INDEX_ALLOCATION", format!("VCN {vcn} is not mapped"))
            })?;
            if filled == 0 {
                dev_off0 = dev_off;
            }
            let n = (self.cluster - pos % self.cluster).min(block_size - filled);
            self.dev
                .read_at(dev_off, &mut buf[filled as usize..(filled + n) as usize])?;
            filled += n;
        }
        if &buf[0..4] != b"INDX" {
            return Err(corrupt(dev_off0, "INDX block", "bad magic"));
        }
        crate::fixup::unprotect(&mut buf, dev_off0, "INDX block")?;
        if le::u64(&buf, 0x10) != vcn {
            return Err(corrupt(
                dev_off0,
                "INDX block",
                format!("block says VCN {}, expected {vcn}", le::u64(&buf, 0x10)),
            ));
        }
        Ok((buf, dev_off0))
    }

    /// Find `name` in directory `dir` (case-insensitive through $UpCase,
    /// exact match preferred).
    pub fn lookup_in(&self, dir: u64, name: &str) -> Result<Option<DirEntry>> {
        let want: Vec<u16> = name.encode_utf16().collect();
        let up = crate::upcase::upcase_name(&self.upcase, &want);
        let entries = self.dir_entries(dir)?;
        if let Some(e) = entries.iter().find(|e| e.name.name == want) {
            return Ok(Some(e.clone()));
        }
        Ok(entries
            .into_iter()
            .find(|e| crate::upcase::upcase_name(&self.upcase, &e.name.name) == up))
    }

    /// Resolve a `/`- or `\`-separated path to a record number.
    pub fn lookup(&self, path: &str) -> Result<u64> {
        let mut cur = mft_no::ROOT;
        for comp in path.split(['/', '\\']).filter(|c| !c.is_empty()) {
            cur = self
                .lookup_in(cur, comp)?
                .ok_or_else(|| Error::NotFound(path.to_string()))?
                .record();
        }
        Ok(cur)
    }

    /// Directory listing without DOS-only duplicates and without "." .
    pub fn list(&self, dir: u64) -> Result<Vec<DirEntry>> {
        Ok(self
            .dir_entries(dir)?
            .into_iter()
            .filter(|e| {
                e.name.namespace != namespace::DOS
                    && !(e.record() == dir && e.name.name == [b'.' as u16])
            })
            .collect())
    }
}
