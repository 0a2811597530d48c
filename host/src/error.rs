//! Errors of the daemon, typed by who is at fault, and their stable protocol codes.

use easel_sdk::{ErrorKind, PluginError};
use std::path::PathBuf;

/// Who caused a failure, as the protocol reports it in `fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Caller,
    Plugin,
    Model,
    Limits,
    Environment,
    User,
    Daemon,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Caller => "caller",
            Fault::Plugin => "plugin",
            Fault::Model => "model",
            Fault::Limits => "limits",
            Fault::Environment => "environment",
            Fault::User => "user",
            Fault::Daemon => "daemon",
        }
    }
}

/// Stable error codes of the protocol (docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BadRequest,
    UnsupportedProtocol,
    UnknownOperation,
    InvalidParams,
    InvalidImage,
    InvalidInput,
    TooLarge,
    QueueFull,
    UnknownJob,
    Cancelled,
    PluginCrashed,
    PluginTimeout,
    PluginMemory,
    PluginError,
    ModelError,
    Environment,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::UnsupportedProtocol => "unsupported_protocol",
            Code::UnknownOperation => "unknown_operation",
            Code::InvalidParams => "invalid_params",
            Code::InvalidImage => "invalid_image",
            Code::InvalidInput => "invalid_input",
            Code::TooLarge => "too_large",
            Code::QueueFull => "queue_full",
            Code::UnknownJob => "unknown_job",
            Code::Cancelled => "cancelled",
            Code::PluginCrashed => "plugin_crashed",
            Code::PluginTimeout => "plugin_timeout",
            Code::PluginMemory => "plugin_memory",
            Code::PluginError => "plugin_error",
            Code::ModelError => "model_error",
            Code::Environment => "environment",
            Code::Internal => "internal",
        }
    }

    pub fn fault(self) -> Fault {
        match self {
            Code::BadRequest
            | Code::UnsupportedProtocol
            | Code::UnknownOperation
            | Code::InvalidParams
            | Code::InvalidImage
            | Code::InvalidInput
            | Code::UnknownJob => Fault::Caller,
            Code::TooLarge | Code::QueueFull => Fault::Limits,
            Code::Cancelled => Fault::User,
            Code::PluginCrashed | Code::PluginTimeout | Code::PluginMemory | Code::PluginError => {
                Fault::Plugin
            }
            Code::ModelError => Fault::Model,
            Code::Environment => Fault::Environment,
            Code::Internal => Fault::Daemon,
        }
    }

    /// The code for an error a plugin (or a host service inside the worker) returned.
    pub fn from_plugin_kind(kind: ErrorKind) -> Code {
        match kind {
            ErrorKind::InvalidInput => Code::InvalidInput,
            ErrorKind::Plugin => Code::PluginError,
            ErrorKind::Model => Code::ModelError,
            ErrorKind::Limits => Code::TooLarge,
            ErrorKind::Environment => Code::Environment,
            ErrorKind::Cancelled => Code::Cancelled,
        }
    }
}

/// An error that ends a request or a job: a stable code plus a message for people.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    pub code: Code,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Code::BadRequest, message)
    }
    pub fn invalid_image(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidImage, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(Code::TooLarge, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }
    pub fn fault(&self) -> Fault {
        self.code.fault()
    }
    pub fn from_plugin(plugin: &str, err: &PluginError) -> Self {
        let code = Code::from_plugin_kind(err.kind);
        let message = match code {
            Code::Cancelled => "cancelled by the user".to_string(),
            Code::PluginError => format!("plugin '{plugin}' failed: {}", err.message),
            _ => err.message.to_string(),
        };
        Self::new(code, message)
    }
}

/// Failures of the transport (framing, descriptors, shared memory).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connection closed")]
    Closed,
    #[error("socket I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{what} of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        len: u64,
        limit: u64,
    },
    #[error("message is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("system call failed: {0}")]
    Sys(#[from] nix::Error),
}

impl From<TransportError> for ProtocolError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::TooLarge { .. } => ProtocolError::too_large(e.to_string()),
            TransportError::Json(_) => ProtocolError::bad_request(e.to_string()),
            _ => ProtocolError::internal(e.to_string()),
        }
    }
}

/// Failures starting the daemon: these stop it with a message.
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
    #[error("cannot start a plugin worker: {0}")]
    Worker(std::io::Error),
}
