//! easeld: the Easel daemon. Keeps models loaded in its workers and serves every host
//! application over a local socket.

use clap::Parser;
use easel_daemon::{config::Config, server};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Exit after this many seconds with no client and no job (for daemons started on demand).
    #[arg(long, value_name = "SECONDS")]
    exit_when_idle: Option<u64>,
}

/// Rotates `path` when it has grown past 5 MB: `.1` .. `.3` keep the older logs.
fn rotate(path: &Path) {
    const LIMIT: u64 = 5 << 20;
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) < LIMIT {
        return;
    }
    for i in (1..3).rev() {
        let _ = std::fs::rename(
            path.with_extension(format!("log.{i}")),
            path.with_extension(format!("log.{}", i + 1)),
        );
    }
    let _ = std::fs::rename(path, path.with_extension("log.1"));
}

/// Log lines go to standard error and to the persistent log file.
struct Tee {
    file: Option<std::fs::File>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &mut self.file {
            // A full disk must not stop the daemon: the log file is best effort.
            let _ = f.write_all(buf);
        }
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
        std::io::stderr().flush()
    }
}

fn open_log(path: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(path.parent()?).ok()?;
    rotate(path);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

fn main() {
    let args = Args::parse();
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("easeld: {e}");
            std::process::exit(2);
        }
    };
    let file = config
        .log_file
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
        .and_then(open_log);
    env_logger::Builder::new()
        .parse_filters(&std::env::var("EASEL_LOG").unwrap_or(args.log.clone()))
        .format_target(false)
        .target(env_logger::Target::Pipe(Box::new(Tee { file })))
        .init();
    if let Some(s) = args.socket {
        config.socket = Some(s);
    }
    if let Some(idle) = args.exit_when_idle {
        config.exit_when_idle_s = idle;
    }
    if let Err(e) = server::run_daemon(config) {
        eprintln!("easeld: {e}");
        std::process::exit(1);
    }
}
