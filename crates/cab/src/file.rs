//! CFFILE (\[MS-CAB\] §2.3): one file's size, its place in a folder's
//! uncompressed stream, its DOS date/time, attributes and name.

use crate::error::{Error, Result};
use crate::format::*;
use crate::header::{decode_name, read_cstr, u16_at, u32_at};
use serde::Serialize;

/// A parsed CFFILE of one cabinet file, before the set is assembled.
#[derive(Debug, Clone)]
pub struct RawFile {
    pub size: u32,
    pub folder_offset: u32,
    /// iFolder as stored (may be one of the `IFOLD_CONTINUED_*` values).
    pub folder_index: u16,
    pub date: u16,
    pub time: u16,
    pub attributes: u16,
    pub name: Vec<u8>,
    /// Offset of the entry in its cabinet file.
    pub offset: u64,
}

impl RawFile {
    /// Parse the `index`th CFFILE at `pos` of `d`; returns it and the
    /// position after it.
    pub fn parse(
        d: &[u8],
        pos: usize,
        index: usize,
        file: &str,
        base: u64,
    ) -> Result<(RawFile, usize)> {
        let st = format!("CFFILE[{index}]");
        let b = d.get(pos..pos + CFFILE_SIZE).ok_or_else(|| {
            Error::format(
                file,
                base + pos as u64,
                st.as_str(),
                format!(
                    "truncated: needs {CFFILE_SIZE} bytes, {} available",
                    d.len().saturating_sub(pos)
                ),
            )
        })?;
        let (name, next) = read_cstr(
            d,
            pos + CFFILE_SIZE,
            file,
            base,
            &format!("{st} name"),
            false,
        )?;
        Ok((
            RawFile {
                size: u32_at(b, 0),
                folder_offset: u32_at(b, 4),
                folder_index: u16_at(b, 8),
                date: u16_at(b, 10),
                time: u16_at(b, 12),
                attributes: u16_at(b, 14),
                name: name.to_vec(),
                offset: base + pos as u64,
            },
            next,
        ))
    }
}

/// How a file relates to the neighbouring cabinets of its set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Continuation {
    /// Wholly inside one cabinet.
    None,
    /// iFolder 0xFFFD.
    FromPrev,
    /// iFolder 0xFFFE.
    ToNext,
    /// iFolder 0xFFFF.
    PrevAndNext,
}

/// A file of a cabinet (or cabinet set), as listed.
#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    /// Position in [`crate::Cabinet::files`].
    pub index: usize,
    /// The name as stored, `\` separators included; decoded as UTF-8 when
    /// it is valid UTF-8, otherwise as ISO-8859-1.
    pub name: String,
    /// The raw name bytes.
    #[serde(skip)]
    pub raw_name: Vec<u8>,
    /// cbFile: uncompressed size.
    pub size: u32,
    /// Index of the folder (in [`crate::Cabinet::folders`]).
    pub folder: usize,
    /// uoffFolderStart: offset in the folder's uncompressed stream.
    pub folder_offset: u32,
    /// DOS date as stored.
    pub dos_date: u16,
    /// DOS time as stored.
    pub dos_time: u16,
    /// attribs.
    pub attributes: u16,
    /// Relation to neighbouring cabinets.
    pub continued: Continuation,
    /// Which cabinet file of the set lists it (0 = the first).
    pub part: usize,
}

/// A DOS date and time taken apart without validation (the fields are
/// shown as stored, like cabextract does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DosDateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl FileEntry {
    /// The stored date and time, field by field.
    pub fn datetime(&self) -> DosDateTime {
        DosDateTime {
            year: 1980 + (self.dos_date >> 9),
            month: ((self.dos_date >> 5) & 0xF) as u8,
            day: (self.dos_date & 0x1F) as u8,
            hour: (self.dos_time >> 11) as u8,
            minute: ((self.dos_time >> 5) & 0x3F) as u8,
            second: ((self.dos_time & 0x1F) * 2) as u8,
        }
    }

    /// Seconds since the Unix epoch, when the stored date/time is valid
    /// (taken as UTC, as cabinets carry local time without a zone).
    pub fn unix_time(&self) -> Option<i64> {
        let t = self.datetime();
        if !(1..=12).contains(&t.month)
            || t.day == 0
            || t.hour > 23
            || t.minute > 59
            || t.second > 59
        {
            return None;
        }
        let days_in = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let y = t.year as i64;
        let mdays = days_in[t.month as usize - 1] + i64::from(t.month == 2 && leap(y));
        if t.day as i64 > mdays {
            return None;
        }
        let mut days = 0i64;
        for yy in 1970..y {
            days += 365 + i64::from(leap(yy));
        }
        for m in 1..t.month as usize {
            days += days_in[m - 1] + i64::from(m == 2 && leap(y));
        }
        days += t.day as i64 - 1;
        Some(days * 86_400 + t.hour as i64 * 3600 + t.minute as i64 * 60 + t.second as i64)
    }

    /// Attributes as letters: `r` read-only, `h` hidden, `s` system, `a`
    /// archive, `x` execute, `u` UTF-8 name; `-` for each one not set.
    pub fn attribute_string(&self) -> String {
        [
            (ATTR_READONLY, 'r'),
            (ATTR_HIDDEN, 'h'),
            (ATTR_SYSTEM, 's'),
            (ATTR_ARCHIVE, 'a'),
            (ATTR_EXEC, 'x'),
            (ATTR_NAME_IS_UTF, 'u'),
        ]
        .iter()
        .map(|&(bit, c)| if self.attributes & bit != 0 { c } else { '-' })
        .collect()
    }

    pub(crate) fn from_raw(index: usize, raw: &RawFile, folder: usize, part: usize) -> FileEntry {
        let continued = match raw.folder_index {
            IFOLD_CONTINUED_FROM_PREV => Continuation::FromPrev,
            IFOLD_CONTINUED_TO_NEXT => Continuation::ToNext,
            IFOLD_CONTINUED_PREV_AND_NEXT => Continuation::PrevAndNext,
            _ => Continuation::None,
        };
        let name = if raw.attributes & ATTR_NAME_IS_UTF != 0 {
            String::from_utf8_lossy(&raw.name).into_owned()
        } else {
            decode_name(&raw.name)
        };
        FileEntry {
            index,
            name,
            raw_name: raw.name.clone(),
            size: raw.size,
            folder,
            folder_offset: raw.folder_offset,
            dos_date: raw.date,
            dos_time: raw.time,
            attributes: raw.attributes,
            continued,
            part,
        }
    }
}
