//! **Experimental** `packages.mode = "expand"`: install a servicing package
//! offline the way Wine's `wusa` does, without Windows' servicing stack.
//!
//! What it does, per package CAB (or the package CAB of an .msu):
//!
//! * reads `update.mum` and follows its `<update>` entries: `<package>`
//!   references to the sub-package `.mum` files in the cabinet, and
//!   `<component>` references to component/deployment manifests
//!   (`*.manifest`, `urn:schemas-microsoft-com:asm.v3`), each with its
//!   `<dependency><dependentAssembly>` closure (dependencies first);
//! * lays out every `<file name destinationPath sourceName sourcePath>` of
//!   those manifests: the payload is looked up in the cabinet under the
//!   folder named like the manifest (the component key form
//!   `<arch>_<name>_<token>_<version>_<lang>_<hash>\<sourceName>`), then
//!   at the cabinet's root (flat layouts); a cabinet with a container
//!   index (`_manifest_.cix.xml`) is read through it: raw entries are
//!   used (their SHA-1 checked), `Basis`-only entries follow their basis;
//!   the destination goes through the [`RUNTIME_VARIABLES`] table; x86 and
//!   wow64 components on 64-bit images go to the 32-bit folders
//!   (`SysWOW64`, `Program Files (x86)`);
//! * writes every `<registryKeys><registryKey keyName><registryValue name
//!   valueType value>` into the image's SOFTWARE or SYSTEM hive
//!   ([`map_registry_key`]: `HKEY_LOCAL_MACHINE\SOFTWARE\...`,
//!   `HKEY_LOCAL_MACHINE\SYSTEM\...` with `CurrentControlSet` resolved
//!   through `Select\Current`, `HKEY_CLASSES_ROOT\...` as
//!   `SOFTWARE\Classes\...`; wow64 components are redirected to
//!   `WOW6432Node` as WOW64 does); value types REG_SZ, REG_EXPAND_SZ,
//!   REG_MULTI_SZ (`"a","b"`), REG_DWORD and REG_QWORD (`0x..` or decimal),
//!   REG_BINARY and REG_NONE (hex); `$(runtime.*)` inside values becomes
//!   `%SystemRoot%`/`%SystemDrive%` forms in REG_EXPAND_SZ and `C:\...`
//!   paths in REG_SZ and REG_MULTI_SZ (the system drive of a booted
//!   image is C:);
//! * when two components place the same file or value, the higher
//!   component version wins (a package carrying GDR and LDR branches, as
//!   Windows 7 updates do, gets the LDR files).
//!
//! What it does **not** do, and lists per package as `not done` items in
//! the build report: CBS registration (no WinSxS store, no COMPONENTS hive,
//! no `servicing\Packages`, no `Component Based Servicing` keys: DISM in
//! the image will not know the package and cannot remove or service it);
//! catalogs; security descriptors (`<securityDescriptor>`, `<trustInfo>`:
//! new files take their folder's descriptor); `<memberships>` /
//! `<categoryMembership>` (advanced installers: services from
//! `<serviceData>`, drivers, scheduled tasks, ...); `<configuration>` and
//! other elements; driver updates and INF installs; `<applicable>` rules of
//! updates (not evaluated: the update is installed); DCM-compressed
//! manifests (`DCM\x01`, Windows 10+, delta-compressed against a base
//! inside wcp.dll) and MSDelta (PA30/PA19) payloads of express/PSF
//! packages (both need msdelta); files without a destination (they only
//! live in WinSxS); keys under HKCU/HKU and other roots; unknown
//! `$(...)` variables; destinations that are not plain relative paths
//! below a runtime folder. Payload hashes in the manifests
//! (`<asmv2:hash>`) are not checked (the container index's SHA-1 is).
//!
//! Not for boot-critical packages (storage and bus drivers: their INF and
//! service setup is an advanced installer) nor for packages that need
//! their installers to run; "stage" mode is the reliable one.
//! Reference knowledge: Wine's `programs/wusa` (which runtime folders
//! exist, the MULTI_SZ form); `shared/research/nano.md` §2. The code and
//! tables here are our own.

use crate::error::{Error, Result};
use crate::service::current_control_set;
use cab::xmlwalk::{decode_text as decode_manifest_text, get, walk, TextError};
use hive::value::{
    utf16z, REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_NONE, REG_QWORD, REG_SZ,
};
use hive::Hive;
use serde::Serialize;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The manifest namespace.
pub const ASM_V3: &str = "urn:schemas-microsoft-com:asm.v3";

/// Largest manifest (`.manifest`, `.mum`) read into memory.
pub const MAX_MANIFEST: u32 = 16 << 20;
/// Largest container index (`_manifest_.cix.xml`) read into memory.
pub const MAX_CIX: u32 = 64 << 20;
/// Longest chain of `Basis` references followed in a container index.
const MAX_BASIS_CHAIN: usize = 64;

// ---------------------------------------------------------------------
// Runtime folders
// ---------------------------------------------------------------------

/// One `$(runtime.NAME)` variable: the image folder for native components
/// and for wow64 (x86 on a 64-bit image) components, relative to the root
/// of the Windows partition (`""` is the root itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeVar {
    /// The name after `runtime.`, compared without case.
    pub name: &'static str,
    pub native: &'static str,
    pub wow64: &'static str,
    /// Only exists on 64-bit images (`syswow64`, `programFilesX86`, ...).
    pub only_64: bool,
}

const fn rv(name: &'static str, native: &'static str, wow64: &'static str) -> RuntimeVar {
    RuntimeVar {
        name,
        native,
        wow64,
        only_64: false,
    }
}

const fn rv64(name: &'static str, folder: &'static str) -> RuntimeVar {
    RuntimeVar {
        name,
        native: folder,
        wow64: folder,
        only_64: true,
    }
}

/// The `$(runtime.*)` variables expand knows. Folder names are the ones a
/// default installation uses (`%SystemRoot%` = `C:\Windows`).
pub const RUNTIME_VARIABLES: &[RuntimeVar] = &[
    rv("system32", "Windows\\System32", "Windows\\SysWOW64"),
    rv(
        "drivers",
        "Windows\\System32\\drivers",
        "Windows\\SysWOW64\\drivers",
    ),
    rv("wbem", "Windows\\System32\\wbem", "Windows\\SysWOW64\\wbem"),
    rv64("syswow64", "Windows\\SysWOW64"),
    rv("windows", "Windows", "Windows"),
    rv("systemRoot", "Windows", "Windows"),
    rv("windir", "Windows", "Windows"),
    rv("inf", "Windows\\INF", "Windows\\INF"),
    rv("fonts", "Windows\\Fonts", "Windows\\Fonts"),
    rv("help", "Windows\\Help", "Windows\\Help"),
    rv("programFiles", "Program Files", "Program Files (x86)"),
    rv64("programFilesX86", "Program Files (x86)"),
    rv(
        "commonFiles",
        "Program Files\\Common Files",
        "Program Files (x86)\\Common Files",
    ),
    rv64("commonFilesX86", "Program Files (x86)\\Common Files"),
    rv("programData", "ProgramData", "ProgramData"),
    rv("public", "Users\\Public", "Users\\Public"),
    rv("bootDrive", "", ""),
    rv("systemDrive", "", ""),
];

/// The image folder of `$(runtime.<name>)` (`name` without `runtime.`),
/// or None when the variable is unknown (or 64-bit only on a 32-bit
/// image).
pub fn runtime_folder(name: &str, wow64: bool, image_64: bool) -> Option<&'static str> {
    let v = RUNTIME_VARIABLES
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(name))?;
    if v.only_64 && !image_64 {
        return None;
    }
    Some(if wow64 { v.wow64 } else { v.native })
}

/// Whether an image architecture is 64-bit (has SysWOW64).
pub fn is_64bit(image_arch: &str) -> bool {
    matches!(
        image_arch.to_ascii_lowercase().as_str(),
        "amd64" | "x64" | "arm64" | "ia64"
    )
}

/// How a component of architecture `arch` lands on an image of
/// `image_arch`: Ok(false) native, Ok(true) wow64 (32-bit folders), Err
/// when it does not fit.
pub fn placement(arch: Option<&str>, image_arch: &str) -> std::result::Result<bool, String> {
    let a = arch.unwrap_or("neutral").to_ascii_lowercase();
    let img = image_arch.to_ascii_lowercase();
    let img = if img == "x64" { "amd64".into() } else { img };
    match a.as_str() {
        "" | "neutral" | "msil" | "*" | "data" => Ok(false),
        a if a == img => Ok(false),
        "x86" | "wow64" if is_64bit(&img) => Ok(true),
        other => Err(format!(
            "component architecture {other} does not fit the {image_arch} image"
        )),
    }
}

/// `s` in double quotes for messages: backslashes stay as they are,
/// control characters are escaped.
pub fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if (c as u32) < 32 || c == '\u{7f}' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Check one name component of an image path: what Windows accepts as a
/// file name and nothing that could leave the folder.
pub fn check_name(c: &str) -> std::result::Result<(), String> {
    if c.is_empty() {
        return Err("empty name".into());
    }
    if c == "." || c == ".." {
        return Err(format!("{q_c} is not allowed", q_c = q(c)));
    }
    if let Some(bad) = c.chars().find(|ch| {
        matches!(ch, '<' | '>' | ':' | '"' | '|' | '?' | '*' | '/' | '\\') || (*ch as u32) < 32
    }) {
        return Err(format!(
            "{q_c}: {bad:?} is not allowed in a file name",
            q_c = q(c)
        ));
    }
    if c.ends_with(' ') || c.ends_with('.') {
        return Err(format!("{q_c} ends with a space or a dot", q_c = q(c)));
    }
    if c.encode_utf16().count() > 255 {
        return Err(format!("{q_c} is longer than 255 characters", q_c = q(c)));
    }
    let stem = c
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit()
            && stem.as_bytes()[3] != b'0');
    if device {
        return Err(format!("{q_c} is a device name", q_c = q(c)));
    }
    Ok(())
}

/// Map a manifest `destinationPath` plus the file's `name` to an image
/// path (backslashes, no leading one). The destination must start with a
/// known `$(runtime.*)` variable followed by plain relative names; `name`
/// may hold subfolders. Anything else is refused with the reason, so no
/// path can leave the image or land in an unexpected place.
pub fn map_destination(
    dest: &str,
    name: &str,
    wow64: bool,
    image_64: bool,
) -> std::result::Result<String, String> {
    let d = dest.trim();
    let Some(rest) = d.strip_prefix("$(") else {
        return Err(format!(
            "destinationPath {q_d} does not start with a $(runtime.*) variable",
            q_d = q(d)
        ));
    };
    let Some(close) = rest.find(')') else {
        return Err(format!(
            "destinationPath {q_d}: unterminated variable",
            q_d = q(d)
        ));
    };
    let var = &rest[..close];
    let tail = &rest[close + 1..];
    let folder = var
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("runtime."))
        .and_then(|_| runtime_folder(&var[8..], wow64, image_64))
        .ok_or_else(|| {
            format!(
                "destinationPath {q_d}: unknown variable $({var})",
                q_d = q(d)
            )
        })?;
    if tail.contains("$(") {
        return Err(format!(
            "destinationPath {q_d}: only one leading variable is understood",
            q_d = q(d)
        ));
    }
    if !tail.is_empty() && !tail.starts_with(['\\', '/']) {
        return Err(format!(
            "destinationPath {q_d}: no separator after the variable",
            q_d = q(d)
        ));
    }
    let mut comps: Vec<&str> = folder.split('\\').filter(|c| !c.is_empty()).collect();
    for c in tail.split(['\\', '/']).filter(|c| !c.is_empty()) {
        check_name(c).map_err(|e| format!("destinationPath {q_d}: {e}", q_d = q(d)))?;
        comps.push(c);
    }
    let base = comps.len();
    for c in name.split(['\\', '/']).filter(|c| !c.is_empty()) {
        check_name(c).map_err(|e| format!("file name {q_name}: {e}", q_name = q(name)))?;
        comps.push(c);
    }
    if comps.len() == base {
        return Err(format!("file name {q_name} is empty", q_name = q(name)));
    }
    let path = comps.join("\\");
    if path
        .to_ascii_uppercase()
        .starts_with("WINDOWS\\SYSTEM32\\CONFIG\\")
    {
        return Err(format!(
            "{path} is in the registry hive folder; hives are not replaced by files"
        ));
    }
    Ok(path)
}

/// How `$(runtime.*)` appears in a value: `%SystemRoot%`/`%SystemDrive%`
/// forms for REG_EXPAND_SZ, `C:\...` for the other string types.
pub fn expand_value_vars(
    s: &str,
    expand_sz: bool,
    wow64: bool,
    image_64: bool,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let close = after
            .find(')')
            .ok_or_else(|| format!("value {q_s}: unterminated $( variable", q_s = q(s)))?;
        let var = &after[..close];
        let folder = var
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("runtime."))
            .and_then(|_| runtime_folder(&var[8..], wow64, image_64))
            .ok_or_else(|| format!("value {q_s}: unknown variable $({var})", q_s = q(s)))?;
        out.push_str(&folder_text(folder, expand_sz));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn folder_text(folder: &str, expand_sz: bool) -> String {
    if expand_sz {
        if folder.is_empty() {
            "%SystemDrive%".into()
        } else if folder.eq_ignore_ascii_case("Windows") {
            "%SystemRoot%".into()
        } else if folder.len() > 8 && folder[..8].eq_ignore_ascii_case("Windows\\") {
            format!("%SystemRoot%\\{}", &folder[8..])
        } else {
            format!("%SystemDrive%\\{folder}")
        }
    } else if folder.is_empty() {
        "C:".into()
    } else {
        format!("C:\\{folder}")
    }
}

// ---------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------

/// The hives expand writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum HiveName {
    #[serde(rename = "SOFTWARE")]
    Software,
    #[serde(rename = "SYSTEM")]
    System,
}

impl HiveName {
    pub fn as_str(self) -> &'static str {
        match self {
            HiveName::Software => "SOFTWARE",
            HiveName::System => "SYSTEM",
        }
    }
    /// The hive file in the image.
    pub fn image_path(self) -> &'static str {
        match self {
            HiveName::Software => "Windows\\System32\\config\\SOFTWARE",
            HiveName::System => "Windows\\System32\\config\\SYSTEM",
        }
    }
}

/// Where a manifest key goes: a hive and a path below its root. With
/// `current_control_set`, the path is relative to the control set named
/// by `Select\Current` (resolved when the hive is at hand).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyTarget {
    pub hive: HiveName,
    pub current_control_set: bool,
    pub path: String,
}

/// Subkeys of `SOFTWARE\Classes` that WOW64 redirects (the rest of
/// Classes is shared).
const WOW64_REDIRECTED_CLASSES: &[&str] = &[
    "CLSID",
    "DirectShow",
    "Interface",
    "Media Type",
    "MediaFoundation",
];

/// Keys below `SOFTWARE` that WOW64 shares between 32- and 64-bit
/// programs (Windows 7 and later, "Registry Keys Affected by WOW64").
const WOW64_SHARED: &[&str] = &[
    "Classes",
    "Clients",
    "Policies",
    "RegisteredApplications",
    "Microsoft\\COM3",
    "Microsoft\\Cryptography\\Calais\\Current",
    "Microsoft\\Cryptography\\Calais\\Readers",
    "Microsoft\\Cryptography\\Services",
    "Microsoft\\CTF\\SystemShared",
    "Microsoft\\CTF\\TIP",
    "Microsoft\\DFS",
    "Microsoft\\Driver Signing",
    "Microsoft\\EnterpriseCertificates",
    "Microsoft\\EventSystem",
    "Microsoft\\MSMQ",
    "Microsoft\\Non-Driver Signing",
    "Microsoft\\Notepad\\DefaultFonts",
    "Microsoft\\OLE",
    "Microsoft\\RAS",
    "Microsoft\\RPC",
    "Microsoft\\SOFTWARE\\Microsoft\\Shared Tools\\MSInfo",
    "Microsoft\\SystemCertificates",
    "Microsoft\\TermServLicensing",
    "Microsoft\\Transaction Server",
    "Microsoft\\Windows\\CurrentVersion\\App Paths",
    "Microsoft\\Windows\\CurrentVersion\\Control Panel\\Cursors\\Schemes",
    "Microsoft\\Windows\\CurrentVersion\\Explorer\\AutoplayHandlers",
    "Microsoft\\Windows\\CurrentVersion\\Explorer\\DriveIcons",
    "Microsoft\\Windows\\CurrentVersion\\Explorer\\KindMap",
    "Microsoft\\Windows\\CurrentVersion\\Group Policy",
    "Microsoft\\Windows\\CurrentVersion\\Policies",
    "Microsoft\\Windows\\CurrentVersion\\PreviewHandlers",
    "Microsoft\\Windows\\CurrentVersion\\Setup",
    "Microsoft\\Windows\\CurrentVersion\\Telephony\\Locations",
    "Microsoft\\Windows NT\\CurrentVersion\\Console",
    "Microsoft\\Windows NT\\CurrentVersion\\FontDpi",
    "Microsoft\\Windows NT\\CurrentVersion\\FontLink",
    "Microsoft\\Windows NT\\CurrentVersion\\FontMapper",
    "Microsoft\\Windows NT\\CurrentVersion\\Fonts",
    "Microsoft\\Windows NT\\CurrentVersion\\FontSubstitutes",
    "Microsoft\\Windows NT\\CurrentVersion\\Gre_Initialize",
    "Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options",
    "Microsoft\\Windows NT\\CurrentVersion\\LanguagePack",
    "Microsoft\\Windows NT\\CurrentVersion\\NetworkCards",
    "Microsoft\\Windows NT\\CurrentVersion\\Perflib",
    "Microsoft\\Windows NT\\CurrentVersion\\Ports",
    "Microsoft\\Windows NT\\CurrentVersion\\Print",
    "Microsoft\\Windows NT\\CurrentVersion\\ProfileList",
    "Microsoft\\Windows NT\\CurrentVersion\\Time Zones",
];

fn starts_with_keys(comps: &[&str], prefix: &str) -> bool {
    let p: Vec<&str> = prefix.split('\\').collect();
    comps.len() >= p.len() && comps.iter().zip(&p).all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// The `SOFTWARE`-relative path a wow64 component's key lands on.
fn wow64_software(comps: &[&str]) -> Vec<String> {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if comps
        .first()
        .is_some_and(|c| c.eq_ignore_ascii_case("Wow6432Node"))
    {
        return owned(comps);
    }
    if comps
        .first()
        .is_some_and(|c| c.eq_ignore_ascii_case("Classes"))
    {
        if comps.len() >= 2
            && WOW64_REDIRECTED_CLASSES
                .iter()
                .any(|r| r.eq_ignore_ascii_case(comps[1]))
        {
            let mut v = vec!["Classes".to_string(), "Wow6432Node".to_string()];
            v.extend(owned(&comps[1..]));
            return v;
        }
        return owned(comps);
    }
    if WOW64_SHARED.iter().any(|s| starts_with_keys(comps, s)) {
        return owned(comps);
    }
    let mut v = vec!["Wow6432Node".to_string()];
    v.extend(owned(comps));
    v
}

/// Map a manifest `keyName` to a hive and path. Only the machine hives
/// SOFTWARE (and HKEY_CLASSES_ROOT, whose machine part is
/// `SOFTWARE\Classes`) and SYSTEM are written; other roots are refused
/// with the reason.
pub fn map_registry_key(key: &str, wow64: bool) -> std::result::Result<KeyTarget, String> {
    let comps: Vec<&str> = key.split('\\').filter(|c| !c.is_empty()).collect();
    for c in &comps {
        if c.contains('\0') {
            return Err(format!("key {q_key}: NUL in a key name", q_key = q(key)));
        }
        if c.encode_utf16().count() > 255 {
            return Err(format!(
                "key {q_key}: a key name is longer than 255 characters",
                q_key = q(key)
            ));
        }
    }
    let Some(root) = comps.first() else {
        return Err("empty keyName".into());
    };
    let root = root.to_ascii_uppercase();
    let (hive, rest): (HiveName, Vec<&str>) = match root.as_str() {
        "HKEY_LOCAL_MACHINE" | "HKLM" => {
            let Some(h) = comps.get(1) else {
                return Err(format!(
                    "key {q_key}: values directly under HKEY_LOCAL_MACHINE",
                    q_key = q(key)
                ));
            };
            match h.to_ascii_uppercase().as_str() {
                "SOFTWARE" => (HiveName::Software, comps[2..].to_vec()),
                "SYSTEM" => (HiveName::System, comps[2..].to_vec()),
                other => {
                    return Err(format!(
                        "key {q_key}: HKEY_LOCAL_MACHINE\\{other} is not written (only SOFTWARE and SYSTEM)", q_key = q(key)))
                }
            }
        }
        "HKEY_CLASSES_ROOT" | "HKCR" => {
            let mut v = vec!["Classes"];
            v.extend_from_slice(&comps[1..]);
            (HiveName::Software, v)
        }
        _ => {
            return Err(format!(
                "key {q_key}: root {} is per-user or volatile; not written",
                comps[0],
                q_key = q(key)
            ))
        }
    };
    match hive {
        HiveName::Software => {
            let path = if wow64 {
                wow64_software(&rest)
            } else {
                rest.iter().map(|s| s.to_string()).collect()
            };
            Ok(KeyTarget {
                hive,
                current_control_set: false,
                path: path.join("\\"),
            })
        }
        HiveName::System => {
            let ccs = rest
                .first()
                .is_some_and(|c| c.eq_ignore_ascii_case("CurrentControlSet"));
            let path = if ccs { &rest[1..] } else { &rest[..] };
            Ok(KeyTarget {
                hive,
                current_control_set: ccs,
                path: path.join("\\"),
            })
        }
    }
}

fn parse_uint(s: &str, max: u64) -> std::result::Result<u64, String> {
    let t = s.trim();
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        t.parse::<u64>()
    }
    .map_err(|_| format!("{q_s} is not a number (0x.. or decimal)", q_s = q(s)))?;
    if v > max {
        return Err(format!("{q_s} does not fit", q_s = q(s)));
    }
    Ok(v)
}

/// Parse a REG_MULTI_SZ value as manifests write it: quoted strings
/// separated by commas (`"a","b"`); an empty value is an empty list.
pub fn parse_multi_sz(v: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = v.trim();
    if rest.is_empty() {
        return Ok(out);
    }
    loop {
        let Some(r) = rest.strip_prefix('"') else {
            return Err(format!(
                "REG_MULTI_SZ {q_v}: expected a quoted string",
                q_v = q(v)
            ));
        };
        let end = r
            .find('"')
            .ok_or_else(|| format!("REG_MULTI_SZ {q_v}: unterminated string", q_v = q(v)))?;
        let item = &r[..end];
        if item.is_empty() {
            return Err(format!(
                "REG_MULTI_SZ {q_v}: an empty string would end the list early",
                q_v = q(v)
            ));
        }
        out.push(item.to_string());
        rest = r[end + 1..].trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let Some(r) = rest.strip_prefix(',') else {
            return Err(format!("REG_MULTI_SZ {q_v}: expected a comma", q_v = q(v)));
        };
        rest = r.trim_start();
    }
}

/// Encode a `<registryValue valueType value>` as (REG_* type, data bytes).
pub fn encode_value(
    value_type: &str,
    value: Option<&str>,
    wow64: bool,
    image_64: bool,
) -> std::result::Result<(u32, Vec<u8>), String> {
    let t = value_type.trim().to_ascii_uppercase();
    let hex = |v: Option<&str>| -> std::result::Result<Vec<u8>, String> {
        match v.map(str::trim) {
            None | Some("") => Ok(Vec::new()),
            Some(s) => {
                let s = s.strip_prefix("0x").unwrap_or(s);
                if !s
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ',' | ' '))
                {
                    return Err(format!("{t} {q_s} is not hex bytes", q_s = q(s)));
                }
                hive::value::parse_hex(s)
                    .ok_or_else(|| format!("{t} {q_s} is not hex bytes", q_s = q(s)))
            }
        }
    };
    match t.as_str() {
        "REG_SZ" => Ok((
            REG_SZ,
            utf16z(
                &expand_value_vars(value.unwrap_or(""), false, wow64, image_64)?,
                true,
            ),
        )),
        "REG_EXPAND_SZ" => Ok((
            REG_EXPAND_SZ,
            utf16z(
                &expand_value_vars(value.unwrap_or(""), true, wow64, image_64)?,
                true,
            ),
        )),
        "REG_MULTI_SZ" => {
            let mut b = Vec::new();
            for s in parse_multi_sz(value.unwrap_or(""))? {
                b.extend(utf16z(
                    &expand_value_vars(&s, false, wow64, image_64)?,
                    true,
                ));
            }
            b.extend_from_slice(&[0, 0]);
            Ok((REG_MULTI_SZ, b))
        }
        "REG_DWORD" => {
            let v = value.ok_or("REG_DWORD without a value")?;
            Ok((
                REG_DWORD,
                (parse_uint(v, u32::MAX as u64)? as u32)
                    .to_le_bytes()
                    .to_vec(),
            ))
        }
        "REG_QWORD" => {
            let v = value.ok_or("REG_QWORD without a value")?;
            Ok((REG_QWORD, parse_uint(v, u64::MAX)?.to_le_bytes().to_vec()))
        }
        "REG_BINARY" => Ok((REG_BINARY, hex(value)?)),
        "REG_NONE" => Ok((REG_NONE, hex(value)?)),
        _ => Err(format!("value type {value_type:?} is not supported")),
    }
}

// ---------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------

/// A manifest that cannot be read; names the file and, for XML errors,
/// the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Windows 10+ delta-compressed manifest.
    #[error("{file}: DCM-compressed manifest (delta against a base in wcp.dll); needs msdelta")]
    Dcm { file: String },
    #[error("{file}: {what}")]
    Encoding { file: String, what: String },
    #[error("{file}: XML error at byte {offset}: {what}")]
    Xml {
        file: String,
        offset: u64,
        what: String,
    },
    #[error("{file}: {what}")]
    Structure { file: String, what: String },
}

/// An `<assemblyIdentity>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub name: String,
    pub version: Option<String>,
    pub arch: Option<String>,
    pub language: Option<String>,
    pub public_key_token: Option<String>,
}

impl Identity {
    fn version_tuple(&self) -> (u32, u32, u32, u32) {
        self.version
            .as_deref()
            .and_then(cab::mum::parse_version)
            .unwrap_or((0, 0, 0, 0))
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.name,
            self.version.as_deref().unwrap_or("?"),
            self.arch.as_deref().unwrap_or("?")
        )
    }
}

/// A `<file>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDecl {
    pub name: String,
    pub destination_path: Option<String>,
    pub source_name: Option<String>,
    pub source_path: Option<String>,
    /// `<securityDescriptor name>`.
    pub security_descriptor: Option<String>,
    /// Child elements expand does not handle.
    pub unprocessed: Vec<String>,
}

/// A `<registryValue>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueDecl {
    pub name: String,
    pub value_type: Option<String>,
    pub value: Option<String>,
}

/// A `<registryKey>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDecl {
    pub key_name: Option<String>,
    pub values: Vec<ValueDecl>,
    pub unprocessed: Vec<String>,
}

/// A `<dependency><dependentAssembly>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyDecl {
    pub dependency_type: Option<String>,
    pub identity: Option<Identity>,
}

/// An `<update>` of a package manifest (`.mum`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateDecl {
    pub name: Option<String>,
    /// `component`, `package` or `driver`.
    pub kind: String,
    pub identities: Vec<Identity>,
    /// Has an `<applicable>` rule.
    pub applicable: bool,
}

/// What expand reads from a component, deployment or package manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub identity: Identity,
    pub files: Vec<FileDecl>,
    pub keys: Vec<KeyDecl>,
    pub dependencies: Vec<DependencyDecl>,
    pub updates: Vec<UpdateDecl>,
    /// Elements expand does not carry out, described.
    pub unprocessed: Vec<String>,
}

/// Decode manifest bytes into text (see [`cab::xmlwalk::decode_text`]).
fn decode_text(b: &[u8], file: &str) -> std::result::Result<String, ManifestError> {
    decode_manifest_text(b).map_err(|e| match e {
        TextError::Dcm => ManifestError::Dcm { file: file.into() },
        TextError::Encoding(what) => ManifestError::Encoding {
            file: file.into(),
            what: what.into(),
        },
    })
}

fn xml_error(file: &str) -> impl Fn(u64, String) -> ManifestError + '_ {
    move |offset, what| ManifestError::Xml {
        file: file.into(),
        offset,
        what,
    }
}

fn identity_of(a: &[(String, String)]) -> Identity {
    Identity {
        name: get(a, "name").unwrap_or_default(),
        version: get(a, "version"),
        arch: get(a, "processorArchitecture"),
        language: get(a, "language"),
        public_key_token: get(a, "publicKeyToken"),
    }
}

/// Parse a manifest (`.manifest` or `.mum`); `file` names it in errors.
pub fn parse_manifest(bytes: &[u8], file: &str) -> std::result::Result<Manifest, ManifestError> {
    let text = decode_text(bytes, file)?;
    let mut m = Manifest::default();
    let mut saw_root = false;
    let mut saw_identity = false;
    // Elements outside asm.v3 are reported as "#other".
    walk(&text, Some(ASM_V3), "#other", xml_error(file), |el| {
        let a = el.attrs;
        match (el.path, el.local) {
            ([], "assembly") => saw_root = true,
            ([], _) => {
                return Err(ManifestError::Structure {
                    file: file.into(),
                    what: format!("root element is not <assembly> in namespace {ASM_V3}"),
                })
            }
            (["assembly"], "assemblyIdentity") if !saw_identity => {
                m.identity = identity_of(a);
                saw_identity = true;
            }
            (["assembly"], "file") => m.files.push(FileDecl {
                name: get(a, "name").unwrap_or_default(),
                destination_path: get(a, "destinationPath"),
                source_name: get(a, "sourceName"),
                source_path: get(a, "sourcePath"),
                ..Default::default()
            }),
            (["assembly", "file"], child) => {
                if let Some(f) = m.files.last_mut() {
                    match child {
                        "securityDescriptor" => {
                            f.security_descriptor =
                                Some(get(a, "name").unwrap_or_else(|| "(unnamed)".into()))
                        }
                        // Authenticode page-hash flags and the (asm.v2)
                        // file hash: nothing to install.
                        "signatureInfo" | "#other" => {}
                        other => f.unprocessed.push(format!("<{other}>")),
                    }
                }
            }
            (["assembly"], "registryKeys") => {}
            (["assembly", "registryKeys"], "registryKey") => m.keys.push(KeyDecl {
                key_name: get(a, "keyName"),
                ..Default::default()
            }),
            (["assembly", "registryKeys"], other) => {
                m.unprocessed.push(format!("<registryKeys><{other}>"))
            }
            (["assembly", "registryKeys", "registryKey"], child) => {
                if let Some(k) = m.keys.last_mut() {
                    match child {
                        "registryValue" => k.values.push(ValueDecl {
                            name: get(a, "name").unwrap_or_default(),
                            value_type: get(a, "valueType"),
                            value: get(a, "value"),
                        }),
                        "securityDescriptor" => k.unprocessed.push(format!(
                            "security descriptor {}",
                            get(a, "name").unwrap_or_else(|| "(unnamed)".into())
                        )),
                        other => k.unprocessed.push(format!("<{other}>")),
                    }
                }
            }
            (["assembly"], "dependency") => {}
            (["assembly", "dependency"], "dependentAssembly") => {
                m.dependencies.push(DependencyDecl {
                    dependency_type: get(a, "dependencyType"),
                    identity: None,
                })
            }
            (["assembly", "dependency", "dependentAssembly"], "assemblyIdentity") => {
                if let Some(d) = m.dependencies.last_mut() {
                    d.identity = Some(identity_of(a));
                }
            }
            (["assembly"], "package") => {}
            (["assembly", "package"], "update") => m.updates.push(UpdateDecl {
                name: get(a, "name"),
                ..Default::default()
            }),
            (["assembly", "package", "update"], kind @ ("component" | "package" | "driver")) => {
                if let Some(u) = m.updates.last_mut() {
                    u.kind = kind.to_string();
                }
            }
            (["assembly", "package", "update"], "applicable") => {
                if let Some(u) = m.updates.last_mut() {
                    u.applicable = true;
                }
            }
            (
                ["assembly", "package", "update", "component" | "package" | "driver"],
                "assemblyIdentity",
            ) => {
                if let Some(u) = m.updates.last_mut() {
                    u.identities.push(identity_of(a));
                }
            }
            // A deployment marker and display strings: nothing to lay out.
            (["assembly"], "deployment" | "localization" | "#other") => {}
            (["assembly"], "trustInfo") => m
                .unprocessed
                .push("<trustInfo> (security descriptor definitions) not applied".into()),
            (["assembly"], "memberships") => m
                .unprocessed
                .push("<memberships> (category memberships: advanced installers) not run".into()),
            (["assembly"], other) => m.unprocessed.push(format!("<{other}> not processed")),
            // Inside elements that are skipped: name what matters.
            (p, "serviceData") if p.len() >= 2 && p[1] != "file" => m.unprocessed.push(format!(
                "service {} (<serviceData>) not created",
                get(a, "name").unwrap_or_else(|| "(unnamed)".into())
            )),
            (p, "id") if p.last() == Some(&"categoryMembership") => m.unprocessed.push(format!(
                "category membership {} not run",
                get(a, "typeName")
                    .or_else(|| get(a, "name"))
                    .unwrap_or_else(|| "(unnamed)".into())
            )),
            _ => {}
        }
        Ok(())
    })?;
    if !saw_root {
        return Err(ManifestError::Structure {
            file: file.into(),
            what: "no <assembly> element".into(),
        });
    }
    if !saw_identity || m.identity.name.is_empty() {
        return Err(ManifestError::Structure {
            file: file.into(),
            what: "no <assemblyIdentity name=...>".into(),
        });
    }
    Ok(m)
}

// ---------------------------------------------------------------------
// Container index (_manifest_.cix.xml)
// ---------------------------------------------------------------------

/// A `<File>` of a container index: the file `name` (component key form
/// path) is stored as `source` (raw or a delta) and/or is the same as, or
/// a delta against, the `basis` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CixFile {
    pub id: String,
    pub name: String,
    pub length: Option<u64>,
    pub sha1: Option<String>,
    /// (type, name in the cabinet): `RAW`, `PA30`, `PA19`.
    pub source: Option<(String, String)>,
    pub basis: Option<String>,
}

/// Parse `_manifest_.cix.xml` (namespace `urn:ContainerIndex`).
pub fn parse_cix(bytes: &[u8], file: &str) -> std::result::Result<Vec<CixFile>, ManifestError> {
    let text = decode_text(bytes, file)?;
    let mut out: Vec<CixFile> = Vec::new();
    walk(&text, None, "", xml_error(file), |el| {
        let a = el.attrs;
        match (el.path, el.local) {
            ([.., "Files"], "File") => out.push(CixFile {
                id: get(a, "id").unwrap_or_default(),
                name: get(a, "name").unwrap_or_default(),
                length: get(a, "length").and_then(|l| l.parse().ok()),
                ..Default::default()
            }),
            ([.., "File"], "Hash") => {
                if let Some(f) = out.last_mut() {
                    if get(a, "alg").is_some_and(|x| x.eq_ignore_ascii_case("SHA1")) {
                        f.sha1 = get(a, "value").map(|v| v.to_ascii_lowercase());
                    }
                }
            }
            ([.., "File", "Delta"], "Source") => {
                if let Some(f) = out.last_mut() {
                    f.source = Some((
                        get(a, "type").unwrap_or_default(),
                        get(a, "name").unwrap_or_default(),
                    ));
                }
            }
            ([.., "File", "Delta"], "Basis") => {
                if let Some(f) = out.last_mut() {
                    f.basis = get(a, "file");
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

// ---------------------------------------------------------------------
// Planning a package
// ---------------------------------------------------------------------

/// A file to lay out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: String,
    /// Index into the cabinet's files.
    pub entry: usize,
    /// SHA-1 the container index promises (lowercase hex).
    pub sha1: Option<String>,
    pub component: Identity,
    /// `<securityDescriptor name>` (not applied; reported once laid out).
    pub security_descriptor: Option<String>,
}

/// A value to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedValue {
    pub target: KeyTarget,
    pub name: String,
    pub data_type: u32,
    pub data: Vec<u8>,
    pub component: Identity,
}

/// Everything expand will do for one package, and what it will not.
#[derive(Debug, Clone, Default)]
pub struct ExpandPlan {
    pub files: Vec<PlannedFile>,
    /// Keys to create (with or without values), in manifest order.
    pub keys: Vec<(KeyTarget, Identity)>,
    pub values: Vec<PlannedValue>,
    pub not_done: Vec<String>,
}

impl ExpandPlan {
    /// Whether any key or value goes into `h`.
    pub fn needs(&self, h: HiveName) -> bool {
        self.keys.iter().any(|(k, _)| k.hive == h)
    }
}

fn norm_name(s: &str) -> String {
    s.replace('/', "\\")
        .split('\\')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("\\")
        .to_uppercase()
}

fn field_matches(a: &Option<String>, b: &Option<String>) -> bool {
    match (a.as_deref(), b.as_deref()) {
        (Some(x), Some(y)) => x == "*" || y == "*" || x.eq_ignore_ascii_case(y),
        _ => true,
    }
}

/// The manifest of `want` among `list`: same name, architecture and
/// language (`*` matches anything); an exact version is preferred.
fn find_identity(list: &[&Identity], want: &Identity) -> Option<usize> {
    let cands: Vec<usize> = (0..list.len())
        .filter(|&i| {
            let m = list[i];
            m.name.eq_ignore_ascii_case(&want.name)
                && field_matches(&m.arch, &want.arch)
                && field_matches(&m.language, &want.language)
        })
        .collect();
    cands
        .iter()
        .copied()
        .find(|&i| field_matches(&list[i].version, &want.version))
        .or(cands.first().copied())
}

/// Where a payload is, or why it cannot be used.
enum Payload {
    Entry { index: usize, sha1: Option<String> },
    NotDone(String),
}

/// A container index with its files by (normalised) name and by id.
struct CixIndex<'a> {
    by_name: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
    files: &'a [CixFile],
}

struct Lookup<'a> {
    by_name: HashMap<String, usize>,
    cix: Option<CixIndex<'a>>,
    sizes: Vec<u64>,
}

impl Lookup<'_> {
    fn resolve_cix(&self, mut i: usize) -> Payload {
        let Some(CixIndex { by_id, files, .. }) = &self.cix else {
            return Payload::NotDone("no container index".into());
        };
        for _ in 0..MAX_BASIS_CHAIN {
            let f = &files[i];
            match &f.source {
                Some((kind, name)) if kind.eq_ignore_ascii_case("RAW") => {
                    let Some(&index) = self.by_name.get(&norm_name(name)) else {
                        return Payload::NotDone(format!(
                            "the container index stores it as {q_name}, which the cabinet lacks",
                            q_name = q(name)
                        ));
                    };
                    if let Some(l) = f.length {
                        if l != self.sizes[index] {
                            return Payload::NotDone(format!(
                                "the container index says {l} bytes, the cabinet's {q_name} has {}",
                                self.sizes[index],
                                q_name = q(name)
                            ));
                        }
                    }
                    return Payload::Entry {
                        index,
                        sha1: f.sha1.clone(),
                    };
                }
                Some((kind, name)) => {
                    return Payload::NotDone(format!(
                    "stored as an MSDelta {kind} delta ({q_name}{}); expanding it needs msdelta",
                    f.basis
                        .as_deref()
                        .map(|b| format!(" against container file {b}"))
                        .unwrap_or_default(),
                    q_name = q(name)
                ))
                }
                None => {
                    let Some(b) = &f.basis else {
                        return Payload::NotDone(format!(
                            "container index entry {} has neither a source nor a basis",
                            f.id
                        ));
                    };
                    let Some(&bi) = by_id.get(b) else {
                        return Payload::NotDone(format!(
                            "container index entry {} names basis {b}, which the index lacks",
                            f.id
                        ));
                    };
                    if let (Some(x), Some(y)) = (&f.sha1, &files[bi].sha1) {
                        if x != y {
                            return Payload::NotDone(format!(
                                "container index entry {} differs from its basis {b} but has no delta",
                                f.id
                            ));
                        }
                    }
                    i = bi;
                }
            }
        }
        Payload::NotDone("the container index's basis chain is too long or circular".into())
    }

    /// The payload of `f` of the manifest whose file stem is `stem`.
    fn find(&self, stem: &str, f: &FileDecl) -> Payload {
        let src = f.source_name.as_deref().unwrap_or(&f.name);
        let mut sub = String::new();
        if let Some(sp) = &f.source_path {
            for c in sp.split(['\\', '/']).filter(|c| !c.is_empty() && *c != ".") {
                if check_name(c).is_err() || c.contains("$(") {
                    return Payload::NotDone(format!(
                        "sourcePath {q_sp} is not a plain relative path",
                        q_sp = q(sp)
                    ));
                }
                sub.push_str(c);
                sub.push('\\');
            }
        }
        for c in src.split(['\\', '/']).filter(|c| !c.is_empty()) {
            if check_name(c).is_err() {
                return Payload::NotDone(format!(
                    "sourceName {q_src} is not a plain name",
                    q_src = q(src)
                ));
            }
        }
        let mut candidates = vec![
            format!("{stem}\\{sub}{src}"),
            format!("{stem}\\{src}"),
            format!("{sub}{src}"),
            src.to_string(),
        ];
        candidates.dedup();
        for c in &candidates {
            let key = norm_name(c);
            if let Some(CixIndex { by_name, .. }) = &self.cix {
                if let Some(&i) = by_name.get(&key) {
                    return self.resolve_cix(i);
                }
            }
            if let Some(&index) = self.by_name.get(&key) {
                return Payload::Entry { index, sha1: None };
            }
        }
        Payload::NotDone(format!(
            "payload not found in the cabinet (looked for {})",
            candidates
                .iter()
                .map(|c| q(c))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn is_name(e: &cab::FileEntry, want: &str) -> bool {
    norm_name(&e.name) == norm_name(want)
}

/// Read the package's manifests and plan every file and value; what
/// cannot be done becomes a `not_done` item. Errors only when the cabinet
/// itself cannot be read or its `update.mum` is not a manifest.
pub fn plan_package(cab: &cab::Cabinet, image_arch: &str) -> Result<ExpandPlan> {
    let fail = |e: cab::Error| Error::stage("packages", e);
    let mut plan = ExpandPlan::default();
    let image_64 = is_64bit(image_arch);
    let entries = cab.files();
    let lower = |e: &cab::FileEntry| e.name.to_ascii_lowercase();

    // Which entries to read.
    let mut wanted = Vec::new();
    for e in entries {
        let n = lower(e);
        let (is_meta, cap) = if n.ends_with(".manifest") || n.ends_with(".mum") {
            (true, MAX_MANIFEST)
        } else if is_name(e, "_manifest_.cix.xml") {
            (true, MAX_CIX)
        } else {
            (false, 0)
        };
        if is_meta {
            if e.size > cap {
                plan.not_done.push(format!(
                    "{}: {} bytes is more than the {cap} read for a manifest; not read",
                    e.name, e.size
                ));
            } else {
                wanted.push(e.index);
            }
        }
    }
    let texts = cab.read_files(&wanted).map_err(fail)?;
    let text_of = |i: usize| texts.get(&i).map(Vec::as_slice).unwrap_or(&[]);
    let label = |e: &cab::FileEntry| format!("{}!{}", cab.name(), e.name);

    // update.mum
    let mum_entry = entries
        .iter()
        .find(|e| is_name(e, "update.mum"))
        .ok_or_else(|| Error::stage("packages", format!("{}: no update.mum", cab.name())))?;
    let update = parse_manifest(text_of(mum_entry.index), &label(mum_entry))
        .map_err(|e| Error::stage("packages", e))?;
    plan.not_done.push(format!(
        "CBS registration of {}: no WinSxS store, COMPONENTS hive, servicing\\Packages or \
         Component Based Servicing keys are written; DISM in the image will not list or service it",
        update.identity
    ));

    // Sub-package manifests and component manifests.
    let mut mums: Vec<(String, Manifest)> = Vec::new();
    let mut comps: Vec<(String, String, Manifest)> = Vec::new(); // (entry, stem, manifest)
    let mut cix: Option<Vec<CixFile>> = None;
    for e in entries {
        if !texts.contains_key(&e.index) || e.index == mum_entry.index {
            continue;
        }
        let n = lower(e);
        if is_name(e, "_manifest_.cix.xml") {
            match parse_cix(text_of(e.index), &label(e)) {
                Ok(c) => cix = Some(c),
                Err(err) => plan.not_done.push(format!(
                    "container index unreadable ({err}); payloads it describes are looked up directly"
                )),
            }
            continue;
        }
        match parse_manifest(text_of(e.index), &label(e)) {
            Ok(m) if n.ends_with(".mum") => mums.push((e.name.clone(), m)),
            Ok(m) => {
                let stem = e.name[..e.name.len() - ".manifest".len()].to_string();
                comps.push((e.name.clone(), stem, m));
            }
            Err(ManifestError::Dcm { .. }) => plan.not_done.push(format!(
                "manifest {}: DCM-compressed (Windows 10+ delta against a base manifest in wcp.dll); \
                 it cannot be decoded without msdelta, so its files and registry values are not laid out",
                e.name
            )),
            Err(err) => plan.not_done.push(format!(
                "manifest unreadable, its files and registry values are not laid out: {err}"
            )),
        }
    }
    for e in entries.iter().filter(|e| lower(e).ends_with(".cat")) {
        plan.not_done.push(format!(
            "catalog {} not registered (no CatRoot or WinSxS catalog store is written)",
            e.name
        ));
    }

    // Follow update.mum: packages, then components with their
    // dependencies (dependencies first).
    let mum_ids: Vec<&Identity> = mums.iter().map(|(_, m)| &m.identity).collect();
    let comp_ids: Vec<&Identity> = comps.iter().map(|(_, _, m)| &m.identity).collect();
    let mut order: Vec<usize> = Vec::new();
    let mut state: Vec<u8> = vec![0; comps.len()]; // 0 new, 1 in progress, 2 done
    let mut mum_seen: HashSet<usize> = HashSet::new();
    let mut queue: std::collections::VecDeque<(String, &Manifest)> =
        std::collections::VecDeque::from([("update.mum".to_string(), &update)]);
    while let Some((from, m)) = queue.pop_front() {
        for u in &m.updates {
            let uname = u.name.as_deref().unwrap_or("(unnamed)");
            if u.applicable {
                plan.not_done.push(format!(
                    "update {uname} of {from}: its <applicable> rule (CBS evaluates it against the \
                     installed components) is not evaluated; installed unconditionally"
                ));
            }
            if u.identities.is_empty() {
                plan.not_done.push(format!(
                    "update {uname} of {from}: names no component, package or driver"
                ));
            }
            for id in &u.identities {
                match u.kind.as_str() {
                    "package" => match find_identity(&mum_ids, id) {
                        Some(i) => {
                            if mum_seen.insert(i) {
                                queue.push_back((mums[i].0.clone(), &mums[i].1));
                            }
                        }
                        None => plan.not_done.push(format!(
                            "package {id} (update {uname} of {from}) is not in the cabinet"
                        )),
                    },
                    "component" => add_component(
                        id,
                        &comp_ids,
                        &comps,
                        &mut state,
                        &mut order,
                        &mut plan.not_done,
                    ),
                    _ => plan.not_done.push(format!(
                        "driver {id} (update {uname} of {from}): driver installs are not done"
                    )),
                }
            }
        }
    }
    for (i, (name, _, _)) in comps.iter().enumerate() {
        if state[i] == 0 {
            plan.not_done.push(format!(
                "manifest {name} is not reached from update.mum; not installed"
            ));
        }
    }
    for (i, (name, _)) in mums.iter().enumerate() {
        if !mum_seen.contains(&i) {
            plan.not_done.push(format!(
                "package manifest {name} is not reached from update.mum; not installed"
            ));
        }
    }

    // Where payloads are.
    let mut by_name = HashMap::new();
    for e in entries {
        by_name.entry(norm_name(&e.name)).or_insert(e.index);
    }
    let cix_maps = cix.as_deref().map(|files| {
        let mut n = HashMap::new();
        let mut id = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            n.entry(norm_name(&f.name)).or_insert(i);
            id.entry(f.id.clone()).or_insert(i);
        }
        CixIndex {
            by_name: n,
            by_id: id,
            files,
        }
    });
    let lookup = Lookup {
        by_name,
        cix: cix_maps,
        sizes: entries.iter().map(|e| e.size as u64).collect(),
    };

    // Files and keys of each component.
    let mut files: Vec<PlannedFile> = Vec::new();
    let mut values: Vec<PlannedValue> = Vec::new();
    for &ci in &order {
        let (entry_name, stem, m) = &comps[ci];
        let id = &m.identity;
        for u in &m.unprocessed {
            plan.not_done.push(format!("component {id}: {u}"));
        }
        let wow64 = match placement(id.arch.as_deref(), image_arch) {
            Ok(w) => w,
            Err(why) => {
                plan.not_done.push(format!(
                    "component {id} ({entry_name}): {why}; its files and registry values are not laid out"
                ));
                continue;
            }
        };
        for f in &m.files {
            let Some(dest) = &f.destination_path else {
                plan.not_done.push(format!(
                    "component {id}: file {} has no destinationPath (it only lives in the WinSxS store, which is not built)",
                    q(&f.name)
                ));
                continue;
            };
            let path = match map_destination(dest, &f.name, wow64, image_64) {
                Ok(p) => p,
                Err(why) => {
                    plan.not_done
                        .push(format!("component {id}: file {}: {why}", q(&f.name)));
                    continue;
                }
            };
            for u in &f.unprocessed {
                plan.not_done
                    .push(format!("component {id}: {path}: {u} not processed"));
            }
            match lookup.find(stem, f) {
                Payload::Entry { index, sha1 } => files.push(PlannedFile {
                    path,
                    entry: index,
                    sha1,
                    component: id.clone(),
                    security_descriptor: f.security_descriptor.clone(),
                }),
                Payload::NotDone(why) => plan
                    .not_done
                    .push(format!("component {id}: {path} not laid out: {why}")),
            }
        }
        for k in &m.keys {
            let Some(kn) = &k.key_name else {
                plan.not_done
                    .push(format!("component {id}: <registryKey> without keyName"));
                continue;
            };
            let target = match map_registry_key(kn, wow64) {
                Ok(t) => t,
                Err(why) => {
                    plan.not_done.push(format!(
                        "component {id}: {why} ({} value(s))",
                        k.values.len()
                    ));
                    continue;
                }
            };
            for u in &k.unprocessed {
                plan.not_done
                    .push(format!("component {id}: key {kn}: {u} not applied"));
            }
            plan.keys.push((target.clone(), id.clone()));
            for v in &k.values {
                let Some(vt) = &v.value_type else {
                    plan.not_done.push(format!(
                        "component {id}: {kn} value {} has no valueType",
                        q(&v.name)
                    ));
                    continue;
                };
                match encode_value(vt, v.value.as_deref(), wow64, image_64) {
                    Ok((data_type, data)) => values.push(PlannedValue {
                        target: target.clone(),
                        name: v.name.clone(),
                        data_type,
                        data,
                        component: id.clone(),
                    }),
                    Err(why) => plan.not_done.push(format!(
                        "component {id}: {kn} value {} not written: {why}",
                        q(&v.name)
                    )),
                }
            }
        }
    }

    // The same destination from several components: the highest version
    // wins (ties: the later one).
    let mut best: BTreeMap<String, usize> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let k = f.path.to_uppercase();
        match best.get(&k) {
            Some(&j) if files[j].component.version_tuple() > f.component.version_tuple() => {}
            _ => {
                best.insert(k, i);
            }
        }
    }
    for (i, f) in files.iter().enumerate() {
        let j = best[&f.path.to_uppercase()];
        if i != j {
            plan.not_done.push(format!(
                "component {}: {} not laid out: superseded by {}",
                f.component, f.path, files[j].component
            ));
        }
    }
    let keep: HashSet<usize> = best.values().copied().collect();
    plan.files = files
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, f)| f)
        .collect();
    let vkey = |v: &PlannedValue| {
        (
            v.target.hive,
            v.target.current_control_set,
            v.target.path.to_uppercase(),
            v.name.to_uppercase(),
        )
    };
    let mut vbest: BTreeMap<_, usize> = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        match vbest.get(&vkey(v)) {
            Some(&j) if values[j].component.version_tuple() > v.component.version_tuple() => {}
            _ => {
                vbest.insert(vkey(v), i);
            }
        }
    }
    let vkeep: HashSet<usize> = vbest.values().copied().collect();
    for (i, v) in values.iter().enumerate() {
        if !vkeep.contains(&i) {
            let j = vbest[&vkey(v)];
            plan.not_done.push(format!(
                "component {}: value {} of {} not written: superseded by {}",
                v.component,
                q(&v.name),
                display_key(&v.target),
                values[j].component
            ));
        }
    }
    plan.values = values
        .into_iter()
        .enumerate()
        .filter(|(i, _)| vkeep.contains(i))
        .map(|(_, v)| v)
        .collect();
    Ok(plan)
}

/// Post-order walk from `id` through install/prerequisite dependencies
/// (iterative: a hostile cabinet cannot exhaust the stack).
fn add_component(
    id: &Identity,
    ids: &[&Identity],
    comps: &[(String, String, Manifest)],
    state: &mut [u8],
    order: &mut Vec<usize>,
    not_done: &mut Vec<String>,
) {
    let Some(start) = find_identity(ids, id) else {
        not_done.push(format!(
            "component {id} is not in the cabinet (CBS would take it from the image's store); not installed"
        ));
        return;
    };
    if state[start] != 0 {
        return;
    }
    state[start] = 1;
    let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
    while let Some(top) = stack.last_mut() {
        let (ci, pos) = *top;
        let deps = &comps[ci].2.dependencies;
        if pos >= deps.len() {
            state[ci] = 2;
            order.push(ci);
            stack.pop();
            continue;
        }
        top.1 += 1;
        let d = &deps[pos];
        let owner = &comps[ci].2.identity;
        let kind = d.dependency_type.as_deref().unwrap_or("install");
        let Some(did) = &d.identity else {
            not_done.push(format!(
                "component {owner}: <dependentAssembly> without an identity"
            ));
            continue;
        };
        if !(kind.eq_ignore_ascii_case("install") || kind.eq_ignore_ascii_case("prerequisite")) {
            not_done.push(format!(
                "component {owner}: dependency {did} of type {kind:?} not followed"
            ));
            continue;
        }
        match find_identity(ids, did) {
            Some(n) if state[n] == 0 => {
                state[n] = 1;
                stack.push((n, 0));
            }
            Some(_) => {}
            None if kind.eq_ignore_ascii_case("prerequisite") => not_done.push(format!(
                "component {owner}: prerequisite {did} is not in the cabinet; not checked against the image"
            )),
            None => not_done.push(format!(
                "component {owner}: dependency {did} is not in the cabinet (CBS would take it from the image's store); not installed"
            )),
        }
    }
}

/// `HKLM\SOFTWARE\...` style name of a target, for reports.
pub fn display_key(t: &KeyTarget) -> String {
    let mut s = format!("HKLM\\{}", t.hive.as_str());
    if t.current_control_set {
        s.push_str("\\CurrentControlSet");
    }
    if !t.path.is_empty() {
        s.push('\\');
        s.push_str(&t.path);
    }
    s
}

// ---------------------------------------------------------------------
// Carrying out a plan
// ---------------------------------------------------------------------

/// A file laid out.
#[derive(Debug, Clone, Serialize)]
pub struct ExpandedFile {
    /// Image path.
    pub path: String,
    pub size: u64,
    /// The cabinet entry it came from.
    pub source: String,
    pub component: String,
}

/// A value written.
#[derive(Debug, Clone, Serialize)]
pub struct ExpandedValue {
    pub hive: HiveName,
    /// Path below the hive's root (the control set resolved).
    pub key: String,
    pub name: String,
    pub data_type: String,
    pub data: String,
    pub component: String,
}

/// What expand did for one package (the JSON report's
/// `packages[].expand`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExpandReport {
    pub files: Vec<ExpandedFile>,
    pub registry: Vec<ExpandedValue>,
    /// Keys created (they did not exist), as `HIVE\path`.
    pub keys_created: Vec<String>,
    pub not_done: Vec<String>,
}

/// Extract the planned payloads into `dir` (one temporary file per
/// cabinet entry, decoded folder by folder, never all in memory); returns
/// (image path, temporary file) pairs in plan order. Entries whose SHA-1
/// differs from the container index are dropped into `report.not_done`.
pub fn extract_payloads(
    cab: &cab::Cabinet,
    plan: &ExpandPlan,
    dir: &Path,
    report: &mut ExpandReport,
) -> Result<Vec<(String, PathBuf)>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut want: BTreeMap<usize, Option<String>> = BTreeMap::new();
    for f in &plan.files {
        let e = want.entry(f.entry).or_insert(None);
        if f.sha1.is_some() {
            *e = f.sha1.clone();
        }
    }
    struct TempSink<'a> {
        dir: &'a Path,
        want: &'a BTreeMap<usize, Option<String>>,
        open: HashMap<usize, (std::fs::File, Sha1)>,
        bad: HashMap<usize, String>,
    }
    fn io_err(p: PathBuf, e: std::io::Error) -> cab::Error {
        cab::Error::Io { path: p, source: e }
    }
    impl cab::Sink for TempSink<'_> {
        fn begin(&mut self, e: &cab::FileEntry) -> cab::Result<()> {
            let p = self.dir.join(e.index.to_string());
            let f = std::fs::File::create(&p).map_err(|err| io_err(p, err))?;
            self.open.insert(e.index, (f, Sha1::new()));
            Ok(())
        }
        fn data(&mut self, e: &cab::FileEntry, b: &[u8]) -> cab::Result<()> {
            use std::io::Write;
            let (f, h) = self.open.get_mut(&e.index).expect("begin came first");
            h.update(b);
            f.write_all(b)
                .map_err(|err| io_err(self.dir.join(e.index.to_string()), err))
        }
        fn end(&mut self, e: &cab::FileEntry) -> cab::Result<()> {
            let (f, h) = self.open.remove(&e.index).expect("begin came first");
            drop(f);
            if let Some(Some(want)) = self.want.get(&e.index) {
                let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
                if &got != want {
                    self.bad.insert(
                        e.index,
                        format!("SHA-1 {got} differs from the container index's {want}"),
                    );
                }
            }
            Ok(())
        }
    }
    let idx: Vec<usize> = want.keys().copied().collect();
    let mut sink = TempSink {
        dir,
        want: &want,
        open: HashMap::new(),
        bad: HashMap::new(),
    };
    cab.extract_to(&idx, &mut sink)
        .map_err(|e| Error::stage("packages", e))?;
    let mut out = Vec::new();
    for f in &plan.files {
        let entry = &cab.files()[f.entry];
        if let Some(why) = sink.bad.get(&f.entry) {
            report.not_done.push(format!(
                "component {}: {} not laid out: {}: {why}",
                f.component, f.path, entry.name
            ));
            continue;
        }
        if let Some(sd) = &f.security_descriptor {
            report.not_done.push(format!(
                "component {}: security descriptor {sd} of {} not applied (the file takes its folder's)",
                f.component, f.path
            ));
        }
        out.push((f.path.clone(), dir.join(f.entry.to_string())));
        report.files.push(ExpandedFile {
            path: f.path.clone(),
            size: entry.size as u64,
            source: entry.name.clone(),
            component: f.component.to_string(),
        });
    }
    Ok(out)
}

/// Write the planned keys and values into the hives at hand (None: the
/// image has no such hive, and its values become `not_done` items).
pub fn apply_registry(
    plan: &ExpandPlan,
    mut software: Option<&mut Hive>,
    mut system: Option<&mut Hive>,
    report: &mut ExpandReport,
) {
    let ccs = system.as_deref().map(current_control_set);
    let resolve = |t: &KeyTarget| -> std::result::Result<String, String> {
        if t.current_control_set {
            match &ccs {
                Some(Ok(cs)) if t.path.is_empty() => Ok(cs.clone()),
                Some(Ok(cs)) => Ok(format!("{cs}\\{}", t.path)),
                Some(Err(e)) => Err(format!("CurrentControlSet: {e}")),
                None => Err("the image has no SYSTEM hive".into()),
            }
        } else {
            Ok(t.path.clone())
        }
    };
    let mut seen_keys: HashSet<(HiveName, String)> = HashSet::new();
    for (t, comp) in &plan.keys {
        let path = match resolve(t) {
            Ok(p) => p,
            Err(why) => {
                report.not_done.push(format!(
                    "component {comp}: {} not created: {why}",
                    display_key(t)
                ));
                continue;
            }
        };
        let h = match t.hive {
            HiveName::Software => software.as_deref_mut(),
            HiveName::System => system.as_deref_mut(),
        };
        let Some(h) = h else {
            report.not_done.push(format!(
                "component {comp}: {} not created: the image has no {} hive",
                display_key(t),
                t.hive.as_str()
            ));
            continue;
        };
        let existed = h.key(&path).is_some();
        match h.create_key(&path) {
            Ok(_) => {
                if !existed && seen_keys.insert((t.hive, path.to_uppercase())) {
                    report
                        .keys_created
                        .push(format!("{}\\{path}", t.hive.as_str()));
                }
            }
            Err(e) => report.not_done.push(format!(
                "component {comp}: {} not created: {e}",
                display_key(t)
            )),
        }
    }
    for v in &plan.values {
        let path = match resolve(&v.target) {
            Ok(p) => p,
            Err(why) => {
                report.not_done.push(format!(
                    "component {}: value {} of {} not written: {why}",
                    v.component,
                    q(&v.name),
                    display_key(&v.target)
                ));
                continue;
            }
        };
        let h = match v.target.hive {
            HiveName::Software => software.as_deref_mut(),
            HiveName::System => system.as_deref_mut(),
        };
        let Some(h) = h else {
            report.not_done.push(format!(
                "component {}: value {} of {} not written: the image has no {} hive",
                v.component,
                q(&v.name),
                display_key(&v.target),
                v.target.hive.as_str()
            ));
            continue;
        };
        match h.set_value(&path, &v.name, v.data_type, v.data.clone()) {
            Ok(()) => report.registry.push(ExpandedValue {
                hive: v.target.hive,
                key: path,
                name: v.name.clone(),
                data_type: hive::value::type_name(v.data_type),
                data: hive::value::display(v.data_type, &v.data),
                component: v.component.to_string(),
            }),
            Err(e) => report.not_done.push(format!(
                "component {}: value {} of {} not written: {e}",
                v.component,
                q(&v.name),
                display_key(&v.target)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_table() {
        assert_eq!(
            runtime_folder("system32", false, true),
            Some("Windows\\System32")
        );
        assert_eq!(
            runtime_folder("System32", true, true),
            Some("Windows\\SysWOW64")
        );
        assert_eq!(
            runtime_folder("drivers", false, true),
            Some("Windows\\System32\\drivers")
        );
        assert_eq!(
            runtime_folder("programFiles", true, true),
            Some("Program Files (x86)")
        );
        assert_eq!(
            runtime_folder("PROGRAMFILES", false, true),
            Some("Program Files")
        );
        assert_eq!(runtime_folder("bootDrive", false, true), Some(""));
        assert_eq!(
            runtime_folder("syswow64", false, false),
            None,
            "no SysWOW64 on x86"
        );
        assert_eq!(
            runtime_folder("syswow64", false, true),
            Some("Windows\\SysWOW64")
        );
        assert_eq!(runtime_folder("userProfile", false, true), None);
        // Every folder is a valid relative image path.
        for v in RUNTIME_VARIABLES {
            for f in [v.native, v.wow64] {
                for c in f.split('\\').filter(|c| !c.is_empty()) {
                    check_name(c).unwrap();
                }
            }
        }
    }

    #[test]
    fn destinations() {
        let m = |d: &str, n: &str, w: bool| map_destination(d, n, w, true);
        assert_eq!(
            m("$(runtime.system32)\\", "ucrtbase.dll", false).unwrap(),
            "Windows\\System32\\ucrtbase.dll"
        );
        assert_eq!(
            m("$(runtime.system32)\\", "ucrtbase.dll", true).unwrap(),
            "Windows\\SysWOW64\\ucrtbase.dll"
        );
        assert_eq!(
            m("$(runtime.drivers)", "x.sys", false).unwrap(),
            "Windows\\System32\\drivers\\x.sys"
        );
        assert_eq!(
            m(
                "$(runtime.programFiles)\\Windows Defender\\",
                "MpCmdRun.exe",
                true
            )
            .unwrap(),
            "Program Files (x86)\\Windows Defender\\MpCmdRun.exe"
        );
        assert_eq!(
            m("$(runtime.bootDrive)\\", "x.txt", false).unwrap(),
            "x.txt"
        );
        assert_eq!(
            m("$(runtime.system32)\\en-US\\", "a.dll.mui", false).unwrap(),
            "Windows\\System32\\en-US\\a.dll.mui"
        );
        assert_eq!(
            m("$(runtime.windows)", "sub\\f.txt", false).unwrap(),
            "Windows\\sub\\f.txt"
        );
        // Hostile or unknown: refused with a reason, never a path outside.
        for (d, n) in [
            ("$(runtime.system32)\\..\\..\\", "evil.dll"),
            ("$(runtime.system32)\\", "..\\..\\evil.dll"),
            ("$(runtime.system32)\\", ".."),
            ("$(runtime.system32)\\", "a/../../b"),
            ("C:\\Windows\\", "evil.dll"),
            ("\\Windows\\", "evil.dll"),
            ("Windows\\System32\\", "evil.dll"),
            ("$(runtime.nosuch)\\", "a.dll"),
            ("$(build.nttree)\\", "a.dll"),
            ("$(runtime.system32", "a.dll"),
            ("$(runtime.system32)x\\", "a.dll"),
            ("$(runtime.system32)\\$(runtime.windows)\\", "a.dll"),
            ("$(runtime.system32)\\", "C:evil.dll"),
            ("$(runtime.system32)\\", "a\u{1}b"),
            ("$(runtime.system32)\\", "con.txt"),
            ("$(runtime.system32)\\", "trailing."),
            ("$(runtime.system32)\\", ""),
            ("$(runtime.system32)\\config\\", "SYSTEM"),
            ("$(runtime.system32)\\", "stream:x"),
        ] {
            assert!(m(d, n, false).is_err(), "{d:?} {n:?} must be refused");
        }
    }

    #[test]
    fn placements() {
        assert_eq!(placement(Some("amd64"), "amd64"), Ok(false));
        assert_eq!(placement(Some("x86"), "amd64"), Ok(true));
        assert_eq!(placement(Some("wow64"), "amd64"), Ok(true));
        assert_eq!(placement(Some("neutral"), "x86"), Ok(false));
        assert_eq!(placement(Some("msil"), "amd64"), Ok(false));
        assert_eq!(placement(Some("x86"), "x86"), Ok(false));
        assert!(placement(Some("amd64"), "x86").is_err());
        assert!(placement(Some("arm64"), "amd64").is_err());
    }

    #[test]
    fn registry_keys() {
        let k = map_registry_key("HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\App", false).unwrap();
        assert_eq!(
            (k.hive, k.current_control_set, k.path.as_str()),
            (HiveName::Software, false, "Contoso\\App")
        );
        let k = map_registry_key("HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\App", true).unwrap();
        assert_eq!(k.path, "Wow6432Node\\Contoso\\App");
        let k =
            map_registry_key("HKEY_LOCAL_MACHINE\\Software\\Classes\\CLSID\\{x}", true).unwrap();
        assert_eq!(k.path, "Classes\\Wow6432Node\\CLSID\\{x}");
        let k = map_registry_key("HKEY_CLASSES_ROOT\\.foo", true).unwrap();
        assert_eq!(
            (k.hive, k.path.as_str()),
            (HiveName::Software, "Classes\\.foo")
        );
        let k = map_registry_key(
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Fonts",
            true,
        )
        .unwrap();
        assert_eq!(
            k.path, "Microsoft\\Windows NT\\CurrentVersion\\Fonts",
            "shared key"
        );
        let k = map_registry_key(
            "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\X\\",
            false,
        )
        .unwrap();
        assert_eq!(
            (k.hive, k.current_control_set, k.path.as_str()),
            (HiveName::System, true, "Services\\X")
        );
        let k = map_registry_key("HKLM\\SYSTEM\\Setup", false).unwrap();
        assert_eq!(
            (k.hive, k.current_control_set, k.path.as_str()),
            (HiveName::System, false, "Setup")
        );
        for bad in [
            "HKEY_CURRENT_USER\\Software\\X",
            "HKEY_USERS\\.DEFAULT\\X",
            "HKEY_LOCAL_MACHINE\\SAM\\X",
            "HKEY_LOCAL_MACHINE\\COMPONENTS\\X",
            "HKEY_LOCAL_MACHINE",
            "",
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\a\0b",
        ] {
            assert!(map_registry_key(bad, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values() {
        let e = |t: &str, v: Option<&str>| encode_value(t, v, false, true);
        assert_eq!(
            e("REG_SZ", Some("ab")).unwrap(),
            (REG_SZ, utf16z("ab", true))
        );
        assert_eq!(e("REG_SZ", None).unwrap(), (REG_SZ, vec![0, 0]));
        assert_eq!(
            e("REG_DWORD", Some("0x0000000a")).unwrap(),
            (REG_DWORD, vec![10, 0, 0, 0])
        );
        assert_eq!(e("REG_DWORD", Some("4294967295")).unwrap().1, vec![255; 4]);
        assert!(e("REG_DWORD", Some("4294967296")).is_err());
        assert!(e("REG_DWORD", Some("-1")).is_err());
        assert!(e("REG_DWORD", None).is_err());
        assert_eq!(
            e("REG_QWORD", Some("0x100000000")).unwrap(),
            (REG_QWORD, vec![0, 0, 0, 0, 1, 0, 0, 0])
        );
        assert_eq!(
            e("REG_BINARY", Some("01ff")).unwrap(),
            (REG_BINARY, vec![1, 255])
        );
        assert_eq!(e("REG_BINARY", Some("")).unwrap(), (REG_BINARY, vec![]));
        assert!(e("REG_BINARY", Some("0g")).is_err());
        assert!(e("REG_BINARY", Some("012")).is_err());
        assert_eq!(e("REG_NONE", None).unwrap(), (REG_NONE, vec![]));
        let mut want = utf16z("a", true);
        want.extend(utf16z("b c", true));
        want.extend([0, 0]);
        assert_eq!(
            e("REG_MULTI_SZ", Some("\"a\",\"b c\"")).unwrap(),
            (REG_MULTI_SZ, want)
        );
        assert_eq!(
            e("REG_MULTI_SZ", Some("")).unwrap(),
            (REG_MULTI_SZ, vec![0, 0])
        );
        for bad in ["a,b", "\"a\" \"b\"", "\"a", "\"a\",", "\"\""] {
            assert!(e("REG_MULTI_SZ", Some(bad)).is_err(), "{bad:?}");
        }
        assert!(e("REG_RESOURCE_LIST", Some("00")).is_err());
        // Variables in values.
        assert_eq!(
            e("REG_EXPAND_SZ", Some("$(runtime.system32)\\x.dll"))
                .unwrap()
                .1,
            utf16z("%SystemRoot%\\System32\\x.dll", true)
        );
        assert_eq!(
            e("REG_SZ", Some("$(runtime.system32)\\x.dll")).unwrap().1,
            utf16z("C:\\Windows\\System32\\x.dll", true)
        );
        assert_eq!(
            encode_value(
                "REG_EXPAND_SZ",
                Some("$(runtime.programFiles)\\A"),
                true,
                true
            )
            .unwrap()
            .1,
            utf16z("%SystemDrive%\\Program Files (x86)\\A", true)
        );
        assert_eq!(
            e("REG_EXPAND_SZ", Some("$(runtime.windows)")).unwrap().1,
            utf16z("%SystemRoot%", true)
        );
        assert!(e("REG_SZ", Some("$(runtime.unknown)\\x")).is_err());
        assert!(e("REG_SZ", Some("$(runtime.system32")).is_err());
    }

    const COMPONENT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="Contoso-Thing" version="6.1.7601.23140" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35" versionScope="nonSxS" />
  <dependency discoverable="false">
    <dependentAssembly dependencyType="install">
      <assemblyIdentity name="Other" version="1.0.0.0" processorArchitecture="x86" language="neutral" />
    </dependentAssembly>
  </dependency>
  <file name="thing.dll" destinationPath="$(runtime.system32)\" sourceName="thing.dll" sourcePath=".\" importPath="$(build.nttree)\">
    <securityDescriptor name="WRP_FILE_DEFAULT_SDDL" />
    <signatureInfo><signatureDescriptor PETrust="true" /></signatureInfo>
    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2"><dsig:DigestValue xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">x</dsig:DigestValue></asmv2:hash>
    <infFile />
  </file>
  <registryKeys>
    <registryKey keyName="HKEY_LOCAL_MACHINE\SOFTWARE\Contoso">
      <registryValue name="A" valueType="REG_SZ" value="a &amp; b" />
      <registryValue valueType="REG_DWORD" value="0x1" />
      <securityDescriptor name="KEY_SDDL" />
    </registryKey>
  </registryKeys>
  <memberships>
    <categoryMembership>
      <id name="Microsoft.Windows.Categories.Services" typeName="Service" />
      <categoryInstance subcategory="Thing">
        <serviceData name="ThingSvc" displayName="Thing" />
      </categoryInstance>
    </categoryMembership>
  </memberships>
  <trustInfo><security /></trustInfo>
  <configuration />
  <localization />
</assembly>"#;

    #[test]
    fn manifest_parser() {
        let m = parse_manifest(COMPONENT.as_bytes(), "t.manifest").unwrap();
        assert_eq!(m.identity.name, "Contoso-Thing");
        assert_eq!(m.identity.arch.as_deref(), Some("amd64"));
        assert_eq!(m.files.len(), 1);
        let f = &m.files[0];
        assert_eq!(f.name, "thing.dll");
        assert_eq!(f.destination_path.as_deref(), Some("$(runtime.system32)\\"));
        assert_eq!(f.source_path.as_deref(), Some(".\\"));
        assert_eq!(
            f.security_descriptor.as_deref(),
            Some("WRP_FILE_DEFAULT_SDDL")
        );
        assert_eq!(f.unprocessed, vec!["<infFile>"]);
        assert_eq!(m.keys.len(), 1);
        assert_eq!(m.keys[0].values[0].value.as_deref(), Some("a & b"));
        assert_eq!(m.keys[0].values[1].name, "");
        assert_eq!(m.keys[0].unprocessed, vec!["security descriptor KEY_SDDL"]);
        assert_eq!(m.dependencies.len(), 1);
        assert_eq!(m.dependencies[0].identity.as_ref().unwrap().name, "Other");
        let u = m.unprocessed.join("\n");
        for want in [
            "<memberships>",
            "category membership Service",
            "service ThingSvc",
            "<trustInfo>",
            "<configuration>",
        ] {
            assert!(u.contains(want), "{want} in {u}");
        }
        assert!(!u.contains("localization"));
        // UTF-16 with a BOM reads the same.
        let mut b = vec![0xFF, 0xFE];
        b.extend(COMPONENT.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(parse_manifest(&b, "t16").unwrap(), m);
    }

    #[test]
    fn hostile_manifests_are_errors_not_panics() {
        assert!(matches!(
            parse_manifest(b"DCM\x01abcdef", "d"),
            Err(ManifestError::Dcm { .. })
        ));
        for bad in [
            &b"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\"><file></assembly>"[..],
            b"<notassembly/>",
            b"<assembly/>",
            b"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\"></assembly>",
            b"\xff\xfe\x00",
            b"\xc3\x28",
            b"",
            b"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\"><assemblyIdentity name=\"a\" x=\"&bogus;\"/></assembly>",
        ] {
            let r = parse_manifest(bad, "bad.manifest");
            let e = r.expect_err("must be an error");
            assert!(e.to_string().contains("bad.manifest"), "{e}");
        }
        // Deep nesting is fine (no recursion).
        let mut deep = String::from(
            "<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\"><assemblyIdentity name=\"a\"/>",
        );
        deep.push_str(&"<x>".repeat(10000));
        deep.push_str(&"</x>".repeat(10000));
        deep.push_str("</assembly>");
        assert!(parse_manifest(deep.as_bytes(), "deep").is_ok());
    }

    #[test]
    fn cix_parser() {
        let x = br#"<?xml version="1.0"?><Container xmlns="urn:ContainerIndex"><Files>
<File id="1" name="a_b\x.dll" length="3"><Hash alg="SHA1" value="AB"/><Delta><Source type="RAW" name="0"><Hash alg="SHA1" value="ab"/></Source></Delta></File>
<File id="2" name="c\x.dll" length="3"><Hash alg="SHA1" value="ab"/><Delta><Basis file="1"/></Delta></File>
<File id="3" name="d\y.dll" length="9"><Delta><Source type="PA30" name="1"/><Basis file="1"/></Delta></File>
</Files></Container>"#;
        let c = parse_cix(x, "cix").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].source, Some(("RAW".into(), "0".into())));
        assert_eq!(c[0].sha1.as_deref(), Some("ab"));
        assert_eq!(c[1].basis.as_deref(), Some("1"));
        assert_eq!(c[2].source.as_ref().unwrap().0, "PA30");
        assert!(parse_cix(b"<Container><Files><File></Container>", "cix").is_err());
    }

    #[test]
    fn multi_sz_form() {
        assert_eq!(parse_multi_sz(" \"a\" , \"b\" ").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_multi_sz("\"a,b\"").unwrap(), vec!["a,b"]);
    }

    fn sha1_hex(b: &[u8]) -> String {
        Sha1::digest(b).iter().map(|x| format!("{x:02x}")).collect()
    }

    fn comp(name: &str, arch: &str, body: &str) -> String {
        format!(
            "<assembly xmlns=\"{ASM_V3}\"><assemblyIdentity name=\"{name}\" version=\"1.0.0.0\" processorArchitecture=\"{arch}\" language=\"neutral\"/>{body}</assembly>"
        )
    }

    fn dep(name: &str, arch: &str) -> String {
        format!("<dependency><dependentAssembly dependencyType=\"install\"><assemblyIdentity name=\"{name}\" processorArchitecture=\"{arch}\" language=\"neutral\"/></dependentAssembly></dependency>")
    }

    /// A package whose components depend on each other in a cycle, with a
    /// container index mixing good and bad entries.
    fn test_cab() -> cab::Cabinet {
        use cab::write::{CabWriter, WriteMethod};
        let mut w = CabWriter::new();
        let f = w.folder(WriteMethod::MsZip(6));
        let mum = format!(
            "<assembly xmlns=\"{ASM_V3}\"><assemblyIdentity name=\"P\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/><package identifier=\"P\">\
             <update name=\"u1\"><component><assemblyIdentity name=\"A\" processorArchitecture=\"amd64\" language=\"neutral\"/></component></update>\
             <update name=\"u2\"><driver><assemblyIdentity name=\"D\"/></driver></update>\
             <update name=\"u3\"><package><assemblyIdentity name=\"Nope\"/></package></update>\
             </package></assembly>"
        );
        w.file(f, "update.mum", mum.as_bytes());
        let files = "<file name=\"raw.dll\" destinationPath=\"$(runtime.system32)\\\"/>\
                     <file name=\"same.dll\" destinationPath=\"$(runtime.system32)\\\"/>\
                     <file name=\"badhash.dll\" destinationPath=\"$(runtime.system32)\\\"/>\
                     <file name=\"badlen.dll\" destinationPath=\"$(runtime.system32)\\\"/>\
                     <file name=\"loop.dll\" destinationPath=\"$(runtime.system32)\\\"/>\
                     <file name=\"delta.dll\" destinationPath=\"$(runtime.system32)\\\"/>\
                     <file name=\"direct.dll\" destinationPath=\"$(runtime.system32)\\\"/>";
        let a = comp(
            "A",
            "amd64",
            &format!("{}{}{files}", dep("B", "x86"), dep("Missing", "amd64")),
        );
        w.file(f, "amd64_a_0_1.0.0.0_none_0.manifest", a.as_bytes());
        let b = comp(
            "B",
            "x86",
            &format!(
                "{}<file name=\"b.dll\" destinationPath=\"$(runtime.system32)\\\"/>\
                 <registryKeys><registryKey keyName=\"HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\B\"><registryValue name=\"Start\" valueType=\"REG_DWORD\" value=\"2\"/></registryKey>\
                 <registryKey keyName=\"HKEY_LOCAL_MACHINE\\SOFTWARE\\B\"><registryValue name=\"V\" valueType=\"REG_SZ\" value=\"x\"/></registryKey></registryKeys>",
                dep("A", "amd64")
            ),
        );
        w.file(f, "x86_b_0_1.0.0.0_none_0.manifest", b.as_bytes());
        w.file(f, "x86_b_0_1.0.0.0_none_0\\b.dll", b"B payload");
        w.file(f, "amd64_a_0_1.0.0.0_none_0\\direct.dll", b"direct payload");
        w.file(f, "orphan.manifest", comp("O", "amd64", "").as_bytes());
        w.file(f, "update.cat", b"cat");
        let raw = b"raw payload".to_vec();
        w.file(f, "p0", &raw);
        w.file(f, "p1", b"unexpected");
        w.file(f, "p2", b"PA30....");
        let stem = "amd64_a_0_1.0.0.0_none_0";
        let h = sha1_hex(&raw);
        let cix = format!(
            "<Container xmlns=\"urn:ContainerIndex\"><Files>\
             <File id=\"1\" name=\"{stem}\\raw.dll\" length=\"11\"><Hash alg=\"SHA1\" value=\"{h}\"/><Delta><Source type=\"RAW\" name=\"p0\"/></Delta></File>\
             <File id=\"2\" name=\"{stem}\\same.dll\" length=\"11\"><Hash alg=\"SHA1\" value=\"{h}\"/><Delta><Basis file=\"1\"/></Delta></File>\
             <File id=\"3\" name=\"{stem}\\badhash.dll\" length=\"10\"><Hash alg=\"SHA1\" value=\"{h}\"/><Delta><Source type=\"RAW\" name=\"p1\"/></Delta></File>\
             <File id=\"4\" name=\"{stem}\\badlen.dll\" length=\"99\"><Delta><Source type=\"RAW\" name=\"p0\"/></Delta></File>\
             <File id=\"5\" name=\"{stem}\\loop.dll\"><Delta><Basis file=\"6\"/></Delta></File>\
             <File id=\"6\" name=\"x\"><Delta><Basis file=\"5\"/></Delta></File>\
             <File id=\"7\" name=\"{stem}\\delta.dll\"><Delta><Source type=\"PA30\" name=\"p2\"/><Basis file=\"1\"/></Delta></File>\
             </Files></Container>"
        );
        w.file(f, "_manifest_.cix.xml", cix.as_bytes());
        cab::Cabinet::from_bytes("test.cab", w.build()).unwrap()
    }

    #[test]
    fn plan_follows_updates_and_dependencies_and_reads_the_container_index() {
        let cab = test_cab();
        let plan = plan_package(&cab, "amd64").unwrap();
        let nd = plan.not_done.join("\n");
        let paths: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
        // B (x86, a dependency of A, which depends back on A) comes first
        // and goes to SysWOW64.
        assert_eq!(
            paths,
            [
                "Windows\\SysWOW64\\b.dll",
                "Windows\\System32\\raw.dll",
                "Windows\\System32\\same.dll",
                "Windows\\System32\\badhash.dll",
                "Windows\\System32\\direct.dll",
            ],
            "{nd}"
        );
        for want in [
            "badlen.dll not laid out: the container index says 99 bytes",
            "loop.dll not laid out: the container index's basis chain is too long or circular",
            "delta.dll not laid out: stored as an MSDelta PA30 delta",
            "dependency Missing",
            "driver D",
            "package Nope",
            "manifest orphan.manifest is not reached",
            "catalog update.cat",
        ] {
            assert!(nd.contains(want), "{want} missing from\n{nd}");
        }
        // x86 B's SOFTWARE key is redirected; its service key goes to the
        // current control set.
        assert!(plan.needs(HiveName::Software) && plan.needs(HiveName::System));
        assert!(plan
            .values
            .iter()
            .any(|v| v.target.path == "Wow6432Node\\B" && v.name == "V"));

        // Extraction: files in a temporary folder, the bad hash dropped.
        let dir = tempfile::tempdir().unwrap();
        let mut rep = ExpandReport::default();
        let out = extract_payloads(&cab, &plan, dir.path(), &mut rep).unwrap();
        let got: Vec<(&str, Vec<u8>)> = out
            .iter()
            .map(|(p, t)| (p.as_str(), std::fs::read(t).unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Windows\\SysWOW64\\b.dll", b"B payload".to_vec()),
                ("Windows\\System32\\raw.dll", b"raw payload".to_vec()),
                ("Windows\\System32\\same.dll", b"raw payload".to_vec()),
                ("Windows\\System32\\direct.dll", b"direct payload".to_vec()),
            ]
        );
        assert!(rep
            .not_done
            .iter()
            .any(|n| n.contains("badhash.dll") && n.contains("SHA-1")));

        // Registry: Select\Current names ControlSet002.
        let mut sys = Hive::new(5, "SYSTEM");
        sys.set_value("Select", "Current", REG_DWORD, 2u32.to_le_bytes().to_vec())
            .unwrap();
        sys.create_key("ControlSet002").unwrap();
        let mut rep = ExpandReport::default();
        apply_registry(&plan, None, Some(&mut sys), &mut rep);
        let v = sys
            .key("ControlSet002\\Services\\B")
            .unwrap()
            .value("Start")
            .unwrap();
        assert_eq!(
            (v.data_type, v.data.as_slice()),
            (REG_DWORD, &[2u8, 0, 0, 0][..])
        );
        assert_eq!(rep.registry.len(), 1);
        assert!(rep
            .not_done
            .iter()
            .any(|n| n.contains("\"V\"") && n.contains("the image has no SOFTWARE hive")));
        // A SYSTEM hive without Select: reported, nothing written.
        let mut bare = Hive::new(5, "SYSTEM");
        let mut rep = ExpandReport::default();
        apply_registry(&plan, None, Some(&mut bare), &mut rep);
        assert!(rep.registry.is_empty());
        assert!(bare.key("ControlSet002").is_none());
        assert!(rep.not_done.iter().any(|n| n.contains("CurrentControlSet")));
    }

    #[test]
    fn amd64_components_do_not_land_on_x86_images() {
        let cab = test_cab();
        let plan = plan_package(&cab, "x86").unwrap();
        // B is x86 (native there); A (amd64) is refused.
        assert_eq!(
            plan.files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["Windows\\System32\\b.dll"]
        );
        assert!(plan
            .not_done
            .iter()
            .any(|n| n.contains("component architecture amd64 does not fit the x86 image")));
    }

    #[test]
    fn mutated_manifests_never_panic() {
        // Deterministic byte mutations of a real-shaped manifest and index:
        // every outcome is a manifest or a typed error.
        let seeds: [&[u8]; 2] = [
            COMPONENT.as_bytes(),
            br#"<Container xmlns="urn:ContainerIndex"><Files><File id="1" name="a\b" length="3"><Hash alg="SHA1" value="ab"/><Delta><Source type="RAW" name="0"/><Basis file="1"/></Delta></File></Files></Container>"#,
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seed in seeds {
            for _ in 0..3000 {
                let mut b = seed.to_vec();
                for _ in 0..(next() % 8 + 1) {
                    let i = (next() as usize) % b.len();
                    match next() % 3 {
                        0 => b[i] = next() as u8,
                        1 => {
                            b.remove(i);
                        }
                        _ => b.insert(i, b"<>\"&/\\$()"[(next() % 9) as usize]),
                    }
                }
                if let Ok(m) = parse_manifest(&b, "m") {
                    for f in &m.files {
                        if let Some(d) = &f.destination_path {
                            if let Ok(p) = map_destination(d, &f.name, false, true) {
                                assert!(p.split('\\').all(|c| check_name(c).is_ok()), "{p}");
                            }
                        }
                    }
                }
                let _ = parse_cix(&b, "c");
            }
        }
    }
}
