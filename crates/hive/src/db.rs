//! Big data cells, "db" (regf specification, "Big data"): values longer
//! than 16344 bytes in hives of format 1.4 and later are split into
//! segments of at most 16344 bytes, listed by a segment list cell.
//!
//! ```text
//! 0x00 "db"  0x02 segment count  0x04 segment list offset
//! ```

use crate::base::{u16_at, u32_at};
use crate::cell::Cells;
use crate::error::{Error, ErrorKind, Result};

pub const SEGMENT: usize = 16344;

/// Is the cell at `off` a big data cell?
pub fn is_db(cells: &Cells, off: u32) -> bool {
    cells
        .get(off, "big data (db)")
        .map(|c| c.len() >= 8 && &c[0..2] == b"db")
        .unwrap_or(false)
}

/// Read `len` bytes of big data.
pub fn read(cells: &Cells, off: u32, len: usize) -> Result<Vec<u8>> {
    const S: &str = "big data (db)";
    let c = cells.get(off, S)?;
    Cells::sig(c, b"db", off, S)?;
    Cells::need(c, 8, off, S)?;
    let count = u16_at(c, 2) as usize;
    if count * SEGMENT < len {
        return Err(Error::at(
            Cells::abs(off),
            S,
            ErrorKind::BadSize(format!("{count} segments cannot hold {len} bytes")),
        ));
    }
    let list_off = u32_at(c, 4);
    let list = cells.get(list_off, "big data segment list")?;
    Cells::need(list, count * 4, list_off, "big data segment list")?;
    let mut out = Vec::with_capacity(len);
    for i in 0..count {
        if out.len() >= len {
            break;
        }
        let seg_off = u32_at(list, i * 4);
        let seg = cells.get(seg_off, "big data segment")?;
        let take = (len - out.len()).min(SEGMENT).min(seg.len());
        out.extend_from_slice(&seg[..take]);
    }
    if out.len() != len {
        return Err(Error::at(
            Cells::abs(off),
            S,
            ErrorKind::BadSize(format!("segments hold {} of {len} bytes", out.len())),
        ));
    }
    Ok(out)
}
