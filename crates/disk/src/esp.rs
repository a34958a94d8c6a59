//! The EFI system partition: FAT32 (Microsoft "FAT: General Overview of
//! On-Disk Format" 1.03; UEFI Specification 2.10 §13.3 "File System
//! Format") through the `fatfs` crate, over any [`BlockDev`] (usually a
//! [`blockdev::Window`] onto the disk).
//!
//! `fatfs` does the FAT work. Here: an adapter that gives it
//! `Read + Write + Seek` over a positional device (a one-block read cache,
//! writes go straight through so nothing is lost when `fatfs` drops it),
//! forcing FAT32 for ESPs below 512 MiB (`fatfs` would pick FAT16),
//! hidden sectors in the boot sector, and fixed timestamps for
//! reproducible output.

use crate::error::{Error, Result};
use blockdev::BlockDev;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const BLOCK: u64 = 4096;

/// Shared between an [`Esp`] and its stream: where `fatfs` wrote the
/// short names of `.` and `..` while recording, and a generation number
/// the `Esp` bumps after writing to the device behind the stream's back
/// (the stream then drops its cached block).
#[derive(Debug, Default)]
struct Hook {
    recording: AtomicBool,
    dots: Mutex<Vec<u64>>,
    generation: AtomicU64,
}

const DOT_NAME: &[u8; 11] = b".          ";
const DOTDOT_NAME: &[u8; 11] = b"..         ";

/// `Read + Write + Seek` over a [`BlockDev`], as `fatfs` needs.
#[derive(Debug)]
pub struct DevIo<D: BlockDev> {
    dev: D,
    pos: u64,
    cache: Vec<u8>,
    cached: Option<u64>,
    hook: Option<Arc<Hook>>,
    generation: u64,
}

impl<D: BlockDev> DevIo<D> {
    /// A stream at position 0.
    pub fn new(dev: D) -> Self {
        DevIo {
            dev,
            pos: 0,
            cache: Vec::new(),
            cached: None,
            hook: None,
            generation: 0,
        }
    }

    fn with_hook(dev: D, hook: Arc<Hook>) -> Self {
        DevIo {
            hook: Some(hook),
            ..Self::new(dev)
        }
    }

    fn check_generation(&mut self) {
        if let Some(h) = &self.hook {
            let g = h.generation.load(Ordering::Acquire);
            if g != self.generation {
                self.generation = g;
                self.cached = None;
            }
        }
    }

    fn block_len(&self, b: u64) -> usize {
        (self.dev.len() - b * BLOCK).min(BLOCK) as usize
    }

    fn load(&mut self, b: u64) -> io::Result<()> {
        if self.cached != Some(b) {
            let n = self.block_len(b);
            self.cache.resize(n, 0);
            self.cached = None;
            self.dev.read_at(b * BLOCK, &mut self.cache)?;
            self.cached = Some(b);
        }
        Ok(())
    }
}

impl<D: BlockDev> Read for DevIo<D> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let len = self.dev.len();
        if self.pos >= len || out.is_empty() {
            return Ok(0);
        }
        let n = (out.len() as u64).min(len - self.pos) as usize;
        self.check_generation();
        if n as u64 >= BLOCK {
            // Large reads bypass the cache (writes keep it coherent).
            self.dev.read_at(self.pos, &mut out[..n])?;
            self.pos += n as u64;
            return Ok(n);
        }
        let b = self.pos / BLOCK;
        self.load(b)?;
        let within = (self.pos - b * BLOCK) as usize;
        let n = n.min(self.cache.len() - within);
        out[..n].copy_from_slice(&self.cache[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: BlockDev> Write for DevIo<D> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let len = self.dev.len();
        if data.is_empty() {
            return Ok(0);
        }
        if self.pos >= len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the FAT volume",
            ));
        }
        let n = (data.len() as u64).min(len - self.pos) as usize;
        if let Some(h) = &self.hook {
            if h.recording.load(Ordering::Acquire)
                && (data[..n] == DOT_NAME[..] || data[..n] == DOTDOT_NAME[..])
            {
                h.dots
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(self.pos);
            }
        }
        self.dev.write_at(self.pos, &data[..n])?;
        // Keep the cached block coherent.
        if let Some(b) = self.cached {
            let (cs, ce) = (b * BLOCK, b * BLOCK + self.cache.len() as u64);
            let (ws, we) = (self.pos, self.pos + n as u64);
            if ws < ce && we > cs {
                let s = ws.max(cs);
                let e = we.min(ce);
                self.cache[(s - cs) as usize..(e - cs) as usize]
                    .copy_from_slice(&data[(s - ws) as usize..(e - ws) as usize]);
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.dev.flush()
    }
}

impl<D: BlockDev> Seek for DevIo<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.dev.len() as i128;
        let new = match to {
            SeekFrom::Start(o) => o as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if new < 0 || new > u64::MAX as i128 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the FAT volume",
            ));
        }
        self.pos = new as u64;
        Ok(self.pos)
    }
}

/// How to format an ESP.
#[derive(Debug, Clone)]
pub struct EspFormat {
    /// Volume label (up to 11 characters, stored upper case).
    pub label: String,
    /// Volume serial number.
    pub volume_id: u32,
    /// 512 or 4096 (the disk's logical sector size).
    pub bytes_per_sector: u16,
    /// Partition start LBA, stored in the BPB (what Windows writes).
    pub hidden_sectors: u32,
}

impl Default for EspFormat {
    fn default() -> Self {
        EspFormat {
            label: String::new(),
            volume_id: 0,
            bytes_per_sector: 512,
            hidden_sectors: 0,
        }
    }
}

fn label_bytes(label: &str) -> Result<[u8; 11]> {
    let up = label.to_ascii_uppercase();
    if up.is_empty() {
        return Ok(*b"NO NAME    ");
    }
    if up.len() > 11
        || !up
            .bytes()
            .all(|c| c.is_ascii_graphic() && !b"*?./\\:\"<>|+,;=[]".contains(&c) || c == b' ')
    {
        return Err(Error::InvalidArgument(format!(
            "FAT volume label {label:?}: at most 11 ASCII letters, digits, spaces or \
             !#$%&'()-@^_`{{}}~"
        )));
    }
    let mut b = [b' '; 11];
    b[..up.len()].copy_from_slice(up.as_bytes());
    Ok(b)
}

fn fat_err(path: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Fat {
        path: path.to_string(),
        source,
    }
}

/// Format `dev` (the ESP window) as FAT32 with 512-byte sectors, even
/// below 512 MiB where `fatfs` would choose FAT16.
pub fn format_esp(dev: &dyn BlockDev, label: &str, volume_id: u32) -> Result<()> {
    format_esp_with(
        dev,
        &EspFormat {
            label: label.into(),
            volume_id,
            ..Default::default()
        },
    )
}

/// Format `dev` as FAT32 with explicit sector size and hidden sectors.
pub fn format_esp_with(dev: &dyn BlockDev, f: &EspFormat) -> Result<()> {
    let bps = f.bytes_per_sector;
    if bps != 512 && bps != 4096 {
        return Err(Error::InvalidArgument(format!(
            "FAT sector size {bps} (must be 512 or 4096)"
        )));
    }
    let opts = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .bytes_per_sector(bps)
        .volume_id(f.volume_id)
        .volume_label(label_bytes(&f.label)?)
        // The geometry Windows reports for disks.
        .sectors_per_track(63)
        .heads(255);
    fatfs::format_volume(DevIo::new(dev), opts).map_err(|e| Error::Fat {
        path: format!(
            "formatting {} bytes as FAT32 with {bps}-byte sectors",
            dev.len()
        ),
        source: e,
    })?;
    // fatfs writes hidden sectors = 0; Windows writes the partition start.
    // Boot sector at sector 0 and its backup at sector 6 (BPB_BkBootSec).
    for sector in [0u64, 6] {
        let off = sector * bps as u64 + 0x1C;
        dev.write_at(off, &f.hidden_sectors.to_le_bytes())
            .map_err(crate::error::io_at("FAT boot sector", off))?;
    }
    // Record the free-cluster count in FSInfo (fatfs leaves it "unknown";
    // Windows and fsck.fat expect the real count).
    let fs = fatfs::FileSystem::new(DevIo::new(dev), fatfs::FsOptions::new())
        .map_err(fat_err("mounting the new volume"))?;
    fs.stats().map_err(fat_err("counting free clusters"))?;
    fs.unmount().map_err(fat_err("unmounting the new volume"))?;
    dev.flush()
        .map_err(crate::error::io_at("FAT boot sector", 0))?;
    Ok(())
}

/// A fixed clock for `fatfs`, for reproducible timestamps.
#[derive(Debug)]
struct FixedClock(fatfs::DateTime);

impl fatfs::TimeProvider for FixedClock {
    fn get_current_date(&self) -> fatfs::Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        self.0
    }
}

/// The current time (UTC) for `fatfs`.
#[derive(Debug)]
struct NowClock;

impl fatfs::TimeProvider for NowClock {
    fn get_current_date(&self) -> fatfs::Date {
        self.get_current_date_time().date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        fat_datetime(116_444_736_000_000_000 + d.as_secs() * 10_000_000)
    }
}

static NOW: NowClock = NowClock;

/// Convert a FILETIME (100 ns since 1601-01-01 UTC) to a FAT date and time
/// (clamped to the FAT range 1980..=2107).
pub fn fat_datetime(filetime: u64) -> fatfs::DateTime {
    let secs = filetime / 10_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1601-01-01 (proleptic Gregorian):
    // shift to days since 0000-03-01.
    let z = days + 584_694;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (y, m, d, rem) = if y < 1980 {
        (1980, 1, 1, 0)
    } else if y > 2107 {
        (2107, 12, 31, 86_399)
    } else {
        (y, m, d, rem)
    };
    fatfs::DateTime {
        date: fatfs::Date {
            year: y as u16,
            month: m as u16,
            day: d as u16,
        },
        time: fatfs::Time {
            hour: (rem / 3600) as u16,
            min: (rem / 60 % 60) as u16,
            sec: (rem % 60) as u16,
            millis: 0,
        },
    }
}

/// Options for opening an ESP.
#[derive(Debug, Clone, Default)]
pub struct EspOptions {
    /// Timestamp (FILETIME) for every file and directory created or
    /// changed; `None` = the current time (UTC).
    pub time: Option<u64>,
}

/// An open FAT volume on a [`BlockDev`]. Paths use `/` or `\` separators
/// and are relative to the root; `.` and `..` components are refused.
pub struct Esp<D: BlockDev> {
    fs: fatfs::FileSystem<DevIo<Arc<D>>>,
    dev: Arc<D>,
    hook: Arc<Hook>,
}

impl<D: BlockDev> std::fmt::Debug for Esp<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Esp").finish_non_exhaustive()
    }
}

fn components(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|c| !c.is_empty()).collect();
    if let Some(bad) = parts.iter().find(|c| **c == "." || **c == "..") {
        return Err(Error::InvalidArgument(format!(
            "path {path:?} has a {bad:?} component"
        )));
    }
    Ok(parts)
}

impl<D: BlockDev> Esp<D> {
    /// Mount the FAT volume on `dev` (timestamps: current time, UTC).
    pub fn open(dev: D) -> Result<Self> {
        Self::open_with(dev, &EspOptions::default())
    }

    /// Mount with options. A fixed time leaks one small clock object (the
    /// `fatfs` API takes a `'static` time provider).
    pub fn open_with(dev: D, opts: &EspOptions) -> Result<Self> {
        let clock: &'static dyn fatfs::TimeProvider = match opts.time {
            Some(t) => Box::leak(Box::new(FixedClock(fat_datetime(t)))),
            None => &NOW,
        };
        let fo = fatfs::FsOptions::new()
            .update_accessed_date(false)
            .time_provider(clock);
        let dev = Arc::new(dev);
        let hook = Arc::new(Hook::default());
        let fs = fatfs::FileSystem::new(DevIo::with_hook(dev.clone(), hook.clone()), fo)
            .map_err(fat_err("mounting"))?;
        Ok(Esp { fs, dev, hook })
    }

    /// FAT type of the volume.
    pub fn fat_type(&self) -> fatfs::FatType {
        self.fs.fat_type()
    }

    /// Volume serial number.
    pub fn volume_id(&self) -> u32 {
        self.fs.volume_id()
    }

    /// Free bytes.
    pub fn free_bytes(&self) -> Result<u64> {
        let s = self.fs.stats().map_err(fat_err("counting free clusters"))?;
        Ok(s.free_clusters() as u64 * s.cluster_size() as u64)
    }

    /// Volume label from the boot sector (trimmed).
    pub fn volume_label(&self) -> String {
        self.fs.volume_label().trim_end().to_string()
    }

    fn dir(&self, parts: &[&str], path: &str) -> Result<fatfs::Dir<'_, DevIo<Arc<D>>>> {
        let root = self.fs.root_dir();
        if parts.is_empty() {
            return Ok(root);
        }
        root.open_dir(&parts.join("/")).map_err(fat_err(path))
    }

    /// Create `path` and every missing parent directory.
    pub fn create_dir_all(&self, path: &str) -> Result<()> {
        let mut dir = self.fs.root_dir();
        for (i, c) in components(path)?.into_iter().enumerate() {
            self.hook
                .dots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            self.hook.recording.store(true, Ordering::Release);
            let r = dir.create_dir(c);
            self.hook.recording.store(false, Ordering::Release);
            dir = r.map_err(fat_err(path))?;
            let dots =
                std::mem::take(&mut *self.hook.dots.lock().unwrap_or_else(|e| e.into_inner()));
            if let [dot, dotdot] = dots[..] {
                self.fix_dot_entries(dot, dotdot, i == 0, path)?;
            }
        }
        Ok(())
    }

    /// `fatfs` 0.3 writes a long-name entry before the `.` and `..`
    /// entries of a new directory, so they are not the first two slots as
    /// the FAT specification requires (fsck.fat moves and renames them,
    /// Windows' chkdsk complains). Rewrite the fresh directory's first
    /// four slots as `.`, `..`, end, end. `..` of a directory in the root
    /// points at cluster 0 (FAT spec, "FAT Directory Structure"). Only the
    /// exact pattern `fatfs` writes is touched.
    fn fix_dot_entries(&self, dot: u64, dotdot: u64, in_root: bool, path: &str) -> Result<()> {
        if dot < 32 || dotdot != dot + 64 {
            return Ok(());
        }
        let base = dot - 32;
        let mut slots = [0u8; 128];
        self.dev
            .read_at(base, &mut slots)
            .map_err(crate::error::io_at("FAT directory", base))?;
        let lfn = |o: usize| slots[o + 11] == 0x0F;
        let dir_sfn =
            |o: usize, name: &[u8; 11]| &slots[o..o + 11] == name && slots[o + 11] & 0x10 != 0;
        if !(lfn(0) && dir_sfn(32, DOT_NAME) && lfn(64) && dir_sfn(96, DOTDOT_NAME)) {
            return Ok(());
        }
        let mut fixed = [0u8; 128];
        fixed[..32].copy_from_slice(&slots[32..64]);
        fixed[32..64].copy_from_slice(&slots[96..128]);
        if in_root {
            // DIR_FstClusHI (20..22) and DIR_FstClusLO (26..28).
            fixed[32 + 20..32 + 22].fill(0);
            fixed[32 + 26..32 + 28].fill(0);
        }
        self.dev.write_at(base, &fixed).map_err(|e| Error::Fat {
            path: path.to_string(),
            source: e,
        })?;
        self.hook.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Create or replace the file at `path` (its directory must exist).
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let parts = components(path)?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(Error::InvalidArgument(format!("{path:?} names no file")));
        };
        let dir = self.dir(dirs, path)?;
        let mut f = dir.create_file(name).map_err(fat_err(path))?;
        f.truncate().map_err(fat_err(path))?;
        f.write_all(data).map_err(fat_err(path))?;
        f.flush().map_err(fat_err(path))?;
        Ok(())
    }

    /// The contents of the file at `path`.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let parts = components(path)?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(Error::InvalidArgument(format!("{path:?} names no file")));
        };
        let dir = self.dir(dirs, path)?;
        let size = dir
            .iter()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().eq_ignore_ascii_case(name) || e.short_file_name() == *name)
            .map(|e| e.len())
            .ok_or_else(|| Error::Fat {
                path: path.into(),
                source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
            })?;
        let mut f = dir.open_file(name).map_err(fat_err(path))?;
        // The size comes from the directory entry (< 4 GiB); read no more.
        let mut out = Vec::with_capacity(size.min(64 << 20) as usize);
        (&mut f)
            .take(size)
            .read_to_end(&mut out)
            .map_err(fat_err(path))?;
        Ok(out)
    }

    /// Entries of directory `dir` ("" or "/" = root), without `.` and
    /// `..`: (long name, is directory, size in bytes).
    pub fn list(&self, dir: &str) -> Result<Vec<(String, bool, u64)>> {
        let parts = components(dir)?;
        let d = self.dir(&parts, dir)?;
        let mut out = Vec::new();
        for e in d.iter() {
            let e = e.map_err(fat_err(dir))?;
            // FAT directories hold at most 65,536 entries (FAT spec,
            // "FAT Directory Structure"); more means a cyclic chain.
            if out.len() >= 65_536 {
                return Err(Error::Fat {
                    path: dir.to_string(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        "more than 65,536 directory entries (cyclic cluster chain?)",
                    ),
                });
            }
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            out.push((name, e.is_dir(), e.len()));
        }
        Ok(out)
    }

    /// Unmount: FSInfo written and the dirty flag cleared. (Data reaches
    /// the device as it is written: the adapter writes through.)
    pub fn close(self) -> Result<()> {
        // Makes FSInfo's free count known (it then stays up to date).
        self.fs.stats().map_err(fat_err("counting free clusters"))?;
        self.fs.unmount().map_err(fat_err("unmounting"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockdev::MemDev;

    #[test]
    fn filetime_to_fat() {
        // 2020-02-29 12:34:56 UTC.
        let ft = 116_444_736_000_000_000 + 1_582_979_696 * 10_000_000;
        let d = fat_datetime(ft);
        assert_eq!(
            (d.date.year, d.date.month, d.date.day),
            (2020, 2, 29),
            "{d:?}"
        );
        assert_eq!((d.time.hour, d.time.min, d.time.sec), (12, 34, 56));
        assert_eq!(fat_datetime(0).date.year, 1980);
    }

    #[test]
    fn labels() {
        assert_eq!(&label_bytes("System").unwrap(), b"SYSTEM     ");
        assert!(label_bytes("way too long label").is_err());
        assert!(label_bytes("a/b").is_err());
    }

    #[test]
    fn roundtrip_in_memory() {
        let dev = MemDev::new(40 << 20);
        format_esp(&dev, "ESP", 0x1234_5678).unwrap();
        let esp = Esp::open_with(&dev, &EspOptions { time: Some(0) }).unwrap();
        assert_eq!(esp.fat_type(), fatfs::FatType::Fat32);
        assert_eq!(esp.volume_id(), 0x1234_5678);
        esp.create_dir_all("EFI/Microsoft/Boot").unwrap();
        esp.create_dir_all("EFI\\Boot").unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        esp.write_file("EFI/Boot/bootx64.efi", &big).unwrap();
        esp.write_file("EFI/Microsoft/Boot/BCD", b"hive").unwrap();
        esp.write_file("EFI/Microsoft/Boot/BCD", b"hive2").unwrap();
        assert_eq!(esp.read_file("efi/boot/BOOTX64.EFI").unwrap(), big);
        assert_eq!(esp.read_file("EFI/Microsoft/Boot/BCD").unwrap(), b"hive2");
        let mut l = esp.list("EFI").unwrap();
        l.sort();
        assert_eq!(
            l,
            vec![("Boot".into(), true, 0), ("Microsoft".into(), true, 0)]
        );
        assert!(esp.read_file("EFI/../x").is_err());
        assert!(esp.read_file("nope").is_err());
        esp.close().unwrap();
        let esp = Esp::open(&dev).unwrap();
        assert_eq!(esp.list("/EFI/Boot").unwrap()[0].2, big.len() as u64);
    }
}
