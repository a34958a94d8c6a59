//! Object identifiers for the boot entries bcdboot creates with fresh GUIDs
//! (the Windows Boot Loader and the Resume Application).
//!
//! Without a seed they are random (version 4, RFC 9562 §5.4). With a seed
//! they are drawn from a SplitMix64 stream (Steele, Lea, Flood, "Fast
//! splittable pseudorandom number generators", OOPSLA 2014) and given the
//! version-4 and variant bits, so the same seed names the same objects and
//! the store comes out byte-identical.

use uuid::Uuid;

/// A source of object GUIDs.
pub struct GuidSource {
    state: Option<u64>,
}

impl GuidSource {
    /// Seeded (deterministic) when `seed` is given, random otherwise.
    pub fn new(seed: Option<u64>) -> Self {
        GuidSource { state: seed }
    }

    fn next_u64(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next GUID.
    pub fn next_guid(&mut self) -> Uuid {
        match &mut self.state {
            None => Uuid::new_v4(),
            Some(s) => {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&Self::next_u64(s).to_le_bytes());
                b[8..].copy_from_slice(&Self::next_u64(s).to_le_bytes());
                uuid::Builder::from_random_bytes(b).into_uuid()
            }
        }
    }
}

/// `{guid}` in the lower-case braced form BCD stores use as key names.
pub fn braced(g: &Uuid) -> String {
    format!("{{{g}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_guids_repeat_and_differ_by_seed() {
        let take = |seed| {
            let mut s = GuidSource::new(Some(seed));
            [s.next_guid(), s.next_guid()]
        };
        assert_eq!(take(7), take(7));
        assert_ne!(take(7), take(8));
        let [a, b] = take(7);
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        let mut r = GuidSource::new(None);
        assert_ne!(r.next_guid(), r.next_guid());
    }
}
