//! Unattend answer files (`urn:schemas-microsoft-com:unattend`): validate,
//! move what no offline DISM will process, fill in the spec's fields, and
//! write the result for `Windows\Panther\Unattend.xml`.
//!
//! A pre-applied image reads `Windows\Panther\Unattend.xml` at first boot
//! for the `specialize` and `oobeSystem` passes only; `offlineServicing`
//! is applied by `DISM /Apply-Unattend`, which does not exist here. So:
//! `ComputerName` moves from offlineServicing to specialize, and
//! `OfflineUserAccounts/OfflineAdministratorPassword` becomes oobeSystem's
//! `UserAccounts/AdministratorPassword` (an obscured value is re-encoded:
//! Windows stores base64(UTF-16LE(password + element name))). Everything
//! done is reported; offlineServicing settings that cannot be moved are
//! reported as not processed.

use crate::error::{Error, Result};
use quick_xml::events::Event;
use std::path::Path;

pub const NS: &str = "urn:schemas-microsoft-com:unattend";
pub const WCM_NS: &str = "http://schemas.microsoft.com/WMIConfig/2002/State";
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const SHELL_SETUP: &str = "Microsoft-Windows-Shell-Setup";
const PASSES: [&str; 7] = [
    "windowsPE",
    "offlineServicing",
    "generalize",
    "specialize",
    "auditSystem",
    "auditUser",
    "oobeSystem",
];

/// A node of the small document model used for rewriting.
#[derive(Debug, Clone, PartialEq)]
pub enum XmlNode {
    Element(Element),
    Text(String),
    Comment(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    /// Qualified name as written (`wcm:action` keeps its prefix).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<XmlNode>,
}

impl Element {
    pub fn new(name: &str) -> Element {
        Element {
            name: name.into(),
            ..Default::default()
        }
    }

    fn with_text(name: &str, text: &str) -> Element {
        Element {
            name: name.into(),
            attrs: Vec::new(),
            children: vec![XmlNode::Text(text.into())],
        }
    }

    pub fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Concatenated text of the direct text children.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                XmlNode::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            XmlNode::Element(e) => Some(e),
            _ => None,
        })
    }

    fn child(&self, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.local_name() == local)
    }

    fn child_mut(&mut self, local: &str) -> Option<&mut Element> {
        self.children.iter_mut().find_map(|c| match c {
            XmlNode::Element(e) if e.local_name() == local => Some(e),
            _ => None,
        })
    }

    fn take_child(&mut self, local: &str) -> Option<Element> {
        let i = self
            .children
            .iter()
            .position(|c| matches!(c, XmlNode::Element(e) if e.local_name() == local))?;
        match self.children.remove(i) {
            XmlNode::Element(e) => Some(e),
            _ => None,
        }
    }

    fn child_or_insert(&mut self, local: &str) -> &mut Element {
        if self.child(local).is_none() {
            self.children.push(XmlNode::Element(Element::new(local)));
        }
        self.child_mut(local).expect("just ensured")
    }

    fn set_child_text(&mut self, local: &str, text: &str) {
        let e = self.child_or_insert(local);
        e.children = vec![XmlNode::Text(text.into())];
    }

    fn is_empty_of_elements(&self) -> bool {
        self.elements().next().is_none()
    }
}

/// Parse an XML document into its root element. Errors carry the byte
/// position.
pub fn parse(xml: &[u8], file: &Path) -> Result<Element> {
    let err = |message: String| Error::Unattend {
        file: file.to_path_buf(),
        message,
    };
    let text =
        std::str::from_utf8(xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml)).map_err(|e| {
            err(format!(
                "not UTF-8 (byte {}); save it as UTF-8",
                e.valid_up_to()
            ))
        })?;
    let mut r = quick_xml::Reader::from_str(text);
    r.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let pos = |r: &quick_xml::Reader<&[u8]>| r.buffer_position();
    loop {
        let ev = r
            .read_event()
            .map_err(|e| err(format!("at byte {}: {e}", pos(&r))))?;
        let start = |e: &quick_xml::events::BytesStart| -> Result<Element> {
            let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
            let mut attrs = Vec::new();
            for a in e.attributes() {
                let a = a.map_err(|x| err(format!("attribute of <{name}>: {x}")))?;
                let v = a
                    .unescape_value()
                    .map_err(|x| err(format!("attribute of <{name}>: {x}")))?;
                attrs.push((
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    v.into_owned(),
                ));
            }
            Ok(Element {
                name,
                attrs,
                children: Vec::new(),
            })
        };
        match ev {
            Event::Start(e) => {
                if stack.len() > 64 {
                    return Err(err("elements nested deeper than 64 levels".into()));
                }
                stack.push(start(&e)?);
            }
            Event::Empty(e) => {
                let el = start(&e)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(XmlNode::Element(el)),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err("more than one root element".into())),
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| err("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(XmlNode::Element(el)),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err("more than one root element".into())),
                }
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| err(format!("at byte {}: {e}", pos(&r))))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(XmlNode::Text(s.into_owned())),
                    None if s.trim().is_empty() => {}
                    None => return Err(err("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                let s = String::from_utf8_lossy(&t).into_owned();
                if let Some(p) = stack.last_mut() {
                    p.children.push(XmlNode::Text(s));
                }
            }
            Event::Comment(c) => {
                if let Some(p) = stack.last_mut() {
                    p.children
                        .push(XmlNode::Comment(String::from_utf8_lossy(&c).into_owned()));
                }
            }
            Event::DocType(_) => return Err(err("a DOCTYPE is not allowed".into())),
            Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(err(format!(
            "<{}> is never closed",
            stack[stack.len() - 1].name
        )));
    }
    root.ok_or_else(|| err("no root element".into()))
}

/// Serialise with two-space indentation (whitespace-only text between
/// elements is not significant in answer files and is re-indented).
pub fn serialize(root: &Element) -> String {
    fn esc(s: &str) -> String {
        quick_xml::escape::escape(s).into_owned()
    }
    fn write(e: &Element, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        out.push_str(&pad);
        out.push('<');
        out.push_str(&e.name);
        for (k, v) in &e.attrs {
            out.push_str(&format!(" {k}=\"{}\"", esc(v)));
        }
        let has_elems = e
            .children
            .iter()
            .any(|c| matches!(c, XmlNode::Element(_) | XmlNode::Comment(_)));
        if e.children.is_empty() {
            out.push_str(" />\n");
            return;
        }
        out.push('>');
        if !has_elems {
            out.push_str(&esc(&e.text()));
        } else {
            out.push('\n');
            for c in &e.children {
                match c {
                    XmlNode::Element(x) => write(x, depth + 1, out),
                    XmlNode::Comment(t) => {
                        out.push_str(&format!("{pad}  <!--{t}-->\n"));
                    }
                    XmlNode::Text(t) if t.trim().is_empty() => {}
                    XmlNode::Text(t) => {
                        out.push_str(&format!("{pad}  {}\n", esc(t.trim())));
                    }
                }
            }
            out.push_str(&pad);
        }
        out.push_str(&format!("</{}>\n", e.name));
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    write(root, 0, &mut out);
    out
}

/// Values from the spec.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub computer_name: Option<String>,
    pub administrator_password: Option<String>,
    pub time_zone: Option<String>,
    pub registered_owner: Option<String>,
    pub registered_organization: Option<String>,
}

/// The rewritten file and what was done to it.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub xml: String,
    /// What moved or was set ("ComputerName: offlineServicing → specialize").
    pub changes: Vec<String>,
    /// Settings that stay unprocessed (offlineServicing items we cannot do).
    pub not_processed: Vec<String>,
    /// The computer name the answer file ends up with.
    pub computer_name: Option<String>,
}

/// base64 (RFC 4648, with padding).
pub fn base64_encode(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Decode base64; `None` when malformed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if s.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, q) in s.chunks(4).enumerate() {
        let last = ci == s.len() / 4 - 1;
        let pads = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pads > 2 || (pads > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pads] {
            n = n << 6 | val(c)?;
        }
        n <<= 6 * pads as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pads]);
    }
    Some(out)
}

/// How Windows obscures a password in an answer file: base64 of the
/// UTF-16LE of password + the element's name.
pub fn obscure(password: &str, element: &str) -> String {
    let mut b = Vec::new();
    for u in password.encode_utf16().chain(element.encode_utf16()) {
        b.extend_from_slice(&u.to_le_bytes());
    }
    base64_encode(&b)
}

/// The inverse of [`obscure`]; `None` when the value is not of that form.
pub fn reveal(value: &str, element: &str) -> Option<String> {
    let b = base64_decode(value)?;
    if b.len() % 2 != 0 {
        return None;
    }
    let u: Vec<u16> = b
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16(&u).ok()?;
    s.strip_suffix(element).map(str::to_string)
}

fn component_attrs(arch: &str, like: Option<&Element>) -> Vec<(String, String)> {
    if let Some(l) = like {
        return l.attrs.clone();
    }
    vec![
        ("name".into(), SHELL_SETUP.into()),
        ("processorArchitecture".into(), arch.into()),
        ("publicKeyToken".into(), "31bf3856ad364e35".into()),
        ("language".into(), "neutral".into()),
        ("versionScope".into(), "nonSxS".into()),
    ]
}

fn settings_mut<'a>(root: &'a mut Element, pass: &str) -> &'a mut Element {
    let i = root.children.iter().position(
        |c| matches!(c, XmlNode::Element(e) if e.local_name() == "settings" && e.attr("pass") == Some(pass)),
    );
    let i = match i {
        Some(i) => i,
        None => {
            root.children.push(XmlNode::Element(Element {
                name: "settings".into(),
                attrs: vec![("pass".into(), pass.into())],
                children: Vec::new(),
            }));
            root.children.len() - 1
        }
    };
    match &mut root.children[i] {
        XmlNode::Element(e) => e,
        _ => unreachable!("found as an element"),
    }
}

fn shell_setup_mut<'a>(
    root: &'a mut Element,
    pass: &str,
    arch: &str,
    like: Option<&Element>,
) -> &'a mut Element {
    let s = settings_mut(root, pass);
    let i = s.children.iter().position(
        |c| matches!(c, XmlNode::Element(e) if e.local_name() == "component" && e.attr("name") == Some(SHELL_SETUP)),
    );
    let i = match i {
        Some(i) => i,
        None => {
            s.children.push(XmlNode::Element(Element {
                name: "component".into(),
                attrs: component_attrs(arch, like),
                children: Vec::new(),
            }));
            s.children.len() - 1
        }
    };
    match &mut s.children[i] {
        XmlNode::Element(e) => e,
        _ => unreachable!("found as an element"),
    }
}

fn shell_setup<'a>(root: &'a Element, pass: &str) -> Option<&'a Element> {
    root.elements()
        .filter(|e| e.local_name() == "settings" && e.attr("pass") == Some(pass))
        .flat_map(|s| s.elements())
        .find(|c| c.local_name() == "component" && c.attr("name") == Some(SHELL_SETUP))
}

/// A new, empty answer file.
pub fn empty() -> Element {
    Element {
        name: "unattend".into(),
        attrs: vec![
            ("xmlns".into(), NS.into()),
            ("xmlns:wcm".into(), WCM_NS.into()),
            ("xmlns:xsi".into(), XSI_NS.into()),
        ],
        children: Vec::new(),
    }
}

/// Check the shape of an answer file: root `unattend` in the unattend
/// namespace, `settings` with a known `pass`, `component`s with names.
pub fn validate(root: &Element, file: &Path) -> Result<()> {
    let err = |message: String| Error::Unattend {
        file: file.to_path_buf(),
        message,
    };
    if root.local_name() != "unattend" {
        return Err(err(format!(
            "root element is <{}>, not <unattend>",
            root.name
        )));
    }
    if root.attr("xmlns") != Some(NS) {
        return Err(err(format!("root element is not in the {NS} namespace")));
    }
    for s in root.elements() {
        match s.local_name() {
            "settings" => {
                let pass = s
                    .attr("pass")
                    .ok_or_else(|| err("<settings> without pass=".into()))?;
                if !PASSES.contains(&pass) {
                    return Err(err(format!(
                        "unknown configuration pass {pass:?} (known: {})",
                        PASSES.join(", ")
                    )));
                }
                for c in s.elements() {
                    if c.local_name() != "component" {
                        return Err(err(format!(
                            "<{}> inside <settings pass=\"{pass}\"> (only <component>)",
                            c.name
                        )));
                    }
                    if c.attr("name").is_none_or(str::is_empty) {
                        return Err(err(format!("a <component> in pass {pass} has no name")));
                    }
                }
            }
            "servicing" | "cpi:offlineImage" | "offlineImage" => {}
            other => return Err(err(format!("unexpected <{other}> under <unattend>"))),
        }
    }
    Ok(())
}

/// Validate `source` (or start empty), move offlineServicing settings,
/// apply `fields`, and serialise. `arch` (`amd64`, `x86`, `arm64`) is used
/// for components this creates.
pub fn prepare(source: Option<(&[u8], &Path)>, fields: &Fields, arch: &str) -> Result<Prepared> {
    let mut root = match source {
        Some((xml, file)) => {
            let r = parse(xml, file)?;
            validate(&r, file)?;
            r
        }
        None => empty(),
    };
    let mut p = Prepared::default();
    // offlineServicing → first-boot passes.
    let mut template: Option<Element> = None;
    let mut moved_name: Option<String> = None;
    let mut moved_pw: Option<Element> = None;
    for c in root.children.iter_mut() {
        let XmlNode::Element(s) = c else { continue };
        if s.local_name() != "settings" || s.attr("pass") != Some("offlineServicing") {
            continue;
        }
        for cc in s.children.iter_mut() {
            let XmlNode::Element(comp) = cc else { continue };
            if comp.attr("name") != Some(SHELL_SETUP) {
                continue;
            }
            template.get_or_insert_with(|| Element {
                children: Vec::new(),
                ..comp.clone()
            });
            if let Some(n) = comp.take_child("ComputerName") {
                moved_name = Some(n.text().trim().to_string());
            }
            if let Some(mut oua) = comp.take_child("OfflineUserAccounts") {
                if let Some(pw) = oua.take_child("OfflineAdministratorPassword") {
                    moved_pw = Some(pw);
                }
                if !oua.is_empty_of_elements() {
                    p.not_processed.push(
                        "offlineServicing/Microsoft-Windows-Shell-Setup/OfflineUserAccounts \
                         (other than OfflineAdministratorPassword)"
                            .into(),
                    );
                    comp.children.push(XmlNode::Element(oua));
                }
            }
        }
        s.children
            .retain(|c| !matches!(c, XmlNode::Element(e) if e.local_name() == "component" && e.is_empty_of_elements()));
        for comp in s.elements() {
            for item in comp.elements() {
                p.not_processed.push(format!(
                    "offlineServicing/{}/{} (needs DISM /Apply-Unattend, which a pre-applied image never runs)",
                    comp.attr("name").unwrap_or("?"),
                    item.local_name()
                ));
            }
        }
    }
    root.children.retain(|c| {
        !matches!(c, XmlNode::Element(e) if e.local_name() == "settings"
            && e.attr("pass") == Some("offlineServicing") && e.is_empty_of_elements())
    });
    let tpl = template.as_ref();
    if let Some(name) = moved_name {
        let spec = shell_setup_mut(&mut root, "specialize", arch, tpl);
        if let Some(existing) = spec.child("ComputerName") {
            p.changes.push(format!(
                "ComputerName {name:?} dropped from offlineServicing: specialize already sets {:?}",
                existing.text().trim()
            ));
        } else {
            spec.set_child_text("ComputerName", &name);
            p.changes.push(format!(
                "ComputerName {name:?}: offlineServicing → specialize"
            ));
        }
    }
    if let Some(pw) = moved_pw {
        let plain = pw
            .child("PlainText")
            .map(|e| e.text().trim().eq_ignore_ascii_case("true"))
            .unwrap_or(false);
        let value = pw.child("Value").map(|e| e.text()).unwrap_or_default();
        let password = if plain {
            Some(value.clone())
        } else {
            reveal(value.trim(), "OfflineAdministratorPassword")
        };
        let oobe = shell_setup_mut(&mut root, "oobeSystem", arch, tpl);
        let accounts = oobe.child_or_insert("UserAccounts");
        if accounts.child("AdministratorPassword").is_some() {
            p.changes.push(
                "OfflineAdministratorPassword dropped: oobeSystem already sets AdministratorPassword"
                    .into(),
            );
        } else {
            match password {
                Some(pwd) => {
                    set_admin_password(accounts, &pwd);
                    p.changes.push(
                        "OfflineAdministratorPassword: offlineServicing → oobeSystem \
                         UserAccounts/AdministratorPassword (re-encoded)"
                            .into(),
                    );
                }
                None => p.not_processed.push(
                    "OfflineAdministratorPassword: the obscured value does not decode; not moved"
                        .into(),
                ),
            }
        }
    }
    // Spec fields override the file.
    if let Some(n) = &fields.computer_name {
        shell_setup_mut(&mut root, "specialize", arch, tpl).set_child_text("ComputerName", n);
        p.changes
            .push(format!("ComputerName {n:?} set in specialize (spec)"));
    }
    if let Some(o) = &fields.registered_owner {
        shell_setup_mut(&mut root, "specialize", arch, tpl).set_child_text("RegisteredOwner", o);
        p.changes
            .push("RegisteredOwner set in specialize (spec)".into());
    }
    if let Some(o) = &fields.registered_organization {
        shell_setup_mut(&mut root, "specialize", arch, tpl)
            .set_child_text("RegisteredOrganization", o);
        p.changes
            .push("RegisteredOrganization set in specialize (spec)".into());
    }
    if let Some(tz) = &fields.time_zone {
        shell_setup_mut(&mut root, "oobeSystem", arch, tpl).set_child_text("TimeZone", tz);
        p.changes
            .push(format!("TimeZone {tz:?} set in oobeSystem (spec)"));
    }
    if let Some(pw) = &fields.administrator_password {
        let oobe = shell_setup_mut(&mut root, "oobeSystem", arch, tpl);
        let accounts = oobe.child_or_insert("UserAccounts");
        accounts.take_child("AdministratorPassword");
        set_admin_password(accounts, pw);
        p.changes
            .push("AdministratorPassword set in oobeSystem (spec, obscured)".into());
    }
    p.computer_name = shell_setup(&root, "specialize")
        .and_then(|c| c.child("ComputerName"))
        .map(|e| e.text().trim().to_string());
    p.xml = serialize(&root);
    Ok(p)
}

fn set_admin_password(accounts: &mut Element, password: &str) {
    accounts.children.push(XmlNode::Element(Element {
        name: "AdministratorPassword".into(),
        attrs: Vec::new(),
        children: vec![
            XmlNode::Element(Element::with_text(
                "Value",
                &obscure(password, "AdministratorPassword"),
            )),
            XmlNode::Element(Element::with_text("PlainText", "false")),
        ],
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for n in 0..40 {
            let d: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&d)).unwrap(), d);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("Zm9=v").is_none());
        assert!(base64_decode("Z===").is_none());
    }

    #[test]
    fn obscured_passwords_match_windows_encoding() {
        // The value NanoServerImageGenerator writes for "P@ssw0rd!".
        let v = "UABAAHMAcwB3ADAAcgBkACEATwBmAGYAbABpAG4AZQBBAGQAbQBpAG4AaQBzAHQAcgBhAHQAbwByAFAAYQBzAHMAdwBvAHIAZAA=";
        assert_eq!(
            reveal(v, "OfflineAdministratorPassword").unwrap(),
            "P@ssw0rd!"
        );
        assert_eq!(obscure("P@ssw0rd!", "OfflineAdministratorPassword"), v);
    }

    #[test]
    fn generated_file_has_the_fields() {
        let f = Fields {
            computer_name: Some("NANO1".into()),
            administrator_password: Some("pw".into()),
            time_zone: Some("UTC".into()),
            ..Default::default()
        };
        let p = prepare(None, &f, "amd64").unwrap();
        let root = parse(p.xml.as_bytes(), Path::new("gen")).unwrap();
        validate(&root, Path::new("gen")).unwrap();
        let spec = shell_setup(&root, "specialize").unwrap();
        assert_eq!(spec.child("ComputerName").unwrap().text(), "NANO1");
        let oobe = shell_setup(&root, "oobeSystem").unwrap();
        let v = oobe
            .child("UserAccounts")
            .and_then(|u| u.child("AdministratorPassword"))
            .and_then(|a| a.child("Value"))
            .unwrap()
            .text();
        assert_eq!(reveal(&v, "AdministratorPassword").unwrap(), "pw");
        assert_eq!(p.computer_name.as_deref(), Some("NANO1"));
    }

    #[test]
    fn malformed_files_are_refused() {
        for bad in [
            &b"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><settings>"[..],
            b"<notunattend/>",
            b"<unattend/>",
            b"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><settings pass=\"bogus\"/></unattend>",
            b"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><a></b></unattend>",
            b"\xff\xfe<",
            b"",
        ] {
            assert!(prepare(Some((bad, Path::new("x.xml"))), &Fields::default(), "amd64").is_err());
        }
    }
}
