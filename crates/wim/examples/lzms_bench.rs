//! LZMS decode benchmark (single thread), comparable with
//! `scripts/lzms-bench/wimlib_lzms_bench.c`.
//!
//! ```text
//! lzms_bench dump  <in.wim> <out.dump>   # verify all blobs, write chunk dump
//! lzms_bench bench <in.dump> [rounds]    # time our decoder over the dump
//! ```
//!
//! Dump format (shared with the codec bench of `tests/support/chunks.rs`):
//! magic `WFCHUNK1`, then records of little-endian u32 format, u32 chunk size
//! (decompressor creation size), u32 uncompressed size, u32 compressed size,
//! followed by the compressed bytes. Only compressed chunks are written.

#[path = "../tests/support/real.rs"]
mod real;

use std::time::Instant;

use wim::codec::lzms::LzmsDecompressor;
use wim::codec::{CompressionType, Decompressor};

struct Rec {
    format: u32,
    chunk_size: u32,
    usize_: u32,
    data: Vec<u8>,
}

fn read_dump(path: &str) -> Vec<Rec> {
    let b = std::fs::read(path).expect("read dump");
    assert_eq!(&b[..8], b"WFCHUNK1", "bad dump magic");
    let mut at = 8;
    let mut out = Vec::new();
    let u = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    while at + 16 <= b.len() {
        let (format, chunk_size, usize_, csize) =
            (u(&b, at), u(&b, at + 4), u(&b, at + 8), u(&b, at + 12));
        at += 16;
        out.push(Rec {
            format,
            chunk_size,
            usize_,
            data: b[at..at + csize as usize].to_vec(),
        });
        at += csize as usize;
    }
    out
}

fn dump(wim_path: &str, out_path: &str) {
    let file = std::fs::read(wim_path).expect("read wim");
    let wim = real::open(&file);
    let mut decoders: Vec<(usize, LzmsDecompressor)> = Vec::new();
    let (n, _) = real::verify_with(&wim, |r, input, out| {
        assert_eq!(r.ctype, CompressionType::Lzms, "not LZMS");
        let cs = r.chunk_size as usize;
        let i = match decoders.iter().position(|(c, _)| *c == cs) {
            Some(i) => i,
            None => {
                decoders.push((cs, LzmsDecompressor::new(cs)?));
                decoders.len() - 1
            }
        };
        decoders[i].1.decompress(input, out)
    });
    let mut buf = Vec::new();
    buf.extend_from_slice(b"WFCHUNK1");
    let chunks = real::compressed_chunks(&wim, CompressionType::Lzms);
    for c in &chunks {
        for v in [
            3u32,
            c.chunk_size as u32,
            c.uncompressed_size as u32,
            c.data.len() as u32,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.extend_from_slice(&c.data);
    }
    std::fs::write(out_path, buf).expect("write dump");
    println!(
        "{wim_path}: {n} blobs SHA-1 verified; {} compressed chunks dumped to {out_path}",
        chunks.len()
    );
}

/// CPU time of the calling thread in seconds: the machines are shared, so
/// time spent descheduled must not count (same clock as the C harness).
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
    // Linux) into a valid, exclusively borrowed location.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

fn bench(path: &str, rounds: usize) {
    let recs: Vec<Rec> = read_dump(path)
        .into_iter()
        .filter(|r| r.format == 3)
        .collect();
    let max_chunk = recs
        .iter()
        .map(|r| r.chunk_size as usize)
        .max()
        .unwrap_or(1);
    let max_out = recs.iter().map(|r| r.usize_ as usize).max().unwrap_or(1);
    let mut d = LzmsDecompressor::new(max_chunk).expect("decompressor");
    let mut out = vec![0u8; max_out];
    let total_out: u64 = recs.iter().map(|r| r.usize_ as u64).sum();
    let total_in: u64 = recs.iter().map(|r| r.data.len() as u64).sum();
    // Touch the output buffer once so page faults are not timed.
    out.fill(0);
    let mut best = f64::MAX;
    let mut best_wall = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let c = thread_cpu_secs();
        for r in &recs {
            d.decompress(&r.data, &mut out[..r.usize_ as usize])
                .expect("decode");
        }
        best = best.min(thread_cpu_secs() - c);
        best_wall = best_wall.min(t.elapsed().as_secs_f64());
    }
    println!(
        "ours   {path}: {} chunks, {total_in} -> {total_out} bytes, best of {rounds}: cpu {best:.3} s (wall {best_wall:.3} s), {:.1} MB/s",
        recs.len(),
        total_out as f64 / best / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("dump") if args.len() == 4 => dump(&args[2], &args[3]),
        Some("bench") if args.len() >= 3 => bench(
            &args[2],
            args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5),
        ),
        _ => {
            eprintln!("usage: lzms_bench dump <in.wim> <out.dump> | bench <in.dump> [rounds]");
            std::process::exit(2);
        }
    }
}
