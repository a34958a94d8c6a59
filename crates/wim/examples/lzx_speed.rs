//! LZX compressor timing on a directory (not a test): every file is cut
//! into 32 KiB chunks as a WIM resource would be, and each chunk is
//! compressed on one thread; prints the total compressed size (raw chunks
//! counted at full size) and the thread CPU time.
//!
//! `cargo run --release -p wimforge-wim --example lzx_speed -- DIR [fast|normal|thorough] [check]`

use std::time::Instant;
use wim::codec::lzx_compress::{Level, LzxCompressor};
use wim::codec::{new_decompressor, CompressionType};
use wim::write::Compressor;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("DIR");
    let level = match args.get(2).map(String::as_str) {
        Some("fast") => Level::Fast,
        Some("thorough") => Level::Thorough,
        _ => Level::Normal,
    };
    let check = args.get(3).is_some_and(|a| a == "check");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let chunk = 32768;
    let mut c = LzxCompressor::new(chunk, level).expect("compressor");
    // Tuning: LZX_PARAMS=depth,nice,passes overrides the level's search.
    if let Ok(p) = std::env::var("LZX_PARAMS") {
        let v: Vec<usize> = p.split(',').map(|x| x.parse().expect("number")).collect();
        c.set_params(v[0] as u32, v[1], v[2] as u32);
    }
    let mut dec = new_decompressor(CompressionType::Lzx, chunk).expect("decoder");
    let mut out = Vec::new();
    let mut back = vec![0u8; chunk];
    let (mut inb, mut outb) = (0usize, 0usize);
    let mut cpu = std::time::Duration::ZERO;
    for f in &files {
        let data = std::fs::read(f).expect("read");
        for ch in data.chunks(chunk) {
            let t = Instant::now();
            let r = c.compress(ch, &mut out);
            cpu += t.elapsed();
            inb += ch.len();
            match r {
                Some(n) => {
                    outb += n;
                    if check {
                        dec.decompress(&out, &mut back[..ch.len()]).expect("decode");
                        assert_eq!(&back[..ch.len()], ch, "{}", f.display());
                    }
                }
                None => outb += ch.len(),
            }
        }
    }
    println!(
        "level={level:?} in={inb} out={outb} ratio={:.5} secs={:.3}",
        outb as f64 / inb as f64,
        cpu.as_secs_f64()
    );
}
