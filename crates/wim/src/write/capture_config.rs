//! Capture configuration files: which paths a capture leaves out, in the
//! format wimlib's `--config` reads (and WIMGAPI's `WimScript.ini` uses).
//!
//! The file is text, UTF-8 (optionally with a BOM) or UTF-16LE (with the
//! `FF FE` BOM, or recognised by an ASCII first character followed by a
//! zero byte), in INI-like bracketed sections. Blank lines and lines
//! starting with `;` or `#` are comments; leading and trailing white space
//! is dropped, and one pair of enclosing `"` or `'` quotes. Sections:
//! - `[ExclusionList]`: path globs left out of the capture; a directory
//!   matched is left out with everything under it;
//! - `[ExclusionException]`: path globs kept even when an exclusion
//!   matches them; a directory matched is kept whole, and an absolute
//!   exception also keeps the directories leading to it (so `/dir/file`
//!   can be kept out of an excluded `/dir`);
//! - `[PrepopulateList]`, `[CompressionExclusionList]`,
//!   `[CompressionFolderList]`: recognised and ignored (they do not
//!   affect what is captured); other sections are ignored with a warning.
//!
//! A glob holds `*` (any run of characters within one path component) and
//! `?` (one character). An absolute glob (starting with `/` or `\`)
//! matches the path from the capture root component by component; a
//! relative one is a single component matched against a file's name in
//! any directory. Both separators are accepted and repeated ones
//! collapse; a leading drive letter (`C:\…`) is dropped with a warning,
//! and a drive-relative one (`C:file`) is an error, as is a relative glob
//! with a separator.
//!
//! Without a configuration file, captures use [`CaptureConfig::windows_default`]
//! (the list wimlib-imagex applies by default).

use crate::error::{Error, Result};
use std::path::Path;

/// Largest configuration file read.
const MAX_CONFIG_SIZE: u64 = 16 << 20;

/// The paths a capture leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureConfig {
    /// `[ExclusionList]` globs, with `/` separators.
    pub exclusions: Vec<String>,
    /// `[ExclusionException]` globs, with `/` separators.
    pub exceptions: Vec<String>,
    /// Compare names ignoring (Unicode simple) case, as Windows would;
    /// off, names match exactly (wimlib's default on Linux).
    pub ignore_case: bool,
    /// Problems that did not stop the parse (unknown sections, lines
    /// outside a section, dropped drive letters).
    pub warnings: Vec<String>,
}

/// wimlib's default exclusions (its built-in `[ExclusionList]`): volume
/// housekeeping files of Windows, not user data.
pub const WINDOWS_DEFAULT_EXCLUSIONS: &[&str] = &[
    "/$ntfs.log",
    "/hiberfil.sys",
    "/pagefile.sys",
    "/swapfile.sys",
    "/System Volume Information",
    "/RECYCLER",
    "/$RECYCLE.BIN",
    "/$Recycle.Bin",
    "/Windows/CSC",
];

enum Section {
    None,
    Exclusions,
    Exceptions,
    Ignored,
}

impl CaptureConfig {
    /// The configuration captures use when given none.
    pub fn windows_default() -> CaptureConfig {
        CaptureConfig {
            exclusions: WINDOWS_DEFAULT_EXCLUSIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..Default::default()
        }
    }

    /// Read and parse the configuration file at `path`.
    pub fn load(path: &Path) -> Result<CaptureConfig> {
        use std::io::Read;
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut bytes = Vec::new();
        f.take(MAX_CONFIG_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        if bytes.len() as u64 > MAX_CONFIG_SIZE {
            return Err(Error::Refused(format!(
                "{}: capture configuration larger than {MAX_CONFIG_SIZE} bytes",
                path.display()
            )));
        }
        CaptureConfig::parse(&bytes, &path.display().to_string())
    }

    /// Parse configuration text; `name` names it in errors and warnings.
    pub fn parse(bytes: &[u8], name: &str) -> Result<CaptureConfig> {
        let text = decode(bytes).ok_or_else(|| {
            Error::Refused(format!(
                "{name}: capture configuration is neither UTF-8 nor UTF-16LE text"
            ))
        })?;
        let mut c = CaptureConfig::default();
        let mut section = Section::None;
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if line.len() >= 2 && line.starts_with('[') && line.ends_with(']') {
                section = match &line[1..line.len() - 1] {
                    "ExclusionList" => Section::Exclusions,
                    "ExclusionException" => Section::Exceptions,
                    "PrepopulateList" | "CompressionExclusionList" | "CompressionFolderList" => {
                        Section::Ignored
                    }
                    other => {
                        c.warnings.push(format!(
                            "{name}:{line_no}: unknown section [{other}]; its lines are ignored"
                        ));
                        Section::Ignored
                    }
                };
                continue;
            }
            let list = match section {
                Section::Exclusions => &mut c.exclusions,
                Section::Exceptions => &mut c.exceptions,
                Section::Ignored => continue,
                Section::None => {
                    c.warnings.push(format!(
                        "{name}:{line_no}: {line:?} is not in a [section]; ignored"
                    ));
                    continue;
                }
            };
            let unquoted = unquote(line);
            let pat = canonical_pattern(unquoted, name, line_no, &mut c.warnings)?;
            list.push(pat);
        }
        Ok(c)
    }

    /// Whether the file at `path` (from the capture root, `/`-separated,
    /// starting with `/`) is left out. The caller does not descend into a
    /// directory left out.
    pub fn excludes(&self, path: &str) -> bool {
        self.exclusions
            .iter()
            .any(|p| match_path(path, p, true, false, self.ignore_case))
            && !self
                .exceptions
                .iter()
                .any(|p| match_path(path, p, true, true, self.ignore_case))
    }
}

/// The text of a configuration file (see the module documentation for
/// how the encoding is told).
fn decode(b: &[u8]) -> Option<String> {
    let utf16 = |b: &[u8]| -> Option<String> {
        if b.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).ok()
    };
    if let Some(rest) = b.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest);
    }
    if b.len() >= 2 && b[0] <= 0x7F && b[1] == 0 {
        return utf16(b);
    }
    let rest = b.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(b);
    String::from_utf8(rest.to_vec()).ok()
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// A glob with `/` separators, repeated separators collapsed, no trailing
/// separator and no drive letter.
fn canonical_pattern(
    pat: &str,
    name: &str,
    line_no: usize,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let sep = |c: char| c == '/' || c == '\\';
    let mut p = pat;
    let mut chars = p.chars();
    if let (Some(first), Some(':')) = (chars.next(), chars.next()) {
        if !sep(first) {
            if !chars.next().is_some_and(sep) {
                return Err(Error::Refused(format!(
                    "{name}:{line_no}: pattern {pat:?} names a drive but is not absolute \
                     (write it as {first}:\\…)"
                )));
            }
            warnings.push(format!(
                "{name}:{line_no}: pattern {pat:?}: drive letter dropped"
            ));
            p = &p[first.len_utf8() + 1..];
        }
    }
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if sep(c) {
            if !out.ends_with('/') {
                out.push('/');
            }
        } else {
            out.push(c);
        }
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    if !out.starts_with('/') && out.contains('/') {
        return Err(Error::Refused(format!(
            "{name}:{line_no}: relative pattern {pat:?} has a path separator (a relative \
             pattern matches a file name; start it with \\ to match from the capture root)"
        )));
    }
    Ok(out)
}

/// `*` and `?` glob match of one path component.
fn glob(name: &[char], pat: &[char], ignore_case: bool) -> bool {
    let same = |a: char, b: char| a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()));
    // Iterative matching with one backtrack point (the last `*`).
    let (mut n, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() && pat[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if p < pat.len() && (pat[p] == '?' || same(name[n], pat[p])) {
            n += 1;
            p += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == '*')
}

/// Whether `path` matches `pattern` (both `/`-separated). A relative
/// pattern matches the last component. `recursively`: a path below a
/// matched directory matches; `ancestors`: a directory on the way to a
/// match matches.
fn match_path(path: &str, pattern: &str, recursively: bool, ancestors: bool, icase: bool) -> bool {
    let path = if pattern.starts_with('/') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    };
    let mut pc = path.split('/').filter(|s| !s.is_empty());
    let mut tc = pattern.split('/').filter(|s| !s.is_empty());
    loop {
        match (tc.next(), pc.next()) {
            (None, None) => return true,
            (None, Some(_)) => return recursively,
            (Some(_), None) => return ancestors,
            (Some(t), Some(p)) => {
                let t: Vec<char> = t.chars().collect();
                let p: Vec<char> = p.chars().collect();
                if !glob(&p, &t, icase) {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> CaptureConfig {
        CaptureConfig::parse(text.as_bytes(), "test.ini").unwrap()
    }

    #[test]
    fn globs_match_within_components() {
        let g = |n: &str, p: &str| {
            glob(
                &n.chars().collect::<Vec<_>>(),
                &p.chars().collect::<Vec<_>>(),
                false,
            )
        };
        assert!(g("file.tmp", "*.tmp"));
        assert!(g("a", "?"));
        assert!(!g("ab", "?"));
        assert!(g("abcbd", "a*b*d"));
        assert!(!g("abc", "a*d"));
        assert!(g("", "*"));
        assert!(!g("File.TMP", "*.tmp"));
        assert!(glob(&['F', '.', 'T'], &['f', '.', 't'], true));
    }

    #[test]
    fn sections_comments_quotes_and_separators() {
        let c = cfg(
            "; comment\n# another\n[ExclusionList]\n  \\dir\\\\sub\\  \r\n\
                     \"*.tmp\"\n'/with space'\nC:\\pagefile.sys\n[ExclusionException]\n\
                     /dir/sub/keep\n[PrepopulateList]\n/x\n[Other]\n/y\n",
        );
        assert_eq!(
            c.exclusions,
            ["/dir/sub", "*.tmp", "/with space", "/pagefile.sys"]
        );
        assert_eq!(c.exceptions, ["/dir/sub/keep"]);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    }

    #[test]
    fn bad_patterns_are_errors_naming_the_line() {
        let e = CaptureConfig::parse(b"[ExclusionList]\na/b\n", "x.ini").unwrap_err();
        assert!(e.to_string().contains("x.ini:2"), "{e}");
        assert!(CaptureConfig::parse(b"[ExclusionList]\nC:file\n", "x").is_err());
        assert!(CaptureConfig::parse(&[0xC3, 0x28], "x").is_err());
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let text = "[ExclusionList]\r\n\\ä.txt\r\n";
        let units: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let mut bom = vec![0xFF, 0xFE];
        bom.extend_from_slice(&units);
        for b in [&units, &bom] {
            let c = CaptureConfig::parse(b, "u16").unwrap();
            assert_eq!(c.exclusions, ["/ä.txt"]);
        }
        let mut u8bom = vec![0xEF, 0xBB, 0xBF];
        u8bom.extend_from_slice(text.as_bytes());
        assert_eq!(
            CaptureConfig::parse(&u8bom, "u8").unwrap().exclusions,
            ["/ä.txt"]
        );
    }

    #[test]
    fn exclusions_and_exceptions() {
        let c = cfg("[ExclusionList]\n/dir\n*.tmp\n/a/*/c\n\
                     [ExclusionException]\n/dir/keep\nimportant.tmp\n");
        assert!(c.excludes("/dir/x"));
        assert!(c.excludes("/dir/sub/y"));
        // An ancestor of an exception is kept (its other contents not).
        assert!(!c.excludes("/dir"));
        assert!(!c.excludes("/dir/keep"));
        assert!(!c.excludes("/dir/keep/inside"));
        assert!(c.excludes("/x/y.tmp"));
        assert!(!c.excludes("/x/important.tmp"));
        assert!(c.excludes("/a/b/c"));
        assert!(c.excludes("/a/b/c/d"));
        assert!(!c.excludes("/a/b"));
        assert!(!c.excludes("/a/b/cc"));
        assert!(!c.excludes("/Dir/x"));
        let d = CaptureConfig::windows_default();
        assert!(d.excludes("/pagefile.sys"));
        assert!(d.excludes("/Windows/CSC/x"));
        assert!(!d.excludes("/Windows/pagefile.sys"));
        assert!(!d.excludes("/windows/csc"));
    }
}
