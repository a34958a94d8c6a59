//! Minimised inputs that crashed the `ntfs` fuzz target (fuzz/), kept under
//! fixtures/fuzz-regressions/ntfs/. Each must give a clean error now.

use blockdev::MemDev;
use ntfs_inject::{partition, Error, Volume};
use std::path::PathBuf;

fn regression(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/fuzz-regressions/ntfs")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the fuzz target does first with any input: partition lookup, then
/// opening the volume. None of it may panic.
fn exercise(data: &[u8]) {
    let dev = MemDev::read_only(data);
    for n in 1..=4 {
        let _ = partition::find(&dev, n);
    }
    if let Ok(v) = Volume::open(dev) {
        let _ = v.list(5);
    }
}

#[test]
fn gpt_entry_with_lbas_past_64_bits_is_corrupt() {
    // A GPT entry whose first LBA times the sector size overflows u64
    // (was: "attempt to multiply with overflow" in partition::find).
    let data = regression("gpt-entry-lba-overflow.bin");
    exercise(&data);
    let dev = MemDev::read_only(&data);
    let errors: Vec<Error> = (1..=4)
        .filter_map(|n| partition::find(&dev, n).err())
        .collect();
    assert!(
        errors.iter().any(|e| matches!(
            e,
            Error::Corrupt { structure: "GPT partition entry", message, .. }
                if message.contains("64-bit")
        )),
        "{errors:?}"
    );
}

#[test]
fn every_regression_input_gives_a_clean_result() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fuzz-regressions/ntfs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        exercise(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "no regression inputs under {}", dir.display());
}
