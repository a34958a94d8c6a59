//! Test-environment helpers shared by codec tests: locating `wimlib-imagex`
//! and the shared fixture directory, with the project's skip rule: when a
//! prerequisite is missing the test fails if `CI=true`, otherwise it prints
//! a skip message and passes.
//!
//! Use it with `#[path = "support/tools.rs"] mod tools;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Report a missing prerequisite: panic in CI, print a skip line otherwise.
pub fn missing(test: &str, what: &str) {
    if in_ci() {
        panic!("{test}: {what} is required when CI=true");
    }
    eprintln!("SKIP {test}: {what} not available");
}

/// Path of `wimlib-imagex` if it runs.
pub fn wimlib_imagex(test: &str) -> Option<PathBuf> {
    let ok = Command::new("wimlib-imagex")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(PathBuf::from("wimlib-imagex"))
    } else {
        missing(test, "wimlib-imagex");
        None
    }
}

/// The shared directory: `$WIMFORGE_SHARED` or `<workspace root>/../shared`.
pub fn shared_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WIMFORGE_SHARED") {
        return PathBuf::from(d);
    }
    // CARGO_MANIFEST_DIR is crates/wim; the workspace root is two up.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The real-WIM fixture directory, if present.
pub fn wim_fixtures(test: &str) -> Option<PathBuf> {
    let d = shared_dir().join("fixtures/real/wim");
    if d.is_dir() {
        Some(d)
    } else {
        missing(test, &format!("fixture directory {}", d.display()));
        None
    }
}

/// `wimlib-imagex capture SRC OUT --compress=COMPRESS --chunk-size=N`
/// (single-threaded, to stay friendly on shared machines).
pub fn capture(tool: &Path, src: &Path, out: &Path, compress: &str, chunk_size: u32) {
    let st = Command::new(tool)
        .arg("capture")
        .arg(src)
        .arg(out)
        .arg(format!("--compress={compress}"))
        .arg(format!("--chunk-size={chunk_size}"))
        .arg("--threads=1")
        .arg("--no-acls")
        .output()
        .expect("spawn wimlib-imagex");
    assert!(
        st.status.success(),
        "wimlib-imagex capture failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}
