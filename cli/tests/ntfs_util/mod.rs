//! Helpers shared by the NTFS feature tests (ntfs_features.rs, ntfs_edge.rs):
//! building `Tree`s for `VolumeWriter`, and checking a volume with the
//! outside validators (ntfsresize, fsntfsinfo) and our own `ntfs check`.

#![allow(dead_code)]

use crate::support::*;
use blockdev::FileDev;
use ntfs_inject::{FormatOptions, Name, Node, StreamSpec, Tree, VolumeWriter};
use std::path::Path;
use std::process::Command;

pub const T0: u64 = 132_000_000_000_000_000;

pub fn node(parent: usize, name: &str, dir: bool) -> Node {
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

pub fn stream(name: &str, data: Vec<u8>) -> StreamSpec {
    StreamSpec {
        name: name.into(),
        size: data.len() as u64,
        data: Some(data),
        order: 0,
    }
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

pub fn write_tree(img: &Path, tree: &Tree, size: u64) {
    let dev = FileDev::create(img, size).unwrap();
    let w = VolumeWriter::new(dev, tree, &FormatOptions::default()).unwrap();
    w.finish().unwrap();
}

pub fn tools_clean(img: &Path) {
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

pub fn have_all(tools: &[&str]) -> bool {
    tools.iter().all(|t| have(t))
}

pub fn ntfscat(img: &Path, path: &str, stream: Option<&str>) -> Vec<u8> {
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
