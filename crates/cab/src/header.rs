//! CFHEADER (\[MS-CAB\] §2.1): the fixed header, the optional reserve sizes
//! and reserved area, and the names of the previous and next cabinets of a
//! set.

use crate::error::{Error, Result};
use crate::format::*;

/// A parsed CFHEADER.
#[derive(Debug, Clone)]
pub struct Header {
    /// cbCabinet: the cabinet's size in bytes as the header declares it.
    pub cabinet_size: u32,
    /// coffFiles: offset of the first CFFILE entry.
    pub files_offset: u32,
    /// versionMajor, versionMinor (1.3 for every known cabinet).
    pub version: (u8, u8),
    /// cFolders.
    pub folder_count: u16,
    /// cFiles.
    pub file_count: u16,
    /// flags (`FLAG_*`).
    pub flags: u16,
    /// setID: shared by every cabinet of a set.
    pub set_id: u16,
    /// iCabinet: index of this cabinet in its set.
    pub cabinet_index: u16,
    /// abReserve of the header (cbCFHeader bytes).
    pub reserve: Vec<u8>,
    /// cbCFFolder: reserved bytes after each CFFOLDER.
    pub folder_reserve: u8,
    /// cbCFData: reserved bytes after each CFDATA header.
    pub data_reserve: u8,
    /// szCabinetPrev, szDiskPrev.
    pub prev: Option<SetLink>,
    /// szCabinetNext, szDiskNext.
    pub next: Option<SetLink>,
    /// Offset just past the header: where the CFFOLDER entries start.
    pub end: usize,
}

/// A link to a neighbouring cabinet of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetLink {
    /// The cabinet's file name (raw bytes, decoded loosely).
    pub cabinet: String,
    /// The disk's label.
    pub disk: String,
}

pub(crate) fn u16_at(d: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([d[off], d[off + 1]])
}

pub(crate) fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

/// Read a NUL-terminated string of at most [`MAX_NAME`] bytes at `pos`;
/// returns the bytes (without NUL) and the position after the NUL.
pub(crate) fn read_cstr<'a>(
    d: &'a [u8],
    pos: usize,
    file: &str,
    base: u64,
    structure: &str,
    allow_empty: bool,
) -> Result<(&'a [u8], usize)> {
    let rest = d.get(pos..).unwrap_or(&[]);
    let window = &rest[..rest.len().min(MAX_NAME + 1)];
    match window.iter().position(|&b| b == 0) {
        Some(0) if !allow_empty => Err(Error::format(
            file,
            base + pos as u64,
            structure,
            "empty name",
        )),
        Some(n) => Ok((&rest[..n], pos + n + 1)),
        None if window.len() > MAX_NAME => Err(Error::format(
            file,
            base + pos as u64,
            structure,
            format!("name longer than {MAX_NAME} bytes (no NUL terminator)"),
        )),
        None => Err(Error::format(
            file,
            base + pos as u64,
            structure,
            format!(
                "truncated: name has no NUL terminator before the end of the data ({} bytes left)",
                rest.len()
            ),
        )),
    }
}

/// Decode a name: UTF-8 when it is valid UTF-8 (ASCII included), otherwise
/// each byte as ISO-8859-1.
pub(crate) fn decode_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    }
}

impl Header {
    /// Parse the header at the start of `d`; `base` is the offset of `d[0]`
    /// in the file (non-zero for cabinets embedded in a larger file).
    pub fn parse(d: &[u8], file: &str, base: u64) -> Result<Header> {
        let st = "CFHEADER";
        if d.len() < CFHEADER_SIZE {
            return Err(Error::format(
                file,
                base,
                st,
                format!(
                    "truncated: {} bytes, the fixed header needs {CFHEADER_SIZE}",
                    d.len()
                ),
            ));
        }
        if d[0..4] != SIGNATURE {
            return Err(Error::format(
                file,
                base,
                st,
                format!("bad signature {:02x?} (expected \"MSCF\")", &d[0..4]),
            ));
        }
        let cabinet_size = u32_at(d, 8);
        let files_offset = u32_at(d, 16);
        let version = (d[25], d[24]);
        let folder_count = u16_at(d, 26);
        let file_count = u16_at(d, 28);
        let flags = u16_at(d, 30);
        let set_id = u16_at(d, 32);
        let cabinet_index = u16_at(d, 34);
        // libmspack and cabextract accept any version (every known cabinet
        // says 1.3); so do we, and report it.
        if folder_count == 0 {
            return Err(Error::format(file, base + 26, st, "cabinet has no folders"));
        }
        if file_count == 0 {
            return Err(Error::format(file, base + 28, st, "cabinet has no files"));
        }
        let mut pos = CFHEADER_SIZE;
        let (mut reserve, mut folder_reserve, mut data_reserve) = (Vec::new(), 0, 0);
        if flags & FLAG_RESERVE_PRESENT != 0 {
            if d.len() < pos + CFHEADER_RESERVE_FIELDS {
                return Err(Error::format(
                    file,
                    base + pos as u64,
                    st,
                    "truncated: reserve-size fields missing",
                ));
            }
            let cb_header = u16_at(d, pos);
            folder_reserve = d[pos + 2];
            data_reserve = d[pos + 3];
            pos += CFHEADER_RESERVE_FIELDS;
            if cb_header > MAX_HEADER_RESERVE {
                return Err(Error::format(
                    file,
                    base + 36,
                    st,
                    format!("cbCFHeader {cb_header} exceeds {MAX_HEADER_RESERVE}"),
                ));
            }
            let end = pos + cb_header as usize;
            let r = d.get(pos..end).ok_or_else(|| {
                Error::format(
                    file,
                    base + pos as u64,
                    st,
                    format!("truncated: header reserve of {cb_header} bytes"),
                )
            })?;
            reserve = r.to_vec();
            pos = end;
        }
        let link = |pos: &mut usize, what: &str| -> Result<SetLink> {
            let (cab, p) = read_cstr(
                d,
                *pos,
                file,
                base,
                &format!("CFHEADER {what} cabinet name"),
                false,
            )?;
            let (disk, p) = read_cstr(
                d,
                p,
                file,
                base,
                &format!("CFHEADER {what} disk name"),
                true,
            )?;
            *pos = p;
            Ok(SetLink {
                cabinet: decode_name(cab),
                disk: decode_name(disk),
            })
        };
        let prev = if flags & FLAG_PREV_CABINET != 0 {
            Some(link(&mut pos, "previous")?)
        } else {
            None
        };
        let next = if flags & FLAG_NEXT_CABINET != 0 {
            Some(link(&mut pos, "next")?)
        } else {
            None
        };
        Ok(Header {
            cabinet_size,
            files_offset,
            version,
            folder_count,
            file_count,
            flags,
            set_id,
            cabinet_index,
            reserve,
            folder_reserve,
            data_reserve,
            prev,
            next,
            end: pos,
        })
    }
}
