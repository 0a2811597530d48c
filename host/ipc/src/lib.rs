//! easel-ipc: how Easel's messages travel on one machine — frames over a Unix socket with file
//! descriptors beside them, sealed shared memory, and the one function that resolves an image
//! reference against the frame it came in.

pub mod frame;
pub mod paths;
pub mod resolve;
pub mod shm;

pub use frame::{
    read_frame, send, write_frame, Frame, FrameLimits, TransportError, HEADER_LEN, MAX_FDS,
};
pub use resolve::{resolve_image, ImageBytes};
pub use shm::{map_input, InputBytes, MapError, SharedMem};
