//! `wimforge wim export|split|optimize` and appends, checked with tools we
//! did not write: `wimlib-imagex` (verify, which also checks integrity
//! tables and split sets; apply; dir --detailed; info) and `7zz t`, plus
//! our own reader. Sources are WIMs made by `wimlib-imagex capture` and the
//! real fixtures in `shared/fixtures/real/wim/`.

mod support;

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{
    assert_same_tree, fixture, have, ok, run, set_tree_mtimes, tools, wimforge, XorShift,
};

/// `n` pseudo-random bytes.
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut r = XorShift(seed);
    (0..n).map(|_| r.next() as u8).collect()
}

/// A small tree: text, random and zero files (several chunks at every
/// chunk size up to 2 MiB for the big one), an empty file, a hard link, a
/// symlink, an empty directory; `seed` varies the random file so trees
/// share some blobs and not others.
fn make_tree(root: &Path, seed: u64) {
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::create_dir(root.join("empty dir")).unwrap();
    let text: Vec<u8> = (0..30_000u32)
        .flat_map(|i| format!("line {} of {} value {}\n", i % 977, i % 31, i % 7).into_bytes())
        .collect();
    fs::write(root.join("text.txt"), &text).unwrap();
    fs::write(root.join("dir/zeros"), vec![0u8; 2_300_000]).unwrap();
    fs::write(root.join("dir/sub/random.bin"), random_bytes(seed, 150_000)).unwrap();
    fs::write(root.join("tiny"), format!("tree {seed}")).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::hard_link(root.join("text.txt"), root.join("dir/text-link.txt")).unwrap();
    std::os::unix::fs::symlink("text.txt", root.join("rel-link")).unwrap();
    set_tree_mtimes(root, 1_650_000_000);
}

fn wimlib(args: &[&str], paths: &[&Path]) -> String {
    let mut c = Command::new("wimlib-imagex");
    c.arg(args[0]);
    for p in paths {
        c.arg(p);
    }
    c.args(&args[1..]);
    ok(&mut c)
}

/// `wimlib-imagex capture SRC WIM NAME --compress=C`.
fn wimlib_capture(src: &Path, wim: &Path, name: &str, compress: &str) {
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(src)
        .arg(wim)
        .arg(name)
        .arg(format!("--compress={compress}")));
}

/// Run wimforge with `args`; returns stderr, panicking on failure.
fn wf(args: &[&str]) -> String {
    let out = run(wimforge().args(args));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "wimforge {args:?} failed: {err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// wimlib-imagex verify (integrity table too, when present) and apply
/// accept image `image` of `wim` (with `refs`, a glob of other parts) and
/// the applied tree equals `src`; so does our own verify and extract; 7zz
/// reads it (not split sets).
fn check_image(wim: &Path, refs: Option<&str>, image: u32, src: &Path, work: &Path, tag: &str) {
    let mut v = Command::new("wimlib-imagex");
    v.arg("verify").arg(wim);
    if let Some(r) = refs {
        v.arg(format!("--ref={r}"));
    }
    let out = run(&mut v);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tag}: wimlib verify: {text}");
    assert!(text.contains("successfully verified"), "{tag}: {text}");
    let applied = work.join(format!("applied-{tag}"));
    let mut a = Command::new("wimlib-imagex");
    a.arg("apply").arg(wim).arg(image.to_string()).arg(&applied);
    if let Some(r) = refs {
        a.arg(format!("--ref={r}"));
    }
    ok(&mut a);
    assert_same_tree(src, &applied);
    fs::remove_dir_all(&applied).unwrap();
    let mut ours_v = wimforge();
    ours_v.args(["wim", "verify"]).arg(wim);
    let ours = work.join(format!("ours-{tag}"));
    let mut ours_x = wimforge();
    ours_x
        .args(["wim", "extract"])
        .arg(wim)
        .arg(image.to_string())
        .arg(&ours);
    if let Some(r) = refs {
        ours_v.args(["--ref", r]);
        ours_x.args(["--ref", r]);
    }
    ok(&mut ours_v);
    ok(&mut ours_x);
    assert_same_tree(src, &ours);
    fs::remove_dir_all(&ours).unwrap();
    if refs.is_none() && have("7zz") {
        let out = ok(Command::new("7zz").arg("t").arg(wim));
        assert!(out.contains("Everything is Ok"), "{tag}: {out}");
    }
}

fn info_json(wim: &Path, refs: Option<&str>) -> Value {
    let mut c = wimforge();
    c.args(["wim", "info", "--json"]).arg(wim);
    if let Some(r) = refs {
        c.args(["--ref", r]);
    }
    serde_json::from_str(&ok(&mut c)).unwrap()
}

/// `wimlib-imagex dir --detailed` of one image, without the fields that
/// depend on where and how blobs are stored (offsets, compressed sizes,
/// part numbers, flags, reference counts).
fn detailed_listing(wim: &Path, image: u32, refs: Option<&str>) -> String {
    let mut c = Command::new("wimlib-imagex");
    c.arg("dir")
        .arg(wim)
        .arg(image.to_string())
        .arg("--detailed");
    if let Some(r) = refs {
        c.arg(format!("--ref={r}"));
    }
    ok(&mut c)
        .lines()
        .filter(|l| {
            ![
                "Compressed size",
                "Offset in WIM",
                "Part Number",
                "Flags",
                "Reference Count",
                "Solid resource",
                "Solid offset",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The values of `key = value` lines of wimlib-imagex output.
fn field(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// "N resources copied as they were, M recompressed" from export's report.
fn copy_counts(err: &str) -> (u64, u64) {
    let num_before = |key: &str| -> u64 {
        let i = err
            .find(key)
            .unwrap_or_else(|| panic!("no {key:?} in {err}"));
        err[..i]
            .split_whitespace()
            .last()
            .unwrap()
            .trim_start_matches('(')
            .parse()
            .unwrap()
    };
    (
        num_before(" resources copied as they were"),
        num_before(" recompressed"),
    )
}

#[test]
fn export_every_codec_and_chunk_size_passes_wimlib_and_7zip() {
    if !tools(&["wimlib-imagex", "7zz"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 1);
    let source = t.path().join("source.wim");
    wimlib_capture(&src, &source, "one", "lzx");
    let mut cases: Vec<(&str, u32)> = vec![("none", 0), ("xpress", 32 << 10), ("xpress", 64 << 10)];
    for order in 15..=21 {
        cases.push(("lzx", 1 << order));
    }
    cases.extend([("lzms", 32 << 10), ("lzms", 1 << 20)]);
    for (codec, cs) in cases {
        let tag = format!("{codec}-{cs}");
        let dest = t.path().join(format!("{tag}.wim"));
        let mut args = vec![
            "wim",
            "export",
            s(&source),
            "1",
            s(&dest),
            "--compress",
            codec,
        ];
        let cs_s = cs.to_string();
        if cs != 0 {
            args.extend(["--chunk-size", &cs_s]);
        }
        let out = run(wimforge().args(&args));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{tag}: {err}");
        let info = wimlib(&["info"], &[&dest]);
        let shown = if codec == "none" { "None" } else { codec };
        assert!(
            info.to_ascii_lowercase()
                .contains(&format!("compression:    {}", shown.to_ascii_lowercase())),
            "{tag}: {info}"
        );
        if cs != 0 {
            assert!(
                info.contains(&format!("Chunk Size:     {cs} bytes")),
                "{tag}: {info}"
            );
        }
        // LZX at 32 KiB matches the source: copied as it was.
        let (raw, re) = copy_counts(&err);
        if codec == "lzx" && cs == 32 << 10 {
            assert_eq!(re, 0, "{tag}: {err}");
            assert!(raw > 0, "{tag}: {err}");
        } else {
            // (uncompressed resources may be copied into a `none` WIM)
            assert!(re > 0, "{tag}: {err}");
            if codec != "none" {
                assert_eq!(raw, 0, "{tag}: {err}");
            }
        }
        check_image(&dest, None, 1, &src, t.path(), &tag);
        assert_eq!(
            detailed_listing(&dest, 1, None),
            detailed_listing(&source, 1, None),
            "{tag}"
        );
        fs::remove_file(&dest).unwrap();
    }
}

#[test]
fn export_without_and_with_recompression() {
    if !tools(&["wimlib-imagex", "7zz"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 2);
    for codec in ["xpress", "lzx", "none"] {
        let source = t.path().join(format!("{codec}-source.wim"));
        wimlib_capture(&src, &source, "img", codec);
        // Same format and chunk size: every resource copied byte for byte,
        // so the blob table's compressed sizes are the source's.
        let raw = t.path().join(format!("{codec}-raw.wim"));
        let err = wf(&["wim", "export", s(&source), "1", s(&raw)]);
        let (copied, re) = copy_counts(&err);
        assert_eq!(re, 0, "{codec}: {err}");
        assert!(copied >= 4, "{codec}: {err}");
        let sizes = |w: &Path| -> Vec<String> {
            let mut v: Vec<String> = wimlib(&["dir", "1", "--detailed"], &[w])
                .lines()
                .filter(|l| l.starts_with("Compressed size") || l.starts_with("Hash"))
                .map(str::to_string)
                .collect();
            v.sort();
            v
        };
        assert_eq!(sizes(&raw), sizes(&source), "{codec}");
        check_image(&raw, None, 1, &src, t.path(), &format!("{codec}-raw"));
        // --recompress: nothing copied raw, still the same tree.
        let re_path = t.path().join(format!("{codec}-re.wim"));
        let err = wf(&[
            "wim",
            "export",
            s(&source),
            "1",
            s(&re_path),
            "--recompress",
        ]);
        let (copied, re) = copy_counts(&err);
        assert_eq!(copied, 0, "{codec}: {err}");
        assert!(re >= 4, "{codec}: {err}");
        check_image(&re_path, None, 1, &src, t.path(), &format!("{codec}-re"));
    }
}

#[test]
fn three_images_appended_by_export_share_blobs_and_keep_their_xml() {
    if !tools(&["wimlib-imagex", "7zz"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mut trees = vec![];
    let mut sources = vec![];
    for k in 1..=3u64 {
        let src = t.path().join(format!("tree{k}"));
        make_tree(&src, 10 + k);
        let w = t.path().join(format!("s{k}.wim"));
        wimlib_capture(&src, &w, &format!("image {k}"), "lzx");
        trees.push(src);
        sources.push(w);
    }
    // Windows build info, a description and a display name on image 2.
    wimlib(
        &[
            "info",
            "1",
            "--image-property",
            "DESCRIPTION=second tree",
            "--image-property",
            "WINDOWS/VERSION/BUILD=22631",
            "--image-property",
            "WINDOWS/PRODUCTNAME=Test Windows",
            "--image-property",
            "WINDOWS/ARCH=9",
            "--image-property",
            "DISPLAYNAME=Tree Two",
        ],
        &[&sources[1]],
    );
    let dest = t.path().join("multi.wim");
    for (k, w) in sources.iter().enumerate() {
        let mut args = vec!["wim", "export", s(w), "1", s(&dest), "--check"];
        if k == 1 {
            args.push("--boot");
        }
        let err = wf(&args);
        assert_eq!(err.contains("Appended to"), k > 0, "{err}");
    }
    // Shared blobs (text, zeros) stored once: well under three copies.
    let one = fs::metadata(&sources[0]).unwrap().len();
    let three = fs::metadata(&dest).unwrap().len();
    assert!(three < one * 3 - 100_000, "{three} vs 3 x {one}");
    let info = wimlib(&["info"], &[&dest]);
    assert!(info.contains("Image Count:    3"), "{info}");
    assert!(info.contains("Boot Index:     2"), "{info}");
    assert!(info.contains("Integrity info"), "{info}");
    for (k, tree) in trees.iter().enumerate() {
        check_image(
            &dest,
            None,
            k as u32 + 1,
            tree,
            t.path(),
            &format!("img{k}"),
        );
    }
    // XML carried through: name, description, counts, bytes, times, the
    // Windows element.
    let d = info_json(&dest, None);
    for (k, w) in sources.iter().enumerate() {
        let s_img = &info_json(w, None)["images"][0];
        let d_img = &d["images"][k];
        assert_eq!(d_img["index"], k as u64 + 1);
        for key in [
            "name",
            "description",
            "display_name",
            "dir_count",
            "file_count",
            "total_bytes",
            "hard_link_bytes",
            "creation_time",
            "last_modification_time",
            "windows",
        ] {
            assert_eq!(d_img[key], s_img[key], "image {} {key}", k + 1);
        }
    }
    assert_eq!(d["images"][1]["windows"]["version"]["build"], 22631);
    assert_eq!(d["images"][1]["windows"]["product_name"], "Test Windows");
    assert_eq!(d["images"][1]["description"], "second tree");
    // Our own `all` export of the three, renamed images refused, boot kept.
    let all = t.path().join("all.wim");
    wf(&["wim", "export", s(&dest), "all", s(&all), "--boot"]);
    let a = info_json(&all, None);
    assert_eq!(a["image_count"], 3);
    assert_eq!(a["boot_index"], 2);
    for k in 0..3 {
        assert_eq!(a["images"][k]["windows"], d["images"][k]["windows"]);
        assert_eq!(a["images"][k]["name"], d["images"][k]["name"]);
    }
    check_image(&all, None, 3, &trees[2], t.path(), "all3");
    // A name already there: refused, destination untouched.
    let before = fs::read(&all).unwrap();
    let out = run(wimforge().args(["wim", "export", s(&sources[0]), "1", s(&all)]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already has an image named"));
    assert!(fs::read(&all).unwrap() == before);
    // --dest-name gives it a new name.
    wf(&[
        "wim",
        "export",
        s(&sources[0]),
        "1",
        s(&all),
        "--dest-name",
        "copy",
        "--dest-description",
        "again",
    ]);
    let a = info_json(&all, None);
    assert_eq!(a["images"][3]["name"], "copy");
    assert_eq!(a["images"][3]["description"], "again");
    check_image(&all, None, 4, &trees[0], t.path(), "copy");
    // A different --compress for an existing destination: refused.
    let out = run(wimforge().args([
        "wim",
        "export",
        s(&sources[2]),
        "1",
        s(&all),
        "--compress",
        "xpress",
        "--dest-name",
        "x",
    ]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot change it"));
}

#[test]
fn split_sets_verify_with_wimlib_and_our_reader() {
    if !tools(&["wimlib-imagex", "7zz"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    for k in 0..6 {
        fs::write(
            src.join(format!("r{k}.bin")),
            random_bytes(77 + k as u64, 200_000 + k * 1000),
        )
        .unwrap();
    }
    fs::write(src.join("text"), "shared text ".repeat(5000)).unwrap();
    set_tree_mtimes(&src, 1_650_000_000);
    let whole = t.path().join("whole.wim");
    wimlib_capture(&src, &whole, "split me", "xpress");
    for check in [false, true] {
        let dir = t.path().join(format!("parts-{check}"));
        fs::create_dir(&dir).unwrap();
        let first = dir.join("set.swm");
        let mut args = vec!["wim", "split", s(&whole), s(&first), "--size", "0.4"];
        if check {
            args.push("--check");
        }
        wf(&args);
        let parts: Vec<PathBuf> = (1..=8)
            .map(|n| {
                if n == 1 {
                    first.clone()
                } else {
                    dir.join(format!("set{n}.swm"))
                }
            })
            .take_while(|p| p.exists())
            .collect();
        assert!(parts.len() >= 3, "{parts:?}");
        for p in &parts {
            assert!(
                fs::metadata(p).unwrap().len() <= 420_000,
                "{} too large",
                p.display()
            );
        }
        let glob = format!("{}/set*.swm", dir.display());
        check_image(
            &first,
            Some(&glob),
            1,
            &src,
            t.path(),
            &format!("split-{check}"),
        );
        // Same GUID, numbered parts, each part's table lists its own blobs.
        let whole_info = info_json(&whole, None);
        let mut blobs = 0;
        for (k, p) in parts.iter().enumerate() {
            let h = wimlib(&["info", "--header"], &[p]);
            assert_eq!(field(&h, "Part Number"), vec![(k + 1).to_string()], "{h}");
            assert_eq!(
                field(&h, "Total Parts"),
                vec![parts.len().to_string()],
                "{h}"
            );
            assert_eq!(
                field(&h, "GUID"),
                vec![whole_info["guid"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("0x")
                    .to_string()]
            );
            assert_eq!(field(&h, "Integrity Size") != ["0"], check, "{h}");
            let table = wimlib(&["info", "--blobs"], &[p]);
            let nums = field(&table, "Part Number");
            let n = nums.len();
            assert!(
                nums.iter().all(|x| *x == (k + 1).to_string()),
                "part {} lists another part's blob: {table}",
                k + 1
            );
            blobs += n;
        }
        // Metadata + 7 files.
        assert_eq!(blobs, 8);
        assert_eq!(
            detailed_listing(&first, 1, Some(&glob)),
            detailed_listing(&whole, 1, None)
        );
        // Export from the split set back into one WIM.
        let joined = t.path().join(format!("joined-{check}.wim"));
        wf(&["wim", "export", s(&first), "1", s(&joined), "--ref", &glob]);
        check_image(&joined, None, 1, &src, t.path(), &format!("joined-{check}"));
    }
}

#[test]
fn optimize_drops_the_data_of_a_deleted_image() {
    if !tools(&["wimlib-imagex", "7zz"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    make_tree(&a, 5);
    let b = t.path().join("b");
    fs::create_dir(&b).unwrap();
    fs::write(b.join("big-random"), random_bytes(9, 600_000)).unwrap();
    let w = t.path().join("o.wim");
    wimlib_capture(&a, &w, "keep", "lzx");
    ok(Command::new("wimlib-imagex")
        .arg("append")
        .arg(&b)
        .arg(&w)
        .arg("drop"));
    // --soft leaves the deleted image's blobs in the file.
    wimlib(&["delete", "2", "--soft"], &[&w]);
    let before = fs::metadata(&w).unwrap().len();
    let listing = detailed_listing(&w, 1, None);
    let err = wf(&["wim", "optimize", s(&w)]);
    let after = fs::metadata(&w).unwrap().len();
    assert!(after + 590_000 < before, "{before} -> {after}: {err}");
    assert_eq!(detailed_listing(&w, 1, None), listing);
    check_image(&w, None, 1, &a, t.path(), "opt");
    // Leaves no temporary file behind.
    let names: Vec<_> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("tmp")), "{names:?}");
    // Optimizing again changes nothing; recompressing to XPRESS with an
    // integrity table keeps the GUID and the tree.
    let bytes = fs::read(&w).unwrap();
    wf(&["wim", "optimize", s(&w)]);
    assert!(
        fs::read(&w).unwrap() == bytes,
        "second optimize changed bytes"
    );
    let guid = info_json(&w, None)["guid"].clone();
    wf(&["wim", "optimize", s(&w), "--compress", "xpress", "--check"]);
    let i = info_json(&w, None);
    assert_eq!(i["guid"], guid);
    assert_eq!(i["compression"], "xpress");
    assert_eq!(i["has_integrity"], true);
    check_image(&w, None, 1, &a, t.path(), "opt-xpress");
}

#[test]
fn real_fixture_wims_export_with_identical_listings() {
    if !tools(&["wimlib-imagex", "7zz"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let list = [
        "LZX.wim",
        "XPRESS.wim",
        "LZMS.wim",
        "BootLZX.wim",
        "MultiImage.wim",
        "dissect-archive_basic4k.wim",
        "Split.swm",
    ];
    for name in list {
        let Some(src) = fixture(&format!("wim/{name}")) else {
            return;
        };
        let refs = (name == "Split.swm")
            .then(|| format!("{}/Split*.swm", src.parent().unwrap().display()));
        for recompress in [false, true] {
            let dest = t.path().join(format!("{name}-{recompress}.wim"));
            let mut args = vec!["wim", "export", s(&src), "all", s(&dest), "--check"];
            if let Some(r) = &refs {
                args.extend(["--ref", r]);
            }
            if recompress {
                args.extend(["--compress", "lzx", "--recompress"]);
            }
            wf(&args);
            let v = wimlib(&["verify"], &[&dest]);
            assert!(v.contains("successfully verified"), "{name}: {v}");
            let out = ok(Command::new("7zz").arg("t").arg(&dest));
            assert!(out.contains("Everything is Ok"), "{name}: {out}");
            let si = info_json(&src, refs.as_deref());
            let di = info_json(&dest, None);
            assert_eq!(di["image_count"], si["image_count"], "{name}");
            for k in 0..si["image_count"].as_u64().unwrap() as usize {
                assert_eq!(
                    detailed_listing(&dest, k as u32 + 1, None),
                    detailed_listing(&src, k as u32 + 1, refs.as_deref()),
                    "{name} image {}",
                    k + 1
                );
                for key in [
                    "name",
                    "description",
                    "dir_count",
                    "file_count",
                    "total_bytes",
                    "creation_time",
                    "windows",
                    "wimboot",
                ] {
                    assert_eq!(di["images"][k][key], si["images"][k][key], "{name} {key}");
                }
            }
        }
    }
}

#[test]
fn deterministic_export_split_and_optimize_are_byte_identical() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3);
    let source = t.path().join("source.wim");
    wimlib_capture(&src, &source, "d", "xpress");
    let e1 = t.path().join("e1.wim");
    let e2 = t.path().join("e2.wim");
    for e in [&e1, &e2] {
        wf(&[
            "wim",
            "export",
            s(&source),
            "1",
            s(e),
            "--compress",
            "lzx",
            "--deterministic",
        ]);
    }
    assert!(fs::read(&e1).unwrap() == fs::read(&e2).unwrap());
    // SOURCE_DATE_EPOCH alone turns it on, with its own GUID.
    let e3 = t.path().join("e3.wim");
    ok(wimforge().env("SOURCE_DATE_EPOCH", "1700000000").args([
        "wim",
        "export",
        s(&source),
        "1",
        s(&e3),
        "--compress",
        "lzx",
    ]));
    assert_ne!(info_json(&e3, None)["guid"], info_json(&e1, None)["guid"]);
    // Without it two exports differ (random GUID).
    let r1 = t.path().join("r1.wim");
    let r2 = t.path().join("r2.wim");
    wf(&["wim", "export", s(&source), "1", s(&r1)]);
    wf(&["wim", "export", s(&source), "1", s(&r2)]);
    assert!(fs::read(&r1).unwrap() != fs::read(&r2).unwrap());
    // Split and optimize add no times or GUIDs of their own.
    for d in ["p", "q"] {
        fs::create_dir(t.path().join(d)).unwrap();
        wf(&[
            "wim",
            "split",
            s(&e1),
            s(&t.path().join(d).join("x.swm")),
            "--size",
            "0.1",
        ]);
    }
    for n in ["x.swm", "x2.swm"] {
        assert!(
            fs::read(t.path().join("p").join(n)).unwrap()
                == fs::read(t.path().join("q").join(n)).unwrap()
        );
    }
    fs::copy(&source, &r1).unwrap();
    fs::copy(&source, &r2).unwrap();
    wf(&["wim", "optimize", s(&r1), "--compress", "lzx"]);
    wf(&["wim", "optimize", s(&r2), "--compress", "lzx"]);
    assert!(fs::read(&r1).unwrap() == fs::read(&r2).unwrap());
}

/// Kill `wimforge wim append` with SIGKILL while it writes: the WIM it was
/// appending to keeps its exact bytes and still verifies.
#[test]
fn killed_append_leaves_the_wim_intact() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    make_tree(&a, 6);
    let w = t.path().join("w.wim");
    wimlib_capture(&a, &w, "first", "lzx");
    let before = fs::read(&w).unwrap();
    let big = t.path().join("big");
    fs::create_dir(&big).unwrap();
    // Enough work (LZX on 48 MiB of random data, one thread) to be caught
    // in the middle.
    for k in 0..6 {
        fs::write(big.join(format!("f{k}")), random_bytes(42 + k, 8 << 20)).unwrap();
    }
    let mut child = wimforge()
        .args(["wim", "append"])
        .arg(&big)
        .arg(&w)
        .args(["--threads", "1", "--name", "second"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let tmp = t.path().join(format!(".w.wim.wimforge-tmp-{}", child.id()));
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("append finished ({st}) before it could be interrupted; make the input larger");
        }
        if fs::metadata(&tmp)
            .map(|m| m.len() > before.len() as u64 + (1 << 20))
            .unwrap_or(false)
        {
            break;
        }
        assert!(start.elapsed().as_secs() < 60, "no temporary file grew");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(fs::read(&w).unwrap() == before, "the WIM changed");
    let v = wimlib(&["verify"], &[&w]);
    assert!(v.contains("successfully verified"), "{v}");
    ok(wimforge().args(["wim", "verify"]).arg(&w));
    // The killed writer's temporary file is left behind; the next append
    // removes it (its process is gone) and works.
    assert!(tmp.exists(), "SIGKILL left no temporary file");
    let err = wf(&["wim", "append", s(&a), s(&w), "--name", "again"]);
    assert!(!tmp.exists(), "stale temporary file kept");
    assert!(
        err.contains(&format!("removed {}", tmp.display())),
        "no warning about the removed temporary file: {err}"
    );
    check_image(&w, None, 2, &a, t.path(), "after-kill");
}

/// `export --solid` packs file data into an LZMS solid resource; a solid
/// source (made by `wimlib-imagex capture --solid`) exports to non-solid
/// formats (streamed out of the solid resource) and stays solid through
/// `optimize`.
#[test]
fn solid_exports_and_optimize_keep_the_tree() {
    if !tools(&["wimlib-imagex", "7zz"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 21);
    // (a smaller zero file: LZMS is the slowest codec)
    fs::write(src.join("dir/zeros"), vec![0u8; 200_000]).unwrap();
    set_tree_mtimes(&src, 1_650_000_000);
    let lzx = t.path().join("lzx.wim");
    wimlib_capture(&src, &lzx, "img", "lzx");
    let solid = t.path().join("solid.wim");
    wf(&[
        "wim",
        "export",
        s(&lzx),
        "1",
        s(&solid),
        "--solid",
        "--check",
    ]);
    let i = info_json(&solid, None);
    assert_eq!(i["solid"], true, "{i}");
    assert_eq!(i["compression"], "lzms", "{i}");
    check_image(&solid, None, 1, &src, t.path(), "solid");
    // wimlib's own solid WIM, out to XPRESS and LZX (not solid).
    let wsolid = t.path().join("wimlib-solid.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&src)
        .arg(&wsolid)
        .arg("w")
        .arg("--solid"));
    assert_eq!(info_json(&wsolid, None)["solid"], true);
    for codec in ["xpress", "lzx"] {
        let out = t.path().join(format!("from-solid-{codec}.wim"));
        wf(&[
            "wim",
            "export",
            s(&wsolid),
            "1",
            s(&out),
            "--compress",
            codec,
        ]);
        let i = info_json(&out, None);
        assert_eq!(i["solid"], false, "{i}");
        check_image(
            &out,
            None,
            1,
            &src,
            t.path(),
            &format!("from-solid-{codec}"),
        );
        assert_eq!(
            detailed_listing(&out, 1, None),
            detailed_listing(&wsolid, 1, None)
        );
    }
    // Optimize keeps a solid WIM solid (unless --no-solid).
    wf(&["wim", "optimize", s(&wsolid)]);
    assert_eq!(info_json(&wsolid, None)["solid"], true);
    check_image(&wsolid, None, 1, &src, t.path(), "opt-solid");
    wf(&["wim", "optimize", s(&wsolid), "--no-solid"]);
    assert_eq!(info_json(&wsolid, None)["solid"], false);
    check_image(&wsolid, None, 1, &src, t.path(), "opt-unsolid");
}
