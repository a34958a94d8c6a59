//! Reading of WIM archives (Windows Imaging Format), as written by WIMGAPI,
//! DISM and wimlib, with chunk-parallel decompression.
//!
//! Layout follows gimli-rs/`object`: on-disk constants in [`format`],
//! parsing split by concept under [`read`], codecs under [`codec`], the
//! parallel blob streaming pipeline in [`pipeline`], and apply backends
//! (sinks for an image's files) under [`apply`], separate from the source
//! as in wimlib.

pub mod apply;
pub mod bytes;
pub mod codec;
pub mod error;
pub mod format;
pub mod pipeline;
pub mod read;
pub mod verify;
pub mod write;

pub use error::{Error, FormatError, FormatErrorKind, Result};
pub use read::image::Image;
pub use read::Wim;
