//! Test helpers: outside validators with the project's CI rule (missing
//! under CI=true is a failure, otherwise a printed skip).
#![allow(dead_code)]

use hive::Hive;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        if matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1")) {
            panic!("validator `{tool}` missing (CI=true makes this a failure)");
        }
        eprintln!("SKIP: validator `{tool}` is missing");
    }
    found
}

/// path -> sorted (name, type, data)
pub type Tree = BTreeMap<String, Vec<(String, u32, Vec<u8>)>>;

pub fn tree(h: &Hive) -> Tree {
    let mut t = Tree::new();
    for (p, k) in h.walk() {
        let mut v: Vec<_> = k
            .values
            .iter()
            .map(|v| (v.name.clone(), v.data_type, v.data.clone()))
            .collect();
        v.sort();
        t.insert(format!("\\{p}"), v);
    }
    t
}

fn hexbytes(s: &str) -> Vec<u8> {
    s.split(',')
        .map(|b| b.trim())
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// `hivexregedit --export` of a hive file, normalised.
pub fn hivex_tree(path: &Path) -> Tree {
    let out = Command::new("hivexregedit")
        .arg("--export")
        .arg(path)
        .arg("\\")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hivexregedit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // hivexregedit prints names stored compressed as raw Latin-1 bytes.
    let text: Vec<String> = out
        .stdout
        .split(|&b| b == b'\n')
        .map(|l| match std::str::from_utf8(l) {
            Ok(s) => s.to_string(),
            Err(_) => l.iter().map(|&b| b as char).collect(),
        })
        .collect();
    let text = text.join("\n");
    let text = text.replace("\\\n", "");
    let mut t = Tree::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.starts_with('[') && line.ends_with(']') {
            cur = line[1..line.len() - 1].to_string();
            t.entry(cur.clone()).or_default();
            continue;
        }
        let (name, rest) = if let Some(r) = line.strip_prefix('"') {
            let mut name = String::new();
            let mut it = r.char_indices();
            let mut end = 0;
            while let Some((i, c)) = it.next() {
                match c {
                    '\\' => name.push(it.next().unwrap().1),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => name.push(c),
                }
            }
            (name, &r[end..])
        } else if let Some(r) = line.strip_prefix('@') {
            (String::new(), r)
        } else {
            continue;
        };
        let rest = &rest[1..];
        let (ty, data) = if let Some(d) = rest.strip_prefix("dword:") {
            (
                4,
                u32::from_str_radix(d, 16).unwrap().to_le_bytes().to_vec(),
            )
        } else if let Some(r) = rest.strip_prefix("hex(") {
            let c = r.find("):").unwrap();
            (
                u32::from_str_radix(&r[..c], 16).unwrap(),
                hexbytes(&r[c + 2..]),
            )
        } else {
            panic!("unparsed {line}");
        };
        t.get_mut(&cur).unwrap().push((name, ty, data));
    }
    for v in t.values_mut() {
        v.sort();
    }
    t
}

/// The first difference between two trees, data shown by length and head.
pub fn first_diff(a: &Tree, b: &Tree) -> Option<String> {
    let short = |v: &Vec<(String, u32, Vec<u8>)>| -> String {
        v.iter()
            .map(|(n, t, d)| {
                format!(
                    "({n:?} type {t} len {} {:02x?})",
                    d.len(),
                    &d[..d.len().min(8)]
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (k, v) in a {
        match b.get(k) {
            None => return Some(format!("key {k} only on the left")),
            Some(w) if w != v => {
                return Some(format!("{k}: left [{}] right [{}]", short(v), short(w)))
            }
            _ => {}
        }
    }
    b.keys()
        .find(|k| !a.contains_key(*k))
        .map(|k| format!("key {k} only on the right"))
}
