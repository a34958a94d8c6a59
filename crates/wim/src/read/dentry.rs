//! Directory entries of a metadata resource (wimlib `dentry.c`,
//! `struct wim_dentry_on_disk`, 102 fixed bytes; extra stream entries,
//! `struct wim_extra_stream_entry_on_disk`; tagged items, `tagged_items.c`).

use crate::bytes::{utf16le_to_string, Bytes};
use crate::error::FormatError;
use crate::format::{attr, tag, DENTRY_FIXED_SIZE, EXTRA_STREAM_FIXED_SIZE};

/// What a stream of an inode holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// The unnamed data stream (file contents) or a named data stream (ADS).
    Data,
    /// The reparse point data (without the 8-byte reparse header).
    Reparse,
}

/// One stream of a file. An all-zero hash (or the SHA-1 of nothing) means
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Empty for the unnamed stream.
    pub name: String,
    pub hash: [u8; 20],
    pub kind: StreamKind,
}

impl Stream {
    pub fn is_empty(&self) -> bool {
        self.hash == [0u8; 20] || self.hash == crate::format::EMPTY_SHA1
    }
}

/// A dentry as stored on disk, with its streams and tagged items decoded.
#[derive(Debug, Clone)]
pub struct RawDentry {
    pub offset: u64,
    pub attributes: u32,
    /// `None` when the on-disk value is -1 (no descriptor).
    pub security_id: Option<u32>,
    pub subdir_offset: u64,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub reparse_tag: u32,
    pub rp_reserved: u16,
    pub rp_flags: u16,
    pub hard_link_group: u64,
    pub name: String,
    /// The name contained a NUL code unit (such entries are ignored).
    pub name_has_nul: bool,
    pub short_name: String,
    pub streams: Vec<Stream>,
    pub object_id: Option<Vec<u8>>,
    /// Windows extended attributes, raw (`TAG_XATTRS`).
    pub xattrs: Option<Vec<u8>>,
    /// wimlib UNIX data: uid, gid, mode, rdev.
    pub unix_data: Option<[u32; 4]>,
    /// Old-format wimlib Linux xattrs (kept raw).
    pub linux_xattrs_old: Option<Vec<u8>>,
}

impl RawDentry {
    pub fn is_directory(&self) -> bool {
        self.attributes & attr::DIRECTORY != 0
    }
}

/// Read the dentry at `off` of the metadata buffer. Returns `None` for the
/// 8-byte end-of-directory marker, plus the offset of the next sibling.
pub fn read_dentry(meta: &[u8], off: u64) -> Result<(Option<RawDentry>, u64), FormatError> {
    let b = Bytes::new(meta, 0, "dentry");
    let o = usize::try_from(off).map_err(|_| b.err(0, "offset overflows"))?;
    let length = b.u64(o)?;
    if length <= 8 {
        // End of the sibling list.
        return Ok((None, off + 8));
    }
    if length < DENTRY_FIXED_SIZE as u64 {
        return Err(b.err(o, format!("dentry length {length} < {DENTRY_FIXED_SIZE}")));
    }
    let end = off
        .checked_add(length)
        .filter(|&e| e <= meta.len() as u64)
        .ok_or_else(|| {
            b.err(
                o,
                format!("dentry length {length} overruns the metadata resource"),
            )
        })?;
    let d = Bytes::new(&meta[o..end as usize], off, "dentry");
    let attributes = d.u32(8)?;
    let security_id = match d.u32(12)? {
        0xffff_ffff => None,
        v => Some(v),
    };
    let subdir_offset = d.u64(16)?;
    let creation_time = d.u64(40)?;
    let last_access_time = d.u64(48)?;
    let last_write_time = d.u64(56)?;
    let main_hash: [u8; 20] = d.array(64)?;
    let (reparse_tag, rp_reserved, rp_flags, hard_link_group) =
        if attributes & attr::REPARSE_POINT != 0 {
            (d.u32(88)?, d.u16(92)?, d.u16(94)?, 0)
        } else {
            (0, 0, 0, d.u64(88)?)
        };
    let num_extra = d.u16(96)? as usize;
    let short_nbytes = d.u16(98)? as usize;
    let name_nbytes = d.u16(100)? as usize;
    if short_nbytes % 2 != 0 || name_nbytes % 2 != 0 {
        return Err(d.err(98, "odd UTF-16 name length"));
    }
    let mut p = DENTRY_FIXED_SIZE;
    let mut name = String::new();
    let mut name_has_nul = false;
    if name_nbytes > 0 {
        let raw = d.slice(p, name_nbytes)?;
        name_has_nul = raw.chunks_exact(2).any(|c| c == [0, 0]);
        name = utf16le_to_string(raw);
        p += name_nbytes + 2;
    }
    let mut short_name = String::new();
    if short_nbytes > 0 {
        short_name = utf16le_to_string(d.slice(p, short_nbytes)?);
        p += short_nbytes + 2;
    }
    if p > d.len() {
        return Err(d.err(100, "names overrun the dentry length"));
    }
    let mut dentry = RawDentry {
        offset: off,
        attributes,
        security_id,
        subdir_offset,
        creation_time,
        last_access_time,
        last_write_time,
        reparse_tag,
        rp_reserved,
        rp_flags,
        hard_link_group,
        name,
        name_has_nul,
        short_name,
        streams: Vec::new(),
        object_id: None,
        xattrs: None,
        unix_data: None,
        linux_xattrs_old: None,
    };
    read_tagged_items(&d, p.div_ceil(8) * 8, &mut dentry)?;

    // Extra stream entries follow the dentry, each 8-aligned; they are not
    // counted in `length`.
    let mut next = end.div_ceil(8) * 8;
    let mut raw_streams = Vec::with_capacity(num_extra.min(1024) + 1);
    raw_streams.push((String::new(), main_hash));
    for _ in 0..num_extra {
        let so = usize::try_from(next).map_err(|_| b.err(o, "offset overflows"))?;
        let slen = b.u64(so)?;
        let slen_al = slen.checked_add(7).map(|x| x & !7).unwrap_or(u64::MAX);
        if slen_al < EXTRA_STREAM_FIXED_SIZE as u64
            || next
                .checked_add(slen_al)
                .is_none_or(|e| e > meta.len() as u64)
        {
            return Err(FormatError::invalid(
                next,
                "extra stream entry",
                format!("length {slen} is invalid"),
            ));
        }
        let s = Bytes::new(&meta[so..so + slen_al as usize], next, "extra stream entry");
        let hash: [u8; 20] = s.array(16)?;
        let nbytes = s.u16(36)? as usize;
        if nbytes % 2 != 0 || EXTRA_STREAM_FIXED_SIZE + nbytes > s.len() {
            return Err(s.err(36, format!("name length {nbytes} is invalid")));
        }
        let sname = utf16le_to_string(s.slice(EXTRA_STREAM_FIXED_SIZE, nbytes)?);
        raw_streams.push((sname, hash));
        next += slen_al;
    }
    dentry.streams = assign_stream_kinds(attributes, raw_streams);
    Ok((Some(dentry), next))
}

/// Decide which stream is the unnamed data, the reparse data and the named
/// ones. The main hash comes first; it is ignored when zero if an unnamed
/// extra entry exists; the first unnamed non-empty entry of a reparse point
/// holds its reparse data and the next one its contents.
fn assign_stream_kinds(attributes: u32, raw: Vec<(String, [u8; 20])>) -> Vec<Stream> {
    let is_reparse = attributes & attr::REPARSE_POINT != 0;
    let mut out = Vec::with_capacity(raw.len());
    let mut found_reparse = false;
    let mut found_data = false;
    let mut zero_main = None;
    for (i, (name, hash)) in raw.into_iter().enumerate() {
        if !name.is_empty() {
            out.push(Stream {
                name,
                hash,
                kind: StreamKind::Data,
            });
        } else if i != 0 || hash != [0u8; 20] {
            if is_reparse && !found_reparse {
                found_reparse = true;
                out.push(Stream {
                    name,
                    hash,
                    kind: StreamKind::Reparse,
                });
            } else if !found_data {
                found_data = true;
                out.push(Stream {
                    name,
                    hash,
                    kind: StreamKind::Data,
                });
            }
        } else {
            zero_main = Some(hash);
        }
    }
    if !found_reparse && !found_data {
        if let Some(hash) = zero_main {
            out.insert(
                0,
                Stream {
                    name: String::new(),
                    hash,
                    kind: if is_reparse {
                        StreamKind::Reparse
                    } else {
                        StreamKind::Data
                    },
                },
            );
        }
    }
    out
}

/// Tagged metadata items between the names and the end of the dentry:
/// `{u32 tag, u32 length, data, pad to 8}`.
fn read_tagged_items(
    d: &Bytes<'_>,
    mut p: usize,
    dentry: &mut RawDentry,
) -> Result<(), FormatError> {
    while p + 8 <= d.len() {
        let t = d.u32(p)?;
        let len = d.u32(p + 4)? as usize;
        let data = d.slice(p + 8, len)?;
        match t {
            tag::OBJECT_ID => dentry.object_id = Some(data.to_vec()),
            tag::XATTRS => dentry.xattrs = Some(data.to_vec()),
            tag::WIMLIB_UNIX_DATA if len >= 16 => {
                let u = Bytes::new(data, d.at(p + 8), "UNIX data tagged item");
                dentry.unix_data = Some([u.u32(0)?, u.u32(4)?, u.u32(8)?, u.u32(12)?]);
            }
            tag::WIMLIB_LINUX_XATTRS => dentry.linux_xattrs_old = Some(data.to_vec()),
            _ => {}
        }
        p = (p + 8 + len).div_ceil(8) * 8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: [u8; 20] = [1; 20];
    const H2: [u8; 20] = [2; 20];
    const Z: [u8; 20] = [0; 20];

    #[test]
    fn stream_kinds_follow_the_wim_rules() {
        // Plain file: main hash is the data.
        let s = assign_stream_kinds(0x20, vec![(String::new(), H1)]);
        assert_eq!(
            s,
            vec![Stream {
                name: String::new(),
                hash: H1,
                kind: StreamKind::Data
            }]
        );
        // Reparse point with data: zero main hash ignored; first unnamed
        // extra entry is the reparse data, the second the contents.
        let s = assign_stream_kinds(
            attr::REPARSE_POINT,
            vec![(String::new(), Z), (String::new(), H1), (String::new(), H2)],
        );
        assert_eq!(s[0].kind, StreamKind::Reparse);
        assert_eq!(s[0].hash, H1);
        assert_eq!(s[1].kind, StreamKind::Data);
        assert_eq!(s[1].hash, H2);
        // Named stream with an empty unnamed stream.
        let s = assign_stream_kinds(0x20, vec![(String::new(), Z), ("ads".into(), H1)]);
        assert_eq!(s.len(), 2);
        assert!(s
            .iter()
            .any(|x| x.name == "ads" && x.kind == StreamKind::Data));
        assert!(s.iter().any(|x| x.name.is_empty() && x.hash == Z));
    }

    #[test]
    fn short_or_overlong_dentries_are_errors() {
        // Length says 200 but only 120 bytes exist.
        let mut m = vec![0u8; 120];
        m[0] = 200;
        assert!(read_dentry(&m, 0).is_err());
        // Length smaller than the fixed part.
        let mut m = vec![0u8; 120];
        m[0] = 50;
        assert!(read_dentry(&m, 0).is_err());
        // End-of-directory marker.
        let m = vec![0u8; 8];
        assert!(read_dentry(&m, 0).unwrap().0.is_none());
        // Offset past the end.
        assert!(read_dentry(&m, 1 << 40).is_err());
    }
}
