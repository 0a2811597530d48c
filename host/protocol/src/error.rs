//! Error codes and faults: who is to blame for a failure, and the stable code it has on the wire.

use serde::{Deserialize, Serialize};

/// Who caused a failure, as the protocol reports it in `fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    Caller,
    Plugin,
    Model,
    Limits,
    Environment,
    User,
    Daemon,
    /// A fault named by a newer daemon.
    #[serde(other)]
    Unknown,
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
            Fault::Unknown => "unknown",
        }
    }
}

/// Stable error codes of the protocol (docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// A code added by a newer daemon; its `fault` still says who is to blame.
    #[serde(other)]
    Unknown,
}

impl Code {
    pub const ALL: [Code; 17] = [
        Code::BadRequest,
        Code::UnsupportedProtocol,
        Code::UnknownOperation,
        Code::InvalidParams,
        Code::InvalidImage,
        Code::InvalidInput,
        Code::TooLarge,
        Code::QueueFull,
        Code::UnknownJob,
        Code::Cancelled,
        Code::PluginCrashed,
        Code::PluginTimeout,
        Code::PluginMemory,
        Code::PluginError,
        Code::ModelError,
        Code::Environment,
        Code::Internal,
    ];

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
            Code::Unknown => "unknown",
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
            Code::Unknown => Fault::Unknown,
        }
    }
}

// Comparing with the wire name, as tests and logs do.
impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl PartialEq<str> for Fault {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Fault {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidInput, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(Code::TooLarge, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }
    pub fn cancelled() -> Self {
        Self::new(Code::Cancelled, "cancelled by the user")
    }
    pub fn fault(&self) -> Fault {
        self.code.fault()
    }

    /// The same error with `context: ` in front of its message.
    pub fn context(self, context: &str) -> Self {
        ProtocolError {
            code: self.code,
            message: format!("{context}: {}", self.message),
        }
    }

    /// The `error` message for this error.
    pub fn to_message(&self, reply_to: Option<u64>, job: Option<u64>) -> ErrorMessage {
        ErrorMessage {
            code: self.code,
            fault: self.fault(),
            message: self.message.clone(),
            reply_to,
            job,
        }
    }
}

/// The body of an `error` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub code: Code,
    pub fault: Fault,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
}

impl From<ErrorMessage> for ProtocolError {
    fn from(m: ErrorMessage) -> Self {
        ProtocolError::new(m.code, m.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_by_name_and_unknown_ones_are_kept_apart() {
        for code in Code::ALL {
            let s = serde_json::to_string(&code).unwrap();
            assert_eq!(s, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<Code>(&s).unwrap(), code);
        }
        assert_eq!(
            serde_json::from_str::<Code>("\"brand_new\"").unwrap(),
            Code::Unknown
        );
    }
}
