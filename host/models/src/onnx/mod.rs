//! ONNX Runtime in this process: the default [`Backend`], through `ort` with `load-dynamic`
//! (the shared library is found at run time, see [`find_onnxruntime`]).

mod convert;
mod runtime;

pub use runtime::find_onnxruntime;

use crate::{Backend, LoadedModel, ModelError};
use convert::{ConvertError, Port};
use easel_sdk::Tensor;
use ort::ep::ExecutionProviderDispatch;
use ort::session::{RunOptions, Session};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The path ONNX Runtime was loaded from, once a model has been loaded.
pub fn onnxruntime_loaded_from() -> Option<PathBuf> {
    runtime::loaded_from()
}

/// Execution providers a configuration may ask for, by the name it uses.
pub const PROVIDERS: [&str; 5] = ["cuda", "tensorrt", "openvino", "rocm", "cpu"];

fn provider(name: &str) -> Option<(ExecutionProviderDispatch, bool)> {
    use ort::ep::{ExecutionProvider, OpenVINO, ROCm, TensorRT, CPU, CUDA};
    let available = |r: ort::Result<bool>| r.unwrap_or(false);
    Some(match name {
        "cuda" => (CUDA::default().build(), available(CUDA::is_available())),
        "tensorrt" => (
            TensorRT::default().build(),
            available(TensorRT::is_available()),
        ),
        "openvino" => (
            OpenVINO::default().build(),
            available(OpenVINO::is_available()),
        ),
        "rocm" => (ROCm::default().build(), available(ROCm::is_available())),
        "cpu" => (CPU::default().build(), true),
        _ => return None,
    })
}

/// What this machine's ONNX Runtime is and can do, for `easel doctor`.
#[derive(Debug, Clone)]
pub struct RuntimeReport {
    pub library: PathBuf,
    pub build_info: String,
    /// Each provider of [`PROVIDERS`] and whether the library was built with it.
    pub providers: Vec<(&'static str, bool)>,
}

/// Loads ONNX Runtime (as the worker would) and reports on it.
pub fn runtime_report(explicit: Option<&Path>) -> Result<RuntimeReport, ModelError> {
    runtime::environment(explicit)?;
    let library = runtime::loaded_from().unwrap_or_default();
    let providers = PROVIDERS
        .iter()
        .map(|&name| (name, provider(name).is_some_and(|(_, ok)| ok)))
        .collect();
    Ok(RuntimeReport {
        library,
        build_info: ort::info().to_string(),
        providers,
    })
}

/// Runs models with the ONNX Runtime library of this process.
pub struct OnnxRuntime {
    /// The library named by the configuration; searched for when `None`.
    library: Option<PathBuf>,
    /// Intra-op threads per session (0: ONNX Runtime's default).
    intra_threads: usize,
    /// Execution providers to try, in order, before the CPU.
    providers: Vec<String>,
    /// Where optimized graphs are kept between loads (see [`OnnxRuntime::with_cache_dir`]).
    cache_dir: Option<PathBuf>,
    /// ONNX Runtime's CPU arena (keeps the largest activations of any run allocated).
    arena: bool,
    /// Intra-op threads spin while waiting for work (faster hand-offs, CPU burnt after a run).
    spinning: bool,
    /// The arena gives back what a run added to it when the run ends (activations are not kept
    /// resident between jobs; within a run they are still reused).
    shrink: bool,
}

/// The default folder of optimized graphs: `$EASEL_ORT_CACHE` (empty: none), else
/// `$XDG_CACHE_HOME/easel/ort`, else `~/.cache/easel/ort`.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("EASEL_ORT_CACHE") {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .map(|d| d.join("easel").join("ort")),
    }
}

/// A boolean environment switch: `0`/`false`/`no`/`off` are false, anything else true.
fn env_flag(name: &str, default: bool) -> bool {
    match std::env::var(name) {
        Ok(v) => !matches!(v.trim(), "0" | "false" | "no" | "off"),
        Err(_) => default,
    }
}

impl OnnxRuntime {
    pub fn new(library: Option<PathBuf>, intra_threads: usize) -> Self {
        OnnxRuntime {
            library,
            intra_threads,
            providers: Vec::new(),
            cache_dir: None,
            arena: env_flag("EASEL_ORT_ARENA", false),
            shrink: env_flag("EASEL_ORT_SHRINK", false),
            spinning: env_flag("EASEL_ORT_SPIN", true),
        }
    }

    /// Keeps each model's optimized graph in `dir`, named by the model's id and sha256 and by
    /// this ONNX Runtime and its options, and loads that instead of optimizing again (a new
    /// file, runtime or option makes a new name; the model's older graphs are removed).
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// The cache file of a model, when there is a cache.
    fn cache_file(&self, id: &str, sha256: &str) -> Option<PathBuf> {
        use sha2::{Digest, Sha256};
        let dir = self.cache_dir.as_ref()?;
        let safe_id: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut key = Sha256::new();
        key.update(ort::info().as_bytes());
        key.update(self.providers.join(",").as_bytes());
        let key: String = key.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let sha = sha256.get(..16).unwrap_or(sha256);
        Some(dir.join(format!("{safe_id}.{sha}.{key}.onnx")))
    }

    fn builder(
        &self,
        id: &str,
        env: &ort::environment::Environment,
    ) -> Result<ort::session::builder::SessionBuilder, ModelError> {
        let load_err = |source: ort::Error| ModelError::Load {
            id: id.to_string(),
            source: source.into(),
        };
        let err = |e: ort::Error<ort::session::builder::SessionBuilder>| load_err(e.into());
        let mut builder = Session::builder(env).map_err(load_err)?;
        if self.intra_threads > 0 {
            builder = builder
                .with_intra_threads(self.intra_threads)
                .map_err(err)?;
        }
        if !self.spinning {
            builder = builder.with_intra_op_spinning(false).map_err(err)?;
        } else {
            // Spin within a run, not after it: by default the pool threads spin on for ~50 ms
            // after every run (45 ms of CPU per u2netp run measured), taking a core from the
            // plugin's post-processing, other workers and the host application. Same run time.
            builder = builder
                .with_config_entry("session.force_spinning_stop", "1")
                .map_err(err)?;
        }
        let builder = self.apply_providers(id, builder);
        builder
            .with_execution_providers([ort::ep::CPU::default()
                .with_arena_allocator(self.arena)
                .build()])
            .map_err(err)
    }

    /// A session for `path`, from the cached optimized graph when there is one.
    fn session(&self, id: &str, path: &Path, sha256: Option<&str>) -> Result<Session, ModelError> {
        use ort::session::builder::GraphOptimizationLevel;
        let env = runtime::environment(self.library.as_deref())?;
        let load_err = |source: ort::Error| ModelError::Load {
            id: id.to_string(),
            source: source.into(),
        };
        let cache = sha256.and_then(|sha| self.cache_file(id, sha));
        let Some(cache) = cache else {
            return self
                .builder(id, &env)?
                .commit_from_file(path)
                .map_err(load_err);
        };
        if cache.is_file() {
            let cached = self
                .builder(id, &env)?
                .with_optimization_level(GraphOptimizationLevel::Disable)
                .map_err(|e| load_err(e.into()))?
                .commit_from_file(&cache);
            match cached {
                Ok(session) => {
                    log::debug!("model `{id}`: optimized graph from {}", cache.display());
                    return Ok(session);
                }
                Err(e) => {
                    log::warn!(
                        "model `{id}`: the cached graph {} does not load ({e}); optimizing again",
                        cache.display()
                    );
                    let _ = std::fs::remove_file(&cache);
                }
            }
        }
        let dir = cache.parent().unwrap_or(Path::new("."));
        let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
        let mut builder = self.builder(id, &env)?;
        if let Err(e) = std::fs::create_dir_all(dir) {
            log::debug!("model `{id}`: no cache folder {}: {e}", dir.display());
            return builder.commit_from_file(path).map_err(load_err);
        }
        let mut builder = match builder.with_optimized_model_path(&tmp) {
            Ok(b) => b,
            Err(e) => {
                log::debug!("model `{id}`: no optimized graph kept: {e}");
                e.recover()
            }
        };
        let session = builder.commit_from_file(path).map_err(load_err)?;
        if tmp.is_file() {
            if let Err(e) = std::fs::rename(&tmp, &cache) {
                log::debug!("model `{id}`: optimized graph not kept: {e}");
                let _ = std::fs::remove_file(&tmp);
            } else {
                remove_stale(&cache);
            }
        }
        Ok(session)
    }

    /// Tries these execution providers (names from [`PROVIDERS`]) in order; each that fails is
    /// logged plainly with the provider that runs instead.
    pub fn with_providers(mut self, providers: Vec<String>) -> Self {
        self.providers = providers;
        self
    }

    fn apply_providers(
        &self,
        id: &str,
        mut builder: ort::session::builder::SessionBuilder,
    ) -> ort::session::builder::SessionBuilder {
        for name in &self.providers {
            let Some((ep, available)) = provider(name) else {
                log::warn!(
                    "execution provider `{name}` is not one Easel knows ({}); ignored",
                    PROVIDERS.join(", ")
                );
                continue;
            };
            if !available {
                log::warn!(
                    "model `{id}`: the ONNX Runtime library was not built with the `{name}` execution provider; trying the next one (the CPU last)"
                );
                continue;
            }
            match builder.with_execution_providers([ep.error_on_failure()]) {
                Ok(b) => {
                    log::info!("model `{id}` runs on the `{name}` execution provider");
                    return b;
                }
                Err(e) => {
                    log::warn!(
                        "model `{id}`: the `{name}` execution provider failed to load ({e}); trying the next one (the CPU last)"
                    );
                    builder = e.recover();
                }
            }
        }
        if !self.providers.is_empty() {
            log::warn!("model `{id}` runs on the CPU");
        }
        builder
    }
}

impl Backend for OnnxRuntime {
    fn name(&self) -> String {
        match runtime::loaded_from() {
            Some(p) => format!("onnxruntime {}", p.display()),
            None => "onnxruntime".to_string(),
        }
    }

    fn load(&self, id: &str, path: &Path) -> Result<Box<dyn LoadedModel>, ModelError> {
        self.load_session(id, path, None)
    }

    fn load_verified(
        &self,
        id: &str,
        path: &Path,
        sha256: &str,
    ) -> Result<Box<dyn LoadedModel>, ModelError> {
        self.load_session(id, path, Some(sha256))
    }
}

impl OnnxRuntime {
    fn load_session(
        &self,
        id: &str,
        path: &Path,
        sha256: Option<&str>,
    ) -> Result<Box<dyn LoadedModel>, ModelError> {
        let session = self.session(id, path, sha256)?;
        let (inputs, outputs) = convert::ports(&session);
        let public = |ports: &[Port]| ports.iter().map(Port::public).collect();
        Ok(Box::new(OrtModel {
            id: id.to_string(),
            public_inputs: public(&inputs),
            public_outputs: public(&outputs),
            session: Mutex::new(session),
            shrink: self.arena && self.shrink,
            inputs,
            outputs,
        }))
    }
}

/// Removes the other cached graphs of the model that `kept` belongs to (older files or runtimes).
fn remove_stale(kept: &Path) {
    let (Some(dir), Some(name)) = (kept.parent(), kept.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Some(prefix) = name.split('.').next().map(|id| format!("{id}.")) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let other = entry.file_name();
        let Some(other) = other.to_str() else {
            continue;
        };
        if other != name && other.starts_with(&prefix) && other.ends_with(".onnx") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A loaded session. `run` needs `&mut Session` in ort rc.15, hence the mutex.
struct OrtModel {
    id: String,
    /// Ask each run to shrink the CPU arena when it ends.
    shrink: bool,
    session: Mutex<Session>,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    public_inputs: Vec<crate::Port>,
    public_outputs: Vec<crate::Port>,
}

impl LoadedModel for OrtModel {
    fn inputs(&self) -> &[crate::Port] {
        &self.public_inputs
    }
    fn outputs(&self) -> &[crate::Port] {
        &self.public_outputs
    }
    fn run(
        &self,
        inputs: Vec<Tensor>,
        wanted: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, ModelError> {
        let bad = |message: String| ModelError::BadInput {
            id: self.id.clone(),
            message,
        };
        let mut values = Vec::with_capacity(inputs.len());
        let mut given: Vec<String> = Vec::with_capacity(inputs.len());
        for tensor in inputs {
            let name = tensor.name.to_string();
            let port = self.inputs.iter().find(|p| p.name == name).ok_or_else(|| {
                bad(format!(
                    "it has no input `{name}`; its inputs are {}",
                    convert::describe_all(&self.inputs)
                ))
            })?;
            if given.contains(&name) {
                return Err(bad(format!("input `{name}` is given twice")));
            }
            convert::check_input(&tensor, port).map_err(&bad)?;
            let value = convert::to_value(tensor, port).map_err(|e| match e {
                ConvertError::Ort(source) => ModelError::Inference {
                    id: self.id.clone(),
                    source: source.into(),
                },
                ConvertError::Unsupported(message) => bad(message),
            })?;
            values.push((name.clone(), value));
            given.push(name);
        }
        let missing: Vec<&Port> = self
            .inputs
            .iter()
            .filter(|p| !given.contains(&p.name))
            .collect();
        if !missing.is_empty() {
            let missing: Vec<Port> = missing.into_iter().cloned().collect();
            return Err(bad(format!(
                "missing input(s) {}",
                convert::describe_all(&missing)
            )));
        }
        for name in wanted {
            if !self.outputs.iter().any(|p| &p.name == name) {
                return Err(bad(format!(
                    "it has no output `{name}`; its outputs are {}",
                    convert::describe_all(&self.outputs)
                )));
            }
        }
        let names: Vec<String> = if wanted.is_empty() {
            self.outputs.iter().map(|p| p.name.clone()).collect()
        } else {
            wanted.to_vec()
        };

        let inference = |source: ort::Error| ModelError::Inference {
            id: self.id.clone(),
            source: source.into(),
        };
        // Options without selected outputs are Sync, so a watcher thread can terminate the run
        // when the job is cancelled; unwanted outputs are dropped below.
        let mut options = RunOptions::new().map_err(inference)?;
        if self.shrink {
            options
                .set("memory.enable_memory_arena_shrinkage", "cpu:0")
                .map_err(inference)?;
        }
        let finished = AtomicBool::new(false);
        let raw = {
            let mut session = self.session.lock();
            let out = std::thread::scope(|scope| {
                let watcher = scope.spawn(|| {
                    while !finished.load(Ordering::Acquire) {
                        if cancel.load(Ordering::Relaxed) {
                            let _ = options.terminate();
                            return;
                        }
                        // Parked, not asleep: the scope joins this thread when the run ends,
                        // and a 10 ms sleep made every run last at least 10 ms (a 3 ms model
                        // took 11 ms).
                        std::thread::park_timeout(std::time::Duration::from_millis(10));
                    }
                });
                let out = session.run_with_options(values, &options);
                finished.store(true, Ordering::Release);
                watcher.thread().unpark();
                out
            });
            let mut out = match out {
                Ok(out) => out,
                Err(_) if cancel.load(Ordering::Relaxed) => {
                    return Err(ModelError::Cancelled {
                        id: self.id.clone(),
                    })
                }
                Err(e) => return Err(inference(e)),
            };
            names
                .iter()
                .map(|n| {
                    out.remove(n)
                        .map(|v| (n.clone(), v))
                        .ok_or_else(|| ModelError::BadOutput {
                            id: self.id.clone(),
                            message: format!("ONNX Runtime returned no output `{n}`"),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        raw.into_iter()
            .map(|(name, value)| {
                convert::to_tensor(&name, value).map_err(|e| match e {
                    ConvertError::Ort(source) => inference(source),
                    ConvertError::Unsupported(message) => ModelError::BadOutput {
                        id: self.id.clone(),
                        message,
                    },
                })
            })
            .collect()
    }
}
