//! Property tests: random writes against a VHDX and a plain in-memory
//! model read back identical (dynamic, fixed, 4K sectors, differencing,
//! and across journaled reopen); the in-memory parser never panics on
//! mutated files.

use blockdev::{BlockDev, MemDev};
use proptest::prelude::*;
use std::sync::Arc;
use vhdx::{CreateKind, CreateOptions, GuidSource, OpenOptions, ParentSource, Vhdx};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 6 * MIB + 4096 * 3;

#[derive(Debug, Clone)]
struct W {
    off: u64,
    len: usize,
    fill: u8,
    random: bool,
    reopen: bool,
}

fn writes() -> impl Strategy<Value = Vec<W>> {
    prop::collection::vec(
        (
            0..SIZE,
            1usize..300_000,
            any::<u8>(),
            any::<bool>(),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(off, len, fill, random, reopen)| {
                let len = len.min((SIZE - off) as usize).max(1);
                let off = off.min(SIZE - len as u64);
                W {
                    off,
                    len,
                    fill: if fill < 64 { 0 } else { fill },
                    random,
                    reopen,
                }
            }),
        1..24,
    )
}

fn data_for(w: &W, i: usize) -> Vec<u8> {
    if w.random {
        (0..w.len)
            .map(|k| {
                (k as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(i as u32 * 7919) as u8
                    ^ w.fill
            })
            .collect()
    } else {
        vec![w.fill; w.len]
    }
}

fn run(kind: CreateKind, logical: u32, ws: &[W]) {
    let mem = Arc::new(MemDev::new(0));
    let o = CreateOptions {
        size: SIZE,
        kind,
        block_size: 1 << 20,
        logical_sector_size: logical,
        guids: GuidSource::Seeded("p".into()),
        ..Default::default()
    };
    let size = SIZE.div_ceil(logical as u64) * logical as u64;
    let o = CreateOptions { size, ..o };
    let mut model = vec![0u8; size as usize];
    let mut d = Vhdx::create_on(Box::new(mem.clone()), "mem", &o).unwrap();
    for (i, w) in ws.iter().enumerate() {
        let b = data_for(w, i);
        d.write_at(w.off, &b).unwrap();
        model[w.off as usize..w.off as usize + w.len].copy_from_slice(&b);
        if w.reopen {
            d.close().unwrap();
            drop(d);
            d = Vhdx::open_dev(
                Box::new(mem.clone()),
                "mem",
                OpenOptions {
                    writable: true,
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
    let mut back = vec![0u8; model.len()];
    d.read_at(0, &mut back).unwrap();
    prop_assert_eq_vec(&back, &model);
    d.close().unwrap();
    drop(d);
    let d = Vhdx::open_bytes(&mem.to_vec()).unwrap();
    d.read_at(0, &mut back).unwrap();
    prop_assert_eq_vec(&back, &model);
    assert!(
        vhdx::check::check(&d).is_empty(),
        "{:?}",
        vhdx::check::check(&d)
    );
}

fn prop_assert_eq_vec(a: &[u8], b: &[u8]) {
    if a != b {
        let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap();
        panic!(
            "first difference at {i:#x}: {:#x} vs model {:#x}",
            a[i], b[i]
        );
    }
}

fn run_diff(ws: &[W], logical: u32) {
    let base_mem = Arc::new(MemDev::new(0));
    let size = SIZE.div_ceil(logical as u64) * logical as u64;
    let o = CreateOptions {
        size,
        block_size: 2 << 20,
        logical_sector_size: logical,
        guids: GuidSource::Seeded("b".into()),
        ..Default::default()
    };
    let base = Vhdx::create_on(Box::new(base_mem.clone()), "base", &o).unwrap();
    let mut model = vec![0u8; size as usize];
    for (i, m) in model.chunks_mut(MIB as usize).enumerate() {
        if i % 2 == 0 {
            m.fill(i as u8 + 1);
        }
    }
    base.write_at(0, &model).unwrap();
    base.close().unwrap();
    drop(base);
    let open_base =
        || Vhdx::open_dev(Box::new(base_mem.clone()), "base", OpenOptions::default()).unwrap();
    let pb = open_base();
    let co = CreateOptions {
        kind: CreateKind::Differencing,
        block_size: 1 << 20,
        parent: Some(vhdx::ParentInfo {
            data_write_guid: pb.data_write_guid(),
            virtual_size: pb.virtual_size(),
            logical_sector_size: pb.logical_sector_size(),
            relative_path: ".\\base.vhdx".into(),
            absolute_win32_path: String::new(),
        }),
        ..Default::default()
    };
    let child_mem = Arc::new(MemDev::new(0));
    let mut c = Vhdx::create_on(Box::new(child_mem.clone()), "child", &co).unwrap();
    c.set_parent(pb).unwrap();
    for (i, w) in ws.iter().enumerate() {
        let b = data_for(w, i);
        c.write_at(w.off, &b).unwrap();
        model[w.off as usize..w.off as usize + w.len].copy_from_slice(&b);
        if w.reopen {
            c.close().unwrap();
            drop(c);
            c = Vhdx::open_dev(
                Box::new(child_mem.clone()),
                "child",
                OpenOptions {
                    writable: true,
                    parent: ParentSource::Disk(Box::new(open_base())),
                },
            )
            .unwrap();
        }
    }
    let mut back = vec![0u8; model.len()];
    c.read_at(0, &mut back).unwrap();
    prop_assert_eq_vec(&back, &model);
    c.close().unwrap();
    assert!(
        vhdx::check::check(&c).is_empty(),
        "{:?}",
        vhdx::check::check(&c)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn dynamic_matches_model(ws in writes()) { run(CreateKind::Dynamic, 512, &ws); }

    #[test]
    fn fixed_matches_model(ws in writes()) { run(CreateKind::Fixed, 512, &ws); }

    #[test]
    fn dynamic_4k_matches_model(ws in writes()) { run(CreateKind::Dynamic, 4096, &ws); }

    #[test]
    fn differencing_matches_model(ws in writes()) { run_diff(&ws, 512); }

    #[test]
    fn differencing_4k_matches_model(ws in writes()) { run_diff(&ws, 4096); }
}

/// A small valid file with data, a differencing child, and a dirty log, as
/// seeds for the mutation test.
fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mem = Arc::new(MemDev::new(0));
    let o = CreateOptions {
        size: 4 * MIB,
        block_size: 1 << 20,
        guids: GuidSource::Seeded("s".into()),
        ..Default::default()
    };
    let d = Vhdx::create_on(Box::new(mem.clone()), "m", &o).unwrap();
    d.write_at(MIB, &[7; 5000]).unwrap();
    d.close().unwrap();
    drop(d);
    v.push(mem.to_vec());
    // Journaled in-place write without close: a dirty log.
    let d = Vhdx::open_dev(
        Box::new(mem.clone()),
        "m",
        OpenOptions {
            writable: true,
            ..Default::default()
        },
    )
    .unwrap();
    d.write_at(3 * MIB, &[9; 5000]).unwrap();
    d.flush().unwrap();
    v.push(mem.to_vec());
    std::mem::forget(d); // no close: the log stays dirty
    let dirty = Vhdx::open_bytes(&v[1]).unwrap();
    assert!(dirty.log_was_dirty());
    let mut b = [0u8; 4];
    dirty.read_at(3 * MIB, &mut b).unwrap();
    assert_eq!(b, [9; 4]);
    let pd = Vhdx::open_bytes(&v[0]).unwrap();
    let co = CreateOptions {
        kind: CreateKind::Differencing,
        block_size: 1 << 20,
        parent: Some(vhdx::ParentInfo {
            data_write_guid: pd.data_write_guid(),
            virtual_size: pd.virtual_size(),
            logical_sector_size: 512,
            relative_path: "p.vhdx".into(),
            absolute_win32_path: "C:\\p.vhdx".into(),
        }),
        ..Default::default()
    };
    let cm = Arc::new(MemDev::new(0));
    let mut c = Vhdx::create_on(Box::new(cm.clone()), "c", &co).unwrap();
    c.set_parent(pd).unwrap();
    c.write_at(1000, &[1; 3000]).unwrap();
    c.close().unwrap();
    drop(c);
    v.push(cm.to_vec());
    v
}

/// Interesting offsets: headers, region tables, metadata, BAT, log start.
fn hot_offset(sel: u8, r: u32) -> usize {
    let base = [
        0usize,
        64 << 10,
        128 << 10,
        192 << 10,
        256 << 10,
        1 << 20,
        2 << 20,
        (2 << 20) + (64 << 10),
        3 << 20,
    ];
    base[sel as usize % base.len()] + (r as usize % 512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics(seed in 0usize..3, muts in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u8>(), any::<bool>()), 1..8)) {
        thread_local!(static SEEDS: Vec<Vec<u8>> = seeds());
        let mut b = SEEDS.with(|s| s[seed].clone());
        for (sel, r, val, hot) in muts {
            let at = if hot { hot_offset(sel, r) } else { r as usize % b.len() };
            if at < b.len() { b[at] = val; }
        }
        if let Ok(d) = Vhdx::open_bytes(&b) {
            let mut buf = vec![0u8; 64 << 10];
            let mut o = 0;
            while o < d.virtual_size() {
                let n = (d.virtual_size() - o).min(buf.len() as u64) as usize;
                let _ = d.read_at(o, &mut buf[..n]);
                o += n as u64;
            }
            let _ = vhdx::check::check(&d);
            let _ = d.allocated_blocks();
        }
    }

    #[test]
    fn truncated_files_never_panic(seed in 0usize..3, cut in 0usize..(5 << 20)) {
        thread_local!(static SEEDS: Vec<Vec<u8>> = seeds());
        let b = SEEDS.with(|s| s[seed][..cut.min(s[seed].len())].to_vec());
        if let Ok(d) = Vhdx::open_bytes(&b) {
            let mut buf = vec![0u8; 1 << 20];
            let _ = d.read_at(0, &mut buf);
        }
    }
}
