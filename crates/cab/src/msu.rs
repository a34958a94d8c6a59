//! Microsoft Update Standalone Packages (.msu): a cabinet whose files are
//! cabinets (the package cabinet with update.mum, WSUSSCAN.cab) plus small
//! text and XML descriptions.

use crate::cabinet::Cabinet;
use crate::error::{Error, Result};
use crate::file::FileEntry;
use crate::mum::PackageInfo;
use std::path::Path;

/// An opened .msu.
pub struct Msu {
    outer: Cabinet,
}

impl Msu {
    pub fn open(path: impl AsRef<Path>) -> Result<Msu> {
        Ok(Msu {
            outer: Cabinet::open(path)?,
        })
    }

    /// The outer cabinet.
    pub fn cabinet(&self) -> &Cabinet {
        &self.outer
    }

    /// The files of the outer cabinet that are cabinets themselves (by
    /// name, `*.cab`).
    pub fn inner_cabinets(&self) -> Vec<&FileEntry> {
        self.outer
            .files()
            .iter()
            .filter(|f| f.name.to_ascii_lowercase().ends_with(".cab"))
            .collect()
    }

    /// Open one inner cabinet (decompressed into memory).
    pub fn open_inner(&self, entry: &FileEntry) -> Result<Cabinet> {
        let bytes = self.outer.read_file(entry)?;
        Cabinet::from_bytes(&format!("{}!{}", self.outer.name(), entry.name), bytes)
    }

    /// The package cabinet: the first inner cabinet that holds an
    /// `update.mum` (WSUSSCAN.cab is tried last), with its name.
    pub fn package_cabinet(&self) -> Result<(String, Cabinet)> {
        let mut inner = self.inner_cabinets();
        inner.sort_by_key(|f| f.name.eq_ignore_ascii_case("WSUSSCAN.cab"));
        for f in inner {
            let cab = self.open_inner(f)?;
            if cab.find("update.mum").is_some() {
                return Ok((f.name.clone(), cab));
            }
        }
        Err(Error::Package {
            file: self.outer.name().to_string(),
            what: "no inner cabinet holds an update.mum".into(),
        })
    }

    /// The package manifest of the package cabinet.
    pub fn package_info(&self) -> Result<PackageInfo> {
        let (_, cab) = self.package_cabinet()?;
        PackageInfo::from_cab(&cab)
    }
}

/// Whether `path` looks like an MSU: a cabinet whose files include at least
/// one `*.cab` and no `update.mum` of its own.
pub fn looks_like_msu(cab: &Cabinet) -> bool {
    cab.find("update.mum").is_none()
        && cab
            .files()
            .iter()
            .any(|f| f.name.to_ascii_lowercase().ends_with(".cab"))
}
