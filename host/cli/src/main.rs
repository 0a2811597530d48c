//! easel: the command line of Easel — list operations, run them on files or folders, manage
//! models, start or stop the daemon.

use clap::{Parser, Subcommand};
use easel_client::{default_socket_path, Client, ClientError, JobResult, SharedInput};
use easel_daemon::config::Config;
use easel_imaging::{self as imaging, DecodeLimits};
use easel_models::{ModelStore, ModelStoreConfig};
use easel_protocol::{MaskUse, ParamKind, PixelFormat, PluginStatus};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

#[derive(Parser, Debug)]
#[command(
    name = "easel",
    version,
    about = "Run image models from the command line through the Easel daemon"
)]
struct Cli {
    /// Daemon socket (default: $EASEL_SOCKET or $XDG_RUNTIME_DIR/easel/easeld.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Configuration file for a daemon this command starts, and for `models`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the operations and their parameters.
    Ops {
        /// Print the daemon's JSON description.
        #[arg(long)]
        json: bool,
    },
    /// Run an operation on an image, or on every image of a folder.
    Run {
        operation: String,
        /// Input image, or a folder of images (batch).
        #[arg(short, long)]
        input: PathBuf,
        /// Output PNG, or a folder for batch runs.
        #[arg(short, long)]
        output: PathBuf,
        /// Mask image (white = selected).
        #[arg(long)]
        mask: Option<PathBuf>,
        /// Reference images, for operations that take them.
        #[arg(long = "ref")]
        references: Vec<PathBuf>,
        /// Parameters, as name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Grow (or, negative, shrink) the mask by this many pixels.
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        grow: i32,
        /// Feather the mask by this many pixels.
        #[arg(long, default_value_t = 0.0)]
        feather: f32,
        /// Invert the mask.
        #[arg(long)]
        invert: bool,
        /// Context around the mask, in pixels.
        #[arg(long)]
        margin: Option<u32>,
    },
    /// Run the daemon in the foreground.
    Serve,
    /// Show the daemon's queue.
    Status,
    /// Stop the daemon.
    Stop,
    /// The model store.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ModelsCommand {
    /// List the models the store knows and where their files are.
    List,
    /// Check models' checksums (all, or the ones named).
    Verify { ids: Vec<String> },
}

fn daemon_exe() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("easeld")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("easeld"))
}

fn connect(cli: &Cli) -> Result<Client, ClientError> {
    let socket = cli.socket.clone().unwrap_or_else(default_socket_path);
    Client::connect_or_start(
        &socket,
        &daemon_exe(),
        cli.config.as_deref(),
        Duration::from_secs(60),
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("easel: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    match &cli.command {
        Command::Ops { json } => {
            let mut c = connect(cli).map_err(|e| e.to_string())?;
            let ops = c.operations().map_err(|e| e.to_string())?;
            if *json {
                let all = json!({"operations": ops.operations, "plugins": ops.plugins});
                println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            } else {
                print_operations(&ops);
            }
            Ok(())
        }
        Command::Run {
            operation,
            input,
            output,
            mask,
            references,
            params,
            grow,
            feather,
            invert,
            margin,
        } => {
            let params = parse_params(params)?;
            let mut extra = json!({
                "params": params,
                "mask_modifiers": {"grow": grow, "feather": feather, "invert": invert},
            });
            if let Some(m) = margin {
                extra["context_margin"] = json!(m);
            }
            let mut c = connect(cli).map_err(|e| e.to_string())?;
            let limits = DecodeLimits {
                max_pixels: c.hello.limits.max_pixels,
            };
            let refs = references
                .iter()
                .map(|p| {
                    imaging::decode_file(p, &limits)
                        .map_err(|e| e.to_string())
                        .and_then(|i| SharedInput::new(&i).map_err(|e| e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if input.is_dir() {
                extra["priority"] = json!("batch");
                run_batch(
                    &mut c,
                    operation,
                    input,
                    output,
                    mask.as_deref(),
                    &refs,
                    &extra,
                    &limits,
                )
            } else {
                run_one(
                    &mut c,
                    operation,
                    input,
                    output,
                    mask.as_deref(),
                    &refs,
                    &extra,
                    &limits,
                    true,
                )
            }
        }
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
                .map_err(|e| format!("cannot start easeld: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("easeld exited: {status}"))
            }
        }
        Command::Status => {
            let socket = cli.socket.clone().unwrap_or_else(default_socket_path);
            let mut c = Client::connect(&socket).map_err(|e| e.to_string())?;
            let (queued, running, _) = c.status().map_err(|e| e.to_string())?;
            println!(
                "daemon on {}: {running} running, {queued} queued",
                socket.display()
            );
            Ok(())
        }
        Command::Stop => {
            let socket = cli.socket.clone().unwrap_or_else(default_socket_path);
            match Client::connect(&socket) {
                Ok(mut c) => c.shutdown().map_err(|e| e.to_string()),
                Err(_) => {
                    println!("no daemon is running on {}", socket.display());
                    Ok(())
                }
            }
        }
        Command::Models { command } => models(cli, command),
    }
}

fn print_operations(ops: &easel_client::Operations) {
    for op in &ops.operations {
        println!("{}  —  {} [{}]", op.id, op.title, op.category);
        if !op.description.is_empty() {
            println!("    {}", op.description);
        }
        match op.mask {
            MaskUse::Ignored => {}
            MaskUse::Optional => println!("    mask: optional"),
            MaskUse::Required => println!("    mask: required"),
        }
        for p in &op.params {
            let (range, default) = match &p.kind {
                ParamKind::Int { min, max, default } => {
                    (format!("{min}..{max}"), default.to_string())
                }
                ParamKind::Float {
                    min, max, default, ..
                } => (format!("{min}..{max}"), default.to_string()),
                ParamKind::Bool { default } => ("true | false".into(), default.to_string()),
                ParamKind::Choice {
                    options, default, ..
                } => (options.join(" | "), default.clone()),
                ParamKind::Seed { default } => ("seed".into(), default.to_string()),
                ParamKind::Text {
                    default, max_len, ..
                } => (
                    format!("text, at most {max_len} characters"),
                    format!("{default:?}"),
                ),
            };
            println!(
                "    --set {}=…  {} ({range}; default {default})",
                p.name, p.title
            );
        }
    }
    for p in &ops.plugins {
        if let PluginStatus::Refused { path, reason } = p {
            println!("refused plugin {path}: {reason}");
        }
    }
}

fn parse_params(params: &[String]) -> Result<Value, String> {
    let mut map = serde_json::Map::new();
    for p in params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--set {p}: expected NAME=VALUE"))?;
        let value = serde_json::from_str::<Value>(v)
            .ok()
            .filter(|v| !v.is_string() && !v.is_object() && !v.is_array())
            .unwrap_or_else(|| json!(v));
        map.insert(k.to_string(), value);
    }
    Ok(Value::Object(map))
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    c: &mut Client,
    operation: &str,
    input: &Path,
    output: &Path,
    mask: Option<&Path>,
    refs: &[SharedInput],
    extra: &Value,
    limits: &DecodeLimits,
    show_progress: bool,
) -> Result<(), String> {
    let image = imaging::decode_file(input, limits).map_err(|e| e.to_string())?;
    let shared = SharedInput::new(&image).map_err(|e| e.to_string())?;
    let mask_shared = match mask {
        Some(m) => {
            let m = imaging::decode_mask_file(m, limits).map_err(|e| e.to_string())?;
            Some(SharedInput::new(&m.to_image(PixelFormat::Gray32F)).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let ref_list: Vec<&SharedInput> = refs.iter().collect();
    let job = c
        .submit(
            operation,
            &shared,
            mask_shared.as_ref(),
            &ref_list,
            extra.clone(),
        )
        .map_err(|e| e.to_string())?;
    let bar = if show_progress {
        ProgressBar::new(1000)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:20} [{bar:30}] {percent:>3}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let result = c.wait(job, |f, m| {
        bar.set_position((f * 1000.0) as u64);
        bar.set_message(m.to_string());
    });
    bar.finish_and_clear();
    let result = result.map_err(|e| e.to_string())?;
    // A masked crop is placed on a transparent canvas the size of the input (times the
    // operation's scale), so the file lines up with the input like a layer in an editor.
    let scale = u64::from(result.message.scale.max(1));
    let placed = place_on_canvas(&result, image.width, image.height, scale);
    imaging::encode_png(placed.as_ref().unwrap_or(&result.image), output)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "{}: {}x{} at ({}, {}) -> {}",
        result.name,
        result.image.width,
        result.image.height,
        result.x,
        result.y,
        output.display()
    );
    Ok(())
}

/// The result on a transparent canvas of the input's size, when it covers only part of it.
fn place_on_canvas(
    result: &JobResult,
    width: u32,
    height: u32,
    scale: u64,
) -> Option<imaging::OwnedImage> {
    let (cw, ch) = (width as u64 * scale, height as u64 * scale);
    let img = &result.image;
    if (img.width as u64, img.height as u64) == (cw, ch)
        || result.x + img.width as u64 > cw
        || result.y + img.height as u64 > ch
    {
        return None;
    }
    let mut canvas = imaging::OwnedImage::new(cw as u32, ch as u32, img.format);
    let bpp = img.format.bytes_per_pixel();
    let (src_row, dst_row) = (img.width as usize * bpp, cw as usize * bpp);
    for y in 0..img.height as usize {
        let d = (result.y as usize + y) * dst_row + result.x as usize * bpp;
        canvas.data[d..d + src_row].copy_from_slice(&img.data[y * src_row..(y + 1) * src_row]);
    }
    Some(canvas)
}

#[allow(clippy::too_many_arguments)]
fn run_batch(
    c: &mut Client,
    operation: &str,
    input: &Path,
    output: &Path,
    mask: Option<&Path>,
    refs: &[SharedInput],
    extra: &Value,
    limits: &DecodeLimits,
) -> Result<(), String> {
    std::fs::create_dir_all(output)
        .map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .map_err(|e| format!("cannot read {}: {e}", input.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("png" | "jpg" | "jpeg")
            )
        })
        .collect();
    files.sort();
    let bar = ProgressBar::new(files.len() as u64);
    let mut failures = 0;
    for f in &files {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        let out = output.join(format!("{name}.png"));
        bar.set_message(name.to_string());
        if let Err(e) = run_one(c, operation, f, &out, mask, refs, extra, limits, false) {
            bar.println(format!("{}: {e}", f.display()));
            failures += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("{} of {} images done", files.len() - failures, files.len());
    if failures > 0 {
        Err(format!("{failures} images failed"))
    } else {
        Ok(())
    }
}

fn models(cli: &Cli, command: &ModelsCommand) -> Result<(), String> {
    let config = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    let store = ModelStore::new(ModelStoreConfig {
        folders: config.model_dirs.clone(),
        memory_budget_bytes: config.memory_budget_mb << 20,
        intra_threads: config.threads,
        onnxruntime: config.onnxruntime.clone(),
    })
    .map_err(|e| e.to_string())?;
    match command {
        ModelsCommand::List => {
            for e in store.entries() {
                let place = e
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(file not found)".into());
                println!(
                    "{:<22} {:<40} {}\n{:<22} licence: {}; source: {}",
                    e.id, e.task, place, "", e.licence, e.source
                );
            }
            Ok(())
        }
        ModelsCommand::Verify { ids } => {
            let ids: Vec<String> = if ids.is_empty() {
                store.entries().into_iter().map(|e| e.id).collect()
            } else {
                ids.clone()
            };
            let mut bad = 0;
            for id in &ids {
                match store.verify(id) {
                    Ok(p) => println!("ok       {id} ({})", p.display()),
                    Err(e) => {
                        bad += 1;
                        println!("FAILED   {id}: {e}");
                    }
                }
            }
            if bad > 0 {
                Err(format!("{bad} of {} models failed verification", ids.len()))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
