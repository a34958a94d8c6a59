//! Shared helpers for the vhdx integration tests: fixture lookup and
//! decompression, validator discovery, skip-or-fail policy.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `CI=true` turns every skip into a failure.
pub fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// Skip (print a line) or, under CI, fail.
pub fn skip(what: &str) {
    if ci() {
        panic!("CI=true and {what}");
    }
    eprintln!("SKIP: {what}");
}

/// The shared directory: `$WIMFORGE_SHARED` or `<workspace>/../shared`.
pub fn shared() -> PathBuf {
    match std::env::var_os("WIMFORGE_SHARED") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// Decompress the real fixture `name` (e.g. "qemu_iotest-dynamic-1G.vhdx")
/// from `shared/fixtures/real/vhdx/` into `dir`. `None` (after a skip line)
/// when it is missing.
pub fn fixture(dir: &Path, name: &str) -> Option<PathBuf> {
    let base = shared().join("fixtures/real/vhdx");
    for (ext, tool) in [(".gz", "gzip"), (".bz2", "bzip2"), ("", "")] {
        let src = base.join(format!("{name}{ext}"));
        if !src.is_file() {
            continue;
        }
        let out = dir.join(name);
        if tool.is_empty() {
            std::fs::copy(&src, &out).expect("copy fixture");
        } else {
            let f = std::fs::File::create(&out).expect("create temp fixture");
            let st = Command::new(tool)
                .arg("-dc")
                .arg(&src)
                .stdout(f)
                .status()
                .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
            assert!(st.success(), "{tool} -dc {} failed", src.display());
        }
        return Some(out);
    }
    skip(&format!(
        "fixture {name} not found under {}",
        base.display()
    ));
    None
}

/// Is the validator `tool` on PATH? Prints a skip line (or fails under CI)
/// when it is not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !ok {
        skip(&format!("validator {tool} is not installed"));
    }
    ok
}

/// Run a command, returning (success, stdout+stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().expect("spawn");
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), s)
}

/// `qemu-img check` is clean.
pub fn qemu_check(p: &Path) {
    if !have("qemu-img") {
        return;
    }
    let (ok, out) = run(Command::new("qemu-img").arg("check").arg(p));
    assert!(
        ok && out.contains("No errors"),
        "qemu-img check {}: {out}",
        p.display()
    );
}

/// `qemu-img info --output=json` as JSON.
pub fn qemu_info(p: &Path) -> Option<serde_json::Value> {
    if !have("qemu-img") {
        return None;
    }
    let (ok, out) = run(Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(p));
    assert!(ok, "qemu-img info {}: {out}", p.display());
    Some(serde_json::from_str(&out).expect("qemu-img json"))
}

/// `7zz t` accepts the file (no errors, no warnings).
pub fn sevenzip_ok(p: &Path) {
    if !have("7zz") {
        return;
    }
    let (ok, out) = run(Command::new("7zz").args(["t", "-tvhdx"]).arg(p));
    assert!(
        ok && out.contains("Everything is Ok"),
        "7zz t {}: {out}",
        p.display()
    );
    assert!(
        !out.contains("WARNING") && !out.contains("ERROR"),
        "7zz t {}: {out}",
        p.display()
    );
}

/// `7zz l -slt` output.
pub fn sevenzip_list(p: &Path) -> Option<String> {
    if !have("7zz") {
        return None;
    }
    let (ok, out) = run(Command::new("7zz").args(["l", "-slt", "-tvhdx"]).arg(p));
    assert!(ok, "7zz l {}: {out}", p.display());
    Some(out)
}

/// `vhdiinfo` output (reads the file).
pub fn vhdiinfo(p: &Path) -> Option<String> {
    if !have("vhdiinfo") {
        return None;
    }
    let (ok, out) = run(Command::new("vhdiinfo").arg(p));
    assert!(ok, "vhdiinfo {}: {out}", p.display());
    Some(out)
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}
