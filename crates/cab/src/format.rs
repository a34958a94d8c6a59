//! On-disk constants of \[MS-CAB\] (§2.1 CFHEADER, §2.2 CFFOLDER, §2.3 CFFILE,
//! §2.4 CFDATA).

/// `MSCF`, the CFHEADER signature.
pub const SIGNATURE: [u8; 4] = *b"MSCF";
/// Size of the fixed part of CFHEADER.
pub const CFHEADER_SIZE: usize = 36;
/// Size of the optional reserve-size fields (cbCFHeader, cbCFFolder, cbCFData).
pub const CFHEADER_RESERVE_FIELDS: usize = 4;
/// Largest cbCFHeader the format allows.
pub const MAX_HEADER_RESERVE: u16 = 60_000;
/// Size of the fixed part of CFFOLDER.
pub const CFFOLDER_SIZE: usize = 8;
/// Size of the fixed part of CFFILE (before the name).
pub const CFFILE_SIZE: usize = 16;
/// Size of the fixed part of CFDATA.
pub const CFDATA_SIZE: usize = 8;
/// Longest name (cabinet, disk or file name) without its NUL.
pub const MAX_NAME: usize = 255;

/// cfhdrPREV_CABINET: szCabinetPrev/szDiskPrev present.
pub const FLAG_PREV_CABINET: u16 = 0x0001;
/// cfhdrNEXT_CABINET: szCabinetNext/szDiskNext present.
pub const FLAG_NEXT_CABINET: u16 = 0x0002;
/// cfhdrRESERVE_PRESENT: the reserve-size fields are present.
pub const FLAG_RESERVE_PRESENT: u16 = 0x0004;

/// iFolder: the file continues from the previous cabinet.
pub const IFOLD_CONTINUED_FROM_PREV: u16 = 0xFFFD;
/// iFolder: the file continues into the next cabinet.
pub const IFOLD_CONTINUED_TO_NEXT: u16 = 0xFFFE;
/// iFolder: the file continues from the previous and into the next cabinet.
pub const IFOLD_CONTINUED_PREV_AND_NEXT: u16 = 0xFFFF;

/// File attributes (CFFILE attribs).
pub const ATTR_READONLY: u16 = 0x01;
pub const ATTR_HIDDEN: u16 = 0x02;
pub const ATTR_SYSTEM: u16 = 0x04;
pub const ATTR_ARCHIVE: u16 = 0x20;
pub const ATTR_EXEC: u16 = 0x40;
/// The name is UTF-8 (otherwise it is in an unspecified 8-bit code page).
pub const ATTR_NAME_IS_UTF: u16 = 0x80;

/// typeCompress method values (low 4 bits).
pub const COMP_NONE: u16 = 0;
pub const COMP_MSZIP: u16 = 1;
pub const COMP_QUANTUM: u16 = 2;
pub const COMP_LZX: u16 = 3;

/// Most uncompressed bytes one CFDATA block may hold.
pub const MAX_BLOCK_UNCOMPRESSED: usize = 32_768;
/// Most compressed bytes one (possibly split and rejoined) CFDATA block may
/// hold: 32 KiB plus the 6 KiB expansion allowance that compressors use.
pub const MAX_BLOCK_COMPRESSED: usize = 32_768 + 6_144;
/// Longest chain of cabinet files followed when opening a set.
pub const MAX_SET_PARTS: usize = 1024;
