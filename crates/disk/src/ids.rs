//! Identifiers of a new disk: disk GUID, partition GUIDs, MBR disk
//! signature, FAT volume id, NTFS serial. Either random, or derived from a
//! seed so that the same seed gives the same disk byte for byte.

use sha1::{Digest, Sha1};
use uuid::Uuid;

/// Where new identifiers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSource {
    /// The operating system's random generator (v4 GUIDs).
    Random,
    /// SHA-1 of (`seed`, purpose): the same seed and purpose always give
    /// the same value; different purposes give unrelated values.
    Seeded(u64),
}

impl IdSource {
    /// `Seeded(seed)` when a seed is given, `Random` otherwise.
    pub fn from_seed(seed: Option<u64>) -> Self {
        seed.map_or(IdSource::Random, IdSource::Seeded)
    }

    fn bytes(&self, purpose: &str) -> [u8; 20] {
        match *self {
            IdSource::Random => {
                let a = Uuid::new_v4().into_bytes();
                let b = Uuid::new_v4().into_bytes();
                let mut out = [0u8; 20];
                out[..16].copy_from_slice(&a);
                out[16..].copy_from_slice(&b[..4]);
                out
            }
            IdSource::Seeded(seed) => {
                let mut h = Sha1::new();
                h.update(b"wimforge-disk-id\0");
                h.update(seed.to_le_bytes());
                h.update(purpose.as_bytes());
                h.finalize().into()
            }
        }
    }

    /// A GUID for `purpose`, shaped as an RFC 4122 version-4 GUID.
    pub fn guid(&self, purpose: &str) -> Uuid {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.bytes(purpose)[..16]);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }

    /// A non-zero 32-bit value for `purpose` (MBR signature, FAT volume id).
    pub fn u32(&self, purpose: &str) -> u32 {
        let b = self.bytes(purpose);
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v == 0 {
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]) | 1
        } else {
            v
        }
    }

    /// A non-zero 64-bit value for `purpose` (NTFS serial number).
    pub fn u64(&self, purpose: &str) -> u64 {
        let b = self.bytes(purpose);
        u64::from_le_bytes(b[..8].try_into().expect("8 bytes")).max(1)
    }

    /// The string form the VHDX crate takes as its GUID seed, or `None`.
    pub fn vhdx_seed(&self) -> Option<String> {
        match *self {
            IdSource::Random => None,
            IdSource::Seeded(s) => Some(format!("wimforge-disk-{s}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_stable_and_v4() {
        let a = IdSource::Seeded(7);
        assert_eq!(a.guid("disk"), a.guid("disk"));
        assert_ne!(a.guid("disk"), a.guid("esp"));
        assert_ne!(a.guid("disk"), IdSource::Seeded(8).guid("disk"));
        assert_eq!(a.guid("disk").get_version_num(), 4);
        assert_eq!(a.guid("disk").get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a.u32("sig"), 0);
        assert_ne!(IdSource::Random.guid("x"), IdSource::Random.guid("x"));
    }
}
