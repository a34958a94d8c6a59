//! `wimforge hive set/delete` on copies of the real hives: hivexregedit
//! and hivexsh must see exactly the change and nothing else.

#[path = "hive_util/mod.rs"]
mod hive_util;
mod support;

use hive_util::{diff, hivex_export, Tree};
use std::path::Path;
use support::{fixture, have, ok, run, wimforge};

const HIVES: &[&str] = &[
    "hive/nt-hive_testhive",
    "hive/regipy_BCD",
    "hive/regipy_SAM",
    "hive/usbboot_EFI-Microsoft-Boot_BCD",
    "hive/usbboot_boot_BCD",
];

fn utf16z(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    v.extend([0, 0]);
    v
}

fn set(p: &Path, key: &str, name: &str, ty: &str, vals: &[&str]) {
    let mut c = wimforge();
    c.args(["hive", "set"])
        .arg(p)
        .args([key, name, "--type", ty]);
    for v in vals {
        c.arg("--value").arg(v);
    }
    ok(&mut c);
}

fn put(t: &mut Tree, key: &str, name: &str, ty: u32, data: Vec<u8>) {
    // Create the key and parents like `hive set` does.
    let mut path = String::new();
    for c in key.split('\\') {
        path.push('\\');
        path.push_str(c);
        t.entry(path.clone()).or_default();
    }
    let v = t.get_mut(&path).unwrap();
    v.retain(|(n, _, _)| !n.eq_ignore_ascii_case(name));
    v.push((name.to_string(), ty, data));
    v.sort();
}

#[test]
fn edits_change_exactly_what_was_asked() {
    if !have("hivexregedit") || !have("hivexsh") {
        return;
    }
    for rel in HIVES {
        let Some(src) = fixture(rel) else { return };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hive");
        std::fs::copy(&src, &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let before = hivex_export(&p);
        let mut expect = before.clone();

        // A value on an existing key, replaced (or added).
        let (victim_key, victim_vals) = before
            .iter()
            .find(|(k, v)| k.len() > 1 && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .expect("a key with values");
        let kpath = victim_key.trim_start_matches('\\').to_string();
        let vname = victim_vals[0].0.clone();
        let shown = if vname.is_empty() {
            "@".to_string()
        } else {
            vname.clone()
        };
        set(&p, &kpath, &shown, "dword", &["0x12345678"]);
        put(
            &mut expect,
            &kpath,
            &vname,
            4,
            0x12345678u32.to_le_bytes().to_vec(),
        );

        // New keys with every common type.
        set(&p, "WimforgeTest\\Sub", "str", "sz", &["héllo wörld"]);
        put(
            &mut expect,
            "WimforgeTest\\Sub",
            "str",
            1,
            utf16z("héllo wörld"),
        );
        set(
            &p,
            "WimforgeTest\\Sub",
            "exp",
            "expand_sz",
            &["%SystemRoot%\\x"],
        );
        put(
            &mut expect,
            "WimforgeTest\\Sub",
            "exp",
            2,
            utf16z("%SystemRoot%\\x"),
        );
        set(&p, "WimforgeTest\\Sub", "multi", "multi_sz", &["a", "bc"]);
        let mut m = utf16z("a");
        m.extend(utf16z("bc"));
        m.extend([0, 0]);
        put(&mut expect, "WimforgeTest\\Sub", "multi", 7, m);
        set(
            &p,
            "WimforgeTest\\Sub",
            "q",
            "qword",
            &["0x1122334455667788"],
        );
        put(
            &mut expect,
            "WimforgeTest\\Sub",
            "q",
            11,
            0x1122334455667788u64.to_le_bytes().to_vec(),
        );
        set(&p, "WimforgeTest\\Sub", "be", "dword_be", &["1"]);
        put(&mut expect, "WimforgeTest\\Sub", "be", 5, vec![0, 0, 0, 1]);
        set(
            &p,
            "WimforgeTest\\Sub",
            "bin",
            "binary",
            &["de,ad,be,ef,00"],
        );
        put(
            &mut expect,
            "WimforgeTest\\Sub",
            "bin",
            3,
            vec![0xde, 0xad, 0xbe, 0xef, 0],
        );
        set(&p, "WimforgeTest\\Sub", "none", "none", &[""]);
        put(&mut expect, "WimforgeTest\\Sub", "none", 0, vec![]);
        set(&p, "WimforgeTest\\Sub", "odd", "0x20", &["0102"]);
        put(&mut expect, "WimforgeTest\\Sub", "odd", 0x20, vec![1, 2]);
        set(&p, "WimforgeTest\\Sub", "@", "sz", &["default"]);
        put(&mut expect, "WimforgeTest\\Sub", "", 1, utf16z("default"));
        let big: String = (0..20000).map(|i| format!("{:02x}", i % 251)).collect();
        set(&p, "WimforgeTest", "big", "binary", &[&big]);
        put(
            &mut expect,
            "WimforgeTest",
            "big",
            3,
            (0..20000).map(|i| (i % 251) as u8).collect(),
        );
        set(&p, "WimforgeTest\\Gone", "x", "dword", &["1"]);

        // Deletions: a value, a key.
        ok(wimforge()
            .args(["hive", "delete"])
            .arg(&p)
            .args(["WimforgeTest\\Sub", "be"]));
        expect
            .get_mut("\\WimforgeTest\\Sub")
            .unwrap()
            .retain(|v| v.0 != "be");
        ok(wimforge()
            .args(["hive", "delete"])
            .arg(&p)
            .args(["WimforgeTest\\Gone"]));
        // Deleting something absent fails and changes nothing.
        assert!(!run(wimforge()
            .args(["hive", "delete"])
            .arg(&p)
            .args(["NoSuchKey"]))
        .status
        .success());

        let after = hivex_export(&p);
        if let Some(d) = diff(&after, &expect) {
            panic!("{rel}: hivex sees (left) something other than the edits (right): {d}");
        }

        // hivexsh navigates to the new key and lists its values.
        let script = dir.path().join("script");
        std::fs::write(&script, "cd \\WimforgeTest\\Sub\nlsval\n").unwrap();
        let out = ok(std::process::Command::new("hivexsh")
            .arg("-f")
            .arg(&script)
            .arg(&p));
        for n in ["\"str\"", "\"multi\"", "\"odd\"", "\"q\""] {
            assert!(out.contains(n), "{rel}: hivexsh lsval lacks {n}: {out}");
        }
        // hivexsh can modify our output in turn (it must find it well formed).
        let s2 = dir.path().join("script2");
        std::fs::write(&s2, "cd \\WimforgeTest\nadd hx\ncommit\n").unwrap();
        ok(std::process::Command::new("hivexsh")
            .arg("-w")
            .arg("-f")
            .arg(&s2)
            .arg(&p));
        let out = ok(wimforge()
            .args(["hive", "dump"])
            .arg(&p)
            .arg("WimforgeTest"));
        assert!(out.contains("[\\WimforgeTest\\hx]"), "{out}");
    }
}

use std::os::unix::fs::PermissionsExt;
