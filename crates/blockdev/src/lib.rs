//! A small positional block-device abstraction.
//!
//! Everything that lays out a disk (partition tables, FAT, NTFS, the VHDX
//! container) talks to a [`BlockDev`]: a fixed-length array of bytes with
//! positional reads and writes. Both reads and writes take `&self`, like
//! `pread`/`pwrite`, so one device can be shared by several readers (and
//! by several partition windows) at once; implementations synchronise
//! internally where they must.
//!
//! Implementations here:
//! - [`FileDev`]: a raw image file (or block device node),
//! - [`MemDev`]: a growable in-memory buffer,
//! - [`Window`]: a bounds-checked `offset + length` view of another device
//!   (a partition).
//!
//! The VHDX container implements the trait in the `vhdx` crate.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

mod atomic_file;
pub use atomic_file::AtomicFile;

/// A fixed-size, byte-addressed device with positional I/O.
///
/// Reads and writes must lie entirely inside `0..len()`; anything else is an
/// [`io::ErrorKind::UnexpectedEof`] (reads) or [`io::ErrorKind::InvalidInput`]
/// (writes) error, never a short transfer.
pub trait BlockDev: Send + Sync {
    /// Size of the device in bytes.
    fn len(&self) -> u64;

    /// True when the device holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fill `buf` from `offset`. The whole range must be inside the device.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Write `buf` at `offset`. The whole range must be inside the device.
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()>;

    /// Make every completed write durable.
    fn flush(&self) -> io::Result<()>;

    /// True when writes are refused.
    fn is_read_only(&self) -> bool {
        false
    }

    /// Change the device length, when the device supports it (files and
    /// memory do; partition windows and virtual disks do not).
    fn set_len(&self, _len: u64) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this device cannot be resized",
        ))
    }

    /// A cheap hint: `true` means `offset..offset+len` is known to read as
    /// zeros without reading it (an unallocated virtual-disk block, a file
    /// hole). `false` means "unknown", never "non-zero".
    fn known_zero(&self, _offset: u64, _len: u64) -> bool {
        false
    }
}

/// Check that `offset..offset+len` lies within a device of `dev_len` bytes.
pub fn check_range(dev_len: u64, offset: u64, len: usize, write: bool) -> io::Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= dev_len => Ok(()),
        _ => Err(io::Error::new(
            if write {
                io::ErrorKind::InvalidInput
            } else {
                io::ErrorKind::UnexpectedEof
            },
            format!(
                "{} of {len} bytes at offset {offset:#x} is outside the device ({dev_len:#x} bytes)",
                if write { "write" } else { "read" }
            ),
        )),
    }
}

fn read_only_error() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "device is read-only")
}

impl<T: BlockDev + ?Sized> BlockDev for &T {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        (**self).write_at(offset, buf)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
    fn is_read_only(&self) -> bool {
        (**self).is_read_only()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        (**self).set_len(len)
    }
    fn known_zero(&self, offset: u64, len: u64) -> bool {
        (**self).known_zero(offset, len)
    }
}

macro_rules! forward_smart_ptr {
    ($t:ty) => {
        impl<T: BlockDev + ?Sized> BlockDev for $t {
            fn len(&self) -> u64 {
                (**self).len()
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
                (**self).read_at(offset, buf)
            }
            fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
                (**self).write_at(offset, buf)
            }
            fn flush(&self) -> io::Result<()> {
                (**self).flush()
            }
            fn is_read_only(&self) -> bool {
                (**self).is_read_only()
            }
            fn set_len(&self, len: u64) -> io::Result<()> {
                (**self).set_len(len)
            }
            fn known_zero(&self, offset: u64, len: u64) -> bool {
                (**self).known_zero(offset, len)
            }
        }
    };
}
forward_smart_ptr!(Box<T>);
forward_smart_ptr!(Arc<T>);

/// A raw image file. The length is taken at open time and tracked through
/// [`BlockDev::set_len`]; writes past it are refused.
#[derive(Debug)]
pub struct FileDev {
    file: File,
    path: PathBuf,
    len: AtomicU64,
    read_only: bool,
}

impl FileDev {
    /// Open an existing file, read-only or read-write.
    pub fn open(path: impl AsRef<Path>, writable: bool) -> io::Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        Self::from_file(file, path, !writable)
    }

    /// Wrap an already opened file.
    pub fn from_file(file: File, path: impl AsRef<Path>, read_only: bool) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileDev {
            file,
            path: path.as_ref().to_path_buf(),
            len: AtomicU64::new(len),
            read_only,
        })
    }

    /// Create (or truncate) a file of `len` bytes; on most file systems the
    /// new file is sparse.
    pub fn create(path: impl AsRef<Path>, len: u64) -> io::Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(len)?;
        Self::from_file(file, path, false)
    }

    /// The path this device was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

#[cfg(unix)]
fn pread(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}
#[cfg(unix)]
fn pwrite(file: &File, offset: u64, buf: &[u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}
#[cfg(windows)]
fn pread(file: &File, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_read(buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}
#[cfg(windows)]
fn pwrite(file: &File, mut offset: u64, mut buf: &[u8]) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_write(buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

impl BlockDev for FileDev {
    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(self.len(), offset, buf.len(), false)?;
        pread(&self.file, offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(read_only_error());
        }
        check_range(self.len(), offset, buf.len(), true)?;
        pwrite(&self.file, offset, buf)
    }
    fn flush(&self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data()
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    /// On Linux, file holes (found with `SEEK_DATA`) are known zeros.
    #[cfg(target_os = "linux")]
    fn known_zero(&self, offset: u64, len: u64) -> bool {
        use std::os::fd::AsRawFd;
        let Some(end) = offset.checked_add(len) else {
            return false;
        };
        if end > self.len() || offset > i64::MAX as u64 {
            return false;
        }
        // SAFETY: lseek on a file descriptor we own; it only moves the file
        // position, which positional I/O never uses.
        let r = unsafe {
            libc::lseek(
                self.file.as_raw_fd(),
                offset as libc::off_t,
                libc::SEEK_DATA,
            )
        };
        if r < 0 {
            // ENXIO: no data at or after `offset`.
            return io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
        }
        r as u64 >= end
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        if self.read_only {
            return Err(read_only_error());
        }
        self.file.set_len(len)?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }
}

/// An in-memory device. It can be resized, and made read-only.
#[derive(Debug, Default)]
pub struct MemDev {
    data: RwLock<Vec<u8>>,
    read_only: bool,
}

impl MemDev {
    /// A zero-filled device of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self::from_vec(vec![0; len])
    }
    /// A device holding `data`.
    pub fn from_vec(data: Vec<u8>) -> Self {
        MemDev {
            data: RwLock::new(data),
            read_only: false,
        }
    }
    /// A read-only device holding a copy of `data`.
    pub fn read_only(data: &[u8]) -> Self {
        MemDev {
            data: RwLock::new(data.to_vec()),
            read_only: true,
        }
    }
    /// The contents.
    pub fn into_vec(self) -> Vec<u8> {
        self.data.into_inner().unwrap_or_else(|e| e.into_inner())
    }
    /// A copy of the contents.
    pub fn to_vec(&self) -> Vec<u8> {
        self.data.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl BlockDev for MemDev {
    fn len(&self) -> u64 {
        self.data.read().unwrap_or_else(|e| e.into_inner()).len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        check_range(data.len() as u64, offset, buf.len(), false)?;
        let o = offset as usize;
        buf.copy_from_slice(&data[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(read_only_error());
        }
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        check_range(data.len() as u64, offset, buf.len(), true)?;
        let o = offset as usize;
        data[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        if self.read_only {
            return Err(read_only_error());
        }
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "too large for memory"))?;
        self.data
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .resize(len, 0);
        Ok(())
    }
}

/// A bounds-checked window (`offset`, `len`) over another device: a
/// partition. Accesses outside the window fail; nothing outside it is ever
/// touched.
#[derive(Debug, Clone)]
pub struct Window<D> {
    inner: D,
    offset: u64,
    len: u64,
}

impl<D: BlockDev> Window<D> {
    /// A window of `len` bytes starting at `offset` of `inner`. Fails when the
    /// window does not fit in `inner`.
    pub fn new(inner: D, offset: u64, len: u64) -> io::Result<Self> {
        match offset.checked_add(len) {
            Some(end) if end <= inner.len() => Ok(Window { inner, offset, len }),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "window {offset:#x}+{len:#x} does not fit in a device of {:#x} bytes",
                    inner.len()
                ),
            )),
        }
    }
    /// Where the window starts in the inner device.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// The inner device.
    pub fn inner(&self) -> &D {
        &self.inner
    }
    /// Unwrap the inner device.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: BlockDev> BlockDev for Window<D> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(self.len, offset, buf.len(), false)?;
        self.inner.read_at(self.offset + offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        check_range(self.len, offset, buf.len(), true)?;
        self.inner.write_at(self.offset + offset, buf)
    }
    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
    fn is_read_only(&self) -> bool {
        self.inner.is_read_only()
    }
    fn known_zero(&self, offset: u64, len: u64) -> bool {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => self.inner.known_zero(self.offset + offset, len),
            _ => false,
        }
    }
}

/// True when every byte of `buf` is zero (fast path over 16-byte words).
pub fn is_zero(buf: &[u8]) -> bool {
    let (head, body, tail) = unsafe { buf.align_to::<u128>() };
    head.iter().all(|&b| b == 0) && body.iter().all(|&w| w == 0) && tail.iter().all(|&b| b == 0)
}

/// Copy `len` bytes from `src` at `src_off` to `dst` at `dst_off` in chunks
/// of `chunk` bytes, skipping chunks that are zero (the destination is
/// assumed to read zeros there already). Returns the bytes actually written.
pub fn copy_skip_zeros(
    src: &dyn BlockDev,
    src_off: u64,
    dst: &dyn BlockDev,
    dst_off: u64,
    len: u64,
    chunk: usize,
) -> io::Result<u64> {
    let mut buf = vec![0u8; chunk.max(512)];
    let mut done = 0u64;
    let mut written = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        if src.known_zero(src_off + done, n as u64) {
            done += n as u64;
            continue;
        }
        src.read_at(src_off + done, &mut buf[..n])?;
        if !is_zero(&buf[..n]) {
            dst.write_at(dst_off + done, &buf[..n])?;
            written += n as u64;
        }
        done += n as u64;
    }
    Ok(written)
}
