//! Opening a WIM (or a split set) and reading its structures.

pub mod blob_table;
pub mod dentry;
pub mod header;
pub mod image;
pub mod integrity;
pub mod pipable;
pub mod reshdr;
pub mod resource;
pub mod security;
pub mod xml;

use crate::bytes::hex;
use crate::codec::CompressionType;
use crate::error::{Error, FormatError, FormatErrorKind, Result};
use crate::format::{res_flags, HEADER_SIZE};
use blob_table::BlobEntry;
use header::Header;
use image::Image;
use integrity::IntegrityTable;
use reshdr::ResHdr;
use resource::Resource;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use xml::WimXml;

/// Largest blob we are willing to hold in memory at once (metadata
/// resources of real Windows images are tens of MiB).
pub const MAX_IN_MEMORY: u64 = 1 << 31;

/// The bytes of one part: memory-mapped, or owned (tests, fuzzing).
pub enum Data {
    /// The map and the file it maps (for reads that must not map pages).
    Mapped(memmap2::Mmap, std::fs::File),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Mapped(m, _) => m,
            Data::Owned(v) => v,
        }
    }
}

impl Data {
    /// Tell the kernel we are done with `range` of the file for now, so a
    /// streaming read of a huge WIM does not keep it all in our resident
    /// set. The pages stay in the page cache; touching them again simply
    /// faults them back in.
    ///
    /// The range is widened to whole pages: a page shared with bytes still
    /// to be read is only mapped again by the next read (one minor fault),
    /// whereas narrowing it would leave one page per call mapped for good.
    pub fn release(&self, range: std::ops::Range<u64>) {
        if let Data::Mapped(m, _) = self {
            const PAGE: u64 = 4096;
            let start = (range.start / PAGE) * PAGE;
            let end = range.end.min(m.len() as u64).div_ceil(PAGE) * PAGE;
            if end > start {
                // SAFETY: the mapping is private and read-only, so dropping
                // its pages cannot discard modifications; later reads see
                // the file's contents again.
                let _ = unsafe {
                    m.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start as usize,
                        (end - start) as usize,
                    )
                };
            }
        }
    }

    /// Bytes `range` of the file (which must lie inside it), read with
    /// pread(2) when the file is mapped, so that none of its pages get
    /// mapped into our resident set.
    pub fn read_unmapped(
        &self,
        range: std::ops::Range<u64>,
    ) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            Data::Mapped(_, f) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; (range.end - range.start) as usize];
                f.read_exact_at(&mut buf, range.start)?;
                Ok(std::borrow::Cow::Owned(buf))
            }
            Data::Owned(v) => Ok(std::borrow::Cow::Borrowed(
                &v[range.start as usize..range.end as usize],
            )),
        }
    }

    /// [`Data::release`] of the whole file.
    pub fn release_all(&self) {
        self.release(0..self.len() as u64);
    }
}

/// One file of a WIM set.
pub struct Part {
    pub path: PathBuf,
    pub data: Data,
    pub header: Header,
}

/// Where a blob's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLoc {
    pub resource: u32,
    /// Offset in the resource's uncompressed bytes.
    pub offset: u64,
    pub size: u64,
    pub hash: [u8; 20],
}

/// An open WIM, possibly with the other parts of its split set.
pub struct Wim {
    pub parts: Vec<Part>,
    pub resources: Vec<Resource>,
    blobs: HashMap<[u8; 20], BlobLoc>,
    /// Metadata resource of each image, in image order.
    pub metadata: Vec<BlobLoc>,
    pub xml: WimXml,
    /// Raw blob table entries of every part, with the part index.
    pub entries: Vec<(u16, BlobEntry)>,
}

impl Wim {
    /// Open a WIM file. For a split set, pass the other parts in `refs`.
    pub fn open(path: impl AsRef<Path>, refs: &[PathBuf]) -> Result<Wim> {
        let mut parts = vec![map_part(path.as_ref())?];
        for r in refs {
            if r.as_path() == path.as_ref() {
                continue;
            }
            parts.push(map_part(r)?);
        }
        Wim::from_parts(parts)
    }

    /// Read a pipable WIM from a stream that cannot seek (a pipe), e.g.
    /// `wimforge wim extract - 1 DEST`. The stream is read once, front to
    /// back, into an unlinked spool file created in `spool_dir` (so it
    /// needs as much free space there as the WIM is large), then read like
    /// a file. Only pipable WIMs are accepted, as wimlib does: an ordinary
    /// WIM's blob table comes last. `name` is used in errors.
    pub fn from_stream(
        name: impl Into<PathBuf>,
        mut input: impl std::io::Read,
        spool_dir: &Path,
    ) -> Result<Wim> {
        use std::io::Write;
        let path = name.into();
        let mut magic = [0u8; 8];
        let mut got = 0;
        while got < magic.len() {
            match input.read(&mut magic[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        if got < magic.len() {
            return Err(FormatError::truncated(0, "WIM header", 8, got as u64).in_file(&path));
        }
        if magic != crate::format::PWM_MAGIC {
            return Err(FormatError::unsupported(
                0,
                "WIM header",
                if magic == crate::format::WIM_MAGIC {
                    "an ordinary WIM cannot be read from a pipe (its blob table comes last); \
                     give its file name, or capture with --pipable"
                        .to_string()
                } else {
                    format!("not a pipable WIM (magic {magic:02x?})")
                },
            )
            .in_file(&path));
        }
        let spool = spool_dir.join(format!(".wimforge-stdin-{}.pwm", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&spool)
            .map_err(|e| Error::io(&spool, e))?;
        // Unlinked at once: the data lives as long as the mapping.
        let _ = std::fs::remove_file(&spool);
        file.write_all(&magic).map_err(|e| Error::io(&spool, e))?;
        std::io::copy(&mut input, &mut file).map_err(|e| Error::io(&path, e))?;
        // SAFETY: a private read-only mapping of our own unlinked file,
        // which nothing else can reach.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&spool, e))?;
        let header = Header::parse(&map).map_err(|e| e.in_file(&path))?;
        Wim::from_parts(vec![Part {
            path,
            data: Data::Mapped(map, file),
            header,
        }])
    }

    /// Open a WIM held in memory (fuzzing, tests). `name` is used in errors.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Wim> {
        let path = name.into();
        let header = Header::parse(&bytes).map_err(|e| e.in_file(&path))?;
        Wim::from_parts(vec![Part {
            path,
            data: Data::Owned(bytes),
            header,
        }])
    }

    fn from_parts(parts: Vec<Part>) -> Result<Wim> {
        let main = &parts[0];
        // Every part must belong to the same set, with no part twice.
        let mut seen = vec![false; main.header.total_parts as usize + 1];
        for p in &parts {
            if p.header.guid != main.header.guid {
                return Err(Error::Refused(format!(
                    "{} is not part of the same WIM set as {} (GUID {} vs {})",
                    p.path.display(),
                    main.path.display(),
                    p.header.guid_hex(),
                    main.header.guid_hex()
                )));
            }
            if p.header.total_parts != main.header.total_parts {
                return Err(Error::Refused(format!(
                    "{}: part count {} differs from {}",
                    p.path.display(),
                    p.header.total_parts,
                    main.header.total_parts
                )));
            }
            let n = p.header.part_number as usize;
            if seen[n] {
                return Err(Error::Refused(format!(
                    "{}: part {} given twice",
                    p.path.display(),
                    n
                )));
            }
            seen[n] = true;
        }
        let mut wim = Wim {
            parts,
            resources: Vec::new(),
            blobs: HashMap::new(),
            metadata: Vec::new(),
            xml: WimXml::default(),
            entries: Vec::new(),
        };
        // Image metadata and XML live in part 1.
        let first = wim
            .parts
            .iter()
            .position(|p| p.header.part_number == 1)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "part 1 of the split WIM set is missing (pass it with --ref); have {}",
                    wim.parts[0].path.display()
                ))
            })?;
        wim.parts.swap(0, first);
        for i in 0..wim.parts.len() {
            wim.load_blob_table(i as u16)?;
        }
        let p0 = &wim.parts[0];
        let xml_raw = read_reshdr(p0, &p0.header.xml, "XML data")?;
        wim.xml = WimXml::parse(&xml_raw, p0.header.xml.offset).map_err(|e| e.in_file(&p0.path))?;
        Ok(wim)
    }

    /// The part holding image metadata (part 1).
    pub fn header(&self) -> &Header {
        &self.parts[0].header
    }

    pub fn path(&self) -> &Path {
        &self.parts[0].path
    }

    pub fn image_count(&self) -> u32 {
        self.header().image_count
    }

    /// Is every part of the set present?
    pub fn missing_parts(&self) -> Vec<u16> {
        let total = self.header().total_parts;
        (1..=total)
            .filter(|n| !self.parts.iter().any(|p| p.header.part_number == *n))
            .collect()
    }

    pub fn blob(&self, hash: &[u8; 20]) -> Option<&BlobLoc> {
        self.blobs.get(hash)
    }

    pub fn blobs(&self) -> impl Iterator<Item = &BlobLoc> {
        self.blobs.values()
    }

    pub fn resource_of(&self, loc: &BlobLoc) -> &Resource {
        &self.resources[loc.resource as usize]
    }

    pub fn part_data(&self, part: u16) -> &[u8] {
        &self.parts[part as usize].data
    }

    /// Is any resource solid?
    pub fn has_solid_resources(&self) -> bool {
        self.resources.iter().any(|r| r.solid)
    }

    /// Resolve an image by 1-based index or by name.
    pub fn resolve_image(&self, spec: &str) -> Result<u32> {
        let n = self.image_count();
        if let Ok(i) = spec.trim().parse::<u32>() {
            if i >= 1 && i <= n {
                return Ok(i);
            }
            return Err(Error::NotFound(format!(
                "{}: no image {i} (the WIM has {n} image(s))",
                self.path().display()
            )));
        }
        for i in 1..=n {
            if self.xml.image(i).and_then(|e| e.text_at("NAME")) == Some(spec) {
                return Ok(i);
            }
        }
        Err(Error::NotFound(format!(
            "{}: no image named {spec:?}",
            self.path().display()
        )))
    }

    /// Read and parse image `index` (1-based).
    pub fn image(&self, index: u32) -> Result<Image> {
        let loc = index
            .checked_sub(1)
            .and_then(|i| self.metadata.get(i as usize))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{}: image {index} has no metadata resource",
                    self.path().display()
                ))
            })?;
        let meta = self.read_blob(loc)?;
        let part = &self.parts[self.resource_of(loc).part as usize];
        Image::parse(&meta).map_err(|e| {
            // Dentry offsets are relative to the metadata resource; say so.
            let res = self.resource_of(loc);
            FormatError::new(
                e.offset,
                match e.structure {
                    "dentry" => "dentry (offset within metadata resource)",
                    "extra stream entry" => "extra stream entry (offset within metadata resource)",
                    "security data" => "security data (offset within metadata resource)",
                    s => s,
                },
                match e.kind {
                    FormatErrorKind::Invalid(m) => FormatErrorKind::Invalid(format!(
                        "{m} [metadata resource of image {index} at file offset {:#x}]",
                        res.offset
                    )),
                    k => k,
                },
            )
            .in_file(&part.path)
        })
    }

    /// Read a whole blob into memory and check its SHA-1.
    pub fn read_blob(&self, loc: &BlobLoc) -> Result<Vec<u8>> {
        let res = self.resource_of(loc);
        let part = &self.parts[res.part as usize];
        let fe = |e: FormatError| e.in_file(&part.path);
        if loc.size > MAX_IN_MEMORY {
            return Err(fe(FormatError::unsupported(
                res.offset,
                "resource",
                format!(
                    "blob of {} bytes is too large to read into memory",
                    loc.size
                ),
            )));
        }
        let out = res
            .read_range(&part.data, loc.offset, loc.offset + loc.size)
            .map_err(fe)?;
        let digest: [u8; 20] = Sha1::digest(&out).into();
        if digest != loc.hash {
            return Err(fe(FormatError::new(
                res.offset,
                "blob",
                FormatErrorKind::HashMismatch {
                    expected: hex(&loc.hash),
                    actual: hex(&digest),
                },
            )));
        }
        Ok(out)
    }

    /// Check every part's integrity table, if it has one. Returns the
    /// number of parts checked.
    pub fn check_integrity(&self) -> Result<usize> {
        let mut checked = 0;
        for p in &self.parts {
            if !p.header.has_integrity() {
                continue;
            }
            let raw = read_reshdr(p, &p.header.integrity, "integrity table")?;
            let table = IntegrityTable::parse(&raw, p.header.integrity.offset)
                .map_err(|e| e.in_file(&p.path))?;
            let bt = &p.header.blob_table;
            let end = bt.offset.saturating_add(bt.size_in_wim);
            if let Err((i, off)) = table.check(&p.data, HEADER_SIZE as u64, end) {
                return Err(FormatError::new(
                    off,
                    "integrity table",
                    FormatErrorKind::Invalid(format!(
                        "chunk {i} of {} bytes does not match its stored SHA-1 (or the table does not cover {:#x}..{end:#x})",
                        table.chunk_size, HEADER_SIZE
                    )),
                )
                .in_file(&p.path));
            }
            checked += 1;
        }
        Ok(checked)
    }

    fn load_blob_table(&mut self, part_idx: u16) -> Result<()> {
        let part = &self.parts[part_idx as usize];
        let path = part.path.clone();
        let fe = |e: FormatError| e.in_file(&path);
        let hdr = part.header.clone();
        let raw = read_reshdr(part, &hdr.blob_table, "blob table")?;
        let entries =
            blob_table::parse(&raw, hdr.blob_table.offset, hdr.is_solid_version()).map_err(fe)?;
        let default_ctype = hdr.compression().map_err(fe)?;
        let file_len = part.data.len() as u64;
        let mut i = 0;
        while i < entries.len() {
            let e = &entries[i];
            if e.reshdr.is_solid() && hdr.is_pipable() {
                return Err(fe(FormatError::invalid(
                    e.entry_offset,
                    "blob table",
                    "solid resource in a pipable WIM (pipable WIMs have none)",
                )));
            }
            if e.reshdr.is_solid() {
                // A run of consecutive solid entries: resource descriptors
                // plus the blobs packed into them, at offsets within the
                // concatenation of those resources.
                let run_end = entries[i..]
                    .iter()
                    .position(|x| !x.reshdr.is_solid())
                    .map_or(entries.len(), |p| i + p);
                let mut group = Vec::new();
                for d in entries[i..run_end].iter().filter(|x| x.is_solid_resource()) {
                    group.push(self.add_solid_resource(part_idx, d)?);
                }
                let part = &self.parts[part_idx as usize];
                for b in entries[i..run_end]
                    .iter()
                    .filter(|x| !x.is_solid_resource())
                {
                    if b.hash == [0u8; 20] || b.reshdr.size_in_wim == 0 {
                        continue;
                    }
                    if b.reshdr.is_metadata() {
                        return Err(FormatError::unsupported(
                            b.entry_offset,
                            "blob table",
                            "image metadata inside a solid resource",
                        )
                        .in_file(&part.path));
                    }
                    let mut off = b.reshdr.offset;
                    let size = b.reshdr.size_in_wim;
                    let mut placed = None;
                    for &r in &group {
                        let us = self.resources[r as usize].uncompressed_size;
                        if off.checked_add(size).is_some_and(|e| e <= us) {
                            placed = Some(r);
                            break;
                        }
                        off = off.wrapping_sub(us);
                        if off > b.reshdr.offset {
                            break;
                        }
                    }
                    let r = placed.ok_or_else(|| {
                        FormatError::invalid(
                            b.entry_offset,
                            "blob table",
                            format!(
                                "blob {} ({} bytes at {}) lies outside its solid resources",
                                hex(&b.hash),
                                size,
                                b.reshdr.offset
                            ),
                        )
                        .in_file(&part.path)
                    })?;
                    if b.part_number == part.header.part_number {
                        self.blobs.entry(b.hash).or_insert(BlobLoc {
                            resource: r,
                            offset: off,
                            size,
                            hash: b.hash,
                        });
                    }
                }
                for x in &entries[i..run_end] {
                    self.entries.push((part_idx, x.clone()));
                }
                i = run_end;
                continue;
            }
            self.entries.push((part_idx, e.clone()));
            i += 1;
            let rh = e.reshdr;
            if e.hash == [0u8; 20] || rh.uncompressed_size == 0 {
                continue;
            }
            let part = &self.parts[part_idx as usize];
            if e.part_number != part.header.part_number {
                continue;
            }
            rh.check_in_file(file_len, e.entry_offset, "blob table")
                .map_err(fe)?;
            if !rh.is_compressed() && rh.size_in_wim != rh.uncompressed_size {
                return Err(fe(FormatError::invalid(
                    e.entry_offset,
                    "blob table",
                    "uncompressed resource whose stored size differs from its size",
                )));
            }
            if hdr.is_pipable() {
                pipable::check_blob_header(
                    &part.data,
                    rh.offset,
                    rh.uncompressed_size,
                    &e.hash,
                    e.entry_offset,
                )
                .map_err(fe)?;
            }
            let resource = self.resources.len() as u32;
            self.resources.push(Resource {
                part: part_idx,
                offset: rh.offset,
                size_in_wim: rh.size_in_wim,
                uncompressed_size: rh.uncompressed_size,
                compressed: rh.is_compressed(),
                solid: false,
                pipable: hdr.is_pipable(),
                ctype: if rh.is_compressed() {
                    default_ctype
                } else {
                    CompressionType::None
                },
                chunk_size: part.header.chunk_size,
            });
            if rh.is_compressed() && default_ctype == CompressionType::None {
                return Err(fe(FormatError::invalid(
                    e.entry_offset,
                    "blob table",
                    "compressed resource in a WIM whose header names no compression",
                )));
            }
            let loc = BlobLoc {
                resource,
                offset: 0,
                size: rh.uncompressed_size,
                hash: e.hash,
            };
            if rh.is_metadata() {
                if part.header.part_number != 1 || e.refcnt == 0 {
                    continue;
                }
                if self.metadata.len() < part.header.image_count as usize {
                    self.metadata.push(loc);
                }
            } else {
                self.blobs.entry(e.hash).or_insert(loc);
            }
        }
        let part = &self.parts[part_idx as usize];
        if part.header.part_number == 1 && self.metadata.len() < part.header.image_count as usize {
            return Err(FormatError::invalid(
                part.header.blob_table.offset,
                "blob table",
                format!(
                    "header says {} images but only {} metadata resources exist",
                    part.header.image_count,
                    self.metadata.len()
                ),
            )
            .in_file(&part.path));
        }
        Ok(())
    }

    fn add_solid_resource(&mut self, part_idx: u16, d: &BlobEntry) -> Result<u32> {
        let part = &self.parts[part_idx as usize];
        let fe = |e: FormatError| e.in_file(&part.path);
        let rh = d.reshdr;
        rh.check_in_file(part.data.len() as u64, d.entry_offset, "blob table")
            .map_err(fe)?;
        let b = crate::bytes::Bytes::new(
            &part.data[rh.offset as usize..(rh.offset + rh.size_in_wim) as usize],
            rh.offset,
            "solid resource header",
        );
        let usize_ = b.u64(0).map_err(fe)?;
        let chunk_size = b.u32(8).map_err(fe)?;
        let fmt = b.u32(12).map_err(fe)?;
        let ctype = CompressionType::from_solid_format(fmt)
            .ok_or_else(|| fe(b.err(12, format!("unknown compression format {fmt}"))))?;
        if !chunk_size.is_power_of_two()
            || chunk_size < 4096
            || (ctype != CompressionType::None && chunk_size as usize > ctype.max_chunk_size())
        {
            return Err(fe(b.err(
                8,
                format!("chunk size {chunk_size} is not valid for {ctype}"),
            )));
        }
        let id = self.resources.len() as u32;
        self.resources.push(Resource {
            part: part_idx,
            offset: rh.offset,
            size_in_wim: rh.size_in_wim,
            uncompressed_size: usize_,
            compressed: true,
            solid: true,
            pipable: false,
            ctype,
            chunk_size,
        });
        Ok(id)
    }
}

fn map_part(path: &Path) -> Result<Part> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the mapping is read-only and private; if another process
    // truncates the file while we read it the process may receive SIGBUS,
    // the documented limitation of reading through mmap.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    let _ = map.advise(memmap2::Advice::Sequential);
    let header = Header::parse(&map).map_err(|e| e.in_file(path))?;
    Ok(Part {
        path: path.to_path_buf(),
        data: Data::Mapped(map, file),
        header,
    })
}

/// Read a structure described by a bare resource header (blob table, XML,
/// integrity table): usually stored uncompressed, but compressed ones are
/// accepted too.
fn read_reshdr(part: &Part, rh: &ResHdr, what: &'static str) -> Result<Vec<u8>> {
    let fe = |e: FormatError| e.in_file(&part.path);
    if rh.is_empty() {
        return Ok(Vec::new());
    }
    rh.check_in_file(part.data.len() as u64, rh.offset, what)
        .map_err(fe)?;
    if rh.uncompressed_size > MAX_IN_MEMORY {
        return Err(fe(FormatError::unsupported(
            rh.offset,
            what,
            "larger than 2 GiB",
        )));
    }
    let res = Resource {
        part: 0,
        offset: rh.offset,
        size_in_wim: rh.size_in_wim,
        uncompressed_size: rh.uncompressed_size,
        compressed: rh.flags & res_flags::COMPRESSED != 0,
        solid: false,
        pipable: part.header.is_pipable(),
        ctype: if rh.flags & res_flags::COMPRESSED != 0 {
            part.header.compression().map_err(fe)?
        } else {
            CompressionType::None
        },
        chunk_size: part.header.chunk_size,
    };
    res.read_range(&part.data, 0, res.uncompressed_size)
        .map_err(fe)
}
