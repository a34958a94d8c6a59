//! On-disk constants of NTFS 3.1 (NTFS Documentation: "Attributes",
//! "Files", "Concepts: File Reference").

/// Attribute type codes.
pub mod attr_type {
    pub const STANDARD_INFORMATION: u32 = 0x10;
    pub const ATTRIBUTE_LIST: u32 = 0x20;
    pub const FILE_NAME: u32 = 0x30;
    pub const OBJECT_ID: u32 = 0x40;
    pub const SECURITY_DESCRIPTOR: u32 = 0x50;
    pub const VOLUME_NAME: u32 = 0x60;
    pub const VOLUME_INFORMATION: u32 = 0x70;
    pub const DATA: u32 = 0x80;
    pub const INDEX_ROOT: u32 = 0x90;
    pub const INDEX_ALLOCATION: u32 = 0xA0;
    pub const BITMAP: u32 = 0xB0;
    pub const REPARSE_POINT: u32 = 0xC0;
    pub const EA_INFORMATION: u32 = 0xD0;
    pub const EA: u32 = 0xE0;
    pub const LOGGED_UTILITY_STREAM: u32 = 0x100;
    pub const END: u32 = 0xFFFF_FFFF;
}

/// File attribute flags ($STANDARD_INFORMATION, $FILE_NAME).
pub mod file_attr {
    pub const READONLY: u32 = 0x1;
    pub const HIDDEN: u32 = 0x2;
    pub const SYSTEM: u32 = 0x4;
    pub const DIRECTORY: u32 = 0x10;
    pub const ARCHIVE: u32 = 0x20;
    pub const NORMAL: u32 = 0x80;
    pub const SPARSE_FILE: u32 = 0x200;
    pub const REPARSE_POINT: u32 = 0x400;
    pub const COMPRESSED: u32 = 0x800;
    pub const ENCRYPTED: u32 = 0x4000;
    /// Set in $FILE_NAME of directories (has an $I30 index).
    pub const DUP_FILE_NAME_INDEX_PRESENT: u32 = 0x1000_0000;
    /// Set on files holding view indexes ($Secure, $Quota, ...).
    pub const DUP_VIEW_INDEX_PRESENT: u32 = 0x2000_0000;
}

/// FILE record header flags.
pub mod record_flags {
    pub const IN_USE: u16 = 0x1;
    pub const IS_DIRECTORY: u16 = 0x2;
    pub const IS_4: u16 = 0x4;
    pub const IS_VIEW_INDEX: u16 = 0x8;
}

/// $FILE_NAME namespaces.
pub mod namespace {
    pub const POSIX: u8 = 0;
    pub const WIN32: u8 = 1;
    pub const DOS: u8 = 2;
    pub const WIN32_AND_DOS: u8 = 3;
}

/// Index collation rules.
pub mod collation {
    pub const BINARY: u32 = 0;
    pub const FILE_NAME: u32 = 1;
    pub const NTOFS_ULONG: u32 = 0x10;
    pub const NTOFS_SID: u32 = 0x11;
    pub const NTOFS_SECURITY_HASH: u32 = 0x12;
    pub const NTOFS_ULONGS: u32 = 0x13;
}

/// Well-known MFT record numbers (NTFS Documentation: "Files").
pub mod mft_no {
    pub const MFT: u64 = 0;
    pub const MFT_MIRR: u64 = 1;
    pub const LOG_FILE: u64 = 2;
    pub const VOLUME: u64 = 3;
    pub const ATTR_DEF: u64 = 4;
    pub const ROOT: u64 = 5;
    pub const BITMAP: u64 = 6;
    pub const BOOT: u64 = 7;
    pub const BAD_CLUS: u64 = 8;
    pub const SECURE: u64 = 9;
    pub const UPCASE: u64 = 10;
    pub const EXTEND: u64 = 11;
    pub const QUOTA: u64 = 24;
    pub const OBJ_ID: u64 = 25;
    pub const REPARSE: u64 = 26;
    /// First record handed to user files (as libntfs-3g does).
    pub const FIRST_USER: u64 = 64;
}

/// MFT record size this implementation writes.
pub const MFT_RECORD_SIZE: usize = 1024;
/// INDX block size this implementation writes.
pub const INDEX_BLOCK_SIZE: usize = 4096;
/// Sector size this implementation writes.
pub const SECTOR_SIZE: usize = 512;

/// An MFT reference: record number (48 bits) and sequence number (16 bits).
pub fn mft_ref(record: u64, seq: u16) -> u64 {
    (record & 0xFFFF_FFFF_FFFF) | ((seq as u64) << 48)
}
