//! MS-VHDX v1.0 virtual disks: open (with log replay, in memory for
//! read-only opens), read, write (journaled metadata for in-place edits),
//! create (dynamic, fixed, differencing), check and convert.
//!
//! One module per on-disk structure:
//! - [`ident`]: file type identifier (§2.2.1)
//! - [`header`]: the two headers (§2.2.2)
//! - [`region`]: the region tables (§2.2.3)
//! - [`log`]: log entries and replay (§2.3)
//! - [`bat`]: block allocation table and states (§2.5)
//! - [`metadata`]: metadata region and system items (§2.6)
//! - [`locator`]: parent locator (§2.6.2.6)
//!
//! [`Vhdx`] implements [`blockdev::BlockDev`] over the virtual disk.
//!
//! Journaling design: when an existing file is modified in place, payload
//! data is written to newly allocated blocks first and flushed; then the
//! changed 4 KiB BAT sectors are written as one self-contained log entry
//! (its tail points at itself), flushed, and only then written in place.
//! An entry is at most a third of the log, so a new entry never overwrites
//! the previous one; the newest valid entry is therefore always either
//! already applied or safe to apply, and replay is idempotent. The log GUID
//! is set on the first metadata update of a session and cleared on
//! [`Vhdx::close`] (or drop).

pub mod bat;
pub mod check;
pub mod convert;
mod create;
mod disk;
mod error;
pub mod header;
pub mod ident;
pub mod locator;
pub mod log;
pub mod metadata;
mod overlay;
pub mod region;
mod util;

pub use create::{
    parent_info_for, CreateKind, CreateOptions, ParentInfo, CREATOR, DEFAULT_BLOCK_SIZE,
};
pub use disk::{parent_candidates, DiskType, OpenOptions, ParentSource, Vhdx};
pub use error::{Error, Result};
pub use overlay::Overlay;
pub use util::GuidSource;

use std::path::Path;

/// Create a VHDX at `path` atomically: it is built under a temporary name
/// in the same directory, `fill` writes the virtual disk contents, and the
/// file is renamed into place only when everything succeeded. For
/// differencing disks pass the opened parent.
pub fn create_file<F>(
    path: impl AsRef<Path>,
    opts: &CreateOptions,
    parent: Option<Vhdx>,
    fill: F,
) -> Result<()>
where
    F: FnOnce(&Vhdx) -> Result<()>,
{
    let path = path.as_ref();
    let name = path.display().to_string();
    let tmp = blockdev::AtomicFile::create(path).map_err(|e| Error::Io {
        file: name.clone(),
        structure: "output file",
        offset: 0,
        source: e,
    })?;
    let f = tmp.file().map_err(|e| Error::Io {
        file: name.clone(),
        structure: "output file",
        offset: 0,
        source: e,
    })?;
    let dev = blockdev::FileDev::from_file(f, tmp.temp_path(), false).map_err(|e| Error::Io {
        file: name.clone(),
        structure: "output file",
        offset: 0,
        source: e,
    })?;
    let mut d = Vhdx::create_on(Box::new(dev), &name, opts)?;
    if let Some(p) = parent {
        d.set_parent(p)?;
    }
    fill(&d)?;
    d.close()?;
    drop(d);
    tmp.commit().map_err(|e| Error::Io {
        file: name,
        structure: "output file",
        offset: 0,
        source: e,
    })
}
