//! One error type for the crate. Every variant names what was wrong and where.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Malformed input data: names the file and, where known, the line.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Data {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// Invalid configuration: names the field.
    #[error("invalid config{}: {field}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Config {
        path: Option<PathBuf>,
        field: String,
        message: String,
    },
    /// An artifact that cannot be trusted: checksum, schema or parse failure.
    #[error("artifact {path}: {message}")]
    Artifact { path: PathBuf, message: String },
    /// A model family could not fit or predict.
    #[error("model {family}: {message}")]
    Model { family: String, message: String },
    /// A remote source (Prometheus, Tempo, the Kubernetes API) failed or answered something
    /// unusable; `retryable` says whether asking again may help (429, 5xx, transport).
    #[error("{message}")]
    Source { message: String, retryable: bool },
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
    /// Anything else that was not valid.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn data(path: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            path: None,
            field: field.into(),
            message: message.into(),
        }
    }

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

    pub fn model(family: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model {
            family: family.into(),
            message: message.into(),
        }
    }
}
