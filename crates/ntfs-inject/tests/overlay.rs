//! Applying a WIM image with an overlay: files replaced in place, files and
//! directories added, large files streamed from disk after the WIM's data.
//! Read back by our reader and checker and, outside, by ntfs-3g's `ntfscat`.

use blockdev::FileDev;
use ntfs_inject::reader::Volume;
use ntfs_inject::wim_apply::{apply_image_report, Overlay, OverlayFile, OverlaySource};
use ntfs_inject::FormatOptions;
use std::path::Path;
use std::process::Command;
use wim::write::{scan_dir, CaptureOptions, WimWriter, WriteOptions};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        assert!(!in_ci(), "validator `{tool}` missing (CI=true)");
        eprintln!("SKIP: `{tool}` missing");
    }
    found
}

fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn make_wim(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("Windows/System32/config")).unwrap();
    std::fs::write(src.join("Windows/System32/config/SYSTEM"), b"old hive").unwrap();
    std::fs::write(src.join("Windows/System32/cmd.exe"), noise(5000, 1)).unwrap();
    std::fs::write(src.join("Windows/win.ini"), b"[fonts]\r\n").unwrap();
    let (tree, _) = scan_dir(&src, &CaptureOptions::default()).unwrap();
    let path = dir.join("t.wim");
    let mut w = WimWriter::create(&path, WriteOptions::default()).unwrap();
    w.add_image(tree, "t", None).unwrap();
    w.finish().unwrap();
    path
}

fn cat(img: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("ntfscat").arg(img).arg(path).output().unwrap();
    assert!(out.status.success(), "ntfscat {path}: {out:?}");
    out.stdout
}

#[test]
fn overlay_adds_and_replaces_files() {
    let dir = tempfile::tempdir().unwrap();
    let wim_path = make_wim(dir.path());
    let wim = wim::read::Wim::open(&wim_path, &[]).unwrap();
    let image = wim.image(1).unwrap();
    let big = noise(3 << 20, 7);
    let big_path = dir.path().join("docker.exe");
    std::fs::write(&big_path, &big).unwrap();
    let hive = noise(300_000, 9);
    let overlay = Overlay {
        time: 132_000_000_000_000_000,
        files: vec![
            OverlayFile {
                path: "windows\\system32\\CONFIG\\SYSTEM".into(),
                source: OverlaySource::Bytes(hive.clone()),
            },
            OverlayFile {
                path: "Windows/Panther/Unattend.xml".into(),
                source: OverlaySource::Bytes(b"<unattend/>".to_vec()),
            },
            OverlayFile {
                path: "Windows/System32/docker.exe".into(),
                source: OverlaySource::File(big_path.clone()),
            },
        ],
    };
    let img = dir.path().join("vol.img");
    let dev = FileDev::create(&img, 64 << 20).unwrap();
    let (stats, o) = apply_image_report(
        dev,
        &wim,
        &image,
        &overlay,
        &FormatOptions::default(),
        2,
        &|_| {},
    )
    .unwrap();
    assert_eq!(o.replaced, vec!["windows\\system32\\CONFIG\\SYSTEM"]);
    assert_eq!(o.added.len(), 2);
    assert_eq!(o.directories_created, vec!["\\Windows\\Panther"]);
    assert_eq!(stats.files, 5);

    let vol = Volume::open(FileDev::open(&img, false).unwrap()).unwrap();
    assert!(ntfs_inject::check::check(&vol).unwrap().is_empty());
    // The replaced file keeps its original name's case.
    let names: Vec<String> = vol
        .list(vol.lookup("/Windows/System32/config").unwrap())
        .unwrap()
        .iter()
        .map(|e| e.name_string())
        .collect();
    assert!(names.contains(&"SYSTEM".to_string()), "{names:?}");

    if have("ntfscat") {
        assert_eq!(cat(&img, "Windows/System32/config/SYSTEM"), hive);
        assert_eq!(cat(&img, "Windows/System32/docker.exe"), big);
        assert_eq!(cat(&img, "Windows/Panther/Unattend.xml"), b"<unattend/>");
        assert_eq!(cat(&img, "Windows/System32/cmd.exe"), noise(5000, 1));
    }
}

#[test]
fn overlay_refuses_bad_paths_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let wim_path = make_wim(dir.path());
    let wim = wim::read::Wim::open(&wim_path, &[]).unwrap();
    let image = wim.image(1).unwrap();
    for bad in [
        "Windows/../x",
        "C:/x",
        "Windows/System32",
        "Windows/win.ini/x",
        "",
    ] {
        let overlay = Overlay {
            time: 0,
            files: vec![OverlayFile {
                path: bad.into(),
                source: OverlaySource::Bytes(vec![1]),
            }],
        };
        let dev = blockdev::MemDev::new(16 << 20);
        let r = apply_image_report(
            dev,
            &wim,
            &image,
            &overlay,
            &FormatOptions::default(),
            1,
            &|_| {},
        );
        assert!(r.is_err(), "{bad:?} was accepted");
    }
}
