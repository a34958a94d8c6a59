//! Bad input never panics: truncations and field corruptions of real WIMs
//! must give a typed error (naming the file, offset and structure) or a
//! correct result — never a panic, a hang or an unbounded allocation.

use std::path::PathBuf;
use wim::pipeline::Options;
use wim::{Error, Wim};

fn fixtures() -> Option<Vec<(String, Vec<u8>)>> {
    let base = std::env::var("WIMFORGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("fixtures/real/wim");
    if !base.exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("fixtures missing under CI: {}", base.display());
        }
        eprintln!("SKIP: {} missing", base.display());
        return None;
    }
    let mut out = Vec::new();
    for name in [
        "LZX.wim",
        "XPRESS.wim",
        "LZMS.wim",
        "MultiImage.wim",
        "Split.swm",
        "dissect-archive_basic4k.wim",
    ] {
        let p = base.join(name);
        out.push((
            name.to_string(),
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        ));
    }
    Some(out)
}

/// Open and read everything; the result is irrelevant, the absence of a
/// panic is the point. Errors must carry the file name.
fn exercise(name: &str, bytes: Vec<u8>) {
    let opts = Options {
        threads: 1,
        window_bytes: 1 << 20,
    };
    match Wim::from_bytes(name, bytes) {
        Ok(w) => {
            let _ = wim::verify::verify(&w, &opts, &|_, _| {});
            for i in 1..=w.image_count().min(4) {
                if let Ok(img) = w.image(i) {
                    let _ = img.preorder();
                }
            }
        }
        Err(e) => check_error(name, &e),
    }
}

fn check_error(name: &str, e: &Error) {
    let msg = e.to_string();
    if let Error::Format { .. } = e {
        assert!(msg.contains(name) && msg.contains("offset 0x"), "{msg}");
    }
}

#[test]
fn every_truncation_fails_cleanly() {
    let Some(files) = fixtures() else { return };
    for (name, bytes) in files {
        for len in (0..bytes.len()).step_by(7).chain([0, 1, 207, 208, 209]) {
            exercise(&name, bytes[..len.min(bytes.len())].to_vec());
        }
    }
}

#[test]
fn truncated_header_names_file_offset_and_structure() {
    let e = Wim::from_bytes("short.wim", b"MSWIM\0\0\0\xd0\0\0\0".to_vec())
        .err()
        .expect("must fail");
    let m = e.to_string();
    assert!(
        m.contains("short.wim") && m.contains("WIM header") && m.contains("truncated"),
        "{m}"
    );
    let e = Wim::from_bytes("magic.wim", vec![0u8; 400])
        .err()
        .expect("must fail");
    assert!(e.to_string().contains("bad magic"), "{e}");
}

/// Overwrite header fields and blob table entries with hostile values.
#[test]
fn lying_sizes_offsets_and_counts_fail_cleanly() {
    let Some(files) = fixtures() else { return };
    let evil: [u64; 8] = [
        0,
        1,
        0xff,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
        u64::MAX / 2,
        0x7fff_ffff_ffff,
    ];
    for (name, bytes) in files {
        // Header: counts, chunk size, every reshdr field.
        let header_fields: &[(usize, usize)] = &[
            (0x0c, 4),
            (0x10, 4),
            (0x14, 4),
            (0x28, 2),
            (0x2a, 2),
            (0x2c, 4),
            (0x30, 7),
            (0x38, 8),
            (0x40, 8),
            (0x48, 7),
            (0x50, 8),
            (0x58, 8),
            (0x78, 4),
            (0x7c, 7),
            (0x84, 8),
            (0x8c, 8),
        ];
        let bt_off = u64::from_le_bytes(bytes[0x38..0x40].try_into().unwrap()) as usize;
        let bt_len = u64::from_le_bytes(bytes[0x40..0x48].try_into().unwrap()) as usize;
        let mut fields: Vec<(usize, usize)> = header_fields.to_vec();
        // Every field of every blob table entry.
        for e in (bt_off..bt_off + bt_len).step_by(50) {
            for &(o, l) in &[(0, 7), (7, 1), (8, 8), (16, 8), (24, 2), (26, 4), (30, 4)] {
                if e + o + l <= bytes.len() {
                    fields.push((e + o, l));
                }
            }
        }
        for &(off, len) in &fields {
            for &v in &evil {
                let mut b = bytes.clone();
                b[off..off + len].copy_from_slice(&v.to_le_bytes()[..len]);
                exercise(&name, b);
            }
        }
    }
}

/// Random byte corruption everywhere (a deterministic mini-fuzzer; the
/// cargo-fuzz targets run far longer).
#[test]
fn random_corruption_never_panics() {
    let Some(files) = fixtures() else { return };
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for (name, bytes) in files {
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + rnd() % 8 {
                let i = (rnd() % b.len() as u64) as usize;
                b[i] = rnd() as u8;
            }
            exercise(&name, b);
        }
    }
}

#[test]
fn absurd_chunk_counts_are_rejected_before_allocating() {
    use wim::codec::CompressionType;
    use wim::read::resource::Resource;
    // A resource claiming 2^60 bytes in 100 stored bytes: its chunk table
    // cannot fit, so it is refused without allocating 2^45 entries.
    let file = vec![0u8; 200];
    for solid in [false, true] {
        let r = Resource {
            part: 0,
            offset: 50,
            size_in_wim: 100,
            uncompressed_size: 1 << 60,
            compressed: true,
            solid,
            pipable: false,
            ctype: CompressionType::Lzx,
            chunk_size: 32768,
        };
        let e = r.chunks(&file).expect_err("must be refused");
        assert!(e.to_string().contains("chunk table"), "{e}");
    }
}
