//! easel: the command line of Easel — list operations, run them on files or folders, manage
//! models, check the installation, start or stop the daemon. For people and for scripts: every
//! command that reports has `--json`, and the exit code says what went wrong.

mod doctor;
mod error;
mod models;
mod run;
mod triton_repo;

use clap::{CommandFactory, Parser, Subcommand};
use easel_client::{default_socket_path, Client};
use error::CliError;
use serde_json::json;
use std::{path::PathBuf, process::ExitCode, time::Duration};

const EXIT_CODES: &str = "Exit codes: 0 success; 1 other failure (a file, the disk); 2 usage \
error; 3 the daemon is unavailable (cannot connect or start it); 4 a job failed (the message \
says why and whose fault it is); 5 a job was cancelled; 6 a model is missing, unverified or \
could not be fetched.";

#[derive(Parser, Debug)]
#[command(
    name = "easel",
    version,
    about = "Run image models from the command line through the Easel daemon",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Daemon socket (default: $EASEL_SOCKET or $XDG_RUNTIME_DIR/easel/easeld.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Configuration file for a daemon this command starts, and for `models` and `doctor`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Machine-readable output (JSON) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the operations and their parameters.
    Ops,
    /// Run an operation on an image, or on every image of a folder.
    Run(run::RunArgs),
    /// Run the daemon in the foreground.
    Serve,
    /// Show the daemon's queue, and whether it is still warming models.
    Status {
        /// Wait (at most this many seconds) until the daemon has warmed the models its
        /// configuration names (`warm_models`); exits 3 if it is not ready by then.
        #[arg(long, value_name = "SECONDS")]
        wait_ready: Option<f64>,
    },
    /// Stop the daemon.
    Stop,
    /// The model store: list, info, fetch, add, remove, verify, path.
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Check the installation: ONNX Runtime and its providers, models, socket, host plug-ins.
    Doctor,
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to standard output.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to standard output.
    Man,
}

fn daemon_exe() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("easeld")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("easeld"))
}

fn socket(cli: &Cli) -> PathBuf {
    cli.socket.clone().unwrap_or_else(default_socket_path)
}

/// Connects, starting the daemon when nothing answers.
fn connect(cli: &Cli) -> Result<Client, CliError> {
    Client::connect_or_start(
        &socket(cli),
        &daemon_exe(),
        cli.config.as_deref(),
        Duration::from_secs(60),
    )
    .map_err(CliError::from_client)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Reported(message)) => {
            if !cli.json {
                eprintln!("easel: {message}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            if cli.json {
                println!(
                    "{}",
                    json!({"error": e.to_string(), "kind": e.kind(), "exit_code": e.exit_code()})
                );
            } else {
                eprintln!("easel: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Ops => {
            let ops = connect(cli)?.operations().map_err(CliError::from_client)?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&ops.json()).unwrap_or_default()
                );
            } else {
                run::print_operations(&ops);
            }
            Ok(())
        }
        Command::Run(args) => run::run(cli, args),
        Command::Serve => {
            let mut cmd = std::process::Command::new(daemon_exe());
            if let Some(s) = &cli.socket {
                cmd.arg("--socket").arg(s);
            }
            if let Some(c) = &cli.config {
                cmd.arg("--config").arg(c);
            }
            let status = cmd
                .status()
                .map_err(|e| CliError::Unavailable(format!("cannot start easeld: {e}")))?;
            if status.success() {
                Ok(())
            } else {
                Err(CliError::Unavailable(format!("easeld exited: {status}")))
            }
        }
        Command::Status { wait_ready } => {
            let socket = socket(cli);
            let mut c = Client::connect(&socket).map_err(CliError::from_client)?;
            let ready = match *wait_ready {
                Some(s) if s.is_finite() && s >= 0.0 => c
                    .wait_ready(Duration::from_secs_f64(s))
                    .map_err(CliError::from_client)?,
                Some(s) => {
                    return Err(CliError::Usage(format!(
                        "--wait-ready takes seconds (a number from 0), not {s}"
                    )))
                }
                None => true,
            };
            let s = c.daemon_status().map_err(CliError::from_client)?;
            if !ready {
                return Err(CliError::Unavailable(format!(
                    "the daemon on {} is still warming models in {} worker(s) after {} s",
                    s.socket,
                    s.warming,
                    wait_ready.unwrap_or_default()
                )));
            }
            if cli.json {
                println!(
                    "{}",
                    json!({"socket": s.socket, "running": s.running, "queued": s.queued,
                           "warming": s.warming, "ready": s.warming == 0})
                );
            } else {
                let warm = if s.warming == 0 {
                    "ready".to_string()
                } else {
                    format!("warming models in {} worker(s)", s.warming)
                };
                println!(
                    "daemon on {}: {} running, {} queued, {warm}",
                    s.socket, s.running, s.queued
                );
            }
            Ok(())
        }
        Command::Stop => {
            let socket = socket(cli);
            match Client::connect(&socket) {
                Ok(mut c) => c.shutdown().map_err(CliError::from_client),
                Err(_) => {
                    if !cli.json {
                        println!("no daemon is running on {}", socket.display());
                    }
                    Ok(())
                }
            }
        }
        Command::Models { command } => models::models(cli, command),
        Command::Doctor => doctor::doctor(cli),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "easel", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(|e| CliError::Other(format!("cannot write the man page: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_and_the_model_store_agree_on_the_default_memory_budget() {
        assert_eq!(
            easel_daemon::config::DEFAULT_MEMORY_BUDGET_MB,
            easel_models::DEFAULT_MEMORY_BUDGET_MB
        );
        assert_eq!(
            easel_daemon::config::Config::default().memory_budget_mb,
            easel_models::DEFAULT_MEMORY_BUDGET_MB
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
