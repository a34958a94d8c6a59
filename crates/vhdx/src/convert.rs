//! Conversion: any block device (a raw image, a VHDX, a differencing chain)
//! into a VHDX or a raw image. Zero runs are never written, so they stay
//! unallocated (VHDX) or sparse (raw). Reading and writing overlap: a
//! reader thread reads and zero-checks chunks while the caller's thread
//! writes.

use crate::create::{CreateKind, CreateOptions};
use crate::disk::Vhdx;
use crate::error::{Error, Result};
use blockdev::{AtomicFile, BlockDev, FileDev};
use std::path::Path;
use std::sync::mpsc;

/// I/O size of conversions. Small enough that the copy buffers stay in the
/// CPU caches (32 MiB buffers measured 1.6x slower on a busy machine);
/// every VHDX block size is a multiple of it.
pub const RAW_CHUNK: usize = 1 << 20;

fn io_chunk() -> usize {
    std::env::var("WIMFORGE_IO_CHUNK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&c| c.is_power_of_two() && (4096..=256 << 20).contains(&c))
        .unwrap_or(RAW_CHUNK)
}

/// Copy the whole of `src` into `dst` (same length or longer), skipping
/// chunks of `chunk` bytes that are zero. `progress` is called with the
/// bytes of `src` processed so far. Returns the bytes written.
pub fn copy_nonzero(
    src: &dyn BlockDev,
    dst: &dyn BlockDev,
    chunk: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<u64> {
    let len = src.len();
    if std::env::var_os("WIMFORGE_NO_PIPELINE").is_some() {
        return copy_sequential(src, dst, chunk, progress);
    }
    // The reader hands over batches of chunks, so a busy machine's
    // scheduling latency is paid once per batch rather than per chunk.
    const BATCH: usize = 8;
    type Batch = Vec<(u64, Vec<u8>)>;
    let (full_tx, full_rx) = mpsc::sync_channel::<std::io::Result<Batch>>(2);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..4 * BATCH {
        empty_tx.send(vec![0u8; chunk]).expect("receiver alive");
    }
    let mut written = 0u64;
    std::thread::scope(|s| -> std::io::Result<()> {
        s.spawn(move || {
            let mut off = 0u64;
            let mut batch: Batch = Vec::with_capacity(BATCH);
            let mut spare: Option<Vec<u8>> = None;
            while off < len {
                let n = (len - off).min(chunk as u64) as usize;
                if src.known_zero(off, n as u64) {
                    off += n as u64;
                    progress(off);
                    continue;
                }
                let mut buf = match spare.take() {
                    Some(b) => b,
                    None => match empty_rx.recv() {
                        Ok(b) => b,
                        Err(_) => return,
                    },
                };
                buf.resize(n, 0);
                if let Err(e) = src.read_at(off, &mut buf) {
                    let _ = full_tx.send(Err(e));
                    return;
                }
                if blockdev::is_zero(&buf) {
                    spare = Some(buf);
                } else {
                    batch.push((off, buf));
                }
                off += n as u64;
                progress(off);
                if batch.len() == BATCH
                    && full_tx
                        .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                        .is_err()
                {
                    return;
                }
            }
            if !batch.is_empty() {
                let _ = full_tx.send(Ok(batch));
            }
        });
        // Owned here so that an early return unblocks the reader.
        let full_rx = full_rx;
        let empty_tx = empty_tx;
        for item in full_rx.iter() {
            for (off, buf) in item? {
                dst.write_at(off, &buf)?;
                written += buf.len() as u64;
                let _ = empty_tx.send(buf);
            }
        }
        Ok(())
    })?;
    Ok(written)
}

/// The same as [`copy_nonzero`] on one thread.
pub fn copy_sequential(
    src: &dyn BlockDev,
    dst: &dyn BlockDev,
    chunk: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<u64> {
    let len = src.len();
    let mut buf = vec![0u8; chunk];
    let mut off = 0u64;
    let mut written = 0u64;
    while off < len {
        let n = (len - off).min(chunk as u64) as usize;
        if !src.known_zero(off, n as u64) {
            src.read_at(off, &mut buf[..n])?;
            if !blockdev::is_zero(&buf[..n]) {
                dst.write_at(off, &buf[..n])?;
                written += n as u64;
            }
        }
        off += n as u64;
        progress(off);
    }
    Ok(written)
}

/// Convert `src` into a new VHDX at `out` (written under a temporary name
/// and renamed when complete). `opts.size` is replaced by the source size
/// rounded up to the logical sector size.
pub fn to_vhdx(
    src: &dyn BlockDev,
    out: &Path,
    opts: &CreateOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let mut o = opts.clone();
    if o.kind == CreateKind::Differencing {
        return Err(Error::InvalidArgument(
            "convert cannot produce a differencing disk".into(),
        ));
    }
    o.size = src.len().div_ceil(o.logical_sector_size as u64) * o.logical_sector_size as u64;
    let chunk = io_chunk().min(o.block_size as usize);
    crate::create_file(out, &o, None, |d: &Vhdx| {
        copy_nonzero(src, d, chunk, progress).map_err(|e| Error::Io {
            file: out.display().to_string(),
            structure: "payload",
            offset: 0,
            source: e,
        })?;
        Ok(())
    })
}

/// Convert `src` into a raw (sparse) image at `out`, atomically.
pub fn to_raw(src: &dyn BlockDev, out: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
    let name = out.display().to_string();
    let ioe = |e: std::io::Error| Error::Io {
        file: name.clone(),
        structure: "output file",
        offset: 0,
        source: e,
    };
    let tmp = AtomicFile::create(out).map_err(ioe)?;
    let dev = FileDev::from_file(tmp.file().map_err(ioe)?, tmp.temp_path(), false).map_err(ioe)?;
    dev.set_len(src.len()).map_err(ioe)?;
    copy_nonzero(src, &dev, io_chunk(), progress).map_err(ioe)?;
    drop(dev);
    tmp.commit().map_err(ioe)
}
