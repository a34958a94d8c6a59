//! Helpers shared by the hive tests (included with `#[path]`): parsing
//! `hivexregedit --export` and `wimforge hive dump --json` into the same
//! normalised form.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// key path -> sorted (value name, type, data)
pub type Tree = BTreeMap<String, Vec<(String, u32, Vec<u8>)>>;

fn unquote(s: &str) -> (String, &str) {
    // s starts after the opening quote
    let mut out = String::new();
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = it.next() {
                    out.push(n);
                }
            }
            '"' => return (out, &s[i + 1..]),
            c => out.push(c),
        }
    }
    (out, "")
}

fn hexbytes(s: &str) -> Vec<u8> {
    s.split(',')
        .map(|b| b.trim())
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad hex byte {b:?}")))
        .collect()
}

/// Parse `hivexregedit --export` output.
pub fn parse_reg(text: &str) -> Tree {
    let mut t = Tree::new();
    let mut cur: Option<String> = None;
    // join continuation lines ("\\\n  ")
    let joined = text.replace("\\\r\n", "").replace("\\\n", "");
    for line in joined.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('[') && line.ends_with(']') {
            let p = line[1..line.len() - 1].to_string();
            t.entry(p.clone()).or_default();
            cur = Some(p);
            continue;
        }
        let Some(key) = cur.clone() else { continue };
        let (name, rest) = if let Some(r) = line.strip_prefix('"') {
            unquote(r)
        } else if let Some(r) = line.strip_prefix('@') {
            (String::new(), r)
        } else {
            continue;
        };
        let rest = rest.strip_prefix('=').expect("= after value name");
        let (ty, data) = if let Some(d) = rest.strip_prefix("dword:") {
            (
                4,
                u32::from_str_radix(d, 16).unwrap().to_le_bytes().to_vec(),
            )
        } else if let Some(r) = rest.strip_prefix("hex(") {
            let close = r.find("):").expect("hex(N):");
            let ty = u32::from_str_radix(&r[..close], 16).unwrap();
            (ty, hexbytes(&r[close + 2..]))
        } else if let Some(d) = rest.strip_prefix("hex:") {
            (3, hexbytes(d))
        } else if let Some(r) = rest.strip_prefix('"') {
            let (s, _) = unquote(r);
            let mut v: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            v.extend([0, 0]);
            (1, v)
        } else {
            panic!("unparsed value line {line:?}");
        };
        t.get_mut(&key).unwrap().push((name, ty, data));
    }
    for v in t.values_mut() {
        v.sort();
    }
    t
}

/// Parse `wimforge hive dump --json` output.
pub fn parse_dump_json(text: &str) -> Tree {
    let doc: serde_json::Value = serde_json::from_str(text).expect("json");
    let mut t = Tree::new();
    for k in doc["keys"].as_array().expect("keys") {
        let p = k["path"].as_str().unwrap().to_string();
        let mut vals: Vec<(String, u32, Vec<u8>)> = k["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["type"].as_u64().unwrap() as u32,
                    hexbytes(v["data"].as_str().unwrap()),
                )
            })
            .collect();
        vals.sort();
        t.insert(p, vals);
    }
    t
}

pub fn hivex_export(hive: &Path) -> Tree {
    let out = Command::new("hivexregedit")
        .arg("--export")
        .arg(hive)
        .arg("\\")
        .output()
        .expect("run hivexregedit");
    assert!(
        out.status.success(),
        "hivexregedit --export {} failed: {}",
        hive.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // hivexregedit prints names stored compressed (Latin-1) as raw bytes and
    // UTF-16 names as UTF-8: decode line by line.
    let text: Vec<String> = out
        .stdout
        .split(|&b| b == b'\n')
        .map(|l| match std::str::from_utf8(l) {
            Ok(s) => s.to_string(),
            Err(_) => l.iter().map(|&b| b as char).collect(),
        })
        .collect();
    parse_reg(&text.join("\n"))
}

/// Describe the first difference between two trees (None when equal).
pub fn diff(a: &Tree, b: &Tree) -> Option<String> {
    for (k, v) in a {
        match b.get(k) {
            None => return Some(format!("key {k} only on the left")),
            Some(w) if w != v => {
                return Some(format!("values of {k} differ:\n left {v:?}\nright {w:?}"))
            }
            _ => {}
        }
    }
    b.keys()
        .find(|k| !a.contains_key(*k))
        .map(|k| format!("key {k} only on the right"))
}
