//! NTFS reader: MBR/GPT partition entries, boot sector, $MFT records with
//! fixups, attributes, runlists, $UpCase, directory indexes (index root and
//! INDX blocks), stream reads, and the structural checker.
//!
//! Input: a sparse image (`WFSP`, see `wimforge_fuzz::parse_sparse`) or the
//! raw volume bytes. The walk is bounded: at most `MAX_RECORDS` directory
//! entries visited, `MAX_STREAM` bytes read per stream, and the device
//! refuses reads past a budget of `READ_BUDGET` bytes.
#![no_main]

use blockdev::BlockDev;
use libfuzzer_sys::fuzz_target;
use ntfs_inject::layout::{attr_type, mft_no};
use ntfs_inject::Volume;
use wimforge_fuzz::{parse_sparse, SparseDev};

const MAX_RECORDS: usize = 256;
const MAX_STREAM: u64 = 1 << 20;
const READ_BUDGET: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let dev = match parse_sparse(data) {
        Some(img) => img.dev,
        None => SparseDev::from_bytes(data),
    };
    dev.set_budget(READ_BUDGET);
    for n in 1..=4 {
        let _ = ntfs_inject::partition::find(&dev as &dyn BlockDev, n);
    }
    let Ok(vol) = Volume::open(dev) else {
        return;
    };
    let _ = vol.record_count();
    let mut stack = vec![mft_no::ROOT];
    let mut seen = std::collections::HashSet::new();
    let mut visited = 0;
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir) {
            continue;
        }
        let Ok(entries) = vol.list(dir) else {
            continue;
        };
        for e in entries {
            visited += 1;
            if visited > MAX_RECORDS {
                break;
            }
            let _ = e.name_string();
            let n = e.record();
            if e.is_dir() {
                stack.push(n);
            }
            let Ok(rec) = vol.record(n) else {
                continue;
            };
            for a in rec.attrs.iter().filter(|a| a.ty == attr_type::DATA).take(4) {
                let _ = vol.read_attr(a, MAX_STREAM);
            }
        }
        if visited > MAX_RECORDS {
            break;
        }
    }
    let _ = vol.lookup("Windows/System32/config/SYSTEM");
    let _ = ntfs_inject::check::check(&vol);
});
