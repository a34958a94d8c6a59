//! Key node cells, "nk" (regf specification, "Key node").
//!
//! ```text
//! 0x00 "nk"  0x02 flags  0x04 last written (FILETIME)  0x0C access bits
//! 0x10 parent  0x14 subkeys  0x18 volatile subkeys  0x1C subkey list
//! 0x20 volatile subkey list  0x24 values  0x28 value list  0x2C security
//! 0x30 class name  0x34 largest subkey name (low 16 bits; high bits: flags)
//! 0x38 largest class name  0x3C largest value name  0x40 largest value data
//! 0x44 work var  0x48 name length  0x4A class length  0x4C name
//! ```

use crate::base::{u16_at, u32_at, u64_at};
use crate::cell::Cells;
use crate::error::Result;

pub const HEADER: usize = 0x4C;
/// Flag: the key is the root of a hive.
pub const KEY_HIVE_ENTRY: u16 = 0x0004;
/// Flag: the key cannot be deleted.
pub const KEY_NO_DELETE: u16 = 0x0008;
/// Flag: the name is stored one byte per character.
pub const KEY_COMP_NAME: u16 = 0x0020;

pub struct Nk<'a> {
    pub flags: u16,
    pub timestamp: u64,
    pub access_bits: u32,
    pub subkey_count: u32,
    pub subkey_list: u32,
    pub value_count: u32,
    pub value_list: u32,
    pub security: u32,
    pub class: u32,
    pub max_name_hi: u16,
    pub class_len: u16,
    pub name: &'a [u8],
}

pub fn parse<'a>(cells: &Cells<'a>, off: u32) -> Result<Nk<'a>> {
    const S: &str = "key node (nk)";
    let c = cells.get(off, S)?;
    Cells::sig(c, b"nk", off, S)?;
    Cells::need(c, HEADER, off, S)?;
    let name_len = u16_at(c, 0x48) as usize;
    Cells::need(c, HEADER + name_len, off, S)?;
    Ok(Nk {
        flags: u16_at(c, 2),
        timestamp: u64_at(c, 4),
        access_bits: u32_at(c, 0x0C),
        subkey_count: u32_at(c, 0x14),
        subkey_list: u32_at(c, 0x1C),
        value_count: u32_at(c, 0x24),
        value_list: u32_at(c, 0x28),
        security: u32_at(c, 0x2C),
        class: u32_at(c, 0x30),
        max_name_hi: (u32_at(c, 0x34) >> 16) as u16,
        class_len: u16_at(c, 0x4A),
        name: &c[HEADER..HEADER + name_len],
    })
}
