//! An open VHDX file: parsing on open (with log replay), virtual-disk reads
//! and writes, block allocation, and journaled metadata updates.

use crate::bat::{self, BatEntry, Geometry, PayloadState};
use crate::error::{Error, Result};
use crate::header::{self, Header, HeaderProblem};
use crate::ident::FileIdentifier;
use crate::locator::{self, ParentLocator};
use crate::log::{self, LogOp};
use crate::metadata::{self, DiskParams, MetadataTable};
use crate::overlay::Overlay;
use crate::region::{self, RegionProblem, RegionTable};
use crate::util::*;
use blockdev::{BlockDev, FileDev};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use uuid::Uuid;

/// Largest log we load into memory for replay.
const MAX_LOG: u64 = 1 << 30;

/// How to find the parent of a differencing disk.
#[derive(Default)]
pub enum ParentSource {
    /// Follow the parent locator (relative_path, then absolute_win32_path),
    /// relative to the child's directory.
    #[default]
    Auto,
    /// Use this file.
    Path(PathBuf),
    /// Use this already opened disk.
    Disk(Box<Vhdx>),
    /// Do not open a parent: reads that need it fail. For inspection and
    /// fuzzing.
    Skip,
}

/// Options for [`Vhdx::open`].
#[derive(Default)]
pub struct OpenOptions {
    /// Open read-write. A dirty log is then replayed into the file;
    /// read-only opens replay it in memory.
    pub writable: bool,
    /// Where the parent comes from.
    pub parent: ParentSource,
}

/// Disk type, as `info` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskType {
    /// Blocks allocated on write.
    Dynamic,
    /// All blocks allocated (LeaveBlockAllocated).
    Fixed,
    /// Has a parent.
    Differencing,
}

impl DiskType {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskType::Dynamic => "dynamic",
            DiskType::Fixed => "fixed",
            DiskType::Differencing => "differencing",
        }
    }
}

/// Mutable state behind the lock.
pub(crate) struct State {
    /// BAT entries (a whole number of 4 KiB sectors).
    pub bat: Vec<u64>,
    /// Indices of BAT entries changed since the last commit.
    pub dirty: std::collections::BTreeSet<u64>,
    /// Where the next block goes (1 MiB aligned).
    pub file_end: u64,
    /// Headers as on disk: (current copy index, header).
    pub header: Header,
    pub current: usize,
    /// Session: GUIDs already changed for this open.
    pub session_started: bool,
    /// Session log state.
    pub log_active: bool,
    pub log_seq: u64,
    pub log_head: u64,
    /// Set once an I/O error left the in-memory state uncertain.
    pub poisoned: bool,
}

/// An open VHDX virtual disk. Implements [`BlockDev`] over the virtual disk.
pub struct Vhdx {
    pub(crate) name: String,
    pub(crate) path: Option<PathBuf>,
    pub(crate) dev: Box<dyn BlockDev>,
    pub(crate) writable: bool,
    /// Metadata updates go through the log (in-place edits of an existing
    /// file). Files being created write the BAT directly.
    pub(crate) journaled: bool,
    pub(crate) ident: FileIdentifier,
    pub(crate) raw_headers: [std::result::Result<Header, HeaderProblem>; 2],
    pub(crate) raw_regions: [std::result::Result<RegionTable, RegionProblem>; 2],
    pub(crate) regions: RegionTable,
    pub(crate) meta_offset: u64,
    pub(crate) meta_len: u64,
    pub(crate) meta_table: MetadataTable,
    pub(crate) params: DiskParams,
    pub(crate) geo: Geometry,
    pub(crate) bat_offset: u64,
    pub(crate) bat_len: u64,
    pub(crate) state: RwLock<State>,
    pub(crate) parent: Option<Box<Vhdx>>,
    /// The log was dirty at open (and was replayed).
    pub(crate) log_was_dirty: bool,
    /// Serialises writers (allocation + journal).
    pub(crate) write_lock: Mutex<()>,
}

pub(crate) fn io_err<'a>(
    name: &'a str,
    what: &'static str,
    off: u64,
) -> impl FnOnce(io::Error) -> Error + 'a {
    move |e| Error::io(name, what, off, e)
}

fn read_vec(
    dev: &dyn BlockDev,
    name: &str,
    what: &'static str,
    off: u64,
    len: u64,
) -> Result<Vec<u8>> {
    let end = off.saturating_add(len);
    if end > dev.len() {
        return Err(Error::corrupt(
            name,
            what,
            off,
            format!(
                "{len} bytes at {off:#x} run past the end of the file ({:#x} bytes)",
                dev.len()
            ),
        ));
    }
    let mut v = vec![0u8; len as usize];
    dev.read_at(off, &mut v).map_err(io_err(name, what, off))?;
    Ok(v)
}

/// Parse identifier, headers and region tables: the parts needed before the
/// log can be located.
struct Prologue {
    ident: FileIdentifier,
    raw_headers: [std::result::Result<Header, HeaderProblem>; 2],
    header: Header,
    current: usize,
}

fn read_prologue(dev: &dyn BlockDev, name: &str) -> Result<Prologue> {
    if dev.len() < MIB {
        return Err(Error::corrupt(
            name,
            "file type identifier",
            0,
            format!(
                "file of {} bytes is smaller than the 1 MiB header section",
                dev.len()
            ),
        ));
    }
    let id = read_vec(
        dev,
        name,
        "file type identifier",
        0,
        crate::ident::SIZE as u64,
    )?;
    let ident = FileIdentifier::parse(&id).ok_or_else(|| {
        Error::corrupt(
            name,
            "file type identifier",
            0,
            "signature is not \"vhdxfile\"",
        )
    })?;
    let mut raw = Vec::new();
    for off in header::OFFSETS {
        let b = read_vec(dev, name, "header", off, header::SIZE as u64)?;
        raw.push(Header::parse(&b));
    }
    let raw_headers: [_; 2] = [raw.remove(0), raw.remove(0)];
    let current = header::select(&raw_headers).ok_or_else(|| {
        Error::corrupt(
            name,
            "header",
            header::OFFSETS[0],
            format!(
                "no current header (header 1: {}, header 2: {})",
                describe_header(&raw_headers[0]),
                describe_header(&raw_headers[1])
            ),
        )
    })?;
    let header = raw_headers[current]
        .clone()
        .expect("selected header is valid");
    let hoff = header::OFFSETS[current];
    if header.version != 1 {
        return Err(Error::Unsupported {
            file: name.into(),
            msg: format!(
                "header at {hoff:#x}: version {} (only 1 is defined)",
                header.version
            ),
        });
    }
    Ok(Prologue {
        ident,
        raw_headers,
        header,
        current,
    })
}

pub(crate) fn describe_header(h: &std::result::Result<Header, HeaderProblem>) -> String {
    match h {
        Ok(h) => format!("valid, sequence {}", h.sequence_number),
        Err(HeaderProblem::Signature) => "bad signature".into(),
        Err(HeaderProblem::Checksum) => "bad CRC-32C".into(),
    }
}

/// Locate and decode the log's active sequence when the header asks for
/// replay. `Ok(None)`: the log is clean.
fn load_log(dev: &dyn BlockDev, name: &str, h: &Header) -> Result<Option<log::ActiveSequence>> {
    // Checked on every open, not only before a replay: a clean header still
    // says where the next log entries go and bounds where the file's
    // structures end (§2.2.2: LogOffset and LogLength are multiples of 1 MiB).
    if h.log_offset % MIB != 0
        || h.log_length as u64 % MIB != 0
        || h.log_offset.checked_add(h.log_length as u64).is_none()
    {
        return Err(Error::corrupt(
            name,
            "header",
            h.log_offset,
            format!(
                "log of {} bytes at {:#x} is not 1 MiB aligned or ends past 2^64",
                h.log_length, h.log_offset
            ),
        ));
    }
    if h.log_guid.is_nil() {
        return Ok(None);
    }
    if h.log_version != 0 {
        return Err(Error::Unsupported {
            file: name.into(),
            msg: format!("log version {} with a non-empty log", h.log_version),
        });
    }
    let lo = h.log_offset;
    let ll = h.log_length as u64;
    if ll == 0 || ll % MIB != 0 || lo % MIB != 0 || lo < MIB || ll > MAX_LOG {
        return Err(Error::corrupt(
            name,
            "log",
            lo,
            format!("log of {ll} bytes at {lo:#x} is not 1 MiB aligned or is out of bounds"),
        ));
    }
    let logb = read_vec(dev, name, "log", lo, ll)?;
    let seq = log::find_active(&logb, &h.log_guid).ok_or_else(|| {
        Error::corrupt(
            name,
            "log",
            lo,
            format!(
                "header log GUID {} is set but the log holds no valid entry sequence for it",
                h.log_guid
            ),
        )
    })?;
    let head = seq.head();
    if dev.len() < head.flushed_file_offset {
        return Err(Error::corrupt(
            name,
            "log",
            lo + head.log_offset,
            format!(
                "file is truncated: {} bytes, the log says {} were flushed",
                dev.len(),
                head.flushed_file_offset
            ),
        ));
    }
    for e in &seq.entries {
        for op in &e.ops {
            let (o, l) = match op {
                LogOp::Data { offset, .. } => (*offset, 4096),
                LogOp::Zero { offset, length } => (*offset, *length),
            };
            if o < 192 * KIB || o.checked_add(l).is_none_or(|end| end > (1u64 << 50)) {
                return Err(Error::corrupt(
                    name,
                    "log",
                    lo + e.log_offset,
                    format!("log entry {} updates {l} bytes at {o:#x}, inside the header or beyond any sane size", e.sequence),
                ));
            }
        }
    }
    Ok(Some(seq))
}

impl Vhdx {
    /// Open a VHDX file.
    pub fn open(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let dev = FileDev::open(path, opts.writable).map_err(io_err(&name, "file", 0))?;
        let mut d = Self::open_dev(
            Box::new(dev),
            &name,
            OpenOptions {
                parent: ParentSource::Skip,
                ..opts_shallow(&opts)
            },
        )?;
        d.path = Some(path.to_path_buf());
        if d.params.has_parent {
            d.attach_parent(opts.parent)?;
        }
        Ok(d)
    }

    /// Open a VHDX held in memory, read-only, without a parent: the entry
    /// point for fuzzing. Never panics on any input.
    pub fn open_bytes(data: &[u8]) -> Result<Self> {
        Self::open_dev(
            Box::new(blockdev::MemDev::read_only(data)),
            "<memory>",
            OpenOptions {
                writable: false,
                parent: ParentSource::Skip,
            },
        )
    }

    /// Open a VHDX stored on any device. `name` is used in error messages.
    /// A differencing disk gets its parent only from `ParentSource::Disk`
    /// or `ParentSource::Path` here.
    pub fn open_dev(dev: Box<dyn BlockDev>, name: &str, opts: OpenOptions) -> Result<Self> {
        let writable = opts.writable && !dev.is_read_only();
        if opts.writable && !writable {
            return Err(Error::ReadOnly(name.into()));
        }
        let pro = read_prologue(&*dev, name)?;
        let active = load_log(&*dev, name, &pro.header)?;
        let log_was_dirty = active.is_some();
        let (dev, mut header, mut current, raw_headers): (Box<dyn BlockDev>, _, _, _) = match active
        {
            None => (dev, pro.header, pro.current, pro.raw_headers),
            Some(seq) => {
                let last = seq.head().last_file_offset;
                let ops: Vec<LogOp> = seq.entries.into_iter().flat_map(|e| e.ops).collect();
                if writable {
                    apply_ops(&*dev, name, &ops, last)?;
                    dev.flush().map_err(io_err(name, "log replay", 0))?;
                    (dev, pro.header, pro.current, pro.raw_headers)
                } else {
                    (
                        Box::new(Overlay::new(dev, ops, last)),
                        pro.header,
                        pro.current,
                        pro.raw_headers,
                    )
                }
            }
        };
        // Region tables.
        let mut rr = Vec::new();
        for off in region::OFFSETS {
            let b = read_vec(&*dev, name, "region table", off, region::SIZE as u64)?;
            rr.push(RegionTable::parse(&b));
        }
        let raw_regions: [_; 2] = [rr.remove(0), rr.remove(0)];
        let regions = match &raw_regions[0] {
            Ok(t) => t.clone(),
            Err(p) => {
                return Err(Error::corrupt(
                    name,
                    "region table",
                    region::OFFSETS[0],
                    p.to_string(),
                ));
            }
        };
        for e in &regions.entries {
            if e.required && e.guid != region::BAT_GUID && e.guid != region::METADATA_GUID {
                return Err(Error::Unsupported {
                    file: name.into(),
                    msg: format!("unknown required region {}", e.guid),
                });
            }
        }
        let flen = dev.len();
        let region_of = |g: &Uuid, what: &'static str| -> Result<(u64, u64)> {
            let e = regions.find(g).ok_or_else(|| {
                Error::corrupt(
                    name,
                    "region table",
                    region::OFFSETS[0],
                    format!("no {what} region"),
                )
            })?;
            let (o, l) = (e.file_offset, e.length as u64);
            if o < MIB
                || l == 0
                || o.checked_add(l).is_none_or(|end| end > flen.max(o))
                || o.saturating_add(l) > flen
            {
                return Err(Error::corrupt(
                    name,
                    "region table",
                    region::OFFSETS[0],
                    format!("{what} region {l:#x} bytes at {o:#x} lies outside the file ({flen:#x} bytes)"),
                ));
            }
            Ok((o, l))
        };
        let (meta_offset, meta_len) = region_of(&region::METADATA_GUID, "metadata")?;
        let (bat_offset, bat_len) = region_of(&region::BAT_GUID, "BAT")?;
        // Metadata.
        if meta_len < metadata::TABLE_SIZE as u64 {
            return Err(Error::corrupt(
                name,
                "metadata table",
                meta_offset,
                "region smaller than the 64 KiB table",
            ));
        }
        let tb = read_vec(
            &*dev,
            name,
            "metadata table",
            meta_offset,
            metadata::TABLE_SIZE as u64,
        )?;
        let meta_table = MetadataTable::parse(&tb)
            .map_err(|m| Error::corrupt(name, "metadata table", meta_offset, m))?;
        for e in &meta_table.entries {
            if e.required() && !e.known() {
                return Err(Error::Unsupported {
                    file: name.into(),
                    msg: format!("unknown required metadata item {}", e.item_id),
                });
            }
        }
        let item = |id: &Uuid, what: &'static str, exact: Option<u32>| -> Result<Option<Vec<u8>>> {
            let Some(e) = meta_table.find(id) else {
                return Ok(None);
            };
            let bad = |m: String| Error::corrupt(name, what, meta_offset + e.offset as u64, m);
            if e.length > metadata::MAX_ITEM
                || (e.offset as u64) < metadata::TABLE_SIZE as u64
                || e.offset as u64 + e.length as u64 > meta_len
            {
                return Err(bad(format!(
                    "item of {} bytes at region offset {:#x} lies outside the metadata region",
                    e.length, e.offset
                )));
            }
            if let Some(x) = exact {
                if e.length != x {
                    return Err(bad(format!("item is {} bytes, expected {x}", e.length)));
                }
            }
            Ok(Some(read_vec(
                &*dev,
                name,
                what,
                meta_offset + e.offset as u64,
                e.length as u64,
            )?))
        };
        let need = |v: Option<Vec<u8>>, what: &'static str| {
            v.ok_or_else(|| {
                Error::corrupt(
                    name,
                    "metadata table",
                    meta_offset,
                    format!("required item {what} is missing"),
                )
            })
        };
        let fp = need(
            item(&metadata::FILE_PARAMETERS, "file parameters", Some(8))?,
            "File Parameters",
        )?;
        let vs = need(
            item(&metadata::VIRTUAL_DISK_SIZE, "virtual disk size", Some(8))?,
            "Virtual Disk Size",
        )?;
        let vid = need(
            item(&metadata::VIRTUAL_DISK_ID, "virtual disk id", Some(16))?,
            "Virtual Disk ID",
        )?;
        let ls = need(
            item(
                &metadata::LOGICAL_SECTOR_SIZE,
                "logical sector size",
                Some(4),
            )?,
            "Logical Sector Size",
        )?;
        let ps = need(
            item(
                &metadata::PHYSICAL_SECTOR_SIZE,
                "physical sector size",
                Some(4),
            )?,
            "Physical Sector Size",
        )?;
        let flags = u32_at(&fp, 4);
        let has_parent = flags & 2 != 0;
        let parent_locator = match item(&metadata::PARENT_LOCATOR, "parent locator", None)? {
            Some(b) if has_parent => Some(ParentLocator::parse(&b).map_err(|m| {
                let off = meta_offset
                    + meta_table
                        .find(&metadata::PARENT_LOCATOR)
                        .map_or(0, |e| e.offset as u64);
                Error::corrupt(name, "parent locator", off, m)
            })?),
            _ => None,
        };
        if has_parent && parent_locator.is_none() {
            return Err(Error::corrupt(
                name,
                "metadata table",
                meta_offset,
                "HasParent is set but there is no Parent Locator item",
            ));
        }
        let params = DiskParams {
            block_size: u32_at(&fp, 0),
            leave_block_allocated: flags & 1 != 0,
            has_parent,
            virtual_size: u64_at(&vs, 0),
            virtual_disk_id: guid_at(&vid, 0),
            logical_sector_size: u32_at(&ls, 0),
            physical_sector_size: u32_at(&ps, 0),
            parent_locator,
        };
        params
            .validate()
            .map_err(|m| Error::corrupt(name, "metadata", meta_offset, m))?;
        let geo = Geometry::new(
            params.virtual_size,
            params.block_size,
            params.logical_sector_size,
            has_parent,
        );
        if geo.total_entries * 8 > bat_len {
            return Err(Error::corrupt(
                name,
                "BAT",
                bat_offset,
                format!(
                    "region of {bat_len} bytes cannot hold {} entries",
                    geo.total_entries
                ),
            ));
        }
        let bat_read = round_up(geo.total_entries * 8, 4096).min(bat_len);
        let bb = read_vec(&*dev, name, "BAT", bat_offset, bat_read)?;
        let mut batv: Vec<u64> = bb
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
            .collect();
        batv.resize((round_up(geo.total_entries * 8, 4096) / 8) as usize, 0);
        // Where new blocks go: after everything the file holds.
        let mut end = flen.max(bat_offset + bat_len).max(meta_offset + meta_len);
        end = end.max(header.log_offset.saturating_add(header.log_length as u64));
        for (i, &e) in batv.iter().enumerate().take(geo.total_entries as usize) {
            let be = BatEntry(e);
            if matches!(be.state_bits(), bat::FULLY_PRESENT | bat::PARTIALLY_PRESENT)
                && be.file_offset() < flen
            {
                let sz = if geo.is_bitmap_index(i as u64) {
                    MIB
                } else {
                    geo.block_size
                };
                end = end.max(be.file_offset().saturating_add(sz));
            }
        }
        let file_end = end.checked_next_multiple_of(MIB).ok_or_else(|| {
            Error::corrupt(
                name,
                "header",
                0,
                format!("file structures end at {end:#x}, past 2^64"),
            )
        })?;
        if header.log_guid != Uuid::nil() && writable {
            // Replayed above: clear the log GUID (§2.3.3).
            header.log_guid = Uuid::nil();
            let (h, c) = write_header_pair(&*dev, name, &header, current, None)?;
            header = h;
            current = c;
        }
        let disk = Vhdx {
            name: name.into(),
            path: None,
            dev,
            writable,
            journaled: true,
            ident: pro.ident,
            raw_headers,
            raw_regions,
            regions,
            meta_offset,
            meta_len,
            meta_table,
            params,
            geo,
            bat_offset,
            bat_len,
            state: RwLock::new(State {
                bat: batv,
                dirty: Default::default(),
                file_end,
                header,
                current,
                session_started: false,
                log_active: false,
                log_seq: 0,
                log_head: 0,
                poisoned: false,
            }),
            parent: None,
            log_was_dirty,
            write_lock: Mutex::new(()),
        };
        let mut disk = disk;
        if disk.params.has_parent {
            match opts.parent {
                ParentSource::Skip | ParentSource::Auto => {}
                other => disk.attach_parent(other)?,
            }
        }
        Ok(disk)
    }

    /// Open and verify the parent of a differencing disk.
    pub(crate) fn attach_parent(&mut self, src: ParentSource) -> Result<()> {
        let loc = self
            .params
            .parent_locator
            .clone()
            .expect("differencing disks have a locator");
        let parent = match src {
            ParentSource::Skip => return Ok(()),
            ParentSource::Disk(d) => *d,
            ParentSource::Path(p) => {
                Vhdx::open(&p, OpenOptions::default()).map_err(|e| Error::Parent {
                    file: self.name.clone(),
                    msg: format!("cannot open {}: {e}", p.display()),
                })?
            }
            ParentSource::Auto => {
                let cands = parent_candidates(&loc, self.path.as_deref());
                let Some(p) = cands.iter().find(|p| p.is_file()) else {
                    return Err(Error::Parent {
                        file: self.name.clone(),
                        msg: format!(
                            "parent not found (relative_path {:?}, absolute_win32_path {:?}; tried {})",
                            loc.get("relative_path"),
                            loc.get("absolute_win32_path"),
                            cands.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                        ),
                    });
                };
                Vhdx::open(p, OpenOptions::default()).map_err(|e| Error::Parent {
                    file: self.name.clone(),
                    msg: format!("cannot open {}: {e}", p.display()),
                })?
            }
        };
        let want = loc.parent_linkage();
        let want2 = loc.parent_linkage2();
        let have = parent.data_write_guid();
        if want != Some(have) && want2 != Some(have) {
            return Err(Error::Parent {
                file: self.name.clone(),
                msg: format!(
                    "parent {} has data write GUID {}, but the child's parent_linkage is {}",
                    parent.name,
                    locator::braced(&have),
                    loc.get("parent_linkage").unwrap_or("(missing)")
                ),
            });
        }
        if parent.params.logical_sector_size != self.params.logical_sector_size {
            return Err(Error::Parent {
                file: self.name.clone(),
                msg: format!(
                    "parent logical sector size {} differs from the child's {}",
                    parent.params.logical_sector_size, self.params.logical_sector_size
                ),
            });
        }
        self.parent = Some(Box::new(parent));
        Ok(())
    }

    /// Disk parameters from the metadata region.
    pub fn params(&self) -> &DiskParams {
        &self.params
    }
    /// BAT geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }
    /// Virtual disk size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.params.virtual_size
    }
    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.params.block_size as u64
    }
    /// Logical sector size.
    pub fn logical_sector_size(&self) -> u32 {
        self.params.logical_sector_size
    }
    /// Physical sector size.
    pub fn physical_sector_size(&self) -> u32 {
        self.params.physical_sector_size
    }
    /// BAT region (file offset, length).
    pub fn bat_region(&self) -> (u64, u64) {
        (self.bat_offset, self.bat_len)
    }
    /// Metadata region (file offset, length).
    pub fn metadata_region(&self) -> (u64, u64) {
        (self.meta_offset, self.meta_len)
    }
    /// Dynamic, fixed or differencing.
    pub fn disk_type(&self) -> DiskType {
        if self.params.has_parent {
            DiskType::Differencing
        } else if self.params.leave_block_allocated {
            DiskType::Fixed
        } else {
            DiskType::Dynamic
        }
    }
    /// Creator string.
    pub fn creator(&self) -> &str {
        &self.ident.creator
    }
    /// The current header.
    pub fn header(&self) -> Header {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .header
            .clone()
    }
    /// DataWriteGuid of the current header (what children link to).
    pub fn data_write_guid(&self) -> Uuid {
        self.header().data_write_guid
    }
    /// The log needed replay at open.
    pub fn log_was_dirty(&self) -> bool {
        self.log_was_dirty
    }
    /// The parent, when open.
    pub fn parent(&self) -> Option<&Vhdx> {
        self.parent.as_deref()
    }
    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Size of the container file.
    pub fn file_size(&self) -> u64 {
        self.dev.len()
    }
    /// Payload blocks holding data in this file (fully or partially present).
    pub fn allocated_blocks(&self) -> u64 {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        (0..self.geo.data_blocks)
            .filter(|&i| {
                matches!(
                    BatEntry(st.bat[self.geo.payload_index(i) as usize]).state_bits(),
                    bat::FULLY_PRESENT | bat::PARTIALLY_PRESENT
                )
            })
            .count() as u64
    }
    /// BAT entry of payload block `i`.
    pub fn block_entry(&self, i: u64) -> BatEntry {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        BatEntry(st.bat[self.geo.payload_index(i) as usize])
    }
    /// All BAT entries (total_entries of them).
    pub fn bat_entries(&self) -> Vec<u64> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.bat[..self.geo.total_entries as usize].to_vec()
    }
    /// The container device (the file, or the replayed view of it).
    pub fn container(&self) -> &dyn BlockDev {
        &*self.dev
    }

    /// Does virtual block `i` read as zeros without touching data?
    fn block_known_zero(&self, st: &State, i: u64) -> bool {
        let e = BatEntry(st.bat[self.geo.payload_index(i) as usize]);
        match PayloadState::from_bits(e.state_bits()) {
            // §2.5.1.1 allows zeros for UNDEFINED and UNMAPPED in every
            // disk type; we always return zeros for them.
            Some(PayloadState::Zero | PayloadState::Undefined | PayloadState::Unmapped) => true,
            Some(PayloadState::NotPresent) => match &self.parent {
                None => !self.params.has_parent,
                Some(p) => {
                    let bs = self.block_size();
                    let o = i * bs;
                    let l = bs.min(p.virtual_size().saturating_sub(o));
                    l == 0 || p.known_zero(o, l)
                }
            },
            _ => false,
        }
    }

    fn sector_bitmap(
        &self,
        st: &State,
        block: u64,
        first_sector: u64,
        count: u64,
    ) -> io::Result<Vec<bool>> {
        let chunk = block / self.geo.chunk_ratio;
        let sbe = BatEntry(st.bat[self.geo.bitmap_index(chunk) as usize]);
        if sbe.state_bits() != bat::FULLY_PRESENT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: block {block} is partially present but its sector bitmap is not present",
                    self.name
                ),
            ));
        }
        let spb = self.geo.sectors_per_block();
        let bit0 = (block % self.geo.chunk_ratio) * spb + first_sector;
        let byte0 = bit0 / 8;
        let nbytes = (bit0 + count).div_ceil(8) - byte0;
        let mut b = vec![0u8; nbytes as usize];
        self.read_container(sbe.file_offset().saturating_add(byte0), &mut b)?;
        Ok((0..count)
            .map(|k| {
                let bit = bit0 + k - byte0 * 8;
                b[(bit / 8) as usize] >> (bit % 8) & 1 == 1
            })
            .collect())
    }

    /// Read from the container; the part past the end of the file reads as
    /// zeros (old qemu wrote last blocks that run past EOF).
    fn read_container(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        let len = self.dev.len();
        if off >= len {
            buf.fill(0);
            return Ok(());
        }
        let n = ((len - off) as usize).min(buf.len());
        self.dev.read_at(off, &mut buf[..n])?;
        buf[n..].fill(0);
        Ok(())
    }

    fn read_parent(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        match &self.parent {
            Some(p) => {
                // A parent smaller than the child reads as zeros past its end.
                let pl = p.virtual_size();
                if off >= pl {
                    buf.fill(0);
                    return Ok(());
                }
                let n = ((pl - off) as usize).min(buf.len());
                p.read_at(off, &mut buf[..n])?;
                buf[n..].fill(0);
                Ok(())
            }
            None => Err(io::Error::other(format!(
                "{}: data lives in the parent disk, which is not open",
                self.name
            ))),
        }
    }

    fn read_block_part(
        &self,
        st: &State,
        block: u64,
        within: u64,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let bs = self.block_size();
        let voff = block * bs + within;
        let e = BatEntry(st.bat[self.geo.payload_index(block) as usize]);
        let diff = self.params.has_parent;
        match PayloadState::from_bits(e.state_bits()) {
            Some(PayloadState::FullyPresent) => {
                self.read_container(e.file_offset().saturating_add(within), buf)
            }
            Some(PayloadState::PartiallyPresent) => {
                if !diff {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: block {block} is PARTIALLY_PRESENT in a disk without a parent",
                            self.name
                        ),
                    ));
                }
                let ss = self.geo.logical_sector_size;
                let s0 = within / ss;
                let s1 = (within + buf.len() as u64).div_ceil(ss);
                let bits = self.sector_bitmap(st, block, s0, s1 - s0)?;
                // Runs of equal bits.
                let mut pos = within;
                let end = within + buf.len() as u64;
                while pos < end {
                    let s = pos / ss;
                    let present = bits[(s - s0) as usize];
                    let mut s_end = s + 1;
                    while s_end < s1 && bits[(s_end - s0) as usize] == present {
                        s_end += 1;
                    }
                    let run_end = (s_end * ss).min(end);
                    let dst = &mut buf[(pos - within) as usize..(run_end - within) as usize];
                    if present {
                        self.read_container(e.file_offset().saturating_add(pos), dst)?;
                    } else {
                        self.read_parent(block * bs + pos, dst)?;
                    }
                    pos = run_end;
                }
                Ok(())
            }
            // UNDEFINED and UNMAPPED read as zeros in every disk type (one of
            // the behaviours §2.5.1.1 allows); only NOT_PRESENT falls
            // through to the parent.
            Some(PayloadState::Zero | PayloadState::Undefined | PayloadState::Unmapped) => {
                buf.fill(0);
                Ok(())
            }
            Some(PayloadState::NotPresent) => {
                if diff {
                    self.read_parent(voff, buf)
                } else {
                    buf.fill(0);
                    Ok(())
                }
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: block {block} has the reserved BAT state 4", self.name),
            )),
        }
    }
}

fn opts_shallow(o: &OpenOptions) -> OpenOptions {
    OpenOptions {
        writable: o.writable,
        parent: ParentSource::Skip,
    }
}

/// Candidate parent paths from a locator, in the order §2.6.2.6.3 gives.
pub fn parent_candidates(loc: &ParentLocator, child: Option<&Path>) -> Vec<PathBuf> {
    let dir = child
        .and_then(|c| c.parent())
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    let mut v = Vec::new();
    let to_host = |s: &str| -> String {
        let s = s.strip_prefix("\\\\?\\").unwrap_or(s);
        let s = if s.len() >= 2 && s.as_bytes()[1] == b':' {
            &s[2..]
        } else {
            s
        };
        s.replace('\\', "/")
    };
    if let Some(r) = loc.get("relative_path") {
        v.push(dir.join(r.replace('\\', "/")));
    }
    if let Some(a) = loc.get("absolute_win32_path") {
        let h = to_host(a);
        v.push(PathBuf::from(&h));
        // Also try the file name next to the child.
        if let Some(n) = Path::new(&h).file_name() {
            v.push(dir.join(n));
        }
    }
    v
}

/// Apply log operations to the file (replay in place), extending it to at
/// least `min_len`.
fn apply_ops(dev: &dyn BlockDev, name: &str, ops: &[LogOp], min_len: u64) -> Result<()> {
    let mut need = min_len;
    for op in ops {
        need = need.max(match op {
            LogOp::Data { offset, .. } => offset + 4096,
            LogOp::Zero { offset, length } => offset + length,
        });
    }
    if dev.len() < need {
        dev.set_len(need)
            .map_err(io_err(name, "log replay", need))?;
    }
    for op in ops {
        match op {
            LogOp::Data { offset, data } => {
                dev.write_at(*offset, data)
                    .map_err(io_err(name, "log replay", *offset))?
            }
            LogOp::Zero { offset, length } => {
                let z = vec![0u8; MIB as usize];
                let mut done = 0;
                while done < *length {
                    let n = (*length - done).min(MIB);
                    dev.write_at(offset + done, &z[..n as usize])
                        .map_err(io_err(name, "log replay", offset + done))?;
                    done += n;
                }
            }
        }
    }
    Ok(())
}

/// Write `h` to both header copies (§2.2.2.1): first the non-current copy
/// with a higher sequence number, flush, then the other, flush. Returns the
/// new current header and its index.
pub(crate) fn write_header_pair(
    dev: &dyn BlockDev,
    name: &str,
    h: &Header,
    current: usize,
    _unused: Option<()>,
) -> Result<(Header, usize)> {
    let mut h = h.clone();
    let mut cur = current;
    for _ in 0..2 {
        let target = 1 - cur;
        h.sequence_number += 1;
        let off = header::OFFSETS[target];
        dev.write_at(off, &h.to_bytes())
            .map_err(io_err(name, "header", off))?;
        dev.flush().map_err(io_err(name, "header", off))?;
        cur = target;
    }
    Ok((h, cur))
}

impl Vhdx {
    fn check_write(&self) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                Error::ReadOnly(self.name.clone()).to_string(),
            ));
        }
        Ok(())
    }

    /// First modification of this open: new FileWriteGuid and
    /// DataWriteGuid (§2.2.2).
    fn start_session(&self, st: &mut State) -> Result<()> {
        if st.session_started || !self.journaled {
            st.session_started = true;
            return Ok(());
        }
        let mut h = st.header.clone();
        h.file_write_guid = Uuid::new_v4();
        h.data_write_guid = Uuid::new_v4();
        let (h, c) = write_header_pair(&*self.dev, &self.name, &h, st.current, None)?;
        st.header = h;
        st.current = c;
        st.session_started = true;
        Ok(())
    }

    /// Allocate `len` bytes (1 MiB multiple) at the end of the file.
    fn allocate(&self, st: &mut State, len: u64) -> io::Result<u64> {
        let off = st.file_end;
        let end = off + len;
        if self.dev.len() < end {
            self.dev.set_len(end)?;
        }
        st.file_end = end;
        Ok(off)
    }

    fn set_bat(&self, st: &mut State, idx: u64, e: BatEntry) {
        st.bat[idx as usize] = e.0;
        st.dirty.insert(idx);
    }

    /// Write the dirty BAT sectors: through the log when journaled, in
    /// place otherwise.
    pub(crate) fn commit(&self, st: &mut State) -> Result<()> {
        if st.dirty.is_empty() {
            return Ok(());
        }
        let sectors: std::collections::BTreeSet<u64> =
            st.dirty.iter().map(|i| i * 8 / 4096).collect();
        let updates: Vec<(u64, Vec<u8>)> = sectors
            .iter()
            .map(|&s| {
                let b: Vec<u8> = st.bat[(s * 512) as usize..(s * 512 + 512) as usize]
                    .iter()
                    .flat_map(|e| e.to_le_bytes())
                    .collect();
                (self.bat_offset + s * 4096, b)
            })
            .collect();
        self.write_metadata(st, &updates)?;
        st.dirty.clear();
        Ok(())
    }

    /// Update metadata sectors (4 KiB aligned, 4 KiB each).
    pub(crate) fn write_metadata(&self, st: &mut State, updates: &[(u64, Vec<u8>)]) -> Result<()> {
        let name = &self.name;
        if !self.journaled {
            for (off, b) in updates {
                self.dev
                    .write_at(*off, b)
                    .map_err(io_err(name, "BAT", *off))?;
            }
            return Ok(());
        }
        let hdr = st.header.clone();
        let log_len = hdr.log_length as u64;
        if log_len < MIB || hdr.log_offset < MIB || hdr.log_offset % MIB != 0 {
            return Err(Error::Unsupported {
                file: name.clone(),
                msg: format!(
                    "cannot journal updates: log of {log_len} bytes at {:#x}",
                    hdr.log_offset
                ),
            });
        }
        // Payload data and sector bitmaps first: the BAT must never point at
        // data that is not on disk.
        self.dev.flush().map_err(io_err(name, "payload", 0))?;
        // The first entry of a session is written (and flushed) under a
        // fresh log GUID *before* the header names that GUID: a crash in
        // between leaves a clean header that ignores the entry (nothing was
        // applied in place yet), never a header naming a GUID that no valid
        // entry carries.
        let mut pending_guid = None;
        if !st.log_active {
            pending_guid = Some(Uuid::new_v4());
            st.log_seq = 1;
            st.log_head = 0;
        }
        // An entry never exceeds a third of the log, so writing one never
        // overwrites the entry before it (see DESIGN in lib.rs docs).
        let max_data = ((log_len / 3) as usize / 4096)
            .saturating_sub(1)
            .clamp(1, 120);
        for chunk in updates.chunks(max_data) {
            let ops: Vec<LogOp> = chunk
                .iter()
                .map(|(o, b)| LogOp::Data {
                    offset: *o,
                    data: b.clone().into_boxed_slice(),
                })
                .collect();
            let elen = log::entry_len(ops.len(), 0) as u64;
            if st.log_head + elen > log_len {
                st.log_head = 0;
            }
            let flushed = self.dev.len() / MIB * MIB;
            let last = round_up(self.dev.len().max(st.file_end), MIB);
            let guid = pending_guid.unwrap_or(st.header.log_guid);
            let entry = log::build_entry(&guid, st.log_seq, st.log_head, flushed, last, &ops);
            let eoff = st.header.log_offset + st.log_head;
            self.dev
                .write_at(eoff, &entry)
                .map_err(io_err(name, "log", eoff))?;
            self.dev.flush().map_err(io_err(name, "log", eoff))?;
            if let Some(g) = pending_guid.take() {
                let mut h = st.header.clone();
                h.log_guid = g;
                let (h, c) = write_header_pair(&*self.dev, name, &h, st.current, None)?;
                st.header = h;
                st.current = c;
                st.log_active = true;
            }
            for (o, b) in chunk {
                self.dev.write_at(*o, b).map_err(io_err(name, "BAT", *o))?;
            }
            self.dev
                .flush()
                .map_err(io_err(name, "BAT", self.bat_offset))?;
            st.log_head += elen;
            st.log_seq += 1;
        }
        Ok(())
    }

    /// Flush and, if the log was used, mark it empty again. The disk stays
    /// usable.
    pub fn close(&self) -> Result<()> {
        let _w = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if !self.writable || st.poisoned {
            return Ok(());
        }
        self.commit(&mut st)?;
        self.dev.flush().map_err(io_err(&self.name, "file", 0))?;
        if st.log_active {
            let mut h = st.header.clone();
            h.log_guid = Uuid::nil();
            let (h, c) = write_header_pair(&*self.dev, &self.name, &h, st.current, None)?;
            st.header = h;
            st.current = c;
            st.log_active = false;
        }
        Ok(())
    }

    fn write_block_part(&self, st: &mut State, block: u64, within: u64, data: &[u8]) -> Result<()> {
        let name = &self.name;
        let bs = self.block_size();
        let pidx = self.geo.payload_index(block);
        let e = BatEntry(st.bat[pidx as usize]);
        let state = PayloadState::from_bits(e.state_bits());
        let diff = self.params.has_parent;
        if matches!(
            state,
            Some(PayloadState::FullyPresent | PayloadState::PartiallyPresent)
        ) && (e.file_offset() < MIB || e.file_offset().saturating_add(bs) > st.file_end)
        {
            return Err(Error::corrupt(
                name,
                "BAT",
                self.bat_offset + pidx * 8,
                format!(
                    "block {block} points at {:#x}, outside the file",
                    e.file_offset()
                ),
            ));
        }
        match state {
            Some(PayloadState::FullyPresent) => {
                let o = e.file_offset() + within;
                self.ensure_container(o + data.len() as u64)?;
                self.dev
                    .write_at(o, data)
                    .map_err(io_err(name, "payload block", o))?;
            }
            Some(PayloadState::PartiallyPresent) if diff => {
                let o = e.file_offset() + within;
                self.dev
                    .write_at(o, data)
                    .map_err(io_err(name, "payload block", o))?;
                self.set_bitmap_bits(st, block, within, data.len() as u64)?;
            }
            None | Some(PayloadState::PartiallyPresent) => {
                return Err(Error::corrupt(
                    name,
                    "BAT",
                    self.bat_offset + pidx * 8,
                    format!("block {block} has state {} in this disk", e.state_bits()),
                ));
            }
            Some(s) => {
                // Unallocated. Zeros into a block that reads as zeros stay
                // unallocated.
                let reads_zero = !diff || s != PayloadState::NotPresent;
                if reads_zero && blockdev::is_zero(data) {
                    return Ok(());
                }
                if !st.session_started {
                    self.start_session(st)?;
                }
                let off =
                    self.allocate(st, bs)
                        .map_err(io_err(name, "payload block", st.file_end))?;
                self.dev.write_at(off + within, data).map_err(io_err(
                    name,
                    "payload block",
                    off + within,
                ))?;
                let full =
                    within == 0 && data.len() as u64 == bs.min(self.virtual_size() - block * bs);
                if diff && !reads_zero && !full {
                    self.set_bat(st, pidx, BatEntry::new(bat::PARTIALLY_PRESENT, off));
                    self.set_bitmap_bits(st, block, within, data.len() as u64)?;
                } else {
                    self.set_bat(st, pidx, BatEntry::new(bat::FULLY_PRESENT, off));
                }
            }
        }
        Ok(())
    }

    fn ensure_container(&self, end: u64) -> Result<()> {
        if self.dev.len() < end {
            self.dev.set_len(round_up(end, MIB)).map_err(io_err(
                &self.name,
                "payload block",
                end,
            ))?;
        }
        Ok(())
    }

    fn set_bitmap_bits(&self, st: &mut State, block: u64, within: u64, len: u64) -> Result<()> {
        let name = &self.name;
        let chunk = block / self.geo.chunk_ratio;
        let sidx = self.geo.bitmap_index(chunk);
        let mut sbe = BatEntry(st.bat[sidx as usize]);
        if sbe.state_bits() == bat::FULLY_PRESENT
            && (sbe.file_offset() < MIB || sbe.file_offset().saturating_add(MIB) > st.file_end)
        {
            return Err(Error::corrupt(
                name,
                "BAT",
                self.bat_offset + sidx * 8,
                format!("sector bitmap of chunk {chunk} points outside the file"),
            ));
        }
        if sbe.state_bits() != bat::FULLY_PRESENT {
            let off = self
                .allocate(st, MIB)
                .map_err(io_err(name, "sector bitmap", st.file_end))?;
            sbe = BatEntry::new(bat::FULLY_PRESENT, off);
            self.set_bat(st, sidx, sbe);
        }
        let ss = self.geo.logical_sector_size;
        let spb = self.geo.sectors_per_block();
        let first = (block % self.geo.chunk_ratio) * spb + within / ss;
        let count = (within + len).div_ceil(ss) - within / ss;
        let b0 = first / 8;
        let b1 = (first + count).div_ceil(8);
        let mut bytes = vec![0u8; (b1 - b0) as usize];
        let o = sbe.file_offset() + b0;
        self.read_container(o, &mut bytes)
            .map_err(io_err(name, "sector bitmap", o))?;
        for k in first..first + count {
            let bit = k - b0 * 8;
            bytes[(bit / 8) as usize] |= 1 << (bit % 8);
        }
        self.dev
            .write_at(o, &bytes)
            .map_err(io_err(name, "sector bitmap", o))?;
        Ok(())
    }

    /// Write to the virtual disk (the body of [`BlockDev::write_at`]).
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly(self.name.clone()));
        }
        blockdev::check_range(self.virtual_size(), offset, buf.len(), true)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let _w = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Differencing disks track presence per logical sector: widen
        // partial-sector writes with the current contents.
        if self.params.has_parent {
            let ss = self.geo.logical_sector_size;
            if offset % ss != 0 || (offset + buf.len() as u64) % ss != 0 {
                let a0 = offset / ss * ss;
                let a1 = round_up(offset + buf.len() as u64, ss).min(self.virtual_size());
                let mut wide = vec![0u8; (a1 - a0) as usize];
                self.read_at(a0, &mut wide)
                    .map_err(io_err(&self.name, "virtual disk", a0))?;
                wide[(offset - a0) as usize..(offset - a0) as usize + buf.len()]
                    .copy_from_slice(buf);
                return self.write_aligned(a0, &wide);
            }
        }
        self.write_aligned(offset, buf)
    }

    fn write_aligned(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if st.poisoned {
            return Err(Error::Unsupported {
                file: self.name.clone(),
                msg: "an earlier write failed; reopen the disk".into(),
            });
        }
        if !st.session_started {
            self.start_session(&mut st)?;
        }
        let bs = self.block_size();
        let mut pos = 0usize;
        let r = (|| {
            while pos < buf.len() {
                let off = offset + pos as u64;
                let block = off / bs;
                let within = off % bs;
                let n = ((bs - within) as usize).min(buf.len() - pos);
                self.write_block_part(&mut st, block, within, &buf[pos..pos + n])?;
                pos += n;
            }
            // Bound the uncommitted BAT updates.
            if st.dirty.len() > 4096 {
                self.commit(&mut st)?;
            }
            Ok(())
        })();
        if r.is_err() {
            st.poisoned = true;
        }
        r
    }

    /// Commit metadata and flush the file (the body of [`BlockDev::flush`]).
    pub fn sync(&self) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        let _w = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        self.commit(&mut st)?;
        self.dev.flush().map_err(io_err(&self.name, "file", 0))
    }
}

impl BlockDev for Vhdx {
    fn len(&self) -> u64 {
        self.params.virtual_size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        blockdev::check_range(self.virtual_size(), offset, buf.len(), false)?;
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let bs = self.block_size();
        let mut pos = 0usize;
        while pos < buf.len() {
            let off = offset + pos as u64;
            let block = off / bs;
            let within = off % bs;
            let n = ((bs - within) as usize).min(buf.len() - pos);
            self.read_block_part(&st, block, within, &mut buf[pos..pos + n])?;
            pos += n;
        }
        Ok(())
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.check_write()?;
        self.write(offset, buf).map_err(Into::into)
    }
    fn flush(&self) -> io::Result<()> {
        self.sync().map_err(Into::into)
    }
    fn is_read_only(&self) -> bool {
        !self.writable
    }
    fn known_zero(&self, offset: u64, len: u64) -> bool {
        let Some(end) = offset.checked_add(len) else {
            return false;
        };
        if end > self.virtual_size() || len == 0 {
            return len == 0;
        }
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let bs = self.block_size();
        (offset / bs..end.div_ceil(bs)).all(|b| self.block_known_zero(&st, b))
    }
}

impl Drop for Vhdx {
    fn drop(&mut self) {
        if self.writable {
            let _ = self.close();
        }
    }
}
