//! Writer + reader tests on memory devices: trees with named streams,
//! short names, security descriptors, reparse points and hard links read
//! back; hostile input (fixup mismatch, runlists outside the volume, index
//! loops, random corruption) gives typed errors, never a panic or a hang.

use blockdev::{BlockDev, MemDev};
use ntfs_inject::attribute::AttrKind;
use ntfs_inject::layout::attr_type as at;
use ntfs_inject::reader::Volume;
use ntfs_inject::{
    fixup, Error, FormatOptions, Name, Node, Reparse, StreamSpec, Tree, VolumeWriter,
};
use std::sync::Arc;

fn file(parent: usize, name: &str, data: &[u8]) -> Node {
    Node {
        names: vec![Name {
            parent,
            name: name.into(),
            short_name: None,
        }],
        attributes: 0x20,
        creation_time: 132_000_000_000_000_000,
        last_write_time: 132_000_000_010_000_000,
        last_access_time: 132_000_000_020_000_000,
        streams: vec![StreamSpec {
            name: String::new(),
            size: data.len() as u64,
            data: Some(data.to_vec()),
            order: 0,
        }],
        ..Default::default()
    }
}

fn dir(parent: usize, name: &str) -> Node {
    Node {
        names: vec![Name {
            parent,
            name: name.into(),
            short_name: None,
        }],
        directory: true,
        attributes: 0x10,
        ..Default::default()
    }
}

/// root; /big (many files, multi-block index); /docs/{readme (ADS, short
/// name, SD), link (hard link), junction (reparse)}.
fn sample_tree(big: usize) -> Tree {
    let mut t = Tree {
        nodes: vec![Node {
            directory: true,
            attributes: 0x10,
            ..Default::default()
        }],
        security: vec![],
    };
    // A self-relative SD: owner S-1-5-18, no DACL.
    let sd = vec![
        1, 0, 0, 0x80, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 5, 18,
        0, 0, 0,
    ];
    t.security.push(sd);
    t.nodes.push(dir(0, "big")); // 1
    t.nodes.push(dir(0, "docs")); // 2
    let mut readme = file(2, "Read Me Please.txt", b"hello ntfs");
    readme.names[0].short_name = Some("README~1.TXT".into());
    readme.names.push(Name {
        parent: 0,
        name: "link-to-readme.txt".into(),
        short_name: None,
    });
    readme.security = Some(0);
    readme.streams.push(StreamSpec {
        name: "Zone.Identifier".into(),
        size: 26,
        data: Some(b"[ZoneTransfer]\r\nZoneId=3\r\n".to_vec()),
        order: 0,
    });
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    readme.streams.push(StreamSpec {
        name: "big stream".into(),
        size: large.len() as u64,
        data: Some(large),
        order: 1,
    });
    t.nodes.push(readme); // 3
    let mut j = dir(2, "junction");
    j.reparse = Some(Reparse {
        tag: 0xA000_0003,
        reserved: 0,
        data: vec![0u8; 24],
    });
    t.nodes.push(j); // 4
    for i in 0..big {
        t.nodes.push(file(
            1,
            &format!("entry number {i:05} with a longish name.bin"),
            &vec![i as u8; i % 1500],
        ));
    }
    t
}

fn write(tree: &Tree, size: usize) -> Arc<MemDev> {
    let dev = Arc::new(MemDev::new(size));
    let w = VolumeWriter::new(dev.clone(), tree, &FormatOptions::default()).unwrap();
    w.finish().unwrap();
    dev
}

#[test]
fn tree_reads_back() {
    let tree = sample_tree(400);
    let dev = write(&tree, 32 << 20);
    let vol = Volume::open(dev.clone()).unwrap();
    let names: Vec<String> = vol
        .list(5)
        .unwrap()
        .iter()
        .map(|e| e.name_string())
        .collect();
    assert!(
        names.contains(&"big".to_string()) && names.contains(&"link-to-readme.txt".to_string()),
        "{names:?}"
    );
    let big = vol.lookup("/big").unwrap();
    let entries = vol.list(big).unwrap();
    assert_eq!(entries.len(), 400);
    let rec = vol.record(big).unwrap();
    assert!(
        rec.find(
            at::INDEX_ALLOCATION,
            &"$I30".encode_utf16().collect::<Vec<_>>()
        )
        .is_some(),
        "400 entries need INDX blocks"
    );
    // Both names reach the same record; the short name is in the index.
    let a = vol.lookup("/docs/Read Me Please.txt").unwrap();
    assert_eq!(vol.lookup("/link-to-readme.txt").unwrap(), a);
    assert_eq!(vol.lookup("/DOCS/readme~1.txt").unwrap(), a);
    let r = vol.record(a).unwrap();
    assert_eq!(r.link_count, 2, "two links; the DOS name is not one");
    let data = r.find(at::DATA, &[]).unwrap();
    assert_eq!(vol.read_attr(data, 1 << 20).unwrap(), b"hello ntfs");
    let ads: Vec<u16> = "Zone.Identifier".encode_utf16().collect();
    assert_eq!(
        vol.read_attr(r.find(at::DATA, &ads).unwrap(), 1 << 20)
            .unwrap(),
        b"[ZoneTransfer]\r\nZoneId=3\r\n"
    );
    let bigs: Vec<u16> = "big stream".encode_utf16().collect();
    let b = vol
        .read_attr(r.find(at::DATA, &bigs).unwrap(), 1 << 20)
        .unwrap();
    assert_eq!(b.len(), 200_000);
    assert!(b.iter().enumerate().all(|(i, &x)| x == (i % 253) as u8));
    let si = ntfs_inject::stdinfo::StandardInformation::parse(
        match &r.find(at::STANDARD_INFORMATION, &[]).unwrap().kind {
            AttrKind::Resident(v) => v,
            _ => panic!(),
        },
    )
    .unwrap();
    assert_eq!(si.times.creation, 132_000_000_000_000_000);
    assert_eq!(
        si.security_id, 0x102,
        "first tree descriptor after the two defaults"
    );
    let j = vol.record(vol.lookup("/docs/junction").unwrap()).unwrap();
    assert!(j.find(at::REPARSE_POINT, &[]).is_some());
    // Every file reads back.
    for (i, e) in entries.iter().enumerate() {
        let r = vol.record(e.record()).unwrap();
        let v = vol
            .read_attr(r.find(at::DATA, &[]).unwrap(), 1 << 20)
            .unwrap();
        let n: usize = e.name_string()[13..18].parse().unwrap();
        assert_eq!(v, vec![n as u8; n % 1500], "entry {i}");
    }
    let problems = ntfs_inject::check::check(&vol).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn too_small_volume_is_an_error() {
    let mut tree = sample_tree(10);
    tree.nodes
        .push(file(0, "three megabytes", &vec![1u8; 3 << 20]));
    let dev = Arc::new(MemDev::new(2 << 20));
    match VolumeWriter::new(dev, &tree, &FormatOptions::default()) {
        Err(Error::Unsupported(m)) => assert!(m.contains("too small"), "{m}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("2 MiB cannot hold 3 MiB of data"),
    }
}

/// Read record `n` raw, undo fixups, let `f` change it, redo fixups.
fn patch_record(dev: &MemDev, n: u64, f: impl FnOnce(&mut [u8])) {
    let vol = Volume::open(dev).unwrap();
    let off = vol.record_offset(n).unwrap();
    let mut b = vec![0u8; 1024];
    dev.read_at(off, &mut b).unwrap();
    fixup::unprotect(&mut b, off, "FILE record").unwrap();
    f(&mut b);
    fixup::protect(&mut b, 2);
    dev.write_at(off, &b).unwrap();
}

fn walk_all<D: BlockDev>(vol: &Volume<D>) -> ntfs_inject::Result<()> {
    let mut stack = vec![5u64];
    let mut seen = std::collections::HashSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d) {
            continue;
        }
        for e in vol.list(d)? {
            let r = vol.record(e.record())?;
            if r.is_dir() {
                stack.push(e.record());
            }
            for a in &r.attrs {
                if a.ty == at::DATA {
                    vol.read_attr(a, 1 << 22)?;
                }
            }
        }
    }
    Ok(())
}

#[test]
fn fixup_mismatch_is_reported_with_offset() {
    let dev = write(&sample_tree(5), 16 << 20);
    let vol = Volume::open(&*dev).unwrap();
    let docs = vol.lookup("/docs").unwrap();
    let off = vol.record_offset(docs).unwrap();
    dev.write_at(off + 510, &[0xEE, 0xEE]).unwrap();
    let e = vol.record(docs).unwrap_err();
    let s = e.to_string();
    assert!(
        matches!(e, Error::Corrupt { .. })
            && s.contains("fixup mismatch")
            && s.contains(&format!("{:#x}", off + 510)),
        "{s}"
    );
    assert!(walk_all(&vol).is_err());
}

#[test]
fn runlist_outside_volume_is_reported() {
    let dev = write(&sample_tree(5), 16 << 20);
    let vol = Volume::open(&*dev).unwrap();
    let a = vol.lookup("/docs/Read Me Please.txt").unwrap();
    let rec = vol.record(a).unwrap();
    let bigs: Vec<u16> = "big stream".encode_utf16().collect();
    let attr_off = rec.find(at::DATA, &bigs).unwrap().offset;
    drop(vol);
    patch_record(&dev, a, |b| {
        let mp = attr_off + u16::from_le_bytes([b[attr_off + 0x20], b[attr_off + 0x21]]) as usize;
        // One run, 2-byte length, 3-byte LCN far past the end.
        let enc = ntfs_inject::runlist::encode(&[ntfs_inject::runlist::Run {
            lcn: Some(0x40_0000),
            len: 49,
        }]);
        b[mp..mp + enc.len()].copy_from_slice(&enc);
    });
    let vol = Volume::open(&*dev).unwrap();
    let e = vol.record(a).unwrap_err();
    assert!(e.to_string().contains("outside the volume"), "{e}");
}

#[test]
fn index_loop_is_reported() {
    let dev = write(&sample_tree(400), 32 << 20);
    let vol = Volume::open(&*dev).unwrap();
    let big = vol.lookup("/big").unwrap();
    let rec = vol.record(big).unwrap();
    let i30: Vec<u16> = "$I30".encode_utf16().collect();
    let ia = rec.find(at::INDEX_ALLOCATION, &i30).unwrap().clone();
    let AttrKind::NonResident { runs, .. } = &ia.kind else {
        panic!()
    };
    let base = runs[0].lcn.unwrap() * 4096;
    // The root's END entry points at block X; make X's first child X again.
    let root = match &rec.find(at::INDEX_ROOT, &i30).unwrap().kind {
        AttrKind::Resident(v) => v.clone(),
        _ => panic!(),
    };
    let end = 0x10 + u32::from_le_bytes(root[0x14..0x18].try_into().unwrap()) as usize;
    let x = u64::from_le_bytes(root[end - 8..end].try_into().unwrap());
    drop(vol);
    let off = base + x * 4096;
    let mut blk = vec![0u8; 4096];
    dev.read_at(off, &mut blk).unwrap();
    fixup::unprotect(&mut blk, off, "INDX block").unwrap();
    assert_eq!(blk[0x24] & 1, 1, "block X has children");
    let first = 0x18 + u32::from_le_bytes(blk[0x18..0x1C].try_into().unwrap()) as usize;
    let len = u16::from_le_bytes([blk[first + 8], blk[first + 9]]) as usize;
    blk[first + len - 8..first + len].copy_from_slice(&x.to_le_bytes());
    fixup::protect(&mut blk, 3);
    dev.write_at(off, &blk).unwrap();
    let vol = Volume::open(&*dev).unwrap();
    let e = vol.list(big).unwrap_err();
    assert!(e.to_string().contains("index loop"), "{e}");
    assert!(walk_all(&vol).is_err());
}

#[test]
fn random_corruption_never_panics() {
    let clean = write(&sample_tree(300), 16 << 20);
    let mut img = vec![0u8; clean.len() as usize];
    clean.read_at(0, &mut img).unwrap();
    let vol = Volume::open(&*clean).unwrap();
    let mft = vol.record_offset(0).unwrap() as usize;
    drop(vol);
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..150 {
        let mut bad = img.clone();
        for _ in 0..1 + rnd() % 8 {
            // Mostly the MFT (records 0..~400), sometimes anywhere.
            let pos = if rnd() % 4 == 0 {
                (rnd() % bad.len() as u64) as usize
            } else {
                mft + (rnd() % (400 * 1024)) as usize
            };
            bad[pos] = rnd() as u8;
        }
        let dev = MemDev::from_vec(bad);
        let r = std::panic::catch_unwind(|| {
            if let Ok(vol) = Volume::open(&dev) {
                let _ = walk_all(&vol);
                let _ = ntfs_inject::check::check(&vol);
            }
        });
        assert!(r.is_ok(), "round {round} panicked");
    }
}
