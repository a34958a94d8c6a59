//! Shared helpers for the CLI integration tests: locating `../shared`
//! fixtures and outside validators, with the project's rule that under
//! `CI=true` a missing validator or fixture is a failure, never a skip.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Report something missing: panic in CI, print a skip line otherwise.
/// Returns false so callers can `return` from the test.
pub fn missing(what: &str) -> bool {
    if in_ci() {
        panic!("required for this test but missing (CI=true makes this a failure): {what}");
    }
    eprintln!("SKIP: {what} is missing");
    false
}

/// The shared directory (`WIMFORGE_SHARED`, or `../shared` beside the
/// workspace).
pub fn shared_dir() -> PathBuf {
    if let Ok(p) = std::env::var("WIMFORGE_SHARED") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// A fixture under `shared/fixtures/real/`, or None (after reporting).
pub fn fixture(rel: &str) -> Option<PathBuf> {
    let p = shared_dir().join("fixtures/real").join(rel);
    if p.exists() {
        Some(p)
    } else {
        missing(&format!("fixture {}", p.display()));
        None
    }
}

/// Is `tool` on PATH? Reports it when not.
pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    found || missing(&format!("validator `{tool}`"))
}

pub fn wimforge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wimforge"))
}

/// Run a command, returning its output; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run and require success; returns stdout as text.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compare two extracted trees: the same names, types, file bytes, hard
/// link counts, modification times (to the second) and symlink targets
/// (absolute targets compared relative to each tree's root). Panics naming
/// the first difference.
pub fn assert_same_tree(a: &Path, b: &Path) {
    use std::os::unix::fs::MetadataExt;
    let list = |root: &Path| -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let full = root.join(&rel);
            for e in std::fs::read_dir(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
            {
                let e = e.unwrap();
                let r = rel.join(e.file_name());
                if e.file_type().unwrap().is_dir() {
                    stack.push(r.clone());
                }
                out.push(r);
            }
        }
        out.sort();
        out
    };
    let la = list(a);
    let lb = list(b);
    assert_eq!(
        la,
        lb,
        "different entries in {} and {}",
        a.display(),
        b.display()
    );
    let canon = |root: &Path| std::fs::canonicalize(root).unwrap();
    let (ca, cb) = (canon(a), canon(b));
    for rel in &la {
        let (pa, pb) = (a.join(rel), b.join(rel));
        let (ma, mb) = (
            std::fs::symlink_metadata(&pa).unwrap(),
            std::fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "type of {}", rel.display());
        if ma.file_type().is_symlink() {
            let ta = std::fs::read_link(&pa).unwrap();
            let tb = std::fs::read_link(&pb).unwrap();
            let ra = ta
                .strip_prefix(&ca)
                .map(Path::to_path_buf)
                .unwrap_or(ta.clone());
            let rb = tb
                .strip_prefix(&cb)
                .map(Path::to_path_buf)
                .unwrap_or(tb.clone());
            assert_eq!(
                ra,
                rb,
                "symlink target of {} ({} vs {})",
                rel.display(),
                ta.display(),
                tb.display()
            );
        } else if ma.is_file() {
            assert_eq!(ma.len(), mb.len(), "size of {}", rel.display());
            assert!(
                std::fs::read(&pa).unwrap() == std::fs::read(&pb).unwrap(),
                "contents of {} differ",
                rel.display()
            );
            assert_eq!(
                ma.nlink(),
                mb.nlink(),
                "hard link count of {}",
                rel.display()
            );
        }
        assert_eq!(ma.mtime(), mb.mtime(), "mtime of {}", rel.display());
    }
}

/// Are all these tools on PATH? Reports each missing one.
pub fn tools(list: &[&str]) -> bool {
    list.iter().all(|t| have(t))
}

/// The embedded demo (`fixtures/demo`).
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo")
}

/// Copy `len` bytes at `start` of `raw` into the file `to` (a partition
/// cut out of a raw disk image).
pub fn cut(raw: &Path, start: u64, len: u64, to: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::open(raw).unwrap();
    f.seek(SeekFrom::Start(start)).unwrap();
    let mut o = std::fs::File::create(to).unwrap();
    let mut left = len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = (left as usize).min(buf.len());
        f.read_exact(&mut buf[..n]).unwrap();
        o.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
}

/// Sets a path's access and modification times (without following a
/// symlink), so captured trees have known timestamps.
pub fn set_mtime(p: &Path, secs: i64) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    // SAFETY: valid NUL-terminated path and two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0, "utimensat {}", p.display());
}

/// [`set_mtime`] on everything below `root` (deepest first) and on `root`.
pub fn set_tree_mtimes(root: &Path, secs: i64) {
    let mut all = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            all.push(p);
        }
    }
    all.sort();
    for p in all.iter().rev() {
        set_mtime(p, secs);
    }
    set_mtime(root, secs);
}

/// Small deterministic PRNG (xorshift64) for reproducible test data.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// x86-like bytes: short random "instructions" and many E8 calls to a few
/// targets, so the codecs' x86 filters have work to do.
pub fn x86ish(n: usize, seed: u64) -> Vec<u8> {
    let mut r = XorShift(seed);
    let targets: Vec<i32> = (0..30).map(|_| (r.next() % 2_000_000) as i32).collect();
    let ops: Vec<Vec<u8>> = (0..48)
        .map(|_| {
            let k = 1 + (r.next() % 6) as usize;
            (0..k).map(|_| r.next() as u8).collect()
        })
        .collect();
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        if r.next() % 4 == 0 {
            let pos = v.len() as i32;
            v.push(0xE8);
            v.extend_from_slice(&(targets[(r.next() % 30) as usize] - pos).to_le_bytes());
        } else {
            v.extend_from_slice(&ops[(r.next() % 48) as usize]);
        }
    }
    v.truncate(n);
    v
}

/// Small and large files (several chunks at every chunk size, a partial
/// last chunk), text, code, random and empty files, a duplicate, a hard
/// link, symlinks and an empty directory.
pub fn make_codec_tree(root: &Path) {
    std::fs::create_dir_all(root.join("bin/sub")).unwrap();
    std::fs::create_dir(root.join("empty dir")).unwrap();
    let text: Vec<u8> = (0..120_000u32)
        .flat_map(|i| format!("line {} of {} value {}\n", i % 977, i % 31, i % 7).into_bytes())
        .collect();
    std::fs::write(root.join("text.txt"), &text).unwrap();
    std::fs::write(root.join("bin/code.dll"), x86ish(4_500_000 + 12_345, 1)).unwrap();
    std::fs::write(root.join("bin/sub/small.exe"), x86ish(40_000, 2)).unwrap();
    std::fs::write(root.join("bin/sub/copy.exe"), x86ish(40_000, 2)).unwrap();
    let mut r = XorShift(3);
    let random: Vec<u8> = (0..300_000).map(|_| r.next() as u8).collect();
    std::fs::write(root.join("random.bin"), &random).unwrap();
    std::fs::write(root.join("zeros"), vec![0u8; 3_000_000]).unwrap();
    std::fs::write(root.join("tiny"), b"x").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::hard_link(root.join("text.txt"), root.join("bin/text-link.txt")).unwrap();
    std::os::unix::fs::symlink("text.txt", root.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("bin/sub", root.join("dir-link")).unwrap();
    set_tree_mtimes(root, 1_650_000_000);
}

/// `wimforge wim capture SRC WIM EXTRA...`, which must succeed; returns its stderr.
pub fn capture_ok(src: &Path, wim: &Path, extra: &[&str]) -> String {
    let out = run(wimforge()
        .args(["wim", "capture"])
        .arg(src)
        .arg(wim)
        .args(extra));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "capture {extra:?} failed: {err}");
    err
}

/// Lines of `wimlib-imagex dir --detailed` that describe what the file
/// system holds (names, short names, attributes, security descriptors,
/// times, link counts, reparse tags, object ids, stream names, hashes and
/// sizes), not where the WIM stores it (offsets, compressed sizes,
/// reference counts, link group ids, which are numbering).
const DETAILED_KEEP: &[&str] = &[
    "Full Path",
    "Short Name",
    "Attributes",
    "    FILE_ATTRIBUTE",
    "Security Descriptor",
    "Creation Time",
    "Last Write Time",
    "Last Access Time",
    "Link Count",
    "Reparse Tag",
    "Object ID",
    "Birth Volume ID",
    "Birth Object ID",
    "Domain ID",
    "Hash",
    "Uncompressed size",
    "\t",
];

/// `wimlib-imagex dir --detailed WIM IMAGE`, filtered to [`DETAILED_KEEP`].
pub fn wimlib_detailed(wim: &Path, image: &str) -> Vec<String> {
    ok(Command::new("wimlib-imagex")
        .args(["dir", "--detailed"])
        .arg(wim)
        .arg(image))
    .lines()
    .filter(|l| DETAILED_KEEP.iter().any(|k| l.starts_with(k)))
    .map(str::to_string)
    .collect()
}
