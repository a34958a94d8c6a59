//! Dirty hives: a write interrupted after the log was written but before
//! the primary was finished must read as the post-replay state, for both
//! the new (HvLE) and the old (DIRT) log formats.

mod common;
use common::tree;
use hive::value::{utf16z, REG_DWORD, REG_SZ};
use hive::Hive;

fn before() -> Hive {
    let mut h = Hive::new(5, "ROOT");
    for i in 0..50 {
        h.set_value(&format!("K{i}"), "x", REG_DWORD, vec![i as u8, 0, 0, 0])
            .unwrap();
    }
    h
}

fn edited(h: &Hive) -> Hive {
    let mut h = h.clone();
    h.set_value("K7", "new", REG_SZ, utf16z("after the crash", true))
        .unwrap();
    h.delete_key("K20").unwrap();
    for i in 0..200 {
        h.create_key(&format!("Grown\\g{i}")).unwrap();
    }
    h
}

/// The clean image on disk before the write, the image the write aimed at,
/// and the torn primary (dirty sequence numbers, half the new pages).
fn scenario() -> (Vec<u8>, Vec<u8>, Vec<u8>, Hive) {
    let a_model = before();
    let a = a_model.to_bytes();
    let a_parsed = Hive::from_bytes(&a).unwrap();
    let b_model = edited(&a_parsed);
    let b = b_model.to_bytes();
    let mut torn = a.clone();
    // Interrupted: some of the new pages reached the primary, not all.
    let half = 4096 + (b.len() - 4096) / 2 / 4096 * 4096;
    torn.resize(torn.len().max(half), 0);
    torn[4096..half].copy_from_slice(&b[4096..half]);
    hive::log::mark_dirty(&mut torn);
    (a, b, torn, b_model)
}

#[test]
fn new_format_log_replays() {
    let (a, b, torn, _) = scenario();
    let log = hive::log::write_new_format(&a, &b);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("SYSTEM");
    std::fs::write(&p, &torn).unwrap();
    std::fs::write(dir.path().join("SYSTEM.LOG1"), &log).unwrap();
    std::fs::write(dir.path().join("SYSTEM.LOG2"), b"").unwrap();
    let h = Hive::open(&p).unwrap();
    assert!(h.recovered.as_deref().unwrap().contains("new-format"));
    assert_eq!(tree(&h), tree(&Hive::from_bytes(&b).unwrap()));
    assert!(h.key("K20").is_none() && h.key("Grown\\g199").is_some());
}

#[test]
fn new_format_entry_in_log2_with_garbage_log1() {
    let (a, b, torn, _) = scenario();
    let log = hive::log::write_new_format(&a, &b);
    let mut bad = log.clone();
    let n = bad.len();
    bad[n - 10] ^= 0xFF; // hash no longer matches: LOG1 unusable
    let h = Hive::from_bytes_with_logs(&torn, &[&bad, &log]).unwrap();
    assert_eq!(tree(&h), tree(&Hive::from_bytes(&b).unwrap()));
    // With only the damaged log nothing valid can be replayed: the torn
    // primary is read as it is (or refused), never mixed.
    let _ = Hive::from_bytes_with_logs(&torn, &[&bad]);
}

#[test]
fn old_format_log_replays() {
    let (a, b, torn, _) = scenario();
    let log = hive::log::write_old_format(&a, &b);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("SOFTWARE");
    std::fs::write(&p, &torn).unwrap();
    std::fs::write(dir.path().join("SOFTWARE.LOG"), &log).unwrap();
    let h = Hive::open(&p).unwrap();
    assert!(h.recovered.as_deref().unwrap().contains("old-format"));
    assert_eq!(tree(&h), tree(&Hive::from_bytes(&b).unwrap()));
}

#[test]
fn clean_hive_ignores_logs_and_save_cleans() {
    let (a, b, torn, _) = scenario();
    let log = hive::log::write_new_format(&a, &b);
    // Clean primary: the log is not applied.
    let h = Hive::from_bytes_with_logs(&a, &[&log]).unwrap();
    assert!(h.recovered.is_none());
    assert_eq!(tree(&h), tree(&Hive::from_bytes(&a).unwrap()));
    // Saving a recovered hive writes a clean file and empties the logs.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("H");
    std::fs::write(&p, &torn).unwrap();
    std::fs::write(dir.path().join("H.LOG1"), &log).unwrap();
    let mut h = Hive::open(&p).unwrap();
    h.save(&p).unwrap();
    assert_eq!(
        std::fs::metadata(dir.path().join("H.LOG1")).unwrap().len(),
        0
    );
    let img = std::fs::read(&p).unwrap();
    let bb = hive::base::BaseBlock::parse(&img, true).unwrap();
    assert!(!bb.is_dirty() && bb.checksum_ok);
    assert_eq!(
        tree(&Hive::open(&p).unwrap()),
        tree(&Hive::from_bytes(&b).unwrap())
    );
}

/// A log entry (or old-format base block) that declares far more hive bins
/// data than the primary and the log pages can supply must not make
/// recovery allocate that much (the fuzzer's hive_log OOM, 2026-11-27).
#[test]
fn forged_hbins_size_is_not_allocated() {
    use hive::base::fix_checksum;
    use hive::marvin::{marvin32, LOG_SEED};
    let (a, b, torn, _) = scenario();
    // New format: the first entry starts at 512; its hive bins size is at
    // +0x10 and Hash-2 (over the first 32 bytes) at +0x20.
    let mut log = hive::log::write_new_format(&a, &b);
    log[512 + 0x10..512 + 0x14].copy_from_slice(&0x7000_0000u32.to_le_bytes());
    let h2 = marvin32(LOG_SEED, &log[512..512 + 0x20]);
    log[512 + 0x20..512 + 0x28].copy_from_slice(&h2.to_le_bytes());
    if let Ok(Some((img, _))) = hive::log::recover(&torn, &[&log]) {
        assert!(img.len() <= torn.len(), "{}", img.len());
    }
    // Old format: a size the 512-byte pages after the dirty vector cannot
    // fill is refused with an error naming the structure.
    let mut old = hive::log::write_old_format(&a, &b);
    let size = ((old.len() - 516) * 4096) as u32 & !0xFFF;
    old[0x28..0x2C].copy_from_slice(&size.to_le_bytes());
    fix_checksum(&mut old[..512]);
    let e = hive::log::recover(&torn, &[&old]).unwrap_err();
    assert!(e.to_string().contains("old-format log base block"), "{e}");
}
