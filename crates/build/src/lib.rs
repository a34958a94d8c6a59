//! `wimforge build`: one spec in, one bootable-shaped Windows disk out.
//!
//! | module | does |
//! |---|---|
//! | [`spec`] | parse and validate `spec.toml` (errors name the key); the `nano-container-host` profile |
//! | [`packages`] | package CABs: update.mum, applicability, staging and first-boot install steps |
//! | [`expand`] | experimental `packages.mode = "expand"`: payload files and registry values from component manifests, with a report of what is not done |
//! | [`unattend`] | answer files: validate, move offlineServicing settings, fill spec fields |
//! | [`service`] | services created offline in the SYSTEM hive (Docker via NSSM or native) |
//! | [`setupcomplete`] | `SetupComplete.cmd` (ASCII, CRLF, each command logged) |
//! | [`pipeline`] | the stages: prepare → disk → apply (+ injection) → boot → finish |

pub mod error;
pub mod expand;
pub mod packages;
pub mod pipeline;
pub mod service;
pub mod setupcomplete;
pub mod spec;
pub mod unattend;

pub use error::{Error, Result};
pub use pipeline::{build, BuildOptions, Progress, Report, Silent};
pub use spec::Spec;
