//! A small cabinet writer: uncompressed and MSZIP folders, optional reserve
//! areas, checksums. It exists for tests (round trips, and hostile cabinets
//! built by patching its output), not as a full FCI replacement: no LZX or
//! Quantum, no multi-cabinet sets.

use crate::data::checksum_of;
use crate::format::*;

/// How a folder is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMethod {
    None,
    /// MSZIP at the given deflate level (0..=10); every block is an
    /// independent deflate stream.
    MsZip(u8),
}

/// One file to write.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    pub folder: usize,
    pub attributes: u16,
    pub dos_date: u16,
    pub dos_time: u16,
}

/// Builds a cabinet in memory.
#[derive(Debug, Clone, Default)]
pub struct CabWriter {
    folders: Vec<WriteMethod>,
    files: Vec<FileSpec>,
    /// (cbCFHeader, cbCFFolder, cbCFData) when set.
    reserve: Option<(u16, u8, u8)>,
    /// Bytes of each CFDATA block's uncompressed data (default 32768).
    block_size: Option<usize>,
    no_checksums: bool,
}

impl CabWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a folder; returns its index.
    pub fn folder(&mut self, m: WriteMethod) -> usize {
        self.folders.push(m);
        self.folders.len() - 1
    }

    /// Add a file (its name is stored as given; date 2024-01-02 03:04:06,
    /// archive attribute).
    pub fn file(&mut self, folder: usize, name: &str, data: &[u8]) -> &mut FileSpec {
        self.files.push(FileSpec {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            folder,
            attributes: ATTR_ARCHIVE,
            dos_date: (44 << 9) | (1 << 5) | 2,
            dos_time: (3 << 11) | (4 << 5) | 3,
        });
        self.files.last_mut().expect("just pushed")
    }

    /// Write reserve areas of the given sizes (filled with a pattern).
    pub fn reserve(&mut self, header: u16, folder: u8, data: u8) -> &mut Self {
        self.reserve = Some((header, folder, data));
        self
    }

    /// Uncompressed bytes per CFDATA block (1..=32768; MSZIP and
    /// uncompressed folders allow any size).
    pub fn block_size(&mut self, n: usize) -> &mut Self {
        self.block_size = Some(n.clamp(1, MAX_BLOCK_UNCOMPRESSED));
        self
    }

    /// Store 0 (no checksum) in every CFDATA.
    pub fn without_checksums(&mut self) -> &mut Self {
        self.no_checksums = true;
        self
    }

    /// The cabinet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let (rh, rf, rd) = self.reserve.unwrap_or((0, 0, 0));
        let block = self.block_size.unwrap_or(MAX_BLOCK_UNCOMPRESSED);
        // Each folder's uncompressed stream and its files' offsets.
        let mut streams: Vec<Vec<u8>> = vec![Vec::new(); self.folders.len()];
        let mut offsets = Vec::new();
        for f in &self.files {
            let s = &mut streams[f.folder];
            offsets.push(s.len() as u32);
            s.extend_from_slice(&f.data);
        }
        let mut blocks: Vec<Vec<(Vec<u8>, u16)>> = Vec::new();
        for (s, m) in streams.iter().zip(&self.folders) {
            let mut v = Vec::new();
            for chunk in s.chunks(block) {
                let data = match m {
                    WriteMethod::None => chunk.to_vec(),
                    WriteMethod::MsZip(level) => {
                        let mut d = b"CK".to_vec();
                        d.extend(miniz_oxide::deflate::compress_to_vec(chunk, *level));
                        d
                    }
                };
                v.push((data, chunk.len() as u16));
            }
            blocks.push(v);
        }
        let mut header_len = CFHEADER_SIZE;
        if self.reserve.is_some() {
            header_len += CFHEADER_RESERVE_FIELDS + rh as usize;
        }
        let folders_len = self.folders.len() * (CFFOLDER_SIZE + rf as usize);
        let files_off = header_len + folders_len;
        let files_len: usize = self
            .files
            .iter()
            .map(|f| CFFILE_SIZE + f.name.len() + 1)
            .sum();
        let mut data_off = files_off + files_len;
        let mut folder_starts = Vec::new();
        for b in &blocks {
            folder_starts.push(data_off as u32);
            data_off += b
                .iter()
                .map(|(d, _)| CFDATA_SIZE + rd as usize + d.len())
                .sum::<usize>();
        }
        let total = data_off;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&SIGNATURE);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(files_off as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&[3, 1]);
        out.extend_from_slice(&(self.folders.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.files.len() as u16).to_le_bytes());
        let flags = if self.reserve.is_some() {
            FLAG_RESERVE_PRESENT
        } else {
            0
        };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0x1234u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        if self.reserve.is_some() {
            out.extend_from_slice(&rh.to_le_bytes());
            out.push(rf);
            out.push(rd);
            out.extend((0..rh).map(|i| i as u8 ^ 0x5A));
        }
        for ((m, b), start) in self.folders.iter().zip(&blocks).zip(&folder_starts) {
            out.extend_from_slice(&start.to_le_bytes());
            out.extend_from_slice(&(b.len() as u16).to_le_bytes());
            let t = match m {
                WriteMethod::None => COMP_NONE,
                WriteMethod::MsZip(_) => COMP_MSZIP,
            };
            out.extend_from_slice(&t.to_le_bytes());
            out.extend((0..rf).map(|i| i ^ 0xA5));
        }
        for (f, off) in self.files.iter().zip(&offsets) {
            out.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&(f.folder as u16).to_le_bytes());
            out.extend_from_slice(&f.dos_date.to_le_bytes());
            out.extend_from_slice(&f.dos_time.to_le_bytes());
            out.extend_from_slice(&f.attributes.to_le_bytes());
            out.extend_from_slice(&f.name);
            out.push(0);
        }
        for b in &blocks {
            for (d, n) in b {
                let mut sizes = [0u8; 4];
                sizes[..2].copy_from_slice(&(d.len() as u16).to_le_bytes());
                sizes[2..].copy_from_slice(&n.to_le_bytes());
                let csum = if self.no_checksums {
                    0
                } else {
                    checksum_of(&sizes, checksum_of(d, 0))
                };
                out.extend_from_slice(&csum.to_le_bytes());
                out.extend_from_slice(&sizes);
                out.extend((0..rd).map(|i| i ^ 0x3C));
                out.extend_from_slice(d);
            }
        }
        debug_assert_eq!(out.len(), total);
        out
    }
}
