//! The 208-byte WIM header (wimlib `header.h`, `struct wim_header_disk`).

use super::reshdr::{ResHdr, RESHDR_SIZE};
use crate::bytes::Bytes;
use crate::codec::CompressionType;
use crate::error::{FormatError, FormatErrorKind};
use crate::format::{hdr_flags, HEADER_SIZE, PWM_MAGIC, VERSION_DEFAULT, VERSION_SOLID, WIM_MAGIC};

#[derive(Debug, Clone)]
pub struct Header {
    pub magic: [u8; 8],
    pub version: u32,
    pub flags: u32,
    /// Chunk size of non-solid compressed resources (0 if uncompressed).
    pub chunk_size: u32,
    pub guid: [u8; 16],
    pub part_number: u16,
    pub total_parts: u16,
    pub image_count: u32,
    pub blob_table: ResHdr,
    pub xml: ResHdr,
    pub boot_metadata: ResHdr,
    pub boot_index: u32,
    pub integrity: ResHdr,
}

impl Header {
    /// Parse and validate the header at the start of `data`. For a
    /// pipable WIM (`WLPWM` magic) the header at the start has no resource
    /// headers; the complete one is the last 208 bytes of the file, and
    /// that is the one returned (see [`super::pipable`]).
    pub fn parse(data: &[u8]) -> Result<Header, FormatError> {
        let first = Header::parse_at(data, 0)?;
        if !first.is_pipable() {
            return Ok(first);
        }
        let at = data.len().saturating_sub(HEADER_SIZE);
        if at < HEADER_SIZE {
            return Err(FormatError::truncated(
                HEADER_SIZE as u64,
                "pipable WIM trailing header",
                HEADER_SIZE as u64,
                at as u64,
            ));
        }
        let last = Header::parse_at(data, at).map_err(|e| {
            FormatError::invalid(
                e.offset,
                "pipable WIM trailing header",
                format!(
                    "{}: {} (a pipable WIM ends with a complete header; is the file truncated?)",
                    e.structure, e.kind
                ),
            )
        })?;
        if !last.is_pipable() || last.guid != first.guid {
            return Err(FormatError::invalid(
                at as u64,
                "pipable WIM trailing header",
                "the last 208 bytes are not the pipable header of this WIM (is the file truncated?)",
            ));
        }
        Ok(last)
    }

    /// Parse and validate one header (either magic) at offset `at` of
    /// `data`, without looking for a pipable WIM's trailing header.
    pub fn parse_at(data: &[u8], at: usize) -> Result<Header, FormatError> {
        let b = Bytes::new(data.get(at..).unwrap_or(&[]), at as u64, "WIM header");
        let magic: [u8; 8] = b.array(0)?;
        if magic != WIM_MAGIC && magic != PWM_MAGIC {
            return Err(FormatError::new(
                at as u64,
                "WIM header",
                FormatErrorKind::BadMagic(magic),
            ));
        }
        let hdr_size = b.u32(8)?;
        if hdr_size as usize != HEADER_SIZE {
            return Err(b.err(8, format!("header size {hdr_size}, expected {HEADER_SIZE}")));
        }
        b.slice(0, HEADER_SIZE)?;
        let h = Header {
            magic,
            version: b.u32(0x0c)?,
            flags: b.u32(0x10)?,
            chunk_size: b.u32(0x14)?,
            guid: b.array(0x18)?,
            part_number: b.u16(0x28)?,
            total_parts: b.u16(0x2a)?,
            image_count: b.u32(0x2c)?,
            blob_table: ResHdr::parse(&b, 0x30)?,
            xml: ResHdr::parse(&b, 0x30 + RESHDR_SIZE)?,
            boot_metadata: ResHdr::parse(&b, 0x30 + 2 * RESHDR_SIZE)?,
            boot_index: b.u32(0x78)?,
            integrity: ResHdr::parse(&b, 0x7c)?,
        };
        if h.version != VERSION_DEFAULT && h.version != VERSION_SOLID {
            // Older Longhorn-era versions use another dentry layout.
            return Err(FormatError::unsupported(
                at as u64 + 0x0c,
                "WIM header",
                format!("version {:#x}", h.version),
            ));
        }
        if h.part_number == 0 || h.total_parts == 0 || h.part_number > h.total_parts {
            return Err(b.err(0x28, format!("part {} of {}", h.part_number, h.total_parts)));
        }
        if h.boot_index > h.image_count {
            return Err(b.err(
                0x78,
                format!(
                    "boot index {} but only {} images",
                    h.boot_index, h.image_count
                ),
            ));
        }
        h.compression()?;
        if h.compression()? != CompressionType::None {
            let cs = h.chunk_size;
            if !cs.is_power_of_two() || cs < 4096 || cs as usize > h.compression()?.max_chunk_size()
            {
                return Err(b.err(0x14, format!("chunk size {cs} is not valid")));
            }
        }
        Ok(h)
    }

    /// Compression format of non-solid resources, from the flags.
    pub fn compression(&self) -> Result<CompressionType, FormatError> {
        if self.flags & hdr_flags::COMPRESSION == 0 {
            return Ok(CompressionType::None);
        }
        let f = self.flags
            & (hdr_flags::COMPRESS_XPRESS | hdr_flags::COMPRESS_LZX | hdr_flags::COMPRESS_LZMS);
        match f {
            hdr_flags::COMPRESS_XPRESS => Ok(CompressionType::Xpress),
            hdr_flags::COMPRESS_LZX => Ok(CompressionType::Lzx),
            hdr_flags::COMPRESS_LZMS => Ok(CompressionType::Lzms),
            0 if self.flags & hdr_flags::COMPRESS_XPRESS_2 != 0 => Err(FormatError::unsupported(
                0x10,
                "WIM header",
                "XPRESS_2 compression flag",
            )),
            _ => Err(FormatError::invalid(
                0x10,
                "WIM header",
                format!("compression flags {:#x} name no single format", self.flags),
            )),
        }
    }

    pub fn has_integrity(&self) -> bool {
        !self.integrity.is_empty() && self.integrity.offset != 0
    }

    /// Is this a wimlib pipable WIM (`WLPWM` magic)?
    pub fn is_pipable(&self) -> bool {
        self.magic == PWM_MAGIC
    }

    pub fn is_solid_version(&self) -> bool {
        self.version == VERSION_SOLID
    }

    /// GUID in the `0x...` hex form wimlib prints.
    pub fn guid_hex(&self) -> String {
        format!("0x{}", crate::bytes::hex(&self.guid))
    }
}
