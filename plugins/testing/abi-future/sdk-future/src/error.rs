//! Typed errors that cross the plugin boundary, classified by who is at fault.

use abi_stable::{std_types::RString, StableAbi};
use std::fmt;

/// Who is at fault for a failure. The host maps each kind to a stable protocol code.
///
/// A `u8` newtype rather than an enum, so that a later SDK can add kinds without changing the
/// layout: a value this SDK does not name (from a newer plugin or host) is still a valid
/// `ErrorKind`, and [`ErrorKind::as_str`] calls it `unknown`.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorKind(pub u8);

#[allow(non_upper_case_globals)] // named like the enum variants they replaced
impl ErrorKind {
    /// The request was wrong: bad parameter, missing mask, unsupported input.
    pub const InvalidInput: ErrorKind = ErrorKind(0);
    /// The plugin itself failed (a bug or an internal inconsistency).
    pub const Plugin: ErrorKind = ErrorKind(1);
    /// A model could not be loaded or run, or produced unusable output.
    pub const Model: ErrorKind = ErrorKind(2);
    /// A size, memory or time limit would be exceeded.
    pub const Limits: ErrorKind = ErrorKind(3);
    /// Something outside the request was missing: a file, a runtime library.
    pub const Environment: ErrorKind = ErrorKind(4);
    /// The job was cancelled by the user.
    pub const Cancelled: ErrorKind = ErrorKind(5);
    /// A resource is busy; try again later (a later kind).
    pub const Busy: ErrorKind = ErrorKind(6);

    /// Every kind this SDK names.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::InvalidInput,
        ErrorKind::Plugin,
        ErrorKind::Model,
        ErrorKind::Limits,
        ErrorKind::Environment,
        ErrorKind::Cancelled,
    ];

    /// Whether this SDK names this kind.
    pub fn is_known(self) -> bool {
        Self::ALL.contains(&self)
    }

    /// Stable lower-case name, used in logs and on the wire; `unknown` for a kind this SDK does
    /// not name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Plugin => "plugin",
            ErrorKind::Model => "model",
            ErrorKind::Limits => "limits",
            ErrorKind::Environment => "environment",
            ErrorKind::Cancelled => "cancelled",
            _ => "unknown",
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
