//! Value data types (REG_*) and conversions between their stored bytes and
//! text. Unknown types are kept and shown as raw bytes.

pub const REG_NONE: u32 = 0;
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
pub const REG_LINK: u32 = 6;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_RESOURCE_LIST: u32 = 8;
pub const REG_FULL_RESOURCE_DESCRIPTOR: u32 = 9;
pub const REG_RESOURCE_REQUIREMENTS_LIST: u32 = 10;
pub const REG_QWORD: u32 = 11;

/// The conventional name of a type ("REG_SZ"), or "REG_0x1234" when unknown.
pub fn type_name(t: u32) -> String {
    match t {
        REG_NONE => "REG_NONE".into(),
        REG_SZ => "REG_SZ".into(),
        REG_EXPAND_SZ => "REG_EXPAND_SZ".into(),
        REG_BINARY => "REG_BINARY".into(),
        REG_DWORD => "REG_DWORD".into(),
        REG_DWORD_BIG_ENDIAN => "REG_DWORD_BIG_ENDIAN".into(),
        REG_LINK => "REG_LINK".into(),
        REG_MULTI_SZ => "REG_MULTI_SZ".into(),
        REG_RESOURCE_LIST => "REG_RESOURCE_LIST".into(),
        REG_FULL_RESOURCE_DESCRIPTOR => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
        REG_RESOURCE_REQUIREMENTS_LIST => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
        REG_QWORD => "REG_QWORD".into(),
        t => format!("REG_{t:#x}"),
    }
}

/// Parse a type name as accepted on the command line: `sz`, `REG_SZ`,
/// `expand_sz`, `multi_sz`, `dword`, `dword_be`, `qword`, `binary`, `none`,
/// `link`, or a number (`0x20`, `7`).
pub fn parse_type(s: &str) -> Option<u32> {
    let l = s.to_ascii_lowercase();
    let l = l.strip_prefix("reg_").unwrap_or(&l);
    Some(match l {
        "none" => REG_NONE,
        "sz" | "string" => REG_SZ,
        "expand_sz" => REG_EXPAND_SZ,
        "binary" => REG_BINARY,
        "dword" => REG_DWORD,
        "dword_be" | "dword_big_endian" => REG_DWORD_BIG_ENDIAN,
        "link" => REG_LINK,
        "multi_sz" => REG_MULTI_SZ,
        "qword" => REG_QWORD,
        n => {
            if let Some(h) = n.strip_prefix("0x") {
                u32::from_str_radix(h, 16).ok()?
            } else {
                n.parse().ok()?
            }
        }
    })
}

/// UTF-16LE bytes of `s`, with a terminating NUL when `nul`.
pub fn utf16z(s: &str, nul: bool) -> Vec<u8> {
    let mut v: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    if nul {
        v.extend_from_slice(&[0, 0]);
    }
    v
}

fn parse_int(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Parse hex bytes: "01,02,ff", "01 02 ff" or "0102ff".
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let clean: String = s
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | ':' | '\n' | '\t'))
        .collect();
    if clean.len() % 2 != 0 {
        return None;
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).ok())
        .collect()
}

/// Encode command-line text as data of type `t`. MULTI_SZ takes one string
/// per element; other types take exactly one.
pub fn encode(t: u32, texts: &[String]) -> Result<Vec<u8>, String> {
    let one = || -> Result<&String, String> {
        match texts {
            [s] => Ok(s),
            _ => Err(format!("{} takes exactly one --value", type_name(t))),
        }
    };
    match t {
        REG_SZ | REG_EXPAND_SZ => Ok(utf16z(one()?, true)),
        REG_LINK => Ok(utf16z(one()?, false)),
        REG_MULTI_SZ => {
            let mut v = Vec::new();
            for s in texts {
                v.extend(utf16z(s, true));
            }
            v.extend_from_slice(&[0, 0]);
            Ok(v)
        }
        REG_DWORD | REG_DWORD_BIG_ENDIAN => {
            let n = parse_int(one()?).ok_or("not a number")?;
            let n = u32::try_from(n).map_err(|_| "does not fit 32 bits")?;
            Ok(if t == REG_DWORD {
                n.to_le_bytes().to_vec()
            } else {
                n.to_be_bytes().to_vec()
            })
        }
        REG_QWORD => Ok(parse_int(one()?)
            .ok_or("not a number")?
            .to_le_bytes()
            .to_vec()),
        _ => match texts {
            [] => Ok(Vec::new()),
            [s] => parse_hex(s).ok_or_else(|| format!("{s:?} is not hex bytes")),
            _ => Err("binary types take one --value of hex bytes".into()),
        },
    }
}

/// UTF-16LE bytes to text (stops at the first NUL).
pub fn utf16_text(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// MULTI_SZ bytes to strings.
pub fn multi_sz(b: &[u8]) -> Vec<String> {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut out: Vec<String> = units
        .split(|&u| u == 0)
        .map(String::from_utf16_lossy)
        .collect();
    while out.last().map(|s| s.is_empty()).unwrap_or(false) {
        out.pop();
    }
    out
}

/// A readable rendering of the data.
pub fn display(t: u32, d: &[u8]) -> String {
    match t {
        REG_SZ | REG_EXPAND_SZ | REG_LINK if d.len() % 2 == 0 => format!("{:?}", utf16_text(d)),
        REG_MULTI_SZ if d.len() % 2 == 0 => format!("{:?}", multi_sz(d)),
        REG_DWORD if d.len() == 4 => {
            let n = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            format!("{n:#010x} ({n})")
        }
        REG_DWORD_BIG_ENDIAN if d.len() == 4 => {
            let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            format!("{n:#010x} ({n})")
        }
        REG_QWORD if d.len() == 8 => {
            let n = u64::from_le_bytes(d.try_into().expect("8 bytes"));
            format!("{n:#018x} ({n})")
        }
        _ => hex(d),
    }
}

/// Lowercase hex, bytes separated by commas (the .reg style).
pub fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len() * 3);
    for (i, b) in d.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}
