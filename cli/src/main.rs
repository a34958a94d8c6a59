//! `wimforge`: the command-line front end. It stays thin: every verb parses
//! its arguments and calls into the library crates.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Result of one verb: the exit code on success (a check that found problems
/// returns a non-zero code without being an error), or an error to report.
pub type CmdResult = Result<ExitCode, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(
    name = "wimforge",
    version,
    about = "Build bootable Windows disks offline, on Linux"
)]
struct Cli {
    /// No progress bars.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a Windows disk from a spec: partition, format, apply the WIM,
    /// stage packages, inject files, create services, write boot files.
    Build(cmd::build::BuildArgs),
    /// Inspect, verify and extract WIM archives.
    #[command(subcommand)]
    Wim(cmd::wim::WimCommand),
    /// Create, inspect, check and convert VHDX virtual disks.
    #[command(subcommand)]
    Vhdx(cmd::vhdx::VhdxCommand),
    /// Format, list, read, write and check NTFS volumes.
    #[command(subcommand)]
    Ntfs(cmd::ntfs::NtfsCommand),
    /// Read and edit registry hives offline.
    #[command(subcommand)]
    Hive(cmd::hive::HiveCommand),
    /// Inspect BCD stores (boot configuration).
    #[command(subcommand)]
    Bcd(cmd::bcd::BcdCommand),
    /// List and extract Microsoft Cabinet (.cab) files.
    #[command(subcommand)]
    Cab(cmd::cab::CabCommand),
    /// Inspect Windows servicing packages (.cab, .msu).
    #[command(subcommand)]
    Package(cmd::package::PackageCommand),
    /// Create partitioned disks (GPT/MBR, ESP, MSR, NTFS).
    #[command(subcommand)]
    Disk(cmd::disk::DiskCommand),
    /// Install boot files and the BCD store (offline bcdboot).
    #[command(subcommand)]
    Boot(cmd::boot::BootCommand),
}

fn main() -> ExitCode {
    // Behave like other Unix tools when the reader of our output goes away
    // (`wimforge wim dir X 1 | head`): end quietly instead of failing to print.
    // SAFETY: resetting a signal disposition to its default at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let ctx = cmd::Context { quiet: cli.quiet };
    let result = match cli.command {
        Command::Build(a) => cmd::build::run(a, &ctx),
        Command::Wim(c) => cmd::wim::run(c, &ctx),
        Command::Vhdx(c) => cmd::vhdx::run(c, &ctx),
        Command::Ntfs(c) => cmd::ntfs::run(c, &ctx),
        Command::Hive(c) => cmd::hive::run(c, &ctx),
        Command::Bcd(c) => cmd::bcd::run(c, &ctx),
        Command::Cab(c) => cmd::cab::run(c, &ctx),
        Command::Package(c) => cmd::package::run(c, &ctx),
        Command::Disk(c) => cmd::disk::run(c, &ctx),
        Command::Boot(c) => cmd::boot::run(c, &ctx),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("wimforge: error: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                // Errors that name their path repeat their source's text
                // (`PATH: SOURCE`); print it once.
                let text = s.to_string();
                if !msg.ends_with(&text) {
                    msg.push_str(&format!(": {text}"));
                }
                src = s.source();
            }
            eprintln!("{msg}");
            ExitCode::from(1)
        }
    }
}
