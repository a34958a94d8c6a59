//! Our writer's output read by hivex: a 10,000-key hive (root index over
//! hash leaves), big data, and both formats 1.3 and 1.5.

mod common;
use common::{have, hivex_tree, tree};
use hive::value::{utf16z, REG_BINARY, REG_DWORD, REG_SZ};
use hive::Hive;
use std::process::Command;

#[test]
fn ten_thousand_keys_read_back_with_hivex() {
    for minor in [3u32, 5] {
        let mut h = Hive::new(minor, "ROOT");
        for i in 0..10_000 {
            let k = h.create_key(&format!("Big\\Key{i:05}")).unwrap();
            k.values.push(hive::Value {
                name: "n".into(),
                data_type: REG_DWORD,
                data: (i as u32).to_le_bytes().to_vec(),
                flags: 0,
            });
        }
        h.set_value("Other", "s", REG_SZ, utf16z("x", true))
            .unwrap();
        h.set_value("Other", "blob", REG_BINARY, vec![0x5A; 50_000])
            .unwrap();
        let img = h.to_bytes();
        let back = Hive::from_bytes(&img).unwrap();
        assert_eq!(back.key("Big").unwrap().subkeys.len(), 10_000);
        assert_eq!(tree(&back), tree(&h));
        if !have("hivexregedit") || !have("hivexsh") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, &img).unwrap();
        assert_eq!(hivex_tree(&p), tree(&h), "format 1.{minor}");
        let script = dir.path().join("s");
        std::fs::write(&script, "cd \\Big\\Key09999\nlsval\ncd \\Big\nls\n").unwrap();
        let out = Command::new("hivexsh")
            .arg("-f")
            .arg(&script)
            .arg(&p)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("\"n\"=dword:0000270f"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("Key")).count(),
            10_000
        );
    }
}
