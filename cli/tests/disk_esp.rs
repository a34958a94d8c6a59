//! `disk::Esp` (FAT through `fatfs` on a block device) against dosfstools
//! (`fsck.fat -n`) and mtools (`mdir`, `mcopy`), on volumes we format and
//! on real FAT12/16/32 images made by mkfs.fat (dissect.fat's fixtures).
//! Debian packages: dosfstools, mtools, gzip.

mod support;

use blockdev::{BlockDev, FileDev, MemDev};
use std::path::Path;
use std::process::Command;
use support::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// fsck.fat -n prints its banner and the summary line, nothing else.
fn fsck_clean(img: &Path) {
    let out = run(Command::new("fsck.fat").args(["-n", s(img)]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "fsck.fat: {text}");
    assert_eq!(text.lines().count(), 2, "fsck.fat reported: {text}");
}

/// A deterministic byte pattern.
fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ salt)
        .collect()
}

#[test]
fn written_tree_passes_fsck_and_reads_back_in_mtools() {
    if !have("fsck.fat") || !have("mdir") || !have("mcopy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (size, bps) in [(200u64 << 20, 512u16), (64 << 20, 512), (260 << 20, 4096)] {
        let img = dir.path().join(format!("esp-{bps}-{size}.img"));
        let dev = FileDev::create(&img, size).unwrap();
        disk::format_esp_with(
            &dev,
            &disk::EspFormat {
                label: "System".into(),
                volume_id: 0xCAFE_F00D,
                bytes_per_sector: bps,
                hidden_sectors: 2048,
            },
        )
        .unwrap();
        fsck_clean(&img);
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("EFI/Microsoft/Boot/bootmgfw.efi", pattern(1_500_000, 1)),
            ("EFI/Microsoft/Boot/BCD", pattern(32_768, 2)),
            (
                "EFI/Microsoft/Boot/en-US/bootmgfw.efi.mui",
                pattern(70_001, 3),
            ),
            ("EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf", pattern(1, 4)),
            ("EFI/Boot/bootx64.efi", pattern(1_500_000, 1)),
            ("EFI/Microsoft/Boot/empty.txt", Vec::new()),
        ];
        {
            let esp = disk::Esp::open_with(
                &dev,
                &disk::EspOptions {
                    time: Some(disk::SEEDED_TIME),
                },
            )
            .unwrap();
            assert_eq!(esp.volume_label(), "SYSTEM");
            for d in [
                "EFI/Microsoft/Boot/en-US",
                "EFI/Microsoft/Boot/Fonts",
                "EFI/Boot",
            ] {
                esp.create_dir_all(d).unwrap();
            }
            // Again: existing directories are fine.
            esp.create_dir_all("EFI/Microsoft/Boot").unwrap();
            for (p, data) in &files {
                esp.write_file(p, data).unwrap();
            }
            // Overwrite with shorter contents.
            esp.write_file("EFI/Microsoft/Boot/BCD", b"short").unwrap();
            esp.close().unwrap();
        }
        dev.flush().unwrap();
        fsck_clean(&img);
        let m = ok(Command::new("mdir").args(["-i", s(&img), "::/EFI/Microsoft/Boot"]));
        for n in ["bootmgfw", "en-US", "Fonts", "BCD"] {
            assert!(m.contains(n), "{m}");
        }
        // Timestamps come from the fixed clock: 2000-01-01 00:00.
        assert!(m.contains("2000-01-01"), "{m}");
        for (p, data) in &files {
            let out = dir.path().join("x");
            let _ = std::fs::remove_file(&out);
            ok(Command::new("mcopy").args(["-n", "-i", s(&img), &format!("::/{p}"), s(&out)]));
            let want: &[u8] = if p.ends_with("BCD") { b"short" } else { data };
            assert_eq!(std::fs::read(&out).unwrap(), want, "{p}");
        }
        // Our reader agrees.
        let esp = disk::Esp::open(&dev).unwrap();
        let mut l = esp.list("EFI/Microsoft/Boot").unwrap();
        l.sort();
        let names: Vec<_> = l.iter().map(|e| (e.0.as_str(), e.1)).collect();
        assert_eq!(
            names,
            vec![
                ("BCD", false),
                ("Fonts", true),
                ("bootmgfw.efi", false),
                ("empty.txt", false),
                ("en-US", true)
            ]
        );
        assert_eq!(esp.read_file("EFI/Boot/bootx64.efi").unwrap(), files[4].1);
    }
}

#[test]
fn real_fat_images_read_like_mtools() {
    if !have("mdir") || !have("mcopy") || !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for kind in ["fat12", "fat16", "fat32"] {
        let Some(gz) = fixture(&format!("other/dissect-fat_{kind}.bin.gz")) else {
            return;
        };
        let out = run(Command::new("gzip").args(["-dc", s(&gz)]));
        assert!(out.status.success());
        let img = dir.path().join(format!("{kind}.img"));
        std::fs::write(&img, &out.stdout).unwrap();
        let dev = MemDev::read_only(&out.stdout);
        let esp = disk::Esp::open(&dev).unwrap();
        // Walk every directory; compare names with mdir and contents
        // with mcopy.
        let mut stack = vec![String::new()];
        let mut files = 0;
        while let Some(d) = stack.pop() {
            let ours = esp.list(&d).unwrap();
            let mdir =
                ok(Command::new("mdir").args(["-a", "-b", "-i", s(&img), &format!("::/{d}")]));
            let mut theirs: Vec<String> = mdir
                .lines()
                .map(|l| {
                    l.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .filter(|n| n != "." && n != ".." && !n.is_empty())
                .collect();
            theirs.sort();
            let mut names: Vec<String> = ours.iter().map(|e| e.0.clone()).collect();
            names.sort();
            assert_eq!(names, theirs, "{kind} ::/{d}");
            for (name, is_dir, size) in ours {
                let p = if d.is_empty() {
                    name.clone()
                } else {
                    format!("{d}/{name}")
                };
                if is_dir {
                    stack.push(p);
                } else {
                    let o = dir.path().join("out");
                    let _ = std::fs::remove_file(&o);
                    ok(Command::new("mcopy").args([
                        "-n",
                        "-i",
                        s(&img),
                        &format!("::/{p}"),
                        s(&o),
                    ]));
                    let want = std::fs::read(&o).unwrap();
                    let got = esp.read_file(&p).unwrap();
                    assert_eq!(got.len() as u64, size, "{kind} {p}");
                    assert_eq!(got, want, "{kind} {p}");
                    files += 1;
                }
            }
        }
        assert!(files > 0, "{kind}: no files found");
    }
}

/// Random damage to the first 64 KiB of real FAT images (boot sector,
/// FATs, root directory): opening, listing and reading never panic.
#[test]
fn damaged_real_images_never_panic() {
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (kind, rounds) in [("fat12", 500), ("fat16", 500), ("fat32", 60)] {
        let Some(gz) = fixture(&format!("other/dissect-fat_{kind}.bin.gz")) else {
            return;
        };
        let out = run(Command::new("gzip").args(["-dc", s(&gz)]));
        assert!(out.status.success());
        let image = out.stdout;
        for _ in 0..rounds {
            let mut m = image.clone();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() as usize) % (64 * 1024).min(m.len());
                m[at] = next() as u8;
            }
            let dev = MemDev::from_vec(m);
            let opened = disk::Esp::open(&dev);
            if let Ok(esp) = opened {
                let mut stack = vec![String::new()];
                let mut dirs = 0;
                while let Some(d) = stack.pop() {
                    dirs += 1;
                    if dirs > 100 {
                        break;
                    }
                    let Ok(list) = esp.list(&d) else { continue };
                    for (name, is_dir, _) in list.into_iter().take(50) {
                        let p = format!("{d}/{name}");
                        if is_dir {
                            stack.push(p);
                        } else {
                            let _ = esp.read_file(&p);
                        }
                    }
                }
            }
        }
    }
}
