//! Minimised inputs that crashed the `vhdx` fuzz target (fuzz/), kept under
//! fixtures/fuzz-regressions/vhdx/ as the raw bytes the parser saw (made
//! with `seedgen --materialize vhdx`, trailing zeros cut). Each must give a
//! clean error now.

use vhdx::{Error, Vhdx};

fn regression(name: &str, len: usize) -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/fuzz-regressions/vhdx")
        .join(name);
    let mut d = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    // The file the fuzzer built was longer; its tail is zeros.
    d.resize(d.len().max(len), 0);
    d
}

#[test]
fn clean_header_with_log_offset_near_2_pow_64_is_corrupt() {
    // A clean header (no log GUID) whose log offset is 0xFFFF_FFFF_FFFF_0000:
    // computing the end of the file's structures overflowed u64
    // ("attempt to multiply with overflow" in round_up, disk.rs).
    let data = regression("clean-log-offset-overflow.vhdx", 4 << 20);
    let err = Vhdx::open_bytes(&data).err().expect("must be refused");
    match &err {
        Error::Corrupt { structure, .. } => assert_eq!(*structure, "header", "{err}"),
        other => panic!("expected a Corrupt header error, got {other}"),
    }
    assert!(err.to_string().contains("1 MiB aligned"), "{err}");
}
