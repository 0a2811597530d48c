//! The daemon's configuration (TOML): socket, plugin and model folders, memory, threads, limits.

use crate::error::StartError;
use easel_ipc::paths::{default_socket_path, xdg_dir};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Limits checked before anything is allocated, and supervision limits for workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest image (width × height) accepted, in pixels.
    pub max_pixels: u64,
    /// Largest JSON message, in bytes.
    pub max_message_bytes: u64,
    /// Largest inline payload, in bytes.
    pub max_inline_bytes: u64,
    /// Jobs waiting at once, over all clients.
    pub max_queued_jobs: usize,
    /// Bytes of prepared input (pixels in shared memory) waiting at once, over all clients.
    pub max_queued_mb: u64,
    /// A job running longer than this is stopped and its worker killed.
    pub job_timeout_s: f64,
    /// A worker whose resident memory goes past this is killed.
    pub worker_memory_mb: u64,
    /// After a cancel, how long a plugin may take to stop before its worker is killed.
    pub cancel_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 16384 * 16384,
            max_message_bytes: 1 << 20,
            max_inline_bytes: 1 << 30,
            max_queued_jobs: 256,
            max_queued_mb: 4096,
            job_timeout_s: 600.0,
            worker_memory_mb: 8192,
            cancel_grace_ms: 2000,
        }
    }
}

/// Everything `easeld` reads from its configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket path; default `$XDG_RUNTIME_DIR/easel/easeld.sock`.
    pub socket: Option<PathBuf>,
    /// Load the first-party plugins that sit next to the daemon binary.
    pub builtin_plugins: bool,
    /// Folders of user plugins (every `*.so` in them).
    pub plugin_dirs: Vec<PathBuf>,
    /// Folders where model files are looked up.
    pub model_dirs: Vec<PathBuf>,
    /// HTTP(S) base addresses that `easel models fetch` tries, in order, before a model's own
    /// download addresses: each serves model files under their manifest file names (a studio's
    /// approved models, a machine without internet). `EASEL_MODEL_MIRROR` replaces this list.
    pub model_mirrors: Vec<String>,
    /// The ONNX Runtime library; found automatically when absent.
    pub onnxruntime: Option<PathBuf>,
    /// Resident models per worker, in MiB; least recently used are evicted above it.
    pub memory_budget_mb: u64,
    /// Execution providers to try, in order, before the CPU: `cuda`, `tensorrt`, `openvino`,
    /// `rocm`. One that fails to load is logged with the provider that runs instead.
    pub execution_providers: Vec<String>,
    /// Threads for inference in each worker (0: ONNX Runtime's default).
    pub threads: usize,
    /// Worker processes per plugin.
    pub workers_per_plugin: usize,
    /// Models each worker loads (and runs once) as soon as it starts, among those its plugin
    /// declares, so the first job does not wait for a load; empty: none.
    pub warm_models: Vec<String>,
    /// Exit after this many seconds with no client and no job (0: never). Clients that start
    /// the daemon on demand ask for it with `easeld --exit-when-idle`.
    pub exit_when_idle_s: u64,
    /// A worker unloads its models after this many seconds without a job (0: never).
    pub model_idle_unload_s: u64,
    /// The persistent log, rotated at 5 MB (3 old files kept); empty: no log file.
    pub log_file: Option<PathBuf>,
    /// The worker binary; by default `easel-worker` next to `easeld`.
    pub worker: Option<PathBuf>,
    /// Tileable operations run on tiles of at most this many pixels per side...
    pub tile_size: u32,
    /// ...each with this much context on every side, blended across the seams.
    pub tile_overlap: u32,
    pub limits: Limits,
    /// Inference servers and which models run on them (see [`Inference`]).
    pub inference: Inference,
}

/// Kept equal to `easel_models::DEFAULT_MEMORY_BUDGET_MB` by a test (the daemon does not link
/// the model store).
pub const DEFAULT_MEMORY_BUDGET_MB: u64 = 2048;

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: None,
            builtin_plugins: true,
            plugin_dirs: default_user_dir("plugins").into_iter().collect(),
            model_dirs: default_user_dir("models").into_iter().collect(),
            model_mirrors: Vec::new(),
            onnxruntime: None,
            memory_budget_mb: DEFAULT_MEMORY_BUDGET_MB,
            execution_providers: Vec::new(),
            threads: 0,
            workers_per_plugin: 1,
            warm_models: DEFAULT_WARM_MODELS.iter().map(|m| m.to_string()).collect(),
            exit_when_idle_s: 0,
            model_idle_unload_s: 600,
            log_file: default_state_dir().map(|d| d.join("easeld.log")),
            worker: None,
            tile_size: 512,
            tile_overlap: 32,
            limits: Limits::default(),
            inference: Inference::default(),
        }
    }
}

/// The default models of the built-in operations (remove background, blur background and fix
/// low light): small, and warmed at start by default.
pub const DEFAULT_WARM_MODELS: [&str; 3] = ["u2netp", "mediapipe-meet", "llie-semantic-guided"];

impl Config {
    /// Each worker's CPU budget: `threads` when set, else the machine's cores shared by the
    /// workers of one plugin (at least 1).
    pub fn worker_thread_budget(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / self.workers_per_plugin.max(1)).max(1)
    }

    /// Reads `path`, or the default file (`$XDG_CONFIG_HOME/easel/easel.toml`) when it exists,
    /// or the defaults. Relative paths inside the file are taken from the file's folder.
    pub fn load(path: Option<&Path>) -> Result<Config, StartError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => match default_config_path() {
                Some(p) if p.exists() => p,
                _ => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|source| StartError::ConfigRead {
            path: path.clone(),
            source,
        })?;
        let mut config: Config =
            toml::from_str(&text).map_err(|source| StartError::ConfigParse {
                path: path.clone(),
                source,
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_relative(base);
        Ok(config)
    }

    fn resolve_relative(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if let Some(rest) = p.to_str().and_then(|s| s.strip_prefix("~/")) {
                if let Some(home) = std::env::var_os("HOME") {
                    *p = PathBuf::from(home).join(rest);
                }
            } else if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.socket.iter_mut().for_each(fix);
        self.onnxruntime.iter_mut().for_each(fix);
        self.worker.iter_mut().for_each(fix);
        self.log_file.iter_mut().for_each(fix);
        self.plugin_dirs.iter_mut().for_each(fix);
        self.model_dirs.iter_mut().for_each(fix);
        for e in &mut self.inference.endpoint {
            e.ca_file.iter_mut().for_each(fix);
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(default_socket_path)
    }
}

/// Where a model runs: `local` (ONNX Runtime in the worker), `remote` (only on an inference
/// server) or `remote-then-local` (on a server while one can run it, else locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    Local,
    Remote,
    RemoteThenLocal,
}

/// How an endpoint is spoken to: `grpc` (raw tensors), `rest` (Triton's binary tensor
/// extension) or `rest-json` (any KServe v2 server, e.g. MLServer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Grpc,
    Rest,
    RestJson,
}

/// One inference server (`[[inference.endpoint]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceEndpoint {
    /// `grpc://host:8001`, `grpcs://host:8001`, `http://host:8000` or `https://host:8000`.
    pub url: String,
    /// Default: `grpc` for grpc(s):// addresses, `rest` for http(s)://.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The environment variable that holds a bearer token (never the token itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// PEM file of the CA of the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Plain text to a host that is not loopback (trusted private networks only).
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// `[inference]`: remote inference servers (KServe v2 / Open Inference Protocol: Triton,
/// MLServer) and per-model routes. Two lines point easeld at a server:
/// `[[inference.endpoint]]` and `url = "grpc://host:8001"`; every model then runs there, and
/// locally while no server can run it. The worker receives this section as JSON.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Inference {
    /// Route of models not named in `route`; default `remote-then-local` with an endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Route>,
    /// Tried in order: a server that refuses connections is skipped for `recheck_s`.
    pub endpoint: Vec<InferenceEndpoint>,
    /// Routes by model id (`[inference.route]` with `u2netp = "local"`).
    pub route: std::collections::BTreeMap<String, Route>,
    pub connect_timeout_s: f64,
    /// One model call gives up after this long (never retried on another server).
    pub timeout_s: f64,
    pub recheck_s: f64,
}

impl Default for Inference {
    fn default() -> Self {
        Inference {
            default: None,
            endpoint: Vec::new(),
            route: Default::default(),
            connect_timeout_s: 3.0,
            timeout_s: 120.0,
            recheck_s: 5.0,
        }
    }
}

impl Inference {
    /// The JSON the worker is started with, when any endpoint is configured.
    pub fn worker_arg(&self) -> Option<String> {
        if self.endpoint.is_empty() {
            return None;
        }
        serde_json::to_string(self).ok()
    }
}

/// `$XDG_CONFIG_HOME/easel/easel.toml` (or `~/.config/easel/easel.toml`).
pub fn default_config_path() -> Option<PathBuf> {
    let base = xdg_dir("XDG_CONFIG_HOME")
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("easel").join("easel.toml"))
}

/// `$XDG_STATE_HOME/easel` (or `~/.local/state/easel`): logs that survive a reboot.
pub fn default_state_dir() -> Option<PathBuf> {
    let base = xdg_dir("XDG_STATE_HOME").or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
    })?;
    Some(base.join("easel"))
}

/// `$XDG_DATA_HOME/easel/<what>` (or `~/.local/share/easel/<what>`).
pub fn default_user_dir(what: &str) -> Option<PathBuf> {
    let base = xdg_dir("XDG_DATA_HOME").or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share"))
    })?;
    Some(base.join("easel").join(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_override_defaults_and_relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("easel.toml");
        std::fs::write(
            &path,
            "socket = \"s.sock\"\nmodel_dirs = [\"models\"]\nthreads = 2\n[limits]\nmax_pixels = 100\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.socket_path(), dir.path().join("s.sock"));
        assert_eq!(c.model_dirs, vec![dir.path().join("models")]);
        assert_eq!(c.threads, 2);
        assert_eq!(c.limits.max_pixels, 100);
        assert_eq!(c.limits.max_message_bytes, 1 << 20);
    }

    #[test]
    fn two_lines_point_the_daemon_at_an_inference_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("easel.toml");
        std::fs::write(
            &path,
            "[[inference.endpoint]]\nurl = \"grpc://127.0.0.1:8001\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.inference.endpoint.len(), 1);
        let arg = c.inference.worker_arg().unwrap();
        assert!(arg.contains("grpc://127.0.0.1:8001"), "{arg}");
        assert!(Config::default().inference.worker_arg().is_none());
        std::fs::write(
            &path,
            "[inference]\ndefault = \"remote\"\n[inference.route]\nu2netp = \"remote-then-local\"\n\
             [[inference.endpoint]]\nurl = \"https://gpu:8000\"\nprotocol = \"rest-json\"\n\
             token_env = \"TRITON_TOKEN\"\nca_file = \"ca.pem\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.inference.route["u2netp"], Route::RemoteThenLocal);
        assert_eq!(c.inference.endpoint[0].protocol, Some(Protocol::RestJson));
        assert_eq!(
            c.inference.endpoint[0].ca_file.as_deref(),
            Some(dir.path().join("ca.pem").as_path())
        );
        std::fs::write(
            &path,
            "[[inference.endpoint]]\nurl = \"x\"\ntoken = \"abc\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("token"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("easel.toml");
        std::fs::write(&path, "sockett = \"x\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("easel.toml") && err.contains("sockett"),
            "{err}"
        );
    }
}
