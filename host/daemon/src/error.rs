//! Failures that stop the daemon from starting: each says what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot read configuration {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration {path} is invalid: {source}")]
    ConfigParse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("an Easel daemon is already running on {0}")]
    AlreadyRunning(PathBuf),
    #[error("cannot create the socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing the socket folder {path}: {reason}")]
    UnsafeSocketDir { path: PathBuf, reason: String },
    #[error("cannot find the worker binary {path}: {reason}")]
    Worker { path: PathBuf, reason: String },
}
