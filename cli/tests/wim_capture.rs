//! `wimforge wim capture|append`, checked with tools we did not write:
//! wimlib-imagex (info, info --check, dir, verify, apply) and 7-Zip, plus
//! our own extract and verify.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use support::{assert_same_tree, have, ok, run, set_mtime, set_tree_mtimes, wimforge};

/// Files, duplicates, hard links, empty files and directories, relative
/// and absolute symlinks, a symlink to a directory, odd names.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::create_dir(root.join("empty dir")).unwrap();
    fs::write(root.join("a.txt"), b"hello\n").unwrap();
    fs::write(root.join("dup.txt"), b"hello\n").unwrap();
    fs::hard_link(root.join("a.txt"), root.join("dir/a-link.txt")).unwrap();
    fs::hard_link(root.join("a.txt"), root.join("dir/sub/a-link2.txt")).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    fs::write(root.join("dir/sub/big.bin"), &big).unwrap();
    fs::write(root.join("ünïcødé 日本.txt"), b"unicode").unwrap();
    std::os::unix::fs::symlink("a.txt", root.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("dir/sub", root.join("dir-link")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("abs-link")).unwrap();
    // An absolute link into the tree: stored root-relative (rpfix) and
    // re-rooted at the destination on apply.
    let canon = fs::canonicalize(root).unwrap();
    std::os::unix::fs::symlink(canon.join("dir/sub/big.bin"), root.join("abs-inside")).unwrap();
    set_tree_mtimes(root, 1_650_000_000);
}

fn capture(src: &Path, wim: &Path, extra: &[&str]) {
    ok(wimforge()
        .args(["wim", "capture"])
        .arg(src)
        .arg(wim)
        .args(extra));
}

#[test]
fn wimlib_accepts_and_applies_our_wims() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src);
    let wim = t.path().join("ours.wim");
    capture(
        &src,
        &wim,
        &[
            "--name",
            "Test Image",
            "--description",
            "d",
            "--check",
            "--boot",
        ],
    );

    let info = ok(Command::new("wimlib-imagex").arg("info").arg(&wim));
    assert!(info.contains("Test Image"), "{info}");
    assert!(info.contains("Boot Index:     1"), "{info}");
    // info --check verifies the integrity table.
    let chk = run(Command::new("wimlib-imagex")
        .args(["info", "--check"])
        .arg(&wim));
    let chk_err = String::from_utf8_lossy(&chk.stderr);
    assert!(chk.status.success(), "{chk_err}");
    assert!(!chk_err.contains("does not contain integrity"), "{chk_err}");
    // wimlib really checks our table: a flipped byte inside it is caught.
    let mut bad = fs::read(&wim).unwrap();
    bad[210] ^= 0x55;
    let badp = t.path().join("bad.wim");
    fs::write(&badp, &bad).unwrap();
    let r = run(Command::new("wimlib-imagex")
        .args(["info", "--check"])
        .arg(&badp));
    assert!(
        !r.status.success(),
        "corrupted WIM passed the integrity check"
    );
    let out = ok(Command::new("wimlib-imagex").arg("verify").arg(&wim));
    assert!(out.to_lowercase().contains("verif"), "{out}");
    let dir = ok(Command::new("wimlib-imagex")
        .args(["dir"])
        .arg(&wim)
        .arg("1"));
    assert!(dir.contains("/dir/sub/a-link2.txt"), "{dir}");

    // wimlib reproduces the tree: bytes, hard links, symlinks (absolute
    // ones verbatim), mtimes.
    let applied = t.path().join("applied");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(&wim)
        .arg("1")
        .arg(&applied));
    assert_same_tree(&src, &applied);

    // So does our reader.
    ok(wimforge().args(["wim", "verify"]).arg(&wim));
    let ours = t.path().join("ours");
    ok(wimforge()
        .args(["wim", "extract"])
        .arg(&wim)
        .arg("1")
        .arg(&ours));
    fs::remove_file(src.join("abs-link")).unwrap();
    fs::remove_file(ours.join("abs-link")).unwrap();
    assert_same_tree(&src, &ours);
}

#[test]
fn seven_zip_tests_our_wims() {
    if !have("7zz") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src);
    let wim = t.path().join("ours.wim");
    capture(&src, &wim, &[]);
    let out = ok(Command::new("7zz").arg("t").arg(&wim));
    assert!(out.contains("Everything is Ok"), "{out}");
}

#[test]
fn append_adds_images_wimlib_can_apply() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src);
    let src2 = t.path().join("second");
    fs::create_dir(&src2).unwrap();
    fs::write(src2.join("a.txt"), b"hello\n").unwrap();
    fs::write(src2.join("other"), b"other").unwrap();
    set_mtime(&src2.join("a.txt"), 1_600_000_000);
    set_mtime(&src2.join("other"), 1_600_000_000);
    let wim = t.path().join("x.wim");
    capture(&src, &wim, &["--check"]);
    ok(wimforge()
        .args(["wim", "append"])
        .arg(&src2)
        .arg(&wim)
        .arg("--boot"));
    // The default name is the source directory's name; names stay unique.
    let again = run(wimforge().args(["wim", "append"]).arg(&src2).arg(&wim));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has an image named"));

    let info = ok(Command::new("wimlib-imagex")
        .args(["info", "--check"])
        .arg(&wim));
    assert!(info.contains("Image Count:    2"), "{info}");
    assert!(info.contains("Boot Index:     2"), "{info}");
    assert!(info.contains("second"), "{info}");
    ok(Command::new("wimlib-imagex").arg("verify").arg(&wim));
    let a2 = t.path().join("a2");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(&wim)
        .arg("2")
        .arg(&a2));
    assert_same_tree(&src2, &a2);
    let a1 = t.path().join("a1");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(&wim)
        .arg("1")
        .arg(&a1));
    assert_same_tree(&src, &a1);
}

#[test]
fn deterministic_captures_are_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src);
    let (a, b) = (t.path().join("a.wim"), t.path().join("b.wim"));
    capture(&src, &a, &["--deterministic", "--threads", "1", "--check"]);
    ok(wimforge()
        .args(["wim", "capture"])
        .arg(&src)
        .arg(&b)
        .args(["--threads", "2", "--check"])
        .env("SOURCE_DATE_EPOCH", "0"));
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap());
}

#[test]
fn unsupported_compression_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    // A format WIM has no codec for.
    let wim = t.path().join("zstd.wim");
    let out = run(wimforge()
        .args(["wim", "capture"])
        .arg(&src)
        .arg(&wim)
        .args(["--compress", "zstd"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--compress zstd: unknown format"), "{err}");
    assert!(!wim.exists());
    let out = run(wimforge()
        .args(["wim", "capture"])
        .arg(&src)
        .arg(t.path().join("x.wim"))
        .args(["--chunk-size", "1000"]));
    assert!(!out.status.success());
    // A source that is not a directory.
    let out = run(wimforge()
        .args(["wim", "capture"])
        .arg(t.path().join("nope"))
        .arg(t.path().join("y.wim")));
    assert!(!out.status.success());
    assert!(!t.path().join("y.wim").exists());
}

#[test]
fn xpress_wims_pass_wimlib_and_7zip() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src);
    let text: Vec<u8> = (0..30_000u32)
        .flat_map(|i| format!("row {} of {}\n", i % 500, i % 11).into_bytes())
        .collect();
    fs::write(src.join("dir/text.txt"), &text).unwrap();
    set_mtime(&src.join("dir/text.txt"), 1_650_000_000);
    set_mtime(&src.join("dir"), 1_650_000_000);
    let mut sizes = std::collections::HashMap::new();
    for (cs, codec) in [
        ("4096", "xpress"),
        ("32768", "xpress"),
        ("32768", "xpress:thorough"),
        ("65536", "xpress"),
    ] {
        let tag = format!("{cs}-{}", codec.replace(':', "-"));
        let wim = t.path().join(format!("x{tag}.wim"));
        capture(
            &src,
            &wim,
            &["--compress", codec, "--chunk-size", cs, "--check"],
        );
        sizes.insert(tag.clone(), fs::metadata(&wim).unwrap().len());
        let cs = tag.as_str();
        let info = ok(Command::new("wimlib-imagex")
            .args(["info", "--check"])
            .arg(&wim));
        assert!(info.contains("XPRESS"), "{info}");
        ok(Command::new("wimlib-imagex").arg("verify").arg(&wim));
        let applied = t.path().join(format!("applied{cs}"));
        ok(Command::new("wimlib-imagex")
            .arg("apply")
            .arg(&wim)
            .arg("1")
            .arg(&applied));
        assert_same_tree(&src, &applied);
        if have("7zz") {
            let out = ok(Command::new("7zz").arg("t").arg(&wim));
            assert!(out.contains("Everything is Ok"), "{out}");
        }
    }
    // The thorough level searches deeper: never larger than the default.
    assert!(
        sizes["32768-xpress-thorough"] <= sizes["32768-xpress"],
        "{sizes:?}"
    );
    let wim = t.path().join("too-big.wim");
    let out = run(wimforge()
        .args(["wim", "capture"])
        .arg(&src)
        .arg(&wim)
        .args(["--compress", "xpress", "--chunk-size", "131072"]));
    assert!(!out.status.success());
    assert!(!wim.exists());
}

#[test]
fn names_a_wim_cannot_hold_fail_cleanly_and_special_files_are_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    // A name that is not UTF-8: a clear error, and no WIM appears.
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), b"x").unwrap();
    let wim = t.path().join("x.wim");
    let out = run(wimforge().args(["wim", "capture"]).arg(&src).arg(&wim));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert!(!wim.exists());
    assert_eq!(
        fs::read_dir(t.path()).unwrap().count(),
        1,
        "no temporary file left"
    );

    // A FIFO is skipped with a warning; the rest is captured.
    let src2 = t.path().join("src2");
    fs::create_dir(&src2).unwrap();
    fs::write(src2.join("f"), b"data").unwrap();
    let fifo = std::ffi::CString::new(src2.join("pipe").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let out = run(wimforge().args(["wim", "capture"]).arg(&src2).arg(&wim));
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FIFO cannot be stored in a WIM; skipped"),
        "{err}"
    );
    let dir = ok(wimforge().args(["wim", "dir"]).arg(&wim).arg("1"));
    assert_eq!(dir.lines().collect::<Vec<_>>(), ["/", "/f"]);
}

#[test]
fn a_killed_append_leaves_the_wim_as_it_was() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src);
    let wim = t.path().join("x.wim");
    capture(&src, &wim, &["--compress", "xpress", "--check"]);
    let before = fs::read(&wim).unwrap();
    // Enough compressible data that the append runs for a while.
    let big = t.path().join("big");
    fs::create_dir(&big).unwrap();
    for i in 0..4 {
        let data: Vec<u8> = (0..2_000_000u32)
            .flat_map(|j| format!("{i} {} {}\n", j % 9973, j % 31).into_bytes())
            .take(8 << 20)
            .collect();
        fs::write(big.join(format!("f{i}")), data).unwrap();
    }
    let mut child = wimforge()
        .args(["-q", "wim", "append"])
        .arg(&big)
        .arg(&wim)
        .args(["--threads", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tmp_seen = || {
        fs::read_dir(t.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains("wimforge-tmp")
        })
    };
    let start = std::time::Instant::now();
    let mut killed = false;
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if tmp_seen() {
            std::thread::sleep(std::time::Duration::from_millis(50));
            killed = child.kill().is_ok();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = child.wait().unwrap();
    if killed && !status.success() {
        // SIGKILL mid-append: the WIM is untouched (the temporary file
        // beside it is all that remains).
        assert!(
            fs::read(&wim).unwrap() == before,
            "WIM changed by a killed append"
        );
    } else {
        eprintln!("note: the append finished before it could be killed");
        assert!(status.success());
    }
    ok(wimforge().args(["wim", "verify"]).arg(&wim));
    if have("wimlib-imagex") {
        ok(Command::new("wimlib-imagex")
            .args(["info", "--check"])
            .arg(&wim));
    }
}

/// `wimlib-imagex info WIM N`, from the image's "Index:" line on.
fn wimlib_image_info(wim: &Path, image: u32) -> String {
    let out = ok(Command::new("wimlib-imagex")
        .arg("info")
        .arg(wim)
        .arg(image.to_string()));
    out.lines()
        .skip_while(|l| !l.starts_with("Index:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn append_to_real_wims_of_every_format_keeps_them_valid() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src);
    // LZMS: no compressor yet, so the new data is stored uncompressed
    // (valid in any WIM; a warning says so). XPRESS and LZX WIMs get data
    // in their own format.
    for (name, images) in [
        ("LZX.wim", 1u32),
        ("XPRESS.wim", 1),
        ("LZMS.wim", 1),
        ("MultiImage.wim", 3),
        ("BootLZX.wim", 1),
        ("dissect-archive_basic4k.wim", 1),
    ] {
        let Some(fx) = support::fixture(&format!("wim/{name}")) else {
            return;
        };
        let wim = t.path().join(name);
        fs::copy(&fx, &wim).unwrap();
        let mut perm = fs::metadata(&wim).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        fs::set_permissions(&wim, perm).unwrap();
        let before: Vec<String> = (1..=images).map(|i| wimlib_image_info(&fx, i)).collect();
        let boot_before = ok(Command::new("wimlib-imagex").arg("info").arg(&fx))
            .lines()
            .find(|l| l.starts_with("Boot Index:"))
            .map(str::to_string);
        ok(wimforge()
            .args(["wim", "append"])
            .arg(&src)
            .arg(&wim)
            .args(["--name", "added"]));
        ok(Command::new("wimlib-imagex").arg("verify").arg(&wim));
        // Integrity tables (MultiImage) are rebuilt and still check.
        ok(Command::new("wimlib-imagex")
            .args(["info", "--check"])
            .arg(&wim));
        let info = ok(Command::new("wimlib-imagex").arg("info").arg(&wim));
        assert!(
            info.contains(&format!("Image Count:    {}", images + 1)),
            "{name}: {info}"
        );
        assert_eq!(
            info.lines()
                .find(|l| l.starts_with("Boot Index:"))
                .map(str::to_string),
            boot_before,
            "{name}"
        );
        // The existing images' XML (counts, times, WIMBOOT…) is kept.
        for i in 1..=images {
            assert_eq!(
                wimlib_image_info(&wim, i),
                before[i as usize - 1],
                "{name} image {i}"
            );
        }
        let applied = t.path().join(format!("{name}.applied"));
        ok(Command::new("wimlib-imagex")
            .arg("apply")
            .arg(&wim)
            .arg((images + 1).to_string())
            .arg(&applied));
        assert_same_tree(&src, &applied);
    }
}
