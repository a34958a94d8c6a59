//! Decompression of folders and delivery of file contents: each folder is
//! decoded once, front to back, and its bytes handed to every file whose
//! range they fall in; extraction to a directory with safe names and
//! temporary files renamed into place.

use crate::cabinet::{Cabinet, Folder};
use crate::codec::Decoder;
use crate::data::RawData;
use crate::error::{Error, Result};
use crate::file::FileEntry;
use crate::format::*;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Receives file contents during extraction. Calls for one file come in
/// order: `begin`, `data`* (in offset order), `end`. Files of one folder
/// whose ranges overlap may interleave.
pub trait Sink {
    fn begin(&mut self, entry: &FileEntry) -> Result<()>;
    fn data(&mut self, entry: &FileEntry, bytes: &[u8]) -> Result<()>;
    fn end(&mut self, entry: &FileEntry) -> Result<()>;
}

/// What [`Cabinet::extract_all`] wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExtractSummary {
    pub files: usize,
    pub bytes: u64,
    /// Directories created below the destination.
    pub directories: usize,
}

/// Reads a folder's CFDATA blocks in order (joining blocks split across
/// cabinets) and decodes them.
struct FolderReader<'a> {
    cab: &'a Cabinet,
    index: usize,
    folder: &'a Folder,
    seg: usize,
    block_in_seg: u16,
    cursor: usize,
    block_no: usize,
    decoder: Decoder,
    joined: Vec<u8>,
    out: Vec<u8>,
}

impl<'a> FolderReader<'a> {
    fn new(cab: &'a Cabinet, index: usize, entry: &FileEntry) -> Result<Self> {
        let folder = &cab.folders[index];
        let decoder = Decoder::new(folder.compression).map_err(|e| Error::Entry {
            file: cab.name().to_string(),
            name: entry.name.clone(),
            what: e.to_string(),
        })?;
        Ok(FolderReader {
            cab,
            index,
            folder,
            seg: 0,
            block_in_seg: 0,
            cursor: 0,
            block_no: 0,
            decoder,
            joined: Vec::new(),
            out: Vec::new(),
        })
    }

    fn err(
        &self,
        part: usize,
        offset: usize,
        entry: Option<&str>,
        what: impl Into<String>,
    ) -> Error {
        let p = &self.cab.parts[part];
        Error::Data {
            file: p.name.clone(),
            folder: self.index,
            method: self.folder.compression.to_string(),
            block: self.block_no,
            offset: (p.base + offset) as u64,
            entry: entry.map(str::to_string),
            what: what.into(),
        }
    }

    /// The next block's uncompressed bytes, or None after the last block.
    fn next_block(&mut self, entry: Option<&str>) -> Result<Option<&[u8]>> {
        self.joined.clear();
        let cab: &'a Cabinet = self.cab;
        let folder: &'a Folder = self.folder;
        let segs = &folder.segments;
        let (uncompressed, part, start) = loop {
            if self.seg >= segs.len() {
                if self.joined.is_empty() {
                    return Ok(None);
                }
                return Err(match &folder.missing_next {
                    Some(next) => Error::Incomplete {
                        file: cab.parts[segs[segs.len() - 1].part].name.clone(),
                        what: format!(
                            "folder {} continues in cabinet \"{next}\", which was not found",
                            self.index
                        ),
                    },
                    None => {
                        let s = &segs[segs.len() - 1];
                        self.err(
                            s.part,
                            self.cursor,
                            entry,
                            "the last block continues into a next cabinet (cbUncomp 0), but the folder does not",
                        )
                    }
                });
            }
            let s = &segs[self.seg];
            if self.block_in_seg >= s.block_count {
                self.seg += 1;
                self.block_in_seg = 0;
                continue;
            }
            if self.block_in_seg == 0 {
                self.cursor = s.data_offset as usize;
            }
            let p = &cab.parts[s.part];
            let at = self.cursor;
            let raw = RawData::parse(p.bytes(), at, p.header.data_reserve)
                .map_err(|e| self.err(s.part, at, entry, e.to_string()))?;
            self.joined
                .extend_from_slice(&p.bytes()[raw.data_start..raw.end]);
            if self.joined.len() > MAX_BLOCK_COMPRESSED {
                return Err(self.err(
                    s.part,
                    at,
                    entry,
                    format!(
                        "block holds {} compressed bytes (> {MAX_BLOCK_COMPRESSED})",
                        self.joined.len()
                    ),
                ));
            }
            self.cursor = raw.end;
            self.block_in_seg += 1;
            if raw.uncompressed == 0 {
                if self.block_in_seg < s.block_count {
                    return Err(self.err(
                        s.part,
                        at,
                        entry,
                        "cbUncomp is 0 before the folder's last block in this cabinet",
                    ));
                }
                if self.seg + 1 >= segs.len() && folder.missing_next.is_none() {
                    return Err(self.err(
                        s.part,
                        at,
                        entry,
                        "the block continues into a next cabinet (cbUncomp 0), but the folder does not",
                    ));
                }
                // Continue with the first block of the next segment.
                continue;
            }
            break (raw.uncompressed as usize, s.part, at);
        };
        if uncompressed > MAX_BLOCK_UNCOMPRESSED {
            return Err(self.err(
                part,
                start,
                entry,
                format!("cbUncomp {uncompressed} > 32768"),
            ));
        }
        let last = self.seg + 1 >= segs.len() && self.block_in_seg >= segs[self.seg].block_count;
        let r = self
            .decoder
            .decode(&self.joined, uncompressed, last, &mut self.out);
        if let Err(e) = r {
            return Err(self.err(part, start, entry, e.to_string()));
        }
        self.block_no += 1;
        Ok(Some(&self.out))
    }
}

impl Cabinet {
    fn check_entry(&self, e: &FileEntry) -> Result<()> {
        let f = &self.folders[e.folder];
        if let Some(prev) = &f.missing_prev {
            return Err(Error::Incomplete {
                file: self.name().to_string(),
                what: format!(
                    "file \"{}\" continues from previous cabinet \"{prev}\", which was not found",
                    e.name
                ),
            });
        }
        let end = e.folder_offset as u64 + e.size as u64;
        let max = f.block_count() * MAX_BLOCK_UNCOMPRESSED as u64;
        if end > max {
            if let Some(next) = &f.missing_next {
                return Err(Error::Incomplete {
                    file: self.name().to_string(),
                    what: format!(
                        "file \"{}\" continues in cabinet \"{next}\", which was not found",
                        e.name
                    ),
                });
            }
            return Err(Error::Entry {
                file: self.name().to_string(),
                name: e.name.clone(),
                what: format!(
                    "its data (offset {}, size {}) lies beyond what folder {}'s {} blocks can hold ({max} bytes)",
                    e.folder_offset,
                    e.size,
                    e.folder,
                    f.block_count()
                ),
            });
        }
        Ok(())
    }

    /// Extract the files with the given indexes (into [`Cabinet::files`])
    /// into `sink`, folder by folder, decoding each folder once and only as
    /// far as the selected files need. Every selected file is checked
    /// before any data is decoded.
    pub fn extract_to(&self, indexes: &[usize], sink: &mut dyn Sink) -> Result<()> {
        let mut by_folder: BTreeMap<usize, Vec<&FileEntry>> = BTreeMap::new();
        for &i in indexes {
            let e = self.files().get(i).ok_or_else(|| Error::NoSuchFile {
                file: self.name().to_string(),
                name: format!("#{i}"),
            })?;
            self.check_entry(e)?;
            by_folder.entry(e.folder).or_default().push(e);
        }
        for (folder, mut entries) in by_folder {
            entries.sort_by_key(|e| (e.folder_offset, e.index));
            self.extract_folder(folder, &entries, sink)?;
        }
        Ok(())
    }

    fn extract_folder(
        &self,
        folder: usize,
        entries: &[&FileEntry],
        sink: &mut dyn Sink,
    ) -> Result<()> {
        // Empty files need no data.
        for e in entries.iter().filter(|e| e.size == 0) {
            sink.begin(e)?;
            sink.end(e)?;
        }
        let todo: Vec<&FileEntry> = entries.iter().copied().filter(|e| e.size > 0).collect();
        let Some(first) = todo.first() else {
            return Ok(());
        };
        let need = todo
            .iter()
            .map(|e| e.folder_offset as u64 + e.size as u64)
            .max()
            .unwrap_or(0);
        let mut reader = FolderReader::new(self, folder, first)?;
        let mut pos = 0u64;
        let mut next = 0usize;
        let mut active: Vec<&FileEntry> = Vec::new();
        while pos < need {
            let current = active.first().or(todo.get(next)).map(|e| e.name.clone());
            let Some(block) = reader.next_block(current.as_deref())? else {
                let e = active
                    .first()
                    .or(todo.get(next))
                    .expect("a file still needs data");
                return Err(Error::Entry {
                    file: self.name().to_string(),
                    name: e.name.clone(),
                    what: format!(
                        "folder {folder}'s data ends after {pos} bytes; the file needs bytes up to {}",
                        e.folder_offset as u64 + e.size as u64
                    ),
                });
            };
            let (cs, ce) = (pos, pos + block.len() as u64);
            while next < todo.len() && (todo[next].folder_offset as u64) < ce {
                sink.begin(todo[next])?;
                active.push(todo[next]);
                next += 1;
            }
            let mut k = 0;
            while k < active.len() {
                let e = active[k];
                let (fs, fe) = (
                    e.folder_offset as u64,
                    e.folder_offset as u64 + e.size as u64,
                );
                let s = fs.max(cs);
                let t = fe.min(ce);
                if s < t {
                    sink.data(e, &block[(s - cs) as usize..(t - cs) as usize])?;
                }
                if fe <= ce {
                    sink.end(e)?;
                    active.remove(k);
                } else {
                    k += 1;
                }
            }
            pos = ce;
        }
        Ok(())
    }

    /// The contents of one file.
    pub fn read_file(&self, entry: &FileEntry) -> Result<Vec<u8>> {
        struct VecSink(Vec<u8>);
        impl Sink for VecSink {
            fn begin(&mut self, _: &FileEntry) -> Result<()> {
                Ok(())
            }
            fn data(&mut self, _: &FileEntry, b: &[u8]) -> Result<()> {
                self.0.extend_from_slice(b);
                Ok(())
            }
            fn end(&mut self, _: &FileEntry) -> Result<()> {
                Ok(())
            }
        }
        let mut s = VecSink(Vec::new());
        self.extract_to(&[entry.index], &mut s)?;
        Ok(s.0)
    }

    /// The contents of several files (decoding each folder once), keyed by
    /// file index.
    pub fn read_files(&self, indexes: &[usize]) -> Result<HashMap<usize, Vec<u8>>> {
        struct MapSink(HashMap<usize, Vec<u8>>);
        impl Sink for MapSink {
            fn begin(&mut self, e: &FileEntry) -> Result<()> {
                self.0.insert(e.index, Vec::new());
                Ok(())
            }
            fn data(&mut self, e: &FileEntry, b: &[u8]) -> Result<()> {
                self.0.entry(e.index).or_default().extend_from_slice(b);
                Ok(())
            }
            fn end(&mut self, _: &FileEntry) -> Result<()> {
                Ok(())
            }
        }
        let mut s = MapSink(HashMap::new());
        self.extract_to(indexes, &mut s)?;
        Ok(s.0)
    }

    /// Extract every file below `dest` (created if missing). See
    /// [`Cabinet::extract_some`].
    pub fn extract_all(&self, dest: impl AsRef<Path>) -> Result<ExtractSummary> {
        let all: Vec<usize> = (0..self.files().len()).collect();
        self.extract_some(dest, &all)
    }

    /// Extract the given files below `dest`. Names are checked first (a
    /// `\` or `/` separates directories; `..`, absolute paths, drive letters
    /// and NUL are refused), so nothing is written when one is unsafe.
    /// Directories are created one level at a time and an existing symbolic
    /// link is never followed; each file is written to a temporary name and
    /// renamed into place when complete (replacing an older file of that
    /// name), with the cabinet's date and time as its modification time.
    pub fn extract_some(
        &self,
        dest: impl AsRef<Path>,
        indexes: &[usize],
    ) -> Result<ExtractSummary> {
        let dest = dest.as_ref();
        let mut targets = HashMap::new();
        for &i in indexes {
            let e = self.files().get(i).ok_or_else(|| Error::NoSuchFile {
                file: self.name().to_string(),
                name: format!("#{i}"),
            })?;
            let rel = safe_relative_path(&e.name).map_err(|why| Error::UnsafeName {
                file: self.name().to_string(),
                name: e.name.clone(),
                why,
            })?;
            targets.insert(i, rel);
        }
        std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
        let meta = std::fs::symlink_metadata(dest).map_err(|e| Error::io(dest, e))?;
        if !meta.is_dir() {
            return Err(Error::io(
                dest,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "destination is not a directory",
                ),
            ));
        }
        let mut sink = DirSink {
            dest: dest.to_path_buf(),
            targets,
            open: HashMap::new(),
            summary: ExtractSummary::default(),
        };
        self.extract_to(indexes, &mut sink)?;
        Ok(std::mem::take(&mut sink.summary))
    }
}

/// The relative path a cabinet name extracts to, or why it is refused.
pub fn safe_relative_path(name: &str) -> std::result::Result<PathBuf, String> {
    if name.contains('\0') {
        return Err("contains NUL".into());
    }
    if name.starts_with(['\\', '/']) {
        return Err("absolute path".into());
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("drive letter".into());
    }
    let mut out = PathBuf::new();
    for comp in name.split(['\\', '/']) {
        match comp {
            "" | "." => continue,
            ".." => return Err("\"..\" component".into()),
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("empty name".into());
    }
    debug_assert!(out.components().all(|c| matches!(c, Component::Normal(_))));
    Ok(out)
}

struct DirSink {
    dest: PathBuf,
    targets: HashMap<usize, PathBuf>,
    /// Files being written: index -> (handle, temporary path, final path).
    open: HashMap<usize, (std::fs::File, PathBuf, PathBuf)>,
    summary: ExtractSummary,
}

impl DirSink {
    /// Create the directories of `rel`'s parent below `dest`, refusing to
    /// pass through anything that is not a real directory.
    fn make_parents(&mut self, rel: &Path) -> Result<PathBuf> {
        let mut dir = self.dest.clone();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                dir.push(c);
                match std::fs::symlink_metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(Error::io(
                            &dir,
                            std::io::Error::new(
                                std::io::ErrorKind::AlreadyExists,
                                "exists and is not a directory (symbolic links are not followed)",
                            ),
                        ))
                    }
                    Err(_) => {
                        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
                        self.summary.directories += 1;
                    }
                }
            }
        }
        Ok(dir)
    }
}

impl Sink for DirSink {
    fn begin(&mut self, e: &FileEntry) -> Result<()> {
        let rel = self.targets[&e.index].clone();
        let dir = self.make_parents(&rel)?;
        let fname = rel
            .file_name()
            .expect("safe paths end in a name")
            .to_os_string();
        let target = dir.join(&fname);
        // Short, so that a 255-byte name still gets one.
        let tmp = dir.join(format!(".wimforge-tmp-{}-{}", std::process::id(), e.index));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|err| Error::io(&tmp, err))?;
        self.open.insert(e.index, (f, tmp, target));
        Ok(())
    }

    fn data(&mut self, e: &FileEntry, bytes: &[u8]) -> Result<()> {
        let (f, tmp, _) = self.open.get_mut(&e.index).expect("begin came first");
        f.write_all(bytes)
            .map_err(|err| Error::io(tmp.clone(), err))?;
        self.summary.bytes += bytes.len() as u64;
        Ok(())
    }

    fn end(&mut self, e: &FileEntry) -> Result<()> {
        let (f, tmp, target) = self.open.remove(&e.index).expect("begin came first");
        if let Some(t) = e.unix_time() {
            let when = if t >= 0 {
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64)
            } else {
                std::time::UNIX_EPOCH
            };
            f.set_modified(when)
                .map_err(|err| Error::io(tmp.clone(), err))?;
        }
        drop(f);
        if let Err(err) = std::fs::rename(&tmp, &target) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(target, err));
        }
        self.summary.files += 1;
        Ok(())
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        for (_, (_, tmp, _)) in self.open.drain() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            safe_relative_path("a\\b\\c.txt").unwrap(),
            PathBuf::from("a/b/c.txt")
        );
        assert_eq!(safe_relative_path("a/./b").unwrap(), PathBuf::from("a/b"));
        assert!(safe_relative_path("..\\..\\evil").is_err());
        assert!(safe_relative_path("a\\..\\..\\evil").is_err());
        assert!(safe_relative_path("\\abs").is_err());
        assert!(safe_relative_path("/abs").is_err());
        assert!(safe_relative_path("C:\\Windows\\x").is_err());
        assert!(safe_relative_path("c:x").is_err());
        assert!(safe_relative_path("a\0b").is_err());
        assert!(safe_relative_path("").is_err());
        assert!(safe_relative_path(".\\.").is_err());
        assert_eq!(safe_relative_path("..foo").unwrap(), PathBuf::from("..foo"));
    }
}
