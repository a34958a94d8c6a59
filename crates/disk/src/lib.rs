//! Partition layouts (GPT and MBR) and the FAT32 EFI system partition,
//! on any [`blockdev::BlockDev`] (a raw image, a VHDX, memory).
//!
//! One module per on-disk structure:
//!
//! | module | structure | spec |
//! |---|---|---|
//! | [`mbr`] | legacy and protective MBR | UEFI 2.10 §5.2.1, §5.2.3 |
//! | [`gpt`] | GPT header and partition entries | UEFI 2.10 §5.3.2, §5.3.3 |
//! | [`layout`] | planning the Windows layouts | Convert-WindowsImage's UEFI/BIOS layouts |
//! | [`table`] | writing a plan, reading any table back | — |
//! | [`esp`] | FAT32 ESP through `fatfs` | FAT 1.03; UEFI 2.10 §13.3 |
//! | [`ids`] | random or seeded GUIDs, signatures, serials | RFC 4122 (v4 shape) |
//! | [`create`] | `disk create` end to end | — |
//!
//! GPT and MBR are written and read here rather than with the `gpt` or
//! `mbrman` crates: `gpt` 4.1 panics on a table whose entry size is not
//! 128 (`assert_eq!` in its entry reader) and works on `Read + Seek`
//! files, while this crate must read hostile tables on a `BlockDev` with a
//! typed error for every defect. The tables are small (a 92-byte header,
//! 128-byte entries, a 512-byte MBR). FAT is `fatfs`.

pub mod create;
pub mod error;
pub mod esp;
pub mod gpt;
pub mod ids;
pub mod layout;
pub mod mbr;
pub mod table;

pub use create::{
    create_disk, create_disk_with, CreatedDisk, DiskCreateOptions, ImageFormat, VhdxType,
    WindowsTarget, SEEDED_TIME,
};
pub use error::{Error, Result};
pub use esp::{format_esp, format_esp_with, Esp, EspFormat, EspOptions};
pub use ids::IdSource;
pub use layout::{plan, Layout, LayoutOptions, Partition, Plan, Role, MIB};
pub use table::{read_table, write_table};
