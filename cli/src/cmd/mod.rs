//! One module per verb group.

pub mod bcd;
pub mod boot;
pub mod build;
pub mod cab;
pub mod disk;
pub mod hive;
pub mod ntfs;
pub mod package;
pub mod vhdx;
pub mod wim;
pub mod wim_edit;
pub mod wim_ntfs_capture;

use std::io::IsTerminal;

/// Options shared by every verb.
pub struct Context {
    pub quiet: bool,
}

impl Context {
    /// A progress bar on stderr for `total` units, hidden when `--quiet` is
    /// given or stderr is not a terminal.
    pub fn progress(&self, total: u64, what: &str) -> indicatif::ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    }
}
