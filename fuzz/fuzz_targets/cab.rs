//! Cabinet reader: CFHEADER (reserve fields, set links), CFFOLDER, CFFILE,
//! CFDATA with checksums, folder decoding (stored, MSZIP, LZX, Quantum),
//! extraction of every file into a discarding sink, and the `update.mum`
//! package manifest when the cabinet has one.
//!
//! Input: the cabinet's bytes (`Cabinet::from_bytes`). At most
//! `MAX_OUTPUT` decompressed bytes are accepted per input; the sink then
//! refuses more, an ordinary error the reader must pass up.
#![no_main]

use cab::{Cabinet, FileEntry, Sink};
use libfuzzer_sys::fuzz_target;

const MAX_OUTPUT: u64 = 64 << 20;

struct Discard(u64);

impl Sink for Discard {
    fn begin(&mut self, _: &FileEntry) -> cab::Result<()> {
        Ok(())
    }
    fn data(&mut self, e: &FileEntry, b: &[u8]) -> cab::Result<()> {
        self.0 += b.len() as u64;
        if self.0 > MAX_OUTPUT {
            return Err(cab::Error::Entry {
                file: "fuzz.cab".into(),
                name: e.name.clone(),
                what: "fuzz harness: output budget exhausted".into(),
            });
        }
        Ok(())
    }
    fn end(&mut self, _: &FileEntry) -> cab::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(c) = Cabinet::from_bytes("fuzz.cab", data.to_vec()) else {
        return;
    };
    let _ = (c.folders(), c.cabinet_names(), c.warnings().len());
    for e in c.files().iter().take(1000) {
        let _ = (e.unix_time(), e.attribute_string());
        let _ = cab::extract::safe_relative_path(&e.name);
    }
    let all: Vec<usize> = (0..c.files().len().min(1000)).collect();
    let _ = c.extract_to(&all, &mut Discard(0));
    if cab::msu::looks_like_msu(&c) {
        return;
    }
    if c.find("update.mum")
        .is_some_and(|e| (e.size as u64) < MAX_OUTPUT)
    {
        let _ = cab::PackageInfo::from_cab(&c);
    }
});
