//! The package manifest `update.mum` (CBS package manifest, XML namespace
//! `urn:schemas-microsoft-com:asm.v3`; `shared/research/nano.md` §2.1): the
//! package's assembly identity, its `<package>` element (identifier,
//! release type), the parent packages it applies to, and the `<update>`
//! entries naming the components, packages and drivers it installs. Plus
//! an applicability check of a package against an image's version and
//! architecture.

use crate::cabinet::Cabinet;
use crate::error::{Error, Result};
use crate::xmlwalk::{decode_text, get, walk, TextError};
use serde::Serialize;
use std::fmt;

/// The manifest namespace.
pub const ASM_V3: &str = "urn:schemas-microsoft-com:asm.v3";

/// An `<assemblyIdentity>` (or `<installerAssembly>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AssemblyIdentity {
    pub name: String,
    pub version: Option<String>,
    pub processor_architecture: Option<String>,
    pub language: Option<String>,
    pub public_key_token: Option<String>,
    pub build_type: Option<String>,
    pub version_scope: Option<String>,
}

impl AssemblyIdentity {
    /// The version as four numbers, when it is a well-formed a.b.c.d.
    pub fn version_tuple(&self) -> Option<(u32, u32, u32, u32)> {
        parse_version(self.version.as_deref()?)
    }
}

/// A `<parent>`: the package applies when one of these identities is
/// installed, compared per `buildCompare`/`serviceCompare`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parent {
    pub build_compare: Option<String>,
    pub service_compare: Option<String>,
    pub revision_compare: Option<String>,
    pub integrate: Option<String>,
    pub disposition: Option<String>,
    pub identities: Vec<AssemblyIdentity>,
}

/// One `<update>` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateEntry {
    /// The update's `name` attribute.
    pub name: Option<String>,
    /// `component`, `package` or `driver` (the child element).
    pub kind: String,
    /// The referenced assembly.
    pub identity: Option<AssemblyIdentity>,
    /// The child's `integrate` attribute (e.g. `hidden`, `separate`).
    pub integrate: Option<String>,
}

/// What `update.mum` says about a package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageInfo {
    pub identity: AssemblyIdentity,
    /// `<package identifier>`, e.g. `KB2999226`.
    pub identifier: Option<String>,
    /// `<package releaseType>`, e.g. `Update`, `Feature Pack`, `Language Pack`.
    pub release_type: Option<String>,
    pub restart: Option<String>,
    pub applicability_evaluation: Option<String>,
    pub description: Option<String>,
    pub display_name: Option<String>,
    pub company: Option<String>,
    pub support_information: Option<String>,
    pub creation_time_stamp: Option<String>,
    pub parents: Vec<Parent>,
    pub installer_assembly: Option<AssemblyIdentity>,
    pub updates: Vec<UpdateEntry>,
}

fn identity(attrs: &[(String, String)]) -> AssemblyIdentity {
    AssemblyIdentity {
        name: get(attrs, "name").unwrap_or_default(),
        version: get(attrs, "version"),
        processor_architecture: get(attrs, "processorArchitecture"),
        language: get(attrs, "language"),
        public_key_token: get(attrs, "publicKeyToken"),
        build_type: get(attrs, "buildType"),
        version_scope: get(attrs, "versionScope"),
    }
}

impl PackageInfo {
    /// Parse `update.mum` bytes; `file` names the source in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<PackageInfo> {
        let pkg_err = |what: String| Error::Package {
            file: file.to_string(),
            what: format!("update.mum: {what}"),
        };
        let text = decode_text(bytes).map_err(|e| match e {
            TextError::Dcm => pkg_err("compressed (DCM) manifest; not supported".into()),
            TextError::Encoding(what) => pkg_err(what.into()),
        })?;
        let mut info = PackageInfo::default();
        let mut saw_root = false;
        let mut saw_identity = false;
        let xml_err = |at: u64, e: String| pkg_err(format!("XML error after byte {at}: {e}"));
        // Elements outside asm.v3 are reported with an empty local name.
        walk(&text, Some(ASM_V3), "", xml_err, |el| {
            let a = el.attrs;
            match (el.path, el.local) {
                ([], "assembly") => {
                    saw_root = true;
                    info.description = get(a, "description");
                    info.display_name = get(a, "displayName");
                    info.company = get(a, "company");
                    info.support_information = get(a, "supportInformation");
                    info.creation_time_stamp = get(a, "creationTimeStamp");
                }
                ([], _) => {
                    return Err(pkg_err(format!(
                        "root element is not <assembly> in namespace {ASM_V3}"
                    )))
                }
                (["assembly"], "assemblyIdentity") => {
                    info.identity = identity(a);
                    saw_identity = true;
                }
                (["assembly"], "package") => {
                    info.identifier = get(a, "identifier");
                    info.release_type = get(a, "releaseType");
                    info.restart = get(a, "restart");
                    info.applicability_evaluation = get(a, "applicabilityEvaluation");
                }
                (["assembly", "package"], "parent") => info.parents.push(Parent {
                    build_compare: get(a, "buildCompare"),
                    service_compare: get(a, "serviceCompare"),
                    revision_compare: get(a, "revisionCompare"),
                    integrate: get(a, "integrate"),
                    disposition: get(a, "disposition"),
                    identities: Vec::new(),
                }),
                (["assembly", "package", "parent"], "assemblyIdentity") => {
                    if let Some(p) = info.parents.last_mut() {
                        p.identities.push(identity(a));
                    }
                }
                (["assembly", "package"], "installerAssembly") => {
                    info.installer_assembly = Some(identity(a));
                }
                (["assembly", "package"], "update") => info.updates.push(UpdateEntry {
                    name: get(a, "name"),
                    ..Default::default()
                }),
                (
                    ["assembly", "package", "update"],
                    kind @ ("component" | "package" | "driver"),
                ) => {
                    if let Some(u) = info.updates.last_mut() {
                        u.kind = kind.to_string();
                        u.integrate = get(a, "integrate");
                    }
                }
                (
                    ["assembly", "package", "update", "component" | "package" | "driver"],
                    "assemblyIdentity",
                ) => {
                    if let Some(u) = info.updates.last_mut() {
                        u.identity = Some(identity(a));
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
        if !saw_root {
            return Err(Error::Package {
                file: file.to_string(),
                what: "update.mum: no <assembly> element".into(),
            });
        }
        if !saw_identity || info.identity.name.is_empty() {
            return Err(Error::Package {
                file: file.to_string(),
                what: "update.mum: no <assemblyIdentity name=...> for the package".into(),
            });
        }
        Ok(info)
    }

    /// Read and parse the cabinet's `update.mum`.
    pub fn from_cab(cab: &Cabinet) -> Result<PackageInfo> {
        let entry = cab.find("update.mum").ok_or_else(|| Error::Package {
            file: cab.name().to_string(),
            what: "no update.mum in the cabinet (not a servicing package)".into(),
        })?;
        let bytes = cab.read_file(entry)?;
        Self::parse(&bytes, &format!("{}!{}", cab.name(), entry.name))
    }
}

/// Parse `a.b.c.d` (each part a decimal number).
pub fn parse_version(v: &str) -> Option<(u32, u32, u32, u32)> {
    let mut it = v.trim().split('.').map(|p| p.parse::<u32>().ok());
    let t = (it.next()??, it.next()??, it.next()??, it.next()??);
    if it.next().is_some() {
        return None;
    }
    Some(t)
}

/// What kind of mismatch a warning reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WarningKind {
    /// Processor architecture differs.
    Architecture,
    /// Version (major.minor.build, or the service revision) does not satisfy
    /// the package's requirement.
    Version,
    /// The manifest lacks or garbles what the check needs.
    Unknown,
}

/// A reason a package may not apply to an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Architecture names as CBS writes them, with common aliases folded.
fn norm_arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x64" | "amd64" | "x86_64" => "amd64".into(),
        "x86" | "i386" | "i686" => "x86".into(),
        "aarch64" | "arm64" => "arm64".into(),
        other => other.into(),
    }
}

fn compare(op: &str, have: u64, want: u64) -> bool {
    match op.to_ascii_uppercase().as_str() {
        "GE" => have >= want,
        "GT" => have > want,
        "LE" => have <= want,
        "LT" => have < want,
        "NE" => have != want,
        _ => have == want,
    }
}

fn fmt_v(v: (u32, u32, u32, u32)) -> String {
    format!("{}.{}.{}.{}", v.0, v.1, v.2, v.3)
}

/// Does the package apply to an image of version `image_build`
/// (major, minor, build, revision) and architecture `image_arch`
/// (`amd64`/`x64`, `x86`, `arm64`, ...)? Returns the reasons it may not:
///
/// * architecture: the package's `processorArchitecture` is neither
///   `neutral`/`*` nor the image's;
/// * version: with `<parent>` elements, no parent identity matches
///   (major.minor.build compared with `buildCompare`, default `EQ`; the
///   revision with `serviceCompare`, default `GE`); without them, the
///   package version's major.minor.build differs from the image's.
///
/// An empty list means no objection was found.
pub fn applicability(
    info: &PackageInfo,
    image_build: (u32, u32, u32, u32),
    image_arch: &str,
) -> Vec<Warning> {
    let mut w = Vec::new();
    let want_arch = norm_arch(image_arch);
    let arch_ok = |a: &Option<String>| match a.as_deref() {
        None => true,
        Some(a) => {
            let a = norm_arch(a);
            a == "neutral" || a == "*" || a == want_arch
        }
    };
    if !arch_ok(&info.identity.processor_architecture) {
        w.push(Warning {
            kind: WarningKind::Architecture,
            message: format!(
                "package {} is for {}, the image is {}",
                info.identity.name,
                info.identity
                    .processor_architecture
                    .as_deref()
                    .unwrap_or("?"),
                image_arch
            ),
        });
    }
    let (maj, min, build, rev) = image_build;
    let image_mmb = ((maj as u64) << 40) | ((min as u64) << 20) | build as u64;
    let parents: Vec<(&Parent, &AssemblyIdentity)> = info
        .parents
        .iter()
        .flat_map(|p| p.identities.iter().map(move |i| (p, i)))
        .collect();
    if parents.is_empty() {
        match info.identity.version_tuple() {
            Some(v) if (v.0, v.1, v.2) == (maj, min, build) => {}
            Some(v) => w.push(Warning {
                kind: WarningKind::Version,
                message: format!(
                    "package {} version {} is for build {}.{}.{}, the image is {}",
                    info.identity.name,
                    fmt_v(v),
                    v.0,
                    v.1,
                    v.2,
                    fmt_v(image_build)
                ),
            }),
            None => w.push(Warning {
                kind: WarningKind::Unknown,
                message: format!(
                    "package {} has no parent and no a.b.c.d version ({:?}); applicability unknown",
                    info.identity.name, info.identity.version
                ),
            }),
        }
        return w;
    }
    let mut tried = Vec::new();
    let mut matched = false;
    for (p, id) in &parents {
        let Some(v) = id.version_tuple() else {
            continue;
        };
        let bc = p.build_compare.as_deref().unwrap_or("EQ");
        let sc = p.service_compare.as_deref().unwrap_or("GE");
        tried.push(format!(
            "{} {} ({bc} build, {sc} revision)",
            id.name,
            fmt_v(v)
        ));
        let want_mmb = ((v.0 as u64) << 40) | ((v.1 as u64) << 20) | v.2 as u64;
        if compare(bc, image_mmb, want_mmb)
            && compare(sc, rev as u64, v.3 as u64)
            && arch_ok(&id.processor_architecture)
        {
            matched = true;
        }
    }
    if !matched {
        w.push(Warning {
            kind: if tried.is_empty() {
                WarningKind::Unknown
            } else {
                WarningKind::Version
            },
            message: if tried.is_empty() {
                format!(
                    "package {}: no parent has an a.b.c.d version",
                    info.identity.name
                )
            } else {
                format!(
                    "package {} applies to {}; the image is {} {}",
                    info.identity.name,
                    tried.join(" or "),
                    fmt_v(image_build),
                    image_arch
                )
            },
        });
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    const MUM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" description="d &amp; e">
  <assemblyIdentity name="Microsoft-NanoServer-Compute-Package" version="10.0.14393.0" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35" buildType="release"/>
  <package identifier="Compute" releaseType="Feature Pack">
    <update name="x"><component><assemblyIdentity name="C1" version="10.0.14393.0" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/></component></update>
    <update name="y"><driver><assemblyIdentity name="D1" version="1.0.0.0"/></driver></update>
    <other xmlns="urn:x"><update name="ignored"/></other>
  </package>
</assembly>"#;

    #[test]
    fn parses_feature_package() {
        let i = PackageInfo::parse(MUM.as_bytes(), "t").unwrap();
        assert_eq!(i.identity.name, "Microsoft-NanoServer-Compute-Package");
        assert_eq!(i.identity.build_type.as_deref(), Some("release"));
        assert_eq!(i.release_type.as_deref(), Some("Feature Pack"));
        assert_eq!(i.description.as_deref(), Some("d & e"));
        assert_eq!(i.updates.len(), 2);
        assert_eq!(i.updates[0].kind, "component");
        assert_eq!(i.updates[1].kind, "driver");
        assert_eq!(i.updates[1].identity.as_ref().unwrap().name, "D1");
        assert!(applicability(&i, (10, 0, 14393, 1884), "x64").is_empty());
        let w = applicability(&i, (10, 0, 17763, 1), "amd64");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, WarningKind::Version);
        let w = applicability(&i, (10, 0, 14393, 0), "x86");
        assert_eq!(w[0].kind, WarningKind::Architecture);
    }

    #[test]
    fn rejects_wrong_root_and_garbage() {
        assert!(PackageInfo::parse(b"<assembly xmlns=\"urn:other\"/>", "t").is_err());
        assert!(PackageInfo::parse(
            b"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\"><x",
            "t"
        )
        .is_err());
        assert!(PackageInfo::parse(b"DCM\x01abc", "t").is_err());
        assert!(PackageInfo::parse(&[0xff, 0xfe, 0x00, 0xd8], "t").is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.1.7601.17514"), Some((6, 1, 7601, 17514)));
        assert_eq!(parse_version("6.1.7601"), None);
        assert_eq!(parse_version("6.1.7601.1.2"), None);
        assert_eq!(parse_version("a.b.c.d"), None);
    }
}
