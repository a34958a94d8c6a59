//! Windows registry hives (regf format 1.3 and 1.5 as Windows writes them):
//! read, edit and write offline; recover dirty hives from their `.LOG1` /
//! `.LOG2` transaction logs; decode BCD stores.
//!
//! Structure follows the regf specification (Maxim Suhanov, "Windows
//! registry file format specification"), one module per structure:
//! [`base`] (base block), [`hbin`] (hive bins), [`cell`] (cells, the one
//! bounds-checked accessor), [`nk`], [`vk`], [`sk`], [`list`] (li/lf/lh/ri),
//! [`db`] (big data), [`log`] (transaction logs, old and new formats) with
//! [`marvin`] (the log hash); [`read`] builds the [`Hive`] model, [`write`]
//! serialises it, [`value`] handles REG_* types and [`bcd`] decodes BCD
//! stores.
//!
//! # Why our own code (evaluation, 2026-11)
//!
//! * `regf` (peitaosu, 0.2, MIT): a young hive *builder* — it creates hives
//!   from scratch and imports/exports .reg, but does not edit an existing
//!   Windows hive in place, defaults to format 1.6, does not put the root
//!   key first (regipy cannot read its output), writes "lh" lists even for
//!   keys without subkeys, and has no transaction-log replay. Not sound for
//!   editing real SYSTEM/SOFTWARE/BCD hives.
//! * `nt-hive` (Colin Finck, 0.3): read-only by design, and GPL-2.0-or-later,
//!   which our MIT OR Apache-2.0 licence cannot take.
//! * `notatin` (Apache-2.0): a forensic read-only parser (good log replay and
//!   deleted-cell recovery), no writer.
//!
//! None of them both reads Windows' hives with their logs and writes hives
//! Windows accepts, so this crate implements the format itself (no code
//! copied from any of them).
//!
//! # Model and writing
//!
//! A hive is parsed into a tree ([`Key`], [`Value`]); security descriptors
//! are shared (`Arc`) and written once each with a reference count; class
//! names, flags, timestamps, value flags and unknown value types are kept
//! byte-exact. Writing serialises the whole tree into a fresh, compact
//! image (root key first, sorted subkey lists with correct hashes, big data
//! for long values in 1.4+), clean (equal sequence numbers, valid checksum),
//! to a temporary file renamed over the target when complete. Because every
//! write compacts, space freed by deletions is always reused; cells are not
//! edited in place.
//!
//! # Hostile input
//!
//! [`Hive::from_bytes`] is the fuzz entry point: it never panics, checks
//! every size against its cell before allocating, refuses cycles and nesting
//! beyond 512 levels, and reports [`Error`]s naming the file offset and the
//! structure.

pub mod base;
pub mod bcd;
pub mod cell;
pub mod db;
pub mod error;
pub mod hbin;
pub mod list;
pub mod log;
pub mod marvin;
pub mod model;
pub mod name;
pub mod nk;
pub mod read;
pub mod sk;
pub mod value;
pub mod vk;
pub mod write;

pub use error::{Error, ErrorKind, Result};
pub use model::{Hive, Key, Value};

use std::path::{Path, PathBuf};

/// The transaction log files Windows keeps beside a hive.
pub fn log_paths(hive: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for ext in ["LOG1", "LOG2", "LOG", "log1", "log2", "log"] {
        let mut s = hive.as_os_str().to_owned();
        s.push(".");
        s.push(ext);
        let p = PathBuf::from(s);
        if p.is_file() && !out.iter().any(|q: &PathBuf| same_file(q, &p)) {
            out.push(p);
        }
    }
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

impl Hive {
    /// Parse a hive image (the fuzz-friendly entry point). A dirty image is
    /// read as it is; see [`Hive::from_bytes_with_logs`].
    pub fn from_bytes(data: &[u8]) -> Result<Hive> {
        read::parse(data)
    }

    /// Parse a hive image after recovering it with its log images when it
    /// is dirty.
    pub fn from_bytes_with_logs(data: &[u8], logs: &[&[u8]]) -> Result<Hive> {
        match log::recover(data, logs)? {
            Some((img, note)) => {
                let mut h = read::parse(&img)?;
                h.recovered = Some(note);
                Ok(h)
            }
            None => {
                let mut h = read::parse(data)?;
                if base::BaseBlock::parse(data, false).is_ok_and(|b| b.is_dirty()) {
                    h.recovered =
                        Some("dirty hive without a usable transaction log: read as it is".into());
                }
                Ok(h)
            }
        }
    }

    /// Open a hive file, replaying its `.LOG1`/`.LOG2` when it is dirty.
    /// Errors name the file.
    pub fn open(path: &Path) -> Result<Hive> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mut logs = Vec::new();
        for p in log_paths(path) {
            logs.push(std::fs::read(&p).map_err(|e| Error::io(&p, e))?);
        }
        let refs: Vec<&[u8]> = logs.iter().map(|l| l.as_slice()).collect();
        Hive::from_bytes_with_logs(&data, &refs).map_err(|e| e.in_file(path))
    }

    /// The clean image of this hive (sequence numbers one past the source's).
    pub fn to_bytes(&self) -> Vec<u8> {
        write::serialize(self, self.seq.wrapping_add(1), model::now_filetime())
    }

    /// The clean image with `timestamp` (FILETIME) as the base block's
    /// last-written time: with [`Hive::restamp`], the same edits give the
    /// same bytes (reproducible builds).
    pub fn to_bytes_at(&self, timestamp: u64) -> Vec<u8> {
        write::serialize(self, self.seq.wrapping_add(1), timestamp)
    }

    /// Give every key whose last-written time is at or after `since` the
    /// time `t` instead: after edits that began at `since`, the keys they
    /// created or touched carry a chosen time rather than the clock's.
    pub fn restamp(&mut self, since: u64, t: u64) {
        fn walk(k: &mut Key, since: u64, t: u64) {
            if k.timestamp >= since {
                k.timestamp = t;
            }
            for s in &mut k.subkeys {
                walk(s, since, t);
            }
        }
        walk(&mut self.root, since, t);
    }

    /// Write the hive to `path` through a temporary file renamed when
    /// complete. Transaction logs beside `path` are emptied afterwards: the
    /// written hive is clean and they describe an older state.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        let img = self.to_bytes();
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let fname = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{fname}.wimforge-tmp{}", std::process::id()));
        let res = (|| -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&img)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(path, e));
        }
        for l in log_paths(path) {
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&l)
                .map_err(|e| Error::io(&l, e))?;
        }
        self.seq = self.seq.wrapping_add(1);
        self.recovered = None;
        Ok(())
    }

    /// Every key path (relative to the root, "" for the root) in depth-first
    /// order with its key.
    pub fn walk(&self) -> Vec<(String, &Key)> {
        let mut out = Vec::new();
        let mut stack: Vec<(String, &Key)> = vec![(String::new(), &self.root)];
        while let Some((p, k)) = stack.pop() {
            for s in k.subkeys.iter().rev() {
                let sp = if p.is_empty() {
                    s.name.clone()
                } else {
                    format!("{p}\\{}", s.name)
                };
                stack.push((sp, s));
            }
            out.push((p, k));
        }
        out
    }
}

#[cfg(test)]
mod restamp_tests {
    use super::*;

    #[test]
    fn restamped_edits_serialise_identically() {
        let edit = || {
            let mut h = Hive::new(5, "ROOT");
            let since = model::now_filetime();
            h.create_key("A\\B").unwrap();
            h.set_value("A", "v", value::REG_DWORD, 7u32.to_le_bytes().to_vec())
                .unwrap();
            h.restamp(since, 0x01D0_0000_0000_0000);
            h.to_bytes_at(0x01D0_0000_0000_0000)
        };
        let a = edit();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = edit();
        assert_eq!(a, b);
        let h = Hive::from_bytes(&a).unwrap();
        assert_eq!(h.key("A\\B").unwrap().timestamp, 0x01D0_0000_0000_0000);
    }
}
