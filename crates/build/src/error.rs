//! Errors of the build pipeline: each names what it is about (the spec
//! key, the file, the stage).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is not valid TOML or has unknown keys.
    #[error("{}: {message}", file.display())]
    SpecSyntax { file: PathBuf, message: String },
    /// A spec value is wrong; `key` is its dotted path (`disk.size`).
    #[error("spec key `{key}`: {message}")]
    Spec { key: String, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An unattend file is not valid XML or not an unattend file.
    #[error("unattend {}: {message}", file.display())]
    Unattend { file: PathBuf, message: String },
    /// A stage failed; `stage` names it.
    #[error("{stage}: {message}")]
    Stage {
        stage: &'static str,
        message: String,
    },
    #[error(transparent)]
    Wim(#[from] wim::Error),
    #[error(transparent)]
    Ntfs(#[from] ntfs_inject::Error),
    #[error(transparent)]
    Hive(#[from] hive::Error),
    #[error(transparent)]
    Vhdx(#[from] vhdx::Error),
    #[error(transparent)]
    Disk(#[from] disk::Error),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn stage(stage: &'static str, message: impl std::fmt::Display) -> Error {
        Error::Stage {
            stage,
            message: message.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
