//! `wimforge disk create` end to end: container (VHDX or raw), partition
//! table, FAT32 ESP, NTFS Windows partition; written under a temporary
//! name and renamed into place only when everything succeeded.

use crate::error::{Error, Result};
use crate::esp::{format_esp_with, EspFormat};
use crate::ids::IdSource;
use crate::layout::{plan, Layout, LayoutOptions, Plan, Role};
use crate::table::write_table;
use blockdev::{AtomicFile, BlockDev, FileDev, Window};
use std::path::{Path, PathBuf};

/// FILETIME used for NTFS and FAT timestamps of a seeded disk when no time
/// is given: 2000-01-01 00:00:00 UTC.
pub const SEEDED_TIME: u64 = 125_911_584_000_000_000;

/// Output container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// MS-VHDX.
    Vhdx,
    /// A raw disk image (sparse where the file system allows).
    Raw,
}

impl ImageFormat {
    /// `Vhdx` for a `.vhdx` extension (any case), `Raw` otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("vhdx") => ImageFormat::Vhdx,
            _ => ImageFormat::Raw,
        }
    }
    /// "vhdx" or "raw".
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Vhdx => "vhdx",
            ImageFormat::Raw => "raw",
        }
    }
}

/// VHDX allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VhdxType {
    /// Blocks allocated when first written.
    #[default]
    Dynamic,
    /// Every block allocated up front.
    Fixed,
}

/// Everything `create_disk` needs.
#[derive(Debug, Clone)]
pub struct DiskCreateOptions {
    /// Size, layout, sector size, seed, ESP and MSR sizes.
    pub layout: LayoutOptions,
    pub format: ImageFormat,
    pub vhdx_type: VhdxType,
    /// VHDX payload block size (power of two, 1..=256 MiB).
    pub block_size: u32,
    /// VHDX physical sector size (512 or 4096).
    pub physical_sector_size: u32,
    /// NTFS volume label of the Windows partition.
    pub ntfs_label: String,
    /// NTFS cluster size.
    pub ntfs_cluster_size: u32,
    /// FAT volume label of the ESP.
    pub esp_label: String,
    /// FILETIME for the file systems' timestamps; `None` = now, or
    /// [`SEEDED_TIME`] when a seed is given (reproducible output).
    pub time: Option<u64>,
}

impl Default for DiskCreateOptions {
    fn default() -> Self {
        DiskCreateOptions {
            layout: LayoutOptions::default(),
            format: ImageFormat::Vhdx,
            vhdx_type: VhdxType::Dynamic,
            block_size: vhdx::DEFAULT_BLOCK_SIZE,
            physical_sector_size: 4096,
            ntfs_label: String::new(),
            ntfs_cluster_size: 4096,
            esp_label: "SYSTEM".into(),
            time: None,
        }
    }
}

/// What `create_disk` made.
#[derive(Debug, Clone)]
pub struct CreatedDisk {
    pub path: PathBuf,
    pub format: ImageFormat,
    /// The layout written (GUIDs and signature included).
    pub plan: Plan,
    /// Size of the output file in bytes.
    pub file_size: u64,
    /// NTFS serial number of the Windows partition.
    pub ntfs_serial: u64,
    /// FAT volume id of the ESP (UEFI).
    pub fat_volume_id: Option<u32>,
    /// False: wimforge writes no MBR boot code (it cannot ship
    /// Microsoft's), so a BIOS disk needs boot code from elsewhere.
    pub has_boot_code: bool,
    /// Facts the user should know (e.g. the empty MBR boot code).
    pub notes: Vec<String>,
}

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Output {
        path: path.display().to_string(),
        source,
    }
}

/// What a caller fills the Windows partition with: the whole disk, the
/// plan, the partition, and the NTFS parameters (hidden sectors, serial,
/// time) a formatter should use there.
pub struct WindowsTarget<'a> {
    pub disk: &'a dyn BlockDev,
    pub plan: &'a Plan,
    pub partition: &'a crate::layout::Partition,
    pub ntfs: ntfs_inject::FormatOptions,
}

impl WindowsTarget<'_> {
    /// The Windows partition as a device of its own.
    pub fn window(&self) -> Result<Window<&dyn BlockDev>> {
        Window::new(self.disk, self.partition.start, self.partition.len).map_err(
            crate::error::io_at("Windows partition", self.partition.start),
        )
    }
}

/// Create the disk at `path` with an empty NTFS Windows partition. On any
/// failure nothing is left at `path`.
pub fn create_disk(path: &Path, opts: &DiskCreateOptions) -> Result<CreatedDisk> {
    create_disk_with(path, opts, |t: &WindowsTarget| -> Result<()> {
        ntfs_inject::format(&t.window()?, &t.ntfs)?;
        Ok(())
    })
}

/// Create the disk at `path`: container, partition table, ESP; then
/// `fill_windows` writes the Windows partition (and may write anything
/// else on the disk, such as boot files) before the container is closed
/// and renamed into place. On any failure, `fill_windows`' included,
/// nothing is left at `path`.
pub fn create_disk_with<E: From<Error>>(
    path: &Path,
    opts: &DiskCreateOptions,
    fill_windows: impl FnOnce(&WindowsTarget) -> std::result::Result<(), E>,
) -> std::result::Result<CreatedDisk, E> {
    let plan = plan(&opts.layout)?;
    let ss = plan.logical_sector_size;
    if ss != 512 {
        return Err(Error::Unsupported(format!(
            "a Windows partition on a disk with {ss}-byte logical sectors: the NTFS formatter \
             (ntfs-inject) writes volumes with 512-byte sectors only, which Windows does not \
             mount on a {ss}-byte-sector disk; use --logical-sector-size 512"
        ))
        .into());
    }
    let ids = IdSource::from_seed(opts.layout.seed);
    let time = opts.time.or_else(|| opts.layout.seed.map(|_| SEEDED_TIME));
    let ntfs_serial = ids.u64("ntfs-serial");
    let fat_volume_id = (plan.layout == Layout::Uefi).then(|| ids.u32("fat-volume-id"));

    let fill = |dev: &dyn BlockDev| -> std::result::Result<(), E> {
        write_table(dev, &plan)?;
        if let (Some(esp), Some(vid)) = (plan.find(Role::Esp), fat_volume_id) {
            let w = Window::new(dev, esp.start, esp.len)
                .map_err(crate::error::io_at("ESP", esp.start))?;
            format_esp_with(
                &w,
                &EspFormat {
                    label: opts.esp_label.clone(),
                    volume_id: vid,
                    bytes_per_sector: ss as u16,
                    hidden_sectors: u32::try_from(esp.start_lba(ss)).unwrap_or(u32::MAX),
                },
            )?;
        }
        let win = plan
            .find(Role::Windows)
            .ok_or_else(|| Error::InvalidArgument("the plan has no Windows partition".into()))?;
        let hidden = u32::try_from(win.start_lba(ss)).map_err(|_| {
            Error::InvalidArgument(format!(
                "the Windows partition starts at LBA {}, past what NTFS hidden sectors hold",
                win.start_lba(ss)
            ))
        })?;
        fill_windows(&WindowsTarget {
            disk: dev,
            plan: &plan,
            partition: win,
            ntfs: ntfs_inject::FormatOptions {
                cluster_size: opts.ntfs_cluster_size,
                label: opts.ntfs_label.clone(),
                hidden_sectors: hidden,
                serial: Some(ntfs_serial),
                time,
            },
        })
    };

    let tmp = AtomicFile::create(path).map_err(out_err(path))?;
    let file = tmp.file().map_err(out_err(path))?;
    let fdev = FileDev::from_file(file, tmp.temp_path(), false).map_err(out_err(path))?;
    let name = path.display().to_string();
    match opts.format {
        ImageFormat::Vhdx => {
            let vopts = vhdx::CreateOptions {
                size: plan.disk_size,
                kind: match opts.vhdx_type {
                    VhdxType::Dynamic => vhdx::CreateKind::Dynamic,
                    VhdxType::Fixed => vhdx::CreateKind::Fixed,
                },
                block_size: opts.block_size,
                logical_sector_size: ss,
                physical_sector_size: opts.physical_sector_size,
                guids: match ids.vhdx_seed() {
                    Some(s) => vhdx::GuidSource::Seeded(s),
                    None => vhdx::GuidSource::Random,
                },
                ..Default::default()
            };
            let d = vhdx::Vhdx::create_on(Box::new(fdev), &name, &vopts).map_err(Error::from)?;
            fill(&d)?;
            d.close().map_err(Error::from)?;
        }
        ImageFormat::Raw => {
            fdev.set_len(plan.disk_size).map_err(out_err(path))?;
            fill(&fdev)?;
            fdev.flush().map_err(out_err(path))?;
        }
    }
    tmp.commit().map_err(out_err(path))?;
    let file_size = std::fs::metadata(path).map_err(out_err(path))?.len();
    let mut notes = Vec::new();
    if plan.layout == Layout::Bios {
        notes.push(
            "the MBR boot code area is empty (wimforge cannot ship Microsoft's MBR code): the \
             disk does not boot from BIOS until boot code is written there"
                .to_string(),
        );
    }
    Ok(CreatedDisk {
        path: path.to_path_buf(),
        format: opts.format,
        plan,
        file_size,
        ntfs_serial,
        fat_volume_id,
        has_boot_code: false,
        notes,
    })
}
