//! VHDX: file identifier, both headers, region tables, in-memory log
//! replay, metadata items, BAT, the checker, then reads of the virtual disk
//! (allocated blocks, block boundaries, the last sector).
//!
//! Input: a sparse image (`WFSP`, see `wimforge_fuzz::parse_sparse`; with
//! `FLAG_FIX_CHECKSUMS` the header, region table and log entry CRC-32Cs are
//! recomputed first), or else the raw file bytes (`Vhdx::open_bytes`).
#![no_main]

use blockdev::BlockDev;
use libfuzzer_sys::fuzz_target;
use vhdx::{OpenOptions, ParentSource, Vhdx};
use wimforge_fuzz::{fix_vhdx_checksums, parse_sparse, FLAG_FIX_CHECKSUMS};

/// Reads of the virtual disk per input.
const MAX_READS: usize = 64;
/// BAT entries looked at per input.
const MAX_BLOCKS: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let disk = match parse_sparse(data) {
        Some(mut img) => {
            if img.flags & FLAG_FIX_CHECKSUMS != 0 {
                fix_vhdx_checksums(&mut img.dev);
            }
            Vhdx::open_dev(
                Box::new(img.dev),
                "fuzz.vhdx",
                OpenOptions {
                    writable: false,
                    parent: ParentSource::Skip,
                },
            )
        }
        None => Vhdx::open_bytes(data),
    };
    let Ok(disk) = disk else {
        return;
    };
    let _ = vhdx::check::check(&disk);
    let _ = (disk.disk_type(), disk.creator(), disk.allocated_blocks());
    let vs = disk.virtual_size();
    let bs = disk.block_size().max(1);
    let sector = disk.logical_sector_size().max(1) as u64;
    let mut buf = vec![0u8; 64 << 10];
    let mut reads = 0;
    let mut read = |off: u64, len: usize| {
        if reads < MAX_READS && off < vs {
            reads += 1;
            let len = (len as u64).min(vs - off) as usize;
            let _ = disk.read_at(off, &mut buf[..len]);
        }
    };
    read(0, 64 << 10);
    read(sector, 3 * sector as usize);
    read(vs.saturating_sub(sector), sector as usize);
    let blocks = vs.div_ceil(bs);
    for i in 0..blocks.min(MAX_BLOCKS) {
        if disk.block_entry(i).state_bits() == vhdx::bat::NOT_PRESENT {
            continue;
        }
        let start = i * bs;
        read(start, 64 << 10);
        // A read straddling the end of this block.
        read((start + bs).saturating_sub(4096), 8192);
    }
});
