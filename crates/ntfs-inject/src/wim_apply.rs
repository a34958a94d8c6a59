//! WIM apply backend: turn a WIM image into a [`Tree`] and stream its blobs
//! from the parallel decompression pipeline of the `wim` crate straight
//! into the clusters the writer planned for them (no temporary files;
//! memory grows with the number of files, not with data size).

use crate::error::{Error, Result};
use crate::writer::{Ea, FormatOptions, Name, Node, Reparse, StreamSpec, Tree, VolumeWriter};
use blockdev::BlockDev;
use std::collections::HashMap;
use std::path::PathBuf;
use wim::pipeline::{stream_blobs, BlobSink, Options};
use wim::read::dentry::StreamKind;
use wim::read::image::Image;
use wim::read::{BlobLoc, Wim};

/// What an apply wrote.
#[derive(Debug, Clone, Default)]
pub struct ApplyStats {
    pub directories: u64,
    pub files: u64,
    pub bytes: u64,
    /// Things the WIM holds that this backend does not write yet.
    pub not_written: Vec<String>,
}

/// Tree for `image` plus the (inode, stream) → (node, stream) map.
struct Mapped {
    tree: Tree,
    /// (wim inode, wim stream index) → (node, node stream index).
    map: HashMap<(u32, usize), (usize, usize)>,
    stats: ApplyStats,
}

fn map_image(wim: &Wim, image: &Image) -> Result<Mapped> {
    let mut order: Vec<&BlobLoc> = wim.blobs().collect();
    order.sort_by_key(|b| (b.resource, b.offset));
    let rank: HashMap<[u8; 20], u64> = order
        .iter()
        .enumerate()
        .map(|(i, b)| (b.hash, i as u64))
        .collect();
    let mut tree = Tree {
        nodes: Vec::with_capacity(image.inodes.len()),
        security: image.security.descriptors.clone(),
    };
    let mut stats = ApplyStats::default();
    let mut node_of: Vec<Option<usize>> = vec![None; image.inodes.len()];
    let mut map = HashMap::new();
    let mut xattrs = 0u64;
    let mut objids = 0u64;
    let mut seen_oids = std::collections::HashSet::new();
    let pre = image.preorder();
    for &d in &pre {
        let dentry = &image.dentries[d as usize];
        let ino = dentry.inode as usize;
        let inode = &image.inodes[ino];
        let node = match node_of[ino] {
            Some(n) => n,
            None => {
                let directory = inode.is_directory();
                let n = tree.nodes.len();
                let named = inode
                    .streams
                    .iter()
                    .filter(|s| s.kind == StreamKind::Data && !s.name.is_empty())
                    .count();
                let mut streams = Vec::with_capacity(named + usize::from(!directory));
                if !directory {
                    streams.push(StreamSpec::default());
                }
                for (si, s) in inode.streams.iter().enumerate() {
                    if s.kind != StreamKind::Data || (directory && s.name.is_empty()) {
                        continue;
                    }
                    let size = if s.is_empty() {
                        0
                    } else {
                        wim.blob(&s.hash).map(|b| b.size).ok_or_else(|| {
                            Error::NotFound(format!("blob of {} is not in the WIM", image.path(d)))
                        })?
                    };
                    let idx = if s.name.is_empty() {
                        0
                    } else {
                        streams.push(StreamSpec {
                            name: s.name.clone(),
                            ..Default::default()
                        });
                        streams.len() - 1
                    };
                    streams[idx].size = size;
                    streams[idx].order = rank.get(&s.hash).copied().unwrap_or(0);
                    if size == 0 {
                        streams[idx].data = Some(Vec::new());
                    } else {
                        map.insert((ino as u32, si), (n, idx));
                    }
                }
                let reparse = match inode.reparse_stream() {
                    Some(s) if inode.is_reparse_point() => {
                        let data = if s.is_empty() {
                            Vec::new()
                        } else {
                            let loc = wim.blob(&s.hash).ok_or_else(|| {
                                Error::NotFound(format!(
                                    "reparse data of {} is not in the WIM",
                                    image.path(d)
                                ))
                            })?;
                            wim.read_blob(loc)?
                        };
                        Some(Reparse {
                            tag: inode.reparse_tag,
                            reserved: inode.rp_reserved,
                            data,
                        })
                    }
                    _ if inode.is_reparse_point() => Some(Reparse {
                        tag: inode.reparse_tag,
                        reserved: inode.rp_reserved,
                        data: Vec::new(),
                    }),
                    _ => None,
                };
                let eas = match inode.xattrs.as_deref().map(parse_xattrs) {
                    Some(Some(v)) => v,
                    Some(None) => {
                        xattrs += 1;
                        Vec::new()
                    }
                    None => Vec::new(),
                };
                let object_id = inode.object_id.clone().filter(|o| {
                    (o.len() == 16 || o.len() == 64) && seen_oids.insert(o[..16].to_vec())
                });
                if inode.object_id.is_some() && object_id.is_none() {
                    objids += 1;
                }
                if directory {
                    stats.directories += 1;
                } else {
                    stats.files += 1;
                }
                tree.nodes.push(Node {
                    names: Vec::new(),
                    directory,
                    attributes: inode.attributes,
                    creation_time: inode.creation_time,
                    last_write_time: inode.last_write_time,
                    last_access_time: inode.last_access_time,
                    security: inode
                        .security_id
                        .map(|s| s as usize)
                        .filter(|&s| s < tree.security.len()),
                    streams,
                    reparse,
                    object_id,
                    eas,
                });
                node_of[ino] = Some(n);
                n
            }
        };
        if d == 0 {
            continue;
        }
        let parent_ino = image.dentries[dentry.parent as usize].inode as usize;
        let parent = node_of[parent_ino].ok_or_else(|| {
            Error::Unsupported(format!("{}: parent not seen before child", image.path(d)))
        })?;
        tree.nodes[node].names.push(Name {
            parent,
            name: dentry.name.clone(),
            short_name: Some(dentry.short_name.clone()).filter(|s| !s.is_empty()),
        });
    }
    if xattrs > 0 {
        stats
            .not_written
            .push(format!("extended attributes of {xattrs} files (malformed)"));
    }
    if objids > 0 {
        stats
            .not_written
            .push(format!("object ids of {objids} files"));
    }
    Ok(Mapped { tree, map, stats })
}

/// Parse a WIM `TAG_XATTRS` item: entries of {value_len u16, name_len u8,
/// flags u8, name, NUL, value}, unpadded. `None` when malformed.
fn parse_xattrs(b: &[u8]) -> Option<Vec<Ea>> {
    let mut out = Vec::new();
    let mut o = 0usize;
    while o < b.len() {
        let h = b.get(o..o + 4)?;
        let vlen = u16::from_le_bytes([h[0], h[1]]) as usize;
        let nlen = h[2] as usize;
        let flags = h[3];
        let name = b.get(o + 4..o + 4 + nlen)?.to_vec();
        if *b.get(o + 4 + nlen)? != 0 || nlen == 0 {
            return None;
        }
        let value = b.get(o + 5 + nlen..o + 5 + nlen + vlen)?.to_vec();
        out.push(Ea { name, value, flags });
        o += 5 + nlen + vlen;
    }
    Some(out)
}

struct Sink<'a, D: BlockDev> {
    w: &'a mut VolumeWriter<D>,
    targets: &'a HashMap<[u8; 20], Vec<(usize, usize)>>,
    pos: u64,
}

fn refuse(e: Error) -> wim::Error {
    wim::Error::Refused(format!("NTFS writer: {e}"))
}

impl<D: BlockDev> BlobSink for Sink<'_, D> {
    fn begin(&mut self, _blob: &BlobLoc) -> wim::Result<()> {
        self.pos = 0;
        Ok(())
    }
    fn data(&mut self, blob: &BlobLoc, bytes: &[u8]) -> wim::Result<()> {
        if let Some(t) = self.targets.get(&blob.hash) {
            for &(n, s) in t {
                self.w.write_stream(n, s, self.pos, bytes).map_err(refuse)?;
            }
        }
        self.pos += bytes.len() as u64;
        Ok(())
    }
    fn end(&mut self, _blob: &BlobLoc) -> wim::Result<()> {
        Ok(())
    }
}

/// Format `dev` and apply image `index` (1-based) of `wim` into it.
/// `progress` receives uncompressed bytes as they are written.
pub fn apply<D: BlockDev>(
    dev: D,
    wim: &Wim,
    index: u32,
    opts: &FormatOptions,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ApplyStats> {
    let image = wim.image(index)?;
    apply_image(
        dev,
        wim,
        &image,
        &Overlay::default(),
        opts,
        threads,
        progress,
    )
}

/// Where an overlay file's contents come from.
#[derive(Debug, Clone)]
pub enum OverlaySource {
    /// Bytes held in memory (small generated files: hives, scripts).
    Bytes(Vec<u8>),
    /// A local file, streamed in pieces after the WIM's data (large
    /// payloads: executables, package CABs).
    File(PathBuf),
}

/// One file to add to the image, or to replace in it.
#[derive(Debug, Clone)]
pub struct OverlayFile {
    /// Path inside the image (`\` or `/` separated, case-insensitive
    /// against the image's names, as Windows resolves them).
    pub path: String,
    pub source: OverlaySource,
}

/// Files laid over the WIM image while it is applied: missing parent
/// directories are created, existing files get new contents (their names,
/// security and other streams stay), new files take the security
/// descriptor of a sibling file (or of their directory when it has no
/// files), the `ARCHIVE` attribute and `time` as all three timestamps.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    pub files: Vec<OverlayFile>,
    /// FILETIME for created files and directories.
    pub time: u64,
}

/// What the overlay did, per path.
#[derive(Debug, Clone, Default)]
pub struct OverlayStats {
    pub added: Vec<String>,
    pub replaced: Vec<String>,
    pub directories_created: Vec<String>,
    pub bytes: u64,
}

fn split_image_path(path: &str) -> Result<Vec<&str>> {
    let comps: Vec<&str> = path.split(['\\', '/']).filter(|c| !c.is_empty()).collect();
    if comps.is_empty() {
        return Err(Error::Unsupported(format!(
            "overlay path {path:?} names no file"
        )));
    }
    for c in &comps {
        if *c == "." || *c == ".." || c.contains(':') || c.contains('\0') {
            return Err(Error::Unsupported(format!(
                "overlay path {path:?}: component {c:?} is not a plain name"
            )));
        }
    }
    Ok(comps)
}

fn io_at(p: &std::path::Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("overlay source {}: {e}", p.display()),
    ))
}

fn upper(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).collect()
}

/// Lay `overlay` over `tree`. Returns, per overlay entry with a file
/// source, the node whose stream 0 receives it.
fn apply_overlay(
    tree: &mut Tree,
    map: &mut HashMap<(u32, usize), (usize, usize)>,
    overlay: &Overlay,
    stats: &mut ApplyStats,
    ostats: &mut OverlayStats,
) -> Result<Vec<(usize, PathBuf, u64)>> {
    use crate::layout::file_attr;
    let mut children: HashMap<(usize, String), usize> = HashMap::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        for nm in &n.names {
            children.insert((nm.parent, upper(&nm.name)), i);
        }
    }
    let mut late = Vec::new();
    for (k, f) in overlay.files.iter().enumerate() {
        let comps = split_image_path(&f.path)?;
        let (leaf, dirs) = comps.split_last().expect("not empty");
        let mut cur = 0usize;
        let mut walked = String::new();
        for c in dirs {
            walked.push('\\');
            walked.push_str(c);
            cur = match children.get(&(cur, upper(c))) {
                Some(&n) if tree.nodes[n].directory => n,
                Some(_) => {
                    return Err(Error::Unsupported(format!(
                        "overlay {}: {walked} is a file in the image, not a directory",
                        f.path
                    )))
                }
                None => {
                    let n = tree.nodes.len();
                    tree.nodes.push(Node {
                        names: vec![Name {
                            parent: cur,
                            name: c.to_string(),
                            short_name: None,
                        }],
                        directory: true,
                        attributes: file_attr::DIRECTORY,
                        creation_time: overlay.time,
                        last_write_time: overlay.time,
                        last_access_time: overlay.time,
                        security: tree.nodes[cur].security,
                        ..Default::default()
                    });
                    children.insert((cur, upper(c)), n);
                    stats.directories += 1;
                    ostats.directories_created.push(walked.clone());
                    n
                }
            };
        }
        let (size, data) = match &f.source {
            OverlaySource::Bytes(b) => (b.len() as u64, Some(b.clone())),
            OverlaySource::File(p) => {
                let md = std::fs::metadata(p).map_err(|e| io_at(p, e))?;
                if !md.is_file() {
                    return Err(Error::Unsupported(format!(
                        "overlay source {} is not a regular file",
                        p.display()
                    )));
                }
                (md.len(), None)
            }
        };
        let stream = StreamSpec {
            name: String::new(),
            size,
            data: if size == 0 { Some(Vec::new()) } else { data },
            // After every WIM blob, in overlay order.
            order: u64::MAX - (overlay.files.len() - k) as u64,
        };
        let node = match children.get(&(cur, upper(leaf))) {
            Some(&n) if tree.nodes[n].directory => {
                return Err(Error::Unsupported(format!(
                    "overlay {}: the image has a directory there",
                    f.path
                )))
            }
            Some(&n) => {
                let node = &mut tree.nodes[n];
                match node.streams.iter().position(|s| s.name.is_empty()) {
                    Some(i) => node.streams[i] = stream,
                    None => {
                        node.streams.insert(0, stream);
                        for v in map.values_mut().filter(|v| v.0 == n) {
                            v.1 += 1;
                        }
                    }
                }
                // A reparse point (symlink, dedup stub) becomes a plain file.
                node.reparse = None;
                node.attributes &= !(file_attr::REPARSE_POINT
                    | file_attr::SPARSE_FILE
                    | file_attr::COMPRESSED
                    | file_attr::ENCRYPTED);
                node.last_write_time = overlay.time;
                let si = node.streams.iter().position(|s| s.name.is_empty());
                map.retain(|_, v| !(v.0 == n && Some(v.1) == si));
                ostats.replaced.push(f.path.clone());
                n
            }
            None => {
                let sibling_sd = tree
                    .nodes
                    .iter()
                    .find(|o| !o.directory && o.names.iter().any(|nm| nm.parent == cur))
                    .and_then(|o| o.security);
                let n = tree.nodes.len();
                tree.nodes.push(Node {
                    names: vec![Name {
                        parent: cur,
                        name: leaf.to_string(),
                        short_name: None,
                    }],
                    directory: false,
                    attributes: file_attr::ARCHIVE,
                    creation_time: overlay.time,
                    last_write_time: overlay.time,
                    last_access_time: overlay.time,
                    security: sibling_sd.or(tree.nodes[cur].security),
                    streams: vec![stream],
                    ..Default::default()
                });
                children.insert((cur, upper(leaf)), n);
                stats.files += 1;
                ostats.added.push(f.path.clone());
                n
            }
        };
        ostats.bytes += size;
        if let (OverlaySource::File(p), true) = (&f.source, size > 0) {
            late.push((node, p.clone(), size));
        }
    }
    Ok(late)
}

/// Format `dev` and apply `image` of `wim` into it with `overlay` laid over
/// it. `progress` receives uncompressed bytes as they are written (WIM data
/// and overlay files).
pub fn apply_image<D: BlockDev>(
    dev: D,
    wim: &Wim,
    image: &Image,
    overlay: &Overlay,
    opts: &FormatOptions,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ApplyStats> {
    apply_image_report(dev, wim, image, overlay, opts, threads, progress).map(|(s, _)| s)
}

/// [`apply_image`], also returning what the overlay did.
pub fn apply_image_report<D: BlockDev>(
    dev: D,
    wim: &Wim,
    image: &Image,
    overlay: &Overlay,
    opts: &FormatOptions,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(ApplyStats, OverlayStats)> {
    let Mapped {
        mut tree,
        mut map,
        mut stats,
    } = map_image(wim, image)?;
    let mut ostats = OverlayStats::default();
    let late = apply_overlay(&mut tree, &mut map, overlay, &mut stats, &mut ostats)?;
    let mut w = VolumeWriter::new(dev, &tree, opts)?;
    drop(tree);
    let mut targets =
        wim::apply::stream_targets(wim, image, |ino, si| map.contains_key(&(ino, si)))?;
    // Convert in place and free what is no longer needed: memory per file
    // is the budget at this scale.
    let mut by_hash: HashMap<[u8; 20], Vec<(usize, usize)>> =
        HashMap::with_capacity(targets.by_hash.len());
    for (h, v) in std::mem::take(&mut targets.by_hash) {
        let mut t: Vec<(usize, usize)> = v.iter().filter_map(|k| map.get(k).copied()).collect();
        t.shrink_to_fit();
        by_hash.insert(h, t);
    }
    drop(map);
    stats.bytes = targets.total_bytes + ostats.bytes;
    let mut sink = Sink {
        w: &mut w,
        targets: &by_hash,
        pos: 0,
    };
    let popts = Options {
        threads,
        ..Default::default()
    };
    stream_blobs(
        wim,
        targets.blobs.iter().copied(),
        &mut sink,
        &popts,
        progress,
    )?;
    let mut buf = vec![0u8; 1 << 20];
    for (node, path, size) in late {
        use std::io::Read;
        let mut f = std::fs::File::open(&path).map_err(|e| io_at(&path, e))?;
        let mut off = 0u64;
        while off < size {
            let want = ((size - off) as usize).min(buf.len());
            f.read_exact(&mut buf[..want])
                .map_err(|e| io_at(&path, e))?;
            w.write_stream(node, 0, off, &buf[..want])?;
            off += want as u64;
            progress(want as u64);
        }
    }
    w.finish()?;
    Ok((stats, ostats))
}
