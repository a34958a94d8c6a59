//! WIM apply backend: turn a WIM image into a [`Tree`] and stream its blobs
//! from the parallel decompression pipeline of the `wim` crate straight
//! into the clusters the writer planned for them (no temporary files;
//! memory grows with the number of files, not with data size).

use crate::error::{Error, Result};
use crate::writer::{Ea, FormatOptions, Name, Node, Reparse, StreamSpec, Tree, VolumeWriter};
use blockdev::BlockDev;
use std::collections::HashMap;
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
                let mut streams = Vec::new();
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
    let Mapped {
        tree,
        map,
        mut stats,
    } = map_image(wim, &image)?;
    let mut w = VolumeWriter::new(dev, &tree, opts)?;
    drop(tree);
    let targets = wim::apply::stream_targets(wim, &image, |ino, si| map.contains_key(&(ino, si)))?;
    let mut by_hash: HashMap<[u8; 20], Vec<(usize, usize)>> = HashMap::new();
    for (h, v) in &targets.by_hash {
        by_hash.insert(*h, v.iter().filter_map(|k| map.get(k).copied()).collect());
    }
    stats.bytes = targets.total_bytes;
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
    w.finish()?;
    Ok(stats)
}
