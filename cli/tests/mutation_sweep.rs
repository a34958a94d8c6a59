//! Mutants of every real fixture through the same inspection verbs as
//! `fixture_sweep.rs` (issue #7), plus `cab extract` for cabinets (it runs
//! the MSZIP/LZX/Quantum decoders over every file). For each fixture that a
//! verb reads: 100 single-byte flips at seeded pseudo-random positions
//! (xorshift64*, seed [`SEED`] mixed with the fixture's path;
//! `SWEEP_SEED=N` picks another; a position prefers non-zero bytes: the
//! first of up to 8 draws that hits one, so flips land in structures
//! rather than zero padding) and truncations at 20 points (k/20 of the
//! length, k = 0..19). No run may panic (exit 101 or "panicked" on
//! stderr), die by a signal, outlive [`DEADLINE`] or exceed the memory
//! bounds of `sweep_util`; a non-zero exit with an error is the expected
//! answer to most mutants.
//!
//! Large fixtures: for files over [`BIG`] (the decompressed VHDX images)
//! the mutants are capped at [`BIG_FLIPS`] flips, drawn from the first
//! [`BIG_FLIP_SPAN`] bytes (where the headers, log, region table,
//! metadata region and BAT of these VHDX files lie; the rest is mostly
//! payload), and [`BIG_CUTS`] truncation points, to keep the test within
//! its CI time budget.
//!
//! Each mutant is made in place in a per-fixture copy (flip, run, flip
//! back; then cuts from the longest to the shortest), beside links to the
//! other parts of its split WIM or cabinet set. A failing mutant is kept
//! under the target dir (`mutation-failures/`) and named in the message
//! with the seed, the file, the offset and the verb.

mod support;
mod sweep_util;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use sweep_util::*;

const SEED: u64 = 0x7715_2026_0000_0007;
const FLIPS: usize = 100;
const CUTS: u64 = 20;
const BIG: u64 = 16 << 20;
const BIG_FLIPS: usize = 50;
const BIG_FLIP_SPAN: u64 = 8 << 20;
const BIG_CUTS: u64 = 10;
/// Wall-clock limit of one run.
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Mutation {
    Flip { offset: u64, mask: u8 },
    Truncate { len: u64 },
}

fn seed() -> u64 {
    std::env::var("SWEEP_SEED")
        .ok()
        .and_then(|s| {
            s.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| s.parse().ok())
        })
        .unwrap_or(SEED)
}

/// The mutants of one fixture, in the order they are applied.
fn mutations(fx: &Fixture, seed: u64) -> Vec<Mutation> {
    let big = fx.len > BIG;
    let (flips, span, cuts) = if big {
        (BIG_FLIPS, BIG_FLIP_SPAN.min(fx.len), BIG_CUTS)
    } else {
        (FLIPS, fx.len, CUTS)
    };
    let mut rng = XorShift::new(seed ^ fnv(&fx.rel));
    // Positions prefer non-zero bytes (the first of up to 8 draws that
    // hits one), so that flips land in structures rather than in the zero
    // padding that fills most of these images.
    let mut head = Vec::new();
    std::fs::File::open(&fx.path)
        .unwrap()
        .take(span)
        .read_to_end(&mut head)
        .unwrap();
    let mut out = Vec::new();
    if span > 0 {
        for _ in 0..flips {
            let mut offset = rng.below(span);
            for _ in 1..8 {
                if head[offset as usize] != 0 {
                    break;
                }
                offset = rng.below(span);
            }
            out.push(Mutation::Flip {
                offset,
                mask: 1 + rng.below(255) as u8,
            });
        }
    }
    let mut lens: Vec<u64> = (0..cuts).map(|k| fx.len * k / cuts).collect();
    lens.sort_unstable_by(|a, b| b.cmp(a));
    lens.dedup();
    out.extend(lens.into_iter().map(|len| Mutation::Truncate { len }));
    out
}

fn byte_at(f: &mut std::fs::File, off: u64) -> u8 {
    let mut b = [0u8];
    f.seek(SeekFrom::Start(off)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0]
}

fn put_byte(f: &mut std::fs::File, off: u64, b: u8) {
    f.seek(SeekFrom::Start(off)).unwrap();
    f.write_all(&[b]).unwrap();
    f.flush().unwrap();
}

/// Per verb: how the mutants ended, to show that they reach the parsers
/// (most must be rejected) and how close they came to the limits.
#[derive(Default)]
struct Stats(std::collections::BTreeMap<String, (usize, usize, Duration, u64)>);

impl Stats {
    fn add(&mut self, label: &str, o: &Outcome) {
        let e = self.0.entry(label.to_string()).or_default();
        if o.end == End::Exit(0) {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        e.2 = e.2.max(o.wall);
        e.3 = e.3.max(o.maxrss_kib);
    }
    fn merge(&mut self, other: Stats) {
        for (k, v) in other.0 {
            let e = self.0.entry(k).or_default();
            e.0 += v.0;
            e.1 += v.1;
            e.2 = e.2.max(v.2);
            e.3 = e.3.max(v.3);
        }
    }
}

/// Keep a failing mutant for reproduction; returns where.
fn keep(work: &Path, fx: &Fixture, m: Mutation) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let tag = match m {
        Mutation::Flip { offset, mask } => format!("flip-{offset}-{mask:02x}"),
        Mutation::Truncate { len } => format!("cut-{len}"),
    };
    let to = dir.join(format!("{}.{tag}", fx.name()));
    std::fs::copy(work, &to).unwrap();
    to.display().to_string()
}

/// Mutate one fixture and run its verbs on every mutant; returns the
/// failure messages and the number of runs.
fn sweep_one(fx: &Fixture, verbs: &[Verb], dir: &Path, seed: u64) -> (Vec<String>, usize, Stats) {
    let work = dir.join(fx.name());
    std::fs::copy(&fx.path, &work).unwrap();
    for c in companions(fx) {
        let src = real_dir().join(&c);
        let _ = std::os::unix::fs::symlink(&src, dir.join(Path::new(&c).file_name().unwrap()));
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&work)
        .unwrap();
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut stats = Stats::default();
    let scratch = dir.join(".out");
    std::fs::create_dir_all(&scratch).unwrap();
    for m in mutations(fx, seed) {
        let restore = match m {
            Mutation::Flip { offset, mask } => {
                let b = byte_at(&mut f, offset);
                put_byte(&mut f, offset, b ^ mask);
                Some((offset, b))
            }
            Mutation::Truncate { len } => {
                f.set_len(len).unwrap();
                None
            }
        };
        for v in verbs {
            let out = scratch.join("out");
            let o = run_wimforge(&v.argv(&work, &out), &scratch, DEADLINE);
            let _ = std::fs::remove_dir_all(&out);
            runs += 1;
            stats.add(&v.label(), &o);
            let why = o.robustness_problems();
            if !why.is_empty() {
                let kept = keep(&work, fx, m);
                failures.push(format!(
                    "seed {seed:#x}: {} {m:?} / wimforge {}: {} (mutant kept at {kept})\n  {}",
                    fx.rel,
                    v.label(),
                    why.join("; "),
                    o.text().replace('\n', "\n  ")
                ));
            }
        }
        if let Some((offset, b)) = restore {
            put_byte(&mut f, offset, b);
        }
    }
    drop(f);
    let _ = std::fs::remove_file(&work);
    (failures, runs, stats)
}

#[test]
fn mutants_of_every_real_fixture_never_panic_hang_or_blow_up() {
    let Some(fixtures) = all_fixtures() else {
        return;
    };
    let seed = seed();
    eprintln!("mutation sweep seed {seed:#x} (SWEEP_SEED=N to change)");
    let t0 = Instant::now();
    let mut items: Vec<(Fixture, Vec<Verb>)> = fixtures
        .into_iter()
        .filter_map(|fx| {
            let v = verbs(&fx);
            (!v.is_empty()).then_some((fx, v))
        })
        .collect();
    // Largest first, so the slow ones do not start last.
    items.sort_by(|a, b| b.0.len.cmp(&a.0.len).then(a.0.rel.cmp(&b.0.rel)));
    let scratch = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let total_runs = AtomicUsize::new(0);
    let all_stats = Mutex::new(Stats::default());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(4);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (items, next, failures, total_runs, all_stats, scratch) = (
                &items,
                &next,
                &failures,
                &total_runs,
                &all_stats,
                scratch.path(),
            );
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((fx, verbs)) = items.get(i) else {
                    break;
                };
                let dir = scratch.join(i.to_string());
                std::fs::create_dir_all(&dir).unwrap();
                let t = Instant::now();
                let (f, n, st) = sweep_one(fx, verbs, &dir, seed);
                all_stats.lock().unwrap().merge(st);
                eprintln!(
                    "{:<55} {:>5} runs {:>7} ms {} failing",
                    fx.rel,
                    n,
                    t.elapsed().as_millis(),
                    f.len()
                );
                let _ = std::fs::remove_dir_all(&dir);
                total_runs.fetch_add(n, Ordering::Relaxed);
                failures.lock().unwrap().extend(f);
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    for (verb, (ok, err, wall, rss)) in &all_stats.into_inner().unwrap().0 {
        eprintln!(
            "{verb:<40} {ok:>5} exit 0, {err:>5} rejected; slowest {wall:?}, peak RSS {} MiB",
            rss >> 10
        );
    }
    eprintln!(
        "{} fixtures, {} runs in {:?}",
        items.len(),
        total_runs.load(Ordering::Relaxed),
        t0.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} mutant runs failed (seed {seed:#x}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
