//! DOS 8.3 short names for new files (the $FILE_NAME DOS namespace, NTFS
//! Documentation "Attribute - $FILE_NAME"), generated the way Windows does
//! by default ("~N" names, as described for `RtlGenerate8dot3Name` and
//! `fsutil 8dot3name`): up to 6 legal characters of the base name in upper
//! case, `~1`..`~4`, then 2 characters, 4 hex digits of a hash of the long
//! name and `~N`; the extension is the first 3 legal characters after the
//! last dot. The caller checks uniqueness in the directory.

/// Characters allowed in a DOS name besides A-Z and 0-9.
const PUNCT: &[u8] = b"!#$%&'()-@^_`{}~";

fn legal(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || (c.is_ascii() && PUNCT.contains(&(c as u8)))
}

/// Is `name` a valid 8.3 name as written (upper case, 1-8 + 0-3 legal
/// characters)? Then it serves as its own short name (WIN32_AND_DOS).
pub fn is_8dot3(name: &str) -> bool {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) => (b, Some(e)),
        None => (name, None),
    };
    let ok = |s: &str, max: usize| s.chars().count() <= max && s.chars().all(legal);
    !base.is_empty()
        && ok(base, 8)
        && ext.is_none_or(|e| !e.is_empty() && ok(e, 3))
        && name != "."
        && name != ".."
}

/// Would `name` be a valid 8.3 name once upper-cased (e.g. `readme.txt`)?
/// Returns that upper-case form.
pub fn upper_8dot3(name: &str) -> Option<String> {
    let u = name.to_ascii_uppercase();
    (name.is_ascii() && is_8dot3(&u)).then_some(u)
}

fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| c != ' ' && c != '.')
        .map(|c| {
            let u = c.to_ascii_uppercase();
            if legal(u) {
                u
            } else {
                '_'
            }
        })
        .collect()
}

fn hash(name: &str) -> u16 {
    // A 16-bit mix of the UTF-16 code units (deterministic; Windows' own
    // checksum is not documented and not needed for validity).
    let mut h: u32 = 0;
    for c in name.encode_utf16() {
        h = h.wrapping_mul(37).wrapping_add(c as u32);
        h ^= h >> 15;
    }
    (h ^ (h >> 16)) as u16
}

/// Candidate number `n` (1, 2, ...) of the short name for `long`.
pub fn candidate(long: &str, n: u32) -> String {
    let trimmed = long.trim_start_matches('.');
    let (base, ext) = match trimmed.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => (clean(b), clean(e)),
        _ => (clean(trimmed), String::new()),
    };
    let base = if base.is_empty() {
        "_".to_string()
    } else {
        base
    };
    let ext: String = ext.chars().take(3).collect();
    let tail = format!("~{n}");
    let stem: String = if n <= 4 {
        base.chars().take(8 - tail.len()).collect()
    } else {
        let two: String = base.chars().take(2).collect();
        let h = format!("{:04X}", hash(long).wrapping_add(((n - 5) / 9) as u16));
        let tail = format!("~{}", (n - 5) % 9 + 1);
        let s = format!("{two}{h}");
        return join(
            &s.chars().take(8 - tail.len()).collect::<String>(),
            &tail,
            &ext,
        );
    };
    join(&stem, &tail, &ext)
}

fn join(stem: &str, tail: &str, ext: &str) -> String {
    if ext.is_empty() {
        format!("{stem}{tail}")
    } else {
        format!("{stem}{tail}.{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_8dot3("README.TXT"));
        assert!(is_8dot3("A"));
        assert!(!is_8dot3("readme.txt"));
        assert!(!is_8dot3("LONGFILENAME.TXT"));
        assert!(!is_8dot3("A.B.C"));
        assert!(!is_8dot3("A B.TXT"));
        assert_eq!(upper_8dot3("readme.txt").as_deref(), Some("README.TXT"));
        assert_eq!(upper_8dot3("read me.txt"), None);
        assert_eq!(candidate("Program Files", 1), "PROGRA~1");
        assert_eq!(candidate("Long File Name.html", 2), "LONGFI~2.HTM");
        assert_eq!(candidate(".bashrc", 1), "BASHRC~1");
        assert_eq!(candidate("a+b=c.tar.gz", 1), "A_B_CT~1.GZ");
        assert_eq!(candidate("ünïcode.txt", 1), "_N_COD~1.TXT");
        let c5 = candidate("Long File Name.html", 5);
        assert!(
            c5.starts_with("LO") && c5.ends_with("~1.HTM") && c5.len() == 12,
            "{c5}"
        );
        for n in 1..40 {
            let c = candidate("some very long name.extension", n);
            assert!(is_8dot3(&c), "{c}");
        }
    }
}
