//! Hostile and malformed cabinets, built with the crate's small writer and
//! then damaged: every failure is a typed error naming the structure and
//! offset, nothing panics or loops, and extraction never writes outside the
//! destination.

use cab::write::{CabWriter, WriteMethod};
use cab::{Cabinet, Error};

fn sample() -> Vec<u8> {
    let mut w = CabWriter::new();
    let a = w.folder(WriteMethod::None);
    let b = w.folder(WriteMethod::MsZip(6));
    w.file(a, "plain.txt", b"hello, world\n");
    w.file(
        b,
        "dir\\zipped.bin",
        &(0..70_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    );
    w.file(b, "empty", b"");
    w.build()
}

const FILES_OFF: usize = 36 + 2 * 8;

/// Open and read every file; returns the first error, never panics.
fn open_and_read(bytes: Vec<u8>) -> Result<Vec<Vec<u8>>, Error> {
    let c = Cabinet::from_bytes("t.cab", bytes)?;
    let idx: Vec<usize> = (0..c.files().len()).collect();
    let mut m = c.read_files(&idx)?;
    Ok(idx
        .iter()
        .map(|i| m.remove(i).unwrap_or_default())
        .collect())
}

#[test]
fn sample_reads() {
    let v = open_and_read(sample()).unwrap();
    assert_eq!(v[0], b"hello, world\n");
    assert_eq!(v[1].len(), 70_000);
    assert!(v[2].is_empty());
}

#[test]
fn every_truncation_fails_cleanly() {
    let full = sample();
    for n in 0..full.len() {
        let r = open_and_read(full[..n].to_vec());
        let e = r.expect_err(&format!("truncated to {n} bytes but read fine"));
        let msg = e.to_string();
        assert!(msg.starts_with("t.cab"), "{n}: {msg}");
        if n < 36 {
            assert!(
                msg.contains("CFHEADER") && msg.contains("truncated"),
                "{n}: {msg}"
            );
        }
    }
}

#[test]
fn folder_index_out_of_range() {
    let mut b = sample();
    b[FILES_OFF + 8..FILES_OFF + 10].copy_from_slice(&7u16.to_le_bytes());
    let e = Cabinet::from_bytes("t.cab", b).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Format { .. }), "{e:?}");
    assert!(
        msg.contains("CFFILE[0]") && msg.contains("iFolder 7") && msg.contains("0x3c"),
        "{msg}"
    );
}

#[test]
fn huge_counts_and_sizes() {
    // cFiles = 65535: the data blocks are read as entries until one is
    // invalid or the bytes run out.
    let mut b = sample();
    b[28..30].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let e = Cabinet::from_bytes("t.cab", b).unwrap_err();
    assert!(
        matches!(e, Error::Format { .. }) && e.to_string().contains("CFFILE["),
        "{e}"
    );
    // cFolders = 65535.
    let mut b = sample();
    b[26..28].copy_from_slice(&0xFFFFu16.to_le_bytes());
    assert!(Cabinet::from_bytes("t.cab", b).is_err());
    // cbFile = 4 GiB - 1: refused before anything is decoded or allocated.
    let mut b = sample();
    b[FILES_OFF..FILES_OFF + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let c = Cabinet::from_bytes("t.cab", b).unwrap();
    let e = c.read_file(&c.files()[0]).unwrap_err();
    assert!(matches!(e, Error::Entry { .. }), "{e:?}");
    assert!(e.to_string().contains("beyond"), "{e}");
    // cCFData = 65535 for folder 0: the blocks run out of data.
    let mut b = sample();
    b[36 + 4..36 + 6].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let c = Cabinet::from_bytes("t.cab", b).unwrap();
    let f = c.files()[1].clone();
    // Folder 0 still decodes its one real block; its file is intact.
    assert_eq!(c.read_file(&c.files()[0]).unwrap(), b"hello, world\n");
    assert!(c.read_file(&f).is_ok());
}

#[test]
fn data_offset_beyond_the_file() {
    let mut b = sample();
    b[36..40].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
    let c = Cabinet::from_bytes("t.cab", b).unwrap();
    let e = c.read_file(&c.files()[0]).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Data { .. }), "{e:?}");
    assert!(
        msg.contains("CFDATA block 0 at offset 0xffffff") && msg.contains("truncated"),
        "{msg}"
    );
    assert!(msg.contains("plain.txt"), "{msg}");
}

#[test]
fn checksum_and_size_damage() {
    let good = sample();
    let c = Cabinet::from_bytes("t.cab", good.clone()).unwrap();
    let f0 = c.folders();
    assert_eq!(f0.len(), 2);
    // Folder 0's first CFDATA: coffCabStart at header offset 36.
    let d0 = u32::from_le_bytes(good[36..40].try_into().unwrap()) as usize;
    let mut b = good.clone();
    b[d0 + 8] ^= 0x40; // a data byte
    let e = open_and_read(b).unwrap_err();
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    // cbUncomp > 32768 (checksum disabled so the size check is reached).
    let mut b = good.clone();
    b[d0..d0 + 4].copy_from_slice(&0u32.to_le_bytes());
    b[d0 + 6..d0 + 8].copy_from_slice(&40_000u16.to_le_bytes());
    let e = open_and_read(b).unwrap_err();
    assert!(e.to_string().contains("32768"), "{e}");
    // cbUncomp 0 on a single cabinet: the block claims to continue.
    let mut b = good;
    b[d0..d0 + 4].copy_from_slice(&0u32.to_le_bytes());
    b[d0 + 6..d0 + 8].copy_from_slice(&0u16.to_le_bytes());
    let e = open_and_read(b).unwrap_err();
    assert!(
        e.to_string().contains("continues into a next cabinet"),
        "{e}"
    );
}

#[test]
fn continued_file_without_its_neighbours() {
    // A file marked "continued from the previous cabinet" in a cabinet
    // without neighbours: listed, not extractable.
    let mut b = sample();
    b[FILES_OFF + 8..FILES_OFF + 10].copy_from_slice(&0xFFFDu16.to_le_bytes());
    let c = Cabinet::from_bytes("t.cab", b).unwrap();
    let e = c.read_file(&c.files()[0]).unwrap_err();
    assert!(matches!(e, Error::Incomplete { .. }), "{e:?}");
}

#[test]
fn unsafe_names_write_nothing() {
    for name in [
        "..\\..\\evil",
        "a\\..\\..\\evil",
        "\\etc\\evil",
        "C:\\Windows\\evil",
        "..",
        "/abs/evil",
    ] {
        let mut w = CabWriter::new();
        let f = w.folder(WriteMethod::None);
        w.file(f, "good.txt", b"fine");
        w.file(f, name, b"evil");
        let c = Cabinet::from_bytes("t.cab", w.build()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("a").join("b").join("dest");
        let e = c.extract_all(&dest).unwrap_err();
        assert!(matches!(e, Error::UnsafeName { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains("unsafe name"), "{e}");
        // Nothing at all was written: not even the good file or DEST.
        let mut all = Vec::new();
        let mut stack = vec![tmp.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p.clone());
                }
                all.push(p);
            }
        }
        assert!(all.is_empty(), "{name}: wrote {all:?}");
    }
}

#[test]
fn symlinks_in_dest_are_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let dest = tmp.path().join("dest");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("sub")).unwrap();
    let mut w = CabWriter::new();
    let f = w.folder(WriteMethod::None);
    w.file(f, "sub\\x.txt", b"through the link");
    let c = Cabinet::from_bytes("t.cab", w.build()).unwrap();
    let e = c.extract_all(&dest).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // A symlink where a file goes is replaced, never written through.
    let target = outside.join("victim");
    std::fs::write(&target, b"keep").unwrap();
    std::fs::remove_file(dest.join("sub")).unwrap();
    std::os::unix::fs::symlink(&target, dest.join("f.txt")).unwrap();
    let mut w = CabWriter::new();
    let f = w.folder(WriteMethod::None);
    w.file(f, "f.txt", b"new");
    let c = Cabinet::from_bytes("t.cab", w.build()).unwrap();
    c.extract_all(&dest).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    assert_eq!(std::fs::read(dest.join("f.txt")).unwrap(), b"new");
    assert!(!std::fs::symlink_metadata(dest.join("f.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_damage_never_panics() {
    let base = sample();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let mut b = base.clone();
        let flips = 1 + (rng.next() % 4) as usize;
        for _ in 0..flips {
            let i = (rng.next() % b.len() as u64) as usize;
            b[i] = rng.next() as u8;
        }
        // Some rounds re-label a folder as LZX or Quantum so those decoders
        // see garbage too (typeCompress at 36+6 and 44+6).
        match round % 4 {
            1 => b[42..44].copy_from_slice(&0x1503u16.to_le_bytes()),
            2 => b[50..52].copy_from_slice(&0x1572u16.to_le_bytes()),
            3 => b[50..52].copy_from_slice(&0x0F03u16.to_le_bytes()),
            _ => {}
        }
        let _ = open_and_read(b);
    }
}

#[test]
fn garbage_as_lzx_and_quantum_folders() {
    // Uncompressed folders whose data is random, re-labelled LZX (every
    // window size) or Quantum: each block decodes to its size or fails.
    let mut rng = Rng(12345);
    for round in 0..400u32 {
        let data: Vec<u8> = (0..(1 + rng.next() % 70_000))
            .map(|_| rng.next() as u8)
            .collect();
        let mut w = CabWriter::new();
        let f = w.folder(WriteMethod::None);
        w.file(f, "x", &data);
        let mut b = w.build();
        let t: u16 = if round % 2 == 0 {
            3 | ((15 + (round / 2 % 7) as u16) << 8)
        } else {
            2 | (((round % 7) as u16 + 1) << 4) | ((10 + (round / 2 % 12) as u16) << 8)
        };
        b[42..44].copy_from_slice(&t.to_le_bytes());
        if let Ok(v) = open_and_read(b) {
            assert_eq!(v[0].len(), data.len());
        }
    }
}

#[test]
fn bad_window_sizes_are_entry_errors() {
    let mut w = CabWriter::new();
    let f = w.folder(WriteMethod::None);
    w.file(f, "x", b"data");
    let mut b = w.build();
    b[42..44].copy_from_slice(&(3u16 | (22 << 8)).to_le_bytes());
    let c = Cabinet::from_bytes("t.cab", b).unwrap();
    assert_eq!(c.folders()[0].compression.to_string(), "LZX:22");
    let e = c.read_file(&c.files()[0]).unwrap_err();
    assert!(
        matches!(e, Error::Entry { .. }) && e.to_string().contains("2^22"),
        "{e}"
    );
}
