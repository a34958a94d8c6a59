//! Subkey lists (regf specification, "Subkeys list"): "li" (index leaf:
//! offsets), "lf" (fast leaf: offset + first four name characters), "lh"
//! (hash leaf: offset + name hash) and "ri" (root index: offsets of leaves).
//!
//! ```text
//! 0x00 signature  0x02 count (u16)  0x04 elements (4 or 8 bytes each)
//! ```
//! Windows keeps leaf elements sorted by uppercase name; "ri" exists when a
//! key has too many subkeys for one leaf.

use crate::base::{u16_at, u32_at};
use crate::cell::Cells;
use crate::error::{Error, ErrorKind, Result};

/// Append the nk offsets named by the list at `off` to `out`, never more
/// than `limit` in total (the count the key node promised).
pub fn collect(cells: &Cells, off: u32, limit: usize, out: &mut Vec<u32>) -> Result<()> {
    collect_at(cells, off, limit, out, 0)
}

fn collect_at(cells: &Cells, off: u32, limit: usize, out: &mut Vec<u32>, depth: u32) -> Result<()> {
    const S: &str = "subkey list";
    let c = cells.get(off, S)?;
    Cells::need(c, 4, off, S)?;
    let count = u16_at(c, 2) as usize;
    let (step, is_ri) = match &c[0..2] {
        b"li" => (4, false),
        b"lf" | b"lh" => (8, false),
        b"ri" => (4, true),
        _ => return Err(Error::at(Cells::abs(off), S, ErrorKind::BadSignature)),
    };
    Cells::need(c, 4 + count * step, off, S)?;
    if is_ri && depth > 0 {
        return Err(Error::at(
            Cells::abs(off),
            S,
            ErrorKind::Unsupported("root index inside a root index".into()),
        ));
    }
    for i in 0..count {
        let e = u32_at(c, 4 + i * step);
        if is_ri {
            collect_at(cells, e, limit, out, depth + 1)?;
        } else {
            if out.len() >= limit {
                return Err(Error::at(
                    Cells::abs(off),
                    S,
                    ErrorKind::BadSize(format!(
                        "more subkeys than the {limit} the key node declares"
                    )),
                ));
            }
            out.push(e);
        }
    }
    Ok(())
}
