//! Seed corpora for the fuzz targets: `seedgen OUT [FIXTURES]`.
//!
//! Writes `OUT/<target>/<name>` for every target, from two sources:
//! * the real files under FIXTURES (`../shared/fixtures/real`; `.gz` and
//!   `.bz2` are streamed through `gzip -dc` / `bzip2 -dc`), and
//! * files made here with the project's own writers (WIM capture, VHDX
//!   create incl. a dirty log, NTFS format + inject, hives with big data,
//!   BCD stores and transaction logs), plus chunks from `wimlib-imagex`
//!   captures when that tool is installed.
//!
//! Large images (VHDX, NTFS volumes) are written as sparse images (see
//! `wimforge_fuzz::encode_sparse`) holding at most `MAX_SPARSE_SEED` bytes
//! of non-zero data. The corpus is git-ignored; nothing here is committed.
//!
//! Built by `cargo fuzz build` like the targets (it shares their compiled
//! crates); the `libfuzzer_sys` import only provides the coverage hooks the
//! instrumented code calls.

use blockdev::{BlockDev, MemDev};
use libfuzzer_sys as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use wim::codec::CompressionType;
use wim::write::{scan_dir, CaptureOptions, CompressorFactory, WimWriter, WriteOptions};
use wim::Wim;
use wimforge_fuzz::{encode_sparse, Parts, FLAG_FIX_CHECKSUMS};

/// Non-zero bytes kept from one large image.
const MAX_SPARSE_SEED: usize = 768 << 10;
/// Largest raw seed (libFuzzer's default -max_len is 1 MiB).
const MAX_RAW_SEED: usize = 1 << 20;

struct Out {
    root: PathBuf,
    count: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, data: &[u8]) {
        if data.is_empty() || data.len() > MAX_RAW_SEED {
            return;
        }
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::write(dir.join(format!("seed-{safe}")), data).expect("write seed");
        self.count += 1;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--materialize" {
        materialize(&args[2], Path::new(&args[3]), Path::new(&args[4]));
        return;
    }
    if args.len() < 2 {
        eprintln!("usage: seedgen OUT_DIR [FIXTURES_DIR]");
        eprintln!("       seedgen --materialize vhdx|ntfs SPARSE_INPUT RAW_OUTPUT");
        std::process::exit(2);
    }
    let mut out = Out {
        root: PathBuf::from(&args[1]),
        count: 0,
    };
    let fixtures = args.get(2).map(PathBuf::from).filter(|p| p.is_dir());
    let tmp = std::env::temp_dir().join(format!("wimforge-seedgen-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");

    let mut wims: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(f) = &fixtures {
        for p in files_under(&f.join("wim")) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".wim") || name.ends_with(".swm") {
                wims.push((name, std::fs::read(&p).expect("read fixture")));
            }
        }
    }
    wims.extend(generated_wims(&tmp));
    for (name, bytes) in &wims {
        out.put("wim_open", name, bytes);
        wim_derived(&mut out, name, bytes);
    }
    xpress_seeds(&mut out);

    if let Some(f) = &fixtures {
        for p in files_under(&f.join("vhdx")) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(img) = read_maybe_compressed(&p, MAX_SPARSE_SEED) {
                out.put("vhdx", &name, &img);
                let mut fixed = img.clone();
                fixed[4] = FLAG_FIX_CHECKSUMS;
                out.put("vhdx", &format!("{name}.fixcrc"), &fixed);
            }
        }
        for sub in ["ntfs", "other"] {
            for p in files_under(&f.join(sub)) {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name.ends_with(".sh") || name.ends_with(".vhd.bz2") {
                    continue;
                }
                if let Some(img) = read_maybe_compressed(&p, MAX_SPARSE_SEED) {
                    out.put("ntfs", &name, &img);
                }
            }
        }
        for p in files_under(&f.join("hive")) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let b = std::fs::read(&p).expect("read fixture");
            out.put("hive", &name, &b);
        }
    }
    for (name, img) in generated_vhdx(&tmp) {
        out.put("vhdx", &name, &encode_sparse(&img, 0));
        out.put(
            "vhdx",
            &format!("{name}.fixcrc"),
            &encode_sparse(&img, FLAG_FIX_CHECKSUMS),
        );
    }
    for (name, img) in generated_ntfs() {
        out.put("ntfs", &name, &encode_sparse(&img, 0));
    }
    hive_seeds(&mut out, fixtures.as_deref());
    cab_seeds(&mut out, fixtures.as_deref());
    unattend_seeds(&mut out, fixtures.as_deref());

    let _ = std::fs::remove_dir_all(&tmp);
    println!("seedgen: {} seeds under {}", out.count, out.root.display());
}

/// Turn a sparse-image input of the `vhdx` or `ntfs` target into the raw
/// bytes the target's parser saw (checksums fixed as the target fixes
/// them), cut after the last non-zero byte: regression tests feed those to
/// the crate directly (padding the zero tail back where the length matters).
fn materialize(target: &str, input: &Path, output: &Path) {
    let data = std::fs::read(input).expect("read input");
    let Some(mut img) = wimforge_fuzz::parse_sparse(&data) else {
        eprintln!("{}: not a sparse image (already raw)", input.display());
        std::process::exit(1);
    };
    if target == "vhdx" && img.flags & FLAG_FIX_CHECKSUMS != 0 {
        wimforge_fuzz::fix_vhdx_checksums(&mut img.dev);
    }
    let raw = img.dev.materialize();
    std::fs::write(output, &raw).expect("write output");
    println!(
        "{}: {} bytes (device of {} bytes)",
        output.display(),
        raw.len(),
        blockdev::BlockDev::len(&img.dev)
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A file (decompressed through gzip/bzip2 when it ends so) as a sparse
/// image: sectors in file order until `cap` non-zero bytes are kept; the
/// declared device length is the whole decompressed length.
fn read_maybe_compressed(p: &Path, cap: usize) -> Option<Vec<u8>> {
    let s = p.to_string_lossy();
    let tool = if s.ends_with(".gz") {
        Some("gzip")
    } else if s.ends_with(".bz2") {
        Some("bzip2")
    } else {
        None
    };
    let mut child = None;
    let reader: Box<dyn Read> = match tool {
        Some(t) => {
            let mut c = Command::new(t)
                .arg("-dc")
                .arg(p)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let out = c.stdout.take()?;
            child = Some(c);
            Box::new(out)
        }
        None => Box::new(std::fs::File::open(p).ok()?),
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    // Stream: keep non-zero sectors (as extents) until the cap; nothing
    // past the largest device a sparse input may declare is read.
    let mut kept = Vec::new();
    let mut total = 0u64;
    let mut sec = vec![0u8; 512];
    let mut kept_bytes = 0usize;
    while total < wimforge_fuzz::MAX_SPARSE_LEN {
        let n = read_full(&mut reader, &mut sec);
        if n == 0 {
            break;
        }
        if sec[..n].iter().any(|&b| b != 0) && kept_bytes < cap {
            kept.push((total, sec[..n].to_vec()));
            kept_bytes += n;
        }
        total += n as u64;
        if n < 512 {
            break;
        }
    }
    drop(reader);
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    // Re-encode through a flat buffer per run of adjacent sectors.
    let mut img = Vec::new();
    img.extend_from_slice(wimforge_fuzz::SPARSE_MAGIC);
    img.push(0);
    img.extend_from_slice(&total.to_le_bytes());
    let mut i = 0;
    while i < kept.len() {
        let start = kept[i].0;
        let mut run = kept[i].1.clone();
        i += 1;
        while i < kept.len() && kept[i].0 == start + run.len() as u64 && run.len() < 127 * 512 {
            run.extend_from_slice(&kept[i].1);
            i += 1;
        }
        img.extend_from_slice(&((start / 512) as u32).to_le_bytes());
        img.extend_from_slice(&(run.len() as u16).to_le_bytes());
        img.extend_from_slice(&run);
    }
    Some(img)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// A small tree with text, repeated and random-looking data, a hard link,
/// symlinks and an empty file.
fn sample_tree(root: &Path) {
    std::fs::create_dir_all(root.join("dir/sub")).unwrap();
    std::fs::write(root.join("hello.txt"), b"hello, world\n".repeat(50)).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    let noise: Vec<u8> = (0..40_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("dir/noise.bin"), &noise).unwrap();
    let text: Vec<u8> = (0..70_000u32)
        .flat_map(|i| format!("line {} of {}\n", i % 97, i % 13).into_bytes())
        .take(70_000)
        .collect();
    std::fs::write(root.join("dir/sub/text.log"), &text).unwrap();
    let _ = std::fs::hard_link(root.join("hello.txt"), root.join("dir/link.txt"));
    let _ = std::os::unix::fs::symlink("../hello.txt", root.join("dir/rel"));
}

fn generated_wims(tmp: &Path) -> Vec<(String, Vec<u8>)> {
    let src = tmp.join("tree");
    sample_tree(&src);
    let mut out = Vec::new();
    let xpress: CompressorFactory = Arc::new(|| {
        Box::new(wim::codec::xpress_compress::XpressCompressor::new(
            wim::codec::xpress_compress::Level::Fast,
        ))
    });
    let cases: Vec<(&str, WriteOptions)> = vec![
        (
            "gen-none.wim",
            WriteOptions {
                threads: 1,
                fixed_time: Some(1_600_000_000),
                ..Default::default()
            },
        ),
        (
            "gen-xpress-integrity.wim",
            WriteOptions {
                compression: CompressionType::Xpress,
                compressor: Some(xpress.clone()),
                chunk_size: 4096,
                integrity: true,
                threads: 1,
                fixed_time: Some(1_600_000_000),
                ..Default::default()
            },
        ),
        (
            // wimlib's pipable layout: blob and chunk headers, trailing
            // chunk tables, header at the end.
            "gen-xpress-pipable.wim",
            WriteOptions {
                compression: CompressionType::Xpress,
                compressor: Some(xpress.clone()),
                chunk_size: 4096,
                threads: 1,
                fixed_time: Some(1_600_000_000),
                pipable: true,
                ..Default::default()
            },
        ),
    ];
    for (name, opts) in cases {
        let p = tmp.join(name);
        let res = (|| -> wim::Result<()> {
            let (tree, _) = scan_dir(
                &src,
                &CaptureOptions {
                    deterministic: true,
                    rp_fix: false,
                    config: None,
                },
            )?;
            let mut w = WimWriter::create(&p, opts)?;
            w.add_image(tree, "one", Some("first"))?;
            let (tree, _) = scan_dir(
                &src.join("dir"),
                &CaptureOptions {
                    deterministic: true,
                    rp_fix: false,
                    config: None,
                },
            )?;
            w.add_image(tree, "two", None)?;
            w.finish()?;
            Ok(())
        })();
        match res {
            Ok(()) => out.push((name.to_string(), std::fs::read(&p).unwrap())),
            Err(e) => eprintln!("seedgen: {name}: {e}"),
        }
    }
    // wimlib's LZX and LZMS (solid and not), when installed.
    for (name, args) in [
        ("wimlib-lzx.wim", &["--compress=lzx"][..]),
        ("wimlib-lzms.wim", &["--compress=lzms"][..]),
        ("wimlib-lzms-solid.wim", &["--solid", "--compress=lzms"][..]),
        (
            "wimlib-xpress-solid.wim",
            &["--solid", "--compress=xpress", "--solid-chunk-size=65536"][..],
        ),
    ] {
        let p = tmp.join(name);
        let ok = Command::new("wimlib-imagex")
            .arg("capture")
            .arg(&src)
            .arg(&p)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            out.push((name.to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// Metadata resources and raw compressed chunks of one WIM.
fn wim_derived(out: &mut Out, name: &str, bytes: &[u8]) {
    let Ok(w) = Wim::from_bytes(name, bytes.to_vec()) else {
        return;
    };
    for (i, loc) in w.metadata.iter().enumerate() {
        if let Ok(m) = w.read_blob(loc) {
            out.put("wim_metadata", &format!("{name}.image{}", i + 1), &m);
        }
    }
    for (ri, res) in w.resources.iter().enumerate() {
        if !res.compressed {
            continue;
        }
        let file = w.part_data(res.part);
        let Ok(chunks) = res.chunks(file) else {
            continue;
        };
        for (ci, c) in chunks.iter().enumerate().take(8) {
            if c.is_stored() {
                continue;
            }
            let at = c.file_offset as usize;
            let Some(raw) = file.get(at..at + c.compressed_len as usize) else {
                continue;
            };
            let ulen = c.uncompressed_len as usize;
            let cs = (res.chunk_size as usize).max(ulen);
            let e = cs.next_power_of_two().trailing_zeros().saturating_sub(15) as u8;
            let (target, hdr) = match res.ctype {
                CompressionType::Xpress if (1..=1 << 16).contains(&ulen) => {
                    ("xpress", ((ulen - 1) as u16).to_le_bytes().to_vec())
                }
                CompressionType::Lzx if ulen >= 1 && e <= 6 => {
                    let mut h = vec![e];
                    h.extend_from_slice(&((ulen - 1) as u32).to_le_bytes());
                    ("lzx", h)
                }
                CompressionType::Lzms if (1..=1 << 18).contains(&ulen) => {
                    let mut h = vec![e.min(3)];
                    h.extend_from_slice(&((ulen - 1) as u32).to_le_bytes());
                    ("lzms", h)
                }
                _ => continue,
            };
            let mut s = hdr;
            s.extend_from_slice(raw);
            out.put(target, &format!("{name}.res{ri}.chunk{ci}"), &s);
        }
    }
}

/// XPRESS chunks from our own compressor.
fn xpress_seeds(out: &mut Out) {
    use wim::codec::xpress_compress::{Level, XpressCompressor};
    use wim::write::Compressor;
    let inputs: Vec<Vec<u8>> = vec![
        b"abcabcabcabcabcabcabcabc hello hello hello".to_vec(),
        (0..20_000u32).map(|i| (i % 251) as u8).collect(),
        (0..65_536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8 & 0x3F)
            .collect(),
        vec![0u8; 65_536],
    ];
    for (i, d) in inputs.iter().enumerate() {
        let mut c = XpressCompressor::new(Level::Thorough);
        let mut packed = Vec::new();
        if c.compress(d, &mut packed).is_some() {
            let mut s = ((d.len() - 1) as u16).to_le_bytes().to_vec();
            s.extend_from_slice(&packed);
            out.put("xpress", &format!("ours-{i}"), &s);
        }
    }
}

fn dev_err(e: std::io::Error) -> vhdx::Error {
    vhdx::Error::InvalidArgument(e.to_string())
}

fn generated_vhdx(tmp: &Path) -> Vec<(String, Vec<u8>)> {
    use vhdx::{CreateKind, CreateOptions, GuidSource, OpenOptions, ParentSource, Vhdx};
    const MIB: u64 = 1 << 20;
    let mut out = Vec::new();
    let pattern = |seed: u8| -> Vec<u8> { (0..8192u32).map(|i| (i as u8) ^ seed).collect() };
    let base = tmp.join("base.vhdx");
    let cases = [
        (
            "dynamic-1m-512.vhdx",
            24 * MIB,
            CreateKind::Dynamic,
            1u32 << 20,
            512u32,
        ),
        (
            "dynamic-2m-4k.vhdx",
            24 * MIB,
            CreateKind::Dynamic,
            2 << 20,
            4096,
        ),
        ("fixed-1m.vhdx", 6 * MIB, CreateKind::Fixed, 1 << 20, 512),
    ];
    for (i, (name, size, kind, block, logical)) in cases.into_iter().enumerate() {
        let p = if i == 0 { base.clone() } else { tmp.join(name) };
        let o = CreateOptions {
            size,
            kind,
            block_size: block,
            logical_sector_size: logical,
            guids: GuidSource::Seeded(name.into()),
            ..Default::default()
        };
        let r = vhdx::create_file(&p, &o, None, |d| {
            d.write_at(0, &pattern(1)).map_err(dev_err)?;
            d.write_at(3 * MIB - 4096, &pattern(2)).map_err(dev_err)?;
            d.write_at(size - 8192, &pattern(3)).map_err(dev_err)
        });
        match r {
            Ok(()) => out.push((name.to_string(), std::fs::read(&p).unwrap())),
            Err(e) => eprintln!("seedgen: {name}: {e}"),
        }
    }
    // A differencing child of the first disk (the target opens it without
    // its parent: reads of blocks it lacks fail cleanly).
    if let Ok(pd) = Vhdx::open(&base, OpenOptions::default()) {
        let child = tmp.join("child.vhdx");
        let o = CreateOptions {
            kind: CreateKind::Differencing,
            block_size: 1 << 20,
            parent: Some(vhdx::parent_info_for(&pd, &base, &child)),
            guids: GuidSource::Seeded("child".into()),
            ..Default::default()
        };
        if vhdx::create_file(&child, &o, Some(pd), |d| {
            d.write_at(MIB + 512, &pattern(4)).map_err(dev_err)
        })
        .is_ok()
        {
            out.push(("differencing.vhdx".into(), std::fs::read(&child).unwrap()));
        }
    }
    // A dirty log: edit a disk in place and snapshot the file while the
    // journaled BAT update is still in the log (before close clears it).
    if let Some((_, img)) = out.first() {
        let dev = Arc::new(MemDev::from_vec(img.clone()));
        if let Ok(d) = Vhdx::open_dev(
            Box::new(dev.clone()),
            "dirty",
            OpenOptions {
                writable: true,
                parent: ParentSource::Skip,
            },
        ) {
            if d.write_at(9 * MIB, &pattern(5)).is_ok()
                && d.write_at(17 * MIB + 512, &pattern(6)).is_ok()
            {
                let snap = dev.to_vec();
                drop(d);
                out.push(("dirty-log.vhdx".into(), snap));
            }
        }
    }
    out
}

fn generated_ntfs() -> Vec<(String, Vec<u8>)> {
    use ntfs_inject::inject::Injector;
    let mut out = Vec::new();
    for (name, size, cluster) in [
        ("ntfs-4k.img", 12usize << 20, 4096u32),
        ("ntfs-512.img", 8 << 20, 512),
    ] {
        let dev = Arc::new(MemDev::new(size));
        let opts = ntfs_inject::FormatOptions {
            cluster_size: cluster,
            label: "FUZZ".into(),
            serial: Some(0x1234_5678),
            time: Some(0x01D0_0000_0000_0000),
            ..Default::default()
        };
        if let Err(e) = ntfs_inject::format(dev.clone(), &opts) {
            eprintln!("seedgen: {name}: {e}");
            continue;
        }
        out.push((format!("empty-{name}"), dev.to_vec()));
        let res = (|| -> ntfs_inject::Result<()> {
            let mut inj = Injector::open(dev.clone())?;
            inj.create("/Windows", None)?;
            inj.create("/Windows/System32", None)?;
            inj.create("/Windows/System32/config", None)?;
            inj.create("/Windows/System32/config/SYSTEM", Some(&[7u8; 9000]))?;
            inj.create("/small.txt", Some(b"resident data"))?;
            for i in 0..40 {
                inj.create(
                    &format!("/Windows/file-{i:03}.txt"),
                    Some(format!("{i}").as_bytes()),
                )?;
            }
            Ok(())
        })();
        match res {
            Ok(()) => out.push((format!("tree-{name}"), dev.to_vec())),
            Err(e) => eprintln!("seedgen: inject into {name}: {e}"),
        }
        let _ = dev.flush();
    }
    out
}

fn hive_seeds(out: &mut Out, fixtures: Option<&Path>) {
    use hive::value::{REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_QWORD, REG_SZ};
    use hive::Hive;
    let mut made: Vec<(String, Hive)> = Vec::new();
    for minor in [3u32, 5] {
        let mut h = Hive::new(minor, "ROOT");
        let r = (|| -> hive::Result<()> {
            h.create_key("ControlSet001\\Services\\docker")?;
            h.set_value(
                "ControlSet001\\Services\\docker",
                "Start",
                REG_DWORD,
                2u32.to_le_bytes().to_vec(),
            )?;
            h.set_value(
                "ControlSet001\\Services\\docker",
                "ImagePath",
                REG_SZ,
                hive::value::utf16z("C:\\docker.exe", true),
            )?;
            h.set_value("ControlSet001", "", REG_QWORD, 7u64.to_le_bytes().to_vec())?;
            h.set_value(
                "ControlSet001",
                "Multi",
                REG_MULTI_SZ,
                hive::value::encode(REG_MULTI_SZ, &["a".into(), "b".into()]).unwrap_or_default(),
            )?;
            // Big data (db cells) in 1.4+, one plain cell in 1.3.
            h.set_value(
                "ControlSet001",
                "Big",
                REG_BINARY,
                (0..40_000u32).map(|i| i as u8).collect(),
            )?;
            // Enough subkeys for index-root (ri) lists.
            for i in 0..600 {
                h.create_key(&format!("Many\\k{i:04}"))?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            eprintln!("seedgen: hive 1.{minor}: {e}");
            continue;
        }
        made.push((format!("gen-1.{minor}"), h));
    }
    let mut bcd = Hive::new(5, "BCD00000000");
    let bcd_ok = (|| -> hive::Result<()> {
        let g = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
        hive::bcd::set_object(&mut bcd, g, 0x1010_0002)?;
        hive::bcd::set_element(
            &mut bcd,
            g,
            0x1100_0001,
            REG_BINARY,
            hive::bcd::device_boot(),
        )?;
        hive::bcd::set_element(
            &mut bcd,
            g,
            0x1200_0002,
            REG_SZ,
            hive::value::utf16z("\\EFI\\Microsoft\\Boot\\bootmgfw.efi", true),
        )?;
        hive::bcd::set_element(
            &mut bcd,
            g,
            0x2500_0004,
            REG_BINARY,
            30u64.to_le_bytes().to_vec(),
        )?;
        let l = "{b2721d73-1db4-4c62-bf78-c548a880142d}";
        hive::bcd::set_object(&mut bcd, l, 0x1020_0003)?;
        hive::bcd::set_element(
            &mut bcd,
            l,
            0x1100_0001,
            REG_BINARY,
            hive::bcd::device_mbr_partition(1 << 20, 0xDEAD_BEEF),
        )?;
        hive::bcd::set_element(
            &mut bcd,
            l,
            0x2300_0003,
            REG_SZ,
            hive::value::utf16z(l, true),
        )?;
        Ok(())
    })();
    if bcd_ok.is_ok() {
        made.push(("gen-bcd".into(), bcd));
    }
    for (name, h) in &made {
        out.put("hive", name, &h.to_bytes_at(0x01D0_0000_0000_0000));
    }
    // Transaction logs: clean image a, edited image b, the primary torn
    // halfway from a to b and marked dirty; logs in both formats.
    let mut bases: Vec<(String, Vec<u8>)> = made
        .iter()
        .map(|(n, h)| (n.clone(), h.to_bytes_at(0x01D0_0000_0000_0000)))
        .collect();
    if let Some(f) = fixtures {
        for n in ["regipy_BCD", "nt-hive_testhive"] {
            if let Ok(b) = std::fs::read(f.join("hive").join(n)) {
                bases.push((n.to_string(), b));
            }
        }
    }
    for (name, img) in bases {
        let Ok(h) = Hive::from_bytes(&img) else {
            continue;
        };
        let a = h.to_bytes_at(0x01D0_0000_0000_0000);
        let Ok(mut h2) = Hive::from_bytes(&a) else {
            continue;
        };
        if h2.create_key("NewKey\\Sub").is_err()
            || h2
                .set_value("NewKey", "v", REG_BINARY, vec![0x5A; 5000])
                .is_err()
        {
            continue;
        }
        let b = h2.to_bytes_at(0x01D0_0000_0000_0001);
        let half = 4096 + (b.len().saturating_sub(4096)) / 2 / 4096 * 4096;
        let mut torn = a.clone();
        torn.resize(torn.len().max(half), 0);
        torn[4096..half].copy_from_slice(&b[4096..half]);
        hive::log::mark_dirty(&mut torn);
        let new = hive::log::write_new_format(&a, &b);
        let old = hive::log::write_old_format(&a, &b);
        out.put(
            "hive_log",
            &format!("{name}.new"),
            &Parts::join(&[&torn, &new, &[]]),
        );
        out.put(
            "hive_log",
            &format!("{name}.old-in-log2"),
            &Parts::join(&[&torn, &[], &old]),
        );
        let mut bad = new.clone();
        let n = bad.len();
        bad[n - 10] ^= 0xFF;
        out.put(
            "hive_log",
            &format!("{name}.bad1-good2"),
            &Parts::join(&[&torn, &bad, &new]),
        );
        // Same with the "fix checksums" bit set (byte 0x1FB of the primary).
        let mut t2 = torn.clone();
        t2[0x1FB] |= 1;
        hive::base::fix_checksum(&mut t2[..512]);
        out.put(
            "hive_log",
            &format!("{name}.new.fix"),
            &Parts::join(&[&t2, &new, &[]]),
        );
    }
}

fn cab_seeds(out: &mut Out, fixtures: Option<&Path>) {
    use cab::write::{CabWriter, WriteMethod};
    let mut cabs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(f) = fixtures {
        for p in files_under(&f.join("cab")) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".cab") || name.ends_with(".msu") {
                cabs.push((name, std::fs::read(&p).expect("read fixture")));
            }
        }
    }
    let text: Vec<u8> = b"<?xml version=\"1.0\"?><assembly><package identifier=\"KB1\" releaseType=\"Update\"/></assembly>".to_vec();
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    for (name, method, checks, reserve) in [
        ("gen-none.cab", WriteMethod::None, true, false),
        ("gen-mszip.cab", WriteMethod::MsZip(6), true, false),
        ("gen-mszip-nocsum.cab", WriteMethod::MsZip(9), false, false),
        ("gen-mszip-reserve.cab", WriteMethod::MsZip(1), true, true),
    ] {
        let mut w = CabWriter::new();
        let f0 = w.folder(method);
        let f1 = w.folder(WriteMethod::None);
        w.file(f0, "update.mum", &text);
        w.file(f0, "dir\\noise.bin", &noise);
        w.file(f1, "empty.txt", b"");
        w.file(f1, "x.manifest", b"manifest");
        if !checks {
            w.without_checksums();
        }
        if reserve {
            w.reserve(20, 4, 8);
        }
        w.block_size(8192);
        cabs.push((name.to_string(), w.build()));
    }
    for (name, bytes) in &cabs {
        out.put("cab", name, bytes);
        for (i, seed) in cab_codec_seeds(bytes).into_iter().enumerate() {
            out.put("cab_codec", &format!("{name}.folder{i}"), &seed);
        }
    }
}

/// For each compressed folder of a single cabinet: typeCompress and its
/// first CFDATA blocks in the cab_codec input format. A minimal walk of
/// CFHEADER / CFFOLDER / CFDATA (MS-CAB 2.1-2.4), independent of the
/// reader under test.
fn cab_codec_seeds(d: &[u8]) -> Vec<Vec<u8>> {
    let u16_at = |o: usize| d.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        d.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut out = Vec::new();
    if d.len() < 36 || &d[..4] != b"MSCF" {
        return out;
    }
    let (Some(folders), Some(flags)) = (u16_at(26), u16_at(30)) else {
        return out;
    };
    let mut p = 36;
    let (mut rf, mut rd) = (0usize, 0usize);
    if flags & 4 != 0 {
        let (Some(rh), Some(f), Some(dd)) = (u16_at(36), d.get(38), d.get(39)) else {
            return out;
        };
        rf = *f as usize;
        rd = *dd as usize;
        p = 40 + rh as usize;
    }
    for bit in [1u16, 2] {
        if flags & bit != 0 {
            for _ in 0..2 {
                while p < d.len() && d[p] != 0 {
                    p += 1;
                }
                p += 1;
            }
        }
    }
    for f in 0..folders as usize {
        let at = p + f * (8 + rf);
        let (Some(start), Some(count), Some(tc)) = (u32_at(at), u16_at(at + 4), u16_at(at + 6))
        else {
            break;
        };
        if tc == 0 {
            continue;
        }
        let mut seed = tc.to_le_bytes().to_vec();
        let mut q = start as usize;
        for _ in 0..count.min(8) {
            let (Some(cb), Some(un)) = (u16_at(q + 4), u16_at(q + 6)) else {
                break;
            };
            let body = q + 8 + rd;
            let Some(bytes) = d.get(body..body + cb as usize) else {
                break;
            };
            seed.extend_from_slice(&(un.wrapping_sub(1)).to_le_bytes());
            seed.extend_from_slice(&cb.to_le_bytes());
            seed.extend_from_slice(bytes);
            q = body + cb as usize;
        }
        if seed.len() > 2 {
            out.push(seed);
        }
    }
    out
}

fn unattend_seeds(out: &mut Out, fixtures: Option<&Path>) {
    if let Some(f) = fixtures {
        for p in files_under(&f.join("unattend")) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            out.put("unattend", &name, &std::fs::read(&p).expect("read fixture"));
        }
    }
    // The shape Microsoft's Nano Server tooling writes (offlineServicing
    // ComputerName and OfflineAdministratorPassword, which prepare moves).
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">
  <settings pass="offlineServicing">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <ComputerName>NANO1</ComputerName>
      <OfflineUserAccounts>
        <OfflineAdministratorPassword>
          <Value>cwBlAGMAcgBlAHQATwBmAGYAbABpAG4AZQBBAGQAbQBpAG4AaQBzAHQAcgBhAHQAbwByAFAAYQBzAHMAdwBvAHIAZAA=</Value>
          <PlainText>false</PlainText>
        </OfflineAdministratorPassword>
      </OfflineUserAccounts>
    </component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <TimeZone>UTC</TimeZone>
      <!-- a comment -->
    </component>
  </settings>
</unattend>
"#;
    out.put("unattend", "generated.xml", xml.as_bytes());
}
