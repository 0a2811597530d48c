//! easeld: the Easel daemon. Keeps models loaded, runs plugins in supervised workers, and serves
//! every host application over a local socket. `easeld --worker LIB` is the worker process.

use clap::Parser;
use easel_host::{config::Config, models::ModelStoreConfig, server, worker};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "easeld", version, about = "The Easel image-model daemon")]
struct Args {
    /// Configuration file (default: $XDG_CONFIG_HOME/easel/easel.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Socket path (overrides the configuration).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Log level: error, warn, info, debug.
    #[arg(long, default_value = "info")]
    log: String,

    /// Internal: run as the worker process of this plugin library.
    #[arg(long, hide = true)]
    worker: Option<PathBuf>,
    #[arg(long = "model-dir", hide = true)]
    model_dirs: Vec<PathBuf>,
    #[arg(long, hide = true)]
    onnxruntime: Option<PathBuf>,
    #[arg(long, hide = true, default_value_t = 0)]
    threads: usize,
    #[arg(long = "memory-budget-mb", hide = true, default_value_t = 2048)]
    memory_budget_mb: u64,
}

fn main() {
    let args = Args::parse();
    env_logger::Builder::new()
        .parse_filters(&std::env::var("EASEL_LOG").unwrap_or(args.log.clone()))
        .format_target(false)
        .init();
    if let Some(plugin) = &args.worker {
        let code = worker::worker_main(
            plugin,
            ModelStoreConfig {
                folders: args.model_dirs.clone(),
                memory_budget_bytes: args.memory_budget_mb.saturating_mul(1 << 20),
                intra_threads: args.threads,
                onnxruntime: args.onnxruntime.clone(),
            },
        );
        std::process::exit(code);
    }
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("easeld: {e}");
            std::process::exit(2);
        }
    };
    if let Some(s) = args.socket {
        config.socket = Some(s);
    }
    if let Err(e) = server::run_daemon(config) {
        eprintln!("easeld: {e}");
        std::process::exit(1);
    }
}
