//! The hot path: stream many blobs out of a WIM with every core
//! decompressing.
//!
//! Blobs are grouped by resource and resources visited in file order, so
//! the WIM is read front to back. The chunks that hold wanted data are cut
//! into windows of bounded size; a window's chunks decompress in parallel
//! (rayon, one reusable decompressor per worker thread), and the finished
//! window is handed to a consumer thread that computes SHA-1 and feeds the
//! sink while the next window decompresses. At most three windows exist at
//! once, so memory is bounded by the window size, never by blob sizes.

use crate::bytes::hex;
use crate::error::{Error, FormatError, FormatErrorKind, Result};
use crate::read::resource::Chunk;
use crate::read::{BlobLoc, Wim};
use rayon::prelude::*;
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Receives blob data, in file order. `data` is called with consecutive
/// pieces of the blob; `end` only after the blob's SHA-1 has been checked.
pub trait BlobSink: Send {
    fn begin(&mut self, blob: &BlobLoc) -> Result<()>;
    fn data(&mut self, blob: &BlobLoc, bytes: &[u8]) -> Result<()>;
    fn end(&mut self, blob: &BlobLoc) -> Result<()>;
}

/// A sink that discards data (verification).
pub struct NullSink;

impl BlobSink for NullSink {
    fn begin(&mut self, _: &BlobLoc) -> Result<()> {
        Ok(())
    }
    fn data(&mut self, _: &BlobLoc, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn end(&mut self, _: &BlobLoc) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads for decompression; 0 = one per core.
    pub threads: usize,
    /// Uncompressed bytes per window. A window also holds at least one
    /// chunk per worker thread (up to [`MAX_WINDOW_BYTES`]), so that large
    /// solid chunks still decompress in parallel.
    pub window_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 0,
            window_bytes: 4 << 20,
        }
    }
}

/// Upper bound on a window's size when it grows to give every thread a
/// chunk (solid LZMS chunks are 64 MiB each).
pub const MAX_WINDOW_BYTES: usize = 512 << 20;

/// One chunk to decompress, with the resource it belongs to.
struct Job {
    /// Index into the plan's resource list.
    group: usize,
    chunk: Chunk,
}

/// Blobs of one resource, sorted by offset.
struct Group {
    resource: u32,
    blobs: Vec<BlobLoc>,
}

/// Stream `blobs` (duplicates ignored) into `sink`, checking each SHA-1.
/// `progress` is called with the number of uncompressed bytes processed.
pub fn stream_blobs(
    wim: &Wim,
    blobs: impl IntoIterator<Item = BlobLoc>,
    sink: &mut dyn BlobSink,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let (groups, jobs) = plan(wim, blobs)?;
    // Opening the WIM and reading images (blob table, XML, metadata)
    // went through the map, and with large page-cache folios each such
    // read maps up to 2 MiB around it; none of it lies in a window's
    // released range. Drop it before streaming (plan() itself reads the
    // chunk tables with pread, see Resource::chunks_of).
    for p in &wim.parts {
        p.data.release_all();
    }
    if jobs.is_empty() {
        // Only empty blobs, if any.
        for g in &groups {
            for b in &g.blobs {
                sink.begin(b)?;
                finish_blob(wim, g, b, Sha1::new(), sink)?;
            }
        }
        return Ok(());
    }
    // The worker threads are joined before this returns, so their
    // thread-local decompressors are freed by then: a dropped rayon pool
    // only tells its threads to exit (and std::thread::scope does not wait
    // for thread-local destructors either).
    let mut workers = Vec::new();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("wim-decompress-{i}"))
        .spawn_handler(|thread| {
            let mut b = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                b = b.name(name.to_owned());
            }
            if let Some(size) = thread.stack_size() {
                b = b.stack_size(size);
            }
            workers.push(b.spawn(|| thread.run())?);
            Ok(())
        })
        .build()
        .map_err(|e| Error::Refused(format!("cannot start worker threads: {e}")))?;
    let result = run_pool(wim, &groups, &jobs, sink, opts, &pool, progress);
    drop(pool);
    for w in workers {
        // A worker that panicked already failed its job (rayon reports it).
        let _ = w.join();
    }
    result
}

/// The windowed producer/consumer hand-off of [`stream_blobs`] on `pool`.
fn run_pool(
    wim: &Wim,
    groups: &[Group],
    jobs: &[Job],
    sink: &mut dyn BlobSink,
    opts: &Options,
    pool: &rayon::ThreadPool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let windows = windows(jobs, opts.window_bytes.max(1), pool.current_num_threads());

    // A rendezvous channel: the producer hands over a finished window only
    // when the consumer takes it, so at most two windows (plus one spare
    // buffer for reuse) exist at any time.
    let (tx, rx) = sync_channel::<(usize, Vec<u8>)>(0);
    let (back_tx, back_rx) = sync_channel::<Vec<u8>>(1);
    std::thread::scope(|s| {
        let consumer =
            s.spawn(|| consume(wim, groups, jobs, &windows, rx, back_tx, sink, progress));
        let produced = produce(wim, groups, jobs, &windows, pool, tx, back_rx);
        let consumed = consumer
            .join()
            .unwrap_or_else(|_| Err(Error::Refused("blob consumer thread panicked".into())));
        // A producer error (bad chunk) is the root cause when both fail; a
        // consumer error makes the producer stop without one.
        produced.and(consumed)
    })
}

fn plan(wim: &Wim, blobs: impl IntoIterator<Item = BlobLoc>) -> Result<(Vec<Group>, Vec<Job>)> {
    let mut seen = HashSet::new();
    let mut by_res: Vec<Vec<BlobLoc>> = vec![Vec::new(); wim.resources.len()];
    for b in blobs {
        if seen.insert(b.hash) {
            by_res[b.resource as usize].push(b);
        }
    }
    let mut order: Vec<usize> = (0..by_res.len())
        .filter(|&r| !by_res[r].is_empty())
        .collect();
    order.sort_by_key(|&r| (wim.resources[r].part, wim.resources[r].offset));
    let mut groups = Vec::with_capacity(order.len());
    let mut jobs = Vec::new();
    for r in order {
        let mut list = std::mem::take(&mut by_res[r]);
        list.sort_by_key(|b| (b.offset, b.size));
        let res = &wim.resources[r];
        let part = &wim.parts[res.part as usize];
        let fe = |e: FormatError| e.in_file(&part.path);
        for w in list.windows(2) {
            if w[1].offset < w[0].offset + w[0].size {
                return Err(fe(FormatError::invalid(
                    res.offset,
                    "solid resource",
                    format!("blobs {} and {} overlap", hex(&w[0].hash), hex(&w[1].hash)),
                )));
            }
        }
        if let Some(last) = list.last() {
            if last.offset + last.size > res.uncompressed_size {
                return Err(fe(FormatError::invalid(
                    res.offset,
                    "resource",
                    format!("blob {} extends past the resource", hex(&last.hash)),
                )));
            }
        }
        let chunks = res.chunks_of(&part.data).map_err(fe)?;
        let gi = groups.len();
        // Keep only chunks that overlap a wanted blob (two-pointer walk).
        let mut bi = 0;
        for c in chunks {
            let cs = c.uncompressed_offset;
            let ce = cs + c.uncompressed_len as u64;
            while bi < list.len() && list[bi].offset + list[bi].size <= cs {
                bi += 1;
            }
            if bi < list.len() && list[bi].offset < ce && list[bi].size > 0 {
                jobs.push(Job {
                    group: gi,
                    chunk: c,
                });
            }
        }
        groups.push(Group {
            resource: r as u32,
            blobs: list,
        });
    }
    Ok((groups, jobs))
}

/// Cut jobs into windows of about `target` uncompressed bytes, each with at
/// least `min_jobs` chunks unless that would pass [`MAX_WINDOW_BYTES`].
fn windows(jobs: &[Job], target: usize, min_jobs: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, j) in jobs.iter().enumerate() {
        bytes += j.chunk.uncompressed_len as usize;
        let n = i + 1 - start;
        let next = jobs
            .get(i + 1)
            .map_or(0, |j| j.chunk.uncompressed_len as usize);
        if (bytes >= target && n >= min_jobs) || bytes + next > MAX_WINDOW_BYTES.max(target) {
            out.push(start..i + 1);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < jobs.len() {
        out.push(start..jobs.len());
    }
    out
}

fn produce(
    wim: &Wim,
    groups: &[Group],
    jobs: &[Job],
    windows: &[std::ops::Range<usize>],
    pool: &rayon::ThreadPool,
    tx: SyncSender<(usize, Vec<u8>)>,
    back: Receiver<Vec<u8>>,
) -> Result<()> {
    for (wi, w) in windows.iter().enumerate() {
        let total: usize = jobs[w.clone()]
            .iter()
            .map(|j| j.chunk.uncompressed_len as usize)
            .sum();
        let mut buf = back.try_recv().unwrap_or_default();
        buf.clear();
        // Exactly what the window needs: a recycled buffer a little too
        // small must not double.
        buf.reserve_exact(total);
        buf.resize(total, 0);
        // Split the window buffer into one slice per chunk.
        let mut slices = Vec::with_capacity(w.len());
        let mut rest = buf.as_mut_slice();
        for j in &jobs[w.clone()] {
            let (a, b) = rest.split_at_mut(j.chunk.uncompressed_len as usize);
            slices.push(a);
            rest = b;
        }
        pool.install(|| {
            jobs[w.clone()]
                .par_iter()
                .zip(slices.into_par_iter())
                .try_for_each(|(j, out)| {
                    let res = &wim.resources[groups[j.group].resource as usize];
                    let part = &wim.parts[res.part as usize];
                    res.decompress_chunk(&part.data, &j.chunk, out)
                        .map_err(|e| chunk_error(wim, &groups[j.group], &j.chunk, e))
                })
        })?;
        // Drop the compressed bytes just used from our resident set (jobs
        // are in file order, so each part's span is one range).
        let mut span: Option<(u16, u64, u64)> = None;
        for j in &jobs[w.clone()] {
            let part = wim.resources[groups[j.group].resource as usize].part;
            let (lo, hi) = (
                j.chunk.file_offset,
                j.chunk.file_offset + j.chunk.compressed_len as u64,
            );
            span = match span {
                Some((p, a, b)) if p == part => Some((p, a.min(lo), b.max(hi))),
                Some((p, a, b)) => {
                    wim.parts[p as usize].data.release(a..b);
                    Some((part, lo, hi))
                }
                None => Some((part, lo, hi)),
            };
        }
        if let Some((p, a, b)) = span {
            wim.parts[p as usize].data.release(a..b);
        }
        if tx.send((wi, buf)).is_err() {
            // The consumer stopped; its error is reported by the caller.
            return Ok(());
        }
    }
    Ok(())
}

/// Name the blob(s) a failed chunk belongs to.
fn chunk_error(wim: &Wim, g: &Group, c: &Chunk, e: FormatError) -> Error {
    let res = &wim.resources[g.resource as usize];
    let part = &wim.parts[res.part as usize];
    let cs = c.uncompressed_offset;
    let ce = cs + c.uncompressed_len as u64;
    let names: Vec<String> = g
        .blobs
        .iter()
        .filter(|b| b.offset < ce && b.offset + b.size > cs)
        .take(3)
        .map(|b| hex(&b.hash))
        .collect();
    let kind = match e.kind {
        FormatErrorKind::Decode(d) => FormatErrorKind::Invalid(format!(
            "blob {} (resource at {:#x}): chunk does not decompress: {d}",
            names.join(", "),
            res.offset
        )),
        k => k,
    };
    FormatError::new(e.offset, e.structure, kind).in_file(&part.path)
}

#[allow(clippy::too_many_arguments)]
fn consume(
    wim: &Wim,
    groups: &[Group],
    jobs: &[Job],
    windows: &[std::ops::Range<usize>],
    rx: Receiver<(usize, Vec<u8>)>,
    back: SyncSender<Vec<u8>>,
    sink: &mut dyn BlobSink,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    // Cursor: current group, next blob in it, and the running hash of the
    // blob in progress (if it has started).
    let mut gi = 0usize;
    let mut bi = 0usize;
    let mut hasher: Option<Sha1> = None;
    // Groups and blobs before the first job (all empty) are handled as the
    // cursor reaches them.
    for (wi, buf) in rx.iter() {
        let mut pos = 0usize;
        for j in &jobs[windows[wi].clone()] {
            let data = &buf[pos..pos + j.chunk.uncompressed_len as usize];
            pos += data.len();
            // Finish every group before this job's group.
            while gi < j.group {
                flush_group(wim, &groups[gi], &mut bi, &mut hasher, sink, u64::MAX)?;
                gi += 1;
                bi = 0;
            }
            let g = &groups[gi];
            let cs = j.chunk.uncompressed_offset;
            let ce = cs + data.len() as u64;
            // Blobs wholly before this chunk are empty ones (size 0).
            flush_group(wim, g, &mut bi, &mut hasher, sink, cs)?;
            while bi < g.blobs.len() && g.blobs[bi].offset < ce {
                let b = &g.blobs[bi];
                if hasher.is_none() && b.offset < cs {
                    // Its first bytes were in a chunk we never received.
                    return Err(missing_data(wim, g, b));
                }
                let h = match hasher.as_mut() {
                    Some(h) => h,
                    None => {
                        sink.begin(b)?;
                        hasher.insert(Sha1::new())
                    }
                };
                let lo = b.offset.max(cs);
                let hi = (b.offset + b.size).min(ce);
                let piece = &data[(lo - cs) as usize..(hi - cs) as usize];
                h.update(piece);
                sink.data(b, piece)?;
                if b.offset + b.size <= ce {
                    let h = hasher.take().expect("started above");
                    finish_blob(wim, g, b, h, sink)?;
                    bi += 1;
                } else {
                    break;
                }
            }
        }
        progress(buf.len() as u64);
        let _ = back.try_send(buf);
    }
    // Anything left: empty blobs at the ends of groups, or missing data.
    while gi < groups.len() {
        flush_group(wim, &groups[gi], &mut bi, &mut hasher, sink, u64::MAX)?;
        gi += 1;
        bi = 0;
    }
    Ok(())
}

/// Complete the blobs of group `g` that end at or before `upto` and need
/// no more chunk data: empty blobs, or (at the end of a group, `upto` =
/// `u64::MAX`) a blob in progress, whose hash check then tells whether all
/// of its data arrived. A non-empty blob that never received data means the
/// chunks that should hold it were missing: an error.
fn flush_group(
    wim: &Wim,
    g: &Group,
    bi: &mut usize,
    hasher: &mut Option<Sha1>,
    sink: &mut dyn BlobSink,
    upto: u64,
) -> Result<()> {
    while *bi < g.blobs.len() && g.blobs[*bi].offset + g.blobs[*bi].size <= upto {
        let b = &g.blobs[*bi];
        if b.size != 0 && hasher.is_none() {
            return Err(missing_data(wim, g, b));
        }
        if hasher.is_none() {
            sink.begin(b)?;
        }
        let h = hasher.take().unwrap_or_default();
        finish_blob(wim, g, b, h, sink)?;
        *bi += 1;
    }
    Ok(())
}

fn missing_data(wim: &Wim, g: &Group, b: &BlobLoc) -> Error {
    let res = &wim.resources[g.resource as usize];
    FormatError::invalid(
        res.offset,
        "resource",
        format!("no data was produced for blob {}", hex(&b.hash)),
    )
    .in_file(&wim.parts[res.part as usize].path)
}

fn finish_blob(wim: &Wim, g: &Group, b: &BlobLoc, h: Sha1, sink: &mut dyn BlobSink) -> Result<()> {
    let digest: [u8; 20] = h.finalize().into();
    if digest != b.hash {
        let res = &wim.resources[g.resource as usize];
        return Err(FormatError::new(
            res.offset,
            "blob",
            FormatErrorKind::HashMismatch {
                expected: hex(&b.hash),
                actual: hex(&digest),
            },
        )
        .in_file(&wim.parts[res.part as usize].path));
    }
    sink.end(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(sizes: &[u32]) -> Vec<Job> {
        let mut off = 0;
        sizes
            .iter()
            .map(|&s| {
                let c = Chunk {
                    file_offset: off,
                    compressed_len: s,
                    uncompressed_len: s,
                    uncompressed_offset: off,
                };
                off += s as u64;
                Job { group: 0, chunk: c }
            })
            .collect()
    }

    #[test]
    fn windows_cover_every_job_once_and_respect_limits() {
        let small = jobs(&[32768; 1000]);
        let w = windows(&small, 4 << 20, 2);
        assert_eq!(w.first().unwrap().start, 0);
        assert_eq!(w.last().unwrap().end, 1000);
        assert!(w.windows(2).all(|p| p[0].end == p[1].start));
        assert!(w.iter().all(|r| r.len() <= 128));
        // 64 MiB solid chunks: one per thread per window, capped.
        let big = jobs(&[64 << 20; 20]);
        let w = windows(&big, 4 << 20, 4);
        assert!(w[..w.len() - 1].iter().all(|r| r.len() == 4), "{w:?}");
        let w = windows(&big, 4 << 20, 64);
        assert!(
            w.iter().all(|r| r.len() <= MAX_WINDOW_BYTES / (64 << 20)),
            "{w:?}"
        );
        assert_eq!(w.iter().map(|r| r.len()).sum::<usize>(), 20);
        assert!(windows(&[], 1, 1).is_empty());
    }
}
