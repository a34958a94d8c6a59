//! $LogFile (record 2). Written as all 0xFF bytes: an empty, clean log
//! that Windows initialises on first mount (as mkntfs and DiscUtils do).

/// Size of the log for a volume of `volume_bytes` (the mkntfs rule:
/// 256 KiB below 2 MiB, 512 KiB below 4 MB, 2 MiB up to 200 MiB, then
/// 1/200 of the volume capped at 64 MiB), rounded up to whole clusters.
pub fn size(volume_bytes: u64, cluster: u64) -> u64 {
    let s = if volume_bytes < 2 << 20 {
        256 << 10
    } else if volume_bytes < 4_000_000 {
        512 << 10
    } else if volume_bytes <= 200 << 20 {
        2 << 20
    } else {
        (volume_bytes / 200).min(64 << 20)
    };
    s.div_ceil(cluster) * cluster
}
