//! Property test: transaction-log write -> recovery round trip. A random
//! clean hive `a` is edited randomly into `b`; the primary is torn (a random
//! prefix of `b`'s pages reached it) and marked dirty; recovering it with a
//! log in either format, in LOG1 or LOG2, must give exactly `b`'s hive bins
//! and tree.

use hive::value::{REG_BINARY, REG_DWORD, REG_SZ};
use hive::Hive;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Edit {
    Key(u8, u8),
    Value(u8, u8, usize),
    Delete(u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u8..12, 0u8..12).prop_map(|(a, b)| Edit::Key(a, b)),
        // Up to 20 KiB: big data (db) cells in format 1.5.
        (0u8..12, 0u8..4, 0usize..20_000).prop_map(|(k, v, n)| Edit::Value(k, v, n)),
        (0u8..12).prop_map(Edit::Delete),
    ]
}

fn apply(h: &mut Hive, e: &Edit) {
    match *e {
        Edit::Key(a, b) => {
            h.create_key(&format!("k{a}\\s{b}")).unwrap();
        }
        Edit::Value(k, v, n) => {
            let (t, data) = match v {
                0 => (REG_DWORD, n.to_le_bytes()[..4].to_vec()),
                1 => (REG_SZ, hive::value::utf16z(&"x".repeat(n % 300), true)),
                _ => (
                    REG_BINARY,
                    (0..n).map(|i| (i * 7 + v as usize) as u8).collect(),
                ),
            };
            h.set_value(&format!("k{k}"), &format!("v{v}"), t, data)
                .unwrap();
        }
        Edit::Delete(k) => {
            let _ = h.delete_key(&format!("k{k}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn logs_replay_to_the_edited_hive(
        minor in prop_oneof![Just(3u32), Just(5u32)],
        setup in prop::collection::vec(edit(), 0..12),
        edits in prop::collection::vec(edit(), 1..12),
        torn_at in 0.0f64..1.0,
        old_format in any::<bool>(),
        in_log2 in any::<bool>(),
    ) {
        let mut h = Hive::new(minor, "ROOT");
        for e in &setup {
            apply(&mut h, e);
        }
        let a = h.to_bytes_at(0x01D0_0000_0000_0000);
        let mut h = Hive::from_bytes(&a).unwrap();
        for e in &edits {
            apply(&mut h, e);
        }
        let b = h.to_bytes_at(0x01D0_0000_0000_0001);
        let pages = (b.len() - 4096) / 4096;
        let cut = 4096 + ((pages as f64 * torn_at) as usize) * 4096;
        let mut torn = a.clone();
        torn.resize(torn.len().max(cut), 0);
        torn[4096..cut].copy_from_slice(&b[4096..cut]);
        hive::log::mark_dirty(&mut torn);
        let log = if old_format {
            hive::log::write_old_format(&a, &b)
        } else {
            hive::log::write_new_format(&a, &b)
        };
        let logs: [&[u8]; 2] = if in_log2 { [b"", &log] } else { [&log, b""] };
        let (img, _) = hive::log::recover(&torn, &logs).unwrap().expect("dirty hive is recovered");
        prop_assert!(img.len() == b.len(), "recovered {} bytes, expected {}", img.len(), b.len());
        prop_assert!(img[4096..] == b[4096..], "recovered hive bins differ from the edited image");
        let back = Hive::from_bytes_with_logs(&torn, &logs).unwrap();
        prop_assert!(back.recovered.is_some());
        prop_assert!(back.root == Hive::from_bytes(&b).unwrap().root);
    }
}
