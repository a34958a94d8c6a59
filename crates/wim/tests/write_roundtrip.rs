//! Write side: capture Linux trees with `wim::write`, read them back with
//! our reader and extractor, and compare with the source (names, types,
//! bytes, hard links, symlink targets, mtimes); determinism across runs
//! and thread counts; append; integrity; interrupted writes.

use proptest::prelude::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use wim::apply::dir::{extract, ExtractOptions};
use wim::write::{scan_dir, CaptureOptions, WimWriter, WriteOptions};
use wim::Wim;

fn set_mtime(p: &Path, secs: i64) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let t = libc_timespec(secs);
    let times = [t, t];
    // SAFETY: valid NUL-terminated path and two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0, "utimensat {}", p.display());
}

fn libc_timespec(secs: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 123_456_700,
    }
}

/// Every path below `root` with a description: type, bytes or target,
/// link count, mtime (seconds and nanoseconds).
fn listing(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let p = root.join(&r);
            let md = fs::symlink_metadata(&p).unwrap();
            let what = if md.is_dir() {
                stack.push(r.clone());
                "dir".to_string()
            } else if md.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&p).unwrap().display())
            } else {
                format!("file {:?} nlink {}", fs::read(&p).unwrap(), md.nlink())
            };
            out.push((
                r,
                format!("{what} mtime {}.{}", md.mtime(), md.mtime_nsec()),
            ));
        }
    }
    out.sort();
    out
}

fn capture(src: &Path, wim: &Path, opts: WriteOptions, name: &str) {
    let (tree, warnings) = scan_dir(
        src,
        &CaptureOptions {
            deterministic: opts.fixed_time.is_some(),
            rp_fix: opts.rp_fix,
            ..Default::default()
        },
    )
    .unwrap();
    // Random names often hold characters Windows forbids: those are
    // captured with a warning; nothing else may warn.
    let others: Vec<&String> = warnings
        .iter()
        .filter(|w| !w.contains("Windows cannot apply it") && !w.contains("only in case"))
        .collect();
    assert!(others.is_empty(), "{others:?}");
    let mut w = WimWriter::create(wim, opts).unwrap();
    w.add_image(tree, name, None).unwrap();
    w.finish().unwrap();
}

fn extract_to(wim: &Path, image: u32, dest: &Path) {
    let w = Wim::open(wim, &[]).unwrap();
    let img = w.image(image).unwrap();
    assert!(img.warnings.is_empty(), "{:?}", img.warnings);
    extract(&w, &img, dest, &ExtractOptions::default(), &|_, _| {}).unwrap();
}

fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("d/e")).unwrap();
    fs::create_dir(root.join("emptydir")).unwrap();
    fs::write(root.join("a.txt"), b"hello\n").unwrap();
    fs::write(root.join("b.txt"), b"hello\n").unwrap();
    fs::hard_link(root.join("a.txt"), root.join("d/hl.txt")).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(root.join("d/e/big.bin"), &big).unwrap();
    fs::write(root.join("Name With Spaces ü"), b"x").unwrap();
    std::os::unix::fs::symlink("a.txt", root.join("rel")).unwrap();
    std::os::unix::fs::symlink("../d", root.join("d/e/updir")).unwrap();
    std::os::unix::fs::symlink("no/such", root.join("dangling")).unwrap();
    for p in listing(root).into_iter().map(|(p, _)| p).rev() {
        set_mtime(&root.join(p), 1_600_000_000);
    }
}

#[test]
fn capture_then_extract_gives_the_tree_back() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    sample_tree(&src);
    let wim = t.path().join("x.wim");
    capture(&src, &wim, WriteOptions::default(), "sample");
    let w = Wim::open(&wim, &[]).unwrap();
    assert_eq!(w.image_count(), 1);
    let r = wim::verify::verify(&w, &Default::default(), &|_, _| {}).unwrap();
    assert_eq!(r.images, 1);
    // "hello\n" is stored once although three names hold it.
    assert_eq!(w.blobs().filter(|b| b.size == 6).count(), 1);
    let e = w.xml.image(1).unwrap();
    assert_eq!(e.text_at("NAME"), Some("sample"));
    assert_eq!(e.text_at("DIRCOUNT"), Some("4"));
    assert_eq!(e.text_at("FILECOUNT"), Some("9"));
    assert_eq!(e.text_at("HARDLINKBYTES"), Some("6"));
    let dest = t.path().join("out");
    extract_to(&wim, 1, &dest);
    assert_eq!(listing(&src), listing(&dest));
}

#[test]
fn absolute_symlinks_are_stored_absolute() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", src.join("abs")).unwrap();
    let wim = t.path().join("x.wim");
    capture(&src, &wim, WriteOptions::default(), "abs");
    let w = Wim::open(&wim, &[]).unwrap();
    let img = w.image(1).unwrap();
    let ino = img.inode_of(img.lookup("abs").unwrap());
    assert_eq!(ino.reparse_tag, wim::format::reparse::SYMLINK);
    let data = w
        .read_blob(w.blob(&ino.reparse_stream().unwrap().hash).unwrap())
        .unwrap();
    let subst_len = u16::from_le_bytes([data[2], data[3]]) as usize;
    assert_eq!(u32::from_le_bytes(data[8..12].try_into().unwrap()) & 1, 0);
    assert_eq!(
        wim::bytes::utf16le_to_string(&data[12..12 + subst_len]),
        "\\??\\C:\\etc\\hostname"
    );
    // Our extractor re-roots absolute targets under the destination.
    let dest = t.path().join("out");
    extract_to(&wim, 1, &dest);
    let target = fs::read_link(dest.join("abs")).unwrap();
    assert!(target.ends_with("etc/hostname"), "{}", target.display());
}

#[test]
fn deterministic_output_is_identical_across_runs_and_thread_counts() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    sample_tree(&src);
    let opts = |threads| WriteOptions {
        threads,
        fixed_time: Some(1_700_000_000),
        integrity: true,
        ..Default::default()
    };
    let a = t.path().join("a.wim");
    let b = t.path().join("b.wim");
    capture(&src, &a, opts(1), "img");
    // Reading the files again must not change anything (atime).
    capture(&src, &b, opts(2), "img");
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "deterministic WIMs differ"
    );
    // Without it, the GUID differs.
    let c = t.path().join("c.wim");
    capture(&src, &c, WriteOptions::default(), "img");
    let (wa, wc) = (Wim::open(&a, &[]).unwrap(), Wim::open(&c, &[]).unwrap());
    assert_ne!(wa.header().guid, wc.header().guid);
}

#[test]
fn integrity_table_and_boot_index() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    sample_tree(&src);
    let wim = t.path().join("x.wim");
    let (tree, _) = scan_dir(&src, &CaptureOptions::default()).unwrap();
    let mut w = WimWriter::create(
        &wim,
        WriteOptions {
            integrity: true,
            ..Default::default()
        },
    )
    .unwrap();
    let i = w.add_image(tree, "boot me", Some("desc")).unwrap();
    w.set_boot_index(i).unwrap();
    assert!(w.set_boot_index(2).is_err());
    w.finish().unwrap();
    let w = Wim::open(&wim, &[]).unwrap();
    assert_eq!(w.check_integrity().unwrap(), 1);
    assert_eq!(w.header().boot_index, 1);
    assert_eq!(
        w.header().boot_metadata.offset,
        w.resource_of(&w.metadata[0]).offset
    );
    assert_eq!(w.xml.image(1).unwrap().text_at("DESCRIPTION"), Some("desc"));
    // Corrupt one byte covered by the table: the check fails.
    let mut raw = fs::read(&wim).unwrap();
    raw[300] ^= 0xff;
    let bad = Wim::from_bytes("bad.wim", raw).unwrap();
    assert!(bad.check_integrity().is_err());
}

#[test]
fn append_adds_an_image_and_deduplicates() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    sample_tree(&src);
    let src2 = t.path().join("src2");
    fs::create_dir(&src2).unwrap();
    fs::write(src2.join("same.txt"), b"hello\n").unwrap();
    fs::write(src2.join("new.txt"), b"new data").unwrap();
    set_mtime(&src2.join("same.txt"), 1_500_000_000);
    // (FILETIMEs hold 100 ns; the test times are multiples of that.)
    set_mtime(&src2.join("new.txt"), 1_500_000_000);
    let wim = t.path().join("x.wim");
    capture(
        &src,
        &wim,
        WriteOptions {
            integrity: true,
            ..Default::default()
        },
        "one",
    );
    let before = Wim::open(&wim, &[]).unwrap();
    let blobs_before = before.blobs().count();
    let guid = before.header().guid;
    drop(before);

    let (tree, _) = scan_dir(&src2, &CaptureOptions::default()).unwrap();
    let mut w = WimWriter::append_to(&wim, WriteOptions::default()).unwrap();
    // Image names stay unique.
    let (dup, _) = scan_dir(&src2, &CaptureOptions::default()).unwrap();
    assert!(w.add_image(dup, "one", None).is_err());
    assert_eq!(w.add_image(tree, "two", None).unwrap(), 2);
    let s = w.finish().unwrap();
    assert_eq!(s.blobs_written, 1, "only new.txt is new");
    assert_eq!(s.deduplicated, 1);

    let w = Wim::open(&wim, &[]).unwrap();
    assert_eq!(w.image_count(), 2);
    assert_eq!(w.header().guid, guid);
    assert_eq!(w.blobs().count(), blobs_before + 1);
    assert_eq!(w.check_integrity().unwrap(), 1, "integrity table kept");
    wim::verify::verify(&w, &Default::default(), &|_, _| {}).unwrap();
    assert_eq!(w.xml.image(1).unwrap().text_at("NAME"), Some("one"));
    assert_eq!(w.xml.image(2).unwrap().text_at("NAME"), Some("two"));
    let (d1, d2) = (t.path().join("o1"), t.path().join("o2"));
    extract_to(&wim, 1, &d1);
    extract_to(&wim, 2, &d2);
    assert_eq!(listing(&src), listing(&d1));
    assert_eq!(listing(&src2), listing(&d2));
}

#[test]
fn a_failed_write_leaves_the_destination_untouched() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    sample_tree(&src);
    let wim = t.path().join("x.wim");
    capture(&src, &wim, WriteOptions::default(), "one");
    let orig = fs::read(&wim).unwrap();
    let entries = |d: &Path| {
        let mut v: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let names_before = entries(t.path());

    // A file that vanishes between scan and write: append fails.
    let src2 = t.path().join("src2");
    fs::create_dir(&src2).unwrap();
    fs::write(src2.join("gone"), b"data").unwrap();
    let (tree, _) = scan_dir(&src2, &CaptureOptions::default()).unwrap();
    fs::remove_file(src2.join("gone")).unwrap();
    let mut w = WimWriter::append_to(&wim, WriteOptions::default()).unwrap();
    let err = w.add_image(tree, "two", None).unwrap_err().to_string();
    assert!(err.contains("gone: removed while being captured"), "{err}");
    drop(w);
    assert!(fs::read(&wim).unwrap() == orig, "destination changed");

    // A file that grows after the scan: capture fails, nothing written.
    fs::write(src2.join("grows"), b"1").unwrap();
    let (tree, _) = scan_dir(&src2, &CaptureOptions::default()).unwrap();
    fs::write(src2.join("grows"), b"12345").unwrap();
    let fresh = t.path().join("fresh.wim");
    let mut w = WimWriter::create(&fresh, WriteOptions::default()).unwrap();
    let err = w.add_image(tree, "x", None).unwrap_err();
    assert!(
        err.to_string().contains("changed while being captured"),
        "{err}"
    );
    drop(w);
    assert!(!fresh.exists());
    // No temporary files are left behind.
    let mut after = entries(t.path());
    after.retain(|n| n != "src2");
    assert_eq!(after, names_before);
}

#[test]
fn compression_without_a_compressor_is_refused() {
    let t = tempfile::tempdir().unwrap();
    for ct in [
        wim::codec::CompressionType::Lzx,
        wim::codec::CompressionType::Lzms,
    ] {
        let r = WimWriter::create(
            t.path().join("x.wim"),
            WriteOptions {
                compression: ct,
                ..Default::default()
            },
        );
        let err = r.err().expect("refused").to_string();
        assert!(err.contains("not supported yet"), "{err}");
    }
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 0);
}

/// A random tree: directories, files (some empty, some sharing contents),
/// hard links and relative symlinks, names with odd characters.
#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>),
    Dir(Vec<(String, Node)>),
    Link(String),
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{1,12}",
        "[a-z]{1,4}[ äöü€日本\\\\:*?\"<>|]{1,3}",
    ]
    .prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..2000).prop_map(Node::File),
        2 => prop::sample::select(vec![b"same".to_vec(), vec![], vec![0u8; 5000]]).prop_map(Node::File),
        1 => "[a-z]{1,8}(/[a-z]{1,8}){0,2}".prop_map(Node::Link),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop::collection::btree_map(name_strategy(), inner, 0..6)
            .prop_map(|m| Node::Dir(m.into_iter().collect()))
    })
}

fn build(root: &Path, entries: &[(String, Node)], files: &mut Vec<PathBuf>) {
    for (name, n) in entries {
        let p = root.join(name);
        match n {
            Node::File(b) => {
                fs::write(&p, b).unwrap();
                files.push(p);
            }
            Node::Dir(c) => {
                fs::create_dir(&p).unwrap();
                build(&p, c, files);
            }
            Node::Link(t) => std::os::unix::fs::symlink(t, &p).unwrap(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn random_trees_round_trip(
        top in prop::collection::btree_map(name_strategy(), node_strategy(), 0..8),
        links in prop::collection::vec((any::<prop::sample::Index>(), "[a-z]{1,6}"), 0..3),
    ) {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir(&src).unwrap();
        let mut files = Vec::new();
        let top: Vec<(String, Node)> = top.into_iter().collect();
        build(&src, &top, &mut files);
        for (idx, name) in links {
            if files.is_empty() { break; }
            let f = idx.get(&files);
            let p = f.with_file_name(format!("{name}.hardlink"));
            if !p.exists() {
                fs::hard_link(f, &p).unwrap();
            }
        }
        for (p, _) in listing(&src).into_iter().rev() {
            set_mtime(&src.join(p), 1_234_567_890);
        }
        let wim = t.path().join("x.wim");
        capture(&src, &wim, WriteOptions { threads: 2, ..Default::default() }, "p");
        let dest = t.path().join("out");
        extract_to(&wim, 1, &dest);
        prop_assert_eq!(listing(&src), listing(&dest));
    }
}

fn xpress(threads: usize, chunk_size: u32) -> WriteOptions {
    WriteOptions {
        compression: wim::codec::CompressionType::Xpress,
        compressor: wim::write::compressor_for(wim::codec::CompressionType::Xpress),
        chunk_size,
        threads,
        fixed_time: Some(0),
        ..Default::default()
    }
}

#[test]
fn xpress_wims_round_trip_and_do_not_depend_on_threads() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    sample_tree(&src);
    // Compressible data spanning several chunks, with a short tail.
    let text: Vec<u8> = (0..40_000u32)
        .flat_map(|i| format!("{} {}\n", i % 1000, i % 7).into_bytes())
        .collect();
    fs::write(src.join("d/text.txt"), &text).unwrap();
    set_mtime(&src.join("d/text.txt"), 1_600_000_000);
    set_mtime(&src.join("d"), 1_600_000_000);
    for cs in [4096u32, 32768, 65536] {
        let a = t.path().join(format!("a{cs}.wim"));
        let b = t.path().join(format!("b{cs}.wim"));
        capture(&src, &a, xpress(1, cs), "x");
        capture(&src, &b, xpress(2, cs), "x");
        assert!(
            fs::read(&a).unwrap() == fs::read(&b).unwrap(),
            "chunk size {cs}"
        );
        let w = Wim::open(&a, &[]).unwrap();
        assert_eq!(w.header().chunk_size, cs);
        assert_eq!(
            w.header().compression().unwrap(),
            wim::codec::CompressionType::Xpress
        );
        let tl = w.blobs().find(|b| b.size == text.len() as u64).unwrap();
        let res = w.resource_of(tl);
        assert!(
            res.compressed && res.size_in_wim < text.len() as u64 / 2,
            "{res:?}"
        );
        wim::verify::verify(&w, &Default::default(), &|_, _| {}).unwrap();
        let dest = t.path().join(format!("out{cs}"));
        extract_to(&a, 1, &dest);
        assert_eq!(listing(&src), listing(&dest));
    }
    assert!(WimWriter::create(t.path().join("bad.wim"), xpress(1, 1 << 17)).is_err());
}

#[test]
fn reparse_point_fixups_make_inside_links_root_relative() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/a.txt"), b"a").unwrap();
    let canon = fs::canonicalize(&src).unwrap();
    std::os::unix::fs::symlink(canon.join("d/a.txt"), src.join("inside")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", src.join("outside")).unwrap();
    let wim = t.path().join("x.wim");
    capture(
        &src,
        &wim,
        WriteOptions {
            rp_fix: true,
            ..Default::default()
        },
        "rp",
    );
    let w = Wim::open(&wim, &[]).unwrap();
    assert_ne!(w.header().flags & wim::format::hdr_flags::RP_FIX, 0);
    let img = w.image(1).unwrap();
    let target = |name: &str| {
        let ino = img.inode_of(img.lookup(name).unwrap());
        let data = w
            .read_blob(w.blob(&ino.reparse_stream().unwrap().hash).unwrap())
            .unwrap();
        let n = u16::from_le_bytes([data[2], data[3]]) as usize;
        (
            wim::bytes::utf16le_to_string(&data[12..12 + n]),
            ino.rp_flags,
        )
    };
    assert_eq!(target("inside"), ("\\??\\C:\\d\\a.txt".to_string(), 0));
    assert_eq!(
        target("outside"),
        ("\\??\\C:\\etc\\hostname".to_string(), 1)
    );
    let dest = t.path().join("out");
    extract_to(&wim, 1, &dest);
    let got = fs::read_link(dest.join("inside")).unwrap();
    assert_eq!(got, fs::canonicalize(&dest).unwrap().join("d/a.txt"));
    assert_eq!(fs::read(dest.join("inside")).unwrap(), b"a");
}
