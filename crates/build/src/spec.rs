//! The build spec (`spec.toml`): what disk to make from which image, and
//! what to put into it. Parsing is strict (unknown keys are errors) and
//! every semantic error names the key it is about. Paths in the spec are
//! relative to the spec file's directory.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file as written (see the README for a full example).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    /// `"nano-container-host"` selects packages, files, service and script
    /// for a Nano Server container host.
    pub profile: Option<String>,
    /// Output path (the CLI's `-o` overrides it).
    pub output: Option<String>,
    /// Seed for reproducible GUIDs, serial numbers and timestamps.
    pub seed: Option<u64>,
    #[serde(default)]
    pub disk: RawDisk,
    pub image: Option<RawImage>,
    #[serde(default)]
    pub packages: RawPackages,
    pub unattend: Option<RawUnattend>,
    #[serde(default)]
    pub files: Vec<RawFile>,
    pub docker: Option<RawDocker>,
    #[serde(default)]
    pub first_boot: RawFirstBoot,
    #[serde(default)]
    pub boot: RawBoot,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDisk {
    pub format: Option<String>,
    pub size: Option<SizeValue>,
    #[serde(rename = "type")]
    pub disk_type: Option<String>,
    pub block_size: Option<SizeValue>,
    pub logical_sector_size: Option<u32>,
    pub physical_sector_size: Option<u32>,
    pub layout: Option<String>,
    pub cluster_size: Option<SizeValue>,
    pub label: Option<String>,
}

/// A size written as a number of bytes or a string such as `"8 GiB"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    pub wim: Option<String>,
    pub index: Option<u32>,
    pub name: Option<String>,
    #[serde(default)]
    pub refs: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackages {
    pub mode: Option<String>,
    pub strict: Option<bool>,
    /// Directory holding the profile's package CABs (and `en-us\`).
    pub source: Option<String>,
    #[serde(default)]
    pub cabs: Vec<String>,
    /// Language CABs, installed after every base package.
    #[serde(default)]
    pub language: Vec<String>,
    /// Language of the profile's language packs (default `en-us`).
    pub lang: Option<String>,
    /// Folder in the image that receives staged CABs (default `Packages`).
    pub stage_dir: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnattend {
    pub file: Option<String>,
    pub computer_name: Option<String>,
    pub administrator_password: Option<String>,
    pub time_zone: Option<String>,
    pub registered_owner: Option<String>,
    pub registered_organization: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub source: Option<String>,
    pub dest: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocker {
    pub mode: Option<String>,
    /// Local docker.exe (nssm mode) or dockerd.exe (native mode).
    pub binary: Option<String>,
    /// Local nssm.exe (nssm mode).
    pub nssm: Option<String>,
    /// Arguments for the daemon.
    pub args: Option<String>,
    /// Service name (default `docker`).
    pub service_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFirstBoot {
    #[serde(default)]
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBoot {
    pub locale: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<u32>,
}

/// Container file of the output disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    Vhdx,
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    Dynamic,
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Uefi,
    Bios,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageMode {
    /// Copy CABs into the image; install at first boot with `dism /online`.
    Stage,
    /// Experimental: lay out payload files and registry values offline.
    Expand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerMode {
    /// `nssm.exe` runs `docker.exe` as a service.
    Nssm,
    /// `dockerd.exe --run-service`, as `dockerd --register-service` sets it up.
    Native,
}

#[derive(Debug, Clone)]
pub struct DiskSpec {
    pub format: DiskFormat,
    /// `disk.format` was written in the spec (else the output path's
    /// extension decides: `.img`/`.raw` raw, anything else VHDX).
    pub format_given: bool,
    pub size: u64,
    pub disk_type: DiskType,
    pub block_size: u32,
    pub logical_sector_size: u32,
    pub physical_sector_size: u32,
    pub layout: Layout,
    pub cluster_size: u32,
    pub label: String,
}

#[derive(Debug, Clone)]
pub enum ImageSelector {
    Index(u32),
    Name(String),
}

#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub wim: PathBuf,
    pub select: ImageSelector,
    pub refs: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct PackagesSpec {
    pub mode: PackageMode,
    pub strict: bool,
    pub cabs: Vec<PathBuf>,
    pub language: Vec<PathBuf>,
    pub stage_dir: String,
}

#[derive(Debug, Clone, Default)]
pub struct UnattendSpec {
    pub file: Option<PathBuf>,
    pub computer_name: Option<String>,
    pub administrator_password: Option<String>,
    pub time_zone: Option<String>,
    pub registered_owner: Option<String>,
    pub registered_organization: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FileSpec {
    pub source: PathBuf,
    /// Image path with backslashes, no leading one.
    pub dest: String,
}

#[derive(Debug, Clone)]
pub struct DockerSpec {
    pub mode: DockerMode,
    pub binary: PathBuf,
    pub nssm: Option<PathBuf>,
    pub args: String,
    pub service_name: String,
}

#[derive(Debug, Clone)]
pub struct BootSpec {
    pub locale: String,
    pub description: String,
    pub timeout: u32,
}

/// A validated spec with every path resolved.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub profile: Option<String>,
    pub output: Option<PathBuf>,
    pub seed: Option<u64>,
    pub disk: DiskSpec,
    pub image: ImageSpec,
    pub packages: PackagesSpec,
    pub unattend: Option<UnattendSpec>,
    pub files: Vec<FileSpec>,
    pub docker: Option<DockerSpec>,
    pub first_boot: Vec<String>,
    pub boot: BootSpec,
    /// Notes from validation and the profile (e.g. risky package choices).
    pub warnings: Vec<String>,
}

/// The profile name this build knows.
pub const NANO_CONTAINER_HOST: &str = "nano-container-host";

/// Packages the `nano-container-host` profile installs, in order.
pub const NANO_PACKAGES: [&str; 4] = ["Guest", "OEM-Drivers", "Compute", "Containers"];

impl DiskFormat {
    /// The format an output path implies: `.img`/`.raw` raw, else VHDX.
    pub fn from_path(p: &Path) -> DiskFormat {
        match p.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("img") || e.eq_ignore_ascii_case("raw") => {
                DiskFormat::Raw
            }
            _ => DiskFormat::Vhdx,
        }
    }
}

/// Parse a size: bytes, or a number with K/M/G/T (powers of 1024, with
/// or without `iB`/`B`), e.g. `"8 GiB"`, `"512M"`, `"1.5G"`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let mult: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use K, M, G or T)")),
    };
    if num.is_empty() {
        return Err(format!("{s:?} is not a size"));
    }
    let v: f64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let bytes = v * mult as f64;
    if !(bytes.is_finite() && (0.0..1.8e19).contains(&bytes)) || bytes.fract() != 0.0 {
        return Err(format!("{s:?} is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

fn key_err(key: &str, msg: impl std::fmt::Display) -> Error {
    Error::Spec {
        key: key.to_string(),
        message: msg.to_string(),
    }
}

fn size_of(key: &str, v: &Option<SizeValue>, default: u64) -> Result<u64> {
    match v {
        None => Ok(default),
        Some(SizeValue::Bytes(b)) => Ok(*b),
        Some(SizeValue::Text(t)) => parse_size(t).map_err(|e| key_err(key, e)),
    }
}

fn one_of<'a>(
    key: &str,
    v: Option<&'a str>,
    default: &'a str,
    allowed: &[&str],
) -> Result<&'a str> {
    let s = v.unwrap_or(default);
    if allowed.contains(&s) {
        Ok(s)
    } else {
        Err(key_err(
            key,
            format!("{s:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// Normalise an image path: backslashes, no leading separator, no `..`,
/// `.`, drive letters, streams or characters Windows forbids in names.
pub fn image_path(key: &str, p: &str) -> Result<String> {
    let mut out = Vec::new();
    for c in p.split(['\\', '/']).filter(|c| !c.is_empty()) {
        if c == "." || c == ".." {
            return Err(key_err(key, format!("{p:?}: `.` and `..` are not allowed")));
        }
        if let Some(bad) = c
            .chars()
            .find(|ch| matches!(ch, '<' | '>' | ':' | '"' | '|' | '?' | '*') || (*ch as u32) < 32)
        {
            return Err(key_err(
                key,
                format!("{p:?}: {bad:?} is not allowed in a Windows file name"),
            ));
        }
        if c.ends_with(' ') || c.ends_with('.') {
            return Err(key_err(
                key,
                format!("{p:?}: a name may not end with a space or a dot"),
            ));
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(key_err(key, format!("{p:?} names no file")));
    }
    Ok(out.join("\\"))
}

impl Spec {
    /// Read and validate a spec file.
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Spec::parse(&text, path)
    }

    /// Validate spec text; `path` names the file and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Spec> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| Error::SpecSyntax {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Spec::resolve(raw, path, &base)
    }

    fn resolve(raw: RawSpec, path: &Path, base: &Path) -> Result<Spec> {
        let rel = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let existing = |key: &str, p: &str| -> Result<PathBuf> {
            let full = rel(p);
            if !full.is_file() {
                return Err(key_err(
                    key,
                    format!("{} does not exist or is not a file", full.display()),
                ));
            }
            Ok(full)
        };
        let mut warnings = Vec::new();
        let profile = raw.profile.clone();
        let nano = match profile.as_deref() {
            None => false,
            Some(NANO_CONTAINER_HOST) => true,
            Some(other) => {
                return Err(key_err(
                    "profile",
                    format!("unknown profile {other:?} (known: {NANO_CONTAINER_HOST})"),
                ))
            }
        };
        let output = raw.output.as_deref().map(rel);

        // [disk]
        let d = &raw.disk;
        let default_format = match output.as_deref().map(DiskFormat::from_path) {
            Some(DiskFormat::Raw) => "raw",
            _ => "vhdx",
        };
        let format = match one_of(
            "disk.format",
            d.format.as_deref(),
            default_format,
            &["vhdx", "raw"],
        )? {
            "raw" => DiskFormat::Raw,
            _ => DiskFormat::Vhdx,
        };
        let size = size_of("disk.size", &d.size, 8 << 30)?;
        let disk_type = match one_of(
            "disk.type",
            d.disk_type.as_deref(),
            "dynamic",
            &["dynamic", "fixed"],
        )? {
            "fixed" => DiskType::Fixed,
            _ => DiskType::Dynamic,
        };
        if format == DiskFormat::Raw && d.disk_type.is_some() {
            warnings.push("disk.type applies to VHDX only; a raw image is always sparse".into());
        }
        let block_size = size_of("disk.block_size", &d.block_size, 32 << 20)?;
        if !(1 << 20..=256 << 20).contains(&block_size) || !block_size.is_power_of_two() {
            return Err(key_err(
                "disk.block_size",
                "must be a power of two from 1 MiB to 256 MiB",
            ));
        }
        let logical = d.logical_sector_size.unwrap_or(512);
        if logical != 512 && logical != 4096 {
            return Err(key_err("disk.logical_sector_size", "must be 512 or 4096"));
        }
        let physical = d.physical_sector_size.unwrap_or(4096);
        if physical != 512 && physical != 4096 {
            return Err(key_err("disk.physical_sector_size", "must be 512 or 4096"));
        }
        let layout = match one_of(
            "disk.layout",
            d.layout.as_deref(),
            "uefi",
            &["uefi", "bios"],
        )? {
            "bios" => Layout::Bios,
            _ => Layout::Uefi,
        };
        let cluster_size = size_of("disk.cluster_size", &d.cluster_size, 4096)?;
        if !(512..=65536).contains(&cluster_size) || !cluster_size.is_power_of_two() {
            return Err(key_err(
                "disk.cluster_size",
                "must be a power of two from 512 bytes to 64 KiB",
            ));
        }
        if size % (1 << 20) != 0 {
            return Err(key_err("disk.size", "must be a whole number of MiB"));
        }
        let min = if layout == Layout::Uefi {
            400 << 20
        } else {
            64 << 20
        };
        if size < min {
            return Err(key_err(
                "disk.size",
                format!(
                    "{size} bytes is too small for the {layout:?} layout (at least {} MiB)",
                    min >> 20
                ),
            ));
        }
        if size > 64 << 40 {
            return Err(key_err("disk.size", "larger than 64 TiB (the VHDX limit)"));
        }
        let label = d.label.clone().unwrap_or_else(|| "Windows".into());
        if label.encode_utf16().count() > 32 {
            return Err(key_err(
                "disk.label",
                "an NTFS label has at most 32 characters",
            ));
        }

        // [image]
        let img = raw
            .image
            .as_ref()
            .ok_or_else(|| key_err("image", "missing: the spec needs an [image] with wim = ..."))?;
        let wim = existing(
            "image.wim",
            img.wim
                .as_deref()
                .ok_or_else(|| key_err("image.wim", "missing"))?,
        )?;
        let select = match (img.index, &img.name) {
            (Some(_), Some(_)) => {
                return Err(key_err("image", "give index or name, not both"));
            }
            (Some(0), None) => return Err(key_err("image.index", "indexes start at 1")),
            (Some(i), None) => ImageSelector::Index(i),
            (None, Some(n)) => ImageSelector::Name(n.clone()),
            (None, None) => ImageSelector::Index(1),
        };
        let mut refs = Vec::new();
        for (i, r) in img.refs.iter().enumerate() {
            let pattern = rel(r);
            let key = format!("image.refs[{i}]");
            let matches: Vec<PathBuf> = glob::glob(&pattern.to_string_lossy())
                .map_err(|e| key_err(&key, e))?
                .filter_map(|m| m.ok())
                .collect();
            if matches.is_empty() {
                return Err(key_err(
                    &key,
                    format!("{} matches no file", pattern.display()),
                ));
            }
            refs.extend(matches);
        }

        // [packages]
        let p = &raw.packages;
        let mode = match one_of(
            "packages.mode",
            p.mode.as_deref(),
            "stage",
            &["stage", "expand"],
        )? {
            "expand" => PackageMode::Expand,
            _ => PackageMode::Stage,
        };
        let mut cabs = Vec::new();
        let mut language = Vec::new();
        if nano {
            let lang = p.lang.clone().unwrap_or_else(|| "en-us".into());
            let src = p.source.as_deref().ok_or_else(|| {
                key_err(
                    "packages.source",
                    "the nano-container-host profile needs the directory holding its package CABs",
                )
            })?;
            let dir = rel(src);
            for name in NANO_PACKAGES {
                let file = format!("Microsoft-NanoServer-{name}-Package.cab");
                let base_cab = dir.join(&file);
                if !base_cab.is_file() {
                    return Err(key_err(
                        "packages.source",
                        format!(
                            "{} is missing (the profile installs {name})",
                            base_cab.display()
                        ),
                    ));
                }
                cabs.push(base_cab);
                // RTM media: <lang>\<Name>_<lang>.cab; TP media: <lang>\<Name>.cab.
                let rtm = dir
                    .join(&lang)
                    .join(format!("Microsoft-NanoServer-{name}-Package_{lang}.cab"));
                let tp = dir.join(&lang).join(&file);
                if rtm.is_file() {
                    language.push(rtm);
                } else if tp.is_file() {
                    language.push(tp);
                } else {
                    return Err(key_err(
                        "packages.source",
                        format!(
                            "no {lang} language CAB for {name} ({} or {})",
                            rtm.display(),
                            tp.display()
                        ),
                    ));
                }
            }
            warnings.push(
                "profile nano-container-host installs OEM-Drivers together with Guest; Microsoft's \
                 released New-NanoServerImage refuses that combination (ERR_INCLUDE_OEM_WITH_DT_GUEST)"
                    .into(),
            );
        } else if p.source.is_some() || p.lang.is_some() {
            return Err(key_err(
                "packages.source",
                "only used by a profile; list CABs in packages.cabs",
            ));
        }
        for (i, c) in p.cabs.iter().enumerate() {
            cabs.push(existing(&format!("packages.cabs[{i}]"), c)?);
        }
        for (i, c) in p.language.iter().enumerate() {
            language.push(existing(&format!("packages.language[{i}]"), c)?);
        }
        let stage_dir = image_path(
            "packages.stage_dir",
            p.stage_dir.as_deref().unwrap_or("Packages"),
        )?;

        // [unattend]
        let unattend = match &raw.unattend {
            None => None,
            Some(u) => {
                let file = match &u.file {
                    Some(f) => Some(existing("unattend.file", f)?),
                    None => None,
                };
                if let Some(n) = &u.computer_name {
                    validate_computer_name(n).map_err(|e| key_err("unattend.computer_name", e))?;
                }
                let fields = u.computer_name.is_some()
                    || u.administrator_password.is_some()
                    || u.time_zone.is_some()
                    || u.registered_owner.is_some()
                    || u.registered_organization.is_some();
                if file.is_none() && !fields {
                    return Err(key_err("unattend", "give file = ... or at least one field"));
                }
                Some(UnattendSpec {
                    file,
                    computer_name: u.computer_name.clone(),
                    administrator_password: u.administrator_password.clone(),
                    time_zone: u.time_zone.clone(),
                    registered_owner: u.registered_owner.clone(),
                    registered_organization: u.registered_organization.clone(),
                })
            }
        };

        // [docker]
        let docker = match (&raw.docker, nano) {
            (None, true) => {
                return Err(key_err(
                    "docker",
                    "the nano-container-host profile needs [docker] with binary = and nssm =",
                ))
            }
            (None, false) => None,
            (Some(dk), _) => {
                let mode = match one_of(
                    "docker.mode",
                    dk.mode.as_deref(),
                    "nssm",
                    &["nssm", "native"],
                )? {
                    "native" => DockerMode::Native,
                    _ => DockerMode::Nssm,
                };
                let binary = existing(
                    "docker.binary",
                    dk.binary
                        .as_deref()
                        .ok_or_else(|| key_err("docker.binary", "missing"))?,
                )?;
                let nssm = match (mode, &dk.nssm) {
                    (DockerMode::Nssm, None) => {
                        return Err(key_err("docker.nssm", "missing (nssm mode needs nssm.exe)"))
                    }
                    (DockerMode::Nssm, Some(n)) => Some(existing("docker.nssm", n)?),
                    (DockerMode::Native, Some(_)) => {
                        return Err(key_err("docker.nssm", "only used in nssm mode"))
                    }
                    (DockerMode::Native, None) => None,
                };
                let service_name = dk.service_name.clone().unwrap_or_else(|| "docker".into());
                if service_name.is_empty()
                    || service_name.len() > 256
                    || service_name.contains(['\\', '/'])
                {
                    return Err(key_err(
                        "docker.service_name",
                        "1 to 256 characters, no slashes",
                    ));
                }
                let args = dk.args.clone().unwrap_or_else(|| match mode {
                    DockerMode::Nssm => "daemon -D".into(),
                    DockerMode::Native => String::new(),
                });
                Some(DockerSpec {
                    mode,
                    binary,
                    nssm,
                    args,
                    service_name,
                })
            }
        };

        // [[files]]
        let mut files = Vec::new();
        for (i, f) in raw.files.iter().enumerate() {
            let source = existing(
                &format!("files[{i}].source"),
                f.source
                    .as_deref()
                    .ok_or_else(|| key_err(&format!("files[{i}].source"), "missing"))?,
            )?;
            let dest = image_path(
                &format!("files[{i}].dest"),
                f.dest
                    .as_deref()
                    .ok_or_else(|| key_err(&format!("files[{i}].dest"), "missing"))?,
            )?;
            files.push(FileSpec { source, dest });
        }
        for (i, c) in raw.first_boot.commands.iter().enumerate() {
            if c.contains(['\r', '\n']) || !c.is_ascii() {
                return Err(key_err(
                    &format!("first_boot.commands[{i}]"),
                    "one line of ASCII per command (SetupComplete.cmd is ASCII)",
                ));
            }
        }
        let boot = BootSpec {
            locale: raw.boot.locale.clone().unwrap_or_else(|| "en-US".into()),
            description: raw
                .boot
                .description
                .clone()
                .unwrap_or_else(|| "Windows Server".into()),
            timeout: raw.boot.timeout.unwrap_or(30),
        };
        Ok(Spec {
            path: path.to_path_buf(),
            profile,
            output,
            seed: raw.seed,
            disk: DiskSpec {
                format,
                format_given: d.format.is_some(),
                size,
                disk_type,
                block_size: block_size as u32,
                logical_sector_size: logical,
                physical_sector_size: physical,
                layout,
                cluster_size: cluster_size as u32,
                label,
            },
            image: ImageSpec { wim, select, refs },
            packages: PackagesSpec {
                mode,
                strict: p.strict.unwrap_or(false),
                cabs,
                language,
                stage_dir,
            },
            unattend,
            files,
            docker,
            first_boot: raw.first_boot.commands.clone(),
            boot,
            warnings,
        })
    }
}

/// Windows' rules for a computer (NetBIOS) name: 1–15 characters, not only
/// digits, none of `` \/:*?"<>|,~!@#$%^&'.(){}_ `` or spaces; `*` alone asks
/// Setup for a random name.
pub fn validate_computer_name(n: &str) -> std::result::Result<(), String> {
    if n == "*" {
        return Ok(());
    }
    if n.is_empty() || n.chars().count() > 15 {
        return Err(format!("{n:?}: 1 to 15 characters"));
    }
    if n.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{n:?}: may not be only digits"));
    }
    if let Some(c) = n
        .chars()
        .find(|c| " \\/:*?\"<>|,~!@#$%^&'.(){}_;[]=+".contains(*c) || c.is_control())
    {
        return Err(format!("{n:?}: {c:?} is not allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8 GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "G", "1.2.3G", "5 parsecs", "0.3K", "-1G", "1e30G"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn image_paths_are_plain() {
        assert_eq!(
            image_path("k", "/Windows/System32//x.exe").unwrap(),
            "Windows\\System32\\x.exe"
        );
        for bad in [
            "", "/", "a/../b", "C:/x", "a/b:c", "a/b.", "a/b ", "a/\u{1}",
        ] {
            let e = image_path("files[0].dest", bad).unwrap_err().to_string();
            assert!(e.contains("files[0].dest"), "{e}");
        }
    }

    #[test]
    fn computer_names() {
        for ok in ["NANO1", "web-01", "*"] {
            validate_computer_name(ok).unwrap();
        }
        for bad in ["", "1234", "a.b", "sixteen-chars-xx", "has space"] {
            assert!(validate_computer_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_demo_spec_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/demo/nano-container-host.toml");
        let s = Spec::load(&p).unwrap();
        assert_eq!(s.packages.cabs.len(), 4);
        assert_eq!(s.packages.language.len(), 4);
        assert_eq!(s.disk.size, 1 << 30);
        assert!(s.docker.is_some());
        assert!(s.warnings.iter().any(|w| w.contains("OEM-Drivers")));
    }

    #[test]
    fn semantic_errors_name_their_key() {
        let dir = std::env::temp_dir();
        let cases = [
            ("[disk]\nblock_size = \"3M\"", "disk.block_size"),
            (
                "[disk]\nlogical_sector_size = 1024",
                "disk.logical_sector_size",
            ),
            ("[disk]\nsize = \"100M\"", "disk.size"),
            ("[disk]\ncluster_size = 100", "disk.cluster_size"),
            (
                "[disk]\nlabel = \"a label that is much longer than thirty-two\"",
                "disk.label",
            ),
            ("", "image"),
            ("[image]\nwim = \"/nonexistent.wim\"", "image.wim"),
            ("profile = \"x\"", "profile"),
            (
                "[unattend]\ncomputer_name = \"1234\"",
                "unattend.computer_name",
            ),
            ("[docker]\nmode = \"nssm\"", "docker.binary"),
            ("[[files]]\ndest = \"x\"", "files[0].source"),
        ];
        let wim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo/demo.wim");
        for (text, key) in cases {
            // Keys checked after [image] need a valid image first.
            let text = if ["unattend.", "docker.", "files["]
                .iter()
                .any(|k| key.starts_with(k))
            {
                format!("[image]\nwim = {:?}\n{text}", wim.display().to_string())
            } else {
                text.to_string()
            };
            let e = Spec::parse(&text, &dir.join("s.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text:?}: {e}");
        }
    }
}
