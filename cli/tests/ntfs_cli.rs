//! `wimforge ntfs` and `wimforge wim apply` against tools we did not write:
//! ntfs-3g (`ntfsinfo`, `ntfsresize`, `ntfsfix`, `ntfsls`, `ntfscat`),
//! libfsntfs (`fsntfsinfo`), 7-Zip (`7zz`) and wimlib (`wimlib-imagex`).
//! Debian packages: ntfs-3g, libfsntfs-utils, 7zip, wimtools.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use support::*;

const NTFS_TOOLS: &[&str] = &[
    "ntfsinfo",
    "ntfsresize",
    "ntfsfix",
    "ntfsls",
    "ntfscat",
    "fsntfsinfo",
    "7zz",
];

fn have_all(tools: &[&str]) -> bool {
    let mut all = true;
    for t in tools {
        if !have(t) {
            eprintln!("skip: {t} not installed");
            all = false;
        }
    }
    all
}

/// Every external validator accepts the volume.
fn validate(img: &Path) {
    let p = img.to_str().unwrap();
    let info = ok(Command::new("ntfsinfo").args(["-m", p]));
    assert!(info.contains("Volume Version: 3.1"), "{info}");
    assert!(
        info.contains("Volume Flags: 0x0000"),
        "dirty or odd flags: {info}"
    );
    let rs = run(Command::new("ntfsresize").args(["--info", "--force", "--no-action", p]));
    let rs_out = format!(
        "{}{}",
        String::from_utf8_lossy(&rs.stdout),
        String::from_utf8_lossy(&rs.stderr)
    );
    assert!(rs.status.success(), "ntfsresize --info failed:\n{rs_out}");
    assert!(
        !rs_out.contains("accounting failed") && !rs_out.contains("ERROR"),
        "{rs_out}"
    );
    let fix = ok(Command::new("ntfsfix").args(["-n", p]));
    assert!(fix.contains("processed successfully"), "{fix}");
    let fs = run(Command::new("fsntfsinfo").arg(p));
    assert!(
        fs.status.success(),
        "fsntfsinfo: {}",
        String::from_utf8_lossy(&fs.stderr)
    );
    let fsh = run(Command::new("fsntfsinfo").args(["-H", p]));
    assert!(
        fsh.status.success(),
        "fsntfsinfo -H: {}",
        String::from_utf8_lossy(&fsh.stderr)
    );
    let z = ok(Command::new("7zz").args(["l", p]));
    assert!(z.contains("File System = NTFS 3.1"), "{z}");
    let zt = run(Command::new("7zz").args(["t", p]));
    assert!(
        zt.status.success(),
        "7zz t: {}",
        String::from_utf8_lossy(&zt.stdout)
    );
    let chk = run(wimforge().args(["ntfs", "check", p]));
    assert!(
        chk.status.success(),
        "wimforge ntfs check: {}",
        String::from_utf8_lossy(&chk.stdout)
    );
}

#[test]
fn mkfs_sizes_and_cluster_sizes_pass_validators() {
    if !have_all(NTFS_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (size, cluster) in [
        ("8M", "512"),
        ("20M", "1K"),
        ("64M", "4K"),
        ("300M", "4K"),
        ("1G", "64K"),
        ("256M", "8K"),
    ] {
        let img = dir.path().join(format!("v-{size}-{cluster}.img"));
        ok(wimforge().args(["ntfs", "mkfs"]).arg(&img).args([
            "--size",
            size,
            "--cluster-size",
            cluster,
            "--label",
            "wimforge",
        ]));
        validate(&img);
        let info = ok(Command::new("ntfsinfo").arg("-m").arg(&img));
        let want = support_size(cluster);
        assert!(info.contains(&format!("Cluster Size: {want}")), "{info}");
        assert!(info.contains("Volume Name: wimforge"), "{info}");
        // The empty volume lists no user files.
        let ls = ok(wimforge().args(["ntfs", "ls"]).arg(&img));
        assert_eq!(ls.trim(), "", "{ls}");
    }
}

fn support_size(s: &str) -> u64 {
    match s.strip_suffix('K') {
        Some(n) => n.parse::<u64>().unwrap() * 1024,
        None => s.parse().unwrap(),
    }
}

#[test]
fn mkfs_into_mbr_partition_of_raw_disk() {
    if !have_all(NTFS_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    let size = 64u64 << 20;
    let start_lba = 2048u64;
    let sectors = (size / 512) - start_lba;
    let mut mbr = vec![0u8; 512];
    mbr[0x1BE + 4] = 0x07;
    mbr[0x1BE + 8..0x1BE + 12].copy_from_slice(&(start_lba as u32).to_le_bytes());
    mbr[0x1BE + 12..0x1BE + 16].copy_from_slice(&(sectors as u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    let f = std::fs::File::create(&disk).unwrap();
    f.set_len(size).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &mbr, 0).unwrap();
    ok(wimforge()
        .args(["ntfs", "mkfs"])
        .arg(&disk)
        .args(["--partition", "1"]));
    // The MBR is untouched; the volume, cut out at the partition offset, passes.
    let all = std::fs::read(&disk).unwrap();
    assert_eq!(&all[..512], &mbr[..]);
    let vol = dir.path().join("vol.img");
    std::fs::write(&vol, &all[(start_lba * 512) as usize..]).unwrap();
    validate(&vol);
    let info = ok(Command::new("ntfsinfo").arg("-m").arg(&vol));
    assert!(info.contains("Volume Size in Clusters"), "{info}");
    // hidden sectors = partition start; backup boot sector in the last sector.
    assert_eq!(
        u32::from_le_bytes(
            all[(start_lba * 512 + 0x1C) as usize..][..4]
                .try_into()
                .unwrap()
        ),
        start_lba as u32
    );
    assert_eq!(
        &all[all.len() - 512..],
        &all[(start_lba * 512) as usize..][..512]
    );
    // Our reader works through the partition too.
    ok(wimforge()
        .args(["ntfs", "ls"])
        .arg(&disk)
        .args(["--partition", "1"]));
}

/// Paths from `ntfsls -R` (without `.`/`..`), as "/a/b".
fn ntfsls_paths(img: &Path) -> BTreeSet<String> {
    let out = ok(Command::new("ntfsls").arg("-R").arg(img));
    let mut set = BTreeSet::new();
    let mut cur = String::new();
    for line in out.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(d) = line.strip_suffix(':') {
            if d.starts_with('/') {
                cur = d.trim_end_matches('/').to_string();
                continue;
            }
        }
        if line == "." || line == ".." {
            continue;
        }
        set.insert(format!("{cur}/{line}"));
    }
    set
}

fn wimlib_paths(wim: &Path, image: &str) -> BTreeSet<String> {
    ok(Command::new("wimlib-imagex").arg("dir").arg(wim).arg(image))
        .lines()
        .filter(|l| *l != "/" && !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Apply with wimforge into a raw image, check names and bytes against
/// wimlib, the validators, and a wimlib NTFS capture round trip.
fn apply_and_compare(wim: &Path, image: &str, size: &str, sample_every: usize) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("vol.img");
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(wim)
        .arg(image)
        .arg(&img)
        .args(["--size", size]));
    validate(&img);
    assert_eq!(
        ntfsls_paths(&img),
        wimlib_paths(wim, image),
        "ntfsls -R vs wimlib-imagex dir for {}",
        wim.display()
    );
    // Bytes: wimlib's own extraction to a directory is the reference.
    let refdir = dir.path().join("ref");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(wim)
        .arg(image)
        .arg(&refdir)
        .arg("--no-acls"));
    let mut files = Vec::new();
    collect_files(&refdir, &refdir, &mut files);
    assert!(!files.is_empty() || wimlib_paths(wim, image).is_empty());
    for (i, rel) in files.iter().enumerate() {
        if i % sample_every != 0 {
            continue;
        }
        let want = std::fs::read(refdir.join(&rel[1..])).unwrap();
        let got = run(Command::new("ntfscat").arg(&img).arg(rel));
        assert!(
            got.status.success(),
            "ntfscat {rel}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        assert!(
            got.stdout == want,
            "{rel}: ntfscat returned {} bytes, wimlib extracted {}",
            got.stdout.len(),
            want.len()
        );
        let ours = run(wimforge().args(["ntfs", "cat"]).arg(&img).arg(rel));
        assert!(ours.stdout == want, "{rel}: wimforge ntfs cat differs");
    }
    // Round trip: wimlib's NTFS-3G capture of our volume lists the same
    // names, short names, attributes, times, SDs, streams, links and
    // reparse data as the source (object ids included).
    let rt = dir.path().join("rt.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&img)
        .arg(&rt));
    // Compare what the file system holds, not where the WIM stores it.
    let a = wimlib_detailed(wim, image);
    let mut b = wimlib_detailed(&rt, "1");
    if !a.iter().any(|l| l.starts_with("Security Descriptor")) {
        // The source has no descriptors (a Linux capture); ours get the
        // default root descriptor, which the round trip then carries.
        b.retain(|l| !l.starts_with("Security Descriptor"));
    }
    if a != b {
        let diff: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).take(10).collect();
        panic!(
            "detailed listing differs after NTFS round trip ({} vs {} lines): {diff:#?}",
            a.len(),
            b.len()
        );
    }
}

fn collect_files(root: &Path, d: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            collect_files(root, &p, out);
        } else if m.is_file() {
            out.push(format!(
                "/{}",
                p.strip_prefix(root).unwrap().to_str().unwrap()
            ));
        }
    }
}

#[test]
fn wim_apply_fixtures_match_wimlib() {
    if !have_all(NTFS_TOOLS) || !have("wimlib-imagex") {
        return;
    }
    for name in [
        "LZX.wim",
        "XPRESS.wim",
        "LZMS.wim",
        "BootLZX.wim",
        "dissect-archive_basic4k.wim",
        "dissect-archive_basic16k.wim",
        "wimlib-tests/empty_dacl.wim",
        "wimlib-tests/longpaths.wim",
    ] {
        let Some(w) = fixture(&format!("wim/{name}")) else {
            continue;
        };
        eprintln!("applying {name}");
        apply_and_compare(&w, "1", "64M", 1);
    }
    if let Some(w) = fixture("wim/MultiImage.wim") {
        for i in ["1", "2", "3"] {
            apply_and_compare(&w, i, "64M", 1);
        }
    }
}

/// A deterministic tree: many files of varied sizes (resident and not),
/// a directory big enough for a multi-level index, hard links, symlinks,
/// names that differ only in case, non-ASCII names.
fn make_tree(root: &Path, files: usize) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let big = root.join("big dir");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..files {
        let d = if i % 3 == 0 {
            big.clone()
        } else {
            root.join(format!("d{:02}", i % 37))
                .join(format!("sub{}", i % 5))
        };
        std::fs::create_dir_all(&d).unwrap();
        let size = match rnd() % 10 {
            0 => 0,
            1..=3 => (rnd() % 700) as usize,
            4..=7 => (rnd() % 20000) as usize,
            _ => (rnd() % 300_000) as usize,
        };
        let data: Vec<u8> = (0..size)
            .map(|j| ((j as u64 * 31 + i as u64) % 251) as u8)
            .collect();
        std::fs::write(
            d.join(format!("file_{i:05}_{}.dat", "x".repeat(i % 40))),
            data,
        )
        .unwrap();
    }
    std::fs::write(root.join("Case.txt"), b"upper").unwrap();
    std::fs::write(root.join("case.txt"), b"lower").unwrap();
    std::fs::write(
        root.join("\u{e9}t\u{e9} \u{3a9}mega \u{4e2d}.txt"),
        b"unicode",
    )
    .unwrap();
    std::fs::write(root.join("linked.bin"), vec![7u8; 5000]).unwrap();
    std::fs::hard_link(
        root.join("linked.bin"),
        root.join("d01").join("hardlink.bin"),
    )
    .unwrap();
    std::fs::hard_link(root.join("linked.bin"), big.join("hardlink2.bin")).unwrap();
    std::os::unix::fs::symlink("linked.bin", root.join("symlink.lnk")).unwrap();
    std::os::unix::fs::symlink("d01", root.join("dirlink")).unwrap();
    std::fs::create_dir_all(root.join("empty dir")).unwrap();
}

#[test]
fn wim_apply_generated_tree_matches_wimlib() {
    if !have_all(NTFS_TOOLS) || !have("wimlib-imagex") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, 2500);
    let wim = dir.path().join("gen.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&src)
        .arg(&wim)
        .arg("--compress=lzx"));
    apply_and_compare(&wim, "1", "512M", 7);
}

#[test]
fn wim_apply_into_partition_and_to_directory() {
    if !have_all(NTFS_TOOLS) || !have("wimlib-imagex") {
        return;
    }
    let Some(w) = fixture("wim/XPRESS.wim") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // GPT-less MBR disk, partition 1 at 1 MiB.
    let disk = dir.path().join("disk.img");
    let f = std::fs::File::create(&disk).unwrap();
    f.set_len(48 << 20).unwrap();
    let mut mbr = vec![0u8; 512];
    mbr[0x1BE + 4] = 0x07;
    mbr[0x1BE + 8..0x1BE + 12].copy_from_slice(&2048u32.to_le_bytes());
    mbr[0x1BE + 12..0x1BE + 16].copy_from_slice(&(((48u32 << 20) / 512) - 2048).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    std::os::unix::fs::FileExt::write_all_at(&f, &mbr, 0).unwrap();
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(&w)
        .arg("1")
        .arg(&disk)
        .args(["--partition", "1"]));
    let all = std::fs::read(&disk).unwrap();
    let vol = dir.path().join("vol.img");
    std::fs::write(&vol, &all[1 << 20..]).unwrap();
    validate(&vol);
    assert_eq!(ntfsls_paths(&vol), wimlib_paths(&w, "1"));
    // A directory target extracts, like `wim extract`.
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    ok(wimforge().args(["wim", "apply"]).arg(&w).arg("1").arg(&out));
    assert!(out.join("ACDE.txt").exists() || std::fs::read_dir(&out).unwrap().count() > 0);
}

#[test]
fn ntfs_ls_cat_on_fixtures() {
    if !have_all(&["ntfscat", "ntfsls"]) {
        return;
    }
    let Some(fs1) = fixture("ntfs/ntfs-crate_testfs1") else {
        return;
    };
    let ls = ok(wimforge().args(["ntfs", "ls"]).arg(&fs1));
    assert!(ls.lines().any(|l| l == "/many_subdirs/"), "{ls}");
    let ls_r = ok(wimforge().args(["ntfs", "ls", "-R"]).arg(&fs1));
    assert!(
        ls_r.lines()
            .filter(|l| l.starts_with("/many_subdirs/"))
            .count()
            >= 512,
        "{ls_r}"
    );
    // Same tree as ntfs-3g sees; every file's bytes equal ntfscat's
    // (sparse and resident files included).
    let ours: BTreeSet<String> = ls_r
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    assert_eq!(ours, ntfsls_paths(&fs1));
    let mut compared = 0;
    for rel in ls_r.lines().filter(|l| !l.ends_with('/')) {
        let want = ok_bytes(Command::new("ntfscat").arg(&fs1).arg(rel));
        let got = run(wimforge().args(["ntfs", "cat"]).arg(&fs1).arg(rel));
        assert!(
            got.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        assert!(got.stdout == want, "{rel}");
        compared += 1;
    }
    assert!(compared > 3, "{ls_r}");
}

fn ok_bytes(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn wim_apply_into_vhdx_partition() {
    if !have_all(NTFS_TOOLS) || !have("wimlib-imagex") || !have("qemu-img") {
        return;
    }
    let Some(w) = fixture("wim/LZX.wim") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A raw disk with one MBR partition at 1 MiB, converted to a dynamic
    // VHDX by qemu-img; wimforge writes the volume through crates/vhdx.
    let raw = dir.path().join("disk.raw");
    let size = 40u64 << 20;
    let f = std::fs::File::create(&raw).unwrap();
    f.set_len(size).unwrap();
    let mut mbr = vec![0u8; 512];
    mbr[0x1BE + 4] = 0x07;
    mbr[0x1BE + 8..0x1BE + 12].copy_from_slice(&2048u32.to_le_bytes());
    mbr[0x1BE + 12..0x1BE + 16].copy_from_slice(&((size / 512) as u32 - 2048).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    std::os::unix::fs::FileExt::write_all_at(&f, &mbr, 0).unwrap();
    drop(f);
    let vhdx = dir.path().join("disk.vhdx");
    ok(Command::new("qemu-img")
        .args([
            "convert",
            "-f",
            "raw",
            "-O",
            "vhdx",
            "-o",
            "subformat=dynamic",
        ])
        .arg(&raw)
        .arg(&vhdx));
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(&w)
        .arg("1")
        .arg(&vhdx)
        .args(["--partition", "1"]));
    ok(Command::new("qemu-img").arg("check").arg(&vhdx));
    // Our reader through the VHDX, then the validators on the cut-out volume.
    let ls = ok(wimforge()
        .args(["ntfs", "ls", "-R"])
        .arg(&vhdx)
        .args(["--partition", "1"]));
    assert!(ls.contains("/ACDE.txt"), "{ls}");
    let back = dir.path().join("back.raw");
    ok(Command::new("qemu-img")
        .args(["convert", "-f", "vhdx", "-O", "raw"])
        .arg(&vhdx)
        .arg(&back));
    let all = std::fs::read(&back).unwrap();
    assert_eq!(&all[..512], &mbr[..]);
    let vol = dir.path().join("vol.img");
    std::fs::write(&vol, &all[1 << 20..]).unwrap();
    validate(&vol);
    assert_eq!(ntfsls_paths(&vol), wimlib_paths(&w, "1"));
}

/// Scale: 20,200 small files in 200 directories (about 30 s on 2 cores,
/// most of it wimlib's capture).
#[test]
fn wim_apply_twenty_thousand_files() {
    if !have_all(NTFS_TOOLS) || !have("wimlib-imagex") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for d in 0..200 {
        let p = src.join(format!("dir{d:03}"));
        std::fs::create_dir_all(&p).unwrap();
        for f in 0..101 {
            let n = [0usize, 100, 500, 3000, 20000][(d * 101 + f) % 5];
            let line = format!("{d}/{f} ");
            let data: Vec<u8> = line.bytes().cycle().take(n).collect();
            std::fs::write(p.join(format!("file_{f:03}.txt")), data).unwrap();
        }
    }
    let wim = dir.path().join("scale.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&src)
        .arg(&wim)
        .arg("--compress=lzx"));
    apply_and_compare(&wim, "1", "1G", 97);
}

/// Extended attributes (WIM `TAG_XATTRS`, here from a Linux capture with
/// --unix-data) land as $EA + $EA_INFORMATION; ntfsinfo decodes them.
#[test]
fn wim_apply_writes_extended_attributes() {
    if !have_all(&["ntfsinfo", "ntfsresize"]) || !have("wimlib-imagex") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let f = src.join("f.txt");
    std::fs::write(&f, b"hi\n").unwrap();
    let path = std::ffi::CString::new(f.to_str().unwrap()).unwrap();
    let name = c"user.test";
    let value = b"value123";
    let r = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        eprintln!("skip: this file system has no user xattrs");
        return;
    }
    let wim = dir.path().join("x.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&src)
        .arg(&wim)
        .arg("--unix-data"));
    let img = dir.path().join("v.img");
    let out = run(wimforge()
        .args(["wim", "apply"])
        .arg(&wim)
        .arg("1")
        .arg(&img)
        .args(["--size", "16M"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("extended attributes"),
        "{err}"
    );
    let info = ok(Command::new("ntfsinfo").args(["-F", "/f.txt"]).arg(&img));
    // packed = 5 + 9 (name) + 8 (value); unpacked = align4(8 + 9 + 1 + 8).
    assert!(info.contains("Packed EA length:\t 22"), "{info}");
    assert!(info.contains("Unpacked EA length:\t 28"), "{info}");
    validate(&img);
}
