//! Inputs that failed the `wim_open` fuzz target (fuzz/), kept under
//! fixtures/fuzz-regressions/wim_open/. Each must give a clean result now.

use std::path::PathBuf;
use wim::pipeline::Options;
use wim::Wim;

fn regression(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/fuzz-regressions/wim_open")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Threads of this process whose name starts with the pipeline's
/// `wim-decompress-` (Linux truncates thread names to 15 bytes).
#[cfg(target_os = "linux")]
fn decompress_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("wim-decompress"))
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn verify_joins_its_worker_threads_before_returning() {
    // LeakSanitizer (wim_open, 10-minute run) reported the per-thread
    // decompressor cache of a pipeline worker as leaked: the pipeline's
    // rayon pool was dropped without joining its threads, which were still
    // exiting (their thread-locals not yet freed) after `verify` returned.
    // This test is the only one in its binary, so no other test's pipeline
    // threads can be counted.
    let w = Wim::from_bytes("verify-worker-threads-outlive-call.wim", {
        regression("verify-worker-threads-outlive-call.wim")
    })
    .expect("the header and tables of this input are valid");
    let opts = Options {
        threads: 2,
        window_bytes: 1 << 20,
    };
    for round in 0..20 {
        // Its blobs are damaged: verify reports that, cleanly.
        let _ = wim::verify::verify(&w, &opts, &|_, _| {});
        assert_eq!(
            decompress_threads(),
            0,
            "round {round}: decompression threads still alive after verify returned"
        );
    }
}
