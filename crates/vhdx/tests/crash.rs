//! Crash safety of in-place edits: metadata updates go through the log, so
//! a crash at any moment leaves a file that opens, replays and checks
//! clean, with every acknowledged (written and flushed) write present.
//!
//! Two models:
//! - `power_loss_at_every_device_operation`: an in-process device that
//!   "loses power" after N operations, keeping everything flushed before and
//!   a random subset of the unflushed writes (the OS may reorder them).
//! - `killed_process_at_random_points`: a child process doing writes to a
//!   real file is SIGKILLed at random moments.

mod common;

use blockdev::{BlockDev, MemDev};
use common::Rng;
use std::io;
use std::sync::{Arc, Mutex};
use vhdx::{CreateOptions, GuidSource, OpenOptions, Vhdx};

const MIB: u64 = 1 << 20;
const VSIZE: u64 = 12 * MIB;

enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

struct Inner {
    durable: Vec<u8>,
    pending: Vec<Op>,
    ops: u64,
    crash_at: u64,
    crashed: bool,
}

/// A device that stops working after `crash_at` operations.
struct CrashDev(Mutex<Inner>);

fn apply(img: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write(o, d) => {
            let end = *o as usize + d.len();
            if img.len() < end {
                img.resize(end, 0);
            }
            img[*o as usize..end].copy_from_slice(d);
        }
        Op::SetLen(l) => img.resize(*l as usize, 0),
    }
}

impl CrashDev {
    fn new(img: Vec<u8>, crash_at: u64) -> Self {
        CrashDev(Mutex::new(Inner {
            durable: img,
            pending: Vec::new(),
            ops: 0,
            crash_at,
            crashed: false,
        }))
    }
    /// Current view (durable + pending in order).
    fn view(i: &Inner) -> Vec<u8> {
        let mut v = i.durable.clone();
        for op in &i.pending {
            apply(&mut v, op);
        }
        v
    }
    fn tick(i: &mut Inner) -> io::Result<()> {
        if i.crashed {
            return Err(io::Error::other("power lost"));
        }
        i.ops += 1;
        if i.ops >= i.crash_at {
            i.crashed = true;
            return Err(io::Error::other("power lost"));
        }
        Ok(())
    }
    /// The image after the crash: durable state plus a random subset of the
    /// pending operations.
    fn after_crash(&self, rng: &mut Rng) -> Vec<u8> {
        let i = self.0.lock().unwrap();
        let mut v = i.durable.clone();
        for op in &i.pending {
            if rng.below(2) == 0 {
                apply(&mut v, op);
            }
        }
        v
    }
}

impl BlockDev for CrashDev {
    fn len(&self) -> u64 {
        let i = self.0.lock().unwrap();
        let mut l = i.durable.len() as u64;
        for op in &i.pending {
            match op {
                Op::Write(o, d) => l = l.max(o + d.len() as u64),
                Op::SetLen(n) => l = *n,
            }
        }
        l
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut i = self.0.lock().unwrap();
        Self::tick(&mut i)?;
        let v = Self::view(&i);
        blockdev::check_range(v.len() as u64, offset, buf.len(), false)?;
        buf.copy_from_slice(&v[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut i = self.0.lock().unwrap();
        Self::tick(&mut i)?;
        i.pending.push(Op::Write(offset, buf.to_vec()));
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        let mut i = self.0.lock().unwrap();
        Self::tick(&mut i)?;
        let v = Self::view(&i);
        i.durable = v;
        i.pending.clear();
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut i = self.0.lock().unwrap();
        Self::tick(&mut i)?;
        i.pending.push(Op::SetLen(len));
        Ok(())
    }
}

/// The base file: a dynamic disk with some data, closed cleanly.
fn base_image() -> (Vec<u8>, Vec<u8>) {
    let mem = Arc::new(MemDev::new(0));
    let o = CreateOptions {
        size: VSIZE,
        block_size: 1 << 20,
        guids: GuidSource::Seeded("crash".into()),
        ..Default::default()
    };
    let d = Vhdx::create_on(Box::new(mem.clone()), "base", &o).unwrap();
    let mut model = vec![0u8; VSIZE as usize];
    model[..(2 * MIB) as usize].fill(0x11);
    d.write_at(0, &model[..(2 * MIB) as usize]).unwrap();
    d.close().unwrap();
    drop(d);
    (mem.to_vec(), model)
}

/// The deterministic write sequence: (offset, data).
fn workload(seed: u64, n: usize) -> Vec<(u64, Vec<u8>)> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let len = 1 + rng.below(300_000) as usize;
            let off = rng.below(VSIZE - len as u64);
            let mut b = vec![0u8; len];
            rng.fill(&mut b);
            b[0] = i as u8;
            (off, b)
        })
        .collect()
}

/// The recovered disk reads as the acknowledged state, except that the
/// range of the in-flight write may hold its new bytes.
fn verify(img: Vec<u8>, acked: &[u8], inflight: Option<&(u64, Vec<u8>)>, what: &str) {
    // Read-only open replays in memory and never writes.
    let ro =
        Vhdx::open_bytes(&img).unwrap_or_else(|e| panic!("{what}: read-only open failed: {e}"));
    let mut ro_view = vec![0u8; VSIZE as usize];
    ro.read_at(0, &mut ro_view).unwrap();
    drop(ro);
    // Read-write open replays into the file.
    let mem = Arc::new(MemDev::from_vec(img));
    let d = Vhdx::open_dev(
        Box::new(mem.clone()),
        "crashed",
        OpenOptions {
            writable: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    d.close().unwrap();
    drop(d);
    let d = Vhdx::open_bytes(&mem.to_vec()).unwrap();
    assert!(!d.log_was_dirty(), "{what}: log still dirty after replay");
    let f = vhdx::check::check(&d);
    assert!(f.is_empty(), "{what}: check after replay: {f:?}");
    let mut back = vec![0u8; VSIZE as usize];
    d.read_at(0, &mut back).unwrap();
    assert!(
        back == ro_view,
        "{what}: in-memory replay differs from replay into the file"
    );
    for (i, (&b, &a)) in back.iter().zip(acked).enumerate() {
        if b == a {
            continue;
        }
        let ok = inflight.is_some_and(|(o, data)| {
            let i = i as u64;
            i >= *o && i < o + data.len() as u64 && data[(i - o) as usize] == b
        });
        assert!(
            ok,
            "{what}: byte {i:#x} is {b:#x}, acknowledged state has {a:#x}"
        );
    }
}

#[test]
fn power_loss_at_every_device_operation() {
    let (base, base_model) = base_image();
    let work = workload(1, 8);
    // Count the device operations of a full run.
    let total = {
        let dev = Arc::new(CrashDev::new(base.clone(), u64::MAX));
        let d = Vhdx::open_dev(
            Box::new(dev.clone()),
            "x",
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        for (o, b) in &work {
            d.write_at(*o, b).unwrap();
            d.flush().unwrap();
        }
        d.close().unwrap();
        drop(d);
        let n = dev.0.lock().unwrap().ops;
        n
    };
    assert!(total > 50, "only {total} device operations");
    let mut rng = Rng(77);
    let mut points = 0;
    for crash_at in 1..=total + 1 {
        for variant in 0..2 {
            let dev = Arc::new(CrashDev::new(base.clone(), crash_at));
            let mut acked = base_model.clone();
            let mut inflight = None;
            match Vhdx::open_dev(
                Box::new(dev.clone()),
                "x",
                OpenOptions {
                    writable: true,
                    ..Default::default()
                },
            ) {
                Err(_) => {}
                Ok(d) => {
                    for w in &work {
                        inflight = Some(w);
                        if d.write_at(w.0, &w.1).is_err() || d.flush().is_err() {
                            break;
                        }
                        acked[w.0 as usize..w.0 as usize + w.1.len()].copy_from_slice(&w.1);
                        inflight = None;
                    }
                    let _ = d.close();
                    std::mem::forget(d); // the "machine" is off: no drop-time writes
                }
            }
            let img = if variant == 0 {
                dev.0.lock().unwrap().durable.clone()
            } else {
                dev.after_crash(&mut rng)
            };
            verify(
                img,
                &acked,
                inflight,
                &format!("crash at op {crash_at} variant {variant}"),
            );
            points += 1;
        }
    }
    eprintln!("verified {points} crash points over {total} device operations");
}

/// Child-process side of `killed_process_at_random_points`.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("VHDX_CRASH_CHILD") else {
        return;
    };
    let seed: u64 = std::env::var("VHDX_CRASH_SEED").unwrap().parse().unwrap();
    let d = Vhdx::open(
        &path,
        OpenOptions {
            writable: true,
            ..Default::default()
        },
    )
    .unwrap();
    use std::io::Write;
    let mut out = std::io::stdout();
    for (i, (o, b)) in workload(seed, 400).iter().enumerate() {
        d.write_at(*o, b).unwrap();
        d.flush().unwrap();
        writeln!(out, "ACK {i}").unwrap();
        out.flush().unwrap();
    }
    std::process::exit(0);
}

#[cfg(unix)]
#[test]
fn killed_process_at_random_points() {
    use std::io::BufRead;
    let t = tempfile::tempdir().unwrap();
    let (base, base_model) = base_image();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(2024);
    for round in 0..8u64 {
        let p = t.path().join(format!("k{round}.vhdx"));
        std::fs::write(&p, &base).unwrap();
        let seed = 1000 + round;
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("VHDX_CRASH_CHILD", &p)
            .env("VHDX_CRASH_SEED", seed.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let kill_after = rng.below(30);
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last: Option<usize> = None;
        while last.is_none_or(|l| (l as u64) < kill_after) {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("ACK ") => last = Some(l[4..].parse().unwrap()),
                Some(_) => {}
                None => break,
            }
        }
        // Let it run into the middle of the next write, then kill it.
        std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
        child.kill().unwrap();
        child.wait().unwrap();
        for l in lines.map_while(Result::ok) {
            if let Some(n) = l.strip_prefix("ACK ") {
                last = Some(n.parse().unwrap());
            }
        }
        let work = workload(seed, 400);
        let done = last.map_or(0, |l| l + 1);
        let mut acked = base_model.clone();
        for (o, b) in &work[..done] {
            acked[*o as usize..*o as usize + b.len()].copy_from_slice(b);
        }
        let img = std::fs::read(&p).unwrap();
        verify(
            img,
            &acked,
            work.get(done),
            &format!("kill round {round} after {done} acks"),
        );
        // qemu-img agrees once replayed.
        let d = Vhdx::open(
            &p,
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        d.close().unwrap();
        drop(d);
        common::qemu_check(&p);
    }
}
