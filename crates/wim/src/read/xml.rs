//! The XML data resource: UTF-16LE with a byte-order mark, describing each
//! image (`<WIM><IMAGE INDEX="n"><NAME>…`; wimlib `xml.c`,
//! `xml_windows.c`). We keep a small element tree so that every field,
//! including ones we do not interpret (Windows build info, WIMBOOT, FLAGS),
//! survives, and offer typed accessors for the common ones.

use crate::error::FormatError;
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;

/// One XML element: name, attributes, text content and children.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Element {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<(String, String)>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Text of the element at a `/`-separated path below this one.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        let mut e = self;
        for part in path.split('/') {
            e = e.child(part)?;
        }
        Some(e.text.as_str())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parsed XML data of a WIM.
#[derive(Debug, Clone, Default)]
pub struct WimXml {
    /// The document as text (BOM removed).
    pub text: String,
    /// The `<WIM>` root element.
    pub root: Element,
}

/// Maximum element nesting accepted (the real documents nest 4 levels).
const MAX_DEPTH: usize = 64;

impl WimXml {
    /// Decode and parse the raw XML resource. `base` is its file offset.
    pub fn parse(raw: &[u8], base: u64) -> Result<Self, FormatError> {
        if raw.is_empty() {
            return Ok(WimXml::default());
        }
        if raw.len() % 2 != 0 {
            return Err(FormatError::invalid(
                base,
                "XML data",
                "odd length for UTF-16LE text",
            ));
        }
        let mut text = crate::bytes::utf16le_to_string(raw);
        if text.starts_with('\u{feff}') {
            text.remove(0);
        }
        let text = text.trim_end_matches('\0').to_string();
        let root = parse_tree(&text)
            .map_err(|e| FormatError::invalid(base, "XML data", format!("malformed XML: {e}")))?;
        Ok(WimXml { text, root })
    }

    /// The `<IMAGE>` element with `INDEX="index"` (1-based), or the
    /// index-th `<IMAGE>` when indices are absent.
    pub fn image(&self, index: u32) -> Option<&Element> {
        let images: Vec<&Element> = self
            .root
            .children
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case("IMAGE"))
            .collect();
        images
            .iter()
            .find(|e| e.attr("INDEX").and_then(|v| v.trim().parse::<u32>().ok()) == Some(index))
            .copied()
            .or_else(|| images.get(index.checked_sub(1)? as usize).copied())
    }

    pub fn total_bytes(&self) -> Option<u64> {
        self.root.text_at("TOTALBYTES").and_then(parse_u64)
    }
}

/// Parse a decimal or `0x` hex number as the XML fields hold them.
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// A `<…TIME>` element with HIGHPART/LOWPART children, as a FILETIME.
pub fn parse_time(e: &Element) -> Option<u64> {
    let hi = parse_u64(e.text_at("HIGHPART")?)?;
    let lo = parse_u64(e.text_at("LOWPART")?)?;
    Some((hi << 32) | (lo & 0xffff_ffff))
}

fn parse_tree(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("at byte {}: {e}", reader.buffer_position())),
            Ok(Event::Start(s)) => {
                if stack.len() > MAX_DEPTH {
                    return Err("elements nested too deeply".into());
                }
                stack.push(element_from(&s)?);
            }
            Ok(Event::Empty(s)) => {
                let e = element_from(&s)?;
                stack
                    .last_mut()
                    .expect("stack never empty")
                    .children
                    .push(e);
            }
            Ok(Event::End(_)) => {
                if stack.len() < 2 {
                    return Err("unbalanced end tag".into());
                }
                let e = stack.pop().expect("checked");
                stack.last_mut().expect("checked").children.push(e);
            }
            Ok(Event::Text(t)) => {
                let s = t.unescape().map_err(|e| e.to_string())?;
                stack.last_mut().expect("never empty").text.push_str(&s);
            }
            Ok(Event::CData(t)) => {
                let s = String::from_utf8_lossy(&t).into_owned();
                stack.last_mut().expect("never empty").text.push_str(&s);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err("unclosed element".into());
    }
    let doc = stack.pop().expect("one left");
    doc.children
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case("WIM"))
        .ok_or_else(|| "no <WIM> root element".to_string())
}

fn element_from(s: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
        attrs.push((k, v));
    }
    Ok(Element {
        name,
        attrs,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        let mut v = vec![0xff, 0xfe];
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    #[test]
    fn parses_images_times_and_windows_info() {
        let doc = "<WIM><TOTALBYTES>4332</TOTALBYTES><IMAGE INDEX=\"2\"><NAME>Nano &amp; more</NAME>\
            <DIRCOUNT>7</DIRCOUNT><CREATIONTIME><HIGHPART>0x01D3A74E</HIGHPART><LOWPART>0x97C28976</LOWPART></CREATIONTIME>\
            <WINDOWS><ARCH>9</ARCH><VERSION><MAJOR>10</MAJOR><BUILD>14393</BUILD></VERSION></WINDOWS></IMAGE>\
            <IMAGE INDEX=\"1\"><NAME>First</NAME></IMAGE></WIM>";
        let x = WimXml::parse(&utf16(doc), 0).unwrap();
        assert_eq!(x.total_bytes(), Some(4332));
        let img2 = x.image(2).unwrap();
        assert_eq!(img2.text_at("NAME"), Some("Nano & more"));
        assert_eq!(img2.text_at("DIRCOUNT").and_then(parse_u64), Some(7));
        assert_eq!(img2.text_at("WINDOWS/VERSION/BUILD"), Some("14393"));
        assert_eq!(
            parse_time(img2.child("CREATIONTIME").unwrap()),
            Some(0x01D3_A74E_97C2_8976)
        );
        assert_eq!(x.image(1).unwrap().text_at("NAME"), Some("First"));
        assert!(x.image(3).is_none());
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        for bad in [
            "<WIM><IMAGE>",
            "<NOTWIM/>",
            "<WIM></IMAGE></WIM>",
            "\u{0}\u{0}<",
        ] {
            assert!(WimXml::parse(&utf16(bad), 0x100).is_err(), "{bad}");
        }
        assert!(WimXml::parse(&[0xff, 0xfe, 0x41], 0).is_err());
        let deep = "<WIM>".to_string() + &"<A>".repeat(200) + &"</A>".repeat(200) + "</WIM>";
        assert!(WimXml::parse(&utf16(&deep), 0).is_err());
    }
}
