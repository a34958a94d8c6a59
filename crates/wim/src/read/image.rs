//! An image's directory tree, built from its metadata resource: dentries
//! (names) pointing at inodes (file data and metadata). Dentries that share
//! a non-zero hard link group id form one inode (wimlib `inode_fixup.c`).
//!
//! Hostile trees are handled here: cyclic or absurdly deep directories are
//! rejected; names that are empty, `.`, `..` or contain NUL are dropped with
//! a warning, as are exact duplicate names in one directory.

use super::dentry::{read_dentry, RawDentry, Stream, StreamKind};
use super::security::SecurityData;
use crate::error::{FormatError, FormatErrorKind};
use crate::format::attr;
use std::collections::{HashMap, HashSet};

/// Deepest directory nesting accepted.
pub const MAX_DEPTH: usize = 16384;

/// File data and metadata shared by all names of one file.
#[derive(Debug, Clone)]
pub struct Inode {
    pub attributes: u32,
    pub security_id: Option<u32>,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub reparse_tag: u32,
    pub rp_reserved: u16,
    pub rp_flags: u16,
    pub hard_link_group: u64,
    pub streams: Vec<Stream>,
    pub object_id: Option<Vec<u8>>,
    pub xattrs: Option<Vec<u8>>,
    pub unix_data: Option<[u32; 4]>,
    pub linux_xattrs_old: Option<Vec<u8>>,
    /// Dentries naming this inode, in tree order.
    pub links: Vec<u32>,
}

impl Inode {
    pub fn is_directory(&self) -> bool {
        self.attributes & attr::DIRECTORY != 0
    }

    pub fn is_reparse_point(&self) -> bool {
        self.attributes & attr::REPARSE_POINT != 0
    }

    /// The unnamed data stream, if any.
    pub fn data_stream(&self) -> Option<&Stream> {
        self.streams
            .iter()
            .find(|s| s.kind == StreamKind::Data && s.name.is_empty())
    }

    pub fn reparse_stream(&self) -> Option<&Stream> {
        self.streams.iter().find(|s| s.kind == StreamKind::Reparse)
    }

    pub fn named_streams(&self) -> impl Iterator<Item = &Stream> {
        self.streams
            .iter()
            .filter(|s| s.kind == StreamKind::Data && !s.name.is_empty())
    }
}

/// A name in the tree.
#[derive(Debug, Clone)]
pub struct Dentry {
    pub name: String,
    pub short_name: String,
    pub parent: u32,
    pub children: Vec<u32>,
    pub inode: u32,
}

/// A parsed image: `dentries[0]` is the root.
#[derive(Debug, Clone)]
pub struct Image {
    pub dentries: Vec<Dentry>,
    pub inodes: Vec<Inode>,
    pub security: SecurityData,
    /// Problems that were tolerated (ignored names, duplicates).
    pub warnings: Vec<String>,
}

impl Image {
    /// Build the tree from an uncompressed metadata resource.
    pub fn parse(meta: &[u8]) -> Result<Image, FormatError> {
        let security = SecurityData::parse(meta)?;
        let root_off = security.total_length;
        let (root, _) = read_dentry(meta, root_off)?;
        let root = root
            .ok_or_else(|| FormatError::invalid(root_off, "dentry", "image has no root dentry"))?;
        if !root.is_directory() {
            return Err(FormatError::invalid(
                root_off,
                "dentry",
                "root is not a directory",
            ));
        }
        let mut b = Builder {
            meta,
            dentries: Vec::new(),
            raws: Vec::new(),
            warnings: Vec::new(),
            seen_dirs: HashSet::new(),
        };
        b.push(root, u32::MAX);
        b.build_tree()?;
        let Builder {
            dentries,
            raws,
            warnings,
            ..
        } = b;
        let (dentries, inodes) = make_inodes(dentries, raws, security.descriptors.len());
        let mut image = Image {
            dentries,
            inodes,
            security,
            warnings,
        };
        image.sort_children();
        Ok(image)
    }

    pub fn root(&self) -> &Dentry {
        &self.dentries[0]
    }

    pub fn inode_of(&self, d: u32) -> &Inode {
        &self.inodes[self.dentries[d as usize].inode as usize]
    }

    /// Full path of dentry `d` in wimlib's form (`/`, `/Windows/System32`).
    pub fn path(&self, d: u32) -> String {
        path_of(&self.dentries, d)
    }

    /// Dentries in pre-order (parents before children, children in
    /// collation order), as `wimlib-imagex dir` lists them.
    pub fn preorder(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.dentries.len());
        let mut stack = vec![0u32];
        while let Some(d) = stack.pop() {
            out.push(d);
            for &c in self.dentries[d as usize].children.iter().rev() {
                stack.push(c);
            }
        }
        out
    }

    /// Look a path up (components separated by `/` or `\`, exact case).
    pub fn lookup(&self, path: &str) -> Option<u32> {
        let mut cur = 0u32;
        for comp in path.split(['/', '\\']).filter(|c| !c.is_empty()) {
            cur = *self.dentries[cur as usize]
                .children
                .iter()
                .find(|&&c| self.dentries[c as usize].name == comp)?;
        }
        Some(cur)
    }

    /// Counts of directories and non-directories, as the XML reports them.
    pub fn counts(&self) -> (u64, u64) {
        let dirs = self
            .dentries
            .iter()
            .filter(|d| self.inodes[d.inode as usize].is_directory())
            .count() as u64;
        (dirs, self.dentries.len() as u64 - dirs)
    }

    fn sort_children(&mut self) {
        let names: Vec<Vec<u16>> = self
            .dentries
            .iter()
            .map(|d| d.name.encode_utf16().collect())
            .collect();
        for d in &mut self.dentries {
            d.children
                .sort_by(|&a, &b| collate(&names[a as usize], &names[b as usize]));
        }
    }
}

/// Order of names in a directory: case-insensitive (upper-cased UTF-16 code
/// units), then case-sensitive as a tie-break — the order NTFS and
/// `wimlib-imagex dir` use.
pub fn collate(a: &[u16], b: &[u16]) -> std::cmp::Ordering {
    let ua = a.iter().map(|&c| upcase(c));
    let ub = b.iter().map(|&c| upcase(c));
    ua.cmp(ub).then_with(|| a.cmp(b))
}

/// Upper-case one UTF-16 code unit (simple mappings that stay in the BMP
/// and map to one code unit; everything else maps to itself).
pub fn upcase(c: u16) -> u16 {
    if c < 0x80 {
        return (c as u8).to_ascii_uppercase() as u16;
    }
    match char::from_u32(c as u32) {
        Some(ch) => {
            let mut up = ch.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) if (u as u32) < 0x10000 => u as u16,
                _ => c,
            }
        }
        None => c,
    }
}

struct Builder<'a> {
    meta: &'a [u8],
    dentries: Vec<Dentry>,
    raws: Vec<RawDentry>,
    warnings: Vec<String>,
    seen_dirs: HashSet<u64>,
}

impl Builder<'_> {
    fn push(&mut self, raw: RawDentry, parent: u32) -> u32 {
        let idx = self.dentries.len() as u32;
        self.dentries.push(Dentry {
            name: if parent == u32::MAX {
                String::new()
            } else {
                raw.name.clone()
            },
            short_name: raw.short_name.clone(),
            parent: if parent == u32::MAX { 0 } else { parent },
            children: Vec::new(),
            inode: idx,
        });
        self.raws.push(raw);
        idx
    }

    fn build_tree(&mut self) -> Result<(), FormatError> {
        // Iterative depth-first walk: (dentry index, depth).
        let mut stack = vec![(0u32, 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let sub = self.raws[dir as usize].subdir_offset;
            if sub == 0 {
                continue;
            }
            if !self.raws[dir as usize].is_directory() {
                self.warnings.push(format!(
                    "ignoring children of non-directory {}",
                    self.path(dir)
                ));
                continue;
            }
            if depth >= MAX_DEPTH {
                return Err(FormatError::new(
                    self.raws[dir as usize].offset,
                    "dentry",
                    FormatErrorKind::TooDeep(MAX_DEPTH),
                ));
            }
            // Each directory's child list may be read only once: a second
            // visit means the tree points back into itself.
            if !self.seen_dirs.insert(sub) {
                return Err(FormatError::new(
                    self.raws[dir as usize].offset,
                    "dentry",
                    FormatErrorKind::Cyclic,
                ));
            }
            let mut off = sub;
            let mut names: HashSet<String> = HashSet::new();
            loop {
                let (child, next) = read_dentry(self.meta, off)?;
                let Some(child) = child else { break };
                off = next;
                if child.name.is_empty()
                    || child.name == "."
                    || child.name == ".."
                    || child.name_has_nul
                {
                    self.warnings.push(format!(
                        "ignoring entry with invalid name {:?} in {}",
                        child.name,
                        self.path(dir)
                    ));
                    continue;
                }
                if !names.insert(child.name.clone()) {
                    self.warnings.push(format!(
                        "ignoring duplicate entry {}/{}",
                        self.path(dir).trim_end_matches('/'),
                        child.name
                    ));
                    continue;
                }
                let idx = self.push(child, dir);
                self.dentries[dir as usize].children.push(idx);
                stack.push((idx, depth + 1));
            }
        }
        Ok(())
    }

    fn path(&self, d: u32) -> String {
        path_of(&self.dentries, d)
    }
}

/// Path of dentry `d`, following parent links up to the root (index 0).
fn path_of(dentries: &[Dentry], d: u32) -> String {
    let mut parts = Vec::new();
    let mut cur = d;
    while cur != 0 {
        let den = &dentries[cur as usize];
        parts.push(den.name.as_str());
        cur = den.parent;
    }
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut s = String::new();
    for p in parts.iter().rev() {
        s.push('/');
        s.push_str(p);
    }
    s
}

/// Merge dentries into inodes by hard link group.
fn make_inodes(
    mut dentries: Vec<Dentry>,
    raws: Vec<RawDentry>,
    num_security: usize,
) -> (Vec<Dentry>, Vec<Inode>) {
    let mut inodes: Vec<Inode> = Vec::with_capacity(raws.len());
    let mut groups: HashMap<u64, u32> = HashMap::new();
    for (i, raw) in raws.into_iter().enumerate() {
        let group = raw.hard_link_group;
        if group != 0 && !raw.is_directory() {
            if let Some(&ino) = groups.get(&group) {
                // Another name of a file already seen; only merge when the
                // data agrees, otherwise keep them apart (as wimlib does
                // with inconsistent groups).
                if inodes[ino as usize].streams == raw.streams {
                    inodes[ino as usize].links.push(i as u32);
                    dentries[i].inode = ino;
                    continue;
                }
            }
        }
        let ino = inodes.len() as u32;
        if group != 0 && !raw.is_directory() {
            groups.entry(group).or_insert(ino);
        }
        let security_id = raw.security_id.filter(|&s| (s as usize) < num_security);
        inodes.push(Inode {
            attributes: raw.attributes,
            security_id,
            creation_time: raw.creation_time,
            last_access_time: raw.last_access_time,
            last_write_time: raw.last_write_time,
            reparse_tag: raw.reparse_tag,
            rp_reserved: raw.rp_reserved,
            rp_flags: raw.rp_flags,
            hard_link_group: group,
            streams: raw.streams,
            object_id: raw.object_id,
            xattrs: raw.xattrs,
            unix_data: raw.unix_data,
            linux_xattrs_old: raw.linux_xattrs_old,
            links: vec![i as u32],
        });
        dentries[i].inode = ino;
    }
    (dentries, inodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn collation_is_case_insensitive_then_case_sensitive() {
        let mut names = vec!["b", "A", "a", "B", "_x", "Z", "ab", "\u{e9}", "\u{c9}"];
        names.sort_by(|a, b| collate(&u(a), &u(b)));
        assert_eq!(
            names,
            vec!["A", "a", "ab", "B", "b", "Z", "_x", "\u{c9}", "\u{e9}"]
        );
    }

    #[test]
    fn metadata_with_no_root_or_garbage_is_rejected() {
        assert!(Image::parse(&[]).is_err());
        assert!(Image::parse(&[8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Security block claiming 2^32-1 entries in 16 bytes.
        let mut m = vec![16u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        m.extend_from_slice(&[0; 8]);
        let e = Image::parse(&m).unwrap_err();
        assert!(e.to_string().contains("security data"), "{e}");
    }
}
