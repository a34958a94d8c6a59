use blockdev::{AtomicFile, BlockDev, FileDev, MemDev, Window};
use std::sync::Arc;

#[test]
fn memdev_read_write_bounds() {
    let d = MemDev::new(4096);
    d.write_at(100, b"abc").unwrap();
    let mut b = [0u8; 3];
    d.read_at(100, &mut b).unwrap();
    assert_eq!(&b, b"abc");
    assert!(d.write_at(4095, b"xy").is_err());
    assert!(d.read_at(4094, &mut b).is_err());
    assert!(d.read_at(u64::MAX, &mut b).is_err());
    d.set_len(8192).unwrap();
    assert_eq!(d.len(), 8192);
    let ro = MemDev::read_only(&[1, 2, 3]);
    assert!(ro.is_read_only());
    assert!(ro.write_at(0, &[0]).is_err());
}

#[test]
fn filedev_roundtrip_and_sparse_create() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("raw.img");
    let d = FileDev::create(&p, 1 << 30).unwrap();
    assert_eq!(d.len(), 1 << 30);
    d.write_at((1 << 30) - 5, b"hello").unwrap();
    assert!(d.write_at((1 << 30) - 4, b"hello").is_err());
    d.flush().unwrap();
    drop(d);
    let d = FileDev::open(&p, false).unwrap();
    let mut b = [0u8; 5];
    d.read_at((1 << 30) - 5, &mut b).unwrap();
    assert_eq!(&b, b"hello");
    assert!(
        d.write_at(0, b"x").is_err(),
        "read-only file accepted a write"
    );
}

#[test]
fn window_is_bounds_checked() {
    let d = MemDev::new(10_000);
    let w = Window::new(&d, 1000, 2000).unwrap();
    assert_eq!(w.len(), 2000);
    w.write_at(0, &[7; 2000]).unwrap();
    assert!(w.write_at(1999, &[1, 2]).is_err());
    assert!(w.read_at(2000, &mut [0u8; 1]).is_err());
    let all = d.to_vec();
    assert!(all[..1000].iter().all(|&b| b == 0));
    assert!(all[1000..3000].iter().all(|&b| b == 7));
    assert!(all[3000..].iter().all(|&b| b == 0));
    assert!(Window::new(&d, 9000, 2000).is_err());
    assert!(Window::new(&d, u64::MAX, 2).is_err());
    // Nested windows.
    let inner = Window::new(&w, 500, 100).unwrap();
    inner.write_at(0, &[9; 100]).unwrap();
    assert_eq!(d.to_vec()[1500], 9);
    assert_eq!(d.to_vec()[1600], 7);
}

#[test]
fn parallel_readers_share_a_device() {
    let d = Arc::new(MemDev::from_vec(
        (0..1 << 20).map(|i| (i % 251) as u8).collect(),
    ));
    let hs: Vec<_> = (0..4)
        .map(|k| {
            let d = d.clone();
            std::thread::spawn(move || {
                let w = Window::new(d, k * (256 << 10), 256 << 10).unwrap();
                let mut b = vec![0u8; 256 << 10];
                w.read_at(0, &mut b).unwrap();
                for (i, &x) in b.iter().enumerate() {
                    assert_eq!(x as u64, (k * (256 << 10) + i as u64) % 251);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn atomic_file_appears_only_on_commit() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("out.bin");
    {
        let a = AtomicFile::create(&p).unwrap();
        std::fs::write(a.temp_path(), b"partial").unwrap();
        assert!(!p.exists());
    }
    assert!(!p.exists());
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    let a = AtomicFile::create(&p).unwrap();
    std::fs::write(a.temp_path(), b"done").unwrap();
    a.commit().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"done");
}

#[test]
fn zero_detection_and_copy() {
    assert!(blockdev::is_zero(&[0u8; 1000]));
    let mut v = vec![0u8; 1001];
    v[1000] = 1;
    assert!(!blockdev::is_zero(&v));
    assert!(!blockdev::is_zero(&v[1..]));
    let src = MemDev::from_vec(v.clone());
    let dst = MemDev::new(1001);
    let n = blockdev::copy_skip_zeros(&src, 0, &dst, 0, 1001, 512).unwrap();
    assert_eq!(n, 489);
    assert_eq!(dst.to_vec(), v);
}

#[cfg(target_os = "linux")]
#[test]
fn file_holes_are_known_zero() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("sparse.img");
    let d = FileDev::create(&p, 64 << 20).unwrap();
    d.write_at(32 << 20, &[1u8; 4096]).unwrap();
    // A hole may or may not be reported (file systems differ), but data
    // must never be reported as zero.
    assert!(!d.known_zero(32 << 20, 4096));
    assert!(!d.known_zero(0, 64 << 20));
    assert!(!d.known_zero(0, (64 << 20) + 1));
    let _ = d.known_zero(0, 1 << 20);
}
