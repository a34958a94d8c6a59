//! `wimforge build` end to end on the embedded demo spec, checked only with
//! outside tools: qemu-img, 7-Zip, sgdisk, dosfstools + mtools on the ESP,
//! ntfs-3g on the Windows partition, hivex on the SYSTEM hive and the BCD.
//! Also: same spec + seed gives the same bytes; a killed build leaves
//! nothing at the output path; spec errors name the key.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::*;

fn demo_spec() -> PathBuf {
    demo_dir().join("nano-container-host.toml")
}

/// Build the demo into `out`, returning the JSON report.
fn build(out: &Path, report: &Path) -> serde_json::Value {
    ok(wimforge()
        .arg("-q")
        .arg("build")
        .arg(demo_spec())
        .arg("-o")
        .arg(out)
        .arg("--json-report")
        .arg(report));
    serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap()
}

fn part(report: &serde_json::Value, role: &str) -> (u64, u64, String) {
    let p = report["disk"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == role)
        .unwrap_or_else(|| panic!("no {role} partition in {report}"));
    (
        p["start"].as_u64().unwrap(),
        p["size"].as_u64().unwrap(),
        p["unique_guid"].as_str().unwrap_or("").to_uppercase(),
    )
}

fn ntfscat(img: &Path, path: &str) -> Vec<u8> {
    let out = run(Command::new("ntfscat").arg(img).arg(path));
    assert!(
        out.status.success(),
        "ntfscat {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn demo_build_is_verified_by_outside_tools() {
    if !tools(&[
        "qemu-img",
        "7zz",
        "sgdisk",
        "fsck.fat",
        "mdir",
        "mcopy",
        "ntfsresize",
        "ntfsls",
        "ntfscat",
        "hivexregedit",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vhdx = dir.path().join("demo.vhdx");
    let report = build(&vhdx, &dir.path().join("report.json"));

    ok(Command::new("qemu-img").arg("check").arg(&vhdx));
    let info = ok(Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&vhdx));
    assert!(info.contains("\"format\": \"vhdx\""), "{info}");
    assert!(info.contains("\"virtual-size\": 1073741824"), "{info}");
    let l = ok(Command::new("7zz").arg("l").arg(&vhdx));
    for name in [
        "0.EFI system partition",
        "1.Microsoft reserved partition",
        "2.Basic data partition.ntfs",
    ] {
        assert!(l.contains(name), "7zz l does not list {name}:\n{l}");
    }
    assert!(l.contains("Type = GPT"), "{l}");

    // Partition table, seen by sgdisk on a raw copy.
    let raw = dir.path().join("demo.raw");
    ok(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&vhdx)
        .arg(&raw));
    let v = ok(Command::new("sgdisk").arg("-v").arg(&raw));
    assert!(v.contains("No problems found"), "sgdisk -v:\n{v}");
    let p = ok(Command::new("sgdisk").arg("-p").arg(&raw));
    assert!(
        p.contains("EF00") && p.contains("0C01") && p.contains("0700"),
        "{p}"
    );
    let (esp_start, esp_len, esp_guid) = part(&report, "esp");
    let (win_start, win_len, _) = part(&report, "windows");
    assert_eq!(esp_len, 200 << 20);
    let i1 = ok(Command::new("sgdisk").args(["-i", "1"]).arg(&raw));
    assert!(i1.contains(&esp_guid), "sgdisk -i 1 vs report: {i1}");
    assert!(
        i1.contains(&format!("First sector: {} ", esp_start / 512)),
        "{i1}"
    );

    // ESP: FAT32, clean, boot files and BCD in place.
    let esp = dir.path().join("esp.img");
    cut(&raw, esp_start, esp_len, &esp);
    ok(Command::new("fsck.fat").arg("-n").arg(&esp));
    let m = ok(Command::new("mdir")
        .args(["-i"])
        .arg(&esp)
        .arg("::/EFI/Microsoft/Boot"));
    assert!(
        m.contains("BCD") && m.to_lowercase().contains("bootmgfw"),
        "{m}"
    );
    let bootx64 = dir.path().join("bootx64.efi");
    ok(Command::new("mcopy")
        .arg("-i")
        .arg(&esp)
        .arg("::/EFI/Boot/bootx64.efi")
        .arg(&bootx64));
    // bootx64.efi is the image's bootmgfw.efi, byte for byte.
    let bootmgfw = ntfs_file(&raw, &report, "Windows/Boot/EFI/bootmgfw.efi", dir.path());
    assert_eq!(std::fs::read(&bootx64).unwrap(), bootmgfw);
    let bcd = dir.path().join("BCD");
    ok(Command::new("mcopy")
        .arg("-i")
        .arg(&esp)
        .arg("::/EFI/Microsoft/Boot/BCD")
        .arg(&bcd));
    let bcd_reg = ok(Command::new("hivexregedit")
        .args(["--export", "--prefix", "BCD"])
        .arg(&bcd)
        .arg("\\"));
    assert!(
        bcd_reg.contains("{9dea862c-5cdd-4e70-acc1-f32b344d4795}"),
        "bootmgr object"
    );
    assert!(bcd_reg.contains("\\Objects\\"), "{bcd_reg}");
    // The BCD names the Windows partition by its GUID (as bytes).
    let bcd_dump = ok(wimforge().arg("bcd").arg("dump").arg(&bcd));
    let (_, _, win_guid) = part(&report, "windows");
    assert!(
        bcd_dump.to_uppercase().contains(&win_guid),
        "BCD does not name the Windows partition {win_guid}:\n{bcd_dump}"
    );

    // Windows partition: NTFS as ntfs-3g sees it.
    let ntfs = dir.path().join("win.ntfs");
    cut(&raw, win_start, win_len, &ntfs);
    ok(Command::new("ntfsresize")
        .args(["--info", "--force", "--no-progress-bar"])
        .arg(&ntfs));
    let ls = ok(Command::new("ntfsls")
        .arg(&ntfs)
        .arg("-p")
        .arg("/Windows/System32"));
    assert!(ls.contains("docker.exe") && ls.contains("nssm.exe"), "{ls}");
    assert_eq!(
        ntfscat(&ntfs, "Windows/System32/docker.exe"),
        std::fs::read(demo_dir().join("bin/docker.exe")).unwrap()
    );
    assert_eq!(
        ntfscat(&ntfs, "Windows/System32/nssm.exe"),
        std::fs::read(demo_dir().join("bin/nssm.exe")).unwrap()
    );
    let unattend = String::from_utf8(ntfscat(&ntfs, "Windows/Panther/Unattend.xml")).unwrap();
    assert!(
        unattend.contains("<ComputerName>NANODEMO</ComputerName>"),
        "{unattend}"
    );
    assert!(!unattend.contains("offlineServicing"), "{unattend}");
    assert!(unattend.contains("pass=\"specialize\"") && unattend.contains("pass=\"oobeSystem\""));
    let sc = ntfscat(&ntfs, "Windows/Setup/Scripts/SetupComplete.cmd");
    assert!(sc.is_ascii());
    let sct = String::from_utf8(sc).unwrap();
    assert!(!sct.replace("\r\n", "").contains('\n'), "CRLF only");
    assert!(sct.contains("dism.exe /online /add-package /packagepath:%SystemDrive%\\Packages\\Microsoft-NanoServer-Guest-Package.cab"), "{sct}");
    // Language packs after every base package.
    let last_base = sct.rfind("Containers-Package.cab").unwrap();
    let first_lang = sct.find("_en-us.cab").unwrap();
    assert!(first_lang > last_base, "{sct}");
    assert_eq!(
        ntfscat(&ntfs, "Packages/Microsoft-NanoServer-Compute-Package.cab"),
        std::fs::read(demo_dir().join("packages/Microsoft-NanoServer-Compute-Package.cab"))
            .unwrap()
    );

    // SYSTEM hive: the docker service, exactly.
    let system = dir.path().join("SYSTEM");
    std::fs::write(&system, ntfscat(&ntfs, "Windows/System32/config/SYSTEM")).unwrap();
    let reg = ok(Command::new("hivexregedit")
        .args(["--export", "--prefix", "HKEY_LOCAL_MACHINE\\SYSTEM"])
        .arg(&system)
        .arg("\\ControlSet001\\Services\\docker"));
    // hivexregedit writes REG_SZ as hex(1) and REG_EXPAND_SZ as hex(2).
    let expect = |kind: u32, name: &str, v: &str| {
        let hex: Vec<String> = v
            .encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("\"{name}\"=hex({kind}):{}", hex.join(","))
    };
    let expect_sz = |name: &str, v: &str| expect(2, name, v);
    let flat = reg.replace("\\\n  ", "");
    for (k, v) in [
        ("Type", "dword:00000010"),
        ("Start", "dword:00000002"),
        ("ErrorControl", "dword:00000001"),
    ] {
        assert!(flat.contains(&format!("\"{k}\"={v}")), "{k} in\n{reg}");
    }
    assert!(
        flat.contains(&expect(1, "ObjectName", "LocalSystem")),
        "{reg}"
    );
    assert!(
        flat.contains(&expect_sz("ImagePath", "%SystemRoot%\\System32\\nssm.exe")),
        "{reg}"
    );
    assert!(
        flat.contains(&expect_sz(
            "Application",
            "%SystemRoot%\\System32\\docker.exe"
        )),
        "{reg}"
    );
    assert!(
        flat.contains(&expect_sz("AppParameters", "daemon -D")),
        "{reg}"
    );
    assert!(
        flat.contains("[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\docker\\Parameters]")
    );
    // The rest of the hive is untouched: the demo's Tcpip service is there.
    let tcpip = ok(Command::new("hivexregedit")
        .args(["--export", "--prefix", "HKLM"])
        .arg(&system)
        .arg("\\ControlSet001\\Services\\Tcpip"));
    assert!(tcpip.contains("\"Start\"=dword:00000000"), "{tcpip}");
}

/// A file of the Windows partition, read with ntfscat.
fn ntfs_file(raw: &Path, report: &serde_json::Value, path: &str, tmp: &Path) -> Vec<u8> {
    let (start, len, _) = part(report, "windows");
    let img = tmp.join("win-for-file.ntfs");
    if !img.exists() {
        cut(raw, start, len, &img);
    }
    ntfscat(&img, path)
}

#[test]
fn same_seed_gives_identical_disks() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.vhdx");
    let b = dir.path().join("b.vhdx");
    build(&a, &dir.path().join("ra.json"));
    build(&b, &dir.path().join("rb.json"));
    let (da, db) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(da.len(), db.len());
    assert!(da == db, "two builds with seed 2016 differ");
}

#[test]
fn killed_builds_leave_nothing_at_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.vhdx");
    // Kill after increasing delays: during spec checks, disk creation,
    // apply and boot. None may leave a file at the output path.
    for ms in [5u64, 30, 60, 100, 150, 250, 400] {
        let mut child = wimforge()
            .arg("-q")
            .arg("build")
            .arg(demo_spec())
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            // It finished before the kill: a complete disk is fine; start over.
            std::fs::remove_file(&out).unwrap();
            continue;
        }
        assert!(
            !out.exists(),
            "a build killed after {ms} ms left {}",
            out.display()
        );
    }
    // The next run succeeds and cleans up what the killed ones left.
    build(&out, &dir.path().join("r.json"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    if have("qemu-img") {
        ok(Command::new("qemu-img").arg("check").arg(&out));
    }
}

#[test]
fn spec_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[disk]\nsize = \"10 parsecs\"\n[image]\nwim = \"x.wim\"\n",
            "disk.size",
        ),
        ("[disk]\nlayout = \"gpt\"\n", "disk.layout"),
        ("[disk]\nbogus = 1\n", "bogus"),
        ("[image]\nwim = \"missing.wim\"\n", "image.wim"),
        ("profile = \"nano\"\n", "profile"),
    ];
    for (text, key) in cases {
        let spec = dir.path().join("s.toml");
        std::fs::write(&spec, text).unwrap();
        let out = run(wimforge()
            .arg("build")
            .arg(&spec)
            .arg("-o")
            .arg(dir.path().join("o.vhdx")));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(key),
            "error for {text:?} does not name {key}: {err}"
        );
        assert!(!dir.path().join("o.vhdx").exists());
    }
}

/// A spec of our own: the demo image, no profile, the real KB2999226 MSU as
/// a package (Windows 7 SP1: it does not fit the 14393 image).
fn msu_spec(dir: &Path, msu: &Path) -> PathBuf {
    let spec = dir.join("msu.toml");
    std::fs::write(
        &spec,
        format!(
            "seed = 3\n[disk]\nsize = \"1 GiB\"\n[image]\nwim = {:?}\n[packages]\ncabs = [{:?}]\n",
            demo_dir().join("demo.wim").display().to_string(),
            msu.display().to_string()
        ),
    )
    .unwrap();
    spec
}

#[test]
fn msu_packages_are_staged_as_their_package_cab_and_checked() {
    let Some(msu) = fixture("cab/Windows6.1-KB2999226-x64.msu") else {
        return;
    };
    if !tools(&["cabextract", "qemu-img", "ntfscat"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = msu_spec(dir.path(), &msu);
    let out = dir.path().join("m.raw");
    let rep = dir.path().join("m.json");
    ok(wimforge()
        .args(["-q", "build"])
        .arg(&spec)
        .arg("-o")
        .arg(&out)
        .arg("--json-report")
        .arg(&rep));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let p = &report["packages"][0];
    assert_eq!(p["name"], "Package_for_KB2999226");
    assert_eq!(p["staged_as"], "Packages\\Windows6.1-KB2999226-x64.cab");
    let w = p["warnings"].as_array().unwrap();
    assert!(
        !w.is_empty(),
        "a 6.1 package on a 10.0.14393 image must warn"
    );
    // The staged CAB is the MSU's package CAB, byte for byte.
    ok(Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(dir.path().join("x"))
        .arg("-F")
        .arg("Windows6.1-KB2999226-x64.cab")
        .arg(&msu));
    let inner = std::fs::read(dir.path().join("x/Windows6.1-KB2999226-x64.cab")).unwrap();
    let (start, len, _) = part(&report, "windows");
    let ntfs = dir.path().join("w.ntfs");
    cut(&out, start, len, &ntfs);
    assert_eq!(
        ntfscat(&ntfs, "Packages/Windows6.1-KB2999226-x64.cab"),
        inner
    );
    // --strict turns the mismatch into a failure, and nothing is written.
    let out2 = dir.path().join("strict.raw");
    let r = run(wimforge()
        .args(["-q", "build", "--strict"])
        .arg(&spec)
        .arg("-o")
        .arg(&out2));
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("KB2999226") && err.contains("strict"), "{err}");
    assert!(!out2.exists());
}
