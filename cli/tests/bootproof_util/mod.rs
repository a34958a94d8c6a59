//! The boot-proof harness: the EFI payload and its WIM, test builds, the
//! host's expectations, and one UEFI boot of a disk under qemu with OVMF.
//!
//! The payload (`scripts/bootproof/make-payload.sh`) is a unified kernel
//! image assembled at test time from Debian packages; its `/init`
//! (`scripts/bootproof/init.sh`) checks the disk it was booted from against
//! the expectations the host passes through qemu's fw_cfg and prints one
//! verdict line on the serial console. The test WIM is the demo image with
//! that payload as `Windows\Boot\EFI\bootmgfw.efi`, so `wimforge build`
//! puts it on the ESP as `\EFI\Boot\bootx64.efi` exactly as it does
//! Microsoft's boot manager.
//!
//! Environment: `WIMFORGE_BOOTPROOF_CACHE` (payload cache; default
//! `target/tmp/bootproof`), `WIMFORGE_BOOTPROOF_ACCEL` (`kvm` or `tcg`;
//! default: kvm only where /dev/kvm opens and the CPU shows vmx/svm),
//! `WIMFORGE_BOOTPROOF_TIMEOUT` (seconds per boot, default 90),
//! `WIMFORGE_OVMF_CODE` / `WIMFORGE_OVMF_VARS` (firmware files).

#![allow(dead_code)]

use crate::support::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The line the payload's /init ends with.
pub const VERDICT: &str = "WIMFORGE-BOOTPROOF: ";

/// GPT partition type GUIDs of the UEFI layout (UEFI 2.10 §5.3.3 for the
/// ESP; Microsoft's for MSR and basic data).
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const MSR_TYPE: &str = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE";
pub const BASIC_DATA_TYPE: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

/// The file name OVMF boots from a disk that has no boot entries (UEFI
/// 2.10 §3.5.1.1), as systemd-stub reports it in LoaderImageIdentifier.
pub const REMOVABLE_PATH: &str = "\\EFI\\BOOT\\BOOTX64.EFI";

pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cache_dir() -> PathBuf {
    std::env::var_os("WIMFORGE_BOOTPROOF_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("bootproof"))
}

/// Outside tools every boot-proof test needs (reported when missing).
pub fn boot_tools() -> bool {
    tools(&[
        "qemu-system-x86_64",
        "qemu-img",
        "ntfscat",
        "wimlib-imagex",
        "objcopy",
        "objdump",
        "readelf",
        "apt-get",
        "dpkg-deb",
        "sha256sum",
    ]) && ovmf().is_some()
}

/// OVMF code and variable-store templates (Debian package `ovmf`); the
/// plain ones, without Secure Boot keys.
pub fn ovmf() -> Option<(PathBuf, PathBuf)> {
    if let (Some(c), Some(v)) = (
        std::env::var_os("WIMFORGE_OVMF_CODE"),
        std::env::var_os("WIMFORGE_OVMF_VARS"),
    ) {
        return Some((c.into(), v.into()));
    }
    for (c, v) in [
        ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
        ("OVMF_CODE.fd", "OVMF_VARS.fd"),
    ] {
        let (c, v) = (
            Path::new("/usr/share/OVMF").join(c),
            Path::new("/usr/share/OVMF").join(v),
        );
        if c.is_file() && v.is_file() {
            return Some((c, v));
        }
    }
    missing("OVMF firmware in /usr/share/OVMF (Debian package ovmf)");
    None
}

pub fn sha256_file(p: &Path) -> String {
    let out = ok(Command::new("sha256sum").arg(p));
    out.split_whitespace().next().unwrap().to_string()
}

pub fn sha256_bytes(b: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(b).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The payload and the WIM that carries it, made once per test process.
pub struct Prepared {
    pub payload: PathBuf,
    pub payload_sha: String,
    pub wim: PathBuf,
}

static PREPARED: OnceLock<Option<Prepared>> = OnceLock::new();

/// Build (or take from the cache) the payload and the test WIM. None after
/// reporting a skip; under CI=true a failure panics.
pub fn prepared() -> Option<&'static Prepared> {
    PREPARED.get_or_init(prepare).as_ref()
}

fn prepare() -> Option<Prepared> {
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).unwrap();
    let t = Instant::now();
    let out = run(Command::new("bash")
        .arg(repo_dir().join("scripts/bootproof/make-payload.sh"))
        .arg(&cache));
    if !out.status.success() {
        missing(&format!(
            "the boot-proof payload (scripts/bootproof/make-payload.sh failed: {})",
            String::from_utf8_lossy(&out.stderr)
        ));
        return None;
    }
    let payload = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("make-payload.sh printed the payload path")
            .trim(),
    );
    assert!(payload.is_file(), "{} is not a file", payload.display());
    eprintln!(
        "boot proof: payload {} ({} bytes) ready in {:.1} s",
        payload.display(),
        std::fs::metadata(&payload).unwrap().len(),
        t.elapsed().as_secs_f64()
    );
    let payload_sha = sha256_file(&payload);

    // The demo image with the payload as its boot manager.
    let stem = payload.file_stem().unwrap().to_string_lossy().into_owned();
    let wim = cache.join(format!("demo-{stem}.wim"));
    if !wim.is_file() {
        let tmp = cache.join(format!(".demo-{stem}.wim.tmp-{}", std::process::id()));
        std::fs::copy(demo_dir().join("demo.wim"), &tmp).unwrap();
        let mut perm = std::fs::metadata(&tmp).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(&tmp, perm).unwrap();
        ok(Command::new("wimlib-imagex")
            .arg("update")
            .arg(&tmp)
            .arg("1")
            .arg(format!(
                "--command=add {} /Windows/Boot/EFI/bootmgfw.efi",
                payload.display()
            )));
        std::fs::rename(&tmp, &wim).unwrap();
    }
    Some(Prepared {
        payload,
        payload_sha,
        wim,
    })
}

/// Write a spec like the demo's (same seed, profile, packages, unattend,
/// Docker) whose image is the payload WIM, and build it. Returns the
/// JSON report.
pub fn build(prep: &Prepared, dir: &Path, name: &str, disk_type: &str) -> (PathBuf, Value) {
    let demo = demo_dir().canonicalize().unwrap();
    let d = demo.display();
    let spec = format!(
        r#"profile = "nano-container-host"
seed = 2016

[disk]
format = "vhdx"
size = "1 GiB"
type = "{disk_type}"
layout = "uefi"

[image]
wim = '{wim}'
index = 1

[packages]
source = '{d}/packages'
mode = "stage"

[unattend]
file = '{d}/unattend.xml'
time_zone = "UTC"
registered_organization = "wimforge boot proof"

[docker]
mode = "nssm"
binary = '{d}/bin/docker.exe'
nssm = '{d}/bin/nssm.exe'
args = "daemon -D"
"#,
        wim = prep.wim.display()
    );
    let spec_path = dir.join(format!("{name}.toml"));
    std::fs::write(&spec_path, spec).unwrap();
    let out = dir.join(format!("{name}.vhdx"));
    let report = dir.join(format!("{name}.json"));
    ok(wimforge()
        .arg("-q")
        .arg("build")
        .arg(&spec_path)
        .arg("-o")
        .arg(&out)
        .arg("--json-report")
        .arg(&report));
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (out, r)
}

/// One partition of a build report: (number, start, size, unique GUID).
pub fn part(report: &Value, role: &str) -> (u64, u64, u64, String) {
    let p = report["disk"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == role)
        .unwrap_or_else(|| panic!("no {role} partition in {report}"));
    assert_eq!(
        p["type_guid"].as_str().unwrap().to_uppercase(),
        match role {
            "esp" => ESP_TYPE,
            "msr" => MSR_TYPE,
            _ => BASIC_DATA_TYPE,
        },
        "{role} type in the report"
    );
    (
        p["number"].as_u64().unwrap(),
        p["start"].as_u64().unwrap(),
        p["size"].as_u64().unwrap(),
        p["unique_guid"].as_str().unwrap().to_uppercase(),
    )
}

/// What the guest must find, and the names of the checks that prove it.
pub struct Expect {
    pub text: String,
    pub checks: Vec<String>,
}

/// Expectations for a build of `prepared()`: the layout from the report
/// (after checking it is the one the issue asks for: ESP 200 MiB, MSR 128
/// MiB, Windows the rest), the payload on the ESP, and files of the Windows
/// partition with their SHA-256: docker.exe and nssm.exe from the demo's
/// inputs, Unattend.xml, SetupComplete.cmd and SYSTEM as ntfs-3g reads them
/// on the host from `disk` (a VHDX, read through qemu-img).
pub fn expectations(prep: &Prepared, disk: &Path, report: &Value, work: &Path) -> Expect {
    let size = report["disk"]["virtual_size"].as_u64().unwrap();
    let (esp_n, esp_start, esp_len, esp_guid) = part(report, "esp");
    let (msr_n, msr_start, msr_len, msr_guid) = part(report, "msr");
    let (win_n, win_start, win_len, win_guid) = part(report, "windows");
    assert_eq!(report["disk"]["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(esp_len, 200 << 20, "ESP size");
    assert_eq!(msr_len, 128 << 20, "MSR size");
    assert!(esp_start >= 34 * 512 && msr_start >= esp_start + esp_len);
    assert!(win_start >= msr_start + msr_len);
    // Windows takes the rest: up to the backup GPT, less alignment.
    let end = win_start + win_len;
    assert!(
        end <= size - 33 * 512 && end + (1 << 20) + 33 * 512 > size,
        "Windows partition ends at {end} of {size}"
    );

    let mut lines = vec![format!("DISK_SECTORS {}", size / 512), "PARTS 3".into()];
    let mut checks: Vec<String> = [
        "expectations",
        "disk.present",
        "disk.sectors",
        "gpt.signature",
        "gpt.entries-in-use",
        "kernel.partitions",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (n, ty, guid, start, len) in [
        (esp_n, ESP_TYPE, &esp_guid, esp_start, esp_len),
        (msr_n, MSR_TYPE, &msr_guid, msr_start, msr_len),
        (win_n, BASIC_DATA_TYPE, &win_guid, win_start, win_len),
    ] {
        lines.push(format!(
            "PART {n} {ty} {guid} {} {}",
            start / 512,
            len / 512
        ));
        for c in [
            "type",
            "unique",
            "first-lba",
            "last-lba",
            "kernel.start",
            "kernel.sectors",
        ] {
            checks.push(match c.strip_prefix("kernel.") {
                Some(k) => format!("kernel.part{n}.{k}"),
                None => format!("part{n}.{c}"),
            });
        }
    }
    lines.push(format!("ESP {esp_n}"));
    lines.push(format!("NTFS {win_n}"));
    checks.extend(
        ["esp.fat32-boot-sector", "esp.boot-signature", "esp.mount"]
            .iter()
            .map(|s| s.to_string()),
    );
    for p in ["EFI/Boot/bootx64.efi", "EFI/Microsoft/Boot/bootmgfw.efi"] {
        lines.push(format!("ESP_FILE {p} {}", prep.payload_sha));
        checks.push(format!("esp.file:{p}"));
    }
    lines.push("ESP_REGF EFI/Microsoft/Boot/BCD".into());
    checks.push("esp.regf:EFI/Microsoft/Boot/BCD".into());
    lines.push(format!("LOADER_PART {esp_guid}"));
    checks.push("loader.partition".into());
    lines.push(format!("LOADER_IMAGE {REMOVABLE_PATH}"));
    checks.push("loader.image".into());
    checks.push("ntfs.boot-sector".into());

    // The Windows partition as ntfs-3g sees it on the host.
    let ntfs = work.join("host-view.ntfs");
    let opts = format!(
        "driver=raw,offset={win_start},size={win_len},file.driver=vhdx,file.file.filename={}",
        disk.display().to_string().replace(',', ",,")
    );
    ok(Command::new("qemu-img")
        .args(["convert", "-O", "raw", "--image-opts", &opts])
        .arg(&ntfs));
    let host = |path: &str| -> String {
        let out = run(Command::new("ntfscat").arg(&ntfs).arg(path));
        assert!(
            out.status.success(),
            "host ntfscat {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        sha256_bytes(&out.stdout)
    };
    let demo = demo_dir();
    let mut files = vec![(
        "Windows/Boot/EFI/bootmgfw.efi".to_string(),
        prep.payload_sha.clone(),
    )];
    for (path, src) in [
        ("Windows/System32/docker.exe", "bin/docker.exe"),
        ("Windows/System32/nssm.exe", "bin/nssm.exe"),
    ] {
        let want = sha256_file(&demo.join(src));
        assert_eq!(host(path), want, "host view of {path}");
        files.push((path.into(), want));
    }
    for path in [
        "Windows/Panther/Unattend.xml",
        "Windows/Setup/Scripts/SetupComplete.cmd",
        "Windows/System32/config/SYSTEM",
    ] {
        files.push((path.into(), host(path)));
    }
    std::fs::remove_file(&ntfs).unwrap();
    for (path, sum) in files {
        lines.push(format!("NTFS_FILE {path} {sum}"));
        checks.push(format!("ntfs.file:{path}"));
    }
    for name in ["docker.exe", "nssm.exe"] {
        lines.push(format!("NTFS_LS Windows/System32 {name}"));
        checks.push(format!("ntfs.ls:Windows/System32/{name}"));
    }
    Expect {
        text: lines.join("\n") + "\n",
        checks,
    }
}

impl Expect {
    /// Make the expected SHA-256 of an NTFS file wrong (one digit changed),
    /// so that the guest's check of that file must fail.
    pub fn spoil_ntfs_file(&mut self, path: &str) {
        let prefix = format!("NTFS_FILE {path} ");
        let mut found = false;
        self.text = self
            .text
            .lines()
            .map(|l| match l.strip_prefix(&prefix) {
                Some(sum) => {
                    found = true;
                    let first = if sum.starts_with('0') { '1' } else { '0' };
                    format!("{prefix}{first}{}", &sum[1..])
                }
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        assert!(found, "no NTFS_FILE {path} in the expectations");
    }

    /// One more file the guest must read from the Windows partition.
    pub fn add_ntfs_file(&mut self, path: &str, sha: &str) {
        assert!(!path.contains(' '));
        self.text.push_str(&format!("NTFS_FILE {path} {sha}\n"));
        self.checks.push(format!("ntfs.file:{path}"));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The guest powered off (qemu exited by itself).
    Exited,
    /// OVMF found nothing to boot and started its built-in shell.
    FirmwareGaveUp,
    /// Killed at the time limit.
    TimedOut,
}

pub struct Boot {
    pub log: String,
    pub verdict: Option<String>,
    pub ended: Ended,
    pub seconds: f64,
    pub accel: String,
}

impl Boot {
    /// The lines of the serial log that matter when a test fails: the
    /// firmware's boot messages, the payload's checks, panics.
    pub fn summary(&self) -> String {
        let keep: Vec<&str> = self
            .log
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| {
                l.contains("bootproof")
                    || l.contains("BdsDxe")
                    || l.contains("WIMFORGE")
                    || l.contains("Kernel panic")
                    || l.contains("Shell")
            })
            .collect();
        format!(
            "boot ended {:?} after {:.1} s ({}), verdict {:?}; serial log:\n{}",
            self.ended,
            self.seconds,
            self.accel,
            self.verdict,
            keep.join("\n")
        )
    }

    pub fn init_started(&self) -> bool {
        self.log.contains("bootproof: init started")
    }

    /// Require the verdict PASS over exactly the checks `e` names, each of
    /// them reported ok.
    pub fn assert_passed(&self, e: &Expect) {
        let n = e.checks.len();
        assert_eq!(
            self.verdict.as_deref(),
            Some(format!("PASS {n}/{n}").as_str()),
            "{}",
            self.summary()
        );
        let oks: Vec<&str> = self
            .log
            .lines()
            .filter_map(|l| l.trim_end_matches('\r').strip_prefix("bootproof: ok "))
            .collect();
        for c in &e.checks {
            assert!(
                oks.contains(&c.as_str()),
                "check {c} not reported ok\n{}",
                self.summary()
            );
        }
    }
}

/// One VM at a time: the machine has 2 cores and software emulation
/// takes one.
static VM: Mutex<()> = Mutex::new(());

fn accel() -> String {
    if let Ok(a) = std::env::var("WIMFORGE_BOOTPROOF_ACCEL") {
        return a;
    }
    // /dev/kvm can exist where KVM does not work (no vmx/svm under a
    // sandbox); then the VM would stop with an emulation failure.
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
        && std::fs::read_to_string("/proc/cpuinfo")
            .map(|c| {
                c.lines().any(|l| {
                    l.starts_with("flags") && l.split_whitespace().any(|f| f == "vmx" || f == "svm")
                })
            })
            .unwrap_or(false);
    if usable {
        "kvm".into()
    } else {
        "tcg".into()
    }
}

fn timeout() -> Duration {
    Duration::from_secs(
        std::env::var("WIMFORGE_BOOTPROOF_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(90),
    )
}

/// Boot `disk` (qemu format `format`) under OVMF with a fresh variable
/// store, as a Hyper-V Gen 2 VM meets a new disk: no boot entries, so the
/// firmware falls back to `\EFI\BOOT\BOOTX64.EFI`. Kills qemu once the
/// verdict is in, the firmware has given up, or the time is up.
pub fn boot(disk: &Path, format: &str, expect: &Expect, work: &Path) -> Boot {
    let (code, vars_template) = ovmf().expect("OVMF");
    let _vm = VM.lock().unwrap_or_else(|e| e.into_inner());
    let vars = work.join("OVMF_VARS.fd");
    std::fs::copy(&vars_template, &vars).unwrap();
    let expect_file = work.join("expect.txt");
    std::fs::write(&expect_file, &expect.text).unwrap();
    let log = work.join("serial.log");
    let _ = std::fs::remove_file(&log);
    let accel = accel();
    let locking = if format == "raw" {
        ",file.locking=off"
    } else {
        ""
    };
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.arg("-nodefaults")
        .args(["-machine", &format!("q35,accel={accel}")])
        .args(["-m", "512", "-smp", "1"])
        .args(["-display", "none", "-monitor", "none", "-nic", "none"])
        .arg("-no-reboot")
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            code.display()
        ))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-drive")
        .arg(format!(
            "file={},format={format},if=virtio,readonly=on{locking}",
            disk.display()
        ))
        .arg("-fw_cfg")
        .arg(format!(
            "name=opt/wimforge/expect,file={}",
            expect_file.display()
        ))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(work.join("qemu.out")).unwrap())
        .stderr(std::fs::File::create(work.join("qemu.err")).unwrap());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start qemu: {e}"));
    let limit = timeout();
    let mut verdict_at: Option<Instant> = None;
    let ended = loop {
        std::thread::sleep(Duration::from_millis(200));
        if child.try_wait().unwrap().is_some() {
            break Ended::Exited;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        if verdict_at.is_none() && verdict_of(&text).is_some() {
            verdict_at = Some(Instant::now());
        }
        // The guest powers off right after the verdict; give it a moment.
        if verdict_at.is_some_and(|t| t.elapsed() > Duration::from_secs(15)) {
            let _ = child.kill();
            break Ended::Exited;
        }
        if text.contains("\"EFI Internal Shell\"") || text.contains("No bootable option") {
            let _ = child.kill();
            break Ended::FirmwareGaveUp;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break Ended::TimedOut;
        }
    };
    let _ = child.wait();
    let seconds = start.elapsed().as_secs_f64();
    let mut text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let err = std::fs::read_to_string(work.join("qemu.err")).unwrap_or_default();
    if !err.trim().is_empty() {
        text.push_str("\n[qemu stderr] ");
        text.push_str(&err);
    }
    let verdict = verdict_of(&text);
    // The last serial log of each disk name stays in the cache for a look
    // after the test (CI logs show only the summary).
    let kept = cache_dir().join("logs").join(format!(
        "{}.serial.log",
        disk.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::create_dir_all(kept.parent().unwrap());
    let _ = std::fs::write(&kept, &text);
    eprintln!(
        "boot proof: {} booted in {seconds:.1} s ({accel}), ended {ended:?}, verdict {verdict:?}; log {}",
        disk.display(),
        kept.display()
    );
    Boot {
        log: text,
        verdict,
        ended,
        seconds,
        accel,
    }
}

/// The text after "WIMFORGE-BOOTPROOF: " on a complete line.
fn verdict_of(log: &str) -> Option<String> {
    let mut lines = log.split('\n');
    let mut out = None;
    let mut prev: Option<&str> = lines.next();
    for next in lines {
        // Only lines followed by a newline are complete.
        if let Some(v) = prev.and_then(|l| l.trim_end_matches('\r').strip_prefix(VERDICT)) {
            out = Some(v.to_string());
        }
        prev = Some(next);
    }
    out
}

/// Convert a VHDX to raw, let `edit` change the raw disk, and convert it
/// back to a dynamic VHDX (qemu-img's writer) for booting.
pub fn edited_copy(src: &Path, work: &Path, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let raw = work.join(format!("{name}.raw"));
    ok(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(src)
        .arg(&raw));
    edit(&raw);
    let out = work.join(format!("{name}.vhdx"));
    ok(Command::new("qemu-img")
        .args(["convert", "-O", "vhdx", "-o", "subformat=dynamic"])
        .arg(&raw)
        .arg(&out));
    std::fs::remove_file(&raw).unwrap();
    out
}

/// A differencing chain exposed as a raw disk by libvhdi's `vhdimount`
/// (FUSE); unmounted on drop.
pub struct VhdiMount {
    pub dir: PathBuf,
}

impl VhdiMount {
    pub fn new(image: &Path, dir: &Path) -> VhdiMount {
        std::fs::create_dir_all(dir).unwrap();
        ok(Command::new("vhdimount").arg(image).arg(dir));
        VhdiMount { dir: dir.into() }
    }

    /// The images in the chain, parent first (vhdi1, vhdi2, ...).
    pub fn layers(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort_by_key(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("vhdi")
                .parse::<u32>()
                .unwrap_or(0)
        });
        v
    }
}

impl Drop for VhdiMount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount")
            .arg("-u")
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status();
    }
}
