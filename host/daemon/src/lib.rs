//! easel-daemon: `easeld`, the resident daemon — the socket server, job intake, the scheduler,
//! and the supervision of plugin workers. It never loads a plugin library nor ONNX Runtime
//! (its dependency tree has neither), so "the daemon never runs plugin code" holds by
//! construction.

pub mod config;
pub mod connection;
pub mod error;
pub mod intake;
pub mod jobs;
pub mod scheduler;
pub mod server;
pub mod supervisor;
