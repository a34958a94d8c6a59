//! Building the integrity table (wimlib `integrity.c`; research notes §1.1
//! "Integrity table"): `{u32 size, u32 num_entries, u32 chunk_size,
//! sha1[num_entries]}`, the SHA-1 of every 10 MiB chunk of the file from
//! the end of the header to the end of the blob table. Chunks are hashed
//! in parallel with positioned reads.

use crate::error::{Error, Result};
use crate::format::INTEGRITY_CHUNK_SIZE;
use rayon::prelude::*;
use sha1::{Digest, Sha1};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Hash `file[start..end)` and encode the table.
pub fn build(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    pool: &rayon::ThreadPool,
) -> Result<Vec<u8>> {
    let cs = INTEGRITY_CHUNK_SIZE as u64;
    let n = end.saturating_sub(start).div_ceil(cs);
    let hashes: Vec<Result<[u8; 20]>> = pool.install(|| {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let lo = start + i * cs;
                let hi = (lo + cs).min(end);
                let mut buf = vec![0u8; (hi - lo) as usize];
                file.read_exact_at(&mut buf, lo)
                    .map_err(|e| Error::io(path, e))?;
                Ok(Sha1::digest(&buf).into())
            })
            .collect()
    });
    encode(
        INTEGRITY_CHUNK_SIZE,
        &hashes.into_iter().collect::<Result<Vec<_>>>()?,
    )
    .map_err(|m| Error::Refused(format!("{}: {m}", path.display())))
}

/// Encode a table from its hashes.
pub fn encode(chunk_size: u32, hashes: &[[u8; 20]]) -> std::result::Result<Vec<u8>, String> {
    let size = 12 + 20 * hashes.len();
    let size32 = u32::try_from(size).map_err(|_| "integrity table too large".to_string())?;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&size32.to_le_bytes());
    out.extend_from_slice(&(hashes.len() as u32).to_le_bytes());
    out.extend_from_slice(&chunk_size.to_le_bytes());
    for h in hashes {
        out.extend_from_slice(h);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::integrity::IntegrityTable;

    #[test]
    fn table_checks_with_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let f = File::open(&p).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let raw = build(&f, &p, 208, 299_000, &pool).unwrap();
        let t = IntegrityTable::parse(&raw, 0).unwrap();
        assert_eq!(t.hashes.len(), 1);
        assert!(t.check(&data, 208, 299_000).is_ok());
        let mut bad = data.clone();
        bad[1000] ^= 1;
        assert!(t.check(&bad, 208, 299_000).is_err());
    }
}
