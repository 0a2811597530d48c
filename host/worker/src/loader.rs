//! Loading a plugin library: abi_stable checks its root module's layout, then the Easel ABI
//! version is compared; a library that fails either is refused with a reason that says which.

use abi_stable::{
    abi_stability::check_layout_compatibility,
    library::{lib_header_from_path, LibraryError},
    sabi_types::VersionNumber,
    std_types::RResult,
    StableAbi,
};
use easel_sdk::{PluginModRef, ABI_VERSION, ABI_VERSION_STRINGS};
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
        } => LoadError::Incompatible(abi_mismatch(
            actual_version.major,
            &actual_version.to_string(),
            expected_version.major,
        )),
        LibraryError::AbiInstability(e) => LoadError::Incompatible(format!(
            "its root module's layout differs from this daemon's easel-sdk (wrong layout): {}",
            layout_mismatch_summary(&e.to_string())
        )),
        other => LoadError::Incompatible(other.to_string()),
    }
}

/// Why a root module of another version is refused. The root module's version is
/// `<ABI>.0.0` since ABI 2; ABI-1 plugins reported the crate version, 0.1.x.
fn abi_mismatch(major: u32, version: &str, ours: u32) -> String {
    let theirs = if major == 0 {
        "Easel ABI 1 (its root module reports easel-sdk 0.x, the layout before enums could grow)"
            .to_string()
    } else {
        format!("Easel ABI {major} (root module version {version})")
    };
    format!(
        "it was built for {theirs}, this daemon speaks Easel ABI {ours}: rebuild the plugin against an easel-sdk with ABI_VERSION {ours}"
    )
}

/// abi_stable's report is both layouts in full followed by the verdict: keep the verdict.
fn layout_mismatch_summary(report: &str) -> String {
    let verdict = report.rfind("Error:").map_or(report, |i| &report[i..]);
    verdict.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Loads a plugin library and checks its ABI. Runs inside the worker, never in the daemon.
///
/// The checks are abi_stable's, in abi_stable's order (root-module version, then layout), with
/// one difference: the layout check takes the **plugin's** layout as the expected one and this
/// daemon's as the actual one. abi_stable lets the actual side of a prefix type (a vtable, the
/// root module) have more fields than the expected side, not fewer; a daemon that has added
/// `Operation` or `HostServices` methods must load plugins built before them, so the daemon is
/// the side that may have more. At run time an older plugin's shorter vtable is known from its
/// own metadata, and a method it lacks answers with the trait's default. A plugin that expects
/// more than this daemon has (built against a newer SDK) is refused with a reason.
pub fn load_plugin(path: &Path) -> Result<(PluginModRef, easel_sdk::PluginInfo), LoadError> {
    let header = lib_header_from_path(path).map_err(classify)?;
    let theirs = VersionNumber::new(header.version_strings()).map_err(|e| {
        LoadError::Incompatible(format!("its root module version is unreadable: {e}"))
    })?;
    let ours = VersionNumber::new(ABI_VERSION_STRINGS)
        .map_err(|e| LoadError::Failed(format!("this daemon's ABI version is unreadable: {e}")))?;
    if theirs.major != ours.major {
        return Err(LoadError::Incompatible(abi_mismatch(
            theirs.major,
            &theirs.to_string(),
            ours.major,
        )));
    }
    let plugin_layout = header.layout().ok_or_else(|| {
        LoadError::Incompatible("its root module carries no layout to check".to_string())
    })?;
    if let RResult::RErr(e) =
        check_layout_compatibility(plugin_layout, <PluginModRef as StableAbi>::LAYOUT)
    {
        return Err(LoadError::Incompatible(format!(
            "its root module's layout differs from this daemon's easel-sdk (wrong layout; a plugin built against a newer easel-sdk than this daemon's expects more than it offers): {}",
            layout_mismatch_summary(&e.to_string())
        )));
    }
    // SAFETY: the version and the layout were checked just above, as `init_root_module` would
    // (with the direction of the prefix-type rule explained in this function's docs).
    let module = unsafe { header.init_root_module_with_unchecked_layout::<PluginModRef>() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_of_another_abi_are_told_what_to_do() {
        let old = abi_mismatch(0, "0.1.0", 2);
        assert!(old.contains("Easel ABI 1"), "{old}");
        assert!(old.contains("speaks Easel ABI 2"), "{old}");
        assert!(old.contains("rebuild"), "{old}");
        let newer = abi_mismatch(3, "3.0.0", 2);
        assert!(
            newer.contains("Easel ABI 3 (root module version 3.0.0)"),
            "{newer}"
        );
        assert_eq!(easel_sdk::ABI_VERSION, 2);
        assert!(easel_sdk::ABI_VERSION_STR.starts_with("2."));
    }
}
