//! What can go wrong in a command, by kind, each with its own exit code (listed in `--help`).

use easel_client::ClientError;
use easel_protocol::Code;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    JobFailed(String),
    #[error("{0}")]
    Cancelled(String),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Other(String),
    /// A failure the command's own output already reports in full (with `--json`, nothing more
    /// is printed, so the output stays one JSON document).
    #[error("{0}")]
    Reported(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Other(_) | CliError::Reported(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unavailable(_) => 3,
            CliError::JobFailed(_) => 4,
            CliError::Cancelled(_) => 5,
            CliError::Model(_) => 6,
        }
    }

    /// The kind's name, for `--json` errors.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Unavailable(_) => "daemon_unavailable",
            CliError::JobFailed(_) => "job_failed",
            CliError::Cancelled(_) => "cancelled",
            CliError::Model(_) => "model",
            CliError::Other(_) | CliError::Reported(_) => "other",
        }
    }

    /// Sorts a client error: the daemon's own codes decide for errors it sent.
    pub fn from_client(e: ClientError) -> CliError {
        let message = e.to_string();
        match &e {
            ClientError::Unavailable { .. } | ClientError::StartFailed { .. } => {
                CliError::Unavailable(message)
            }
            ClientError::Daemon { code, .. } => match code {
                Code::Cancelled => CliError::Cancelled(message),
                Code::UnknownOperation | Code::InvalidParams | Code::BadRequest => {
                    CliError::Usage(message)
                }
                Code::Environment | Code::ModelError if message.contains("model") => {
                    CliError::Model(message)
                }
                _ => CliError::JobFailed(message),
            },
            ClientError::Options(_) => CliError::Usage(message),
            ClientError::Transport(_) | ClientError::Protocol(_) => CliError::Unavailable(message),
        }
    }
}
