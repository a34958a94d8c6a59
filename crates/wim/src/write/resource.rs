//! Writing resources (wimlib `resource.c` header comment; research notes
//! §1.1 "Non-solid compressed resource").
//!
//! An uncompressed resource is the blob's bytes. A compressed non-solid
//! resource is a chunk table of `n − 1` offsets (u32, or u64 when the blob
//! is 4 GiB or larger) of chunks 1..n relative to the end of the table,
//! followed by the chunks, each compressed on its own; a chunk that does
//! not shrink is stored raw. If the whole resource would not be smaller
//! than the blob, it is written uncompressed instead.
//!
//! Chunks are compressed in parallel on a rayon pool, a batch at a time,
//! and written in order: the bytes never depend on the thread count.

use crate::codec::CompressionType;
use crate::error::{Error, Result};
use rayon::prelude::*;
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// A chunk compressor for one format. One instance is used by one thread
/// at a time and reused for many chunks.
pub trait Compressor: Send {
    /// Compress one whole chunk into `out` (cleared first). Return
    /// `Some(len)` with `len == out.len() < input.len()` when the chunk
    /// shrank, or `None` to have it stored raw.
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize>;
}

/// Makes one [`Compressor`] per worker.
pub type CompressorFactory = Arc<dyn Fn() -> Box<dyn Compressor> + Send + Sync>;

/// A factory whose compressors are reused: rayon asks for a fresh one per
/// job (`map_init`), many times per resource, while building one means
/// allocating and zeroing its tables (hundreds of KiB for XPRESS and LZX,
/// hundreds of MiB for solid LZMS). A compressor handed out returns to the
/// factory's free list when dropped, so at most as many exist as ran at
/// the same time. Output does not change: every compressor resets its
/// state per chunk.
pub fn pooled<F>(make: F) -> CompressorFactory
where
    F: Fn() -> Box<dyn Compressor> + Send + Sync + 'static,
{
    let free: Arc<std::sync::Mutex<Vec<Box<dyn Compressor>>>> = Arc::default();
    Arc::new(move || {
        let reused = free.lock().ok().and_then(|mut f| f.pop());
        Box::new(Pooled {
            inner: Some(reused.unwrap_or_else(&make)),
            home: Arc::clone(&free),
        }) as Box<dyn Compressor>
    })
}

/// A compressor on loan from a [`pooled`] factory.
struct Pooled {
    inner: Option<Box<dyn Compressor>>,
    home: Arc<std::sync::Mutex<Vec<Box<dyn Compressor>>>>,
}

impl Compressor for Pooled {
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        self.inner.as_mut()?.compress(input, out)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut free)) = (self.inner.take(), self.home.lock()) {
            free.push(c);
        }
    }
}

/// Where a blob's bytes come from.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// A file on the host, read when the blob is written.
    File(PathBuf),
    /// Bytes in memory (reparse data, metadata resources).
    Bytes(Arc<Vec<u8>>),
    /// Any other source that can be opened as a stream (a file inside an
    /// NTFS volume image, for example), read when the blob is written.
    Reader(Arc<dyn BlobReader>),
}

/// A blob whose bytes are produced by a reader opened on demand (the
/// [`BlobSource::Reader`] variant). `open` may be called more than once
/// (a compressed resource that does not shrink is written again raw);
/// each call must yield the same bytes from the start.
pub trait BlobReader: Send + Sync {
    /// A reader positioned at the blob's first byte.
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>>;
    /// What the blob is, for error messages (e.g. `vol.img:/a/b.txt`).
    fn describe(&self) -> String;
}

impl std::fmt::Debug for dyn BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobReader({})", self.describe())
    }
}

impl BlobSource {
    pub(crate) fn open(&self) -> Result<Box<dyn Read + '_>> {
        Ok(match self {
            BlobSource::File(p) => Box::new(super::capture::open_regular(p).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::Refused(format!(
                        "{}: removed while being captured (it was there when the tree was \
                         scanned)",
                        p.display()
                    ))
                } else {
                    Error::io(p, e)
                }
            })?),
            BlobSource::Bytes(b) => Box::new(&b[..]),
            BlobSource::Reader(r) => r.open().map_err(|e| Error::io(r.describe(), e))?,
        })
    }

    /// The file it names, for error messages.
    pub fn describe(&self) -> String {
        match self {
            BlobSource::File(p) => p.display().to_string(),
            BlobSource::Bytes(_) => "(in-memory data)".into(),
            BlobSource::Reader(r) => r.describe(),
        }
    }

    pub(crate) fn io_err(&self, e: std::io::Error) -> Error {
        match self {
            BlobSource::File(p) => Error::io(p, e),
            BlobSource::Bytes(_) => Error::io("(in-memory data)", e),
            BlobSource::Reader(r) => Error::io(r.describe(), e),
        }
    }
}

/// A buffered output file that knows its position.
pub struct Out {
    pub w: BufWriter<File>,
    pub pos: u64,
    pub path: PathBuf,
}

impl Out {
    pub fn new(file: File, pos: u64, path: PathBuf) -> Self {
        Out {
            w: BufWriter::with_capacity(1 << 20, file),
            pos,
            path,
        }
    }

    pub fn write_all(&mut self, b: &[u8]) -> Result<()> {
        self.w.write_all(b).map_err(|e| Error::io(&self.path, e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    pub fn seek_to(&mut self, pos: u64) -> Result<()> {
        self.w
            .seek(SeekFrom::Start(pos))
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos = pos;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.w.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// How resources are written.
#[derive(Clone)]
pub struct ResourceSpec<'a> {
    pub ctype: CompressionType,
    pub chunk_size: u32,
    /// Required unless `ctype` is `None`.
    pub compressor: Option<&'a CompressorFactory>,
    pub pool: &'a rayon::ThreadPool,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub offset: u64,
    pub size_in_wim: u64,
    pub uncompressed_size: u64,
    pub compressed: bool,
    pub hash: [u8; 20],
}

/// Read exactly `buf.len()` bytes unless the source ends first; returns
/// the count read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) fn changed(src: &BlobSource, expected: u64) -> Error {
    Error::Refused(format!(
        "{}: changed while being captured (expected {expected} bytes)",
        src.describe()
    ))
}

/// Write the blob from `src` (which must hold exactly `size` bytes) at the
/// current position of `out`.
pub fn write_resource(
    out: &mut Out,
    src: &BlobSource,
    size: u64,
    spec: &ResourceSpec<'_>,
) -> Result<Written> {
    let offset = out.pos;
    if spec.ctype != CompressionType::None && size > 0 {
        if let Some(w) = write_compressed(out, src, size, spec)? {
            return Ok(w);
        }
        out.seek_to(offset)?;
    }
    let hash = write_raw(out, src, size)?;
    Ok(Written {
        offset,
        size_in_wim: size,
        uncompressed_size: size,
        compressed: false,
        hash,
    })
}

fn write_raw(out: &mut Out, src: &BlobSource, size: u64) -> Result<[u8; 20]> {
    let mut r = src.open()?;
    let mut h = Sha1::new();
    let mut buf = vec![0u8; (size.min(1 << 20) as usize).max(1)];
    let mut done = 0u64;
    loop {
        let n = read_full(&mut *r, &mut buf).map_err(|e| src.io_err(e))?;
        if n == 0 {
            break;
        }
        done += n as u64;
        if done > size {
            return Err(changed(src, size));
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    if done != size {
        return Err(changed(src, size));
    }
    Ok(h.finalize().into())
}

/// Write a chunked compressed resource; `None` (with `out` somewhere past
/// `offset`) when it would not be smaller than the blob.
fn write_compressed(
    out: &mut Out,
    src: &BlobSource,
    size: u64,
    spec: &ResourceSpec<'_>,
) -> Result<Option<Written>> {
    let factory = spec
        .compressor
        .ok_or_else(|| Error::Refused(format!("no {} compressor available", spec.ctype)))?;
    let offset = out.pos;
    let cs = spec.chunk_size as u64;
    let n = size.div_ceil(cs);
    let entry = if size > u32::MAX as u64 { 8u64 } else { 4 };
    let table_len = (n - 1) * entry;
    out.write_all(&vec![0u8; table_len as usize])?;
    // Batches of about 1 MiB (at least 2 chunks per worker), up to
    // `IN_FLIGHT` of them queued on the pool at once: while the workers
    // compress, the calling thread (not a worker) reads and hashes ahead,
    // and a worker that finishes its part of one batch moves on to the
    // next, so neither reading nor the tail of a batch idles the pool.
    const IN_FLIGHT: usize = 3;
    let per_batch = (spec.pool.current_num_threads() as u64 * 2).max((1 << 20) / cs);
    let batch_bytes = per_batch * cs;
    let batches = size.div_ceil(batch_bytes) as usize;
    let mut r = src.open()?;
    let mut h = Sha1::new();
    let bufs: Vec<std::sync::Mutex<Vec<u8>>> = (0..IN_FLIGHT.min(batches))
        .map(|_| std::sync::Mutex::new(vec![0u8; batch_bytes.min(size) as usize]))
        .collect();
    let mut ends: Vec<u64> = Vec::with_capacity(n as usize);
    let mut data_len = 0u64;
    type Compressed = Vec<Option<Vec<u8>>>;
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Compressed)>();
    let lock = |k: usize| {
        bufs[k % bufs.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    };
    spec.pool.in_place_scope(|s| -> Result<()> {
        let mut ready: std::collections::BTreeMap<usize, Compressed> = Default::default();
        let (mut done, mut queued, mut written) = (0u64, 0usize, 0usize);
        while written < batches {
            while queued < batches && queued - written < bufs.len() {
                let want = ((size - done).min(batch_bytes)) as usize;
                {
                    let mut b = lock(queued);
                    let got = read_full(&mut *r, &mut b[..want]).map_err(|e| src.io_err(e))?;
                    if got != want {
                        return Err(changed(src, size));
                    }
                    h.update(&b[..want]);
                }
                let (buf, tx, k) = (&bufs[queued % bufs.len()], tx.clone(), queued);
                s.spawn(move |_| {
                    let b = buf.lock().unwrap_or_else(|p| p.into_inner());
                    let chunks: Vec<&[u8]> = b[..want].chunks(cs as usize).collect();
                    let res = compress_chunks(&chunks, factory, spec.pool);
                    drop(chunks);
                    drop(b);
                    // The receiver outlives the scope.
                    let _ = tx.send((k, res));
                });
                done += want as u64;
                queued += 1;
            }
            while !ready.contains_key(&written) {
                let (k, res) = rx
                    .recv()
                    .map_err(|_| Error::Refused("a compression worker died".into()))?;
                ready.insert(k, res);
            }
            let res = ready.remove(&written).expect("present");
            let b = lock(written);
            let got = ((size - written as u64 * batch_bytes).min(batch_bytes)) as usize;
            for (chunk, c) in b[..got].chunks(cs as usize).zip(&res) {
                let bytes: &[u8] = c.as_deref().unwrap_or(chunk);
                out.write_all(bytes)?;
                data_len += bytes.len() as u64;
                ends.push(data_len);
            }
            written += 1;
        }
        Ok(())
    })?;
    // The source must end here.
    if read_full(&mut *r, &mut [0u8; 1]).map_err(|e| src.io_err(e))? != 0 {
        return Err(changed(src, size));
    }
    if table_len + data_len >= size {
        return Ok(None);
    }
    let end = out.pos;
    let mut table = Vec::with_capacity(table_len as usize);
    for &e in &ends[..ends.len() - 1] {
        if entry == 8 {
            table.extend_from_slice(&e.to_le_bytes());
        } else {
            table.extend_from_slice(&(e as u32).to_le_bytes());
        }
    }
    out.seek_to(offset)?;
    out.write_all(&table)?;
    out.seek_to(end)?;
    Ok(Some(Written {
        offset,
        size_in_wim: end - offset,
        uncompressed_size: size,
        compressed: true,
        hash: h.finalize().into(),
    }))
}

/// Compress the chunks of several in-memory blobs in one parallel pass
/// (many small files then keep every worker busy). Returns, per blob, one
/// entry per chunk: the compressed bytes, or `None` to store it raw.
pub fn compress_blobs(
    blobs: &[&[u8]],
    spec: &ResourceSpec<'_>,
) -> Result<Vec<Vec<Option<Vec<u8>>>>> {
    let factory = spec
        .compressor
        .ok_or_else(|| Error::Refused(format!("no {} compressor available", spec.ctype)))?;
    let cs = spec.chunk_size as usize;
    let jobs: Vec<(usize, &[u8])> = blobs
        .iter()
        .enumerate()
        .flat_map(|(b, d)| d.chunks(cs).map(move |c| (b, c)))
        .collect();
    let chunks: Vec<&[u8]> = jobs.iter().map(|&(_, c)| c).collect();
    let results = compress_chunks(&chunks, factory, spec.pool);
    let mut out: Vec<Vec<Option<Vec<u8>>>> = blobs.iter().map(|_| Vec::new()).collect();
    for ((b, _), r) in jobs.iter().zip(results) {
        out[*b].push(r);
    }
    Ok(out)
}

/// Write an in-memory blob whose chunks were compressed by
/// [`compress_blobs`]: chunk table and chunks, or the raw bytes when that
/// would not be smaller (the same bytes [`write_resource`] writes).
pub fn write_precompressed(
    out: &mut Out,
    data: &[u8],
    chunks: &[Option<Vec<u8>>],
    chunk_size: u32,
    hash: [u8; 20],
) -> Result<Written> {
    let offset = out.pos;
    let size = data.len() as u64;
    let raw_chunks: Vec<&[u8]> = data.chunks(chunk_size as usize).collect();
    let entry = if size > u32::MAX as u64 { 8u64 } else { 4 };
    let n = raw_chunks.len() as u64;
    let table_len = n.saturating_sub(1) * entry;
    let lens: Vec<u64> = raw_chunks
        .iter()
        .zip(chunks)
        .map(|(r, c)| c.as_ref().map_or(r.len(), Vec::len) as u64)
        .collect();
    let data_len: u64 = lens.iter().sum();
    if chunks.len() != raw_chunks.len() || size == 0 || table_len + data_len >= size {
        out.write_all(data)?;
        return Ok(Written {
            offset,
            size_in_wim: size,
            uncompressed_size: size,
            compressed: false,
            hash,
        });
    }
    let mut table = Vec::with_capacity(table_len as usize);
    let mut end = 0u64;
    for l in &lens[..lens.len() - 1] {
        end += l;
        if entry == 8 {
            table.extend_from_slice(&end.to_le_bytes());
        } else {
            table.extend_from_slice(&(end as u32).to_le_bytes());
        }
    }
    out.write_all(&table)?;
    for (r, c) in raw_chunks.iter().zip(chunks) {
        out.write_all(c.as_deref().unwrap_or(r))?;
    }
    Ok(Written {
        offset,
        size_in_wim: table_len + data_len,
        uncompressed_size: size,
        compressed: true,
        hash,
    })
}

/// Compress `chunks` in parallel on `pool`, one compressor per worker from
/// `factory`; `None` for a chunk that does not shrink (it is stored raw).
/// The result depends only on the chunks, not on the thread count.
pub(crate) fn compress_chunks(
    chunks: &[&[u8]],
    factory: &CompressorFactory,
    pool: &rayon::ThreadPool,
) -> Vec<Option<Vec<u8>>> {
    pool.install(|| {
        chunks
            .par_iter()
            .map_init(
                || factory(),
                |c, chunk| {
                    let mut v = Vec::with_capacity(chunk.len());
                    match c.compress(chunk, &mut v) {
                        Some(k) if k < chunk.len() && k == v.len() => Some(v),
                        _ => None,
                    }
                },
            )
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::resource::Resource;

    /// Not a real format: a marker byte, then the input without its zero
    /// bytes. Enough to check the chunk table and the raw-chunk rule, not
    /// decodable by any reader.
    struct DropZeros;
    impl Compressor for DropZeros {
        fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
            out.clear();
            out.push(0xAA);
            out.extend(input.iter().copied().filter(|&b| b != 0));
            (out.len() < input.len()).then_some(out.len())
        }
    }

    fn write_with(threads: usize, data: &[u8], cs: u32) -> (Written, Vec<u8>) {
        let src = BlobSource::Bytes(Arc::new(data.to_vec()));
        write_src(threads, &src, data.len() as u64, cs)
    }

    fn write_src(threads: usize, src: &BlobSource, size: u64, cs: u32) -> (Written, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let f = File::create(&p).unwrap();
        let mut out = Out::new(f, 0, p.clone());
        out.write_all(b"prefix").unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let factory: CompressorFactory = Arc::new(|| Box::new(DropZeros) as Box<dyn Compressor>);
        let spec = ResourceSpec {
            ctype: CompressionType::Xpress,
            chunk_size: cs,
            compressor: Some(&factory),
            pool: &pool,
        };
        let w = write_resource(&mut out, src, size, &spec).unwrap();
        out.flush().unwrap();
        drop(out);
        (w, std::fs::read(&p).unwrap())
    }

    /// Hands out its bytes 7 at a time, to exercise short reads.
    struct Trickle(Vec<u8>);
    struct TrickleRead<'a>(&'a [u8]);
    impl Read for TrickleRead<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    impl BlobReader for Trickle {
        fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
            Ok(Box::new(TrickleRead(&self.0)))
        }
        fn describe(&self) -> String {
            "trickle".into()
        }
    }

    #[test]
    fn reader_sources_write_the_same_bytes_as_memory() {
        // Compressible (zeros) and incompressible (the raw rewrite opens
        // the reader a second time).
        for data in [
            vec![0u8; 10_000],
            (0..10_000u32).map(|i| (i % 251 + 1) as u8).collect(),
        ] {
            let (wa, fa) = write_with(2, &data, 4096);
            let src = BlobSource::Reader(Arc::new(Trickle(data.clone())));
            let (wb, fb) = write_src(2, &src, data.len() as u64, 4096);
            assert_eq!(wa, wb);
            assert_eq!(fa, fb);
            assert_eq!(src.describe(), "trickle");
            // A reader that ends early is a clear error, not a short blob.
            let short = BlobSource::Reader(Arc::new(Trickle(data[..9_000].to_vec())));
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("r");
            let mut out = Out::new(File::create(&p).unwrap(), 0, p.clone());
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let spec = ResourceSpec {
                ctype: CompressionType::None,
                chunk_size: 4096,
                compressor: None,
                pool: &pool,
            };
            let e = write_resource(&mut out, &short, 10_000, &spec).unwrap_err();
            assert!(e.to_string().contains("trickle"), "{e}");
        }
    }

    #[test]
    fn chunk_table_matches_the_reader_and_raw_chunks_stay_raw() {
        let cs = 4096u32;
        // Chunk 0 and 2 shrink (zeros), chunk 1 does not (no zeros), chunk
        // 3 is a short tail.
        let mut data = vec![0u8; 4096];
        data.extend((0..4096u32).map(|i| (i % 255 + 1) as u8));
        data.extend(vec![0u8; 2048].into_iter().chain((0..2048).map(|_| 7u8)));
        data.extend(vec![0u8; 100]);
        let (w, file) = write_with(2, &data, cs);
        assert!(w.compressed);
        assert_eq!(w.offset, 6);
        let res = Resource {
            part: 0,
            offset: w.offset,
            size_in_wim: w.size_in_wim,
            uncompressed_size: w.uncompressed_size,
            compressed: true,
            solid: false,
            pipable: false,
            ctype: CompressionType::Xpress,
            chunk_size: cs,
        };
        let chunks = res.chunks(&file).unwrap();
        assert_eq!(chunks.len(), 4);
        for (i, c) in chunks.iter().enumerate() {
            let raw = &data[c.uncompressed_offset as usize..][..c.uncompressed_len as usize];
            let stored = &file[c.file_offset as usize..][..c.compressed_len as usize];
            let mut exp = Vec::new();
            match DropZeros.compress(raw, &mut exp) {
                Some(_) => assert_eq!(stored, &exp[..], "chunk {i}"),
                None => assert_eq!(stored, raw, "chunk {i} stored raw"),
            }
        }
        assert!(chunks[1].is_stored());
        assert_eq!(w.hash, <[u8; 20]>::from(Sha1::digest(&data)));
        // Same bytes whatever the thread count.
        assert_eq!(write_with(1, &data, cs).1, file);
    }

    #[test]
    fn incompressible_blobs_are_written_uncompressed() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 255 + 1) as u8).collect();
        let (w, file) = write_with(2, &data, 4096);
        assert!(!w.compressed);
        assert_eq!(w.size_in_wim, data.len() as u64);
        // (Bytes of the abandoned compressed attempt may follow; the
        // writer truncates the file when it finishes.)
        assert_eq!(&file[6..6 + data.len()], &data[..]);
    }

    #[test]
    fn grouped_and_streamed_writes_give_the_same_bytes() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let factory: CompressorFactory = Arc::new(|| Box::new(DropZeros) as Box<dyn Compressor>);
        let spec = ResourceSpec {
            ctype: CompressionType::Xpress,
            chunk_size: 4096,
            compressor: Some(&factory),
            pool: &pool,
        };
        let mut compressible = vec![0u8; 9000];
        compressible[5000] = 3;
        let incompressible: Vec<u8> = (0..5000u32).map(|i| (i % 250 + 1) as u8).collect();
        for data in [compressible, incompressible, vec![0u8; 10]] {
            let dir = tempfile::tempdir().unwrap();
            let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
            let mut a = Out::new(File::create(&pa).unwrap(), 0, pa.clone());
            let wa = write_resource(
                &mut a,
                &BlobSource::Bytes(Arc::new(data.clone())),
                data.len() as u64,
                &spec,
            )
            .unwrap();
            let end = a.pos;
            a.flush().unwrap();
            let mut b = Out::new(File::create(&pb).unwrap(), 0, pb.clone());
            let chunks = compress_blobs(&[&data[..]], &spec).unwrap();
            let wb = write_precompressed(&mut b, &data, &chunks[0], 4096, wa.hash).unwrap();
            b.flush().unwrap();
            assert_eq!(wa, wb);
            assert_eq!(b.pos, end);
            // (the streamed file may hold an abandoned attempt past `end`)
            assert!(std::fs::read(&pa).unwrap()[..end as usize] == std::fs::read(&pb).unwrap()[..]);
        }
    }
}
