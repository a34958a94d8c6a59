//! `wimforge wim` against the real WIM files in `../shared/fixtures/real/wim`
//! (made by wimlib and WIMGAPI), with `wimlib-imagex` as the oracle.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// Every top-level .wim fixture that wimlib itself reads, plus the split set.
fn readable_fixtures() -> Option<Vec<PathBuf>> {
    let dir = fixture("wim")?;
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wim"))
        // Its metadata resource is deliberately corrupt (see the failure test).
        .filter(|p| !p.ends_with("VerifyFail.wim"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "expected the fixture WIMs, found {v:?}");
    Some(v)
}

/// Fields of `wimlib-imagex info` text output.
fn wimlib_info(
    wim: &Path,
    refs: &[&Path],
) -> (HashMap<String, String>, Vec<HashMap<String, String>>) {
    // `wimlib-imagex info` takes no --ref: it reads part 1's header and XML.
    let _ = refs;
    let mut cmd = Command::new("wimlib-imagex");
    cmd.arg("info").arg(wim);
    let text = ok(&mut cmd);
    let mut header = HashMap::new();
    let mut images: Vec<HashMap<String, String>> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k == "Index" {
            images.push(HashMap::new());
        }
        match images.last_mut() {
            Some(img) => {
                img.insert(k, v);
            }
            None => {
                header.insert(k, v);
            }
        }
    }
    (header, images)
}

fn our_info(wim: &Path, refs: &[&Path]) -> serde_json::Value {
    let mut cmd = wimforge();
    cmd.args(["wim", "info", "--json"]).arg(wim);
    for r in refs {
        cmd.arg("--ref").arg(r);
    }
    serde_json::from_str(&ok(&mut cmd)).expect("info --json is JSON")
}

fn compare_info(wim: &Path, refs: &[&Path]) {
    let (h, imgs) = wimlib_info(wim, refs);
    let ours = our_info(wim, refs);
    let name = wim.display();
    assert_eq!(
        ours["image_count"].as_u64().unwrap().to_string(),
        h["Image Count"],
        "{name}"
    );
    assert_eq!(
        ours["compression"].as_str().unwrap().to_uppercase(),
        h["Compression"].to_uppercase(),
        "{name}"
    );
    // The text form prints the codec as wimlib-imagex does ("None", "LZX").
    let mut cmd = wimforge();
    cmd.args(["wim", "info"]).arg(wim);
    for r in refs {
        cmd.arg("--ref").arg(r);
    }
    let text = ok(&mut cmd);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Compression:"))
        .map(str::trim);
    assert_eq!(line, Some(h["Compression"].as_str()), "{name}: {text}");
    assert_eq!(
        format!("{} bytes", ours["chunk_size"]),
        h["Chunk Size"],
        "{name}"
    );
    assert_eq!(
        ours["boot_index"].as_u64().unwrap().to_string(),
        h["Boot Index"],
        "{name}"
    );
    assert_eq!(
        format!("{}/{}", ours["part_number"], ours["total_parts"]),
        h["Part Number"],
        "{name}"
    );
    let images = ours["images"].as_array().unwrap();
    assert_eq!(images.len(), imgs.len(), "{name}");
    for (o, w) in images.iter().zip(&imgs) {
        assert_eq!(
            o["index"].as_u64().unwrap().to_string(),
            w["Index"],
            "{name}"
        );
        assert_eq!(
            o["name"].as_str().unwrap(),
            w.get("Name").map(String::as_str).unwrap_or(""),
            "{name}"
        );
        assert_eq!(
            o["dir_count"].as_u64().unwrap().to_string(),
            w["Directory Count"],
            "{name}"
        );
        assert_eq!(
            o["file_count"].as_u64().unwrap().to_string(),
            w["File Count"],
            "{name}"
        );
        assert_eq!(
            o["total_bytes"].as_u64().unwrap().to_string(),
            w["Total Bytes"],
            "{name}"
        );
    }
}

fn compare_dir(wim: &Path, image: u32, refs: &[&Path]) {
    let mut cmd = Command::new("wimlib-imagex");
    cmd.arg("dir").arg(wim).arg(image.to_string());
    for r in refs {
        cmd.arg(format!("--ref={}", r.display()));
    }
    let theirs = ok(&mut cmd);
    let mut cmd = wimforge();
    cmd.args(["wim", "dir"]).arg(wim).arg(image.to_string());
    for r in refs {
        cmd.arg("--ref").arg(r);
    }
    let ours = ok(&mut cmd);
    assert_eq!(
        ours,
        theirs,
        "dir listing of {} image {image}",
        wim.display()
    );
}

fn compare_extract(wim: &Path, image: u32, refs: &[&Path]) {
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("wimlib");
    let ours = tmp.path().join("ours");
    let mut cmd = Command::new("wimlib-imagex");
    cmd.arg("apply")
        .arg(wim)
        .arg(image.to_string())
        .arg(&theirs);
    for r in refs {
        cmd.arg(format!("--ref={}", r.display()));
    }
    ok(&mut cmd);
    let mut cmd = wimforge();
    cmd.args(["wim", "extract", "--quiet"])
        .arg(wim)
        .arg(image.to_string())
        .arg(&ours);
    for r in refs {
        cmd.arg("--ref").arg(r);
    }
    ok(&mut cmd);
    assert_same_tree(&theirs, &ours);
}

#[test]
fn info_matches_wimlib_for_every_fixture() {
    if !have("wimlib-imagex") {
        return;
    }
    let Some(files) = readable_fixtures() else {
        return;
    };
    for f in &files {
        compare_info(f, &[]);
    }
}

#[test]
fn dir_and_extract_match_wimlib_for_every_fixture_image() {
    if !have("wimlib-imagex") {
        return;
    }
    let Some(files) = readable_fixtures() else {
        return;
    };
    for f in &files {
        let n = our_info(f, &[])["image_count"].as_u64().unwrap() as u32;
        for i in 1..=n {
            compare_dir(f, i, &[]);
            compare_extract(f, i, &[]);
        }
        // Verify passes on every good fixture.
        ok(wimforge().args(["wim", "verify", "--quiet"]).arg(f));
    }
}

#[test]
fn split_set_works_with_ref() {
    if !have("wimlib-imagex") {
        return;
    }
    let (Some(p1), Some(p2)) = (fixture("wim/Split.swm"), fixture("wim/Split2.swm")) else {
        return;
    };
    compare_info(&p1, &[&p2]);
    let n = our_info(&p1, &[&p2])["image_count"].as_u64().unwrap() as u32;
    for i in 1..=n {
        compare_dir(&p1, i, &[&p2]);
        compare_extract(&p1, i, &[&p2]);
    }
    ok(wimforge()
        .args(["wim", "verify"])
        .arg(&p1)
        .arg("--ref")
        .arg(&p2));
    // A glob works too.
    let glob = p1.parent().unwrap().join("Split*.swm");
    ok(wimforge()
        .args(["wim", "verify"])
        .arg(&p1)
        .arg("--ref")
        .arg(&glob));
    // Without the second part, the data is missing and we say so.
    let tmp = tempfile::tempdir().unwrap();
    let out = run(wimforge()
        .args(["wim", "extract"])
        .arg(&p1)
        .arg("1")
        .arg(tmp.path().join("x")));
    let err = String::from_utf8_lossy(&out.stderr);
    let verify = run(wimforge().args(["wim", "verify"]).arg(&p1));
    if n > 0 {
        assert!(!verify.status.success());
        assert!(
            String::from_utf8_lossy(&verify.stderr).contains("--ref"),
            "{}",
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    if !out.status.success() {
        assert!(err.contains("--ref"), "{err}");
    }
}

#[test]
fn integrity_failure_and_corrupt_data_are_reported() {
    let (Some(bad), Some(c1), Some(c2)) = (
        fixture("wim/VerifyFail.wim"),
        fixture("wim/wimlib-tests/corrupted_file_1.wim"),
        fixture("wim/wimlib-tests/corrupted_file_2.wim"),
    ) else {
        return;
    };
    let out = run(wimforge().args(["wim", "verify"]).arg(&bad));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("VerifyFail.wim") && err.contains("integrity table"),
        "{err}"
    );

    // A blob whose SHA-1 does not match: verify and extract both fail and
    // name the blob and its offset.
    for verb in ["verify", "extract"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = wimforge();
        cmd.args(["wim", verb]).arg(&c1);
        if verb == "extract" {
            cmd.arg("1").arg(tmp.path().join("out"));
        }
        let out = run(&mut cmd);
        assert!(
            !out.status.success(),
            "{verb} of corrupted_file_1 succeeded"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("SHA-1 mismatch") && err.contains("offset 0x"),
            "{verb}: {err}"
        );
        // Nothing half-written is left at the destination.
        assert!(
            !tmp.path().join("out").exists(),
            "partial extraction left behind"
        );
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

        let mut cmd = wimforge();
        cmd.args(["wim", verb]).arg(&c2);
        if verb == "extract" {
            cmd.arg("1").arg(tmp.path().join("out2"));
        }
        let out = run(&mut cmd);
        assert!(
            !out.status.success(),
            "{verb} of corrupted_file_2 succeeded"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("does not decompress")
                && err.contains("offset 0x")
                && err.contains("blob"),
            "{verb}: {err}"
        );
    }
}

#[test]
fn dotdot_never_writes_outside_dest() {
    let Some(w) = fixture("wim/wimlib-tests/dotdot.wim") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let deep = tmp.path().join("a/b/c/d");
    std::fs::create_dir_all(&deep).unwrap();
    let dest = deep.join("dest");
    let out = run(wimforge()
        .args(["wim", "extract"])
        .arg(&w)
        .arg("1")
        .arg(&dest));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every file under tmp is inside dest.
    let mut stack = vec![tmp.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            } else {
                assert!(
                    p.starts_with(&dest),
                    "wrote outside the destination: {}",
                    p.display()
                );
            }
        }
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains(".."));
    // The listing does not show the traversal entry either.
    let listing = ok(wimforge().args(["wim", "dir"]).arg(&w).arg("1"));
    assert!(!listing.contains(".."), "{listing}");
}

#[test]
fn cyclic_tree_is_rejected_not_looped_on() {
    let Some(w) = fixture("wim/wimlib-tests/cyclic.wim") else {
        return;
    };
    for verb in ["dir", "extract"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = wimforge();
        cmd.args(["wim", verb]).arg(&w).arg("1");
        if verb == "extract" {
            cmd.arg(tmp.path().join("out"));
        }
        let start = std::time::Instant::now();
        let out = run(&mut cmd);
        assert!(start.elapsed().as_secs() < 30);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cyclic") && err.contains("cyclic.wim"),
            "{err}"
        );
    }
}

#[test]
fn hostile_wimlib_test_wims_behave() {
    if !have("wimlib-imagex") {
        return;
    }
    // These are valid (or tolerated) images: we must agree with wimlib.
    for name in [
        "duplicate_names.wim",
        "longpaths.wim",
        "empty_dacl.wim",
        "linux_xattrs_old.wim",
    ] {
        let Some(w) = fixture(&format!("wim/wimlib-tests/{name}")) else {
            return;
        };
        compare_dir(&w, 1, &[]);
        compare_extract(&w, 1, &[]);
    }
}

#[test]
fn image_can_be_chosen_by_name_and_bad_choices_fail_clearly() {
    let Some(w) = fixture("wim/MultiImage.wim") else {
        return;
    };
    let by_index = ok(wimforge().args(["wim", "dir"]).arg(&w).arg("2"));
    let by_name = ok(wimforge().args(["wim", "dir"]).arg(&w).arg("Changes"));
    assert_eq!(by_index, by_name);
    for bad in ["0", "4", "NoSuchImage"] {
        let out = run(wimforge().args(["wim", "dir"]).arg(&w).arg(bad));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no image"));
    }
    // JSON listing carries per-entry metadata.
    let v: serde_json::Value = serde_json::from_str(&ok(wimforge()
        .args(["wim", "dir", "--json"])
        .arg(&w)
        .arg("1")))
    .unwrap();
    let entries = v.as_array().unwrap();
    assert_eq!(entries[0]["path"], "/");
    assert!(entries
        .iter()
        .all(|e| e["attributes"].is_u64() && e["last_write_time"].is_u64()));
}
