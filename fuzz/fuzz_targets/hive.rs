//! Registry hive reader: base block, hbins, nk/vk/sk cells, li/lf/lh/ri
//! subkey lists, big data (db), class names; then every key and value
//! visited and displayed, BCD decoding, and the write -> read round trip
//! (what `wimforge hive set` does to a hive it was given): the image we
//! write from any hive we accepted must read back to the same tree.
//!
//! Input: a hive image. When byte 0x1FB (in the base block's reserved
//! area) is odd, the harness recomputes the base block checksum first, so
//! mutations of the base block get past the checksum check.
#![no_main]

use hive::nk::{KEY_COMP_NAME, KEY_HIVE_ENTRY, KEY_NO_DELETE};
use hive::{Hive, Key};
use libfuzzer_sys::fuzz_target;

/// The first difference between two trees, ignoring what the writer
/// normalises on purpose: the compressed-name bit (recomputed from the
/// name) and the root's hive-entry and no-delete bits (always set).
fn first_diff(a: &Key, b: &Key, path: &str, root: bool) -> Option<String> {
    let mut mask = !KEY_COMP_NAME;
    if root {
        mask &= !(KEY_HIVE_ENTRY | KEY_NO_DELETE);
    }
    if a.name != b.name
        || a.class != b.class
        || a.timestamp != b.timestamp
        || a.flags & mask != b.flags & mask
        || a.access_bits != b.access_bits
        || a.max_name_hi != b.max_name_hi
        || a.security != b.security
        || a.values != b.values
        || a.subkeys.len() != b.subkeys.len()
    {
        return Some(format!(
            "key {path:?}: names {:?}/{:?}, classes equal {}, timestamps {}/{}, flags {:#x}/{:#x}, \
             access {:#x}/{:#x}, max_name_hi {:#x}/{:#x}, security equal {}, values equal {}, \
             subkeys {}/{}",
            a.name,
            b.name,
            a.class == b.class,
            a.timestamp,
            b.timestamp,
            a.flags,
            b.flags,
            a.access_bits,
            b.access_bits,
            a.max_name_hi,
            b.max_name_hi,
            a.security == b.security,
            a.values == b.values,
            a.subkeys.len(),
            b.subkeys.len()
        ));
    }
    a.subkeys
        .iter()
        .zip(&b.subkeys)
        .find_map(|(x, y)| first_diff(x, y, &format!("{path}\\{}", x.name), false))
}

fuzz_target!(|data: &[u8]| {
    let mut img = data.to_vec();
    if data.len() > 0x1FC && data[0x1FB] & 1 == 1 {
        wimforge_fuzz::fix_regf_checksum(&mut img);
    }
    let Ok(h) = Hive::from_bytes(&img) else {
        return;
    };
    for (path, key) in h.walk().into_iter().take(20_000) {
        let _ = h.key(&path);
        for v in &key.values {
            let _ = hive::value::display(v.data_type, &v.data);
            let _ = hive::value::type_name(v.data_type);
        }
    }
    let store = hive::bcd::decode(&h);
    for o in &store.objects {
        for e in &o.elements {
            let _ = e.value.to_string();
        }
    }
    let out = h.to_bytes();
    let back = Hive::from_bytes(&out)
        .unwrap_or_else(|e| panic!("our own image of an accepted hive does not read back: {e}"));
    if let Some(d) = first_diff(&h.root, &back.root, "", true) {
        panic!("hive changed in the write -> read round trip: {d}");
    }
});
