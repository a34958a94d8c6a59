//! Building and encoding an image's metadata resource (wimlib
//! `metadata_resource.c`, `dentry.c`, `security.c`, `tagged_items.c`;
//! research notes §1.2): the security data block, then the root dentry and
//! an end-of-list marker, then, for every directory in pre-order, its
//! children followed by an 8-byte end-of-directory marker. Each dentry is
//! 8-aligned: 102 fixed bytes, the UTF-16LE long name and short name (each
//! NUL-terminated), tagged items, then its extra stream entries.

use super::resource::BlobSource;
use super::xml::ImageStats;
use crate::error::{Error, Result};
use crate::format::{attr, tag, DENTRY_FIXED_SIZE, EXTRA_STREAM_FIXED_SIZE};
use crate::read::dentry::StreamKind;
use crate::read::image::collate;

/// A stream of an inode being written. `hash` is all zero for an empty
/// stream; `source` says where the bytes come from until they are stored.
#[derive(Debug, Clone)]
pub struct NewStream {
    /// Empty for the unnamed data stream and for reparse data.
    pub name: String,
    pub kind: StreamKind,
    pub size: u64,
    pub hash: [u8; 20],
    pub source: Option<BlobSource>,
}

/// File data and metadata shared by all names of a file.
#[derive(Debug, Clone, Default)]
pub struct NewInode {
    pub attributes: u32,
    /// Index into [`ImageTree::security`]; `None` writes -1.
    pub security_id: Option<u32>,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub reparse_tag: u32,
    pub rp_reserved: u16,
    pub rp_flags: u16,
    pub streams: Vec<NewStream>,
    pub object_id: Option<Vec<u8>>,
    /// wimlib UNIX data (uid, gid, mode, rdev), tag 0x337DD873.
    pub unix_data: Option<[u32; 4]>,
    /// Windows extended attributes as the `TAG_XATTRS` (0x2) item holds
    /// them: entries of {u16 value_len, u8 name_len, u8 flags, name, NUL,
    /// value}, unpadded (wimlib `xattr.h`).
    pub xattrs: Option<Vec<u8>>,
}

impl NewInode {
    pub fn is_directory(&self) -> bool {
        self.attributes & attr::DIRECTORY != 0 && self.attributes & attr::REPARSE_POINT == 0
    }
    pub fn is_reparse_point(&self) -> bool {
        self.attributes & attr::REPARSE_POINT != 0
    }
}

/// A name in the tree.
#[derive(Debug, Clone)]
pub struct NewDentry {
    pub name: String,
    pub short_name: String,
    pub inode: u32,
    pub children: Vec<u32>,
}

/// An image to write: `dentries[0]` is the root (empty name).
#[derive(Debug, Clone)]
pub struct ImageTree {
    pub dentries: Vec<NewDentry>,
    pub inodes: Vec<NewInode>,
    /// Self-relative security descriptors, deduplicated by the caller.
    pub security: Vec<Vec<u8>>,
}

fn align8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

impl ImageTree {
    /// A tree holding only a root directory with `root` as its inode.
    pub fn new(root: NewInode) -> Self {
        ImageTree {
            dentries: vec![NewDentry {
                name: String::new(),
                short_name: String::new(),
                inode: 0,
                children: Vec::new(),
            }],
            inodes: vec![root],
            security: Vec::new(),
        }
    }

    pub fn add_inode(&mut self, inode: NewInode) -> u32 {
        self.inodes.push(inode);
        (self.inodes.len() - 1) as u32
    }

    /// Add a name for `inode` under directory dentry `parent`.
    pub fn add_dentry(&mut self, parent: u32, name: String, inode: u32) -> u32 {
        let id = self.dentries.len() as u32;
        self.dentries.push(NewDentry {
            name,
            short_name: String::new(),
            inode,
            children: Vec::new(),
        });
        self.dentries[parent as usize].children.push(id);
        id
    }

    /// Number of names of each inode.
    pub fn link_counts(&self) -> Vec<u32> {
        let mut n = vec![0u32; self.inodes.len()];
        for d in &self.dentries {
            n[d.inode as usize] += 1;
        }
        n
    }

    /// DIRCOUNT/FILECOUNT/TOTALBYTES/HARDLINKBYTES as wimlib counts them.
    pub fn stats(&self) -> ImageStats {
        let links = self.link_counts();
        let mut s = ImageStats::default();
        for (ino, &n) in self.inodes.iter().zip(&links) {
            if n == 0 {
                continue;
            }
            let n = n as u64;
            if ino.is_directory() {
                s.dir_count += n;
            } else {
                s.file_count += n;
            }
            // Sizes may come from another WIM's blob table (export): never
            // overflow on lying ones.
            let size = ino
                .streams
                .iter()
                .fold(0u64, |a, st| a.saturating_add(st.size));
            s.total_bytes = s.total_bytes.saturating_add(size.saturating_mul(n));
            s.hard_link_bytes = s.hard_link_bytes.saturating_add(size.saturating_mul(n - 1));
        }
        s
    }

    /// Check what the format cannot hold: names (empty, `.`/`..`, NUL,
    /// over 32767 UTF-16 units), duplicate names in a directory, hard
    /// links to directories or reparse points.
    pub fn validate(&self) -> Result<()> {
        let links = self.link_counts();
        for (i, d) in self.dentries.iter().enumerate() {
            let ino = &self.inodes[d.inode as usize];
            if i != 0 {
                if d.name.is_empty() || d.name == "." || d.name == ".." || d.name.contains('\0') {
                    return Err(Error::Refused(format!(
                        "name {:?} cannot be stored in a WIM",
                        d.name
                    )));
                }
                if d.name.encode_utf16().count() > 0x7fff {
                    return Err(Error::Refused(format!("name {:?} is too long", d.name)));
                }
            }
            if links[d.inode as usize] > 1 && (ino.is_directory() || ino.is_reparse_point()) {
                return Err(Error::Refused(format!(
                    "{:?}: directories and reparse points cannot be hard linked in a WIM",
                    d.name
                )));
            }
            if !d.children.is_empty() && !ino.is_directory() {
                return Err(Error::Refused(format!(
                    "{:?} has children but is not a directory",
                    d.name
                )));
            }
            let mut names: Vec<&str> = d
                .children
                .iter()
                .map(|&c| self.dentries[c as usize].name.as_str())
                .collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(Error::Refused(format!(
                    "duplicate name {:?} in one directory",
                    w[0]
                )));
            }
            if let Some(sid) = ino.security_id {
                if sid as usize >= self.security.len() {
                    return Err(Error::Refused(format!("security id {sid} out of range")));
                }
            }
        }
        Ok(())
    }

    /// Encode the metadata resource. Children are written in collation
    /// order (case-insensitive, then case-sensitive), so the output does
    /// not depend on the order they were added in. Every stream must
    /// already have its hash.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let links = self.link_counts();
        let names16: Vec<Vec<u16>> = self
            .dentries
            .iter()
            .map(|d| d.name.encode_utf16().collect())
            .collect();
        let mut children: Vec<Vec<u32>> =
            self.dentries.iter().map(|d| d.children.clone()).collect();
        for c in &mut children {
            c.sort_by(|&a, &b| collate(&names16[a as usize], &names16[b as usize]));
        }
        // Pre-order walk (children in sorted order).
        let mut order = Vec::with_capacity(self.dentries.len());
        let mut stack = vec![0u32];
        while let Some(d) = stack.pop() {
            order.push(d);
            for &c in children[d as usize].iter().rev() {
                stack.push(c);
            }
        }
        let encoded: Vec<Vec<u8>> = (0..self.dentries.len())
            .map(|d| self.encode_dentry(d as u32, &links, 0))
            .collect();
        // Subdirectory offsets.
        let sec = encode_security(&self.security);
        let mut subdir = vec![0u64; self.dentries.len()];
        let mut cur = (sec.len() + encoded[0].len() + 8) as u64;
        for &d in &order {
            if self.inodes[self.dentries[d as usize].inode as usize].is_directory() {
                subdir[d as usize] = cur;
                for &c in &children[d as usize] {
                    cur += encoded[c as usize].len() as u64;
                }
                cur += 8;
            }
        }
        let mut out = sec;
        out.reserve(cur as usize - out.len());
        let put = |out: &mut Vec<u8>, d: u32| {
            let mut e = encoded[d as usize].clone();
            e[16..24].copy_from_slice(&subdir[d as usize].to_le_bytes());
            out.extend_from_slice(&e);
        };
        put(&mut out, 0);
        out.extend_from_slice(&[0u8; 8]);
        for &d in &order {
            if subdir[d as usize] != 0 {
                debug_assert_eq!(out.len() as u64, subdir[d as usize]);
                for &c in &children[d as usize] {
                    put(&mut out, c);
                }
                out.extend_from_slice(&[0u8; 8]);
            }
        }
        debug_assert_eq!(out.len() as u64, cur);
        Ok(out)
    }

    /// One dentry with its extra stream entries (subdir offset left 0).
    fn encode_dentry(&self, d: u32, links: &[u32], subdir: u64) -> Vec<u8> {
        let den = &self.dentries[d as usize];
        let ino = &self.inodes[den.inode as usize];
        let name = super::utf16le(&den.name);
        let short = super::utf16le(&den.short_name);
        let mut b = vec![0u8; DENTRY_FIXED_SIZE];
        b[8..12].copy_from_slice(&ino.attributes.to_le_bytes());
        b[12..16].copy_from_slice(&ino.security_id.unwrap_or(u32::MAX).to_le_bytes());
        b[16..24].copy_from_slice(&subdir.to_le_bytes());
        b[40..48].copy_from_slice(&ino.creation_time.to_le_bytes());
        b[48..56].copy_from_slice(&ino.last_access_time.to_le_bytes());
        b[56..64].copy_from_slice(&ino.last_write_time.to_le_bytes());
        if ino.is_reparse_point() {
            b[88..92].copy_from_slice(&ino.reparse_tag.to_le_bytes());
            b[92..94].copy_from_slice(&ino.rp_reserved.to_le_bytes());
            b[94..96].copy_from_slice(&ino.rp_flags.to_le_bytes());
        } else {
            // Group ids only need to be unique and non-zero within the
            // image; inodes with a single name get 0.
            let group = if links[den.inode as usize] > 1 {
                den.inode as u64 + 1
            } else {
                0
            };
            b[88..96].copy_from_slice(&group.to_le_bytes());
        }
        b[98..100].copy_from_slice(&(short.len() as u16).to_le_bytes());
        b[100..102].copy_from_slice(&(name.len() as u16).to_le_bytes());
        if !name.is_empty() {
            b.extend_from_slice(&name);
            b.extend_from_slice(&[0, 0]);
        }
        if !short.is_empty() {
            b.extend_from_slice(&short);
            b.extend_from_slice(&[0, 0]);
        }
        b.resize(align8(b.len()), 0);
        let mut tagged = |t: u32, data: &[u8]| {
            b.extend_from_slice(&t.to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(data);
            b.resize(align8(b.len()), 0);
        };
        if let Some(o) = &ino.object_id {
            tagged(tag::OBJECT_ID, o);
        }
        if let Some(x) = &ino.xattrs {
            tagged(tag::XATTRS, x);
        }
        if let Some(u) = &ino.unix_data {
            let raw: Vec<u8> = u.iter().flat_map(|v| v.to_le_bytes()).collect();
            tagged(tag::WIMLIB_UNIX_DATA, &raw);
        }
        let len = b.len() as u64;
        b[0..8].copy_from_slice(&len.to_le_bytes());

        // Streams: the unnamed ones (reparse data first, then the unnamed
        // data of a non-directory), then the named data streams. With one
        // unnamed stream and no named ones, its hash is the main hash;
        // otherwise all go into extra stream entries.
        let find = |k: StreamKind| {
            ino.streams
                .iter()
                .find(|s| s.kind == k && s.name.is_empty())
                .map(|s| s.hash)
                .unwrap_or([0; 20])
        };
        let mut unnamed = Vec::new();
        if ino.is_reparse_point() {
            unnamed.push(find(StreamKind::Reparse));
        }
        if ino.attributes & attr::DIRECTORY == 0 {
            unnamed.push(find(StreamKind::Data));
        }
        let named: Vec<&NewStream> = ino
            .streams
            .iter()
            .filter(|s| s.kind == StreamKind::Data && !s.name.is_empty())
            .collect();
        if unnamed.len() <= 1 && named.is_empty() {
            b[64..84].copy_from_slice(&unnamed.first().copied().unwrap_or([0; 20]));
            return b;
        }
        let n = (unnamed.len() + named.len()) as u16;
        b[96..98].copy_from_slice(&n.to_le_bytes());
        let mut extra = |name: &str, hash: &[u8; 20]| {
            let start = b.len();
            let nm = super::utf16le(name);
            b.resize(start + EXTRA_STREAM_FIXED_SIZE, 0);
            b[start + 16..start + 36].copy_from_slice(hash);
            b[start + 36..start + 38].copy_from_slice(&(nm.len() as u16).to_le_bytes());
            if !nm.is_empty() {
                b.extend_from_slice(&nm);
                b.extend_from_slice(&[0, 0]);
            }
            b.resize(align8(b.len()), 0);
            let l = (b.len() - start) as u64;
            b[start..start + 8].copy_from_slice(&l.to_le_bytes());
        };
        for h in &unnamed {
            extra("", h);
        }
        for s in named {
            extra(&s.name, &s.hash);
        }
        b
    }
}

/// The security data block: `{u32 total_length, u32 num_entries,
/// u64 sizes[n]}`, the descriptors back to back, padded to 8 bytes
/// (wimlib `security.c`).
pub fn encode_security(descriptors: &[Vec<u8>]) -> Vec<u8> {
    let raw_len = 8 + 8 * descriptors.len() + descriptors.iter().map(Vec::len).sum::<usize>();
    let total = align8(raw_len);
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(descriptors.len() as u32).to_le_bytes());
    for d in descriptors {
        out.extend_from_slice(&(d.len() as u64).to_le_bytes());
    }
    for d in descriptors {
        out.extend_from_slice(d);
    }
    out.resize(total, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::image::Image;

    fn file(hash: u8, size: u64) -> NewInode {
        NewInode {
            attributes: attr::NORMAL,
            creation_time: 1,
            last_access_time: 2,
            last_write_time: 3,
            streams: vec![NewStream {
                name: String::new(),
                kind: StreamKind::Data,
                size,
                hash: [hash; 20],
                source: None,
            }],
            ..Default::default()
        }
    }

    fn dir() -> NewInode {
        NewInode {
            attributes: attr::DIRECTORY,
            ..Default::default()
        }
    }

    #[test]
    fn tree_parses_back_with_links_streams_and_security() {
        let mut t = ImageTree::new(dir());
        t.security = vec![vec![
            1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]];
        t.inodes[0].security_id = Some(0);
        let sub = t.add_inode(dir());
        let dsub = t.add_dentry(0, "Sub".into(), sub);
        let empty = t.add_inode(dir());
        t.add_dentry(dsub, "empty".into(), empty);
        let f = t.add_inode(file(1, 10));
        t.add_dentry(0, "b.txt".into(), f);
        t.add_dentry(dsub, "link".into(), f);
        let mut ads = file(2, 5);
        ads.streams.push(NewStream {
            name: "zone".into(),
            kind: StreamKind::Data,
            size: 7,
            hash: [3; 20],
            source: None,
        });
        ads.object_id = Some(vec![0xab; 16]);
        ads.unix_data = Some([1000, 1000, 0o100644, 0]);
        ads.xattrs = Some(vec![1, 0, 2, 0, b'E', b'A', 0, 7]);
        let a = t.add_inode(ads);
        t.add_dentry(0, "A.txt".into(), a);
        let rp = t.add_inode(NewInode {
            attributes: attr::REPARSE_POINT,
            reparse_tag: crate::format::reparse::SYMLINK,
            rp_flags: 1,
            streams: vec![NewStream {
                name: String::new(),
                kind: StreamKind::Reparse,
                size: 20,
                hash: [4; 20],
                source: None,
            }],
            ..Default::default()
        });
        t.add_dentry(0, "sym".into(), rp);
        let st = t.stats();
        assert_eq!(st.dir_count, 3);
        assert_eq!(st.file_count, 4);
        assert_eq!(st.total_bytes, 10 * 2 + 12 + 20);
        assert_eq!(st.hard_link_bytes, 10);

        let meta = t.encode().unwrap();
        let img = Image::parse(&meta).unwrap();
        assert!(img.warnings.is_empty(), "{:?}", img.warnings);
        assert_eq!(img.security.descriptors, t.security);
        let paths: Vec<String> = img.preorder().iter().map(|&d| img.path(d)).collect();
        assert_eq!(
            paths,
            [
                "/",
                "/A.txt",
                "/b.txt",
                "/Sub",
                "/Sub/empty",
                "/Sub/link",
                "/sym"
            ]
        );
        let b = img.lookup("b.txt").unwrap();
        let l = img.lookup("Sub/link").unwrap();
        assert_eq!(
            img.dentries[b as usize].inode,
            img.dentries[l as usize].inode
        );
        assert_eq!(img.inode_of(b).links.len(), 2);
        assert_eq!(img.inode_of(b).last_write_time, 3);
        let ai = img.inode_of(img.lookup("A.txt").unwrap());
        assert_eq!(ai.data_stream().unwrap().hash, [2; 20]);
        assert_eq!(ai.named_streams().next().unwrap().name, "zone");
        assert_eq!(ai.object_id.as_deref(), Some(&[0xab; 16][..]));
        assert_eq!(ai.unix_data, Some([1000, 1000, 0o100644, 0]));
        assert_eq!(
            ai.xattrs.as_deref(),
            Some(&[1, 0, 2, 0, b'E', b'A', 0, 7][..])
        );
        let si = img.inode_of(img.lookup("sym").unwrap());
        assert_eq!(si.reparse_stream().unwrap().hash, [4; 20]);
        assert_eq!(si.reparse_tag, crate::format::reparse::SYMLINK);
        assert_eq!(img.inode_of(0).security_id, Some(0));
    }

    #[test]
    fn unstorable_trees_are_refused() {
        let mut t = ImageTree::new(dir());
        let f = t.add_inode(file(1, 1));
        t.add_dentry(0, "x".into(), f);
        t.add_dentry(0, "x".into(), f);
        assert!(t.encode().is_err());
        let mut t = ImageTree::new(dir());
        let d = t.add_inode(dir());
        t.add_dentry(0, "d1".into(), d);
        t.add_dentry(0, "d2".into(), d);
        assert!(t.encode().is_err());
        let mut t = ImageTree::new(dir());
        let f = t.add_inode(file(1, 1));
        t.add_dentry(0, "..".into(), f);
        assert!(t.encode().is_err());
    }
}
