//! NTFS features checked with tools we did not write (ntfs-3g's ntfsinfo,
//! ntfsls, ntfscat, ntfsresize; libfsntfs' fsntfsinfo; wimlib's NTFS-3G
//! capture) and our own `ntfs check`:
//! - $ATTRIBUTE_LIST: files whose attributes overflow one MFT record (many
//!   hard links, many named streams) get extension records and a resident
//!   or non-resident attribute list; all names and streams read back.
//! - Sparse streams: files with FILE_ATTRIBUTE_SPARSE_FILE get a sparse
//!   $DATA with holes for all-zero 64 KiB units; the bytes read back equal.
//! - Reading what ntfs-3g wrote (through a FUSE mount): LZNT1-compressed
//!   files, sparse files and files with attribute lists.

mod ntfs_util;
mod support;

use blockdev::FileDev;
use ntfs_inject::{FormatOptions, Name, Node, StreamSpec, Tree, VolumeWriter};
use ntfs_util::*;
use std::path::Path;
use std::process::Command;
use support::*;

fn ours_cat(img: &Path, path: &str) -> Vec<u8> {
    let out = run(wimforge().args(["ntfs", "cat"]).arg(img).arg(path));
    assert!(
        out.status.success(),
        "wimforge ntfs cat {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A file with 200 hard links over two directories, a file with 60 named
/// streams (some resident, some not) and a file with 300 links (a
/// non-resident attribute list).
#[test]
fn attribute_lists_for_overflowing_files() {
    if !have_all(&["ntfsinfo", "ntfsls", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("al.img");
    let mut t = Tree {
        nodes: vec![Node {
            directory: true,
            attributes: 0x10,
            ..Default::default()
        }],
        security: vec![],
    };
    t.nodes.push(node(0, "a", true)); // 1
    t.nodes.push(node(0, "b", true)); // 2
    let links = pattern(5000, 1);
    let mut f = node(1, "linked-0000.dll", false);
    f.streams.push(stream("", links.clone()));
    for i in 1..200 {
        f.names.push(Name {
            parent: if i % 2 == 0 { 1 } else { 2 },
            name: format!("linked-{i:04}.dll"),
            short_name: None,
        });
    }
    t.nodes.push(f); // 3
    let mut g = node(0, "streams.bin", false);
    g.streams.push(stream("", b"main stream".to_vec()));
    for i in 0..60 {
        let len = if i % 3 == 0 { 3000 + i } else { 40 + i };
        g.streams
            .push(stream(&format!("ads{i:02}"), pattern(len, i as u8)));
    }
    t.nodes.push(g); // 4
    let mut h = node(0, "many.txt", false);
    h.streams.push(stream("", b"three hundred names".to_vec()));
    for i in 1..300 {
        h.names.push(Name {
            parent: 0,
            name: format!("many-link-with-a-longer-name-{i:04}.txt"),
            short_name: None,
        });
    }
    t.nodes.push(h); // 5
    write_tree(&img, &t, 64 << 20);
    tools_clean(&img);
    // ntfsinfo shows the attribute list and the names in extension records.
    let info = ok(Command::new("ntfsinfo")
        .arg("-F")
        .arg("/a/linked-0000.dll")
        .arg(&img));
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    let info = ok(Command::new("ntfsinfo")
        .arg("-F")
        .arg("/many.txt")
        .arg(&img));
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    // Every link lists and reads the same bytes through ntfs-3g and us.
    let ls_a = ok(Command::new("ntfsls")
        .arg("-a")
        .arg("-p")
        .arg("/a")
        .arg(&img));
    let ls_b = ok(Command::new("ntfsls")
        .arg("-a")
        .arg("-p")
        .arg("/b")
        .arg(&img));
    assert_eq!(
        ls_a.lines().filter(|l| l.starts_with("linked-")).count(),
        100,
        "{ls_a}"
    );
    assert_eq!(
        ls_b.lines().filter(|l| l.starts_with("linked-")).count(),
        100,
        "{ls_b}"
    );
    for i in [0usize, 1, 77, 198, 199] {
        let d = if i % 2 == 0 { "a" } else { "b" };
        let p = format!("/{d}/linked-{i:04}.dll");
        assert_eq!(ntfscat(&img, &p, None), links, "{p}");
        assert_eq!(ours_cat(&img, &p), links, "{p}");
    }
    let ls_root = ok(Command::new("ntfsls").arg("-a").arg(&img));
    assert_eq!(
        ls_root
            .lines()
            .filter(|l| l.starts_with("many-link-"))
            .count(),
        299
    );
    assert_eq!(
        ntfscat(&img, "/many-link-with-a-longer-name-0299.txt", None),
        b"three hundred names"
    );
    for i in 0..60usize {
        let len = if i % 3 == 0 { 3000 + i } else { 40 + i };
        let want = pattern(len, i as u8);
        let name = format!("ads{i:02}");
        assert_eq!(ntfscat(&img, "/streams.bin", Some(&name)), want, "{name}");
        assert_eq!(
            ours_cat(&img, &format!("/streams.bin:{name}")),
            want,
            "{name}"
        );
    }
    assert_eq!(ntfscat(&img, "/streams.bin", None), b"main stream");
    // Our reader merges the records: 200 names, link count 200.
    let vol = ntfs_inject::Volume::open(FileDev::open(&img, false).unwrap()).unwrap();
    let n = vol.lookup("/a/linked-0000.dll").unwrap();
    let rec = vol.record(n).unwrap();
    assert_eq!(rec.link_count, 200);
    let names = rec
        .attrs
        .iter()
        .filter(|a| a.ty == ntfs_inject::layout::attr_type::FILE_NAME)
        .count();
    assert_eq!(names, 200);
    assert!(vol.raw_record(n).unwrap().attrs.len() < 200);
}

fn sparse_content(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    v[..100].copy_from_slice(&pattern(100, 3));
    v[(1 << 20) + 17..(1 << 20) + 5017].copy_from_slice(&pattern(5000, 4));
    let n = v.len();
    v[n - 3..].copy_from_slice(b"end");
    v
}

/// Sparse files: delivered in pieces (the WIM-apply path) and inline; the
/// zero units become holes that $Bitmap leaves free.
#[test]
fn sparse_streams_have_holes_and_read_back() {
    if !have_all(&["ntfsinfo", "ntfscat", "ntfsresize", "fsntfsinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("sp.img");
    let mut t = Tree {
        nodes: vec![Node {
            directory: true,
            attributes: 0x10,
            ..Default::default()
        }],
        security: vec![],
    };
    let big = sparse_content(3 << 20);
    let mut a = node(0, "streamed.vhd", false);
    a.attributes = 0x220;
    a.streams.push(StreamSpec {
        name: String::new(),
        size: big.len() as u64,
        data: None,
        order: 1,
    });
    t.nodes.push(a); // 1
    let mut b = node(0, "inline.bin", false);
    b.attributes = 0x220;
    let small = sparse_content((1 << 20) + 70_000);
    b.streams.push(stream("", small.clone()));
    t.nodes.push(b); // 2
    let mut c = node(0, "all-zero.bin", false);
    c.attributes = 0x220;
    c.streams.push(stream("", vec![0u8; 300_000]));
    t.nodes.push(c); // 3
    let mut d = node(0, "dense.bin", false);
    d.attributes = 0x220;
    let dense = pattern(200_000, 9);
    d.streams.push(stream("", dense.clone()));
    t.nodes.push(d); // 4
    let dev = FileDev::create(&img, 64 << 20).unwrap();
    let mut w = VolumeWriter::new(dev, &t, &FormatOptions::default()).unwrap();
    for (i, piece) in big.chunks(100_000).enumerate() {
        w.write_stream(1, 0, i as u64 * 100_000, piece).unwrap();
    }
    w.finish().unwrap();
    tools_clean(&img);
    for (p, want) in [
        ("/streamed.vhd", &big),
        ("/inline.bin", &small),
        ("/all-zero.bin", &vec![0u8; 300_000]),
        ("/dense.bin", &dense),
    ] {
        assert_eq!(&ntfscat(&img, p, None), want, "ntfscat {p}");
        assert_eq!(&ours_cat(&img, p), want, "ntfs cat {p}");
    }
    let info = ok(Command::new("ntfsinfo")
        .args(["-v", "-F", "/streamed.vhd"])
        .arg(&img));
    assert!(info.contains("SPARSE"), "{info}");
    assert!(info.contains("Attribute flags:\t 0x8000"), "{info}");
    assert!(info.contains("<HOLE>"), "{info}");
    // Only the units with data hold clusters: 3 of 48.
    let compressed = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Compressed size:"))
        .map(|v| v.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .expect("compressed size line");
    assert_eq!(compressed, 3 * 65536, "{info}");
    let alloc = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Allocated size:"))
        .map(|v| v.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .unwrap();
    assert_eq!(alloc % 65536, 0, "allocated size is whole 64 KiB units");
    let z = ok(Command::new("ntfsinfo")
        .args(["-v", "-F", "/all-zero.bin"])
        .arg(&img));
    assert!(z.contains("Compressed size:\t 0 (0x0)"), "{z}");
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

fn set_ntfs_attrib(path: &Path, attrib: u32) {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = c"system.ntfs_attrib_be";
    let v = attrib.to_be_bytes();
    let rc = unsafe { libc::setxattr(p.as_ptr(), name.as_ptr(), v.as_ptr().cast(), 4, 0) };
    assert_eq!(
        rc,
        0,
        "setxattr {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Files ntfs-3g wrote: LZNT1-compressed (a directory with the compressed
/// attribute), sparse (written with seeks), and 250 hard links (an
/// attribute list); our reader returns the bytes ntfs-3g was given.
#[test]
fn reads_compressed_sparse_and_listed_files_written_by_ntfs3g() {
    if !have_all(&["mkntfs", "ntfsinfo", "ntfscat"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("n3g.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(48 << 20)
        .unwrap();
    ok(Command::new("mkntfs").args(["-F", "-Q"]).arg(&img));
    let text: Vec<u8> = b"compressible text, repeated over and over. "
        .iter()
        .cycle()
        .take(700_000)
        .copied()
        .collect();
    let mut mixed = pattern(150_000, 7);
    mixed.extend(vec![0u8; 200_000]);
    mixed.extend_from_slice(&text[..123_457]);
    let sparse = sparse_content(3 << 20);
    let mounted = with_ntfs3g_mount(&img, |m| {
        let c = m.join("comp");
        std::fs::create_dir(&c).unwrap();
        set_ntfs_attrib(&c, 0x810);
        std::fs::write(c.join("text.txt"), &text).unwrap();
        std::fs::write(c.join("mixed.bin"), &mixed).unwrap();
        std::fs::write(c.join("tiny.txt"), b"tiny").unwrap();
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::File::create(m.join("sparse.bin")).unwrap();
            let mut last = 0usize;
            for (i, ch) in sparse.chunks(4096).enumerate() {
                if ch.iter().any(|&b| b != 0) {
                    f.seek(SeekFrom::Start((i * 4096) as u64)).unwrap();
                    f.write_all(ch).unwrap();
                }
                last = i * 4096 + ch.len();
            }
            f.set_len(last as u64).unwrap();
        }
        std::fs::write(m.join("many.txt"), b"many links").unwrap();
        for i in 0..250 {
            std::fs::hard_link(
                m.join("many.txt"),
                m.join(format!("link-with-a-longish-name-{i:04}.txt")),
            )
            .unwrap();
        }
    });
    if !mounted {
        return;
    }
    let info = ok(Command::new("ntfsinfo")
        .args(["-v", "-F", "/comp/text.txt"])
        .arg(&img));
    assert!(
        info.contains("Compression unit:\t 4"),
        "not compressed by ntfs-3g: {info}"
    );
    let info = ok(Command::new("ntfsinfo").args(["-F", "/many.txt"]).arg(&img));
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    for (p, want) in [
        ("/comp/text.txt", &text),
        ("/comp/mixed.bin", &mixed),
        ("/comp/tiny.txt", &b"tiny".to_vec()),
        ("/sparse.bin", &sparse),
        ("/many.txt", &b"many links".to_vec()),
        (
            "/link-with-a-longish-name-0249.txt",
            &b"many links".to_vec(),
        ),
    ] {
        assert_eq!(&ntfscat(&img, p, None), want, "ntfscat {p}");
        assert_eq!(&ours_cat(&img, p), want, "wimforge ntfs cat {p}");
    }
    let ls = ok(wimforge().args(["ntfs", "ls"]).arg(&img).arg("/"));
    assert_eq!(
        ls.lines()
            .filter(|l| l.contains("link-with-a-longish-name-"))
            .count(),
        250
    );
    let chk = run(wimforge().args(["ntfs", "check"]).arg(&img));
    assert!(
        chk.status.success(),
        "ntfs check on the ntfs-3g volume: {}",
        String::from_utf8_lossy(&chk.stdout)
    );
}

/// `ntfs put` gives new files and directories whose names are not 8.3
/// names a generated short name (a DOS $FILE_NAME and index entry): ntfs-3g
/// lists them with `ntfsls -x`, resolves paths through them, and wimlib's
/// NTFS-3G capture records them as the files' short names.
#[test]
fn put_generates_short_names() {
    if !have_all(&[
        "mkntfs",
        "ntfsls",
        "ntfsinfo",
        "ntfscat",
        "ntfsresize",
        "fsntfsinfo",
        "wimlib-imagex",
    ]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("sn.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(48 << 20)
        .unwrap();
    ok(Command::new("mkntfs").args(["-F", "-Q"]).arg(&img));
    let src = tmp.path().join("src");
    let pf = src.join("Program Files");
    std::fs::create_dir_all(&pf).unwrap();
    for i in 1..=7 {
        std::fs::write(
            pf.join(format!("Long File Name {i}.txt")),
            format!("file {i}"),
        )
        .unwrap();
    }
    std::fs::write(src.join("readme.txt"), b"lower 8.3").unwrap();
    std::fs::write(src.join("UPPER.TXT"), b"upper 8.3").unwrap();
    std::fs::write(src.join("a+b=c.tar.gz"), pattern(3000, 5)).unwrap();
    ok(wimforge()
        .args(["ntfs", "put"])
        .arg(&img)
        .arg(&src)
        .arg("/"));
    let one = tmp.path().join("one.txt");
    std::fs::write(&one, b"no short name").unwrap();
    ok(wimforge()
        .args(["ntfs", "put", "--no-short-names"])
        .arg(&img)
        .arg(&one)
        .arg("/Another Long Name.txt"));
    tools_clean(&img);

    let root_x = ok(Command::new("ntfsls").arg("-x").arg(&img));
    for want in ["PROGRA~1", "README.TXT", "UPPER.TXT", "A_B_CT~1.GZ"] {
        assert!(
            root_x.lines().any(|l| l == want),
            "{want} missing in:\n{root_x}"
        );
    }
    let pf_x = ok(Command::new("ntfsls")
        .args(["-x", "-p", "/Program Files"])
        .arg(&img));
    let shorts: Vec<&str> = pf_x.lines().filter(|l| *l != "." && *l != "..").collect();
    assert_eq!(shorts.len(), 7, "{pf_x}");
    for i in 1..=4 {
        let want = format!("LONGFI~{i}.TXT");
        assert!(
            shorts.contains(&want.as_str()),
            "{want} missing in:\n{pf_x}"
        );
    }
    let mut uniq = shorts.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), 7, "short names not unique:\n{pf_x}");
    for s in &shorts {
        assert!(ntfs_inject::dosname::is_8dot3(s), "{s} is not an 8.3 name");
    }
    // The long names still list, and paths resolve through short names.
    let pf_l = ok(Command::new("ntfsls")
        .args(["-p", "/Program Files"])
        .arg(&img));
    assert_eq!(
        pf_l.lines()
            .filter(|l| l.starts_with("Long File Name "))
            .count(),
        7
    );
    assert_eq!(ntfscat(&img, "/PROGRA~1/LONGFI~2.TXT", None), b"file 2");
    assert_eq!(ours_cat(&img, "/PROGRA~1/LONGFI~3.TXT"), b"file 3");
    assert_eq!(ntfscat(&img, "/readme.txt", None), b"lower 8.3");
    let info = ok(Command::new("ntfsinfo")
        .args(["-F", "/Program Files/Long File Name 1.txt"])
        .arg(&img));
    assert!(
        info.contains("Namespace:\t\t Win32") && info.contains("Namespace:\t\t DOS"),
        "{info}"
    );
    let info = ok(Command::new("ntfsinfo")
        .args(["-F", "/UPPER.TXT"])
        .arg(&img));
    assert!(info.contains("Namespace:\t\t Win32 & DOS"), "{info}");
    let info = ok(Command::new("ntfsinfo")
        .args(["-F", "/Another Long Name.txt"])
        .arg(&img));
    assert!(
        !info.contains("DOS"),
        "--no-short-names still wrote one: {info}"
    );

    // wimlib's NTFS-3G capture reads the short names.
    let wim = tmp.path().join("cap.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&img)
        .arg(&wim));
    let dir = ok(Command::new("wimlib-imagex")
        .arg("dir")
        .arg(&wim)
        .arg("1")
        .arg("--detailed"));
    for want in [
        "PROGRA~1",
        "LONGFI~1.TXT",
        "LONGFI~4.TXT",
        "README.TXT",
        "A_B_CT~1.GZ",
    ] {
        assert!(
            dir.lines()
                .any(|l| l.starts_with("Short Name")
                    && l.trim_end().ends_with(&format!("\"{want}\""))),
            "wimlib sees no short name {want}:\n{dir}"
        );
    }
}

/// The Injector on a fragmented volume: free space only in 2-cluster
/// holes, so a large new file gets hundreds of runs, extension records
/// and an attribute list; ntfs-3g reads it back and the volume stays clean.
#[test]
fn injector_writes_attribute_list_for_fragmented_file() {
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
    assert!(n > 600, "only {n} files fit");
    for i in (0..n).step_by(2) {
        inj.replace(&format!("/d/f{i:05}"), b"x").unwrap();
    }
    let big = pattern((n / 2 - 20) * 8192, 2);
    inj.create("/big.bin", Some(&big)).unwrap();
    drop(inj);
    tools_clean(&img);
    let info = ok(Command::new("ntfsinfo").args(["-F", "/big.bin"]).arg(&img));
    assert!(info.contains("$ATTRIBUTE_LIST"), "{info}");
    assert_eq!(ntfscat(&img, "/big.bin", None), big);
    assert_eq!(ours_cat(&img, "/big.bin"), big);
    assert_eq!(ntfscat(&img, "/d/f00001", None), filler);
}

/// The WIM path: wimlib captures a Linux sparse file with
/// FILE_ATTRIBUTE_SPARSE_FILE; `wimforge wim apply` streams it into a
/// sparse $DATA; ntfs-3g reads the same bytes and wimlib's NTFS-3G capture
/// of our volume sees the sparse attribute again.
#[test]
fn wim_apply_writes_sparse_files() {
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
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let content = sparse_content((3 << 20) + 4321);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(src.join("disk.img")).unwrap();
        for (i, ch) in content.chunks(4096).enumerate() {
            if ch.iter().any(|&b| b != 0) {
                f.seek(SeekFrom::Start((i * 4096) as u64)).unwrap();
                f.write_all(ch).unwrap();
            }
        }
        f.set_len(content.len() as u64).unwrap();
    }
    std::fs::write(src.join("plain.txt"), b"not sparse").unwrap();
    let wim = tmp.path().join("sp.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&src)
        .arg(&wim));
    let detail = ok(Command::new("wimlib-imagex")
        .arg("dir")
        .arg(&wim)
        .arg("1")
        .arg("--detailed"));
    if !detail.contains("FILE_ATTRIBUTE_SPARSE_FILE") {
        // The temp file system did not keep the holes; nothing to test.
        return missing_sparse(&detail);
    }
    let img = tmp.path().join("vol.img");
    ok(wimforge()
        .args(["wim", "apply"])
        .arg(&wim)
        .arg("1")
        .arg(&img)
        .args(["--size", "64M"]));
    tools_clean(&img);
    assert_eq!(ntfscat(&img, "/disk.img", None), content);
    assert_eq!(ours_cat(&img, "/disk.img"), content);
    let info = ok(Command::new("ntfsinfo")
        .args(["-v", "-F", "/disk.img"])
        .arg(&img));
    assert!(
        info.contains("Attribute flags:\t 0x8000") && info.contains("<HOLE>"),
        "{info}"
    );
    let cap = tmp.path().join("back.wim");
    ok(Command::new("wimlib-imagex")
        .arg("capture")
        .arg(&img)
        .arg(&cap));
    let back = ok(Command::new("wimlib-imagex")
        .arg("dir")
        .arg(&cap)
        .arg("1")
        .arg("--detailed"));
    let entry = back
        .split("Full Path           = \"/disk.img\"")
        .nth(1)
        .expect("disk.img in the capture");
    let entry = entry.split("-----").next().unwrap();
    assert!(
        entry.contains("FILE_ATTRIBUTE_SPARSE_FILE is set"),
        "{entry}"
    );
}

fn missing_sparse(detail: &str) {
    missing(&format!(
        "a temp file system that keeps holes (wimlib saw no sparse file):\n{detail}"
    ));
}
