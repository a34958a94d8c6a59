//! WIM capture backend: walk an NTFS volume with the [`Volume`] reader and
//! build a [`wim::write::ImageTree`] whose file data is read from the
//! volume when the image is written (streamed, never loaded whole), the
//! inverse of [`crate::wim_apply`].
//!
//! What is captured, as wimlib's NTFS-3G capture (`ntfs-3g_capture.c`)
//! does it:
//! - every name but DOS-only ones; a separate DOS ($FILE_NAME namespace 2)
//!   name becomes the short name of the Win32 name beside it, and a
//!   Win32-and-DOS name (namespace 3) is its own short name;
//! - names of one MFT record become one inode (hard links);
//! - file attributes and the creation, last write and last access times of
//!   $STANDARD_INFORMATION (a WIM has no field for the MFT change time);
//! - the security descriptor, from `$Secure:$SDS` through `$SII` by the
//!   security id, or from an old-style $SECURITY_DESCRIPTOR attribute,
//!   deduplicated by content;
//! - the unnamed and named $DATA streams (sparse runs read as zeros,
//!   NTFS-compressed ones decompressed, see [`crate::lznt1`]);
//! - $REPARSE_POINT: tag, reserved field and data (not fixed up);
//! - $EA entries, as the WIM `TAG_XATTRS` item;
//! - $OBJECT_ID, as the `TAG_OBJECT_ID` item.
//!
//! The NTFS metafiles (records below 16: `$MFT` … `$Extend`) are not
//! captured; the root directory's own attributes, times and descriptor
//! become those of the image root. Attributes split over extension records
//! ($ATTRIBUTE_LIST) come joined from [`Volume::record`].

use crate::attribute::{Attr, AttrKind, FLAG_COMPRESSED};
use crate::error::{corrupt, Error, Result};
use crate::layout::{attr_type as at, file_attr, mft_no, namespace};
use crate::le;
use crate::reader::Volume;
use crate::record::Record;
use crate::runlist::Run;
use crate::stdinfo::StandardInformation;
use blockdev::BlockDev;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use wim::read::dentry::StreamKind;
use wim::write::{BlobReader, BlobSource, ImageTree, NewInode, NewStream};

/// First MFT record of user files: 0–15 are the metafiles (wimlib's
/// `FILE_first_user`).
const FIRST_NON_SYSTEM: u64 = 16;
/// Largest $SDS read into memory.
const MAX_SDS: u64 = 64 << 20;
/// Largest $EA value (the format's limit is 64 KiB).
const MAX_EA: u64 = 1 << 16;
/// wimlib's "reparse point not fixed" flag: the data is stored as found.
const RP_NOT_FIXED: u16 = 0x0001;

/// What a capture found besides the tree.
#[derive(Debug, Clone, Default)]
pub struct CaptureStats {
    pub directories: u64,
    pub files: u64,
    /// Bytes of all data streams (each inode once).
    pub bytes: u64,
    /// Files left out or metadata not captured, one line each.
    pub warnings: Vec<String>,
}

/// Paths wimlib's default capture configuration leaves out (its
/// `[ExclusionList]`): volume housekeeping, not user data. Compared
/// case-insensitively from the volume root here. One list with directory
/// captures: [`wim::write::capture_config::WINDOWS_DEFAULT_EXCLUSIONS`].
pub use wim::write::capture_config::WINDOWS_DEFAULT_EXCLUSIONS as DEFAULT_EXCLUDES;

/// Options of a volume capture.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Leave out [`DEFAULT_EXCLUDES`] (as wimlib does without `--config`).
    pub default_excludes: bool,
    /// A capture configuration used instead of [`DEFAULT_EXCLUDES`] (its
    /// exclusions and exceptions; names compared as its `ignore_case`
    /// says).
    pub config: Option<Arc<wim::write::CaptureConfig>>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            default_excludes: true,
            config: None,
        }
    }
}

/// Capture the whole volume (from its root directory) into an image tree.
/// `label` names the volume in error messages and in
/// [`BlobReader::describe`] (e.g. the image file's path).
pub fn capture<D: BlockDev + 'static>(
    vol: Arc<Volume<D>>,
    label: &str,
    opts: &CaptureOptions,
) -> Result<(ImageTree, CaptureStats)> {
    let mut c = Capture {
        label: label.to_string(),
        sec: Security::load(&vol)?,
        obj_ids: load_object_ids(&vol)?,
        vol,
        sd_index: HashMap::new(),
        stats: CaptureStats::default(),
        descriptors: Vec::new(),
    };
    let root_rec = c.record(mft_no::ROOT)?;
    let root = c
        .inode(&root_rec, "/")
        .map_err(|Skip(why)| Error::Unsupported(format!("{label}: root directory: {why}")))?;
    let mut tree = ImageTree::new(root);
    c.stats.directories += 1;
    let mut seen: HashMap<u64, u32> = HashMap::new();
    // (directory record, its dentry, its path)
    let mut stack = vec![(mft_no::ROOT, 0u32, String::new())];
    while let Some((dir, dentry, dpath)) = stack.pop() {
        let entries = c.vol.dir_entries(dir)?;
        let mut dos: HashMap<u64, Vec<u16>> = HashMap::new();
        for e in &entries {
            if e.name.namespace == namespace::DOS {
                dos.insert(e.record(), e.name.name.clone());
            }
        }
        for e in entries {
            let r = e.record();
            if e.name.namespace == namespace::DOS || r < FIRST_NON_SYSTEM || r == dir {
                continue;
            }
            let name = String::from_utf16(&e.name.name).map_err(|_| {
                Error::Unsupported(format!(
                    "{label}: {dpath}/{}: name is not valid UTF-16 and cannot be stored in a WIM",
                    String::from_utf16_lossy(&e.name.name)
                ))
            })?;
            let path = format!("{dpath}/{name}");
            let excluded = match &opts.config {
                Some(c) => c.excludes(&path),
                None => {
                    opts.default_excludes
                        && DEFAULT_EXCLUDES
                            .iter()
                            .any(|x| x.eq_ignore_ascii_case(&path))
                }
            };
            if excluded {
                continue;
            }
            // A name valid in both namespaces is its own short name (as
            // ntfs-3g reports it); a Win32 name takes the DOS name beside it.
            let short = match e.name.namespace {
                namespace::WIN32_AND_DOS => name.clone(),
                namespace::WIN32 => dos
                    .remove(&r)
                    .map(|s| String::from_utf16_lossy(&s))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            if let Some(&ino) = seen.get(&r) {
                let d = tree.add_dentry(dentry, name, ino);
                tree.dentries[d as usize].short_name = short;
                c.stats.files += 1;
                continue;
            }
            let rec = c.record(r)?;
            if rec.seq != (e.mref >> 48) as u16 && e.mref >> 48 != 0 {
                c.stats.warnings.push(format!(
                    "{path}: index entry names sequence {} of record {r}, which has {}; skipped",
                    e.mref >> 48,
                    rec.seq
                ));
                continue;
            }
            let inode = match c.inode(&rec, &path) {
                Ok(i) => i,
                Err(Skip(why)) => {
                    c.stats.warnings.push(format!("{path}: {why}; skipped"));
                    continue;
                }
            };
            let is_dir = inode.is_directory();
            let reparse = inode.is_reparse_point();
            if is_dir {
                c.stats.directories += 1;
            } else {
                c.stats.files += 1;
                c.stats.bytes += inode.streams.iter().map(|s| s.size).sum::<u64>();
            }
            let ino = tree.add_inode(inode);
            let d = tree.add_dentry(dentry, name, ino);
            tree.dentries[d as usize].short_name = short;
            // A WIM cannot hard link reparse points: each further name of
            // one is read again as an inode of its own (as wimlib's reader
            // would split it).
            if !reparse {
                seen.insert(r, ino);
            }
            if is_dir {
                stack.push((r, d, path));
            }
        }
    }
    tree.security = c.descriptors;
    Ok((tree, c.stats))
}

/// Why one file is left out (the capture goes on).
struct Skip(String);

impl From<Error> for Skip {
    fn from(e: Error) -> Self {
        Skip(e.to_string())
    }
}

struct Capture<D: BlockDev> {
    vol: Arc<Volume<D>>,
    label: String,
    sec: Security,
    /// Object id → birth volume, birth object and domain ids (48 bytes).
    obj_ids: HashMap<[u8; 16], Vec<u8>>,
    /// Descriptor bytes → index in `descriptors`.
    sd_index: HashMap<Vec<u8>, u32>,
    descriptors: Vec<Vec<u8>>,
    stats: CaptureStats,
}

impl<D: BlockDev + 'static> Capture<D> {
    /// Record `n` (with its extension records merged, by the reader).
    fn record(&self, n: u64) -> Result<Record> {
        let rec = self.vol.record(n)?;
        if !rec.in_use() {
            return Err(corrupt(
                0,
                "FILE record",
                format!("record {n} is named by a directory but not in use"),
            ));
        }
        Ok(rec)
    }

    /// The security descriptor's index in the image, deduplicated.
    fn descriptor(&mut self, rec: &Record, si: &StandardInformation) -> Result<Option<u32>> {
        let sd = if let Some(a) = rec.find(at::SECURITY_DESCRIPTOR, &[]) {
            Some(self.vol.read_attr(a, MAX_EA)?)
        } else if si.security_id != 0 {
            match self.sec.get(si.security_id) {
                Some(sd) => Some(sd.to_vec()),
                None => {
                    self.stats.warnings.push(format!(
                        "record {}: security id {:#x} is not in $Secure; no descriptor captured",
                        rec.number, si.security_id
                    ));
                    None
                }
            }
        } else {
            None
        };
        Ok(sd.filter(|s| !s.is_empty()).map(|sd| {
            let next = self.descriptors.len() as u32;
            *self.sd_index.entry(sd.clone()).or_insert_with(|| {
                self.descriptors.push(sd);
                next
            })
        }))
    }

    /// One inode from its record.
    fn inode(&mut self, rec: &Record, path: &str) -> std::result::Result<NewInode, Skip> {
        let si = rec
            .find(at::STANDARD_INFORMATION, &[])
            .and_then(|a| match &a.kind {
                AttrKind::Resident(v) => StandardInformation::parse(v),
                _ => None,
            })
            .ok_or_else(|| {
                Skip(format!(
                    "record {} has no readable $STANDARD_INFORMATION",
                    rec.number
                ))
            })?;
        let i30: Vec<u16> = "$I30".encode_utf16().collect();
        let directory = rec.is_dir() || rec.find(at::INDEX_ROOT, &i30).is_some();
        // As stored (Windows keeps 0x10000000, "index present", in the
        // $STANDARD_INFORMATION of some directories; ntfs-3g and so
        // wimlib report it unchanged), plus DIRECTORY.
        let mut attributes = si.file_attributes;
        if directory {
            attributes |= file_attr::DIRECTORY;
        }
        if attributes & file_attr::ENCRYPTED != 0 {
            return Err(Skip(
                "encrypted files cannot be captured from a volume image (the WIM needs \
                 Windows' raw EFS export)"
                    .into(),
            ));
        }
        let security_id = self.descriptor(rec, &si)?;
        let mut inode = NewInode {
            attributes,
            security_id,
            creation_time: si.times.creation,
            last_access_time: si.times.access,
            last_write_time: si.times.modification,
            ..Default::default()
        };
        for a in rec.attrs.iter().filter(|a| a.ty == at::DATA) {
            if directory && a.name.is_empty() {
                continue;
            }
            let name = String::from_utf16(&a.name).map_err(|_| {
                Skip(format!(
                    "stream name {:?} is not valid UTF-16",
                    a.name_string()
                ))
            })?;
            if a.flags & FLAG_COMPRESSED != 0
                && matches!(a.kind, AttrKind::NonResident { .. })
                && self.vol.cluster_size() > 4096
            {
                return Err(Skip(format!(
                    "stream {name:?} is NTFS-compressed on a volume with clusters over 4 KiB"
                )));
            }
            let size = a.data_size();
            let source = match &a.kind {
                _ if size == 0 => None,
                AttrKind::Resident(v) => Some(BlobSource::Bytes(Arc::new(v.clone()))),
                AttrKind::NonResident { .. } => Some(BlobSource::Reader(Arc::new(StreamBlob {
                    vol: self.vol.clone(),
                    attr: a.clone(),
                    what: if name.is_empty() {
                        format!("{}:{path}", self.label)
                    } else {
                        format!("{}:{path}:{name}", self.label)
                    },
                }))),
            };
            inode.streams.push(NewStream {
                name,
                kind: StreamKind::Data,
                size,
                hash: [0; 20],
                source,
            });
        }
        if !directory && !inode.streams.iter().any(|s| s.name.is_empty()) {
            inode.streams.insert(
                0,
                NewStream {
                    name: String::new(),
                    kind: StreamKind::Data,
                    size: 0,
                    hash: [0; 20],
                    source: None,
                },
            );
        }
        if let Some(a) = rec.find(at::REPARSE_POINT, &[]) {
            let v = self.vol.read_attr(a, MAX_EA)?;
            if v.len() < 8 || 8 + le::u16(&v, 4) as usize > v.len() {
                return Err(Skip(format!(
                    "$REPARSE_POINT of record {} is malformed",
                    rec.number
                )));
            }
            let data = v[8..8 + le::u16(&v, 4) as usize].to_vec();
            inode.attributes |= file_attr::REPARSE_POINT;
            inode.reparse_tag = le::u32(&v, 0);
            inode.rp_reserved = le::u16(&v, 6);
            inode.rp_flags = RP_NOT_FIXED;
            inode.streams.insert(
                0,
                NewStream {
                    name: String::new(),
                    kind: StreamKind::Reparse,
                    size: data.len() as u64,
                    hash: [0; 20],
                    source: (!data.is_empty()).then(|| BlobSource::Bytes(Arc::new(data))),
                },
            );
        } else {
            inode.attributes &= !file_attr::REPARSE_POINT;
        }
        if let Some(a) = rec.find(at::EA, &[]) {
            let v = self.vol.read_attr(a, MAX_EA)?;
            match ea_to_xattrs(&v) {
                Some(x) if !x.is_empty() => inode.xattrs = Some(x),
                Some(_) => {}
                None => self.stats.warnings.push(format!(
                    "{path}: $EA is malformed; extended attributes not captured"
                )),
            }
        }
        if let Some(a) = rec.find(at::OBJECT_ID, &[]) {
            let mut v = self.vol.read_attr(a, 64)?;
            // A 16-byte $OBJECT_ID keeps its birth ids in $ObjId:$O only;
            // the WIM item holds all 64 bytes (as ntfs-3g reports them).
            if v.len() == 16 {
                if let Some(rest) = self.obj_ids.get(&<[u8; 16]>::try_from(&v[..]).unwrap()) {
                    v.extend_from_slice(rest);
                }
            }
            if !v.is_empty() {
                inode.object_id = Some(v);
            }
        }
        Ok(inode)
    }
}

/// Convert an $EA value (FILE_FULL_EA_INFORMATION entries: u32 next
/// offset, u8 flags, u8 name length, u16 value length, name, NUL, value)
/// to the WIM `TAG_XATTRS` layout ({u16 value length, u8 name length, u8
/// flags, name, NUL, value}, unpadded). `None` when malformed.
pub fn ea_to_xattrs(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut o = 0usize;
    while o < v.len() {
        let h = v.get(o..o + 8)?;
        let next = le::u32(h, 0) as usize;
        let flags = h[4];
        let nlen = h[5] as usize;
        let vlen = le::u16(h, 6) as usize;
        let name = v.get(o + 8..o + 8 + nlen)?;
        let value = v.get(o + 9 + nlen..o + 9 + nlen + vlen)?;
        out.extend_from_slice(&(vlen as u16).to_le_bytes());
        out.push(nlen as u8);
        out.push(flags);
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        if next == 0 {
            break;
        }
        if next < 8 + nlen + 1 + vlen {
            return None;
        }
        o += next;
    }
    Some(out)
}

/// `$Extend\$ObjId:$O`: object id → the 48 bytes after the MFT reference
/// in its entry's data (birth volume id, birth object id, domain id).
fn load_object_ids<D: BlockDev>(vol: &Volume<D>) -> Result<HashMap<[u8; 16], Vec<u8>>> {
    let mut out = HashMap::new();
    let Some(e) = vol.lookup_in(mft_no::EXTEND, "$ObjId")? else {
        return Ok(out);
    };
    let rec = vol.record(e.record())?;
    let o: Vec<u16> = "$O".encode_utf16().collect();
    if rec.find(at::INDEX_ROOT, &o).is_none() {
        return Ok(out);
    }
    for e in vol.index_entries(&rec, &o)? {
        let doff = (e.head & 0xFFFF) as usize;
        let dlen = ((e.head >> 16) & 0xFFFF) as usize;
        let (Ok(key), Some(d)) = (
            <[u8; 16]>::try_from(&e.key[..]),
            e.raw.get(doff..doff + dlen).filter(|d| d.len() >= 56),
        ) else {
            return Err(corrupt(0, "$ObjId:$O entry", "short key or data"));
        };
        out.insert(key, d[8..56].to_vec());
    }
    Ok(out)
}

/// `$Secure`: security id → descriptor, through `$SII` into `$SDS`
/// (NTFS Documentation "Files: $Secure").
struct Security {
    sds: Vec<u8>,
    /// id → (offset of the descriptor in $SDS, its length).
    by_id: HashMap<u32, (usize, usize)>,
}

impl Security {
    fn load<D: BlockDev>(vol: &Volume<D>) -> Result<Security> {
        let mut s = Security {
            sds: Vec::new(),
            by_id: HashMap::new(),
        };
        let rec = vol.record(mft_no::SECURE)?;
        let sds_name: Vec<u16> = "$SDS".encode_utf16().collect();
        let sii: Vec<u16> = "$SII".encode_utf16().collect();
        let (Some(sds), Some(_)) = (
            rec.find(at::DATA, &sds_name),
            rec.find(at::INDEX_ROOT, &sii),
        ) else {
            // NTFS 1.x: descriptors live in each file's record.
            return Ok(s);
        };
        s.sds = vol.read_attr(sds, MAX_SDS)?;
        for e in vol.index_entries(&rec, &sii)? {
            let doff = (e.head & 0xFFFF) as usize;
            let dlen = ((e.head >> 16) & 0xFFFF) as usize;
            let d = e
                .raw
                .get(doff..doff + dlen)
                .filter(|d| d.len() >= 20)
                .ok_or_else(|| corrupt(0, "$SII entry", "data outside the entry"))?;
            let id = le::u32(d, 4);
            let off = le::u64(d, 8);
            let len = le::u32(d, 16) as u64;
            let end = off.checked_add(len).filter(|&e| e <= s.sds.len() as u64);
            if len < 20 || end.is_none() {
                return Err(corrupt(
                    0,
                    "$SII entry",
                    format!("security id {id:#x}: {len} bytes at {off:#x} lie outside $SDS"),
                ));
            }
            s.by_id.insert(id, (off as usize + 20, len as usize - 20));
        }
        Ok(s)
    }

    fn get(&self, id: u32) -> Option<&[u8]> {
        let &(o, l) = self.by_id.get(&id)?;
        self.sds.get(o..o + l)
    }
}

/// A non-resident stream of the volume, opened when the WIM writer
/// stores it.
struct StreamBlob<D: BlockDev> {
    vol: Arc<Volume<D>>,
    attr: Attr,
    what: String,
}

impl<D: BlockDev + 'static> BlobReader for StreamBlob<D> {
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
        let AttrKind::NonResident {
            runs,
            data,
            initialized,
            ..
        } = &self.attr.kind
        else {
            return Err(std::io::Error::other("resident stream given as a reader"));
        };
        if self.attr.flags & FLAG_COMPRESSED != 0 {
            return Ok(Box::new(UnitReader {
                dev: self.vol.device(),
                cluster: self.vol.cluster_size(),
                runs,
                size: *data,
                initialized: *initialized,
                pos: 0,
                unit: Vec::new(),
                unit_start: 0,
                stored: Vec::new(),
            }));
        }
        Ok(Box::new(RunReader {
            dev: self.vol.device(),
            cluster: self.vol.cluster_size(),
            runs,
            size: *data,
            initialized: *initialized,
            pos: 0,
            run: 0,
            run_start: 0,
        }))
    }

    fn describe(&self) -> String {
        self.what.clone()
    }
}

/// Reads a non-resident value run by run: sparse runs and bytes past the
/// initialized size read as zeros.
struct RunReader<'a, D: BlockDev> {
    dev: &'a D,
    cluster: u64,
    runs: &'a [Run],
    size: u64,
    initialized: u64,
    pos: u64,
    /// Run holding `pos` and the byte offset where it starts.
    run: usize,
    run_start: u64,
}

impl<D: BlockDev> Read for RunReader<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let r = self.runs.get(self.run).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("runlist covers {} of {} bytes", self.run_start, self.size),
                )
            })?;
            let run_bytes = r.len.saturating_mul(self.cluster);
            if self.pos < self.run_start + run_bytes {
                break;
            }
            self.run_start += run_bytes;
            self.run += 1;
        }
        let r = self.runs[self.run];
        let within = self.pos - self.run_start;
        let n = (r.len * self.cluster - within)
            .min(self.size - self.pos)
            .min(buf.len() as u64) as usize;
        let b = &mut buf[..n];
        match r.lcn {
            Some(lcn) if self.pos < self.initialized => {
                self.dev.read_at(lcn * self.cluster + within, b)?;
                if self.pos + n as u64 > self.initialized {
                    b[(self.initialized - self.pos) as usize..].fill(0);
                }
            }
            _ => b.fill(0),
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads an NTFS-compressed value a compression unit at a time (see
/// [`crate::lznt1`]).
struct UnitReader<'a, D: BlockDev> {
    dev: &'a D,
    cluster: u64,
    runs: &'a [Run],
    size: u64,
    initialized: u64,
    pos: u64,
    /// The decompressed unit holding `pos`, starting at `unit_start`.
    unit: Vec<u8>,
    unit_start: u64,
    stored: Vec<u8>,
}

impl<D: BlockDev> UnitReader<'_, D> {
    /// Decompress the unit starting at byte `start`.
    fn load(&mut self, start: u64) -> std::io::Result<()> {
        let unit_bytes = crate::lznt1::UNIT_CLUSTERS * self.cluster;
        let first_vcn = start / self.cluster;
        // LCN of each cluster of the unit (None: sparse or past the runs).
        let mut lcns = Vec::with_capacity(crate::lznt1::UNIT_CLUSTERS as usize);
        let mut vcn = 0u64;
        for r in self.runs {
            for k in 0..r.len {
                let v = vcn + k;
                if v >= first_vcn + crate::lznt1::UNIT_CLUSTERS {
                    break;
                }
                if v >= first_vcn {
                    lcns.push(r.lcn.map(|l| l + k));
                }
            }
            vcn += r.len;
            if vcn >= first_vcn + crate::lznt1::UNIT_CLUSTERS {
                break;
            }
        }
        lcns.resize(crate::lznt1::UNIT_CLUSTERS as usize, None);
        let stored = lcns.iter().take_while(|l| l.is_some()).count();
        self.stored.clear();
        self.stored.resize(stored * self.cluster as usize, 0);
        for (i, l) in lcns.iter().take(stored).enumerate() {
            let c = self.cluster as usize;
            self.dev.read_at(
                l.unwrap_or(0) * self.cluster,
                &mut self.stored[i * c..(i + 1) * c],
            )?;
        }
        let want = unit_bytes.min(self.size - start) as usize;
        if stored == lcns.len() {
            // Not compressed: stored as is.
            self.unit.clear();
            self.unit.extend_from_slice(&self.stored[..want]);
        } else if stored == 0 {
            self.unit.clear();
            self.unit.resize(want, 0);
        } else {
            let dev_off = lcns[0].unwrap_or(0) * self.cluster;
            crate::lznt1::decompress(&self.stored, want, &mut self.unit, dev_off)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            self.unit.resize(want, 0);
        }
        // Bytes past the initialized size read as zeros.
        if start + want as u64 > self.initialized {
            let keep = self.initialized.saturating_sub(start) as usize;
            self.unit[keep..].fill(0);
        }
        self.unit_start = start;
        Ok(())
    }
}

impl<D: BlockDev> Read for UnitReader<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let end = self.unit_start + self.unit.len() as u64;
        if self.unit.is_empty() || self.pos < self.unit_start || self.pos >= end {
            let unit_bytes = crate::lznt1::UNIT_CLUSTERS * self.cluster;
            self.load(self.pos / unit_bytes * unit_bytes)?;
        }
        let within = (self.pos - self.unit_start) as usize;
        let n = (self.unit.len() - within).min(buf.len());
        buf[..n].copy_from_slice(&self.unit[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ea_entries_convert_to_the_wim_layout() {
        // Two entries: "AB"=[1,2,3] (flags 0x80), "C"=[] (last, next 0).
        let mut v = vec![0u8; 16];
        v[0..4].copy_from_slice(&16u32.to_le_bytes());
        v[4] = 0x80;
        v[5] = 2;
        v[6..8].copy_from_slice(&3u16.to_le_bytes());
        v[8..10].copy_from_slice(b"AB");
        v[11..14].copy_from_slice(&[1, 2, 3]);
        v.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, b'C', 0, 0, 0]);
        let x = ea_to_xattrs(&v).unwrap();
        assert_eq!(
            x,
            [3, 0, 2, 0x80, b'A', b'B', 0, 1, 2, 3, 0, 0, 1, 0, b'C', 0]
        );
        // Truncated value, and a next offset inside the entry.
        assert!(ea_to_xattrs(&v[..12]).is_none());
        let mut bad = v.clone();
        bad[0] = 9;
        assert!(ea_to_xattrs(&bad).is_none());
    }

    #[test]
    fn run_reader_zero_fills_sparse_and_uninitialized_bytes() {
        let dev = blockdev::MemDev::new(8 * 512);
        dev.write_at(512, &[7u8; 1024]).unwrap();
        let runs = [
            Run {
                lcn: Some(1),
                len: 1,
            },
            Run { lcn: None, len: 1 },
            Run {
                lcn: Some(2),
                len: 1,
            },
        ];
        let mut r = RunReader {
            dev: &dev,
            cluster: 512,
            runs: &runs,
            size: 1400,
            initialized: 1200,
            pos: 0,
            run: 0,
            run_start: 0,
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 1400);
        assert!(out[..512].iter().all(|&b| b == 7));
        assert!(out[512..1024].iter().all(|&b| b == 0));
        assert!(out[1024..1200].iter().all(|&b| b == 7));
        assert!(out[1200..].iter().all(|&b| b == 0));
        // Runs shorter than the size: an error, not a short stream.
        let mut short = RunReader {
            dev: &dev,
            cluster: 512,
            runs: &runs[..1],
            size: 1400,
            initialized: 1400,
            pos: 0,
            run: 0,
            run_start: 0,
        };
        assert!(short.read_to_end(&mut Vec::new()).is_err());
    }
}
