//! Exporting images from one WIM into a [`WimWriter`] (wimlib
//! `export_image.c` behaviour; research notes §1.1 "Blob table",
//! "Non-solid compressed resource", "XML data").
//!
//! An exported image keeps its metadata resource and the blobs it refers
//! to, deduplicated by SHA-1 against what the destination already holds.
//! A resource whose compression format and chunk size match the
//! destination's is copied byte for byte (no recompression); anything
//! else (a different format or chunk size, a blob inside a solid
//! resource, or [`WimWriter::set_recompress`]) is decompressed, checked
//! against its SHA-1 and compressed again. The image's XML element is
//! carried over whole (name, description, counts, times, `<WINDOWS>`…),
//! renumbered, with the name or description replaced when asked.

use super::{WimWriter, GROUP_BYTES, SMALL_BLOB};
use crate::codec::CompressionType;
use crate::error::{Error, Result};
use crate::format::res_flags;
use crate::read::reshdr::ResHdr;
use crate::read::resource::{Chunk, Resource};
use crate::read::xml::Element;
use crate::read::{BlobLoc, Wim};
use crate::write::blob_table::BlobRecord;
use crate::write::resource::{write_resource, BlobReader, BlobSource};
use crate::write::xml;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

/// A blob of another WIM, decompressed chunk by chunk as it is read (so a
/// blob of any size is recompressed without being held in memory).
struct WimBlob {
    wim: Arc<Wim>,
    loc: BlobLoc,
}

/// Reads uncompressed bytes `start..end` of a resource.
struct ChunkReader<'a> {
    res: &'a Resource,
    file: &'a [u8],
    chunks: Vec<Chunk>,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
    start: u64,
    end: u64,
    path: &'a std::path::Path,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            let Some(c) = self.chunks.get(self.next) else {
                return Ok(0);
            };
            self.next += 1;
            let c_end = c.uncompressed_offset + c.uncompressed_len as u64;
            if c.uncompressed_offset >= self.end || c_end <= self.start {
                continue;
            }
            self.buf.resize(c.uncompressed_len as usize, 0);
            self.res
                .decompress_chunk(self.file, c, &mut self.buf)
                .map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e.in_file(self.path).to_string(),
                    )
                })?;
            let lo = self.start.saturating_sub(c.uncompressed_offset) as usize;
            let hi = (self.end.min(c_end) - c.uncompressed_offset) as usize;
            self.buf.truncate(hi);
            self.pos = lo;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl BlobReader for WimBlob {
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
        let res = self.wim.resource_of(&self.loc);
        let file = self.wim.part_data(res.part);
        let path = &self.wim.parts[res.part as usize].path;
        let chunks = res.chunks(file).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.in_file(path).to_string())
        })?;
        Ok(Box::new(ChunkReader {
            res,
            file,
            chunks,
            next: 0,
            buf: Vec::new(),
            pos: 0,
            start: self.loc.offset,
            end: self.loc.offset + self.loc.size,
            path,
        }))
    }

    fn describe(&self) -> String {
        format!(
            "{}: blob {}",
            self.wim.path().display(),
            crate::bytes::hex(&self.loc.hash)
        )
    }
}

/// The error for a source blob whose bytes do not match its SHA-1.
fn corrupt(src: &Wim, want: &[u8; 20], got: &[u8; 20]) -> Error {
    Error::Refused(format!(
        "{}: blob {} decompresses to data with SHA-1 {} (the source WIM is corrupt)",
        src.path().display(),
        crate::bytes::hex(want),
        crate::bytes::hex(got)
    ))
}

/// What [`WimWriter::export_image`] should call the image.
#[derive(Debug, Clone, Default)]
pub struct ExportNames<'a> {
    /// New name (default: the source image's).
    pub name: Option<&'a str>,
    /// New description (default: the source image's).
    pub description: Option<&'a str>,
}

/// The raw bytes of a whole non-solid resource in its part, bounds-checked.
fn raw_resource<'w>(src: &'w Wim, loc: &BlobLoc) -> Result<&'w [u8]> {
    let res = src.resource_of(loc);
    let data = src.part_data(res.part);
    let end = res.offset.checked_add(res.size_in_wim);
    match end {
        Some(end) if end <= data.len() as u64 => Ok(&data[res.offset as usize..end as usize]),
        _ => Err(Error::Refused(format!(
            "{}: resource at {:#x} of {} bytes runs past the end of the file ({} bytes)",
            src.parts[res.part as usize].path.display(),
            res.offset,
            res.size_in_wim,
            data.len()
        ))),
    }
}

fn set_child_text(e: &mut Element, name: &str, text: &str, after: &[&str]) {
    if let Some(c) = e
        .children
        .iter_mut()
        .find(|c| c.name.eq_ignore_ascii_case(name))
    {
        c.text = text.to_string();
        c.children.clear();
        return;
    }
    // Insert after the last of `after` present, else first.
    let pos = e
        .children
        .iter()
        .rposition(|c| after.iter().any(|a| c.name.eq_ignore_ascii_case(a)))
        .map_or(0, |p| p + 1);
    e.children.insert(pos, xml::text_element(name, text));
}

impl WimWriter {
    /// Recompress every exported resource, even one whose format and chunk
    /// size match (wimlib's `--recompress`).
    pub fn set_recompress(&mut self, on: bool) {
        self.recompress = on;
    }

    /// Give the WIM this GUID (an optimized rewrite keeps its GUID).
    pub fn set_guid(&mut self, guid: [u8; 16]) {
        self.header.guid = guid;
    }

    /// Compression format and chunk size new resources get.
    pub fn compression(&self) -> (CompressionType, u32) {
        (self.ctype, self.chunk_size)
    }

    /// Carry over the top-level XML elements of `src` that are neither
    /// images nor `TOTALBYTES` (a rewrite of the same WIM keeps them).
    pub fn keep_xml_extras(&mut self, src: &Wim) {
        for c in &src.xml.root.children {
            if !c.name.eq_ignore_ascii_case("IMAGE") && !c.name.eq_ignore_ascii_case("TOTALBYTES") {
                self.xml.children.push(c.clone());
            }
        }
    }

    /// May the resource holding `loc` be copied byte for byte?
    fn raw_copy_ok(&self, src: &Wim, loc: &BlobLoc) -> bool {
        let res = src.resource_of(loc);
        if self.recompress || res.solid || loc.offset != 0 || loc.size != res.uncompressed_size {
            return false;
        }
        // A compressed pipable resource has chunk headers and a trailing
        // chunk table: its bytes are not an ordinary resource.
        if res.pipable && res.compressed {
            return false;
        }
        if self.ctype == CompressionType::None {
            return !res.compressed;
        }
        // A resource stored raw in a WIM of the same format and chunk size
        // was stored raw because it did not shrink; one from an
        // uncompressed WIM needs compressing.
        let part = &src.parts[res.part as usize].header;
        let src_ctype = part.compression().ok();
        src_ctype == Some(self.ctype)
            && part.chunk_size == self.chunk_size
            && (!res.compressed || (res.ctype == self.ctype && res.chunk_size == self.chunk_size))
    }

    /// Copy a resource's bytes as they are; returns the new reshdr.
    fn copy_raw(&mut self, src: &Wim, loc: &BlobLoc, extra_flags: u8) -> Result<ResHdr> {
        let res = src.resource_of(loc).clone();
        let bytes = raw_resource(src, loc)?;
        let out = self.out_mut();
        let offset = out.pos;
        out.write_all(bytes)?;
        Ok(ResHdr {
            size_in_wim: res.size_in_wim,
            flags: extra_flags
                | if res.compressed {
                    res_flags::COMPRESSED
                } else {
                    0
                },
            offset,
            uncompressed_size: res.uncompressed_size,
        })
    }

    /// Store the blobs `hashes` of `src` not stored yet: raw copies where
    /// allowed; the rest decompressed and compressed again (small blobs
    /// read whole and compressed in groups, large ones streamed, all of
    /// them into one solid resource in solid mode), each checked against
    /// its SHA-1.
    fn copy_blobs(&mut self, src: &Arc<Wim>, hashes: &[[u8; 20]]) -> Result<()> {
        let mut pending: Vec<(BlobSource, u64)> = Vec::new();
        let mut pending_hashes: Vec<[u8; 20]> = Vec::new();
        let mut pending_bytes = 0u64;
        let mut queued = std::collections::HashSet::new();
        let solid = self.solid.is_some();
        for h in hashes {
            if self.index.contains_key(h) || !queued.insert(*h) {
                self.summary.deduplicated += 1;
                continue;
            }
            let loc = *src.blob(h).ok_or_else(|| {
                Error::NotFound(format!(
                    "{}: blob {} is not in the WIM (a part of a split set missing? pass it with --ref)",
                    src.path().display(),
                    crate::bytes::hex(h)
                ))
            })?;
            if !solid && self.raw_copy_ok(src, &loc) {
                let reshdr = self.copy_raw(src, &loc, 0)?;
                self.index.insert(*h, self.entries.len());
                self.entries.push(BlobRecord {
                    reshdr,
                    part_number: 1,
                    refcnt: 0,
                    hash: *h,
                });
                self.summary.blobs_written += 1;
                self.summary.bytes_written = self.summary.bytes_written.saturating_add(loc.size);
                self.summary.copied_raw += 1;
                continue;
            }
            self.summary.recompressed += 1;
            let size = loc.size;
            let streamed = BlobSource::Reader(Arc::new(WimBlob {
                wim: src.clone(),
                loc,
            }));
            if solid {
                pending.push((streamed, size));
                pending_hashes.push(*h);
            } else if self.ctype == CompressionType::None || size > SMALL_BLOB {
                let got = self.store(&streamed, size)?;
                if got != *h {
                    return Err(corrupt(src, h, &got));
                }
            } else {
                if pending_bytes + size > GROUP_BYTES {
                    self.store_group(&std::mem::take(&mut pending))?;
                    pending_bytes = 0;
                }
                // read_blob checks the SHA-1.
                pending.push((BlobSource::Bytes(Arc::new(src.read_blob(&loc)?)), size));
                pending_bytes += size;
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if solid {
            let got = self.store_solid(&pending)?;
            for (want, got) in pending_hashes.iter().zip(&got) {
                if want != got {
                    return Err(corrupt(src, want, got));
                }
            }
        } else {
            self.store_group(&pending)?;
        }
        Ok(())
    }

    /// Copy image `index` (1-based) of `src` into this WIM as a new image;
    /// returns its index here. Blobs already stored (by SHA-1) are shared.
    pub fn export_image(
        &mut self,
        src: &Arc<Wim>,
        index: u32,
        names: &ExportNames<'_>,
    ) -> Result<u32> {
        let img = src.image(index)?;
        let src_el = src.xml.image(index);
        let name = names
            .name
            .map(str::to_string)
            .or_else(|| src_el.and_then(|e| e.text_at("NAME")).map(str::to_string))
            .unwrap_or_default();
        if !name.is_empty() && self.names.contains(&name) {
            return Err(Error::Refused(format!(
                "the destination already has an image named {name:?} (choose another name)"
            )));
        }
        // Every stream occurrence counts once per link, as wimlib counts.
        let mut refs: HashMap<[u8; 20], u32> = HashMap::new();
        let mut order: Vec<[u8; 20]> = Vec::new();
        for ino in &img.inodes {
            let links = ino.links.len().max(1) as u32;
            for s in &ino.streams {
                if s.is_empty() {
                    continue;
                }
                let e = refs.entry(s.hash).or_insert_with(|| {
                    order.push(s.hash);
                    0
                });
                *e = e.saturating_add(links);
            }
        }
        self.copy_blobs(src, &order)?;
        for (h, n) in &refs {
            let idx = *self.index.get(h).ok_or_else(|| {
                Error::NotFound(format!("blob {} was not stored", crate::bytes::hex(h)))
            })?;
            self.entries[idx].refcnt = self.entries[idx].refcnt.saturating_add(*n);
        }
        // The metadata resource: raw when allowed, else re-encoded.
        let mloc = src.metadata[index as usize - 1];
        let reshdr = if self.raw_copy_ok(src, &mloc) {
            self.summary.copied_raw += 1;
            self.copy_raw(src, &mloc, res_flags::METADATA)?
        } else {
            let meta = src.read_blob(&mloc)?;
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
            self.summary.recompressed += 1;
            ResHdr {
                size_in_wim: w.size_in_wim,
                flags: res_flags::METADATA
                    | if w.compressed {
                        res_flags::COMPRESSED
                    } else {
                        0
                    },
                offset: w.offset,
                uncompressed_size: w.uncompressed_size,
            }
        };
        self.new_metadata.push(BlobRecord {
            reshdr,
            part_number: 1,
            refcnt: 1,
            hash: mloc.hash,
        });
        self.header.image_count += 1;
        let new_index = self.header.image_count;
        let mut el = match src_el {
            Some(e) => e.clone(),
            None => {
                let (dirs, files) = img.counts();
                let stats = xml::ImageStats {
                    dir_count: dirs,
                    file_count: files,
                    ..Default::default()
                };
                xml::image_element(new_index, &name, None, &stats, 0)
            }
        };
        el.attrs.retain(|(k, _)| !k.eq_ignore_ascii_case("INDEX"));
        el.attrs.insert(0, ("INDEX".into(), new_index.to_string()));
        if let Some(n) = names.name {
            set_child_text(&mut el, "NAME", n, &[]);
        }
        if let Some(d) = names.description {
            set_child_text(&mut el, "DESCRIPTION", d, &["NAME"]);
        }
        self.xml.children.push(el);
        if !name.is_empty() {
            self.names.insert(name);
        }
        Ok(new_index)
    }
}
