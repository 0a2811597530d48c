//! easeld: the Easel daemon. Keeps models loaded in its workers and serves every host
//! application over a local socket.

use clap::Parser;
use easel_daemon::{config::Config, server};
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
}

fn main() {
    let args = Args::parse();
    env_logger::Builder::new()
        .parse_filters(&std::env::var("EASEL_LOG").unwrap_or(args.log.clone()))
        .format_target(false)
        .init();
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
