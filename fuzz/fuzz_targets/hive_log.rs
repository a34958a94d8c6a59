//! Hive transaction-log recovery (old "DIRT" and new "HvLE" formats): a
//! dirty primary image with its .LOG1 and .LOG2, through
//! `Hive::from_bytes_with_logs`.
//!
//! Input (`wimforge_fuzz::Parts`, 3 parts): u32 LE primary length, u32 LE
//! LOG1 length, the primary, LOG1, then LOG2 (the rest). When byte 0x1FB
//! of the primary (in the base block's reserved area) is odd, the harness
//! recomputes the base block checksums of all three and the Marvin32 hashes
//! of every new-format log entry, so mutations get past the checksum checks.
#![no_main]

use hive::Hive;
use libfuzzer_sys::fuzz_target;
use wimforge_fuzz::{fix_hive_log_hashes, fix_regf_checksum, Parts};

fuzz_target!(|data: &[u8]| {
    let [p, l1, l2] = Parts::split::<3>(data);
    let (mut p, mut l1, mut l2) = (p.to_vec(), l1.to_vec(), l2.to_vec());
    if p.len() > 0x1FC && p[0x1FB] & 1 == 1 {
        for img in [&mut p, &mut l1, &mut l2] {
            fix_regf_checksum(img);
        }
        fix_hive_log_hashes(&mut l1);
        fix_hive_log_hashes(&mut l2);
    }
    if let Ok(h) = Hive::from_bytes_with_logs(&p, &[&l1, &l2]) {
        let _ = h.walk().len();
        let _ = h.to_bytes();
    }
});
