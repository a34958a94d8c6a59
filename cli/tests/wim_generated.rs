//! Round trips through wimlib: the tests build directory trees, capture
//! them with `wimlib-imagex capture` in every compression mode and chunk
//! size, and require `wimforge wim extract` to reproduce the source exactly
//! (and `dir`, `info`, `verify` to agree with wimlib).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// Small deterministic PRNG (xorshift64*), so test data is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn text(rng: &mut Rng, n: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "volume",
        "image",
        "Windows",
        "System32",
        "driver",
        "registry",
        "nano",
        "server",
        "container",
        "docker",
        "service",
        "\r\n",
        "boot",
        "partition",
        "cluster",
        "0x1234",
        "{",
        "}",
    ];
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        v.extend_from_slice(WORDS[(rng.next() % WORDS.len() as u64) as usize].as_bytes());
        v.push(b' ');
    }
    v.truncate(n);
    v
}

/// x86-like code: many E8/E9 call/jump opcodes followed by displacements,
/// which exercises the LZX and LZMS x86 translation.
fn code_like(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        match rng.next() % 6 {
            0 => {
                v.push(0xe8);
                v.extend_from_slice(&((rng.next() % 50_000) as i32 - 25_000).to_le_bytes());
            }
            1 => {
                v.push(0xe9);
                v.extend_from_slice(&(rng.next() as u32).to_le_bytes());
            }
            2 => v.extend_from_slice(&[0x48, 0x89, 0x5c, 0x24, 0x08]),
            3 => v.extend_from_slice(&[0x55, 0x48, 0x8b, 0xec, 0xc3, 0xcc, 0xcc]),
            _ => v.push(rng.next() as u8),
        }
    }
    v.truncate(n);
    v
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A tree with the shapes that matter: sizes around every chunk boundary,
/// incompressible and very compressible data, hard links, symlinks, empty
/// files and directories, deep nesting and non-ASCII names.
fn make_tree(root: &Path, seed: u64) {
    let mut rng = Rng(seed | 1);
    for &n in &[
        0usize,
        1,
        2,
        100,
        4095,
        4096,
        4097,
        32767,
        32768,
        32769,
        65536,
        65537,
        131073,
        1 << 20,
    ] {
        write(&root.join(format!("sizes/random_{n}.bin")), &rng.bytes(n));
        write(
            &root.join(format!("sizes/text_{n}.txt")),
            &text(&mut rng, n),
        );
    }
    write(&root.join("big/zeros.bin"), &vec![0u8; 3 << 20]);
    write(&root.join("big/code.exe"), &code_like(&mut rng, 2_500_000));
    let pattern: Vec<u8> = (0..2_100_000u32)
        .map(|i| (i % 251) as u8 ^ (i / 7919) as u8)
        .collect();
    write(&root.join("big/pattern.dat"), &pattern);
    write(&root.join("big/text.log"), &text(&mut rng, 1_500_000));
    // Same contents in several files (one blob, many files).
    let dup = text(&mut rng, 50_000);
    for i in 0..3 {
        write(&root.join(format!("dups/copy{i}.txt")), &dup);
    }
    // Hard links.
    write(&root.join("links/original.txt"), &text(&mut rng, 10_000));
    std::fs::hard_link(
        root.join("links/original.txt"),
        root.join("links/hardlink.txt"),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("links/sub")).unwrap();
    std::fs::hard_link(
        root.join("links/original.txt"),
        root.join("links/sub/third.txt"),
    )
    .unwrap();
    // Relative symlinks to a file and a directory.
    std::os::unix::fs::symlink("original.txt", root.join("links/symlink.txt")).unwrap();
    std::os::unix::fs::symlink("../sizes", root.join("links/dirlink")).unwrap();
    // Deep nesting, non-ASCII and case-differing names, an empty directory.
    let mut deep = root.join("deep");
    for i in 0..12 {
        deep = deep.join(format!("level{i}"));
    }
    write(&deep.join("leaf.txt"), b"leaf");
    write(&root.join("names/caf\u{e9}.txt"), b"accent");
    write(&root.join("names/\u{65e5}\u{672c}.txt"), b"cjk");
    write(&root.join("names/Case.txt"), b"upper");
    write(&root.join("names/case.txt"), b"lower");
    std::fs::create_dir_all(root.join("empty_dir")).unwrap();
}

fn capture(src: &Path, wim: &Path, args: &[&str]) {
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(src)
        .arg(wim)
        .args(args)
        .env("WIMLIB_IMAGEX_USE_UTF8", "1"));
}

fn check_roundtrip(src: &Path, wim: &Path, image: u32, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let res = run(wimforge()
        .args(["wim", "extract", "--quiet"])
        .arg(wim)
        .arg(image.to_string())
        .arg(&out));
    assert!(
        res.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert_same_tree(src, &out);
    // Listing equals wimlib's.
    let theirs = ok(Command::new("wimlib-imagex")
        .arg("dir")
        .arg(wim)
        .arg(image.to_string()));
    let ours = ok(wimforge()
        .args(["wim", "dir"])
        .arg(wim)
        .arg(image.to_string()));
    assert_eq!(ours, theirs, "{what}: dir listing");
}

fn verify_ok(wim: &Path, what: &str) -> serde_json::Value {
    let res = run(wimforge().args(["wim", "verify", "--quiet"]).arg(wim));
    assert!(
        res.status.success(),
        "{what}: verify: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    serde_json::from_str(&ok(wimforge().args(["wim", "info", "--json"]).arg(wim))).unwrap()
}

fn modes() -> Vec<(String, Vec<String>)> {
    let mut m: Vec<(String, Vec<String>)> = vec![("none".into(), vec!["--compress=none".into()])];
    for cs in [4096, 8192, 16384, 32768, 65536] {
        m.push((
            format!("xpress/{cs}"),
            vec!["--compress=xpress".into(), format!("--chunk-size={cs}")],
        ));
    }
    for cs in [32768, 65536, 131072, 262144, 524288, 1 << 20, 2 << 20] {
        m.push((
            format!("lzx/{cs}"),
            vec!["--compress=lzx".into(), format!("--chunk-size={cs}")],
        ));
    }
    for cs in [32768, 131072, 1 << 20] {
        m.push((
            format!("lzms/{cs}"),
            vec!["--compress=lzms".into(), format!("--chunk-size={cs}")],
        ));
    }
    m.push(("solid lzms".into(), vec!["--solid".into()]));
    m.push((
        "solid lzms 1M chunks".into(),
        vec!["--solid".into(), "--solid-chunk-size=1M".into()],
    ));
    m.push((
        "solid lzx".into(),
        vec![
            "--solid".into(),
            "--solid-compress=lzx".into(),
            "--solid-chunk-size=2M".into(),
        ],
    ));
    m.push((
        "solid xpress".into(),
        vec![
            "--solid".into(),
            "--solid-compress=xpress".into(),
            "--solid-chunk-size=64K".into(),
        ],
    ));
    m
}

#[test]
fn every_compression_mode_and_chunk_size_round_trips() {
    if !have("wimlib-imagex") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src, 0x5eed);
    for (i, (what, args)) in modes().into_iter().enumerate() {
        let wim = tmp.path().join(format!("m{i}.wim"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        capture(&src, &wim, &args);
        let info = verify_ok(&wim, &what);
        let expect_solid = what.starts_with("solid");
        assert_eq!(
            info["solid"].as_bool(),
            Some(expect_solid),
            "{what}: {info}"
        );
        check_roundtrip(&src, &wim, 1, &what);
        std::fs::remove_file(&wim).unwrap();
    }
}

#[test]
fn multiple_images_and_integrity_table() {
    if !have("wimlib-imagex") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    make_tree(&a, 1);
    make_tree(&b, 2);
    // Shared content between images is stored once.
    write(
        &b.join("shared/from_a.bin"),
        &std::fs::read(a.join("big/code.exe")).unwrap(),
    );
    let wim = tmp.path().join("multi.wim");
    capture(&a, &wim, &["First", "--check", "--compress=lzx"]);
    ok(Command::new("wimlib-imagex")
        .args(["append"])
        .arg(&b)
        .arg(&wim)
        .args(["Second", "--check"]));
    let info = verify_ok(&wim, "multi");
    assert_eq!(info["image_count"], 2);
    assert_eq!(info["has_integrity"], true);
    assert_eq!(info["images"][1]["name"], "Second");
    check_roundtrip(&a, &wim, 1, "image 1");
    check_roundtrip(&b, &wim, 2, "image 2");
    // Images can be chosen by name.
    let by_name = ok(wimforge().args(["wim", "dir"]).arg(&wim).arg("Second"));
    let by_index = ok(wimforge().args(["wim", "dir"]).arg(&wim).arg("2"));
    assert_eq!(by_name, by_index);

    // Flip one byte inside the hashed region: the integrity check fails
    // and names the chunk's offset.
    let mut bytes = std::fs::read(&wim).unwrap();
    bytes[4096] ^= 0x55;
    let bad = tmp.path().join("bad.wim");
    std::fs::write(&bad, &bytes).unwrap();
    let res = run(wimforge().args(["wim", "verify"]).arg(&bad));
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("integrity table") && err.contains("bad.wim"),
        "{err}"
    );
}

#[test]
fn threads_option_gives_identical_output() {
    if !have("wimlib-imagex") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src, 3);
    let wim = tmp.path().join("t.wim");
    capture(&src, &wim, &["--compress=lzx"]);
    for threads in ["1", "2", "5"] {
        let out = tmp.path().join(format!("out{threads}"));
        ok(wimforge()
            .args(["wim", "extract", "--quiet", "--threads", threads])
            .arg(&wim)
            .arg("1")
            .arg(&out));
        assert_same_tree(&src, &out);
    }
}

/// Copy regular files from `from` into `to` until `limit` bytes.
fn copy_some(from: &Path, to: &Path, limit: u64) -> u64 {
    let mut total = 0;
    let mut stack = vec![from.to_path_buf()];
    let mut n = 0;
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() && total < limit {
                let dest = to.join(format!(
                    "{n:05}_{}",
                    p.file_name().unwrap().to_string_lossy()
                ));
                if std::fs::copy(&p, &dest).is_ok() {
                    total += m.len();
                    n += 1;
                }
            }
        }
    }
    total
}

#[test]
fn lzx_wim_of_a_few_hundred_mib_extracts_like_wimlib() {
    if !have("wimlib-imagex") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // Real binaries and libraries from this machine, plus generated data.
    let mut total = copy_some(Path::new("/usr/lib"), &src, 200 << 20);
    let mut rng = Rng(77);
    while total < 256 << 20 {
        let n = 8 << 20;
        write(
            &src.join(format!("gen/code{total}.bin")),
            &code_like(&mut rng, n),
        );
        total += n as u64;
    }
    let wim = tmp.path().join("big.wim");
    capture(&src, &wim, &["--compress=lzx"]);
    let theirs = tmp.path().join("wimlib");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(&wim)
        .arg("1")
        .arg(&theirs));
    let ours = tmp.path().join("ours");
    ok(wimforge()
        .args(["wim", "extract", "--quiet"])
        .arg(&wim)
        .arg("1")
        .arg(&ours));
    assert_same_tree(&theirs, &ours);
    assert_same_tree(&src, &ours);
}
