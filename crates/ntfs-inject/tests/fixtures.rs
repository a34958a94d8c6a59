//! Reading volumes made by mkntfs (ntfs crate's testfs1) and by Windows
//! (dissect.ntfs' ntfs.bin): every file's bytes equal `ntfscat`'s, our
//! checker finds nothing, and the generated $UpCase equals mkntfs' table.

use ntfs_inject::layout::attr_type as at;
use ntfs_inject::reader::Volume;
use std::path::{Path, PathBuf};
use std::process::Command;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn skip(what: &str) {
    assert!(!in_ci(), "missing in CI: {what}");
    eprintln!("skip: {what} not available");
}

fn fixture(rel: &str) -> Option<PathBuf> {
    let base = std::env::var("WIMFORGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = base.join("fixtures/real").join(rel);
    if p.exists() {
        Some(p)
    } else {
        skip(&p.display().to_string());
        None
    }
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--help").output().is_ok();
    if !ok {
        skip(tool);
    }
    ok
}

/// Walk every directory; compare each unnamed stream with ntfscat.
fn compare_all(img: &Path, min_files: usize) {
    let dev = blockdev::FileDev::open(img, false).unwrap();
    let vol = Volume::open(dev).unwrap();
    let problems = ntfs_inject::check::check(&vol).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let with_cat = have("ntfscat");
    let mut stack = vec![(5u64, String::new())];
    let mut files = 0;
    while let Some((d, path)) = stack.pop() {
        for e in vol.list(d).unwrap() {
            if e.record() < 16 || d == 11 {
                continue;
            }
            let p = format!("{path}/{}", e.name_string());
            let r = vol.record(e.record()).unwrap();
            if r.is_dir() {
                stack.push((e.record(), p));
                continue;
            }
            let Some(a) = r.find(at::DATA, &[]) else {
                continue;
            };
            let ours = match vol.read_attr(a, 64 << 20) {
                Ok(v) => v,
                // LZNT1-compressed files are not decoded yet: a typed error.
                Err(ntfs_inject::Error::Unsupported(m)) if m.contains("compressed") => continue,
                Err(e) => panic!("{p}: {e}"),
            };
            files += 1;
            if with_cat {
                let theirs = Command::new("ntfscat").arg(img).arg(&p).output().unwrap();
                assert!(theirs.status.success(), "ntfscat {p}");
                assert!(
                    theirs.stdout == ours,
                    "{p}: {} vs {} bytes",
                    ours.len(),
                    theirs.stdout.len()
                );
            }
        }
    }
    assert!(files >= min_files, "only {files} files");
}

#[test]
fn mkntfs_volume_reads_and_upcase_matches() {
    let Some(img) = fixture("ntfs/ntfs-crate_testfs1") else {
        return;
    };
    compare_all(&img, 3);
    let vol = Volume::open(blockdev::FileDev::open(&img, false).unwrap()).unwrap();
    assert_eq!(
        vol.upcase(),
        &ntfs_inject::upcase::table()[..],
        "generated $UpCase differs from mkntfs' Windows 8 table"
    );
}

#[test]
fn windows_volume_reads() {
    let Some(gz) = fixture("ntfs/dissect-ntfs_ntfs.bin.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("ntfs.bin");
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .expect("gzip");
    std::fs::write(&img, out.stdout).unwrap();
    compare_all(&img, 5);
}
