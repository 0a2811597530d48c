//! easel-models: the model store — a manifest of verified models, loaded through a [`Backend`]
//! (ONNX Runtime in this process, feature `onnxruntime`; a remote server can be another) and kept
//! resident under a memory budget.
//!
//! Models are listed by the built-in manifest (`host/models/manifest.toml`) and by an optional
//! `manifest.toml` in each model folder (later entries override earlier ones by id). A model's
//! file is checked against its sha256 before its first load; the result is remembered per
//! (path, size, mtime). Sessions stay resident until the sum of their estimated sizes exceeds the
//! memory budget, when the least recently used ones are dropped. ONNX Runtime itself is loaded
//! lazily, once per process, on the first run.

mod backend;
mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod host;
mod manifest;
#[cfg(feature = "onnxruntime")]
pub mod onnx;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(test)]
mod store_tests;
#[cfg(all(test, feature = "onnxruntime"))]
mod tests;

pub use backend::{Backend, LoadedModel, Port};
pub use error::{BoxError, ModelError};
pub use host::{ModelRunRecord, StoreHost};
pub use manifest::{parse_manifest, ModelEntry, TensorDecl, BUILT_IN_MANIFEST};
#[cfg(feature = "onnxruntime")]
pub use onnx::{
    find_onnxruntime, onnxruntime_loaded_from, runtime_report, OnnxRuntime, RuntimeReport,
};

use easel_sdk::{ModelInfo, Tensor};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};
use std::time::{Instant, SystemTime};

/// A resident session is estimated to take this many times its file's size in memory.
pub const RESIDENT_SIZE_FACTOR: u64 = 2;

/// Where the store looks for models and how it runs them.
#[derive(Debug, Clone)]
pub struct ModelStoreConfig {
    /// Where model files (and user `manifest.toml`s) are looked up, in order.
    pub folders: Vec<PathBuf>,
    /// Resident sessions above this estimated total are evicted, least recently used first.
    pub memory_budget_bytes: u64,
    /// ORT intra-op threads per session (0 = ORT's default).
    pub intra_threads: usize,
    /// Explicit libonnxruntime path (from the config); see [`find_onnxruntime`].
    pub onnxruntime: Option<PathBuf>,
    /// Execution providers to try before the CPU (`cuda`, `tensorrt`, `openvino`, `rocm`).
    pub providers: Vec<String>,
}

impl Default for ModelStoreConfig {
    fn default() -> Self {
        ModelStoreConfig {
            folders: Vec::new(),
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_MB << 20,
            intra_threads: 0,
            onnxruntime: None,
            providers: Vec::new(),
        }
    }
}

/// A manifest entry and the folder of the manifest that declared it.
#[derive(Debug, Clone)]
struct Known {
    entry: ModelEntry,
    /// For user manifests: their folder, searched first for relative file names.
    base: Option<PathBuf>,
}

/// A remembered hash of a file, valid while its size and mtime stay the same.
struct HashMemo {
    size: u64,
    mtime: SystemTime,
    sha256: String,
}

/// A resident model and its estimated memory.
struct Loaded {
    id: String,
    estimate: u64,
    model: Box<dyn LoadedModel>,
}

/// The size a free (non-batch) dimension gets in a model's warm-up run: small, and a multiple
/// of the strides image models need.
pub const WARM_FREE_DIM: i64 = 64;

/// The default memory budget for resident models of one worker, in MiB.
pub const DEFAULT_MEMORY_BUDGET_MB: u64 = 2048;

/// The model store. `Send + Sync`: share it behind an `Arc` and call it from any thread;
/// different models run in parallel, calls to the same model take turns.
pub struct ModelStore {
    config: ModelStoreConfig,
    backend: Arc<dyn Backend>,
    known: Vec<Known>,
    index: HashMap<String, usize>,
    hashes: Mutex<HashMap<PathBuf, HashMemo>>,
    /// Resident sessions, most recently used first.
    resident: Mutex<Vec<Arc<Loaded>>>,
    /// One lock per model id so that concurrent first uses load it once.
    load_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl ModelStore {
    /// A store that runs models in this process with ONNX Runtime (loaded on the first run).
    #[cfg(feature = "onnxruntime")]
    pub fn new(config: ModelStoreConfig) -> Result<Self, ModelError> {
        let backend = Arc::new(
            OnnxRuntime::new(config.onnxruntime.clone(), config.intra_threads)
                .with_providers(config.providers.clone())
                .with_cache_dir(onnx::default_cache_dir()),
        );
        Self::with_backend(config, backend)
    }

    /// Reads the built-in manifest and any `manifest.toml` in the configured folders; models
    /// will run on `backend`. Loads nothing.
    pub fn with_backend(
        config: ModelStoreConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, ModelError> {
        let mut store = ModelStore {
            config,
            backend,
            known: Vec::new(),
            index: HashMap::new(),
            hashes: Mutex::new(HashMap::new()),
            resident: Mutex::new(Vec::new()),
            load_locks: Mutex::new(HashMap::new()),
        };
        for entry in manifest::parse(manifest::BUILT_IN, Path::new(manifest::BUILT_IN_NAME))? {
            store.add(Known { entry, base: None });
        }
        for folder in store.config.folders.clone() {
            let path = folder.join("manifest.toml");
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ModelError::io(&path, e)),
            };
            for entry in manifest::parse(&text, &path)? {
                if store.index.contains_key(&entry.id) {
                    log::info!("{} overrides model `{}`", path.display(), entry.id);
                }
                store.add(Known {
                    entry,
                    base: Some(folder.clone()),
                });
            }
        }
        Ok(store)
    }

    fn add(&mut self, known: Known) {
        match self.index.get(&known.entry.id) {
            Some(&i) => self.known[i] = known,
            None => {
                self.index.insert(known.entry.id.clone(), self.known.len());
                self.known.push(known);
            }
        }
    }

    pub fn config(&self) -> &ModelStoreConfig {
        &self.config
    }

    /// Every known model, in manifest order, with `path` set where its file was found.
    pub fn entries(&self) -> Vec<ModelEntry> {
        self.known
            .iter()
            .map(|k| {
                let mut entry = k.entry.clone();
                entry.path = self.resolve(k).0;
                entry
            })
            .collect()
    }

    /// One model's entry, with `path` set where its file was found.
    pub fn entry(&self, id: &str) -> Result<ModelEntry, ModelError> {
        let k = self.known(id)?;
        let mut entry = k.entry.clone();
        entry.path = self.resolve(k).0;
        Ok(entry)
    }

    fn known(&self, id: &str) -> Result<&Known, ModelError> {
        self.index
            .get(id)
            .map(|&i| &self.known[i])
            .ok_or_else(|| ModelError::UnknownModel { id: id.to_string() })
    }

    /// The file of a model, if found, and every place looked at.
    fn resolve(&self, k: &Known) -> (Option<PathBuf>, Vec<PathBuf>) {
        let file = Path::new(&k.entry.file);
        let candidates: Vec<PathBuf> = if file.is_absolute() {
            vec![file.to_path_buf()]
        } else {
            k.base
                .iter()
                .chain(
                    self.config
                        .folders
                        .iter()
                        .filter(|f| Some(*f) != k.base.as_ref()),
                )
                .map(|dir| dir.join(file))
                .collect()
        };
        let found = candidates.iter().find(|p| p.is_file()).cloned();
        (found, candidates)
    }

    /// Checks a model's file against its manifest sha256 and returns its path. A success is
    /// remembered per (path, size, mtime), so later calls only stat the file.
    pub fn verify(&self, id: &str) -> Result<PathBuf, ModelError> {
        let k = self.known(id)?;
        let (path, searched) = self.resolve(k);
        let path = path.ok_or_else(|| ModelError::MissingFile {
            id: id.to_string(),
            file: k.entry.file.clone(),
            searched,
        })?;
        let meta = std::fs::metadata(&path).map_err(|e| ModelError::io(&path, e))?;
        let mtime = meta.modified().ok();
        let remembered = mtime.and_then(|mtime| {
            self.hashes
                .lock()
                .get(&path)
                .filter(|m| m.size == meta.len() && m.mtime == mtime)
                .map(|m| m.sha256.clone())
        });
        let actual = match remembered {
            Some(sha) => sha,
            None => {
                let started = Instant::now();
                let sha = sha256_file(&path)?;
                log::debug!(
                    "sha256 of {} in {} ms",
                    path.display(),
                    started.elapsed().as_millis()
                );
                if let Some(mtime) = mtime {
                    self.hashes.lock().insert(
                        path.clone(),
                        HashMemo {
                            size: meta.len(),
                            mtime,
                            sha256: sha.clone(),
                        },
                    );
                }
                sha
            }
        };
        if actual != k.entry.sha256 {
            return Err(ModelError::ChecksumMismatch {
                id: id.to_string(),
                path,
                expected: k.entry.sha256.clone(),
                actual,
            });
        }
        Ok(path)
    }

    /// A model's signature: the manifest's declaration where it has one, else the session's.
    /// Verifies the file (cheap after the first time); loads the model only when the manifest
    /// declares no inputs or outputs.
    pub fn info(&self, id: &str) -> Result<ModelInfo, ModelError> {
        let k = self.known(id)?;
        self.verify(id)?;
        let from_decl = |d: &[TensorDecl]| d.iter().map(TensorDecl::to_spec).collect();
        let from_ports = |p: &[Port]| {
            p.iter()
                .map(|p| easel_sdk::TensorSpec {
                    name: p.name.as_str().into(),
                    shape: p.shape.iter().copied().collect(),
                })
                .collect()
        };
        let (inputs, outputs) = if k.entry.inputs.is_empty() || k.entry.outputs.is_empty() {
            let loaded = self.load(id)?;
            let pick = |decl: &[TensorDecl], ports: &[Port]| {
                if decl.is_empty() {
                    from_ports(ports)
                } else {
                    from_decl(decl)
                }
            };
            (
                pick(&k.entry.inputs, loaded.model.inputs()),
                pick(&k.entry.outputs, loaded.model.outputs()),
            )
        } else {
            (from_decl(&k.entry.inputs), from_decl(&k.entry.outputs))
        };
        Ok(ModelInfo {
            id: id.into(),
            inputs,
            outputs,
        })
    }

    /// Runs a model: f32 inputs by name, the named outputs back (all of them when `outputs` is
    /// empty) as f32. Loads the model on first use (after verifying it) and keeps it resident.
    pub fn run(
        &self,
        id: &str,
        inputs: Vec<Tensor>,
        outputs: &[String],
    ) -> Result<Vec<Tensor>, ModelError> {
        self.run_cancellable(id, inputs, outputs, &AtomicBool::new(false))
    }

    /// [`ModelStore::run`], stopped inside ONNX Runtime soon after `cancel` turns true (a single
    /// model call can take seconds; cancellation must not wait for it).
    pub fn run_cancellable(
        &self,
        id: &str,
        inputs: Vec<Tensor>,
        outputs: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, ModelError> {
        self.run_timed(id, inputs, outputs, cancel).map(|(t, _)| t)
    }

    /// [`ModelStore::run_cancellable`] that also says how long the run itself took (loading
    /// and verifying the model left out).
    pub fn run_timed(
        &self,
        id: &str,
        inputs: Vec<Tensor>,
        outputs: &[String],
        cancel: &AtomicBool,
    ) -> Result<(Vec<Tensor>, std::time::Duration), ModelError> {
        if cancel.load(Ordering::Relaxed) {
            return Err(ModelError::Cancelled { id: id.to_string() });
        }
        let loaded = self.load(id)?;
        let started = std::time::Instant::now();
        let result = loaded.model.run(inputs, outputs, cancel);
        let took = started.elapsed();
        drop(loaded);
        // A model spared earlier because it was running may now go.
        self.evict(&mut self.resident.lock());
        result.map(|t| (t, took))
    }

    /// Whether running `id` would load it first (it is known and not resident).
    pub fn needs_load(&self, id: &str) -> bool {
        self.index.contains_key(id) && !self.resident.lock().iter().any(|l| l.id == id)
    }

    /// Whether [`ModelStore::info`] answers `id` from the manifest alone (without a load).
    pub fn info_is_declared(&self, id: &str) -> bool {
        self.known(id)
            .is_ok_and(|k| !k.entry.inputs.is_empty() && !k.entry.outputs.is_empty())
    }

    /// Loads `id` and runs it once on zeros (unless `busy` is already true: a job that came
    /// meanwhile should not wait for a run nobody needs), so that the first job finds it
    /// resident and ONNX Runtime's first-run setup done. Free dimensions run at a small size
    /// (batch 1, others [`WARM_FREE_DIM`]): most of that setup does not depend on the size.
    pub fn warm(&self, id: &str, busy: &AtomicBool) -> Result<(), ModelError> {
        let started = Instant::now();
        let loaded = self.load(id)?;
        let mut free_dims = false;
        let inputs: Option<Vec<Tensor>> = loaded
            .model
            .inputs()
            .iter()
            .map(|p| {
                let shape: Vec<i64> = p
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| match d {
                        d if d > 0 => d,
                        _ => {
                            free_dims = true;
                            if i == 0 {
                                1
                            } else {
                                WARM_FREE_DIM
                            }
                        }
                    })
                    .collect();
                let n = shape.iter().try_fold(1usize, |n, &d| {
                    usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
                })?;
                Some(Tensor::new(&p.name, &shape, vec![0.0f32; n]))
            })
            .collect();
        let first_output: Vec<String> = loaded
            .model
            .outputs()
            .iter()
            .take(1)
            .map(|p| p.name.clone())
            .collect();
        if let Some(inputs) = inputs.filter(|_| !busy.load(Ordering::Relaxed)) {
            let ran = loaded
                .model
                .run(inputs, &first_output, &AtomicBool::new(false));
            match ran {
                Ok(_) => {}
                // A size the model does not take is no reason to call it cold: it is loaded.
                Err(e) if free_dims => {
                    log::info!("model `{id}`: no warm-up run at a small size ({e})")
                }
                Err(e) => return Err(e),
            }
        }
        drop(loaded);
        log::info!(
            "warmed model `{id}` in {} ms",
            started.elapsed().as_millis()
        );
        Ok(())
    }

    /// Ids of the resident models, most recently used first.
    pub fn resident(&self) -> Vec<String> {
        self.resident.lock().iter().map(|l| l.id.clone()).collect()
    }

    /// Estimated memory of the resident models, in bytes.
    pub fn resident_bytes(&self) -> u64 {
        self.resident.lock().iter().map(|l| l.estimate).sum()
    }

    /// Drops every resident session not in use.
    pub fn unload_all(&self) {
        self.resident.lock().retain(|l| Arc::strong_count(l) > 1);
    }

    /// The resident session of a model, loading it if needed; marks it most recently used.
    fn load(&self, id: &str) -> Result<Arc<Loaded>, ModelError> {
        self.known(id)?;
        if let Some(loaded) = self.touch(id) {
            return Ok(loaded);
        }
        let lock = self
            .load_locks
            .lock()
            .entry(id.to_string())
            .or_default()
            .clone();
        let _loading = lock.lock();
        if let Some(loaded) = self.touch(id) {
            return Ok(loaded);
        }
        let path = self.verify(id)?;
        let started = Instant::now();
        let sha256 = self.known(id)?.entry.sha256.clone();
        let model = self.backend.load_verified(id, &path, &sha256)?;
        let (inputs, outputs) = (model.inputs(), model.outputs());
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        log::info!(
            "loaded model `{id}` from {} in {} ms ({})",
            path.display(),
            started.elapsed().as_millis(),
            self.backend.name()
        );
        if let Ok(k) = self.known(id) {
            warn_if_undeclared(id, "input", &k.entry.inputs, inputs);
            warn_if_undeclared(id, "output", &k.entry.outputs, outputs);
        }
        let loaded = Arc::new(Loaded {
            id: id.to_string(),
            estimate: size.saturating_mul(RESIDENT_SIZE_FACTOR),
            model,
        });
        let mut resident = self.resident.lock();
        resident.insert(0, loaded.clone());
        self.evict(&mut resident);
        Ok(loaded)
    }

    fn touch(&self, id: &str) -> Option<Arc<Loaded>> {
        let mut resident = self.resident.lock();
        let i = resident.iter().position(|l| l.id == id)?;
        let loaded = resident.remove(i);
        resident.insert(0, loaded.clone());
        Some(loaded)
    }

    /// Drops least recently used sessions while over budget; never the most recent one, nor
    /// one that a caller holds (it is running).
    fn evict(&self, resident: &mut Vec<Arc<Loaded>>) {
        let mut total: u64 = resident.iter().map(|l| l.estimate).sum();
        let mut i = resident.len();
        while total > self.config.memory_budget_bytes && i > 1 {
            i -= 1;
            if Arc::strong_count(&resident[i]) > 1 {
                continue;
            }
            let gone = resident.remove(i);
            total -= gone.estimate;
            log::info!(
                "unloaded model `{}` (memory budget {} MB)",
                gone.id,
                self.config.memory_budget_bytes >> 20
            );
        }
    }
}

/// Logs a manifest declaration that the model itself contradicts (the session wins).
fn warn_if_undeclared(id: &str, what: &str, declared: &[TensorDecl], actual: &[Port]) {
    for decl in declared {
        match actual.iter().find(|p| p.name == decl.name) {
            None => log::warn!(
                "model `{id}`: the manifest declares {what} `{}`, which the model does not have",
                decl.name
            ),
            Some(port) if port.shape.len() != decl.shape.len() => log::warn!(
                "model `{id}`: {what} `{}` is {:?} in the model but {:?} in the manifest",
                decl.name,
                port.shape,
                decl.shape
            ),
            Some(_) => {}
        }
    }
}

/// The sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
