//! easel-host: everything the daemon and the CLI share — configuration, the wire protocol,
//! shared memory, plugin workers and their supervision, scheduling, masks, the model store.

pub mod models;
pub mod config;
pub mod error;
pub mod transport;
