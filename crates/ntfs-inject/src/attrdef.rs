//! The $AttrDef table (record 4), NTFS Documentation "Files: $AttrDef".
//! 160-byte entries: name (64 UTF-16 units), type, display rule,
//! collation rule, flags, minimum and maximum size.

/// Attribute may be indexed.
pub const INDEXABLE: u32 = 0x02;
/// Attribute is always resident.
pub const ALWAYS_RESIDENT: u32 = 0x40;
/// Attribute may be non-resident (changes are logged).
pub const MAY_BE_NON_RESIDENT: u32 = 0x80;

const DEFS: &[(&str, u32, u32, u64, u64)] = &[
    ("$STANDARD_INFORMATION", 0x10, ALWAYS_RESIDENT, 0x30, 0x48),
    ("$ATTRIBUTE_LIST", 0x20, MAY_BE_NON_RESIDENT, 0, u64::MAX),
    ("$FILE_NAME", 0x30, ALWAYS_RESIDENT | INDEXABLE, 0x44, 0x242),
    ("$OBJECT_ID", 0x40, ALWAYS_RESIDENT, 0, 0x100),
    (
        "$SECURITY_DESCRIPTOR",
        0x50,
        MAY_BE_NON_RESIDENT,
        0,
        u64::MAX,
    ),
    ("$VOLUME_NAME", 0x60, ALWAYS_RESIDENT, 2, 0x100),
    ("$VOLUME_INFORMATION", 0x70, ALWAYS_RESIDENT, 0xC, 0xC),
    ("$DATA", 0x80, 0, 0, u64::MAX),
    ("$INDEX_ROOT", 0x90, ALWAYS_RESIDENT, 0, u64::MAX),
    ("$INDEX_ALLOCATION", 0xA0, MAY_BE_NON_RESIDENT, 0, u64::MAX),
    ("$BITMAP", 0xB0, MAY_BE_NON_RESIDENT, 0, u64::MAX),
    ("$REPARSE_POINT", 0xC0, MAY_BE_NON_RESIDENT, 0, 0x4000),
    ("$EA_INFORMATION", 0xD0, ALWAYS_RESIDENT, 8, 8),
    ("$EA", 0xE0, 0, 0, 0x10000),
    (
        "$LOGGED_UTILITY_STREAM",
        0x100,
        MAY_BE_NON_RESIDENT,
        0,
        0x10000,
    ),
];

/// The $AttrDef contents: 2560 bytes (16 entries, the last one empty).
pub fn table() -> Vec<u8> {
    let mut out = vec![0u8; 2560];
    for (i, (name, ty, flags, min, max)) in DEFS.iter().enumerate() {
        let e = &mut out[i * 160..(i + 1) * 160];
        for (j, u) in name.encode_utf16().enumerate() {
            e[2 * j..2 * j + 2].copy_from_slice(&u.to_le_bytes());
        }
        e[0x80..0x84].copy_from_slice(&ty.to_le_bytes());
        e[0x8C..0x90].copy_from_slice(&flags.to_le_bytes());
        e[0x90..0x98].copy_from_slice(&min.to_le_bytes());
        e[0x98..0xA0].copy_from_slice(&max.to_le_bytes());
    }
    out
}
