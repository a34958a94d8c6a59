//! NTFS edge cases of the writer, the injector and the checker, verified
//! with tools we did not write (ntfs-3g's ntfsinfo, ntfsls, ntfscat,
//! ntfsresize; libfsntfs' fsntfsinfo) and our own `ntfs check`:
//! - directories whose attributes overflow one MFT record (named streams,
//!   a large $EA) get extension records and an $ATTRIBUTE_LIST, in bulk
//!   apply and when `put` adds entries to them;
//! - large $EA (up to 64 KiB) and $REPARSE_POINT (up to 16 KiB) values are
//!   written non-resident and read back;
//! - `put`/replace of files that have an attribute list (hundreds of hard
//!   links, many streams, a fragmented runlist) frees and reuses their
//!   extension records;
//! - `ntfs check` names a corrupt extension record.

mod ntfs_util;
mod support;

use blockdev::FileDev;
use ntfs_inject::layout::attr_type as at;
use ntfs_inject::writer::Ea;
use ntfs_inject::{FormatOptions, Name, Node, Reparse, Tree};
use ntfs_util::*;
use std::path::Path;
use std::process::Command;
use support::*;

fn root() -> Tree {
    Tree {
        nodes: vec![Node {
            directory: true,
            attributes: 0x10,
            ..Default::default()
        }],
        security: vec![],
    }
}

/// The value of attribute `ty` (e.g. "EA") of `path`, read by ntfs-3g.
fn ntfscat_attr(img: &Path, path: &str, ty: &str) -> Vec<u8> {
    let out = run(Command::new("ntfscat").arg("-a").arg(ty).arg(img).arg(path));
    assert!(
        out.status.success(),
        "ntfscat -a {ty} {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn reparse_value(tag: u32, data: &[u8]) -> Vec<u8> {
    let mut v = tag.to_le_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(data);
    v
}

fn ntfsinfo(img: &Path, path: &str) -> String {
    ok(Command::new("ntfsinfo").args(["-v", "-F", path]).arg(img))
}

/// The attribute sections of an `ntfsinfo -v -F` dump: (type name,
/// whether non-resident).
fn info_attrs(info: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for l in info.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("Dumping attribute ") {
            let name = rest.split_whitespace().next().unwrap_or("").to_string();
            out.push((name, false));
        } else if l.starts_with("Resident:") && l.contains("No") {
            if let Some(last) = out.last_mut() {
                last.1 = true;
            }
        }
    }
    out
}

fn ours(img: &Path) -> ntfs_inject::Volume<FileDev> {
    ntfs_inject::Volume::open(FileDev::open(img, false).unwrap()).unwrap()
}

fn big_ea(total: usize) -> Vec<Ea> {
    // Entries of at most 65535 bytes; names in upper case as Windows keeps
    // them.
    let mut v = Vec::new();
    let mut left = total;
    let mut i = 0u8;
    while left > 0 {
        let n = left.min(20_000);
        v.push(Ea {
            name: format!("WIMFORGE.EA{i}").into_bytes(),
            value: pattern(n, i),
            flags: 0,
        });
        left -= n;
        i += 1;
    }
    v
}

/// Bulk apply: a directory with 40 named streams and 300 children, an
/// empty directory with 60 named streams, a directory with a 30 KiB $EA
/// and a 16 KiB reparse point, a file with a 60 KiB $EA and a file with a
/// 16 KiB reparse point.
fn dirs_tree() -> Tree {
    let mut t = root();
    let mut d = node(0, "adsdir", true); // 1
    for i in 0..40 {
        let len = if i % 2 == 0 { 3000 + i } else { 200 + i };
        d.streams
            .push(stream(&format!("dirstream{i:02}"), pattern(len, i as u8)));
    }
    t.nodes.push(d);
    let mut e = node(0, "emptyover", true); // 2
    for i in 0..60 {
        e.streams
            .push(stream(&format!("s{i:02}"), pattern(100, i as u8)));
    }
    t.nodes.push(e);
    let mut ed = node(0, "eadir", true); // 3
    ed.eas = big_ea(30_000);
    ed.reparse = Some(Reparse {
        tag: 0x8000_0013,
        reserved: 0,
        data: pattern(16 * 1024 - 8, 9),
    });
    t.nodes.push(ed);
    let mut f = node(0, "bigea.bin", false); // 4
    f.streams.push(stream("", b"ea file".to_vec()));
    f.eas = big_ea(65_000);
    t.nodes.push(f);
    let mut r = node(0, "bigreparse", false); // 5
    r.reparse = Some(Reparse {
        tag: 0x8000_0013,
        reserved: 0,
        data: pattern(16 * 1024 - 8, 7),
    });
    t.nodes.push(r);
    for i in 0..300 {
        let mut c = node(1, &format!("child-with-a-long-name-{i:04}.txt"), false);
        c.streams
            .push(stream("", format!("child {i}").into_bytes()));
        t.nodes.push(c);
    }
    let mut c = node(3, "inside.txt", false);
    c.streams.push(stream("", b"inside".to_vec()));
    t.nodes.push(c);
    t
}

#[test]
fn overflowing_directories_and_large_ea_reparse() {
    if !have_all(&["ntfsinfo", "ntfsls", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("dirs.img");
    write_tree(&img, &dirs_tree(), 64 << 20);
    tools_clean(&img);

    // ntfs-3g sees the attribute lists and reads streams and children.
    for dir in ["/adsdir", "/emptyover"] {
        let info = ntfsinfo(&img, dir);
        assert!(info.contains("$ATTRIBUTE_LIST"), "{dir}: {info}");
    }
    let ls = ok(Command::new("ntfsls")
        .args(["-a", "-p", "/adsdir"])
        .arg(&img));
    assert_eq!(
        ls.lines().filter(|l| l.starts_with("child-with")).count(),
        300,
        "{ls}"
    );
    assert_eq!(
        ntfscat(&img, "/adsdir/child-with-a-long-name-0123.txt", None),
        b"child 123"
    );
    for i in [0usize, 1, 38, 39] {
        let len = if i % 2 == 0 { 3000 + i } else { 200 + i };
        let name = format!("dirstream{i:02}");
        assert_eq!(
            ntfscat(&img, "/adsdir", Some(&name)),
            pattern(len, i as u8),
            "{name}"
        );
    }
    assert_eq!(ntfscat(&img, "/emptyover", Some("s59")), pattern(100, 59));
    let ls = ok(Command::new("ntfsls")
        .args(["-a", "-p", "/emptyover"])
        .arg(&img));
    assert!(
        ls.lines().all(|l| matches!(l.trim(), "" | "." | "..")),
        "{ls}"
    );
    assert_eq!(ntfscat(&img, "/eadir/inside.txt", None), b"inside");

    // Non-resident $EA and $REPARSE_POINT, as ntfsinfo reports them.
    for (path, ty) in [
        ("/bigea.bin", "$EA"),
        ("/eadir", "$EA"),
        ("/eadir", "$REPARSE_POINT"),
        ("/bigreparse", "$REPARSE_POINT"),
    ] {
        let info = ntfsinfo(&img, path);
        let attrs = info_attrs(&info);
        assert!(
            attrs.iter().any(|(n, nr)| n == ty && *nr),
            "{path}: {ty} not non-resident in {attrs:?}\n{info}"
        );
        if ty == "$EA" {
            assert!(attrs.iter().any(|(n, nr)| n == "$EA_INFORMATION" && !*nr));
        }
    }
    let info = ntfsinfo(&img, "/bigreparse");
    assert!(info.to_lowercase().contains("0x80000013"), "{info}");
    // ntfs-3g reads the non-resident values.
    let ea_file = ntfs_inject::writer::encode_eas(&big_ea(65_000)).0;
    assert_eq!(ntfscat_attr(&img, "/bigea.bin", "EA"), ea_file);
    assert_eq!(
        ntfscat_attr(&img, "/eadir", "EA"),
        ntfs_inject::writer::encode_eas(&big_ea(30_000)).0
    );
    assert_eq!(
        ntfscat_attr(&img, "/bigreparse", "REPARSE_POINT"),
        reparse_value(0x8000_0013, &pattern(16 * 1024 - 8, 7))
    );
    assert_eq!(
        ntfscat_attr(&img, "/eadir", "REPARSE_POINT"),
        reparse_value(0x8000_0013, &pattern(16 * 1024 - 8, 9))
    );

    // Our reader returns the values written.
    let vol = ours(&img);
    let rec = vol.record(vol.lookup("/bigea.bin").unwrap()).unwrap();
    let ea = vol
        .read_attr(rec.find(at::EA, &[]).unwrap(), 1 << 20)
        .unwrap();
    assert_eq!(ea, ntfs_inject::writer::encode_eas(&big_ea(65_000)).0);
    let rec = vol.record(vol.lookup("/eadir").unwrap()).unwrap();
    let rp = vol
        .read_attr(rec.find(at::REPARSE_POINT, &[]).unwrap(), 1 << 20)
        .unwrap();
    assert_eq!(&rp[..4], &0x8000_0013u32.to_le_bytes());
    assert_eq!(&rp[8..], &pattern(16 * 1024 - 8, 9)[..]);
    let rec = vol.record(vol.lookup("/bigreparse").unwrap()).unwrap();
    let rp = vol
        .read_attr(rec.find(at::REPARSE_POINT, &[]).unwrap(), 1 << 20)
        .unwrap();
    assert_eq!(&rp[8..], &pattern(16 * 1024 - 8, 7)[..]);
    let adsdir = vol.lookup("/adsdir").unwrap();
    assert!(vol
        .raw_record(adsdir)
        .unwrap()
        .find(at::ATTRIBUTE_LIST, &[])
        .is_some());
    drop(vol);

    // `put` adds files and a directory to the directory with a list.
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    inj.create("/adsdir/newdir", None).unwrap();
    inj.create("/adsdir/newdir/x.txt", Some(b"x")).unwrap();
    let big = pattern(100_000, 4);
    inj.put("/adsdir/new-file.bin", &big).unwrap();
    inj.put("/emptyover/first.txt", b"first").unwrap();
    drop(inj);
    tools_clean(&img);
    assert_eq!(ntfscat(&img, "/adsdir/new-file.bin", None), big);
    assert_eq!(ntfscat(&img, "/adsdir/newdir/x.txt", None), b"x");
    assert_eq!(ntfscat(&img, "/emptyover/first.txt", None), b"first");
    assert_eq!(
        ntfscat(&img, "/adsdir", Some("dirstream38")),
        pattern(3038, 38)
    );
    let ls = ok(Command::new("ntfsls")
        .args(["-a", "-p", "/adsdir"])
        .arg(&img));
    assert_eq!(
        ls.lines()
            .filter(|l| !matches!(l.trim(), "" | "." | ".."))
            .count(),
        302,
        "{ls}"
    );
    // ntfs-3g edits the directory with its list: a new file, a removed
    // one.
    with_ntfs3g_mount(&img, |m| {
        std::fs::write(m.join("adsdir/by-ntfs3g.txt"), b"ntfs-3g").unwrap();
        std::fs::remove_file(m.join("adsdir/child-with-a-long-name-0007.txt")).unwrap();
        assert_eq!(
            std::fs::read(m.join("adsdir/child-with-a-long-name-0008.txt")).unwrap(),
            b"child 8"
        );
    });
    tools_clean(&img);
    assert_eq!(ntfscat(&img, "/adsdir/by-ntfs3g.txt", None), b"ntfs-3g");
    assert_eq!(
        ntfscat(&img, "/adsdir", Some("dirstream00")),
        pattern(3000, 0)
    );
}

/// MFT records in use according to $MFT:$BITMAP.
fn records_in_use(img: &Path) -> usize {
    let vol = ours(img);
    let mft = vol.record(0).unwrap();
    let bm = vol
        .read_attr(mft.find(at::BITMAP, &[]).unwrap(), 1 << 20)
        .unwrap();
    bm.iter().map(|b| b.count_ones() as usize).sum()
}

/// `put` replaces files with attribute lists: 300 hard links over three
/// directories (every parent index updated), 60 named streams, and a
/// fragmented file whose list goes away when it shrinks. Extension records
/// are freed and reused; the volume stays clean for ntfsresize, fsntfsinfo
/// and our checker.
#[test]
fn replace_files_with_attribute_lists() {
    if !have_all(&["ntfsinfo", "ntfsls", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("repl.img");
    let mut t = root();
    t.nodes.push(node(0, "a", true)); // 1
    t.nodes.push(node(0, "b", true)); // 2
    let mut f = node(0, "linked-000.dll", false); // 3
    f.streams.push(stream("", pattern(5000, 1)));
    for i in 1..300 {
        f.names.push(Name {
            parent: i % 3,
            name: format!("linked-with-longer-name-{i:03}.dll"),
            short_name: None,
        });
    }
    t.nodes.push(f);
    let mut g = node(1, "streams.bin", false); // 4
    g.streams.push(stream("", b"main stream".to_vec()));
    for i in 0..60 {
        let len = if i % 3 == 0 { 3000 + i } else { 40 + i };
        g.streams
            .push(stream(&format!("ads{i:02}"), pattern(len, i as u8)));
    }
    t.nodes.push(g);
    write_tree(&img, &t, 64 << 20);
    tools_clean(&img);
    let before = records_in_use(&img);

    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    let new_links = pattern(70_000, 5);
    let (_, replaced) = inj
        .put("/a/linked-with-longer-name-001.dll", &new_links)
        .unwrap();
    assert!(replaced);
    inj.put("/a/streams.bin", b"short now").unwrap();
    drop(inj);
    tools_clean(&img);
    assert_eq!(records_in_use(&img), before, "extension records leaked");
    for p in [
        "/linked-000.dll",
        "/a/linked-with-longer-name-004.dll",
        "/b/linked-with-longer-name-299.dll",
        "/linked-with-longer-name-297.dll",
    ] {
        assert_eq!(ntfscat(&img, p, None), new_links, "{p}");
    }
    // ntfsls -l shows the new size in every parent's index copy.
    let ls = ok(Command::new("ntfsls").args(["-l", "-p", "/b"]).arg(&img));
    let line = ls
        .lines()
        .find(|l| l.contains("linked-with-longer-name-299.dll"))
        .unwrap();
    assert!(line.contains("70000"), "{line}");
    assert_eq!(ntfscat(&img, "/a/streams.bin", None), b"short now");
    assert_eq!(
        ntfscat(&img, "/a/streams.bin", Some("ads57")),
        pattern(3057, 57)
    );
    assert_eq!(
        ntfscat(&img, "/a/streams.bin", Some("ads58")),
        pattern(98, 58)
    );
    let info = ntfsinfo(&img, "/linked-000.dll");
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    let vol = ours(&img);
    let n = vol.lookup("/linked-000.dll").unwrap();
    assert_eq!(vol.record(n).unwrap().link_count, 300);
    drop(vol);

    // A second replace reuses the freed records again.
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    inj.put("/linked-000.dll", b"tiny").unwrap();
    drop(inj);
    tools_clean(&img);
    assert_eq!(records_in_use(&img), before);
    assert_eq!(
        ntfscat(&img, "/a/linked-with-longer-name-001.dll", None),
        b"tiny"
    );
}

/// A fragmented volume makes `put` write a file with an attribute list;
/// replacing it with small contents drops the list and frees its
/// extension records and clusters.
#[test]
fn replace_drops_list_of_fragmented_file() {
    if !have_all(&["ntfsinfo", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("frag.img");
    let dev = FileDev::create(&img, 12 << 20).unwrap();
    ntfs_inject::format(dev, &FormatOptions::default()).unwrap();
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    inj.create("/d", None).unwrap();
    let filler = pattern(8000, 1);
    let mut n = 0;
    while inj.create(&format!("/d/f{n:05}"), Some(&filler)).is_ok() {
        n += 1;
    }
    for i in (0..n).step_by(2) {
        inj.replace(&format!("/d/f{i:05}"), b"x").unwrap();
    }
    let big = pattern((n / 2 - 20) * 8192, 2);
    inj.create("/big.bin", Some(&big)).unwrap();
    drop(inj);
    tools_clean(&img);
    let with_list = records_in_use(&img);
    let info = ntfsinfo(&img, "/big.bin");
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");

    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    inj.put("/big.bin", b"small").unwrap();
    drop(inj);
    tools_clean(&img);
    assert!(records_in_use(&img) < with_list);
    let info = ntfsinfo(&img, "/big.bin");
    assert!(!info.contains("$ATTRIBUTE_LIST"), "{info}");
    assert_eq!(ntfscat(&img, "/big.bin", None), b"small");
    // The freed clusters take a large file again (fragmented: a new list).
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    inj.put("/big.bin", &big).unwrap();
    drop(inj);
    tools_clean(&img);
    assert_eq!(ntfscat(&img, "/big.bin", None), big);
}

/// `ntfs check` names an extension record whose base reference was
/// corrupted (the record's own list entry and the orphan both reported).
#[test]
fn check_names_corrupt_extension_record() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("corrupt.img");
    let mut t = root();
    let mut f = node(0, "many.txt", false);
    f.streams.push(stream("", b"x".to_vec()));
    for i in 1..200 {
        f.names.push(Name {
            parent: 0,
            name: format!("many-link-with-a-longer-name-{i:04}.txt"),
            short_name: None,
        });
    }
    t.nodes.push(f);
    write_tree(&img, &t, 16 << 20);
    let chk = run(wimforge().args(["ntfs", "check"]).arg(&img));
    assert!(chk.status.success(), "{chk:?}");
    let vol = ours(&img);
    let base = vol.lookup("/many.txt").unwrap();
    let ext = (0..vol.record_count())
        .find(|&r| {
            vol.raw_record(r)
                .is_ok_and(|x| x.in_use() && x.base == base)
        })
        .expect("an extension record");
    let off = vol.record_offset(ext).unwrap();
    drop(vol);
    // The base reference (offset 0x20) now names the root directory.
    let dev = FileDev::open(&img, true).unwrap();
    use blockdev::BlockDev;
    dev.write_at(off + 0x20, &((1u64 << 48) | 5).to_le_bytes())
        .unwrap();
    drop(dev);
    let chk = run(wimforge().args(["ntfs", "check"]).arg(&img));
    let out = String::from_utf8_lossy(&chk.stdout);
    assert_eq!(chk.status.code(), Some(1), "{chk:?}");
    assert!(
        out.contains(&format!(
            "record {base}: attribute list names record {ext}, whose base record is 5"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "record {ext}: extension record of record 5, which does not list it"
        )),
        "{out}"
    );
}

/// The WIM path: wimlib's NTFS-3G capture of the volume above (named
/// streams on directories, 16 KiB reparse data), applied by `wimforge wim
/// apply`: the directories get attribute lists again and the streams and
/// reparse data read back through ntfs-3g.
#[test]
fn wim_apply_of_overflowing_directories() {
    if !have_all(&[
        "wimlib-imagex",
        "ntfsinfo",
        "ntfscat",
        "ntfsresize",
        "fsntfsinfo",
    ]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("src.img");
    write_tree(&img, &dirs_tree(), 64 << 20);
    let wim = tmp.path().join("dirs.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&img)
        .arg(&wim));
    let out = tmp.path().join("applied.img");
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(&wim)
        .arg("1")
        .arg(&out)
        .args(["--size", "64M"]));
    tools_clean(&out);
    for dir in ["/adsdir", "/emptyover"] {
        let info = ntfsinfo(&out, dir);
        assert!(info.contains("$ATTRIBUTE_LIST"), "{dir}: {info}");
    }
    assert_eq!(
        ntfscat(&out, "/adsdir", Some("dirstream38")),
        pattern(3038, 38)
    );
    assert_eq!(ntfscat(&out, "/emptyover", Some("s07")), pattern(100, 7));
    assert_eq!(
        ntfscat(&out, "/adsdir/child-with-a-long-name-0299.txt", None),
        b"child 299"
    );
    let info = ntfsinfo(&out, "/bigreparse");
    assert!(
        info_attrs(&info)
            .iter()
            .any(|(n, nr)| n == "$REPARSE_POINT" && *nr),
        "{info}"
    );
    assert_eq!(
        ntfscat_attr(&out, "/bigreparse", "REPARSE_POINT"),
        reparse_value(0x8000_0013, &pattern(16 * 1024 - 8, 7))
    );
    let vol = ours(&out);
    let rec = vol.record(vol.lookup("/eadir").unwrap()).unwrap();
    let rp = vol
        .read_attr(rec.find(at::REPARSE_POINT, &[]).unwrap(), 1 << 20)
        .unwrap();
    assert_eq!(&rp[8..], &pattern(16 * 1024 - 8, 9)[..]);
}

/// Sparse, not compressed, streams carry compression unit 4 (16 clusters
/// of 4 KiB), as Windows and ntfs-3g write them; ntfs-3g reads them back.
#[test]
fn sparse_streams_have_compression_unit_4() {
    if !have_all(&["ntfsinfo", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("sparse.img");
    let mut t = root();
    let mut content = vec![0u8; 1 << 20];
    content[..5000].copy_from_slice(&pattern(5000, 1));
    content[700_000..700_100].copy_from_slice(&pattern(100, 2));
    let mut f = node(0, "sparse.bin", false);
    f.attributes |= 0x200;
    f.streams.push(stream("", content.clone()));
    t.nodes.push(f);
    write_tree(&img, &t, 16 << 20);
    tools_clean(&img);
    let info = ntfsinfo(&img, "/sparse.bin");
    let data = info
        .split("Dumping attribute $DATA")
        .nth(1)
        .expect("a $DATA dump");
    assert!(data.contains("Attribute flags:\t 0x8000"), "{data}");
    assert!(data.contains("Compression unit:\t 4 (0x4)"), "{data}");
    assert_eq!(ntfscat(&img, "/sparse.bin", None), content);
    let vol = ours(&img);
    let rec = vol.record(vol.lookup("/sparse.bin").unwrap()).unwrap();
    assert_eq!(rec.find(at::DATA, &[]).unwrap().compression_unit, 4);
}

/// The root directory itself overflowing its record (60 named streams).
#[test]
fn root_directory_with_attribute_list() {
    if !have_all(&["ntfsinfo", "ntfsls", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("root.img");
    let mut t = root();
    for i in 0..60 {
        t.nodes[0].streams.push(stream(
            &format!("rootstream{i:02}"),
            pattern(300 + i, i as u8),
        ));
    }
    let mut f = node(0, "file.txt", false);
    f.streams.push(stream("", b"in the root".to_vec()));
    t.nodes.push(f);
    write_tree(&img, &t, 16 << 20);
    tools_clean(&img);
    let info = ntfsinfo(&img, "/");
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    assert_eq!(ntfscat(&img, "/", Some("rootstream59")), pattern(359, 59));
    assert_eq!(ntfscat(&img, "/file.txt", None), b"in the root");
    let ls = ok(Command::new("ntfsls").args(["-a", "-s"]).arg(&img));
    assert!(ls.lines().any(|l| l == "$MFT"), "{ls}");
    assert!(ls.lines().any(|l| l == "file.txt"), "{ls}");
    // put into the root with its list.
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    inj.put("/added.txt", b"added").unwrap();
    drop(inj);
    tools_clean(&img);
    assert_eq!(ntfscat(&img, "/added.txt", None), b"added");
    assert_eq!(ntfscat(&img, "/", Some("rootstream00")), pattern(300, 0));
}

/// Mount `img` with ntfs-3g (FUSE), run `f` on the mount point, unmount.
/// Returns false (after reporting) when FUSE mounting is not possible.
fn with_ntfs3g_mount(img: &Path, f: impl FnOnce(&Path)) -> bool {
    if !have("ntfs-3g") || !have("fusermount") {
        return false;
    }
    let mnt = img.with_extension("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let out = run(Command::new("ntfs-3g").arg(img).arg(&mnt));
    if !out.status.success() {
        missing(&format!(
            "a FUSE mount with ntfs-3g ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return false;
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mnt)));
    let u = run(Command::new("fusermount").arg("-u").arg(&mnt));
    assert!(u.status.success(), "fusermount -u: {u:?}");
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
    true
}

/// A file ntfs-3g gave 255 hard links (and so an attribute list) is
/// replaced by `put`; ntfs-3g then reads it through every link and can
/// still add a link to what we wrote.
#[test]
fn replace_file_with_list_made_by_ntfs3g() {
    if !have_all(&["ntfsinfo", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("n3g.img");
    let dev = FileDev::create(&img, 32 << 20).unwrap();
    ntfs_inject::format(dev, &FormatOptions::default()).unwrap();
    let old = pattern(3000, 3);
    let mounted = with_ntfs3g_mount(&img, |m| {
        std::fs::write(m.join("linked.bin"), &old).unwrap();
        std::fs::create_dir(m.join("sub")).unwrap();
        for i in 1..=250 {
            std::fs::hard_link(
                m.join("linked.bin"),
                m.join(format!("link-long-name-{i:03}.bin")),
            )
            .unwrap();
        }
        for i in 1..=4 {
            std::fs::hard_link(m.join("linked.bin"), m.join(format!("sub/l{i}"))).unwrap();
        }
    });
    if !mounted {
        return;
    }
    tools_clean(&img);
    let info = ntfsinfo(&img, "/linked.bin");
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    let before = records_in_use(&img);
    let new = pattern(50_000, 8);
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    assert!(inj.put("/link-long-name-017.bin", &new).unwrap().1);
    drop(inj);
    tools_clean(&img);
    assert_eq!(records_in_use(&img), before);
    for p in ["/linked.bin", "/sub/l3", "/link-long-name-250.bin"] {
        assert_eq!(ntfscat(&img, p, None), new, "{p}");
    }
    let ls = ok(Command::new("ntfsls").args(["-l", "-p", "/sub"]).arg(&img));
    assert!(
        ls.lines()
            .filter(|l| l.contains(" l"))
            .all(|l| l.contains("50000")),
        "{ls}"
    );
    with_ntfs3g_mount(&img, |m| {
        assert_eq!(std::fs::read(m.join("sub/l1")).unwrap(), new);
        std::fs::hard_link(m.join("linked.bin"), m.join("sub/after")).unwrap();
    });
    tools_clean(&img);
    let vol = ours(&img);
    let n = vol.lookup("/sub/after").unwrap();
    assert_eq!(vol.record(n).unwrap().link_count, 256);
}

/// Replacing a file with an attribute list on a full volume fails with an
/// error and leaves the volume as it was (clean, old contents).
#[test]
fn replace_on_full_volume_fails_cleanly() {
    if !have_all(&["ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("full.img");
    let mut t = root();
    let old = pattern(5000, 1);
    let mut f = node(0, "linked-000.dll", false);
    f.streams.push(stream("", old.clone()));
    for i in 1..300 {
        f.names.push(Name {
            parent: 0,
            name: format!("linked-with-longer-name-{i:03}.dll"),
            short_name: None,
        });
    }
    t.nodes.push(f);
    write_tree(&img, &t, 16 << 20);
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    let chunk = pattern(256 << 10, 2);
    let mut i = 0;
    while inj.create(&format!("/fill{i:03}"), Some(&chunk)).is_ok() {
        i += 1;
    }
    assert!(i > 10, "only {i} fillers");
    drop(inj);
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    let err = inj
        .put("/linked-with-longer-name-123.dll", &pattern(1 << 20, 3))
        .unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    drop(inj);
    tools_clean(&img);
    assert_eq!(ntfscat(&img, "/linked-with-longer-name-299.dll", None), old);
}

/// On a volume whose free space is all 2-cluster holes, a directory `put`
/// fills gets a fragmented $INDEX_ALLOCATION whose runlist no longer fits
/// its record (a 210-character name and a DOS name leave little room): the
/// directory moves to extension records with an attribute list, and
/// further entries keep it consistent.
#[test]
fn directory_with_fragmented_index_gets_attribute_list() {
    if !have_all(&["ntfsinfo", "ntfsls", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fragdir.img");
    let dev = FileDev::create(&img, 12 << 20).unwrap();
    ntfs_inject::format(dev, &FormatOptions::default()).unwrap();
    let dev = FileDev::open(&img, true).unwrap();
    let mut inj = ntfs_inject::inject::Injector::open(dev).unwrap();
    let e = format!("/{}", "E".repeat(210));
    inj.create("/d", None).unwrap();
    inj.create(&e, None).unwrap();
    inj.set_short_names(false);
    let filler = pattern(8000, 1);
    let mut n = 0;
    while inj.create(&format!("/d/f{n:05}"), Some(&filler)).is_ok() {
        n += 1;
    }
    for i in (0..n).step_by(2) {
        inj.replace(&format!("/d/f{i:05}"), b"x").unwrap();
    }
    let long = "n".repeat(200);
    let mut listed_at = None;
    for i in 0..300 {
        inj.create(&format!("{e}/{long}{i:04}"), Some(b"e"))
            .unwrap();
        if listed_at.is_none() {
            let vol = inj.volume();
            let r = vol.lookup(&e).unwrap();
            if vol
                .raw_record(r)
                .unwrap()
                .find(at::ATTRIBUTE_LIST, &[])
                .is_some()
            {
                listed_at = Some(i);
            }
        }
    }
    drop(inj);
    let at_entry = listed_at.expect("the directory never needed an attribute list");
    assert!(at_entry < 250, "list only after {at_entry} entries");
    tools_clean(&img);
    // (ntfsinfo reads at most 64 KiB of an index allocation; the list is
    // in the raw dump before that.)
    let info = run(Command::new("ntfsinfo")
        .args(["-v", "-F"])
        .arg(&e)
        .arg(&img));
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    let ls = ok(Command::new("ntfsls").args(["-p"]).arg(&e).arg(&img));
    assert_eq!(
        ls.lines().filter(|l| l.starts_with("nnnn")).count(),
        300,
        "{ls}"
    );
    assert_eq!(ntfscat(&img, &format!("{e}/{long}0299"), None), b"e");
    assert_eq!(ntfscat(&img, &format!("{e}/{long}0000"), None), b"e");
}
