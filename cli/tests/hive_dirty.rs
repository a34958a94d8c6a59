//! Dirty hives through the CLI: a torn primary with its .LOG1/.LOG2 (built
//! per the format with our own writer) dumps as the post-replay state; an
//! edit of it writes a clean hive that hivex reads.

#[path = "hive_util/mod.rs"]
mod hive_util;
mod support;

use hive::value::{utf16z, REG_DWORD, REG_SZ};
use hive::Hive;
use hive_util::{diff, hivex_export, parse_dump_json};
use support::{have, ok, wimforge};

/// (clean before, intended after, torn primary)
fn scenario(minor: u32) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut h = Hive::new(minor, "ROOT");
    for i in 0..40 {
        h.set_value(
            &format!("Services\\S{i}"),
            "Start",
            REG_DWORD,
            vec![2, 0, 0, 0],
        )
        .unwrap();
    }
    let a = h.to_bytes();
    let mut h = Hive::from_bytes(&a).unwrap();
    h.set_value(
        "Services\\docker",
        "ImagePath",
        2,
        utf16z("C:\\dockerd.exe --run-service", true),
    )
    .unwrap();
    h.set_value("Services\\S3", "Start", REG_DWORD, vec![4, 0, 0, 0])
        .unwrap();
    h.delete_key("Services\\S7").unwrap();
    h.set_value("Control", "Name", REG_SZ, utf16z("after", true))
        .unwrap();
    let b = h.to_bytes();
    let mut torn = a.clone();
    let n = 4096 + (b.len().min(a.len()) - 4096) / 8192 * 4096;
    torn[4096..n].copy_from_slice(&b[4096..n]);
    hive::log::mark_dirty(&mut torn);
    (a, b, torn)
}

#[test]
fn dirty_hive_dumps_post_replay_state() {
    for (minor, new_format) in [(5u32, true), (3, false)] {
        let (a, b, torn) = scenario(minor);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("SYSTEM");
        std::fs::write(&p, &torn).unwrap();
        if new_format {
            std::fs::write(
                dir.path().join("SYSTEM.LOG1"),
                hive::log::write_new_format(&a, &b),
            )
            .unwrap();
            std::fs::write(dir.path().join("SYSTEM.LOG2"), b"").unwrap();
        } else {
            std::fs::write(
                dir.path().join("SYSTEM.LOG"),
                hive::log::write_old_format(&a, &b),
            )
            .unwrap();
        }
        let clean = dir.path().join("expected");
        std::fs::write(&clean, &b).unwrap();
        let ours = parse_dump_json(&ok(wimforge().args(["hive", "dump", "--json"]).arg(&p)));
        let expect = parse_dump_json(&ok(wimforge().args(["hive", "dump", "--json"]).arg(&clean)));
        if let Some(d) = diff(&ours, &expect) {
            panic!("format 1.{minor}: replayed (left) vs intended (right): {d}");
        }
        assert!(ours.contains_key("\\Services\\docker") && !ours.contains_key("\\Services\\S7"));
        // The dump did not change the files.
        assert_eq!(std::fs::read(&p).unwrap(), torn);

        // An edit recovers, writes a clean hive, empties the logs.
        ok(wimforge()
            .args(["hive", "set"])
            .arg(&p)
            .args(["Control", "Extra", "--type", "dword", "--value", "5"]));
        let img = std::fs::read(&p).unwrap();
        let bb = hive::base::BaseBlock::parse(&img, true).unwrap();
        assert!(!bb.is_dirty());
        for l in hive::log_paths(&p) {
            assert_eq!(std::fs::metadata(&l).unwrap().len(), 0, "{}", l.display());
        }
        if have("hivexregedit") {
            let mut want = expect.clone();
            want.get_mut("\\Control")
                .unwrap()
                .push(("Extra".into(), 4, vec![5, 0, 0, 0]));
            want.get_mut("\\Control").unwrap().sort();
            if let Some(d) = diff(&hivex_export(&p), &want) {
                panic!("format 1.{minor}: hivex after edit: {d}");
            }
        }
    }
}
