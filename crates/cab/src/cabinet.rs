//! A cabinet or a whole cabinet set: the parts (cabinet files), their
//! folders joined where a folder continues into the next cabinet, and the
//! combined file list (\[MS-CAB\] §3: multi-cabinet sets).

use crate::error::{Error, Result};
use crate::file::{FileEntry, RawFile};
use crate::folder::{Compression, RawFolder};
use crate::format::*;
use crate::header::{u32_at, Header};
use crate::source::Source;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// One cabinet file of a set.
pub(crate) struct Part {
    pub name: String,
    pub path: Option<PathBuf>,
    pub source: Source,
    /// Offset of the cabinet inside `source` (non-zero for a cabinet found
    /// inside a larger file).
    pub base: usize,
    pub header: Header,
    pub folders: Vec<RawFolder>,
    pub files: Vec<RawFile>,
    /// Local folder index of each file.
    pub file_folders: Vec<usize>,
    /// The first folder continues from the previous cabinet.
    pub merge_prev: bool,
    /// The last folder continues into the next cabinet.
    pub merge_next: bool,
    pub warnings: Vec<String>,
}

impl Part {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.source.bytes()[self.base..]
    }

    pub(crate) fn parse(
        name: &str,
        path: Option<PathBuf>,
        source: Source,
        base: usize,
    ) -> Result<Part> {
        let all = source.bytes();
        let d = all.get(base..).unwrap_or(&[]);
        let b = base as u64;
        let header = Header::parse(d, name, b)?;
        let mut pos = header.end;
        let mut folders = Vec::with_capacity(header.folder_count as usize);
        for i in 0..header.folder_count as usize {
            let (f, next) = RawFolder::parse(d, pos, header.folder_reserve, i, name, b)?;
            folders.push(f);
            pos = next;
        }
        // The CFFILE entries are read where they follow the folders, as
        // libmspack/cabextract do; coffFiles (which every real cabinet sets
        // to the same place) is only compared.
        let mut warnings = Vec::new();
        if header.files_offset as usize != pos {
            warnings.push(format!(
                "{name}: coffFiles is {:#x} but the CFFILE entries follow the folders at {:#x}; reading them there",
                header.files_offset, base + pos
            ));
        }
        let n = folders.len();
        let mut files = Vec::with_capacity(header.file_count as usize);
        let mut file_folders = Vec::with_capacity(header.file_count as usize);
        let (mut merge_prev, mut merge_next) = (false, false);
        for i in 0..header.file_count as usize {
            let (f, next) = RawFile::parse(d, pos, i, name, b)?;
            let local = match f.folder_index {
                IFOLD_CONTINUED_FROM_PREV => {
                    merge_prev = true;
                    0
                }
                IFOLD_CONTINUED_TO_NEXT => {
                    merge_next = true;
                    n - 1
                }
                IFOLD_CONTINUED_PREV_AND_NEXT => {
                    merge_prev = true;
                    merge_next = true;
                    0
                }
                idx if (idx as usize) < n => idx as usize,
                idx => {
                    return Err(Error::format(
                        name,
                        f.offset + 8,
                        format!("CFFILE[{i}]"),
                        format!("iFolder {idx} is out of range: the cabinet has {n} folders"),
                    ))
                }
            };
            files.push(f);
            file_folders.push(local);
            pos = next;
        }
        Ok(Part {
            name: name.to_string(),
            path,
            source,
            base,
            header,
            folders,
            files,
            file_folders,
            merge_prev,
            merge_next,
            warnings,
        })
    }
}

/// A run of a folder's CFDATA blocks inside one cabinet file.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub part: usize,
    pub data_offset: u32,
    pub block_count: u16,
}

/// A folder of the set (possibly spread over several cabinet files).
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub compression: Compression,
    pub segments: Vec<Segment>,
    /// Name of the previous cabinet this folder continues from, when that
    /// cabinet was not found.
    pub missing_prev: Option<String>,
    /// Name of the next cabinet this folder continues into, when that
    /// cabinet was not found.
    pub missing_next: Option<String>,
}

impl Folder {
    pub(crate) fn block_count(&self) -> u64 {
        self.segments.iter().map(|s| s.block_count as u64).sum()
    }
}

/// A folder as listed.
#[derive(Debug, Clone, Serialize)]
pub struct FolderInfo {
    pub index: usize,
    pub compression: Compression,
    /// CFDATA blocks, over every cabinet the folder spans.
    pub blocks: u64,
    /// The cabinet files the folder's data lies in.
    pub cabinets: Vec<String>,
}

/// A cabinet, or a set of cabinets joined into one.
pub struct Cabinet {
    name: String,
    pub(crate) parts: Vec<Part>,
    pub(crate) folders: Vec<Folder>,
    files: Vec<FileEntry>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Cabinet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cabinet")
            .field("name", &self.name)
            .field("parts", &self.parts.len())
            .field("folders", &self.folders)
            .field("files", &self.files)
            .finish()
    }
}

/// Find `name` (a cabinet name from a set link) in `dir`: exactly, else
/// case-insensitively. Only the last path component of `name` is used, so
/// a link never leads out of the directory.
fn find_sibling(dir: &Path, name: &str) -> Option<PathBuf> {
    let base = name.rsplit(['\\', '/']).next().unwrap_or("");
    if base.is_empty() || base == "." || base == ".." {
        return None;
    }
    let exact = dir.join(base);
    if exact.is_file() {
        return Some(exact);
    }
    let lower = base.to_lowercase();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().to_lowercase() == lower)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

impl Cabinet {
    /// Open the cabinet at the start of `path`. When it belongs to a set,
    /// the previous and next cabinets named in its header are looked up in
    /// the same directory (exact name first, then ignoring case) and joined:
    /// the result lists and extracts the whole set. Missing neighbours are
    /// not an error here; files that need them fail to extract.
    pub fn open(path: impl AsRef<Path>) -> Result<Cabinet> {
        let path = path.as_ref();
        let source = Source::map(path)?;
        let part = Part::parse(&display(path), Some(path.to_path_buf()), source, 0)?;
        Self::assemble(part)
    }

    /// A cabinet held in memory (e.g. one taken out of an MSU); `name`
    /// appears in errors. No neighbouring cabinets are looked for.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Cabinet> {
        let part = Part::parse(name, None, Source::Owned(std::sync::Arc::new(bytes)), 0)?;
        Self::assemble(part)
    }

    /// Every cabinet inside `path`, found by scanning for `MSCF` headers
    /// (as cabextract does): a file that starts with a cabinet, cabinets
    /// embedded in an installer, several cabinets in one file. After a
    /// cabinet is read the scan resumes past its declared end. Candidates
    /// that do not parse are skipped, except at offset 0, where the error is
    /// returned when nothing else is found.
    pub fn search(path: impl AsRef<Path>) -> Result<Vec<Cabinet>> {
        let path = path.as_ref();
        let source = Source::map(path)?;
        let name = display(path);
        let d = source.bytes();
        let flen = d.len();
        let mut found = Vec::new();
        let mut first_err = None;
        let mut off = 0usize;
        while off + 4 <= flen {
            let Some(i) = d[off..].windows(4).position(|w| w == SIGNATURE) else {
                break;
            };
            let cand = off + i;
            off = cand + 4;
            if cand + 20 > flen {
                continue;
            }
            let cablen = u32_at(d, cand + 8) as usize;
            let foff = u32_at(d, cand + 16) as usize;
            // The plausibility test of libmspack's search: the files offset
            // lies inside the cabinet, and the cabinet roughly inside the
            // file.
            if !(foff < cablen && cand + foff < flen + 32 && cand + cablen < flen + 32) {
                if cand == 0 {
                    first_err = Some(Error::format(
                        &name,
                        0,
                        "CFHEADER",
                        format!(
                            "implausible header: cbCabinet {cablen:#x}, coffFiles {foff:#x}, file size {flen:#x}"
                        ),
                    ));
                }
                continue;
            }
            match Part::parse(&name, Some(path.to_path_buf()), source.clone(), cand) {
                Ok(part) => {
                    found.push(Self::assemble(part)?);
                    off = cand + cablen.max(4);
                }
                Err(e) => {
                    if cand == 0 {
                        first_err = Some(e);
                    }
                }
            }
        }
        if found.is_empty() {
            return Err(first_err.unwrap_or_else(|| {
                Error::format(
                    &name,
                    0,
                    "CFHEADER",
                    "no cabinet found (no valid \"MSCF\" header)",
                )
            }));
        }
        Ok(found)
    }

    fn assemble(first: Part) -> Result<Cabinet> {
        let name = first.name.clone();
        let dir = first
            .path
            .as_ref()
            .map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default())
            .map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d
                }
            });
        let mut seen: Vec<PathBuf> = first
            .path
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        let mut chain = VecDeque::from([first]);
        let mut warnings = Vec::new();
        let mut missing_prev = None;
        let mut missing_next = None;
        for backwards in [true, false] {
            loop {
                let end = if backwards {
                    chain.front()
                } else {
                    chain.back()
                };
                let end = end.expect("chain is never empty");
                let link = if backwards {
                    &end.header.prev
                } else {
                    &end.header.next
                };
                let Some(link) = link.clone() else { break };
                let found = dir.as_deref().and_then(|d| find_sibling(d, &link.cabinet));
                let Some(p) = found else {
                    warnings.push(format!(
                        "{}: {} cabinet \"{}\" not found",
                        end.name,
                        if backwards { "previous" } else { "next" },
                        link.cabinet
                    ));
                    if backwards {
                        missing_prev = Some(link.cabinet);
                    } else {
                        missing_next = Some(link.cabinet);
                    }
                    break;
                };
                let canon = std::fs::canonicalize(&p).map_err(|e| Error::io(&p, e))?;
                if seen.contains(&canon) {
                    return Err(Error::Incomplete {
                        file: end.name.clone(),
                        what: format!("the set's chain of cabinets loops back to {}", p.display()),
                    });
                }
                if chain.len() >= MAX_SET_PARTS {
                    return Err(Error::Incomplete {
                        file: name,
                        what: format!("more than {MAX_SET_PARTS} cabinets in the set"),
                    });
                }
                seen.push(canon);
                let part = Part::parse(&display(&p), Some(p.clone()), Source::map(&p)?, 0)?;
                if backwards {
                    chain.push_front(part);
                } else {
                    chain.push_back(part);
                }
            }
        }
        let parts: Vec<Part> = chain.into();
        for p in &parts {
            warnings.extend(p.warnings.iter().cloned());
        }
        let mut folders: Vec<Folder> = Vec::new();
        let mut files = Vec::new();
        for (pi, part) in parts.iter().enumerate() {
            let mut map = vec![0usize; part.folders.len()];
            let mut first_local = 0;
            if pi == 0 {
                if part.merge_prev {
                    missing_prev =
                        Some(missing_prev.unwrap_or_else(|| "(none named in the header)".into()));
                }
            } else {
                let prev = &parts[pi - 1];
                if prev.merge_next || part.merge_prev {
                    if !(prev.merge_next && part.merge_prev) {
                        return Err(Error::Incomplete {
                            file: part.name.clone(),
                            what: format!(
                                "cabinets do not join: {} {} a folder into the next cabinet, {} {} one from the previous",
                                prev.name,
                                if prev.merge_next { "continues" } else { "does not continue" },
                                part.name,
                                if part.merge_prev { "continues" } else { "does not continue" },
                            ),
                        });
                    }
                    let g = folders.len() - 1;
                    let c = part.folders[0].compression;
                    if folders[g].compression != c {
                        return Err(Error::Incomplete {
                            file: part.name.clone(),
                            what: format!(
                                "cabinets do not join: the continued folder is {} in {} but {} here",
                                folders[g].compression, prev.name, c
                            ),
                        });
                    }
                    folders[g].segments.push(Segment {
                        part: pi,
                        data_offset: part.folders[0].data_offset,
                        block_count: part.folders[0].block_count,
                    });
                    map[0] = g;
                    first_local = 1;
                }
            }
            for (li, f) in part.folders.iter().enumerate().skip(first_local) {
                map[li] = folders.len();
                folders.push(Folder {
                    compression: f.compression,
                    segments: vec![Segment {
                        part: pi,
                        data_offset: f.data_offset,
                        block_count: f.block_count,
                    }],
                    missing_prev: None,
                    missing_next: None,
                });
            }
            if pi == 0 && part.merge_prev {
                folders[map[0]].missing_prev = missing_prev.clone();
            }
            for (raw, &local) in part.files.iter().zip(&part.file_folders) {
                // Files of a folder continued from the previous cabinet were
                // listed there already.
                if first_local == 1 && local == 0 {
                    continue;
                }
                files.push(FileEntry::from_raw(files.len(), raw, map[local], pi));
            }
        }
        if let (Some(last), Some(f)) = (parts.last(), folders.last_mut()) {
            if last.merge_next {
                f.missing_next =
                    Some(missing_next.unwrap_or_else(|| "(none named in the header)".into()));
            }
        }
        Ok(Cabinet {
            name,
            parts,
            folders,
            files,
            warnings,
        })
    }

    /// The name of the (first opened) cabinet file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every file, in the order of the cabinets' CFFILE entries.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The folders of the set.
    pub fn folders(&self) -> Vec<FolderInfo> {
        self.folders
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut cabinets: Vec<String> = Vec::new();
                for s in &f.segments {
                    let n = &self.parts[s.part].name;
                    if !cabinets.contains(n) {
                        cabinets.push(n.clone());
                    }
                }
                FolderInfo {
                    index: i,
                    compression: f.compression,
                    blocks: f.block_count(),
                    cabinets,
                }
            })
            .collect()
    }

    /// The compression method of folder `index`.
    pub fn folder_compression(&self, index: usize) -> Option<Compression> {
        self.folders.get(index).map(|f| f.compression)
    }

    /// The cabinet files making up the set, first to last.
    pub fn cabinet_names(&self) -> Vec<&str> {
        self.parts.iter().map(|p| p.name.as_str()).collect()
    }

    /// The header of the first cabinet of the set.
    pub fn header(&self) -> &Header {
        &self.parts[0].header
    }

    /// Things noticed while opening: neighbouring cabinets not found.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The file called `name`: an exact match first, otherwise ignoring
    /// ASCII case and treating `/` as `\`.
    pub fn find(&self, name: &str) -> Option<&FileEntry> {
        if let Some(f) = self.files.iter().find(|f| f.name == name) {
            return Some(f);
        }
        let norm = |s: &str| s.replace('/', "\\").to_ascii_lowercase();
        let want = norm(name);
        self.files.iter().find(|f| norm(&f.name) == want)
    }
}
