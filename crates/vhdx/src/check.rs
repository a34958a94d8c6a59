//! Consistency check of an open disk: every CRC, region overlap and
//! alignment, BAT entries (inside the file, 1 MiB aligned, legal states, no
//! overlaps), metadata items known or not required.

use crate::bat::{self, BatEntry};
use crate::disk::{describe_header, Vhdx};
use crate::header;
use crate::metadata;
use crate::region;
use crate::util::MIB;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks MS-VHDX; `check` fails.
    Error,
    /// Legal or tolerated, but worth knowing (e.g. qemu's unset Required bit).
    Warning,
}

/// One finding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// What, with the offset.
    pub message: String,
}

/// Check `d`. The returned list is empty for a clean file.
pub fn check(d: &Vhdx) -> Vec<Finding> {
    let mut f = Vec::new();
    let mut err = |m: String| {
        f.push(Finding {
            severity: Severity::Error,
            message: m,
        })
    };
    let mut warns = Vec::new();
    let mut warn = |m: String| {
        warns.push(Finding {
            severity: Severity::Warning,
            message: m,
        })
    };
    let flen = d.dev.len();
    // Headers.
    for (i, h) in d.raw_headers.iter().enumerate() {
        let off = header::OFFSETS[i];
        match h {
            Err(_) => err(format!(
                "header {} at {off:#x}: {}",
                i + 1,
                describe_header(h)
            )),
            Ok(h) => {
                if h.version != 1 {
                    err(format!(
                        "header {} at {off:#x}: version {}",
                        i + 1,
                        h.version
                    ));
                }
                if h.log_offset % MIB != 0 || (h.log_length as u64) % MIB != 0 || h.log_offset < MIB
                {
                    err(format!(
                        "header {} at {off:#x}: log {:#x}+{:#x} is not 1 MiB aligned",
                        i + 1,
                        h.log_offset,
                        h.log_length
                    ));
                }
            }
        }
    }
    if let (Ok(a), Ok(b)) = (&d.raw_headers[0], &d.raw_headers[1]) {
        if a.sequence_number == b.sequence_number {
            warn("headers have equal sequence numbers (Disk2vhd style)".into());
        }
    }
    if d.log_was_dirty {
        err(
            "log is dirty: the header's log GUID is set (replayed in memory; run check --repair)"
                .into(),
        );
    }
    // Region tables.
    for (i, r) in d.raw_regions.iter().enumerate() {
        if let Err(p) = r {
            err(format!(
                "region table {} at {:#x}: {p}",
                i + 1,
                region::OFFSETS[i]
            ));
        }
    }
    if let (Ok(a), Ok(b)) = (&d.raw_regions[0], &d.raw_regions[1]) {
        if a != b {
            err("the two region tables differ".into());
        }
    }
    let hdr = d.header();
    let mut spans: Vec<(u64, u64, String)> = vec![(0, MIB, "header section".into())];
    if hdr.log_length > 0 {
        spans.push((
            hdr.log_offset,
            hdr.log_offset.saturating_add(hdr.log_length as u64),
            "log".into(),
        ));
    }
    for e in &d.regions.entries {
        let label = if e.guid == region::BAT_GUID {
            "BAT region".to_string()
        } else if e.guid == region::METADATA_GUID {
            "metadata region".to_string()
        } else {
            format!("region {}", e.guid)
        };
        if e.file_offset % MIB != 0 || (e.length as u64) % MIB != 0 || e.file_offset < MIB {
            err(format!(
                "{label} {:#x}+{:#x} is not 1 MiB aligned",
                e.file_offset, e.length
            ));
        }
        if (e.guid == region::BAT_GUID || e.guid == region::METADATA_GUID) && !e.required {
            warn(format!(
                "{label}: Required bit not set (qemu writes such files)"
            ));
        }
        spans.push((
            e.file_offset,
            e.file_offset.saturating_add(e.length as u64),
            label,
        ));
    }
    // Metadata items.
    let mut items: Vec<(u64, u64)> = Vec::new();
    for e in &d.meta_table.entries {
        let at = d.meta_offset + e.offset as u64;
        if !e.known() {
            if e.required() {
                err(format!(
                    "metadata item {} at {at:#x} is unknown and required",
                    e.item_id
                ));
            } else {
                warn(format!(
                    "metadata item {} at {at:#x} is unknown (not required)",
                    e.item_id
                ));
            }
        }
        if e.flags & !7 != 0 {
            err(format!(
                "metadata item {}: reserved flag bits {:#x}",
                e.item_id, e.flags
            ));
        }
        if e.length > 0 {
            if (e.offset as u64) < metadata::TABLE_SIZE as u64
                || e.offset as u64 + e.length as u64 > d.meta_len
                || e.length > metadata::MAX_ITEM
            {
                err(format!(
                    "metadata item {} at {at:#x} lies outside the item area",
                    e.item_id
                ));
            }
            items.push((e.offset as u64, e.offset as u64 + e.length as u64));
        }
    }
    items.sort();
    for w in items.windows(2) {
        if w[1].0 < w[0].1 {
            err(format!(
                "metadata items overlap at region offset {:#x}",
                w[1].0
            ));
        }
    }
    // BAT.
    let geo = d.geo;
    let diff = d.params.has_parent;
    let batv = d.bat_entries();
    let mut fixed_ok = true;
    let mut prev_end = 0u64;
    for (i, &raw) in batv.iter().enumerate() {
        let e = BatEntry(raw);
        let at = d.bat_offset + 8 * i as u64;
        if e.reserved_set() {
            err(format!(
                "BAT entry {i} at {at:#x}: reserved bits set ({raw:#x})"
            ));
        }
        let is_sb = geo.is_bitmap_index(i as u64);
        let s = e.state_bits();
        let legal = if is_sb {
            s == bat::NOT_PRESENT || (s == bat::FULLY_PRESENT && diff)
        } else {
            matches!(s, 0..=3 | 6)
                || (s == bat::PARTIALLY_PRESENT && diff)
                || s == bat::UNMAPPED_V095
        };
        if !legal {
            err(format!(
                "BAT entry {i} at {at:#x}: state {s} is not legal for a {} entry in a {} disk",
                if is_sb { "sector bitmap" } else { "payload" },
                d.disk_type().as_str()
            ));
            continue;
        }
        if s == bat::UNMAPPED_V095 {
            warn(format!("BAT entry {i}: old (v0.95) UNMAPPED state 5"));
        }
        if !is_sb && d.params.leave_block_allocated {
            if s != bat::FULLY_PRESENT || e.file_offset() < prev_end {
                fixed_ok = false;
            } else {
                prev_end = e.file_offset();
            }
        }
        if matches!(s, bat::FULLY_PRESENT | bat::PARTIALLY_PRESENT) {
            let o = e.file_offset();
            let len = if is_sb { MIB } else { geo.block_size };
            if o < MIB {
                err(format!(
                    "BAT entry {i} at {at:#x}: block at {o:#x} lies in the header section"
                ));
                continue;
            }
            if o >= flen {
                err(format!("BAT entry {i} at {at:#x}: block at {o:#x} starts past the end of the file ({flen:#x})"));
            } else if o.saturating_add(len) > flen {
                // A last block cut short by the file end reads as zeros.
                warn(format!(
                    "BAT entry {i}: block at {o:#x} runs past the end of the file"
                ));
            }
            if s == bat::PARTIALLY_PRESENT {
                let sb =
                    BatEntry(batv[geo.bitmap_index(i as u64 / (geo.chunk_ratio + 1)) as usize]);
                if sb.state_bits() != bat::FULLY_PRESENT {
                    err(format!(
                        "BAT entry {i}: partially present block without a sector bitmap"
                    ));
                }
            }
            spans.push((o, o.saturating_add(len), format!("BAT entry {i}")));
        } else if e.file_offset() != 0 {
            warn(format!(
                "BAT entry {i}: state {s} with a non-zero file offset (Hyper-V refuses these)"
            ));
        }
    }
    if d.params.leave_block_allocated && !fixed_ok {
        warn("fixed disk whose blocks are not all present and in order".into());
    }
    spans.sort();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            err(format!(
                "{} at {:#x} overlaps {} ({:#x}..{:#x})",
                w[1].2, w[1].0, w[0].2, w[0].0, w[0].1
            ));
        }
    }
    f.extend(warns);
    f
}
