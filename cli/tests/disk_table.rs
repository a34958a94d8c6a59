//! `disk::read_table` on real partition tables (dissect.volume's fixtures:
//! GPT from Windows, 4K-sector GPT, ESXi, hybrid MBR, a Windows MBR)
//! compared with util-linux (`sfdisk --dump`, `fdisk -b 4096 -l`); and
//! 4 KiB-sector tables and ESPs we write, checked with `fdisk -b 4096` and
//! `fsck.fat`. Debian packages: fdisk, dosfstools.

mod support;

use blockdev::{BlockDev, FileDev, Window};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The fixtures hold only the start of each disk. Copy one and extend it
/// (sparse) to the size its table describes: for GPT, up to the backup
/// header LBA the primary header names; for MBR, the end of the last
/// partition.
fn extended_copy(name: &str, ss: u64, dir: &Path) -> Option<PathBuf> {
    let src = fixture(&format!("other/dissect-volume_{name}.bin"))?;
    let data = std::fs::read(&src).unwrap();
    let dst = dir.join(format!("{name}.img"));
    std::fs::write(&dst, &data).unwrap();
    let size = if data.len() as u64 >= 2 * ss && &data[ss as usize..ss as usize + 8] == b"EFI PART"
    {
        let alt = u64::from_le_bytes(data[ss as usize + 32..ss as usize + 40].try_into().unwrap());
        (alt + 1) * ss
    } else {
        (0..4)
            .map(|i| {
                let o = 0x1BE + 16 * i;
                let st = u32::from_le_bytes(data[o + 8..o + 12].try_into().unwrap()) as u64;
                let n = u32::from_le_bytes(data[o + 12..o + 16].try_into().unwrap()) as u64;
                (st + n) * 512
            })
            .max()
            .unwrap()
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(&dst)
        .unwrap()
        .set_len(size)
        .unwrap();
    Some(dst)
}

#[derive(Debug, PartialEq)]
struct Row {
    number: u32,
    start: u64,
    sectors: u64,
    kind: String,
    uuid: String,
    name: String,
    bootable: bool,
}

/// Parse `sfdisk --dump`: the header fields and one row per partition.
fn sfdisk(img: &Path) -> (BTreeMap<String, String>, Vec<Row>) {
    let out = ok(Command::new("sfdisk").args(["--dump", s(img)]));
    let mut head = BTreeMap::new();
    let mut rows = Vec::new();
    for line in out.lines() {
        if let Some((dev, rest)) = line.split_once(" : ") {
            let number: u32 = dev
                .trim()
                .trim_start_matches(s(img))
                .parse()
                .unwrap_or_else(|_| panic!("device {dev}"));
            let mut f = BTreeMap::new();
            let mut bootable = false;
            for part in rest.split(", ") {
                match part.split_once('=') {
                    Some((k, v)) => {
                        f.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
                    }
                    None => bootable |= part.trim() == "bootable",
                }
            }
            rows.push(Row {
                number,
                start: f["start"].parse().unwrap(),
                sectors: f["size"].parse().unwrap(),
                kind: f["type"].to_lowercase(),
                uuid: f.get("uuid").cloned().unwrap_or_default().to_lowercase(),
                name: f.get("name").cloned().unwrap_or_default(),
                bootable,
            });
        } else if let Some((k, v)) = line.split_once(": ") {
            head.insert(k.to_string(), v.to_string());
        }
    }
    (head, rows)
}

fn rows_of(plan: &disk::Plan) -> Vec<Row> {
    let ss = plan.logical_sector_size;
    plan.partitions
        .iter()
        .map(|p| Row {
            number: p.number,
            start: p.start_lba(ss),
            sectors: p.len / ss as u64,
            kind: match (p.type_guid, p.mbr_type) {
                (Some(t), _) => t.to_string(),
                (None, Some(t)) => format!("{t:x}"),
                _ => unreachable!(),
            },
            uuid: p.unique_guid.map(|u| u.to_string()).unwrap_or_default(),
            name: p.name.clone(),
            bootable: p.active,
        })
        .collect()
}

fn read(img: &Path, ss: u32) -> disk::Plan {
    disk::read_table(&FileDev::open(img, false).unwrap(), ss).unwrap()
}

#[test]
fn real_512_byte_tables_match_sfdisk() {
    if !have("sfdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in ["gpt", "gpt_esxi", "gpt_hybrid", "mbr"] {
        let Some(img) = extended_copy(name, 512, dir.path()) else {
            return;
        };
        let plan = read(&img, 512);
        let (head, rows) = sfdisk(&img);
        assert_eq!(rows_of(&plan), rows, "{name}");
        assert!(!rows.is_empty());
        match name {
            "mbr" => {
                assert_eq!(head["label"], "dos");
                assert_eq!(
                    head["label-id"],
                    format!("0x{:08x}", plan.mbr_signature.unwrap())
                );
                assert!(plan.has_boot_code, "the Windows MBR carries boot code");
                assert_eq!(plan.partitions[0].role, disk::Role::Windows);
            }
            _ => {
                assert_eq!(head["label"], "gpt");
                assert_eq!(
                    head["label-id"].to_lowercase(),
                    plan.disk_guid.unwrap().to_string()
                );
                assert_eq!(head["first-lba"], plan.first_usable_lba.to_string());
                assert_eq!(head["last-lba"], plan.last_usable_lba.to_string());
                // The fixtures end before their backup GPT.
                assert!(
                    plan.warnings.iter().any(|w| w.contains("backup GPT")),
                    "{name}: {:?}",
                    plan.warnings
                );
            }
        }
        if name == "gpt" {
            assert_eq!(plan.partitions[0].role, disk::Role::Esp);
            assert_eq!(plan.partitions[1].role, disk::Role::Windows);
        }
        if name == "gpt_hybrid" {
            assert!(plan.warnings.iter().any(|w| w.contains("hybrid MBR")));
        }
    }
}

#[test]
fn truncated_fixtures_give_errors_not_panics() {
    for name in ["gpt", "gpt_4k", "gpt_esxi", "gpt_hybrid", "mbr"] {
        let Some(src) = fixture(&format!("other/dissect-volume_{name}.bin")) else {
            return;
        };
        let dev = blockdev::MemDev::read_only(&std::fs::read(&src).unwrap());
        for ss in [512, 4096] {
            // Their partitions lie past the 32 KiB that were kept.
            let e = disk::read_table(&dev, ss).unwrap_err().to_string();
            let named = ["GPT header", "MBR partition entry", "no partition table"];
            assert!(named.iter().any(|n| e.contains(n)), "{name} {ss}: {e}");
        }
    }
}

/// One `fdisk -l` row: (device number, start, end, type, uuid, name).
type FdiskRow = (u32, u64, u64, String, String, String);

/// `fdisk -b 4096 -l -o ...`: the disk identifier and the rows.
fn fdisk4k(img: &Path) -> (String, Vec<FdiskRow>) {
    let out = ok(Command::new("fdisk").args([
        "-b",
        "4096",
        "-l",
        "-o",
        "Device,Start,End,Type-UUID,UUID,Name",
        s(img),
    ]));
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Disk identifier: "))
        .unwrap()
        .to_lowercase();
    let rows = out
        .lines()
        .filter(|l| l.starts_with(s(img)))
        .map(|l| {
            let mut w = l.split_whitespace();
            let n = w
                .next()
                .unwrap()
                .trim_start_matches(s(img))
                .parse()
                .unwrap();
            let start = w.next().unwrap().parse().unwrap();
            let end = w.next().unwrap().parse().unwrap();
            let t = w.next().unwrap().to_lowercase();
            let u = w.next().unwrap().to_lowercase();
            let name = w.collect::<Vec<_>>().join(" ");
            (n, start, end, t, u, name)
        })
        .collect();
    (id, rows)
}

fn fdisk_rows_of(plan: &disk::Plan) -> Vec<FdiskRow> {
    let ss = plan.logical_sector_size;
    plan.partitions
        .iter()
        .map(|p| {
            (
                p.number,
                p.start_lba(ss),
                p.last_lba(ss),
                p.type_guid.unwrap().to_string(),
                p.unique_guid.unwrap().to_string(),
                p.name.clone(),
            )
        })
        .collect()
}

#[test]
fn real_4k_table_matches_fdisk() {
    if !have("fdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(img) = extended_copy("gpt_4k", 4096, dir.path()) else {
        return;
    };
    let plan = read(&img, 4096);
    let (id, rows) = fdisk4k(&img);
    assert_eq!(id, plan.disk_guid.unwrap().to_string());
    assert_eq!(fdisk_rows_of(&plan), rows);
    assert_eq!(plan.first_usable_lba, 6);
    // Read with 512-byte sectors the same bytes are no GPT.
    assert!(disk::read_table(&FileDev::open(&img, false).unwrap(), 512).is_err());
}

/// A 4 KiB-sector UEFI table and ESP written by us: fdisk reads the
/// planned partitions without complaint, fsck.fat accepts the ESP.
/// (A whole 4K `disk create` is refused: the NTFS formatter writes
/// 512-byte-sector volumes only.)
#[test]
fn our_4k_table_and_esp_pass_fdisk_and_fsck() {
    if !have("fdisk") || !have("fsck.fat") || !have("mdir") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("4k.img");
    let plan = disk::plan(&disk::LayoutOptions {
        disk_size: 1 << 30,
        logical_sector_size: 4096,
        esp_size: 260 << 20,
        seed: Some(9),
        ..Default::default()
    })
    .unwrap();
    let dev = FileDev::create(&img, plan.disk_size).unwrap();
    disk::write_table(&dev, &plan).unwrap();
    let esp = plan.find(disk::Role::Esp).unwrap();
    let w = Window::new(&dev, esp.start, esp.len).unwrap();
    disk::format_esp_with(
        &w,
        &disk::EspFormat {
            label: "SYSTEM".into(),
            volume_id: 0x1234_abcd,
            bytes_per_sector: 4096,
            hidden_sectors: esp.start_lba(4096) as u32,
        },
    )
    .unwrap();
    let e = disk::Esp::open(&w).unwrap();
    e.create_dir_all("EFI/Boot").unwrap();
    e.write_file("EFI/Boot/bootx64.efi", &vec![0xAB; 70_000])
        .unwrap();
    e.close().unwrap();
    dev.flush().unwrap();
    assert_eq!(read(&img, 4096), plan);
    let l = run(Command::new("fdisk").args(["-b", "4096", "-l", s(&img)]));
    let err = String::from_utf8_lossy(&l.stderr);
    assert!(l.status.success() && err.trim().is_empty(), "fdisk: {err}");
    let (id, rows) = fdisk4k(&img);
    assert_eq!(id, plan.disk_guid.unwrap().to_string());
    assert_eq!(fdisk_rows_of(&plan), rows);
    // The ESP cut out.
    let cut = dir.path().join("esp.img");
    let mut buf = vec![0u8; esp.len as usize];
    dev.read_at(esp.start, &mut buf).unwrap();
    std::fs::write(&cut, &buf).unwrap();
    let f = run(Command::new("fsck.fat").args(["-n", "-v", s(&cut)]));
    let out = String::from_utf8_lossy(&f.stdout);
    assert!(f.status.success(), "{out}");
    assert!(out.contains("4096 bytes per logical sector"), "{out}");
    assert!(out.contains("32 bit entries"), "{out}");
    assert!(!out.contains("should be"), "{out}");
    let m = ok(Command::new("mdir").args(["-i", s(&cut), "::/EFI/Boot"]));
    assert!(m.contains("bootx64") && m.contains("70 000"), "{m}");
}
