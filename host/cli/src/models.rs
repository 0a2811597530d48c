//! `easel models`: the store as a user sees it — what is known, what is present and verified,
//! getting files from their upstream homes (licence shown first), adding one's own, removing.

use crate::{error::CliError, Cli};
use easel_daemon::config::{default_user_dir, Config};
use easel_models::fetch::{fetch, FetchEvent, FetchOptions};
use easel_models::{sha256_file, ModelEntry, ModelStore, ModelStoreConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum ModelsCommand {
    /// List the models the store knows, where their files are, and their licences.
    List,
    /// Everything about one model.
    Info { id: String },
    /// Download models from their upstream homes (sha256 checked before use; resumable).
    Fetch {
        ids: Vec<String>,
        /// The default models (those whose licence is clear and allows use).
        #[arg(long)]
        defaults: bool,
        /// Accept each model's licence without asking (for scripts).
        #[arg(long = "accept-licence", alias = "accept-license")]
        accept_licence: bool,
        /// Where to put them (default: $XDG_DATA_HOME/easel/models).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Add a model file of your own under an id (copied into the user model folder).
    Add {
        file: PathBuf,
        #[arg(long)]
        id: String,
    },
    /// Remove a model's file from the user model folder.
    Remove { id: String },
    /// Check models' checksums (all, or the ones named).
    Verify { ids: Vec<String> },
    /// The model folders, or the file of one model.
    Path { id: Option<String> },
    /// Write a Triton Inference Server model repository for the store's models.
    TritonRepo(crate::triton_repo::TritonRepoArgs),
}

fn user_models_dir() -> Result<PathBuf, CliError> {
    default_user_dir("models").ok_or_else(|| {
        CliError::Other("neither XDG_DATA_HOME nor HOME is set: no user model folder".into())
    })
}

fn store(config: &Config) -> Result<ModelStore, CliError> {
    let mut folders = config.model_dirs.clone();
    if let Ok(user) = user_models_dir() {
        if !folders.contains(&user) {
            folders.push(user);
        }
    }
    ModelStore::new(ModelStoreConfig {
        folders,
        memory_budget_bytes: config.memory_budget_mb << 20,
        intra_threads: config.threads,
        onnxruntime: config.onnxruntime.clone(),
        providers: config.execution_providers.clone(),
    })
    .map_err(|e| CliError::Model(e.to_string()))
}

fn entry_json(e: &ModelEntry) -> serde_json::Value {
    json!({
        "id": e.id, "task": e.task, "file": e.file, "path": e.path, "sha256": e.sha256,
        "size": e.size, "urls": e.urls, "revision": e.revision, "source": e.source,
        "licence": e.licence, "spdx": e.spdx, "licence_url": e.licence_url,
        "commercial_use": e.commercial_use, "licence_clear": e.licence_is_clear(),
        "default": e.default,
    })
}

pub fn models(cli: &Cli, command: &ModelsCommand) -> Result<(), CliError> {
    let config = Config::load(cli.config.as_deref()).map_err(|e| CliError::Other(e.to_string()))?;
    let store = store(&config)?;
    match command {
        ModelsCommand::List => {
            let entries = store.entries();
            if cli.json {
                let list: Vec<_> = entries.iter().map(entry_json).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(());
            }
            for e in entries {
                let place = e
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| format!("(not here: `easel models fetch {}`)", e.id));
                let default = if e.default { " [default]" } else { "" };
                println!(
                    "{:<22} {}{default}\n{:<22} {place}\n{:<22} licence: {}",
                    e.id,
                    e.task,
                    "",
                    "",
                    e.licence_summary()
                );
            }
            Ok(())
        }
        ModelsCommand::Info { id } => {
            let e = store
                .entry(id)
                .map_err(|e| CliError::Model(e.to_string()))?;
            let verified = e
                .path
                .as_ref()
                .map(|_| store.verify(id).map_err(|e| e.to_string()));
            if cli.json {
                let mut v = entry_json(&e);
                v["verified"] = json!(verified.as_ref().map(|r| r.is_ok()));
                if let Some(Err(why)) = &verified {
                    v["verify_error"] = json!(why);
                }
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(());
            }
            println!("{}: {}", e.id, e.task);
            println!("  file:     {}", e.file);
            match (&e.path, &verified) {
                (Some(p), Some(Ok(_))) => println!("  present:  {} (sha256 verified)", p.display()),
                (Some(p), Some(Err(why))) => println!("  present:  {} — FAILS: {why}", p.display()),
                _ => println!("  present:  no — `easel models fetch {}`", e.id),
            }
            println!("  sha256:   {}", e.sha256);
            if let Some(size) = e.size {
                println!("  size:     {:.1} MB", size as f64 / 1e6);
            }
            println!("  licence:  {}", e.licence_summary());
            println!("  source:   {}", e.source);
            for u in &e.urls {
                println!("  download: {u}");
            }
            if let Some(notes) = &e.notes {
                println!("  notes:    {notes}");
            }
            Ok(())
        }
        ModelsCommand::Fetch {
            ids,
            defaults,
            accept_licence,
            dir,
        } => {
            let mut wanted: Vec<ModelEntry> = Vec::new();
            if *defaults {
                wanted.extend(store.entries().into_iter().filter(|e| e.default));
            }
            for id in ids {
                wanted.push(
                    store
                        .entry(id)
                        .map_err(|e| CliError::Model(e.to_string()))?,
                );
            }
            if wanted.is_empty() {
                return Err(CliError::Usage(
                    "name the models to fetch, or give --defaults (`easel models list` shows them)"
                        .into(),
                ));
            }
            let dir = match dir {
                Some(d) => d.clone(),
                None => user_models_dir()?,
            };
            let mirrors = easel_models::fetch::mirrors(&config.model_mirrors)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let mut reports = Vec::new();
            for e in wanted {
                if let Some(path) = e.path.as_ref().filter(|_| store.verify(&e.id).is_ok()) {
                    reports.push(json!({"id": e.id, "path": path, "fetched": false}));
                    if !cli.json {
                        println!("{}: already here ({})", e.id, path.display());
                    }
                    continue;
                }
                if !accept_licence && !confirm_licence(&e)? {
                    return Err(CliError::Usage(format!(
                        "the licence of `{}` was not accepted; nothing was downloaded",
                        e.id
                    )));
                }
                let path = download(&e, &dir, &mirrors, cli.json)?;
                reports.push(json!({"id": e.id, "path": path, "fetched": true}));
            }
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&reports).unwrap_or_default()
                );
            }
            Ok(())
        }
        ModelsCommand::Add { file, id } => {
            let path = add(&store, file, id)?;
            if cli.json {
                println!("{}", json!({"id": id, "path": path}));
            } else {
                println!("added `{id}` as {}", path.display());
            }
            Ok(())
        }
        ModelsCommand::Remove { id } => {
            let e = store
                .entry(id)
                .map_err(|e| CliError::Model(e.to_string()))?;
            let user = user_models_dir()?;
            let Some(path) = e.path.filter(|p| p.starts_with(&user)) else {
                return Err(CliError::Model(format!(
                    "`{id}` has no file in the user model folder {}; files elsewhere are not removed by easel",
                    user.display()
                )));
            };
            std::fs::remove_file(&path)
                .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
            remove_from_user_manifest(&user, id)?;
            if cli.json {
                println!("{}", json!({"id": id, "removed": path}));
            } else {
                println!("removed {}", path.display());
            }
            Ok(())
        }
        ModelsCommand::TritonRepo(args) => crate::triton_repo::triton_repo(&store, args, cli.json),
        ModelsCommand::Verify { ids } => {
            let ids: Vec<String> = if ids.is_empty() {
                store
                    .entries()
                    .into_iter()
                    .filter(|e| e.path.is_some())
                    .map(|e| e.id)
                    .collect()
            } else {
                ids.clone()
            };
            let mut bad = 0;
            let mut results = Vec::new();
            for id in &ids {
                match store.verify(id) {
                    Ok(p) => {
                        results.push(json!({"id": id, "ok": true, "path": p}));
                        if !cli.json {
                            println!("ok       {id} ({})", p.display());
                        }
                    }
                    Err(e) => {
                        bad += 1;
                        results.push(json!({"id": id, "ok": false, "error": e.to_string()}));
                        if !cli.json {
                            println!("FAILED   {id}: {e}");
                        }
                    }
                }
            }
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&results).unwrap_or_default()
                );
            }
            if bad > 0 {
                Err(CliError::Model(format!(
                    "{bad} of {} models failed verification",
                    ids.len()
                )))
            } else {
                Ok(())
            }
        }
        ModelsCommand::Path { id: None } => {
            let folders = &store.config().folders;
            if cli.json {
                println!("{}", json!({"folders": folders}));
            } else {
                for f in folders {
                    println!("{}", f.display());
                }
            }
            Ok(())
        }
        ModelsCommand::Path { id: Some(id) } => {
            let e = store
                .entry(id)
                .map_err(|e| CliError::Model(e.to_string()))?;
            let path = e.path.ok_or_else(|| {
                CliError::Model(format!(
                    "`{id}` is not here; get it with `easel models fetch {id}`"
                ))
            })?;
            if cli.json {
                println!("{}", json!({"id": id, "path": path}));
            } else {
                println!("{}", path.display());
            }
            Ok(())
        }
    }
}

/// Shows the licence and asks; refuses without a terminal (scripts pass --accept-licence).
fn confirm_licence(e: &ModelEntry) -> Result<bool, CliError> {
    eprintln!(
        "`{}` ({}) is licensed: {}",
        e.id,
        e.task,
        e.licence_summary()
    );
    if !e.licence_is_clear() {
        eprintln!("  Its licence is unclear: use it only once you have confirmed you may.");
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "no terminal to ask whether you accept the licence of `{}`: pass --accept-licence",
            e.id
        )));
    }
    eprint!("Download it and accept its licence? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::Other(e.to_string()))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn download(
    e: &ModelEntry,
    dir: &Path,
    mirrors: &[String],
    quiet: bool,
) -> Result<PathBuf, CliError> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(e.size.unwrap_or(0))
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(e.id.clone());
    let options = FetchOptions {
        mirrors: mirrors.to_vec(),
        ..FetchOptions::default()
    };
    let result = fetch(e, dir, &options, &mut |ev| match ev {
        FetchEvent::Started {
            url,
            total,
            resumed_from,
        } => {
            bar.println(format!("{}: from {url}", e.id));
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(resumed_from);
        }
        FetchEvent::Progress { done, .. } => bar.set_position(done),
        FetchEvent::Retrying { done, error } => {
            bar.println(format!("{}: {error}; resuming at {done} bytes", e.id))
        }
        FetchEvent::Verifying => bar.set_message(format!("{} (sha256)", e.id)),
    });
    bar.finish_and_clear();
    let path = result.map_err(|err| CliError::Model(format!("`{}`: {err}", e.id)))?;
    if !quiet {
        println!("{}: {} (sha256 verified)", e.id, path.display());
    }
    Ok(path)
}

/// Copies `file` into the user model folder and lists it in that folder's manifest under `id`
/// (replacing an entry of the same id there; a built-in entry of that id is overridden). A file
/// that is exactly a known model's (same sha256: obtained some other way, e.g. converted by the
/// user as its manifest entry says) is copied under that model's file name and keeps its entry,
/// licence and all.
fn add(store: &ModelStore, file: &Path, id: &str) -> Result<PathBuf, CliError> {
    let other = |m: String| CliError::Other(m);
    if !file.is_file() {
        return Err(CliError::Usage(format!("{} is not a file", file.display())));
    }
    let dir = user_models_dir()?;
    std::fs::create_dir_all(&dir).map_err(|e| other(format!("{}: {e}", dir.display())))?;
    let name = file
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} has no file name", file.display())))?;
    let sha = sha256_file(file).map_err(|e| CliError::Model(e.to_string()))?;
    if let Some(known) = store
        .entries()
        .into_iter()
        .find(|e| e.id == id && e.sha256 == sha)
    {
        let known_name = Path::new(&known.file)
            .file_name()
            .ok_or_else(|| CliError::Model(format!("`{id}` has no file name in its manifest")))?;
        let dest = dir.join(known_name);
        if known.path.as_deref() != Some(dest.as_path()) {
            std::fs::copy(file, &dest).map_err(|e| other(format!("{}: {e}", dest.display())))?;
        }
        return Ok(dest);
    }
    let dest = dir.join(name);
    if dest != file {
        std::fs::copy(file, &dest).map_err(|e| other(format!("{}: {e}", dest.display())))?;
    }
    let manifest = dir.join("manifest.toml");
    let mut doc = read_user_manifest(&manifest)?;
    let models = doc
        .entry("model")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    if let toml::Value::Array(list) = models {
        list.retain(|m| m.get("id").and_then(|v| v.as_str()) != Some(id));
        let mut t = toml::map::Map::new();
        t.insert("id".into(), toml::Value::String(id.into()));
        t.insert(
            "file".into(),
            toml::Value::String(name.to_string_lossy().into()),
        );
        t.insert("sha256".into(), toml::Value::String(sha));
        t.insert(
            "licence".into(),
            toml::Value::String("added by the user".into()),
        );
        t.insert(
            "source".into(),
            toml::Value::String(file.display().to_string()),
        );
        list.push(toml::Value::Table(t));
    }
    let text = toml::to_string(&doc).map_err(|e| other(e.to_string()))?;
    // The store reads it back: refuse to leave a manifest it cannot read.
    easel_models::parse_manifest(&text, &manifest).map_err(|e| CliError::Model(e.to_string()))?;
    std::fs::write(&manifest, text).map_err(|e| other(format!("{}: {e}", manifest.display())))?;
    Ok(dest)
}

fn read_user_manifest(path: &Path) -> Result<toml::map::Map<String, toml::Value>, CliError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| CliError::Model(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::map::Map::new()),
        Err(e) => Err(CliError::Other(format!("{}: {e}", path.display()))),
    }
}

fn remove_from_user_manifest(dir: &Path, id: &str) -> Result<(), CliError> {
    let manifest = dir.join("manifest.toml");
    let mut doc = read_user_manifest(&manifest)?;
    if let Some(toml::Value::Array(list)) = doc.get_mut("model") {
        list.retain(|m| m.get("id").and_then(|v| v.as_str()) != Some(id));
        let text = toml::to_string(&doc).map_err(|e| CliError::Other(e.to_string()))?;
        std::fs::write(&manifest, text)
            .map_err(|e| CliError::Other(format!("{}: {e}", manifest.display())))?;
    }
    Ok(())
}
