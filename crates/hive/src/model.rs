//! The in-memory hive: a tree of keys with their values, class names and
//! (shared) security descriptors, plus the base block fields that a
//! rewrite must keep. Reading fills it ([`crate::read`]); editing happens
//! here; writing serialises it ([`crate::write`]).

use crate::error::{Error, ErrorKind, Result};
use crate::name::{cmp_names, eq_names};
use std::sync::Arc;

/// Windows refuses keys nested deeper than this.
pub const MAX_DEPTH: usize = 512;

/// A registry value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// Empty for the key's default value.
    pub name: String,
    /// REG_* type, kept as stored (unknown types survive unchanged).
    pub data_type: u32,
    /// Data, byte-exact.
    pub data: Vec<u8>,
    /// vk flags other than the compressed-name bit.
    pub flags: u16,
}

/// A registry key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    /// Class name bytes (UTF-16LE as Windows stores them), if any.
    pub class: Option<Vec<u8>>,
    /// Last written time (FILETIME).
    pub timestamp: u64,
    /// nk flags (the compressed-name bit is recomputed on write).
    pub flags: u16,
    pub access_bits: u32,
    /// High 16 bits of the "largest subkey name" field (virtualisation and
    /// user flags).
    pub max_name_hi: u16,
    /// Self-relative security descriptor, shared between keys.
    pub security: Option<Arc<Vec<u8>>>,
    /// In stored order.
    pub values: Vec<Value>,
    /// Kept sorted the Windows way (uppercase compare).
    pub subkeys: Vec<Key>,
}

impl Key {
    /// A new, empty key.
    pub fn new(name: &str) -> Key {
        Key {
            name: name.to_string(),
            class: None,
            timestamp: now_filetime(),
            flags: 0,
            access_bits: 0,
            max_name_hi: 0,
            security: None,
            values: Vec::new(),
            subkeys: Vec::new(),
        }
    }

    /// The subkey with this name (case-insensitive).
    pub fn subkey(&self, name: &str) -> Option<&Key> {
        self.find_sub(name).ok().map(|i| &self.subkeys[i])
    }

    pub fn subkey_mut(&mut self, name: &str) -> Option<&mut Key> {
        match self.find_sub(name) {
            Ok(i) => Some(&mut self.subkeys[i]),
            Err(_) => None,
        }
    }

    fn find_sub(&self, name: &str) -> std::result::Result<usize, usize> {
        // Subkeys are kept sorted (the reader sorts what it loads).
        self.subkeys.binary_search_by(|k| cmp_names(&k.name, name))
    }

    /// The value with this name (case-insensitive; "" is the default value).
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|v| eq_names(&v.name, name))
    }

    /// Insert a subkey at its sorted place; error if one exists.
    pub fn add_subkey(&mut self, key: Key) -> Result<&mut Key> {
        match self.find_sub(&key.name) {
            Ok(_) => Err(Error::api(ErrorKind::Invalid(format!(
                "key {} exists",
                key.name
            )))),
            Err(i) => {
                self.subkeys.insert(i, key);
                self.timestamp = now_filetime();
                Ok(&mut self.subkeys[i])
            }
        }
    }

    /// Sort subkeys (recursively) the Windows way.
    pub fn sort_recursive(&mut self) {
        self.subkeys.sort_by(|a, b| cmp_names(&a.name, &b.name));
        for k in &mut self.subkeys {
            k.sort_recursive();
        }
    }

    /// Number of keys in this subtree, itself included.
    pub fn count_keys(&self) -> usize {
        1 + self.subkeys.iter().map(Key::count_keys).sum::<usize>()
    }
}

/// A whole hive.
#[derive(Clone, Debug)]
pub struct Hive {
    /// Minor format version (3 = 1.3, 5 = 1.5).
    pub minor: u32,
    pub root: Key,
    /// Base block of the source (fields we don't model survive a rewrite).
    pub(crate) base: Vec<u8>,
    /// Sequence number the next write starts from.
    pub(crate) seq: u32,
    /// How the hive was recovered, if it was dirty.
    pub recovered: Option<String>,
}

/// A self-relative security descriptor for keys of a new hive (every key
/// of a hive Windows loads has one): owner Administrators, group SYSTEM,
/// DACL granting KEY_ALL_ACCESS to Administrators and SYSTEM and KEY_READ
/// to Users, inherited by subkeys (MS-DTYP 2.4.6 SECURITY_DESCRIPTOR,
/// 2.4.5 ACL, 2.4.4.2 ACCESS_ALLOWED_ACE).
pub fn default_security() -> Vec<u8> {
    fn sid(sub: &[u32]) -> Vec<u8> {
        let mut v = vec![1, sub.len() as u8, 0, 0, 0, 0, 0, 5]; // NT authority
        for s in sub {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }
    let admins = sid(&[32, 544]);
    let system = sid(&[18]);
    let users = sid(&[32, 545]);
    let ace = |mask: u32, who: &[u8]| {
        let size = 8 + who.len();
        let mut v = vec![0u8, 0x02]; // ACCESS_ALLOWED, CONTAINER_INHERIT
        v.extend_from_slice(&(size as u16).to_le_bytes());
        v.extend_from_slice(&mask.to_le_bytes());
        v.extend_from_slice(who);
        v
    };
    let aces = [
        ace(0xF003F, &admins),
        ace(0xF003F, &system),
        ace(0x20019, &users),
    ]
    .concat();
    let mut acl = vec![2u8, 0];
    acl.extend_from_slice(&((8 + aces.len()) as u16).to_le_bytes());
    acl.extend_from_slice(&3u16.to_le_bytes());
    acl.extend_from_slice(&[0, 0]);
    acl.extend_from_slice(&aces);
    let owner_off = 20u32;
    let group_off = owner_off + admins.len() as u32;
    let dacl_off = group_off + system.len() as u32;
    let mut sd = vec![1u8, 0];
    sd.extend_from_slice(&0x8004u16.to_le_bytes()); // SELF_RELATIVE | DACL_PRESENT
    sd.extend_from_slice(&owner_off.to_le_bytes());
    sd.extend_from_slice(&group_off.to_le_bytes());
    sd.extend_from_slice(&0u32.to_le_bytes()); // no SACL
    sd.extend_from_slice(&dacl_off.to_le_bytes());
    sd.extend_from_slice(&admins);
    sd.extend_from_slice(&system);
    sd.extend_from_slice(&acl);
    sd
}

/// Split "A\B\C" (leading/trailing backslashes ignored) into components.
pub fn split_path(path: &str) -> Vec<&str> {
    path.split('\\').filter(|s| !s.is_empty()).collect()
}

impl Hive {
    /// A new empty hive of format 1.`minor` with a root key called `root`.
    pub fn new(minor: u32, root: &str) -> Hive {
        let mut k = Key::new(root);
        k.flags = crate::nk::KEY_HIVE_ENTRY | crate::nk::KEY_NO_DELETE;
        k.security = Some(Arc::new(default_security()));
        Hive {
            minor,
            root: k,
            base: vec![0; crate::base::BASE_BLOCK_SIZE],
            seq: 1,
            recovered: None,
        }
    }

    /// The key at `path` (relative to the root).
    pub fn key(&self, path: &str) -> Option<&Key> {
        let mut k = &self.root;
        for c in split_path(path) {
            k = k.subkey(c)?;
        }
        Some(k)
    }

    pub fn key_mut(&mut self, path: &str) -> Option<&mut Key> {
        let mut k = &mut self.root;
        for c in split_path(path) {
            k = k.subkey_mut(c)?;
        }
        Some(k)
    }

    /// The key at `path`, created (with its parents) when missing. New
    /// keys take their parent's security descriptor.
    pub fn create_key(&mut self, path: &str) -> Result<&mut Key> {
        let comps = split_path(path);
        if comps.len() >= MAX_DEPTH {
            return Err(Error::api(ErrorKind::TooDeep));
        }
        let mut k = &mut self.root;
        for c in comps {
            check_name(c, 255, "key")?;
            if k.subkey(c).is_none() {
                let mut n = Key::new(c);
                n.security = k.security.clone();
                k.add_subkey(n)?;
            }
            k = k.subkey_mut(c).expect("just ensured");
        }
        Ok(k)
    }

    /// Delete the key at `path` and everything below it.
    pub fn delete_key(&mut self, path: &str) -> Result<()> {
        let comps = split_path(path);
        let (last, parent) = match comps.split_last() {
            Some(x) => x,
            None => {
                return Err(Error::api(ErrorKind::Invalid(
                    "cannot delete the root key".into(),
                )))
            }
        };
        let p = self
            .key_mut(&parent.join("\\"))
            .ok_or_else(|| not_found(path))?;
        let i = p.find_sub(last).map_err(|_| not_found(path))?;
        p.subkeys.remove(i);
        p.timestamp = now_filetime();
        Ok(())
    }

    /// Rename the key at `path` to `new_name` (same parent).
    pub fn rename_key(&mut self, path: &str, new_name: &str) -> Result<()> {
        check_name(new_name, 255, "key")?;
        let comps = split_path(path);
        let (last, parent) = match comps.split_last() {
            Some(x) => x,
            None => {
                self.root.name = new_name.to_string();
                return Ok(());
            }
        };
        let p = self
            .key_mut(&parent.join("\\"))
            .ok_or_else(|| not_found(path))?;
        let i = p.find_sub(last).map_err(|_| not_found(path))?;
        if !eq_names(last, new_name) && p.subkey(new_name).is_some() {
            return Err(Error::api(ErrorKind::Invalid(format!(
                "key {new_name} exists"
            ))));
        }
        let mut k = p.subkeys.remove(i);
        k.name = new_name.to_string();
        k.timestamp = now_filetime();
        p.add_subkey(k)?;
        Ok(())
    }

    /// Set (create or replace) a value, creating the key as needed.
    pub fn set_value(
        &mut self,
        path: &str,
        name: &str,
        data_type: u32,
        data: Vec<u8>,
    ) -> Result<()> {
        check_name(name, 16383, "value")?;
        let k = self.create_key(path)?;
        k.timestamp = now_filetime();
        if let Some(v) = k.values.iter_mut().find(|v| eq_names(&v.name, name)) {
            v.data_type = data_type;
            v.data = data;
        } else {
            k.values.push(Value {
                name: name.to_string(),
                data_type,
                data,
                flags: 0,
            });
        }
        Ok(())
    }

    /// Delete a value; error when it does not exist.
    pub fn delete_value(&mut self, path: &str, name: &str) -> Result<()> {
        let k = self.key_mut(path).ok_or_else(|| not_found(path))?;
        let i = k
            .values
            .iter()
            .position(|v| eq_names(&v.name, name))
            .ok_or_else(|| not_found(&format!("{path}\\{name} (value)")))?;
        k.values.remove(i);
        k.timestamp = now_filetime();
        Ok(())
    }

    /// Rename a value.
    pub fn rename_value(&mut self, path: &str, name: &str, new_name: &str) -> Result<()> {
        check_name(new_name, 16383, "value")?;
        let k = self.key_mut(path).ok_or_else(|| not_found(path))?;
        if !eq_names(name, new_name) && k.value(new_name).is_some() {
            return Err(Error::api(ErrorKind::Invalid(format!(
                "value {new_name} exists"
            ))));
        }
        let v = k
            .values
            .iter_mut()
            .find(|v| eq_names(&v.name, name))
            .ok_or_else(|| not_found(&format!("{path}\\{name} (value)")))?;
        v.name = new_name.to_string();
        k.timestamp = now_filetime();
        Ok(())
    }
}

fn not_found(what: &str) -> Error {
    Error::api(ErrorKind::NotFound(what.to_string()))
}

fn check_name(name: &str, max: usize, what: &str) -> Result<()> {
    if what == "key" && (name.is_empty() || name.contains('\\')) {
        return Err(Error::api(ErrorKind::Invalid(format!(
            "key name {name:?} is empty or contains a backslash"
        ))));
    }
    if name.encode_utf16().count() > max {
        return Err(Error::api(ErrorKind::Invalid(format!(
            "{what} name longer than {max} characters"
        ))));
    }
    Ok(())
}

/// Now as a Windows FILETIME (100 ns since 1601).
pub fn now_filetime() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    116_444_736_000_000_000 + d.as_secs() * 10_000_000 + d.subsec_nanos() as u64 / 100
}
