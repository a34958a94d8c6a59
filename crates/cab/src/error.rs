//! Typed errors. Every failure that comes from the bytes of a cabinet names
//! the cabinet file, the byte offset and the structure being read.

use std::path::PathBuf;

/// Everything that can go wrong reading a cabinet or a package.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused a read or write.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A structure of the cabinet is malformed or truncated.
    #[error("{file}: {structure} at offset {offset:#x}: {what}")]
    Format {
        file: String,
        offset: u64,
        structure: String,
        what: String,
    },
    /// A data block failed its checksum or did not decompress.
    #[error(
        "{file}: folder {folder} ({method}), CFDATA block {block} at offset {offset:#x}{}: {what}",
        entry_ctx(entry)
    )]
    Data {
        file: String,
        folder: usize,
        method: String,
        block: usize,
        offset: u64,
        /// The file being extracted when the failure happened, if any.
        entry: Option<String>,
        what: String,
    },
    /// A folder continues in a cabinet that is not there.
    #[error("{file}: cabinet set is incomplete: {what}")]
    Incomplete { file: String, what: String },
    /// A file entry cannot be extracted (declared range beyond the folder's
    /// data, unknown compression, ...).
    #[error("{file}: file \"{name}\": {what}")]
    Entry {
        file: String,
        name: String,
        what: String,
    },
    /// A name from the cabinet would leave the destination directory.
    #[error("{file}: file \"{name}\": unsafe name: {why}")]
    UnsafeName {
        file: String,
        name: String,
        why: String,
    },
    /// `--file NAME` or a lookup named a file the cabinet does not have.
    #[error("{file}: no file named \"{name}\"")]
    NoSuchFile { file: String, name: String },
    /// Package-level problems: no update.mum, malformed manifest, MSU
    /// without a package cabinet.
    #[error("{file}: {what}")]
    Package { file: String, what: String },
}

fn entry_ctx(entry: &Option<String>) -> String {
    match entry {
        Some(e) => format!(" (extracting \"{e}\")"),
        None => String::new(),
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn format(
        file: &str,
        offset: u64,
        structure: impl Into<String>,
        what: impl Into<String>,
    ) -> Self {
        Error::Format {
            file: file.to_string(),
            offset,
            structure: structure.into(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
