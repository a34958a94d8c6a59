//! The real VHDX files in `shared/fixtures/real/vhdx/` (see INVENTORY.md):
//! each opens, reports what the inventory and `qemu-img info` say, and
//! reads the content the inventory states.

mod common;

use blockdev::BlockDev;
use common::*;
use std::process::Command;
use vhdx::{DiskType, OpenOptions, ParentSource, Vhdx};

const MIB: u64 = 1 << 20;

fn ro(p: &std::path::Path) -> Vhdx {
    Vhdx::open(p, OpenOptions::default()).unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
}

/// Every MiB of `d` in `range` is filled with `byte`.
fn assert_fill(d: &Vhdx, range: std::ops::Range<u64>, byte: u8) {
    let mut buf = vec![0u8; MIB as usize];
    let mut o = range.start;
    while o < range.end {
        let n = (range.end - o).min(MIB) as usize;
        d.read_at(o, &mut buf[..n]).unwrap();
        if let Some(p) = buf[..n].iter().position(|&b| b != byte) {
            panic!(
                "{}: byte at {:#x} is {:#x}, expected {byte:#x}",
                d.name(),
                o + p as u64,
                buf[p]
            );
        }
        o += n as u64;
    }
}

#[test]
fn hyperv_dynamic_sample() {
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), "qemu_iotest-dynamic-1G.vhdx") else {
        return;
    };
    let before = std::fs::read(&p).unwrap();
    let d = ro(&p);
    assert_eq!(d.virtual_size(), 1 << 30);
    assert_eq!(d.block_size(), 32 * MIB);
    assert_eq!(d.logical_sector_size(), 512);
    assert_eq!(d.physical_sector_size(), 4096);
    assert_eq!(d.disk_type(), DiskType::Dynamic);
    // The stale log entries (other GUID, header log GUID zero) are not replayed.
    assert!(!d.log_was_dirty());
    assert_eq!(d.allocated_blocks(), 3);
    assert!(d.creator().contains("Microsoft Windows"), "{}", d.creator());
    assert_fill(&d, 0..33 * MIB, 0xA5);
    assert_fill(&d, 33 * MIB..66 * MIB, 0x96);
    assert_fill(&d, 66 * MIB..1 << 30, 0);
    assert!(
        vhdx::check::check(&d).is_empty(),
        "{:?}",
        vhdx::check::check(&d)
    );
    drop(d);
    assert_eq!(
        std::fs::read(&p).unwrap(),
        before,
        "a read-only open changed the file"
    );
    if let Some(q) = qemu_info(&p) {
        assert_eq!(q["virtual-size"], 1u64 << 30);
        assert_eq!(q["cluster-size"], 32 * MIB);
    }
}

#[test]
fn hyperv_dynamic_sample_in_place_write() {
    // Writing into a Windows-made file goes through the log and leaves a
    // file qemu-img checks clean and reads back.
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), "qemu_iotest-dynamic-1G.vhdx") else {
        return;
    };
    {
        let d = Vhdx::open(
            &p,
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        d.write_at(99 * MIB, &vec![0xC3; (58 * MIB) as usize])
            .unwrap();
        d.close().unwrap();
    }
    let d = ro(&p);
    assert!(!d.log_was_dirty());
    assert_fill(&d, 0..33 * MIB, 0xA5);
    assert_fill(&d, 33 * MIB..66 * MIB, 0x96);
    assert_fill(&d, 66 * MIB..99 * MIB, 0);
    assert_fill(&d, 99 * MIB..157 * MIB, 0xC3);
    assert_fill(&d, 157 * MIB..200 * MIB, 0);
    assert!(
        vhdx::check::check(&d).is_empty(),
        "{:?}",
        vhdx::check::check(&d)
    );
    qemu_check(&p);
    sevenzip_ok(&p);
}

#[test]
fn dirty_log_sample_read_only_replays_in_memory() {
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), "qemu_iotest-dirtylog-10G-4M.vhdx") else {
        return;
    };
    let before = std::fs::read(&p).unwrap();
    let d = ro(&p);
    assert!(d.log_was_dirty());
    assert_eq!(d.virtual_size(), 10 << 30);
    assert_eq!(d.block_size(), MIB);
    assert_eq!(d.logical_sector_size(), 512);
    assert_eq!(d.physical_sector_size(), 512);
    assert_eq!(d.allocated_blocks(), 18);
    assert_fill(&d, 0..18 * MIB, 0xA5);
    assert_fill(&d, 18 * MIB..40 * MIB, 0);
    // check reports the dirty log.
    assert!(vhdx::check::check(&d)
        .iter()
        .any(|f| f.severity == vhdx::check::Severity::Error && f.message.contains("dirty")));
    drop(d);
    assert_eq!(
        std::fs::read(&p).unwrap(),
        before,
        "a read-only open wrote to the file"
    );
    // Without replay, block 17 would read zeros: prove the log mattered by
    // reading the raw BAT entry of block 17 in the file.
    let bat = u64::from_le_bytes(
        before[2 * MIB as usize + 17 * 8..2 * MIB as usize + 18 * 8]
            .try_into()
            .unwrap(),
    );
    assert_ne!(bat & 7, 6, "block 17 should only be present after replay");
}

#[test]
fn dirty_log_sample_read_write_replays_into_file() {
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), "qemu_iotest-dirtylog-10G-4M.vhdx") else {
        return;
    };
    {
        let d = Vhdx::open(
            &p,
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(d.log_was_dirty());
        d.close().unwrap();
    }
    let d = ro(&p);
    assert!(!d.log_was_dirty());
    assert_eq!(d.header().log_guid, uuid::Uuid::nil());
    assert_fill(&d, 0..18 * MIB, 0xA5);
    assert!(vhdx::check::check(&d)
        .iter()
        .all(|f| f.severity != vhdx::check::Severity::Error));
    drop(d);
    qemu_check(&p);
    if have("qemu-img") {
        // qemu agrees on the content after our replay.
        let raw = t.path().join("q.raw");
        let (ok, out) = run(Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&p)
            .arg(&raw));
        assert!(ok, "{out}");
        let mut b = vec![0u8; (19 * MIB) as usize];
        use std::io::Read;
        std::fs::File::open(&raw)
            .unwrap()
            .read_exact(&mut b)
            .unwrap();
        assert!(b[..(18 * MIB) as usize].iter().all(|&x| x == 0xA5));
        assert!(b[(18 * MIB) as usize..].iter().all(|&x| x == 0));
    }
}

#[test]
fn dirty_log_without_valid_entries_is_an_error() {
    // Wipe the log of the dirty sample: the header still names a log GUID.
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), "qemu_iotest-dirtylog-10G-4M.vhdx") else {
        return;
    };
    let mut b = std::fs::read(&p).unwrap();
    let h = vhdx::header::Header::parse(&b[64 << 10..(64 << 10) + 4096])
        .or_else(|_| vhdx::header::Header::parse(&b[128 << 10..(128 << 10) + 4096]))
        .unwrap();
    let lo = h.log_offset as usize;
    b[lo..lo + h.log_length as usize].fill(0);
    let e = match Vhdx::open_bytes(&b) {
        Ok(_) => panic!("opened a dirty file with an empty log"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("no valid entry sequence"), "{e}");
}

#[test]
fn disk2vhd_sample() {
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), "qemu_test-disk2vhd.vhdx") else {
        return;
    };
    let d = ro(&p);
    assert_eq!(d.virtual_size(), 256 * MIB);
    assert_eq!(d.block_size(), 2 * MIB);
    assert_eq!(d.allocated_blocks(), 128);
    let mut mbr = [0u8; 512];
    d.read_at(0, &mut mbr).unwrap();
    assert_eq!(&mbr[510..], &[0x55, 0xAA]);
    // One partition starting at LBA 128.
    assert_eq!(u32::from_le_bytes(mbr[454..458].try_into().unwrap()), 128);
    agrees_with_qemu_info(&d, &p);
    assert!(vhdx::check::check(&d)
        .iter()
        .all(|f| f.severity != vhdx::check::Severity::Error));
}

fn windows10(name: &str, kind: DiskType) {
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), name) else {
        return;
    };
    let d = ro(&p);
    assert_eq!(d.disk_type(), kind);
    assert!(
        d.creator().contains("Microsoft Windows 10.0"),
        "{}",
        d.creator()
    );
    let mut mbr = [0u8; 512];
    d.read_at(0, &mut mbr).unwrap();
    assert_eq!(&mbr[510..], &[0x55, 0xAA], "MBR signature");
    assert_eq!(mbr[446 + 4], 0x07, "partition 1 type is NTFS/exFAT (0x07)");
    let lba = u32::from_le_bytes(mbr[446 + 8..446 + 12].try_into().unwrap()) as u64;
    let mut boot = [0u8; 512];
    d.read_at(lba * 512, &mut boot).unwrap();
    assert_eq!(&boot[3..11], b"NTFS    ", "NTFS boot sector at LBA {lba}");
    assert!(vhdx::check::check(&d)
        .iter()
        .all(|f| f.severity != vhdx::check::Severity::Error));
    agrees_with_qemu_info(&d, &p);
    compare_with_qemu(&d, &p);
}

/// `qemu-img info` reports the same virtual size and block size.
fn agrees_with_qemu_info(d: &Vhdx, p: &std::path::Path) {
    if let Some(q) = qemu_info(p) {
        assert_eq!(q["virtual-size"], d.virtual_size(), "{}", p.display());
        assert_eq!(q["cluster-size"], d.block_size(), "{}", p.display());
    }
}

/// Our reading of the whole disk equals qemu-img's.
fn compare_with_qemu(d: &Vhdx, p: &std::path::Path) {
    if !have("qemu-img") {
        return;
    }
    let raw = p.with_extension("qemu.raw");
    let (ok, out) = run(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(p)
        .arg(&raw));
    assert!(ok, "{out}");
    let q = blockdev::FileDev::open(&raw, false).unwrap();
    assert_eq!(q.len(), d.virtual_size());
    let mut a = vec![0u8; 4 * MIB as usize];
    let mut b = vec![0u8; 4 * MIB as usize];
    let mut o = 0;
    while o < q.len() {
        let n = (q.len() - o).min(4 * MIB) as usize;
        d.read_at(o, &mut a[..n]).unwrap();
        q.read_at(o, &mut b[..n]).unwrap();
        assert!(
            a[..n] == b[..n],
            "{}: differs from qemu-img in MiB {}",
            p.display(),
            o / MIB
        );
        o += n as u64;
    }
    let _ = std::fs::remove_file(raw);
}

#[test]
fn windows10_dynamic_sample() {
    windows10("dissect-hypervisor_dynamic.vhdx", DiskType::Dynamic);
}

#[test]
fn windows10_fixed_sample() {
    windows10("dissect-hypervisor_fixed.vhdx", DiskType::Fixed);
}

#[test]
fn discutils_samples() {
    let t = tempfile::tempdir().unwrap();
    for (name, size) in [
        ("discutils_swap.vhdx", 10u64 << 30),
        ("discutils_btrfs.vhdx", 1 << 30),
        ("discutils_xfs.vhdx", 10 << 30),
    ] {
        let Some(p) = fixture(t.path(), name) else {
            continue;
        };
        let d = ro(&p);
        assert_eq!(d.disk_type(), DiskType::Dynamic);
        assert_eq!(d.virtual_size(), size, "{name}");
        assert!(vhdx::check::check(&d)
            .iter()
            .all(|f| f.severity != vhdx::check::Severity::Error));
        if let Some(q) = qemu_info(&p) {
            assert_eq!(q["virtual-size"], d.virtual_size(), "{name}");
            assert_eq!(q["cluster-size"], d.block_size(), "{name}");
        }
        // Full comparison on the 1 GiB disk; the 10 GiB ones would cost
        // tens of seconds of hole reading for no extra coverage.
        if name == "discutils_btrfs.vhdx" {
            compare_with_qemu(&d, &p);
        }
        drop(d);
        std::fs::remove_file(&p).unwrap();
    }
}

#[test]
fn open_bytes_reads_fixture() {
    let t = tempfile::tempdir().unwrap();
    let Some(p) = fixture(t.path(), "qemu_iotest-dynamic-1G.vhdx") else {
        return;
    };
    let d = Vhdx::open_bytes(&std::fs::read(&p).unwrap()).unwrap();
    let mut b = [0u8; 4];
    d.read_at(34 * MIB, &mut b).unwrap();
    assert_eq!(b, [0x96; 4]);
    let _ = ParentSource::Skip;
}
