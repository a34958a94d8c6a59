//! Shared by `fixture_sweep.rs` and `mutation_sweep.rs`: the list of every
//! real fixture in `shared/fixtures/real/` (compressed ones decompressed
//! once into a cache under the target dir), the mapping from a fixture to
//! the `wimforge` inspection verbs that read it (by magic bytes, with the
//! INVENTORY's companions for split sets), and a runner that executes the
//! binary under a wall-clock deadline and an address-space limit and
//! reports exit status, peak RSS (from `wait4`'s rusage) and output.

#![allow(dead_code)]

use crate::support;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Address-space limit of every child (`setrlimit(RLIMIT_AS)`): an
/// allocation sized from a hostile field fails (abort, reported as a
/// signal) instead of taking the machine down.
pub const AS_LIMIT: u64 = 2 << 30;
/// Peak resident memory every run must stay under.
pub const RSS_LIMIT_KIB: u64 = 512 * 1024;

/// What a fixture is, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Wim,
    Vhdx,
    /// A raw NTFS volume (boot sector OEM id "NTFS    ").
    Ntfs,
    Hive,
    Cab,
    /// A raw disk image with an MBR or GPT and no file system of its own
    /// at sector 0.
    Disk,
    /// No inspection verb reads it; the reason says why.
    None(&'static str),
}

/// One real fixture, ready to read.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// Path relative to `fixtures/real/`, as stored (with `.gz`/`.bz2`).
    pub rel: String,
    /// The readable (decompressed if needed) file.
    pub path: PathBuf,
    pub kind: Kind,
    pub len: u64,
}

impl Fixture {
    /// The file name the verbs see (compression suffix removed).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

/// Files that are not inputs of any verb, with the reason; everything else
/// in the directory must map to a verb by its content.
pub const NO_VERB: &[(&str, &str)] = &[
    ("INVENTORY.md", "documentation"),
    ("wim/wimlib-tests/README", "documentation"),
    (
        "ntfs/ntfs-crate_create-testfs1.sh",
        "the shell script that made ntfs-crate_testfs1",
    ),
    (
        "ntfs/dissect-ntfs_mft.bin",
        "a bare $MFT without a boot sector: no verb reads a lone MFT (ntfs verbs need a volume)",
    ),
    (
        "other/dissect-fat_fat12.bin.gz",
        "a FAT volume: wimforge writes FAT (the ESP) but has no FAT inspection verb",
    ),
    (
        "other/dissect-fat_fat16.bin.gz",
        "a FAT volume: wimforge writes FAT (the ESP) but has no FAT inspection verb",
    ),
    (
        "other/dissect-fat_fat32.bin.gz",
        "a FAT volume: wimforge writes FAT (the ESP) but has no FAT inspection verb",
    ),
    (
        "other/qemu_hyperv2012r2-dynamic.vhd.bz2",
        "the older VHD format: wimforge reads VHDX only",
    ),
    (
        "scripts/nsig-style-SetupComplete.cmd",
        "a batch file: only `wimforge build` copies it, no inspection verb",
    ),
    (
        "unattend/ms-deploy-nano-firstboot-unattend.xml",
        "an answer file: parsed only inside `wimforge build`, no inspection verb",
    ),
    (
        "unattend/ms-nano-online-servicing-unattend.xml",
        "an answer file: parsed only inside `wimforge build`, no inspection verb",
    ),
    (
        "unattend/nsig-style-offlineServicing.xml",
        "an answer file: parsed only inside `wimforge build`, no inspection verb",
    ),
    (
        "unattend/plagueho-New-NanoServerVHD-unattend.xml",
        "an answer file: parsed only inside `wimforge build`, no inspection verb",
    ),
];

/// Kind from the first bytes of a file.
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let at = |off: usize, m: &[u8]| head.len() >= off + m.len() && &head[off..off + m.len()] == m;
    if at(0, b"MSWIM\0\0\0") {
        Some(Kind::Wim)
    } else if at(0, b"vhdxfile") {
        Some(Kind::Vhdx)
    } else if at(3, b"NTFS    ") {
        Some(Kind::Ntfs)
    } else if at(0, b"regf") {
        Some(Kind::Hive)
    } else if at(0, b"MSCF") {
        Some(Kind::Cab)
    } else if at(510, &[0x55, 0xAA]) && !at(54, b"FAT") && !at(82, b"FAT") {
        Some(Kind::Disk)
    } else {
        None
    }
}

/// Kind from the INVENTORY's directory of a fixture.
pub fn by_dir(rel: &str) -> Option<Kind> {
    match rel.split('/').next()? {
        "wim" => Some(Kind::Wim),
        "vhdx" => Some(Kind::Vhdx),
        "ntfs" => Some(Kind::Ntfs),
        "hive" => Some(Kind::Hive),
        "cab" => Some(Kind::Cab),
        _ => None,
    }
}

/// `fixtures/real/`.
pub fn real_dir() -> PathBuf {
    support::shared_dir().join("fixtures/real")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Decompress `src` (`.gz` or `.bz2`) once into a cache below the target
/// dir, keyed by the compressed file's size and modification time; the
/// result is written under a temporary name and renamed when complete.
fn decompressed(src: &Path, rel: &str) -> PathBuf {
    let (tool, stem) = if let Some(s) = rel.strip_suffix(".gz") {
        ("gzip", s)
    } else {
        ("bzip2", rel.strip_suffix(".bz2").unwrap())
    };
    let md = std::fs::metadata(src).unwrap();
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("sweep-fixtures")
        .join(format!("{}-{mtime}", md.len()))
        .join(Path::new(stem).parent().unwrap());
    let out = dir.join(Path::new(stem).file_name().unwrap());
    if out.is_file() {
        return out;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        out.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let status = Command::new(tool)
        .arg("-dc")
        .arg(src)
        .stdout(File::create(&tmp).unwrap())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(status.success(), "{tool} -dc {} failed", src.display());
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// Every file under `fixtures/real/`, sorted, with its kind; None (after
/// reporting: a failure under CI=true) when the directory or a
/// decompressor is missing. Panics on a file that neither maps to a verb
/// by content nor is listed in [`NO_VERB`], so a new fixture cannot be
/// skipped silently; also panics when a NO_VERB entry no longer exists.
pub fn all_fixtures() -> Option<Vec<Fixture>> {
    let root = real_dir();
    if !root.is_dir() {
        support::missing(&format!("fixture directory {}", root.display()));
        return None;
    }
    if !support::have("gzip") || !support::have("bzip2") {
        return None;
    }
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = Vec::new();
    for src in files {
        let rel = src
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if let Some((_, why)) = NO_VERB.iter().find(|(r, _)| *r == rel) {
            out.push(Fixture {
                path: src.clone(),
                len: std::fs::metadata(&src).unwrap().len(),
                rel,
                kind: Kind::None(why),
            });
            continue;
        }
        let path = if rel.ends_with(".gz") || rel.ends_with(".bz2") {
            decompressed(&src, &rel)
        } else {
            src.clone()
        };
        let mut head = Vec::new();
        File::open(&path)
            .unwrap()
            .take(4096)
            .read_to_end(&mut head)
            .unwrap();
        // By content; where the content is too broken to say (a cabinet
        // without its signature), by the INVENTORY's directory.
        let kind = sniff(&head).or_else(|| by_dir(&rel)).unwrap_or_else(|| {
            panic!(
                "{rel}: no inspection verb recognises its content; map it in \
                 sweep_util::sniff or list it in sweep_util::NO_VERB with the reason"
            )
        });
        out.push(Fixture {
            len: std::fs::metadata(&path).unwrap().len(),
            rel,
            path,
            kind,
        });
    }
    for (r, _) in NO_VERB {
        assert!(
            out.iter().any(|f| f.rel == *r),
            "NO_VERB lists {r}, which is not in {}",
            root.display()
        );
    }
    Some(out)
}

/// One verb invocation: a label and the arguments, where `{}` stands for
/// the fixture file.
#[derive(Clone, Debug)]
pub struct Verb {
    pub args: Vec<String>,
    /// Run on mutants only: the fixture sweep leaves it to the verb's own
    /// test (`cab extract` of every real cabinet is compared with
    /// cabextract in `cab_fixtures.rs`).
    pub mutants_only: bool,
}

impl Verb {
    fn new(args: &[&str]) -> Verb {
        Verb {
            args: args.iter().map(|s| s.to_string()).collect(),
            mutants_only: false,
        }
    }

    /// The command line with `{}` replaced by `file`, `{dir}` by the
    /// file's directory and `{out}` by `out` (an output directory).
    pub fn argv(&self, file: &Path, out: &Path) -> Vec<OsString> {
        let dir = file.parent().unwrap();
        self.args
            .iter()
            .map(|a| {
                if a == "{}" {
                    file.as_os_str().to_owned()
                } else if a == "{out}" {
                    out.as_os_str().to_owned()
                } else if let Some(rest) = a.strip_prefix("{dir}/") {
                    dir.join(rest).into_os_string()
                } else {
                    OsString::from(a)
                }
            })
            .collect()
    }

    /// Short form for messages: `wim verify`.
    pub fn label(&self) -> String {
        self.args
            .iter()
            .map(|a| {
                if a.starts_with('{') {
                    "F".to_string()
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Files a fixture needs beside it under their own names (the other parts
/// of a split WIM or a cabinet set), relative to `fixtures/real/`.
pub fn companions(fx: &Fixture) -> Vec<String> {
    let name = fx.name();
    let dir = Path::new(&fx.rel).parent().unwrap().to_string_lossy();
    let set = |prefix: &str, n: u32| -> Vec<String> {
        (1..=n)
            .map(|i| format!("{dir}/{prefix}{i}.cab"))
            .filter(|r| !r.ends_with(&format!("/{name}")))
            .collect()
    };
    match name.as_str() {
        "Split.swm" => vec![format!("{dir}/Split2.swm")],
        "Split2.swm" => vec![format!("{dir}/Split.swm")],
        // (multi_basic_pt1..5 name their neighbours cabd_multi_basic_ptN.cab,
        // which do not exist: each is read alone.)
        n if n.starts_with("split-") && n.ends_with(".cab") => set("split-", 5),
        _ => Vec::new(),
    }
}

/// The inspection verbs that read a fixture of this kind.
pub fn verbs(fx: &Fixture) -> Vec<Verb> {
    let name = fx.name();
    match fx.kind {
        Kind::Wim => {
            if name == "Split2.swm" {
                // Part 2 is read as the --ref of part 1.
                vec![
                    Verb::new(&["wim", "info", "{dir}/Split.swm", "--ref", "{}"]),
                    Verb::new(&["wim", "verify", "{dir}/Split.swm", "--ref", "{}"]),
                    Verb::new(&["wim", "dir", "{dir}/Split.swm", "1", "--ref", "{}"]),
                ]
            } else if name == "Split.swm" {
                // The first part of a split set, with the second as --ref.
                vec![
                    Verb::new(&["wim", "info", "{}", "--ref", "{dir}/Split2.swm"]),
                    Verb::new(&["wim", "verify", "{}", "--ref", "{dir}/Split2.swm"]),
                    Verb::new(&["wim", "dir", "{}", "1", "--ref", "{dir}/Split2.swm"]),
                ]
            } else {
                vec![
                    Verb::new(&["wim", "info", "{}"]),
                    Verb::new(&["wim", "verify", "{}"]),
                    Verb::new(&["wim", "dir", "{}", "1"]),
                ]
            }
        }
        Kind::Vhdx => {
            let mut v = vec![
                Verb::new(&["vhdx", "info", "{}"]),
                Verb::new(&["vhdx", "check", "{}"]),
                Verb::new(&["disk", "info", "{}"]),
            ];
            // INVENTORY: MBR + Windows-formatted NTFS inside.
            if name.starts_with("dissect-hypervisor_") {
                v.push(Verb::new(&[
                    "ntfs",
                    "ls",
                    "-R",
                    "-a",
                    "--partition",
                    "1",
                    "{}",
                ]));
                v.push(Verb::new(&["ntfs", "check", "--partition", "1", "{}"]));
            }
            v
        }
        Kind::Ntfs => vec![
            Verb::new(&["ntfs", "ls", "-R", "-a", "{}"]),
            Verb::new(&["ntfs", "check", "{}"]),
        ],
        Kind::Hive => {
            let mut v = vec![Verb::new(&["hive", "dump", "{}"])];
            if name.contains("BCD") {
                v.push(Verb::new(&["bcd", "dump", "{}"]));
            }
            v
        }
        Kind::Cab => {
            let mut v = vec![
                Verb::new(&["cab", "list", "{}"]),
                // The only verb that runs the MSZIP/LZX/Quantum decoders.
                Verb {
                    mutants_only: true,
                    ..Verb::new(&["cab", "extract", "{}", "{out}"])
                },
            ];
            if name.ends_with(".msu") || name.contains("inner-package") {
                v.push(Verb::new(&["package", "info", "{}"]));
            }
            v
        }
        Kind::Disk if name.contains("_4k") => {
            vec![Verb::new(&["disk", "info", "--sector-size", "4096", "{}"])]
        }
        Kind::Disk => vec![Verb::new(&["disk", "info", "{}"])],
        Kind::None(_) => Vec::new(),
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Exit(i32),
    Signal(i32),
    /// Killed after the deadline.
    Timeout,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub end: End,
    /// Peak resident set size of the child, KiB.
    pub maxrss_kib: u64,
    pub wall: Duration,
    /// The first 64 KiB of stdout and of stderr.
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Everything wrong with this run that is wrong for any input: a
    /// panic, a signal, a timeout, too much memory. Empty when fine.
    pub fn robustness_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match self.end {
            End::Exit(101) => p.push("exit code 101 (panic)".to_string()),
            End::Exit(_) => {}
            End::Signal(s) => p.push(format!(
                "killed by signal {s} (abort from a failed allocation under the {} MiB \
                 address-space limit, or a crash)",
                AS_LIMIT >> 20
            )),
            End::Timeout => p.push(format!("no exit within {:?} (hang)", self.wall)),
        }
        if self.stderr.contains("panicked") {
            p.push("stderr says \"panicked\"".to_string());
        }
        if self.maxrss_kib > RSS_LIMIT_KIB {
            p.push(format!(
                "peak RSS {} MiB > {} MiB",
                self.maxrss_kib >> 10,
                RSS_LIMIT_KIB >> 10
            ));
        }
        p
    }

    pub fn text(&self) -> String {
        format!(
            "{:?} in {:?}, {} MiB peak\nstdout: {}\nstderr: {}",
            self.end,
            self.wall,
            self.maxrss_kib >> 10,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

fn head_of(path: &Path) -> String {
    let mut b = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(64 << 10).read_to_end(&mut b);
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Run `wimforge ARGV` with stdout and stderr going to files in `scratch`
/// (so a chatty child cannot block on a full pipe), under
/// `RLIMIT_AS = AS_LIMIT`, no core dumps, and a wall-clock `deadline`
/// after which it is killed. Reaps it with `wait4` for the peak RSS.
pub fn run_wimforge(argv: &[OsString], scratch: &Path, deadline: Duration) -> Outcome {
    let mut cmd = support::wimforge();
    cmd.arg("--quiet").args(argv);
    run_limited(cmd, scratch, deadline)
}

/// [`run_wimforge`] for any command (the harness's own test uses it).
pub fn run_limited(mut cmd: Command, scratch: &Path, deadline: Duration) -> Outcome {
    let out_p = scratch.join("stdout");
    let err_p = scratch.join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_p).unwrap())
        .stderr(File::create(&err_p).unwrap())
        .env("RUST_BACKTRACE", "0")
        // Bound the glibc malloc arenas so the address-space limit
        // measures what the program allocates, not per-thread reserves.
        .env("MALLOC_ARENA_MAX", "2")
        .env("RAYON_NUM_THREADS", "2");
    // SAFETY: only async-signal-safe setrlimit calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let as_lim = libc::rlimit {
                rlim_cur: AS_LIMIT as libc::rlim_t,
                rlim_max: AS_LIMIT as libc::rlim_t,
            };
            let core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &as_lim) != 0
                || libc::setrlimit(libc::RLIMIT_CORE, &core) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value to be filled in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    let mut nap = Duration::from_micros(200);
    loop {
        // SAFETY: pid is our own unreaped child; the pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if start.elapsed() > deadline {
            timed_out = true;
            // SAFETY: signalling our own unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut ru);
            }
            break;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(5));
    }
    let wall = start.elapsed();
    // The child is reaped: dropping the handle does not wait again.
    drop(child);
    let end = if timed_out {
        End::Timeout
    } else if libc::WIFEXITED(status) {
        End::Exit(libc::WEXITSTATUS(status))
    } else {
        End::Signal(libc::WTERMSIG(status))
    };
    Outcome {
        end,
        maxrss_kib: ru.ru_maxrss as u64,
        wall,
        stdout: head_of(&out_p),
        stderr: head_of(&err_p),
    }
}

/// A tiny deterministic PRNG (xorshift64*), so every run of the mutation
/// test makes the same mutants from the same seed.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-enough in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// FNV-1a of a string: a stable per-fixture seed component.
pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
