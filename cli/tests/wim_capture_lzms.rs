//! `wimforge wim capture|append --compress lzms [--solid]`, checked with
//! tools we did not write: `wimlib-imagex` (info, verify, apply) and
//! `7zz t`, at LZMS chunk sizes from 32 KiB to 2 MiB, both levels, solid
//! resources (version 0xE00, one solid resource per image) and an append
//! of a second solid image; plus our own reader, and byte-identical
//! output whatever the thread count.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use support::{
    assert_same_tree, capture_ok, have, make_codec_tree, ok, set_tree_mtimes, wimforge, x86ish,
};

/// wimlib-imagex verify and apply of `image` (and 7-Zip's test when
/// present) accept `wim`, and the applied tree equals `src`; so does our
/// own extract.
fn check_with_outside_tools(wim: &Path, image: &str, src: &Path, work: &Path, tag: &str) {
    let info = ok(Command::new("wimlib-imagex").arg("info").arg(wim));
    assert!(info.contains("Compression:    LZMS"), "{tag}: {info}");
    assert!(info.contains("Version:        3584"), "{tag}: {info}");
    ok(Command::new("wimlib-imagex").arg("verify").arg(wim));
    let applied = work.join(format!("applied-{tag}"));
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(wim)
        .arg(image)
        .arg(&applied));
    assert_same_tree(src, &applied);
    fs::remove_dir_all(&applied).unwrap();
    if have("7zz") {
        let out = ok(Command::new("7zz").arg("t").arg(wim));
        assert!(out.contains("Everything is Ok"), "{tag}: {out}");
    }
    ok(wimforge().args(["wim", "verify"]).arg(wim));
    let ours = work.join(format!("ours-{tag}"));
    ok(wimforge()
        .args(["wim", "extract"])
        .arg(wim)
        .arg(image)
        .arg(&ours));
    assert_same_tree(src, &ours);
    fs::remove_dir_all(&ours).unwrap();
}

fn data_total(src: &Path) -> u64 {
    ["text.txt", "bin/code.dll", "random.bin", "zeros"]
        .iter()
        .map(|f| fs::metadata(src.join(f)).unwrap().len())
        .sum()
}

#[test]
fn lzms_wims_at_several_chunk_sizes_pass_wimlib_and_7zip() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let total = data_total(&src);
    for order in [15, 17, 21] {
        let cs = (1u32 << order).to_string();
        let wim = t.path().join(format!("lzms{cs}.wim"));
        let err = capture_ok(&src, &wim, &["--compress", "lzms", "--chunk-size", &cs]);
        assert_eq!(order != 15, err.contains("not the default"), "{err}");
        let info = ok(Command::new("wimlib-imagex").arg("info").arg(&wim));
        assert!(
            info.contains(&format!("Chunk Size:     {cs} bytes")),
            "{info}"
        );
        let size = fs::metadata(&wim).unwrap().len();
        assert!(size < total / 3, "chunk {cs}: {size} of {total}");
        check_with_outside_tools(&wim, "1", &src, t.path(), &cs);
        fs::remove_file(&wim).unwrap();
    }
}

#[test]
fn both_levels_pass_wimlib() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    for level in ["lzms:fast", "lzms:thorough"] {
        let tag = level.replace(':', "-");
        let wim = t.path().join(format!("{tag}.wim"));
        capture_ok(&src, &wim, &["--compress", level]);
        check_with_outside_tools(&wim, "1", &src, t.path(), &tag);
    }
}

#[test]
fn solid_wims_pass_wimlib_and_7zip_and_append_adds_a_solid_image() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let total = data_total(&src);
    let wim = t.path().join("solid.wim");
    capture_ok(&src, &wim, &["--solid", "--name", "one"]);
    let info = ok(Command::new("wimlib-imagex").arg("info").arg(&wim));
    let size = fs::metadata(&wim).unwrap().len();
    assert!(size < total / 3, "{size} of {total}\n{info}");
    check_with_outside_tools(&wim, "1", &src, t.path(), "solid");
    // Our reader sees solid resources.
    let json = ok(wimforge().args(["wim", "info", "--json"]).arg(&wim));
    assert!(
        json.contains("\"solid\": true") || json.contains("\"solid\":true"),
        "{json}"
    );

    // A second, different tree appended as another solid image: its new
    // data goes to a second solid resource, shared data is deduplicated.
    let src2 = t.path().join("src2");
    fs::create_dir_all(&src2).unwrap();
    fs::write(src2.join("new.dll"), x86ish(700_000, 9)).unwrap();
    fs::copy(src.join("text.txt"), src2.join("same-text.txt")).unwrap();
    set_tree_mtimes(&src2, 1_650_000_000);
    ok(wimforge()
        .args(["wim", "append"])
        .arg(&src2)
        .arg(&wim)
        .args(["--solid", "--name", "two"]));
    check_with_outside_tools(&wim, "2", &src2, t.path(), "solid-2");
    check_with_outside_tools(&wim, "1", &src, t.path(), "solid-1");

    // lzms:thorough with --solid.
    let wim3 = t.path().join("solid-thorough.wim");
    capture_ok(&src, &wim3, &["--solid", "--compress", "lzms:thorough"]);
    check_with_outside_tools(&wim3, "1", &src, t.path(), "solid-thorough");
}

#[test]
fn deterministic_lzms_captures_are_identical_across_thread_counts() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    for extra in [&["--compress", "lzms"][..], &["--solid"][..]] {
        let (a, b) = (t.path().join("a.wim"), t.path().join("b.wim"));
        let mut args = extra.to_vec();
        args.extend(["--deterministic", "--threads", "1"]);
        capture_ok(&src, &a, &args);
        args.pop();
        args.push("2");
        capture_ok(&src, &b, &args);
        assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap(), "{extra:?}");
    }
}
