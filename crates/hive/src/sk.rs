//! Key security cells, "sk" (regf specification, "Key security"). All sk
//! cells of a hive form a circular doubly linked list; each is shared by
//! every key with the same security descriptor and counts its users.
//!
//! ```text
//! 0x00 "sk"  0x02 reserved  0x04 flink  0x08 blink  0x0C reference count
//! 0x10 descriptor size  0x14 self-relative security descriptor
//! ```

use crate::base::u32_at;
use crate::cell::Cells;
use crate::error::{Error, ErrorKind, Result};

pub const HEADER: usize = 0x14;

/// The security descriptor bytes of the sk cell at `off`.
pub fn parse<'a>(cells: &Cells<'a>, off: u32) -> Result<&'a [u8]> {
    const S: &str = "key security (sk)";
    let c = cells.get(off, S)?;
    Cells::sig(c, b"sk", off, S)?;
    Cells::need(c, HEADER, off, S)?;
    let len = u32_at(c, 0x10) as usize;
    if len > c.len() - HEADER {
        return Err(Error::at(
            Cells::abs(off) + 4 + 0x10,
            S,
            ErrorKind::BadSize(format!("descriptor size {len:#x} exceeds its cell")),
        ));
    }
    Ok(&c[HEADER..HEADER + len])
}
