//! Property tests for the structures the writer encodes and the reader
//! decodes: data runs (mapping pairs) and update sequence arrays (fixups).

use ntfs_inject::fixup::{protect, unprotect};
use ntfs_inject::runlist::{decode, encode, Run};
use proptest::prelude::*;

/// Runs with LCNs anywhere below 2^40 (so deltas of every width and sign
/// occur), sparse runs among them, lengths of 1 to 2^36 clusters.
fn runs() -> impl Strategy<Value = Vec<Run>> {
    prop::collection::vec(
        (
            prop_oneof![
                3 => (0u64..1 << 40).prop_map(Some),
                1 => Just(None),
            ],
            prop_oneof![1u64..256, 1u64..1 << 36],
        )
            .prop_map(|(lcn, len)| Run { lcn, len }),
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn runlists_round_trip(runs in runs()) {
        let vcns: u64 = runs.iter().map(|r| r.len).sum();
        let end = runs.iter().filter_map(|r| r.lcn.map(|l| l + r.len)).max().unwrap_or(0);
        let enc = encode(&runs);
        prop_assert_eq!(decode(&enc, 0, end, vcns).unwrap(), runs.clone());
        // One cluster fewer in the volume, or one VCN fewer allowed: refused.
        if end > 0 {
            prop_assert!(decode(&enc, 0, end - 1, vcns).is_err());
        }
        if vcns > 0 {
            prop_assert!(decode(&enc, 0, end, vcns - 1).is_err());
            // Without its terminator the list is refused, never misread.
            prop_assert!(decode(&enc[..enc.len() - 1], 0, end, vcns).is_err());
        }
    }

    #[test]
    fn fixups_round_trip(
        sectors in prop_oneof![Just(2usize), Just(8)],
        body in prop::collection::vec(any::<u8>(), 4096),
        usa_ofs in (0x18usize..0x40).prop_map(|o| o & !1),
        usn in any::<u16>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let len = sectors * 512;
        let mut rec = body[..len].to_vec();
        rec[4..6].copy_from_slice(&(usa_ofs as u16).to_le_bytes());
        rec[6..8].copy_from_slice(&((sectors + 1) as u16).to_le_bytes());
        let orig = rec.clone();
        protect(&mut rec, usn);
        for s in 1..=sectors {
            prop_assert_eq!(&rec[s * 512 - 2..s * 512], &usn.to_le_bytes()[..]);
        }
        let mut back = rec.clone();
        unprotect(&mut back, 0, "FILE record").unwrap();
        // Everything but the array itself comes back.
        let usa = usa_ofs..usa_ofs + 2 * (sectors + 1);
        for (i, (a, b)) in back.iter().zip(&orig).enumerate() {
            if !usa.contains(&i) {
                prop_assert_eq!(a, b, "byte {}", i);
            }
        }
        // A torn write (one stride end not carrying the USN) is detected.
        let s = 1 + flip.index(sectors);
        rec[s * 512 - 1] ^= 0x5A;
        prop_assert!(unprotect(&mut rec, 0, "FILE record").is_err());
    }
}
