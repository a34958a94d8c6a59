//! Boot proof: disks made by `wimforge build` boot under real UEFI firmware
//! and check themselves from inside.
//!
//! OVMF (Debian package `ovmf`) in `qemu-system-x86_64` reads the built
//! VHDX through qemu's own VHDX driver, finds our GPT, mounts our FAT32
//! ESP and starts `\EFI\Boot\bootx64.efi` — what Hyper-V Gen 2 firmware
//! does with a disk that has no boot entries. There the build put the
//! image's `Windows\Boot\EFI\bootmgfw.efi`, which in these tests is a Linux
//! payload (see `bootproof_util`) that checks, from the guest's own view of
//! the disk, the partition table, the ESP and the Windows partition
//! (ntfs-3g) against the host's expectations and prints one verdict line
//! on the serial console.
//!
//! Not proven here: Microsoft's boot manager reading our BCD, and Windows
//! itself. BIOS disks carry no boot code of ours and are verified
//! structurally only (other tests).
//!
//! Debian packages: qemu-system-x86 ovmf binutils wimtools ntfs-3g
//! qemu-utils libvhdi-utils gdisk mtools (+ the payload's .deb files,
//! fetched with apt-get download).

mod bootproof_util;
mod support;

use bootproof_util::*;
use std::process::Command;
use support::*;

fn ready() -> Option<&'static Prepared> {
    if !boot_tools() {
        return None;
    }
    prepared()
}

#[test]
fn dynamic_vhdx_boots_under_uefi_and_checks_itself() {
    let Some(prep) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (disk, report) = build(prep, dir.path(), "dynamic", "dynamic");
    let e = expectations(prep, &disk, &report, dir.path());
    let b = boot(&disk, "vhdx", &e, dir.path());
    b.assert_passed(&e);
    assert_eq!(b.ended, Ended::Exited, "{}", b.summary());
}

#[test]
fn fixed_vhdx_boots_under_uefi_and_checks_itself() {
    let Some(prep) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (disk, report) = build(prep, dir.path(), "fixed", "fixed");
    let info = ok(Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&disk));
    assert!(info.contains("\"format\": \"vhdx\""), "{info}");
    // A fixed disk holds every block: the file is larger than the disk.
    assert!(std::fs::metadata(&disk).unwrap().len() > 1 << 30);
    let e = expectations(prep, &disk, &report, dir.path());
    let b = boot(&disk, "vhdx", &e, dir.path());
    b.assert_passed(&e);
}

/// qemu's VHDX driver does not open differencing disks (block/vhdx.c:
/// "Currently unsupported"), so the chain is read by libvhdi instead: its
/// `vhdimount` serves the child, resolved through our parent locator, as a
/// raw disk to the VM. A file written into the child only must be there
/// as well as everything of the parent's.
#[test]
fn differencing_child_boots_with_the_parents_data() {
    let Some(prep) = ready() else { return };
    if !(have("vhdimount") && have("fusermount")) {
        return;
    }
    if !std::path::Path::new("/dev/fuse").exists() {
        missing("/dev/fuse (vhdimount serves the differencing chain through FUSE)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (parent, report) = build(prep, dir.path(), "parent", "dynamic");
    let e0 = expectations(prep, &parent, &report, dir.path());
    let child = dir.path().join("child.vhdx");
    ok(wimforge()
        .args(["-q", "vhdx", "create", "--type", "differencing", "--parent"])
        .arg(&parent)
        .arg(&child));
    let note = dir.path().join("note.txt");
    std::fs::write(&note, "written into the differencing child only\r\n").unwrap();
    let (win_n, ..) = part(&report, "windows");
    ok(wimforge()
        .args(["-q", "ntfs", "put"])
        .arg(&child)
        .args(["--partition", &win_n.to_string()])
        .arg(&note)
        .arg("Windows/wimforge-child-note.txt"));
    // The parent is untouched; the child holds only what was written.
    let child_len = std::fs::metadata(&child).unwrap().len();
    assert!(child_len < 64 << 20, "child is {child_len} bytes");
    ok(wimforge().args(["vhdx", "check"]).arg(&parent));

    let mut e = e0;
    e.add_ntfs_file("Windows/wimforge-child-note.txt", &sha256_file(&note));
    let m = VhdiMount::new(&child, &dir.path().join("chain"));
    let layers = m.layers();
    assert_eq!(layers.len(), 2, "vhdimount layers: {layers:?}");
    let b = boot(&layers[1], "raw", &e, dir.path());
    drop(m);
    b.assert_passed(&e);
}

/// The ESP entry of the table says "basic data" instead of "EFI system
/// partition" (sgdisk rewrites both tables and their CRCs). OVMF boots any
/// FAT file system it finds, so the payload may still run: the verdict must
/// then be FAIL, naming the partition type. The same boot also shows that
/// a file of the Windows partition read back with other bytes than the
/// host expects fails its check (the expected SHA-256 of SYSTEM is spoilt).
#[test]
fn wrong_esp_type_fails_the_boot_proof() {
    let Some(prep) = ready() else { return };
    if !have("sgdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (disk, report) = build(prep, dir.path(), "good", "dynamic");
    let mut e = expectations(prep, &disk, &report, dir.path());
    let system = "Windows/System32/config/SYSTEM";
    e.spoil_ntfs_file(system);
    let (esp_n, ..) = part(&report, "esp");
    let bad = edited_copy(&disk, dir.path(), "esp-type", |raw| {
        ok(Command::new("sgdisk")
            .arg("-t")
            .arg(format!("{esp_n}:0700"))
            .arg(raw));
        let i = ok(Command::new("sgdisk")
            .arg("-i")
            .arg(esp_n.to_string())
            .arg(raw));
        assert!(i.contains(BASIC_DATA_TYPE), "{i}");
    });
    let b = boot(&bad, "vhdx", &e, dir.path());
    match b.verdict.as_deref() {
        None => {}
        Some(v) => {
            let failed: Vec<&str> = v
                .split_once("failed:")
                .map(|(_, l)| l.split_whitespace().collect())
                .unwrap_or_default();
            assert!(v.starts_with("FAIL 2/"), "{}", b.summary());
            assert_eq!(
                failed,
                [format!("part{esp_n}.type"), format!("ntfs.file:{system}")],
                "{}",
                b.summary()
            );
        }
    }
}

/// `\EFI\Boot\bootx64.efi` renamed (mtools): the firmware finds no loader
/// on the disk and the payload never runs.
#[test]
fn moved_bootx64_fails_the_boot_proof() {
    let Some(prep) = ready() else { return };
    if !(have("mren") && have("mdir")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (disk, report) = build(prep, dir.path(), "good", "dynamic");
    let e = expectations(prep, &disk, &report, dir.path());
    let (_, esp_start, ..) = part(&report, "esp");
    let bad = edited_copy(&disk, dir.path(), "moved", |raw| {
        let img = format!("{}@@{esp_start}", raw.display());
        ok(Command::new("mren").env("MTOOLS_SKIP_CHECK", "1").args([
            "-i",
            &img,
            "::/EFI/Boot/bootx64.efi",
            "::/EFI/Boot/bootx64.old",
        ]));
        let l = ok(Command::new("mdir").env("MTOOLS_SKIP_CHECK", "1").args([
            "-i",
            &img,
            "::/EFI/Boot",
        ]));
        assert!(!l.to_uppercase().contains("BOOTX64  EFI"), "{l}");
    });
    let b = boot(&bad, "vhdx", &e, dir.path());
    assert_eq!(b.verdict, None, "{}", b.summary());
    assert!(!b.init_started(), "{}", b.summary());
    assert_ne!(b.ended, Ended::Exited, "{}", b.summary());
}

/// The ESP's FAT32 boot sector zeroed: the firmware cannot read the file
/// system and the payload never runs.
#[test]
fn damaged_fat_boot_sector_fails_the_boot_proof() {
    let Some(prep) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (disk, report) = build(prep, dir.path(), "good", "dynamic");
    let e = expectations(prep, &disk, &report, dir.path());
    let (_, esp_start, ..) = part(&report, "esp");
    let bad = edited_copy(&disk, dir.path(), "fat", |raw| {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(raw).unwrap();
        f.write_all_at(&[0u8; 512], esp_start).unwrap();
    });
    let b = boot(&bad, "vhdx", &e, dir.path());
    assert_eq!(b.verdict, None, "{}", b.summary());
    assert!(!b.init_started(), "{}", b.summary());
    assert_ne!(b.ended, Ended::Exited, "{}", b.summary());
}
