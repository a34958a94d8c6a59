//! NTFS features checked with tools we did not write (ntfs-3g's ntfsinfo,
//! ntfsls, ntfscat, ntfsresize; libfsntfs' fsntfsinfo; wimlib's NTFS-3G
//! capture) and our own `ntfs check`:
//! - $ATTRIBUTE_LIST: files whose attributes overflow one MFT record (many
//!   hard links, many named streams) get extension records and a resident
//!   or non-resident attribute list; all names and streams read back.

mod support;

use blockdev::FileDev;
use ntfs_inject::{FormatOptions, Name, Node, StreamSpec, Tree, VolumeWriter};
use std::path::Path;
use std::process::Command;
use support::*;

const T0: u64 = 132_000_000_000_000_000;

fn node(parent: usize, name: &str, dir: bool) -> Node {
    Node {
        names: vec![Name {
            parent,
            name: name.into(),
            short_name: None,
        }],
        directory: dir,
        attributes: if dir { 0x10 } else { 0x20 },
        creation_time: T0,
        last_write_time: T0 + 10_000_000,
        last_access_time: T0 + 20_000_000,
        ..Default::default()
    }
}

fn stream(name: &str, data: Vec<u8>) -> StreamSpec {
    StreamSpec {
        name: name.into(),
        size: data.len() as u64,
        data: Some(data),
        order: 0,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn write_tree(img: &Path, tree: &Tree, size: u64) {
    let dev = FileDev::create(img, size).unwrap();
    let w = VolumeWriter::new(dev, tree, &FormatOptions::default()).unwrap();
    w.finish().unwrap();
}

fn tools_clean(img: &Path) {
    let p = img.to_str().unwrap();
    let rs = run(Command::new("ntfsresize").args(["--info", "--force", "--no-action", p]));
    let rs_out = format!(
        "{}{}",
        String::from_utf8_lossy(&rs.stdout),
        String::from_utf8_lossy(&rs.stderr)
    );
    assert!(
        rs.status.success() && !rs_out.contains("accounting failed") && !rs_out.contains("ERROR"),
        "ntfsresize --info:\n{rs_out}"
    );
    let fs = run(Command::new("fsntfsinfo").arg(p));
    assert!(
        fs.status.success(),
        "fsntfsinfo: {}",
        String::from_utf8_lossy(&fs.stderr)
    );
    let fsh = run(Command::new("fsntfsinfo").args(["-H", p]));
    assert!(
        fsh.status.success(),
        "fsntfsinfo -H: {}",
        String::from_utf8_lossy(&fsh.stderr)
    );
    let chk = run(wimforge().args(["ntfs", "check", p]));
    assert!(
        chk.status.success(),
        "wimforge ntfs check: {}{}",
        String::from_utf8_lossy(&chk.stdout),
        String::from_utf8_lossy(&chk.stderr)
    );
}

fn have_all(tools: &[&str]) -> bool {
    tools.iter().all(|t| have(t))
}

fn ntfscat(img: &Path, path: &str, stream: Option<&str>) -> Vec<u8> {
    let mut c = Command::new("ntfscat");
    c.arg(img).arg(path);
    if let Some(s) = stream {
        c.args(["-a", "DATA", "-n", s]);
    }
    let out = run(&mut c);
    assert!(
        out.status.success(),
        "ntfscat {path} {stream:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

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
