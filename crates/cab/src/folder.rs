//! CFFOLDER (\[MS-CAB\] §2.2): where a folder's CFDATA blocks start, how many
//! there are, and the compression method (typeCompress).

use crate::error::{Error, Result};
use crate::format::*;
use crate::header::{u16_at, u32_at};
use serde::Serialize;
use std::fmt;

/// typeCompress, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Compression {
    None,
    #[serde(rename = "mszip")]
    MsZip,
    /// Quantum: level (1..7) and window bits (10..21).
    Quantum {
        level: u8,
        window_bits: u8,
    },
    /// LZX: window bits (15..21).
    Lzx {
        window_bits: u8,
    },
    /// A method this format does not define (raw typeCompress).
    Unknown {
        raw: u16,
    },
}

impl Compression {
    /// Decode typeCompress.
    pub fn from_raw(t: u16) -> Compression {
        match t & 0x000F {
            COMP_NONE if t == 0 => Compression::None,
            COMP_MSZIP if t == 1 => Compression::MsZip,
            COMP_QUANTUM => Compression::Quantum {
                level: ((t >> 4) & 0xF) as u8,
                window_bits: ((t >> 8) & 0x1F) as u8,
            },
            COMP_LZX => Compression::Lzx {
                window_bits: ((t >> 8) & 0x1F) as u8,
            },
            _ => Compression::Unknown { raw: t },
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => write!(f, "none"),
            Compression::MsZip => write!(f, "MSZIP"),
            Compression::Quantum { level, window_bits } => {
                write!(f, "Quantum:{level}:{window_bits}")
            }
            Compression::Lzx { window_bits } => write!(f, "LZX:{window_bits}"),
            Compression::Unknown { raw } => write!(f, "unknown({raw:#06x})"),
        }
    }
}

/// A parsed CFFOLDER of one cabinet file.
#[derive(Debug, Clone)]
pub struct RawFolder {
    /// coffCabStart: offset of the first CFDATA block.
    pub data_offset: u32,
    /// cCFData: number of CFDATA blocks in this cabinet.
    pub block_count: u16,
    /// typeCompress.
    pub compression: Compression,
    /// abReserve (cbCFFolder bytes).
    pub reserve: Vec<u8>,
}

impl RawFolder {
    /// Parse the `index`th CFFOLDER at `pos` of `d`; returns it and the
    /// position after it.
    pub fn parse(
        d: &[u8],
        pos: usize,
        reserve: u8,
        index: usize,
        file: &str,
        base: u64,
    ) -> Result<(RawFolder, usize)> {
        let end = pos + CFFOLDER_SIZE + reserve as usize;
        let b = d.get(pos..end).ok_or_else(|| {
            Error::format(
                file,
                base + pos as u64,
                format!("CFFOLDER[{index}]"),
                format!(
                    "truncated: needs {} bytes, {} available",
                    end - pos,
                    d.len().saturating_sub(pos)
                ),
            )
        })?;
        Ok((
            RawFolder {
                data_offset: u32_at(b, 0),
                block_count: u16_at(b, 4),
                compression: Compression::from_raw(u16_at(b, 6)),
                reserve: b[CFFOLDER_SIZE..].to_vec(),
            },
            end,
        ))
    }
}
