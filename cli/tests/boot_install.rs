//! `wimforge boot install` end to end: a disk from `wimforge disk create`,
//! a mini Windows tree put into its NTFS partition with `wimforge ntfs
//! put`, then the install; checked with tools we did not write: sgdisk,
//! sfdisk, mtools, fsck.fat, ntfscat, hivexregedit, qemu-img.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// Placeholder bytes, different per name.
fn bytes(name: &str, len: usize) -> Vec<u8> {
    let mut x = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Relative path -> bytes of the mini Windows tree.
fn tree(template: Option<&Path>) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = [
        ("Windows/Boot/EFI/bootmgfw.efi", 70_000),
        ("Windows/Boot/EFI/bootmgr.efi", 60_000),
        ("Windows/Boot/EFI/memtest.efi", 40_000),
        ("Windows/Boot/EFI/boot.stl", 300),
        ("Windows/Boot/EFI/en-US/bootmgfw.efi.mui", 9_000),
        ("Windows/Boot/EFI/en-US/memtest.efi.mui", 500),
        ("Windows/Boot/Fonts/wgl4_boot.ttf", 45_000),
        ("Windows/Boot/Fonts/segmono_boot.ttf", 30_000),
        ("Windows/Boot/Resources/bootres.dll", 80_000),
        ("Windows/Boot/Resources/en-US/bootres.dll.mui", 700),
        ("Windows/Boot/PCAT/bootmgr", 90_000),
        ("Windows/Boot/PCAT/memtest.exe", 35_000),
        ("Windows/Boot/PCAT/en-US/bootmgr.exe.mui", 1_200),
        ("Windows/System32/winload.efi", 1000),
    ]
    .iter()
    .map(|(p, n)| (p.to_string(), bytes(p, *n)))
    .collect();
    if let Some(t) = template {
        v.push((
            "Windows/System32/config/BCD-Template".into(),
            std::fs::read(t).unwrap(),
        ));
    }
    v
}

fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (p, d) in files {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, d).unwrap();
    }
}

fn tools(names: &[&str]) -> bool {
    names.iter().all(|t| have(t))
}

/// `disk create` + `ntfs put` of `files` into the Windows partition
/// (number `part`). Returns the disk path.
fn make_disk(dir: &Path, layout: &str, files: &[(String, Vec<u8>)], part: u32) -> PathBuf {
    let disk = dir.join("disk.vhdx");
    ok(wimforge()
        .args(["disk", "create"])
        .arg(&disk)
        .args(["--size", "700M", "--layout", layout, "--seed", "5"]));
    let src = dir.join("src");
    write_tree(&src, files);
    ok(wimforge()
        .args(["ntfs", "put"])
        .arg(&disk)
        .arg(src.join("Windows"))
        .arg("/Windows")
        .args(["--partition", &part.to_string()]));
    disk
}

fn raw_copy(disk: &Path, dir: &Path) -> PathBuf {
    let raw = dir.join("disk.raw");
    ok(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(disk)
        .arg(&raw));
    raw
}

/// dd a byte range out of `img`.
fn cut(img: &Path, start_sector: u64, sectors: u64, out: &Path) {
    ok(Command::new("dd")
        .arg(format!("if={}", img.display()))
        .arg(format!("of={}", out.display()))
        .args(["bs=512", "status=none"])
        .arg(format!("skip={start_sector}"))
        .arg(format!("count={sectors}")));
}

/// sgdisk -i N: (unique GUID lower-case, first sector, last sector).
fn sgdisk_part(raw: &Path, n: u32) -> (String, u64, u64) {
    let out = ok(Command::new("sgdisk").arg(format!("-i{n}")).arg(raw));
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("sgdisk -i{n}: no {k}\n{out}"))
            .trim()
            .to_string()
    };
    let num = |s: String| s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
    (
        field("Partition unique GUID:").to_ascii_lowercase(),
        num(field("First sector:")),
        num(field("Last sector:")),
    )
}

fn sgdisk_disk_guid(raw: &Path) -> String {
    let out = ok(Command::new("sgdisk").arg("-p").arg(raw));
    out.lines()
        .find_map(|l| l.strip_prefix("Disk identifier (GUID):"))
        .unwrap_or_else(|| panic!("sgdisk -p: no disk GUID\n{out}"))
        .trim()
        .to_ascii_lowercase()
}

/// fsck.fat -n exits 0 and prints only its banner and the summary line.
fn fsck_clean(img: &Path) {
    let out = run(Command::new("fsck.fat").arg("-n").arg(img));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "fsck.fat -n: {text}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "fsck.fat -n reported something: {text}");
}

fn bcd_json(bcd: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(wimforge().args(["bcd", "dump"]).arg(bcd).arg("--json"))).unwrap()
}

/// The device value of element `id` of the object named `who` (alias, or
/// "loader"/"resume" = the objects {bootmgr} names as default /
/// resumeobject).
fn device(store: &serde_json::Value, who: &str, id: &str) -> serde_json::Value {
    let objs = store["objects"].as_array().unwrap();
    let find = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        objs.iter()
            .find(|o| pred(o))
            .unwrap_or_else(|| panic!("no object {who}"))
            .clone()
    };
    let bm = find(&|o| o["alias"] == "bootmgr");
    let el = |o: &serde_json::Value, id: &str| -> serde_json::Value {
        o["elements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{who} has no element {id}"))["value"]
            .clone()
    };
    let obj = match who {
        "loader" | "resume" => {
            let g = el(
                &bm,
                if who == "loader" {
                    "23000003"
                } else {
                    "23000006"
                },
            )["value"]
                .clone();
            find(&|o| o["guid"] == g)
        }
        a => find(&|o| o["alias"] == a),
    };
    let v = el(&obj, id);
    assert_eq!(v["format"], "device", "{who} {id}");
    v["value"]["device"].clone()
}

fn hivex_keys(bcd: &Path) -> String {
    ok(Command::new("hivexregedit")
        .arg("--export")
        .arg(bcd)
        .arg("\\"))
}

#[test]
fn uefi_install_on_a_created_disk() {
    if !tools(&[
        "qemu-img",
        "sgdisk",
        "mdir",
        "mcopy",
        "fsck.fat",
        "hivexregedit",
        "dd",
    ]) {
        return;
    }
    for with_template in [false, true] {
        let template = if with_template {
            match fixture("hive/usbboot_EFI-Microsoft-Boot_BCD") {
                Some(t) => Some(t),
                None => return,
            }
        } else {
            None
        };
        let dir = tempfile::tempdir().unwrap();
        let files = tree(template.as_deref());
        // uefi layout: 1 ESP, 2 MSR, 3 Windows.
        let disk = make_disk(dir.path(), "uefi", &files, 3);
        let out = run(wimforge().args(["boot", "install"]).arg(&disk).args([
            "--firmware",
            "uefi",
            "--seed",
            "9",
        ]));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("bootable (uefi): yes"), "{stdout}");
        assert!(stdout.contains("\\EFI\\Boot\\bootx64.efi"), "{stdout}");
        assert_eq!(
            stderr.contains("BCD-Template not found"),
            !with_template,
            "{stderr}"
        );

        let raw = raw_copy(&disk, dir.path());
        let (esp_guid, esp_first, esp_last) = sgdisk_part(&raw, 1);
        let (win_guid, _, _) = sgdisk_part(&raw, 3);
        let disk_guid = sgdisk_disk_guid(&raw);
        let esp = dir.path().join("esp.img");
        cut(&raw, esp_first, esp_last - esp_first + 1, &esp);

        fsck_clean(&esp);
        let listing = ok(Command::new("mdir")
            .args(["-i"])
            .arg(&esp)
            .arg("-b")
            .arg("::/EFI/Microsoft/Boot"));
        for name in [
            "bootmgfw.efi",
            "bootmgr.efi",
            "memtest.efi",
            "BCD",
            "Fonts",
            "Resources",
        ] {
            assert!(
                listing.contains(&format!("::/EFI/Microsoft/Boot/{name}")),
                "{name} missing in\n{listing}"
            );
        }
        let mget = |p: &str| -> Vec<u8> {
            let dst = dir.path().join("got");
            let _ = std::fs::remove_file(&dst);
            ok(Command::new("mcopy")
                .arg("-n")
                .arg("-i")
                .arg(&esp)
                .arg(format!("::{p}"))
                .arg(&dst));
            std::fs::read(&dst).unwrap()
        };
        let src = |p: &str| files.iter().find(|(q, _)| q == p).unwrap().1.clone();
        for (dst, from) in [
            (
                "/EFI/Microsoft/Boot/bootmgfw.efi",
                "Windows/Boot/EFI/bootmgfw.efi",
            ),
            (
                "/EFI/Microsoft/Boot/bootmgr.efi",
                "Windows/Boot/EFI/bootmgr.efi",
            ),
            (
                "/EFI/Microsoft/Boot/memtest.efi",
                "Windows/Boot/EFI/memtest.efi",
            ),
            ("/EFI/Microsoft/Boot/boot.stl", "Windows/Boot/EFI/boot.stl"),
            (
                "/EFI/Microsoft/Boot/en-US/bootmgfw.efi.mui",
                "Windows/Boot/EFI/en-US/bootmgfw.efi.mui",
            ),
            (
                "/EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf",
                "Windows/Boot/Fonts/wgl4_boot.ttf",
            ),
            (
                "/EFI/Microsoft/Boot/Fonts/segmono_boot.ttf",
                "Windows/Boot/Fonts/segmono_boot.ttf",
            ),
            (
                "/EFI/Microsoft/Boot/Resources/bootres.dll",
                "Windows/Boot/Resources/bootres.dll",
            ),
            (
                "/EFI/Microsoft/Boot/Resources/en-US/bootres.dll.mui",
                "Windows/Boot/Resources/en-US/bootres.dll.mui",
            ),
            ("/EFI/Boot/bootx64.efi", "Windows/Boot/EFI/bootmgfw.efi"),
        ] {
            assert!(mget(dst) == src(from), "{dst} differs from {from}");
        }
        let bcd = dir.path().join("BCD");
        std::fs::write(&bcd, mget("/EFI/Microsoft/Boot/BCD")).unwrap();

        // hivex reads the store and sees the objects.
        let reg = hivex_keys(&bcd).to_ascii_lowercase();
        for g in [
            "9dea862c-5cdd-4e70-acc1-f32b344d4795", // bootmgr
            "b2721d73-1db4-4c62-bf78-c548a880142d", // memdiag
            "7ea2e1ac-2e61-4728-aaa3-896d9d0a9f0e", // globalsettings
            "6efb52bf-1766-41db-a6b3-0ee5eff72bd7", // bootloadersettings
            "1afa9c49-16ab-4a5c-901b-212802da9460", // resumeloadersettings
        ] {
            assert!(reg.contains(&format!("[\\objects\\{{{g}}}]")), "{g}");
        }
        // Device elements name the partitions sgdisk reports.
        let store = bcd_json(&bcd);
        let gpt = |p: &str| {
            serde_json::json!({"kind": "gpt_partition",
                "partition_guid": format!("{{{p}}}"), "disk_guid": format!("{{{disk_guid}}}")})
        };
        assert_eq!(device(&store, "bootmgr", "11000001"), gpt(&esp_guid));
        assert_eq!(device(&store, "memdiag", "11000001"), gpt(&esp_guid));
        for id in ["11000001", "21000001"] {
            assert_eq!(device(&store, "loader", id), gpt(&win_guid), "loader {id}");
            assert_eq!(device(&store, "resume", id), gpt(&win_guid), "resume {id}");
        }
        // The hivex export carries the same bytes.
        let hex = |g: &str| {
            let u = uuid_le(g);
            u.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(
            reg.contains(&hex(&win_guid)),
            "windows partition GUID bytes"
        );
        assert!(reg.contains(&hex(&disk_guid)), "disk GUID bytes");
        if with_template {
            let dump = ok(wimforge().args(["bcd", "dump"]).arg(&bcd));
            assert!(dump.contains("Windows Setup"), "template entry kept");
            assert!(
                dump.contains("flightsigning"),
                "template bootmgr element kept"
            );
        }

        // Running it again replaces the files (same seed: same store).
        ok(wimforge()
            .args(["boot", "install", "--quiet"])
            .arg(&disk)
            .args(["--firmware", "uefi", "--seed", "9"]));
        let raw2 = raw_copy(&disk, dir.path());
        let esp2 = dir.path().join("esp2.img");
        cut(&raw2, esp_first, esp_last - esp_first + 1, &esp2);
        fsck_clean(&esp2);
        let again = dir.path().join("BCD2");
        ok(Command::new("mcopy")
            .arg("-n")
            .arg("-i")
            .arg(&esp2)
            .arg("::/EFI/Microsoft/Boot/BCD")
            .arg(&again));
        assert!(
            std::fs::read(&again).unwrap() == std::fs::read(&bcd).unwrap(),
            "same seed, same BCD bytes"
        );
    }
}

/// Mixed-endian bytes of a GUID string (as Windows stores GUIDs).
fn uuid_le(g: &str) -> Vec<u8> {
    let h: String = g.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut v = Vec::new();
    v.extend(b[0..4].iter().rev());
    v.extend(b[4..6].iter().rev());
    v.extend(b[6..8].iter().rev());
    v.extend(&b[8..16]);
    v
}

#[test]
fn bios_install_writes_into_ntfs_and_is_not_bootable() {
    if !tools(&["qemu-img", "sfdisk", "ntfscat", "hivexregedit", "dd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = tree(None);
    let disk = make_disk(dir.path(), "bios", &files, 1);
    let out = run(wimforge().args(["boot", "install"]).arg(&disk).args([
        "--firmware",
        "bios",
        "--seed",
        "3",
        "--json",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("BIOS disk is not bootable: no boot code"),
        "{stderr}"
    );
    let rep: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rep["bootable"], false);
    assert_eq!(rep["firmware"], "bios");
    assert!(rep["warnings"].as_array().unwrap().iter().any(|w| w
        .as_str()
        .unwrap()
        .contains("BIOS disk is not bootable: no boot code")));

    let raw = raw_copy(&disk, dir.path());
    let dump = ok(Command::new("sfdisk").arg("--dump").arg(&raw));
    let label_id = dump
        .lines()
        .find_map(|l| l.strip_prefix("label-id:"))
        .unwrap_or_else(|| panic!("no label-id\n{dump}"))
        .trim()
        .trim_start_matches("0x")
        .to_ascii_lowercase();
    let line = dump
        .lines()
        .find(|l| l.contains("start="))
        .unwrap_or_else(|| panic!("no partition\n{dump}"));
    let field = |k: &str| -> u64 {
        line.split([',', ':'])
            .find_map(|f| f.trim().strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {line}"))
            .trim()
            .trim_start_matches('=')
            .trim()
            .parse()
            .unwrap()
    };
    let (start, size) = (field("start"), field("size"));
    let fdisk = ok(Command::new("fdisk").arg("-l").arg(&raw));
    assert!(
        fdisk
            .to_ascii_lowercase()
            .contains(&format!("disk identifier: 0x{label_id}")),
        "{fdisk}"
    );
    let part = dir.path().join("part.img");
    cut(&raw, start, size, &part);
    let cat = |p: &str| -> Vec<u8> {
        let out = run(Command::new("ntfscat").arg(&part).arg(p));
        assert!(
            out.status.success(),
            "ntfscat {p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let src = |p: &str| files.iter().find(|(q, _)| q == p).unwrap().1.clone();
    assert!(cat("bootmgr") == src("Windows/Boot/PCAT/bootmgr"));
    assert!(cat("Boot/memtest.exe") == src("Windows/Boot/PCAT/memtest.exe"));
    assert!(cat("Boot/Fonts/wgl4_boot.ttf") == src("Windows/Boot/Fonts/wgl4_boot.ttf"));
    let bcd = dir.path().join("BCD");
    std::fs::write(&bcd, cat("Boot/BCD")).unwrap();
    let reg = hivex_keys(&bcd).to_ascii_lowercase();
    assert!(reg.contains("[\\objects\\{9dea862c-5cdd-4e70-acc1-f32b344d4795}]"));
    let store = bcd_json(&bcd);
    let mbr = serde_json::json!({"kind": "mbr_partition", "offset": start * 512,
        "disk_signature": label_id});
    assert_eq!(device(&store, "bootmgr", "11000001"), mbr);
    assert_eq!(device(&store, "memdiag", "11000001"), mbr);
    for id in ["11000001", "21000001"] {
        assert_eq!(device(&store, "loader", id), mbr, "loader {id}");
        assert_eq!(device(&store, "resume", id), mbr, "resume {id}");
    }
    let text = ok(wimforge().args(["bcd", "dump"]).arg(&bcd));
    assert!(text.contains("\\Windows\\system32\\winload.exe"), "{text}");
    // The volume is still consistent for ntfs-3g.
    if have("ntfsfix") {
        ok(Command::new("ntfsfix").arg("-n").arg(&part));
    }
}

#[test]
fn missing_boot_efi_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = tree(None)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("Windows/Boot/EFI"))
        .collect();
    let disk = make_disk(dir.path(), "uefi", &files, 3);
    let out = run(wimforge()
        .args(["boot", "install"])
        .arg(&disk)
        .args(["--firmware", "uefi"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\\Windows\\Boot\\EFI")
            && err.contains("is missing from the Windows partition"),
        "{err}"
    );
    // BIOS firmware on a GPT disk is refused.
    let out = run(wimforge()
        .args(["boot", "install"])
        .arg(&disk)
        .args(["--firmware", "bios"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MBR"));
}
