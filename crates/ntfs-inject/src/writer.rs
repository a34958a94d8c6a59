//! Volume layout and the bulk writer.
//!
//! The whole tree is known before anything is written, so every MFT
//! record, index and data extent is placed once: system files first, then
//! INDX blocks, then file data contiguously in the order the caller will
//! deliver it. Formatting is the same code with an empty tree. Layout of
//! the system files follows NTFS Documentation "Files" (records 0–15,
//! `$Extend` children at 24–26, user files from 64 as libntfs-3g does).

use crate::attribute::{AttrSpec, Body};
use crate::boot::BootSector;
use crate::error::{Error, Result};
use crate::filename::FileName;
use crate::index::{self, BuiltIndex};
use crate::layout::{
    attr_type as at, collation, file_attr, mft_no, mft_ref, namespace, record_flags,
    INDEX_BLOCK_SIZE, MFT_RECORD_SIZE,
};
use crate::record::{self, RecordBuilder, ATTR_SPACE};
use crate::runlist::Run;
use crate::secure;
use crate::stdinfo::{StandardInformation, Times};
use crate::{attrdef, logfile, upcase};
use blockdev::BlockDev;
use std::collections::HashMap;

/// Formatting parameters.
#[derive(Debug, Clone)]
pub struct FormatOptions {
    /// Bytes per cluster: a power of two from 512 to 65536.
    pub cluster_size: u32,
    pub label: String,
    /// Partition start LBA, stored as "hidden sectors".
    pub hidden_sectors: u32,
    /// Volume serial number; `None` derives one from the time.
    pub serial: Option<u64>,
    /// Timestamp of the system files (FILETIME); `None` = now.
    pub time: Option<u64>,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            cluster_size: 4096,
            label: String::new(),
            hidden_sectors: 0,
            serial: None,
            time: None,
        }
    }
}

/// A tree to write. `nodes[0]` is the root directory.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Self-relative security descriptors that nodes refer to by index.
    pub security: Vec<Vec<u8>>,
}

/// One file or directory (an inode; hard links are several names).
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Names (none for the root).
    pub names: Vec<Name>,
    pub directory: bool,
    /// Windows file attributes as given (directory/sparse/compressed bits
    /// are derived, not trusted).
    pub attributes: u32,
    pub creation_time: u64,
    pub last_write_time: u64,
    pub last_access_time: u64,
    /// Index into [`Tree::security`].
    pub security: Option<usize>,
    /// Data streams: the unnamed one has an empty name.
    pub streams: Vec<StreamSpec>,
    pub reparse: Option<Reparse>,
    /// $OBJECT_ID value (16 bytes, or 64 with birth volume/object and
    /// domain ids); also indexed in `$Extend\$ObjId:$O`.
    pub object_id: Option<Vec<u8>>,
    /// Extended attributes, written as $EA + $EA_INFORMATION.
    pub eas: Vec<Ea>,
}

/// One extended attribute (NTFS Documentation "Attribute: $EA").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ea {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    /// 0x80 = FILE_NEED_EA.
    pub flags: u8,
}

/// The $EA value (4-byte aligned entries) and the $EA_INFORMATION value.
pub fn encode_eas(eas: &[Ea]) -> (Vec<u8>, Vec<u8>) {
    let mut ea = Vec::new();
    let mut packed = 0usize;
    let mut need = 0u16;
    for e in eas {
        let len = (8 + e.name.len() + 1 + e.value.len() + 3) & !3;
        let start = ea.len();
        ea.extend_from_slice(&(len as u32).to_le_bytes());
        ea.push(e.flags);
        ea.push(e.name.len() as u8);
        ea.extend_from_slice(&(e.value.len() as u16).to_le_bytes());
        ea.extend_from_slice(&e.name);
        ea.push(0);
        ea.extend_from_slice(&e.value);
        ea.resize(start + len, 0);
        packed += 5 + e.name.len() + e.value.len();
        if e.flags & 0x80 != 0 {
            need += 1;
        }
    }
    let mut info = vec![0u8; 8];
    info[0..2].copy_from_slice(&(packed.min(0xFFFF) as u16).to_le_bytes());
    info[2..4].copy_from_slice(&need.to_le_bytes());
    info[4..8].copy_from_slice(&(ea.len() as u32).to_le_bytes());
    (ea, info)
}

#[derive(Debug, Clone)]
pub struct Name {
    /// Index of the parent directory node.
    pub parent: usize,
    pub name: String,
    /// The 8.3 name, when the file has a distinct one.
    pub short_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct StreamSpec {
    pub name: String,
    pub size: u64,
    /// Contents given now; `None` = delivered later with
    /// [`VolumeWriter::write_stream`].
    pub data: Option<Vec<u8>>,
    /// Placement order of non-resident data (lower first), so that data
    /// delivered in this order is written sequentially.
    pub order: u64,
}

#[derive(Debug, Clone)]
pub struct Reparse {
    pub tag: u32,
    pub reserved: u16,
    /// Reparse data after the 8-byte header.
    pub data: Vec<u8>,
}

/// Largest stream kept resident.
const RESIDENT_MAX: u64 = 700;

struct PStream {
    name: Vec<u16>,
    size: u64,
    resident: bool,
    lcn: u64,
    clusters: u64,
    buf: Vec<u8>,
    written: u64,
    order: u64,
    /// Written as a sparse attribute: 64 KiB units that stay all zero
    /// become holes (see [`sparse_runs`]).
    sparse: bool,
    /// One bit per unit: has a non-zero byte.
    nonzero: Vec<u64>,
}

/// Clusters per sparse unit: 64 KiB (at least one cluster).
fn sparse_unit(cs: u64) -> u64 {
    (65536 / cs).max(1)
}

/// Runs a planned sparse stream may take at most (more holes are filled
/// with the zero clusters already reserved for them).
const SPARSE_PLAN_RUNS: usize = 8;

impl PStream {
    /// Note the non-zero units of `bytes` written at `offset`.
    fn mark_nonzero(&mut self, offset: u64, bytes: &[u8], cs: u64) {
        let unit = sparse_unit(cs) * cs;
        let mut pos = 0usize;
        while pos < bytes.len() {
            let abs = offset + pos as u64;
            let u = abs / unit;
            let n = ((u + 1) * unit - abs).min((bytes.len() - pos) as u64) as usize;
            if bytes[pos..pos + n].iter().any(|&b| b != 0) {
                let w = (u / 64) as usize;
                if self.nonzero.len() <= w {
                    self.nonzero.resize(w + 1, 0);
                }
                self.nonzero[w] |= 1 << (u % 64);
            }
            pos += n;
        }
    }

    fn unit_nonzero(&self, u: u64) -> bool {
        self.nonzero
            .get((u / 64) as usize)
            .is_some_and(|w| w & (1 << (u % 64)) != 0)
    }
}

/// The runlist of a sparse non-resident stream: its reserved extent with
/// all-zero units as holes, padded with a hole to a whole unit (so the
/// allocated size is a multiple of 64 KiB). When the list would be longer
/// than planned, the shortest holes are filled (their clusters hold zeros).
fn sparse_runs(s: &PStream, cs: u64) -> Vec<Run> {
    let uc = sparse_unit(cs);
    let units = s.clusters.div_ceil(uc);
    let mut fill: Vec<bool> = (0..units).map(|u| s.unit_nonzero(u)).collect();
    let budget = crate::runlist::encode(&[PLAN_RUN; SPARSE_PLAN_RUNS]).len();
    loop {
        let mut runs: Vec<Run> = Vec::new();
        let push = |r: Run, runs: &mut Vec<Run>| match (runs.last_mut(), r.lcn) {
            (Some(l), None) if l.lcn.is_none() => l.len += r.len,
            (Some(l), Some(x)) if l.lcn.is_some_and(|y| y + l.len == x) => l.len += r.len,
            _ => runs.push(r),
        };
        for (u, &f) in fill.iter().enumerate() {
            let start = u as u64 * uc;
            let len = uc.min(s.clusters - start);
            let r = if f {
                Run {
                    lcn: Some(s.lcn + start),
                    len,
                }
            } else {
                Run { lcn: None, len }
            };
            push(r, &mut runs);
        }
        let pad = units * uc - s.clusters;
        if pad > 0 {
            push(
                Run {
                    lcn: None,
                    len: pad,
                },
                &mut runs,
            );
        }
        if crate::runlist::encode(&runs).len() <= budget {
            return runs;
        }
        // Fill the shortest interior hole.
        let mut best: Option<(u64, usize)> = None;
        let mut u = 0usize;
        while u < fill.len() {
            if fill[u] {
                u += 1;
                continue;
            }
            let st = u;
            while u < fill.len() && !fill[u] {
                u += 1;
            }
            let len = (u - st) as u64;
            if best.is_none_or(|b| len < b.0) {
                best = Some((len, st));
            }
        }
        match best {
            Some((len, st)) => fill[st..st + len as usize].fill(true),
            None => return runs,
        }
    }
}

struct PNode {
    record: u64,
    seq: u16,
    si: StandardInformation,
    fns: Vec<FileName>,
    streams: Vec<PStream>,
    reparse: Option<Reparse>,
    object_id: Option<Vec<u8>>,
    ea: Option<(Vec<u8>, Vec<u8>)>,
    dir: Option<PIndex>,
    /// The attributes may not fit one record (see [`crate::attrlist`]).
    overflow: bool,
    /// Extension records reserved for this file.
    ext_records: Vec<u64>,
    /// Clusters of a non-resident $ATTRIBUTE_LIST.
    list_lcn: u64,
    list_clusters: u64,
    /// $EA and $REPARSE_POINT values too large for the record are written
    /// non-resident here (NTFS allows both to be non-resident; $AttrDef
    /// limits them to 64 KiB and 16 KiB).
    ea_blob: Option<Extent>,
    reparse_blob: Option<Extent>,
    /// Upper bound of the INDX blocks of a directory that overflows its
    /// record (planned before its index is built).
    dir_plan_blocks: usize,
}

/// Bytes a non-resident $ATTRIBUTE_LIST takes in the base record.
const LIST_NONRES_LEN: usize = 0x40 + 24;

/// A planned index and where its blocks go.
#[derive(Default)]
struct PIndex {
    built: BuiltIndex,
    lcn: u64,
    clusters: u64,
}

#[derive(Clone, Copy)]
struct Extent {
    lcn: u64,
    clusters: u64,
}

/// Writes a planned volume: create with [`VolumeWriter::new`], deliver
/// stream data with [`VolumeWriter::write_stream`], then
/// [`VolumeWriter::finish`].
pub struct VolumeWriter<D: BlockDev> {
    dev: D,
    boot: BootSector,
    cs: u64,
    time: u64,
    label: Vec<u16>,
    upcase: Vec<u16>,
    nodes: Vec<PNode>,
    sec: secure::SecureLayout,
    sdh: PIndex,
    sii: PIndex,
    rparse: PIndex,
    objid: PIndex,
    extend: BuiltIndex,
    mft_records: u64,
    mirror_records: u64,
    ext: HashMap<&'static str, Extent>,
    used: Vec<Extent>,
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn now_filetime() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    116_444_736_000_000_000 + d.as_secs() * 10_000_000 + d.subsec_nanos() as u64 / 100
}

fn resident_len(name_len: usize, value_len: usize) -> usize {
    let ne = (0x18 + 2 * name_len + 7) & !7;
    (ne + value_len + 7) & !7
}

fn nonresident_len(name_len: usize) -> usize {
    ((0x40 + 2 * name_len + 7) & !7) + 24
}

fn fn_attr_len(name_len: usize) -> usize {
    resident_len(0, 0x42 + 2 * name_len)
}

/// Format `dev` as an empty NTFS volume.
pub fn format<D: BlockDev>(dev: D, opts: &FormatOptions) -> Result<()> {
    let t = opts.time.unwrap_or_else(now_filetime);
    let opts = &FormatOptions {
        time: Some(t),
        ..opts.clone()
    };
    let tree = Tree {
        nodes: vec![Node {
            directory: true,
            attributes: file_attr::HIDDEN | file_attr::SYSTEM,
            creation_time: t,
            last_write_time: t,
            last_access_time: t,
            ..Default::default()
        }],
        security: Vec::new(),
    };
    VolumeWriter::new(dev, &tree, opts)?.finish()
}

/// Is `s` a valid DOS 8.3 name written in upper case (then one
/// WIN32_AND_DOS name serves both)?
fn collapsible(long: &str, short: &str) -> bool {
    long == short
}

impl<D: BlockDev> VolumeWriter<D> {
    /// Plan the whole volume for `tree`. Nothing is written yet except by
    /// [`VolumeWriter::write_stream`] and [`VolumeWriter::finish`].
    pub fn new(dev: D, tree: &Tree, opts: &FormatOptions) -> Result<Self> {
        let cs = opts.cluster_size as u64;
        if !(512..=65536).contains(&cs) || !cs.is_power_of_two() {
            return Err(Error::Unsupported(format!(
                "cluster size {cs} (must be a power of two from 512 to 64K)"
            )));
        }
        if tree.nodes.is_empty() || !tree.nodes[0].directory {
            return Err(Error::Unsupported("the tree has no root directory".into()));
        }
        if dev.is_read_only() {
            return Err(Error::Unsupported("the target is read-only".into()));
        }
        let dev_sectors = dev.len() / 512;
        if dev_sectors < 2048 {
            return Err(Error::Unsupported(format!(
                "device of {} bytes is too small for NTFS (minimum 1 MiB)",
                dev.len()
            )));
        }
        let total_sectors = dev_sectors - 1;
        let spc = cs / 512;
        let total_clusters = total_sectors / spc;
        let time = opts.time.unwrap_or_else(now_filetime);
        let upcase = upcase::table();
        let label = utf16(&opts.label);
        if label.len() > 128 {
            return Err(Error::Unsupported(
                "volume label longer than 128 characters".into(),
            ));
        }

        // --- security ids: 0x100 metadata, 0x101 default root, then the tree's.
        let mut sds: Vec<Vec<u8>> = vec![secure::system_file_sd(), secure::root_sd()];
        let mut sd_ids: HashMap<&[u8], u32> = HashMap::new();
        let mut tree_sd_id = Vec::with_capacity(tree.security.len());
        for sd in &tree.security {
            let id = *sd_ids.entry(sd.as_slice()).or_insert_with(|| {
                sds.push(sd.clone());
                secure::FIRST_ID + sds.len() as u32 - 1
            });
            tree_sd_id.push(id);
        }
        let sec = secure::layout(&sds);

        // --- user nodes
        let mut nodes: Vec<PNode> = Vec::with_capacity(tree.nodes.len());
        for (i, n) in tree.nodes.iter().enumerate() {
            let record = if i == 0 {
                mft_no::ROOT
            } else {
                mft_no::FIRST_USER + i as u64 - 1
            };
            let seq = if i == 0 { mft_no::ROOT as u16 } else { 1 };
            let mut attrs = n.attributes
                & !(file_attr::DIRECTORY
                    | file_attr::SPARSE_FILE
                    | file_attr::COMPRESSED
                    | file_attr::ENCRYPTED
                    | file_attr::REPARSE_POINT)
                & 0xFFFF;
            if n.reparse.is_some() {
                attrs |= file_attr::REPARSE_POINT;
            }
            if attrs == 0 && !n.directory {
                attrs = file_attr::NORMAL;
            }
            let times = Times {
                creation: n.creation_time,
                modification: n.last_write_time,
                mft_change: n.last_write_time,
                access: n.last_access_time,
            };
            let security_id = match n.security {
                Some(s) => *tree_sd_id.get(s).ok_or_else(|| {
                    Error::Unsupported(format!("node {i}: security index {s} out of range"))
                })?,
                None => secure::FIRST_ID + 1,
            };
            let mut streams: Vec<PStream> = Vec::with_capacity(n.streams.len());
            for s in &n.streams {
                if s.data.as_ref().is_some_and(|d| d.len() as u64 != s.size) {
                    return Err(Error::Unsupported(format!(
                        "node {i}: stream data length differs from its size"
                    )));
                }
                // Sizes may come from a WIM's blob table: one that cannot
                // fit the volume fails here, before any size arithmetic.
                if s.size > total_clusters * cs {
                    return Err(Error::Unsupported(format!(
                        "node {i}: stream {:?} of {} bytes does not fit: the volume is too small ({} bytes)",
                        s.name,
                        s.size,
                        total_clusters * cs
                    )));
                }
                let name = utf16(&s.name);
                if name.len() > 255 || streams.iter().any(|p| p.name == name) {
                    return Err(Error::Unsupported(format!(
                        "node {i}: bad or duplicate stream name {:?}",
                        s.name
                    )));
                }
                streams.push(PStream {
                    name,
                    size: s.size,
                    resident: s.size <= RESIDENT_MAX,
                    lcn: 0,
                    clusters: 0,
                    buf: s.data.clone().unwrap_or_default(),
                    written: if s.data.is_some() { s.size } else { 0 },
                    order: s.order,
                    sparse: false,
                    nonzero: Vec::new(),
                });
            }
            if !n.directory && !streams.iter().any(|s| s.name.is_empty()) {
                streams.insert(
                    0,
                    PStream {
                        name: Vec::new(),
                        size: 0,
                        resident: true,
                        lcn: 0,
                        clusters: 0,
                        buf: Vec::new(),
                        written: 0,
                        order: 0,
                        sparse: false,
                        nonzero: Vec::new(),
                    },
                );
            }
            // Names: one FILE_NAME per long name, plus a DOS name.
            let mut fn_specs: Vec<(usize, Vec<u16>, u8)> = Vec::new();
            for nm in &n.names {
                if nm.parent >= tree.nodes.len() || !tree.nodes[nm.parent].directory {
                    return Err(Error::Unsupported(format!(
                        "node {i}: parent {} is not a directory",
                        nm.parent
                    )));
                }
                let long = utf16(&nm.name);
                if long.is_empty() || long.len() > 255 {
                    return Err(Error::Unsupported(format!(
                        "node {i}: bad name {:?}",
                        nm.name
                    )));
                }
                match nm.short_name.as_deref().filter(|s| !s.is_empty()) {
                    Some(short) if collapsible(&nm.name, short) => {
                        fn_specs.push((nm.parent, long, namespace::WIN32_AND_DOS))
                    }
                    Some(short) => {
                        fn_specs.push((nm.parent, long, namespace::WIN32));
                        fn_specs.push((nm.parent, utf16(short), namespace::DOS));
                    }
                    None => fn_specs.push((nm.parent, long, namespace::POSIX)),
                }
            }
            if i == 0 {
                fn_specs.push((0, vec![b'.' as u16], namespace::WIN32_AND_DOS));
            }
            for e in &n.eas {
                if e.name.is_empty()
                    || e.name.len() > 254
                    || e.value.len() > 0xFFFF
                    || e.name.contains(&0)
                {
                    return Err(Error::Unsupported(format!(
                        "node {i}: bad extended attribute name or size"
                    )));
                }
            }
            let ea = if n.eas.is_empty() {
                None
            } else {
                Some(encode_eas(&n.eas))
            };
            if ea.as_ref().is_some_and(|(e, _)| e.len() > 0x10000) {
                return Err(Error::Unsupported(format!(
                    "node {i}: extended attributes larger than 64 KiB"
                )));
            }
            // Residency: shrink until the record fits. `big` says which of
            // $EA and $REPARSE_POINT are non-resident.
            let mut ea_nonres = false;
            let mut rp_nonres = false;
            let fixed = |streams: &[PStream], ea_nonres: bool, rp_nonres: bool| -> usize {
                let mut l = resident_len(0, 72);
                l += fn_specs
                    .iter()
                    .map(|f| fn_attr_len(f.1.len()))
                    .sum::<usize>();
                let sparse = n.attributes & file_attr::SPARSE_FILE != 0;
                for s in streams {
                    l += if s.resident {
                        resident_len(s.name.len(), s.size as usize)
                    } else if sparse {
                        nonresident_len(s.name.len()) + 8 + 16 * SPARSE_PLAN_RUNS
                    } else {
                        nonresident_len(s.name.len())
                    };
                }
                if let Some(r) = &n.reparse {
                    l += if rp_nonres {
                        nonresident_len(0)
                    } else {
                        resident_len(0, 8 + r.data.len())
                    };
                }
                if n.object_id.is_some() {
                    l += resident_len(0, 16);
                }
                if let Some((ea, info)) = &ea {
                    l += resident_len(0, info.len())
                        + if ea_nonres {
                            nonresident_len(0)
                        } else {
                            resident_len(0, ea.len())
                        };
                }
                if n.directory {
                    // Room for a large index root with a few entries.
                    l += resident_len(4, index::ROOT_OVERHEAD + 24)
                        + nonresident_len(4)
                        + resident_len(4, 64)
                        + 256;
                }
                l
            };
            // Resident streams become non-resident (largest first) until
            // the record fits; if it still does not, the file gets
            // extension records and an $ATTRIBUTE_LIST.
            // $EA and $REPARSE_POINT values compete with the streams: the
            // largest resident value moves out first.
            let mut overflow = false;
            let ea_len = ea.as_ref().map_or(0, |(e, _)| e.len() as u64);
            let rp_len = n.reparse.as_ref().map_or(0, |r| 8 + r.data.len() as u64);
            while fixed(&streams, ea_nonres, rp_nonres) > ATTR_SPACE {
                let best = streams
                    .iter_mut()
                    .filter(|s| s.resident && s.size > 0)
                    .max_by_key(|s| s.size);
                let best_len = best.as_ref().map_or(0, |s| s.size);
                let ea_len = if ea_nonres { 0 } else { ea_len };
                let rp_len = if rp_nonres { 0 } else { rp_len };
                if ea_len > best_len.max(rp_len) {
                    ea_nonres = true;
                } else if rp_len > best_len {
                    rp_nonres = true;
                } else if let Some(s) = best {
                    s.resident = false;
                } else {
                    // Directories take the same path as files.
                    overflow = true;
                    break;
                }
            }
            if let Some(r) = &n.reparse {
                if r.data.len() > 16 * 1024 - 8 {
                    return Err(Error::Unsupported(format!(
                        "node {i}: reparse data larger than 16 KiB"
                    )));
                }
            }
            // FILE_ATTRIBUTE_SPARSE_FILE: non-resident streams are written
            // sparse; the flag stays only when one is.
            if n.attributes & file_attr::SPARSE_FILE != 0 && !n.directory {
                for s in streams.iter_mut().filter(|s| !s.resident && s.size > 0) {
                    s.sparse = true;
                    let b = std::mem::take(&mut s.buf);
                    s.mark_nonzero(0, &b, cs);
                    s.buf = b;
                }
                if streams.iter().any(|s| s.sparse) {
                    attrs |= file_attr::SPARSE_FILE;
                }
            }
            let unnamed = streams.iter().find(|s| s.name.is_empty());
            let (fa, fd) = match unnamed {
                Some(s) if s.resident => ((s.size + 7) & !7, s.size),
                Some(s) => (s.size.div_ceil(cs) * cs, s.size),
                None => (0, 0),
            };
            let fn_attrs = attrs
                | if n.directory {
                    file_attr::DUP_FILE_NAME_INDEX_PRESENT
                } else {
                    0
                };
            // The union holds the reparse tag, else the packed EA size.
            let reparse_tag = match (&n.reparse, &ea) {
                (Some(r), _) => r.tag,
                (None, Some((_, info))) => u16::from_le_bytes([info[0], info[1]]) as u32,
                _ => 0,
            };
            let fns = fn_specs
                .into_iter()
                .map(|(parent, name, ns)| FileName {
                    parent: if i == 0 {
                        mft_ref(mft_no::ROOT, mft_no::ROOT as u16)
                    } else {
                        0
                    }
                    .max(parent as u64),
                    times,
                    allocated_size: if n.directory { 0 } else { fa },
                    data_size: if n.directory { 0 } else { fd },
                    file_attributes: fn_attrs,
                    reparse_or_ea: reparse_tag,
                    namespace: ns,
                    name,
                })
                .collect();
            nodes.push(PNode {
                record,
                seq,
                si: StandardInformation {
                    times,
                    file_attributes: attrs,
                    security_id,
                },
                fns,
                streams,
                reparse: n.reparse.clone(),
                ea,
                object_id: match &n.object_id {
                    Some(o) if o.len() == 16 || o.len() == 64 => Some(o.clone()),
                    Some(o) => {
                        return Err(Error::Unsupported(format!(
                            "node {i}: object id of {} bytes (16 or 64 expected)",
                            o.len()
                        )))
                    }
                    None => None,
                },
                dir: None,
                overflow,
                ext_records: Vec::new(),
                list_lcn: 0,
                list_clusters: 0,
                ea_blob: ea_nonres.then_some(Extent {
                    lcn: 0,
                    clusters: ea_len.div_ceil(cs),
                }),
                reparse_blob: rp_nonres.then_some(Extent {
                    lcn: 0,
                    clusters: rp_len.div_ceil(cs),
                }),
                dir_plan_blocks: 0,
            });
        }
        // Resolve parent node indexes to MFT references.
        let refs: Vec<u64> = nodes.iter().map(|p| mft_ref(p.record, p.seq)).collect();
        for (i, p) in nodes.iter_mut().enumerate() {
            for f in &mut p.fns {
                f.parent = if i == 0 {
                    refs[0]
                } else {
                    refs[f.parent as usize]
                };
            }
        }

        // --- records
        let user = tree.nodes.len() as u64 - 1;
        // Extension records of files whose attributes overflow one
        // record follow the base records.
        let mut next_ext = mft_no::FIRST_USER + user;
        // Directories that overflow get an index allocation whatever their
        // size; its bitmap is planned from the bytes of their entries.
        let mut dir_bytes: HashMap<usize, usize> = nodes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.overflow)
            .filter(|(i, _)| tree.nodes[*i].directory)
            .map(|(i, _)| (i, if i == 0 { ROOT_SYSTEM_ENTRY_BYTES } else { 0 }))
            .collect();
        if !dir_bytes.is_empty() {
            for p in &nodes {
                for f in &p.fns {
                    if let Some(b) = dir_bytes.get_mut(&tree_parent_index(&refs, f.parent)) {
                        *b += index::file_name_entry(0, &f.encode()).len();
                    }
                }
            }
        }
        for (&i, &b) in &dir_bytes {
            nodes[i].dir_plan_blocks = index_blocks_bound(b);
        }
        for p in nodes.iter_mut().filter(|p| p.overflow) {
            let plan = node_attrs(p, cs, true);
            let n = crate::attrlist::records_needed(plan.clone(), LIST_NONRES_LEN)? - 1;
            p.ext_records = (next_ext..next_ext + n as u64).collect();
            next_ext += n as u64;
            let list_len: usize = plan
                .iter()
                .map(|a| crate::attrlist::entry_len(a.name.len()))
                .sum();
            if n > 0 && list_len > crate::attrlist::LIST_RESIDENT_MAX {
                p.list_clusters = (list_len as u64).div_ceil(cs);
            }
        }
        let needed = next_ext;
        let per_cluster = (cs / MFT_RECORD_SIZE as u64).max(1);
        let mft_records = needed.max(64).div_ceil(per_cluster) * per_cluster;
        let mirror_records = (cs / MFT_RECORD_SIZE as u64).max(4);

        // --- system extents
        let mut cursor = 0u64;
        let mut ext: HashMap<&'static str, Extent> = HashMap::new();
        let mut used = Vec::new();
        let mut alloc =
            |what: &'static str, bytes: u64, ext: &mut HashMap<&'static str, Extent>| -> Extent {
                let clusters = bytes.div_ceil(cs).max(1);
                let e = Extent {
                    lcn: cursor,
                    clusters,
                };
                cursor += clusters;
                ext.insert(what, e);
                used.push(e);
                e
            };
        alloc("boot", 8192, &mut ext);
        alloc("mft", mft_records * MFT_RECORD_SIZE as u64, &mut ext);
        alloc("mftbitmap", (mft_records.div_ceil(8) + 7) & !7, &mut ext);
        alloc("mirror", mirror_records * MFT_RECORD_SIZE as u64, &mut ext);
        alloc("log", logfile::size(total_sectors * 512, cs), &mut ext);
        alloc("attrdef", 2560, &mut ext);
        alloc("bitmap", (total_clusters.div_ceil(8) + 7) & !7, &mut ext);
        alloc("upcase", 131072, &mut ext);
        alloc("sds", sec.sds.len() as u64, &mut ext);

        let sys_times = Times {
            creation: time,
            modification: time,
            mft_change: time,
            access: time,
        };

        // --- directory entries
        let sys_fn = |name: &str, parent: u64, alloc: u64, data: u64, attrs: u32| FileName {
            parent: mft_ref(parent, parent as u16),
            times: sys_times,
            allocated_size: alloc,
            data_size: data,
            file_attributes: attrs,
            reparse_or_ea: 0,
            namespace: namespace::WIN32_AND_DOS,
            name: utf16(name),
        };
        let hs = file_attr::HIDDEN | file_attr::SYSTEM;
        let e = |k: &str| ext[k];
        let bytes_of = |k: &str| e(k).clusters * cs;
        let mut sys_fns: Vec<(u64, FileName)> = vec![
            (
                0,
                sys_fn(
                    "$MFT",
                    5,
                    bytes_of("mft"),
                    mft_records * MFT_RECORD_SIZE as u64,
                    hs,
                ),
            ),
            (
                1,
                sys_fn(
                    "$MFTMirr",
                    5,
                    bytes_of("mirror"),
                    mirror_records * MFT_RECORD_SIZE as u64,
                    hs,
                ),
            ),
            (
                2,
                sys_fn("$LogFile", 5, bytes_of("log"), bytes_of("log"), hs),
            ),
            (3, sys_fn("$Volume", 5, 0, 0, hs)),
            (4, sys_fn("$AttrDef", 5, bytes_of("attrdef"), 2560, hs)),
            (
                6,
                sys_fn(
                    "$Bitmap",
                    5,
                    bytes_of("bitmap"),
                    (total_clusters.div_ceil(8) + 7) & !7,
                    hs,
                ),
            ),
            (
                7,
                sys_fn("$Boot", 5, bytes_of("boot"), bytes_of("boot"), hs),
            ),
            (8, sys_fn("$BadClus", 5, 0, 0, hs)),
            (
                9,
                sys_fn("$Secure", 5, 0, 0, hs | file_attr::DUP_VIEW_INDEX_PRESENT),
            ),
            (10, sys_fn("$UpCase", 5, 131072, 131072, hs)),
            (
                11,
                sys_fn(
                    "$Extend",
                    5,
                    0,
                    0,
                    hs | file_attr::DUP_FILE_NAME_INDEX_PRESENT,
                ),
            ),
            (
                mft_no::QUOTA,
                sys_fn("$Quota", 11, 0, 0, hs | file_attr::DUP_VIEW_INDEX_PRESENT),
            ),
            (
                mft_no::OBJ_ID,
                sys_fn("$ObjId", 11, 0, 0, hs | file_attr::DUP_VIEW_INDEX_PRESENT),
            ),
            (
                mft_no::REPARSE,
                sys_fn("$Reparse", 11, 0, 0, hs | file_attr::DUP_VIEW_INDEX_PRESENT),
            ),
        ];
        for (_, f) in sys_fns.iter_mut() {
            if f.parent == mft_ref(11, 11) {
                f.parent = mft_ref(11, 11);
            }
        }
        let mut dir_entries: Vec<Vec<(Vec<u16>, Vec<u8>)>> = vec![Vec::new(); nodes.len()];
        let mut extend_entries: Vec<(Vec<u16>, Vec<u8>)> = Vec::new();
        for (rec, f) in &sys_fns {
            let seq = if *rec == 0 {
                1
            } else if *rec <= 23 {
                *rec as u16
            } else {
                1
            };
            let entry = index::file_name_entry(mft_ref(*rec, seq), &f.encode());
            if *rec >= 24 {
                extend_entries.push((f.name.clone(), entry));
            } else {
                dir_entries[0].push((f.name.clone(), entry));
            }
        }
        for (i, p) in nodes.iter().enumerate() {
            for f in &p.fns {
                let parent = if i == 0 {
                    0
                } else {
                    tree_parent_index(&refs, f.parent)
                };
                dir_entries[parent]
                    .push((f.name.clone(), index::file_name_entry(refs[i], &f.encode())));
            }
        }
        let vcns_per_block = if cs <= INDEX_BLOCK_SIZE as u64 {
            INDEX_BLOCK_SIZE as u64 / cs
        } else {
            INDEX_BLOCK_SIZE as u64 / 512
        };
        let sort_names = |v: &mut Vec<(Vec<u16>, Vec<u8>)>| {
            v.sort_by(|a, b| index::collate_names(&upcase, &a.0, &b.0))
        };
        for (i, entries) in dir_entries.into_iter().enumerate() {
            if !tree.nodes[i].directory {
                continue;
            }
            let mut entries = entries;
            sort_names(&mut entries);
            for w in entries.windows(2) {
                if w[0].0 == w[1].0 {
                    return Err(Error::Unsupported(format!(
                        "directory node {i} has two entries named {:?}",
                        String::from_utf16_lossy(&w[0].0)
                    )));
                }
            }
            let p = &nodes[i];
            let mut others = resident_len(0, 72)
                + p.fns
                    .iter()
                    .map(|f| fn_attr_len(f.name.len()))
                    .sum::<usize>();
            for s in &p.streams {
                others += if s.resident {
                    resident_len(s.name.len(), s.size as usize)
                } else {
                    nonresident_len(s.name.len())
                };
            }
            if let Some(r) = &p.reparse {
                others += if p.reparse_blob.is_some() {
                    nonresident_len(0)
                } else {
                    resident_len(0, 8 + r.data.len())
                };
            }
            if p.object_id.is_some() {
                others += resident_len(0, 16);
            }
            if let Some((ea, info)) = &p.ea {
                others += resident_len(0, info.len())
                    + if p.ea_blob.is_some() {
                        nonresident_len(0)
                    } else {
                        resident_len(0, ea.len())
                    };
            }
            let bytes: usize = entries.iter().map(|e| e.1.len()).sum();
            // A directory in extension records keeps a minimal root (the
            // END entry pointing to an allocation, even when it is empty),
            // so the attributes planned before the index was built hold.
            let (cap, cap_large) = if p.overflow {
                (0, 24)
            } else {
                root_caps(others, bytes)
            };
            let built = index::build(
                entries.into_iter().map(|e| e.1).collect(),
                cap,
                cap_large,
                INDEX_BLOCK_SIZE,
                vcns_per_block,
            );
            nodes[i].dir = Some(PIndex {
                built,
                lcn: 0,
                clusters: 0,
            });
        }
        sort_names(&mut extend_entries);
        let extend = index::build(
            extend_entries.into_iter().map(|e| e.1).collect(),
            usize::MAX,
            usize::MAX,
            INDEX_BLOCK_SIZE,
            vcns_per_block,
        );

        // --- view indexes: $Secure ($SDH, $SII share one record), $Reparse:$R
        let secure_others = resident_len(0, 72) + fn_attr_len(7) + nonresident_len(4);
        let half = ATTR_SPACE.saturating_sub(secure_others) / 2;
        let sec_cap = half.saturating_sub(resident_len(4, index::ROOT_OVERHEAD));
        let sec_cap_large = sec_cap.saturating_sub(nonresident_len(4) + resident_len(4, 16));
        let sdh = PIndex {
            built: index::build(
                sec.sdh_entries.clone(),
                sec_cap,
                sec_cap_large,
                INDEX_BLOCK_SIZE,
                vcns_per_block,
            ),
            ..Default::default()
        };
        let sii = PIndex {
            built: index::build(
                sec.sii_entries.clone(),
                sec_cap,
                sec_cap_large,
                INDEX_BLOCK_SIZE,
                vcns_per_block,
            ),
            ..Default::default()
        };
        let mut r_entries: Vec<Vec<u8>> = Vec::new();
        for (i, p) in nodes.iter().enumerate() {
            if let Some(r) = &p.reparse {
                let mut key = r.tag.to_le_bytes().to_vec();
                key.extend_from_slice(&refs[i].to_le_bytes());
                r_entries.push(index::view_entry(&key, &[], &[]));
            }
        }
        r_entries.sort_by(|a, b| index::collate_ulongs(&a[0x10..0x1C], &b[0x10..0x1C]));
        let r_others = resident_len(0, 72) + fn_attr_len(8);
        let r_bytes: usize = r_entries.iter().map(|e| e.len()).sum();
        let (rc, rcl) = root_caps(r_others, r_bytes);
        let rparse = PIndex {
            built: index::build(r_entries, rc, rcl, INDEX_BLOCK_SIZE, vcns_per_block),
            ..Default::default()
        };

        let mut o_entries: Vec<Vec<u8>> = Vec::new();
        for (i, p) in nodes.iter().enumerate() {
            if let Some(o) = &p.object_id {
                let mut data = refs[i].to_le_bytes().to_vec();
                let mut rest = o[16..].to_vec();
                rest.resize(48, 0);
                data.extend_from_slice(&rest);
                o_entries.push(index::view_entry(&o[..16], &data, &[]));
            }
        }
        o_entries.sort_by(|a, b| index::collate_ulongs(&a[0x10..0x20], &b[0x10..0x20]));
        for w in o_entries.windows(2) {
            if w[0][0x10..0x20] == w[1][0x10..0x20] {
                return Err(Error::Unsupported(
                    "two files have the same object id".into(),
                ));
            }
        }
        let o_bytes: usize = o_entries.iter().map(|e| e.len()).sum();
        let (oc, ocl) = root_caps(r_others, o_bytes);
        let objid = PIndex {
            built: index::build(o_entries, oc, ocl, INDEX_BLOCK_SIZE, vcns_per_block),
            ..Default::default()
        };

        // --- index blocks, then data
        let mut me = VolumeWriter {
            dev,
            boot: BootSector {
                bytes_per_sector: 512,
                sectors_per_cluster: spc as u32,
                hidden_sectors: opts.hidden_sectors,
                total_sectors,
                mft_lcn: ext["mft"].lcn,
                mftmirr_lcn: ext["mirror"].lcn,
                mft_record_size: MFT_RECORD_SIZE as u32,
                index_block_size: INDEX_BLOCK_SIZE as u32,
                serial: opts.serial.unwrap_or(time ^ 0x5A5A_1234_9876_0000),
            },
            cs,
            time,
            label,
            upcase,
            nodes,
            sec,
            sdh,
            sii,
            rparse,
            objid,
            extend,
            mft_records,
            mirror_records,
            ext,
            used: Vec::new(),
        };
        let mut take = |n: u64| -> Extent {
            let e = Extent {
                lcn: cursor,
                clusters: n,
            };
            cursor += n;
            used.push(e);
            e
        };
        let idx_clusters =
            |b: &BuiltIndex| ((b.blocks.len() * INDEX_BLOCK_SIZE) as u64).div_ceil(cs);
        for pi in [&mut me.sdh, &mut me.sii, &mut me.rparse, &mut me.objid]
            .into_iter()
            .chain(me.nodes.iter_mut().filter_map(|n| n.dir.as_mut()))
        {
            let c = idx_clusters(&pi.built);
            if c > 0 {
                let e = take(c);
                pi.lcn = e.lcn;
                pi.clusters = c;
            }
        }
        let mut data: Vec<(u64, usize, usize)> = Vec::new();
        for (i, n) in me.nodes.iter().enumerate() {
            for (j, s) in n.streams.iter().enumerate() {
                if !s.resident && s.size > 0 {
                    data.push((s.order, i, j));
                }
            }
        }
        for n in me.nodes.iter_mut().filter(|n| n.list_clusters > 0) {
            let e = take(n.list_clusters);
            n.list_lcn = e.lcn;
        }
        for n in me.nodes.iter_mut() {
            for b in [&mut n.ea_blob, &mut n.reparse_blob].into_iter().flatten() {
                *b = take(b.clusters);
            }
        }
        data.sort_unstable();
        for (_, i, j) in data {
            let s = &mut me.nodes[i].streams[j];
            let c = s.size.div_ceil(cs);
            let e = take(c);
            s.lcn = e.lcn;
            s.clusters = c;
        }
        if cursor > total_clusters {
            return Err(Error::Unsupported(format!(
                "the volume is too small: {} clusters of {cs} bytes needed, {total_clusters} available",
                cursor
            )));
        }
        me.used = used;
        // Directory INDX blocks are final now: write them and keep only
        // their count (4 KiB each would otherwise stay in memory per block
        // until `finish`).
        for i in 0..me.nodes.len() {
            if let Some(d) = &me.nodes[i].dir {
                me.write_index_blocks(&d.built, d.lcn)?;
            }
            if let Some(d) = &mut me.nodes[i].dir {
                for b in &mut d.built.blocks {
                    *b = Vec::new();
                }
            }
        }
        Ok(me)
    }

    /// Cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        self.cs
    }

    /// Deliver bytes of stream `stream` of node `node` at `offset`.
    pub fn write_stream(
        &mut self,
        node: usize,
        stream: usize,
        offset: u64,
        bytes: &[u8],
    ) -> Result<()> {
        let cs = self.cs;
        let s = self
            .nodes
            .get_mut(node)
            .and_then(|n| n.streams.get_mut(stream))
            .ok_or_else(|| Error::Unsupported(format!("no stream {stream} on node {node}")))?;
        let end = offset
            .checked_add(bytes.len() as u64)
            .filter(|&e| e <= s.size)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "write of {} bytes at {offset} past the end of a {}-byte stream",
                    bytes.len(),
                    s.size
                ))
            })?;
        if s.resident {
            if s.buf.len() < s.size as usize {
                s.buf.resize(s.size as usize, 0);
            }
            s.buf[offset as usize..end as usize].copy_from_slice(bytes);
        } else {
            self.dev.write_at(s.lcn * cs + offset, bytes)?;
            if s.sparse {
                s.mark_nonzero(offset, bytes, cs);
            }
        }
        s.written += bytes.len() as u64;
        Ok(())
    }

    /// Stream sizes of a node, in the order given to [`VolumeWriter::new`]
    /// (plus an empty unnamed stream added for files that had none).
    pub fn stream_count(&self, node: usize) -> usize {
        self.nodes.get(node).map_or(0, |n| n.streams.len())
    }

    fn data_attr(&self, name: &str, e: Extent, size: u64) -> AttrSpec {
        AttrSpec::non_resident(
            at::DATA,
            &utf16(name),
            vec![Run {
                lcn: Some(e.lcn),
                len: e.clusters,
            }],
            size,
            self.cs,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn index_attrs(
        &self,
        attrs: &mut Vec<AttrSpec>,
        name: &str,
        indexed: u32,
        coll: u32,
        pi: &BuiltIndex,
        lcn: u64,
        clusters: u64,
    ) {
        push_index_attrs(self.cs, attrs, name, indexed, coll, pi, lcn, clusters)
    }

    fn write_index_blocks(&self, pi: &BuiltIndex, lcn: u64) -> Result<()> {
        if pi.blocks.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(pi.blocks.len() * INDEX_BLOCK_SIZE);
        for b in &pi.blocks {
            let mut b = b.clone();
            index::finish_block(&mut b);
            buf.extend_from_slice(&b);
        }
        let pad = (buf.len() as u64).div_ceil(self.cs) * self.cs;
        buf.resize(pad as usize, 0);
        self.dev.write_at(lcn * self.cs, &buf)?;
        Ok(())
    }

    fn sys_si(&self, attrs: u32, sid: u32) -> AttrSpec {
        let t = Times {
            creation: self.time,
            modification: self.time,
            mft_change: self.time,
            access: self.time,
        };
        AttrSpec::resident(
            at::STANDARD_INFORMATION,
            &[],
            StandardInformation {
                times: t,
                file_attributes: attrs,
                security_id: sid,
            }
            .encode(),
        )
    }

    /// Write all metadata. Every stream must have received all its bytes.
    pub fn finish(self) -> Result<()> {
        let cs = self.cs;
        for (i, n) in self.nodes.iter().enumerate() {
            for s in &n.streams {
                if s.written != s.size {
                    return Err(Error::Unsupported(format!(
                        "stream {:?} of node {i} received {} of {} bytes",
                        String::from_utf16_lossy(&s.name),
                        s.written,
                        s.size
                    )));
                }
            }
        }
        let e = |k: &str| self.ext[k];
        let total_clusters = self.boot.total_clusters();
        let hs = file_attr::HIDDEN | file_attr::SYSTEM;
        let time = self.time;
        let st = Times {
            creation: time,
            modification: time,
            mft_change: time,
            access: time,
        };
        let fn_attr = |name: &str, parent: u64, alloc: u64, data: u64, attrs: u32| {
            AttrSpec::resident(
                at::FILE_NAME,
                &[],
                FileName {
                    parent: mft_ref(parent, parent as u16),
                    times: st,
                    allocated_size: alloc,
                    data_size: data,
                    file_attributes: attrs,
                    reparse_or_ea: 0,
                    namespace: namespace::WIN32_AND_DOS,
                    name: utf16(name),
                }
                .encode(),
            )
        };
        // Records 0-63 (system files, the mirrored part) stay in memory;
        // user records are written in order, 1 MiB at a time.
        let mut sink = MftSink {
            sys: vec![0u8; mft_no::FIRST_USER as usize * MFT_RECORD_SIZE],
            chunk: Vec::new(),
            chunk_start: mft_no::FIRST_USER,
            next: mft_no::FIRST_USER,
            base: self.ext["mft"].lcn * cs,
        };
        let mut used_ext: Vec<u64> = Vec::new();
        let mut put = |rb: RecordBuilder| sink.put(&self.dev, rb);
        let rec = |number: u64, flags: u16, attrs: Vec<AttrSpec>| RecordBuilder {
            number,
            seq: if number == 0 {
                1
            } else if number <= 23 {
                number as u16
            } else {
                1
            },
            flags: record_flags::IN_USE | flags,
            link_count: attrs.iter().filter(|a| a.ty == at::FILE_NAME).count() as u16,
            attrs,
            base: 0,
        };
        let sz = |k: &str| e(k).clusters * cs;
        let mft_bytes = self.mft_records * MFT_RECORD_SIZE as u64;
        let mftbm_len = (self.mft_records.div_ceil(8) + 7) & !7;
        let bitmap_len = (total_clusters.div_ceil(8) + 7) & !7;
        let sid_sys = secure::FIRST_ID;
        // 0 $MFT
        let mut bm_attr = AttrSpec::non_resident(
            at::BITMAP,
            &[],
            vec![Run {
                lcn: Some(e("mftbitmap").lcn),
                len: e("mftbitmap").clusters,
            }],
            mftbm_len,
            cs,
        );
        bm_attr.flags = 0;
        put(rec(
            0,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$MFT", 5, sz("mft"), mft_bytes, hs),
                self.data_attr("", e("mft"), mft_bytes),
                bm_attr,
            ],
        ))?;
        put(rec(
            1,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$MFTMirr", 5, sz("mirror"), self.mirror_records * 1024, hs),
                self.data_attr("", e("mirror"), self.mirror_records * 1024),
            ],
        ))?;
        put(rec(
            2,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$LogFile", 5, sz("log"), sz("log"), hs),
                self.data_attr("", e("log"), sz("log")),
            ],
        ))?;
        let mut volinfo = vec![0u8; 12];
        volinfo[8] = 3;
        volinfo[9] = 1;
        put(rec(
            3,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$Volume", 5, 0, 0, hs),
                AttrSpec::resident(
                    at::VOLUME_NAME,
                    &[],
                    self.label.iter().flat_map(|c| c.to_le_bytes()).collect(),
                ),
                AttrSpec::resident(at::VOLUME_INFORMATION, &[], volinfo),
                AttrSpec::resident(at::DATA, &[], Vec::new()),
            ],
        ))?;
        put(rec(
            4,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$AttrDef", 5, sz("attrdef"), 2560, hs),
                self.data_attr("", e("attrdef"), 2560),
            ],
        ))?;
        put(rec(
            6,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$Bitmap", 5, sz("bitmap"), bitmap_len, hs),
                self.data_attr("", e("bitmap"), bitmap_len),
            ],
        ))?;
        put(rec(
            7,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$Boot", 5, sz("boot"), sz("boot"), hs),
                self.data_attr("", e("boot"), sz("boot")),
            ],
        ))?;
        put(rec(
            8,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$BadClus", 5, 0, 0, hs),
                AttrSpec::resident(at::DATA, &[], Vec::new()),
                AttrSpec::non_resident(
                    at::DATA,
                    &utf16("$Bad"),
                    vec![Run {
                        lcn: None,
                        len: total_clusters,
                    }],
                    total_clusters * cs,
                    cs,
                ),
            ],
        ))?;
        let vi = file_attr::DUP_VIEW_INDEX_PRESENT;
        let mut a9 = vec![
            self.sys_si(hs | vi, sid_sys),
            fn_attr("$Secure", 5, 0, 0, hs | vi),
            self.data_attr("$SDS", e("sds"), self.sec.sds.len() as u64),
        ];
        self.index_attrs(
            &mut a9,
            "$SDH",
            0,
            collation::NTOFS_SECURITY_HASH,
            &self.sdh.built,
            self.sdh.lcn,
            self.sdh.clusters,
        );
        self.index_attrs(
            &mut a9,
            "$SII",
            0,
            collation::NTOFS_ULONG,
            &self.sii.built,
            self.sii.lcn,
            self.sii.clusters,
        );
        put(rec(9, record_flags::IS_VIEW_INDEX, a9))?;
        let up = upcase::table_bytes(&self.upcase);
        put(rec(
            10,
            0,
            vec![
                self.sys_si(hs, sid_sys),
                fn_attr("$UpCase", 5, sz("upcase"), 131072, hs),
                self.data_attr("", e("upcase"), 131072),
                AttrSpec::resident(at::DATA, &utf16("$Info"), upcase::info(&up)),
            ],
        ))?;
        let mut a11 = vec![
            self.sys_si(hs, sid_sys),
            fn_attr(
                "$Extend",
                5,
                0,
                0,
                hs | file_attr::DUP_FILE_NAME_INDEX_PRESENT,
            ),
        ];
        self.index_attrs(
            &mut a11,
            "$I30",
            at::FILE_NAME,
            collation::FILE_NAME,
            &self.extend,
            0,
            0,
        );
        put(rec(11, record_flags::IS_DIRECTORY, a11))?;
        for n in 12..16 {
            put(rec(
                n,
                0,
                vec![
                    self.sys_si(hs, sid_sys),
                    AttrSpec::resident(at::DATA, &[], Vec::new()),
                ],
            ))?;
        }
        // $Quota
        let admins = secure::sid_admins();
        let qce = |with_sid: bool| {
            let mut d = vec![0u8; 48];
            d[0] = 2; // version
            d[4] = 1; // default limits
            d[16..24].copy_from_slice(&time.to_le_bytes());
            d[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
            d[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
            if with_sid {
                d.extend_from_slice(&admins);
            }
            d
        };
        let q = vec![
            index::view_entry(&1u32.to_le_bytes(), &qce(false), &[]),
            index::view_entry(&0x100u32.to_le_bytes(), &qce(true), &[]),
        ];
        let mut o_entry = index::view_entry(&admins, &0x100u32.to_le_bytes(), &[]);
        o_entry.resize(0x28, 0);
        o_entry[0x24] = 0x20;
        let small = |v: Vec<Vec<u8>>| index::build(v, usize::MAX, usize::MAX, INDEX_BLOCK_SIZE, 1);
        let mut a24 = vec![
            self.sys_si(hs | vi, sid_sys),
            fn_attr("$Quota", 11, 0, 0, hs | vi),
        ];
        self.index_attrs(
            &mut a24,
            "$O",
            0,
            collation::NTOFS_SID,
            &small(vec![o_entry]),
            0,
            0,
        );
        self.index_attrs(&mut a24, "$Q", 0, collation::NTOFS_ULONG, &small(q), 0, 0);
        put(rec(
            mft_no::QUOTA,
            record_flags::IS_4 | record_flags::IS_VIEW_INDEX,
            a24,
        ))?;
        let mut a25 = vec![
            self.sys_si(hs | vi, sid_sys),
            fn_attr("$ObjId", 11, 0, 0, hs | vi),
        ];
        self.index_attrs(
            &mut a25,
            "$O",
            0,
            collation::NTOFS_ULONGS,
            &self.objid.built,
            self.objid.lcn,
            self.objid.clusters,
        );
        put(rec(mft_no::OBJ_ID, record_flags::IS_VIEW_INDEX, a25))?;
        let mut a26 = vec![
            self.sys_si(hs | vi, sid_sys),
            fn_attr("$Reparse", 11, 0, 0, hs | vi),
        ];
        self.index_attrs(
            &mut a26,
            "$R",
            0,
            collation::NTOFS_ULONGS,
            &self.rparse.built,
            self.rparse.lcn,
            self.rparse.clusters,
        );
        put(rec(mft_no::REPARSE, record_flags::IS_VIEW_INDEX, a26))?;
        // user nodes; extension records are written after all base records.
        let mut ext_recs: Vec<RecordBuilder> = Vec::new();
        for p in &self.nodes {
            let mut attrs = node_attrs(p, cs, false);
            let mut flags = 0;
            if p.dir.is_some() {
                flags |= record_flags::IS_DIRECTORY;
            }
            if p.overflow {
                let base_ref = mft_ref(p.record, p.seq);
                if let Some(mut pl) = crate::attrlist::place_planned(
                    node_attrs(p, cs, true),
                    attrs.clone(),
                    LIST_NONRES_LEN,
                )? {
                    if pl.records.len() - 1 > p.ext_records.len() {
                        return Err(Error::Unsupported(format!(
                            "internal: record {} needs {} extension records, {} reserved",
                            p.record,
                            pl.records.len() - 1,
                            p.ext_records.len()
                        )));
                    }
                    let mrefs: Vec<u64> = std::iter::once(base_ref)
                        .chain(p.ext_records.iter().map(|&r| mft_ref(r, 1)))
                        .collect();
                    pl.build_list(&mrefs);
                    let runs = if pl.list_is_nonresident() {
                        let mut b = pl.list.clone();
                        b.resize((p.list_clusters * cs) as usize, 0);
                        self.dev.write_at(p.list_lcn * cs, &b)?;
                        Some(vec![Run {
                            lcn: Some(p.list_lcn),
                            len: p.list_clusters,
                        }])
                    } else {
                        None
                    };
                    let list_attr = pl.list_attr(runs, cs);
                    let mut recs = pl.records.into_iter();
                    attrs = recs.next().expect("base record");
                    attrs.push(list_attr);
                    for (j, ra) in recs.enumerate() {
                        ext_recs.push(RecordBuilder {
                            number: p.ext_records[j],
                            seq: 1,
                            flags: record_flags::IN_USE,
                            link_count: 0,
                            attrs: ra,
                            base: base_ref,
                        });
                        used_ext.push(p.ext_records[j]);
                    }
                }
            }
            // DOS names paired with a Win32 name are not links of their own.
            let link_count = if p.record == mft_no::ROOT {
                1
            } else {
                p.fns
                    .iter()
                    .filter(|f| f.namespace != namespace::DOS)
                    .count() as u16
            };
            put(RecordBuilder {
                number: p.record,
                seq: p.seq,
                flags: record_flags::IN_USE | flags,
                link_count,
                attrs,
                base: 0,
            })?;
        }
        for rb in ext_recs {
            put(rb)?;
        }
        sink.finish(&self.dev, self.mft_records)?;
        let mft = sink.sys;
        // --- write
        let dev = &self.dev;
        let write_ext = |k: &str, data: &[u8]| -> Result<()> {
            let x = e(k);
            let mut buf = data.to_vec();
            buf.resize((x.clusters * cs) as usize, 0);
            dev.write_at(x.lcn * cs, &buf)?;
            Ok(())
        };
        // $Boot: boot sector then zeros.
        let bs = self.boot.encode();
        write_ext("boot", &bs)?;
        dev.write_at(e("mft").lcn * cs, &mft)?;
        write_ext(
            "mirror",
            &mft[..(self.mirror_records as usize * MFT_RECORD_SIZE).min(mft.len())],
        )?;
        let mut mbm = vec![0u8; mftbm_len as usize];
        let mut in_use: Vec<u64> = (0..16).chain([24, 25, 26]).collect();
        in_use.extend(self.nodes.iter().map(|p| p.record));
        in_use.extend(used_ext);
        for r in in_use {
            mbm[(r / 8) as usize] |= 1 << (r % 8);
        }
        write_ext("mftbitmap", &mbm)?;
        let log = e("log");
        let chunk = vec![0xFFu8; 1 << 20];
        let mut off = 0u64;
        while off < log.clusters * cs {
            let n = (log.clusters * cs - off).min(chunk.len() as u64) as usize;
            dev.write_at(log.lcn * cs + off, &chunk[..n])?;
            off += n as u64;
        }
        write_ext("attrdef", &attrdef::table())?;
        write_ext("upcase", &up)?;
        write_ext("sds", &self.sec.sds)?;
        self.write_index_blocks(&self.sdh.built, self.sdh.lcn)?;
        self.write_index_blocks(&self.sii.built, self.sii.lcn)?;
        self.write_index_blocks(&self.rparse.built, self.rparse.lcn)?;
        self.write_index_blocks(&self.objid.built, self.objid.lcn)?;
        for p in &self.nodes {
            if let (Some(b), Some((ea, _))) = (p.ea_blob, &p.ea) {
                let mut v = ea.clone();
                v.resize((b.clusters * cs) as usize, 0);
                dev.write_at(b.lcn * cs, &v)?;
            }
            if let (Some(b), Some(_)) = (p.reparse_blob, &p.reparse) {
                let mut v = reparse_value(p);
                v.resize((b.clusters * cs) as usize, 0);
                dev.write_at(b.lcn * cs, &v)?;
            }
            // (Directory INDX blocks were written by `new`.)
            // Data given inline, then zero the tail of the last cluster.
            for s in &p.streams {
                if !s.resident && !s.buf.is_empty() {
                    dev.write_at(s.lcn * cs, &s.buf)?;
                }
                if !s.resident && s.size % cs != 0 {
                    let tail = cs - s.size % cs;
                    dev.write_at(s.lcn * cs + s.size, &vec![0u8; tail as usize])?;
                }
            }
        }
        // $Bitmap
        let mut bm = vec![0u8; bitmap_len as usize];
        for x in &self.used {
            for c in x.lcn..x.lcn + x.clusters {
                bm[(c / 8) as usize] |= 1 << (c % 8);
            }
        }
        // Holes of sparse streams stay free.
        for p in &self.nodes {
            for st in p.streams.iter().filter(|st| st.sparse) {
                let mut vcn = 0u64;
                for r in sparse_runs(st, cs) {
                    if r.lcn.is_none() {
                        for c in st.lcn + vcn..st.lcn + (vcn + r.len).min(st.clusters) {
                            bm[(c / 8) as usize] &= !(1 << (c % 8));
                        }
                    }
                    vcn += r.len;
                }
            }
        }
        for c in total_clusters..bitmap_len * 8 {
            bm[(c / 8) as usize] |= 1 << (c % 8);
        }
        write_ext("bitmap", &bm)?;
        // Backup boot sector in the last sector of the device.
        dev.write_at((self.boot.total_sectors) * 512, &bs)?;
        dev.flush()?;
        Ok(())
    }
}

/// Streams MFT records to the device (see [`VolumeWriter::finish`]).
struct MftSink {
    sys: Vec<u8>,
    chunk: Vec<u8>,
    chunk_start: u64,
    next: u64,
    base: u64,
}

impl MftSink {
    fn put<D: BlockDev>(&mut self, dev: &D, rb: RecordBuilder) -> Result<()> {
        let b = rb.encode()?;
        if rb.number < mft_no::FIRST_USER {
            let o = rb.number as usize * MFT_RECORD_SIZE;
            self.sys[o..o + MFT_RECORD_SIZE].copy_from_slice(&b);
            return Ok(());
        }
        if rb.number < self.next {
            return Err(Error::Unsupported(format!(
                "internal: MFT record {} written out of order",
                rb.number
            )));
        }
        while self.next < rb.number {
            self.chunk
                .extend_from_slice(&record::empty_record(self.next, 1));
            self.next += 1;
        }
        self.chunk.extend_from_slice(&b);
        self.next += 1;
        if self.chunk.len() >= 1 << 20 {
            self.flush(dev)?;
        }
        Ok(())
    }

    fn flush<D: BlockDev>(&mut self, dev: &D) -> Result<()> {
        dev.write_at(
            self.base + self.chunk_start * MFT_RECORD_SIZE as u64,
            &self.chunk,
        )?;
        self.chunk.clear();
        self.chunk_start = self.next;
        Ok(())
    }

    /// Format the unused records (16-63 and after the last user record).
    fn finish<D: BlockDev>(&mut self, dev: &D, total: u64) -> Result<()> {
        for n in 16..mft_no::FIRST_USER {
            let o = n as usize * MFT_RECORD_SIZE;
            if &self.sys[o..o + 4] != b"FILE" {
                let seq = if n <= 23 { n as u16 } else { 1 };
                self.sys[o..o + MFT_RECORD_SIZE].copy_from_slice(&record::empty_record(n, seq));
            }
        }
        while self.next < total {
            self.chunk
                .extend_from_slice(&record::empty_record(self.next, 1));
            self.next += 1;
            if self.chunk.len() >= 1 << 20 {
                self.flush(dev)?;
            }
        }
        self.flush(dev)
    }
}

fn tree_parent_index(refs: &[u64], parent_ref: u64) -> usize {
    // Parents are few; a linear scan would be slow for big trees, so refs
    // encode the node index: record − FIRST_USER + 1 (root = 0).
    let rec = parent_ref & 0xFFFF_FFFF_FFFF;
    if rec == mft_no::ROOT {
        0
    } else {
        let i = (rec - mft_no::FIRST_USER + 1) as usize;
        debug_assert!(i < refs.len());
        i
    }
}

/// Root capacities (small, large) for an index whose record already holds
/// `others` bytes of attributes and whose entries take `bytes`.
pub(crate) fn root_caps(others: usize, bytes: usize) -> (usize, usize) {
    let ir = resident_len(4, index::ROOT_OVERHEAD);
    let small = ATTR_SPACE.saturating_sub(others + ir);
    let blocks_max = bytes / 2000 + 2;
    let bitmap = resident_len(4, ((blocks_max.div_ceil(8)) + 7) & !7);
    let large = small.saturating_sub(nonresident_len(4) + bitmap);
    (small, large)
}

#[allow(dead_code)]
fn body_sizes(a: &AttrSpec) -> (u64, u64) {
    match &a.body {
        Body::Resident { value, .. } => (((value.len() + 7) & !7) as u64, value.len() as u64),
        Body::NonResident {
            allocated, data, ..
        } => (*allocated, *data),
    }
}

#[allow(clippy::too_many_arguments)]
fn push_index_attrs(
    cs: u64,
    attrs: &mut Vec<AttrSpec>,
    name: &str,
    indexed: u32,
    coll: u32,
    pi: &BuiltIndex,
    lcn: u64,
    clusters: u64,
) {
    let cpb = if cs <= INDEX_BLOCK_SIZE as u64 {
        (INDEX_BLOCK_SIZE as u64 / cs) as u8
    } else {
        (INDEX_BLOCK_SIZE / 512) as u8
    };
    let n = utf16(name);
    attrs.push(AttrSpec::resident(
        at::INDEX_ROOT,
        &n,
        index::root_value(indexed, coll, INDEX_BLOCK_SIZE as u32, cpb, pi),
    ));
    if pi.large {
        let mut a = AttrSpec::non_resident(
            at::INDEX_ALLOCATION,
            &n,
            vec![Run {
                lcn: Some(lcn),
                len: clusters,
            }],
            (pi.blocks.len() * INDEX_BLOCK_SIZE) as u64,
            cs,
        );
        a.flags = 0;
        attrs.push(a);
        attrs.push(AttrSpec::resident(
            at::BITMAP,
            &n,
            index::bitmap_value(pi.blocks.len()),
        ));
    }
}

/// The $REPARSE_POINT value: tag, data length, reserved, data.
fn reparse_value(p: &PNode) -> Vec<u8> {
    let Some(r) = &p.reparse else {
        return Vec::new();
    };
    let mut v = Vec::with_capacity(8 + r.data.len());
    v.extend_from_slice(&r.tag.to_le_bytes());
    v.extend_from_slice(&(r.data.len() as u16).to_le_bytes());
    v.extend_from_slice(&r.reserved.to_le_bytes());
    v.extend_from_slice(&r.data);
    v
}

/// Entry bytes of the system files named in the root directory (an upper
/// bound: 16 names of at most 8 characters).
const ROOT_SYSTEM_ENTRY_BYTES: usize = 16 * (0x10 + 0x42 + 2 * 8 + 8);

/// An upper bound of the INDX blocks [`index::build`] makes for entries of
/// `bytes` in all: a full block holds at least its capacity less two of
/// the largest entries (0x10 + 0x42 + 510 bytes + an 8-byte child VCN),
/// and each level above holds one entry per block below.
fn index_blocks_bound(bytes: usize) -> usize {
    const MAX_ENTRY: usize = 0x10 + 0x42 + 510 + 8;
    let min_fill = INDEX_BLOCK_SIZE - 0x40 - 24 - 2 * MAX_ENTRY;
    let mut total = 0usize;
    let mut level = bytes;
    loop {
        let blocks = level / min_fill + 1;
        total += blocks;
        if blocks == 1 {
            return total;
        }
        level = blocks * MAX_ENTRY;
    }
}

/// A worst-case run (8-byte LCN, 6-byte length) for planning record space
/// before clusters are placed.
const PLAN_RUN: Run = Run {
    lcn: Some(1 << 55),
    len: 1 << 40,
};

/// The attributes of a user file or directory (without the attribute
/// list). With `plan`, runs are worst-case placeholders and resident
/// values zeros of the final length, so sizes bound the real ones.
fn node_attrs(p: &PNode, cs: u64, plan: bool) -> Vec<AttrSpec> {
    let mut attrs = vec![AttrSpec::resident(
        at::STANDARD_INFORMATION,
        &[],
        p.si.encode(),
    )];
    for f in &p.fns {
        attrs.push(AttrSpec::resident(at::FILE_NAME, &[], f.encode()));
    }
    for s in &p.streams {
        if s.resident {
            let mut v = if plan { Vec::new() } else { s.buf.clone() };
            v.resize(s.size as usize, 0);
            attrs.push(AttrSpec::resident(at::DATA, &s.name, v));
        } else {
            let runs = if plan {
                vec![PLAN_RUN]
            } else {
                vec![Run {
                    lcn: Some(s.lcn),
                    len: s.clusters,
                }]
            };
            let mut a = if s.sparse {
                let runs = if plan {
                    vec![PLAN_RUN; SPARSE_PLAN_RUNS]
                } else {
                    sparse_runs(s, cs)
                };
                let mut a = AttrSpec::non_resident(at::DATA, &s.name, runs, s.size, cs);
                a.flags = crate::attribute::FLAG_SPARSE;
                a.compression_unit = crate::attribute::sparse_compression_unit(cs);
                a
            } else {
                AttrSpec::non_resident(at::DATA, &s.name, runs, s.size, cs)
            };
            if !s.sparse {
                if let Body::NonResident { allocated, .. } = &mut a.body {
                    *allocated = s.size.div_ceil(cs) * cs;
                }
            }
            attrs.push(a);
        }
    }
    let blob = |ty: u32, b: Extent, len: usize| {
        let run = if plan {
            PLAN_RUN
        } else {
            Run {
                lcn: Some(b.lcn),
                len: b.clusters,
            }
        };
        let mut a = AttrSpec::non_resident(ty, &[], vec![run], len as u64, cs);
        if let Body::NonResident { allocated, .. } = &mut a.body {
            *allocated = b.clusters * cs;
        }
        a
    };
    if let Some((ea, info)) = &p.ea {
        // $EA_INFORMATION is always resident ($AttrDef flag 0x40).
        attrs.push(AttrSpec::resident(at::EA_INFORMATION, &[], info.clone()));
        attrs.push(match p.ea_blob {
            Some(b) => blob(at::EA, b, ea.len()),
            None => AttrSpec::resident(at::EA, &[], ea.clone()),
        });
    }
    if let Some(o) = &p.object_id {
        // The attribute holds the GUID only; birth ids live in $O.
        attrs.push(AttrSpec::resident(at::OBJECT_ID, &[], o[..16].to_vec()));
    }
    if p.reparse.is_some() {
        let v = reparse_value(p);
        attrs.push(match p.reparse_blob {
            Some(b) => blob(at::REPARSE_POINT, b, v.len()),
            None => AttrSpec::resident(at::REPARSE_POINT, &[], v),
        });
    }
    if plan && p.overflow && (p.dir.is_some() || p.dir_plan_blocks > 0) {
        // Upper bounds of what `index::build` makes with caps (0, 24): a
        // root holding the END entry with a child pointer, an allocation
        // and a bitmap for at most `dir_plan_blocks` blocks.
        let n = utf16("$I30");
        let root = vec![0u8; index::ROOT_OVERHEAD + 24];
        attrs.push(AttrSpec::resident(at::INDEX_ROOT, &n, root));
        let mut a = AttrSpec::non_resident(at::INDEX_ALLOCATION, &n, vec![PLAN_RUN], 0, cs);
        a.flags = 0;
        attrs.push(a);
        let blocks = p
            .dir
            .as_ref()
            .map_or(0, |d| d.built.blocks.len())
            .max(p.dir_plan_blocks);
        attrs.push(AttrSpec::resident(
            at::BITMAP,
            &n,
            index::bitmap_value(blocks),
        ));
    } else if let Some(d) = &p.dir {
        let (lcn, clusters) = if plan {
            (1 << 55, 1 << 40)
        } else {
            (d.lcn, d.clusters)
        };
        push_index_attrs(
            cs,
            &mut attrs,
            "$I30",
            at::FILE_NAME,
            collation::FILE_NAME,
            &d.built,
            lcn,
            clusters,
        );
    }
    attrs
}
