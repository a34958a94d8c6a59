//! `wimforge wim capture|append SRC WIM` where SRC is an NTFS volume (a raw
//! volume image, or a VHDX / raw disk with `--partition N`), checked with
//! wimlib (`wimlib-imagex dir --detailed`, `verify`, and its own NTFS-3G
//! capture as the reference). Debian package: wimtools.

mod support;

use std::path::Path;
use std::process::Command;
use support::*;

fn assert_same_listing(what: &str, a: &[String], b: &[String]) {
    if a != b {
        let first = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let lo = first.saturating_sub(8);
        panic!(
            "{what}: listings differ ({} vs {} lines) from line {first}:\nexpected:\n{}\ngot:\n{}",
            a.len(),
            b.len(),
            a[lo..(first + 4).min(a.len())].join("\n"),
            b[lo..(first + 4).min(b.len())].join("\n"),
        );
    }
}

fn verify(wim: &Path) {
    let v = ok(Command::new("wimlib-imagex").arg("verify").arg(wim));
    assert!(v.contains("OK") || v.contains("verified"), "{v}");
}

/// Apply `image` of `wim` into a fresh volume with our apply, capture it
/// with our capture, and compare the two detailed listings.
fn round_trip(wim: &Path, image: &str, compress: &str) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("vol.img");
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(wim)
        .arg(image)
        .arg(&img)
        .args(["--size", "64M"]));
    let ours = dir.path().join("ours.wim");
    ok(wimforge()
        .args(["wim", "capture"])
        .arg(&img)
        .arg(&ours)
        .args(["--compress", compress]));
    verify(&ours);
    let a = wimlib_detailed(wim, image);
    let mut b = wimlib_detailed(&ours, "1");
    if !a.iter().any(|l| l.starts_with("Security Descriptor")) {
        // Normalisation: a source without descriptors (a Linux capture)
        // gets the apply's default descriptors on the volume, which the
        // capture then carries; only their presence differs.
        b.retain(|l| !l.starts_with("Security Descriptor"));
    }
    assert_same_listing(&format!("{} image {image}", wim.display()), &a, &b);
}

#[test]
fn capture_of_applied_fixtures_lists_like_the_source_wims() {
    if !have("wimlib-imagex") {
        return;
    }
    for (name, compress) in [
        ("LZX.wim", "lzx"),
        ("XPRESS.wim", "xpress"),
        ("LZMS.wim", "none"),
        ("BootLZX.wim", "lzx"),
        ("dissect-archive_basic4k.wim", "xpress"),
        ("dissect-archive_basic16k.wim", "none"),
        ("wimlib-tests/empty_dacl.wim", "lzx"),
        ("wimlib-tests/longpaths.wim", "xpress"),
    ] {
        let Some(w) = fixture(&format!("wim/{name}")) else {
            continue;
        };
        eprintln!("round trip of {name}");
        round_trip(&w, "1", compress);
    }
    if let Some(w) = fixture("wim/MultiImage.wim") {
        for i in ["1", "2", "3"] {
            round_trip(&w, i, "lzx");
        }
    }
}

/// Hard links, symlinks (reparse points), an extended attribute, an empty
/// and a large file from a tree we make, through wimlib's directory
/// capture, our NTFS apply and our NTFS capture; then `append` of the same
/// volume deduplicates every blob, and wimlib extracts our WIM with the
/// bytes, link targets and the extended attribute.
#[test]
fn links_reparse_points_eas_and_append_survive_the_round_trip() {
    if !have("wimlib-imagex") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("a.txt"), b"hello").unwrap();
    std::fs::hard_link(src.join("a.txt"), src.join("d/link.txt")).unwrap();
    std::fs::write(src.join("d/e/empty"), b"").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.join("d/big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("../a.txt", src.join("d/rel")).unwrap();
    std::os::unix::fs::symlink("/abs/target", src.join("abs")).unwrap();
    let path = std::ffi::CString::new(src.join("a.txt").to_str().unwrap()).unwrap();
    let value = b"value123";
    // SAFETY: NUL-terminated path and name; value pointer and length match.
    let xattr_ok = unsafe {
        libc::setxattr(
            path.as_ptr(),
            c"user.test".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    } == 0;
    if !xattr_ok {
        eprintln!("note: this file system has no user xattrs; EA part not checked");
    }
    let wim = dir.path().join("src.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&src)
        .arg(&wim)
        .arg("--compress=none")
        .arg("--unix-data"));
    let img = dir.path().join("vol.img");
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(&wim)
        .arg("1")
        .arg(&img)
        .args(["--size", "32M"]));
    let ours = dir.path().join("ours.wim");
    ok(wimforge()
        .args(["wim", "capture"])
        .arg(&img)
        .arg(&ours)
        .args(["--compress", "lzx", "--name", "vol"]));
    let mut a = wimlib_detailed(&wim, "1");
    a.retain(|l| !l.starts_with("Security Descriptor"));
    let mut b = wimlib_detailed(&ours, "1");
    b.retain(|l| !l.starts_with("Security Descriptor"));
    assert_same_listing("generated tree", &a, &b);
    let listing = ok(Command::new("wimlib-imagex")
        .args(["dir", "--detailed"])
        .arg(&ours)
        .arg("1"));
    assert!(listing.contains("Link Count          = 2"), "{listing}");
    // Append the volume again: every blob is already stored.
    let before = std::fs::metadata(&ours).unwrap().len();
    let out = run(wimforge()
        .args(["wim", "append"])
        .arg(&img)
        .arg(&ours)
        .args(["--name", "again"]));
    assert!(out.status.success(), "{out:?}");
    let after = std::fs::metadata(&ours).unwrap().len();
    assert!(
        after - before < 64 << 10,
        "append stored data again: {before} -> {after}"
    );
    verify(&ours);
    assert_same_listing("appended image", &b, &{
        let mut v = wimlib_detailed(&ours, "2");
        v.retain(|l| !l.starts_with("Security Descriptor"));
        v
    });
    // Bytes, link targets and the EA: wimlib extracts them from our WIM.
    let x = dir.path().join("x");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(&ours)
        .arg("2")
        .arg(&x)
        .arg("--unix-data"));
    assert!(std::fs::read(x.join("d/big.bin")).unwrap() == big);
    assert_eq!(std::fs::read(x.join("d/link.txt")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read_link(x.join("d/rel")).unwrap(),
        Path::new("../a.txt")
    );
    assert_eq!(
        std::fs::read_link(x.join("abs")).unwrap(),
        Path::new("/abs/target")
    );
    if xattr_ok {
        let p = std::ffi::CString::new(x.join("a.txt").to_str().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        // SAFETY: NUL-terminated path and name; buffer pointer and length match.
        let n = unsafe {
            libc::getxattr(
                p.as_ptr(),
                c"user.test".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(n, value.len() as isize, "EA lost in the round trip");
        assert_eq!(&buf[..value.len()], value);
    }
}

/// A volume inside partition 1 of a VHDX made by `wimforge disk create`.
#[test]
fn capture_from_a_vhdx_partition() {
    if !have("wimlib-imagex") {
        return;
    }
    let Some(w) = fixture("wim/LZX.wim") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vhdx = dir.path().join("disk.vhdx");
    ok(wimforge()
        .args(["disk", "create", "--size", "64M", "--layout", "bios"])
        .arg(&vhdx));
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(&w)
        .arg("1")
        .arg(&vhdx)
        .args(["--partition", "1"]));
    let ours = dir.path().join("ours.wim");
    // Without --partition the disk is not a volume: a clear error and no
    // WIM left behind.
    let out = run(wimforge().args(["wim", "capture"]).arg(&vhdx).arg(&ours));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--partition"), "{err}");
    assert!(!ours.exists());
    ok(wimforge()
        .args(["wim", "capture"])
        .arg(&vhdx)
        .arg(&ours)
        .args(["--partition", "1", "--compress", "xpress"]));
    verify(&ours);
    assert_same_listing(
        "VHDX partition",
        &wimlib_detailed(&w, "1"),
        &wimlib_detailed(&ours, "1"),
    );
}
/// A volume Windows made (compressed files, object ids, a large index,
/// `$RECYCLE.BIN`): our capture lists exactly like wimlib's NTFS-3G
/// capture of the same image.
#[test]
fn windows_volume_lists_like_wimlib_ntfs3g_capture() {
    if !have("wimlib-imagex") {
        return;
    }
    let Some(gz) = fixture("ntfs/dissect-ntfs_ntfs.bin.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("vol.img");
    let raw = ok_bytes(Command::new("gzip").arg("-dc").arg(&gz));
    std::fs::write(&img, raw).unwrap();
    let theirs = dir.path().join("theirs.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&img)
        .arg(&theirs));
    let ours = dir.path().join("ours.wim");
    ok(wimforge()
        .args(["wim", "capture"])
        .arg(&img)
        .arg(&ours)
        .args(["--compress", "lzx"]));
    verify(&ours);
    assert_same_listing(
        "dissect-ntfs_ntfs.bin",
        &wimlib_detailed(&theirs, "1"),
        &wimlib_detailed(&ours, "1"),
    );
}

fn ok_bytes(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed");
    out.stdout
}

/// Damaged volumes: bytes of the MFT, the indexes and the data overwritten
/// at many places. The capture either succeeds or fails with an error;
/// it never panics and never leaves a WIM behind when it fails.
#[test]
fn damaged_volumes_fail_cleanly() {
    let Some(w) = fixture("wim/dissect-archive_basic4k.wim") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("vol.img");
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(&w)
        .arg("1")
        .arg(&img)
        .args(["--size", "16M"]));
    let good = std::fs::read(&img).unwrap();
    // Where the MFT lies: boot sector fields (cluster size, $MFT LCN).
    let cluster = u16::from_le_bytes([good[11], good[12]]) as usize * good[13] as usize;
    let mft = u64::from_le_bytes(good[0x30..0x38].try_into().unwrap()) as usize * cluster;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut failures = 0;
    for round in 0..40 {
        let mut bad = good.clone();
        for _ in 0..8 {
            // Mostly inside the first 96 MFT records, sometimes anywhere.
            let off = if round % 4 == 3 {
                next() as usize % bad.len()
            } else {
                mft + next() as usize % (96 * 1024)
            };
            bad[off] = next() as u8;
        }
        let vol = dir.path().join("bad.img");
        std::fs::write(&vol, &bad).unwrap();
        let out_wim = dir.path().join("bad.wim");
        let _ = std::fs::remove_file(&out_wim);
        let out = run(wimforge().args(["wim", "capture"]).arg(&vol).arg(&out_wim));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && out.status.code().is_some(),
            "round {round}: {err}"
        );
        if !out.status.success() {
            failures += 1;
            assert!(!out_wim.exists(), "round {round}: WIM left after {err}");
            assert!(err.contains("wimforge"), "round {round}: {err}");
        }
    }
    eprintln!("{failures} of 40 damaged volumes were refused");
    // No temporary files left either.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "bad.wim")
        .collect();
    names.sort();
    assert_eq!(names, ["bad.img", "vol.img"]);
}
