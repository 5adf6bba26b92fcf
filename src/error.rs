//! One error type for the crate. Every variant names what was wrong and where.

use std::path::PathBuf;

/// The crate's result: every fallible function returns [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong, by kind; the message names the file, field or source involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory that was read or written.
        path: PathBuf,
        /// The underlying I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// Malformed input data: names the file and, where known, the line.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Data {
        /// The input file (or the name of the input, for non-file sources).
        path: PathBuf,
        /// 1-based line of the bad record; None when not line-oriented.
        line: Option<usize>,
        /// What was wrong with the data.
        message: String,
    },
    /// Invalid configuration: names the field.
    #[error("invalid config{}: {field}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Config {
        /// The config file; None when the config did not come from a file.
        path: Option<PathBuf>,
        /// The offending key or flag (e.g. `spec.metrics`, `--slo-latency`).
        field: String,
        /// Why the value is not accepted.
        message: String,
    },
    /// An artifact that cannot be trusted: checksum, schema or parse failure.
    #[error("artifact {path}: {message}")]
    Artifact {
        /// The artifact file.
        path: PathBuf,
        /// Why it was rejected.
        message: String,
    },
    /// A model family could not fit or predict.
    #[error("model {family}: {message}")]
    Model {
        /// The model family (e.g. `ets`, `mstl`).
        family: String,
        /// What the family reported.
        message: String,
    },
    /// A remote source (Prometheus, Tempo, the Kubernetes API) failed or answered something
    /// unusable; `retryable` says whether asking again may help (429, 5xx, transport).
    #[error("{message}")]
    Source {
        /// What the source answered or how the request failed.
        message: String,
        /// Whether a retry may succeed (429, 5xx, transport errors).
        retryable: bool,
    },
    /// A source answered, but with nothing usable for the question (no series, no samples).
    #[error("{0}")]
    NoData(String),
    /// Too few points for what was asked (a backtest horizon, a replay window).
    #[error("{0}")]
    TooShort(String),
    /// A value could not be encoded (JSON, YAML, HTML, SVG).
    #[error("{0}")]
    Encode(String),
    /// A background task, thread or runtime failed.
    #[error("{0}")]
    Task(String),
    /// A source answered with demand that cannot be right (non-finite, negative, or
    /// implausibly far above its recent history): the observation is rejected.
    #[error("{0}")]
    Implausible(String),
    /// Anything else that was not valid.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Data`] in `path`, at `line` when known.
    pub fn data(path: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// An [`Error::Config`] on `field`, without a file path.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            path: None,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A series-level [`Error::TooShort`] as an [`Error::Data`] naming the input file, so the
    /// CLI's one line says which file; other errors already name what they concern.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Error::TooShort(message) => Error::data(path, None, message),
            e => e,
        }
    }

    /// An [`Error::Artifact`] for the artifact at `path`.
    pub fn artifact(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Artifact {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A source failure that asking again will not fix.
    pub fn source(message: impl Into<String>) -> Self {
        Error::Source {
            message: message.into(),
            retryable: false,
        }
    }

    /// An [`Error::Model`] from model `family`.
    pub fn model(family: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model {
            family: family.into(),
            message: message.into(),
        }
    }
}
