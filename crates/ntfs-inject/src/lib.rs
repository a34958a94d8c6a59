//! NTFS 3.1 on a positional block device ([`blockdev::BlockDev`]): a
//! formatter equivalent to `mkntfs`, a bulk writer that lays out a whole
//! tree known in advance (the WIM apply backend), and a reader with
//! bounds-checked parsing of every on-disk structure.
//!
//! One module per NTFS concept, named after the structure it implements
//! (the layout follows the NTFS documentation of the Linux-NTFS project,
//! "NTFS Documentation", sections "Files" and "Attributes"):
//!
//! | module | structure |
//! |---|---|
//! | [`boot`] | boot sector ($Boot) |
//! | [`fixup`] | update sequence array ("Concepts: Fixup") |
//! | [`record`] | FILE record header ("Concepts: File Record") |
//! | [`attribute`] | resident / non-resident attribute headers |
//! | [`attrlist`] | $ATTRIBUTE_LIST (0x20) and extension-record placement |
//! | [`runlist`] | data runs ("Concepts: Data Runs") |
//! | [`stdinfo`] | $STANDARD_INFORMATION (0x10) |
//! | [`filename`] | $FILE_NAME (0x30) |
//! | [`dosname`] | DOS 8.3 short names for new files |
//! | [`index`] | $INDEX_ROOT (0x90), INDX blocks, collation |
//! | [`secure`] | $Secure: $SDS, $SDH, $SII |
//! | [`upcase`] | $UpCase table and `$Info` |
//! | [`attrdef`] | $AttrDef table |
//! | [`logfile`] | $LogFile sizing |
//! | [`lznt1`] | LZNT1 decompression of compressed attributes |
//! | [`writer`] | volume layout and bulk writer (format = empty tree) |
//! | [`reader`] | volume reader (walk, read streams) |
//! | [`inject`] | adding files and directories to an existing volume |
//! | [`check`] | structural checker (bitmaps vs runlists, indexes, $Secure) |
//! | [`partition`] | MBR/GPT partition-entry reader |
//! | [`wim_apply`] | WIM image → bulk writer |
//! | [`wim_capture`] | volume → WIM image tree (capture) |

pub mod attrdef;
pub mod attribute;
pub mod attrlist;
pub mod boot;
pub mod check;
pub mod dosname;
pub mod error;
pub mod filename;
pub mod fixup;
pub mod index;
pub mod inject;
pub mod layout;
pub mod logfile;
pub mod lznt1;
pub mod partition;
pub mod reader;
pub mod record;
pub mod runlist;
pub mod secure;
pub mod stdinfo;
pub mod upcase;
pub mod wim_apply;
pub mod wim_capture;
pub mod writer;

pub use error::{Error, Result};
pub use reader::Volume;
pub use writer::{format, FormatOptions, Name, Node, Reparse, StreamSpec, Tree, VolumeWriter};

/// Little-endian field access on byte slices; callers check bounds first.
pub(crate) mod le {
    pub fn u16(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes([b[o], b[o + 1]])
    }
    pub fn u32(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }
    pub fn u64(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }
    pub fn put16(b: &mut [u8], o: usize, v: u16) {
        b[o..o + 2].copy_from_slice(&v.to_le_bytes());
    }
    pub fn put32(b: &mut [u8], o: usize, v: u32) {
        b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }
    pub fn put64(b: &mut [u8], o: usize, v: u64) {
        b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }
}
