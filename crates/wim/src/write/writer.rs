//! [`WimWriter`]: creates a WIM or appends images to one.
//!
//! Everything goes to a temporary file beside the destination, which is
//! renamed over it only once complete and synced; a failure or an
//! interruption leaves the destination as it was (the temporary file is
//! removed on error or drop). Appending copies the existing file's
//! resources into the temporary file first, keeping their offsets, then
//! adds the new resources, blob table, XML and integrity table.

use super::blob_table::{self, BlobRecord};
use super::header::encode_header;
use super::metadata::ImageTree;
use super::pipable;
use super::resource::{
    compress_blobs, write_precompressed, write_resource, BlobSource, CompressorFactory, Out,
    ResourceSpec,
};
use super::solid::{hash_source, write_solid, SolidBlob, DEFAULT_SOLID_CHUNK_SIZE};
use super::xml;
use crate::codec::CompressionType;
use crate::error::{Error, Result};
use crate::format::{
    hdr_flags, res_flags, HEADER_SIZE, PWM_MAGIC, VERSION_DEFAULT, VERSION_SOLID, WIM_MAGIC,
};
use crate::read::header::Header;
use crate::read::reshdr::ResHdr;
use crate::read::xml::Element;
use crate::read::Wim;
use sha1::{Digest, Sha1};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod export;
pub use export::ExportNames;

/// Default chunk size of non-solid resources (what Microsoft's tools use).
pub const DEFAULT_CHUNK_SIZE: u32 = 32 * 1024;

/// Blobs up to this size are read whole and compressed in groups...
const SMALL_BLOB: u64 = 1 << 20;
/// ...of up to this many bytes, so trees of small files use every worker.
const GROUP_BYTES: u64 = 16 << 20;

/// How to write.
#[derive(Clone)]
pub struct WriteOptions {
    /// Compression of new resources. Anything but `None` needs `compressor`.
    pub compression: CompressionType,
    /// Chunk size of compressed resources (0: [`DEFAULT_CHUNK_SIZE`]).
    pub chunk_size: u32,
    pub compressor: Option<CompressorFactory>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Write an integrity table (always kept when appending to a WIM that
    /// has one).
    pub integrity: bool,
    /// Deterministic mode: the XML times are this Unix time and the GUID
    /// is derived from it, so the same input gives the same bytes.
    pub fixed_time: Option<i64>,
    /// Set the header's `RP_FIX` flag (images captured with reparse point
    /// fixups). Appending keeps the existing WIM's flag.
    pub rp_fix: bool,
    /// Pack the file data of each added image into one LZMS solid
    /// resource (the WIM becomes version 0xE00); metadata resources stay
    /// non-solid with `compression`.
    pub solid: bool,
    /// Chunk size of solid resources (0: [`DEFAULT_SOLID_CHUNK_SIZE`]).
    pub solid_chunk_size: u32,
    /// LZMS compressor for solid chunks (default: [`super::lzms_factory`]
    /// at the default level for the solid chunk size).
    pub solid_compressor: Option<CompressorFactory>,
    /// Write a wimlib pipable WIM (`WLPWM` magic; can be applied from a
    /// pipe by `wimlib-imagex apply -`). Not with `solid`. The resources
    /// are staged in the ordinary layout and re-framed at
    /// [`WimWriter::finish`], so the output needs twice its size on disk
    /// while being written.
    pub pipable: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: CompressionType::None,
            chunk_size: 0,
            compressor: None,
            threads: 0,
            integrity: false,
            fixed_time: None,
            rp_fix: false,
            solid: false,
            solid_chunk_size: 0,
            solid_compressor: None,
            pipable: false,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Default)]
pub struct WriteSummary {
    pub image_count: u32,
    /// Blobs stored by this writer.
    pub blobs_written: u64,
    /// Uncompressed bytes of those blobs.
    pub bytes_written: u64,
    /// Streams whose blob was already stored (by SHA-1).
    pub deduplicated: u64,
    /// Resources copied byte for byte from another WIM (export).
    pub copied_raw: u64,
    /// Resources of another WIM decompressed and compressed again (export).
    pub recompressed: u64,
    /// Size of the finished file.
    pub file_size: u64,
    pub warnings: Vec<String>,
}

pub struct WimWriter {
    final_path: PathBuf,
    tmp_path: PathBuf,
    out: Option<Out>,
    pool: rayon::ThreadPool,
    ctype: CompressionType,
    chunk_size: u32,
    compressor: Option<CompressorFactory>,
    /// Solid mode: chunk size and compressor of the solid resources.
    solid: Option<(u32, CompressorFactory)>,
    header: Header,
    integrity: bool,
    fixed_time: Option<i64>,
    /// Blob table entries in the order they will be written.
    entries: Vec<BlobRecord>,
    /// SHA-1 → index in `entries`, for non-metadata blobs.
    index: HashMap<[u8; 20], usize>,
    /// New metadata records (written after the existing entries, before
    /// the new blobs).
    new_metadata: Vec<BlobRecord>,
    first_new_entry: usize,
    xml: Element,
    names: HashSet<String>,
    summary: WriteSummary,
    /// Export: recompress resources even when they could be copied raw.
    recompress: bool,
    /// Write the pipable layout at finish.
    pipable: bool,
    finished: bool,
}

fn tmp_name(path: &Path) -> PathBuf {
    super::temp::temp_path(path)
}

/// Remove temporary files of `path` left by killed writers; one warning
/// per file removed.
fn clean_stale(path: &Path) -> Vec<String> {
    super::temp::remove_stale_temps(path)
        .into_iter()
        .map(|p| format!("removed {} left by an interrupted write", p.display()))
        .collect()
}

fn random_guid() -> Result<[u8; 16]> {
    let mut g = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut g))
        .map_err(|e| Error::io("/dev/urandom", e))?;
    Ok(g)
}

fn now_filetime(fixed: Option<i64>) -> u64 {
    match fixed {
        Some(t) => super::unix_to_filetime(t, 0),
        None => {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            super::unix_to_filetime(d.as_secs() as i64, d.subsec_nanos())
        }
    }
}

fn build_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Refused(format!("cannot start worker threads: {e}")))
}

fn check_chunk_size(ctype: CompressionType, cs: u32) -> Result<()> {
    if ctype != CompressionType::None
        && (!cs.is_power_of_two()
            || (cs as usize) < ctype.min_chunk_size()
            || cs as usize > ctype.max_chunk_size())
    {
        return Err(Error::Refused(format!(
            "chunk size {cs} is not valid for {ctype} (a power of two from {} to {})",
            ctype.min_chunk_size(),
            ctype.max_chunk_size()
        )));
    }
    Ok(())
}

/// The solid chunk size and compressor `opts` ask for, if solid.
fn solid_setup(opts: &WriteOptions) -> Result<Option<(u32, CompressorFactory)>> {
    if !opts.solid {
        return Ok(None);
    }
    let cs = if opts.solid_chunk_size == 0 {
        DEFAULT_SOLID_CHUNK_SIZE
    } else {
        opts.solid_chunk_size
    };
    check_chunk_size(CompressionType::Lzms, cs)?;
    let f = match &opts.solid_compressor {
        Some(f) => f.clone(),
        None => super::lzms_factory(cs, Default::default())
            .ok_or_else(|| Error::Refused(format!("no LZMS compressor for {cs}-byte chunks")))?,
    };
    Ok(Some((cs, f)))
}

impl WimWriter {
    /// Start a new WIM that will replace `path` when finished.
    pub fn create(path: impl AsRef<Path>, opts: WriteOptions) -> Result<WimWriter> {
        let path = path.as_ref();
        let ctype = opts.compression;
        let chunk_size = if opts.chunk_size == 0 {
            DEFAULT_CHUNK_SIZE
        } else {
            opts.chunk_size
        };
        check_chunk_size(ctype, chunk_size)?;
        if opts.pipable && opts.solid {
            // wimlib refuses this too ("Solid compression is unsupported
            // in pipable WIMs"): a pipable WIM has one resource per blob.
            return Err(Error::Refused(
                "solid resources cannot be written to a pipable WIM (wimlib refuses this as well)"
                    .into(),
            ));
        }
        let solid = solid_setup(&opts)?;
        if ctype != CompressionType::None && opts.compressor.is_none() {
            return Err(Error::Refused(format!(
                "{ctype} compression is not supported yet"
            )));
        }
        let guid = match opts.fixed_time {
            Some(t) => {
                let d = Sha1::digest(format!("wimforge deterministic GUID {t}"));
                let mut g = [0u8; 16];
                g.copy_from_slice(&d[..16]);
                g
            }
            None => random_guid()?,
        };
        let rp = if opts.rp_fix { hdr_flags::RP_FIX } else { 0 };
        let flags = rp
            | match ctype {
                CompressionType::None => 0,
                CompressionType::Xpress => hdr_flags::COMPRESSION | hdr_flags::COMPRESS_XPRESS,
                CompressionType::Lzx => hdr_flags::COMPRESSION | hdr_flags::COMPRESS_LZX,
                CompressionType::Lzms => hdr_flags::COMPRESSION | hdr_flags::COMPRESS_LZMS,
            };
        let header = Header {
            magic: if opts.pipable { PWM_MAGIC } else { WIM_MAGIC },
            version: if ctype == CompressionType::Lzms || solid.is_some() {
                VERSION_SOLID
            } else {
                VERSION_DEFAULT
            },
            flags,
            chunk_size: if ctype == CompressionType::None {
                0
            } else {
                chunk_size
            },
            guid,
            part_number: 1,
            total_parts: 1,
            image_count: 0,
            blob_table: ResHdr::default(),
            xml: ResHdr::default(),
            boot_metadata: ResHdr::default(),
            boot_index: 0,
            integrity: ResHdr::default(),
        };
        let stale = clean_stale(path);
        let tmp_path = tmp_name(path);
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| Error::io(&tmp_path, e))?;
        let mut w = WimWriter {
            final_path: path.to_path_buf(),
            tmp_path: tmp_path.clone(),
            out: Some(Out::new(file, 0, tmp_path)),
            pool: build_pool(opts.threads)?,
            ctype,
            chunk_size,
            compressor: opts.compressor,
            solid,
            header,
            integrity: opts.integrity,
            fixed_time: opts.fixed_time,
            entries: Vec::new(),
            index: HashMap::new(),
            new_metadata: Vec::new(),
            first_new_entry: 0,
            xml: xml::empty_root(),
            names: HashSet::new(),
            summary: WriteSummary {
                warnings: stale,
                ..Default::default()
            },
            recompress: false,
            pipable: opts.pipable,
            finished: false,
        };
        w.out_mut().write_all(&[0u8; HEADER_SIZE])?;
        Ok(w)
    }

    /// Start adding images to the existing WIM at `path`. New resources
    /// use the WIM's own compression format and chunk size (with
    /// `opts.compressor` when `opts.compression` names that format, else
    /// our own compressor for it); when no compressor for it exists they
    /// are stored uncompressed (valid in any WIM), with a warning in the
    /// summary.
    pub fn append_to(path: impl AsRef<Path>, opts: WriteOptions) -> Result<WimWriter> {
        let path = path.as_ref();
        let wim = Wim::open(path, &[])?;
        if wim.header().is_pipable() || opts.pipable {
            return Err(Error::Refused(format!(
                "{}: appending to a pipable WIM, or making a WIM pipable by appending, is not supported (wimlib refuses it too); capture or export to a new file",
                path.display()
            )));
        }
        let mut h = wim.header().clone();
        let solid = solid_setup(&opts)?;
        if solid.is_some() {
            h.version = VERSION_SOLID;
        }
        if h.total_parts != 1 {
            return Err(Error::Refused(format!(
                "{}: appending to a split WIM is not supported",
                path.display()
            )));
        }
        let ctype = h.compression().map_err(|e| e.in_file(path))?;
        let mut warnings = Vec::new();
        // The caller's compressor only if it was made for this format and
        // chunk size (LZX's window depends on the chunk size).
        let opts_chunk = if opts.chunk_size == 0 {
            DEFAULT_CHUNK_SIZE
        } else {
            opts.chunk_size
        };
        let compressor = match ctype {
            CompressionType::None => None,
            t => opts
                .compressor
                .clone()
                .filter(|_| opts.compression == t && opts_chunk == h.chunk_size)
                .or_else(|| super::compressor_for_chunk_size(t, h.chunk_size)),
        };
        if compressor.is_none() && ctype != CompressionType::None {
            warnings.push(format!(
                "no {ctype} compressor yet: the new image's data is stored uncompressed"
            ));
        }
        // Keep every resource: copy the file up to the first of blob
        // table, XML and integrity table, unless a resource lies beyond
        // that (then copy it all).
        let file_len = wim.parts[0].data.len() as u64;
        let mut cut = file_len;
        for r in [&h.blob_table, &h.xml, &h.integrity] {
            if !r.is_empty() && r.offset >= HEADER_SIZE as u64 {
                cut = cut.min(r.offset);
            }
        }
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        for (_, e) in &wim.entries {
            let in_solid_run = e.reshdr.is_solid() && !e.is_solid_resource();
            if !in_solid_run {
                let end = e.reshdr.offset.saturating_add(e.reshdr.size_in_wim);
                if end > cut && e.reshdr.size_in_wim > 0 {
                    cut = file_len;
                }
            }
            let rec = BlobRecord {
                reshdr: e.reshdr,
                part_number: e.part_number,
                refcnt: e.refcnt,
                hash: e.hash,
            };
            if !e.reshdr.is_metadata() && !e.is_solid_resource() && e.hash != [0; 20] {
                index.entry(e.hash).or_insert(entries.len());
            }
            entries.push(rec);
        }
        let names: HashSet<String> = (1..=h.image_count)
            .filter_map(|i| wim.xml.image(i).and_then(|e| e.text_at("NAME")))
            .map(str::to_string)
            .collect();
        let xml_root = if wim.xml.root.name.is_empty() {
            xml::empty_root()
        } else {
            wim.xml.root.clone()
        };
        drop(wim);

        warnings.extend(clean_stale(path));
        let tmp_path = tmp_name(path);
        let mut file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| Error::io(&tmp_path, e))?;
        let copy = (|| -> std::io::Result<u64> {
            let src = File::open(path)?;
            std::io::copy(&mut src.take(cut), &mut file)
        })();
        match copy {
            Ok(n) if n == cut => {}
            Ok(_) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(Error::Refused(format!(
                    "{}: file shrank while being read",
                    path.display()
                )));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(Error::io(path, e));
            }
        }
        let integrity = opts.integrity || h.has_integrity();
        let first_new_entry = entries.len();
        Ok(WimWriter {
            final_path: path.to_path_buf(),
            tmp_path: tmp_path.clone(),
            out: Some(Out::new(file, cut, tmp_path)),
            pool: build_pool(opts.threads)?,
            ctype: if compressor.is_some() {
                ctype
            } else {
                CompressionType::None
            },
            chunk_size: h.chunk_size,
            compressor,
            solid,
            header: h,
            integrity,
            fixed_time: opts.fixed_time,
            entries,
            index,
            new_metadata: Vec::new(),
            first_new_entry,
            xml: xml_root,
            names,
            summary: WriteSummary {
                warnings,
                ..Default::default()
            },
            recompress: false,
            pipable: false,
            finished: false,
        })
    }

    fn out_mut(&mut self) -> &mut Out {
        self.out.as_mut().expect("writer used after finish")
    }

    fn spec(&self) -> ResourceSpec<'_> {
        ResourceSpec {
            ctype: self.ctype,
            chunk_size: self.chunk_size,
            compressor: self.compressor.as_ref(),
            pool: &self.pool,
        }
    }

    /// Store one blob unless a blob with the same SHA-1 is already stored
    /// (then the bytes just written are rewound). Returns its hash.
    fn store(&mut self, src: &BlobSource, size: u64) -> Result<[u8; 20]> {
        if let BlobSource::Bytes(b) = src {
            let h: [u8; 20] = Sha1::digest(&b[..]).into();
            if self.index.contains_key(&h) {
                self.summary.deduplicated += 1;
                return Ok(h);
            }
        }
        let mut out = self.out.take().expect("writer used after finish");
        let start = out.pos;
        let r = write_resource(&mut out, src, size, &self.spec());
        self.out = Some(out);
        let w = r?;
        if self.index.contains_key(&w.hash) {
            self.out_mut().seek_to(start)?;
            self.summary.deduplicated += 1;
            return Ok(w.hash);
        }
        self.index.insert(w.hash, self.entries.len());
        self.entries.push(BlobRecord {
            reshdr: ResHdr {
                size_in_wim: w.size_in_wim,
                flags: if w.compressed {
                    res_flags::COMPRESSED
                } else {
                    0
                },
                offset: w.offset,
                uncompressed_size: w.uncompressed_size,
            },
            part_number: 1,
            refcnt: 0,
            hash: w.hash,
        });
        self.summary.blobs_written += 1;
        self.summary.bytes_written += size;
        Ok(w.hash)
    }

    /// Store a group of small blobs: read them whole, deduplicate by SHA-1,
    /// compress all their chunks in one parallel pass, write them in order.
    /// The bytes written are those [`Self::store`] would write one by one.
    fn store_group(&mut self, items: &[(BlobSource, u64)]) -> Result<Vec<[u8; 20]>> {
        let mut datas = Vec::with_capacity(items.len());
        for (src, size) in items {
            let d: Arc<Vec<u8>> = match src {
                BlobSource::Bytes(b) => b.clone(),
                BlobSource::File(_) | BlobSource::Reader(_) => {
                    let mut d = Vec::with_capacity(*size as usize);
                    // One byte more than expected shows a file that grew.
                    src.open()?
                        .take(size.saturating_add(1))
                        .read_to_end(&mut d)
                        .map_err(|e| src.io_err(e))?;
                    Arc::new(d)
                }
            };
            if d.len() as u64 != *size {
                return Err(Error::Refused(format!(
                    "{}: changed while being captured (expected {size} bytes)",
                    src.describe()
                )));
            }
            datas.push(d);
        }
        let hashes: Vec<[u8; 20]> = self.pool.install(|| {
            use rayon::prelude::*;
            datas
                .par_iter()
                .map(|d| Sha1::digest(&d[..]).into())
                .collect()
        });
        let mut seen = HashSet::new();
        let new: Vec<usize> = (0..items.len())
            .filter(|&k| !self.index.contains_key(&hashes[k]) && seen.insert(hashes[k]))
            .collect();
        self.summary.deduplicated += (items.len() - new.len()) as u64;
        let blobs: Vec<&[u8]> = new.iter().map(|&k| &datas[k][..]).collect();
        let compressed = compress_blobs(&blobs, &self.spec())?;
        let chunk_size = self.chunk_size;
        for (&k, chunks) in new.iter().zip(&compressed) {
            let w = write_precompressed(self.out_mut(), &datas[k], chunks, chunk_size, hashes[k])?;
            self.index.insert(w.hash, self.entries.len());
            self.entries.push(BlobRecord {
                reshdr: ResHdr {
                    size_in_wim: w.size_in_wim,
                    flags: if w.compressed {
                        res_flags::COMPRESSED
                    } else {
                        0
                    },
                    offset: w.offset,
                    uncompressed_size: w.uncompressed_size,
                },
                part_number: 1,
                refcnt: 0,
                hash: w.hash,
            });
            self.summary.blobs_written += 1;
            self.summary.bytes_written += w.uncompressed_size;
        }
        Ok(hashes)
    }

    /// Store blobs in one solid resource: hash them all (in parallel),
    /// drop those already stored or repeated, pack the rest.
    fn store_solid(&mut self, items: &[(BlobSource, u64)]) -> Result<Vec<[u8; 20]>> {
        let Some((cs, factory)) = self.solid.clone() else {
            return Err(Error::Refused("not writing solid resources".into()));
        };
        let hashes: Vec<[u8; 20]> = self.pool.install(|| {
            use rayon::prelude::*;
            items
                .par_iter()
                .map(|(src, size)| hash_source(src, *size))
                .collect::<Result<Vec<_>>>()
        })?;
        let mut seen = HashSet::new();
        let new: Vec<SolidBlob> = items
            .iter()
            .zip(&hashes)
            .filter(|(_, h)| !self.index.contains_key(*h) && seen.insert(**h))
            .map(|((src, size), h)| SolidBlob {
                src: src.clone(),
                size: *size,
                hash: *h,
            })
            .collect();
        self.summary.deduplicated += (items.len() - new.len()) as u64;
        if new.is_empty() {
            return Ok(hashes);
        }
        let mut out = self.out.take().expect("writer used after finish");
        let r = write_solid(
            &mut out,
            &new,
            CompressionType::Lzms,
            cs,
            &factory,
            &self.pool,
        );
        self.out = Some(out);
        let w = r?;
        let records = w.records(&new, 1);
        // Entry 0 is the resource descriptor; blob k is entry k + 1.
        let base = self.entries.len();
        for (k, b) in new.iter().enumerate() {
            self.index.insert(b.hash, base + 1 + k);
            self.summary.blobs_written += 1;
            self.summary.bytes_written = self.summary.bytes_written.saturating_add(b.size);
        }
        self.entries.extend(records);
        Ok(hashes)
    }

    /// Add an image: store its streams' data (deduplicated by SHA-1), then
    /// its metadata resource and XML entry. Returns its 1-based index.
    pub fn add_image(
        &mut self,
        mut tree: ImageTree,
        name: &str,
        description: Option<&str>,
    ) -> Result<u32> {
        if self.names.contains(name) {
            return Err(Error::Refused(format!(
                "the WIM already has an image named {name:?}"
            )));
        }
        tree.validate()?;
        // Streams with data to store, in tree order.
        let mut jobs: Vec<(usize, usize, BlobSource, u64)> = Vec::new();
        for (i, ino) in tree.inodes.iter_mut().enumerate() {
            for (s, st) in ino.streams.iter_mut().enumerate() {
                if st.size == 0 {
                    st.hash = [0; 20];
                } else if let Some(src) = &st.source {
                    jobs.push((i, s, src.clone(), st.size));
                }
            }
        }
        if self.solid.is_some() {
            let items: Vec<(BlobSource, u64)> = jobs
                .iter()
                .map(|(_, _, src, size)| (src.clone(), *size))
                .collect();
            let hashes = self.store_solid(&items)?;
            for ((i, s, _, _), h) in jobs.iter().zip(hashes) {
                tree.inodes[*i].streams[*s].hash = h;
            }
            jobs.clear();
        }
        let mut j = 0;
        while j < jobs.len() {
            let small = |k: usize| self.ctype != CompressionType::None && jobs[k].3 <= SMALL_BLOB;
            if !small(j) {
                let (i, s, ref src, size) = jobs[j];
                tree.inodes[i].streams[s].hash = self.store(src, size)?;
                j += 1;
                continue;
            }
            let mut end = j;
            let mut total = 0;
            while end < jobs.len() && small(end) && (end == j || total + jobs[end].3 <= GROUP_BYTES)
            {
                total += jobs[end].3;
                end += 1;
            }
            let group: Vec<(BlobSource, u64)> = jobs[j..end]
                .iter()
                .map(|(_, _, src, size)| (src.clone(), *size))
                .collect();
            let hashes = self.store_group(&group)?;
            for (k, h) in (j..end).zip(hashes) {
                let (i, s, _, _) = jobs[k];
                tree.inodes[i].streams[s].hash = h;
            }
            j = end;
        }
        let links = tree.link_counts();
        for (ino, &n) in tree.inodes.iter().zip(&links) {
            for s in &ino.streams {
                if s.size == 0 || s.hash == [0; 20] {
                    continue;
                }
                let idx = *self.index.get(&s.hash).ok_or_else(|| {
                    Error::NotFound(format!(
                        "stream {} refers to a blob that is not stored",
                        crate::bytes::hex(&s.hash)
                    ))
                })?;
                self.entries[idx].refcnt = self.entries[idx].refcnt.saturating_add(n);
            }
        }
        let meta = tree.encode()?;
        let size = meta.len() as u64;
        let mut out = self.out.take().expect("writer used after finish");
        let r = write_resource(
            &mut out,
            &BlobSource::Bytes(Arc::new(meta)),
            size,
            &self.spec(),
        );
        self.out = Some(out);
        let w = r?;
        self.new_metadata.push(BlobRecord {
            reshdr: ResHdr {
                size_in_wim: w.size_in_wim,
                flags: res_flags::METADATA
                    | if w.compressed {
                        res_flags::COMPRESSED
                    } else {
                        0
                    },
                offset: w.offset,
                uncompressed_size: w.uncompressed_size,
            },
            part_number: 1,
            refcnt: 1,
            hash: w.hash,
        });
        self.header.image_count += 1;
        let index = self.header.image_count;
        let time = now_filetime(self.fixed_time);
        // New images go after the existing ones, before the top-level
        // TOTALBYTES (rewritten at finish).
        self.xml.children.push(xml::image_element(
            index,
            name,
            description,
            &tree.stats(),
            time,
        ));
        self.names.insert(name.to_string());
        Ok(index)
    }

    /// Mark image `index` bootable (0: none).
    pub fn set_boot_index(&mut self, index: u32) -> Result<()> {
        if index > self.header.image_count {
            return Err(Error::NotFound(format!(
                "no image {index} to mark bootable (the WIM has {})",
                self.header.image_count
            )));
        }
        self.header.boot_index = index;
        Ok(())
    }

    pub fn image_count(&self) -> u32 {
        self.header.image_count
    }

    /// Does the WIM carry `RP_FIX` (so new images should be captured with
    /// reparse point fixups, as wimlib decides for an append)?
    pub fn rp_fix(&self) -> bool {
        self.header.flags & hdr_flags::RP_FIX != 0
    }

    /// Write the blob table, XML data and integrity table, then the
    /// header, sync, and rename the temporary file over the destination.
    pub fn finish(mut self) -> Result<WriteSummary> {
        // Entry order: existing entries, new metadata, new blobs.
        let new_blobs = self.entries.split_off(self.first_new_entry);
        let mut entries = std::mem::take(&mut self.entries);
        entries.extend(self.new_metadata.iter().copied());
        entries.extend(new_blobs);
        if self.pipable {
            return self.finish_pipable(entries);
        }
        let table = blob_table::encode(&entries);

        let out = self.out_mut();
        let bt_off = out.pos;
        out.write_all(&table)?;
        let raw = |offset: u64, len: u64, flags: u8| ResHdr {
            size_in_wim: len,
            flags,
            offset,
            uncompressed_size: len,
        };
        // wimlib marks the blob table and XML reshdrs with the METADATA flag.
        self.header.blob_table = raw(bt_off, table.len() as u64, res_flags::METADATA);
        let xml_off = self.out_mut().pos;
        xml::set_total_bytes(&mut self.xml, xml_off);
        let doc = xml::encode_document(&self.xml);
        self.out_mut().write_all(&doc)?;
        self.header.xml = raw(xml_off, doc.len() as u64, res_flags::METADATA);
        self.header.integrity = ResHdr::default();
        if self.integrity {
            let out = self.out.as_mut().expect("present");
            out.flush()?;
            let table = super::integrity::build(
                out.w.get_ref(),
                &out.path,
                HEADER_SIZE as u64,
                bt_off + table.len() as u64,
                &self.pool,
            )?;
            let off = out.pos;
            out.write_all(&table)?;
            self.header.integrity = raw(off, table.len() as u64, 0);
        }
        self.header.boot_metadata = self.boot_reshdr(&entries)?;
        self.header.flags &= !hdr_flags::WRITE_IN_PROGRESS;
        let end = self.out_mut().pos;
        let hdr = encode_header(&self.header);
        let out = self.out_mut();
        out.seek_to(0)?;
        out.write_all(&hdr)?;
        out.flush()?;
        let path = out.path.clone();
        let file = out.w.get_ref();
        file.set_len(end).map_err(|e| Error::io(&path, e))?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        self.out = None;
        let tmp = self.tmp_path.clone();
        self.publish(&tmp, end)
    }

    /// The boot image's metadata resource header (none for index 0).
    fn boot_reshdr(&self, entries: &[BlobRecord]) -> Result<ResHdr> {
        if self.header.boot_index == 0 {
            return Ok(ResHdr::default());
        }
        entries
            .iter()
            .filter(|e| e.reshdr.is_metadata())
            .nth(self.header.boot_index as usize - 1)
            .map(|e| e.reshdr)
            .ok_or_else(|| Error::NotFound("boot image has no metadata".into()))
    }

    /// Rename the complete, synced file `tmp` (`end` bytes) over the
    /// destination and sync its directory.
    fn publish(&mut self, tmp: &Path, end: u64) -> Result<WriteSummary> {
        if let Err(e) = std::fs::rename(tmp, &self.final_path) {
            if tmp != self.tmp_path {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(Error::io(&self.final_path, e));
        }
        if let Some(dir) = self.final_path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.finished = true;
        let mut s = std::mem::take(&mut self.summary);
        s.image_count = self.header.image_count;
        s.file_size = end;
        Ok(s)
    }

    /// Finish a pipable WIM: the staged file (ordinary layout, header
    /// still blank) is re-framed into a second temporary file in the
    /// pipable layout, which replaces the destination.
    fn finish_pipable(mut self, mut entries: Vec<BlobRecord>) -> Result<WriteSummary> {
        let mut staged = self.out.take().expect("writer used after finish");
        staged.flush()?;
        let staged_path = staged.path.clone();
        let file = staged
            .w
            .into_inner()
            .map_err(|e| Error::io(&staged_path, e.into_error()))?;
        // SAFETY: a private read-only mapping of our own temporary file,
        // which nothing else writes while it is mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&staged_path, e))?;
        let pwm_path = {
            let mut p = self.tmp_path.clone().into_os_string();
            p.push(".pwm");
            PathBuf::from(p)
        };
        let r = self.write_pipable_file(&map, &mut entries, &pwm_path);
        drop(map);
        drop(file);
        let _ = std::fs::remove_file(&self.tmp_path);
        match r {
            Ok(end) => self.publish(&pwm_path, end),
            Err(e) => {
                let _ = std::fs::remove_file(&pwm_path);
                Err(e)
            }
        }
    }

    /// Write the pipable layout (wimlib `write.c`, `write_pipable_wim`):
    /// header with empty resource headers, XML data without the top-level
    /// TOTALBYTES, metadata resources, file resources, blob table, XML
    /// data, optional integrity table, and the complete header at the end.
    /// Returns the file size.
    fn write_pipable_file(
        &mut self,
        staged: &[u8],
        entries: &mut [BlobRecord],
        path: &Path,
    ) -> Result<u64> {
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let mut out = Out::new(file, 0, path.to_path_buf());
        self.header.flags &= !hdr_flags::WRITE_IN_PROGRESS;
        let mut first = self.header.clone();
        first.blob_table = ResHdr::default();
        first.xml = ResHdr::default();
        first.boot_metadata = ResHdr::default();
        first.integrity = ResHdr::default();
        out.write_all(&encode_header(&first))?;
        let mut early = self.xml.clone();
        early
            .children
            .retain(|c| !c.name.eq_ignore_ascii_case("TOTALBYTES"));
        pipable::write_plain(&mut out, &xml::encode_document(&early), res_flags::METADATA)?;
        for metadata in [true, false] {
            for e in entries
                .iter_mut()
                .filter(|e| e.reshdr.is_metadata() == metadata && e.reshdr.uncompressed_size != 0)
            {
                e.reshdr = pipable::copy_reframed(
                    &mut out,
                    staged,
                    &e.reshdr,
                    &e.hash,
                    self.ctype,
                    self.chunk_size,
                )?;
            }
        }
        let table = blob_table::encode(entries);
        let bt = pipable::write_plain(&mut out, &table, res_flags::METADATA)?;
        self.header.blob_table = bt;
        xml::set_total_bytes(&mut self.xml, out.pos);
        let doc = xml::encode_document(&self.xml);
        self.header.xml = pipable::write_plain(&mut out, &doc, res_flags::METADATA)?;
        self.header.integrity = ResHdr::default();
        if self.integrity {
            out.flush()?;
            let t = super::integrity::build(
                out.w.get_ref(),
                path,
                HEADER_SIZE as u64,
                bt.offset + bt.size_in_wim,
                &self.pool,
            )?;
            let off = out.pos;
            out.write_all(&t)?;
            self.header.integrity = ResHdr {
                size_in_wim: t.len() as u64,
                flags: 0,
                offset: off,
                uncompressed_size: t.len() as u64,
            };
        }
        self.header.boot_metadata = self.boot_reshdr(entries)?;
        out.write_all(&encode_header(&self.header))?;
        out.flush()?;
        let end = out.pos;
        out.w.get_ref().sync_all().map_err(|e| Error::io(path, e))?;
        Ok(end)
    }
}

impl Drop for WimWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.out = None;
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}
