//! $Secure (record 9): the $SDS stream and the $SDH / $SII view indexes,
//! NTFS Documentation "Files: $Secure". Also the default security
//! descriptors of a new volume.

use crate::index;
use crate::le;

/// First security id handed out.
pub const FIRST_ID: u32 = 0x100;
/// $SDS main/mirror block size.
pub const SDS_BLOCK: u64 = 0x40000;

/// `h = word + rol(h, 3)` over the descriptor's little-endian u32 words.
pub fn hash(sd: &[u8]) -> u32 {
    sd.chunks_exact(4).fold(0u32, |h, w| {
        u32::from_le_bytes(w.try_into().unwrap()).wrapping_add(h.rotate_left(3))
    })
}

fn sid(auth: u8, subs: &[u32]) -> Vec<u8> {
    let mut v = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, auth];
    for s in subs {
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

/// S-1-5-32-544, BUILTIN\Administrators.
pub fn sid_admins() -> Vec<u8> {
    sid(5, &[32, 544])
}

fn descriptor(owner: &[u8], group: &[u8], aces: &[(u8, u32, Vec<u8>)]) -> Vec<u8> {
    let mut acl_body = Vec::new();
    for (flags, mask, s) in aces {
        let size = 8 + s.len();
        acl_body.push(0u8); // ACCESS_ALLOWED
        acl_body.push(*flags);
        acl_body.extend_from_slice(&(size as u16).to_le_bytes());
        acl_body.extend_from_slice(&mask.to_le_bytes());
        acl_body.extend_from_slice(s);
    }
    let mut acl = vec![2u8, 0];
    acl.extend_from_slice(&((8 + acl_body.len()) as u16).to_le_bytes());
    acl.extend_from_slice(&(aces.len() as u16).to_le_bytes());
    acl.extend_from_slice(&[0, 0]);
    acl.extend_from_slice(&acl_body);
    let mut v = vec![0u8; 20];
    v[0] = 1;
    le::put16(&mut v, 2, 0x8004); // self-relative, DACL present
    let o = v.len();
    v.extend_from_slice(owner);
    let g = v.len();
    v.extend_from_slice(group);
    let d = v.len();
    v.extend_from_slice(&acl);
    le::put32(&mut v, 4, o as u32);
    le::put32(&mut v, 8, g as u32);
    le::put32(&mut v, 16, d as u32);
    v
}

/// Descriptor for metadata files: owner/group Administrators, read access
/// for SYSTEM and Administrators.
pub fn system_file_sd() -> Vec<u8> {
    descriptor(
        &sid_admins(),
        &sid_admins(),
        &[
            (0, 0x0012_0089, sid(5, &[18])),
            (0, 0x0012_0089, sid_admins()),
        ],
    )
}

/// Descriptor for the root of a fresh volume: full control for SYSTEM and
/// Administrators, read and execute for Users and Everyone, inherited.
pub fn root_sd() -> Vec<u8> {
    descriptor(
        &sid_admins(),
        &sid(5, &[18]),
        &[
            (3, 0x001F_01FF, sid(5, &[18])),
            (3, 0x001F_01FF, sid_admins()),
            (3, 0x0012_00A9, sid(5, &[32, 545])),
            (3, 0x0012_00A9, sid(1, &[0])),
        ],
    )
}

/// Laid-out $SDS stream and the sorted index entries.
pub struct SecureLayout {
    /// $SDS contents (data size = `sds.len()`).
    pub sds: Vec<u8>,
    pub sdh_entries: Vec<Vec<u8>>,
    pub sii_entries: Vec<Vec<u8>>,
}

/// Lay out `sds` (descriptor bytes in id order, starting at [`FIRST_ID`]).
pub fn layout(sds: &[Vec<u8>]) -> SecureLayout {
    let mut out = Vec::new();
    let mut off = 0u64;
    let mut recs = Vec::new();
    for (i, sd) in sds.iter().enumerate() {
        let len = 20 + sd.len() as u64;
        // An entry never straddles a 256 KiB block; main copies live in
        // even blocks, mirrors 256 KiB later.
        if off % SDS_BLOCK + len > SDS_BLOCK {
            off = (off / SDS_BLOCK + 2) * SDS_BLOCK;
        }
        let id = FIRST_ID + i as u32;
        let h = hash(sd);
        let mut hdr = vec![0u8; 20];
        le::put32(&mut hdr, 0, h);
        le::put32(&mut hdr, 4, id);
        le::put64(&mut hdr, 8, off);
        le::put32(&mut hdr, 16, len as u32);
        let end = (off + SDS_BLOCK + len) as usize;
        if out.len() < end {
            out.resize(end, 0);
        }
        for base in [off, off + SDS_BLOCK] {
            let b = base as usize;
            out[b..b + 20].copy_from_slice(&hdr);
            out[b + 20..b + 20 + sd.len()].copy_from_slice(sd);
        }
        recs.push((h, id, hdr));
        off = (off + len + 15) & !15;
    }
    let sii_entries = recs
        .iter()
        .map(|(_, id, hdr)| index::view_entry(&id.to_le_bytes(), hdr, &[]))
        .collect();
    let mut sdh: Vec<_> = recs.iter().collect();
    sdh.sort_by_key(|(h, id, _)| (*h, *id));
    let sdh_entries = sdh
        .iter()
        .map(|(h, id, hdr)| {
            let mut key = h.to_le_bytes().to_vec();
            key.extend_from_slice(&id.to_le_bytes());
            index::view_entry(&key, hdr, &[0x49, 0, 0x49, 0])
        })
        .collect();
    SecureLayout {
        sds: out,
        sdh_entries,
        sii_entries,
    }
}
