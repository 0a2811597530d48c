//! Errors of the model store: each names the model or file involved and says what to do.

use easel_sdk::ErrorKind;
use std::path::{Path, PathBuf};

/// A backend's own error, kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the model store could not list, verify, load or run a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "unknown model `{id}`: no manifest lists it; `easel models list` shows the known ids, \
         and a model of your own can be added with a manifest.toml in a model folder"
    )]
    UnknownModel { id: String },

    #[error(
        "model `{id}`: its file `{file}` was not found (searched: {}); get it with \
         `easel models fetch {id}`, or add a copy with `easel models add FILE --id {id}`",
        list(.searched)
    )]
    MissingFile {
        id: String,
        file: String,
        searched: Vec<PathBuf>,
    },

    #[error(
        "model `{id}`: {} has sha256 {actual} but the manifest says {expected}; the file is \
         damaged or a different version: download it again from its source",
        .path.display()
    )]
    ChecksumMismatch {
        id: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error(
        "the ONNX Runtime library (libonnxruntime) was not found (searched: {}); install it \
         with `host/install.sh` (it makes a venv with the `onnxruntime` wheel: on Debian 12 and \
         Ubuntu 24.04 the system pip refuses, PEP 668), or `python3 -m venv DIR && \
         DIR/bin/pip install onnxruntime`, then point the `onnxruntime` config key (or \
         ORT_DYLIB_PATH) at DIR",
        list(.searched)
    )]
    RuntimeNotFound { searched: Vec<PathBuf> },

    #[error(
        "the ONNX Runtime library {} could not be loaded: {source}; use the version the README \
         names (set EASEL_ONNXRUNTIME or the `onnxruntime` config key to pick another file)",
        .path.display()
    )]
    RuntimeLoad { path: PathBuf, source: BoxError },

    #[error(
        "the ONNX Runtime environment could not be created from {}: {source}",
        .path.display()
    )]
    RuntimeInit { path: PathBuf, source: BoxError },

    #[error(
        "model `{id}` could not be loaded: {source}; check the file with \
         `easel models verify {id}`"
    )]
    Load { id: String, source: BoxError },

    #[error("model `{id}` failed while running: {source}")]
    Inference { id: String, source: BoxError },

    #[error("model `{id}`: {message}")]
    BadInput { id: String, message: String },

    #[error("model `{id}` was stopped: the job was cancelled")]
    Cancelled { id: String },

    #[error("model `{id}` gave an output the store cannot use: {message}")]
    BadOutput { id: String, message: String },

    #[error("model manifest {}: {message}", .path.display())]
    Manifest { path: PathBuf, message: String },

    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ModelError {
    /// Who is at fault, for the protocol and for plugins.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ModelError::UnknownModel { .. }
            | ModelError::ChecksumMismatch { .. }
            | ModelError::Load { .. }
            | ModelError::Inference { .. }
            | ModelError::BadOutput { .. } => ErrorKind::Model,
            ModelError::MissingFile { .. }
            | ModelError::RuntimeNotFound { .. }
            | ModelError::RuntimeLoad { .. }
            | ModelError::RuntimeInit { .. }
            | ModelError::Manifest { .. }
            | ModelError::Io { .. } => ErrorKind::Environment,
            // Tensors reach the store from plugin code, which prepares them for the model.
            ModelError::BadInput { .. } => ErrorKind::Plugin,
            ModelError::Cancelled { .. } => ErrorKind::Cancelled,
        }
    }

    /// The error as it crosses the plugin boundary.
    pub fn to_plugin_error(&self) -> easel_sdk::PluginError {
        easel_sdk::PluginError::new(self.kind(), self.to_string())
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<ModelError> for easel_sdk::PluginError {
    fn from(e: ModelError) -> Self {
        e.to_plugin_error()
    }
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nowhere".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
