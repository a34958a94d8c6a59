//! The NTFS side of `wim capture|append`: SRC is a file holding an NTFS
//! volume (a raw volume image, or with `--partition N` a raw disk image or
//! VHDX whose MBR/GPT names the partition), read with our NTFS reader
//! ([`ntfs_inject::wim_capture`]) instead of scanning a directory.

use ntfs_inject::reader::Volume;
use std::path::Path;
use std::sync::Arc;
use wim::write::ImageTree;

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// Build the image tree of the volume in `src` (file data is read from
/// the volume while the WIM is written). Returns the tree and warnings.
///
/// `config`: paths left out instead of the default exclusions (matched
/// ignoring case, as on NTFS).
pub fn scan(
    src: &Path,
    partition: Option<u32>,
    config: Option<Arc<wim::write::CaptureConfig>>,
) -> Result<(ImageTree, Vec<String>), BoxErr> {
    let dev = super::ntfs::open_read(src, partition)?;
    let vol = Volume::open(dev).map_err(|e| {
        format!(
            "{}{}: not an NTFS volume ({e}){}",
            src.display(),
            partition
                .map(|p| format!(" partition {p}"))
                .unwrap_or_default(),
            if partition.is_none() {
                "; for a disk image or VHDX give --partition N"
            } else {
                ""
            }
        )
    })?;
    let label = match partition {
        Some(p) => format!("{} partition {p}", src.display()),
        None => src.display().to_string(),
    };
    let opts = ntfs_inject::wim_capture::CaptureOptions {
        config: config.map(|c| {
            Arc::new(wim::write::CaptureConfig {
                ignore_case: true,
                ..(*c).clone()
            })
        }),
        ..Default::default()
    };
    let (tree, stats) = ntfs_inject::wim_capture::capture(Arc::new(vol), &label, &opts)?;
    Ok((tree, stats.warnings))
}
