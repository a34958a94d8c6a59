//! Decode every file of a cabinet N times in-process and print the rate:
//! `cargo run --release -p wimforge-cab --example decode_speed -- FILE.cab [N]`.
//! (Compare with `cabextract -t FILE.cab` run N times.)

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: decode_speed FILE.cab [N]");
    let n: usize = args.next().map(|s| s.parse().expect("N")).unwrap_or(50);
    let c = cab::Cabinet::open(&path).expect("open");
    let idx: Vec<usize> = (0..c.files().len()).collect();
    let bytes: u64 = c.files().iter().map(|f| f.size as u64).sum();
    let t = Instant::now();
    for _ in 0..n {
        let m = c.read_files(&idx).expect("decode");
        assert_eq!(m.values().map(|v| v.len() as u64).sum::<u64>(), bytes);
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} x {:.2} MB in {:.3} s: {:.1} MB/s, {:.2} ms per pass",
        n,
        bytes as f64 / 1e6,
        s,
        (n as f64 * bytes as f64) / s / 1e6,
        s * 1000.0 / n as f64
    );
}
