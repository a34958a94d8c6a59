//! The installer on an in-memory disk: an MBR (or a GPT-named layout) with
//! an NTFS Windows partition made by our formatter and filled through the
//! injector; the ESP side through a recording file system. The disk-level
//! checks with outside tools are in `cli/tests/boot_install.rs`.

use blockdev::{BlockDev, MemDev, Window};
use boot::target::BootFs;
use boot::{install_with, BootOptions, DeviceRef, DiskLayout, Error, Firmware, PartitionRef};
use hive::bcd::{Device, ElementValue};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const MIB: u64 = 1 << 20;
const PART_START: u64 = MIB;
const PART_LEN: u64 = 48 * MIB;

/// Placeholder bytes, different per name and size.
fn bytes(name: &str, len: usize) -> Vec<u8> {
    let mut x = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A disk with an MBR (signature `sig`, one active NTFS partition) and a
/// Windows tree of `files`.
fn disk(sig: u32, files: &[(&str, Vec<u8>)]) -> MemDev {
    let d = MemDev::new((PART_START + PART_LEN + MIB) as usize);
    let mut mbr = [0u8; 512];
    mbr[0x1B8..0x1BC].copy_from_slice(&sig.to_le_bytes());
    let e = &mut mbr[0x1BE..0x1CE];
    e[0] = 0x80;
    e[4] = 0x07;
    e[8..12].copy_from_slice(&((PART_START / 512) as u32).to_le_bytes());
    e[12..16].copy_from_slice(&((PART_LEN / 512) as u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    d.write_at(0, &mbr).unwrap();
    {
        let w = Window::new(&d, PART_START, PART_LEN).unwrap();
        ntfs_inject::format(
            &w,
            &ntfs_inject::FormatOptions {
                hidden_sectors: (PART_START / 512) as u32,
                ..Default::default()
            },
        )
        .unwrap();
        let mut inj = ntfs_inject::inject::Injector::open(&w).unwrap();
        for (path, data) in files {
            let comps: Vec<&str> = path.split('/').collect();
            let mut cur = String::new();
            for c in &comps[..comps.len() - 1] {
                cur = format!("{cur}/{c}");
                if inj.volume().lookup(&cur).is_err() {
                    inj.create(&cur, None).unwrap();
                }
            }
            inj.create(&format!("/{path}"), Some(data)).unwrap();
        }
    }
    d
}

fn windows_tree(with_template: bool) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("Windows/Boot/EFI/bootmgfw.efi", bytes("bootmgfw", 5000)),
        ("Windows/Boot/EFI/bootmgr.efi", bytes("bootmgr.efi", 4000)),
        ("Windows/Boot/EFI/memtest.efi", bytes("memtest.efi", 3000)),
        ("Windows/Boot/EFI/en-US/bootmgfw.efi.mui", bytes("mui", 700)),
        ("Windows/Boot/Fonts/wgl4_boot.ttf", bytes("font", 2500)),
        ("Windows/Boot/Resources/bootres.dll", bytes("bootres", 1800)),
        ("Windows/Boot/PCAT/bootmgr", bytes("pcat-bootmgr", 6000)),
        ("Windows/Boot/PCAT/memtest.exe", bytes("memtest.exe", 2000)),
        (
            "Windows/Boot/PCAT/en-US/bootmgr.exe.mui",
            bytes("mui2", 300),
        ),
        ("Windows/System32/ntoskrnl.exe", bytes("kernel", 100)),
    ];
    if with_template {
        let t = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/fixtures/real/hive/usbboot_EFI-Microsoft-Boot_BCD"),
        );
        if let Ok(t) = t {
            v.push(("Windows/System32/config/BCD-Template", t));
        }
    }
    v
}

/// Files, directories made, finish called.
type Recorded = (BTreeMap<String, Vec<u8>>, Vec<String>, bool);

/// An ESP that records what is written.
#[derive(Default, Clone)]
struct MemFs(Arc<Mutex<Recorded>>);

impl BootFs for MemFs {
    fn mkdir_p(&mut self, path: &str) -> boot::Result<()> {
        self.0.lock().unwrap().1.push(path.to_string());
        Ok(())
    }
    fn write(&mut self, path: &str, data: &[u8]) -> boot::Result<()> {
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut g = self.0.lock().unwrap();
        assert!(
            dir.is_empty() || g.1.iter().any(|d| d == dir),
            "{path}: no mkdir of {dir}"
        );
        g.0.insert(path.to_string(), data.to_vec());
        Ok(())
    }
    fn finish(&mut self) -> boot::Result<()> {
        self.0.lock().unwrap().2 = true;
        Ok(())
    }
}

fn gpt_layout() -> (DiskLayout, Uuid, Uuid, Uuid) {
    let (p, e, d) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let l = DiskLayout {
        windows: PartitionRef {
            start: PART_START,
            len: PART_LEN,
            device: DeviceRef::Gpt {
                partition: p,
                disk: d,
            },
            active: false,
        },
        // The recording ESP ignores the window; any range on the disk does.
        esp: Some(PartitionRef {
            start: 0,
            len: MIB,
            device: DeviceRef::Gpt {
                partition: e,
                disk: d,
            },
            active: false,
        }),
        gpt: true,
    };
    (l, p, e, d)
}

fn uefi(dev: &MemDev, layout: &DiskLayout, fs: &MemFs) -> boot::Result<boot::BootReport> {
    let opts = BootOptions {
        seed: Some(11),
        ..BootOptions::new(Firmware::Uefi)
    };
    let fs2 = fs.clone();
    let d: &dyn BlockDev = dev;
    install_with(d, layout, &opts, &mut move |_w: Window<&dyn BlockDev>| {
        Ok(Box::new(fs2.clone()) as Box<dyn BootFs>)
    })
}

#[test]
fn uefi_copies_the_tree_and_writes_the_store() {
    for template in [false, true] {
        let tree = windows_tree(template);
        let dev = disk(0, &tree);
        let (layout, p, e, d) = gpt_layout();
        let fs = MemFs::default();
        let rep = uefi(&dev, &layout, &fs).unwrap();
        let g = fs.0.lock().unwrap();
        assert!(g.2, "finish called");
        let src: BTreeMap<&str, &Vec<u8>> = tree.iter().map(|(p, d)| (*p, d)).collect();
        for (dst, from) in [
            (
                "EFI/Microsoft/Boot/bootmgfw.efi",
                "Windows/Boot/EFI/bootmgfw.efi",
            ),
            (
                "EFI/Microsoft/Boot/bootmgr.efi",
                "Windows/Boot/EFI/bootmgr.efi",
            ),
            (
                "EFI/Microsoft/Boot/memtest.efi",
                "Windows/Boot/EFI/memtest.efi",
            ),
            (
                "EFI/Microsoft/Boot/en-US/bootmgfw.efi.mui",
                "Windows/Boot/EFI/en-US/bootmgfw.efi.mui",
            ),
            (
                "EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf",
                "Windows/Boot/Fonts/wgl4_boot.ttf",
            ),
            (
                "EFI/Microsoft/Boot/Resources/bootres.dll",
                "Windows/Boot/Resources/bootres.dll",
            ),
            ("EFI/Boot/bootx64.efi", "Windows/Boot/EFI/bootmgfw.efi"),
        ] {
            assert_eq!(g.0.get(dst), Some(src[from]), "{dst}");
        }
        assert_eq!(g.0.len(), 8, "7 files + BCD: {:?}", g.0.keys());
        assert_eq!(rep.files.len(), 8);
        assert!(rep
            .files
            .contains(&("\\EFI\\Boot\\bootx64.efi".to_string(), 5000)));
        assert!(rep.bootable);
        let bcd = &g.0["EFI/Microsoft/Boot/BCD"];
        let store = hive::bcd::decode(&hive::Hive::from_bytes(bcd).unwrap());
        let bm = store
            .objects
            .iter()
            .find(|o| o.alias == Some("bootmgr"))
            .unwrap();
        let dev_of = |o: &hive::bcd::Object| {
            o.elements
                .iter()
                .find(|e| e.id == "11000001")
                .map(|e| e.value.clone())
        };
        assert_eq!(
            dev_of(bm),
            Some(ElementValue::Device {
                options: None,
                device: Device::GptPartition {
                    partition_guid: format!("{{{e}}}"),
                    disk_guid: format!("{{{d}}}"),
                }
            })
        );
        let loader = store.objects.iter().find(|o| {
            o.object_type == Some(0x10200003) && o.guid.starts_with('{') && {
                o.elements.iter().any(|e| {
                    e.value
                        == ElementValue::Device {
                            options: None,
                            device: Device::GptPartition {
                                partition_guid: format!("{{{p}}}"),
                                disk_guid: format!("{{{d}}}"),
                            },
                        }
                })
            }
        });
        assert!(loader.is_some(), "loader on the Windows partition");
        let has_template_warning = rep
            .warnings
            .iter()
            .any(|w| w.contains("BCD-Template not found"));
        assert_eq!(has_template_warning, !template, "{:?}", rep.warnings);
        if template {
            // usbboot's setup entry came along from the template.
            assert!(rep.bcd_objects.iter().any(|o| o.contains("Windows Setup")));
        }
        assert!(rep.bcd_objects.iter().any(|o| o.starts_with("{bootmgr}")));
    }
}

#[test]
fn missing_boot_efi_is_a_clear_error() {
    let tree: Vec<_> = windows_tree(false)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("Windows/Boot/EFI"))
        .collect();
    let dev = disk(0, &tree);
    let (layout, ..) = gpt_layout();
    let e = uefi(&dev, &layout, &MemFs::default()).unwrap_err();
    assert!(matches!(e, Error::Missing(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "\\Windows\\Boot\\EFI (the UEFI boot manager files bcdboot copies to the ESP) is missing from the Windows partition"
    );
    // Boot\EFI without bootmgfw.efi.
    let tree: Vec<_> = windows_tree(false)
        .into_iter()
        .filter(|(p, _)| !p.ends_with("bootmgfw.efi"))
        .collect();
    let dev = disk(0, &tree);
    let e = uefi(&dev, &layout, &MemFs::default()).unwrap_err();
    assert!(e.to_string().contains("bootmgfw.efi"), "{e}");
    // No ESP at all.
    let dev = disk(0, &windows_tree(false));
    let mut l = layout;
    l.esp = None;
    let e = uefi(&dev, &l, &MemFs::default()).unwrap_err();
    assert!(e.to_string().contains("EFI system partition"), "{e}");
}

fn bios_layout(sig: u32) -> DiskLayout {
    DiskLayout {
        windows: PartitionRef {
            start: PART_START,
            len: PART_LEN,
            device: DeviceRef::Mbr {
                offset: PART_START,
                signature: sig,
            },
            active: true,
        },
        esp: None,
        gpt: false,
    }
}

fn bios(dev: &MemDev, layout: &DiskLayout) -> boot::Result<boot::BootReport> {
    let opts = BootOptions {
        seed: Some(12),
        ..BootOptions::new(Firmware::Bios)
    };
    let d: &dyn BlockDev = dev;
    install_with(d, layout, &opts, &mut |_w: Window<&dyn BlockDev>| {
        panic!("BIOS install must not open an ESP")
    })
}

#[test]
fn bios_writes_bootmgr_and_store_into_ntfs_and_says_not_bootable() {
    let sig = 0x5eed_1234;
    let tree = windows_tree(false);
    let dev = disk(sig, &tree);
    let layout = bios_layout(sig);
    let rep = bios(&dev, &layout).unwrap();
    assert!(!rep.bootable);
    assert!(
        rep.warnings
            .iter()
            .any(|w| w.starts_with("BIOS disk is not bootable: no boot code")),
        "{:?}",
        rep.warnings
    );
    let w = Window::new(&dev, PART_START, PART_LEN).unwrap();
    let vol = ntfs_inject::Volume::open(&w).unwrap();
    let read = |p: &str| {
        let r = vol.record(vol.lookup(p).unwrap()).unwrap();
        let a = r.find(ntfs_inject::layout::attr_type::DATA, &[]).unwrap();
        vol.read_attr(a, 1 << 20).unwrap()
    };
    let src: BTreeMap<&str, &Vec<u8>> = tree.iter().map(|(p, d)| (*p, d)).collect();
    assert_eq!(&read("/bootmgr"), src["Windows/Boot/PCAT/bootmgr"]);
    assert_eq!(
        &read("/Boot/memtest.exe"),
        src["Windows/Boot/PCAT/memtest.exe"]
    );
    assert_eq!(
        &read("/Boot/en-US/bootmgr.exe.mui"),
        src["Windows/Boot/PCAT/en-US/bootmgr.exe.mui"]
    );
    assert_eq!(
        &read("/Boot/Fonts/wgl4_boot.ttf"),
        src["Windows/Boot/Fonts/wgl4_boot.ttf"]
    );
    let bcd = read("/Boot/BCD");
    let store = hive::bcd::decode(&hive::Hive::from_bytes(&bcd).unwrap());
    let mbr_dev = ElementValue::Device {
        options: None,
        device: Device::MbrPartition {
            offset: PART_START,
            disk_signature: "5eed1234".into(),
        },
    };
    let n = store
        .objects
        .iter()
        .flat_map(|o| &o.elements)
        .filter(|e| e.value == mbr_dev)
        .count();
    // bootmgr, memdiag, loader (device + osdevice), resume (device + filedevice)
    assert_eq!(n, 6);
    assert!(ntfs_inject::check::check(&vol).unwrap().is_empty());
    drop(vol);

    // A second run with the same seed writes the same bytes: accepted.
    let again = bios(&dev, &layout).unwrap();
    assert_eq!(again.files, rep.files);
    // With another seed the store differs and replaces the old one.
    let opts = BootOptions {
        seed: Some(13),
        ..BootOptions::new(Firmware::Bios)
    };
    let d: &dyn BlockDev = &dev;
    let third = install_with(d, &layout, &opts, &mut |_w| panic!("no ESP")).unwrap();
    let w = Window::new(&dev, PART_START, PART_LEN).unwrap();
    let vol = ntfs_inject::Volume::open(&w).unwrap();
    assert!(ntfs_inject::check::check(&vol).unwrap().is_empty());
    let r = vol.record(vol.lookup("/Boot/BCD").unwrap()).unwrap();
    let a = r.find(ntfs_inject::layout::attr_type::DATA, &[]).unwrap();
    let bcd = vol.read_attr(a, 1 << 20).unwrap();
    assert!(bcd.starts_with(b"regf"));
    assert_eq!(third.files.len(), rep.files.len());
    drop(vol);

    // GPT + BIOS is refused; missing PCAT is named.
    let mut g = bios_layout(sig);
    g.gpt = true;
    assert!(bios(&dev, &g).unwrap_err().to_string().contains("MBR"));
    let tree: Vec<_> = windows_tree(false)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("Windows/Boot/PCAT"))
        .collect();
    let dev = disk(sig, &tree);
    let e = bios(&dev, &bios_layout(sig)).unwrap_err();
    assert!(e.to_string().contains("\\Windows\\Boot\\PCAT"), "{e}");
}

#[test]
fn boot_code_present_makes_bios_bootable() {
    // Real Windows NTFS boot code: the boot region of a Windows-made
    // volume (sectors 0-15), and non-zero MBR code.
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/real/ntfs/dissect-ntfs_boot_2m.bin");
    let Ok(real) = std::fs::read(&p) else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("fixture {} missing", p.display());
        }
        eprintln!("SKIP: fixture {} missing", p.display());
        return;
    };
    let sig = 0x0bad_cafe;
    let dev = disk(sig, &windows_tree(false));
    let w = Window::new(&dev, PART_START, PART_LEN).unwrap();
    assert!(
        !boot::bootcode::ntfs_has_code(&w).unwrap(),
        "our formatter's stub"
    );
    assert!(!boot::bootcode::mbr_has_code(&dev).unwrap());
    // Graft the code areas only: keep our BPB (0x0B..0x54) and tail.
    let mut b = vec![0u8; 0x2000];
    w.read_at(0, &mut b).unwrap();
    b[0x54..0x1FE].copy_from_slice(&real[0x54..0x1FE]);
    b[0x200..0x2000].copy_from_slice(&real[0x200..0x2000]);
    w.write_at(0, &b).unwrap();
    assert!(boot::bootcode::ntfs_has_code(&w).unwrap());
    let rep = bios(&dev, &bios_layout(sig)).unwrap();
    assert!(!rep.bootable, "MBR code still missing");
    assert!(rep
        .warnings
        .iter()
        .any(|w| w.contains("the MBR has no boot code") && !w.contains("NTFS boot sector")));
    let mut mbr = [0u8; 512];
    dev.read_at(0, &mut mbr).unwrap();
    mbr[..3].copy_from_slice(&[0xfa, 0x33, 0xc0]);
    dev.write_at(0, &mbr).unwrap();
    let rep = bios(&dev, &bios_layout(sig)).unwrap();
    assert!(rep.bootable, "{:?}", rep.warnings);
    assert!(!rep.warnings.iter().any(|w| w.contains("not bootable")));
}

#[test]
fn same_seed_same_store_on_two_disks() {
    let tree = windows_tree(true);
    let (layout, ..) = gpt_layout();
    let run = || {
        let dev = disk(0, &tree);
        let fs = MemFs::default();
        uefi(&dev, &layout, &fs).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let g = fs.0.lock().unwrap();
        g.0["EFI/Microsoft/Boot/BCD"].clone()
    };
    assert_eq!(run(), run());
}
