//! easel-host: everything the daemon and the CLI share — configuration, the wire protocol,
//! shared memory, plugin workers and their supervision, scheduling, masks, the model store.

pub mod client;
pub mod config;
pub mod error;
pub mod imaging;
pub mod jobs;
pub mod models;
pub mod protocol;
pub mod scheduler;
pub mod server;
pub mod supervisor;
pub mod tiling;
pub mod transport;
pub mod worker;
