//! Robustness of WIM writes: temporary files of killed writers, stale
//! parts of an earlier split, solid chunk sizes, capture configurations
//! and bad capture input. Outputs are checked with `wimlib-imagex`
//! (verify, apply, dir).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{assert_same_tree, ok, run, set_tree_mtimes, tools, wimforge, XorShift};

fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut r = XorShift(seed);
    (0..n).map(|_| r.next() as u8).collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run wimforge with `args`; returns stderr, panicking on failure.
fn wf(args: &[&str]) -> String {
    let out = run(wimforge().args(args));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "wimforge {args:?} failed: {err}");
    err
}

/// Run wimforge with `args`, which must fail; returns stderr.
fn wf_fails(args: &[&str]) -> String {
    let out = run(wimforge().args(args));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "wimforge {args:?} succeeded: {err}");
    err
}

/// `wimlib-imagex verify WIM [--ref=GLOB]` succeeds.
fn wimlib_verify(wim: &Path, refs: Option<&str>) {
    let mut c = Command::new("wimlib-imagex");
    c.arg("verify").arg(wim);
    if let Some(r) = refs {
        c.arg(format!("--ref={r}"));
    }
    let out = run(&mut c);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("successfully verified"),
        "wimlib verify {}: {text}",
        wim.display()
    );
}

/// `wimlib-imagex apply WIM IMAGE` into a fresh directory equals `src`.
fn wimlib_apply_same(wim: &Path, image: &str, src: &Path, work: &Path, tag: &str) {
    let to = work.join(format!("applied-{tag}"));
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(wim)
        .arg(image)
        .arg(&to));
    assert_same_tree(src, &to);
    fs::remove_dir_all(&to).unwrap();
}

/// A small tree of text and random files.
fn small_tree(root: &Path, seed: u64) {
    fs::create_dir_all(root.join("d/e")).unwrap();
    fs::write(root.join("a.txt"), "some text\n".repeat(3000)).unwrap();
    fs::write(root.join("d/r.bin"), random_bytes(seed, 100_000)).unwrap();
    fs::write(root.join("d/e/z"), vec![0u8; 70_000]).unwrap();
    set_tree_mtimes(root, 1_650_000_000);
}

/// The PID of a process that has exited (and been reaped).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    pid
}

/// Temporary files `.NAME.wimforge-tmp-PID` of writers that are gone are
/// removed when capture, append, export, optimize and split start; one of
/// a live process (this test), another destination's and look-alike
/// names are kept.
#[test]
fn writes_remove_stale_temps_of_dead_writers_only() {
    if !tools(&["wimlib-imagex"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let src = d.join("src");
    small_tree(&src, 1);
    let dead = dead_pid();
    let me = std::process::id();
    let tmp = |name: &str, pid: u32| d.join(format!(".{name}.wimforge-tmp-{pid}"));
    let keep = [
        tmp("out.wim", me),
        tmp("unrelated.wim", dead),
        d.join(format!("out.wim.wimforge-tmp-{dead}")),
        d.join(format!(".out.wim.wimforge-tmp-{dead}x")),
    ];
    for k in &keep {
        fs::write(k, b"keep me").unwrap();
    }
    let check_kept = || {
        for k in &keep {
            assert_eq!(fs::read(k).unwrap(), b"keep me", "{} touched", k.display());
        }
    };
    let out = d.join("out.wim");
    let exp = d.join("exp.wim");
    let first = d.join("p.swm");
    let steps: Vec<(PathBuf, Vec<String>)> = vec![
        (
            out.clone(),
            vec!["capture".into(), s(&src).into(), s(&out).into()],
        ),
        (
            out.clone(),
            vec![
                "append".into(),
                s(&src).into(),
                s(&out).into(),
                "--name".into(),
                "second".into(),
            ],
        ),
        (
            exp.clone(),
            vec!["export".into(), s(&out).into(), "2".into(), s(&exp).into()],
        ),
        (exp.clone(), vec!["optimize".into(), s(&exp).into()]),
        (
            first.clone(),
            vec![
                "split".into(),
                s(&out).into(),
                s(&first).into(),
                "--size".into(),
                "1".into(),
            ],
        ),
    ];
    for (dest, args) in steps {
        let name = dest.file_name().unwrap().to_str().unwrap().to_string();
        let stale = tmp(&name, dead);
        fs::write(&stale, b"left by a killed write").unwrap();
        // A stale temporary file of a later part of a split set too.
        let stale_part = tmp("p2.swm", dead);
        if args[0] == "split" {
            fs::write(&stale_part, b"left by a killed split").unwrap();
        }
        let mut full = vec!["wim"];
        full.extend(args.iter().map(String::as_str));
        let err = wf(&full);
        assert!(!stale.exists(), "{}: {} kept", args[0], stale.display());
        assert!(
            err.contains(&format!("removed {}", stale.display())),
            "{}: {err}",
            args[0]
        );
        if args[0] == "split" {
            assert!(!stale_part.exists(), "split kept {}", stale_part.display());
        }
        check_kept();
    }
    wimlib_verify(&out, None);
    wimlib_apply_same(&out, "2", &src, d, "temps");
    wimlib_verify(&exp, None);
    wimlib_verify(&first, Some(&format!("{}/p*.swm", d.display())));
}

/// Parts of the set about to be written, numbered 1..: part paths that
/// exist.
fn parts_of(first: &Path) -> Vec<PathBuf> {
    let dir = first.parent().unwrap();
    (1..=20)
        .map(|n| {
            if n == 1 {
                first.to_path_buf()
            } else {
                dir.join(format!("set{n}.swm"))
            }
        })
        .filter(|p| p.exists())
        .collect()
}

/// Splitting again into fewer parts removes the earlier set's further
/// parts (same GUID), so `--ref 'set*.swm'` reads the new set; a file
/// named like a part that is not one of an earlier split of this set
/// stops the split before anything is written, unless `--force`.
#[test]
fn resplit_removes_the_old_sets_extra_parts() {
    if !tools(&["wimlib-imagex"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let src = d.join("src");
    fs::create_dir(&src).unwrap();
    for k in 0..6u64 {
        fs::write(src.join(format!("r{k}")), random_bytes(k + 10, 300_000)).unwrap();
    }
    set_tree_mtimes(&src, 1_650_000_000);
    let whole = d.join("whole.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&src)
        .arg(&whole)
        .arg("x")
        .arg("--compress=none"));
    let dir = d.join("parts");
    fs::create_dir(&dir).unwrap();
    let first = dir.join("set.swm");
    let glob = format!("{}/set*.swm", dir.display());
    wf(&["wim", "split", s(&whole), s(&first), "--size", "0.35"]);
    let many = parts_of(&first);
    assert!(many.len() >= 5, "{many:?}");
    wimlib_verify(&first, Some(&glob));

    // Split again into 2 parts: parts 3.. of the old set go.
    let err = wf(&["wim", "split", s(&whole), s(&first), "--size", "1.1"]);
    let few = parts_of(&first);
    assert_eq!(few.len(), 2, "{few:?}: {err}");
    for p in &many[2..] {
        assert!(!p.exists(), "{} kept", p.display());
        assert!(err.contains(&format!("removed {}", p.display())), "{err}");
    }
    wimlib_verify(&first, Some(&glob));
    let applied = d.join("applied-resplit");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(&first)
        .arg("1")
        .arg(&applied)
        .arg(format!("--ref={glob}")));
    assert_same_tree(&src, &applied);

    // A foreign file named like part 9: refused, nothing written.
    let foreign = dir.join("set9.swm");
    fs::write(&foreign, b"not a part of anything").unwrap();
    let before: Vec<Vec<u8>> = few.iter().map(|p| fs::read(p).unwrap()).collect();
    let err = wf_fails(&["wim", "split", s(&whole), s(&first), "--size", "0.35"]);
    assert!(err.contains("set9.swm"), "{err}");
    let after: Vec<Vec<u8>> = few.iter().map(|p| fs::read(p).unwrap()).collect();
    assert!(before == after, "a refused split changed the parts");
    assert!(
        !dir.join("set3.swm").exists(),
        "a refused split wrote parts"
    );
    // --force writes the set and leaves the foreign file alone.
    let err = wf(&[
        "wim",
        "split",
        s(&whole),
        s(&first),
        "--size",
        "0.35",
        "--force",
    ]);
    assert!(err.contains("set9.swm"), "no warning: {err}");
    assert_eq!(fs::read(&foreign).unwrap(), b"not a part of anything");
    fs::remove_file(&foreign).unwrap();
    assert_eq!(parts_of(&first).len(), many.len());
    wimlib_verify(&first, Some(&glob));
}

/// `wimforge wim info --json` of `wim`.
fn info_json(wim: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(wimforge().args(["wim", "info", "--json"]).arg(wim))).unwrap()
}

/// `--solid-chunk-size` for capture, export and optimize: solid WIMs with
/// 1 MiB and 16 MiB chunks (several chunks each) that wimlib verifies and
/// applies; sizes LZMS cannot take are refused before anything is written.
#[test]
fn solid_chunk_sizes_verify_and_apply_with_wimlib() {
    if !tools(&["wimlib-imagex"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let src = d.join("src");
    // 18 MiB, mostly quick to compress: two 16 MiB chunks, 18 of 1 MiB.
    fs::create_dir_all(src.join("bin")).unwrap();
    fs::write(src.join("bin/code.dll"), support::x86ish(1 << 20, 1)).unwrap();
    fs::write(src.join("random.bin"), random_bytes(3, 300_000)).unwrap();
    fs::write(src.join("zeros"), vec![0u8; 14 << 20]).unwrap();
    let text: Vec<u8> = (0..100_000u32)
        .flat_map(|i| format!("line {} of {}\n", i % 977, i % 31).into_bytes())
        .collect();
    fs::write(src.join("bin/text.txt"), &text).unwrap();
    fs::write(src.join("tiny"), b"x").unwrap();
    std::os::unix::fs::symlink("bin/text.txt", src.join("link")).unwrap();
    set_tree_mtimes(&src, 1_650_000_000);
    for (arg, cs) in [("1M", 1u64 << 20), ("16MiB", 16 << 20)] {
        let w = d.join(format!("solid-{cs}.wim"));
        let err = support::capture_ok(&src, &w, &["--solid", "--solid-chunk-size", arg]);
        assert!(err.contains("not the default"), "{arg}: no warning: {err}");
        assert_eq!(
            info_json(&w)["solid_chunk_size"].as_u64(),
            Some(cs),
            "{arg}"
        );
        wimlib_verify(&w, None);
        wimlib_apply_same(&w, "1", &src, d, arg);
    }
    // Export the 16 MiB one into 2 MiB solid chunks; optimize to 4 MiB.
    let e = d.join("exported.wim");
    let from = d.join(format!("solid-{}.wim", 16 << 20));
    wf(&[
        "wim",
        "export",
        s(&from),
        "1",
        s(&e),
        "--solid",
        "--solid-chunk-size",
        "2M",
    ]);
    assert_eq!(info_json(&e)["solid_chunk_size"].as_u64(), Some(2 << 20));
    wimlib_verify(&e, None);
    wimlib_apply_same(&e, "1", &src, d, "export-2M");
    wf(&[
        "wim",
        "optimize",
        s(&e),
        "--recompress",
        "--solid-chunk-size",
        "4096K",
    ]);
    assert_eq!(info_json(&e)["solid_chunk_size"].as_u64(), Some(4 << 20));
    wimlib_verify(&e, None);
    wimlib_apply_same(&e, "1", &src, d, "optimize-4M");
    // Not powers of two, below 32 KiB, above 1 GiB, not sizes.
    let bad = d.join("bad.wim");
    for arg in ["3M", "16K", "2G", "1.5M", "lots"] {
        let out = run(wimforge()
            .args(["wim", "capture"])
            .arg(&src)
            .arg(&bad)
            .args(["--solid", "--solid-chunk-size", arg]));
        assert!(!out.status.success(), "--solid-chunk-size {arg} accepted");
        assert!(!bad.exists());
    }
}

/// `--config FILE` (wimlib's format, UTF-8 and UTF-16LE) leaves out the
/// same paths as `wimlib-imagex capture --config` (same `dir` listing);
/// without it both leave out the default list (`/pagefile.sys`…);
/// `--no-default-excludes` keeps everything.
#[test]
fn capture_config_excludes_like_wimlib() {
    if !tools(&["wimlib-imagex"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let src = d.join("src");
    for dir in [
        "logs/keep",
        "logs/old",
        "Windows/CSC",
        "data/sub",
        "System Volume Information",
    ] {
        fs::create_dir_all(src.join(dir)).unwrap();
    }
    for f in [
        "pagefile.sys",
        "hiberfil.sys",
        "data/pagefile.sys",
        "logs/a.log",
        "logs/keep/b.log",
        "logs/old/c.txt",
        "data/x.tmp",
        "data/sub/important.tmp",
        "data/sub/y.tmp",
        "data/readme",
        "Windows/CSC/cache",
        "System Volume Information/tracking",
        "notes.bak",
    ] {
        fs::write(src.join(f), f).unwrap();
    }
    set_tree_mtimes(&src, 1_650_000_000);
    let config = "; our exclusions\n[ExclusionList]\n\\logs\n*.tmp\n\"/notes.bak\"\n\
                  # exceptions\n[ExclusionException]\n\\logs\\keep\nimportant.tmp\n";
    let utf8 = d.join("config.ini");
    fs::write(&utf8, config).unwrap();
    let utf16 = d.join("config16.ini");
    let mut b = vec![0xFF, 0xFE];
    b.extend(
        config
            .replace('\n', "\r\n")
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes()),
    );
    fs::write(&utf16, b).unwrap();
    let listing = |wim: &Path| -> Vec<String> {
        let mut v: Vec<String> = ok(Command::new("wimlib-imagex").arg("dir").arg(wim).arg("1"))
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let wimlib_cap = |wim: &Path, extra: Option<&Path>| {
        let mut c = Command::new("wimlib-imagex");
        c.arg("capture").arg(&src).arg(wim).arg("img");
        if let Some(cfg) = extra {
            c.arg(format!("--config={}", cfg.display()));
        }
        ok(&mut c);
    };
    // With the configuration.
    let theirs = d.join("theirs.wim");
    wimlib_cap(&theirs, Some(&utf8));
    let expected = listing(&theirs);
    assert!(
        expected.iter().any(|l| l == "/logs/keep/b.log"),
        "{expected:?}"
    );
    assert!(!expected.iter().any(|l| l == "/logs/a.log"), "{expected:?}");
    for cfg in [&utf8, &utf16] {
        let ours = d.join("ours.wim");
        support::capture_ok(&src, &ours, &["--config", s(cfg)]);
        assert_eq!(listing(&ours), expected, "{}", cfg.display());
        wimlib_verify(&ours, None);
        fs::remove_file(&ours).unwrap();
    }
    // Defaults.
    let theirs_def = d.join("theirs-default.wim");
    wimlib_cap(&theirs_def, None);
    let ours_def = d.join("ours-default.wim");
    support::capture_ok(&src, &ours_def, &[]);
    let def = listing(&ours_def);
    assert_eq!(def, listing(&theirs_def));
    assert!(!def.iter().any(|l| l == "/pagefile.sys"), "{def:?}");
    assert!(def.iter().any(|l| l == "/data/pagefile.sys"), "{def:?}");
    // Everything.
    let all = d.join("all.wim");
    support::capture_ok(&src, &all, &["--no-default-excludes"]);
    let everything = listing(&all);
    assert!(everything.iter().any(|l| l == "/pagefile.sys"));
    assert!(everything
        .iter()
        .any(|l| l == "/System Volume Information/tracking"));
    // A bad pattern is an error naming the file and line; nothing written.
    let bad = d.join("bad.ini");
    fs::write(&bad, "[ExclusionList]\nlogs/a.log\n").unwrap();
    let out_wim = d.join("bad.wim");
    let err = wf_fails(&["wim", "capture", s(&src), s(&out_wim), "--config", s(&bad)]);
    assert!(err.contains("bad.ini:2"), "{err}");
    assert!(!out_wim.exists());
}
