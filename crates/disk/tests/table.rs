//! Writing plans and reading them back; hostile tables give typed errors,
//! never panics.

use blockdev::{BlockDev, MemDev};
use disk::gpt::{GptEntry, GptHeader};
use disk::{read_table, write_table, Error, Layout, Partition, Plan, Role};
use uuid::Uuid;

const MIB: u64 = 1 << 20;

/// A small GPT disk (no file systems): 3 partitions on 8 MiB.
fn small_gpt(ss: u32) -> (MemDev, Plan) {
    let size = 8 * MIB;
    let total = size / ss as u64;
    let entry_lbas = 16384 / ss as u64;
    let part = |n: u32, start: u64, len: u64, t: Uuid, role: Role| Partition {
        number: n,
        role,
        start,
        len,
        type_guid: Some(t),
        unique_guid: Some(Uuid::from_u128(0x1000 + n as u128)),
        mbr_type: None,
        active: false,
        name: format!("part {n}"),
        attributes: if n == 1 { 1 << 63 } else { 0 },
    };
    let plan = Plan {
        layout: Layout::Uefi,
        logical_sector_size: ss,
        disk_size: size,
        disk_guid: Some(Uuid::from_u128(0xabc)),
        mbr_signature: None,
        partitions: vec![
            part(1, MIB, 2 * MIB, disk::gpt::TYPE_ESP, Role::Esp),
            part(2, 3 * MIB, MIB, disk::gpt::TYPE_MSR, Role::Msr),
            part(
                4,
                4 * MIB,
                3 * MIB,
                disk::gpt::TYPE_BASIC_DATA,
                Role::Windows,
            ),
        ],
        first_usable_lba: 2 + entry_lbas,
        last_usable_lba: total - 2 - entry_lbas,
        has_boot_code: false,
        warnings: vec![],
    };
    let dev = MemDev::new(size as usize);
    write_table(&dev, &plan).unwrap();
    (dev, plan)
}

#[test]
fn gpt_roundtrip_512_and_4k() {
    for ss in [512u32, 4096] {
        let (dev, plan) = small_gpt(ss);
        let back = read_table(&dev, ss).unwrap();
        assert_eq!(back, plan, "sector size {ss}");
        // The protective MBR spans the disk from LBA 1.
        let mut m = [0u8; 512];
        dev.read_at(0, &mut m).unwrap();
        assert_eq!(m[0x1C2], 0xEE);
        assert_eq!(
            u32::from_le_bytes(m[0x1CA..0x1CE].try_into().unwrap()) as u64,
            8 * MIB / ss as u64 - 1
        );
    }
}

#[test]
fn planned_layouts_roundtrip() {
    for (layout, size) in [(Layout::Uefi, 400 * MIB), (Layout::Bios, 40 * MIB)] {
        let plan = disk::plan(&disk::LayoutOptions {
            disk_size: size,
            layout,
            seed: Some(3),
            ..Default::default()
        })
        .unwrap();
        let dev = MemDev::new(size as usize);
        write_table(&dev, &plan).unwrap();
        assert_eq!(read_table(&dev, 512).unwrap(), plan);
        // The wrong device size is refused.
        let small = MemDev::new(size as usize - 512);
        assert!(write_table(&small, &plan).is_err());
    }
}

fn put_header(dev: &MemDev, lba: u64, ss: u64, f: impl FnOnce(&mut GptHeader)) {
    let mut b = vec![0u8; ss as usize];
    dev.read_at(lba * ss, &mut b).unwrap();
    let mut h = GptHeader::parse(&b, lba * ss).unwrap();
    f(&mut h);
    dev.write_at(lba * ss, &h.to_sector(ss as usize)).unwrap();
}

fn kill_backup(dev: &MemDev) {
    let last = dev.len() - 512;
    dev.write_at(last, &[0u8; 512]).unwrap();
}

fn err_of(dev: &MemDev) -> String {
    match read_table(dev, 512) {
        Ok(p) => panic!("hostile table accepted: {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn damaged_primary_falls_back_to_backup() {
    let (dev, plan) = small_gpt(512);
    dev.write_at(512 + 40, &[0xFF]).unwrap();
    let back = read_table(&dev, 512).unwrap();
    assert_eq!(back.partitions, plan.partitions);
    assert!(
        back.warnings
            .iter()
            .any(|w| w.contains("primary GPT unusable")),
        "{:?}",
        back.warnings
    );
    // Both headers damaged: the primary's defect is reported.
    dev.write_at(dev.len() - 512 + 40, &[0xFF]).unwrap();
    let e = err_of(&dev);
    assert!(e.contains("GPT header") && e.contains("CRC32"), "{e}");
}

#[test]
fn damaged_backup_is_a_warning() {
    let (dev, plan) = small_gpt(512);
    kill_backup(&dev);
    let back = read_table(&dev, 512).unwrap();
    assert_eq!(back.partitions, plan.partitions);
    assert!(
        back.warnings[0].contains("backup GPT unusable"),
        "{:?}",
        back.warnings
    );
}

#[test]
fn hostile_headers_and_entries() {
    type Case = (&'static str, Box<dyn Fn(&MemDev)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "huge entry count",
            Box::new(|d| put_header(d, 1, 512, |h| h.entry_count = u32::MAX)),
            "exceed",
        ),
        (
            "entry size 0",
            Box::new(|d| put_header(d, 1, 512, |h| h.entry_size = 0)),
            "entry size",
        ),
        (
            "entry array past the end",
            Box::new(|d| put_header(d, 1, 512, |h| h.entries_lba = u64::MAX - 3)),
            "entry array",
        ),
        (
            "entry array over the usable area",
            Box::new(|d| put_header(d, 1, 512, |h| h.entries_lba = 100)),
            "entry array",
        ),
        (
            "usable LBAs past the end",
            Box::new(|d| put_header(d, 1, 512, |h| h.last_usable_lba = 1 << 40)),
            "do not fit",
        ),
        (
            "MyLBA wrong",
            Box::new(|d| put_header(d, 1, 512, |h| h.my_lba = 7)),
            "MyLBA",
        ),
        (
            "entry array CRC",
            Box::new(|d| d.write_at(1024 + 40, &[0x55]).unwrap()),
            "entry array CRC32",
        ),
        (
            "partition outside the disk",
            Box::new(|d| {
                let mut a = vec![0u8; 16384];
                d.read_at(1024, &mut a).unwrap();
                let mut e = GptEntry::parse(&a[384..512]);
                e.last_lba = 1 << 33;
                e.write(&mut a[384..512]).unwrap();
                d.write_at(1024, &a).unwrap();
                put_header(d, 1, 512, |h| h.entries_crc32 = crc32fast::hash(&a));
            }),
            "outside the usable LBAs",
        ),
        (
            "overlapping partitions",
            Box::new(|d| {
                let mut a = vec![0u8; 16384];
                d.read_at(1024, &mut a).unwrap();
                let mut e = GptEntry::parse(&a[128..256]);
                e.first_lba -= 100;
                e.write(&mut a[128..256]).unwrap();
                d.write_at(1024, &a).unwrap();
                put_header(d, 1, 512, |h| h.entries_crc32 = crc32fast::hash(&a));
            }),
            "overlap",
        ),
        (
            "no signature",
            Box::new(|d| d.write_at(512, b"NOT PART").unwrap()),
            "signature",
        ),
    ];
    for (what, damage, msg) in cases {
        let (dev, _) = small_gpt(512);
        kill_backup(&dev);
        damage(&dev);
        let e = err_of(&dev);
        assert!(e.contains(msg), "{what}: {e}");
    }
}

#[test]
fn hostile_mbr() {
    let (dev, _) = small_gpt(512);
    // No 55 AA: no table at all.
    dev.write_at(510, &[0, 0]).unwrap();
    assert!(matches!(read_table(&dev, 512), Err(Error::NoTable(_))));
    let m = |entries: &[(u8, u32, u32)]| {
        let mut b = [0u8; 512];
        for (i, (t, s, n)) in entries.iter().enumerate() {
            let o = 0x1BE + 16 * i;
            b[o + 4] = *t;
            b[o + 8..o + 12].copy_from_slice(&s.to_le_bytes());
            b[o + 12..o + 16].copy_from_slice(&n.to_le_bytes());
        }
        b[510] = 0x55;
        b[511] = 0xAA;
        let d = MemDev::new(MIB as usize);
        d.write_at(0, &b).unwrap();
        read_table(&d, 512)
    };
    let e = m(&[(7, 2048, 4096)]).unwrap_err().to_string();
    assert!(e.contains("past the end"), "{e}");
    let e = m(&[(7, 0, 10)]).unwrap_err().to_string();
    assert!(e.contains("starts at LBA 0"), "{e}");
    let e = m(&[(7, 100, 200), (7, 250, 10)]).unwrap_err().to_string();
    assert!(e.contains("overlap"), "{e}");
    let p = m(&[(7, 100, 200), (0x0F, 400, 100)]).unwrap();
    assert_eq!(p.partitions.len(), 2);
    assert!(p.warnings[0].contains("extended"));
    // A protective MBR with no GPT behind it.
    let e = m(&[(0xEE, 1, 2047)]).unwrap_err().to_string();
    assert!(e.contains("GPT header"), "{e}");
}

/// Random damage to every table sector never panics.
#[test]
fn random_damage_never_panics() {
    let (clean, _) = small_gpt(512);
    let image = clean.to_vec();
    let len = image.len();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let table_bytes = 34 * 512;
    for _ in 0..1500 {
        let mut img = image.clone();
        for _ in 0..(next() % 8 + 1) {
            let r = next() as usize % (2 * table_bytes);
            let at = if r < table_bytes {
                r
            } else {
                len - (r - table_bytes) - 1
            };
            img[at] = next() as u8;
        }
        let dev = MemDev::from_vec(img);
        let _ = read_table(&dev, 512);
        let _ = read_table(&dev, 4096);
    }
}
