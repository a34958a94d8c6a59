//! Hostile hives: truncations, mutated offsets and counts, cyclic subkey
//! lists, absurd nesting. Parsing must return typed errors naming offset
//! and structure, never panic or hang.

use hive::value::{REG_BINARY, REG_DWORD, REG_SZ};
use hive::{ErrorKind, Hive};

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn put_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn fix_checksum(b: &mut [u8]) {
    hive::base::fix_checksum(&mut b[..4096]);
}

/// Parse, requiring an error (without printing a whole hive on failure).
fn must_fail(img: &[u8], what: &str) -> hive::Error {
    match Hive::from_bytes(img) {
        Ok(_) => panic!("{what}: parsed"),
        Err(e) => e,
    }
}

fn sample() -> Vec<u8> {
    let mut h = Hive::new(5, "ROOT");
    h.set_value(
        "Alpha\\Beta",
        "v1",
        REG_SZ,
        hive::value::utf16z("hello", true),
    )
    .unwrap();
    h.set_value("Alpha\\Beta", "v2", REG_DWORD, vec![1, 0, 0, 0])
        .unwrap();
    h.set_value("Alpha", "big", REG_BINARY, vec![7; 20000])
        .unwrap();
    h.set_value("Gamma", "", REG_BINARY, vec![1, 2, 3, 4, 5, 6])
        .unwrap();
    for i in 0..30 {
        h.create_key(&format!("Many\\k{i:02}")).unwrap();
    }
    h.to_bytes()
}

/// File offset of the nk cell (its size field) of the key called `name`.
fn nk_of(img: &[u8], name: &str) -> usize {
    let pat = name.as_bytes();
    let mut i = 4096;
    while i + pat.len() <= img.len() {
        if &img[i..i + pat.len()] == pat && i >= 0x4C + 4 && &img[i - 0x4C..i - 0x4A] == b"nk" {
            let nl = u16::from_le_bytes([img[i - 4], img[i - 3]]) as usize;
            if nl == pat.len() {
                return i - 0x4C - 4;
            }
        }
        i += 1;
    }
    panic!("nk {name} not found");
}

#[test]
fn sample_parses() {
    let img = sample();
    let h = Hive::from_bytes(&img).unwrap();
    assert_eq!(
        h.key("Alpha").unwrap().value("big").unwrap().data.len(),
        20000
    );
}

#[test]
fn every_truncation_is_an_error() {
    let img = sample();
    for len in (0..img.len())
        .step_by(61)
        .chain([4095, 4096, 4097, img.len() - 1])
    {
        let r = Hive::from_bytes(&img[..len]);
        assert!(r.is_err(), "truncated to {len} parsed");
    }
}

#[test]
fn single_byte_mutations_never_panic() {
    let img = sample();
    let mut errors = 0;
    for pos in (4096..img.len()).step_by(3) {
        for val in [0x00u8, 0xFF, 0x80] {
            let mut m = img.clone();
            if m[pos] == val {
                continue;
            }
            m[pos] = val;
            if Hive::from_bytes(&m).is_err() {
                errors += 1;
            }
        }
    }
    assert!(errors > 0);
    // Base block mutations (checksum fixed so the fields are really read).
    for pos in (0..0x200).step_by(4) {
        for val in [0u32, 0xFFFF_FFFF, 0x7FFF_FFF8, 0x1001] {
            let mut m = img.clone();
            put_u32(&mut m, pos, val);
            fix_checksum(&mut m);
            let _ = Hive::from_bytes(&m);
        }
    }
}

#[test]
fn cyclic_subkey_list_is_detected() {
    let mut img = sample();
    // Beta (no subkeys) gets Alpha's subkey list, which lists Beta itself.
    let alpha = nk_of(&img, "Alpha");
    let beta = nk_of(&img, "Beta");
    let alpha_list = u32_at(&img, alpha + 4 + 0x1C);
    put_u32(&mut img, beta + 4 + 0x14, 1);
    put_u32(&mut img, beta + 4 + 0x1C, alpha_list);
    let e = must_fail(&img, "cycle");
    assert!(matches!(e.kind, ErrorKind::Cycle), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("key node") && msg.contains("offset 0x"),
        "{msg}"
    );
    // A list that points back at the root.
    let mut img2 = sample();
    let beta = nk_of(&img2, "Beta");
    let alpha = nk_of(&img2, "Alpha");
    let list = u32_at(&img2, alpha + 4 + 0x1C) as usize + 4096;
    put_u32(&mut img2, list + 4 + 4, 0x20); // first element -> root nk
    let _ = beta;
    let e = must_fail(&img2, "cycle to root");
    assert!(matches!(e.kind, ErrorKind::Cycle), "{e}");
}

#[test]
fn huge_counts_are_refused_quickly() {
    let img = sample();
    let many = nk_of(&img, "Many");
    for (field, v) in [
        (0x14, 0xFFFF_FFFFu32),
        (0x14, 31),
        (0x24, 0x7FFF_FFFF),
        (0x48, 0xFFFF),
    ] {
        let mut m = img.clone();
        if field == 0x48 {
            m[many + 4 + 0x48..many + 4 + 0x4A].copy_from_slice(&(v as u16).to_le_bytes());
        } else {
            put_u32(&mut m, many + 4 + field, v);
        }
        let t = std::time::Instant::now();
        let e = must_fail(&m, "huge count");
        assert!(t.elapsed().as_secs() < 1);
        assert!(
            matches!(e.kind, ErrorKind::BadSize(_) | ErrorKind::OutOfBounds),
            "field {field:#x}: {e}"
        );
    }
    // Base block claims far more hive bins data than the file holds.
    let mut m = img.clone();
    put_u32(&mut m, 0x28, 0x7FFF_F000);
    fix_checksum(&mut m);
    assert!(matches!(
        must_fail(&m, "base block").kind,
        ErrorKind::Truncated
    ));
}

#[test]
fn offsets_out_of_bounds() {
    let img = sample();
    let alpha = nk_of(&img, "Alpha");
    for (field, v) in [
        (0x1C, 0x7FFF_FFF8u32),
        (0x28, 0x10),
        (0x2C, 0x3),
        (0x30, 0xFFF0_0000),
    ] {
        let mut m = img.clone();
        put_u32(&mut m, alpha + 4 + field, v);
        if field == 0x30 {
            m[alpha + 4 + 0x4A] = 8; // class name length, so the class is read
        }
        let e = must_fail(&m, "bad offset");
        assert!(
            matches!(
                e.kind,
                ErrorKind::OutOfBounds | ErrorKind::BadSize(_) | ErrorKind::BadSignature
            ),
            "field {field:#x}: {e}"
        );
        assert!(e.offset.is_some());
    }
    // Root cell offset outside the bins.
    let mut m = img.clone();
    put_u32(&mut m, 0x24, 0x0FFF_FFF0);
    fix_checksum(&mut m);
    assert!(matches!(
        must_fail(&m, "base block").kind,
        ErrorKind::OutOfBounds
    ));
    // Bad checksum.
    let mut m = img.clone();
    m[0x30] ^= 1;
    assert!(matches!(
        must_fail(&m, "base block").kind,
        ErrorKind::BadChecksum { .. }
    ));
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("BROKEN");
    let mut img = sample();
    img.truncate(6000);
    std::fs::write(&p, &img).unwrap();
    let e = Hive::open(&p).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("BROKEN") && msg.contains("offset"), "{msg}");
}

#[test]
fn nesting_is_bounded() {
    let mut h = Hive::new(5, "R");
    let deep: Vec<String> = (0..511).map(|i| format!("d{i}")).collect();
    h.create_key(&deep.join("\\")).unwrap();
    let img = h.to_bytes();
    let back = Hive::from_bytes(&img).unwrap();
    assert!(back.key(&deep.join("\\")).is_some());
    let too: Vec<String> = (0..600).map(|i| format!("d{i}")).collect();
    assert!(matches!(
        h.create_key(&too.join("\\")).unwrap_err().kind,
        ErrorKind::TooDeep
    ));
}

#[test]
fn real_hives_mutated_and_truncated_never_panic() {
    let dir = std::env::var("WIMFORGE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        })
        .join("fixtures/real/hive");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("SKIP: no fixtures in {}", dir.display());
        return;
    };
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for e in rd.flatten() {
        let img = std::fs::read(e.path()).unwrap();
        // Files may be longer than base block + hive bins (padding).
        let used = 4096 + u32_at(&img, 0x28) as usize;
        for cut in (0..used).step_by(997) {
            assert!(Hive::from_bytes(&img[..cut]).is_err(), "cut at {cut}");
        }
        for _ in 0..1500 {
            let mut m = img.clone();
            for _ in 0..1 + next() % 4 {
                let pos = 4096 + (next() as usize) % (img.len() - 4096);
                m[pos] = next() as u8;
            }
            let _ = Hive::from_bytes(&m);
        }
    }
}
