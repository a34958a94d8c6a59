//! The build, stage by stage:
//!
//! 1. **prepare** — open the WIM, pick the image, read its version; plan
//!    the packages (update.mum, applicability) and, in expand mode, extract
//!    their payloads to scratch files; rewrite the unattend file, edit the
//!    SYSTEM and SOFTWARE hives taken from the image (service, expanded
//!    packages' registry values: each hive once), compose
//!    SetupComplete.cmd. Everything that goes into the image becomes an
//!    overlay entry; nothing is written yet.
//! 2. **disk** — the container (VHDX or raw) under a temporary name, the
//!    partition table, the FAT32 ESP.
//! 3. **apply** — format NTFS on the Windows partition and apply the image
//!    with the overlay laid over it, in one pass: WIM chunks decompress on
//!    every core and stream into their planned clusters; injected files
//!    and staged packages follow.
//! 4. **boot** — boot files onto the ESP (or the active partition) and
//!    the BCD store.
//! 5. **finish** — close the container, sync, rename to the output path.
//!
//! Any error drops the temporary file, so nothing appears at the output
//! path unless the whole build succeeded.

use crate::error::{Error, Result};
use crate::expand::{self, HiveName};
use crate::packages::{self, ImageVersion, Planned};
use crate::service;
use crate::setupcomplete::{self, Step};
use crate::spec::{DiskFormat, DiskType, ImageSelector, Layout, Spec};
use crate::unattend;
use ntfs_inject::wim_apply::{apply_image_report, Overlay, OverlayFile, OverlaySource};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wim::read::image::Image;
use wim::read::Wim;

/// Receives progress: one stage at a time, each with a total in its own
/// unit (bytes for apply, steps otherwise).
pub trait Progress: Sync {
    fn begin(&self, stage: &str, total: u64);
    fn advance(&self, n: u64);
    fn end(&self, stage: &str);
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self, _: &str) {}
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    /// Decompression threads (0: all cores).
    pub threads: usize,
}

/// FILETIME used for every timestamp of a seeded build (file systems,
/// created files, registry keys): 2000-01-01 00:00:00 UTC, the same as
/// `disk create --seed`.
pub const SEEDED_TIME: u64 = disk::create::SEEDED_TIME;

#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    pub number: u32,
    pub role: String,
    pub start: u64,
    pub size: u64,
    pub type_guid: Option<String>,
    pub unique_guid: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    pub format: String,
    pub layout: String,
    pub virtual_size: u64,
    pub file_size: u64,
    pub disk_guid: Option<String>,
    pub mbr_signature: Option<String>,
    pub partitions: Vec<PartitionReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    pub wim: PathBuf,
    pub index: u32,
    pub name: Option<String>,
    pub version: Option<ImageVersion>,
    pub architecture: String,
    pub directories: u64,
    pub files: u64,
    pub bytes: u64,
    pub not_written: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InjectedFile {
    pub path: String,
    pub bytes: u64,
    pub replaced: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegistryValue {
    pub key: String,
    pub name: String,
    pub data_type: String,
    pub data: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BootReportOut {
    pub firmware: String,
    pub bootable: bool,
    pub files: Vec<(String, u64)>,
    pub bcd_objects: Vec<String>,
    pub warnings: Vec<String>,
}

/// What a build did (`--json-report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub spec: PathBuf,
    pub output: PathBuf,
    pub profile: Option<String>,
    pub seed: Option<u64>,
    pub disk: DiskReport,
    pub image: ImageReport,
    pub packages: Vec<Planned>,
    pub unattend_changes: Vec<String>,
    pub unattend_not_processed: Vec<String>,
    pub files: Vec<InjectedFile>,
    pub registry: Vec<RegistryValue>,
    pub setup_complete: Vec<String>,
    pub boot: BootReportOut,
    pub stages: Vec<StageTime>,
    pub seconds: f64,
    pub warnings: Vec<String>,
}

/// Find a file in the image, comparing names without case as Windows
/// does.
pub fn lookup_nocase(image: &Image, path: &str) -> Option<u32> {
    let mut cur = 0u32;
    for comp in path.split(['/', '\\']).filter(|c| !c.is_empty()) {
        let up = comp.to_uppercase();
        cur = *image.dentries[cur as usize]
            .children
            .iter()
            .find(|&&c| image.dentries[c as usize].name.to_uppercase() == up)?;
    }
    Some(cur)
}

/// Contents of the unnamed stream of `path` in the image, if it is there.
pub fn read_image_file(wim: &Wim, image: &Image, path: &str) -> Result<Option<Vec<u8>>> {
    let Some(d) = lookup_nocase(image, path) else {
        return Ok(None);
    };
    let inode = image.inode_of(d);
    if inode.is_directory() {
        return Ok(None);
    }
    match inode.data_stream() {
        Some(s) if !s.is_empty() => {
            let loc = wim.blob(&s.hash).ok_or_else(|| {
                Error::stage(
                    "prepare",
                    format!("the data of {path} is not in {}", wim.path().display()),
                )
            })?;
            Ok(Some(wim.read_blob(loc)?))
        }
        _ => Ok(Some(Vec::new())),
    }
}

fn arch_name(code: Option<&str>) -> &'static str {
    match code {
        Some("0") => "x86",
        Some("5") => "arm",
        Some("12") => "arm64",
        _ => "amd64",
    }
}

fn now_filetime() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    116_444_736_000_000_000 + d.as_secs() * 10_000_000 + d.subsec_nanos() as u64 / 100
}

/// Remove temporary files of earlier builds of `output` whose process is
/// gone (a build killed by a signal cannot clean up after itself).
pub fn remove_stale_temps(output: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = output.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return removed;
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return removed;
    };
    for e in rd.flatten() {
        let fname = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = fname.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::remove_file(e.path()).is_ok()
        {
            removed.push(e.path());
        }
    }
    removed
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Scratch(std::env::temp_dir().join(format!("wimforge-build-{}-{n}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Timer<'a> {
    stages: Vec<StageTime>,
    t: Instant,
    progress: &'a dyn Progress,
}

impl Timer<'_> {
    fn begin(&mut self, stage: &str, total: u64) {
        self.t = Instant::now();
        self.progress.begin(stage, total);
    }
    fn end(&mut self, stage: &str) {
        self.progress.end(stage);
        self.stages.push(StageTime {
            stage: stage.into(),
            seconds: self.t.elapsed().as_secs_f64(),
        });
    }
}

/// Run the build described by `spec`.
pub fn build(spec: &Spec, opts: &BuildOptions, progress: &dyn Progress) -> Result<Report> {
    let start = Instant::now();
    let mut timer = Timer {
        stages: Vec::new(),
        t: Instant::now(),
        progress,
    };
    let mut warnings = spec.warnings.clone();
    for p in remove_stale_temps(&opts.output) {
        warnings.push(format!(
            "removed {} left by an interrupted build",
            p.display()
        ));
    }
    let format = if spec.disk.format_given {
        spec.disk.format
    } else {
        DiskFormat::from_path(&opts.output)
    };
    let time = if spec.seed.is_some() {
        SEEDED_TIME
    } else {
        now_filetime()
    };

    // 1. prepare
    timer.begin("prepare", 6);
    let wim = Wim::open(&spec.image.wim, &spec.image.refs)?;
    let index = match &spec.image.select {
        ImageSelector::Index(i) => wim.resolve_image(&i.to_string())?,
        ImageSelector::Name(n) => (1..=wim.image_count())
            .find(|&i| wim.xml.image(i).and_then(|e| e.text_at("NAME")) == Some(n.as_str()))
            .ok_or_else(|| Error::Spec {
                key: "image.name".into(),
                message: format!("{} has no image named {n:?}", spec.image.wim.display()),
            })?,
    };
    let image = wim.image(index)?;
    let xml = wim.xml.image(index);
    let num = |p: &str| {
        xml.and_then(|e| e.text_at(p))
            .and_then(|t| t.trim().parse::<u32>().ok())
    };
    let version = match (
        num("WINDOWS/VERSION/MAJOR"),
        num("WINDOWS/VERSION/MINOR"),
        num("WINDOWS/VERSION/BUILD"),
    ) {
        (Some(major), Some(minor), Some(build)) => Some(ImageVersion {
            major,
            minor,
            build,
            spbuild: num("WINDOWS/VERSION/SPBUILD").unwrap_or(0),
        }),
        _ => {
            warnings.push(format!(
                "image {index} has no Windows version in its XML: package applicability is not checked"
            ));
            None
        }
    };
    let arch = arch_name(xml.and_then(|e| e.text_at("WINDOWS/ARCH")));
    let image_name = xml.and_then(|e| e.text_at("NAME")).map(str::to_string);
    progress.advance(1);

    let mut overlay = Overlay {
        files: Vec::new(),
        time,
    };
    let mut steps: Vec<Step> = Vec::new();

    // Packages: staged CABs, or (expand mode) their payload files.
    let scratch = Scratch::new();
    let mut planned = packages::plan(&spec.packages, version, arch, &scratch.0)?;
    let mut expand_plans: Vec<(usize, expand::ExpandPlan)> = Vec::new();
    for (i, p) in planned.iter_mut().enumerate() {
        for w in &p.warnings {
            warnings.push(format!("package {}: {w}", p.source.display()));
        }
        let from = p.extracted.clone().unwrap_or_else(|| p.source.clone());
        match &p.staged_as {
            Some(staged) => overlay.files.push(OverlayFile {
                path: staged.clone(),
                source: OverlaySource::File(from),
            }),
            None => {
                let cab = cab::Cabinet::open(&from).map_err(|e| {
                    Error::stage("packages", format!("{}: {e}", p.source.display()))
                })?;
                let plan = expand::plan_package(&cab, arch)?;
                let mut rep = expand::ExpandReport {
                    not_done: plan.not_done.clone(),
                    ..Default::default()
                };
                let dir = scratch.0.join(format!("expand-{i}"));
                for (path, tmp) in expand::extract_payloads(&cab, &plan, &dir, &mut rep)? {
                    overlay.files.push(OverlayFile {
                        path,
                        source: OverlaySource::File(tmp),
                    });
                }
                p.expand = Some(rep);
                expand_plans.push((i, plan));
            }
        }
    }
    progress.advance(1);

    // Files and the Docker binaries.
    for f in &spec.files {
        overlay.files.push(OverlayFile {
            path: f.dest.clone(),
            source: OverlaySource::File(f.source.clone()),
        });
    }
    if let Some(d) = &spec.docker {
        overlay.files.push(OverlayFile {
            path: format!("{}\\{}", service::SYSTEM32, service::binary_name(d)),
            source: OverlaySource::File(d.binary.clone()),
        });
        if let Some(n) = &d.nssm {
            overlay.files.push(OverlayFile {
                path: format!("{}\\nssm.exe", service::SYSTEM32),
                source: OverlaySource::File(n.clone()),
            });
        }
    }

    // Unattend.
    let mut unattend_changes = Vec::new();
    let mut unattend_not_processed = Vec::new();
    if let Some(u) = &spec.unattend {
        let src = match &u.file {
            Some(f) => Some((std::fs::read(f).map_err(|e| Error::io(f, e))?, f.clone())),
            None => None,
        };
        let fields = unattend::Fields {
            computer_name: u.computer_name.clone(),
            administrator_password: u.administrator_password.clone(),
            time_zone: u.time_zone.clone(),
            registered_owner: u.registered_owner.clone(),
            registered_organization: u.registered_organization.clone(),
        };
        let prepared = unattend::prepare(
            src.as_ref().map(|(b, p)| (b.as_slice(), p.as_path())),
            &fields,
            arch,
        )?;
        unattend_changes = prepared.changes;
        unattend_not_processed = prepared.not_processed;
        for n in &unattend_not_processed {
            warnings.push(format!("unattend: not processed: {n}"));
        }
        overlay.files.push(OverlayFile {
            path: "Windows\\Panther\\Unattend.xml".into(),
            source: OverlaySource::Bytes(prepared.xml.into_bytes()),
        });
    }
    progress.advance(1);

    // Registry: the image's own SYSTEM hive (service, expanded packages)
    // and SOFTWARE hive (expanded packages), each read once, edited and
    // overlaid once.
    let mut registry = Vec::new();
    let needs = |h: HiveName| expand_plans.iter().any(|(_, p)| p.needs(h));
    let load = |h: HiveName| -> Result<Option<hive::Hive>> {
        let path = h.image_path();
        match read_image_file(&wim, &image, path)? {
            Some(bytes) => Ok(Some(hive::Hive::from_bytes(&bytes).map_err(|e| {
                Error::stage("registry", format!("{path} in the image: {e}"))
            })?)),
            None => Ok(None),
        }
    };
    let since = hive::model::now_filetime();
    let mut system = if spec.docker.is_some() || needs(HiveName::System) {
        load(HiveName::System)?
    } else {
        None
    };
    let mut software = if needs(HiveName::Software) {
        load(HiveName::Software)?
    } else {
        None
    };
    if let Some(d) = &spec.docker {
        let h = system.as_mut().ok_or_else(|| {
            Error::stage(
                "registry",
                format!(
                    "image {index} has no {}: cannot create the Docker service",
                    HiveName::System.image_path()
                ),
            )
        })?;
        let written = service::add_docker_service(h, d, version.map_or(0, |v| v.build))?;
        for w in written {
            registry.push(RegistryValue {
                key: w.key,
                name: w.name,
                data_type: hive::value::type_name(w.data_type),
                data: hive::value::display(w.data_type, &w.data),
            });
        }
        if d.mode == crate::spec::DockerMode::Nssm {
            steps.push(Step {
                comment: "NSSM writes the Docker log here; the folder must exist".into(),
                command: "if not exist \"%ProgramData%\\docker\" mkdir \"%ProgramData%\\docker\""
                    .into(),
            });
        }
    }
    for (i, plan) in &expand_plans {
        let p = &mut planned[*i];
        let rep = p.expand.as_mut().expect("expanded packages have a report");
        expand::apply_registry(plan, software.as_mut(), system.as_mut(), rep);
        warnings.push(format!(
            "package {}: expand is experimental: {} items not done, see the report (packages[].expand.not_done)",
            p.source.display(),
            rep.not_done.len()
        ));
    }
    for (name, h) in [(HiveName::System, system), (HiveName::Software, software)] {
        let Some(mut h) = h else { continue };
        if spec.seed.is_some() {
            h.restamp(since, time);
        }
        let img = if spec.seed.is_some() {
            h.to_bytes_at(time)
        } else {
            h.to_bytes()
        };
        overlay.files.push(OverlayFile {
            path: name.image_path().into(),
            source: OverlaySource::Bytes(img),
        });
    }
    progress.advance(1);

    // SetupComplete.cmd.
    steps.extend(packages::steps(&planned));
    for c in &spec.first_boot {
        steps.push(Step {
            comment: "first-boot command from the spec".into(),
            command: c.clone(),
        });
    }
    if !steps.is_empty() {
        if let Some(old) = read_image_file(&wim, &image, setupcomplete::PATH)? {
            const KEPT: &str = "Windows\\Setup\\Scripts\\SetupComplete.image.cmd";
            overlay.files.push(OverlayFile {
                path: KEPT.into(),
                source: OverlaySource::Bytes(old),
            });
            steps.push(Step {
                comment: "the image's own SetupComplete.cmd, kept under another name".into(),
                command: "call %SystemRoot%\\Setup\\Scripts\\SetupComplete.image.cmd".into(),
            });
            warnings.push(format!(
                "the image has its own SetupComplete.cmd: kept as {KEPT} and called last"
            ));
        }
        overlay.files.push(OverlayFile {
            path: setupcomplete::PATH.into(),
            source: OverlaySource::Bytes(setupcomplete::render(&steps)),
        });
    }
    let setup_complete: Vec<String> = steps.iter().map(|s| s.command.clone()).collect();
    progress.advance(2);
    timer.end("prepare");

    // 2. disk, 3. apply, 4. boot, 5. finish: the disk crate makes the
    // container, table and ESP, and calls back for the Windows partition.
    timer.begin("disk", 1);
    let dopts = disk::DiskCreateOptions {
        layout: disk::LayoutOptions {
            disk_size: spec.disk.size,
            layout: match spec.disk.layout {
                Layout::Uefi => disk::Layout::Uefi,
                Layout::Bios => disk::Layout::Bios,
            },
            logical_sector_size: spec.disk.logical_sector_size,
            seed: spec.seed,
            ..Default::default()
        },
        format: match format {
            DiskFormat::Vhdx => disk::ImageFormat::Vhdx,
            DiskFormat::Raw => disk::ImageFormat::Raw,
        },
        vhdx_type: match spec.disk.disk_type {
            DiskType::Dynamic => disk::VhdxType::Dynamic,
            DiskType::Fixed => disk::VhdxType::Fixed,
        },
        block_size: spec.disk.block_size,
        physical_sector_size: spec.disk.physical_sector_size,
        ntfs_label: spec.disk.label.clone(),
        ntfs_cluster_size: spec.disk.cluster_size,
        esp_label: "SYSTEM".into(),
        time: Some(time),
    };
    let firmware = match spec.disk.layout {
        Layout::Uefi => boot::Firmware::Uefi,
        Layout::Bios => boot::Firmware::Bios,
    };
    let total = wim::apply::stream_targets(&wim, &image, |_, _| true)
        .map(|t| t.total_bytes)
        .unwrap_or(0);
    let mut applied = None;
    let mut booted = None;
    let created = disk::create_disk_with(&opts.output, &dopts, |t: &disk::WindowsTarget| {
        progress.advance(1);
        timer.end("disk");
        timer.begin("apply", total);
        let window = t.window()?;
        applied = Some(apply_image_report(
            &window,
            &wim,
            &image,
            &overlay,
            &t.ntfs,
            opts.threads,
            &|n| progress.advance(n),
        )?);
        timer.end("apply");
        timer.begin("boot", 1);
        let br = boot::install_on(
            t.disk,
            Some(t.plan.logical_sector_size),
            &boot::BootOptions {
                firmware,
                locale: spec.boot.locale.clone(),
                description: spec.boot.description.clone(),
                timeout: spec.boot.timeout,
                seed: spec.seed,
            },
        )
        .map_err(|e| Error::stage("boot", e))?;
        booted = Some(br);
        progress.advance(1);
        timer.end("boot");
        timer.begin("finish", 1);
        Ok::<(), Error>(())
    })?;
    progress.advance(1);
    timer.end("finish");
    let (astats, ostats) = applied.expect("the callback ran");
    let br = booted.expect("the callback ran");
    for n in &astats.not_written {
        warnings.push(format!("not applied: {n}"));
    }
    for w in &br.warnings {
        warnings.push(format!("boot: {w}"));
    }
    for n in &created.notes {
        warnings.push(format!("disk: {n}"));
    }
    let files: Vec<InjectedFile> = overlay
        .files
        .iter()
        .map(|f| InjectedFile {
            path: f.path.clone(),
            bytes: match &f.source {
                OverlaySource::Bytes(b) => b.len() as u64,
                OverlaySource::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            },
            replaced: ostats.replaced.contains(&f.path),
        })
        .collect();
    let layout = created.plan;
    let file_size = created.file_size;

    Ok(Report {
        spec: spec.path.clone(),
        output: opts.output.clone(),
        profile: spec.profile.clone(),
        seed: spec.seed,
        disk: DiskReport {
            format: match format {
                DiskFormat::Vhdx => "vhdx".into(),
                DiskFormat::Raw => "raw".into(),
            },
            layout: match spec.disk.layout {
                Layout::Uefi => "uefi".into(),
                Layout::Bios => "bios".into(),
            },
            virtual_size: layout.disk_size,
            file_size,
            disk_guid: layout.disk_guid.map(|g| g.to_string()),
            mbr_signature: layout.mbr_signature.map(|s| format!("{s:08x}")),
            partitions: layout
                .partitions
                .iter()
                .map(|p| PartitionReport {
                    number: p.number,
                    role: p.role.as_str().into(),
                    start: p.start,
                    size: p.len,
                    type_guid: p.type_guid.map(|g| g.to_string()),
                    unique_guid: p.unique_guid.map(|g| g.to_string()),
                })
                .collect(),
        },
        image: ImageReport {
            wim: spec.image.wim.clone(),
            index,
            name: image_name,
            version,
            architecture: arch.into(),
            directories: astats.directories,
            files: astats.files,
            bytes: astats.bytes,
            not_written: astats.not_written,
        },
        packages: planned,
        unattend_changes,
        unattend_not_processed,
        files,
        registry,
        setup_complete,
        boot: BootReportOut {
            firmware: match firmware {
                boot::Firmware::Uefi => "uefi".into(),
                boot::Firmware::Bios => "bios".into(),
            },
            bootable: br.bootable,
            files: br.files,
            bcd_objects: br.bcd_objects,
            warnings: br.warnings,
        },
        stages: timer.stages,
        seconds: start.elapsed().as_secs_f64(),
        warnings,
    })
}
