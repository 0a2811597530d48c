//! Loading a plugin library: abi_stable checks its root module's layout, then the Easel ABI
//! version is compared; a library that fails either is refused with a reason that says which.

use abi_stable::library::{lib_header_from_path, LibraryError};
use easel_sdk::{PluginModRef, ABI_VERSION};
use std::path::Path;

/// Why a library was refused; the message says which and why.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not an Easel plugin: {0}")]
    NotAPlugin(String),
    #[error("incompatible plugin: {0}")]
    Incompatible(String),
    #[error("the plugin failed to start: {0}")]
    Failed(String),
}

fn classify(err: LibraryError) -> LoadError {
    match err {
        LibraryError::OpenError { .. } => {
            LoadError::NotAPlugin(format!("cannot be loaded as a shared library ({err})"))
        }
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin(
            "it exports no Easel root module (it was not built with easel_sdk::export_plugin!)"
                .to_string(),
        ),
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadError::Incompatible(format!(
            "built against easel-sdk {actual_version}, this daemon needs a version compatible with {expected_version}"
        )),
        LibraryError::AbiInstability(e) => LoadError::Incompatible(format!(
            "its root module's layout differs from this daemon's easel-sdk (wrong layout): {}",
            layout_mismatch_summary(&e.to_string())
        )),
        other => LoadError::Incompatible(other.to_string()),
    }
}

/// abi_stable's report is both layouts in full followed by the verdict: keep the verdict.
fn layout_mismatch_summary(report: &str) -> String {
    let verdict = report.rfind("Error:").map_or(report, |i| &report[i..]);
    verdict.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Loads a plugin library and checks its ABI. Runs inside the worker, never in the daemon.
pub fn load_plugin(path: &Path) -> Result<(PluginModRef, easel_sdk::PluginInfo), LoadError> {
    let header = lib_header_from_path(path).map_err(classify)?;
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(classify)?;
    let info = (module.info())();
    if info.abi_version != ABI_VERSION {
        return Err(LoadError::Incompatible(format!(
            "plugin '{}' was built for Easel ABI {}, this daemon speaks ABI {}",
            info.name, info.abi_version, ABI_VERSION
        )));
    }
    Ok((module, info))
}
