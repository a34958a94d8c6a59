//! `wimforge disk create` / `disk info` against tools we did not write:
//! gdisk (`sgdisk -v`, `-p`, `-i`), util-linux (`sfdisk --dump`,
//! `fdisk -l`), dosfstools (`fsck.fat -n`), mtools (`mdir`), ntfs-3g
//! (`ntfsresize`, `ntfsinfo`), libfsntfs (`fsntfsinfo`), qemu-img
//! (`check`, `convert`) and 7-Zip (`7zz l`).
//! Debian packages: gdisk fdisk dosfstools mtools ntfs-3g libfsntfs-utils
//! qemu-utils 7zip.

mod support;

use serde_json::Value;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const TOOLS: &[&str] = &[
    "sgdisk",
    "sfdisk",
    "fdisk",
    "fsck.fat",
    "mdir",
    "ntfsresize",
    "ntfsinfo",
    "fsntfsinfo",
    "qemu-img",
    "7zz",
];

fn have_all() -> bool {
    TOOLS.iter().all(|t| have(t))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run `disk create ... --json` and return the JSON report.
fn create(out: &Path, args: &[&str]) -> Value {
    let mut c = wimforge();
    c.args(["disk", "create", s(out), "--json"]).args(args);
    serde_json::from_str(&ok(&mut c)).unwrap()
}

/// Copy `len` bytes at `off` of `src` into a new sparse file `dst`.
fn cut(src: &Path, off: u64, len: u64, dst: &Path) {
    let mut f = File::open(src).unwrap();
    let mut o = File::create(dst).unwrap();
    o.set_len(len).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        f.read_exact(&mut buf[..n]).unwrap();
        if buf[..n].iter().any(|&b| b != 0) {
            o.seek(SeekFrom::Start(done)).unwrap();
            o.write_all(&buf[..n]).unwrap();
        }
        done += n as u64;
    }
}

/// A raw copy of `img` (converted with qemu-img when it is a VHDX, after
/// `qemu-img check`).
fn raw_of(img: &Path, dir: &Path) -> PathBuf {
    if img.extension().and_then(|e| e.to_str()) != Some("vhdx") {
        return img.to_path_buf();
    }
    let chk = ok(Command::new("qemu-img").args(["check", s(img)]));
    assert!(chk.contains("No errors were found"), "{chk}");
    let raw = dir.join(format!(
        "{}.raw",
        img.file_stem().unwrap().to_str().unwrap()
    ));
    ok(Command::new("qemu-img").args(["convert", "-f", "vhdx", "-O", "raw", s(img), s(&raw)]));
    raw
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

/// The fields of `sgdisk -i N` we compare.
fn sgdisk_info(raw: &Path, n: u64) -> (String, String, u64, u64, String, String) {
    let out = ok(Command::new("sgdisk").args(["-i", &n.to_string(), s(raw)]));
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .trim()
            .to_string()
    };
    let first_word = |v: String| v.split_whitespace().next().unwrap().to_string();
    (
        first_word(field("Partition GUID code:")),
        field("Partition unique GUID:"),
        first_word(field("First sector:")).parse().unwrap(),
        first_word(field("Last sector:")).parse().unwrap(),
        field("Attribute flags:"),
        field("Partition name:"),
    )
}

/// NTFS validators on a cut-out volume; also the hidden-sectors field.
fn check_ntfs(vol: &Path, start_lba: u64) {
    let info = ok(Command::new("ntfsinfo").args(["-m", s(vol)]));
    assert!(info.contains("Volume Version: 3.1"), "{info}");
    assert!(info.contains("Volume Flags: 0x0000"), "{info}");
    let rs = run(Command::new("ntfsresize").args(["--info", "--force", "--no-action", s(vol)]));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&rs.stdout),
        String::from_utf8_lossy(&rs.stderr)
    );
    assert!(rs.status.success(), "ntfsresize: {text}");
    assert!(!text.contains("ERROR"), "{text}");
    let fs = ok(Command::new("fsntfsinfo").arg(s(vol)));
    assert!(fs.contains("Version\t\t\t\t: 3.1"), "{fs}");
    let mut b = [0u8; 512];
    File::open(vol).unwrap().read_exact(&mut b).unwrap();
    assert_eq!(
        u32::from_le_bytes(b[0x1C..0x20].try_into().unwrap()) as u64,
        start_lba,
        "NTFS hidden sectors"
    );
}

/// fsck.fat must print nothing but its banner and the summary line.
fn check_fat(vol: &Path, label: &str) {
    let out = run(Command::new("fsck.fat").args(["-n", s(vol)]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "fsck.fat: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "fsck.fat reported something: {text}");
    assert!(lines[1].contains(" files, "), "{text}");
    let m = ok(Command::new("mdir").args(["-i", s(vol), "::"]));
    assert!(m.contains(&format!("Volume in drive : is {label}")), "{m}");
    let v = ok(Command::new("fsck.fat").args(["-n", "-v", s(vol)]));
    assert!(v.contains("32 bit entries"), "not FAT32: {v}");
}

fn check_uefi(img: &Path, rep: &Value, dir: &Path) {
    let raw = raw_of(img, dir);
    if raw != img {
        let z = ok(Command::new("7zz").args(["l", s(img)]));
        for n in [
            "EFI system partition",
            "Microsoft reserved partition",
            "Basic data partition",
        ] {
            assert!(z.contains(n), "7zz l does not list {n}: {z}");
        }
        assert!(z.contains("Type = GPT"), "{z}");
    }
    let v = ok(Command::new("sgdisk").args(["-v", s(&raw)]));
    assert!(v.contains("No problems found"), "sgdisk -v: {v}");
    let p = ok(Command::new("sgdisk").args(["-p", s(&raw)]));
    let disk_guid = rep["disk_guid"].as_str().unwrap().to_uppercase();
    assert!(
        p.contains(&format!("Disk identifier (GUID): {disk_guid}")),
        "{p}"
    );
    let parts = rep["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    for (i, part) in parts.iter().enumerate() {
        let n = u64_of(&part["number"]);
        assert_eq!(n, i as u64 + 1);
        let (t, u, first, last, attrs, name) = sgdisk_info(&raw, n);
        assert_eq!(t, part["type_guid"].as_str().unwrap().to_uppercase());
        assert_eq!(u, part["unique_guid"].as_str().unwrap().to_uppercase());
        assert_eq!(first, u64_of(&part["start_lba"]));
        assert_eq!(last, u64_of(&part["last_lba"]));
        assert_eq!(name, format!("'{}'", part["name"].as_str().unwrap()));
        let want_attrs = if i == 0 {
            "8000000000000000"
        } else {
            "0000000000000000"
        };
        assert_eq!(attrs, want_attrs);
        assert_eq!(u64_of(&part["start"]) % (1 << 20), 0, "1 MiB alignment");
        assert_eq!(u64_of(&part["length"]) % (1 << 20), 0, "1 MiB multiple");
    }
    assert_eq!(
        parts[0]["type_guid"],
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
    );
    assert_eq!(
        parts[1]["type_guid"],
        "e3c9e316-0b5c-4db8-817d-f92df00215ae"
    );
    assert_eq!(
        parts[2]["type_guid"],
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
    );
    assert_eq!(u64_of(&parts[0]["length"]), 200 << 20);
    assert_eq!(u64_of(&parts[1]["length"]), 128 << 20);
    let esp = dir.join("esp.img");
    cut(
        &raw,
        u64_of(&parts[0]["start"]),
        u64_of(&parts[0]["length"]),
        &esp,
    );
    check_fat(&esp, "SYSTEM");
    let mut b = [0u8; 512];
    File::open(&esp).unwrap().read_exact(&mut b).unwrap();
    assert_eq!(
        u32::from_le_bytes(b[0x1C..0x20].try_into().unwrap()),
        2048,
        "FAT hidden sectors"
    );
    let win = dir.join("win.img");
    cut(
        &raw,
        u64_of(&parts[2]["start"]),
        u64_of(&parts[2]["length"]),
        &win,
    );
    check_ntfs(&win, u64_of(&parts[2]["start_lba"]));
    // Our reader agrees with the report.
    let info: Value =
        serde_json::from_str(&ok(wimforge().args(["disk", "info", s(img), "--json"]))).unwrap();
    assert_eq!(info["partitions"], rep["partitions"]);
    assert_eq!(info["disk_guid"], rep["disk_guid"]);
    assert_eq!(info["warnings"], Value::Array(vec![]));
}

fn check_bios(img: &Path, rep: &Value, dir: &Path) {
    let raw = raw_of(img, dir);
    if raw != img {
        // 7-Zip opens VHDX -> MBR -> the single NTFS partition.
        let z = ok(Command::new("7zz").args(["l", s(img)]));
        for t in ["Type = VHDX", "Type = MBR", "Type = NTFS"] {
            assert!(z.contains(t), "7zz l: no {t}: {z}");
        }
    }
    let dump = ok(Command::new("sfdisk").args(["--dump", s(&raw)]));
    let sig = rep["mbr_signature"].as_str().unwrap();
    assert!(dump.contains("label: dos"), "{dump}");
    assert!(dump.contains(&format!("label-id: 0x{sig}")), "{dump}");
    let part = &rep["partitions"][0];
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains(" : start=")).collect();
    assert_eq!(lines.len(), 1, "{dump}");
    let want = format!(
        "start={:>12}, size={:>12}, type=7, bootable",
        u64_of(&part["start_lba"]),
        u64_of(&part["length"]) / 512
    );
    assert!(lines[0].ends_with(&want), "{} vs {want}", lines[0]);
    let l = ok(Command::new("fdisk").args(["-l", s(&raw)]));
    assert!(l.contains(&format!("Disk identifier: 0x{sig}")), "{l}");
    assert!(
        l.lines()
            .any(|x| x.contains(" *  ") && x.contains("HPFS/NTFS/exFAT")),
        "{l}"
    );
    assert_eq!(rep["has_boot_code"], false);
    let mut mbr = [0u8; 512];
    File::open(&raw).unwrap().read_exact(&mut mbr).unwrap();
    assert!(
        mbr[..440].iter().all(|&b| b == 0),
        "boot code area not empty"
    );
    assert_eq!(&mbr[510..], &[0x55, 0xAA]);
    let win = dir.join("win.img");
    cut(&raw, u64_of(&part["start"]), u64_of(&part["length"]), &win);
    check_ntfs(&win, u64_of(&part["start_lba"]));
    let info: Value =
        serde_json::from_str(&ok(wimforge().args(["disk", "info", s(img), "--json"]))).unwrap();
    assert_eq!(info["partitions"], rep["partitions"]);
    assert_eq!(info["mbr_signature"], rep["mbr_signature"]);
}

#[test]
fn uefi_vhdx_dynamic_fixed_and_raw_pass_validators() {
    if !have_all() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("dyn.vhdx", vec![]),
        ("fixed.vhdx", vec!["--type", "fixed", "--block-size", "1M"]),
        ("disk.img", vec![]),
        ("explicit.bin", vec!["--format", "vhdx"]),
    ] {
        let out = dir.path().join(name);
        let mut args = vec!["--size", "420M", "--layout", "uefi", "--label", "Windows"];
        args.extend(extra);
        let rep = create(&out, &args);
        assert_eq!(rep["table"], "gpt");
        let img = if name == "explicit.bin" {
            // --format vhdx wins over the extension.
            let mut m = [0u8; 8];
            File::open(&out).unwrap().read_exact(&mut m).unwrap();
            assert_eq!(&m, b"vhdxfile");
            let v = dir.path().join("explicit.vhdx");
            std::fs::rename(&out, &v).unwrap();
            v
        } else {
            out
        };
        check_uefi(&img, &rep, dir.path());
    }
}

#[test]
fn bios_vhdx_and_raw_pass_validators() {
    if !have_all() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in ["bios.vhdx", "bios.img"] {
        let out = dir.path().join(name);
        let rep = create(&out, &["--size", "96M", "--layout", "bios"]);
        assert_eq!(rep["table"], "mbr");
        assert_eq!(rep["partitions"][0]["active"], true);
        assert_eq!(rep["partitions"][0]["mbr_type"], 7);
        assert!(rep["notes"][0].as_str().unwrap().contains("boot code"));
        check_bios(&out, &rep, dir.path());
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_ids() {
    if !have("cmp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (ext, layout, extra) in [
        ("vhdx", "uefi", vec![]),
        (
            "vhdx",
            "uefi",
            vec!["--type", "fixed", "--block-size", "1M"],
        ),
        ("img", "uefi", vec![]),
        ("vhdx", "bios", vec![]),
    ] {
        let mut reps = Vec::new();
        for (i, seed) in ["42", "42", "43"].iter().enumerate() {
            let out = d.join(format!("s{i}.{ext}"));
            let mut args = vec!["--size", "400M", "--layout", layout, "--seed", seed];
            args.extend(extra.iter().copied());
            reps.push(create(&out, &args));
        }
        let same = run(Command::new("cmp").args([
            s(&d.join(format!("s0.{ext}"))),
            s(&d.join(format!("s1.{ext}"))),
        ]));
        assert!(
            same.status.success(),
            "{ext} {layout} {extra:?}: same seed, different bytes"
        );
        let diff = run(Command::new("cmp").args([
            s(&d.join(format!("s0.{ext}"))),
            s(&d.join(format!("s2.{ext}"))),
        ]));
        assert!(!diff.status.success(), "different seeds, same bytes");
        if layout == "uefi" {
            assert_eq!(reps[0]["disk_guid"], reps[1]["disk_guid"]);
            assert_ne!(reps[0]["disk_guid"], reps[2]["disk_guid"]);
            let (p0, p2) = (
                reps[0]["partitions"].as_array().unwrap(),
                reps[2]["partitions"].as_array().unwrap(),
            );
            assert_eq!(p0.len(), 3);
            for (a, b) in p0.iter().zip(p2) {
                assert_ne!(a["unique_guid"], b["unique_guid"]);
            }
            assert_ne!(reps[0]["fat_volume_id"], reps[2]["fat_volume_id"]);
        } else {
            assert_ne!(reps[0]["mbr_signature"], reps[2]["mbr_signature"]);
        }
        assert_ne!(reps[0]["ntfs_serial"], reps[2]["ntfs_serial"]);
    }
    // Without a seed, two disks differ in their identifiers.
    let a = create(&d.join("r0.img"), &["--size", "400M"]);
    let b = create(&d.join("r1.img"), &["--size", "400M"]);
    assert_ne!(a["disk_guid"], b["disk_guid"]);
}

/// Nothing but the files we expect in `dir` (no temporary leftovers).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn bad_requests_fail_clearly_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.vhdx");
    let cases: &[(&[&str], &str)] = &[
        (&["--size", "300M"], "too small for the UEFI layout"),
        (
            &["--size", "16M", "--layout", "bios"],
            "too small for the BIOS layout",
        ),
        (&["--size", "1G", "--esp-size", "20M"], "cannot hold FAT32"),
        (
            &["--size", "1G", "--esp-size", "100000"],
            "not a multiple of 1 MiB",
        ),
        (&["--size", "1000000"], "not a positive multiple"),
        (
            &["--size", "1G", "--logical-sector-size", "1024"],
            "512 or 4096",
        ),
        (
            &[
                "--size",
                "1G",
                "--logical-sector-size",
                "4096",
                "--esp-size",
                "260M",
            ],
            "512-byte sectors only",
        ),
        (&["--size", "1G", "--block-size", "3M"], "block"),
        (
            &["--size", "3T", "--layout", "bios"],
            "too large for an MBR",
        ),
    ];
    for (args, msg) in cases {
        let r = run(wimforge().args(["disk", "create", s(&out)]).args(*args));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{args:?} succeeded");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(
            names(dir.path()).is_empty(),
            "{args:?} left {:?}",
            names(dir.path())
        );
    }
    // An existing file at OUT survives a failed run untouched.
    std::fs::write(&out, b"keep").unwrap();
    let r = run(wimforge().args(["disk", "create", s(&out), "--size", "10M"]));
    assert!(!r.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    assert_eq!(names(dir.path()), vec!["x.vhdx".to_string()]);
}
