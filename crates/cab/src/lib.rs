//! Microsoft Cabinet files (MS-CAB) and Windows servicing packages.
//!
//! * [`Cabinet`] reads a cabinet, or a whole multi-cabinet set (folders that
//!   continue into the next cabinet file are joined), lists its files and
//!   decompresses them: uncompressed, MSZIP, LZX (windows 2^15..2^21) and
//!   Quantum folders, every CFDATA checksum verified, each folder decoded
//!   once, front to back.
//! * [`Cabinet::extract_all`] writes the files below a destination directory
//!   and never outside it.
//! * [`msu`] opens `.msu` files (a cabinet of cabinets) and [`mum`] parses the
//!   `update.mum` package manifest and checks applicability to an image.
//!
//! Format facts: `shared/research/nano.md` §3 and \[MS-CAB\]; every structure
//! has its own module. All sizes and offsets from the file are checked before
//! use; errors name the file, the offset and the structure.

pub mod cabinet;
pub mod codec;
pub mod data;
pub mod error;
pub mod extract;
pub mod file;
pub mod folder;
pub mod format;
pub mod header;
pub mod msu;
pub mod mum;
mod source;
pub mod write;
pub mod xmlwalk;

pub use cabinet::{Cabinet, FolderInfo};
pub use error::{Error, Result};
pub use extract::{ExtractSummary, Sink};
pub use file::FileEntry;
pub use folder::Compression;
pub use msu::Msu;
pub use mum::{applicability, PackageInfo, Warning};
