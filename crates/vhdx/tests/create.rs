//! Files we create: validators accept them, they read back what was
//! written, and files qemu-img writes read back identical.

mod common;

use blockdev::{BlockDev, FileDev};
use common::*;
use std::path::Path;
use std::process::Command;
use vhdx::{CreateKind, CreateOptions, GuidSource, OpenOptions, Vhdx};

const MIB: u64 = 1 << 20;

fn opts(size: u64, kind: CreateKind) -> CreateOptions {
    CreateOptions {
        size,
        kind,
        guids: GuidSource::Seeded("test".into()),
        ..Default::default()
    }
}

fn validate(p: &Path, d_size: u64, block: u64, logical: u32, physical: u32) {
    if logical == 512 {
        qemu_check(p);
        if let Some(q) = qemu_info(p) {
            assert_eq!(q["format"], "vhdx");
            assert_eq!(q["virtual-size"], d_size);
            assert_eq!(q["cluster-size"], block);
        }
    }
    sevenzip_ok(p);
    if let Some(out) = vhdiinfo(p) {
        assert!(out.contains(&format!("({d_size} bytes)")), "{out}");
        assert!(
            out.contains(&format!("Bytes per sector\t: {logical} bytes")),
            "{out}"
        );
    }
    let d = Vhdx::open(p, OpenOptions::default()).unwrap();
    assert_eq!(d.physical_sector_size(), physical);
    let f = vhdx::check::check(&d);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn dynamic_empty_and_written() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("d.vhdx");
    vhdx::create_file(&p, &opts(10 << 30, CreateKind::Dynamic), None, |_| Ok(())).unwrap();
    // Windows layout: file ends right after the BAT (3 MiB + 1 MiB).
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 4 * MIB);
    validate(&p, 10 << 30, 32 * MIB, 512, 4096);
    {
        let d = Vhdx::open(
            &p,
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        d.write_at(5 * MIB + 7, b"hello").unwrap();
        d.write_at((10 << 30) - 512, &[0x5A; 512]).unwrap();
        // A zero write into an unallocated block does not allocate it.
        d.write_at(3 << 30, &vec![0; 8 * MIB as usize]).unwrap();
        assert_eq!(d.allocated_blocks(), 2);
        d.close().unwrap();
    }
    validate(&p, 10 << 30, 32 * MIB, 512, 4096);
    let d = Vhdx::open(&p, OpenOptions::default()).unwrap();
    let mut b = [0u8; 5];
    d.read_at(5 * MIB + 7, &mut b).unwrap();
    assert_eq!(&b, b"hello");
    assert_eq!(d.allocated_blocks(), 2);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 4 * MIB + 64 * MIB);
}

#[test]
fn fixed_is_contiguous_and_fully_present() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("f.vhdx");
    let mut o = opts(100 * MIB, CreateKind::Fixed);
    o.block_size = 2 << 20;
    vhdx::create_file(&p, &o, None, |d| {
        d.write_at(MIB, &[1u8; 4096])
            .map_err(|e| vhdx::Error::InvalidArgument(e.to_string()))
    })
    .unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 4 * MIB + 100 * MIB);
    validate(&p, 100 * MIB, 2 * MIB, 512, 4096);
    if let Some(l) = sevenzip_list(&p) {
        assert!(
            l.contains("Method = fixed\n") || l.contains("Method = fixed\r"),
            "{l}"
        );
    }
    let d = Vhdx::open(&p, OpenOptions::default()).unwrap();
    assert_eq!(d.disk_type(), vhdx::DiskType::Fixed);
    assert_eq!(d.allocated_blocks(), 50);
    for i in 0..50 {
        let e = d.block_entry(i);
        assert_eq!(e.state_bits(), vhdx::bat::FULLY_PRESENT);
        assert_eq!(e.file_offset(), 4 * MIB + i * 2 * MIB);
    }
}

#[test]
fn four_k_sectors_end_to_end() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("k.vhdx");
    let mut o = opts(3 << 30, CreateKind::Dynamic);
    o.logical_sector_size = 4096;
    o.physical_sector_size = 4096;
    let mut rng = Rng(7);
    let mut data = vec![0u8; 3 * MIB as usize];
    rng.fill(&mut data);
    vhdx::create_file(&p, &o, None, |d| {
        d.write_at(40 * MIB - 4096, &data).unwrap();
        Ok(())
    })
    .unwrap();
    validate(&p, 3 << 30, 32 * MIB, 4096, 4096);
    let d = Vhdx::open(&p, OpenOptions::default()).unwrap();
    assert_eq!(d.logical_sector_size(), 4096);
    // chunk ratio with 4 KiB sectors and 32 MiB blocks.
    assert_eq!(d.geometry().chunk_ratio, 1024);
    let mut back = vec![0u8; data.len()];
    d.read_at(40 * MIB - 4096, &mut back).unwrap();
    assert!(back == data);
}

#[test]
fn block_sizes_and_sector_combinations() {
    let t = tempfile::tempdir().unwrap();
    for (bs, ls, ps) in [
        (1u32 << 20, 512u32, 512u32),
        (256 << 20, 512, 4096),
        (8 << 20, 4096, 4096),
    ] {
        let p = t.path().join(format!("b{bs}-{ls}-{ps}.vhdx"));
        let mut o = opts(20 << 30, CreateKind::Dynamic);
        o.block_size = bs;
        o.logical_sector_size = ls;
        o.physical_sector_size = ps;
        vhdx::create_file(&p, &o, None, |d| {
            d.write_at(bs as u64 - 100, &[9u8; 200]).unwrap();
            Ok(())
        })
        .unwrap();
        validate(&p, 20 << 30, bs as u64, ls, ps);
    }
}

#[test]
fn invalid_parameters_are_rejected() {
    let t = tempfile::tempdir().unwrap();
    for (size, bs, ls) in [
        (10 * MIB, 3 << 20, 512u32),
        (10 * MIB, 512 << 20, 512),
        (100, 1 << 20, 512),
        (0, 1 << 20, 512),
        (65u64 << 40, 32 << 20, 512),
        (10 * MIB, 1 << 20, 1024),
    ] {
        let p = t.path().join("bad.vhdx");
        let mut o = opts(size, CreateKind::Dynamic);
        o.block_size = bs;
        o.logical_sector_size = ls;
        assert!(
            vhdx::create_file(&p, &o, None, |_| Ok(())).is_err(),
            "{size} {bs} {ls}"
        );
        assert!(!p.exists());
    }
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
}

#[test]
fn failed_fill_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("x.vhdx");
    let r = vhdx::create_file(&p, &opts(MIB * 64, CreateKind::Dynamic), None, |_| {
        Err(vhdx::Error::InvalidArgument("boom".into()))
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
}

#[test]
fn seeded_creation_is_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.vhdx");
    let b = t.path().join("b.vhdx");
    for p in [&a, &b] {
        vhdx::create_file(p, &opts(1 << 30, CreateKind::Dynamic), None, |d| {
            d.write_at(12345, b"same").unwrap();
            Ok(())
        })
        .unwrap();
    }
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    let mut o = opts(1 << 30, CreateKind::Dynamic);
    o.guids = GuidSource::Seeded("other".into());
    let c = t.path().join("c.vhdx");
    vhdx::create_file(&c, &o, None, |_| Ok(())).unwrap();
    let dc = Vhdx::open(&c, OpenOptions::default()).unwrap();
    let da = Vhdx::open(&a, OpenOptions::default()).unwrap();
    assert_ne!(dc.params().virtual_disk_id, da.params().virtual_disk_id);
}

/// A raw image with a pattern: random MiBs, 0xA5 runs and holes.
fn pattern_raw(p: &Path, size: u64) -> Vec<u8> {
    let mut rng = Rng(42);
    let mut v = vec![0u8; size as usize];
    for m in 0..size / MIB {
        let s = &mut v[(m * MIB) as usize..((m + 1) * MIB) as usize];
        match rng.below(4) {
            0 => rng.fill(s),
            1 => s.fill(0xA5),
            2 => s[100..200].fill(3),
            _ => {}
        }
    }
    std::fs::write(p, &v).unwrap();
    v
}

#[test]
fn qemu_written_files_read_back_identical() {
    if !have("qemu-img") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("src.raw");
    let v = pattern_raw(&raw, 72 * MIB);
    for (name, o) in [
        ("qd.vhdx", "subformat=dynamic"),
        ("qd1m.vhdx", "subformat=dynamic,block_size=1M"),
        ("qf.vhdx", "subformat=fixed,block_state_zero=off"),
    ] {
        let q = t.path().join(name);
        let (ok, out) = run(Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "vhdx", "-o", o])
            .arg(&raw)
            .arg(&q));
        assert!(ok, "{out}");
        let d = Vhdx::open(&q, OpenOptions::default()).unwrap();
        let mut back = vec![0u8; v.len()];
        d.read_at(0, &mut back).unwrap();
        assert!(back == v, "{name} reads back differently");
        let f = vhdx::check::check(&d);
        assert!(
            f.iter().all(|x| x.severity != vhdx::check::Severity::Error),
            "{name}: {f:?}"
        );
        drop(d);
        // In-place write into a qemu-made file stays valid for qemu.
        let d = Vhdx::open(
            &q,
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        d.write_at(70 * MIB, &[0xEE; 8192]).unwrap();
        d.close().unwrap();
        drop(d);
        qemu_check(&q);
    }
}

#[test]
fn raw_to_vhdx_conversion_is_identical_for_qemu() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("src.raw");
    let v = pattern_raw(&raw, 100 * MIB + 4096);
    let src = FileDev::open(&raw, false).unwrap();
    for (kind, bs) in [
        (CreateKind::Dynamic, 1u32 << 20),
        (CreateKind::Dynamic, 32 << 20),
        (CreateKind::Fixed, 2 << 20),
    ] {
        let out = t.path().join(format!("o{bs}.vhdx"));
        let mut o = opts(0, kind);
        o.block_size = bs;
        vhdx::convert::to_vhdx(&src, &out, &o, &|_| {}).unwrap();
        let d = Vhdx::open(&out, OpenOptions::default()).unwrap();
        let mut back = vec![0u8; v.len()];
        d.read_at(0, &mut back).unwrap();
        assert!(back == v);
        drop(d);
        validate(&out, v.len() as u64, bs as u64, 512, 4096);
        if have("qemu-img") {
            let (ok, out) = run(Command::new("qemu-img")
                .args(["compare", "-f", "raw", "-F", "vhdx"])
                .arg(&raw)
                .arg(&out));
            assert!(ok && out.contains("identical"), "{out}");
        }
    }
}

#[test]
fn partition_window_over_vhdx() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("w.vhdx");
    vhdx::create_file(&p, &opts(64 * MIB, CreateKind::Dynamic), None, |d| {
        let part = blockdev::Window::new(d, MIB, 32 * MIB).unwrap();
        part.write_at(0, b"partition start").unwrap();
        assert!(part.write_at(32 * MIB - 1, b"xx").is_err());
        assert!(part.known_zero(32 * MIB - 4096, 4096));
        assert!(!part.known_zero(0, 4096));
        Ok(())
    })
    .unwrap();
    let d = Vhdx::open(&p, OpenOptions::default()).unwrap();
    let mut b = [0u8; 15];
    d.read_at(MIB, &mut b).unwrap();
    assert_eq!(&b, b"partition start");
}
