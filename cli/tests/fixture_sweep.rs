//! Every file in `shared/fixtures/real/` through the `wimforge` inspection
//! verbs that read it (issue #7): WIM → `wim info`, `wim verify`, `wim dir`
//! (Split.swm with `--ref Split2.swm`); VHDX → `vhdx info`, `vhdx check`,
//! `disk info`; raw NTFS volumes → `ntfs ls -R -a`, `ntfs check`; hives →
//! `hive dump` (+ `bcd dump` for BCD stores); cabinets → `cab list`
//! (+ `package info` for the MSU and its package CAB); raw MBR/GPT disks →
//! `disk info`. The mapping is by magic bytes (`sweep_util::sniff`); files
//! no verb reads are listed with the reason in `sweep_util::NO_VERB`, and a
//! new, unmapped fixture fails the test.
//!
//! Every run: no exit code 101, no "panicked" on stderr, no signal, done
//! within [`DEADLINE`] (killed otherwise), peak RSS under
//! `sweep_util::RSS_LIMIT_KIB` with the address space capped at
//! `sweep_util::AS_LIMIT`. Good fixtures must succeed; the known-bad ones
//! ([`EXPECTED_FAILURES`]) must fail with an error naming the structure.
//! The fixtures must be unchanged afterwards (size and mtime).

mod support;
mod sweep_util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use sweep_util::*;

/// Wall-clock limit of one run.
const DEADLINE: Duration = Duration::from_secs(10);

/// What a run must show besides robustness.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exit non-zero, the output containing every substring.
    Fail(&'static [&'static str]),
    /// Exit 0, the output containing every substring (a warning).
    Warn(&'static [&'static str]),
}
use Expect::*;

/// (fixture, verb label prefix, expectation, why). Every other run of a
/// mapped fixture must exit 0.
const EXPECTED: &[(&str, &str, Expect, &str)] = &[
    (
        "wim/VerifyFail.wim",
        "wim verify",
        Fail(&["VerifyFail.wim", "integrity table", "does not match"]),
        "known bad: integrity check fails",
    ),
    (
        "wim/VerifyFail.wim",
        "wim dir",
        Fail(&["VerifyFail.wim", "compressed chunk", "decompression failed"]),
        "known bad: its metadata resource is damaged",
    ),
    (
        "wim/wimlib-tests/corrupted_file_1.wim",
        "wim verify",
        Fail(&["corrupted_file_1.wim", "blob at offset", "SHA-1 mismatch"]),
        "known bad: a file's SHA-1 does not match",
    ),
    (
        "wim/wimlib-tests/corrupted_file_2.wim",
        "wim verify",
        Fail(&[
            "corrupted_file_2.wim",
            "compressed chunk",
            "does not decompress",
        ]),
        "known bad: a file fails to decompress",
    ),
    (
        "wim/wimlib-tests/cyclic.wim",
        "wim verify",
        Fail(&["cyclic.wim", "dentry", "cyclic"]),
        "known bad: cyclic directory tree",
    ),
    (
        "wim/wimlib-tests/cyclic.wim",
        "wim dir",
        Fail(&["cyclic.wim", "dentry", "cyclic"]),
        "known bad: cyclic directory tree",
    ),
    (
        "wim/wimlib-tests/dotdot.wim",
        "wim dir",
        Warn(&["invalid name \"..\""]),
        "hostile: a `..` path component is dropped",
    ),
    (
        "wim/wimlib-tests/duplicate_names.wim",
        "wim dir",
        Warn(&["duplicate entry /1"]),
        "hostile: duplicate names in one directory",
    ),
    (
        "vhdx/qemu_iotest-dirtylog-10G-4M.vhdx.bz2",
        "vhdx check",
        Fail(&["log is dirty"]),
        "a dirty log is a finding of check (without --repair)",
    ),
    (
        "vhdx/qemu_iotest-dirtylog-10G-4M.vhdx.bz2",
        "disk info",
        Fail(&["no partition table", "MBR at offset 0x1fe"]),
        "content is a test pattern, no partition table",
    ),
    (
        "vhdx/qemu_iotest-dynamic-1G.vhdx.bz2",
        "disk info",
        Fail(&["no partition table", "MBR at offset 0x1fe"]),
        "content is a test pattern, no partition table",
    ),
    (
        "vhdx/discutils_swap.vhdx.gz",
        "disk info",
        Fail(&["no partition table", "MBR at offset 0x1fe"]),
        "content is a bare Linux swap area",
    ),
    (
        "ntfs/dissect-ntfs_boot_2m.bin",
        "ntfs",
        Fail(&["boot sector at offset", "larger than the device"]),
        "only the first 2 MiB of a volume",
    ),
    (
        "other/dissect-volume_gpt.bin",
        "disk info",
        Fail(&["GPT header at offset", "do not fit"]),
        "only the first 32 KiB of a disk",
    ),
    (
        "other/dissect-volume_gpt_4k.bin",
        "disk info",
        Fail(&["GPT header at offset", "do not fit"]),
        "only the first 32 KiB of a disk",
    ),
    (
        "other/dissect-volume_gpt_esxi.bin",
        "disk info",
        Fail(&["GPT header at offset", "do not fit"]),
        "only the first 32 KiB of a disk",
    ),
    (
        "other/dissect-volume_gpt_hybrid.bin",
        "disk info",
        Fail(&["GPT header at offset", "do not fit"]),
        "only the first 32 KiB of a disk",
    ),
    (
        "other/dissect-volume_mbr.bin",
        "disk info",
        Fail(&[
            "MBR partition entry at offset",
            "past the end of the device",
        ]),
        "only the first sector of a disk",
    ),
    (
        "cab/libmspack/bad_folderindex.cab",
        "cab list",
        Fail(&[
            "bad_folderindex.cab",
            "CFFILE[1]",
            "iFolder 1 is out of range",
        ]),
        "known bad",
    ),
    (
        "cab/libmspack/bad_nofiles.cab",
        "cab list",
        Fail(&["CFHEADER", "no files"]),
        "known bad",
    ),
    (
        "cab/libmspack/bad_nofolders.cab",
        "cab list",
        Fail(&["CFHEADER", "no folders"]),
        "known bad",
    ),
    (
        "cab/libmspack/bad_signature.cab",
        "cab list",
        Fail(&["CFHEADER", "MSCF"]),
        "known bad",
    ),
    (
        "cab/libmspack/cve-2017-11423-fname-overread.cab",
        "cab list",
        Fail(&["CFFILE[0] name", "longer than 255"]),
        "CVE reproducer",
    ),
    (
        "cab/libmspack/filename-read-violation-1.cab",
        "cab list",
        Fail(&["CFFILE[0] name", "empty name"]),
        "malformed",
    ),
    (
        "cab/libmspack/hidden-file-bad-folderid.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "malformed",
    ),
    (
        "cab/libmspack/hidden-files.cab",
        "cab list",
        Warn(&["coffFiles"]),
        "malformed: CFFILE offset wrong",
    ),
    (
        "cab/libmspack/partial_nodata.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_nofiles.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_nofolder.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_shortextheader.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_shortfile1.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_shortfile2.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_shortfolder.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_shortheader.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_nofname.cab",
        "cab list",
        Fail(&["CFFILE[0] name", "truncated"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_noninfo.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_nonname.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_nopinfo.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_nopname.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_shortfname.cab",
        "cab list",
        Fail(&["CFFILE[0] name", "truncated"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_shortninfo.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_shortnname.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_shortpinfo.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
    (
        "cab/libmspack/partial_str_shortpname.cab",
        "cab list",
        Fail(&["CFHEADER", "implausible header"]),
        "truncated",
    ),
];

fn expected(rel: &str, label: &str) -> Option<Expect> {
    EXPECTED
        .iter()
        .find(|(r, l, _, _)| *r == rel && label.starts_with(l))
        .map(|(_, _, e, _)| *e)
}

fn stamp(p: &std::path::Path) -> (u64, std::time::SystemTime) {
    let m = std::fs::metadata(p).unwrap();
    (m.len(), m.modified().unwrap())
}

#[test]
fn every_real_fixture_through_its_verbs() {
    let Some(fixtures) = all_fixtures() else {
        return;
    };
    let t0 = Instant::now();
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for fx in &fixtures {
        let v = verbs(fx);
        if v.is_empty() {
            if let Kind::None(why) = fx.kind {
                skipped.push(format!("{}: {why}", fx.rel));
            }
        }
        for verb in v.into_iter().filter(|v| !v.mutants_only) {
            jobs.push((fx.clone(), verb));
        }
    }
    // Every expectation must still name a run that exists.
    for (r, l, _, _) in EXPECTED {
        assert!(
            jobs.iter()
                .any(|(f, v)| f.rel == *r && v.label().starts_with(l)),
            "EXPECTED names {r} / {l}, which no run matches"
        );
    }
    let before: Vec<_> = fixtures.iter().map(|f| stamp(&f.path)).collect();
    let scratch = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(4);
    std::thread::scope(|s| {
        for t in 0..threads {
            let dir = scratch.path().join(t.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            let (jobs, next, results) = (&jobs, &next, &results);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((fx, verb)) = jobs.get(i) else {
                    break;
                };
                let o = run_wimforge(&verb.argv(&fx.path, &dir.join("out")), &dir, DEADLINE);
                results.lock().unwrap().push((i, o));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let mut failures = Vec::new();
    let mut max_wall = Duration::ZERO;
    let mut max_rss = 0;
    for (i, o) in &results {
        let (fx, verb) = &jobs[*i];
        let label = verb.label();
        max_wall = max_wall.max(o.wall);
        max_rss = max_rss.max(o.maxrss_kib);
        eprintln!(
            "{:<55} {:<22} {:?} {:>6} ms {:>4} MiB",
            fx.rel,
            label,
            o.end,
            o.wall.as_millis(),
            o.maxrss_kib >> 10
        );
        let mut why = o.robustness_problems();
        let all = format!("{}{}", o.stdout, o.stderr);
        let (want_ok, subs): (bool, &[&str]) = match expected(&fx.rel, &label) {
            None => (true, &[]),
            Some(Fail(s)) => (false, s),
            Some(Warn(s)) => (true, s),
        };
        if want_ok && o.end != End::Exit(0) {
            why.push("a good fixture must be read without error".into());
        }
        if !want_ok && o.end == End::Exit(0) {
            why.push("a known-bad fixture must fail".into());
        }
        for s in subs {
            if !all.contains(s) {
                why.push(format!("the output does not name {s:?}"));
            }
        }
        if !why.is_empty() {
            failures.push(format!(
                "{} / wimforge {label}: {}\n  {}",
                fx.rel,
                why.join("; "),
                o.text().replace('\n', "\n  ")
            ));
        }
    }
    for (fx, b) in fixtures.iter().zip(&before) {
        assert_eq!(
            stamp(&fx.path),
            *b,
            "{}: an inspection verb changed the file",
            fx.rel
        );
    }
    eprintln!(
        "{} fixtures, {} runs in {:?} (slowest {:?}, peak RSS {} MiB); no verb for:\n  {}",
        fixtures.len(),
        results.len(),
        t0.elapsed(),
        max_wall,
        max_rss >> 10,
        skipped.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

/// The harness itself notices each kind of trouble it is there to catch.
#[test]
fn harness_detects_panic_signal_hang_and_memory() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let sh = |script: &str| {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    };
    let o = run_limited(sh("exit 101"), dir.path(), DEADLINE);
    assert_eq!(o.end, End::Exit(101));
    assert!(!o.robustness_problems().is_empty());
    let o = run_limited(
        sh("echo 'thread main panicked at x' >&2"),
        dir.path(),
        DEADLINE,
    );
    assert_eq!(o.end, End::Exit(0));
    assert!(!o.robustness_problems().is_empty(), "{o:?}");
    let o = run_limited(sh("kill -ABRT $$"), dir.path(), DEADLINE);
    assert_eq!(o.end, End::Signal(libc::SIGABRT));
    assert!(!o.robustness_problems().is_empty());
    let t = Instant::now();
    let o = run_limited(sh("sleep 30"), dir.path(), Duration::from_millis(300));
    assert_eq!(o.end, End::Timeout);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(!o.robustness_problems().is_empty());
    // 600 MiB resident: over the RSS bound, under the address-space limit.
    let o = run_limited(
        sh("head -c 629145600 /dev/zero | tail -c 629145600 >/dev/null"),
        dir.path(),
        Duration::from_secs(60),
    );
    assert!(o.maxrss_kib > RSS_LIMIT_KIB, "{o:?}");
    assert!(!o.robustness_problems().is_empty());
    // And a quiet success is fine.
    let o = run_limited(sh("echo ok"), dir.path(), DEADLINE);
    assert!(o.robustness_problems().is_empty(), "{o:?}");
    assert_eq!(o.stdout, "ok\n");
}
