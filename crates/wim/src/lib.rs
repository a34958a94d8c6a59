//! Reading of WIM archives (Windows Imaging Format), as written by WIMGAPI,
//! DISM and wimlib, with chunk-parallel decompression.
//!
//! Layout follows gimli-rs/`object`: on-disk structures and constants in
//! [`format`], parsing split by concept under [`read`], codecs under
//! [`codec`].

pub mod codec;
