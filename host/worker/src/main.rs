//! easel-worker: runs one plugin library for `easeld` over the socket on descriptor 3.

use clap::Parser;
use easel_models::ModelStoreConfig;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "easel-worker",
    version,
    about = "Runs one Easel plugin for easeld (started by the daemon, not by hand)"
)]
struct Args {
    /// The plugin library.
    plugin: PathBuf,
    /// Folders where models are looked up.
    #[arg(long = "model-dir")]
    model_dirs: Vec<PathBuf>,
    /// The ONNX Runtime library (found automatically when absent).
    #[arg(long)]
    onnxruntime: Option<PathBuf>,
    /// Inference threads (0: ONNX Runtime's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// An execution provider to try before the CPU (repeatable, in order).
    #[arg(long = "provider")]
    providers: Vec<String>,
    /// Unload every model after this many seconds without a job (0: never).
    #[arg(long = "unload-after-s", default_value_t = 0)]
    unload_after_s: u64,
    /// Resident models above this are evicted, least recently used first.
    #[arg(long = "memory-budget-mb", default_value_t = easel_models::DEFAULT_MEMORY_BUDGET_MB)]
    memory_budget_mb: u64,
    /// The daemon's `[inference]` configuration as JSON (remote servers and routes); it names
    /// environment variables for tokens, never tokens.
    #[arg(long)]
    inference: Option<String>,
    /// A model to load (and run once) as soon as the worker is up, if the plugin declares it
    /// (repeatable).
    #[arg(long = "warm-model")]
    warm_models: Vec<String>,
}

/// Inference threads: `--threads` when given, else the CPU budget the daemon gives each worker
/// (`EASEL_THREADS`), else 0 (ONNX Runtime's default).
fn inference_threads(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    std::env::var("EASEL_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args = Args::parse();
    env_logger::Builder::new()
        .parse_filters(&std::env::var("EASEL_LOG").unwrap_or_else(|_| "info".into()))
        .format_target(false)
        .init();
    let code = easel_worker::worker_main_warm(
        &args.plugin,
        std::time::Duration::from_secs(args.unload_after_s),
        ModelStoreConfig {
            folders: args.model_dirs,
            memory_budget_bytes: args.memory_budget_mb.saturating_mul(1 << 20),
            intra_threads: inference_threads(args.threads),
            onnxruntime: args.onnxruntime,
            providers: args.providers,
        },
        args.inference.as_deref(),
        &args.warm_models,
    );
    std::process::exit(code);
}
