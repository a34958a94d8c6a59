//! Writing the XML data resource: UTF-16LE with a byte-order mark, no XML
//! declaration, `<WIM>` root holding one `<IMAGE INDEX="n">` per image and
//! a top-level `<TOTALBYTES>` (wimlib `xml.c`; research notes §1.1 "XML
//! data"). Documents read by [`crate::read::xml`] are re-serialised
//! element by element, so fields we do not interpret (Windows build info,
//! FLAGS, WIMBOOT…) survive an append.

use crate::read::xml::Element;

/// Per-image statistics as wimlib defines them: every inode counts once per
/// link; directories are directories that are not reparse points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageStats {
    pub dir_count: u64,
    pub file_count: u64,
    pub total_bytes: u64,
    pub hard_link_bytes: u64,
}

fn escape_into(s: &str, out: &mut String, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            // Control characters other than tab/newline cannot appear in
            // XML 1.0; drop them rather than write an unreadable document.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
}

/// Serialise an element (and its subtree) as text.
pub fn element_to_string(e: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&e.name);
    for (k, v) in &e.attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_into(v, out, true);
        out.push('"');
    }
    out.push('>');
    escape_into(&e.text, out, false);
    for c in &e.children {
        element_to_string(c, out);
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
}

/// The resource bytes of a document: BOM plus UTF-16LE text.
pub fn encode_document(root: &Element) -> Vec<u8> {
    let mut s = String::new();
    element_to_string(root, &mut s);
    let mut out = Vec::with_capacity(2 + s.len() * 2);
    out.extend_from_slice(&[0xff, 0xfe]);
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

pub fn text_element(name: &str, text: impl Into<String>) -> Element {
    Element {
        name: name.to_string(),
        text: text.into(),
        ..Default::default()
    }
}

/// A `<…TIME>` element with `HIGHPART`/`LOWPART` in the `0x%08X` form.
pub fn time_element(name: &str, filetime: u64) -> Element {
    Element {
        name: name.to_string(),
        children: vec![
            text_element("HIGHPART", format!("0x{:08X}", filetime >> 32)),
            text_element("LOWPART", format!("0x{:08X}", filetime & 0xffff_ffff)),
        ],
        ..Default::default()
    }
}

/// A new `<IMAGE>` element, with children in the order wimlib writes them.
pub fn image_element(
    index: u32,
    name: &str,
    description: Option<&str>,
    stats: &ImageStats,
    time: u64,
) -> Element {
    let mut children = vec![text_element("NAME", name)];
    if let Some(d) = description {
        children.push(text_element("DESCRIPTION", d));
    }
    children.extend([
        text_element("DIRCOUNT", stats.dir_count.to_string()),
        text_element("FILECOUNT", stats.file_count.to_string()),
        text_element("TOTALBYTES", stats.total_bytes.to_string()),
        text_element("HARDLINKBYTES", stats.hard_link_bytes.to_string()),
        time_element("CREATIONTIME", time),
        time_element("LASTMODIFICATIONTIME", time),
    ]);
    Element {
        name: "IMAGE".into(),
        attrs: vec![("INDEX".into(), index.to_string())],
        children,
        ..Default::default()
    }
}

/// Set the top-level `<TOTALBYTES>` (wimlib stores the offset of the XML
/// data, i.e. the bytes of the file before it), placed after the images.
pub fn set_total_bytes(root: &mut Element, total: u64) {
    root.children
        .retain(|c| !c.name.eq_ignore_ascii_case("TOTALBYTES"));
    root.children
        .push(text_element("TOTALBYTES", total.to_string()));
}

/// An empty `<WIM>` document.
pub fn empty_root() -> Element {
    Element {
        name: "WIM".into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::xml::{parse_time, WimXml};

    #[test]
    fn document_parses_back_with_escapes_and_times() {
        let mut root = empty_root();
        let st = ImageStats {
            dir_count: 3,
            file_count: 8,
            total_bytes: 156,
            hard_link_bytes: 6,
        };
        root.children.push(image_element(
            1,
            "a <b> & \"c\"",
            Some("d\u{1}e"),
            &st,
            0x01DD_7E4E_4A06_818C,
        ));
        set_total_bytes(&mut root, 2188);
        set_total_bytes(&mut root, 2189);
        let raw = encode_document(&root);
        assert_eq!(&raw[..2], &[0xff, 0xfe]);
        let x = WimXml::parse(&raw, 0).unwrap();
        assert_eq!(x.total_bytes(), Some(2189));
        let img = x.image(1).unwrap();
        assert_eq!(img.text_at("NAME"), Some("a <b> & \"c\""));
        assert_eq!(img.text_at("DESCRIPTION"), Some("de"));
        assert_eq!(img.text_at("HARDLINKBYTES"), Some("6"));
        assert_eq!(
            parse_time(img.child("CREATIONTIME").unwrap()),
            Some(0x01DD_7E4E_4A06_818C)
        );
        // Re-serialising the parsed tree gives the same bytes.
        assert_eq!(encode_document(&x.root), raw);
    }
}
