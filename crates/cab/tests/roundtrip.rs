//! Property test: cabinets written by the crate's writer (uncompressed and
//! MSZIP folders, any block size, optional reserve areas) read back with
//! the same names, sizes, dates, attributes and contents, through
//! `read_files` and through `extract_all`.

use cab::write::{CabWriter, WriteMethod};
use cab::Cabinet;
use proptest::prelude::*;

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        // Compressible: runs and repeats across block boundaries.
        (1usize..90_000, any::<u8>(), 1u8..20).prop_map(|(n, seed, period)| {
            (0..n)
                .map(|i| seed.wrapping_add((i % period as usize) as u8))
                .collect()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn written_cabinets_read_back(
        methods in proptest::collection::vec(prop_oneof![Just(None), (0u8..10).prop_map(Some)], 1..4),
        files in proptest::collection::vec(("[a-z]{1,8}(\\\\[a-z]{1,6}){0,2}", content(), any::<usize>()), 1..8),
        block in prop_oneof![Just(32_768usize), 1usize..32_768],
        reserve in proptest::option::of((0u16..300, 0u8..20, 0u8..20)),
    ) {
        let mut w = CabWriter::new();
        for m in &methods {
            w.folder(match m { None => WriteMethod::None, Some(l) => WriteMethod::MsZip(*l) });
        }
        let mut want = Vec::new();
        for (i, (name, data, f)) in files.iter().enumerate() {
            let name = format!("{name}{i}");
            let folder = f % methods.len();
            w.file(folder, &name, data);
            want.push((name, data.clone(), folder));
        }
        w.block_size(block);
        if let Some((h, f, d)) = reserve {
            w.reserve(h, f, d);
        }
        let bytes = w.build();
        let c = Cabinet::from_bytes("p.cab", bytes).unwrap();
        prop_assert_eq!(c.files().len(), want.len());
        for (e, (name, data, folder)) in c.files().iter().zip(&want) {
            prop_assert_eq!(&e.name, name);
            prop_assert_eq!(e.size as usize, data.len());
            prop_assert_eq!(e.folder, *folder);
            prop_assert_eq!(e.attribute_string(), "---a--");
            let t = e.datetime();
            prop_assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.second), (2024, 1, 2, 3, 4, 6));
        }
        let idx: Vec<usize> = (0..want.len()).collect();
        let got = c.read_files(&idx).unwrap();
        for (i, (_, data, _)) in want.iter().enumerate() {
            prop_assert!(&got[&i] == data, "file {} differs", i);
        }
        let tmp = tempfile::tempdir().unwrap();
        let s = c.extract_all(tmp.path().join("out")).unwrap();
        prop_assert_eq!(s.files, want.len());
        for (name, data, _) in &want {
            let p = tmp.path().join("out").join(name.replace('\\', "/"));
            prop_assert!(&std::fs::read(&p).unwrap() == data);
        }
    }
}
