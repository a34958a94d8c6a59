//! Offline `bcdboot`: copy the boot manager files out of an applied
//! Windows image onto the system partition and write the BCD store that
//! points at the Windows partition.
//!
//! * UEFI: `\Windows\Boot\EFI\*` → ESP `\EFI\Microsoft\Boot\` (with
//!   `\Windows\Boot\Fonts` and `\Windows\Boot\Resources` as `Fonts` and
//!   `Resources` beside them), `bootmgfw.efi` also as the removable-media
//!   fallback `\EFI\Boot\bootx64.efi`, and the store at
//!   `\EFI\Microsoft\Boot\BCD`.
//! * BIOS: `\Windows\Boot\PCAT\bootmgr` → `\bootmgr` of the active NTFS
//!   partition, the rest of `PCAT` (with Fonts, Resources) → `\Boot\`, the
//!   store at `\Boot\BCD`. The MBR and NTFS boot code are not ours to ship:
//!   when the disk has none, the report says the disk is not bootable.
//!
//! The store ([`build_bcd`], module [`store`]) starts from the image's
//! `\Windows\System32\config\BCD-Template` when there is one, as bcdboot
//! does (learn.microsoft.com, "BCDBoot Command-Line Options"), else it is
//! built from nothing with the same objects.

pub mod bootcode;
pub mod esp;
pub mod guid;
pub mod source;
pub mod store;
pub mod target;

use blockdev::{BlockDev, Window};
pub use store::DeviceRef;
use target::BootFs;

/// Firmware the disk boots with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    Uefi,
    Bios,
}

/// What to write.
#[derive(Clone, Debug)]
pub struct BootOptions {
    pub firmware: Firmware,
    /// Locale of the boot entries (`en-US`).
    pub locale: String,
    /// Description of the Windows Boot Loader entry.
    pub description: String,
    /// Seconds the boot menu waits (bcdboot: 30).
    pub timeout: u32,
    /// Seed for the loader and resume object GUIDs; with a seed the store
    /// is byte-for-byte reproducible (fixed key and hive timestamps too).
    pub seed: Option<u64>,
}

impl BootOptions {
    /// bcdboot's defaults for `firmware`.
    pub fn new(firmware: Firmware) -> Self {
        BootOptions {
            firmware,
            locale: "en-US".into(),
            description: "Windows Server".into(),
            timeout: 30,
            seed: None,
        }
    }
}

/// What [`install`] did.
#[derive(Clone, Debug, Default)]
pub struct BootReport {
    /// Files written: destination path (`\EFI\...` on the ESP, `\bootmgr`
    /// and `\Boot\...` on the NTFS partition) and size.
    pub files: Vec<(String, u64)>,
    /// The objects of the written store, one line each.
    pub bcd_objects: Vec<String>,
    /// Can the firmware start Windows from this disk, as far as we can
    /// tell? False for a BIOS disk without MBR or NTFS boot code.
    pub bootable: bool,
    pub warnings: Vec<String>,
}

/// Errors. Each names what it was doing and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the boot files come from is not in the Windows partition.
    #[error("{0} is missing from the Windows partition")]
    Missing(String),
    #[error("reading {path} from the Windows partition: {source}")]
    Source {
        path: String,
        #[source]
        source: ntfs_inject::Error,
    },
    #[error("writing {path}: {message}")]
    Target { path: String, message: String },
    #[error("BCD store: {0}")]
    Hive(#[source] hive::Error),
    #[error("BCD template: {0}")]
    Template(#[source] hive::Error),
    #[error("BCD template: {0}")]
    NotBcd(String),
    /// The disk's partitions do not fit the request.
    #[error("{0}")]
    Layout(String),
    #[error("partition table: {0}")]
    Disk(#[from] disk::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Build the BCD store (hive bytes) bcdboot would write: from `template`
/// (the image's `BCD-Template`) when given, else from nothing. `windows`
/// is the partition holding `\Windows`, `system` the one holding the boot
/// manager (the ESP for UEFI; for BIOS the active partition).
pub fn build_bcd(
    template: Option<&[u8]>,
    windows: &DeviceRef,
    system: &DeviceRef,
    opts: &BootOptions,
) -> Result<Vec<u8>> {
    Ok(store::build(template, windows, system, opts)?.hive)
}

/// A partition as the installer needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionRef {
    /// Byte offset and length on the disk.
    pub start: u64,
    pub len: u64,
    /// How the BCD names it.
    pub device: DeviceRef,
    /// MBR active flag (BIOS boots the active partition).
    pub active: bool,
}

/// The partitions of a disk that matter for booting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskLayout {
    pub windows: PartitionRef,
    pub esp: Option<PartitionRef>,
    /// GPT (else MBR).
    pub gpt: bool,
}

/// Source paths in the Windows partition.
pub mod paths {
    pub const BOOT_EFI: &str = "\\Windows\\Boot\\EFI";
    pub const BOOT_PCAT: &str = "\\Windows\\Boot\\PCAT";
    pub const FONTS: &str = "\\Windows\\Boot\\Fonts";
    pub const RESOURCES: &str = "\\Windows\\Boot\\Resources";
    pub const TEMPLATE: &str = "\\Windows\\System32\\config\\BCD-Template";
}

/// The layout of a partitioned disk (`disk::read_table`) with
/// `logical_sector_size`-byte sectors; `None` tries 512, then 4096.
pub fn read_layout(disk: &dyn BlockDev, logical_sector_size: Option<u32>) -> Result<DiskLayout> {
    let plan = match logical_sector_size {
        Some(ss) => disk::read_table(disk, ss)?,
        None => match disk::read_table(disk, 512) {
            Ok(p) => p,
            Err(e512) => disk::read_table(disk, 4096).map_err(|_| e512)?,
        },
    };
    layout_from_plan(&plan)
}

/// The Windows partition and ESP of a partition plan.
pub fn layout_from_plan(plan: &disk::Plan) -> Result<DiskLayout> {
    let gpt = plan.disk_guid.is_some();
    let part = |p: &disk::Partition| -> Result<PartitionRef> {
        let device = match (plan.disk_guid, plan.mbr_signature) {
            (Some(disk), _) => DeviceRef::Gpt {
                partition: p.unique_guid.ok_or_else(|| {
                    Error::Layout(format!("GPT partition {} has no unique GUID", p.number))
                })?,
                disk,
            },
            (None, Some(signature)) => DeviceRef::Mbr {
                offset: p.start,
                signature,
            },
            (None, None) => {
                return Err(Error::Layout(
                    "the disk has neither a GPT disk GUID nor an MBR disk signature".into(),
                ))
            }
        };
        Ok(PartitionRef {
            start: p.start,
            len: p.len,
            device,
            active: p.active,
        })
    };
    let windows = plan
        .partitions
        .iter()
        .find(|p| p.role == disk::Role::Windows)
        .ok_or_else(|| Error::Layout("the disk has no Windows (NTFS) partition".into()))?;
    let esp = plan.partitions.iter().find(|p| p.role == disk::Role::Esp);
    Ok(DiskLayout {
        windows: part(windows)?,
        esp: esp.map(part).transpose()?,
        gpt,
    })
}

/// Install boot files and the BCD store on a whole disk (raw or VHDX
/// block device): read its partition table, read the boot files from the
/// NTFS Windows partition, write them to the ESP (UEFI) or the active NTFS
/// partition (BIOS).
pub fn install(disk: &dyn BlockDev, opts: &BootOptions) -> Result<BootReport> {
    install_on(disk, None, opts)
}

/// [`install`] with a known logical sector size (a VHDX's), or `None` to
/// probe 512 then 4096.
pub fn install_on(
    disk: &dyn BlockDev,
    logical_sector_size: Option<u32>,
    opts: &BootOptions,
) -> Result<BootReport> {
    let layout = read_layout(disk, logical_sector_size)?;
    let time = opts.seed.map(|_| store::FIXED_FILETIME);
    install_with(disk, &layout, opts, &mut |w| {
        Ok(Box::new(esp::EspFs::open(w, time)?) as Box<dyn BootFs>)
    })
}

/// Opens the ESP (a window onto the disk) for writing.
pub type EspOpener<'d> = dyn FnMut(Window<&'d dyn BlockDev>) -> Result<Box<dyn BootFs + 'd>> + 'd;

/// [`install`] with the layout already known and the ESP opened by
/// `open_esp`.
pub fn install_with<'d>(
    disk: &'d dyn BlockDev,
    layout: &DiskLayout,
    opts: &BootOptions,
    open_esp: &mut EspOpener<'d>,
) -> Result<BootReport> {
    let win = layout.windows;
    let win_dev = Window::new(disk, win.start, win.len)?;
    match opts.firmware {
        Firmware::Uefi => {
            let esp = layout.esp.ok_or_else(|| {
                Error::Layout("UEFI boot needs an EFI system partition; the disk has none".into())
            })?;
            let files = uefi_files(&win_dev)?;
            let built = store::build(files.template.as_deref(), &win.device, &esp.device, opts)?;
            let esp_dev = Window::new(disk, esp.start, esp.len)?;
            let mut fs = open_esp(esp_dev)?;
            let mut report = write_files(
                &mut *fs,
                &files.copies,
                &built.hive,
                "EFI/Microsoft/Boot/BCD",
            )?;
            fs.finish()?;
            report.bcd_objects = store::describe(&built.hive)?;
            report.warnings.extend(files.warnings);
            report.warnings.extend(built.warnings);
            report.bootable = true;
            Ok(report)
        }
        Firmware::Bios => {
            if layout.gpt {
                return Err(Error::Layout(
                    "BIOS boot needs an MBR disk; this disk is GPT (use --firmware uefi)".into(),
                ));
            }
            let files = bios_files(&win_dev)?;
            let built = store::build(files.template.as_deref(), &win.device, &win.device, opts)?;
            let mut report = {
                let mut fs = target::NtfsFs::open(&win_dev)?;
                let r = write_files(&mut fs, &files.copies, &built.hive, "Boot/BCD")?;
                fs.finish()?;
                r
            };
            disk.flush()?;
            report.bcd_objects = store::describe(&built.hive)?;
            report.warnings.extend(files.warnings);
            report.warnings.extend(built.warnings);
            if !win.active {
                report.warnings.push(
                    "the Windows partition is not marked active; BIOS boots the active partition"
                        .into(),
                );
            }
            let mbr = bootcode::mbr_has_code(disk)?;
            let vbr = bootcode::ntfs_has_code(&win_dev)?;
            let mut missing = Vec::new();
            if !mbr {
                missing.push("the MBR has no boot code");
            }
            if !vbr {
                missing.push("the NTFS boot sector has no boot code");
            }
            report.bootable = mbr && vbr && win.active;
            if !mbr || !vbr {
                report.warnings.push(format!(
                    "BIOS disk is not bootable: no boot code ({}; wimforge cannot ship Microsoft's boot code)",
                    missing.join(", ")
                ));
            }
            Ok(report)
        }
    }
}

/// Files to copy (destination path, `/`-separated, and bytes; `None` for
/// a directory), the template, and notes.
struct Files {
    copies: Vec<(String, Option<Vec<u8>>)>,
    template: Option<Vec<u8>>,
    warnings: Vec<String>,
}

fn prefixed(dest: &str, entries: Vec<source::Entry>) -> Vec<(String, Option<Vec<u8>>)> {
    entries
        .into_iter()
        .map(|(p, d)| (format!("{dest}/{p}"), d))
        .collect()
}

/// Fonts and Resources, and the template.
fn common(
    tree: &source::WindowsTree<&Window<&dyn BlockDev>>,
    dest: &str,
    files: &mut Files,
) -> Result<()> {
    for (src, name) in [(paths::FONTS, "Fonts"), (paths::RESOURCES, "Resources")] {
        if tree.is_dir(src)? {
            let d = format!("{dest}/{name}");
            files.copies.push((d.clone(), None));
            files.copies.extend(prefixed(&d, tree.collect(src)?));
        }
    }
    files.template = tree.read_file(paths::TEMPLATE)?;
    if files.template.is_none() {
        files.warnings.push(format!(
            "{} not found: the BCD store was built from scratch",
            paths::TEMPLATE
        ));
    }
    Ok(())
}

fn uefi_files(win: &Window<&dyn BlockDev>) -> Result<Files> {
    let tree = source::WindowsTree::open(win)?;
    if !tree.is_dir(paths::BOOT_EFI)? {
        return Err(Error::Missing(format!(
            "{} (the UEFI boot manager files bcdboot copies to the ESP)",
            paths::BOOT_EFI
        )));
    }
    let efi = tree.collect(paths::BOOT_EFI)?;
    let bootmgfw = efi
        .iter()
        .find(|(p, d)| d.is_some() && p.eq_ignore_ascii_case("bootmgfw.efi"))
        .and_then(|(_, d)| d.clone())
        .ok_or_else(|| {
            Error::Missing(format!(
                "{}\\bootmgfw.efi (the UEFI boot manager)",
                paths::BOOT_EFI
            ))
        })?;
    let mut files = Files {
        copies: vec![
            ("EFI".into(), None),
            ("EFI/Microsoft".into(), None),
            ("EFI/Microsoft/Boot".into(), None),
        ],
        template: None,
        warnings: Vec::new(),
    };
    files.copies.extend(prefixed("EFI/Microsoft/Boot", efi));
    common(&tree, "EFI/Microsoft/Boot", &mut files)?;
    files.copies.push(("EFI/Boot".into(), None));
    files
        .copies
        .push(("EFI/Boot/bootx64.efi".into(), Some(bootmgfw)));
    Ok(files)
}

fn bios_files(win: &Window<&dyn BlockDev>) -> Result<Files> {
    let tree = source::WindowsTree::open(win)?;
    if !tree.is_dir(paths::BOOT_PCAT)? {
        return Err(Error::Missing(format!(
            "{} (the BIOS boot manager files bcdboot copies)",
            paths::BOOT_PCAT
        )));
    }
    let pcat = tree.collect(paths::BOOT_PCAT)?;
    let mut files = Files {
        copies: vec![("Boot".into(), None)],
        template: None,
        warnings: Vec::new(),
    };
    let mut have_bootmgr = false;
    for (p, d) in pcat {
        // bootmgr (and bootnxt) go to the root, everything else to \Boot.
        let dest = if d.is_some() && p.eq_ignore_ascii_case("bootmgr") {
            have_bootmgr = true;
            "bootmgr".to_string()
        } else if d.is_some() && p.eq_ignore_ascii_case("bootnxt") {
            "BOOTNXT".to_string()
        } else {
            format!("Boot/{p}")
        };
        files.copies.push((dest, d));
    }
    if !have_bootmgr {
        return Err(Error::Missing(format!(
            "{}\\bootmgr (the BIOS boot manager)",
            paths::BOOT_PCAT
        )));
    }
    common(&tree, "Boot", &mut files)?;
    Ok(files)
}

/// Write directories and files, then the store at `bcd_path`.
fn write_files(
    fs: &mut dyn BootFs,
    copies: &[(String, Option<Vec<u8>>)],
    bcd: &[u8],
    bcd_path: &str,
) -> Result<BootReport> {
    let mut report = BootReport::default();
    let show = |p: &str| format!("\\{}", p.replace('/', "\\"));
    for (p, d) in copies {
        match d {
            None => fs.mkdir_p(p)?,
            Some(d) => {
                fs.write(p, d)?;
                report.files.push((show(p), d.len() as u64));
            }
        }
    }
    fs.write(bcd_path, bcd)?;
    report.files.push((show(bcd_path), bcd.len() as u64));
    Ok(report)
}
