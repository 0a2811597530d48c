//! easel-worker: the process that runs plugin code. `easeld` starts one or more workers per
//! plugin (`easel-worker LIB`), so a panic, abort, segfault, hang or memory runaway inside a
//! plugin ends only this process; the daemon itself never loads a plugin library.

pub mod describe;
pub mod loader;
pub mod serve;

pub use loader::{load_plugin, LoadError};
pub use serve::{worker_main, worker_main_warm, worker_main_with, WORKER_FD};
