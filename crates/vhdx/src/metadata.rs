//! Metadata region (MS-VHDX §2.6): a 64 KiB table of entries, then items.
//!
//! Known system items (§2.6.2): File Parameters, Virtual Disk Size, Virtual
//! Disk ID, Logical Sector Size, Physical Sector Size and Parent Locator.

use crate::locator::ParentLocator;
use crate::util::*;
use uuid::{uuid, Uuid};

/// Signature "metadata".
pub const SIGNATURE: &[u8; 8] = b"metadata";
/// Size of the table at the start of the region.
pub const TABLE_SIZE: usize = 64 * 1024;
/// Most entries a table may hold.
pub const MAX_ENTRIES: u16 = 2047;
/// Largest item.
pub const MAX_ITEM: u32 = 1024 * 1024;
/// Largest virtual disk (§2.6.2.2): 64 TiB.
pub const MAX_DISK_SIZE: u64 = 64 << 40;

/// File Parameters item (§2.6.2.1).
pub const FILE_PARAMETERS: Uuid = uuid!("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
/// Virtual Disk Size item (§2.6.2.2).
pub const VIRTUAL_DISK_SIZE: Uuid = uuid!("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
/// Virtual Disk ID item (§2.6.2.3).
pub const VIRTUAL_DISK_ID: Uuid = uuid!("BECA12AB-B2E6-4523-93EF-C309E000C746");
/// Logical Sector Size item (§2.6.2.4).
pub const LOGICAL_SECTOR_SIZE: Uuid = uuid!("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
/// Physical Sector Size item (§2.6.2.5).
pub const PHYSICAL_SECTOR_SIZE: Uuid = uuid!("CDA348C7-445D-4471-9CC9-E9885251C556");
/// Parent Locator item (§2.6.2.6).
pub const PARENT_LOCATOR: Uuid = uuid!("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C");

/// Entry flag bit 0.
pub const FLAG_IS_USER: u32 = 1;
/// Entry flag bit 1.
pub const FLAG_IS_VIRTUAL_DISK: u32 = 2;
/// Entry flag bit 2.
pub const FLAG_IS_REQUIRED: u32 = 4;

/// One metadata table entry (§2.6.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataEntry {
    /// Item type.
    pub item_id: Uuid,
    /// Offset from the start of the region (≥ 64 KiB, or 0 with length 0).
    pub offset: u32,
    /// Item length (≤ 1 MiB).
    pub length: u32,
    /// IsUser / IsVirtualDisk / IsRequired bits.
    pub flags: u32,
}

impl MetadataEntry {
    /// IsRequired set.
    pub fn required(&self) -> bool {
        self.flags & FLAG_IS_REQUIRED != 0
    }
    /// IsUser set.
    pub fn user(&self) -> bool {
        self.flags & FLAG_IS_USER != 0
    }
    /// A system item this implementation understands.
    pub fn known(&self) -> bool {
        !self.user()
            && [
                FILE_PARAMETERS,
                VIRTUAL_DISK_SIZE,
                VIRTUAL_DISK_ID,
                LOGICAL_SECTOR_SIZE,
                PHYSICAL_SECTOR_SIZE,
                PARENT_LOCATOR,
            ]
            .contains(&self.item_id)
    }
}

/// The metadata table header and entries (§2.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataTable {
    /// Entries in on-disk order.
    pub entries: Vec<MetadataEntry>,
}

impl MetadataTable {
    /// Parse the 64 KiB table. `Err` carries a description.
    pub fn parse(b: &[u8]) -> Result<Self, String> {
        if b.len() < TABLE_SIZE || &b[..8] != SIGNATURE {
            return Err("bad signature (expected \"metadata\")".into());
        }
        let n = u16_at(b, 10);
        if n > MAX_ENTRIES {
            return Err(format!("{n} entries (max {MAX_ENTRIES})"));
        }
        let entries = (0..n as usize)
            .map(|i| {
                let o = 32 + 32 * i;
                MetadataEntry {
                    item_id: guid_at(b, o),
                    offset: u32_at(b, o + 16),
                    length: u32_at(b, o + 20),
                    flags: u32_at(b, o + 24),
                }
            })
            .collect();
        Ok(MetadataTable { entries })
    }

    /// Serialise the 64 KiB table.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; TABLE_SIZE];
        b[..8].copy_from_slice(SIGNATURE);
        put_u16(&mut b, 10, self.entries.len() as u16);
        for (i, e) in self.entries.iter().enumerate() {
            let o = 32 + 32 * i;
            put_guid(&mut b, o, &e.item_id);
            put_u32(&mut b, o + 16, e.offset);
            put_u32(&mut b, o + 20, e.length);
            put_u32(&mut b, o + 24, e.flags);
        }
        b
    }

    /// The system entry for `id`.
    pub fn find(&self, id: &Uuid) -> Option<&MetadataEntry> {
        self.entries.iter().find(|e| &e.item_id == id && !e.user())
    }
}

/// The decoded system metadata of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskParams {
    /// Payload block size (1–256 MiB, power of two).
    pub block_size: u32,
    /// File Parameters bit 0: blocks stay allocated (fixed disks).
    pub leave_block_allocated: bool,
    /// File Parameters bit 1: differencing disk.
    pub has_parent: bool,
    /// Virtual disk size in bytes.
    pub virtual_size: u64,
    /// Virtual Disk ID (SCSI page 83 identity).
    pub virtual_disk_id: Uuid,
    /// 512 or 4096.
    pub logical_sector_size: u32,
    /// 512 or 4096.
    pub physical_sector_size: u32,
    /// Present iff `has_parent`.
    pub parent_locator: Option<ParentLocator>,
}

impl DiskParams {
    /// Check the limits of §2.6.2; `Err` names the violated rule.
    pub fn validate(&self) -> Result<(), String> {
        let bs = self.block_size;
        if !bs.is_power_of_two() || !(MIB as u32..=256 * MIB as u32).contains(&bs) {
            return Err(format!(
                "block size {bs} is not a power of two in 1 MiB..256 MiB"
            ));
        }
        for (what, s) in [
            ("logical", self.logical_sector_size),
            ("physical", self.physical_sector_size),
        ] {
            if s != 512 && s != 4096 {
                return Err(format!("{what} sector size {s} is not 512 or 4096"));
            }
        }
        if self.virtual_size == 0 || self.virtual_size > MAX_DISK_SIZE {
            return Err(format!(
                "virtual disk size {} is not in 1..=64 TiB",
                self.virtual_size
            ));
        }
        if self.virtual_size % self.logical_sector_size as u64 != 0 {
            return Err(format!(
                "virtual disk size {} is not a multiple of the logical sector size {}",
                self.virtual_size, self.logical_sector_size
            ));
        }
        if self.has_parent != self.parent_locator.is_some() {
            return Err("HasParent and the Parent Locator item disagree".into());
        }
        Ok(())
    }

    /// Build the items area and table for this disk: (table entries, item
    /// bytes placed at 64 KiB in the region). Layout and flags follow what
    /// Windows writes.
    pub fn build(&self) -> (MetadataTable, Vec<u8>) {
        let mut items = Vec::new();
        let mut entries = Vec::new();
        let mut add = |id: Uuid, flags: u32, data: &[u8]| {
            entries.push(MetadataEntry {
                item_id: id,
                offset: (TABLE_SIZE + items.len()) as u32,
                length: data.len() as u32,
                flags,
            });
            items.extend_from_slice(data);
        };
        let mut fp = [0u8; 8];
        put_u32(&mut fp, 0, self.block_size);
        put_u32(
            &mut fp,
            4,
            self.leave_block_allocated as u32 | (self.has_parent as u32) << 1,
        );
        add(FILE_PARAMETERS, FLAG_IS_REQUIRED, &fp);
        add(
            VIRTUAL_DISK_SIZE,
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
            &self.virtual_size.to_le_bytes(),
        );
        add(
            LOGICAL_SECTOR_SIZE,
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
            &self.logical_sector_size.to_le_bytes(),
        );
        add(
            PHYSICAL_SECTOR_SIZE,
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
            &self.physical_sector_size.to_le_bytes(),
        );
        add(
            VIRTUAL_DISK_ID,
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
            &self.virtual_disk_id.to_bytes_le(),
        );
        if let Some(pl) = &self.parent_locator {
            add(PARENT_LOCATOR, FLAG_IS_REQUIRED, &pl.to_bytes());
        }
        (MetadataTable { entries }, items)
    }
}
