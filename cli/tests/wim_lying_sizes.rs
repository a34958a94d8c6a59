//! A WIM whose blob table claims absurd uncompressed sizes (the fuzzer's
//! `wim_open` finding of 2026-11-27: summing the sizes for the progress
//! total overflowed) must fail cleanly in every verb, never panic.

mod support;
use std::path::Path;
use support::*;

/// Byte offset and length of the blob table, from the header's reshdr at
/// 0x30 (7-byte stored size, flags, offset, original size).
fn blob_table(wim: &[u8]) -> (usize, usize) {
    let size = u64::from_le_bytes([
        wim[0x30], wim[0x31], wim[0x32], wim[0x33], wim[0x34], wim[0x35], wim[0x36], 0,
    ]);
    let off = u64::from_le_bytes(wim[0x38..0x40].try_into().unwrap());
    (off as usize, size as usize)
}

/// Set the original size of every blob table entry that is not a metadata
/// resource (flag 0x02) to `size`. Returns how many were changed.
fn lie(wim: &mut [u8], size: u64) -> usize {
    let (off, len) = blob_table(wim);
    let mut n = 0;
    for e in (off..off + len).step_by(50) {
        if wim[e + 7] & 0x02 == 0 {
            wim[e + 16..e + 24].copy_from_slice(&size.to_le_bytes());
            n += 1;
        }
    }
    n
}

fn no_panic(args: &[&str], wim: &Path, extra: &[&Path]) -> (bool, String) {
    let mut c = wimforge();
    c.args(args).arg(wim);
    for p in extra {
        c.arg(p);
    }
    let out = run(&mut c);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
    assert!(
        out.status.code().is_some(),
        "{args:?} killed by a signal: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    (out.status.success(), err)
}

#[test]
fn absurd_blob_sizes_fail_cleanly_in_every_verb() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    // Compressible, so that both blobs are stored compressed (an
    // uncompressed blob's size must equal its stored size, which the
    // reader checks on open).
    std::fs::write(src.join("a.txt"), b"first file ".repeat(6000)).unwrap();
    std::fs::write(src.join("b.txt"), b"second, different file ".repeat(3000)).unwrap();
    for compress in ["xpress", "lzx", "lzms"] {
        let good = dir.path().join(format!("{compress}.wim"));
        capture_ok(&src, &good, &["--compress", compress]);
        // Two blobs whose sizes sum past u64::MAX, and sizes that merely
        // exceed what the resource holds.
        for size in [u64::MAX - 7, 1 << 40] {
            let mut bytes = std::fs::read(&good).unwrap();
            assert_eq!(lie(&mut bytes, size), 2, "{compress}: two data blobs");
            let bad = dir.path().join(format!("bad-{compress}-{size:x}.wim"));
            std::fs::write(&bad, &bytes).unwrap();
            let _ = no_panic(&["-q", "wim", "info"], &bad, &[]);
            let _ = no_panic(&["-q", "wim", "dir"], &bad, &[Path::new("1")]);
            let (ok, err) = no_panic(&["-q", "wim", "verify"], &bad, &[]);
            assert!(!ok, "{compress} {size:#x}: verify accepted lying sizes");
            assert!(err.contains("blob") || err.contains("resource"), "{err}");
            let dest = dir.path().join(format!("x-{compress}-{size:x}"));
            let (ok, _) = no_panic(&["-q", "wim", "extract"], &bad, &[Path::new("1"), &dest]);
            assert!(!ok, "{compress} {size:#x}: extract accepted lying sizes");
            let img = dir.path().join(format!("v-{compress}-{size:x}.img"));
            let (ok, _) = no_panic(
                &["-q", "wim", "apply"],
                &bad,
                &[Path::new("1"), &img, Path::new("--size"), Path::new("16M")],
            );
            assert!(!ok, "apply accepted lying sizes");
            assert!(!img.exists(), "a failed apply left {}", img.display());
            let exp = dir.path().join(format!("e-{compress}-{size:x}.wim"));
            let _ = no_panic(&["-q", "wim", "export"], &bad, &[Path::new("1"), &exp]);
        }
    }
}
