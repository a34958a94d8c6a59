//! Writing a planned table to a device, and reading any GPT or MBR table
//! back, with every LBA, count and size checked against the device before
//! it is used.

use crate::error::{corrupt, io_at, Error, Result};
use crate::gpt::{self, GptEntry, GptHeader};
use crate::layout::{gpt_geometry, Layout, Partition, Plan, Role};
use crate::mbr::{self, Mbr, MbrEntry};
use blockdev::BlockDev;

fn check_sector(ss: u32) -> Result<u64> {
    if ss != 512 && ss != 4096 {
        return Err(Error::InvalidArgument(format!(
            "logical sector size {ss} (must be 512 or 4096)"
        )));
    }
    Ok(ss as u64)
}

/// Write `plan`'s partition table to `dev`: a protective MBR and the
/// primary and backup GPT (UEFI), or the MBR (BIOS). The device must be
/// exactly `plan.disk_size` bytes. Partition contents are not touched.
pub fn write_table(dev: &dyn BlockDev, plan: &Plan) -> Result<()> {
    let ss = check_sector(plan.logical_sector_size)?;
    if dev.len() != plan.disk_size {
        return Err(Error::InvalidArgument(format!(
            "the plan is for a disk of {} bytes but the device has {}",
            plan.disk_size,
            dev.len()
        )));
    }
    let total = dev.len() / ss;
    for p in &plan.partitions {
        if p.start % ss != 0 || p.len % ss != 0 || p.len == 0 {
            return Err(Error::InvalidArgument(format!(
                "partition {} ({}+{}) is not a whole number of {ss}-byte sectors",
                p.number, p.start, p.len
            )));
        }
    }
    match plan.layout {
        Layout::Uefi => write_gpt(dev, plan, ss, total),
        Layout::Bios => write_mbr(dev, plan, ss, total),
    }
}

fn sector_with(ss: u64, head: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; ss as usize];
    s[..head.len()].copy_from_slice(head);
    s
}

fn write_gpt(dev: &dyn BlockDev, plan: &Plan, ss: u64, total: u64) -> Result<()> {
    let (entries_lba, first_usable, last_usable, backup_entries, backup_header) =
        gpt_geometry(total, ss).ok_or_else(|| {
            Error::InvalidArgument(format!("a disk of {total} sectors cannot hold a GPT"))
        })?;
    let mut array = vec![0u8; gpt::ENTRY_ARRAY_BYTES as usize];
    for p in &plan.partitions {
        let (Some(type_guid), Some(unique_guid)) = (p.type_guid, p.unique_guid) else {
            return Err(Error::InvalidArgument(format!(
                "GPT partition {} has no type or unique GUID",
                p.number
            )));
        };
        if p.number == 0 || p.number > gpt::ENTRY_COUNT {
            return Err(Error::InvalidArgument(format!(
                "GPT partition number {} (must be 1..={})",
                p.number,
                gpt::ENTRY_COUNT
            )));
        }
        let (first, last) = (p.start_lba(ss as u32), p.last_lba(ss as u32));
        if first < first_usable || last > last_usable {
            return Err(Error::InvalidArgument(format!(
                "partition {} (LBA {first}..={last}) is outside the usable LBAs \
                 {first_usable}..={last_usable}",
                p.number
            )));
        }
        let o = (p.number as usize - 1) * gpt::ENTRY_SIZE as usize;
        GptEntry {
            type_guid,
            unique_guid,
            first_lba: first,
            last_lba: last,
            attributes: p.attributes,
            name: p.name.clone(),
        }
        .write(&mut array[o..o + gpt::ENTRY_SIZE as usize])?;
    }
    let disk_guid = plan
        .disk_guid
        .ok_or_else(|| Error::InvalidArgument("a GPT plan needs a disk GUID".into()))?;
    let primary = GptHeader {
        revision: gpt::REVISION,
        header_size: gpt::HEADER_SIZE,
        my_lba: 1,
        alternate_lba: backup_header,
        first_usable_lba: first_usable,
        last_usable_lba: last_usable,
        disk_guid,
        entries_lba,
        entry_count: gpt::ENTRY_COUNT,
        entry_size: gpt::ENTRY_SIZE,
        entries_crc32: crc32fast::hash(&array),
    };
    let backup = GptHeader {
        my_lba: backup_header,
        alternate_lba: 1,
        entries_lba: backup_entries,
        ..primary.clone()
    };
    let mut pmbr = Mbr::default();
    pmbr.entries[0] = MbrEntry::protective(total);
    let w = |off: u64, b: &[u8], what: &'static str| dev.write_at(off, b).map_err(io_at(what, off));
    w(0, &sector_with(ss, &pmbr.to_bytes()), "protective MBR")?;
    w(entries_lba * ss, &array, "GPT entry array")?;
    w(ss, &primary.to_sector(ss as usize), "GPT header")?;
    w(backup_entries * ss, &array, "backup GPT entry array")?;
    w(
        backup_header * ss,
        &backup.to_sector(ss as usize),
        "backup GPT header",
    )?;
    Ok(())
}

fn write_mbr(dev: &dyn BlockDev, plan: &Plan, ss: u64, total: u64) -> Result<()> {
    let mut m = Mbr {
        disk_signature: plan.mbr_signature.unwrap_or(0),
        ..Default::default()
    };
    for p in &plan.partitions {
        let Some(t) = p.mbr_type else {
            return Err(Error::InvalidArgument(format!(
                "MBR partition {} has no type",
                p.number
            )));
        };
        if !(1..=4).contains(&p.number) {
            return Err(Error::InvalidArgument(format!(
                "MBR partition number {} (must be 1..=4)",
                p.number
            )));
        }
        let (first, last) = (p.start_lba(ss as u32), p.last_lba(ss as u32));
        if first == 0 || last >= total || last > u32::MAX as u64 {
            return Err(Error::InvalidArgument(format!(
                "MBR partition {} (LBA {first}..={last}) does not fit the disk or the MBR",
                p.number
            )));
        }
        m.entries[p.number as usize - 1] =
            MbrEntry::new(t, first as u32, (last - first + 1) as u32, p.active);
    }
    dev.write_at(0, &sector_with(ss, &m.to_bytes()))
        .map_err(io_at("MBR", 0))
}

/// Read the partition table of `dev` (a whole disk) with `logical_sector_size`
/// -byte sectors. A protective MBR leads to the GPT (primary, or the backup
/// when the primary is damaged); otherwise the MBR's four primary records
/// are read. Roles are inferred from the partition types.
pub fn read_table(dev: &dyn BlockDev, logical_sector_size: u32) -> Result<Plan> {
    let ss = check_sector(logical_sector_size)?;
    if dev.len() < ss {
        return Err(Error::NoTable(format!(
            "device of {} bytes is smaller than one {ss}-byte sector",
            dev.len()
        )));
    }
    let mut s0 = vec![0u8; 512];
    dev.read_at(0, &mut s0).map_err(io_at("MBR", 0))?;
    let m = Mbr::parse(&s0).map_err(|e| Error::NoTable(e.to_string()))?;
    if m.is_protective() {
        read_gpt(dev, ss, &m)
    } else {
        read_mbr(dev, ss, &m)
    }
}

fn read_mbr(dev: &dyn BlockDev, ss: u64, m: &Mbr) -> Result<Plan> {
    let total = dev.len() / ss;
    let mut parts = Vec::new();
    let mut warnings = Vec::new();
    for (i, e) in m.entries.iter().enumerate() {
        if e.is_empty() {
            continue;
        }
        let at = (mbr::ENTRIES_OFFSET + 16 * i) as u64;
        const S: &str = "MBR partition entry";
        if e.start_lba == 0 || e.size_lba == 0 {
            return Err(corrupt(
                S,
                at,
                format!(
                    "entry {} of type {:#04x} starts at LBA {} with {} sectors",
                    i + 1,
                    e.os_type,
                    e.start_lba,
                    e.size_lba
                ),
            ));
        }
        let end = e.start_lba as u64 + e.size_lba as u64;
        if end > total {
            return Err(corrupt(
                S,
                at,
                format!(
                    "entry {} (LBA {}..{end}) extends past the end of the device ({total} \
                     sectors of {ss} bytes)",
                    i + 1,
                    e.start_lba
                ),
            ));
        }
        if e.boot_indicator != 0 && e.boot_indicator != mbr::ACTIVE {
            warnings.push(format!(
                "MBR entry {} has boot indicator {:#04x} (neither 0x00 nor 0x80)",
                i + 1,
                e.boot_indicator
            ));
        }
        if matches!(e.os_type, 0x05 | 0x0F | 0x85) {
            warnings.push(format!(
                "MBR entry {} is an extended partition; the logical partitions inside it are \
                 not listed",
                i + 1
            ));
        }
        parts.push(Partition {
            number: i as u32 + 1,
            role: Role::from_mbr_type(e.os_type),
            start: e.start_lba as u64 * ss,
            len: e.size_lba as u64 * ss,
            type_guid: None,
            unique_guid: None,
            mbr_type: Some(e.os_type),
            active: e.boot_indicator == mbr::ACTIVE,
            name: String::new(),
            attributes: 0,
        });
    }
    check_overlap(&parts, "MBR partition entry", mbr::ENTRIES_OFFSET as u64)?;
    Ok(Plan {
        layout: Layout::Bios,
        logical_sector_size: ss as u32,
        disk_size: dev.len(),
        disk_guid: None,
        mbr_signature: Some(m.disk_signature),
        partitions: parts,
        first_usable_lba: 0,
        last_usable_lba: 0,
        has_boot_code: m.has_boot_code(),
        warnings,
    })
}

fn check_overlap(parts: &[Partition], structure: &'static str, at: u64) -> Result<()> {
    let mut v: Vec<&Partition> = parts.iter().collect();
    v.sort_by_key(|p| p.start);
    for w in v.windows(2) {
        if w[0].start + w[0].len > w[1].start {
            return Err(corrupt(
                structure,
                at,
                format!("partitions {} and {} overlap", w[0].number, w[1].number),
            ));
        }
    }
    Ok(())
}

/// A header and its entries, checked against the device. `lba` is where
/// the header was read; `primary` tells which side of the usable area its
/// entry array must lie on.
fn read_gpt_at(
    dev: &dyn BlockDev,
    ss: u64,
    lba: u64,
    primary: bool,
) -> Result<(GptHeader, Vec<(u32, GptEntry)>)> {
    let total = dev.len() / ss;
    let off = lba.checked_mul(ss).filter(|_| lba < total).ok_or_else(|| {
        corrupt(
            "GPT header",
            lba.saturating_mul(ss),
            format!("header LBA {lba} is past the end of the device ({total} sectors)"),
        )
    })?;
    let what = if primary {
        "GPT header"
    } else {
        "backup GPT header"
    };
    let mut sec = vec![0u8; ss as usize];
    dev.read_at(off, &mut sec).map_err(io_at(what, off))?;
    let h = GptHeader::parse(&sec, off).map_err(|e| match e {
        Error::Corrupt {
            offset, message, ..
        } => corrupt(what, offset, message),
        e => e,
    })?;
    let bad = |field: u64, msg: String| corrupt(what, off + field, msg);
    if h.my_lba != lba {
        return Err(bad(
            24,
            format!("MyLBA is {} but the header was read at LBA {lba}", h.my_lba),
        ));
    }
    if h.first_usable_lba > h.last_usable_lba || h.last_usable_lba >= total {
        return Err(bad(
            40,
            format!(
                "usable LBAs {}..={} do not fit a device of {total} sectors",
                h.first_usable_lba, h.last_usable_lba
            ),
        ));
    }
    let array_lbas = h.array_bytes().div_ceil(ss);
    let array_end = h.entries_lba.saturating_add(array_lbas);
    let placed = if primary {
        h.entries_lba >= 2 && array_end <= h.first_usable_lba
    } else {
        h.entries_lba > h.last_usable_lba && array_end <= lba
    };
    if !placed || array_end > total {
        return Err(bad(
            72,
            format!(
                "entry array at LBA {} ({} sectors) lies outside the space between the header \
                 and the usable LBAs {}..={} (device: {total} sectors)",
                h.entries_lba, array_lbas, h.first_usable_lba, h.last_usable_lba
            ),
        ));
    }
    let aoff = h.entries_lba * ss;
    // Bounded by MAX_ENTRY_ARRAY_BYTES in GptHeader::parse.
    let mut array = vec![0u8; h.array_bytes() as usize];
    dev.read_at(aoff, &mut array)
        .map_err(io_at("GPT entry array", aoff))?;
    let crc = crc32fast::hash(&array);
    if crc != h.entries_crc32 {
        return Err(bad(
            88,
            format!(
                "entry array CRC32 is {:#010x}, computed {crc:#010x}",
                h.entries_crc32
            ),
        ));
    }
    let mut entries = Vec::new();
    for (i, slot) in array.chunks_exact(h.entry_size as usize).enumerate() {
        let e = GptEntry::parse(slot);
        if e.is_unused() {
            continue;
        }
        let eoff = aoff + i as u64 * h.entry_size as u64;
        if e.first_lba > e.last_lba
            || e.first_lba < h.first_usable_lba
            || e.last_lba > h.last_usable_lba
        {
            return Err(corrupt(
                "GPT partition entry",
                eoff,
                format!(
                    "partition {} (LBA {}..={}) is outside the usable LBAs {}..={}",
                    i + 1,
                    e.first_lba,
                    e.last_lba,
                    h.first_usable_lba,
                    h.last_usable_lba
                ),
            ));
        }
        entries.push((i as u32 + 1, e));
    }
    Ok((h, entries))
}

fn read_gpt(dev: &dyn BlockDev, ss: u64, m: &Mbr) -> Result<Plan> {
    let total = dev.len() / ss;
    let mut warnings = Vec::new();
    if m.entries
        .iter()
        .any(|e| !e.is_empty() && e.os_type != mbr::TYPE_GPT_PROTECTIVE)
    {
        warnings.push(
            "hybrid MBR: the protective MBR also lists non-GPT partitions (the GPT is used)"
                .to_string(),
        );
    }
    let (h, entries) = match read_gpt_at(dev, ss, 1, true) {
        Ok((h, entries)) => {
            if h.alternate_lba >= total {
                warnings.push(format!(
                    "backup GPT header LBA {} is past the end of the device ({total} sectors)",
                    h.alternate_lba
                ));
            } else {
                match read_gpt_at(dev, ss, h.alternate_lba, false) {
                    Ok((_, b)) if b != entries => warnings
                        .push("the backup GPT entries differ from the primary ones".to_string()),
                    Ok(_) => {}
                    Err(e) => warnings.push(format!("backup GPT unusable: {e}")),
                }
            }
            (h, entries)
        }
        Err(primary_err) => match read_gpt_at(dev, ss, total.saturating_sub(1), false) {
            Ok((h, entries)) => {
                warnings.push(format!(
                    "primary GPT unusable ({primary_err}); the backup at the last LBA was used"
                ));
                (h, entries)
            }
            Err(_) => return Err(primary_err),
        },
    };
    let parts: Vec<Partition> = entries
        .into_iter()
        .map(|(n, e)| Partition {
            number: n,
            role: Role::from_gpt_type(&e.type_guid),
            start: e.first_lba * ss,
            len: (e.last_lba - e.first_lba + 1) * ss,
            type_guid: Some(e.type_guid),
            unique_guid: Some(e.unique_guid),
            mbr_type: None,
            active: false,
            name: e.name,
            attributes: e.attributes,
        })
        .collect();
    check_overlap(&parts, "GPT entry array", h.entries_lba * ss)?;
    Ok(Plan {
        layout: Layout::Uefi,
        logical_sector_size: ss as u32,
        disk_size: dev.len(),
        disk_guid: Some(h.disk_guid),
        mbr_signature: (m.disk_signature != 0).then_some(m.disk_signature),
        partitions: parts,
        first_usable_lba: h.first_usable_lba,
        last_usable_lba: h.last_usable_lba,
        has_boot_code: m.has_boot_code(),
        warnings,
    })
}
