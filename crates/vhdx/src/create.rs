//! Creating new VHDX files in the Windows layout: header section, log
//! (1 MiB @ 1 MiB), metadata (1 MiB @ 2 MiB), BAT (@ 3 MiB, 1 MiB
//! multiple), then payload blocks; the file ends at the last block.

use crate::bat::{self, BatEntry, Geometry};
use crate::disk::{io_err, OpenOptions, ParentSource, Vhdx};
use crate::error::{Error, Result};
use crate::header::{self, Header};
use crate::ident::FileIdentifier;
use crate::locator::{self, ParentLocator};
use crate::metadata::{self, DiskParams};
use crate::region::{self, RegionEntry, RegionTable};
use crate::util::*;
use blockdev::BlockDev;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Default payload block size (what Windows uses): 32 MiB.
pub const DEFAULT_BLOCK_SIZE: u32 = 32 << 20;
/// Creator string written into new files.
pub const CREATOR: &str = concat!("wimforge ", env!("CARGO_PKG_VERSION"));

/// Kind of disk to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreateKind {
    /// Blocks allocated on write.
    #[default]
    Dynamic,
    /// Every block allocated, contiguous, LeaveBlockAllocated.
    Fixed,
    /// A child of a parent disk.
    Differencing,
}

/// Parent information for a differencing disk.
#[derive(Debug, Clone)]
pub struct ParentInfo {
    /// The parent's DataWriteGuid (becomes `parent_linkage`).
    pub data_write_guid: Uuid,
    /// Virtual size of the parent (the child gets the same).
    pub virtual_size: u64,
    /// Logical sector size of the parent (the child must match).
    pub logical_sector_size: u32,
    /// `relative_path` value (backslashes).
    pub relative_path: String,
    /// `absolute_win32_path` value.
    pub absolute_win32_path: String,
}

/// What to create.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Virtual size in bytes (ignored for differencing disks: the parent's).
    pub size: u64,
    /// Disk kind.
    pub kind: CreateKind,
    /// Payload block size, power of two in 1..=256 MiB.
    pub block_size: u32,
    /// 512 or 4096.
    pub logical_sector_size: u32,
    /// 512 or 4096.
    pub physical_sector_size: u32,
    /// Source of the new GUIDs.
    pub guids: GuidSource,
    /// Creator string.
    pub creator: String,
    /// For differencing disks.
    pub parent: Option<ParentInfo>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            size: 0,
            kind: CreateKind::Dynamic,
            block_size: DEFAULT_BLOCK_SIZE,
            logical_sector_size: 512,
            physical_sector_size: 4096,
            guids: GuidSource::Random,
            creator: CREATOR.into(),
            parent: None,
        }
    }
}

/// Fixed layout offsets.
pub const LOG_OFFSET: u64 = MIB;
/// Log length.
pub const LOG_LENGTH: u64 = MIB;
/// Metadata region offset.
pub const METADATA_OFFSET: u64 = 2 * MIB;
/// Metadata region length.
pub const METADATA_LENGTH: u64 = MIB;
/// BAT region offset.
pub const BAT_OFFSET: u64 = 3 * MIB;

/// Build a parent locator for a parent at `parent` seen from a child at
/// `child`.
pub fn parent_info_for(parent: &Vhdx, parent_path: &Path, child_path: &Path) -> ParentInfo {
    let abs = std::path::absolute(parent_path).unwrap_or_else(|_| parent_path.to_path_buf());
    let child_abs = std::path::absolute(child_path).unwrap_or_else(|_| child_path.to_path_buf());
    let child_dir = child_abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let rel = relative_path(&abs, &child_dir);
    ParentInfo {
        data_write_guid: parent.data_write_guid(),
        virtual_size: parent.virtual_size(),
        logical_sector_size: parent.logical_sector_size(),
        relative_path: rel,
        absolute_win32_path: abs.display().to_string().replace('/', "\\"),
    }
}

/// `target` relative to directory `base`, Windows style (`.\x`, `..\d\x`).
fn relative_path(target: &Path, base: &Path) -> String {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = Vec::new();
    if common == b.len() {
        parts.push(".".into());
    }
    for _ in common..b.len() {
        parts.push("..".into());
    }
    for c in &t[common..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    parts.join("\\")
}

impl Vhdx {
    /// Create a new VHDX on `dev` (which is resized as needed) and return it
    /// open read-write. Metadata is written directly, not journaled: the
    /// file is new, and the caller renames it into place when complete.
    pub fn create_on(dev: Box<dyn BlockDev>, name: &str, opts: &CreateOptions) -> Result<Vhdx> {
        let diff = opts.kind == CreateKind::Differencing;
        let (size, logical) = match (&opts.parent, diff) {
            (Some(p), true) => (p.virtual_size, p.logical_sector_size),
            (None, true) => {
                return Err(Error::InvalidArgument(
                    "a differencing disk needs a parent".into(),
                ))
            }
            _ => (opts.size, opts.logical_sector_size),
        };
        let parent_locator = match (&opts.parent, diff) {
            (Some(p), true) => {
                let mut kv = vec![(
                    "parent_linkage".to_string(),
                    locator::braced(&p.data_write_guid),
                )];
                if !p.relative_path.is_empty() {
                    kv.push(("relative_path".into(), p.relative_path.clone()));
                }
                if !p.absolute_win32_path.is_empty() {
                    kv.push(("absolute_win32_path".into(), p.absolute_win32_path.clone()));
                }
                Some(ParentLocator::new(kv))
            }
            _ => None,
        };
        let params = DiskParams {
            block_size: opts.block_size,
            leave_block_allocated: opts.kind == CreateKind::Fixed,
            has_parent: diff,
            virtual_size: size,
            virtual_disk_id: opts.guids.guid("virtual-disk-id"),
            logical_sector_size: logical,
            physical_sector_size: opts.physical_sector_size,
            parent_locator,
        };
        params.validate().map_err(Error::InvalidArgument)?;
        let geo = Geometry::new(size, params.block_size, logical, diff);
        let bat_len = geo.bat_region_len();
        if bat_len > u32::MAX as u64 / 2 {
            return Err(Error::InvalidArgument("BAT too large".into()));
        }
        let first_block = BAT_OFFSET + bat_len;
        let bs = geo.block_size;
        let mut batv = vec![0u64; (round_up(geo.total_entries * 8, 4096) / 8) as usize];
        let file_len = if opts.kind == CreateKind::Fixed {
            for i in 0..geo.data_blocks {
                batv[geo.payload_index(i) as usize] =
                    BatEntry::new(bat::FULLY_PRESENT, first_block + i * bs).0;
            }
            first_block + geo.data_blocks * bs
        } else {
            first_block
        };
        dev.set_len(0).ok();
        dev.set_len(file_len)
            .map_err(io_err(name, "file", file_len))?;
        let w = |off: u64, b: &[u8], what: &'static str| {
            dev.write_at(off, b).map_err(io_err(name, what, off))
        };
        w(
            0,
            &FileIdentifier {
                creator: opts.creator.clone(),
            }
            .to_bytes(),
            "file type identifier",
        )?;
        let h = Header {
            sequence_number: 0,
            file_write_guid: opts.guids.guid("file-write-guid"),
            data_write_guid: opts.guids.guid("data-write-guid"),
            log_guid: Uuid::nil(),
            log_version: 0,
            version: 1,
            log_length: LOG_LENGTH as u32,
            log_offset: LOG_OFFSET,
        };
        let mut h1 = h.clone();
        h1.sequence_number = 1;
        let mut h2 = h.clone();
        h2.sequence_number = 2;
        w(header::OFFSETS[0], &h1.to_bytes(), "header")?;
        w(header::OFFSETS[1], &h2.to_bytes(), "header")?;
        let rt = RegionTable {
            entries: vec![
                RegionEntry {
                    guid: region::BAT_GUID,
                    file_offset: BAT_OFFSET,
                    length: bat_len as u32,
                    required: true,
                },
                RegionEntry {
                    guid: region::METADATA_GUID,
                    file_offset: METADATA_OFFSET,
                    length: METADATA_LENGTH as u32,
                    required: true,
                },
            ],
        };
        let rtb = rt.to_bytes();
        w(region::OFFSETS[0], &rtb, "region table")?;
        w(region::OFFSETS[1], &rtb, "region table")?;
        let (mt, items) = params.build();
        w(METADATA_OFFSET, &mt.to_bytes(), "metadata table")?;
        w(
            METADATA_OFFSET + metadata::TABLE_SIZE as u64,
            &items,
            "metadata items",
        )?;
        let batb: Vec<u8> = batv.iter().flat_map(|e| e.to_le_bytes()).collect();
        // Only the non-zero part needs writing (the file is fresh).
        if batv.iter().any(|&e| e != 0) {
            w(BAT_OFFSET, &batb, "BAT")?;
        }
        let mut d = Vhdx::open_dev(
            dev,
            name,
            OpenOptions {
                writable: true,
                parent: ParentSource::Skip,
            },
        )?;
        d.journaled = false;
        Ok(d)
    }

    /// Create a VHDX file at `path` directly (no temp-and-rename; see
    /// [`crate::create_file`] for the atomic form).
    pub fn create(path: impl AsRef<Path>, opts: &CreateOptions) -> Result<Vhdx> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let dev = blockdev::FileDev::create(path, 0).map_err(io_err(&name, "file", 0))?;
        let mut d = Vhdx::create_on(Box::new(dev), &name, opts)?;
        d.path = Some(PathBuf::from(path));
        Ok(d)
    }

    /// Attach the parent to a freshly created differencing disk.
    pub fn set_parent(&mut self, parent: Vhdx) -> Result<()> {
        self.attach_parent(ParentSource::Disk(Box::new(parent)))
    }
}
