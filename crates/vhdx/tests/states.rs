//! Every payload block state reads as §2.5.1.1 allows; the old value 5 is
//! accepted as UNMAPPED; reserved and misplaced states are reported.

use blockdev::{BlockDev, MemDev};
use std::sync::Arc;
use vhdx::check::Severity;
use vhdx::{CreateOptions, GuidSource, Vhdx};

const MIB: u64 = 1 << 20;

fn image() -> Vec<u8> {
    let mem = Arc::new(MemDev::new(0));
    let o = CreateOptions {
        size: 8 * MIB,
        block_size: 1 << 20,
        guids: GuidSource::Seeded("st".into()),
        ..Default::default()
    };
    let d = Vhdx::create_on(Box::new(mem.clone()), "m", &o).unwrap();
    d.write_at(0, &vec![0x42; 8 * MIB as usize]).unwrap();
    d.close().unwrap();
    drop(d);
    mem.to_vec()
}

fn set_state(img: &mut [u8], block: usize, state: u64, keep_offset: bool) {
    let at = 3 * MIB as usize + block * 8;
    let old = u64::from_le_bytes(img[at..at + 8].try_into().unwrap());
    let v = if keep_offset {
        (old & !7) | state
    } else {
        state
    };
    img[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn payload_states_read_as_specified() {
    let mut img = image();
    for (block, state) in [(1, 0u64), (2, 1), (3, 2), (4, 3), (5, 5)] {
        set_state(&mut img, block, state, false);
    }
    let d = Vhdx::open_bytes(&img).unwrap();
    let mut b = vec![0u8; MIB as usize];
    for block in 0..8u64 {
        d.read_at(block * MIB, &mut b).unwrap();
        let want = if (1..=5).contains(&block) { 0 } else { 0x42 };
        assert!(b.iter().all(|&x| x == want), "block {block}");
    }
    assert!(d.known_zero(MIB, 5 * MIB));
    assert!(!d.known_zero(0, MIB));
    let f = vhdx::check::check(&d);
    assert!(f.iter().all(|x| x.severity == Severity::Warning), "{f:?}");
    assert!(f.iter().any(|x| x.message.contains("state 5")), "{f:?}");
}

#[test]
fn illegal_states_are_reported() {
    for (state, keep, what) in [(4u64, false, "state 4"), (7, true, "state 7")] {
        let mut img = image();
        set_state(&mut img, 2, state, keep);
        let d = Vhdx::open_bytes(&img).unwrap();
        let mut b = vec![0u8; 4096];
        assert!(d.read_at(2 * MIB, &mut b).is_err(), "{what} read succeeded");
        let f = vhdx::check::check(&d);
        assert!(
            f.iter()
                .any(|x| x.severity == Severity::Error && x.message.contains(what)),
            "{what}: {f:?}"
        );
    }
    // Reserved bits.
    let mut img = image();
    let at = 3 * MIB as usize + 8;
    img[at + 1] |= 0x10;
    let d = Vhdx::open_bytes(&img).unwrap();
    let f = vhdx::check::check(&d);
    assert!(
        f.iter()
            .any(|x| x.severity == Severity::Error && x.message.contains("reserved")),
        "{f:?}"
    );
    // A block pointing past the end of the file and one overlapping the BAT.
    let mut img = image();
    img[3 * MIB as usize + 24..3 * MIB as usize + 32]
        .copy_from_slice(&((4000u64 << 20) | 6).to_le_bytes());
    img[3 * MIB as usize + 32..3 * MIB as usize + 40]
        .copy_from_slice(&((3u64 << 20) | 6).to_le_bytes());
    let d = Vhdx::open_bytes(&img).unwrap();
    let f = vhdx::check::check(&d);
    assert!(
        f.iter().any(|x| x.message.contains("past the end")),
        "{f:?}"
    );
    assert!(f.iter().any(|x| x.message.contains("overlaps")), "{f:?}");
}

#[test]
fn corrupt_headers_and_region_tables() {
    let img = image();
    // One bad header: opens, check complains.
    let mut a = img.clone();
    a[64 * 1024 + 100] ^= 1;
    let d = Vhdx::open_bytes(&a).unwrap();
    assert!(vhdx::check::check(&d)
        .iter()
        .any(|x| x.severity == Severity::Error && x.message.contains("header 1")));
    // Both bad: refused, naming the structure.
    a[128 * 1024 + 100] ^= 1;
    let e = Vhdx::open_bytes(&a).err().unwrap().to_string();
    assert!(e.contains("header") && e.contains("0x10000"), "{e}");
    // Region table 2 bad: check complains.
    let mut b = img.clone();
    b[256 * 1024 + 100] ^= 1;
    let d = Vhdx::open_bytes(&b).unwrap();
    assert!(vhdx::check::check(&d)
        .iter()
        .any(|x| x.severity == Severity::Error && x.message.contains("region table 2")));
    // Not a VHDX at all.
    let e = Vhdx::open_bytes(&[0u8; 2 << 20]).err().unwrap().to_string();
    assert!(e.contains("vhdxfile"), "{e}");
}
