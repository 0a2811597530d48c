//! The daemon's configuration (TOML): socket, plugin and model folders, memory, threads, limits.

use crate::error::StartError;
use easel_ipc::paths::{default_socket_path, xdg_dir};
use serde::Deserialize;
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
    /// The worker binary; by default `easel-worker` next to `easeld`.
    pub worker: Option<PathBuf>,
    /// Tileable operations run on tiles of at most this many pixels per side...
    pub tile_size: u32,
    /// ...each with this much context on every side, blended across the seams.
    pub tile_overlap: u32,
    pub limits: Limits,
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
            onnxruntime: None,
            memory_budget_mb: DEFAULT_MEMORY_BUDGET_MB,
            execution_providers: Vec::new(),
            threads: 0,
            workers_per_plugin: 1,
            worker: None,
            tile_size: 512,
            tile_overlap: 32,
            limits: Limits::default(),
        }
    }
}

impl Config {
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
        self.plugin_dirs.iter_mut().for_each(fix);
        self.model_dirs.iter_mut().for_each(fix);
    }

    pub fn socket_path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(default_socket_path)
    }
}

/// `$XDG_CONFIG_HOME/easel/easel.toml` (or `~/.config/easel/easel.toml`).
pub fn default_config_path() -> Option<PathBuf> {
    let base = xdg_dir("XDG_CONFIG_HOME")
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("easel").join("easel.toml"))
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
