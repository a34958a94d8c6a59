//! Element walker for servicing XML (`update.mum`, component manifests,
//! `_manifest_.cix.xml`): decodes the text the way CBS stores it (UTF-8
//! with or without a BOM, UTF-16 with a BOM; DCM-compressed manifests are
//! recognised and refused) and calls back once per element with the path of
//! its open ancestors, its local name and its attributes. Used by
//! [`crate::mum`] and by the package expander of `wimforge-build`, so the
//! namespace handling and the error offsets are the same everywhere.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Why manifest bytes could not be turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// Windows 10+ delta-compressed manifest (`DCM\x01` magic).
    Dcm,
    /// Not valid UTF-8 / UTF-16; the reason.
    Encoding(&'static str),
}

/// Decode manifest bytes: UTF-8 (BOM optional) or UTF-16 LE/BE with a BOM.
pub fn decode_text(b: &[u8]) -> Result<String, TextError> {
    if b.starts_with(b"DCM\x01") {
        return Err(TextError::Dcm);
    }
    let utf16 = |rest: &[u8], le: bool| {
        if rest.len() % 2 != 0 {
            return Err(TextError::Encoding("odd number of bytes in UTF-16 text"));
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| TextError::Encoding("invalid UTF-16"))
    };
    if let Some(rest) = b.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8(rest.to_vec()).map_err(|_| TextError::Encoding("invalid UTF-8"));
    }
    if let Some(rest) = b.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = b.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    String::from_utf8(b.to_vec())
        .map_err(|_| TextError::Encoding("invalid UTF-8 (and no UTF-16 byte order mark)"))
}

/// The attributes of an element, by local name, in document order.
pub type Attrs = Vec<(String, String)>;

/// The value of attribute `key`, if present.
pub fn get(attrs: &[(String, String)], key: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// One element as the walker reports it.
pub struct Element<'a> {
    /// Local names of the open ancestors, outermost first.
    pub path: &'a [&'a str],
    /// This element's local name (or the `outside` name given to [`walk`]).
    pub local: &'a str,
    pub attrs: &'a [(String, String)],
    /// Byte offset in the decoded text where the element starts.
    pub offset: u64,
}

/// Walk every element of `text`. With `namespace` set, elements in other
/// namespaces are reported under the local name `outside` (so they can
/// neither match nor be confused with the manifest's own elements); with
/// `None` every element keeps its local name. `xml_err(offset, what)` builds
/// the caller's error for malformed XML and attributes; `visit` may stop the
/// walk with its own error.
pub fn walk<E>(
    text: &str,
    namespace: Option<&str>,
    outside: &str,
    xml_err: impl Fn(u64, String) -> E,
    mut visit: impl FnMut(&Element) -> Result<(), E>,
) -> Result<(), E> {
    let mut rd = NsReader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    loop {
        let at = rd.buffer_position();
        let (ns, ev) = rd
            .read_resolved_event()
            .map_err(|e| xml_err(at, e.to_string()))?;
        let (e, empty) = match ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => return Ok(()),
            _ => continue,
        };
        let local = match namespace {
            Some(want) if !matches!(ns, ResolveResult::Bound(n) if n.as_ref() == want.as_bytes()) => {
                outside.to_string()
            }
            _ => String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        };
        let attrs = attributes(&e).map_err(|what| xml_err(at, what))?;
        let path: Vec<&str> = stack.iter().map(String::as_str).collect();
        visit(&Element {
            path: &path,
            local: &local,
            attrs: &attrs,
            offset: at,
        })?;
        if !empty {
            stack.push(local);
        }
    }
}

fn attributes(e: &BytesStart) -> Result<Attrs, String> {
    let mut v = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let val = a
            .unescape_value()
            .map_err(|err| format!("bad attribute value: {err}"))?
            .into_owned();
        v.push((key, val));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_bom_and_refuses_dcm() {
        assert_eq!(decode_text(b"<a/>").unwrap(), "<a/>");
        assert_eq!(decode_text(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        assert_eq!(decode_text(b"\xFF\xFE<\0a\0/\0>\0").unwrap(), "<a/>");
        assert_eq!(decode_text(b"\xFE\xFF\0<\0a\0/\0>").unwrap(), "<a/>");
        assert_eq!(decode_text(b"DCM\x01xx"), Err(TextError::Dcm));
        assert!(matches!(
            decode_text(b"\xFF\xFE<"),
            Err(TextError::Encoding(_))
        ));
        assert!(matches!(decode_text(b"\xC3"), Err(TextError::Encoding(_))));
    }

    #[test]
    fn reports_paths_namespaces_and_offsets() {
        let xml = r#"<r xmlns="urn:x" xmlns:o="urn:o"><a k="1&amp;2"><o:b/><c/></a></r>"#;
        let at = |tag: &str| xml.find(tag).unwrap() as u64;
        let mut seen = Vec::new();
        walk(
            xml,
            Some("urn:x"),
            "#other",
            |_, w| w,
            |e| {
                seen.push((
                    e.path.join("/"),
                    e.local.to_string(),
                    get(e.attrs, "k"),
                    e.offset,
                ));
                Ok::<(), String>(())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("".into(), "r".into(), None, 0),
                ("r".into(), "a".into(), Some("1&2".into()), at("<a")),
                ("r/a".into(), "#other".into(), None, at("<o:b")),
                ("r/a".into(), "c".into(), None, at("<c")),
            ]
        );
        let err = walk(
            "<r><a></r>",
            None,
            "",
            |at, w| format!("{at}: {w}"),
            |_| Ok(()),
        );
        assert!(err.is_err());
        let err = walk(
            r#"<r a="1" a="2"/>"#,
            None,
            "",
            |at, w| format!("{at}: {w}"),
            |_| Ok(()),
        );
        assert!(err.unwrap_err().contains("attribute"));
    }
}
