//! `easel doctor`: is this installation ready? ONNX Runtime (where it was found, what it was built
//! with), the configured execution providers, the models (present, verified, licence), the
//! daemon's socket, the worker and plugins beside `easeld`, and the host plug-ins installed.

use crate::{error::CliError, socket, Cli};
use easel_client::Client;
use easel_daemon::config::{default_config_path, Config};
use easel_models::{runtime_report, ModelStore, ModelStoreConfig};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Note,
    Problem,
}

struct Report {
    checks: Vec<(Level, String, String)>,
}

impl Report {
    fn add(&mut self, level: Level, what: &str, detail: impl Into<String>) {
        self.checks.push((level, what.to_string(), detail.into()));
    }
}

/// `$VAR` when it is an absolute path (the XDG spec ignores empty and relative values), else
/// `$HOME/fallback`: where Krita (`XDG_DATA_HOME`), GIMP and OBS (`XDG_CONFIG_HOME`) look.
fn xdg_or_home(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
}

pub fn doctor(cli: &Cli) -> Result<(), CliError> {
    let mut r = Report { checks: Vec::new() };
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => {
            let from = cli
                .config
                .clone()
                .or_else(|| default_config_path().filter(|p| p.exists()))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "built-in defaults (no configuration file)".into());
            r.add(Level::Ok, "configuration", from);
            c
        }
        Err(e) => {
            r.add(Level::Problem, "configuration", e.to_string());
            Config::default()
        }
    };

    match runtime_report(config.onnxruntime.as_deref()) {
        Ok(rt) => {
            r.add(Level::Ok, "onnx runtime", rt.library.display().to_string());
            let built: Vec<&str> = rt
                .providers
                .iter()
                .filter(|(_, ok)| *ok)
                .map(|(n, _)| *n)
                .collect();
            r.add(Level::Ok, "providers in the library", built.join(", "));
            for wanted in &config.execution_providers {
                if built.contains(&wanted.as_str()) {
                    r.add(
                        Level::Ok,
                        "execution provider",
                        format!("{wanted}: available"),
                    );
                } else {
                    r.add(
                        Level::Problem,
                        "execution provider",
                        format!(
                            "{wanted} is configured, but this ONNX Runtime library was not built with it: models will run on the CPU (install an onnxruntime build with {wanted}, e.g. the onnxruntime-gpu wheel for cuda, and point `onnxruntime` at it)"
                        ),
                    );
                }
            }
        }
        Err(e) => r.add(Level::Problem, "onnx runtime", e.to_string()),
    }

    let mut folders = config.model_dirs.clone();
    if let Some(user) = easel_daemon::config::default_user_dir("models") {
        if !folders.contains(&user) {
            folders.push(user);
        }
    }
    match ModelStore::new(ModelStoreConfig {
        folders,
        ..ModelStoreConfig::default()
    }) {
        Ok(store) => {
            for e in store.entries() {
                let (level, detail) = match (&e.path, store.verify(&e.id)) {
                    (Some(p), Ok(_)) if e.licence_is_clear() => {
                        (Level::Ok, format!("{} (verified)", p.display()))
                    }
                    (Some(p), Ok(_)) => (
                        Level::Note,
                        format!(
                            "{} (verified; licence {})",
                            p.display(),
                            e.licence_summary()
                        ),
                    ),
                    (Some(_), Err(err)) => (Level::Problem, err.to_string()),
                    (None, _) if e.default => (
                        Level::Problem,
                        format!("missing: `easel models fetch {}`", e.id),
                    ),
                    (None, _) => (
                        Level::Note,
                        format!("not here (`easel models fetch {}`)", e.id),
                    ),
                };
                r.add(level, &format!("model {}", e.id), detail);
            }
        }
        Err(e) => r.add(Level::Problem, "models", e.to_string()),
    }
    match easel_models::fetch::mirrors(&config.model_mirrors) {
        Ok(list) if list.is_empty() => {}
        Ok(list) => r.add(
            Level::Ok,
            "model mirrors",
            format!("tried before the upstream addresses: {}", list.join(", ")),
        ),
        Err(e) => r.add(Level::Problem, "model mirrors", e.to_string()),
    }

    let sock = socket(cli);
    match Client::connect(&sock) {
        Ok(mut c) => {
            let detail = match c.operations() {
                Ok(ops) => format!(
                    "{}: answering, {} operations",
                    sock.display(),
                    ops.operations.len()
                ),
                Err(e) => format!("{}: answering, but: {e}", sock.display()),
            };
            r.add(Level::Ok, "daemon", detail);
        }
        Err(_) => r.add(
            Level::Note,
            "daemon",
            format!("{}: not running (it starts on demand)", sock.display()),
        ),
    }
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    for exe in ["easeld", "easel-worker"] {
        let p = bin_dir.join(exe);
        let level = if p.is_file() {
            Level::Ok
        } else {
            Level::Problem
        };
        r.add(level, exe, p.display().to_string());
    }
    let plugin_dirs = [bin_dir.clone(), bin_dir.join("../lib/easel/plugins")];
    let builtin: Vec<String> = plugin_dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("libeasel_plugin_") && n.ends_with(".so"))
        .collect();
    r.add(
        if builtin.is_empty() {
            Level::Problem
        } else {
            Level::Ok
        },
        "built-in plugins",
        format!("{} found", builtin.len()),
    );

    if let (Some(data), Some(config)) = (
        xdg_or_home("XDG_DATA_HOME", ".local/share"),
        xdg_or_home("XDG_CONFIG_HOME", ".config"),
    ) {
        let hosts = [
            ("krita plug-in", data.join("krita/pykrita/easel_krita")),
            ("gimp plug-in", config.join("GIMP/3.0/plug-ins/easel-gimp")),
            (
                "obs module",
                config.join("obs-studio/plugins/easel/bin/64bit/easel.so"),
            ),
        ];
        let kritarc = config.join("kritarc");
        let krita_enabled = std::fs::read_to_string(&kritarc)
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "enable_easel_krita=true"));
        for (what, path) in hosts {
            if what == "krita plug-in" && path.exists() && !krita_enabled {
                r.add(
                    Level::Note,
                    what,
                    format!(
                        "{} is installed but not enabled in {} (Settings ▸ Configure Krita ▸ Python Plugin Manager ▸ Easel, then restart Krita)",
                        path.display(),
                        kritarc.display()
                    ),
                );
            } else if path.exists() {
                r.add(Level::Ok, what, path.display().to_string());
            } else {
                r.add(
                    Level::Note,
                    what,
                    format!("not installed ({})", path.display()),
                );
            }
        }
    }
    r.add(
        Level::Note,
        "platform",
        "Linux (Unix socket, memfd); other platforms are not supported yet",
    );

    let worst = r.checks.iter().map(|c| c.0).max().unwrap_or(Level::Ok);
    if cli.json {
        let checks: Vec<Value> = r
            .checks
            .iter()
            .map(|(l, what, detail)| {
                let level = match l {
                    Level::Ok => "ok",
                    Level::Note => "note",
                    Level::Problem => "problem",
                };
                json!({"check": what, "level": level, "detail": detail})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"ok": worst != Level::Problem, "checks": checks}))
                .unwrap_or_default()
        );
    } else {
        for (l, what, detail) in &r.checks {
            let mark = match l {
                Level::Ok => "ok  ",
                Level::Note => "note",
                Level::Problem => "FAIL",
            };
            println!("{mark}  {what:<28} {detail}");
        }
    }
    if worst == Level::Problem {
        Err(CliError::Reported(
            "some checks failed (marked FAIL above)".into(),
        ))
    } else {
        Ok(())
    }
}
