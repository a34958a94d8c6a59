//! `wimforge ntfs put` into existing volumes made by Windows and mkntfs,
//! and into our own: new small (resident) and large (non-resident) files,
//! in new and existing directories, enough entries to turn a resident
//! index into INDX blocks and to grow the MFT. Checked with ntfs-3g and
//! libfsntfs; every pre-existing file stays byte-identical. Then files are
//! replaced (resident ↔ non-resident) and the volume stays clean.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use support::*;

fn cat(img: &Path, p: &str) -> Vec<u8> {
    let out = run(Command::new("ntfscat").arg(img).arg(p));
    assert!(
        out.status.success(),
        "ntfscat {p}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every file's bytes (through ntfs-3g), keyed by path (from our ls -R).
fn snapshot(img: &Path) -> BTreeMap<String, Vec<u8>> {
    let ls = ok(wimforge().args(["ntfs", "ls", "-R"]).arg(img));
    ls.lines()
        .filter(|l| !l.ends_with('/'))
        .map(|p| (p.to_string(), cat(img, p)))
        .collect()
}

fn clean(img: &Path) {
    let rs = run(Command::new("ntfsresize")
        .args(["--info", "--force", "--no-action"])
        .arg(img));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&rs.stdout),
        String::from_utf8_lossy(&rs.stderr)
    );
    assert!(
        rs.status.success() && !text.contains("ERROR") && !text.contains("accounting failed"),
        "{text}"
    );
    let fs = run(Command::new("fsntfsinfo").arg("-H").arg(img));
    assert!(
        fs.status.success(),
        "fsntfsinfo -H: {}",
        String::from_utf8_lossy(&fs.stderr)
    );
    let chk = run(wimforge().args(["ntfs", "check"]).arg(img));
    assert!(
        chk.status.success(),
        "ntfs check: {}",
        String::from_utf8_lossy(&chk.stdout)
    );
}

fn inject_and_verify(img: &Path, existing_dir: &str, large: usize) {
    let before = snapshot(img);
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("unattend.xml");
    std::fs::write(&small, b"<unattend/>\r\n").unwrap();
    let big = dir.path().join("docker.exe");
    let big_data: Vec<u8> = (0..large).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&big, &big_data).unwrap();
    let tree = dir.path().join("Scripts");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..60 {
        std::fs::write(
            tree.join(format!("a fairly long script name {i:03}.cmd")),
            format!("echo {i}\r\n"),
        )
        .unwrap();
    }
    ok(wimforge()
        .args(["ntfs", "put"])
        .arg(img)
        .arg(&small)
        .arg("/unattend.xml"));
    ok(wimforge()
        .args(["ntfs", "put"])
        .arg(img)
        .arg(&big)
        .arg(format!("{existing_dir}/docker.exe")));
    ok(wimforge()
        .args(["ntfs", "put"])
        .arg(img)
        .arg(&tree)
        .arg("/Setup/Scripts"));
    clean(img);
    assert_eq!(cat(img, "/unattend.xml"), b"<unattend/>\r\n");
    assert!(cat(img, &format!("{existing_dir}/docker.exe")) == big_data);
    for i in [0, 31, 59] {
        assert_eq!(
            cat(
                img,
                &format!("/Setup/Scripts/a fairly long script name {i:03}.cmd")
            ),
            format!("echo {i}\r\n").as_bytes()
        );
    }
    let after = snapshot(img);
    for (p, data) in &before {
        assert!(after.get(p) == Some(data), "{p} changed or vanished");
    }
    assert_eq!(after.len(), before.len() + 62);
    // Replacing: names match case-insensitively and keep their case;
    // small → large (resident → non-resident) and large → small.
    let grown: Vec<u8> = (0..5_000).map(|i| (i * 13 % 241) as u8).collect();
    std::fs::write(&small, &grown).unwrap();
    ok(wimforge()
        .args(["ntfs", "put"])
        .arg(img)
        .arg(&small)
        .arg("/UNATTEND.XML"));
    std::fs::write(&big, b"now small").unwrap();
    ok(wimforge()
        .args(["ntfs", "put"])
        .arg(img)
        .arg(&big)
        .arg(format!("{existing_dir}/docker.exe")));
    clean(img);
    assert!(cat(img, "/unattend.xml") == grown);
    assert_eq!(
        cat(img, &format!("{existing_dir}/docker.exe")),
        b"now small"
    );
    let ls = ok(wimforge().args(["ntfs", "ls"]).arg(img).arg("/"));
    assert!(
        ls.contains("unattend.xml") && !ls.contains("UNATTEND.XML"),
        "{ls}"
    );
    let replaced = snapshot(img);
    for (p, data) in &before {
        assert!(replaced.get(p) == Some(data), "{p} changed by a replace");
    }
    assert_eq!(replaced.len(), after.len());
    // A directory is never replaced by a file.
    let dir_over = run(wimforge()
        .args(["ntfs", "put"])
        .arg(img)
        .arg(&small)
        .arg("/Setup/Scripts"));
    assert!(!dir_over.status.success());
}

#[test]
fn put_into_windows_volume() {
    if !["ntfscat", "ntfsresize", "fsntfsinfo"]
        .iter()
        .all(|t| have(t))
    {
        return;
    }
    let Some(gz) = fixture("ntfs/dissect-ntfs_ntfs.bin.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("ntfs.bin");
    let out = run(Command::new("gzip").arg("-dc").arg(&gz));
    std::fs::write(&img, out.stdout).unwrap();
    inject_and_verify(&img, "/Directory", 100_000);
}

#[test]
fn put_into_mkntfs_volume() {
    if !["ntfscat", "ntfsresize", "fsntfsinfo"]
        .iter()
        .all(|t| have(t))
    {
        return;
    }
    let Some(src) = fixture("ntfs/ntfs-crate_testfs1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("testfs1");
    std::fs::copy(&src, &img).unwrap();
    let mut perm = std::fs::metadata(&img).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&img, perm).unwrap();
    inject_and_verify(&img, "/many_subdirs", 200_000);
}

#[test]
fn put_many_into_our_volume() {
    if !["ntfscat", "ntfsresize", "fsntfsinfo"]
        .iter()
        .all(|t| have(t))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("v.img");
    ok(wimforge()
        .args(["ntfs", "mkfs"])
        .arg(&img)
        .args(["--size", "64M"]));
    inject_and_verify(&img, "", 1_000_000);
}
