//! Temporary output files: `.NAME.wimforge-tmp-PID` beside the destination
//! `NAME`, renamed over it once complete (see [`super::writer`] and
//! [`super::split`]).
//!
//! A write killed by a signal (SIGKILL, power loss) cannot remove its
//! temporary file. Every WIM write therefore starts by removing the
//! temporary files of its destination left by processes that no longer
//! exist: only names of exactly our pattern, only regular files, only when
//! the PID in the name is neither ours nor a running process (checked in
//! `/proc`; without `/proc` nothing is removed).

use std::path::{Path, PathBuf};

/// The marker between the destination's name and the PID.
const MARK: &str = ".wimforge-tmp-";

/// The temporary path of this process for `dest`.
pub fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wim".into());
    dest.with_file_name(format!(".{name}{MARK}{}", std::process::id()))
}

fn dir_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The destination name and PID of a temporary file name
/// `.NAME.wimforge-tmp-PID`, if `file_name` is one.
fn parse(file_name: &str) -> Option<(&str, u32)> {
    let rest = file_name.strip_prefix('.')?;
    let at = rest.rfind(MARK)?;
    let pid = &rest[at + MARK.len()..];
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) || pid.starts_with('0') {
        return None;
    }
    Some((&rest[..at], pid.parse().ok()?))
}

/// Whether process `pid` may still be running (true when unsure).
fn maybe_alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new(&format!("/proc/{pid}")).exists()
}

/// Remove, in `dir`, the temporary files of dead processes whose
/// destination name satisfies `wanted`. Returns the paths removed.
fn remove_where(dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return removed;
    };
    for e in rd.flatten() {
        let os = e.file_name();
        let Some(fname) = os.to_str() else { continue };
        let Some((name, pid)) = parse(fname) else {
            continue;
        };
        if !wanted(name) || maybe_alive(pid) {
            continue;
        }
        let path = e.path();
        let regular = std::fs::symlink_metadata(&path)
            .map(|m| m.file_type().is_file())
            .unwrap_or(false);
        if regular && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// Remove the temporary files of `dest` left by dead processes. Returns
/// the paths removed.
pub fn remove_stale_temps(dest: &Path) -> Vec<PathBuf> {
    let Some(name) = dest.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    remove_where(&dir_of(dest), &|n| n == name)
}

/// Remove the temporary files of dead processes for any part of a split
/// set whose first part is `first` (`NAME.swm`, `NAMEn.swm`, see
/// [`super::split::part_path`]). Returns the paths removed.
pub fn remove_stale_split_temps(first: &Path) -> Vec<PathBuf> {
    let Some(name) = first.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let stem = first
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let ext = first
        .extension()
        .and_then(|s| s.to_str())
        .map(|e| format!(".{e}"));
    let name = name.to_string();
    remove_where(&dir_of(first), &move |n: &str| {
        if n == name {
            return true;
        }
        let Some(rest) = n.strip_prefix(stem.as_str()) else {
            return false;
        };
        let digits = match &ext {
            Some(e) => match rest.strip_suffix(e.as_str()) {
                Some(d) => d,
                None => return false,
            },
            None => rest,
        };
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_exact_pattern_parses() {
        assert_eq!(parse(".a.wim.wimforge-tmp-123"), Some(("a.wim", 123)));
        assert_eq!(parse("a.wim.wimforge-tmp-123"), None);
        assert_eq!(parse(".a.wim.wimforge-tmp-"), None);
        assert_eq!(parse(".a.wim.wimforge-tmp-12x"), None);
        assert_eq!(parse(".a.wim.wimforge-tmp-012"), None);
        assert_eq!(parse(".a.wim.tmp-123-0"), None);
    }

    #[test]
    fn stale_temps_of_dead_processes_go_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        // A PID far above any pid_max cannot be running.
        let dead = 3_999_999_999u32;
        let me = std::process::id();
        let keep = [
            format!(".out.wim.wimforge-tmp-{me}"),
            format!(".other.wim.wimforge-tmp-{dead}"),
            format!("out.wim.wimforge-tmp-{dead}"),
            format!(".out.wim.tmp-{dead}-0"),
            "out.wim".to_string(),
        ];
        for k in &keep {
            std::fs::write(d.join(k), b"x").unwrap();
        }
        let stale = d.join(format!(".out.wim.wimforge-tmp-{dead}"));
        std::fs::write(&stale, b"x").unwrap();
        // A directory of the same name is never removed.
        let dir_like = d.join(format!(".out.wim.wimforge-tmp-{}", dead - 1));
        std::fs::create_dir(&dir_like).unwrap();
        assert_eq!(remove_stale_temps(&d.join("out.wim")), vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(dir_like.is_dir());
        for k in &keep {
            assert!(d.join(k).exists(), "{k} removed");
        }
    }

    #[test]
    fn split_temps_cover_numbered_parts_only() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let dead = 3_999_999_999u32;
        let names = ["x.swm", "x2.swm", "x17.swm", "xa.swm", "y2.swm", "x2.wim"];
        for n in names {
            std::fs::write(d.join(format!(".{n}.wimforge-tmp-{dead}")), b"x").unwrap();
        }
        let removed = remove_stale_split_temps(&d.join("x.swm"));
        let got: Vec<String> = removed
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            [
                format!(".x.swm.wimforge-tmp-{dead}"),
                format!(".x17.swm.wimforge-tmp-{dead}"),
                format!(".x2.swm.wimforge-tmp-{dead}"),
            ]
        );
    }
}
