//! Little-endian field access, CRC-32C and GUID helpers shared by the
//! structure modules.

use uuid::Uuid;

pub(crate) const KIB: u64 = 1024;
pub(crate) const MIB: u64 = 1024 * 1024;

pub(crate) fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
pub(crate) fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
pub(crate) fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}
pub(crate) fn put_u16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// Read a GUID stored in Microsoft's mixed-endian binary form (MS-DTYP
/// GUID: Data1..Data3 little-endian, Data4 as bytes).
pub(crate) fn guid_at(b: &[u8], o: usize) -> Uuid {
    Uuid::from_bytes_le(b[o..o + 16].try_into().expect("16 bytes"))
}
pub(crate) fn put_guid(b: &mut [u8], o: usize, g: &Uuid) {
    b[o..o + 16].copy_from_slice(&g.to_bytes_le());
}

/// CRC-32C of `buf` with the 4-byte checksum field at `crc_off` taken as zero
/// (MS-VHDX §2: all checksums are CRC-32C with the field zeroed).
pub(crate) fn crc_with_zeroed(buf: &[u8], crc_off: usize) -> u32 {
    let c = crc32c::crc32c(&buf[..crc_off]);
    let c = crc32c::crc32c_append(c, &[0u8; 4]);
    crc32c::crc32c_append(c, &buf[crc_off + 4..])
}

/// Store the CRC-32C of `buf` at `crc_off`.
pub(crate) fn set_crc(buf: &mut [u8], crc_off: usize) {
    let c = crc_with_zeroed(buf, crc_off);
    put_u32(buf, crc_off, c);
}

/// True when the checksum stored at `crc_off` is right.
pub(crate) fn crc_ok(buf: &[u8], crc_off: usize) -> bool {
    crc_with_zeroed(buf, crc_off) == u32_at(buf, crc_off)
}

pub(crate) fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// Where new GUIDs come from: the OS random generator, or a deterministic
/// stream derived from a seed (reproducible builds).
#[derive(Debug, Clone)]
pub enum GuidSource {
    /// Fresh random (v4) GUIDs.
    Random,
    /// GUIDs derived from SHA-1(seed, purpose, counter), shaped as v4 UUIDs.
    Seeded(String),
}

impl GuidSource {
    /// A GUID for `purpose` (e.g. "virtual-disk-id"). Seeded sources return
    /// the same value for the same seed and purpose.
    pub fn guid(&self, purpose: &str) -> Uuid {
        match self {
            GuidSource::Random => Uuid::new_v4(),
            GuidSource::Seeded(seed) => {
                use sha1::{Digest, Sha1};
                let mut h = Sha1::new();
                h.update(b"wimforge-vhdx-guid\0");
                h.update(seed.as_bytes());
                h.update([0]);
                h.update(purpose.as_bytes());
                let d = h.finalize();
                let mut b = [0u8; 16];
                b.copy_from_slice(&d[..16]);
                uuid::Builder::from_random_bytes(b).into_uuid()
            }
        }
    }
}
