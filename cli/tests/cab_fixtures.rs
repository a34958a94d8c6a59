//! `wimforge cab list|extract` against cabextract on every cabinet in
//! `shared/fixtures/real/cab/` (libmspack's and gcab's test cabinets, a
//! Microsoft MSU and its inner cabinets): the same file list (size, date,
//! time, name) wherever `cabextract -l` succeeds, byte-equal extraction
//! wherever `cabextract -d` succeeds, and a clear error — no panic, no hang,
//! nothing written outside DEST — wherever cabextract rejects the cabinet.
//! The loop asserts how many cabinets fell in each class, so the comparison
//! cannot silently shrink.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Cabinets in the fixture directory, and how many of them cabextract
/// lists and extracts without error (cabextract 1.9, as Debian installs it here).
const TOTAL: usize = 63;
const LISTED: usize = 38;
const EXTRACTED: usize = 25;

/// Run with a deadline; panics naming the command if it does not finish.
fn run_timeout(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?} (hang)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn limit() -> Duration {
    Duration::from_secs(60)
}

/// Decode a name the way our listing does: UTF-8 when valid, else Latin-1.
fn decode(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

/// `cabextract -l`: (size, "dd.mm.yyyy hh:mm:ss", name) per file, or None
/// when cabextract fails.
fn cabextract_list(f: &Path) -> Option<Vec<(u64, String, String)>> {
    let out = run_timeout(Command::new("cabextract").arg("-l").arg(f), limit());
    if !out.status.success() {
        return None;
    }
    let mut v = Vec::new();
    let mut on = false;
    for line in out.stdout.split(|&b| b == b'\n') {
        if line.starts_with(b"-----------+") {
            on = true;
            continue;
        }
        if !on {
            continue;
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            on = false;
            continue;
        }
        let s = decode(line);
        let mut it = s.splitn(3, " | ");
        let size = it.next().unwrap().trim().parse().unwrap();
        let dt = it.next().unwrap().trim().to_string();
        let name = line[line.len() - it.next().unwrap().len()..].to_vec();
        // (re-slice the raw bytes so a Latin-1 name is decoded once)
        v.push((size, dt, decode(&name)));
    }
    Some(v)
}

fn our_list(f: &Path) -> Vec<(u64, String, String)> {
    let out = run_timeout(wimforge().args(["cab", "list", "--json"]).arg(f), limit());
    assert!(
        out.status.success(),
        "wimforge cab list {} failed: {}",
        f.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut v = Vec::new();
    for c in j["cabinets"].as_array().unwrap() {
        for e in c["files"].as_array().unwrap() {
            let t = &e["datetime"];
            let n = |k: &str| t[k].as_u64().unwrap();
            v.push((
                e["size"].as_u64().unwrap(),
                format!(
                    "{:02}.{:02}.{:04} {:02}:{:02}:{:02}",
                    n("day"),
                    n("month"),
                    n("year"),
                    n("hour"),
                    n("minute"),
                    n("second")
                ),
                e["name"].as_str().unwrap().to_string(),
            ));
        }
    }
    v
}

/// Every regular file below `root`, relative path -> contents.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(root, &p, out);
            } else {
                assert!(m.is_file(), "{} is not a regular file", p.display());
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut m = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut m);
    }
    m
}

fn fixtures() -> Option<Vec<PathBuf>> {
    let dir = fixture("cab")?;
    let mut v = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("cab") || x.eq_ignore_ascii_case("msu"))
            {
                v.push(p);
            }
        }
    }
    v.sort();
    Some(v)
}

#[test]
fn every_fixture_cabinet_agrees_with_cabextract() {
    if !have("cabextract") {
        return;
    }
    let Some(cabs) = fixtures() else { return };
    assert_eq!(cabs.len(), TOTAL, "fixture cabinets: {cabs:#?}");
    let (mut listed, mut extracted, mut rejected) = (0, 0, 0);
    for f in &cabs {
        let name = f.display().to_string();
        if let Some(want) = cabextract_list(f) {
            let got = our_list(f);
            assert_eq!(got, want, "listing of {name} differs from cabextract -l");
            listed += 1;
        }
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("cabextract");
        let sandbox = tmp.path().join("ours");
        std::fs::create_dir(&sandbox).unwrap();
        let b = sandbox.join("dest");
        let ce = run_timeout(
            Command::new("cabextract")
                .arg("-q")
                .arg("-d")
                .arg(&a)
                .arg(f),
            limit(),
        );
        let ours = run_timeout(wimforge().args(["cab", "extract"]).arg(f).arg(&b), limit());
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert!(
            !stderr.contains("panicked"),
            "{name}: wimforge panicked: {stderr}"
        );
        // Whatever happened, nothing exists beside DEST.
        let beside: Vec<_> = std::fs::read_dir(&sandbox)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "dest")
            .collect();
        assert!(beside.is_empty(), "{name}: wrote outside DEST: {beside:?}");
        if ce.status.success() {
            assert!(
                ours.status.success(),
                "{name}: cabextract extracts it, wimforge fails: {stderr}"
            );
            let (ta, tb) = (tree(&a), tree(&b));
            assert_eq!(
                ta.keys().collect::<Vec<_>>(),
                tb.keys().collect::<Vec<_>>(),
                "{name}: extracted names differ"
            );
            for (k, v) in &ta {
                assert!(
                    tb[k] == *v,
                    "{name}: {} differs from cabextract's",
                    k.display()
                );
            }
            extracted += 1;
        } else {
            assert!(
                !ours.status.success(),
                "{name}: cabextract rejects it but wimforge extracted it"
            );
            let err = stderr.lines().find(|l| l.starts_with("wimforge: error: "));
            assert!(
                err.is_some_and(|l| l.len() > 40),
                "{name}: unclear error: {stderr:?}"
            );
            // No temporary files are left behind.
            for k in tree(&b).keys() {
                assert!(
                    !k.to_string_lossy().contains(".wimforge-tmp-"),
                    "{name}: left {}",
                    k.display()
                );
            }
            rejected += 1;
        }
    }
    assert_eq!(
        (listed, extracted, rejected),
        (LISTED, EXTRACTED, TOTAL - EXTRACTED)
    );
}

/// The libmspack multi-part set names its neighbours `cabd_multi_basic_ptN.cab`;
/// under those names both tools join all five parts, from the first part or
/// from a middle one (following the previous-cabinet links too). In the
/// fixture directory, under other names, the loop above sees both reject it.
#[test]
fn multi_cabinet_sets_extract_from_any_part() {
    if !have("cabextract") {
        return;
    }
    let Some(dir) = fixture("cab/libmspack") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for i in 1..=5 {
        std::fs::copy(
            dir.join(format!("multi_basic_pt{i}.cab")),
            tmp.path().join(format!("cabd_multi_basic_pt{i}.cab")),
        )
        .unwrap();
    }
    for start in [1, 3, 5] {
        let f = tmp.path().join(format!("cabd_multi_basic_pt{start}.cab"));
        let a = tmp.path().join(format!("a{start}"));
        let b = tmp.path().join(format!("b{start}"));
        ok(Command::new("cabextract")
            .arg("-q")
            .arg("-d")
            .arg(&a)
            .arg(&f));
        ok(wimforge().args(["cab", "extract"]).arg(&f).arg(&b));
        let (ta, tb) = (tree(&a), tree(&b));
        assert_eq!(ta.len(), 3);
        assert_eq!(ta, tb, "set extracted from part {start}");
        assert_eq!(our_list(&f), cabextract_list(&f).unwrap());
    }
    // split-1..5 (MSZIP, reserve areas, a folder spanning all five files):
    // the whole set from the first part, and the listing shows one set.
    let split = dir.join("split-1.cab");
    let out = ok(wimforge().args(["cab", "list", "--json"]).arg(&split));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["cabinets"][0]["set"].as_array().unwrap().len(), 5);
    let b = tmp.path().join("split");
    ok(wimforge().args(["cab", "extract"]).arg(&split).arg(&b));
    let t = tree(&b);
    assert_eq!(t.len(), 6);
    assert_eq!(t.values().map(|v| v.len()).sum::<usize>(), 140_128);
}

#[test]
fn extract_single_file_and_errors() {
    let Some(f) = fixture("cab/Windows6.1-KB2999226-x64_inner-package.cab") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("one");
    ok(wimforge()
        .args(["cab", "extract"])
        .arg(&f)
        .arg(&d)
        .args(["--file", "UPDATE.MUM"]));
    let t = tree(&d);
    assert_eq!(t.keys().collect::<Vec<_>>(), vec![Path::new("update.mum")]);
    assert!(String::from_utf8_lossy(&t[Path::new("update.mum")]).contains("Package_for_KB2999226"));
    let out = run(wimforge()
        .args(["cab", "extract"])
        .arg(&f)
        .arg(&d)
        .args(["--file", "nope.txt"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no file named \"nope.txt\""));
    // Nothing is extracted when one requested name is missing.
    let d2 = tmp.path().join("none");
    let out = run(wimforge().args(["cab", "extract"]).arg(&f).arg(&d2).args([
        "--file",
        "update.mum",
        "--file",
        "nope.txt",
    ]));
    assert!(!out.status.success());
    assert!(!d2.exists());
    // Text listing: one line per file with the folder's method.
    let text = ok(wimforge().args(["cab", "list"]).arg(&f));
    assert_eq!(text.lines().count(), 71);
    assert!(text.lines().all(|l| l.contains(" LZX:21 ")), "{text}");
}

/// Zero every CFDATA checksum of a single-cabinet file (so damaged data
/// reaches the decompressors) and return each block's data range.
fn zero_checksums(b: &mut [u8]) -> Vec<std::ops::Range<usize>> {
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u32_at =
        |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let folders = u16_at(b, 26);
    let flags = u16_at(b, 30);
    let mut pos = 36;
    let (mut rf, mut rd) = (0, 0);
    if flags & 4 != 0 {
        let rh = u16_at(b, 36);
        rf = b[38] as usize;
        rd = b[39] as usize;
        pos += 4 + rh;
    }
    for bit in [1, 2] {
        if flags & bit != 0 {
            for _ in 0..2 {
                while b[pos] != 0 {
                    pos += 1;
                }
                pos += 1;
            }
        }
    }
    let mut ranges = Vec::new();
    for f in 0..folders {
        let fo = pos + f * (8 + rf);
        let mut d = u32_at(b, fo);
        for _ in 0..u16_at(b, fo + 4) {
            b[d..d + 4].fill(0);
            let n = u16_at(b, d + 4);
            let start = d + 8 + rd;
            ranges.push(start..start + n);
            d = start + n;
        }
    }
    ranges
}

/// Real MSZIP, LZX:21 and Quantum data with random damage (checksums
/// zeroed so the damage reaches the decoders): every file decodes to its
/// declared size or fails with an error; nothing panics or hangs.
#[test]
fn damaged_real_cabinets_fail_cleanly() {
    let names = [
        "cab/Windows6.1-KB2999226-x64_inner-package.cab",
        "cab/Windows6.1-KB2999226-x64_WSUSSCAN.cab",
        "cab/libmspack/mszip_lzx_qtm.cab",
        "cab/libmspack/normal_2files_2folders.cab",
    ];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in names {
        let Some(f) = fixture(name) else { return };
        let mut clean = std::fs::read(&f).unwrap();
        let ranges = zero_checksums(&mut clean);
        // With the checksums gone the cabinet still reads exactly.
        let c = cab::Cabinet::from_bytes(name, clean.clone()).unwrap();
        let idx: Vec<usize> = (0..c.files().len()).collect();
        let reference = c.read_files(&idx).unwrap();
        let rounds = if name.contains("inner-package") {
            60
        } else {
            250
        };
        let start = Instant::now();
        let mut failed = 0;
        for _ in 0..rounds {
            let mut b = clean.clone();
            for _ in 0..1 + rnd() % 3 {
                let r = &ranges[(rnd() % ranges.len() as u64) as usize];
                if r.is_empty() {
                    continue;
                }
                let i = r.start + (rnd() % r.len() as u64) as usize;
                b[i] ^= 1 << (rnd() % 8);
            }
            let c = cab::Cabinet::from_bytes(name, b).unwrap();
            match c.read_files(&idx) {
                Ok(m) => {
                    for (i, v) in &m {
                        assert_eq!(v.len(), reference[i].len(), "{name}: file {i} size");
                    }
                }
                Err(e) => {
                    failed += 1;
                    assert!(e.to_string().contains(name), "{e}");
                }
            }
        }
        assert!(failed > 0, "{name}: no damage was ever detected");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name}: too slow"
        );
    }
}
