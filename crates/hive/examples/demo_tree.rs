//! Writes the Windows-shaped directory tree behind `fixtures/demo/demo.wim`
//! (see `fixtures/demo/make.sh`): the directory skeleton, SYSTEM and
//! SOFTWARE hives made by our hive code, placeholder boot files and a
//! kernel32.dll stub whose PE header says x64. Nothing in it runs; it only
//! has the shape a build needs.
//!
//! Usage: `cargo run -p wimforge-hive --example demo_tree -- DIR` (writes
//! `DIR/tree` and the placeholder binaries `DIR/bin/{docker,nssm}.exe`)

use hive::value::{utf16z, REG_DWORD, REG_EXPAND_SZ, REG_SZ};
use hive::Hive;
use std::path::Path;

const T: u64 = 131_000_000_000_000_000; // 2016-02-12, the WS2016 era

fn sz(h: &mut Hive, k: &str, n: &str, v: &str) {
    h.set_value(k, n, REG_SZ, utf16z(v, true)).unwrap();
}
fn dword(h: &mut Hive, k: &str, n: &str, v: u32) {
    h.set_value(k, n, REG_DWORD, v.to_le_bytes().to_vec())
        .unwrap();
}

fn system_hive() -> Vec<u8> {
    let mut h = Hive::new(5, "ROOT");
    for n in ["Current", "Default", "LastKnownGood"] {
        dword(&mut h, "Select", n, 1);
    }
    dword(&mut h, "Select", "Failed", 0);
    let cs = "ControlSet001";
    sz(
        &mut h,
        &format!("{cs}\\Control\\ComputerName\\ComputerName"),
        "ComputerName",
        "MINWINPC",
    );
    sz(
        &mut h,
        &format!("{cs}\\Control\\Session Manager\\Environment"),
        "OS",
        "Windows_NT",
    );
    let svc = format!("{cs}\\Services\\Tcpip");
    dword(&mut h, &svc, "Type", 1);
    dword(&mut h, &svc, "Start", 0);
    dword(&mut h, &svc, "ErrorControl", 3);
    h.set_value(
        &svc,
        "ImagePath",
        REG_EXPAND_SZ,
        utf16z("System32\\drivers\\tcpip.sys", true),
    )
    .unwrap();
    h.create_key(&format!("{cs}\\Services\\EventLog\\Application"))
        .unwrap();
    h.create_key(&format!("{cs}\\Enum")).unwrap();
    h.create_key("MountedDevices").unwrap();
    h.restamp(0, T);
    h.to_bytes_at(T)
}

fn software_hive() -> Vec<u8> {
    let mut h = Hive::new(5, "ROOT");
    let k = "Microsoft\\Windows NT\\CurrentVersion";
    sz(&mut h, k, "CurrentBuild", "14393");
    sz(&mut h, k, "CurrentBuildNumber", "14393");
    sz(&mut h, k, "CurrentVersion", "6.3");
    dword(&mut h, k, "CurrentMajorVersionNumber", 10);
    dword(&mut h, k, "CurrentMinorVersionNumber", 0);
    dword(&mut h, k, "UBR", 0);
    sz(&mut h, k, "EditionID", "ServerDatacenterNano");
    sz(&mut h, k, "InstallationType", "Nano Server");
    sz(
        &mut h,
        k,
        "ProductName",
        "Windows Server 2016 Datacenter (wimforge demo)",
    );
    sz(&mut h, k, "SystemRoot", "C:\\Windows");
    sz(
        &mut h,
        k,
        "BuildLabEx",
        "14393.0.amd64fre.rs1_release.160715-1616",
    );
    h.restamp(0, T);
    h.to_bytes_at(T)
}

/// A PE stub: just enough header for tools that read the machine type.
fn pe_stub(machine: u16, note: &str) -> Vec<u8> {
    let mut b = vec![0u8; 0x200];
    b[0..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
    let n = note.as_bytes();
    b[0x100..0x100 + n.len()].copy_from_slice(n);
    b
}

fn put(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: demo_tree DIR");
    let out = Path::new(&dir);
    let root = &out.join("tree");
    const NOTE: &str = "wimforge demo placeholder: not a real Windows binary";
    put(
        out,
        "bin/docker.exe",
        &pe_stub(0x8664, "wimforge demo placeholder for docker.exe"),
    );
    put(
        out,
        "bin/nssm.exe",
        &pe_stub(0x8664, "wimforge demo placeholder for nssm.exe"),
    );
    put(root, "Windows/System32/config/SYSTEM", &system_hive());
    put(root, "Windows/System32/config/SOFTWARE", &software_hive());
    put(
        root,
        "Windows/System32/kernel32.dll",
        &pe_stub(0x8664, NOTE),
    );
    put(
        root,
        "Windows/System32/ntoskrnl.exe",
        &pe_stub(0x8664, NOTE),
    );
    put(root, "Windows/System32/winload.efi", &pe_stub(0x8664, NOTE));
    put(root, "Windows/System32/winload.exe", &pe_stub(0x8664, NOTE));
    put(
        root,
        "Windows/System32/drivers/tcpip.sys",
        &pe_stub(0x8664, NOTE),
    );
    for f in ["bootmgfw.efi", "bootmgr.efi", "memtest.efi"] {
        put(
            root,
            &format!("Windows/Boot/EFI/{f}"),
            &pe_stub(0x8664, NOTE),
        );
    }
    put(
        root,
        "Windows/Boot/EFI/en-US/bootmgfw.efi.mui",
        NOTE.as_bytes(),
    );
    put(root, "Windows/Boot/Fonts/wgl4_boot.ttf", NOTE.as_bytes());
    put(
        root,
        "Windows/Boot/Resources/bootres.dll",
        &pe_stub(0x8664, NOTE),
    );
    put(root, "Windows/Boot/PCAT/bootmgr", NOTE.as_bytes());
    put(root, "Windows/Boot/PCAT/memtest.exe", &pe_stub(0x14c, NOTE));
    for d in [
        "Windows/Panther",
        "Windows/Setup/Scripts",
        "Windows/Temp",
        "Users/Default",
        "Program Files",
        "ProgramData",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    put(
        root,
        "Windows/win.ini",
        b"; for 16-bit app support\r\n[fonts]\r\n",
    );
}
