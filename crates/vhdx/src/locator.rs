//! Parent locator (MS-VHDX §2.6.2.6): key/value pairs naming the parent of
//! a differencing disk.

use crate::util::*;
use uuid::{uuid, Uuid};

/// The VHDX locator type (§2.6.2.6.3), the only one defined.
pub const VHDX_LOCATOR_TYPE: Uuid = uuid!("B04AEFB7-D19E-4A81-B789-25B8E9445913");

/// A parsed parent locator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentLocator {
    /// Locator type GUID.
    pub locator_type: Uuid,
    /// Key/value pairs in on-disk order.
    pub entries: Vec<(String, String)>,
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

impl ParentLocator {
    /// A VHDX locator with the given pairs.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        ParentLocator {
            locator_type: VHDX_LOCATOR_TYPE,
            entries,
        }
    }

    /// Parse the item bytes. `Err` carries a description.
    pub fn parse(b: &[u8]) -> Result<Self, String> {
        if b.len() < 20 {
            return Err(format!(
                "item of {} bytes is shorter than its header",
                b.len()
            ));
        }
        let locator_type = guid_at(b, 0);
        let count = u16_at(b, 18) as usize;
        if 20 + count * 12 > b.len() {
            return Err(format!(
                "{count} key/value entries do not fit in {} bytes",
                b.len()
            ));
        }
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let o = 20 + 12 * i;
            let ko = u32_at(b, o) as usize;
            let vo = u32_at(b, o + 4) as usize;
            let kl = u16_at(b, o + 8) as usize;
            let vl = u16_at(b, o + 10) as usize;
            if kl == 0 || vl == 0 || ko + kl > b.len() || vo + vl > b.len() {
                return Err(format!("key/value entry {i} points outside the item"));
            }
            entries.push((utf16(&b[ko..ko + kl]), utf16(&b[vo..vo + vl])));
        }
        Ok(ParentLocator {
            locator_type,
            entries,
        })
    }

    /// Serialise.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = vec![0u8; 20 + 12 * self.entries.len()];
        put_guid(&mut head, 0, &self.locator_type);
        put_u16(&mut head, 18, self.entries.len() as u16);
        let mut strings = Vec::new();
        let base = head.len();
        for (i, (k, v)) in self.entries.iter().enumerate() {
            let kb: Vec<u8> = k.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            let vb: Vec<u8> = v.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            let o = 20 + 12 * i;
            put_u32(&mut head, o, (base + strings.len()) as u32);
            strings.extend_from_slice(&kb);
            put_u32(&mut head, o + 4, (base + strings.len()) as u32);
            strings.extend_from_slice(&vb);
            put_u16(&mut head, o + 8, kb.len() as u16);
            put_u16(&mut head, o + 10, vb.len() as u16);
        }
        head.extend_from_slice(&strings);
        head
    }

    /// The value of `key` (case-sensitive, as §2.6.2.6.3 requires).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `parent_linkage` parsed as a GUID (braces optional, any case).
    pub fn parent_linkage(&self) -> Option<Uuid> {
        parse_braced(self.get("parent_linkage")?)
    }

    /// `parent_linkage2` parsed as a GUID.
    pub fn parent_linkage2(&self) -> Option<Uuid> {
        parse_braced(self.get("parent_linkage2")?)
    }
}

/// Parse "{xxxxxxxx-...}" or a bare GUID.
pub fn parse_braced(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s.trim().trim_start_matches('{').trim_end_matches('}')).ok()
}

/// Format a GUID for a locator value: `{lower-case}`, as MS-VHDX §2.6.2.6
/// asks for `parent_linkage` (libvhdi refuses upper-case hex digits there).
pub fn braced(g: &Uuid) -> String {
    format!("{{{}}}", g.hyphenated())
}
