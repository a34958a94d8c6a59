//! `wimforge wim capture|append` on hostile input (issue #8): entries that
//! cannot be read, special files, names Windows cannot hold, host paths
//! too long, files that change while being captured, odd symbolic links.
//! Failures must name the path and leave the destination as it was (no
//! WIM, no temporary file; an appended-to WIM byte-identical); accepted
//! input is checked with wimlib-imagex (verify, dir, apply).

mod support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{capture_ok, have, ok, run, wimforge};

/// Our effective user id: the owner of a file we just created.
fn euid(dir: &Path) -> u32 {
    let p = dir.join(".euid-probe");
    fs::write(&p, b"").unwrap();
    let uid = fs::metadata(&p).unwrap().uid();
    fs::remove_file(&p).unwrap();
    uid
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A path as capture messages show it: plain when UTF-8 without control
/// characters, else quoted with escapes.
fn shown(p: &Path) -> String {
    match p.to_str() {
        Some(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("{p:?}"),
    }
}

/// `wimforge wim capture|append SRC WIM` that must fail; returns stderr.
fn fails(cmd: &mut Command) -> String {
    let out = run(cmd);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{cmd:?} succeeded:\n{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn verb(v: &str, src: &Path, wim: &Path) -> Command {
    let mut c = wimforge();
    c.args(["wim", v, "--no-default-excludes"])
        .arg(src)
        .arg(wim);
    c
}

/// `wimlib-imagex verify WIM` must pass.
fn wimlib_verify(wim: &Path) {
    ok(Command::new("wimlib-imagex").arg("verify").arg(wim));
}

/// `wimlib-imagex dir WIM 1` as a set of paths.
fn wimlib_dir(wim: &Path) -> BTreeSet<String> {
    ok(Command::new("wimlib-imagex").arg("dir").arg(wim).arg("1"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// A WIM of one small image in `dir/base.wim`, writable by anyone.
fn base_wim(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("base-src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("keep.txt"), b"keep me\n").unwrap();
    let wim = dir.join("base.wim");
    capture_ok(&src, &wim, &["--deterministic"]);
    fs::set_permissions(&wim, fs::Permissions::from_mode(0o666)).unwrap();
    wim
}

#[test]
fn unreadable_entries_fail_naming_each_and_leave_the_destination_alone() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    // When we are root, permissions do not stop us: run the capture as
    // `nobody`, so everything it must reach is open to others.
    let as_root = euid(root) == 0;
    fs::set_permissions(root, fs::Permissions::from_mode(0o777)).unwrap();
    let src = root.join("src");
    fs::create_dir_all(src.join("open/sub")).unwrap();
    fs::write(src.join("open/sub/fine.txt"), b"fine\n").unwrap();
    fs::write(src.join("secret.txt"), b"secret\n").unwrap();
    fs::create_dir(src.join("locked")).unwrap();
    fs::write(src.join("locked/inside.txt"), b"inside\n").unwrap();
    fs::write(src.join(OsStr::from_bytes(b"latin1-\xe9t\xe9")), b"x").unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"to-\xff"), src.join("badlink")).unwrap();
    for d in [&src, &src.join("open"), &src.join("open/sub")] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
    }
    fs::set_permissions(src.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(src.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let unprivileged = |mut c: Command| -> Command {
        if as_root {
            c.uid(65534).gid(65534);
        }
        c
    };

    // capture: one error listing all four entries, exit 1, no WIM.
    let out = root.join("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
    let wim = out.join("new.wim");
    let err = fails(&mut unprivileged(verb("capture", &src, &wim)));
    assert!(err.contains("4 entries cannot be captured"), "{err}");
    let secret = src.join("secret.txt");
    assert!(
        err.contains(&format!(
            "{}: cannot be read: Permission denied",
            secret.display()
        )),
        "{err}"
    );
    let locked = src.join("locked");
    assert!(
        err.contains(&format!(
            "{}: cannot be listed: Permission denied",
            locked.display()
        )),
        "{err}"
    );
    assert!(err.contains(r#"latin1-\xE9t\xE9"#), "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    let badlink = format!(
        "{}: symlink target \"to-\\xFF\" is not valid UTF-8",
        src.join("badlink").display()
    );
    assert!(err.contains(&badlink), "no {badlink:?} in {err}");
    // The OS error is given once, not repeated by the error chain.
    assert!(
        !err.contains("(os error 13): Permission denied"),
        "repeated cause: {err}"
    );
    assert!(names(&out).is_empty(), "left behind: {:?}", names(&out));

    // append: the same failure, and the WIM stays byte-identical.
    let base = base_wim(&out);
    let before = fs::read(&base).unwrap();
    let err = fails(&mut unprivileged(verb("append", &src, &base)));
    assert!(err.contains("4 entries cannot be captured"), "{err}");
    assert!(fs::read(&base).unwrap() == before, "append changed the WIM");
    assert_eq!(names(&out), ["base-src", "base.wim"]);

    // Leave the tree removable when we are not root.
    fs::set_permissions(src.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn special_files_are_skipped_with_a_warning_and_never_opened() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), b"data").unwrap();
    let fifo = std::ffi::CString::new(src.join("pipe").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let mut expected = vec![("pipe", "FIFO"), ("sock", "socket")];
    if euid(t.path()) == 0 {
        let dev = std::ffi::CString::new(src.join("null").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; 1:3 is /dev/null's number.
        let r = unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
        if r == 0 {
            expected.push(("null", "device node"));
        } else {
            eprintln!("note: mknod refused here; no device node in this test");
        }
    } else {
        eprintln!("note: not root, so no device node in this test");
    }
    // Nothing may block on the FIFO: a capture that has not finished in a
    // minute is killed and fails the test.
    let wim = t.path().join("o.wim");
    let mut child = verb("capture", &src, &wim)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("capture blocked (on the FIFO?)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out: Output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for (name, what) in &expected {
        let line = format!(
            "warning: {}: {what} cannot be stored in a WIM; skipped",
            src.join(name).display()
        );
        assert!(err.contains(&line), "no {line:?} in:\n{err}");
    }
    let n = expected.len();
    assert!(
        err.contains(&format!("wimforge: {n} warnings (listed above)")),
        "{err}"
    );
    wimlib_verify(&wim);
    assert_eq!(wimlib_dir(&wim), BTreeSet::from(["/".into(), "/f".into()]));
}

#[test]
fn names_windows_cannot_hold_are_captured_with_a_warning() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    // Each with the reason the warning must give.
    let bad: &[(&str, &str)] = &[
        ("back\\slash", r#"holds '\\'"#),
        ("co:lon", "holds ':'"),
        ("st*r", "holds '*'"),
        ("q?", "holds '?'"),
        ("quo\"te", "holds '\"'"),
        ("lt<", "holds '<'"),
        ("gt>", "holds '>'"),
        ("pi|pe", "holds '|'"),
        ("bell\u{7}", "control character U+0007"),
        ("tab\tname", "control character U+0009"),
        ("dot.", "ends with a dot or a space"),
        ("space ", "ends with a dot or a space"),
        ("CON", "reserved device name"),
        ("nul.txt", "reserved device name"),
        ("Aux", "reserved device name"),
        ("COM1", "reserved device name"),
        ("lpt9.log", "reserved device name"),
    ];
    for (n, _) in bad {
        fs::write(src.join(n), n.as_bytes()).unwrap();
    }
    // Fine on Windows: must not warn.
    let long = "x".repeat(255);
    let good = ["COM10", "CONSOLE", "nul-ish.txt", "a.b c", long.as_str()];
    for n in good {
        fs::write(src.join(n), b"ok").unwrap();
    }
    fs::create_dir(src.join("Dir")).unwrap();
    fs::write(src.join("Dir/ReadMe.txt"), b"1").unwrap();
    fs::write(src.join("Dir/README.TXT"), b"2").unwrap();

    let wim = t.path().join("o.wim");
    let err = capture_ok(&src, &wim, &["--no-default-excludes"]);
    for (n, why) in bad {
        let p = shown(&src.join(n));
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("wimforge: warning: {p}: name ")))
            .unwrap_or_else(|| panic!("no warning for {p} in:\n{err}"));
        assert!(line.contains(why), "{line}");
        assert!(line.contains("Windows cannot apply it"), "{line}");
    }
    for n in good {
        assert!(
            !err.contains(&format!("{}: ", shown(&src.join(n)))),
            "{n}: {err}"
        );
    }
    let case = format!(
        "wimforge: warning: {}: differs from \"README.TXT\" only in case",
        src.join("Dir/ReadMe.txt").display()
    );
    assert!(err.contains(&case), "no {case:?} in:\n{err}");
    let n = bad.len() + 1;
    assert!(
        err.contains(&format!("wimforge: {n} warnings (listed above)")),
        "{err}"
    );

    // wimlib reads every name back; our extract restores them on Linux.
    wimlib_verify(&wim);
    let listed = wimlib_dir(&wim);
    let mut want: BTreeSet<String> = ["/", "/Dir", "/Dir/ReadMe.txt", "/Dir/README.TXT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.extend(bad.iter().map(|(n, _)| format!("/{n}")));
    want.extend(good.iter().map(|n| format!("/{n}")));
    assert_eq!(listed, want);
    let x = t.path().join("x");
    ok(wimforge()
        .args(["wim", "extract"])
        .arg(&wim)
        .arg("1")
        .arg(&x));
    support::assert_same_tree(&src, &x);
}

#[test]
fn host_paths_longer_than_linux_accepts_fail_clearly() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("short.txt"), b"x").unwrap();
    // 25 levels of 200-byte names: over 5000 bytes, past PATH_MAX (4096).
    // `mkdir -p` walks there one directory at a time.
    let deep = vec!["d".repeat(200); 25].join("/");
    ok(Command::new("mkdir").arg("-p").arg(&deep).current_dir(&src));
    let wim = t.path().join("o.wim");
    let err = fails(&mut verb("capture", &src, &wim));
    assert!(
        err.contains("cannot be captured (nothing was written)"),
        "{err}"
    );
    assert!(
        err.contains("longer than Linux accepts in one call, 4095 bytes"),
        "{err}"
    );
    assert!(err.contains(&src.join("d".repeat(200)).display().to_string()));
    assert_eq!(names(t.path()), ["src"]);
}

#[test]
fn a_file_whose_size_changes_while_captured_fails_cleanly() {
    // A sysfs file claims 4096 bytes and reads as a few: exactly a file
    // that shrank between the scan and the read. Bind-mounting it into
    // the tree needs a private mount namespace (root, or user namespaces).
    let sys = Path::new("/sys/kernel/uevent_seqnum");
    let usable = sys.is_file()
        && have("unshare")
        && Command::new("unshare")
            .args(["-m", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !usable {
        eprintln!("SKIP: needs /sys and `unshare -m` (root or user namespaces)");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a.txt"), b"a").unwrap();
    fs::write(src.join("shrinks"), b"").unwrap();
    let bin = env!("CARGO_BIN_EXE_wimforge");
    let wim = t.path().join("o.wim");
    let base = base_wim(t.path());
    let before = fs::read(&base).unwrap();
    for (v, dest) in [("capture", &wim), ("append", &base)] {
        let err = fails(
            Command::new("unshare")
                .args(["-m", "sh", "-c"])
                .arg(r#"mount --bind "$1" "$2" && exec "$3" wim "$4" "$5" "$6""#)
                .arg("sh")
                .arg(sys)
                .arg(src.join("shrinks"))
                .arg(bin)
                .arg(v)
                .arg(&src)
                .arg(dest),
        );
        let want = format!(
            "{}: changed while being captured (expected 4096 bytes)",
            src.join("shrinks").display()
        );
        assert!(err.contains(&want), "{v}: {err}");
    }
    assert!(!wim.exists());
    assert!(fs::read(&base).unwrap() == before, "append changed the WIM");
    assert_eq!(names(t.path()), ["base-src", "base.wim", "src"]);
}

#[test]
fn odd_symlinks_are_stored_as_links_and_never_followed() {
    if !have("wimlib-imagex") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("dir")).unwrap();
    fs::write(src.join("dir/f"), b"f").unwrap();
    let link =
        |target: &str, name: &str| std::os::unix::fs::symlink(target, src.join(name)).unwrap();
    link("/nonexistent/target", "dangling");
    link("loop", "loop");
    link("ping", "pong");
    link("pong", "ping");
    link("/etc", "outside-dir");
    link("../../..", "up-and-out");
    link("dir", "dir-link");
    let wim = t.path().join("o.wim");
    let err = capture_ok(&src, &wim, &["--no-default-excludes"]);
    assert!(!err.contains("warning"), "{err}");
    wimlib_verify(&wim);
    // Only the links themselves: nothing of /etc or of dir through the link.
    let want: BTreeSet<String> = [
        "/",
        "/dangling",
        "/dir",
        "/dir-link",
        "/dir/f",
        "/loop",
        "/outside-dir",
        "/ping",
        "/pong",
        "/up-and-out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(wimlib_dir(&wim), want);
    // wimlib applies them with the targets they had.
    let x = t.path().join("x");
    ok(Command::new("wimlib-imagex")
        .arg("apply")
        .arg(&wim)
        .arg("1")
        .arg(&x));
    for (name, target) in [
        ("dangling", "/nonexistent/target"),
        ("loop", "loop"),
        ("ping", "pong"),
        ("pong", "ping"),
        ("outside-dir", "/etc"),
        ("up-and-out", "../../.."),
        ("dir-link", "dir"),
    ] {
        assert_eq!(
            fs::read_link(x.join(name)).unwrap(),
            Path::new(target),
            "{name}"
        );
    }
}
