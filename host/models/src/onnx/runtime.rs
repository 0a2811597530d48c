//! Finding the ONNX Runtime shared library and creating the one ORT environment of the process.

use crate::ModelError;
use ort::environment::Environment;
use ort::logging::LogLevel;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The process's ORT environment: ort allows one per process and the library loads once.
static RUNTIME: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

/// The shared ORT environment, loading the library on first use.
pub(crate) fn environment(explicit: Option<&Path>) -> Result<Environment, ModelError> {
    let mut guard = RUNTIME.lock();
    if let Some((_, env)) = guard.as_ref() {
        return Ok(env.clone());
    }
    let path = find_onnxruntime(explicit)?;
    let builder = ort::init_from(&path).map_err(|source| ModelError::RuntimeLoad {
        path: path.clone(),
        source: source.into(),
    })?;
    let env = builder
        .with_name("easel")
        .with_telemetry(false)
        .with_logger(Arc::new(forward_ort_log))
        .build()
        .map_err(|source| ModelError::RuntimeInit {
            path: path.clone(),
            source: source.into(),
        })?;
    // The custom logger starts at verbose; only warnings and worse are worth crossing into Rust.
    env.set_log_level(LogLevel::Warning);
    log::info!("ONNX Runtime loaded from {}", path.display());
    *guard = Some((path, env.clone()));
    Ok(env)
}

/// The library the process loaded, if it has.
pub(crate) fn loaded_from() -> Option<PathBuf> {
    RUNTIME.lock().as_ref().map(|(p, _)| p.clone())
}

fn forward_ort_log(level: LogLevel, _category: &str, id: &str, location: &str, message: &str) {
    // ORT warns about graph details (e.g. initializers listed as inputs) that users cannot act
    // on; keep those at debug so a model load does not flood the daemon's log.
    let level = match level {
        LogLevel::Error | LogLevel::Fatal => log::Level::Error,
        LogLevel::Warning => log::Level::Debug,
        LogLevel::Info | LogLevel::Verbose => log::Level::Trace,
    };
    log::log!(target: "onnxruntime", level, "[{id}] {location}: {message}");
}

/// Finds libonnxruntime. Order: `explicit` (from the config; when given it must be right), the
/// environment variables ORT_DYLIB_PATH and EASEL_ONNXRUNTIME, a
/// `.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*` in the current
/// directory or any ancestor of it or of the executable's directory, and finally the
/// `onnxruntime` package of `python3`. A directory may be given in place of a file.
pub fn find_onnxruntime(explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    let mut searched = Vec::new();
    if let Some(path) = explicit {
        // A configured path that is wrong is an error, not something to guess around.
        return library_at(path).ok_or_else(|| ModelError::RuntimeNotFound {
            searched: vec![path.to_path_buf()],
        });
    }
    for var in ["ORT_DYLIB_PATH", "EASEL_ONNXRUNTIME"] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            if let Some(lib) = library_at(&path) {
                return Ok(lib);
            }
            log::warn!("{var}={} names no ONNX Runtime library", path.display());
            searched.push(path);
        }
    }
    for dir in venv_roots() {
        // A development checkout's .venv, and the venv an installed prefix keeps in lib/easel.
        for lib_dir in [dir.join(".venv/lib"), dir.join("lib/easel/onnxruntime/lib")] {
            if let Some(lib) = library_in_venv(&lib_dir) {
                return Ok(lib);
            }
            if lib_dir.exists() {
                searched.push(lib_dir.join("python3*/site-packages/onnxruntime/capi"));
            }
        }
    }
    // A system library (a distribution's onnxruntime package, or one installed by hand).
    for dir in [
        "/usr/local/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ] {
        if let Some(lib) = library_in_dir(Path::new(dir)) {
            return Ok(lib);
        }
        searched.push(PathBuf::from(dir).join("libonnxruntime.so*"));
    }
    match python_package_dir() {
        Some(dir) => {
            if let Some(lib) = library_at(&dir) {
                return Ok(lib);
            }
            searched.push(dir.join("capi"));
        }
        None => searched.push(PathBuf::from(
            "python3 -c 'import onnxruntime' (not importable)",
        )),
    }
    Err(ModelError::RuntimeNotFound { searched })
}

/// The current directory and its ancestors, then the executable's directory and its ancestors.
fn venv_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut add_with_ancestors = |start: &Path| {
        for dir in start.ancestors() {
            if !roots.iter().any(|r| r == dir) {
                roots.push(dir.to_path_buf());
            }
        }
    };
    if let Ok(cwd) = std::env::current_dir() {
        add_with_ancestors(&cwd);
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        add_with_ancestors(&exe_dir);
    }
    roots
}

fn library_in_venv(lib_dir: &Path) -> Option<PathBuf> {
    let mut pythons: Vec<PathBuf> = std::fs::read_dir(lib_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path())
        .collect();
    pythons.sort();
    pythons
        .iter()
        .rev()
        .find_map(|p| library_in_dir(&p.join("site-packages/onnxruntime/capi")))
}

fn python_package_dir() -> Option<PathBuf> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(PathBuf::from(line.trim()))
}

/// `path` itself when it is a file; for a directory, a library inside it, in `capi/` or in
/// `onnxruntime/capi/` (so a site-packages or package directory works too).
fn library_at(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    if path.is_dir() {
        return [
            path.to_path_buf(),
            path.join("capi"),
            path.join("onnxruntime/capi"),
        ]
        .iter()
        .find_map(|d| library_in_dir(d));
    }
    None
}

fn library_in_dir(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_library_name(n))
        .collect();
    // The versioned name sorts last (libonnxruntime.so < libonnxruntime.so.1.31.1).
    names.sort();
    names.pop().map(|n| dir.join(n))
}

fn is_library_name(name: &str) -> bool {
    if cfg!(target_os = "macos") {
        name.starts_with("libonnxruntime.") && name.ends_with(".dylib")
    } else if cfg!(windows) {
        name.eq_ignore_ascii_case("onnxruntime.dll")
    } else {
        name.starts_with("libonnxruntime.so")
    }
}
