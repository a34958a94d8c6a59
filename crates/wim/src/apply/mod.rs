//! Apply backends: sinks that receive an image's files. The source (a WIM
//! image and its blobs) does not know its sink; a backend asks
//! [`stream_targets`] which files need which blob and receives data through
//! the parallel pipeline ([`crate::pipeline`]). Today's backend is a POSIX
//! directory ([`dir`]); the NTFS volume writer is another.

pub mod dir;

use crate::read::dentry::StreamKind;
use crate::read::image::Image;
use crate::read::{BlobLoc, Wim};
use crate::{Error, Result};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which (inode, stream index) pairs need each blob.
pub struct StreamTargets {
    pub by_hash: HashMap<[u8; 20], Vec<(u32, usize)>>,
    /// The blobs to stream, in no particular order.
    pub blobs: Vec<BlobLoc>,
    pub total_bytes: u64,
}

/// Collect the blobs an image needs. `want` selects the streams of interest
/// (e.g. a POSIX backend only wants unnamed data and reparse data). A
/// referenced blob that the WIM does not hold is an error naming the file.
pub fn stream_targets(
    wim: &Wim,
    image: &Image,
    want: impl Fn(u32, usize) -> bool,
) -> Result<StreamTargets> {
    let mut by_hash: HashMap<[u8; 20], Vec<(u32, usize)>> = HashMap::new();
    let mut blobs = Vec::new();
    let mut total = 0u64;
    for (ino, inode) in image.inodes.iter().enumerate() {
        for (si, s) in inode.streams.iter().enumerate() {
            if s.is_empty() || !want(ino as u32, si) {
                continue;
            }
            let entry = by_hash.entry(s.hash).or_default();
            if entry.is_empty() {
                let loc = wim.blob(&s.hash).ok_or_else(|| {
                    let path = image.path(inode.links[0]);
                    let missing = wim.missing_parts();
                    Error::NotFound(format!(
                        "{}: {} stream of {path} refers to blob {} which is not in the WIM{}",
                        wim.path().display(),
                        if s.kind == StreamKind::Reparse {
                            "reparse"
                        } else {
                            "data"
                        },
                        crate::bytes::hex(&s.hash),
                        if missing.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " (parts {missing:?} of the split set were not given; use --ref)"
                            )
                        }
                    ))
                })?;
                total = total.saturating_add(loc.size);
                blobs.push(*loc);
            }
            entry.push((ino as u32, si));
        }
    }
    Ok(StreamTargets {
        by_hash,
        blobs,
        total_bytes: total,
    })
}

/// Convert a Windows FILETIME (100 ns since 1601) to a `SystemTime`.
pub fn filetime_to_system(ft: u64) -> SystemTime {
    const EPOCH_DIFF: u64 = 116_444_736_000_000_000;
    if ft >= EPOCH_DIFF {
        let t = ft - EPOCH_DIFF;
        UNIX_EPOCH + Duration::new(t / 10_000_000, (t % 10_000_000) as u32 * 100)
    } else {
        let t = EPOCH_DIFF - ft;
        UNIX_EPOCH
            .checked_sub(Duration::new(t / 10_000_000, (t % 10_000_000) as u32 * 100))
            .unwrap_or(UNIX_EPOCH)
    }
}
