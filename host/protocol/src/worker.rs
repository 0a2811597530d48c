//! The daemon <-> worker messages: a worker loads one plugin, says what it offers, and runs the
//! jobs the daemon sends it. Pixels travel as descriptors of the same frame, never inline.

use crate::error::{Code, ProtocolError};
use crate::image::ImageRef;
use crate::message::JobTimings;
use crate::ops::OperationInfo;
use crate::params::ResolvedParam;
use serde::{Deserialize, Serialize};

/// `run`: one job (or one tile of a job). Image references point at this frame's descriptors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJob {
    pub job: u64,
    pub operation: String,
    pub params: Vec<ResolvedParam>,
    pub image: ImageRef,
    pub mask: Option<ImageRef>,
    pub references: Vec<ImageRef>,
}

/// What the daemon sends a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Run(Box<RunJob>),
    Cancel { job: u64 },
}

/// A loaded plugin's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginIdentity {
    pub name: String,
    pub version: String,
    pub abi_version: u32,
}

/// Who is to blame for a failed run, as the plugin (or a host service in the worker) said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    InvalidInput,
    Plugin,
    Model,
    Limits,
    Environment,
    Cancelled,
    /// A kind this daemon does not know (a newer plugin ABI): reported as the plugin's fault.
    #[serde(other)]
    Unknown,
}

impl FailureKind {
    /// The one table from plugin failures to protocol codes.
    pub fn code(self) -> Code {
        match self {
            FailureKind::InvalidInput => Code::InvalidInput,
            FailureKind::Plugin | FailureKind::Unknown => Code::PluginError,
            FailureKind::Model => Code::ModelError,
            FailureKind::Limits => Code::TooLarge,
            FailureKind::Environment => Code::Environment,
            FailureKind::Cancelled => Code::Cancelled,
        }
    }

    /// The client-facing error for a failure of plugin `plugin`.
    pub fn to_error(self, plugin: &str, message: &str) -> ProtocolError {
        let code = self.code();
        let message = match code {
            Code::Cancelled => "cancelled by the user".to_string(),
            Code::PluginError => format!("plugin '{plugin}' failed: {message}"),
            _ => message.to_string(),
        };
        ProtocolError::new(code, message)
    }
}

/// What a worker sends the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The plugin loaded; its operations (their `plugin` field is the plugin's name).
    Loaded {
        plugin: PluginIdentity,
        operations: Vec<OperationInfo>,
    },
    /// The library was refused; `reason` says which check failed and why.
    Refused { reason: String },
    Progress {
        job: u64,
        fraction: f64,
        message: String,
    },
    /// The run finished; the result is descriptor 0 of this frame.
    Done {
        job: u64,
        image: ImageRef,
        /// Where the run's time went.
        #[serde(default)]
        timings: JobTimings,
    },
    Failed {
        job: u64,
        kind: FailureKind,
        message: String,
    },
    /// The worker finished loading the models it was asked to warm at start (sent once, after
    /// `Loaded`, also when there was nothing to warm); `models` are the ones now resident.
    Warmed { models: Vec<String> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_codes_once() {
        let e = FailureKind::Plugin.to_error("p", "boom");
        assert_eq!(
            (e.code, e.message.as_str()),
            (Code::PluginError, "plugin 'p' failed: boom")
        );
        assert_eq!(
            FailureKind::Cancelled.to_error("p", "x").code,
            Code::Cancelled
        );
        let k: FailureKind = serde_json::from_str("\"from_the_future\"").unwrap();
        assert_eq!(k.code(), Code::PluginError);
    }
}
