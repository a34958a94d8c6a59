//! Parsing a hive image into the [`Hive`] model. Every offset goes through
//! [`Cells`]; counts are checked against cell sizes before anything is
//! allocated; each key node may be reached once (cycles are errors) and
//! nesting is bounded by [`MAX_DEPTH`].

use crate::base::{u32_at, BaseBlock, BASE_BLOCK_SIZE};
use crate::cell::{Cells, NONE};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Hive, Key, Value, MAX_DEPTH};
use crate::{db, hbin, list, name, nk, sk, vk};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

struct Reader<'a> {
    cells: Cells<'a>,
    minor: u32,
    seen: HashSet<u32>,
    sks: HashMap<u32, Arc<Vec<u8>>>,
}

/// Parse a clean (or already recovered) hive image. A dirty hive parses
/// as it is on disk; use [`crate::Hive::open`] to replay its logs first.
pub fn parse(data: &[u8]) -> Result<Hive> {
    let base = BaseBlock::parse(data, true)?;
    if data.len() < BASE_BLOCK_SIZE {
        return Err(Error::at(
            data.len() as u64,
            "base block",
            ErrorKind::Truncated,
        ));
    }
    if base.file_type != crate::base::TYPE_PRIMARY {
        return Err(Error::at(
            0x1C,
            "base block",
            ErrorKind::Unsupported(format!(
                "file type {} is not a primary hive",
                base.file_type
            )),
        ));
    }
    let bins = hbin::scan(data, base.hbins_size)?;
    let mut r = Reader {
        cells: Cells { data, bins },
        minor: base.minor,
        seen: HashSet::new(),
        sks: HashMap::new(),
    };
    let root = r.key(base.root_offset, 0)?;
    Ok(Hive {
        minor: base.minor,
        root,
        seq: base.primary_seq.max(base.secondary_seq),
        base: base.raw,
        recovered: None,
    })
}

impl<'a> Reader<'a> {
    fn key(&mut self, off: u32, depth: usize) -> Result<Key> {
        if depth >= MAX_DEPTH {
            return Err(Error::at(
                Cells::abs(off),
                "key node (nk)",
                ErrorKind::TooDeep,
            ));
        }
        if !self.seen.insert(off) {
            return Err(Error::at(
                Cells::abs(off),
                "key node (nk)",
                ErrorKind::Cycle,
            ));
        }
        let n = nk::parse(&self.cells, off)?;
        let name = name::decode(n.name, n.flags & nk::KEY_COMP_NAME != 0);
        let class = if n.class != NONE && n.class_len > 0 {
            let c = self.cells.get(n.class, "class name")?;
            Cells::need(c, n.class_len as usize, n.class, "class name")?;
            Some(c[..n.class_len as usize].to_vec())
        } else {
            None
        };
        let security = if n.security != NONE {
            Some(match self.sks.get(&n.security) {
                Some(s) => s.clone(),
                None => {
                    let d = Arc::new(sk::parse(&self.cells, n.security)?.to_vec());
                    self.sks.insert(n.security, d.clone());
                    d
                }
            })
        } else {
            None
        };
        let mut values = Vec::new();
        if n.value_count > 0 {
            const S: &str = "value list";
            let vl = self.cells.get(n.value_list, S)?;
            let count = n.value_count as usize;
            if count > vl.len() / 4 {
                return Err(Error::at(
                    Cells::abs(n.value_list),
                    S,
                    ErrorKind::BadSize(format!(
                        "{count} values do not fit a {}-byte cell",
                        vl.len()
                    )),
                ));
            }
            values.reserve(count);
            for i in 0..count {
                values.push(self.value(u32_at(vl, i * 4))?);
            }
        }
        let mut subkeys = Vec::new();
        if n.subkey_count > 0 {
            let count = n.subkey_count as usize;
            // Each subkey needs at least an 80-byte nk cell: a count larger
            // than the bins could hold is a lie, refuse before allocating.
            if count > self.cells.data.len() / 80 {
                return Err(Error::at(
                    Cells::abs(off) + 4 + 0x14,
                    "key node (nk)",
                    ErrorKind::BadSize(format!("subkey count {count}")),
                ));
            }
            let mut offs = Vec::with_capacity(count.min(1 << 16));
            list::collect(&self.cells, n.subkey_list, count, &mut offs)?;
            if offs.len() != count {
                return Err(Error::at(
                    Cells::abs(n.subkey_list),
                    "subkey list",
                    ErrorKind::BadSize(format!(
                        "lists {} subkeys, key node declares {count}",
                        offs.len()
                    )),
                ));
            }
            subkeys.reserve(count);
            for o in offs {
                subkeys.push(self.key(o, depth + 1)?);
            }
            // Windows stores them sorted already; make sure lookups can
            // binary-search even when a foreign writer did not.
            subkeys.sort_by(|a: &Key, b: &Key| crate::name::cmp_names(&a.name, &b.name));
        }
        Ok(Key {
            name,
            class,
            timestamp: n.timestamp,
            flags: n.flags,
            access_bits: n.access_bits,
            max_name_hi: n.max_name_hi,
            security,
            values,
            subkeys,
        })
    }

    fn value(&mut self, off: u32) -> Result<Value> {
        let v = vk::parse(&self.cells, off)?;
        let name = name::decode(v.name, v.flags & vk::VALUE_COMP_NAME != 0);
        let data = if v.data_size & vk::DATA_INLINE != 0 {
            let len = (v.data_size & !vk::DATA_INLINE) as usize;
            if len > 4 {
                return Err(Error::at(
                    Cells::abs(off) + 8,
                    "key value (vk)",
                    ErrorKind::BadSize(format!("inline data length {len}")),
                ));
            }
            v.data_offset.to_le_bytes()[..len].to_vec()
        } else if v.data_size == 0 {
            Vec::new()
        } else {
            let len = v.data_size as usize;
            if self.minor >= 4 && len > db::SEGMENT && db::is_db(&self.cells, v.data_offset) {
                db::read(&self.cells, v.data_offset, len)?
            } else {
                let c = self.cells.get(v.data_offset, "value data")?;
                Cells::need(c, len, v.data_offset, "value data")?;
                c[..len].to_vec()
            }
        };
        Ok(Value {
            name,
            data_type: v.data_type,
            data,
            flags: v.flags & !vk::VALUE_COMP_NAME,
        })
    }
}
