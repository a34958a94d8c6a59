//! XPRESS and LZX decoders against real chunks: WIMs made by wimlib over
//! generated content at every allowed chunk size, the WIMGAPI fixtures, a
//! proptest round trip, and corrupted real chunks (must error, not panic).
//! Every decoded blob is checked against its SHA-1 from the blob table.

#[path = "support/real.rs"]
mod real;

use proptest::prelude::*;
use real::{compressed_chunks, have_wimlib, missing, try_verify_with, wim_fixtures, RawChunk};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use wim::codec::{new_decompressor, CompressionType, Decompressor};
use wim::Wim;

fn ctype(compress: &str) -> CompressionType {
    match compress {
        "xpress" => CompressionType::Xpress,
        "lzx" => CompressionType::Lzx,
        _ => panic!("unexpected compression {compress}"),
    }
}

/// Decode every compressed chunk of `wim` with a fresh decoder of its
/// resource's format and chunk size, and check each blob's SHA-1.
/// Returns (blobs checked, compressed chunks decoded).
fn verify_wim(wim: &Wim, name: &str) -> (usize, usize) {
    let mut decs: HashMap<(CompressionType, u32), Box<dyn Decompressor>> = HashMap::new();
    try_verify_with(wim, |res, src, dst| {
        let d = match decs.entry((res.ctype, res.chunk_size)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(new_decompressor(res.ctype, res.chunk_size as usize)?)
            }
        };
        d.decompress(src, dst)
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `wimlib-imagex capture SRC OUT --compress=COMPRESS --chunk-size=N`
/// (single-threaded, to stay friendly on shared machines).
fn capture(src: &Path, out: &Path, compress: &str, chunk_size: u32) {
    let st = Command::new("wimlib-imagex")
        .arg("capture")
        .arg(src)
        .arg(out)
        .arg(format!("--compress={compress}"))
        .arg(format!("--chunk-size={chunk_size}"))
        .arg("--threads=1")
        .arg("--no-acls")
        .output()
        .expect("spawn wimlib-imagex");
    assert!(
        st.status.success(),
        "wimlib-imagex capture failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// Deterministic xorshift generator, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

fn text(rng: &mut Rng, n: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the", "window", "chunk", "offset", "Huffman", "literal", "match", "of", "and", "WIM",
        "resource", "image", "\n", "boot", "registry", "System32", "a", "to", ", ", "driver",
    ];
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        v.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
        v.push(b' ');
    }
    v.truncate(n);
    v
}

fn repetitive(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 300);
    while v.len() < n {
        match rng.below(4) {
            0 => v.extend(std::iter::repeat_n(
                rng.next() as u8,
                1 + rng.below(300) as usize,
            )),
            1 => {
                // short period pattern, exercises overlapping copies
                let p = 2 + rng.below(7) as usize;
                let pat: Vec<u8> = (0..p).map(|_| rng.next() as u8).collect();
                for i in 0..(10 + rng.below(400) as usize) {
                    v.push(pat[i % p]);
                }
            }
            2 if v.len() > 10 => {
                // copy from far back: long-offset matches
                let start = rng.below(v.len() as u64) as usize;
                let len = (1 + rng.below(2000) as usize).min(v.len() - start);
                let seg = v[start..start + len].to_vec();
                v.extend_from_slice(&seg);
            }
            _ => {
                let k = 1 + rng.below(16) as usize;
                v.extend(random_bytes(rng, k))
            }
        }
    }
    v.truncate(n);
    v
}

/// x86-ish code: many E8 (call) opcodes with small relative targets, so the
/// compressor's E8 translation produces absolute values to undo.
fn pe_like(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    while v.len() < n {
        match rng.below(6) {
            0 | 1 => {
                v.push(0xE8);
                let rel = (rng.below(200_000) as i32) - 100_000;
                v.extend_from_slice(&rel.to_le_bytes());
            }
            2 => v.extend_from_slice(&[0x48, 0x89, 0x5C, 0x24, 0x08]),
            3 => v.extend_from_slice(&[0x55, 0x8B, 0xEC, 0x83, 0xEC, 0x10]),
            4 => v.push(0xE8),
            _ => {
                let k = 1 + rng.below(6) as usize;
                v.extend(random_bytes(rng, k))
            }
        }
    }
    v.truncate(n);
    v
}

/// A directory of varied content, about 3 MiB in all.
fn make_corpus(dir: &Path) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("one".into(), vec![0x42]),
        ("e8only".into(), vec![0xE8; 37]),
        ("zeros_64k".into(), vec![0; 65536]),
    ];
    for &n in &[4096usize, 8192, 32768, 65536, 131072, 1 << 20] {
        files.push((
            format!("rand_exact_{n}"),
            random_bytes(&mut rng, n.min(65536)),
        ));
        files.push((format!("text_exact_{n}"), text(&mut rng, n)));
    }
    files.push(("mixed_2m".into(), {
        let mut v = pe_like(&mut rng, 700_000);
        v.extend(text(&mut rng, 700_000));
        v.extend(repetitive(&mut rng, 697_152));
        v // exactly 2 MiB
    }));
    for i in 0..6 {
        let n = 1 + rng.below(90_000) as usize;
        files.push((format!("rep_{i}"), repetitive(&mut rng, n)));
        files.push((format!("pe_{i}"), pe_like(&mut rng, n + 5000)));
        files.push((format!("txt_{i}"), text(&mut rng, n / 2 + 1)));
    }
    files.push(("rand_odd".into(), random_bytes(&mut rng, 70_001)));
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    for (i, (name, data)) in files.iter().enumerate() {
        let d = if i % 2 == 0 { dir } else { &sub };
        std::fs::write(d.join(name), data).unwrap();
    }
}

#[test]
fn wimlib_captures_all_chunk_sizes() {
    if !have_wimlib() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_corpus(&src);
    let cases: Vec<(&str, u32)> = [12u32, 13, 14, 15, 16]
        .iter()
        .map(|&o| ("xpress", 1 << o))
        .chain((15u32..=21).map(|o| ("lzx", 1 << o)))
        .collect();
    for (compress, cs) in cases {
        let out = tmp.path().join(format!("{compress}_{cs}.wim"));
        capture(&src, &out, compress, cs);
        let wim = Wim::open(&out, &[]).unwrap();
        assert_eq!(wim.header().chunk_size, cs);
        let name = format!("{compress}/{cs}");
        let (blobs, nchunks) = verify_wim(&wim, &name);
        eprintln!("{name}: {blobs} blobs, {nchunks} compressed chunks OK");
        assert!(blobs > 30 && nchunks > 10, "{name}: too little coverage");
        std::fs::remove_file(&out).unwrap();
    }
}

/// Solid resources (WIM version 0xE00) compressed with XPRESS or LZX: checks
/// the reader's solid path together with the decoders.
#[test]
fn wimlib_solid_xpress_and_lzx() {
    if !have_wimlib() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut rng = Rng(4242);
    std::fs::write(src.join("a"), pe_like(&mut rng, 300_000)).unwrap();
    std::fs::write(src.join("b"), text(&mut rng, 200_000)).unwrap();
    std::fs::write(src.join("c"), b"hello").unwrap();
    std::fs::write(src.join("d"), random_bytes(&mut rng, 70_000)).unwrap();
    for (compress, cs) in [("xpress", 32768u32), ("lzx", 65536), ("lzx", 1 << 21)] {
        let out = tmp.path().join(format!("solid_{compress}_{cs}.wim"));
        let st = Command::new("wimlib-imagex")
            .arg("capture")
            .arg(&src)
            .arg(&out)
            .arg("--solid")
            .arg(format!("--solid-compress={compress}"))
            .arg(format!("--solid-chunk-size={cs}"))
            .arg("--no-acls")
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let wim = Wim::open(&out, &[]).unwrap();
        assert!(
            (0..wim.resources.len()).any(|r| wim.resources[r].solid
                && wim.blobs().filter(|b| b.resource as usize == r).count() >= 3),
            "no solid resource"
        );
        let name = format!("solid {compress}/{cs}");
        let (blobs, nchunks) = verify_wim(&wim, &name);
        eprintln!("{name}: {blobs} blobs, {nchunks} compressed chunks OK");
    }
}

#[test]
fn wimgapi_and_wimlib_fixtures() {
    let Some(dir) = wim_fixtures() else {
        return;
    };
    for name in [
        "LZX.wim",
        "XPRESS.wim",
        "BootLZX.wim",
        "BootXPRESS.wim",
        "MultiImage.wim",
        "dissect-archive_basic4k.wim",
        "dissect-archive_basic8k.wim",
        "dissect-archive_basic16k.wim",
        "Split.swm",
        "Split2.swm",
    ] {
        let path = dir.join(name);
        if !path.exists() {
            missing(&path.display().to_string());
            continue;
        }
        // A split part opens with the rest of its set, so its blobs resolve.
        let refs: Vec<PathBuf> = if name.ends_with(".swm") {
            ["Split.swm", "Split2.swm"]
                .iter()
                .map(|n| dir.join(n))
                .filter(|p| p.exists())
                .collect()
        } else {
            Vec::new()
        };
        let wim = Wim::open(&path, &refs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (blobs, nchunks) = verify_wim(&wim, name);
        eprintln!("{name}: {blobs} blobs, {nchunks} compressed chunks OK");
        assert!(blobs > 0, "{name}: no blobs");
    }
}

/// All compressed chunks of a wimlib capture of the corpus, for fuzzing.
fn real_chunks(compress: &str, cs: u32) -> Vec<RawChunk> {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut rng = Rng(77);
    std::fs::write(src.join("a"), pe_like(&mut rng, 100_000)).unwrap();
    std::fs::write(src.join("b"), text(&mut rng, 100_000)).unwrap();
    std::fs::write(src.join("c"), repetitive(&mut rng, 100_000)).unwrap();
    let out = tmp.path().join("x.wim");
    capture(&src, &out, compress, cs);
    let wim = Wim::open(&out, &[]).unwrap();
    compressed_chunks(&wim, ctype(compress))
}

#[test]
fn corrupted_real_chunks_never_panic() {
    if !have_wimlib() {
        return;
    }
    let mut rng = Rng(12345);
    for (compress, cs) in [
        ("xpress", 4096u32),
        ("xpress", 65536),
        ("lzx", 32768),
        ("lzx", 1 << 18),
    ] {
        let chunks = real_chunks(compress, cs);
        assert!(!chunks.is_empty());
        let mut dec = new_decompressor(chunks[0].ctype, cs as usize).unwrap();
        let mut out = Vec::new();
        let mut trials = 0;
        for c in chunks.iter().take(40) {
            let data = &c.data;
            out.resize(c.uncompressed_size, 0);
            // Every truncation near the end, then a spread of shorter ones.
            let n = data.len();
            let cuts: Vec<usize> = (n.saturating_sub(12)..n)
                .chain((0..20).map(|_| rng.below(n as u64 + 1) as usize))
                .collect();
            for cut in cuts {
                let _ = dec.decompress(&data[..cut], &mut out);
                trials += 1;
            }
            // Bit flips and byte smashes.
            for _ in 0..40 {
                let mut d = data.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(n as u64) as usize;
                    d[i] ^= 1 << rng.below(8);
                }
                let _ = dec.decompress(&d, &mut out);
                trials += 1;
            }
            // Wrong output size.
            let mut small = vec![0u8; c.uncompressed_size / 2 + 1];
            let _ = dec.decompress(data, &mut small);
            // And the original still decodes after all that abuse.
            dec.decompress(data, &mut out).unwrap();
        }
        eprintln!("{compress}/{cs}: {trials} corrupted inputs survived");
    }
}

/// Chunk sizes wimlib accepts for the proptest round trip.
fn chunk_case() -> impl Strategy<Value = (&'static str, u32)> {
    prop_oneof![
        (12u32..=16).prop_map(|o| ("xpress", 1 << o)),
        (15u32..=17).prop_map(|o| ("lzx", 1 << o)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random files -> wimlib capture -> our decoders reproduce the bytes
    /// (checked through the blob SHA-1s, which wimlib computed from the
    /// original files).
    #[test]
    fn roundtrip_through_wimlib(
        seed in any::<u64>(),
        sizes in proptest::collection::vec(0usize..150_000, 1..5),
        case in chunk_case(),
    ) {
        if !have_wimlib() {
            return Ok(());
        }
        let (compress, cs) = case;
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let mut rng = Rng(seed | 1);
        let mut originals = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let data = match rng.below(4) {
                0 => random_bytes(&mut rng, n),
                1 => text(&mut rng, n),
                2 => repetitive(&mut rng, n),
                _ => pe_like(&mut rng, n),
            };
            std::fs::write(src.join(format!("f{i}")), &data).unwrap();
            originals.push(data);
        }
        let out = tmp.path().join("x.wim");
        capture(&src, &out, compress, cs);
        let wim = Wim::open(&out, &[]).unwrap();
        verify_wim(&wim, &format!("roundtrip {compress}/{cs}"));
        // Every original file must be among the verified blobs.
        for data in originals.iter().filter(|d| !d.is_empty()) {
            let h: [u8; 20] = Sha1::digest(data).into();
            prop_assert!(wim.blob(&h).is_some(), "file of {} bytes not in the WIM", data.len());
        }
    }
}
