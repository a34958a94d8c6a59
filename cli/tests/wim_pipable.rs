//! Pipable WIMs (wimlib's `WLPWM` variant): wimlib-made ones in every
//! codec read by our info/dir/verify/extract/apply exactly as wimlib reads
//! them; ours (`capture --pipable`) accepted by `wimlib-imagex verify` and
//! applied by `wimlib-imagex apply -` from a real pipe; deterministic
//! captures byte-identical; `wimforge wim extract -` reading ours and
//! wimlib's from a real pipe; solid + pipable refused as wimlib refuses it;
//! corrupted pipable WIMs give typed errors naming the structure and
//! offset, never a panic.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use support::{assert_same_tree, capture_ok, have, make_codec_tree, ok, run, wimforge};

const CODECS: [&str; 4] = ["none", "xpress", "lzx", "lzms"];
const PWM_BLOB_MAGIC: [u8; 8] = 0x2b9b_9ba2_443d_b9d8u64.to_le_bytes();

/// `wimlib-imagex capture --pipable` of `src`; `check` adds an integrity
/// table.
fn wimlib_capture(src: &Path, wim: &Path, codec: &str, check: bool) {
    let mut c = Command::new("wimlib-imagex");
    c.arg("capture")
        .arg(src)
        .arg(wim)
        .arg("--pipable")
        .arg(format!("--compress={codec}"));
    if check {
        c.arg("--check");
    }
    ok(&mut c);
}

/// Apply image 1 with wimlib reading the WIM from a pipe (`cat | apply -`).
fn wimlib_apply_from_pipe(wim: &Path, dest: &Path) {
    ok(Command::new("sh")
        .arg("-c")
        .arg("cat \"$1\" | wimlib-imagex apply - 1 \"$2\"")
        .arg("sh")
        .arg(wim)
        .arg(dest));
}

fn info_line(info: &str, key: &str) -> String {
    info.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key:?} in {info}"))
        .to_string()
}

#[test]
fn wimlib_pipable_wims_read_like_wimlib_reads_them() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    for (k, codec) in CODECS.iter().enumerate() {
        let wim = t.path().join(format!("wl-{codec}.wim"));
        wimlib_capture(&src, &wim, codec, k == 2);
        assert_eq!(&fs::read(&wim).unwrap()[..5], b"WLPWM");
        let theirs = ok(Command::new("wimlib-imagex").arg("info").arg(&wim));
        let ours = ok(wimforge().args(["wim", "info"]).arg(&wim));
        assert!(ours.contains("Pipable:        yes"), "{codec}: {ours}");
        for key in [
            "GUID:",
            "Image Count:",
            "Compression:",
            "Chunk Size:",
            "Boot Index:",
        ] {
            // (wimlib prints "None", we print "NONE".)
            assert_eq!(
                info_line(&ours, key).to_lowercase(),
                info_line(&theirs, key).to_lowercase(),
                "{codec}: {key}"
            );
        }
        let their_dir = ok(Command::new("wimlib-imagex").arg("dir").arg(&wim).arg("1"));
        let our_dir = ok(wimforge().args(["wim", "dir"]).arg(&wim).arg("1"));
        assert_eq!(our_dir, their_dir, "{codec}: dir listings differ");
        let v = ok(wimforge().args(["wim", "verify"]).arg(&wim));
        assert!(
            v.contains(&format!("integrity tables: {}", usize::from(k == 2))),
            "{codec}: {v}"
        );
        let applied = t.path().join(format!("wl-applied-{codec}"));
        ok(Command::new("wimlib-imagex")
            .arg("apply")
            .arg(&wim)
            .arg("1")
            .arg(&applied));
        for verb in ["extract", "apply"] {
            let out = t.path().join(format!("ours-{verb}-{codec}"));
            if verb == "apply" {
                // `wim apply` extracts into an existing directory.
                fs::create_dir(&out).unwrap();
            }
            ok(wimforge().args(["wim", verb]).arg(&wim).arg("1").arg(&out));
            assert_same_tree(&src, &out);
            assert_same_tree(&applied, &out);
            fs::remove_dir_all(&out).unwrap();
        }
        fs::remove_dir_all(&applied).unwrap();
        fs::remove_file(&wim).unwrap();
    }
}

#[test]
fn our_pipable_captures_pass_wimlib_verify_and_apply_from_a_pipe() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    for (k, codec) in CODECS.iter().enumerate() {
        let wim = t.path().join(format!("ours-{codec}.wim"));
        let mut args = vec!["--compress", codec, "--pipable"];
        if k == 1 {
            args.push("--check");
        }
        capture_ok(&src, &wim, &args);
        let bytes = fs::read(&wim).unwrap();
        assert_eq!(&bytes[..8], b"WLPWM\0\0\0", "{codec}");
        assert_eq!(&bytes[bytes.len() - 208..][..8], b"WLPWM\0\0\0", "{codec}");
        let info = ok(Command::new("wimlib-imagex").arg("info").arg(&wim));
        assert!(
            info_line(&info, "Attributes:").contains("Pipable"),
            "{codec}: {info}"
        );
        let mut verify = Command::new("wimlib-imagex");
        verify.arg("verify").arg(&wim);
        let v = run(&mut verify);
        let err = String::from_utf8_lossy(&v.stderr);
        assert!(v.status.success(), "{codec}: wimlib verify: {err}");
        assert_eq!(
            err.contains("does not contain integrity information"),
            k != 1,
            "{codec}: {err}"
        );
        let piped = t.path().join(format!("piped-{codec}"));
        wimlib_apply_from_pipe(&wim, &piped);
        assert_same_tree(&src, &piped);
        fs::remove_dir_all(&piped).unwrap();
        let applied = t.path().join(format!("applied-{codec}"));
        ok(Command::new("wimlib-imagex")
            .arg("apply")
            .arg(&wim)
            .arg("1")
            .arg(&applied));
        assert_same_tree(&src, &applied);
        fs::remove_dir_all(&applied).unwrap();
        ok(wimforge().args(["wim", "verify"]).arg(&wim));
        fs::remove_file(&wim).unwrap();
    }
}

#[test]
fn deterministic_pipable_captures_are_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let a = t.path().join("a.wim");
    let b = t.path().join("b.wim");
    for (w, threads) in [(&a, "1"), (&b, "3")] {
        capture_ok(
            &src,
            w,
            &[
                "--compress",
                "lzx",
                "--pipable",
                "--deterministic",
                "--threads",
                threads,
            ],
        );
    }
    let (x, y) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(&x[..5], b"WLPWM");
    assert!(x == y, "deterministic pipable captures differ");
    // The same tree without --pipable is a different (ordinary) file.
    let c = t.path().join("c.wim");
    capture_ok(&src, &c, &["--compress", "lzx", "--deterministic"]);
    assert_eq!(&fs::read(&c).unwrap()[..5], b"MSWIM");
}

#[test]
fn solid_pipable_and_appending_to_pipable_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), b"data").unwrap();
    let wim = t.path().join("s.wim");
    let out = run(wimforge()
        .args(["wim", "capture"])
        .arg(&src)
        .arg(&wim)
        .args(["--pipable", "--solid"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--pipable") && err.contains("--solid"));
    assert!(!wim.exists());
    if have("wimlib-imagex") {
        // wimlib refuses the combination as well.
        let r = run(Command::new("wimlib-imagex")
            .arg("capture")
            .arg(&src)
            .arg(&wim)
            .args(["--pipable", "--solid"]));
        assert!(!r.status.success());
        assert!(String::from_utf8_lossy(&r.stderr).contains("pipable"));
    }
    capture_ok(&src, &wim, &["--pipable"]);
    let before = fs::read(&wim).unwrap();
    let out = run(wimforge()
        .args(["wim", "append"])
        .arg(&src)
        .arg(&wim)
        .args(["--name", "second"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("pipable"), "{err}");
    assert_eq!(
        fs::read(&wim).unwrap(),
        before,
        "a refused append changed the WIM"
    );
}

/// Offsets of every blob header in `b` (after the WIM header).
fn blob_headers(b: &[u8]) -> Vec<usize> {
    (208..b.len().saturating_sub(8))
        .filter(|&i| b[i..i + 8] == PWM_BLOB_MAGIC)
        .collect()
}

/// `wimforge wim VERB WIM [1 DEST]` must fail cleanly (exit 1, no panic);
/// returns stderr.
fn fails(verb: &str, wim: &Path, dest: &Path) -> String {
    let mut c = wimforge();
    c.args(["wim", verb]).arg(wim);
    if verb == "extract" {
        c.arg("1").arg(dest);
    }
    let out = run(&mut c);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{verb}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn corrupted_pipable_wims_give_typed_errors() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let wim = t.path().join("p.wim");
    capture_ok(&src, &wim, &["--compress", "lzx", "--pipable"]);
    let good = fs::read(&wim).unwrap();
    let bad = t.path().join("bad.wim");
    let dest = t.path().join("out");
    // The first compressed file blob (flags COMPRESSED, not METADATA).
    let hdrs = blob_headers(&good);
    let blob = *hdrs
        .iter()
        .find(|&&h| u32::from_le_bytes(good[h + 36..h + 40].try_into().unwrap()) == 4)
        .expect("a compressed file blob");

    // A byte of compressed data: decompression or SHA-1 fails, naming the
    // chunk or blob and its offset.
    let mut b = good.clone();
    b[blob + 40 + 4 + 100] ^= 0x55;
    fs::write(&bad, &b).unwrap();
    let err = fails("verify", &bad, &dest);
    assert!(err.contains("at offset 0x"), "{err}");
    assert!(err.contains("chunk") || err.contains("blob"), "{err}");

    // A chunk header that disagrees with the chunk table.
    let mut b = good.clone();
    b[blob + 40] ^= 0x01;
    fs::write(&bad, &b).unwrap();
    let err = fails("verify", &bad, &dest);
    assert!(
        err.contains(&format!("pipable chunk header at offset {:#x}", blob + 40)),
        "{err}"
    );

    // A blob header's magic.
    let mut b = good.clone();
    b[blob] ^= 0xff;
    fs::write(&bad, &b).unwrap();
    let err = fails("info", &bad, &dest);
    assert!(
        err.contains(&format!("pipable blob header at offset {blob:#x}")),
        "{err}"
    );

    // Truncations anywhere: the trailing header is gone.
    for len in [good.len() - 1, good.len() - 208, good.len() / 2, 300, 209] {
        fs::write(&bad, &good[..len]).unwrap();
        let err = fails("info", &bad, &dest);
        assert!(err.contains("pipable WIM trailing header"), "{len}: {err}");
        fails("extract", &bad, &dest);
    }
    fs::write(&bad, &good[..100]).unwrap();
    fails("info", &bad, &dest);
    assert!(!dest.exists() || fs::read_dir(&dest).unwrap().next().is_none());
}

/// `wimforge wim extract - 1 DEST` with `sh -c` feeding stdin through a
/// real pipe from `producer`.
fn extract_from_pipe(producer: &str, dest: &Path) -> std::process::Output {
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("{producer} | \"$1\" wim extract - 1 \"$2\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_wimforge"))
        .arg(dest))
}

#[test]
fn extract_reads_a_pipable_wim_from_a_pipe() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_codec_tree(&src);
    let wim = t.path().join("ours.wim");
    capture_ok(&src, &wim, &["--compress", "xpress", "--pipable"]);
    let dest = t.path().join("from-pipe");
    let out = extract_from_pipe(&format!("cat '{}'", wim.display()), &dest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_tree(&src, &dest);
    fs::remove_dir_all(&dest).unwrap();
    if have("wimlib-imagex") {
        // wimlib writing a pipable WIM to its stdout, straight into us.
        let producer = format!(
            "wimlib-imagex capture '{}' - --pipable --compress=lzms 2>/dev/null",
            src.display()
        );
        let out = extract_from_pipe(&producer, &dest);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same_tree(&src, &dest);
        fs::remove_dir_all(&dest).unwrap();
    }
    // An ordinary WIM, or a cut pipable one, is refused cleanly and leaves
    // no spool file behind.
    let plain = t.path().join("plain.wim");
    capture_ok(&src, &plain, &[]);
    let out = extract_from_pipe(&format!("cat '{}'", plain.display()), &dest);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ordinary WIM cannot be read from a pipe"),
        "{err}"
    );
    let out = extract_from_pipe(&format!("head -c 5000 '{}'", wim.display()), &dest);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pipable WIM trailing header"), "{err}");
    assert!(!dest.exists());
    let left: Vec<_> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("wimforge"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
