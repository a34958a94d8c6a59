//! Planning a Windows disk layout: where each partition goes, its type,
//! its GUIDs. Nothing is written here (see [`crate::write_table`]).
//!
//! UEFI (GPT): ESP (FAT32) + MSR + basic data (NTFS), as Convert-WindowsImage
//! lays out a Nano Server VHDX. BIOS (MBR): one active NTFS partition.
//! Every partition starts and ends on a 1 MiB boundary.

use crate::error::{Error, Result};
use crate::gpt;
use crate::ids::IdSource;
use crate::mbr;
use uuid::Uuid;

/// 1 MiB: the alignment of every partition.
pub const MIB: u64 = 1 << 20;
/// Default ESP size (Convert-WindowsImage for Windows Server 2016).
pub const DEFAULT_ESP_SIZE: u64 = 200 * MIB;
/// Default MSR size.
pub const DEFAULT_MSR_SIZE: u64 = 128 * MIB;
/// Smallest Windows partition a plan accepts.
pub const MIN_WINDOWS_SIZE: u64 = 16 * MIB;
/// Smallest FAT32 ESP with 512-byte sectors: 65,525 clusters of 512 bytes
/// plus two FATs and the reserved sectors.
pub const MIN_ESP_SIZE_512: u64 = 33 * MIB;
/// Smallest FAT32 ESP with 4096-byte sectors (clusters are at least one
/// sector, and FAT32 needs 65,525 of them); Microsoft documents 260 MB as
/// the minimum ESP on 4Kn drives for this reason.
pub const MIN_ESP_SIZE_4K: u64 = 260 * MIB;

/// Partition style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// GPT (protective MBR, primary and backup tables).
    Uefi,
    /// MBR.
    Bios,
}

impl Layout {
    /// "uefi" or "bios".
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Uefi => "uefi",
            Layout::Bios => "bios",
        }
    }
}

/// What a partition is for, inferred from its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// EFI system partition (GPT type c12a7328-…, MBR type 0xEF).
    Esp,
    /// Microsoft reserved partition (e3c9e316-…).
    Msr,
    /// Windows / basic data (GPT ebd0a0a2-…, MBR type 0x07).
    Windows,
    /// Anything else (found on disks we did not make).
    Other,
}

impl Role {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Esp => "esp",
            Role::Msr => "msr",
            Role::Windows => "windows",
            Role::Other => "other",
        }
    }

    /// The role a GPT partition type GUID implies.
    pub fn from_gpt_type(t: &Uuid) -> Role {
        match *t {
            gpt::TYPE_ESP => Role::Esp,
            gpt::TYPE_MSR => Role::Msr,
            gpt::TYPE_BASIC_DATA => Role::Windows,
            _ => Role::Other,
        }
    }

    /// The role an MBR partition type implies.
    pub fn from_mbr_type(t: u8) -> Role {
        match t {
            mbr::TYPE_EFI => Role::Esp,
            mbr::TYPE_NTFS => Role::Windows,
            _ => Role::Other,
        }
    }
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct LayoutOptions {
    /// Disk size in bytes (a multiple of the logical sector size).
    pub disk_size: u64,
    pub layout: Layout,
    /// 512 or 4096.
    pub logical_sector_size: u32,
    /// Derive GUIDs and the MBR signature from this seed; random without.
    pub seed: Option<u64>,
    /// ESP size in bytes (UEFI), a multiple of 1 MiB.
    pub esp_size: u64,
    /// MSR size in bytes (UEFI), a multiple of 1 MiB; 0 = no MSR.
    pub msr_size: u64,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        LayoutOptions {
            disk_size: 0,
            layout: Layout::Uefi,
            logical_sector_size: 512,
            seed: None,
            esp_size: DEFAULT_ESP_SIZE,
            msr_size: DEFAULT_MSR_SIZE,
        }
    }
}

/// One partition of a plan (or of a table read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based slot number (GPT entry index + 1, MBR record index + 1).
    pub number: u32,
    pub role: Role,
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// GPT partition type.
    pub type_guid: Option<Uuid>,
    /// GPT unique partition GUID (what a BCD device element names).
    pub unique_guid: Option<Uuid>,
    /// MBR partition type.
    pub mbr_type: Option<u8>,
    /// MBR active (boot indicator 0x80).
    pub active: bool,
    /// GPT partition name (empty on MBR).
    pub name: String,
    /// GPT attribute bits (0 on MBR).
    pub attributes: u64,
}

impl Partition {
    /// First logical sector.
    pub fn start_lba(&self, sector: u32) -> u64 {
        self.start / sector as u64
    }
    /// Last logical sector (inclusive).
    pub fn last_lba(&self, sector: u32) -> u64 {
        (self.start + self.len) / sector as u64 - 1
    }
}

/// A disk layout: planned, or read from a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `Uefi` for GPT, `Bios` for MBR.
    pub layout: Layout,
    pub logical_sector_size: u32,
    pub disk_size: u64,
    /// GPT disk GUID.
    pub disk_guid: Option<Uuid>,
    /// MBR disk signature (0x1B8); `None` on GPT.
    pub mbr_signature: Option<u32>,
    /// In slot order.
    pub partitions: Vec<Partition>,
    /// GPT first and last usable LBA (0, 0 on MBR).
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    /// Whether the MBR boot code area holds code. A plan never has any:
    /// wimforge cannot ship Microsoft's MBR code, so a BIOS disk it makes
    /// is not bootable until someone writes boot code there.
    pub has_boot_code: bool,
    /// Things a reader found odd but could live with (e.g. a damaged
    /// backup GPT). Always empty for a plan.
    pub warnings: Vec<String>,
}

impl Plan {
    /// The first partition with `role`.
    pub fn find(&self, role: Role) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.role == role)
    }
    /// The partition numbered `n`.
    pub fn number(&self, n: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.number == n)
    }
}

/// GPT geometry of a disk of `total_lbas` sectors of `sector` bytes:
/// (entries LBA of the primary array, first usable, last usable, backup
/// entries LBA, backup header LBA).
pub(crate) fn gpt_geometry(total_lbas: u64, sector: u64) -> Option<(u64, u64, u64, u64, u64)> {
    let entry_lbas = gpt::ENTRY_ARRAY_BYTES.div_ceil(sector);
    let first_usable = 2 + entry_lbas;
    let backup_header = total_lbas.checked_sub(1)?;
    let backup_entries = backup_header.checked_sub(entry_lbas)?;
    let last_usable = backup_entries.checked_sub(1)?;
    (last_usable >= first_usable).then_some((
        2,
        first_usable,
        last_usable,
        backup_entries,
        backup_header,
    ))
}

fn size_str(b: u64) -> String {
    if b % MIB == 0 {
        format!("{} MiB", b / MIB)
    } else {
        format!("{b} bytes")
    }
}

/// Plan a layout. Fails with a message naming the smallest workable disk
/// when the disk is too small, and on sizes that are not sector or MiB
/// multiples.
pub fn plan(opts: &LayoutOptions) -> Result<Plan> {
    let ss = opts.logical_sector_size;
    if ss != 512 && ss != 4096 {
        return Err(Error::InvalidArgument(format!(
            "logical sector size {ss} (must be 512 or 4096)"
        )));
    }
    let ss64 = ss as u64;
    let size = opts.disk_size;
    if size == 0 || size % ss64 != 0 {
        return Err(Error::InvalidArgument(format!(
            "disk size {size} is not a positive multiple of the {ss}-byte sector"
        )));
    }
    let ids = IdSource::from_seed(opts.seed);
    let total_lbas = size / ss64;
    match opts.layout {
        Layout::Uefi => {
            for (what, v) in [("ESP", opts.esp_size), ("MSR", opts.msr_size)] {
                if v % MIB != 0 {
                    return Err(Error::InvalidArgument(format!(
                        "{what} size {v} is not a multiple of 1 MiB"
                    )));
                }
            }
            let min_esp = if ss == 4096 {
                MIN_ESP_SIZE_4K
            } else {
                MIN_ESP_SIZE_512
            };
            if opts.esp_size < min_esp {
                return Err(Error::InvalidArgument(format!(
                    "an ESP of {} cannot hold FAT32 with {ss}-byte sectors (at least {} needed{})",
                    size_str(opts.esp_size),
                    size_str(min_esp),
                    if ss == 4096 {
                        ": FAT32 needs 65,525 clusters of at least one 4 KiB sector"
                    } else {
                        ""
                    }
                )));
            }
            // 1 MiB before the ESP, the backup GPT (< 1 MiB) after Windows.
            let need = MIB + opts.esp_size + opts.msr_size + MIN_WINDOWS_SIZE + MIB;
            let too_small = || {
                Error::InvalidArgument(format!(
                    "disk of {} is too small for the UEFI layout (ESP {} + MSR {} + Windows \
                     {} + 2 MiB of tables and alignment: at least {})",
                    size_str(size),
                    size_str(opts.esp_size),
                    size_str(opts.msr_size),
                    size_str(MIN_WINDOWS_SIZE),
                    size_str(need)
                ))
            };
            let (_, first_usable, last_usable, _, _) =
                gpt_geometry(total_lbas, ss64).ok_or_else(too_small)?;
            let esp_start = MIB;
            let msr_start = esp_start + opts.esp_size;
            let win_start = msr_start + opts.msr_size;
            let usable_end = (last_usable + 1) * ss64;
            let win_end = usable_end / MIB * MIB;
            if win_end < win_start + MIN_WINDOWS_SIZE {
                return Err(too_small());
            }
            let mut parts = vec![Partition {
                number: 1,
                role: Role::Esp,
                start: esp_start,
                len: opts.esp_size,
                type_guid: Some(gpt::TYPE_ESP),
                unique_guid: Some(ids.guid("partition-esp")),
                mbr_type: None,
                active: false,
                name: "EFI system partition".into(),
                attributes: gpt::ATTR_NO_DRIVE_LETTER,
            }];
            if opts.msr_size > 0 {
                parts.push(Partition {
                    number: 2,
                    role: Role::Msr,
                    start: msr_start,
                    len: opts.msr_size,
                    type_guid: Some(gpt::TYPE_MSR),
                    unique_guid: Some(ids.guid("partition-msr")),
                    mbr_type: None,
                    active: false,
                    name: "Microsoft reserved partition".into(),
                    attributes: 0,
                });
            }
            parts.push(Partition {
                number: parts.len() as u32 + 1,
                role: Role::Windows,
                start: win_start,
                len: win_end - win_start,
                type_guid: Some(gpt::TYPE_BASIC_DATA),
                unique_guid: Some(ids.guid("partition-windows")),
                mbr_type: None,
                active: false,
                name: "Basic data partition".into(),
                attributes: 0,
            });
            Ok(Plan {
                layout: Layout::Uefi,
                logical_sector_size: ss,
                disk_size: size,
                disk_guid: Some(ids.guid("disk")),
                mbr_signature: None,
                partitions: parts,
                first_usable_lba: first_usable,
                last_usable_lba: last_usable,
                has_boot_code: false,
                warnings: Vec::new(),
            })
        }
        Layout::Bios => {
            let need = MIB + MIN_WINDOWS_SIZE;
            let start = MIB;
            let end = size / MIB * MIB;
            if end < start + MIN_WINDOWS_SIZE {
                return Err(Error::InvalidArgument(format!(
                    "disk of {} is too small for the BIOS layout (at least {})",
                    size_str(size),
                    size_str(need)
                )));
            }
            if end / ss64 > u32::MAX as u64 {
                return Err(Error::InvalidArgument(format!(
                    "disk of {} is too large for an MBR with {ss}-byte sectors (at most {} \
                     addressable); use the UEFI (GPT) layout",
                    size_str(size),
                    size_str(u32::MAX as u64 * ss64 / MIB * MIB)
                )));
            }
            Ok(Plan {
                layout: Layout::Bios,
                logical_sector_size: ss,
                disk_size: size,
                disk_guid: None,
                mbr_signature: Some(ids.u32("mbr-signature")),
                partitions: vec![Partition {
                    number: 1,
                    role: Role::Windows,
                    start,
                    len: end - start,
                    type_guid: None,
                    unique_guid: None,
                    mbr_type: Some(mbr::TYPE_NTFS),
                    active: true,
                    name: String::new(),
                    attributes: 0,
                }],
                first_usable_lba: 0,
                last_usable_lba: 0,
                has_boot_code: false,
                warnings: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(size: u64, layout: Layout, ss: u32) -> LayoutOptions {
        LayoutOptions {
            disk_size: size,
            layout,
            logical_sector_size: ss,
            seed: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn uefi_512() {
        let p = plan(&opts(1 << 30, Layout::Uefi, 512)).unwrap();
        assert_eq!(p.first_usable_lba, 34);
        assert_eq!(p.last_usable_lba, (1 << 30) / 512 - 34);
        let s: Vec<_> = p.partitions.iter().map(|p| (p.start, p.len)).collect();
        assert_eq!(
            s,
            vec![
                (MIB, 200 * MIB),
                (201 * MIB, 128 * MIB),
                (329 * MIB, 1023 * MIB - 329 * MIB)
            ]
        );
        assert!(p
            .partitions
            .iter()
            .all(|x| x.start % MIB == 0 && x.len % MIB == 0));
        assert_eq!(p, plan(&opts(1 << 30, Layout::Uefi, 512)).unwrap());
        let mut o = opts(1 << 30, Layout::Uefi, 512);
        o.seed = Some(2);
        let q = plan(&o).unwrap();
        assert_ne!(p.disk_guid, q.disk_guid);
        assert_ne!(p.partitions[0].unique_guid, q.partitions[0].unique_guid);
    }

    #[test]
    fn uefi_4k_geometry_and_esp_minimum() {
        let e = plan(&opts(1 << 30, Layout::Uefi, 4096))
            .unwrap_err()
            .to_string();
        assert!(e.contains("260 MiB"), "{e}");
        let mut o = opts(1 << 30, Layout::Uefi, 4096);
        o.esp_size = 260 * MIB;
        let p = plan(&o).unwrap();
        assert_eq!(p.first_usable_lba, 6);
        assert_eq!(p.last_usable_lba, (1 << 30) / 4096 - 6);
    }

    #[test]
    fn too_small_and_bad_sizes() {
        let e = plan(&opts(300 * MIB, Layout::Uefi, 512))
            .unwrap_err()
            .to_string();
        assert!(e.contains("too small") && e.contains("346 MiB"), "{e}");
        assert!(plan(&opts(346 * MIB, Layout::Uefi, 512)).is_ok());
        assert!(plan(&opts(345 * MIB, Layout::Uefi, 512)).is_err());
        assert!(plan(&opts(1000, Layout::Uefi, 512)).is_err());
        assert!(plan(&opts(0, Layout::Bios, 512)).is_err());
        assert!(plan(&opts(1 << 30, Layout::Bios, 1024)).is_err());
        assert!(plan(&opts(16 * MIB, Layout::Bios, 512)).is_err());
        assert!(plan(&opts(17 * MIB, Layout::Bios, 512)).is_ok());
        assert!(plan(&opts(4 << 40, Layout::Bios, 512)).is_err());
        let mut o = opts(1 << 30, Layout::Uefi, 512);
        o.esp_size = 200 * MIB + 512;
        assert!(plan(&o).is_err());
        o.esp_size = 32 * MIB;
        assert!(plan(&o).is_err());
    }

    #[test]
    fn bios() {
        let p = plan(&opts((1 << 30) + 12345 * 512, Layout::Bios, 512)).unwrap();
        assert_eq!(p.partitions.len(), 1);
        let w = &p.partitions[0];
        // 1 GiB + 6.03 MiB: the partition ends on the last whole MiB.
        assert_eq!((w.start, w.len), (MIB, 1029 * MIB));
        assert!(w.active && w.mbr_type == Some(7));
        assert!(p.mbr_signature.unwrap() != 0 && !p.has_boot_code);
    }
}
