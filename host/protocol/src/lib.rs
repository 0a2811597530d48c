//! easel-protocol: the messages of both Easel wires — client <-> daemon (`docs/protocol.md`) and
//! daemon <-> worker — with their error codes and features. Types only, no I/O: every message is
//! a Rust type read and written through serde, so the daemon, the Rust client and the worker
//! agree by construction.

pub mod error;
pub mod image;
pub mod message;
mod object;
pub mod ops;
pub mod params;
pub mod worker;

pub use error::{Code, ErrorMessage, Fault, ProtocolError};
pub use image::{DataRef, ImageLayout, ImageRef, LayoutError, PixelFormat};
pub use message::{
    Envelope, Feature, Hello, HelloReply, JobResult, JobTimings, Limits, MaskModifiers, ModelRuns,
    PluginStatus, Priority, Request, ServerMessage, StreamFrame, StreamOpen, StreamSettings,
    Submit, TensorShape, PROTOCOL_VERSION, SERVER_FEATURES,
};
pub use ops::{AppliesWhen, MaskUse, OpFlag, OperationInfo, ParamInfo, ParamKind};
pub use params::{ParamValue, ResolvedParam};
