//! Typed errors that cross the plugin boundary, classified by who is at fault.

use abi_stable::{std_types::RString, StableAbi};
use std::fmt;

/// Who is at fault for a failure. The host maps each kind to a stable protocol code.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was wrong: bad parameter, missing mask, unsupported input.
    InvalidInput = 0,
    /// The plugin itself failed (a bug or an internal inconsistency).
    Plugin = 1,
    /// A model could not be loaded or run, or produced unusable output.
    Model = 2,
    /// A size, memory or time limit would be exceeded.
    Limits = 3,
    /// Something outside the request was missing: a file, a runtime library.
    Environment = 4,
    /// The job was cancelled by the user.
    Cancelled = 5,
}

impl ErrorKind {
    /// Stable lower-case name, used in logs and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Plugin => "plugin",
            ErrorKind::Model => "model",
            ErrorKind::Limits => "limits",
            ErrorKind::Environment => "environment",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

/// An error returned by a plugin or by a host service.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: RString,
}

impl PluginError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: RString::from(message.into()),
        }
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn plugin(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Plugin, message)
    }
    pub fn model(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Model, message)
    }
    pub fn limits(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Limits, message)
    }
    pub fn environment(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Environment, message)
    }
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "cancelled by the user")
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for PluginError {}

/// Result type used on the plugin side.
pub type PluginResult<T> = Result<T, PluginError>;
