//! `wimforge wim capture|append --compress lzx`, checked with tools we did
//! not write: `wimlib-imagex` (info, verify, apply) and `7zz t`, at every
//! LZX chunk size wimlib accepts (32 KiB to 2 MiB) and every level, plus
//! our own reader; and byte-identical output whatever the thread count.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use support::{
    assert_same_tree, capture_ok, have, make_codec_tree, ok, run, set_mtime, wimforge, x86ish,
};

/// wimlib-imagex verify and apply (and 7-Zip's test when present) accept
/// `wim`, and the applied tree equals `src`; so does our own extract.
fn check_with_outside_tools(wim: &Path, src: &Path, work: &Path, tag: &str) {
    let info = ok(Command::new("wimlib-imagex").arg("info").arg(wim));
    assert!(info.contains("Compression:    LZX"), "{tag}: {info}");
    ok(Command::new("wimlib-imagex").arg("verify").arg(wim));
    let applied = work.join(format!("applied-{tag}"));
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(wim)
        .arg("1")
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
        .arg("1")
        .arg(&ours));
    assert_same_tree(src, &ours);
    fs::remove_dir_all(&ours).unwrap();
}

#[test]
fn lzx_wims_at_every_chunk_size_pass_wimlib_and_7zip() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let total: u64 = ["text.txt", "bin/code.dll", "random.bin", "zeros"]
        .iter()
        .map(|f| fs::metadata(src.join(f)).unwrap().len())
        .sum();
    for order in 15..=21 {
        let cs = (1u32 << order).to_string();
        let wim = t.path().join(format!("lzx{cs}.wim"));
        let err = capture_ok(
            &src,
            &wim,
            &["--compress", "lzx", "--chunk-size", &cs, "--check"],
        );
        // The warning about non-default chunk sizes.
        assert_eq!(order != 15, err.contains("not the default"), "{err}");
        let info = ok(Command::new("wimlib-imagex")
            .args(["info", "--check"])
            .arg(&wim));
        assert!(
            info.contains(&format!("Chunk Size:     {cs} bytes")),
            "{info}"
        );
        // Really compressed: well under the data size.
        let size = fs::metadata(&wim).unwrap().len();
        assert!(size < total / 3, "chunk {cs}: {size} of {total}");
        check_with_outside_tools(&wim, &src, t.path(), &cs);
        fs::remove_file(&wim).unwrap();
    }
}

#[test]
fn every_level_passes_wimlib() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let mut sizes = vec![];
    for level in ["lzx:fast", "lzx", "lzx:thorough"] {
        let wim = t.path().join(format!("{level}.wim").replace(':', "-"));
        capture_ok(&src, &wim, &["--compress", level]);
        sizes.push(fs::metadata(&wim).unwrap().len());
        check_with_outside_tools(&wim, &src, t.path(), &level.replace(':', "-"));
    }
    assert!(sizes[1] <= sizes[0], "{sizes:?}");
}

#[test]
fn deterministic_lzx_captures_are_identical_across_thread_counts() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let (a, b) = (t.path().join("a.wim"), t.path().join("b.wim"));
    capture_ok(
        &src,
        &a,
        &["--compress", "lzx", "--deterministic", "--threads", "1"],
    );
    capture_ok(
        &src,
        &b,
        &["--compress", "lzx", "--deterministic", "--threads", "2"],
    );
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap());
    // Also with large chunks (several blocks per chunk).
    capture_ok(
        &src,
        &a,
        &[
            "--compress",
            "lzx",
            "--chunk-size",
            "2097152",
            "--deterministic",
            "--threads",
            "1",
        ],
    );
    capture_ok(
        &src,
        &b,
        &[
            "--compress",
            "lzx",
            "--chunk-size",
            "2097152",
            "--deterministic",
            "--threads",
            "2",
        ],
    );
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap());
}

#[test]
fn append_to_an_lzx_wim_compresses_the_new_image_with_lzx() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let src2 = t.path().join("second");
    fs::create_dir(&src2).unwrap();
    fs::write(src2.join("more.dll"), x86ish(700_000, 9)).unwrap();
    set_mtime(&src2.join("more.dll"), 1_600_000_000);
    set_mtime(&src2, 1_600_000_000);
    for cs in ["32768", "1048576"] {
        let wim = t.path().join(format!("x{cs}.wim"));
        capture_ok(&src, &wim, &["--compress", "lzx", "--chunk-size", cs]);
        let before = fs::metadata(&wim).unwrap().len();
        let out = run(wimforge().args(["wim", "append"]).arg(&src2).arg(&wim));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("stored uncompressed"), "{err}");
        // The new file shrank (stored raw it would add 700,000 bytes).
        let added = fs::metadata(&wim).unwrap().len() - before;
        assert!(added < 500_000, "{cs}: {added}");
        ok(Command::new("wimlib-imagex").arg("verify").arg(&wim));
        let a2 = t.path().join(format!("a2-{cs}"));
        ok(Command::new("wimlib-imagex")
            .arg("apply")
            .arg(&wim)
            .arg("2")
            .arg(&a2));
        assert_same_tree(&src2, &a2);
        let a1 = t.path().join(format!("a1-{cs}"));
        ok(Command::new("wimlib-imagex")
            .arg("apply")
            .arg(&wim)
            .arg("1")
            .arg(&a1));
        assert_same_tree(&src, &a1);
    }
}

#[test]
fn lzx_chunk_sizes_outside_32k_to_2m_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), b"data").unwrap();
    for cs in ["4096", "16384", "4194304"] {
        let wim = t.path().join(format!("{cs}.wim"));
        let out = run(wimforge()
            .args(["wim", "capture"])
            .arg(&src)
            .arg(&wim)
            .args(["--compress", "lzx", "--chunk-size", cs]));
        assert!(!out.status.success(), "{cs}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not valid for lzx"), "{cs}: {err}");
        assert!(!wim.exists());
    }
    let out = run(wimforge()
        .args(["wim", "capture"])
        .arg(&src)
        .arg(t.path().join("y.wim"))
        .args(["--compress", "lzx:best"]));
    assert!(!out.status.success());
}
