//! Differencing disks: a child of our own base reads as parent + child;
//! missing parents and linkage mismatches fail clearly.

mod common;

use blockdev::BlockDev;
use common::*;
use std::path::Path;
use vhdx::{CreateKind, CreateOptions, GuidSource, OpenOptions, ParentSource, Vhdx};

const MIB: u64 = 1 << 20;

fn make_base(p: &Path, size: u64, logical: u32) -> Vec<u8> {
    let mut model = vec![0u8; size as usize];
    let mut rng = Rng(99);
    for m in (0..size / MIB).step_by(3) {
        rng.fill(&mut model[(m * MIB) as usize..((m + 1) * MIB) as usize]);
    }
    let o = CreateOptions {
        size,
        block_size: 2 << 20,
        logical_sector_size: logical,
        guids: GuidSource::Seeded("base".into()),
        ..Default::default()
    };
    vhdx::create_file(p, &o, None, |d| {
        d.write_at(0, &model).unwrap();
        Ok(())
    })
    .unwrap();
    model
}

fn make_child(parent: &Path, child: &Path, block: u32) {
    let pd = Vhdx::open(parent, OpenOptions::default()).unwrap();
    let o = CreateOptions {
        kind: CreateKind::Differencing,
        block_size: block,
        parent: Some(vhdx::parent_info_for(&pd, parent, child)),
        ..Default::default()
    };
    vhdx::create_file(child, &o, Some(pd), |_| Ok(())).unwrap();
}

fn rw(p: &Path) -> Vhdx {
    Vhdx::open(
        p,
        OpenOptions {
            writable: true,
            ..Default::default()
        },
    )
    .unwrap()
}

fn assert_reads(d: &Vhdx, model: &[u8]) {
    let mut back = vec![0u8; model.len()];
    d.read_at(0, &mut back).unwrap();
    if back != model {
        let i = back.iter().zip(model).position(|(a, b)| a != b).unwrap();
        panic!("{}: first difference at {i:#x}", d.name());
    }
}

fn chain(logical: u32) {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base.vhdx");
    let child = t.path().join("sub/child.vhdx");
    let grand = t.path().join("grand.vhdx");
    std::fs::create_dir(t.path().join("sub")).unwrap();
    let mut model = make_base(&base, 64 * MIB, logical);
    make_child(&base, &child, 1 << 20);
    {
        let d = rw(&child);
        assert_eq!(d.disk_type(), vhdx::DiskType::Differencing);
        assert_reads(&d, &model);
        let mut rng = Rng(5);
        // Unaligned, sector-crossing, block-crossing writes.
        for _ in 0..200 {
            let len = 1 + rng.below(70_000) as usize;
            let off = rng.below(model.len() as u64 - len as u64);
            let mut b = vec![0u8; len];
            if rng.below(5) != 0 {
                rng.fill(&mut b);
            }
            d.write_at(off, &b).unwrap();
            model[off as usize..off as usize + len].copy_from_slice(&b);
        }
        // A whole-block write.
        d.write_at(10 * MIB, &vec![0x77; MIB as usize]).unwrap();
        model[(10 * MIB) as usize..(11 * MIB) as usize].fill(0x77);
        assert_reads(&d, &model);
        d.close().unwrap();
    }
    let d = Vhdx::open(&child, OpenOptions::default()).unwrap();
    assert_reads(&d, &model);
    let f = vhdx::check::check(&d);
    assert!(f.is_empty(), "{f:?}");
    let loc = d.params().parent_locator.clone().unwrap();
    assert_eq!(loc.get("relative_path"), Some("..\\base.vhdx"));
    assert!(loc.get("absolute_win32_path").is_some());
    assert_eq!(
        loc.parent_linkage(),
        Some(d.parent().unwrap().data_write_guid())
    );
    drop(d);
    // (7-Zip on Linux cannot follow "..\" parent paths; it is checked on a
    // same-directory child in `same_dir_child_validators`.)
    if let Some(out) = vhdiinfo(&child) {
        assert!(out.contains("Differential"), "{out}");
    }
    // A grandchild.
    make_child(&child, &grand, 2 << 20);
    {
        let d = rw(&grand);
        d.write_at(MIB + 3, b"grand").unwrap();
        model[(MIB + 3) as usize..(MIB + 8) as usize].copy_from_slice(b"grand");
        d.close().unwrap();
    }
    let d = Vhdx::open(&grand, OpenOptions::default()).unwrap();
    assert_reads(&d, &model);
    // Flatten the chain.
    let flat = t.path().join("flat.vhdx");
    vhdx::convert::to_vhdx(
        &d,
        &flat,
        &CreateOptions {
            logical_sector_size: logical,
            ..Default::default()
        },
        &|_| {},
    )
    .unwrap();
    let f = Vhdx::open(&flat, OpenOptions::default()).unwrap();
    assert_eq!(f.disk_type(), vhdx::DiskType::Dynamic);
    assert_reads(&f, &model);
}

#[test]
fn chain_reads_parent_plus_child_512() {
    chain(512);
}

#[test]
fn chain_reads_parent_plus_child_4k() {
    chain(4096);
}

#[test]
fn missing_parent_fails_clearly() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base.vhdx");
    let child = t.path().join("child.vhdx");
    make_base(&base, 16 * MIB, 512);
    make_child(&base, &child, 1 << 20);
    std::fs::rename(&base, t.path().join("moved.vhdx")).unwrap();
    let e = Vhdx::open(&child, OpenOptions::default())
        .err()
        .expect("opened without parent")
        .to_string();
    assert!(e.contains("parent") && e.contains("not found"), "{e}");
    // Inspection without the parent still works.
    let d = Vhdx::open(
        &child,
        OpenOptions {
            parent: ParentSource::Skip,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.disk_type(), vhdx::DiskType::Differencing);
    // An explicit parent path works.
    let d = Vhdx::open(
        &child,
        OpenOptions {
            parent: ParentSource::Path(t.path().join("moved.vhdx")),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(d.parent().is_some());
}

#[test]
fn linkage_mismatch_fails_clearly() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base.vhdx");
    let child = t.path().join("child.vhdx");
    make_base(&base, 16 * MIB, 512);
    make_child(&base, &child, 1 << 20);
    // Modifying the base gives it a new DataWriteGuid.
    {
        let d = rw(&base);
        d.write_at(0, b"changed").unwrap();
        d.close().unwrap();
    }
    let e = Vhdx::open(&child, OpenOptions::default())
        .err()
        .expect("opened with a changed parent")
        .to_string();
    assert!(e.contains("parent_linkage"), "{e}");
}

#[test]
fn same_dir_child_validators() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base.vhdx");
    let child = t.path().join("child.vhdx");
    let mut model = make_base(&base, 16 * MIB, 512);
    make_child(&base, &child, 1 << 20);
    {
        let d = rw(&child);
        d.write_at(4097, &[0xAB; 10_000]).unwrap();
        model[4097..14_097].fill(0xAB);
        d.close().unwrap();
    }
    sevenzip_ok(&child);
    if let Some(l) = sevenzip_list(&child) {
        assert!(l.contains("Method = Differencing -> dynamic"), "{l}");
        // 7-Zip's own reading of the chain equals our model.
        let o = std::process::Command::new("7zz")
            .args(["e", "-so", "-tvhdx"])
            .arg(&child)
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(o.stdout == model, "7-Zip reads the chain differently");
    }
    let d = Vhdx::open(&child, OpenOptions::default()).unwrap();
    assert_reads(&d, &model);
}
