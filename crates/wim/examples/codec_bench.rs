//! Single-core codec benchmark (not a test). Two sub-commands:
//!
//! * `codec_bench dump OUT.bin WIM...` extracts every compressed chunk of
//!   the given WIMs (read with the crate's reader) into a chunk dump (format
//!   below, shared with the C harness
//!   `scripts/codec-bench/wimlib_codec_bench.c`), after checking that our
//!   decoders reproduce every blob's SHA-1.
//! * `codec_bench run CHUNKS.bin [ITERS]` decodes all chunks of the dump
//!   with our decoders, best of ITERS passes per format, and prints one line
//!   per format: `format=NAME chunks=N bytes=B best_cpu_s=T best_wall_s=W
//!   mbps=M checksum=C`. MB/s are of decompressed output (10^6 bytes) per
//!   second of thread CPU time (the machines are shared). The checksum (FNV-1a of
//!   all outputs) must equal the C harness's.
//!
//! Chunk dump format: the magic `WFCHUNK1`, then records of little-endian
//! u32 format (1 XPRESS, 2 LZX, 3 LZMS: the solid-header numbers), u32
//! chunk size (decompressor creation size), u32 uncompressed size, u32
//! compressed size, then the compressed bytes. Only chunks that are not
//! stored raw are written.
//!
//! Build with `cargo build --release --example codec_bench`; see
//! `scripts/codec-bench/run.sh`.

#[path = "../tests/support/real.rs"]
mod real;

use std::collections::HashMap;
use std::time::Instant;
use wim::codec::{new_decompressor, CompressionType, Decompressor};
use wim::Wim;

const DUMP_MAGIC: &[u8; 8] = b"WFCHUNK1";

struct Rec {
    format: u32,
    chunk_size: u32,
    usize_: usize,
    data: Vec<u8>,
}

fn ctype(format: u32) -> Option<CompressionType> {
    CompressionType::from_solid_format(format).filter(|&c| c != CompressionType::None)
}

/// The dump's format number of `ctype` (inverse of [`ctype`]).
fn format_of(ctype: CompressionType) -> u32 {
    match ctype {
        CompressionType::None => 0,
        CompressionType::Xpress => 1,
        CompressionType::Lzx => 2,
        CompressionType::Lzms => 3,
    }
}

fn name(format: u32) -> &'static str {
    ctype(format).map_or("none", |c| c.name())
}

fn dump(out: &str, wims: &[String]) -> Result<(), String> {
    let mut buf = DUMP_MAGIC.to_vec();
    for path in wims {
        let wim = Wim::open(path, &[]).map_err(|e| format!("{path}: {e}"))?;
        let mut decs: HashMap<(CompressionType, u32), Box<dyn Decompressor>> = HashMap::new();
        let mut decode_failed = false;
        let verified = real::try_verify_with(&wim, |res, src, dst| {
            let d = match decs.entry((res.ctype, res.chunk_size)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(new_decompressor(res.ctype, res.chunk_size as usize)?)
                }
            };
            let r = d.decompress(src, dst);
            decode_failed |= r.is_err();
            r
        });
        match verified {
            Ok(_) => {}
            // Still dump: `run` and the C harness report failing chunks.
            Err(e) if decode_failed => eprintln!("{path}: warning: not verified: {e}"),
            Err(e) => return Err(format!("{path}: {e}")),
        }
        let mut n = 0;
        for res in wim.resources.iter().filter(|r| r.compressed) {
            let file = wim.part_data(res.part);
            let chunks = res.chunks(file).map_err(|e| format!("{path}: {e}"))?;
            for c in chunks.iter().filter(|c| !c.is_stored()) {
                for v in [
                    format_of(res.ctype),
                    res.chunk_size,
                    c.uncompressed_len,
                    c.compressed_len,
                ] {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                let at = c.file_offset as usize;
                buf.extend_from_slice(&file[at..at + c.compressed_len as usize]);
                n += 1;
            }
        }
        eprintln!("{path}: {n} chunks");
    }
    std::fs::write(out, &buf).map_err(|e| e.to_string())
}

fn load(path: &str) -> Result<Vec<Rec>, String> {
    let d = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if d.get(..8) != Some(&DUMP_MAGIC[..]) {
        return Err("not a chunk dump".into());
    }
    let mut p = 8;
    let mut v = Vec::new();
    let u32_at = |p: usize| -> Result<u32, String> {
        d.get(p..p + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| "truncated dump".to_string())
    };
    while p < d.len() {
        let format = u32_at(p)?;
        let chunk_size = u32_at(p + 4)?;
        let usize_ = u32_at(p + 8)? as usize;
        let csize = u32_at(p + 12)? as usize;
        let data = d
            .get(p + 16..p + 16 + csize)
            .ok_or("truncated dump")?
            .to_vec();
        p += 16 + csize;
        v.push(Rec {
            format,
            chunk_size,
            usize_,
            data,
        });
    }
    Ok(v)
}

/// CPU time of the calling thread in seconds. The benchmark machines are
/// shared, so both harnesses time with the thread CPU clock (also printed:
/// wall time), which ignores time spent descheduled.
fn thread_cpu_secs() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec (two i64 fields on 64-bit
    // Linux) to a valid, exclusively borrowed location.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

fn fnv1a(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn run(path: &str, iters: usize) -> Result<(), String> {
    let recs = load(path)?;
    let mut formats: Vec<u32> = recs.iter().map(|r| r.format).collect();
    formats.sort_unstable();
    formats.dedup();
    for f in formats {
        let Some(ct) = ctype(f) else { continue };
        let set: Vec<&Rec> = recs.iter().filter(|r| r.format == f).collect();
        let total: usize = set.iter().map(|r| r.usize_).sum();
        let max_out = set.iter().map(|r| r.usize_).max().unwrap_or(0);
        let mut out = vec![0u8; max_out];
        let mut decs: HashMap<u32, Box<dyn Decompressor>> = HashMap::new();
        for r in &set {
            if let std::collections::hash_map::Entry::Vacant(e) = decs.entry(r.chunk_size) {
                e.insert(new_decompressor(ct, r.chunk_size as usize).map_err(|e| e.to_string())?);
            }
        }
        // Checksum pass (untimed), then timed passes.
        let mut sum = 0xcbf2_9ce4_8422_2325u64;
        let mut failed = 0usize;
        for r in &set {
            let d = decs.get_mut(&r.chunk_size).unwrap();
            let o = &mut out[..r.usize_];
            if d.decompress(&r.data, o).is_err() {
                failed += 1;
            }
            sum = fnv1a(sum, o);
        }
        if failed > 0 {
            println!("format={} chunks={} failed={failed}", name(f), set.len());
            continue;
        }
        let mut best = f64::INFINITY;
        let mut best_wall = f64::INFINITY;
        for _ in 0..iters {
            let t = Instant::now();
            let c = thread_cpu_secs();
            for r in &set {
                let d = decs.get_mut(&r.chunk_size).unwrap();
                let _ = d.decompress(&r.data, &mut out[..r.usize_]);
            }
            best = best.min(thread_cpu_secs() - c);
            best_wall = best_wall.min(t.elapsed().as_secs_f64());
        }
        println!(
            "format={} chunks={} bytes={total} best_cpu_s={best:.6} best_wall_s={best_wall:.6} mbps={:.1} checksum={sum:016x}",
            name(f),
            set.len(),
            total as f64 / best / 1e6
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("dump") if args.len() >= 3 => dump(&args[1], &args[2..]),
        Some("run") if args.len() >= 2 => {
            let iters = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
            run(&args[1], iters)
        }
        _ => Err(
            "usage: codec_bench dump OUT.bin WIM... | codec_bench run CHUNKS.bin [ITERS]".into(),
        ),
    };
    if let Err(e) = res {
        eprintln!("codec_bench: {e}");
        std::process::exit(1);
    }
}
