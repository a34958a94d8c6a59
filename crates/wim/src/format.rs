//! On-disk constants of the WIM format (wimlib's format notes:
//! `include/wimlib/header.h`, `resource.h`, `dentry.c`, `tagged_items.c`;
//! Microsoft's "Windows Imaging File Format" paper).

/// Magic of an ordinary WIM, header offset 0.
pub const WIM_MAGIC: [u8; 8] = *b"MSWIM\0\0\0";
/// Magic of a wimlib "pipable" WIM.
pub const PWM_MAGIC: [u8; 8] = *b"WLPWM\0\0\0";
/// Size of the on-disk header.
pub const HEADER_SIZE: usize = 208;

/// Default version: every blob compressed on its own.
pub const VERSION_DEFAULT: u32 = 0x10d00;
/// Version needed for solid resources and LZMS (ESD files).
pub const VERSION_SOLID: u32 = 0xe00;

pub mod hdr_flags {
    pub const RESERVED: u32 = 0x0000_0001;
    pub const COMPRESSION: u32 = 0x0000_0002;
    pub const READONLY: u32 = 0x0000_0004;
    pub const SPANNED: u32 = 0x0000_0008;
    pub const RESOURCE_ONLY: u32 = 0x0000_0010;
    pub const METADATA_ONLY: u32 = 0x0000_0020;
    pub const WRITE_IN_PROGRESS: u32 = 0x0000_0040;
    pub const RP_FIX: u32 = 0x0000_0080;
    pub const COMPRESS_RESERVED: u32 = 0x0001_0000;
    pub const COMPRESS_XPRESS: u32 = 0x0002_0000;
    pub const COMPRESS_LZX: u32 = 0x0004_0000;
    pub const COMPRESS_LZMS: u32 = 0x0008_0000;
    pub const COMPRESS_XPRESS_2: u32 = 0x0020_0000;
}

pub mod res_flags {
    pub const FREE: u8 = 0x01;
    pub const METADATA: u8 = 0x02;
    pub const COMPRESSED: u8 = 0x04;
    pub const SPANNED: u8 = 0x08;
    pub const SOLID: u8 = 0x10;
}

/// Uncompressed size recorded for a solid resource's own blob-table entry.
pub const SOLID_RESOURCE_MAGIC: u64 = 0x1_0000_0000;
/// Size of one blob table entry.
pub const BLOB_ENTRY_SIZE: usize = 50;
/// Fixed part of a dentry.
pub const DENTRY_FIXED_SIZE: usize = 102;
/// Fixed part of an extra stream entry.
pub const EXTRA_STREAM_FIXED_SIZE: usize = 38;
/// Magic that starts each blob header in a pipable WIM.
pub const PWM_BLOB_MAGIC: u64 = 0x2b9b_9ba2_443d_b9d8;

/// Windows file attributes (MS-FSCC 2.6).
pub mod attr {
    pub const READONLY: u32 = 0x1;
    pub const HIDDEN: u32 = 0x2;
    pub const SYSTEM: u32 = 0x4;
    pub const DIRECTORY: u32 = 0x10;
    pub const ARCHIVE: u32 = 0x20;
    pub const DEVICE: u32 = 0x40;
    pub const NORMAL: u32 = 0x80;
    pub const TEMPORARY: u32 = 0x100;
    pub const SPARSE_FILE: u32 = 0x200;
    pub const REPARSE_POINT: u32 = 0x400;
    pub const COMPRESSED: u32 = 0x800;
    pub const OFFLINE: u32 = 0x1000;
    pub const NOT_CONTENT_INDEXED: u32 = 0x2000;
    pub const ENCRYPTED: u32 = 0x4000;
}

/// Tags of the tagged metadata items that may follow a dentry's names.
pub mod tag {
    pub const OBJECT_ID: u32 = 0x1;
    pub const XATTRS: u32 = 0x2;
    pub const WIMLIB_UNIX_DATA: u32 = 0x337D_D873;
    pub const WIMLIB_LINUX_XATTRS: u32 = 0x337D_D874;
}

/// Reparse tags that matter when extracting to a POSIX directory.
pub mod reparse {
    pub const SYMLINK: u32 = 0xA000_000C;
    pub const MOUNT_POINT: u32 = 0xA000_0003;
}

/// Chunk size of the integrity table's hashed ranges.
pub const INTEGRITY_CHUNK_SIZE: u32 = 10 * 1024 * 1024;

/// SHA-1 of zero bytes: a stream with this hash is empty, whether or not the
/// blob table lists a (zero-length) blob for it.
pub const EMPTY_SHA1: [u8; 20] = [
    0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55, 0xbf, 0xef, 0x95, 0x60, 0x18, 0x90,
    0xaf, 0xd8, 0x07, 0x09,
];
