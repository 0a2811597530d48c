//! Loads this library as the host does: abi_stable's layout check must refuse it.

use abi_stable::library::{lib_header_from_path, LibraryError};
use easel_sdk::PluginModRef;
use std::path::PathBuf;

/// A crate's cdylib as cargo last built it. `cargo test -p` builds it into `target/debug/deps`
/// (next to this test binary) but only `cargo build` copies it up to `target/debug`, so look in
/// `deps` first.
fn library(crate_name: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let fresh = deps.join(&file);
    if fresh.exists() {
        return fresh;
    }
    deps.parent().map(|d| d.join(&file)).unwrap_or(fresh)
}

#[test]
fn refused_by_the_layout_check() {
    let header = lib_header_from_path(&library("easel-testing-wrong-layout")).unwrap();
    // Same name and version as Easel's root module: only the layout differs.
    assert_eq!(header.version_strings().version, easel_sdk::ABI_VERSION_STR);
    let err = header
        .init_root_module::<PluginModRef>()
        .map(|_| ())
        .unwrap_err();
    let message = err.to_string();
    eprintln!("{message}");
    assert!(matches!(err, LibraryError::AbiInstability(_)), "{message}");
    // The report names both modules' fields, so a host can show why.
    assert!(message.contains("fn()->u64"), "{message}");
    assert!(message.contains("fn()->PluginInfo"), "{message}");
}
