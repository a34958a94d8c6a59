//! In-memory log replay (MS-VHDX §2.3.3, footnote 5: a read-only open
//! replays the log in memory): a read-only view of the file with the log's
//! updates laid over it and its length extended to the head's
//! LastFileOffset. The file itself is never written.

use crate::log::LogOp;
use blockdev::BlockDev;
use std::io;

/// The file as it would be after replay.
pub struct Overlay<D> {
    inner: D,
    ops: Vec<LogOp>,
    len: u64,
}

impl<D: BlockDev> Overlay<D> {
    /// Lay `ops` (applied in order) over `inner`, extended to `min_len`.
    pub fn new(inner: D, ops: Vec<LogOp>, min_len: u64) -> Self {
        let mut len = inner.len().max(min_len);
        for op in &ops {
            let end = match op {
                LogOp::Data { offset, data } => offset.saturating_add(data.len() as u64),
                LogOp::Zero { offset, length } => offset.saturating_add(*length),
            };
            len = len.max(end);
        }
        Overlay { inner, ops, len }
    }
}

impl<D: BlockDev> BlockDev for Overlay<D> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        blockdev::check_range(self.len, offset, buf.len(), false)?;
        let end = offset + buf.len() as u64;
        let ilen = self.inner.len();
        if offset < ilen {
            let n = (ilen.min(end) - offset) as usize;
            self.inner.read_at(offset, &mut buf[..n])?;
            buf[n..].fill(0);
        } else {
            buf.fill(0);
        }
        for op in &self.ops {
            let (o, l) = match op {
                LogOp::Data { offset, data } => (*offset, data.len() as u64),
                LogOp::Zero { offset, length } => (*offset, *length),
            };
            let s = o.max(offset);
            let e = o.saturating_add(l).min(end);
            if s >= e {
                continue;
            }
            let dst = &mut buf[(s - offset) as usize..(e - offset) as usize];
            match op {
                LogOp::Data { data, .. } => {
                    dst.copy_from_slice(&data[(s - o) as usize..(e - o) as usize])
                }
                LogOp::Zero { .. } => dst.fill(0),
            }
        }
        Ok(())
    }
    fn write_at(&self, _offset: u64, _buf: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "replayed view is read-only",
        ))
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    fn is_read_only(&self) -> bool {
        true
    }
}
