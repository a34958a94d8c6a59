//! Package CABs: read each one's `update.mum`, check it fits the image,
//! and stage it in the image with a first-boot `dism /online /add-package`
//! step (base packages in the order given, language packs after every
//! base package). In the experimental expand mode ([`crate::expand`])
//! nothing is staged and no first-boot step is added: the pipeline lays
//! out the package's payload and registry values instead.

use crate::error::{Error, Result};
use crate::setupcomplete::{dism_add_package, Step};
use crate::spec::{PackageMode, PackagesSpec};
use serde::Serialize;
use std::path::PathBuf;

/// The image's version, from its WIM XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImageVersion {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub spbuild: u32,
}

/// One package as it will be installed.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub source: PathBuf,
    /// For an .msu: its package CAB, extracted to the scratch directory
    /// (this is what gets staged).
    pub extracted: Option<PathBuf>,
    /// Image path of the staged CAB (None in expand mode).
    pub staged_as: Option<String>,
    pub size: u64,
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub language: String,
    pub public_key_token: String,
    pub release_type: String,
    pub is_language_pack: bool,
    pub warnings: Vec<String>,
    /// Expand mode: what was laid out and written, and what was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expand: Option<crate::expand::ExpandReport>,
}

/// Read and check every package; fail on the first unreadable one, and on
/// applicability warnings when `strict`.
/// `scratch` receives the package CABs taken out of .msu files.
pub fn plan(
    spec: &PackagesSpec,
    image: Option<ImageVersion>,
    image_arch: &str,
    scratch: &std::path::Path,
) -> Result<Vec<Planned>> {
    let expand = spec.mode == PackageMode::Expand;
    let mut out: Vec<Planned> = Vec::new();
    let all = spec
        .cabs
        .iter()
        .map(|p| (p, false))
        .chain(spec.language.iter().map(|p| (p, true)));
    for (path, listed_as_language) in all {
        let fail = |e: cab::Error| Error::stage("packages", format!("{}: {e}", path.display()));
        let cabinet = cab::Cabinet::open(path).map_err(fail)?;
        // An .msu is a cabinet of cabinets: stage its package CAB.
        let (info, extracted, file) = if cab::msu::looks_like_msu(&cabinet) {
            let msu = cab::Msu::open(path).map_err(fail)?;
            let (inner_name, inner) = msu.package_cabinet().map_err(fail)?;
            let info = cab::PackageInfo::from_cab(&inner).map_err(fail)?;
            let entry = msu.cabinet().find(&inner_name).ok_or_else(|| {
                Error::stage(
                    "packages",
                    format!("{}: {inner_name} vanished", path.display()),
                )
            })?;
            let bytes = msu.cabinet().read_file(entry).map_err(fail)?;
            let base = inner_name
                .rsplit(['\\', '/'])
                .next()
                .unwrap_or("package.cab")
                .to_string();
            std::fs::create_dir_all(scratch).map_err(|e| Error::io(scratch, e))?;
            let to = scratch.join(format!("{}-{base}", out.len()));
            std::fs::write(&to, bytes).map_err(|e| Error::io(&to, e))?;
            (info, Some(to), base)
        } else {
            let info = cab::PackageInfo::from_cab(&cabinet).map_err(fail)?;
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "package.cab".into());
            (info, None, file)
        };
        let id = &info.identity;
        let language = id.language.clone().unwrap_or_else(|| "neutral".into());
        let is_language_pack = listed_as_language
            || !(language.is_empty() || language.eq_ignore_ascii_case("neutral"));
        let mut warnings = Vec::new();
        if let Some(v) = image {
            for w in cab::applicability(&info, (v.major, v.minor, v.build, v.spbuild), image_arch) {
                warnings.push(w.to_string());
            }
        }
        if spec.strict && !warnings.is_empty() {
            return Err(Error::stage(
                "packages",
                format!(
                    "{} does not fit the image (--strict): {}",
                    path.display(),
                    warnings.join("; ")
                ),
            ));
        }
        let mut staged_as = if is_language_pack {
            format!("{}\\{}\\{}", spec.stage_dir, language, file)
        } else {
            format!("{}\\{}", spec.stage_dir, file)
        };
        let mut n = 1;
        while out.iter().any(|p| {
            p.staged_as
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(&staged_as))
        }) {
            n += 1;
            let stem = file.trim_end_matches(".cab").trim_end_matches(".CAB");
            staged_as = format!("{}\\{stem}-{n}.cab", spec.stage_dir);
        }
        let staged_from = extracted.clone().unwrap_or_else(|| path.clone());
        out.push(Planned {
            source: path.clone(),
            extracted,
            staged_as: (!expand).then_some(staged_as),
            size: std::fs::metadata(&staged_from)
                .map_err(|e| Error::io(&staged_from, e))?
                .len(),
            name: id.name.clone(),
            version: id.version.clone().unwrap_or_default(),
            architecture: id.processor_architecture.clone().unwrap_or_default(),
            language,
            public_key_token: id.public_key_token.clone().unwrap_or_default(),
            release_type: info.release_type.clone().unwrap_or_default(),
            is_language_pack,
            warnings,
            expand: None,
        });
    }
    // Language packs after every base package; stable otherwise.
    out.sort_by_key(|p| p.is_language_pack);
    Ok(out)
}

/// First-boot steps installing the staged packages in order (expanded
/// packages have none).
pub fn steps(planned: &[Planned]) -> Vec<Step> {
    planned
        .iter()
        .filter_map(|p| {
            Some(Step {
                comment: format!("package {} {} ({})", p.name, p.version, p.language),
                command: dism_add_package(p.staged_as.as_deref()?),
            })
        })
        .collect()
}
