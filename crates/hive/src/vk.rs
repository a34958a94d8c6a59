//! Key value cells, "vk" (regf specification, "Key value").
//!
//! ```text
//! 0x00 "vk"  0x02 name length  0x04 data size (bit 31: data stored in the
//! offset field itself, up to 4 bytes)  0x08 data offset  0x0C data type
//! 0x10 flags (bit 0: name compressed)  0x12 spare  0x14 name
//! ```

use crate::base::{u16_at, u32_at};
use crate::cell::Cells;
use crate::error::Result;

pub const HEADER: usize = 0x14;
pub const VALUE_COMP_NAME: u16 = 0x0001;
/// Bit 31 of the data size: data lives in the data-offset field.
pub const DATA_INLINE: u32 = 0x8000_0000;

pub struct Vk<'a> {
    pub data_size: u32,
    pub data_offset: u32,
    pub data_type: u32,
    pub flags: u16,
    pub name: &'a [u8],
}

pub fn parse<'a>(cells: &Cells<'a>, off: u32) -> Result<Vk<'a>> {
    const S: &str = "key value (vk)";
    let c = cells.get(off, S)?;
    Cells::sig(c, b"vk", off, S)?;
    Cells::need(c, HEADER, off, S)?;
    let name_len = u16_at(c, 2) as usize;
    Cells::need(c, HEADER + name_len, off, S)?;
    Ok(Vk {
        data_size: u32_at(c, 4),
        data_offset: u32_at(c, 8),
        data_type: u32_at(c, 0x0C),
        flags: u16_at(c, 0x10),
        name: &c[HEADER..HEADER + name_len],
    })
}
