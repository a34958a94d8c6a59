//! `wimforge build SPEC`: the whole pipeline (see the `forge` crate).

use super::Context;
use crate::CmdResult;
use forge::{BuildOptions, Progress, Spec};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The build spec (TOML; see the README).
    pub spec: PathBuf,
    /// Output disk (overrides the spec's `output`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write a JSON report of what was done to this file.
    #[arg(long)]
    pub json_report: Option<PathBuf>,
    /// Fail when a package does not fit the image (version or architecture).
    #[arg(long)]
    pub strict: bool,
    /// Decompression threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// One bar per stage, on stderr when it is a terminal.
struct Bars {
    multi: MultiProgress,
    current: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Progress for Bars {
    fn begin(&self, stage: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bytes = stage == "apply";
        let pb = self.multi.add(ProgressBar::new(total));
        let tpl = if bytes {
            "{msg:>8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:>8} [{bar:40}] {pos}/{len}"
        };
        pb.set_style(
            ProgressStyle::with_template(tpl)
                .expect("static template")
                .progress_chars("=> "),
        );
        pb.set_message(stage.to_string());
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb);
    }
    fn advance(&self, n: u64) {
        if let Some(pb) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            pb.inc(n);
        }
    }
    fn end(&self, _stage: &str) {
        if let Some(pb) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            pb.finish();
        }
    }
}

pub fn run(args: BuildArgs, ctx: &Context) -> CmdResult {
    let mut spec = Spec::load(&args.spec)?;
    if args.strict {
        spec.packages.strict = true;
    }
    let output = args
        .output
        .clone()
        .or_else(|| spec.output.clone())
        .ok_or("no output path: give -o OUT or `output = ...` in the spec")?;
    let bars = Bars {
        multi: MultiProgress::new(),
        current: Mutex::new(None),
        enabled: !ctx.quiet && std::io::stderr().is_terminal(),
    };
    let report = forge::build(
        &spec,
        &BuildOptions {
            output: output.clone(),
            threads: args.threads,
        },
        &bars,
    )?;
    if let Some(p) = &args.json_report {
        let json = serde_json::to_string_pretty(&report)?;
        let tmp = blockdev::AtomicFile::create(p)?;
        std::fs::write(tmp.temp_path(), json.as_bytes())?;
        tmp.commit()?;
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !ctx.quiet {
        let d = &report.disk;
        eprintln!(
            "Built {} ({}, {} layout, {} virtual, {} on disk) in {:.1} s",
            output.display(),
            d.format,
            d.layout,
            human(d.virtual_size),
            human(d.file_size),
            report.seconds
        );
        eprintln!(
            "  image {} ({}): {} files, {} directories, {}",
            report.image.index,
            report.image.name.as_deref().unwrap_or("unnamed"),
            report.image.files,
            report.image.directories,
            human(report.image.bytes)
        );
        for p in &d.partitions {
            eprintln!(
                "  partition {}: {:<8} at {:>6} MiB, {}",
                p.number,
                p.role,
                p.start >> 20,
                human(p.size)
            );
        }
        eprintln!(
            "  {} packages staged, {} files injected, {} registry values, boot: {}",
            report.packages.len(),
            report.files.len(),
            report.registry.len(),
            if report.boot.bootable {
                "boot files and BCD written"
            } else {
                "NOT bootable (see warnings)"
            }
        );
        eprintln!("Inspect it with:");
        eprintln!(
            "  wimforge vhdx info {0}   |  qemu-img info {0}",
            output.display()
        );
        let win = d.partitions.iter().find(|p| p.role == "windows");
        if let Some(w) = win {
            eprintln!(
                "  wimforge ntfs ls {} / --partition {}",
                output.display(),
                w.number
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}
